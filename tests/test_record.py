#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""pprofstore record (live capture) on workloads whose answer is known, with perf record
recording the same run alongside.

Workloads (tests/workloads; PPS_WL_SPLIT, PPS_WL_SLEEPER, PPS_WL_MUTEXER, PPS_WL_MMAPPER,
else <repo>/build/tests/workloads/pps_wl_*): split (main -> driver -> hot_a 3/4, hot_b
1/4 of its CPU), sleeper (prints the time it spent in its nanosleeps under sleep_long and
sleep_short), mutexer (threads fighting over a pthread mutex: futex waits), mmapper
(mmap_lock rwsem contention).

Each live recording runs under `perf record -a` with the same events, so both record the
same run; perf's file is converted by perf2pprof (--pid of the workload: other processes
on the machine run the same binaries; --comm of the workload: perf also sees the pid
before its exec, while the live recording starts at it) and compared with what
`pprofstore query` gives
back from the store. `record -o` writes the stream the recorder converted; perf2pprof on
it must give the store's profiles exactly (same conversion code).

Checks:
  split     cpu flat% of hot_a and hot_b within 2 points of 75% and 25%; cpu samples and
            nanoseconds within 2% of perf record -a's for the pid (both at 4999 Hz); at
            least 2 windows of 1 s, none lost; the -o stream converted by perf2pprof = the store (totals and
            flat per function, exact); query's comment reports the windows' lost count
  sleeper   block delay of sleep_long and sleep_short within 5% of the sleeper's own
            measurement, in stacks nanosleep <- ... <- fn <- ... <- main; delay and
            contentions of the pid within 2% of perf record -a --switch-events + perf2pprof
            --type block; windows of 200 ms, so sleeps cross window boundaries
  mutexer   futex waits (lock=futex) under lock_loop; delay and count within 2% of perf
            record -a + perf2pprof --type mutex for the pid
  mmapper   kernel rwsem waits (lock=rwsem:*) under map_loop
  sigterm   SIGTERM in the middle of the first window: exit 0, the partial window is in
            the store, and it holds everything the stream copy (-o) holds
  pid       -p PID of a process that exits: record ends by itself, exit 0, its waits in
            the store; -p of a pid that does not exist: exit 1, "no such process"
  live      query --window 10m answers with samples while the recorder still runs
  gc        record -a with 1 s buckets, then gc --keep 1s once all are older: windows,
            samples and the source are gone; integrity_check and foreign_key_check clean
  gcrec     gc --keep 1ms from another process once the recorder has stored its first
            3 s window and its 1 s buckets are over: gc deletes every row, and the windows
            stored after it refer to no row that is gone, and hot_a is still named
  lost      1-page ring buffers, the recorder stopped (SIGSTOP) for 0.5 s under record -a:
            lost records > 0, the same number in `list`, the windows table, the query's
            comment and the summary line
  errors    a tracepoint that does not exist, usage errors (exit 2); as user nobody:
            -a refused with a message naming perf_event_paranoid and CAP_PERFMON, --types
            block refused naming tracefs
Exit 77 (skip) when perf_event_open or the tracepoints are unavailable. PPS_KEEP=1 keeps
the temporary directory.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppstest as T  # noqa: E402
import pprofraw as P  # noqa: E402
import storetest as S  # noqa: E402
from test_convert import Checker, workload  # noqa: E402

REL = 0.02          # live against perf record alongside: 2%
FLAT_POINTS = 2.0   # split: flat% within 2 points of 75 / 25
SLEEP_REL = 0.05    # sleeper: within 5% of its own measurement
LOCK_EVENTS = ["-e", "lock:contention_begin", "-e", "lock:contention_end",
               "-e", "syscalls:sys_enter_futex", "-e", "syscalls:sys_exit_futex"]


def pprofstore():
    p = os.environ.get("PPROFSTORE") or os.path.join(T.REPO, "build", "cmd", "pprofstore")
    if not os.access(p, os.X_OK):
        print(f"FATAL: pprofstore binary not found: {p} (set PPROFSTORE)", flush=True)
        sys.exit(1)
    return p


def sql(db, query):
    r = T.run(["sqlite3", db, query], 60)
    return r.out_text.strip() if r.rc == 0 else f"<sqlite3 exit {r.rc}: {r.err_head()}>"


def close(a, b, rel):
    return abs(a - b) <= rel * max(abs(a), abs(b))


def pct(a, b):
    return 100.0 * (a - b) / b if b else float("inf")


def record(db, args, cmd, perf_args=None, perf_out=None, timeout=300):
    """pprofstore record ARGS -- CMD, under perf record -a PERF_ARGS when given. Returns
    (Run, problems)."""
    argv = [pprofstore(), "--db", db, "record"] + args + (["--"] + cmd if cmd else [])
    if perf_args is not None:
        argv = [T.perf_bin(), "record", "-q", "-a", "-g"] + perf_args + ["-o", perf_out,
                                                                         "--"] + argv
    r = T.run(argv, timeout)
    p = r.problems()
    if not p and r.rc != 0:
        p.append(f"{' '.join(argv)}: exit {r.rc}: {r.err_head()}")
    return r, p


def query(db, typ, out, extra=()):
    """pprofstore query over everything: (Raw or None, problems)."""
    r = T.run([pprofstore(), "--db", db, "query", "--type", typ, "--from", "0", "-o", out]
              + list(extra), 120)
    p = r.problems()
    if not p and r.rc != 0:
        p.append(f"query --type {typ}: exit {r.rc}: {r.err_head()}")
    if p:
        return None, p
    raw, err = P.load_raw(out)
    return raw, ([] if raw else [f"pprof -raw {out}: {err}"])


def convert(args, out):
    r = T.run([T.perf2pprof()] + args + ["-o", out], 300)
    p = r.problems()
    if not p and r.rc != 0:
        p.append(f"perf2pprof {' '.join(args)}: exit {r.rc}: {r.err_head()}")
    if p:
        return None, p
    raw, err = P.load_raw(out)
    return raw, ([] if raw else [f"pprof -raw {out}: {err}"])


def label(s, key):
    if key in s.num:
        return s.num[key][0]
    return s.labels.get(key, [None])[0]


def totals(raw, pid=None, pred=lambda s: True):
    """Sums of both sample values over the samples of pid (all when None)."""
    t = [0, 0]
    for s in raw.samples:
        if (pid is None or label(s, "pid") == pid) and pred(s):
            t[0] += s.values[0]
            t[1] += s.values[1]
    return t


def pids(raw):
    return {label(s, "pid") for s in raw.samples}


def window_rows(db):
    out = sql(db, "SELECT count(*), coalesce(sum(lost), 0), coalesce(min(end_ns - start_ns), 0)"
                  " FROM windows")
    try:
        return [int(x) for x in out.split("|")]
    except ValueError:
        return [0, 0, 0]


def list_column(db, name, typ=None):
    """A column of `pprofstore list` (one value per row, of type typ when given)."""
    r = T.run([pprofstore(), "--db", db, "list"], 60)
    lines = r.out_text.splitlines()
    if r.rc != 0 or not lines or name not in lines[0].split("\t"):
        return None
    i = lines[0].split("\t").index(name)
    rows = [ln.split("\t") for ln in lines[1:]]
    return [x[i] for x in rows if typ is None or x[1] == typ]


def list_lost(db):
    """The lost column of `pprofstore list` (one value per row)."""
    r = T.run([pprofstore(), "--db", db, "list"], 60)
    lines = r.out_text.splitlines()
    if r.rc != 0 or not lines or lines[0].split("\t")[5] != "lost":
        return None
    return list_column(db, "lost")


def lost_comment(raw):
    for cm in raw.comments:
        m = re.search(r"(\d+) records lost in the (\d+) live windows", cm)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def flat_pct(raw, index):
    flat = raw.flat_by_function(index)
    total = sum(flat.values())
    return {k: 100.0 * v / total for k, v in flat.items()} if total else {}


def same_profiles(a, b):
    """Totals and flat per function of both sample types: differences (strings)."""
    p = []
    for i in (0, 1):
        if a.total(i) != b.total(i):
            p.append(f"total[{i}] {a.total(i)} vs {b.total(i)}")
        fa, fb = a.flat_by_function(i), b.flat_by_function(i)
        diff = {k: (fa.get(k, 0), fb.get(k, 0)) for k in set(fa) | set(fb)
                if fa.get(k, 0) != fb.get(k, 0)}
        if diff:
            p.append(f"flat[{i}] differs for {len(diff)} functions, e.g. "
                     f"{dict(list(diff.items())[:3])}")
    return p


def comm(path):
    """The thread name of a program: its file name, cut to 15 characters."""
    return os.path.basename(path)[:15]


def workload_kv(text):
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", text)}


# ---------------------------------------------------------------- checks

def check_split(c, tmp, wl):
    db, live, pdata = (os.path.join(tmp, f) for f in ("split.db", "split.live", "split.perf"))
    # 4999 Hz: 10,000 samples in 2 s keep the sampling error of a 75% share near 0.4
    # points, well inside the 2 points allowed.
    r, p = record(db, ["-F", "4999", "--types", "cpu", "--flush", "1s", "-o", live],
                  [wl, "2"], ["-e", "cpu-clock", "-F", "4999"], pdata)
    c.result("split: record under perf record -a", p, r.err_head(200))
    if p:
        return
    ours, p = query(db, "cpu", os.path.join(tmp, "split.cpu.pprof"))
    if p:
        c.result("split: query", p)
        return
    fp = flat_pct(ours, 0)
    p = [f"{fn} flat {fp.get(fn, 0):.2f}%, expected {want}% +- {FLAT_POINTS}"
         for fn, want in (("hot_a", 75), ("hot_b", 25))
         if abs(fp.get(fn, 0) - want) > FLAT_POINTS]
    c.result("split: cpu flat% of hot_a / hot_b within 2 points of 75% / 25%", p,
             f"hot_a {fp.get('hot_a', 0):.2f}%, hot_b {fp.get('hot_b', 0):.2f}% of "
             f"{ours.total(0)} samples")

    pid = next(iter(pids(ours)), None)
    theirs, p = convert(["--type", "cpu", "--pid", str(pid), "--comm", comm(wl), pdata],
                        os.path.join(tmp, "split.perf.pprof"))
    if not p:
        a, b = totals(ours), totals(theirs)
        p = [f"{n}: live {x}, perf record {y} ({pct(x, y):+.2f}%)"
             for n, x, y in (("samples", a[0], b[0]), ("cpu ns", a[1], b[1]))
             if not close(x, y, REL)]
        p += [] if len(pids(ours)) == 1 else [f"pids in the live profile: {pids(ours)}"]
    c.result("split: cpu samples and ns within 2% of perf record -a's for the pid", p,
             f"pid {pid}: live {totals(ours)}, perf {totals(theirs) if theirs else '-'}")

    n, lost, shortest = window_rows(db)
    ll = list_lost(db)
    p = [] if n >= 2 else [f"{n} windows, expected 2 or more"]
    p += [] if lost == 0 else [f"{lost} records lost"]
    p += [] if ll and all(x == "0" for x in ll) else [f"list lost column {ll}"]
    lc = lost_comment(ours)
    p += [] if lc == (0, n) else [f"query comment (lost, windows) {lc}, expected (0, {n})"]
    # Windows merge into the rows of shared buckets; list's count is the samples once.
    ls = list_column(db, "samples", "cpu")
    p += [] if ls == [str(ours.total(0))] else [
        f"list samples {ls}, the query's {ours.total(0)}"]
    c.result("split: windows of 1 s stored, none lost (windows table, list samples and "
             "lost, query comment)", p, f"{n} windows")

    mine, p = convert(["--type", "cpu", live], os.path.join(tmp, "split.live.pprof"))
    p = p or same_profiles(ours, mine)
    c.result("split: the -o stream converted by perf2pprof = the store's profile (exact)", p)


def check_sleeper(c, tmp, wl):
    db, pdata = os.path.join(tmp, "sleeper.db"), os.path.join(tmp, "sleeper.perf")
    # perf with --switch-events, as ours: this kernel does not report every sched_switch
    # system-wide (test_block_mutex.py sees switch-ins from idle go missing), and the
    # switch records are how both recordings find the sleeper's switch-ins.
    r, p = record(db, ["--types", "block", "--flush", "200ms"], [wl],
                  ["-e", "sched:sched_switch", "--switch-events"], pdata)
    c.result("sleeper: record under perf record -a", p, r.err_head(200))
    if p:
        return
    kv = workload_kv(r.out_text)
    ours, p = query(db, "block", os.path.join(tmp, "sleeper.block.pprof"))
    if p or "pid" not in kv:
        c.result("sleeper: query", p or [f"no pid= in the output {r.out_text[:100]!r}"])
        return
    pid = kv["pid"]
    got = {"sleep_long": 0, "sleep_short": 0}
    under = dict(got)
    di = ours.type_index("delay")
    for s in ours.samples:
        if label(s, "pid") != pid:
            continue
        names = [f[0] for f in ours.frames(s)]
        for fn in got:
            if fn in names:
                got[fn] += s.values[di]
                i = names.index(fn)
                if any("nanosleep" in n for n in names[:i]) and "main" in names[i + 1:]:
                    under[fn] += s.values[di]
    p = []
    for fn in got:
        want = kv[f"{fn}_ns"]
        if not close(got[fn], want, SLEEP_REL):
            p.append(f"{fn}: {got[fn] / 1e6:.2f} ms, measured {want / 1e6:.2f} ms "
                     f"({pct(got[fn], want):+.1f}%)")
        if under[fn] < 0.95 * got[fn] or not got[fn]:
            p.append(f"{fn}: only {under[fn] / 1e6:.2f} of {got[fn] / 1e6:.2f} ms under "
                     "nanosleep ... fn ... main")
    c.result("sleeper: block delay of sleep_long / sleep_short within 5% of the workload's "
             "measurement, under nanosleep and main", p,
             f"long {got['sleep_long'] / 1e6:.1f}/{kv['sleep_long_ns'] / 1e6:.1f} ms, short "
             f"{got['sleep_short'] / 1e6:.1f}/{kv['sleep_short_ns'] / 1e6:.1f} ms")

    # --comm: perf -a also sees the pid before its exec, waiting for the recorder to let
    # it go (the live recording starts at the exec, with enable_on_exec).
    theirs, p = convert(["--type", "block", "--pid", str(pid), "--comm", comm(wl), pdata],
                        os.path.join(tmp, "sleeper.perf.pprof"))
    if not p:
        a, b = totals(ours, pid), totals(theirs, pid)
        p = [f"{n}: live {x}, perf record {y} ({pct(x, y):+.2f}%)"
             for n, x, y in (("contentions", a[0], b[0]), ("delay ns", a[1], b[1]))
             if not close(x, y, REL)]
    n = window_rows(db)[0]
    p += [] if n >= 2 else [f"only {n} window: no wait crossed a boundary"]
    c.result("sleeper: block contentions and delay within 2% of perf record -a's for the pid, "
             "over windows of 200 ms", p,
             f"live {totals(ours, pid)}, perf {totals(theirs, pid) if theirs else '-'}, "
             f"{n} windows")


def check_mutex(c, tmp, name, wl, fn, lock):
    db, pdata = os.path.join(tmp, f"{name}.db"), os.path.join(tmp, f"{name}.perf")
    r, p = record(db, ["--types", "mutex", "--flush", "500ms"], [wl, "0.5"],
                  LOCK_EVENTS + ["-m", "2048"], pdata)
    c.result(f"{name}: record under perf record -a", p, r.err_head(200))
    if p:
        return
    kv = workload_kv(r.out_text)
    ours, p = query(db, "mutex", os.path.join(tmp, f"{name}.mutex.pprof"))
    if p or "pid" not in kv:
        c.result(f"{name}: query", p or [f"no pid= in the output {r.out_text[:100]!r}"])
        return
    pid = kv["pid"]

    def is_lock(s):
        v = label(s, "lock") or ""
        return v == lock or (lock.endswith("*") and v.startswith(lock[:-1]))

    mine = totals(ours, pid, is_lock)
    under = totals(ours, pid, lambda s: is_lock(s) and fn in [f[0] for f in ours.frames(s)])
    p = [] if mine[1] > 0 and under[1] >= 0.9 * mine[1] else [
        f"lock={lock} delay {mine[1]} ns, {under[1]} of it under {fn}"]
    c.result(f"{name}: lock={lock} waits in mutex, under {fn}", p,
             f"{mine[0]} waits, {mine[1] / 1e6:.2f} ms")

    theirs, p = convert(["--type", "mutex", "--pid", str(pid), "--comm", comm(wl), pdata],
                        os.path.join(tmp, f"{name}.perf.pprof"))
    lost = window_rows(db)[1]
    if not p:
        b = totals(theirs, pid, is_lock)
        p = [f"{n}: live {x}, perf record {y} ({pct(x, y):+.2f}%)"
             for n, x, y in (("contentions", mine[0], b[0]), ("delay ns", mine[1], b[1]))
             if not close(x, y, REL)]
        p += [] if lost == 0 else [f"{lost} records lost live"]
    c.result(f"{name}: lock={lock} contentions and delay within 2% of perf record -a's",
             p, f"live {mine}, perf {totals(theirs, pid, is_lock) if theirs else '-'}")


def check_sigterm(c, tmp, wl):
    db, live = os.path.join(tmp, "term.db"), os.path.join(tmp, "term.live")
    argv = [pprofstore(), "--db", db, "record", "--types", "cpu", "-F", "999", "--flush",
            "1h", "-o", live, "--", wl, "5"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=T.quiet_env())
    time.sleep(1.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    took = time.monotonic() - t0
    err = err.decode("utf-8", "replace")
    p = [] if proc.returncode == 0 else [f"exit {proc.returncode}: {err[:200]!r}"]
    p += [m for m in T.SANITIZER_MARKERS if m in err][:1]
    n, lost, span = window_rows(db)
    p += [] if n == 1 else [f"{n} windows, expected the one partial window"]
    p += [] if 1.0e9 <= span <= 3.0e9 else [f"window of {span / 1e9:.2f} s, expected ~1.5 s"]
    ours, q = query(db, "cpu", os.path.join(tmp, "term.cpu.pprof"))
    p += q
    mine, q = convert(["--type", "cpu", live], os.path.join(tmp, "term.live.pprof"))
    p += q
    if ours and mine:
        # 1.5 s at 999 Hz: 1500 samples on an idle CPU; a loaded one gives less.
        p += [] if ours.total(0) > 100 else [f"only {ours.total(0)} samples stored"]
        p += same_profiles(ours, mine)
    c.result("sigterm: mid-window SIGTERM exits 0 and stores the partial window, all of the "
             "recorded stream", p,
             f"{ours.total(0) if ours else 0} samples in {span / 1e9:.2f} s, exit after "
             f"{took:.2f} s")


def check_pid(c, tmp, sleeper):
    db = os.path.join(tmp, "pid.db")
    wl = subprocess.Popen([sleeper, "3"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          env=T.quiet_env())
    time.sleep(0.05)
    t0 = time.monotonic()
    r, p = record(db, ["-p", str(wl.pid), "--types", "block"], None, timeout=60)
    took = time.monotonic() - t0
    out, _ = wl.communicate(timeout=60)
    kv = workload_kv(out.decode())
    want = kv.get("sleep_long_ns", 0) + kv.get("sleep_short_ns", 0)
    if not p:
        raw, q = query(db, "block", os.path.join(tmp, "pid.block.pprof"))
        p += q
        got = totals(raw, wl.pid)[1] if raw else 0
        # Attached 50 ms late: most, not all, of the sleeps.
        p += [] if 0.75 * want <= got <= 1.02 * want else [
            f"block delay {got / 1e6:.1f} ms of the pid, it slept {want / 1e6:.1f} ms"]
        p += [] if took < 10 else [f"record took {took:.1f} s to notice the exit"]
    c.result("pid: -p of a process that exits ends the recording cleanly (exit 0) with its "
             "waits stored", p, f"{took:.2f} s")

    r = T.run([pprofstore(), "--db", db, "record", "-p", "999999999", "--duration", "1s"], 60)
    p = r.problems()
    p += [] if r.rc == 1 and "no such process" in r.err_text else [
        f"exit {r.rc}, stderr {r.err_head()!r}"]
    c.result("pid: -p of a pid that does not exist: exit 1, 'no such process'", p)


def check_live_query(c, tmp):
    db = os.path.join(tmp, "live.db")
    proc = subprocess.Popen([pprofstore(), "--db", db, "record", "-a", "--types", "cpu",
                             "--flush", "200ms", "--duration", "4s"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=T.quiet_env())
    time.sleep(2.0)
    out = os.path.join(tmp, "live.cpu.pprof")
    r = T.run([pprofstore(), "--db", db, "query", "--type", "cpu", "--window", "10m", "-o",
               out], 60)
    running = proc.poll() is None
    p = r.problems() + ([] if r.rc == 0 else [f"query exit {r.rc}: {r.err_head()}"])
    raw, err = P.load_raw(out) if not p else (None, "")
    p += [] if raw and raw.total(0) > 0 else [f"no samples ({err})"]
    p += [] if running else ["the recorder had already exited"]
    proc.wait(timeout=60)
    p += [] if proc.returncode == 0 else [f"recorder exit {proc.returncode}"]
    c.result("live: query --window 10m sees samples while record -a runs", p,
             f"{raw.total(0) if raw else 0} samples")


def check_gc(c, tmp):
    """gc of a live recording: once its 1 s buckets are all older than --keep, the windows
    go with them, and the source; nothing is left pointing at what was deleted."""
    db = os.path.join(tmp, "gc.db")
    r, p = record(db, ["-q", "-a", "--types", "cpu", "--bucket", "1s", "--flush", "1s",
                       "--duration", "2s"], None)
    before = sql(db, "SELECT count(*) FROM windows") if not p else "0"
    p += [] if before.isdigit() and int(before) >= 2 else [f"{before} windows recorded"]
    time.sleep(2.5)  # the last bucket ends at most 1 s after the recording
    r = T.run([pprofstore(), "--db", db, "gc", "--keep", "1s"], 60)
    p += r.problems() + ([] if r.rc == 0 else [f"gc exit {r.rc}: {r.err_head()}"])
    after = sql(db, "SELECT (SELECT count(*) FROM windows), (SELECT count(*) FROM samples), "
                    "(SELECT count(*) FROM sources)")
    p += [] if after == "0|0|0" else [f"windows|samples|sources after gc: {after}"]
    check = sql(db, "PRAGMA integrity_check; PRAGMA foreign_key_check;")
    p += [] if check == "ok" else [f"integrity/foreign keys: {check!r}"]
    c.result("gc: a live recording's windows go with its buckets, and its source", p,
             f"{before} windows -> {after}")


def check_gc_while_recording(c, tmp, wl):
    """gc from another process while the recorder runs: it deletes every row the first
    window made, and the recorder, whose next windows name the same functions, must
    store them again rather than point at the deleted rows."""
    db = os.path.join(tmp, "gcrec.db")
    proc = subprocess.Popen([pprofstore(), "--db", db, "record", "-q", "--types", "cpu",
                             "-F", "999", "--bucket", "1s", "--flush", "3s", "--", wl, "8"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=T.quiet_env())
    p, before = [], "0"
    for _ in range(100):  # until the first window is stored
        time.sleep(0.1)
        if os.path.exists(db):
            before = sql(db, "SELECT count(*) FROM windows") or "0"
            if before.isdigit() and int(before) >= 1:
                break
    # Its last bucket may hold samples drained just after the window's end: wait for
    # that bucket to be over too, and gc before the next window (3 s apart).
    time.sleep(1.2)
    r = T.run([pprofstore(), "--db", db, "gc", "--keep", "1ms"], 60)
    p += r.problems() + ([] if r.rc == 0 else [f"gc exit {r.rc}: {r.err_head()}"])
    left = sql(db, "SELECT (SELECT count(*) FROM windows), (SELECT count(*) FROM locations), "
                   "(SELECT count(*) FROM functions)") if not p else "?"
    p += [] if left == "0|0|0" else [f"windows|locations|functions left by gc: {left}"]
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    p += [] if proc.returncode == 0 else [f"record exit {proc.returncode}: {err[:200]!r}"]
    after = sql(db, "SELECT count(*) FROM windows")
    bad = S.dangling(db) if not p else {}
    p += [f"dangling references after gc: {k} {v[:5]}" for k, v in bad.items()]
    raw = None
    if not p:
        raw, q = query(db, "cpu", os.path.join(tmp, "gcrec.cpu.pprof"))
        p += q
    fl = flat_pct(raw, 0) if raw else {}
    p += [] if fl.get("hot_a", 0) > 50 else [f"hot_a after gc: {fl.get('hot_a')}% flat"]
    c.result("gc while recording: later windows stored whole (no reference to a deleted "
             "row), hot_a still named", p,
             f"{before} window(s) before, gc left {left}, {after} windows after; hot_a "
             f"{fl.get('hot_a', 0):.1f}%")


def check_lost(c, tmp):
    """1-page ring buffers, and the recorder stopped (SIGSTOP) for half a second while
    cpu-clock samples every CPU, busy or idle: the kernel must drop records."""
    db = os.path.join(tmp, "lost.db")
    proc = subprocess.Popen([pprofstore(), "--db", db, "record", "-a", "--types", "cpu",
                             "-F", "999", "-m", "1", "--flush", "200ms"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=T.quiet_env())
    time.sleep(1.0)
    proc.send_signal(signal.SIGSTOP)
    time.sleep(0.5)
    proc.send_signal(signal.SIGCONT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    err = err.decode("utf-8", "replace")
    p = [] if proc.returncode == 0 else [f"exit {proc.returncode}: {err[:200]!r}"]
    p += [m for m in T.SANITIZER_MARKERS if m in err][:1]
    n, lost, _ = window_rows(db)
    ll = list_lost(db)
    raw, q = query(db, "cpu", os.path.join(tmp, "lost.cpu.pprof"))
    p += q
    p += [] if lost > 0 else ["no records lost"]
    p += [] if ll and all(x == str(lost) for x in ll) else [
        f"list lost column {ll}, windows table {lost}"]
    lc = lost_comment(raw) if raw else None
    p += [] if lc == (lost, n) else [f"query comment (lost, windows) {lc}, table ({lost}, {n})"]
    m = re.search(r"(\d+) records lost", err)
    p += [] if m and int(m.group(1)) == lost else [f"stderr does not say {lost} lost: {err[-200:]!r}"]
    c.result("lost: 1-page ring buffers and a stopped recorder lose records, counted the same "
             "in the windows, list, the query's comment and the summary line", p,
             f"{lost} lost in {n} windows")


def check_errors(c, tmp):
    db = os.path.join(tmp, "err.db")
    p = []
    r = T.run([pprofstore(), "--db", db, "record", "-e", "nosuch:event", "--", "true"], 60)
    p += r.problems()
    if r.rc != 1 or "nosuch:event does not exist" not in r.err_text:
        p.append(f"-e nosuch:event: exit {r.rc}, {r.err_head()!r}")
    for args in (["--types", "cpu,disk"], ["-m", "3"], ["-p", "abc"], ["-a", "-p", "1"],
                 ["-F", "0"], ["--flush", "1ms"], ["-e", "nocolon"], ["--bogus"],
                 ["--call-graph", "lbr"], ["--call-graph", "dwarf,0"],
                 ["--call-graph", "dwarf,65536"], ["--call-graph", "dwarfx"]):
        r = T.run([pprofstore(), "--db", db, "record"] + args + ["--", "true"], 60)
        p += r.problems()
        want = 1 if args[0] == "-e" else 2
        if r.rc != want:
            p.append(f"{args}: exit {r.rc}, expected {want}")
    c.result("errors: missing tracepoint exit 1 with its name; usage errors exit 2", p)

    if not shutil.which("setpriv"):
        c.skip("errors: unprivileged", "no setpriv")
        return
    udir = os.path.join(tmp, "nobody")
    os.makedirs(udir, exist_ok=True)
    os.chmod(tmp, 0o755)
    os.chmod(udir, 0o777)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", pprofstore(),
              "--db", os.path.join(udir, "n.db"), "record", "--duration", "0.5s"]
    with open("/proc/sys/kernel/perf_event_paranoid") as f:
        paranoid = int(f.read())
    p = []
    if paranoid >= 1:
        r = T.run(nobody + ["-a", "--types", "cpu"], 60)
        p += r.problems()
        if r.rc != 1 or "perf_event_paranoid" not in r.err_text or \
                "CAP_PERFMON" not in r.err_text:
            p.append(f"-a as nobody: exit {r.rc}, {r.err_head()!r}")
    r = T.run(nobody + ["--types", "block", "--", "true"], 60)
    p += r.problems()
    if os.access("/sys/kernel/tracing", os.R_OK) and r.rc == 1 and "tracefs" not in r.err_text:
        p.append(f"--types block as nobody: {r.err_head()!r}")
    elif r.rc != 1:
        p.append(f"--types block as nobody: exit {r.rc}, {r.err_head()!r}")
    c.result("errors: as nobody, -a refused naming perf_event_paranoid and CAP_PERFMON; "
             "--types block refused naming tracefs", p, f"perf_event_paranoid {paranoid}")


def main():
    T.perf2pprof()
    pprofstore()
    if not T.perf_bin():
        print("SKIP: perf is not installed")
        return T.SKIP
    if not P.pprof_bin() or not os.access(P.pprof_bin(), os.X_OK):
        print(f"FATAL: pprof not found ({P.pprof_bin()}); set PPROF")
        return 1
    wls = {n: workload(n) for n in ("split", "sleeper", "mutexer", "mmapper")}
    missing = [n for n, w in wls.items() if not w]
    if missing:
        print(f"FATAL: workloads not built: {missing}")
        return 1
    tmp = tempfile.mkdtemp(prefix="pps-record-")
    keep = bool(os.environ.get("PPS_KEEP"))
    c = Checker()
    try:
        r = T.run([pprofstore(), "--db", os.path.join(tmp, "probe.db"), "record", "-q",
                   "--", "true"], 60)
        if r.rc != 0:
            print(f"SKIP: pprofstore record does not work here: {r.err_head()}")
            return T.SKIP
        r = T.run([T.perf_bin(), "record", "-q", "-a", "-e", "sched:sched_switch", "-o",
                   os.path.join(tmp, "probe.perf"), "--", "true"], 60)
        if r.rc != 0:
            print(f"SKIP: perf record -a of tracepoints does not work here: {r.err_head()}")
            return T.SKIP
        check_split(c, tmp, wls["split"])
        check_sleeper(c, tmp, wls["sleeper"])
        check_mutex(c, tmp, "mutexer", wls["mutexer"], "lock_loop", "futex")
        check_mutex(c, tmp, "mmapper", wls["mmapper"], "map_loop", "rwsem:*")
        check_sigterm(c, tmp, wls["split"])
        check_pid(c, tmp, wls["sleeper"])
        check_live_query(c, tmp)
        check_gc(c, tmp)
        check_gc_while_recording(c, tmp, wls["split"])
        check_lost(c, tmp)
        check_errors(c, tmp)
    finally:
        if keep or c.nfail:
            print(f"kept {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    T.summary(c.npass, c.nfail, c.nskip)
    return 0 if c.nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
