/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The ordered queue: sorted runs merged through a min-heap of runs (see ordered.h).
 * Typical perf recordings queue two rounds of one run per CPU, so the heap holds a few
 * dozen runs however many records are waiting.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal/ordered.h"

#define ENTRY_SIZE(size) (sizeof(struct pps_queued) + (((size_t)(size) + 7) & ~(size_t)7))

static struct pps_queued *run_head(const struct pps_run *run)
{
	return (struct pps_queued *)(void *)(run->buf + run->head);
}

static void run_free(struct pps_run *run)
{
	if (run)
		free(run->buf);
	free(run);
}

void pps_ordered_init(struct pps_ordered *oq)
{
	memset(oq, 0, sizeof(*oq));
}

void pps_ordered_release(struct pps_ordered *oq)
{
	for (size_t i = 0; i < oq->nr_runs; i++)
		if (oq->runs[i] != oq->tail)
			run_free(oq->runs[i]);
	run_free(oq->tail);
	run_free(oq->drained);
	free(oq->runs);
	memset(oq, 0, sizeof(*oq));
}

static bool before(const struct pps_run *a, const struct pps_run *b)
{
	const struct pps_queued *x = run_head(a), *y = run_head(b);

	return x->time < y->time || (x->time == y->time && x->seq < y->seq);
}

static void sift_up(struct pps_ordered *oq, size_t i)
{
	struct pps_run *run = oq->runs[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!before(run, oq->runs[parent]))
			break;
		oq->runs[i] = oq->runs[parent];
		i = parent;
	}
	oq->runs[i] = run;
}

static void sift_down(struct pps_ordered *oq, size_t i)
{
	struct pps_run *run = oq->runs[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= oq->nr_runs)
			break;
		if (c + 1 < oq->nr_runs && before(oq->runs[c + 1], oq->runs[c]))
			c++;
		if (!before(oq->runs[c], run))
			break;
		oq->runs[i] = oq->runs[c];
		i = c;
	}
	oq->runs[i] = run;
}

static int heap_add(struct pps_ordered *oq, struct pps_run *run)
{
	if (oq->nr_runs == oq->cap_runs) {
		size_t cap = oq->cap_runs ? oq->cap_runs * 2 : 64;
		struct pps_run **v = realloc(oq->runs, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		oq->runs = v;
		oq->cap_runs = cap;
	}
	oq->runs[oq->nr_runs++] = run;
	sift_up(oq, oq->nr_runs - 1);
	return 0;
}

int pps_ordered_push(struct pps_ordered *oq, uint64_t time, const void *rec, uint16_t size,
		     uint64_t offset, bool compressed, void *ctx)
{
	struct pps_run *run = oq->tail;
	size_t need = ENTRY_SIZE(size);
	struct pps_queued *q;
	bool was_empty;

	run_free(oq->drained); /* the caller is done with the last popped record */
	oq->drained = NULL;
	if (run && time < run->last_time) {
		/* Times went down: a new sorted run (another CPU's buffer). */
		if (run->head == run->len) {
			run->head = run->len = 0; /* empty and out of the heap: reuse it */
		} else {
			oq->tail = NULL;
			run = NULL;
		}
	}
	if (!run) {
		run = calloc(1, sizeof(*run));
		if (!run)
			return -ENOMEM;
		oq->tail = run;
	}
	was_empty = run->head == run->len;
	if (was_empty)
		run->head = run->len = 0;
	if (run->len + need > run->cap) {
		/* Reclaim the consumed front before growing. */
		if (run->head && run->head >= run->len / 2) {
			memmove(run->buf, run->buf + run->head, run->len - run->head);
			run->len -= run->head;
			run->head = 0;
		}
		if (run->len + need > run->cap) {
			size_t cap = run->cap ? run->cap * 2 : 64 * 1024;
			uint8_t *buf;

			while (cap < run->len + need)
				cap *= 2;
			buf = realloc(run->buf, cap);
			if (!buf)
				return -ENOMEM;
			run->buf = buf;
			run->cap = cap;
		}
	}
	q = (struct pps_queued *)(void *)(run->buf + run->len);
	q->time = time;
	q->seq = oq->seq++;
	q->offset = offset;
	memcpy(&q->type, rec, sizeof(q->type)); /* header.type comes first */
	q->size = size;
	q->compressed = compressed;
	q->ctx = ctx;
	memcpy(q->data, rec, size);
	run->len += need;
	run->last_time = time;
	oq->bytes += size;
	if (time > oq->max_time)
		oq->max_time = time;
	/* A run enters the heap when it gets its first record; its head key never changes
	 * by appending, so the heap stays valid. */
	if (was_empty)
		return heap_add(oq, run);
	return 0;
}

bool pps_ordered_released(const struct pps_ordered *oq)
{
	return oq->has_released && oq->nr_runs && run_head(oq->runs[0])->time <= oq->released;
}

bool pps_ordered_flushable(struct pps_ordered *oq)
{
	if (!oq->flushing)
		return false;
	if (oq->nr_runs && run_head(oq->runs[0])->time <= oq->limit)
		return true;
	oq->flushing = false;
	return false;
}

const struct pps_queued *pps_ordered_pop(struct pps_ordered *oq)
{
	struct pps_run *run = oq->runs[0];
	struct pps_queued *q = run_head(run);

	run_free(oq->drained);
	oq->drained = NULL;
	run->head += ENTRY_SIZE(q->size);
	oq->bytes -= q->size;
	oq->last_flushed = q->time;
	if (run->head < run->len) {
		sift_down(oq, 0);
		return q;
	}
	/* Empty: out of the heap. Its memory holds q, so it is freed on the next call,
	 * unless it is the tail, which keeps its buffer for the next records. */
	oq->runs[0] = oq->runs[--oq->nr_runs];
	if (oq->nr_runs)
		sift_down(oq, 0);
	if (run != oq->tail)
		oq->drained = run;
	return q;
}

void pps_ordered_round(struct pps_ordered *oq)
{
	oq->limit = oq->next_flush;
	oq->flushing = true;
	oq->next_flush = oq->max_time;
}

void pps_ordered_flush_all(struct pps_ordered *oq)
{
	oq->limit = UINT64_MAX;
	oq->flushing = true;
}

void pps_ordered_flush_half(struct pps_ordered *oq)
{
	if (!oq->nr_runs)
		return;
	oq->limit = run_head(oq->runs[0])->time + (oq->max_time - run_head(oq->runs[0])->time) / 2;
	oq->flushing = true;
}

void pps_ordered_release_to(struct pps_ordered *oq, uint64_t time)
{
	if (!oq->has_released || time > oq->released)
		oq->released = time;
	oq->has_released = true;
}
