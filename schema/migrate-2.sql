-- SPDX-License-Identifier: BSD-2-Clause
-- Version 1 -> 2: N values per sample (pprof files: a Go heap profile has four sample
-- types, a goroutine profile one), and the samples of a bucket in one row (a day of
-- continuous profiling in a few percent of its perf.data). lib/store.c runs it in the
-- transaction that checks user_version; it alters only types, type_values and samples.

CREATE TABLE type_values (
	type_id INTEGER NOT NULL REFERENCES types (id),
	idx INTEGER NOT NULL,
	type TEXT NOT NULL,
	unit TEXT NOT NULL,
	PRIMARY KEY (type_id, idx)
) WITHOUT ROWID;
INSERT INTO type_values (type_id, idx, type, unit) SELECT id, 0, count_type, count_unit FROM types;
INSERT INTO type_values (type_id, idx, type, unit) SELECT id, 1, value_type, value_unit FROM types;
ALTER TABLE types DROP COLUMN count_type;
ALTER TABLE types DROP COLUMN count_unit;
ALTER TABLE types DROP COLUMN value_type;
ALTER TABLE types DROP COLUMN value_unit;

-- A row per (type, bucket, source), its (stack, label set, values) entries packed into a
-- blob by pps_pack(), which lib/store.c provides to the connection that migrates.
CREATE TABLE samples_v2 (
	id INTEGER PRIMARY KEY,
	type_id INTEGER NOT NULL,
	bucket_start INTEGER NOT NULL,
	source_id INTEGER NOT NULL,
	nr_entries INTEGER NOT NULL,
	total INTEGER NOT NULL,
	data BLOB NOT NULL,
	UNIQUE (type_id, bucket_start, source_id)
);
INSERT INTO samples_v2 (type_id, bucket_start, source_id, nr_entries, total, data)
	SELECT type_id, bucket_start, source_id, count(*), sum(count),
	       pps_pack(stack_id, labelset_id, count, value)
	FROM samples GROUP BY type_id, bucket_start, source_id;
DROP TABLE samples;
ALTER TABLE samples_v2 RENAME TO samples;

PRAGMA user_version = 2;
