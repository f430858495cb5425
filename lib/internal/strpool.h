/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_arena and pps_strpool: memory that lives as long as its owner.
 *
 * The symbolizer hands out frames and strings that stay valid until it is freed, and
 * keeps one copy per distinct string (a function name is shared by every address in it).
 * An arena is a list of chunks with a bump pointer: nothing moves once allocated, and the
 * whole arena is freed at once. A strpool interns strings into an arena.
 */
#ifndef PPS_INTERNAL_STRPOOL_H
#define PPS_INTERNAL_STRPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct pps_arena_chunk;

struct pps_arena {
	struct pps_arena_chunk *head; /* newest chunk first; NULL when empty */
	size_t used;		      /* bytes used in head */
	size_t cap;		      /* bytes available in head */
};

/* Zero-initialized memory is an empty arena. */
void pps_arena_release(struct pps_arena *a);
/* size bytes aligned for any type, valid until pps_arena_release(); NULL on ENOMEM. */
void *pps_arena_alloc(struct pps_arena *a, size_t size);

struct pps_strpool {
	struct pps_arena arena; /* the strings */
	const char **slots;	/* open addressing, NULL empty; at most half full */
	size_t cap;		/* 0 or a power of two */
	size_t used;
};

/* Zero-initialized memory is an empty pool. */
void pps_strpool_release(struct pps_strpool *p);
/*
 * The pool's copy of s[0..len) (a NUL is added), the same pointer for equal strings.
 * NULL on ENOMEM. Valid until pps_strpool_release().
 */
const char *pps_strpool_intern(struct pps_strpool *p, const char *s, size_t len);
static inline const char *pps_strpool_str(struct pps_strpool *p, const char *s)
{
	return pps_strpool_intern(p, s, strlen(s));
}

/* FNV-1a, the hash every symbolizer table uses. */
static inline uint64_t pps_hash_bytes(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}
#define PPS_HASH_INIT 0xcbf29ce484222325ull

#endif /* PPS_INTERNAL_STRPOOL_H */
