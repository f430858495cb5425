/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Workload for tests/test_compare.py (the regression gate): run -> parse_input (3 units of
 * work per round), transform (3), checksum (2) and emit_output (2), so about 30%, 30%, 20%
 * and 20% of the CPU. Usage: gate [CPU_SECONDS] (default 1): it stops after that much CPU
 * time of its own, so a loaded machine stretches the run instead of thinning its samples.
 *
 * Built with -DPPS_WL_SLOW_PCT=15, parse_input does 15% more work per round. The percentage
 * is read from a volatile constant at run time, so that build's code is byte-for-byte the
 * code of the normal one (only .rodata differs): a slowdown that came from another code
 * layout (loop alignment) would not be the 15% asked for.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef PPS_WL_SLOW_PCT
#define PPS_WL_SLOW_PCT 0
#endif

static const volatile uint64_t slow_pct = PPS_WL_SLOW_PCT;
static volatile uint64_t sink;

#define LCG(x) ((x)*6364136223846793005ULL + 1442695040888963407ULL)

/* A call at the end makes the functions non-leaf, so they set up a frame pointer and
 * perf's frame-pointer unwinding sees their caller (as in split.c). */
__attribute__((noipa)) void publish(uint64_t x)
{
	sink = x;
}

__attribute__((noipa)) uint64_t parse_input(uint64_t units)
{
	uint64_t x = 1, n = units * 100000 * (100 + slow_pct) / 100;

	for (uint64_t i = 0; i < n; i++)
		x = LCG(x);
	publish(x);
	return x;
}

__attribute__((noipa)) uint64_t transform(uint64_t units)
{
	uint64_t x = 2, n = units * 100000;

	for (uint64_t i = 0; i < n; i++)
		x = LCG(x);
	publish(x);
	return x;
}

__attribute__((noipa)) uint64_t checksum(uint64_t units)
{
	uint64_t x = 3, n = units * 100000;

	for (uint64_t i = 0; i < n; i++)
		x = LCG(x);
	publish(x);
	return x;
}

__attribute__((noipa)) uint64_t emit_output(uint64_t units)
{
	uint64_t x = 4, n = units * 100000;

	for (uint64_t i = 0; i < n; i++)
		x = LCG(x);
	publish(x);
	return x;
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noipa)) uint64_t run(double cpu_seconds)
{
	double end = cpu_now() + cpu_seconds;
	uint64_t acc = 0;

	while (cpu_now() < end) {
		acc += parse_input(3);
		acc += transform(3);
		acc += checksum(2);
		acc += emit_output(2);
	}
	return acc;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;

	printf("%llu\n", (unsigned long long)run(seconds));
	return 0;
}
