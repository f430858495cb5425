/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_reader: perf.data, file mode and pipe mode, streamed.
 *
 * Facts that shaped it:
 * - A recording is mostly SAMPLE records of 50 bytes to a few KiB (callchains); files
 *   run to many GiB, so records are decoded in place in the input buffer and copied only
 *   when they sit misaligned or must wait in the ordered queue.
 * - Every record is untrusted: its size is checked against the fixed layout of its type
 *   before anyone looks inside, and a bad record costs only itself. Only a header size
 *   below 8 (no way to find the next record) or the end of the input stops the stream.
 * - File mode keeps its metadata (features) after the data, so the header and features
 *   are read first with pread; a non-seekable file-mode input is spooled to a temp file.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

#include <perf/event.h>
#include <pprofstore/reader.h>

#include "internal/datadir.h"
#include "internal/evsel.h"
#include "internal/header.h"
#include "internal/input.h"
#include "internal/ordered.h"
#include "internal/util.h"

#define MAX_RECORD_SIZE	  65536u
#define ZSTD_OUT_SIZE	  (1u << 20)
#define DEFAULT_QUEUE_MAX (64u << 20)
/* Problems of one kind reported individually before they are only counted. */
#define MAX_REPORTS 10

/* The on-disk file header (perf_file_header). */
struct file_section {
	uint64_t offset, size;
};
struct file_header {
	uint64_t magic, size, attr_size;
	struct file_section attrs, data, event_types;
	uint64_t adds_features[PPS_FEAT_MAX / 64];
};

/* A byte stream of records, with its own position and zstd state. */
struct stream {
	char *path; /* for messages; main's may be the reader's own path */
	struct pps_input in;
	uint64_t data_end; /* file mode: end of the data section as readable */
	bool done;	   /* no more records can be read from it */
	uint64_t last_time; /* newest record time read from it (directory streams) */

	/* zstd stream for PERF_RECORD_COMPRESSED: input copied from the record, output
	 * parsed into records; a record may straddle two COMPRESSED records. */
	ZSTD_DStream *zds;
	uint8_t *zin;
	size_t zin_size, zin_pos;
	uint8_t *zout;
	size_t zout_head, zout_tail;
	uint64_t zoffset; /* file offset of the COMPRESSED record being expanded */
};

/* A queued record's offset keeps its stream's index above this bit. */
#define STREAM_SHIFT 48

struct pps_reader {
	/* First, apart from what the read-ahead thread writes record by record (the
	 * statistics, the queue, the streams): the caller reads these on every record, and a
	 * cache line the two threads share would go back and forth at each. */
	struct readahead *ra; /* PPS_READER_THREAD: the reading thread, once started */
	bool ra_tried;
	char *path;
	struct pps_event cur; /* what pps_reader_next_ref() hands out without a thread */
	struct stream main; /* the file (in a directory recording: DIR/data) or the pipe */
	struct stream *st;  /* the stream records are being read from */
	/* A directory recording (perf record --threads): its data.N files, each a stream
	 * of raw records, read after main's data section and merged by time. */
	struct stream *dir;
	size_t nr_dir;
	unsigned int dir_count; /* records read from st since it was picked */
	const char *rep_path;	/* the file the record being looked at is in, for report() */
	bool pipe;
	struct pps_env env;
	struct pps_evlist el;
	struct pps_reader_stats stats;
	unsigned int flags;

	bool need_magic; /* fed: the pipe header has not been read yet */
	unsigned int nr_reports;

	uint8_t *scratch; /* aligned copy of a misaligned record */

	struct pps_ordered oq;
	size_t queue_max;

	/* PERF_SAMPLE_READ: each counter's value at its last sample, by id (open addressing,
	 * at most half full), and the values handed out with the current sample. */
	struct read_last {
		uint64_t id, value;
		bool used;
	} * rl;
	size_t rl_cap, rl_used;
	struct pps_read_value *rv;
	size_t rv_cap;
};

static void ra_stop(struct pps_reader *r);
static const uint8_t *ra_place(struct readahead *ra, const uint8_t *rec, size_t size);
static bool changes_reader(uint32_t type);
static void ra_barrier(struct pps_reader *r);

/* A record read from the stream, not yet delivered. */
struct raw_rec {
	const uint8_t *p;
	uint32_t type;
	uint16_t size;
	uint64_t offset;
	bool compressed;
	uint64_t trailing;
};

static const char *const record_names[PPS_NR_RECORD_TYPES] = {
	[PERF_RECORD_MMAP] = "MMAP",
	[PERF_RECORD_LOST] = "LOST",
	[PERF_RECORD_COMM] = "COMM",
	[PERF_RECORD_EXIT] = "EXIT",
	[PERF_RECORD_THROTTLE] = "THROTTLE",
	[PERF_RECORD_UNTHROTTLE] = "UNTHROTTLE",
	[PERF_RECORD_FORK] = "FORK",
	[PERF_RECORD_READ] = "READ",
	[PERF_RECORD_SAMPLE] = "SAMPLE",
	[PERF_RECORD_MMAP2] = "MMAP2",
	[PERF_RECORD_AUX] = "AUX",
	[PERF_RECORD_ITRACE_START] = "ITRACE_START",
	[PERF_RECORD_LOST_SAMPLES] = "LOST_SAMPLES",
	[PERF_RECORD_SWITCH] = "SWITCH",
	[PERF_RECORD_SWITCH_CPU_WIDE] = "SWITCH_CPU_WIDE",
	[PERF_RECORD_NAMESPACES] = "NAMESPACES",
	[PERF_RECORD_KSYMBOL] = "KSYMBOL",
	[PERF_RECORD_BPF_EVENT] = "BPF_EVENT",
	[PERF_RECORD_CGROUP] = "CGROUP",
	[PERF_RECORD_TEXT_POKE] = "TEXT_POKE",
	[PERF_RECORD_AUX_OUTPUT_HW_ID] = "AUX_OUTPUT_HW_ID",
	[PERF_RECORD_HEADER_ATTR] = "ATTR",
	[PERF_RECORD_HEADER_EVENT_TYPE] = "EVENT_TYPE",
	[PERF_RECORD_HEADER_TRACING_DATA] = "TRACING_DATA",
	[PERF_RECORD_HEADER_BUILD_ID] = "BUILD_ID",
	[PERF_RECORD_FINISHED_ROUND] = "FINISHED_ROUND",
	[PERF_RECORD_ID_INDEX] = "ID_INDEX",
	[PERF_RECORD_AUXTRACE_INFO] = "AUXTRACE_INFO",
	[PERF_RECORD_AUXTRACE] = "AUXTRACE",
	[PERF_RECORD_AUXTRACE_ERROR] = "AUXTRACE_ERROR",
	[PERF_RECORD_THREAD_MAP] = "THREAD_MAP",
	[PERF_RECORD_CPU_MAP] = "CPU_MAP",
	[PERF_RECORD_STAT_CONFIG] = "STAT_CONFIG",
	[PERF_RECORD_STAT] = "STAT",
	[PERF_RECORD_STAT_ROUND] = "STAT_ROUND",
	[PERF_RECORD_EVENT_UPDATE] = "EVENT_UPDATE",
	[PERF_RECORD_TIME_CONV] = "TIME_CONV",
	[PERF_RECORD_HEADER_FEATURE] = "FEATURE",
	[PERF_RECORD_COMPRESSED] = "COMPRESSED",
	[PERF_RECORD_FINISHED_INIT] = "FINISHED_INIT",
};

PPS_API const char *pps_record_type_name(uint32_t type)
{
	return type < PPS_NR_RECORD_TYPES ? record_names[type] : NULL;
}

/*
 * Reports one damaged spot: file, offset, record type and reason. After MAX_REPORTS
 * only the counters grow; pps_reader_free() is not the place for a summary, the caller
 * reads the stats.
 */
static void report(struct pps_reader *r, uint64_t offset, uint32_t type, const char *fmt, ...)
	PPS_PRINTF(4, 5);
static void report(struct pps_reader *r, uint64_t offset, uint32_t type, const char *fmt, ...)
{
	char why[512];
	const char *tn = pps_record_type_name(type);
	va_list ap;

	if (r->nr_reports++ >= MAX_REPORTS) {
		if (r->nr_reports == MAX_REPORTS + 1)
			pps_warn("%s: more damaged records; further ones are only counted",
				 r->rep_path);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (tn)
		pps_warn("%s: offset %#" PRIx64 ": %s record: %s", r->rep_path, offset, tn, why);
	else
		pps_warn("%s: offset %#" PRIx64 ": record type %u: %s", r->rep_path, offset, type,
			 why);
}

/* ---- opening ---------------------------------------------------------------------- */

static int read_file_attrs(struct pps_reader *r, const struct file_header *fh, uint64_t fsize)
{
	uint64_t nr, entry = fh->attr_size;
	uint8_t *buf = NULL;
	uint64_t *ids = NULL;
	int err = 0;

	if (entry < 64 + sizeof(struct file_section) || entry > 4096) {
		pps_err("%s: header: attr size %" PRIu64 " is not a perf_event_attr size",
			r->main.path, entry);
		return PPS_CORRUPT;
	}
	if (fh->attrs.offset > fsize || fh->attrs.size > fsize - fh->attrs.offset) {
		pps_err("%s: header: attrs section [%#" PRIx64 ", +%" PRIu64
			"] lies outside the file (%" PRIu64 " bytes)",
			r->main.path, fh->attrs.offset, fh->attrs.size, fsize);
		return PPS_CORRUPT;
	}
	nr = fh->attrs.size / entry;
	buf = malloc(entry);
	if (!buf)
		return -ENOMEM;
	for (uint64_t i = 0; i < nr; i++) {
		uint64_t off = fh->attrs.offset + i * entry;
		struct file_section ids_sec;
		struct pps_evsel *e;
		size_t nr_ids;

		err = pps_input_pread(&r->st->in, buf, (size_t)entry, off);
		if (err)
			goto out_free;
		memcpy(&ids_sec, buf + entry - sizeof(ids_sec), sizeof(ids_sec));
		e = pps_evlist_add(&r->el, buf, (size_t)(entry - sizeof(ids_sec)));
		if (!e) {
			err = -errno;
			pps_err("%s: offset %#" PRIx64 ": attr %" PRIu64 " is malformed",
				r->main.path, off, i);
			goto out_free;
		}
		if (ids_sec.offset > fsize || ids_sec.size > fsize - ids_sec.offset) {
			pps_err("%s: offset %#" PRIx64 ": ids of attr %" PRIu64
				" lie outside the file",
				r->main.path, off, i);
			err = PPS_CORRUPT;
			goto out_free;
		}
		nr_ids = (size_t)(ids_sec.size / 8);
		if (!nr_ids)
			continue;
		ids = malloc(nr_ids * 8);
		if (!ids) {
			err = -ENOMEM;
			goto out_free;
		}
		err = pps_input_pread(&r->st->in, ids, nr_ids * 8, ids_sec.offset);
		if (!err)
			err = pps_evsel_add_ids(&r->el, e, ids, nr_ids);
		free(ids);
		ids = NULL;
		if (err)
			goto out_free;
	}
out_free:
	free(buf);
	return err;
}

static void read_file_features(struct pps_reader *r, const struct file_header *fh,
			       uint64_t fsize)
{
	uint64_t table = fh->data.offset + fh->data.size;
	int nr = 0;

	for (int f = 0; f < PPS_FEAT_MAX; f++)
		nr += !!(fh->adds_features[f / 64] & (1ULL << (f % 64)));
	if (!nr)
		return;
	if (table > fsize || (uint64_t)nr * sizeof(struct file_section) > fsize - table) {
		pps_warn("%s: offset %#" PRIx64 ": feature table lies past the end of the file; "
			 "header features (host, event names, build-ids) are lost",
			 r->main.path, table);
		return;
	}
	for (int f = 0, i = 0; f < PPS_FEAT_MAX; f++) {
		struct file_section sec;
		void *data;
		int err;

		if (!(fh->adds_features[f / 64] & (1ULL << (f % 64))))
			continue;
		err = pps_input_pread(&r->st->in, &sec, sizeof(sec),
				      table + (uint64_t)i++ * sizeof(sec));
		if (err)
			break;
		if (sec.offset > fsize || sec.size > fsize - sec.offset ||
		    sec.size > PPS_MAX_FEATURE_SIZE) {
			pps_warn("%s: offset %#" PRIx64 ": feature %s section [%#" PRIx64
				 ", +%" PRIu64 "] is outside the file; skipped",
				 r->main.path, table,
				 pps_feature_name(f) ? pps_feature_name(f) : "?", sec.offset,
				 sec.size);
			continue;
		}
		data = malloc(sec.size ? (size_t)sec.size : 1);
		if (!data)
			break;
		err = pps_input_pread(&r->st->in, data, (size_t)sec.size, sec.offset);
		if (!err)
			err = pps_env_parse_feature(&r->env, &r->el, f, data, (size_t)sec.size);
		if (err)
			pps_warn("%s: offset %#" PRIx64 ": feature %s is malformed; skipped",
				 r->main.path, sec.offset,
				 pps_feature_name(f) ? pps_feature_name(f) : "?");
		free(data);
	}
}

static int open_file_mode(struct pps_reader *r)
{
	struct file_header fh;
	uint64_t fsize, end;
	int err;

	err = pps_input_spool(&r->st->in);
	if (err) {
		pps_err("%s: cannot spool a file-mode recording from a pipe: %s", r->main.path,
			strerror(-err));
		return err;
	}
	memset(&fh, 0, sizeof(fh));
	err = pps_input_pread(&r->st->in, &fh, offsetof(struct file_header, adds_features), 0);
	if (err) {
		pps_err("%s: truncated inside the file header", r->main.path);
		return PPS_CORRUPT;
	}
	fsize = pps_input_size(&r->st->in);
	if (fh.size >= sizeof(fh))
		(void)pps_input_pread(&r->st->in, fh.adds_features, sizeof(fh.adds_features),
				      offsetof(struct file_header, adds_features));
	err = read_file_attrs(r, &fh, fsize);
	if (err)
		return err;
	if (fh.data.offset > fsize) {
		pps_err("%s: header: data section starts at %#" PRIx64 ", past the end (%" PRIu64
			" bytes)",
			r->main.path, fh.data.offset, fsize);
		return PPS_CORRUPT;
	}
	end = fh.data.offset + fh.data.size;
	if (fh.data.size == 0) {
		/* perf record killed before it wrote the header: data runs to the end. */
		pps_warn("%s: the header says the data section is empty (perf record did not "
			 "finish?); reading records to the end of the file",
			 r->main.path);
		end = fsize;
		r->stats.truncated = true;
	} else if (end < fh.data.offset || end > fsize) {
		r->stats.truncated = true;
		r->stats.truncated_bytes = (end < fh.data.offset ? UINT64_MAX : end) - fsize;
		pps_warn("%s: truncated: the data section should end at %#" PRIx64
			 " but the file has %" PRIu64 " bytes; %" PRIu64 " bytes are lost",
			 r->main.path, end, fsize, r->stats.truncated_bytes);
		end = fsize;
	} else {
		read_file_features(r, &fh, fsize);
	}
	r->st->data_end = end;
	err = pps_input_seek(&r->st->in, fh.data.offset);
	r->st->in.limit = end;
	return err;
}

/* The state both constructors start from. NULL with errno (EINVAL, ENOMEM). */
static struct pps_reader *reader_alloc(const char *path, const struct pps_reader_opts *opts)
{
	struct pps_reader *r;

	if (!path || (opts && opts->sz < offsetof(struct pps_reader_opts, max_queue_bytes))) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	r->path = strdup(path);
	r->scratch = aligned_alloc(8, MAX_RECORD_SIZE);
	if (!r->path || !r->scratch) {
		pps_reader_free(r);
		errno = ENOMEM;
		return NULL;
	}
	r->st = &r->main;
	r->rep_path = r->main.path = r->path;
	r->main.in.fd = -1;
	r->stats.first_time = r->stats.last_time = PPS_NO_TIME;
	if (opts) {
		r->flags = opts->flags;
		if (opts->sz >= sizeof(*opts))
			r->queue_max = opts->max_queue_bytes;
	}
	if (!r->queue_max)
		r->queue_max = DEFAULT_QUEUE_MAX;
	pps_ordered_init(&r->oq);
	return r;
}

/*
 * A directory recording's data.N files (perf record --threads: each thread's ring buffers,
 * raw records with no header), as streams read after the main file's data section. Read
 * when the header says so (DIR_FORMAT version 1), or when the header's features were
 * lost to truncation and the files are there. 0 or negative errno (reported).
 */
static int open_dir(struct pps_reader *r, bool is_dir)
{
	char **files;
	int n, err = 0;

	if (!pps_reader_has_feature(r, PPS_FEAT_DIR_FORMAT)) {
		if (!is_dir || !r->stats.truncated)
			return 0;
	} else if (!is_dir) {
		pps_warn("%s: the header says its records are in data.N files of a directory "
			 "(perf record --threads), but this is a file on its own: only its own "
			 "records are read",
			 r->path);
		return 0;
	} else if (r->env.dir_version != 1) {
		pps_warn("%s: directory layout version %" PRIu64 " is not known (1 is); only "
			 "%s is read",
			 r->path, r->env.dir_version, r->main.path);
		return 0;
	}
	n = pps_datadir_files(r->path, &files);
	if (n < 0) {
		pps_err("%s: cannot list the directory: %s", r->path, strerror(-n));
		return n;
	}
	/* The stream index goes into the top bits of a queued record's offset. */
	if ((unsigned int)n >= 1u << (64 - STREAM_SHIFT)) {
		pps_err("%s: %d data.N files are more than this reader can merge", r->path, n);
		err = -E2BIG;
		goto out;
	}
	r->dir = calloc(n ? (size_t)n : 1, sizeof(*r->dir));
	if (!r->dir) {
		err = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct stream *st = &r->dir[r->nr_dir++];

		st->path = files[i];
		files[i] = NULL;
		/* Many of them on a big machine: a smaller buffer each. */
		err = pps_input_open_cap(&st->in, st->path, n > 8 ? 256u << 10 : 0);
		if (err) {
			pps_err("%s: %s", st->path, strerror(-err));
			break;
		}
		st->data_end = pps_input_size(&st->in);
	}
out:
	pps_datadir_free(files, (size_t)n);
	return err;
}

PPS_API struct pps_reader *pps_reader_open(const char *path, const struct pps_reader_opts *opts)
{
	bool is_dir = false;
	struct pps_reader *r;
	const uint8_t *p;
	uint64_t magic_size[2];
	size_t avail;
	int err;

	r = reader_alloc(path, opts);
	if (!r)
		return NULL;
	/* perf record --threads (or --kcore) writes a directory: the header is in DIR/data. */
	if (pps_datadir_is(path)) {
		err = -ENOMEM;
		r->rep_path = r->main.path = pps_datadir_main(path);
		if (!r->main.path)
			goto out_free;
		is_dir = true;
	}
	err = pps_input_open(&r->st->in, r->main.path);
	if (err) {
		pps_err("%s: %s", r->main.path, strerror(-err));
		goto out_free;
	}
	p = pps_input_peek(&r->st->in, 16, &avail);
	if (!p) {
		pps_err("%s: not a perf.data file: %zu bytes, shorter than any perf header",
			r->main.path, avail);
		err = -EINVAL;
		goto out_free;
	}
	memcpy(magic_size, p, 16);
	if (memcmp(p, "PERFILE2", 8) != 0 && memcmp(p, "PERFFILE", 8) != 0) {
		if (memcmp(p, "2ELIFREP", 8) == 0)
			pps_err("%s: a big-endian recording; only little-endian perf.data is "
				"supported",
				r->main.path);
		else
			pps_err("%s: not a perf.data file (no PERFILE2 magic at offset 0)",
				r->main.path);
		err = -EINVAL;
		goto out_free;
	}
	if (magic_size[1] == 16) {
		r->pipe = true;
		pps_input_consume(&r->st->in, 16);
	} else if (magic_size[1] >= offsetof(struct file_header, adds_features) &&
		   magic_size[1] <= 4096) {
		err = open_file_mode(r);
		if (!err)
			err = open_dir(r, is_dir);
		if (err) {
			if (err != -ENOMEM && err != PPS_CORRUPT)
				pps_err("%s: %s", path, strerror(-err));
			goto out_free;
		}
	} else {
		pps_err("%s: header size %" PRIu64 " is neither pipe (16) nor file mode (104)",
			r->main.path, magic_size[1]);
		err = PPS_CORRUPT;
		goto out_free;
	}
	return r;

out_free:
	pps_reader_free(r);
	errno = err == -ENOMEM ? ENOMEM : (err == PPS_CORRUPT ? EPROTO : -err);
	return NULL;
}

PPS_API struct pps_reader *pps_reader_new_fed(const char *name, const struct pps_reader_opts *opts)
{
	struct pps_reader *r = reader_alloc(name, opts);
	int err;

	if (!r)
		return NULL;
	err = pps_input_open_fed(&r->st->in);
	if (err) {
		pps_reader_free(r);
		errno = -err;
		return NULL;
	}
	r->pipe = true;
	r->need_magic = true;
	return r;
}

PPS_API int pps_reader_feed(struct pps_reader *r, const void *data, size_t n)
{
	return pps_input_feed(&r->st->in, data, n);
}

PPS_API void pps_reader_feed_end(struct pps_reader *r)
{
	pps_input_feed_end(&r->st->in);
}

PPS_API void pps_reader_release(struct pps_reader *r, uint64_t time)
{
	pps_ordered_release_to(&r->oq, time);
}

static void stream_release(struct stream *st)
{
	pps_input_release(&st->in);
	ZSTD_freeDStream(st->zds);
	free(st->zin);
	free(st->zout);
}

PPS_API void pps_reader_free(struct pps_reader *r)
{
	if (!r)
		return;
	ra_stop(r);
	pps_ordered_release(&r->oq);
	stream_release(&r->main);
	for (size_t i = 0; i < r->nr_dir; i++) {
		stream_release(&r->dir[i]);
		free(r->dir[i].path);
	}
	free(r->dir);
	pps_env_release(&r->env);
	pps_evlist_release(&r->el);
	free(r->rl);
	free(r->rv);
	free(r->scratch);
	if (r->main.path != r->path)
		free(r->main.path);
	free(r->path);
	free(r);
}

/* ---- record validation ------------------------------------------------------------ */

static bool has_nul(const uint8_t *p, size_t from, size_t to)
{
	return from < to && memchr(p + from, '\0', to - from) != NULL;
}

/*
 * Checks that the fixed part of a record of a known type fits in it and that its strings
 * end inside it. Returns NULL when the record may be used, else why not.
 */
static const char *validate(const struct pps_reader *r, const uint8_t *p, uint32_t type,
			    size_t size)
{
	struct pps_evsel *e = r->el.nr ? r->el.v[0] : NULL;
	size_t body = size;

	/* Kernel records carry the sample_id_all trailer after their own fields. */
	if (type < PERF_RECORD_USER_TYPE_START && type != PERF_RECORD_SAMPLE && e &&
	    e->attr.sample_id_all && body >= 8 + e->id_hdr_size)
		body -= e->id_hdr_size;

	switch (type) {
	case PERF_RECORD_MMAP:
		return has_nul(p, 40, body) ? NULL : "file name is not terminated inside the record";
	case PERF_RECORD_MMAP2:
		return has_nul(p, 72, body) ? NULL : "file name is not terminated inside the record";
	case PERF_RECORD_COMM:
		return has_nul(p, 16, body) ? NULL : "comm is not terminated inside the record";
	case PERF_RECORD_EXIT:
	case PERF_RECORD_FORK:
		return size >= 32 ? NULL : "shorter than its fixed fields";
	case PERF_RECORD_LOST:
		return size >= 24 ? NULL : "shorter than its fixed fields";
	case PERF_RECORD_LOST_SAMPLES:
	case PERF_RECORD_ITRACE_START:
	case PERF_RECORD_SWITCH_CPU_WIDE:
	case PERF_RECORD_AUX_OUTPUT_HW_ID:
		return size >= 16 ? NULL : "shorter than its fixed fields";
	case PERF_RECORD_THROTTLE:
	case PERF_RECORD_UNTHROTTLE:
	case PERF_RECORD_AUX:
		return size >= 32 ? NULL : "shorter than its fixed fields";
	case PERF_RECORD_READ:
		return size >= 24 ? NULL : "shorter than its fixed fields";
	case PERF_RECORD_NAMESPACES: {
		uint64_t nr;

		if (size < 24)
			return "shorter than its fixed fields";
		memcpy(&nr, p + 16, 8);
		return nr <= (size - 24) / 16 ? NULL : "namespace count exceeds the record";
	}
	case PERF_RECORD_KSYMBOL:
		return has_nul(p, 24, body) ? NULL : "name is not terminated inside the record";
	case PERF_RECORD_BPF_EVENT:
		return size >= 24 ? NULL : "shorter than its fixed fields";
	case PERF_RECORD_CGROUP:
		return has_nul(p, 16, body) ? NULL : "path is not terminated inside the record";
	case PERF_RECORD_TEXT_POKE: {
		uint16_t old_len, new_len;

		if (size < 20)
			return "shorter than its fixed fields";
		memcpy(&old_len, p + 16, 2);
		memcpy(&new_len, p + 18, 2);
		return (size_t)old_len + new_len <= size - 20 ? NULL : "bytes exceed the record";
	}
	case PERF_RECORD_HEADER_ATTR:
		return size >= 8 + 64 ? NULL : "shorter than a perf_event_attr";
	case PERF_RECORD_HEADER_TRACING_DATA:
		return size >= 12 ? NULL : "shorter than its fixed fields";
	case PERF_RECORD_HEADER_BUILD_ID:
		return size >= 36 ? NULL : "shorter than its fixed fields";
	case PERF_RECORD_ID_INDEX: {
		uint64_t nr;

		if (size < 16)
			return "shorter than its fixed fields";
		memcpy(&nr, p + 8, 8);
		return nr <= (size - 16) / 32 ? NULL : "entry count exceeds the record";
	}
	case PERF_RECORD_AUXTRACE_INFO:
		return size >= 16 ? NULL : "shorter than its fixed fields";
	case PERF_RECORD_AUXTRACE:
		return size >= 48 ? NULL : "shorter than its fixed fields";
	case PERF_RECORD_EVENT_UPDATE:
		return size >= 24 ? NULL : "shorter than its fixed fields";
	case PERF_RECORD_TIME_CONV:
		return size >= 32 ? NULL : "shorter than its fixed fields";
	case PERF_RECORD_HEADER_FEATURE:
		return size >= 16 ? NULL : "shorter than its fixed fields";
	case PERF_RECORD_THREAD_MAP:
	case PERF_RECORD_CPU_MAP:
	case PERF_RECORD_STAT_CONFIG:
	case PERF_RECORD_STAT:
	case PERF_RECORD_STAT_ROUND:
		return size >= 16 ? NULL : "shorter than its fixed fields";
	default:
		return NULL;
	}
}

static bool known_type(uint32_t type)
{
	return type < PPS_NR_RECORD_TYPES && record_names[type] != NULL;
}

/* ---- the raw stream: file/pipe bytes and decompressed bytes ------------------------- */

static int zstd_start(struct pps_reader *r)
{
	if (r->st->zds)
		return 0;
	r->st->zds = ZSTD_createDStream();
	r->st->zin = malloc(MAX_RECORD_SIZE);
	r->st->zout = aligned_alloc(8, ZSTD_OUT_SIZE);
	if (!r->st->zds || !r->st->zin || !r->st->zout)
		return -ENOMEM;
	ZSTD_initDStream(r->st->zds);
	return 0;
}

/*
 * Next record from the decompressed bytes of COMPRESSED records, decompressing more as
 * needed. 1: *rec filled; 0: the current COMPRESSED input is used up.
 */
static int next_decompressed(struct pps_reader *r, struct raw_rec *rec)
{
	for (;;) {
		size_t have = r->st->zout_tail - r->st->zout_head;
		struct perf_event_header h;

		if (have >= sizeof(h)) {
			memcpy(&h, r->st->zout + r->st->zout_head, sizeof(h));
			if (h.size < sizeof(h)) {
				report(r, r->st->zoffset, PERF_RECORD_COMPRESSED,
				       "decompressed record with size %u; the rest of this "
				       "compressed stream is lost",
				       h.size);
				r->stats.nr_bad_records++;
				r->st->zout_head = r->st->zout_tail = 0;
				r->st->zin_pos = r->st->zin_size;
				ZSTD_initDStream(r->st->zds);
				return 0;
			}
			if (have >= h.size) {
				rec->p = r->st->zout + r->st->zout_head;
				rec->type = h.type;
				rec->size = h.size;
				rec->offset = r->st->zoffset;
				rec->compressed = true;
				rec->trailing = 0;
				r->st->zout_head += h.size;
				return 1;
			}
		}
		if (r->st->zin_pos >= r->st->zin_size)
			return 0;
		/* Keep the partial record at the start, aligned, and decompress after it. */
		if (r->st->zout_head) {
			memmove(r->st->zout, r->st->zout + r->st->zout_head, have);
			r->st->zout_head = 0;
			r->st->zout_tail = have;
		}
		{
			ZSTD_inBuffer zi = {r->st->zin, r->st->zin_size, r->st->zin_pos};
			ZSTD_outBuffer zo = {r->st->zout, ZSTD_OUT_SIZE, r->st->zout_tail};
			size_t ret = ZSTD_decompressStream(r->st->zds, &zo, &zi);

			if (ZSTD_isError(ret)) {
				report(r, r->st->zoffset, PERF_RECORD_COMPRESSED, "zstd: %s",
				       ZSTD_getErrorName(ret));
				r->stats.nr_bad_records++;
				r->st->zout_head = r->st->zout_tail = 0;
				r->st->zin_pos = r->st->zin_size;
				ZSTD_initDStream(r->st->zds);
				return 0;
			}
			r->stats.bytes_decompressed += zo.pos - r->st->zout_tail;
			r->st->zin_pos = zi.pos;
			r->st->zout_tail = zo.pos;
		}
	}
}

static void mark_truncated(struct pps_reader *r, uint64_t offset, uint32_t type, size_t need,
			   size_t have)
{
	r->stats.truncated = true;
	r->stats.truncated_bytes += need - have;
	if (have < sizeof(struct perf_event_header))
		report(r, offset, UINT32_MAX, "the data ends %zu bytes into a record header", have);
	else
		report(r, offset, type, "the data ends inside the record (%zu of %zu bytes)", have,
		       need);
	r->st->done = true;
}

/* Reads trailing bytes that follow a record in the stream. */
static int read_trailing_blob(struct pps_reader *r, uint64_t n, void **out)
{
	uint8_t *buf;
	uint64_t done = 0;

	*out = NULL;
	if (n > PPS_MAX_TRACING_DATA)
		return PPS_CORRUPT;
	buf = malloc(n ? (size_t)n : 1);
	if (!buf)
		return -ENOMEM;
	while (done < n) {
		size_t avail, want = n - done < (2u << 20) ? (size_t)(n - done) : (2u << 20);
		const uint8_t *p = pps_input_peek(&r->st->in, want, &avail);

		if (!p && !avail)
			break;
		if (avail > want)
			avail = want;
		memcpy(buf + done, r->st->in.buf + r->st->in.head, avail);
		pps_input_consume(&r->st->in, avail);
		done += avail;
	}
	if (done < n) {
		free(buf);
		return -ENODATA;
	}
	*out = buf;
	return 0;
}

/*
 * Fed input: whether the bytes that follow a record in the stream (pipe-mode tracing
 * data, AUXTRACE data) have all been fed, so that the record can be consumed with them.
 * Sizes too short or too big to hold a length are left to validation and the normal path.
 */
static bool fed_trailing_ready(struct pps_reader *r, const uint8_t *p,
			       const struct perf_event_header *h)
{
	uint64_t trailing;
	uint32_t size32;
	size_t avail;

	if (h->type == PERF_RECORD_HEADER_TRACING_DATA && h->size >= 12) {
		memcpy(&size32, p + 8, 4);
		trailing = PPS_ALIGN8((uint64_t)size32);
	} else if (h->type == PERF_RECORD_AUXTRACE && h->size >= 48) {
		memcpy(&trailing, p + 8, 8);
	} else {
		return true;
	}
	if (trailing > PPS_MAX_TRACING_DATA)
		return true;
	return pps_input_peek(&r->st->in, h->size + (size_t)trailing, &avail) != NULL;
}

/* Fed input: the 16-byte pipe-mode header. 1: read; -EAGAIN: not all fed yet; -EPROTO:
 * the stream ended before it or is not a pipe-mode perf.data (reported, fatal). */
static int fed_magic(struct pps_reader *r)
{
	uint64_t magic_size[2];
	const uint8_t *p;
	size_t avail;

	p = pps_input_peek(&r->st->in, sizeof(magic_size), &avail);
	if (!p && !r->st->in.eof)
		return -EAGAIN;
	if (p)
		memcpy(magic_size, p, sizeof(magic_size));
	if (!p || memcmp(p, "PERFILE2", 8) != 0 || magic_size[1] != 16) {
		pps_err("%s: not a pipe-mode perf.data stream (no PERFILE2 magic with header "
			"size 16 at offset 0)",
			r->path);
		r->st->done = true;
		r->stats.truncated = !p;
		return PPS_CORRUPT;
	}
	pps_input_consume(&r->st->in, sizeof(magic_size));
	r->need_magic = false;
	return 1;
}

/* next_raw() within the current stream r->st. */
static int stream_next_raw(struct pps_reader *r, struct raw_rec *rec)
{
	r->rep_path = r->st->path;
	for (;;) {
		struct perf_event_header h;
		const uint8_t *p;
		const char *why;
		size_t avail;
		uint64_t offset;
		int ret;

		if (r->st->zds && (ret = next_decompressed(r, rec)) != 0)
			goto got_record;
		if (r->st->done)
			return 0;
		if (r->need_magic) {
			ret = fed_magic(r);
			if (ret <= 0)
				return ret;
		}
		offset = r->st->in.pos;
		p = pps_input_peek(&r->st->in, sizeof(h), &avail);
		if (!p) {
			if (r->st->in.fed && !r->st->in.eof)
				return -EAGAIN;
			if (r->st->in.err) {
				pps_err("%s: offset %#" PRIx64 ": read error: %s", r->path, offset,
					strerror(-r->st->in.err));
				r->st->done = true;
				return r->st->in.err;
			}
			if (avail)
				mark_truncated(r, offset, UINT32_MAX, sizeof(h), avail);
			r->st->done = true;
			if (r->st->zds && r->st->zout_tail > r->st->zout_head) {
				report(r, r->st->zoffset, PERF_RECORD_COMPRESSED,
				       "%zu decompressed bytes end inside a record",
				       r->st->zout_tail - r->st->zout_head);
				r->stats.truncated = true;
			}
			return 0;
		}
		memcpy(&h, p, sizeof(h));
		if (h.size < sizeof(h)) {
			report(r, offset, h.type,
			       "header size %u is smaller than a record header; the rest of the "
			       "data cannot be read",
			       h.size);
			if (!r->pipe && r->st->data_end > offset)
				r->stats.truncated_bytes += r->st->data_end - offset;
			r->stats.nr_bad_records++;
			r->stats.truncated = true;
			r->st->done = true;
			return 0;
		}
		p = pps_input_peek(&r->st->in, h.size, &avail);
		if (!p) {
			if (r->st->in.fed && !r->st->in.eof)
				return -EAGAIN;
			if (r->st->in.err)
				continue; /* reported above on the next pass */
			mark_truncated(r, offset, h.type, h.size, avail);
			return 0;
		}
		if (r->st->in.fed && !r->st->in.eof && !fed_trailing_ready(r, p, &h))
			return -EAGAIN;
		rec->p = p;
		rec->type = h.type;
		rec->size = h.size;
		rec->offset = offset;
		rec->compressed = false;
		rec->trailing = 0;
		pps_input_consume(&r->st->in, h.size);

got_record:
		if (!known_type(rec->type)) {
			r->stats.nr_unknown_type++;
			continue;
		}
		/* Misaligned records (after pipe-mode tracing data) are copied to aligned memory. */
		if ((uintptr_t)rec->p & 7) {
			memcpy(r->scratch, rec->p, rec->size);
			rec->p = r->scratch;
		}
		why = validate(r, rec->p, rec->type, rec->size);
		if (why) {
			report(r, rec->offset, rec->type, "%s", why);
			r->stats.nr_bad_records++;
			continue;
		}
		r->stats.nr_records[rec->type]++;
		return 1;
	}
}

/*
 * Picks the stream to read on in a directory recording: of the data.N streams not done,
 * the one whose newest record is oldest, so that they advance in time together and the
 * ordering queue only has to hold the spread between them. false: none is left.
 */
static bool pick_stream(struct pps_reader *r)
{
	struct stream *best = NULL;

	for (size_t i = 0; i < r->nr_dir; i++) {
		struct stream *st = &r->dir[i];

		if (!st->done && (!best || st->last_time < best->last_time))
			best = st;
	}
	if (!best)
		return false;
	r->st = best;
	r->dir_count = 0;
	return true;
}

/* How many records are read from one data.N stream before pick_stream() looks again. */
#define DIR_TURN 64

/*
 * Next record in stream order, validated, with user records applied to the reader
 * (attrs, features, tracing data, compressed data). 1: *rec; 0: end; <0: fatal.
 */
static int next_raw(struct pps_reader *r, struct raw_rec *rec)
{
	for (;;) {
		int ret;

		if (r->st != &r->main && ++r->dir_count >= DIR_TURN)
			pick_stream(r);
		ret = stream_next_raw(r, rec);
		if (ret != 0)
			return ret;
		/* This stream has ended (done is set). */
		if (!pick_stream(r))
			return 0;
	}
}

/* 0 for the main stream, i + 1 for data.N stream i: kept with a queued record in the top
 * bits of its offset (STREAM_SHIFT), for messages. */
static uint64_t stream_tag(const struct pps_reader *r)
{
	return r->st == &r->main ? 0 : (uint64_t)(r->st - r->dir + 1) << STREAM_SHIFT;
}

/* ---- applying user records -------------------------------------------------------- */

static void apply_attr(struct pps_reader *r, const struct raw_rec *rec)
{
	uint32_t asz;
	struct pps_evsel *e;
	size_t nr_ids;

	memcpy(&asz, rec->p + 8 + offsetof(struct perf_event_attr, size), 4);
	if (asz == 0)
		asz = 64;
	if (asz > rec->size - 8u) {
		report(r, rec->offset, rec->type, "attr size %u exceeds the record", asz);
		return;
	}
	e = pps_evlist_add(&r->el, rec->p + 8, asz);
	if (!e) {
		report(r, rec->offset, rec->type, "malformed attr");
		return;
	}
	nr_ids = (rec->size - 8u - asz) / 8;
	if (pps_evsel_add_ids(&r->el, e, (const uint64_t *)(const void *)(rec->p + 8 + asz),
			      nr_ids))
		report(r, rec->offset, rec->type, "out of memory for %zu ids", nr_ids);
}

static void apply_event_update(struct pps_reader *r, const struct raw_rec *rec)
{
	uint64_t type, id;
	struct pps_evsel *e;

	memcpy(&type, rec->p + 8, 8);
	memcpy(&id, rec->p + 16, 8);
	if (type != PERF_EVENT_UPDATE__NAME)
		return;
	e = pps_evlist_find_id(&r->el, id);
	if (e && rec->size > 24)
		(void)pps_evsel_set_name(e, (const char *)rec->p + 24, rec->size - 24u);
}

/* Applies what a user record tells the reader; sets rec->trailing and consumes it. */
static int apply_user(struct pps_reader *r, struct raw_rec *rec)
{
	int err;

	switch (rec->type) {
	case PERF_RECORD_HEADER_ATTR:
		apply_attr(r, rec);
		break;
	case PERF_RECORD_EVENT_UPDATE:
		apply_event_update(r, rec);
		break;
	case PERF_RECORD_HEADER_BUILD_ID:
		if (pps_env_add_build_id(&r->env, rec->p, rec->size))
			report(r, rec->offset, rec->type, "malformed build-id record");
		break;
	case PERF_RECORD_HEADER_FEATURE: {
		uint64_t feat;

		memcpy(&feat, rec->p + 8, 8);
		if (feat < PPS_FEAT_MAX &&
		    pps_env_parse_feature(&r->env, &r->el, (int)feat, rec->p + 16, rec->size - 16u))
			report(r, rec->offset, rec->type, "malformed %s feature",
			       pps_feature_name((int)feat) ? pps_feature_name((int)feat) : "?");
		break;
	}
	case PERF_RECORD_HEADER_TRACING_DATA: {
		uint32_t size;
		void *blob;

		/* The tracing data follows the record, padded to 8 bytes (pipe mode). */
		memcpy(&size, rec->p + 8, 4);
		rec->trailing = PPS_ALIGN8((uint64_t)size);
		if (rec->compressed)
			break;
		err = read_trailing_blob(r, rec->trailing, &blob);
		if (err == -ENODATA) {
			mark_truncated(r, rec->offset, rec->type, (size_t)rec->trailing, 0);
			return 0;
		}
		if (err) {
			report(r, rec->offset, rec->type, "tracing data of %u bytes is unusable", size);
			return err == -ENOMEM ? err : 0;
		}
		err = pps_env_set_tracing_data(&r->env, blob, size);
		free(blob);
		if (!err)
			r->env.feat_bits[0] |= 1ULL << PPS_FEAT_TRACING_DATA;
		break;
	}
	case PERF_RECORD_AUXTRACE: {
		uint64_t size;

		memcpy(&size, rec->p + 8, 8);
		rec->trailing = size;
		if (rec->compressed)
			break;
		if (pps_input_skip(&r->st->in, size) < size) {
			r->stats.truncated = true;
			report(r, rec->offset, rec->type,
			       "the data ends inside %" PRIu64 " bytes of trace data", size);
			r->st->done = true;
		}
		break;
	}
	case PERF_RECORD_COMPRESSED:
		if (rec->compressed)
			break;
		err = zstd_start(r);
		if (err)
			return err;
		if (r->st->zin_pos < r->st->zin_size) /* cannot happen: drained before reading on */
			return PPS_CORRUPT;
		r->st->zin_size = rec->size - 8u;
		memcpy(r->st->zin, rec->p + 8, r->st->zin_size);
		r->st->zin_pos = 0;
		r->st->zoffset = rec->offset;
		break;
	default:
		break;
	}
	return 0;
}

static void count_sample(struct pps_evsel *e, uint64_t period, uint64_t t)
{
	e->stats.nr_samples++;
	e->stats.period += period;
	if (t != PPS_NO_TIME) {
		if (e->stats.first_time == PPS_NO_TIME || t < e->stats.first_time)
			e->stats.first_time = t;
		if (e->stats.last_time == PPS_NO_TIME || t > e->stats.last_time)
			e->stats.last_time = t;
	}
}

/* Whether sample ev is delivered per counter read (pps_sample.read_split): it has
 * PERF_SAMPLE_READ, and ids to find the counters' events by. */
static bool splits_read(const struct pps_event *ev)
{
	return ev->type == PERF_RECORD_SAMPLE && ev->evsel &&
	       (ev->sample.type & PERF_SAMPLE_READ) &&
	       (ev->evsel->attr.read_format & PERF_FORMAT_ID);
}

/* The last-value slot of counter id, added when new; NULL on ENOMEM. */
static struct read_last *read_last(struct pps_reader *r, uint64_t id)
{
	size_t i;

	if (2 * (r->rl_used + 1) > r->rl_cap) {
		size_t ncap = r->rl_cap ? 2 * r->rl_cap : 64;
		struct read_last *n = calloc(ncap, sizeof(*n));

		if (!n)
			return NULL;
		for (size_t k = 0; k < r->rl_cap; k++) {
			if (!r->rl[k].used)
				continue;
			for (i = pps_mix64(r->rl[k].id) & (ncap - 1); n[i].used;
			     i = (i + 1) & (ncap - 1))
				;
			n[i] = r->rl[k];
		}
		free(r->rl);
		r->rl = n;
		r->rl_cap = ncap;
	}
	for (i = pps_mix64(id) & (r->rl_cap - 1); r->rl[i].used; i = (i + 1) & (r->rl_cap - 1))
		if (r->rl[i].id == id)
			return &r->rl[i];
	r->rl[i] = (struct read_last){.id = id, .used = true};
	r->rl_used++;
	return &r->rl[i];
}

/*
 * Splits a PERF_SAMPLE_READ sample into its counters' samples as perf does
 * (deliver_sample_value() in perf's session.c): each counter's period is how much its
 * value grew since its previous sample; counters that did not grow, or whose id matches
 * no event, give no sample. Runs as records are delivered, in time order; one counter's
 * samples all come from one ring buffer, so that is also their order in the file.
 * 0 or -ENOMEM.
 */
static int split_read(struct pps_reader *r, struct pps_event *ev)
{
	struct pps_sample *s = &ev->sample;
	uint64_t rf, nr = 1, per, times;
	uint64_t one[2];
	const uint64_t *w;
	uint32_t k = 0;

	if (!splits_read(ev))
		return 0;
	rf = ev->evsel->attr.read_format;
	w = s->read_words;
	times = !!(rf & PERF_FORMAT_TOTAL_TIME_ENABLED) + !!(rf & PERF_FORMAT_TOTAL_TIME_RUNNING);
	/* Group: nr, times, then nr of {value, id, lost}; alone: value, times, id, lost. */
	if (rf & PERF_FORMAT_GROUP) {
		nr = w[0];
		w += 1 + times;
		per = 2 + !!(rf & PERF_FORMAT_LOST);
	} else {
		one[0] = w[0];
		one[1] = w[1 + times];
		w = one;
		per = 2;
	}
	/* pps_sample_parse() checked that read_words holds all of it. */
	if (nr > r->rv_cap) {
		struct pps_read_value *n = realloc(r->rv, nr * sizeof(*n));

		if (!n)
			return -ENOMEM;
		r->rv = n;
		r->rv_cap = nr;
	}
	for (uint64_t i = 0; i < nr; i++, w += per) {
		struct pps_evsel *e = pps_evlist_find_id(&r->el, w[1]);
		struct read_last *last;
		uint64_t grew;

		if (!e) {
			r->stats.nr_unknown_id++;
			continue;
		}
		last = read_last(r, w[1]);
		if (!last)
			return -ENOMEM;
		grew = w[0] - last->value;
		last->value = w[0];
		if (!grew)
			continue;
		r->rv[k++] = (struct pps_read_value){.evsel = e, .period = grew};
		count_sample(e, grew, s->time);
	}
	s->read_split = true;
	s->nr_read_values = k;
	s->read_values = r->rv;
	return 0;
}

/* The event's fields that come from the record's header and place, and its event e. */
static void set_header(struct pps_event *ev, const struct raw_rec *rec, struct pps_evsel *e)
{
	ev->type = rec->type;
	ev->size = rec->size;
	memcpy(&ev->misc, rec->p + 4, 2);
	ev->offset = rec->offset;
	ev->compressed = rec->compressed;
	ev->raw = rec->p;
	ev->trailing_size = rec->trailing;
	ev->evsel = e;
}

/* Decodes the sample part of a kernel record and attributes it to its event: known, when
 * found before, else looked up. */
static void decode(struct pps_reader *r, const struct raw_rec *rec, struct pps_event *ev,
		   bool count, struct pps_evsel *known)
{
	struct pps_evsel *e;
	int err;

	/* Only the header fields here: pps_sample_parse() fills all of ev->sample. */
	set_header(ev, rec, NULL);
	e = known ? known
	    : rec->type < PERF_RECORD_USER_TYPE_START
		? pps_evlist_event_evsel(&r->el, rec->p, rec->size, rec->type)
		: NULL;
	if (!e) {
		memset(&ev->sample, 0, sizeof(ev->sample));
		ev->sample.time = PPS_NO_TIME;
		ev->sample.pid = ev->sample.tid = ev->sample.cpu = UINT32_MAX;
		if (count && rec->type == PERF_RECORD_SAMPLE)
			r->stats.nr_unknown_id++;
		return;
	}
	err = pps_sample_parse(e, rec->p, rec->size, rec->type, &ev->sample);
	if (err) {
		/* Caller checks ev->evsel: a sample we could not decode is not delivered. */
		if (count) {
			report(r, rec->offset, rec->type, "sample fields overrun the record (%u bytes)",
			       rec->size);
			r->stats.nr_bad_records++;
			r->stats.nr_records[rec->type]--;
		}
		ev->type = UINT32_MAX;
		return;
	}
	ev->evsel = e;
	if (!count)
		return;
	switch (rec->type) {
	case PERF_RECORD_SAMPLE: {
		/* e is perf's evlist__id2evsel(sample->id): the id at id_pos is sample.id. */
		uint64_t t = ev->sample.time;

		/* A split read is counted per counter as it is delivered (split_read()). */
		if (!splits_read(ev))
			count_sample(e, ev->sample.period, t);
		if (t != PPS_NO_TIME) {
			if (r->stats.first_time == PPS_NO_TIME || t < r->stats.first_time)
				r->stats.first_time = t;
			if (r->stats.last_time == PPS_NO_TIME || t > r->stats.last_time)
				r->stats.last_time = t;
		}
		break;
	}
	case PERF_RECORD_LOST: {
		uint64_t lost;

		memcpy(&lost, rec->p + 16, 8);
		e->stats.nr_lost_records++;
		e->stats.lost += lost;
		r->stats.lost += lost;
		break;
	}
	case PERF_RECORD_LOST_SAMPLES: {
		uint64_t lost;

		memcpy(&lost, rec->p + 8, 8);
		r->stats.lost_samples += lost;
		e->stats.nr_lost_samples_records++;
		e->stats.lost_samples += lost;
		break;
	}
	case PERF_RECORD_THROTTLE:
		e->stats.nr_throttle++;
		break;
	case PERF_RECORD_UNTHROTTLE:
		e->stats.nr_unthrottle++;
		break;
	default:
		break;
	}
}

/*
 * A sample that may wait in the time-ordering queue: its header fields, event and time
 * only (ev->sample has nothing else), as the queue needs no more, and a queued sample is
 * decoded (checked, counted) once, when it is delivered. False when the time cannot be
 * had this way: then it must be decoded in full now.
 */
static bool decode_time(struct pps_reader *r, const struct raw_rec *rec, struct pps_event *ev)
{
	struct pps_evsel *e = pps_evlist_event_evsel(&r->el, rec->p, rec->size, rec->type);

	if (!e || pps_sample_time(e, rec->p, rec->size, &ev->sample.time))
		return false;
	set_header(ev, rec, e);
	return true;
}

/* ---- delivery --------------------------------------------------------------------- */

/* Reads, applies and decodes the next record in stream order. *deferred: NULL, or where
 * to say that a sample was only decoded as far as decode_time() does. */
static int next_in_stream(struct pps_reader *r, struct raw_rec *rec, struct pps_event *ev,
			  bool *deferred)
{
	for (;;) {
		int ret = next_raw(r, rec);

		if (ret <= 0)
			return ret;
		if (rec->type >= PERF_RECORD_USER_TYPE_START) {
			if (r->ra && changes_reader(rec->type))
				ra_barrier(r);
			ret = apply_user(r, rec);
			if (ret < 0)
				return ret;
		}
		if (deferred)
			*deferred = rec->type == PERF_RECORD_SAMPLE && decode_time(r, rec, ev);
		if (!deferred || !*deferred) {
			decode(r, rec, ev, true, NULL);
			if (ev->type == UINT32_MAX)
				continue; /* undecodable sample: reported, skipped */
		}
		if (r->nr_dir && ev->sample.time != PPS_NO_TIME)
			r->st->last_time = ev->sample.time;
		return 1;
	}
}

/* The oldest queued record into ev: 1, or 0 when it was a sample that does not decode
 * (reported, skipped). Samples are decoded and counted here (see decode_time()), other
 * records were when they were read. */
static int deliver_queued(struct pps_reader *r, struct pps_event *ev)
{
	const struct pps_queued *q = pps_ordered_pop(&r->oq);
	uint64_t tag = q->offset >> STREAM_SHIFT;
	struct raw_rec rec = {
	    .p = (const uint8_t *)q->data,
	    .type = q->type,
	    .size = q->size,
	    .offset = q->offset & ((1ULL << STREAM_SHIFT) - 1),
	    .compressed = q->compressed,
	};

	r->rep_path = tag && tag <= r->nr_dir ? r->dir[tag - 1].path : r->main.path;
	/* On the read-ahead thread, straight into the batch: decoded there, the event's
	 * pointers need no moving (ra_take()). */
	if (r->ra)
		rec.p = ra_place(r->ra, rec.p, rec.size);
	decode(r, &rec, ev, rec.type == PERF_RECORD_SAMPLE, q->ctx);
	return ev->type != UINT32_MAX;
}

static int next_ordered(struct pps_reader *r, struct pps_event *ev)
{
	struct raw_rec rec;
	bool deferred;
	int ret;

	for (;;) {
		uint64_t t;

		if (pps_ordered_flushable(&r->oq)) {
			if (deliver_queued(r, ev))
				return 1;
			continue;
		}
		ret = next_in_stream(r, &rec, ev, &deferred);
		/* A fed reader has read everything fed so far: what was released may go. */
		if (ret == -EAGAIN && pps_ordered_released(&r->oq)) {
			if (deliver_queued(r, ev))
				return 1;
			continue;
		}
		if (ret < 0)
			return ret;
		if (ret == 0) {
			pps_ordered_flush_all(&r->oq);
			if (pps_ordered_flushable(&r->oq))
				continue;
			return 0;
		}
		/* A round in one data.N file says nothing of the others. */
		if (rec.type == PERF_RECORD_FINISHED_ROUND) {
			if (r->st == &r->main)
				pps_ordered_round(&r->oq);
			continue;
		}
		t = ev->sample.time;
		if (rec.type >= PERF_RECORD_USER_TYPE_START || t == PPS_NO_TIME ||
		    t < r->oq.last_flushed) {
			if (t != PPS_NO_TIME && t < r->oq.last_flushed &&
			    rec.type < PERF_RECORD_USER_TYPE_START)
				r->stats.nr_unordered++;
			if (deferred) {
				/* Not queued after all: decoded in full now. */
				decode(r, &rec, ev, true, ev->evsel);
				if (ev->type == UINT32_MAX)
					continue;
			}
			return 1;
		}
		ret = pps_ordered_push(&r->oq, t, &rec.p[0], rec.size, rec.offset | stream_tag(r),
				       rec.compressed, ev->evsel);
		if (ret < 0)
			return ret;
		if (r->oq.bytes > r->queue_max)
			pps_ordered_flush_half(&r->oq);
	}
}

static void hash_callchain(struct pps_sample *s)
{
	uint64_t a = PPS_LANE_A, b = PPS_LANE_B;

	if (!s->callchain_nr)
		return;
	for (uint64_t i = 0; i < s->callchain_nr; i++)
		pps_lanes_word(&a, &b, s->callchain[i]);
	s->callchain_hash[0] = pps_mix64(a);
	s->callchain_hash[1] = pps_mix64(b);
}

static int next_direct(struct pps_reader *r, struct pps_event *ev)
{
	struct raw_rec rec;
	int ret;

	if (r->flags & PPS_READER_ORDERED)
		ret = next_ordered(r, ev);
	else
		ret = next_in_stream(r, &rec, ev, NULL);
	if (ret > 0) {
		int err = split_read(r, ev);

		if (err)
			ret = err;
		else if ((r->flags & PPS_READER_CALLCHAIN_HASH) && ev->type == PERF_RECORD_SAMPLE)
			hash_callchain(&ev->sample);
	}
	r->stats.bytes_read = r->main.in.bytes_read;
	for (size_t i = 0; i < r->nr_dir; i++)
		r->stats.bytes_read += r->dir[i].in.bytes_read;
	return ret;
}

/* ---- read-ahead (PPS_READER_THREAD) ------------------------------------------------ */

/*
 * A second thread runs next_direct() and hands the events over in batches: each event
 * with a copy of its record, its pointers moved into the copy. The caller's thread then
 * only takes events out of a batch. RA_BATCHES batches go round a ring, so the thread
 * reads at most that far ahead.
 *
 * The caller may use the reader's accessors between pps_reader_next() calls while the
 * thread decodes. So the thread changes nothing they read, except at a barrier: before it
 * applies a user record that changes the reader (a new event, its name, a build-id, a
 * feature, tracing data: pipe mode's header records), it hands over what it has and
 * waits until the caller has taken all of it and is waiting inside pps_reader_next().
 * The statistics are the thread's until the end has been delivered.
 */
#define RA_BATCHES 4
#define RA_EVENTS  1024
#define RA_BYTES   (512u << 10) /* a batch is full past this; a record is under 64 KiB */
/* Room past RA_BYTES for one more event: its record, and its split read values (a record
 * holds at most 4096 of them: 16 bytes each in it, 16 in a pps_read_value). */
#define RA_SLACK (128u << 10)

struct ra_batch {
	size_t nr, used;
	int ret; /* last batch: what pps_reader_next() returns after its events */
	bool last;
	struct pps_event ev[RA_EVENTS];
	uint8_t *data; /* RA_BYTES + 64 KiB: the records, each 8-byte aligned */
};

struct readahead {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;		    /* a batch was published or released, or stop */
	struct ra_batch *batch[RA_BATCHES]; /* ring: published [tail, head), under mu */
	uint64_t head, tail;
	bool stop;    /* pps_reader_free(): the thread must end, under mu */
	bool waiting; /* the caller waits for a batch, under mu */
	/* The caller's own, written on every record: not on a cache line of the fields the
	 * thread reads on every record (head, batch). */
	char apart[64];
	size_t pos;   /* the caller's next event in batch[tail] */
	bool taking;  /* the caller has events of batch[tail] (release it next) */
	bool ended;   /* the caller has seen the last batch's end */
	int end_ret;
	bool joined;
};

static bool changes_reader(uint32_t type)
{
	switch (type) {
	case PERF_RECORD_HEADER_ATTR:
	case PERF_RECORD_EVENT_UPDATE:
	case PERF_RECORD_HEADER_BUILD_ID:
	case PERF_RECORD_HEADER_FEATURE:
	case PERF_RECORD_HEADER_TRACING_DATA:
		return true;
	default:
		return false;
	}
}

/* p moved from the record at from (n bytes) to its copy at to; others are left. */
static const void *rebase(const void *p, const void *from, size_t n, void *to)
{
	uintptr_t q = (uintptr_t)p, f = (uintptr_t)from;

	return p && q >= f && q <= f + n ? (const uint8_t *)to + (q - f) : p;
}

/* Takes the event decoded into b->ev[b->nr] into the batch: its record (and split read
 * values) copied into the batch's data, its pointers moved there. */
static void ra_take(struct ra_batch *b)
{
	struct pps_event *dst = &b->ev[b->nr++];
	struct pps_sample *s = &dst->sample;
	const void *from = dst->raw;
	uint8_t *to = b->data + b->used;
	size_t n = dst->size;

	if (!from)
		return;
	b->used += PPS_ALIGN8(n);
	if (from == to)
		goto read_values; /* put there by ra_place(), and decoded there */
	memcpy(to, from, n);
	dst->raw = to;
	/* Every pointer of a decoded sample points into its record (sample.c). */
	s->read_words = rebase(s->read_words, from, n, to);
	s->callchain = rebase(s->callchain, from, n, to);
	s->raw_data = rebase(s->raw_data, from, n, to);
	s->branch = rebase(s->branch, from, n, to);
	s->user_regs = rebase(s->user_regs, from, n, to);
	s->intr_regs = rebase(s->intr_regs, from, n, to);
	s->user_stack = rebase(s->user_stack, from, n, to);
	s->aux_data = rebase(s->aux_data, from, n, to);
read_values:
	/* The split read values live in the reader: they go after the record. */
	if (s->nr_read_values) {
		size_t sz = s->nr_read_values * sizeof(*s->read_values);

		memcpy(b->data + b->used, s->read_values, sz);
		s->read_values = (const struct pps_read_value *)(b->data + b->used);
		b->used += PPS_ALIGN8(sz);
	}
}

/*
 * Copies a record of size bytes to where ra_take() would copy it, in the batch being
 * filled, and returns the copy: a record decoded there is taken as it is. Only for the
 * record about to be decoded into the batch's next event, on the thread.
 */
static const uint8_t *ra_place(struct readahead *ra, const uint8_t *rec, size_t size)
{
	struct ra_batch *b = ra->batch[ra->head % RA_BATCHES];
	uint8_t *to = b->data + b->used;

	memcpy(to, rec, size);
	return to;
}

/* Publishes the batch being filled (batch[head]); under mu. */
static void ra_publish(struct readahead *ra)
{
	ra->head++;
	pthread_cond_broadcast(&ra->cv);
}

/* The batch to fill next, once the ring has room; NULL when told to stop. Under mu. */
static struct ra_batch *ra_next_free(struct readahead *ra)
{
	struct ra_batch *b;

	while (!ra->stop && ra->head - ra->tail == RA_BATCHES)
		pthread_cond_wait(&ra->cv, &ra->mu);
	if (ra->stop)
		return NULL;
	b = ra->batch[ra->head % RA_BATCHES];
	b->nr = b->used = 0;
	b->last = false;
	return b;
}

/* See the section comment: called by the thread, from next_in_stream(). */
static void ra_barrier(struct pps_reader *r)
{
	struct readahead *ra = r->ra;
	struct ra_batch *b = ra->batch[ra->head % RA_BATCHES];

	pthread_mutex_lock(&ra->mu);
	if (b->nr) {
		ra_publish(ra);
		ra_next_free(ra);
	}
	while (!ra->stop && !(ra->head == ra->tail && ra->waiting))
		pthread_cond_wait(&ra->cv, &ra->mu);
	pthread_mutex_unlock(&ra->mu);
}

static void *ra_run(void *arg)
{
	struct pps_reader *r = arg;
	struct readahead *ra = r->ra;
	struct ra_batch *b;

	pthread_mutex_lock(&ra->mu);
	b = ra_next_free(ra);
	pthread_mutex_unlock(&ra->mu);
	while (b) {
		int ret = 1;

		/* Unlocked: batch[head] is this thread's until published. ra_barrier() may
		 * publish it and move on to the next. Events are decoded in place, into the
		 * slot past the batch's events, which no reader looks at: even when a
		 * barrier has published the batch meanwhile, the slot is left as it was, and
		 * its event is moved to the next batch. */
		while (b->nr < RA_EVENTS && b->used <= RA_BYTES) {
			struct pps_event *slot = &b->ev[b->nr];
			struct ra_batch *nb;

			ret = next_direct(r, slot);
			nb = ra->batch[ra->head % RA_BATCHES];
			if (nb != b && ret > 0)
				nb->ev[nb->nr] = *slot;
			b = nb;
			if (ret <= 0)
				break;
			ra_take(b);
		}
		pthread_mutex_lock(&ra->mu);
		if (ret <= 0) {
			b->ret = ret;
			b->last = true;
		}
		ra_publish(ra);
		b = ret > 0 ? ra_next_free(ra) : NULL;
		pthread_mutex_unlock(&ra->mu);
	}
	return NULL;
}

static void ra_free(struct readahead *ra)
{
	for (size_t i = 0; i < RA_BATCHES; i++) {
		if (ra->batch[i])
			free(ra->batch[i]->data);
		free(ra->batch[i]);
	}
	free(ra);
}

/* Starts the thread; on failure the caller reads on its own thread, as without the flag. */
static void ra_start(struct pps_reader *r)
{
	struct readahead *ra;

	r->ra_tried = true;
	ra = calloc(1, sizeof(*ra));
	if (!ra)
		return;
	for (size_t i = 0; i < RA_BATCHES; i++) {
		ra->batch[i] = malloc(sizeof(*ra->batch[i]));
		if (!ra->batch[i])
			goto out_free;
		ra->batch[i]->data = malloc(RA_BYTES + RA_SLACK);
		if (!ra->batch[i]->data)
			goto out_free;
	}
	if (pthread_mutex_init(&ra->mu, NULL))
		goto out_free;
	if (pthread_cond_init(&ra->cv, NULL))
		goto out_destroy_mutex;
	r->ra = ra;
	if (!pthread_create(&ra->thread, NULL, ra_run, r))
		return;
	r->ra = NULL;
	pthread_cond_destroy(&ra->cv);
out_destroy_mutex:
	pthread_mutex_destroy(&ra->mu);
out_free:
	ra_free(ra);
}

/* Ends the thread (when running) and frees it. */
static void ra_stop(struct pps_reader *r)
{
	struct readahead *ra = r->ra;

	if (!ra)
		return;
	pthread_mutex_lock(&ra->mu);
	ra->stop = true;
	pthread_cond_broadcast(&ra->cv);
	pthread_mutex_unlock(&ra->mu);
	if (!ra->joined)
		pthread_join(ra->thread, NULL);
	pthread_cond_destroy(&ra->cv);
	pthread_mutex_destroy(&ra->mu);
	ra_free(ra);
	r->ra = NULL;
}

static int ra_next(struct readahead *ra, const struct pps_event **ev)
{
	struct ra_batch *b;

	if (ra->ended)
		return ra->end_ret;
	b = ra->batch[ra->tail % RA_BATCHES];
	if (ra->taking && ra->pos == b->nr) {
		if (b->last) {
			ra->ended = true;
			ra->end_ret = b->ret;
			pthread_join(ra->thread, NULL);
			ra->joined = true;
			return b->ret;
		}
		/* The events of b handed out so far are no longer valid: its turn is over. */
		pthread_mutex_lock(&ra->mu);
		ra->tail++;
		ra->taking = false;
		pthread_cond_broadcast(&ra->cv);
		pthread_mutex_unlock(&ra->mu);
		b = ra->batch[ra->tail % RA_BATCHES];
	}
	if (!ra->taking) {
		pthread_mutex_lock(&ra->mu);
		ra->waiting = true;
		pthread_cond_broadcast(&ra->cv);
		while (ra->head == ra->tail)
			pthread_cond_wait(&ra->cv, &ra->mu);
		ra->waiting = false;
		pthread_mutex_unlock(&ra->mu);
		ra->taking = true;
		ra->pos = 0;
		return ra_next(ra, ev);
	}
	*ev = &b->ev[ra->pos++];
	return 1;
}

PPS_API int pps_reader_next_ref(struct pps_reader *r, const struct pps_event **ev)
{
	/* r->ra first: the thread writes the rest of *r as it goes. */
	if (r->ra)
		return ra_next(r->ra, ev);
	if (!r->ra_tried && (r->flags & PPS_READER_THREAD) && !r->st->in.fed)
		ra_start(r);
	if (r->ra)
		return ra_next(r->ra, ev);
	*ev = &r->cur;
	return next_direct(r, &r->cur);
}

PPS_API int pps_reader_next(struct pps_reader *r, struct pps_event *ev)
{
	const struct pps_event *e;
	int ret = pps_reader_next_ref(r, &e);

	if (ret > 0)
		*ev = *e;
	return ret;
}

PPS_API const struct pps_event *pps_reader_peek_at(const struct pps_reader *r, size_t n)
{
	const struct readahead *ra = r->ra;
	const struct ra_batch *b;

	if (!ra || !ra->taking || ra->ended || !n)
		return NULL;
	b = ra->batch[ra->tail % RA_BATCHES];
	return n <= b->nr - ra->pos ? &b->ev[ra->pos + n - 1] : NULL;
}

PPS_API size_t pps_reader_ahead(const struct pps_reader *r, const struct pps_event **next)
{
	const struct readahead *ra = r->ra;
	const struct ra_batch *b;

	*next = NULL;
	if (!ra || !ra->taking || ra->ended)
		return 0;
	b = ra->batch[ra->tail % RA_BATCHES];
	if (ra->pos == b->nr)
		return 0;
	*next = &b->ev[ra->pos];
	return b->nr - ra->pos;
}

PPS_API const struct pps_event *pps_reader_peek(const struct pps_reader *r)
{
	return pps_reader_peek_at(r, 1);
}

/* ---- accessors ---------------------------------------------------------------------- */

PPS_API const char *pps_reader_path(const struct pps_reader *r)
{
	return r->path;
}

PPS_API bool pps_reader_is_pipe(const struct pps_reader *r)
{
	return r->pipe;
}

PPS_API size_t pps_reader_nr_data_files(const struct pps_reader *r)
{
	return r->nr_dir;
}

PPS_API bool pps_reader_has_feature(const struct pps_reader *r, int feat)
{
	if (feat < 0 || feat >= PPS_FEAT_MAX)
		return false;
	return r->env.feat_bits[feat / 64] & (1ULL << (feat % 64));
}

PPS_API const char *pps_reader_hostname(const struct pps_reader *r)
{
	return r->env.hostname;
}

PPS_API const char *pps_reader_os_release(const struct pps_reader *r)
{
	return r->env.os_release;
}

PPS_API const char *pps_reader_perf_version(const struct pps_reader *r)
{
	return r->env.version;
}

PPS_API const char *pps_reader_arch(const struct pps_reader *r)
{
	return r->env.arch;
}

PPS_API const char *pps_reader_cpu_desc(const struct pps_reader *r)
{
	return r->env.cpu_desc;
}

PPS_API const char *pps_reader_cpuid(const struct pps_reader *r)
{
	return r->env.cpuid;
}

PPS_API const char *pps_reader_cmdline(const struct pps_reader *r)
{
	return r->env.cmdline;
}

PPS_API uint32_t pps_reader_nr_cpus_online(const struct pps_reader *r)
{
	return r->env.nr_cpus_online;
}

PPS_API uint32_t pps_reader_nr_cpus_avail(const struct pps_reader *r)
{
	return r->env.nr_cpus_avail;
}

PPS_API uint64_t pps_reader_total_mem_kb(const struct pps_reader *r)
{
	return r->env.total_mem_kb;
}

PPS_API bool pps_reader_sample_time(const struct pps_reader *r, uint64_t *first, uint64_t *last)
{
	if (!r->env.has_sample_time)
		return false;
	*first = r->env.first_sample_time;
	*last = r->env.last_sample_time;
	return true;
}

PPS_API void pps_reader_clock_data(const struct pps_reader *r, struct pps_clock_data *cd)
{
	*cd = r->env.clock;
}

PPS_API const void *pps_reader_tracing_data(const struct pps_reader *r, size_t *size)
{
	*size = r->env.tracing_size;
	return r->env.tracing_data;
}

PPS_API size_t pps_reader_nr_build_ids(const struct pps_reader *r)
{
	return r->env.nr_build_ids;
}

PPS_API const struct pps_build_id *pps_reader_build_id(const struct pps_reader *r, size_t i)
{
	return i < r->env.nr_build_ids ? &r->env.build_ids[i] : NULL;
}

PPS_API size_t pps_reader_nr_groups(const struct pps_reader *r)
{
	return r->env.nr_groups;
}

PPS_API const struct pps_group_desc *pps_reader_group(const struct pps_reader *r, size_t i)
{
	return i < r->env.nr_groups ? &r->env.groups[i] : NULL;
}

PPS_API size_t pps_reader_nr_evsels(const struct pps_reader *r)
{
	return r->el.nr;
}

PPS_API struct pps_evsel *pps_reader_evsel(const struct pps_reader *r, size_t idx)
{
	return idx < r->el.nr ? r->el.v[idx] : NULL;
}

PPS_API const struct perf_event_attr *pps_evsel_attr(const struct pps_evsel *e)
{
	return &e->attr;
}

PPS_API const char *pps_evsel_name(const struct pps_evsel *e)
{
	return e->name;
}

PPS_API size_t pps_evsel_idx(const struct pps_evsel *e)
{
	return e->idx;
}

PPS_API size_t pps_evsel_nr_ids(const struct pps_evsel *e)
{
	return e->nr_ids;
}

PPS_API uint64_t pps_evsel_id(const struct pps_evsel *e, size_t i)
{
	return i < e->nr_ids ? e->ids[i] : 0;
}

PPS_API const struct pps_evsel_stats *pps_evsel_stats(const struct pps_evsel *e)
{
	return &e->stats;
}

PPS_API const struct pps_reader_stats *pps_reader_stats(const struct pps_reader *r)
{
	return &r->stats;
}
