/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A buffered byte source over a file descriptor: a regular file or a pipe. Reads go
 * through one buffer, so memory is fixed whatever the file size.
 */
#ifndef PPS_INTERNAL_INPUT_H
#define PPS_INTERNAL_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pps_input {
	int fd;
	bool owns_fd;
	bool seekable;
	uint8_t *buf;	/* 8-byte aligned */
	size_t cap;
	size_t head;	/* next unread byte in buf */
	size_t tail;	/* end of valid bytes in buf */
	uint64_t pos;	/* file offset of buf[head] */
	uint64_t limit; /* do not read at or past this offset (UINT64_MAX: to EOF) */
	bool eof;	/* read() returned 0; fed: pps_input_feed_end() was called */
	bool fed;	/* no fd: bytes come from pps_input_feed() */
	int err;	/* sticky read error, negative errno */
	uint64_t bytes_read;
};

/* path "-" is standard input. Returns 0 or negative errno. */
int pps_input_open(struct pps_input *in, const char *path);
/* The same with a buffer of cap bytes (0: the default); a record must fit in it. */
int pps_input_open_cap(struct pps_input *in, const char *path, size_t cap);

/*
 * An input without a file: the caller appends bytes with pps_input_feed() (live capture).
 * Peeks never block; they see what was fed. The buffer grows to hold what is fed and not
 * yet consumed, up to PPS_INPUT_FED_MAX bytes. Returns 0 or -ENOMEM.
 */
#define PPS_INPUT_FED_MAX ((size_t)256 << 20)
int pps_input_open_fed(struct pps_input *in);
/* Appends n bytes. Returns 0, -ENOBUFS (more than PPS_INPUT_FED_MAX unconsumed; nothing
 * appended), -EPIPE (after pps_input_feed_end()) or -ENOMEM. */
int pps_input_feed(struct pps_input *in, const void *data, size_t n);
/* No more bytes will come: what is left is the end of the stream. */
void pps_input_feed_end(struct pps_input *in);
void pps_input_release(struct pps_input *in);

/*
 * Makes n bytes at the current position available and returns them, or NULL when the
 * input ends (or hits the limit) first; *avail then says how many there were.
 */
const uint8_t *pps_input_peek(struct pps_input *in, size_t n, size_t *avail);
void pps_input_consume(struct pps_input *in, size_t n);

/* Skips n bytes (seeking when possible). Returns the bytes actually skipped. */
uint64_t pps_input_skip(struct pps_input *in, uint64_t n);

/* Repositions a seekable input; 0 or negative errno. */
int pps_input_seek(struct pps_input *in, uint64_t off);

/* Reads exactly n bytes at off on a seekable input; 0, -ENODATA when short, -errno. */
int pps_input_pread(struct pps_input *in, void *dst, size_t n, uint64_t off);

/* Size of a seekable input, UINT64_MAX when unknown. */
uint64_t pps_input_size(const struct pps_input *in);

/*
 * Turns a non-seekable input into a seekable one by copying everything (what was already
 * buffered, then the rest) to an unlinked temporary file. 0 or negative errno.
 */
int pps_input_spool(struct pps_input *in);

#endif /* PPS_INTERNAL_INPUT_H */
