/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Arena and string interning for the symbolizer. A conversion resolves thousands to a
 * few hundred thousand distinct addresses but far fewer distinct names and files, so
 * strings are interned and frames are bump-allocated: one malloc per 64 KiB chunk.
 */
#include <stdalign.h>
#include <errno.h>
#include <stdlib.h>

#include "internal/strpool.h"
#include "internal/util.h"

#define CHUNK_SIZE ((size_t)64 << 10)
#define ALIGN	   alignof(max_align_t)

struct pps_arena_chunk {
	struct pps_arena_chunk *next;
	alignas(max_align_t) unsigned char data[];
};

void pps_arena_release(struct pps_arena *a)
{
	struct pps_arena_chunk *c = a->head;

	while (c) {
		struct pps_arena_chunk *next = c->next;

		free(c);
		c = next;
	}
	a->head = NULL;
	a->used = a->cap = 0;
}

void *pps_arena_alloc(struct pps_arena *a, size_t size)
{
	struct pps_arena_chunk *c;
	size_t need = (size + ALIGN - 1) & ~(ALIGN - 1);
	size_t cap;

	if (need < size) {
		errno = ENOMEM;
		return NULL;
	}
	if (a->head && a->cap - a->used >= need) {
		void *p = a->head->data + a->used;

		a->used += need;
		return p;
	}
	/* A big request gets a chunk of its own, behind the current one, so the rest of
	 * the current chunk stays usable. */
	cap = need > CHUNK_SIZE / 4 ? need : CHUNK_SIZE;
	if (cap > SIZE_MAX - sizeof(*c)) {
		errno = ENOMEM;
		return NULL;
	}
	c = malloc(sizeof(*c) + cap);
	if (!c)
		return NULL;
	if (cap != CHUNK_SIZE && a->head) {
		c->next = a->head->next;
		a->head->next = c;
		return c->data;
	}
	c->next = a->head;
	a->head = c;
	a->cap = cap;
	a->used = need;
	return c->data;
}

void pps_strpool_release(struct pps_strpool *p)
{
	pps_arena_release(&p->arena);
	free(p->slots);
	p->slots = NULL;
	p->cap = p->used = 0;
}

static int strpool_grow(struct pps_strpool *p)
{
	size_t cap = p->cap ? p->cap * 2 : 256;
	const char **slots = pps_calloc_table(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < p->cap; i++) {
		const char *s = p->slots[i];
		size_t j;

		if (!s)
			continue;
		j = pps_hash_bytes(s, strlen(s), PPS_HASH_INIT) & (cap - 1);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = s;
	}
	free(p->slots);
	p->slots = slots;
	p->cap = cap;
	return 0;
}

const char *pps_strpool_intern(struct pps_strpool *p, const char *s, size_t len)
{
	char *copy;
	size_t i;

	if ((p->used + 1) * 2 > p->cap && strpool_grow(p)) {
		errno = ENOMEM;
		return NULL;
	}
	i = pps_hash_bytes(s, len, PPS_HASH_INIT) & (p->cap - 1);
	for (; p->slots[i]; i = (i + 1) & (p->cap - 1)) {
		if (!strncmp(p->slots[i], s, len) && p->slots[i][len] == '\0')
			return p->slots[i];
	}
	copy = pps_arena_alloc(&p->arena, len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, len);
	copy[len] = '\0';
	p->slots[i] = copy;
	p->used++;
	return copy;
}
