/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_symbolizer: addresses in mapped files and in the kernel to functions, source files
 * and lines, the way perf finds them.
 *
 * Contract with the converter (lib/convert.c):
 * - The converter tracks processes and their maps (MMAP/MMAP2 records) and calls
 *   pps_symbolizer_lookup() with the map a pc falls in and the pc itself (a runtime
 *   address). For non-leaf frames it passes (return address - 1) already.
 * - Results are cached here per (binary, file-relative address): a file with millions of
 *   samples opens each binary once and resolves each address once.
 * - Everything returned (frames, strings, file info) is owned by the symbolizer and valid
 *   until pps_symbolizer_free().
 * - Nothing is printed: diagnostics go through pps_log (lib/internal/util.h), each
 *   problem once per binary (e.g. "build-id mismatch: /usr/bin/x is ... recording has ...").
 *
 * Where binaries and their debug info are looked for (first hit wins):
 *   1. perf's build-id cache: $buildid_dir/.build-id/xx/yyyy..(/elf or /debug, perf's layout:
 *      ~/.debug/.build-id/ab/cdef.../elf and ~/.debug/<path>/<build-id>/elf)
 *   2. the path itself (under symfs when set, perf's --symfs meaning: symfs + path)
 *   3. debuginfod (libdebuginfod) when the opts say so and a build-id is known
 * Debug info for a found binary: the binary itself, /usr/lib/debug/.build-id/xx/yyyy.debug,
 * .gnu_debuglink (next to the file, .debug/, /usr/lib/debug/<dir>/), debuginfod.
 * A binary whose build-id differs from the recording's is not used for symbols; a file
 * without a build-id note cannot be checked and is used.
 *
 * Other maps:
 * - "[vdso]": perf's cached copy (.build-id/xx/yyyy/vdso), else the running process's
 *   vdso (getauxval(AT_SYSINFO_EHDR)) when the recorded build-id matches or is unknown.
 * - The kernel ("[kernel.kallsyms]..."): --vmlinux, --kallsyms, /proc/kallsyms when the
 *   recorded kernel is the running one (same build-id as /sys/kernel/notes, else same
 *   os_release), else the kallsyms perf saved in its build-id cache; otherwise
 *   PPS_SYM_KERNEL_MISMATCH. Addresses are shifted by the KASLR difference (see
 *   pps_symbolizer_set_kernel()). Modules ("[ext4]", .ko paths) resolve through the
 *   same kallsyms, unshifted.
 * - Anonymous memory ("//anon", "[anon:...]", "/memfd:...", "[heap]", "/tmp/perf-N.map"):
 *   /tmp/perf-PID.map of m->pid, else PPS_SYM_ANON.
 * - Other "[...]" names ([vsyscall], [uprobes]): PPS_SYM_NOT_FOUND.
 *
 * Not thread-safe: one symbolizer per converting thread.
 */
#ifndef PPS_INTERNAL_SYMBOLIZER_H
#define PPS_INTERNAL_SYMBOLIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pps_symbolizer;

struct pps_symbolizer_opts {
	size_t sz;		 /* sizeof(struct pps_symbolizer_opts) */
	const char *symfs;	 /* perf's --symfs: root prefix for every path, NULL none */
	const char *kallsyms;	 /* kernel symbols file instead of /proc/kallsyms, NULL */
	const char *vmlinux;	 /* kernel image with symbols (and DWARF), NULL */
	const char *buildid_dir; /* perf's build-id cache, NULL: $PERF_BUILDID_DIR or ~/.debug */
	bool debuginfod;	 /* use libdebuginfod (the caller checks DEBUGINFOD_URLS) */
	bool no_inline;		 /* do not expand inlined frames */
};

/* Why a binary's frames stay unresolved (for --verbose and the summary line). */
enum pps_sym_status {
	PPS_SYM_OK = 0,		 /* symbols found */
	PPS_SYM_NOT_FOUND,	 /* no file at the path, in the cache, or from debuginfod */
	PPS_SYM_BUILD_ID_MISMATCH, /* a file was found but its build-id is not the recording's */
	PPS_SYM_NO_SYMBOLS,	 /* found, but neither .symtab nor .dynsym nor DWARF */
	PPS_SYM_KPTR_RESTRICT,	 /* kernel: /proc/kallsyms shows zero addresses */
	PPS_SYM_KERNEL_MISMATCH, /* kernel: the recording's kernel is not the running one and
				    no --kallsyms/--vmlinux was given */
	PPS_SYM_ANON,		 /* anonymous memory without a /tmp/perf-PID.map */
	PPS_SYM_BAD_FILE,	 /* not an ELF file, or a corrupt one */
};

/* What is known of one binary; feeds the pprof Mapping. */
struct pps_sym_file {
	enum pps_sym_status status;
	const char *build_id_hex; /* lowercase hex, NULL when unknown */
	bool has_functions;	  /* some address resolved to a function name */
	bool has_filenames;	  /* ... to a source file */
	bool has_line_numbers;	  /* ... to a line */
	bool has_inline_frames;	  /* DWARF inline information was available */
};

/* The map a pc falls in: the fields of its MMAP/MMAP2 record. */
struct pps_sym_map {
	const char *filename;	 /* as recorded: "/usr/lib/x.so", "[kernel.kallsyms]_text",
				    "[vdso]", "//anon", "/tmp/perf-123.map", "[ext4]" or a .ko path */
	uint64_t start;		 /* runtime start address */
	uint64_t len;
	uint64_t pgoff;		 /* file offset of start; for the kernel map perf stores the
				    runtime address of _text (or _stext) here */
	const uint8_t *build_id; /* from MMAP2 (PERF_RECORD_MISC_MMAP_BUILD_ID), NULL: the ones
				    given to pps_symbolizer_add_build_id() are used */
	uint8_t build_id_size;
	int32_t pid;		 /* for /tmp/perf-PID.map of JIT code */
	bool kernel;		 /* a kernel or module map (cpumode kernel / pid -1) */
};

/* One frame: innermost (inlined) first. Strings never NULL: "" when unknown. */
struct pps_sym_frame {
	const char *name;	 /* demangled (C++, Rust) */
	const char *system_name; /* as in the binary (mangled) */
	const char *file;	 /* source file, "" unknown */
	int64_t line;		 /* 0 unknown */
	int64_t start_line;	 /* the function's first line, 0 unknown */
};

struct pps_sym_result {
	const struct pps_sym_frame *frames; /* nr_frames == 0: unresolved */
	size_t nr_frames;
	const struct pps_sym_file *file; /* the binary's info, never NULL after success */
};

/* NULL with errno set (ENOMEM). opts may be NULL. */
struct pps_symbolizer *pps_symbolizer_new(const struct pps_symbolizer_opts *opts);
/* Accepts NULL. */
void pps_symbolizer_free(struct pps_symbolizer *s);

/* A build-id the recording holds for a path (BUILD_ID header, HEADER_BUILD_ID records). */
int pps_symbolizer_add_build_id(struct pps_symbolizer *s, const char *filename, bool kernel,
				const uint8_t *id, size_t size);

/*
 * The recording's kernel, so kernel addresses can be matched to symbols of the running
 * kernel (shifted by the KASLR difference) or to --kallsyms / --vmlinux.
 * text_addr: the runtime address of the recorded kernel map's reference symbol (the
 * kernel MMAP record's pgoff) and its name ("_text" or "_stext", from the filename
 * suffix); os_release: OSRELEASE header, may be NULL. Call it before the first lookup
 * in a kernel map: the kernel's symbol source is decided then, once.
 */
int pps_symbolizer_set_kernel(struct pps_symbolizer *s, uint64_t text_addr,
			      const char *ref_sym, const char *os_release);

/*
 * Resolves pc (runtime address) inside map m. Returns 0 and fills *res (nr_frames 0 when
 * nothing was found; res->file says why), or -errno (-ENOMEM). Never fails on a missing
 * or bad file: that is a status.
 */
int pps_symbolizer_lookup(struct pps_symbolizer *s, const struct pps_sym_map *m, uint64_t pc,
			  struct pps_sym_result *res);

/*
 * The kallsyms symbol holding a runtime kernel address (a static lock, say), NULL when
 * none or when kernel symbols are not available. Kernel symbols are chosen on the first
 * call of this or of a kernel lookup: call pps_symbolizer_set_kernel() first.
 */
const char *pps_symbolizer_kernel_symbol(struct pps_symbolizer *s, uint64_t addr);

/* The file info for map m without resolving an address (mapping flags, build-id). */
const struct pps_sym_file *pps_symbolizer_file(struct pps_symbolizer *s,
					       const struct pps_sym_map *m);

/* Every binary looked at, for --verbose diagnostics: calls fn once per binary. */
void pps_symbolizer_for_each_file(struct pps_symbolizer *s,
				  void (*fn)(const char *path, const struct pps_sym_file *f,
					     void *ctx),
				  void *ctx);

/* Whether a user map's file name is anonymous memory ("//anon", "[heap]", "/memfd:...",
 * "/tmp/perf-N.map", ...): no ELF file behind it. */
bool pps_sym_is_anon(const char *filename);

/* Whether the recording is of the running kernel: its build-id id (size 0: unknown) is
 * the running one's, else its release os_release (NULL: unknown, taken as yes) is. */
bool pps_sym_kernel_is_running(const uint8_t *id, size_t size, const char *os_release);

/* A short reason for a status ("file not found", "build-id mismatch", ...). */
const char *pps_sym_status_str(enum pps_sym_status st);

#endif /* PPS_INTERNAL_SYMBOLIZER_H */
