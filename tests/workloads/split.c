/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Workload for tests/test_convert.py: main -> driver -> hot_a (3/4 of the CPU) and
 * hot_b (1/4). Usage: split [SECONDS] (default 1). Every function is noinline and does a
 * pure arithmetic loop, so the call path and the split are deterministic.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t sink;

/* A call at the end makes the hot functions non-leaf: GCC 12 sets up no frame pointer in a
 * leaf function even with -fno-omit-frame-pointer, and perf's frame-pointer unwinding would
 * then skip the caller (driver). */
__attribute__((noipa)) void publish(uint64_t x)
{
	sink = x;
}

/* One unit of work: the same loop in both functions, so cost is proportional to units. */
__attribute__((noipa)) uint64_t hot_a(uint64_t units)
{
	uint64_t x = 1;
	for (uint64_t i = 0; i < units * 100000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	publish(x);
	return x;
}

__attribute__((noipa)) uint64_t hot_b(uint64_t units)
{
	uint64_t x = 3;
	for (uint64_t i = 0; i < units * 100000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	publish(x);
	return x;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noipa)) uint64_t driver(double seconds)
{
	uint64_t acc = 0;
	double end = now() + seconds;
	/* 3 units of hot_a for 1 of hot_b, in small slices so a cut-off keeps the ratio. */
	while (now() < end) {
		acc += hot_a(3);
		acc += hot_b(1);
	}
	return acc;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	printf("%llu\n", (unsigned long long)driver(seconds));
	return 0;
}
