/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Draining ring buffers on a thread of their own (see internal/ring.h).
 *
 * Facts that shaped it:
 * - The thread does nothing but poll and memcpy: a pass over every buffer costs about
 *   what copying its bytes costs, so it keeps up with any rate the owner can convert,
 *   and takes the kernel's buffers off the owner's critical path.
 * - A pass is one growing buffer, handed over whole under one lock: the lock is taken
 *   once per hand-over, not per record.
 * - Every wakeup of the owner costs the machine being profiled more than the bytes it
 *   brings: two context switches, and the recorder's own sched_switch and futex events,
 *   which it records and converts like anybody's. So the drains of a second go into one
 *   pass, handed over when it is big, when a second has passed or when the owner asks,
 *   and the owner sleeps in poll() on an eventfd (no futex, and a signal ends it).
 * - So does every wakeup of the thread: on a 2-CPU VM, waking 10 times a second cost
 *   the recorder more CPU than everything else it does at 99 Hz. The thread wakes at the
 *   buffers' watermark or when the next hand-over is due, about once a second. Whoever
 *   cannot wait for that does not wake it: the owner drains the buffers itself when it
 *   wants their records now (drain_lock keeps one reader per buffer), and the thread is
 *   cancelled out of its poll() when it must stop.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <perf/event.h>
#include <perf/evlist.h>
#include <perf/mmap.h>

#include "internal/ring.h"

/* The drains of up to this long, or this many bytes, go to the owner in one pass. */
#define HANDOVER_NS   1000000000u
#define HANDOVER_SIZE ((size_t)1 << 20)

struct pps_ring {
	struct perf_evlist *evlist;
	bool watch_hangup;
	size_t max_queued;
	int efd; /* eventfd: counts hand-overs and the thread's end, for the owner's poll() */

	pthread_t thread;
	bool running; /* the thread was started and not joined */

	/* Held while reading the buffers, by the thread or the owner; guards what follows. */
	pthread_mutex_t drain_lock;
	struct pps_ring_pass *pending; /* drains not handed over yet */
	size_t pending_cap;	       /* the size of its buffer */
	uint64_t handed;	       /* when the last pass was handed over */

	pthread_mutex_t lock; /* guards what follows */
	struct pps_ring_pass *head, *tail;
	size_t queued; /* bytes in the queued passes */
	bool stop;     /* the owner asks the thread to end */
	bool gone;     /* every target thread's events hung up */
	bool ended;    /* the thread has left its loop */
	int err;       /* the thread's -ENOMEM */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void pps_ring_pass_free(struct pps_ring_pass *p)
{
	while (p) {
		struct pps_ring_pass *next = p->next;

		free(p->data);
		free(p);
		p = next;
	}
}

static int pass_put(struct pps_ring_pass *p, size_t *cap, const void *rec, size_t n)
{
	if (p->len + n > *cap) {
		size_t ncap = *cap ? *cap * 2 : 1u << 16;
		uint8_t *d;

		while (ncap < p->len + n)
			ncap *= 2;
		d = realloc(p->data, ncap);
		if (!d)
			return -ENOMEM;
		p->data = d;
		*cap = ncap;
	}
	memcpy(p->data + p->len, rec, n);
	p->len += n;
	return 0;
}

/*
 * One pass over every buffer, appended to *pp (a new pass when NULL; *cap its buffer's
 * size), reading until the pass holds room bytes (records beyond stay in the buffers).
 * The pass's start becomes this drain's: with the drains before it, it holds everything
 * older. *pp is set also when nothing was read: its start still tells the owner that
 * time went on. Returns 0 or -ENOMEM (*pp is then freed).
 */
static int drain_pass(struct pps_ring *r, size_t room, struct pps_ring_pass **pp, size_t *cap)
{
	struct pps_ring_pass *p = *pp;
	struct perf_mmap *map;
	int err = 0;

	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		*cap = 0;
		*pp = p;
	}
	p->start = mono_ns();
	p->partial = false;
	perf_evlist__for_each_mmap(r->evlist, map, false)
	{
		union perf_event *ev;

		if (p->len >= room) {
			p->partial = true;
			break;
		}
		if (perf_mmap__read_init(map) < 0)
			continue;
		/* libperf checked each size against what the kernel published; events larger
		 * than its copy buffer cannot occur with our sample types (callchains are
		 * capped by kernel.perf_event_max_stack). The owner's reader checks the rest. */
		while (!err && (ev = perf_mmap__read_event(map)) != NULL) {
			err = pass_put(p, cap, ev, ev->header.size);
			perf_mmap__consume(map);
			if (p->len >= room) {
				p->partial = true;
				break;
			}
		}
		perf_mmap__read_done(map);
		if (err)
			break;
	}
	if (err) {
		pps_ring_pass_free(p);
		*pp = NULL;
	}
	return err;
}

/* Queues p (may be NULL) and wakes the owner. Called with the lock held. */
static void enqueue(struct pps_ring *r, struct pps_ring_pass *p)
{
	static const uint64_t one = 1;

	if (p) {
		if (r->tail)
			r->tail->next = p;
		else
			r->head = p;
		r->tail = p;
		r->queued += p->len;
	}
	/* Cannot fail but for a counter at its maximum, which still reads as ready. */
	if (write(r->efd, &one, sizeof(one)) < 0)
		return;
}

/*
 * Drains every buffer into the pending pass and hands it over when it is due (or
 * always, when force). Called with drain_lock held. -ENOMEM goes to r->err.
 */
static void drain_locked(struct pps_ring *r, bool force)
{
	struct pps_ring_pass *p;
	size_t room;
	int err;

	pthread_mutex_lock(&r->lock);
	room = r->queued < r->max_queued ? r->max_queued - r->queued : 0;
	pthread_mutex_unlock(&r->lock);
	err = room ? drain_pass(r, room, &r->pending, &r->pending_cap) : 0;
	p = r->pending;
	pthread_mutex_lock(&r->lock);
	if (err)
		r->err = err;
	if (p && (force || p->partial || p->len >= HANDOVER_SIZE ||
		  p->start - r->handed >= HANDOVER_NS)) {
		enqueue(r, p);
		r->handed = p->start;
		r->pending = NULL;
	}
	pthread_mutex_unlock(&r->lock);
}

/*
 * How long the thread may sleep: until the next hand-over is due. One overdue was not
 * made because the owner has max_queued bytes to take: then a tenth of that.
 */
static int poll_timeout(struct pps_ring *r)
{
	uint64_t now = mono_ns(), due;

	pthread_mutex_lock(&r->drain_lock);
	due = r->handed + HANDOVER_NS;
	pthread_mutex_unlock(&r->drain_lock);
	return due > now ? (int)((due - now) / 1000000u) + 1 : (int)(HANDOVER_NS / 10000000u);
}

static void *drain_thread(void *arg)
{
	struct pps_ring *r = arg;
	bool stop = false;

	/* Cancelled only in its poll(), where it holds nothing (pps_ring_stop()). */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	while (!stop) {
		int n, timeout = poll_timeout(r);

		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		n = perf_evlist__poll(r->evlist, timeout);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		pthread_mutex_lock(&r->drain_lock);
		drain_locked(r, false);
		pthread_mutex_lock(&r->lock);
		/* Per-thread events hang up when their thread exits: all of them, the
		 * targets are gone (their last records were in this pass). */
		if (r->watch_hangup && n > 0 &&
		    perf_evlist__filter_pollfd(r->evlist, POLLERR | POLLHUP) == 0)
			r->gone = true;
		stop = r->stop || r->gone || r->err;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			drain_locked(r, true);
		pthread_mutex_unlock(&r->drain_lock);
	}
	pthread_mutex_lock(&r->lock);
	r->ended = true;
	enqueue(r, NULL);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

struct pps_ring *pps_ring_new(struct perf_evlist *evlist, bool watch_hangup, size_t max_queued)
{
	struct pps_ring *r = calloc(1, sizeof(*r));

	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	r->evlist = evlist;
	r->watch_hangup = watch_hangup;
	r->max_queued = max_queued;
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		int e = errno;

		free(r);
		errno = e;
		return NULL;
	}
	pthread_mutex_init(&r->drain_lock, NULL);
	pthread_mutex_init(&r->lock, NULL);
	return r;
}

int pps_ring_start(struct pps_ring *r)
{
	sigset_t all, old;
	int err;

	r->handed = mono_ns();
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&r->thread, NULL, drain_thread, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return -err;
	r->running = true;
	return 0;
}

struct pps_ring_pass *pps_ring_take(struct pps_ring *r, int timeout_ms, bool now)
{
	struct pps_ring_pass *p;
	bool wait;

	if (now) {
		/* What the buffers hold now, read here: the thread may sleep for a second. */
		pthread_mutex_lock(&r->drain_lock);
		drain_locked(r, true);
		pthread_mutex_unlock(&r->drain_lock);
	}
	pthread_mutex_lock(&r->lock);
	wait = !r->head && timeout_ms > 0 && r->running && !r->ended;
	pthread_mutex_unlock(&r->lock);
	if (wait) {
		struct pollfd pfd = {.fd = r->efd, .events = POLLIN};
		uint64_t count;

		/* A hand-over after the check above leaves the counter set: no lost wakeup.
		 * The read only resets it (poll said it is set, so it cannot fail); the queue
		 * says what came. */
		if (poll(&pfd, 1, timeout_ms) > 0 && read(r->efd, &count, sizeof(count)) < 0)
			count = 0;
	}
	pthread_mutex_lock(&r->lock);
	p = r->head;
	r->head = r->tail = NULL;
	r->queued = 0;
	pthread_mutex_unlock(&r->lock);
	return p;
}

bool pps_ring_gone(struct pps_ring *r)
{
	bool gone;

	pthread_mutex_lock(&r->lock);
	gone = r->gone;
	pthread_mutex_unlock(&r->lock);
	return gone;
}

/* Ends the thread: at once when it sleeps in poll(), else after its drain. */
static void join_thread(struct pps_ring *r)
{
	if (!r->running)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_mutex_unlock(&r->lock);
	pthread_cancel(r->thread);
	pthread_join(r->thread, NULL);
	r->running = false;
}

int pps_ring_stop(struct pps_ring *r)
{
	int err;

	join_thread(r);
	/* The thread is gone: the drains it did not hand over, and what is left in the
	 * buffers, read here whatever the cap, make the last pass. */
	err = drain_pass(r, SIZE_MAX, &r->pending, &r->pending_cap);
	pthread_mutex_lock(&r->lock);
	enqueue(r, r->pending);
	r->pending = NULL;
	err = err ?: r->err;
	pthread_mutex_unlock(&r->lock);
	return err;
}

void pps_ring_free(struct pps_ring *r)
{
	if (!r)
		return;
	join_thread(r);
	pps_ring_pass_free(r->pending);
	pps_ring_pass_free(r->head);
	pthread_mutex_destroy(&r->drain_lock);
	pthread_mutex_destroy(&r->lock);
	close(r->efd);
	free(r);
}
