/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Workload for tests/test_block_mutex.py (mutex profile, kernel locks): NTHREADS threads
 * (main included) each loop mmap / touch one page / munmap of a small anonymous region, so
 * the process's mmap_lock (an rwsem, taken for writing by mmap and munmap) is contended.
 * Prints the number of mmap/munmap pairs done:  maps=N pid=N
 * Usage: mmapper [SECONDS] [NTHREADS] (default 1 s, 4 threads).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define REGION (64 * 1024)

static double seconds = 1.0;
static volatile uint64_t sink;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One mmap, one page touched, one munmap. libc's mmap and munmap set up no frame pointer,
 * so a frame-pointer unwind from inside them skips this function and shows map_loop. */
__attribute__((noipa)) int map_unmap(void)
{
	char *p = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	p[REGION / 2] = 1;
	sink += (uint64_t)(uintptr_t)p;
	return munmap(p, REGION);
}

__attribute__((noipa)) void *map_loop(void *arg)
{
	uint64_t *count = arg;
	double end = now() + seconds;
	while (now() < end) {
		for (int i = 0; i < 64; i++)
			if (map_unmap() == 0)
				(*count)++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	seconds = argc > 1 ? atof(argv[1]) : 1.0;
	int n = argc > 2 ? atoi(argv[2]) : 4;
	if (n < 1 || n > 64)
		n = 4;
	pthread_t th[64];
	uint64_t counts[64] = {0};
	for (int i = 1; i < n; i++)
		if (pthread_create(&th[i], NULL, map_loop, &counts[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	map_loop(&counts[0]);
	uint64_t total = counts[0];
	for (int i = 1; i < n; i++) {
		pthread_join(th[i], NULL);
		total += counts[i];
	}
	printf("maps=%llu pid=%d\n", (unsigned long long)total, (int)getpid());
	return 0;
}
