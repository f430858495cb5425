/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_machine: the processes, threads and address spaces of a recording, rebuilt from
 * its side-band records (MMAP, MMAP2, COMM, FORK, EXIT) fed in timestamp order.
 *
 * - FORK of a new process copies the parent's maps; a thread shares its process's.
 * - COMM with PERF_RECORD_MISC_COMM_EXEC empties the process's maps: exec replaced them,
 *   and the MMAPs of the new image follow.
 * - An MMAP over existing maps trims or removes what it overlaps, as the kernel did.
 * - pid -1 (perf's host kernel id) holds the kernel and module maps.
 * - Every change to a process's maps gives it a new generation, unique over the whole
 *   machine, so (generation, address) identifies what an address meant at that time and
 *   callers may cache per (generation, address).
 * Threads and processes are never dropped on EXIT: samples may still arrive for them.
 */
#ifndef PPS_INTERNAL_MACHINE_H
#define PPS_INTERNAL_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pps_machine;

struct pps_map {
	uint64_t start, end; /* [start, end) */
	uint64_t pgoff;
	const char *filename; /* interned by the machine: pointer equality is name equality */
	uint8_t build_id[20];
	uint8_t build_id_size; /* 0: none in the MMAP2 record */
	bool kernel;
	/* Unique per distinct (start, end, pgoff, file) made by this machine, >= 2, kept by
	 * fork's copies: (uid, address) names what an address meant, across processes and
	 * across unrelated changes to the address space. */
	uint64_t uid;
};

struct pps_thread {
	int32_t tid;
	int32_t pid;
	char comm[16]; /* "" when never seen */
};

struct pps_machine *pps_machine_new(void);
void pps_machine_free(struct pps_machine *m);

/*
 * Applies a side-band record (a raw perf_event of type MMAP, MMAP2, COMM, FORK or EXIT,
 * validated by the reader). Other types are ignored. Returns 0 or -ENOMEM.
 */
int pps_machine_process(struct pps_machine *m, uint32_t type, uint16_t misc, const void *raw);

/* The thread, created with an empty comm (and pid) when unknown; NULL on ENOMEM. */
struct pps_thread *pps_machine_thread(struct pps_machine *m, int32_t pid, int32_t tid);
/* Thread tid when known, else NULL; creates nothing. */
const struct pps_thread *pps_machine_find_thread(const struct pps_machine *m, int32_t tid);

/*
 * The map holding addr in process pid's address space (kernel: the kernel's), or NULL.
 * *gen gets the generation of that address space (0 when the process is unknown).
 * An address above the kernel image that no module map holds falls to the kernel map,
 * as perf extends it.
 */
const struct pps_map *pps_machine_find_map(struct pps_machine *m, int32_t pid, bool kernel,
					   uint64_t addr, uint64_t *gen);

/* The kernel map's reference symbol address and name ("_text"), false when none yet. */
/*
 * The generations of pid's address space and of the kernel's: each changes whenever a
 * side-band record changes that address space (0: pid unknown). Equal generations mean
 * every address resolves as it did.
 */
void pps_machine_gens(struct pps_machine *m, int32_t pid, uint64_t *user, uint64_t *kernel);

bool pps_machine_kernel_ref(const struct pps_machine *m, uint64_t *addr, const char **sym);

#endif /* PPS_INTERNAL_MACHINE_H */
