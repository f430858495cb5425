-- SPDX-License-Identifier: BSD-2-Clause
-- pprofstore's SQLite schema, version 3 (PRAGMA user_version). lib/store.c applies it
-- to an empty database in one transaction, after PRAGMA auto_vacuum = INCREMENTAL (so gc
-- can return freed pages without rewriting the file). A database of an older version is
-- brought up to this one by the forward migrations schema/migrate-N.sql (N: the version
-- each one makes), in one transaction; a database whose user_version is newer than the
-- library's is refused.
--
-- Everything a profile repeats is stored once: strings are interned, and mappings,
-- functions, locations, stacks and label sets are deduplicated across all sources.
-- Samples are aggregated per (type, bucket_start, stack, label set, source), packed a
-- bucket per row.

-- Key/value settings fixed at creation: bucket_ns (time bucket width, ns).
CREATE TABLE meta (
	key TEXT PRIMARY KEY,
	value NOT NULL
) WITHOUT ROWID;

-- Interned strings. Id 0 is never used: 0 in a referencing column means "".
CREATE TABLE strings (
	id INTEGER PRIMARY KEY,
	s TEXT NOT NULL UNIQUE
);

-- profile.proto Mapping. Strings are strings.id (0: "").
CREATE TABLE mappings (
	id INTEGER PRIMARY KEY,
	mem_start INTEGER NOT NULL,
	mem_limit INTEGER NOT NULL,
	file_offset INTEGER NOT NULL,
	file INTEGER NOT NULL,
	build_id INTEGER NOT NULL,
	flags INTEGER NOT NULL, -- bit 0 has_functions, 1 filenames, 2 line_numbers, 3 inline
	UNIQUE (mem_start, mem_limit, file_offset, file, build_id, flags)
);

CREATE TABLE functions (
	id INTEGER PRIMARY KEY,
	name INTEGER NOT NULL,
	system_name INTEGER NOT NULL,
	filename INTEGER NOT NULL,
	start_line INTEGER NOT NULL,
	UNIQUE (name, system_name, filename, start_line)
);

-- A location is identified by its mapping, address and lines; lines_key is the varint
-- encoding of its location_lines (function id, line, column)..., for the unique index.
CREATE TABLE locations (
	id INTEGER PRIMARY KEY,
	mapping_id INTEGER NOT NULL, -- 0: none
	address INTEGER NOT NULL,
	lines_key BLOB NOT NULL,
	UNIQUE (mapping_id, address, lines_key)
);

-- Lines of a location, innermost (inlined) first: idx 0 is the innermost.
CREATE TABLE location_lines (
	location_id INTEGER NOT NULL REFERENCES locations (id),
	idx INTEGER NOT NULL,
	function_id INTEGER NOT NULL REFERENCES functions (id),
	line INTEGER NOT NULL,
	col INTEGER NOT NULL,
	PRIMARY KEY (location_id, idx)
) WITHOUT ROWID;

-- A stack: location ids, leaf first, as unsigned LEB128 varints. hash is a 64-bit
-- FNV-1a of frames; lookups use (hash, frames), so a hash collision costs nothing but a
-- second row.
CREATE TABLE stacks (
	id INTEGER PRIMARY KEY,
	hash INTEGER NOT NULL,
	frames BLOB NOT NULL
);
CREATE INDEX stacks_hash ON stacks (hash);

-- A label set: sorted (key, str, num, unit) as varints (strings as strings.id, str 0
-- for a numeric label, num zigzag-encoded), hashed as stacks are.
CREATE TABLE labelsets (
	id INTEGER PRIMARY KEY,
	hash INTEGER NOT NULL,
	labels BLOB NOT NULL
);
CREATE INDEX labelsets_hash ON labelsets (hash);

-- One ingested input. content_hash is a 64-bit FNV-1a of the bytes (not cryptographic:
-- it only detects re-ingesting the same file), unique together with the size.
CREATE TABLE sources (
	id INTEGER PRIMARY KEY,
	path TEXT NOT NULL,
	size INTEGER NOT NULL,
	content_hash INTEGER NOT NULL,
	host TEXT NOT NULL,
	cmdline TEXT NOT NULL,
	time_origin TEXT NOT NULL, -- how times were placed (README: clock_data, mtime, ...)
	ingested_ns INTEGER NOT NULL,
	UNIQUE (content_hash, size)
);

CREATE TABLE tags (
	source_id INTEGER NOT NULL REFERENCES sources (id),
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (source_id, key, value)
) WITHOUT ROWID;
CREATE INDEX tags_kv ON tags (key, value);

-- A profile type ("cpu", "block", "heap", an event name) and its shape: the period type
-- and the default sample type, from its first ingest; its sample types in type_values.
CREATE TABLE types (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	period_type TEXT NOT NULL,
	period_unit TEXT NOT NULL,
	period INTEGER NOT NULL,
	default_sample_type TEXT NOT NULL
);

-- The sample types of a type, in value order (idx 0, 1, ...): ("samples", "count"),
-- ("cpu", "nanoseconds") for cpu; four for a Go heap profile, one for goroutine.
CREATE TABLE type_values (
	type_id INTEGER NOT NULL REFERENCES types (id),
	idx INTEGER NOT NULL,
	type TEXT NOT NULL,
	unit TEXT NOT NULL,
	PRIMARY KEY (type_id, idx)
) WITHOUT ROWID;

-- What each source holds of each type, for `list`: its time span and sample count.
CREATE TABLE source_types (
	source_id INTEGER NOT NULL REFERENCES sources (id),
	type_id INTEGER NOT NULL REFERENCES types (id),
	start_ns INTEGER NOT NULL,
	end_ns INTEGER NOT NULL,
	nr_samples INTEGER NOT NULL,
	PRIMARY KEY (source_id, type_id)
) WITHOUT ROWID;

-- The samples of one type in one time bucket from one source, in one row: their entries
-- (stack, label set, the type's values) in the blob data, in lib/internal/bucket.h's
-- format (a row per bucket, not per stack: a row costs more than an entry). total is the
-- sum of the entries' first value (perf samples), nr_entries their number. The unique key
-- starts with (type_id, bucket_start), so a time-range query is an index range scan.
CREATE TABLE samples (
	id INTEGER PRIMARY KEY,
	type_id INTEGER NOT NULL,
	bucket_start INTEGER NOT NULL, -- wall-clock ns UTC, a multiple of meta.bucket_ns
	source_id INTEGER NOT NULL,
	nr_entries INTEGER NOT NULL,
	total INTEGER NOT NULL,
	data BLOB NOT NULL,
	UNIQUE (type_id, bucket_start, source_id)
);

-- The windows of live sources (pprofstore record), as schema/migrate-3.sql makes them: a
-- window's span, the records the kernel lost in it (PERF_RECORD_LOST) and its sample
-- count. A source without windows is an ingested file.
CREATE TABLE windows (
	source_id INTEGER NOT NULL REFERENCES sources (id),
	start_ns INTEGER NOT NULL, -- wall-clock ns UTC: [start_ns, end_ns)
	end_ns INTEGER NOT NULL,
	lost INTEGER NOT NULL,
	nr_samples INTEGER NOT NULL,
	PRIMARY KEY (source_id, start_ns)
) WITHOUT ROWID;
CREATE INDEX windows_start ON windows (start_ns);

PRAGMA user_version = 3;
