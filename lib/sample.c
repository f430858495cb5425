/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Decoding of PERF_RECORD_SAMPLE by the attr that produced it, and of the sample_id_all
 * trailer of other kernel records. Every length comes from the record and is checked
 * against what is left of it before use (after perf's OVERFLOW_CHECK in
 * evsel__parse_sample()).
 */
#include "internal/evsel.h"
#include "internal/util.h"

/* sample_type bits this decoder knows; a new kernel bit must be added here on purpose. */
#define KNOWN_SAMPLE_TYPE                                                                          \
	(PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_READ |   \
	 PERF_SAMPLE_CALLCHAIN | PERF_SAMPLE_ID | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD |                \
	 PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_RAW | PERF_SAMPLE_BRANCH_STACK | PERF_SAMPLE_REGS_USER |   \
	 PERF_SAMPLE_STACK_USER | PERF_SAMPLE_WEIGHT | PERF_SAMPLE_DATA_SRC |                           \
	 PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TRANSACTION | PERF_SAMPLE_REGS_INTR |                     \
	 PERF_SAMPLE_PHYS_ADDR | PERF_SAMPLE_AUX | PERF_SAMPLE_CGROUP | PERF_SAMPLE_DATA_PAGE_SIZE |    \
	 PERF_SAMPLE_CODE_PAGE_SIZE | PERF_SAMPLE_WEIGHT_STRUCT)

static void split_u32(uint64_t v, uint32_t *lo, uint32_t *hi)
{
	/* The kernel writes two u32 into one u64 slot, in memory order. */
	uint32_t w[2];

	memcpy(w, &v, sizeof(w));
	*lo = w[0];
	if (hi)
		*hi = w[1];
}

static int parse_id_trailer(const struct pps_evsel *e, const uint8_t *rec, size_t size,
			    struct pps_sample *s)
{
	uint64_t st = e->attr.sample_type, v;
	size_t words = (size - sizeof(struct perf_event_header)) / 8;
	const uint8_t *w;

	if (!e->attr.sample_id_all)
		return 0;
	if (e->id_hdr_size > words * 8)
		return PPS_CORRUPT;
	/* Walk backwards from the last u64, as the kernel appends these fields in order. */
	w = rec + sizeof(struct perf_event_header) + (words - 1) * 8;
#define POP(dst)                                                                                   \
	do {                                                                                       \
		memcpy(&(dst), w, 8);                                                              \
		w -= 8;                                                                            \
	} while (0)
	if (st & PERF_SAMPLE_IDENTIFIER)
		POP(s->id);
	if (st & PERF_SAMPLE_CPU) {
		POP(v);
		split_u32(v, &s->cpu, NULL);
	}
	if (st & PERF_SAMPLE_STREAM_ID)
		POP(s->stream_id);
	if (st & PERF_SAMPLE_ID)
		POP(s->id);
	if (st & PERF_SAMPLE_TIME)
		POP(s->time);
	if (st & PERF_SAMPLE_TID) {
		POP(v);
		split_u32(v, &s->pid, &s->tid);
	}
#undef POP
	return 0;
}

static uint32_t popcount64(uint64_t v)
{
	return (uint32_t)__builtin_popcountll(v);
}

int pps_sample_time(const struct pps_evsel *e, const void *rec, size_t size, uint64_t *time)
{
	uint64_t st = e->attr.sample_type;
	/* The fields before PERF_SAMPLE_TIME, one u64 each. */
	size_t off = sizeof(struct perf_event_header) +
		     8 * (!!(st & PERF_SAMPLE_IDENTIFIER) + !!(st & PERF_SAMPLE_IP) +
			  !!(st & PERF_SAMPLE_TID));

	*time = PPS_NO_TIME;
	if (size < sizeof(struct perf_event_header))
		return PPS_CORRUPT;
	if (!(st & PERF_SAMPLE_TIME))
		return 0;
	if (size < off + 8)
		return PPS_CORRUPT;
	memcpy(time, (const uint8_t *)rec + off, 8);
	return 0;
}

int pps_sample_parse(const struct pps_evsel *e, const void *rec, size_t size, uint32_t type,
		     struct pps_sample *s)
{
	const struct perf_event_attr *a = &e->attr;
	uint64_t st = a->sample_type, v;
	struct pps_cursor c;
	const void *ptr;

	memset(s, 0, sizeof(*s));
	s->type = st;
	s->time = PPS_NO_TIME;
	s->pid = s->tid = UINT32_MAX;
	s->cpu = UINT32_MAX;
	if (size < sizeof(struct perf_event_header))
		return PPS_CORRUPT;
	if (type != PERF_RECORD_SAMPLE)
		return parse_id_trailer(e, rec, size, s);

	pps_cursor_init(&c, (const uint8_t *)rec + sizeof(struct perf_event_header),
			size - sizeof(struct perf_event_header));
#define GET(dst)                                                                                   \
	do {                                                                                       \
		if (!pps_cursor_u64(&c, &(dst)))                                                   \
			return PPS_CORRUPT;                                                        \
	} while (0)
	if (st & PERF_SAMPLE_IDENTIFIER)
		GET(s->id);
	if (st & PERF_SAMPLE_IP)
		GET(s->ip);
	if (st & PERF_SAMPLE_TID) {
		GET(v);
		split_u32(v, &s->pid, &s->tid);
	}
	if (st & PERF_SAMPLE_TIME)
		GET(s->time);
	if (st & PERF_SAMPLE_ADDR)
		GET(s->addr);
	if (st & PERF_SAMPLE_ID)
		GET(s->id);
	if (st & PERF_SAMPLE_STREAM_ID)
		GET(s->stream_id);
	if (st & PERF_SAMPLE_CPU) {
		GET(v);
		split_u32(v, &s->cpu, NULL);
	}
	if (st & PERF_SAMPLE_PERIOD)
		GET(s->period);
	if (st & PERF_SAMPLE_READ) {
		uint64_t rf = a->read_format, nr = 1, per = 1, words;

		if (rf & PERF_FORMAT_GROUP) {
			const void *p0 = c.p;

			GET(nr);
			c.p = p0; /* keep nr as the first word of read_words */
		}
		per += !!(rf & PERF_FORMAT_ID) + !!(rf & PERF_FORMAT_LOST);
		if (nr > pps_cursor_left(&c) / 8 / per)
			return PPS_CORRUPT;
		words = nr * per + !!(rf & PERF_FORMAT_TOTAL_TIME_ENABLED) +
			!!(rf & PERF_FORMAT_TOTAL_TIME_RUNNING) + !!(rf & PERF_FORMAT_GROUP);
		if (!pps_cursor_array(&c, words, 8, &ptr))
			return PPS_CORRUPT;
		s->read_nr_words = (uint32_t)words;
		s->read_words = ptr;
	}
	if (st & PERF_SAMPLE_CALLCHAIN) {
		GET(s->callchain_nr);
		if (!pps_cursor_array(&c, s->callchain_nr, 8, &ptr))
			return PPS_CORRUPT;
		s->callchain = ptr;
	}
	if (st & PERF_SAMPLE_RAW) {
		/* u32 size + data, padded so that the pair ends on a u64 boundary. */
		if (!pps_cursor_u32(&c, &s->raw_size) ||
		    !pps_cursor_array(&c, s->raw_size, 1, &ptr))
			return PPS_CORRUPT;
		s->raw_data = ptr;
	}
	if (st & PERF_SAMPLE_BRANCH_STACK) {
		GET(s->branch_nr);
		if (a->branch_sample_type & PERF_SAMPLE_BRANCH_HW_INDEX) {
			s->branch_has_hw_idx = true;
			GET(s->branch_hw_idx);
		}
		if (!pps_cursor_array(&c, s->branch_nr, sizeof(struct perf_branch_entry), &ptr))
			return PPS_CORRUPT;
		s->branch = ptr;
	}
	if (st & PERF_SAMPLE_REGS_USER) {
		GET(s->user_regs_abi);
		if (s->user_regs_abi) {
			s->user_regs_mask = a->sample_regs_user;
			s->user_regs_nr = popcount64(a->sample_regs_user);
			if (!pps_cursor_array(&c, s->user_regs_nr, 8, &ptr))
				return PPS_CORRUPT;
			s->user_regs = ptr;
		}
	}
	if (st & PERF_SAMPLE_STACK_USER) {
		GET(s->user_stack_size);
		if (s->user_stack_size) {
			if (!pps_cursor_array(&c, s->user_stack_size, 1, &ptr))
				return PPS_CORRUPT;
			s->user_stack = ptr;
			GET(s->user_stack_dyn_size);
			if (s->user_stack_dyn_size > s->user_stack_size)
				return PPS_CORRUPT;
		}
	}
	if (st & (PERF_SAMPLE_WEIGHT | PERF_SAMPLE_WEIGHT_STRUCT)) {
		GET(s->weight);
		if (st & PERF_SAMPLE_WEIGHT_STRUCT) {
			uint32_t w32[2];
			uint16_t w16[4];

			memcpy(w32, &s->weight, sizeof(w32));
			memcpy(w16, &s->weight, sizeof(w16));
			s->weight_var1 = w32[0];
			s->weight_var2 = w16[2];
			s->weight_var3 = w16[3];
		}
	}
	if (st & PERF_SAMPLE_DATA_SRC)
		GET(s->data_src);
	if (st & PERF_SAMPLE_TRANSACTION)
		GET(s->transaction);
	if (st & PERF_SAMPLE_REGS_INTR) {
		GET(s->intr_regs_abi);
		if (s->intr_regs_abi) {
			s->intr_regs_mask = a->sample_regs_intr;
			s->intr_regs_nr = popcount64(a->sample_regs_intr);
			if (!pps_cursor_array(&c, s->intr_regs_nr, 8, &ptr))
				return PPS_CORRUPT;
			s->intr_regs = ptr;
		}
	}
	if (st & PERF_SAMPLE_PHYS_ADDR)
		GET(s->phys_addr);
	if (st & PERF_SAMPLE_CGROUP)
		GET(s->cgroup);
	if (st & PERF_SAMPLE_DATA_PAGE_SIZE)
		GET(s->data_page_size);
	if (st & PERF_SAMPLE_CODE_PAGE_SIZE)
		GET(s->code_page_size);
	if (st & PERF_SAMPLE_AUX) {
		GET(s->aux_size);
		if (!pps_cursor_array(&c, s->aux_size, 1, &ptr))
			return PPS_CORRUPT;
		s->aux_data = ptr;
	}
#undef GET
	if (st & ~(uint64_t)KNOWN_SAMPLE_TYPE)
		return PPS_CORRUPT; /* a field we cannot size: the rest is unknowable */
	return 0;
}
