/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_store: a time-keyed SQLite store of pprof profiles (schema/store.sql).
 *
 * Ingest takes built profiles (from pps_convert, or pps_profile_read for pprof files) and
 * stores them normalized: strings, mappings, functions, locations, stacks and label sets
 * once each, and samples summed per (type, time bucket, stack, label set, source), the
 * samples of one (type, bucket, source) packed in one row. A sample goes into the bucket
 * its PPS_BUCKET_LABEL names (pps_convert with bucket_ns), else into the bucket of its
 * profile's time_nanos. Query sums the buckets of a selection back into one pps_profile.
 *
 * The database runs in WAL mode, so readers do not block an ingest, and an ingest is one
 * transaction: killed at any point, the database holds the whole source or none of it. A
 * query reads one snapshot. An older database is migrated forward when opened; a newer one
 * is refused. Not thread-safe: one struct pps_store per thread.
 */
#ifndef PPROFSTORE_STORE_H
#define PPROFSTORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <pprofstore/profile.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pps_store;

/* The schema version this library creates and reads (PRAGMA user_version). Older
 * databases are migrated when opened (schema/migrate-N.sql). */
#define PPS_STORE_SCHEMA_VERSION 3
/* Bucket width of a new database, when pps_store_open() is given 0. */
#define PPS_STORE_DEFAULT_BUCKET_NS (10 * INT64_C(1000000000))

enum pps_store_flags {
	PPS_STORE_CREATE = 1 << 0,   /* create the database when missing */
	PPS_STORE_READONLY = 1 << 1, /* never write (list, query) */
};

/* A source tag, key=value. */
struct pps_store_tag {
	const char *key;
	const char *value;
};

/* What an ingest records about its input. Strings are copied; NULL is "". */
struct pps_store_source {
	const char *path;
	uint64_t size;	       /* bytes */
	uint64_t content_hash; /* pps_store_hash_file() */
	const char *host;
	const char *cmdline;	 /* the perf command line */
	const char *time_origin; /* how times were placed: "clock_data", "mtime",
				    "ingest-time", "time-origin", "pprof" */
	const struct pps_store_tag *tags;
	size_t nr_tags;
};

/*
 * Opens (with PPS_STORE_CREATE: creates) the database at path. bucket_ns is the bucket
 * width of a new database (0: PPS_STORE_DEFAULT_BUCKET_NS); an existing one keeps its own.
 * Returns NULL with errno: ENOENT (missing, without CREATE), EPROTO (schema newer than
 * this library, or not a pprofstore database; logged), EIO (SQLite error; logged),
 * ENOMEM. Free with pps_store_close().
 */
struct pps_store *pps_store_open(const char *path, unsigned int flags, int64_t bucket_ns);
/* Accepts NULL. */
void pps_store_close(struct pps_store *s);

/* The database's bucket width in ns. */
int64_t pps_store_bucket_ns(const struct pps_store *s);

/* 64-bit FNV-1a of a file's bytes, and its size; of a perf.data directory (perf record
 * --threads), those of its data then data.N files in turn. Returns 0 or -errno. */
int pps_store_hash_file(const char *path, uint64_t *hash, uint64_t *size);

/* Whether a source with this content is stored; *id gets its id. Returns 1, 0, or -EIO. */
int pps_store_has_source(struct pps_store *s, uint64_t content_hash, uint64_t size, int64_t *id);

/*
 * Stores n profiles of one source in one transaction: types[i] is the type of
 * profiles[i]. A type takes the sample types (1 to 64 of them), period and default sample
 * type of its first profile; a later profile of the type must have the same sample types.
 * The reserved label PPS_BUCKET_LABEL places a sample and is not stored.
 * Returns 0; -EEXIST when the content is already stored (nothing written); -EINVAL for a
 * profile whose sample types differ from its type's (logged); -EIO (logged) or -ENOMEM,
 * with nothing written.
 */
int pps_store_ingest(struct pps_store *s, const struct pps_store_source *src,
		     const char *const *types, struct pps_profile *const *profiles, size_t n);
/* pps_store_ingest() of one profile. */
int pps_store_ingest_profile(struct pps_store *s, const struct pps_store_source *src,
			     const char *type, struct pps_profile *p);

/*
 * A live source (pprofstore record): its row and tags, in one transaction; its windows
 * come with pps_store_append(). A source without content (content_hash and size 0) gets
 * a key of its own, so it is never taken for a re-ingest. *id gets its id. Returns 0,
 * -EROFS, -EIO (logged) or -ENOMEM.
 */
int pps_store_add_source(struct pps_store *s, const struct pps_store_source *src, int64_t *id);

/* One window of a live source. */
struct pps_store_window {
	int64_t start_ns, end_ns; /* wall-clock ns, UTC */
	uint64_t lost;		  /* records the kernel lost (sum of PERF_RECORD_LOST counts) */
	uint64_t nr_samples;	  /* perf samples converted */
};

/*
 * Appends a window of source id: its n profiles (as pps_store_ingest(): each sample into
 * the bucket its pps::bucket label names, else the bucket of the profile's time_nanos)
 * and its lost count, in one transaction: killed at any point, the database holds the
 * window whole or not at all. Returns 0, -EINVAL (a profile of another shape, end before
 * start), -EROFS, -EIO (logged) or -ENOMEM, with nothing written.
 */
int pps_store_append(struct pps_store *s, int64_t source_id, const struct pps_store_window *w,
		     const char *const *types, struct pps_profile *const *profiles, size_t n);

/*
 * The samples of type in buckets starting in [from_ns, to_ns) (wall-clock ns, UTC), of
 * sources carrying every one of the nr_tags tags, summed into a new profile (free with
 * pps_profile_free()). An empty selection gives a profile without samples. When live
 * windows are in the selection, a comment says how many records they lost. NULL with
 * errno: ENOENT (no such type), EIO, ENOMEM.
 */
struct pps_profile *pps_store_query(struct pps_store *s, const char *type, int64_t from_ns,
				    int64_t to_ns, const struct pps_store_tag *tags,
				    size_t nr_tags);

/*
 * A selection of stored samples: one type, a time range, source tags, sample labels, and
 * optionally one source. Zero-initialize and set what is wanted; sz is
 * sizeof(struct pps_store_selection).
 */
struct pps_store_selection {
	size_t sz;
	const char *type;	/* required */
	int64_t from_ns, to_ns; /* buckets starting in [from_ns, to_ns); both 0: all time */
	const struct pps_store_tag *tags; /* sources carrying every one of these tags */
	size_t nr_tags;
	const struct pps_store_tag *labels; /* samples carrying every one of these labels:
					       key=value, a numeric label's value in decimal */
	size_t nr_labels;
	int64_t source_id; /* > 0: only this source */
};

/* pps_store_query() of a selection. NULL with errno as pps_store_query(). */
struct pps_profile *pps_store_select(struct pps_store *s, const struct pps_store_selection *sel);

/*
 * The ids of the sources with samples in the selection (its source_id ignored), ascending,
 * in a malloc'ed array (*ids, *n; NULL and 0 for none). Returns 0, -ENOENT (no such type),
 * -EIO or -ENOMEM.
 */
int pps_store_select_sources(struct pps_store *s, const struct pps_store_selection *sel,
			     int64_t **ids, size_t *n);

/*
 * The time range of the selection's samples (label filters ignored): *first_ns the start of
 * its first bucket, *end_ns the end of its last. Returns 0, 1 when it holds no samples
 * (outputs untouched), -ENOENT (no such type) or -EIO.
 */
int pps_store_select_range(struct pps_store *s, const struct pps_store_selection *sel,
			   int64_t *first_ns, int64_t *end_ns);

/* Calls fn for each stored type name, in name order. Returns 0 or -EIO. */
int pps_store_for_each_type(struct pps_store *s, void (*fn)(const char *type, void *ctx),
			    void *ctx);

/* One (source, type) pair, for listings. Strings valid during the callback only. */
struct pps_store_entry {
	int64_t source_id;
	const char *path;
	const char *host;
	const char *cmdline;
	const char *time_origin;
	const char *tags; /* "k=v,k=v" ("" for none) */
	const char *type;
	int64_t start_ns, end_ns;
	int64_t nr_samples; /* sum of the first values (perf samples for perf.data) */
	int64_t nr_windows; /* live source: its windows; 0 for an ingested file */
	int64_t lost;	    /* live source: records lost over all its windows */
};

/* Calls fn for each (source, type) pair, by source id then type. Returns 0 or -EIO. */
int pps_store_for_each_entry(struct pps_store *s,
			     void (*fn)(const struct pps_store_entry *e, void *ctx), void *ctx);

/* What pps_store_gc() removed. */
struct pps_store_gc_stats {
	int64_t nr_samples; /* sample rows (one per bucket, stack, label set, source, type) */
	int64_t nr_sources;
	int64_t nr_stacks, nr_labelsets, nr_locations, nr_functions, nr_mappings, nr_strings;
};

/*
 * Deletes the samples in buckets that end at or before before_ns (wall-clock ns, UTC),
 * then what only they used: sources left without samples (with their tags; an empty source
 * ingested after before_ns stays), types, stacks, label sets, locations, functions,
 * mappings and strings nothing refers to. The deletions are one transaction. Then gives
 * the freed pages back to the file system (incremental vacuum in a database created with
 * it, else VACUUM, which also turns incremental vacuum on) and truncates the WAL. Returns
 * 0, -EROFS (opened read-only), -EIO (logged) or -ENOMEM.
 */
int pps_store_gc(struct pps_store *s, int64_t before_ns, struct pps_store_gc_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* PPROFSTORE_STORE_H */
