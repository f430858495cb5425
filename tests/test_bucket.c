/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * lib/bucket.c (internal API): the store's bucket blobs against a trivial model.
 *
 *   model     random entries (few stacks and label sets, so pairs repeat; 1 to 6 values,
 *             negative and extreme ones too) merged and encoded, decoded back: the sums
 *             per (stack, label set) equal a plain array model's, in (stack, label set)
 *             order, each pair once; small blobs stay plain, large ones are deflated
 *   append    decoding two blobs into one bucket appends, merge sums across them
 *   damage    every truncation of a plain and of a deflated blob, every single-bit flip of
 *             a plain one, a wrong value count, a huge count and inflated size: -EPROTO
 *             (or, for a flip that still decodes, a well-formed bucket), and the bucket
 *             keeps what it held; never a crash (the sanitizer build checks memory)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/bucket.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);                                \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
		}                                                                                  \
	} while (0)

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define NS 40 /* stacks */
#define NL 5  /* label sets */

/* The model: sums per (stack, label set) and whether the pair was seen. */
struct model {
	int64_t sum[NS][NL][6];
	bool seen[NS][NL];
};

static void check_against(const struct pps_bucket *b, const struct model *m, size_t nv,
			  const char *what)
{
	size_t i = 0;

	for (int s = 0; s < NS; s++) {
		for (int l = 0; l < NL; l++) {
			const int64_t *e;

			if (!m->seen[s][l])
				continue;
			if (i >= b->nr) {
				CHECK(0, "%s: entry (%d, %d) missing", what, s, l);
				return;
			}
			e = pps_bucket_entry(b, i++);
			CHECK(e[0] == s + 1 && e[1] == l + 1,
			      "%s: entry %zu is (%" PRId64 ", %" PRId64 "), expected (%d, %d)",
			      what, i - 1, e[0], e[1], s + 1, l + 1);
			for (size_t k = 0; k < nv; k++)
				CHECK(e[2 + k] == m->sum[s][l][k],
				      "%s: (%d, %d) value %zu: %" PRId64 " != %" PRId64, what, s, l,
				      k, e[2 + k], m->sum[s][l][k]);
		}
	}
	CHECK(i == b->nr, "%s: %zu entries, the model has %zu", what, b->nr, i);
}

static void test_model(void)
{
	for (int round = 0; round < 200; round++) {
		size_t nv = 1 + next() % 6, n = next() % (round < 100 ? 20 : 3000);
		struct pps_bucket b = {.nr_values = nv}, d = {0};
		struct model m;
		uint8_t *blob;
		size_t size;
		int err;

		memset(&m, 0, sizeof(m));
		for (size_t i = 0; i < n; i++) {
			int s = (int)(next() % NS), l = (int)(next() % NL);
			int64_t v[6];

			for (size_t k = 0; k < nv; k++) {
				uint64_t r = next();

				v[k] = r % 7 == 0   ? (int64_t)r
				       : r % 7 == 1 ? -(int64_t)(r % 1000)
						    : (int64_t)(r % 20000000);
				m.sum[s][l][k] =
				    (int64_t)((uint64_t)m.sum[s][l][k] + (uint64_t)v[k]);
			}
			m.seen[s][l] = true;
			CHECK(!pps_bucket_add(&b, s + 1, l + 1, v), "add");
		}
		pps_bucket_merge(&b);
		check_against(&b, &m, nv, "merged");
		err = pps_bucket_encode(&b, &blob, &size);
		CHECK(!err, "encode: %d", err);
		if (err)
			continue;
		if (b.nr > 200)
			CHECK(blob[0] == 1, "a blob of %zu entries is not deflated", b.nr);
		if (b.nr < 2)
			CHECK(blob[0] == 0, "a blob of %zu entries is deflated", b.nr);
		err = pps_bucket_decode(&d, blob, size);
		CHECK(!err, "decode: %d", err);
		CHECK(d.nr_values == nv, "decoded %zu values per entry, not %zu", d.nr_values, nv);
		if (!err)
			check_against(&d, &m, nv, "decoded");
		free(blob);
		pps_bucket_release(&b);
		pps_bucket_release(&d);
	}
}

static void test_append(void)
{
	struct pps_bucket a = {.nr_values = 2}, d = {0};
	int64_t v1[2] = {1, 100}, v2[2] = {2, 200};
	uint8_t *b1, *b2;
	size_t n1, n2;

	pps_bucket_add(&a, 7, 1, v1);
	pps_bucket_encode(&a, &b1, &n1);
	pps_bucket_clear(&a);
	pps_bucket_add(&a, 7, 1, v2);
	pps_bucket_add(&a, 3, 2, v2);
	pps_bucket_merge(&a);
	pps_bucket_encode(&a, &b2, &n2);
	CHECK(!pps_bucket_decode(&d, b1, n1) && !pps_bucket_decode(&d, b2, n2), "decode");
	CHECK(d.nr == 3, "appended %zu entries, not 3", d.nr);
	pps_bucket_merge(&d);
	CHECK(d.nr == 2 && pps_bucket_entry(&d, 0)[0] == 3 && pps_bucket_entry(&d, 1)[0] == 7 &&
		  pps_bucket_entry(&d, 1)[2] == 3 && pps_bucket_entry(&d, 1)[3] == 300,
	      "merged appended entries wrong");
	CHECK(pps_bucket_total(&d) == 5, "total %" PRId64 ", not 5", pps_bucket_total(&d));
	free(b1);
	free(b2);
	pps_bucket_release(&a);
	pps_bucket_release(&d);
}

/* Decodes a damaged blob into a bucket holding one entry: -EPROTO and the entry kept, or
 * success with entries that are well formed. */
static void damaged(const uint8_t *blob, size_t size, const char *what)
{
	struct pps_bucket d = {.nr_values = 3};
	int64_t v[3] = {1, 2, 3};
	int err;

	pps_bucket_add(&d, 9, 9, v);
	err = pps_bucket_decode(&d, blob, size);
	CHECK(err == 0 || err == -EPROTO, "%s: error %d", what, err);
	if (err)
		CHECK(d.nr == 1 && d.nr_values == 3 && pps_bucket_entry(&d, 0)[0] == 9,
		      "%s: a failed decode changed the bucket", what);
	pps_bucket_release(&d);
}

static void test_damage(void)
{
	struct pps_bucket b = {.nr_values = 3};
	uint8_t *plain, *deflated, bad[64];
	size_t np, nd, n = 0;
	char what[64];

	for (int i = 0; i < 3; i++) {
		int64_t v[3] = {i, -i, 1000 * i};

		pps_bucket_add(&b, i + 1, 1, v);
	}
	pps_bucket_encode(&b, &plain, &np);
	CHECK(plain[0] == 0, "small blob deflated");
	for (int i = 3; i < 3000; i++) {
		int64_t v[3] = {1, 10101010, i % 3};

		pps_bucket_add(&b, i + 1, i % 4, v);
	}
	pps_bucket_encode(&b, &deflated, &nd);
	CHECK(deflated[0] == 1, "large blob not deflated");
	for (size_t cut = 0; cut < np; cut++) {
		snprintf(what, sizeof(what), "plain cut at %zu", cut);
		damaged(plain, cut, what);
	}
	for (size_t cut = 0; cut < nd; cut += 1 + cut / 8) {
		snprintf(what, sizeof(what), "deflated cut at %zu", cut);
		damaged(deflated, cut, what);
	}
	for (size_t i = 0; i < np * 8; i++) {
		uint8_t *flip = malloc(np);

		memcpy(flip, plain, np);
		flip[i / 8] ^= (uint8_t)(1u << (i % 8));
		snprintf(what, sizeof(what), "plain bit %zu flipped", i);
		damaged(flip, np, what);
		free(flip);
	}
	/* A blob of 2 values into a bucket of 3. */
	{
		struct pps_bucket two = {.nr_values = 2};
		int64_t v[2] = {1, 1};
		uint8_t *t;
		size_t nt;

		pps_bucket_add(&two, 1, 1, v);
		pps_bucket_encode(&two, &t, &nt);
		damaged(t, nt, "wrong value count");
		CHECK(pps_bucket_decode(&(struct pps_bucket){.nr_values = 3}, t, nt) == -EPROTO,
		      "a blob of 2 values accepted into a bucket of 3");
		free(t);
		pps_bucket_release(&two);
	}
	/* A count of 2^60 entries, and an inflated size of 2^40. */
	bad[n++] = 0;
	bad[n++] = 1;
	memcpy(bad + n, "\x80\x80\x80\x80\x80\x80\x80\x80\x10", 9);
	damaged(bad, n + 9, "huge count");
	memcpy(bad, "\x01\x80\x80\x80\x80\x80\x20\x78\x9c", 9);
	damaged(bad, 9, "huge inflated size");
	free(plain);
	free(deflated);
	pps_bucket_release(&b);
}

int main(void)
{
	test_model();
	test_append();
	test_damage();
	printf("bucket: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
