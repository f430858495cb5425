/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Events (attrs) and their ids. A recording has a handful of events but up to
 * nr_cpus * nr_events ids, and every record is mapped to its event through its id, so
 * the id lookup is an open-addressing hash.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/hw_breakpoint.h>

#include "internal/evsel.h"
#include "internal/util.h"

/* The oldest attr layout (PERF_ATTR_SIZE_VER0); files with attr.size 0 use it. */
#define ATTR_SIZE_VER0 64

static const char *const hw_names[] = {
	"cycles",	 "instructions",	    "cache-references",	      "cache-misses",
	"branches",	 "branch-misses",	    "bus-cycles",	      "stalled-cycles-frontend",
	"stalled-cycles-backend", "ref-cycles",
};

static const char *const sw_names[] = {
	"cpu-clock",	    "task-clock",	"page-faults",	    "context-switches",
	"cpu-migrations",   "minor-faults",	"major-faults",	    "alignment-faults",
	"emulation-faults", "dummy",		"bpf-output",	    "cgroup-switches",
};

static const char *const cache_names[] = {"L1-dcache", "L1-icache", "LLC", "dTLB",
					  "iTLB",      "branch",    "node"};
static const char *const cache_op_names[][2] = {
	{"load", "loads"}, {"store", "stores"}, {"prefetch", "prefetches"}};
static const char *const cache_result_names[] = {"refs", "misses"};

/* perf's evsel__add_modifiers(), so derived names match perf's. */
static void add_modifiers(const struct perf_event_attr *a, char *bf, size_t size)
{
	size_t r = strlen(bf), colon = 0;
	bool excl_guest_default = false;

#define MOD(ctx, c)                                                                                \
	do {                                                                                       \
		if (!a->exclude_##ctx && r + 2 < size) {                                           \
			if (!colon)                                                                \
				colon = ++r;                                                       \
			bf[r++] = (c);                                                             \
		}                                                                                  \
	} while (0)

	if (a->exclude_kernel || a->exclude_user || a->exclude_hv) {
		MOD(kernel, 'k');
		MOD(user, 'u');
		MOD(hv, 'h');
		excl_guest_default = true;
	}
	if (a->precise_ip) {
		if (!colon && r + 2 < size)
			colon = ++r;
		for (unsigned int i = 0; i < a->precise_ip && i < 3 && r + 2 < size; i++)
			bf[r++] = 'p';
		excl_guest_default = true;
	}
	if (a->exclude_host || (bool)a->exclude_guest == excl_guest_default) {
		MOD(host, 'H');
		MOD(guest, 'G');
	}
#undef MOD
	bf[r] = '\0';
	if (colon)
		bf[colon - 1] = ':';
}

static void derive_name(const struct perf_event_attr *a, char *bf, size_t size)
{
	bool mods = true;

	switch (a->type) {
	case PERF_TYPE_HARDWARE:
		if (a->config < PPS_ARRAY_SIZE(hw_names))
			snprintf(bf, size, "%s", hw_names[a->config]);
		else
			snprintf(bf, size, "unknown-hardware");
		break;
	case PERF_TYPE_SOFTWARE:
		if (a->config < PPS_ARRAY_SIZE(sw_names))
			snprintf(bf, size, "%s", sw_names[a->config]);
		else
			snprintf(bf, size, "unknown-software");
		break;
	case PERF_TYPE_HW_CACHE: {
		uint64_t type = a->config & 0xff, op = (a->config >> 8) & 0xff,
			 res = (a->config >> 16) & 0xff;

		if (type >= PPS_ARRAY_SIZE(cache_names) || op >= PPS_ARRAY_SIZE(cache_op_names) ||
		    res >= PPS_ARRAY_SIZE(cache_result_names))
			snprintf(bf, size, "unknown-ext-hardware-cache-type");
		else if (res)
			snprintf(bf, size, "%s-%s-%s", cache_names[type], cache_op_names[op][0],
				 cache_result_names[res]);
		else
			snprintf(bf, size, "%s-%s", cache_names[type], cache_op_names[op][1]);
		break;
	}
	case PERF_TYPE_RAW:
		snprintf(bf, size, "raw 0x%" PRIx64, (uint64_t)a->config);
		break;
	case PERF_TYPE_BREAKPOINT:
		snprintf(bf, size, "mem:0x%" PRIx64 ":%s%s%s", (uint64_t)a->bp_addr,
			 a->bp_type & HW_BREAKPOINT_R ? "r" : "", a->bp_type & HW_BREAKPOINT_W ? "w" : "",
			 a->bp_type & HW_BREAKPOINT_X ? "x" : "");
		break;
	case PERF_TYPE_TRACEPOINT:
		snprintf(bf, size, "unknown tracepoint");
		mods = false;
		break;
	default:
		snprintf(bf, size, "unknown attr type: %u", a->type);
		mods = false;
		break;
	}
	if (mods)
		add_modifiers(a, bf, size);
}

static int calc_id_pos(uint64_t st)
{
	int idx = 0;

	if (st & PERF_SAMPLE_IDENTIFIER)
		return 0;
	if (!(st & PERF_SAMPLE_ID))
		return -1;
	idx += !!(st & PERF_SAMPLE_IP);
	idx += !!(st & PERF_SAMPLE_TID);
	idx += !!(st & PERF_SAMPLE_TIME);
	idx += !!(st & PERF_SAMPLE_ADDR);
	return idx;
}

static int calc_is_pos(uint64_t st)
{
	int idx = 1;

	if (st & PERF_SAMPLE_IDENTIFIER)
		return 1;
	if (!(st & PERF_SAMPLE_ID))
		return -1;
	idx += !!(st & PERF_SAMPLE_CPU);
	idx += !!(st & PERF_SAMPLE_STREAM_ID);
	return idx;
}

static uint32_t calc_id_hdr_size(uint64_t st)
{
	uint32_t n = 0;

	n += !!(st & PERF_SAMPLE_TID);
	n += !!(st & PERF_SAMPLE_TIME);
	n += !!(st & PERF_SAMPLE_ID);
	n += !!(st & PERF_SAMPLE_STREAM_ID);
	n += !!(st & PERF_SAMPLE_CPU);
	n += !!(st & PERF_SAMPLE_IDENTIFIER);
	return n * 8;
}

void pps_evlist_release(struct pps_evlist *el)
{
	if (!el)
		return;
	for (size_t i = 0; i < el->nr; i++) {
		free(el->v[i]->name);
		free(el->v[i]->ids);
		free(el->v[i]);
	}
	free(el->v);
	free(el->slots);
	memset(el, 0, sizeof(*el));
}

struct pps_evsel *pps_evlist_add(struct pps_evlist *el, const void *attr, size_t attr_size)
{
	struct pps_evsel *e = NULL, **v;
	uint32_t sz;
	char name[256];

	if (attr_size < ATTR_SIZE_VER0) {
		errno = EPROTO;
		return NULL;
	}
	memcpy(&sz, (const uint8_t *)attr + offsetof(struct perf_event_attr, size), sizeof(sz));
	if (sz == 0)
		sz = ATTR_SIZE_VER0;
	if (sz > attr_size)
		sz = (uint32_t)attr_size;
	if (sz < ATTR_SIZE_VER0) {
		errno = EPROTO;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		goto err_nomem;
	memcpy(&e->attr, attr, sz < sizeof(e->attr) ? sz : sizeof(e->attr));
	e->file_attr_size = sz;
	e->attr.size = sizeof(e->attr);
	e->idx = el->nr;
	e->id_hdr_size = e->attr.sample_id_all ? calc_id_hdr_size(e->attr.sample_type) : 0;
	e->stats.first_time = e->stats.last_time = PPS_NO_TIME;
	derive_name(&e->attr, name, sizeof(name));
	e->name = strdup(name);
	if (!e->name)
		goto err_free;
	v = realloc(el->v, (el->nr + 1) * sizeof(*v));
	if (!v)
		goto err_free;
	el->v = v;
	el->v[el->nr++] = e;
	/* perf decides positions and sample_id_all from the first event. */
	el->id_pos = calc_id_pos(el->v[0]->attr.sample_type);
	el->is_pos = calc_is_pos(el->v[0]->attr.sample_type);
	el->sample_id_all = el->v[0]->attr.sample_id_all;
	return e;

err_free:
	if (e)
		free(e->name);
	free(e);
err_nomem:
	errno = ENOMEM;
	return NULL;
}

static size_t id_hash(uint64_t id, size_t cap)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (size_t)id & (cap - 1);
}

static void slot_put(struct pps_id_slot *slots, size_t cap, uint64_t id, struct pps_evsel *e,
		     size_t *used)
{
	size_t i = id_hash(id, cap);

	while (slots[i].evsel && slots[i].id != id)
		i = (i + 1) & (cap - 1);
	if (!slots[i].evsel)
		(*used)++;
	slots[i].id = id;
	slots[i].evsel = e;
}

static int grow(struct pps_evlist *el)
{
	size_t cap = el->cap ? el->cap * 2 : 64, used = 0;
	struct pps_id_slot *s = calloc(cap, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < el->cap; i++)
		if (el->slots[i].evsel)
			slot_put(s, cap, el->slots[i].id, el->slots[i].evsel, &used);
	free(el->slots);
	el->slots = s;
	el->cap = cap;
	el->used = used;
	return 0;
}

int pps_evsel_add_ids(struct pps_evlist *el, struct pps_evsel *e, const uint64_t *ids, size_t nr)
{
	uint64_t *v;

	if (!nr)
		return 0;
	if (nr > SIZE_MAX / sizeof(*v) - e->nr_ids)
		return -ENOMEM;
	v = realloc(e->ids, (e->nr_ids + nr) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	e->ids = v;
	for (size_t i = 0; i < nr; i++) {
		uint64_t id;

		memcpy(&id, &ids[i], sizeof(id)); /* ids may sit unaligned in a record */
		e->ids[e->nr_ids++] = id;
		if ((el->used + 1) * 2 > el->cap && grow(el))
			return -ENOMEM;
		slot_put(el->slots, el->cap, id, e, &el->used);
	}
	return 0;
}

struct pps_evsel *pps_evlist_find_id(const struct pps_evlist *el, uint64_t id)
{
	size_t i;

	if (!el->cap)
		return NULL;
	for (i = id_hash(id, el->cap); el->slots[i].evsel; i = (i + 1) & (el->cap - 1))
		if (el->slots[i].id == id)
			return el->slots[i].evsel;
	return NULL;
}

int pps_evsel_set_name(struct pps_evsel *e, const char *name, size_t max_len)
{
	char *n = pps_strndup(name, max_len);

	if (!n)
		return -ENOMEM;
	free(e->name);
	e->name = n;
	e->name_from_file = true;
	return 0;
}

struct pps_evsel *pps_evlist_event_evsel(const struct pps_evlist *el, const void *rec,
					 size_t size, uint32_t type)
{
	const uint8_t *p = rec;
	struct pps_evsel *e;
	uint64_t id;
	size_t words = (size - sizeof(struct perf_event_header)) / 8;

	if (el->nr == 0)
		return NULL;
	if (el->nr == 1)
		return el->v[0];
	if (type != PERF_RECORD_SAMPLE && !el->sample_id_all)
		return el->v[0];
	if (type == PERF_RECORD_SAMPLE) {
		if (el->id_pos < 0 || (size_t)el->id_pos >= words)
			return el->v[0];
		memcpy(&id, p + sizeof(struct perf_event_header) + (size_t)el->id_pos * 8, 8);
	} else {
		if (el->is_pos < 0 || (size_t)el->is_pos > words)
			return el->v[0];
		memcpy(&id, p + sizeof(struct perf_event_header) + (words - (size_t)el->is_pos) * 8,
		       8);
	}
	if (!id)
		return el->v[0];
	e = pps_evlist_find_id(el, id);
	if (!e && !el->sample_id_all)
		return el->v[0];
	return e;
}
