/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pprofstore record: live capture into the store. Parses options, runs pps_record (lib/)
 * and appends each window it hands out to one live source with pps_store_append(),
 * until the target is gone, --duration has passed, or SIGINT/SIGTERM/SIGHUP arrives.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

static const char usage[] =
    "usage: pprofstore [--db PATH] record [OPTIONS] [-a | -p PID[,PID...] | [--] COMMAND "
    "[ARGS...]]\n"
    "\n"
    "Records profiles live with perf_event_open (no perf, no perf.data) and stores them\n"
    "window by window as it goes, so that `pprofstore query` sees them while it runs.\n"
    "\n"
    "Target (one of):\n"
    "  -a, --all-cpus        the whole system (the default when root)\n"
    "  -p, --pid PID[,PID]   these processes: all their threads, and threads created later\n"
    "  COMMAND [ARGS...]     run the command and record it until it exits\n"
    "\n"
    "Options:\n"
    "      --types LIST      profile types from cpu,block,mutex (default: all that the\n"
    "                        kernel offers)\n"
    "  -e, --event SYS:NAME  also record this tracepoint, a profile of its own (repeatable)\n"
    "  -F, --freq HZ         cpu-clock samples per second and CPU (default 99)\n"
    "      --call-graph fp|dwarf[,SIZE]\n"
    "                        how user stacks are taken, as perf record's: frame pointers\n"
    "                        (default), or SIZE bytes of stack (default 8192) copied with\n"
    "                        each sample and unwound with DWARF CFI (for code built without\n"
    "                        frame pointers)\n"
    "      --flush DUR       window length: each window is stored in one transaction\n"
    "                        (default 10s; windows end on multiples of DUR in UTC)\n"
    "      --duration DUR    stop after DUR (default: until the target is gone or a signal)\n"
    "  -m, --mmap-pages N    ring buffer pages per CPU, a power of two (default 1024)\n"
    "  -o, --output FILE     also write the recording as a pipe-mode perf.data ('-': standard\n"
    "                        output), which perf2pprof and perf read\n"
    "      --tag KEY=VALUE   tag the source (repeatable)\n"
    "      --db PATH         the database (default $PPROFSTORE_DB, else ./pprofstore.db)\n"
    "      --bucket DUR      time bucket width of a new database (default 10s)\n"
    "      --symfs DIR, --kallsyms FILE, --vmlinux FILE, --buildid-dir DIR,\n"
    "      --no-symbolize, --no-inline\n"
    "                        symbolization, as perf2pprof (done at each window;\n"
    "                        debuginfod when DEBUGINFOD_URLS is set)\n"
    "  -q, --quiet           only errors on standard error\n"
    "  -v, --verbose         a line per window on standard error (also when it is a\n"
    "                        terminal)\n"
    "  -h, --help            this help\n"
    "\n"
    "SIGINT, SIGTERM and SIGHUP end the recording: the last, partial window is stored.\n"
    "Exit status: 0 success (the target exited, --duration passed, or a signal);\n"
    "1 error (perf_event_open refused, no such tracepoint or pid, database error);\n"
    "2 usage error.\n";

enum {
	OPT_TYPES = 256,
	OPT_FLUSH,
	OPT_DURATION,
	OPT_TAG,
	OPT_DB,
	OPT_BUCKET,
	OPT_CALL_GRAPH,
};

static volatile sig_atomic_t stop_signal;
static int verbosity = PPS_LOG_WARN;

static void on_child(int sig)
{
	(void)sig;
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void log_stderr(enum pps_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if ((int)level <= verbosity)
		fprintf(stderr, "pprofstore: %s\n", msg);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool parse_types(const char *s, unsigned int *types)
{
	static const struct cmd_flag names[] = {
	    {"cpu", PPS_RECORD_CPU}, {"block", PPS_RECORD_BLOCK}, {"mutex", PPS_RECORD_MUTEX}};

	if (!cmd_parse_flags(s, names, sizeof(names) / sizeof(names[0]), types, "pprofstore",
			     "--types", "type"))
		return false;
	if (!*types)
		fprintf(stderr, "pprofstore: --types: empty list\n");
	return *types != 0;
}

/* perf record's --call-graph: "fp", or "dwarf" with an optional stack copy size in bytes
 * (rounded up to 8, as perf does). */
static bool parse_call_graph(const char *s, unsigned int *stack_user)
{
	unsigned long long v = PPS_RECORD_DEFAULT_STACK_USER;
	char *end;

	if (!strcmp(s, "fp")) {
		*stack_user = 0;
		return true;
	}
	if (strncmp(s, "dwarf", 5) || (s[5] && s[5] != ',')) {
		fprintf(stderr, "pprofstore: --call-graph: '%s' is not fp or dwarf[,SIZE]\n", s);
		return false;
	}
	if (s[5]) {
		errno = 0;
		v = strtoull(s + 6, &end, 0);
		if (errno || end == s + 6 || *end || !v || v > PPS_RECORD_MAX_STACK_USER) {
			fprintf(stderr,
				"pprofstore: --call-graph: '%s': the stack size must be 1 to %d "
				"bytes\n",
				s, PPS_RECORD_MAX_STACK_USER);
			return false;
		}
	}
	*stack_user = (unsigned int)((v + 7) & ~7ull);
	return true;
}

/* prefix, then the words, each after sep (malloc'ed, NULL on ENOMEM). */
static char *join(const char *prefix, const char *sep, char *const *words, size_t n)
{
	size_t len = strlen(prefix) + 1, off;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(sep) + strlen(words[i]);
	s = malloc(len);
	if (!s)
		return NULL;
	off = (size_t)snprintf(s, len, "%s", prefix);
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, len - off, "%s%s", sep, words[i]);
	return s;
}

/* Progress is for people: on a terminal, or with -v. */
static void report_window(const struct pps_record *rec, const struct pps_record_window *w,
			  bool verbose)
{
	char from[32], to[32];
	time_t t;
	struct tm tm;

	if (!verbose && !isatty(STDERR_FILENO))
		return;
	t = (time_t)(w->start_ns / 1000000000);
	gmtime_r(&t, &tm);
	strftime(from, sizeof(from), "%H:%M:%S", &tm);
	t = (time_t)(w->end_ns / 1000000000);
	gmtime_r(&t, &tm);
	strftime(to, sizeof(to), "%H:%M:%S", &tm);
	fprintf(stderr, "pprofstore: window %s..%s UTC:", from, to);
	for (size_t i = 0; i < pps_record_nr_profiles(rec); i++) {
		const struct pps_convert_profile *p = pps_record_profile(rec, i);

		fprintf(stderr, "%s %s %" PRIu64, i ? "," : "", p->type, p->nr_samples);
	}
	fprintf(stderr, "%s lost %" PRIu64 " records\n",
		pps_record_nr_profiles(rec) ? ";" : " no profiles;", w->lost);
}

/* Ends the window and stores it. Returns 0 or -errno (reported). */
static int store_window(struct pps_record *rec, struct pps_store *s, int64_t source_id, bool last,
			bool verbose, uint64_t *lost, size_t *nr_windows)
{
	size_t n;
	const char **types = NULL;
	struct pps_profile **profiles = NULL;
	struct pps_record_window w;
	struct pps_store_window sw;
	int err;

	err = pps_record_flush(rec, last);
	if (err < 0) {
		fprintf(stderr, "pprofstore: record: %s\n", strerror(-err));
		return err;
	}
	if (err == 0)
		return 0; /* nothing new: the window goes on */
	n = pps_record_nr_profiles(rec);
	types = calloc(n + 1, sizeof(*types));
	profiles = calloc(n + 1, sizeof(*profiles));
	if (!types || !profiles) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		types[i] = pps_record_profile(rec, i)->type;
		profiles[i] = pps_record_profile(rec, i)->profile;
	}
	pps_record_window(rec, &w);
	sw = (struct pps_store_window){
	    .start_ns = w.start_ns, .end_ns = w.end_ns, .lost = w.lost, .nr_samples = w.nr_samples};
	err = pps_store_append(s, source_id, &sw, types, profiles, n);
	if (err) {
		fprintf(stderr, "pprofstore: storing the window: %s\n", strerror(-err));
		goto out;
	}
	*lost += w.lost;
	(*nr_windows)++;
	report_window(rec, &w, verbose);
out:
	free(types);
	free(profiles);
	return err;
}

int cmd_record(int argc, char **argv, const struct store_globals *g)
{
	static const struct option opts[] = {
	    {"all-cpus", no_argument, NULL, 'a'},
	    {"system-wide", no_argument, NULL, 'a'},
	    {"pid", required_argument, NULL, 'p'},
	    {"types", required_argument, NULL, OPT_TYPES},
	    {"event", required_argument, NULL, 'e'},
	    {"freq", required_argument, NULL, 'F'},
	    {"call-graph", required_argument, NULL, OPT_CALL_GRAPH},
	    {"flush", required_argument, NULL, OPT_FLUSH},
	    {"duration", required_argument, NULL, OPT_DURATION},
	    {"mmap-pages", required_argument, NULL, 'm'},
	    {"output", required_argument, NULL, 'o'},
	    {"tag", required_argument, NULL, OPT_TAG},
	    {"db", required_argument, NULL, OPT_DB},
	    {"bucket", required_argument, NULL, OPT_BUCKET},
	    CMD_SYM_LONGOPTS,
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	PPS_RECORD_OPTS(ro);
	PPS_CONVERT_OPTS(copts);
	struct pps_store_source src = {.time_origin = "clock_data"};
	struct pps_store_tag *tags = NULL;
	const char **events = NULL, **words = NULL;
	int32_t *pids = NULL;
	const char *db = g->db;
	uint64_t bucket_ns = g->bucket_ns, flush_ns = 10 * 1000000000ull, duration_ns = 0;
	uint64_t lost = 0, now, next_flush, end = UINT64_MAX;
	size_t nr_events = 0, nr_tags = g->nr_tags, nr_windows = 0;
	bool verbose = g->verbose, quiet = g->quiet;
	struct pps_record *rec = NULL;
	struct pps_store *s = NULL;
	struct sigaction sa;
	struct utsname u;
	char *path = NULL, *cmdline = NULL, *pidarg = NULL;
	int64_t source_id;
	int c, ret = EXIT_USAGE, err, status;

	if (g->copts)
		copts = *g->copts;
	tags = calloc(nr_tags + (size_t)argc + 1, sizeof(*tags));
	events = calloc((size_t)argc + 1, sizeof(*events));
	if (!tags || !events) {
		ret = EXIT_ERROR;
		goto out;
	}
	if (nr_tags)
		memcpy(tags, g->tags, nr_tags * sizeof(*tags));
	optind = 0; /* glibc: start over, "+": stop at the command */
	while ((c = getopt_long(argc, argv, "+ap:e:F:m:o:qvh", opts, NULL)) != -1) {
		uint64_t v;
		char *endp;

		switch (c) {
		case 'a':
			ro.system_wide = true;
			break;
		case 'p':
			pidarg = optarg;
			if (!cmd_parse_ids("pprofstore", "--pid", optarg, &pids, &ro.nr_pids))
				goto out;
			for (size_t i = 0; i < ro.nr_pids; i++) {
				if (pids[i] <= 0) {
					fprintf(stderr, "pprofstore: --pid: %d is not a pid\n",
						(int)pids[i]);
					goto out;
				}
			}
			ro.pids = pids;
			break;
		case OPT_TYPES:
			if (!parse_types(optarg, &ro.types))
				goto out;
			break;
		case 'e':
			events[nr_events++] = optarg;
			break;
		case 'F':
			errno = 0;
			v = strtoull(optarg, &endp, 10);
			if (errno || *endp || !v || v > 100000) {
				fprintf(stderr,
					"pprofstore: --freq: '%s' is not a frequency from 1 to "
					"100000 Hz\n",
					optarg);
				goto out;
			}
			ro.freq = (unsigned int)v;
			break;
		case OPT_CALL_GRAPH:
			if (!parse_call_graph(optarg, &ro.stack_user))
				goto out;
			break;
		case 'm':
			errno = 0;
			v = strtoull(optarg, &endp, 10);
			if (errno || *endp || !v || (v & (v - 1)) || v > (1u << 20)) {
				fprintf(stderr,
					"pprofstore: --mmap-pages: '%s' is not a power of two "
					"up to 1048576\n",
					optarg);
				goto out;
			}
			ro.mmap_pages = (unsigned int)v;
			break;
		case OPT_FLUSH:
			if (!cmd_parse_duration(optarg, &flush_ns) || flush_ns < 100000000ull) {
				fprintf(stderr,
					"pprofstore: --flush: bad duration '%s' (100ms or "
					"more)\n",
					optarg);
				goto out;
			}
			break;
		case OPT_DURATION:
			if (!cmd_parse_duration(optarg, &duration_ns) || !duration_ns) {
				fprintf(stderr, "pprofstore: --duration: bad duration '%s'\n",
					optarg);
				goto out;
			}
			break;
		case 'o':
			ro.output = optarg;
			break;
		case OPT_TAG: {
			char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg) {
				fprintf(stderr, "pprofstore: --tag: expected KEY=VALUE, got '%s'\n",
					optarg);
				goto out;
			}
			*eq = '\0';
			tags[nr_tags].key = optarg;
			tags[nr_tags++].value = eq + 1;
			break;
		}
		case OPT_DB:
			db = optarg;
			break;
		case OPT_BUCKET:
			if (!cmd_parse_duration(optarg, &bucket_ns) || !bucket_ns) {
				fprintf(stderr, "pprofstore: --bucket: bad duration '%s'\n",
					optarg);
				goto out;
			}
			break;
		case 'q':
			quiet = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			fputs(usage, stdout);
			ret = EXIT_OK;
			goto out;
		default:
			if (cmd_sym_option(c, optarg, &copts))
				break;
			fputs(usage, stderr);
			goto out;
		}
	}
	if (optind < argc) {
		ro.argv = argv + optind;
	} else if (!ro.system_wide && !ro.nr_pids) {
		if (geteuid() != 0) {
			fprintf(stderr, "pprofstore: record: no target: give -p PID, a command, or "
					"-a (system-wide needs root or CAP_PERFMON)\n");
			goto out;
		}
		ro.system_wide = true;
	}
	if (!!ro.system_wide + !!ro.nr_pids + !!ro.argv != 1) {
		fprintf(stderr, "pprofstore: record: give one target: -a, -p PID or a command\n");
		goto out;
	}
	ro.events = events;
	ro.nr_events = nr_events;
	cmd_sym_env(&copts);
	ro.convert = &copts;
	/* The command line in the stream, as perf records its own: "pprofstore record ...". */
	words = calloc((size_t)argc + 2, sizeof(*words));
	if (!words) {
		ret = EXIT_ERROR;
		goto out;
	}
	words[0] = "pprofstore";
	memcpy(words + 1, argv, (size_t)argc * sizeof(*words));
	ro.cmdline = words;
	ro.nr_cmdline = (size_t)argc + 1;
	verbosity = quiet ? PPS_LOG_ERROR : PPS_LOG_WARN;
	pps_set_log(log_stderr, NULL);
	ret = EXIT_ERROR;

	/* Signals end the recording through the loop, never in the middle of a write. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A command's exit wakes the loop at once; other calls are restarted. */
	sa.sa_handler = on_child;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);

	s = pps_store_open(db, PPS_STORE_CREATE, (int64_t)bucket_ns);
	if (!s) {
		fprintf(stderr, "pprofstore: %s: cannot open the store: %s\n", db, strerror(errno));
		goto out;
	}
	/* Samples go into the store's buckets (its width, which an existing store fixed). */
	copts.bucket_ns = pps_store_bucket_ns(s);
	rec = pps_record_new(&ro);
	if (!rec)
		goto out; /* the library said why */
	if (ro.system_wide)
		path = join("live: -a", "", NULL, 0);
	else if (ro.argv)
		path = join("live:", " ", ro.argv, (size_t)(argc - optind));
	else
		path = join("live: -p ", "", &pidarg, 1);
	cmdline = join("pprofstore", " ", argv, (size_t)argc);
	if (!path || !cmdline) {
		fprintf(stderr, "pprofstore: %s\n", strerror(ENOMEM));
		goto out;
	}
	src.path = path;
	src.cmdline = cmdline;
	src.host = uname(&u) == 0 ? u.nodename : "";
	src.tags = tags;
	src.nr_tags = nr_tags;
	err = pps_store_add_source(s, &src, &source_id);
	if (err) {
		fprintf(stderr, "pprofstore: %s: %s\n", db, strerror(-err));
		goto out;
	}
	err = pps_record_start(rec);
	if (err)
		goto out;

	/* Windows end on multiples of the flush interval in wall-clock time, so that with
	 * --flush equal to the bucket width each window fills one bucket. */
	now = clock_ns(CLOCK_MONOTONIC);
	{
		uint64_t wall = clock_ns(CLOCK_REALTIME);

		next_flush = now + (flush_ns - wall % flush_ns);
	}
	if (duration_ns)
		end = now + duration_ns;
	err = 0;
	while (!stop_signal && !err) {
		uint64_t wait = next_flush < end ? next_flush : end;
		int timeout = wait > now ? (int)((wait - now + 999999) / 1000000) : 0;

		/* Signals (SIGCHLD too, for a command) end the wait; the cap bounds the delay
		 * of one that lands between the check above and the wait. */
		if (timeout > 1000)
			timeout = 1000;
		err = pps_record_poll(rec, timeout);
		if (err < 0) {
			fprintf(stderr, "pprofstore: record: %s\n", strerror(-err));
			break;
		}
		if (err == 0)
			break; /* the target is gone */
		err = 0;
		now = clock_ns(CLOCK_MONOTONIC);
		if (now >= end)
			break;
		if (now >= next_flush) {
			err = store_window(rec, s, source_id, false, verbose, &lost, &nr_windows);
			while (next_flush <= now)
				next_flush += flush_ns;
		}
	}
	/* The last window, partial: also after a signal or an error, what was recorded
	 * before goes into the store. */
	if (store_window(rec, s, source_id, true, verbose, &lost, &nr_windows) || err < 0)
		goto out;
	status = pps_record_child_status(rec);
	if (pps_record_child(rec) && status != -1 && !quiet) {
		if (WIFEXITED(status) && WEXITSTATUS(status))
			fprintf(stderr, "pprofstore: the command exited with status %d\n",
				WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			fprintf(stderr, "pprofstore: the command was killed by signal %d\n",
				WTERMSIG(status));
	}
	if (!quiet) {
		const struct pps_convert_stats *cs = pps_record_convert_stats(rec);

		fprintf(
		    stderr,
		    "pprofstore: recorded %" PRIu64 " samples in %zu windows into source %" PRId64
		    " of %s; %" PRIu64 " records lost%s%s\n",
		    cs->nr_samples, nr_windows, source_id, db, lost,
		    stop_signal ? "; stopped by " : "", stop_signal ? strsignal(stop_signal) : "");
	}
	ret = EXIT_OK;
out:
	pps_record_free(rec);
	pps_store_close(s);
	free(path);
	free(cmdline);
	free(pids);
	free(events);
	free(words);
	free(tags);
	return ret;
}
