/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_machine: processes, threads and their maps, from side-band records in time order.
 *
 * Maps of a process are a sorted array of non-overlapping ranges: lookups are a binary
 * search, and inserts (rare next to lookups) move the tail. Filenames are interned once
 * for the whole machine, so a fork copies plain structs.
 */
#include <stdio.h>
#include <stdlib.h>

#include <perf/event.h>

#include "internal/machine.h"
#include "internal/util.h"

#define HOST_KERNEL_PID (-1)

struct proc {
	int32_t pid;
	uint64_t gen;
	struct pps_map *maps; /* sorted by start, non-overlapping */
	size_t nr_maps, maps_cap;
	/* The map pps_machine_find_map() found last: the frames of a stack are mostly in
	 * one binary. A hint, checked before use (maps come and go). */
	size_t last_map;
};

/* Open-addressing table of int32 keys -> pointers; a power-of-two capacity, half full. */
struct itab {
	struct islot {
		int32_t key;
		bool used;
		void *val;
	} * slots;
	size_t cap, used;
};

#define PROC_CACHE 64

struct pps_machine {
	struct itab procs;   /* pid -> struct proc * */
	struct itab threads; /* tid -> struct pps_thread * */
	struct proc kernel;
	uint64_t next_gen;
	uint64_t next_uid;
	char **names; /* interned filenames, open addressing, half full */
	size_t names_cap, names_used;
	uint64_t kernel_ref_addr;
	char kernel_ref_sym[32];
	bool has_kernel_ref;
	/* Processes find_proc() found, by pid modulo PROC_CACHE: samples and their frames
	 * ask for a few over and over. A process lives as long as the machine. */
	struct proc *proc_cache[PROC_CACHE];
};

static size_t hash_i32(int32_t k)
{
	/* Pids and tids come in runs of neighbours: a multiply alone clusters them. */
	return (size_t)pps_mix64((uint32_t)k);
}

/* The slot of key, or the empty one where it would go. t->cap must be non-zero. */
static struct islot *itab_slot(const struct itab *t, int32_t key)
{
	size_t i;

	for (i = hash_i32(key) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		if (!t->slots[i].used || t->slots[i].key == key)
			return &t->slots[i];
	}
}

static void *itab_get(const struct itab *t, int32_t key)
{
	struct islot *s;

	if (!t->cap)
		return NULL;
	s = itab_slot(t, key);
	return s->used ? s->val : NULL;
}

/* Inserts a key known to be absent. */
static int itab_put(struct itab *t, int32_t key, void *val)
{
	struct islot *s;

	if ((t->used + 1) * 2 > t->cap) {
		struct itab n = {.cap = t->cap ? t->cap * 2 : 64};

		n.slots = calloc(n.cap, sizeof(*n.slots));
		if (!n.slots)
			return -ENOMEM;
		for (size_t i = 0; i < t->cap; i++) {
			if (t->slots[i].used) {
				s = itab_slot(&n, t->slots[i].key);
				*s = t->slots[i];
			}
		}
		n.used = t->used;
		free(t->slots);
		*t = n;
	}
	s = itab_slot(t, key);
	s->used = true;
	s->key = key;
	s->val = val;
	t->used++;
	return 0;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The interned copy of name, NULL on ENOMEM. */
static const char *intern(struct pps_machine *m, const char *name)
{
	size_t i;

	if ((m->names_used + 1) * 2 > m->names_cap) {
		size_t ncap = m->names_cap ? m->names_cap * 2 : 256;
		char **nn = calloc(ncap, sizeof(*nn));

		if (!nn)
			return NULL;
		for (size_t j = 0; j < m->names_cap; j++) {
			if (!m->names[j])
				continue;
			for (i = hash_str(m->names[j]) & (ncap - 1); nn[i];
			     i = (i + 1) & (ncap - 1))
				;
			nn[i] = m->names[j];
		}
		free(m->names);
		m->names = nn;
		m->names_cap = ncap;
	}
	for (i = hash_str(name) & (m->names_cap - 1); m->names[i]; i = (i + 1) & (m->names_cap - 1))
		if (!strcmp(m->names[i], name))
			return m->names[i];
	m->names[i] = strdup(name);
	if (!m->names[i])
		return NULL;
	m->names_used++;
	return m->names[i];
}

struct pps_machine *pps_machine_new(void)
{
	struct pps_machine *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->kernel.pid = HOST_KERNEL_PID;
	m->next_gen = 1;
	m->next_uid = 2;
	m->kernel.gen = m->next_gen++;
	return m;
}

static void proc_free(struct proc *p)
{
	if (p)
		free(p->maps);
	free(p);
}

void pps_machine_free(struct pps_machine *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->procs.cap; i++)
		if (m->procs.slots[i].used)
			proc_free(m->procs.slots[i].val);
	for (size_t i = 0; i < m->threads.cap; i++)
		if (m->threads.slots[i].used)
			free(m->threads.slots[i].val);
	free(m->procs.slots);
	free(m->threads.slots);
	for (size_t i = 0; i < m->names_cap; i++)
		free(m->names[i]);
	free(m->names);
	free(m->kernel.maps);
	free(m);
}

/* find_proc() past its cache. */
static struct proc *find_proc_slow(struct pps_machine *m, int32_t pid, bool create)
{
	struct proc *p, **slot = &m->proc_cache[(uint32_t)pid % PROC_CACHE];

	p = itab_get(&m->procs, pid);
	if (p)
		*slot = p;
	if (p || !create)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->gen = m->next_gen++;
	if (itab_put(&m->procs, pid, p)) {
		free(p);
		return NULL;
	}
	return *slot = p;
}

static inline struct proc *find_proc(struct pps_machine *m, int32_t pid, bool create)
{
	struct proc *p = m->proc_cache[(uint32_t)pid % PROC_CACHE];

	if (pid == HOST_KERNEL_PID)
		return &m->kernel;
	return p && p->pid == pid ? p : find_proc_slow(m, pid, create);
}

struct pps_thread *pps_machine_thread(struct pps_machine *m, int32_t pid, int32_t tid)
{
	struct pps_thread *t = itab_get(&m->threads, tid);

	if (t) {
		if (pid > 0 && t->pid != pid)
			t->pid = pid;
		return t;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->tid = tid;
	t->pid = pid;
	if (itab_put(&m->threads, tid, t)) {
		free(t);
		return NULL;
	}
	return t;
}

const struct pps_thread *pps_machine_find_thread(const struct pps_machine *m, int32_t tid)
{
	return itab_get(&m->threads, tid);
}

/* Index of the first map with end > addr (maps are sorted and disjoint). */
static size_t first_ending_after(const struct proc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->nr_maps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->maps[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int reserve_maps(struct proc *p, size_t need)
{
	struct pps_map *n;
	size_t cap = p->maps_cap ? p->maps_cap : 16;

	if (need <= p->maps_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	n = realloc(p->maps, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->maps = n;
	p->maps_cap = cap;
	return 0;
}

/* Inserts nm, trimming or removing the maps it overlaps (kernel semantics of mmap). */
static int insert_map(struct pps_machine *m, struct proc *p, const struct pps_map *nm)
{
	struct pps_map left, right;
	bool has_left = false, has_right = false;
	size_t i, j, nr_new;

	if (nm->end <= nm->start)
		return 0;
	i = first_ending_after(p, nm->start);
	for (j = i; j < p->nr_maps && p->maps[j].start < nm->end; j++)
		;
	/* maps[i, j) overlap nm. Keep the parts of the first and last outside it. */
	if (i < j && p->maps[i].start < nm->start) {
		left = p->maps[i];
		left.end = nm->start;
		left.uid = m->next_uid++;
		has_left = true;
	}
	if (i < j && p->maps[j - 1].end > nm->end) {
		right = p->maps[j - 1];
		right.pgoff += nm->end - right.start;
		right.start = nm->end;
		right.uid = m->next_uid++;
		has_right = true;
	}
	nr_new = 1 + has_left + has_right;
	if (reserve_maps(p, p->nr_maps - (j - i) + nr_new))
		return -ENOMEM;
	memmove(&p->maps[i + nr_new], &p->maps[j], (p->nr_maps - j) * sizeof(*p->maps));
	p->nr_maps = p->nr_maps - (j - i) + nr_new;
	if (has_left)
		p->maps[i++] = left;
	p->maps[i] = *nm;
	p->maps[i++].uid = m->next_uid++;
	if (has_right)
		p->maps[i] = right;
	p->gen = m->next_gen++;
	return 0;
}

/* "[kernel.kallsyms]_text" -> ref symbol "_text"; the kernel image map. */
static const char kernel_prefix[] = "[kernel.kallsyms]";

static int process_mmap(struct pps_machine *m, uint16_t misc, int32_t pid, uint64_t start,
			uint64_t len, uint64_t pgoff, const char *filename, const uint8_t *build_id,
			uint8_t build_id_size)
{
	uint16_t cpumode = misc & PERF_RECORD_MISC_CPUMODE_MASK;
	struct pps_map nm = {0};
	struct proc *p;

	nm.kernel = cpumode == PERF_RECORD_MISC_KERNEL || pid == HOST_KERNEL_PID;
	if (cpumode == PERF_RECORD_MISC_GUEST_KERNEL || cpumode == PERF_RECORD_MISC_GUEST_USER)
		return 0; /* guest machines are not modelled */
	p = nm.kernel ? &m->kernel : find_proc(m, pid, true);
	if (!p)
		return -ENOMEM;
	nm.start = start;
	nm.end = start + len < start ? UINT64_MAX : start + len;
	nm.pgoff = pgoff;
	if (nm.kernel && !strncmp(filename, kernel_prefix, sizeof(kernel_prefix) - 1)) {
		const char *sym = filename + sizeof(kernel_prefix) - 1;

		if (*sym) {
			m->kernel_ref_addr = pgoff;
			snprintf(m->kernel_ref_sym, sizeof(m->kernel_ref_sym), "%s", sym);
			m->has_kernel_ref = true;
		}
		filename = kernel_prefix;
	}
	nm.filename = intern(m, filename);
	if (!nm.filename)
		return -ENOMEM;
	if (build_id && build_id_size) {
		nm.build_id_size = build_id_size > 20 ? 20 : build_id_size;
		memcpy(nm.build_id, build_id, nm.build_id_size);
	}
	return insert_map(m, p, &nm);
}

static int process_fork(struct pps_machine *m, const struct perf_record_fork *f)
{
	struct pps_thread *parent, *child;
	struct proc *pp, *cp;

	parent = itab_get(&m->threads, (int32_t)f->ptid);
	child = pps_machine_thread(m, (int32_t)f->pid, (int32_t)f->tid);
	if (!child)
		return -ENOMEM;
	if (parent && parent != child)
		memcpy(child->comm, parent->comm, sizeof(child->comm));
	if (f->pid == f->ppid)
		return 0; /* a new thread shares its process's maps */
	pp = find_proc(m, (int32_t)f->ppid, false);
	cp = find_proc(m, (int32_t)f->pid, true);
	if (!cp)
		return -ENOMEM;
	if (!pp || pp == cp)
		return 0;
	if (reserve_maps(cp, pp->nr_maps))
		return -ENOMEM;
	if (pp->nr_maps)
		memcpy(cp->maps, pp->maps, pp->nr_maps * sizeof(*pp->maps));
	cp->nr_maps = pp->nr_maps;
	cp->gen = m->next_gen++;
	return 0;
}

static int process_comm(struct pps_machine *m, uint16_t misc, const struct perf_record_comm *c)
{
	struct pps_thread *t = pps_machine_thread(m, (int32_t)c->pid, (int32_t)c->tid);
	struct proc *p;

	if (!t)
		return -ENOMEM;
	snprintf(t->comm, sizeof(t->comm), "%s", c->comm);
	if (!(misc & PERF_RECORD_MISC_COMM_EXEC))
		return 0;
	p = find_proc(m, (int32_t)c->pid, false);
	if (p && p->nr_maps) {
		p->nr_maps = 0;
		p->gen = m->next_gen++;
	}
	return 0;
}

int pps_machine_process(struct pps_machine *m, uint32_t type, uint16_t misc, const void *raw)
{
	const union perf_event *ev = raw;

	switch (type) {
	case PERF_RECORD_MMAP:
		return process_mmap(m, misc, (int32_t)ev->mmap.pid, ev->mmap.start, ev->mmap.len,
				    ev->mmap.pgoff, ev->mmap.filename, NULL, 0);
	case PERF_RECORD_MMAP2:
		if (misc & PERF_RECORD_MISC_MMAP_BUILD_ID)
			return process_mmap(m, misc, (int32_t)ev->mmap2.pid, ev->mmap2.start,
					    ev->mmap2.len, ev->mmap2.pgoff, ev->mmap2.filename,
					    ev->mmap2.build_id, ev->mmap2.build_id_size);
		return process_mmap(m, misc, (int32_t)ev->mmap2.pid, ev->mmap2.start, ev->mmap2.len,
				    ev->mmap2.pgoff, ev->mmap2.filename, NULL, 0);
	case PERF_RECORD_COMM:
		return process_comm(m, misc, &ev->comm);
	case PERF_RECORD_FORK:
		return process_fork(m, &ev->fork);
	default:
		return 0;
	}
}

const struct pps_map *pps_machine_find_map(struct pps_machine *m, int32_t pid, bool kernel,
					   uint64_t addr, uint64_t *gen)
{
	struct proc *p = kernel ? &m->kernel : find_proc(m, pid, false);
	size_t i;

	*gen = 0;
	if (!p)
		return NULL;
	*gen = p->gen;
	i = p->last_map;
	if (i < p->nr_maps && p->maps[i].start <= addr && addr < p->maps[i].end)
		return &p->maps[i];
	i = first_ending_after(p, addr);
	if (i < p->nr_maps && p->maps[i].start <= addr) {
		p->last_map = i;
		return &p->maps[i];
	}
	/* perf extends the kernel image map up to the first module, or to the end. */
	if (kernel) {
		for (size_t k = p->nr_maps; k-- > 0;) {
			if (p->maps[k].start <= addr && p->maps[k].filename &&
			    !strcmp(p->maps[k].filename, kernel_prefix))
				return &p->maps[k];
		}
	}
	return NULL;
}

void pps_machine_gens(struct pps_machine *m, int32_t pid, uint64_t *user, uint64_t *kernel)
{
	struct proc *p = find_proc(m, pid, false);

	*user = p ? p->gen : 0;
	*kernel = m->kernel.gen;
}

bool pps_machine_kernel_ref(const struct pps_machine *m, uint64_t *addr, const char **sym)
{
	if (!m->has_kernel_ref)
		return false;
	*addr = m->kernel_ref_addr;
	*sym = m->kernel_ref_sym;
	return true;
}
