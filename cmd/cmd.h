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

/* What pprofstore diff and compare were asked for (strings as given; NULL when absent). */
struct compare_args {
	const char *db;
	const char *type;
	const char *base, *head;	 /* SEL: window=DUR, from=TIME, to=TIME, KEY=VALUE tags */
	const char *output;		 /* diff: the diff profile; compare: the report */
	const char *base_out, *head_out; /* diff: the two sides, for pprof -diff_base */
	const char *threshold;		 /* compare: "5%" or "0.5pp" */
	const char *min_share;		 /* compare: "1%" */
	const char *alpha;		 /* compare: "0.01" */
	const char *format;		 /* compare: text, markdown, json */
	bool quiet;
};

/* pprofstore diff. Returns an exit code (0, 1 error, 2 usage). */
int cmd_diff(const struct compare_args *a);

/* pprofstore compare. Returns its exit code: 0 no regression, 1 regression, 2 error. */
int cmd_compare(const struct compare_args *a);

/* What pprofstore ingest was asked for. */
struct ingest_args {
	const struct pps_store_tag *tags; /* --tag, for every source */
	size_t nr_tags;
	bool has_time_origin;
	int64_t time_origin_ns; /* --time-origin: wall time of the first sample */
	const char *type;	/* --type: the store type of pprof files, NULL: guessed */
	bool quiet;
	bool verbose;			      /* -v: per-file timings */
	const struct pps_convert_opts *copts; /* symbolization; bucket and times set per file */
};

/*
 * The symbolization options, as perf2pprof, pprofstore ingest and pprofstore record all take
 * them (perf's names): CMD_SYM_LONGOPTS goes into a getopt_long table, cmd_sym_option()
 * takes what getopt_long returns for them.
 */
enum {
	CMD_OPT_SYMFS = 0x1000, /* above every command's own option values */
	CMD_OPT_KALLSYMS,
	CMD_OPT_VMLINUX,
	CMD_OPT_BUILDID_DIR,
	CMD_OPT_NO_SYMBOLIZE,
	CMD_OPT_NO_INLINE,
};
/* clang-format off */
#define CMD_SYM_LONGOPTS                                                                           \
	{"symfs", required_argument, NULL, CMD_OPT_SYMFS},                                         \
	{"kallsyms", required_argument, NULL, CMD_OPT_KALLSYMS},                                   \
	{"vmlinux", required_argument, NULL, CMD_OPT_VMLINUX},                                     \
	{"buildid-dir", required_argument, NULL, CMD_OPT_BUILDID_DIR},                             \
	{"no-symbolize", no_argument, NULL, CMD_OPT_NO_SYMBOLIZE},                                 \
	{"no-inline", no_argument, NULL, CMD_OPT_NO_INLINE}
/* clang-format on */

/* Sets o for option c with argument arg; false when c is not one of CMD_SYM_LONGOPTS. */
bool cmd_sym_option(int c, const char *arg, struct pps_convert_opts *o);

/* What the environment says: debuginfod when DEBUGINFOD_URLS is set, as elfutils' tools
 * do. */
void cmd_sym_env(struct pps_convert_opts *o);

/* "500ms", "2s", "10m", "1h", "1d", "3" (seconds) -> ns. false when malformed. */
bool cmd_parse_duration(const char *s, uint64_t *ns);

/* A name of a comma-separated flag list, and its bit. */
struct cmd_flag {
	const char *name;
	unsigned int bit;
};

/*
 * "a,b,c" -> the OR of the named flags' bits into *bits (an empty list gives 0). On an
 * unknown name says so on stderr as "PROG: OPTION: unknown WHAT 'x' (a, b, c)" and
 * returns false.
 */
bool cmd_parse_flags(const char *s, const struct cmd_flag *names, size_t n, unsigned int *bits,
		     const char *prog, const char *option, const char *what);

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

/* Stores one perf.data or pprof file ("-": standard input) as a source of s. Returns an
 * exit code; the messages are on stderr. */
int cmd_ingest_file(struct pps_store *s, const char *name, const struct ingest_args *a);

/* Prints what a perf.data holds (perf2pprof --info). Returns an exit code. */
int cmd_info(const char *path, bool json, FILE *out);

#endif /* PPS_CMD_H */
