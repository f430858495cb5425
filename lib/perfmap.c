/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * /tmp/perf-PID.map, the JIT symbol file perf reads for anonymous executable memory
 * (Documentation/jit-interface.txt in the kernel's tools/perf). Written by V8/node, the
 * JVM (perf-map-agent), LuaJIT, .NET and others; read once per process.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/perfmap.h"
#include "internal/strpool.h"

struct jsym {
	uint64_t start;
	uint64_t end; /* exclusive; start + size, saturated */
	const char *name;
	size_t order; /* line number: later lines win among equal starts */
};

struct pps_perfmap {
	struct jsym *syms; /* sorted by (start, order) */
	size_t nr;
	struct pps_strpool pool;
};

static int jsym_cmp(const void *a, const void *b)
{
	const struct jsym *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* "START SIZE name": false for a malformed line, which is skipped as perf does. */
static bool parse_line(char *line, uint64_t *start, uint64_t *size, char **name)
{
	char *p = line, *end;

	errno = 0;
	*start = strtoull(p, &end, 16);
	if (end == p || errno || *end != ' ')
		return false;
	p = end + 1;
	*size = strtoull(p, &end, 16);
	if (end == p || errno || *end != ' ')
		return false;
	*name = end + 1;
	(*name)[strcspn(*name, "\r\n")] = '\0';
	return **name != '\0';
}

int pps_perfmap_load(const char *path, struct pps_perfmap **out)
{
	struct pps_perfmap *pm;
	size_t cap = 0, linecap = 0;
	char *line = NULL;
	FILE *f;
	int err = 0;

	*out = NULL;
	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		goto out_free;
	}
	while (getline(&line, &linecap, f) > 0) {
		uint64_t start, size;
		struct jsym *s;
		char *name;

		if (!parse_line(line, &start, &size, &name) || !size)
			continue;
		if (pm->nr == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct jsym *n = realloc(pm->syms, ncap * sizeof(*n));

			if (!n) {
				err = -ENOMEM;
				goto out_close;
			}
			pm->syms = n;
			cap = ncap;
		}
		s = &pm->syms[pm->nr];
		s->start = start;
		s->end = start + size < start ? UINT64_MAX : start + size;
		s->order = pm->nr;
		s->name = pps_strpool_str(&pm->pool, name);
		if (!s->name) {
			err = -ENOMEM;
			goto out_close;
		}
		pm->nr++;
	}
	if (ferror(f)) {
		err = -EIO;
		goto out_close;
	}
	if (pm->nr)
		qsort(pm->syms, pm->nr, sizeof(*pm->syms), jsym_cmp);
	*out = pm;
	pm = NULL;
out_close:
	fclose(f);
	free(line);
out_free:
	pps_perfmap_free(pm);
	return err;
}

void pps_perfmap_free(struct pps_perfmap *pm)
{
	if (!pm)
		return;
	free(pm->syms);
	pps_strpool_release(&pm->pool);
	free(pm);
}

const char *pps_perfmap_find(const struct pps_perfmap *pm, uint64_t addr)
{
	size_t lo = 0, hi = pm->nr;
	const struct jsym *s;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->syms[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	s = &pm->syms[lo - 1];
	return addr < s->end ? s->name : NULL;
}
