/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_perfmap: the symbols a JIT writes to /tmp/perf-PID.map, one "START SIZE name"
 * line (hex, with or without 0x) per piece of generated code.
 */
#ifndef PPS_INTERNAL_PERFMAP_H
#define PPS_INTERNAL_PERFMAP_H

#include <stdint.h>

struct pps_perfmap;

/* 0 and *out (free with pps_perfmap_free()), or -errno (-ENOENT: no such file). */
int pps_perfmap_load(const char *path, struct pps_perfmap **out);
void pps_perfmap_free(struct pps_perfmap *pm);

/*
 * The name of the code range holding addr, NULL when none. When ranges overlap (a JIT
 * reusing memory), the one starting closest below addr wins, and among equal starts
 * the one written last. Valid until pps_perfmap_free().
 */
const char *pps_perfmap_find(const struct pps_perfmap *pm, uint64_t addr);

#endif /* PPS_INTERNAL_PERFMAP_H */
