/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The regression gate's statistics and the diff profile, with known inputs:
 * - distributions: the normal tail, Student's t tail against its closed forms (df 1 and 2)
 *   and against values integrated numerically from the density (Simpson's rule, 200,000
 *   steps, in Python: independent of the continued fraction used here), the incomplete
 *   beta function's identities;
 * - the tests: the two-proportion z-test and Welch's t-test on worked examples (the
 *   numbers in the comments), the binomial floor, Holm's correction;
 * - pps_compare on tallies: identical sides, a shift, the threshold (relative and
 *   absolute), the minimum share, a new function, improvements, the order of rows, bad
 *   options and tallies;
 * - tallies from a profile: flat and cum with inlined frames, recursion, unsymbolized
 *   frames, samples without a stack, the value index;
 * - pps_profile_diff against pprof's merge rules: values, the pprof::base label, a sample
 *   that cancels out, header fields, incompatible profiles, two builds at one address;
 * - the reports: each format's shape and its escaping of hostile function names.
 *
 * usage: test_compare
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pprofstore/pprofstore.h>

#include "internal/stats.h"

#include "check.h"

/* |got - want| within rel of want (or within rel absolutely near 0). */
static bool near(double got, double want, double rel)
{
	return fabs(got - want) <= rel * fmax(fabs(want), 1e-300) || fabs(got - want) < 1e-300;
}

static void test_distributions(void)
{
	static const struct {
		double t, df, sf;
	} table[] = {
	    /* Textbook quantiles: t_{0.975,10}, t_{0.995,3}, t_{0.999,4}, t_{0.999,8}. */
	    {2.228139, 10, 0.024999993726440906},
	    {5.840909, 3, 0.005000000743742366},
	    {7.173182, 4, 0.0010000001151677991},
	    {4.500791, 8, 0.0009999999123886207},
	    /* Fractional df, as Welch's. */
	    {1.5, 2.5, 0.12391822654315122},
	    {0.7, 7.3, 0.25280857009312646},
	    {12.0, 3.7, 0.0002133936996906214},
	    {-1.2, 5.5, 0.8603683744483132},
	};
	const double ts[] = {-3, -0.5, 0, 0.25, 1, 3, 31.82, 1e6};

	CHECK(pps_stats_normal_sf(0) == 0.5, "%g", pps_stats_normal_sf(0));
	CHECK(near(pps_stats_normal_sf(1.959963984540054), 0.025, 1e-12), "%.17g",
	      pps_stats_normal_sf(1.959963984540054));
	CHECK(near(pps_stats_normal_sf(-1.959963984540054), 0.975, 1e-12), "%.17g",
	      pps_stats_normal_sf(-1.959963984540054));
	CHECK(near(pps_stats_normal_sf(6), 9.865876450376946e-10, 1e-9), "%.17g",
	      pps_stats_normal_sf(6));
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		double got = pps_stats_t_sf(table[i].t, table[i].df);

		CHECK(near(got, table[i].sf, 2e-7), "t_sf(%g, %g) = %.17g, want %.17g", table[i].t,
		      table[i].df, got, table[i].sf);
	}
	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		double t = ts[i], s = sqrt(t * t + 2);
		/* df 1 is the Cauchy distribution, 1/2 - atan(t)/pi; df 2 has the closed form
		 * 1/2 - t / (2 sqrt(t^2 + 2)). Both written without cancellation for t > 0. */
		double c1 = t > 0 ? atan(1 / t) / M_PI : 0.5 - atan(t) / M_PI;
		double c2 = t > 0 ? 1 / (s * (s + t)) : 0.5 - t / (2 * s);

		CHECK(near(pps_stats_t_sf(t, 1), c1, 1e-10), "t_sf(%g, 1) = %.17g, want %.17g", t,
		      pps_stats_t_sf(t, 1), c1);
		CHECK(near(pps_stats_t_sf(t, 2), c2, 1e-9), "t_sf(%g, 2) = %.17g, want %.17g", t,
		      pps_stats_t_sf(t, 2), c2);
		CHECK(near(pps_stats_t_sf(t, 1e9), pps_stats_normal_sf(t), 1e-9), "t_sf(%g, 1e9)",
		      t);
		CHECK(pps_stats_t_sf(t, INFINITY) == pps_stats_normal_sf(t), "t_sf(%g, inf)", t);
	}
	CHECK(pps_stats_t_sf(INFINITY, 3) == 0 && pps_stats_t_sf(-INFINITY, 3) == 1, "inf");
	CHECK(isnan(pps_stats_t_sf(1, 0)) && isnan(pps_stats_t_sf(1, -2)) &&
		  isnan(pps_stats_t_sf(NAN, 3)) && isnan(pps_stats_t_sf(1, NAN)),
	      "bad arguments give NaN");
	/* I_x(1, 1) = x, I_x(a, 1) = x^a, I_x(1, b) = 1 - (1 - x)^b, and the symmetry. */
	for (double x = 0; x <= 1.0; x += 0.125) {
		CHECK(near(pps_stats_beta_inc(1, 1, x), x, 1e-12), "I_%g(1,1)", x);
		CHECK(near(pps_stats_beta_inc(3.5, 1, x), pow(x, 3.5), 1e-11), "I_%g(3.5,1)", x);
		CHECK(near(pps_stats_beta_inc(1, 2.5, x), 1 - pow(1 - x, 2.5), 1e-11),
		      "I_%g(1,2.5)", x);
		CHECK(near(pps_stats_beta_inc(7, 0.5, x), 1 - pps_stats_beta_inc(0.5, 7, 1 - x),
			   1e-11) ||
			  fabs(pps_stats_beta_inc(7, 0.5, x) -
			       (1 - pps_stats_beta_inc(0.5, 7, 1 - x))) < 1e-14,
		      "symmetry at %g", x);
	}
	CHECK(isnan(pps_stats_beta_inc(0, 1, 0.5)) && isnan(pps_stats_beta_inc(1, 1, 1.5)),
	      "bad arguments give NaN");
}

static void test_two_tests(void)
{
	struct pps_stats_result r;
	int err;

	/* One run a side, 300 and 360 of 1000: pooled p0 = 0.33, se = sqrt(p0 (1 - p0) 2/1000)
	 * = 0.0210286, z = 0.06 / se = 2.8532635, p = 0.0021636. */
	{
		const int64_t cb[] = {300}, ch[] = {360}, n[] = {1000};
		struct pps_stats_side b = {cb, n, 1}, h = {ch, n, 1};

		err = pps_stats_compare(&b, &h, &r);
		CHECK(!err && !r.welch && isinf(r.df) && near(r.t, 2.8532635032055063, 1e-12) &&
			  near(r.p_up, 0.0021636361829522016, 1e-9) &&
			  near(r.p_down, 1 - 0.0021636361829522016, 1e-12),
		      "z-test: err %d t %.17g p %.17g", err, r.t, r.p_up);
		CHECK(r.base == 0.3 && r.head == 0.36, "shares %g %g", r.base, r.head);
	}
	/* Three runs a side of 100,000 samples: shares .30 .31 .29 and .33 .34 .335. Variances
	 * of the means 1e-4/3 and 2.5e-5/3, far above the binomial floor (7.2e-7): Welch's
	 * t = 0.035 / sqrt(4.1667e-5) = 5.4221767, df = 2.9411765, p = 0.0064764 (as R's
	 * t.test(head, base, alternative = "greater")). */
	{
		const int64_t cb[] = {30000, 31000, 29000}, ch[] = {33000, 34000, 33500},
			      n[] = {100000, 100000, 100000};
		struct pps_stats_side b = {cb, n, 3}, h = {ch, n, 3};

		err = pps_stats_compare(&b, &h, &r);
		CHECK(!err && r.welch && near(r.t, 5.422176684690384, 1e-9) &&
			  near(r.df, 2.9411764705882355, 1e-9) &&
			  near(r.p_up, 0.0064763549545008596, 1e-7),
		      "welch: err %d t %.17g df %.17g p %.17g", err, r.t, r.df, r.p_up);
	}
	/* The same shares from 1000 samples a run: the binomial variance of the pooled share
	 * (p0 = 1905/6000 = 0.3175: 0.3175 * 0.6825 / 1000 / 3 = 7.2231e-5 per side) is above
	 * both measured ones, so it is used, with the runs' df: t = 0.035 / sqrt(2 * 7.2231e-5)
	 * = 2.9119940, df = 4, p = 0.0217955. */
	{
		const int64_t cb[] = {300, 310, 290}, ch[] = {330, 340, 335},
			      n[] = {1000, 1000, 1000};
		struct pps_stats_side b = {cb, n, 3}, h = {ch, n, 3};

		err = pps_stats_compare(&b, &h, &r);
		CHECK(!err && r.welch && near(r.t, 2.911994036242321, 1e-9) &&
			  near(r.df, 4, 1e-12) && near(r.p_up, 0.0217955364094985, 1e-7),
		      "floor: err %d t %.17g df %.17g p %.17g", err, r.t, r.df, r.p_up);
	}
	/* A function in every sample on both sides: no variance, nothing to test. */
	{
		const int64_t c[] = {50, 70}, n[] = {50, 70};
		struct pps_stats_side b = {c, n, 2}, h = {c, n, 2};

		err = pps_stats_compare(&b, &h, &r);
		CHECK(!err && r.p_up == 1 && r.p_down == 1 && r.t == 0, "all: p %g %g", r.p_up,
		      r.p_down);
	}
	/* Bad sides. */
	{
		const int64_t c[] = {5, 20}, n[] = {10, 10}, z[] = {0, 10};
		struct pps_stats_side ok = {c, n, 1}, empty = {c, n, 0}, over = {c, n, 2},
				      zero = {c, z, 1};

		CHECK(pps_stats_compare(&ok, &empty, &r) == -EINVAL, "empty side");
		CHECK(pps_stats_compare(&over, &ok, &r) == -EINVAL, "count above total");
		CHECK(pps_stats_compare(&ok, &zero, &r) == -EINVAL, "total 0");
	}
}

static void test_holm(void)
{
	/* Sorted: .005 <= .05/4, .01 <= .05/3, .03 > .05/2: stop. */
	const double p1[] = {0.01, 0.04, 0.03, 0.005};
	/* .001 <= .0125, .013 <= .0167, .02 <= .025, .5 > .05: three, where Bonferroni
	 * (.0125 each) has one. NaN counts as 1. */
	const double p2[] = {0.5, 0.02, 0.001, 0.013, NAN};
	size_t order[5];
	bool sig[5];

	pps_stats_holm(p1, 4, 0.05, order, sig);
	CHECK(sig[0] && !sig[1] && !sig[2] && sig[3], "p1: %d %d %d %d", sig[0], sig[1], sig[2],
	      sig[3]);
	pps_stats_holm(p2, 5, 0.0625, order, sig);
	/* With n = 5 and alpha .0625: .001 <= .0125, .013 <= .015625, .02 <= .0208, .5 no. */
	CHECK(!sig[0] && sig[1] && sig[2] && sig[3] && !sig[4], "p2: %d %d %d %d %d", sig[0],
	      sig[1], sig[2], sig[3], sig[4]);
	pps_stats_holm(p2, 4, 0.05, order, sig);
	CHECK(!sig[0] && sig[1] && sig[2] && sig[3], "p2 of 4: %d %d %d %d", sig[0], sig[1], sig[2],
	      sig[3]);
	pps_stats_holm(p2, 0, 0.05, order, sig);
}

/* Adds a run of total samples: names[i] has flat[i] and cum[i]. */
static void add_run(struct pps_compare *c, enum pps_compare_side side, int64_t total,
		    const char *const *names, const int64_t *flat, const int64_t *cum, size_t n)
{
	struct pps_compare_count counts[16];
	int err;

	for (size_t i = 0; i < n; i++)
		counts[i] = (struct pps_compare_count){names[i], flat[i], cum ? cum[i] : flat[i]};
	err = pps_compare_add_run(c, side, total, counts, n);
	CHECK(!err, "add_run: %s", strerror(-err));
}

static const struct pps_compare_row *find_row(const struct pps_compare *c, const char *name)
{
	for (size_t i = 0; i < pps_compare_nr_rows(c); i++)
		if (!strcmp(pps_compare_row(c, i)->function, name))
			return pps_compare_row(c, i);
	return NULL;
}

/*
 * Five runs a side of 100,000 samples. "hot" takes 30% of base and 33% of head (+10%,
 * run-to-run noise +-0.2 points); "steady" 20% in both (noise +-0.2); "shrinks" 20% -> 17%;
 * "tiny" 0.4% -> 0.8% (doubles, under the 1% minimum share); "fresh" 0 -> 2% (new).
 * cum = flat, except "main", on every stack (cum 100%).
 */
static struct pps_compare *build_compare(void)
{
	static const char *const names[] = {"hot", "steady", "shrinks", "tiny", "fresh", "main"};
	static const double noise[5] = {-0.002, 0.001, 0.0, 0.002, -0.001};
	struct pps_compare *c = pps_compare_new();

	if (!c)
		abort();
	for (int r = 0; r < 5; r++) {
		const int64_t n = 100000;
		int64_t base[6] = {llround((0.30 + noise[r]) * n),
				   llround((0.20 - noise[r]) * n),
				   llround(0.20 * n),
				   llround(0.004 * n),
				   0,
				   0};
		int64_t head[6] = {llround((0.33 - noise[r]) * n),
				   llround((0.20 + noise[(r + 2) % 5]) * n),
				   llround(0.17 * n),
				   llround(0.008 * n),
				   llround(0.02 * n),
				   0};
		int64_t cum_b[6], cum_h[6];

		for (int i = 0; i < 6; i++) {
			cum_b[i] = i == 5 ? n : base[i];
			cum_h[i] = i == 5 ? n : head[i];
		}
		add_run(c, PPS_COMPARE_BASE, n, names, base, cum_b, 6);
		add_run(c, PPS_COMPARE_HEAD, n, names, head, cum_h, 6);
	}
	return c;
}

static void test_compare_tallies(void)
{
	PPS_COMPARE_OPTS(opts);
	const struct pps_compare_summary *s;
	const struct pps_compare_row *r;
	struct pps_compare *c = build_compare();
	int n = pps_compare_run(c, &opts);

	s = pps_compare_summary(c);
	CHECK(n == 2 && s && s->nr_regressed == 2 && s->nr_improved == 1 && s->welch &&
		  s->runs[0] == 5 && s->runs[1] == 5 && s->samples[0] == 500000,
	      "run: %d; regressed %zu improved %zu", n, s ? s->nr_regressed : 0,
	      s ? s->nr_improved : 0);
	/* Tested: flat and cum of hot, steady, shrinks, fresh (4 x 2) and cum of main
	 * (its flat is 0 on both sides): 9. */
	CHECK(s && s->nr_tests == 9, "tests %zu", s ? s->nr_tests : 0);
	r = find_row(c, "hot");
	CHECK(r && r->flat.verdict == PPS_VERDICT_REGRESSED &&
		  r->cum.verdict == PPS_VERDICT_REGRESSED && near(r->flat.base, 0.30, 1e-9) &&
		  near(r->flat.head, 0.33, 1e-9) && near(r->flat.rel_change, 0.1, 1e-9) &&
		  r->flat.significant,
	      "hot: %d %g -> %g", r ? (int)r->flat.verdict : -1, r ? r->flat.base : 0,
	      r ? r->flat.head : 0);
	r = find_row(c, "fresh");
	CHECK(r && r->flat.verdict == PPS_VERDICT_REGRESSED && isinf(r->flat.rel_change) &&
		  r->flat.base == 0,
	      "fresh: %d", r ? (int)r->flat.verdict : -1);
	r = find_row(c, "shrinks");
	CHECK(r && r->flat.verdict == PPS_VERDICT_IMPROVED && near(r->flat.rel_change, -0.15, 1e-9),
	      "shrinks: %d", r ? (int)r->flat.verdict : -1);
	r = find_row(c, "steady");
	CHECK(r && r->flat.verdict == PPS_VERDICT_SAME && !r->flat.significant, "steady: %d",
	      r ? (int)r->flat.verdict : -1);
	r = find_row(c, "tiny");
	CHECK(r && r->flat.verdict == PPS_VERDICT_UNTESTED &&
		  r->cum.verdict == PPS_VERDICT_UNTESTED && near(r->flat.rel_change, 1.0, 1e-9),
	      "tiny: %d", r ? (int)r->flat.verdict : -1);
	r = find_row(c, "main");
	CHECK(r && r->flat.verdict == PPS_VERDICT_UNTESTED && r->cum.verdict == PPS_VERDICT_SAME &&
		  r->cum.base == 1.0,
	      "main: %d %d", r ? (int)r->flat.verdict : -1, r ? (int)r->cum.verdict : -1);
	/* Order: regressions by relative change (fresh: infinite, then hot), then the
	 * improvement, then by flat share. */
	CHECK(pps_compare_nr_rows(c) == 6 && !strcmp(pps_compare_row(c, 0)->function, "fresh") &&
		  !strcmp(pps_compare_row(c, 1)->function, "hot") &&
		  !strcmp(pps_compare_row(c, 2)->function, "shrinks") &&
		  !strcmp(pps_compare_row(c, 3)->function, "steady") &&
		  !strcmp(pps_compare_row(c, 5)->function, "main"),
	      "order: %s %s %s %s", pps_compare_row(c, 0)->function,
	      pps_compare_row(c, 1)->function, pps_compare_row(c, 2)->function,
	      pps_compare_row(c, 3)->function);

	/* A threshold of 12%: hot (+10%) is no longer a regression; fresh still is. */
	opts.threshold = 0.12;
	n = pps_compare_run(c, &opts);
	CHECK(n == 1 && find_row(c, "hot")->flat.verdict == PPS_VERDICT_SAME &&
		  find_row(c, "hot")->flat.significant,
	      "12%%: %d", n);
	/* In points: 2.5 points. hot grew 3 points: regressed; fresh 2: not. */
	opts.threshold = 0.025;
	opts.threshold_abs = true;
	n = pps_compare_run(c, &opts);
	CHECK(n == 1 && find_row(c, "hot")->flat.verdict == PPS_VERDICT_REGRESSED &&
		  find_row(c, "fresh")->flat.verdict == PPS_VERDICT_SAME,
	      "2.5pp: %d", n);
	/* Minimum share 0.1%: tiny is tested too, and doubled: a regression. */
	opts = (struct pps_compare_opts){
	    .sz = sizeof(opts), .threshold = 0.05, .min_share = 0.001, .alpha = 0.01};
	n = pps_compare_run(c, &opts);
	CHECK(n == 3 && find_row(c, "tiny")->flat.verdict == PPS_VERDICT_REGRESSED &&
		  pps_compare_summary(c)->nr_tests == 11,
	      "min share 0.1%%: %d, %zu tests", n, pps_compare_summary(c)->nr_tests);

	/* Bad options. */
	opts = (struct pps_compare_opts){.sz = sizeof(opts), .threshold = 0.05, .alpha = 0};
	CHECK(pps_compare_run(c, &opts) == -EINVAL, "alpha 0");
	opts.alpha = 0.01;
	opts.threshold = NAN;
	CHECK(pps_compare_run(c, &opts) == -EINVAL, "threshold NaN");
	opts.threshold = 0.05;
	opts.min_share = 1.5;
	CHECK(pps_compare_run(c, &opts) == -EINVAL, "min share 1.5");
	opts.min_share = 0.01;
	opts.sz = 4;
	CHECK(pps_compare_run(c, &opts) == -EINVAL, "sz 4");
	{
		/* A newer caller's options: larger, zero tail accepted, non-zero tail not. */
		struct {
			struct pps_compare_opts o;
			uint64_t extra;
		} big = {{.sz = sizeof(big), .threshold = 0.05, .min_share = 0.01, .alpha = 0.01},
			 0};

		CHECK(pps_compare_run(c, &big.o) == 2, "larger opts");
		big.extra = 1;
		CHECK(pps_compare_run(c, &big.o) == -EINVAL, "non-zero tail");
	}
	CHECK(pps_compare_run(c, NULL) == -EINVAL, "NULL opts");
	pps_compare_free(c);

	/* Identical sides: nothing flagged, whatever the noise. */
	c = pps_compare_new();
	{
		static const char *const names[] = {"a", "b"};
		const int64_t f1[] = {3000, 7000}, f2[] = {3100, 6900};

		add_run(c, PPS_COMPARE_BASE, 10000, names, f1, NULL, 2);
		add_run(c, PPS_COMPARE_BASE, 10000, names, f2, NULL, 2);
		CHECK(pps_compare_run(c, &(struct pps_compare_opts){.sz = sizeof(opts),
								    .threshold = 0.05,
								    .min_share = 0.01,
								    .alpha = 0.01}) == -ENODATA,
		      "no head runs");
		add_run(c, PPS_COMPARE_HEAD, 10000, names, f2, NULL, 2);
		add_run(c, PPS_COMPARE_HEAD, 10000, names, f1, NULL, 2);
		opts = (struct pps_compare_opts){
		    .sz = sizeof(opts), .threshold = 0, .min_share = 0, .alpha = 0.01};
		n = pps_compare_run(c, &opts);
		CHECK(n == 0 && pps_compare_summary(c)->nr_improved == 0 &&
			  find_row(c, "a")->flat.change == 0 && find_row(c, "a")->flat.p_up > 0.4,
		      "identical sides: %d", n);
	}
	/* Bad tallies. */
	{
		struct pps_compare_count bad[] = {{"x", 5, 4}}, over[] = {{"x", 5, 11}},
					 twice[] = {{"x", 1, 1}, {"x", 2, 2}},
					 neg[] = {{"x", -1, 1}};

		CHECK(pps_compare_add_run(c, PPS_COMPARE_BASE, 10, bad, 1) == -EINVAL,
		      "flat > cum");
		CHECK(pps_compare_add_run(c, PPS_COMPARE_BASE, 10, over, 1) == -EINVAL,
		      "cum > total");
		CHECK(pps_compare_add_run(c, PPS_COMPARE_BASE, 10, twice, 2) == -EINVAL, "twice");
		CHECK(pps_compare_add_run(c, PPS_COMPARE_BASE, 10, neg, 1) == -EINVAL, "negative");
		CHECK(pps_compare_add_run(c, PPS_COMPARE_BASE, 0, NULL, 0) == -EINVAL, "total 0");
		CHECK(pps_compare_add_run(c, (enum pps_compare_side)2, 10, NULL, 0) == -EINVAL,
		      "side 2");
		/* The failed adds added no run: the result is as before. */
		CHECK(pps_compare_run(c, &opts) == 0 && pps_compare_summary(c)->runs[0] == 2,
		      "after bad adds");
	}
	pps_compare_free(c);
}

/*
 * A profile with known tallies. Functions main, outer, inner (inlined into outer: one
 * location with lines inner, outer), rec (recursive), leaf; an unsymbolized location in
 * /usr/lib/libfoo.so.1 and one in no mapping. Samples, values {count, ns}:
 *   S1 inner+outer, main           {10, 100}
 *   S2 leaf, rec, rec, rec, main   {5, 50}     rec three times: cum once
 *   S3 [libfoo], main              {3, 30}
 *   S4 [unknown], main             {2, 20}
 *   S5 (no stack)                  {4, 40}     in the total only
 *   S6 main                        {0, 0}      zero: nothing
 * Total 24. Flat: inner 10, leaf 5, [libfoo.so.1] 3, [unknown] 2. Cum: main 20, inner 10,
 * outer 10, rec 5, leaf 5, [libfoo.so.1] 3, [unknown] 2.
 */
static struct pps_profile *tally_profile(void)
{
	struct pps_mapping_info lib = {
	    .start = 0x7f0000000000, .limit = 0x7f0000100000, .file = "/usr/lib/libfoo.so.1"};
	struct pps_profile *p = pps_profile_new();
	struct pps_line l_io[2], l_main, l_rec, l_leaf;
	uint64_t m, lio, lmain, lrec, lleaf, llib, lnone;
	const int64_t v1[] = {10, 100}, v2[] = {5, 50}, v3[] = {3, 30}, v4[] = {2, 20},
		      v5[] = {4, 40}, v6[] = {0, 0};
	int err = 0;

	if (!p)
		abort();
	err = err ?: pps_profile_add_sample_type(p, "samples", "count");
	err = err ?: pps_profile_add_sample_type(p, "cpu", "nanoseconds");
	m = pps_profile_add_mapping(p, &lib);
	l_io[0] = (struct pps_line){pps_profile_add_function(p, "inner", NULL, "a.c", 1), 5, 0};
	l_io[1] = (struct pps_line){pps_profile_add_function(p, "outer", NULL, "a.c", 3), 9, 0};
	l_main = (struct pps_line){pps_profile_add_function(p, "main", NULL, "a.c", 20), 22, 0};
	l_rec = (struct pps_line){pps_profile_add_function(p, "rec", NULL, "a.c", 30), 31, 0};
	l_leaf = (struct pps_line){pps_profile_add_function(p, "leaf", NULL, "a.c", 40), 41, 0};
	lio = pps_profile_add_location(p, 0, 0x1000, l_io, 2);
	lmain = pps_profile_add_location(p, 0, 0x2000, &l_main, 1);
	lrec = pps_profile_add_location(p, 0, 0x3000, &l_rec, 1);
	lleaf = pps_profile_add_location(p, 0, 0x4000, &l_leaf, 1);
	llib = pps_profile_add_location(p, m, 0x7f0000001234, NULL, 0);
	lnone = pps_profile_add_location(p, 0, 0xdead, NULL, 0);
	{
		const uint64_t s1[] = {lio, lmain}, s2[] = {lleaf, lrec, lrec, lrec, lmain},
			       s3[] = {llib, lmain}, s4[] = {lnone, lmain}, s6[] = {lmain};

		err = err ?: pps_profile_add_sample(p, s1, 2, v1, NULL, 0);
		err = err ?: pps_profile_add_sample(p, s2, 5, v2, NULL, 0);
		err = err ?: pps_profile_add_sample(p, s3, 2, v3, NULL, 0);
		err = err ?: pps_profile_add_sample(p, s4, 2, v4, NULL, 0);
		err = err ?: pps_profile_add_sample(p, NULL, 0, v5, NULL, 0);
		err = err ?: pps_profile_add_sample(p, s6, 1, v6, NULL, 0);
	}
	CHECK(!err && lio && lmain && lrec && lleaf && llib && lnone, "tally profile: %d", err);
	return p;
}

static void test_compare_profile(void)
{
	static const struct {
		const char *name;
		int64_t flat, cum;
	} want[] = {
	    {"main", 0, 20}, {"inner", 10, 10},	      {"outer", 0, 10},	   {"rec", 0, 5},
	    {"leaf", 5, 5},  {"[libfoo.so.1]", 3, 3}, {"[unknown]", 2, 2},
	};
	PPS_COMPARE_OPTS(opts);
	struct pps_profile *p = tally_profile();
	struct pps_compare *c = pps_compare_new();
	int err;

	opts.min_share = 0;
	for (size_t index = 0; index < 2; index++) {
		err = pps_compare_add_profile(c, PPS_COMPARE_BASE, p, index);
		err = err ?: pps_compare_add_profile(c, PPS_COMPARE_HEAD, p, index);
		CHECK(!err, "add_profile %zu: %s", index, strerror(-err));
		CHECK(pps_compare_run(c, &opts) == 0, "run");
		/* The second pass adds a run of 240 to the first pass's 24. */
		CHECK(pps_compare_summary(c)->samples[0] == (index ? 264 : 24), "samples %lld",
		      (long long)pps_compare_summary(c)->samples[0]);
		CHECK(pps_compare_nr_rows(c) == 7, "%zu rows", pps_compare_nr_rows(c));
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			const struct pps_compare_row *r = find_row(c, want[i].name);
			/* Index 1 (ns) is ten times index 0; the mean of two runs' shares is
			 * each one's. */
			double f = (double)want[i].flat / 24.0, cu = (double)want[i].cum / 24.0;

			CHECK(r && near(r->flat.base, f, 1e-12) && near(r->cum.base, cu, 1e-12) &&
				  near(r->flat.head, f, 1e-12),
			      "value %zu: %s: flat %g cum %g, want %g %g", index, want[i].name,
			      r ? r->flat.base : -1, r ? r->cum.base : -1, f, cu);
		}
	}
	CHECK(pps_compare_add_profile(c, PPS_COMPARE_BASE, p, 2) == -EINVAL, "value index 2");
	pps_compare_free(c);
	pps_profile_free(p);
	/* A profile without samples adds no run. */
	p = pps_profile_new();
	c = pps_compare_new();
	if (!p || !c)
		abort();
	pps_profile_add_sample_type(p, "samples", "count");
	CHECK(pps_compare_add_profile(c, PPS_COMPARE_BASE, p, 0) == 0 &&
		  pps_compare_run(c, &opts) == -ENODATA,
	      "empty profile");
	pps_compare_free(c);
	pps_profile_free(p);
}

/* The sum of value k over samples of p whose pprof::base label is (base) or is not there. */
static int64_t sum_side(const struct pps_profile *p, size_t k, bool base, size_t *nr)
{
	int64_t sum = 0;

	*nr = 0;
	for (size_t i = 0; i < pps_profile_nr_samples(p); i++) {
		const uint64_t *locs;
		const int64_t *values;
		size_t n, nl = 0;
		bool is_base = false;

		pps_profile_get_sample(p, i, &locs, &n, &values);
		pps_profile_get_sample_labels(p, i, 0, &nl, NULL);
		for (size_t j = 0; j < nl; j++) {
			struct pps_label l;

			pps_profile_get_sample_labels(p, i, j, NULL, &l);
			if (!strcmp(l.key, PPS_DIFF_BASE_LABEL)) {
				CHECK(l.str && !strcmp(l.str, "true"), "label value %s",
				      l.str ? l.str : "(num)");
				CHECK(!is_base, "two pprof::base labels");
				is_base = true;
			}
		}
		if (is_base == base) {
			sum += values[k];
			(*nr)++;
		}
	}
	return sum;
}

/* A cpu-shaped profile: mapping /bin/prog with build-id bid, function fn at 0x401000. */
static struct pps_profile *side_profile(const char *bid, const char *fn, int64_t count,
					int64_t time, int64_t duration, int64_t period,
					const char *comment)
{
	struct pps_mapping_info prog = {.start = 0x400000,
					.limit = 0x500000,
					.file = "/bin/prog",
					.build_id = bid,
					.has_functions = true};
	const struct pps_label worker[] = {{.key = "comm", .str = "worker"},
					   {.key = "pid", .num = 42}};
	struct pps_profile *p = pps_profile_new();
	struct pps_line l = {0};
	int64_t v[2] = {count, count * period};
	uint64_t m, loc;
	int err = 0;

	if (!p)
		abort();
	err = err ?: pps_profile_add_sample_type(p, "samples", "count");
	err = err ?: pps_profile_add_sample_type(p, "cpu", "nanoseconds");
	err = err ?: pps_profile_set_period(p, "cpu", "nanoseconds", period);
	err = err ?: pps_profile_add_comment(p, comment);
	err = err ?: pps_profile_add_comment(p, "perf 6.1");
	pps_profile_set_time(p, time, duration);
	m = pps_profile_add_mapping(p, &prog);
	l.function_id = pps_profile_add_function(p, fn, NULL, "prog.c", 1);
	loc = pps_profile_add_location(p, m, 0x401000, &l, 1);
	err = err ?: pps_profile_add_sample(p, &loc, 1, v, worker, 2);
	CHECK(!err && loc, "side profile: %d", err);
	return p;
}

static void test_diff(void)
{
	/* Two builds at the same address: base's 0x401000 is old_fn, head's new_fn. */
	struct pps_profile *base = side_profile("b0", "old_fn", 30, 2000, 10, 1000, "base run");
	struct pps_profile *head = side_profile("b1", "new_fn", 50, 1000, 20, 250, "head run");
	struct pps_profile *d = pps_profile_diff(base, head), *odd;
	const char *type, *unit, *dflt;
	int64_t period, t, dur;
	size_t nb, nh;

	CHECK(d != NULL, "diff: %s", strerror(errno));
	if (!d)
		return;
	CHECK(sum_side(d, 0, false, &nh) == 50 && nh == 1, "head samples %zu", nh);
	CHECK(sum_side(d, 0, true, &nb) == -30 && nb == 1, "base samples %zu", nb);
	CHECK(sum_side(d, 1, true, &nb) == -30000 && sum_side(d, 1, false, &nh) == 12500,
	      "ns values");
	/* Two mappings, two functions: old_fn keeps its own location. */
	CHECK(pps_profile_nr_mappings(d) == 2 && pps_profile_nr_locations(d) == 2 &&
		  pps_profile_nr_functions(d) == 2,
	      "mappings %zu locations %zu functions %zu", pps_profile_nr_mappings(d),
	      pps_profile_nr_locations(d), pps_profile_nr_functions(d));
	/* Header: time the smaller (1000), duration summed, period the larger, comments once
	 * each (head's first), default sample type unset in both. */
	pps_profile_get_time(d, &t, &dur);
	pps_profile_get_period(d, &type, &unit, &period, &dflt);
	CHECK(t == 1000 && dur == 30 && period == 1000 && !strcmp(type, "cpu") && !*dflt,
	      "time %lld dur %lld period %lld", (long long)t, (long long)dur, (long long)period);
	CHECK(pps_profile_nr_comments(d) == 3 &&
		  !strcmp(pps_profile_get_comment(d, 0), "head run") &&
		  !strcmp(pps_profile_get_comment(d, 1), "perf 6.1") &&
		  !strcmp(pps_profile_get_comment(d, 2), "base run"),
	      "%zu comments", pps_profile_nr_comments(d));
	/* A zero head time takes base's, as pprof's combineHeaders does. */
	pps_profile_set_time(head, 0, 20);
	odd = pps_profile_diff(base, head);
	pps_profile_get_time(odd, &t, &dur);
	CHECK(odd && t == 2000, "zero head time: %lld", (long long)t);
	pps_profile_free(odd);
	/* A diff of diffs: head's samples labelled pprof::base=true cancel base's own (same
	 * stack, same labels once relabelled): pprof drops the zero sample; so do we. */
	odd = pps_profile_diff(d, d);
	CHECK(odd && sum_side(odd, 0, false, &nh) == 50 && nh == 1 &&
		  sum_side(odd, 0, true, &nb) == -50 && nb == 1,
	      "diff of diffs: %zu head, %zu base samples", nh, nb);
	CHECK(odd && pps_profile_nr_samples(odd) == 2, "%zu samples",
	      odd ? pps_profile_nr_samples(odd) : 0);
	pps_profile_free(odd);
	pps_profile_free(d);
	/* Incompatible: other sample types. */
	{
		struct pps_profile *other = pps_profile_new();

		pps_profile_add_sample_type(other, "contentions", "count");
		pps_profile_add_sample_type(other, "delay", "nanoseconds");
		errno = 0;
		CHECK(!pps_profile_diff(base, other) && errno == EINVAL, "incompatible: %s",
		      strerror(errno));
		pps_profile_free(other);
	}
	pps_profile_free(base);
	pps_profile_free(head);
}

/* The report of c in format, as a malloc'ed string. */
static char *report(const struct pps_compare *c, enum pps_compare_format fmt)
{
	struct pps_compare_report rep = {.type = "cpu", .base = "commit=a", .head = "commit=b"};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int err;

	if (!f)
		abort();
	err = pps_compare_write(c, &rep, fmt, f);
	CHECK(!err, "write %d: %s", (int)fmt, strerror(-err));
	fclose(f);
	return buf;
}

static void test_reports(void)
{
	/* A regressed function with a name that breaks each format unescaped. */
	static const char hostile[] = "op|er`ator\"\\\n\x01<T>\xff\xc3\xa9";
	static const char *const names[] = {hostile, "calm"};
	PPS_COMPARE_OPTS(opts);
	struct pps_compare *c = pps_compare_new();
	char *out;

	CHECK(pps_compare_write(c, NULL, PPS_COMPARE_TEXT, stdout) == -EINVAL, "before run");
	for (int r = 0; r < 3; r++) {
		const int64_t b[] = {3000 + r * 10, 5000}, h[] = {4000 + r * 10, 4500};

		add_run(c, PPS_COMPARE_BASE, 10000, names, b, NULL, 2);
		add_run(c, PPS_COMPARE_HEAD, 10000, names, h, NULL, 2);
	}
	CHECK(pps_compare_run(c, &opts) == 1, "one regression");

	out = report(c, PPS_COMPARE_TEXT);
	CHECK(strstr(out, "pprofstore compare (cpu): REGRESSION in 1 function\n") &&
		  strstr(out, "base: commit=a: 3 runs, 30000 samples\n") &&
		  strstr(out, "Welch's t-test") && strstr(out, "regressed") &&
		  strstr(out, "op|er`ator\"\\?\?<T>\xff\xc3\xa9\n") && strstr(out, "+33.2%"),
	      "text:\n%s", out);
	free(out);

	out = report(c, PPS_COMPARE_MARKDOWN);
	/* A code span fenced by two backticks (one inside), '|' escaped, controls '?'. */
	CHECK(strstr(out, "### pprofstore compare (cpu): :x: regression in 1 function") &&
		  strstr(out, "| **regressed** | ``op\\|er`ator\"\\?\?<T>\xff\xc3\xa9`` | 30.10% | "
			      "40.10% | +33.2% |") &&
		  strstr(out, "| **improved** | `calm` | 50.00% | 45.00% | -10.0% |"),
	      "markdown:\n%s", out);
	free(out);

	out = report(c, PPS_COMPARE_JSON);
	CHECK(strstr(out, "{\"type\": \"cpu\", \"regression\": true, \"base\": {\"selection\": "
			  "\"commit=a\", \"runs\": 3, \"samples\": 30000}") &&
		  strstr(out, "\"test\": \"welch\"") &&
		  strstr(out, "{\"name\": \"op|er`ator\\\"\\\\\\u000a\\u0001<T>\\ufffd\xc3\xa9\", "
			      "\"flat\": {\"base\": 0.30") &&
		  strstr(out, "\"verdict\": \"regressed\"") &&
		  strstr(out, "\"untested_functions\": 0}\n"),
	      "json:\n%s", out);
	free(out);
	CHECK(pps_compare_write(c, NULL, (enum pps_compare_format)7, stdout) == -EINVAL,
	      "bad format");
	pps_compare_free(c);
}

int main(void)
{
	test_distributions();
	test_two_tests();
	test_holm();
	test_compare_tallies();
	test_compare_profile();
	test_diff();
	test_reports();
	printf("test_compare: %s (%d failures)\n", failures ? "FAILED" : "ok", failures);
	return failures ? 1 : 0;
}
