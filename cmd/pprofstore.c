/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pprofstore: the profile store's command line: ingest, query, top, list, gc (ingest in
 * ingest.c; diff and compare in compare.c). Parses options, calls lib/, reports errors.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

static const char usage[] =
    "usage: pprofstore [--db PATH] ingest [OPTIONS] FILE... [--tag KEY=VALUE]...\n"
    "       pprofstore [--db PATH] query --type TYPE [SELECTION] -o FILE\n"
    "       pprofstore [--db PATH] top --type TYPE [SELECTION] [--nodecount N]\n"
    "       pprofstore [--db PATH] list\n"
    "       pprofstore [--db PATH] gc --keep DUR\n"
    "       pprofstore [--db PATH] record [OPTIONS] [-a | -p PID | [--] COMMAND [ARGS...]]\n"
    "       pprofstore [--db PATH] diff --type TYPE --base SEL --head SEL -o FILE\n"
    "                                   [--base-out FILE] [--head-out FILE]\n"
    "       pprofstore [--db PATH] compare --type TYPE --base SEL --head SEL\n"
    "                  [--threshold 5%] [--min-share 1%] [--alpha 0.01]\n"
    "                  [--format text|markdown|json] [-o FILE]\n"
    "SELECTION: [--window DUR | --from TIME --to TIME] [--tag KEY=VALUE]...\n"
    "           [--label KEY=VALUE]...\n"
    "\n"
    "Keeps pprof profiles from perf.data recordings and pprof files in a SQLite store,\n"
    "by time bucket, and reads them back for any time range.\n"
    "\n"
    "Commands:\n"
    "  ingest FILE...      store each file as one source, atomically: a perf.data\n"
    "                      (every profile type it holds, as perf2pprof --all, each\n"
    "                      sample in the bucket of its time) or a pprof file (Go's\n"
    "                      runtime/pprof, ours; in the bucket of its start). '-' reads\n"
    "                      standard input. The same content again is a no-op that says so\n"
    "  query               write the pprof (gzipped) of one type over a selection\n"
    "  top                 print the flat/cum table of a selection, like pprof -top\n"
    "  list                sources, tags, time ranges, types, sample counts and where\n"
    "                      each source's times come from\n"
    "  gc --keep DUR       delete data older than DUR and return the space\n"
    "  record              record live with perf_event_open, a window at a time, each\n"
    "                      in its own transaction (pprofstore record --help)\n"
    "  diff                one pprof profile of head minus base, built as\n"
    "                      pprof -diff_base builds it: pprof -top diff.pprof\n"
    "  compare             the regression gate: per function, flat and cum share in\n"
    "                      base and head, the change and its significance\n"
    "\n"
    "A selection SEL is a comma-separated list of terms: window=DUR (ending at to=,\n"
    "else at the newest data of the selection), from=TIME, to=TIME, and KEY=VALUE:\n"
    "only sources with that tag (--base commit=abc123,host=ci1).\n"
    "\n"
    "Options:\n"
    "      --db PATH       the database (default $PPROFSTORE_DB, else ./pprofstore.db);\n"
    "                      ingest creates it\n"
    "      --bucket DUR    time bucket width of a new database (default 10s)\n"
    "      --tag KEY=VALUE ingest: tag the sources; query, top: only sources with the tag\n"
    "      --label KEY=VALUE  query, top: only samples with this label (pid=42,\n"
    "                      comm=worker, state=S, lock=futex)\n"
    "  -t, --type TYPE     query, top: cpu, block, mutex, heap, an event name...;\n"
    "                      ingest: the type of the pprof files (default: from their\n"
    "                      sample types)\n"
    "      --from TIME     query, top: from TIME (RFC 3339, unix seconds, or -1h: ago)\n"
    "      --to TIME       query, top: until TIME (exclusive)\n"
    "      --window DUR    query, top: DUR (10m, 1h, 30s) ending at --to, else at the\n"
    "                      newest data of the selection\n"
    "  -o, --output FILE   query, diff: where to write the profile ('-': standard\n"
    "                      output, not a terminal); compare: the report (default -)\n"
    "      --time-origin TIME  ingest: the wall-clock time of a perf.data's first sample\n"
    "                      (of a pprof file's start), instead of CLOCK_DATA or the file's\n"
    "                      modification time\n"
    "      --nodecount N   top: at most N rows (default: all above --nodefraction)\n"
    "      --nodefraction F  top: leave out functions with cum below F of the total\n"
    "                      (default 0.005, as pprof)\n"
    "      --sample-index NAME|N  top: the value to show (default: the type's default,\n"
    "                      else its last, as pprof)\n"
    "      --keep DUR      gc: keep the data of the last DUR (7d, 12h)\n"
    "      --base SEL, --head SEL\n"
    "                      diff, compare: the two selections\n"
    "      --base-out FILE, --head-out FILE\n"
    "                      diff: also write each side, for pprof -diff_base\n"
    "      --threshold T   compare: the smallest change that counts: N% of base's\n"
    "                      share (default 5%), or Npp, percentage points of share\n"
    "      --min-share S   compare: test only functions with a share of at least S\n"
    "                      on one side (default 1%)\n"
    "      --alpha A       compare: the chance that identical builds fail (default\n"
    "                      0.01)\n"
    "      --format F      compare: text (default), markdown, json\n"
    "      --symfs DIR, --kallsyms FILE, --vmlinux FILE, --buildid-dir DIR,\n"
    "      --no-symbolize, --no-inline\n"
    "                      ingest: symbolization, as perf2pprof (done at ingest, while\n"
    "                      the binaries are at hand; debuginfod when DEBUGINFOD_URLS\n"
    "                      is set)\n"
    "  -q, --quiet         only errors on standard error\n"
    "  -v, --verbose       ingest: time spent converting and storing each file;\n"
    "                      list: the database's schema version and bucket width\n"
    "  -h, --help          this help\n"
    "  -V, --version       the version\n"
    "\n"
    "compare's rule: each stored source is a run. A function's flat share is the\n"
    "part of a run's samples with it as leaf, its cum share the part with it on the\n"
    "stack. Head's mean share is tested against base's: with two or more runs on\n"
    "both sides by Welch's t-test over the per-run shares (each side's variance at\n"
    "least the binomial one), else by the two-proportion z-test on sample counts.\n"
    "Flat and cum of every function with a share of at least --min-share on one\n"
    "side are tested, with Holm's correction over all of them at --alpha. A function\n"
    "regressed when its flat or cum share grew significantly and by more than\n"
    "--threshold. Record 5 or more runs a side: one run cannot tell run-to-run\n"
    "noise from a change, and two or three leave Welch's test few degrees of freedom.\n"
    "\n"
    "Exit status: 0 success (also: nothing new to ingest, an empty selection);\n"
    "1 error (unreadable or unrecognized input, unknown type, missing database, a\n"
    "database from a newer pprofstore, database error); 2 usage error.\n"
    "compare: 0 no regression, 1 regression, 2 error of any kind.\n";

enum {
	OPT_DB = 256,
	OPT_BUCKET,
	OPT_TAG,
	OPT_LABEL,
	OPT_FROM,
	OPT_TO,
	OPT_WINDOW,
	OPT_TIME_ORIGIN,
	OPT_NODECOUNT,
	OPT_NODEFRACTION,
	OPT_SAMPLE_INDEX,
	OPT_KEEP,
	OPT_BASE,
	OPT_HEAD,
	OPT_BASE_OUT,
	OPT_HEAD_OUT,
	OPT_THRESHOLD,
	OPT_MIN_SHARE,
	OPT_ALPHA,
	OPT_FORMAT,
};

/* Everything the command line says. */
struct args {
	const char *db;
	uint64_t bucket_ns;
	struct pps_store_tag *tags, *labels;
	size_t nr_tags, nr_labels;
	const char *type;
	const char *from, *to, *window;
	const char *output;
	const char *sample_index;
	long nodecount;
	double nodefraction;
	uint64_t keep_ns;
	bool has_keep;
	bool quiet;
	bool verbose; /* -v: per-file timings */
	struct ingest_args ingest;
	struct compare_args cmp; /* diff and compare; db, type, output, quiet set at dispatch */
};

static bool quiet;

static void log_stderr(enum pps_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level > PPS_LOG_WARN || (quiet && level > PPS_LOG_ERROR))
		return;
	fprintf(stderr, "pprofstore: %s\n", msg);
}

/* RFC 3339 UTC with ms. */
static void format_time(char *buf, size_t size, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (ns % 1000000000 < 0)
		t--;
	gmtime_r(&t, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(((ns % 1000000000) + 1000000000) % 1000000000 / 1000000));
}

/* Appends KEY=VALUE (kv is modified) to a tag or label list; false (said) when malformed. */
static bool add_kv(const char *opt, char *kv, struct pps_store_tag **list, size_t *n)
{
	char *eq = strchr(kv, '=');
	struct pps_store_tag *nt;

	if (!eq || eq == kv) {
		fprintf(stderr, "pprofstore: --%s: expected KEY=VALUE, got '%s'\n", opt, kv);
		return false;
	}
	nt = realloc(*list, (*n + 1) * sizeof(*nt));
	if (!nt)
		return false;
	*list = nt;
	*eq = '\0';
	nt[*n].key = kv;
	nt[(*n)++].value = eq + 1;
	return true;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Opens the store; NULL (said) when it cannot. A missing one is named as such. */
static struct pps_store *open_store(const struct args *a, unsigned int flags)
{
	struct pps_store *s = pps_store_open(a->db, flags, (int64_t)a->bucket_ns);

	if (s)
		return s;
	if (errno == ENOENT)
		fprintf(stderr,
			"pprofstore: no database at %s (ingest creates one; --db PATH or "
			"$PPROFSTORE_DB choose another)\n",
			a->db);
	else
		fprintf(stderr, "pprofstore: %s: cannot open the store: %s\n", a->db,
			strerror(errno));
	return NULL;
}

static int cmd_ingest(int nfiles, char **files, const struct args *a)
{
	struct pps_store *s;
	int ret = EXIT_OK, nstdin = 0;

	if (!nfiles) {
		fprintf(stderr, "pprofstore: ingest: no FILE\n%s", usage);
		return EXIT_USAGE;
	}
	for (int i = 0; i < nfiles; i++)
		nstdin += !strcmp(files[i], "-");
	if (nstdin > 1) {
		fprintf(stderr, "pprofstore: ingest: '-' (standard input) given twice\n");
		return EXIT_USAGE;
	}
	s = open_store(a, PPS_STORE_CREATE);
	if (!s)
		return EXIT_ERROR;
	for (int i = 0; i < nfiles; i++)
		if (cmd_ingest_file(s, files[i], &a->ingest) != EXIT_OK)
			ret = EXIT_ERROR;
	pps_store_close(s);
	return ret;
}

static void print_type(const char *type, void *ctx)
{
	int *n = ctx;

	fprintf(stderr, "%s%s", (*n)++ ? ", " : " ", type);
}

/* Parses the selection options into sel (before the store is opened). Returns an exit
 * code: EXIT_OK, or EXIT_USAGE (said). */
static int parse_selection(const struct args *a, const char *cmd, int64_t *from, int64_t *to,
			   uint64_t *window)
{
	const char *bad = NULL;

	*from = INT64_MIN;
	*to = INT64_MAX;
	*window = 0;
	if (!a->type) {
		fprintf(stderr, "pprofstore: %s: --type is required\n", cmd);
		return EXIT_USAGE;
	}
	if (a->from && !cmd_parse_time(a->from, from))
		bad = a->from;
	else if (a->to && !cmd_parse_time(a->to, to))
		bad = a->to;
	if (bad) {
		fprintf(stderr,
			"pprofstore: %s: bad TIME '%s' (RFC 3339 like 2024-05-01T12:00:00Z, unix "
			"seconds, or relative like -1h)\n",
			cmd, bad);
		return EXIT_USAGE;
	}
	if (a->window && a->from) {
		fprintf(stderr, "pprofstore: %s: --window and --from exclude each other\n", cmd);
		return EXIT_USAGE;
	}
	if (a->window &&
	    (!cmd_parse_duration(a->window, window) || !*window || *window > (uint64_t)INT64_MAX)) {
		fprintf(stderr, "pprofstore: %s: bad --window '%s' (a duration: 10m, 1h, 30s)\n",
			cmd, a->window);
		return EXIT_USAGE;
	}
	if (*from >= *to) {
		fprintf(stderr, "pprofstore: %s: --from is not before --to\n", cmd);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/*
 * The profile of the selection the options describe, summed from the store. Returns an
 * exit code; on EXIT_OK *out holds the profile and *s the open store.
 */
static int select_profile(const struct args *a, const char *cmd, struct pps_store **s,
			  struct pps_profile **out)
{
	struct pps_store_selection sel = {.sz = sizeof(sel), .type = a->type};
	int64_t from, to, first;
	uint64_t window;
	int ret, err, n = 0;

	ret = parse_selection(a, cmd, &from, &to, &window);
	if (ret != EXIT_OK)
		return ret;
	*s = open_store(a, PPS_STORE_READONLY);
	if (!*s)
		return EXIT_ERROR;
	sel.tags = a->tags;
	sel.nr_tags = a->nr_tags;
	sel.labels = a->labels;
	sel.nr_labels = a->nr_labels;
	if (a->window) {
		if (!a->to) {
			/* The window ends at the newest sample of the selection. */
			sel.from_ns = INT64_MIN;
			sel.to_ns = INT64_MAX;
			err = pps_store_select_range(*s, &sel, &first, &to);
			if (err < 0 && err != -ENOENT) {
				fprintf(stderr, "pprofstore: %s: %s\n", cmd, strerror(-err));
				return EXIT_ERROR;
			}
			if (err)
				to = 0;
		}
		from = to < INT64_MIN + (int64_t)window ? INT64_MIN : to - (int64_t)window;
	}
	sel.from_ns = from;
	sel.to_ns = to;
	*out = pps_store_select(*s, &sel);
	if (!*out) {
		if (errno == ENOENT) {
			fprintf(stderr,
				"pprofstore: no profiles of type '%s'; the store has:", a->type);
			pps_store_for_each_type(*s, print_type, &n);
			fputs(n ? "\n" : " nothing\n", stderr);
		} else {
			fprintf(stderr, "pprofstore: %s: %s\n", cmd, strerror(errno));
		}
		return EXIT_ERROR;
	}
	if (!pps_profile_nr_samples(*out) && !a->quiet)
		fprintf(stderr, "pprofstore: no %s samples in the selection; %s\n", a->type,
			!strcmp(cmd, "query") ? "writing an empty profile" : "nothing to show");
	return EXIT_OK;
}

static int cmd_query(const struct args *a)
{
	struct pps_profile *p = NULL;
	struct pps_store *s = NULL;
	FILE *f = stdout;
	int ret, err;

	if (!a->output) {
		fprintf(stderr, "pprofstore: query: -o FILE is required\n");
		return EXIT_USAGE;
	}
	if (!strcmp(a->output, "-") && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "pprofstore: not writing a gzipped profile to a terminal; use -o "
				"FILE or a pipe\n");
		return EXIT_USAGE;
	}
	ret = select_profile(a, "query", &s, &p);
	if (ret != EXIT_OK)
		goto out;
	ret = EXIT_ERROR;
	if (strcmp(a->output, "-")) {
		f = fopen(a->output, "wb");
		if (!f) {
			fprintf(stderr, "pprofstore: %s: %s\n", a->output, strerror(errno));
			goto out;
		}
	}
	err = pps_profile_write(p, f);
	if (f != stdout ? fclose(f) != 0 : fflush(f) != 0)
		err = err ? err : -errno;
	if (err) {
		fprintf(stderr, "pprofstore: %s: write error: %s\n", a->output, strerror(-err));
		goto out;
	}
	ret = EXIT_OK;
out:
	pps_profile_free(p);
	pps_store_close(s);
	return ret;
}

/* ---- top: pprof's value formatting (internal/measurement) ----------------------------- */

/* A unit pprof scales: its names and factor to the base unit (ns, bytes). */
struct unit {
	const char *name; /* as printed */
	const char *aliases[4];
	double factor;
};

static const struct unit time_units[] = {
    {"ns", {"ns", "nanosecond"}, 1},	{"us", {"us", "microsecond", "\xce\xbcs"}, 1e3},
    {"ms", {"ms", "millisecond"}, 1e6}, {"s", {"s", "sec", "second"}, 1e9},
    {"hrs", {"hour", "hr"}, 3600e9},
};
static const struct unit memory_units[] = {
    {"B", {"b", "byte"}, 1},
    {"kB", {"kb", "kbyte", "kilobyte"}, 1024.0},
    {"MB", {"mb", "mbyte", "megabyte"}, 1048576.0},
    {"GB", {"gb", "gbyte", "gigabyte"}, 1073741824.0},
    {"TB", {"tb", "tbyte", "terabyte"}, 1099511627776.0},
    {"PB", {"pb", "pbyte", "petabyte"}, 1125899906842624.0},
};

/* The unit family (time or memory) and unit of a sample unit name, as pprof sniffs it
 * (lower case, a plural s dropped); NULL for others (counts). */
static const struct unit *sniff(const char *name, const struct unit **family, size_t *nr)
{
	static const struct {
		const struct unit *u;
		size_t n;
	} fams[] = {{memory_units, 6}, {time_units, 5}};
	char low[64];
	size_t len = strlen(name);

	if (len >= sizeof(low))
		return NULL;
	for (size_t i = 0; i <= len; i++)
		low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	if (len > 2 && low[len - 1] == 's')
		low[len - 1] = '\0';
	for (size_t f = 0; f < 2; f++)
		for (size_t i = 0; i < fams[f].n; i++)
			for (size_t k = 0; k < 4 && fams[f].u[i].aliases[k]; k++)
				if (!strcmp(low, fams[f].u[i].aliases[k])) {
					*family = fams[f].u;
					*nr = fams[f].n;
					return &fams[f].u[i];
				}
	return NULL;
}

/* pprof's Scale(value, unit, to): to NULL is "minimum" (auto-scale). *out_unit: the unit
 * printed ("" for counts). */
static double scale(int64_t value, const char *unit, const char *to, const char **out_unit)
{
	const struct unit *fam, *from, *u = NULL;
	size_t n;
	double v;

	from = sniff(unit, &fam, &n);
	if (!from) {
		*out_unit = "";
		return (double)value;
	}
	v = (double)value * from->factor;
	if (to) {
		const struct unit *tf;
		size_t tn;

		u = sniff(to, &tf, &tn);
		if (u && tf != fam)
			u = NULL;
	} else {
		for (size_t i = 0; i < n; i++)
			if (fabs(v) / fam[i].factor >= 1.0 && (!u || fam[i].factor >= u->factor))
				u = &fam[i];
	}
	if (!u)
		u = fam == time_units ? &time_units[3] : &memory_units[0];
	*out_unit = u->name;
	return v / u->factor;
}

/* pprof's ScaledLabel: "%.2f" without a trailing ".00", "0" for zero. */
static void label(char *buf, size_t size, int64_t value, const char *unit, const char *to)
{
	const char *u;
	double v = scale(value, unit, to, &u);
	size_t len;

	snprintf(buf, size, "%.2f", v);
	len = strlen(buf);
	if (len > 3 && !strcmp(buf + len - 3, ".00"))
		buf[len - 3] = '\0';
	if (!strcmp(buf, "0") || !strcmp(buf, "-0")) {
		snprintf(buf, size, "0");
		return;
	}
	snprintf(buf + strlen(buf), size - strlen(buf), "%s", u);
}

/* pprof's Percentage. */
static void percent(char *buf, size_t size, int64_t value, int64_t total)
{
	double r = total ? fabs((double)value / (double)total) * 100 : 0;

	if (r >= 99.95 && r <= 100.05)
		snprintf(buf, size, "  100%%");
	else if (r >= 1.0)
		snprintf(buf, size, "%5.2f%%", r);
	else
		snprintf(buf, size, "%5.2g%%", r);
}

/* The sample type index of --sample-index, else the default sample type, else the last
 * (pprof's rule). -1 (said) when no such sample type. */
static long sample_index(const struct pps_profile *p, const char *want)
{
	size_t n = pps_profile_nr_sample_types(p);
	const char *pt, *pu, *def, *t, *u;
	int64_t period;
	char *end;
	long i;

	pps_profile_get_period(p, &pt, &pu, &period, &def);
	if (!want)
		want = *def ? def : NULL;
	if (!want)
		return (long)n - 1;
	i = strtol(want, &end, 10);
	if (end != want && !*end && i >= 0 && (size_t)i < n)
		return i;
	for (size_t k = 0; k < n; k++) {
		pps_profile_get_sample_type(p, k, &t, &u);
		if (!strcmp(t, want))
			return (long)k;
	}
	fprintf(stderr, "pprofstore: top: no sample type '%s'; the type has:", want);
	for (size_t k = 0; k < n; k++) {
		pps_profile_get_sample_type(p, k, &t, &u);
		fprintf(stderr, " %s", t);
	}
	fputc('\n', stderr);
	return -1;
}

static int64_t abs64(int64_t v)
{
	return v < 0 ? -v : v;
}

/*
 * Prints pprof -top's table of sample type idx: its header lines, then the rows, values
 * scaled to one unit chosen as pprof does (from the smallest value shown and the total).
 * Returns an exit code.
 */
static int print_top(const struct pps_profile *p, size_t idx, const struct args *a)
{
	struct pps_top top;
	struct pps_mapping_info mi;
	const char *type, *unit, *min_u, *max_u, *out_u;
	char f[64], fp[16], sp[16], c[64], cp[16], name[4096];
	int64_t sum = 0, min = 0;
	int err;

	err = pps_profile_top(p, idx, a->nodefraction, 0.001, (size_t)a->nodecount, &top);
	if (err) {
		fprintf(stderr, "pprofstore: top: %s\n", strerror(-err));
		return EXIT_ERROR;
	}
	pps_profile_get_sample_type(p, idx, &type, &unit);
	for (size_t i = 0; i < top.nr; i++) {
		int64_t v = top.rows[i].flat ? abs64(top.rows[i].flat) : abs64(top.rows[i].cum);

		sum += top.rows[i].flat;
		if (v && (!min || v < min))
			min = v;
	}
	if (!min)
		min = top.total;
	scale(min, unit, NULL, &min_u);
	scale(top.total, unit, NULL, &max_u);
	out_u = min_u;
	if (strcmp(min_u, max_u) && min * 100 < top.total)
		scale(100 * min, unit, NULL, &out_u);
	if (!*out_u)
		out_u = NULL;
	if (pps_profile_nr_mappings(p) && !pps_profile_get_mapping(p, 1, &mi)) {
		const char *base = strrchr(mi.file, '/');

		if (*mi.file)
			printf("File: %s\n", base ? base + 1 : mi.file);
		if (*mi.build_id)
			printf("Build ID: %s\n", mi.build_id);
	}
	printf("Type: %s\n", type);
	label(f, sizeof(f), sum, unit, out_u);
	percent(fp, sizeof(fp), sum, top.total);
	label(c, sizeof(c), top.total, unit, out_u);
	printf("Showing nodes accounting for %s, %s of %s total\n", f, fp + strspn(fp, " "), c);
	if (top.nr_dropped && top.total) {
		label(f, sizeof(f), abs64((int64_t)((double)top.total * a->nodefraction)), unit,
		      out_u);
		printf("Dropped %zu node%s (cum <= %s)\n", top.nr_dropped,
		       top.nr_dropped > 1 ? "s" : "", f);
	}
	if (top.nr_beyond && top.total)
		printf("Showing top %zu nodes out of %zu\n", top.nr, top.nr + top.nr_beyond);
	printf("%10s %5s%% %5s%% %10s %5s%%\n", "flat", "flat", "sum", "cum", "cum");
	sum = 0;
	for (size_t i = 0; i < top.nr; i++) {
		const struct pps_top_row *r = &top.rows[i];

		sum += r->flat;
		label(f, sizeof(f), r->flat, unit, out_u);
		percent(fp, sizeof(fp), r->flat, top.total);
		percent(sp, sizeof(sp), sum, top.total);
		label(c, sizeof(c), r->cum, unit, out_u);
		percent(cp, sizeof(cp), r->cum, top.total);
		printf("%10s %s %s %10s %s  %s%s\n", f, fp, sp, c, cp,
		       pps_top_row_name(r, name, sizeof(name)),
		       !r->inlined ? ""
		       : r->called ? " (partial-inline)"
				   : " (inline)");
	}
	pps_top_release(&top);
	return EXIT_OK;
}

static int cmd_top(const struct args *a)
{
	struct pps_profile *p = NULL;
	struct pps_store *s = NULL;
	long idx;
	int ret;

	ret = select_profile(a, "top", &s, &p);
	if (ret == EXIT_OK) {
		idx = sample_index(p, a->sample_index);
		ret = idx < 0 ? EXIT_USAGE : print_top(p, (size_t)idx, a);
	}
	if (fflush(stdout) != 0 && ret == EXIT_OK) {
		fprintf(stderr, "pprofstore: top: write error: %s\n", strerror(errno));
		ret = EXIT_ERROR;
	}
	pps_profile_free(p);
	pps_store_close(s);
	return ret;
}

static void print_entry(const struct pps_store_entry *e, void *ctx)
{
	char from[80], to[80];
	char lost[32] = "-"; /* an ingested file: no windows, nothing to lose */

	(void)ctx;
	format_time(from, sizeof(from), e->start_ns);
	format_time(to, sizeof(to), e->end_ns);
	if (e->nr_windows)
		snprintf(lost, sizeof(lost), "%" PRId64, e->lost);
	printf("%" PRId64 "\t%s\t%s\t%s .. %s\t%" PRId64 "\t%s\t%s\t%s\t%s\t%s\n", e->source_id,
	       e->type, e->path, from, to, e->nr_samples, lost, e->time_origin,
	       *e->tags ? e->tags : "-", *e->host ? e->host : "-", e->cmdline);
}

static int cmd_list(const struct args *a)
{
	struct pps_store *s = open_store(a, PPS_STORE_READONLY);
	int err;

	if (!s)
		return EXIT_ERROR;
	if (a->verbose)
		fprintf(stderr, "pprofstore: %s: schema version %d, bucket width %" PRId64 " ns\n",
			a->db, PPS_STORE_SCHEMA_VERSION, pps_store_bucket_ns(s));
	printf("source\ttype\tpath\ttime range (UTC)\tsamples\tlost\ttime from\ttags\thost\t"
	       "command\n");
	err = pps_store_for_each_entry(s, print_entry, NULL);
	pps_store_close(s);
	return err ? EXIT_ERROR : EXIT_OK;
}

/* The bytes the database takes: the file and its WAL. */
static int64_t db_bytes(const char *path)
{
	char wal[4096];
	struct stat st;
	int64_t n = 0;

	if (stat(path, &st) == 0)
		n += st.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (stat(wal, &st) == 0)
		n += st.st_size;
	return n;
}

static int cmd_gc(const struct args *a)
{
	struct pps_store_gc_stats gs;
	struct pps_store *s;
	int64_t before, bytes;
	char when[80];
	int err;

	if (!a->has_keep) {
		fprintf(stderr, "pprofstore: gc: --keep DUR is required (7d, 12h)\n");
		return EXIT_USAGE;
	}
	s = pps_store_open(a->db, 0, 0);
	if (!s) {
		if (errno == ENOENT)
			fprintf(stderr, "pprofstore: no database at %s\n", a->db);
		else
			fprintf(stderr, "pprofstore: %s: cannot open the store: %s\n", a->db,
				strerror(errno));
		return EXIT_ERROR;
	}
	bytes = db_bytes(a->db);
	before = now_ns() - (int64_t)a->keep_ns;
	err = pps_store_gc(s, before, &gs);
	pps_store_close(s);
	if (err) {
		fprintf(stderr, "pprofstore: gc: %s\n", strerror(-err));
		return EXIT_ERROR;
	}
	format_time(when, sizeof(when), before);
	if (!a->quiet)
		fprintf(stderr,
			"pprofstore: gc: deleted %" PRId64 " sample rows of buckets ending by %s, "
			"%" PRId64 " sources, %" PRId64 " stacks, %" PRId64 " label sets, %" PRId64
			" locations, %" PRId64 " functions, %" PRId64 " mappings, %" PRId64
			" strings; %s: %" PRId64 " -> %" PRId64 " bytes\n",
			gs.nr_samples, when, gs.nr_sources, gs.nr_stacks, gs.nr_labelsets,
			gs.nr_locations, gs.nr_functions, gs.nr_mappings, gs.nr_strings, a->db,
			bytes, db_bytes(a->db));
	return EXIT_OK;
}

/* The value of a numeric option; false (said) when malformed. */
static bool parse_number(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *end || *out < lo || *out > hi) {
		fprintf(stderr, "pprofstore: --%s: bad value '%s'\n", opt, s);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"db", required_argument, NULL, OPT_DB},
	    {"bucket", required_argument, NULL, OPT_BUCKET},
	    {"tag", required_argument, NULL, OPT_TAG},
	    {"label", required_argument, NULL, OPT_LABEL},
	    {"type", required_argument, NULL, 't'},
	    {"from", required_argument, NULL, OPT_FROM},
	    {"to", required_argument, NULL, OPT_TO},
	    {"window", required_argument, NULL, OPT_WINDOW},
	    {"output", required_argument, NULL, 'o'},
	    {"time-origin", required_argument, NULL, OPT_TIME_ORIGIN},
	    {"nodecount", required_argument, NULL, OPT_NODECOUNT},
	    {"nodefraction", required_argument, NULL, OPT_NODEFRACTION},
	    {"sample-index", required_argument, NULL, OPT_SAMPLE_INDEX},
	    {"keep", required_argument, NULL, OPT_KEEP},
	    CMD_SYM_LONGOPTS,
	    {"base", required_argument, NULL, OPT_BASE},
	    {"head", required_argument, NULL, OPT_HEAD},
	    {"base-out", required_argument, NULL, OPT_BASE_OUT},
	    {"head-out", required_argument, NULL, OPT_HEAD_OUT},
	    {"threshold", required_argument, NULL, OPT_THRESHOLD},
	    {"min-share", required_argument, NULL, OPT_MIN_SHARE},
	    {"alpha", required_argument, NULL, OPT_ALPHA},
	    {"format", required_argument, NULL, OPT_FORMAT},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	PPS_CONVERT_OPTS(copts);
	struct args a = {0};
	char **rest = NULL;
	const char *cmd = NULL;
	double num;
	int c, nrest = 0, ret = EXIT_USAGE;

	a.nodefraction = 0.005;
	a.ingest.copts = &copts;
	a.db = getenv("PPROFSTORE_DB");
	if (!a.db || !*a.db)
		a.db = "./pprofstore.db";
	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!rest)
		return EXIT_ERROR;
	/* Options may come before or after the command; non-options are the command and
	 * its files, in order. */
	while (optind < argc) {
		c = getopt_long(argc, argv, "-t:o:qvhV", opts, NULL);
		if (c == -1)
			break;
		switch (c) {
		case 1:
			if (!cmd && !strcmp(optarg, "record")) {
				/* record has options of its own and a command after them. */
				struct store_globals g = {a.db,	   a.bucket_ns, a.tags, a.nr_tags,
							  a.quiet, a.verbose,	&copts};

				ret = cmd_record(argc - optind + 1, argv + optind - 1, &g);
				goto out;
			}
			if (!cmd)
				cmd = optarg;
			else
				rest[nrest++] = optarg;
			break;
		case OPT_DB:
			a.db = optarg;
			break;
		case OPT_BUCKET:
			if (!cmd_parse_duration(optarg, &a.bucket_ns) || !a.bucket_ns ||
			    a.bucket_ns > (uint64_t)INT64_MAX / 4) {
				fprintf(stderr, "pprofstore: --bucket: bad duration '%s'\n",
					optarg);
				goto out;
			}
			break;
		case OPT_TAG:
			if (!add_kv("tag", optarg, &a.tags, &a.nr_tags))
				goto out;
			break;
		case OPT_LABEL:
			if (!add_kv("label", optarg, &a.labels, &a.nr_labels))
				goto out;
			break;
		case 't':
			a.type = optarg;
			break;
		case OPT_FROM:
			a.from = optarg;
			break;
		case OPT_TO:
			a.to = optarg;
			break;
		case OPT_WINDOW:
			a.window = optarg;
			break;
		case 'o':
			a.output = optarg;
			break;
		case OPT_TIME_ORIGIN:
			if (!cmd_parse_time(optarg, &a.ingest.time_origin_ns)) {
				fprintf(stderr,
					"pprofstore: --time-origin: bad TIME '%s' (RFC 3339, unix "
					"seconds, or relative like -1h)\n",
					optarg);
				goto out;
			}
			a.ingest.has_time_origin = true;
			break;
		case OPT_NODECOUNT:
			if (!parse_number("nodecount", optarg, 0, 1e9, &num))
				goto out;
			a.nodecount = (long)num;
			break;
		case OPT_NODEFRACTION:
			if (!parse_number("nodefraction", optarg, 0, 1, &a.nodefraction))
				goto out;
			break;
		case OPT_SAMPLE_INDEX:
			a.sample_index = optarg;
			break;
		case OPT_KEEP:
			if (!cmd_parse_duration(optarg, &a.keep_ns) ||
			    a.keep_ns > (uint64_t)INT64_MAX / 2) {
				fprintf(stderr, "pprofstore: --keep: bad duration '%s' (7d, 12h)\n",
					optarg);
				goto out;
			}
			a.has_keep = true;
			break;
		case OPT_BASE:
			a.cmp.base = optarg;
			break;
		case OPT_HEAD:
			a.cmp.head = optarg;
			break;
		case OPT_BASE_OUT:
			a.cmp.base_out = optarg;
			break;
		case OPT_HEAD_OUT:
			a.cmp.head_out = optarg;
			break;
		case OPT_THRESHOLD:
			a.cmp.threshold = optarg;
			break;
		case OPT_MIN_SHARE:
			a.cmp.min_share = optarg;
			break;
		case OPT_ALPHA:
			a.cmp.alpha = optarg;
			break;
		case OPT_FORMAT:
			a.cmp.format = optarg;
			break;
		case 'q':
			a.quiet = quiet = true;
			break;
		case 'v':
			a.verbose = true;
			break;
		case 'h':
			fputs(usage, stdout);
			ret = EXIT_OK;
			goto out;
		case 'V':
			printf("pprofstore %s\n", pps_version());
			ret = EXIT_OK;
			goto out;
		default:
			if (cmd_sym_option(c, optarg, &copts))
				break;
			fputs(usage, stderr);
			goto out;
		}
	}
	while (optind < argc)
		rest[nrest++] = argv[optind++];
	a.ingest.tags = a.tags;
	a.ingest.nr_tags = a.nr_tags;
	a.ingest.type = a.type;
	a.ingest.quiet = a.quiet;
	a.ingest.verbose = a.verbose;
	cmd_sym_env(&copts);
	pps_set_log(log_stderr, NULL);
	if (!cmd) {
		fprintf(stderr, "pprofstore: no command\n%s", usage);
	} else if (!strcmp(cmd, "ingest")) {
		ret = cmd_ingest(nrest, rest, &a);
	} else if (nrest) {
		fprintf(stderr, "pprofstore: %s: unexpected argument '%s'\n", cmd, rest[0]);
	} else if (!strcmp(cmd, "query")) {
		ret = cmd_query(&a);
	} else if (!strcmp(cmd, "top")) {
		ret = cmd_top(&a);
	} else if (!strcmp(cmd, "list")) {
		ret = cmd_list(&a);
	} else if (!strcmp(cmd, "diff") || !strcmp(cmd, "compare")) {
		a.cmp.db = a.db;
		a.cmp.type = a.type;
		a.cmp.output = a.output;
		a.cmp.quiet = a.quiet;
		ret = !strcmp(cmd, "diff") ? cmd_diff(&a.cmp) : cmd_compare(&a.cmp);
	} else if (!strcmp(cmd, "gc")) {
		ret = cmd_gc(&a);
	} else {
		fprintf(stderr, "pprofstore: unknown command '%s'\n%s", cmd, usage);
	}
out:
	free(rest);
	free(a.tags);
	free(a.labels);
	return ret;
}
