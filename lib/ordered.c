/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The ordered queue: a binary min-heap of record copies. Two rounds hold a few thousand
 * records on typical recordings, so a heap's log n is cheap next to the copy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal/ordered.h"

void pps_ordered_init(struct pps_ordered *oq)
{
	memset(oq, 0, sizeof(*oq));
}

void pps_ordered_release(struct pps_ordered *oq)
{
	for (size_t i = 0; i < oq->nr; i++)
		free(oq->heap[i]);
	free(oq->heap);
	memset(oq, 0, sizeof(*oq));
}

static bool before(const struct pps_queued *a, const struct pps_queued *b)
{
	return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

int pps_ordered_push(struct pps_ordered *oq, uint64_t time, const void *rec, uint16_t size,
		     uint64_t offset, bool compressed)
{
	struct pps_queued *q;
	size_t i;

	if (oq->nr == oq->cap) {
		size_t cap = oq->cap ? oq->cap * 2 : 1024;
		struct pps_queued **h = realloc(oq->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		oq->heap = h;
		oq->cap = cap;
	}
	q = malloc(sizeof(*q) + ((size_t)size + 7) / 8 * 8);
	if (!q)
		return -ENOMEM;
	q->time = time;
	q->seq = oq->seq++;
	q->offset = offset;
	memcpy(&q->type, (const char *)rec, sizeof(q->type)); /* header.type comes first */
	q->size = size;
	q->compressed = compressed;
	memcpy(q->data, rec, size);
	oq->bytes += size;
	if (time > oq->max_time)
		oq->max_time = time;
	for (i = oq->nr++; i > 0; i = (i - 1) / 2) {
		size_t parent = (i - 1) / 2;

		if (!before(q, oq->heap[parent]))
			break;
		oq->heap[i] = oq->heap[parent];
	}
	oq->heap[i] = q;
	return 0;
}

bool pps_ordered_flushable(struct pps_ordered *oq)
{
	if (!oq->flushing)
		return false;
	if (oq->nr && oq->heap[0]->time <= oq->limit)
		return true;
	oq->flushing = false;
	return false;
}

struct pps_queued *pps_ordered_pop(struct pps_ordered *oq)
{
	struct pps_queued *top = oq->heap[0], *last = oq->heap[--oq->nr];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= oq->nr)
			break;
		if (c + 1 < oq->nr && before(oq->heap[c + 1], oq->heap[c]))
			c++;
		if (!before(oq->heap[c], last))
			break;
		oq->heap[i] = oq->heap[c];
		i = c;
	}
	if (oq->nr)
		oq->heap[i] = last;
	oq->bytes -= top->size;
	oq->last_flushed = top->time;
	return top;
}

void pps_ordered_round(struct pps_ordered *oq)
{
	oq->limit = oq->next_flush;
	oq->flushing = true;
	oq->next_flush = oq->max_time;
}

void pps_ordered_flush_all(struct pps_ordered *oq)
{
	oq->limit = UINT64_MAX;
	oq->flushing = true;
}

void pps_ordered_flush_half(struct pps_ordered *oq)
{
	if (!oq->nr)
		return;
	oq->limit = oq->heap[0]->time + (oq->max_time - oq->heap[0]->time) / 2;
	oq->flushing = true;
}
