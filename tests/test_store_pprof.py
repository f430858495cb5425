#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""pprofstore ingest of pprof files: ours, Go's runtime profiles, crafted and corrupt ones.

Profiles:
  ours     perf2pprof --all of a recording made here (cpu-clock and sched:sched_switch:
           cpu.pprof, block.pprof)
  go       tests/goprof/main.go built here with the Go toolchain (offline, GOPROXY=off):
           runtime/pprof's cpu, heap, allocs, goroutine, block, mutex and threadcreate
           profiles, as net/http/pprof serves them (skipped without go)
  crafted  profile.proto messages written here (a few-line encoder): one with an odd sample
           type, one with neither time_nanos nor duration, and broken ones

Checks:
  ours       each file ingested (type from its sample types, block from the file name) and
             queried back over the whole range = the file through pprof -raw: sample and
             period types, every value's total and flat per function, every sample
  go         the same for each Go profile (four values for heap and allocs, one for
             goroutine and threadcreate; allocs told from heap by its default sample type);
             `top` = pprof -top on the query's output, line for line (default value and
             value 0); also for ours
  twice      the same file again: exit 0, "already ingested", nothing added
  types      a block/mutex-shaped profile under a neutral name: exit 1 asking for --type;
             --type mutex stores it; a profile whose sample types differ from its type's
             stored ones: exit 1; an unknown shape: exit 1 naming its sample types, then
             stored with --type and queried back equal
  placement  no time_nanos: the source ends at the file's mtime ("mtime"); --time-origin
             places the start ("time-origin"); time_nanos ("pprof") otherwise
  corrupt    empty, random bytes, truncated gzip, gzip of garbage, a string index out of
             range, a sample with too few values, a location with an unknown function, a
             sample with an unknown location, a duplicate id, id 0, a label without a key,
             a string table not starting with "": each exit 1 with a message naming the
             file, no crash or sanitizer report, and the database unchanged
  fuzz       every truncation and 200 random byte changes of a crafted profile: exit 0 or
             1, no crash or sanitizer report, integrity_check ok
Exit 77 (skip) when perf record is refused. PPS_KEEP=1 keeps the temporary directory.
"""

import gzip
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppstest as T  # noqa: E402
import pprofraw as P  # noqa: E402
import storetest as S  # noqa: E402

GO_TYPES = ("cpu", "heap", "allocs", "goroutine", "block", "mutex", "threadcreate")

# ---------------------------------------------------------------- profile.proto encoder


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def fld(num, value):
    """A field: int -> varint, bytes -> length-delimited."""
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    return varint(num << 3 | 2) + varint(len(value)) + value


def packed(num, values):
    return fld(num, b"".join(varint(v) for v in values))


def profile(strings, sample_types, samples=(), mappings=(), locations=(), functions=(),
            time_nanos=0, duration=0, period_type=None, period=0):
    """A Profile message. sample_types: [(type idx, unit idx)]; samples: [(loc ids,
    values, [(key, str, num)])]; locations: [(id, mapping id, address, [(fn id, line)])];
    functions: [(id, name idx, file idx)]; mappings: [(id, start, limit, file idx)]."""
    b = b""
    for t, u in sample_types:
        b += fld(1, fld(1, t) + fld(2, u))
    for locs, values, labels in samples:
        m = packed(1, locs) + packed(2, values)
        for k, s, n in labels:
            m += fld(3, fld(1, k) + fld(2, s) + fld(3, n))
        b += fld(2, m)
    for mid, start, limit, f in mappings:
        b += fld(3, fld(1, mid) + fld(2, start) + fld(3, limit) + fld(5, f))
    for lid, mid, addr, lines in locations:
        m = fld(1, lid) + fld(2, mid) + fld(3, addr)
        for fn, line in lines:
            m += fld(4, fld(1, fn) + fld(2, line))
        b += fld(4, m)
    for fid, name, f in functions:
        b += fld(5, fld(1, fid) + fld(2, name) + fld(4, f))
    for s in strings:
        b += fld(6, s.encode())
    if time_nanos:
        b += fld(9, time_nanos)
    if duration:
        b += fld(10, duration)
    if period_type:
        b += fld(11, fld(1, period_type[0]) + fld(2, period_type[1]))
    if period:
        b += fld(12, period)
    return b


STRINGS = ["", "widgets", "count", "main", "main.c", "/bin/prog", "frob", "color", "red"]


def good(**kw):
    """A valid crafted profile: widgets/count, two functions, three samples."""
    args = dict(strings=STRINGS, sample_types=[(1, 2)],
                mappings=[(1, 0x400000, 0x500000, 5)],
                functions=[(1, 3, 4), (2, 6, 4)],
                locations=[(1, 1, 0x401000, [(1, 10)]), (2, 1, 0x402000, [(2, 20)])],
                samples=[([2, 1], [5], [(7, 8, 0)]), ([1], [3], []), ([2, 1], [2], [])],
                time_nanos=1714564800 * 10**9, duration=10**9)
    args.update(kw)
    return profile(**args)


def corrupt_cases(tmp):
    """(name, bytes) of inputs that must be refused."""
    rnd = random.Random(5)
    gz = gzip.compress(good())
    cases = [
        ("empty", b""),
        ("random", bytes(rnd.randrange(256) for _ in range(4096))),
        ("truncated-gzip", gz[:len(gz) // 2]),
        ("gzip-of-garbage", gzip.compress(bytes(rnd.randrange(256) for _ in range(999)))),
        ("string-index", good(sample_types=[(1, 99)])),
        ("value-count", good(samples=[([1], [1, 2], [])])),
        ("unknown-function", good(locations=[(1, 1, 0x401000, [(7, 10)])],
                                  samples=[([1], [1], [])])),
        ("unknown-location", good(samples=[([9], [1], [])])),
        ("unknown-mapping", good(locations=[(1, 4, 0x401000, [(1, 10)])],
                                 samples=[([1], [1], [])])),
        ("duplicate-id", good(functions=[(1, 3, 4), (1, 6, 4)])),
        ("zero-id", good(locations=[(0, 1, 0x401000, [(1, 10)])], samples=[])),
        ("label-without-key", good(samples=[([1], [1], [(0, 8, 0)])])),
        ("string-table", good(strings=["x"] + STRINGS[1:])),
    ]
    out = []
    for name, data in cases:
        path = os.path.join(tmp, f"bad-{name}.pprof")
        with open(path, "wb") as f:
            f.write(data)
        out.append((name, path))
    return out


# ---------------------------------------------------------------- checks

def roundtrip(db, tmp, path, type_name, extra=()):
    """Ingest path, query its type back; problems against the file itself."""
    r, p = S.store(db, ["ingest", path] + list(extra))
    p = S.ok(r, p, f"ingest {os.path.basename(path)}")
    if p:
        return p
    if f"stored {type_name} (" not in r.err_text:
        return [f"{os.path.basename(path)}: not stored as {type_name}: {r.err_head()}"]
    ref, p = S.load(path)
    if p:
        return p
    tag = S.db_value(db, "SELECT max(id) FROM sources")
    got, _, p = S.query(db, tmp, "rt", ["-t", type_name])
    if p:
        return p
    # Only this source: others of the type are in the database too.
    if S.db_value(db, "SELECT count(DISTINCT source_id) FROM samples sa JOIN types t ON "
                      "t.id = sa.type_id WHERE t.name = ?", (type_name,)) != 1:
        return [f"{type_name}: other sources of the type in the test database (source {tag})"]
    return [f"{type_name}: {x}" for x in S.compare(ref, got)]


def top_vs_pprof(db, path, type_name, index=None):
    """top of the store's selection = pprof -top of the query of that selection (path: its
    output), line for line but pprof's Time and Duration lines."""
    args = ["top", "-t", type_name] + (["--sample-index", str(index)] if index is not None
                                       else [])
    r, p = S.store(db, args)
    p = S.ok(r, p, " ".join(args))
    if p:
        return p
    extra = [f"-sample_index={index}"] if index is not None else []
    pr = P.pprof(["-top"] + extra, path)
    if pr.rc != 0:
        return [f"pprof -top {path}: exit {pr.rc}"]
    ours, theirs = S.top_lines(r.out_text), S.top_lines(pr.out_text)
    if ours != theirs:
        diff = [(a, b) for a, b in zip(ours, theirs) if a != b][:3]
        return [f"top {type_name} {index}: {len(ours)} lines vs pprof's {len(theirs)}; "
                f"first differences (ours, pprof): {diff}"]
    return []


def check_ours(c, tmp, wl):
    data = os.path.join(tmp, "types.data")
    ok, msg = S.record(data, ["-e", "cpu-clock", "-F", "999", "-e", "sched:sched_switch",
                              "-g", "-a"], [wl, "0.5"])
    if not ok:
        ok, msg = S.record(data, ["-e", "cpu-clock", "-F", "999", "-g"], [wl, "0.5"])
    if not ok:
        c.result("ours", [msg])
        return False
    outdir = os.path.join(tmp, "ours")
    r = T.run([T.perf2pprof(), "--all", data, "-o", outdir], 300)
    if r.rc != 0:
        c.result("ours", [f"perf2pprof --all: exit {r.rc}: {r.err_head()}"])
        return False
    db = os.path.join(tmp, "ours.db")
    p, names = [], []
    for f in sorted(os.listdir(outdir)):
        t = f[:-len(".pprof")]
        names.append(t)
        p += roundtrip(db, tmp, os.path.join(outdir, f), t)
        p += top_vs_pprof(db, os.path.join(tmp, "rt.pprof"), t)
    c.result("ours", p, ", ".join(names))
    return True


def build_goprof(tmp):
    go = shutil.which("go")
    if not go:
        return None, "no go toolchain"
    env = T.quiet_env()
    env.update({"GOCACHE": os.path.join(tmp, "gocache"), "GOPATH": os.path.join(tmp, "gopath"),
                "GOPROXY": "off", "GOFLAGS": "-mod=mod", "GO111MODULE": "off",
                "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "HOME": tmp})
    exe = os.path.join(tmp, "goprof")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "goprof", "main.go")
    cp = subprocess.run([go, "build", "-o", exe, src], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, env=env, timeout=600)
    if cp.returncode != 0:
        return None, f"go build: {cp.stderr.decode()[:300]}"
    return exe, ""


def check_go(c, tmp):
    exe, why = build_goprof(tmp)
    if not exe:
        print(f"SKIP go: {why}", flush=True)
        return
    outdir = os.path.join(tmp, "go")
    os.makedirs(outdir)
    r = T.run([exe, outdir], 120)
    if r.rc != 0:
        c.result("go", [f"goprof exit {r.rc}: {r.err_head()}"])
        return
    db = os.path.join(tmp, "go.db")
    p = []
    for t in GO_TYPES:
        path = os.path.join(outdir, t + ".pprof")
        p += roundtrip(db, tmp, path, t)
        for idx in (None, 0):
            p += top_vs_pprof(db, os.path.join(tmp, "rt.pprof"), t, idx)
    c.result("go", p, "cpu, heap, allocs, goroutine, block, mutex, threadcreate round trip; "
             "top = pprof -top")
    # Again: a no-op that says so.
    before = S.db_value(db, "SELECT count(*) FROM samples")
    r, q = S.store(db, ["ingest", os.path.join(outdir, "heap.pprof")])
    q = S.ok(r, q, "second ingest")
    if "already ingested" not in r.err_text:
        q.append(f"a second ingest does not say so: {r.err_head()}")
    if S.db_value(db, "SELECT count(*) FROM samples") != before:
        q.append("a second ingest changed the samples")
    c.result("twice", q)
    # A block profile under a name that does not say which.
    neutral = os.path.join(tmp, "waits.pprof")
    shutil.copy(os.path.join(outdir, "block.pprof"), neutral)
    db2 = os.path.join(tmp, "types.db")
    q = []
    r, x = S.store(db2, ["ingest", neutral])
    q += x
    if r.rc != 1 or "--type" not in r.err_text or "waits.pprof" not in r.err_text:
        q.append(f"neutral name: exit {r.rc}, {r.err_head()!r}")
    q += roundtrip(db2, tmp, neutral, "mutex", ["--type", "mutex"])
    r, x = S.store(db2, ["ingest", os.path.join(outdir, "heap.pprof"), "--type", "mutex"])
    q += x
    if r.rc != 1 or "sample types" not in r.err_text:
        q.append(f"heap as mutex: exit {r.rc}, {r.err_head()!r}")
    c.result("types: block or mutex, conflicting shapes", q)


def check_crafted(c, tmp):
    db = os.path.join(tmp, "crafted.db")
    odd = os.path.join(tmp, "odd.pprof")
    with open(odd, "wb") as f:
        f.write(gzip.compress(good()))
    r, p = S.store(db, ["ingest", odd])
    p += [] if r.rc == 1 and "widgets/count" in r.err_text and "--type" in r.err_text else \
        [f"unknown shape: exit {r.rc}, {r.err_head()!r}"]
    p += roundtrip(db, tmp, odd, "widgets", ["--type", "widgets"])
    c.result("types: unknown shape", p)

    # Placement.
    p = []
    untimed = os.path.join(tmp, "untimed.pprof")
    with open(untimed, "wb") as f:
        f.write(good(time_nanos=0, duration=0))
    mtime = 1714564800 * 10**9 + 123456789
    os.utime(untimed, ns=(mtime, mtime))
    r, q = S.store(db, ["ingest", untimed, "--type", "widgets"])
    p += S.ok(r, q, "ingest untimed")
    rows = S.db_rows(db, "SELECT s.time_origin, st.start_ns, st.end_ns FROM sources s JOIN "
                         "source_types st ON st.source_id = s.id ORDER BY s.id")
    want = [("pprof", 1714564800 * 10**9, 1714564801 * 10**9), ("mtime", mtime, mtime)]
    if rows[:2] != want:
        p.append(f"placement {rows[:2]}, expected {want}")
    placed = os.path.join(tmp, "placed.pprof")
    with open(placed, "wb") as f:
        f.write(good(duration=5))
    r, q = S.store(db, ["ingest", placed, "--type", "widgets",
                        "--time-origin", "2023-03-03T03:03:03.5Z"])
    p += S.ok(r, q, "ingest --time-origin")
    rows = S.db_rows(db, "SELECT s.time_origin, st.start_ns FROM sources s JOIN source_types "
                         "st ON st.source_id = s.id ORDER BY s.id DESC LIMIT 1")
    if rows != [("time-origin", 1677812583500000000)]:
        p.append(f"--time-origin placement {rows}")
    b = S.db_rows(db, "SELECT DISTINCT bucket_start FROM samples WHERE source_id = "
                      "(SELECT max(id) FROM sources)")
    if b != [(1677812580000000000,)]:
        p.append(f"--time-origin bucket {b}, expected the 10 s bucket of the origin")
    c.result("placement", p)

    # Corrupt inputs: refused, named, no crash, nothing stored.
    p = []
    before = S.db_value(db, "SELECT count(*) FROM sources")
    for name, path in corrupt_cases(tmp):
        r, q = S.store(db, ["ingest", path, "--type", "widgets"])
        p += [f"{name}: {x}" for x in q]
        if r.rc != 1:
            p.append(f"{name}: exit {r.rc}, expected 1")
        if os.path.basename(path) not in r.err_text:
            p.append(f"{name}: the message does not name the file: {r.err_head()!r}")
    if S.db_value(db, "SELECT count(*) FROM sources") != before:
        p.append("a corrupt input was stored")
    if S.db_value(db, "PRAGMA integrity_check") != "ok":
        p.append("integrity_check")
    c.result("corrupt", p, f"{len(corrupt_cases(tmp))} inputs refused")


def check_fuzz(c, tmp):
    """Every truncation and 200 random byte changes of a crafted profile (plain protobuf):
    ingest exits 0 or 1, never crashes, and the database stays sound."""
    db = os.path.join(tmp, "fuzz.db")
    data = good()
    rnd = random.Random(7)
    cases = [data[:n] for n in range(len(data))]
    for _ in range(200):
        b = bytearray(data)
        for _ in range(rnd.randrange(1, 4)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        cases.append(bytes(b))
    p, stored = [], 0
    path = os.path.join(tmp, "fuzz.pprof")
    for i, case in enumerate(cases):
        with open(path, "wb") as f:
            f.write(case)
        r, q = S.store(db, ["-q", "ingest", path, "--type", "widgets"])
        p += [f"case {i}: {x}" for x in q]
        if r.rc not in (0, 1):
            p.append(f"case {i}: exit {r.rc}")
        stored += r.rc == 0
    if os.path.exists(db) and S.db_value(db, "PRAGMA integrity_check") != "ok":
        p.append("integrity_check")
    c.result("fuzz", p, f"{len(cases)} damaged profiles, {stored} still parsed and stored")


def main():
    c = S.Checker()
    keep = os.environ.get("PPS_KEEP") == "1"
    wl = S.workload("split")
    if not wl:
        print("FATAL: pps_wl_split not found (set PPS_WL_SPLIT)", flush=True)
        return 1
    tmp = tempfile.mkdtemp(prefix="pps_store_pprof_")
    try:
        check_crafted(c, tmp)
        check_fuzz(c, tmp)
        check_go(c, tmp)
        if not check_ours(c, tmp, wl) and not c.nfail:
            return T.SKIP
    finally:
        if keep or c.nfail:
            print(f"kept {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"store_pprof: {c.npass} passed, {c.nfail} failed", flush=True)
    return 1 if c.nfail else 0


if __name__ == "__main__":
    sys.exit(main())
