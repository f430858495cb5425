/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_convert: perf.data samples to pprof profiles.
 *
 * Two phases, so that each distinct address is symbolized once and only after the whole
 * recording (with its build-ids, which pipe mode sends last) has been read:
 * 1. Streaming: side-band records update the machine; each sample's frames become
 *    locations with a mapping and an address but no lines yet, found through a cache
 *    keyed by (map, address), and the stack is added to the
 *    profile of its event.
 * 2. Finishing: every distinct location is symbolized and given its lines; mappings get
 *    their build-ids and the has_* flags that symbolization established.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <pprofstore/convert.h>

#include "internal/machine.h"
#include "internal/symbolizer.h"
#include "internal/util.h"

/* Longest stack kept; perf's own default limit (kernel.perf_event_max_stack) is 127. */
#define MAX_STACK 1024

/* What phase 2 needs to symbolize one location. */
struct loc_info {
	const char *filename; /* interned by the machine; NULL: no map */
	uint64_t start, end, pgoff;
	uint64_t addr; /* the address looked up (return address - 1 for callers) */
	bool unresolved; /* symbolization found no function (phase 2) */
	uint64_t mapping_id;
	int32_t pid;
	uint8_t build_id[20];
	uint8_t build_id_size;
	bool kernel;
};

/* (map uid, address) -> location id; open addressing, at most half full. */
struct loc_cache {
	struct loc_slot {
		uint64_t gen, addr, id; /* id 0: empty */
	} *slots;
	size_t cap, used;
};

/*
 * A memo of recent samples: a sample with the same profile, thread, cpu, cpumode and raw
 * callchain as a remembered one, with no side-band record in between (epoch), is the
 * same pprof sample: its values are added without resolving a frame or a lookup.
 * Direct-mapped by hash; a miss costs one slot.
 */
#define MEMO_SLOTS 4096
#define MEMO_WORDS 48
struct memo {
	uint64_t epoch; /* c->epoch when filled; 0: empty */
	uint64_t hash;
	const void *cp;
	int32_t pid, tid;
	uint32_t cpu;
	uint16_t cpumode;
	uint16_t nr; /* raw callchain words, or 1 for the ip alone */
	size_t ref;  /* the pprof sample */
	uint64_t words[MEMO_WORDS];
};

struct conv_profile {
	struct pps_convert_profile pub;
	char *type, *event; /* owned; pub's point here */
	size_t evsel_idx;
	bool cpu;
	struct loc_cache cache;
	struct loc_info *locs; /* locs[id - 1] */
	size_t nr_locs, locs_cap;
};

struct pps_convert {
	struct pps_convert_opts opts;
	char *comm; /* opts.comm copied */
	int32_t *pids, *tids;
	struct pps_machine *machine;
	struct pps_symbolizer *sym;
	struct conv_profile **profiles;
	size_t nr_profiles, profiles_cap;
	/* (evsel idx, pid) -> profile index + 1; open addressing, at most half full */
	struct prof_slot {
		uint64_t key;
		size_t ref;
	} *prof_idx;
	size_t prof_cap;
	struct pps_convert_stats stats;
	uint64_t first_time, last_time; /* of samples kept, PPS_NO_TIME when none */
	uint64_t first_seen;		/* of all samples: the origin of from/to */
	uint64_t epoch; /* bumped by every side-band record: memo entries before it are stale */
	struct memo *memo; /* MEMO_SLOTS */
	bool has_cpu_profile;
	uint64_t stack[MAX_STACK];
};

static uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static int32_t *copy_ids(const int32_t *v, size_t n)
{
	int32_t *c;

	if (!n)
		return NULL;
	c = malloc(n * sizeof(*c));
	if (c)
		memcpy(c, v, n * sizeof(*c));
	return c;
}

PPS_API struct pps_convert *pps_convert_new(const struct pps_convert_opts *opts)
{
	struct pps_symbolizer_opts so = {.sz = sizeof(so)};
	struct pps_convert *c = calloc(1, sizeof(*c));
	int err = ENOMEM;

	if (!c)
		goto out_err;
	if (opts) {
		size_t n = opts->sz < sizeof(c->opts) ? opts->sz : sizeof(c->opts);

		memcpy(&c->opts, opts, n);
	} else {
		c->opts.labels = PPS_LABELS_DEFAULT;
	}
	c->opts.sz = sizeof(c->opts);
	c->first_time = c->last_time = c->first_seen = PPS_NO_TIME;
	c->epoch = 1;
	c->memo = calloc(MEMO_SLOTS, sizeof(*c->memo));
	if (!c->memo)
		goto out_free;
	if (c->opts.comm && !(c->comm = strdup(c->opts.comm)))
		goto out_free;
	c->opts.comm = c->comm;
	c->pids = copy_ids(c->opts.pids, c->opts.nr_pids);
	c->tids = copy_ids(c->opts.tids, c->opts.nr_tids);
	if ((c->opts.nr_pids && !c->pids) || (c->opts.nr_tids && !c->tids))
		goto out_free;
	c->opts.pids = c->pids;
	c->opts.tids = c->tids;
	/* Paths are the caller's and must outlive the converter (documented in the opts). */
	c->machine = pps_machine_new();
	if (!c->machine)
		goto out_free;
	if (!c->opts.no_symbolize) {
		so.symfs = c->opts.symfs;
		so.kallsyms = c->opts.kallsyms;
		so.vmlinux = c->opts.vmlinux;
		so.buildid_dir = c->opts.buildid_dir;
		so.debuginfod = c->opts.debuginfod;
		so.no_inline = c->opts.no_inline;
		c->sym = pps_symbolizer_new(&so);
		if (!c->sym) {
			err = errno ? errno : ENOMEM;
			goto out_free;
		}
	}
	return c;

out_free:
	pps_convert_free(c);
out_err:
	errno = err;
	return NULL;
}

PPS_API void pps_convert_free(struct pps_convert *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nr_profiles; i++) {
		struct conv_profile *cp = c->profiles[i];

		pps_profile_free(cp->pub.profile);
		free(cp->type);
		free(cp->event);
		free(cp->cache.slots);
		free(cp->locs);
		free(cp);
	}
	free(c->profiles);
	free(c->prof_idx);
	free(c->memo);
	pps_symbolizer_free(c->sym);
	pps_machine_free(c->machine);
	free(c->comm);
	free(c->pids);
	free(c->tids);
	free(c);
}

static bool is_cpu_event(const struct perf_event_attr *a)
{
	return a->type == PERF_TYPE_SOFTWARE &&
	       (a->config == PERF_COUNT_SW_CPU_CLOCK || a->config == PERF_COUNT_SW_TASK_CLOCK);
}

/* The nominal period: the fixed period, or 1e9/freq for clock events in frequency mode. */
static int64_t nominal_period(const struct perf_event_attr *a, bool cpu)
{
	if (!a->freq)
		return (int64_t)a->sample_period;
	if (cpu && a->sample_freq)
		return (int64_t)(1000000000ULL / a->sample_freq);
	return 0;
}

/* Profile metadata from the recording: sample types, period, comments. */
static int setup_profile(struct pps_convert *c, struct pps_reader *r, struct conv_profile *cp,
			 struct pps_evsel *e)
{
	const struct perf_event_attr *a = pps_evsel_attr(e);
	struct pps_profile *p = cp->pub.profile;
	const char *s;
	char buf[512];
	int err;

	(void)c;
	if (cp->cpu) {
		err = pps_profile_add_sample_type(p, "samples", "count");
		err = err ?: pps_profile_add_sample_type(p, "cpu", "nanoseconds");
		err = err ?: pps_profile_set_period(p, "cpu", "nanoseconds", nominal_period(a, true));
	} else {
		err = pps_profile_add_sample_type(p, "samples", "count");
		err = err ?: pps_profile_add_sample_type(p, cp->pub.event, "count");
		err = err ?: pps_profile_set_period(p, cp->pub.event, "count",
						    nominal_period(a, false));
	}
	if (err)
		return err;
	snprintf(buf, sizeof(buf), "event: %s", cp->pub.event);
	err = pps_profile_add_comment(p, buf);
	if (!err && (s = pps_reader_perf_version(r))) {
		snprintf(buf, sizeof(buf), "perf version: %s", s);
		err = pps_profile_add_comment(p, buf);
	}
	if (!err && (s = pps_reader_hostname(r))) {
		snprintf(buf, sizeof(buf), "host: %s", s);
		err = pps_profile_add_comment(p, buf);
	}
	if (!err && (s = pps_reader_os_release(r))) {
		snprintf(buf, sizeof(buf), "os release: %s", s);
		err = pps_profile_add_comment(p, buf);
	}
	if (!err && (s = pps_reader_cmdline(r))) {
		snprintf(buf, sizeof(buf), "perf command: %s", s);
		err = pps_profile_add_comment(p, buf);
	}
	return err;
}

/* The profile for (evsel, pid), created on first use; NULL on ENOMEM. */
static struct conv_profile *get_profile(struct pps_convert *c, struct pps_reader *r,
					struct pps_evsel *e, int32_t pid)
{
	struct conv_profile *cp = NULL;
	uint64_t key;
	size_t i;

	if (!c->opts.group_by_pid)
		pid = -1;
	key = (uint64_t)pps_evsel_idx(e) << 32 | (uint32_t)pid;

	if (c->prof_cap) {
		for (i = mix64(key) & (c->prof_cap - 1); c->prof_idx[i].ref;
		     i = (i + 1) & (c->prof_cap - 1))
			if (c->prof_idx[i].key == key)
				return c->profiles[c->prof_idx[i].ref - 1];
	}
	if ((c->nr_profiles + 1) * 2 > c->prof_cap) {
		size_t ncap = c->prof_cap ? c->prof_cap * 2 : 16;
		struct prof_slot *n = calloc(ncap, sizeof(*n));

		if (!n)
			return NULL;
		for (size_t j = 0; j < c->prof_cap; j++) {
			if (!c->prof_idx[j].ref)
				continue;
			for (i = mix64(c->prof_idx[j].key) & (ncap - 1); n[i].ref;
			     i = (i + 1) & (ncap - 1))
				;
			n[i] = c->prof_idx[j];
		}
		free(c->prof_idx);
		c->prof_idx = n;
		c->prof_cap = ncap;
	}
	if (c->nr_profiles == c->profiles_cap) {
		size_t ncap = c->profiles_cap ? c->profiles_cap * 2 : 8;
		struct conv_profile **n = realloc(c->profiles, ncap * sizeof(*n));

		if (!n)
			return NULL;
		c->profiles = n;
		c->profiles_cap = ncap;
	}
	cp = calloc(1, sizeof(*cp));
	if (!cp)
		return NULL;
	cp->evsel_idx = pps_evsel_idx(e);
	cp->pub.pid = pid;
	cp->cpu = is_cpu_event(pps_evsel_attr(e));
	cp->event = strdup(pps_evsel_name(e) ? pps_evsel_name(e) : "event");
	cp->pub.event = cp->event;
	cp->pub.profile = pps_profile_new();
	/* "cpu" names the first clock event's profiles; a second clock event keeps its name. */
	if (cp->cpu) {
		bool taken = false;

		for (size_t j = 0; j < c->nr_profiles; j++)
			if (c->profiles[j]->cpu && c->profiles[j]->evsel_idx != cp->evsel_idx)
				taken = true;
		cp->cpu = !taken;
	}
	cp->type = strdup(cp->cpu ? "cpu" : (cp->event ? cp->event : "event"));
	cp->pub.type = cp->type;
	if (!cp->event || !cp->type || !cp->pub.profile || setup_profile(c, r, cp, e)) {
		pps_profile_free(cp->pub.profile);
		free(cp->event);
		free(cp->type);
		free(cp);
		return NULL;
	}
	c->profiles[c->nr_profiles++] = cp;
	for (i = mix64(key) & (c->prof_cap - 1); c->prof_idx[i].ref; i = (i + 1) & (c->prof_cap - 1))
		;
	c->prof_idx[i].key = key;
	c->prof_idx[i].ref = c->nr_profiles;
	return cp;
}

static void hex_build_id(const uint8_t *id, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[2 * n] = '\0';
}

static struct loc_slot *cache_slot(struct loc_cache *lc, uint64_t gen, uint64_t addr)
{
	size_t i;

	for (i = mix64(gen * 0x9e3779b97f4a7c15ULL ^ addr) & (lc->cap - 1);;
	     i = (i + 1) & (lc->cap - 1)) {
		struct loc_slot *s = &lc->slots[i];

		if (!s->id || (s->gen == gen && s->addr == addr))
			return s;
	}
}

static int cache_grow(struct loc_cache *lc)
{
	struct loc_cache n = {.cap = lc->cap ? lc->cap * 2 : 1024};

	n.slots = calloc(n.cap, sizeof(*n.slots));
	if (!n.slots)
		return -ENOMEM;
	for (size_t i = 0; i < lc->cap; i++)
		if (lc->slots[i].id)
			*cache_slot(&n, lc->slots[i].gen, lc->slots[i].addr) = lc->slots[i];
	n.used = lc->used;
	free(lc->slots);
	*lc = n;
	return 0;
}

/* The location id of addr as seen by (pid, kernel) now; 0 on ENOMEM. */
static uint64_t frame_location(struct pps_convert *c, struct conv_profile *cp, int32_t pid,
			       bool kernel, uint64_t addr)
{
	const struct pps_map *m;
	struct loc_info *li;
	struct loc_slot *s;
	uint64_t gen, id, mapping_id = 0;

	/* Keyed by the map, not the address space's generation: a process's unrelated
	 * mmaps, and forks of it, keep their cached locations. */
	m = pps_machine_find_map(c->machine, pid, kernel, addr, &gen);
	gen = m ? m->uid : kernel; /* unmapped: the address alone is the key (uids >= 2) */
	if ((cp->cache.used + 1) * 2 > cp->cache.cap && cache_grow(&cp->cache))
		return 0;
	s = cache_slot(&cp->cache, gen, addr);
	if (s->id)
		return s->id;
	if (m) {
		char bid[41] = "";
		struct pps_mapping_info mi = {
		    .start = m->start,
		    .limit = m->end,
		    .offset = m->pgoff,
		    .file = m->filename,
		    .build_id = bid,
		};

		if (m->build_id_size)
			hex_build_id(m->build_id, m->build_id_size, bid);
		mapping_id = pps_profile_add_mapping(cp->pub.profile, &mi);
		if (!mapping_id)
			return 0;
	}
	id = pps_profile_add_location(cp->pub.profile, mapping_id, addr, NULL, 0);
	if (!id)
		return 0;
	if (id > cp->nr_locs) {
		if (id > cp->locs_cap) {
			size_t ncap = cp->locs_cap ? cp->locs_cap * 2 : 1024;
			struct loc_info *n;

			while (ncap < id)
				ncap *= 2;
			n = realloc(cp->locs, ncap * sizeof(*n));
			if (!n)
				return 0;
			cp->locs = n;
			cp->locs_cap = ncap;
		}
		li = &cp->locs[id - 1];
		memset(li, 0, sizeof(*li));
		cp->nr_locs = id;
		li->addr = addr;
		li->pid = pid;
		li->kernel = kernel;
		li->mapping_id = mapping_id;
		if (m) {
			li->filename = m->filename;
			li->start = m->start;
			li->end = m->end;
			li->pgoff = m->pgoff;
			li->build_id_size = m->build_id_size;
			memcpy(li->build_id, m->build_id, sizeof(li->build_id));
		}
	}
	s->gen = gen;
	s->addr = addr;
	s->id = id;
	cp->cache.used++;
	return id;
}

static bool in_list(const int32_t *v, size_t n, int32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* cpumode of a callchain context marker; false for an address. */
static bool context_mode(uint64_t ip, bool *kernel, bool *guest)
{
	if (ip < PERF_CONTEXT_MAX)
		return false;
	*guest = ip == PERF_CONTEXT_GUEST || ip == PERF_CONTEXT_GUEST_KERNEL ||
		 ip == PERF_CONTEXT_GUEST_USER;
	*kernel = ip == PERF_CONTEXT_KERNEL || ip == PERF_CONTEXT_HV ||
		  ip == PERF_CONTEXT_GUEST_KERNEL;
	return true;
}

static int add_sample(struct pps_convert *c, struct pps_reader *r, const struct pps_event *ev)
{
	const struct pps_sample *s = &ev->sample;
	uint16_t cpumode = ev->misc & PERF_RECORD_MISC_CPUMODE_MASK;
	bool kernel = cpumode == PERF_RECORD_MISC_KERNEL || cpumode == PERF_RECORD_MISC_HYPERVISOR;
	bool guest = cpumode == PERF_RECORD_MISC_GUEST_KERNEL ||
		     cpumode == PERF_RECORD_MISC_GUEST_USER;
	int32_t pid = (int32_t)s->pid, tid = (int32_t)s->tid;
	struct pps_label labels[4];
	struct conv_profile *cp;
	struct pps_thread *t;
	size_t nr = 0, nr_labels = 0;
	int64_t values[2];
	char comm_buf[24];
	const char *comm;
	bool leaf = true;
	const uint64_t *raw;
	uint64_t nr_raw;
	struct memo *memo = NULL;
	size_t ref;
	int err;

	c->stats.nr_samples++;
	if (s->time != PPS_NO_TIME && c->first_seen == PPS_NO_TIME)
		c->first_seen = s->time;
	if (c->opts.from_ns || c->opts.to_ns) {
		uint64_t off;

		if (s->time == PPS_NO_TIME || c->first_seen == PPS_NO_TIME)
			goto filtered;
		off = s->time - c->first_seen;
		if (off < c->opts.from_ns || (c->opts.to_ns && off >= c->opts.to_ns))
			goto filtered;
	}
	if (c->opts.nr_pids && !in_list(c->opts.pids, c->opts.nr_pids, pid))
		goto filtered;
	if (c->opts.nr_tids && !in_list(c->opts.tids, c->opts.nr_tids, tid))
		goto filtered;
	t = pps_machine_thread(c->machine, pid, tid);
	if (!t)
		return -ENOMEM;
	comm = t->comm;
	if (!*comm) {
		snprintf(comm_buf, sizeof(comm_buf), ":%" PRId32, tid);
		comm = comm_buf;
	}
	if (c->opts.comm && strcmp(c->opts.comm, comm))
		goto filtered;

	cp = get_profile(c, r, ev->evsel, pid);
	if (!cp)
		return -ENOMEM;
	values[0] = 1;
	values[1] = (int64_t)(s->period ? s->period
					: (pps_evsel_attr(ev->evsel)->freq
						   ? 0
						   : pps_evsel_attr(ev->evsel)->sample_period));
	cp->pub.nr_samples++;
	if (s->time != PPS_NO_TIME) {
		if (c->first_time == PPS_NO_TIME || s->time < c->first_time)
			c->first_time = s->time;
		if (c->last_time == PPS_NO_TIME || s->time > c->last_time)
			c->last_time = s->time;
	}

	raw = s->callchain_nr ? s->callchain : &s->ip;
	nr_raw = s->callchain_nr ? s->callchain_nr : 1;
	if (nr_raw <= MEMO_WORDS) {
		uint64_t h = mix64((uint64_t)(uintptr_t)cp ^ (uint64_t)(uint32_t)tid << 32 ^
				   (uint64_t)s->cpu << 16 ^ cpumode ^ nr_raw << 56);

		for (uint64_t i = 0; i < nr_raw; i++)
			h = mix64(h ^ raw[i]);
		memo = &c->memo[h & (MEMO_SLOTS - 1)];
		if (memo->epoch == c->epoch && memo->hash == h && memo->cp == cp &&
		    memo->tid == tid && memo->pid == pid && memo->cpu == s->cpu &&
		    memo->cpumode == cpumode && memo->nr == nr_raw &&
		    !memcmp(memo->words, raw, nr_raw * sizeof(*raw)))
			return pps_profile_add_values(cp->pub.profile, memo->ref, values);
		memo->epoch = 0; /* refilled below once the sample is in */
		memo->hash = h;
	}

	/* Frames: the callchain (its first address is the sample ip), else the ip. */
	for (uint64_t i = 0; i < s->callchain_nr && nr < MAX_STACK; i++) {
		uint64_t ip = s->callchain[i], id;

		/* After a context switch the first address is where that context was
		 * interrupted or entered the kernel (a faulting instruction, say), not a
		 * return address. */
		if (context_mode(ip, &kernel, &guest)) {
			leaf = true;
			continue;
		}
		if (guest || !ip)
			continue;
		/* Callers are looked up at the call instruction, not at the return address. */
		if (!leaf && ip == 1)
			continue;
		id = frame_location(c, cp, pid, kernel, leaf ? ip : ip - 1);
		if (!id)
			return -ENOMEM;
		c->stack[nr++] = id;
		leaf = false;
	}
	if (!nr && !s->callchain_nr && s->ip && !guest) {
		uint64_t id = frame_location(c, cp, pid, kernel, s->ip);

		if (!id)
			return -ENOMEM;
		c->stack[nr++] = id;
	}
	if (c->opts.labels & PPS_LABEL_PID)
		labels[nr_labels++] = (struct pps_label){.key = "pid", .num = pid};
	if (c->opts.labels & PPS_LABEL_TID)
		labels[nr_labels++] = (struct pps_label){.key = "tid", .num = tid};
	if (c->opts.labels & PPS_LABEL_COMM)
		labels[nr_labels++] = (struct pps_label){.key = "comm", .str = comm};
	if (c->opts.labels & PPS_LABEL_CPU)
		labels[nr_labels++] = (struct pps_label){.key = "cpu", .num = s->cpu};
	err = pps_profile_add_sample_ref(cp->pub.profile, c->stack, nr, values, labels, nr_labels,
					 &ref);
	if (err || !memo)
		return err;
	memo->epoch = c->epoch;
	memo->cp = cp;
	memo->pid = pid;
	memo->tid = tid;
	memo->cpu = s->cpu;
	memo->cpumode = cpumode;
	memo->nr = (uint16_t)nr_raw;
	memo->ref = ref;
	memcpy(memo->words, raw, nr_raw * sizeof(*raw));
	return 0;

filtered:
	c->stats.nr_filtered++;
	return 0;
}

/* The recording's build-id for a map: its MMAP2 one, else the header's by file name. */
static void map_build_id(struct pps_reader *r, const struct loc_info *li, char *hex)
{
	size_t n = pps_reader_nr_build_ids(r);

	hex[0] = '\0';
	if (li->build_id_size) {
		hex_build_id(li->build_id, li->build_id_size, hex);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct pps_build_id *b = pps_reader_build_id(r, i);
		bool bk = b->cpumode == PERF_RECORD_MISC_KERNEL ||
			  b->cpumode == PERF_RECORD_MISC_GUEST_KERNEL;

		if (!b->filename || bk != li->kernel)
			continue;
		if (!strcmp(b->filename, li->filename) ||
		    (li->kernel && !strcmp(li->filename, "[kernel.kallsyms]") &&
		     !strncmp(b->filename, "[kernel.kallsyms]", 17))) {
			hex_build_id(b->id, b->size, hex);
			return;
		}
	}
}

/* Symbolizes every location of cp and fills in its mappings. */
static int finish_profile(struct pps_convert *c, struct pps_reader *r, struct conv_profile *cp)
{
	struct pps_profile *p = cp->pub.profile;
	struct mflags {
		bool fn, fl, ln, in, seen;
		char bid[41];
	} *mf;
	size_t nr_mappings = pps_profile_nr_mappings(p);
	struct pps_line *lines = NULL;
	size_t lines_cap = 0;
	int err = 0;

	mf = calloc(nr_mappings + 1, sizeof(*mf));
	if (!mf)
		return -ENOMEM;
	for (size_t i = 0; i < cp->nr_locs; i++) {
		struct loc_info *li = &cp->locs[i];
		struct mflags *f = &mf[li->mapping_id];
		struct pps_sym_result res = {0};
		struct pps_sym_map sm;
		char bid[41];

		c->stats.nr_locations++;
		li->unresolved = true;
		if (!li->filename) {
			c->stats.nr_unresolved++;
			continue;
		}
		map_build_id(r, li, bid);
		if (!f->seen) {
			f->seen = true;
			memcpy(f->bid, bid, sizeof(bid));
		}
		if (!c->sym) {
			c->stats.nr_unresolved++;
			continue;
		}
		sm = (struct pps_sym_map){
		    .filename = li->filename,
		    .start = li->start,
		    .len = li->end - li->start,
		    .pgoff = li->pgoff,
		    .build_id = li->build_id_size ? li->build_id : NULL,
		    .build_id_size = li->build_id_size,
		    .pid = li->pid,
		    .kernel = li->kernel,
		};
		err = pps_symbolizer_lookup(c->sym, &sm, li->addr, &res);
		if (err)
			goto out;
		if (res.file) {
			f->fn |= res.file->has_functions;
			f->fl |= res.file->has_filenames;
			f->ln |= res.file->has_line_numbers;
			f->in |= res.file->has_inline_frames;
			if (!f->bid[0] && res.file->build_id_hex)
				snprintf(f->bid, sizeof(f->bid), "%s", res.file->build_id_hex);
		}
		if (!res.nr_frames) {
			c->stats.nr_unresolved++;
			continue;
		}
		li->unresolved = false;
		if (res.nr_frames > lines_cap) {
			struct pps_line *n = realloc(lines, res.nr_frames * sizeof(*n));

			err = -ENOMEM;
			if (!n)
				goto out;
			lines = n;
			lines_cap = res.nr_frames;
		}
		for (size_t k = 0; k < res.nr_frames; k++) {
			const struct pps_sym_frame *fr = &res.frames[k];

			lines[k].function_id = pps_profile_add_function(
			    p, fr->name, fr->system_name, fr->file, fr->start_line);
			err = -ENOMEM;
			if (!lines[k].function_id)
				goto out;
			lines[k].line = fr->line;
			lines[k].column = 0;
		}
		err = pps_profile_set_location_lines(p, i + 1, lines, res.nr_frames);
		if (err)
			goto out;
	}
	/* Frame counts, weighted by the perf samples each pprof sample stands for. */
	for (size_t i = 0; i < pps_profile_nr_samples(p); i++) {
		const uint64_t *locs;
		const int64_t *vals;
		size_t n;

		if (pps_profile_get_sample(p, i, &locs, &n, &vals))
			break;
		c->stats.nr_frames += (uint64_t)vals[0] * n;
		for (size_t k = 0; k < n; k++) {
			const struct loc_info *li = &cp->locs[locs[k] - 1];

			if (li->unresolved)
				c->stats.nr_unresolved_frames += (uint64_t)vals[0];
			if (!li->filename)
				c->stats.nr_unmapped_frames += (uint64_t)vals[0];
		}
	}
	for (size_t id = 1; id <= nr_mappings; id++) {
		struct mflags *f = &mf[id];

		err = pps_profile_update_mapping(p, id, f->bid, f->fn, f->fl, f->ln, f->in);
		if (err)
			goto out;
	}
out:
	free(lines);
	free(mf);
	return err;
}

static void set_times(struct pps_convert *c, struct pps_reader *r)
{
	struct pps_clock_data cd;
	int64_t start = 0, dur = 0;

	if (c->first_time == PPS_NO_TIME)
		return;
	dur = (int64_t)(c->last_time - c->first_time);
	pps_reader_clock_data(r, &cd);
	if (cd.has_clock_data && cd.tod_ns)
		start = (int64_t)cd.tod_ns + ((int64_t)c->first_time - (int64_t)cd.clockid_ns);
	else if (c->opts.end_wall_ns)
		start = c->opts.end_wall_ns - dur;
	for (size_t i = 0; i < c->nr_profiles; i++)
		pps_profile_set_time(c->profiles[i]->pub.profile, start, dur);
}

PPS_API int pps_convert_run(struct pps_convert *c, struct pps_reader *r)
{
	struct pps_event ev;
	int ret;

	while ((ret = pps_reader_next(r, &ev)) > 0) {
		switch (ev.type) {
		case PERF_RECORD_SAMPLE:
			if (!ev.evsel)
				break;
			ret = add_sample(c, r, &ev);
			break;
		case PERF_RECORD_MMAP:
		case PERF_RECORD_MMAP2:
		case PERF_RECORD_COMM:
		case PERF_RECORD_FORK:
			c->epoch++;
			ret = pps_machine_process(c->machine, ev.type, ev.misc, ev.raw);
			break;
		default:
			ret = 0;
			break;
		}
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	if (c->sym) {
		size_t n = pps_reader_nr_build_ids(r);
		uint64_t ref_addr;
		const char *ref_sym;

		for (size_t i = 0; i < n; i++) {
			const struct pps_build_id *b = pps_reader_build_id(r, i);
			bool bk = b->cpumode == PERF_RECORD_MISC_KERNEL;

			if (b->filename && b->size)
				(void)pps_symbolizer_add_build_id(c->sym, b->filename, bk, b->id,
								  b->size);
		}
		if (pps_machine_kernel_ref(c->machine, &ref_addr, &ref_sym))
			(void)pps_symbolizer_set_kernel(c->sym, ref_addr, ref_sym,
							pps_reader_os_release(r));
	}
	for (size_t i = 0; i < c->nr_profiles; i++) {
		ret = finish_profile(c, r, c->profiles[i]);
		if (ret)
			return ret;
	}
	set_times(c, r);
	return 0;
}

PPS_API size_t pps_convert_nr_profiles(const struct pps_convert *c)
{
	return c->nr_profiles;
}

PPS_API const struct pps_convert_profile *pps_convert_profile(const struct pps_convert *c,
							      size_t i)
{
	return i < c->nr_profiles ? &c->profiles[i]->pub : NULL;
}

PPS_API const struct pps_convert_stats *pps_convert_stats(const struct pps_convert *c)
{
	return &c->stats;
}

struct each_ctx {
	void (*fn)(const char *path, const char *why, void *ctx);
	void *ctx;
};

static void each_file(const char *path, const struct pps_sym_file *f, void *ctx)
{
	struct each_ctx *e = ctx;

	e->fn(path, f->status == PPS_SYM_OK ? "" : pps_sym_status_str(f->status), e->ctx);
}

PPS_API void pps_convert_for_each_binary(const struct pps_convert *c,
					 void (*fn)(const char *path, const char *why, void *ctx),
					 void *ctx)
{
	struct each_ctx e = {fn, ctx};

	if (c->sym)
		pps_symbolizer_for_each_file(c->sym, each_file, &e);
}
