/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Workload for tests/test_convert.py: many small write() calls to /dev/null, so most
 * samples are in the kernel (syscall entry, ksys_write, ...).
 * Usage: kernelheavy [SECONDS] (default 1).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noipa)) static long write_many(int fd, int n)
{
	static const char buf[16] = "0123456789abcdef";
	long total = 0;
	for (int i = 0; i < n; i++) {
		ssize_t w = write(fd, buf, sizeof buf);
		if (w > 0)
			total += w;
	}
	return total;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	int fd = open("/dev/null", O_WRONLY);
	if (fd < 0) {
		perror("/dev/null");
		return 1;
	}
	double end = now() + seconds;
	long total = 0;
	while (now() < end)
		total += write_many(fd, 10000);
	close(fd);
	printf("%ld\n", total);
	return 0;
}
