#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""pprofstore's schema migrations and gc.

Fixture: tests/data/store-v1.sql, an `sqlite3 .dump` of a schema version 1 database that
the first slice of pprofstore (commit 18151df) wrote from three corpus recordings
(singleprocess-3.8, group_desc-4.14, ctx_switch_namespaces-4.14), tagged fixture=NAME.

Checks:
  migrate        `list` (a read-only command) on the v1 database migrates it through
                 version 2 to 3: exit 0, user_version 3, integrity_check ok, WAL, the
                 windows table of migrate-3.sql present and empty; every (source, type) queried
                 back = the v1 rows themselves (frames through location_lines, labels,
                 count and value per sample, decoded here from the v1 tables); a new
                 ingest into it works and queries back
  migrate_fails  a v1 database whose types table lacks a v1 column: exit 1 naming the
                 failed migration, and the database is left at version 1, unchanged
  gc             sources placed with --time-origin 10 days ago (a large system-wide
                 recording), 3 days ago and an hour ago, and, ingested last, one that
                 straddles the 7-day cutoff, 1 s buckets: gc --keep 7d deletes the old source whole and the
                 straddling one's buckets that end by the cutoff (and only those), keeps
                 the others' queries unchanged, leaves no orphan (stacks, label sets,
                 locations, functions, mappings, strings, types, tags), updates list's
                 sample counts, passes integrity_check, and shrinks the file by at least
                 a third; a second gc (--keep 8d) deletes nothing
  gc_vacuum      the large recording ingested 2 days back into the migrated v1 database
                 (created without incremental auto-vacuum), then gc --keep 1s: everything
                 goes, the file shrinks (VACUUM), and auto_vacuum is incremental afterwards
Exit 77 (skip) when perf record is refused. PPS_KEEP=1 keeps the temporary directory.
"""

import collections
import os
import shutil
import sqlite3
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppstest as T  # noqa: E402
import pprofraw as P  # noqa: E402
import storetest as S  # noqa: E402

SEC = 1_000_000_000
DAY = 86400 * SEC
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "store-v1.sql")


def varints(blob):
    out, v, shift = [], 0, 0
    for b in blob:
        v |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            out.append(v)
            v, shift = 0, 0
    return out


def unzigzag(v):
    return (v >> 1) ^ -(v & 1)


def v1_oracle(db):
    """{(tag, type): Counter of (frames, labels, nums, values)} from the v1 tables, in
    storetest.sample_multiset()'s terms (frames: (function, file, line), leaf first,
    inlined expanded; without lines: mapping file + offset)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    strs = dict(con.execute("SELECT id, s FROM strings"))
    strs[0] = ""
    fns = {i: (strs[n], strs[f]) for i, n, f in
           con.execute("SELECT id, name, filename FROM functions")}
    lines = collections.defaultdict(list)
    for loc, fn, line in con.execute("SELECT location_id, function_id, line FROM "
                                     "location_lines ORDER BY location_id, idx"):
        lines[loc].append((fns[fn][0], fns[fn][1], line))
    maps = {i: (strs[f], start) for i, f, start in
            con.execute("SELECT id, file, mem_start FROM mappings")}
    addr = {i: (m, a) for i, m, a in con.execute("SELECT id, mapping_id, address FROM "
                                                   "locations")}

    def unsymbolized(loc):
        m, a = addr[loc]
        a &= 2**64 - 1
        if m in maps:
            return (f"{maps[m][0]}+0x{a - (maps[m][1] & (2**64 - 1)):x}", "", 0)
        return (f"0x{a:x}", "", 0)

    out = collections.defaultdict(collections.Counter)
    for tag, tname, frames, labels, count, value in con.execute(
            "SELECT tg.value, t.name, st.frames, ls.labels, sa.count, sa.value FROM "
            "samples sa JOIN types t ON t.id = sa.type_id JOIN stacks st ON "
            "st.id = sa.stack_id JOIN labelsets ls ON ls.id = sa.labelset_id JOIN tags tg "
            "ON tg.source_id = sa.source_id AND tg.key = 'fixture'"):
        fr = []
        for loc in varints(frames):
            fr += lines[loc] or [unsymbolized(loc)]
        lab, num = {}, {}
        v = varints(labels)
        for i in range(0, len(v), 4):
            key, s, n = strs[v[i]], v[i + 1], unzigzag(v[i + 2])
            if s:
                lab[key] = (strs[s],)
            elif key in P.NUMERIC_LABELS:
                num[key] = (n,)
            else:
                lab[key] = (str(n),)
        out[(tag, tname)][(tuple(fr), tuple(sorted(lab.items())), tuple(sorted(num.items())),
                          (count, value))] += 1
    con.close()
    return out


def load_fixture(path):
    con = sqlite3.connect(path)
    with open(FIXTURE) as f:
        con.executescript(f.read())
    con.commit()
    con.close()


def check_migrate(c, tmp, data):
    db = os.path.join(tmp, "v1.db")
    load_fixture(db)
    p = []
    if S.db_value(db, "PRAGMA user_version") != 1:
        c.result("migrate", ["the fixture is not a version 1 database"])
        return None
    oracle = v1_oracle(db)
    r, q = S.store(db, ["list"])
    p += S.ok(r, q, "list")
    for qry, want in (("PRAGMA user_version", 3), ("PRAGMA integrity_check", "ok"),
                      ("PRAGMA journal_mode", "wal"),
                      ("SELECT count(*) FROM sqlite_master WHERE name = 'windows'", 1),
                      ("SELECT count(*) FROM windows", 0)):
        got = S.db_value(db, qry)
        if got != want:
            p.append(f"{qry}: {got!r}, expected {want!r}")
    for (tag, tname), want in sorted(oracle.items()):
        got, _, q = S.query(db, tmp, "mig", ["-t", tname, "--tag", f"fixture={tag}"])
        if q:
            p += q
            continue
        if S.sample_multiset(got) != want:
            p.append(f"{tag} {tname}: the migrated samples differ from the v1 rows")
    r, q = S.store(db, ["ingest", data, "--tag", "after=migration"])
    p += S.ok(r, q, "ingest after the migration")
    got, _, q = S.query(db, tmp, "after", ["-t", "cpu", "--tag", "after=migration"])
    p += q
    if not q and got.total(0) <= 0:
        p.append("the recording ingested after the migration queries back empty")
    c.result("migrate", p, f"{len(oracle)} (source, type) pairs equal to their v1 rows")
    return db if not p else None


def check_migrate_fails(c, tmp):
    db = os.path.join(tmp, "broken-v1.db")
    load_fixture(db)
    S.db_exec(db, "ALTER TABLE types RENAME COLUMN count_type TO something_else")
    before = S.db_rows(db, "SELECT name, sql FROM sqlite_master ORDER BY name")
    r, p = S.store(db, ["list"])
    if r.rc != 1 or "migration to schema version 2 failed" not in r.err_text:
        p.append(f"exit {r.rc}, {r.err_head()!r}")
    if S.db_value(db, "PRAGMA user_version") != 1:
        p.append("the failed migration changed user_version")
    if S.db_rows(db, "SELECT name, sql FROM sqlite_master ORDER BY name") != before:
        p.append("the failed migration changed the schema")
    c.result("migrate_fails", p, r.err_head(160))


def orphans(db):
    """What nothing refers to any more, by table (empty when clean)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    q = lambda s: [r[0] for r in con.execute(s)]  # noqa: E731
    out = {}
    used_stacks, used_lsets = set(), set()
    for (data,) in con.execute("SELECT data FROM samples"):
        for stack, lset, _ in S.bucket_entries(data):
            used_stacks.add(stack)
            used_lsets.add(lset)
    out["stacks"] = [i for i in q("SELECT id FROM stacks") if i not in used_stacks]
    out["labelsets"] = [i for i in q("SELECT id FROM labelsets") if i not in used_lsets]
    used_locs = set()
    for (frames,) in con.execute("SELECT frames FROM stacks"):
        used_locs.update(varints(frames))
    out["locations"] = [i for i in q("SELECT id FROM locations") if i not in used_locs]
    out["functions"] = q("SELECT id FROM functions WHERE id NOT IN "
                         "(SELECT function_id FROM location_lines)")
    out["mappings"] = q("SELECT id FROM mappings WHERE id NOT IN "
                        "(SELECT mapping_id FROM locations)")
    used = set()
    for (labels,) in con.execute("SELECT labels FROM labelsets"):
        v = varints(labels)
        for i in range(0, len(v), 4):
            used.update((v[i], v[i + 1], v[i + 3]))
    for row in con.execute("SELECT file, build_id FROM mappings UNION ALL "
                           "SELECT name, system_name FROM functions UNION ALL "
                           "SELECT filename, 0 FROM functions"):
        used.update(row)
    out["strings"] = [i for i in q("SELECT id FROM strings") if i not in used]
    out["types"] = q("SELECT id FROM types WHERE id NOT IN (SELECT type_id FROM samples)")
    out["tags"] = q("SELECT source_id FROM tags WHERE source_id NOT IN (SELECT id FROM "
                    "sources)")
    out["sources"] = q("SELECT id FROM sources WHERE id NOT IN (SELECT source_id FROM "
                       "samples)")
    con.close()
    return {k: v for k, v in out.items() if v}


def db_bytes(db):
    return sum(os.path.getsize(f) for f in (db, db + "-wal") if os.path.exists(f))


def check_gc(c, tmp, wl):
    recs = {}
    big = os.path.join(tmp, "old.data")
    ok, msg = S.record(big, ["-a", "-e", "cpu-clock", "-F", "3999", "-g"],
                       ["sh", "-c", "timeout 3 sh -c 'find /usr -type f 2>/dev/null | "
                        "xargs -n 8 md5sum > /dev/null'; true"])
    if not ok:
        ok, msg = S.record(big, ["-e", "cpu-clock", "-F", "4999", "-g"], [wl, "3"])
    if not ok:
        c.result("gc", [msg])
        return
    recs["old"] = big
    for name, secs in (("mid", "0.3"), ("new", "0.4"), ("straddle", "6")):
        path = os.path.join(tmp, name + ".data")
        ok, msg = S.record(path, ["-e", "cpu-clock", "-F", "999", "-g"], [wl, secs])
        if not ok:
            c.result("gc", [msg])
            return
        recs[name] = path
    db = os.path.join(tmp, "gc.db")
    p = []

    def ingest(name, t):
        origin = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // SEC)) + \
            f".{t % SEC:09d}Z"
        r, q = S.store(db, ["--bucket", "1s", "ingest", recs[name], "--tag", f"age={name}",
                            "--time-origin", origin])
        return S.ok(r, q, f"ingest {name}")

    now = time.time_ns()
    for name, t in (("old", now - 10 * DAY), ("mid", now - 3 * DAY),
                    ("new", now - 3600 * SEC)):
        p += ingest(name, t)
    before_q = {}
    for name in ("mid", "new"):
        got, _, q = S.query(db, tmp, "before-" + name, ["-t", "cpu", "--tag", f"age={name}"])
        p += q
        before_q[name] = got
    # Last, and just before the gc: it starts 1.5 s before the cutoff and lasts 6 s, so its
    # first bucket ends by the cutoff and its last one after it, unless the gc comes more
    # than 4.5 s after this ingest begins.
    p += ingest("straddle", time.time_ns() - 7 * DAY - 1500 * 10**6)
    if p:
        c.result("gc", p)
        return
    ids = dict(S.db_rows(db, "SELECT value, source_id FROM tags WHERE key = 'age'"))
    straddle_before = S.buckets(db, "cpu", ids["straddle"])
    size0 = db_bytes(db)
    t0 = time.time_ns()
    r, q = S.store(db, ["gc", "--keep", "7d"])
    t1 = time.time_ns()
    p += S.ok(r, q, "gc")
    if p:
        c.result("gc", p)
        return
    size1 = db_bytes(db)
    left = dict(S.db_rows(db, "SELECT id, path FROM sources"))
    if ids["old"] in left or not all(ids[n] in left for n in ("mid", "new", "straddle")):
        p.append(f"sources left: {sorted(left.values())}")
    for name in ("mid", "new"):
        got, _, q = S.query(db, tmp, "after-" + name, ["-t", "cpu", "--tag", f"age={name}"])
        p += q or [f"{name}: {x}" for x in S.compare(before_q[name], got)]
    # The straddling source: buckets ending by the cutoff went, the others stayed whole.
    after = S.buckets(db, "cpu", ids["straddle"])
    lo, hi = t0 - 7 * DAY, t1 - 7 * DAY
    for b, v in straddle_before.items():
        if b + SEC <= lo and b in after:
            p.append(f"bucket {b} ends before the cutoff and stayed")
        if b + SEC > hi and after.get(b) != v:
            p.append(f"bucket {b} ends after the cutoff and changed: {after.get(b)} != {v}")
    if not after or len(after) >= len(straddle_before):
        p.append(f"the straddling source kept {len(after)} of {len(straddle_before)} buckets")
    listed = S.db_value(db, "SELECT nr_samples FROM source_types WHERE source_id = ?",
                        (ids["straddle"],))
    if listed != sum(v[0] for v in after.values()):
        p.append(f"list's sample count {listed} != the {sum(v[0] for v in after.values())} "
                 "left")
    o = orphans(db)
    if o:
        p.append(f"orphans left: { {k: len(v) for k, v in o.items()} }")
    if S.db_value(db, "PRAGMA integrity_check") != "ok":
        p.append("integrity_check")
    if size1 > size0 * 2 // 3:
        p.append(f"the file went from {size0} to {size1} bytes only")
    # Time goes on (the straddling source ends now): keep a day more, to see nothing go.
    r, q = S.store(db, ["gc", "--keep", "8d"])
    p += S.ok(r, q, "second gc")
    if " 0 sample rows" not in r.err_text or " 0 sources" not in r.err_text:
        p.append(f"a second gc deleted something: {r.err_head()}")
    c.result("gc", p, f"{size0} -> {size1} bytes; straddling source kept {len(after)} of "
             f"{len(straddle_before)} buckets")


def check_gc_vacuum(c, db, big):
    r, p = S.store(db, ["ingest", big, "--time-origin", "-2d"])
    if S.ok(r, p, "ingest"):
        c.result("gc_vacuum", S.ok(r, p, "ingest"))
        return
    size0 = db_bytes(db)
    av0 = S.db_value(db, "PRAGMA auto_vacuum")
    r, p = S.store(db, ["gc", "--keep", "1s"])
    p = S.ok(r, p, "gc")
    size1 = db_bytes(db)
    if S.db_value(db, "SELECT count(*) FROM samples") != 0:
        p.append("samples left")
    if S.db_value(db, "SELECT count(*) FROM sources") != 0:
        p.append("sources left")
    if not size1 < size0:
        p.append(f"the file did not shrink: {size0} -> {size1}")
    if av0 != 0 or S.db_value(db, "PRAGMA auto_vacuum") != 2:
        p.append(f"auto_vacuum {av0} -> {S.db_value(db, 'PRAGMA auto_vacuum')}, expected 0 -> 2")
    if S.db_value(db, "PRAGMA integrity_check") != "ok":
        p.append("integrity_check")
    c.result("gc_vacuum", p, f"{size0} -> {size1} bytes")


def main():
    c = S.Checker()
    keep = os.environ.get("PPS_KEEP") == "1"
    wl = S.workload("split")
    if not wl:
        print("FATAL: pps_wl_split not found (set PPS_WL_SPLIT)", flush=True)
        return 1
    tmp = tempfile.mkdtemp(prefix="pps_store_admin_")
    try:
        data = os.path.join(tmp, "split.data")
        ok, msg = S.record(data, ["-e", "cpu-clock", "-F", "999", "-g"], [wl, "0.3"])
        if not ok:
            print(f"SKIP: perf record refused: {msg}", flush=True)
            return T.SKIP
        migrated = check_migrate(c, tmp, data)
        check_migrate_fails(c, tmp)
        check_gc(c, tmp, wl)
        if migrated and os.path.exists(os.path.join(tmp, "old.data")):
            check_gc_vacuum(c, migrated, os.path.join(tmp, "old.data"))
    finally:
        if keep or c.nfail:
            print(f"kept {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"store_admin: {c.npass} passed, {c.nfail} failed", flush=True)
    return 1 if c.nfail else 0


if __name__ == "__main__":
    sys.exit(main())
