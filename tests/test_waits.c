/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_waits tests: the pairing rules one by one (exact delays and stacks), the flush, a
 * million random waits over 10,000 threads checked against a trivial model (arrays indexed
 * by thread), memory that follows the waiting threads (allocations counted through
 * -Wl,--wrap), allocation failure injection, and a micro-benchmark (printed, not checked).
 *
 * usage: test_waits
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/waits.h"

#include "check.h"

/*
 * The allocator, wrapped for this file and the library (-Wl,--wrap=malloc,calloc,realloc,
 * free): counts calls and live bytes, and fails allocation n on request.
 */
void *__real_malloc(size_t n);
void *__real_calloc(size_t nmemb, size_t n);
void *__real_realloc(void *ptr, size_t n);
void __real_free(void *ptr);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t nmemb, size_t n);
void *__wrap_realloc(void *ptr, size_t n);
void __wrap_free(void *ptr);

static long alloc_countdown = -1; /* allocations that succeed before one fails; -1 never */
static long nr_allocs;		  /* malloc, calloc and realloc calls */
static long live_bytes;		  /* usable bytes of the wrapped allocations not freed */

static bool alloc_fails(void)
{
	nr_allocs++;
	if (alloc_countdown < 0)
		return false;
	return alloc_countdown-- == 0;
}

static void *counted(void *p)
{
	if (p)
		live_bytes += (long)malloc_usable_size(p);
	return p;
}

void *__wrap_malloc(size_t n)
{
	return alloc_fails() ? NULL : counted(__real_malloc(n));
}

void *__wrap_calloc(size_t nmemb, size_t n)
{
	return alloc_fails() ? NULL : counted(__real_calloc(nmemb, n));
}

void *__wrap_realloc(void *ptr, size_t n)
{
	size_t old = ptr ? malloc_usable_size(ptr) : 0;
	void *p;

	if (alloc_fails())
		return NULL;
	p = __real_realloc(ptr, n);
	if (p || !n)
		live_bytes -= (long)old;
	return counted(p);
}

void __wrap_free(void *ptr)
{
	if (ptr)
		live_bytes -= (long)malloc_usable_size(ptr);
	__real_free(ptr);
}

static struct pps_waits *new_waits(void)
{
	struct pps_waits *w = pps_waits_new();

	if (!w) {
		fprintf(stderr, "pps_waits_new: %s\n", strerror(errno));
		exit(1);
	}
	return w;
}

static bool stack_eq(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
	return na == nb && (na == 0 || !memcmp(a, b, na * sizeof(*a)));
}

static void test_pairing(void)
{
	struct pps_waits *w = new_waits();
	uint64_t stack[] = {0x11, 0x22, 0x33};
	struct pps_wait_start s = {.pid = 100,
				   .tid = 101,
				   .time = 1000,
				   .stack = stack,
				   .nr_stack = 3,
				   .key = 0xabc0,
				   .flags = 'S',
				   .cpu = 3};
	const struct pps_waits_stats *st = pps_waits_stats(w);
	struct pps_wait out;

	CHECK(!pps_waits_pending(w, 101), "pending before any start");
	CHECK(pps_waits_end(w, 101, 900, 0, false, &out) == 0, "end on an empty table");
	CHECK(pps_waits_start(w, &s) == 0, "start");
	stack[0] = 0x99; /* the start's stack was copied */
	CHECK(pps_waits_pending(w, 101), "pending");
	CHECK(!pps_waits_pending(w, 100), "the pid is not a tid");
	CHECK(pps_waits_end(w, 101, 1250, 0xabc0, true, &out) == 1, "end");
	CHECK(out.pid == 100 && out.tid == 101, "ids %d %d", out.pid, out.tid);
	CHECK(out.start == 1000 && out.end == 1250 && out.end - out.start == 250, "times");
	CHECK(out.key == 0xabc0 && out.flags == 'S' && out.cpu == 3 && !out.truncated, "fields");
	CHECK(stack_eq(out.stack, out.nr_stack, (const uint64_t[]){0x11, 0x22, 0x33}, 3),
	      "stack %zu", out.nr_stack);
	CHECK(out.stack != stack, "the stack is a copy");
	CHECK(!pps_waits_pending(w, 101), "not pending after its end");
	CHECK(pps_waits_end(w, 101, 1300, 0, false, &out) == 0, "a second end");

	/* A zero delay and an empty stack. */
	s = (struct pps_wait_start){.pid = 7, .tid = 7, .time = 2000};
	CHECK(pps_waits_start(w, &s) == 0, "start");
	CHECK(pps_waits_end(w, 7, 2000, 0, false, &out) == 1, "end");
	CHECK(out.start == 2000 && out.end == 2000 && out.nr_stack == 0, "zero delay");

	/* Negative and zero tids are tids like any other. */
	s = (struct pps_wait_start){.pid = -1, .tid = -1, .time = 1, .stack = stack, .nr_stack = 1};
	CHECK(pps_waits_start(w, &s) == 0, "start");
	s.tid = 0;
	s.time = 2;
	CHECK(pps_waits_start(w, &s) == 0, "start");
	CHECK(pps_waits_end(w, -1, 5, 0, false, &out) == 1 && out.tid == -1 && out.start == 1,
	      "tid -1");
	CHECK(pps_waits_end(w, 0, 5, 0, false, &out) == 1 && out.tid == 0 && out.start == 2,
	      "tid 0");

	CHECK(st->nr_starts == 4 && st->nr_ends == 6 && st->nr_completed == 4,
	      "stats %llu %llu %llu", (unsigned long long)st->nr_starts,
	      (unsigned long long)st->nr_ends, (unsigned long long)st->nr_completed);
	CHECK(st->nr_orphan_ends == 2 && st->nr_orphan_starts == 0 && st->nr_backwards == 0 &&
		  st->nr_flushed == 0,
	      "stats");
	CHECK(pps_waits_start(w, NULL) == -EINVAL, "NULL start");
	s.stack = NULL;
	CHECK(pps_waits_start(w, &s) == -EINVAL, "nr_stack without a stack");
	CHECK(pps_waits_end(w, 0, 5, 0, false, NULL) == -EINVAL, "NULL out");
	pps_waits_free(w);
	pps_waits_free(NULL);
}

static void test_orphans(void)
{
	struct pps_waits *w = new_waits();
	const uint64_t sa[] = {1, 2, 3, 4}, sb[] = {5, 6};
	struct pps_wait_start s = {
	    .pid = 5, .tid = 5, .time = 100, .stack = sa, .nr_stack = 4, .key = 1};
	const struct pps_waits_stats *st = pps_waits_stats(w);
	struct pps_wait out;

	/* A start replacing a pending one: the second one is what the end pairs with. */
	CHECK(pps_waits_start(w, &s) == 0, "start");
	s.time = 200;
	s.stack = sb;
	s.nr_stack = 2;
	s.key = 2;
	CHECK(pps_waits_start(w, &s) == 0, "replacing start");
	CHECK(st->nr_orphan_starts == 1, "orphan starts %llu",
	      (unsigned long long)st->nr_orphan_starts);
	CHECK(pps_waits_end(w, 5, 300, 2, true, &out) == 1, "end");
	CHECK(out.start == 200 && out.end == 300 && out.key == 2, "the second start");
	CHECK(stack_eq(out.stack, out.nr_stack, sb, 2), "the second stack");
	/* Replacing with a longer stack than the pending one's buffer holds. */
	uint64_t big[100];
	for (int i = 0; i < 100; i++)
		big[i] = 1000 + (uint64_t)i;
	s.stack = sb;
	s.nr_stack = 2;
	CHECK(pps_waits_start(w, &s) == 0, "start");
	s.stack = big;
	s.nr_stack = 100;
	s.time = 250;
	CHECK(pps_waits_start(w, &s) == 0, "replacing start, bigger stack");
	CHECK(pps_waits_end(w, 5, 260, 0, false, &out) == 1 && out.start == 250 &&
		  stack_eq(out.stack, out.nr_stack, big, 100),
	      "bigger stack");
	CHECK(st->nr_orphan_starts == 2, "orphan starts");

	/* An end without a start. */
	CHECK(pps_waits_end(w, 6, 300, 0, false, &out) == 0, "orphan end");
	CHECK(st->nr_orphan_ends == 1, "orphan ends");

	/* An end before its start: dropped with its start. */
	s = (struct pps_wait_start){.pid = 8, .tid = 8, .time = 500, .stack = sa, .nr_stack = 4};
	CHECK(pps_waits_start(w, &s) == 0, "start");
	CHECK(pps_waits_end(w, 8, 499, 0, false, &out) == 0, "backwards end");
	CHECK(st->nr_backwards == 1, "backwards %llu", (unsigned long long)st->nr_backwards);
	CHECK(!pps_waits_pending(w, 8), "a backwards end ends the wait");
	CHECK(pps_waits_end(w, 8, 600, 0, false, &out) == 0, "nothing left to end");
	CHECK(st->nr_orphan_ends == 2, "orphan ends");

	/* key_must_match: an end for another key is an orphan and the start stays. */
	s = (struct pps_wait_start){.pid = 9, .tid = 9, .time = 700, .key = 0x1000};
	CHECK(pps_waits_start(w, &s) == 0, "start");
	CHECK(pps_waits_end(w, 9, 710, 0x2000, true, &out) == 0, "another key");
	CHECK(st->nr_orphan_ends == 3, "orphan ends");
	CHECK(pps_waits_pending(w, 9), "still pending");
	CHECK(pps_waits_end(w, 9, 720, 0x1000, true, &out) == 1 && out.start == 700 &&
		  out.end == 720 && out.key == 0x1000,
	      "the right key");
	/* Without key_must_match the key does not matter. */
	CHECK(pps_waits_start(w, &s) == 0, "start");
	CHECK(pps_waits_end(w, 9, 730, 0x2000, false, &out) == 1 && out.key == 0x1000, "any key");
	CHECK(st->nr_completed == 4 && st->nr_ends == 8 && st->nr_starts == 7, "stats");
	pps_waits_free(w);
}

struct flushed {
	struct pps_wait waits[16];
	uint64_t stacks[16][4];
	int n, stop_after;
};

static int on_flush(const struct pps_wait *wait, void *ctx)
{
	struct flushed *f = ctx;

	if (f->n >= 16)
		return -1;
	f->waits[f->n] = *wait;
	if (wait->nr_stack <= 4 && wait->nr_stack)
		memcpy(f->stacks[f->n], wait->stack, wait->nr_stack * sizeof(*wait->stack));
	f->n++;
	return f->n == f->stop_after ? 42 : 0;
}

static void test_flush(void)
{
	struct pps_waits *w = new_waits();
	const struct pps_waits_stats *st = pps_waits_stats(w);
	const int32_t tids[] = {30, 7, 1000, -4, 12, 99};
	const uint64_t times[] = {100, 200, 300, 400, 1000, 2000};
	struct flushed f = {.n = 0};
	struct pps_wait out;

	for (int i = 0; i < 6; i++) {
		const uint64_t stack[] = {(uint64_t)tids[i], 1, 2};
		struct pps_wait_start s = {.pid = 1,
					   .tid = tids[i],
					   .time = times[i],
					   .stack = stack,
					   .nr_stack = 3,
					   .flags = (uint32_t)i};

		CHECK(pps_waits_start(w, &s) == 0, "start %d", i);
	}
	/* tid 99 started after the end time: dropped. In tid order: -4, 7, 12, 30, 1000. */
	CHECK(pps_waits_flush(w, 1000, on_flush, &f) == 0, "flush");
	CHECK(f.n == 5, "flushed %d", f.n);
	const int32_t want_tid[] = {-4, 7, 12, 30, 1000};
	const uint64_t want_start[] = {400, 200, 1000, 100, 300};
	for (int i = 0; i < 5 && i < f.n; i++) {
		const struct pps_wait *x = &f.waits[i];

		CHECK(x->tid == want_tid[i] && x->start == want_start[i] && x->end == 1000 &&
			  x->truncated && x->pid == 1,
		      "flushed %d: tid %d start %llu end %llu", i, x->tid,
		      (unsigned long long)x->start, (unsigned long long)x->end);
		CHECK(x->nr_stack == 3 && f.stacks[i][0] == (uint64_t)want_tid[i] &&
			  f.stacks[i][1] == 1 && f.stacks[i][2] == 2,
		      "flushed stack %d", i);
	}
	CHECK(st->nr_flushed == 5 && st->nr_completed == 5 && st->nr_backwards == 1,
	      "stats flushed %llu completed %llu backwards %llu",
	      (unsigned long long)st->nr_flushed, (unsigned long long)st->nr_completed,
	      (unsigned long long)st->nr_backwards);
	for (int i = 0; i < 6; i++)
		CHECK(!pps_waits_pending(w, tids[i]), "pending after the flush %d", tids[i]);
	CHECK(pps_waits_end(w, 30, 1100, 0, false, &out) == 0, "end after the flush");

	/* Usable after a flush; an empty flush; fn stopping the flush. */
	f.n = 0;
	CHECK(pps_waits_flush(w, 5000, on_flush, &f) == 0 && f.n == 0, "empty flush");
	for (int i = 0; i < 6; i++) {
		struct pps_wait_start s = {.pid = 2, .tid = tids[i], .time = times[i]};

		CHECK(pps_waits_start(w, &s) == 0, "start %d", i);
	}
	CHECK(pps_waits_end(w, 7, 250, 0, false, &out) == 1 && out.start == 200, "end");
	f.stop_after = 2;
	CHECK(pps_waits_flush(w, 5000, on_flush, &f) == 42, "fn's value");
	CHECK(f.n == 2 && f.waits[0].tid == -4 && f.waits[1].tid == 12, "stopped after two");
	CHECK(!pps_waits_pending(w, 1000), "nothing pending after a stopped flush");
	pps_waits_free(w);
}

static int add_ten(int32_t pid, uint64_t *ids, size_t nr, void *ctx)
{
	int *calls = ctx;

	(*calls)++;
	for (size_t i = 0; i < nr; i++)
		ids[i] += (uint64_t)pid * 10;
	return *calls == 99 ? 7 : 0;
}

/* Window boundaries: pieces up to the boundary, the rest later; whole delays add up. */
static void test_split(void)
{
	struct pps_waits *w = new_waits(), *k = pps_waits_new_keyed();
	const struct pps_waits_stats *st = pps_waits_stats(w);
	struct flushed f = {.n = 0};
	struct pps_wait out;
	uint64_t total[3] = {0, 0, 0};
	int calls = 0;

	for (int i = 0; i < 3; i++) {
		const uint64_t stack[] = {1, 2, (uint64_t)i};
		struct pps_wait_start s = {.pid = 1 + i,
					   .tid = 10 + i,
					   .time = 100 * (uint64_t)(i + 1),
					   .stack = stack,
					   .nr_stack = 3,
					   .key = 0x40 + (uint64_t)i,
					   .flags = 'S',
					   .cpu = (uint32_t)i};

		CHECK(pps_waits_start(w, &s) == 0, "start %d", i);
	}
	/* Waits of tids 10 (t 100) and 11 (t 200) cross 250; tid 12 (t 300) does not. */
	CHECK(pps_waits_split(w, 250, on_flush, &f) == 0 && f.n == 2, "split: %d pieces", f.n);
	for (int i = 0; i < f.n; i++) {
		const struct pps_wait *x = &f.waits[i];
		int j = x->tid - 10;

		CHECK(j >= 0 && j < 2 && x->start == 100 * (uint64_t)(j + 1) && x->end == 250 &&
			  x->continues && !x->truncated && x->pid == 1 + j && x->key == 0x40u + (unsigned)j &&
			  x->flags == 'S' && x->cpu == (uint32_t)j && x->nr_stack == 3 &&
			  f.stacks[i][2] == (uint64_t)j,
		      "piece %d: tid %d %llu..%llu", i, x->tid, (unsigned long long)x->start,
		      (unsigned long long)x->end);
		if (j >= 0 && j < 3)
			total[j] += x->end - x->start;
	}
	CHECK(st->nr_split == 2 && st->nr_completed == 0, "split stats %llu %llu",
	      (unsigned long long)st->nr_split, (unsigned long long)st->nr_completed);
	for (int i = 0; i < 3; i++)
		CHECK(pps_waits_pending(w, 10 + i), "still pending %d", i);
	/* A split at the same time again cuts nothing. */
	f.n = 0;
	CHECK(pps_waits_split(w, 250, on_flush, &f) == 0 && f.n == 0, "split again: %d", f.n);
	/* Remapping rewrites pending stacks; the ends carry the rewritten ones. */
	CHECK(pps_waits_remap(w, add_ten, &calls) == 0 && calls == 3, "remap calls %d", calls);
	CHECK(pps_waits_end(w, 10, 400, 0, false, &out) == 1 && out.start == 250 &&
		  out.end == 400 && !out.continues && stack_eq(out.stack, out.nr_stack,
							      (const uint64_t[]){11, 12, 10}, 3),
	      "end after split and remap: %llu..%llu", (unsigned long long)out.start,
	      (unsigned long long)out.end);
	total[0] += out.end - out.start;
	CHECK(total[0] == 300, "pieces add up to the whole delay: %llu",
	      (unsigned long long)total[0]);
	f.n = 0;
	CHECK(pps_waits_flush(w, 500, on_flush, &f) == 0 && f.n == 2, "flush %d", f.n);
	for (int i = 0; i < f.n; i++) {
		int j = f.waits[i].tid - 10;

		if (j >= 0 && j < 3)
			total[j] += f.waits[i].end - f.waits[i].start;
	}
	CHECK(total[1] == 300 && total[2] == 200, "flushed totals %llu %llu",
	      (unsigned long long)total[1], (unsigned long long)total[2]);
	/* fn's value stops the split and the remap. */
	for (int i = 0; i < 3; i++) {
		struct pps_wait_start s = {.pid = 1, .tid = 20 + i, .time = 10};

		CHECK(pps_waits_start(w, &s) == 0, "start");
	}
	f.n = 0;
	f.stop_after = 1;
	CHECK(pps_waits_split(w, 20, on_flush, &f) == 42 && f.n == 1, "stopped split");
	calls = 98;
	CHECK(pps_waits_remap(w, add_ten, &calls) == 7 && calls == 99, "stopped remap");
	CHECK(pps_waits_split(NULL, 1, on_flush, &f) == -EINVAL &&
		  pps_waits_split(w, 1, NULL, NULL) == -EINVAL &&
		  pps_waits_remap(w, NULL, NULL) == -EINVAL,
	      "NULL arguments");
	/* Keyed: pieces per (tid, key). */
	for (int i = 0; i < 2; i++) {
		struct pps_wait_start s = {.pid = 1, .tid = 5, .time = 10, .key = 1 + (uint64_t)i};

		CHECK(pps_waits_start(k, &s) == 0, "keyed start");
	}
	f.n = 0;
	f.stop_after = 0;
	CHECK(pps_waits_split(k, 30, on_flush, &f) == 0 && f.n == 2 &&
		  f.waits[0].key != f.waits[1].key,
	      "keyed split %d", f.n);
	CHECK(pps_waits_end(k, 5, 35, 2, true, &out) == 1 && out.start == 30 && out.key == 2,
	      "keyed end after split");
	pps_waits_free(w);
	pps_waits_free(k);
}

/* xorshift64*: the same sequence on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

#define NR_THREADS 10000
#define MAX_STACK  200

/* The model: what is pending for thread i, in plain arrays. */
static struct {
	int32_t tid[NR_THREADS];
	bool pending[NR_THREADS];
	uint64_t start[NR_THREADS], key[NR_THREADS], seed[NR_THREADS];
	uint32_t flags[NR_THREADS], cpu[NR_THREADS];
	size_t nr_stack[NR_THREADS];
	size_t nr_pending;
	struct pps_waits_stats stats;
} m;

static void make_stack(uint64_t seed, size_t n, uint64_t *stack)
{
	for (size_t i = 0; i < n; i++)
		stack[i] = seed * 31 + i;
}

/* A distinct tid per thread: a dense block from 1000, and the rest anywhere in int32. */
static void model_init(void)
{
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < NR_THREADS; i++) {
		bool dup;

		if (i < NR_THREADS / 2) {
			m.tid[i] = 1000 + i;
			continue;
		}
		do {
			m.tid[i] = (int32_t)(uint32_t)rng();
			dup = m.tid[i] >= 1000 && m.tid[i] < 1000 + NR_THREADS / 2;
			for (int j = NR_THREADS / 2; j < i && !dup; j++)
				dup = m.tid[j] == m.tid[i];
		} while (dup);
	}
}

/* One start of thread i at time t; applied to the model only when it worked. */
static int model_start(struct pps_waits *w, int i, uint64_t t)
{
	uint64_t stack[MAX_STACK];
	size_t n = rng() % 4 ? rng() % 40 : rng() % (MAX_STACK + 1);
	uint64_t seed = rng();
	struct pps_wait_start s = {.pid = m.tid[i] ^ 1,
				   .tid = m.tid[i],
				   .time = t,
				   .stack = stack,
				   .nr_stack = n,
				   .key = rng() % 4,
				   .flags = (uint32_t)rng(),
				   .cpu = (uint32_t)(rng() % 64)};
	int ret;

	make_stack(seed, n, stack);
	ret = pps_waits_start(w, &s);
	if (ret)
		return ret;
	m.stats.nr_starts++;
	if (m.pending[i])
		m.stats.nr_orphan_starts++;
	else
		m.nr_pending++;
	m.pending[i] = true;
	m.start[i] = t;
	m.key[i] = s.key;
	m.seed[i] = seed;
	m.flags[i] = s.flags;
	m.cpu[i] = s.cpu;
	m.nr_stack[i] = n;
	return 0;
}

static bool model_matches(int i, const struct pps_wait *x, uint64_t end, bool truncated)
{
	uint64_t stack[MAX_STACK];

	make_stack(m.seed[i], m.nr_stack[i], stack);
	return x->tid == m.tid[i] && x->pid == (m.tid[i] ^ 1) && x->start == m.start[i] &&
	       x->end == end && x->key == m.key[i] && x->flags == m.flags[i] &&
	       x->cpu == m.cpu[i] && x->truncated == truncated &&
	       stack_eq(x->stack, x->nr_stack, stack, m.nr_stack[i]);
}

/* One end of thread i at time t, checked against the model. Returns whether it matched. */
static bool model_end(struct pps_waits *w, int i, uint64_t t, uint64_t key, bool match)
{
	struct pps_wait out;
	int ret = pps_waits_end(w, m.tid[i], t, key, match, &out);
	bool ok;

	m.stats.nr_ends++;
	if (!m.pending[i] || (match && key != m.key[i])) {
		m.stats.nr_orphan_ends++;
		return ret == 0;
	}
	m.pending[i] = false;
	m.nr_pending--;
	if (t < m.start[i]) {
		m.stats.nr_backwards++;
		return ret == 0;
	}
	m.stats.nr_completed++;
	ok = ret == 1 && model_matches(i, &out, t, false);
	return ok;
}

static bool stats_eq(const struct pps_waits_stats *a, const struct pps_waits_stats *b)
{
	return a->nr_starts == b->nr_starts && a->nr_ends == b->nr_ends &&
	       a->nr_completed == b->nr_completed && a->nr_orphan_starts == b->nr_orphan_starts &&
	       a->nr_orphan_ends == b->nr_orphan_ends && a->nr_backwards == b->nr_backwards &&
	       a->nr_flushed == b->nr_flushed;
}

static int tid_index(int32_t tid)
{
	for (int i = 0; i < NR_THREADS; i++)
		if (m.tid[i] == tid)
			return i;
	return -1;
}

struct model_flush {
	uint64_t end_time;
	int32_t last_tid;
	long n, bad;
};

static int on_model_flush(const struct pps_wait *wait, void *ctx)
{
	struct model_flush *f = ctx;
	int i = tid_index(wait->tid);

	if (i < 0 || !m.pending[i] || (f->n && wait->tid <= f->last_tid) ||
	    !model_matches(i, wait, f->end_time, true))
		f->bad++;
	if (i >= 0 && m.pending[i]) {
		m.pending[i] = false;
		m.nr_pending--;
	}
	f->last_tid = wait->tid;
	f->n++;
	return 0;
}

static void check_pending_set(struct pps_waits *w, const char *when)
{
	long bad = 0;

	for (int i = 0; i < NR_THREADS; i++)
		bad += pps_waits_pending(w, m.tid[i]) != m.pending[i];
	CHECK(bad == 0, "%s: %ld threads pending differently from the model", when, bad);
}

/*
 * A million waits over 10,000 threads in phases: threads pile up until nearly all of
 * them wait, drain, then churn at a low level. Times mostly go forward; some ends come
 * early (backwards), some have the wrong key, some threads start twice.
 */
static void test_model(void)
{
	struct pps_waits *w = new_waits();
	const long nr_ops = 1000000;
	long bad = 0;
	size_t peak = 0;
	uint64_t t = 1;
	struct model_flush f = {.n = 0};

	model_init();
	for (long op = 0; op < nr_ops; op++) {
		int i = (int)(rng() % NR_THREADS);
		/* per mille of operations that are starts, by phase */
		unsigned int start_pm = op < nr_ops / 10 ? 970 : op < nr_ops / 5 ? 100 : 500;

		t += rng() % 1000;
		if (rng() % 1000 < start_pm) {
			if (model_start(w, i, t))
				bad++;
		} else {
			uint64_t when = rng() % 50 == 0 && t > 5000 ? t - rng() % 5000 : t;
			uint64_t key = rng() % 20 == 0 ? rng() % 4 : m.key[i];

			if (!model_end(w, i, when, key, rng() % 2))
				bad++;
		}
		if (m.nr_pending > peak) {
			peak = m.nr_pending;
			if (peak == NR_THREADS * 9 / 10)
				check_pending_set(w, "at 90% waiting");
		}
		if (op == nr_ops / 5)
			check_pending_set(w, "after the drain");
	}
	CHECK(bad == 0, "%ld operations differ from the model", bad);
	CHECK(peak >= NR_THREADS * 9 / 10, "peak pending %zu", peak);
	CHECK(stats_eq(pps_waits_stats(w), &m.stats), "stats differ from the model");
	check_pending_set(w, "before the flush");

	size_t nr_pending = m.nr_pending;
	for (int i = 0; i < NR_THREADS; i++)
		if (m.pending[i] && m.start[i] > t - 2000)
			nr_pending--; /* started after the flush's end time */
	f.end_time = t - 2000;
	CHECK(pps_waits_flush(w, f.end_time, on_model_flush, &f) == 0, "flush");
	CHECK(f.bad == 0 && f.n == (long)nr_pending, "flush: %ld bad, %ld of %zu", f.bad, f.n,
	      nr_pending);
	CHECK(pps_waits_stats(w)->nr_flushed == (uint64_t)f.n, "nr_flushed");
	CHECK(pps_waits_stats(w)->nr_backwards == m.stats.nr_backwards + m.nr_pending,
	      "starts after the end time count as backwards");
	printf("model: %ld operations, %llu completed, peak %zu of %d threads waiting, "
	       "%ld flushed\n",
	       nr_ops, (unsigned long long)m.stats.nr_completed, peak, NR_THREADS, f.n);
	pps_waits_free(w);
}

/*
 * Memory follows the threads waiting now: a million short waits on a few threads
 * allocate nothing after the first ones, and after 10,000 waiting threads end, what is
 * left is a small table and a few free buffers.
 */
static void test_memory(void)
{
	long base = live_bytes, allocs = 0, live = 0;
	struct pps_waits *w = new_waits();
	uint64_t stack[64] = {0};
	struct pps_wait_start s = {.stack = stack};
	struct pps_wait out;
	long bad = 0;

	for (long round = 0; round < 2; round++) {
		if (round == 1) {
			allocs = nr_allocs;
			live = live_bytes;
		}
		for (long k = 0; k < 1000000; k++) {
			s.tid = (int32_t)(k % 8);
			s.time = (uint64_t)k;
			s.nr_stack = (size_t)(k * 7 % 64);
			stack[0] = (uint64_t)k;
			bad += pps_waits_start(w, &s) != 0;
			if (k % 8 == 7)
				for (int32_t tid = 0; tid < 8; tid++)
					bad +=
					    pps_waits_end(w, tid, (uint64_t)k, 0, false, &out) != 1;
		}
	}
	CHECK(bad == 0, "%ld calls failed", bad);
	CHECK(nr_allocs == allocs, "%ld allocations in a million steady waits", nr_allocs - allocs);
	CHECK(live_bytes == live, "live bytes %ld, were %ld", live_bytes, live);

	for (int32_t tid = 0; tid < 10000; tid++) {
		s.tid = tid * 3;
		s.nr_stack = 64;
		bad += pps_waits_start(w, &s) != 0;
	}
	long peak = live_bytes - base;
	for (int32_t tid = 0; tid < 10000; tid++)
		bad += pps_waits_end(w, tid * 3, 1u << 30, 0, false, &out) != 1;
	CHECK(bad == 0, "%ld calls failed", bad);
	CHECK(live_bytes - base < 32 * 1024,
	      "%ld bytes live with nothing waiting (%ld at the peak)", live_bytes - base, peak);
	printf("memory: %ld bytes with 10,000 threads waiting on 64 frames, %ld after they "
	       "ended\n",
	       peak, live_bytes - base);
	pps_waits_free(w);
	CHECK(live_bytes == base, "leaked %ld bytes", live_bytes - base);
}

/*
 * Allocation n fails (once): every start works or says -ENOMEM and leaves things as they
 * were (a replaced start stays pending), checked against the model. Returns whether
 * allocation n was reached.
 */
static bool model_with_failure(long n)
{
	struct pps_waits *w;
	long bad = 0, before = live_bytes;
	uint64_t t = 1;
	bool reached;

	alloc_countdown = n;
	w = pps_waits_new();
	if (!w) {
		CHECK(errno == ENOMEM, "pps_waits_new errno %d", errno);
		alloc_countdown = -1;
		return true;
	}
	memset(m.pending, 0, sizeof(m.pending));
	m.nr_pending = 0;
	memset(&m.stats, 0, sizeof(m.stats));
	for (int op = 0; op < 3000; op++) {
		int i = (int)(rng() % 200);

		t += 10;
		if (op < 1500 ? rng() % 4 : rng() % 4 == 0) {
			int ret = model_start(w, i, t);

			bad += ret != 0 && ret != -ENOMEM;
		} else {
			bad += !model_end(w, i, t, m.key[i], false);
		}
	}
	for (int i = 0; i < 200; i++)
		bad += pps_waits_pending(w, m.tid[i]) != m.pending[i];
	reached = alloc_countdown < 0;
	alloc_countdown = -1;
	CHECK(bad == 0, "allocation %ld failing: %ld differences", n, bad);
	CHECK(stats_eq(pps_waits_stats(w), &m.stats), "allocation %ld failing: stats", n);
	pps_waits_free(w);
	CHECK(live_bytes == before, "allocation %ld failing: leaked %ld", n, live_bytes - before);
	return reached;
}

static void test_enomem(void)
{
	long n;

	model_init();
	for (n = 0; n < 10000 && model_with_failure(n); n++)
		;
	CHECK(n > 10 && n < 10000, "%ld allocations", n);
	printf("enomem: failed each of %ld allocations in turn\n", n);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per start+end pair: one thread, and 1,000 threads each waiting in turn. */
static void bench(void)
{
	struct pps_waits *w = new_waits();
	uint64_t stack[32];
	struct pps_wait_start s = {.stack = stack, .nr_stack = 32};
	struct pps_wait out;
	const long n = 2000000;
	uint64_t sum = 0;
	double t0;

	for (int i = 0; i < 32; i++)
		stack[i] = (uint64_t)i;
	for (int nr_threads = 1; nr_threads <= 1000; nr_threads *= 1000) {
		/* half the threads wait all along, the others start and end */
		for (int32_t tid = 0; tid < nr_threads / 2; tid++) {
			s.tid = 1000000 + tid;
			pps_waits_start(w, &s);
		}
		t0 = now_ns();
		for (long k = 0; k < n; k++) {
			s.tid = (int32_t)(k % nr_threads);
			s.time = (uint64_t)k;
			pps_waits_start(w, &s);
			if (pps_waits_end(w, s.tid, (uint64_t)k + 5, 0, false, &out) == 1)
				sum += out.end - out.start + out.stack[31];
		}
		printf("bench: %.1f ns per start+end pair, 32 frames, %d threads (+%d waiting)\n",
		       (now_ns() - t0) / (double)n, nr_threads, nr_threads / 2);
	}
	CHECK(sum == (uint64_t)n * 2 * (5 + 31), "bench sum");
	pps_waits_free(w);
}

int main(void)
{
	test_pairing();
	test_orphans();
	test_flush();
	test_split();
	test_model();
	test_memory();
	test_enomem();
	bench();
	if (failures) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
