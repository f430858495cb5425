/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_symbolizer against real tools: small programs are compiled at test time, and what
 * pps_symbolizer_lookup() says for every address of their functions is compared with
 * addr2line -f -i -C (binutils). Kernel symbols come from a synthetic kallsyms file with
 * a KASLR shift, JIT symbols from a /tmp/perf-PID.map, and a binary absent from disk
 * from a real debuginfod serving a temporary folder.
 *
 * Usage: test_symbolizer [dwarf|separate|cxx|demangle|kallsyms|kernel|vmlinux|perfmap|vdso|
 *                        corrupt|debuginfod|plt]
 * Exit 0 pass, 1 fail, 77 skipped (no compiler, binutils or debuginfod).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gelf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <perf/event.h>
#include <pprofstore/pprofstore.h>

#include "internal/demangle.h"
#include "internal/symbolizer.h"
#include "internal/synth.h"

#define SKIP	 77
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int failures;
static char tmpdir[256];
static int nr_mismatch_warnings;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static void log_cb(enum pps_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (strstr(msg, "build-id mismatch"))
		nr_mismatch_warnings++;
	if (getenv("PPS_TEST_VERBOSE") || level <= PPS_LOG_WARN)
		fprintf(stderr, "log[%d]: %s\n", (int)level, msg);
}

/* Runs a shell command; its exit status (or -1). */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/pps-symtest-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(1);
	}
}

static void remove_tmpdir(void)
{
	if (tmpdir[0] && !getenv("PPS_TEST_KEEP"))
		run("rm -rf '%s'", tmpdir);
}

/* ---- ELF facts the oracle needs ---- */

/* One PT_LOAD of an executable segment and one symbol. */
struct elf_facts {
	uint64_t exec_offset, exec_vaddr, exec_filesz;
	uint8_t build_id[64];
	size_t build_id_size;
};

static bool elf_read_facts(const char *path, struct elf_facts *ef)
{
	bool ok = false;
	Elf *elf;
	size_t n;
	int fd;

	memset(ef, 0, sizeof(*ef));
	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_getphdrnum(elf, &n))
		goto out;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
			ef->exec_offset = ph.p_offset;
			ef->exec_vaddr = ph.p_vaddr;
			ef->exec_filesz = ph.p_filesz;
			ok = true;
		}
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_NOTE) {
			Elf_Data *d =
			    elf_getdata_rawchunk(elf, ph.p_offset, ph.p_filesz, ELF_T_NHDR);
			size_t off = 0, noff, doff;
			GElf_Nhdr nh;

			while (d && (off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
				if (nh.n_type == NT_GNU_BUILD_ID && nh.n_descsz <= 64) {
					memcpy(ef->build_id, (char *)d->d_buf + doff, nh.n_descsz);
					ef->build_id_size = nh.n_descsz;
				}
			}
		}
	}
out:
	elf_end(elf);
	close(fd);
	return ok;
}

/* The value and size of a symbol from nm (addresses are ELF vaddrs). */
static bool nm_symbol(const char *bin, const char *name, uint64_t *addr, uint64_t *size)
{
	char cmd[1024], line[1024];
	bool found = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm -S '%s'", bin);
	p = popen(cmd, "r");
	if (!p)
		return false;
	while (fgets(line, sizeof(line), p)) {
		unsigned long long a, s;
		char type, sym[512];

		if (sscanf(line, "%llx %llx %c %511s", &a, &s, &type, sym) == 4 &&
		    !strcmp(sym, name)) {
			*addr = a;
			*size = s;
			found = true;
		}
	}
	pclose(p);
	return found;
}

/* ---- the addr2line oracle ---- */

struct oframe {
	char func[1024];
	char file[1024];
	long line;
};

struct oaddr {
	uint64_t addr;
	struct oframe f[16];
	size_t nr;
};

/*
 * addr2line -a -f -i -C for every address in addrs. Output per address: "0x..." then
 * function / file:line pairs, innermost first.
 */
static size_t addr2line(const char *bin, const uint64_t *addrs, size_t n, struct oaddr *out)
{
	char path[512], cmd[1024], line[1024];
	size_t cur = (size_t)-1;
	FILE *f, *p;
	bool want_func = true;

	snprintf(path, sizeof(path), "%s/addrs.txt", tmpdir);
	f = fopen(path, "w");
	if (!f)
		return 0;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "0x%llx\n", (unsigned long long)addrs[i]);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "addr2line -a -f -i -C -e '%s' < '%s'", bin, path);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "0x", 2) && want_func) {
			cur++;
			if (cur >= n)
				break;
			out[cur].addr = strtoull(line, NULL, 16);
			out[cur].nr = 0;
			continue;
		}
		if (cur >= n)
			break;
		if (want_func) {
			if (out[cur].nr < 16)
				snprintf(out[cur].f[out[cur].nr].func, 1024, "%s", line);
			want_func = false;
		} else {
			struct oframe *of = &out[cur].f[out[cur].nr < 16 ? out[cur].nr : 15];
			char *colon = strrchr(line, ':');

			/* "file:line (discriminator N)" */
			if (strstr(line, " (discriminator"))
				*strstr(line, " (discriminator") = '\0';
			colon = strrchr(line, ':');
			if (colon) {
				*colon = '\0';
				of->line = strtol(colon + 1, NULL, 10);
			}
			snprintf(of->file, 1024, "%s", line);
			if (out[cur].nr < 16)
				out[cur].nr++;
			want_func = true;
		}
	}
	pclose(p);
	return cur == (size_t)-1 ? 0 : cur + 1;
}

/*
 * Our name is addr2line's, except that addr2line -C prints a function template's return
 * type first ("unsigned long ns::f<long>(long)") and we drop it (DMGL_RET_DROP).
 */
static bool same_function(const char *ours, const char *oracle)
{
	size_t lo = strlen(ours), lr = strlen(oracle);

	if (!strcmp(ours, oracle))
		return true;
	return lr > lo + 1 && !strcmp(oracle + lr - lo, ours) && oracle[lr - lo - 1] == ' ' &&
	       strchr(ours, '<') && strchr(ours, '(');
}

/* The map a process would have for the executable segment of a PIE loaded at base. */
static struct pps_sym_map exec_map(const char *filename, const struct elf_facts *ef, uint64_t base)
{
	struct pps_sym_map m = {
	    .filename = filename,
	    .start = base + (ef->exec_vaddr & ~0xfffull),
	    .len = ef->exec_filesz + (ef->exec_vaddr & 0xfff),
	    .pgoff = ef->exec_offset & ~0xfffull,
	    .pid = 1234,
	};

	return m;
}

/*
 * Every address of function fn in bin, looked up through map m (filename may differ
 * from bin), compared with addr2line on bin (the unstripped one). Returns the number of
 * addresses that had an inlined frame.
 */
static int compare_function(struct pps_symbolizer *s, const char *bin, const struct pps_sym_map *m,
			    const struct elf_facts *ef, uint64_t base, const char *fn)
{
	uint64_t addr, size, addrs[4096];
	static struct oaddr oracle[4096];
	size_t n, got;
	int inlined = 0;

	if (!nm_symbol(bin, fn, &addr, &size) || !size) {
		CHECK(0, "%s not in %s", fn, bin);
		return 0;
	}
	n = size < 4096 ? size : 4096;
	for (size_t i = 0; i < n; i++)
		addrs[i] = addr + i;
	got = addr2line(bin, addrs, n, oracle);
	CHECK(got == n, "addr2line answered %zu of %zu", got, n);
	for (size_t i = 0; i < got; i++) {
		struct pps_sym_result r;
		uint64_t pc = base + oracle[i].addr;
		int err = pps_symbolizer_lookup(s, m, pc, &r);

		(void)ef;
		CHECK(!err, "lookup: %d", err);
		if (err)
			continue;
		CHECK(r.file && r.file->status == PPS_SYM_OK, "status %d",
		      r.file ? (int)r.file->status : -1);
		if (r.nr_frames != oracle[i].nr) {
			CHECK(0, "%s+%#llx: %zu frames, addr2line has %zu", fn,
			      (unsigned long long)(oracle[i].addr - addr), r.nr_frames,
			      oracle[i].nr);
			continue;
		}
		if (r.nr_frames > 1)
			inlined++;
		for (size_t k = 0; k < r.nr_frames; k++) {
			const struct pps_sym_frame *f = &r.frames[k];
			const struct oframe *o = &oracle[i].f[k];

			CHECK(same_function(f->name, o->func), "%#llx frame %zu: name '%s' vs '%s'",
			      (unsigned long long)oracle[i].addr, k, f->name, o->func);
			if (strcmp(o->file, "??")) {
				CHECK(!strcmp(f->file, o->file),
				      "%#llx frame %zu: file '%s' vs '%s'",
				      (unsigned long long)oracle[i].addr, k, f->file, o->file);
				CHECK(f->line == o->line, "%#llx frame %zu (%s): line %lld vs %ld",
				      (unsigned long long)oracle[i].addr, k, f->name,
				      (long long)f->line, o->line);
			}
		}
	}
	return inlined;
}

/* ---- the test programs ---- */

/* Line numbers below are checked: keep the layout. */
static const char c_source[] =
    "static volatile int sink;\n"				       /* 1 */
    "static inline __attribute__((always_inline)) int leaf(int x)\n"   /* 2 */
    "{\n"							       /* 3 */
    "\tsink = x;\n"						       /* 4 */
    "\treturn x * 3 + sink;\n"					       /* 5 */
    "}\n"							       /* 6 */
    "static inline __attribute__((always_inline)) int middle(int x)\n" /* 7 */
    "{\n"							       /* 8 */
    "\treturn leaf(x + 1) * 2;\n"				       /* 9 */
    "}\n"							       /* 10 */
    "__attribute__((noinline)) int outer(int x)\n"		       /* 11 */
    "{\n"							       /* 12 */
    "\tint r = middle(x);\n"					       /* 13 */
    "\tsink = r;\n"						       /* 14 */
    "\treturn r + leaf(r);\n"					       /* 15 */
    "}\n"							       /* 16 */
    "int main(int argc, char **argv)\n"				       /* 17 */
    "{\n"							       /* 18 */
    "\t(void)argv;\n"						       /* 19 */
    "\treturn outer(argc);\n"					       /* 20 */
    "}\n";

static const char cxx_source[] =
    "#include <vector>\n"
    "namespace pps { namespace test {\n"
    "template <typename T> struct Box {\n"
    "\tT v;\n"
    "\t__attribute__((noinline)) T twice(const std::vector<T> &xs) const;\n"
    "};\n"
    "template <typename T> T Box<T>::twice(const std::vector<T> &xs) const\n"
    "{\n"
    "\tT s = v;\n"
    "\tfor (const T &x : xs) s += x * 2;\n"
    "\treturn s;\n"
    "}\n"
    "template struct Box<long>;\n"
    "} }\n"
    "int main(int argc, char **)\n"
    "{\n"
    "\tpps::test::Box<long> b{argc};\n"
    "\tstd::vector<long> xs(argc, 3);\n"
    "\treturn (int)b.twice(xs);\n"
    "}\n";

/* Compiles src into tmpdir/name; false when no compiler. */
static bool compile(const char *cc, const char *ext, const char *src, const char *name,
		    const char *flags)
{
	char srcpath[512];

	snprintf(srcpath, sizeof(srcpath), "%s/%s.%s", tmpdir, name, ext);
	write_file(srcpath, src);
	return run("cd '%s' && %s %s -Wl,--build-id -o '%s' '%s' 2>&1", tmpdir, cc, flags, name,
		   srcpath) == 0;
}

static bool have_tools(void)
{
	return run("command -v cc addr2line nm objcopy >/dev/null 2>&1") == 0;
}

/* ---- tests ---- */

/* Inline frames, files and lines of an unstripped -O2 -g program. */
static int test_dwarf(void)
{
	struct pps_symbolizer *s;
	struct elf_facts ef;
	struct pps_sym_map m;
	char bin[512];
	uint64_t base = 0x555555554000ull, addr, size;
	struct pps_sym_result r;
	bool seen_chain = false;

	if (!have_tools() || !compile("cc", "c", c_source, "prog", "-O2 -g"))
		return SKIP;
	snprintf(bin, sizeof(bin), "%s/prog", tmpdir);
	CHECK(elf_read_facts(bin, &ef), "%s: no executable segment", bin);
	s = pps_symbolizer_new(NULL);
	CHECK(s, "new");
	m = exec_map(bin, &ef, base);
	CHECK(compare_function(s, bin, &m, &ef, base, "outer") > 0, "no inlined frame in outer");
	compare_function(s, bin, &m, &ef, base, "main");
	/* The chain leaf <- middle <- outer appears with the lines of the source above. */
	CHECK(nm_symbol(bin, "outer", &addr, &size), "outer");
	for (uint64_t a = addr; a < addr + size; a++) {
		CHECK(!pps_symbolizer_lookup(s, &m, base + a, &r), "lookup");
		if (r.nr_frames == 3 && !strcmp(r.frames[0].name, "leaf")) {
			CHECK(!strcmp(r.frames[1].name, "middle") && r.frames[1].line == 9,
			      "middle:%lld", (long long)r.frames[1].line);
			CHECK(!strcmp(r.frames[2].name, "outer") && r.frames[2].line == 13,
			      "outer:%lld", (long long)r.frames[2].line);
			CHECK(r.frames[0].start_line == 2 && r.frames[1].start_line == 7 &&
				  r.frames[2].start_line == 11,
			      "start lines %lld %lld %lld", (long long)r.frames[0].start_line,
			      (long long)r.frames[1].start_line, (long long)r.frames[2].start_line);
			CHECK(strstr(r.frames[0].file, "/prog.c") != NULL, "file %s",
			      r.frames[0].file);
			CHECK(!strcmp(r.frames[0].system_name, "leaf"), "system name");
			seen_chain = true;
		}
	}
	CHECK(seen_chain, "no address resolved to leaf <- middle <- outer");
	CHECK(r.file->has_functions && r.file->has_filenames && r.file->has_line_numbers &&
		  r.file->has_inline_frames,
	      "mapping flags");
	CHECK(r.file->build_id_hex && strlen(r.file->build_id_hex) == 2 * ef.build_id_size,
	      "build id hex");
	/* The same address again comes from the cache: the same frames pointer. */
	{
		struct pps_sym_result r1, r2;

		CHECK(!pps_symbolizer_lookup(s, &m, base + addr, &r1), "lookup");
		CHECK(!pps_symbolizer_lookup(s, &m, base + addr, &r2), "lookup");
		CHECK(r1.frames == r2.frames && r1.nr_frames == r2.nr_frames, "cache");
	}
	/* no_inline: one frame, the outer function at its own line. */
	{
		struct pps_symbolizer_opts o = {.sz = sizeof(o), .no_inline = true};
		struct pps_symbolizer *s2 = pps_symbolizer_new(&o);

		for (uint64_t a = addr; a < addr + size; a++) {
			CHECK(!pps_symbolizer_lookup(s2, &m, base + a, &r), "lookup");
			CHECK(r.nr_frames == 1 && !strcmp(r.frames[0].name, "outer"),
			      "no_inline: %zu frames", r.nr_frames);
		}
		pps_symbolizer_free(s2);
	}
	/* An address outside every segment resolves to nothing, without error. */
	CHECK(!pps_symbolizer_lookup(s, &m, m.start + (1ull << 40), &r) && r.nr_frames == 0,
	      "far address");
	pps_symbolizer_free(s);
	return 0;
}

/*
 * The binary stripped, its debug info under symfs/usr/lib/debug/.build-id; the unstripped
 * one in perf's build-id cache; a wrong build-id; a corrupt file.
 */
static int test_separate(void)
{
	char bin[512], root[512], dbgdir[1024], hex[130], cache[512];
	struct pps_symbolizer *s;
	struct pps_sym_result r;
	struct pps_sym_map m;
	struct elf_facts ef;
	uint64_t base = 0x7f0000000000ull;

	if (!have_tools() || !compile("cc", "c", c_source, "prog", "-O2 -g"))
		return SKIP;
	snprintf(bin, sizeof(bin), "%s/prog", tmpdir);
	CHECK(elf_read_facts(bin, &ef) && ef.build_id_size, "facts");
	for (size_t i = 0; i < ef.build_id_size; i++)
		sprintf(hex + 2 * i, "%02x", ef.build_id[i]);
	snprintf(root, sizeof(root), "%s/root", tmpdir);
	snprintf(dbgdir, sizeof(dbgdir), "%s/usr/lib/debug/.build-id/%.2s", root, hex);
	CHECK(run("mkdir -p '%s' '%s/usr/bin' && objcopy --only-keep-debug '%s' '%s/%s.debug' && "
		  "objcopy --strip-all '%s' '%s/usr/bin/prog'",
		  dbgdir, root, bin, dbgdir, hex + 2, bin, root) == 0,
	      "objcopy");

	/* 1. symfs: /usr/bin/prog is the stripped copy, DWARF from the build-id path. */
	{
		struct pps_symbolizer_opts o = {
		    .sz = sizeof(o), .symfs = root, .buildid_dir = "/nonexistent"};

		s = pps_symbolizer_new(&o);
		CHECK(!pps_symbolizer_add_build_id(s, "/usr/bin/prog", false, ef.build_id,
						   ef.build_id_size),
		      "add build id");
		m = exec_map("/usr/bin/prog", &ef, base);
		CHECK(compare_function(s, bin, &m, &ef, base, "outer") > 0, "stripped+debug");
		pps_symbolizer_free(s);
	}
	/* 1b. .gnu_debuglink: the stripped file names prog.debug, found in .debug/. */
	{
		struct pps_symbolizer_opts o = {.sz = sizeof(o), .buildid_dir = "/nonexistent"};
		char linked[600];

		snprintf(linked, sizeof(linked), "%s/linked/prog", tmpdir);
		CHECK(run("mkdir -p '%s/linked/.debug' && objcopy --only-keep-debug '%s' "
			  "'%s/linked/.debug/prog.debug' && objcopy --strip-all "
			  "--add-gnu-debuglink='%s/linked/.debug/prog.debug' '%s' '%s'",
			  tmpdir, bin, tmpdir, tmpdir, bin, linked) == 0,
		      "debuglink");
		s = pps_symbolizer_new(&o);
		m = exec_map(linked, &ef, base);
		CHECK(compare_function(s, bin, &m, &ef, base, "outer") > 0, "debuglink");
		pps_symbolizer_free(s);
	}
	/* 2. perf's build-id cache (.build-id/xx/rest -> dir with elf), path gone. */
	{
		struct pps_symbolizer_opts o = {.sz = sizeof(o), .buildid_dir = cache};

		snprintf(cache, sizeof(cache), "%s/cache", tmpdir);
		CHECK(
		    run("mkdir -p '%s/.build-id/%.2s' '%s/gone/prog/%s' && cp '%s' "
			"'%s/gone/prog/%s/elf' && ln -s ../../gone/prog/%s '%s/.build-id/%.2s/%s'",
			cache, hex, cache, hex, bin, cache, hex, hex, cache, hex, hex + 2) == 0,
		    "cache");
		s = pps_symbolizer_new(&o);
		m = exec_map("/gone/prog", &ef, base);
		m.build_id = ef.build_id;
		m.build_id_size = (uint8_t)ef.build_id_size;
		CHECK(compare_function(s, bin, &m, &ef, base, "outer") > 0, "build-id cache");
		pps_symbolizer_free(s);
	}
	/* 3. A build-id the file does not have: not used, one warning per binary. */
	{
		uint8_t wrong[20] = {1, 2, 3};

		s = pps_symbolizer_new(NULL);
		m = exec_map(bin, &ef, base);
		m.build_id = wrong;
		m.build_id_size = sizeof(wrong);
		nr_mismatch_warnings = 0;
		for (int i = 0; i < 3; i++) {
			CHECK(!pps_symbolizer_lookup(s, &m, m.start + 0x10, &r), "lookup");
			CHECK(r.nr_frames == 0 && r.file->status == PPS_SYM_BUILD_ID_MISMATCH,
			      "mismatch status %d", (int)r.file->status);
		}
		CHECK(nr_mismatch_warnings == 1, "%d mismatch warnings", nr_mismatch_warnings);
		CHECK(!strncmp(r.file->build_id_hex, "010203", 6), "recorded id kept");
		pps_symbolizer_free(s);
	}
	/* 4. Not ELF, a truncated ELF, a missing file: statuses, no crash. */
	{
		char bad[512], trunc[512];
		const struct pps_sym_file *f;

		snprintf(bad, sizeof(bad), "%s/notelf", tmpdir);
		snprintf(trunc, sizeof(trunc), "%s/trunc", tmpdir);
		write_file(bad, "this is not an ELF file\n");
		CHECK(run("head -c 2000 '%s' > '%s'", bin, trunc) == 0, "head");
		s = pps_symbolizer_new(NULL);
		m = exec_map(bad, &ef, base);
		f = pps_symbolizer_file(s, &m);
		CHECK(f && f->status == PPS_SYM_BAD_FILE, "notelf %d", f ? (int)f->status : -1);
		m.filename = trunc;
		CHECK(!pps_symbolizer_lookup(s, &m, m.start + 0x10, &r) && r.nr_frames == 0,
		      "trunc");
		CHECK(r.file->status != PPS_SYM_OK, "trunc status %d", (int)r.file->status);
		m.filename = "/nonexistent/file";
		f = pps_symbolizer_file(s, &m);
		CHECK(f && f->status == PPS_SYM_NOT_FOUND, "missing %d", f ? (int)f->status : -1);
		m.filename = "[vsyscall]";
		f = pps_symbolizer_file(s, &m);
		CHECK(f && f->status == PPS_SYM_NOT_FOUND, "vsyscall");
		pps_symbolizer_free(s);
	}
	return 0;
}

/* C++: demangled names (namespaces, templates, parameters) as addr2line -C shows them. */
static int test_cxx(void)
{
	struct pps_symbolizer *s;
	struct pps_sym_result r;
	struct pps_sym_map m;
	struct elf_facts ef;
	char bin[512];
	const char *mangled = "_ZNK3pps4test3BoxIlE5twiceERKSt6vectorIlSaIlEE";
	uint64_t base = 0x560000000000ull, addr, size;

	if (!have_tools() || run("command -v c++ >/dev/null 2>&1") ||
	    !compile("c++", "cc", cxx_source, "cxxprog", "-O2 -g"))
		return SKIP;
	snprintf(bin, sizeof(bin), "%s/cxxprog", tmpdir);
	CHECK(elf_read_facts(bin, &ef), "facts");
	s = pps_symbolizer_new(NULL);
	m = exec_map(bin, &ef, base);
	compare_function(s, bin, &m, &ef, base, mangled);
	CHECK(nm_symbol(bin, mangled, &addr, &size), "nm");
	CHECK(!pps_symbolizer_lookup(s, &m, base + addr, &r) && r.nr_frames >= 1, "lookup");
	if (r.nr_frames) {
		const struct pps_sym_frame *f = &r.frames[r.nr_frames - 1];

		CHECK(!strcmp(f->name, "pps::test::Box<long>::twice(std::vector<long, "
				       "std::allocator<long> > const&) const"),
		      "name %s", f->name);
		CHECK(!strcmp(f->system_name, mangled), "system_name %s", f->system_name);
		CHECK(f->start_line == 7, "start_line %lld", (long long)f->start_line);
	}
	pps_symbolizer_free(s);
	return 0;
}

/* Demangling of C++ and Rust (legacy and v0) names, as c++filt / rustfilt print them. */
static int test_demangle(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"_ZN3foo3barEv", "foo::bar()"},
	    {"_ZNSt6vectorIiSaIiEE9push_backERKi",
	     "std::vector<int, std::allocator<int> >::push_back(int const&)"},
	    {"_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write"},
	    {"_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17h5e3b2d4c1a0f9e8dE",
	     "std::rt::lang_start::{{closure}}"},
	    {"_RNvCs15kBYyAo9fc_7mycrate7example", "mycrate::example"},
	    {"_RNvNtCs1234_7mycrate3foo3bar", "mycrate::foo::bar"},
	    {"_Z4spinImET_S0_l", "spin<unsigned long>(unsigned long, long)"},
	    /* PLT stubs (lib/dso.c): the target demangled, as perf names them. */
	    {"_ZN3foo3barEv@plt", "foo::bar()@plt"},
	    {"_ZN4core3fmt5write17h0123456789abcdefE@plt", "core::fmt::write@plt"},
	    {"puts@plt", NULL},
	    {"_@plt", NULL},
	    {"@plt", NULL},
	    {"main", NULL},
	    {"_start", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = pps_demangle(cases[i].in);

		if (cases[i].out)
			CHECK(d && !strcmp(d, cases[i].out), "%s -> %s", cases[i].in,
			      d ? d : "NULL");
		else
			CHECK(!d, "%s -> %s", cases[i].in, d);
		free(d);
	}
	return 0;
}

static void count_file(const char *path, const struct pps_sym_file *f, void *ctx)
{
	(void)path;
	(void)f;
	(*(int *)ctx)++;
}

/* The running kernel through /proc/kallsyms, when it shows addresses. */
static int test_running_kernel(void)
{
	struct pps_sym_map km = {.filename = "[kernel.kallsyms]_text", .kernel = true, .pid = -1};
	uint64_t text = 0, sched = 0;
	struct pps_symbolizer *s;
	struct pps_sym_result r;
	struct utsname u;
	char line[1024];
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return SKIP;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a;
		char type, name[512];

		if (sscanf(line, "%llx %c %511s", &a, &type, name) != 3)
			continue;
		if (!strcmp(name, "_text"))
			text = a;
		if (!strcmp(name, "schedule") && (type == 'T' || type == 't'))
			sched = a;
	}
	fclose(f);
	if (!text || !sched || uname(&u))
		return SKIP; /* kptr_restrict */
	s = pps_symbolizer_new(NULL);
	km.pgoff = text;
	CHECK(!pps_symbolizer_set_kernel(s, text, "_text", u.release), "set");
	CHECK(!pps_symbolizer_lookup(s, &km, sched + 1, &r) && r.nr_frames == 1 &&
		  !strcmp(r.frames[0].name, "schedule"),
	      "running kernel: %s status %d", r.nr_frames ? r.frames[0].name : "(none)",
	      r.file ? (int)r.file->status : -1);
	pps_symbolizer_free(s);
	return 0;
}

/*
 * --vmlinux: an ELF file with DWARF taken as the kernel image, the shift computed from
 * a reference symbol ("outer" in the test program stands in for _text).
 */
static int test_vmlinux(void)
{
	struct pps_sym_map km = {.filename = "[kernel.kallsyms]_text", .kernel = true, .pid = -1};
	struct pps_symbolizer_opts o = {
	    .sz = sizeof(o), .vmlinux = NULL, .kallsyms = "/nonexistent"};
	const uint64_t shift = 0xffffffff80000000ull;
	uint64_t addr, size;
	struct pps_symbolizer *s;
	struct pps_sym_result r;
	char bin[512];
	bool chain = false;

	if (!have_tools() || !compile("cc", "c", c_source, "prog", "-O2 -g"))
		return SKIP;
	snprintf(bin, sizeof(bin), "%s/prog", tmpdir);
	CHECK(nm_symbol(bin, "outer", &addr, &size), "nm");
	o.vmlinux = bin;
	s = pps_symbolizer_new(&o);
	CHECK(!pps_symbolizer_set_kernel(s, addr + shift, "outer", NULL), "set");
	for (uint64_t a = addr; a < addr + size; a++) {
		CHECK(!pps_symbolizer_lookup(s, &km, a + shift, &r) && r.nr_frames >= 1 &&
			  !strcmp(r.frames[r.nr_frames - 1].name, "outer"),
		      "vmlinux %#llx: %zu frames, status %d", (unsigned long long)a, r.nr_frames,
		      r.file ? (int)r.file->status : -1);
		chain |= r.nr_frames == 3;
	}
	CHECK(chain, "inline frames through --vmlinux");
	pps_symbolizer_free(s);
	return 0;
}

/* A synthetic kallsyms with a KASLR shift; kptr_restrict; a kernel that is not running. */
static int test_kallsyms(void)
{
	static const char text[] = "0000000000000000 A fixed_percpu_data\n"
				   "ffffffff81000000 T _stext\n"
				   "ffffffff81000000 T _text\n"
				   "ffffffff81000000 t __alias_of_text\n"
				   "ffffffff81000100 t do_one_initcall\n"
				   "ffffffff81000200 W __schedule_weak_alias\n"
				   "ffffffff81000200 T schedule\n"
				   "ffffffff81000300 r some_rodata\n"
				   "ffffffff81000380 D some_data\n"
				   "ffffffff81000400 T _etext\n"
				   "ffffffffc0001000 t ext4_foo\t[ext4]\n"
				   "ffffffffc0001100 t ext4_bar\t[ext4]\n"
				   "garbage line\n";
	static const char shuffled[] = "ffffffffc0001100 t ext4_bar\t[ext4]\n"
				       "ffffffff81000200 W __schedule_weak_alias\n"
				       "ffffffff81000000 T _stext\n"
				       "ffffffff81000380 D some_data\n"
				       "ffffffff81000000 T _text\n"
				       "ffffffff81000200 T schedule\n"
				       "ffffffff81000100 t do_one_initcall\n"
				       "ffffffff81000000 t __alias_of_text\n"
				       "0000000000000000 A fixed_percpu_data\n"
				       "ffffffff81000400 T _etext\n"
				       "ffffffffc0001000 t ext4_foo\t[ext4]\n"
				       "ffffffff81000300 r some_rodata\n";
	static const char restricted[] = "0000000000000000 T _stext\n"
					 "0000000000000000 T _text\n"
					 "0000000000000000 T schedule\n";
	const uint64_t shift = 0x1a000000;
	char path[512], rpath[512];
	struct pps_symbolizer_opts o = {.sz = sizeof(o), .kallsyms = path};
	struct pps_sym_map km = {.filename = "[kernel.kallsyms]_text", .kernel = true, .pid = -1};
	struct pps_sym_map mod = {.filename = "[ext4]", .kernel = true, .pid = -1};
	struct pps_symbolizer *s;
	struct pps_sym_result r;
	static const struct {
		uint64_t pc;
		const char *name;
	} cases[] = {
	    {0xffffffff81000000, "__alias_of_text"}, /* perf: the last listed */
	    {0xffffffff81000150, "do_one_initcall"}, {0xffffffff81000200, "schedule"},
	    {0xffffffff8100037f, "schedule"},  /* perf skips r symbols */
	    {0xffffffff810003ff, "some_data"}, /* but keeps D */
	};

	snprintf(path, sizeof(path), "%s/kallsyms", tmpdir);
	snprintf(rpath, sizeof(rpath), "%s/kallsyms.restricted", tmpdir);
	write_file(path, text);
	write_file(rpath, restricted);

	s = pps_symbolizer_new(&o);
	km.pgoff = 0xffffffff81000000 + shift;
	CHECK(!pps_symbolizer_set_kernel(s, km.pgoff, "_text", "0.0-not-this-kernel"), "set");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(!pps_symbolizer_lookup(s, &km, cases[i].pc + shift, &r), "lookup");
		CHECK(r.nr_frames == 1 && !strcmp(r.frames[0].name, cases[i].name), "%#llx: %s",
		      (unsigned long long)cases[i].pc, r.nr_frames ? r.frames[0].name : "(none)");
	}
	CHECK(r.file->status == PPS_SYM_OK && r.file->has_functions, "status");
	CHECK(!pps_symbolizer_lookup(s, &km, 0xffffffff81000000 + shift - 1, &r) &&
		  r.nr_frames == 0,
	      "below _text");
	/* Modules: their own randomization, addresses as in the file. */
	CHECK(!pps_symbolizer_lookup(s, &mod, 0xffffffffc0001104, &r) && r.nr_frames == 1 &&
		  !strcmp(r.frames[0].name, "ext4_bar"),
	      "module");
	pps_symbolizer_free(s);

	/* The same symbols out of address order (the loader sorts only such a file). */
	write_file(path, shuffled);
	s = pps_symbolizer_new(&o);
	CHECK(!pps_symbolizer_set_kernel(s, km.pgoff, "_text", "0.0-not-this-kernel"), "set");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(!pps_symbolizer_lookup(s, &km, cases[i].pc + shift, &r), "lookup");
		CHECK(r.nr_frames == 1 && !strcmp(r.frames[0].name, cases[i].name),
		      "shuffled %#llx: %s", (unsigned long long)cases[i].pc,
		      r.nr_frames ? r.frames[0].name : "(none)");
	}
	CHECK(!pps_symbolizer_lookup(s, &mod, 0xffffffffc0001104, &r) && r.nr_frames == 1 &&
		  !strcmp(r.frames[0].name, "ext4_bar"),
	      "shuffled module");
	pps_symbolizer_free(s);
	write_file(path, text);

	/* _stext as the reference symbol. */
	s = pps_symbolizer_new(&o);
	CHECK(!pps_symbolizer_set_kernel(s, 0xffffffff81000000 + 2 * shift, "_stext", NULL), "set");
	CHECK(!pps_symbolizer_lookup(s, &km, 0xffffffff81000204 + 2 * shift, &r) &&
		  r.nr_frames == 1 && !strcmp(r.frames[0].name, "schedule"),
	      "_stext shift");
	pps_symbolizer_free(s);

	/* for_each_file names each binary once. */
	{
		int count = 0;

		s = pps_symbolizer_new(&o);
		CHECK(!pps_symbolizer_lookup(s, &km, 0xffffffff81000204, &r), "lookup");
		CHECK(!pps_symbolizer_lookup(s, &mod, 0xffffffffc0001104, &r), "lookup");
		CHECK(!pps_symbolizer_lookup(s, &km, 0xffffffff81000104, &r), "lookup");
		pps_symbolizer_for_each_file(s, count_file, &count);
		CHECK(count == 2, "%d files", count);
		pps_symbolizer_free(s);
	}

	/* kptr_restrict: zero addresses. */
	o.kallsyms = rpath;
	s = pps_symbolizer_new(&o);
	CHECK(!pps_symbolizer_lookup(s, &km, 0xffffffff81000204, &r) && r.nr_frames == 0 &&
		  r.file->status == PPS_SYM_KPTR_RESTRICT,
	      "restricted: %d", (int)r.file->status);
	pps_symbolizer_free(s);

	/* Another kernel, but perf record saved its kallsyms in the build-id cache. */
	{
		static const uint8_t kid[20] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};
		char cdir[512];
		struct pps_symbolizer_opts co = {.sz = sizeof(co), .buildid_dir = cdir};

		snprintf(cdir, sizeof(cdir), "%s/kcache", tmpdir);
		CHECK(run("mkdir -p '%s/.build-id/de' '%s/[kernel.kallsyms]/deadbeef01020304"
			  "000000000000000000000000' && cp '%s' '%s/[kernel.kallsyms]/"
			  "deadbeef01020304000000000000000000000000/kallsyms' && ln -s "
			  "'../../[kernel.kallsyms]/deadbeef01020304000000000000000000000000' "
			  "'%s/.build-id/de/adbeef01020304000000000000000000000000'",
			  cdir, cdir, path, cdir, cdir) == 0,
		      "kcache");
		s = pps_symbolizer_new(&co);
		CHECK(!pps_symbolizer_add_build_id(s, "[kernel.kallsyms]", true, kid, sizeof(kid)),
		      "add");
		CHECK(!pps_symbolizer_set_kernel(s, 0xffffffff81000000 + shift, "_text",
						 "0.0-not-this-kernel"),
		      "set");
		CHECK(!pps_symbolizer_lookup(s, &km, 0xffffffff81000204 + shift, &r) &&
			  r.nr_frames == 1 && !strcmp(r.frames[0].name, "schedule") &&
			  !strcmp(r.file->build_id_hex, "deadbeef01020304000000000000000000000000"),
		      "cached kallsyms: status %d", (int)r.file->status);
		pps_symbolizer_free(s);
	}

	/* Another kernel, and nothing given: a mismatch. */
	s = pps_symbolizer_new(NULL);
	CHECK(!pps_symbolizer_set_kernel(s, 0xffffffff81000000, "_text", "0.0-not-this-kernel"),
	      "set");
	CHECK(!pps_symbolizer_lookup(s, &km, 0xffffffff81000204, &r) && r.nr_frames == 0 &&
		  r.file->status == PPS_SYM_KERNEL_MISMATCH,
	      "mismatch: %d", (int)r.file->status);
	pps_symbolizer_free(s);
	return 0;
}

/* /tmp/perf-PID.map for anonymous memory. */
static int test_perfmap(void)
{
	int32_t pid = 0x7ff00000 + (getpid() & 0xfffff);
	char path[128];
	struct pps_sym_map m = {
	    .filename = "//anon", .start = 0x7f0000000000, .len = 1 << 20, .pid = pid};
	struct pps_symbolizer *s;
	struct pps_sym_result r;

	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)pid);
	write_file(path, "7f0000001000 100 LazyCompile:~foo /app.js:1\n"
			 "0x7f0000002000 0x20 _ZN3foo3barEv\n"
			 "bad line\n"
			 "7f0000001000 80 LazyCompile:*foo /app.js:1\n");
	s = pps_symbolizer_new(NULL);
	CHECK(!pps_symbolizer_lookup(s, &m, 0x7f0000001010, &r) && r.nr_frames == 1 &&
		  !strcmp(r.frames[0].name, "LazyCompile:*foo /app.js:1"),
	      "newest entry wins: %s", r.nr_frames ? r.frames[0].name : "(none)");
	CHECK(!pps_symbolizer_lookup(s, &m, 0x7f000000201f, &r) && r.nr_frames == 1 &&
		  !strcmp(r.frames[0].name, "foo::bar()") &&
		  !strcmp(r.frames[0].system_name, "_ZN3foo3barEv"),
	      "demangled JIT name");
	CHECK(!pps_symbolizer_lookup(s, &m, 0x7f0000002020, &r) && r.nr_frames == 0, "past end");
	m.filename = "/memfd:jit (deleted)";
	CHECK(!pps_symbolizer_lookup(s, &m, 0x7f0000002000, &r) && r.nr_frames == 1, "memfd");
	m.filename = "//anon";
	m.pid = pid + 1;
	CHECK(!pps_symbolizer_lookup(s, &m, 0x7f0000002000, &r) && r.nr_frames == 0 &&
		  r.file->status == PPS_SYM_ANON,
	      "no map: %d", (int)r.file->status);
	pps_symbolizer_free(s);
	unlink(path);
	return 0;
}

/* The running process's [vdso]. */
static int test_vdso(void)
{
	const unsigned char *image = (const void *)getauxval(AT_SYSINFO_EHDR);
	struct pps_sym_map m = {.filename = "[vdso]", .len = 8192, .pid = 1};
	struct pps_symbolizer *s;
	struct pps_sym_result r;
	uint64_t value = 0;
	bool found = false;
	Elf *elf;
	Elf_Scn *scn = NULL;

	if (!image)
		return SKIP;
	/* The oracle: the vdso's own .dynsym, read with libelf from memory. */
	elf_version(EV_CURRENT);
	elf = elf_memory((char *)(uintptr_t)image, 8192);
	while (elf && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *n;

			if (!gelf_getsym(d, (int)i, &sym))
				continue;
			n = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (n && !strcmp(n, "__vdso_clock_gettime")) {
				value = sym.st_value;
				found = true;
			}
		}
	}
	elf_end(elf);
	if (!found)
		return SKIP;
	m.start = (uintptr_t)image;
	s = pps_symbolizer_new(NULL);
	CHECK(!pps_symbolizer_lookup(s, &m, m.start + value + 1, &r) && r.nr_frames >= 1,
	      "vdso: status %d", r.file ? (int)r.file->status : -1);
	if (r.nr_frames) {
		const char *n = r.frames[r.nr_frames - 1].name;

		CHECK(strstr(n, "clock_gettime") != NULL, "vdso name %s", n);
	}
	pps_symbolizer_free(s);
	return 0;
}

/*
 * Damaged copies of a binary (bytes overwritten at random, truncations): each lookup
 * returns 0 with some status; the sanitizer build turns memory errors into failures.
 */
static int test_corrupt(void)
{
	char bin[512], copy[512];
	uint64_t base = 0x555555554000ull, addr, size;
	struct elf_facts ef;
	unsigned char *img;
	int rounds, ok = 0;
	long len;
	FILE *f;

	if (!have_tools() || !compile("cc", "c", c_source, "prog", "-O2 -g"))
		return SKIP;
	snprintf(bin, sizeof(bin), "%s/prog", tmpdir);
	snprintf(copy, sizeof(copy), "%s/damaged", tmpdir);
	CHECK(elf_read_facts(bin, &ef) && nm_symbol(bin, "outer", &addr, &size), "facts");
	f = fopen(bin, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET))
		return 1;
	img = malloc((size_t)len);
	if (!img || fread(img, 1, (size_t)len, f) != (size_t)len)
		return 1;
	fclose(f);
	/* PPS_TEST_ROUNDS=n runs longer, by hand. */
	rounds = getenv("PPS_TEST_ROUNDS") ? atoi(getenv("PPS_TEST_ROUNDS")) : 300;
	srand(12345);
	for (int round = 0; round < rounds; round++) {
		struct pps_sym_map m = exec_map(copy, &ef, base);
		unsigned char *d = malloc((size_t)len);
		long n = len;
		struct pps_symbolizer *s;

		memcpy(d, img, (size_t)len);
		if (round % 10 == 9) {
			n = rand() % len;
		} else {
			/* A few bytes anywhere; every third round, in the first 4 KiB (headers). */
			for (int k = 0; k < 1 + rand() % 8; k++) {
				long at =
				    round % 3 ? rand() % len : rand() % (len < 4096 ? len : 4096);

				d[at] = (unsigned char)rand();
			}
		}
		f = fopen(copy, "wb");
		CHECK(f && fwrite(d, 1, (size_t)n, f) == (size_t)n && !fclose(f), "write");
		free(d);
		s = pps_symbolizer_new(NULL);
		for (uint64_t a = addr; a < addr + size; a += 3) {
			struct pps_sym_result r;

			CHECK(!pps_symbolizer_lookup(s, &m, base + a, &r) && r.file, "lookup");
			ok += r.nr_frames > 0;
		}
		pps_symbolizer_free(s);
	}
	free(img);
	/* Most damage leaves the binary usable: the lookups did run. */
	CHECK(ok > 0, "no lookup resolved");
	if (getenv("PPS_TEST_VERBOSE"))
		fprintf(stderr, "%d lookups resolved\n", ok);
	return 0;
}

/* ---- PLT stubs ---- */

/* A section's address, file offset and size; false when the file has no such section. */
static bool elf_section(const char *path, const char *name, uint64_t *addr, uint64_t *off,
			uint64_t *size)
{
	Elf_Scn *scn = NULL;
	bool found = false;
	size_t shstrndx;
	Elf *elf;
	int fd;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_getshdrstrndx(elf, &shstrndx))
		goto out;
	while (!found && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *n;

		if (!gelf_getshdr(scn, &sh))
			continue;
		n = elf_strptr(elf, shstrndx, sh.sh_name);
		if (n && !strcmp(n, name)) {
			*addr = sh.sh_addr;
			*off = sh.sh_offset;
			*size = sh.sh_size;
			found = true;
		}
	}
out:
	elf_end(elf);
	close(fd);
	return found;
}

/* The name of an STT_GNU_IFUNC symbol at addr in bin, from nm ('i'); false when none. */
static bool nm_ifunc_at(const char *bin, uint64_t addr, char *name, size_t size)
{
	char cmd[1024], line[1024];
	bool found = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm '%s'", bin);
	p = popen(cmd, "r");
	if (!p)
		return false;
	while (fgets(line, sizeof(line), p)) {
		unsigned long long a;
		char type, sym[240];

		if (!found && sscanf(line, "%llx %c %239s", &a, &type, sym) == 3 && type == 'i' &&
		    a == addr) {
			snprintf(name, size, "%s", sym);
			found = true;
		}
	}
	pclose(p);
	return found;
}

/* One PLT stub as objdump names it: "<puts@plt>" at addr, size bytes up to the next. */
struct plt_stub {
	uint64_t addr, size;
	char name[256];
};

/*
 * The stubs objdump -d --section=sec shows in bin (the oracle: BFD synthesizes the same
 * "target@plt" names from the PLT relocations), in address order. Labels that are not a
 * stub's start ("puts@plt-0x10", the .plt header) are left out. objdump names an IFUNC's
 * stub after its resolver's address, "*ABS*+0x110d@plt"; perf (>= 6.3) and we after the
 * IFUNC symbol there, which nm shows.
 */
static size_t objdump_plt(const char *bin, const char *sec, struct plt_stub *out, size_t max)
{
	uint64_t sec_addr, sec_off, sec_size;
	char cmd[1024], line[1024];
	size_t n = 0;
	FILE *p;

	if (!elf_section(bin, sec, &sec_addr, &sec_off, &sec_size))
		return 0;
	snprintf(cmd, sizeof(cmd), "objdump -d --section='%s' '%s'", sec, bin);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		unsigned long long a;
		char name[256];
		size_t len;

		if (sscanf(line, "%llx <%255[^>]>:", &a, name) != 2)
			continue;
		len = strlen(name);
		if (len < 5 || strcmp(name + len - 4, "@plt") || n == max)
			continue;
		out[n].addr = a;
		snprintf(out[n].name, sizeof(out[n].name), "%s", name);
		if (!strncmp(name, "*ABS*+0x", 8)) {
			char ifunc[240];

			if (nm_ifunc_at(bin, strtoull(name + 8, NULL, 16), ifunc, sizeof(ifunc)))
				snprintf(out[n].name, sizeof(out[n].name), "%s@plt", ifunc);
		}
		n++;
	}
	pclose(p);
	for (size_t i = 0; i < n; i++)
		out[i].size = (i + 1 < n ? out[i + 1].addr : sec_addr + sec_size) - out[i].addr;
	return n;
}

/*
 * Every byte of every PLT stub of bin (in section sec) resolves to objdump's name for it,
 * as perf names it ("puts@plt"); want lists names that must be among them. Bytes of .plt
 * before the first stub (the lazy-binding header), or all of .plt when the stubs are in
 * .plt.sec, are ".plt", never the symbol before the PLT (_init). Returns the number of
 * stubs seen.
 */
static size_t check_plt_stubs(const char *bin, const char *sec, const char *const *want,
			      size_t nr_want)
{
	struct plt_stub stubs[64];
	uint64_t base = 0x555555554000ull, plt_addr, plt_off, plt_size, header_end;
	struct pps_symbolizer *s;
	struct pps_sym_result r;
	struct pps_sym_map m;
	struct elf_facts ef;
	size_t n;

	n = objdump_plt(bin, sec, stubs, NELEM(stubs));
	CHECK(n >= nr_want, "%s: objdump shows %zu stubs in %s", bin, n, sec);
	CHECK(elf_read_facts(bin, &ef), "%s: no executable segment", bin);
	CHECK(elf_section(bin, ".plt", &plt_addr, &plt_off, &plt_size), "%s: no .plt", bin);
	if (!n || failures)
		return 0;
	for (size_t w = 0; w < nr_want; w++) {
		bool seen = false;

		for (size_t i = 0; i < n; i++)
			seen |= !strcmp(stubs[i].name, want[w]);
		CHECK(seen, "%s: objdump has no %s", bin, want[w]);
	}
	s = pps_symbolizer_new(NULL);
	CHECK(s, "new");
	m = exec_map(bin, &ef, base);
	for (size_t i = 0; i < n; i++) {
		CHECK(stubs[i].size >= 8 && stubs[i].size <= 16, "%s: %#llx size %llu",
		      stubs[i].name, (unsigned long long)stubs[i].addr,
		      (unsigned long long)stubs[i].size);
		for (uint64_t a = stubs[i].addr; a < stubs[i].addr + stubs[i].size; a++) {
			CHECK(!pps_symbolizer_lookup(s, &m, base + a, &r), "lookup");
			CHECK(r.nr_frames == 1 && !strcmp(r.frames[0].name, stubs[i].name) &&
				  !strcmp(r.frames[0].system_name, stubs[i].name),
			      "%s: %#llx is %s, objdump says %s", bin, (unsigned long long)a,
			      r.nr_frames ? r.frames[0].name : "(nothing)", stubs[i].name);
		}
	}
	header_end = strcmp(sec, ".plt") ? plt_addr + plt_size : stubs[0].addr;
	CHECK(header_end > plt_addr, "%s: no .plt header", bin);
	for (uint64_t a = plt_addr; a < header_end; a++) {
		CHECK(!pps_symbolizer_lookup(s, &m, base + a, &r), "lookup");
		CHECK(r.nr_frames == 1 && !strcmp(r.frames[0].name, ".plt"), "%s: %#llx is %s", bin,
		      (unsigned long long)a, r.nr_frames ? r.frames[0].name : "(nothing)");
	}
	pps_symbolizer_free(s);
	return n;
}

/* A program calling puts and a function of its own shared library through the PLT. */
static const char plt_lib_source[] = "int pps_plt_target(int x)\n"
				     "{\n"
				     "\treturn x + 1;\n"
				     "}\n";
static const char plt_source[] =
    "#include <stdio.h>\n"
    "int pps_plt_target(int x);\n"
    "__attribute__((noinline)) int pps_gap_before(int x)\n"
    "{\n"
    "\treturn x * 7;\n"
    "}\n"
    "__attribute__((noinline, aligned(256))) int pps_gap_after(int x)\n"
    "{\n"
    "\treturn x * 9;\n"
    "}\n"
    "int main(int argc, char **argv)\n"
    "{\n"
    "\t(void)argv;\n"
    "\tputs(\"plt\");\n"
    "\treturn pps_plt_target(pps_gap_before(argc) + pps_gap_after(argc));\n"
    "}\n";
/* A library calling its own hidden IFUNC: an IRELATIVE relocation, no target symbol. */
static const char plt_ifunc_source[] = "static int impl(int x)\n"
				       "{\n"
				       "\treturn x + 2;\n"
				       "}\n"
				       "static int (*resolve(void))(int)\n"
				       "{\n"
				       "\treturn impl;\n"
				       "}\n"
				       "__attribute__((visibility(\"hidden\"))) int pps_ifunc(int) "
				       "__attribute__((ifunc(\"resolve\")));\n"
				       "int pps_call_ifunc(int x)\n"
				       "{\n"
				       "\treturn pps_ifunc(x) + 1;\n"
				       "}\n";
/* i386, linked without a libc (the host may have no 32-bit one): .rel.plt, not .rela.plt. */
static const char plt32_source[] = "extern int ext_fn(int);\n"
				   "extern int ext_two(int);\n"
				   "int f(int x)\n"
				   "{\n"
				   "\treturn ext_fn(x) + ext_two(x);\n"
				   "}\n";

/*
 * Damaged copies of bin, the bytes overwritten in its section headers, PLT relocations,
 * .dynsym or .dynstr: the lookups in the PLT return 0; the sanitizer build turns memory
 * errors into failures.
 */
static void damage_plt(const char *bin)
{
	static const char *const secs[] = {".rela.plt", ".dynsym", ".dynstr", ".plt"};
	uint64_t base = 0x555555554000ull, plt_addr, plt_off, plt_size, at[5][2];
	char copy[512];
	struct elf_facts ef;
	unsigned char *img;
	int rounds, named = 0;
	long len;
	FILE *f;

	snprintf(copy, sizeof(copy), "%s.damaged", bin);
	f = fopen(bin, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) <= 64 || fseek(f, 0, SEEK_SET)) {
		CHECK(0, "read %s", bin);
		return;
	}
	img = malloc((size_t)len);
	CHECK(img && fread(img, 1, (size_t)len, f) == (size_t)len, "read %s", bin);
	fclose(f);
	CHECK(elf_read_facts(bin, &ef) && elf_section(bin, ".plt", &plt_addr, &plt_off, &plt_size),
	      "facts");
	for (size_t i = 0; i < NELEM(secs); i++) {
		uint64_t a, o = 0, sz = 0;

		if (!elf_section(bin, secs[i], &a, &o, &sz))
			elf_section(bin, ".rel.plt", &a, &o, &sz);
		at[i][0] = o;
		at[i][1] = sz;
	}
	/* The section header table: e_shoff to the end of the file, in practice. */
	{
		const Elf64_Ehdr *eh = (const void *)img;
		uint64_t shoff = eh->e_ident[EI_CLASS] == ELFCLASS64
				     ? eh->e_shoff
				     : ((const Elf32_Ehdr *)(const void *)img)->e_shoff;

		at[4][0] = shoff;
		at[4][1] = shoff < (uint64_t)len ? (uint64_t)len - shoff : 0;
	}
	/* PPS_TEST_ROUNDS=n runs longer, by hand. */
	rounds = getenv("PPS_TEST_ROUNDS") ? atoi(getenv("PPS_TEST_ROUNDS")) : 200;
	srand(54321);
	for (int round = 0; img && round < rounds && !failures; round++) {
		struct pps_sym_map m = exec_map(copy, &ef, base);
		unsigned char *d = malloc((size_t)len);
		struct pps_symbolizer *s;

		memcpy(d, img, (size_t)len);
		for (int k = 0; k < 1 + rand() % 6; k++) {
			int w = rand() % 5;

			if (at[w][1] && at[w][0] + at[w][1] <= (uint64_t)len)
				d[at[w][0] + (uint64_t)rand() % at[w][1]] = (unsigned char)rand();
		}
		f = fopen(copy, "wb");
		CHECK(f && fwrite(d, 1, (size_t)len, f) == (size_t)len && !fclose(f), "write");
		free(d);
		s = pps_symbolizer_new(NULL);
		for (uint64_t a = plt_addr; a < plt_addr + plt_size + 64; a++) {
			struct pps_sym_result r;

			CHECK(!pps_symbolizer_lookup(s, &m, base + a, &r) && r.file, "lookup");
			named += r.nr_frames > 0 && strstr(r.frames[0].name, "@plt") != NULL;
		}
		pps_symbolizer_free(s);
	}
	free(img);
	if (getenv("PPS_TEST_VERBOSE"))
		fprintf(stderr, "%s: %d lookups in damaged copies named a stub\n", bin, named);
}

/*
 * Samples in PLT stubs are named as perf names them, "puts@plt" (regression: they went to
 * _init, the sizeless symbol before the PLT): lazy .plt, .plt.sec (-z ibtplt), a stripped
 * binary (only .dynsym), an IFUNC's stub, i386's .rel.plt, damaged copies. Also bytes after a sized
 * symbol and before the next one belong to no function.
 */
static int test_plt(void)
{
	static const char *const want[] = {"puts@plt", "pps_plt_target@plt"};
	static const char *const want32[] = {"ext_fn@plt", "ext_two@plt"};
	static const char *const want_ifunc[] = {"pps_ifunc@plt"};
	uint64_t base = 0x555555554000ull, ba, bs, aa, as;
	char bin[512], path[512];
	struct pps_symbolizer *s;
	struct elf_facts ef;
	struct pps_sym_map m;

	if (!have_tools() || run("command -v objdump >/dev/null 2>&1"))
		return SKIP;
	snprintf(path, sizeof(path), "%s/pps_plt_lib.c", tmpdir);
	write_file(path, plt_lib_source);
	if (run("cd '%s' && cc -O1 -shared -fPIC -o libppsplt.so pps_plt_lib.c 2>&1", tmpdir))
		return SKIP;
	/* -fcf-protection=none: the distribution's defaults must not pick the PLT layout. */
	snprintf(path, sizeof(path), "%s/plt.c", tmpdir);
	write_file(path, plt_source);
	if (run("cd '%s' && cc -O1 -fno-toplevel-reorder -fcf-protection=none -Wl,--build-id "
		"-o plt plt.c -L. -lppsplt 2>&1",
		tmpdir))
		return SKIP;
	snprintf(bin, sizeof(bin), "%s/plt", tmpdir);
	CHECK(check_plt_stubs(bin, ".plt", want, NELEM(want)) >= 2, "lazy .plt");

	/* The gap between pps_gap_before's end and pps_gap_after (aligned to 256). */
	CHECK(nm_symbol(bin, "pps_gap_before", &ba, &bs) &&
		  nm_symbol(bin, "pps_gap_after", &aa, &as) && bs && ba + bs < aa,
	      "no gap after pps_gap_before");
	CHECK(elf_read_facts(bin, &ef), "facts");
	s = pps_symbolizer_new(NULL);
	m = exec_map(bin, &ef, base);
	for (uint64_t a = ba + bs; !failures && a < aa; a++) {
		struct pps_sym_result r;

		CHECK(!pps_symbolizer_lookup(s, &m, base + a, &r), "lookup");
		CHECK(r.nr_frames == 0 || strcmp(r.frames[0].name, "pps_gap_before"),
		      "%#llx, past the end of pps_gap_before, is %s", (unsigned long long)a,
		      r.frames[0].name);
	}
	pps_symbolizer_free(s);

	snprintf(path, sizeof(path), "%s/plt-stripped", tmpdir);
	CHECK(run("objcopy --strip-all '%s' '%s'", bin, path) == 0, "objcopy");
	CHECK(check_plt_stubs(path, ".plt", want, NELEM(want)) >= 2, "stripped");
	damage_plt(bin);

	/* IBT PLT: the stubs called are in .plt.sec, .plt holds the lazy-binding code. */
	if (!run("cd '%s' && cc -O1 -fno-toplevel-reorder -Wl,--build-id -Wl,-z,ibtplt "
		 "-o plt-ibt plt.c -L. -lppsplt 2>&1",
		 tmpdir)) {
		snprintf(bin, sizeof(bin), "%s/plt-ibt", tmpdir);
		CHECK(check_plt_stubs(bin, ".plt.sec", want, NELEM(want)) >= 2, ".plt.sec");
		damage_plt(bin);
	} else {
		fprintf(stderr, "plt: no -z ibtplt linker, .plt.sec not tested\n");
	}

	/* An IFUNC's stub is named after the IFUNC, not "*ABS*+0x...@plt" nor "@plt". */
	snprintf(path, sizeof(path), "%s/pps_ifunc.c", tmpdir);
	write_file(path, plt_ifunc_source);
	if (!run("cd '%s' && cc -O1 -shared -fPIC -fcf-protection=none -Wl,--build-id "
		 "-o libppsifunc.so pps_ifunc.c 2>&1",
		 tmpdir)) {
		snprintf(bin, sizeof(bin), "%s/libppsifunc.so", tmpdir);
		CHECK(check_plt_stubs(bin, ".plt", want_ifunc, NELEM(want_ifunc)) >= 1, "ifunc");
	} else {
		fprintf(stderr, "plt: no IFUNC support, IRELATIVE stubs not tested\n");
	}

	snprintf(path, sizeof(path), "%s/plt32.c", tmpdir);
	write_file(path, plt32_source);
	if (!run("cd '%s' && cc -m32 -O1 -fPIC -c plt32.c -o plt32.o 2>/dev/null && "
		 "ld -m elf_i386 -shared --build-id -o libplt32.so plt32.o 2>&1",
		 tmpdir)) {
		snprintf(bin, sizeof(bin), "%s/libplt32.so", tmpdir);
		CHECK(check_plt_stubs(bin, ".plt", want32, NELEM(want32)) >= 2, "i386 .rel.plt");
		damage_plt(bin);
		if (!run("cd '%s' && ld -m elf_i386 -shared -z ibtplt --build-id -o "
			 "libplt32-ibt.so plt32.o 2>&1",
			 tmpdir)) {
			snprintf(bin, sizeof(bin), "%s/libplt32-ibt.so", tmpdir);
			CHECK(check_plt_stubs(bin, ".plt.sec", want32, NELEM(want32)) >= 2,
			      "i386 .plt.sec");
		}
	} else {
		fprintf(stderr, "plt: no i386 compiler, .rel.plt not tested\n");
	}
	return 0;
}

/* GET /metrics from 127.0.0.1:port into buf; false when nothing answers. */
static bool http_metrics(int port, char *buf, size_t size)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	size_t got = 0;
	ssize_t n;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return false;
	}
	while (got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	return got > 0;
}

static long metric(const char *text, const char *name)
{
	const char *p = strstr(text, name);

	return p ? strtol(p + strlen(name), NULL, 10) : -1;
}

/* debuginfod on a loopback port serves a stripped binary and its debug file. */
static int test_debuginfod(void)
{
	char bin[512], served[512], dbpath[512], logpath[512], portstr[16], hex[130];
	static char metrics[1 << 16];
	struct pps_symbolizer_opts o = {
	    .sz = sizeof(o), .debuginfod = true, .buildid_dir = "/nonexistent"};
	struct pps_symbolizer *s;
	struct pps_sym_map m;
	struct elf_facts ef;
	uint64_t base = 0x560000000000ull;
	bool ready = false;
	int port = 0, rc = 0;
	pid_t pid = -1;

	if (!have_tools() || run("command -v debuginfod >/dev/null 2>&1") ||
	    !compile("cc", "c", c_source, "prog", "-O2 -g"))
		return SKIP;
	snprintf(bin, sizeof(bin), "%s/prog", tmpdir);
	CHECK(elf_read_facts(bin, &ef) && ef.build_id_size, "facts");
	for (size_t i = 0; i < ef.build_id_size; i++)
		sprintf(hex + 2 * i, "%02x", ef.build_id[i]);
	snprintf(served, sizeof(served), "%s/served", tmpdir);
	snprintf(dbpath, sizeof(dbpath), "%s/debuginfod.sqlite", tmpdir);
	snprintf(logpath, sizeof(logpath), "%s/debuginfod.log", tmpdir);
	if (run("mkdir -p '%s' && objcopy --only-keep-debug '%s' '%s/prog.debug' && "
		"objcopy --strip-all '%s' '%s/prog.stripped'",
		served, bin, served, bin, served))
		return SKIP;

	srand((unsigned)(getpid() ^ time(NULL)));
	for (int attempt = 0; attempt < 5 && !ready; attempt++) {
		struct timespec ts = {0, 100 * 1000 * 1000};

		port = 20000 + rand() % 20000;
		snprintf(portstr, sizeof(portstr), "%d", port);
		pid = fork();
		if (pid < 0)
			return SKIP;
		if (pid == 0) {
			int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);

			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			execlp("debuginfod", "debuginfod", "-p", portstr, "-F", "-d", dbpath, "-t",
			       "0", "-g", "0", served, (char *)NULL);
			_exit(127);
		}
		/* Up to 15 s for the port to answer and the folder to be scanned. */
		for (int i = 0; i < 150; i++) {
			int st;

			if (waitpid(pid, &st, WNOHANG) == pid) {
				pid = -1;
				break;
			}
			if (http_metrics(port, metrics, sizeof(metrics)) &&
			    metric(metrics, "thread_work_total{role=\"traverse\"} ") >= 1 &&
			    metric(metrics, "thread_work_pending{role=\"scan\"} ") == 0 &&
			    metric(metrics, "thread_busy{role=\"scan\"} ") == 0 &&
			    metric(metrics, "scanned_files_total{source=\"file\"} ") >= 2) {
				ready = true;
				break;
			}
			nanosleep(&ts, NULL);
		}
		if (!ready && pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			pid = -1;
		}
	}
	if (!ready) {
		fprintf(stderr, "debuginfod did not start; see %s\n", logpath);
		return SKIP;
	}

	{
		char url[64], cachep[512];

		snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
		snprintf(cachep, sizeof(cachep), "%s/dcache", tmpdir);
		setenv("DEBUGINFOD_URLS", url, 1);
		setenv("DEBUGINFOD_CACHE_PATH", cachep, 1);
		setenv("DEBUGINFOD_TIMEOUT", "10", 1);
		unsetenv("DEBUGINFOD_PROGRESS");
	}
	s = pps_symbolizer_new(&o);
	CHECK(s, "new");
	/* The path the recording names does not exist: only debuginfod has the file. */
	m = exec_map("/nonexistent/bin/prog", &ef, base);
	CHECK(!pps_symbolizer_add_build_id(s, m.filename, false, ef.build_id, ef.build_id_size),
	      "add");
	CHECK(compare_function(s, bin, &m, &ef, base, "outer") > 0, "through debuginfod");
	{
		const struct pps_sym_file *f = pps_symbolizer_file(s, &m);

		CHECK(f && f->status == PPS_SYM_OK && f->build_id_hex &&
			  !strcmp(f->build_id_hex, hex),
		      "file info");
	}
	pps_symbolizer_free(s);

	/* Without the option, the same lookup finds nothing. */
	o.debuginfod = false;
	s = pps_symbolizer_new(&o);
	CHECK(!pps_symbolizer_add_build_id(s, m.filename, false, ef.build_id, ef.build_id_size),
	      "add");
	{
		const struct pps_sym_file *f = pps_symbolizer_file(s, &m);

		CHECK(f && f->status == PPS_SYM_NOT_FOUND, "without debuginfod: %d",
		      f ? (int)f->status : -1);
	}
	pps_symbolizer_free(s);

	kill(pid, SIGTERM);
	for (int i = 0; i < 50; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};

		if (waitpid(pid, NULL, WNOHANG) == pid) {
			pid = -1;
			break;
		}
		nanosleep(&ts, NULL);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return rc;
}

/* What pps_synth_kernel() emitted: the MMAP records' ranges and names. */
struct synth_maps {
	size_t n;
	struct {
		uint64_t start, len, pgoff;
		char name[64];
	} m[4];
};

static int synth_emit(const void *rec, size_t size, void *ctx)
{
	struct synth_maps *maps = ctx;
	struct perf_record_mmap mm;

	CHECK(size >= sizeof(struct perf_event_header) + 32 && size % 8 == 0, "size %zu", size);
	memset(&mm, 0, sizeof(mm));
	memcpy(&mm, rec, size < sizeof(mm) ? size : sizeof(mm));
	CHECK(mm.header.type == PERF_RECORD_MMAP && mm.header.size == size && mm.pid == UINT32_MAX,
	      "record type %u size %u pid %d", mm.header.type, mm.header.size, (int)mm.pid);
	if (maps->n < NELEM(maps->m)) {
		size_t n = strnlen(mm.filename, sizeof(maps->m[0].name) - 1);

		maps->m[maps->n].start = mm.start;
		maps->m[maps->n].len = mm.len;
		maps->m[maps->n].pgoff = mm.pgoff;
		memcpy(maps->m[maps->n].name, mm.filename, n);
		maps->m[maps->n].name[n] = '\0';
	}
	maps->n++;
	return 0;
}

/* The kernel and module maps live capture synthesizes from a procfs (here a made-up
 * one): _text to _etext, exact names only (not _textual, not a module's _text). */
static int test_synth(void)
{
	static const char kallsyms[] = "0000000000000000 A fixed_percpu_data\n"
				       "ffffffff81000000 T _stext\n"
				       "ffffffff81000000 T _text\n"
				       "ffffffff81000010 T _textual\n"
				       "ffffffffc0000000 t _text\t[ext4]\n"
				       "garbage line\n"
				       "ffffffff81000200 T schedule\n"
				       "ffffffff81000400 T _etext\n";
	char dir[300], path[320];
	struct synth_maps maps = {0};
	struct pps_synth syn = {.emit = synth_emit, .ctx = &maps, .proc = dir};

	snprintf(dir, sizeof(dir), "%s/proc", tmpdir);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		CHECK(0, "mkdir %s: %s", dir, strerror(errno));
		return 0;
	}
	snprintf(path, sizeof(path), "%s/kallsyms", dir);
	write_file(path, kallsyms);
	snprintf(path, sizeof(path), "%s/modules", dir);
	write_file(path, "ext4 999424 1 - Live 0xffffffffc0123000\n"
			 "broken line\n"
			 "loop 32768 0 - Live 0x0000000000000000\n");
	CHECK(!pps_synth_kernel(&syn), "synth");
	CHECK(maps.n == 2, "%zu maps", maps.n);
	CHECK(maps.m[0].start == 0xffffffff81000000 && maps.m[0].len == 0x400 &&
		  maps.m[0].pgoff == 0xffffffff81000000 &&
		  !strcmp(maps.m[0].name, "[kernel.kallsyms]_text"),
	      "kernel %#llx+%#llx pgoff %#llx %s", (unsigned long long)maps.m[0].start,
	      (unsigned long long)maps.m[0].len, (unsigned long long)maps.m[0].pgoff,
	      maps.m[0].name);
	CHECK(maps.m[1].start == 0xffffffffc0123000 && maps.m[1].len == 999424 &&
		  !strcmp(maps.m[1].name, "[ext4]"),
	      "module %#llx+%llu %s", (unsigned long long)maps.m[1].start,
	      (unsigned long long)maps.m[1].len, maps.m[1].name);

	/* kptr_restrict: no kernel map (and no module maps), not an error. */
	snprintf(path, sizeof(path), "%s/kallsyms", dir);
	write_file(path, "0000000000000000 T _text\n0000000000000000 T _etext\n");
	maps.n = 0;
	CHECK(!pps_synth_kernel(&syn) && maps.n == 0, "restricted: %zu maps", maps.n);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(void);
	} tests[] = {
	    {"dwarf", test_dwarf},
	    {"separate", test_separate},
	    {"cxx", test_cxx},
	    {"demangle", test_demangle},
	    {"kallsyms", test_kallsyms},
	    {"perfmap", test_perfmap},
	    {"vdso", test_vdso},
	    {"corrupt", test_corrupt},
	    {"kernel", test_running_kernel},
	    {"vmlinux", test_vmlinux},
	    {"debuginfod", test_debuginfod},
	    {"plt", test_plt},
	    {"synth", test_synth},
	};
	int rc = 0, ran = 0, skipped = 0;

	pps_set_log(log_cb, NULL);
	make_tmpdir();
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		int r;

		if (argc > 1 && strcmp(argv[1], tests[i].name))
			continue;
		ran++;
		r = tests[i].fn();
		if (r == SKIP) {
			fprintf(stderr, "%s: skipped\n", tests[i].name);
			skipped++;
		}
	}
	remove_tmpdir();
	if (!ran) {
		fprintf(stderr, "usage: %s [test]\n", argv[0]);
		return 2;
	}
	if (failures) {
		fprintf(stderr, "%d checks failed\n", failures);
		rc = 1;
	} else if (skipped == ran) {
		rc = SKIP;
	}
	return rc;
}
