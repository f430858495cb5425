-- SPDX-License-Identifier: BSD-2-Clause
-- pprofstore's schema, migration from version 1 to 2: live recordings (pprofstore record).
-- lib/store.c applies it, in one transaction, to a version 1 database opened for writing
-- (and after store.sql to a new one).
--
-- A live recording is one source whose windows are appended as it runs, each in its own
-- transaction. A window is its time span, the records the kernel could not write to a full
-- ring buffer during it (the sum of PERF_RECORD_LOST counts), and its sample count; `list`
-- shows the lost counts, and a query's profile says how many were lost in the windows it
-- sums. A source without windows is an ingested file.
CREATE TABLE windows (
	source_id INTEGER NOT NULL REFERENCES sources (id),
	start_ns INTEGER NOT NULL, -- wall-clock ns UTC: [start_ns, end_ns)
	end_ns INTEGER NOT NULL,
	lost INTEGER NOT NULL,
	nr_samples INTEGER NOT NULL,
	PRIMARY KEY (source_id, start_ns)
) WITHOUT ROWID;
CREATE INDEX windows_start ON windows (start_ns);

PRAGMA user_version = 2;
