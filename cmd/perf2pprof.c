/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * perf2pprof: perf.data to pprof. Parses options, calls lib/, reports errors.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

static const char usage[] =
	"usage: perf2pprof [OPTIONS] FILE\n"
	"       perf2pprof --info [--json] FILE\n"
	"\n"
	"Converts a perf.data recording (file or pipe mode; FILE '-' is standard input)\n"
	"into pprof profiles.\n"
	"\n"
	"  -i, --info          print what the recording holds: perf version, host, events\n"
	"                      with their attrs, sample, lost and throttle counts, times,\n"
	"                      header features\n"
	"      --json          with --info: one JSON object instead of text\n"
	"  -o, --output FILE   where to write ('-': standard output)\n"
	"  -v, --verbose       more diagnostics on standard error\n"
	"  -q, --quiet         only errors on standard error\n"
	"  -h, --help          this help\n"
	"  -V, --version       the version\n"
	"\n"
	"Exit status: 0 success; 1 error (nothing usable produced); 2 usage error;\n"
	"3 output written, but the input was damaged (truncated or corrupt records,\n"
	"reported on standard error with their offsets).\n";

static int verbosity = 1;

static void log_stderr(enum pps_log_level level, const char *msg, void *ctx)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};

	(void)ctx;
	if ((int)level > verbosity)
		return;
	fprintf(stderr, "perf2pprof: %s: %s\n", names[level], msg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"info", no_argument, NULL, 'i'},   {"json", no_argument, NULL, 'j'},
		{"output", required_argument, NULL, 'o'}, {"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},  {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0},
	};
	const char *output = "-";
	bool info = false, json = false;
	FILE *out = stdout;
	int c, ret;

	while ((c = getopt_long(argc, argv, "ijo:vqhV", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			info = true;
			break;
		case 'j':
			json = true;
			break;
		case 'o':
			output = optarg;
			break;
		case 'v':
			verbosity = PPS_LOG_DEBUG;
			break;
		case 'q':
			verbosity = PPS_LOG_ERROR;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		case 'V':
			printf("perf2pprof %s\n", pps_version());
			return EXIT_OK;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "perf2pprof: %s\n%s",
			optind < argc ? "exactly one input file, please" : "no input file given",
			usage);
		return EXIT_USAGE;
	}
	if (json && !info) {
		fprintf(stderr, "perf2pprof: --json goes with --info\n");
		return EXIT_USAGE;
	}
	pps_set_log(log_stderr, NULL);
	if (!info) {
		fprintf(stderr, "perf2pprof: conversion to pprof is not built yet; "
				"--info reads the recording\n");
		return EXIT_ERROR;
	}
	if (strcmp(output, "-") != 0) {
		out = fopen(output, "w");
		if (!out) {
			fprintf(stderr, "perf2pprof: %s: %s\n", output, strerror(errno));
			return EXIT_ERROR;
		}
	}
	ret = cmd_info(argv[optind], json, out);
	if (ret == EXIT_PARTIAL)
		fprintf(stderr, "perf2pprof: %s: the recording is damaged; what was readable is "
				"shown above\n",
			argv[optind]);
	if (out != stdout ? fclose(out) != 0 : fflush(out) != 0) {
		fprintf(stderr, "perf2pprof: %s: write error: %s\n", output, strerror(errno));
		ret = EXIT_ERROR;
	}
	return ret;
}
