/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Feature sections of perf.data (perf's util/header.c, Documentation/perf.data-file-format.txt).
 * Sections we do not use are skipped by size, never guessed at. A malformed section costs
 * only that feature: the rest of the recording stays readable.
 */
#include <stdlib.h>

#include "internal/header.h"
#include "internal/util.h"

static const char *const feat_names[] = {
	[PPS_FEAT_TRACING_DATA] = "TRACING_DATA",
	[PPS_FEAT_BUILD_ID] = "BUILD_ID",
	[PPS_FEAT_HOSTNAME] = "HOSTNAME",
	[PPS_FEAT_OSRELEASE] = "OSRELEASE",
	[PPS_FEAT_VERSION] = "VERSION",
	[PPS_FEAT_ARCH] = "ARCH",
	[PPS_FEAT_NRCPUS] = "NRCPUS",
	[PPS_FEAT_CPUDESC] = "CPUDESC",
	[PPS_FEAT_CPUID] = "CPUID",
	[PPS_FEAT_TOTAL_MEM] = "TOTAL_MEM",
	[PPS_FEAT_CMDLINE] = "CMDLINE",
	[PPS_FEAT_EVENT_DESC] = "EVENT_DESC",
	[PPS_FEAT_CPU_TOPOLOGY] = "CPU_TOPOLOGY",
	[PPS_FEAT_NUMA_TOPOLOGY] = "NUMA_TOPOLOGY",
	[PPS_FEAT_BRANCH_STACK] = "BRANCH_STACK",
	[PPS_FEAT_PMU_MAPPINGS] = "PMU_MAPPINGS",
	[PPS_FEAT_GROUP_DESC] = "GROUP_DESC",
	[PPS_FEAT_AUXTRACE] = "AUXTRACE",
	[PPS_FEAT_STAT] = "STAT",
	[PPS_FEAT_CACHE] = "CACHE",
	[PPS_FEAT_SAMPLE_TIME] = "SAMPLE_TIME",
	[PPS_FEAT_MEM_TOPOLOGY] = "MEM_TOPOLOGY",
	[PPS_FEAT_CLOCKID] = "CLOCKID",
	[PPS_FEAT_DIR_FORMAT] = "DIR_FORMAT",
	[PPS_FEAT_BPF_PROG_INFO] = "BPF_PROG_INFO",
	[PPS_FEAT_BPF_BTF] = "BPF_BTF",
	[PPS_FEAT_COMPRESSED] = "COMPRESSED",
	[PPS_FEAT_CPU_PMU_CAPS] = "CPU_PMU_CAPS",
	[PPS_FEAT_CLOCK_DATA] = "CLOCK_DATA",
	[PPS_FEAT_HYBRID_TOPOLOGY] = "HYBRID_TOPOLOGY",
	[PPS_FEAT_PMU_CAPS] = "PMU_CAPS",
};

PPS_API const char *pps_feature_name(int feat)
{
	if (feat < 0 || (size_t)feat >= PPS_ARRAY_SIZE(feat_names))
		return NULL;
	return feat_names[feat];
}

void pps_env_release(struct pps_env *env)
{
	if (!env)
		return;
	free(env->hostname);
	free(env->os_release);
	free(env->version);
	free(env->arch);
	free(env->cpu_desc);
	free(env->cpuid);
	free(env->cmdline);
	free(env->tracing_data);
	for (size_t i = 0; i < env->nr_build_ids; i++)
		free((char *)(uintptr_t)env->build_ids[i].filename);
	free(env->build_ids);
	for (size_t i = 0; i < env->nr_groups; i++)
		free((char *)(uintptr_t)env->groups[i].name);
	free(env->groups);
	memset(env, 0, sizeof(*env));
}

static int replace_string(char **dst, struct pps_cursor *c)
{
	char *s;

	if (!pps_cursor_string(c, &s))
		return PPS_CORRUPT;
	free(*dst);
	*dst = s;
	return 0;
}

/* CMDLINE: u32 nr, then nr header strings; joined by spaces. */
static int parse_cmdline(struct pps_env *env, struct pps_cursor *c)
{
	uint32_t nr;
	size_t len = 0;
	char *out = NULL;
	int err = 0;

	if (!pps_cursor_u32(c, &nr))
		return PPS_CORRUPT;
	for (uint32_t i = 0; i < nr; i++) {
		char *s, *n;
		size_t sl;

		if (!pps_cursor_string(c, &s)) {
			err = PPS_CORRUPT;
			goto out_free;
		}
		sl = strlen(s);
		n = realloc(out, len + sl + 2);
		if (!n) {
			free(s);
			err = -ENOMEM;
			goto out_free;
		}
		out = n;
		if (len)
			out[len++] = ' ';
		memcpy(out + len, s, sl + 1);
		len += sl;
		free(s);
	}
	if (!out)
		out = strdup("");
	free(env->cmdline);
	env->cmdline = out;
	return out ? 0 : -ENOMEM;
out_free:
	free(out);
	return err;
}

/* EVENT_DESC: names events; matched by their first id, else by position. */
static int parse_event_desc(struct pps_evlist *el, struct pps_cursor *c)
{
	uint32_t nr, attr_size;

	if (!pps_cursor_u32(c, &nr) || !pps_cursor_u32(c, &attr_size) || attr_size < 64)
		return PPS_CORRUPT;
	for (uint32_t i = 0; i < nr; i++) {
		uint32_t nr_ids;
		const void *ids;
		char *name;
		struct pps_evsel *e = NULL;
		int err;

		if (!pps_cursor_bytes(c, NULL, attr_size) || !pps_cursor_u32(c, &nr_ids))
			return PPS_CORRUPT;
		if (!pps_cursor_string(c, &name))
			return PPS_CORRUPT;
		if (!pps_cursor_array(c, nr_ids, 8, &ids)) {
			free(name);
			return PPS_CORRUPT;
		}
		if (nr_ids) {
			uint64_t id0;

			memcpy(&id0, ids, 8);
			e = pps_evlist_find_id(el, id0);
		}
		if (!e && i < el->nr)
			e = el->v[i];
		err = e ? pps_evsel_set_name(e, name, strlen(name)) : 0;
		free(name);
		if (err)
			return err;
	}
	return 0;
}

static int parse_group_desc(struct pps_env *env, struct pps_cursor *c)
{
	uint32_t nr;
	struct pps_group_desc *g;

	if (!pps_cursor_u32(c, &nr) || nr > pps_cursor_left(c) / 12)
		return PPS_CORRUPT;
	g = calloc(nr ? nr : 1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	for (uint32_t i = 0; i < nr; i++) {
		char *name;

		if (!pps_cursor_string(c, &name) || !pps_cursor_u32(c, &g[i].leader_idx) ||
		    !pps_cursor_u32(c, &g[i].nr_members)) {
			free(name);
			for (uint32_t j = 0; j < i; j++)
				free((char *)(uintptr_t)g[j].name);
			free(g);
			return PPS_CORRUPT;
		}
		g[i].name = name;
	}
	for (size_t i = 0; i < env->nr_groups; i++)
		free((char *)(uintptr_t)env->groups[i].name);
	free(env->groups);
	env->groups = g;
	env->nr_groups = nr;
	return 0;
}

int pps_env_add_build_id(struct pps_env *env, const void *rec, size_t size)
{
	/* struct build_id_event: header, s32 pid, u8 build_id[24] (id[20], size, pad), name */
	const size_t fixed = 8 + 4 + 24;
	const uint8_t *p = rec;
	struct perf_event_header h;
	struct pps_build_id *v, *b;
	char *name;

	if (size < fixed)
		return PPS_CORRUPT;
	memcpy(&h, p, sizeof(h));
	name = pps_strndup((const char *)p + fixed, size - fixed);
	if (!name)
		return -ENOMEM;
	v = realloc(env->build_ids, (env->nr_build_ids + 1) * sizeof(*v));
	if (!v) {
		free(name);
		return -ENOMEM;
	}
	env->build_ids = v;
	b = &v[env->nr_build_ids++];
	memset(b, 0, sizeof(*b));
	memcpy(&b->pid, p + 8, 4);
	memcpy(b->id, p + 12, 20);
	b->cpumode = h.misc & PERF_RECORD_MISC_CPUMODE_MASK;
	/* PERF_RECORD_MISC_BUILD_ID_SIZE: the size byte after the id is valid (perf 5.10+). */
	b->size = (h.misc & (1 << 15)) && p[32] <= 20 ? p[32] : 20;
	b->filename = name;
	return 0;
}

static int parse_build_ids(struct pps_env *env, struct pps_cursor *c)
{
	while (pps_cursor_left(c) >= sizeof(struct perf_event_header)) {
		struct perf_event_header h;
		int err;

		memcpy(&h, c->p, sizeof(h));
		if (h.size < sizeof(h) || h.size > pps_cursor_left(c))
			return PPS_CORRUPT;
		err = pps_env_add_build_id(env, c->p, h.size);
		if (err)
			return err;
		c->p += h.size;
	}
	return 0;
}

int pps_env_set_tracing_data(struct pps_env *env, const void *data, size_t size)
{
	void *copy;

	if (size > PPS_MAX_TRACING_DATA)
		return PPS_CORRUPT;
	copy = malloc(size ? size : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, size);
	free(env->tracing_data);
	env->tracing_data = copy;
	env->tracing_size = size;
	return 0;
}

int pps_env_parse_feature(struct pps_env *env, struct pps_evlist *el, int feat, const void *data,
			  size_t size)
{
	struct pps_cursor c;
	uint64_t v64;
	int err = 0;

	pps_cursor_init(&c, data, size);
	switch (feat) {
	case PPS_FEAT_TRACING_DATA:
		err = pps_env_set_tracing_data(env, data, size);
		break;
	case PPS_FEAT_BUILD_ID:
		err = parse_build_ids(env, &c);
		break;
	case PPS_FEAT_HOSTNAME:
		err = replace_string(&env->hostname, &c);
		break;
	case PPS_FEAT_OSRELEASE:
		err = replace_string(&env->os_release, &c);
		break;
	case PPS_FEAT_VERSION:
		err = replace_string(&env->version, &c);
		break;
	case PPS_FEAT_ARCH:
		err = replace_string(&env->arch, &c);
		break;
	case PPS_FEAT_CPUDESC:
		err = replace_string(&env->cpu_desc, &c);
		break;
	case PPS_FEAT_CPUID:
		err = replace_string(&env->cpuid, &c);
		break;
	case PPS_FEAT_NRCPUS: {
		uint32_t avail, online;

		if (!pps_cursor_u32(&c, &avail) || !pps_cursor_u32(&c, &online))
			return PPS_CORRUPT;
		env->nr_cpus_avail = avail;
		env->nr_cpus_online = online;
		break;
	}
	case PPS_FEAT_TOTAL_MEM:
		if (!pps_cursor_u64(&c, &v64))
			return PPS_CORRUPT;
		env->total_mem_kb = v64;
		break;
	case PPS_FEAT_CMDLINE:
		err = parse_cmdline(env, &c);
		break;
	case PPS_FEAT_EVENT_DESC:
		err = parse_event_desc(el, &c);
		break;
	case PPS_FEAT_GROUP_DESC:
		err = parse_group_desc(env, &c);
		break;
	case PPS_FEAT_SAMPLE_TIME: {
		uint64_t first, last;

		if (!pps_cursor_u64(&c, &first) || !pps_cursor_u64(&c, &last))
			return PPS_CORRUPT;
		env->has_sample_time = true;
		env->first_sample_time = first;
		env->last_sample_time = last;
		break;
	}
	case PPS_FEAT_DIR_FORMAT:
		if (!pps_cursor_u64(&c, &v64))
			return PPS_CORRUPT;
		env->dir_version = v64;
		break;
	case PPS_FEAT_CLOCKID:
		if (!pps_cursor_u64(&c, &v64))
			return PPS_CORRUPT;
		env->clock.has_clockid_res = true;
		env->clock.clockid_res_ns = v64;
		break;
	case PPS_FEAT_CLOCK_DATA: {
		uint32_t version, clockid;
		uint64_t tod, clk;

		if (!pps_cursor_u32(&c, &version) || version < 1 || !pps_cursor_u32(&c, &clockid) ||
		    !pps_cursor_u64(&c, &tod) || !pps_cursor_u64(&c, &clk))
			return PPS_CORRUPT;
		env->clock.has_clock_data = true;
		env->clock.clockid = clockid;
		env->clock.tod_ns = tod;
		env->clock.clockid_ns = clk;
		break;
	}
	default:
		break; /* kept as present, content not needed */
	}
	if (!err && feat >= 0 && feat < PPS_FEAT_MAX)
		env->feat_bits[feat / 64] |= 1ULL << (feat % 64);
	return err;
}
