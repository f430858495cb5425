/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Wait pairing (see waits.h): one pending entry per waiting thread, in an open-addressing
 * table keyed by tid.
 *
 * Workload facts that shaped it: a busy recording has millions of very short waits
 * (sched_switch out and back in a few microseconds later, uncontended-ish futexes) spread
 * over a few hundred to tens of thousands of threads, and at any moment only a fraction of
 * them are waiting. So:
 * - Linear probing with backward-shift deletion, no tombstones: a churn of short waits
 *   never fills the table with dead slots, and a lookup stops at the first empty slot.
 *   The table doubles at half full and halves below an eighth full, so its size follows
 *   the number of threads waiting now, not the number that ever waited.
 * - A start's stack is copied into a buffer owned by its entry. When the wait completes
 *   the buffer moves to w->done (what pps_waits_end hands out) and the previous done
 *   buffer goes to a small pool the next starts take from (best fit): a steady stream of
 *   short waits does no allocation at all, and beyond the waiting threads' own buffers
 *   at most POOL_MAX buffers of at most POOL_MAX_IDS ids (128 KiB) stay allocated.
 * - Flush runs once, at the end of the recording: it sorts the entries in place inside
 *   the table (no allocation, so it cannot fail for memory) and then empties it.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal/waits.h"

#define MIN_BITS      4	 /* 16 slots, the first allocation */
#define MAX_BITS      30 /* 2^29 waiting threads: far beyond any pid_max */
#define STACK_ROUND   16 /* stack buffers in multiples of this many ids, for reuse */
#define STACK_MAX_IDS (SIZE_MAX / sizeof(uint64_t) - STACK_ROUND)
#define POOL_MAX      32  /* free stack buffers kept for reuse */
#define POOL_MAX_IDS  512 /* bigger free buffers are not kept */

/* A pending wait. An unused slot has used == false and owns no buffer. */
struct wait_entry {
	int32_t tid;	 /* the key */
	int32_t pid;	 /* from the start */
	uint64_t time;	 /* start time */
	uint64_t key;	 /* from the start */
	uint32_t flags;	 /* from the start */
	uint32_t cpu;	 /* from the start */
	uint64_t *stack; /* the copy of the start's stack, owned; NULL when cap is 0 */
	size_t nr_stack; /* ids in stack */
	size_t cap;	 /* ids stack has room for */
	bool used;	 /* slot holds a pending wait */
};

/* A stack buffer not owned by any entry. */
struct stack_buf {
	uint64_t *ids; /* owned; NULL when cap is 0 */
	size_t cap;    /* ids it has room for */
};

struct pps_waits {
	struct wait_entry *slots;	 /* 1 << bits slots, NULL before the first start */
	unsigned int bits;		 /* log2 of the slot count; 0 when slots is NULL */
	size_t count;			 /* used slots: threads waiting */
	struct stack_buf done;		 /* the stack of the wait pps_waits_end last handed out */
	struct stack_buf pool[POOL_MAX]; /* free buffers for the next starts, cap > 0 */
	size_t nr_pool;			 /* buffers in pool */
	struct pps_waits_stats stats;
	bool keyed; /* entries are (tid, key): pps_waits_new_keyed() */
};

static size_t nr_slots(const struct pps_waits *w)
{
	return w->slots ? (size_t)1 << w->bits : 0;
}

/* Fibonacci hashing: tids are small and dense, the multiply spreads them. In keyed mode
 * the key (a lock address) is folded in first. */
static size_t home_slot(int32_t tid, uint64_t key, unsigned int bits)
{
	uint32_t k = (uint32_t)tid ^ (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> 32);

	return (size_t)((k * 0x9e3779b9u) >> (32 - bits));
}

/* The slot of (tid, key) in keyed mode, of tid otherwise, or NULL. */
static struct wait_entry *lookup(const struct pps_waits *w, int32_t tid, uint64_t key)
{
	size_t mask, i;

	if (!w->slots)
		return NULL;
	if (!w->keyed)
		key = 0;
	mask = nr_slots(w) - 1;
	for (i = home_slot(tid, key, w->bits);; i = (i + 1) & mask) {
		struct wait_entry *e = &w->slots[i];

		if (!e->used)
			return NULL;
		if (e->tid == tid && (!w->keyed || e->key == key))
			return e;
	}
}

/* The free slot for (tid, hkey), which is not in the table; the table has a free slot.
 * hkey: the key in keyed mode, else 0. */
static struct wait_entry *insert_slot(struct wait_entry *slots, unsigned int bits, int32_t tid,
				      uint64_t hkey)
{
	size_t mask = ((size_t)1 << bits) - 1, i = home_slot(tid, hkey, bits);

	while (slots[i].used)
		i = (i + 1) & mask;
	return &slots[i];
}

static uint64_t hkey_of(const struct pps_waits *w, const struct wait_entry *e)
{
	return w->keyed ? e->key : 0;
}

/* Moves every entry into a table of 1 << bits slots. Returns 0 or -ENOMEM (unchanged). */
static int rehash(struct pps_waits *w, unsigned int bits)
{
	struct wait_entry *slots;
	size_t old = nr_slots(w);

	assert(bits >= MIN_BITS && bits <= MAX_BITS && w->count < ((size_t)1 << bits));
	slots = calloc((size_t)1 << bits, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < old; i++)
		if (w->slots[i].used)
			*insert_slot(slots, bits, w->slots[i].tid, hkey_of(w, &w->slots[i])) =
			    w->slots[i];
	free(w->slots);
	w->slots = slots;
	w->bits = bits;
	return 0;
}

/* Makes room for one more entry, keeping the table at most half full. */
static int reserve_one(struct pps_waits *w)
{
	if (!w->slots)
		return rehash(w, MIN_BITS);
	if ((w->count + 1) * 2 <= nr_slots(w))
		return 0;
	if (w->bits >= MAX_BITS)
		return -ENOMEM;
	return rehash(w, w->bits + 1);
}

/*
 * Empties slot e (whose buffer has been taken) by backward-shift deletion: each entry of
 * the probe run after it moves back into the hole unless its home slot lies cyclically
 * in (hole, its slot], where moving it would put it before its home.
 */
static void remove_entry(struct pps_waits *w, struct wait_entry *e)
{
	size_t mask = nr_slots(w) - 1, hole = (size_t)(e - w->slots), j = hole;

	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!w->slots[j].used)
			break;
		home = home_slot(w->slots[j].tid, hkey_of(w, &w->slots[j]), w->bits);
		if (hole <= j ? (home > hole && home <= j) : (home > hole || home <= j))
			continue;
		w->slots[hole] = w->slots[j];
		hole = j;
	}
	memset(&w->slots[hole], 0, sizeof(w->slots[hole]));
	w->count--;
	/* Shrink below an eighth full (to a quarter): halving keeps it under half full.
	 * Failing to shrink is harmless: the table stays as it is. */
	if (w->bits > MIN_BITS && w->count * 8 < nr_slots(w))
		(void)rehash(w, w->bits - 1);
}

/*
 * Takes ownership of buf: into the pool, in place of the pool's smallest buffer when the
 * pool is full and buf is bigger, or freed.
 */
static void pool_put(struct pps_waits *w, struct stack_buf buf)
{
	size_t min = 0;

	if (!buf.cap || buf.cap > POOL_MAX_IDS)
		goto out_free;
	if (w->nr_pool < POOL_MAX) {
		w->pool[w->nr_pool++] = buf;
		return;
	}
	for (size_t i = 1; i < POOL_MAX; i++)
		if (w->pool[i].cap < w->pool[min].cap)
			min = i;
	if (w->pool[min].cap < buf.cap) {
		struct stack_buf t = w->pool[min];

		w->pool[min] = buf;
		buf = t;
	}
out_free:
	free(buf.ids);
}

/*
 * A buffer with room for n ids: the pool's smallest that is big enough, else a new one.
 * Returns 0 (with *buf owned by the caller; {NULL, 0} when n is 0) or -ENOMEM.
 */
static int take_buffer(struct pps_waits *w, size_t n, struct stack_buf *buf)
{
	size_t best = w->nr_pool, cap;

	if (n == 0) {
		*buf = (struct stack_buf){NULL, 0};
		return 0;
	}
	/* From the top: the buffer put back last is the likeliest fit, and exact. */
	for (size_t i = w->nr_pool; i-- > 0;) {
		if (w->pool[i].cap >= n &&
		    (best == w->nr_pool || w->pool[i].cap < w->pool[best].cap)) {
			best = i;
			if (w->pool[i].cap < n + STACK_ROUND)
				break;
		}
	}
	if (best < w->nr_pool) {
		*buf = w->pool[best];
		w->pool[best] = w->pool[--w->nr_pool];
		return 0;
	}
	if (n > STACK_MAX_IDS)
		return -ENOMEM;
	cap = (n + STACK_ROUND - 1) / STACK_ROUND * STACK_ROUND;
	buf->ids = malloc(cap * sizeof(*buf->ids));
	if (!buf->ids)
		return -ENOMEM;
	buf->cap = cap;
	return 0;
}

struct pps_waits *pps_waits_new(void)
{
	struct pps_waits *w = calloc(1, sizeof(*w));

	if (!w)
		errno = ENOMEM;
	return w;
}

struct pps_waits *pps_waits_new_keyed(void)
{
	struct pps_waits *w = pps_waits_new();

	if (w)
		w->keyed = true;
	return w;
}

void pps_waits_free(struct pps_waits *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < nr_slots(w); i++)
		free(w->slots[i].stack);
	free(w->slots);
	free(w->done.ids);
	for (size_t i = 0; i < w->nr_pool; i++)
		free(w->pool[i].ids);
	free(w);
}

int pps_waits_start(struct pps_waits *w, const struct pps_wait_start *s)
{
	struct wait_entry *e;
	struct stack_buf buf;
	int err = 0;

	if (!w || !s || (s->nr_stack && !s->stack)) {
		err = -EINVAL;
		goto out;
	}
	e = lookup(w, s->tid, s->key);
	if (e && w->keyed) {
		/* Already waiting for this lock: the first start stands, as perf lock does. */
		w->stats.nr_repeat_starts++;
		goto out;
	}
	if (e) {
		/* Replacing a pending start: its buffer is reused when big enough. Nothing
		 * changes before the allocation has worked. */
		if (e->cap < s->nr_stack) {
			err = take_buffer(w, s->nr_stack, &buf);
			if (err)
				goto out;
			pool_put(w, (struct stack_buf){e->stack, e->cap});
			e->stack = buf.ids;
			e->cap = buf.cap;
		}
		w->stats.nr_orphan_starts++;
	} else {
		err = reserve_one(w);
		if (err)
			goto out;
		err = take_buffer(w, s->nr_stack, &buf);
		if (err)
			goto out;
		e = insert_slot(w->slots, w->bits, s->tid, w->keyed ? s->key : 0);
		e->used = true;
		e->tid = s->tid;
		e->stack = buf.ids;
		e->cap = buf.cap;
		w->count++;
	}
	e->pid = s->pid;
	e->time = s->time;
	e->key = s->key;
	e->flags = s->flags;
	e->cpu = s->cpu;
	e->nr_stack = s->nr_stack;
	if (s->nr_stack)
		memcpy(e->stack, s->stack, s->nr_stack * sizeof(*e->stack));
	w->stats.nr_starts++;
out:
	return err;
}

static void fill_wait(struct pps_wait *out, const struct wait_entry *e, uint64_t end,
		      bool truncated)
{
	*out = (struct pps_wait){
	    .pid = e->pid,
	    .tid = e->tid,
	    .start = e->time,
	    .end = end,
	    .stack = e->stack,
	    .nr_stack = e->nr_stack,
	    .key = e->key,
	    .flags = e->flags,
	    .cpu = e->cpu,
	    .truncated = truncated,
	};
}

/*
 * An end older than its start drops the pending wait too: the thread did stop waiting
 * (it ran), only the delay is unknown. Kept, the stale start would be paired with a
 * later, unrelated end or flushed as a wait lasting to the end of the recording.
 * An end whose key does not match leaves the pending wait alone: it ends something else.
 */
int pps_waits_end(struct pps_waits *w, int32_t tid, uint64_t time, uint64_t key,
		  bool key_must_match, struct pps_wait *out)
{
	struct wait_entry *e;
	struct stack_buf old;
	int ret = 0;

	if (!w || !out) {
		ret = -EINVAL;
		goto out;
	}
	w->stats.nr_ends++;
	e = lookup(w, tid, key);
	if (!e || (key_must_match && e->key != key)) {
		w->stats.nr_orphan_ends++;
		goto out;
	}
	old = w->done;
	w->done = (struct stack_buf){e->stack, e->cap};
	if (time < e->time) {
		w->stats.nr_backwards++;
	} else {
		fill_wait(out, e, time, false);
		w->stats.nr_completed++;
		ret = 1;
	}
	/* The previous done buffer is free now: the caller's pointers into it expire
	 * with this call. */
	pool_put(w, old);
	remove_entry(w, e);
out:
	return ret;
}

bool pps_waits_pending(const struct pps_waits *w, int32_t tid)
{
	return w && !w->keyed && lookup(w, tid, 0);
}

bool pps_waits_cancel(struct pps_waits *w, int32_t tid)
{
	struct wait_entry *e = w && !w->keyed ? lookup(w, tid, 0) : NULL;

	if (!e)
		return false;
	pool_put(w, (struct stack_buf){e->stack, e->cap});
	w->stats.nr_orphan_starts++;
	remove_entry(w, e);
	return true;
}

static int cmp_tid(const void *a, const void *b)
{
	const struct wait_entry *x = a, *y = b;

	if (x->tid != y->tid)
		return (x->tid > y->tid) - (x->tid < y->tid);
	return (x->key > y->key) - (x->key < y->key);
}

/*
 * After the flush nothing is pending, whether or not fn stopped it: the waits fn did not
 * see are dropped with the rest of the table (flush is the end of the recording). Waits
 * that started after end_time count in nr_backwards (their end is before their start).
 * fn must not call back into w: the table is being taken apart.
 */
int pps_waits_flush(struct pps_waits *w, uint64_t end_time,
		    int (*fn)(const struct pps_wait *wait, void *ctx), void *ctx)
{
	size_t n = 0;
	int ret = 0;

	if (!w || !fn) {
		ret = -EINVAL;
		goto out;
	}
	/* Compact the entries to the front of the table and sort them there. */
	for (size_t i = 0; i < nr_slots(w); i++)
		if (w->slots[i].used)
			w->slots[n++] = w->slots[i];
	assert(n == w->count);
	if (n > 1)
		qsort(w->slots, n, sizeof(*w->slots), cmp_tid);
	for (size_t i = 0; i < n && !ret; i++) {
		const struct wait_entry *e = &w->slots[i];
		struct pps_wait wait;

		if (e->time > end_time) {
			w->stats.nr_backwards++;
			continue;
		}
		fill_wait(&wait, e, end_time, true);
		w->stats.nr_completed++;
		w->stats.nr_flushed++;
		ret = fn(&wait, ctx);
	}
	for (size_t i = 0; i < n; i++)
		pool_put(w, (struct stack_buf){w->slots[i].stack, w->slots[i].cap});
	free(w->slots);
	w->slots = NULL;
	w->bits = 0;
	w->count = 0;
out:
	return ret;
}

int pps_waits_split(struct pps_waits *w, uint64_t time,
		    int (*fn)(const struct pps_wait *wait, void *ctx), void *ctx)
{
	int ret = 0;

	if (!w || !fn)
		return -EINVAL;
	for (size_t i = 0; i < nr_slots(w) && !ret; i++) {
		struct wait_entry *e = &w->slots[i];
		struct pps_wait wait;

		if (!e->used || e->time >= time)
			continue;
		fill_wait(&wait, e, time, false);
		wait.continues = true;
		w->stats.nr_split++;
		ret = fn(&wait, ctx);
		e->time = time;
	}
	return ret;
}

int pps_waits_remap(struct pps_waits *w, int (*fn)(int32_t pid, uint64_t *ids, size_t nr,
						   void *ctx),
		    void *ctx)
{
	int ret = 0;

	if (!w || !fn)
		return -EINVAL;
	for (size_t i = 0; i < nr_slots(w) && !ret; i++)
		if (w->slots[i].used)
			ret = fn(w->slots[i].pid, w->slots[i].stack, w->slots[i].nr_stack, ctx);
	return ret;
}

const struct pps_waits_stats *pps_waits_stats(const struct pps_waits *w)
{
	return &w->stats;
}
