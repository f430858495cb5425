/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_synth: side-band records for what existed before live capture started, read from
 * /proc as perf's synthetic-events.c does: the kernel image and modules (MMAP, pid -1),
 * and for each process a COMM per thread and an MMAP2 per executable mapping. Records the
 * kernel sends later (MMAP2, COMM, FORK, EXIT) carry the story on from there.
 *
 * Every record ends with a sample_id_all trailer of the layout PPS_SYNTH_ID_TYPE: the
 * recorder's events all use exactly these sample_id bits, so the reader decodes and
 * attributes the synthesized records like the kernel's.
 */
#ifndef PPS_INTERNAL_SYNTH_H
#define PPS_INTERNAL_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/perf_event.h>

/* The trailer: pid/tid, time, cpu, identifier (perf_event_attr.sample_type bits). */
#define PPS_SYNTH_ID_TYPE                                                                          \
	(PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_IDENTIFIER)

struct pps_synth {
	/* Called once per record (8-byte aligned, header.size bytes); a non-zero return
	 * stops the synthesis and is returned. */
	int (*emit)(const void *rec, size_t size, void *ctx);
	void *ctx;
	uint64_t id;	  /* trailer identifier: the event the records belong to */
	uint64_t time;	  /* trailer time, in the events' clock */
	const char *proc; /* procfs mount, NULL: "/proc" */
	/* Also the readable mappings that are not executable, misc PERF_RECORD_MISC_MMAP_DATA,
	 * as perf record does for DWARF call graphs (perf_event_attr.mmap_data): perf's
	 * unwinders read .eh_frame_hdr through the maps, and it is often in a read-only
	 * segment of its own. */
	bool data;
};

/*
 * The kernel image map ("[kernel.kallsyms]_text" from _text to _etext, pgoff _text, as
 * perf writes it) and one map per module ("[name]") from /proc/kallsyms and
 * /proc/modules. Returns 0 (also when kptr_restrict hides the addresses: logged, no map),
 * emit's value, or -errno.
 */
int pps_synth_kernel(const struct pps_synth *s);

/*
 * Process pid: a COMM for each of its threads, then an MMAP2 for each executable mapping
 * (anonymous ones as "//anon"; with data, each readable one). Returns 0, -ESRCH when the
 * process is gone (threads that exit meanwhile are skipped), emit's value, or -errno.
 */
int pps_synth_process(const struct pps_synth *s, int32_t pid);

/* Every process in /proc. Processes that exit meanwhile are skipped. */
int pps_synth_all(const struct pps_synth *s);

#endif /* PPS_INTERNAL_SYNTH_H */
