/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_bucket: one bucket's sample entries and their blob (lib/internal/bucket.h has the
 * format). Blobs come from the database, which may be damaged: every length and count is
 * checked before use, and inflating has a hard cap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "internal/bucket.h"
#include "internal/util.h"

/* The largest inflated blob accepted: far above a bucket's worth of entries. */
#define INFLATED_MAX ((size_t)256 << 20)
/* Blobs smaller than this are not worth deflating. */
#define DEFLATE_MIN 64

void pps_bucket_release(struct pps_bucket *b)
{
	if (!b)
		return;
	free(b->e);
	b->e = NULL;
	b->nr = b->cap = 0;
}

void pps_bucket_clear(struct pps_bucket *b)
{
	b->nr = 0;
}

/* Room for more entries at the current stride (cap counts int64s, so a bucket reused for
 * another value count stays right). */
static int reserve(struct pps_bucket *b, size_t more)
{
	size_t stride = 2 + b->nr_values, need, cap;
	int64_t *e;

	if (more > SIZE_MAX / sizeof(*e) / stride - b->nr)
		return -ENOMEM;
	need = (b->nr + more) * stride;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64 * stride;
	while (cap < need)
		cap = cap > SIZE_MAX / sizeof(*e) / 2 ? need : cap * 2;
	e = realloc(b->e, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	b->e = e;
	b->cap = cap;
	return 0;
}

int pps_bucket_add(struct pps_bucket *b, int64_t stack_id, int64_t labelset_id,
		   const int64_t *values)
{
	int64_t *e;
	int err = reserve(b, 1);

	if (err)
		return err;
	e = pps_bucket_entry(b, b->nr++);
	e[0] = stack_id;
	e[1] = labelset_id;
	memcpy(e + 2, values, b->nr_values * sizeof(*values));
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

void pps_bucket_merge(struct pps_bucket *b)
{
	size_t stride = 2 + b->nr_values, out = 0;

	if (b->nr < 2)
		return;
	qsort(b->e, b->nr, stride * sizeof(*b->e), cmp_entry);
	for (size_t i = 1; i < b->nr; i++) {
		int64_t *dst = pps_bucket_entry(b, out), *src = pps_bucket_entry(b, i);

		if (dst[0] == src[0] && dst[1] == src[1]) {
			for (size_t k = 0; k < b->nr_values; k++)
				dst[2 + k] = (int64_t)((uint64_t)dst[2 + k] + (uint64_t)src[2 + k]);
			continue;
		}
		out++;
		if (out != i)
			memcpy(pps_bucket_entry(b, out), src, stride * sizeof(*src));
	}
	b->nr = out + 1;
}

int64_t pps_bucket_total(const struct pps_bucket *b)
{
	uint64_t t = 0;

	for (size_t i = 0; i < b->nr; i++)
		t += (uint64_t)pps_bucket_entry(b, i)[2];
	return (int64_t)t;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		p[n++] = c | (v ? 0x80 : 0);
	} while (v);
	return n;
}

static bool get_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned int shift = 0; shift < 64 && *pos < n; shift += 7) {
		uint8_t c = p[(*pos)++];

		r |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

int pps_bucket_encode(const struct pps_bucket *b, uint8_t **out, size_t *size)
{
	size_t stride = 2 + b->nr_values, max, n = 0;
	uint8_t *raw, *blob;
	uLongf zn;
	int64_t prev = 0;

	if (b->nr > SIZE_MAX / 16 / stride)
		return -ENOMEM;
	max = 1 + 20 + b->nr * stride * 10;
	raw = malloc(max);
	if (!raw)
		return -ENOMEM;
	raw[n++] = 0;
	n += put_varint(raw + n, b->nr_values);
	n += put_varint(raw + n, b->nr);
	for (size_t i = 0; i < b->nr; i++) {
		const int64_t *e = pps_bucket_entry(b, i);

		n += put_varint(raw + n, (uint64_t)(e[0] - prev));
		n += put_varint(raw + n, (uint64_t)e[1]);
		for (size_t k = 0; k < b->nr_values; k++)
			n += put_varint(raw + n, zigzag(e[2 + k]));
		prev = e[0];
	}
	if (n < DEFLATE_MIN) {
		*out = raw;
		*size = n;
		return 0;
	}
	zn = compressBound((uLong)(n - 1));
	blob = malloc(1 + 10 + zn);
	if (!blob) {
		free(raw);
		return -ENOMEM;
	}
	/* zlib's format (2-byte header, adler32): compress2 and uncompress, and a checksum
	 * that catches a damaged blob. */
	if (compress2(blob + 11, &zn, raw + 1, (uLong)(n - 1), 6) == Z_OK && zn + 11 < n) {
		size_t h = 1;

		blob[0] = 1;
		h += put_varint(blob + 1, n - 1);
		memmove(blob + h, blob + 11, zn);
		free(raw);
		*out = blob;
		*size = h + zn;
		return 0;
	}
	free(blob);
	*out = raw;
	*size = n;
	return 0;
}

int pps_bucket_decode(struct pps_bucket *b, const void *blob, size_t size)
{
	const uint8_t *p = blob;
	uint8_t *inflated = NULL;
	size_t pos = 1, n = size, old_nr = b->nr, old_nv = b->nr_values, stride;
	uint64_t nv, count, v, stack = 0;
	int err = -EPROTO;

	if (!size || p[0] > 1)
		goto out;
	if (p[0] == 1) {
		uLongf zn;

		if (!get_varint(p, size, &pos, &v) || v > INFLATED_MAX)
			goto out;
		inflated = malloc(v ? v : 1);
		if (!inflated) {
			err = -ENOMEM;
			goto out;
		}
		zn = (uLongf)v;
		if (uncompress(inflated, &zn, p + pos, (uLong)(size - pos)) != Z_OK || zn != v)
			goto out;
		p = inflated;
		n = v;
		pos = 0;
	}
	if (!get_varint(p, n, &pos, &nv) || !nv || nv > PPS_BUCKET_MAX_VALUES ||
	    (b->nr_values && nv != b->nr_values))
		goto out;
	if (!b->nr_values)
		b->nr_values = nv;
	stride = 2 + nv;
	/* Every entry takes at least stride bytes: a count beyond that is damage. */
	if (!get_varint(p, n, &pos, &count) || count > (n - pos) / stride)
		goto out;
	err = reserve(b, count);
	if (err)
		goto out;
	err = -EPROTO;
	for (uint64_t i = 0; i < count; i++) {
		int64_t *e = pps_bucket_entry(b, b->nr);

		if (!get_varint(p, n, &pos, &v))
			goto out;
		stack += v;
		e[0] = (int64_t)stack;
		if (!get_varint(p, n, &pos, &v))
			goto out;
		e[1] = (int64_t)v;
		for (size_t k = 0; k < nv; k++) {
			if (!get_varint(p, n, &pos, &v))
				goto out;
			e[2 + k] = unzigzag(v);
		}
		b->nr++;
	}
	if (pos != n)
		goto out;
	err = 0;
out:
	if (err) {
		b->nr = old_nr;
		b->nr_values = old_nv ? old_nv : (old_nr ? b->nr_values : 0);
		if (err == -EPROTO)
			PPS_CORRUPT;
	}
	free(inflated);
	return err;
}
