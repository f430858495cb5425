/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_store: profiles in SQLite (schema/store.sql, embedded at build time).
 *
 * Facts that shaped it:
 * - An ingest writes a few thousand distinct functions and locations and up to tens of
 *   thousands of distinct (stack, labels) samples per profile; every row goes through one
 *   of a fixed set of prepared statements (bound parameters only, never SQL built from
 *   data; a selection's statement is assembled from fixed terms), prepared once per store.
 * - Most of what a new recording holds is already stored (same binaries, same hot
 *   stacks), so every write is a lookup first; rows are only appended, except a bucket
 *   row that a later window of the same source adds to.
 * - At 99 Hz most (stack, label set) pairs occur once or twice per 10 s bucket: a row per
 *   pair would cost more than the perf.data. A bucket's samples are one row, its entries
 *   packed (lib/bucket.c): a repetitive day takes about 1% of its perf.data.
 * - One ingest is one BEGIN IMMEDIATE transaction in WAL mode: SQLite's journal makes it
 *   all or nothing, even under SIGKILL, and readers keep reading the last commit.
 * - A query reads the bucket rows of one type through the (type_id, bucket_start, ...)
 *   index in one read transaction, sums their entries in a hash, then reads the stacks,
 *   locations, functions and strings it needs in bulk: a 10-minute window of a day of
 *   999 Hz profiles is some 30 ms.
 *
 * Integers are SQLite's signed 64 bits: addresses and hashes are stored as their
 * two's-complement int64 and cast back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pprofstore/convert.h>
#include <pprofstore/store.h>

#include "internal/bucket.h"
#include "internal/datadir.h"
#include "internal/idcache.h"
#include "internal/util.h"
#include "store_sql.h"

/* The prepared statements, by purpose. */
enum stmt_id {
	S_STR_GET,
	S_STR_INS,
	S_STR_READ,
	S_MAP_GET,
	S_MAP_INS,
	S_MAP_READ,
	S_FN_GET,
	S_FN_INS,
	S_LOC_GET,
	S_LOC_INS,
	S_LINE_INS,
	S_STACK_GET,
	S_STACK_INS,
	S_LSET_GET,
	S_LSET_INS,
	S_SRC_GET,
	S_SRC_INS,
	S_TAG_INS,
	S_TYPE_GET,
	S_TYPE_INS,
	S_TYPE_READ,
	S_TYPEVAL_INS,
	S_TYPEVAL_READ,
	S_SRCTYPE_UPSERT,
	S_BUCKET_GET,
	S_BUCKET_PUT,
	S_LSET_READ,
	S_TYPES_LIST,
	S_ENTRIES,
	S_MAX_IDS,
	S_WIN_INS,
	S_DATA_VERSION,
	NR_STMTS
};

static const char *const stmt_sql[NR_STMTS] = {
    [S_STR_GET] = "SELECT id FROM strings WHERE s = ?1",
    [S_STR_INS] = "INSERT INTO strings (s) VALUES (?1)",
    [S_STR_READ] = "SELECT s FROM strings WHERE id = ?1",
    [S_MAP_GET] = "SELECT id FROM mappings WHERE mem_start = ?1 AND mem_limit = ?2 AND "
		  "file_offset = ?3 AND file = ?4 AND build_id = ?5 AND flags = ?6",
    [S_MAP_INS] = "INSERT INTO mappings (mem_start, mem_limit, file_offset, file, build_id, "
		  "flags) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_MAP_READ] = "SELECT mem_start, mem_limit, file_offset, file, build_id, flags "
		   "FROM mappings WHERE id = ?1",
    [S_FN_GET] = "SELECT id FROM functions WHERE name = ?1 AND system_name = ?2 AND "
		 "filename = ?3 AND start_line = ?4",
    [S_FN_INS] = "INSERT INTO functions (name, system_name, filename, start_line) "
		 "VALUES (?1, ?2, ?3, ?4)",
    [S_LOC_GET] = "SELECT id FROM locations WHERE mapping_id = ?1 AND address = ?2 AND "
		  "lines_key = ?3",
    [S_LOC_INS] = "INSERT INTO locations (mapping_id, address, lines_key) VALUES (?1, ?2, ?3)",
    [S_LINE_INS] = "INSERT INTO location_lines (location_id, idx, function_id, line, col) "
		   "VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_STACK_GET] = "SELECT id FROM stacks WHERE hash = ?1 AND frames = ?2",
    [S_STACK_INS] = "INSERT INTO stacks (hash, frames) VALUES (?1, ?2)",
    [S_LSET_GET] = "SELECT id FROM labelsets WHERE hash = ?1 AND labels = ?2",
    [S_LSET_INS] = "INSERT INTO labelsets (hash, labels) VALUES (?1, ?2)",
    [S_SRC_GET] = "SELECT id FROM sources WHERE content_hash = ?1 AND size = ?2",
    [S_SRC_INS] = "INSERT INTO sources (path, size, content_hash, host, cmdline, time_origin, "
		  "ingested_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_TAG_INS] = "INSERT OR IGNORE INTO tags (source_id, key, value) VALUES (?1, ?2, ?3)",
    [S_TYPE_GET] = "SELECT id FROM types WHERE name = ?1",
    [S_TYPE_INS] = "INSERT INTO types (name, period_type, period_unit, period, "
		   "default_sample_type) VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_TYPE_READ] = "SELECT id, period_type, period_unit, period, default_sample_type "
		    "FROM types WHERE name = ?1",
    [S_TYPEVAL_INS] = "INSERT INTO type_values (type_id, idx, type, unit) VALUES (?1, ?2, ?3, ?4)",
    [S_TYPEVAL_READ] = "SELECT type, unit FROM type_values WHERE type_id = ?1 ORDER BY idx",
    [S_SRCTYPE_UPSERT] =
	"INSERT INTO source_types (source_id, type_id, start_ns, end_ns, nr_samples) "
	"VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (source_id, type_id) DO UPDATE SET "
	"start_ns = min(start_ns, excluded.start_ns), end_ns = max(end_ns, "
	"excluded.end_ns), nr_samples = nr_samples + excluded.nr_samples",
    [S_BUCKET_GET] = "SELECT data FROM samples WHERE type_id = ?1 AND bucket_start = ?2 AND "
		     "source_id = ?3",
    [S_BUCKET_PUT] =
	"INSERT INTO samples (type_id, bucket_start, source_id, nr_entries, total, data) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (type_id, bucket_start, source_id) DO "
	"UPDATE SET nr_entries = excluded.nr_entries, total = excluded.total, data = "
	"excluded.data",
    [S_LSET_READ] = "SELECT labels FROM labelsets WHERE id = ?1",
    [S_TYPES_LIST] = "SELECT name FROM types ORDER BY name",
    [S_ENTRIES] = "SELECT s.id, s.path, s.host, s.cmdline, s.time_origin, "
		  "coalesce((SELECT group_concat(key || '=' || value, ',') FROM "
		  "(SELECT key, value FROM tags WHERE source_id = s.id ORDER BY key, value)), ''), "
		  "t.name, st.start_ns, st.end_ns, st.nr_samples, "
		  "(SELECT count(*) FROM windows WHERE source_id = s.id), "
		  "(SELECT coalesce(sum(lost), 0) FROM windows WHERE source_id = s.id) "
		  "FROM source_types st JOIN sources s ON s.id = st.source_id "
		  "JOIN types t ON t.id = st.type_id ORDER BY s.id, t.name",
    [S_MAX_IDS] = "SELECT (SELECT coalesce(max(id), 0) FROM strings), "
		  "(SELECT coalesce(max(id), 0) FROM mappings), "
		  "(SELECT coalesce(max(id), 0) FROM functions), "
		  "(SELECT coalesce(max(id), 0) FROM locations), "
		  "(SELECT coalesce(max(id), 0) FROM labelsets)",
    [S_WIN_INS] = "INSERT INTO windows (source_id, start_ns, end_ns, lost, nr_samples) "
		  "VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_DATA_VERSION] = "PRAGMA data_version",
};

/* A growable byte buffer for varint keys. */
struct bytes {
	uint8_t *p;
	size_t n;
	size_t cap;
};

struct pps_store {
	sqlite3 *db;
	sqlite3_stmt *stmts[NR_STMTS]; /* prepared on first use, finalized at close */
	int64_t bucket_ns;	       /* meta.bucket_ns */
	bool readonly;		       /* PPS_STORE_READONLY */
	/* Ids of strings, mappings, functions, locations, stacks and label sets (keyed by
	 * their statement and bound values) as of data_version; NULL: none (ENOMEM). */
	struct pps_idcache *ids;
	int64_t data_version;
	struct bytes key; /* get_or_insert()'s */
};

/* ---- helpers ------------------------------------------------------------------------ */

/* Logs a SQLite failure and returns -EIO (-ENOMEM for SQLITE_NOMEM). */
static int db_err(struct pps_store *s, int rc, const char *what)
{
	pps_err("store: %s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
}

/* The statement id, reset and unbound; NULL (logged) on failure. */
static sqlite3_stmt *stmt(struct pps_store *s, enum stmt_id id)
{
	sqlite3_stmt *st = s->stmts[id];
	int rc;

	if (!st) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					&s->stmts[id], NULL);
		if (rc != SQLITE_OK) {
			db_err(s, rc, "prepare");
			return NULL;
		}
		return s->stmts[id];
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/* A text column, "" for NULL (SQLite's answer to an out-of-memory conversion, too). */
static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

static int exec(struct pps_store *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_err(s, rc, sql);
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

/* Room for n more bytes in b. 0 or -ENOMEM. */
static int bytes_reserve(struct bytes *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 256;
	uint8_t *np;

	if (b->cap - b->n >= n)
		return 0;
	while (cap - b->n < n)
		cap *= 2;
	np = realloc(b->p, cap);
	if (!np)
		return -ENOMEM;
	b->p = np;
	b->cap = cap;
	return 0;
}

static int bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (bytes_reserve(b, n))
		return -ENOMEM;
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

static int bytes_put(struct bytes *b, uint64_t v)
{
	if (bytes_reserve(b, 10))
		return -ENOMEM;
	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		b->p[b->n++] = c | (v ? 0x80 : 0);
	} while (v);
	return 0;
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Reads one varint at *pos of p[0..n); false when the bytes run out or it is too long. */
static bool bytes_get(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned int shift = 0; shift < 64 && *pos < n; shift += 7) {
		uint8_t c = p[(*pos)++];

		r |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

/* Steps a lookup statement: 1 with *id set, 0 for no row, or -errno. */
static int step_id(struct pps_store *s, sqlite3_stmt *st, int64_t *id)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_err(s, rc, "lookup");
}

/* Steps an insert statement; *id gets the new rowid (id may be NULL). */
static int step_insert(struct pps_store *s, sqlite3_stmt *st, int64_t *id)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_err(s, rc, "insert");
	if (id)
		*id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static int64_t now_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The start of the bucket holding t (floor, also for negative t). */
static int64_t bucket_of(int64_t t, int64_t width)
{
	int64_t q = t / width;

	if (t % width < 0)
		q--;
	if (q < INT64_MIN / width)
		return INT64_MIN;
	return q * width;
}

/* ---- SQL functions ------------------------------------------------------------------ */

/*
 * pps_pack(stack_id, labelset_id, v0, v1, ...): the aggregate that packs rows of
 * (stack, label set, values) into one bucket blob (lib/internal/bucket.h), for the
 * migration from version 1, whose samples were a row per (bucket, stack, label set).
 */
static void sql_pack_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct pps_bucket *b = sqlite3_aggregate_context(ctx, sizeof(*b));
	int64_t values[PPS_BUCKET_MAX_VALUES];

	if (!b) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (argc < 3 || argc - 2 > PPS_BUCKET_MAX_VALUES) {
		sqlite3_result_error(ctx, "pps_pack: stack, label set and 1 to 64 values", -1);
		return;
	}
	b->nr_values = (size_t)argc - 2;
	for (int i = 2; i < argc; i++)
		values[i - 2] = sqlite3_value_int64(argv[i]);
	if (pps_bucket_add(b, sqlite3_value_int64(argv[0]), sqlite3_value_int64(argv[1]), values))
		sqlite3_result_error_nomem(ctx);
}

static void sql_pack_final(sqlite3_context *ctx)
{
	struct pps_bucket *b = sqlite3_aggregate_context(ctx, 0);
	uint8_t *blob;
	size_t n;

	if (!b || !b->nr) {
		sqlite3_result_null(ctx);
		return;
	}
	pps_bucket_merge(b);
	if (pps_bucket_encode(b, &blob, &n))
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_blob64(ctx, blob, n, free);
	pps_bucket_release(b);
}

static int register_functions(struct pps_store *s)
{
	int rc = sqlite3_create_function_v2(s->db, "pps_pack", -1,
					    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
					    NULL, NULL, sql_pack_step, sql_pack_final, NULL);

	return rc == SQLITE_OK ? 0 : db_err(s, rc, "functions");
}

/* ---- open and close ------------------------------------------------------------------ */

static int user_version(struct pps_store *s, int64_t *v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return db_err(s, rc, "user_version");
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : db_err(s, rc, "user_version");
}

/* The SQL that makes schema version v from v - 1, NULL when this library has none. */
static const char *migration(int64_t v)
{
	for (size_t i = 0; pps_store_migrations[i].sql; i++)
		if (pps_store_migrations[i].version == v)
			return pps_store_migrations[i].sql;
	return NULL;
}

/*
 * Brings an older database up to PPS_STORE_SCHEMA_VERSION with the forward migrations, in
 * one transaction: killed or failing, it stays at its old version.
 */
static int migrate(struct pps_store *s, const char *path)
{
	int64_t from, v;
	int err, rc;

	err = exec(s, "BEGIN IMMEDIATE");
	if (err)
		return err;
	/* Another process may have migrated it between our check and our lock. */
	err = user_version(s, &from);
	for (v = from + 1; !err && v <= PPS_STORE_SCHEMA_VERSION; v++) {
		const char *sql = migration(v);

		if (!sql) {
			pps_err("%s: this pprofstore cannot migrate schema version %" PRId64
				" to %" PRId64,
				path, v - 1, v);
			err = -EPROTO;
			break;
		}
		rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			pps_err("%s: migration to schema version %" PRId64 " failed: %s", path, v,
				sqlite3_errmsg(s->db));
			err = rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
		}
	}
	err = err ?: user_version(s, &v);
	if (!err && v != PPS_STORE_SCHEMA_VERSION) {
		pps_err("%s: migrations ended at schema version %" PRId64 ", not %d", path, v,
			PPS_STORE_SCHEMA_VERSION);
		err = -EPROTO;
	}
	if (err) {
		exec(s, "ROLLBACK");
		return err;
	}
	err = exec(s, "COMMIT");
	if (!err && from < PPS_STORE_SCHEMA_VERSION)
		pps_info("%s: migrated from schema version %" PRId64 " to %d", path, from,
			 PPS_STORE_SCHEMA_VERSION);
	return err;
}

/*
 * Creates the schema in an empty database, migrates an older one, or checks the version of
 * an existing one. -EAGAIN: read-only and older (the caller migrates on another
 * connection).
 */
static int init_schema(struct pps_store *s, const char *path, int64_t bucket_ns)
{
	sqlite3_stmt *st = NULL;
	int64_t v, nr_tables = 0;
	int err, rc;

	err = user_version(s, &v);
	if (err)
		return err;
	if (v > PPS_STORE_SCHEMA_VERSION) {
		pps_err("%s: database schema version %" PRId64 " is newer than this pprofstore "
			"(version %d); use a newer pprofstore",
			path, v, PPS_STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (v == PPS_STORE_SCHEMA_VERSION)
		return 0;
	if (v > 0)
		return s->readonly ? -EAGAIN : migrate(s, path);
	rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_err(s, rc, "schema");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		nr_tables = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return db_err(s, rc, "schema");
	if (nr_tables) {
		pps_err("%s: not a pprofstore database (user_version %" PRId64 ")", path, v);
		return -EPROTO;
	}
	if (s->readonly) {
		pps_err("%s: empty database", path);
		return -EPROTO;
	}
	err = exec(s, "BEGIN IMMEDIATE");
	if (err)
		return err;
	/* Another process may have created it between our check and our lock. */
	err = user_version(s, &v);
	if (!err && v == 0) {
		err = exec(s, pps_store_sql);
		if (!err) {
			rc = sqlite3_prepare_v2(
			    s->db, "INSERT INTO meta (key, value) VALUES ('bucket_ns', ?1)", -1,
			    &st, NULL);
			if (rc == SQLITE_OK) {
				sqlite3_bind_int64(st, 1, bucket_ns);
				rc = sqlite3_step(st);
				rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
			}
			sqlite3_finalize(st);
			if (rc != SQLITE_OK)
				err = db_err(s, rc, "meta");
		}
	}
	if (err) {
		exec(s, "ROLLBACK");
		return err;
	}
	return exec(s, "COMMIT");
}

static int read_meta(struct pps_store *s)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'bucket_ns'", -1,
				    &st, NULL);

	if (rc != SQLITE_OK)
		return db_err(s, rc, "meta");
	rc = sqlite3_step(st);
	s->bucket_ns = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (s->bucket_ns <= 0) {
		pps_err("store: meta.bucket_ns missing or invalid");
		return -EPROTO;
	}
	return 0;
}

PPS_API struct pps_store *pps_store_open(const char *path, unsigned int flags, int64_t bucket_ns)
{
	struct pps_store *s;
	int oflags, rc, err;

	if (!path || bucket_ns < 0) {
		errno = EINVAL;
		return NULL;
	}
	if (!(flags & PPS_STORE_CREATE) && access(path, F_OK)) {
		errno = ENOENT;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->readonly = flags & PPS_STORE_READONLY;
	oflags = s->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	if ((flags & PPS_STORE_CREATE) && !s->readonly)
		oflags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(path, &s->db, oflags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		pps_err("%s: cannot open: %s", path,
			s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		err = -EIO;
		goto out_close;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* Ingests hold the write lock for a whole source: wait for them rather than fail. */
	sqlite3_busy_timeout(s->db, 60000);
	err = register_functions(s);
	if (!err && !s->readonly) {
		/* Incremental auto-vacuum lets gc give pages back without rewriting the file.
		 * It takes effect only in a new database, and only when set before WAL mode
		 * writes the first page; on an existing one it is what a VACUUM will make. */
		err = exec(s, "PRAGMA auto_vacuum = INCREMENTAL");
		/* WAL: readers never block the writer, and a killed writer leaves a log that
		 * the next opener rolls back. NORMAL is crash-safe in WAL (only a power cut
		 * can lose the last commits, never corrupt). */
		err = err ?: exec(s, "PRAGMA journal_mode = WAL");
		err = err ?: exec(s, "PRAGMA synchronous = NORMAL");
	}
	if (err)
		goto out_close;
	err = init_schema(s, path, bucket_ns ? bucket_ns : PPS_STORE_DEFAULT_BUCKET_NS);
	if (err == -EAGAIN) {
		/* Read-only and older: migrate on a writing connection, then read. */
		struct pps_store *w = pps_store_open(path, 0, 0);

		if (!w) {
			err = -errno;
			pps_err("%s: an older database needs write access once, to migrate it",
				path);
			goto out_close;
		}
		pps_store_close(w);
		err = init_schema(s, path, 0);
	}
	err = err ?: read_meta(s);
	if (err)
		goto out_close;
	return s;

out_close:
	pps_store_close(s);
	errno = -err;
	return NULL;
}

PPS_API void pps_store_close(struct pps_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < NR_STMTS; i++)
		sqlite3_finalize(s->stmts[i]);
	sqlite3_close(s->db);
	pps_idcache_free(s->ids);
	free(s->key.p);
	free(s);
}

PPS_API int64_t pps_store_bucket_ns(const struct pps_store *s)
{
	return s->bucket_ns;
}

/* Continues FNV-1a hash *h and byte count *n over the file at path. 0 or -errno. */
static int hash_more(const char *path, uint64_t *h, uint64_t *n)
{
	static const size_t bufsz = 1 << 16;
	uint8_t *buf;
	ssize_t got;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(bufsz);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	while ((got = read(fd, buf, bufsz)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out_free;
		}
		*h = fnv1a(*h, buf, (size_t)got);
		*n += (uint64_t)got;
	}
out_free:
	free(buf);
out_close:
	close(fd);
	return err;
}

PPS_API int pps_store_hash_file(const char *path, uint64_t *hash, uint64_t *size)
{
	uint64_t h = FNV_INIT, n = 0;
	char *main_path = NULL, **files = NULL;
	int nr = 0, err;

	if (!pps_datadir_is(path)) {
		err = hash_more(path, &h, &n);
		goto out;
	}
	err = -ENOMEM;
	main_path = pps_datadir_main(path);
	if (!main_path)
		goto out;
	err = hash_more(main_path, &h, &n);
	if (err)
		goto out;
	nr = pps_datadir_files(path, &files);
	if (nr < 0) {
		err = nr;
		nr = 0;
		goto out;
	}
	for (int i = 0; !err && i < nr; i++)
		err = hash_more(files[i], &h, &n);
out:
	if (!err) {
		*hash = h;
		*size = n;
	}
	pps_datadir_free(files, (size_t)nr);
	free(main_path);
	return err;
}

PPS_API int pps_store_has_source(struct pps_store *s, uint64_t content_hash, uint64_t size,
				 int64_t *id)
{
	sqlite3_stmt *st = stmt(s, S_SRC_GET);

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, (int64_t)content_hash);
	sqlite3_bind_int64(st, 2, (int64_t)size);
	return step_id(s, st, id);
}

/* ---- ingest ------------------------------------------------------------------------- */

/* Per-profile maps from profile ids to store ids (index = profile id). */
struct ingest_maps {
	int64_t *mappings;
	int64_t *functions;
	int64_t *locations;
};

/* How the values of a get_or_insert() are bound, and written as the id cache's key. */
struct binding {
	void (*bind)(sqlite3_stmt *st, const void *arg);
	int (*key)(struct bytes *k, const void *arg);
};

/*
 * Looks up with get (its parameters bound by b), else inserts with ins; the id cache first.
 * The cache key is b's key bytes, then get's statement id (one byte): keys of different
 * kinds of row differ in their last byte.
 */
static int get_or_insert(struct pps_store *s, enum stmt_id get, enum stmt_id ins,
			 const struct binding *b, const void *arg, int64_t *id, bool *inserted)
{
	sqlite3_stmt *st;
	int err;

	s->key.n = 0;
	err = b->key(&s->key, arg);
	err = err ?: bytes_put(&s->key, (uint64_t)get);
	if (err)
		return err;
	if (pps_idcache_get(s->ids, s->key.p, s->key.n, id))
		return 0;
	st = stmt(s, get);
	if (!st)
		return -EIO;
	b->bind(st, arg);
	err = step_id(s, st, id);
	if (err < 0)
		return err;
	if (!err) {
		st = stmt(s, ins);
		if (!st)
			return -EIO;
		b->bind(st, arg);
		err = step_insert(s, st, id);
		if (err)
			return err;
		if (inserted)
			*inserted = true;
	}
	return pps_idcache_put(s->ids, s->key.p, s->key.n, *id);
}

static void bind_ints(sqlite3_stmt *st, const void *arg)
{
	const int64_t *v = arg; /* v[0]: count, v[1..]: values */

	for (int64_t i = 0; i < v[0]; i++)
		sqlite3_bind_int64(st, (int)i + 1, v[i + 1]);
}

/* A (hash, blob) pair; blob is bound SQLITE_STATIC. */
struct keyed_blob {
	int64_t hash;
	const struct bytes *b;
	int64_t mapping_id, address; /* locations only */
};

static void bind_hash_blob(sqlite3_stmt *st, const void *arg)
{
	const struct keyed_blob *k = arg;

	sqlite3_bind_int64(st, 1, k->hash);
	sqlite3_bind_blob(st, 2, k->b->p ? (const void *)k->b->p : "", (int)k->b->n, SQLITE_STATIC);
}

static void bind_location(sqlite3_stmt *st, const void *arg)
{
	const struct keyed_blob *k = arg;

	sqlite3_bind_int64(st, 1, k->mapping_id);
	sqlite3_bind_int64(st, 2, k->address);
	sqlite3_bind_blob(st, 3, k->b->p ? (const void *)k->b->p : "", (int)k->b->n, SQLITE_STATIC);
}

static void bind_text(sqlite3_stmt *st, const void *arg)
{
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
}

static int key_text(struct bytes *k, const void *arg)
{
	return bytes_add(k, arg, strlen(arg));
}

static int key_ints(struct bytes *k, const void *arg)
{
	const int64_t *v = arg;
	int err = 0;

	for (int64_t i = 0; i < v[0] && !err; i++)
		err = bytes_put(k, (uint64_t)v[i + 1]);
	return err;
}

static int key_hash_blob(struct bytes *k, const void *arg)
{
	const struct keyed_blob *kb = arg;

	return bytes_put(k, (uint64_t)kb->hash) ?: bytes_add(k, kb->b->p, kb->b->n);
}

static int key_location(struct bytes *k, const void *arg)
{
	const struct keyed_blob *kb = arg;

	return bytes_put(k, (uint64_t)kb->mapping_id) ?: bytes_put(k, (uint64_t)kb->address)
							  ?: bytes_add(k, kb->b->p, kb->b->n);
}

/* Varints are self-delimiting and each binding has one blob at most, last: a key's bytes
 * give back its values. */
static const struct binding BIND_TEXT = {bind_text, key_text};
static const struct binding BIND_INTS = {bind_ints, key_ints};
static const struct binding BIND_HASH_BLOB = {bind_hash_blob, key_hash_blob};
static const struct binding BIND_LOCATION = {bind_location, key_location};

/* The id of string str ("" and NULL: 0), interning it. */
static int intern(struct pps_store *s, const char *str, int64_t *id)
{
	if (!str || !*str) {
		*id = 0;
		return 0;
	}
	return get_or_insert(s, S_STR_GET, S_STR_INS, &BIND_TEXT, str, id, NULL);
}

static int ingest_mappings(struct pps_store *s, const struct pps_profile *p, struct ingest_maps *m)
{
	size_t n = pps_profile_nr_mappings(p);
	int err = 0;

	for (uint64_t id = 1; id <= n && !err; id++) {
		struct pps_mapping_info mi;
		int64_t v[7] = {6};

		err = pps_profile_get_mapping(p, id, &mi);
		v[1] = (int64_t)mi.start;
		v[2] = (int64_t)mi.limit;
		v[3] = (int64_t)mi.offset;
		err = err ?: intern(s, mi.file, &v[4]);
		err = err ?: intern(s, mi.build_id, &v[5]);
		v[6] = mi.has_functions | mi.has_filenames << 1 | mi.has_line_numbers << 2 |
		       mi.has_inline_frames << 3;
		err = err
			  ?: get_or_insert(s, S_MAP_GET, S_MAP_INS, &BIND_INTS, v, &m->mappings[id],
					   NULL);
	}
	return err;
}

static int ingest_functions(struct pps_store *s, const struct pps_profile *p, struct ingest_maps *m)
{
	size_t n = pps_profile_nr_functions(p);
	int err = 0;

	for (uint64_t id = 1; id <= n && !err; id++) {
		const char *name, *sys, *file;
		int64_t v[5] = {4};

		err = pps_profile_get_function(p, id, &name, &sys, &file, &v[4]);
		err = err ?: intern(s, name, &v[1]);
		err = err ?: intern(s, sys, &v[2]);
		err = err ?: intern(s, file, &v[3]);
		err = err
			  ?: get_or_insert(s, S_FN_GET, S_FN_INS, &BIND_INTS, v, &m->functions[id],
					   NULL);
	}
	return err;
}

static int ingest_locations(struct pps_store *s, const struct pps_profile *p, struct ingest_maps *m,
			    struct bytes *b)
{
	size_t n = pps_profile_nr_locations(p);
	int err = 0;

	for (uint64_t id = 1; id <= n && !err; id++) {
		const struct pps_line *lines;
		struct keyed_blob k = {.b = b};
		uint64_t map, addr;
		size_t nr_lines;
		bool inserted = false;

		err = pps_profile_get_location(p, id, &map, &addr, &lines, &nr_lines);
		if (err)
			break;
		b->n = 0;
		for (size_t i = 0; i < nr_lines && !err; i++) {
			err = bytes_put(b, (uint64_t)m->functions[lines[i].function_id]);
			err = err ?: bytes_put(b, zigzag(lines[i].line));
			err = err ?: bytes_put(b, zigzag(lines[i].column));
		}
		k.mapping_id = map ? m->mappings[map] : 0;
		k.address = (int64_t)addr;
		err = err
			  ?: get_or_insert(s, S_LOC_GET, S_LOC_INS, &BIND_LOCATION, &k,
					   &m->locations[id], &inserted);
		for (size_t i = 0; inserted && i < nr_lines && !err; i++) {
			sqlite3_stmt *st = stmt(s, S_LINE_INS);

			if (!st) {
				err = -EIO;
				break;
			}
			sqlite3_bind_int64(st, 1, m->locations[id]);
			sqlite3_bind_int64(st, 2, (int64_t)i);
			sqlite3_bind_int64(st, 3, m->functions[lines[i].function_id]);
			sqlite3_bind_int64(st, 4, lines[i].line);
			sqlite3_bind_int64(st, 5, lines[i].column);
			err = step_insert(s, st, NULL);
		}
	}
	return err;
}

/* The type's id, created with p's shape on first use; -EINVAL when p's sample types differ
 * from the stored ones. */
static int ingest_type(struct pps_store *s, const char *type, const struct pps_profile *p,
		       int64_t *id)
{
	size_t n = pps_profile_nr_sample_types(p), i = 0;
	const char *pt, *pu, *def, *t, *u;
	sqlite3_stmt *st;
	int64_t period;
	bool same = true;
	int rc, err;

	if (!n || n > PPS_BUCKET_MAX_VALUES) {
		pps_err("store: profile %s has %zu sample types (1 to %d are stored)", type, n,
			PPS_BUCKET_MAX_VALUES);
		return -EINVAL;
	}
	st = stmt(s, S_TYPE_GET);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	err = step_id(s, st, id);
	if (err < 0)
		return err;
	if (err) {
		st = stmt(s, S_TYPEVAL_READ);
		if (!st)
			return -EIO;
		sqlite3_bind_int64(st, 1, *id);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (i < n) {
				pps_profile_get_sample_type(p, i, &t, &u);
				same &= !strcmp(col_text(st, 0), t) && !strcmp(col_text(st, 1), u);
			}
			i++;
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return db_err(s, rc, "type");
		if (!same || i != n) {
			pps_err("store: type %s: the profile's sample types differ from the stored "
				"ones",
				type);
			return -EINVAL;
		}
		return 0;
	}
	pps_profile_get_period(p, &pt, &pu, &period, &def);
	st = stmt(s, S_TYPE_INS);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pt, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, pu, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, period);
	sqlite3_bind_text(st, 5, def, -1, SQLITE_STATIC);
	err = step_insert(s, st, id);
	for (i = 0; i < n && !err; i++) {
		st = stmt(s, S_TYPEVAL_INS);
		if (!st)
			return -EIO;
		pps_profile_get_sample_type(p, i, &t, &u);
		sqlite3_bind_int64(st, 1, *id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_text(st, 3, t, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, u, -1, SQLITE_STATIC);
		err = step_insert(s, st, NULL);
	}
	return err;
}

/*
 * The label set of sample i, as a stored labelset id. The reserved PPS_BUCKET_LABEL is
 * not part of it: *bucket gets its value and *has_bucket is set.
 */
/*
 * String ids by the profile's string pointers, for one profile's labels: the profile
 * interns its strings, so a pointer stands for its text, and the thousands of samples of a
 * thread cost no lookups. Direct-mapped; a miss interns.
 */
#define STR_MEMO 1024
struct str_memo {
	const char *p;
	int64_t id;
};

/* Label set ids by their blob, for one ingest (most samples share a few label sets). */
#define LSET_MEMO 256
struct lset_memo {
	uint64_t hash;
	int64_t id; /* 0: empty */
	uint8_t n;  /* blob bytes */
	uint8_t b[54];
};

static int intern_memo(struct pps_store *s, struct str_memo *m, const char *str, int64_t *id)
{
	struct str_memo *e = &m[((uintptr_t)str >> 3) * 0x9e3779b97f4a7c15ull >> 54];
	int err;

	if (str && e->p == str) {
		*id = e->id;
		return 0;
	}
	err = intern(s, str, id);
	if (!err && str) {
		e->p = str;
		e->id = *id;
	}
	return err;
}

static int ingest_labels(struct pps_store *s, const struct pps_profile *p, size_t i,
			 struct str_memo *memo, struct lset_memo *lsets, struct bytes *b,
			 int64_t *id, int64_t *bucket, bool *has_bucket)
{
	struct keyed_blob k = {.b = b};
	struct lset_memo *lm;
	size_t nr = 0;
	int err;

	b->n = 0;
	*has_bucket = false;
	err = pps_profile_get_sample_labels(p, i, 0, &nr, NULL);
	for (size_t j = 0; j < nr && !err; j++) {
		struct pps_label l;
		int64_t key, str = 0, unit = 0;

		err = pps_profile_get_sample_labels(p, i, j, NULL, &l);
		if (err)
			break;
		if (!l.str && !strcmp(l.key, PPS_BUCKET_LABEL)) {
			*bucket = l.num;
			*has_bucket = true;
			continue;
		}
		err = intern_memo(s, memo, l.key, &key);
		if (!err && l.str)
			err = intern_memo(s, memo, l.str, &str);
		if (!err && l.num_unit)
			err = intern_memo(s, memo, l.num_unit, &unit);
		err = err ?: bytes_put(b, (uint64_t)key);
		err = err ?: bytes_put(b, (uint64_t)str);
		err = err ?: bytes_put(b, str ? 0 : zigzag(l.num));
		err = err ?: bytes_put(b, (uint64_t)unit);
	}
	if (err)
		return err;
	k.hash = (int64_t)fnv1a(FNV_INIT, b->p, b->n);
	lm = &lsets[(uint64_t)k.hash % LSET_MEMO];
	if (lm->id && lm->hash == (uint64_t)k.hash && lm->n == b->n &&
	    (!b->n || !memcmp(lm->b, b->p, b->n))) {
		*id = lm->id;
		return 0;
	}
	err = get_or_insert(s, S_LSET_GET, S_LSET_INS, &BIND_HASH_BLOB, &k, id, NULL);
	if (!err && b->n <= sizeof(lm->b)) {
		lm->hash = (uint64_t)k.hash;
		lm->id = *id;
		lm->n = (uint8_t)b->n;
		if (b->n)
			memcpy(lm->b, b->p, b->n);
	}
	return err;
}

/* Orders (bucket, stack, label set, ...) entries by bucket, stack and label set. */
static int cmp_bucket_rows(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	for (int i = 0; i < 3; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

/*
 * Writes the samples of one (type, source) as a row per bucket. all holds entries of
 * stride 2 + 1 + N: (bucket, stack, label set, N values); it is sorted here. A bucket
 * that already has a row (another window of a recording) is merged into it. *total: the
 * sum of the first values of all's entries (not of what the rows held before).
 */
static int ingest_buckets(struct pps_store *s, int64_t type_id, int64_t source_id,
			  struct pps_bucket *all, int64_t *total)
{
	struct pps_bucket one = {.nr_values = all->nr_values - 1};
	sqlite3_stmt *st;
	uint8_t *blob = NULL;
	size_t n, i = 0;
	int rc, err = 0;

	*total = 0;
	if (all->nr > 1)
		qsort(all->e, all->nr, (2 + all->nr_values) * sizeof(*all->e), cmp_bucket_rows);
	while (i < all->nr && !err) {
		int64_t bucket = pps_bucket_entry(all, i)[0];

		pps_bucket_clear(&one);
		for (; i < all->nr && pps_bucket_entry(all, i)[0] == bucket && !err; i++) {
			const int64_t *e = pps_bucket_entry(all, i);

			err = pps_bucket_add(&one, e[1], e[2], e + 3);
		}
		st = err ? NULL : stmt(s, S_BUCKET_GET);
		if (!err && !st)
			err = -EIO;
		if (err)
			break;
		/* What this call adds: not the entries an earlier window left in the row. */
		*total += pps_bucket_total(&one);
		sqlite3_bind_int64(st, 1, type_id);
		sqlite3_bind_int64(st, 2, bucket);
		sqlite3_bind_int64(st, 3, source_id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			err = pps_bucket_decode(&one, sqlite3_column_blob(st, 0),
						(size_t)sqlite3_column_bytes(st, 0));
			if (err == -EPROTO)
				pps_err("store: a damaged bucket row (type %" PRId64
					", bucket %" PRId64 ", source %" PRId64 ")",
					type_id, bucket, source_id);
		} else if (rc != SQLITE_DONE) {
			err = db_err(s, rc, "bucket");
		}
		sqlite3_reset(st);
		if (err)
			break;
		pps_bucket_merge(&one);
		err = pps_bucket_encode(&one, &blob, &n);
		st = err ? NULL : stmt(s, S_BUCKET_PUT);
		if (!err && !st)
			err = -EIO;
		if (err)
			break;
		sqlite3_bind_int64(st, 1, type_id);
		sqlite3_bind_int64(st, 2, bucket);
		sqlite3_bind_int64(st, 3, source_id);
		sqlite3_bind_int64(st, 4, (int64_t)one.nr);
		sqlite3_bind_int64(st, 5, pps_bucket_total(&one));
		sqlite3_bind_blob64(st, 6, blob, n, SQLITE_STATIC);
		err = step_insert(s, st, NULL);
		free(blob);
		blob = NULL;
	}
	pps_bucket_release(&one);
	return err;
}

/*
 * Stores one profile. A sample goes into the bucket its PPS_BUCKET_LABEL names (put on
 * this store's grid), else into the bucket of the profile's start (time_nanos, or the
 * time of ingest when it has none).
 */
static int ingest_one(struct pps_store *s, int64_t source_id, const char *type,
		      const struct pps_profile *p, int64_t ingest_ns)
{
	size_t nr_values = pps_profile_nr_sample_types(p), row_cap = 0;
	struct ingest_maps m = {0};
	struct pps_bucket all = {0};
	struct str_memo *memo = NULL;
	struct lset_memo *lsets = NULL;
	struct bytes b = {0};
	int64_t type_id, t, dur, def_bucket, total = 0, *row = NULL;
	sqlite3_stmt *st;
	int err;

	err = ingest_type(s, type, p, &type_id);
	if (err)
		return err;
	m.mappings = calloc(pps_profile_nr_mappings(p) + 1, sizeof(int64_t));
	m.functions = calloc(pps_profile_nr_functions(p) + 1, sizeof(int64_t));
	m.locations = calloc(pps_profile_nr_locations(p) + 1, sizeof(int64_t));
	memo = calloc(STR_MEMO, sizeof(*memo));
	lsets = calloc(LSET_MEMO, sizeof(*lsets));
	if (!m.mappings || !m.functions || !m.locations || !memo || !lsets) {
		err = -ENOMEM;
		goto out_free;
	}
	err = ingest_mappings(s, p, &m);
	err = err ?: ingest_functions(s, p, &m);
	err = err ?: ingest_locations(s, p, &m, &b);
	if (err)
		goto out_free;

	pps_profile_get_time(p, &t, &dur);
	if (!t)
		t = ingest_ns;
	def_bucket = bucket_of(t, s->bucket_ns);
	/* (bucket, stack, label set, values) of every sample, then one row per bucket. */
	all.nr_values = 1 + nr_values;
	for (size_t i = 0; i < pps_profile_nr_samples(p); i++) {
		struct keyed_blob k = {.b = &b};
		const uint64_t *locs;
		const int64_t *values;
		int64_t stack_id, lset_id, bucket = def_bucket;
		bool has_bucket = false;
		size_t nr_locs;

		err = pps_profile_get_sample(p, i, &locs, &nr_locs, &values);
		if (err)
			goto out_free;
		b.n = 0;
		for (size_t j = 0; j < nr_locs && !err; j++)
			err = bytes_put(&b, (uint64_t)m.locations[locs[j]]);
		if (err)
			goto out_free;
		k.hash = (int64_t)fnv1a(FNV_INIT, b.p, b.n);
		err = get_or_insert(s, S_STACK_GET, S_STACK_INS, &BIND_HASH_BLOB, &k, &stack_id,
				    NULL);
		err =
		    err ?: ingest_labels(s, p, i, memo, lsets, &b, &lset_id, &bucket, &has_bucket);
		if (has_bucket)
			bucket = bucket_of(bucket, s->bucket_ns);
		/* The bucket rides in the label set's slot, values shifted by one. */
		if (!err && nr_values + 1 > row_cap) {
			int64_t *nr = realloc(row, (nr_values + 1) * sizeof(*row));

			err = nr ? 0 : -ENOMEM;
			row = nr ? nr : row;
			row_cap = nr ? nr_values + 1 : row_cap;
		}
		if (!err) {
			row[0] = lset_id;
			memcpy(row + 1, values, nr_values * sizeof(*values));
			err = pps_bucket_add(&all, bucket, stack_id, row);
		}
		if (err)
			goto out_free;
	}
	err = ingest_buckets(s, type_id, source_id, &all, &total);
	if (err)
		goto out_free;
	st = stmt(s, S_SRCTYPE_UPSERT);
	if (!st) {
		err = -EIO;
		goto out_free;
	}
	sqlite3_bind_int64(st, 1, source_id);
	sqlite3_bind_int64(st, 2, type_id);
	sqlite3_bind_int64(st, 3, t);
	sqlite3_bind_int64(st, 4, t + dur);
	sqlite3_bind_int64(st, 5, total);
	err = step_insert(s, st, NULL);
out_free:
	pps_bucket_release(&all);
	free(lsets);
	free(memo);
	free(row);
	free(b.p);
	free(m.locations);
	free(m.functions);
	free(m.mappings);
	return err;
}

/* The sources row of src and its tags; *id gets its id. Inside a transaction. */
static int insert_source(struct pps_store *s, const struct pps_store_source *src, int64_t now,
			 int64_t *id)
{
	sqlite3_stmt *st = stmt(s, S_SRC_INS);
	int err;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, src->path ? src->path : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)src->size);
	sqlite3_bind_int64(st, 3, (int64_t)src->content_hash);
	sqlite3_bind_text(st, 4, src->host ? src->host : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, src->cmdline ? src->cmdline : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, src->time_origin ? src->time_origin : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, now);
	err = step_insert(s, st, id);
	for (size_t i = 0; i < src->nr_tags && !err; i++) {
		st = stmt(s, S_TAG_INS);
		if (!st)
			return -EIO;
		sqlite3_bind_int64(st, 1, *id);
		sqlite3_bind_text(st, 2, src->tags[i].key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, src->tags[i].value, -1, SQLITE_STATIC);
		err = step_insert(s, st, NULL);
	}
	return err;
}

/*
 * Begins the write transaction of an ingest, which may take ids from the cache. A cached
 * id stays right while only this connection writes, as it deletes rows only in gc, which
 * clears the cache; a commit by another connection (a gc in another process) may have
 * deleted any, and changes PRAGMA data_version, read once the write lock is held.
 */
static int ingest_begin(struct pps_store *s)
{
	sqlite3_stmt *st;
	int64_t v = 0;
	int err;

	err = exec(s, "BEGIN IMMEDIATE");
	if (err)
		return err;
	if (!s->ids)
		s->ids = pps_idcache_new(); /* NULL: the SQL alone, as before */
	st = stmt(s, S_DATA_VERSION);
	err = st ? step_id(s, st, &v) : -EIO;
	if (err < 0) {
		exec(s, "ROLLBACK");
		return err;
	}
	if (!err || v != s->data_version)
		pps_idcache_clear(s->ids);
	s->data_version = v;
	return 0;
}

/* Commits (err 0) or rolls back an ingest's transaction; what the cache learnt in a
 * transaction that did not commit is forgotten with the rest. Returns err, or the
 * commit's. */
static int ingest_end(struct pps_store *s, int err)
{
	if (!err)
		err = exec(s, "COMMIT");
	if (err) {
		if (!sqlite3_get_autocommit(s->db))
			exec(s, "ROLLBACK");
		pps_idcache_clear(s->ids);
	}
	return err;
}

PPS_API int pps_store_ingest(struct pps_store *s, const struct pps_store_source *src,
			     const char *const *types, struct pps_profile *const *profiles,
			     size_t n)
{
	int64_t source_id, now = now_wall_ns();
	int err;

	if (s->readonly)
		return -EROFS;
	err = ingest_begin(s);
	if (err)
		return err;
	err = pps_store_has_source(s, src->content_hash, src->size, &source_id);
	if (err > 0)
		err = -EEXIST;
	err = err ?: insert_source(s, src, now, &source_id);
	for (size_t i = 0; i < n && !err; i++)
		err = ingest_one(s, source_id, types[i], profiles[i], now);
	return ingest_end(s, err);
}

PPS_API int pps_store_ingest_profile(struct pps_store *s, const struct pps_store_source *src,
				     const char *type, struct pps_profile *p)
{
	return pps_store_ingest(s, src, &type, &p, 1);
}

/* ---- live sources --------------------------------------------------------------------- */

PPS_API int pps_store_add_source(struct pps_store *s, const struct pps_store_source *src,
				 int64_t *id)
{
	struct pps_store_source live = *src;
	int64_t now = now_wall_ns();
	int err;

	if (s->readonly)
		return -EROFS;
	if (!live.content_hash && !live.size) {
		/* No content to recognize it by: a key unique to this recording. */
		uint64_t h = FNV_INIT;
		pid_t pid = getpid();

		h = fnv1a(h, "live", 4);
		h = fnv1a(h, &now, sizeof(now));
		h = fnv1a(h, &pid, sizeof(pid));
		if (live.host)
			h = fnv1a(h, live.host, strlen(live.host));
		live.content_hash = h;
	}
	err = exec(s, "BEGIN IMMEDIATE");
	if (err)
		return err;
	err = insert_source(s, &live, now, id);
	if (err) {
		exec(s, "ROLLBACK");
		return err;
	}
	return exec(s, "COMMIT");
}

/*
 * A window goes through ingest_one(), as a file's profiles do: its samples into the buckets
 * of their pps::bucket labels, merged into the rows earlier windows of the source left in
 * the same buckets; source_types grows to cover it.
 */
PPS_API int pps_store_append(struct pps_store *s, int64_t source_id,
			     const struct pps_store_window *w, const char *const *types,
			     struct pps_profile *const *profiles, size_t n)
{
	int64_t now = now_wall_ns();
	sqlite3_stmt *st;
	int err;

	if (s->readonly)
		return -EROFS;
	if (w->end_ns < w->start_ns)
		return -EINVAL;
	err = ingest_begin(s);
	if (err)
		return err;
	for (size_t i = 0; i < n && !err; i++)
		err = ingest_one(s, source_id, types[i], profiles[i], now);
	st = err ? NULL : stmt(s, S_WIN_INS);
	if (!err && !st)
		err = -EIO;
	if (!err) {
		sqlite3_bind_int64(st, 1, source_id);
		sqlite3_bind_int64(st, 2, w->start_ns);
		sqlite3_bind_int64(st, 3, w->end_ns);
		sqlite3_bind_int64(st, 4, (int64_t)w->lost);
		sqlite3_bind_int64(st, 5, (int64_t)w->nr_samples);
		err = step_insert(s, st, NULL);
	}
	return ingest_end(s, err);
}

/* ---- query -------------------------------------------------------------------------- */

/* Store ids to profile ids (and string texts), filled as stacks need them. */
struct query_maps {
	char **strs; /* strs[id]: malloc'ed text, NULL until read */
	uint64_t *mappings, *functions, *locations;
	/* Label sets by id, decoded on first use (strings from strs). */
	struct lset_entry {
		struct pps_label *labels;
		size_t nr;
		bool loaded;
		uint8_t match; /* 0: not known yet, 1: passes the label filters, 2: not */
	} * lsets;
	int64_t max_str, max_map, max_fn, max_loc, max_lset;
};

static int max_ids(struct pps_store *s, struct query_maps *q)
{
	sqlite3_stmt *st = stmt(s, S_MAX_IDS);
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return db_err(s, rc, "query");
	}
	q->max_str = sqlite3_column_int64(st, 0);
	q->max_map = sqlite3_column_int64(st, 1);
	q->max_fn = sqlite3_column_int64(st, 2);
	q->max_loc = sqlite3_column_int64(st, 3);
	q->max_lset = sqlite3_column_int64(st, 4);
	sqlite3_reset(st);
	q->lsets = calloc((size_t)q->max_lset + 1, sizeof(*q->lsets));
	q->strs = calloc((size_t)q->max_str + 1, sizeof(char *));
	q->mappings = calloc((size_t)q->max_map + 1, sizeof(uint64_t));
	q->functions = calloc((size_t)q->max_fn + 1, sizeof(uint64_t));
	q->locations = calloc((size_t)q->max_loc + 1, sizeof(uint64_t));
	return q->strs && q->mappings && q->functions && q->locations && q->lsets ? 0 : -ENOMEM;
}

static void query_maps_release(struct query_maps *q)
{
	for (int64_t i = 0; q->strs && i <= q->max_str; i++)
		free(q->strs[i]);
	free(q->strs);
	for (int64_t i = 0; q->lsets && i <= q->max_lset; i++)
		free(q->lsets[i].labels);
	free(q->lsets);
	free(q->mappings);
	free(q->functions);
	free(q->locations);
}

/* String id's text into *out ("" for 0); -EIO for an id the database does not hold. */
static int str_get(struct pps_store *s, struct query_maps *q, int64_t id, const char **out)
{
	sqlite3_stmt *st;
	int rc;

	if (id == 0) {
		*out = "";
		return 0;
	}
	if (id < 0 || id > q->max_str)
		return -EIO;
	if (!q->strs[id]) {
		st = stmt(s, S_STR_READ);
		if (!st)
			return -EIO;
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			q->strs[id] = strdup(col_text(st, 0));
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			return db_err(s, rc, "string");
		if (!q->strs[id])
			return -ENOMEM;
	}
	*out = q->strs[id];
	return 0;
}

static int query_mapping(struct pps_store *s, struct query_maps *q, struct pps_profile *p,
			 int64_t id, uint64_t *out)
{
	struct pps_mapping_info mi = {0};
	int64_t file, build_id, flags;
	sqlite3_stmt *st;
	int rc, err;

	if (id == 0) {
		*out = 0;
		return 0;
	}
	if (id < 0 || id > q->max_map)
		return -EIO;
	if (q->mappings[id]) {
		*out = q->mappings[id];
		return 0;
	}
	st = stmt(s, S_MAP_READ);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return db_err(s, rc, "mapping");
	}
	mi.start = (uint64_t)sqlite3_column_int64(st, 0);
	mi.limit = (uint64_t)sqlite3_column_int64(st, 1);
	mi.offset = (uint64_t)sqlite3_column_int64(st, 2);
	file = sqlite3_column_int64(st, 3);
	build_id = sqlite3_column_int64(st, 4);
	flags = sqlite3_column_int64(st, 5);
	sqlite3_reset(st);
	mi.has_functions = flags & 1;
	mi.has_filenames = flags & 2;
	mi.has_line_numbers = flags & 4;
	mi.has_inline_frames = flags & 8;
	err = str_get(s, q, file, &mi.file);
	err = err ?: str_get(s, q, build_id, &mi.build_id);
	if (err)
		return err;
	q->mappings[id] = pps_profile_add_mapping(p, &mi);
	if (!q->mappings[id])
		return -errno;
	*out = q->mappings[id];
	return 0;
}

/* ---- resolving a selection's stacks in bulk --------------------------------------- */

/*
 * A query needs thousands of stacks, locations, functions and strings. Read one by one,
 * each costs a statement; when the ids wanted are a good part of their id range, one scan
 * of the range is cheaper. ids: sorted, unique. For every row of a wanted id, row(st, i,
 * ctx) gets the statement (column 0: the id) and i, the id's index in ids. range_sql takes
 * ?1 and ?2 (the first and last id, rows in id order); point_sql takes ?1.
 */
static int bulk_rows(struct pps_store *s, const char *range_sql, const char *point_sql,
		     const int64_t *ids, size_t n,
		     int (*row)(sqlite3_stmt *st, size_t i, void *ctx), void *ctx)
{
	bool range = n && (uint64_t)(ids[n - 1] - ids[0]) / 4 < n;
	sqlite3_stmt *st;
	size_t i = 0;
	int rc, err = 0;

	if (!n)
		return 0;
	rc = sqlite3_prepare_v2(s->db, range ? range_sql : point_sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_err(s, rc, "query");
	if (range) {
		sqlite3_bind_int64(st, 1, ids[0]);
		sqlite3_bind_int64(st, 2, ids[n - 1]);
		while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(st, 0);

			while (i < n && ids[i] < id)
				i++;
			if (i < n && ids[i] == id)
				err = row(st, i, ctx);
		}
	} else {
		for (i = 0; i < n && !err; i++) {
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, ids[i]);
			while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW)
				err = row(st, i, ctx);
			if (rc != SQLITE_DONE && rc != SQLITE_ROW)
				break;
		}
	}
	if (!err && rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = db_err(s, rc, "query");
	sqlite3_finalize(st);
	return err;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v[0..*n) and drops repeats. */
static void sort_unique(int64_t *v, size_t *n)
{
	size_t out = 0;

	if (*n < 2)
		return;
	qsort(v, *n, sizeof(*v), cmp_i64);
	for (size_t i = 0; i < *n; i++)
		if (!out || v[out - 1] != v[i])
			v[out++] = v[i];
	*n = out;
}

/* The index of id in sorted ids, SIZE_MAX when absent. */
static size_t find_id(const int64_t *ids, size_t n, int64_t id)
{
	const int64_t *f = n ? bsearch(&id, ids, n, sizeof(*ids), cmp_i64) : NULL;

	return f ? (size_t)(f - ids) : SIZE_MAX;
}

/* A growable int64 array. */
struct ivec {
	int64_t *v;
	size_t n, cap;
};

static int ivec_push(struct ivec *a, int64_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		int64_t *nv = realloc(a->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

/* What a selection's samples refer to, read in bulk. */
struct resolve {
	struct pps_store *s;
	struct query_maps *q;
	struct pps_profile *p;
	struct ivec sid;	 /* stack ids wanted, sorted */
	size_t *s_off, *s_len;	 /* by stack index: their location ids in frames */
	struct ivec frames;	 /* location ids */
	struct ivec lid;	 /* location ids wanted, sorted */
	int64_t *l_map, *l_addr; /* by location index: mapping id, address */
	size_t *l_off, *l_len;	 /* by location index: their lines in lines */
	struct ivec lines;	 /* (function id, line, column) triples */
	struct ivec fid;	 /* function ids wanted, sorted */
	int64_t *f;		 /* by function index: name, system name, file, start line */
	struct ivec strs;	 /* string ids wanted, sorted */
};

static int row_stack(sqlite3_stmt *st, size_t i, void *ctx)
{
	struct resolve *r = ctx;
	const uint8_t *p = sqlite3_column_blob(st, 1);
	size_t n = (size_t)sqlite3_column_bytes(st, 1), pos = 0;
	uint64_t id;
	int err = 0;

	r->s_off[i] = r->frames.n;
	while (pos < n && !err) {
		if (!bytes_get(p, n, &pos, &id))
			return -EIO;
		err = ivec_push(&r->frames, (int64_t)id);
	}
	r->s_len[i] = r->frames.n - r->s_off[i];
	return err;
}

static int row_location(sqlite3_stmt *st, size_t i, void *ctx)
{
	struct resolve *r = ctx;

	r->l_map[i] = sqlite3_column_int64(st, 1);
	r->l_addr[i] = sqlite3_column_int64(st, 2);
	return 0;
}

/* Lines come in (location, idx) order: a location's lines are consecutive. */
static int row_line(sqlite3_stmt *st, size_t i, void *ctx)
{
	struct resolve *r = ctx;
	int err;

	if (!r->l_len[i])
		r->l_off[i] = r->lines.n;
	else if (r->l_off[i] + 3 * r->l_len[i] != r->lines.n)
		return -EIO;
	err = ivec_push(&r->lines, sqlite3_column_int64(st, 1));
	err = err ?: ivec_push(&r->lines, sqlite3_column_int64(st, 2));
	err = err ?: ivec_push(&r->lines, sqlite3_column_int64(st, 3));
	r->l_len[i]++;
	return err;
}

static int row_function(sqlite3_stmt *st, size_t i, void *ctx)
{
	struct resolve *r = ctx;

	for (int k = 0; k < 4; k++)
		r->f[4 * i + (size_t)k] = sqlite3_column_int64(st, k + 1);
	return 0;
}

static int row_string(sqlite3_stmt *st, size_t i, void *ctx)
{
	struct resolve *r = ctx;
	int64_t id = r->strs.v[i];

	if (id <= 0 || id > r->q->max_str)
		return -EIO;
	if (!r->q->strs[id]) {
		r->q->strs[id] = strdup(col_text(st, 1));
		if (!r->q->strs[id])
			return -ENOMEM;
	}
	return 0;
}

static void resolve_release(struct resolve *r)
{
	free(r->sid.v);
	free(r->s_off);
	free(r->s_len);
	free(r->frames.v);
	free(r->lid.v);
	free(r->l_map);
	free(r->l_addr);
	free(r->l_off);
	free(r->l_len);
	free(r->lines.v);
	free(r->fid.v);
	free(r->f);
	free(r->strs.v);
}

/*
 * Reads the stacks of the entries of all (stack, label set, values), then their locations
 * with their lines, functions and strings, and adds the functions and locations to the
 * profile (q->functions, q->locations map store ids to the profile's).
 */
static int resolve_stacks(struct resolve *r, const struct pps_bucket *all)
{
	uint8_t *seen;
	int err = 0;

	for (size_t i = 0; i < all->nr && !err; i++)
		err = ivec_push(&r->sid, pps_bucket_entry(all, i)[0]);
	if (err)
		return err;
	sort_unique(r->sid.v, &r->sid.n);
	r->s_off = calloc(r->sid.n + 1, sizeof(*r->s_off));
	r->s_len = calloc(r->sid.n + 1, sizeof(*r->s_len));
	if (!r->s_off || !r->s_len)
		return -ENOMEM;
	err = bulk_rows(r->s, "SELECT id, frames FROM stacks WHERE id BETWEEN ?1 AND ?2",
			"SELECT id, frames FROM stacks WHERE id = ?1", r->sid.v, r->sid.n,
			row_stack, r);
	/* The locations of those stacks: each once (a stack shares most of its frames with
	 * others), marked in a byte per location id rather than sorted with repeats. */
	seen = calloc((size_t)r->q->max_loc + 1, 1);
	if (!seen)
		return -ENOMEM;
	for (size_t i = 0; i < r->frames.n && !err; i++) {
		int64_t id = r->frames.v[i];

		if (id <= 0 || id > r->q->max_loc) {
			err = -EIO;
		} else if (!seen[id]) {
			seen[id] = 1;
			err = ivec_push(&r->lid, id);
		}
	}
	free(seen);
	if (err)
		return err;
	sort_unique(r->lid.v, &r->lid.n);
	r->l_map = calloc(r->lid.n + 1, sizeof(*r->l_map));
	r->l_addr = calloc(r->lid.n + 1, sizeof(*r->l_addr));
	r->l_off = calloc(r->lid.n + 1, sizeof(*r->l_off));
	r->l_len = calloc(r->lid.n + 1, sizeof(*r->l_len));
	if (!r->l_map || !r->l_addr || !r->l_off || !r->l_len)
		return -ENOMEM;
	err = bulk_rows(r->s,
			"SELECT id, mapping_id, address FROM locations WHERE id BETWEEN ?1 AND ?2",
			"SELECT id, mapping_id, address FROM locations WHERE id = ?1", r->lid.v,
			r->lid.n, row_location, r);
	err = err
		  ?: bulk_rows(r->s,
			       "SELECT location_id, function_id, line, col FROM location_lines "
			       "WHERE location_id BETWEEN ?1 AND ?2 ORDER BY location_id, idx",
			       "SELECT location_id, function_id, line, col FROM location_lines "
			       "WHERE location_id = ?1 ORDER BY idx",
			       r->lid.v, r->lid.n, row_line, r);
	/* Their functions, and the functions' strings. */
	for (size_t i = 0; i < r->lines.n && !err; i += 3)
		err = ivec_push(&r->fid, r->lines.v[i]);
	if (err)
		return err;
	sort_unique(r->fid.v, &r->fid.n);
	r->f = calloc(4 * r->fid.n + 1, sizeof(*r->f));
	if (!r->f)
		return -ENOMEM;
	err = bulk_rows(
	    r->s,
	    "SELECT id, name, system_name, filename, start_line FROM functions WHERE id "
	    "BETWEEN ?1 AND ?2",
	    "SELECT id, name, system_name, filename, start_line FROM functions WHERE id = ?1",
	    r->fid.v, r->fid.n, row_function, r);
	for (size_t i = 0; i < r->fid.n && !err; i++)
		for (int k = 0; k < 3 && !err; k++)
			if (r->f[4 * i + (size_t)k] > 0)
				err = ivec_push(&r->strs, r->f[4 * i + (size_t)k]);
	if (err)
		return err;
	sort_unique(r->strs.v, &r->strs.n);
	err = bulk_rows(r->s, "SELECT id, s FROM strings WHERE id BETWEEN ?1 AND ?2",
			"SELECT id, s FROM strings WHERE id = ?1", r->strs.v, r->strs.n, row_string,
			r);
	/* Into the profile: functions, then locations (with their mappings). */
	for (size_t i = 0; i < r->fid.n && !err; i++) {
		const char *name, *sys, *file;
		int64_t id = r->fid.v[i];

		if (id <= 0 || id > r->q->max_fn)
			return -EIO;
		err = str_get(r->s, r->q, r->f[4 * i], &name);
		err = err ?: str_get(r->s, r->q, r->f[4 * i + 1], &sys);
		err = err ?: str_get(r->s, r->q, r->f[4 * i + 2], &file);
		if (err)
			break;
		r->q->functions[id] =
		    pps_profile_add_function(r->p, name, sys, file, r->f[4 * i + 3]);
		if (!r->q->functions[id])
			err = -errno;
	}
	for (size_t i = 0; i < r->lid.n && !err; i++) {
		struct pps_line lines[64], *lp = lines;
		int64_t id = r->lid.v[i];
		uint64_t mapping_id = 0;
		size_t n = r->l_len[i];

		if (id <= 0 || id > r->q->max_loc)
			return -EIO;
		if (n > PPS_ARRAY_SIZE(lines)) {
			lp = malloc(n * sizeof(*lp));
			if (!lp)
				return -ENOMEM;
		}
		for (size_t k = 0; k < n && !err; k++) {
			const int64_t *l = &r->lines.v[r->l_off[i] + 3 * k];
			size_t f = find_id(r->fid.v, r->fid.n, l[0]);

			if (f == SIZE_MAX)
				err = -EIO;
			else
				lp[k] = (struct pps_line){.function_id = r->q->functions[l[0]],
							  .line = l[1],
							  .column = l[2]};
		}
		err = err ?: query_mapping(r->s, r->q, r->p, r->l_map[i], &mapping_id);
		if (!err) {
			r->q->locations[id] = pps_profile_add_location(
			    r->p, mapping_id, (uint64_t)r->l_addr[i], lp, n);
			if (!r->q->locations[id])
				err = -errno;
		}
		if (lp != lines)
			free(lp);
	}
	return err;
}

/* Decodes a label set blob into profile labels (strings owned by q). */
static int query_labels(struct pps_store *s, struct query_maps *q, const uint8_t *blob, size_t n,
			struct pps_label **labels, size_t *cap, size_t *nr)
{
	size_t pos = 0;
	int err = 0;

	*nr = 0;
	while (pos < n && !err) {
		uint64_t key, str, num, unit;
		struct pps_label *l;

		if (!bytes_get(blob, n, &pos, &key) || !bytes_get(blob, n, &pos, &str) ||
		    !bytes_get(blob, n, &pos, &num) || !bytes_get(blob, n, &pos, &unit))
			return -EIO;
		if (*nr == *cap) {
			size_t ncap = *cap ? *cap * 2 : 8;
			struct pps_label *nl = realloc(*labels, ncap * sizeof(**labels));

			if (!nl)
				return -ENOMEM;
			*labels = nl;
			*cap = ncap;
		}
		l = &(*labels)[(*nr)++];
		memset(l, 0, sizeof(*l));
		err = str_get(s, q, (int64_t)key, &l->key);
		if (!err && str)
			err = str_get(s, q, (int64_t)str, &l->str);
		if (!err && unit)
			err = str_get(s, q, (int64_t)unit, &l->num_unit);
		l->num = unzigzag(num);
	}
	return err;
}

/* The new profile's shape from the types row; *type_id gets its id. */
static struct pps_profile *query_shape(struct pps_store *s, const char *type, int64_t *type_id)
{
	struct pps_profile *p = NULL;
	sqlite3_stmt *st = stmt(s, S_TYPE_READ);
	char *c[4] = {NULL, NULL, NULL, NULL};
	int64_t period = 0;
	int rc, err = -EIO;

	if (!st)
		goto out_err;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		err = rc == SQLITE_DONE ? -ENOENT : db_err(s, rc, "type");
		sqlite3_reset(st);
		goto out_err;
	}
	*type_id = sqlite3_column_int64(st, 0);
	period = sqlite3_column_int64(st, 3);
	/* Copied: the statement is reset before they are used. */
	c[0] = strdup(col_text(st, 1));
	c[1] = strdup(col_text(st, 2));
	c[3] = strdup(col_text(st, 4));
	sqlite3_reset(st);
	p = pps_profile_new();
	err = p && c[0] && c[1] && c[3] ? 0 : -ENOMEM;
	st = err ? NULL : stmt(s, S_TYPEVAL_READ);
	if (!err && !st)
		err = -EIO;
	if (!err) {
		sqlite3_bind_int64(st, 1, *type_id);
		while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW)
			err = pps_profile_add_sample_type(p, col_text(st, 0), col_text(st, 1));
		if (!err && rc != SQLITE_DONE)
			err = db_err(s, rc, "type values");
		sqlite3_reset(st);
	}
	if (!err && !pps_profile_nr_sample_types(p)) {
		pps_err("store: type %s has no sample types", type);
		err = -EIO;
	}
	if (!err && *c[0])
		err = pps_profile_set_period(p, c[0], c[1], period);
	if (!err && *c[3])
		err = pps_profile_set_default_sample_type(p, c[3]);
out_err:
	for (int i = 0; i < 4; i++)
		free(c[i]);
	if (!err)
		return p;
	pps_profile_free(p);
	errno = -err;
	return NULL;
}

/* A type's id. Returns 0, -ENOENT or -EIO. */
static int type_id_of(struct pps_store *s, const char *type, int64_t *id)
{
	sqlite3_stmt *st = stmt(s, S_TYPE_READ);
	int rc, err;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		err = 0;
	} else {
		err = rc == SQLITE_DONE ? -ENOENT : db_err(s, rc, "type");
	}
	sqlite3_reset(st);
	return err;
}

/*
 * Prepares head + the selection's terms + tail. The terms use samples as "sa"; ?1 is the
 * type id, then the bucket range, the source and the tags, all bound here. Returns 0, -EIO
 * or -ENOMEM.
 */
static int select_prepare(struct pps_store *s, const struct pps_store_selection *sel,
			  int64_t type_id, const char *head, const char *tail, sqlite3_stmt **out)
{
	static const char range_term[] = " AND sa.bucket_start >= ? AND sa.bucket_start < ?";
	static const char source_term[] = " AND sa.source_id = ?";
	static const char tag_term[] =
	    " AND sa.source_id IN (SELECT source_id FROM tags WHERE key = ? AND value = ?)";
	bool all_time = !sel->from_ns && !sel->to_ns;
	size_t hl = strlen(head), tl = strlen(tail), len;
	sqlite3_stmt *st = NULL;
	char *sql;
	int rc, n = 1, err = 0;

	/* The statement's text depends only on which terms are present; values are bound. */
	len = hl + sizeof(range_term) + sizeof(source_term) + sel->nr_tags * sizeof(tag_term) + tl;
	sql = malloc(len + 1);
	if (!sql)
		return -ENOMEM;
	memcpy(sql, head, hl);
	len = hl;
	if (!all_time) {
		memcpy(sql + len, range_term, sizeof(range_term) - 1);
		len += sizeof(range_term) - 1;
	}
	if (sel->source_id > 0) {
		memcpy(sql + len, source_term, sizeof(source_term) - 1);
		len += sizeof(source_term) - 1;
	}
	for (size_t i = 0; i < sel->nr_tags; i++, len += sizeof(tag_term) - 1)
		memcpy(sql + len, tag_term, sizeof(tag_term) - 1);
	memcpy(sql + len, tail, tl + 1);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	free(sql);
	if (rc != SQLITE_OK)
		return db_err(s, rc, "query");
	sqlite3_bind_int64(st, n++, type_id);
	if (!all_time) {
		sqlite3_bind_int64(st, n++, bucket_of(sel->from_ns, s->bucket_ns));
		sqlite3_bind_int64(st, n++, sel->to_ns);
	}
	if (sel->source_id > 0)
		sqlite3_bind_int64(st, n++, sel->source_id);
	for (size_t i = 0; i < sel->nr_tags; i++) {
		sqlite3_bind_text(st, n++, sel->tags[i].key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, n++, sel->tags[i].value, -1, SQLITE_STATIC);
	}
	*out = st;
	return err;
}

/* Whether labels carry every wanted key=value (numeric values compared in decimal). */
static bool labels_match(const struct pps_label *labels, size_t nr,
			 const struct pps_store_tag *want, size_t nr_want)
{
	for (size_t w = 0; w < nr_want; w++) {
		bool found = false;

		for (size_t i = 0; i < nr && !found; i++) {
			char num[24];

			if (strcmp(labels[i].key, want[w].key))
				continue;
			if (labels[i].str) {
				found = !strcmp(labels[i].str, want[w].value);
			} else {
				snprintf(num, sizeof(num), "%" PRId64, labels[i].num);
				found = !strcmp(num, want[w].value);
			}
		}
		if (!found)
			return false;
	}
	return true;
}

/* The blob of a label set (stmt S_LSET_READ) into buf, a copy. -EIO when the id is not
 * there. */
static int read_blob(struct pps_store *s, enum stmt_id which, int64_t id, struct bytes *buf)
{
	sqlite3_stmt *st = stmt(s, which);
	const void *p;
	size_t n;
	int rc, err = 0;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			pps_err("store: label set %" PRId64 " is missing", id);
		return rc == SQLITE_DONE ? -EIO : db_err(s, rc, "read");
	}
	p = sqlite3_column_blob(st, 0);
	n = (size_t)sqlite3_column_bytes(st, 0);
	buf->n = 0;
	if (n > buf->cap) {
		uint8_t *np = realloc(buf->p, n);

		err = np ? 0 : -ENOMEM;
		buf->p = np ? np : buf->p;
		buf->cap = np ? n : buf->cap;
	}
	if (!err && n) {
		memcpy(buf->p, p, n);
		buf->n = n;
	}
	sqlite3_reset(st);
	return err;
}

/* Label set id, decoded once per query (q->lsets). */
static int lset_get(struct pps_store *s, struct query_maps *q, int64_t id, struct bytes *buf,
		    struct lset_entry **out)
{
	struct lset_entry *l;
	size_t cap = 0;
	int err;

	if (id < 0 || id > q->max_lset)
		return -EIO;
	l = &q->lsets[id];
	if (!l->loaded) {
		err = read_blob(s, S_LSET_READ, id, buf);
		err = err ?: query_labels(s, q, buf->p, buf->n, &l->labels, &cap, &l->nr);
		if (err)
			return err;
		l->loaded = true;
	}
	*out = l;
	return 0;
}

/* Whether label set id passes the selection's label filters. */
static int lset_passes(struct pps_store *s, struct query_maps *q,
		       const struct pps_store_selection *sel, int64_t id, struct bytes *buf,
		       bool *pass)
{
	struct lset_entry *l;
	int err;

	if (!sel->nr_labels) {
		*pass = true;
		return 0;
	}
	err = lset_get(s, q, id, buf, &l);
	if (err)
		return err;
	if (!l->match)
		l->match = labels_match(l->labels, l->nr, sel->labels, sel->nr_labels) ? 1 : 2;
	*pass = l->match == 1;
	return 0;
}

/* (stack, label set) -> entry of a bucket, to sum a selection's entries as they come. */
struct agg {
	size_t *slots; /* entry index + 1; 0: empty */
	size_t cap;
};

static uint64_t agg_hash(int64_t stack, int64_t lset)
{
	uint64_t h = (uint64_t)stack * 0x9e3779b97f4a7c15ull ^ (uint64_t)lset;

	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	return h ^ (h >> 32);
}

/* Adds entry e (stack, label set, values) into b through the index a. */
static int agg_add(struct agg *a, struct pps_bucket *b, const int64_t *e)
{
	size_t i;

	if ((b->nr + 1) * 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 4096;
		size_t *slots = calloc(cap, sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		for (size_t k = 0; k < b->nr; k++) {
			const int64_t *x = pps_bucket_entry(b, k);

			for (i = agg_hash(x[0], x[1]) & (cap - 1); slots[i];
			     i = (i + 1) & (cap - 1))
				;
			slots[i] = k + 1;
		}
		free(a->slots);
		a->slots = slots;
		a->cap = cap;
	}
	for (i = agg_hash(e[0], e[1]) & (a->cap - 1); a->slots[i]; i = (i + 1) & (a->cap - 1)) {
		int64_t *x = pps_bucket_entry(b, a->slots[i] - 1);

		if (x[0] == e[0] && x[1] == e[1]) {
			for (size_t k = 0; k < b->nr_values; k++)
				x[2 + k] = (int64_t)((uint64_t)x[2 + k] + (uint64_t)e[2 + k]);
			return 0;
		}
	}
	a->slots[i] = b->nr + 1;
	return pps_bucket_add(b, e[0], e[1], e + 2);
}

/*
 * The live windows of a selection's sources that overlap its buckets (the label filters do
 * not apply: lost records have no labels): their number and lost records.
 */
static int window_losses(struct pps_store *s, const struct pps_store_selection *sel, int64_t *nr,
			 int64_t *lost)
{
	static const char head[] = "SELECT count(*), coalesce(sum(lost), 0) FROM windows w "
				   "WHERE 1";
	static const char range_term[] = " AND w.end_ns > ? AND w.start_ns < ?";
	static const char source_term[] = " AND w.source_id = ?";
	static const char tag_term[] =
	    " AND w.source_id IN (SELECT source_id FROM tags WHERE key = ? AND value = ?)";
	bool all_time = !sel->from_ns && !sel->to_ns;
	size_t len = sizeof(head) + sizeof(range_term) + sizeof(source_term) +
		     sel->nr_tags * sizeof(tag_term);
	sqlite3_stmt *st = NULL;
	char *sql = malloc(len);
	int rc, n = 1, err = 0;

	*nr = *lost = 0;
	if (!sql)
		return -ENOMEM;
	memcpy(sql, head, sizeof(head) - 1);
	len = sizeof(head) - 1;
	if (!all_time) {
		memcpy(sql + len, range_term, sizeof(range_term) - 1);
		len += sizeof(range_term) - 1;
	}
	if (sel->source_id > 0) {
		memcpy(sql + len, source_term, sizeof(source_term) - 1);
		len += sizeof(source_term) - 1;
	}
	for (size_t i = 0; i < sel->nr_tags; i++, len += sizeof(tag_term) - 1)
		memcpy(sql + len, tag_term, sizeof(tag_term) - 1);
	sql[len] = '\0';
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		err = db_err(s, rc, "query windows");
		goto out;
	}
	if (!all_time) {
		/* The selected buckets span [bucket_of(from), bucket_of(to - 1) + width). */
		int64_t last = sel->to_ns > sel->from_ns ? bucket_of(sel->to_ns - 1, s->bucket_ns)
							 : sel->to_ns;

		sqlite3_bind_int64(st, n++, bucket_of(sel->from_ns, s->bucket_ns));
		sqlite3_bind_int64(st, n++,
				   sel->to_ns <= sel->from_ns	     ? sel->to_ns
				   : last > INT64_MAX - s->bucket_ns ? INT64_MAX
								     : last + s->bucket_ns);
	}
	if (sel->source_id > 0)
		sqlite3_bind_int64(st, n++, sel->source_id);
	for (size_t i = 0; i < sel->nr_tags; i++) {
		sqlite3_bind_text(st, n++, sel->tags[i].key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, n++, sel->tags[i].value, -1, SQLITE_STATIC);
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*nr = sqlite3_column_int64(st, 0);
		*lost = sqlite3_column_int64(st, 1);
	} else {
		err = db_err(s, rc, "query windows");
	}
out:
	sqlite3_finalize(st);
	free(sql);
	return err;
}

PPS_API struct pps_profile *pps_store_select(struct pps_store *s,
					     const struct pps_store_selection *sel)
{
	static const char head[] =
	    "SELECT sa.bucket_start, sa.data FROM samples sa WHERE sa.type_id = ?";
	struct query_maps q = {0};
	struct pps_bucket all = {0}, one = {0};
	struct agg agg = {0};
	struct resolve res = {0};
	struct lset_entry *lset;
	struct bytes buf = {0};
	uint64_t *locs = NULL;
	size_t locs_cap = 0;
	int64_t type_id = 0, first = INT64_MAX, last = INT64_MIN;
	struct pps_profile *p = NULL;
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, err;
	bool own_txn;

	if (!s || !sel || sel->sz < sizeof(*sel) || !sel->type || (sel->nr_tags && !sel->tags) ||
	    (sel->nr_labels && !sel->labels)) {
		errno = EINVAL;
		return NULL;
	}
	/* One read transaction: one snapshot for all the statements below (an ingest may
	 * commit meanwhile), and the WAL locks taken once instead of per statement. */
	own_txn = sqlite3_get_autocommit(s->db);
	if (own_txn && exec(s, "BEGIN")) {
		errno = EIO;
		return NULL;
	}
	p = query_shape(s, sel->type, &type_id);
	if (!p) {
		err = -errno;
		goto out_end;
	}
	all.nr_values = one.nr_values = pps_profile_nr_sample_types(p);
	err = max_ids(s, &q);
	err = err ?: select_prepare(s, sel, type_id, head, "", &st);
	/* Every bucket row of the selection, its entries that pass the label filters. */
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t bucket = sqlite3_column_int64(st, 0);
		bool any = false;

		pps_bucket_clear(&one);
		err = pps_bucket_decode(&one, sqlite3_column_blob(st, 1),
					(size_t)sqlite3_column_bytes(st, 1));
		if (err == -EPROTO) {
			pps_err("store: the %s bucket at %" PRId64 " is damaged", sel->type,
				bucket);
			err = -EIO;
		}
		for (size_t i = 0; i < one.nr && !err; i++) {
			const int64_t *e = pps_bucket_entry(&one, i);
			bool pass;

			err = lset_passes(s, &q, sel, e[1], &buf, &pass);
			if (!err && pass) {
				err = agg_add(&agg, &all, e);
				any = true;
			}
		}
		if (any && bucket < first)
			first = bucket;
		if (any && bucket > last)
			last = bucket;
	}
	if (!err && rc != SQLITE_DONE)
		err = db_err(s, rc, "query");
	sqlite3_finalize(st);
	pps_bucket_release(&one);
	free(agg.slots);
	/* Summed per (stack, label set); the stacks resolved in bulk. */
	res.s = s;
	res.q = &q;
	res.p = p;
	err = err ?: resolve_stacks(&res, &all);
	for (size_t i = 0; i < all.nr && !err; i++) {
		const int64_t *e = pps_bucket_entry(&all, i);
		size_t si = find_id(res.sid.v, res.sid.n, e[0]), n;

		if (si == SIZE_MAX) {
			err = -EIO;
			break;
		}
		n = res.s_len[si];
		if (n > locs_cap) {
			uint64_t *nl = realloc(locs, n * sizeof(*locs));

			if (!nl) {
				err = -ENOMEM;
				break;
			}
			locs = nl;
			locs_cap = n;
		}
		for (size_t k = 0; k < n && !err; k++) {
			int64_t id = res.frames.v[res.s_off[si] + k];

			if (id <= 0 || id > q.max_loc || !q.locations[id])
				err = -EIO;
			else
				locs[k] = q.locations[id];
		}
		err = err ?: lset_get(s, &q, e[1], &buf, &lset);
		err = err ?: pps_profile_add_sample(p, locs, n, e + 2, lset->labels, lset->nr);
	}
	resolve_release(&res);
	if (!err && first <= last)
		pps_profile_set_time(p, first, last - first + s->bucket_ns);
	if (!err) {
		int64_t nr_windows, lost;
		char comment[160];

		err = window_losses(s, sel, &nr_windows, &lost);
		if (!err && nr_windows) {
			snprintf(comment, sizeof(comment),
				 "pprofstore: %" PRId64 " records lost in the %" PRId64
				 " live windows queried",
				 lost, nr_windows);
			err = pps_profile_add_comment(p, comment);
		}
	}
	pps_bucket_release(&all);
	free(buf.p);
	free(locs);
	query_maps_release(&q);
out_end:
	if (own_txn)
		exec(s, "COMMIT");
	if (err) {
		if (err == -EIO)
			pps_err("store: query of %s failed", sel->type);
		pps_profile_free(p);
		errno = -err;
		return NULL;
	}
	return p;
}

PPS_API struct pps_profile *pps_store_query(struct pps_store *s, const char *type, int64_t from_ns,
					    int64_t to_ns, const struct pps_store_tag *tags,
					    size_t nr_tags)
{
	struct pps_store_selection sel = {
	    .sz = sizeof(sel),
	    .type = type,
	    .from_ns = from_ns,
	    .to_ns = to_ns,
	    .tags = tags,
	    .nr_tags = nr_tags,
	};

	return pps_store_select(s, &sel);
}

PPS_API int pps_store_select_sources(struct pps_store *s, const struct pps_store_selection *sel,
				     int64_t **ids, size_t *n)
{
	struct pps_store_selection all;
	sqlite3_stmt *st = NULL;
	int64_t type_id, *v = NULL;
	size_t nr = 0, cap = 0;
	int rc = SQLITE_DONE, err;

	if (!s || !sel || sel->sz < sizeof(*sel) || !sel->type || !ids || !n)
		return -EINVAL;
	all = *sel;
	all.source_id = 0;
	err = type_id_of(s, sel->type, &type_id);
	err = err
		  ?: select_prepare(
			 s, &all, type_id,
			 "SELECT DISTINCT sa.source_id FROM samples sa WHERE sa.type_id = ?",
			 " ORDER BY sa.source_id", &st);
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (nr == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			int64_t *nv = realloc(v, ncap * sizeof(*v));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		v[nr++] = sqlite3_column_int64(st, 0);
	}
	if (!err && rc != SQLITE_DONE)
		err = db_err(s, rc, "sources");
	sqlite3_finalize(st);
	if (err) {
		free(v);
		return err;
	}
	*ids = v;
	*n = nr;
	return 0;
}

PPS_API int pps_store_select_range(struct pps_store *s, const struct pps_store_selection *sel,
				   int64_t *first_ns, int64_t *end_ns)
{
	sqlite3_stmt *st = NULL;
	int64_t type_id;
	int rc, err;

	if (!s || !sel || sel->sz < sizeof(*sel) || !sel->type || !first_ns || !end_ns)
		return -EINVAL;
	err = type_id_of(s, sel->type, &type_id);
	err = err
		  ?: select_prepare(s, sel, type_id,
				    "SELECT min(sa.bucket_start), max(sa.bucket_start) FROM "
				    "samples sa WHERE sa.type_id = ?",
				    "", &st);
	if (err)
		goto out;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		err = db_err(s, rc, "range");
		goto out;
	}
	if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
		err = 1;
		goto out;
	}
	*first_ns = sqlite3_column_int64(st, 0);
	*end_ns = sqlite3_column_int64(st, 1) + s->bucket_ns;
out:
	sqlite3_finalize(st);
	return err;
}

PPS_API int pps_store_for_each_type(struct pps_store *s, void (*fn)(const char *type, void *ctx),
				    void *ctx)
{
	sqlite3_stmt *st = stmt(s, S_TYPES_LIST);
	int rc;

	if (!st)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(col_text(st, 0), ctx);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_err(s, rc, "types");
}

PPS_API int pps_store_for_each_entry(struct pps_store *s,
				     void (*fn)(const struct pps_store_entry *e, void *ctx),
				     void *ctx)
{
	sqlite3_stmt *st = stmt(s, S_ENTRIES);
	int rc;

	if (!st)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct pps_store_entry e = {
		    .source_id = sqlite3_column_int64(st, 0),
		    .path = col_text(st, 1),
		    .host = col_text(st, 2),
		    .cmdline = col_text(st, 3),
		    .time_origin = col_text(st, 4),
		    .tags = col_text(st, 5),
		    .type = col_text(st, 6),
		    .start_ns = sqlite3_column_int64(st, 7),
		    .end_ns = sqlite3_column_int64(st, 8),
		    .nr_samples = sqlite3_column_int64(st, 9),
		    .nr_windows = sqlite3_column_int64(st, 10),
		    .lost = sqlite3_column_int64(st, 11),
		};
		fn(&e, ctx);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_err(s, rc, "list");
}

/* ---- gc ------------------------------------------------------------------------------ */

/* Runs sql with the int64 parameters v[0..n) bound as ?1...; *changes (when non-NULL) is
 * increased by the rows it changed. */
static int run(struct pps_store *s, const char *sql, const int64_t *v, int n, int64_t *changes)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return db_err(s, rc, "gc");
	for (int i = 0; i < n; i++)
		sqlite3_bind_int64(st, i + 1, v[i]);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_err(s, rc, "gc");
	if (changes)
		*changes += sqlite3_changes(s->db);
	return 0;
}

/* The int64 columns of the rows of sql, one after another, into a malloc'ed array. */
static int column_ints(struct pps_store *s, const char *sql, int cols, int64_t **out, size_t *n)
{
	sqlite3_stmt *st;
	int64_t *v = NULL;
	size_t nr = 0, cap = 0;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), err = 0;

	if (rc != SQLITE_OK)
		return db_err(s, rc, "gc");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (nr + (size_t)cols > cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			int64_t *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		for (int i = 0; i < cols; i++)
			v[nr++] = sqlite3_column_int64(st, i);
	}
	sqlite3_finalize(st);
	if (!err && rc != SQLITE_DONE)
		err = db_err(s, rc, "gc");
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	*n = nr;
	return 0;
}

/* A bitmap of ids 0..max. */
struct idset {
	uint8_t *bits;
	int64_t max;
};

static void idset_add(struct idset *b, uint64_t id)
{
	if (id <= (uint64_t)b->max)
		b->bits[id / 8] |= (uint8_t)(1u << (id % 8));
}

static bool idset_has(const struct idset *b, int64_t id)
{
	return id >= 0 && id <= b->max && (b->bits[id / 8] >> (id % 8) & 1);
}

/* An empty set sized for the ids of table. */
static int idset_init(struct pps_store *s, struct idset *b, const char *max_sql)
{
	int64_t *v;
	size_t n;
	int err = column_ints(s, max_sql, 1, &v, &n);

	if (err)
		return err;
	b->max = n ? v[0] : 0;
	free(v);
	b->bits = calloc((size_t)b->max / 8 + 1, 1);
	return b->bits ? 0 : -ENOMEM;
}

/*
 * Marks in b the ids in the varint blobs of sql's first column: every one (stride 1), or
 * the ones at the positions picked by mask out of every stride (label sets: key, str, num,
 * unit: mask 0xb). -EIO for a malformed blob.
 */
static int mark_blobs(struct pps_store *s, const char *sql, struct idset *b, unsigned int stride,
		      unsigned int mask)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), err = 0;

	if (rc != SQLITE_OK)
		return db_err(s, rc, "gc");
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const uint8_t *p = sqlite3_column_blob(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0), pos = 0;
		unsigned int k = 0;
		uint64_t v;

		while (pos < n) {
			if (!bytes_get(p, n, &pos, &v)) {
				pps_err("store: gc: a malformed blob in the database");
				err = -EIO;
				break;
			}
			if (mask >> k & 1)
				idset_add(b, v);
			k = (k + 1) % stride;
		}
	}
	sqlite3_finalize(st);
	if (!err && rc != SQLITE_DONE)
		err = db_err(s, rc, "gc");
	return err;
}

/* Deletes the ids (from ids_sql) not in keep with each statement of del (?1: the id). */
static int delete_unmarked(struct pps_store *s, const char *ids_sql, const struct idset *keep,
			   const char *const *del, size_t nr_del, int64_t *count)
{
	int64_t *ids = NULL;
	size_t n = 0;
	int err = column_ints(s, ids_sql, 1, &ids, &n);

	for (size_t i = 0; i < n && !err; i++) {
		if (idset_has(keep, ids[i]))
			continue;
		for (size_t k = 0; k < nr_del && !err; k++)
			err = run(s, del[k], &ids[i], 1, NULL);
		(*count)++;
	}
	free(ids);
	return err;
}

/* Marks the stack and label set ids of every bucket row. -EIO for a damaged row. */
static int mark_buckets(struct pps_store *s, struct idset *stacks, struct idset *lsets)
{
	struct pps_bucket b = {0};
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT data FROM samples", -1, &st, NULL), err = 0;

	if (rc != SQLITE_OK)
		return db_err(s, rc, "gc");
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		b.nr_values = 0;
		pps_bucket_clear(&b);
		err = pps_bucket_decode(&b, sqlite3_column_blob(st, 0),
					(size_t)sqlite3_column_bytes(st, 0));
		for (size_t i = 0; i < b.nr && !err; i++) {
			idset_add(stacks, (uint64_t)pps_bucket_entry(&b, i)[0]);
			idset_add(lsets, (uint64_t)pps_bucket_entry(&b, i)[1]);
		}
	}
	if (err == -EPROTO) {
		pps_err("store: gc: a damaged bucket row in the database");
		err = -EIO;
	}
	if (!err && rc != SQLITE_DONE)
		err = db_err(s, rc, "gc");
	sqlite3_finalize(st);
	pps_bucket_release(&b);
	return err;
}

/* Everything but the samples, in one transaction with their deletion. */
static int gc_orphans(struct pps_store *s, int64_t before_ns, struct pps_store_gc_stats *gs)
{
	static const char *const del_loc[] = {"DELETE FROM location_lines WHERE location_id = ?1",
					      "DELETE FROM locations WHERE id = ?1"};
	static const char *const del_str[] = {"DELETE FROM strings WHERE id = ?1"};
	static const char *const del_stack[] = {"DELETE FROM stacks WHERE id = ?1"};
	static const char *const del_lset[] = {"DELETE FROM labelsets WHERE id = ?1"};
	struct idset locs = {0}, strs = {0}, stacks = {0}, lsets = {0};
	int err;

	/* What each (source, type) still holds. */
	err = run(s,
		  "CREATE TEMP TABLE gc_live (source_id INTEGER, type_id INTEGER, first INTEGER, "
		  "total INTEGER, PRIMARY KEY (source_id, type_id)) WITHOUT ROWID",
		  NULL, 0, NULL);
	err = err
		  ?: run(s,
			 "INSERT INTO gc_live SELECT source_id, type_id, min(bucket_start), "
			 "sum(total) FROM samples GROUP BY source_id, type_id",
			 NULL, 0, NULL);
	/* Sources that lost their last samples now, and empty ones from before the cutoff
	 * (a recent one may be a recording that has not written yet). */
	err = err
		  ?: run(s,
			 "DELETE FROM sources WHERE id NOT IN (SELECT source_id FROM gc_live) "
			 "AND (ingested_ns < ?1 OR id IN (SELECT source_id FROM source_types))",
			 &before_ns, 1, &gs->nr_sources);
	err = err
		  ?: run(s, "DELETE FROM tags WHERE source_id NOT IN (SELECT id FROM sources)",
			 NULL, 0, NULL);
	err = err
		  ?: run(s, "DELETE FROM windows WHERE source_id NOT IN (SELECT id FROM sources)",
			 NULL, 0, NULL);
	err = err
		  ?: run(s,
			 "DELETE FROM source_types WHERE (source_id, type_id) NOT IN "
			 "(SELECT source_id, type_id FROM gc_live)",
			 NULL, 0, NULL);
	err = err
		  ?: run(s,
			 "UPDATE source_types SET start_ns = max(start_ns, (SELECT first FROM "
			 "gc_live l WHERE l.source_id = source_types.source_id AND l.type_id = "
			 "source_types.type_id)), nr_samples = (SELECT total FROM gc_live l "
			 "WHERE l.source_id = source_types.source_id AND l.type_id = "
			 "source_types.type_id) WHERE start_ns < ?1",
			 &before_ns, 1, NULL);
	err = err ?: run(s, "DROP TABLE temp.gc_live", NULL, 0, NULL);
	err = err
		  ?: run(s,
			 "DELETE FROM type_values WHERE type_id NOT IN (SELECT type_id FROM "
			 "source_types)",
			 NULL, 0, NULL);
	err = err
		  ?: run(s, "DELETE FROM types WHERE id NOT IN (SELECT type_id FROM source_types)",
			 NULL, 0, NULL);
	/* The bucket rows hold stack and label set ids, the stacks location ids, the label
	 * sets string ids: all in blobs, marked here. */
	err = err ?: idset_init(s, &stacks, "SELECT coalesce(max(id), 0) FROM stacks");
	err = err ?: idset_init(s, &lsets, "SELECT coalesce(max(id), 0) FROM labelsets");
	err = err ?: mark_buckets(s, &stacks, &lsets);
	err = err
		  ?: delete_unmarked(s, "SELECT id FROM stacks", &stacks, del_stack, 1,
				     &gs->nr_stacks);
	err = err
		  ?: delete_unmarked(s, "SELECT id FROM labelsets", &lsets, del_lset, 1,
				     &gs->nr_labelsets);
	/* Stacks hold location ids in blobs, label sets string ids: marked here. */
	err = err ?: idset_init(s, &locs, "SELECT coalesce(max(id), 0) FROM locations");
	err = err ?: mark_blobs(s, "SELECT frames FROM stacks", &locs, 1, 1);
	err = err
		  ?: delete_unmarked(s, "SELECT id FROM locations", &locs, del_loc, 2,
				     &gs->nr_locations);
	err = err
		  ?: run(s,
			 "DELETE FROM functions WHERE id NOT IN (SELECT function_id FROM "
			 "location_lines)",
			 NULL, 0, &gs->nr_functions);
	err =
	    err
		?: run(s, "DELETE FROM mappings WHERE id NOT IN (SELECT mapping_id FROM locations)",
		       NULL, 0, &gs->nr_mappings);
	err = err ?: idset_init(s, &strs, "SELECT coalesce(max(id), 0) FROM strings");
	err = err ?: mark_blobs(s, "SELECT labels FROM labelsets", &strs, 4, 0xb);
	if (!err) {
		static const char *const refs[] = {
		    "SELECT file, build_id FROM mappings",
		    "SELECT name, system_name, filename FROM functions",
		};
		static const int cols[] = {2, 3};

		for (size_t i = 0; i < PPS_ARRAY_SIZE(refs) && !err; i++) {
			int64_t *v = NULL;
			size_t n = 0;

			err = column_ints(s, refs[i], cols[i], &v, &n);
			for (size_t k = 0; k < n; k++)
				idset_add(&strs, (uint64_t)v[k]);
			free(v);
		}
	}
	err =
	    err ?: delete_unmarked(s, "SELECT id FROM strings", &strs, del_str, 1, &gs->nr_strings);
	free(lsets.bits);
	free(stacks.bits);
	free(strs.bits);
	free(locs.bits);
	return err;
}

PPS_API int pps_store_gc(struct pps_store *s, int64_t before_ns, struct pps_store_gc_stats *gs)
{
	int64_t *types = NULL, v[2];
	size_t n = 0;
	int err;

	if (!s || !gs)
		return -EINVAL;
	if (s->readonly)
		return -EROFS;
	memset(gs, 0, sizeof(*gs));
	/* It deletes rows the cache may hold. */
	pps_idcache_clear(s->ids);
	err = exec(s, "BEGIN IMMEDIATE");
	if (err)
		return err;
	/* Buckets that end at or before the cutoff: start <= before - width. Per type, so
	 * that each delete is a range of the primary key. */
	v[1] = before_ns < INT64_MIN + s->bucket_ns ? INT64_MIN : before_ns - s->bucket_ns;
	err = column_ints(s, "SELECT id FROM types", 1, &types, &n);
	for (size_t i = 0; i < n && !err; i++) {
		v[0] = types[i];
		err = run(s, "DELETE FROM samples WHERE type_id = ?1 AND bucket_start <= ?2", v, 2,
			  &gs->nr_samples);
	}
	free(types);
	/* Windows whose samples were all in those buckets (they end by the start of the bucket
	 * holding the cutoff); gc_orphans() drops the rest of a deleted source's. */
	v[0] = bucket_of(before_ns, s->bucket_ns);
	err = err ?: run(s, "DELETE FROM windows WHERE end_ns <= ?1", v, 1, NULL);
	err = err ?: gc_orphans(s, before_ns, gs);
	if (err) {
		exec(s, "ROLLBACK");
		return err;
	}
	err = exec(s, "COMMIT");
	if (err)
		return err;
	/* The space: pages freed above go back to the file system, and the WAL that the
	 * vacuum wrote is folded in and truncated. */
	err = column_ints(s, "PRAGMA auto_vacuum", 1, &types, &n);
	if (!err) {
		err = exec(s, n && types[0] == 2 ? "PRAGMA incremental_vacuum" : "VACUUM");
		free(types);
	}
	return err ?: exec(s, "PRAGMA wal_checkpoint(TRUNCATE)");
}
