/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pprofstore diff and compare: two selections of stored profiles, base and head, as the
 * profile pprof shows as a diff, or through the regression gate (pprofstore/compare.h).
 * Parses the selections, reads the store, calls lib/, reports errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

/* compare's exit codes (README): a CI step tells a slower build from a broken one. */
enum { GATE_PASS = 0, GATE_FAIL = 1, GATE_ERROR = 2 };

/* A parsed SEL: "window=DUR", "from=TIME", "to=TIME" and source tags, comma-separated. */
struct sel {
	const char *opt;  /* "--base" or "--head", for messages */
	const char *text; /* as given */
	char *buf;	  /* text's copy, cut into the tags' keys and values */
	struct pps_store_tag *tags;
	size_t nr_tags;
	const char *from, *to, *window; /* the terms' values, NULL when absent */
	struct pps_store_selection s;	/* resolved by sel_resolve() */
};

static void sel_release(struct sel *s)
{
	free(s->buf);
	free(s->tags);
}

/* Parses text into s. Returns 0, or an exit code after saying what is wrong. */
static int sel_parse(const char *opt, const char *text, struct sel *s, int usage_exit)
{
	char *term, *next;
	size_t n = 1;

	memset(s, 0, sizeof(*s));
	s->opt = opt;
	s->text = text;
	if (!text || !*text) {
		fprintf(stderr,
			"pprofstore: %s: empty selection (terms: window=DUR, from=TIME, "
			"to=TIME, KEY=VALUE for a source tag)\n",
			opt);
		return usage_exit;
	}
	for (const char *p = text; *p; p++)
		n += *p == ',';
	s->buf = strdup(text);
	s->tags = calloc(n, sizeof(*s->tags));
	if (!s->buf || !s->tags) {
		fprintf(stderr, "pprofstore: %s\n", strerror(ENOMEM));
		return usage_exit;
	}
	for (term = s->buf; term; term = next) {
		const char **slot = NULL;
		char *eq;

		next = strchr(term, ',');
		if (next)
			*next++ = '\0';
		eq = strchr(term, '=');
		if (!eq || eq == term) {
			fprintf(stderr,
				"pprofstore: %s %s: bad term '%s': expected KEY=VALUE (window=DUR, "
				"from=TIME, to=TIME, or a source tag)\n",
				opt, text, term);
			return usage_exit;
		}
		*eq = '\0';
		if (!strcmp(term, "window"))
			slot = &s->window;
		else if (!strcmp(term, "from"))
			slot = &s->from;
		else if (!strcmp(term, "to"))
			slot = &s->to;
		if (!slot) {
			s->tags[s->nr_tags].key = term;
			s->tags[s->nr_tags++].value = eq + 1;
			continue;
		}
		if (*slot) {
			fprintf(stderr, "pprofstore: %s %s: %s= given twice\n", opt, text, term);
			return usage_exit;
		}
		*slot = eq + 1;
	}
	return 0;
}

static void print_type(const char *type, void *ctx)
{
	int *n = ctx;

	fprintf(stderr, "%s%s", (*n)++ ? ", " : " ", type);
}

/* Says that type is not stored, and which types are. */
static void unknown_type(struct pps_store *st, const char *type)
{
	int n = 0;

	fprintf(stderr, "pprofstore: no profiles of type '%s'; the store has:", type);
	pps_store_for_each_type(st, print_type, &n);
	fputs(n ? "\n" : " nothing\n", stderr);
}

/*
 * Checks the terms' values and fills s->s for type: from= and to= as given, window= ending
 * at to= or else at the newest data of the selection. Returns 0, or an exit code after
 * saying what is wrong.
 */
static int sel_resolve(struct sel *s, struct pps_store *st, const char *type, int usage_exit,
		       int error_exit)
{
	int64_t from = INT64_MIN, to = INT64_MAX, first;
	uint64_t window = 0;
	int err;

	if ((s->from && !cmd_parse_time(s->from, &from)) ||
	    (s->to && !cmd_parse_time(s->to, &to))) {
		fprintf(stderr,
			"pprofstore: %s %s: bad TIME '%s' (RFC 3339, unix seconds, or relative "
			"like -1h)\n",
			s->opt, s->text,
			s->from && !cmd_parse_time(s->from, &from) ? s->from : s->to);
		return usage_exit;
	}
	if (s->window && (!cmd_parse_duration(s->window, &window) || !window ||
			  window > (uint64_t)INT64_MAX / 2)) {
		fprintf(stderr, "pprofstore: %s %s: bad window duration '%s' (10m, 1h, 30s)\n",
			s->opt, s->text, s->window);
		return usage_exit;
	}
	if (s->window && s->from) {
		fprintf(stderr, "pprofstore: %s %s: window= and from= exclude each other\n", s->opt,
			s->text);
		return usage_exit;
	}
	if (s->from && s->to && from >= to) {
		fprintf(stderr, "pprofstore: %s %s: from= is not before to=\n", s->opt, s->text);
		return usage_exit;
	}
	s->s = (struct pps_store_selection){
	    .sz = sizeof(s->s),
	    .type = type,
	    .tags = s->tags,
	    .nr_tags = s->nr_tags,
	};
	if (s->window && !s->to) {
		/* The window ends at the newest bucket of the selection's sources. */
		err = pps_store_select_range(st, &s->s, &first, &to);
		if (err == -ENOENT) {
			unknown_type(st, type);
			return error_exit;
		}
		if (err < 0) {
			fprintf(stderr, "pprofstore: %s %s: %s\n", s->opt, s->text, strerror(-err));
			return error_exit;
		}
		if (err)
			to = 0; /* no data: the window selects nothing */
	}
	if (s->window)
		from = to < INT64_MIN + (int64_t)window ? INT64_MIN : to - (int64_t)window;
	if (s->from || s->to || s->window) {
		s->s.from_ns = from;
		s->s.to_ns = to;
	}
	return 0;
}

static struct pps_store *open_store(const char *db)
{
	struct pps_store *st = pps_store_open(db, PPS_STORE_READONLY, 0);

	if (!st && errno == ENOENT)
		fprintf(stderr,
			"pprofstore: %s: no such database (pprofstore ingest creates one; "
			"--db or $PPROFSTORE_DB name it)\n",
			db);
	else if (!st)
		fprintf(stderr, "pprofstore: %s: cannot open the store: %s\n", db, strerror(errno));
	return st;
}

/* Opens path for writing a profile or report ('-': stdout, never a terminal for a
 * gzipped profile). NULL after saying why. */
static FILE *open_out(const char *path, bool binary)
{
	FILE *f;

	if (!strcmp(path, "-")) {
		if (binary && isatty(STDOUT_FILENO)) {
			fprintf(stderr, "pprofstore: not writing a gzipped profile to a terminal; "
					"use -o FILE or a pipe\n");
			return NULL;
		}
		return stdout;
	}
	f = fopen(path, binary ? "wb" : "w");
	if (!f)
		fprintf(stderr, "pprofstore: %s: %s\n", path, strerror(errno));
	return f;
}

/* Closes what open_out() opened; false after saying why when the writes failed. */
static bool close_out(FILE *f, const char *path, int err)
{
	if (f != stdout ? fclose(f) != 0 : fflush(f) != 0)
		err = err ? err : -errno;
	if (err)
		fprintf(stderr, "pprofstore: %s: write error: %s\n", path, strerror(-err));
	return !err;
}

static bool write_profile(struct pps_profile *p, const char *path)
{
	FILE *f = open_out(path, true);

	return f && close_out(f, path, pps_profile_write(p, f));
}

/* One side's samples summed, or NULL after saying why (also when there are none: a
 * selection that matches nothing is most likely a mistyped tag). */
static struct pps_profile *select_side(struct pps_store *st, struct sel *s)
{
	struct pps_profile *p = pps_store_select(st, &s->s);

	if (!p && errno == ENOENT) {
		unknown_type(st, s->s.type);
	} else if (!p) {
		fprintf(stderr, "pprofstore: %s %s: %s\n", s->opt, s->text, strerror(errno));
	} else if (!pps_profile_nr_samples(p)) {
		fprintf(stderr, "pprofstore: %s %s: no %s samples in the selection\n", s->opt,
			s->text, s->s.type);
		pps_profile_free(p);
		p = NULL;
	}
	return p;
}

int cmd_diff(const struct compare_args *a)
{
	struct pps_profile *p[2] = {NULL, NULL}, *d = NULL;
	struct sel sel[2] = {{0}};
	struct pps_store *st = NULL;
	int ret = EXIT_USAGE;

	if (!a->type || !a->base || !a->head || (!a->output && !a->base_out && !a->head_out)) {
		fprintf(stderr, "pprofstore: diff: --type, --base, --head and -o (or --base-out, "
				"--head-out) are required\n");
		return EXIT_USAGE;
	}
	if (sel_parse("--base", a->base, &sel[0], EXIT_USAGE) ||
	    sel_parse("--head", a->head, &sel[1], EXIT_USAGE))
		goto out;
	ret = EXIT_ERROR;
	st = open_store(a->db);
	if (!st)
		goto out;
	for (int i = 0; i < 2; i++) {
		ret = sel_resolve(&sel[i], st, a->type, EXIT_USAGE, EXIT_ERROR);
		if (ret)
			goto out;
		ret = EXIT_ERROR;
		p[i] = select_side(st, &sel[i]);
		if (!p[i])
			goto out;
	}
	if (a->base_out && !write_profile(p[0], a->base_out))
		goto out;
	if (a->head_out && !write_profile(p[1], a->head_out))
		goto out;
	if (a->output) {
		d = pps_profile_diff(p[0], p[1]);
		if (!d) {
			fprintf(stderr, "pprofstore: diff: %s\n", strerror(errno));
			goto out;
		}
		if (!write_profile(d, a->output))
			goto out;
	}
	ret = EXIT_OK;
out:
	pps_profile_free(d);
	pps_profile_free(p[0]);
	pps_profile_free(p[1]);
	pps_store_close(st);
	sel_release(&sel[0]);
	sel_release(&sel[1]);
	return ret;
}

/* "5%" (relative) or "0.5pp" (percentage points) into o. false when malformed. */
static bool parse_threshold(const char *s, struct pps_compare_opts *o)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return false;
	if (!strcmp(end, "%")) {
		o->threshold = v / 100.0;
		o->threshold_abs = false;
		return true;
	}
	if (!strcmp(end, "pp")) {
		o->threshold = v / 100.0;
		o->threshold_abs = true;
		return true;
	}
	return false;
}

/* "1%" into a share in [0, 1]. */
static bool parse_percent(const char *s, double *share)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || strcmp(end, "%") || !(v >= 0) || !(v <= 100))
		return false;
	*share = v / 100.0;
	return true;
}

/* Adds every source of the selection as one run of side. Returns 0 or an exit code. */
static int add_side(struct pps_compare *c, struct pps_store *st, struct sel *s,
		    enum pps_compare_side side, int64_t **ids, size_t *nr_ids)
{
	int err = pps_store_select_sources(st, &s->s, ids, nr_ids);

	if (err == -ENOENT) {
		unknown_type(st, s->s.type);
		return GATE_ERROR;
	}
	if (err) {
		fprintf(stderr, "pprofstore: %s %s: %s\n", s->opt, s->text, strerror(-err));
		return GATE_ERROR;
	}
	if (!*nr_ids) {
		fprintf(stderr, "pprofstore: %s %s: no %s samples in the selection\n", s->opt,
			s->text, s->s.type);
		return GATE_ERROR;
	}
	for (size_t i = 0; i < *nr_ids; i++) {
		struct pps_profile *p;

		s->s.source_id = (*ids)[i];
		p = pps_store_select(st, &s->s);
		if (!p) {
			fprintf(stderr, "pprofstore: %s %s: source %" PRId64 ": %s\n", s->opt,
				s->text, (*ids)[i], strerror(errno));
			return GATE_ERROR;
		}
		err = pps_compare_add_profile(c, side, p, 0);
		pps_profile_free(p);
		if (err) {
			fprintf(stderr, "pprofstore: %s %s: source %" PRId64 ": %s\n", s->opt,
				s->text, (*ids)[i], strerror(-err));
			return GATE_ERROR;
		}
	}
	s->s.source_id = 0;
	return 0;
}

/* Warns about sources in both selections: they make the two sides look alike. */
static void warn_overlap(const int64_t *a, size_t na, const int64_t *b, size_t nb)
{
	size_t i = 0, j = 0, n = 0;

	while (i < na && j < nb) {
		if (a[i] == b[j])
			n++, i++, j++;
		else if (a[i] < b[j])
			i++;
		else
			j++;
	}
	if (n)
		fprintf(stderr, "pprofstore: compare: warning: %zu source%s in both selections\n",
			n, n == 1 ? " is" : "s are");
}

/* The gate: exit GATE_PASS, GATE_FAIL, or GATE_ERROR for an error of any kind. */
int cmd_compare(const struct compare_args *a)
{
	PPS_COMPARE_OPTS(opts);
	struct pps_compare_report rep = {.type = a->type, .base = a->base, .head = a->head};
	enum pps_compare_format fmt = PPS_COMPARE_TEXT;
	int64_t *ids[2] = {NULL, NULL};
	size_t nr_ids[2] = {0, 0};
	struct sel sel[2] = {{0}};
	struct pps_compare *c = NULL;
	struct pps_store *st = NULL;
	const char *out = a->output ? a->output : "-";
	FILE *f = NULL;
	int ret = GATE_ERROR, n;

	if (!a->type || !a->base || !a->head) {
		fprintf(stderr, "pprofstore: compare: --type, --base and --head are required\n");
		return GATE_ERROR;
	}
	if (a->threshold && !parse_threshold(a->threshold, &opts)) {
		fprintf(stderr,
			"pprofstore: compare: bad --threshold '%s' (5%%: relative to base's "
			"share, 0.5pp: percentage points)\n",
			a->threshold);
		return GATE_ERROR;
	}
	if (a->min_share && !parse_percent(a->min_share, &opts.min_share)) {
		fprintf(stderr, "pprofstore: compare: bad --min-share '%s' (a percentage: 1%%)\n",
			a->min_share);
		return GATE_ERROR;
	}
	if (a->alpha) {
		char *end;

		errno = 0;
		opts.alpha = strtod(a->alpha, &end);
		if (errno || end == a->alpha || *end || !(opts.alpha > 0) || !(opts.alpha < 1)) {
			fprintf(stderr,
				"pprofstore: compare: bad --alpha '%s' (a probability: 0.01)\n",
				a->alpha);
			return GATE_ERROR;
		}
	}
	if (a->format && !strcmp(a->format, "markdown"))
		fmt = PPS_COMPARE_MARKDOWN;
	else if (a->format && !strcmp(a->format, "json"))
		fmt = PPS_COMPARE_JSON;
	else if (a->format && strcmp(a->format, "text")) {
		fprintf(stderr, "pprofstore: compare: bad --format '%s' (text, markdown, json)\n",
			a->format);
		return GATE_ERROR;
	}
	if (sel_parse("--base", a->base, &sel[0], GATE_ERROR) ||
	    sel_parse("--head", a->head, &sel[1], GATE_ERROR))
		goto out;
	st = open_store(a->db);
	c = pps_compare_new();
	if (!st || !c)
		goto out;
	for (int i = 0; i < 2; i++) {
		if (sel_resolve(&sel[i], st, a->type, GATE_ERROR, GATE_ERROR) ||
		    add_side(c, st, &sel[i], i ? PPS_COMPARE_HEAD : PPS_COMPARE_BASE, &ids[i],
			     &nr_ids[i]))
			goto out;
	}
	if (!a->quiet)
		warn_overlap(ids[0], nr_ids[0], ids[1], nr_ids[1]);
	n = pps_compare_run(c, &opts);
	if (n < 0) {
		fprintf(stderr, "pprofstore: compare: %s\n", strerror(-n));
		goto out;
	}
	f = open_out(out, false);
	if (!f || !close_out(f, out, pps_compare_write(c, &rep, fmt, f)))
		goto out;
	ret = n ? GATE_FAIL : GATE_PASS;
out:
	free(ids[0]);
	free(ids[1]);
	pps_compare_free(c);
	pps_store_close(st);
	sel_release(&sel[0]);
	sel_release(&sel[1]);
	return ret;
}
