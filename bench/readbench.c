/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps-readbench: a parse-only pass over a perf.data, for bench/reader.sh. Decodes every
 * record and every sample field, touches each callchain entry (so nothing is skipped
 * lazily), and prints the counts.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <pprofstore/pprofstore.h>

static void log_stderr(enum pps_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= PPS_LOG_WARN)
		fprintf(stderr, "pps-readbench: %s\n", msg);
}

int main(int argc, char **argv)
{
	PPS_READER_OPTS(opts, .flags = 0);
	uint64_t records = 0, samples = 0, entries = 0, sum = 0;
	struct pps_reader *r;
	struct pps_event ev;
	int ret;

	if (argc != 2 && !(argc == 3 && strcmp(argv[1], "--ordered") == 0)) {
		fprintf(stderr, "usage: pps-readbench [--ordered] FILE\n");
		return 2;
	}
	if (argc == 3)
		opts.flags = PPS_READER_ORDERED;
	pps_set_log(log_stderr, NULL);
	r = pps_reader_open(argv[argc - 1], &opts);
	if (!r)
		return 1;
	while ((ret = pps_reader_next(r, &ev)) > 0) {
		records++;
		if (ev.type != PERF_RECORD_SAMPLE)
			continue;
		samples++;
		for (uint64_t i = 0; i < ev.sample.callchain_nr; i++)
			sum += ev.sample.callchain[i];
		entries += ev.sample.callchain_nr;
	}
	printf("records=%" PRIu64 " samples=%" PRIu64 " callchain_entries=%" PRIu64
	       " bytes=%" PRIu64 " checksum=%" PRIx64 "\n",
	       records, samples, entries, pps_reader_stats(r)->bytes_read, sum);
	pps_reader_free(r);
	return ret < 0 ? 1 : 0;
}
