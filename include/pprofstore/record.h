/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_record: live capture. Opens the events itself with libperf (perf_event_open): cpu-clock
 * samples, sched:sched_switch (block), lock:contention_begin/end and the futex syscalls
 * (mutex), all with callchains, plus side-band records (MMAP2, COMM, FORK, EXIT), and reads
 * their ring buffers. What it reads becomes a pipe-mode perf.data stream (attrs, event
 * names, features, the tracepoints' formats from tracefs, processes synthesized from /proc,
 * then the ring buffers' records) that a fed pps_reader validates, decodes and orders and
 * pps_convert turns into profiles: the code that converts perf.data files, so live and
 * recorded profiles of the same run agree. The stream can also be written to a file,
 * which perf2pprof and perf read.
 *
 * The recording is cut into windows: pps_record_flush() ends the current one and hands
 * out its profiles (cpu, block, mutex, one per extra event), the next starts where it
 * ended. Records are timestamped with CLOCK_MONOTONIC; profiles carry wall-clock times.
 *
 * Not thread-safe: one caller thread. The ring buffers are drained by a thread of the
 * recorder's own (signals blocked in it), so that what the caller's thread does between
 * polls (storing a window, say) never keeps the kernel waiting.
 */
#ifndef PPROFSTORE_RECORD_H
#define PPROFSTORE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pprofstore/convert.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pps_record;

/* Profile types (pprofstore record --types). */
enum pps_record_type {
	PPS_RECORD_CPU = 1 << 0,   /* cpu-clock samples with callchains */
	PPS_RECORD_BLOCK = 1 << 1, /* sched:sched_switch with callchains */
	PPS_RECORD_MUTEX = 1 << 2, /* lock:contention_begin/end, syscalls:sys_*_futex */
};

/* The largest user stack copy perf_event_attr.sample_stack_user allows (a 16-bit size,
 * 8-byte aligned), and perf record's default for --call-graph dwarf. */
#define PPS_RECORD_MAX_STACK_USER     65528
#define PPS_RECORD_DEFAULT_STACK_USER 8192

/* Ring buffer pages per CPU when opts.mmap_pages is 0 (4 MiB with 4 KiB pages). */
#define PPS_RECORD_DEFAULT_PAGES 1024
/* cpu-clock frequency when opts.freq is 0, as perf's default for -F. */
#define PPS_RECORD_DEFAULT_FREQ 99

struct pps_record_opts {
	size_t sz; /* sizeof(struct pps_record_opts) */
	/* enum pps_record_type bits; 0: all that the kernel offers. A type asked for whose
	 * tracepoints are all missing is an error; mutex without lock:contention_* (kernels
	 * before 5.19) records the futex waits only, with a warning. */
	unsigned int types;
	/* More tracepoints, "system:name", each its own profile (named after it). */
	const char *const *events;
	size_t nr_events;
	/* The target: exactly one of system_wide, pids (every thread of each, and the threads
	 * they create later), argv (a command, run and recorded until it exits). */
	bool system_wide;
	const int32_t *pids;
	size_t nr_pids;
	char *const *argv; /* NULL-terminated; argv[0] is looked up in PATH */
	unsigned int freq; /* cpu-clock samples per second and CPU; 0: 99 */
	/* Call graphs (perf record --call-graph): 0, frame pointers; else DWARF: this many
	 * bytes of user stack, a multiple of 8 up to PPS_RECORD_MAX_STACK_USER, are copied
	 * with the user registers into every sample and the user frames unwound from them
	 * (the kernel's frames still come from its callchain). */
	unsigned int stack_user;
	/* Ring buffer pages per CPU, a power of two; 0: PPS_RECORD_DEFAULT_PAGES. */
	unsigned int mmap_pages;
	/* Also write the stream (pipe-mode perf.data) to this file; "-" is standard output;
	 * NULL: none. */
	const char *output;
	/* The command line recorded in the stream's CMDLINE feature (NULL: none). */
	const char *const *cmdline;
	size_t nr_cmdline;
	/* Conversion: labels, symbolization, bucket_ns (the store's bucket width, for the
	 * pps::bucket labels). want is set from the types, wall_offset_ns from the clocks;
	 * filters and the from/to window do not apply. NULL: defaults. */
	const struct pps_convert_opts *convert;
};

#define PPS_RECORD_OPTS(name, ...)                                                                 \
	struct pps_record_opts name = {.sz = sizeof(struct pps_record_opts), __VA_ARGS__}

/*
 * Opens and maps the events (disabled) and prepares the stream; a command is forked and
 * held before its exec. Returns NULL with errno, every failure logged with what to do:
 * EACCES/EPERM (perf_event_open refused: perf_event_paranoid, CAP_PERFMON), ENOENT (a
 * tracepoint that does not exist, or a command not found), ESRCH (a target pid that does
 * not exist or vanished), EINVAL (bad options), EMFILE, ENOMEM, or perf_event_open's own.
 * Free with pps_record_free().
 */
struct pps_record *pps_record_new(const struct pps_record_opts *opts);

/*
 * Enables the events, synthesizes what exists already (the kernel's maps, and the target
 * processes' threads and maps from /proc), and execs the command. The first window
 * starts now. Returns 0 or -errno (a command that cannot be executed: -ENOENT, -EACCES,
 * logged).
 */
int pps_record_start(struct pps_record *rec);

/*
 * Waits up to timeout_ms for what the drainer thread read from the ring buffers (it hands
 * over a second's drains at a time, sooner when they pile up), and converts it. A signal
 * handled on the calling thread ends the wait early (the drainer blocks every signal);
 * check your signal flags between calls. Returns 1 while the target lives,
 * 0 once it is gone (the command exited, every target thread exited: flush the last
 * window then), or -errno (-ENOMEM, a fatal reader error).
 */
int pps_record_poll(struct pps_record *rec, int timeout_ms);

/*
 * Ends the current window now: drains the ring buffers on the caller's thread, converts
 * every record read so far, and finishes the window's profiles, which
 * pps_record_nr_profiles() and pps_record_profile() give until the next poll or flush.
 * The window ends where that drain began. Each profile carries a comment with the
 * window's lost records. With last, the events are disabled first, every record left is read, and
 * threads still waiting count up to now (pps_convert_flush()); nothing may follow but
 * pps_record_free(). Returns 1 (a window ended), 0 (nothing was read since the last
 * window ended: it goes on; only without last) or -errno.
 */
int pps_record_flush(struct pps_record *rec, bool last);

/* The window pps_record_flush() ended. */
struct pps_record_window {
	int64_t start_ns, end_ns; /* wall-clock ns, UTC: [start, end) */
	/* Records the kernel could not write to a full ring buffer in this window (the sum of
	 * PERF_RECORD_LOST counts), and the PERF_RECORD_LOST records saying so. */
	uint64_t lost;
	uint64_t nr_lost_records;
	uint64_t nr_samples; /* perf samples converted in the window */
};
void pps_record_window(const struct pps_record *rec, struct pps_record_window *w);
size_t pps_record_nr_profiles(const struct pps_record *rec);
/* Profile i of the window; owned by the recorder (its converter). */
const struct pps_convert_profile *pps_record_profile(const struct pps_record *rec, size_t i);

/* What the recording holds (enum pps_record_type bits). */
unsigned int pps_record_types(const struct pps_record *rec);
/* The command's pid (0: none), and its wait status once it exited (-1 before). */
int32_t pps_record_child(const struct pps_record *rec);
int pps_record_child_status(const struct pps_record *rec);
/* Whole-recording counts, for the summary line. */
const struct pps_convert_stats *pps_record_convert_stats(const struct pps_record *rec);
const struct pps_reader_stats *pps_record_reader_stats(const struct pps_record *rec);

/* Disables and closes the events. A command still running is killed (SIGKILL) and
 * reaped. Accepts NULL. */
void pps_record_free(struct pps_record *rec);

#ifdef __cplusplus
}
#endif
#endif /* PPROFSTORE_RECORD_H */
