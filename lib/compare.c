/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_compare: the regression gate's tallies, tests and reports (pprofstore/compare.h).
 *
 * Facts that shaped it:
 * - A run is one profile: thousands of distinct stacks over a few thousand functions; a
 *   side has one to a few dozen runs. Each run keeps its tallies sparse, (function, flat,
 *   cum) for the functions it has; they are spread into a function x run matrix only to
 *   test.
 * - Functions are matched across runs and builds by name: addresses move between builds
 *   and between runs (ASLR), names do not.
 * - The decision rule lives in lib/internal/stats.h and the header of pprofstore/compare.h;
 *   the reports repeat it, so a CI log says why a build failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pprofstore/compare.h>

#include "internal/stats.h"
#include "internal/util.h"

/* One run's tallies, sparse: the functions with cum > 0. */
struct run {
	enum pps_compare_side side;
	int64_t total; /* the run's samples (sum of the value) */
	size_t n;
	uint32_t *fn; /* function indices */
	int64_t *flat;
	int64_t *cum;
};

struct pps_compare {
	char **names;	  /* function names, by index */
	uint64_t *hashes; /* of the names */
	size_t nr_fns, fns_cap;
	uint32_t *slots; /* open addressing over names: index + 1, 0 empty; 2 * nr_fns <= cap */
	size_t slots_cap;
	struct run *runs;
	size_t nr_runs, runs_cap;
	struct pps_compare_row *rows; /* of the last run, sorted */
	size_t nr_rows;
	struct pps_compare_summary summary;
	bool done; /* rows and summary are those of the current runs */
};

/* ---- functions by name ---------------------------------------------------------------- */

static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static int grow_slots(struct pps_compare *c)
{
	size_t cap = c->slots_cap ? c->slots_cap * 2 : 256;
	uint32_t *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t k = 0; k < c->nr_fns; k++) {
		size_t i = c->hashes[k] & (cap - 1);

		while (slots[i])
			i = (i + 1) & (cap - 1);
		slots[i] = (uint32_t)k + 1;
	}
	free(c->slots);
	c->slots = slots;
	c->slots_cap = cap;
	return 0;
}

/* The index of name (added when new) in *idx. Returns 0 or -ENOMEM. */
static int intern(struct pps_compare *c, const char *name, uint32_t *idx)
{
	uint64_t h = name_hash(name);
	size_t i;
	char *copy;

	if ((c->nr_fns + 1) * 2 > c->slots_cap && grow_slots(c))
		return -ENOMEM;
	for (i = h & (c->slots_cap - 1); c->slots[i]; i = (i + 1) & (c->slots_cap - 1)) {
		uint32_t k = c->slots[i] - 1;

		if (c->hashes[k] == h && !strcmp(c->names[k], name)) {
			*idx = k;
			return 0;
		}
	}
	if (c->nr_fns >= UINT32_MAX - 1)
		return -ENOMEM;
	if (c->nr_fns == c->fns_cap) {
		size_t cap = c->fns_cap ? c->fns_cap * 2 : 256;
		char **names = realloc(c->names, cap * sizeof(*names));
		uint64_t *hashes;

		if (!names)
			return -ENOMEM;
		c->names = names;
		hashes = realloc(c->hashes, cap * sizeof(*hashes));
		if (!hashes)
			return -ENOMEM;
		c->hashes = hashes;
		c->fns_cap = cap;
	}
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	c->names[c->nr_fns] = copy;
	c->hashes[c->nr_fns] = h;
	c->slots[i] = (uint32_t)c->nr_fns + 1;
	*idx = (uint32_t)c->nr_fns++;
	return 0;
}

/* ---- runs ----------------------------------------------------------------------------- */

PPS_API struct pps_compare *pps_compare_new(void)
{
	return calloc(1, sizeof(struct pps_compare));
}

static void run_release(struct run *r)
{
	free(r->fn);
	free(r->flat);
	free(r->cum);
}

PPS_API void pps_compare_free(struct pps_compare *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nr_fns; i++)
		free(c->names[i]);
	for (size_t i = 0; i < c->nr_runs; i++)
		run_release(&c->runs[i]);
	free(c->names);
	free(c->hashes);
	free(c->slots);
	free(c->runs);
	free(c->rows);
	free(c);
}

/*
 * Appends a run from dense tallies over the first nr_fns functions (flat[k], cum[k]): only
 * the functions with cum > 0 are kept. Returns 0 or -ENOMEM.
 */
static int add_dense_run(struct pps_compare *c, enum pps_compare_side side, int64_t total,
			 const int64_t *flat, const int64_t *cum, size_t nr_fns)
{
	struct run r = {.side = side, .total = total};
	size_t n = 0;
	int err = -ENOMEM;

	for (size_t k = 0; k < nr_fns; k++)
		n += cum[k] > 0;
	if (c->nr_runs == c->runs_cap) {
		size_t cap = c->runs_cap ? c->runs_cap * 2 : 16;
		struct run *runs = realloc(c->runs, cap * sizeof(*runs));

		if (!runs)
			return -ENOMEM;
		c->runs = runs;
		c->runs_cap = cap;
	}
	r.fn = malloc((n ? n : 1) * sizeof(*r.fn));
	r.flat = malloc((n ? n : 1) * sizeof(*r.flat));
	r.cum = malloc((n ? n : 1) * sizeof(*r.cum));
	if (!r.fn || !r.flat || !r.cum)
		goto out_release;
	for (size_t k = 0; k < nr_fns; k++) {
		if (cum[k] <= 0)
			continue;
		r.fn[r.n] = (uint32_t)k;
		r.flat[r.n] = flat[k];
		r.cum[r.n++] = cum[k];
	}
	c->runs[c->nr_runs++] = r;
	c->done = false;
	return 0;

out_release:
	run_release(&r);
	return err;
}

/* The name a location's line counts under: its function's, else the mapping's file. */
static const char *frame_name(const struct pps_profile *p, uint64_t mapping_id,
			      const struct pps_line *line, char *buf, size_t size)
{
	const char *name = "", *sys, *file, *base;
	struct pps_mapping_info m;
	int64_t start;

	if (line && !pps_profile_get_function(p, line->function_id, &name, &sys, &file, &start) &&
	    *name)
		return name;
	if (!mapping_id || pps_profile_get_mapping(p, mapping_id, &m) || !*m.file)
		return "[unknown]";
	if (*m.file == '[')
		return m.file; /* [vdso], [kernel.kallsyms]: already perf's bracketed names */
	base = strrchr(m.file, '/');
	snprintf(buf, size, "[%s]", base ? base + 1 : m.file);
	return buf;
}

/*
 * The function indices of every location of p, innermost line first: location id l has
 * fns[off[l]] to fns[off[l + 1] - 1], always at least one. Returns 0, -EINVAL or -ENOMEM;
 * the caller frees *fns and *off.
 */
static int location_functions(struct pps_compare *c, const struct pps_profile *p,
			      uint32_t **fns_out, size_t **off_out)
{
	size_t nr_locs = pps_profile_nr_locations(p), nr = 0, cap = 0;
	uint32_t *fns = NULL;
	size_t *off = calloc(nr_locs + 2, sizeof(*off));
	int err = off ? 0 : -ENOMEM;
	char buf[512];

	for (uint64_t l = 1; l <= nr_locs && !err; l++) {
		const struct pps_line *lines;
		size_t nr_lines;
		uint64_t mapping_id, address;

		off[l] = nr;
		err = pps_profile_get_location(p, l, &mapping_id, &address, &lines, &nr_lines);
		for (size_t j = 0; j < (nr_lines ? nr_lines : 1) && !err; j++) {
			const char *name = frame_name(p, mapping_id, nr_lines ? &lines[j] : NULL,
						      buf, sizeof(buf));

			if (nr == cap) {
				size_t ncap = cap ? cap * 2 : 1024;
				uint32_t *nf = realloc(fns, ncap * sizeof(*fns));

				if (!nf) {
					err = -ENOMEM;
					break;
				}
				fns = nf;
				cap = ncap;
			}
			err = intern(c, name, &fns[nr]);
			nr += !err;
		}
	}
	if (!err)
		off[nr_locs + 1] = nr;
	if (err) {
		free(fns);
		free(off);
		return err;
	}
	*fns_out = fns;
	*off_out = off;
	return 0;
}

PPS_API int pps_compare_add_profile(struct pps_compare *c, enum pps_compare_side side,
				    const struct pps_profile *p, size_t value_index)
{
	size_t nr_samples, nr_locs, *off = NULL, *stamp = NULL;
	int64_t *flat = NULL, *cum = NULL, total = 0;
	uint32_t *fns = NULL;
	int err;

	if (!c || !p || (side != PPS_COMPARE_BASE && side != PPS_COMPARE_HEAD) ||
	    value_index >= pps_profile_nr_sample_types(p))
		return -EINVAL;
	nr_samples = pps_profile_nr_samples(p);
	nr_locs = pps_profile_nr_locations(p);
	err = location_functions(c, p, &fns, &off);
	if (err)
		return err;
	/* Every function of p is interned now: the dense tallies do not grow below. */
	flat = calloc(c->nr_fns + 1, sizeof(*flat));
	cum = calloc(c->nr_fns + 1, sizeof(*cum));
	stamp = calloc(c->nr_fns + 1, sizeof(*stamp));
	if (!flat || !cum || !stamp) {
		err = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < nr_samples && !err; i++) {
		const uint64_t *locs;
		const int64_t *values;
		size_t n;
		int64_t v;

		err = pps_profile_get_sample(p, i, &locs, &n, &values);
		if (err)
			break;
		v = values[value_index];
		if (v < 0 || __builtin_add_overflow(total, v, &total)) {
			err = -EINVAL;
			break;
		}
		for (size_t j = 0; j < n && !err; j++) {
			if (!locs[j] || locs[j] > nr_locs) {
				err = -EINVAL;
				break;
			}
			if (j == 0)
				flat[fns[off[locs[0]]]] += v;
			/* Each function once per sample, however often it recurs on the stack. */
			for (size_t k = off[locs[j]]; k < off[locs[j] + 1]; k++) {
				if (stamp[fns[k]] == i + 1)
					continue;
				stamp[fns[k]] = i + 1;
				cum[fns[k]] += v;
			}
		}
	}
	if (!err && total > 0)
		err = add_dense_run(c, side, total, flat, cum, c->nr_fns);
out_free:
	free(stamp);
	free(cum);
	free(flat);
	free(off);
	free(fns);
	return err;
}

PPS_API int pps_compare_add_run(struct pps_compare *c, enum pps_compare_side side, int64_t total,
				const struct pps_compare_count *counts, size_t n)
{
	int64_t *flat = NULL, *cum = NULL;
	uint32_t *idx = NULL;
	int err = -EINVAL;

	if (!c || (side != PPS_COMPARE_BASE && side != PPS_COMPARE_HEAD) || total <= 0 ||
	    (n && !counts))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!counts[i].function || counts[i].flat < 0 || counts[i].flat > counts[i].cum ||
		    counts[i].cum > total)
			return -EINVAL;
	idx = malloc((n ? n : 1) * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		err = intern(c, counts[i].function, &idx[i]);
		if (err)
			goto out_free;
	}
	err = -ENOMEM;
	flat = calloc(c->nr_fns + 1, sizeof(*flat));
	cum = calloc(c->nr_fns + 1, sizeof(*cum));
	if (!flat || !cum)
		goto out_free;
	err = 0;
	for (size_t i = 0; i < n && !err; i++) {
		if (cum[idx[i]] || flat[idx[i]]) {
			err = -EINVAL; /* named twice */
			break;
		}
		flat[idx[i]] = counts[i].flat;
		/* cum 0 with flat 0 is a function that was not there; keep it out. */
		cum[idx[i]] = counts[i].cum;
	}
	if (!err)
		err = add_dense_run(c, side, total, flat, cum, c->nr_fns);
out_free:
	free(cum);
	free(flat);
	free(idx);
	return err;
}

/* ---- tests ---------------------------------------------------------------------------- */

/* Whether a change is beyond the threshold, in its own direction. */
static bool beyond(const struct pps_compare_stat *s, const struct pps_compare_opts *o)
{
	double d = fabs(s->change);

	if (s->change == 0)
		return false;
	if (o->threshold_abs)
		return d > o->threshold;
	return s->base > 0 ? d / s->base > o->threshold : true;
}

static int row_class(const struct pps_compare_row *r)
{
	if (r->flat.verdict == PPS_VERDICT_REGRESSED || r->cum.verdict == PPS_VERDICT_REGRESSED)
		return 0;
	if (r->flat.verdict == PPS_VERDICT_IMPROVED || r->cum.verdict == PPS_VERDICT_IMPROVED)
		return 1;
	return 2;
}

/* The relative change that ranks a flagged row: the larger of its flagged metrics'. */
static double row_rank(const struct pps_compare_row *r, enum pps_compare_verdict v)
{
	double x = -INFINITY;

	if (r->flat.verdict == v)
		x = fabs(r->flat.rel_change);
	if (r->cum.verdict == v && fabs(r->cum.rel_change) > x)
		x = fabs(r->cum.rel_change);
	return x;
}

static int row_cmp(const void *a, const void *b)
{
	const struct pps_compare_row *x = a, *y = b;
	int cx = row_class(x), cy = row_class(y);
	double kx, ky;

	if (cx != cy)
		return cx < cy ? -1 : 1;
	if (cx < 2) {
		kx = row_rank(x, cx == 0 ? PPS_VERDICT_REGRESSED : PPS_VERDICT_IMPROVED);
		ky = row_rank(y, cx == 0 ? PPS_VERDICT_REGRESSED : PPS_VERDICT_IMPROVED);
	} else {
		kx = fmax(x->flat.head, x->flat.base);
		ky = fmax(y->flat.head, y->flat.base);
		if (kx == ky) {
			kx = fmax(x->cum.head, x->cum.base);
			ky = fmax(y->cum.head, y->cum.base);
		}
	}
	if (kx != ky)
		return kx > ky ? -1 : 1;
	return strcmp(x->function, y->function);
}

static int check_opts(const struct pps_compare_opts *opts, struct pps_compare_opts *o)
{
	if (!opts || opts->sz < offsetof(struct pps_compare_opts, alpha) + sizeof(double))
		return -EINVAL;
	memset(o, 0, sizeof(*o));
	memcpy(o, opts, opts->sz < sizeof(*o) ? opts->sz : sizeof(*o));
	o->sz = sizeof(*o);
	/* A newer caller's extra fields must be zero: we would ignore them (libbpf's
	 * OPTS_VALID). */
	for (size_t i = sizeof(*o); i < opts->sz; i++)
		if (((const unsigned char *)opts)[i])
			return -EINVAL;
	if (!isfinite(o->threshold) || o->threshold < 0 || !(o->min_share >= 0) ||
	    !(o->min_share <= 1) || !(o->alpha > 0) || !(o->alpha < 1))
		return -EINVAL;
	return 0;
}

/* Which metric of a row a test index is: test k is row k / 2, flat for even k. */
static struct pps_compare_stat *test_stat(struct pps_compare_row *rows, size_t k)
{
	return k % 2 ? &rows[k / 2].cum : &rows[k / 2].flat;
}

/* Tests one metric of function f; the counts of its runs are mat's column m. */
static int test_metric(const int64_t *mat, size_t f, int m, size_t nr_runs, const size_t n[2],
		       const int64_t *totals, int64_t *scratch, const struct pps_compare_opts *o,
		       struct pps_compare_stat *st)
{
	struct pps_stats_side base, head;
	struct pps_stats_result res;
	int err;

	for (size_t j = 0; j < nr_runs; j++)
		scratch[j] = mat[(f * nr_runs + j) * 2 + (size_t)m];
	base = (struct pps_stats_side){scratch, totals, n[0]};
	head = (struct pps_stats_side){scratch + n[0], totals + n[0], n[1]};
	err = pps_stats_compare(&base, &head, &res);
	if (err)
		return err;
	st->base = res.base;
	st->head = res.head;
	st->change = res.head - res.base;
	if (res.base > 0)
		st->rel_change = st->change / res.base;
	else
		st->rel_change = st->change > 0 ? INFINITY : 0;
	st->t = res.t;
	st->df = res.df;
	st->p_up = res.p_up;
	st->p_down = res.p_down;
	st->significant = false;
	st->verdict = fmax(res.base, res.head) >= o->min_share && fmax(res.base, res.head) > 0
			  ? PPS_VERDICT_SAME
			  : PPS_VERDICT_UNTESTED;
	return 0;
}

PPS_API int pps_compare_run(struct pps_compare *c, const struct pps_compare_opts *opts)
{
	size_t nr_runs, n[2] = {0, 0}, col[2], nr_tests = 0, nr_rows = 0, cap;
	size_t *order = NULL, *which = NULL;
	int64_t *mat = NULL, *totals = NULL, *scratch = NULL;
	struct pps_compare_row *rows = NULL;
	double *p_up = NULL, *p_down = NULL;
	bool *sig_up = NULL, *sig_down = NULL;
	struct pps_compare_summary sum = {0};
	struct pps_compare_opts o;
	int err;

	if (!c)
		return -EINVAL;
	err = check_opts(opts, &o);
	if (err)
		return err;
	nr_runs = c->nr_runs;
	for (size_t r = 0; r < nr_runs; r++)
		n[c->runs[r].side]++;
	if (!n[0] || !n[1])
		return -ENODATA;
	err = -ENOMEM;
	/* Two int64 (flat, cum) per (function, run), base's runs in the first columns. */
	if (c->nr_fns > SIZE_MAX / 4 / nr_runs / sizeof(*mat))
		goto out_free;
	cap = 2 * c->nr_fns + 1; /* tests: flat and cum of each function */
	mat = calloc(c->nr_fns * nr_runs * 2 + 1, sizeof(*mat));
	totals = malloc(nr_runs * sizeof(*totals));
	scratch = malloc(nr_runs * sizeof(*scratch));
	rows = calloc(c->nr_fns + 1, sizeof(*rows));
	p_up = malloc(cap * sizeof(*p_up));
	p_down = malloc(cap * sizeof(*p_down));
	sig_up = malloc(cap * sizeof(*sig_up));
	sig_down = malloc(cap * sizeof(*sig_down));
	order = malloc(cap * sizeof(*order));
	which = malloc(cap * sizeof(*which));
	if (!mat || !totals || !scratch || !rows || !p_up || !p_down || !sig_up || !sig_down ||
	    !order || !which)
		goto out_free;
	col[0] = 0;
	col[1] = n[0];
	for (size_t r = 0; r < nr_runs; r++) {
		const struct run *run = &c->runs[r];
		size_t j = col[run->side]++;

		totals[j] = run->total;
		sum.samples[run->side] += run->total;
		for (size_t i = 0; i < run->n; i++) {
			mat[(run->fn[i] * nr_runs + j) * 2] = run->flat[i];
			mat[(run->fn[i] * nr_runs + j) * 2 + 1] = run->cum[i];
		}
	}
	err = 0;
	for (size_t f = 0; f < c->nr_fns && !err; f++) {
		struct pps_compare_row *row = &rows[nr_rows];
		bool present = false;

		for (size_t j = 0; j < nr_runs; j++)
			present |= mat[(f * nr_runs + j) * 2 + 1] > 0;
		if (!present)
			continue; /* interned by an add that failed */
		row->function = c->names[f];
		err = test_metric(mat, f, 0, nr_runs, n, totals, scratch, &o, &row->flat);
		err = err ?: test_metric(mat, f, 1, nr_runs, n, totals, scratch, &o, &row->cum);
		nr_rows++;
	}
	if (err)
		goto out_free;
	/* Holm over the tested metrics, once for "grew" and once for "shrank". */
	for (size_t k = 0; k < 2 * nr_rows; k++) {
		const struct pps_compare_stat *st = test_stat(rows, k);

		if (st->verdict == PPS_VERDICT_UNTESTED)
			continue;
		which[nr_tests] = k;
		p_up[nr_tests] = st->p_up;
		p_down[nr_tests++] = st->p_down;
	}
	pps_stats_holm(p_up, nr_tests, o.alpha, order, sig_up);
	pps_stats_holm(p_down, nr_tests, o.alpha, order, sig_down);
	for (size_t t = 0; t < nr_tests; t++) {
		struct pps_compare_stat *st = test_stat(rows, which[t]);

		st->significant = st->change > 0 ? sig_up[t] : st->change < 0 && sig_down[t];
		if (st->significant && beyond(st, &o))
			st->verdict = st->change > 0 ? PPS_VERDICT_REGRESSED : PPS_VERDICT_IMPROVED;
	}
	for (size_t i = 0; i < nr_rows; i++) {
		int cls = row_class(&rows[i]);

		sum.nr_regressed += cls == 0;
		sum.nr_improved += cls == 1;
	}
	qsort(rows, nr_rows, sizeof(*rows), row_cmp);
	sum.runs[0] = n[0];
	sum.runs[1] = n[1];
	sum.welch = n[0] >= 2 && n[1] >= 2;
	sum.nr_tests = nr_tests;
	sum.opts = o;
	free(c->rows);
	c->rows = rows;
	rows = NULL;
	c->nr_rows = nr_rows;
	c->summary = sum;
	c->done = true;
	err = sum.nr_regressed < INT32_MAX ? (int)sum.nr_regressed : INT32_MAX;
out_free:
	free(which);
	free(order);
	free(sig_down);
	free(sig_up);
	free(p_down);
	free(p_up);
	free(rows);
	free(scratch);
	free(totals);
	free(mat);
	return err;
}

PPS_API const struct pps_compare_summary *pps_compare_summary(const struct pps_compare *c)
{
	return c && c->done ? &c->summary : NULL;
}

PPS_API size_t pps_compare_nr_rows(const struct pps_compare *c)
{
	return c && c->done ? c->nr_rows : 0;
}

PPS_API const struct pps_compare_row *pps_compare_row(const struct pps_compare *c, size_t i)
{
	return c && c->done && i < c->nr_rows ? &c->rows[i] : NULL;
}
