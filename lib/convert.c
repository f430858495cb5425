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
#include <time.h>

#include <pprofstore/convert.h>

#include "internal/machine.h"
#include "internal/prefetch.h"
#include "internal/profile.h"
#include "internal/symbolizer.h"
#include "internal/tracepoint.h"
#include "internal/unwind.h"
#include "internal/waits.h"
#include "internal/util.h"

/* Longest stack kept; perf's own default limit (kernel.perf_event_max_stack) is 127. */
#define MAX_STACK 1024
/* New stacks in flight: their profile look-ups (a cache miss each) overlap the next ones'
 * conversion. */
#define NR_PENDING 8
/* Records ahead whose memo look-ups are under way: read_records(). */
#define NR_AHEAD 4

/* What phase 2 needs to symbolize one location. */
struct loc_info {
	const char *filename; /* interned by the machine; NULL: no map */
	uint64_t start, end, pgoff;
	uint64_t addr;	 /* the address looked up (return address - 1 for callers) */
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
	} * slots;
	size_t cap, used;
};

/*
 * The samples seen so far by their raw key: profile, pid and tid, the generations of the
 * process's and the kernel's address spaces, the thread's name, cpu (when labelled),
 * cpumode and raw callchain. Two samples with the same key are the same pprof sample, so
 * a repeat adds its values without resolving a frame. A side-band record that changes an
 * address space gives it a new generation, so older keys simply stop matching.
 *
 * Keys are not kept: an entry holds a 96-bit fingerprint of its key, two hashes computed
 * independently, so a lookup touches one cache line and an entry costs 16 bytes whatever
 * its stack's depth. Two keys with the same fingerprint would add one's values to the
 * other's sample; among n unique keys that happens with a probability of about n^2 / 2^97,
 * under 2^-50 for ten million unique stacks. Open addressing, at most half full.
 */
struct memo_fp {
	uint64_t h1; /* picks the slot */
	uint32_t h2;
};
struct memo {
	struct memo_slot {
		uint64_t h1;
		uint32_t h2;
		uint32_t ref; /* the profile's sample ref; 0: empty */
	} * slots;
	size_t cap, used;
};

/* What a profile is made of. */
enum prof_kind {
	KIND_EVENT, /* samples of one event: cpu, or the event's own */
	KIND_BLOCK, /* off-CPU waits from sched:sched_switch */
	KIND_MUTEX, /* lock waits from lock:contention_* and futex syscalls */
};
/* Profile keys of the wait profiles: above any event index. */
#define KEY_BLOCK 0xfffffff0u
#define KEY_MUTEX 0xfffffff1u

/* What a tracepoint event means to the converter, decided on its first sample. */
enum tp_role {
	TP_UNKNOWN = 0, /* not looked at yet */
	TP_NONE,	/* an ordinary event */
	TP_SCHED_SWITCH,
	TP_LOCK_BEGIN,
	TP_LOCK_END,
	TP_FUTEX_ENTER,
	TP_FUTEX_EXIT,
};

struct tp_info {
	enum tp_role role;
	const struct pps_tp_field *f[3]; /* the fields the role reads, in its order */
	struct pps_tp_event *event;
};

/*
 * A sample's label set as add_sample() makes it, as a key: the same key, the same labels.
 * No padding (compared with memcmp()); comm zero-padded, and a name too long for it is
 * not remembered.
 */
struct label_key {
	int64_t bucket;
	int32_t pid, tid;
	uint32_t cpu;
	uint8_t truncated, has_bucket, pad[2];
	char comm[24];
};

/* Label sets of recent new samples, with their canonical ids in the profile. */
#define NR_LABEL_MEMO 64
struct label_memo {
	struct label_key key;
	size_t n; /* 0: empty */
	struct pps_label_ids ids[PPS_PREP_LABELS];
};

struct conv_profile {
	struct pps_convert_profile pub;
	enum prof_kind kind;
	char *type, *event; /* owned; pub's point here */
	size_t evsel_idx;
	bool cpu;
	struct loc_cache cache;
	struct loc_info *locs; /* locs[id - 1] */
	size_t nr_locs, locs_cap;
	uint64_t nr_dwarf, nr_dwarf_truncated; /* DWARF-unwound samples, cut short ones */
	struct label_memo *lmemo; /* NR_LABEL_MEMO, by tid; NULL until a sample needs it */
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
	} * prof_idx;
	size_t prof_cap;
	/* find_profile()'s last event profile: its evsel, pid (-1 unless grouped), key */
	const struct pps_evsel *last_evsel;
	int32_t last_pid;
	uint64_t last_key;
	struct conv_profile *last_cp;
	struct pps_convert_stats stats;
	uint64_t first_time, last_time; /* of samples kept, PPS_NO_TIME when none */
	uint64_t first_seen;		/* of all samples: the origin of from/to */
	uint64_t max_time; /* of all samples, waits included: where pending waits end */
	/* Tracepoint waits. */
	struct pps_tracepoints *tp;
	bool tp_tried;
	struct tp_info *tps; /* by evsel index */
	size_t nr_tps;
	struct pps_waits *offcpu, *klock, *futex;
	uint64_t nr_tp_undecodable;    /* tracepoint samples whose fields could not be read */
	uint64_t nr_switch_ins;	       /* PERF_RECORD_SWITCH switch-ins seen */
	bool kernel_told;	       /* tell_symbolizer() ran (for lock symbols or prefetching) */
	struct pps_reader *reader;     /* during pps_convert_run() */
	struct pps_prefetch *prefetch; /* symbolizing on a second thread while reading */
	bool prefetch_tried;
	struct memo *memo;
	struct pps_unwind *unwind; /* made on the first sample with user stacks */
	bool has_cpu_profile;
	bool window_done; /* live: pps_convert_flush() handed out the profiles of a window */
	uint64_t stack[MAX_STACK];
	struct frame {
		const struct pps_map *map; /* NULL: in no map */
		uint64_t gen, addr;
		uint64_t hash; /* cache_hash(gen, addr) */
		bool kernel;
	} frames[MAX_STACK]; /* resolve_stack()'s, before they are locations */
	/* New stacks whose profile look-ups are under way (pending_push()); none outside
	 * read_records(). */
	struct pending {
		struct conv_profile *cp;
		struct pps_sample_prep prep;
		struct memo_fp fp;
		bool memo; /* remember fp -> the sample */
		int64_t values[2];
		uint64_t locs[MAX_STACK];
	} pending[NR_PENDING];
	/* pending[i].fp.h1 when it is to be remembered, else 0: what pending_find() scans,
	 * in one cache line. */
	uint64_t pending_h1[NR_PENDING];
	size_t pending_head, nr_pending;
};

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
	if (!c->opts.want)
		c->opts.want = PPS_WANT_EVENTS | PPS_WANT_BLOCK | PPS_WANT_MUTEX;
	c->first_time = c->last_time = c->first_seen = c->max_time = PPS_NO_TIME;
	c->memo = calloc(1, sizeof(*c->memo));
	if (c->memo) {
		c->memo->cap = 4096;
		c->memo->slots = calloc(c->memo->cap, sizeof(*c->memo->slots));
	}
	c->offcpu = pps_waits_new();
	c->klock = pps_waits_new_keyed();
	c->futex = pps_waits_new();
	if (!c->memo || !c->memo->slots || !c->offcpu || !c->klock || !c->futex)
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
		free(cp->lmemo);
		free(cp);
	}
	free(c->profiles);
	free(c->prof_idx);
	if (c->memo) {
		free(c->memo->slots);
		free(c->memo);
	}
	free(c->tps);
	pps_tracepoints_free(c->tp);
	pps_waits_free(c->offcpu);
	pps_waits_free(c->klock);
	pps_waits_free(c->futex);
	pps_prefetch_free(c->prefetch);
	pps_symbolizer_free(c->sym);
	pps_unwind_free(c->unwind);
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
	const struct perf_event_attr *a = e ? pps_evsel_attr(e) : NULL;
	struct pps_profile *p = cp->pub.profile;
	const char *s;
	char buf[512];
	int err;

	(void)c;
	if (cp->kind != KIND_EVENT) {
		/* As Go's block and mutex profiles. */
		err = pps_profile_add_sample_type(p, "contentions", "count");
		err = err ?: pps_profile_add_sample_type(p, "delay", "nanoseconds");
		err = err ?: pps_profile_set_period(p, "contentions", "count", 1);
	} else if (cp->cpu) {
		err = pps_profile_add_sample_type(p, "samples", "count");
		err = err ?: pps_profile_add_sample_type(p, "cpu", "nanoseconds");
		err =
		    err ?: pps_profile_set_period(p, "cpu", "nanoseconds", nominal_period(a, true));
	} else {
		err = pps_profile_add_sample_type(p, "samples", "count");
		err = err ?: pps_profile_add_sample_type(p, cp->pub.event, "count");
		err = err
			  ?: pps_profile_set_period(p, cp->pub.event, "count",
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
static const char *const kind_type[] = {
    [KIND_BLOCK] = "block",
    [KIND_MUTEX] = "mutex",
};
static const char *const kind_event[] = {
    [KIND_BLOCK] = "sched:sched_switch (off-CPU time)",
    [KIND_MUTEX] = "lock:contention_begin/end, syscalls:sys_enter/exit_futex (lock waits)",
};

/* The profile of (e or kind, pid), when made already. */
static struct conv_profile *find_profile(struct pps_convert *c, const struct pps_evsel *e,
					 enum prof_kind kind, int32_t pid, uint64_t *key_out)
{
	uint64_t key, idx;

	if (!c->opts.group_by_pid)
		pid = -1;
	/* Nearly every sample is of the event and process group of the one before. */
	if (kind == KIND_EVENT && e == c->last_evsel && pid == c->last_pid && c->last_cp) {
		*key_out = c->last_key;
		return c->last_cp;
	}
	idx = kind == KIND_BLOCK ? KEY_BLOCK : kind == KIND_MUTEX ? KEY_MUTEX : pps_evsel_idx(e);
	key = idx << 32 | (uint32_t)pid;
	*key_out = key;
	if (!c->prof_cap)
		return NULL;
	for (size_t i = pps_mix64(key) & (c->prof_cap - 1); c->prof_idx[i].ref;
	     i = (i + 1) & (c->prof_cap - 1)) {
		if (c->prof_idx[i].key == key) {
			struct conv_profile *cp = c->profiles[c->prof_idx[i].ref - 1];

			if (kind == KIND_EVENT) {
				c->last_evsel = e;
				c->last_pid = pid;
				c->last_key = key;
				c->last_cp = cp;
			}
			return cp;
		}
	}
	return NULL;
}

/* The profile of (evsel, pid) for KIND_EVENT, or of (kind, pid) for the wait profiles (e
 * NULL), created on first use; NULL on ENOMEM. */
static struct conv_profile *get_profile_kind(struct pps_convert *c, struct pps_reader *r,
					     struct pps_evsel *e, enum prof_kind kind, int32_t pid)
{
	struct conv_profile *cp;
	uint64_t key, idx;
	size_t i;

	cp = find_profile(c, e, kind, pid, &key);
	if (cp)
		return cp;
	idx = key >> 32;
	pid = (int32_t)(uint32_t)key; /* as find_profile() keyed it: -1 unless grouped by pid */
	if ((c->nr_profiles + 1) * 2 > c->prof_cap) {
		size_t ncap = c->prof_cap ? c->prof_cap * 2 : 16;
		struct prof_slot *n = pps_calloc_table(ncap, sizeof(*n));

		if (!n)
			return NULL;
		for (size_t j = 0; j < c->prof_cap; j++) {
			if (!c->prof_idx[j].ref)
				continue;
			for (i = pps_mix64(c->prof_idx[j].key) & (ncap - 1); n[i].ref;
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
	cp->kind = kind;
	cp->evsel_idx = idx;
	cp->pub.pid = pid;
	cp->cpu = kind == KIND_EVENT && is_cpu_event(pps_evsel_attr(e));
	if (kind != KIND_EVENT)
		cp->event = strdup(kind_event[kind]);
	else
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
	cp->type = strdup(kind != KIND_EVENT ? kind_type[kind]
			  : cp->cpu	     ? "cpu"
					     : (cp->event ? cp->event : "event"));
	cp->pub.type = cp->type;
	if (!cp->event || !cp->type || !cp->pub.profile || setup_profile(c, r, cp, e)) {
		pps_profile_free(cp->pub.profile);
		free(cp->event);
		free(cp->type);
		free(cp);
		return NULL;
	}
	c->profiles[c->nr_profiles++] = cp;
	for (i = pps_mix64(key) & (c->prof_cap - 1); c->prof_idx[i].ref;
	     i = (i + 1) & (c->prof_cap - 1))
		;
	c->prof_idx[i].key = key;
	c->prof_idx[i].ref = c->nr_profiles;
	return cp;
}

static struct conv_profile *get_profile(struct pps_convert *c, struct pps_reader *r,
					struct pps_evsel *e, int32_t pid)
{
	return get_profile_kind(c, r, e, KIND_EVENT, pid);
}

static uint64_t cache_hash(uint64_t gen, uint64_t addr)
{
	return pps_mix64(gen * 0x9e3779b97f4a7c15ULL ^ addr);
}

/* The slot of (gen, addr), whose cache_hash() is hash. */
static struct loc_slot *cache_slot(struct loc_cache *lc, uint64_t gen, uint64_t addr, uint64_t hash)
{
	size_t i;

	for (i = hash & (lc->cap - 1);; i = (i + 1) & (lc->cap - 1)) {
		struct loc_slot *s = &lc->slots[i];

		if (!s->id || (s->gen == gen && s->addr == addr))
			return s;
	}
}

static int cache_grow(struct loc_cache *lc)
{
	struct loc_cache n = {.cap = lc->cap ? lc->cap * 2 : 1024};

	n.slots = pps_calloc_table(n.cap, sizeof(*n.slots));
	if (!n.slots)
		return -ENOMEM;
	for (size_t i = 0; i < lc->cap; i++)
		if (lc->slots[i].id)
			*cache_slot(&n, lc->slots[i].gen, lc->slots[i].addr,
				    cache_hash(lc->slots[i].gen, lc->slots[i].addr)) = lc->slots[i];
	n.used = lc->used;
	free(lc->slots);
	*lc = n;
	return 0;
}

static int tell_symbolizer(struct pps_convert *c, struct pps_reader *r);

/* What the symbolizer needs to know of a location's map. */
static void loc_sym_map(const struct loc_info *li, struct pps_sym_map *sm)
{
	*sm = (struct pps_sym_map){
	    .filename = li->filename,
	    .start = li->start,
	    .len = li->end - li->start,
	    .pgoff = li->pgoff,
	    .build_id = li->build_id_size ? li->build_id : NULL,
	    .build_id_size = li->build_id_size,
	    .pid = li->pid,
	    .kernel = li->kernel,
	};
}

/*
 * Starts symbolizing on a second thread, once the symbolizer can be told all it must know
 * before a lookup: the build-ids (in the header of a file; a pipe sends them at its end,
 * so a pipe gets no prefetching) and the kernel map (the first records of a recording).
 */
static void prefetch_start(struct pps_convert *c)
{
	uint64_t ref_addr;
	const char *ref_sym;

	if (!c->sym || !c->reader || pps_reader_is_pipe(c->reader)) {
		c->prefetch_tried = true;
		return;
	}
	if (!pps_machine_kernel_ref(c->machine, &ref_addr, &ref_sym))
		return; /* not yet */
	c->prefetch_tried = true;
	if (!c->kernel_told) {
		if (tell_symbolizer(c, c->reader))
			return;
		c->kernel_told = true;
	}
	c->prefetch = pps_prefetch_new(c->sym); /* NULL: symbolize afterwards, as without */
}

/* Finds addr's map as seen by (pid, kernel) now, and starts loading its cache slot. */
static void frame_find(struct pps_convert *c, struct conv_profile *cp, int32_t pid, bool kernel,
		       uint64_t addr, struct frame *f)
{
	uint64_t gen;

	f->addr = addr;
	f->kernel = kernel;
	f->map = pps_machine_find_map(c->machine, pid, kernel, addr, &gen);
	/* Keyed by the map, not the address space's generation: a process's unrelated
	 * mmaps, and forks of it, keep their cached locations. Unmapped: the address alone
	 * is the key (uids >= 2). */
	f->gen = f->map ? f->map->uid : kernel;
	f->hash = cache_hash(f->gen, addr);
	/* A stack's slots are scattered over a table much bigger than the caches: asking
	 * for all of them before using the first overlaps the misses. */
	if (cp->cache.cap)
		__builtin_prefetch(&cp->cache.slots[f->hash & (cp->cache.cap - 1)]);
}

/* The location id of frame f (from frame_find(), for pid); 0 on ENOMEM. */
static uint64_t frame_location(struct pps_convert *c, struct conv_profile *cp, int32_t pid,
			       const struct frame *f)
{
	const struct pps_map *m = f->map;
	bool kernel = f->kernel;
	uint64_t addr = f->addr, gen = f->gen;
	struct loc_info *li;
	struct loc_slot *s;
	uint64_t id, mapping_id = 0;

	if ((cp->cache.used + 1) * 2 > cp->cache.cap && cache_grow(&cp->cache))
		return 0;
	s = cache_slot(&cp->cache, gen, addr, f->hash);
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
			pps_hex(m->build_id, m->build_id_size, bid);
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
			if (!c->prefetch_tried)
				prefetch_start(c);
			if (c->prefetch) {
				struct pps_sym_map sm;

				loc_sym_map(li, &sm);
				pps_prefetch_push(c->prefetch, &sm, addr);
			}
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
	*kernel =
	    ip == PERF_CONTEXT_KERNEL || ip == PERF_CONTEXT_HV || ip == PERF_CONTEXT_GUEST_KERNEL;
	return true;
}

/* Whether time is inside --from/--to (always, without them). */
static bool in_window(const struct pps_convert *c, uint64_t time)
{
	uint64_t off;

	if (!c->opts.from_ns && !c->opts.to_ns)
		return true;
	if (time == PPS_NO_TIME || c->first_seen == PPS_NO_TIME)
		return false;
	off = time - c->first_seen;
	return off >= c->opts.from_ns && (!c->opts.to_ns || off < c->opts.to_ns);
}

/*
 * The PPS_BUCKET_LABEL of perf time t into *l (opts.bucket_ns); false when there is none
 * (no bucket_ns, no time, or a time outside int64 ns). The bucket is part of the memo's key.
 */
static bool bucket_label(struct pps_convert *c, uint64_t time, struct pps_label *l)
{
	int64_t w = c->opts.bucket_ns, t, q;

	if (w <= 0 || time == PPS_NO_TIME || time > INT64_MAX ||
	    __builtin_add_overflow((int64_t)time, c->opts.wall_offset_ns, &t))
		return false;
	q = t / w - (t % w < 0);
	if (__builtin_mul_overflow(q, w, &t))
		return false;
	*l = (struct pps_label){.key = PPS_BUCKET_LABEL, .num = t};
	return true;
}

static bool passes(const struct pps_convert *c, const struct pps_sample *s, const char *comm)
{
	int32_t pid = (int32_t)s->pid, tid = (int32_t)s->tid;

	if (!in_window(c, s->time))
		return false;
	if (c->opts.nr_pids && !in_list(c->opts.pids, c->opts.nr_pids, pid))
		return false;
	if (c->opts.nr_tids && !in_list(c->opts.tids, c->opts.nr_tids, tid))
		return false;
	return !c->opts.comm || !strcmp(c->opts.comm, comm);
}

/* The thread's name, or what perf shows for one it never saw named: "swapper" for the
 * idle task (tid 0, named by perf_session__register_idle_thread), else ":TID". */
static const char *thread_comm(const struct pps_thread *t, char *buf, size_t size)
{
	if (*t->comm)
		return t->comm;
	if (t->tid == 0)
		return "swapper";
	snprintf(buf, size, ":%" PRId32, t->tid);
	return buf;
}

/* ---- block and mutex: waits from tracepoints -------------------------------------- */

static int resolve_stack(struct pps_convert *c, struct conv_profile *cp, const struct pps_event *ev,
			 size_t *nr_out);
static int dwarf_event(struct pps_convert *c, struct pps_reader *r, struct conv_profile *cp,
		       const struct pps_event **ev, struct pps_event *tmp, bool *truncated);

/* perf lock contention's names for lock:contention_begin's flags (LCB_F_*). */
static const char *lock_type(uint32_t flags)
{
	enum { SPIN = 1, READ = 2, WRITE = 4, RT = 8, PERCPU = 16, MUTEX = 32 };

	switch (flags) {
	case SPIN:
		return "spinlock";
	case SPIN | READ:
		return "rwlock:R";
	case SPIN | WRITE:
		return "rwlock:W";
	case READ:
		return "rwsem:R";
	case WRITE:
		return "rwsem:W";
	case RT:
		return "rtmutex";
	case RT | READ:
		return "rwlock-rt:R";
	case RT | WRITE:
		return "rwlock-rt:W";
	case PERCPU | READ:
		return "pcpu-sem:R";
	case PERCPU | WRITE:
		return "pcpu-sem:W";
	case MUTEX:
	case MUTEX | SPIN:
		return "mutex";
	default:
		return "unknown";
	}
}

/* futex(2) operations that wait for a lock or a condition, private flag or not. */
static bool futex_waits(uint64_t op)
{
	switch (op & 127) { /* FUTEX_CMD_MASK: without PRIVATE (128) and CLOCK_REALTIME (256) */
	case 0:		    /* FUTEX_WAIT */
	case 6:		    /* FUTEX_LOCK_PI */
	case 9:		    /* FUTEX_WAIT_BITSET */
	case 11:	    /* FUTEX_WAIT_REQUEUE_PI */
	case 13:	    /* FUTEX_LOCK_PI2 */
		return true;
	default:
		return false;
	}
}

/* Marks a futex wait in pps_wait.flags (kernel lock flags use the low 6 bits). */
#define WAIT_FUTEX (1u << 31)

/* The role of e, decided on its first sample from its recorded tracepoint format. NULL
 * on ENOMEM. */
static struct tp_info *tp_info(struct pps_convert *c, struct pps_reader *r, struct pps_evsel *e)
{
	static const struct {
		const char *system, *name;
		enum tp_role role;
		const char *fields[3];
	} roles[] = {
	    {"sched", "sched_switch", TP_SCHED_SWITCH, {"prev_pid", "prev_state", "next_pid"}},
	    {"lock", "contention_begin", TP_LOCK_BEGIN, {"lock_addr", "flags", NULL}},
	    {"lock", "contention_end", TP_LOCK_END, {"lock_addr", NULL, NULL}},
	    {"syscalls", "sys_enter_futex", TP_FUTEX_ENTER, {"uaddr", "op", NULL}},
	    {"syscalls", "sys_exit_futex", TP_FUTEX_EXIT, {NULL, NULL, NULL}},
	};
	size_t idx = pps_evsel_idx(e);
	const struct perf_event_attr *a;
	struct pps_tp_event *tpe;
	struct tp_info *ti;

	if (idx >= c->nr_tps) {
		size_t n = idx + 8;
		struct tp_info *v = realloc(c->tps, n * sizeof(*v));

		if (!v)
			return NULL;
		memset(v + c->nr_tps, 0, (n - c->nr_tps) * sizeof(*v));
		c->tps = v;
		c->nr_tps = n;
	}
	ti = &c->tps[idx];
	if (ti->role != TP_UNKNOWN)
		return ti;
	ti->role = TP_NONE;
	a = pps_evsel_attr(e);
	if (a->type != PERF_TYPE_TRACEPOINT)
		return ti;
	if (!c->tp && !c->tp_tried) {
		size_t size = 0;
		const void *blob = pps_reader_tracing_data(r, &size);

		c->tp_tried = true;
		if (blob)
			c->tp = pps_tracepoints_new(blob, size);
		if (!c->tp && errno == ENOMEM)
			return NULL;
		if (!c->tp)
			pps_warn("%s: no usable tracepoint formats (TRACING_DATA): tracepoint "
				 "samples stay plain event profiles",
				 pps_reader_path(r));
	}
	if (!c->tp)
		return ti;
	tpe = pps_tracepoints_event(c->tp, a->config);
	if (!tpe)
		return ti;
	for (size_t i = 0; i < PPS_ARRAY_SIZE(roles); i++) {
		bool ok = true;

		if (strcmp(pps_tp_event_system(tpe), roles[i].system) ||
		    strcmp(pps_tp_event_name(tpe), roles[i].name))
			continue;
		for (size_t k = 0; k < 3 && roles[i].fields[k]; k++) {
			ti->f[k] = pps_tp_field(tpe, roles[i].fields[k]);
			ok &= ti->f[k] != NULL;
		}
		if (!ok) {
			pps_warn("%s: %s:%s lacks the fields it needs; kept as a plain event",
				 pps_reader_path(r), roles[i].system, roles[i].name);
			break;
		}
		ti->role = roles[i].role;
		ti->event = tpe;
		break;
	}
	return ti;
}

/* Tells the symbolizer the recording's build-ids and kernel (once; again is harmless). */
static int tell_symbolizer(struct pps_convert *c, struct pps_reader *r)
{
	size_t n = pps_reader_nr_build_ids(r);
	uint64_t ref_addr;
	const char *ref_sym;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		const struct pps_build_id *b = pps_reader_build_id(r, i);
		bool bk = b->cpumode == PERF_RECORD_MISC_KERNEL;

		if (b->filename && b->size)
			err = pps_symbolizer_add_build_id(c->sym, b->filename, bk, b->id, b->size);
	}
	if (!err && pps_machine_kernel_ref(c->machine, &ref_addr, &ref_sym))
		err =
		    pps_symbolizer_set_kernel(c->sym, ref_addr, ref_sym, pps_reader_os_release(r));
	return err;
}

/* The kernel symbol of a static lock's address, NULL when unknown. */
static const char *kernel_symbol(struct pps_convert *c, struct pps_reader *r, uint64_t addr)
{
	const char *sym;

	if (!c->sym || addr < 0xffff800000000000ULL)
		return NULL;
	if (!c->kernel_told) {
		uint64_t ref_addr;
		const char *ref_sym;

		/* The kernel map comes first in a recording; without it, wait. */
		if (!pps_machine_kernel_ref(c->machine, &ref_addr, &ref_sym))
			return NULL;
		if (tell_symbolizer(c, r))
			return NULL;
		c->kernel_told = true;
	}
	if (!c->prefetch)
		return pps_symbolizer_kernel_symbol(c->sym, addr);
	pps_prefetch_lock(c->prefetch);
	sym = pps_symbolizer_kernel_symbol(c->sym, addr);
	pps_prefetch_unlock(c->prefetch);
	return sym;
}

/* Adds a completed wait to the block or mutex profile of its process. */
static int add_wait(struct pps_convert *c, struct pps_reader *r, enum prof_kind kind,
		    const struct pps_wait *w)
{
	struct conv_profile *cp = get_profile_kind(c, r, NULL, kind, w->pid);
	struct pps_label labels[8];
	size_t nr = 0;
	struct pps_thread *t;
	int64_t values[2];
	char comm_buf[24], state[2], addr[24];

	if (!cp)
		return -ENOMEM;
	t = pps_machine_thread(c->machine, w->pid, w->tid);
	if (!t)
		return -ENOMEM;
	if (c->opts.labels & PPS_LABEL_PID)
		labels[nr++] = (struct pps_label){.key = "pid", .num = w->pid};
	if (c->opts.labels & PPS_LABEL_TID)
		labels[nr++] = (struct pps_label){.key = "tid", .num = w->tid};
	if (c->opts.labels & PPS_LABEL_COMM)
		labels[nr++] = (struct pps_label){
		    .key = "comm", .str = thread_comm(t, comm_buf, sizeof(comm_buf))};
	if (c->opts.labels & PPS_LABEL_CPU)
		labels[nr++] = (struct pps_label){.key = "cpu", .num = w->cpu};
	if (kind == KIND_BLOCK) {
		state[0] = (char)w->flags;
		state[1] = '\0';
		labels[nr++] = (struct pps_label){.key = "state", .str = state};
	} else {
		snprintf(addr, sizeof(addr), "%#" PRIx64, w->key);
		labels[nr++] = (struct pps_label){
		    .key = "lock", .str = w->flags & WAIT_FUTEX ? "futex" : lock_type(w->flags)};
		labels[nr++] = (struct pps_label){.key = "addr", .str = addr};
		if (!(w->flags & WAIT_FUTEX)) {
			const char *sym = kernel_symbol(c, r, w->key);

			if (sym)
				labels[nr++] = (struct pps_label){.key = "symbol", .str = sym};
		}
	}
	/* A piece cut at a window's end belongs to that window: [start, end). */
	if (bucket_label(c, w->continues && w->end > w->start ? w->end - 1 : w->end, &labels[nr]))
		nr++;
	values[0] = w->continues ? 0 : 1; /* a wait's contention counts once, where it ends */
	values[1] = (int64_t)(w->end - w->start);
	cp->pub.nr_samples++;
	return pps_profile_add_sample(cp->pub.profile, w->stack, w->nr_stack, values, labels, nr);
}

/* Starts a wait for the sample's thread with the sample's stack in kind's profile. */
static int start_wait(struct pps_convert *c, struct pps_reader *r, const struct pps_event *ev,
		      enum prof_kind kind, struct pps_waits *waits, int32_t tid, uint64_t key,
		      uint32_t flags)
{
	const struct pps_sample *s = &ev->sample;
	struct conv_profile *cp = get_profile_kind(c, r, NULL, kind, (int32_t)s->pid);
	struct pps_wait_start ws;
	struct pps_event uev;
	bool truncated;
	size_t nr = 0;
	int err;

	if (!cp)
		return -ENOMEM;
	err = dwarf_event(c, r, cp, &ev, &uev, &truncated);
	if (err)
		return err;
	err = resolve_stack(c, cp, ev, &nr);
	if (err)
		return err;
	ws = (struct pps_wait_start){
	    .pid = (int32_t)s->pid,
	    .tid = tid,
	    .time = s->time,
	    .stack = c->stack,
	    .nr_stack = nr,
	    .key = key,
	    .flags = flags,
	    .cpu = s->cpu,
	};
	return pps_waits_start(waits, &ws);
}

/*
 * A sample of sched_switch, lock contention or futex tracepoints: the start or the end
 * of a wait. pass: the sample passes the filters (which apply to where waits start).
 */
static int on_wait_event(struct pps_convert *c, struct pps_reader *r, const struct pps_event *ev,
			 struct tp_info *ti, bool pass)
{
	const struct pps_sample *s = &ev->sample;
	uint64_t v[3] = {0, 0, 0};
	struct pps_wait w;
	int32_t tid = (int32_t)s->tid;
	int ret;

	if (s->time == PPS_NO_TIME)
		goto undecodable;
	for (size_t k = 0; k < 3 && ti->f[k]; k++)
		if (pps_tp_read_u64(ti->f[k], s->raw_data, s->raw_size, &v[k]))
			goto undecodable;

	switch (ti->role) {
	case TP_SCHED_SWITCH: {
		int32_t prev = (int32_t)v[0], next = (int32_t)v[2];
		bool preempted = false;
		char st;

		/* The thread coming back ends its wait; idle (0) never waits. */
		if (next > 0) {
			ret = pps_waits_end(c->offcpu, next, s->time, 0, false, &w);
			if (ret > 0 && (ret = add_wait(c, r, KIND_BLOCK, &w)))
				return ret;
		}
		st = pps_tp_sched_state(ti->event, v[1], &preempted);
		if (prev <= 0)
			return 0;
		/* A thread leaving the CPU was running: a wait still pending for it lost its
		 * end (a switch-in that was not recorded). It is dropped, not counted on. */
		/* A dying thread's last switch-out (X, Z) starts no wait: it is not blocked,
		 * and would count as off-CPU until the end of the recording. */
		if (!pass || (preempted && !c->opts.include_preempted) || st == 'X' || st == 'Z') {
			pps_waits_cancel(c->offcpu, prev);
			return 0;
		}
		return start_wait(c, r, ev, KIND_BLOCK, c->offcpu, prev, 0,
				  (uint32_t)(unsigned char)(preempted ? 'R' : st));
	}
	case TP_LOCK_BEGIN:
		return pass ? start_wait(c, r, ev, KIND_MUTEX, c->klock, tid, v[0],
					 (uint32_t)v[1] & 63)
			    : 0;
	case TP_LOCK_END:
		ret = pps_waits_end(c->klock, tid, s->time, v[0], true, &w);
		return ret > 0 ? add_wait(c, r, KIND_MUTEX, &w) : 0;
	case TP_FUTEX_ENTER:
		if (!futex_waits(v[1]) || !pass)
			return 0;
		return start_wait(c, r, ev, KIND_MUTEX, c->futex, tid, v[0], WAIT_FUTEX);
	case TP_FUTEX_EXIT:
		if (!pps_waits_pending(c->futex, tid))
			return 0;
		ret = pps_waits_end(c->futex, tid, s->time, 0, false, &w);
		return ret > 0 ? add_wait(c, r, KIND_MUTEX, &w) : 0;
	default:
		return 0;
	}

undecodable:
	c->nr_tp_undecodable++;
	return 0;
}

/*
 * PERF_RECORD_SWITCH (perf record --switch-events): a switch-in ends the thread's off-CPU
 * wait. Without -a, sched_switch samples show only the recorded threads switching out
 * (the switch-in fires in the context of the thread leaving the CPU), so these records
 * are how a per-thread recording finds the ends.
 */
static int on_switch_in(struct pps_convert *c, struct pps_reader *r, const struct pps_event *ev)
{
	const struct pps_sample *s = &ev->sample;
	struct pps_wait w;
	int ret;

	if (!(c->opts.want & PPS_WANT_BLOCK) || (ev->misc & PERF_RECORD_MISC_SWITCH_OUT) ||
	    s->time == PPS_NO_TIME || s->tid == UINT32_MAX || (int32_t)s->tid <= 0)
		return 0;
	c->nr_switch_ins++;
	if (!pps_waits_pending(c->offcpu, (int32_t)s->tid))
		return 0;
	ret = pps_waits_end(c->offcpu, (int32_t)s->tid, s->time, 0, false, &w);
	return ret > 0 ? add_wait(c, r, KIND_BLOCK, &w) : 0;
}

static int flush_block(const struct pps_wait *w, void *ctx)
{
	void **a = ctx;

	return add_wait(a[0], a[1], KIND_BLOCK, w);
}

static int flush_mutex(const struct pps_wait *w, void *ctx)
{
	void **a = ctx;

	return add_wait(a[0], a[1], KIND_MUTEX, w);
}

/*
 * The sample's stack as location ids of cp, leaf first, into c->stack (*nr entries):
 * the callchain (its first address is the sample ip), else the ip. Returns 0 or -ENOMEM.
 */
static int resolve_stack(struct pps_convert *c, struct conv_profile *cp, const struct pps_event *ev,
			 size_t *nr_out)
{
	const struct pps_sample *s = &ev->sample;
	uint16_t cpumode = ev->misc & PERF_RECORD_MISC_CPUMODE_MASK;
	bool kernel = cpumode == PERF_RECORD_MISC_KERNEL || cpumode == PERF_RECORD_MISC_HYPERVISOR;
	bool guest =
	    cpumode == PERF_RECORD_MISC_GUEST_KERNEL || cpumode == PERF_RECORD_MISC_GUEST_USER;
	int32_t pid = (int32_t)s->pid;
	bool leaf = true;
	size_t nr = 0;

	/* Maps first, then locations: see frame_find(). */
	for (uint64_t i = 0; i < s->callchain_nr && nr < MAX_STACK; i++) {
		uint64_t ip = s->callchain[i];

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
		frame_find(c, cp, pid, kernel, leaf ? ip : ip - 1, &c->frames[nr++]);
		leaf = false;
	}
	if (!nr && !s->callchain_nr && s->ip && !guest)
		frame_find(c, cp, pid, kernel, s->ip, &c->frames[nr++]);
	for (size_t i = 0; i < nr; i++) {
		c->stack[i] = frame_location(c, cp, pid, &c->frames[i]);
		if (!c->stack[i])
			return -ENOMEM;
	}
	*nr_out = nr;
	return 0;
}

/* The slot of fp: its entry's, or the empty one to fill. */
static struct memo_slot *memo_slot(struct memo *m, const struct memo_fp *fp)
{
	for (size_t i = fp->h1 & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct memo_slot *s = &m->slots[i];

		if (!s->ref || (s->h1 == fp->h1 && s->h2 == fp->h2))
			return s;
	}
}

/* Forgets every entry (their refs are samples of profiles handed out), keeping the
 * memory. */
static void memo_clear(struct memo *m)
{
	memset(m->slots, 0, m->cap * sizeof(*m->slots));
	m->used = 0;
}

/* Remembers fp -> ref in slot (from memo_slot()). Returns 0 or -ENOMEM; a ref the slot
 * cannot hold is not remembered. */
static int memo_insert(struct memo *m, struct memo_slot *slot, const struct memo_fp *fp, size_t ref)
{
	struct memo_slot *old = m->slots;
	size_t ocap = m->cap;

	if (ref > UINT32_MAX)
		return 0;
	if ((m->used + 1) * 2 > m->cap) {
		m->slots = pps_calloc_table(2 * ocap, sizeof(*m->slots));
		if (!m->slots) {
			m->slots = old;
			return -ENOMEM;
		}
		m->cap = 2 * ocap;
		for (size_t i = 0; i < ocap; i++) {
			const struct memo_fp e = {old[i].h1, old[i].h2};

			if (old[i].ref)
				*memo_slot(m, &e) = old[i];
		}
		free(old);
		slot = memo_slot(m, fp);
	}
	*slot = (struct memo_slot){.h1 = fp->h1, .h2 = fp->h2, .ref = (uint32_t)ref};
	m->used++;
	return 0;
}

/* ---- DWARF call graphs ------------------------------------------------------------ */

/* The unwinder, told the recording's build-ids; NULL on ENOMEM. */
static struct pps_unwind *get_unwind(struct pps_convert *c, struct pps_reader *r)
{
	struct pps_unwind_opts uo = {
	    .sz = sizeof(uo),
	    .arch = pps_reader_arch(r),
	    .symfs = c->opts.symfs,
	    .buildid_dir = c->opts.buildid_dir,
	    .debuginfod = c->opts.debuginfod,
	    .max_frames = MAX_STACK,
	};
	size_t n = pps_reader_nr_build_ids(r);
	const struct pps_build_id *kernel = NULL;

	if (c->unwind)
		return c->unwind;
	for (size_t i = 0; i < n; i++) {
		const struct pps_build_id *b = pps_reader_build_id(r, i);

		if (b->filename && b->cpumode == PERF_RECORD_MISC_KERNEL &&
		    !strncmp(b->filename, "[kernel.kallsyms]", 17))
			kernel = b;
	}
	uo.proc_roots = pps_sym_kernel_is_running(kernel ? kernel->id : NULL,
						  kernel ? kernel->size : 0,
						  pps_reader_os_release(r));
	c->unwind = pps_unwind_new(c->machine, &uo);
	for (size_t i = 0; c->unwind && i < n; i++) {
		const struct pps_build_id *b = pps_reader_build_id(r, i);

		if (b->filename && b->cpumode != PERF_RECORD_MISC_KERNEL &&
		    pps_unwind_add_build_id(c->unwind, b->filename, b->id, b->size)) {
			pps_unwind_free(c->unwind);
			c->unwind = NULL;
		}
	}
	return c->unwind;
}

/*
 * A sample with user registers and stack (perf record --call-graph dwarf): *ev becomes
 * tmp, a copy whose callchain has the unwound user stack in place of the recorded user
 * part (see unwind.h), valid until the next sample; *truncated says whether that stack
 * was cut short. Other samples are left alone. 0 or -ENOMEM.
 */
static int dwarf_event(struct pps_convert *c, struct pps_reader *r, struct conv_profile *cp,
		       const struct pps_event **ev, struct pps_event *tmp, bool *truncated)
{
	struct pps_unwind_result res;
	int ret;

	*truncated = false;
	if (!pps_unwind_wanted(&(*ev)->sample))
		return 0;
	if (!get_unwind(c, r))
		return -ENOMEM;
	ret = pps_unwind_sample(c->unwind, *ev, &res);
	if (ret <= 0)
		return ret;
	*tmp = **ev;
	tmp->sample.callchain = res.callchain;
	tmp->sample.callchain_nr = res.nr;
	*ev = tmp;
	*truncated = res.truncated;
	cp->nr_dwarf++;
	cp->nr_dwarf_truncated += res.truncated;
	c->stats.nr_dwarf_samples++;
	c->stats.nr_dwarf_truncated += res.truncated;
	return 0;
}

/* A comment on a profile whose stacks were unwound: how many were cut short (and, in
 * profiles of samples, labelled so). */
static int dwarf_comment(struct conv_profile *cp)
{
	char buf[160];

	if (!cp->nr_dwarf)
		return 0;
	snprintf(buf, sizeof(buf),
		 "dwarf unwinding: %" PRIu64 " of %" PRIu64 " user stacks truncated%s",
		 cp->nr_dwarf_truncated, cp->nr_dwarf,
		 cp->kind == KIND_EVENT ? " (label unwind=truncated)" : "");
	return pps_profile_add_comment(cp->pub.profile, buf);
}

/* The memo fingerprint (see struct memo) of sample ev of cp, by thread t, into fp; false
 * when the sample cannot be keyed. */
static bool memo_fp(const struct pps_convert *c, const struct conv_profile *cp,
		    const struct pps_thread *t, const struct pps_event *ev,
		    const struct pps_label *bucket, struct memo_fp *fp)
{
	const struct pps_sample *s = &ev->sample;
	uint16_t cpumode = ev->misc & PERF_RECORD_MISC_CPUMODE_MASK;
	const uint64_t *raw = s->callchain_nr ? s->callchain : &s->ip;
	uint64_t nr_raw = s->callchain_nr ? s->callchain_nr : 1, ugen, kgen, comm[2];
	uint64_t a = PPS_LANE_A, b = PPS_LANE_B;

	pps_machine_gens(c->machine, (int32_t)s->pid, &ugen, &kgen);
	if (nr_raw > MAX_STACK || cp->evsel_idx >= 1 << 16 || ugen > UINT32_MAX || kgen > INT32_MAX)
		return false;
	/* evsel (with pid, it picks the profile), cpumode, nr, cpu when labelled */
	pps_lanes_word(&a, &b,
		       (uint64_t)cp->evsel_idx << 48 | (uint64_t)(cpumode & 7) << 45 |
			   nr_raw << 32 | (c->opts.labels & PPS_LABEL_CPU ? s->cpu : 0));
	pps_lanes_word(&a, &b, (uint64_t)s->pid << 32 | s->tid);
	pps_lanes_word(&a, &b, ugen << 32 | kgen << 1 | (bucket != NULL));
	memcpy(comm, t->comm, sizeof(comm));
	pps_lanes_word(&a, &b, comm[0]);
	pps_lanes_word(&a, &b, comm[1]);
	if (bucket) /* said in the word of the generations */
		pps_lanes_word(&a, &b, (uint64_t)bucket->num);
	/* The reader's hash of the callchain when it made one (PPS_READER_CALLCHAIN_HASH):
	 * made on its thread, and this one need not read the callchain at all. A sample
	 * without it (a zero hash) is keyed by its words: a different key for the same stack,
	 * which at worst resolves that stack once more. */
	if (s->callchain_nr && (s->callchain_hash[0] | s->callchain_hash[1])) {
		pps_lanes_word(&a, &b, s->callchain_hash[0]);
		pps_lanes_word(&a, &b, s->callchain_hash[1]);
	} else {
		for (uint64_t i = 0; i < nr_raw; i++)
			pps_lanes_word(&a, &b, raw[i]);
	}
	fp->h1 = pps_mix64(a);
	fp->h2 = (uint32_t)(pps_mix64(b) >> 32);
	return true;
}

/* What memo_prefetch() found out about a sample ahead: its fingerprint, profile and
 * thread; and memo_prefetch_values() its memo entry's ref, 0 when it has none (yet). */
struct ahead {
	struct memo_fp fp;
	struct conv_profile *cp;
	const struct pps_thread *t;
	size_t ref;
	bool set;
};

/*
 * The fingerprint of ev, a sample after the one about to be converted, when the reader
 * has it decoded already; and starts loading its memo slot: the lookup is a cache miss on
 * every sample, and this way it overlaps the work on the samples before it. It stays
 * right for ev as long as only samples come in between (see read_records()): a sample's
 * conversion makes threads and profiles but frees none, nor changes one's name. It is
 * left out for all but plain samples of profiles and threads that exist. Sets a->set.
 */
static void memo_prefetch(struct pps_convert *c, const struct pps_event *ev, struct ahead *a)
{
	const struct pps_sample *s = &ev->sample;
	struct pps_label bucket;
	uint64_t unused;

	a->set = false;
	a->ref = 0;
	if (ev->type != PERF_RECORD_SAMPLE || !ev->evsel || s->read_split || pps_unwind_wanted(s))
		return;
	/* find_profile()'s first test, without the call */
	if (ev->evsel == c->last_evsel && c->last_cp &&
	    (c->opts.group_by_pid ? (int32_t)s->pid : -1) == c->last_pid)
		a->cp = c->last_cp;
	else
		a->cp = find_profile(c, ev->evsel, KIND_EVENT, (int32_t)s->pid, &unused);
	a->t = pps_machine_find_thread(c->machine, (int32_t)s->tid);
	if (!a->cp || !a->t ||
	    !memo_fp(c, a->cp, a->t, ev, bucket_label(c, s->time, &bucket) ? &bucket : NULL,
		     &a->fp))
		return;
	__builtin_prefetch(&c->memo->slots[a->fp.h1 & (c->memo->cap - 1)]);
	a->set = true;
}

/* The second step for a sample whose memo slot memo_prefetch() asked for a sample ago:
 * the slot is (most likely) in the cache now; a repeat's ref is kept in a (entries stay
 * until read_records() returns), and its values, the next miss, are asked for. */
static void memo_prefetch_values(struct pps_convert *c, struct ahead *a)
{
	const struct memo *m = c->memo;

	for (size_t i = a->fp.h1 & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		const struct memo_slot *slot = &m->slots[i];

		if (!slot->ref)
			return;
		if (slot->h1 == a->fp.h1 && slot->h2 == a->fp.h2) {
			a->ref = slot->ref;
			pps_profile_prefetch_values(a->cp->pub.profile, slot->ref);
			return;
		}
	}
}

/*
 * The oldest pending sample goes into its profile (its look-up slot asked for when it was
 * pushed), and into the memo. A later sample with the same raw key may have been pushed
 * too (see pending_find()): the profile finds it equal, and the memo has it already.
 */
static int pending_pop(struct pps_convert *c)
{
	struct pending *e = &c->pending[c->pending_head];
	struct memo_slot *slot;
	size_t ref;
	int err;

	c->pending_head = (c->pending_head + 1) % NR_PENDING;
	c->nr_pending--;
	err = pps_profile_prep_add(e->cp->pub.profile, &e->prep, e->values, &ref);
	if (err || !e->memo)
		return err;
	slot = memo_slot(c->memo, &e->fp);
	return slot->ref ? 0 : memo_insert(c->memo, slot, &e->fp, ref);
}

/* Every pending sample into its profile: before anyone looks at the profiles or the memo
 * (read_records() does it before it returns). */
static int pending_flush(struct pps_convert *c)
{
	int err = 0;

	while (c->nr_pending && !err)
		err = pending_pop(c);
	return err;
}

/* The pending sample with memo fingerprint fp, or NULL. */
static struct pending *pending_find(struct pps_convert *c, const struct memo_fp *fp)
{
	for (size_t i = 0; i < c->nr_pending; i++) {
		size_t k = (c->pending_head + i) % NR_PENDING;

		/* (A fingerprint with h1 0 is never found: its stack is resolved again, and
		 * the profile finds it equal.) */
		if (c->pending_h1[k] == fp->h1 && fp->h1 && c->pending[k].fp.h2 == fp->h2)
			return &c->pending[k];
	}
	return NULL;
}

/*
 * Queues the sample of c->stack (nr locations) with labels and values for cp's profile:
 * its labels are interned and its look-up started now, and it goes in when NR_PENDING
 * newer ones have come, or at pending_flush(). fp: its memo key, or NULL. lm: NULL, or
 * the label memo entry of the labels: when it holds lk, its ids are used and the labels
 * not looked at; else it takes lk and the labels' ids.
 */
static int pending_push(struct pps_convert *c, struct conv_profile *cp, size_t nr,
			const struct pps_label *labels, size_t nr_labels, const int64_t *values,
			const struct memo_fp *fp, struct label_memo *lm, const struct label_key *lk)
{
	bool known = lm && lm->n && !memcmp(&lm->key, lk, sizeof(*lk));
	struct pending *e;
	int err;

	if (c->nr_pending == NR_PENDING) {
		err = pending_pop(c);
		if (err)
			return err;
	}
	e = &c->pending[(c->pending_head + c->nr_pending) % NR_PENDING];
	if (nr)
		memcpy(e->locs, c->stack, nr * sizeof(*e->locs));
	if (known)
		err = pps_profile_prep_ids(cp->pub.profile, e->locs, nr, lm->ids, lm->n, &e->prep);
	else
		err = pps_profile_prep(cp->pub.profile, e->locs, nr, labels, nr_labels, &e->prep);
	if (err)
		return err;
	if (lm && !known && nr_labels) {
		memcpy(&lm->key, lk, sizeof(*lk));
		memcpy(lm->ids, e->prep.labels, nr_labels * sizeof(*lm->ids));
		lm->n = nr_labels;
	}
	e->cp = cp;
	e->memo = fp != NULL;
	if (fp)
		e->fp = *fp;
	c->pending_h1[e - c->pending] = fp ? fp->h1 : 0;
	e->values[0] = values[0];
	e->values[1] = values[1];
	c->nr_pending++;
	return 0;
}

/*
 * The label memo entry of the labels add_sample() gives a sample of pid and tid named comm
 * on cpu (which of them are labels is the same for all of cp's samples), with their key
 * in *lk; NULL when they cannot be remembered (a name longer than the key holds, no
 * memory).
 */
static struct label_memo *label_memo(struct conv_profile *cp, int32_t pid, int32_t tid,
				     const char *comm, uint32_t cpu, bool truncated,
				     const struct pps_label *bucket, struct label_key *lk)
{
	size_t len = strlen(comm);

	if (len >= sizeof(lk->comm))
		return NULL;
	if (!cp->lmemo && !(cp->lmemo = calloc(NR_LABEL_MEMO, sizeof(*cp->lmemo))))
		return NULL;
	memset(lk, 0, sizeof(*lk));
	memcpy(lk->comm, comm, len);
	lk->pid = pid;
	lk->tid = tid;
	lk->cpu = cpu;
	lk->truncated = truncated;
	lk->has_bucket = bucket != NULL;
	lk->bucket = bucket ? bucket->num : 0;
	return &cp->lmemo[(pps_mix64((uint64_t)(uint32_t)tid) >> 32) % NR_LABEL_MEMO];
}

/* Converts sample ev; pre: what memo_prefetch() found for it, or NULL. */
static int add_sample(struct pps_convert *c, struct pps_reader *r, const struct pps_event *ev,
		      const struct ahead *pre)
{
	const struct pps_sample *s = &ev->sample;
	int32_t pid = (int32_t)s->pid, tid = (int32_t)s->tid;
	struct pps_label labels[6], bucket;
	struct pps_event uev;
	bool truncated, has_bucket;
	struct conv_profile *cp;
	const struct pps_thread *t;
	size_t nr = 0, nr_labels = 0;
	int64_t values[2];
	char comm_buf[24];
	const char *comm;
	struct memo_slot *slot = NULL;
	struct label_key lk;
	struct memo_fp fp;
	int err;

	struct tp_info *ti;

	c->stats.nr_samples++;
	if (s->time != PPS_NO_TIME && c->first_seen == PPS_NO_TIME)
		c->first_seen = s->time;
	if (s->time != PPS_NO_TIME && (c->max_time == PPS_NO_TIME || s->time > c->max_time))
		c->max_time = s->time;
	/* Every profile spans the recording (or the --from/--to window of it), whatever
	 * its own samples: a cpu and a block profile of one recording line up. */
	if (s->time != PPS_NO_TIME && in_window(c, s->time)) {
		if (c->first_time == PPS_NO_TIME || s->time < c->first_time)
			c->first_time = s->time;
		if (c->last_time == PPS_NO_TIME || s->time > c->last_time)
			c->last_time = s->time;
	}
	/* The thread memo_prefetch() found, unless this sample moves it to another process. */
	t = pre && (pid <= 0 || pre->t->pid == pid) ? pre->t
						    : pps_machine_thread(c->machine, pid, tid);
	if (!t)
		return -ENOMEM;
	comm = thread_comm(t, comm_buf, sizeof(comm_buf));
	ti = tp_info(c, r, ev->evsel);
	if (!ti)
		return -ENOMEM;
	if (ti->role != TP_NONE) {
		unsigned int need = ti->role == TP_SCHED_SWITCH ? PPS_WANT_BLOCK : PPS_WANT_MUTEX;

		if (!(c->opts.want & need))
			goto filtered;
		return on_wait_event(c, r, ev, ti, passes(c, s, comm));
	}
	if (!(c->opts.want & PPS_WANT_EVENTS) || !passes(c, s, comm))
		goto filtered;

	cp = pre ? pre->cp : get_profile(c, r, ev->evsel, pid);
	if (!cp)
		return -ENOMEM;
	truncated = false;
	err = pps_unwind_wanted(s) ? dwarf_event(c, r, cp, &ev, &uev, &truncated) : 0;
	if (err)
		return err;
	s = &ev->sample;
	values[0] = 1;
	values[1] = (int64_t)(s->period ? s->period
					: (pps_evsel_attr(ev->evsel)->freq
					       ? 0
					       : pps_evsel_attr(ev->evsel)->sample_period));
	cp->pub.nr_samples++;

	has_bucket = bucket_label(c, s->time, &bucket);
	/* An unwound (DWARF) stack is keyed by its frames; one cut short is labelled so, and
	 * left out of the memo. */
	if (pre && pre->ref)
		return pps_profile_add_values(cp->pub.profile, pre->ref, values);
	if (pre)
		fp = pre->fp;
	if (!truncated && (pre || memo_fp(c, cp, t, ev, has_bucket ? &bucket : NULL, &fp))) {
		struct pending *e;

		slot = memo_slot(c->memo, &fp);
		if (slot->ref)
			return pps_profile_add_values(cp->pub.profile, slot->ref, values);
		e = pending_find(c, &fp);
		if (e) {
			/* Wraps around on overflow, as pps_profile_add_values(). */
			e->values[0] = (int64_t)((uint64_t)e->values[0] + (uint64_t)values[0]);
			e->values[1] = (int64_t)((uint64_t)e->values[1] + (uint64_t)values[1]);
			return 0;
		}
	}

	err = resolve_stack(c, cp, ev, &nr);
	if (err)
		return err;

	if (c->opts.labels & PPS_LABEL_PID)
		labels[nr_labels++] = (struct pps_label){.key = "pid", .num = pid};
	if (c->opts.labels & PPS_LABEL_TID)
		labels[nr_labels++] = (struct pps_label){.key = "tid", .num = tid};
	if (c->opts.labels & PPS_LABEL_COMM)
		labels[nr_labels++] = (struct pps_label){.key = "comm", .str = comm};
	if (c->opts.labels & PPS_LABEL_CPU)
		labels[nr_labels++] = (struct pps_label){.key = "cpu", .num = s->cpu};
	if (truncated)
		labels[nr_labels++] = (struct pps_label){.key = "unwind", .str = "truncated"};
	if (has_bucket)
		labels[nr_labels++] = bucket;
	return pending_push(c, cp, nr, labels, nr_labels, values, slot ? &fp : NULL,
			    label_memo(cp, pid, tid, comm,
				       c->opts.labels & PPS_LABEL_CPU ? s->cpu : 0, truncated,
				       has_bucket ? &bucket : NULL, &lk),
			    &lk);

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
		pps_hex(li->build_id, li->build_id_size, hex);
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
			pps_hex(b->id, b->size, hex);
			return;
		}
	}
}

/*
 * Function ids of symbolizer frames, keyed by the frame's string pointers: the
 * symbolizer interns its strings, so equal pointers are equal functions, and a hit
 * costs no string hashing. (A miss falls back to the profile's own dedup.)
 */
struct fn_cache {
	struct fn_slot {
		const char *name, *system_name, *file;
		int64_t start_line;
		uint64_t id; /* 0: empty */
	} * slots;
	size_t cap, used;
};

static struct fn_slot *fn_slot(struct fn_cache *fc, const struct pps_sym_frame *fr)
{
	uint64_t h = pps_mix64(
	    (uint64_t)(uintptr_t)fr->name ^
	    pps_mix64((uint64_t)(uintptr_t)fr->system_name ^
		      pps_mix64((uint64_t)(uintptr_t)fr->file ^ (uint64_t)fr->start_line)));
	size_t i;

	for (i = h & (fc->cap - 1);; i = (i + 1) & (fc->cap - 1)) {
		struct fn_slot *s = &fc->slots[i];

		if (!s->id || (s->name == fr->name && s->system_name == fr->system_name &&
			       s->file == fr->file && s->start_line == fr->start_line))
			return s;
	}
}

/* The profile's function id for fr; 0 on ENOMEM. */
static uint64_t function_id(struct fn_cache *fc, struct pps_profile *p,
			    const struct pps_sym_frame *fr)
{
	struct fn_slot *s;
	uint64_t id;

	if ((fc->used + 1) * 2 > fc->cap) {
		struct fn_cache n = {.cap = fc->cap ? fc->cap * 2 : 1024};

		n.slots = pps_calloc_table(n.cap, sizeof(*n.slots));
		if (!n.slots)
			return 0;
		for (size_t i = 0; i < fc->cap; i++) {
			const struct fn_slot *o = &fc->slots[i];
			struct pps_sym_frame k = {.name = o->name,
						  .system_name = o->system_name,
						  .file = o->file,
						  .start_line = o->start_line};

			if (o->id)
				*fn_slot(&n, &k) = *o;
		}
		n.used = fc->used;
		free(fc->slots);
		*fc = n;
	}
	s = fn_slot(fc, fr);
	if (s->id)
		return s->id;
	id = pps_profile_add_function(p, fr->name, fr->system_name, fr->file, fr->start_line);
	if (!id)
		return 0;
	s->name = fr->name;
	s->system_name = fr->system_name;
	s->file = fr->file;
	s->start_line = fr->start_line;
	s->id = id;
	fc->used++;
	return id;
}

/* Symbolizes every location of cp and fills in its mappings. */
static int finish_profile(struct pps_convert *c, struct pps_reader *r, struct conv_profile *cp)
{
	struct pps_profile *p = cp->pub.profile;
	struct mflags {
		bool fn, fl, ln, in, seen;
		char bid[41];
	} * mf;
	size_t nr_mappings = pps_profile_nr_mappings(p);
	struct pps_line *lines = NULL;
	struct fn_cache fc = {0};
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
		/* Once per mapping: the header's build-id list is searched linearly. */
		if (!f->seen) {
			map_build_id(r, li, bid);
			f->seen = true;
			memcpy(f->bid, bid, sizeof(bid));
		}
		if (!c->sym) {
			c->stats.nr_unresolved++;
			continue;
		}
		loc_sym_map(li, &sm);
		err = pps_symbolizer_lookup(c->sym, &sm, li->addr, &res);
		if (err)
			goto out;
		/* The flags say what this profile's locations got, not what the binary gave
		 * other profiles: they must not depend on what else was converted. Lines come
		 * from DWARF, whose inline scopes were then walked too. */
		for (size_t k = 0; k < res.nr_frames; k++) {
			f->fn |= res.frames[k].name[0] != '\0';
			f->fl |= res.frames[k].file[0] != '\0';
			f->ln |= res.frames[k].line != 0;
			f->in |= res.frames[k].line != 0 && !c->opts.no_inline;
		}
		if (res.file && !f->bid[0] && res.file->build_id_hex)
			snprintf(f->bid, sizeof(f->bid), "%s", res.file->build_id_hex);
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

			err = -ENOMEM;
			lines[k].function_id = function_id(&fc, p, fr);
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
	free(fc.slots);
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
	if (c->opts.bucket_ns > 0)
		start = (int64_t)c->first_time + c->opts.wall_offset_ns;
	else if (cd.has_clock_data && cd.tod_ns)
		start = (int64_t)cd.tod_ns + ((int64_t)c->first_time - (int64_t)cd.clockid_ns);
	else if (c->opts.end_wall_ns)
		start = c->opts.end_wall_ns - dur;
	for (size_t i = 0; i < c->nr_profiles; i++)
		pps_profile_set_time(c->profiles[i]->pub.profile, start, dur);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A leader-sampled record (see pps_sample.read_split): one sample of each counter that
 * grew, of its event, with the growth as period, as perf report shows them. */
static int add_read_samples(struct pps_convert *c, struct pps_reader *r, const struct pps_event *ev)
{
	for (uint32_t i = 0; i < ev->sample.nr_read_values; i++) {
		struct pps_event one = *ev;
		int err;

		one.evsel = ev->sample.read_values[i].evsel;
		one.sample.period = ev->sample.read_values[i].period;
		one.sample.read_split = false;
		one.sample.nr_read_values = 0;
		one.sample.read_values = NULL;
		err = add_sample(c, r, &one, NULL);
		if (err)
			return err;
	}
	return 0;
}

/* Converts records until the reader has none: returns its 0 (end), -EAGAIN (a fed reader
 * wants more bytes) or fatal error, or the converter's -ENOMEM. */
static int read_records(struct pps_convert *c, struct pps_reader *r)
{
	const struct pps_event *ev;
	/*
	 * Fingerprints of the records ahead, for record i in ahead[i % NR_AHEAD] when its
	 * set is: a sample's conversion changes none of what a key is made of (threads and
	 * profiles it creates had none to take), other records may, so they are dropped at
	 * any other record. Record i + 2's memo slot is asked for while record i is
	 * converted, and record i + 1's values (see memo_prefetch_values()).
	 */
	struct ahead ahead[NR_AHEAD] = {0};
	int ret;

	c->reader = r;
	for (size_t i = 0; (ret = pps_reader_next_ref(r, &ev)) > 0; i++) {
		struct ahead pre = ahead[i % NR_AHEAD];

		ahead[i % NR_AHEAD].set = false;
		if (ev->type == PERF_RECORD_SAMPLE) {
			const struct pps_event *next;
			size_t n = pps_reader_ahead(r, &next);
			struct ahead *a1 = &ahead[(i + 1) % NR_AHEAD],
				     *a2 = &ahead[(i + 2) % NR_AHEAD];

			if (n >= 1 && a1->set)
				memo_prefetch_values(c, a1);
			else if (n >= 1)
				memo_prefetch(c, &next[0], a1);
			if (n >= 2 && !a2->set)
				memo_prefetch(c, &next[1], a2);
		} else {
			for (size_t k = 0; k < NR_AHEAD; k++)
				ahead[k].set = false;
		}
		switch (ev->type) {
		case PERF_RECORD_SAMPLE:
			if (!ev->evsel)
				break;
			ret = ev->sample.read_split ? add_read_samples(c, r, ev)
						    : add_sample(c, r, ev, pre.set ? &pre : NULL);
			break;
		case PERF_RECORD_SWITCH:
		case PERF_RECORD_SWITCH_CPU_WIDE:
			ret = on_switch_in(c, r, ev);
			break;
		case PERF_RECORD_MMAP:
		case PERF_RECORD_MMAP2:
		case PERF_RECORD_COMM:
		case PERF_RECORD_FORK:
			ret = pps_machine_process(c->machine, ev->type, ev->misc, ev->raw);
			break;
		default:
			ret = 0;
			break;
		}
		if (ret < 0)
			return ret;
	}
	/* 0 or -EAGAIN: the caller may look at the profiles now. */
	return pending_flush(c) ?: ret;
}

PPS_API int pps_convert_run(struct pps_convert *c, struct pps_reader *r)
{
	uint64_t t0 = now_ns(), t1;
	int ret;

	ret = read_records(c, r);
	if (ret < 0)
		return ret;
	/* The symbolizer is this thread's again. */
	if (c->prefetch)
		pps_prefetch_finish(c->prefetch);
	t1 = now_ns();
	c->stats.read_ns = t1 - t0;
	if (pps_waits_stats(c->offcpu)->nr_starts && !pps_waits_stats(c->offcpu)->nr_ends &&
	    !c->nr_switch_ins)
		pps_warn(
		    "%s: sched_switch shows threads leaving the CPU but never one coming back: "
		    "a per-thread recording sees only its own threads switch out; record "
		    "with -a or with --switch-events for the block profile",
		    pps_reader_path(r));
	if (c->nr_tp_undecodable)
		pps_warn("%s: %" PRIu64 " tracepoint samples without a time or with fields "
			 "outside their raw data were left out",
			 pps_reader_path(r), c->nr_tp_undecodable);
	/* Threads still off-CPU count up to the last timestamp of the recording. */
	if (c->max_time != PPS_NO_TIME) {
		void *a[2] = {c, r};

		ret = pps_waits_flush(c->offcpu, c->max_time, flush_block, a);
		/* So do threads still in a futex wait. Kernel lock waits still open are left
		 * out, as perf lock contention leaves them: they last microseconds. */
		if (!ret)
			ret = pps_waits_flush(c->futex, c->max_time, flush_mutex, a);
		if (ret)
			return ret;
	}
	if (c->sym) {
		ret = tell_symbolizer(c, r);
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < c->nr_profiles; i++) {
		ret = finish_profile(c, r, c->profiles[i]);
		if (!ret)
			ret = dwarf_comment(c->profiles[i]);
		if (ret)
			return ret;
	}
	set_times(c, r);
	c->stats.symbolize_ns = now_ns() - t1;
	return 0;
}

/* ---- live capture: windows ---------------------------------------------------------- */

/* A profile's previous window while the next one takes its place. */
struct old_window {
	struct pps_profile *profile;
	struct loc_info *locs;
	size_t nr_locs;
};

struct remap_ctx {
	struct pps_convert *c;
	struct pps_reader *r;
	struct old_window *old;
	enum prof_kind kind;
};

/* The id in cp's new profile of a location of its old one (li); 0 on ENOMEM. */
static uint64_t carry_location(struct conv_profile *cp, const struct loc_info *li)
{
	uint64_t mapping_id = 0, id;

	if (li->filename) {
		char bid[41] = "";
		struct pps_mapping_info mi = {
		    .start = li->start,
		    .limit = li->end,
		    .offset = li->pgoff,
		    .file = li->filename,
		    .build_id = bid,
		};

		if (li->build_id_size)
			pps_hex(li->build_id, li->build_id_size, bid);
		mapping_id = pps_profile_add_mapping(cp->pub.profile, &mi);
		if (!mapping_id)
			return 0;
	}
	id = pps_profile_add_location(cp->pub.profile, mapping_id, li->addr, NULL, 0);
	if (!id || id <= cp->nr_locs)
		return id;
	if (id > cp->locs_cap) {
		size_t ncap = cp->locs_cap ? cp->locs_cap * 2 : 64;
		struct loc_info *n;

		while (ncap < id)
			ncap *= 2;
		n = realloc(cp->locs, ncap * sizeof(*n));
		if (!n)
			return 0;
		cp->locs = n;
		cp->locs_cap = ncap;
	}
	cp->locs[id - 1] = *li;
	cp->locs[id - 1].mapping_id = mapping_id;
	cp->locs[id - 1].unresolved = false;
	cp->nr_locs = id;
	return id;
}

/* A pending wait's stack, from its profile's old location ids to the new ones. */
static int remap_stack(int32_t pid, uint64_t *ids, size_t nr, void *ctx)
{
	struct remap_ctx *x = ctx;
	struct conv_profile *cp = get_profile_kind(x->c, x->r, NULL, x->kind, pid);
	size_t i = 0;

	if (!cp)
		return -ENOMEM;
	while (i < x->c->nr_profiles && x->c->profiles[i] != cp)
		i++;
	for (size_t k = 0; k < nr; k++) {
		/* A profile made by get_profile_kind() just now has no old window: only
		 * waits that started in a window have stacks, and their profiles exist. */
		if (i == x->c->nr_profiles || !ids[k] || ids[k] > x->old[i].nr_locs)
			return -EINVAL;
		ids[k] = carry_location(cp, &x->old[i].locs[ids[k] - 1]);
		if (!ids[k])
			return -ENOMEM;
	}
	return 0;
}

/*
 * Replaces every profile of the window that was handed out by an empty one of the same
 * type, keeping processes, maps and symbolization caches; pending waits get their stacks
 * in the new profiles. After a failure the converter can only be freed.
 */
static int next_window(struct pps_convert *c, struct pps_reader *r)
{
	struct old_window *old = calloc(c->nr_profiles + 1, sizeof(*old));
	struct remap_ctx x = {.c = c, .r = r, .old = old};
	size_t n = c->nr_profiles;
	int err = 0;

	if (!old)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		struct conv_profile *cp = c->profiles[i];

		old[i] = (struct old_window){cp->pub.profile, cp->locs, cp->nr_locs};
		cp->pub.profile = pps_profile_new();
		cp->locs = NULL;
		cp->nr_locs = cp->locs_cap = 0;
		cp->pub.nr_samples = 0;
		cp->nr_dwarf = cp->nr_dwarf_truncated = 0;
		if (cp->cache.slots)
			memset(cp->cache.slots, 0, cp->cache.cap * sizeof(*cp->cache.slots));
		cp->cache.used = 0;
		/* Its ids are the old profile's. */
		if (cp->lmemo)
			memset(cp->lmemo, 0, NR_LABEL_MEMO * sizeof(*cp->lmemo));
		err = cp->pub.profile
			  ? setup_profile(
				c, r, cp,
				cp->kind == KIND_EVENT ? pps_reader_evsel(r, cp->evsel_idx) : NULL)
			  : -ENOMEM;
	}
	/* Memo entries are refs to samples of the old profiles. */
	memo_clear(c->memo);
	x.kind = KIND_BLOCK;
	err = err ?: pps_waits_remap(c->offcpu, remap_stack, &x);
	x.kind = KIND_MUTEX;
	err = err ?: pps_waits_remap(c->klock, remap_stack, &x);
	err = err ?: pps_waits_remap(c->futex, remap_stack, &x);
	for (size_t i = 0; i < n; i++) {
		pps_profile_free(old[i].profile);
		free(old[i].locs);
	}
	free(old);
	c->window_done = false;
	return err;
}

PPS_API int pps_convert_feed(struct pps_convert *c, struct pps_reader *r)
{
	uint64_t t0 = now_ns();
	int ret = 0;

	if (c->window_done)
		ret = next_window(c, r);
	if (!ret)
		ret = read_records(c, r);
	c->stats.read_ns += now_ns() - t0;
	return ret == -EAGAIN ? 0 : ret;
}

PPS_API int pps_convert_flush(struct pps_convert *c, struct pps_reader *r, uint64_t start,
			      uint64_t end, bool last)
{
	void *a[2] = {c, r};
	uint64_t t0 = now_ns();
	struct pps_clock_data cd;
	int64_t wall = 0;
	int ret = 0;

	if (end < start)
		return -EINVAL;
	if (c->window_done)
		ret = next_window(c, r);
	/* A fed reader is a pipe, so no prefetcher starts (prefetch_start()); were one
	 * running, the symbolizer (not thread-safe) must be this thread's again before
	 * finish_profile(), and no later window may start another. */
	if (c->prefetch) {
		pps_prefetch_free(c->prefetch);
		c->prefetch = NULL;
	}
	c->prefetch_tried = true;
	/* Off-CPU and futex waits still open: the part inside this window counts here (the
	 * rest in the next ones), or, at the end, up to the end, as pps_convert_run() counts
	 * them up to the recording's last timestamp. Kernel lock waits last microseconds and
	 * count where they end, or not at all when the recording ends first, as perf lock
	 * contention does. */
	if (!ret && last) {
		ret = pps_waits_flush(c->offcpu, end, flush_block, a);
		ret = ret ?: pps_waits_flush(c->futex, end, flush_mutex, a);
	} else if (!ret) {
		ret = pps_waits_split(c->offcpu, end, flush_block, a);
		ret = ret ?: pps_waits_split(c->futex, end, flush_mutex, a);
	}
	if (!ret && c->sym)
		ret = tell_symbolizer(c, r);
	for (size_t i = 0; i < c->nr_profiles && !ret; i++) {
		ret = finish_profile(c, r, c->profiles[i]);
		ret = ret ?: dwarf_comment(c->profiles[i]);
	}
	if (ret)
		return ret;
	pps_reader_clock_data(r, &cd);
	if (cd.has_clock_data && cd.tod_ns)
		wall = (int64_t)cd.tod_ns + ((int64_t)start - (int64_t)cd.clockid_ns);
	for (size_t i = 0; i < c->nr_profiles; i++)
		pps_profile_set_time(c->profiles[i]->pub.profile, wall, (int64_t)(end - start));
	c->window_done = true;
	c->stats.symbolize_ns += now_ns() - t0;
	return 0;
}

PPS_API size_t pps_convert_nr_profiles(const struct pps_convert *c)
{
	return c->nr_profiles;
}

PPS_API const struct pps_convert_profile *pps_convert_profile(const struct pps_convert *c, size_t i)
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
