/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_waits: pairs the start and the end of per-thread waits seen in timestamp order
 * (off-CPU: sched_switch out and back in; kernel locks: contention_begin and _end; user
 * locks: futex wait enter and exit) and hands out each completed wait with what was
 * captured at its start.
 *
 * Pure bookkeeping: no perf.data, no libtraceevent. The converter decodes tracepoints,
 * resolves the start's callchain into location ids and calls in here.
 *
 * Rules, per thread (tid):
 * - A start while a wait is pending replaces it (the pending one lost its end: counted in
 *   nr_orphan_starts), since a thread waits for one thing at a time.
 * - An end without a pending start is dropped (its start was before the recording or
 *   lost): counted in nr_orphan_ends. Nothing is invented.
 * - An end older than its start (clock skew between CPUs) is dropped with its start,
 *   counted in nr_backwards: a stale start would pair with an unrelated end later.
 * - With key_must_match, an end whose key differs from the pending start's is an orphan
 *   end; the start stays pending.
 * - pps_waits_flush(end_time) completes every pending wait at end_time: threads still
 *   waiting when the recording ends count up to its last timestamp. Starts after
 *   end_time are dropped (counted in nr_backwards); nr_completed includes the flushed.
 *   fn must not call back into the pps_waits; if it stops the flush, the waits it has
 *   not seen are dropped. The table is empty afterwards.
 * - NULL arguments, or nr_stack without a stack, are -EINVAL.
 * Memory: one pending entry per thread that is waiting, with its stack copy.
 */
#ifndef PPS_INTERNAL_WAITS_H
#define PPS_INTERNAL_WAITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pps_waits;

/* What a start carries to its end: copied. */
struct pps_wait_start {
	int32_t pid, tid;
	uint64_t time;
	const uint64_t *stack; /* location ids, leaf first; copied */
	size_t nr_stack;
	uint64_t key;	 /* what is waited for: lock or futex address (0: none) */
	uint32_t flags;	 /* caller's: lock type flags, futex op, sched state letter ... */
	uint32_t cpu;
};

/* A completed wait; pointers valid until the next call on the pps_waits. */
struct pps_wait {
	int32_t pid, tid;
	uint64_t start, end; /* end - start is the delay */
	const uint64_t *stack;
	size_t nr_stack;
	uint64_t key;
	uint32_t flags;
	uint32_t cpu;
	bool truncated; /* completed by pps_waits_flush(), not by a real end */
	bool continues; /* a piece cut by pps_waits_split(): the wait goes on after end */
};

struct pps_waits_stats {
	uint64_t nr_starts, nr_ends, nr_completed;
	uint64_t nr_orphan_starts; /* replaced before their end */
	uint64_t nr_orphan_ends;   /* no start pending */
	uint64_t nr_backwards;	   /* end before start */
	uint64_t nr_flushed;	   /* completed at the end of the recording */
	uint64_t nr_repeat_starts; /* keyed mode: a start for a wait already pending */
	uint64_t nr_split;	   /* pieces cut at window boundaries */
};

struct pps_waits *pps_waits_new(void);
/*
 * Keyed mode, for locks: a wait is (tid, key), so a thread may wait for several locks at
 * once (a spinlock taken inside a sleeping rwsem wait, the rwsem's own wait_lock). A
 * start for a (tid, key) already pending is ignored (counted in nr_repeat_starts), as
 * perf lock does; pps_waits_end() finds the wait by (tid, key); pps_waits_pending() and
 * pps_waits_cancel() are for the unkeyed mode and say false here.
 */
struct pps_waits *pps_waits_new_keyed(void);
void pps_waits_free(struct pps_waits *w);

/* Records a start. Returns 0 or -ENOMEM. */
int pps_waits_start(struct pps_waits *w, const struct pps_wait_start *s);

/*
 * Ends tid's pending wait at time. Returns 1 with *out filled when a wait completed,
 * 0 when there was none to complete (counted as described above).
 * key_must_match: for locks, an end whose key differs from the start's is an orphan.
 */
int pps_waits_end(struct pps_waits *w, int32_t tid, uint64_t time, uint64_t key,
		  bool key_must_match, struct pps_wait *out);

/* Whether tid has a pending wait. */
bool pps_waits_pending(const struct pps_waits *w, int32_t tid);

/* Drops tid's pending wait without completing it (counted in nr_orphan_starts): the
 * thread was seen running, so its end was lost. Returns whether there was one. */
bool pps_waits_cancel(struct pps_waits *w, int32_t tid);

/*
 * Completes every pending wait at end_time, calling fn for each (sorted by tid, so
 * output does not depend on hash order). Waits that started after end_time are dropped.
 * Returns 0, or the first non-zero value fn returned (which stops the flush).
 */
int pps_waits_flush(struct pps_waits *w, uint64_t end_time,
		    int (*fn)(const struct pps_wait *wait, void *ctx), void *ctx);

/*
 * A window boundary in live capture: every pending wait that started before time is
 * handed to fn as a wait from its start to time (continues set, not counted as
 * completed), and stays pending from time on, so the next piece starts there. The sum
 * of a wait's pieces is its whole delay. Waits are handed out in table order. fn must not
 * call back into w. Returns 0, or the first non-zero value fn returned (which stops the
 * split: later waits are left whole).
 */
int pps_waits_split(struct pps_waits *w, uint64_t time,
		    int (*fn)(const struct pps_wait *wait, void *ctx), void *ctx);

/*
 * Lets fn rewrite the stack of every pending wait in place (the converter renumbers
 * location ids when a window's profiles are replaced by new ones). fn gets the wait's
 * pid and its stack. Returns 0, or the first non-zero value fn returned (which stops).
 */
int pps_waits_remap(struct pps_waits *w, int (*fn)(int32_t pid, uint64_t *ids, size_t nr,
						   void *ctx),
		    void *ctx);

const struct pps_waits_stats *pps_waits_stats(const struct pps_waits *w);

#endif /* PPS_INTERNAL_WAITS_H */
