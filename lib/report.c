/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The regression gate's report (pps_compare_write): text for logs, markdown for a CI job
 * summary or a pull-request comment, JSON for scripts. Built from the public accessors of
 * struct pps_compare only.
 *
 * Every report states the rule that decided, with the numbers it used (runs, tests,
 * threshold, alpha), because "the gate failed" is only useful with "and why".
 * Function names come from binaries (C++ templates, Rust paths, anything a symbol table
 * holds), so each format escapes them its own way.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include <pprofstore/compare.h>

#include "internal/util.h"

#define DEFAULT_ROWS 20

/* "12.34%" of a share. */
static void fmt_share(char *buf, size_t size, double share)
{
	snprintf(buf, size, "%.2f%%", share * 100.0);
}

/* The change as the threshold measures it: relative ("+9.6%", "new") or in points. */
static void fmt_change(char *buf, size_t size, const struct pps_compare_stat *s,
		       const struct pps_compare_opts *o)
{
	if (o->threshold_abs)
		snprintf(buf, size, "%+.2fpp", s->change * 100.0);
	else if (isinf(s->rel_change))
		snprintf(buf, size, "new");
	else
		snprintf(buf, size, "%+.1f%%", s->rel_change * 100.0);
}

/* The p-value of the change's direction; "-" when untested. */
static void fmt_p(char *buf, size_t size, const struct pps_compare_stat *s)
{
	double p = s->change >= 0 ? s->p_up : s->p_down;

	if (s->verdict == PPS_VERDICT_UNTESTED)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.2g%s", p, s->significant ? "*" : "");
}

/* A row's eight numbers as text: flat base, head, change, p, then the same for cum. */
static void row_cells(char b[8][32], const struct pps_compare_row *row,
		      const struct pps_compare_opts *o)
{
	const struct pps_compare_stat *st[2] = {&row->flat, &row->cum};

	for (size_t k = 0; k < 2; k++) {
		fmt_share(b[4 * k], 32, st[k]->base);
		fmt_share(b[4 * k + 1], 32, st[k]->head);
		fmt_change(b[4 * k + 2], 32, st[k], o);
		fmt_p(b[4 * k + 3], 32, st[k]);
	}
}

static const char *verdict_word(const struct pps_compare_row *r)
{
	if (r->flat.verdict == PPS_VERDICT_REGRESSED || r->cum.verdict == PPS_VERDICT_REGRESSED)
		return "regressed";
	if (r->flat.verdict == PPS_VERDICT_IMPROVED || r->cum.verdict == PPS_VERDICT_IMPROVED)
		return "improved";
	return "";
}

static bool flagged(const struct pps_compare_row *r)
{
	return *verdict_word(r) != '\0';
}

static bool tested(const struct pps_compare_row *r)
{
	return r->flat.verdict != PPS_VERDICT_UNTESTED || r->cum.verdict != PPS_VERDICT_UNTESTED;
}

/* The rule, in one paragraph (no trailing newline), into buf. */
static void rule_text(char *buf, size_t size, const struct pps_compare_summary *s)
{
	const struct pps_compare_opts *o = &s->opts;
	size_t n = 0;

#define APPEND(...) (n += (size_t)snprintf(buf + n, n < size ? size - n : 0, __VA_ARGS__))
	if (o->threshold_abs)
		APPEND("A function regressed when its flat or cum share grew by more than %g "
		       "percentage points",
		       o->threshold * 100.0);
	else
		APPEND("A function regressed when its flat or cum share grew by more than %g%% of "
		       "base's share",
		       o->threshold * 100.0);
	if (s->welch)
		APPEND(" and Welch's t-test over the per-run shares (%zu base runs, %zu head runs; "
		       "variance never below sampling noise) finds the growth significant",
		       s->runs[0], s->runs[1]);
	else
		APPEND(" and the two-proportion z-test on sample counts (%zu base run%s, %zu head "
		       "run%s: sampling noise only; run-to-run noise needs two or more runs a "
		       "side) finds it significant",
		       s->runs[0], s->runs[0] == 1 ? "" : "s", s->runs[1],
		       s->runs[1] == 1 ? "" : "s");
	APPEND(", with Holm's correction over the %zu tests (flat and cum of each function with "
	       "at least %g%% share on either side) at family-wise alpha %g.",
	       s->nr_tests, o->min_share * 100.0, o->alpha);
#undef APPEND
}

/* Text: words wrapped at width columns, each line ended by a newline. */
static void write_wrapped(FILE *f, const char *text, size_t width)
{
	size_t col = 0;

	while (*text) {
		size_t len = strcspn(text, " ");

		if (col && col + 1 + len > width) {
			fputc('\n', f);
			col = 0;
		} else if (col) {
			fputc(' ', f);
			col++;
		}
		fwrite(text, 1, len, f);
		col += len;
		text += len;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

static void write_side_text(FILE *f, const char *what, const char *sel, size_t runs,
			    int64_t samples)
{
	fprintf(f, "%s: %s: %zu run%s, %" PRId64 " samples\n", what, sel ? sel : "-", runs,
		runs == 1 ? "" : "s", samples);
}

/* Rows to show in text and markdown: every flagged one, then up to max others. */
static bool shown(const struct pps_compare_row *r, size_t *others, size_t max)
{
	if (flagged(r))
		return true;
	if (!tested(r) || *others >= max)
		return false;
	(*others)++;
	return true;
}

/* Text: a name as it is, but control characters as '?' (one row per line). */
static void text_name(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

static void write_text(FILE *f, const struct pps_compare *c, const struct pps_compare_report *r)
{
	const struct pps_compare_summary *s = pps_compare_summary(c);
	char rule[1024];
	size_t others = 0, max = r->max_rows ? r->max_rows : DEFAULT_ROWS, hidden = 0;

	fprintf(f, "pprofstore compare%s%s%s: ", r->type ? " (" : "", r->type ? r->type : "",
		r->type ? ")" : "");
	if (s->nr_regressed)
		fprintf(f, "REGRESSION in %zu function%s\n", s->nr_regressed,
			s->nr_regressed == 1 ? "" : "s");
	else
		fprintf(f, "no regression%s\n", s->nr_improved ? " (some improvements)" : "");
	write_side_text(f, "base", r->base, s->runs[0], s->samples[0]);
	write_side_text(f, "head", r->head, s->runs[1], s->samples[1]);
	rule_text(rule, sizeof(rule), s);
	write_wrapped(f, rule, 90);
	fputs("p: one-sided p-value of the change, * significant.\n\n", f);
	fprintf(f, "%-10s %9s %9s %8s %8s  %9s %9s %8s %8s  %s\n", "verdict", "flat base",
		"flat head", "change", "p", "cum base", "cum head", "change", "p", "function");
	for (size_t i = 0; i < pps_compare_nr_rows(c); i++) {
		const struct pps_compare_row *row = pps_compare_row(c, i);
		char b[8][32];

		if (!shown(row, &others, max)) {
			hidden += tested(row);
			continue;
		}
		row_cells(b, row, &s->opts);
		fprintf(f, "%-10s %9s %9s %8s %8s  %9s %9s %8s %8s  ", verdict_word(row), b[0],
			b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
		text_name(f, row->function);
		fputc('\n', f);
	}
	if (hidden)
		fprintf(f, "(%zu more tested function%s without a significant change)\n", hidden,
			hidden == 1 ? "" : "s");
}

/* Markdown: a code span long enough for the backticks inside; '|' escaped for the table. */
static void md_name(FILE *f, const char *s)
{
	size_t run = 0, longest = 0;
	bool pad = *s == '`' || (*s && s[strlen(s) - 1] == '`');

	for (const char *p = s; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	for (size_t i = 0; i <= longest; i++)
		fputc('`', f);
	if (pad)
		fputc(' ', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '|')
			fputs("\\|", f);
		else
			fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
	}
	if (pad)
		fputc(' ', f);
	for (size_t i = 0; i <= longest; i++)
		fputc('`', f);
}

/* Markdown: a selection in a code span (selections hold no backticks or pipes worth
 * keeping; they are replaced). */
static void md_sel(FILE *f, const char *s)
{
	fputc('`', f);
	for (const unsigned char *p = (const unsigned char *)(s ? s : "-"); *p; p++)
		fputc(*p == '`' || *p == '|' || *p < 0x20 ? '?' : *p, f);
	fputc('`', f);
}

static void write_markdown(FILE *f, const struct pps_compare *c, const struct pps_compare_report *r)
{
	const struct pps_compare_summary *s = pps_compare_summary(c);
	char rule[1024];
	size_t others = 0, max = r->max_rows ? r->max_rows : DEFAULT_ROWS, hidden = 0;

	fprintf(f, "### pprofstore compare%s%s%s: ", r->type ? " (" : "", r->type ? r->type : "",
		r->type ? ")" : "");
	if (s->nr_regressed)
		fprintf(f, ":x: regression in %zu function%s\n\n", s->nr_regressed,
			s->nr_regressed == 1 ? "" : "s");
	else
		fprintf(f, ":white_check_mark: no regression\n\n");
	fputs("Base ", f);
	md_sel(f, r->base);
	fprintf(f, ": %zu run%s, %" PRId64 " samples. Head ", s->runs[0],
		s->runs[0] == 1 ? "" : "s", s->samples[0]);
	md_sel(f, r->head);
	fprintf(f, ": %zu run%s, %" PRId64 " samples.\n\n", s->runs[1], s->runs[1] == 1 ? "" : "s",
		s->samples[1]);
	rule_text(rule, sizeof(rule), s);
	fputs(rule, f);
	fputs(" *p*: one-sided p-value of the change; \\* significant.\n\n", f);
	fputs("| verdict | function | flat base | flat head | flat change | flat p | cum base | "
	      "cum head | cum change | cum p |\n",
	      f);
	fputs("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n", f);
	for (size_t i = 0; i < pps_compare_nr_rows(c); i++) {
		const struct pps_compare_row *row = pps_compare_row(c, i);
		char b[8][32];

		if (!shown(row, &others, max)) {
			hidden += tested(row);
			continue;
		}
		row_cells(b, row, &s->opts);
		if (flagged(row))
			fprintf(f, "| **%s** | ", verdict_word(row));
		else
			fputs("| | ", f);
		md_name(f, row->function);
		/* '*' after a p-value would start emphasis: escape it. */
		for (int k = 0; k < 8; k++) {
			size_t len = strlen(b[k]);

			if (len && b[k][len - 1] == '*')
				fprintf(f, " | %.*s\\*", (int)(len - 1), b[k]);
			else
				fprintf(f, " | %s", b[k]);
		}
		fputs(" |\n", f);
	}
	if (hidden)
		fprintf(f, "\n%zu more tested function%s without a significant change.\n", hidden,
			hidden == 1 ? "" : "s");
}

/* JSON string: UTF-8 passes through, invalid bytes become U+FFFD, controls \u00XX. */
static void json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	fputc('"', f);
	while (*p) {
		size_t len = 0;

		if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p++);
			continue;
		}
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p++);
			continue;
		}
		if (*p < 0x80) {
			fputc(*p++, f);
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			len = 2;
		else if (*p >= 0xe0 && *p <= 0xef)
			len = 3;
		else if (*p >= 0xf0 && *p <= 0xf4)
			len = 4;
		for (size_t i = 1; i < len; i++)
			if ((p[i] & 0xc0) != 0x80)
				len = 0; /* also stops at the NUL */
		/* Overlong 3- and 4-byte forms, surrogates and past U+10FFFF. */
		if (len == 3 && ((*p == 0xe0 && p[1] < 0xa0) || (*p == 0xed && p[1] >= 0xa0)))
			len = 0;
		if (len == 4 && ((*p == 0xf0 && p[1] < 0x90) || (*p == 0xf4 && p[1] >= 0x90)))
			len = 0;
		if (!len) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		fwrite(p, 1, len, f);
		p += len;
	}
	fputc('"', f);
}

/* A finite double, or null (JSON has no infinities). */
static void json_number(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.17g", v);
	else
		fputs("null", f);
}

static const char *verdict_json(enum pps_compare_verdict v)
{
	switch (v) {
	case PPS_VERDICT_SAME:
		return "same";
	case PPS_VERDICT_REGRESSED:
		return "regressed";
	case PPS_VERDICT_IMPROVED:
		return "improved";
	case PPS_VERDICT_UNTESTED:
	default:
		return "untested";
	}
}

static void json_stat(FILE *f, const char *key, const struct pps_compare_stat *s)
{
	fprintf(f, "\"%s\": {\"base\": ", key);
	json_number(f, s->base);
	fputs(", \"head\": ", f);
	json_number(f, s->head);
	fputs(", \"change\": ", f);
	json_number(f, s->change);
	fputs(", \"relative_change\": ", f);
	json_number(f, s->rel_change);
	fputs(", \"t\": ", f);
	json_number(f, s->t);
	fputs(", \"df\": ", f);
	json_number(f, s->df);
	fputs(", \"p_up\": ", f);
	json_number(f, s->p_up);
	fputs(", \"p_down\": ", f);
	json_number(f, s->p_down);
	fprintf(f, ", \"significant\": %s, \"verdict\": \"%s\"}", s->significant ? "true" : "false",
		verdict_json(s->verdict));
}

static void write_json(FILE *f, const struct pps_compare *c, const struct pps_compare_report *r)
{
	const struct pps_compare_summary *s = pps_compare_summary(c);
	const struct pps_compare_opts *o = &s->opts;
	size_t untested = 0;
	bool first = true;

	fputs("{\"type\": ", f);
	json_string(f, r->type);
	fputs(", \"regression\": ", f);
	fputs(s->nr_regressed ? "true" : "false", f);
	fputs(", \"base\": {\"selection\": ", f);
	json_string(f, r->base);
	fprintf(f, ", \"runs\": %zu, \"samples\": %" PRId64 "}, \"head\": {\"selection\": ",
		s->runs[0], s->samples[0]);
	json_string(f, r->head);
	fprintf(f, ", \"runs\": %zu, \"samples\": %" PRId64 "}", s->runs[1], s->samples[1]);
	fprintf(f, ", \"test\": \"%s\", \"correction\": \"holm\", \"alpha\": ",
		s->welch ? "welch" : "two-proportion-z");
	json_number(f, o->alpha);
	fprintf(f, ", \"threshold\": {\"%s\": ", o->threshold_abs ? "absolute" : "relative");
	json_number(f, o->threshold);
	fputs("}, \"min_share\": ", f);
	json_number(f, o->min_share);
	fprintf(f, ", \"tests\": %zu, \"regressed\": %zu, \"improved\": %zu, \"functions\": [",
		s->nr_tests, s->nr_regressed, s->nr_improved);
	for (size_t i = 0; i < pps_compare_nr_rows(c); i++) {
		const struct pps_compare_row *row = pps_compare_row(c, i);

		if (!tested(row)) {
			untested++;
			continue;
		}
		fputs(first ? "\n  {\"name\": " : ",\n  {\"name\": ", f);
		first = false;
		json_string(f, row->function);
		fputs(", ", f);
		json_stat(f, "flat", &row->flat);
		fputs(", ", f);
		json_stat(f, "cum", &row->cum);
		fputc('}', f);
	}
	fprintf(f, "%s], \"untested_functions\": %zu}\n", first ? "" : "\n", untested);
}

PPS_API int pps_compare_write(const struct pps_compare *c, const struct pps_compare_report *r,
			      enum pps_compare_format format, FILE *f)
{
	static const struct pps_compare_report none = {0};

	if (!c || !f || !pps_compare_summary(c))
		return -EINVAL;
	if (!r)
		r = &none;
	switch (format) {
	case PPS_COMPARE_TEXT:
		write_text(f, c, r);
		break;
	case PPS_COMPARE_MARKDOWN:
		write_markdown(f, c, r);
		break;
	case PPS_COMPARE_JSON:
		write_json(f, c, r);
		break;
	default:
		return -EINVAL;
	}
	return fflush(f) || ferror(f) ? -EIO : 0;
}
