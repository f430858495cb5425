# SPDX-License-Identifier: BSD-2-Clause
"""Helpers shared by the pprofstore tests (test_store*.py): the binaries, running
pprofstore, reading the database (Python's sqlite3, read-only), recording, and comparing
profiles through the real Go pprof (pprofraw)."""

import collections
import os
import re
import sqlite3
import subprocess
import sys
import zlib

import ppstest as T
import pprofraw as P


class Checker:
    def __init__(self):
        self.npass = self.nfail = 0

    def result(self, name, problems, detail=""):
        if problems:
            self.nfail += 1
            print(f"FAIL {name}: " + "; ".join(str(p) for p in problems), flush=True)
        else:
            self.npass += 1
            print(f"PASS {name}" + (f": {detail}" if detail else ""), flush=True)


def pprofstore():
    p = os.environ.get("PPROFSTORE") or os.path.join(T.REPO, "build", "cmd", "pprofstore")
    if not os.access(p, os.X_OK):
        print(f"FATAL: pprofstore binary not found: {p} (set PPROFSTORE)", flush=True)
        sys.exit(1)
    return p


def workload(name):
    """A tests/workloads binary (PPS_WL_NAME, else the build tree), None when missing."""
    p = os.environ.get(f"PPS_WL_{name.upper()}") or os.path.join(
        T.REPO, "build", "tests", "workloads", f"pps_wl_{name}")
    return p if os.access(p, os.X_OK) else None


def store(db, args, timeout=300, stdin_path=None, env=None):
    """pprofstore --db DB ARGS; (Run, problems: crashes, sanitizer reports)."""
    argv = [pprofstore()] + (["--db", db] if db else []) + args
    if env is None:
        r = T.run(argv, timeout, stdin_path=stdin_path)
    else:
        full = T.quiet_env()
        full.update(env)
        fin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            cp = subprocess.run(argv, stdin=fin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=timeout, env=full)
            r = T.Run(argv, cp.returncode, cp.stdout, cp.stderr, False)
        except subprocess.TimeoutExpired as e:
            r = T.Run(argv, None, e.stdout or b"", e.stderr or b"", True)
        finally:
            if stdin_path:
                fin.close()
    return r, r.problems()


def ok(r, p, what):
    """problems p plus a non-zero exit of r."""
    return p or ([] if r.rc == 0 else [f"{what}: exit {r.rc}: {r.err_head()}"])


def db_rows(db, query, params=()):
    """Rows of a read-only query (Python's sqlite3; the file is never created)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()


def db_value(db, query, params=()):
    rows = db_rows(db, query, params)
    return rows[0][0] if rows else None


def db_exec(db, script):
    """Runs SQL that writes (test setup), through Python's sqlite3."""
    con = sqlite3.connect(db, timeout=60)
    try:
        con.executescript(script)
        con.commit()
    finally:
        con.close()


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


def bucket_entries(blob):
    """A samples.data blob (lib/internal/bucket.h) as [(stack id, label set id,
    [values])], decoded here independently of the library."""
    if blob[0] == 1:
        n = varints(blob[1:11])[0]
        # The varint's length: its bytes up to the first without the top bit.
        k = 1
        while blob[k] & 0x80:
            k += 1
        body = zlib.decompress(blob[k + 1:])
        if len(body) != n:
            raise ValueError("inflated size differs from the blob's")
    else:
        body = blob[1:]
    v = varints(body)
    nv, count = v[0], v[1]
    out, pos, stack = [], 2, 0
    for _ in range(count):
        stack += v[pos]
        out.append((stack, v[pos + 1], [unzigzag(x) for x in v[pos + 2:pos + 2 + nv]]))
        pos += 2 + nv
    if pos != len(v):
        raise ValueError("trailing bytes in a bucket blob")
    return out


def dangling(db):
    """References to rows that do not exist, by kind, as {kind: sorted ids} (empty when
    every sample's stack and label set, every frame's location, every line's function and
    every name's string is there)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    ids = lambda t: {r[0] for r in con.execute(f"SELECT id FROM {t}")}  # noqa: E731
    have = {t: ids(t) for t in ("stacks", "labelsets", "locations", "functions", "strings",
                                "mappings")}
    have["strings"].add(0)
    have["mappings"].add(0)
    out = collections.defaultdict(set)

    def want(kind, i):
        if i not in have[kind]:
            out[kind].add(i)
    for (data,) in con.execute("SELECT data FROM samples"):
        for stack, lset, _ in bucket_entries(data):
            want("stacks", stack)
            if lset:
                want("labelsets", lset)
    for (frames,) in con.execute("SELECT frames FROM stacks"):
        for loc in varints(frames):
            want("locations", loc)
    for (m,) in con.execute("SELECT mapping_id FROM locations"):
        want("mappings", m)
    for (f,) in con.execute("SELECT function_id FROM location_lines"):
        want("functions", f)
    for row in con.execute("SELECT name, system_name, filename FROM functions UNION ALL "
                           "SELECT file, build_id, 0 FROM mappings"):
        for i in row:
            want("strings", i)
    for (labels,) in con.execute("SELECT labels FROM labelsets"):
        v = varints(labels)
        for i in range(0, len(v) - 3, 4):
            for k in (v[i], v[i + 1], v[i + 3]):
                want("strings", k)
    con.close()
    return {k: sorted(v) for k, v in out.items()}


def buckets(db, type_name, source_id=None):
    """{bucket_start: [sum of value 0, sum of value 1]} of one type (optionally one source),
    from the bucket rows' blobs."""
    q = ("SELECT sa.bucket_start, sa.total, sa.data FROM samples sa JOIN types t ON "
         "t.id = sa.type_id WHERE t.name = ?")
    args = [type_name]
    if source_id is not None:
        q += " AND sa.source_id = ?"
        args.append(source_id)
    out = {}
    for b, total, data in db_rows(db, q, args):
        v = out.setdefault(b, [0, 0])
        entries = bucket_entries(data)
        if sum(e[2][0] for e in entries) != total:
            raise ValueError(f"bucket {b}: total {total} is not its entries' sum")
        for _, _, values in entries:
            v[0] += values[0]
            v[1] += values[1] if len(values) > 1 else 0
    return out


def record(out, args, cmd, timeout=300):
    argv = [T.perf_bin(), "record"] + args + ["-o", out, "--"] + cmd
    r = T.run(argv, timeout)
    if r.timed_out or r.rc != 0 or not os.path.exists(out) or os.path.getsize(out) == 0:
        return False, f"{' '.join(argv)}: exit {r.rc}: {r.err_head()}"
    return True, ""


def perf_sample_times(path, event=None):
    """Sample times (perf clock, ns) of a recording from perf script, optionally of one
    event."""
    r = T.run([T.perf_bin(), "script", "--ns", "-F", "time,event", "--hide-call-graph", "-f",
               "-i", path], 600)
    if r.rc != 0:
        raise RuntimeError(f"perf script -i {path}: exit {r.rc}: {r.err_head()}")
    out = []
    for line in r.out_text.splitlines():
        m = re.match(r"^\s*(\d+)\.(\d{9}):\s+(\S+?):?\s*$", line)
        if not m:
            if line.strip():
                raise RuntimeError(f"unparsed perf script line: {line!r}")
            continue
        if event is None or m.group(3) == event:
            out.append(int(m.group(1)) * 1_000_000_000 + int(m.group(2)))
    return out


def bucket_of(t, width):
    return t // width * width


def load(path):
    raw, err = P.load_raw(path)
    return raw, ([err] if raw is None else [])


def frames(raw, s):
    """A sample's stack as pprofraw's frames, but a location without lines named by its
    mapping's file and its offset in the mapping: pprof merges the mappings of one file in
    several processes when it reads a profile, and moves their addresses into the first
    one listed, so an unsymbolized address depends on the mappings' order in the file."""
    out = []
    for lid in s.locs:
        loc = raw.locations.get(lid)
        if loc is None:
            out.append((f"<missing location {lid}>", "", 0))
        elif not loc.lines:
            m = raw.mappings.get(loc.mapping)
            out.append((f"{m['file']}+0x{loc.addr - m['start']:x}" if m else
                        f"0x{loc.addr:x}", "", 0))
        else:
            out.extend((fn, fl, ln) for fn, fl, ln, _ in loc.lines)
    return out


def flat_by_function(raw, index):
    """function (or mapping+offset, as frames()) -> flat value."""
    flat = {}
    for s in raw.samples:
        fr = frames(raw, s)
        name = fr[0][0] if fr else "<no stack>"
        flat[name] = flat.get(name, 0) + s.values[index]
    return flat


def sample_multiset(raw):
    c = collections.Counter()
    for s in raw.samples:
        labels = tuple(sorted((k, tuple(v)) for k, v in s.labels.items()))
        nums = tuple(sorted((k, tuple(v)) for k, v in s.num.items()))
        c[(tuple(frames(raw, s)), labels, nums, tuple(s.values))] += 1
    return c


def compare(ref, got, samples=True):
    """Problems between a reference profile (perf2pprof's, or a pprof file) and the store's:
    sample and period types, every value's total and flat per function, and (samples)
    every sample (frames, labels, values) as a multiset."""
    p = []
    if ref.sample_types != got.sample_types:
        p.append(f"sample types {got.sample_types} != {ref.sample_types}")
    if ref.period_type != got.period_type:
        p.append(f"period type {got.period_type} != {ref.period_type}")
    for i in range(len(ref.sample_types)):
        if ref.total(i) != got.total(i):
            p.append(f"total[{i}] {got.total(i)} != the reference's {ref.total(i)}")
        fr, fg = flat_by_function(ref, i), flat_by_function(got, i)
        if fr != fg:
            diff = {k: (fr.get(k), fg.get(k)) for k in set(fr) | set(fg)
                    if fr.get(k) != fg.get(k)}
            p.append(f"flat[{i}] per function differs (reference, store): "
                     f"{dict(list(diff.items())[:5])}")
    if samples and not p and sample_multiset(ref) != sample_multiset(got):
        p.append("samples (frames, labels, values) differ")
    return p


def query(db, tmp, name, args):
    """pprofstore query ARGS -o TMP/NAME.pprof, read back with pprof -raw: (Raw, Run,
    problems)."""
    out = os.path.join(tmp, name + ".pprof")
    r, p = store(db, ["query", "-o", out] + args)
    p = ok(r, p, f"query {' '.join(args)}")
    raw = None
    if not p:
        raw, p = load(out)
    return raw, r, p


def top_lines(text):
    """A -top listing without pprof's Time and Duration lines (ours has none)."""
    return [l for l in text.splitlines() if not l.startswith(("Time: ", "Duration: "))]
