/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Live capture (see pprofstore/record.h): perf_event_open through libperf's evlist, evsel
 * and mmap API, ring buffers turned into a pipe-mode perf.data stream for a fed reader.
 *
 * Facts that shaped it:
 * - Everything downstream of the ring buffers is the file path: the reader validates
 *   each record's length and fields before anyone looks inside (ring buffer bytes are as
 *   untrusted as a file's), orders the CPUs' records by time, and the converter pairs
 *   waits and builds profiles. So the recorder only writes what perf record would write
 *   in pipe mode, and live and recorded profiles of one run agree by construction.
 * - A context-switch storm on a small machine makes 50,000+ sched_switch samples a
 *   second with callchains, about 10 MiB/s per CPU, and a 4 MiB buffer fills in a few
 *   hundred milliseconds, less than a window's symbolization and store transaction can
 *   take. So the buffers are drained by a thread of their own (lib/ring.c), woken at a
 *   quarter full (wakeup watermark) or once a second, and everything else happens on the
 *   caller's thread, from the passes that thread queues (a second's drains at a time);
 *   when a window ends, the caller drains the buffers itself.
 * - Time is CLOCK_MONOTONIC (use_clockid), so window boundaries taken with
 *   clock_gettime() compare with record times, and CLOCK_DATA maps both to wall time.
 * - Records are released to the converter up to the time the last pass began, minus
 *   RELEASE_MARGIN_NS: a record is written to its ring buffer within microseconds of its
 *   timestamp (in the tracepoint or timer interrupt, preemption off), so by then every
 *   CPU's records older than that are in the buffers we just read.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <perf/core.h>
#include <perf/cpumap.h>
#include <perf/event.h>
#include <perf/evlist.h>
#include <perf/evsel.h>
#include <perf/mmap.h>
#include <perf/threadmap.h>
#include <pprofstore/pprofstore.h>
#include <pprofstore/record.h>

#include "internal/ring.h"
#include "internal/synth.h"
#include "internal/tracedata.h"
#include "internal/tracepoint.h"
#include "internal/unwind.h"
#include "internal/util.h"

#define RELEASE_MARGIN_NS 1000000u /* 1 ms: see the file comment */
#define MAX_TRACEPOINTS	  64
/* Ring buffer bytes read and not yet converted, at most: a pass beyond it waits in the
 * kernel's buffers (half of what a fed reader takes). */
#define MAX_QUEUED ((size_t)128 << 20)

/* One event of the recording. */
struct rec_event {
	struct perf_evsel *evsel;    /* owned by the evlist */
	char *name;		     /* "cpu-clock", "sched:sched_switch", "dummy:u" */
	unsigned int type;	     /* enum pps_record_type it serves; 0: side-band, extra */
	struct perf_event_attr attr; /* as opened */
	uint64_t *ids;		     /* one per fd */
	size_t nr_ids;
};

struct pps_record {
	struct pps_record_opts opts; /* copied; strings are the caller's */
	uint64_t regs_user;	     /* with opts.stack_user: pps_unwind_host_regs() */
	struct pps_convert_opts copts;
	unsigned int types; /* what is recorded */
	struct rec_event *evs;
	size_t nr_evs;
	struct perf_evlist *evlist;
	struct perf_cpu_map *cpus;
	struct perf_thread_map *threads;
	bool mapped;
	bool enabled;

	struct pps_reader *reader; /* fed, ordered */
	struct pps_convert *conv;
	FILE *out;	       /* opts.output, or NULL */
	bool out_stdout;       /* out is stdout: not closed */
	int out_err;	       /* first write error on out */
	struct pps_ring *ring; /* drains the ring buffers on its own thread */

	pid_t child;	  /* the command, 0: none */
	int go_fd;	  /* write end: one byte lets the child exec */
	int err_fd;	  /* read end: the child's exec errno, EOF when exec worked */
	int child_status; /* wait status, -1 while it runs */
	bool gone;	  /* the target is gone */
	bool finished;	  /* pps_record_flush(last) ran */

	uint64_t synth_time; /* time of the synthesized records: just before enabling */
	uint64_t win_start;  /* the current window's start, CLOCK_MONOTONIC ns */
	uint64_t released;   /* the reader may deliver records up to here */
	/* CLOCK_MONOTONIC and CLOCK_REALTIME read together at the start (the stream's
	 * CLOCK_DATA), and their difference, ns. */
	uint64_t mono_ns, tod_ns;
	int64_t wall_offset;
	struct pps_record_window win;
	uint64_t lost_seen, lost_records_seen, samples_seen; /* totals at the last flush */
	uint8_t *blob;					     /* tracing data */
	size_t blob_size;
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the stream ------------------------------------------------------------------- */

/* Writes to the output file; the first error sticks and is reported once. */
static void out_write(struct pps_record *rec, const void *p, size_t n)
{
	if (!rec->out || rec->out_err)
		return;
	if (fwrite(p, 1, n, rec->out) != n) {
		rec->out_err = errno ? -errno : -EIO;
		pps_err("%s: write error: %s; the stream copy is incomplete (recording goes on)",
			rec->opts.output, strerror(-rec->out_err));
	}
}

/* Appends bytes to the stream: the reader, and the output file. */
static int stream_put(struct pps_record *rec, const void *p, size_t n)
{
	int err = pps_reader_feed(rec->reader, p, n);

	if (err == -ENOBUFS) {
		/* The converter has not kept up within a drain: let it read, then retry. */
		err = pps_convert_feed(rec->conv, rec->reader);
		err = err ?: pps_reader_feed(rec->reader, p, n);
	}
	if (!err)
		out_write(rec, p, n);
	return err;
}

/* A user record: header, then parts (each padded to 8 bytes by the caller's sizes). */
static int put_user(struct pps_record *rec, uint32_t type, const void *a, size_t na, const void *b,
		    size_t nb)
{
	struct perf_event_header h = {.type = type, .size = (uint16_t)(8 + na + nb)};
	int err;

	if (8 + na + nb > UINT16_MAX)
		return -E2BIG;
	err = stream_put(rec, &h, sizeof(h));
	if (!err && na)
		err = stream_put(rec, a, na);
	if (!err && nb)
		err = stream_put(rec, b, nb);
	return err;
}

/* perf's header string (do_write_string): u32 length padded to 64, then the bytes. */
static size_t header_string(uint8_t *buf, size_t size, const char *s)
{
	uint32_t len = (uint32_t)((strlen(s) + 1 + 63) & ~(size_t)63);

	if (4 + (size_t)len > size)
		return 0;
	memset(buf, 0, 4 + (size_t)len);
	memcpy(buf, &len, 4);
	memcpy(buf + 4, s, strlen(s));
	return 4 + (size_t)len;
}

static int put_feature(struct pps_record *rec, uint64_t feat, const void *data, size_t n)
{
	uint8_t pad[8] = {0};
	uint8_t *body = malloc(8 + n + 8);
	size_t len = PPS_ALIGN8(n);
	int err;

	if (!body)
		return -ENOMEM;
	memcpy(body, &feat, 8);
	memcpy(body + 8, data, n);
	memcpy(body + 8 + n, pad, len - n);
	err = put_user(rec, PERF_RECORD_HEADER_FEATURE, body, 8 + len, NULL, 0);
	free(body);
	return err;
}

static int put_string_feature(struct pps_record *rec, uint64_t feat, const char *s)
{
	uint8_t buf[4 + 1024];
	size_t n = header_string(buf, sizeof(buf), s);

	return n ? put_feature(rec, feat, buf, n) : -E2BIG;
}

static int put_cmdline(struct pps_record *rec)
{
	uint32_t nr = (uint32_t)rec->opts.nr_cmdline;
	size_t len = 4, cap = 4;
	uint8_t *buf;
	int err;

	for (size_t i = 0; i < rec->opts.nr_cmdline; i++)
		cap += 4 + strlen(rec->opts.cmdline[i]) + 64;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &nr, 4);
	for (size_t i = 0; i < rec->opts.nr_cmdline; i++)
		len += header_string(buf + len, cap - len, rec->opts.cmdline[i]);
	err = len < 0xff00 ? put_feature(rec, PPS_FEAT_CMDLINE, buf, len) : 0;
	free(buf);
	return err;
}

/*
 * The stream's head, as perf record writes it in pipe mode: the magic, an ATTR record per
 * event with its ids, an EVENT_UPDATE naming it, the features the converter uses (host,
 * kernel release, clock), and the tracepoints' formats (TRACING_DATA).
 */
static int put_head(struct pps_record *rec)
{
	struct {
		uint32_t version, clockid;
		uint64_t tod_ns, clockid_ns;
	} cd = {1, CLOCK_MONOTONIC, 0, 0};
	uint64_t magic[2];
	struct utsname u;
	struct timespec res;
	uint32_t nrcpus[2];
	int err = 0;

	memcpy(&magic[0], "PERFILE2", 8);
	magic[1] = 16;
	err = stream_put(rec, magic, sizeof(magic));
	for (size_t i = 0; i < rec->nr_evs && !err; i++) {
		struct rec_event *e = &rec->evs[i];

		err = put_user(rec, PERF_RECORD_HEADER_ATTR, &e->attr, sizeof(e->attr), e->ids,
			       e->nr_ids * sizeof(*e->ids));
		/* An ATTR record's size is 16 bits, as perf's: about 8,000 ids (CPUs x target
		 * threads) per event at most. */
		if (err == -E2BIG)
			pps_err("%s: %zu event ids (CPUs x threads) do not fit in a perf.data "
				"attr record; record fewer threads, or system-wide (-a)",
				e->name, e->nr_ids);
	}
	for (size_t i = 0; i < rec->nr_evs && !err; i++) {
		struct rec_event *e = &rec->evs[i];
		uint64_t head[2] = {PERF_EVENT_UPDATE__NAME, e->ids[0]};
		char name[256] = {0};

		snprintf(name, sizeof(name), "%s", e->name);
		err = put_user(rec, PERF_RECORD_EVENT_UPDATE, head, sizeof(head), name,
			       PPS_ALIGN8(strlen(name) + 1));
	}
	if (err)
		return err;
	if (uname(&u) == 0) {
		err = put_string_feature(rec, PPS_FEAT_HOSTNAME, u.nodename);
		err = err ?: put_string_feature(rec, PPS_FEAT_OSRELEASE, u.release);
		err = err ?: put_string_feature(rec, PPS_FEAT_ARCH, u.machine);
	}
	err = err ?: put_string_feature(rec, PPS_FEAT_VERSION, "pprofstore " PPS_VERSION_STRING);
	nrcpus[0] = (uint32_t)sysconf(_SC_NPROCESSORS_CONF);
	nrcpus[1] = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
	err = err ?: put_feature(rec, PPS_FEAT_NRCPUS, nrcpus, sizeof(nrcpus));
	err = err ?: put_cmdline(rec);
	if (!err && clock_getres(CLOCK_MONOTONIC, &res) == 0) {
		uint64_t ns = (uint64_t)res.tv_sec * 1000000000u + (uint64_t)res.tv_nsec;

		err = put_feature(rec, PPS_FEAT_CLOCKID, &ns, sizeof(ns));
	}
	/* The wall clock and the events' clock read together, as perf record -k does. */
	cd.clockid_ns = rec->mono_ns;
	cd.tod_ns = rec->tod_ns;
	err = err ?: put_feature(rec, PPS_FEAT_CLOCK_DATA, &cd, sizeof(cd));
	if (!err && rec->blob) {
		/* perf's record is 12 bytes; 16 keeps what follows 8-byte aligned (the size
		 * says where the record ends, so readers take either). */
		uint32_t size[2] = {(uint32_t)PPS_ALIGN8(rec->blob_size), 0};
		uint8_t pad[8] = {0};

		err = put_user(rec, PERF_RECORD_HEADER_TRACING_DATA, size, sizeof(size), NULL, 0);
		err = err ?: stream_put(rec, rec->blob, rec->blob_size);
		if (!err && size[0] > rec->blob_size)
			err = stream_put(rec, pad, size[0] - rec->blob_size);
	}
	return err;
}

/* Synthesized records go into the stream like the kernel's. */
static int synth_emit(const void *p, size_t size, void *ctx)
{
	return stream_put(ctx, p, size);
}

/* ---- events ------------------------------------------------------------------------ */

static void common_attr(const struct pps_record *rec, struct perf_event_attr *a)
{
	unsigned int bytes = rec->opts.mmap_pages * (unsigned int)sysconf(_SC_PAGESIZE);

	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->sample_type =
	    PPS_SYNTH_ID_TYPE | PERF_SAMPLE_IP | PERF_SAMPLE_PERIOD | PERF_SAMPLE_CALLCHAIN;
	a->read_format = PERF_FORMAT_ID;
	a->sample_id_all = 1;
	a->use_clockid = 1;
	a->clockid = CLOCK_MONOTONIC;
	a->disabled = 1;
	a->inherit = !rec->opts.system_wide;
	a->enable_on_exec = rec->opts.argv != NULL;
	a->exclude_guest = 1;
	a->watermark = 1;
	a->wakeup_watermark = bytes / 4 ? bytes / 4 : 1;
}

/* A sampling event's call graph: with DWARF, the user part is unwound from a copy of the
 * registers and the stack, as perf record --call-graph dwarf asks for it. */
static void call_graph_attr(const struct pps_record *rec, struct perf_event_attr *a)
{
	if (!rec->opts.stack_user)
		return;
	a->sample_type |= PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
	a->sample_regs_user = rec->regs_user;
	a->sample_stack_user = rec->opts.stack_user;
	a->exclude_callchain_user = 1;
}

static int add_event(struct pps_record *rec, const struct perf_event_attr *a, const char *name,
		     unsigned int type)
{
	struct rec_event *v = realloc(rec->evs, (rec->nr_evs + 1) * sizeof(*v)), *e;

	if (!v)
		return -ENOMEM;
	rec->evs = v;
	e = &v[rec->nr_evs];
	memset(e, 0, sizeof(*e));
	e->attr = *a;
	e->type = type;
	e->name = strdup(name);
	if (!e->name)
		return -ENOMEM;
	rec->nr_evs++;
	return 0;
}

/* The tracepoints each type needs, and whether all of them are. */
static const struct {
	unsigned int type;
	const char *system, *name;
	bool optional; /* the type works without it */
} type_tps[] = {
    {PPS_RECORD_BLOCK, "sched", "sched_switch", false},
    {PPS_RECORD_MUTEX, "lock", "contention_begin", true},
    {PPS_RECORD_MUTEX, "lock", "contention_end", true},
    {PPS_RECORD_MUTEX, "syscalls", "sys_enter_futex", true},
    {PPS_RECORD_MUTEX, "syscalls", "sys_exit_futex", true},
};

/* "system:name" into a pps_tp_name pointing into buf; false when malformed. */
static bool split_tp(const char *s, char *buf, size_t size, struct pps_tp_name *tp)
{
	char *colon;

	if (snprintf(buf, size, "%s", s) >= (int)size)
		return false;
	colon = strchr(buf, ':');
	if (!colon || colon == buf || !colon[1] || strchr(colon + 1, ':') || strchr(buf, '/'))
		return false;
	*colon = '\0';
	tp->system = buf;
	tp->name = colon + 1;
	return true;
}

/*
 * Decides the tracepoints: those of the types asked for (all the kernel offers when none
 * were) and the extra ones. Fills tps/tp_type, returns their number or -errno (logged).
 */
static int choose_tracepoints(struct pps_record *rec, struct pps_tp_name *tps,
			      unsigned int *tp_type, char (*names)[256])
{
	unsigned int want = rec->opts.types ? rec->opts.types
					    : PPS_RECORD_CPU | PPS_RECORD_BLOCK | PPS_RECORD_MUTEX;
	bool asked = rec->opts.types != 0;
	const char *unusable = pps_tracedata_unusable();
	bool lock, futex;
	int n = 0;

	rec->types = want & PPS_RECORD_CPU;
	if (want & PPS_RECORD_BLOCK) {
		if (pps_tracedata_exists("sched", "sched_switch")) {
			tps[n] = (struct pps_tp_name){"sched", "sched_switch"};
			tp_type[n++] = PPS_RECORD_BLOCK;
			rec->types |= PPS_RECORD_BLOCK;
		} else if (asked) {
			pps_err("block needs the tracepoint sched:sched_switch: %s",
				unusable ? unusable : "this kernel does not have it");
			return unusable ? -EACCES : -ENOENT;
		} else {
			pps_warn("no block profile: no tracepoint sched:sched_switch (%s)",
				 unusable ? unusable : "this kernel does not have it");
		}
	}
	if (want & PPS_RECORD_MUTEX) {
		lock = pps_tracedata_exists("lock", "contention_begin") &&
		       pps_tracedata_exists("lock", "contention_end");
		futex = pps_tracedata_exists("syscalls", "sys_enter_futex") &&
			pps_tracedata_exists("syscalls", "sys_exit_futex");
		if (!lock && !futex && asked) {
			pps_err("mutex needs the tracepoints lock:contention_begin/end or "
				"syscalls:sys_enter_futex/sys_exit_futex: %s",
				unusable ? unusable : "this kernel has none of them");
			return unusable ? -EACCES : -ENOENT;
		}
		if (!lock && !futex)
			pps_warn("no mutex profile: no tracepoints lock:contention_begin/end or "
				 "syscalls:sys_enter_futex/sys_exit_futex (%s)",
				 unusable ? unusable : "this kernel has none of them");
		if (!lock && futex && asked)
			pps_warn("mutex: no lock:contention_begin/end tracepoints (kernels before "
				 "5.19): kernel lock waits are not recorded, futex waits are");
		for (size_t i = 0; i < PPS_ARRAY_SIZE(type_tps); i++) {
			bool is_lock = !strcmp(type_tps[i].system, "lock");

			if (type_tps[i].type != PPS_RECORD_MUTEX || (is_lock ? !lock : !futex))
				continue;
			tps[n] = (struct pps_tp_name){type_tps[i].system, type_tps[i].name};
			tp_type[n++] = PPS_RECORD_MUTEX;
			rec->types |= PPS_RECORD_MUTEX;
		}
	}
	for (size_t i = 0; i < rec->opts.nr_events; i++) {
		bool dup = false;

		if (n == MAX_TRACEPOINTS) {
			pps_err("more than %d tracepoints", MAX_TRACEPOINTS);
			return -EINVAL;
		}
		if (!split_tp(rec->opts.events[i], names[n], sizeof(names[n]), &tps[n])) {
			pps_err("event '%s': expected a tracepoint SYSTEM:NAME "
				"(sched:sched_wakeup)",
				rec->opts.events[i]);
			return -EINVAL;
		}
		for (int j = 0; j < n; j++)
			dup |= !strcmp(tps[j].system, tps[n].system) &&
			       !strcmp(tps[j].name, tps[n].name);
		if (!dup)
			tp_type[n++] = 0;
	}
	return n;
}

/* The events: cpu-clock, the tracepoints (ids from the formats), and the side-band one. */
static int build_events(struct pps_record *rec)
{
	struct pps_tp_name tps[MAX_TRACEPOINTS];
	unsigned int tp_type[MAX_TRACEPOINTS];
	char names[MAX_TRACEPOINTS][256];
	struct pps_tracepoints *tp = NULL;
	struct perf_event_attr a;
	void *blob = NULL;
	int n, err = 0;

	n = choose_tracepoints(rec, tps, tp_type, names);
	if (n < 0)
		return n;
	if (rec->types & PPS_RECORD_CPU) {
		common_attr(rec, &a);
		a.type = PERF_TYPE_SOFTWARE;
		a.config = PERF_COUNT_SW_CPU_CLOCK;
		a.freq = 1;
		a.sample_freq = rec->opts.freq;
		call_graph_attr(rec, &a);
		err = add_event(rec, &a, "cpu-clock", PPS_RECORD_CPU);
	}
	if (!err && n) {
		err = pps_tracedata_build(tps, (size_t)n, &blob, &rec->blob_size);
		rec->blob = blob;
		if (!err) {
			tp = pps_tracepoints_new(rec->blob, rec->blob_size);
			if (!tp) {
				err = -errno;
				pps_err("tracefs: the tracepoint formats do not parse");
			}
		}
	}
	for (int i = 0; i < n && !err; i++) {
		struct pps_tp_event *e = pps_tracepoints_find(tp, tps[i].system, tps[i].name);
		char name[512];

		if (!e) {
			pps_err("tracepoint %s:%s: libtraceevent does not understand its format",
				tps[i].system, tps[i].name);
			err = -ENOENT;
			break;
		}
		common_attr(rec, &a);
		a.type = PERF_TYPE_TRACEPOINT;
		a.config = pps_tp_event_id(e);
		a.sample_period = 1;
		a.sample_type |= PERF_SAMPLE_RAW;
		call_graph_attr(rec, &a);
		snprintf(name, sizeof(name), "%s:%s", tps[i].system, tps[i].name);
		err = add_event(rec, &a, name, tp_type[i]);
	}
	if (!err) {
		/* Side-band: new processes, threads, exec and mmaps of code; and, when the
		 * target is not the whole system, switch records, since sched_switch then shows
		 * only the recorded threads leaving the CPU, never coming back. */
		common_attr(rec, &a);
		a.type = PERF_TYPE_SOFTWARE;
		a.config = PERF_COUNT_SW_DUMMY;
		a.sample_period = 1;
		a.mmap = 1;
		a.mmap2 = 1;
		a.mmap_data = rec->opts.stack_user != 0; /* see struct pps_synth's data */
		a.comm = 1;
		a.comm_exec = 1;
		a.task = 1;
		a.context_switch = !rec->opts.system_wide && (rec->types & PPS_RECORD_BLOCK);
		err = add_event(rec, &a, "dummy:u", 0);
	}
	pps_tracepoints_free(tp);
	return err;
}

static int read_paranoid(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
	int v = 2;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 2;
		fclose(f);
	}
	return v;
}

/* Whether the effective capabilities hold CAP_PERFMON (38) or CAP_SYS_ADMIN (21). */
static bool has_perfmon(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long caps = 0;

	if (!f)
		return geteuid() == 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return caps & (1ULL << 38 | 1ULL << 21);
}

static const char *target_desc(const struct pps_record *rec)
{
	return rec->opts.system_wide ? "system-wide (-a)"
	       : rec->opts.argv	     ? "the command"
				     : "the target pids";
}

/* Says why perf_event_open failed for e and what to do. */
static void open_failed(const struct pps_record *rec, const struct rec_event *e, int err)
{
	int paranoid = read_paranoid();

	switch (-err) {
	case EACCES:
	case EPERM:
		pps_err(
		    "perf_event_open refused for %s, %s: %s. kernel.perf_event_paranoid is %d%s. "
		    "Run as root, give the program CAP_PERFMON (setcap cap_perfmon+ep), or "
		    "lower /proc/sys/kernel/perf_event_paranoid (system-wide needs 0 or less, "
		    "tracepoint samples -1)",
		    e->name, target_desc(rec), strerror(-err), paranoid,
		    has_perfmon() ? "" : " and this process lacks CAP_PERFMON");
		break;
	case ESRCH:
		pps_err("perf_event_open for %s: a target pid vanished before its events were "
			"opened",
			e->name);
		break;
	case EMFILE:
	case ENFILE:
		pps_err("perf_event_open for %s: %s: %zu events x %d CPUs x %d threads need more "
			"file descriptors (ulimit -n)",
			e->name, strerror(-err), rec->nr_evs, perf_cpu_map__nr(rec->cpus),
			perf_thread_map__nr(rec->threads));
		break;
	case ENOENT:
	case ENODEV:
	case EOPNOTSUPP:
		pps_err("perf_event_open for %s: this kernel does not support it (%s)", e->name,
			strerror(-err));
		break;
	default:
		pps_err("perf_event_open for %s, %s: %s", e->name, target_desc(rec),
			strerror(-err));
		break;
	}
}

/* The threads of pid from /proc (-p: every thread, not only the main one). */
static int add_tids(int32_t pid, pid_t **tids, size_t *n)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir) {
		err = errno == ENOENT ? -ESRCH : -errno;
		pps_err("pid %d: %s", (int)pid, err == -ESRCH ? "no such process" : strerror(-err));
		return err;
	}
	while ((d = readdir(dir))) {
		char *end;
		long tid = strtol(d->d_name, &end, 10);
		pid_t *v;

		if (*end || end == d->d_name || tid <= 0)
			continue;
		v = realloc(*tids, (*n + 1) * sizeof(*v));
		if (!v) {
			err = -ENOMEM;
			break;
		}
		*tids = v;
		v[(*n)++] = (pid_t)tid;
	}
	closedir(dir);
	return err;
}

static int build_maps(struct pps_record *rec)
{
	pid_t *tids = NULL;
	size_t n = 0;
	int err = 0;

	rec->cpus = perf_cpu_map__new(NULL);
	if (!rec->cpus)
		return -ENOMEM;
	if (rec->opts.system_wide) {
		rec->threads = perf_thread_map__new_dummy();
	} else if (rec->child) {
		rec->threads = perf_thread_map__new_array(1, &rec->child);
	} else {
		for (size_t i = 0; i < rec->opts.nr_pids && !err; i++)
			err = add_tids(rec->opts.pids[i], &tids, &n);
		if (!err)
			rec->threads = perf_thread_map__new_array((int)n, tids);
	}
	free(tids);
	if (!err && !rec->threads)
		err = -ENOMEM;
	return err;
}

/* Software events fall back to user space only when kernel profiling is refused, as perf
 * record does at perf_event_paranoid 2 for an unprivileged user. */
static bool exclude_kernel_fallback(struct rec_event *e)
{
	struct perf_event_attr *a = perf_evsel__attr(e->evsel);

	if (a->type != PERF_TYPE_SOFTWARE || a->exclude_kernel)
		return false;
	a->exclude_kernel = 1;
	a->exclude_hv = 1;
	a->exclude_callchain_kernel = 1;
	e->attr = *a;
	if (e->type)
		pps_warn("kernel.perf_event_paranoid is %d: %s records user space only (no "
			 "kernel frames)",
			 read_paranoid(), e->name);
	return true;
}

static int open_events(struct pps_record *rec)
{
	int err = 0, ncpus, nthreads;

	rec->evlist = perf_evlist__new();
	if (!rec->evlist)
		return -ENOMEM;
	for (size_t i = 0; i < rec->nr_evs; i++) {
		rec->evs[i].evsel = perf_evsel__new(&rec->evs[i].attr);
		if (!rec->evs[i].evsel)
			return -ENOMEM;
		perf_evlist__add(rec->evlist, rec->evs[i].evsel);
	}
	perf_evlist__set_maps(rec->evlist, rec->cpus, rec->threads);
	ncpus = perf_cpu_map__nr(rec->cpus);
	nthreads = perf_thread_map__nr(rec->threads);
	for (size_t i = 0; i < rec->nr_evs && !err; i++) {
		struct rec_event *e = &rec->evs[i];

		err = perf_evsel__open(e->evsel, rec->cpus, rec->threads);
		if ((err == -EACCES || err == -EPERM) && !rec->opts.system_wide &&
		    exclude_kernel_fallback(e))
			err = perf_evsel__open(e->evsel, rec->cpus, rec->threads);
		if (err) {
			open_failed(rec, e, err);
			break;
		}
		e->ids = calloc((size_t)ncpus * (size_t)nthreads, sizeof(*e->ids));
		if (!e->ids) {
			err = -ENOMEM;
			break;
		}
		for (int c = 0; c < ncpus && !err; c++) {
			for (int t = 0; t < nthreads && !err; t++) {
				struct perf_counts_values v;

				err = perf_evsel__read(e->evsel, c, t, &v);
				e->ids[e->nr_ids++] = v.id;
			}
		}
		if (err)
			pps_err("%s: cannot read the event ids: %s", e->name, strerror(-err));
		/* The ids are known: libperf must not track them again at mmap time, which
		 * 6.1 does in arrays that perf_evsel__delete() never frees. */
		perf_evsel__attr(e->evsel)->read_format &= ~(uint64_t)PERF_FORMAT_ID;
	}
	if (err)
		return err;
	errno = 0;
	if (perf_evlist__mmap(rec->evlist, (int)rec->opts.mmap_pages) < 0) {
		err = errno ? -errno : -ENOMEM;
		pps_err(
		    "cannot map ring buffers of %u pages per CPU: %s%s", rec->opts.mmap_pages,
		    strerror(-err),
		    err == -EPERM || err == -ENOMEM
			? " (over the locked-memory limit: kernel.perf_event_mlock_kb, ulimit -l; "
			  "try fewer --mmap-pages)"
			: "");
		return err;
	}
	rec->mapped = true;
	return 0;
}

/* Forks the command, held before its exec until pps_record_start(). */
static int fork_child(struct pps_record *rec)
{
	int go[2], ep[2];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC))
		return -errno;
	if (pipe2(ep, O_CLOEXEC)) {
		close(go[0]);
		close(go[1]);
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(go[0]);
		close(go[1]);
		close(ep[0]);
		close(ep[1]);
		return err;
	}
	if (pid == 0) {
		char c;
		int e;

		close(go[1]);
		close(ep[0]);
		if (read(go[0], &c, 1) != 1)
			_exit(127); /* the recorder gave up */
		/* The stream on standard output must not get the command's output. */
		if (rec->out_stdout)
			dup2(STDERR_FILENO, STDOUT_FILENO);
		execvp(rec->opts.argv[0], rec->opts.argv);
		e = errno;
		if (write(ep[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(go[0]);
	close(ep[1]);
	rec->child = pid;
	rec->go_fd = go[1];
	rec->err_fd = ep[0];
	return 0;
}

/* ---- life cycle ----------------------------------------------------------------------- */

/* libperf's messages are debug output here: the library never prints. */
static int libperf_print(enum libperf_print_level level, const char *fmt, va_list ap)
{
	char buf[512];

	(void)level;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	pps_debug("libperf: %s", buf);
	return 0;
}

PPS_API struct pps_record *pps_record_new(const struct pps_record_opts *opts)
{
	PPS_READER_OPTS(ropts, .flags = PPS_READER_ORDERED);
	struct pps_record *rec;
	size_t nr_targets;
	uint64_t regs_user;
	bool bad_stack;
	int err = 0;

	if (!opts || opts->sz < sizeof(*opts)) {
		errno = EINVAL;
		return NULL;
	}
	nr_targets = !!opts->system_wide + !!opts->nr_pids + !!opts->argv;
	bad_stack = opts->stack_user % 8 || opts->stack_user > PPS_RECORD_MAX_STACK_USER;
	if (nr_targets != 1 || (opts->argv && !opts->argv[0]) ||
	    (opts->mmap_pages & (opts->mmap_pages - 1)) || bad_stack ||
	    (opts->types & ~(unsigned int)(PPS_RECORD_CPU | PPS_RECORD_BLOCK | PPS_RECORD_MUTEX))) {
		pps_err("record: %s",
			nr_targets != 1 ? "give exactly one target: system-wide, pids or a command"
			: opts->mmap_pages & (opts->mmap_pages - 1)
			    ? "ring buffer pages must be a power of two"
			: bad_stack
			    ? "the user stack copy must be a multiple of 8 bytes up to " PPS_STR(
				  PPS_RECORD_MAX_STACK_USER)
			    : "bad options");
		errno = EINVAL;
		return NULL;
	}
	regs_user = opts->stack_user ? pps_unwind_host_regs() : 0;
	if (opts->stack_user && !regs_user) {
		struct utsname u;

		uname(&u);
		pps_err("record: DWARF call graphs: no register map for %s (x86_64, i386 and "
			"aarch64 have one); record with frame pointers",
			u.machine);
		errno = ENOTSUP;
		return NULL;
	}
	rec = calloc(1, sizeof(*rec));
	if (!rec) {
		errno = ENOMEM;
		return NULL;
	}
	/* Also sets libperf's page size, which its mmap code needs. */
	libperf_init(libperf_print);
	rec->opts = *opts;
	rec->regs_user = regs_user;
	rec->go_fd = rec->err_fd = -1;
	rec->child_status = -1;
	if (!rec->opts.freq)
		rec->opts.freq = PPS_RECORD_DEFAULT_FREQ;
	if (!rec->opts.mmap_pages)
		rec->opts.mmap_pages = PPS_RECORD_DEFAULT_PAGES;
	if (opts->convert) {
		size_t n =
		    opts->convert->sz < sizeof(rec->copts) ? opts->convert->sz : sizeof(rec->copts);

		memcpy(&rec->copts, opts->convert, n);
	} else {
		rec->copts.labels = PPS_LABELS_DEFAULT;
	}
	rec->copts.sz = sizeof(rec->copts);
	rec->copts.pids = rec->copts.tids = NULL;
	rec->copts.nr_pids = rec->copts.nr_tids = 0;
	rec->copts.comm = NULL;
	rec->copts.from_ns = rec->copts.to_ns = 0;
	rec->copts.group_by_pid = false;
	/* The store's buckets (copts.bucket_ns, the store's width) are wall-clock: samples
	 * are placed by the CLOCK_DATA pair, as pprofstore ingest places a perf.data. */
	rec->mono_ns = clock_ns(CLOCK_MONOTONIC);
	rec->tod_ns = clock_ns(CLOCK_REALTIME);
	rec->wall_offset = (int64_t)rec->tod_ns - (int64_t)rec->mono_ns;
	rec->copts.wall_offset_ns = rec->wall_offset;

	if (opts->output) {
		rec->out_stdout = !strcmp(opts->output, "-");
		rec->out = rec->out_stdout ? stdout : fopen(opts->output, "wbe");
		if (!rec->out) {
			err = -errno;
			pps_err("%s: %s", opts->output, strerror(errno));
			goto out_free;
		}
	}
	err = build_events(rec);
	if (err)
		goto out_free;
	rec->copts.want = (rec->types & PPS_RECORD_CPU || opts->nr_events ? PPS_WANT_EVENTS : 0) |
			  (rec->types & PPS_RECORD_BLOCK ? PPS_WANT_BLOCK : 0) |
			  (rec->types & PPS_RECORD_MUTEX ? PPS_WANT_MUTEX : 0);
	if (opts->argv) {
		err = fork_child(rec);
		if (err) {
			pps_err("cannot fork: %s", strerror(-err));
			goto out_free;
		}
	}
	err = build_maps(rec);
	err = err ?: open_events(rec);
	if (err)
		goto out_free;
	/* Per-thread targets end when all their events hang up; a command when it exits. */
	rec->ring = pps_ring_new(rec->evlist, !opts->system_wide && !opts->argv, MAX_QUEUED);
	if (!rec->ring) {
		err = -ENOMEM;
		goto out_free;
	}
	rec->reader = pps_reader_new_fed("live", &ropts);
	rec->conv = pps_convert_new(&rec->copts);
	if (!rec->reader || !rec->conv) {
		err = -errno;
		goto out_free;
	}
	err = put_head(rec);
	if (err)
		goto out_free;
	return rec;

out_free:
	pps_record_free(rec);
	errno = err == -EPROTO ? EINVAL : -err;
	return NULL;
}

/* The command's exec: -errno when it could not run (reaped and logged). */
static int exec_child(struct pps_record *rec)
{
	int e = 0, status;
	ssize_t n;

	if (write(rec->go_fd, "g", 1) != 1) {
		e = errno;
		pps_err("cannot start the command: %s", strerror(e));
		return -e;
	}
	close(rec->go_fd);
	rec->go_fd = -1;
	do
		n = read(rec->err_fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(rec->err_fd);
	rec->err_fd = -1;
	if (n == (ssize_t)sizeof(e)) {
		pps_err("%s: %s", rec->opts.argv[0],
			e == ENOENT ? "command not found" : strerror(e));
		while (waitpid(rec->child, &status, 0) < 0 && errno == EINTR)
			;
		rec->child_status = status;
		rec->gone = true;
		return -e;
	}
	return 0;
}

PPS_API int pps_record_start(struct pps_record *rec)
{
	struct pps_synth s = {.emit = synth_emit, .ctx = rec, .data = rec->opts.stack_user != 0};
	int err = 0;

	/* Synthesized records are timestamped before the events start: the state they
	 * describe precedes every kernel record, which may change it. */
	rec->synth_time = clock_ns(CLOCK_MONOTONIC);
	rec->win_start = rec->released = rec->synth_time + 1;
	s.time = rec->synth_time;
	s.id = rec->evs[rec->nr_evs - 1].ids[0]; /* the side-band event's */
	if (!rec->opts.argv) {
		perf_evlist__enable(rec->evlist);
		rec->enabled = true;
	}
	err = pps_synth_kernel(&s);
	if (!err && rec->opts.system_wide) {
		err = pps_synth_all(&s);
	} else if (!err && rec->opts.nr_pids) {
		for (size_t i = 0; i < rec->opts.nr_pids && !err; i++) {
			err = pps_synth_process(&s, rec->opts.pids[i]);
			if (err == -ESRCH) /* gone already: its records may still be there */
				err = 0;
		}
	}
	if (err) {
		pps_err("synthesizing processes from /proc: %s", strerror(-err));
		return err;
	}
	if (rec->opts.argv) {
		err = exec_child(rec);
		rec->enabled = !err;
	}
	if (!err) {
		err = pps_ring_start(rec->ring);
		if (err)
			pps_err("cannot start the ring buffer thread: %s", strerror(-err));
	}
	return err;
}

/*
 * Feeds the passes to the reader (and a FINISHED_ROUND after each to the -o copy, so that
 * readers of the file order it), lets the reader deliver each pass's records up to the
 * time the pass began, and converts them. Frees the passes.
 */
static int feed_passes(struct pps_record *rec, struct pps_ring_pass *p)
{
	static const struct perf_event_header round = {.type = PERF_RECORD_FINISHED_ROUND,
						       .size = 8};
	int err = 0;

	while (p && !err) {
		struct pps_ring_pass *next = p->next;

		if (p->len) {
			err = stream_put(rec, p->data, p->len);
			out_write(rec, &round, sizeof(round));
		}
		if (!p->partial && p->start > RELEASE_MARGIN_NS &&
		    p->start - RELEASE_MARGIN_NS > rec->released) {
			rec->released = p->start - RELEASE_MARGIN_NS;
			pps_reader_release(rec->reader, rec->released - 1);
		}
		err = err ?: pps_convert_feed(rec->conv, rec->reader);
		p->next = NULL;
		pps_ring_pass_free(p);
		p = next;
	}
	pps_ring_pass_free(p);
	if (rec->out && !rec->out_err && fflush(rec->out)) {
		rec->out_err = -errno;
		pps_err("%s: write error: %s", rec->opts.output, strerror(errno));
	}
	return err;
}

static void check_child(struct pps_record *rec)
{
	int status;
	pid_t p;

	if (rec->child <= 0 || rec->child_status != -1 || rec->go_fd >= 0)
		return;
	p = waitpid(rec->child, &status, WNOHANG);
	if (p == rec->child) {
		rec->child_status = status;
		rec->gone = true;
	}
}

PPS_API int pps_record_poll(struct pps_record *rec, int timeout_ms)
{
	int err;

	if (rec->gone || rec->finished)
		return 0;
	err = feed_passes(rec, pps_ring_take(rec->ring, timeout_ms, false));
	if (err)
		return err;
	check_child(rec);
	if (pps_ring_gone(rec->ring))
		rec->gone = true;
	return rec->gone ? 0 : 1;
}

PPS_API int pps_record_flush(struct pps_record *rec, bool last)
{
	const struct pps_reader_stats *rs;
	uint64_t asked, end, lost, nr_lost;
	char comment[160];
	int err;

	if (rec->finished)
		return -EINVAL;
	if (last) {
		if (rec->enabled) {
			perf_evlist__disable(rec->evlist);
			rec->enabled = false;
		}
		/* Every record is in the buffers now: the last pass takes them all. */
		err = pps_ring_stop(rec->ring);
		if (err)
			return err;
	}
	asked = clock_ns(CLOCK_MONOTONIC);
	err = feed_passes(rec, pps_ring_take(rec->ring, 0, true));
	/* The window ends with that drain, done here. Only when the queue of passes was full
	 * did it read nothing: the next tries have room. With none since the last window
	 * ended, the window goes on. */
	for (int i = 0; !err && !last && rec->released + RELEASE_MARGIN_NS < asked && i < 3; i++)
		err = feed_passes(rec, pps_ring_take(rec->ring, 100, true));
	if (!err && !last && rec->released <= rec->win_start)
		return 0;
	if (!err && last) {
		uint64_t t = clock_ns(CLOCK_MONOTONIC);

		pps_reader_feed_end(rec->reader);
		rec->released = t > rec->released ? t : rec->released;
		err = pps_convert_feed(rec->conv, rec->reader);
	}
	if (err)
		return err;
	end = rec->released > rec->win_start ? rec->released : rec->win_start;
	err = pps_convert_flush(rec->conv, rec->reader, rec->win_start, end, last);
	if (err)
		return err;
	rs = pps_reader_stats(rec->reader);
	lost = rs->lost - rec->lost_seen;
	nr_lost = rs->nr_records[PERF_RECORD_LOST] - rec->lost_records_seen;
	rec->lost_seen = rs->lost;
	rec->lost_records_seen = rs->nr_records[PERF_RECORD_LOST];
	rec->win = (struct pps_record_window){
	    .start_ns = (int64_t)rec->win_start + rec->wall_offset,
	    .end_ns = (int64_t)end + rec->wall_offset,
	    .lost = lost,
	    .nr_lost_records = nr_lost,
	    .nr_samples = pps_convert_stats(rec->conv)->nr_samples - rec->samples_seen,
	};
	rec->samples_seen = pps_convert_stats(rec->conv)->nr_samples;
	snprintf(comment, sizeof(comment),
		 "pprofstore record: %" PRIu64 " records lost in this window (ring buffers full)",
		 lost);
	for (size_t i = 0; i < pps_convert_nr_profiles(rec->conv) && !err; i++)
		err = pps_profile_add_comment(pps_convert_profile(rec->conv, i)->profile, comment);
	rec->win_start = end;
	rec->finished = last;
	return err ? err : 1;
}

PPS_API void pps_record_window(const struct pps_record *rec, struct pps_record_window *w)
{
	*w = rec->win;
}

PPS_API size_t pps_record_nr_profiles(const struct pps_record *rec)
{
	return pps_convert_nr_profiles(rec->conv);
}

PPS_API const struct pps_convert_profile *pps_record_profile(const struct pps_record *rec, size_t i)
{
	return pps_convert_profile(rec->conv, i);
}

PPS_API unsigned int pps_record_types(const struct pps_record *rec)
{
	return rec->types;
}

PPS_API int32_t pps_record_child(const struct pps_record *rec)
{
	return rec->child;
}

PPS_API int pps_record_child_status(const struct pps_record *rec)
{
	return rec->child_status;
}

PPS_API const struct pps_convert_stats *pps_record_convert_stats(const struct pps_record *rec)
{
	return pps_convert_stats(rec->conv);
}

PPS_API const struct pps_reader_stats *pps_record_reader_stats(const struct pps_record *rec)
{
	return pps_reader_stats(rec->reader);
}

/* A command still running: SIGTERM, a second to exit, then SIGKILL. */
static void reap_child(struct pps_record *rec)
{
	int status;

	if (rec->go_fd >= 0) {
		close(rec->go_fd); /* never started: it exits at once */
		rec->go_fd = -1;
	}
	if (rec->err_fd >= 0) {
		close(rec->err_fd);
		rec->err_fd = -1;
	}
	if (rec->child <= 0 || rec->child_status != -1)
		return;
	for (int i = 0; i < 100; i++) {
		pid_t p = waitpid(rec->child, &status, WNOHANG);

		if (p == rec->child || (p < 0 && errno != EINTR)) {
			rec->child_status = p == rec->child ? status : 0;
			return;
		}
		if (i == 0)
			kill(rec->child, SIGTERM);
		usleep(10000);
	}
	kill(rec->child, SIGKILL);
	while (waitpid(rec->child, &status, 0) < 0 && errno == EINTR)
		;
	rec->child_status = status;
}

PPS_API void pps_record_free(struct pps_record *rec)
{
	if (!rec)
		return;
	pps_ring_free(rec->ring); /* the thread stops before the events go */
	if (rec->evlist) {
		if (rec->enabled)
			perf_evlist__disable(rec->evlist);
		if (rec->mapped)
			perf_evlist__munmap(rec->evlist);
		perf_evlist__close(rec->evlist);
		/* Each evsel holds references to the maps; libperf 6.1's perf_evsel__delete()
		 * drops the evsel without them. Propagating no maps drops them here, and is a
		 * no-op for a libperf whose delete drops them itself. */
		perf_evlist__set_maps(rec->evlist, NULL, NULL);
		perf_evlist__delete(rec->evlist); /* deletes the evsels too */
	}
	reap_child(rec);
	perf_cpu_map__put(rec->cpus);
	perf_thread_map__put(rec->threads);
	for (size_t i = 0; i < rec->nr_evs; i++) {
		free(rec->evs[i].name);
		free(rec->evs[i].ids);
	}
	free(rec->evs);
	pps_convert_free(rec->conv);
	pps_reader_free(rec->reader);
	if (rec->out && !rec->out_stdout)
		fclose(rec->out);
	else if (rec->out)
		fflush(rec->out);
	free(rec->blob);
	free(rec);
}
