/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_prefetch: symbolizes addresses on a second thread while the recording is still being
 * read, so that the symbolizer's per-(binary, address) cache is warm when the converter
 * symbolizes its locations afterwards.
 *
 * The results are not handed back: the converter's own lookups, made as without a
 * prefetcher, find them in the cache. A prefetch is only a hint; one that is dropped
 * (queue full, out of memory) or fails costs nothing but the time it would have saved.
 *
 * While a prefetcher runs, the symbolizer belongs to it: anyone else calls it only
 * between pps_prefetch_lock() and pps_prefetch_unlock(). Build-ids and the kernel must
 * be told to the symbolizer before the prefetcher starts, as before any lookup.
 */
#ifndef PPS_INTERNAL_PREFETCH_H
#define PPS_INTERNAL_PREFETCH_H

#include <stdint.h>

#include "internal/symbolizer.h"

struct pps_prefetch;

/* Starts the thread. NULL with errno (ENOMEM, or pthread_create's error). */
struct pps_prefetch *pps_prefetch_new(struct pps_symbolizer *sym);

/* Queues a lookup of pc in m (m and its build-id are copied; m->filename must stay valid
 * until pps_prefetch_finish() returns). */
void pps_prefetch_push(struct pps_prefetch *p, const struct pps_sym_map *m, uint64_t pc);

/* Exclusive use of the symbolizer from another thread. */
void pps_prefetch_lock(struct pps_prefetch *p);
void pps_prefetch_unlock(struct pps_prefetch *p);

/* Waits for the queued lookups and ends the thread; the symbolizer is the caller's again. */
void pps_prefetch_finish(struct pps_prefetch *p);

/* Finishes (when not done yet) and frees. Accepts NULL. */
void pps_prefetch_free(struct pps_prefetch *p);

#endif /* PPS_INTERNAL_PREFETCH_H */
