/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Workload for tests/test_convert.py: a hot loop calling a tiny function of a shared
 * library (pps_wl_tiny, plt_tiny.c) through the PLT, so a good share of the samples land
 * in the PLT stub. perf names such samples "tiny_inc@plt"; they must not be given to the
 * symbol before the PLT (_init, whose size is 0).
 * Usage: plt [SECONDS] (default 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int tiny_inc(int x);

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noipa)) long plt_loop(long n)
{
	long total = 0;
	for (long i = 0; i < n; i++)
		total += tiny_inc((int)i);
	return total;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	double end = now() + seconds;
	long acc = 0;
	while (now() < end)
		acc += plt_loop(1000000);
	printf("%ld\n", acc);
	return 0;
}
