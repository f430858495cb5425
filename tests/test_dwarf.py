#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""DWARF call graphs (perf record --call-graph dwarf) against perf, on workloads recorded
at test time.

Workload tests/workloads/dwarf.c, built as distributions build code (-O2, the compiler's
defaults: no frame pointers) as pps_wl_dwarf, and with frame pointers as pps_wl_dwarf_fp
(paths from PPS_WL_DWARF, PPS_WL_DWARF_FP, else <repo>/build/tests/workloads/): main ->
driver -> hot_a (3 units), hot_b (1 unit), and sort_round -> libc's qsort -> ... ->
cmp_items, the program's comparator called back from libc. Recorded with
`perf record -e cpu-clock -F 999 --call-graph dwarf` for 1.5 s, converted with perf2pprof,
read back with the real Go pprof (-symbolize=none). lib/unwind.c alone is run through
`test_unwind dump` (PPS_TEST_UNWIND), which prints every sample's unwound user frames as
addresses in their files, as perf script prints them.

Checks:
  frames    every sample's unwound user frames (test_unwind dump) = perf script's, address
            for address; where they differ (at most 1%), perf's stop short of ours
  stacks    pprof's stacks (function names, inlined frames expanded) = perf script's, as a
            multiset (at most 1% of the samples differ)
  traces    pprof -traces shows main -> driver -> hot_a; a sample's stack has cmp_items, then
            frames of libc (qsort), then sort_round, driver, main
  report    flat% (perf report --no-children) and cum% (--children) of hot_a, hot_b,
            cmp_items, sort_round, driver and main within 2 points of pprof -top's
  complete  no sample labelled unwind=truncated but those taken inside execve (before the
            workload's image runs), and the profile's comment counts them
  short     --call-graph dwarf,1024 (stacks deeper than the copy): never a frame perf does
            not have where both have one; some stacks truncated, exactly the ones
            test_unwind dump says, labelled unwind=truncated; the caller of every workload
            function is the one its source has; every stack not labelled ends at _start
            (or at the loader's _dl_start_user, in constructors before main)
  nocfi     driver calling hot_a and nocfi_spin (nocfi.c, built without unwinding tables):
            every nocfi_spin sample's user stack is nocfi_spin alone, labelled truncated, where
            perf script goes on (its frame-pointer guess); every other stack complete;
            never a frame perf does not have where both have one
  fp        pps_wl_dwarf_fp recorded at 4999 Hz with two clock events, cpu-clock/call-graph=fp/
            and cpu-clock/call-graph=dwarf,stack-size=4096/ (one run, two unwinders):
            perf2pprof --all writes both profiles, with the same functions above 5% flat
            (the program's and libc's) and their flat% within 3 points
  pipe      perf record -o - | perf2pprof -: every hot_a sample has driver and main above it
  block     pps_wl_sleeper (PPS_WL_SLEEPER) recorded with sched:sched_switch and DWARF call
            graphs: every off-CPU stack goes nap <- sleep_long or sleep_short <- main <-
            _start (a frame-pointer unwind through libc's nanosleep skips nap), none
            truncated
  nosym     --no-symbolize: the same address stacks as the symbolized profile
  ingest    pprofstore ingest then query (PPROFSTORE): the same profile as perf2pprof
  live      pprofstore record --call-graph dwarf and dwarf,1024 of pps_wl_dwarf, with -o:
            the stored profile = perf2pprof's of the stream (totals, flat, stacks with their
            truncated label); the stream's user frames = perf script's on it (which needs
            the readable non-code maps perf records for DWARF); hot_a <- driver <- main;
            flat% within 2 points of perf report on the stream; with dwarf,1024 the
            truncated stacks are exactly test_unwind dump's
  container pps_wl_dwarf run from a path only its own mount namespace sees (unshare -m, a
            tmpfs), recorded with -N -p while it runs: converted while it runs (empty
            build-id cache), every hot_a sample has driver <- main above and none is
            truncated (the CFI is read through /proc/PID/root); once it has exited, its
            stacks are truncated; skipped without unshare or mount rights
  damaged   the recording with stack bytes, stack pointers, pcs and copy sizes scrambled:
            exit 0, pprof reads the profile, (sanitizer build) no memory error
Exit 77 (skip) when perf record is refused. PPS_KEEP=1 keeps the temporary directory.
"""

import collections
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppstest as T  # noqa: E402
import pprofraw as P  # noqa: E402
from test_convert import (Checker, convert, convert_load, parse_traces,  # noqa: E402
                          container_profiles, perf_samples, perf_script, record,
                          strip_params, sym_name, workload)

DWARF = ["-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf"]
SECONDS = "1.5"
# Where a complete user stack ends: the program's entry, or the dynamic loader's while it
# runs the libraries' constructors before main (its CFI marks the return address undefined).
OUTERMOST = ("_start", "_dl_start_user")
PCT_TOLERANCE = 2.0   # percentage points, perf report against pprof -top
FP_TOLERANCE = 3.0    # two events sampling one run: 3 points is > 4 standard deviations
MAX_DIFFERING = 0.01  # share of samples whose stacks may differ from perf's
KERNEL_MIN = 0xffff800000000000
PROGRAM = ("hot_a", "hot_b", "cmp_items", "sort_round", "driver", "main")
# The caller of each of the workload's functions, from its source ("libc": a libc frame).
CALLER = {"hot_a": "driver", "hot_b": "driver", "sort_round": "driver", "now": "driver",
          "driver": "main", "cmp_items": "libc", "main": "__libc_start_call_main"}


def test_unwind():
    p = os.environ.get("PPS_TEST_UNWIND") or os.path.join(T.REPO, "build", "tests",
                                                          "test_unwind")
    return p if os.access(p, os.X_OK) else None


# ---------------------------------------------------------------- oracles

def unwind_dump(path):
    """{(time, tid): (truncated, [address...])} from `test_unwind dump`."""
    r = T.run([test_unwind(), "dump", path], 300)
    if r.rc != 0 or r.problems():
        raise RuntimeError(f"test_unwind dump {path}: exit {r.rc}: {r.err_head()}")
    out = {}
    for line in r.out_text.splitlines():
        f = line.split()
        out[(int(f[0]), int(f[1]))] = (f[2] == "T", f[3:])
    return out


def perf_user_frames(path):
    """{(time, tid): [address...]}: perf script's user frames, one per real frame."""
    r = T.run([T.perf_bin(), "script", "-F", "tid,time,ip", "--ns", "--no-inline", "-f", "-i",
               path], 300)
    if r.rc != 0 or r.timed_out:
        raise RuntimeError(f"perf script -i {path}: exit {r.rc}: {r.err_head()}")
    out = {}
    for blk in r.out_text.split("\n\n"):
        lines = [ln for ln in blk.splitlines() if ln.strip()]
        if not lines:
            continue
        m = re.match(r"\s*(\d+)\s+(\d+)\.(\d+):", lines[0])
        if not m:
            raise RuntimeError(f"unparsed perf script line: {lines[0]!r}")
        key = (int(m.group(2)) * 10**9 + int((m.group(3) + "000000000")[:9]), int(m.group(1)))
        out[key] = [ln.split()[0] for ln in lines[1:] if int(ln.split()[0], 16) < KERNEL_MIN]
    return out


def compare_frames(ours, perf):
    """Samples classified: equal, ours a prefix of perf's, perf's a prefix of ours, or
    diverging. Returns (Counter, examples)."""
    cls, ex = collections.Counter(), {}
    for key, (trunc, fr) in ours.items():
        pf = perf.get(key)
        if pf is None:
            k = "missing in perf script"
        elif fr == pf:
            k = "equal"
        elif pf[:len(fr)] == fr:
            k = "ours shorter"
        elif fr[:len(pf)] == pf:
            k = "perf shorter"
        else:
            k = "diverging"
        cls[k] += 1
        ex.setdefault(k, (key, trunc, fr, pf))
    return cls, ex


_PCT = re.compile(r"^\s+([\d.]+)%\s+(?:([\d.]+)%\s+)?\[(.)\]\s+(.*?)\s*$")


def perf_report_pct(path, children):
    """{symbol: percent}: Self (--no-children) or Children (--children), --sort sym."""
    r = T.run([T.perf_bin(), "report", "--children" if children else "--no-children",
               "--sort", "sym", "--stdio", "-g", "none", "-f", "-i", path], 300)
    if r.rc != 0:
        raise RuntimeError(f"perf report -i {path}: exit {r.rc}: {r.err_head()}")
    out = collections.defaultdict(float)
    for line in r.out_text.splitlines():
        m = _PCT.match(line)
        if m and not line.startswith("#"):
            out[m.group(4).replace(" (inlined)", "")] += float(m.group(1))
    if not out:
        raise RuntimeError(f"perf report -i {path}: no rows parsed")
    return out


def name_stacks(raw):
    """Counter of our stacks as function-name tuples, leaf first, inlined expanded."""
    c = collections.Counter()
    for s in raw.samples:
        c[tuple(f[0] for f in raw.frames(s))] += s.values[0]
    return c


def truncated_count(raw):
    return sum(s.values[0] for s in raw.samples if s.labels.get("unwind") == ["truncated"])


def frames_with_files(raw, s):
    """One sample's frames as (function, mapping file), leaf first."""
    out = []
    for lid in s.locs:
        loc = raw.locations[lid]
        f = raw.mappings.get(loc.mapping, {}).get("file", "")
        for ln in loc.lines or [(f"0x{loc.addr:x}", "", 0, 0)]:
            out.append((ln[0], f))
    return out


# ---------------------------------------------------------------- checks

def check_full(c, tmp, data):
    """frames, stacks, traces, report, complete, nosym. Returns the profile (or None)."""
    out = os.path.join(tmp, "dwarf.pprof")
    raw, p = convert_load([data, "-o", out], out)
    nperf = perf_samples(data).get("cpu-clock")
    if raw is not None and raw.total(0) != nperf:
        p.append(f"{raw.total(0)} samples, perf report --stats has {nperf}")
    c.result("convert: samples = perf's", p, f"{nperf} samples" if not p else "")
    if raw is None:
        return None

    ours = unwind_dump(data)
    cls, ex = compare_frames(ours, perf_user_frames(data))
    n = sum(cls.values())
    p = []
    if n != nperf:
        p.append(f"test_unwind dump unwound {n} samples of {nperf}")
    bad = n - cls["equal"]
    if bad > MAX_DIFFERING * n or cls["diverging"] or cls["ours shorter"] or \
            cls["missing in perf script"]:
        p.append(f"{dict(cls)}; e.g. " + "; ".join(f"{k}: {v}" for k, v in ex.items()
                                                    if k != "equal"))
    c.result("frames: every sample's user frames = perf script's", p,
             f"{cls['equal']} of {n} equal, {cls['perf shorter']} where perf stops short")

    mine = name_stacks(raw)
    theirs = collections.Counter(tuple(sym_name(f[1]) for f in s.chain)
                                 for s in perf_script(data))
    differ = sum((mine - theirs).values())
    p = []
    if differ > MAX_DIFFERING * nperf:
        worst = sorted((mine - theirs).items(), key=lambda kv: -kv[1])[:3]
        p.append(f"{differ} of {nperf} samples' stacks are not perf script's, e.g. "
                 + "; ".join(f"{n}x {' <- '.join(k)}" for k, n in worst))
    c.result("stacks: pprof's stacks = perf script's (names, inlined frames)", p,
             f"{nperf - differ} of {nperf} equal")

    r = P.pprof(["-traces"], out)
    traces = parse_traces(r.out_text)
    found = any(t[i:i + 3] == ["hot_a", "driver", "main"] for t in traces for i in range(len(t)))
    c.result("traces: pprof -traces shows main -> driver -> hot_a",
             [] if found and r.rc == 0 else [f"no trace hot_a <- driver <- main (exit {r.rc})"])
    through = 0
    for s in raw.samples:
        fr = frames_with_files(raw, s)
        names = [strip_params(n) for n, _ in fr]
        if not names or names[0] != "cmp_items" or "sort_round" not in names:
            continue
        k = names.index("sort_round")
        libc = [f for _, f in fr[1:k]]
        if libc and all("libc.so" in f for f in libc) and names[k:k + 3] == ["sort_round",
                                                                             "driver", "main"]:
            through += s.values[0]
    c.result("traces: cmp_items <- libc (qsort) <- sort_round <- driver <- main",
             [] if through else ["no such stack"], f"{through} samples")

    p, shown = [], []
    top, _, r = P.top(out, "samples")
    for children in (False, True):
        perf = perf_report_pct(data, children)
        for fn in PROGRAM:
            o = top.get(fn, (0.0, 0.0))[1 if children else 0]
            e = perf.get(fn, 0.0)
            if abs(o - e) > PCT_TOLERANCE:
                p.append(f"{fn} {'cum' if children else 'flat'}: perf {e:.2f}%, pprof {o:.2f}%")
            shown.append(f"{fn} {'cum' if children else 'flat'} {e:.1f}/{o:.1f}")
    if top.get("cmp_items", (0, 0))[0] < 5 or top.get("hot_a", (0, 0))[0] < 20:
        p.append(f"workload shape: cmp_items {top.get('cmp_items')}, hot_a {top.get('hot_a')}")
    c.result("report: flat% and cum% within 2 points of perf report --no-children/--children",
             p, "perf/pprof %: " + ", ".join(shown))

    # A sample inside execve (the binary paged in from disk) has the old image's user pc
    # in none of the new image's maps: that stack cannot be unwound, and is not the
    # workload's.
    tr, in_exec, p = truncated_count(raw), 0, []
    for s in raw.samples:
        if s.labels.get("unwind") == ["truncated"]:
            names = [f[0] for f in raw.frames(s)]
            if "bprm_execve" in names or "load_elf_binary" in names:
                in_exec += s.values[0]
            else:
                p.append(f"truncated: {' <- '.join(names)}")
    want = f"dwarf unwinding: {tr} of {nperf} user stacks truncated"
    if not any(cm.startswith(want) for cm in raw.comments):
        p.append(f"no comment {want!r}: {raw.comments}")
    c.result("complete: no stack truncated but in execve", p[:3],
             f"{in_exec} samples in execve")

    ns = os.path.join(tmp, "dwarf.nosym.pprof")
    raw2, p = convert_load(["--no-symbolize", data, "-o", ns], ns)
    if raw2 is not None:
        def addrs(rw):
            return collections.Counter(tuple(rw.locations[i].addr for i in s.locs)
                                       for s in rw.samples for _ in range(s.values[0]))
        if addrs(raw2) != addrs(raw):
            p.append("address stacks differ from the symbolized profile's")
    c.result("nosym: --no-symbolize unwinds the same stacks", p)
    return raw


def check_short(c, tmp, wl):
    data = os.path.join(tmp, "short.data")
    ok, msg = record(data, DWARF[:-1] + ["dwarf,1024"], [wl, "1"])
    if not ok:
        c.result("short: perf record --call-graph dwarf,1024", [msg])
        return
    out = os.path.join(tmp, "short.pprof")
    raw, p = convert_load([data, "-o", out], out)
    if raw is None:
        c.result("short: converts", p)
        return
    ours = unwind_dump(data)
    cls, ex = compare_frames(ours, perf_user_frames(data))
    p = []
    if cls["diverging"] or cls["missing in perf script"]:
        p.append(f"{dict(cls)}; e.g. {ex.get('diverging') or ex.get('missing in perf script')}")
    dumped = sum(1 for t, _ in ours.values() if t)
    tr = truncated_count(raw)
    if tr != dumped or not 0 < tr < raw.total(0):
        p.append(f"{tr} samples labelled truncated, test_unwind dump has {dumped} of "
                 f"{raw.total(0)} (want some, not all)")
    for s in raw.samples:
        fr = frames_with_files(raw, s)
        names = [strip_params(n) for n, _ in fr]
        odd = [(names[i], names[i + 1]) for i in range(len(fr) - 1)
               if names[i] in CALLER and not (
                   names[i + 1] == CALLER[names[i]]
                   or (CALLER[names[i]] == "libc" and "libc.so" in fr[i + 1][1]))]
        if odd:
            p.append(f"callers the source does not have: {odd[:3]} in {' <- '.join(names)}")
            break
        if s.labels.get("unwind") != ["truncated"] and (names[-1] if names else None) not in OUTERMOST:
            p.append(f"stack not labelled truncated ends at {names[-1:]}: {names}")
            break
    c.result("short: dwarf,1024 truncates cleanly, never a frame perf does not have", p,
             f"{dict(cls)}; {tr} of {raw.total(0)} truncated")


def check_nocfi(c, tmp, wl):
    """driver calling hot_a and nocfi_spin, which has no unwinding table: its samples stop
    at it, truncated, where perf's unwinder guesses on through the frame pointer."""
    data = os.path.join(tmp, "nocfi.data")
    ok, msg = record(data, DWARF, [wl, "1", "nocfi"])
    if not ok:
        c.result("nocfi: perf record", [msg])
        return
    out = os.path.join(tmp, "nocfi.pprof")
    raw, p = convert_load([data, "-o", out], out)
    if raw is None:
        c.result("nocfi: converts", p)
        return
    nocfi = complete = 0
    for s in raw.samples:
        user = [strip_params(n) for n, f in frames_with_files(raw, s)
                if not f.startswith("[kernel")]
        trunc = s.labels.get("unwind") == ["truncated"]
        if user[:1] == ["nocfi_spin"]:
            nocfi += s.values[0]
            if user != ["nocfi_spin"] or not trunc:
                p.append(f"a nocfi_spin sample: {' <- '.join(user)}, truncated {trunc}")
        elif user[-1:] and user[-1] in OUTERMOST and not trunc:
            complete += s.values[0]
        else:
            p.append(f"truncated {trunc}: {' <- '.join(user)}")
    cls, ex = compare_frames(unwind_dump(data), perf_user_frames(data))
    if cls["diverging"] or cls["missing in perf script"] or cls["ours shorter"] != nocfi:
        p.append(f"against perf script: {dict(cls)}, {nocfi} nocfi_spin samples; e.g. "
                 f"{ex.get('diverging') or ex.get('missing in perf script')}")
    if not nocfi or truncated_count(raw) != nocfi:
        p.append(f"{truncated_count(raw)} samples truncated, {nocfi} in nocfi_spin")
    c.result("nocfi: a frame without CFI ends the stack, truncated, where perf guesses on",
             p[:3], f"{nocfi} samples in nocfi_spin, {complete} complete")


def check_block(c, tmp):
    """Off-CPU stacks from sched_switch recorded with DWARF call graphs: the sleeper's
    nanosleep calls, each under nap (which a frame-pointer unwind through libc skips)."""
    sleeper = workload("sleeper")
    if not sleeper:
        c.skip("block", "pps_wl_sleeper not built (set PPS_WL_SLEEPER)")
        return
    data = os.path.join(tmp, "block.data")
    ok, msg = record(data, ["-e", "sched:sched_switch", "--switch-events", "--call-graph",
                            "dwarf"], [sleeper, "0.5"])
    if not ok:
        c.skip("block", f"sched:sched_switch not recordable: {msg}")
        return
    outdir = os.path.join(tmp, "block")
    r, p = convert(["--all", data, "-o", outdir])
    raw = None
    if not p:
        raw, err = P.load_raw(os.path.join(outdir, "block.pprof"))
        p = [] if raw is not None else [err]
    n = naps = in_exec = 0
    for s in raw.samples if raw else []:
        names = [strip_params(f[0]) for f in raw.frames(s)]
        user = [f for f in names if f in ("nap", "sleep_long", "sleep_short", "main", "_start")]
        n += s.values[0]
        # The dynamic linker can wait too, on a page of ld.so or libc read from disk at
        # start-up (seen when the page cache was reclaimed): a real wait, not the workload's.
        if "nap" not in names and any(f.startswith("_dl_") for f in names):
            continue
        # So can execve, reading the binary: its user registers and stack are the old
        # program's (perf's child) under the new one's mm, so that stack is cut short.
        if "nap" not in names and "bprm_execve" in names:
            in_exec += s.values[0]
            continue
        if user not in (["nap", "sleep_long", "main", "_start"],
                        ["nap", "sleep_short", "main", "_start"]):
            p.append(f"a block stack: {' <- '.join(f[0] for f in raw.frames(s))}")
            break
        naps += s.values[0]
    want = [f"dwarf unwinding: {k} of {n} user stacks truncated" for k in range(in_exec + 1)]
    if raw is not None and (not naps or not set(want) & set(raw.comments)):
        p.append(f"{n} samples ({naps} under nap), comments {raw.comments[-1:]}, "
                 f"want {want!r}")
    c.result("block: off-CPU stacks unwound with DWARF, nap under sleep_long/sleep_short", p,
             f"{naps} waits under nap of {n}")


def check_fp(c, tmp, wl_fp):
    """The frame-pointer build recorded once with two clock events, one unwinding with frame
    pointers (-g) and one with DWARF: the same run, so the same flat profile."""
    data = os.path.join(tmp, "fp.data")
    ok, msg = record(data, ["-F", "4999", "-e", "cpu-clock/call-graph=fp/",
                            "-e", "cpu-clock/call-graph=dwarf,stack-size=4096/"],
                     [wl_fp, SECONDS])
    if not ok:
        c.result("fp: perf record with frame-pointer and DWARF events", [msg])
        return
    outdir = os.path.join(tmp, "fp")
    r, p = convert(["--all", data, "-o", outdir])
    fp = dw = None
    if not p:
        fp, err = P.load_raw(os.path.join(outdir, "cpu.pprof"))
        # The second clock event's profile is named after the event.
        other = [f for f in os.listdir(outdir) if f != "cpu.pprof" and "dwarf" in f]
        dw, err2 = P.load_raw(os.path.join(outdir, other[0])) if len(other) == 1 else (
            None, f"profiles written: {sorted(os.listdir(outdir))}")
        p = [e for e in (err, err2) if e]
    if fp is None or dw is None:
        c.result("fp: both profiles written", p or ["missing profile"])
        return

    def flat(rw):
        f = rw.flat_by_function(0)
        tot = sum(f.values()) or 1
        return {strip_params(k): 100.0 * v / tot for k, v in f.items()}
    a, b = flat(fp), flat(dw)
    top_a = {k for k, v in a.items() if v >= 5.0}
    top_b = {k for k, v in b.items() if v >= 5.0}
    if top_a != top_b or not {"hot_a", "hot_b", "cmp_items"} <= top_a:
        p.append(f"functions above 5%: frame pointers {sorted(top_a)}, DWARF {sorted(top_b)}")
    for k in sorted(top_a | top_b):
        if abs(a.get(k, 0) - b.get(k, 0)) > FP_TOLERANCE:
            p.append(f"{k}: frame pointers {a.get(k, 0):.1f}%, DWARF {b.get(k, 0):.1f}%")
    c.result("fp: frame pointers (-g) and DWARF on one run give the same top functions", p,
             "fp/dwarf flat %: " + ", ".join(f"{k} {a.get(k, 0):.1f}/{b.get(k, 0):.1f}"
                                             for k in sorted(top_a)))


def hot_a_complete(raw):
    """Problems unless every hot_a sample has driver <- main above it and no sample is
    truncated; and the hot_a count."""
    p, hot, full_path = [], 0, 0
    for s in raw.samples:
        names = [strip_params(f[0]) for f in raw.frames(s)]
        if names[:1] == ["hot_a"]:
            hot += s.values[0]
            full_path += s.values[0] if names[1:3] == ["driver", "main"] else 0
    if not hot or full_path != hot:
        p.append(f"{full_path} of {hot} hot_a samples have driver <- main above")
    if truncated_count(raw):
        p.append(f"{truncated_count(raw)} samples truncated")
    return p, hot


def check_pipe(c, tmp, wl):
    out = os.path.join(tmp, "pipe.pprof")
    r = T.run_piped([T.perf_bin(), "record"] + DWARF + ["-o", "-", "--", wl, "1"],
                    [T.perf2pprof(), "-", "-o", out], 300)
    p = r.problems() or ([] if r.rc == 0 else [f"exit {r.rc}: {r.err_head()}"])
    raw = None
    if not p:
        raw, err = P.load_raw(out)
        p = [] if raw is not None else [err]
    if raw is not None:
        p += hot_a_complete(raw)[0]
    c.result("pipe: perf record -o - | perf2pprof - unwinds", p)


def check_container(c, tmp, wl):
    """DWARF unwinding of a process in another mount namespace."""
    name = "container: DWARF unwinding reads the binary through /proc/PID/root"
    why, p, raw, raw2, _ = container_profiles(tmp, wl, "dwarf", DWARF)
    if why:
        c.skip(name, why)
        return
    detail = ""
    if raw is not None:
        q, hot = hot_a_complete(raw)
        p += q
        detail = f"{hot} hot_a samples, all under driver <- main"
    if raw2 is not None and not truncated_count(raw2):
        p.append("no stack truncated once the process exited: the CFI came from "
                 "somewhere other than /proc/PID/root")
    c.result(name, p, detail)


def pprofstore(c, check):
    """The pprofstore binary (PPROFSTORE), or None with check skipped."""
    ps = os.environ.get("PPROFSTORE") or os.path.join(T.REPO, "build", "cmd", "pprofstore")
    if os.access(ps, os.X_OK):
        return ps
    c.skip(check, f"pprofstore not found ({ps}; set PPROFSTORE)")
    return None


def check_ingest(c, tmp, data, full):
    ps = pprofstore(c, "ingest")
    if not ps:
        return
    import test_store as S  # noqa: E402  (only with a pprofstore to run)
    db = os.path.join(tmp, "store.db")
    out = os.path.join(tmp, "store.pprof")
    p = []
    for args in (["ingest", data], ["query", "--type", "cpu", "-o", out]):
        r = T.run([ps, "--db", db] + args, 300)
        p += r.problems() or ([] if r.rc == 0 else [f"{args[0]}: exit {r.rc}: {r.err_head()}"])
    if not p:
        got, err = P.load_raw(out)
        p = S.compare(full, got) if got is not None else [err]
    c.result("ingest: pprofstore ingest + query = perf2pprof", p)


def stack_counts(raw):
    """Counter of (frames, truncated) weighted by samples: equal for two profiles of the
    same samples however they merged them."""
    c = collections.Counter()
    for s in raw.samples:
        c[(tuple(f[0] for f in raw.frames(s)),
           s.labels.get("unwind") == ["truncated"])] += s.values[0]
    return c


def check_live(c, tmp, wl):
    """pprofstore record --call-graph dwarf[,SIZE]: the live profile is perf2pprof's of the
    stream the recorder wrote (-o), whose user frames are perf script's on that stream
    (perf unwinds it itself); main -> driver -> hot_a; flat% within 2 points of perf
    report on the stream; with dwarf,1024 the stacks cut short are those test_unwind dump
    says, labelled."""
    ps = pprofstore(c, "live")
    if not ps:
        return
    import storetest as S  # noqa: E402  (only with a pprofstore to run)
    for mode in ("dwarf", "dwarf,1024"):
        name = "live" if mode == "dwarf" else "live-short"
        db, stream = os.path.join(tmp, name + ".db"), os.path.join(tmp, name + ".data")
        out, conv = os.path.join(tmp, name + ".pprof"), os.path.join(tmp, name + ".file.pprof")
        p = []
        for args in (["record", "-q", "-F", "999", "--types", "cpu", "--call-graph", mode,
                      "-o", stream, "--", wl, "1"],
                     ["query", "--type", "cpu", "--from", "0", "-o", out]):
            r = T.run([ps, "--db", db] + args, 300)
            p += r.problems() or ([] if r.rc == 0 else
                                  [f"{args[0]}: exit {r.rc}: {r.err_head()}"])
        live = file = None
        if not p:
            live, err = P.load_raw(out)
            file, p = convert_load(["--type", "cpu", stream, "-o", conv], conv)
            p = p if live is not None else [err]
        if live is None or file is None:
            c.result(f"live: record --call-graph {mode}, query", p)
            continue
        p = S.compare(file, live, samples=False)
        if stack_counts(file) != stack_counts(live):
            p.append("stacks (frames, truncated) differ from perf2pprof's of the -o stream")
        ours = unwind_dump(stream)
        cls, ex = compare_frames(ours, perf_user_frames(stream))
        n = sum(cls.values())
        dumped = sum(1 for t, _ in ours.values() if t)
        tr = truncated_count(live)
        if n != live.total(0):
            p.append(f"test_unwind dump unwound {n} samples, the live profile has "
                     f"{live.total(0)}")
        if cls["diverging"] or cls["missing in perf script"] or (
                mode == "dwarf" and (cls["ours shorter"] or
                                     n - cls["equal"] > MAX_DIFFERING * n)):
            p.append(f"against perf script: {dict(cls)}; e.g. "
                     + "; ".join(f"{k}: {v}" for k, v in ex.items() if k != "equal"))
        if tr != dumped or (mode == "dwarf") != (tr <= MAX_DIFFERING * n) or \
                (mode != "dwarf" and not tr):
            p.append(f"{tr} samples labelled truncated, test_unwind dump has {dumped} of {n}")
        detail = f"{dict(cls)}; {tr} of {n} truncated"
        if mode == "dwarf":
            r = P.pprof(["-traces"], out)
            traces = parse_traces(r.out_text)
            if not any(t[i:i + 3] == ["hot_a", "driver", "main"]
                       for t in traces for i in range(len(t))):
                p.append(f"no trace hot_a <- driver <- main (pprof exit {r.rc})")
            top, _, _ = P.top(out, "samples")
            perf = perf_report_pct(stream, False)
            for fn in ("hot_a", "hot_b", "cmp_items"):
                o, e = top.get(fn, (0.0, 0.0))[0], perf.get(fn, 0.0)
                if abs(o - e) > PCT_TOLERANCE or e < 5:
                    p.append(f"{fn} flat: perf report {e:.2f}%, live {o:.2f}%")
                detail += f", {fn} flat {e:.1f}/{o:.1f}"
        c.result(f"live: record --call-graph {mode} = perf2pprof of its stream, whose frames "
                 "are perf script's", p[:4], detail)


def scramble(src, dst, seed=1):
    """A copy of a file-mode perf.data whose samples' stack bytes, stack pointers, pcs and
    stack copy sizes are scrambled (records keep their layout). Returns samples changed."""
    with open(src, "rb") as f:
        buf = bytearray(f.read())
    if buf[:8] != b"PERFILE2":
        raise RuntimeError(f"{src}: not a file-mode perf.data")
    attr_size, attrs_off = struct.unpack_from("<QQ", buf, 16)
    data_off, data_size = struct.unpack_from("<QQ", buf, 40)
    st, = struct.unpack_from("<Q", buf, attrs_off + 24)
    regs_mask, = struct.unpack_from("<Q", buf, attrs_off + 80)
    # READ, RAW and BRANCH_STACK come between the callchain and the registers.
    if st & (0x10 | 0x400 | 0x800) or not st & 0x20 or not st & 0x1000 or not st & 0x2000:
        raise RuntimeError(f"{src}: sample_type {st:#x} not handled by the scrambler")
    rnd = random.Random(seed)
    sp_idx = bin(regs_mask & ((1 << 7) - 1)).count("1")
    ip_idx = bin(regs_mask & ((1 << 8) - 1)).count("1")
    changed, pos, end = 0, data_off, data_off + data_size
    while pos + 8 <= end:
        typ, misc, size = struct.unpack_from("<IHH", buf, pos)
        if size < 8:
            break
        if typ == 9:
            q = pos + 8
            # IDENTIFIER IP TID TIME ADDR ID STREAM_ID CPU PERIOD, then the callchain
            for bit in (0x10000, 0x1, 0x2, 0x4, 0x8, 0x40, 0x200, 0x80, 0x100):
                q += 8 if st & bit else 0
            nr, = struct.unpack_from("<Q", buf, q)
            q += 8 + 8 * nr
            abi, = struct.unpack_from("<Q", buf, q)
            regs = q + 8
            q = regs + (8 * bin(regs_mask).count("1") if abi else 0)
            ssize, = struct.unpack_from("<Q", buf, q)
            stack = q + 8
            what = rnd.randrange(4)
            if abi and ssize and stack + ssize + 8 <= pos + size:
                if what == 0:
                    for _ in range(16):
                        buf[stack + rnd.randrange(ssize)] = rnd.randrange(256)
                elif what == 1:
                    struct.pack_into("<Q", buf, regs + 8 * sp_idx, rnd.getrandbits(64))
                elif what == 2:
                    struct.pack_into("<Q", buf, regs + 8 * ip_idx, rnd.getrandbits(48))
                else:
                    struct.pack_into("<Q", buf, stack + ssize, rnd.randrange(ssize + 1))
                changed += 1
        pos += size
    with open(dst, "wb") as f:
        f.write(buf)
    return changed


def check_damaged(c, tmp, data):
    bad = os.path.join(tmp, "damaged.data")
    try:
        n = scramble(data, bad)
    except (RuntimeError, struct.error) as e:
        c.result("damaged: scrambling the recording", [str(e)])
        return
    out = os.path.join(tmp, "damaged.pprof")
    r, p = convert([bad, "-o", out])
    if not p:
        raw, err = P.load_raw(out)
        p = [] if raw is not None else [err]
    c.result("damaged: scrambled stacks and registers convert without a crash", p,
             f"{n} samples scrambled")


def main():
    T.perf2pprof()
    if not T.perf_bin():
        print("SKIP: perf is not installed")
        return T.SKIP
    if not P.pprof_bin() or not os.access(P.pprof_bin(), os.X_OK):
        print(f"FATAL: pprof not found ({P.pprof_bin()}); set PPROF")
        return 1
    wl, wl_fp, tu = workload("dwarf"), workload("dwarf_fp"), test_unwind()
    if not wl or not wl_fp or not tu:
        print(f"FATAL: pps_wl_dwarf, pps_wl_dwarf_fp or test_unwind not built "
              f"({wl}, {wl_fp}, {tu}): set PPS_WL_DWARF, PPS_WL_DWARF_FP, PPS_TEST_UNWIND")
        return 1
    tmp = tempfile.mkdtemp(prefix="pps-dwarf-")
    keep = bool(os.environ.get("PPS_KEEP"))
    c = Checker()
    try:
        ok, msg = record(os.path.join(tmp, "probe.data"), ["-e", "cpu-clock"], ["true"])
        if not ok:
            print(f"SKIP: perf record does not work here: {msg}")
            return T.SKIP
        data = os.path.join(tmp, "dwarf.data")
        ok, msg = record(data, DWARF, [wl, SECONDS])
        if not ok:
            c.result("perf record --call-graph dwarf", [msg])
        else:
            try:
                full = check_full(c, tmp, data)
                if full is not None:
                    check_short(c, tmp, wl)
                    check_nocfi(c, tmp, wl)
                    check_fp(c, tmp, wl_fp)
                    check_ingest(c, tmp, data, full)
                check_pipe(c, tmp, wl)
                check_container(c, tmp, wl)
                check_live(c, tmp, wl)
                check_block(c, tmp)
                check_damaged(c, tmp, data)
            except (RuntimeError, subprocess.SubprocessError) as e:
                c.result("oracle", [str(e)])
    finally:
        if keep or c.nfail:
            print(f"recordings kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    T.summary(c.npass, c.nfail, c.nskip)
    return 0 if c.nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
