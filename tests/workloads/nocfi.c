/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Part of the pps_wl_dwarf workload built without unwinding tables (no .eh_frame entry,
 * no .debug_frame): a frame that DWARF unwinding cannot get past. Its callers must not be
 * guessed (libdwfl would fall back to the frame pointer, garbage in code built without).
 */
#include <stdint.h>

uint64_t nocfi_spin(uint64_t units);

static volatile uint64_t nocfi_sink;

__attribute__((noipa)) uint64_t nocfi_spin(uint64_t units)
{
	uint64_t x = 5;
	for (uint64_t i = 0; i < units * 100000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	nocfi_sink = x;
	return x;
}
