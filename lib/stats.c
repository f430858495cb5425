/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Distributions and tests for the regression gate (lib/internal/stats.h).
 *
 * Facts that shaped it:
 * - A gate compares tens to a few hundred functions, with one to a few dozen runs a side,
 *   so nothing here needs to be fast; it needs to be right in the far tails, where Holm's
 *   thresholds (alpha / number of tests) put the decision: the t tail comes from the
 *   incomplete beta function, not from a normal approximation.
 * - Welch's degrees of freedom are fractional, so the t distribution is evaluated for any
 *   real df > 0.
 * - perf's cpu-clock samples a thread at a fixed period, so a share's sampling noise is
 *   usually a little below the binomial's; the binomial variance is a safe upper bound
 *   for it, and the floor under measured run-to-run variance.
 */
#include <math.h>

#include "internal/stats.h"
#include "internal/util.h"

double pps_stats_normal_sf(double z)
{
	return 0.5 * erfc(z / sqrt(2.0));
}

/* The continued fraction of I_x(a, b) (modified Lentz), for x < (a + 1) / (a + b + 2). */
static double beta_cf(double a, double b, double x)
{
	static const double tiny = 1e-300, eps = 1e-15;
	double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0), h;

	if (fabs(d) < tiny)
		d = tiny;
	d = 1.0 / d;
	h = d;
	for (int m = 1; m <= 1000; m++) {
		double aa = m * (b - m) * x / ((a - 1.0 + 2 * m) * (a + 2 * m)), del;

		d = 1.0 + aa * d;
		d = fabs(d) < tiny ? tiny : d;
		c = 1.0 + aa / c;
		c = fabs(c) < tiny ? tiny : c;
		d = 1.0 / d;
		h *= d * c;
		aa = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1.0 + 2 * m));
		d = 1.0 + aa * d;
		d = fabs(d) < tiny ? tiny : d;
		c = 1.0 + aa / c;
		c = fabs(c) < tiny ? tiny : c;
		d = 1.0 / d;
		del = d * c;
		h *= del;
		if (fabs(del - 1.0) < eps)
			break;
	}
	return h;
}

double pps_stats_beta_inc(double a, double b, double x)
{
	double front;

	if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1))
		return NAN;
	if (x == 0 || x == 1)
		return x;
	front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
	if (x < (a + 1.0) / (a + b + 2.0))
		return front * beta_cf(a, b, x) / a;
	return 1.0 - front * beta_cf(b, a, 1.0 - x) / b;
}

double pps_stats_t_sf(double t, double df)
{
	double tail;

	if (isnan(t) || isnan(df) || !(df > 0))
		return NAN;
	if (isinf(df) || df > 1e7)
		return pps_stats_normal_sf(t);
	if (isinf(t))
		return t > 0 ? 0.0 : 1.0;
	/* P(|T| > |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2); written with t^2 / df so that a
	 * huge t does not round df / (df + t^2) to 0 early. */
	tail = 0.5 * pps_stats_beta_inc(df / 2.0, 0.5, 1.0 / (1.0 + t * t / df));
	return t >= 0 ? tail : 1.0 - tail;
}

/* Mean per-run share of a side, and the sum of 1/total (for the binomial variance). */
static int side_stats(const struct pps_stats_side *s, double *mean, double *inv_total_sum,
		      int64_t *count_sum, int64_t *total_sum)
{
	double sum = 0, inv = 0;
	int64_t c = 0, t = 0;

	if (!s || !s->n || !s->counts || !s->totals)
		return -EINVAL;
	for (size_t i = 0; i < s->n; i++) {
		if (s->totals[i] <= 0 || s->counts[i] < 0 || s->counts[i] > s->totals[i])
			return -EINVAL;
		sum += (double)s->counts[i] / (double)s->totals[i];
		inv += 1.0 / (double)s->totals[i];
		if (__builtin_add_overflow(c, s->counts[i], &c) ||
		    __builtin_add_overflow(t, s->totals[i], &t))
			return -EINVAL;
	}
	*mean = sum / (double)s->n;
	*inv_total_sum = inv;
	*count_sum = c;
	*total_sum = t;
	return 0;
}

/* Sample variance of the per-run shares around mean (n >= 2). */
static double share_variance(const struct pps_stats_side *s, double mean)
{
	double ss = 0;

	for (size_t i = 0; i < s->n; i++) {
		double d = (double)s->counts[i] / (double)s->totals[i] - mean;

		ss += d * d;
	}
	return ss / (double)(s->n - 1);
}

int pps_stats_compare(const struct pps_stats_side *base, const struct pps_stats_side *head,
		      struct pps_stats_result *out)
{
	double mean[2], inv[2], floor_var[2], p0, pq, diff;
	const struct pps_stats_side *side[2] = {base, head};
	int64_t counts[2], totals[2];
	struct pps_stats_result r = {0};
	int err;

	for (int s = 0; s < 2; s++) {
		err = side_stats(side[s], &mean[s], &inv[s], &counts[s], &totals[s]);
		if (err)
			return err;
	}
	/* The pooled share: under the null hypothesis both sides sample the same one. */
	p0 = ((double)counts[0] + (double)counts[1]) / ((double)totals[0] + (double)totals[1]);
	pq = p0 * (1.0 - p0);
	for (int s = 0; s < 2; s++)
		floor_var[s] = pq * inv[s] / ((double)side[s]->n * (double)side[s]->n);
	r.base = mean[0];
	r.head = mean[1];
	diff = mean[1] - mean[0];
	if (base->n >= 2 && head->n >= 2) {
		double v[2], den = 0;

		/* The variance of each side's mean: measured, never below sampling noise. The
		 * degrees of freedom stay those of the measured variances (n - 1 each), so a
		 * floor never makes the test more confident than its runs allow. */
		for (int s = 0; s < 2; s++) {
			v[s] = share_variance(side[s], mean[s]) / (double)side[s]->n;
			if (v[s] < floor_var[s])
				v[s] = floor_var[s];
			den += v[s] * v[s] / (double)(side[s]->n - 1);
		}
		r.welch = true;
		r.se = sqrt(v[0] + v[1]);
		r.df =
		    den > 0 ? (v[0] + v[1]) * (v[0] + v[1]) / den : (double)(base->n + head->n - 2);
	} else {
		r.se = sqrt(floor_var[0] + floor_var[1]);
		r.df = INFINITY;
	}
	if (r.se > 0) {
		r.t = diff / r.se;
		r.p_up = pps_stats_t_sf(r.t, r.df);
		r.p_down = pps_stats_t_sf(-r.t, r.df);
	} else {
		/* No variance at all: every run has the same share (0 or 1 of its samples),
		 * and then both sides do, since p0 is 0 or 1. */
		r.p_up = r.p_down = 1.0;
	}
	*out = r;
	return 0;
}

/* p[i], NaN counting as 1 (no evidence). */
static double p_key(const double *p, size_t i)
{
	return isnan(p[i]) ? 1.0 : p[i];
}

/* Sifts order[i] down the max-heap order[0..n) keyed by p. */
static void sift_down(const double *p, size_t *order, size_t i, size_t n)
{
	for (;;) {
		size_t big = i, l = 2 * i + 1, r = l + 1, tmp;

		if (l < n && p_key(p, order[l]) > p_key(p, order[big]))
			big = l;
		if (r < n && p_key(p, order[r]) > p_key(p, order[big]))
			big = r;
		if (big == i)
			return;
		tmp = order[i];
		order[i] = order[big];
		order[big] = tmp;
		i = big;
	}
}

void pps_stats_holm(const double *p, size_t n, double alpha, size_t *order, bool *significant)
{
	/* Heapsort the indices by ascending p: n can be thousands with --min-share 0. */
	for (size_t i = 0; i < n; i++) {
		order[i] = i;
		significant[i] = false;
	}
	for (size_t i = n / 2; i-- > 0;)
		sift_down(p, order, i, n);
	for (size_t end = n; end > 1; end--) {
		size_t tmp = order[0];

		order[0] = order[end - 1];
		order[end - 1] = tmp;
		sift_down(p, order, 0, end - 1);
	}
	/* Reject the k-th smallest while p <= alpha / (n - k); stop at the first that fails. */
	for (size_t k = 0; k < n; k++) {
		if (!(p_key(p, order[k]) <= alpha / (double)(n - k)))
			break;
		significant[order[k]] = true;
	}
}
