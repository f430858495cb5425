/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Symbol prefetching on a second thread (internal/prefetch.h).
 *
 * The reader hands over lookups in batches, so the queue's lock is taken once per batch,
 * not per address. At most MAX_PENDING batches wait: when the thread falls behind, later
 * lookups are dropped rather than held in memory, and the converter makes them itself.
 *
 * The thread runs at idle priority (SCHED_IDLE). On two CPUs the converter, the reader's
 * thread and this one all want a CPU while a big recording is read, and the converter is
 * the one everything waits for: symbolizing early only pays when it takes no time from
 * the other two. When the converter is done reading, the thread gets its normal priority
 * back to finish what is queued, as the converter now waits for it.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "internal/prefetch.h"

#define BATCH	    512
#define MAX_PENDING 64

struct item {
	struct pps_sym_map m;
	uint8_t build_id[20];
	uint64_t pc;
};

struct batch {
	struct batch *next;
	size_t n;
	struct item items[BATCH];
};

struct pps_prefetch {
	struct pps_symbolizer *sym;
	pthread_t thread;
	pthread_mutex_t lock; /* the queue */
	pthread_cond_t cond;
	pthread_mutex_t sym_lock; /* the symbolizer */
	struct batch *head, *tail;
	size_t pending;
	bool done, joined;
	bool drop;	   /* under lock: free queued batches unread (see pps_prefetch_finish()) */
	struct batch *cur; /* being filled by the reader; only its thread touches it */
};

static void *run(void *arg)
{
	struct pps_prefetch *p = arg;
	struct sched_param idle = {0};

	/* Best effort: without it the thread competes as an equal (the file comment). */
	(void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
	for (;;) {
		struct batch *b;
		bool drop;

		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->done)
			pthread_cond_wait(&p->cond, &p->lock);
		b = p->head;
		if (b) {
			p->head = b->next;
			if (!p->head)
				p->tail = NULL;
			p->pending--;
		}
		drop = p->drop;
		pthread_mutex_unlock(&p->lock);
		if (!b)
			break;
		pthread_mutex_lock(&p->sym_lock);
		for (size_t i = 0; !drop && i < b->n; i++) {
			struct pps_sym_result res;

			/* A failure is left for the converter's own lookup to meet and report. */
			(void)pps_symbolizer_lookup(p->sym, &b->items[i].m, b->items[i].pc, &res);
		}
		pthread_mutex_unlock(&p->sym_lock);
		free(b);
	}
	return NULL;
}

struct pps_prefetch *pps_prefetch_new(struct pps_symbolizer *sym)
{
	struct pps_prefetch *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return NULL;
	p->sym = sym;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->sym_lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	err = pthread_create(&p->thread, NULL, run, p);
	if (err) {
		pthread_cond_destroy(&p->cond);
		pthread_mutex_destroy(&p->sym_lock);
		pthread_mutex_destroy(&p->lock);
		free(p);
		errno = err;
		return NULL;
	}
	return p;
}

/* Hands the current batch to the thread, or drops it when too many wait. */
static void submit(struct pps_prefetch *p)
{
	struct batch *b = p->cur;

	p->cur = NULL;
	if (!b || !b->n) {
		free(b);
		return;
	}
	pthread_mutex_lock(&p->lock);
	if (p->pending < MAX_PENDING && !p->done) {
		if (p->tail)
			p->tail->next = b;
		else
			p->head = b;
		p->tail = b;
		p->pending++;
		b = NULL;
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	free(b);
}

void pps_prefetch_push(struct pps_prefetch *p, const struct pps_sym_map *m, uint64_t pc)
{
	struct item *it;

	if (!p->cur) {
		p->cur = malloc(sizeof(*p->cur));
		if (!p->cur)
			return;
		p->cur->next = NULL;
		p->cur->n = 0;
	}
	it = &p->cur->items[p->cur->n++];
	it->m = *m;
	it->pc = pc;
	if (m->build_id && m->build_id_size) {
		it->m.build_id_size = m->build_id_size < sizeof(it->build_id)
					  ? m->build_id_size
					  : sizeof(it->build_id);
		memcpy(it->build_id, m->build_id, it->m.build_id_size);
		it->m.build_id = it->build_id;
	} else {
		it->m.build_id = NULL;
		it->m.build_id_size = 0;
	}
	if (p->cur->n == BATCH)
		submit(p);
}

void pps_prefetch_lock(struct pps_prefetch *p)
{
	pthread_mutex_lock(&p->sym_lock);
}

void pps_prefetch_unlock(struct pps_prefetch *p)
{
	pthread_mutex_unlock(&p->sym_lock);
}

void pps_prefetch_finish(struct pps_prefetch *p)
{
	struct sched_param normal = {0};

	if (p->joined)
		return;
	submit(p);
	pthread_mutex_lock(&p->lock);
	p->done = true;
	/* Unprivileged, a thread may not leave SCHED_IDLE when RLIMIT_NICE is 0 (the
	 * default): then what is queued is dropped, not left to wait for idle CPUs, and the
	 * converter looks those addresses up itself. */
	if (pthread_setschedparam(p->thread, SCHED_OTHER, &normal))
		p->drop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	p->joined = true;
}

void pps_prefetch_free(struct pps_prefetch *p)
{
	if (!p)
		return;
	pps_prefetch_finish(p);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->sym_lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
