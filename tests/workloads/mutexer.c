/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Workload for tests/test_block_mutex.py (mutex profile, futex waits): NTHREADS threads
 * (main included, so the final joins are short) fight over one pthread mutex with short
 * critical sections, so pthread_mutex_lock waits in futex(FUTEX_WAIT_PRIVATE).
 * Prints the number of critical sections run:  locks=N pid=N
 * Usage: mutexer [SECONDS] [NTHREADS] (default 1 s, 4 threads).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t the_lock = PTHREAD_MUTEX_INITIALIZER;
static double seconds = 1.0;
static volatile uint64_t shared;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A little work, inside or outside the lock. */
__attribute__((noipa)) void spin(int n)
{
	for (int i = 0; i < n; i++)
		shared = shared * 6364136223846793005ULL + 1442695040888963407ULL;
}

/* libc's pthread_mutex_lock and __lll_lock_wait set up no frame pointer, so a frame-pointer
 * unwind from the futex wait skips this function and shows lock_loop above them. */
__attribute__((noipa)) void critical_section(void)
{
	pthread_mutex_lock(&the_lock);
	spin(2000);
	pthread_mutex_unlock(&the_lock);
}

__attribute__((noipa)) void *lock_loop(void *arg)
{
	uint64_t *count = arg;
	double end = now() + seconds;
	while (now() < end) {
		for (int i = 0; i < 16; i++) {
			critical_section();
			(*count)++;
			spin(200);
		}
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
		if (pthread_create(&th[i], NULL, lock_loop, &counts[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	lock_loop(&counts[0]);
	uint64_t total = counts[0];
	for (int i = 1; i < n; i++) {
		pthread_join(th[i], NULL);
		total += counts[i];
	}
	printf("locks=%llu pid=%d\n", (unsigned long long)total, (int)getpid());
	return 0;
}
