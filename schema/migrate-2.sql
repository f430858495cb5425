-- SPDX-License-Identifier: BSD-2-Clause
-- Version 1 -> 2: N values per sample (pprof files: a Go heap profile has four sample
-- types, a goroutine profile one). lib/store.c runs it in the transaction that checks
-- user_version; it touches nothing a later migration relies on but these tables.

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

-- Values 2.. of a sample (NULL: none); existing rows have two values.
ALTER TABLE samples ADD COLUMN more BLOB;

PRAGMA user_version = 2;
