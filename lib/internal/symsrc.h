/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the symbol sources (dso.c, kallsyms.c, perfmap.c) share with symbolizer.c: the
 * frame list a lookup fills in. Strings pushed are copied into the symbolizer's pool, so
 * sources may pass pointers into their own temporary buffers.
 */
#ifndef PPS_INTERNAL_SYMSRC_H
#define PPS_INTERNAL_SYMSRC_H

#include "internal/strpool.h"
#include "internal/symbolizer.h"

/* Deeper inline chains are cut at the outermost frames (perf has no limit; none seen > 20). */
#define PPS_MAX_FRAMES 64

struct pps_frames {
	struct pps_strpool *pool;		/* where strings are interned */
	struct pps_sym_frame f[PPS_MAX_FRAMES]; /* innermost first; strings in pool */
	size_t nr;
};

/*
 * Appends a frame. raw_name is the symbol as in the binary; it is demangled for name.
 * file may be NULL (unknown). Returns 0, or -ENOMEM. A frame past PPS_MAX_FRAMES is
 * dropped (returns 0).
 */
int pps_frames_push(struct pps_frames *fr, const char *raw_name, const char *file, int64_t line,
		    int64_t start_line);

/* Lowercase hex of id[0..size) into the pool; NULL on ENOMEM. */
const char *pps_build_id_hex(struct pps_strpool *pool, const uint8_t *id, size_t size);

/* true when a file's build-id (file_id) is the recorded one; perf pads ids with zeros. */
bool pps_build_id_equal(const uint8_t *rec, size_t rec_size, const uint8_t *file_id,
			size_t file_size);

#endif /* PPS_INTERNAL_SYMSRC_H */
