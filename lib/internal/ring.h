/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_ring: drains the ring buffers of a mapped libperf evlist on a thread of its own, so
 * that nothing the owner does (converting, symbolizing a new binary, a store transaction)
 * keeps the kernel waiting: the kernel drops records (PERF_RECORD_LOST) only when a ring
 * buffer fills, and in a context-switch storm a 4 MiB buffer fills in a fifth of a second.
 *
 * The thread polls the evlist (wakeups at the events' watermark, or when a hand-over is
 * due) and copies every record of every buffer into a pass. It queues the pass for the
 * owner after a second of drains, or 1 MiB. An owner that wants the records now
 * (pps_ring_take(now)) drains the buffers itself and queues the pass, also an empty one:
 * its start time tells the owner that time went on. Records are copied as the kernel
 * wrote them; nobody looks inside here (the owner's reader validates them). Memory is
 * bounded: with max_queued bytes queued and not taken, the thread stops reading, and the
 * kernel's own accounting (PERF_RECORD_LOST) says what that cost.
 *
 * Thread use: the owner calls everything below from one thread; the drain thread only
 * touches the evlist's mmaps (under a lock that pps_ring_take(now) takes too) and
 * pollfds, so the owner must not use those itself while it runs (ioctls such as
 * perf_evlist__disable() are fine).
 */
#ifndef PPS_INTERNAL_RING_H
#define PPS_INTERNAL_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct perf_evlist;
struct pps_ring;

/* One drain of every ring buffer. */
struct pps_ring_pass {
	struct pps_ring_pass *next; /* the next (newer) pass */
	/* CLOCK_MONOTONIC when the drain began: every record stamped before it (less the
	 * microseconds a record is in flight) is in this pass or an older one. */
	uint64_t start;
	uint8_t *data; /* the records, back to back, each 8-byte aligned */
	size_t len;
	/* The queue was full: records were left in the buffers, so start does not bound
	 * what later passes hold. */
	bool partial;
};

/*
 * A drainer of evlist (mapped, not owned). watch_hangup: the targets are threads, and the
 * drainer notes when all their events have hung up (they exited). NULL with errno ENOMEM.
 */
struct pps_ring *pps_ring_new(struct perf_evlist *evlist, bool watch_hangup, size_t max_queued);
/* Starts the thread, with every signal blocked in it. Returns 0 or -errno. */
int pps_ring_start(struct pps_ring *r);
/*
 * Takes every queued pass, oldest first, waiting up to timeout_ms for one (0: no wait).
 * now: first drain the buffers here and queue that pass with what the thread had read,
 * rather than wait for its next hand-over. Returns the list, NULL when none came (also
 * when a signal handled on this thread ended the wait); free it with
 * pps_ring_pass_free().
 */
struct pps_ring_pass *pps_ring_take(struct pps_ring *r, int timeout_ms, bool now);
void pps_ring_pass_free(struct pps_ring_pass *p);
/* Whether every target thread's events hung up (watch_hangup): the drainer has stopped
 * after a last pass. */
bool pps_ring_gone(struct pps_ring *r);
/* Stops and joins the thread (cancelled in its poll()), then drains once more here and
 * queues that pass: after it, pps_ring_take() has everything. Returns 0 or -ENOMEM (the
 * drainer's or this pass's). */
int pps_ring_stop(struct pps_ring *r);
/* Stops the thread when it runs; frees what is queued. Accepts NULL. */
void pps_ring_free(struct pps_ring *r);

#endif /* PPS_INTERNAL_RING_H */
