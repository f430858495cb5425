/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Workload for tests/test_block_mutex.py (block profile): main -> sleep_long (about 300 ms
 * in nanosleep calls) and main -> sleep_short (about 100 ms), interleaved so that neither
 * is all at the start or the end of the recording. It prints the time each function spent
 * in its nanosleep calls, measured around each call with CLOCK_MONOTONIC:
 *   sleep_long_ns=N sleep_short_ns=N pid=N
 * Usage: sleeper [SCALE] (default 1: 300 ms and 100 ms; SCALE multiplies both).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define SLICE_NS 10000000L /* one nanosleep call: 10 ms */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps n slices; returns the time spent inside nanosleep. libc's nanosleep and
 * clock_nanosleep set up no frame pointer, so a frame-pointer unwind from inside them
 * skips their caller (this function) and shows sleep_long / sleep_short directly above
 * the libc frame, as perf does too: nap exists so that the named functions stay. */
__attribute__((noipa)) uint64_t nap(int n)
{
	uint64_t spent = 0;
	for (int i = 0; i < n; i++) {
		struct timespec ts = {0, SLICE_NS};
		uint64_t t0 = now_ns();
		while (nanosleep(&ts, &ts) != 0)
			;
		spent += now_ns() - t0;
	}
	return spent;
}

__attribute__((noipa)) uint64_t sleep_long(int n)
{
	return nap(n);
}

__attribute__((noipa)) uint64_t sleep_short(int n)
{
	return nap(n);
}

int main(int argc, char **argv)
{
	double scale = argc > 1 ? atof(argv[1]) : 1.0;
	int rounds = (int)(10 * scale + 0.5);
	uint64_t tl = 0, ts = 0;
	if (rounds < 1)
		rounds = 1;
	/* 3 slices of sleep_long for each slice of sleep_short, 10 rounds: 300 ms / 100 ms. */
	for (int r = 0; r < rounds; r++) {
		tl += sleep_long(3);
		ts += sleep_short(1);
	}
	printf("sleep_long_ns=%llu sleep_short_ns=%llu pid=%d\n", (unsigned long long)tl,
	       (unsigned long long)ts, (int)getpid());
	return 0;
}
