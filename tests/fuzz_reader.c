/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Fuzz target for the perf.data reader, after libbpf's fuzz/bpf-object-fuzzer.c.
 *
 * Built with clang -fsanitize=fuzzer (cmake -DPPS_LIBFUZZER=ON) it is a libFuzzer target.
 * Otherwise main() below is a driver for ctest:
 *   fuzz_reader FILE...                 each file as one input
 *   fuzz_reader --truncate N FILE...    each file cut at N deterministic offsets too
 * The driver fails only on a crash or a sanitizer report (the sanitizers abort), or when
 * a cut file yields more samples than the whole one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pprofstore/pprofstore.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drop_log(enum pps_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
}

/* Reads the bytes as a perf.data in both modes; returns the samples seen (unordered). */
static uint64_t read_bytes(const uint8_t *data, size_t size)
{
	static const unsigned int modes[] = {0, PPS_READER_ORDERED};
	char path[64];
	uint64_t samples = 0;
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		PPS_READER_OPTS(opts, .flags = modes[m], .max_queue_bytes = 1 << 20);
		struct pps_reader *r = pps_reader_open(path, &opts);
		struct pps_event ev;
		uint64_t n = 0, sum = 0;

		if (!r)
			continue;
		while (pps_reader_next(r, &ev) > 0) {
			if (ev.type != PERF_RECORD_SAMPLE)
				continue;
			n++;
			/* Touch what the reader vouched for, so a bad pointer shows up here. */
			for (uint64_t i = 0; i < ev.sample.callchain_nr; i++)
				sum += ev.sample.callchain[i];
			if (ev.sample.raw_size)
				sum += ((const uint8_t *)ev.sample.raw_data)[ev.sample.raw_size - 1];
			if (ev.sample.user_stack_size)
				sum += ((const uint8_t *)
						ev.sample.user_stack)[ev.sample.user_stack_size - 1];
			for (uint64_t i = 0; i < ev.sample.branch_nr; i++)
				sum += ev.sample.branch[i].from;
		}
		(void)pps_reader_stats(r);
		for (size_t i = 0; i < pps_reader_nr_evsels(r); i++)
			sum += strlen(pps_evsel_name(pps_reader_evsel(r, i)));
		pps_reader_free(r);
		if (m == 0)
			samples = n;
		if (sum == 42) /* keep sum alive */
			fputc(' ', stderr);
	}
	close(fd);
	return samples;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pps_set_log(drop_log, NULL);
	(void)read_bytes(data, size);
	return 0;
}

#ifndef PPS_LIBFUZZER
static uint8_t *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)len + 1);
		if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			buf = NULL;
		}
		*size = (size_t)len;
	}
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	int i = 1, failures = 0, files = 0;
	size_t cuts = 0, nr_cuts = 0;

	if (argc > 2 && strcmp(argv[1], "--truncate") == 0) {
		nr_cuts = strtoul(argv[2], NULL, 10);
		i = 3;
	}
	pps_set_log(drop_log, NULL);
	for (; i < argc; i++) {
		size_t size = 0;
		uint8_t *data = slurp(argv[i], &size);
		uint64_t whole;

		if (!data) {
			fprintf(stderr, "fuzz_reader: %s: cannot read\n", argv[i]);
			failures++;
			continue;
		}
		files++;
		whole = read_bytes(data, size);
		for (size_t k = 1; k <= nr_cuts && size; k++) {
			/* Spread over the file, off the 8-byte grid half of the time. */
			size_t at = (size_t)((unsigned __int128)size * k / (nr_cuts + 1)) + (k & 1) * 3;
			uint64_t n;

			if (at >= size)
				continue;
			n = read_bytes(data, at);
			cuts++;
			if (n > whole) {
				fprintf(stderr, "fuzz_reader: %s cut at %zu: %" PRIu64
						" samples, the whole file has %" PRIu64 "\n",
					argv[i], at, n, whole);
				failures++;
			}
		}
		free(data);
	}
	printf("fuzz_reader: %d files, %zu truncations, %d failures\n", files, cuts, failures);
	return failures ? 1 : 0;
}
#endif
