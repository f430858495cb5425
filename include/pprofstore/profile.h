/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_profile: builds a pprof profile (profile.proto) in memory and writes it gzipped,
 * as `go tool pprof` expects.
 *
 * Strings, mappings, functions and locations are deduplicated as they are added, and
 * samples with the same stack and labels are aggregated (values summed), so memory grows
 * with the number of distinct stacks, not with the number of samples added.
 *
 * Ids returned by the add functions are the proto's 1-based ids; 0 means failure (errno
 * set: ENOMEM, EINVAL).
 */
#ifndef PPROFSTORE_PROFILE_H
#define PPROFSTORE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pps_profile;

/* A Mapping (profile.proto message Mapping). Strings are copied. */
struct pps_mapping_info {
	uint64_t start;	     /* memory_start */
	uint64_t limit;	     /* memory_limit */
	uint64_t offset;     /* file_offset */
	const char *file;    /* filename, may be NULL */
	const char *build_id; /* hex, may be NULL */
	bool has_functions;
	bool has_filenames;
	bool has_line_numbers;
	bool has_inline_frames;
};

/* One Line of a Location: function id from pps_profile_add_function(), and the line. */
struct pps_line {
	uint64_t function_id;
	int64_t line;
	int64_t column;
};

/* A sample label: str (when non-NULL) or num with an optional unit. Strings copied.
 * A string label ignores num and num_unit. */
struct pps_label {
	const char *key;
	const char *str;
	int64_t num;
	const char *num_unit; /* may be NULL */
};

/* Returns a new empty profile, NULL on ENOMEM. Free with pps_profile_free(). */
struct pps_profile *pps_profile_new(void);
/* Accepts NULL. */
void pps_profile_free(struct pps_profile *p);

/* Appends a sample type ("samples", "count"); the order is the order of sample values.
 * Returns 0 or -errno. All sample types must be added before the first sample (-EINVAL
 * after it). In these setters a NULL type is -EINVAL, a NULL unit is "". */
int pps_profile_add_sample_type(struct pps_profile *p, const char *type, const char *unit);
/* period_type and period. */
int pps_profile_set_period(struct pps_profile *p, const char *type, const char *unit,
			   int64_t period);
/* The sample type pprof shows by default (default_sample_type). */
int pps_profile_set_default_sample_type(struct pps_profile *p, const char *type);
void pps_profile_set_time(struct pps_profile *p, int64_t time_nanos, int64_t duration_nanos);
int pps_profile_add_comment(struct pps_profile *p, const char *comment);

/* Deduplicated on start, limit, offset, file and build-id, a missing build-id matching any
 * (a NULL string is ""): a repeat or-s its has_* flags into the first one's and fills a
 * missing build-id. */
uint64_t pps_profile_add_mapping(struct pps_profile *p, const struct pps_mapping_info *m);
/*
 * Sets a mapping's build-id (when build_id is non-empty) and its has_* flags, which a
 * converter knows only once symbolization is done. Returns 0 or -EINVAL (unknown id).
 */
int pps_profile_update_mapping(struct pps_profile *p, uint64_t mapping_id, const char *build_id,
			       bool has_functions, bool has_filenames, bool has_line_numbers,
			       bool has_inline_frames);
/* Deduplicated on (name, system_name, filename, start_line). NULL strings are "". */
uint64_t pps_profile_add_function(struct pps_profile *p, const char *name,
				  const char *system_name, const char *filename,
				  int64_t start_line);
/*
 * Deduplicated on (mapping_id, address) when address is non-zero, else on the lines
 * (with mapping_id, like pprof's own location key).
 * lines: innermost (inlined) first, as pprof expects; nr_lines may be 0 (unsymbolized).
 * mapping_id may be 0 (no mapping). EINVAL: an unknown mapping id or function id.
 */
uint64_t pps_profile_add_location(struct pps_profile *p, uint64_t mapping_id, uint64_t address,
				  const struct pps_line *lines, size_t nr_lines);
/*
 * Gives lines to a location added with an address and no lines, so a converter can
 * build stacks first and symbolize each distinct location once at the end. Returns 0,
 * -EINVAL (unknown id, a location that has lines or no address) or -ENOMEM.
 */
int pps_profile_set_location_lines(struct pps_profile *p, uint64_t location_id,
				   const struct pps_line *lines, size_t nr_lines);
/*
 * Adds values (one per sample type) to the sample with this stack (location ids, leaf
 * first) and these labels, creating it on first use. Label order does not matter.
 * Returns 0 or -errno: -EINVAL for no sample types yet, an unknown location id or a label
 * without key. Sums wrap around on int64 overflow.
 */
int pps_profile_add_sample(struct pps_profile *p, const uint64_t *location_ids, size_t nr_locs,
			   const int64_t *values, const struct pps_label *labels, size_t nr_labels);

/*
 * pps_profile_add_sample(), and *ref gets the sample's handle (its index + 1), so that a
 * caller that knows a later sample is the same (same stack and labels) can add to it
 * with pps_profile_add_values() without the lookup.
 */
int pps_profile_add_sample_ref(struct pps_profile *p, const uint64_t *location_ids,
			       size_t nr_locs, const int64_t *values,
			       const struct pps_label *labels, size_t nr_labels, size_t *ref);
/* Adds values to the sample ref names. Returns 0 or -EINVAL (no such sample). */
int pps_profile_add_values(struct pps_profile *p, size_t ref, const int64_t *values);
/* Sample i (0-based, below pps_profile_nr_samples()): its stack and values, valid until the
 * next add. Returns 0 or -EINVAL. */
int pps_profile_get_sample(const struct pps_profile *p, size_t i, const uint64_t **location_ids,
			   size_t *nr_locs, const int64_t **values);

/*
 * Read access to a built profile, for the store. Every string returned points into p and
 * stays valid until p is freed (the string table only grows); "" stands for unset.
 * Ids are 1-based, as the add functions return them. Each getter returns 0, or -EINVAL
 * for an unknown index or id.
 */
/* The labels of sample i: call with j from 0 to *nr - 1 (get *nr with out == NULL). */
int pps_profile_get_sample_labels(const struct pps_profile *p, size_t i, size_t j, size_t *nr,
				  struct pps_label *out);
/* The number of sample types, and sample type i (0-based). */
size_t pps_profile_nr_sample_types(const struct pps_profile *p);
int pps_profile_get_sample_type(const struct pps_profile *p, size_t i, const char **type,
				const char **unit);
/* period_type (both "" when unset), period, and the default sample type ("" unset). */
void pps_profile_get_period(const struct pps_profile *p, const char **type, const char **unit,
			    int64_t *period, const char **default_sample_type);
void pps_profile_get_time(const struct pps_profile *p, int64_t *time_nanos,
			  int64_t *duration_nanos);
/* The number of comments, and comment i (0-based; NULL when out of range). */
size_t pps_profile_nr_comments(const struct pps_profile *p);
const char *pps_profile_get_comment(const struct pps_profile *p, size_t i);
/* Mapping id; file and build_id are never NULL. */
int pps_profile_get_mapping(const struct pps_profile *p, uint64_t id,
			    struct pps_mapping_info *out);
/* Function id; strings are never NULL. */
int pps_profile_get_function(const struct pps_profile *p, uint64_t id, const char **name,
			     const char **system_name, const char **filename,
			     int64_t *start_line);
/* Location id: mapping id (0: none), address, and lines (innermost first; valid until the
 * next add). */
int pps_profile_get_location(const struct pps_profile *p, uint64_t id, uint64_t *mapping_id,
			     uint64_t *address, const struct pps_line **lines, size_t *nr_lines);

/* Counts, for tests and diagnostics. */
size_t pps_profile_nr_samples(const struct pps_profile *p);
size_t pps_profile_nr_locations(const struct pps_profile *p);
size_t pps_profile_nr_functions(const struct pps_profile *p);
size_t pps_profile_nr_mappings(const struct pps_profile *p);

/*
 * Parses a pprof profile (profile.proto, gzipped or not: Go's runtime/pprof and
 * net/http/pprof output, ours) from data[0..size) into a new profile (free with
 * pps_profile_free()). Ids are renumbered and equal mappings, functions and locations
 * shared (a location is known by its mapping and address when it has one); samples with
 * the same stack and labels are summed. drop_frames, keep_frames, doc_url and
 * Location.is_folded are not kept. NULL with errno: EPROTO (not a profile, or one whose
 * indices or ids do not hold together; logged with what), EFBIG (over 1 GiB once
 * decompressed), ENOMEM.
 */
struct pps_profile *pps_profile_read(const void *data, size_t size);

/* One row of a flat/cum table by function (pps_profile_top()). */
struct pps_top_row {
	const char *name; /* the function; with object, the mapping's file; NULL: unknown */
	bool object;	  /* a frame without a function, named by its object file */
	int64_t flat;	  /* value of the samples whose leaf frame this is */
	int64_t cum;	  /* value of the samples with this frame anywhere, once each */
	bool inlined;	  /* an edge in from its caller's Line in the same location */
	bool called;	  /* an edge in from another location (pprof prints "(inline)" when
			     only inlined, "(partial-inline)" when both) */
};

/* A flat/cum table (pps_profile_top()). */
struct pps_top {
	struct pps_top_row *rows; /* the rows shown, in pprof's order */
	size_t nr;
	size_t nr_dropped; /* rows left out by nodefraction */
	size_t nr_beyond;  /* rows left out by nodecount */
	int64_t total;	   /* sum of |value| over all samples: pprof's 100% */
};

/*
 * The flat/cum table of sample type index as pprof -top computes it at function
 * granularity, into *out (release with pps_top_release()): a node per function name
 * (inlined frames included; a frame without a function is its object file); rows whose
 * |cum| is below nodefraction of the total left out, then all but the first nodecount
 * (0: no limit); rows in pprof's order (|flat| descending, then the printed name, then
 * |cum| descending); the (inline) marks from the edges left after edgefraction. pprof's
 * defaults are 0.005 and 0.001. Names point into p. Returns 0, -EINVAL (no such sample
 * type) or -ENOMEM.
 */
int pps_profile_top(const struct pps_profile *p, size_t index, double nodefraction,
		    double edgefraction, size_t nodecount, struct pps_top *out);
/* Frees the rows; accepts a zeroed or released table. */
void pps_top_release(struct pps_top *top);
/* A row's name as pprof prints it: the function, "[base name of the object]", or
 * "<unknown>"; in buf when it has to be built. */
const char *pps_top_row_name(const struct pps_top_row *r, char *buf, size_t size);

/* Serializes and gzips the profile to f. Returns 0 or -errno (-EIO on a write error).
 * p is left as it was (it can be written again); f is flushed, not closed. */
int pps_profile_write(struct pps_profile *p, FILE *f);

#ifdef __cplusplus
}
#endif
#endif /* PPROFSTORE_PROFILE_H */
