/* SPDX-License-Identifier: BSD-2-Clause */
/* perf2pprof --info: what a perf.data holds, as text for people or JSON for scripts. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

static const char *const sample_bits[] = {
	"IP",	       "TID",	   "TIME",	 "ADDR",	  "READ",
	"CALLCHAIN",   "ID",	   "CPU",	 "PERIOD",	  "STREAM_ID",
	"RAW",	       "BRANCH_STACK", "REGS_USER", "STACK_USER", "WEIGHT",
	"DATA_SRC",    "IDENTIFIER", "TRANSACTION", "REGS_INTR",  "PHYS_ADDR",
	"AUX",	       "CGROUP",   "DATA_PAGE_SIZE", "CODE_PAGE_SIZE", "WEIGHT_STRUCT",
};

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* Strings from the file are bytes: UTF-8 passes through; a byte that is not part of a
 * well-formed sequence becomes the code point of the same value (as Latin-1 reads it),
 * so that the output is valid JSON and loses no byte. */
static void json_string(FILE *out, const char *s)
{
	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_len(p);

		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f || !n)
			fprintf(out, "\\u%04x", *p);
		else
			fwrite(p, 1, n, out);
		p += n ? n : 1;
	}
	fputc('"', out);
}

static void json_time(FILE *out, uint64_t t)
{
	if (t == PPS_NO_TIME)
		fputs("null", out);
	else
		fprintf(out, "%" PRIu64, t);
}

static void print_json(const struct pps_reader *r, FILE *out)
{
	const struct pps_reader_stats *st = pps_reader_stats(r);
	uint64_t total = 0, samples = 0, lost_rec = 0, ls_rec = 0, thr = 0, unthr = 0;
	bool first = true;

	fputs("{\"file\":", out);
	json_string(out, pps_reader_path(r));
	fprintf(out, ",\"mode\":\"%s\"", pps_reader_is_pipe(r) ? "pipe" : "file");
	if (pps_reader_nr_data_files(r))
		fprintf(out, ",\"data_files\":%zu", pps_reader_nr_data_files(r));
	fputs(",\"perf_version\":", out);
	json_string(out, pps_reader_perf_version(r));
	fputs(",\"host\":", out);
	json_string(out, pps_reader_hostname(r));
	fputs(",\"os_release\":", out);
	json_string(out, pps_reader_os_release(r));
	fputs(",\"arch\":", out);
	json_string(out, pps_reader_arch(r));
	fputs(",\"cmdline\":", out);
	json_string(out, pps_reader_cmdline(r));
	fputs(",\"cpu_desc\":", out);
	json_string(out, pps_reader_cpu_desc(r));
	if (pps_reader_has_feature(r, PPS_FEAT_NRCPUS))
		fprintf(out, ",\"nr_cpus_online\":%u,\"nr_cpus_avail\":%u",
			pps_reader_nr_cpus_online(r), pps_reader_nr_cpus_avail(r));
	else
		fputs(",\"nr_cpus_online\":null,\"nr_cpus_avail\":null", out);
	if (pps_reader_has_feature(r, PPS_FEAT_TOTAL_MEM))
		fprintf(out, ",\"total_mem_kb\":%" PRIu64, pps_reader_total_mem_kb(r));
	else
		fputs(",\"total_mem_kb\":null", out);

	fputs(",\"features\":[", out);
	for (int f = 0; f < PPS_FEAT_MAX; f++) {
		if (!pps_reader_has_feature(r, f))
			continue;
		fprintf(out, "%s", first ? "" : ",");
		if (pps_feature_name(f))
			json_string(out, pps_feature_name(f));
		else
			fprintf(out, "\"FEATURE_%d\"", f);
		first = false;
	}
	fputs("]", out);

	fputs(",\"events\":[", out);
	for (size_t i = 0; i < pps_reader_nr_evsels(r); i++) {
		const struct pps_evsel *e = pps_reader_evsel(r, i);
		const struct perf_event_attr *a = pps_evsel_attr(e);
		const struct pps_evsel_stats *es = pps_evsel_stats(e);

		fprintf(out, "%s{\"name\":", i ? "," : "");
		json_string(out, pps_evsel_name(e));
		fprintf(out,
			",\"attr\":{\"type\":%u,\"config\":%" PRIu64 ",\"sample_type\":%" PRIu64
			",\"read_format\":%" PRIu64 ",\"%s\":%" PRIu64
			",\"freq\":%s,\"sample_id_all\":%s,\"precise_ip\":%u"
			",\"exclude_kernel\":%s,\"exclude_user\":%s}",
			a->type, (uint64_t)a->config, (uint64_t)a->sample_type,
			(uint64_t)a->read_format, a->freq ? "sample_freq" : "sample_period",
			(uint64_t)a->sample_period, a->freq ? "true" : "false",
			a->sample_id_all ? "true" : "false", (unsigned int)a->precise_ip,
			a->exclude_kernel ? "true" : "false", a->exclude_user ? "true" : "false");
		fprintf(out,
			",\"ids\":%zu,\"samples\":%" PRIu64 ",\"period\":%" PRIu64
			",\"lost_records\":%" PRIu64 ",\"lost\":%" PRIu64
			",\"lost_samples_records\":%" PRIu64 ",\"lost_samples\":%" PRIu64
			",\"throttled\":%" PRIu64 ",\"unthrottled\":%" PRIu64 ",\"first_time_ns\":",
			pps_evsel_nr_ids(e), es->nr_samples, es->period, es->nr_lost_records,
			es->lost, es->nr_lost_samples_records, es->lost_samples, es->nr_throttle,
			es->nr_unthrottle);
		json_time(out, es->first_time);
		fputs(",\"last_time_ns\":", out);
		json_time(out, es->last_time);
		fputs("}", out);
	}
	fputs("]", out);

	fputs(",\"records\":{", out);
	first = true;
	for (uint32_t t = 0; t < PPS_NR_RECORD_TYPES; t++) {
		if (!st->nr_records[t])
			continue;
		fprintf(out, "%s\"%s\":%" PRIu64, first ? "" : ",", pps_record_type_name(t),
			st->nr_records[t]);
		total += st->nr_records[t];
		first = false;
	}
	fputs("}", out);
	samples = st->nr_records[PERF_RECORD_SAMPLE];
	lost_rec = st->nr_records[PERF_RECORD_LOST];
	ls_rec = st->nr_records[PERF_RECORD_LOST_SAMPLES];
	thr = st->nr_records[PERF_RECORD_THROTTLE];
	unthr = st->nr_records[PERF_RECORD_UNTHROTTLE];
	fprintf(out,
		",\"total_records\":%" PRIu64 ",\"samples\":%" PRIu64 ",\"lost_records\":%" PRIu64
		",\"lost\":%" PRIu64 ",\"lost_samples_records\":%" PRIu64
		",\"lost_samples\":%" PRIu64 ",\"throttled\":%" PRIu64 ",\"unthrottled\":%" PRIu64
		",\"first_time_ns\":",
		total, samples, lost_rec, st->lost, ls_rec, st->lost_samples, thr, unthr);
	json_time(out, st->first_time);
	fputs(",\"last_time_ns\":", out);
	json_time(out, st->last_time);
	fprintf(out,
		",\"unknown_records\":%" PRIu64 ",\"bad_records\":%" PRIu64
		",\"unknown_id_samples\":%" PRIu64 ",\"truncated\":%s,\"truncated_bytes\":%" PRIu64
		",\"build_ids\":%zu,\"bytes_read\":%" PRIu64 "}\n",
		st->nr_unknown_type, st->nr_bad_records, st->nr_unknown_id,
		st->truncated ? "true" : "false", st->truncated_bytes, pps_reader_nr_build_ids(r),
		st->bytes_read);
}

static void print_sample_type(FILE *out, uint64_t st)
{
	bool first = true;

	for (size_t b = 0; b < sizeof(sample_bits) / sizeof(sample_bits[0]); b++) {
		if (!(st & (1ULL << b)))
			continue;
		fprintf(out, "%s%s", first ? "" : "|", sample_bits[b]);
		first = false;
	}
	if (st >> (sizeof(sample_bits) / sizeof(sample_bits[0])))
		fprintf(out, "%s0x%" PRIx64, first ? "" : "|",
			st & ~(((uint64_t)1 << (sizeof(sample_bits) / sizeof(sample_bits[0]))) - 1));
}

static const char *or_dash(const char *s)
{
	return s ? s : "-";
}

static void print_text(const struct pps_reader *r, FILE *out)
{
	const struct pps_reader_stats *st = pps_reader_stats(r);
	uint64_t total = 0;

	if (pps_reader_nr_data_files(r))
		fprintf(out, "file:          %s (directory: data and %zu data.N files)\n",
			pps_reader_path(r), pps_reader_nr_data_files(r));
	else
		fprintf(out, "file:          %s (%s mode)\n", pps_reader_path(r),
			pps_reader_is_pipe(r) ? "pipe" : "file");
	fprintf(out, "perf version:  %s\n", or_dash(pps_reader_perf_version(r)));
	fprintf(out, "host:          %s\n", or_dash(pps_reader_hostname(r)));
	fprintf(out, "os release:    %s\n", or_dash(pps_reader_os_release(r)));
	fprintf(out, "arch:          %s\n", or_dash(pps_reader_arch(r)));
	if (pps_reader_has_feature(r, PPS_FEAT_NRCPUS))
		fprintf(out, "cpus:          %u online, %u available\n", pps_reader_nr_cpus_online(r),
			pps_reader_nr_cpus_avail(r));
	if (pps_reader_cpu_desc(r))
		fprintf(out, "cpu:           %s\n", pps_reader_cpu_desc(r));
	if (pps_reader_has_feature(r, PPS_FEAT_TOTAL_MEM))
		fprintf(out, "memory:        %" PRIu64 " KiB\n", pps_reader_total_mem_kb(r));
	fprintf(out, "command line:  %s\n", or_dash(pps_reader_cmdline(r)));
	if (st->first_time != PPS_NO_TIME)
		fprintf(out, "samples from:  %" PRIu64 ".%09" PRIu64 " to %" PRIu64 ".%09" PRIu64
			     " (%.3f s)\n",
			st->first_time / 1000000000, st->first_time % 1000000000,
			st->last_time / 1000000000, st->last_time % 1000000000,
			(double)(st->last_time - st->first_time) / 1e9);
	fputs("features:     ", out);
	for (int f = 0; f < PPS_FEAT_MAX; f++)
		if (pps_reader_has_feature(r, f))
			fprintf(out, " %s", pps_feature_name(f) ? pps_feature_name(f) : "?");
	fputs("\nevents:\n", out);
	for (size_t i = 0; i < pps_reader_nr_evsels(r); i++) {
		const struct pps_evsel *e = pps_reader_evsel(r, i);
		const struct perf_event_attr *a = pps_evsel_attr(e);
		const struct pps_evsel_stats *es = pps_evsel_stats(e);

		fprintf(out, "  %-24s type %u config %#" PRIx64 " %s %" PRIu64 " ids %zu\n",
			pps_evsel_name(e), a->type, (uint64_t)a->config,
			a->freq ? "freq" : "period", (uint64_t)a->sample_period, pps_evsel_nr_ids(e));
		fputs("    sample_type ", out);
		print_sample_type(out, a->sample_type);
		fprintf(out,
			"\n    samples %" PRIu64 ", period %" PRIu64 ", lost %" PRIu64
			" (in %" PRIu64 " records), lost samples %" PRIu64 ", throttled %" PRIu64
			"\n",
			es->nr_samples, es->period, es->lost, es->nr_lost_records, es->lost_samples,
			es->nr_throttle);
	}
	for (uint32_t t = 0; t < PPS_NR_RECORD_TYPES; t++)
		total += st->nr_records[t];
	fprintf(out, "records:       %" PRIu64 "\n", total);
	for (uint32_t t = 0; t < PPS_NR_RECORD_TYPES; t++)
		if (st->nr_records[t])
			fprintf(out, "  %-18s %" PRIu64 "\n", pps_record_type_name(t),
				st->nr_records[t]);
	fprintf(out, "lost:          %" PRIu64 " events, %" PRIu64 " samples\n", st->lost,
		st->lost_samples);
	if (st->nr_unknown_type || st->nr_bad_records || st->nr_unknown_id || st->truncated)
		fprintf(out,
			"damage:        %" PRIu64 " unknown records, %" PRIu64 " bad records, %" PRIu64
			" samples of unknown events%s\n",
			st->nr_unknown_type, st->nr_bad_records, st->nr_unknown_id,
			st->truncated ? ", truncated" : "");
}

int cmd_info(const char *path, bool json, FILE *out)
{
	struct pps_reader *r = pps_reader_open(path, NULL);
	const struct pps_reader_stats *st;
	struct pps_event ev;
	int ret;

	if (!r)
		return EXIT_ERROR;
	while ((ret = pps_reader_next(r, &ev)) > 0)
		;
	if (json)
		print_json(r, out);
	else
		print_text(r, out);
	st = pps_reader_stats(r);
	if (ret < 0)
		ret = EXIT_ERROR;
	else if (st->truncated || st->nr_bad_records)
		ret = EXIT_PARTIAL;
	else
		ret = EXIT_OK;
	pps_reader_free(r);
	return ret;
}
