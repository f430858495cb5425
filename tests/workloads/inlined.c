/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Workload for tests/test_convert.py: an always_inline function inside a noinline one,
 * built -O2 -g, so DWARF describes an inlined subroutine. The test finds the line of the
 * INLINE-BODY marker below and expects the pprof output to show mix_inlined as its own
 * frame (an extra Line entry) with this file's name and a line near the marker.
 * Usage: inlined [SECONDS] (default 1).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t sink;

/* Called at the end so outer_noinline is not a leaf (GCC 12 gives leaf functions no frame
 * pointer even with -fno-omit-frame-pointer; perf would then lose main from the stack). */
__attribute__((noipa)) void publish(uint64_t x)
{
	sink = x;
}

static inline __attribute__((always_inline)) uint64_t mix_inlined(uint64_t x, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ULL + i; /* INLINE-BODY */
	return x;
}

__attribute__((noipa)) uint64_t outer_noinline(uint64_t seed)
{
	uint64_t x = mix_inlined(seed, 2000000); /* CALL-SITE */
	publish(x);
	return x;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	double end = now() + seconds;
	uint64_t acc = 0, seed = 1;
	while (now() < end)
		acc += outer_noinline(seed++);
	printf("%llu\n", (unsigned long long)acc);
	return 0;
}
