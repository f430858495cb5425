/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_profile_top: a profile's flat/cum table by function, computed as pprof -top computes
 * it at its default (function) granularity, so `pprofstore top` agrees with pprof where
 * Go is not installed: a frame is one node per Line of its location (inlined functions
 * included), named by its function; a frame without a function is its mapping's object
 * file; flat counts the leaf, cum every node of a stack once.
 *
 * Profiles from the store have thousands of functions and up to some hundred thousand
 * samples: one pass over the samples with a hash of node keys is enough.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pprofstore/profile.h>

#include "internal/util.h"

/* The table while it is built: rows and an open-addressing index of their keys. */
struct top {
	struct pps_top_row *rows;
	size_t nr, cap;
	size_t *slots; /* row index + 1; 0: empty */
	size_t nr_slots;
	size_t *seen; /* seen[row]: the last sample (+ 1) that counted row's cum */
};

static uint64_t key_hash(const struct pps_top_row *k)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)k->object;

	for (const unsigned char *s = (const unsigned char *)(k->name ? k->name : ""); *s; s++)
		h = (h ^ *s) * 0x100000001b3ull;
	return h;
}

static bool key_eq(const struct pps_top_row *a, const struct pps_top_row *b)
{
	if (a->object != b->object || !a->name != !b->name)
		return false;
	return !a->name || !strcmp(a->name, b->name);
}

static int grow(struct top *t)
{
	size_t n = t->nr_slots ? t->nr_slots * 2 : 1024;
	size_t *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t r = 0; r < t->nr; r++) {
		size_t i = key_hash(&t->rows[r]) & (n - 1);

		while (slots[i])
			i = (i + 1) & (n - 1);
		slots[i] = r + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nr_slots = n;
	return 0;
}

/* The row of key k, added with zero values on first use. Returns its index or -ENOMEM. */
static long row_of(struct top *t, const struct pps_top_row *k)
{
	size_t i;

	if ((t->nr + 1) * 2 > t->nr_slots && grow(t))
		return -ENOMEM;
	for (i = key_hash(k) & (t->nr_slots - 1); t->slots[i]; i = (i + 1) & (t->nr_slots - 1))
		if (key_eq(&t->rows[t->slots[i] - 1], k))
			return (long)(t->slots[i] - 1);
	if (t->nr == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct pps_top_row *r = realloc(t->rows, cap * sizeof(*r));
		size_t *s = realloc(t->seen, cap * sizeof(*s));

		if (r)
			t->rows = r;
		if (s)
			t->seen = s;
		if (!r || !s)
			return -ENOMEM;
		t->cap = cap;
	}
	t->rows[t->nr] = *k;
	t->seen[t->nr] = 0;
	t->slots[i] = ++t->nr;
	return (long)(t->nr - 1);
}

static int64_t abs64(int64_t v)
{
	return v < 0 ? -v : v;
}

/* The printable name, as pprof prints it: the function, [object file base name], or
 * <unknown>. */
static const char *printable(const struct pps_top_row *r, char *buf, size_t size)
{
	const char *base;

	if (!r->object)
		return r->name ? r->name : "<unknown>";
	base = strrchr(r->name, '/');
	snprintf(buf, size, "[%s]", base ? base + 1 : r->name);
	return buf;
}

/* pprof's FlatNameOrder: |flat| descending, then the name, then |cum| descending. */
static int cmp_rows(const void *a, const void *b)
{
	const struct pps_top_row *x = a, *y = b;
	char bx[4096], by[4096];
	int c;

	if (abs64(x->flat) != abs64(y->flat))
		return abs64(x->flat) > abs64(y->flat) ? -1 : 1;
	c = strcmp(printable(x, bx, sizeof(bx)), printable(y, by, sizeof(by)));
	if (c)
		return c;
	if (abs64(x->cum) != abs64(y->cum))
		return abs64(x->cum) > abs64(y->cum) ? -1 : 1;
	return 0;
}

PPS_API const char *pps_top_row_name(const struct pps_top_row *r, char *buf, size_t size)
{
	return printable(r, buf, size);
}

PPS_API int pps_profile_top(const struct pps_profile *p, size_t index, struct pps_top_row **rows,
			    size_t *nr, int64_t *total)
{
	struct top t = {0};
	int64_t sum = 0;
	int err = 0;

	if (index >= pps_profile_nr_sample_types(p))
		return -EINVAL;
	for (size_t i = 0; i < pps_profile_nr_samples(p) && !err; i++) {
		const uint64_t *locs;
		const int64_t *values;
		size_t nl;
		bool leaf = true;

		err = pps_profile_get_sample(p, i, &locs, &nl, &values);
		if (err)
			break;
		sum += abs64(values[index]);
		for (size_t k = 0; k < nl && !err; k++) {
			struct pps_mapping_info mi = {.file = ""};
			const struct pps_line *lines;
			uint64_t map, addr;
			size_t nr_lines;

			err = pps_profile_get_location(p, locs[k], &map, &addr, &lines, &nr_lines);
			if (!err && map)
				err = pps_profile_get_mapping(p, map, &mi);
			/* A location without lines is one node, as pprof makes an empty Line. */
			for (size_t j = 0; !err && j < (nr_lines ? nr_lines : 1); j++) {
				struct pps_top_row key = {0};
				const char *name = "", *sys, *file;
				int64_t start;
				long r;

				if (nr_lines)
					err = pps_profile_get_function(p, lines[j].function_id,
								       &name, &sys, &file, &start);
				if (err)
					break;
				if (*name)
					key.name = name;
				else if (*mi.file)
					key = (struct pps_top_row){.name = mi.file, .object = true};
				r = row_of(&t, &key);
				if (r < 0) {
					err = (int)r;
					break;
				}
				if (leaf)
					t.rows[r].flat += values[index];
				leaf = false;
				if (t.seen[r] != i + 1) {
					t.seen[r] = i + 1;
					t.rows[r].cum += values[index];
				}
			}
		}
	}
	free(t.slots);
	free(t.seen);
	if (err) {
		free(t.rows);
		return err;
	}
	qsort(t.rows, t.nr, sizeof(*t.rows), cmp_rows);
	*rows = t.rows;
	*nr = t.nr;
	*total = sum;
	return 0;
}
