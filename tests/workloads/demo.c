/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The README's demo workload (ci/demo.sh): a small "server" whose three profiles have
 * known answers.
 *   cpu    the main thread: main -> serve -> render_page (3/4 of its CPU) and
 *          compress_page (1/4)
 *   block  the "disk" thread: main -> ... -> read_disk waits in nanosleep, 20 ms at a time
 *          (read_index 3/4 of the waits, read_log 1/4)
 *   mutex  three "cache" threads: update_cache takes one pthread mutex around a little work
 *          (fill_entry), so they wait for it in futex(FUTEX_WAIT)
 * Usage: demo [SECONDS] (default 3). Prints what each part did.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double seconds = 3.0;
static volatile uint64_t sink;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A call at the end keeps the work functions non-leaf, so frame-pointer unwinding keeps
 * their callers (see split.c). */
__attribute__((noipa)) void publish(uint64_t x)
{
	sink = x;
}

__attribute__((noipa)) uint64_t render_page(uint64_t x)
{
	for (long i = 0; i < 300000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	publish(x);
	return x;
}

__attribute__((noipa)) uint64_t compress_page(uint64_t x)
{
	for (long i = 0; i < 100000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	publish(x);
	return x;
}

__attribute__((noipa)) uint64_t serve(double end)
{
	uint64_t x = 1, pages = 0;
	while (now() < end) {
		x = render_page(x);
		x = compress_page(x);
		pages++;
	}
	publish(x);
	return pages;
}

/* libc's nanosleep sets up no frame pointer: the unwind shows read_disk's caller. */
__attribute__((noipa)) void read_disk(int slices)
{
	for (int i = 0; i < slices; i++) {
		struct timespec ts = {0, 20000000}; /* 20 ms */
		while (nanosleep(&ts, &ts) != 0)
			;
	}
}

__attribute__((noipa)) void read_index(void)
{
	read_disk(3);
}

__attribute__((noipa)) void read_log(void)
{
	read_disk(1);
}

static void *disk_thread(void *arg)
{
	double end = now() + seconds;
	uint64_t *reads = arg;
	while (now() < end) {
		read_index();
		read_log();
		(*reads)++;
	}
	return NULL;
}

__attribute__((noipa)) void fill_entry(void)
{
	uint64_t x = sink;
	for (long i = 0; i < 20000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	publish(x);
}

/* libc's pthread_mutex_lock and __lll_lock_wait set up no frame pointer: the unwind from
 * the futex wait skips lock_cache and shows update_cache. */
__attribute__((noipa)) void lock_cache(void)
{
	pthread_mutex_lock(&cache_lock);
}

__attribute__((noipa)) void update_cache(void)
{
	lock_cache();
	fill_entry();
	pthread_mutex_unlock(&cache_lock);
}

static void *cache_thread(void *arg)
{
	double end = now() + seconds;
	uint64_t *updates = arg;
	while (now() < end) {
		for (int i = 0; i < 16; i++)
			update_cache();
		*updates += 16;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t disk, cache[3];
	uint64_t reads = 0, updates[3] = {0}, pages;

	if (argc > 1)
		seconds = atof(argv[1]);
	if (pthread_create(&disk, NULL, disk_thread, &reads))
		return 1;
	for (int i = 0; i < 3; i++)
		if (pthread_create(&cache[i], NULL, cache_thread, &updates[i]))
			return 1;
	pages = serve(now() + seconds);
	pthread_join(disk, NULL);
	for (int i = 0; i < 3; i++) {
		pthread_join(cache[i], NULL);
		updates[0] += i ? updates[i] : 0;
	}
	printf("demo: served %llu pages, %llu disk reads, %llu cache updates (pid %d)\n",
	       (unsigned long long)pages, (unsigned long long)reads, (unsigned long long)updates[0],
	       (int)getpid());
	return 0;
}
