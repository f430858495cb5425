/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_machine unit test: address spaces rebuilt from synthesized MMAP2, COMM and FORK
 * records, checked against what the kernel would have had at each point.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <perf/event.h>

#include "internal/machine.h"

#include "check.h"

static void mmap2(struct pps_machine *m, uint16_t misc, uint32_t pid, uint64_t start,
		  uint64_t len, uint64_t pgoff, const char *file)
{
	struct perf_record_mmap2 r;

	memset(&r, 0, sizeof(r));
	r.header.type = PERF_RECORD_MMAP2;
	r.pid = r.tid = pid;
	r.start = start;
	r.len = len;
	r.pgoff = pgoff;
	snprintf(r.filename, sizeof(r.filename), "%s", file);
	CHECK(!pps_machine_process(m, PERF_RECORD_MMAP2, misc, &r), "mmap2");
}

static void fork_(struct pps_machine *m, uint32_t pid, uint32_t ppid, uint32_t tid,
		  uint32_t ptid)
{
	struct perf_record_fork r = {.pid = pid, .ppid = ppid, .tid = tid, .ptid = ptid};

	r.header.type = PERF_RECORD_FORK;
	CHECK(!pps_machine_process(m, PERF_RECORD_FORK, 0, &r), "fork");
}

static void comm(struct pps_machine *m, uint32_t pid, uint32_t tid, const char *name, bool exec)
{
	struct perf_record_comm r;

	memset(&r, 0, sizeof(r));
	r.header.type = PERF_RECORD_COMM;
	r.pid = pid;
	r.tid = tid;
	snprintf(r.comm, sizeof(r.comm), "%s", name);
	CHECK(!pps_machine_process(m, PERF_RECORD_COMM, exec ? PERF_RECORD_MISC_COMM_EXEC : 0, &r),
	      "comm");
}

/* The file name at addr in pid, "" when unmapped; *pgoff the file offset of addr. */
static const char *at(struct pps_machine *m, int32_t pid, bool kernel, uint64_t addr,
		      uint64_t *off)
{
	uint64_t gen;
	const struct pps_map *map = pps_machine_find_map(m, pid, kernel, addr, &gen);

	if (!map)
		return "";
	if (off)
		*off = addr - map->start + map->pgoff;
	return map->filename;
}

int main(void)
{
	struct pps_machine *m = pps_machine_new();
	const struct pps_thread *t;
	uint64_t off = 0, g1, g2, addr;
	const char *sym;

	if (!m)
		return 1;
	/* The kernel image and a module, as perf synthesizes them. */
	mmap2(m, PERF_RECORD_MISC_KERNEL, (uint32_t)-1, 0xffffffff81000000, 0x1000000,
	      0xffffffff81000000, "[kernel.kallsyms]_text");
	mmap2(m, PERF_RECORD_MISC_KERNEL, (uint32_t)-1, 0xffffffffc0000000, 0x10000, 0,
	      "/lib/modules/6.1/kernel/fs/ext4/ext4.ko");
	CHECK(!strcmp(at(m, 5, true, 0xffffffff81000010, NULL), "[kernel.kallsyms]"), "kernel");
	CHECK(!strcmp(at(m, 5, true, 0xffffffffc0000100, NULL),
		      "/lib/modules/6.1/kernel/fs/ext4/ext4.ko"),
	      "module");
	CHECK(!strcmp(at(m, 5, true, 0xffffffff90000000, NULL), "[kernel.kallsyms]"),
	      "the kernel map extends past its recorded length");
	CHECK(pps_machine_kernel_ref(m, &addr, &sym) && addr == 0xffffffff81000000 &&
		  !strcmp(sym, "_text"),
	      "ref symbol");

	/* Process 100: a binary and libc; a later mmap in the middle splits libc. */
	mmap2(m, 0, 100, 0x400000, 0x2000, 0, "/bin/prog");
	mmap2(m, 0, 100, 0x7f0000000000, 0x10000, 0x1000, "/lib/libc.so");
	CHECK(!strcmp(at(m, 100, false, 0x400100, &off), "/bin/prog") && off == 0x100, "prog");
	CHECK(!strcmp(at(m, 100, false, 0x7f0000004000, &off), "/lib/libc.so") && off == 0x5000,
	      "libc %llx", (unsigned long long)off);
	pps_machine_find_map(m, 100, false, 0x400100, &g1);
	mmap2(m, 0, 100, 0x7f0000004000, 0x2000, 0, "//anon");
	pps_machine_find_map(m, 100, false, 0x400100, &g2);
	CHECK(g1 != g2, "a map change makes a new generation");
	CHECK(!strcmp(at(m, 100, false, 0x7f0000003fff, &off), "/lib/libc.so") && off == 0x4fff,
	      "left part kept");
	CHECK(!strcmp(at(m, 100, false, 0x7f0000005000, NULL), "//anon"), "new map");
	CHECK(!strcmp(at(m, 100, false, 0x7f0000006000, &off), "/lib/libc.so") && off == 0x7000,
	      "right part keeps its file offset: %llx", (unsigned long long)off);
	CHECK(!strcmp(at(m, 100, false, 0x7f0000010000, NULL), ""), "past the end");
	CHECK(!strcmp(at(m, 100, false, 0x3fffff, NULL), ""), "before the start");

	/* A thread shares the maps; a forked process copies them and the name. */
	comm(m, 100, 100, "prog", false);
	fork_(m, 100, 100, 101, 100);
	t = pps_machine_thread(m, 100, 101);
	CHECK(t && !strcmp(t->comm, "prog"), "thread inherits comm");
	fork_(m, 200, 100, 200, 100);
	CHECK(!strcmp(at(m, 200, false, 0x400100, NULL), "/bin/prog"), "fork copies maps");
	mmap2(m, 0, 200, 0x400000, 0x1000, 0, "/bin/other");
	CHECK(!strcmp(at(m, 100, false, 0x400100, NULL), "/bin/prog"),
	      "the child's mmap leaves the parent alone");

	/* exec empties the address space: the new image's mmaps follow. */
	comm(m, 200, 200, "child", true);
	CHECK(!strcmp(at(m, 200, false, 0x7f0000000100, NULL), ""), "exec drops old maps");
	t = pps_machine_thread(m, 200, 200);
	CHECK(t && !strcmp(t->comm, "child"), "exec renames");
	mmap2(m, 0, 200, 0x500000, 0x1000, 0, "/bin/new");
	CHECK(!strcmp(at(m, 200, false, 0x500000, NULL), "/bin/new"), "new image");

	/* Unknown processes have no maps; unknown threads are created nameless. */
	CHECK(!strcmp(at(m, 999, false, 0x400100, NULL), ""), "unknown pid");
	t = pps_machine_thread(m, 999, 999);
	CHECK(t && t->comm[0] == '\0', "nameless thread");

	pps_machine_free(m);
	if (failures) {
		fprintf(stderr, "test_machine: %d failures\n", failures);
		return 1;
	}
	printf("test_machine: ok\n");
	return 0;
}
