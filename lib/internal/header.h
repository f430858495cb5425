/* SPDX-License-Identifier: BSD-2-Clause */
/* The recording's environment: what the header's feature sections say. */
#ifndef PPS_INTERNAL_HEADER_H
#define PPS_INTERNAL_HEADER_H

#include <pprofstore/reader.h>

#include "internal/evsel.h"

/* Caps on what one feature section may make us allocate. */
#define PPS_MAX_FEATURE_SIZE	(256u << 20)
#define PPS_MAX_TRACING_DATA	(256u << 20)

struct pps_env {
	uint64_t feat_bits[PPS_FEAT_MAX / 64];
	char *hostname, *os_release, *version, *arch, *cpu_desc, *cpuid, *cmdline;
	uint32_t nr_cpus_online, nr_cpus_avail;
	uint64_t total_mem_kb;
	bool has_sample_time;
	uint64_t first_sample_time, last_sample_time;
	struct pps_clock_data clock;
	uint64_t dir_version; /* DIR_FORMAT: how the data.N files of a directory are laid out */
	void *tracing_data;
	size_t tracing_size;
	struct pps_build_id *build_ids;
	size_t nr_build_ids;
	struct pps_group_desc *groups;
	size_t nr_groups;
};

void pps_env_release(struct pps_env *env);

/*
 * Parses one feature section (file mode) or HEADER_FEATURE payload (pipe mode) into env
 * and names events from EVENT_DESC. A malformed section returns -EPROTO and leaves env
 * as it was for that feature; the caller reports it and goes on.
 */
int pps_env_parse_feature(struct pps_env *env, struct pps_evlist *el, int feat,
			  const void *data, size_t size);

/* Adds one build_id_event (header feature or HEADER_BUILD_ID record). */
int pps_env_add_build_id(struct pps_env *env, const void *rec, size_t size);

/* Stores a copy of the tracing data blob. */
int pps_env_set_tracing_data(struct pps_env *env, const void *data, size_t size);

#endif /* PPS_INTERNAL_HEADER_H */
