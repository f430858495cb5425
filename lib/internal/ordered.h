/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Time ordering of records across CPUs, bounded by FINISHED_ROUND as in perf's
 * ordered-events.c: at the end of round N every record up to the newest timestamp seen
 * by the end of round N-1 is safe to deliver, because perf record drains every ring
 * buffer once per round.
 *
 * perf record writes each CPU's ring buffer in one piece, so the stream is a sequence of
 * runs that are already sorted. Records are appended to the current run while their times
 * do not go down, and a new run starts when they do; delivery merges the runs through a
 * small heap keyed by each run's oldest record. Pushing is a copy, popping is log(runs).
 */
#ifndef PPS_INTERNAL_ORDERED_H
#define PPS_INTERNAL_ORDERED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A queued record: this header, then the record, padded to 8 bytes. */
struct pps_queued {
	uint64_t time;
	uint64_t seq; /* arrival order: ties keep stream order */
	uint64_t offset;
	void *ctx; /* the caller's, handed back with the record */
	uint32_t type;
	uint16_t size;
	bool compressed;
	uint64_t data[]; /* the record, size bytes, 8-byte aligned */
};

/* One sorted run: records appended at len, consumed from head. */
struct pps_run {
	uint8_t *buf;
	size_t len, cap, head;
	uint64_t last_time; /* time of the newest record appended */
};

struct pps_ordered {
	struct pps_run **runs; /* min-heap on the runs' oldest records */
	size_t nr_runs, cap_runs;
	struct pps_run *tail;	 /* run receiving records; also in the heap while non-empty */
	struct pps_run *drained; /* emptied run whose memory the caller may still be reading */
	uint64_t seq;
	size_t bytes;		/* record bytes queued */
	uint64_t max_time;	/* newest timestamp queued so far */
	uint64_t next_flush;	/* what the next round may flush up to */
	uint64_t limit;		/* records at or before this are being flushed */
	bool flushing;
	uint64_t last_flushed;	/* time of the last record handed out */
	/* pps_ordered_release_to(): records at or before this may go whenever they are
	 * queued, whatever the rounds say (has_released: it was called). */
	uint64_t released;
	bool has_released;
};

void pps_ordered_init(struct pps_ordered *oq);
void pps_ordered_release(struct pps_ordered *oq);
/*
 * Copies the record in; 0 or -ENOMEM. Invalidates what pps_ordered_pop() returned, so
 * the caller must be done with it.
 */
int pps_ordered_push(struct pps_ordered *oq, uint64_t time, const void *rec, uint16_t size,
		     uint64_t offset, bool compressed, void *ctx);
/* Whether the oldest queued record may be delivered now. */
bool pps_ordered_flushable(struct pps_ordered *oq);
/* The oldest record, owned by the queue, valid until the next push or pop. Only when
 * flushable. */
const struct pps_queued *pps_ordered_pop(struct pps_ordered *oq);
/* FINISHED_ROUND seen. */
void pps_ordered_round(struct pps_ordered *oq);
/* End of input: everything may go. */
void pps_ordered_flush_all(struct pps_ordered *oq);
/* Over the memory cap: deliver the older half of the queued time span. */
void pps_ordered_flush_half(struct pps_ordered *oq);
/* The caller knows no record at or before time is still to come (live capture drained
 * every ring buffer): those queued, and those queued later, may go. It never moves back. */
void pps_ordered_release_to(struct pps_ordered *oq, uint64_t time);
/* Whether the oldest queued record is at or before the released time. Ask only once all
 * input was read: a record read later may be older than one delivered now. */
bool pps_ordered_released(const struct pps_ordered *oq);

#endif /* PPS_INTERNAL_ORDERED_H */
