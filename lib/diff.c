/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_profile_diff: the profile pprof builds for -diff_base, so that `pprof diff.pprof`
 * shows what `pprof -diff_base base.pprof head.pprof` shows.
 *
 * pprof (internal/driver/fetch.go fetchProfiles) labels every base sample pprof::base=true
 * (Profile.SetLabel), scales base by -1 (Profile.Scale, which drops samples left all
 * zero), and merges [head, base] (profile.Merge: combineHeaders, then samples keyed by
 * stack and labels, then a second merge that drops samples summing to zero). Its reports
 * then take the total from the samples labelled pprof::base (report.computeTotal), so
 * percentages are of base, as with -diff_base.
 *
 * Both inputs are usually store queries of one type: same sample types, a few thousand
 * stacks each; the copy goes through the pps_profile builder, which deduplicates mappings,
 * functions and locations across the two.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pprofstore/compare.h>

#include "internal/util.h"

/* Ids of one source profile's items in the destination, 0 until copied. */
struct id_maps {
	uint64_t *mappings, *functions, *locations;
};

static int id_maps_init(struct id_maps *m, const struct pps_profile *src)
{
	m->mappings = calloc(pps_profile_nr_mappings(src) + 1, sizeof(uint64_t));
	m->functions = calloc(pps_profile_nr_functions(src) + 1, sizeof(uint64_t));
	m->locations = calloc(pps_profile_nr_locations(src) + 1, sizeof(uint64_t));
	return m->mappings && m->functions && m->locations ? 0 : -ENOMEM;
}

static void id_maps_release(struct id_maps *m)
{
	free(m->mappings);
	free(m->functions);
	free(m->locations);
}

static int copy_mapping(struct pps_profile *dst, const struct pps_profile *src, struct id_maps *m,
			uint64_t id, uint64_t *out)
{
	struct pps_mapping_info mi;
	int err;

	*out = 0;
	if (!id)
		return 0;
	if (id > pps_profile_nr_mappings(src))
		return -EINVAL;
	if (!m->mappings[id]) {
		err = pps_profile_get_mapping(src, id, &mi);
		if (err)
			return err;
		m->mappings[id] = pps_profile_add_mapping(dst, &mi);
		if (!m->mappings[id])
			return -errno;
	}
	*out = m->mappings[id];
	return 0;
}

static int copy_function(struct pps_profile *dst, const struct pps_profile *src, struct id_maps *m,
			 uint64_t id, uint64_t *out)
{
	const char *name, *sys, *file;
	int64_t start;
	int err;

	if (!id || id > pps_profile_nr_functions(src))
		return -EINVAL;
	if (!m->functions[id]) {
		err = pps_profile_get_function(src, id, &name, &sys, &file, &start);
		if (err)
			return err;
		m->functions[id] = pps_profile_add_function(dst, name, sys, file, start);
		if (!m->functions[id])
			return -errno;
	}
	*out = m->functions[id];
	return 0;
}

static int copy_location(struct pps_profile *dst, const struct pps_profile *src, struct id_maps *m,
			 uint64_t id, uint64_t *out)
{
	const struct pps_line *src_lines;
	struct pps_line *lines = NULL;
	uint64_t mapping_id, address, dst_mapping;
	size_t nr_lines;
	int err;

	if (!id || id > pps_profile_nr_locations(src))
		return -EINVAL;
	if (m->locations[id]) {
		*out = m->locations[id];
		return 0;
	}
	err = pps_profile_get_location(src, id, &mapping_id, &address, &src_lines, &nr_lines);
	err = err ?: copy_mapping(dst, src, m, mapping_id, &dst_mapping);
	if (err)
		return err;
	/* The lines of src stay valid: src is not added to. */
	if (nr_lines) {
		lines = malloc(nr_lines * sizeof(*lines));
		if (!lines)
			return -ENOMEM;
	}
	for (size_t i = 0; i < nr_lines && !err; i++) {
		lines[i] = src_lines[i];
		err = copy_function(dst, src, m, src_lines[i].function_id, &lines[i].function_id);
	}
	if (!err) {
		m->locations[id] =
		    pps_profile_add_location(dst, dst_mapping, address, lines, nr_lines);
		if (!m->locations[id])
			err = -errno;
	}
	free(lines);
	*out = m->locations[id];
	return err;
}

/*
 * Adds every sample of src to dst with its values times sign (+1 or -1); with as_base,
 * its string labels pprof::base replaced by pprof::base=true. Samples whose values are
 * all zero are skipped, as pprof's Merge skips them. Returns 0 or -errno.
 */
static int copy_samples(struct pps_profile *dst, const struct pps_profile *src, int64_t sign,
			bool as_base)
{
	size_t nr_types = pps_profile_nr_sample_types(src), locs_cap = 0, labels_cap = 0;
	struct pps_label *labels = NULL;
	uint64_t *locs = NULL;
	int64_t *values = NULL;
	struct id_maps m;
	int err;

	err = id_maps_init(&m, src);
	values = calloc(nr_types + 1, sizeof(*values));
	if (!err && !values)
		err = -ENOMEM;
	for (size_t i = 0; i < pps_profile_nr_samples(src) && !err; i++) {
		const uint64_t *src_locs;
		const int64_t *src_values;
		size_t nr_locs, nr_labels = 0, nr = 0;
		bool zero = true;

		err = pps_profile_get_sample(src, i, &src_locs, &nr_locs, &src_values);
		if (err)
			break;
		for (size_t k = 0; k < nr_types; k++) {
			/* Negated in unsigned arithmetic, so INT64_MIN (which no real
			 * profile holds) wraps instead of overflowing. */
			values[k] =
			    sign < 0 ? (int64_t)(0 - (uint64_t)src_values[k]) : src_values[k];
			zero &= !src_values[k];
		}
		if (zero)
			continue;
		if (nr_locs > locs_cap) {
			uint64_t *nl = realloc(locs, nr_locs * sizeof(*locs));

			if (!nl) {
				err = -ENOMEM;
				break;
			}
			locs = nl;
			locs_cap = nr_locs;
		}
		/* src_locs stays valid while only dst is added to. */
		for (size_t k = 0; k < nr_locs && !err; k++)
			err = copy_location(dst, src, &m, src_locs[k], &locs[k]);
		err = err ?: pps_profile_get_sample_labels(src, i, 0, &nr_labels, NULL);
		if (!err && nr_labels + 1 > labels_cap) {
			struct pps_label *nl = realloc(labels, (nr_labels + 1) * sizeof(*labels));

			if (!nl)
				err = -ENOMEM;
			else
				labels = nl;
			labels_cap = nr_labels + 1;
		}
		for (size_t j = 0; j < nr_labels && !err; j++) {
			err = pps_profile_get_sample_labels(src, i, j, NULL, &labels[nr]);
			/* SetLabel replaces the key's string values; numeric ones stay. */
			if (!err && !(as_base && labels[nr].str &&
				      !strcmp(labels[nr].key, PPS_DIFF_BASE_LABEL)))
				nr++;
		}
		if (!err && as_base)
			labels[nr++] =
			    (struct pps_label){.key = PPS_DIFF_BASE_LABEL, .str = "true"};
		err = err ?: pps_profile_add_sample(dst, locs, nr_locs, values, labels, nr);
	}
	free(values);
	free(labels);
	free(locs);
	id_maps_release(&m);
	return err;
}

/* Whether a and b can be merged (pprof's Profile.compatible). */
static bool compatible(const struct pps_profile *a, const struct pps_profile *b)
{
	const char *ta, *ua, *tb, *ub, *da, *db;
	int64_t pa, pb;

	if (pps_profile_nr_sample_types(a) != pps_profile_nr_sample_types(b))
		return false;
	for (size_t i = 0; i < pps_profile_nr_sample_types(a); i++) {
		if (pps_profile_get_sample_type(a, i, &ta, &ua) ||
		    pps_profile_get_sample_type(b, i, &tb, &ub) || strcmp(ta, tb) || strcmp(ua, ub))
			return false;
	}
	pps_profile_get_period(a, &ta, &ua, &pa, &da);
	pps_profile_get_period(b, &tb, &ub, &pb, &db);
	return !strcmp(ta, tb) && !strcmp(ua, ub);
}

/* dst's header from [head, base] as pprof's combineHeaders makes it. */
static int combine_headers(struct pps_profile *dst, const struct pps_profile *head,
			   const struct pps_profile *base)
{
	const struct pps_profile *srcs[2] = {head, base};
	const char *type, *unit, *dflt = "", *d;
	int64_t time = 0, duration = 0, period = 0, t, dur, per;
	int err = 0;

	for (size_t i = 0; i < pps_profile_nr_sample_types(head) && !err; i++) {
		err = pps_profile_get_sample_type(head, i, &type, &unit);
		err = err ?: pps_profile_add_sample_type(dst, type, unit);
	}
	for (int s = 0; s < 2 && !err; s++) {
		pps_profile_get_time(srcs[s], &t, &dur);
		pps_profile_get_period(srcs[s], &type, &unit, &per, &d);
		/* Literally pprof's rule: a zero time so far takes the next one, and a smaller
		 * one (even zero) wins. */
		if (time == 0 || t < time)
			time = t;
		duration += dur;
		if (period == 0 || period < per)
			period = per;
		if (!*dflt)
			dflt = d;
		/* Each distinct comment once, in order. */
		for (size_t i = 0; i < pps_profile_nr_comments(srcs[s]) && !err; i++) {
			const char *cm = pps_profile_get_comment(srcs[s], i);
			bool seen = false;

			for (size_t j = 0; j < pps_profile_nr_comments(dst) && !seen; j++)
				seen = !strcmp(pps_profile_get_comment(dst, j), cm);
			if (!seen)
				err = pps_profile_add_comment(dst, cm);
		}
	}
	if (err)
		return err;
	pps_profile_set_time(dst, time, duration);
	pps_profile_get_period(head, &type, &unit, &per, &d);
	if (*type || *unit || period)
		err = pps_profile_set_period(dst, type, unit, period);
	if (!err && *dflt)
		err = pps_profile_set_default_sample_type(dst, dflt);
	return err;
}

/* Whether some sample of p has only zero values. */
static bool has_zero_sample(const struct pps_profile *p)
{
	for (size_t i = 0; i < pps_profile_nr_samples(p); i++) {
		const uint64_t *locs;
		const int64_t *values;
		size_t n;
		bool zero = true;

		if (pps_profile_get_sample(p, i, &locs, &n, &values))
			return false;
		for (size_t k = 0; k < pps_profile_nr_sample_types(p); k++)
			zero &= !values[k];
		if (zero)
			return true;
	}
	return false;
}

PPS_API struct pps_profile *pps_profile_diff(const struct pps_profile *base,
					     const struct pps_profile *head)
{
	struct pps_profile *d = NULL, *again = NULL;
	int err = -EINVAL;

	if (!base || !head || !compatible(base, head))
		goto out_err;
	err = -ENOMEM;
	d = pps_profile_new();
	if (!d)
		goto out_err;
	err = combine_headers(d, head, base);
	err = err ?: copy_samples(d, head, 1, false);
	err = err ?: copy_samples(d, base, -1, true);
	if (err)
		goto out_free;
	/* A head sample already labelled pprof::base=true can cancel a base one: pprof's
	 * Merge then merges again to drop it; so do we, with a copy that skips it. */
	if (has_zero_sample(d)) {
		err = -ENOMEM;
		again = pps_profile_new();
		if (!again)
			goto out_free;
		err = combine_headers(again, d, d);
		if (!err) {
			int64_t t, dur;

			/* combine_headers summed d's duration twice and kept its time. */
			pps_profile_get_time(d, &t, &dur);
			pps_profile_set_time(again, t, dur);
		}
		err = err ?: copy_samples(again, d, 1, false);
		if (err)
			goto out_free;
		pps_profile_free(d);
		d = again;
		again = NULL;
	}
	return d;

out_free:
	pps_profile_free(again);
	pps_profile_free(d);
out_err:
	errno = -err;
	return NULL;
}
