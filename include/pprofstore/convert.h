/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_convert: perf.data samples to pprof profiles, one per event (and per process with
 * group_by_pid), symbolized. Tracepoint waits make two more: "block" (off-CPU time from
 * sched:sched_switch) and "mutex" (lock:contention_begin/end and futex wait syscalls),
 * shaped like Go's block and mutex profiles.
 *
 * The converter reads the whole recording from a reader opened with PPS_READER_ORDERED,
 * rebuilding processes and maps from the side-band records as it goes. Stacks are
 * aggregated as they arrive (memory grows with distinct stacks, not with samples); each
 * distinct location is symbolized once, at the end.
 */
#ifndef PPROFSTORE_CONVERT_H
#define PPROFSTORE_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pprofstore/profile.h>
#include <pprofstore/reader.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pps_convert;

enum pps_label_flags {
	PPS_LABEL_PID = 1 << 0,	 /* numeric label "pid" */
	PPS_LABEL_TID = 1 << 1,	 /* numeric label "tid" */
	PPS_LABEL_COMM = 1 << 2, /* string label "comm": the thread's name at the sample */
	PPS_LABEL_CPU = 1 << 3,	 /* numeric label "cpu" */
};
#define PPS_LABELS_DEFAULT (PPS_LABEL_PID | PPS_LABEL_TID | PPS_LABEL_COMM)

enum pps_convert_want {
	PPS_WANT_EVENTS = 1 << 0, /* cpu and per-event profiles */
	PPS_WANT_BLOCK = 1 << 1,
	PPS_WANT_MUTEX = 1 << 2,
};

struct pps_convert_opts {
	size_t sz;	     /* sizeof(struct pps_convert_opts) */
	unsigned int labels; /* enum pps_label_flags */
	bool group_by_pid;   /* one profile per (event, process) */

	/* Filters; a sample must pass all that are set. */
	const int32_t *pids;
	size_t nr_pids;
	const int32_t *tids;
	size_t nr_tids;
	const char *comm; /* thread name at the sample, exact */
	/* Offsets from the first sample, in ns: [from_ns, to_ns); to_ns 0 means the end. */
	uint64_t from_ns, to_ns;

	/* Symbolization. */
	bool no_symbolize; /* addresses, mappings and build-ids only */
	bool no_inline;
	bool debuginfod;	 /* use libdebuginfod (DEBUGINFOD_URLS) */
	const char *symfs;	 /* perf's --symfs */
	const char *kallsyms;	 /* kernel symbols instead of /proc/kallsyms */
	const char *vmlinux;	 /* kernel image with symbols */
	const char *buildid_dir; /* perf's build-id cache, NULL: ~/.debug */
	/* block profile: also count switch-outs of runnable threads (preemption: run-queue
	 * delay, not blocking), labelled state=R. */
	bool include_preempted;
	/* Which profiles to build (enum pps_convert_want); 0 means all. Leaving some out
	 * skips their samples early: --type mutex does not resolve cpu stacks. */
	unsigned int want;
	/* Wall-clock ns of the end of the recording (file mtime, or now for stdin), used for
	 * time_nanos when the recording has no CLOCK_DATA; 0: none. */
	int64_t end_wall_ns;
	/* Per-sample time buckets, for the store (perf2pprof leaves them 0). With bucket_ns >
	 * 0 every sample carries the numeric label PPS_BUCKET_LABEL: the wall-clock start (ns,
	 * UTC, a multiple of bucket_ns) of the bucket holding its time, where wall time =
	 * perf time + wall_offset_ns. A block or mutex wait goes in the bucket of its end, the
	 * moment it is known whole (as Go's runtime records it), so a recording cut into
	 * windows never has to revisit an earlier one. time_nanos is then the first sample's
	 * wall time by the same offset. */
	int64_t bucket_ns;
	int64_t wall_offset_ns;
};

/* The reserved sample label of bucket_ns above; the store takes it off. */
#define PPS_BUCKET_LABEL "pps::bucket"

#define PPS_CONVERT_OPTS(name, ...)                                                                \
	struct pps_convert_opts name = {.sz = sizeof(struct pps_convert_opts),                      \
					.labels = PPS_LABELS_DEFAULT, __VA_ARGS__}

/* One finished profile. */
struct pps_convert_profile {
	const char *type;  /* "cpu" (cpu-clock/task-clock), "block", "mutex", else the event
			      name */
	const char *event; /* the event name */
	int32_t pid;	   /* with group_by_pid, else -1 */
	uint64_t nr_samples; /* perf samples that went in */
	struct pps_profile *profile; /* owned by the converter */
};

/* Frame counts over all profiles, for the summary line. */
struct pps_convert_stats {
	uint64_t nr_samples;	       /* samples read */
	uint64_t nr_filtered;	       /* samples dropped by the filters */
	uint64_t nr_locations;	       /* distinct locations symbolized */
	uint64_t nr_unresolved;	       /* ... that stayed without a function */
	uint64_t nr_frames;	       /* frames in samples */
	uint64_t nr_unresolved_frames; /* ... of unresolved locations */
	uint64_t nr_unmapped_frames;   /* ... in no known map */
	uint64_t read_ns;	       /* wall time reading and aggregating samples */
	uint64_t symbolize_ns;	       /* wall time symbolizing and finishing profiles */
	uint64_t nr_dwarf_samples;     /* samples whose user stack was unwound (DWARF) */
	uint64_t nr_dwarf_truncated;   /* ... and cut short */
};

/* NULL with errno (ENOMEM). opts may be NULL (defaults). */
struct pps_convert *pps_convert_new(const struct pps_convert_opts *opts);
void pps_convert_free(struct pps_convert *c);

/*
 * Reads every record of r (opened with PPS_READER_ORDERED), then symbolizes and finishes
 * the profiles. Returns 0, or -errno: -ENOMEM, or the reader's fatal error. Damage the
 * reader skipped over is in pps_reader_stats(r), not an error here.
 */
int pps_convert_run(struct pps_convert *c, struct pps_reader *r);

/*
 * Live capture: converts the records a fed reader (pps_reader_new_fed()) can hand out
 * now, without finishing anything. Returns 0 (the reader wants more bytes, or the stream
 * ended), or -errno as pps_convert_run(). Profiles handed out by the last
 * pps_convert_flush() are replaced by new empty ones first.
 */
int pps_convert_feed(struct pps_convert *c, struct pps_reader *r);

/*
 * Live capture: ends a window [start, end) (times in the records' clock; every record
 * before end must have been fed, released and converted). Symbolizes and finishes its
 * profiles, which pps_convert_nr_profiles() and pps_convert_profile() then give (each
 * with time_nanos at start in wall-clock time from the stream's CLOCK_DATA, duration
 * end - start) until the next pps_convert_feed() or pps_convert_flush(), which start the
 * next window with new profiles. Processes, maps and symbols carry over; so do pending
 * waits: a thread off-CPU or in a futex wait across the boundary counts its delay up to
 * end in this window and the rest in the next ones, its contention (count 1) in the
 * window where the wait ends. With last, pending off-CPU and futex waits end at end
 * instead, as at the end of pps_convert_run(). Returns 0, -EINVAL (end before start) or
 * -ENOMEM; after an error the converter can only be freed.
 */
int pps_convert_flush(struct pps_convert *c, struct pps_reader *r, uint64_t start, uint64_t end,
		      bool last);

size_t pps_convert_nr_profiles(const struct pps_convert *c);
const struct pps_convert_profile *pps_convert_profile(const struct pps_convert *c, size_t i);
const struct pps_convert_stats *pps_convert_stats(const struct pps_convert *c);

/* Calls fn for each binary symbolization looked at, with its path, build-id (hex or
 * NULL), frames resolved or not, and a reason ("" when resolved): --verbose output. */
void pps_convert_for_each_binary(const struct pps_convert *c,
				 void (*fn)(const char *path, const char *why, void *ctx),
				 void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* PPROFSTORE_CONVERT_H */
