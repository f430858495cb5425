/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Tracepoint formats (lib/tracepoint.c) against perf as the oracle.
 *
 * usage: test_tracepoint synth        synthesized blobs, both byte orders, old/new formats
 *        test_tracepoint record       perf record (file mode) vs perf script, field by field
 *        test_tracepoint pipe         the same through perf record -o - (pipe mode)
 *        test_tracepoint fuzz         recorded + synthesized blobs cut and corrupted
 *        test_tracepoint local        tracefs formats agree with a recording's
 *        test_tracepoint corpus FILE...  every recording with TRACING_DATA parses
 *
 * Exit 77 (skipped) when perf, tracefs or the tracepoints are unavailable.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

#include <pprofstore/pprofstore.h>
#include <traceevent/event-parse.h>

#include "internal/tracepoint.h"

#define SKIP 77

#include "check.h"

/*
 * libtraceevent 1.7 leaks a few tokens on some parse errors (and on a few real kernel
 * formats); those leaks are its own, not ours to fail on (sanitizer build only).
 */
const char *__lsan_default_suppressions(void);
__attribute__((visibility("default"))) const char *__lsan_default_suppressions(void)
{
	return "leak:libtraceevent.so\n";
}

/* Log capture: counts warnings that name an offset; prints nothing. */
static int nr_warn_offset, nr_log, nr_fmt_cut, nr_fmt_skipped;
static char fmt_cut[64][128]; /* "system/name" of the print fmts refused */
static void count_log(enum pps_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	nr_log++;
	if (level <= PPS_LOG_WARN && strstr(msg, "offset"))
		nr_warn_offset++;
	if (strstr(msg, "print fmt not understood")) {
		const char *sys = strstr(msg, "tracing data: "), *name = strchr(msg, '(');

		if (sys && name && nr_fmt_cut < 64)
			snprintf(fmt_cut[nr_fmt_cut], sizeof(fmt_cut[0]), "%.*s/%.*s",
				 (int)strcspn(sys + 14, " "), sys + 14, (int)strcspn(name + 1, ")"),
				 name + 1);
		nr_fmt_cut++;
	}
	if (strstr(msg, "format file") && (strstr(msg, "skipped") || strstr(msg, "not parsed")))
		nr_fmt_skipped++;
	if (getenv("PPS_TEST_VERBOSE"))
		fprintf(stderr, "log %d: %s\n", (int)level, msg);
}

/* ---- a growable buffer ---- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *src, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	if (n)
		memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void put_u32(struct buf *b, uint32_t v, bool be)
{
	if (be)
		v = __builtin_bswap32(v);
	put(b, &v, 4);
}

static void put_u64(struct buf *b, uint64_t v, bool be)
{
	if (be)
		v = __builtin_bswap64(v);
	put(b, &v, 8);
}

static void put_str(struct buf *b, const char *s)
{
	put(b, s, strlen(s) + 1);
}

/* ---- synthesized blobs ---- */

static const char header_page[] = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"
				  "\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n"
				  "\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n"
				  "\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n";

static const char header_event[] = "# compressed entry header\n"
				   "\ttype_len    :    5 bits\n"
				   "\ttime_delta  :   27 bits\n"
				   "\tarray       :   32 bits\n";

#define FMT_COMMON                                                                                 \
	"format:\n"                                                                                \
	"\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"                     \
	"\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"                     \
	"\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"             \
	"\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n"

#define SWITCH_FIELDS                                                                              \
	"\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n"                            \
	"\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;\n"                                \
	"\tfield:int prev_prio;\toffset:28;\tsize:4;\tsigned:1;\n"                                 \
	"\tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;\n"                               \
	"\tfield:char next_comm[16];\toffset:40;\tsize:16;\tsigned:0;\n"                           \
	"\tfield:pid_t next_pid;\toffset:56;\tsize:4;\tsigned:1;\n"                                \
	"\tfield:int next_prio;\toffset:60;\tsize:4;\tsigned:1;\n\n"

/* Linux 6.x: TASK_REPORT S D T t X Z P I, "+" at 0x100. */
static const char switch_6x[] =
    "name: sched_switch\nID: 372\n" FMT_COMMON SWITCH_FIELDS
    "print fmt: \"prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s "
    "next_pid=%d next_prio=%d\", REC->prev_comm, REC->prev_pid, REC->prev_prio, "
    "(REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | "
    "0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1)) ? __print_flags(REC->prev_state & "
    "((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | "
    "0x00000020 | 0x00000040) + 1) << 1) - 1), \"|\", { 0x00000001, \"S\" }, { 0x00000002, "
    "\"D\" }, { 0x00000004, \"T\" }, { 0x00000008, \"t\" }, { 0x00000010, \"X\" }, { "
    "0x00000020, \"Z\" }, { 0x00000040, \"P\" }, { 0x00000080, \"I\" }) : \"R\", "
    "REC->prev_state & (((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | "
    "0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) ? \"+\" : \"\", REC->next_comm, "
    "REC->next_pid, REC->next_prio\n";

/* 3.x style: Z before X, then x K W P, "+" at 1024 (TASK_STATE_MAX). */
static const char switch_3x[] =
    "name: sched_switch\nID: 57\n" FMT_COMMON SWITCH_FIELDS
    "print fmt: \"prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s "
    "next_pid=%d next_prio=%d\", REC->prev_comm, REC->prev_pid, REC->prev_prio, "
    "REC->prev_state & (1024-1) ? __print_flags(REC->prev_state & (1024-1), \"|\", { 1, \"S\"} "
    ", { 2, \"D\" }, { 4, \"T\" }, { 8, \"t\" }, { 16, \"Z\" }, { 32, \"X\" }, { 64, \"x\" }, "
    "{ 128, \"K\" }, { 256, \"W\" }, { 512, \"P\" }) : \"R\", REC->prev_state & 1024 ? \"+\" : "
    "\"\", REC->next_comm, REC->next_pid, REC->next_prio\n";

/* No __print_flags at all: the default table applies. */
static const char switch_plain[] = "name: sched_switch\nID: 58\n" FMT_COMMON SWITCH_FIELDS
				   "print fmt: \"prev_state=%ld\", REC->prev_state\n";

static const char exec_fmt[] =
    "name: sched_process_exec\nID: 365\n" FMT_COMMON
    "\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n"
    "\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;\n"
    "\tfield:pid_t old_pid;\toffset:16;\tsize:4;\tsigned:1;\n\n"
    "print fmt: \"filename=%s pid=%d old_pid=%d\", __get_str(filename), REC->pid, "
    "REC->old_pid\n";

/* A print fmt refused before libtraceevent sees it (a division by a name, which it folds
 * to a division by zero): the fields stay usable, the state table falls back. */
static const char switch_badfmt[] = "name: sched_switch\nID: 59\n" FMT_COMMON SWITCH_FIELDS
				    "print fmt: \"%d\", REC->prev_pid / zero\n";

/* A format libtraceevent cannot parse: it is skipped, the rest still parses. */
static const char broken_fmt[] = "name: broken\nID: xyz\nformat:\n\tgarbage\n";

static const char ftrace_fmt[] =
    "name: print\nID: 5\nformat:\n"
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
    "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
    "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n"
    "\tfield:unsigned long ip;\toffset:8;\tsize:8;\tsigned:0;\n"
    "\tfield:char buf[];\toffset:16;\tsize:0;\tsigned:0;\n\n"
    "print fmt: \"%ps: %s\", (void *)REC->ip, REC->buf\n";

/* perf's tracing_data layout (trace-event-info.c), sizes in the given byte order. */
static void build_blob(struct buf *b, bool be, const char *version, const char *switch_fmt)
{
	static const uint8_t magic[10] = {23, 8, 68, 't', 'r', 'a', 'c', 'i', 'n', 'g'};
	const char *sched[] = {switch_fmt, exec_fmt, broken_fmt};
	const char printk[] = "0xffffffff81000000 : \"hello %d\\n\"\n";
	const char cmdlines[] = "123 foo\n456 bar baz\n";
	uint8_t c;

	b->len = 0;
	put(b, magic, sizeof(magic));
	put_str(b, version);
	c = be;
	put(b, &c, 1);
	c = 8;
	put(b, &c, 1);
	put_u32(b, 4096, be);
	put(b, "header_page", 12);
	put_u64(b, strlen(header_page), be);
	put(b, header_page, strlen(header_page));
	put(b, "header_event", 13);
	put_u64(b, strlen(header_event), be);
	put(b, header_event, strlen(header_event));
	put_u32(b, 1, be); /* ftrace formats */
	put_u64(b, strlen(ftrace_fmt), be);
	put(b, ftrace_fmt, strlen(ftrace_fmt));
	put_u32(b, 1, be); /* systems */
	put_str(b, "sched");
	put_u32(b, 3, be);
	for (size_t i = 0; i < 3; i++) {
		put_u64(b, strlen(sched[i]), be);
		put(b, sched[i], strlen(sched[i]));
	}
	put_u32(b, 0, be); /* kallsyms */
	put_u32(b, (uint32_t)strlen(printk), be);
	put(b, printk, strlen(printk));
	if (strcmp(version, "0.6") == 0) {
		put_u64(b, strlen(cmdlines), be);
		put(b, cmdlines, strlen(cmdlines));
	}
}

static void raw_put(uint8_t *raw, size_t off, uint64_t v, size_t size, bool be)
{
	for (size_t i = 0; i < size; i++) {
		size_t byte = be ? size - 1 - i : i;

		raw[off + i] = (uint8_t)(v >> (8 * byte));
	}
}

static int test_synth(void)
{
	for (int be = 0; be <= 1; be++) {
		struct buf b = {0};
		struct pps_tracepoints *t;
		struct pps_tp_event *sw, *ex;
		const struct pps_tp_field *f;
		uint8_t raw[64], xraw[40];
		uint64_t v;
		char s[32];
		bool pre;

		build_blob(&b, be, "0.6", switch_6x);
		t = pps_tracepoints_new(b.p, b.len);
		CHECK(t, "be %d: %s", be, strerror(errno));
		if (!t) {
			free(b.p);
			continue;
		}
		sw = pps_tracepoints_event(t, 372);
		CHECK(sw && sw == pps_tracepoints_find(t, "sched", "sched_switch"), "be %d", be);
		CHECK(!pps_tracepoints_event(t, 999) && !pps_tracepoints_find(t, "sched", "x"),
		      "absent event");
		CHECK(pps_tracepoints_find(t, "ftrace", "print") != NULL, "ftrace format");
		if (!sw)
			goto next;
		CHECK(!strcmp(pps_tp_event_system(sw), "sched") &&
			  !strcmp(pps_tp_event_name(sw), "sched_switch") &&
			  pps_tp_event_id(sw) == 372,
		      "names");
		memset(raw, 0, sizeof(raw));
		raw_put(raw, 0, 372, 2, be);
		raw_put(raw, 2, 0x81, 1, be);
		raw_put(raw, 4, (uint32_t)-7, 4, be);
		memcpy(raw + 8, "worker 1", 8);
		raw_put(raw, 24, (uint32_t)-5, 4, be);
		raw_put(raw, 32, 0x100, 8, be);
		memcpy(raw + 40, "0123456789abcdef", 16); /* no NUL: cut at 16 */
		raw_put(raw, 56, 4242, 4, be);

		f = pps_tp_field(sw, "prev_pid");
		CHECK(f && f == pps_tp_field(sw, "prev_pid"), "field wrapper reused");
		CHECK(!pps_tp_read_u64(f, raw, sizeof(raw), &v) && v == (uint64_t)-5,
		      "prev_pid %#" PRIx64, v);
		CHECK(pps_tp_read_u64(f, raw, 27, &v) == -EINVAL, "bounds");
		CHECK(!pps_tp_read_u64(pps_tp_field(sw, "next_pid"), raw, sizeof(raw), &v) &&
			  v == 4242,
		      "next_pid");
		CHECK(!pps_tp_read_u64(pps_tp_field(sw, "common_type"), raw, sizeof(raw), &v) &&
			  v == 372,
		      "common_type %" PRIu64, v);
		CHECK(!pps_tp_read_u64(pps_tp_field(sw, "common_flags"), raw, sizeof(raw), &v) &&
			  v == 0x81,
		      "unsigned byte not extended %" PRIx64, v);
		CHECK(!pps_tp_read_u64(pps_tp_field(sw, "common_pid"), raw, sizeof(raw), &v) &&
			  v == (uint64_t)-7,
		      "common_pid");
		CHECK(!pps_tp_read_u64(pps_tp_field(sw, "prev_state"), raw, sizeof(raw), &v) &&
			  v == 0x100,
		      "prev_state");
		CHECK(pps_tp_read_u64(pps_tp_field(sw, "prev_comm"), raw, sizeof(raw), &v) ==
			  -EINVAL,
		      "string is not numeric");
		CHECK(!pps_tp_field(sw, "nope"), "absent field");
		CHECK(!pps_tp_read_str(pps_tp_field(sw, "prev_comm"), raw, sizeof(raw), s,
				       sizeof(s)) &&
			  !strcmp(s, "worker 1"),
		      "prev_comm '%s'", s);
		CHECK(!pps_tp_read_str(pps_tp_field(sw, "next_comm"), raw, sizeof(raw), s,
				       sizeof(s)) &&
			  !strcmp(s, "0123456789abcdef"),
		      "next_comm '%s'", s);
		CHECK(!pps_tp_read_str(pps_tp_field(sw, "next_comm"), raw, sizeof(raw), s, 5) &&
			  !strcmp(s, "0123"),
		      "cut '%s'", s);
		CHECK(pps_tp_read_str(pps_tp_field(sw, "next_comm"), raw, 50, s, sizeof(s)) ==
			  -EINVAL,
		      "string bounds");
		CHECK(pps_tp_read_str(f, raw, sizeof(raw), s, sizeof(s)) == -EINVAL,
		      "number is not a string");

		/* The 6.x table: S D T t X Z P I, "+" above. */
		CHECK(pps_tp_sched_state(sw, 0, &pre) == 'R' && pre, "0");
		CHECK(pps_tp_sched_state(sw, 0x100, &pre) == 'R' && pre, "R+");
		CHECK(pps_tp_sched_state(sw, 1, &pre) == 'S' && !pre, "S");
		CHECK(pps_tp_sched_state(sw, 2, &pre) == 'D' && !pre, "D");
		CHECK(pps_tp_sched_state(sw, 0x10, &pre) == 'X', "X");
		CHECK(pps_tp_sched_state(sw, 0x20, &pre) == 'Z', "Z");
		CHECK(pps_tp_sched_state(sw, 0x80, &pre) == 'I', "I");
		CHECK(pps_tp_sched_state(sw, 0x6, &pre) == 'D', "lowest bit");

		/* __data_loc string. */
		ex = pps_tracepoints_find(t, "sched", "sched_process_exec");
		CHECK(ex != NULL, "exec");
		memset(xraw, 0, sizeof(xraw));
		raw_put(xraw, 8, (5u << 16) | 20, 4, be);
		memcpy(xraw + 20, "/bin/true", 10);
		raw_put(xraw, 12, 77, 4, be);
		f = pps_tp_field(ex, "filename");
		CHECK(!pps_tp_read_str(f, xraw, sizeof(xraw), s, sizeof(s)) && !strcmp(s, "/bin/"),
		      "data_loc '%s'", s); /* the length bounds the string, NUL or not */
		raw_put(xraw, 8, (10u << 16) | 20, 4, be);
		CHECK(!pps_tp_read_str(f, xraw, sizeof(xraw), s, sizeof(s)) &&
			  !strcmp(s, "/bin/true"),
		      "data_loc '%s'", s);
		CHECK(pps_tp_read_str(f, xraw, 29, s, sizeof(s)) == -EINVAL, "data_loc bounds");
		raw_put(xraw, 8, (10u << 16) | 0xfff0, 4, be);
		CHECK(pps_tp_read_str(f, xraw, sizeof(xraw), s, sizeof(s)) == -EINVAL,
		      "data_loc offset");
		CHECK(pps_tp_read_u64(f, xraw, sizeof(xraw), &v) == -EINVAL, "data_loc numeric");
		CHECK(!pps_tp_read_u64(pps_tp_field(ex, "pid"), xraw, sizeof(xraw), &v) && v == 77,
		      "pid");
	next:
		pps_tracepoints_free(t);

		/* Old table from the format itself. */
		build_blob(&b, be, "0.5", switch_3x);
		t = pps_tracepoints_new(b.p, b.len);
		CHECK(t, "3.x be %d: %s", be, strerror(errno));
		sw = pps_tracepoints_event(t, 57);
		CHECK(sw, "3.x sched_switch");
		if (sw) {
			CHECK(pps_tp_sched_state(sw, 16, &pre) == 'Z' && !pre, "3.x Z");
			CHECK(pps_tp_sched_state(sw, 32, &pre) == 'X', "3.x X");
			CHECK(pps_tp_sched_state(sw, 64, &pre) == 'x', "3.x x");
			CHECK(pps_tp_sched_state(sw, 512, &pre) == 'P', "3.x P");
			CHECK(pps_tp_sched_state(sw, 1024, &pre) == 'R' && pre, "3.x R+");
		}
		pps_tracepoints_free(t);

		/* No table in the format: the default order. */
		build_blob(&b, be, "0.6", switch_plain);
		t = pps_tracepoints_new(b.p, b.len);
		sw = pps_tracepoints_event(t, 58);
		CHECK(sw, "plain sched_switch");
		if (sw) {
			CHECK(pps_tp_sched_state(sw, 16, &pre) == 'X', "default X");
			CHECK(pps_tp_sched_state(sw, 0x100, &pre) == 'R' && pre, "default R+");
		}
		CHECK(pps_tp_sched_state(NULL, 0x80, &pre) == 'I', "NULL event");
		pps_tracepoints_free(t);

		build_blob(&b, be, "0.6", switch_badfmt);
		t = pps_tracepoints_new(b.p, b.len);
		sw = pps_tracepoints_event(t, 59);
		CHECK(sw, "sched_switch with a refused print fmt");
		if (sw) {
			memset(raw, 0, sizeof(raw));
			raw_put(raw, 24, 31337, 4, be);
			CHECK(
			    !pps_tp_read_u64(pps_tp_field(sw, "prev_pid"), raw, sizeof(raw), &v) &&
				v == 31337,
			    "fields without print fmt");
			CHECK(pps_tp_sched_state(sw, 0x10, &pre) == 'X', "default table");
		}
		pps_tracepoints_free(t);
		pps_tracepoints_free(NULL);

		/* Cut just before the saved cmdlines of a 0.6 blob: malformed, with a warning. */
		build_blob(&b, be, "0.6", switch_6x);
		nr_warn_offset = 0;
		errno = 0;
		t = pps_tracepoints_new(b.p, b.len - strlen("123 foo\n456 bar baz\n") - 8);
		CHECK(!t && errno == EPROTO && nr_warn_offset == 1, "cut: errno %d warnings %d",
		      errno, nr_warn_offset);
		pps_tracepoints_free(t);
		free(b.p);
	}
	return 0;
}

/* ---- recordings ---- */

static char tmpdir[64];

static bool tracing_has(const char *sys_event)
{
	char p[256];

	snprintf(p, sizeof(p), "/sys/kernel/tracing/events/%s", sys_event);
	if (access(p, F_OK) == 0)
		return true;
	snprintf(p, sizeof(p), "/sys/kernel/debug/tracing/events/%s", sys_event);
	return access(p, F_OK) == 0;
}

static int run(const char *cmd)
{
	int rc = system(cmd);

	if (rc == -1 || !WIFEXITED(rc))
		return -1;
	return WEXITSTATUS(rc);
}

/* The workload perf records: futex calls on a known word, and some sleeping. */
static int workload(void)
{
	static uint32_t word;
	struct timespec ts = {0, 2 * 1000 * 1000};

	for (int i = 0; i < 100; i++) {
		syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		nanosleep(&ts, NULL);
	}
	return 0;
}

static char *self_exe;

/* Records into tmpdir/name; returns 0, SKIP, or 1. */
static int record(const char *name, bool pipe)
{
	char cmd[1024], events[256] = "";

	if (run("perf --version >/dev/null 2>&1") != 0 || !tracing_has("sched/sched_switch")) {
		fprintf(stderr, "SKIP: no perf or no sched:sched_switch\n");
		return SKIP;
	}
	strcat(events, "-e sched:sched_switch -e sched:sched_process_exec");
	if (tracing_has("syscalls/sys_enter_futex"))
		strcat(events, " -e syscalls:sys_enter_futex");
	if (tracing_has("lock/contention_begin"))
		strcat(events, " -e lock:contention_begin");
	snprintf(cmd, sizeof(cmd), "perf record -q %s -a -o %s %s%s/%s -- %s workload 2>%s/%s.err",
		 events, pipe ? "-" : "", pipe ? "> " : "", tmpdir, name, self_exe, tmpdir, name);
	if (run(cmd) != 0) {
		fprintf(stderr, "SKIP: perf record failed: %s\n", cmd);
		return SKIP;
	}
	return 0;
}

/* ---- the oracle: perf script's trace text, rebuilt from our field reads ---- */

struct lines {
	char **v;
	size_t n, cap;
};

static void lines_add(struct lines *l, const char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap * 2 + 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			abort();
	}
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		abort();
	l->n++;
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The part of a contention_begin line we rebuild: the flags names are not ours to print. */
static void cut_flags(char *s)
{
	char *p = strstr(s, " (flags=");

	if (strncmp(s, "lock:contention_begin:", 22) == 0 && p)
		*p = '\0';
}

static int perf_script(const char *path, struct lines *out)
{
	char cmd[512], line[4096];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "perf script -i %s -F event,trace 2>/dev/null", path);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *s = line;

		line[strcspn(line, "\n")] = '\0';
		while (*s == ' ')
			s++;
		/* perf pads the trace text of some events; compare without trailing blanks. */
		for (size_t n = strlen(s); n && s[n - 1] == ' '; n--)
			s[n - 1] = '\0';
		if (!*s)
			continue;
		cut_flags(s);
		lines_add(out, s);
	}
	return pclose(f) == 0 ? 0 : -1;
}

static uint64_t rd(struct pps_tp_event *e, const char *name, const struct pps_sample *s)
{
	uint64_t v = 0;

	CHECK(!pps_tp_read_u64(pps_tp_field(e, name), s->raw_data, s->raw_size, &v), "%s:%s",
	      pps_tp_event_name(e), name);
	return v;
}

static void rds(struct pps_tp_event *e, const char *name, const struct pps_sample *s, char *buf,
		size_t size)
{
	buf[0] = '\0';
	CHECK(!pps_tp_read_str(pps_tp_field(e, name), s->raw_data, s->raw_size, buf, size), "%s:%s",
	      pps_tp_event_name(e), name);
}

/* Our rendering of one sample, as perf script -F event,trace prints it. */
static void render(struct pps_tp_event *e, const struct pps_sample *s, char *out, size_t size)
{
	const char *name = pps_tp_event_name(e);
	char c1[64], c2[64];

	if (!strcmp(name, "sched_switch")) {
		uint64_t st = rd(e, "prev_state", s);
		bool pre = false;
		char state[4] = {pps_tp_sched_state(e, st, &pre), 0, 0, 0};

		/* "+": TASK_REPORT_MAX, the bit above the kernel's 8-letter table (4.14+). */
		if (st & 0x100)
			state[1] = '+';
		CHECK(pre == (state[0] == 'R'), "preempted %d for %s", pre, state);
		rds(e, "prev_comm", s, c1, sizeof(c1));
		rds(e, "next_comm", s, c2, sizeof(c2));
		snprintf(
		    out, size,
		    "sched:sched_switch: prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s ==> "
		    "next_comm=%s next_pid=%d next_prio=%d",
		    c1, (int)rd(e, "prev_pid", s), (int)rd(e, "prev_prio", s), state, c2,
		    (int)rd(e, "next_pid", s), (int)rd(e, "next_prio", s));
	} else if (!strcmp(name, "sys_enter_futex")) {
		snprintf(out, size,
			 "syscalls:sys_enter_futex: uaddr: 0x%08" PRIx64 ", op: 0x%08" PRIx64
			 ", val: 0x%08" PRIx64 ", utime: 0x%08" PRIx64 ", uaddr2: 0x%08" PRIx64
			 ", val3: 0x%08" PRIx64,
			 rd(e, "uaddr", s), rd(e, "op", s), rd(e, "val", s), rd(e, "utime", s),
			 rd(e, "uaddr2", s), rd(e, "val3", s));
	} else if (!strcmp(name, "contention_begin")) {
		snprintf(out, size, "lock:contention_begin: 0x%" PRIx64, rd(e, "lock_addr", s));
	} else if (!strcmp(name, "sched_process_exec")) {
		rds(e, "filename", s, c1, sizeof(c1));
		snprintf(out, size, "sched:sched_process_exec: filename=%s pid=%d old_pid=%d", c1,
			 (int)rd(e, "pid", s), (int)rd(e, "old_pid", s));
	} else {
		snprintf(out, size, "%s:%s: ?", pps_tp_event_system(e), name);
	}
}

/* A copy of the file's TRACING_DATA, read to the end first (pipe mode sends it as a record). */
static void *read_blob(const char *path, size_t *size, bool expect_pipe)
{
	struct pps_reader *r = pps_reader_open(path, NULL);
	struct pps_event ev;
	const void *blob;
	void *copy = NULL;

	*size = 0;
	CHECK(r, "open %s: %s", path, strerror(errno));
	if (!r)
		return NULL;
	CHECK(pps_reader_is_pipe(r) == expect_pipe, "pipe mode %d", expect_pipe);
	if (!expect_pipe)
		CHECK(pps_reader_tracing_data(r, size) && *size, "file mode: blob after open");
	while (pps_reader_next(r, &ev) > 0)
		;
	blob = pps_reader_tracing_data(r, size);
	CHECK(blob && *size && pps_reader_has_feature(r, PPS_FEAT_TRACING_DATA), "%s: no blob",
	      path);
	if (blob && *size) {
		copy = malloc(*size);
		if (!copy)
			abort();
		memcpy(copy, blob, *size);
	}
	pps_reader_free(r);
	return copy;
}

/* Every tracepoint sample of path rendered by us vs perf script; returns samples compared. */
static size_t compare_with_perf(const char *path, struct pps_tracepoints *t)
{
	struct lines ours = {0}, theirs = {0};
	struct pps_reader *r = pps_reader_open(path, NULL);
	struct pps_event ev;
	char line[1024];
	size_t nr_switch = 0, shown = 0;

	if (!r)
		return 0;
	while (pps_reader_next(r, &ev) > 0) {
		const struct perf_event_attr *a;
		struct pps_tp_event *e;

		if (ev.type != PERF_RECORD_SAMPLE || !ev.evsel)
			continue;
		a = pps_evsel_attr(ev.evsel);
		if (a->type != PERF_TYPE_TRACEPOINT)
			continue;
		e = pps_tracepoints_event(t, a->config);
		CHECK(e, "no format for id %" PRIu64, (uint64_t)a->config);
		if (!e)
			continue;
		render(e, &ev.sample, line, sizeof(line));
		nr_switch += !strcmp(pps_tp_event_name(e), "sched_switch");
		lines_add(&ours, line);
	}
	pps_reader_free(r);
	CHECK(!perf_script(path, &theirs), "perf script %s", path);
	CHECK(ours.n == theirs.n, "%zu samples, perf script %zu", ours.n, theirs.n);
	CHECK(nr_switch > 0, "no sched_switch samples");
	qsort(ours.v, ours.n, sizeof(*ours.v), cmp_str);
	qsort(theirs.v, theirs.n, sizeof(*theirs.v), cmp_str);
	for (size_t i = 0; i < ours.n && i < theirs.n && shown < 5; i++) {
		if (strcmp(ours.v[i], theirs.v[i])) {
			CHECK(0, "\n  ours: %s\n  perf: %s", ours.v[i], theirs.v[i]);
			shown++;
		}
	}
	fprintf(stderr, "%s: %zu samples (%zu sched_switch) match perf script\n", path, ours.n,
		nr_switch);
	lines_free(&ours);
	lines_free(&theirs);
	return nr_switch;
}

static int test_record(bool pipe)
{
	char path[128];
	struct pps_tracepoints *t;
	void *blob;
	size_t size;
	int rc = record("rec.data", pipe);

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/rec.data", tmpdir);
	blob = read_blob(path, &size, pipe);
	t = pps_tracepoints_new(blob, size);
	CHECK(t, "parse recorded blob: %s", strerror(errno));
	if (t) {
		struct pps_tp_event *sw = pps_tracepoints_find(t, "sched", "sched_switch");

		CHECK(sw && pps_tp_event_id(sw) > 0, "sched_switch");
		compare_with_perf(path, t);
	}
	pps_tracepoints_free(t);
	free(blob);
	return 0;
}

/* ---- fuzz: cut and corrupted blobs return NULL (EPROTO, a warning) or a working handle ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
/* Random damages per blob; PPS_TP_FUZZ_ITERS and PPS_TP_FUZZ_SEED change them. */
static int fuzz_iters = 3000;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Uses whatever a damaged blob produced, with raw data from the real event. */
static void exercise(struct pps_tracepoints *t, const uint8_t *raw, size_t raw_size)
{
	static const char *const names[] = {"sched_switch", "sched_process_exec", "sys_enter_futex",
					    "contention_begin"};
	static const char *const fields[] = {"prev_comm", "prev_pid",  "prev_state",
					     "next_comm", "filename",  "uaddr",
					     "op",	  "lock_addr", "common_pid"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct pps_tp_event *e = pps_tracepoints_find(t, NULL, names[i]);
		uint64_t v;
		char s[32];
		bool pre;

		if (!e)
			continue;
		(void)pps_tracepoints_event(t, pps_tp_event_id(e));
		for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
			const struct pps_tp_field *f = pps_tp_field(e, fields[k]);

			(void)pps_tp_read_u64(f, raw, raw_size, &v);
			(void)pps_tp_read_str(f, raw, raw_size, s, sizeof(s));
		}
		(void)pps_tp_sched_state(e, next_rand(), &pre);
		(void)pps_tp_sched_state(e, 0, &pre);
	}
}

static void fuzz_one(const uint8_t *p, size_t n, const uint8_t *raw, size_t raw_size, size_t *nr_ok,
		     size_t *nr_bad)
{
	struct pps_tracepoints *t;
	int warn_before = nr_warn_offset;

	errno = 0;
	t = pps_tracepoints_new(p, n);
	if (t) {
		exercise(t, raw, raw_size);
		pps_tracepoints_free(t);
		(*nr_ok)++;
	} else {
		CHECK(errno == EPROTO || errno == ENOMEM || errno == EINVAL, "errno %d", errno);
		CHECK(errno != EPROTO || nr_warn_offset > warn_before, "no warning at %zu", n);
		(*nr_bad)++;
	}
}

static void fuzz_blob(const char *what, const uint8_t *blob, size_t size, const uint8_t *raw,
		      size_t raw_size)
{
	uint8_t *copy = malloc(size ? size : 1);
	size_t nr_ok = 0, nr_bad = 0, step;

	if (!copy)
		abort();
	/* Every cut in the first 1024 bytes (magic, headers, first formats), then ~1500. */
	step = size > 1024 ? (size - 1024) / 1500 + 1 : 1;
	for (size_t cut = 0; cut < size; cut += cut < 1024 ? 1 : step) {
		/* A copy of exactly cut bytes, so ASan sees reads past the end. */
		uint8_t *c = malloc(cut ? cut : 1);

		if (!c)
			abort();
		memcpy(c, blob, cut);
		fuzz_one(c, cut, raw, raw_size, &nr_ok, &nr_bad);
		free(c);
	}
	for (int i = 0; i < fuzz_iters; i++) {
		static const char punct[] = "(){}[],;:-<>*/%&|!~?.\"' \nR0";
		int nflip = 1 + (int)(next_rand() % 8);

		memcpy(copy, blob, size);
		for (int k = 0; k < nflip; k++) {
			size_t at = (size_t)(next_rand() % size);

			/* Any byte, a digit (offsets, sizes, ids), or C punctuation (print fmts).
			 */
			switch (next_rand() % 3) {
			case 0:
				copy[at] = (uint8_t)next_rand();
				break;
			case 1:
				copy[at] = (uint8_t)('0' + next_rand() % 10);
				break;
			default:
				copy[at] = (uint8_t)punct[next_rand() % (sizeof(punct) - 1)];
				break;
			}
		}
		fuzz_one(copy, size, raw, raw_size, &nr_ok, &nr_bad);
	}
	/* Huge sizes in every u32/u64 slot we can find: each aligned window set to all-ones. */
	for (size_t at = 0; at + 8 <= size && at < 4096; at++) {
		memcpy(copy, blob, size);
		memset(copy + at, 0xff, 4);
		fuzz_one(copy, size, raw, raw_size, &nr_ok, &nr_bad);
	}
	printf("%s: %zu bytes, %zu damaged copies parsed, %zu rejected\n", what, size, nr_ok,
	       nr_bad);
	free(copy);
}

/* The first sched_switch raw payload of path (malloc'ed), for exercising damaged handles. */
static uint8_t *first_raw(const char *path, size_t *raw_size)
{
	struct pps_reader *r = pps_reader_open(path, NULL);
	struct pps_event ev;
	uint8_t *raw = NULL;

	*raw_size = 0;
	while (r && pps_reader_next(r, &ev) > 0) {
		if (ev.type == PERF_RECORD_SAMPLE && ev.sample.raw_size) {
			raw = malloc(ev.sample.raw_size);
			if (!raw)
				abort();
			memcpy(raw, ev.sample.raw_data, ev.sample.raw_size);
			*raw_size = ev.sample.raw_size;
			break;
		}
	}
	pps_reader_free(r);
	return raw;
}

static int test_fuzz(void)
{
	struct buf b = {0};
	uint8_t raw[64] = {0};
	char path[128], errpath[160];
	int saved_stderr, fd;
	struct stat st;

	if (getenv("PPS_TP_FUZZ_ITERS"))
		fuzz_iters = atoi(getenv("PPS_TP_FUZZ_ITERS"));
	if (getenv("PPS_TP_FUZZ_SEED"))
		rng = strtoull(getenv("PPS_TP_FUZZ_SEED"), NULL, 0) | 1;

	/* libtraceevent must not write to stderr either: catch it in a file. */
	snprintf(errpath, sizeof(errpath), "%s/stderr", tmpdir);
	fflush(stderr);
	saved_stderr = dup(2);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || saved_stderr < 0)
		return 1;
	dup2(fd, 2);
	close(fd);

	build_blob(&b, false, "0.6", switch_6x);
	fuzz_blob("synthetic", b.p, b.len, raw, sizeof(raw));
	build_blob(&b, true, "0.5", switch_3x);
	fuzz_blob("synthetic big-endian", b.p, b.len, raw, sizeof(raw));
	free(b.p);

	if (record("fuzz.data", false) == 0) {
		size_t size, raw_size;
		void *blob;
		uint8_t *rraw;

		snprintf(path, sizeof(path), "%s/fuzz.data", tmpdir);
		blob = read_blob(path, &size, false);
		rraw = first_raw(path, &raw_size);
		if (blob && rraw)
			fuzz_blob("recorded", blob, size, rraw, raw_size);
		free(blob);
		free(rraw);
	}

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	CHECK(stat(errpath, &st) == 0, "stat");
	if (st.st_size) {
		/* Our own CHECK messages also land there: show them. */
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "head -c 4000 %s >&2", errpath);
		(void)run(cmd);
	}
	CHECK(st.st_size == 0, "%lld bytes on stderr while fuzzing", (long long)st.st_size);
	return 0;
}

/* Reads a whole (tracefs) file into b after a u64 size; false when unreadable. */
static bool put_file(struct buf *b, const char *path, int size_bytes)
{
	char chunk[4096];
	struct buf f = {0};
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return false;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		put(&f, chunk, (size_t)n);
	close(fd);
	if (size_bytes == 8)
		put_u64(b, f.len, false);
	else
		put_u32(b, (uint32_t)f.len, false);
	put(b, f.p, f.len);
	free(f.p);
	return true;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the subdirectories of dir that hold a format file, sorted. */
static struct lines event_dirs(const char *dir)
{
	struct lines l = {0};
	struct dirent *de;
	DIR *d = opendir(dir);
	char p[1024];

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/format", dir, de->d_name);
		if (access(p, R_OK) == 0)
			lines_add(&l, de->d_name);
	}
	if (d)
		closedir(d);
	qsort(l.v, l.n, sizeof(*l.v), cmp_name);
	return l;
}

/*
 * Every format of the running kernel, packed as perf packs them, parses through our checks
 * untouched: the guards against libtraceevent's crashes must not cost real formats.
 */
static void test_all_local_formats(struct pps_tracepoints *local, const char *root)
{
	struct buf b = {0};
	struct lines systems = {0};
	char path[1024];
	struct pps_tracepoints *t;
	size_t nr = 0, nr_missing = 0;
	struct dirent *de;
	DIR *d;
	uint32_t nsys = 0;
	size_t nsys_at;

	put(&b, "\027\010\104tracing", 10);
	put_str(&b, "0.6");
	put(&b, "\0\010", 2);
	put_u32(&b, 4096, false);
	put(&b, "header_page", 12);
	snprintf(path, sizeof(path), "%s/header_page", root);
	put_file(&b, path, 8);
	put(&b, "header_event", 13);
	snprintf(path, sizeof(path), "%s/header_event", root);
	put_file(&b, path, 8);
	snprintf(path, sizeof(path), "%s/ftrace", root);
	{
		struct lines ev = event_dirs(path);

		put_u32(&b, (uint32_t)ev.n, false);
		for (size_t i = 0; i < ev.n; i++) {
			snprintf(path, sizeof(path), "%s/ftrace/%s/format", root, ev.v[i]);
			put_file(&b, path, 8);
		}
		lines_free(&ev);
	}
	d = opendir(root);
	while (d && (de = readdir(d))) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", root, de->d_name);
		if (de->d_name[0] != '.' && strcmp(de->d_name, "ftrace") && !stat(path, &st) &&
		    S_ISDIR(st.st_mode))
			lines_add(&systems, de->d_name);
	}
	if (d)
		closedir(d);
	nsys_at = b.len;
	put_u32(&b, 0, false);
	for (size_t s = 0; s < systems.n; s++) {
		struct lines ev;

		snprintf(path, sizeof(path), "%s/%s", root, systems.v[s]);
		ev = event_dirs(path);
		if (ev.n) {
			nsys++;
			put_str(&b, systems.v[s]);
			put_u32(&b, (uint32_t)ev.n, false);
			for (size_t i = 0; i < ev.n; i++) {
				snprintf(path, sizeof(path), "%s/%s/%s/format", root, systems.v[s],
					 ev.v[i]);
				put_file(&b, path, 8);
			}
		}
		lines_free(&ev);
	}
	memcpy(b.p + nsys_at, &nsys, 4);
	put_u32(&b, 0, false); /* kallsyms */
	put_u32(&b, 0, false); /* printk */
	put_u64(&b, 0, false); /* cmdlines */

	nr_fmt_cut = nr_fmt_skipped = 0;
	t = pps_tracepoints_new(b.p, b.len);
	CHECK(t, "all local formats: %s", strerror(errno));
	for (size_t s = 0; t && s < systems.n; s++) {
		struct lines ev;

		snprintf(path, sizeof(path), "%s/%s", root, systems.v[s]);
		ev = event_dirs(path);
		for (size_t i = 0; i < ev.n; i++) {
			bool in_local = pps_tracepoints_find(local, systems.v[s], ev.v[i]) != NULL;
			bool in_blob = pps_tracepoints_find(t, systems.v[s], ev.v[i]) != NULL;

			nr++;
			if (in_local && !in_blob) {
				nr_missing++;
				if (nr_missing < 10)
					fprintf(stderr, "missing %s:%s\n", systems.v[s], ev.v[i]);
			}
		}
		lines_free(&ev);
	}
	CHECK(nr_missing == 0, "%zu of %zu local formats lost", nr_missing, nr);
	/* A print fmt we refuse must be one libtraceevent cannot parse either (GNU statement
	 * expressions in kvmmmu and dma): we give up nothing it could give. */
	for (int i = 0; i < nr_fmt_cut && i < 64; i++) {
		struct tep_handle *tep = tep_alloc();
		struct buf f = {0};
		int rc;

		snprintf(path, sizeof(path), "%s/%s/format", root, fmt_cut[i]);
		if (!tep || !put_file(&f, path, 8))
			abort();
		rc = tep_parse_event(tep, (const char *)f.p + 8, f.len - 8, "x");
		CHECK(rc != 0, "print fmt of %s refused, but libtraceevent parses it", fmt_cut[i]);
		tep_free(tep);
		free(f.p);
	}
	printf("all local formats: %zu events in %u systems, %zu lost, %d print fmts refused, %d "
	       "format files libtraceevent refused\n",
	       nr, nsys, nr_missing, nr_fmt_cut, nr_fmt_skipped);
	pps_tracepoints_free(t);
	lines_free(&systems);
	free(b.p);
}

static int test_local(void)
{
	static const char *const systems[] = {"sched", "lock", "syscalls", NULL};
	struct pps_tracepoints *local, *rec;
	struct pps_tp_event *a, *b;
	char path[128];
	void *blob;
	size_t size;
	int rc;

	if (!tracing_has("sched/sched_switch")) {
		fprintf(stderr, "SKIP: no tracefs\n");
		return SKIP;
	}
	local = pps_tracepoints_new_local(NULL);
	CHECK(local, "local (all): %s", strerror(errno));
	if (local) {
		test_all_local_formats(local, access("/sys/kernel/tracing/events/sched", F_OK) == 0
						  ? "/sys/kernel/tracing/events"
						  : "/sys/kernel/debug/tracing/events");
		pps_tracepoints_free(local);
	}
	local = pps_tracepoints_new_local(systems);
	CHECK(local, "local: %s", strerror(errno));
	if (!local)
		return 0;
	a = pps_tracepoints_find(local, "sched", "sched_switch");
	CHECK(a, "local sched_switch");
	rc = record("local.data", false);
	if (rc == 0 && a) {
		snprintf(path, sizeof(path), "%s/local.data", tmpdir);
		blob = read_blob(path, &size, false);
		rec = pps_tracepoints_new(blob, size);
		b = pps_tracepoints_find(rec, "sched", "sched_switch");
		CHECK(b && pps_tp_event_id(a) == pps_tp_event_id(b), "ids %" PRIu64 " vs %" PRIu64,
		      pps_tp_event_id(a), b ? pps_tp_event_id(b) : 0);
		if (b) {
			/* Same kernel, same layout, same state table. */
			static const char *const f[] = {"prev_comm", "prev_pid", "prev_state",
							"next_pid"};
			uint8_t raw[128] = {0};
			uint64_t v1, v2;
			bool p1, p2;

			for (size_t i = 0; i < 4; i++)
				CHECK(pps_tp_field(a, f[i]) && pps_tp_field(b, f[i]), "%s", f[i]);
			memset(raw + 24, 0x11, 4);
			CHECK(
			    !pps_tp_read_u64(pps_tp_field(a, "prev_pid"), raw, sizeof(raw), &v1) &&
				!pps_tp_read_u64(pps_tp_field(b, "prev_pid"), raw, sizeof(raw),
						 &v2) &&
				v1 == v2,
			    "prev_pid");
			for (uint64_t st = 0; st < 0x200; st++)
				CHECK(pps_tp_sched_state(a, st, &p1) ==
					      pps_tp_sched_state(b, st, &p2) &&
					  p1 == p2,
				      "state %#" PRIx64, st);
		}
		pps_tracepoints_free(rec);
		free(blob);
	}
	pps_tracepoints_free(local);
	return rc == SKIP ? 0 : rc;
}

static int test_corpus(int argc, char **argv)
{
	size_t nr = 0;

	for (int i = 0; i < argc; i++) {
		struct pps_reader *r = pps_reader_open(argv[i], NULL);
		struct pps_event ev;
		struct pps_tracepoints *t;
		const void *blob;
		size_t size;

		if (!r)
			continue;
		while (pps_reader_next(r, &ev) > 0)
			;
		blob = pps_reader_tracing_data(r, &size);
		if (pps_reader_has_feature(r, PPS_FEAT_TRACING_DATA) && blob && size) {
			t = pps_tracepoints_new(blob, size);
			CHECK(t, "%s: %s", argv[i], strerror(errno));
			pps_tracepoints_free(t);
			nr++;
		}
		pps_reader_free(r);
	}
	fprintf(stderr, "corpus: %zu of %d recordings have TRACING_DATA, all parsed\n", nr, argc);
	return 0;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc >= 2 && !strcmp(argv[1], "workload"))
		return workload();
	if (argc < 2) {
		fprintf(stderr, "usage: %s synth|record|pipe|fuzz|local|corpus FILE...\n", argv[0]);
		return 2;
	}
	self_exe = realpath("/proc/self/exe", NULL);
	pps_set_log(count_log, NULL);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pps-tp-XXXXXX");
	if (!self_exe || !mkdtemp(tmpdir))
		return 1;

	if (!strcmp(argv[1], "synth"))
		rc = test_synth();
	else if (!strcmp(argv[1], "record"))
		rc = test_record(false);
	else if (!strcmp(argv[1], "pipe"))
		rc = test_record(true);
	else if (!strcmp(argv[1], "fuzz"))
		rc = test_fuzz();
	else if (!strcmp(argv[1], "local"))
		rc = test_local();
	else if (!strcmp(argv[1], "corpus"))
		rc = test_corpus(argc - 2, argv + 2);
	else
		rc = 2;

	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		(void)run(cmd);
	}
	free(self_exe);
	if (rc)
		return rc;
	if (failures)
		fprintf(stderr, "%d failures\n", failures);
	return failures ? 1 : 0;
}
