/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_tracepoints: tracepoint formats from a recording's TRACING_DATA (the tracefs format
 * files perf saved, in perf's tracing_data layout), parsed with libtraceevent, and
 * fields read by name from a sample's raw data (PERF_SAMPLE_RAW).
 *
 * Field layouts differ between kernels, so nothing here hard-codes an offset: every
 * reader is resolved from the recorded format once per event, and every read checks the
 * field against the raw size before touching it.
 */
#ifndef PPS_INTERNAL_TRACEPOINT_H
#define PPS_INTERNAL_TRACEPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pps_tracepoints;
struct pps_tp_event; /* one tracepoint's format; owned by its pps_tracepoints */
struct pps_tp_field; /* one field of it; owned likewise */

/*
 * Parses perf's TRACING_DATA blob (file-mode feature or pipe-mode record: magic
 * "\027\010\104tracing", version, endianness, long and page size, header_page,
 * header_event, ftrace and event format files, kallsyms, printk formats, saved cmdlines).
 * Returns NULL with errno: EINVAL/EPROTO for a malformed blob (the log callback says
 * where), ENOMEM. Format files libtraceevent cannot parse are skipped, not fatal.
 */
struct pps_tracepoints *pps_tracepoints_new(const void *blob, size_t size);
/* The running kernel's formats, from tracefs through libtracefs (live capture). */
struct pps_tracepoints *pps_tracepoints_new_local(const char *const *systems);
void pps_tracepoints_free(struct pps_tracepoints *t);

/* The tracepoint with this id (perf_event_attr.config of a PERF_TYPE_TRACEPOINT event),
 * NULL when the recording has no format for it. */
struct pps_tp_event *pps_tracepoints_event(struct pps_tracepoints *t, uint64_t id);
/* By "system:name" (e.g. "sched:sched_switch"), NULL when absent. */
struct pps_tp_event *pps_tracepoints_find(struct pps_tracepoints *t, const char *system,
					  const char *name);
const char *pps_tp_event_system(const struct pps_tp_event *e);
const char *pps_tp_event_name(const struct pps_tp_event *e);
uint64_t pps_tp_event_id(const struct pps_tp_event *e);

/* A field of e by name ("prev_pid"), NULL when the format has none. */
const struct pps_tp_field *pps_tp_field(struct pps_tp_event *e, const char *name);

/*
 * Reads a numeric field (any size up to 8, signed fields sign-extended) from raw data of
 * raw_size bytes. Returns 0, or -EINVAL when the field does not fit in raw_size or is not
 * numeric.
 */
int pps_tp_read_u64(const struct pps_tp_field *f, const void *raw, size_t raw_size,
		    uint64_t *v);
/*
 * Copies a string field (char array like prev_comm, or __data_loc char[]) into buf,
 * NUL-terminated and cut to size. Returns 0 or -EINVAL (out of bounds, not a string).
 */
int pps_tp_read_str(const struct pps_tp_field *f, const void *raw, size_t raw_size, char *buf,
		    size_t size);

/*
 * The letter perf prints for sched_switch's prev_state ('R', 'S', 'D', 'T', 't', 'X', 'Z',
 * 'P', 'I'), decoded from the recorded format's print fmt when it maps the bits (it
 * differs between kernels), else from the kernel's usual TASK_REPORT bit order.
 * *preempted is set for a task switched out while runnable (state R, or R+).
 */
char pps_tp_sched_state(struct pps_tp_event *sched_switch, uint64_t prev_state,
			bool *preempted);

#endif /* PPS_INTERNAL_TRACEPOINT_H */
