/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_profile tests: build a profile with known contents, check the dedup counts and
 * the argument checks, write it, and let the real pprof read it back (-raw, -top,
 * -comments); the expected numbers are worked out by hand in the comments below.
 *
 * usage: test_profile   (env PPROF: the pprof binary; exit 77 = skipped when missing)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pprofstore/pprofstore.h>

#include "internal/profile.h"

#include "check.h"

#define MS 1000000LL /* nanoseconds */

/* Location ids, filled by build(). */
static uint64_t l_main, l_work, l_inl, l_memcpy, l_sym;

/*
 * Samples (stacks leaf first):
 *   A  inl/compute, work, main     thread=worker bytes=4096   x100  {1, 10ms}
 *   B  work, main                  thread=worker              x50   {1, 10ms}
 *   C  work, main                  thread=main                x30   {1, 10ms}
 *   D  memcpy, inl/compute, work, main   (no labels)          x20   {1, 10ms}
 *   E  main                        thread=main                x10   {1, 10ms}
 *   F  sym(work), main             thread=main                x5    {1, 5ms}
 * Totals: 215 samples, 2125ms. Flat by function: inline_helper 100 (1000ms), work 85
 * (B+C+F: 825ms), memcpy 20 (200ms), main 10 (100ms), compute 0; cum: main 215,
 * work 205, compute 120 (A+D), inline_helper 120, memcpy 20.
 */
static void add_samples(struct pps_profile *p)
{
	const int64_t v10[2] = {1, 10 * MS}, v5[2] = {1, 5 * MS};
	const uint64_t sa[] = {l_inl, l_work, l_main}, sb[] = {l_work, l_main},
		       sd[] = {l_memcpy, l_inl, l_work, l_main}, se[] = {l_main},
		       sf[] = {l_sym, l_main};
	/* The same label set in two orders: they must aggregate into one sample. */
	const struct pps_label la[] = {{.key = "thread", .str = "worker"},
				       {.key = "bytes", .num = 4096, .num_unit = "bytes"}};
	const struct pps_label la_rev[] = {la[1], la[0]};
	const struct pps_label lworker[] = {{.key = "thread", .str = "worker"}};
	const struct pps_label lmain[] = {{.key = "thread", .str = "main"}};

	for (int i = 0; i < 100; i++)
		CHECK(!pps_profile_add_sample(p, sa, 3, v10, i % 2 ? la : la_rev, 2), "A %d", i);
	for (int i = 0; i < 50; i++)
		CHECK(!pps_profile_add_sample(p, sb, 2, v10, lworker, 1), "B %d", i);
	for (int i = 0; i < 30; i++)
		CHECK(!pps_profile_add_sample(p, sb, 2, v10, lmain, 1), "C %d", i);
	for (int i = 0; i < 20; i++)
		CHECK(!pps_profile_add_sample(p, sd, 4, v10, NULL, 0), "D %d", i);
	for (int i = 0; i < 10; i++)
		CHECK(!pps_profile_add_sample(p, se, 1, v10, lmain, 1), "E %d", i);
	for (int i = 0; i < 5; i++)
		CHECK(!pps_profile_add_sample(p, sf, 2, v5, lmain, 1), "F %d", i);
}

static struct pps_profile *build(void)
{
	struct pps_mapping_info prog = {
	    .start = 0x400000,
	    .limit = 0x500000,
	    .file = "/usr/bin/testprog",
	    .build_id = "0123456789abcdef",
	    .has_functions = true,
	    .has_filenames = true,
	    .has_line_numbers = true,
	    .has_inline_frames = true,
	};
	struct pps_mapping_info libc = {
	    .start = 0x7f0000000000,
	    .limit = 0x7f0000200000,
	    .offset = 0x1000,
	    .file = "/lib/x86_64-linux-gnu/libc.so.6",
	    .has_functions = true,
	};
	struct pps_profile *p = pps_profile_new();
	uint64_t m_prog, m_libc, f_main, f_work, f_compute, f_inl, f_memcpy;

	if (!p)
		abort();
	CHECK(!pps_profile_add_sample_type(p, "samples", "count"), "sample type");
	CHECK(!pps_profile_add_sample_type(p, "cpu", "nanoseconds"), "sample type");
	CHECK(!pps_profile_set_period(p, "cpu", "nanoseconds", 10 * MS), "period");
	CHECK(!pps_profile_set_default_sample_type(p, "cpu"), "default");
	CHECK(!pps_profile_add_comment(p, "pprofstore test profile"), "comment");
	CHECK(!pps_profile_add_comment(p, "second comment"), "comment");
	pps_profile_set_time(p, 1700000000LL * 1000 * MS, 10000 * MS);

	m_prog = pps_profile_add_mapping(p, &prog);
	m_libc = pps_profile_add_mapping(p, &libc);
	CHECK(m_prog == 1 && m_libc == 2, "mapping ids %llu %llu", (unsigned long long)m_prog,
	      (unsigned long long)m_libc);
	CHECK(pps_profile_add_mapping(p, &prog) == m_prog, "mapping dedup");
	libc.has_filenames = true; /* flags of a repeat are or-ed in, not a new mapping */
	CHECK(pps_profile_add_mapping(p, &libc) == m_libc, "mapping differing in one flag");
	libc.has_filenames = false;
	libc.offset = 0x2000; /* the address fields and file count */
	CHECK(pps_profile_add_mapping(p, &libc) == 3, "mapping differing in offset");
	libc.offset = 0x1000;

	f_main = pps_profile_add_function(p, "main", "main", "main.c", 10);
	f_work = pps_profile_add_function(p, "work", "_Z4workv", "work.c", 20);
	f_compute = pps_profile_add_function(p, "compute", "compute", "work.c", 40);
	f_inl = pps_profile_add_function(p, "inline_helper", "inline_helper", "work.c", 60);
	f_memcpy = pps_profile_add_function(p, "memcpy", NULL, NULL, 0);
	CHECK(f_main && f_work && f_compute && f_inl && f_memcpy, "functions");
	CHECK(pps_profile_add_function(p, "work", "_Z4workv", "work.c", 20) == f_work,
	      "function dedup");
	CHECK(pps_profile_add_function(p, "memcpy", "", "", 0) == f_memcpy, "NULL is \"\"");

	{
		const struct pps_line main_l[] = {{f_main, 12, 3}};
		const struct pps_line work_l[] = {{f_work, 25, 0}};
		/* inline_helper was inlined into compute at work.c:45: innermost first. */
		const struct pps_line inl_l[] = {{f_inl, 62, 0}, {f_compute, 45, 0}};
		const struct pps_line memcpy_l[] = {{f_memcpy, 0, 0}};
		const struct pps_line sym_l[] = {{f_work, 30, 0}};
		const struct pps_line bad_l[] = {{f_memcpy + 1, 1, 0}};

		l_main = pps_profile_add_location(p, m_prog, 0x401000, main_l, 1);
		l_work = pps_profile_add_location(p, m_prog, 0x402000, work_l, 1);
		l_inl = pps_profile_add_location(p, m_prog, 0x403000, inl_l, 2);
		l_memcpy = pps_profile_add_location(p, m_libc, 0x7f0000001000, memcpy_l, 1);
		l_sym = pps_profile_add_location(p, 0, 0, sym_l, 1);
		CHECK(l_main == 1 && l_work == 2 && l_inl == 3 && l_memcpy == 4 && l_sym == 5,
		      "location ids");
		CHECK(pps_profile_add_location(p, m_prog, 0x402000, work_l, 1) == l_work,
		      "location dedup on address");
		CHECK(pps_profile_add_location(p, m_prog, 0x402000, NULL, 0) == l_work,
		      "address wins over lines");
		CHECK(pps_profile_add_location(p, 0, 0, sym_l, 1) == l_sym,
		      "location dedup on lines");
		errno = 0;
		CHECK(pps_profile_add_location(p, 0, 0x1, bad_l, 1) == 0 && errno == EINVAL,
		      "unknown function id");
		errno = 0;
		CHECK(pps_profile_add_location(p, 9, 0x1, NULL, 0) == 0 && errno == EINVAL,
		      "unknown mapping id");
	}

	add_samples(p);
	{
		const uint64_t bad[] = {l_main, 99};
		const int64_t v[2] = {1, 1};
		const struct pps_label nokey[] = {{.str = "x"}};

		CHECK(pps_profile_add_sample(p, bad, 2, v, NULL, 0) == -EINVAL, "bad location");
		CHECK(pps_profile_add_sample(p, bad, 1, v, nokey, 1) == -EINVAL, "label key");
		CHECK(pps_profile_add_sample_type(p, "late", "count") == -EINVAL,
		      "sample type after samples");
	}

	CHECK(pps_profile_nr_mappings(p) == 3, "%zu mappings", pps_profile_nr_mappings(p));
	CHECK(pps_profile_nr_functions(p) == 5, "%zu functions", pps_profile_nr_functions(p));
	CHECK(pps_profile_nr_locations(p) == 5, "%zu locations", pps_profile_nr_locations(p));
	CHECK(pps_profile_nr_samples(p) == 6, "%zu samples", pps_profile_nr_samples(p));
	return p;
}

/*
 * The split look-up (internal/profile.h), as the converter uses it: several keys prepared
 * before the first is added, two of them equal (labels in another order), and the same
 * samples as pps_profile_add_sample_ref() makes, in the same order.
 */
static void test_prep(void)
{
	struct pps_profile *p = pps_profile_new(), *q = pps_profile_new();
	const struct pps_label la[] = {{.key = "tid", .num = 7}, {.key = "comm", .str = "w"}};
	const struct pps_label lb[] = {{.key = "comm", .str = "w"}, {.key = "tid", .num = 7}};
	struct pps_label many[PPS_PREP_LABELS + 1];
	const int64_t v1[2] = {1, 10}, v2[2] = {2, 20}, v3[2] = {4, 40};
	struct pps_sample_prep sp[3];
	uint64_t s1[2], s2[1];
	size_t r[3], rq[3];
	const uint64_t *locs;
	const int64_t *vals;
	size_t n;

	for (size_t i = 0; i < PPS_PREP_LABELS + 1; i++)
		many[i] = (struct pps_label){.key = "k", .num = (int64_t)i};
	for (int i = 0; i < 2; i++) {
		struct pps_profile *x = i ? q : p;

		CHECK(!pps_profile_add_sample_type(x, "samples", "count"), "type");
		CHECK(!pps_profile_add_sample_type(x, "cpu", "nanoseconds"), "type");
		s1[0] = pps_profile_add_location(x, 0, 0x1000, NULL, 0);
		s1[1] = pps_profile_add_location(x, 0, 0x2000, NULL, 0);
		s2[0] = s1[1];
	}
	CHECK(!pps_profile_prep(p, s1, 2, la, 2, &sp[0]), "prep 0");
	CHECK(!pps_profile_prep(p, s2, 1, NULL, 0, &sp[1]), "prep 1");
	CHECK(!pps_profile_prep(p, s1, 2, lb, 2, &sp[2]), "prep 2");
	CHECK(sp[0].hash == sp[2].hash, "equal keys, equal hashes");
	CHECK(pps_profile_prep(p, s1, 2, many, PPS_PREP_LABELS + 1, &sp[1]) == -EINVAL,
	      "more labels than a prep holds");
	CHECK(!pps_profile_prep_add(p, &sp[0], v1, &r[0]), "add 0");
	CHECK(!pps_profile_prep_add(p, &sp[1], v2, &r[1]), "add 1");
	CHECK(!pps_profile_prep_add(p, &sp[2], v3, &r[2]), "add 2");
	CHECK(r[0] == 1 && r[1] == 2 && r[2] == 1, "refs %zu %zu %zu", r[0], r[1], r[2]);
	CHECK(pps_profile_nr_samples(p) == 2, "%zu samples", pps_profile_nr_samples(p));
	CHECK(!pps_profile_get_sample(p, 0, &locs, &n, &vals) && n == 2 && vals[0] == 5 &&
		  vals[1] == 50,
	      "sample 0: %zu locations, values %lld %lld", n, (long long)vals[0],
	      (long long)vals[1]);

	CHECK(!pps_profile_add_sample_ref(q, s1, 2, v1, la, 2, &rq[0]), "ref 0");
	CHECK(!pps_profile_add_sample_ref(q, s2, 1, v2, NULL, 0, &rq[1]), "ref 1");
	CHECK(!pps_profile_add_sample_ref(q, s1, 2, v3, lb, 2, &rq[2]), "ref 2");
	CHECK(!memcmp(r, rq, sizeof(r)), "the same refs as pps_profile_add_sample_ref()");

	/* A prep's canonical ids again (the converter's label memo): the same key. */
	{
		struct pps_label_ids bad[2];
		struct pps_sample_prep again;
		size_t ra;

		CHECK(!pps_profile_prep_ids(p, s1, 2, sp[0].labels, sp[0].nr_labels, &again),
		      "prep_ids");
		CHECK(again.hash == sp[0].hash && again.nr_labels == 2, "prep_ids: same hash");
		CHECK(!pps_profile_prep_add(p, &again, v1, &ra) && ra == r[0],
		      "prep_ids: added to sample %zu", ra);
		CHECK(!pps_profile_get_sample(p, 0, &locs, &n, &vals) && vals[0] == 6,
		      "prep_ids: values %lld", (long long)vals[0]);
		bad[0] = sp[0].labels[1];
		bad[1] = sp[0].labels[0];
		CHECK(pps_profile_prep_ids(p, s1, 2, bad, 2, &again) == -EINVAL, "out of order");
		bad[0] = sp[0].labels[0];
		bad[0].key = 1000;
		CHECK(pps_profile_prep_ids(p, s1, 2, bad, 1, &again) == -EINVAL,
		      "a string p does not have");
		CHECK(pps_profile_prep_ids(p, s1, 2, sp[0].labels, PPS_PREP_LABELS + 1, &again) ==
			  -EINVAL,
		      "more labels than a prep holds");
	}
	pps_profile_free(p);
	pps_profile_free(q);
}

/* Runs a shell command and returns its whole stdout (caller frees), NULL on failure. */
static char *run(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	char *out = NULL;
	size_t len = 0, cap = 0, n;
	int status;

	if (!f)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			cap = (len + 4096 + 1) * 2;
			out = realloc(out, cap);
			if (!out)
				abort();
		}
		n = fread(out + len, 1, 4096, f);
		len += n;
	} while (n);
	out[len] = '\0';
	status = pclose(f);
	CHECK(status == 0, "%s: exit status %d\n%s", cmd, status, out);
	return out;
}

static char *pprof(const char *bin, const char *args, const char *path)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "'%s' -symbolize=none %s '%s' 2>&1", bin, args, path);
	return run(cmd);
}

#define CHECK_HAS(out, s)                                                                          \
	CHECK(out &&strstr(out, s), "missing \"%s\" in:\n%s", s, out ? out : "(no output)")

/*
 * Checks one -top row: "flat flat% sum% cum cum% name". pprof sorts and pads the columns;
 * only the numbers and the name are compared.
 */
static void check_top_row(const char *out, const char *name, const char *flat, const char *cum)
{
	const char *line = out;
	bool found = false;

	while (line && *line) {
		char f[64], fp[64], sp[64], c[64], cp[64], rest[256];
		const char *nl = strchr(line, '\n');

		if (sscanf(line, "%63s %63s %63s %63s %63s %255[^\n]", f, fp, sp, c, cp, rest) ==
			6 &&
		    !strcmp(rest, name)) {
			found = true;
			CHECK(!strcmp(f, flat) && !strcmp(c, cum),
			      "%s: flat %s cum %s, want flat %s cum %s", name, f, c, flat, cum);
		}
		line = nl ? nl + 1 : NULL;
	}
	CHECK(found, "no -top row for \"%s\" in:\n%s", name, out);
}

static const char raw_expected[] =
    "Comment: pprofstore test profile\n"
    "Comment: second comment\n"
    "PeriodType: cpu nanoseconds\n"
    "Period: 10000000\n"
    "Time: 2023-11-14 22:13:20 +0000 UTC\n"
    "Duration: 10s\n"
    "Samples:\n"
    "samples/count cpu/nanoseconds[dflt]\n"
    "        100 1000000000: 1 2 3 \n"
    "                thread:[worker]\n"
    "                bytes:[4096 bytes]\n"
    "         50  500000000: 2 3 \n"
    "                thread:[worker]\n"
    "         30  300000000: 2 3 \n"
    "                thread:[main]\n"
    "         20  200000000: 4 1 2 3 \n"
    "         10  100000000: 3 \n"
    "                thread:[main]\n"
    "          5   25000000: 5 3 \n"
    "                thread:[main]\n"
    "Locations\n"
    "     1: 0x403000 M=1 inline_helper work.c:62 s=60\n"
    "             compute work.c:45 s=40\n"
    "     2: 0x402000 M=1 work work.c:25 s=20(_Z4workv)\n"
    "     3: 0x401000 M=1 main main.c:12 s=10\n"
    "     4: 0x7f0000001000 M=2 memcpy :0 s=0()\n"
    "     5: 0x0 work work.c:30 s=20(_Z4workv)\n"
    "Mappings\n"
    "1: 0x400000/0x500000/0x0 /usr/bin/testprog 0123456789abcdef [FN][FL][LN][IN]\n"
    "2: 0x7f0000000000/0x7f0000200000/0x1000 /lib/x86_64-linux-gnu/libc.so.6  [FN][FL]\n";

static void check_pprof(const char *bin, const char *path)
{
	char *out;

	/*
	 * -raw: the decoded profile as pprof sees it, compared whole. pprof merges what it
	 * reads (profile.Merge), which renumbers locations in order of first use by the
	 * samples (inline 1, work 2, main 3, memcpy 4, symbolic work 5) and drops the
	 * unused third mapping. Sample A is 100 adds with its labels in two orders.
	 */
	out = pprof(bin, "-raw", path);
	CHECK(out && !strcmp(out, raw_expected), "-raw:\n%s", out ? out : "(no output)");
	free(out);

	out = pprof(bin, "-comments", path);
	CHECK(out && !strcmp(out, "pprofstore test profile\nsecond comment\n"), "comments:\n%s",
	      out ? out : "(no output)");
	free(out);

	out = pprof(bin, "-top -nodecount=100 -sample_index=samples", path);
	CHECK_HAS(out, "Build ID: 0123456789abcdef\n");
	CHECK_HAS(out, "Type: samples\n");
	CHECK_HAS(out, "Showing nodes accounting for 215, 100% of 215 total\n");
	check_top_row(out, "inline_helper (inline)", "100", "120");
	check_top_row(out, "work", "85", "205");
	check_top_row(out, "memcpy", "20", "20");
	check_top_row(out, "main", "10", "215");
	check_top_row(out, "compute", "0", "120");
	free(out);

	/* -unit=ms keeps the numbers exact. */
	out = pprof(bin, "-top -nodecount=100 -sample_index=cpu -unit=ms", path);
	CHECK_HAS(out, "Showing nodes accounting for 2125ms, 100% of 2125ms total\n");
	check_top_row(out, "inline_helper (inline)", "1000ms", "1200ms");
	check_top_row(out, "work", "825ms", "2025ms");
	check_top_row(out, "memcpy", "200ms", "200ms");
	check_top_row(out, "main", "100ms", "2125ms");
	check_top_row(out, "compute", "0", "1200ms");
	free(out);

	/* No -sample_index: the default sample type, cpu. */
	out = pprof(bin, "-top -nodecount=100 -unit=ms -tagfocus=thread=main", path);
	CHECK_HAS(out, "Type: cpu\n");
	/* C + E + F: 300 + 100 + 25. */
	CHECK_HAS(out, "Showing nodes accounting for 425ms, 20.00% of 2125ms total\n");
	free(out);
	out = pprof(bin, "-top -sample_index=samples -tagfocus=bytes=4096bytes", path);
	CHECK_HAS(out, "Showing nodes accounting for 100, 46.51% of 215 total\n");
	free(out);
}

/*
 * Allocation failure injection. The test links with -Wl,--wrap=malloc,calloc,realloc, so
 * the library's (and this file's) allocations come here; shared libraries (zlib, libc)
 * keep theirs.
 */
void *__real_malloc(size_t n);
void *__real_calloc(size_t nmemb, size_t n);
void *__real_realloc(void *ptr, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t nmemb, size_t n);
void *__wrap_realloc(void *ptr, size_t n);

static long alloc_countdown = -1; /* allocations that succeed before one fails; -1 never */

static bool alloc_fails(void)
{
	if (alloc_countdown < 0)
		return false;
	return alloc_countdown-- == 0;
}

void *__wrap_malloc(size_t n)
{
	return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t nmemb, size_t n)
{
	return alloc_fails() ? NULL : __real_calloc(nmemb, n);
}

void *__wrap_realloc(void *ptr, size_t n)
{
	return alloc_fails() ? NULL : __real_realloc(ptr, n);
}

/* A call under failure injection either works or says ENOMEM. */
#define CHECK_OK_OR_NOMEM(call)                                                                    \
	do {                                                                                       \
		int ret_ = (call);                                                                 \
		CHECK(ret_ == 0 || ret_ == -ENOMEM, "ret %d", ret_);                               \
	} while (0)
#define CHECK_ID_OR_NOMEM(id) CHECK((id) != 0 || errno == ENOMEM, "errno %d", errno)

/*
 * Builds and writes a profile that makes every structure grow past its first allocation,
 * with allocation n failing (once). Every call must work or report ENOMEM, and the
 * profile must stay usable after a failure: the later calls, the write and the free run
 * under ASan in the sanitizer build. Returns whether allocation n was reached.
 */
static bool build_with_failure(long n)
{
	struct pps_profile *p;
	uint64_t m = 0, loc[40];
	int ret, nr_types = 0;
	FILE *f;

	alloc_countdown = n;
	p = pps_profile_new();
	if (!p) {
		CHECK(errno == ENOMEM, "new: errno %d", errno);
		goto out;
	}
	ret = pps_profile_add_sample_type(p, "samples", "count");
	CHECK_OK_OR_NOMEM(ret);
	nr_types += !ret;
	ret = pps_profile_add_sample_type(p, "cpu", "nanoseconds");
	CHECK_OK_OR_NOMEM(ret);
	nr_types += !ret;
	CHECK_OK_OR_NOMEM(pps_profile_set_period(p, "cpu", "nanoseconds", 1));
	CHECK_OK_OR_NOMEM(pps_profile_set_default_sample_type(p, "cpu"));
	for (int i = 0; i < 20; i++)
		CHECK_OK_OR_NOMEM(pps_profile_add_comment(p, i % 2 ? "odd" : "even"));
	for (unsigned int i = 0; i < 3; i++) {
		struct pps_mapping_info mi = {.start = 0x1000u * i, .file = "/bin/x"};
		uint64_t id = pps_profile_add_mapping(p, &mi);

		CHECK_ID_OR_NOMEM(id);
		if (id)
			m = id;
	}
	for (int i = 0; i < 40; i++) {
		struct pps_line ln = {0, i, 0};
		char name[32];

		snprintf(name, sizeof(name), "function_%d", i);
		ln.function_id = pps_profile_add_function(p, name, name, "x.c", i);
		CHECK_ID_OR_NOMEM(ln.function_id);
		loc[i] = 0;
		if (!ln.function_id)
			continue;
		/* Every third location is symbolic: deduplicated on its lines. */
		loc[i] = pps_profile_add_location(p, m, i % 3 ? 0x1000u + (unsigned)i : 0, &ln, 1);
		CHECK_ID_OR_NOMEM(loc[i]);
	}
	for (int i = 0; i < 200; i++) {
		const int64_t v[2] = {1, 10};
		char val[16];
		struct pps_label l[2] = {{.key = "k", .str = val},
					 {.key = "n", .num = i % 5, .num_unit = "bytes"}};
		uint64_t stack[8];
		size_t nr = 0;

		snprintf(val, sizeof(val), "v%d", i % 7);
		for (int d = 0; d < 8; d++)
			if (loc[(i * 7 + d) % 40])
				stack[nr++] = loc[(i * 7 + d) % 40];
		ret = pps_profile_add_sample(p, stack, nr, v, l, 2);
		CHECK(!ret || ret == -ENOMEM || (ret == -EINVAL && !nr_types), "sample: %d", ret);
	}
	f = tmpfile(); /* libc's allocations are not wrapped */
	if (!f)
		abort();
	CHECK_OK_OR_NOMEM(pps_profile_write(p, f));
	fclose(f);
	pps_profile_free(p);
out:
	ret = alloc_countdown < 0;
	alloc_countdown = -1;
	return ret;
}

static void test_enomem(void)
{
	long n;

	for (n = 0; n < 100000; n++)
		if (!build_with_failure(n))
			break;
	CHECK(n > 50 && n < 100000, "%ld allocations", n);
	printf("test_profile: failed each of %ld allocations in turn\n", n);
}

/* A failing FILE must give -EIO, not a silently short profile. */
static void test_write_error(struct pps_profile *p)
{
	FILE *f = fopen("/dev/full", "w");

	if (!f)
		return;
	CHECK(pps_profile_write(p, f) == -EIO, "write to /dev/full");
	fclose(f);
}

/* An empty profile is still a valid one. */
static void test_empty(void)
{
	struct pps_profile *p = pps_profile_new();
	FILE *f = tmpfile();

	CHECK(p && f, "new");
	if (p && f)
		CHECK(pps_profile_write(p, f) == 0, "empty write");
	CHECK(pps_profile_add_sample(p, NULL, 0, NULL, NULL, 0) == -EINVAL, "no sample types");
	if (f)
		fclose(f);
	pps_profile_free(p);
	pps_profile_free(NULL);
}

/* Locations symbolized after the fact, mappings completed at the end, sample handles. */
static void test_late_fill(void)
{
	struct pps_profile *p = pps_profile_new();
	const struct pps_mapping_info m = {.start = 0x1000, .limit = 0x2000, .file = "/bin/x"};
	const struct pps_label lab[] = {{.key = "pid", .num = 7}, {.key = "comm", .str = "x"}};
	const int64_t one[] = {1, 10}, two[] = {2, 20};
	const uint64_t *locs;
	const int64_t *vals;
	uint64_t mid, fid, l1, l2, stack[2];
	size_t ref = 0, ref2 = 0, n;
	struct pps_line line;

	if (!p)
		abort();
	CHECK(!pps_profile_add_sample_type(p, "samples", "count"), "type");
	CHECK(!pps_profile_add_sample_type(p, "cpu", "nanoseconds"), "type");
	mid = pps_profile_add_mapping(p, &m);
	l1 = pps_profile_add_location(p, mid, 0x1100, NULL, 0);
	l2 = pps_profile_add_location(p, mid, 0x1200, NULL, 0);
	CHECK(mid == 1 && l1 == 1 && l2 == 2, "ids %llu %llu %llu", (unsigned long long)mid,
	      (unsigned long long)l1, (unsigned long long)l2);
	stack[0] = l1;
	stack[1] = l2;
	CHECK(!pps_profile_add_sample_ref(p, stack, 2, one, lab, 2, &ref) && ref == 1, "ref %zu",
	      ref);
	CHECK(!pps_profile_add_sample_ref(p, stack, 2, one, lab, 2, &ref2) && ref2 == ref,
	      "same sample, same ref");
	CHECK(!pps_profile_add_values(p, ref, two), "add values");
	CHECK(pps_profile_add_values(p, 2, two) == -EINVAL, "no sample 2");
	CHECK(!pps_profile_get_sample(p, 0, &locs, &n, &vals) && n == 2 && locs[0] == l1 &&
		  vals[0] == 4 && vals[1] == 40,
	      "sample: %zu locations, values %lld %lld", n, (long long)vals[0],
	      (long long)vals[1]);
	CHECK(pps_profile_get_sample(p, 1, &locs, &n, &vals) == -EINVAL, "no sample 1");

	fid = pps_profile_add_function(p, "f", "f", "x.c", 3);
	line = (struct pps_line){.function_id = fid, .line = 5};
	CHECK(!pps_profile_set_location_lines(p, l1, &line, 1), "lines");
	CHECK(pps_profile_set_location_lines(p, l1, &line, 1) == -EINVAL, "lines twice");
	CHECK(pps_profile_set_location_lines(p, 3, &line, 1) == -EINVAL, "no location 3");
	CHECK(pps_profile_add_location(p, mid, 0x1100, NULL, 0) == l1, "still found by address");
	CHECK(!pps_profile_update_mapping(p, mid, "abcd", true, true, true, false), "update");
	CHECK(pps_profile_update_mapping(p, 2, "abcd", true, true, true, false) == -EINVAL,
	      "no mapping 2");
	CHECK(pps_profile_add_mapping(p, &m) == mid, "a repeat still finds it");
	pps_profile_free(p);
}

/* The read accessors (for the store) give back what build() put in. */
static void test_getters(const struct pps_profile *p)
{
	const char *t, *u, *def, *name, *sys, *file;
	struct pps_mapping_info mi;
	const struct pps_line *lines;
	struct pps_label l;
	uint64_t map, addr;
	size_t nr = 0;
	int64_t period, time_ns, dur, start;
	bool has_bytes = false, has_thread = false;

	CHECK(pps_profile_nr_sample_types(p) == 2, "nr sample types");
	CHECK(!pps_profile_get_sample_type(p, 1, &t, &u) && !strcmp(t, "cpu") &&
		  !strcmp(u, "nanoseconds"),
	      "sample type 1");
	CHECK(pps_profile_get_sample_type(p, 2, &t, &u) == -EINVAL, "sample type 2");
	pps_profile_get_period(p, &t, &u, &period, &def);
	CHECK(!strcmp(t, "cpu") && !strcmp(u, "nanoseconds") && period == 10 * MS &&
		  !strcmp(def, "cpu"),
	      "period %s %s %lld %s", t, u, (long long)period, def);
	pps_profile_get_time(p, &time_ns, &dur);
	CHECK(time_ns == 1700000000LL * 1000 * MS && dur == 10000 * MS, "time");
	CHECK(!pps_profile_get_mapping(p, 1, &mi) && mi.start == 0x400000 &&
		  !strcmp(mi.file, "/usr/bin/testprog") && !strcmp(mi.build_id, "0123456789abcdef") &&
		  mi.has_inline_frames,
	      "mapping 1");
	CHECK(!pps_profile_get_mapping(p, 2, &mi) && !strcmp(mi.build_id, ""), "mapping 2");
	CHECK(pps_profile_get_mapping(p, 0, &mi) == -EINVAL, "mapping 0");
	CHECK(!pps_profile_get_function(p, 2, &name, &sys, &file, &start) &&
		  !strcmp(name, "work") && !strcmp(sys, "_Z4workv") && !strcmp(file, "work.c") &&
		  start == 20,
	      "function 2");
	CHECK(pps_profile_get_function(p, 1000, &name, &sys, &file, &start) == -EINVAL,
	      "function 1000");
	CHECK(!pps_profile_get_location(p, l_inl, &map, &addr, &lines, &nr) && map == 1 &&
		  nr == 2,
	      "location inl: mapping %llu, %zu lines", (unsigned long long)map, nr);
	CHECK(!pps_profile_get_sample_labels(p, 0, 0, &nr, NULL) && nr == 2, "sample 0 labels");
	for (size_t j = 0; j < nr; j++) {
		CHECK(!pps_profile_get_sample_labels(p, 0, j, NULL, &l), "label %zu", j);
		has_thread |= !strcmp(l.key, "thread") && l.str && !strcmp(l.str, "worker");
		has_bytes |= !strcmp(l.key, "bytes") && !l.str && l.num == 4096 &&
			     !strcmp(l.num_unit, "bytes");
	}
	CHECK(has_thread && has_bytes, "sample 0 labels thread=worker, bytes=4096");
	CHECK(pps_profile_get_sample_labels(p, 0, 2, NULL, &l) == -EINVAL, "label 2");
}

/*
 * Two builds of one program loaded at the same address are two mappings, so that one
 * build's address never takes the other's lines (regression: the dedup ignored build-ids,
 * and a diff of two builds' profiles put base's samples on head's functions). A mapping
 * without a build-id still matches either.
 */
static void test_mapping_build_ids(void)
{
	struct pps_mapping_info m = {.start = 0x400000, .limit = 0x500000, .file = "/bin/prog"};
	struct pps_profile *p = pps_profile_new();
	struct pps_line l1 = {0}, l2 = {0};
	uint64_t a, b, none, a2, loc1, loc2;

	if (!p)
		abort();
	m.build_id = "aaaa";
	a = pps_profile_add_mapping(p, &m);
	m.build_id = "bbbb";
	b = pps_profile_add_mapping(p, &m);
	m.build_id = NULL;
	none = pps_profile_add_mapping(p, &m);
	m.build_id = "aaaa";
	a2 = pps_profile_add_mapping(p, &m);
	CHECK(a && b && a != b, "builds aaaa and bbbb: mappings %llu, %llu", (unsigned long long)a,
	      (unsigned long long)b);
	CHECK(none == a && a2 == a, "no build-id: %llu, aaaa again: %llu (aaaa is %llu)",
	      (unsigned long long)none, (unsigned long long)a2, (unsigned long long)a);
	l1.function_id = pps_profile_add_function(p, "old_fn", NULL, NULL, 0);
	l2.function_id = pps_profile_add_function(p, "new_fn", NULL, NULL, 0);
	loc1 = pps_profile_add_location(p, a, 0x401000, &l1, 1);
	loc2 = pps_profile_add_location(p, b, 0x401000, &l2, 1);
	CHECK(loc1 && loc2 && loc1 != loc2, "same address in two builds: locations %llu, %llu",
	      (unsigned long long)loc1, (unsigned long long)loc2);
	CHECK(pps_profile_nr_mappings(p) == 2, "%zu mappings", pps_profile_nr_mappings(p));
	pps_profile_free(p);
}

/* A checksum of a profile that survives renumbering: per sample, its values weighed by
 * the names, lines and addresses along its stack. */
static uint64_t profile_sum(const struct pps_profile *p)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < pps_profile_nr_samples(p); i++) {
		const uint64_t *locs;
		const int64_t *vals;
		uint64_t h = 1469598103934665603ULL;
		size_t n;

		if (pps_profile_get_sample(p, i, &locs, &n, &vals))
			return 0;
		for (size_t k = 0; k < n; k++) {
			const struct pps_line *lines;
			uint64_t mid, addr;
			size_t nl;

			if (pps_profile_get_location(p, locs[k], &mid, &addr, &lines, &nl))
				return 0;
			h = (h ^ addr) * 1099511628211ULL;
			for (size_t j = 0; j < nl; j++) {
				const char *name, *sys, *file;
				int64_t start;

				if (pps_profile_get_function(p, lines[j].function_id, &name, &sys,
							     &file, &start))
					return 0;
				for (const char *c = name; *c; c++)
					h = (h ^ (uint8_t)*c) * 1099511628211ULL;
				h = (h ^ (uint64_t)lines[j].line ^ (uint64_t)start << 32) *
				    1099511628211ULL;
			}
		}
		sum += h * (uint64_t)vals[0] + (uint64_t)vals[1];
	}
	return sum;
}

/*
 * A profile of over 2 MiB once encoded: the gzip stream is deflated in 256 KiB chunks on
 * several threads and joined into one member. Read back (zlib checks the CRC-32 and length
 * in the trailer), it must hold what was written.
 */
static void test_big_write(void)
{
	struct pps_mapping_info mi = {.start = 0x400000, .limit = 0x800000, .file = "/bin/big"};
	struct pps_profile *p = pps_profile_new(), *q = NULL;
	uint64_t m, loc[5000];
	char *data = NULL;
	size_t size = 0;
	FILE *f;

	if (!p)
		abort();
	CHECK(!pps_profile_add_sample_type(p, "samples", "count"), "type");
	CHECK(!pps_profile_add_sample_type(p, "cpu", "nanoseconds"), "type");
	m = pps_profile_add_mapping(p, &mi);
	for (int i = 0; i < 5000; i++) {
		char name[160], file[32];
		struct pps_line ln[2];

		snprintf(name, sizeof(name),
			 "ns%d::Class%d<std::vector<int>>::method_with_a_long_name_%d(int, char *)",
			 i % 97, i * 7919 % 5000, i);
		snprintf(file, sizeof(file), "src/file_%d.cc", i % 300);
		ln[0].function_id = pps_profile_add_function(p, name, name, file, i);
		ln[0].line = i * 3;
		ln[0].column = i % 11;
		ln[1].function_id = ln[0].function_id > 1 ? ln[0].function_id - 1 : 1;
		ln[1].line = i;
		ln[1].column = 0;
		loc[i] =
		    pps_profile_add_location(p, m, 0x401000u + 16u * (unsigned)i, ln, 1 + i % 2);
		CHECK(loc[i], "location %d", i);
	}
	for (int i = 0; i < 150000; i++) {
		const int64_t v[2] = {1 + i % 3, 1000 * (int64_t)i};
		char tname[16];
		struct pps_label l = {.key = "thread", .str = tname};
		uint64_t stack[6];

		snprintf(tname, sizeof(tname), "t%d", i % 50);
		for (int d = 0; d < 6; d++)
			stack[d] = loc[(i * 31 + d * (977 + i % 13)) % 5000];
		CHECK(!pps_profile_add_sample(p, stack, 6, v, &l, 1), "sample %d", i);
	}
	f = open_memstream(&data, &size);
	if (!f)
		abort();
	CHECK(pps_profile_write(p, f) == 0, "big write");
	CHECK(fclose(f) == 0, "close");
	/* The gzip trailer ends with the uncompressed length (mod 2^32). */
	if (size >= 18) {
		const uint8_t *t = (const uint8_t *)data + size - 4;
		uint32_t isize = t[0] | t[1] << 8 | t[2] << 16 | (uint32_t)t[3] << 24;

		CHECK(isize > 2u << 20, "%u bytes encoded: too few to span several chunks", isize);
	}
	q = pps_profile_read(data, size);
	CHECK(q, "read back: %s", strerror(errno));
	if (q) {
		CHECK(pps_profile_nr_samples(q) == pps_profile_nr_samples(p), "%zu samples, wrote %zu",
		      pps_profile_nr_samples(q), pps_profile_nr_samples(p));
		CHECK(pps_profile_nr_locations(q) == 5000, "%zu locations",
		      pps_profile_nr_locations(q));
		CHECK(pps_profile_nr_functions(q) == 5000, "%zu functions",
		      pps_profile_nr_functions(q));
		CHECK(profile_sum(q) == profile_sum(p) && profile_sum(p),
		      "contents differ after the round trip");
	}
	pps_profile_free(q);
	pps_profile_free(p);
	free(data);
}

int main(void)
{
	const char *bin = getenv("PPROF");
	char path[] = "/tmp/pps-test-profile-XXXXXX";
	struct pps_profile *p;
	int fd, err;
	FILE *f;

	if (!bin || !*bin)
		bin = "/opt/pprofstore-deps/bin/pprof";
	setenv("TZ", "UTC", 1);

	test_empty();
	test_mapping_build_ids();
	test_late_fill();
	test_enomem();
	test_big_write();
	test_prep();
	p = build();
	test_getters(p);
	test_write_error(p);
	fd = mkstemp(path);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f)
		abort();
	err = pps_profile_write(p, f);
	CHECK(err == 0, "write: %s", strerror(-err));
	CHECK(fclose(f) == 0, "close");
	pps_profile_free(p);

	if (access(bin, X_OK)) {
		fprintf(stderr, "test_profile: no pprof at %s: skipped\n", bin);
		unlink(path);
		return failures ? 1 : 77;
	}
	check_pprof(bin, path);
	unlink(path);
	printf("test_profile: %s (%d failures)\n", failures ? "FAILED" : "ok", failures);
	return failures ? 1 : 0;
}
