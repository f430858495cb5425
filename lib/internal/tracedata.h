/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_tracedata: perf's TRACING_DATA blob for tracepoints of the running kernel, made
 * from the live tracefs through libtracefs, so that a live stream carries the formats of
 * its tracepoints as a perf recording does, and the converter reads their fields through
 * the same code (lib/tracepoint.c, libtraceevent).
 */
#ifndef PPS_INTERNAL_TRACEDATA_H
#define PPS_INTERNAL_TRACEDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A tracepoint, as "system:name" splits. */
struct pps_tp_name {
	const char *system;
	const char *name;
};

/*
 * The blob (perf's layout, version 0.6: header_page, header_event, the format file of each
 * tracepoint grouped by system, no kallsyms, no printk formats, no saved cmdlines) for n
 * tracepoints. Returns 0 with *blob (free() it) and *size, or -errno: -ENOENT for a
 * tracepoint tracefs does not have (logged with its path), -EACCES (tracefs not
 * readable, logged), -ENOMEM.
 */
int pps_tracedata_build(const struct pps_tp_name *tps, size_t n, void **blob, size_t *size);

/* Whether the running kernel has the tracepoint (its tracefs format file exists). */
bool pps_tracedata_exists(const char *system, const char *name);

/* Why no tracepoint can be found: NULL when tracefs is mounted and readable, else a
 * sentence for an error message (static). */
const char *pps_tracedata_unusable(void);

#endif /* PPS_INTERNAL_TRACEDATA_H */
