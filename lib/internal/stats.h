/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The statistics behind pprofstore compare: tail probabilities of the normal and Student
 * t distributions, the two tests the regression gate uses on per-run shares of samples,
 * and Holm's correction for testing many functions at once.
 *
 * A function's share of a run's samples is a proportion. Over one run per side only
 * sampling (binomial) noise can be estimated; over several runs the run-to-run spread is
 * measured too, and on a shared machine it is usually the larger part.
 */
#ifndef PPS_INTERNAL_STATS_H
#define PPS_INTERNAL_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* P(Z > z) for a standard normal Z. */
double pps_stats_normal_sf(double z);

/* The regularized incomplete beta function I_x(a, b), a, b > 0, x in [0, 1]; NaN outside. */
double pps_stats_beta_inc(double a, double b, double x);

/* P(T > t) for Student's t with df > 0 degrees of freedom (df may be fractional, as Welch's
 * is; INFINITY gives the normal). NaN for df <= 0 or a NaN argument. */
double pps_stats_t_sf(double t, double df);

/* One side of a comparison: a function's count in each run, and each run's total. */
struct pps_stats_side {
	const int64_t *counts; /* of the function (flat or cum) */
	const int64_t *totals; /* of the run, > 0 */
	size_t n;	       /* runs, >= 1 */
};

/* What a test found for head against base. */
struct pps_stats_result {
	double base, head; /* mean per-run share */
	double se;	   /* standard error of head - base */
	double t;	   /* (head - base) / se; 0 when se is 0 */
	double df;	   /* degrees of freedom; INFINITY for the normal */
	double p_up;	   /* one-sided p-value of "head's share is larger" */
	double p_down;	   /* one-sided p-value of "head's share is smaller" */
	bool welch;	   /* Welch's t-test (else the two-proportion z-test) */
};

/*
 * Compares a function's share in head with base. With at least two runs on both sides:
 * Welch's t-test over the per-run shares, each side's variance of its mean at least the
 * binomial variance of the pooled share (so runs that happen to agree closely never claim
 * less noise than sampling alone gives), with Welch-Satterthwaite degrees of freedom.
 * Otherwise: the two-proportion z-test with the pooled share under the null hypothesis.
 * Returns 0, or -EINVAL for an empty side, a total <= 0 or a count outside [0, total].
 */
int pps_stats_compare(const struct pps_stats_side *base, const struct pps_stats_side *head,
		      struct pps_stats_result *out);

/*
 * Holm's step-down correction: sets significant[i] for the hypotheses rejected at
 * family-wise error rate alpha among the n p-values (NaN counts as 1). order is scratch
 * space for n indices. Holm controls the family-wise rate as Bonferroni does, and rejects
 * at least as much.
 */
void pps_stats_holm(const double *p, size_t n, double alpha, size_t *order, bool *significant);

#endif /* PPS_INTERNAL_STATS_H */
