/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_dso: one ELF binary (executable, shared library, vdso, vmlinux) and its debug
 * info, through elfutils' libdwfl. The binary is reported at base 0 so that the
 * addresses looked up are its ELF virtual addresses.
 */
#ifndef PPS_INTERNAL_DSO_H
#define PPS_INTERNAL_DSO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <elfutils/debuginfod.h>
#include <elfutils/libdwfl.h>

#include "internal/symsrc.h"

struct pps_dso;

/* Where binaries and debug files are looked for (see symbolizer.h). */
struct pps_dso_search {
	const char *symfs;	       /* prefix for every system path, "" for none */
	const char *buildid_dir;       /* perf's build-id cache root, NULL for none */
	debuginfod_client *debuginfod; /* NULL: no debuginfod */
	bool has_symfs;		       /* symfs is not "" */
	/* For an unwinder (unwind.c): any ELF file is taken, with symbols or not (its CFI
	 * is what is needed), and a build-id mismatch is left to the symbolizer to report. */
	bool any_elf;
};

/*
 * perf's build-id cache directory: dir when given, else $PERF_BUILDID_DIR, else
 * $HOME/.debug. 0 with *out malloc'ed (NULL: no cache), or -ENOMEM.
 */
int pps_dso_buildid_dir(const char *dir, char **out);

/*
 * Finds and opens the binary recorded as path with build-id id (NULL, 0: unknown).
 * root, when not NULL, is "/proc/PID/root" of a live process in another mount namespace
 * (a container) that mapped it: its file is tried before the one at path here.
 * Returns 0 with *st set: PPS_SYM_OK and *out (free with pps_dso_free()), or another
 * status and *out NULL. -ENOMEM is the only error.
 */
int pps_dso_open(const struct pps_dso_search *search, const char *path, const char *root,
		 const uint8_t *id, size_t id_size, struct pps_dso **out, enum pps_sym_status *st);

/*
 * Whether live process pid is in a mount namespace other than ours: then root gets
 * "/proc/PID/root" (rsz bytes at least 32) and *ns the namespace's inode, which tells
 * its files apart from ours of the same name.
 */
bool pps_dso_foreign_root(int32_t pid, char *root, size_t rsz, uint64_t *ns);
/* The same for a file given by the user (--vmlinux): only that path is tried. */
int pps_dso_open_file(const struct pps_dso_search *search, const char *path, const uint8_t *id,
		      size_t id_size, struct pps_dso **out, enum pps_sym_status *st);
/* The running process's vdso, when its build-id is id (or id is NULL). */
int pps_dso_open_vdso(const struct pps_dso_search *search, const uint8_t *id, size_t id_size,
		      struct pps_dso **out, enum pps_sym_status *st);
void pps_dso_free(struct pps_dso *d);

/*
 * The path perf's build-id cache would hold for id: what is "elf", "debug", "vdso" or
 * "kallsyms". The file may not exist. malloc'ed (free()), NULL without a cache or id.
 */
char *pps_dso_cache_path(const struct pps_dso_search *search, const uint8_t *id, size_t size,
			 const char *what);

/* The build-id of the file found (size 0 when it has none). */
size_t pps_dso_build_id(const struct pps_dso *d, const uint8_t **id);
/* The path of the file opened. */
const char *pps_dso_path(const struct pps_dso *d);

/*
 * Callbacks for another Dwfl whose modules have a pps_dso as their userdata (an
 * unwinder's, with modules at their runtime addresses): debug files, hence
 * .debug_frame, are found as for the dso itself.
 */
const Dwfl_Callbacks *pps_dso_dwfl_callbacks(void);

/* File offset to ELF vaddr through the PT_LOAD headers; false when no segment maps it. */
bool pps_dso_offset_to_vaddr(const struct pps_dso *d, uint64_t offset, uint64_t *vaddr);

/* The value of symbol name (for vmlinux' _text), -ENOENT when absent. */
int pps_dso_symbol(struct pps_dso *d, const char *name, uint64_t *addr);

/*
 * Resolves ELF vaddr into fr: inlined frames first (unless no_inline), then the
 * function. Sets *has_dwarf when the binary has DWARF for it. 0 (fr->nr 0 when
 * unresolved) or -ENOMEM.
 */
int pps_dso_lookup(struct pps_dso *d, uint64_t vaddr, bool no_inline, struct pps_frames *fr,
		   bool *has_dwarf);

#endif /* PPS_INTERNAL_DSO_H */
