/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Workload for tests/test_dwarf.py, built twice from this source: without frame pointers
 * (-O2, the compiler's defaults: pps_wl_dwarf), for `perf record --call-graph dwarf`, and
 * with them (pps_wl_dwarf_fp), for `perf record -g`.
 *
 *   main -> driver -> hot_a                 15 units of work per round (40% of the time)
 *                  -> hot_b                 5 units
 *                  -> sort_round -> qsort (libc) -> ... -> cmp_items (called back)
 *
 * so a share of the samples has libc's qsort between the program's functions. Each part
 * of a round lasts a few sampling periods, so that a sampling frequency near the round's
 * does not alias onto one of them.
 * With "nocfi", driver calls hot_a and nocfi_spin (nocfi.c, built without unwinding
 * tables) instead. Usage: dwarf [SECONDS [nocfi]] (default 1 second).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NR_ITEMS 8192

struct item {
	uint64_t key;
	uint64_t pad[3];
};

static struct item items[NR_ITEMS];
uint64_t nocfi_spin(uint64_t units);
static volatile uint64_t sink;

__attribute__((noipa)) uint64_t hot_a(uint64_t units)
{
	uint64_t x = 1;
	for (uint64_t i = 0; i < units * 100000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
	return x;
}

__attribute__((noipa)) uint64_t hot_b(uint64_t units)
{
	uint64_t x = 3;
	for (uint64_t i = 0; i < units * 100000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
	return x;
}

/* Compares a mix of the keys, so the comparison itself costs something. */
__attribute__((noipa)) int cmp_items(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	uint64_t x = a->key, y = b->key;

	for (int i = 0; i < 8; i++) {
		x = x * 6364136223846793005ULL + 1;
		y = y * 6364136223846793005ULL + 1;
	}
	return (x > y) - (x < y);
}

__attribute__((noipa)) uint64_t sort_round(uint64_t seed)
{
	for (int i = 0; i < NR_ITEMS; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		items[i].key = seed >> 16;
	}
	qsort(items, NR_ITEMS, sizeof(items[0]), cmp_items);
	return items[0].key;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noipa)) uint64_t driver(double seconds, int nocfi)
{
	uint64_t acc = 0;
	double end = now() + seconds;

	while (nocfi && now() < end) {
		acc += hot_a(15);
		acc += nocfi_spin(15);
	}
	while (now() < end) {
		acc += hot_a(15);
		acc += hot_b(5);
		acc += sort_round(acc);
	}
	return acc;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	int nocfi = argc > 2 && !strcmp(argv[2], "nocfi");

	printf("%llu\n", (unsigned long long)driver(seconds, nocfi));
	/* Not exit(): its handlers run crtstuff's __do_global_dtors_aux, which GCC builds
	 * without CFI, so a sample landing there would end at it (truncated) where perf
	 * guesses on through the frame pointer, and the tests compare every stack. */
	fflush(stdout);
	_exit(0);
}
