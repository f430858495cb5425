/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pprofstore ingest: perf.data recordings and pprof files into the store, one source each.
 *
 * A perf.data goes through pps_convert (every profile type it holds, as perf2pprof --all),
 * each sample labelled with its time bucket; a pprof file through pps_profile_read, into
 * the bucket of its start. Where a source's times come from is decided here and recorded
 * with it (its time_origin, shown by list): see place_perf() and place_pprof().
 * Standard input is spooled to an unlinked temporary file first: the content hash (the
 * re-ingest check) needs all the bytes before anything is stored.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

/* The largest pprof file read (compressed or not). */
#define PPROF_MAX ((uint64_t)1 << 30)

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Seconds on the monotonic clock, for -v. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One input being ingested. */
struct input {
	const char *name;    /* as given ("-" for standard input) */
	char open_path[64];  /* what to open: name, or /proc/self/fd/N of the spool */
	const char *path;    /* name or open_path */
	int spool_fd;	     /* the spooled standard input, -1 for a file */
	int64_t end_wall_ns; /* the end anchor: mtime, or when standard input ended */
	const char *anchor;  /* "mtime" or "ingest-time" */
};

/* Copies standard input to an unlinked file in $TMPDIR. Returns 0 or -errno (logged). */
static int spool_stdin(struct input *in)
{
	const char *dir = getenv("TMPDIR");
	char tmpl[4096];
	static char buf[1 << 16];
	ssize_t got;
	int fd;

	snprintf(tmpl, sizeof(tmpl), "%s/pprofstore-stdin-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(tmpl);
	if (fd < 0) {
		fprintf(stderr, "pprofstore: cannot spool standard input in %s: %s\n", tmpl,
			strerror(errno));
		return -errno;
	}
	unlink(tmpl);
	while ((got = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 || write(fd, buf, (size_t)got) != got) {
			int err = errno ? errno : EIO;

			fprintf(stderr, "pprofstore: spooling standard input: %s\n", strerror(err));
			close(fd);
			return -err;
		}
	}
	in->spool_fd = fd;
	snprintf(in->open_path, sizeof(in->open_path), "/proc/self/fd/%d", fd);
	in->path = in->open_path;
	in->end_wall_ns = now_ns();
	in->anchor = "ingest-time";
	return 0;
}

/* Whether the file starts as a perf.data does (the reader explains any other damage). */
static bool is_perf_data(const char *path)
{
	char magic[8];
	bool yes = false;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return true; /* the reader reports it */
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		yes = true; /* perf record --threads */
	else if (read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic))
		yes = !memcmp(magic, "PERFILE2", 8) || !memcmp(magic, "PERFFILE", 8) ||
		      !memcmp(magic, "2ELIFREP", 8);
	close(fd);
	return yes;
}

/* Prints the per-type summary of a stored source. */
static void say_stored(const struct input *in, int64_t id, const char *origin, size_t n,
		       const char *const *types, const uint64_t *counts)
{
	fprintf(stderr, "pprofstore: %s: stored", in->name);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s %s (%" PRIu64 " samples)", i ? "," : "", types[i], counts[i]);
	fprintf(stderr, " as source %" PRId64 "; times from %s\n", id, origin);
}

/*
 * How a recording's perf timestamps become wall-clock ns: *offset to add, and the name of
 * the rule (the source's time_origin):
 *   time-origin  --time-origin gives the wall time of the first sample;
 *   clock_data   the CLOCK_DATA header (perf record -k) pairs a wall time with the clock;
 *   mtime        the last sample is at the file's modification time (the recording ended
 *   ingest-time  when perf closed the file), or at the time of ingest for standard input.
 * The first and last sample times come from a quick unordered pass over the file (unless
 * CLOCK_DATA is in a file-mode header and no origin is given): every sample must know its
 * bucket as the conversion meets it. Returns 0 or -errno (reported).
 */
static int place_perf(const struct input *in, const struct ingest_args *a, int64_t *offset,
		      const char **origin)
{
	PPS_READER_OPTS(ropts);
	const struct pps_reader_stats *st;
	struct pps_clock_data cd;
	struct pps_reader *r;
	struct pps_event ev;
	pps_log_fn prev;
	int ret = 0;

	r = pps_reader_open(in->path, &ropts);
	if (!r) {
		ret = -errno;
		fprintf(stderr, "pprofstore: %s: cannot read: %s\n", in->name, strerror(errno));
		return ret;
	}
	pps_reader_clock_data(r, &cd);
	if (!a->has_time_origin && cd.has_clock_data && cd.tod_ns && !pps_reader_is_pipe(r)) {
		*offset = (int64_t)(cd.tod_ns - cd.clockid_ns);
		*origin = "clock_data";
		goto out;
	}
	/* The conversion reports the same damage: say nothing twice. */
	prev = pps_set_log(NULL, NULL);
	while ((ret = pps_reader_next(r, &ev)) > 0)
		;
	pps_set_log(prev, NULL);
	ret = 0; /* a fatal read error shows again in the conversion */
	st = pps_reader_stats(r);
	pps_reader_clock_data(r, &cd);
	*offset = 0;
	if (a->has_time_origin) {
		*origin = "time-origin";
		if (st->first_time != PPS_NO_TIME)
			*offset = a->time_origin_ns - (int64_t)st->first_time;
	} else if (cd.has_clock_data && cd.tod_ns) {
		*offset = (int64_t)(cd.tod_ns - cd.clockid_ns);
		*origin = "clock_data";
	} else {
		*origin = in->anchor;
		if (st->last_time != PPS_NO_TIME)
			*offset = in->end_wall_ns - (int64_t)st->last_time;
	}
out:
	pps_reader_free(r);
	return ret;
}

/* Converts and stores one perf.data. Returns an exit code. */
static int ingest_perf(struct pps_store *s, const struct input *in, struct pps_store_source *src,
		       const struct ingest_args *a)
{
	/* Decoding and hashing stacks on a second thread, as perf2pprof does. */
	PPS_READER_OPTS(ropts, .flags = PPS_READER_ORDERED | PPS_READER_THREAD |
					PPS_READER_CALLCHAIN_HASH);
	struct pps_convert_opts copts = *a->copts;
	struct pps_profile **profiles = NULL;
	const char **types = NULL;
	uint64_t *counts = NULL;
	struct pps_convert *c = NULL;
	struct pps_reader *r = NULL;
	double t_start = now_s(), t_store;
	int64_t offset = 0, id;
	size_t n;
	int err, ret = EXIT_ERROR;

	if (place_perf(in, a, &offset, &src->time_origin))
		return EXIT_ERROR;
	r = pps_reader_open(in->path, &ropts);
	if (!r) {
		fprintf(stderr, "pprofstore: %s: cannot read: %s\n", in->name, strerror(errno));
		return EXIT_ERROR;
	}
	copts.end_wall_ns = in->end_wall_ns;
	copts.bucket_ns = pps_store_bucket_ns(s);
	copts.wall_offset_ns = offset;
	c = pps_convert_new(&copts);
	if (!c) {
		fprintf(stderr, "pprofstore: %s\n", strerror(errno));
		goto out;
	}
	err = pps_convert_run(c, r);
	if (err) {
		fprintf(stderr, "pprofstore: %s: %s\n", in->name, strerror(-err));
		goto out;
	}
	src->host = pps_reader_hostname(r);
	src->cmdline = pps_reader_cmdline(r);
	n = pps_convert_nr_profiles(c);
	if (!n) {
		/* As perf2pprof: nothing to convert is an error, and nothing is stored. */
		fprintf(stderr, "pprofstore: %s: no samples to store%s\n", in->name,
			pps_reader_stats(r)->truncated || pps_reader_stats(r)->nr_bad_records
			    ? " (the recording is damaged)"
			    : "");
		goto out;
	}
	types = calloc(n + 1, sizeof(*types));
	profiles = calloc(n + 1, sizeof(*profiles));
	counts = calloc(n + 1, sizeof(*counts));
	if (!types || !profiles || !counts) {
		fprintf(stderr, "pprofstore: %s\n", strerror(ENOMEM));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		types[i] = pps_convert_profile(c, i)->type;
		profiles[i] = pps_convert_profile(c, i)->profile;
		counts[i] = pps_convert_profile(c, i)->nr_samples;
	}
	t_store = now_s();
	err = pps_store_ingest(s, src, types, profiles, n);
	if (a->verbose)
		fprintf(stderr, "pprofstore: %s: convert %.3f s, store %.3f s\n", in->name,
			t_store - t_start, now_s() - t_store);
	if (err == -EEXIST) {
		if (!a->quiet)
			fprintf(stderr, "pprofstore: %s: already ingested, nothing to do\n",
				in->name);
		ret = EXIT_OK;
		goto out;
	}
	if (err) {
		fprintf(stderr, "pprofstore: %s: not stored: %s\n", in->name, strerror(-err));
		goto out;
	}
	if (pps_reader_stats(r)->truncated || pps_reader_stats(r)->nr_bad_records)
		fprintf(stderr,
			"pprofstore: %s: the recording is damaged; stored what was "
			"readable\n",
			in->name);
	if (!a->quiet && pps_store_has_source(s, src->content_hash, src->size, &id) > 0)
		say_stored(in, id, src->time_origin, n, types, counts);
	ret = EXIT_OK;
out:
	free(counts);
	free(types);
	free(profiles);
	pps_convert_free(c);
	pps_reader_free(r);
	return ret;
}

/* Sample types as "a/b, c/d", for messages. */
static void print_sample_types(const struct pps_profile *p)
{
	for (size_t i = 0; i < pps_profile_nr_sample_types(p); i++) {
		const char *t, *u;

		pps_profile_get_sample_type(p, i, &t, &u);
		fprintf(stderr, "%s%s/%s", i ? ", " : "", t, u);
	}
}

/* Whether p's sample types are exactly the n (type, unit) pairs of want. */
static bool shape_is(const struct pps_profile *p, const char *const *want, size_t n)
{
	if (pps_profile_nr_sample_types(p) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *t, *u;

		pps_profile_get_sample_type(p, i, &t, &u);
		if (strcmp(t, want[2 * i]) || strcmp(u, want[2 * i + 1]))
			return false;
	}
	return true;
}

/*
 * The store type of a pprof profile: --type, else what its sample types say: Go's cpu,
 * heap, allocs (a heap profile shown as alloc_space), goroutine and threadcreate profiles,
 * and perf2pprof's per-event profiles (samples/count, EVENT/count). Block and mutex
 * profiles have the same shape in Go and here; the file name tells them apart (Go's
 * endpoints and perf2pprof --all name them so), else --type must. NULL (reported) when
 * it cannot tell.
 */
static const char *pprof_type(const struct pps_profile *p, const char *name, const char *given,
			      char *buf, size_t size)
{
	static const char *const cpu[] = {"samples", "count", "cpu", "nanoseconds"};
	static const char *const heap[] = {"alloc_objects", "count", "alloc_space", "bytes",
					   "inuse_objects", "count", "inuse_space", "bytes"};
	static const char *const goroutine[] = {"goroutine", "count"};
	static const char *const threadcreate[] = {"threadcreate", "count"};
	static const char *const waits[] = {"contentions", "count", "delay", "nanoseconds"};
	const char *base = strrchr(name, '/'), *t0, *u0, *t1, *u1, *pt, *pu, *def;
	int64_t period;

	base = base ? base + 1 : name;
	if (given)
		return given;
	if (shape_is(p, cpu, 2))
		return "cpu";
	if (shape_is(p, heap, 4)) {
		pps_profile_get_period(p, &pt, &pu, &period, &def);
		return !strcmp(def, "alloc_space") ? "allocs" : "heap";
	}
	if (shape_is(p, goroutine, 1))
		return "goroutine";
	if (shape_is(p, threadcreate, 1))
		return "threadcreate";
	if (shape_is(p, waits, 2)) {
		bool mutex = strstr(base, "mutex") != NULL, block = strstr(base, "block") != NULL;

		if (mutex != block)
			return mutex ? "mutex" : "block";
	} else if (pps_profile_nr_sample_types(p) == 2) {
		pps_profile_get_sample_type(p, 0, &t0, &u0);
		pps_profile_get_sample_type(p, 1, &t1, &u1);
		if (!strcmp(t0, "samples") && !strcmp(u0, "count") && !strcmp(u1, "count") && *t1) {
			snprintf(buf, size, "%s", t1);
			return buf;
		}
	}
	fprintf(stderr, "pprofstore: %s: cannot tell the profile type from its sample types (",
		name);
	print_sample_types(p);
	fprintf(stderr, ")%s; give --type NAME\n", shape_is(p, waits, 2) ? ": block or mutex" : "");
	return NULL;
}

/* A log callback that keeps the first error (ctx: char[256]), for one-line messages. */
static void keep_error(enum pps_log_level level, const char *msg, void *ctx)
{
	char *why = ctx;

	if (level == PPS_LOG_ERROR && !*why)
		snprintf(why, 256, "%s", !strncmp(msg, "pprof: ", 7) ? msg + 7 : msg);
}

/* Reads a whole (bounded) file. Returns 0 or -errno. */
static int read_all(const char *path, uint64_t size, uint8_t **out)
{
	uint8_t *buf;
	size_t got = 0;
	ssize_t r;
	int fd;

	if (size > PPROF_MAX)
		return -EFBIG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(size ? size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < size && (r = read(fd, buf + got, size - got)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = -errno;

			free(buf);
			close(fd);
			return err;
		}
		got += (size_t)r;
	}
	close(fd);
	if (got != size) {
		free(buf);
		return -EIO; /* changed while we read it */
	}
	*out = buf;
	return 0;
}

/*
 * Stores one pprof file, all of it in the bucket of its start: the profile carries no
 * per-sample times. The start is --time-origin ("time-origin"), else its time_nanos
 * ("pprof"), else its end anchored as a perf.data's is ("mtime", "ingest-time").
 */
static int ingest_pprof(struct pps_store *s, const struct input *in, struct pps_store_source *src,
			const struct ingest_args *a)
{
	struct pps_profile *p = NULL;
	uint8_t *data = NULL;
	const char *type;
	char type_buf[256], why[256];
	pps_log_fn prev;
	int64_t t, dur, id;
	uint64_t count;
	int err, ret = EXIT_ERROR;

	err = read_all(in->path, src->size, &data);
	if (err) {
		fprintf(stderr, "pprofstore: %s: cannot read: %s\n", in->name, strerror(-err));
		return EXIT_ERROR;
	}
	/* The reader's reason goes into our one line about the file. */
	why[0] = '\0';
	prev = pps_set_log(keep_error, why);
	p = pps_profile_read(data, src->size);
	err = p ? 0 : errno;
	pps_set_log(prev, NULL);
	free(data);
	if (!p) {
		if (err == EPROTO)
			fprintf(
			    stderr,
			    "pprofstore: %s: neither a perf.data recording nor a pprof profile: "
			    "%s\n",
			    in->name,
			    !src->size ? "empty file"
			    : *why     ? why
				       : "unreadable");
		else
			fprintf(stderr, "pprofstore: %s: %s\n", in->name, strerror(err));
		return EXIT_ERROR;
	}
	type = pprof_type(p, in->name, a->type, type_buf, sizeof(type_buf));
	if (!type)
		goto out;
	pps_profile_get_time(p, &t, &dur);
	if (a->has_time_origin) {
		t = a->time_origin_ns;
		src->time_origin = "time-origin";
	} else if (t) {
		src->time_origin = "pprof";
	} else {
		t = in->end_wall_ns - dur;
		src->time_origin = in->anchor;
	}
	pps_profile_set_time(p, t, dur);
	err = pps_store_ingest_profile(s, src, type, p);
	if (err == -EEXIST) {
		if (!a->quiet)
			fprintf(stderr, "pprofstore: %s: already ingested, nothing to do\n",
				in->name);
		ret = EXIT_OK;
		goto out;
	}
	if (err) {
		if (err == -EINVAL)
			fprintf(stderr,
				"pprofstore: %s: not stored: type %s is stored with other sample "
				"types; give another --type\n",
				in->name, type);
		else
			fprintf(stderr, "pprofstore: %s: not stored: %s\n", in->name,
				strerror(-err));
		goto out;
	}
	count = 0;
	for (size_t i = 0; i < pps_profile_nr_samples(p); i++) {
		const uint64_t *locs;
		const int64_t *v;
		size_t nl;

		if (!pps_profile_get_sample(p, i, &locs, &nl, &v))
			count += (uint64_t)v[0];
	}
	if (!a->quiet && pps_store_has_source(s, src->content_hash, src->size, &id) > 0)
		say_stored(in, id, src->time_origin, 1, &type, &count);
	ret = EXIT_OK;
out:
	pps_profile_free(p);
	return ret;
}

int cmd_ingest_file(struct pps_store *s, const char *name, const struct ingest_args *a)
{
	struct input in = {.name = name, .path = name, .spool_fd = -1, .anchor = "mtime"};
	struct pps_store_source src = {.path = name, .tags = a->tags, .nr_tags = a->nr_tags};
	struct stat st;
	int64_t id;
	int err, ret = EXIT_ERROR;

	if (!strcmp(name, "-")) {
		if (spool_stdin(&in))
			return EXIT_ERROR;
		src.path = "(stdin)";
	} else if (stat(name, &st) == 0) {
		/* A perf.data directory ends when perf writes its header, in DIR/data. */
		if (S_ISDIR(st.st_mode)) {
			char data[PATH_MAX];

			if ((size_t)snprintf(data, sizeof(data), "%s/data", name) >= sizeof(data) ||
			    stat(data, &st) != 0)
				st.st_mtim = (struct timespec){0};
		}
		in.end_wall_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	}
	err = pps_store_hash_file(in.path, &src.content_hash, &src.size);
	if (err) {
		fprintf(stderr, "pprofstore: %s: cannot read: %s\n", name, strerror(-err));
		goto out;
	}
	err = pps_store_has_source(s, src.content_hash, src.size, &id);
	if (err < 0)
		goto out;
	if (err > 0) {
		if (!a->quiet)
			fprintf(stderr,
				"pprofstore: %s: already ingested (source %" PRId64
				"), nothing to do\n",
				name, id);
		ret = EXIT_OK;
		goto out;
	}
	ret = is_perf_data(in.path) ? ingest_perf(s, &in, &src, a) : ingest_pprof(s, &in, &src, a);
out:
	if (in.spool_fd >= 0)
		close(in.spool_fd);
	return ret;
}
