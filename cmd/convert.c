/* SPDX-License-Identifier: BSD-2-Clause */
/* perf2pprof's conversion: picks profiles, names output files, prints the summary. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

/* Writes one profile to path ("-": stdout). Returns an exit code. */
static int write_profile(struct pps_profile *p, const char *path)
{
	FILE *f = stdout;
	int err;

	if (strcmp(path, "-")) {
		f = fopen(path, "wb");
		if (!f) {
			fprintf(stderr, "perf2pprof: %s: %s\n", path, strerror(errno));
			return EXIT_ERROR;
		}
	} else if (isatty(STDOUT_FILENO)) {
		fprintf(stderr, "perf2pprof: not writing a gzipped profile to a terminal; "
				"use -o FILE or a pipe\n");
		return EXIT_ERROR;
	}
	err = pps_profile_write(p, f);
	if (f != stdout ? fclose(f) != 0 : fflush(f) != 0)
		err = err ? err : -errno;
	if (err) {
		fprintf(stderr, "perf2pprof: %s: write error: %s\n", path, strerror(-err));
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

/* Whether profile cp is the one --type/--event asked for. */
static bool matches(const struct pps_convert_profile *cp, const struct convert_args *a)
{
	if (a->event)
		return !strcmp(cp->event, a->event);
	if (a->type)
		return !strcmp(cp->type, a->type) || !strcmp(cp->event, a->type);
	return true;
}

/* A file name from a type: '/' is the one character a name cannot hold. */
static void file_name(char *buf, size_t size, const char *dir, const char *type, int32_t pid)
{
	char t[256];
	size_t i;

	for (i = 0; type[i] && i < sizeof(t) - 1; i++)
		t[i] = type[i] == '/' ? '_' : type[i];
	t[i] = '\0';
	if (pid >= 0)
		snprintf(buf, size, "%s/%s.%" PRId32 ".pprof", dir, t, pid);
	else
		snprintf(buf, size, "%s/%s.pprof", dir, t);
}

static void list_types(const struct pps_convert *c)
{
	size_t n = pps_convert_nr_profiles(c);

	fputs("perf2pprof: the recording has:", stderr);
	for (size_t i = 0; i < n; i++) {
		const struct pps_convert_profile *cp = pps_convert_profile(c, i);
		bool dup = false;

		for (size_t j = 0; j < i; j++)
			dup |= !strcmp(pps_convert_profile(c, j)->type, cp->type);
		if (!dup)
			fprintf(stderr, " %s%s%s%s", cp->type,
				strcmp(cp->type, cp->event) ? " (" : "",
				strcmp(cp->type, cp->event) ? cp->event : "",
				strcmp(cp->type, cp->event) ? ")" : "");
	}
	fputs(n ? "\n" : " no samples\n", stderr);
}

static void print_binary(const char *path, const char *why, void *ctx)
{
	(void)ctx;
	if (*why)
		fprintf(stderr, "perf2pprof: %s: frames unresolved: %s\n", path, why);
}

static int64_t end_wall_ns(const char *path)
{
	struct timespec ts;
	struct stat st;

	if (strcmp(path, "-") && stat(path, &st) == 0)
		return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int cmd_convert(const char *path, const struct convert_args *a)
{
	/* Decoding, and hashing stacks for the converter's memo, on a second thread: the
	 * converter's thread is the one all waits for. */
	PPS_READER_OPTS(ropts, .flags = PPS_READER_ORDERED | PPS_READER_THREAD |
					PPS_READER_CALLCHAIN_HASH);
	const struct pps_reader_stats *rst;
	const struct pps_convert_stats *cst;
	struct pps_convert *c = NULL;
	struct pps_reader *r;
	size_t n, written = 0;
	int ret = EXIT_ERROR, err;
	uint64_t t_write;
	char buf[4096];

	r = pps_reader_open(path, &ropts);
	if (!r) {
		fprintf(stderr, "perf2pprof: %s: cannot read: %s\n", path, strerror(errno));
		return EXIT_ERROR;
	}
	a->copts->end_wall_ns = end_wall_ns(path);
	c = pps_convert_new(a->copts);
	if (!c) {
		fprintf(stderr, "perf2pprof: %s\n", strerror(errno));
		goto out;
	}
	err = pps_convert_run(c, r);
	if (err) {
		fprintf(stderr, "perf2pprof: %s: %s\n", path, strerror(-err));
		goto out;
	}
	rst = pps_reader_stats(r);
	cst = pps_convert_stats(c);
	n = pps_convert_nr_profiles(c);

	t_write = now_ns();
	if (a->all || a->group_by_pid) {
		if (mkdir(a->output, 0777) && errno != EEXIST) {
			fprintf(stderr, "perf2pprof: %s: %s\n", a->output, strerror(errno));
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			const struct pps_convert_profile *cp = pps_convert_profile(c, i);

			if ((a->type || a->event) && !matches(cp, a))
				continue;
			file_name(buf, sizeof(buf), a->output, cp->type, cp->pid);
			ret = write_profile(cp->profile, buf);
			if (ret != EXIT_OK)
				goto out;
			written++;
			if (a->verbosity >= PPS_LOG_INFO)
				fprintf(stderr, "perf2pprof: wrote %s (%" PRIu64 " samples)\n", buf,
					cp->nr_samples);
		}
	} else {
		const struct pps_convert_profile *pick = NULL;

		for (size_t i = 0; i < n && !pick; i++) {
			const struct pps_convert_profile *cp = pps_convert_profile(c, i);

			if (a->type || a->event ? matches(cp, a) : !strcmp(cp->type, "cpu"))
				pick = cp;
		}
		if (!pick && !a->type && !a->event && n)
			pick = pps_convert_profile(c, 0);
		if (pick) {
			ret = write_profile(pick->profile, a->output);
			if (ret != EXIT_OK)
				goto out;
			written++;
		}
	}
	if (!written) {
		if (a->type && !strcmp(a->type, "block"))
			fprintf(stderr,
				"perf2pprof: %s: no block profile: it needs sched:sched_switch "
				"samples; record with: perf record -e sched:sched_switch -g ...\n",
				path);
		else if (a->type && !strcmp(a->type, "mutex"))
			fprintf(
			    stderr,
			    "perf2pprof: %s: no mutex profile: it needs lock contention or futex "
			    "samples; record with: perf record -e lock:contention_begin -e "
			    "lock:contention_end -e syscalls:sys_enter_futex -e "
			    "syscalls:sys_exit_futex -g ...\n",
			    path);
		else if (a->type || a->event)
			fprintf(stderr, "perf2pprof: %s: no samples of %s '%s'\n", path,
				a->event ? "event" : "type", a->event ? a->event : a->type);
		else
			fprintf(stderr, "perf2pprof: %s: no samples to convert\n", path);
		/* Event profiles were built unless block or mutex alone was asked for. */
		if (!a->copts->want || (a->copts->want & PPS_WANT_EVENTS))
			list_types(c);
		ret = EXIT_ERROR;
		goto out;
	}

	if (a->verbosity >= PPS_LOG_DEBUG) {
		pps_convert_for_each_binary(c, print_binary, NULL);
		fprintf(stderr,
			"perf2pprof: time: %.3f s reading and aggregating, %.3f s symbolizing, "
			"%.3f s writing\n",
			(double)cst->read_ns / 1e9, (double)cst->symbolize_ns / 1e9,
			(double)(now_ns() - t_write) / 1e9);
	}
	if (a->verbosity >= PPS_LOG_WARN && cst->nr_frames) {
		fprintf(stderr,
			"perf2pprof: %" PRIu64 " samples, %zu profile%s; %" PRIu64 " of %" PRIu64
			" frames (%.1f%%) unresolved",
			cst->nr_samples - cst->nr_filtered, written, written == 1 ? "" : "s",
			cst->nr_unresolved_frames, cst->nr_frames,
			100.0 * (double)cst->nr_unresolved_frames / (double)cst->nr_frames);
		if (cst->nr_unmapped_frames)
			fprintf(stderr, ", %" PRIu64 " in no known mapping",
				cst->nr_unmapped_frames);
		if (cst->nr_dwarf_samples)
			fprintf(stderr,
				"; %" PRIu64 " user stacks unwound (DWARF), %" PRIu64 " truncated",
				cst->nr_dwarf_samples, cst->nr_dwarf_truncated);
		fputs(a->verbosity < PPS_LOG_DEBUG && cst->nr_unresolved_frames ? " (-v says why)\n"
										: "\n",
		      stderr);
	}
	ret = EXIT_OK;
	if (rst->truncated || rst->nr_bad_records) {
		fprintf(stderr,
			"perf2pprof: %s: the recording is damaged (%s%" PRIu64
			" corrupt records); converted what was readable\n",
			path, rst->truncated ? "truncated, " : "", rst->nr_bad_records);
		ret = EXIT_PARTIAL;
	}
out:
	pps_convert_free(c);
	pps_reader_free(r);
	return ret;
}
