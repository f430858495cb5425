/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps-storegen: a day of continuous profiles in a store, synthesized from one real
 * recording, for bench/store.sh.
 *
 * The recording is converted once, each sample labelled with its time bucket as
 * `pprofstore ingest` does, from a start at the beginning of the day. Then copy k of its
 * profiles, every bucket label moved k chunk lengths later (the recording's length rounded
 * up to whole buckets), is stored as source k, until the day is covered: as if the same
 * workload had been recorded chunk after chunk and each file ingested. Prints the figures
 * as key=value lines on stdout: copies, perf samples and perf.data bytes they stand for,
 * the store's bytes, and the time spent storing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <pprofstore/pprofstore.h>

static void log_stderr(enum pps_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= PPS_LOG_WARN)
		fprintf(stderr, "pps-storegen: %s\n", msg);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A copy of p with every PPS_BUCKET_LABEL and the time moved by shift ns; NULL on error. */
static struct pps_profile *shifted(const struct pps_profile *p, int64_t shift)
{
	struct pps_profile *q = pps_profile_new();
	uint64_t *maps = NULL, *fns = NULL, *locs = NULL, *stack = NULL;
	struct pps_line *lines = NULL;
	struct pps_label *labels = NULL;
	size_t nm = pps_profile_nr_mappings(p), nf = pps_profile_nr_functions(p);
	size_t nl = pps_profile_nr_locations(p), cap_lines = 0, cap_stack = 0, cap_labels = 0;
	const char *t, *u, *def;
	int64_t period, tn, dur;
	int err = q ? 0 : -ENOMEM;

	maps = calloc(nm + 1, sizeof(*maps));
	fns = calloc(nf + 1, sizeof(*fns));
	locs = calloc(nl + 1, sizeof(*locs));
	if (!maps || !fns || !locs)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < pps_profile_nr_sample_types(p); i++) {
		pps_profile_get_sample_type(p, i, &t, &u);
		err = pps_profile_add_sample_type(q, t, u);
	}
	pps_profile_get_period(p, &t, &u, &period, &def);
	if (!err && *t)
		err = pps_profile_set_period(q, t, u, period);
	if (!err && *def)
		err = pps_profile_set_default_sample_type(q, def);
	pps_profile_get_time(p, &tn, &dur);
	pps_profile_set_time(q, tn + shift, dur);
	for (uint64_t id = 1; !err && id <= nm; id++) {
		struct pps_mapping_info mi;

		err = pps_profile_get_mapping(p, id, &mi);
		if (!err && !(maps[id] = pps_profile_add_mapping(q, &mi)))
			err = -errno;
	}
	for (uint64_t id = 1; !err && id <= nf; id++) {
		const char *name, *sys, *file;
		int64_t start;

		err = pps_profile_get_function(p, id, &name, &sys, &file, &start);
		if (!err && !(fns[id] = pps_profile_add_function(q, name, sys, file, start)))
			err = -errno;
	}
	for (uint64_t id = 1; !err && id <= nl; id++) {
		const struct pps_line *pl;
		uint64_t map, addr;
		size_t n;

		err = pps_profile_get_location(p, id, &map, &addr, &pl, &n);
		if (!err && n > cap_lines) {
			struct pps_line *l2 = realloc(lines, n * sizeof(*l2));

			err = l2 ? 0 : -ENOMEM;
			lines = l2 ? l2 : lines;
			cap_lines = l2 ? n : cap_lines;
		}
		for (size_t k = 0; !err && k < n; k++) {
			lines[k] = pl[k];
			lines[k].function_id = fns[pl[k].function_id];
		}
		if (!err &&
		    !(locs[id] = pps_profile_add_location(q, map ? maps[map] : 0, addr, lines, n)))
			err = -errno;
	}
	for (size_t i = 0; !err && i < pps_profile_nr_samples(p); i++) {
		const uint64_t *sl;
		const int64_t *v;
		size_t n, nlab = 0;

		err = pps_profile_get_sample(p, i, &sl, &n, &v);
		err = err ?: pps_profile_get_sample_labels(p, i, 0, &nlab, NULL);
		if (!err && (n > cap_stack || nlab > cap_labels)) {
			uint64_t *s2 = realloc(stack, (n + 1) * sizeof(*s2));
			struct pps_label *b2 =
			    s2 ? realloc(labels, (nlab + 1) * sizeof(*b2)) : NULL;

			stack = s2 ? s2 : stack;
			labels = b2 ? b2 : labels;
			err = s2 && b2 ? 0 : -ENOMEM;
			cap_stack = s2 ? n + 1 : cap_stack;
			cap_labels = b2 ? nlab + 1 : cap_labels;
		}
		for (size_t k = 0; !err && k < n; k++)
			stack[k] = locs[sl[k]];
		for (size_t k = 0; !err && k < nlab; k++) {
			err = pps_profile_get_sample_labels(p, i, k, NULL, &labels[k]);
			if (!err && !labels[k].str && !strcmp(labels[k].key, PPS_BUCKET_LABEL))
				labels[k].num += shift;
		}
		err = err ?: pps_profile_add_sample(q, stack, n, v, labels, nlab);
	}
	free(labels);
	free(stack);
	free(lines);
	free(locs);
	free(fns);
	free(maps);
	if (err) {
		pps_profile_free(q);
		errno = -err;
		return NULL;
	}
	return q;
}

int main(int argc, char **argv)
{
	PPS_READER_OPTS(plain);
	PPS_READER_OPTS(ordered, .flags = PPS_READER_ORDERED);
	PPS_CONVERT_OPTS(copts);
	struct pps_store_source src = {.host = "storegen", .time_origin = "time-origin"};
	struct pps_profile **copy = NULL;
	const char **types = NULL;
	struct pps_convert *c = NULL;
	struct pps_reader *r;
	struct pps_store *s;
	struct pps_event ev;
	struct stat st;
	double hours = 24, t_store = 0, t0;
	int64_t width, first, last, chunk, day_start, n_copies, samples = 0;
	uint64_t hash, size;
	char path[4096];
	size_t n;
	int ret = 1;

	if (argc < 3 || argc > 4 || (argc == 4 && (hours = atof(argv[3])) <= 0)) {
		fprintf(stderr, "usage: pps-storegen RECORDING DB [HOURS]\n");
		return 2;
	}
	pps_set_log(log_stderr, NULL);
	if (stat(argv[1], &st) || pps_store_hash_file(argv[1], &hash, &size)) {
		fprintf(stderr, "pps-storegen: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	s = pps_store_open(argv[2], PPS_STORE_CREATE, 0);
	if (!s)
		return 1;
	width = pps_store_bucket_ns(s);
	/* The recording's first and last sample, for its start and its length. */
	r = pps_reader_open(argv[1], &plain);
	if (!r)
		goto out_store;
	while (pps_reader_next(r, &ev) > 0)
		;
	first = (int64_t)pps_reader_stats(r)->first_time;
	last = (int64_t)pps_reader_stats(r)->last_time;
	pps_reader_free(r);
	r = NULL;
	if (first < 0 || last < first) {
		fprintf(stderr, "pps-storegen: %s: no sample times\n", argv[1]);
		goto out_store;
	}
	chunk = ((last - first) / width + 1) * width;
	/* The day ends at the last whole bucket before now. */
	day_start = ((int64_t)time(NULL) * 1000000000 / width) * width - (int64_t)(hours * 3600e9);
	n_copies = (int64_t)(hours * 3600e9) / chunk;
	copts.bucket_ns = width;
	copts.wall_offset_ns = day_start - first;
	r = pps_reader_open(argv[1], &ordered);
	c = r ? pps_convert_new(&copts) : NULL;
	if (!c || pps_convert_run(c, r)) {
		fprintf(stderr, "pps-storegen: %s: conversion failed\n", argv[1]);
		goto out_conv;
	}
	n = pps_convert_nr_profiles(c);
	copy = calloc(n + 1, sizeof(*copy));
	types = calloc(n + 1, sizeof(*types));
	if (!copy || !types)
		goto out_conv;
	for (size_t i = 0; i < n; i++) {
		types[i] = pps_convert_profile(c, i)->type;
		samples += (int64_t)pps_convert_profile(c, i)->nr_samples;
	}
	for (int64_t k = 0; k < n_copies; k++) {
		bool ok = true;

		for (size_t i = 0; i < n; i++) {
			copy[i] = shifted(pps_convert_profile(c, i)->profile, k * chunk);
			ok &= copy[i] != NULL;
		}
		snprintf(path, sizeof(path), "%s#%" PRId64, argv[1], k);
		src.path = path;
		src.size = size;
		src.content_hash = hash ^ (uint64_t)(k + 1) * 0x9e3779b97f4a7c15ull;
		t0 = now_s();
		if (ok && pps_store_ingest(s, &src, types, copy, n)) {
			fprintf(stderr, "pps-storegen: storing copy %" PRId64 " failed\n", k);
			ok = false;
		}
		t_store += now_s() - t0;
		for (size_t i = 0; i < n; i++)
			pps_profile_free(copy[i]);
		if (!ok)
			goto out_conv;
		if (k % 500 == 499)
			fprintf(stderr, "pps-storegen: %" PRId64 " of %" PRId64 " copies\n", k + 1,
				n_copies);
	}
	printf("bucket_ns=%" PRId64 "\nchunk_ns=%" PRId64 "\ncopies=%" PRId64
	       "\nday_start_ns=%" PRId64 "\nday_end_ns=%" PRId64 "\nperf_samples=%" PRId64
	       "\nperf_bytes=%" PRId64 "\nstore_seconds=%.3f\n",
	       width, chunk, n_copies, day_start, day_start + n_copies * chunk, samples * n_copies,
	       (int64_t)size * n_copies, t_store);
	ret = 0;
out_conv:
	free(types);
	free(copy);
	pps_convert_free(c);
	pps_reader_free(r);
out_store:
	pps_store_close(s);
	return ret;
}
