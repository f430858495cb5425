/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_gzout unit test: what it writes is one gzip member that zlib inflates back to the
 * input, with the right CRC and length, at level 1 (ISA-L's deflate when built with it)
 * and level 6 (zlib's), for lengths around the chunk size, written whole and in odd
 * pieces; repeats further apart than a chunk are found through the dictionary.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define ZLIB_CONST
#include <zlib.h>

#include "internal/gzout.h"

#include "check.h"

#define CHUNK (256u << 10) /* gzout.c's */
#define MAX   (3 * CHUNK + 12345)
#define REP   2048

static uint8_t input[MAX];

/* Inflates the gzip file gz (n bytes) into out (cap bytes); its length, or -1 when it is
 * not exactly one whole gzip member. */
static long gunzip(const uint8_t *gz, size_t n, uint8_t *out, size_t cap)
{
	z_stream zs;
	long len = -1;
	int ret;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + 15) != Z_OK)
		return -1;
	zs.next_in = gz;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	ret = inflate(&zs, Z_FINISH);
	/* Z_STREAM_END checks the CRC and ISIZE; nothing may follow the member. */
	if (ret == Z_STREAM_END && zs.avail_in == 0)
		len = (long)zs.total_out;
	inflateEnd(&zs);
	return len;
}

/* Compresses input[0..len) at level, in pieces of step bytes (0: at once); checks the
 * result and returns its size, or 0 when it failed. keep: NULL, or where the compressed
 * bytes go (the caller frees them). */
static size_t round_trip(int level, size_t len, size_t step, const char *what, char **keep)
{
	static uint8_t back[MAX + 1];
	char *buf = NULL;
	size_t size = 0, out = 0;
	FILE *f = open_memstream(&buf, &size);
	struct pps_gzout *g = f ? pps_gzout_new(f, level) : NULL;
	long got;

	CHECK(g, "%s: pps_gzout_new", what);
	if (!g) {
		if (f)
			fclose(f);
		free(buf);
		return 0;
	}
	for (size_t off = 0; off < len;) {
		size_t n = step && step < len - off ? step : len - off;

		pps_gzout_write(g, input + off, n);
		off += n;
	}
	CHECK(pps_gzout_finish(g) == 0, "%s: finish", what);
	pps_gzout_free(g);
	fclose(f);
	got = gunzip((const uint8_t *)buf, size, back, sizeof(back));
	CHECK(got == (long)len, "%s: inflated %ld bytes of %zu", what, got, len);
	if (got == (long)len) {
		CHECK(!memcmp(back, input, len), "%s: inflated bytes differ", what);
		out = size;
	}
	if (keep)
		*keep = buf;
	else
		free(buf);
	return out;
}

int main(void)
{
	static const size_t lens[] = {0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, MAX};
	static const int levels[] = {1, 6};
	uint32_t x = 12345;
	char what[64], *ba = NULL, *bb = NULL;
	size_t a, b;

	/* Compressible text-like bytes, then a random stretch (stored blocks' worst case). */
	for (size_t i = 0; i < MAX; i++) {
		x = x * 1103515245u + 12345u;
		input[i] = i < 2 * CHUNK ? (uint8_t)("profile "[i % 8] + (i / 4096) % 3)
					 : (uint8_t)(x >> 24);
	}
	for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			snprintf(what, sizeof(what), "level %d, %zu bytes", levels[l], lens[i]);
			round_trip(levels[l], lens[i], 0, what, NULL);
			snprintf(what, sizeof(what), "level %d, %zu bytes in 4093-byte pieces",
				 levels[l], lens[i]);
			round_trip(levels[l], lens[i], 4093, what, NULL);
		}
	}

	/* A random REP-byte block over and over: every chunk after the first is all
	 * matches, the first of them reaching into the chunk before, so the whole holds one
	 * copy of the block. Without the dictionary each of the 4 chunks would hold one. */
	for (size_t i = 0; i < MAX; i++) {
		if (i < REP) {
			x = x * 1103515245u + 12345u;
			input[i] = (uint8_t)(x >> 24);
		} else {
			input[i] = input[i - REP];
		}
	}
	for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
		snprintf(what, sizeof(what), "level %d, repeats", levels[l]);
		a = round_trip(levels[l], MAX, 0, what, NULL);
		/* Measured: 8451 (ISA-L) and 6663 (zlib) bytes; 15138 and 13378 without the
		 * dictionary. */
		CHECK(a && a < REP + 8192, "%s: %zu bytes compressed", what, a);
	}

	/* The output depends on the input alone. */
	a = round_trip(1, MAX, 0, "determinism, whole", &ba);
	b = round_trip(1, MAX, 777, "determinism, pieces", &bb);
	CHECK(a && a == b && !memcmp(ba, bb, a), "outputs of %zu and %zu bytes differ", a, b);
	free(ba);
	free(bb);

	if (failures)
		fprintf(stderr, "test_gzout: %d failures\n", failures);
	return failures ? 1 : 0;
}
