#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""pprofstore's time buckets against perf's own sample times, on recordings made here.

Every sample of a perf.data goes into the bucket (width --bucket, here 1 s or 100 ms)
holding its wall-clock time; the oracle places perf script's sample times (--ns) by the
rule the source says it used, and buckets them itself. Workloads: tests/workloads
pps_wl_split (cpu), pps_wl_sleeper and pps_wl_mutexer (block and mutex waits).

Checks:
  mtime        split.data (no CLOCK_DATA), its mtime set to 2024-05-01T12:00:03.456789123Z:
               time origin "mtime", the source ends at that instant to the ns, and the
               cpu samples per 1 s bucket = perf script's times placed so that the last
               one is at the mtime (exact)
  windows      each 1 s window (--from/--to, RFC 3339) = its bucket; the windows add up to
               the whole-range query in both values' totals and per function; a 2 s
               window = its two buckets; --window 2s ends at the newest bucket; a window
               before the data is an empty profile with a message, exit 0
  origin       --time-origin 2024-01-01T00:00:00.25Z: the first sample is at it, buckets =
               perf script's times placed from it; list says time-origin
  clock_data   perf record -k mono (CLOCK_DATA), in file mode and in pipe mode read from
               standard input: buckets = perf script's own wall-clock times (-F tod, ns)
               bucketed; list says clock_data, whatever the file's mtime
  ingest_time  a pipe-mode recording without CLOCK_DATA on standard input: time origin
               "ingest-time", its end within the ingest command's run, buckets = the
               oracle placed from that end
  block_by_end sleeper under perf record -e sched:sched_switch -g -a, 100 ms buckets:
               count and delay per bucket = test_block_mutex's spec pairing (from perf
               script) bucketed by each wait's END (exact); bucketed by start it would
               differ (so the check can tell)
  mutex_by_end mutexer with the lock and futex tracepoints: the same for the mutex type
               (futex and kernel lock waits, perf lock's pairing)
Exit 77 (skip) when perf record is refused. PPS_KEEP=1 keeps the temporary directory.
"""

import calendar
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppstest as T  # noqa: E402
import storetest as S  # noqa: E402
import test_block_mutex as BM  # noqa: E402

SEC = 1_000_000_000
MTIME = "2024-05-01T12:00:03.456789123Z"
MTIME_NS = calendar.timegm((2024, 5, 1, 12, 0, 3)) * SEC + 456789123
ORIGIN = "2024-01-01T00:00:00.25Z"
ORIGIN_NS = calendar.timegm((2024, 1, 1, 0, 0, 0)) * SEC + 250_000_000


def rfc3339(ns):
    assert ns % SEC == 0
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // SEC))


def bucket_counts(times, offset, width):
    out = {}
    for t in times:
        b = S.bucket_of(t + offset, width)
        out[b] = out.get(b, 0) + 1
    return out


def diff_buckets(got, want):
    keys = sorted(set(got) | set(want))
    bad = [(k, got.get(k), want.get(k)) for k in keys if got.get(k) != want.get(k)]
    return [f"{len(bad)} of {len(keys)} buckets differ (bucket, store, oracle): {bad[:4]}"] \
        if bad else []


def source(db, n=1):
    """(time_origin, start_ns, end_ns) of source n's first type."""
    rows = S.db_rows(db, "SELECT s.time_origin, st.start_ns, st.end_ns FROM sources s "
                         "JOIN source_types st ON st.source_id = s.id WHERE s.id = ?", (n,))
    return rows[0] if rows else (None, None, None)


def cpu_counts(db):
    return {b: v[0] for b, v in S.buckets(db, "cpu").items()}


def check_mtime(c, tmp, data, times):
    os.utime(data, ns=(MTIME_NS, MTIME_NS))
    db = os.path.join(tmp, "mtime.db")
    r, p = S.store(db, ["--bucket", "1s", "ingest", data])
    p = S.ok(r, p, "ingest")
    if not p:
        origin, start, end = source(db)
        if origin != "mtime":
            p.append(f"time origin {origin!r}, expected mtime")
        if end != MTIME_NS:
            p.append(f"the source ends at {end}, not at the file's mtime {MTIME_NS}")
        p += diff_buckets(cpu_counts(db), bucket_counts(times, MTIME_NS - max(times), SEC))
    c.result("mtime", p, f"{len(times)} samples in {len(cpu_counts(db)) if not p else 0} "
             "buckets of 1 s" if not p else "")
    return db if not p else None


def check_windows(c, tmp, db):
    whole, _, p = S.query(db, tmp, "whole", ["-t", "cpu"])
    if p:
        c.result("windows", p)
        return
    counts = cpu_counts(db)
    first, last = min(counts), max(counts)
    sums = [0, 0]
    flat = [{}, {}]
    for b in range(first, last + SEC, SEC):
        got, _, q = S.query(db, tmp, "win", ["-t", "cpu", "--from", rfc3339(b),
                                              "--to", rfc3339(b + SEC)])
        if q:
            p += q
            continue
        if got.total(0) != counts.get(b, 0):
            p.append(f"window {rfc3339(b)}: {got.total(0)} samples, its bucket has "
                     f"{counts.get(b, 0)}")
        for i in range(2):
            sums[i] += got.total(i)
            for k, v in S.flat_by_function(got, i).items():
                flat[i][k] = flat[i].get(k, 0) + v
    for i in range(2):
        if sums[i] != whole.total(i):
            p.append(f"windows sum to {sums[i]} in value {i}, the whole is {whole.total(i)}")
        if flat[i] != S.flat_by_function(whole, i):
            p.append(f"windows' flat per function (value {i}) do not add up to the whole")
    if last > first:
        got, _, q = S.query(db, tmp, "two", ["-t", "cpu", "--from", rfc3339(first),
                                              "--to", rfc3339(first + 2 * SEC)])
        want = counts.get(first, 0) + counts.get(first + SEC, 0)
        p += q or ([] if got.total(0) == want else
                   [f"2 s window: {got.total(0)} samples, its buckets have {want}"])
        got, _, q = S.query(db, tmp, "newest", ["-t", "cpu", "--window", "2s"])
        want = counts.get(last, 0) + counts.get(last - SEC, 0)
        p += q or ([] if got.total(0) == want else
                   [f"--window 2s: {got.total(0)} samples, the newest two buckets {want}"])
    got, r, q = S.query(db, tmp, "before", ["-t", "cpu", "--from", rfc3339(first - 10 * SEC),
                                             "--to", rfc3339(first)])
    p += q or ([] if got.total(0) == 0 and "no cpu samples" in r.err_text else
               [f"a window before the data: {got.total(0)} samples, {r.err_head()!r}"])
    c.result("windows", p, f"{(last - first) // SEC + 1} windows of 1 s add up to "
             f"{whole.total(0)} samples, {whole.total(1)} ns")


def check_origin(c, tmp, data, times):
    db = os.path.join(tmp, "origin.db")
    r, p = S.store(db, ["--bucket", "1s", "ingest", "--time-origin", ORIGIN, data])
    p = S.ok(r, p, "ingest --time-origin")
    if not p:
        origin, start, _ = source(db)
        if origin != "time-origin":
            p.append(f"time origin {origin!r}, expected time-origin")
        if start != ORIGIN_NS:
            p.append(f"the source starts at {start}, not at --time-origin {ORIGIN_NS}")
        p += diff_buckets(cpu_counts(db), bucket_counts(times, ORIGIN_NS - min(times), SEC))
        r, q = S.store(db, ["list"])
        if "time-origin" not in r.out_text or "2024-01-01T00:00:00.250Z" not in r.out_text:
            p.append(f"list does not show the origin: {r.out_text[:300]!r}")
    c.result("origin", p)


def tod_times(path):
    """perf script's wall-clock time of each sample (-F tod, ns, read as UTC)."""
    env = T.quiet_env()
    env["TZ"] = "UTC"
    cp = subprocess.run([T.perf_bin(), "script", "--ns", "-F", "tod", "-f", "-i", path],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=600)
    out = []
    for line in cp.stdout.decode().splitlines():
        m = re.match(r"^\s*(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{9})", line)
        if m:
            v = [int(x) for x in m.groups()]
            out.append(calendar.timegm(tuple(v[:6])) * SEC + v[6])
    return out


def check_clock_data(c, tmp, wl):
    p = []
    details = []
    for mode in ("file", "pipe"):
        data = os.path.join(tmp, f"clock-{mode}.data")
        args = ["-k", "mono", "-e", "cpu-clock", "-F", "999", "-g"]
        if mode == "pipe":
            ok = record_pipe(data, args, [wl, "1.5"])
            msg = "perf record -k mono -o - failed"
        else:
            ok, msg = S.record(data, args, [wl, "1.5"])
        if not ok:
            p.append(msg)
            continue
        os.utime(data, ns=(MTIME_NS, MTIME_NS))  # must not matter
        tods = tod_times(data)
        if not tods:
            p.append(f"{mode}: perf script -F tod printed no times")
            continue
        db = os.path.join(tmp, f"clock-{mode}.db")
        args = ["--bucket", "1s", "ingest"] + (["-"] if mode == "pipe" else [data])
        r, q = S.store(db, args, stdin_path=data if mode == "pipe" else None)
        q = S.ok(r, q, f"{mode}: ingest")
        if not q:
            origin, _, _ = source(db)
            if origin != "clock_data":
                q.append(f"{mode}: time origin {origin!r}, expected clock_data")
            q += [f"{mode}: {x}" for x in diff_buckets(cpu_counts(db),
                                                        bucket_counts(tods, 0, SEC))]
        p += q
        details.append(f"{mode} {len(tods)} samples")
    c.result("clock_data", p, ", ".join(details))


def record_pipe(out, args, cmd):
    """perf record -o - ARGS -- CMD > OUT (pipe mode)."""
    with open(out, "wb") as f:
        cp = subprocess.run([T.perf_bin(), "record", "-o", "-"] + args + ["--"] + cmd,
                            stdout=f, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=T.quiet_env(), timeout=300)
    return cp.returncode == 0 and os.path.getsize(out) > 0


def check_ingest_time(c, tmp, wl):
    data = os.path.join(tmp, "pipe.data")
    if not record_pipe(data, ["-e", "cpu-clock", "-F", "999", "-g"], [wl, "1.2"]):
        c.result("ingest_time", ["perf record -o - failed"])
        return
    times = S.perf_sample_times(data)
    db = os.path.join(tmp, "pipe.db")
    t0 = time.time_ns()
    r, p = S.store(db, ["--bucket", "1s", "ingest", "-"], stdin_path=data)
    t1 = time.time_ns()
    p = S.ok(r, p, "ingest -")
    if not p:
        origin, _, end = source(db)
        if origin != "ingest-time":
            p.append(f"time origin {origin!r}, expected ingest-time")
        if not t0 <= end <= t1:
            p.append(f"the source ends at {end}, outside the ingest's run [{t0}, {t1}]")
        p += diff_buckets(cpu_counts(db), bucket_counts(times, end - max(times), SEC))
        path = S.db_value(db, "SELECT path FROM sources")
        if path != "(stdin)":
            p.append(f"source path {path!r}, expected (stdin)")
    c.result("ingest_time", p)


def waits_check(c, name, db, type_name, data, waits):
    """Per bucket count and delay of type_name = the oracle's waits bucketed by end."""
    samples_last = max(s.time for s in BM.perf_script_tp(data))
    _, _, end = source(db)
    offset = end - samples_last
    width = 100_000_000

    def by(key):
        d = {}
        for w in waits:
            v = d.setdefault(S.bucket_of(key(w) + offset, width), [0, 0])
            v[0] += 1
            v[1] += w.delay
        return d

    got = S.buckets(db, type_name)
    by_end, by_start = by(lambda w: w.end), by(lambda w: w.start)
    p = diff_buckets(got, by_end)
    if by_end == by_start:
        p.append("the recording's waits fall in the same buckets by start and by end: "
                 "the check cannot tell")
    c.result(name, p, f"{len(waits)} waits, {sum(v[1] for v in by_end.values()) / 1e6:.1f} ms "
             f"in {len(by_end)} buckets of 100 ms")


def check_block_by_end(c, tmp, wl):
    if not BM.tracepoint_exists("sched:sched_switch"):
        print("SKIP block_by_end: no sched:sched_switch", flush=True)
        return
    data = os.path.join(tmp, "sleeper.data")
    ok, msg = S.record(data, ["-e", "sched:sched_switch", "-g", "-a"], [wl])
    db = os.path.join(tmp, "sleeper.db")
    p = [msg] if not ok else []
    if not p:
        r, q = S.store(db, ["--bucket", "100ms", "ingest", data])
        p = S.ok(r, q, "ingest")
    if p:
        c.result("block_by_end", p)
        return
    samples = BM.perf_script_tp(data)
    waits = [w for w in BM.block_oracle(samples)
             if w.kind != "R" and w.kind not in BM.EXIT_STATES]
    waits_check(c, "block_by_end", db, "block", data, waits)


def check_mutex_by_end(c, tmp, wl):
    if not all(BM.tracepoint_exists(t) for t in (
            "lock:contention_begin", "lock:contention_end", "syscalls:sys_enter_futex",
            "syscalls:sys_exit_futex")):
        print("SKIP mutex_by_end: lock or futex tracepoints missing", flush=True)
        return
    data = os.path.join(tmp, "mutexer.data")
    ok, msg = S.record(data, BM.LOCK_EVENTS + ["-g"], [wl, "1"])
    db = os.path.join(tmp, "mutexer.db")
    p = [msg] if not ok else []
    if not p:
        r, q = S.store(db, ["--bucket", "100ms", "ingest", data])
        p = S.ok(r, q, "ingest")
    if p:
        c.result("mutex_by_end", p)
        return
    samples = BM.perf_script_tp(data)
    waits = BM.futex_oracle(samples) + BM.lock_oracle(samples)
    waits_check(c, "mutex_by_end", db, "mutex", data, waits)


def main():
    c = S.Checker()
    keep = os.environ.get("PPS_KEEP") == "1"
    split, sleeper, mutexer = S.workload("split"), S.workload("sleeper"), S.workload("mutexer")
    if not split:
        print("FATAL: pps_wl_split not found (set PPS_WL_SPLIT)", flush=True)
        return 1
    tmp = tempfile.mkdtemp(prefix="pps_store_time_")
    try:
        data = os.path.join(tmp, "split.data")
        ok, msg = S.record(data, ["-e", "cpu-clock", "-F", "999", "-g"], [split, "3.5"])
        if not ok:
            print(f"SKIP: perf record refused: {msg}", flush=True)
            return T.SKIP
        times = S.perf_sample_times(data)
        db = check_mtime(c, tmp, data, times)
        if db:
            check_windows(c, tmp, db)
        check_origin(c, tmp, data, times)
        check_clock_data(c, tmp, split)
        check_ingest_time(c, tmp, split)
        if sleeper:
            check_block_by_end(c, tmp, sleeper)
        if mutexer:
            check_mutex_by_end(c, tmp, mutexer)
    finally:
        if keep or c.nfail:
            print(f"kept {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"store_time: {c.npass} passed, {c.nfail} failed", flush=True)
    return 1 if c.nfail else 0


if __name__ == "__main__":
    sys.exit(main())
