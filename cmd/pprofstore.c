/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pprofstore: the profile store's command line (first slice: ingest, query, list).
 * Parses options, calls lib/ (pps_convert, pps_store), reports errors.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

static const char usage[] =
    "usage: pprofstore [--db PATH] ingest [OPTIONS] FILE... [--tag KEY=VALUE]...\n"
    "       pprofstore [--db PATH] query --type TYPE [--from TIME --to TIME | --window DUR]\n"
    "                                    [--tag KEY=VALUE]... -o FILE\n"
    "       pprofstore [--db PATH] list\n"
    "       pprofstore [--db PATH] record [OPTIONS] [-a | -p PID | [--] COMMAND [ARGS...]]\n"
    "\n"
    "Keeps pprof profiles from perf.data recordings in a SQLite store, by time.\n"
    "(First slice of the store: a recording's profiles go into the time bucket of\n"
    "their start; per-sample bucketing comes next.)\n"
    "\n"
    "Commands:\n"
    "  ingest FILE...      convert each perf.data (every profile type it holds, as\n"
    "                      perf2pprof --all) and store it as one source, atomically;\n"
    "                      the same content again is a no-op that says so\n"
    "  query               write the pprof (gzipped) of one type over a time range\n"
    "  list                sources, tags, time ranges, types and sample counts\n"
    "  record              record live with perf_event_open, a window at a time\n"
    "                      (pprofstore record --help)\n"
    "\n"
    "Options:\n"
    "      --db PATH       the database (default $PPROFSTORE_DB, else ./pprofstore.db);\n"
    "                      ingest creates it\n"
    "      --bucket DUR    time bucket width of a new database (default 10s)\n"
    "      --tag KEY=VALUE ingest: tag the sources; query: only sources with the tag\n"
    "  -t, --type TYPE     query: cpu, block, mutex or an event name\n"
    "      --from TIME     query: from TIME (RFC 3339, unix seconds, or -1h: ago)\n"
    "      --to TIME       query: until TIME (exclusive)\n"
    "      --window DUR    query: DUR (10m, 1h, 30s) ending at --to, else at the\n"
    "                      newest data of the type\n"
    "  -o, --output FILE   query: where to write ('-': standard output, not a terminal)\n"
    "      --symfs DIR, --kallsyms FILE, --vmlinux FILE, --no-symbolize\n"
    "                      ingest: symbolization, as perf2pprof\n"
    "  -q, --quiet         only errors on standard error\n"
    "  -v, --verbose       ingest: time spent converting and storing each file\n"
    "  -h, --help          this help\n"
    "  -V, --version       the version\n"
    "\n"
    "Exit status: 0 success (also: nothing new to ingest, an empty window);\n"
    "1 error (unreadable input, unknown type, database error); 2 usage error.\n";

enum {
	OPT_DB = 256,
	OPT_BUCKET,
	OPT_TAG,
	OPT_FROM,
	OPT_TO,
	OPT_WINDOW,
	OPT_SYMFS,
	OPT_KALLSYMS,
	OPT_VMLINUX,
	OPT_NO_SYMBOLIZE,
};

/* Everything the command line says. */
struct args {
	const char *db;
	uint64_t bucket_ns;
	struct pps_store_tag *tags;
	size_t nr_tags;
	const char *type;
	const char *from, *to, *window;
	const char *output;
	bool quiet;
	bool verbose; /* -v: per-file timings */
	struct pps_convert_opts *copts;
};

static bool quiet;

static void log_stderr(enum pps_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level > PPS_LOG_WARN || (quiet && level > PPS_LOG_ERROR))
		return;
	fprintf(stderr, "pprofstore: %s\n", msg);
}

/* RFC 3339 UTC with ms, for list. */
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

static bool add_tag(struct args *a, char *kv)
{
	char *eq = strchr(kv, '=');
	struct pps_store_tag *nt;

	if (!eq || eq == kv) {
		fprintf(stderr, "pprofstore: --tag: expected KEY=VALUE, got '%s'\n", kv);
		return false;
	}
	nt = realloc(a->tags, (a->nr_tags + 1) * sizeof(*nt));
	if (!nt)
		return false;
	a->tags = nt;
	*eq = '\0';
	a->tags[a->nr_tags].key = kv;
	a->tags[a->nr_tags++].value = eq + 1;
	return true;
}

static int64_t mtime_ns(const char *path)
{
	struct timespec ts;
	struct stat st;

	if (stat(path, &st) == 0)
		return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Seconds on the monotonic clock, for -v. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Converts and stores one perf.data. Returns an exit code. */
static int ingest_file(struct pps_store *s, const char *path, const struct args *a)
{
	PPS_READER_OPTS(ropts, .flags = PPS_READER_ORDERED);
	struct pps_store_source src = {.path = path, .tags = a->tags, .nr_tags = a->nr_tags};
	struct pps_profile **profiles = NULL;
	const char **types = NULL;
	struct pps_convert *c = NULL;
	struct pps_clock_data cd;
	struct pps_reader *r;
	double t_start = now_s(), t_store;
	int64_t id;
	size_t n;
	int err, ret = EXIT_ERROR;

	err = pps_store_hash_file(path, &src.content_hash, &src.size);
	if (err) {
		fprintf(stderr, "pprofstore: %s: cannot read: %s\n", path, strerror(-err));
		return EXIT_ERROR;
	}
	err = pps_store_has_source(s, src.content_hash, src.size, &id);
	if (err < 0)
		return EXIT_ERROR;
	if (err > 0) {
		if (!a->quiet)
			fprintf(stderr,
				"pprofstore: %s: already ingested (source %" PRId64
				"), nothing to do\n",
				path, id);
		return EXIT_OK;
	}
	r = pps_reader_open(path, &ropts);
	if (!r) {
		fprintf(stderr, "pprofstore: %s: cannot read: %s\n", path, strerror(errno));
		return EXIT_ERROR;
	}
	a->copts->end_wall_ns = mtime_ns(path);
	c = pps_convert_new(a->copts);
	if (!c) {
		fprintf(stderr, "pprofstore: %s\n", strerror(errno));
		goto out;
	}
	err = pps_convert_run(c, r);
	if (err) {
		fprintf(stderr, "pprofstore: %s: %s\n", path, strerror(-err));
		goto out;
	}
	pps_reader_clock_data(r, &cd);
	src.time_origin = cd.has_clock_data && cd.tod_ns ? "clock_data" : "mtime";
	src.host = pps_reader_hostname(r);
	src.cmdline = pps_reader_cmdline(r);
	n = pps_convert_nr_profiles(c);
	types = calloc(n + 1, sizeof(*types));
	profiles = calloc(n + 1, sizeof(*profiles));
	if (!types || !profiles) {
		fprintf(stderr, "pprofstore: %s\n", strerror(ENOMEM));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		types[i] = pps_convert_profile(c, i)->type;
		profiles[i] = pps_convert_profile(c, i)->profile;
	}
	t_store = now_s();
	err = pps_store_ingest(s, &src, types, profiles, n);
	if (a->verbose)
		fprintf(stderr, "pprofstore: %s: convert %.3f s, store %.3f s\n", path,
			t_store - t_start, now_s() - t_store);
	if (err == -EEXIST) {
		if (!a->quiet)
			fprintf(stderr, "pprofstore: %s: already ingested, nothing to do\n", path);
		ret = EXIT_OK;
		goto out;
	}
	if (err) {
		fprintf(stderr, "pprofstore: %s: not stored: %s\n", path, strerror(-err));
		goto out;
	}
	if (pps_reader_stats(r)->truncated || pps_reader_stats(r)->nr_bad_records)
		fprintf(stderr,
			"pprofstore: %s: the recording is damaged; stored what was "
			"readable\n",
			path);
	if (!a->quiet) {
		fprintf(stderr, "pprofstore: %s: stored", path);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "%s %s (%" PRIu64 " samples)", i ? "," : "", types[i],
				pps_convert_profile(c, i)->nr_samples);
		fputs(n ? "\n" : " no profiles (no samples)\n", stderr);
	}
	ret = EXIT_OK;
out:
	free(types);
	free(profiles);
	pps_convert_free(c);
	pps_reader_free(r);
	return ret;
}

static int cmd_ingest(int nfiles, char **files, const struct args *a)
{
	struct pps_store *s;
	int ret = EXIT_OK;

	if (!nfiles) {
		fprintf(stderr, "pprofstore: ingest: no FILE\n%s", usage);
		return EXIT_USAGE;
	}
	s = pps_store_open(a->db, PPS_STORE_CREATE, (int64_t)a->bucket_ns);
	if (!s) {
		fprintf(stderr, "pprofstore: %s: cannot open the store: %s\n", a->db,
			strerror(errno));
		return EXIT_ERROR;
	}
	for (int i = 0; i < nfiles; i++)
		if (ingest_file(s, files[i], a) != EXIT_OK)
			ret = EXIT_ERROR;
	pps_store_close(s);
	return ret;
}

/* For --window without --to: the newest end of the type's sources (with the tags). */
struct newest {
	const char *type;
	const struct args *a;
	int64_t end;
};

static bool has_tags(const char *list, const struct args *a)
{
	for (size_t i = 0; i < a->nr_tags; i++) {
		size_t kl = strlen(a->tags[i].key), vl = strlen(a->tags[i].value);
		const char *p = list;
		bool found = false;

		while (*p && !found) {
			size_t len = strcspn(p, ",");

			found = len == kl + 1 + vl && !strncmp(p, a->tags[i].key, kl) &&
				p[kl] == '=' && !strncmp(p + kl + 1, a->tags[i].value, vl);
			p += len + (p[len] == ',');
		}
		if (!found)
			return false;
	}
	return true;
}

static void find_newest(const struct pps_store_entry *e, void *ctx)
{
	struct newest *nw = ctx;

	if (!strcmp(e->type, nw->type) && has_tags(e->tags, nw->a) && e->end_ns > nw->end)
		nw->end = e->end_ns;
}

static void print_type(const char *type, void *ctx)
{
	int *n = ctx;

	fprintf(stderr, "%s%s", (*n)++ ? ", " : " ", type);
}

static int cmd_query(const struct args *a)
{
	int64_t from = INT64_MIN, to = INT64_MAX;
	struct pps_profile *p = NULL;
	struct pps_store *s = NULL;
	uint64_t window = 0;
	FILE *f = stdout;
	int ret = EXIT_ERROR, err, n = 0;

	if (!a->type || !a->output) {
		fprintf(stderr, "pprofstore: query: --type and -o are required\n");
		return EXIT_USAGE;
	}
	if ((a->from && !cmd_parse_time(a->from, &from)) ||
	    (a->to && !cmd_parse_time(a->to, &to))) {
		fprintf(stderr,
			"pprofstore: query: bad TIME '%s' (RFC 3339, unix seconds, or relative "
			"like -1h)\n",
			a->from && !cmd_parse_time(a->from, &from) ? a->from : a->to);
		return EXIT_USAGE;
	}
	if (a->window && (a->from || !cmd_parse_duration(a->window, &window) || !window)) {
		fprintf(stderr, "pprofstore: query: %s\n",
			a->from ? "--window and --from exclude each other"
				: "bad --window duration (10m, 1h, 30s)");
		return EXIT_USAGE;
	}
	if (!strcmp(a->output, "-") && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "pprofstore: not writing a gzipped profile to a terminal; use -o "
				"FILE or a pipe\n");
		return EXIT_USAGE;
	}
	s = pps_store_open(a->db, PPS_STORE_READONLY, 0);
	if (!s) {
		fprintf(stderr, "pprofstore: %s: cannot open the store: %s\n", a->db,
			strerror(errno));
		return EXIT_ERROR;
	}
	if (a->window) {
		if (!a->to) {
			struct newest nw = {.type = a->type, .a = a, .end = INT64_MIN};

			if (pps_store_for_each_entry(s, find_newest, &nw))
				goto out;
			to = nw.end == INT64_MIN ? 0 : nw.end + 1;
		}
		from = to - (int64_t)window;
	}
	p = pps_store_query(s, a->type, from, to, a->tags, a->nr_tags);
	if (!p) {
		if (errno == ENOENT) {
			fprintf(stderr,
				"pprofstore: no profiles of type '%s'; the store has:", a->type);
			pps_store_for_each_type(s, print_type, &n);
			fputs(n ? "\n" : " nothing\n", stderr);
		} else {
			fprintf(stderr, "pprofstore: query: %s\n", strerror(errno));
		}
		goto out;
	}
	if (!pps_profile_nr_samples(p) && !a->quiet)
		fprintf(stderr,
			"pprofstore: no %s samples in the selection; writing an empty "
			"profile\n",
			a->type);
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

static void print_entry(const struct pps_store_entry *e, void *ctx)
{
	char from[80], to[80];

	(void)ctx;
	format_time(from, sizeof(from), e->start_ns);
	format_time(to, sizeof(to), e->end_ns);
	char lost[32] = "-"; /* an ingested file: no windows, nothing to lose */

	if (e->nr_windows)
		snprintf(lost, sizeof(lost), "%" PRId64, e->lost);
	printf("%" PRId64 "\t%s\t%s\t%s .. %s\t%" PRId64 "\t%s\t%s\t%s\t%s\t%s\n", e->source_id,
	       e->type, e->path, from, to, e->nr_samples, lost, e->time_origin,
	       *e->tags ? e->tags : "-", *e->host ? e->host : "-", e->cmdline);
}

static int cmd_list(const struct args *a)
{
	struct pps_store *s = pps_store_open(a->db, PPS_STORE_READONLY, 0);
	int err;

	if (!s) {
		fprintf(stderr, "pprofstore: %s: cannot open the store: %s\n", a->db,
			strerror(errno));
		return EXIT_ERROR;
	}
	printf("source\ttype\tpath\ttime range (UTC)\tsamples\tlost\ttime from\ttags\thost\t"
	       "command\n");
	err = pps_store_for_each_entry(s, print_entry, NULL);
	pps_store_close(s);
	return err ? EXIT_ERROR : EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"db", required_argument, NULL, OPT_DB},
	    {"bucket", required_argument, NULL, OPT_BUCKET},
	    {"tag", required_argument, NULL, OPT_TAG},
	    {"type", required_argument, NULL, 't'},
	    {"from", required_argument, NULL, OPT_FROM},
	    {"to", required_argument, NULL, OPT_TO},
	    {"window", required_argument, NULL, OPT_WINDOW},
	    {"output", required_argument, NULL, 'o'},
	    {"symfs", required_argument, NULL, OPT_SYMFS},
	    {"kallsyms", required_argument, NULL, OPT_KALLSYMS},
	    {"vmlinux", required_argument, NULL, OPT_VMLINUX},
	    {"no-symbolize", no_argument, NULL, OPT_NO_SYMBOLIZE},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	PPS_CONVERT_OPTS(copts);
	struct args a = {.copts = &copts};
	char **rest = NULL;
	const char *cmd = NULL;
	int c, nrest = 0, ret = EXIT_USAGE;

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
			if (!cmd_parse_duration(optarg, &a.bucket_ns) || !a.bucket_ns) {
				fprintf(stderr, "pprofstore: --bucket: bad duration '%s'\n",
					optarg);
				goto out;
			}
			break;
		case OPT_TAG:
			if (!add_tag(&a, optarg))
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
		case OPT_SYMFS:
			copts.symfs = optarg;
			break;
		case OPT_KALLSYMS:
			copts.kallsyms = optarg;
			break;
		case OPT_VMLINUX:
			copts.vmlinux = optarg;
			break;
		case OPT_NO_SYMBOLIZE:
			copts.no_symbolize = true;
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
			fputs(usage, stderr);
			goto out;
		}
	}
	while (optind < argc)
		rest[nrest++] = argv[optind++];
	pps_set_log(log_stderr, NULL);
	if (!cmd) {
		fprintf(stderr, "pprofstore: no command\n%s", usage);
	} else if (!strcmp(cmd, "ingest")) {
		ret = cmd_ingest(nrest, rest, &a);
	} else if (nrest) {
		fprintf(stderr, "pprofstore: %s: unexpected argument '%s'\n", cmd, rest[0]);
	} else if (!strcmp(cmd, "query")) {
		ret = cmd_query(&a);
	} else if (!strcmp(cmd, "list")) {
		ret = cmd_list(&a);
	} else {
		fprintf(stderr, "pprofstore: unknown command '%s'\n%s", cmd, usage);
	}
out:
	free(rest);
	free(a.tags);
	return ret;
}
