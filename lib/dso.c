/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One ELF binary and its debug info, through libdwfl.
 *
 * Facts that shaped it:
 * - A conversion touches tens to a few hundred binaries and resolves each address once
 *   (the symbolizer caches), so the cost that matters is opening: libdwfl reads the
 *   symbol table and DWARF lazily, on the first lookup that needs them.
 * - Each binary gets a Dwfl of its own, reported at base 0 with add_p_vaddr, so module
 *   addresses are ELF vaddrs whatever address the process had it at. The runtime pc
 *   becomes a file offset (pc - map.start + map.pgoff) and then a vaddr through the
 *   PT_LOAD headers of the binary, as perf's map__map_ip() and dso__data_* do.
 * - The recording's build-id decides which file is the right one. perf keeps copies in
 *   its build-id cache, so that is looked at before the path the process had.
 * - Inline frames come from the DIE tree: the CU's functions are indexed by address once,
 *   then the inlined instances holding the pc are walked down from the function. The
 *   line of a frame is where execution is inside it: the pc's line for the innermost,
 *   the DW_AT_call_line of the frame inlined into it for the others (addr2line -i,
 *   perf's inline_list). start_line is the function's DW_AT_decl_line.
 * - Files are untrusted: libelf and libdw check their own lengths; every length we read
 *   ourselves (the vdso's headers, build-id sizes, PLT section sizes and relocation
 *   indexes) is checked here.
 * - PLT stubs have no symbol in .symtab or .dynsym. perf synthesizes one per PLT
 *   relocation, "target@plt" (dso__synthesize_plt_symbols()), and so do we: otherwise a
 *   sample in a stub goes to the symbol before the PLT (_init, whose size is 0).
 */
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>

#include "internal/dso.h"
#include "internal/util.h"

/* Longest build-id kept; GNU ld writes 20 bytes (sha1), some linkers 16 or 32. */
#define MAX_BUILD_ID 64
/* A vdso is two to four pages; anything bigger read from auxv is not one. */
#define MAX_VDSO_SIZE ((size_t)1 << 20)

/* One PT_LOAD: file bytes [offset, offset + filesz) are mapped at vaddr. */
struct segment {
	uint64_t offset;
	uint64_t filesz;
	uint64_t vaddr;
};

struct pps_dso {
	Dwfl *dwfl; /* owns the module and its files */
	Dwfl_Module *mod;
	GElf_Addr bias;			     /* module address - ELF vaddr (0 at base 0) */
	char *path;			     /* the file opened */
	char *orig_path;		     /* the path as recorded, for debug-file search */
	const struct pps_dso_search *search; /* the symbolizer's, outlives the dso */
	uint8_t id[MAX_BUILD_ID];	     /* the file's build-id */
	size_t id_size;			     /* 0: the file has none */
	struct segment *segs;
	size_t nr_segs;
	struct cu_funcs *cus; /* function index per CU looked at, open addressing */
	size_t cus_cap;	      /* 0 or a power of two; at most half full */
	size_t nr_cus;
	int memfd; /* the vdso image behind path, -1 for files */
	struct fsym *syms; /* function symbols by address, built on the first lookup */
	size_t nr_syms;
	bool syms_loaded;
	char *plt_names; /* the synthesized PLT symbols' names ("puts@plt"), NUL-separated;
			    their fsym.name points here. NULL when none */
};

/*
 * A function symbol. dwfl_module_addrinfo() searches the symbol table linearly on every
 * call, which made symbolization of big binaries (libpython: 10^4 symbols) cost more than
 * everything else together; a sorted copy makes each lookup a binary search.
 */
struct fsym {
	GElf_Addr addr; /* module address */
	GElf_Addr end;	/* addr + size; for a sizeless symbol the next symbol's address */
	const char *name; /* owned by libdwfl's ELF data, or by pps_dso.plt_names */
	int rank;	  /* preference among symbols at one address: lower wins */
};

/*
 * The scopes nested in one function (inlined instances, and functions defined inside it),
 * built on the first lookup in the function: a lookup then binary-searches a level at a
 * time instead of walking the DIE tree, which for an interpreter's main loop means
 * thousands of sibling DIEs, each with its ranges to parse, per address.
 * Lexical, try and catch blocks are see-through: what they hold are their parent's
 * children here.
 */
struct scope_node {
	Dwarf_Die die;
	uint32_t first, nr; /* its children's ranges: ranges[first, first + nr), by low */
};
struct scope_range {
	Dwarf_Addr low, high; /* [low, high) */
	uint32_t node;
};
struct scope_index {
	struct scope_node *nodes; /* [0]: the function */
	size_t nr_nodes, nodes_cap;
	struct scope_range *ranges;
	size_t nr_ranges, ranges_cap;
};

/* One address range of a function defined at the top of a CU (or in a namespace). */
struct func_range {
	Dwarf_Addr low, high; /* [low, high) */
	Dwarf_Die die;	      /* a value: valid while the Dwarf is */
	struct scope_index *scopes; /* NULL until the first lookup in the range */
};

/*
 * The functions of one CU sorted by address, built on the first lookup in the CU: a
 * lookup then binary-searches instead of walking every top-level DIE, which matters for
 * C++ CUs with tens of thousands of them.
 */
struct cu_funcs {
	Dwarf_Off cu_off; /* the CU DIE's offset; key */
	bool used;
	struct func_range *v; /* sorted by low */
	size_t n;
};

enum probe {
	PROBE_MISSING,	/* no such file */
	PROBE_BAD,	/* not an ELF file, or unreadable as one */
	PROBE_MISMATCH, /* an ELF file with another build-id */
	PROBE_OK,
};

static void libelf_init(void)
{
	static bool done;

	/* elf_version() only sets a global; calling it twice is harmless. */
	if (!done) {
		elf_version(EV_CURRENT);
		done = true;
	}
}

bool pps_build_id_equal(const uint8_t *rec, size_t rec_size, const uint8_t *file_id,
			size_t file_size)
{
	/* perf stores ids in 20 (or 24) byte fields, zero-padded: compare the file's
	 * length and require the recorded rest to be padding. */
	if (rec_size < file_size)
		return false;
	if (memcmp(rec, file_id, file_size))
		return false;
	for (size_t i = file_size; i < rec_size; i++) {
		if (rec[i])
			return false;
	}
	return file_size > 0;
}

/* The build-id note of an open Elf, copied to id (size 0 when none). */
static size_t elf_build_id(Elf *elf, uint8_t *id)
{
	const void *bits;
	ssize_t n = dwelf_elf_gnu_build_id(elf, &bits);

	if (n <= 0 || n > MAX_BUILD_ID)
		return 0;
	memcpy(id, bits, (size_t)n);
	return (size_t)n;
}

/* Is path an ELF file with build-id want (any, when want_size is 0)? */
static enum probe probe_file(const char *path, const uint8_t *want, size_t want_size, uint8_t *id,
			     size_t *id_size)
{
	enum probe r = PROBE_BAD;
	struct stat st;
	Elf *elf;
	int fd;

	*id_size = 0;
	/* O_NONBLOCK: a FIFO under a user's --symfs must not hang us; S_ISREG follows. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return PROBE_MISSING;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		goto out_close;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		goto out_close;
	if (elf_kind(elf) != ELF_K_ELF)
		goto out_end;
	*id_size = elf_build_id(elf, id);
	r = PROBE_OK;
	/* A file without a build-id cannot be checked; it is taken, as perf does. */
	if (want_size && *id_size && !pps_build_id_equal(want, want_size, id, *id_size))
		r = PROBE_MISMATCH;
out_end:
	elf_end(elf);
out_close:
	close(fd);
	return r;
}


/* Joins into a malloc'ed string; NULL on ENOMEM (or a path too long to be real). */
PPS_PRINTF(1, 2) static char *path_fmt(const char *fmt, ...)
{
	char *p = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	if (n >= PATH_MAX) {
		free(p);
		errno = ENAMETOOLONG;
		return NULL;
	}
	return p;
}

int pps_dso_buildid_dir(const char *dir, char **out)
{
	const char *home;

	*out = NULL;
	if (!dir)
		dir = getenv("PERF_BUILDID_DIR");
	if (dir)
		*out = strdup(dir);
	else if ((home = getenv("HOME")) && asprintf(out, "%s/.debug", home) < 0)
		*out = NULL; /* the contents of *out are undefined then */
	else if (!home)
		return 0;
	return *out ? 0 : -ENOMEM;
}

/*
 * The build-id cache entry for id: perf >= 4.4 links .build-id/ab/cdef... to a
 * directory holding "elf" (and "debug"; "vdso" and "kallsyms" for those); older perf
 * linked it to the file itself. NULL when there is no cache or on ENOMEM.
 */
char *pps_dso_cache_path(const struct pps_dso_search *s, const uint8_t *id, size_t size,
			 const char *what)
{
	char hex[2 * MAX_BUILD_ID + 1];
	struct stat st;
	char *p;

	if (!s->buildid_dir || !size)
		return NULL;
	pps_hex(id, size, hex);
	p = path_fmt("%s/.build-id/%.2s/%s", s->buildid_dir, hex, hex + 2);
	if (!p || stat(p, &st) || !S_ISDIR(st.st_mode))
		return p;
	free(p);
	return path_fmt("%s/.build-id/%.2s/%s/%s", s->buildid_dir, hex, hex + 2, what);
}

/* Opens the debug file at path if its build-id is the binary's; the fd, or -1. */
static int try_debug_file(struct pps_dso *d, const char *path, char **found)
{
	uint8_t id[MAX_BUILD_ID];
	size_t id_size;

	if (!path || !strcmp(path, d->path))
		return -1;
	if (probe_file(path, d->id, d->id_size, id, &id_size) != PROBE_OK)
		return -1;
	/* Without ids on both sides, a debuglink file is taken on trust (no CRC check). */
	if (d->id_size && !id_size)
		return -1;
	*found = strdup(path);
	if (!*found)
		return -1;
	return open(path, O_RDONLY | O_CLOEXEC);
}

/*
 * libdwfl's find_debuginfo: called when the binary itself lacks DWARF or .symtab. Order:
 * perf's build-id cache, /usr/lib/debug/.build-id, .gnu_debuglink next to the file, in
 * .debug/ and under /usr/lib/debug, then debuginfod. Returns an fd that libdwfl owns.
 */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			  const char *file_name, const char *debuglink, GElf_Word crc,
			  char **debuginfo_file_name)
{
	struct pps_dso *d = *userdata;
	const struct pps_dso_search *s = d->search;
	char hex[2 * MAX_BUILD_ID + 1];
	char *p, *dir = NULL, *odir = NULL;
	int fd = -1;

	(void)mod, (void)modname, (void)base, (void)file_name, (void)crc;
	if (d->id_size) {
		pps_hex(d->id, d->id_size, hex);
		p = pps_dso_cache_path(s, d->id, d->id_size, "debug");
		fd = try_debug_file(d, p, debuginfo_file_name);
		free(p);
		if (fd >= 0)
			goto out;
		p = path_fmt("%s/usr/lib/debug/.build-id/%.2s/%s.debug", s->symfs, hex, hex + 2);
		fd = try_debug_file(d, p, debuginfo_file_name);
		free(p);
		if (fd >= 0)
			goto out;
	}
	if (debuglink && *debuglink && !strchr(debuglink, '/')) {
		dir = strdup(d->path);
		odir = strdup(d->orig_path);
		if (!dir || !odir)
			goto out;
		/* The directory part, "" for a bare name. */
		*(strrchr(dir, '/') ? strrchr(dir, '/') : dir) = '\0';
		*(strrchr(odir, '/') ? strrchr(odir, '/') : odir) = '\0';
		/* dir/link, dir/.debug/link, symfs/usr/lib/debug/<recorded dir>/link */
		const char *a[] = {"", "", s->symfs};
		const char *b[] = {dir, dir, "/usr/lib/debug"};
		const char *c[] = {"", "/.debug", odir};

		for (size_t i = 0; i < PPS_ARRAY_SIZE(a) && fd < 0; i++) {
			p = path_fmt("%s%s%s/%s", a[i], b[i], c[i], debuglink);
			fd = try_debug_file(d, p, debuginfo_file_name);
			free(p);
		}
		if (fd >= 0)
			goto out;
	}
	if (s->debuginfod && d->id_size) {
		char *dpath = NULL;
		int dfd = debuginfod_find_debuginfo(s->debuginfod, d->id, (int)d->id_size, &dpath);

		if (dfd >= 0) {
			close(dfd);
			fd = try_debug_file(d, dpath, debuginfo_file_name);
		}
		free(dpath);
	}
out:
	free(dir);
	free(odir);
	return fd;
}

static int find_elf_none(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			 char **file_name, Elf **elfp)
{
	(void)mod, (void)userdata, (void)modname, (void)base, (void)file_name, (void)elfp;
	return -1;
}

static const Dwfl_Callbacks callbacks = {
    .find_elf = find_elf_none,
    .find_debuginfo = find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

const Dwfl_Callbacks *pps_dso_dwfl_callbacks(void)
{
	return &callbacks;
}

static void scope_index_free(struct scope_index *x)
{
	if (x) {
		free(x->nodes);
		free(x->ranges);
		free(x);
	}
}

void pps_dso_free(struct pps_dso *d)
{
	if (!d)
		return;
	if (d->dwfl)
		dwfl_end(d->dwfl);
	if (d->memfd >= 0)
		close(d->memfd);
	for (size_t i = 0; i < d->cus_cap; i++) {
		for (size_t k = 0; k < d->cus[i].n; k++)
			scope_index_free(d->cus[i].v[k].scopes);
		free(d->cus[i].v);
	}
	free(d->cus);
	free(d->syms);
	free(d->plt_names);
	free(d->segs);
	free(d->path);
	free(d->orig_path);
	free(d);
}

/* The PT_LOAD table of the module's main file. */
static int read_segments(struct pps_dso *d, Elf *elf)
{
	size_t n;

	if (elf_getphdrnum(elf, &n))
		return PPS_CORRUPT;
	d->segs = calloc(n ? n : 1, sizeof(*d->segs));
	if (!d->segs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr mem, *ph = gelf_getphdr(elf, (int)i, &mem);

		if (!ph)
			return PPS_CORRUPT;
		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_offset + ph->p_filesz < ph->p_offset)
			return PPS_CORRUPT;
		d->segs[d->nr_segs++] = (struct segment){ph->p_offset, ph->p_filesz, ph->p_vaddr};
	}
	return 0;
}

/*
 * Opens the checked file at path as a dwfl module. 0 with *st OK or BAD_FILE (libdwfl
 * refused it), -ENOMEM. id is the file's build-id.
 */
static int dso_new(const struct pps_dso_search *search, const char *path, const char *orig,
		   const uint8_t *id, size_t id_size, struct pps_dso **out, enum pps_sym_status *st)
{
	struct pps_dso *d;
	void **userdata;
	Dwarf_Addr dwbias;
	Elf *elf;
	int err = -ENOMEM;

	*out = NULL;
	*st = PPS_SYM_BAD_FILE;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->memfd = -1;
	d->search = search;
	d->path = strdup(path);
	d->orig_path = strdup(orig);
	if (!d->path || !d->orig_path)
		goto out_free;
	memcpy(d->id, id, id_size);
	d->id_size = id_size;
	d->dwfl = dwfl_begin(&callbacks);
	if (!d->dwfl)
		goto out_free;
	err = 0;
	dwfl_report_begin(d->dwfl);
	d->mod = dwfl_report_elf(d->dwfl, path, path, -1, 0, true);
	if (dwfl_report_end(d->dwfl, NULL, NULL) || !d->mod) {
		pps_debug("%s: %s", path, dwfl_errmsg(-1));
		goto out_free;
	}
	dwfl_module_info(d->mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
	*userdata = d;
	elf = dwfl_module_getelf(d->mod, &d->bias);
	if (!elf)
		goto out_free;
	err = read_segments(d, elf);
	if (err == -ENOMEM)
		goto out_free;
	err = 0;
	if (!d->nr_segs)
		goto out_free;
	/* This reads .symtab (or the debug file's) now rather than at the first lookup,
	 * so that the status is known when the converter asks for the mapping. */
	if (!search->any_elf && dwfl_module_getsymtab(d->mod) <= 0 &&
	    !dwfl_module_getdwarf(d->mod, &dwbias)) {
		*st = PPS_SYM_NO_SYMBOLS;
		goto out_free;
	}
	*st = PPS_SYM_OK;
	*out = d;
	d = NULL;
out_free:
	pps_dso_free(d);
	return err;
}

/*
 * Tries one candidate path. Returns true when it was taken (or on ENOMEM, *err set);
 * remembers a mismatch or a bad file in *seen for the final status.
 */
static bool try_candidate(const struct pps_dso_search *search, const char *cand, const char *orig,
			  const uint8_t *want, size_t want_size, struct pps_dso **out,
			  enum pps_sym_status *st, enum probe *seen, int *err)
{
	uint8_t id[MAX_BUILD_ID];
	char hw[2 * MAX_BUILD_ID + 1], hf[2 * MAX_BUILD_ID + 1];
	size_t id_size;
	enum probe r;

	if (!cand)
		return false;
	r = probe_file(cand, want, want_size, id, &id_size);
	if (r == PROBE_MISMATCH && !search->any_elf) {
		pps_warn("build-id mismatch: %s is %s, the recording has %s", cand,
			 pps_hex(id, id_size, hf),
			 pps_hex(want, want_size > MAX_BUILD_ID ? MAX_BUILD_ID : want_size, hw));
	}
	if (r > *seen)
		*seen = r;
	if (r != PROBE_OK)
		return false;
	*err = dso_new(search, cand, orig, id, id_size, out, st);
	return *err || *out;
}

static void final_status(enum probe seen, enum pps_sym_status *st)
{
	switch (seen) {
	case PROBE_MISMATCH:
		*st = PPS_SYM_BUILD_ID_MISMATCH;
		break;
	case PROBE_BAD:
	case PROBE_OK: /* found, but libdwfl would not take it */
		*st = PPS_SYM_BAD_FILE;
		break;
	case PROBE_MISSING:
	default:
		*st = PPS_SYM_NOT_FOUND;
		break;
	}
}

bool pps_dso_foreign_root(int32_t pid, char *root, size_t rsz, uint64_t *ns)
{
	static uint64_t self_ns;
	struct stat st;
	char path[64];

	if (pid <= 0)
		return false;
	/* Our own never changes: looked up once (a race only repeats the same answer). */
	if (!self_ns && stat("/proc/self/ns/mnt", &st) == 0)
		self_ns = (uint64_t)st.st_ino;
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	if (!self_ns || stat(path, &st) != 0 || (uint64_t)st.st_ino == self_ns)
		return false;
	*ns = (uint64_t)st.st_ino;
	snprintf(root, rsz, "/proc/%d/root", (int)pid);
	return true;
}

int pps_dso_open(const struct pps_dso_search *search, const char *path, const char *root,
		 const uint8_t *id, size_t id_size, struct pps_dso **out, enum pps_sym_status *st)
{
	enum probe seen = PROBE_MISSING;
	char hex[2 * MAX_BUILD_ID + 1];
	char *cand = NULL;
	int err = 0;

	*out = NULL;
	libelf_init();
	if (id_size > MAX_BUILD_ID)
		id_size = MAX_BUILD_ID;
	if (id_size) {
		pps_hex(id, id_size, hex);
		cand = pps_dso_cache_path(search, id, id_size, "elf");
		if (try_candidate(search, cand, path, id, id_size, out, st, &seen, &err))
			goto out;
		free(cand);
		cand = search->buildid_dir ? path_fmt("%s%s/%s/elf", search->buildid_dir, path, hex)
					   : NULL;
		if (try_candidate(search, cand, path, id, id_size, out, st, &seen, &err))
			goto out;
		free(cand);
	}
	/* A container's file, as perf finds it through the process (its nsinfo). */
	cand = root ? path_fmt("%s%s", root, path) : NULL;
	if (try_candidate(search, cand, path, id, id_size, out, st, &seen, &err))
		goto out;
	free(cand);
	cand = path_fmt("%s%s", search->symfs, path);
	if (try_candidate(search, cand, path, id, id_size, out, st, &seen, &err))
		goto out;
	free(cand);
	cand = NULL;
	if (search->debuginfod && id_size) {
		int fd = debuginfod_find_executable(search->debuginfod, id, (int)id_size, &cand);

		if (fd >= 0) {
			close(fd);
			if (try_candidate(search, cand, path, id, id_size, out, st, &seen, &err))
				goto out;
		}
	}
	final_status(seen, st);
out:
	free(cand);
	return err;
}

int pps_dso_open_file(const struct pps_dso_search *search, const char *path, const uint8_t *id,
		      size_t id_size, struct pps_dso **out, enum pps_sym_status *st)
{
	enum probe seen = PROBE_MISSING;
	int err = 0;

	*out = NULL;
	libelf_init();
	if (id_size > MAX_BUILD_ID)
		id_size = MAX_BUILD_ID;
	if (!try_candidate(search, path, path, id, id_size, out, st, &seen, &err))
		final_status(seen, st);
	return err;
}

/* The size of the ELF image at p from its headers: the end of the last header table or
 * segment. 0 when the headers are not those of a plausible 64-bit vdso. */
static size_t vdso_size(const unsigned char *p)
{
	const Elf64_Ehdr *eh = (const void *)p;
	uint64_t end;

	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > MAX_VDSO_SIZE ||
	    eh->e_shoff > MAX_VDSO_SIZE)
		return 0;
	end = eh->e_shoff + (uint64_t)eh->e_shnum * eh->e_shentsize;
	if (eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > MAX_VDSO_SIZE)
		return 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const void *)(p + eh->e_phoff + i * sizeof(*ph));

		if (ph->p_offset > MAX_VDSO_SIZE || ph->p_filesz > MAX_VDSO_SIZE)
			return 0;
		if (ph->p_offset + ph->p_filesz > end)
			end = ph->p_offset + ph->p_filesz;
	}
	return end <= MAX_VDSO_SIZE ? (size_t)end : 0;
}

int pps_dso_open_vdso(const struct pps_dso_search *search, const uint8_t *id, size_t id_size,
		      struct pps_dso **out, enum pps_sym_status *st)
{
	const unsigned char *image = (const void *)getauxval(AT_SYSINFO_EHDR);
	size_t size = image ? vdso_size(image) : 0;
	int fd = -1, err = 0;
	char path[64];

	*out = NULL;
	*st = PPS_SYM_NOT_FOUND;
	libelf_init();
	/* perf's build-id cache keeps the recording machine's vdso as .../vdso. */
	if (id_size) {
		char *cached = pps_dso_cache_path(search, id, id_size, "vdso");

		err = cached && !access(cached, R_OK)
			  ? pps_dso_open_file(search, cached, id, id_size, out, st)
			  : 0;
		free(cached);
		if (err || *out)
			goto out;
	}
	if (!size)
		goto out;
	/* libdwfl opens files by name: the image goes into a memfd named by /proc. */
	fd = memfd_create("pps-vdso", MFD_CLOEXEC);
	if (fd < 0)
		goto out;
	if (write(fd, image, size) != (ssize_t)size)
		goto out_close;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err = pps_dso_open_file(search, path, id, id_size, out, st);
	if (!*out)
		goto out_close;
	/* Debug files are looked for under the name perf gives it. */
	free((*out)->orig_path);
	(*out)->orig_path = strdup("[vdso]");
	if (!(*out)->orig_path) {
		pps_dso_free(*out);
		*out = NULL;
		err = -ENOMEM;
		goto out_close;
	}
	(*out)->memfd = fd;
	fd = -1;
out_close:
	if (fd >= 0)
		close(fd);
out:
	return err;
}

size_t pps_dso_build_id(const struct pps_dso *d, const uint8_t **id)
{
	*id = d->id;
	return d->id_size;
}

const char *pps_dso_path(const struct pps_dso *d)
{
	return d->path;
}

bool pps_dso_offset_to_vaddr(const struct pps_dso *d, uint64_t offset, uint64_t *vaddr)
{
	for (size_t i = 0; i < d->nr_segs; i++) {
		const struct segment *g = &d->segs[i];

		if (offset >= g->offset && offset - g->offset < g->filesz) {
			*vaddr = offset - g->offset + g->vaddr;
			return true;
		}
	}
	return false;
}

int pps_dso_symbol(struct pps_dso *d, const char *name, uint64_t *addr)
{
	int n = dwfl_module_getsymtab(d->mod);

	for (int i = 0; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr a;
		const char *s = dwfl_module_getsym_info(d->mod, i, &sym, &a, NULL, NULL, NULL);

		if (s && !strcmp(s, name)) {
			*addr = a - d->bias;
			return 0;
		}
	}
	return -ENOENT;
}

/* The name a DWARF function goes by: its linkage (mangled) name, else DW_AT_name. */
static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute mem, *a;
	const char *s;

	a = dwarf_attr_integrate(die, DW_AT_linkage_name, &mem);
	if (!a)
		a = dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &mem);
	s = a ? dwarf_formstring(a) : NULL;
	return s ? s : dwarf_diename(die);
}

/* DW_AT_call_file/line of an inlined subroutine: the caller's position. */
static void call_site(Dwarf_Die *cu, Dwarf_Die *inl, const char **file, int64_t *line)
{
	Dwarf_Attribute mem;
	Dwarf_Files *files;
	Dwarf_Word v;
	size_t nfiles;

	*file = NULL;
	*line = 0;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &mem), &v) == 0 && v <= INT64_MAX)
		*line = (int64_t)v;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &mem), &v) == 0 &&
	    dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && v < nfiles)
		*file = dwarf_filesrc(files, v, NULL, NULL);
}

static int64_t decl_line(Dwarf_Die *die)
{
	int l;

	return dwarf_decl_line(die, &l) == 0 && l > 0 ? l : 0;
}

/* Blocks nested deeper than this in a function are not looked into. */
#define MAX_SCOPE_DEPTH 256
/* Namespaces and classes nest this deep at most when looking for function definitions. */
#define MAX_NAMESPACE_DEPTH 8

static bool is_function_scope(int tag)
{
	return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine;
}

static bool is_block_scope(int tag)
{
	return tag == DW_TAG_lexical_block || tag == DW_TAG_try_block || tag == DW_TAG_catch_block;
}

static int scope_range_cmp(const void *a, const void *b)
{
	const struct scope_range *x = a, *y = b;

	return x->low < y->low ? -1 : x->low > y->low;
}

/* Appends a node for die, and one range per address range of it (none: no node). */
static int scope_add(struct scope_index *x, Dwarf_Die *die)
{
	Dwarf_Addr base, low, high;
	ptrdiff_t off = 0;
	bool added = false;

	while ((off = dwarf_ranges(die, off, &base, &low, &high)) > 0) {
		if (high <= low)
			continue;
		if (!added) {
			if (x->nr_nodes == x->nodes_cap) {
				size_t ncap = x->nodes_cap ? x->nodes_cap * 2 : 16;
				struct scope_node *n;

				if (ncap > UINT32_MAX)
					return -ENOMEM;
				n = realloc(x->nodes, ncap * sizeof(*n));
				if (!n)
					return -ENOMEM;
				x->nodes = n;
				x->nodes_cap = ncap;
			}
			x->nodes[x->nr_nodes++] = (struct scope_node){.die = *die};
			added = true;
		}
		if (x->nr_ranges == x->ranges_cap) {
			size_t ncap = x->ranges_cap ? x->ranges_cap * 2 : 16;
			struct scope_range *r = realloc(x->ranges, ncap * sizeof(*r));

			if (!r)
				return -ENOMEM;
			x->ranges = r;
			x->ranges_cap = ncap;
		}
		x->ranges[x->nr_ranges++] =
		    (struct scope_range){low, high, (uint32_t)(x->nr_nodes - 1)};
	}
	return 0;
}

/* Adds the function scopes below parent, looking through the blocks that have an address
 * range (a block without one holds no code). -ENOMEM. */
static int scope_children(struct scope_index *x, Dwarf_Die *parent, int depth)
{
	Dwarf_Die child;
	int err = 0;

	if (depth >= MAX_SCOPE_DEPTH || dwarf_child(parent, &child) != 0)
		return 0;
	do {
		int tag = dwarf_tag(&child);
		Dwarf_Addr base, low, high;

		if (is_function_scope(tag))
			err = scope_add(x, &child);
		else if (is_block_scope(tag) && dwarf_ranges(&child, 0, &base, &low, &high) > 0)
			err = scope_children(x, &child, depth + 1);
	} while (!err && dwarf_siblingof(&child, &child) == 0);
	return err;
}

/* The scope index of function fn (a node for it, then breadth first). NULL on ENOMEM. */
static struct scope_index *scope_index_new(Dwarf_Die *fn)
{
	struct scope_index *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->nodes = malloc(sizeof(*x->nodes));
	if (!x->nodes)
		goto out_free;
	x->nodes[0] = (struct scope_node){.die = *fn};
	x->nr_nodes = x->nodes_cap = 1;
	/* A child's node comes after its parent's, so this visits each node once. */
	for (size_t i = 0; i < x->nr_nodes; i++) {
		Dwarf_Die die = x->nodes[i].die; /* scope_children() may move nodes */
		size_t first = x->nr_ranges;

		if (scope_children(x, &die, 1))
			goto out_free;
		x->nodes[i].first = (uint32_t)first;
		x->nodes[i].nr = (uint32_t)(x->nr_ranges - first);
		if (x->nodes[i].nr > 1)
			qsort(&x->ranges[first], x->nodes[i].nr, sizeof(*x->ranges),
			      scope_range_cmp);
	}
	return x;
out_free:
	scope_index_free(x);
	return NULL;
}

/*
 * The function scopes nested in x's function that contain pc, outermost first, appended
 * to chain[*nr..max).
 *
 * dwarf_getscopes() is not used: it leaks its array when the DWARF is damaged
 * (elfutils 0.188, an error in its abstract-origin pass), and after an inlined instance
 * it lists the scopes of the abstract origin, not of the caller.
 */
static void scope_lookup(const struct scope_index *x, Dwarf_Addr pc, Dwarf_Die *chain, int *nr,
			 int max)
{
	for (uint32_t node = 0; *nr < max;) {
		const struct scope_node *n = &x->nodes[node];
		const struct scope_range *r = &x->ranges[n->first];
		size_t lo = 0, hi = n->nr, k, found;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (r[mid].low <= pc)
				lo = mid + 1;
			else
				hi = mid;
		}
		/* Sibling scopes do not overlap; damaged DWARF may, so look back a little. */
		for (k = lo, found = SIZE_MAX; k-- > 0 && lo - k <= 8;) {
			if (pc < r[k].high) {
				found = k;
				break;
			}
		}
		/* A child's node is after its parent's: no loop, whatever the input. */
		if (found == SIZE_MAX || r[found].node <= node)
			return;
		node = r[found].node;
		chain[(*nr)++] = x->nodes[node].die;
	}
}

static int range_cmp(const void *a, const void *b)
{
	const struct func_range *x = a, *y = b;

	return x->low < y->low ? -1 : x->low > y->low;
}

/* Adds the ranges of the functions under parent to f (growing *cap). -ENOMEM. */
static int collect_funcs(Dwarf_Die *parent, struct cu_funcs *f, size_t *cap, int depth)
{
	Dwarf_Die child;
	int err = 0;

	if (dwarf_child(parent, &child) != 0)
		goto out;
	do {
		Dwarf_Addr base, low, high;
		ptrdiff_t off = 0;

		switch (dwarf_tag(&child)) {
		case DW_TAG_subprogram:
			while ((off = dwarf_ranges(&child, off, &base, &low, &high)) > 0) {
				if (high <= low)
					continue;
				if (f->n == *cap) {
					size_t ncap = *cap ? *cap * 2 : 64;
					struct func_range *v = realloc(f->v, ncap * sizeof(*v));

					if (!v) {
						err = -ENOMEM;
						goto out;
					}
					f->v = v;
					*cap = ncap;
				}
				f->v[f->n++] = (struct func_range){low, high, child, NULL};
			}
			break;
		case DW_TAG_namespace:
		case DW_TAG_module:
		case DW_TAG_class_type:
		case DW_TAG_structure_type:
		case DW_TAG_union_type:
			/* Some compilers nest definitions in their scopes. */
			if (depth < MAX_NAMESPACE_DEPTH)
				err = collect_funcs(&child, f, cap, depth + 1);
			if (err)
				goto out;
			break;
		default:
			break;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
out:
	return err;
}

static size_t cu_slot(Dwarf_Off off, size_t cap)
{
	return (size_t)((off * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

/* The function index of cu, built on first use. NULL on ENOMEM. */
static struct cu_funcs *cu_funcs_get(struct pps_dso *d, Dwarf_Die *cu)
{
	Dwarf_Off off = dwarf_dieoffset(cu);
	struct cu_funcs *f = NULL;
	size_t i, cap = 0;

	for (i = d->cus_cap ? cu_slot(off, d->cus_cap) : 0; d->cus_cap && d->cus[i].used;
	     i = (i + 1) & (d->cus_cap - 1)) {
		if (d->cus[i].cu_off == off) {
			f = &d->cus[i];
			goto out;
		}
	}
	if ((d->nr_cus + 1) * 2 > d->cus_cap) {
		size_t ncap = d->cus_cap ? d->cus_cap * 2 : 16;
		struct cu_funcs *n = calloc(ncap, sizeof(*n));

		if (!n)
			goto out;
		for (size_t j = 0; j < d->cus_cap; j++) {
			if (!d->cus[j].used)
				continue;
			i = cu_slot(d->cus[j].cu_off, ncap);
			while (n[i].used)
				i = (i + 1) & (ncap - 1);
			n[i] = d->cus[j];
		}
		free(d->cus);
		d->cus = n;
		d->cus_cap = ncap;
	}
	i = cu_slot(off, d->cus_cap);
	while (d->cus[i].used)
		i = (i + 1) & (d->cus_cap - 1);
	f = &d->cus[i];
	f->cu_off = off;
	if (collect_funcs(cu, f, &cap, 0)) {
		free(f->v);
		f->v = NULL;
		f = NULL;
		goto out;
	}
	f->used = true;
	d->nr_cus++;
	if (f->n)
		qsort(f->v, f->n, sizeof(*f->v), range_cmp);
out:
	return f;
}

/* The chain of function scopes holding pc in cu, outermost first. -ENOMEM. */
static int cu_scopes(struct pps_dso *d, Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die *chain, int *nr)
{
	struct cu_funcs *f = cu_funcs_get(d, cu);
	size_t lo = 0, hi;

	*nr = 0;
	if (!f)
		return -ENOMEM;
	/* The last range starting at or below pc; ranges of distinct functions do not
	 * overlap, but a nested one may follow its parent's start: look back a little. */
	hi = f->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->v[mid].low <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = lo, seen = 0; k-- > 0 && seen < 8; seen++) {
		struct func_range *r = &f->v[k];

		if (pc >= r->high)
			continue;
		if (!r->scopes) {
			r->scopes = scope_index_new(&r->die);
			if (!r->scopes)
				return -ENOMEM;
		}
		chain[(*nr)++] = r->die;
		scope_lookup(r->scopes, pc, chain, nr, PPS_MAX_FRAMES);
		break;
	}
	return 0;
}

static int fsym_cmp(const void *va, const void *vb)
{
	const struct fsym *a = va, *b = vb;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	return (a->rank > b->rank) - (a->rank < b->rank);
}

/* Longest PLT symbol name kept, "@plt" and NUL included: perf's sympltname[1024]. */
#define MAX_PLT_NAME 1024
/* Ranks of synthesized symbols: below every real one at the same address (0 to 2). */
#define RANK_PLT	3
#define RANK_PLT_HEADER 4

/* One PLT relocation. */
struct plt_rel {
	GElf_Addr got;	  /* the GOT slot it fills: x86 PLT entries are in this order */
	size_t sym;	  /* its target's .dynsym index, 0 for none */
	GElf_Addr addend; /* RELA: an IRELATIVE's is its IFUNC resolver's address */
	const char *name; /* in the ELF's .dynstr; NULL: none (IRELATIVE) or out of range */
};

/* A named STT_GNU_IFUNC symbol (.symtab, else .dynsym). */
struct ifunc {
	GElf_Addr addr;	  /* module address */
	int rank;	  /* global, weak, local: lower wins at one address */
	const char *name; /* owned by libdwfl's ELF data */
};

static int ifunc_cmp(const void *va, const void *vb)
{
	const struct ifunc *a = va, *b = vb;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	return (a->rank > b->rank) - (a->rank < b->rank);
}

/*
 * Names the IRELATIVE entries of v (no target symbol) after the IFUNC symbol at their
 * addend, as perf >= 6.3 does (get_ifunc_name(): "memcpy@plt" in libc, where objdump
 * prints "*ABS*+0x9be70@plt"). f: the module's IFUNC symbols sorted by ifunc_cmp(), at
 * module addresses (ELF vaddr + bias). Entries without one keep a NULL name.
 */
static void name_ifuncs(struct plt_rel *v, size_t n, const struct ifunc *f, size_t nr_f,
			GElf_Addr bias)
{
	for (size_t i = 0; i < n; i++) {
		GElf_Addr want = v[i].addend + bias;
		size_t lo = 0, hi = nr_f;

		if (v[i].name && *v[i].name)
			continue;
		/* The first (preferred) IFUNC at or above the addend. */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (f[mid].addr < want)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < nr_f && f[lo].addr == want)
			v[i].name = f[lo].name;
	}
}

static int plt_rel_cmp(const void *va, const void *vb)
{
	const struct plt_rel *a = va, *b = vb;

	return (a->got > b->got) - (a->got < b->got);
}

static bool machine_is_x86(GElf_Half machine)
{
	return machine == EM_386 || machine == EM_X86_64;
}

/* The first section called name, its header in *sh; NULL when there is none. */
static Elf_Scn *section_named(Elf *elf, size_t shstrndx, const char *name, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, sh))
			continue;
		n = elf_strptr(elf, shstrndx, sh->sh_name);
		if (n && !strcmp(n, name))
			return scn;
	}
	return NULL;
}

/*
 * The header and entry sizes of a PLT section, as perf has them (6.1's switch in
 * dso__synthesize_plt_symbols(), get_plt_sizes() since 6.3). On x86 the header (the
 * lazy-binding resolver stub) is one entry; binutils writes sh_entsize 16 for x86_64
 * but 4 on older i386 links, so anything but 8 or 16 is taken as 16 (8 for a section
 * aligned to 8, as perf does). False when there is no usable size or the section's
 * addresses wrap.
 */
static bool plt_sizes(GElf_Half machine, const GElf_Shdr *sh, uint64_t *header, uint64_t *entry)
{
	switch (machine) {
	case EM_ARM:
		*header = 20;
		*entry = 12;
		break;
	case EM_AARCH64:
		*header = 32;
		*entry = 16;
		break;
	case EM_386:
	case EM_X86_64:
		if (sh->sh_entsize == 8 || sh->sh_entsize == 16)
			*entry = sh->sh_entsize;
		else
			*entry = sh->sh_addralign == 8 ? 8 : 16;
		*header = *entry;
		break;
	default:
		*header = *entry = sh->sh_entsize;
		break;
	}
	return *entry > 0 && sh->sh_addr + sh->sh_size >= sh->sh_addr;
}

/*
 * The relocations of the PLT relocation section (SHT_RELA or SHT_REL) with their targets'
 * names, in PLT entry order; *nr of them. -ENOMEM; a damaged entry ends the list.
 */
static int plt_rels(Elf *elf, Elf_Scn *rel_scn, const GElf_Shdr *rel, const GElf_Shdr *dynsym,
		    Elf_Data *syms, GElf_Half machine, struct plt_rel **out, size_t *nr)
{
	Elf_Data *data = elf_getdata(rel_scn, NULL);
	bool rela = rel->sh_type == SHT_RELA;
	size_t fsize = gelf_fsize(elf, rela ? ELF_T_RELA : ELF_T_REL, 1, EV_CURRENT);
	size_t n = data && fsize ? data->d_size / fsize : 0;
	struct plt_rel *v;

	*out = NULL;
	*nr = 0;
	/* n is bounded by the file's size: libelf read the section from it. */
	if (!n || n > INT_MAX)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		GElf_Rela rmem;
		GElf_Rel lmem;
		GElf_Sym smem, *sym = NULL;
		GElf_Xword info;

		if (rela && gelf_getrela(data, (int)i, &rmem)) {
			v[i].got = rmem.r_offset;
			v[i].addend = (GElf_Addr)rmem.r_addend;
			info = rmem.r_info;
		} else if (!rela && gelf_getrel(data, (int)i, &lmem)) {
			v[i].got = lmem.r_offset;
			info = lmem.r_info;
		} else {
			n = i;
			break;
		}
		v[i].sym = GELF_R_SYM(info);
		if (v[i].sym && v[i].sym <= INT_MAX)
			sym = gelf_getsym(syms, (int)v[i].sym, &smem);
		/* elf_strptr() checks the index against the string table's size. */
		if (sym)
			v[i].name = elf_strptr(elf, dynsym->sh_link, sym->st_name);
	}
	/* x86 linkers put IFUNC (IRELATIVE) relocations last, while their PLT entries follow
	 * GOT order: perf sorts them back the same way. */
	if (machine_is_x86(machine))
		qsort(v, n, sizeof(*v), plt_rel_cmp);
	*out = v;
	*nr = n;
	return 0;
}

/*
 * perf's PLT symbols (dso__synthesize_plt_symbols()): one per PLT relocation, of the PLT
 * entry's size, named "<target>@plt": an IRELATIVE one after its IFUNC (see
 * name_ifuncs(), ifuncs sorted as it says), else "offset_0x<file offset>@plt" as perf
 * >= 6.3 names an entry without a target. They start after the .plt header, or at
 * .plt.sec, which has none (x86 with -fcf-protection or -z ibtplt: the stubs called are
 * there, and .plt only holds the lazy-binding code); a .plt holding one entry per
 * relocation has no header either. The header (all of .plt when there is a .plt.sec) is
 * named ".plt", as perf >= 6.3 names it; perf 6.1 gave it to the symbol before (_init).
 * Returns 0 with *out (malloc'ed, names in d->plt_names) and *nr, which may be 0 (no PLT,
 * no .dynsym, or a damaged one), or -ENOMEM. The sections come from the binary itself:
 * a separate debug file has no PLT contents.
 */
static int plt_syms(struct pps_dso *d, const struct ifunc *ifuncs, size_t nr_ifuncs,
		    struct fsym **out, size_t *nr)
{
	GElf_Shdr plt, sec, rel, dynsym;
	Elf_Scn *rel_scn, *dynsym_scn;
	Elf_Data *syms;
	struct plt_rel *rels = NULL;
	struct fsym *v = NULL;
	size_t shstrndx, nr_rels = 0, size = 0, k = 0;
	uint64_t header, entry, first, room, header_size = 0, plt_offset;
	GElf_Addr bias; /* the same as d->bias */
	GElf_Ehdr eh;
	char *names = NULL, *p;
	Elf *elf;
	int err = 0;

	*out = NULL;
	*nr = 0;
	elf = dwfl_module_getelf(d->mod, &bias);
	if (!elf || !gelf_getehdr(elf, &eh) || elf_getshdrstrndx(elf, &shstrndx))
		goto out;
	if (!section_named(elf, shstrndx, ".plt", &plt) || !plt.sh_size ||
	    !plt_sizes(eh.e_machine, &plt, &header, &entry))
		goto out;
	rel_scn = section_named(elf, shstrndx, ".rela.plt", &rel);
	if (!rel_scn)
		rel_scn = section_named(elf, shstrndx, ".rel.plt", &rel);
	if (!rel_scn || (rel.sh_type != SHT_RELA && rel.sh_type != SHT_REL))
		goto out;
	/* The relocations' symbols are in .dynsym, its names in the table it links to. */
	dynsym_scn = elf_getscn(elf, rel.sh_link);
	if (!dynsym_scn || !gelf_getshdr(dynsym_scn, &dynsym) || dynsym.sh_type != SHT_DYNSYM)
		goto out;
	syms = elf_getdata(dynsym_scn, NULL);
	if (!syms)
		goto out;
	err = plt_rels(elf, rel_scn, &rel, &dynsym, syms, eh.e_machine, &rels, &nr_rels);
	if (err || !nr_rels)
		goto out;
	if (rel.sh_type == SHT_RELA)
		name_ifuncs(rels, nr_rels, ifuncs, nr_ifuncs, d->bias);
	if (machine_is_x86(eh.e_machine) && section_named(elf, shstrndx, ".plt.sec", &sec)) {
		if (!plt_sizes(eh.e_machine, &sec, &header, &entry))
			goto out;
		first = sec.sh_addr;
		room = sec.sh_size;
		plt_offset = sec.sh_offset;
		header_size = plt.sh_size;
	} else if (plt.sh_size % entry == 0 && plt.sh_size / entry == nr_rels) {
		first = plt.sh_addr;
		room = plt.sh_size;
		plt_offset = plt.sh_offset;
	} else {
		if (header > plt.sh_size)
			goto out;
		first = plt.sh_addr + header;
		room = plt.sh_size - header;
		plt_offset = plt.sh_offset + header;
		header_size = header;
	}
	/* No more entries than the section holds, whatever the relocation count says. */
	if (nr_rels > room / entry)
		nr_rels = (size_t)(room / entry);
	for (size_t i = 0; i < nr_rels; i++) {
		size_t len = rels[i].name ? strlen(rels[i].name) : 0;

		if (!len)
			len = 32; /* "offset_0x" 16 digits "@plt" */
		if (len > MAX_PLT_NAME - sizeof("@plt"))
			len = MAX_PLT_NAME - sizeof("@plt");
		size += len + sizeof("@plt");
	}
	v = calloc(nr_rels + 1, sizeof(*v));
	names = malloc(size ? size : 1);
	if (!v || !names) {
		err = -ENOMEM;
		goto out;
	}
	if (header_size) {
		v[k++] = (struct fsym){plt.sh_addr + d->bias, plt.sh_addr + header_size + d->bias,
				       ".plt", RANK_PLT_HEADER};
	}
	p = names;
	for (size_t i = 0; i < nr_rels; i++) {
		const char *name = rels[i].name;
		size_t left = size - (size_t)(p - names);
		int len;

		if (name && *name)
			len = snprintf(p, left, "%.*s@plt", (int)(MAX_PLT_NAME - sizeof("@plt")),
				       name);
		else
			len = snprintf(p, left, "offset_%#llx@plt",
				       (unsigned long long)(plt_offset + i * entry));
		/* Cannot happen (the sizes were counted above), but never index past it. */
		if (len < 0 || (size_t)len >= left)
			break;
		v[k++] = (struct fsym){first + i * entry + d->bias,
				       first + (i + 1) * entry + d->bias, p, RANK_PLT};
		p += len + 1;
	}
	d->plt_names = names;
	names = NULL;
	*out = v;
	*nr = k;
	v = NULL;
out:
	free(names);
	free(v);
	free(rels);
	return err;
}

/*
 * Loads the function symbols (.symtab, else .dynsym) and the PLT's synthesized ones,
 * sorted by address, once.
 */
static int load_syms(struct pps_dso *d)
{
	int n = dwfl_module_getsymtab(d->mod), err = -ENOMEM;
	struct fsym *v, *plt = NULL;
	struct ifunc *ifuncs;
	size_t nr = 0, out = 0, nr_plt = 0, nr_ifuncs = 0;

	d->syms_loaded = true;
	if (n < 0)
		n = 0;
	v = calloc(n ? (size_t)n : 1, sizeof(*v));
	ifuncs = calloc(n ? (size_t)n : 1, sizeof(*ifuncs));
	if (!v || !ifuncs)
		goto out;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr a;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(d->mod, i, &sym, &a, &shndx, NULL, NULL);
		int type = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);

		if (!name || !*name || shndx == SHN_UNDEF)
			continue;
		/* What dwfl_module_addrinfo() would consider for code: not data, TLS, sections
		 * or files. Hand-written assembly often leaves its functions STT_NOTYPE. */
		if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE)
			continue;
		v[nr].addr = a;
		v[nr].end = a + sym.st_size;
		v[nr].name = name;
		/* As libdwfl prefers: global, then weak, then local symbols. */
		v[nr].rank = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
		if (type == STT_GNU_IFUNC)
			ifuncs[nr_ifuncs++] = (struct ifunc){a, v[nr].rank, name};
		nr++;
	}
	qsort(ifuncs, nr_ifuncs, sizeof(*ifuncs), ifunc_cmp);
	err = plt_syms(d, ifuncs, nr_ifuncs, &plt, &nr_plt);
	if (err)
		goto out;
	if (nr_plt) {
		struct fsym *nv = realloc(v, (nr + nr_plt) * sizeof(*v));

		if (!nv) {
			err = -ENOMEM;
			goto out;
		}
		v = nv;
		memcpy(v + nr, plt, nr_plt * sizeof(*v));
		nr += nr_plt;
	}
	qsort(v, nr, sizeof(*v), fsym_cmp);
	/* One symbol per address: the preferred one; sizeless ones end at the next. */
	for (size_t i = 0; i < nr; i++) {
		if (out && v[out - 1].addr == v[i].addr) {
			if (v[out - 1].end == v[out - 1].addr && v[i].end > v[i].addr)
				v[out - 1].end = v[i].end;
			continue;
		}
		v[out++] = v[i];
	}
	for (size_t i = 0; i < out; i++)
		if (v[i].end == v[i].addr)
			v[i].end = i + 1 < out ? v[i + 1].addr : v[i].addr + 1;
	d->syms = v;
	d->nr_syms = out;
	v = NULL;
out:
	free(ifuncs);
	free(plt);
	free(v);
	return err;
}

/* The function symbol holding module address a, NULL when none. */
static const char *sym_at(struct pps_dso *d, GElf_Addr a)
{
	size_t lo = 0, hi;

	if (!d->syms_loaded && load_syms(d))
		return NULL;
	hi = d->nr_syms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->syms[mid].addr <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* syms[lo - 1] starts at or below a; symbols may nest, so look back a few. */
	for (size_t i = lo, k = 0; i-- > 0 && k < 8; k++)
		if (a < d->syms[i].end)
			return d->syms[i].name;
	return NULL;
}

int pps_dso_lookup(struct pps_dso *d, uint64_t vaddr, bool no_inline, struct pps_frames *fr,
		   bool *has_dwarf)
{
	Dwarf_Addr a = vaddr + d->bias, dwbias = 0;
	Dwarf_Die *cu, chain[PPS_MAX_FRAMES];
	const char *symname, *file = NULL;
	int64_t line = 0;
	int nchain = 0, err = 0, l;
	Dwfl_Line *dl;

	fr->nr = 0;
	*has_dwarf = false;
	symname = sym_at(d, a);
	dl = dwfl_module_getsrc(d->mod, a);
	if (dl) {
		file = dwfl_lineinfo(dl, NULL, &l, NULL, NULL, NULL);
		line = file && l > 0 ? l : 0;
	}
	cu = dwfl_module_addrdie(d->mod, a, &dwbias);
	if (cu) {
		*has_dwarf = true;
		err = cu_scopes(d, cu, a - dwbias, chain, &nchain);
		if (err)
			goto out;
	}
	/* Innermost first: the pc's line, then each caller at its call site. */
	for (int i = nchain - 1; i >= 0; i--) {
		Dwarf_Die *sc = &chain[i];
		bool inlined = dwarf_tag(sc) == DW_TAG_inlined_subroutine;
		const char *name = die_name(sc);

		/* A nameless outer function (artificial, or damaged DWARF): the symbol's. */
		if (!inlined && !name)
			name = symname;
		if (!inlined || !no_inline) {
			err = pps_frames_push(fr, name ? name : "", file, line, decl_line(sc));
			if (err)
				goto out;
		}
		if (!inlined)
			break;
		call_site(cu, sc, &file, &line);
	}
	if (!fr->nr && symname)
		err = pps_frames_push(fr, symname, file, line, 0);
out:
	return err;
}
