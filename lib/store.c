/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pps_store: profiles in SQLite (schema/store.sql, embedded at build time).
 *
 * Facts that shaped it:
 * - An ingest writes a few thousand distinct functions and locations and up to tens of
 *   thousands of distinct (stack, labels) samples per profile; every row goes through one
 *   of a fixed set of prepared statements (bound parameters only, never SQL built from
 *   data), prepared once per store.
 * - Most of what a new recording holds is already stored (same binaries, same hot
 *   stacks), so every write is a lookup first; rows are only appended.
 * - One ingest is one BEGIN IMMEDIATE transaction in WAL mode: SQLite's journal makes it
 *   all or nothing, even under SIGKILL, and readers keep reading the last commit.
 * - Queries read a few buckets of one type through the samples primary key
 *   (type_id, bucket_start, ...), then fetch each distinct stack's locations once.
 *
 * Integers are SQLite's signed 64 bits: addresses and hashes are stored as their
 * two's-complement int64 and cast back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pprofstore/store.h>

#include "internal/util.h"
#include "store_migrate_2.h"
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
	S_FN_READ,
	S_LOC_GET,
	S_LOC_INS,
	S_LOC_READ,
	S_LINE_INS,
	S_LINES_READ,
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
	S_SRCTYPE_UPSERT,
	S_SAMPLE_UPSERT,
	S_TYPES_LIST,
	S_ENTRIES,
	S_MAX_IDS,
	S_WIN_INS,
	S_ENTRIES_LIVE,
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
    [S_FN_READ] = "SELECT name, system_name, filename, start_line FROM functions WHERE id = ?1",
    [S_LOC_GET] = "SELECT id FROM locations WHERE mapping_id = ?1 AND address = ?2 AND "
		  "lines_key = ?3",
    [S_LOC_INS] = "INSERT INTO locations (mapping_id, address, lines_key) VALUES (?1, ?2, ?3)",
    [S_LOC_READ] = "SELECT mapping_id, address FROM locations WHERE id = ?1",
    [S_LINE_INS] = "INSERT INTO location_lines (location_id, idx, function_id, line, col) "
		   "VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_LINES_READ] = "SELECT function_id, line, col FROM location_lines WHERE location_id = ?1 "
		     "ORDER BY idx",
    [S_STACK_GET] = "SELECT id FROM stacks WHERE hash = ?1 AND frames = ?2",
    [S_STACK_INS] = "INSERT INTO stacks (hash, frames) VALUES (?1, ?2)",
    [S_LSET_GET] = "SELECT id FROM labelsets WHERE hash = ?1 AND labels = ?2",
    [S_LSET_INS] = "INSERT INTO labelsets (hash, labels) VALUES (?1, ?2)",
    [S_SRC_GET] = "SELECT id FROM sources WHERE content_hash = ?1 AND size = ?2",
    [S_SRC_INS] = "INSERT INTO sources (path, size, content_hash, host, cmdline, time_origin, "
		  "ingested_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_TAG_INS] = "INSERT OR IGNORE INTO tags (source_id, key, value) VALUES (?1, ?2, ?3)",
    [S_TYPE_GET] = "SELECT id, count_type, count_unit, value_type, value_unit FROM types "
		   "WHERE name = ?1",
    [S_TYPE_INS] = "INSERT INTO types (name, count_type, count_unit, value_type, value_unit, "
		   "period_type, period_unit, period, default_sample_type) "
		   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_TYPE_READ] = "SELECT id, count_type, count_unit, value_type, value_unit, period_type, "
		    "period_unit, period, default_sample_type FROM types WHERE name = ?1",
    [S_SRCTYPE_UPSERT] =
	"INSERT INTO source_types (source_id, type_id, start_ns, end_ns, nr_samples) "
	"VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (source_id, type_id) DO UPDATE SET "
	"start_ns = min(start_ns, excluded.start_ns), end_ns = max(end_ns, "
	"excluded.end_ns), nr_samples = nr_samples + excluded.nr_samples",
    [S_SAMPLE_UPSERT] =
	"INSERT INTO samples (type_id, bucket_start, stack_id, labelset_id, source_id, "
	"count, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (type_id, "
	"bucket_start, stack_id, labelset_id, source_id) DO UPDATE SET count = count + "
	"excluded.count, value = value + excluded.value",
    [S_TYPES_LIST] = "SELECT name FROM types ORDER BY name",
    [S_ENTRIES] = "SELECT s.id, s.path, s.host, s.cmdline, s.time_origin, "
		  "coalesce((SELECT group_concat(key || '=' || value, ',') FROM "
		  "(SELECT key, value FROM tags WHERE source_id = s.id ORDER BY key, value)), ''), "
		  "t.name, st.start_ns, st.end_ns, st.nr_samples FROM source_types st "
		  "JOIN sources s ON s.id = st.source_id JOIN types t ON t.id = st.type_id "
		  "ORDER BY s.id, t.name",
    [S_MAX_IDS] = "SELECT (SELECT coalesce(max(id), 0) FROM strings), "
		  "(SELECT coalesce(max(id), 0) FROM mappings), "
		  "(SELECT coalesce(max(id), 0) FROM functions), "
		  "(SELECT coalesce(max(id), 0) FROM locations)",
    [S_WIN_INS] = "INSERT INTO windows (source_id, start_ns, end_ns, lost, nr_samples) "
		  "VALUES (?1, ?2, ?3, ?4, ?5)",
    /* S_ENTRIES with each source's live windows: their number and lost records. */
    [S_ENTRIES_LIVE] =
	"SELECT s.id, s.path, s.host, s.cmdline, s.time_origin, "
	"coalesce((SELECT group_concat(key || '=' || value, ',') FROM "
	"(SELECT key, value FROM tags WHERE source_id = s.id ORDER BY key, value)), ''), "
	"t.name, st.start_ns, st.end_ns, st.nr_samples, "
	"(SELECT count(*) FROM windows WHERE source_id = s.id), "
	"(SELECT coalesce(sum(lost), 0) FROM windows WHERE source_id = s.id) "
	"FROM source_types st JOIN sources s ON s.id = st.source_id JOIN types t ON "
	"t.id = st.type_id ORDER BY s.id, t.name",
};

/* Forward migrations, in order: the SQL that takes a database from version from to
 * from + 1, each applied in its own transaction. */
static const struct {
	int64_t from;
	const char *sql;
} migrations[] = {
    {1, pps_store_migrate_2_sql}, /* live recordings' windows */
};

struct pps_store {
	sqlite3 *db;
	sqlite3_stmt *stmts[NR_STMTS]; /* prepared on first use, finalized at close */
	int64_t bucket_ns;	       /* meta.bucket_ns */
	bool readonly;		       /* PPS_STORE_READONLY */
	/* The database has the windows table (version 2 and later; a read-only store may
	 * be older, and reads it without live windows). */
	bool has_windows;
};

/* A growable byte buffer for varint keys. */
struct bytes {
	uint8_t *p;
	size_t n;
	size_t cap;
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

static int bytes_put(struct bytes *b, uint64_t v)
{
	if (b->cap - b->n < 10) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		uint8_t *np = realloc(b->p, cap);

		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
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

/*
 * Brings a database of an older version up to this one, a step per transaction, so that a
 * step that fails leaves the database at the version before it. Read-only: nothing is
 * changed; what the older schema lacks is read as empty.
 */
static int migrate(struct pps_store *s, const char *path)
{
	int64_t v;
	int err = 0;

	if (s->readonly)
		return 0;
	for (size_t i = 0; i < PPS_ARRAY_SIZE(migrations) && !err; i++) {
		err = exec(s, "BEGIN IMMEDIATE");
		if (err)
			break;
		/* Another process may have migrated it meanwhile. */
		err = user_version(s, &v);
		if (!err && v == migrations[i].from)
			err = exec(s, migrations[i].sql);
		if (err) {
			pps_err("%s: migrating the schema from version %" PRId64 " failed", path,
				migrations[i].from);
			exec(s, "ROLLBACK");
			break;
		}
		err = exec(s, "COMMIT");
	}
	return err;
}

/* Creates the schema in an empty database, or checks the version of an existing one. */
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
	if (v >= 1)
		return migrate(s, path);
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
	err = exec(s, "COMMIT");
	return err ?: migrate(s, path);
}

static int has_table(struct pps_store *s, const char *name, bool *has)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(
	    s->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return db_err(s, rc, "schema");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*has = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_err(s, rc, "schema");
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
	if (!s->readonly) {
		/* WAL: readers never block the writer, and a killed writer leaves a log that
		 * the next opener rolls back. NORMAL is crash-safe in WAL (only a power cut
		 * can lose the last commits, never corrupt). */
		err = exec(s, "PRAGMA journal_mode = WAL");
		err = err ?: exec(s, "PRAGMA synchronous = NORMAL");
		if (err)
			goto out_close;
	}
	err = init_schema(s, path, bucket_ns ? bucket_ns : PPS_STORE_DEFAULT_BUCKET_NS);
	err = err ?: read_meta(s);
	err = err ?: has_table(s, "windows", &s->has_windows);
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
	free(s);
}

PPS_API int64_t pps_store_bucket_ns(const struct pps_store *s)
{
	return s->bucket_ns;
}

PPS_API int pps_store_hash_file(const char *path, uint64_t *hash, uint64_t *size)
{
	uint64_t h = FNV_INIT, n = 0;
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
		h = fnv1a(h, buf, (size_t)got);
		n += (uint64_t)got;
	}
	*hash = h;
	*size = n;
out_free:
	free(buf);
out_close:
	close(fd);
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

/* The id of string str ("" and NULL: 0), interning it. */
static int intern(struct pps_store *s, const char *str, int64_t *id)
{
	sqlite3_stmt *st;
	int err;

	if (!str || !*str) {
		*id = 0;
		return 0;
	}
	st = stmt(s, S_STR_GET);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, str, -1, SQLITE_STATIC);
	err = step_id(s, st, id);
	if (err)
		return err < 0 ? err : 0;
	st = stmt(s, S_STR_INS);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, str, -1, SQLITE_STATIC);
	return step_insert(s, st, id);
}

/* Looks up with get (its parameters bound by bind), else inserts with ins. */
static int get_or_insert(struct pps_store *s, enum stmt_id get, enum stmt_id ins,
			 void (*bind)(sqlite3_stmt *st, const void *arg), const void *arg,
			 int64_t *id, bool *inserted)
{
	sqlite3_stmt *st = stmt(s, get);
	int err;

	if (!st)
		return -EIO;
	bind(st, arg);
	err = step_id(s, st, id);
	if (err)
		return err < 0 ? err : 0;
	st = stmt(s, ins);
	if (!st)
		return -EIO;
	bind(st, arg);
	if (inserted)
		*inserted = true;
	return step_insert(s, st, id);
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
			  ?: get_or_insert(s, S_MAP_GET, S_MAP_INS, bind_ints, v, &m->mappings[id],
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
			  ?: get_or_insert(s, S_FN_GET, S_FN_INS, bind_ints, v, &m->functions[id],
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
			  ?: get_or_insert(s, S_LOC_GET, S_LOC_INS, bind_location, &k,
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

/* The type's id, created with p's shape on first use; -EINVAL when p's shape differs. */
static int ingest_type(struct pps_store *s, const char *type, const struct pps_profile *p,
		       int64_t *id)
{
	const char *ct, *cu, *vt, *vu, *pt, *pu, *def;
	sqlite3_stmt *st;
	int64_t period;
	int rc;

	if (pps_profile_nr_sample_types(p) != 2) {
		pps_err("store: profile %s has %zu sample types, not 2 (count, value)", type,
			pps_profile_nr_sample_types(p));
		return -EINVAL;
	}
	pps_profile_get_sample_type(p, 0, &ct, &cu);
	pps_profile_get_sample_type(p, 1, &vt, &vu);
	pps_profile_get_period(p, &pt, &pu, &period, &def);
	st = stmt(s, S_TYPE_GET);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		bool same = !strcmp(col_text(st, 1), ct) && !strcmp(col_text(st, 2), cu) &&
			    !strcmp(col_text(st, 3), vt) && !strcmp(col_text(st, 4), vu);

		*id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (!same) {
			pps_err(
			    "store: type %s: sample types %s/%s %s/%s differ from the stored ones",
			    type, ct, cu, vt, vu);
			return -EINVAL;
		}
		return 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_err(s, rc, "type");
	st = stmt(s, S_TYPE_INS);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ct, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cu, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, vt, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, vu, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, pt, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, pu, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, period);
	sqlite3_bind_text(st, 9, def, -1, SQLITE_STATIC);
	return step_insert(s, st, id);
}

/* The label set of sample i, as a stored labelset id. */
static int ingest_labels(struct pps_store *s, const struct pps_profile *p, size_t i,
			 struct bytes *b, int64_t *id)
{
	struct keyed_blob k = {.b = b};
	size_t nr = 0;
	int err;

	b->n = 0;
	err = pps_profile_get_sample_labels(p, i, 0, &nr, NULL);
	for (size_t j = 0; j < nr && !err; j++) {
		struct pps_label l;
		int64_t key, str = 0, unit = 0;

		err = pps_profile_get_sample_labels(p, i, j, NULL, &l);
		err = err ?: intern(s, l.key, &key);
		if (!err && l.str)
			err = intern(s, l.str, &str);
		if (!err && l.num_unit)
			err = intern(s, l.num_unit, &unit);
		err = err ?: bytes_put(b, (uint64_t)key);
		err = err ?: bytes_put(b, (uint64_t)str);
		err = err ?: bytes_put(b, str ? 0 : zigzag(l.num));
		err = err ?: bytes_put(b, (uint64_t)unit);
	}
	if (err)
		return err;
	k.hash = (int64_t)fnv1a(FNV_INIT, b->p, b->n);
	return get_or_insert(s, S_LSET_GET, S_LSET_INS, bind_hash_blob, &k, id, NULL);
}

static int ingest_one(struct pps_store *s, int64_t source_id, const char *type,
		      const struct pps_profile *p, int64_t ingest_ns)
{
	struct ingest_maps m = {0};
	struct bytes b = {0};
	int64_t type_id, t, dur, bucket, total = 0;
	sqlite3_stmt *st;
	int err;

	err = ingest_type(s, type, p, &type_id);
	if (err)
		return err;
	m.mappings = calloc(pps_profile_nr_mappings(p) + 1, sizeof(int64_t));
	m.functions = calloc(pps_profile_nr_functions(p) + 1, sizeof(int64_t));
	m.locations = calloc(pps_profile_nr_locations(p) + 1, sizeof(int64_t));
	if (!m.mappings || !m.functions || !m.locations) {
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
	bucket = bucket_of(t, s->bucket_ns);
	for (size_t i = 0; i < pps_profile_nr_samples(p); i++) {
		struct keyed_blob k = {.b = &b};
		const uint64_t *locs;
		const int64_t *values;
		int64_t stack_id, lset_id;
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
		err =
		    get_or_insert(s, S_STACK_GET, S_STACK_INS, bind_hash_blob, &k, &stack_id, NULL);
		err = err ?: ingest_labels(s, p, i, &b, &lset_id);
		if (err)
			goto out_free;
		st = stmt(s, S_SAMPLE_UPSERT);
		if (!st) {
			err = -EIO;
			goto out_free;
		}
		sqlite3_bind_int64(st, 1, type_id);
		sqlite3_bind_int64(st, 2, bucket);
		sqlite3_bind_int64(st, 3, stack_id);
		sqlite3_bind_int64(st, 4, lset_id);
		sqlite3_bind_int64(st, 5, source_id);
		sqlite3_bind_int64(st, 6, values[0]);
		sqlite3_bind_int64(st, 7, values[1]);
		err = step_insert(s, st, NULL);
		if (err)
			goto out_free;
		total += values[0];
	}
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

PPS_API int pps_store_ingest(struct pps_store *s, const struct pps_store_source *src,
			     const char *const *types, struct pps_profile *const *profiles,
			     size_t n)
{
	int64_t source_id, now = now_wall_ns();
	int err;

	if (s->readonly)
		return -EROFS;
	err = exec(s, "BEGIN IMMEDIATE");
	if (err)
		return err;
	err = pps_store_has_source(s, src->content_hash, src->size, &source_id);
	if (err) {
		err = err > 0 ? -EEXIST : err;
		goto out_rollback;
	}
	err = insert_source(s, src, now, &source_id);
	for (size_t i = 0; i < n && !err; i++)
		err = ingest_one(s, source_id, types[i], profiles[i], now);
	if (err)
		goto out_rollback;
	return exec(s, "COMMIT");

out_rollback:
	exec(s, "ROLLBACK");
	return err;
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
	if (!s->has_windows)
		return -EPROTO; /* cannot happen: a writable store is migrated at open */
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

PPS_API int pps_store_append(struct pps_store *s, int64_t source_id,
			     const struct pps_store_window *w, const char *const *types,
			     struct pps_profile *const *profiles, size_t n)
{
	int64_t now = now_wall_ns();
	sqlite3_stmt *st;
	int err;

	if (s->readonly)
		return -EROFS;
	if (!s->has_windows || w->end_ns < w->start_ns)
		return -EINVAL;
	err = exec(s, "BEGIN IMMEDIATE");
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
	if (err) {
		exec(s, "ROLLBACK");
		return err;
	}
	return exec(s, "COMMIT");
}

/* ---- query -------------------------------------------------------------------------- */

/* Store ids to profile ids (and string texts), filled as stacks need them. */
struct query_maps {
	char **strs; /* strs[id]: malloc'ed text, NULL until read */
	uint64_t *mappings, *functions, *locations;
	int64_t max_str, max_map, max_fn, max_loc;
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
	sqlite3_reset(st);
	q->strs = calloc((size_t)q->max_str + 1, sizeof(char *));
	q->mappings = calloc((size_t)q->max_map + 1, sizeof(uint64_t));
	q->functions = calloc((size_t)q->max_fn + 1, sizeof(uint64_t));
	q->locations = calloc((size_t)q->max_loc + 1, sizeof(uint64_t));
	return q->strs && q->mappings && q->functions && q->locations ? 0 : -ENOMEM;
}

static void query_maps_release(struct query_maps *q)
{
	for (int64_t i = 0; q->strs && i <= q->max_str; i++)
		free(q->strs[i]);
	free(q->strs);
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

static int query_function(struct pps_store *s, struct query_maps *q, struct pps_profile *p,
			  int64_t id, uint64_t *out)
{
	const char *name, *sys, *file;
	int64_t v[3], start;
	sqlite3_stmt *st;
	int rc, err;

	if (id <= 0 || id > q->max_fn)
		return -EIO;
	if (q->functions[id]) {
		*out = q->functions[id];
		return 0;
	}
	st = stmt(s, S_FN_READ);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return db_err(s, rc, "function");
	}
	for (int i = 0; i < 3; i++)
		v[i] = sqlite3_column_int64(st, i);
	start = sqlite3_column_int64(st, 3);
	sqlite3_reset(st);
	err = str_get(s, q, v[0], &name);
	err = err ?: str_get(s, q, v[1], &sys);
	err = err ?: str_get(s, q, v[2], &file);
	if (err)
		return err;
	q->functions[id] = pps_profile_add_function(p, name, sys, file, start);
	if (!q->functions[id])
		return -errno;
	*out = q->functions[id];
	return 0;
}

static int query_location(struct pps_store *s, struct query_maps *q, struct pps_profile *p,
			  int64_t id, uint64_t *out)
{
	struct pps_line *lines = NULL;
	size_t nr = 0, cap = 0;
	int64_t map, fn;
	uint64_t addr, mapping_id = 0;
	sqlite3_stmt *st;
	int rc, err;

	if (id <= 0 || id > q->max_loc)
		return -EIO;
	if (q->locations[id]) {
		*out = q->locations[id];
		return 0;
	}
	st = stmt(s, S_LOC_READ);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return db_err(s, rc, "location");
	}
	map = sqlite3_column_int64(st, 0);
	addr = (uint64_t)sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	err = query_mapping(s, q, p, map, &mapping_id);
	if (err)
		return err;
	/* Collect the lines first: query_function() reuses other statements. */
	st = stmt(s, S_LINES_READ);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (nr == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct pps_line *nl = realloc(lines, ncap * sizeof(*lines));

			if (!nl) {
				err = -ENOMEM;
				break;
			}
			lines = nl;
			cap = ncap;
		}
		lines[nr].function_id = (uint64_t)sqlite3_column_int64(st, 0);
		lines[nr].line = sqlite3_column_int64(st, 1);
		lines[nr].column = sqlite3_column_int64(st, 2);
		nr++;
	}
	sqlite3_reset(st);
	if (!err && rc != SQLITE_DONE)
		err = db_err(s, rc, "location lines");
	for (size_t i = 0; i < nr && !err; i++) {
		fn = (int64_t)lines[i].function_id;
		err = query_function(s, q, p, fn, &lines[i].function_id);
	}
	if (!err) {
		q->locations[id] = pps_profile_add_location(p, mapping_id, addr, lines, nr);
		if (!q->locations[id])
			err = -errno;
		*out = q->locations[id];
	}
	free(lines);
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
	const char *c[8];
	int rc, err = -EIO;

	if (!st)
		goto out_err;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		err = rc == SQLITE_DONE ? -ENOENT : db_err(s, rc, "type");
		goto out_reset;
	}
	*type_id = sqlite3_column_int64(st, 0);
	for (int i = 1; i <= 8; i++)
		c[i - 1] = col_text(st, i);
	p = pps_profile_new();
	if (!p) {
		err = -ENOMEM;
		goto out_reset;
	}
	err = pps_profile_add_sample_type(p, c[0], c[1]);
	err = err ?: pps_profile_add_sample_type(p, c[2], c[3]);
	if (!err && *c[4])
		err = pps_profile_set_period(p, c[4], c[5], sqlite3_column_int64(st, 7));
	if (!err && *c[7])
		err = pps_profile_set_default_sample_type(p, c[7]);
out_reset:
	sqlite3_reset(st);
	if (!err)
		return p;
	pps_profile_free(p);
out_err:
	errno = -err;
	return NULL;
}

/*
 * The live windows a query's buckets hold (windows go into the bucket of their start, as
 * their profiles do) of the sources with the tags: their number and lost records.
 */
static int window_losses(struct pps_store *s, int64_t from_ns, int64_t to_ns,
			 const struct pps_store_tag *tags, size_t nr_tags, int64_t *nr,
			 int64_t *lost)
{
	static const char head[] = "SELECT count(*), coalesce(sum(lost), 0) FROM windows WHERE "
				   "start_ns >= ?1 AND start_ns < ?2";
	static const char tag_term[] =
	    " AND source_id IN (SELECT source_id FROM tags WHERE key = ? AND value = ?)";
	size_t len = sizeof(head) + nr_tags * sizeof(tag_term);
	sqlite3_stmt *st = NULL;
	char *sql = malloc(len);
	int rc, err = 0;

	*nr = *lost = 0;
	if (!sql)
		return -ENOMEM;
	memcpy(sql, head, sizeof(head) - 1);
	len = sizeof(head) - 1;
	for (size_t i = 0; i < nr_tags; i++, len += sizeof(tag_term) - 1)
		memcpy(sql + len, tag_term, sizeof(tag_term) - 1);
	sql[len] = '\0';
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		err = db_err(s, rc, "query windows");
		goto out;
	}
	sqlite3_bind_int64(st, 1, bucket_of(from_ns, s->bucket_ns));
	sqlite3_bind_int64(st, 2, to_ns);
	for (size_t i = 0; i < nr_tags; i++) {
		sqlite3_bind_text(st, 3 + 2 * (int)i, tags[i].key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4 + 2 * (int)i, tags[i].value, -1, SQLITE_STATIC);
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

PPS_API struct pps_profile *pps_store_query(struct pps_store *s, const char *type, int64_t from_ns,
					    int64_t to_ns, const struct pps_store_tag *tags,
					    size_t nr_tags)
{
	static const char head[] =
	    "SELECT st.frames, ls.labels, sum(sa.count), sum(sa.value), min(sa.bucket_start), "
	    "max(sa.bucket_start) FROM samples sa JOIN stacks st ON st.id = sa.stack_id "
	    "JOIN labelsets ls ON ls.id = sa.labelset_id WHERE sa.type_id = ?1 AND "
	    "sa.bucket_start >= ?2 AND sa.bucket_start < ?3";
	static const char tag_term[] =
	    " AND sa.source_id IN (SELECT source_id FROM tags WHERE key = ? AND value = ?)";
	static const char tail[] = " GROUP BY sa.stack_id, sa.labelset_id";
	struct query_maps q = {0};
	struct pps_label *labels = NULL;
	uint64_t *locs = NULL;
	size_t locs_cap = 0, labels_cap = 0;
	int64_t type_id, first = INT64_MAX, last = INT64_MIN;
	struct pps_profile *p;
	sqlite3_stmt *st = NULL;
	char *sql = NULL;
	size_t len;
	int rc, err;

	p = query_shape(s, type, &type_id);
	if (!p)
		return NULL;
	err = max_ids(s, &q);
	if (err)
		goto out;
	/* The statement's text depends only on the number of tags; values are bound. */
	len = sizeof(head) + nr_tags * sizeof(tag_term) + sizeof(tail);
	sql = malloc(len);
	if (!sql) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(sql, head, sizeof(head) - 1);
	len = sizeof(head) - 1;
	for (size_t i = 0; i < nr_tags; i++, len += sizeof(tag_term) - 1)
		memcpy(sql + len, tag_term, sizeof(tag_term) - 1);
	memcpy(sql + len, tail, sizeof(tail)); /* with its NUL */
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		err = db_err(s, rc, "query");
		goto out;
	}
	sqlite3_bind_int64(st, 1, type_id);
	sqlite3_bind_int64(st, 2, bucket_of(from_ns, s->bucket_ns));
	sqlite3_bind_int64(st, 3, to_ns);
	for (size_t i = 0; i < nr_tags; i++) {
		sqlite3_bind_text(st, 4 + 2 * (int)i, tags[i].key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5 + 2 * (int)i, tags[i].value, -1, SQLITE_STATIC);
	}
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const uint8_t *frames = sqlite3_column_blob(st, 0);
		size_t nf = (size_t)sqlite3_column_bytes(st, 0), pos = 0, nr_locs = 0, nr_labels;
		int64_t values[2] = {sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3)};
		uint64_t id;

		if (sqlite3_column_int64(st, 4) < first)
			first = sqlite3_column_int64(st, 4);
		if (sqlite3_column_int64(st, 5) > last)
			last = sqlite3_column_int64(st, 5);
		while (pos < nf && !err) {
			if (!bytes_get(frames, nf, &pos, &id)) {
				err = -EIO;
				break;
			}
			if (nr_locs == locs_cap) {
				size_t ncap = locs_cap ? locs_cap * 2 : 64;
				uint64_t *nl = realloc(locs, ncap * sizeof(*locs));

				if (!nl) {
					err = -ENOMEM;
					break;
				}
				locs = nl;
				locs_cap = ncap;
			}
			err = query_location(s, &q, p, (int64_t)id, &locs[nr_locs++]);
		}
		err = err
			  ?: query_labels(s, &q, sqlite3_column_blob(st, 1),
					  (size_t)sqlite3_column_bytes(st, 1), &labels, &labels_cap,
					  &nr_labels);
		err = err ?: pps_profile_add_sample(p, locs, nr_locs, values, labels, nr_labels);
	}
	if (!err && rc != SQLITE_DONE)
		err = db_err(s, rc, "query");
	if (!err && first <= last)
		pps_profile_set_time(p, first, last - first + s->bucket_ns);
	if (!err && s->has_windows) {
		int64_t nr_windows, lost;
		char comment[160];

		err = window_losses(s, from_ns, to_ns, tags, nr_tags, &nr_windows, &lost);
		if (!err && nr_windows) {
			snprintf(comment, sizeof(comment),
				 "pprofstore: %" PRId64 " records lost in the %" PRId64
				 " live windows queried",
				 lost, nr_windows);
			err = pps_profile_add_comment(p, comment);
		}
	}
out:
	sqlite3_finalize(st);
	free(sql);
	free(labels);
	free(locs);
	query_maps_release(&q);
	if (err) {
		if (err == -EIO)
			pps_err("store: query of %s failed", type);
		pps_profile_free(p);
		errno = -err;
		return NULL;
	}
	return p;
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
	sqlite3_stmt *st = stmt(s, s->has_windows ? S_ENTRIES_LIVE : S_ENTRIES);
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
		    .nr_windows = s->has_windows ? sqlite3_column_int64(st, 10) : 0,
		    .lost = s->has_windows ? sqlite3_column_int64(st, 11) : 0,
		};
		fn(&e, ctx);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_err(s, rc, "list");
}
