/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The symbolizer: which source knows a map's symbols (a binary through dso.c, the
 * kernel through kallsyms.c or a vmlinux, a JIT through perfmap.c), and a cache of
 * every address resolved.
 *
 * Facts that shaped it:
 * - A recording has millions of samples over thousands to a few hundred thousand
 *   distinct (binary, address) pairs, and perf.data names the same few hundred files
 *   again in every MMAP. So there are two hash tables: binaries by name (plus build-id),
 *   opened on first sight and never again, and results by (binary, file address). Memory
 *   is proportional to distinct addresses; frames and strings live in an arena and a
 *   string pool until pps_symbolizer_free(), which is what lets lookups return pointers.
 * - The cache key is the binary-relative address (ELF vaddr, or the kernel address
 *   before the KASLR shift), so one library mapped at different addresses by many
 *   processes shares its entries.
 * - Names are demangled once, when a frame is first made.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "internal/demangle.h"
#include "internal/dso.h"
#include "internal/kallsyms.h"
#include "internal/perfmap.h"
#include "internal/symbolizer.h"
#include "internal/util.h"

/* The kernel's key in the binary table, whatever suffix its map name has. */
#define KERNEL_NAME "[kernel.kallsyms]"
/* Longest build-id stored; perf's field is 20 bytes (24 with padding). */
#define MAX_BUILD_ID 64

enum bin_kind {
	BIN_NONE,     /* nothing to resolve with: info.status says why */
	BIN_DSO,      /* an ELF file: address = ELF vaddr */
	BIN_VMLINUX,  /* the kernel through --vmlinux: address = pc - KASLR shift */
	BIN_KALLSYMS, /* the kernel or a module through kallsyms: same address */
	BIN_PERFMAP,  /* JIT code: address = pc */
};

/* One binary (or kernel, or JIT map) as looked at. */
struct binary {
	const char *key;  /* in pool: path; with a build-id or mount namespace, "\1" build-id
			     hex "\2" namespace inode */
	const char *name; /* in pool: the path as recorded (for for_each_file) */
	struct pps_sym_file info;
	enum bin_kind kind;
	struct pps_dso *dso;	  /* BIN_DSO (owned), BIN_VMLINUX (the symbolizer's) */
	struct pps_perfmap *pmap; /* BIN_PERFMAP, owned */
	bool module;		  /* a kernel module: kallsyms addresses are not shifted */
	uint32_t idx;		  /* index in bins + 1: the cache key */
};

/* A resolved address. */
struct cached {
	uint64_t addr;
	uint32_t bin;			    /* binary index + 1; 0: empty slot */
	uint32_t nr;			    /* frames */
	const struct pps_sym_frame *frames; /* in arena */
};

/* A pointer-keyed open-addressing map (keys are pool strings, so pointers compare). */
struct ptrmap_slot {
	const void *key;
	void *val;
};

struct ptrmap {
	struct ptrmap_slot *slots;
	size_t cap; /* 0 or a power of two; at most half full */
	size_t used;
};

/* A recorded build-id. */
struct build_id {
	uint8_t id[MAX_BUILD_ID];
	uint8_t size;
	bool kernel;
};

struct pps_symbolizer {
	struct pps_symbolizer_opts opts; /* strings point into pool */
	struct pps_dso_search search;
	struct pps_strpool pool; /* every string handed out */
	struct pps_arena arena;	 /* frames, build_id records */

	struct binary **bins; /* in order of first sight */
	size_t nr_bins, bins_cap;
	struct ptrmap bin_by_key;
	struct ptrmap build_ids; /* recorded path (pool) -> struct build_id */

	struct cached *cache; /* open addressing, at most half full */
	size_t cache_cap, cache_used;

	/* The kernel, decided on the first kernel map. */
	bool kernel_ready;
	bool running, running_known;   /* the recording is of the running kernel (map_root()) */
	struct pps_kallsyms *kallsyms; /* --kallsyms or /proc/kallsyms, NULL */
	struct pps_dso *vmlinux;       /* --vmlinux, NULL */
	enum pps_sym_status kernel_status;
	int64_t kaslr_shift;	/* vmlinux: runtime = ELF address + shift */
	int64_t kallsyms_shift; /* the same for the kallsyms file's addresses */
	uint64_t text_addr;	/* set_kernel(); 0 when not given */
	const char *ref_sym;	/* "_text" or "_stext", in pool */
	const char *os_release;

	/* binary_get()'s memo: the binary of a recent map, found without interning its name
	 * and build-id again. Cleared when build-ids are added. */
	struct bin_memo {
		const char *ptr;  /* m->filename as the caller passed it */
		const char *name; /* in pool: a copy to check ptr's content against */
		struct binary *b;
		int32_t pid; /* compared only for anonymous maps (their perf map is per pid) */
		bool anon;
		bool kernel;
		uint8_t id_size;
		uint8_t id[20];
	} memo[64];
};

/* ---- helpers shared with the sources (symsrc.h) ---- */

int pps_frames_push(struct pps_frames *fr, const char *raw_name, const char *file, int64_t line,
		    int64_t start_line)
{
	struct pps_sym_frame *f;
	char *dem;

	if (fr->nr == PPS_MAX_FRAMES)
		return 0;
	f = &fr->f[fr->nr];
	f->system_name = pps_strpool_str(fr->pool, raw_name ? raw_name : "");
	dem = pps_demangle(f->system_name);
	f->name = dem ? pps_strpool_str(fr->pool, dem) : f->system_name;
	free(dem);
	f->file = pps_strpool_str(fr->pool, file ? file : "");
	if (!f->system_name || !f->name || !f->file)
		return -ENOMEM;
	f->line = line > 0 ? line : 0;
	f->start_line = start_line > 0 ? start_line : 0;
	fr->nr++;
	return 0;
}

const char *pps_build_id_hex(struct pps_strpool *pool, const uint8_t *id, size_t size)
{
	char buf[2 * MAX_BUILD_ID + 1];

	if (size > MAX_BUILD_ID)
		size = MAX_BUILD_ID;
	return pps_strpool_intern(pool, pps_hex(id, size, buf), 2 * size);
}

/* ---- tables ---- */

static size_t ptr_hash(const void *p, size_t mask)
{
	uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & mask;
}

static void *ptrmap_get(const struct ptrmap *m, const void *key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = ptr_hash(key, m->cap - 1); m->slots[i].key; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].key == key)
			return m->slots[i].val;
	}
	return NULL;
}

/* Sets key to val (replacing). 0 or -ENOMEM. */
static int ptrmap_put(struct ptrmap *m, const void *key, void *val)
{
	size_t i;

	if ((m->used + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct ptrmap_slot *s = pps_calloc_table(cap, sizeof(*s));

		if (!s)
			return -ENOMEM;
		for (size_t j = 0; j < m->cap; j++) {
			if (!m->slots[j].key)
				continue;
			i = ptr_hash(m->slots[j].key, cap - 1);
			while (s[i].key)
				i = (i + 1) & (cap - 1);
			s[i] = m->slots[j];
		}
		free(m->slots);
		m->slots = s;
		m->cap = cap;
	}
	for (i = ptr_hash(key, m->cap - 1); m->slots[i].key; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].key == key) {
			m->slots[i].val = val;
			return 0;
		}
	}
	m->slots[i] = (struct ptrmap_slot){key, val};
	m->used++;
	return 0;
}

static size_t cache_hash(uint32_t bin, uint64_t addr, size_t mask)
{
	uint64_t h = (addr ^ ((uint64_t)bin << 48)) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 29) & mask;
}

static struct cached *cache_find(struct pps_symbolizer *s, uint32_t bin, uint64_t addr)
{
	if (!s->cache_cap)
		return NULL;
	for (size_t i = cache_hash(bin, addr, s->cache_cap - 1); s->cache[i].bin;
	     i = (i + 1) & (s->cache_cap - 1)) {
		if (s->cache[i].bin == bin && s->cache[i].addr == addr)
			return &s->cache[i];
	}
	return NULL;
}

/* Inserts an entry known to be absent. NULL on ENOMEM. */
static struct cached *cache_add(struct pps_symbolizer *s, uint32_t bin, uint64_t addr)
{
	size_t i;

	if ((s->cache_used + 1) * 2 > s->cache_cap) {
		size_t cap = s->cache_cap ? s->cache_cap * 2 : 1024;
		struct cached *c = pps_calloc_table(cap, sizeof(*c));

		if (!c)
			return NULL;
		for (size_t j = 0; j < s->cache_cap; j++) {
			if (!s->cache[j].bin)
				continue;
			i = cache_hash(s->cache[j].bin, s->cache[j].addr, cap - 1);
			while (c[i].bin)
				i = (i + 1) & (cap - 1);
			c[i] = s->cache[j];
		}
		free(s->cache);
		s->cache = c;
		s->cache_cap = cap;
	}
	i = cache_hash(bin, addr, s->cache_cap - 1);
	while (s->cache[i].bin)
		i = (i + 1) & (s->cache_cap - 1);
	s->cache[i] = (struct cached){.addr = addr, .bin = bin};
	s->cache_used++;
	return &s->cache[i];
}

/* ---- lifecycle ---- */

static const char *opt_str(struct pps_symbolizer *s, const char *v, bool *ok)
{
	const char *r;

	if (!v)
		return NULL;
	r = pps_strpool_str(&s->pool, v);
	if (!r)
		*ok = false;
	return r;
}

struct pps_symbolizer *pps_symbolizer_new(const struct pps_symbolizer_opts *opts)
{
	struct pps_symbolizer *s;
	bool ok = true;
	char *p = NULL;

	s = calloc(1, sizeof(*s));
	if (!s)
		goto out_err;
	if (opts) {
		/* Older callers pass a smaller struct: take only what they know of. */
		memcpy(&s->opts, opts, opts->sz < sizeof(s->opts) ? opts->sz : sizeof(s->opts));
	}
	s->opts.sz = sizeof(s->opts);
	s->opts.symfs = opt_str(s, s->opts.symfs, &ok);
	s->opts.kallsyms = opt_str(s, s->opts.kallsyms, &ok);
	s->opts.vmlinux = opt_str(s, s->opts.vmlinux, &ok);
	if (pps_dso_buildid_dir(s->opts.buildid_dir, &p))
		ok = false;
	s->opts.buildid_dir = opt_str(s, p, &ok);
	free(p);
	if (!ok)
		goto out_free;
	/* perf's --symfs "/" or "" is no prefix ("//usr/lib" would do, but reads badly). */
	s->search.symfs = s->opts.symfs ? s->opts.symfs : "";
	if (!strcmp(s->search.symfs, "/"))
		s->search.symfs = "";
	s->search.has_symfs = s->search.symfs[0] != '\0';
	s->search.buildid_dir = s->opts.buildid_dir;
	if (s->opts.debuginfod) {
		s->search.debuginfod = debuginfod_begin();
		if (!s->search.debuginfod)
			pps_warn("debuginfod: cannot start a client");
	}
	return s;
out_free:
	pps_symbolizer_free(s);
out_err:
	errno = ENOMEM;
	return NULL;
}

void pps_symbolizer_free(struct pps_symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nr_bins; i++) {
		struct binary *b = s->bins[i];

		if (b->kind == BIN_DSO)
			pps_dso_free(b->dso);
		pps_perfmap_free(b->pmap);
		free(b);
	}
	free(s->bins);
	free(s->bin_by_key.slots);
	free(s->build_ids.slots);
	free(s->cache);
	pps_dso_free(s->vmlinux);
	pps_kallsyms_free(s->kallsyms);
	if (s->search.debuginfod)
		debuginfod_end(s->search.debuginfod);
	pps_arena_release(&s->arena);
	pps_strpool_release(&s->pool);
	free(s);
}

int pps_symbolizer_add_build_id(struct pps_symbolizer *s, const char *filename, bool kernel,
				const uint8_t *id, size_t size)
{
	struct build_id *b;
	const char *key;

	memset(s->memo, 0, sizeof(s->memo));

	if (!size)
		return 0;
	if (size > MAX_BUILD_ID)
		return -EINVAL;
	/* The kernel is one binary whatever its map suffix ("[kernel.kallsyms]_text"). */
	if (kernel && !strncmp(filename, KERNEL_NAME, strlen(KERNEL_NAME)))
		filename = KERNEL_NAME;
	key = pps_strpool_str(&s->pool, filename);
	b = pps_arena_alloc(&s->arena, sizeof(*b));
	if (!key || !b)
		return -ENOMEM;
	memcpy(b->id, id, size);
	b->size = (uint8_t)size;
	b->kernel = kernel;
	return ptrmap_put(&s->build_ids, key, b);
}

int pps_symbolizer_set_kernel(struct pps_symbolizer *s, uint64_t text_addr, const char *ref_sym,
			      const char *os_release)
{
	s->text_addr = text_addr;
	s->ref_sym = pps_strpool_str(&s->pool, ref_sym && *ref_sym ? ref_sym : "_text");
	s->os_release = os_release ? pps_strpool_str(&s->pool, os_release) : NULL;
	if (!s->ref_sym || (os_release && !s->os_release))
		return -ENOMEM;
	return 0;
}

/* ---- the kernel ---- */

static int kernel_setup(struct pps_symbolizer *s);

const char *pps_symbolizer_kernel_symbol(struct pps_symbolizer *s, uint64_t addr)
{
	const char *module;

	if (kernel_setup(s) || !s->kallsyms || pps_kallsyms_restricted(s->kallsyms))
		return NULL;
	return pps_kallsyms_find(s->kallsyms, addr - (uint64_t)s->kallsyms_shift, &module);
}

/* The NT_GNU_BUILD_ID note in /sys/kernel/notes; its size, 0 when not found. */
static size_t running_kernel_build_id(uint8_t *id)
{
	uint8_t buf[4096];
	struct pps_cursor c;
	size_t n, got = 0;
	FILE *f;

	f = fopen("/sys/kernel/notes", "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	pps_cursor_init(&c, buf, n);
	for (;;) {
		uint32_t namesz, descsz, type;
		const void *name, *desc;

		if (!pps_cursor_u32(&c, &namesz) || !pps_cursor_u32(&c, &descsz) ||
		    !pps_cursor_u32(&c, &type) ||
		    !pps_cursor_array(&c, ((uint64_t)namesz + 3) & ~3ull, 1, &name) ||
		    !pps_cursor_array(&c, ((uint64_t)descsz + 3) & ~3ull, 1, &desc))
			break;
		if (type == 3 /* NT_GNU_BUILD_ID */ && namesz == 4 && !memcmp(name, "GNU", 4) &&
		    descsz && descsz <= MAX_BUILD_ID) {
			memcpy(id, desc, descsz);
			got = descsz;
			break;
		}
	}
	return got;
}

/*
 * Is the running kernel the recorded one? Yes when the build-ids match, or, without a
 * recorded build-id, when the release strings match. With neither known, assume so
 * (perf does the same).
 */
bool pps_sym_kernel_is_running(const uint8_t *rec, size_t size, const char *os_release)
{
	uint8_t id[MAX_BUILD_ID];
	struct utsname u;
	size_t n;

	if (size) {
		n = running_kernel_build_id(id);
		if (n)
			return pps_build_id_equal(rec, size, id, n);
	}
	if (os_release)
		return !uname(&u) && !strcmp(u.release, os_release);
	return true;
}

static bool kernel_is_running(struct pps_symbolizer *s)
{
	const struct build_id *rec =
	    ptrmap_get(&s->build_ids, pps_strpool_str(&s->pool, KERNEL_NAME));

	return pps_sym_kernel_is_running(rec ? rec->id : NULL, rec ? rec->size : 0,
					 s->os_release);
}

/* Loads a kallsyms file; the status it leads to. -ENOMEM only. */
static int kernel_load_kallsyms(struct pps_symbolizer *s, const char *path)
{
	uint64_t ref;
	int err = pps_kallsyms_load(path, &s->kallsyms);

	if (err == -ENOMEM)
		return err;
	if (err) {
		pps_warn("%s: cannot read kernel symbols: %s", path, strerror(-err));
		s->kernel_status = PPS_SYM_NOT_FOUND;
		return 0;
	}
	if (pps_kallsyms_restricted(s->kallsyms)) {
		pps_warn("%s: all addresses are zero (kernel.kptr_restrict)", path);
		s->kernel_status = PPS_SYM_KPTR_RESTRICT;
		return 0;
	}
	s->kernel_status = PPS_SYM_OK;
	if (s->text_addr && !pps_kallsyms_symbol(s->kallsyms, s->ref_sym, &ref))
		s->kallsyms_shift = (int64_t)(s->text_addr - ref);
	return 0;
}

/*
 * Decides once, on the first kernel map, where kernel symbols come from: --vmlinux for
 * the kernel itself, --kallsyms, /proc/kallsyms when the recorded kernel is the running
 * one, else the copy perf record keeps in its build-id cache (modules: always kallsyms).
 * -ENOMEM only; the rest is kernel_status.
 */
static int kernel_setup(struct pps_symbolizer *s)
{
	const struct build_id *rec;
	char *kcache = NULL;
	bool running;
	uint64_t ref;
	int err = 0;

	if (s->kernel_ready)
		goto out;
	s->kernel_ready = true;
	if (!s->ref_sym && !(s->ref_sym = pps_strpool_str(&s->pool, "_text"))) {
		err = -ENOMEM;
		goto out;
	}
	running = kernel_is_running(s);
	if (s->opts.vmlinux) {
		rec = ptrmap_get(&s->build_ids, pps_strpool_str(&s->pool, KERNEL_NAME));
		err = pps_dso_open_file(&s->search, s->opts.vmlinux, rec ? rec->id : NULL,
					rec ? rec->size : 0, &s->vmlinux, &s->kernel_status);
		if (err)
			goto out;
		if (s->vmlinux && s->text_addr && !pps_dso_symbol(s->vmlinux, s->ref_sym, &ref))
			s->kaslr_shift = (int64_t)(s->text_addr - ref);
	}
	rec = ptrmap_get(&s->build_ids, pps_strpool_str(&s->pool, KERNEL_NAME));
	kcache =
	    rec && !running ? pps_dso_cache_path(&s->search, rec->id, rec->size, "kallsyms") : NULL;
	if (s->opts.kallsyms)
		err = kernel_load_kallsyms(s, s->opts.kallsyms);
	else if (running && !s->vmlinux)
		err = kernel_load_kallsyms(s, "/proc/kallsyms");
	else if (kcache && !access(kcache, R_OK)) /* perf record saved it */
		err = kernel_load_kallsyms(s, kcache);
	else if (running) /* for modules; the kernel's status is the vmlinux' */
		err = pps_kallsyms_load("/proc/kallsyms", &s->kallsyms) == -ENOMEM ? -ENOMEM : 0;
	else if (!s->opts.vmlinux)
		s->kernel_status = PPS_SYM_KERNEL_MISMATCH;
	free(kcache);
out:
	return err;
}

/* ---- binaries ---- */

bool pps_sym_is_anon(const char *f)
{
	static const char *const prefixes[] = {
	    "//anon",	      "[anon",	   "/memfd:", "[heap]",	   "[stack",
	    "/anon_hugepage", "/dev/zero", "/SYSV",   "/tmp/perf-"};

	for (size_t i = 0; i < PPS_ARRAY_SIZE(prefixes); i++) {
		if (!strncmp(f, prefixes[i], strlen(prefixes[i])))
			return true;
	}
	return false;
}

/* The recorded build-id of map m: its own (MMAP2) or the header's for its file. */
static const uint8_t *map_build_id(struct pps_symbolizer *s, const struct pps_sym_map *m,
				   const char *name, size_t *size)
{
	const struct build_id *b;

	if (m->build_id && m->build_id_size) {
		*size = m->build_id_size > MAX_BUILD_ID ? MAX_BUILD_ID : m->build_id_size;
		return m->build_id;
	}
	b = ptrmap_get(&s->build_ids, name);
	*size = b ? b->size : 0;
	return b ? b->id : NULL;
}

/* Finds what resolves a new binary b; sets b->kind and b->info. -ENOMEM only. */
static int binary_open(struct pps_symbolizer *s, struct binary *b, const struct pps_sym_map *m,
		       const char *root, const uint8_t *id, size_t id_size)
{
	enum pps_sym_status st = PPS_SYM_NOT_FOUND;
	char path[64], *open_path = NULL;
	const uint8_t *fid;
	size_t fid_size, n;
	int err = 0;

	if (m->kernel) {
		err = kernel_setup(s);
		if (err)
			goto out;
		b->module = strcmp(b->name, KERNEL_NAME) != 0;
		if (!b->module && s->vmlinux) {
			b->kind = BIN_VMLINUX;
			b->dso = s->vmlinux;
			st = PPS_SYM_OK;
		} else if (s->kallsyms && !pps_kallsyms_restricted(s->kallsyms)) {
			b->kind = BIN_KALLSYMS;
			st = PPS_SYM_OK;
		} else {
			st = s->kernel_status != PPS_SYM_OK ? s->kernel_status : PPS_SYM_NOT_FOUND;
		}
	} else if (!strcmp(m->filename, "[vdso]")) {
		err = pps_dso_open_vdso(&s->search, id, id_size, &b->dso, &st);
		if (b->dso)
			b->kind = BIN_DSO;
	} else if (pps_sym_is_anon(m->filename)) {
		snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)m->pid);
		err = pps_perfmap_load(path, &b->pmap);
		if (!err) {
			b->kind = BIN_PERFMAP;
			st = PPS_SYM_OK;
		} else {
			st = PPS_SYM_ANON;
			err = err == -ENOMEM ? err : 0;
		}
	} else if (m->filename[0] == '[') {
		st = PPS_SYM_NOT_FOUND; /* [vsyscall], [uprobes], ... */
	} else {
		/* A file replaced after the process mapped it: perf appends " (deleted)". */
		n = strlen(m->filename);
		if (n > 10 && !strcmp(m->filename + n - 10, " (deleted)")) {
			open_path = pps_strndup(m->filename, n - 10);
			if (!open_path) {
				err = -ENOMEM;
				goto out;
			}
		}
		err = pps_dso_open(&s->search, open_path ? open_path : m->filename, root, id,
				   id_size, &b->dso, &st);
		free(open_path);
		if (b->dso)
			b->kind = BIN_DSO;
	}
	b->info.status = st;
	/* The mapping's build-id: the recording's, else the one of the file found. */
	fid = id;
	fid_size = id_size;
	if (!fid_size && (b->kind == BIN_DSO || b->kind == BIN_VMLINUX))
		fid_size = pps_dso_build_id(b->dso, &fid);
	if (fid_size && !err) {
		b->info.build_id_hex = pps_build_id_hex(&s->pool, fid, fid_size);
		if (!b->info.build_id_hex)
			err = -ENOMEM;
	}
out:
	return err;
}

/* Appends a new, empty binary with key and name to s->bins. NULL on ENOMEM. */
static struct binary *binary_add(struct pps_symbolizer *s, const char *key, const char *name)
{
	struct binary *b = NULL, **n;
	size_t cap;

	if (s->nr_bins == s->bins_cap) {
		cap = s->bins_cap ? s->bins_cap * 2 : 32;
		n = s->nr_bins < UINT32_MAX / 2 ? realloc(s->bins, cap * sizeof(*n)) : NULL;
		if (!n)
			goto out;
		s->bins = n;
		s->bins_cap = cap;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		goto out;
	if (ptrmap_put(&s->bin_by_key, key, b)) {
		free(b);
		b = NULL;
		goto out;
	}
	b->key = key;
	b->name = name;
	s->bins[s->nr_bins++] = b;
	b->idx = (uint32_t)s->nr_bins;
out:
	return b;
}

/*
 * The binary for map m, opened on first sight. NULL on ENOMEM. A binary that could
 * not be opened stays in the table with its status: it is not tried again.
 */
static struct binary *binary_get_slow(struct pps_symbolizer *s, const struct pps_sym_map *m);

/* binary_get_slow() through the memo: maps of one binary come in runs. */
static struct binary *binary_get(struct pps_symbolizer *s, const struct pps_sym_map *m)
{
	struct bin_memo *mm = &s->memo[((uintptr_t)m->filename >> 4) & 63];
	uint8_t id_size = m->build_id ? (m->build_id_size > 20 ? 20 : m->build_id_size) : 0;
	struct binary *b;

	if (mm->ptr == m->filename && mm->b && mm->kernel == m->kernel &&
	    (!mm->anon || mm->pid == m->pid) && mm->id_size == id_size &&
	    !memcmp(mm->id, m->build_id ? m->build_id : mm->id, id_size) &&
	    !strcmp(mm->name, m->filename))
		return mm->b;
	b = binary_get_slow(s, m);
	if (!b)
		return NULL;
	mm->name = pps_strpool_str(&s->pool, m->filename);
	if (!mm->name) {
		mm->b = NULL;
		return b;
	}
	mm->ptr = m->filename;
	mm->b = b;
	mm->kernel = m->kernel;
	mm->pid = m->pid;
	mm->anon = !m->kernel && pps_sym_is_anon(m->filename);
	mm->id_size = id_size;
	if (id_size)
		memcpy(mm->id, m->build_id, id_size);
	return b;
}

/*
 * Whether the file of user map m is to be found through its process, which is alive in
 * another mount namespace (a container): then root and *ns as pps_dso_foreign_root() sets
 * them. Only for a recording of the running kernel: a pid in another machine's recording,
 * or a past boot's, is not the process of that number here.
 */
static bool map_root(struct pps_symbolizer *s, const struct pps_sym_map *m, char *root, size_t rsz,
		     uint64_t *ns)
{
	if (m->kernel || m->filename[0] != '/' || pps_sym_is_anon(m->filename))
		return false;
	if (!s->running_known) {
		s->running = kernel_is_running(s);
		s->running_known = true;
	}
	return s->running && pps_dso_foreign_root(m->pid, root, rsz, ns);
}

static struct binary *binary_get_slow(struct pps_symbolizer *s, const struct pps_sym_map *m)
{
	char pidname[64], root[32], *keybuf = NULL;
	const char *name = m->filename, *key, *hex;
	const uint8_t *id = NULL;
	struct binary *b = NULL;
	size_t id_size = 0;
	uint64_t ns = 0;
	bool foreign;

	if (m->kernel && !strncmp(name, KERNEL_NAME, strlen(KERNEL_NAME))) {
		name = KERNEL_NAME;
	} else if (!m->kernel && pps_sym_is_anon(name)) {
		/* Anonymous maps of one process share its perf map, whatever their name. */
		snprintf(pidname, sizeof(pidname), "/tmp/perf-%d.map", (int)m->pid);
		name = pidname;
	}
	name = pps_strpool_str(&s->pool, name);
	if (!name)
		goto out;
	if (!m->kernel || !strcmp(name, KERNEL_NAME))
		id = map_build_id(s, m, name, &id_size);
	/* An MMAP2 build-id of the kernel decides whether it is the running one too. */
	if (m->kernel && id_size && !s->kernel_ready && !ptrmap_get(&s->build_ids, name) &&
	    pps_symbolizer_add_build_id(s, name, true, id, id_size))
		goto out;
	key = name;
	foreign = map_root(s, m, root, sizeof(root), &ns);
	if (id_size || foreign) {
		/* One path can be two binaries: a file upgraded while the recording ran, or
		 * the same name in two containers. */
		hex = id_size ? pps_build_id_hex(&s->pool, id, id_size) : "";
		if (!hex || asprintf(&keybuf, "%s\1%s\2%" PRIu64, name, hex, ns) < 0) {
			keybuf = NULL;
			goto out;
		}
		key = pps_strpool_str(&s->pool, keybuf);
		if (!key)
			goto out;
	}
	b = ptrmap_get(&s->bin_by_key, key);
	if (b)
		goto out;
	b = binary_add(s, key, name);
	if (b && binary_open(s, b, m, foreign ? root : NULL, id, id_size))
		b = NULL; /* ENOMEM: the half-made binary is freed with the symbolizer */
out:
	free(keybuf);
	return b;
}

/* The binary-relative address of pc: the cache key. false: pc maps to nothing. */
static bool binary_addr(struct pps_symbolizer *s, struct binary *b, const struct pps_sym_map *m,
			uint64_t pc, uint64_t *addr)
{
	switch (b->kind) {
	case BIN_DSO:
		return pps_dso_offset_to_vaddr(b->dso, pc - m->start + m->pgoff, addr);
	case BIN_VMLINUX:
		*addr = pc - (uint64_t)s->kaslr_shift;
		return true;
	case BIN_KALLSYMS:
		*addr = b->module ? pc : pc - (uint64_t)s->kallsyms_shift;
		return true;
	case BIN_PERFMAP:
		*addr = pc;
		return true;
	case BIN_NONE:
	default:
		return false;
	}
}

static int binary_resolve(struct pps_symbolizer *s, struct binary *b, uint64_t addr,
			  struct pps_frames *fr)
{
	const char *name, *module;
	bool has_dwarf = false;
	int err = 0;

	switch (b->kind) {
	case BIN_DSO:
	case BIN_VMLINUX:
		err = pps_dso_lookup(b->dso, addr, s->opts.no_inline, fr, &has_dwarf);
		if (has_dwarf)
			b->info.has_inline_frames = true;
		break;
	case BIN_KALLSYMS:
		name = pps_kallsyms_find(s->kallsyms, addr, &module);
		if (name)
			err = pps_frames_push(fr, name, NULL, 0, 0);
		break;
	case BIN_PERFMAP:
		name = pps_perfmap_find(b->pmap, addr);
		if (name)
			err = pps_frames_push(fr, name, NULL, 0, 0);
		break;
	case BIN_NONE:
	default:
		break;
	}
	return err;
}

int pps_symbolizer_lookup(struct pps_symbolizer *s, const struct pps_sym_map *m, uint64_t pc,
			  struct pps_sym_result *res)
{
	struct pps_sym_frame *frames = NULL;
	struct pps_frames *fr = NULL;
	struct binary *b;
	struct cached *c;
	uint64_t addr;
	int err = 0;

	res->frames = NULL;
	res->nr_frames = 0;
	res->file = NULL;
	if (!m->filename) {
		err = -EINVAL;
		goto out;
	}
	b = binary_get(s, m);
	if (!b) {
		err = -ENOMEM;
		goto out;
	}
	res->file = &b->info;
	if (!binary_addr(s, b, m, pc, &addr))
		goto out;
	c = cache_find(s, b->idx, addr);
	if (c)
		goto out_hit;
	/* Not on the stack: PPS_MAX_FRAMES frames are 2.5 KiB, and misses are rare. */
	fr = malloc(sizeof(*fr));
	if (!fr) {
		err = -ENOMEM;
		goto out;
	}
	fr->pool = &s->pool;
	fr->nr = 0;
	err = binary_resolve(s, b, addr, fr);
	if (err)
		goto out_free;
	if (fr->nr) {
		frames = pps_arena_alloc(&s->arena, fr->nr * sizeof(*frames));
		if (!frames) {
			err = -ENOMEM;
			goto out_free;
		}
		memcpy(frames, fr->f, fr->nr * sizeof(*frames));
	}
	c = cache_add(s, b->idx, addr);
	if (!c) {
		err = -ENOMEM;
		goto out_free;
	}
	c->frames = frames;
	c->nr = (uint32_t)fr->nr;
	for (size_t i = 0; i < fr->nr; i++) {
		b->info.has_functions |= frames[i].name[0] != '\0';
		b->info.has_filenames |= frames[i].file[0] != '\0';
		b->info.has_line_numbers |= frames[i].line != 0;
	}
out_hit:
	res->frames = c->frames;
	res->nr_frames = c->nr;
out_free:
	free(fr);
out:
	return err;
}

const struct pps_sym_file *pps_symbolizer_file(struct pps_symbolizer *s,
					       const struct pps_sym_map *m)
{
	struct binary *b = m->filename ? binary_get(s, m) : NULL;

	if (!b) {
		errno = m->filename ? ENOMEM : EINVAL;
		return NULL;
	}
	return &b->info;
}

void pps_symbolizer_for_each_file(struct pps_symbolizer *s,
				  void (*fn)(const char *path, const struct pps_sym_file *f,
					     void *ctx),
				  void *ctx)
{
	for (size_t i = 0; i < s->nr_bins; i++)
		fn(s->bins[i]->name, &s->bins[i]->info, ctx);
}

const char *pps_sym_status_str(enum pps_sym_status st)
{
	switch (st) {
	case PPS_SYM_OK:
		return "ok";
	case PPS_SYM_NOT_FOUND:
		return "file not found";
	case PPS_SYM_BUILD_ID_MISMATCH:
		return "build-id mismatch";
	case PPS_SYM_NO_SYMBOLS:
		return "no symbols";
	case PPS_SYM_KPTR_RESTRICT:
		return "kernel addresses hidden (kptr_restrict)";
	case PPS_SYM_KERNEL_MISMATCH:
		return "recorded kernel is not the running one";
	case PPS_SYM_ANON:
		return "anonymous memory without /tmp/perf-PID.map";
	case PPS_SYM_BAD_FILE:
		return "not a valid ELF file";
	}
	return "unknown";
}
