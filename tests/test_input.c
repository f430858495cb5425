/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_input unit test: a regular file and the same bytes through a pipe give the same
 * bytes for the same peeks and consumes, every refill 8-byte aligned; seeks, skips and a
 * limit on the file; a peek at an unaligned offset; the end of a truncated file.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/input.h"

#include "check.h"

#define CAP  4096u /* the buffer: many refills over the file */
#define SIZE ((1u << 20) + 333u)

static uint8_t content[SIZE];

static uint8_t byte_at(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 9) + 7);
}

/* Peeks n bytes at the input's position and checks them against the file; consumes them. */
static void peek_check(struct pps_input *in, size_t n, const char *what)
{
	uint64_t pos = in->pos;
	size_t avail = 0, want = pos + n <= SIZE ? n : SIZE - (size_t)pos;
	const uint8_t *p = pps_input_peek(in, n, &avail);

	if (pos + n <= SIZE) {
		CHECK(p, "%s: peek %zu at %llu: NULL (avail %zu, err %d)", what, n,
		      (unsigned long long)pos, avail, in->err);
	} else {
		CHECK(!p && avail == want, "%s: peek %zu at %llu past the end: avail %zu, want %zu",
		      what, n, (unsigned long long)pos, avail, want);
		p = in->buf + in->head;
	}
	if (p && want)
		CHECK(!memcmp(p, content + pos, want), "%s: %zu bytes at %llu differ", what, want,
		      (unsigned long long)pos);
	pps_input_consume(in, want);
}

/* Everything, in record-like steps whose sizes cycle; every step is 8-byte aligned. */
static void walk(struct pps_input *in, const char *what)
{
	static const size_t steps[] = {8, 24, 4096, 136, 1000, 16, 2048, 3072, 40, 512};
	size_t k = 0, avail;

	while (in->pos < SIZE) {
		uint64_t pos = in->pos;
		size_t n = steps[k++ % (sizeof(steps) / sizeof(steps[0]))];
		const uint8_t *p = pps_input_peek(in, n, &avail);

		if (pos + n > SIZE) {
			CHECK(!p && avail == SIZE - pos, "%s: tail at %llu: avail %zu", what,
			      (unsigned long long)pos, avail);
			CHECK(!memcmp(in->buf + in->head, content + pos, avail), "%s: tail differs",
			      what);
			pps_input_consume(in, avail);
			break;
		}
		CHECK(p && !memcmp(p, content + pos, n), "%s: %zu bytes at %llu", what, n,
		      (unsigned long long)pos);
		CHECK(((uintptr_t)p & 7) == 0, "%s: record at %llu not 8-byte aligned", what,
		      (unsigned long long)pos);
		pps_input_consume(in, n);
	}
	CHECK(in->pos == SIZE, "%s: ended at %llu", what, (unsigned long long)in->pos);
	CHECK(!pps_input_peek(in, 8, &avail) && avail == 0 && in->eof && !in->err,
	      "%s: after the end: avail %zu eof %d err %d", what, avail, in->eof, in->err);
	CHECK(in->bytes_read == SIZE, "%s: bytes_read %llu", what,
	      (unsigned long long)in->bytes_read);
}

struct writer {
	int fd;
};

static void *write_pipe(void *arg)
{
	struct writer *w = arg;
	size_t done = 0;

	while (done < SIZE) {
		ssize_t n = write(w->fd, content + done, SIZE - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(w->fd);
	return NULL;
}

int main(void)
{
	char path[] = "/tmp/pps-test-input-XXXXXX", fdpath[64];
	struct pps_input in;
	struct writer w;
	pthread_t th;
	size_t avail;
	int fd, p[2];

	for (size_t i = 0; i < SIZE; i++)
		content[i] = byte_at(i);
	fd = mkstemp(path);
	if (fd < 0 || write(fd, content, SIZE) != (ssize_t)SIZE) {
		perror(path);
		return 1;
	}
	close(fd);

	/* The file, front to back. */
	CHECK(!pps_input_open_cap(&in, path, CAP), "open %s", path);
	CHECK(in.seekable, "a regular file is seekable");
	walk(&in, "file");
	pps_input_release(&in);

	/* The same through a pipe. */
	CHECK(pipe(p) == 0, "pipe");
	w.fd = p[1];
	CHECK(pthread_create(&th, NULL, write_pipe, &w) == 0, "thread");
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", p[0]);
	CHECK(!pps_input_open_cap(&in, fdpath, CAP), "open %s", fdpath);
	CHECK(!in.seekable, "a pipe is not");
	walk(&in, "pipe");
	pps_input_release(&in);
	pthread_join(th, NULL);
	close(p[0]);

	/* Seeks, skips and a limit on the file. */
	CHECK(!pps_input_open_cap(&in, path, CAP), "open %s", path);
	CHECK(!pps_input_seek(&in, 100000), "seek");
	peek_check(&in, 64, "after seek");
	CHECK(pps_input_skip(&in, 70000) == 70000, "skip");
	CHECK(!pps_input_peek(&in, CAP + 8, &avail), "a peek bigger than the buffer");
	peek_check(&in, CAP, "a peek as big as the buffer");
	CHECK(!pps_input_seek(&in, 8), "seek back");
	in.limit = CAP + 64;
	peek_check(&in, CAP, "up to 56 bytes before the limit");
	CHECK(!pps_input_peek(&in, 64, &avail) && avail == 56, "peek past the limit: avail %zu",
	      avail);
	peek_check(&in, 56, "up to the limit");
	CHECK(pps_input_skip(&in, 100) == 0, "skip at the limit");
	in.limit = UINT64_MAX;
	/* An unaligned position: the refill starts the buffer there, aligned. */
	CHECK(!pps_input_seek(&in, SIZE - 3 * CAP - 7), "seek unaligned");
	{
		const uint8_t *q = pps_input_peek(&in, 16, &avail);

		CHECK(q && !memcmp(q, content + SIZE - 3 * CAP - 7, 16) && ((uintptr_t)q & 7) == 0,
		      "unaligned peek: %p", (const void *)q);
	}
	for (int i = 0; i < 3; i++)
		peek_check(&in, CAP, "after the unaligned peek");
	peek_check(&in, 64, "the end");
	CHECK(!pps_input_peek(&in, 1, &avail) && avail == 0 && in.eof, "eof");
	pps_input_release(&in);

	/* The file, front to back, when it ends inside a record (a truncated recording). */
	CHECK(truncate(path, SIZE - 5) == 0, "truncate");
	CHECK(!pps_input_open_cap(&in, path, CAP), "open %s", path);
	CHECK(!pps_input_seek(&in, SIZE - 13), "seek");
	CHECK(!pps_input_peek(&in, 16, &avail) && avail == 8 && in.eof,
	      "truncated: avail %zu eof %d", avail, in.eof);
	pps_input_release(&in);

	unlink(path);
	if (failures)
		fprintf(stderr, "%d failures\n", failures);
	else
		printf("input: all checks passed\n");
	return failures ? 1 : 0;
}
