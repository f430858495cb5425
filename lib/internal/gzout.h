/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_gzout: a gzip stream written to a FILE, deflated on worker threads.
 *
 * zlib's deflate at pprof's level 1 runs at well under 100 MB/s on a slow core, slower
 * than a profile is encoded, so one compressing thread is what a big conversion waits
 * for; ISA-L's igzip at level 1, used when built with it, is 5 to 7 times faster. The
 * input is cut into fixed-size chunks that are deflated at once, each as raw deflate with
 * the previous chunk's last 32 KiB as its dictionary and ending in a sync flush (the last
 * one in the final block), as pigz does. The chunks' deflate data concatenate into one
 * deflate stream; with one gzip header and one trailer (the chunks' CRC-32s combined by
 * zlib) the file is a single ordinary gzip member, which every gzip reader reads. The
 * bytes depend on the input alone, not on the threads' timing.
 *
 * Writes are sticky on error, like Redis rio's RIO_FLAG_WRITE_ERROR: after the first
 * failure everything is dropped, and pps_gzout_finish() reports it.
 */
#ifndef PPS_INTERNAL_GZOUT_H
#define PPS_INTERNAL_GZOUT_H

#include <stddef.h>
#include <stdio.h>

struct pps_gzout;

/* A stream at zlib level (1..9) into f, which it writes but does not close. Starts the
 * workers; when none can be started, deflates on the caller's thread instead. NULL with
 * errno ENOMEM. */
struct pps_gzout *pps_gzout_new(FILE *f, int level);

/* Appends len bytes. Errors are kept for pps_gzout_finish(). */
void pps_gzout_write(struct pps_gzout *g, const void *data, size_t len);

/* The first error so far (0 or negative errno): a writer may stop early on it. */
int pps_gzout_error(const struct pps_gzout *g);

/* Ends the stream (trailer written, f flushed). 0, or the first error of the whole
 * stream: -EIO (deflate or the FILE failed), -ENOMEM. Call once. */
int pps_gzout_finish(struct pps_gzout *g);

/* Stops the workers and frees. Without pps_gzout_finish(), the stream is left unended.
 * Accepts NULL. */
void pps_gzout_free(struct pps_gzout *g);

#endif
