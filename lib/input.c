/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The reader's byte source. perf.data is read front to back in large read() calls; a
 * 2 MiB buffer keeps syscall overhead far below the cost of decoding while staying
 * well inside the reader's memory budget.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/input.h"
#include "internal/util.h"

#define INPUT_BUF_SIZE (2u << 20)

int pps_input_open(struct pps_input *in, const char *path)
{
	return pps_input_open_cap(in, path, 0);
}

int pps_input_open_cap(struct pps_input *in, const char *path, size_t cap)
{
	struct stat st;
	int err;

	memset(in, 0, sizeof(*in));
	in->fd = -1;
	in->limit = UINT64_MAX;
	if (strcmp(path, "-") == 0) {
		in->fd = STDIN_FILENO;
	} else {
		in->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (in->fd < 0)
			return -errno;
		in->owns_fd = true;
	}
	if (fstat(in->fd, &st) < 0) {
		err = -errno;
		goto out_close;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto out_close;
	}
	in->seekable = S_ISREG(st.st_mode) && lseek(in->fd, 0, SEEK_CUR) == 0;
	in->cap = cap ? cap : INPUT_BUF_SIZE;
	in->buf = aligned_alloc(8, in->cap);
	if (!in->buf) {
		err = -ENOMEM;
		goto out_close;
	}
	return 0;

out_close:
	if (in->owns_fd)
		close(in->fd);
	in->fd = -1;
	return err;
}

int pps_input_open_fed(struct pps_input *in)
{
	memset(in, 0, sizeof(*in));
	in->fd = -1;
	in->limit = UINT64_MAX;
	in->fed = true;
	in->cap = INPUT_BUF_SIZE;
	in->buf = aligned_alloc(8, in->cap);
	return in->buf ? 0 : -ENOMEM;
}

int pps_input_feed(struct pps_input *in, const void *data, size_t n)
{
	size_t have = in->tail - in->head;

	if (!in->fed || in->eof)
		return -EPIPE;
	if (n > PPS_INPUT_FED_MAX || have > PPS_INPUT_FED_MAX - n)
		return -ENOBUFS;
	if (in->tail + n > in->cap) {
		/* Move the unread bytes to the front (they stay 8-byte aligned there), and
		 * grow when they would still not leave room: amortized, a byte moves O(1)
		 * times however the feeds and the consumption interleave. */
		if (have + n > in->cap / 2) {
			size_t cap = in->cap;
			uint8_t *buf;

			while (cap < 2 * (have + n))
				cap *= 2;
			buf = aligned_alloc(8, cap);
			if (!buf)
				return -ENOMEM;
			memcpy(buf, in->buf + in->head, have);
			free(in->buf);
			in->buf = buf;
			in->cap = cap;
		} else {
			memmove(in->buf, in->buf + in->head, have);
		}
		in->head = 0;
		in->tail = have;
	}
	memcpy(in->buf + in->tail, data, n);
	in->tail += n;
	in->bytes_read += n;
	return 0;
}

void pps_input_feed_end(struct pps_input *in)
{
	in->eof = true;
}

void pps_input_release(struct pps_input *in)
{
	if (!in)
		return;
	if (in->owns_fd && in->fd >= 0)
		close(in->fd);
	free(in->buf);
	memset(in, 0, sizeof(*in));
	in->fd = -1;
}

static ssize_t read_some(struct pps_input *in, uint8_t *dst, size_t n)
{
	ssize_t r;

	do
		r = read(in->fd, dst, n);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		in->err = -errno;
		return -1;
	}
	if (r == 0)
		in->eof = true;
	in->bytes_read += (uint64_t)r;
	return r;
}

const uint8_t *pps_input_peek(struct pps_input *in, size_t n, size_t *avail)
{
	size_t have = in->tail - in->head;

	if (have >= n)
		goto out;
	if (in->fed) {
		*avail = have;
		return NULL;
	}
	if (n > in->cap) {
		*avail = have;
		return NULL;
	}
	/* Keep the unread bytes 8-byte aligned at the start of the buffer. */
	if (in->head) {
		memmove(in->buf, in->buf + in->head, have);
		in->head = 0;
		in->tail = have;
	}
	while (in->tail < n && !in->eof && !in->err) {
		uint64_t end = in->pos + in->tail; /* file offset of buf[tail] */
		size_t want = in->cap - in->tail;
		ssize_t r;

		if (end >= in->limit)
			break;
		if ((uint64_t)want > in->limit - end)
			want = (size_t)(in->limit - end);
		r = read_some(in, in->buf + in->tail, want);
		if (r <= 0)
			break;
		in->tail += (size_t)r;
	}
	have = in->tail - in->head;
	if (have < n) {
		*avail = have;
		return NULL;
	}
out:
	*avail = have;
	return in->buf + in->head;
}

void pps_input_consume(struct pps_input *in, size_t n)
{
	in->head += n;
	in->pos += n;
}

uint64_t pps_input_skip(struct pps_input *in, uint64_t n)
{
	uint64_t done = 0, buffered = in->tail - in->head, left;

	if (buffered) {
		done = n < buffered ? n : buffered;
		pps_input_consume(in, (size_t)done);
	}
	left = n - done;
	if (left > in->limit - in->pos)
		left = in->limit - in->pos;
	if (!left)
		return done;
	if (in->seekable) {
		uint64_t size = pps_input_size(in), from = in->pos;

		if (size < from)
			size = from;
		if (left > size - from)
			left = size - from;
		if (pps_input_seek(in, from + left) == 0)
			done += left;
		return done;
	}
	while (left) {
		size_t avail, want = left < in->cap ? (size_t)left : in->cap;

		if (!pps_input_peek(in, want, &avail) && avail == 0)
			break;
		if (avail > want)
			avail = want;
		pps_input_consume(in, avail);
		done += avail;
		left -= avail;
	}
	return done;
}

int pps_input_seek(struct pps_input *in, uint64_t off)
{
	if (!in->seekable)
		return -ESPIPE;
	if (off > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (lseek(in->fd, (off_t)off, SEEK_SET) < 0)
		return -errno;
	in->head = in->tail = 0;
	in->pos = off;
	in->eof = false;
	return 0;
}

int pps_input_pread(struct pps_input *in, void *dst, size_t n, uint64_t off)
{
	size_t done = 0;

	if (!in->seekable)
		return -ESPIPE;
	while (done < n) {
		ssize_t r = pread(in->fd, (uint8_t *)dst + done, n - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ENODATA;
		done += (size_t)r;
	}
	return 0;
}

uint64_t pps_input_size(const struct pps_input *in)
{
	struct stat st;

	if (!in->seekable || fstat(in->fd, &st) < 0)
		return UINT64_MAX;
	return (uint64_t)st.st_size;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int pps_input_spool(struct pps_input *in)
{
	const char *dir = getenv("TMPDIR");
	int fd, err;

	if (in->seekable)
		return 0;
	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	/* Everything read so far, then the rest of the stream. */
	err = write_all(fd, in->buf, in->tail);
	while (!err && !in->eof) {
		ssize_t r = read_some(in, in->buf, in->cap);

		if (r < 0) {
			err = in->err;
			break;
		}
		err = write_all(fd, in->buf, (size_t)r);
	}
	if (err) {
		close(fd);
		return err;
	}
	if (in->owns_fd)
		close(in->fd);
	in->fd = fd;
	in->owns_fd = true;
	in->seekable = true;
	in->head = in->tail = 0;
	in->pos = 0;
	in->eof = false;
	return pps_input_seek(in, 0);
}
