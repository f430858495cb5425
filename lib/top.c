/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_profile_top: a profile's flat/cum table by function, computed as pprof -top computes
 * it at its default (function) granularity (internal/graph, internal/report), so that
 * `pprofstore top` prints what pprof prints where Go is not installed:
 * - a frame is one node per Line of its location (inlined functions included), named by
 *   its function; a frame without one by its mapping's object file, else "<unknown>";
 *   nodes whose flat and cum are both 0 are not in the graph;
 * - flat counts the leaf node, cum every node of a stack once;
 * - nodes whose |cum| is below nodefraction of the flat total are dropped, then all but
 *   the first nodecount in pprof's order; the graph of the rest is rebuilt, each node's
 *   edge coming from the nearest kept node above it;
 * - an edge is inline when every pass over it goes from an outer Line of a location to an
 *   inner one, and edges lighter than edgefraction of the total are trimmed; a node with
 *   only inline edges in is "(inline)", with both "(partial-inline)".
 *
 * Profiles from the store have thousands of functions and up to some hundred thousand
 * samples: two passes over the samples, with hashes of nodes and of edges.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pprofstore/profile.h>

#include "internal/util.h"

/* One node of a sample's stack, leaf first. */
struct top_node {
	size_t row; /* the node's row */
	bool inl;   /* its parent is the next outer Line of the same location */
};

/* An edge between kept rows: weight and whether every pass over it was inline. */
struct top_edge {
	size_t from, to; /* rows + 1; from 0: empty slot */
	int64_t weight;
	bool inl;
	size_t seen; /* the last sample (+ 1) that counted it */
};

/* The table while it is built: rows and an open-addressing index of their keys. */
struct top {
	struct pps_top_row *rows;
	size_t nr, cap;
	size_t *slots; /* row index + 1; 0: empty */
	size_t nr_slots;
	size_t *seen;		/* seen[row]: the last sample (+ 1) that counted row's cum */
	bool *kept;		/* kept[row], pass 2 */
	struct top_node *stack; /* the current sample's nodes */
	size_t nr_stack, stack_cap;
	struct top_edge *edges; /* open addressing on (from, to) */
	size_t nr_edges, edges_cap;
};

static int64_t abs64(int64_t v)
{
	return v < 0 ? -v : v;
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

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

static int grow_rows(struct top *t)
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

	if ((t->nr + 1) * 2 > t->nr_slots && grow_rows(t))
		return -ENOMEM;
	for (i = key_hash(k) & (t->nr_slots - 1); t->slots[i]; i = (i + 1) & (t->nr_slots - 1))
		if (key_eq(&t->rows[t->slots[i] - 1], k))
			return (long)(t->slots[i] - 1);
	if (t->nr == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct pps_top_row *r = realloc(t->rows, cap * sizeof(*r));
		size_t *s;

		if (!r)
			return -ENOMEM;
		t->rows = r;
		s = realloc(t->seen, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		t->seen = s;
		t->cap = cap;
	}
	t->rows[t->nr] = *k;
	t->seen[t->nr] = 0;
	t->slots[i] = ++t->nr;
	return (long)(t->nr - 1);
}

static int stack_push(struct top *t, long row, bool inl)
{
	if (t->nr_stack == t->stack_cap) {
		size_t cap = t->stack_cap ? t->stack_cap * 2 : 64;
		struct top_node *n = realloc(t->stack, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		t->stack = n;
		t->stack_cap = cap;
	}
	t->stack[t->nr_stack++] = (struct top_node){.row = (size_t)row, .inl = inl};
	return 0;
}

/* Sample i's nodes into t->stack, leaf first. */
static int sample_nodes(struct top *t, const struct pps_profile *p, const uint64_t *locs, size_t nl)
{
	int err = 0;

	t->nr_stack = 0;
	for (size_t k = 0; k < nl && !err; k++) {
		struct pps_mapping_info mi = {.file = ""};
		const struct pps_line *lines;
		uint64_t map, addr;
		size_t nr_lines;

		err = pps_profile_get_location(p, locs[k], &map, &addr, &lines, &nr_lines);
		if (!err && map)
			err = pps_profile_get_mapping(p, map, &mi);
		/* A location without lines is one node, as pprof makes it an empty Line. */
		for (size_t j = 0; !err && j < (nr_lines ? nr_lines : 1); j++) {
			struct pps_top_row key = {0};
			const char *name = "", *sys, *file;
			int64_t start;
			long r;

			if (nr_lines)
				err = pps_profile_get_function(p, lines[j].function_id, &name, &sys,
							       &file, &start);
			if (err)
				break;
			if (*name)
				key.name = name;
			else if (*mi.file)
				key = (struct pps_top_row){.name = mi.file, .object = true};
			r = row_of(t, &key);
			err = r < 0 ? (int)r : stack_push(t, r, j + 1 < nr_lines);
		}
	}
	return err;
}

/* The edge (from, to) between rows, created on first use; NULL on ENOMEM. */
static struct top_edge *edge_of(struct top *t, size_t from, size_t to, bool inl)
{
	struct top_edge *e;
	size_t i;

	if ((t->nr_edges + 1) * 2 > t->edges_cap) {
		size_t n = t->edges_cap ? t->edges_cap * 2 : 1024;
		struct top_edge *ne = calloc(n, sizeof(*ne));

		if (!ne)
			return NULL;
		for (size_t k = 0; k < t->edges_cap; k++) {
			if (!t->edges[k].from)
				continue;
			i = mix(t->edges[k].from * 0x9e3779b97f4a7c15ull ^ t->edges[k].to) &
			    (n - 1);
			while (ne[i].from)
				i = (i + 1) & (n - 1);
			ne[i] = t->edges[k];
		}
		free(t->edges);
		t->edges = ne;
		t->edges_cap = n;
	}
	for (i = mix((from + 1) * 0x9e3779b97f4a7c15ull ^ (to + 1)) & (t->edges_cap - 1);
	     t->edges[i].from; i = (i + 1) & (t->edges_cap - 1)) {
		e = &t->edges[i];
		if (e->from == from + 1 && e->to == to + 1)
			return e;
	}
	e = &t->edges[i];
	*e = (struct top_edge){.from = from + 1, .to = to + 1, .inl = inl};
	t->nr_edges++;
	return e;
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

/* cmp_rows() of the rows two indices name (qsort_r). */
static int cmp_order(const void *a, const void *b, void *rows)
{
	const struct pps_top_row *r = rows;

	return cmp_rows(&r[*(const size_t *)a], &r[*(const size_t *)b]);
}

PPS_API const char *pps_top_row_name(const struct pps_top_row *r, char *buf, size_t size)
{
	return printable(r, buf, size);
}

/* Pass 1: every node's flat and cum; *flat_sum: their flats, pprof's graph total. */
static int top_nodes(struct top *t, const struct pps_profile *p, size_t index, int64_t *total,
		     int64_t *flat_sum)
{
	int err = 0;

	*total = *flat_sum = 0;
	for (size_t i = 0; i < pps_profile_nr_samples(p) && !err; i++) {
		const uint64_t *locs;
		const int64_t *values;
		size_t nl;

		err = pps_profile_get_sample(p, i, &locs, &nl, &values);
		err = err ?: sample_nodes(t, p, locs, nl);
		if (err)
			break;
		*total += abs64(values[index]);
		if (!t->nr_stack)
			continue;
		t->rows[t->stack[0].row].flat += values[index];
		*flat_sum += values[index];
		for (size_t k = 0; k < t->nr_stack; k++) {
			size_t r = t->stack[k].row;

			if (t->seen[r] != i + 1) {
				t->seen[r] = i + 1;
				t->rows[r].cum += values[index];
			}
		}
	}
	return err;
}

/* Pass 2: the edges between kept rows, each from the nearest kept node above. */
static int top_edges(struct top *t, const struct pps_profile *p, size_t index)
{
	int err = 0;

	for (size_t i = 0; i < pps_profile_nr_samples(p) && !err; i++) {
		const uint64_t *locs;
		const int64_t *values;
		size_t nl, parent = SIZE_MAX;

		err = pps_profile_get_sample(p, i, &locs, &nl, &values);
		err = err ?: sample_nodes(t, p, locs, nl);
		for (size_t k = t->nr_stack; k-- > 0 && !err;) {
			const struct top_node *n = &t->stack[k];
			struct top_edge *e;

			if (!t->kept[n->row])
				continue;
			if (parent != SIZE_MAX && parent != n->row) {
				e = edge_of(t, parent, n->row, n->inl);
				if (!e) {
					err = -ENOMEM;
					break;
				}
				if (e->seen != i + 1) {
					e->seen = i + 1;
					e->weight += values[index];
					e->inl &= n->inl;
				}
			}
			parent = n->row;
		}
	}
	return err;
}

PPS_API int pps_profile_top(const struct pps_profile *p, size_t index, double nodefraction,
			    double edgefraction, size_t nodecount, struct pps_top *out)
{
	struct top t = {0};
	int64_t flat_sum, node_cut, edge_cut;
	size_t kept = 0, *order = NULL;
	int err;

	memset(out, 0, sizeof(*out));
	if (index >= pps_profile_nr_sample_types(p))
		return -EINVAL;
	err = top_nodes(&t, p, index, &out->total, &flat_sum);
	if (err)
		goto out;
	node_cut = abs64((int64_t)((double)flat_sum * nodefraction));
	edge_cut = abs64((int64_t)((double)flat_sum * edgefraction));
	/* Keep by cum, then the first nodecount, in pprof's order. */
	order = malloc((t.nr ? t.nr : 1) * sizeof(*order));
	t.kept = calloc(t.nr ? t.nr : 1, sizeof(*t.kept));
	if (!order || !t.kept) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t r = 0; r < t.nr; r++)
		order[r] = r;
	qsort_r(order, t.nr, sizeof(*order), cmp_order, t.rows);
	for (size_t r = 0; r < t.nr; r++) {
		/* Nodes of no value are not in pprof's graph at all. */
		if (!t.rows[order[r]].cum && !t.rows[order[r]].flat)
			continue;
		if (abs64(t.rows[order[r]].cum) < node_cut)
			out->nr_dropped++;
		else if (nodecount && kept == nodecount)
			out->nr_beyond++;
		else
			order[kept++] = order[r];
	}
	for (size_t k = 0; k < kept; k++)
		t.kept[order[k]] = true;
	err = top_edges(&t, p, index);
	if (err)
		goto out;
	for (size_t i = 0; i < t.edges_cap; i++) {
		const struct top_edge *e = &t.edges[i];

		if (!e->from || abs64(e->weight) < edge_cut)
			continue;
		t.rows[e->to - 1].inlined |= e->inl;
		t.rows[e->to - 1].called |= !e->inl;
	}
	out->rows = malloc((kept ? kept : 1) * sizeof(*out->rows));
	if (!out->rows) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < kept; k++)
		out->rows[k] = t.rows[order[k]];
	out->nr = kept;
out:
	free(order);
	free(t.edges);
	free(t.stack);
	free(t.kept);
	free(t.slots);
	free(t.seen);
	free(t.rows);
	return err;
}

PPS_API void pps_top_release(struct pps_top *top)
{
	if (!top)
		return;
	free(top->rows);
	memset(top, 0, sizeof(*top));
}
