/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_unwind: user stacks of samples recorded with DWARF call graphs (perf record
 * --call-graph dwarf: PERF_SAMPLE_REGS_USER and PERF_SAMPLE_STACK_USER), unwound with
 * elfutils' libdwfl frame API from the sampled registers and the copied stack bytes,
 * through .eh_frame and .debug_frame.
 *
 * Contract with the converter (lib/convert.c):
 * - Samples are given in time order, with the machine (machine.h) up to date: the maps a
 *   sample sees are the process's maps at its time.
 * - pps_unwind_sample() returns the sample's callchain with its user part replaced by the
 *   unwound frames, in the kernel's callchain format: the kernel part as recorded
 *   (PERF_CONTEXT_KERNEL and its frames; for a kernel sample without a callchain, the
 *   sample ip), then PERF_CONTEXT_USER and the user frames leaf first. A frame whose pc
 *   is exact rather than a return address (the sampled pc, and a pc interrupted by a
 *   signal) comes right after a PERF_CONTEXT_USER marker, so a reader of the chain looks
 *   up return addresses minus one and the others as they are. A truncated stack ends with
 *   one more PERF_CONTEXT_USER marker, which adds no frame: two samples whose frames are
 *   equal but of which one is truncated have different chains.
 * - A stack ends where the CFI says the return address is undefined (_start, a thread's
 *   start), at code without CFI at a binary's entry point (ld.so's _start), where libdwfl
 *   finds a zero return address, or at the end of the stack's mapping. It is truncated
 *   (never continued with guessed frames) where a frame has no unwinding table (no ELF
 *   file behind it, or no CFI for its pc), where a return address is in no map, where
 *   the copied stack ends before the stack does, where the stack pointer goes backwards,
 *   and past the maximum depth. libdwfl's frame-pointer fallback for frames without CFI
 *   is never used: code built without frame pointers turns it into garbage.
 *
 * Cost: each binary is opened once (found as the symbolizer finds it: build-id cache,
 * --symfs, debuginfod; the recording's build-id checked); each process gets one Dwfl whose
 * modules are reported when a frame first falls in them and kept until the process's maps
 * change under them (a bounded number of Dwfls is kept open); whether a (binary, pc) has
 * CFI is looked up once.
 *
 * Register mapping is per architecture (a table in unwind.c): x86_64 and i386 processes
 * on x86 kernels, aarch64 on arm64 kernels. Not thread-safe.
 */
#ifndef PPS_INTERNAL_UNWIND_H
#define PPS_INTERNAL_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pprofstore/reader.h>

struct pps_machine;
struct pps_unwind;

struct pps_unwind_opts {
	size_t sz;		 /* sizeof(struct pps_unwind_opts) */
	const char *arch;	 /* the recording's HEADER_ARCH ("x86_64"); NULL: this machine's */
	const char *symfs;	 /* perf's --symfs, NULL none */
	const char *buildid_dir; /* perf's build-id cache, NULL: $PERF_BUILDID_DIR or ~/.debug */
	bool debuginfod;	 /* find missing binaries and debug files with libdebuginfod */
	size_t max_frames;	 /* deepest user stack kept; 0: 1024 */
	/* Live processes here are the recording's (it is of the running kernel): one in
	 * another mount namespace has its binaries read through /proc/PID/root. */
	bool proc_roots;
};

struct pps_unwind_stats {
	uint64_t nr_samples;   /* samples unwound */
	uint64_t nr_truncated; /* ... whose user stack was cut short */
	uint64_t nr_frames;    /* user frames produced */
};

/* NULL with errno (ENOMEM). The machine must outlive the unwinder. */
struct pps_unwind *pps_unwind_new(struct pps_machine *m, const struct pps_unwind_opts *opts);
/* Accepts NULL. */
void pps_unwind_free(struct pps_unwind *u);

/* A build-id the recording holds for a user-space file (BUILD_ID header). 0 or -ENOMEM. */
int pps_unwind_add_build_id(struct pps_unwind *u, const char *filename, const uint8_t *id,
			    size_t size);

/* Whether the sample has what unwinding needs: user registers and a user stack. */
static inline bool pps_unwind_wanted(const struct pps_sample *s)
{
	return (s->type & PERF_SAMPLE_REGS_USER) && (s->type & PERF_SAMPLE_STACK_USER) &&
	       s->user_regs_abi != PERF_SAMPLE_REGS_ABI_NONE && s->user_regs_nr;
}

/*
 * The user registers a live recording on this machine asks the kernel for
 * (perf_event_attr.sample_regs_user) so that its samples can be unwound: those the
 * register maps read, for every process architecture this kernel's has a map for. 0: no
 * map for this machine's architecture.
 */
uint64_t pps_unwind_host_regs(void);

struct pps_unwind_result {
	const uint64_t *callchain; /* owned by the unwinder, valid until its next call */
	uint64_t nr;
	size_t nr_frames; /* user frames in it */
	bool truncated;
};

/*
 * Unwinds the user stack of the sample ev (pid, tid, the misc cpumode, registers and
 * stack). Returns 1 with *res filled (see the contract above), 0 when the sample is not
 * unwound (no user registers, a guest sample, an architecture without a register map:
 * its callchain stands as recorded), or -ENOMEM. Missing files and damaged stacks are
 * not errors: they truncate the stack.
 */
int pps_unwind_sample(struct pps_unwind *u, const struct pps_event *ev,
		      struct pps_unwind_result *res);

const struct pps_unwind_stats *pps_unwind_stats(const struct pps_unwind *u);

/*
 * The initial DWARF registers of a sample for a process of ELF machine e_machine on a
 * kernel of arch (HEADER_ARCH, NULL: this machine's): regs[i] for each bit i set in
 * *valid (up to 64 registers), the pc and the stack pointer. false when there is no map
 * for that pair, or the sample lacks the pc or stack pointer. Exposed for tests.
 */
bool pps_unwind_initial_regs(const char *arch, uint16_t e_machine, const struct pps_sample *s,
			     uint64_t *regs, uint64_t *valid, uint64_t *pc, uint64_t *sp);

#endif /* PPS_INTERNAL_UNWIND_H */
