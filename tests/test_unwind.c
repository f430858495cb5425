/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_unwind (lib/unwind.c), internal API.
 *
 *   test_unwind regs         the register maps of x86_64, i386 and aarch64 from synthesized
 *                            samples (perf's register numbers to DWARF's)
 *   test_unwind self         this process unwinds itself: getcontext() in a known call
 *                            chain gives the registers, the stack above them is copied as
 *                            perf would, and the unwound frames must be exactly the return
 *                            addresses the functions recorded (then libc's start, and the
 *                            stack must end cleanly). Also: a short stack copy truncates
 *                            to a prefix, an unmapped pc gives the pc alone, a damaged
 *                            copy never crashes, an exec drops the old modules. x86_64 only.
 *   test_unwind dump FILE    every sample's unwound user frames, one line per sample:
 *                            "TIME TID C|T ADDR...", ADDR the frame's address in its file
 *                            (pc - 1 for return addresses) as perf script prints it, "?"
 *                            outside any map (tests/test_dwarf.py compares them).
 * Exit 77 when a part cannot run here.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include <perf/event.h>
#include <pprofstore/pprofstore.h>

#include "internal/machine.h"
#include "internal/unwind.h"

#define SKIP 77

#include "check.h"

/* ---- regs ---- */

static int test_regs(void)
{
	/* x86: every register but DS, ES, FS, GS (perf's x86_64 PERF_REGS_MASK). */
	uint64_t mask = 0xff0fffULL, regs[64], v[24], pc, sp, valid;
	struct pps_sample s = {.user_regs_abi = PERF_SAMPLE_REGS_ABI_64, .user_regs_mask = mask};
	uint32_t n = 0;

	for (unsigned int r = 0; r < 24; r++)
		if (mask & (1ULL << r))
			v[n++] = 1000 + r; /* perf register r holds 1000 + r */
	s.user_regs = v;
	s.user_regs_nr = n;
	CHECK(pps_unwind_initial_regs("x86_64", 62 /* EM_X86_64 */, &s, regs, &valid, &pc, &sp),
	      "x86_64");
	CHECK(valid == 0x1ffff, "valid %#" PRIx64, valid);
	/* DWARF rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip = perf 0 3 2 1 4 5 6 7 16..23 8 */
	static const unsigned int x64[] = {0,  3,  2,  1,  4,  5,  6,  7, 16,
					   17, 18, 19, 20, 21, 22, 23, 8};
	for (unsigned int d = 0; d < 17; d++)
		CHECK(regs[d] == 1000 + x64[d], "x86_64 DWARF %u = %" PRIu64, d, regs[d]);
	CHECK(pc == 1008 && sp == 1007, "pc %" PRIu64 " sp %" PRIu64, pc, sp);

	/* i386 on an x86 kernel: eax ecx edx ebx esp ebp esi edi eip. */
	s.user_regs_abi = PERF_SAMPLE_REGS_ABI_32;
	CHECK(pps_unwind_initial_regs("x86_64", 3 /* EM_386 */, &s, regs, &valid, &pc, &sp),
	      "i386");
	static const unsigned int x32[] = {0, 2, 3, 1, 7, 6, 4, 5, 8};
	CHECK(valid == 0x1ff, "valid %#" PRIx64, valid);
	for (unsigned int d = 0; d < 9; d++)
		CHECK(regs[d] == 1000 + x32[d], "i386 DWARF %u = %" PRIu64, d, regs[d]);

	/* A register missing from the mask stays unset; without the pc, nothing. */
	s.user_regs_mask = mask & ~(1ULL << 1); /* no BX */
	s.user_regs_nr = n - 1;
	for (unsigned int r = 1, k = 1; r < 24; r++)
		if (mask & (1ULL << r) && r != 1)
			v[k++] = 1000 + r;
	CHECK(pps_unwind_initial_regs("x86_64", 62, &s, regs, &valid, &pc, &sp), "no bx");
	CHECK(valid == (0x1ffffULL & ~(1ULL << 3)), "valid %#" PRIx64, valid);
	CHECK(regs[1] == 1003 && regs[16] == 1008, "after a gap: %" PRIu64 " %" PRIu64, regs[1],
	      regs[16]);
	s.user_regs_mask = mask & ~(1ULL << 8); /* no IP */
	CHECK(!pps_unwind_initial_regs("x86_64", 62, &s, regs, &valid, &pc, &sp), "no ip");
	/* A mask promising more registers than the sample holds. */
	s.user_regs_mask = mask;
	s.user_regs_nr = 3;
	CHECK(!pps_unwind_initial_regs("x86_64", 62, &s, regs, &valid, &pc, &sp), "short");

	/* aarch64: x0..x30 and sp are perf's 0..31, the pc is perf 32. */
	uint64_t a[33];
	for (unsigned int r = 0; r < 33; r++)
		a[r] = 2000 + r;
	s = (struct pps_sample){.user_regs_abi = PERF_SAMPLE_REGS_ABI_64,
				.user_regs_mask = (1ULL << 33) - 1,
				.user_regs_nr = 33,
				.user_regs = a};
	CHECK(pps_unwind_initial_regs("aarch64", 183 /* EM_AARCH64 */, &s, regs, &valid, &pc, &sp),
	      "aarch64");
	CHECK(valid == 0xffffffffULL, "valid %#" PRIx64, valid);
	CHECK(regs[0] == 2000 && regs[30] == 2030 && regs[31] == 2031, "x0 x30 sp");
	CHECK(pc == 2032 && sp == 2031, "pc %" PRIu64 " sp %" PRIu64, pc, sp);
	/* No map for a pair the kernel cannot have produced, nor for an unknown kernel. */
	CHECK(!pps_unwind_initial_regs("x86_64", 183, &s, regs, &valid, &pc, &sp), "mixed");
	CHECK(!pps_unwind_initial_regs("mips", 8, &s, regs, &valid, &pc, &sp), "mips");

	/* A recording from a kernel without a map: its samples are left as recorded. */
	{
		struct pps_unwind_opts uo = {.sz = sizeof(uo), .arch = "ppc64le"};
		struct pps_machine *m = pps_machine_new();
		struct pps_unwind *u = pps_unwind_new(m, &uo);
		struct pps_unwind_result res;
		struct pps_event ev = {.type = PERF_RECORD_SAMPLE, .misc = PERF_RECORD_MISC_USER};
		uint8_t stack[64] = {0};

		ev.sample = s;
		ev.sample.type = PERF_SAMPLE_IP | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
		ev.sample.user_stack = stack;
		ev.sample.user_stack_size = ev.sample.user_stack_dyn_size = sizeof(stack);
		CHECK(u && pps_unwind_wanted(&ev.sample), "wanted");
		CHECK(u && pps_unwind_sample(u, &ev, &res) == 0, "ppc64le sample unwound");
		pps_unwind_free(u);
		pps_machine_free(m);
	}
	return 0;
}

/* ---- self ---- */

#if defined(__x86_64__)

#define NR_RA 3
static uintptr_t ra[NR_RA]; /* return addresses recorded by f3, f2, f1 */
static ucontext_t uc;
static volatile int sink;
static uint64_t stack_end;	 /* of the main thread's stack */
static uint8_t stack_copy[8192]; /* what perf would copy at f3's getcontext() */
static uint64_t stack_size;

/* Copies the live stack: not through memcpy, which ASan checks against other frames'
 * redzones. */
__attribute__((no_sanitize_address, noinline)) static void copy_stack(uint8_t *dst, uint64_t sp,
								      uint64_t size)
{
	const volatile uint8_t *src = (const volatile uint8_t *)(uintptr_t)sp;

	for (uint64_t i = 0; i < size; i++)
		dst[i] = src[i];
}

__attribute__((noipa, noinline)) static void f3(void)
{
	uint64_t sp;

	ra[0] = (uintptr_t)__builtin_return_address(0);
	getcontext(&uc);
	/* Calls from here use the stack below the saved stack pointer only. */
	sp = (uint64_t)uc.uc_mcontext.gregs[REG_RSP];
	stack_size = stack_end - sp < sizeof(stack_copy) ? stack_end - sp : sizeof(stack_copy);
	copy_stack(stack_copy, sp, stack_size);
	sink++;
}

__attribute__((noipa, noinline)) static void f2(void)
{
	ra[1] = (uintptr_t)__builtin_return_address(0);
	f3();
	sink++;
}

__attribute__((noipa, noinline)) static void f1(void)
{
	ra[2] = (uintptr_t)__builtin_return_address(0);
	f2();
	sink++;
}

/* Feeds this process's executable maps to the machine as MMAP2 records; the end of the
 * stack in *stack_end. */
__attribute__((noinline)) static int self_maps(struct pps_machine *m, uint32_t pid, uint64_t *top)
{
	char line[4096], perms[8], path[2048];
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned long long start, end, off;
	int n = 0;

	if (!f)
		return -1;
	*top = 0;
	while (fgets(line, sizeof(line), f)) {
		struct perf_record_mmap2 r;

		path[0] = '\0';
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %2047[^\n]", &start, &end, perms, &off,
			   path) < 4)
			continue;
		if (strstr(path, "[stack]"))
			*top = end;
		if (perms[2] != 'x')
			continue;
		memset(&r, 0, sizeof(r));
		r.header.type = PERF_RECORD_MMAP2;
		r.pid = r.tid = pid;
		r.start = start;
		r.len = end - start;
		r.pgoff = off;
		snprintf(r.filename, sizeof(r.filename), "%s", path[0] ? path : "//anon");
		if (pps_machine_process(m, PERF_RECORD_MMAP2, PERF_RECORD_MISC_USER, &r))
			return -1;
		n++;
	}
	fclose(f);
	return n && *top ? 0 : -1;
}

/* A sample of pid with the registers of uc and stack bytes [sp, sp + size). */
static void make_sample(struct pps_event *ev, uint32_t pid, uint64_t *regs, const void *stack,
			uint64_t size)
{
	const greg_t *g = uc.uc_mcontext.gregs;
	/* perf's x86 numbers: ax bx cx dx si di bp sp ip flags cs ss (ds es fs gs) r8..r15 */
	const int order[] = {REG_RAX, REG_RBX, REG_RCX, REG_RDX, REG_RSI, REG_RDI, REG_RBP,
			     REG_RSP, REG_RIP, REG_EFL, -1,	 -1,	  REG_R8,  REG_R9,
			     REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		regs[i] = order[i] >= 0 ? (uint64_t)g[order[i]] : 0;
	memset(ev, 0, sizeof(*ev));
	ev->type = PERF_RECORD_SAMPLE;
	ev->misc = PERF_RECORD_MISC_USER;
	ev->sample.type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_CALLCHAIN |
			  PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
	ev->sample.pid = ev->sample.tid = pid;
	ev->sample.ip = regs[8];
	ev->sample.user_regs_abi = PERF_SAMPLE_REGS_ABI_64;
	ev->sample.user_regs_mask = 0xff0fffULL;
	ev->sample.user_regs_nr = 20;
	ev->sample.user_regs = regs;
	ev->sample.user_stack = stack;
	ev->sample.user_stack_size = size;
	ev->sample.user_stack_dyn_size = size;
}

/* The user frames of a result, PERF_CONTEXT_* markers dropped. */
static size_t user_frames(const struct pps_unwind_result *res, uint64_t *out, size_t max)
{
	size_t n = 0;

	for (uint64_t i = 0; i < res->nr && n < max; i++)
		if (res->callchain[i] < PERF_CONTEXT_MAX)
			out[n++] = res->callchain[i];
	return n;
}

/* The process execs another image: its old modules must not be used. Maps of the same
 * files at other addresses give the same frames, shifted. */
__attribute__((noinline)) static void exec_check(struct pps_machine *m, struct pps_unwind *u,
						 uint32_t pid, uint64_t *regs, uint8_t *copy,
						 uint64_t size, const uint64_t *full, size_t nfull)
{
	struct pps_unwind_result res;
	struct pps_event ev;
	uint64_t fr[64];
	size_t n;
	int ret;
	const uint64_t shift = 0x100000000000ULL;
	char line[4096], perms[8], path[2048];
	unsigned long long start, end, off;
	FILE *f = fopen("/proc/self/maps", "re");
	struct perf_record_comm c;
	uint64_t *w;

	memset(&c, 0, sizeof(c));
	c.header.type = PERF_RECORD_COMM;
	c.pid = c.tid = pid;
	snprintf(c.comm, sizeof(c.comm), "after-exec");
	CHECK(!pps_machine_process(m, PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC, &c), "comm");
	while (f && fgets(line, sizeof(line), f)) {
		struct perf_record_mmap2 r;

		path[0] = '\0';
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %2047[^\n]", &start, &end, perms, &off,
			   path) < 4 ||
		    perms[2] != 'x' || path[0] != '/')
			continue;
		memset(&r, 0, sizeof(r));
		r.header.type = PERF_RECORD_MMAP2;
		r.pid = r.tid = pid;
		r.start = start - shift;
		r.len = end - start;
		r.pgoff = off;
		snprintf(r.filename, sizeof(r.filename), "%s", path);
		CHECK(!pps_machine_process(m, PERF_RECORD_MMAP2, PERF_RECORD_MISC_USER, &r),
		      "mmap2");
	}
	if (f)
		fclose(f);
	/* The same stack, every code address shifted down. */
	w = (uint64_t *)(void *)copy;
	for (uint64_t i = 0; i < size / 8; i++)
		for (size_t k = 0; k < nfull; k++)
			if (w[i] == full[k])
				w[i] -= shift;
	make_sample(&ev, pid, regs, copy, size);
	regs[8] -= shift;
	ret = pps_unwind_sample(u, &ev, &res);
	n = ret > 0 ? user_frames(&res, fr, 64) : 0;
	CHECK(ret == 1 && n == nfull, "after exec: ret %d, %zu frames of %zu", ret, n, nfull);
	for (size_t k = 0; k < n && k < nfull; k++)
		CHECK(fr[k] == full[k] - shift, "after exec frame %zu: %#" PRIx64, k, fr[k]);
}

static int test_self(void)
{
	struct pps_unwind_opts uo = {.sz = sizeof(uo), .arch = "x86_64"};
	struct pps_machine *m = pps_machine_new();
	struct pps_unwind *u = pps_unwind_new(m, &uo);
	struct pps_unwind_result res;
	struct pps_event ev;
	uint64_t regs[20], size, fr[64], full[64];
	uint32_t pid = (uint32_t)getpid();
	uint8_t *copy;
	size_t n, nfull;
	int ret;

	if (!m || !u || self_maps(m, pid, &stack_end)) {
		fprintf(stderr, "SKIP self: cannot read /proc/self/maps\n");
		pps_unwind_free(u);
		pps_machine_free(m);
		return SKIP;
	}
	f1();
	size = stack_size;
	copy = malloc(size);
	memcpy(copy, stack_copy, size);

	make_sample(&ev, pid, regs, copy, size);
	ret = pps_unwind_sample(u, &ev, &res);
	nfull = ret > 0 ? user_frames(&res, full, 64) : 0;
	CHECK(ret == 1, "ret %d", ret);
	CHECK(nfull >= 4 && full[0] == regs[8] && full[1] == ra[0] && full[2] == ra[1] &&
		  full[3] == ra[2],
	      "frames %zu: %#" PRIx64 " %#" PRIx64 " %#" PRIx64 " %#" PRIx64 ", want %#" PRIx64
	      " %#lx %#lx %#lx",
	      nfull, full[0], nfull > 1 ? full[1] : 0, nfull > 2 ? full[2] : 0,
	      nfull > 3 ? full[3] : 0, regs[8], (unsigned long)ra[0], (unsigned long)ra[1],
	      (unsigned long)ra[2]);
	/* main, then libc's start and _start: the stack ends cleanly. */
	CHECK(ret == 1 && !res.truncated && nfull >= 6, "truncated %d, %zu frames",
	      ret == 1 && res.truncated, nfull);
	CHECK(ret == 1 && res.callchain[0] == PERF_CONTEXT_USER, "chain starts %#" PRIx64,
	      res.callchain[0]);
	CHECK(ret == 1 && res.nr == nfull + 1, "one marker for %zu frames: %" PRIu64, nfull,
	      res.nr);
	CHECK(pps_unwind_stats(u)->nr_samples == 1 && pps_unwind_stats(u)->nr_frames == nfull,
	      "stats");

	/* A copy ending inside f1's frame: a prefix of the full stack, marked truncated. */
	for (uint64_t cut = 8, bad = 0; cut < size && cut < 512 && !bad; cut += 8) {
		make_sample(&ev, pid, regs, copy, cut);
		ret = pps_unwind_sample(u, &ev, &res);
		n = ret > 0 ? user_frames(&res, fr, 64) : 0;
		CHECK(ret == 1 && n >= 1 && n < nfull && res.truncated &&
			  !memcmp(fr, full, n * sizeof(*fr)) &&
			  res.callchain[res.nr - 1] == PERF_CONTEXT_USER,
		      "cut %" PRIu64 ": ret %d, %zu frames, truncated %d", cut, ret, n,
		      ret > 0 && res.truncated);
		bad = failures;
	}

	/* A damaged copy: whatever comes out, no crash, and the first frame is the pc. */
	srand(1);
	for (int k = 0; k < 200; k++) {
		uint8_t *bad = malloc(size);

		memcpy(bad, copy, size);
		for (int j = 0; j < 8; j++)
			bad[(size_t)rand() % size] = (uint8_t)rand();
		make_sample(&ev, pid, regs, bad, size);
		if (k % 3 == 0)
			regs[7] = (uint64_t)rand(); /* the stack pointer too */
		ret = pps_unwind_sample(u, &ev, &res);
		n = ret > 0 ? user_frames(&res, fr, 64) : 0;
		CHECK(ret == 1 && n >= 1 && fr[0] == regs[8], "damaged %d: ret %d n %zu", k, ret,
		      n);
		free(bad);
	}

	/* Forks of this process: each has its own address space and session, more of them
	 * than are kept open (the least recently used are closed and rebuilt), twice. */
	for (int round = 0, bad = 0; round < 2 && !bad; round++) {
		for (uint32_t child = pid + 1; child <= pid + 300 && !bad; child++) {
			struct perf_record_fork fk = {
			    .pid = child, .ppid = pid, .tid = child, .ptid = pid};

			fk.header.type = PERF_RECORD_FORK;
			if (!round)
				CHECK(!pps_machine_process(m, PERF_RECORD_FORK, 0, &fk), "fork");
			make_sample(&ev, child, regs, copy, size);
			ret = pps_unwind_sample(u, &ev, &res);
			n = ret > 0 ? user_frames(&res, fr, 64) : 0;
			CHECK(ret == 1 && n == nfull && !memcmp(fr, full, n * sizeof(*fr)) &&
				  !res.truncated,
			      "fork %" PRIu32 " round %d: ret %d, %zu frames", child, round, ret,
			      n);
			bad = failures;
		}
	}

	/* A pc in no map: the pc alone, truncated. */
	make_sample(&ev, pid, regs, copy, size);
	regs[8] = 0x10;
	ret = pps_unwind_sample(u, &ev, &res);
	n = ret > 0 ? user_frames(&res, fr, 64) : 0;
	CHECK(ret == 1 && n == 1 && fr[0] == 0x10 && res.truncated, "unmapped: %d %zu", ret, n);

	/* No user registers (a kernel thread): not unwound. */
	make_sample(&ev, pid, regs, copy, size);
	ev.sample.user_regs_abi = PERF_SAMPLE_REGS_ABI_NONE;
	CHECK(pps_unwind_sample(u, &ev, &res) == 0, "abi none");

	exec_check(m, u, pid, regs, copy, size, full, nfull);

	free(copy);
	pps_unwind_free(u);
	pps_machine_free(m);
	return 0;
}

#else
static int test_self(void)
{
	fprintf(stderr, "SKIP self: x86_64 only\n");
	return SKIP;
}
#endif

/* ---- dump ---- */

static int dump(const char *path)
{
	PPS_READER_OPTS(ro, .flags = PPS_READER_ORDERED);
	struct pps_reader *r = pps_reader_open(path, &ro);
	struct pps_unwind_opts uo = {.sz = sizeof(uo)};
	struct pps_machine *m = pps_machine_new();
	struct pps_unwind *u;
	struct pps_event ev;
	int ret;

	if (!r || !m) {
		fprintf(stderr, "%s: cannot read\n", path);
		return 1;
	}
	uo.arch = pps_reader_arch(r);
	u = pps_unwind_new(m, &uo);
	for (size_t i = 0; u && i < pps_reader_nr_build_ids(r); i++) {
		const struct pps_build_id *b = pps_reader_build_id(r, i);

		if (b->filename && b->cpumode != PERF_RECORD_MISC_KERNEL)
			pps_unwind_add_build_id(u, b->filename, b->id, b->size);
	}
	while (u && (ret = pps_reader_next(r, &ev)) > 0) {
		struct pps_unwind_result res;
		bool user = false, exact = false;

		if (ev.type != PERF_RECORD_SAMPLE) {
			pps_machine_process(m, ev.type, ev.misc, ev.raw);
			continue;
		}
		if (!ev.evsel || pps_unwind_sample(u, &ev, &res) <= 0)
			continue;
		printf("%" PRIu64 " %" PRIu32 " %c", ev.sample.time, ev.sample.tid,
		       res.truncated ? 'T' : 'C');
		for (uint64_t i = 0; i < res.nr; i++) {
			uint64_t pc = res.callchain[i], gen;
			const struct pps_map *map;

			if (pc >= PERF_CONTEXT_MAX) {
				user = pc == PERF_CONTEXT_USER;
				exact = true;
				continue;
			}
			if (!user)
				continue; /* the kernel part */
			if (!exact)
				pc--;
			map = pps_machine_find_map(m, (int32_t)ev.sample.pid, false, pc, &gen);
			if (map)
				printf(" %" PRIx64, pc - map->start + map->pgoff);
			else
				printf(" ?");
			exact = false;
		}
		putchar('\n');
	}
	pps_unwind_free(u);
	pps_machine_free(m);
	pps_reader_free(r);
	return 0;
}

int main(int argc, char **argv)
{
	int ret;

	if (argc >= 3 && !strcmp(argv[1], "dump"))
		return dump(argv[2]);
	if (argc != 2 || (strcmp(argv[1], "regs") && strcmp(argv[1], "self"))) {
		fprintf(stderr, "usage: test_unwind regs | self | dump FILE\n");
		return 2;
	}
	ret = !strcmp(argv[1], "regs") ? test_regs() : test_self();
	if (ret == SKIP)
		return SKIP;
	if (failures) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
