/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Reader unit tests: synthesize perf.data streams (pipe mode, file mode, zstd-compressed)
 * with known contents, read them back and compare every field; cut them at every offset
 * and check that what is read is a prefix of the truth; check the ordered stream on real
 * recordings given on the command line.
 *
 * usage: test_reader [CORPUS_FILE...]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include <perf/event.h>
#include <pprofstore/pprofstore.h>

#include "check.h"

static void quiet_log(enum pps_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(*(int *)ctx)++;
}

/* A growable byte buffer for building streams. */
struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *src, size_t n)
{
	if (!n)
		return;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void put64(struct buf *b, uint64_t v)
{
	put(b, &v, 8);
}

static void put32x2(struct buf *b, uint32_t lo, uint32_t hi)
{
	uint32_t w[2] = {lo, hi};

	put(b, w, 8);
}

static void put_header(struct buf *b, uint32_t type, uint16_t misc, uint16_t size)
{
	struct perf_event_header h = {.type = type, .misc = misc, .size = size};

	put(b, &h, sizeof(h));
}

/* Every sample_type bit; a new kernel bit must fail here until the decoder knows it. */
#define ALL_SAMPLE_TYPE ((uint64_t)PERF_SAMPLE_MAX - 1)

static struct perf_event_attr test_attr(void)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_CPU_CLOCK;
	a.sample_period = 4000;
	a.freq = 1;
	a.sample_type = ALL_SAMPLE_TYPE & ~(uint64_t)PERF_SAMPLE_WEIGHT;
	a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_ID | PERF_FORMAT_LOST;
	a.branch_sample_type = PERF_SAMPLE_BRANCH_ANY | PERF_SAMPLE_BRANCH_HW_INDEX;
	a.sample_regs_user = 0x7; /* 3 registers */
	a.sample_regs_intr = 0x3; /* 2 registers */
	a.sample_stack_user = 16;
	a.sample_id_all = 1;
	a.exclude_guest = 1;
	return a;
}

/* One sample with every field; i varies the values. Field order is the kernel's. */
static void put_sample(struct buf *b, uint64_t i, uint64_t id)
{
	struct buf s = {0};
	struct perf_branch_entry br[2];
	uint8_t raw[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	uint8_t stack[16];
	uint32_t raw_size = sizeof(raw);

	memset(br, 0, sizeof(br));
	br[0].from = 0x1000 + i;
	br[0].to = 0x2000 + i;
	br[1].from = 0x3000 + i;
	br[1].to = 0x4000 + i;
	memset(stack, (int)i, sizeof(stack));

	put64(&s, id);			 /* IDENTIFIER */
	put64(&s, 0x400000 + i);	 /* IP */
	put32x2(&s, 100, 101);		 /* TID: pid, tid */
	put64(&s, 1000000 + i * 1000);	 /* TIME */
	put64(&s, 0xdead0000 + i);	 /* ADDR */
	put64(&s, id);			 /* ID */
	put64(&s, 77);			 /* STREAM_ID */
	put32x2(&s, 3, 0);		 /* CPU */
	put64(&s, 250000);		 /* PERIOD */
	put64(&s, 42 + i * 1000);	 /* READ: value */
	put64(&s, 43);			 /*       time_enabled */
	put64(&s, id);			 /*       id */
	put64(&s, 0);			 /*       lost */
	put64(&s, 3);			 /* CALLCHAIN nr */
	put64(&s, PERF_CONTEXT_USER);
	put64(&s, 0x400000 + i);
	put64(&s, 0x400100);
	put(&s, &raw_size, 4);		 /* RAW: u32 size + data, 16 bytes in all */
	put(&s, raw, sizeof(raw));
	put64(&s, 2);			 /* BRANCH_STACK nr */
	put64(&s, 7);			 /*   hw_idx */
	put(&s, br, sizeof(br));
	put64(&s, PERF_SAMPLE_REGS_ABI_64); /* REGS_USER */
	put64(&s, 11);
	put64(&s, 12);
	put64(&s, 13);
	put64(&s, sizeof(stack));	 /* STACK_USER size, data, dyn_size */
	put(&s, stack, sizeof(stack));
	put64(&s, 8);
	put64(&s, ((uint64_t)5 << 48) | ((uint64_t)6 << 32) | 1234); /* WEIGHT_STRUCT */
	put64(&s, 0x51);		 /* DATA_SRC */
	put64(&s, 0x61);		 /* TRANSACTION */
	put64(&s, PERF_SAMPLE_REGS_ABI_64); /* REGS_INTR */
	put64(&s, 21);
	put64(&s, 22);
	put64(&s, 0x7000);		 /* PHYS_ADDR */
	put64(&s, 99);			 /* CGROUP */
	put64(&s, 4096);		 /* DATA_PAGE_SIZE */
	put64(&s, 8192);		 /* CODE_PAGE_SIZE */
	put64(&s, 8);			 /* AUX size + data */
	put64(&s, 0xa5a5a5a5a5a5a5a5ULL);

	put_header(b, PERF_RECORD_SAMPLE, PERF_RECORD_MISC_USER, (uint16_t)(8 + s.len));
	put(b, s.p, s.len);
	free(s.p);
}

static void check_sample(const struct pps_event *ev, uint64_t i, uint64_t id)
{
	const struct pps_sample *s = &ev->sample;

	CHECK(ev->type == PERF_RECORD_SAMPLE, "type %u", ev->type);
	CHECK(s->id == id, "id %" PRIu64, s->id);
	CHECK(s->ip == 0x400000 + i, "ip %#" PRIx64, s->ip);
	CHECK(s->pid == 100 && s->tid == 101, "pid %u tid %u", s->pid, s->tid);
	CHECK(s->time == 1000000 + i * 1000, "time %" PRIu64, s->time);
	CHECK(s->addr == 0xdead0000 + i, "addr");
	CHECK(s->stream_id == 77, "stream_id");
	CHECK(s->cpu == 3, "cpu %u", s->cpu);
	CHECK(s->period == 250000, "period");
	CHECK(s->read_nr_words == 4 && s->read_words[0] == 42 + i * 1000 &&
		  s->read_words[1] == 43 && s->read_words[2] == id,
	      "read %u", s->read_nr_words);
	/* Split as perf does: the counter's growth since its previous sample is the period. */
	CHECK(s->read_split && s->nr_read_values == 1 && s->read_values[0].evsel == ev->evsel &&
		  s->read_values[0].period == (i ? 1000 : 42),
	      "split read: %u values, period %" PRIu64, s->nr_read_values,
	      s->nr_read_values ? s->read_values[0].period : 0);
	CHECK(s->callchain_nr == 3 && s->callchain[0] == PERF_CONTEXT_USER &&
		      s->callchain[1] == 0x400000 + i && s->callchain[2] == 0x400100,
	      "callchain");
	CHECK(s->raw_size == 12 && ((const uint8_t *)s->raw_data)[11] == 12, "raw");
	CHECK(s->branch_nr == 2 && s->branch_has_hw_idx && s->branch_hw_idx == 7 &&
		      s->branch[1].from == 0x3000 + i && s->branch[1].to == 0x4000 + i,
	      "branch");
	CHECK(s->user_regs_abi == PERF_SAMPLE_REGS_ABI_64 && s->user_regs_nr == 3 &&
		      s->user_regs[2] == 13,
	      "user regs");
	CHECK(s->user_stack_size == 16 && s->user_stack_dyn_size == 8 &&
		      ((const uint8_t *)s->user_stack)[15] == (uint8_t)i,
	      "user stack");
	CHECK(s->weight_var1 == 1234 && s->weight_var2 == 6 && s->weight_var3 == 5, "weight");
	CHECK(s->data_src == 0x51 && s->transaction == 0x61, "data_src/transaction");
	CHECK(s->intr_regs_nr == 2 && s->intr_regs[1] == 22, "intr regs");
	CHECK(s->phys_addr == 0x7000 && s->cgroup == 99, "phys/cgroup");
	CHECK(s->data_page_size == 4096 && s->code_page_size == 8192, "page sizes");
	CHECK(s->aux_size == 8, "aux");
}

/* A COMM record with a sample_id_all trailer (TID TIME ID STREAM_ID CPU IDENTIFIER). */
static void put_comm(struct buf *b, uint64_t id, uint64_t time)
{
	char comm[16] = "worker";

	put_header(b, PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC, 8 + 8 + 16 + 48);
	put32x2(b, 100, 101);
	put(b, comm, sizeof(comm));
	put32x2(b, 100, 101);
	put64(b, time);
	put64(b, id);
	put64(b, 77);
	put32x2(b, 3, 0);
	put64(b, id);
}

#define NR_SAMPLES 50
#define TEST_ID	   1234

/* The records after the header/attrs, shared by pipe and file mode. */
static void put_records(struct buf *b)
{
	put_comm(b, TEST_ID, 999000);
	for (uint64_t i = 0; i < NR_SAMPLES; i++) {
		put_sample(b, i, TEST_ID);
		if (i % 10 == 9)
			put_header(b, PERF_RECORD_FINISHED_ROUND, 0, 8);
	}
}

static void build_pipe(struct buf *b)
{
	struct perf_event_attr a = test_attr();

	put(b, "PERFILE2", 8);
	put64(b, 16);
	put_header(b, PERF_RECORD_HEADER_ATTR, 0, (uint16_t)(8 + sizeof(a) + 8));
	put(b, &a, sizeof(a));
	put64(b, TEST_ID);
	put_records(b);
}

/* File mode: header, ids, attrs, data, feature table, HOSTNAME feature. */
static void build_file(struct buf *b)
{
	struct perf_event_attr a = test_attr();
	struct buf data = {0};
	uint64_t attr_size = sizeof(a) + 16, ids_off = 104, attrs_off = ids_off + 8;
	uint64_t data_off = attrs_off + attr_size, feat_table, host_off;
	const char host[8] = "testbox";
	uint32_t host_len = sizeof(host);

	put_records(&data);
	feat_table = data_off + data.len;
	host_off = feat_table + 16;
	put(b, "PERFILE2", 8);
	put64(b, 104);
	put64(b, attr_size);
	put64(b, attrs_off); /* attrs */
	put64(b, attr_size);
	put64(b, data_off); /* data */
	put64(b, data.len);
	put64(b, 0); /* event_types */
	put64(b, 0);
	put64(b, 1ULL << PPS_FEAT_HOSTNAME);
	put64(b, 0);
	put64(b, 0);
	put64(b, 0);
	put64(b, TEST_ID); /* ids at 104 */
	put(b, &a, sizeof(a));
	put64(b, ids_off);
	put64(b, 8);
	put(b, data.p, data.len);
	put64(b, host_off);
	put64(b, 4 + sizeof(host));
	put(b, &host_len, 4);
	put(b, host, sizeof(host));
	free(data.p);
}

/* Pipe mode with the records zstd-compressed into COMPRESSED records of at most chunk
 * compressed bytes each, so records straddle COMPRESSED boundaries. */
static void build_compressed(struct buf *b, size_t chunk)
{
	struct perf_event_attr a = test_attr();
	struct buf raw = {0};
	size_t bound, n;
	uint8_t *z;

	put(b, "PERFILE2", 8);
	put64(b, 16);
	put_header(b, PERF_RECORD_HEADER_ATTR, 0, (uint16_t)(8 + sizeof(a) + 8));
	put(b, &a, sizeof(a));
	put64(b, TEST_ID);
	put_records(&raw);
	bound = ZSTD_compressBound(raw.len);
	z = malloc(bound);
	n = ZSTD_compress(z, bound, raw.p, raw.len, 3);
	if (ZSTD_isError(n))
		abort();
	for (size_t off = 0; off < n; off += chunk) {
		size_t len = n - off < chunk ? n - off : chunk;
		/* Like perf: header.size is the exact compressed size, so the records after
		 * a COMPRESSED record may sit unaligned in the file. */
		put_header(b, PERF_RECORD_COMPRESSED, 0, (uint16_t)(8 + len));
		put(b, z + off, len);
	}
	free(z);
	free(raw.p);
}

static char *write_tmp(const struct buf *b, const char *tag)
{
	char *path;
	int fd;

	if (asprintf(&path, "/tmp/pps-test-%s-XXXXXX", tag) < 0)
		abort();
	fd = mkstemp(path);
	if (fd < 0 || write(fd, b->p, b->len) != (ssize_t)b->len)
		abort();
	close(fd);
	return path;
}

struct readout {
	uint64_t samples, comms, records;
	bool ok_fields;
};

static int read_all(const char *path, unsigned int flags, struct readout *out, bool check)
{
	PPS_READER_OPTS(opts, .flags = flags);
	struct pps_reader *r = pps_reader_open(path, &opts);
	struct pps_event ev;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!r)
		return -1;
	while ((ret = pps_reader_next(r, &ev)) > 0) {
		out->records++;
		if (ev.type == PERF_RECORD_SAMPLE) {
			if (check)
				check_sample(&ev, out->samples, TEST_ID);
			CHECK(ev.evsel == pps_reader_evsel(r, 0), "sample evsel");
			out->samples++;
		} else if (ev.type == PERF_RECORD_COMM) {
			const struct perf_record_comm *c = ev.raw;

			if (check) {
				CHECK(strcmp(c->comm, "worker") == 0, "comm %s", c->comm);
				CHECK(ev.sample.time == 999000 && ev.sample.cpu == 3 &&
					      ev.sample.tid == 101 && ev.sample.id == TEST_ID,
				      "comm trailer time %" PRIu64 " cpu %u", ev.sample.time,
				      ev.sample.cpu);
			}
			out->comms++;
		}
	}
	if (check) {
		CHECK(pps_reader_nr_evsels(r) == 1, "nr_evsels %zu", pps_reader_nr_evsels(r));
		CHECK(strcmp(pps_evsel_name(pps_reader_evsel(r, 0)), "cpu-clock") == 0, "name %s",
		      pps_evsel_name(pps_reader_evsel(r, 0)));
		CHECK(pps_evsel_stats(pps_reader_evsel(r, 0))->nr_samples == NR_SAMPLES,
		      "stats samples");
		/* The sum of the counter's growth: its last value. */
		CHECK(pps_evsel_stats(pps_reader_evsel(r, 0))->period ==
			  42 + (NR_SAMPLES - 1) * 1000,
		      "stats period %" PRIu64, pps_evsel_stats(pps_reader_evsel(r, 0))->period);
	}
	pps_reader_free(r);
	return ret;
}

static void test_roundtrip(const char *tag, const struct buf *b, bool file_mode)
{
	char *path = write_tmp(b, tag);
	struct readout o;
	int ret = read_all(path, 0, &o, true);

	CHECK(ret == 0, "%s: read ret %d", tag, ret);
	CHECK(o.samples == NR_SAMPLES && o.comms == 1, "%s: samples %" PRIu64 " comms %" PRIu64,
	      tag, o.samples, o.comms);
	ret = read_all(path, PPS_READER_ORDERED, &o, true);
	CHECK(ret == 0 && o.samples == NR_SAMPLES && o.comms == 1,
	      "%s ordered: samples %" PRIu64, tag, o.samples);
	if (file_mode) {
		struct pps_reader *r = pps_reader_open(path, NULL);

		CHECK(r && pps_reader_hostname(r) && strcmp(pps_reader_hostname(r), "testbox") == 0,
		      "%s: hostname", tag);
		pps_reader_free(r);
	}
	unlink(path);
	free(path);
}

/* Counts the reports of a record whose fields overrun it. */
static void overrun_log(enum pps_log_level level, const char *msg, void *ctx)
{
	(void)level;
	*(int *)ctx += strstr(msg, "SAMPLE record: sample fields overrun the record") != NULL;
}

/*
 * A sample whose time reads but whose callchain overruns the record (its nr is made
 * huge), among good ones: reported and left out, counted as bad and not as a sample, the
 * same in stream order, ordered (where it is decoded on delivery) and on a thread.
 */
static void test_bad_sample(void)
{
	const unsigned int modes[] = {0, PPS_READER_ORDERED,
				      PPS_READER_ORDERED | PPS_READER_THREAD};
	struct perf_event_attr a = test_attr();
	struct buf b = {0}, bad = {0};
	char *path;

	put(&b, "PERFILE2", 8);
	put64(&b, 16);
	put_header(&b, PERF_RECORD_HEADER_ATTR, 0, (uint16_t)(8 + sizeof(a) + 8));
	put(&b, &a, sizeof(a));
	put64(&b, TEST_ID);
	put_sample(&bad, 7, TEST_ID);
	/* header, 9 words (IDENTIFIER .. PERIOD), 4 words of READ: the callchain's nr */
	memcpy(bad.p + 8 + 9 * 8 + 4 * 8, &(uint64_t){1000}, 8);
	for (uint64_t i = 0; i < 10; i++) {
		if (i == 7)
			put(&b, bad.p, bad.len);
		else
			put_sample(&b, i, TEST_ID);
		if (i % 4 == 3)
			put_header(&b, PERF_RECORD_FINISHED_ROUND, 0, 8);
	}
	path = write_tmp(&b, "badsample");
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		PPS_READER_OPTS(opts, .flags = modes[m]);
		struct pps_reader *r = pps_reader_open(path, &opts);
		const struct pps_reader_stats *st;
		uint64_t samples = 0, ips = 0;
		struct pps_event ev;
		int logged = 0, ret;

		pps_set_log(overrun_log, &logged);
		CHECK(r, "bad sample: open");
		if (!r)
			continue;
		while ((ret = pps_reader_next(r, &ev)) > 0)
			if (ev.type == PERF_RECORD_SAMPLE) {
				samples++;
				ips += ev.sample.ip - 0x400000;
			}
		st = pps_reader_stats(r);
		CHECK(ret == 0 && samples == 9 && ips == 45 - 7,
		      "bad sample, mode %#x: ret %d, %" PRIu64 " samples, ip sum %" PRIu64,
		      modes[m], ret, samples, ips);
		CHECK(st->nr_bad_records == 1 && st->nr_records[PERF_RECORD_SAMPLE] == 9 &&
			  pps_evsel_stats(pps_reader_evsel(r, 0))->nr_samples == 9 && logged == 1,
		      "bad sample, mode %#x: %" PRIu64 " bad, %" PRIu64 " samples counted, %" PRIu64
		      " in the event, %d reports",
		      modes[m], st->nr_bad_records, st->nr_records[PERF_RECORD_SAMPLE],
		      pps_evsel_stats(pps_reader_evsel(r, 0))->nr_samples, logged);
		CHECK(st->first_time == 1000000 && st->last_time == 1000000 + 9 * 1000,
		      "bad sample, mode %#x: times %" PRIu64 "..%" PRIu64, modes[m], st->first_time,
		      st->last_time);
		pps_set_log(NULL, NULL);
		pps_reader_free(r);
	}
	unlink(path);
	free(path);
	free(b.p);
	free(bad.p);
}

/* Cut the stream at every offset: never more samples than the truth, no crash. */
static void test_truncation(const char *tag, const struct buf *b)
{
	struct buf cut = {0};
	int logged = 0;

	pps_set_log(quiet_log, &logged);
	for (size_t len = 0; len < b->len; len += (len < 256 ? 1 : 7)) {
		struct readout o;
		char *path;

		cut.len = 0;
		put(&cut, b->p, len);
		path = write_tmp(&cut, tag);
		(void)read_all(path, PPS_READER_ORDERED, &o, false);
		CHECK(o.samples <= NR_SAMPLES, "%s cut at %zu: %" PRIu64 " samples", tag, len,
		      o.samples);
		unlink(path);
		free(path);
	}
	pps_set_log(NULL, NULL);
	CHECK(logged > 0, "%s: truncations were not reported", tag);
	free(cut.p);
}

/* Real recordings: ordered delivery is a permutation of stream order with times sorted. */
static void test_ordered_file(const char *path)
{
	PPS_READER_OPTS(ordered, .flags = PPS_READER_ORDERED);
	struct pps_reader *a = pps_reader_open(path, NULL), *b = pps_reader_open(path, &ordered);
	uint64_t na = 0, nb = 0, last = 0, backwards = 0, rounds = 0;
	struct pps_event ev;

	if (!a || !b) {
		CHECK(a && b, "%s: open", path);
		goto out;
	}
	while (pps_reader_next(a, &ev) > 0)
		if (ev.type == PERF_RECORD_FINISHED_ROUND)
			rounds++;
		else
			na++;
	while (pps_reader_next(b, &ev) > 0) {
		nb++;
		if (ev.type >= PERF_RECORD_USER_TYPE_START || ev.sample.time == PPS_NO_TIME)
			continue;
		if (ev.sample.time < last)
			backwards++;
		else
			last = ev.sample.time;
	}
	CHECK(na == nb, "%s: %" PRIu64 " records in stream order, %" PRIu64 " ordered", path, na,
	      nb);
	CHECK(backwards == pps_reader_stats(b)->nr_unordered,
	      "%s: %" PRIu64 " records out of order, reader counted %" PRIu64, path, backwards,
	      pps_reader_stats(b)->nr_unordered);
	printf("ordered %s: %" PRIu64 " records, %" PRIu64 " rounds, %" PRIu64 " unordered\n", path,
	       nb, rounds, backwards);
out:
	pps_reader_free(a);
	pps_reader_free(b);
}

/* ---- fed readers (live capture's input) ---- */

/* What one read of a stream delivers: a digest of every record, and the stats. */
struct digest {
	uint64_t hash, records, samples;
	struct pps_reader_stats stats;
	int ret;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static void digest_event(struct digest *d, const struct pps_event *ev)
{
	uint64_t idx = ev->evsel ? pps_evsel_idx(ev->evsel) : UINT64_MAX;

	d->records++;
	d->samples += ev->type == PERF_RECORD_SAMPLE;
	d->hash = fnv(d->hash, &ev->type, sizeof(ev->type));
	d->hash = fnv(d->hash, &ev->offset, sizeof(ev->offset));
	d->hash = fnv(d->hash, ev->raw, ev->size);
	d->hash = fnv(d->hash, &ev->sample.time, sizeof(ev->sample.time));
	d->hash = fnv(d->hash, &idx, sizeof(idx));
	/* What the decoded pointers point at (a thread's copy must move them along). */
	if (ev->sample.callchain)
		d->hash = fnv(d->hash, ev->sample.callchain,
			      ev->sample.callchain_nr * sizeof(*ev->sample.callchain));
	if (ev->sample.raw_data)
		d->hash = fnv(d->hash, ev->sample.raw_data, ev->sample.raw_size);
	if (ev->sample.user_stack)
		d->hash = fnv(d->hash, ev->sample.user_stack, ev->sample.user_stack_size);
	/* Split reads: the reader's own array, which a thread must copy too. */
	d->hash = fnv(d->hash, &ev->sample.read_split, sizeof(ev->sample.read_split));
	for (uint32_t i = 0; i < ev->sample.nr_read_values; i++) {
		uint64_t v[2] = {pps_evsel_idx(ev->sample.read_values[i].evsel),
				 ev->sample.read_values[i].period};

		d->hash = fnv(d->hash, v, sizeof(v));
	}
}

/* ref: read with pps_reader_next_ref(), not pps_reader_next(). */
static void read_digest(const char *path, unsigned int flags, bool ref, struct digest *d)
{
	PPS_READER_OPTS(opts, .flags = flags);
	struct pps_reader *r = pps_reader_open(path, &opts);
	const struct pps_event *e;
	struct pps_event ev;

	memset(d, 0, sizeof(*d));
	d->hash = 0xcbf29ce484222325ull;
	d->ret = -1;
	if (!r)
		return;
	if (ref)
		while ((d->ret = pps_reader_next_ref(r, &e)) > 0)
			digest_event(d, e);
	else
		while ((d->ret = pps_reader_next(r, &ev)) > 0)
			digest_event(d, &ev);
	d->stats = *pps_reader_stats(r);
	pps_reader_free(r);
}

/* Feeds the bytes in chunks of pseudo-random sizes from 1 to max_chunk, reading after each
 * feed until -EAGAIN. Ordered mode releases through the stream's rounds and the end. */
static void fed_digest(const uint8_t *p, size_t n, unsigned int flags, size_t max_chunk,
		       unsigned int seed, struct digest *d)
{
	PPS_READER_OPTS(opts, .flags = flags);
	struct pps_reader *r = pps_reader_new_fed("fed", &opts);
	struct pps_event ev;
	size_t off = 0;

	memset(d, 0, sizeof(*d));
	d->hash = 0xcbf29ce484222325ull;
	d->ret = -1;
	if (!r)
		return;
	while (off < n) {
		size_t chunk;

		seed = seed * 1103515245u + 12345u;
		chunk = 1 + (seed >> 8) % max_chunk;
		if (chunk > n - off)
			chunk = n - off;
		if (pps_reader_feed(r, p + off, chunk)) {
			d->ret = -2;
			goto out;
		}
		off += chunk;
		while ((d->ret = pps_reader_next(r, &ev)) > 0)
			digest_event(d, &ev);
		if (d->ret != -EAGAIN)
			break; /* a fatal error, or the end: both also end the file reader */
	}
	pps_reader_feed_end(r);
	CHECK(pps_reader_feed(r, p, 1) == -EPIPE, "feed after the end");
	while ((d->ret = pps_reader_next(r, &ev)) > 0)
		digest_event(d, &ev);
out:
	d->stats = *pps_reader_stats(r);
	pps_reader_free(r);
}

static bool same_digest(const struct digest *a, const struct digest *b)
{
	const struct pps_reader_stats *x = &a->stats, *y = &b->stats;

	/* bytes_read differs: the fed reader counts what was fed, the file reader what it
	 * read ahead. Everything else must be the same. */
	return a->hash == b->hash && a->records == b->records && a->ret == b->ret &&
	       !memcmp(x->nr_records, y->nr_records, sizeof(x->nr_records)) &&
	       x->nr_bad_records == y->nr_bad_records && x->nr_unknown_id == y->nr_unknown_id &&
	       x->nr_unordered == y->nr_unordered && x->lost == y->lost &&
	       x->first_time == y->first_time && x->last_time == y->last_time &&
	       x->truncated == y->truncated && x->truncated_bytes == y->truncated_bytes;
}

/* A pipe-mode stream read through a fed reader, in chunks of many sizes, delivers exactly
 * what the file reader delivers, in both modes. */
static void test_fed_file(const char *path)
{
	struct digest want, got;
	uint8_t *bytes = NULL;
	size_t n = 0;
	FILE *f = fopen(path, "rb");
	char magic[16];
	int logged = 0;

	if (!f) {
		CHECK(f, "%s: open", path);
		return;
	}
	if (fread(magic, 1, 16, f) != 16 || memcmp(magic, "PERFILE2", 8) ||
	    ((uint64_t *)(void *)magic)[1] != 16) {
		fclose(f);
		return; /* file mode: not a stream a fed reader takes */
	}
	fseek(f, 0, SEEK_END);
	n = (size_t)ftell(f);
	rewind(f);
	bytes = malloc(n ? n : 1);
	if (!bytes || fread(bytes, 1, n, f) != n) {
		CHECK(0, "%s: read", path);
		goto out;
	}
	pps_set_log(quiet_log, &logged);
	for (unsigned int ordered = 0; ordered < 2; ordered++) {
		unsigned int flags = ordered ? PPS_READER_ORDERED : 0;
		static const size_t chunks[] = {1, 7, 100, 4096, 1 << 20};

		read_digest(path, flags, false, &want);
		for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
			if (chunks[k] == 1 && n > (1u << 20))
				continue; /* byte by byte is slow on big files; 7 covers splits */
			fed_digest(bytes, n, flags, chunks[k], (unsigned int)k + 1, &got);
			CHECK(same_digest(&want, &got),
			      "%s%s fed in chunks up to %zu: %" PRIu64 " records (ret %d), file "
			      "reader %" PRIu64 " (ret %d)",
			      path, ordered ? " ordered" : "", chunks[k], got.records, got.ret,
			      want.records, want.ret);
		}
	}
	pps_set_log(NULL, NULL);
	printf("fed %s: %" PRIu64 " records, same as the file reader\n", path, want.records);
out:
	free(bytes);
	fclose(f);
}

/* Read on a second thread (PPS_READER_THREAD), a file delivers exactly what it delivers
 * without, in both modes, with the same statistics; and so does pps_reader_next_ref(),
 * with a thread and without. */
static void test_thread_file(const char *path)
{
	int logged = 0;

	pps_set_log(quiet_log, &logged);
	for (unsigned int ordered = 0; ordered < 2; ordered++) {
		unsigned int flags = ordered ? PPS_READER_ORDERED : 0;
		struct digest want, got;

		read_digest(path, flags, false, &want);
		for (unsigned int v = 1; v < 4; v++) {
			bool thread = v & 1, ref = v & 2;

			read_digest(path, flags | (thread ? PPS_READER_THREAD : 0), ref, &got);
			CHECK(same_digest(&want, &got) &&
				  want.stats.bytes_read == got.stats.bytes_read,
			      "%s%s%s%s: %" PRIu64 " records (ret %d), without %" PRIu64
			      " (ret %d)",
			      path, ordered ? " ordered" : "", thread ? " on a thread" : "",
			      ref ? " by reference" : "", got.records, got.ret, want.records,
			      want.ret);
		}
	}
	pps_set_log(NULL, NULL);
}

/* pps_reader_peek_at(n), when it has a record, has the one the n-th next call returns;
 * pps_reader_ahead() has them all. */
static void test_peek(const char *path)
{
	PPS_READER_OPTS(opts, .flags = PPS_READER_ORDERED | PPS_READER_THREAD);
	struct pps_reader *r = pps_reader_open(path, &opts);
	struct {
		uint64_t offset;
		uint32_t type;
		bool set;
	} want[4] = {0};
	const struct pps_event *e, *next;
	size_t wrong = 0, seen = 0, ahead_wrong = 0, ahead_seen = 0;
	int logged = 0;

	pps_set_log(quiet_log, &logged);
	CHECK(r, "%s: open", path);
	for (size_t i = 0; r && pps_reader_next_ref(r, &e) > 0; i++) {
		size_t n_ahead = pps_reader_ahead(r, &next);

		ahead_wrong += !n_ahead != !next || pps_reader_peek_at(r, n_ahead + 1) ||
			       (n_ahead && pps_reader_peek_at(r, n_ahead) != &next[n_ahead - 1]) ||
			       (n_ahead && pps_reader_peek_at(r, 1) != next);
		ahead_seen += n_ahead > 0;
		if (want[i % 4].set) {
			seen++;
			wrong += want[i % 4].offset != e->offset || want[i % 4].type != e->type;
		}
		want[i % 4].set = false;
		for (size_t n = 1; n <= 3; n++) {
			const struct pps_event *p = pps_reader_peek_at(r, n);
			size_t j = (i + n) % 4;

			if (!p)
				continue;
			want[j].offset = p->offset;
			want[j].type = p->type;
			want[j].set = true;
		}
		CHECK(!pps_reader_peek_at(r, 0), "%s: peek_at(0) is no record", path);
	}
	CHECK(!wrong && seen, "%s: %zu of %zu peeks were not the record that came", path, wrong,
	      seen);
	CHECK(!ahead_wrong && ahead_seen,
	      "%s: %zu of %zu ahead() runs were not peek_at()'s records", path, ahead_wrong,
	      ahead_seen);
	pps_set_log(NULL, NULL);
	pps_reader_free(r);
}

struct chain_key {
	uint64_t hash[2]; /* the reader's */
	uint64_t words;	  /* fnv of the callchain's words, with their number */
};

static int chain_key_cmp(const void *a, const void *b)
{
	const struct chain_key *x = a, *y = b;

	return memcmp(x, y, sizeof(*x));
}

/* PPS_READER_CALLCHAIN_HASH: samples with the same callchain have the same hash and
 * others another one; zero without a callchain, and without the flag. */
static void test_callchain_hash(const char *path)
{
	PPS_READER_OPTS(opts, .flags = PPS_READER_ORDERED | PPS_READER_THREAD |
					   PPS_READER_CALLCHAIN_HASH);
	PPS_READER_OPTS(plain, .flags = PPS_READER_ORDERED);
	struct pps_reader *r = pps_reader_open(path, &opts), *q = pps_reader_open(path, &plain);
	struct chain_key *keys = NULL;
	size_t n = 0, cap = 0, bad = 0, unset = 0, distinct = 0;
	const struct pps_event *e;
	int logged = 0;

	pps_set_log(quiet_log, &logged);
	if (!r || !q)
		goto out;
	while (pps_reader_next_ref(r, &e) > 0) {
		const struct pps_sample *s = &e->sample;

		if (e->type != PERF_RECORD_SAMPLE)
			continue;
		if (!s->callchain_nr) {
			bad += s->callchain_hash[0] || s->callchain_hash[1];
			continue;
		}
		if (n == cap) {
			struct chain_key *k = realloc(keys, (cap = cap ? 2 * cap : 1024) * sizeof(*k));

			if (!k)
				goto out;
			keys = k;
		}
		keys[n].hash[0] = s->callchain_hash[0];
		keys[n].hash[1] = s->callchain_hash[1];
		keys[n].words = fnv(fnv(0xcbf29ce484222325ull, &s->callchain_nr, 8), s->callchain,
				    s->callchain_nr * sizeof(*s->callchain));
		n++;
	}
	while (pps_reader_next_ref(q, &e) > 0)
		unset += e->sample.callchain_hash[0] || e->sample.callchain_hash[1];
	if (n) /* keys is NULL without a callchain */
		qsort(keys, n, sizeof(*keys), chain_key_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i && !memcmp(keys[i].hash, keys[i - 1].hash, sizeof(keys[i].hash))) {
			bad += keys[i].words != keys[i - 1].words; /* one hash, two stacks */
			continue;
		}
		distinct++;
		/* a stack under two hashes: its other key sorts elsewhere */
	}
	{
		size_t stacks = 0;

		for (size_t i = 0; i < n; i++) {
			uint64_t t = keys[i].hash[0];

			keys[i].hash[0] = keys[i].words;
			keys[i].words = t;
		}
		if (n)
			qsort(keys, n, sizeof(*keys), chain_key_cmp);
		for (size_t i = 0; i < n; i++)
			stacks += !i || keys[i].hash[0] != keys[i - 1].hash[0];
		CHECK(stacks == distinct, "%s: %zu distinct callchains, %zu distinct hashes", path,
		      stacks, distinct);
	}
	CHECK(!bad && !unset, "%s: %zu hashes wrong, %zu set without the flag", path, bad, unset);
out:
	CHECK(r && q, "%s: open", path);
	pps_set_log(NULL, NULL);
	free(keys);
	pps_reader_free(r);
	pps_reader_free(q);
}

/* Ordered fed reader without FINISHED_ROUND: records wait for pps_reader_release(). */
static void test_fed_release(const struct buf *pipe, const struct buf *file)
{
	PPS_READER_OPTS(opts, .flags = PPS_READER_ORDERED);
	struct pps_reader *r = pps_reader_new_fed("fed", &opts);
	struct buf b = {0};
	struct pps_event ev;
	uint64_t samples = 0, comms = 0, last = 0;
	int ret, logged = 0;

	/* The pipe stream without its FINISHED_ROUNDs (8-byte records of type 68). */
	for (size_t off = 0; off < pipe->len;) {
		struct perf_event_header h;
		size_t len = 16;

		if (off) {
			memcpy(&h, pipe->p + off, sizeof(h));
			len = h.size;
			if (h.type == PERF_RECORD_FINISHED_ROUND) {
				off += len;
				continue;
			}
		}
		put(&b, pipe->p + off, len);
		off += len;
	}
	CHECK(r && pps_reader_feed(r, b.p, b.len) == 0, "feed");
	while ((ret = pps_reader_next(r, &ev)) > 0)
		CHECK(ev.type >= PERF_RECORD_USER_TYPE_START, "kernel record %u before release",
		      ev.type);
	CHECK(ret == -EAGAIN, "ret %d before release", ret);
	/* Samples have times 1000000 + i * 1000 (put_sample), the COMM 999000. */
	pps_reader_release(r, 1000000 + 9 * 1000);
	while ((ret = pps_reader_next(r, &ev)) > 0) {
		CHECK(ev.sample.time <= 1009000,
		      "type %u time %" PRIu64 " after release to 1009000", ev.type, ev.sample.time);
		samples += ev.type == PERF_RECORD_SAMPLE;
		comms += ev.type == PERF_RECORD_COMM;
	}
	CHECK(ret == -EAGAIN && samples == 10 && comms == 1,
	      "ret %d, %" PRIu64 " samples, %" PRIu64 " comms released", ret, samples, comms);
	comms = 0;
	pps_reader_release(r, 5000); /* never moves back */
	CHECK(pps_reader_next(r, &ev) == -EAGAIN, "release back");
	pps_reader_release(r, UINT64_MAX - 1);
	while ((ret = pps_reader_next(r, &ev)) > 0) {
		CHECK(ev.sample.time >= last, "order");
		last = ev.sample.time;
		samples += ev.type == PERF_RECORD_SAMPLE;
		comms += ev.type == PERF_RECORD_COMM;
	}
	CHECK(ret == -EAGAIN && samples == NR_SAMPLES && comms == 0,
	      "ret %d, %" PRIu64 " samples, %" PRIu64 " comms", ret, samples, comms);
	pps_reader_feed_end(r);
	CHECK(pps_reader_next(r, &ev) == 0, "end");
	pps_reader_free(r);

	/* A release holds for records fed after it: a live recorder releases a pass's time
	 * before the reader has queued its records. */
	r = pps_reader_new_fed("fed", &opts);
	samples = comms = 0;
	CHECK(r && pps_reader_feed(r, b.p, 16 + 8 + sizeof(struct perf_event_attr) + 8) == 0,
	      "feed the head");
	while (r && (ret = pps_reader_next(r, &ev)) > 0)
		;
	if (r)
		pps_reader_release(r, 1000000 + 9 * 1000);
	CHECK(r && pps_reader_feed(r, b.p + 16 + 8 + sizeof(struct perf_event_attr) + 8,
				   b.len - (16 + 8 + sizeof(struct perf_event_attr) + 8)) == 0,
	      "feed the records");
	while (r && (ret = pps_reader_next(r, &ev)) > 0) {
		samples += ev.type == PERF_RECORD_SAMPLE;
		comms += ev.type == PERF_RECORD_COMM;
	}
	CHECK(ret == -EAGAIN && samples == 10 && comms == 1,
	      "released before feeding: ret %d, %" PRIu64 " samples, %" PRIu64 " comms", ret,
	      samples, comms);
	pps_reader_free(r);

	/* A file-mode stream is not one a fed reader takes: fatal, reported. */
	pps_set_log(quiet_log, &logged);
	r = pps_reader_new_fed("fed", NULL);
	CHECK(r && pps_reader_feed(r, file->p, file->len) == 0, "feed file");
	CHECK(r && pps_reader_next(r, &ev) == -EPROTO && logged, "file mode fed: not refused");
	CHECK(r && pps_reader_next(r, &ev) == 0, "after the refusal: the end");
	pps_reader_free(r);
	/* An empty stream that ends: fatal too, never a hang. */
	r = pps_reader_new_fed("fed", NULL);
	CHECK(r && pps_reader_next(r, &ev) == -EAGAIN, "empty: needs bytes");
	if (r)
		pps_reader_feed_end(r);
	CHECK(r && pps_reader_next(r, &ev) == -EPROTO, "empty stream ended");
	pps_reader_free(r);
	pps_set_log(NULL, NULL);
	free(b.p);
}

int main(int argc, char **argv)
{
	struct buf pipe = {0}, file = {0}, z1 = {0}, z2 = {0};

	/* Like perf's tests/sample-parsing.c: a new PERF_SAMPLE_* bit must be handled. */
	CHECK(PERF_SAMPLE_MAX == 1U << 25, "new sample_type bits: teach lib/sample.c");

	build_pipe(&pipe);
	build_file(&file);
	build_compressed(&z1, 1u << 20); /* one COMPRESSED record */
	build_compressed(&z2, 100);	 /* records straddle COMPRESSED records */
	test_roundtrip("pipe", &pipe, false);
	test_roundtrip("file", &file, true);
	test_roundtrip("zstd", &z1, false);
	test_roundtrip("zstd-split", &z2, false);
	test_truncation("pipe", &pipe);
	test_truncation("file", &file);
	test_truncation("zstd-split", &z2);
	test_fed_release(&pipe, &file);
	test_bad_sample();
	{
		char *paths[] = {write_tmp(&pipe, "fedpipe"), write_tmp(&z2, "fedzstd")};

		for (size_t i = 0; i < 2; i++) {
			test_fed_file(paths[i]);
			unlink(paths[i]);
			free(paths[i]);
		}
	}
	{
		const struct buf *bufs[] = {&pipe, &file, &z1, &z2};
		const char *tags[] = {"thrpipe", "thrfile", "thrzstd", "thrzsplit"};

		for (size_t i = 0; i < 4; i++) {
			char *path = write_tmp(bufs[i], tags[i]);

			test_thread_file(path);
			/* Cut short: the end of a truncated file comes from the thread too. */
			if (truncate(path, (off_t)(bufs[i]->len * 2 / 3)) == 0)
				test_thread_file(path);
			unlink(path);
			free(path);
		}
	}
	for (int i = 1; i < argc; i++) {
		test_ordered_file(argv[i]);
		test_fed_file(argv[i]);
		test_thread_file(argv[i]);
		test_callchain_hash(argv[i]);
		test_peek(argv[i]);
	}
	free(pipe.p);
	free(file.p);
	free(z1.p);
	free(z2.p);
	printf("test_reader: %s (%d failures)\n", failures ? "FAILED" : "ok", failures);
	return failures ? 1 : 0;
}
