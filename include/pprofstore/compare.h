/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Comparing two sets of profiles, base and head: the diff profile that pprof shows as a
 * diff (pps_profile_diff), and the regression gate (struct pps_compare).
 *
 * The gate works on per-run, per-function tallies: for each run (one stored source, or any
 * one profile) the samples whose leaf is the function (flat) and the samples with the
 * function anywhere on the stack (cum, counted once per sample), out of the run's samples.
 * A function's share is its tally over the run's total. For each function and each of flat
 * and cum, head's mean share is tested against base's (lib/internal/stats.h):
 *
 * - one run on either side: the two-proportion z-test on the sample counts, which knows
 *   only sampling noise;
 * - at least two runs on both sides: Welch's t-test over the per-run shares, whose
 *   variance is the measured run-to-run variance (never below the binomial one).
 *
 * Only functions whose share (flat, or cum) is at least min_share on one side are tested,
 * and Holm's correction over all those tests holds the chance of any false alarm in a
 * comparison to alpha. A function has regressed when its share grew, significantly, and by
 * more than the threshold; improved, the same way down.
 *
 * Functions are identified by name, as pprof -top shows them: the innermost line of a
 * location is its own function (inlined functions count), and a location without lines
 * counts as "[FILE]" (the base name of its mapping's file) or "[unknown]".
 */
#ifndef PPROFSTORE_COMPARE_H
#define PPROFSTORE_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <pprofstore/profile.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The label pprof puts on the base's samples of a diff (internal/driver/fetch.go). */
#define PPS_DIFF_BASE_LABEL "pprof::base"

/*
 * The profile `pprof -diff_base BASE HEAD` builds and shows: head's samples as they are,
 * and base's with every value negated and the string label pprof::base=true (replacing
 * any pprof::base string label they had), merged as pprof merges [head, base]: samples
 * with the same stack and labels summed, samples whose values are all zero dropped,
 * time_nanos head's unless base's is smaller or head's is zero, duration_nanos the sum,
 * period the larger, each distinct comment once, the default sample type head's (else
 * base's). Both must have the same sample types and period type. Returns a new profile
 * (free with pps_profile_free()), or NULL with errno: EINVAL (incompatible profiles),
 * ENOMEM.
 */
struct pps_profile *pps_profile_diff(const struct pps_profile *base,
				     const struct pps_profile *head);

enum pps_compare_side {
	PPS_COMPARE_BASE = 0,
	PPS_COMPARE_HEAD = 1,
};

/* A run's tally of one function, for pps_compare_add_run(). */
struct pps_compare_count {
	const char *function; /* copied */
	int64_t flat;	      /* samples with the function as leaf */
	int64_t cum;	      /* samples with the function on the stack, >= flat */
};

struct pps_compare_opts {
	size_t sz; /* sizeof(struct pps_compare_opts) */
	/* The smallest change that counts: relative to base's share (0.05: 5%), or with
	 * threshold_abs, in share (0.005: half a percentage point). >= 0. */
	double threshold;
	bool threshold_abs;
	/* Functions tested: share (flat, or cum) >= min_share in base or head. [0, 1]. */
	double min_share;
	/* The family-wise error rate: the chance that a comparison of identical builds
	 * flags any function, sampling and measured run-to-run noise being what they are.
	 * (0, 1). */
	double alpha;
};

/* The defaults: 5% relative threshold, 1% minimum share, alpha 0.01. Change a field by
 * assigning it after the declaration (initializing it twice would warn). */
#define PPS_COMPARE_OPTS(name)                                                                     \
	struct pps_compare_opts name = {.sz = sizeof(struct pps_compare_opts),                     \
					.threshold = 0.05,                                         \
					.min_share = 0.01,                                         \
					.alpha = 0.01}

enum pps_compare_verdict {
	PPS_VERDICT_UNTESTED,  /* below min_share on both sides */
	PPS_VERDICT_SAME,      /* tested; no significant change beyond the threshold */
	PPS_VERDICT_REGRESSED, /* grew significantly and by more than the threshold */
	PPS_VERDICT_IMPROVED,  /* shrank significantly and by more than the threshold */
};

/* One function's flat or cum share in base and head, and the test. */
struct pps_compare_stat {
	double base, head; /* mean per-run share, in [0, 1] */
	double change;	   /* head - base */
	double rel_change; /* (head - base) / base; INFINITY when base is 0 */
	double t, df;	   /* the statistic; df INFINITY for the z-test */
	double p_up;	   /* one-sided p-value of "grew" */
	double p_down;	   /* one-sided p-value of "shrank" */
	bool significant;  /* after Holm's correction, in the direction of the change */
	enum pps_compare_verdict verdict;
};

struct pps_compare_row {
	const char *function;
	struct pps_compare_stat flat, cum;
};

/* A whole comparison's outcome. */
struct pps_compare_summary {
	size_t runs[2];		      /* per side (enum pps_compare_side) */
	int64_t samples[2];	      /* sum of the runs' totals */
	bool welch;		      /* Welch's t-test (else the z-test) */
	size_t nr_tests;	      /* (function, flat or cum) pairs tested */
	size_t nr_regressed;	      /* functions with a regressed flat or cum */
	size_t nr_improved;	      /* functions with an improved flat or cum, none regressed */
	struct pps_compare_opts opts; /* as used */
};

struct pps_compare;

/* A new, empty comparison; NULL with errno ENOMEM. Free with pps_compare_free(). */
struct pps_compare *pps_compare_new(void);
/* Accepts NULL. */
void pps_compare_free(struct pps_compare *c);

/*
 * Adds one run to a side: its flat and cum tally of every function from sample value
 * value_index of p (0: the first sample type, samples/count in a cpu profile). A sample
 * without a stack counts in the total only. A profile without samples adds no run
 * (returns 0). Returns 0, -EINVAL (value_index out of range, a negative value), -ENOMEM.
 */
int pps_compare_add_profile(struct pps_compare *c, enum pps_compare_side side,
			    const struct pps_profile *p, size_t value_index);
/*
 * Adds one run given as tallies: total samples (> 0) and n function counts (a function
 * named twice is -EINVAL). Returns 0, -EINVAL (total <= 0, counts outside [0, total],
 * flat > cum), -ENOMEM.
 */
int pps_compare_add_run(struct pps_compare *c, enum pps_compare_side side, int64_t total,
			const struct pps_compare_count *counts, size_t n);

/*
 * Tests every function (see the top of this file) and sorts the rows: regressions first
 * (by relative change, largest first), then improvements, then the other functions by
 * head's flat share. Can be run again with other options. Returns the number of regressed
 * functions, -EINVAL (options out of range), -ENODATA (a side without runs), -ENOMEM.
 */
int pps_compare_run(struct pps_compare *c, const struct pps_compare_opts *opts);

/* After pps_compare_run(): the summary, and row i of pps_compare_nr_rows() (NULL when out
 * of range). Valid until the next add, run or free. */
const struct pps_compare_summary *pps_compare_summary(const struct pps_compare *c);
size_t pps_compare_nr_rows(const struct pps_compare *c);
const struct pps_compare_row *pps_compare_row(const struct pps_compare *c, size_t i);

enum pps_compare_format {
	PPS_COMPARE_TEXT,     /* aligned columns, for a terminal or a log */
	PPS_COMPARE_MARKDOWN, /* a heading, the rule, and a table, for a CI job summary */
	PPS_COMPARE_JSON,     /* one object, every row, for scripts */
};

/* What the report says about where the two sides came from. Strings may be NULL. */
struct pps_compare_report {
	const char *type; /* the profile type */
	const char *base; /* how base was selected */
	const char *head;
	size_t max_rows; /* text and markdown: rows after the flagged ones; 0: 20 */
};

/*
 * Writes the report of the last pps_compare_run() to f. Text and markdown show every
 * regressed and improved function, then the largest others up to max_rows; JSON has every
 * tested row. Returns 0, -EINVAL (not run yet, unknown format), -EIO (write error).
 */
int pps_compare_write(const struct pps_compare *c, const struct pps_compare_report *r,
		      enum pps_compare_format format, FILE *f);

#ifdef __cplusplus
}
#endif
#endif /* PPROFSTORE_COMPARE_H */
