-- SPDX-License-Identifier: BSD-2-Clause
-- Version 2 -> 3: live recordings (pprofstore record). lib/store.c runs it in the
-- transaction that checks user_version; it only creates the windows table.
--
-- A live recording is one source whose windows are appended as it runs, each in its own
-- transaction. A window is its time span, the records the kernel could not write to a full
-- ring buffer during it (the sum of PERF_RECORD_LOST counts), and its sample count; `list`
-- shows the lost counts, and a query's profile says how many were lost in the windows of
-- its selection. A source without windows is an ingested file.
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
