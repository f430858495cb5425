/* SPDX-License-Identifier: BSD-2-Clause */
/* Shared by the command-line programs. */
#ifndef PPS_CMD_H
#define PPS_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <pprofstore/pprofstore.h>

/* Exit codes, documented in the README. */
enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,	  /* nothing usable was produced */
	EXIT_USAGE = 2,	  /* bad command line */
	EXIT_PARTIAL = 3, /* output written, but the input was damaged; stderr says what */
};

/* What perf2pprof's conversion was asked for. */
struct convert_args {
	const char *output; /* file, or directory with all / group_by_pid */
	const char *type;   /* --type, NULL: cpu if present, else the first */
	const char *event;  /* --event */
	bool all;
	bool group_by_pid;
	int verbosity; /* enum pps_log_level: what goes to stderr */
	struct pps_convert_opts *copts;
};

/* "500ms", "2s", "10m", "1h", "1d", "3" (seconds) -> ns. false when malformed. */
bool cmd_parse_duration(const char *s, uint64_t *ns);

/* TIME -> wall-clock ns (UTC): RFC 3339 (2024-05-01T12:00:00Z, 2024-05-01T12:00:00.5+02:00),
 * unix seconds with an optional fraction, or relative to now: "-1h", "-90s" (a duration
 * after the minus). false when malformed. */
bool cmd_parse_time(const char *s, int64_t *ns);

/* "1,2,3" -> a malloc'ed array in *v (the old one freed), ids from -1 up. false when
 * malformed; a message on stderr, prefixed with prog, names opt. */
bool cmd_parse_ids(const char *prog, const char *opt, const char *s, int32_t **v, size_t *n);

/* What pprofstore's options before the command say, for pprofstore record. */
struct store_globals {
	const char *db;
	uint64_t bucket_ns; /* 0: the store's default */
	const struct pps_store_tag *tags;
	size_t nr_tags;
	bool quiet, verbose;
	const struct pps_convert_opts *copts; /* symbolization options */
};

/* pprofstore record: argv[0] is "record". Returns an exit code. */
int cmd_record(int argc, char **argv, const struct store_globals *g);

/* Converts a perf.data to pprof (perf2pprof). Returns an exit code. */
int cmd_convert(const char *path, const struct convert_args *a);

/* Prints what a perf.data holds (perf2pprof --info). Returns an exit code. */
int cmd_info(const char *path, bool json, FILE *out);

#endif /* PPS_CMD_H */
