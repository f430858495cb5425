/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Workload for tests/test_convert.py: instruction-fetch page faults at the first
 * instruction of a function. fault_target starts a page; each round drops that page's
 * mapping (madvise MADV_DONTNEED on the text page) and calls it, so the call faults with
 * the user pc exactly at fault_target. Samples taken in the fault handler have that pc as
 * their first user frame: it is where the thread was, not a return address, and must be
 * looked up as is (pc - 1 is in the function before, or in no function).
 * Usage: fault [SECONDS] (default 1).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

__attribute__((noipa)) int before_target(int x)
{
	return x * 3;
}

__attribute__((noipa, aligned(4096))) int fault_target(int x)
{
	return x + 1;
}

/* Keeps the rest of the code (main) off fault_target's page. */
__attribute__((noipa, aligned(4096))) int after_target(int x)
{
	return x - 1;
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
	long page = sysconf(_SC_PAGESIZE);
	void *p = (void *)((uintptr_t)fault_target & ~(uintptr_t)(page - 1));
	double end = now() + seconds;
	long acc = 0;
	while (now() < end) {
		for (int i = 0; i < 1000; i++) {
			if (madvise(p, (size_t)page, MADV_DONTNEED) != 0) {
				perror("madvise");
				return 1;
			}
			acc += fault_target(i) + before_target(i) + after_target(i);
		}
	}
	printf("%ld\n", acc);
	return 0;
}
