/* SPDX-License-Identifier: BSD-2-Clause */
/* Command-line value parsing shared by perf2pprof and pprofstore. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"

/*
 * A duration as Go's time.ParseDuration reads one, plus days: a run of decimal numbers
 * each with a unit ("1h30m", "1.5s", "250ms", "7d"); a lone number without a unit is
 * seconds. strtod alone would also take "nan", "inf", hex and leading blanks.
 */
bool cmd_parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char *suffix;
		double mult;
	} units[] = {/* two-letter units before the one-letter ones they start with */
		     {"ns", 1},	 {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3}, {"ms", 1e6},
		     {"s", 1e9}, {"m", 60e9}, {"h", 3600e9},	  {"d", 86400e9}};
	const size_t nr_units = sizeof(units) / sizeof(units[0]);
	const char *p = s;
	double total = 0;

	if (!*p)
		return false;
	while (*p) {
		const char *q = p;
		char num[64];
		size_t i, len, ulen = 0;

		while (isdigit((unsigned char)*q))
			q++;
		if (*q == '.')
			for (q++; isdigit((unsigned char)*q); q++)
				;
		len = (size_t)(q - p);
		if (!len || (len == 1 && *p == '.') || len >= sizeof(num))
			return false;
		memcpy(num, p, len);
		num[len] = '\0';
		for (i = 0; i < nr_units; i++) {
			ulen = strlen(units[i].suffix);
			if (!strncmp(q, units[i].suffix, ulen))
				break;
		}
		if (i < nr_units) {
			total += strtod(num, NULL) * units[i].mult;
			p = q + ulen;
		} else if (p == s && !*q) {
			total = strtod(num, NULL) * 1e9;
			p = q;
		} else {
			return false;
		}
	}
	if (total >= 1.8e19)
		return false;
	*ns = (uint64_t)total;
	return true;
}

bool cmd_parse_time(const char *s, int64_t *ns)
{
	int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
	double frac = 0;
	struct tm tm = {0};
	const char *p;
	char *end;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) == 6 &&
	    n > 0) {
		p = s + n;
		if (*p == '.') {
			errno = 0;
			frac = strtod(p, &end);
			if (errno || end == p + 1)
				return false;
			p = end;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int k = 0;

			if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5)
				return false;
			if (*p == '-') {
				oh = -oh;
				om = -om;
			}
			p += 6;
		} else {
			return false;
		}
		if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
			return false;
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = sec;
		t = timegm(&tm);
		t -= (time_t)oh * 3600 + (time_t)om * 60;
		*ns = (int64_t)t * 1000000000 + (int64_t)(frac * 1e9);
		return true;
	}
	if (*s == '-' && s[1] && !isdigit((unsigned char)s[strlen(s) - 1])) {
		struct timespec now;
		uint64_t ago;

		if (!cmd_parse_duration(s + 1, &ago) || ago > INT64_MAX / 2)
			return false;
		clock_gettime(CLOCK_REALTIME, &now);
		*ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - (int64_t)ago;
		return true;
	}
	errno = 0;
	frac = strtod(s, &end);
	if (errno || end == s || *end || frac < -9.2e9 || frac > 9.2e9)
		return false;
	*ns = (int64_t)(frac * 1e9);
	return true;
}

bool cmd_parse_ids(const char *prog, const char *opt, const char *s, int32_t **v, size_t *n)
{
	const char *p = s;

	free(*v);
	*v = NULL;
	*n = 0;
	while (*p) {
		char *end;
		long x;
		int32_t *nv;

		errno = 0;
		x = strtol(p, &end, 10);
		if (errno || end == p || x < -1 || x > INT32_MAX || (*end && *end != ',')) {
			fprintf(stderr, "%s: %s: bad id list '%s'\n", prog, opt, s);
			return false;
		}
		nv = realloc(*v, (*n + 1) * sizeof(**v));
		if (!nv)
			return false;
		*v = nv;
		(*v)[(*n)++] = (int32_t)x;
		p = *end ? end + 1 : end;
	}
	if (!*n) {
		fprintf(stderr, "%s: %s: empty id list\n", prog, opt);
		return false;
	}
	return true;
}

bool cmd_parse_flags(const char *s, const struct cmd_flag *names, size_t n, unsigned int *bits,
		     const char *prog, const char *option, const char *what)
{
	const char *p = s;

	*bits = 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		bool found = false;

		for (size_t i = 0; i < n; i++) {
			if (strlen(names[i].name) == len && !strncmp(p, names[i].name, len)) {
				*bits |= names[i].bit;
				found = true;
			}
		}
		if (!found) {
			fprintf(stderr, "%s: %s: unknown %s '%.*s' (", prog, option, what, (int)len,
				p);
			for (size_t i = 0; i < n; i++)
				fprintf(stderr, "%s%s", i ? ", " : "", names[i].name);
			fputs(")\n", stderr);
			return false;
		}
		p += len + (p[len] == ',');
	}
	return true;
}

bool cmd_sym_option(int c, const char *arg, struct pps_convert_opts *o)
{
	switch (c) {
	case CMD_OPT_SYMFS:
		o->symfs = arg;
		return true;
	case CMD_OPT_KALLSYMS:
		o->kallsyms = arg;
		return true;
	case CMD_OPT_VMLINUX:
		o->vmlinux = arg;
		return true;
	case CMD_OPT_BUILDID_DIR:
		o->buildid_dir = arg;
		return true;
	case CMD_OPT_NO_SYMBOLIZE:
		o->no_symbolize = true;
		return true;
	case CMD_OPT_NO_INLINE:
		o->no_inline = true;
		return true;
	default:
		return false;
	}
}

void cmd_sym_env(struct pps_convert_opts *o)
{
	const char *urls = getenv("DEBUGINFOD_URLS");

	o->debuginfod = urls && *urls;
}
