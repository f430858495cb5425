/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * perf2pprof: perf.data to pprof. Parses options, calls lib/, reports errors.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

static const char usage[] =
    "usage: perf2pprof [OPTIONS] FILE [-o OUT]\n"
    "       perf2pprof --all [OPTIONS] FILE -o DIR\n"
    "       perf2pprof --info [--json] FILE\n"
    "\n"
    "Converts a perf.data recording (file or pipe mode; FILE '-' is standard input;\n"
    "or the directory perf record --threads writes) into symbolized pprof profiles,\n"
    "one per event.\n"
    "\n"
    "Output:\n"
    "  -o, --output OUT    file to write ('-', the default: standard output, not a\n"
    "                      terminal); with --all or --group-by, a directory\n"
    "  -t, --type TYPE     which profile: cpu (cpu-clock/task-clock samples), block\n"
    "                      (off-CPU time, from sched:sched_switch), mutex (lock waits,\n"
    "                      from lock:contention_begin/end and futex syscalls), or an\n"
    "                      event name; default cpu when recorded, else the first\n"
    "                      profile\n"
    "  -e, --event NAME    the profile of the event with this name\n"
    "  -a, --all           one file per profile type, DIR/TYPE.pprof\n"
    "      --group-by pid  one file per process, DIR/TYPE.PID.pprof\n"
    "      --labels LIST   sample labels, from pid,tid,comm,cpu (default pid,tid,comm;\n"
    "                      'none' for none)\n"
    "      --include-preempted  block: also count preemption (state R), which is\n"
    "                      run-queue delay, not blocking\n"
    "Filters:\n"
    "      --pid LIST      only these processes (comma-separated)\n"
    "      --tid LIST      only these threads\n"
    "      --comm NAME     only threads with this name\n"
    "      --from DUR      only samples from DUR after the first (500ms, 5s, 2m)\n"
    "      --to DUR        only samples before DUR after the first\n"
    "Symbolization:\n"
    "      --symfs DIR     look for binaries under DIR (perf's --symfs)\n"
    "      --kallsyms FILE kernel symbols from FILE instead of /proc/kallsyms\n"
    "      --vmlinux FILE  kernel symbols from this kernel image\n"
    "      --buildid-dir DIR  perf's build-id cache (default ~/.debug)\n"
    "      --no-symbolize  addresses, mappings and build-ids only (pprof can\n"
    "                      symbolize later)\n"
    "      --no-inline     do not expand inlined functions\n"
    "  debuginfod is used when DEBUGINFOD_URLS is set.\n"
    "Other:\n"
    "  -i, --info          print what the recording holds: perf version, host, events\n"
    "                      with their attrs, sample, lost and throttle counts, times,\n"
    "                      header features\n"
    "      --json          with --info: one JSON object instead of text\n"
    "  -v, --verbose       more diagnostics on standard error (why frames stayed\n"
    "                      unresolved, per binary)\n"
    "  -q, --quiet         only errors on standard error\n"
    "  -h, --help          this help\n"
    "  -V, --version       the version\n"
    "\n"
    "Exit status: 0 success; 1 error (nothing usable produced); 2 usage error;\n"
    "3 output written, but the input was damaged (truncated or corrupt records,\n"
    "reported on standard error with their offsets).\n";

static int verbosity = PPS_LOG_WARN;

static void log_stderr(enum pps_log_level level, const char *msg, void *ctx)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};

	(void)ctx;
	if ((int)level > verbosity)
		return;
	fprintf(stderr, "perf2pprof: %s: %s\n", names[level], msg);
}

static bool parse_labels(const char *s, unsigned int *labels)
{
	static const struct cmd_flag names[] = {{"pid", PPS_LABEL_PID},
						{"tid", PPS_LABEL_TID},
						{"comm", PPS_LABEL_COMM},
						{"cpu", PPS_LABEL_CPU}};

	*labels = 0;
	if (!strcmp(s, "none"))
		return true;
	return cmd_parse_flags(s, names, sizeof(names) / sizeof(names[0]), labels, "perf2pprof",
			       "--labels", "label");
}

enum {
	OPT_JSON = 256,
	OPT_GROUP_BY,
	OPT_LABELS,
	OPT_PID,
	OPT_TID,
	OPT_COMM,
	OPT_FROM,
	OPT_TO,
	OPT_INCLUDE_PREEMPTED,
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"info", no_argument, NULL, 'i'},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"output", required_argument, NULL, 'o'},
	    {"type", required_argument, NULL, 't'},
	    {"event", required_argument, NULL, 'e'},
	    {"all", no_argument, NULL, 'a'},
	    {"group-by", required_argument, NULL, OPT_GROUP_BY},
	    {"labels", required_argument, NULL, OPT_LABELS},
	    {"pid", required_argument, NULL, OPT_PID},
	    {"tid", required_argument, NULL, OPT_TID},
	    {"comm", required_argument, NULL, OPT_COMM},
	    {"from", required_argument, NULL, OPT_FROM},
	    {"to", required_argument, NULL, OPT_TO},
	    CMD_SYM_LONGOPTS,
	    {"include-preempted", no_argument, NULL, OPT_INCLUDE_PREEMPTED},
	    {"verbose", no_argument, NULL, 'v'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	PPS_CONVERT_OPTS(copts);
	struct convert_args args = {.output = NULL, .copts = &copts};
	int32_t *pids = NULL, *tids = NULL;
	bool info = false, json = false;
	FILE *out = stdout;
	int c, ret = EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "io:t:e:avqhV", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			info = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'o':
			args.output = optarg;
			break;
		case 't':
			args.type = optarg;
			break;
		case 'e':
			args.event = optarg;
			break;
		case 'a':
			args.all = true;
			break;
		case OPT_GROUP_BY:
			if (strcmp(optarg, "pid")) {
				fprintf(stderr,
					"perf2pprof: --group-by: only 'pid' is known, not '%s'\n",
					optarg);
				goto out;
			}
			args.group_by_pid = copts.group_by_pid = true;
			break;
		case OPT_LABELS:
			if (!parse_labels(optarg, &copts.labels))
				goto out;
			break;
		case OPT_PID:
			if (!cmd_parse_ids("perf2pprof", "--pid", optarg, &pids, &copts.nr_pids))
				goto out;
			copts.pids = pids;
			break;
		case OPT_TID:
			if (!cmd_parse_ids("perf2pprof", "--tid", optarg, &tids, &copts.nr_tids))
				goto out;
			copts.tids = tids;
			break;
		case OPT_COMM:
			copts.comm = optarg;
			break;
		case OPT_FROM:
		case OPT_TO:
			if (!cmd_parse_duration(optarg,
						c == OPT_FROM ? &copts.from_ns : &copts.to_ns)) {
				fprintf(stderr,
					"perf2pprof: %s: bad duration '%s' (e.g. 500ms, 5s, 2m)\n",
					c == OPT_FROM ? "--from" : "--to", optarg);
				goto out;
			}
			break;
		case OPT_INCLUDE_PREEMPTED:
			copts.include_preempted = true;
			break;
		case 'v':
			verbosity = PPS_LOG_DEBUG;
			break;
		case 'q':
			verbosity = PPS_LOG_ERROR;
			break;
		case 'h':
			fputs(usage, stdout);
			ret = EXIT_OK;
			goto out;
		case 'V':
			printf("perf2pprof %s\n", pps_version());
			ret = EXIT_OK;
			goto out;
		default:
			if (cmd_sym_option(c, optarg, &copts))
				break;
			fputs(usage, stderr);
			goto out;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "perf2pprof: %s\n%s",
			optind < argc ? "exactly one input file, please" : "no input file given",
			usage);
		goto out;
	}
	if (json && !info) {
		fprintf(stderr, "perf2pprof: --json goes with --info\n");
		goto out;
	}
	if (copts.to_ns && copts.to_ns <= copts.from_ns) {
		fprintf(stderr, "perf2pprof: --to must be after --from\n");
		goto out;
	}
	if ((args.all || args.group_by_pid) && (!args.output || !strcmp(args.output, "-"))) {
		fprintf(stderr,
			"perf2pprof: %s writes several files: give a directory with -o DIR\n",
			args.all ? "--all" : "--group-by");
		goto out;
	}
	if (args.type && args.event) {
		fprintf(stderr, "perf2pprof: --type and --event pick the same thing: give one\n");
		goto out;
	}
	pps_set_log(log_stderr, NULL);
	if (!info) {
		if (!args.output)
			args.output = "-";
		args.verbosity = verbosity;
		/* One profile asked for: build only what it needs. */
		if (!args.all && !args.group_by_pid && args.type && !strcmp(args.type, "block"))
			copts.want = PPS_WANT_BLOCK;
		else if (!args.all && !args.group_by_pid && args.type &&
			 !strcmp(args.type, "mutex"))
			copts.want = PPS_WANT_MUTEX;
		else if (!args.all && !args.group_by_pid && (args.type || args.event))
			copts.want = PPS_WANT_EVENTS;
		cmd_sym_env(&copts);
		ret = cmd_convert(argv[optind], &args);
		goto out;
	}
	if (args.output && strcmp(args.output, "-") != 0) {
		out = fopen(args.output, "w");
		if (!out) {
			fprintf(stderr, "perf2pprof: %s: %s\n", args.output, strerror(errno));
			ret = EXIT_ERROR;
			goto out;
		}
	}
	ret = cmd_info(argv[optind], json, out);
	if (ret == EXIT_PARTIAL)
		fprintf(stderr,
			"perf2pprof: %s: the recording is damaged; what was readable is "
			"shown above\n",
			argv[optind]);
	if (out != stdout ? fclose(out) != 0 : fflush(out) != 0) {
		fprintf(stderr, "perf2pprof: %s: write error: %s\n", args.output, strerror(errno));
		ret = EXIT_ERROR;
	}
out:
	free(pids);
	free(tids);
	return ret;
}
