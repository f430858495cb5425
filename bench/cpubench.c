/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps-cpubench: a fixed amount of CPU work on every CPU, for bench/record.sh's overhead
 * figures. Each thread runs UNITS units of integer arithmetic through a few levels of
 * calls (so callchains have some depth). The program prints the wall time the slowest
 * thread took and the CPU time (user + system) all of them used, in seconds. It makes no
 * system calls while it works, so a recorder slows it only by taking CPU time from it and
 * by the cost of its samples.
 * Usage: pps-cpubench [UNITS] [THREADS] (default 400 units, one thread per online CPU).
 */
#include <pthread.h>
#include <sys/resource.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long units = 400;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static uint64_t mix(uint64_t x, int n)
{
	for (int i = 0; i < n; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

__attribute__((noinline)) static uint64_t leaf_a(uint64_t x)
{
	return mix(x, 30000);
}

__attribute__((noinline)) static uint64_t leaf_b(uint64_t x)
{
	return mix(x ^ 0x9e3779b97f4a7c15ULL, 10000);
}

__attribute__((noinline)) static uint64_t unit(uint64_t x)
{
	for (int i = 0; i < 100; i++)
		x = leaf_a(x) + leaf_b(x);
	return x;
}

static void *worker(void *arg)
{
	uint64_t x = (uint64_t)(uintptr_t)arg;

	for (long i = 0; i < units; i++)
		x = unit(x);
	return (void *)(uintptr_t)(x | 1);
}

int main(int argc, char **argv)
{
	long threads = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t *th;
	double t0;
	uintptr_t sum = 0;

	if (argc > 1)
		units = atol(argv[1]);
	if (argc > 2)
		threads = atol(argv[2]);
	if (units <= 0 || threads <= 0 || threads > 1024) {
		fprintf(stderr, "usage: pps-cpubench [UNITS] [THREADS]\n");
		return 2;
	}
	th = calloc((size_t)threads, sizeof(*th));
	if (!th)
		return 1;
	t0 = now();
	for (long i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1))) {
			perror("pthread_create");
			return 1;
		}
	for (long i = 0; i < threads; i++) {
		void *r;

		pthread_join(th[i], &r);
		sum += (uintptr_t)r;
	}
	{
		double wall = now() - t0;
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		printf("%.6f %.6f\n", wall,
		       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	}
	free(th);
	return sum ? 0 : 1;
}
