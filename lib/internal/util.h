/* SPDX-License-Identifier: BSD-2-Clause */
/* Helpers shared by lib/: export macro, logging, corrupt-input reporting, bounded reads. */
#ifndef PPS_INTERNAL_UTIL_H
#define PPS_INTERNAL_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <pprofstore/log.h>

#define PPS_API __attribute__((visibility("default")))

#define PPS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PPS_ALIGN8(x)	  (((x) + 7) & ~(uint64_t)7)
/* A macro's value as a string literal. */
#define PPS_STR_(x) #x
#define PPS_STR(x)  PPS_STR_(x)

#if defined(__GNUC__)
#define PPS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PPS_PRINTF(a, b)
#endif

void pps_log(enum pps_log_level level, const char *fmt, ...) PPS_PRINTF(2, 3);
#define pps_err(...)   pps_log(PPS_LOG_ERROR, __VA_ARGS__)
#define pps_warn(...)  pps_log(PPS_LOG_WARN, __VA_ARGS__)
#define pps_info(...)  pps_log(PPS_LOG_INFO, __VA_ARGS__)
#define pps_debug(...) pps_log(PPS_LOG_DEBUG, __VA_ARGS__)

/*
 * Every "this input is corrupt" verdict goes through here, so one breakpoint on
 * pps_corrupt_bkpt() stops at each of them; the line says which check fired
 * (after SQLite's SQLITE_CORRUPT_BKPT).
 */
int pps_corrupt_bkpt(int line);
#define PPS_CORRUPT pps_corrupt_bkpt(__LINE__)

/*
 * calloc for a hash table that is about to be filled at random: a large one has its pages
 * made writable in one call (MADV_POPULATE_WRITE, best effort). Left to fault one by one,
 * each page is first mapped to the shared zero page by a lookup that misses, then
 * copied on the first insert, and that second fault flushes the TLB of every CPU another
 * thread of the process runs on (the symbol prefetch thread): an IPI per page.
 */
/* Its 2 MiB-aligned part is also asked to have transparent huge pages (MADV_HUGEPAGE,
 * best effort): a table read at random over 4 KiB pages takes a TLB miss on nearly every
 * access (on the bench file, about 5% of the conversion's time). */
void *pps_calloc_table(size_t n, size_t size);

/* Lowercase hex of n bytes into out (2 * n + 1 bytes, NUL-terminated); returns out. */
char *pps_hex(const uint8_t *bytes, size_t n, char *out);

/* Like strdup but bounded and never NULL-on-empty semantics surprises: NULL on ENOMEM. */
char *pps_strndup(const char *s, size_t n);

/*
 * A bounded cursor over untrusted bytes. Every get checks the remaining length first and
 * fails (returns false) without moving when the bytes are not there.
 */
struct pps_cursor {
	const uint8_t *p;
	const uint8_t *end;
};

static inline void pps_cursor_init(struct pps_cursor *c, const void *p, size_t n)
{
	c->p = p;
	c->end = (const uint8_t *)p + n;
}

static inline size_t pps_cursor_left(const struct pps_cursor *c)
{
	return (size_t)(c->end - c->p);
}

static inline bool pps_cursor_bytes(struct pps_cursor *c, void *out, size_t n)
{
	if (pps_cursor_left(c) < n)
		return false;
	if (out)
		memcpy(out, c->p, n);
	c->p += n;
	return true;
}

static inline bool pps_cursor_u64(struct pps_cursor *c, uint64_t *v)
{
	return pps_cursor_bytes(c, v, sizeof(*v));
}

static inline bool pps_cursor_u32(struct pps_cursor *c, uint32_t *v)
{
	return pps_cursor_bytes(c, v, sizeof(*v));
}

/* Points *ptr at n items of size sz inside the cursor and skips them; checks overflow. */
static inline bool pps_cursor_array(struct pps_cursor *c, uint64_t n, size_t sz, const void **ptr)
{
	if (sz && n > pps_cursor_left(c) / sz)
		return false;
	*ptr = c->p;
	c->p += n * sz;
	return true;
}

/*
 * perf's header string: u32 len, then len bytes holding a NUL-terminated string (padded).
 * Returns a malloc'ed copy in *out (caller frees), false when malformed.
 */
bool pps_cursor_string(struct pps_cursor *c, char **out);

/* MurmurHash3's fmix64: every bit of h reaches the low bits a hash table indexes by. */
static inline uint64_t pps_mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* A two-lane word hash: both lanes take each word; each step is a bijection of the lane's
 * state, so inputs that differ in one word never collide, and the lanes mix differently
 * (xor and multiply; multiply, xor, rotate and multiply), so a pair that collides in one
 * is no likelier to collide in the other. Start from PPS_LANE_A and PPS_LANE_B. */
#define PPS_LANE_A 0x9e3779b97f4a7c15ULL
#define PPS_LANE_B 0x6a09e667f3bcc908ULL
static inline void pps_lanes_word(uint64_t *a, uint64_t *b, uint64_t w)
{
	uint64_t x = *b ^ w * 0x9fb21c651e98df25ULL;

	*a = (*a ^ w) * 0xff51afd7ed558ccdULL;
	*b = ((x << 27) | (x >> 37)) * 0xc4ceb9fe1a85ec53ULL;
}

#endif /* PPS_INTERNAL_UTIL_H */
