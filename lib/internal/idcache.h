/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_idcache: byte keys -> row ids, the store's memory of the rows it has looked up or
 * inserted, so that a window or file whose strings, functions, locations and stacks are
 * already stored costs no SQL for them. The store decides when the ids stop being valid
 * (another connection's commit, a rollback, a gc) and clears it then.
 */
#ifndef PPS_INTERNAL_IDCACHE_H
#define PPS_INTERNAL_IDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pps_idcache;

/* NULL on ENOMEM. */
struct pps_idcache *pps_idcache_new(void);
void pps_idcache_free(struct pps_idcache *c);
/* Forgets every key, keeping the memory. */
void pps_idcache_clear(struct pps_idcache *c);
/* True with *id set when key[0..len) is known. */
bool pps_idcache_get(const struct pps_idcache *c, const void *key, size_t len, int64_t *id);
/* Remembers key -> id (key not known yet). When the keys held reach their bound, they are
 * forgotten first: memory stays bounded however many distinct keys come. 0 or -ENOMEM. */
int pps_idcache_put(struct pps_idcache *c, const void *key, size_t len, int64_t id);

#endif /* PPS_INTERNAL_IDCACHE_H */
