/* SPDX-License-Identifier: BSD-2-Clause */
/* Events (attrs) of a recording, their ids, names and sample layout. */
#ifndef PPS_INTERNAL_EVSEL_H
#define PPS_INTERNAL_EVSEL_H

#include <pprofstore/reader.h>

struct pps_evsel {
	struct perf_event_attr attr; /* zero-extended to our struct size */
	uint32_t file_attr_size;     /* attr.size as recorded (0 means VER0, 64) */
	char *name;		     /* from EVENT_DESC/EVENT_UPDATE, else derived */
	bool name_from_file;	     /* name came from the file, not derived */
	size_t idx;		     /* position in the file's attr list */
	uint64_t *ids;
	size_t nr_ids;
	uint32_t id_hdr_size; /* bytes of the sample_id_all trailer on non-sample records */
	struct pps_evsel_stats stats;
};

/* The recording's events and an id -> event index. */
struct pps_evlist {
	struct pps_evsel **v;
	size_t nr;
	/* open-addressing hash of id -> evsel; capacity a power of two, 0 when empty */
	struct pps_id_slot {
		uint64_t id;
		struct pps_evsel *evsel;
	} *slots;
	size_t cap, used;
	/* Positions of the id in samples (from the start, in u64 words after the header) and
	 * in other records (from the end), after perf's evlist id_pos/is_pos; -1: none. */
	int id_pos, is_pos;
	bool sample_id_all; /* of the first event, as perf decides it */
};

void pps_evlist_release(struct pps_evlist *el);

/* Adds an event from an attr of attr_size bytes as found in the file. Returns the new
 * event or NULL (errno: EPROTO for a malformed attr, ENOMEM). */
struct pps_evsel *pps_evlist_add(struct pps_evlist *el, const void *attr, size_t attr_size);

/* Adds ids to an event; -ENOMEM on failure. Ids already known are moved to it. */
int pps_evsel_add_ids(struct pps_evlist *el, struct pps_evsel *e, const uint64_t *ids, size_t nr);

/* Exact lookup, NULL when unknown. */
struct pps_evsel *pps_evlist_find_id(const struct pps_evlist *el, uint64_t id);

int pps_evsel_set_name(struct pps_evsel *e, const char *name, size_t max_len);

/*
 * The event that produced a record, as perf's evlist__event2evsel() + evlist__id2evsel():
 * the only event when there is one, the first when the record carries no id (or id 0),
 * the event owning the id, else NULL.
 */
struct pps_evsel *pps_evlist_event_evsel(const struct pps_evlist *el, const void *rec,
					 size_t size, uint32_t type);

/*
 * Decodes a PERF_RECORD_SAMPLE (all sample_type fields) or the sample_id_all trailer of
 * another kernel record, with the event's attr. Returns 0, or -EPROTO when a field
 * does not fit in the record (s is then partially filled).
 */
int pps_sample_parse(const struct pps_evsel *e, const void *rec, size_t size, uint32_t type,
		     struct pps_sample *s);
/*
 * The time of a PERF_RECORD_SAMPLE of event e, PPS_NO_TIME when its sample_type has
 * none, without decoding the rest: for ordering, where the record is decoded later.
 * Returns 0, or -EPROTO when the time does not fit in the record.
 */
int pps_sample_time(const struct pps_evsel *e, const void *rec, size_t size, uint64_t *time);

#endif /* PPS_INTERNAL_EVSEL_H */
