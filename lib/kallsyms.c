/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * /proc/kallsyms (or a saved copy) as a sorted symbol table.
 *
 * The file has ~200k lines on a distribution kernel; it is read once per conversion.
 * The symbols kept are those perf keeps (symbol_type__filter(): T, W, D, B in either
 * case), so that a sample gets the name perf report gives it; the reference symbols for
 * the KASLR shift (_text, _stext) are remembered whatever their type. Several names often
 * share one address (_stext, _text and an alias; __pi___x86_indirect_thunk_rax and
 * __x86_indirect_thunk_rax). perf keeps the one listed last: symbols__fixup_end() leaves
 * the earlier ones zero-sized and choose_best_symbol() prefers a sized one. So do we.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/kallsyms.h"
#include "internal/strpool.h"
#include "internal/util.h"

/* KSYM_NAME_LEN is 512 since 6.1; longer names are cut, not rejected. */
#define MAX_NAME 512
/* A symbol's end when nothing follows it (the last one, e.g. a module's last function). */
#define LAST_SYMBOL_SIZE 4096

struct ksym {
	uint64_t addr;
	const char *name;   /* in pool */
	const char *module; /* in pool, NULL for the kernel */
	uint32_t order;	    /* line number: the last of equal addresses is kept */
};

struct pps_kallsyms {
	struct ksym *syms; /* sorted by addr, one per address */
	size_t nr;
	struct pps_strpool pool;
	uint64_t text, stext; /* addresses of _text and _stext */
	bool has_text, has_stext;
	bool restricted; /* every address was zero */
};

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* A hex number of at most 16 digits at p (strtoull's work on the 10^5 lines, without its
 * locale and sign handling); *end past it, or at p when there is none or it is longer. */
static uint64_t parse_hex(char *p, char **end)
{
	uint64_t v = 0;
	size_t n = 0;

	for (;; n++) {
		char ch = p[n];
		unsigned int d;

		if (ch >= '0' && ch <= '9')
			d = (unsigned int)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (unsigned int)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			d = (unsigned int)(ch - 'A' + 10);
		else
			break;
		v = v << 4 | d;
	}
	*end = n && n <= 16 ? p + n : p;
	return v;
}

bool pps_kallsyms_split(char *line, struct pps_ksym_line *out)
{
	char *p = line, *end, *name, *mod = NULL;
	uint64_t addr;
	char type;

	addr = parse_hex(p, &end);
	if (end == p || *end != ' ')
		return false;
	p = end + 1;
	type = *p;
	if (!type || p[1] != ' ')
		return false;
	name = p + 2;
	p = name + strcspn(name, "\t \n");
	if (*p == '\t' || *p == ' ') {
		*p++ = '\0';
		if (*p == '[') {
			mod = p + 1;
			p = mod + strcspn(mod, "]\n");
			*p = '\0';
		}
	} else {
		*p = '\0';
	}
	if (!*name)
		return false;
	*out = (struct pps_ksym_line){.addr = addr, .type = type, .name = name, .module = mod};
	return true;
}

/* Parses one line into *sym; false for a line to skip (a type perf skips, malformed). */
static bool parse_line(struct pps_kallsyms *k, char *line, struct ksym *sym, int *err)
{
	struct pps_ksym_line l;
	char *name, *mod;
	uint64_t addr;
	char type;

	*err = 0;
	if (!pps_kallsyms_split(line, &l))
		return false;
	addr = l.addr;
	type = l.type;
	name = l.name;
	mod = l.module;
	if (strlen(name) > MAX_NAME)
		name[MAX_NAME] = '\0';
	if (!mod && !strcmp(name, "_text")) {
		k->text = addr;
		k->has_text = true;
	} else if (!mod && !strcmp(name, "_stext")) {
		k->stext = addr;
		k->has_stext = true;
	}
	if (addr)
		k->restricted = false;
	if (!strchr("tTwWdDbB", type))
		return false;
	sym->addr = addr;
	/* Names are nearly all distinct: copied, not interned (hashing 10^5 of them was most
	 * of the load). Module names repeat and are interned. */
	{
		size_t len = strlen(name) + 1;
		char *copy = pps_arena_alloc(&k->pool.arena, len);

		if (copy)
			memcpy(copy, name, len);
		sym->name = copy;
	}
	sym->module = mod ? pps_strpool_str(&k->pool, mod) : NULL;
	if (!sym->name || (mod && !sym->module)) {
		*err = -ENOMEM;
		return false;
	}
	return true;
}

int pps_kallsyms_load(const char *path, struct pps_kallsyms **out)
{
	struct pps_kallsyms *k;
	size_t cap = 0, linecap = 0, lines = 0, w = 0;
	char *line = NULL;
	FILE *f;
	int err = 0;

	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->restricted = true;
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		goto out_free;
	}
	while (getline(&line, &linecap, f) > 0) {
		struct ksym sym;

		if (!parse_line(k, line, &sym, &err)) {
			if (err)
				goto out_close;
			continue;
		}
		lines++;
		if (k->nr == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			struct ksym *n = realloc(k->syms, ncap * sizeof(*n));

			if (!n) {
				err = -ENOMEM;
				goto out_close;
			}
			k->syms = n;
			cap = ncap;
		}
		sym.order = (uint32_t)k->nr;
		k->syms[k->nr++] = sym;
	}
	if (ferror(f)) {
		err = -EIO;
		goto out_close;
	}
	if (!lines) {
		err = PPS_CORRUPT;
		goto out_close;
	}
	/* The kernel lists its symbols by address nearly always (modules come last, at
	 * higher addresses): sorting is then only a pass that checks. */
	for (size_t i = 1; i < k->nr; i++) {
		if (k->syms[i].addr < k->syms[i - 1].addr) {
			qsort(k->syms, k->nr, sizeof(*k->syms), ksym_cmp);
			break;
		}
	}
	/* Keep the last listed name of each address (see the file comment). */
	for (size_t i = 0; i < k->nr; i++) {
		if (i + 1 < k->nr && k->syms[i + 1].addr == k->syms[i].addr)
			continue;
		k->syms[w++] = k->syms[i];
	}
	k->nr = w;
	*out = k;
	k = NULL;
out_close:
	fclose(f);
	free(line);
out_free:
	pps_kallsyms_free(k);
	return err;
}

void pps_kallsyms_free(struct pps_kallsyms *k)
{
	if (!k)
		return;
	free(k->syms);
	pps_strpool_release(&k->pool);
	free(k);
}

bool pps_kallsyms_restricted(const struct pps_kallsyms *k)
{
	return k->restricted;
}

int pps_kallsyms_symbol(const struct pps_kallsyms *k, const char *name, uint64_t *addr)
{
	if (!strcmp(name, "_text") && k->has_text) {
		*addr = k->text;
		return 0;
	}
	if (!strcmp(name, "_stext") && k->has_stext) {
		*addr = k->stext;
		return 0;
	}
	for (size_t i = 0; i < k->nr; i++) {
		if (!strcmp(k->syms[i].name, name) && !k->syms[i].module) {
			*addr = k->syms[i].addr;
			return 0;
		}
	}
	return -ENOENT;
}

const char *pps_kallsyms_find(const struct pps_kallsyms *k, uint64_t addr, const char **module)
{
	size_t lo = 0, hi = k->nr;
	const struct ksym *s;
	uint64_t end;

	*module = NULL;
	if (k->restricted)
		return NULL;
	/* The last symbol starting at or below addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	s = &k->syms[lo - 1];
	end = lo < k->nr ? k->syms[lo].addr : s->addr + LAST_SYMBOL_SIZE;
	if (addr >= end)
		return NULL;
	*module = s->module;
	return s->name;
}
