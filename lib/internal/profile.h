/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the converter needs of a profile beyond the public API: a sample's look-up split
 * in two, so that its cache miss overlaps other work.
 */
#ifndef PPS_INTERNAL_PROFILE_H
#define PPS_INTERNAL_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include <pprofstore/profile.h>

/* A label as the profile keeps it: its strings interned (string-table indices), str 0 for
 * a numeric label. No padding: label sets are compared with memcmp(). */
struct pps_label_ids {
	int64_t key;
	int64_t str;
	int64_t num;
	int64_t unit;
};

#define PPS_PREP_LABELS 8

/*
 * A sample's key made ready ahead of its look-up: its labels interned and sorted, its
 * hash taken, and the table slot it hashes to asked for. pps_profile_add_sample_ref() is
 * pps_profile_prep() then pps_profile_prep_add(); a caller with other work to do (the
 * next sample) does it in between, and the look-up finds the slot in the cache. The
 * strings are interned by pps_profile_prep(), so a profile's string table comes out the
 * same. The location ids stay the caller's, unchanged until the add.
 */
struct pps_sample_prep {
	const uint64_t *locs;
	size_t nr_locs;
	size_t nr_labels;
	uint32_t hash;
	struct pps_label_ids labels[PPS_PREP_LABELS];
};

/* 0, -EINVAL (as pps_profile_add_sample_ref(), or more than PPS_PREP_LABELS labels) or
 * -ENOMEM. */
int pps_profile_prep(struct pps_profile *p, const uint64_t *location_ids, size_t nr_locs,
		     const struct pps_label *labels, size_t nr_labels, struct pps_sample_prep *sp);
/* pps_profile_prep() with labels already in p's canonical form: as an earlier
 * pps_profile_prep() on p left them in its sp->labels (interned in p, sorted), nr_ids of
 * them. For a caller that sees the same label set again and again. 0 or -EINVAL (also
 * for ids p did not make, or out of order). */
int pps_profile_prep_ids(struct pps_profile *p, const uint64_t *location_ids, size_t nr_locs,
			 const struct pps_label_ids *ids, size_t nr_ids,
			 struct pps_sample_prep *sp);
/* Adds values to the sample sp (from pps_profile_prep() on p) is the key of, a new one
 * when there is none yet; *ref_out is its ref, as pps_profile_add_sample_ref()'s.
 * 0, -EINVAL or -ENOMEM. */
int pps_profile_prep_add(struct pps_profile *p, const struct pps_sample_prep *sp,
			 const int64_t *values, size_t *ref_out);

/* Starts loading the values of sample ref (pps_profile_add_values() will add to them):
 * a hint, ignored for a ref p does not have. */
void pps_profile_prefetch_values(const struct pps_profile *p, size_t ref);

#endif /* PPS_INTERNAL_PROFILE_H */
