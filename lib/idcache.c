/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The store's id cache (internal/idcache.h). Keys are copied into one pool, each entry as
 * [id, length, bytes] 8-byte aligned; the table is open addressing over pool offsets, at
 * most half full, with each key's hash beside its offset so that a probe compares bytes
 * only on a hash match.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal/idcache.h"
#include "internal/strpool.h"
#include "internal/util.h"

/* Pool bytes held before everything is forgotten: 64 MiB, about a million locations. */
#define POOL_MAX ((size_t)64 << 20)

struct slot {
	uint64_t hash;
	uint64_t off; /* pool offset + 1 of the entry; 0: empty */
};

struct entry {
	int64_t id;
	uint64_t len;
	uint8_t key[]; /* len bytes */
};

struct pps_idcache {
	struct slot *slots;
	size_t cap, used;
	uint8_t *pool;
	size_t pool_len, pool_cap;
};

static uint64_t key_hash(const void *key, size_t len)
{
	return pps_mix64(pps_hash_bytes(key, len, PPS_HASH_INIT));
}

static const struct entry *entry_at(const struct pps_idcache *c, uint64_t off)
{
	return (const struct entry *)(c->pool + off - 1);
}

/* key's slot: its entry's, or the empty one where it would go. */
static struct slot *find(const struct pps_idcache *c, const void *key, size_t len, uint64_t h)
{
	for (size_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
		struct slot *s = &c->slots[i];
		const struct entry *e;

		if (!s->off)
			return s;
		e = entry_at(c, s->off);
		if (s->hash == h && e->len == len && !memcmp(e->key, key, len))
			return s;
	}
}

struct pps_idcache *pps_idcache_new(void)
{
	struct pps_idcache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cap = 1024;
	c->slots = calloc(c->cap, sizeof(*c->slots));
	if (!c->slots) {
		free(c);
		return NULL;
	}
	return c;
}

void pps_idcache_free(struct pps_idcache *c)
{
	if (!c)
		return;
	free(c->slots);
	free(c->pool);
	free(c);
}

void pps_idcache_clear(struct pps_idcache *c)
{
	if (!c || !c->used)
		return;
	memset(c->slots, 0, c->cap * sizeof(*c->slots));
	c->used = 0;
	c->pool_len = 0;
}

bool pps_idcache_get(const struct pps_idcache *c, const void *key, size_t len, int64_t *id)
{
	const struct slot *s;

	if (!c || !c->used)
		return false;
	s = find(c, key, len, key_hash(key, len));
	if (!s->off)
		return false;
	*id = entry_at(c, s->off)->id;
	return true;
}

/* Doubles the table. 0 or -ENOMEM (the table is then unchanged). */
static int grow(struct pps_idcache *c)
{
	struct pps_idcache n = *c;

	n.cap = 2 * c->cap;
	n.slots = calloc(n.cap, sizeof(*n.slots));
	if (!n.slots)
		return -ENOMEM;
	for (size_t i = 0; i < c->cap; i++) {
		const struct entry *e;

		if (!c->slots[i].off)
			continue;
		e = entry_at(c, c->slots[i].off);
		*find(&n, e->key, (size_t)e->len, c->slots[i].hash) = c->slots[i];
	}
	free(c->slots);
	*c = n;
	return 0;
}

int pps_idcache_put(struct pps_idcache *c, const void *key, size_t len, int64_t id)
{
	size_t need;
	struct entry *e;
	struct slot *s;
	uint64_t h;

	if (!c || len > POOL_MAX)
		return 0; /* no cache (ENOMEM when it was made), or a key never held */
	need = (sizeof(struct entry) + len + 7) & ~(size_t)7;
	h = key_hash(key, len);
	if (c->pool_len + need > POOL_MAX)
		pps_idcache_clear(c);
	if ((c->used + 1) * 2 > c->cap && grow(c))
		return -ENOMEM;
	if (c->pool_len + need > c->pool_cap) {
		size_t ncap = c->pool_cap ? c->pool_cap : 1 << 16;
		uint8_t *np;

		while (ncap < c->pool_len + need)
			ncap *= 2;
		np = realloc(c->pool, ncap);
		if (!np)
			return -ENOMEM;
		c->pool = np;
		c->pool_cap = ncap;
	}
	s = find(c, key, len, h);
	if (s->off)
		return 0; /* known already */
	e = (struct entry *)(c->pool + c->pool_len);
	e->id = id;
	e->len = len;
	memcpy(e->key, key, len);
	s->hash = h;
	s->off = c->pool_len + 1;
	c->pool_len += need;
	c->used++;
	return 0;
}
