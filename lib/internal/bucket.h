/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_bucket: the samples of one (type, time bucket, source) of the store, as entries
 * (stack id, label set id, N values), and their encoding in one blob (the samples.data
 * column of schema/store.sql).
 *
 * A row per bucket instead of a row per (bucket, stack, label set) is what makes a day of
 * continuous profiling small: at 99 Hz most (stack, label set) pairs occur once or twice
 * per 10 s bucket, and a SQLite row costs some 40 bytes where an entry here costs one or
 * two after compression (values repeat: counts of 1, periods of a clock event).
 *
 * Blob format (version 1), all integers unsigned LEB128 varints:
 *   byte 0        1 = the rest is raw deflate data, 0 = the rest as it is
 *   [deflated:    varint: the size of the inflated rest]
 *   varint        N, values per entry (>= 1)
 *   varint        entries
 *   per entry, in (stack, label set) order, each pair once:
 *     varint      stack id - the previous entry's stack id (the first: the id)
 *     varint      label set id
 *     N varints   the values, zigzag-encoded
 * Invariant of an encoded bucket: entries sorted by (stack, label set), no pair twice.
 */
#ifndef PPS_INTERNAL_BUCKET_H
#define PPS_INTERNAL_BUCKET_H

#include <stddef.h>
#include <stdint.h>

/* The most values an entry has (sample types of a type). */
#define PPS_BUCKET_MAX_VALUES 64

/* Entries, stride 2 + nr_values int64s each: stack id, label set id, values. */
struct pps_bucket {
	size_t nr_values; /* N; set before the first add or decode */
	size_t nr;	  /* entries */
	size_t cap;	  /* int64s allocated */
	int64_t *e;
};

/* Frees the entries and empties b (nr_values is kept). Accepts a zeroed bucket. */
void pps_bucket_release(struct pps_bucket *b);
/* Empties b, keeping its memory. */
void pps_bucket_clear(struct pps_bucket *b);

/* Entry i's stack id, label set id and values. */
static inline int64_t *pps_bucket_entry(const struct pps_bucket *b, size_t i)
{
	return b->e + i * (2 + b->nr_values);
}

/* Appends an entry (values: nr_values of them). Returns 0 or -ENOMEM. */
int pps_bucket_add(struct pps_bucket *b, int64_t stack_id, int64_t labelset_id,
		   const int64_t *values);

/* Sorts the entries by (stack, label set) and sums the values of equal pairs (wrapping
 * on overflow, as the profile does). */
void pps_bucket_merge(struct pps_bucket *b);

/* Sum of the first value over the entries. */
int64_t pps_bucket_total(const struct pps_bucket *b);

/*
 * Encodes b (pps_bucket_merge() first) into a malloc'ed blob (*out, *size; free with
 * free()), deflated when that is smaller. Returns 0 or -ENOMEM.
 */
int pps_bucket_encode(const struct pps_bucket *b, uint8_t **out, size_t *size);

/*
 * Appends the entries of blob[0..size) to b. A blob of another value count than
 * b->nr_values (when set; else it sets it) or any damage is -EPROTO (the database is
 * corrupt); -ENOMEM. On error b holds what it held before.
 */
int pps_bucket_decode(struct pps_bucket *b, const void *blob, size_t size);

#endif /* PPS_INTERNAL_BUCKET_H */
