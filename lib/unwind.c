/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * DWARF unwinding of sampled user stacks with libdwfl's frame API.
 *
 * Facts that shaped it:
 * - perf record --call-graph dwarf copies (by default) 8 KiB of the user stack above the
 *   sampled stack pointer and every user register into each sample, and sets
 *   exclude_callchain_user: the recorded callchain is the kernel part alone.
 * - perf 6.1 builds a Dwfl for every sample and reports its modules again, reopening
 *   each file, which is what makes `perf report` on such recordings slow. Here each
 *   process has one Dwfl, attached once, whose modules are reported the first time a
 *   frame falls in one of its maps and stay until a map they came from is no longer the
 *   process's (exec, or a new mmap over it). Each open Dwfl holds its files open, so
 *   only so many of them are kept (by the file descriptor limit, at most MAX_LIVE), least
 *   recently used closed first.
 * - libdwfl looks a frame up at pc - 1 unless it is the first one or follows a signal
 *   frame, with .eh_frame then .debug_frame; when neither covers that address it falls
 *   back to following the frame pointer (x86_64_unwind), which in code built without
 *   frame pointers yields garbage. The frame callback therefore checks coverage itself,
 *   the same way, cached per (binary, address), and ends the stack there.
 * - Registers and stack bytes come from the file: the registers through the sample's
 *   mask, the stack only inside the copy's dyn_size.
 */
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include "internal/dso.h"
#include "internal/machine.h"
#include "internal/symbolizer.h"
#include "internal/unwind.h"
#include "internal/util.h"

#define DEFAULT_MAX_FRAMES 1024
/* Dwfls kept open at once: each holds the files of its modules open. */
#define MAX_LIVE 64
/* File descriptors a live Dwfl is counted for (its modules'), and those left to others. */
#define FDS_PER_LIVE 16
#define FDS_SPARE    128
/* amod_get()/cfi_info() result: a module reported in the process's Dwfl is not what the
 * maps now say is there. The Dwfl must be rebuilt, which cannot happen while it unwinds. */
#define STALE 1
/* Bytes of code at an ELF entry point taken as the entry function (see at_entry()). */
#define ENTRY_CODE 64

/* perf's numbers of the pc and the stack pointer on one kernel architecture
 * (arch/<arch>/include/uapi/asm/perf_regs.h), by the names uname -m gives it. */
struct perf_arch {
	const char *names; /* space-separated, with a space at both ends */
	uint8_t ip, sp;
};

static const struct perf_arch perf_arches[] = {
    {" x86_64 amd64 i386 i486 i586 i686 x86 ", 8, 7},
    {" aarch64 arm64 ", 32, 31},
};

/* perf's x86 register numbers (PERF_REG_X86_*). */
enum {
	X_AX,
	X_BX,
	X_CX,
	X_DX,
	X_SI,
	X_DI,
	X_BP,
	X_SP,
	X_IP,
	X_R8 = 16,
	X_R9,
	X_R10,
	X_R11,
	X_R12,
	X_R13,
	X_R14,
	X_R15,
};

/* How the DWARF registers of one process architecture come from perf's registers. */
struct dwarf_arch {
	uint16_t machine;  /* e_machine of the process's binaries */
	uint8_t perf_arch; /* index in perf_arches of the kernel that sampled it */
	uint8_t word;	   /* bytes in a stack slot */
	uint8_t sp;	   /* DWARF number of the stack pointer */
	uint8_t nregs;	   /* DWARF registers 0 .. nregs - 1 are set from the sample */
	int8_t perf[32];   /* the perf register of each */
};

static const struct dwarf_arch dwarf_arches[] = {
    /* x86_64 psABI: rax rdx rcx rbx rsi rdi rbp rsp r8-r15, then rip (the return address
     * column). */
    {.machine = EM_X86_64,
     .perf_arch = 0,
     .word = 8,
     .sp = 7,
     .nregs = 17,
     .perf = {X_AX, X_DX, X_CX, X_BX, X_SI, X_DI, X_BP, X_SP, X_R8, X_R9, X_R10, X_R11, X_R12,
	      X_R13, X_R14, X_R15, X_IP}},
    /* i386 (a 32-bit process, PERF_SAMPLE_REGS_ABI_32): eax ecx edx ebx esp ebp esi edi eip. */
    {.machine = EM_386,
     .perf_arch = 0,
     .word = 4,
     .sp = 4,
     .nregs = 9,
     .perf = {X_AX, X_CX, X_DX, X_BX, X_SP, X_BP, X_SI, X_DI, X_IP}},
    /* aarch64: x0-x30 and sp are perf's 0-31 too; the pc (perf 32) is set apart. */
    {.machine = EM_AARCH64,
     .perf_arch = 1,
     .word = 8,
     .sp = 31,
     .nregs = 32,
     .perf = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
	      16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}},
};

/* One binary, opened once for every process that maps it. */
struct ubin {
	const char *filename; /* the machine's interned name; with the map's build-id, the key */
	uint8_t id[20];	      /* the map's own build-id (MMAP2), id_size 0 when none */
	uint8_t id_size;
	uint64_t ns;	     /* mount namespace inode when read through /proc/PID/root, else 0 */
	struct pps_dso *dso; /* NULL: nothing to unwind with */
	uint32_t idx;	     /* 1-based, the CFI cache's key */
};

/* Whether a (binary, address) has CFI: flags, cached. */
#define CFI_HAS	   1
#define CFI_SIGNAL 2 /* a signal trampoline's */
#define CFI_END                                                                                    \
	4	 /* the return address is undefined, or no CFI at the entry point: the             \
			  outermost frame */
#define IN_MAP 8 /* not cached: the pc is in a map of the process */
struct cfi_slot {
	uint64_t addr; /* ELF vaddr */
	uint32_t bin;  /* ubin idx; 0: empty */
	uint8_t flags;
};

/* A map of a process as its Dwfl knows it. */
struct amod {
	uint64_t uid;	  /* the map's (machine.h); 0: empty slot */
	uint64_t addr;	  /* an address in the map, to check it is still the map's */
	struct ubin *bin; /* NULL: no file behind the map */
	Dwfl_Module *mod; /* NULL: not reported (no file, or libdwfl would not take it) */
	uint64_t bias;	  /* runtime address - ELF vaddr */
};

/* A process: its Dwfl and the maps reported in it. */
struct aspace {
	int32_t pid;
	Dwfl *dwfl; /* NULL: closed */
	bool attached;
	const struct dwarf_arch *arch; /* set at attach; NULL: not yet, or no register map */
	bool no_arch;		       /* attached, but its architecture has no register map */
	uint64_t gen;		       /* the process's maps generation last checked */
	struct amod *mods;	       /* open addressing by uid, at most half full */
	size_t cap, used;
	uint64_t last_use;
};

struct frame {
	uint64_t pc;
	bool exact; /* the pc itself, not a return address */
};

/* The sample being unwound, for the callbacks. */
struct cur {
	const struct pps_sample *s;
	const struct dwarf_arch *arch;
	struct aspace *as;
	uint64_t ip, sp0; /* sampled pc and stack pointer: where the stack copy starts */
	const uint8_t *stack;
	uint64_t stack_size;
	size_t nr; /* frames */
	uint64_t prev_sp, prev_pc;
	bool prev_sig;	    /* the previous frame is a signal frame: this pc is exact */
	uint8_t last_flags; /* CFI flags of the last frame */
	bool copy_full;	    /* the kernel copied all it was asked: the stack may go on past it */
	bool truncated, cut, stale; /* cut: a read past the copy where the stack goes on */
	bool ended;		    /* the callback found the outermost frame */
	int err;		    /* -ENOMEM met in a callback */
};

struct build_id {
	char *filename;
	uint8_t id[20];
	uint8_t size;
};

struct pps_unwind {
	struct pps_machine *machine;
	const struct perf_arch *perf_arch; /* NULL: the recording's kernel has no map */
	size_t max_frames;
	struct pps_dso_search search;
	char *symfs, *buildid_dir;
	bool proc_roots;

	struct build_id *ids;
	size_t nr_ids, ids_cap;

	struct ubin **bins;
	size_t nr_bins, bins_cap;
	struct ubin **bin_idx; /* open addressing, at most half full */
	size_t bin_cap;

	struct cfi_slot *cfi; /* open addressing, at most half full */
	size_t cfi_cap, cfi_used;

	struct aspace **spaces; /* by pid, open addressing, at most half full */
	size_t spaces_cap, spaces_used;
	struct aspace *live[MAX_LIVE];
	size_t nr_live, max_live;
	bool told_arch; /* warned once of a process without a register map */
	uint64_t clock;

	struct cur cur;
	struct frame *frames; /* max_frames */
	uint64_t *chain;
	size_t chain_cap;
	struct pps_unwind_stats stats;
};

/* ---- registers -------------------------------------------------------------------- */

/* The value of perf register r in the sample; false when the sample lacks it. */
static bool perf_reg(const struct pps_sample *s, unsigned int r, uint64_t *v)
{
	uint32_t i;

	if (r >= 64 || !(s->user_regs_mask & (1ULL << r)))
		return false;
	i = (uint32_t)__builtin_popcountll(s->user_regs_mask & ((1ULL << r) - 1));
	if (i >= s->user_regs_nr)
		return false;
	memcpy(v, &s->user_regs[i], sizeof(*v));
	return true;
}

static const struct perf_arch *find_perf_arch(const char *arch)
{
	struct utsname un;
	char key[80];

	if (!arch) {
		if (uname(&un))
			return NULL;
		arch = un.machine;
	}
	snprintf(key, sizeof(key), " %s ", arch);
	for (size_t i = 0; i < PPS_ARRAY_SIZE(perf_arches); i++)
		if (strstr(perf_arches[i].names, key))
			return &perf_arches[i];
	return NULL;
}

static const struct dwarf_arch *find_dwarf_arch(const struct perf_arch *pa, uint16_t machine)
{
	for (size_t i = 0; pa && i < PPS_ARRAY_SIZE(dwarf_arches); i++)
		if (dwarf_arches[i].machine == machine &&
		    &perf_arches[dwarf_arches[i].perf_arch] == pa)
			return &dwarf_arches[i];
	return NULL;
}

bool pps_unwind_initial_regs(const char *arch, uint16_t e_machine, const struct pps_sample *s,
			     uint64_t *regs, uint64_t *valid, uint64_t *pc, uint64_t *sp)
{
	const struct perf_arch *pa = find_perf_arch(arch);
	const struct dwarf_arch *da = find_dwarf_arch(pa, e_machine);

	*valid = 0;
	if (!da || !perf_reg(s, pa->ip, pc) || !perf_reg(s, pa->sp, sp))
		return false;
	for (unsigned int r = 0; r < da->nregs; r++)
		if (perf_reg(s, (unsigned int)da->perf[r], &regs[r]))
			*valid |= 1ULL << r;
	return true;
}

uint64_t pps_unwind_host_regs(void)
{
	const struct perf_arch *pa = find_perf_arch(NULL);
	uint64_t mask = 0;

	for (size_t i = 0; pa && i < PPS_ARRAY_SIZE(dwarf_arches); i++) {
		const struct dwarf_arch *d = &dwarf_arches[i];

		if (&perf_arches[d->perf_arch] != pa)
			continue;
		for (size_t j = 0; j < d->nregs; j++)
			mask |= 1ULL << d->perf[j];
		mask |= 1ULL << pa->ip | 1ULL << pa->sp;
	}
	return mask;
}

/* ---- lifecycle -------------------------------------------------------------------- */

struct pps_unwind *pps_unwind_new(struct pps_machine *m, const struct pps_unwind_opts *opts)
{
	struct pps_unwind_opts o = {0};
	struct pps_unwind *u = calloc(1, sizeof(*u));
	struct rlimit rl;

	if (!u)
		goto out_err;
	if (opts)
		memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	u->machine = m;
	u->perf_arch = find_perf_arch(o.arch);
	/* Each live Dwfl holds its modules' files open: as many as the fd limit allows. */
	u->max_live = MAX_LIVE;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < FDS_SPARE + MAX_LIVE * FDS_PER_LIVE)
		u->max_live = rl.rlim_cur > FDS_SPARE + 8 * FDS_PER_LIVE
				  ? (size_t)(rl.rlim_cur - FDS_SPARE) / FDS_PER_LIVE
				  : 8;
	u->max_frames = o.max_frames ? o.max_frames : DEFAULT_MAX_FRAMES;
	u->proc_roots = o.proc_roots;
	u->frames = calloc(u->max_frames, sizeof(*u->frames));
	if (!u->frames)
		goto out_free;
	/* perf's --symfs "/" or "" is no prefix, as in the symbolizer. */
	u->symfs = strdup(o.symfs && strcmp(o.symfs, "/") ? o.symfs : "");
	if (!u->symfs || pps_dso_buildid_dir(o.buildid_dir, &u->buildid_dir))
		goto out_free;
	u->search.symfs = u->symfs;
	u->search.has_symfs = *u->symfs != '\0';
	u->search.buildid_dir = u->buildid_dir;
	u->search.any_elf = true;
	if (!u->perf_arch)
		pps_warn("DWARF unwinding of recordings from %s kernels is not supported: user "
			 "stacks are left as recorded",
			 o.arch ? o.arch : "this machine's");
	if (o.debuginfod && !(u->search.debuginfod = debuginfod_begin()))
		pps_warn("debuginfod: cannot start a client");
	return u;

out_free:
	pps_unwind_free(u);
out_err:
	errno = ENOMEM;
	return NULL;
}

static void aspace_close(struct pps_unwind *u, struct aspace *as);

void pps_unwind_free(struct pps_unwind *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->spaces_cap; i++) {
		struct aspace *as = u->spaces[i];

		if (!as)
			continue;
		aspace_close(u, as);
		free(as->mods);
		free(as);
	}
	for (size_t i = 0; i < u->nr_bins; i++) {
		pps_dso_free(u->bins[i]->dso);
		free(u->bins[i]);
	}
	for (size_t i = 0; i < u->nr_ids; i++)
		free(u->ids[i].filename);
	if (u->search.debuginfod)
		debuginfod_end(u->search.debuginfod);
	free(u->ids);
	free(u->bins);
	free(u->bin_idx);
	free(u->cfi);
	free(u->spaces);
	free(u->frames);
	free(u->chain);
	free(u->symfs);
	free(u->buildid_dir);
	free(u);
}

int pps_unwind_add_build_id(struct pps_unwind *u, const char *filename, const uint8_t *id,
			    size_t size)
{
	struct build_id *b;

	if (!size)
		return 0;
	if (u->nr_ids == u->ids_cap) {
		size_t cap = u->ids_cap ? u->ids_cap * 2 : 64;
		struct build_id *n = realloc(u->ids, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		u->ids = n;
		u->ids_cap = cap;
	}
	b = &u->ids[u->nr_ids];
	b->filename = strdup(filename);
	if (!b->filename)
		return -ENOMEM;
	b->size = (uint8_t)(size > sizeof(b->id) ? sizeof(b->id) : size);
	memcpy(b->id, id, b->size);
	u->nr_ids++;
	return 0;
}

const struct pps_unwind_stats *pps_unwind_stats(const struct pps_unwind *u)
{
	return &u->stats;
}

/* ---- binaries --------------------------------------------------------------------- */

static uint64_t bin_hash(const char *filename, const uint8_t *id, size_t size, uint64_t ns)
{
	uint64_t h = pps_mix64((uint64_t)(uintptr_t)filename ^ pps_mix64(ns));

	for (size_t i = 0; i < size; i++)
		h = pps_mix64(h ^ id[i]);
	return h;
}

/* Opens the file behind map m, as the symbolizer finds it (root: see bin_get()).
 * -ENOMEM only. */
static int bin_open(struct pps_unwind *u, struct ubin *b, const struct pps_map *m,
		    const char *root)
{
	enum pps_sym_status st = PPS_SYM_NOT_FOUND;
	const uint8_t *id = m->build_id_size ? m->build_id : NULL;
	size_t id_size = m->build_id_size, n;
	char *path = NULL;
	int err = 0;

	for (size_t i = 0; !id && i < u->nr_ids; i++) {
		if (!strcmp(u->ids[i].filename, m->filename)) {
			id = u->ids[i].id;
			id_size = u->ids[i].size;
		}
	}
	if (!strcmp(m->filename, "[vdso]")) {
		err = pps_dso_open_vdso(&u->search, id, id_size, &b->dso, &st);
	} else if (pps_sym_is_anon(m->filename)) {
		st = PPS_SYM_ANON;
	} else if (m->filename[0] != '[') {
		/* A file replaced after the process mapped it: perf appends " (deleted)". */
		n = strlen(m->filename);
		if (n > 10 && !strcmp(m->filename + n - 10, " (deleted)")) {
			path = pps_strndup(m->filename, n - 10);
			if (!path)
				return -ENOMEM;
		}
		err = pps_dso_open(&u->search, path ? path : m->filename, root, id, id_size,
				   &b->dso, &st);
		free(path);
	}
	if (!err && !b->dso)
		pps_debug("%s: user stacks end in it: %s", m->filename, pps_sym_status_str(st));
	return err;
}

/* The binary behind map m of process pid, opened on first sight; NULL on ENOMEM. A file
 * of a live process in another mount namespace (a container) is read through
 * /proc/PID/root, as the symbolizer does, and is a binary of its own. */
static struct ubin *bin_get(struct pps_unwind *u, const struct pps_map *m, int32_t pid)
{
	char root[32];
	uint64_t ns = 0, h;
	struct ubin *b;
	size_t i;

	if (!u->proc_roots || m->kernel || m->filename[0] != '/' ||
	    pps_sym_is_anon(m->filename) || !pps_dso_foreign_root(pid, root, sizeof(root), &ns))
		ns = 0;
	h = bin_hash(m->filename, m->build_id, m->build_id_size, ns);
	if (u->bin_cap) {
		for (i = h & (u->bin_cap - 1); (b = u->bin_idx[i]); i = (i + 1) & (u->bin_cap - 1))
			if (b->filename == m->filename && b->id_size == m->build_id_size &&
			    b->ns == ns && !memcmp(b->id, m->build_id, b->id_size))
				return b;
	}
	if ((u->nr_bins + 1) * 2 > u->bin_cap) {
		size_t cap = u->bin_cap ? u->bin_cap * 2 : 64;
		struct ubin **idx = calloc(cap, sizeof(*idx));

		if (!idx)
			return NULL;
		for (size_t k = 0; k < u->nr_bins; k++) {
			b = u->bins[k];
			for (i = bin_hash(b->filename, b->id, b->id_size, b->ns) & (cap - 1); idx[i];
			     i = (i + 1) & (cap - 1))
				;
			idx[i] = b;
		}
		free(u->bin_idx);
		u->bin_idx = idx;
		u->bin_cap = cap;
	}
	if (u->nr_bins == u->bins_cap) {
		size_t cap = u->bins_cap ? u->bins_cap * 2 : 32;
		struct ubin **n = realloc(u->bins, cap * sizeof(*n));

		if (!n)
			return NULL;
		u->bins = n;
		u->bins_cap = cap;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->filename = m->filename;
	b->id_size = m->build_id_size > sizeof(b->id) ? sizeof(b->id) : m->build_id_size;
	memcpy(b->id, m->build_id, b->id_size);
	b->ns = ns;
	u->bins[u->nr_bins++] = b;
	b->idx = (uint32_t)u->nr_bins;
	for (i = h & (u->bin_cap - 1); u->bin_idx[i]; i = (i + 1) & (u->bin_cap - 1))
		;
	u->bin_idx[i] = b;
	if (bin_open(u, b, m, ns ? root : NULL))
		return NULL; /* the half-made binary is freed with the unwinder */
	return b;
}

/* ---- processes -------------------------------------------------------------------- */

static struct aspace *aspace_get(struct pps_unwind *u, int32_t pid)
{
	struct aspace *as;
	size_t i;

	if (u->spaces_cap) {
		for (i = pps_mix64((uint32_t)pid) & (u->spaces_cap - 1); (as = u->spaces[i]);
		     i = (i + 1) & (u->spaces_cap - 1))
			if (as->pid == pid)
				return as;
	}
	if ((u->spaces_used + 1) * 2 > u->spaces_cap) {
		size_t cap = u->spaces_cap ? u->spaces_cap * 2 : 64;
		struct aspace **n = calloc(cap, sizeof(*n));

		if (!n)
			return NULL;
		for (size_t k = 0; k < u->spaces_cap; k++) {
			if (!(as = u->spaces[k]))
				continue;
			for (i = pps_mix64((uint32_t)as->pid) & (cap - 1); n[i];
			     i = (i + 1) & (cap - 1))
				;
			n[i] = as;
		}
		free(u->spaces);
		u->spaces = n;
		u->spaces_cap = cap;
	}
	as = calloc(1, sizeof(*as));
	if (!as)
		return NULL;
	as->pid = pid;
	for (i = pps_mix64((uint32_t)pid) & (u->spaces_cap - 1); u->spaces[i];
	     i = (i + 1) & (u->spaces_cap - 1))
		;
	u->spaces[i] = as;
	u->spaces_used++;
	return as;
}

/* Closes the process's Dwfl and forgets what was reported in it. */
static void aspace_close(struct pps_unwind *u, struct aspace *as)
{
	if (!as->dwfl)
		return;
	dwfl_end(as->dwfl);
	as->dwfl = NULL;
	as->attached = false;
	as->arch = NULL;
	as->no_arch = false;
	if (as->mods)
		memset(as->mods, 0, as->cap * sizeof(*as->mods));
	as->used = 0;
	for (size_t i = 0; i < u->nr_live; i++) {
		if (u->live[i] == as) {
			u->live[i] = u->live[--u->nr_live];
			break;
		}
	}
}

/* Opens the process's Dwfl when closed, closing the least recently used one if need be. */
static int aspace_open(struct pps_unwind *u, struct aspace *as)
{
	as->last_use = ++u->clock;
	if (as->dwfl)
		return 0;
	if (u->nr_live == u->max_live) {
		struct aspace *old = u->live[0];

		for (size_t i = 1; i < u->nr_live; i++)
			if (u->live[i]->last_use < old->last_use)
				old = u->live[i];
		aspace_close(u, old);
	}
	as->dwfl = dwfl_begin(pps_dso_dwfl_callbacks());
	if (!as->dwfl)
		return -ENOMEM;
	u->live[u->nr_live++] = as;
	return 0;
}

/*
 * Closes the process's Dwfl when one of the maps its modules came from is no longer
 * the process's. Called when the process's maps generation has moved.
 */
static void aspace_check(struct pps_unwind *u, struct aspace *as, uint64_t gen)
{
	uint64_t g;

	if (gen == as->gen)
		return;
	as->gen = gen;
	for (size_t i = 0; i < as->cap; i++) {
		const struct amod *e = &as->mods[i];
		const struct pps_map *m;

		if (!e->uid || !e->mod)
			continue;
		m = pps_machine_find_map(u->machine, as->pid, false, e->addr, &g);
		if (!m || m->uid != e->uid) {
			aspace_close(u, as);
			return;
		}
	}
}

static struct amod *amod_slot(const struct aspace *as, uint64_t uid)
{
	size_t i;

	for (i = pps_mix64(uid) & (as->cap - 1);; i = (i + 1) & (as->cap - 1))
		if (!as->mods[i].uid || as->mods[i].uid == uid)
			return &as->mods[i];
}

static int amod_reserve(struct aspace *as)
{
	size_t cap = as->cap ? as->cap * 2 : 32;
	struct amod *n, *old = as->mods;
	size_t old_cap = as->cap;

	if ((as->used + 1) * 2 <= as->cap)
		return 0;
	n = calloc(cap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	as->mods = n;
	as->cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].uid)
			*amod_slot(as, old[i].uid) = old[i];
	free(old);
	return 0;
}

/*
 * Reports the file of map m (binary b) in the process's Dwfl, or finds it reported.
 * Returns 0 (e->mod NULL when libdwfl would not take the file), or STALE when pc is
 * already in a module that is not this map's.
 */
static int report(struct aspace *as, const struct pps_map *m, struct ubin *b, uint64_t pc,
		  struct amod *e)
{
	Dwfl_Module *mod;
	Dwarf_Addr bias;
	uint64_t vaddr, base;
	void **ud;

	if (!pps_dso_offset_to_vaddr(b->dso, m->pgoff, &vaddr))
		return 0;
	base = m->start - vaddr;
	mod = dwfl_addrmodule(as->dwfl, pc);
	if (mod) {
		dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
		if (*ud != b->dso || !dwfl_module_getelf(mod, &bias) || bias != base)
			return STALE;
		e->mod = mod;
		e->bias = bias;
		return 0;
	}
	dwfl_report_begin_add(as->dwfl);
	mod = dwfl_report_elf(as->dwfl, m->filename, pps_dso_path(b->dso), -1, base, true);
	dwfl_report_end(as->dwfl, NULL, NULL);
	if (!mod) {
		pps_debug("%s: not reported for unwinding: %s", m->filename, dwfl_errmsg(-1));
		return 0;
	}
	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	*ud = b->dso; /* debug files (.debug_frame) are found as the dso's */
	if (dwfl_addrmodule(as->dwfl, pc) != mod || !dwfl_module_getelf(mod, &bias))
		return STALE;
	e->mod = mod;
	e->bias = bias;
	return 0;
}

/*
 * The process's module at pc: *out NULL when no file is mapped there. Reports it on
 * first sight. 0, STALE, or -ENOMEM.
 */
static int amod_get(struct pps_unwind *u, struct aspace *as, uint64_t pc, struct amod **out)
{
	const struct pps_map *m;
	struct amod *e;
	struct ubin *b;
	uint64_t gen;

	*out = NULL;
	m = pps_machine_find_map(u->machine, as->pid, false, pc, &gen);
	if (!m)
		return 0;
	if (as->cap) {
		e = amod_slot(as, m->uid);
		if (e->uid) {
			*out = e;
			return 0;
		}
	}
	if (amod_reserve(as))
		return -ENOMEM;
	b = bin_get(u, m, as->pid);
	if (!b)
		return -ENOMEM;
	e = amod_slot(as, m->uid);
	*e = (struct amod){.uid = m->uid, .addr = pc, .bin = b};
	as->used++;
	*out = e;
	return b->dso ? report(as, m, b, pc, e) : 0;
}

/* ---- CFI -------------------------------------------------------------------------- */

static struct cfi_slot *cfi_slot(struct cfi_slot *v, size_t cap, uint32_t bin, uint64_t addr)
{
	size_t i;

	for (i = pps_mix64(addr ^ (uint64_t)bin << 48) & (cap - 1);; i = (i + 1) & (cap - 1))
		if (!v[i].bin || (v[i].bin == bin && v[i].addr == addr))
			return &v[i];
}

/*
 * Whether ELF vaddr addr is in the code at the binary's entry point (its first
 * ENTRY_CODE bytes): where the process, or ld.so, starts, the outermost frame of the main
 * thread. ld.so's _start has no CFI to say so.
 */
static bool at_entry(struct amod *e, uint64_t addr)
{
	Dwarf_Addr bias;
	GElf_Ehdr eh;
	Elf *elf = dwfl_module_getelf(e->mod, &bias);

	return elf && gelf_getehdr(elf, &eh) && eh.e_entry && addr - eh.e_entry < ENTRY_CODE;
}

/* What CFI says of pc in module e: CFI_* flags. */
static uint8_t cfi_lookup(struct amod *e, uint64_t pc)
{
	Dwarf_CFI *cfi[2];
	Dwarf_Addr bias[2], start, end;
	Dwarf_Frame *fr = NULL;
	Dwarf_Op ops_mem[3], *ops;
	size_t nops;
	bool sig = false;
	uint8_t flags = 0;
	int ra;

	cfi[0] = dwfl_module_eh_cfi(e->mod, &bias[0]);
	for (int k = 0; k < 2 && !fr; k++) {
		if (k == 1) /* as libdwfl: .debug_frame when .eh_frame has nothing */
			cfi[1] = dwfl_module_dwarf_cfi(e->mod, &bias[1]);
		if (cfi[k] && dwarf_cfi_addrframe(cfi[k], pc - bias[k], &fr))
			fr = NULL;
	}
	if (fr) {
		flags = CFI_HAS;
		ra = dwarf_frame_info(fr, &start, &end, &sig);
		if (ra >= 0 && sig)
			flags |= CFI_SIGNAL;
		/* libdw's "undefined" rule: no operations, and ops pointing at ops_mem. */
		if (ra >= 0 && !dwarf_frame_register(fr, ra, ops_mem, &ops, &nops) && !nops &&
		    ops == ops_mem)
			flags |= CFI_END;
		free(fr);
	} else if (at_entry(e, pc - e->bias)) {
		flags = CFI_END;
	}
	return flags;
}

/* CFI flags of pc in the sample's process (0 outside any file), and IN_MAP. 0, STALE or
 * -ENOMEM. */
static int cfi_info(struct pps_unwind *u, struct aspace *as, uint64_t pc, uint8_t *flags)
{
	struct cfi_slot *s;
	struct amod *e;
	uint64_t addr;
	int ret;

	*flags = 0;
	ret = amod_get(u, as, pc, &e);
	if (e)
		*flags = IN_MAP;
	if (ret || !e || !e->mod)
		return ret;
	addr = pc - e->bias;
	if ((u->cfi_used + 1) * 2 > u->cfi_cap) {
		size_t cap = u->cfi_cap ? u->cfi_cap * 2 : 4096;
		struct cfi_slot *n = calloc(cap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < u->cfi_cap; i++)
			if (u->cfi[i].bin)
				*cfi_slot(n, cap, u->cfi[i].bin, u->cfi[i].addr) = u->cfi[i];
		free(u->cfi);
		u->cfi = n;
		u->cfi_cap = cap;
	}
	s = cfi_slot(u->cfi, u->cfi_cap, e->bin->idx, addr);
	if (!s->bin) {
		s->bin = e->bin->idx;
		s->addr = addr;
		s->flags = cfi_lookup(e, pc);
		u->cfi_used++;
	}
	*flags |= s->flags;
	return 0;
}

/* ---- libdwfl callbacks ------------------------------------------------------------ */

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	if (*thread_argp)
		return 0;
	*thread_argp = arg;
	return dwfl_pid(dwfl);
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	(void)dwfl, (void)tid;
	*thread_argp = arg;
	return true;
}

/*
 * Stack reads: inside the sample's copy of the stack only. A read below the stack
 * pointer is a callee-saved register an epilogue already popped (the frame goes on
 * without it); a read past the copy cuts the stack short, unless the kernel copied less
 * than it was asked because the stack's mapping ended there.
 */
static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct cur *c = &((struct pps_unwind *)arg)->cur;
	uint64_t off, n;

	(void)dwfl;
	if (addr < c->sp0)
		return false;
	off = addr - c->sp0;
	n = off < c->stack_size ? c->stack_size - off : 0;
	if (n < c->arch->word) {
		c->cut |= c->copy_full;
		return false;
	}
	*result = 0;
	memcpy(result, c->stack + off, n < sizeof(*result) ? n : sizeof(*result));
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct cur *c = &((struct pps_unwind *)arg)->cur;
	const struct dwarf_arch *a = c->arch;

	for (unsigned int r = 0; r < a->nregs; r++) {
		Dwarf_Word v;

		/* A register the sample lacks stays unknown: a rule needing it fails. */
		if (perf_reg(c->s, (unsigned int)a->perf[r], &v) &&
		    !dwfl_thread_state_registers(thread, (int)r, 1, &v))
			return false;
	}
	dwfl_thread_state_register_pc(thread, c->ip);
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct pps_unwind *u = arg;
	struct cur *c = &u->cur;
	Dwarf_Addr pc;
	Dwarf_Word sp = c->prev_sp;
	uint8_t flags;
	bool first = c->nr == 0;
	int ret;

	if (!dwfl_frame_pc(state, &pc, NULL))
		goto truncated;
	if (!first) {
		/* A caller's stack pointer is above its callee's (a signal handler may run on
		 * another stack): anything else was not unwound from real data. */
		if (dwfl_frame_reg(state, c->arch->sp, &sp) == 0 && !c->prev_sig &&
		    (sp < c->prev_sp || (sp == c->prev_sp && pc == c->prev_pc)))
			goto truncated;
	}
	if (c->nr == u->max_frames)
		goto truncated;
	/* Looked up where libdwfl will look it up: pc - 1 for a return address. */
	ret = cfi_info(u, c->as, first || c->prev_sig ? pc : pc - 1, &flags);
	if (ret) {
		c->err = ret < 0 ? ret : 0;
		c->stale = ret == STALE;
		return DWARF_CB_ABORT;
	}
	/* A return address in no map at all is not one: the data was not a stack's. */
	if (!first && !(flags & IN_MAP))
		goto truncated;
	u->frames[c->nr].pc = pc;
	u->frames[c->nr].exact = first || c->prev_sig || (flags & CFI_SIGNAL);
	c->nr++;
	if (!(flags & CFI_HAS)) {
		if (!(flags & CFI_END))
			goto truncated;
		c->ended = true; /* the entry point's code */
		return DWARF_CB_ABORT;
	}
	c->last_flags = flags;
	c->prev_sig = flags & CFI_SIGNAL;
	c->prev_sp = sp;
	c->prev_pc = pc;
	return DWARF_CB_OK;

truncated:
	c->truncated = true;
	return DWARF_CB_ABORT;
}

/* ---- unwinding -------------------------------------------------------------------- */

/* Attaches the process's Dwfl to the unwinder, its architecture from module e. */
static void attach(struct pps_unwind *u, struct aspace *as, struct amod *e)
{
	Dwarf_Addr bias;
	GElf_Ehdr eh;
	Elf *elf = dwfl_module_getelf(e->mod, &bias);
	unsigned int machine = elf && gelf_getehdr(elf, &eh) ? eh.e_machine : 0;

	/* Either failure is the process's architecture: it is not tried again. */
	as->attached = true;
	as->arch = find_dwarf_arch(u->perf_arch, (uint16_t)machine);
	if (as->arch && !dwfl_attach_state(as->dwfl, NULL, as->pid, &thread_callbacks, u)) {
		pps_debug("pid %d: cannot unwind: %s", (int)as->pid, dwfl_errmsg(-1));
		as->arch = NULL;
	}
	as->no_arch = !as->arch;
	if (as->no_arch && !u->told_arch) {
		pps_warn("pid %d: no DWARF unwinding for ELF machine %u on this recording's "
			 "kernel: its user stacks are left as recorded",
			 (int)as->pid, machine);
		u->told_arch = true;
	}
}

/* One try at the sample's user stack into u->frames. 0, STALE, or -ENOMEM. */
static int unwind_once(struct pps_unwind *u, struct aspace *as, pid_t tid)
{
	struct cur *c = &u->cur;
	struct amod *e;
	int ret;

	c->nr = 0;
	c->prev_sp = c->sp0;
	c->prev_pc = 0;
	c->prev_sig = c->truncated = c->cut = c->stale = c->ended = false;
	c->last_flags = 0;
	c->err = 0;
	ret = aspace_open(u, as);
	if (!ret)
		ret = amod_get(u, as, c->ip, &e);
	if (ret)
		return ret;
	if (!as->attached && e && e->mod)
		attach(u, as, e);
	if (!as->attached || !as->arch) {
		/* Nothing to unwind with yet (the pc is in no file): the pc alone. */
		c->truncated = true;
		return 0;
	}
	c->arch = as->arch;
	ret = dwfl_getthread_frames(as->dwfl, tid, frame_cb, u);
	if (c->err)
		return c->err;
	if (c->stale)
		return STALE;
	/*
	 * Where the frame callback did not stop it, the stack ends where its last frame's
	 * CFI says the return address is undefined (_start, a thread's start), or where
	 * libdwfl found no return address: zero, or past the end of the stack. Otherwise
	 * libdwfl failed, or the return address was past a copy that did not reach the end.
	 */
	if (!c->truncated && !c->ended && !(c->last_flags & CFI_END) && (ret || c->cut))
		c->truncated = true;
	return 0;
}

/* u->chain from the sample's kernel part and u->frames. -ENOMEM. */
static int build_chain(struct pps_unwind *u, const struct pps_event *ev,
		       struct pps_unwind_result *res)
{
	const struct pps_sample *s = &ev->sample;
	uint16_t cpumode = ev->misc & PERF_RECORD_MISC_CPUMODE_MASK;
	const struct cur *c = &u->cur;
	size_t need = s->callchain_nr + 3 + 2 * c->nr, nr = 0;

	if (need > u->chain_cap) {
		uint64_t *n = realloc(u->chain, need * sizeof(*n));

		if (!n)
			return -ENOMEM;
		u->chain = n;
		u->chain_cap = need;
	}
	/* The kernel part: everything before the user context. */
	for (uint64_t i = 0; i < s->callchain_nr; i++) {
		uint64_t w = s->callchain[i];

		if (w >= PERF_CONTEXT_MAX && w != PERF_CONTEXT_KERNEL && w != PERF_CONTEXT_HV)
			break;
		u->chain[nr++] = w;
	}
	if (!s->callchain_nr && s->ip &&
	    (cpumode == PERF_RECORD_MISC_KERNEL || cpumode == PERF_RECORD_MISC_HYPERVISOR)) {
		u->chain[nr++] = PERF_CONTEXT_KERNEL;
		u->chain[nr++] = s->ip;
	}
	for (size_t i = 0; i < c->nr; i++) {
		if (i == 0 || u->frames[i].exact)
			u->chain[nr++] = PERF_CONTEXT_USER;
		u->chain[nr++] = u->frames[i].pc;
	}
	if (c->truncated)
		u->chain[nr++] = PERF_CONTEXT_USER;
	res->callchain = u->chain;
	res->nr = nr;
	res->nr_frames = c->nr;
	res->truncated = c->truncated;
	return 0;
}

int pps_unwind_sample(struct pps_unwind *u, const struct pps_event *ev,
		      struct pps_unwind_result *res)
{
	const struct pps_sample *s = &ev->sample;
	uint16_t cpumode = ev->misc & PERF_RECORD_MISC_CPUMODE_MASK;
	struct cur *c = &u->cur;
	struct aspace *as;
	uint64_t gen;
	int ret;

	if (!pps_unwind_wanted(s) || !u->perf_arch || cpumode == PERF_RECORD_MISC_GUEST_KERNEL ||
	    cpumode == PERF_RECORD_MISC_GUEST_USER)
		return 0;
	memset(c, 0, sizeof(*c));
	c->s = s;
	if (!perf_reg(s, u->perf_arch->ip, &c->ip) || !perf_reg(s, u->perf_arch->sp, &c->sp0))
		return 0;
	c->stack = s->user_stack;
	c->stack_size = s->user_stack ? s->user_stack_dyn_size : 0;
	c->copy_full = c->stack_size == s->user_stack_size;
	as = aspace_get(u, (int32_t)s->pid);
	if (!as)
		return -ENOMEM;
	c->as = as;
	pps_machine_find_map(u->machine, as->pid, false, c->ip, &gen);
	aspace_check(u, as, gen);
	ret = unwind_once(u, as, s->tid > 0 && s->tid != UINT32_MAX ? (pid_t)s->tid : as->pid);
	if (ret == STALE) {
		/* The maps moved under a reported module: rebuild the Dwfl, once. */
		aspace_close(u, as);
		ret = unwind_once(u, as, (pid_t)as->pid);
		if (ret == STALE) {
			c->truncated = true;
			ret = 0;
		}
	}
	if (ret < 0)
		return ret;
	if (as->no_arch)
		return 0;
	if (!c->nr) {
		u->frames[0] = (struct frame){c->ip, true};
		c->nr = 1;
		c->truncated = true;
	}
	ret = build_chain(u, ev, res);
	if (ret)
		return ret;
	u->stats.nr_samples++;
	u->stats.nr_truncated += c->truncated;
	u->stats.nr_frames += c->nr;
	return 1;
}
