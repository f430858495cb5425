#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""perf2pprof conversion against oracles, on workloads recorded at test time.

Workloads (tests/workloads, built by CMake; paths from PPS_WL_SPLIT, PPS_WL_INLINED,
PPS_WL_KERNELHEAVY, PPS_WL_DEMANGLE, PPS_WL_PLT, PPS_WL_FAULT, else
<repo>/build/tests/workloads/pps_wl_*), each recorded with
`perf record -e cpu-clock -F 999 -g` for about 1 s, then converted with perf2pprof and read
back with the real Go pprof (-raw, -top, -traces, always -symbolize=none so pprof shows
what our file holds).

Oracles: `perf report --stats` (sample counts), `perf script` (per-sample comm/pid/tid/cpu,
time, period and call chains), `perf report --no-children --sort dso,sym` (flat shares),
binutils `addr2line -f -i` (source lines and inlined frames) and the workload sources
(marker comments give the expected lines).

Checks:
  split        profile shape (sample/period types); totals = perf's SAMPLE count and period
               sum; flat% of each function within 1 point of perf report; hot_a share in
               [0.65, 0.85]; samples whose stack starts hot_a/driver/main (and hot_b/...)
               counted exactly as perf script counts them; pprof -traces shows
               hot_a <- driver <- main; pid/tid/comm labels per sample = perf script's;
               -o - equals -o FILE; cat FILE | perf2pprof - equals FILE (Time aside);
               -t cpu and -e cpu-clock equal the default; --no-symbolize keeps totals and
               names no function; --from/--to keep exactly perf script's samples in the
               window; the file cut at 60% exits 3 with exactly the samples whose records
               are complete (perf report -D offsets); --symfs DIR reads the binary from DIR
               (a copy with hot_a renamed); -q prints nothing on a clean run
  pipe         perf record -o - | perf2pprof - : totals = perf's on the same stream
  multi        two processes (--sample-cpu; the second runs through a symlink, so its comm
               differs): --labels pid,cpu gives perf script's per-pid/cpu counts and no
               tid/comm; --pid, --tid, --comm filters = perf script filtered (a filter
               matching nothing: exit 0 with an empty profile, or exit 1 saying so);
               --group-by pid -o DIR: one cpu.<pid>.pprof per process with its count
  all          cpu-clock + syscalls:sys_enter_write: --all -o DIR writes cpu.pprof and one
               profile for the tracepoint, each with perf's count; -t EVENTNAME gives
               samples/count and <event>/count with perf's count and period sum
  inlined      every sample's frames in the workload binary = addr2line -f -i of the leaf
               pc and of return address - 1 for callers (exact, as a multiset); the inlined
               function is its own frame at the INLINE-BODY line; --no-inline drops it
  kernelheavy  kernel functions named (not hex), flat% within 1 point of perf per kernel
               function >= 1%; --kallsyms /proc/kallsyms copy gives the same profile, and
               a copy with the *write* names renamed gives the renamed names
  demangle     pps_work::Cruncher::crunch and pps_work::spin<unsigned long> named, flat%
               within 1 point of perf
  plt          a loop calling a shared library's tiny function through the PLT: samples in
               the stub are named tiny_inc@plt (perf's name), flat% within 1 point
  fault        page faults at a function's first instruction (madvise drops the page): for
               samples in the kernel, the first user frame's function = perf's (the pc
               where the thread entered the kernel is looked up as is, not pc - 1)
  comm         perf record -a: samples per comm label = perf report --sort comm -n, for
               every name (the idle task is swapper, as perf names it)
  container    the split workload run from a path that exists only in its own mount
               namespace (unshare -m, a tmpfs), recorded with -p and -N while it runs: while
               it still runs, its binary is read through /proc/PID/root as perf does
               (hot_a and hot_b named, flat% within 1 point of perf report); once it has
               exited, not (an empty build-id cache keeps copies out); skipped without
               unshare or mount rights
  info         --info --json: a recording's perf command line with UTF-8 and a stray byte
               in its arguments comes back as perf wrote it
  cli          bad arguments exit 2; a missing or non-perf file exits 1 naming the file
Exit 77 (skip) when perf record is refused. PPS_KEEP=1 keeps the temporary directory.
"""

import collections
import json
import os
import re
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppstest as T  # noqa: E402
import pprofraw as P  # noqa: E402

BASE = ["-e", "cpu-clock", "-F", "999", "-g"]
FLAT_TOLERANCE = 1.0  # percentage points
HEX = re.compile(r"^(0x)?[0-9a-f]{6,}$")
KERNEL_MIN = 0xffff800000000000  # x86_64 kernel addresses


# ---------------------------------------------------------------- plumbing

class Checker:
    def __init__(self):
        self.npass = self.nfail = self.nskip = 0

    def result(self, name, problems, detail=""):
        if problems:
            self.nfail += 1
            print(f"FAIL {name}: " + "; ".join(str(p) for p in problems), flush=True)
        else:
            self.npass += 1
            print(f"PASS {name}" + (f": {detail}" if detail else ""), flush=True)

    def skip(self, name, why):
        self.nskip += 1
        print(f"SKIP {name}: {why}", flush=True)


def workload(name):
    p = os.environ.get(f"PPS_WL_{name.upper()}") or os.path.join(
        T.REPO, "build", "tests", "workloads", f"pps_wl_{name}")
    return p if os.access(p, os.X_OK) else None


def record(out, args, cmd, timeout=120):
    """perf record BASE-like ARGS -o OUT -- CMD. Returns (ok, message)."""
    argv = [T.perf_bin(), "record"] + args + ["-o", out, "--"] + cmd
    r = T.run(argv, timeout)
    if r.timed_out or r.rc != 0 or not os.path.exists(out) or os.path.getsize(out) == 0:
        return False, f"{' '.join(argv)}: exit {r.rc}: {r.err_head()}"
    return True, ""


def convert(args, timeout=300):
    r = T.run([T.perf2pprof()] + args, timeout)
    p = r.problems()
    if not p and r.rc != 0:
        p.append(f"perf2pprof {' '.join(args)}: exit {r.rc}: {r.err_head()}")
    return r, p


def convert_load(args, out):
    """Convert (args must contain -o out) and load with pprof -raw: (Raw or None, problems)."""
    r, p = convert(args)
    if p:
        return None, p
    if not os.path.exists(out) or os.path.getsize(out) == 0:
        return None, [f"perf2pprof {' '.join(args)}: exit 0 but {out} missing or empty"]
    raw, err = P.load_raw(out)
    if raw is None:
        return None, [f"pprof cannot read {os.path.basename(out)}: {err}"]
    return raw, []


# ---------------------------------------------------------------- perf oracles

class PSample:
    __slots__ = ("comm", "pid", "tid", "cpu", "time", "period", "event", "chain")


_PS_HDR = re.compile(r"^\s*(.*?)\s+(-?\d+)/(-?\d+)\s+(?:\[(\d+)\]\s+)?(\d+\.\d+):\s+(\d+)\s+"
                     r"(\S+):(?:\s+(.*))?$")
_PS_FRAME = re.compile(r"^\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")


def perf_script(path, cpu=False):
    """Every sample as a PSample (chain: [(addr, sym, dso)], leaf first)."""
    fields = "comm,pid,tid,time,period,event,ip,sym,dso" + (",cpu" if cpu else "")
    r = T.run([T.perf_bin(), "script", "-F", fields, "--ns", "-f", "-i", path], 300)
    if r.rc != 0 or r.timed_out:
        raise RuntimeError(f"perf script -i {path}: exit {r.rc}: {r.err_head()}")
    out = []
    cur = None
    for line in r.out_text.splitlines():
        if not line.strip():
            continue
        m = _PS_HDR.match(line)
        if m and not line.startswith("\t"):
            cur = PSample()
            cur.comm, cur.pid, cur.tid = m.group(1), int(m.group(2)), int(m.group(3))
            cur.cpu = int(m.group(4)) if m.group(4) is not None else None
            sec, _, frac = m.group(5).partition(".")
            cur.time = int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])
            cur.period, cur.event = int(m.group(6)), m.group(7)
            cur.chain = []
            rest = (m.group(8) or "").strip()
            if rest:
                f = _PS_FRAME.match(rest)
                if f:
                    cur.chain.append((int(f.group(1), 16), f.group(2), f.group(3)))
            out.append(cur)
            continue
        f = _PS_FRAME.match(line)
        if f and cur is not None:
            cur.chain.append((int(f.group(1), 16), f.group(2), f.group(3)))
            continue
        raise RuntimeError(f"unparsed perf script line: {line!r}")
    return out


def sym_name(s):
    """perf script's sym without +0xOFF."""
    return re.sub(r"\+0x[0-9a-f]+$", "", s)


_REPORT_ROW = re.compile(r"^\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*?)\s*$")


def perf_report_flat(path, extra=()):
    """[(pct, dso, kind, sym)] from perf report --no-children --sort dso,sym."""
    r = T.run([T.perf_bin(), "report", "--no-children", "--sort", "dso,sym", "--stdio",
               "-g", "none", "-f", "-i", path] + list(extra), 300)
    if r.rc != 0:
        raise RuntimeError(f"perf report -i {path}: exit {r.rc}: {r.err_head()}")
    rows = []
    for line in r.out_text.splitlines():
        if line.startswith("#"):
            continue
        m = _REPORT_ROW.match(line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3), m.group(4)))
    if not rows:
        raise RuntimeError(f"perf report -i {path}: no rows parsed: {r.out_text[:300]!r}")
    return rows


def perf_samples(path):
    ps, why, _ = T.perf_stats(path)
    if ps is None:
        raise RuntimeError(f"perf report --stats cannot read {path}: {why}")
    return {name: st.get("SAMPLE", 0) for name, st in ps.events}


def strip_params(name):
    """'ns::f<int>(long) const' -> 'ns::f<int>' (perf prints names without parameters)."""
    depth = 0
    for i, ch in enumerate(name):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0 and i > 0 and not name[:i].endswith("operator"):
            return name[:i]
    return name


def cxx_base(name):
    """'unsigned long ns::f<int>(long)' -> 'ns::f<int>': no parameters and no return type
    (a template function's demangled name starts with its return type)."""
    name = strip_params(name)
    if "operator" in name:
        return name
    depth, cut = 0, 0
    for i, ch in enumerate(name):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == " " and depth == 0:
            cut = i + 1
    return name[cut:]


# ---------------------------------------------------------------- comparisons

def compare_flat(raw, rows, index, want, want_ours=lambda name: True,
                 tolerance=FLAT_TOLERANCE, min_pct=1.0):
    """Flat% per function: perf's rows (filtered by want(dso, kind, sym)) with >= min_pct
    must be in our profile within tolerance, and our functions (filtered by want_ours)
    with >= min_pct + tolerance must be in perf's. Returns (problems, detail)."""
    flat = raw.flat_by_function(index)
    total = sum(flat.values()) or 1
    ours = collections.defaultdict(float)
    for name, v in flat.items():
        ours[cxx_base(name)] += 100.0 * v / total
    perf = collections.defaultdict(float)
    for pct, dso, kind, sym in rows:
        perf[sym] += pct
    problems, shown = [], []
    for pct, dso, kind, sym in rows:
        if pct < min_pct or not want(dso, kind, sym):
            continue
        o = ours.get(sym)
        if o is None:
            problems.append(f"{sym} ({dso}) {perf[sym]:.2f}% in perf, absent from ours")
        elif abs(o - perf[sym]) > tolerance:
            problems.append(f"{sym}: perf {perf[sym]:.2f}%, ours {o:.2f}%")
        shown.append(f"{sym} {perf[sym]:.2f}/{0 if o is None else o:.2f}")
    perf_names = set(perf)
    for name, o in sorted(ours.items(), key=lambda kv: -kv[1]):
        if o >= min_pct + tolerance and name not in perf_names and want_ours(name):
            problems.append(f"ours has {name} {o:.2f}% that perf report does not show")
    return problems, "perf/ours %: " + ", ".join(shown[:8])


def labels_counter(raw, keys=("pid", "tid", "comm")):
    """Our samples counted by label values. pprof drops a numeric label whose value is 0
    (proto3 cannot tell 0 from absent, and pprof's decoder skips num == 0 without a unit),
    so a missing pid/tid/cpu counts as 0 here."""
    c = collections.Counter()
    for s in raw.samples:
        k = []
        for key in keys:
            if key in ("pid", "tid", "cpu"):
                k.append(tuple(s.num.get(key, [0])))
            else:
                k.append(tuple(s.labels.get(key, [])))
        c[tuple(k)] += s.values[0]
    return c


def perf_labels_counter(samples, keys=("pid", "tid", "comm")):
    c = collections.Counter()
    for s in samples:
        c[tuple((getattr(s, k),) for k in keys)] += 1
    return c


def counter_diff(a, b, n=5):
    out = []
    for k in sorted(set(a) | set(b), key=str):
        if a.get(k, 0) != b.get(k, 0):
            out.append(f"{k}: ours {a.get(k, 0)} perf {b.get(k, 0)}")
    return out[:n] + ([f"... {len(out) - n} more"] if len(out) > n else [])


def stack_prefix_count(raw, prefix):
    n = 0
    for s in raw.samples:
        names = [strip_params(f[0]) for f in raw.frames(s)]
        if names[: len(prefix)] == list(prefix):
            n += s.values[0]
    return n


def perf_prefix_count(samples, prefix):
    n = 0
    for s in samples:
        names = [sym_name(f[1]) for f in s.chain]
        if names[: len(prefix)] == list(prefix):
            n += 1
    return n


def parse_traces(text):
    """pprof -traces: one list of function names per trace, leaf first. Each block is
    "%10s:  %s" label lines, then "%10s   %s" frame lines (value only on the first)."""
    out = []
    for blk in re.split(r"^-+\+-+$", text, flags=re.M):
        names = []
        for line in blk.splitlines():
            if len(line) > 13 and line[10:13] == "   ":
                names.append(line[13:].strip().replace(" (inline)", ""))
        if names:
            out.append(names)
    return out


def shape_problems(raw, event="cpu-clock"):
    p = []
    if event in ("cpu-clock", "task-clock"):
        want = [("samples", "count"), ("cpu", "nanoseconds")]
        if raw.period_type != ("cpu", "nanoseconds"):
            p.append(f"period type {raw.period_type}, want ('cpu', 'nanoseconds')")
    else:
        want = [("samples", "count"), (event, "count")]
    if raw.sample_types != want:
        p.append(f"sample types {raw.sample_types}, want {want}")
    return p


def raw_text(path):
    r = P.pprof(["-raw"], path)
    return r.out_text if r.rc == 0 else None


# ---------------------------------------------------------------- the checks

def check_split(c, tmp, data, samples, wl):
    out = os.path.join(tmp, "split.pprof")
    raw, p = convert_load([data, "-o", out], out)
    c.result("split: converts and pprof -raw reads it", p,
             f"{len(raw.samples)} samples rows, {len(raw.locations)} locations" if raw else "")
    if raw is None:
        return
    c.result("split: sample types samples/count cpu/nanoseconds, period type cpu/nanoseconds",
             shape_problems(raw), f"{raw.sample_types}, period {raw.period}")

    counts = perf_samples(data)
    nperf = counts.get("cpu-clock")
    tot = raw.total(0)
    psum = sum(s.period for s in samples)
    p = []
    if tot != nperf:
        p.append(f"samples/count total {tot} != perf report --stats SAMPLE {nperf}")
    if tot != len(samples):
        p.append(f"samples/count total {tot} != perf script samples {len(samples)}")
    if len(raw.sample_types) > 1 and raw.total(1) != psum:
        p.append(f"cpu/nanoseconds total {raw.total(1)} != perf script period sum {psum}")
    c.result("split: totals = perf's", p, f"{tot} samples, {psum} ns")

    rows = perf_report_flat(data)
    binname = os.path.basename(wl)
    p, detail = compare_flat(raw, rows, 1, lambda dso, kind, sym: True)
    c.result("split: flat% per function within 1 point of perf report (cpu/nanoseconds)",
             p, detail)
    p2, _ = compare_flat(raw, rows, 0, lambda dso, kind, sym: True)
    c.result("split: flat% per function within 1 point of perf report (samples/count)", p2)

    rows_top, total_line, r = P.top(os.path.join(tmp, "split.pprof"), "samples")
    a = rows_top.get("hot_a", (None,))[0]
    b = rows_top.get("hot_b", (None,))[0]
    p = []
    if r.rc != 0:
        p.append(f"pprof -top exit {r.rc}: {r.err_head()}")
    if a is None or not 65.0 <= a <= 85.0:
        p.append(f"hot_a flat% {a} not in [65, 85]")
    if b is None or not 15.0 <= b <= 35.0:
        p.append(f"hot_b flat% {b} not in [15, 35]")
    perf_a = sum(pct for pct, dso, _, s in rows if s == "hot_a" and dso == binname)
    if a is not None and abs(a - perf_a) > FLAT_TOLERANCE:
        p.append(f"pprof -top hot_a {a}% vs perf report {perf_a}%")
    c.result("split: pprof -top: hot_a in [65%, 85%], hot_b in [15%, 35%]", p,
             f"hot_a {a}%, hot_b {b}% (perf hot_a {perf_a}%)")

    p = []
    for prefix in (("hot_a", "driver", "main"), ("hot_b", "driver", "main"),
                   ("driver", "main")):
        o, e = stack_prefix_count(raw, prefix), perf_prefix_count(samples, prefix)
        if o != e:
            p.append(f"stacks starting {'<-'.join(prefix)}: ours {o}, perf script {e}")
    e_a = perf_prefix_count(samples, ("hot_a", "driver", "main"))
    if e_a < 0.6 * len(samples):
        p.append(f"only {e_a} of {len(samples)} perf samples in hot_a<-driver<-main "
                 "(workload or unwinding broken)")
    c.result("split: stacks hot_a<-driver<-main and hot_b<-driver<-main counted as perf",
             p, f"hot_a<-driver<-main {e_a} samples")

    r = P.pprof(["-traces"], out)
    found = any(names[i:i + 3] == ["hot_a", "driver", "main"]
                for names in parse_traces(r.out_text) for i in range(len(names)))
    c.result("split: pprof -traces shows main -> driver -> hot_a",
             [] if found and r.rc == 0 else [f"no trace hot_a/driver/main (pprof exit {r.rc})"])

    # Labels: pid, tid, comm for every sample, as perf script has them.
    p = []
    for s in raw.samples:
        if not set(s.num) <= {"pid", "tid"} or set(s.labels) != {"comm"}:
            p.append(f"sample labels num {sorted(s.num)} str {sorted(s.labels)}, want "
                     "num [pid, tid] str [comm]")
            break
    p += counter_diff(labels_counter(raw), perf_labels_counter(samples))
    c.result("split: pid/tid/comm labels per sample = perf script", p,
             f"{dict(perf_labels_counter(samples))}")

    # Same output on stdout; same from a non-seekable stdin.
    base = raw_text(out)
    r = T.run([T.perf2pprof(), data, "-o", "-"], 300)
    p = r.problems() or ([] if r.rc == 0 else [f"exit {r.rc}: {r.err_head()}"])
    if not p:
        so = os.path.join(tmp, "split.stdout.pprof")
        with open(so, "wb") as f:
            f.write(r.out)
        t = raw_text(so)
        if t != base:
            p.append("pprof -raw of -o - output differs from -o FILE output")
    c.result("split: -o - writes the same profile to stdout", p)

    si = os.path.join(tmp, "split.stdin.pprof")
    r = T.run_piped(["cat", data], [T.perf2pprof(), "-", "-o", si], 300)
    p = r.problems() or ([] if r.rc == 0 else [f"exit {r.rc}: {r.err_head()}"])
    # The Time line differs by design: file mtime for a path, the conversion time for stdin.
    if not p:
        a, b = (re.sub(r"(?m)^Time: .*$", "Time: -", t or "") for t in (raw_text(si), base))
        if a != b or not a:
            p.append("pprof -raw of `cat FILE | perf2pprof -` differs from the FILE "
                     "conversion (Time: lines aside)")
    c.result("split: cat FILE | perf2pprof - -o X gives the same profile", p)

    for args, label in ((["-t", "cpu"], "-t cpu"), (["--type", "cpu"], "--type cpu"),
                        (["-e", "cpu-clock"], "-e cpu-clock"),
                        (["--event", "cpu-clock"], "--event cpu-clock")):
        o2 = os.path.join(tmp, "split.t.pprof")
        r, p = convert(args + [data, "-o", o2])
        if not p and raw_text(o2) != base:
            p.append(f"pprof -raw with {label} differs from the default conversion")
        c.result(f"split: {label} = default", p)

    # --no-symbolize: same totals, no function names from the binary.
    o3 = os.path.join(tmp, "split.nosym.pprof")
    raw3, p = convert_load(["--no-symbolize", data, "-o", o3], o3)
    if raw3 is not None:
        if raw3.total(0) != tot:
            p.append(f"total {raw3.total(0)} != symbolized {tot}")
        names = {ln[0] for loc in raw3.locations.values() for ln in loc.lines}
        if names & {"hot_a", "hot_b", "driver", "main"}:
            p.append(f"function names present: {sorted(names)[:5]}")
        if not raw3.mappings:
            p.append("no mappings (addresses cannot be symbolized later)")
        if not any(m["file"].endswith(binname) for m in raw3.mappings.values()):
            p.append(f"no mapping for {binname}: {[m['file'] for m in raw3.mappings.values()]}")
    c.result("split: --no-symbolize keeps totals and mappings, names no function", p)

    check_truncated(c, tmp, data)
    check_symfs(c, tmp, data, wl, tot)

    r = T.run([T.perf2pprof(), "-q", data, "-o", os.path.join(tmp, "split.q.pprof")], 300)
    p = r.problems() or ([] if r.rc == 0 else [f"exit {r.rc}"])
    if not p and r.err_text.strip():
        p.append(f"stderr not empty: {r.err_head(200)}")
    c.result("split: -q prints nothing on a clean conversion", p)

    # --from/--to: exactly the samples with first + from <= t < first + to.
    t0 = min(s.time for s in samples)
    for frm, to, a_ns, b_ns in (("200ms", "600ms", 200_000_000, 600_000_000),
                                ("0.5s", None, 500_000_000, None),
                                (None, "300ms", None, 300_000_000)):
        args, label = [], []
        if frm:
            args += ["--from", frm]
            label.append(f"--from {frm}")
        if to:
            args += ["--to", to]
            label.append(f"--to {to}")
        want = sum(1 for s in samples
                   if (a_ns is None or s.time >= t0 + a_ns) and (b_ns is None or s.time < t0 + b_ns))
        edge = sum(1 for s in samples if s.time in
                   {t0 + x for x in (a_ns, b_ns) if x is not None})
        o4 = os.path.join(tmp, "split.window.pprof")
        raw4, p = convert_load(args + [data, "-o", o4], o4)
        if raw4 is not None and raw4.total(0) != want:
            p.append(f"{raw4.total(0)} samples, perf script has {want} in the window"
                     + (f" ({edge} exactly on a bound)" if edge else ""))
        c.result(f"split: {' '.join(label)} keeps perf script's window", p,
                 f"{want} of {len(samples)} samples")


_DUMP_SAMPLE = re.compile(r"^\d+ (0x[0-9a-f]+) \[(0x[0-9a-f]+)\]: PERF_RECORD_SAMPLE")


def check_truncated(c, tmp, data):
    """The recording cut at 60%: exit 3, a profile of exactly the samples whose records are
    complete before the cut (perf report -D on the whole file gives each record's offset
    and size), and a message about the truncation."""
    size = os.path.getsize(data)
    cut = size * 6 // 10
    tr = os.path.join(tmp, "split.truncated.data")
    with open(data, "rb") as fi, open(tr, "wb") as fo:
        fo.write(fi.read(cut))
    r = T.run([T.perf_bin(), "report", "-D", "-f", "-i", data], 300)
    want = 0
    for line in r.out_text.splitlines():
        m = _DUMP_SAMPLE.match(line)
        if m and int(m.group(1), 16) + int(m.group(2), 16) <= cut:
            want += 1
    out = os.path.join(tmp, "split.truncated.pprof")
    r = T.run([T.perf2pprof(), tr, "-o", out], 300)
    p = r.problems()
    if not p:
        if r.rc != 3:
            p.append(f"exit {r.rc}, want 3: {r.err_head()}")
        if "truncat" not in r.err_text:
            p.append(f"stderr does not mention the truncation: {r.err_head()}")
        raw, err = P.load_raw(out) if os.path.exists(out) else (None, "no output written")
        if raw is None:
            p.append(err)
        elif raw.total(0) != want:
            p.append(f"{raw.total(0)} samples, {want} SAMPLE records end before the cut "
                     "(perf report -D)")
    if want == 0:
        p.append("oracle: no SAMPLE record before the cut in perf report -D")
    c.result(f"split: cut at {cut} of {size} bytes: exit 3 with the {want} complete samples",
             p)


def start_in_container(tmp, wl, args, tag):
    """Runs wl ARGS from a tmpfs that only its own mount namespace sees (unshare -m), so
    its binary's path exists nowhere else: (process, "") once it has exec'd, or (None,
    why) when unshare or mount is refused."""
    import subprocess
    import time
    if not shutil.which("unshare"):
        return None, "no unshare"
    mnt = os.path.join(tmp, f"ctr-{tag}")
    os.makedirs(mnt, exist_ok=True)
    app = os.path.join(mnt, "app")
    script = (f"mount -t tmpfs none {mnt} && cp {os.path.realpath(wl)} {app} && "
              f"echo ready && exec {app} {' '.join(args)}")
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.stdout.readline().strip() != b"ready":
        proc.kill()
        proc.wait(10)
        return None, ("unshare -m/mount not permitted: "
                      f"{proc.stderr.read().decode(errors='replace').strip()[:200]}")
    time.sleep(0.3)  # past exec
    return proc, ""


def stop_container(proc):
    proc.kill()
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()


def container_profiles(tmp, wl, tag, perf_args, while_running=None):
    """wl run by start_in_container, recorded with `perf record -N PERF_ARGS -p PID` and
    converted with an empty --buildid-dir (so perf's build-id cache cannot supply the
    binary) twice: while it still runs, then once it has been stopped. while_running(data),
    when given, is called before the stop, for oracles that need the process too.
    Returns (why skipped or "", problems, profile while running, profile after, what
    while_running returned)."""
    proc, why = start_in_container(tmp, wl, ["6"], tag)
    if not proc:
        return why, [], None, None, None
    empty = os.path.join(tmp, f"ctr-{tag}-empty-buildid-dir")
    os.makedirs(empty, exist_ok=True)
    data = os.path.join(tmp, f"ctr-{tag}.data")
    raw = extra = None
    try:
        ok, msg = record(data, ["-N"] + perf_args + ["-p", str(proc.pid)], ["sleep", "1.5"])
        if not ok:
            return "", [msg], None, None, None
        out = os.path.join(tmp, f"ctr-{tag}.pprof")
        raw, p = convert_load(["--buildid-dir", empty, data, "-o", out], out)
        if raw is not None and while_running:
            extra = while_running(data)
    finally:
        stop_container(proc)
    out2 = os.path.join(tmp, f"ctr-{tag}.after.pprof")
    raw2, q = convert_load(["--buildid-dir", empty, data, "-o", out2], out2)
    return "", p + q, raw, raw2, extra


def check_container(c, tmp, wl):
    """A process in another mount namespace: its binary through /proc/PID/root."""
    name = "container: a binary only in the process's mount namespace"
    # perf report too, while the process (its namespace) is still there.
    why, p, raw, raw2, rows = container_profiles(
        tmp, wl, "split", ["-e", "cpu-clock", "-F", "999", "-g"], perf_report_flat)
    if why:
        c.skip(name, why)
        return
    detail = ""
    if raw is not None:
        flat = raw.flat_by_function(0)
        if not flat.get("hot_a") or not flat.get("hot_b"):
            p.append(f"hot_a/hot_b not named while it runs: {sorted(flat)[:8]}")
        else:
            q, _ = compare_flat(raw, rows, 0, lambda d, k, sym: True)
            p += q
            detail = (f"hot_a {100 * flat['hot_a'] / raw.total(0):.1f}%, "
                      f"hot_b {100 * flat['hot_b'] / raw.total(0):.1f}%")
    # Gone with its namespace: nothing else may name the functions.
    if raw2 is not None and raw2.flat_by_function(0).get("hot_a"):
        p.append("hot_a named after the process exited: not read through /proc/PID/root")
    c.result(name + ": read through /proc/PID/root while it runs", p, detail)


def check_symfs(c, tmp, data, wl, tot):
    """--symfs DIR: binaries are read from DIR + their recorded path. DIR holds a copy of
    the workload without debug info and with hot_a renamed hot_a_symfs (same build-id);
    an empty --buildid-dir keeps perf's build-id cache (~/.debug) out of the way."""
    symfs = os.path.join(tmp, "symfs")
    dest = symfs + os.path.realpath(wl)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    r = T.run(["objcopy", "--strip-debug", "--redefine-sym", "hot_a=hot_a_symfs",
               os.path.realpath(wl), dest], 60)
    if r.rc != 0:
        c.skip("split: --symfs", f"objcopy failed: {r.err_head()}")
        return
    empty = os.path.join(tmp, "empty-buildid-dir")
    os.makedirs(empty, exist_ok=True)
    out = os.path.join(tmp, "split.symfs.pprof")
    raw, p = convert_load(["--symfs", symfs, "--buildid-dir", empty, data, "-o", out], out)
    if raw is not None:
        flat = raw.flat_by_function(0)
        want_a = stack_prefix_count(raw, ("hot_a_symfs", "driver", "main"))
        if "hot_a" in flat:
            p.append(f"hot_a still named ({flat['hot_a']} samples): the copy under --symfs "
                     "was not used")
        if not flat.get("hot_a_symfs"):
            p.append(f"no hot_a_symfs among {sorted(flat)[:8]}")
        elif want_a == 0:
            p.append("no hot_a_symfs<-driver<-main stack")
        if raw.total(0) != tot:
            p.append(f"total {raw.total(0)} != {tot}")
    c.result("split: --symfs DIR reads the binary from DIR", p)


def check_pipe(c, tmp, wl):
    """perf record -o - | tee pipe.data | perf2pprof - -o pipe.pprof."""
    data = os.path.join(tmp, "pipe.data")
    out = os.path.join(tmp, "pipe.pprof")
    perf = T.perf_bin()
    sh = (f"'{perf}' record {' '.join(BASE)} -o - -- '{wl}' 1 2>/dev/null "
          f"| tee '{data}' | '{T.perf2pprof()}' - -o '{out}'")
    r = T.run(["sh", "-c", sh], 300)
    p = r.problems() or ([] if r.rc == 0 else [f"exit {r.rc}: {r.err_head()}"])
    raw = None
    if not p:
        raw, err = P.load_raw(out)
        if raw is None:
            p.append(err)
    if raw is not None:
        counts = perf_samples(data)
        samples = perf_script(data)
        if raw.total(0) != counts.get("cpu-clock"):
            p.append(f"samples/count {raw.total(0)} != perf SAMPLE {counts}")
        psum = sum(s.period for s in samples)
        if len(raw.sample_types) > 1 and raw.total(1) != psum:
            p.append(f"cpu/nanoseconds {raw.total(1)} != perf period sum {psum}")
        o = stack_prefix_count(raw, ("hot_a", "driver", "main"))
        e = perf_prefix_count(samples, ("hot_a", "driver", "main"))
        if o != e:
            p.append(f"hot_a<-driver<-main ours {o}, perf {e}")
        p += shape_problems(raw)
        detail = f"{raw.total(0)} samples, hot_a<-driver<-main {e}"
    else:
        detail = ""
    c.result("pipe: perf record -o - | perf2pprof - : totals and stacks = perf's", p, detail)


def lookup_addr(chain, i):
    """The address the converter looks frame i of a perf script chain up at: as it is for
    the first frame of each context (the sampled pc; the user pc where a kernel sample's
    thread entered the kernel), return address - 1 for callers."""
    a = chain[i][0]
    if i == 0 or (a < KERNEL_MIN and chain[i - 1][0] >= KERNEL_MIN):
        return a
    return a - 1


def _dso_key(name):
    """A binary's name as both sides print it: basename, without ' (deleted)'."""
    return os.path.basename(name.split(" ")[0]) if name else "?"


def compare_stack_addresses(raw, samples):
    """Our stacks against perf script's, frame by frame, by address: kernel frames by
    address, user frames as (binary basename, file-relative address). Our non-leaf
    addresses are return address - 1 (pprof looks them up as they are), so perf's are
    compared as lookup_addr() gives them; frames at address 0 (the end of a frame-pointer chain, which perf
    prints as [unknown]) are not compared. Samples whose stack holds an execve call are
    left out: their user frames belong to the image being replaced, which perf still
    maps and a converter may rightly consider gone."""
    want = collections.Counter()
    skipped = 0
    for s in samples:
        if any("execve" in sym for _, sym, _ in s.chain):
            skipped += 1
            continue
        k = []
        for i, (a, sym, dso) in enumerate(s.chain):
            if a == 0:
                continue
            b = lookup_addr(s.chain, i)
            k.append(b if a >= KERNEL_MIN else
                     ("?" if dso == "[unknown]" else _dso_key(dso), b))
        want[tuple(k)] += 1
    got = collections.Counter()
    for s in raw.samples:
        fr = raw.frames(s)
        if any("execve" in f[0] for f in fr):
            continue
        k = []
        for lid in s.locs:
            loc = raw.locations.get(lid)
            if loc is None:
                k.append(("<missing>", lid))
            elif loc.addr >= KERNEL_MIN:
                k.append(loc.addr)
            else:
                m = raw.mappings.get(loc.mapping)
                k.append(("?", loc.addr) if m is None else
                         (_dso_key(m["file"]), loc.addr - m["start"] + m["offset"]))
        got[tuple(k)] += s.values[0]

    def show(k):
        return "<-".join(f"{x:#x}" if isinstance(x, int) else f"{x[0]}+{x[1]:#x}"
                         for x in k[:6])
    p = []
    for k in sorted(set(want) | set(got), key=str):
        if want.get(k, 0) != got.get(k, 0):
            p.append(f"ours {got.get(k, 0)} perf {want.get(k, 0)}: {show(k)}")
    n = len(p)
    return p[:5] + ([f"... {n - 5} more"] if n > 5 else []), \
        f"{sum(want.values())} samples, {len(want)} stacks ({skipped} in execve left out)"


def check_multi(c, tmp, wl):
    data = os.path.join(tmp, "multi.data")
    # The second process runs through a symlink, so its comm differs: pps_wl_second.
    second = os.path.join(tmp, "pps_wl_second")
    if not os.path.exists(second):
        os.symlink(wl, second)
    ok, msg = record(data, BASE + ["--sample-cpu"],
                     ["sh", "-c", f"'{wl}' 0.5 & '{second}' 0.5 & wait"])
    if not ok:
        c.result("multi: record", [msg])
        return
    samples = perf_script(data, cpu=True)
    pids = collections.Counter(s.pid for s in samples)
    big = [pid for pid, n in pids.most_common() if n >= 50]

    out = os.path.join(tmp, "multi.cpu.pprof")
    raw, p = convert_load(["--labels", "pid,cpu", data, "-o", out], out)
    if raw is not None:
        for s in raw.samples:
            if not set(s.num) <= {"pid", "cpu"} or s.labels:
                p.append(f"labels num {sorted(s.num)} str {sorted(s.labels)}, "
                         "want num [cpu, pid] only")
                break
        p += counter_diff(labels_counter(raw, ("pid", "cpu")),
                          perf_labels_counter(samples, ("pid", "cpu")))
    c.result("multi: --labels pid,cpu = perf script's per pid/cpu counts", p,
             f"{dict(perf_labels_counter(samples, ('pid', 'cpu')))}")

    if raw is not None:
        p, detail = compare_stack_addresses(raw, samples)
        c.result("multi: every sample's stack, as (binary, file address) frames, = perf "
                 "script's", p, detail)

    if len(big) < 2:
        c.result("multi: two busy processes", [f"perf script per pid {dict(pids)}"])
        return
    pid, other = big[0], big[1]
    tids = collections.Counter(s.tid for s in samples)
    comms = collections.Counter(s.comm for s in samples)
    wlcomm = os.path.basename(wl)[:15]
    for args, want, label in (
            (["--pid", str(pid)], pids[pid], f"--pid {pid}"),
            (["--pid", f"{pid},{other}"], pids[pid] + pids[other], f"--pid {pid},{other}"),
            (["--tid", str(pid)], tids[pid], f"--tid {pid}"),
            (["--comm", wlcomm], comms[wlcomm], f"--comm {wlcomm}"),
            (["--comm", "pps_wl_second"], comms["pps_wl_second"], "--comm pps_wl_second"),
            (["--comm", "no-such-comm"], 0, "--comm no-such-comm")):
        o = os.path.join(tmp, "multi.filter.pprof")
        if os.path.exists(o):
            os.unlink(o)
        r, p = convert(args + [data, "-o", o])
        got = None
        if want == 0 and r.rc == 1 and not r.problems():
            # Nothing selected: exit 1 saying so is as good as an empty profile.
            p = [] if "no samples" in r.err_text else [
                f"exit 1 without saying no samples matched: {r.err_head()}"]
            got = 0
        elif not p:
            if want == 0 and (not os.path.exists(o) or os.path.getsize(o) == 0):
                got = 0
            else:
                raw, err = P.load_raw(o)
                if raw is None:
                    p.append(err)
                else:
                    got = raw.total(0)
                    if args[0] == "--pid":
                        bad = {s.num.get("pid", [None])[0] for s in raw.samples} - \
                            {int(x) for x in args[1].split(",")}
                        if bad:
                            p.append(f"samples of other pids {sorted(bad, key=str)}")
        if got is not None and got != want:
            p.append(f"{got} samples, perf script has {want}")
        c.result(f"multi: {label} = perf script filtered", p, f"{want} samples")

    d = os.path.join(tmp, "bypid")
    os.makedirs(d, exist_ok=True)
    r, p = convert(["--group-by", "pid", data, "-o", d])
    if not p:
        files = sorted(os.listdir(d))
        want_files = {f"cpu.{pid}.pprof": n for pid, n in pids.items()}
        if set(files) != set(want_files):
            p.append(f"files {files}, want {sorted(want_files)}")
        for f in files:
            if f not in want_files:
                continue
            raw, err = P.load_raw(os.path.join(d, f))
            if raw is None:
                p.append(f"{f}: {err}")
            elif raw.total(0) != want_files[f]:
                p.append(f"{f}: {raw.total(0)} samples, perf script {want_files[f]}")
    c.result("multi: --group-by pid -o DIR writes cpu.<pid>.pprof with perf's counts", p,
             f"{dict(pids)}")


def check_all(c, tmp, wl):
    data = os.path.join(tmp, "all.data")
    tp = "syscalls:sys_enter_write"
    # Default periods: cpu-clock at 4000 Hz, the tracepoint every hit (period 1).
    ok, msg = record(data, ["-e", "cpu-clock", "-e", tp], [wl, "0.05"])
    if not ok:
        c.skip("all: record cpu-clock + tracepoint", msg)
        return
    counts = perf_samples(data)
    samples = perf_script(data)
    tp_period = sum(s.period for s in samples if s.event == tp)
    d = os.path.join(tmp, "all")
    os.makedirs(d, exist_ok=True)
    r, p = convert(["--all", data, "-o", d])
    found = {}
    if not p:
        for f in sorted(os.listdir(d)):
            raw, err = P.load_raw(os.path.join(d, f))
            if raw is None:
                p.append(f"{f}: {err}")
                continue
            t = raw.sample_types[1][0] if len(raw.sample_types) > 1 else None
            found[f] = (t, raw.total(0))
        if found.get("cpu.pprof", (None, None))[1] != counts.get("cpu-clock"):
            p.append(f"cpu.pprof {found.get('cpu.pprof')} vs perf cpu-clock "
                     f"{counts.get('cpu-clock')}")
        tpf = [f for f, (t, n) in found.items() if t == tp]
        if len(tpf) != 1:
            p.append(f"want one profile with sample type {tp}, files {found}")
        elif found[tpf[0]][1] != counts.get(tp):
            p.append(f"{tpf[0]}: {found[tpf[0]][1]} samples, perf {counts.get(tp)}")
    c.result("all: --all -o DIR: cpu.pprof and the tracepoint's profile with perf's counts",
             p, f"files {found}, perf {counts}")

    o = os.path.join(tmp, "tp.pprof")
    raw, p = convert_load(["-t", tp, data, "-o", o], o)
    if raw is not None:
        p += shape_problems(raw, tp)
        if raw.total(0) != counts.get(tp):
            p.append(f"samples/count {raw.total(0)} != perf {counts.get(tp)}")
        if len(raw.sample_types) > 1 and raw.total(1) != tp_period:
            p.append(f"{tp}/count {raw.total(1)} != perf script period sum {tp_period}")
    c.result(f"all: -t {tp}: samples/count and {tp}/count = perf's", p,
             f"{counts.get(tp)} samples, period sum {tp_period}")


def addr2line(binary, addrs):
    """{addr: [(function, basename, line)] innermost first} from binutils addr2line -f -i."""
    addrs = sorted(set(addrs))
    if not addrs:
        return {}
    r = T.run(["addr2line", "-f", "-i", "-a", "-e", binary] + [f"0x{a:x}" for a in addrs], 120)
    if r.rc != 0:
        raise RuntimeError(f"addr2line: exit {r.rc}: {r.err_head()}")
    res, cur = {}, None
    lines = r.out_text.splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        if re.match(r"^0x[0-9a-f]+$", ln):
            cur = int(ln, 16)
            res[cur] = []
            i += 1
            continue
        fn, loc = ln, lines[i + 1] if i + 1 < len(lines) else "??:0"
        i += 2
        m = re.match(r"^(.*):(\d+|\?)(?: \(discriminator \d+\))?$", loc)
        fl = os.path.basename(m.group(1)) if m else loc
        no = int(m.group(2)) if m and m.group(2).isdigit() else 0
        res[cur].append((fn, fl, no))
    return res


def check_inlined(c, tmp, data, samples, wl):
    src = os.path.join(T.REPO, "tests", "workloads", "inlined.c")
    text = open(src).read().splitlines()
    body = next(i + 1 for i, l in enumerate(text) if "/* INLINE-BODY */" in l)
    call = next(i + 1 for i, l in enumerate(text) if "/* CALL-SITE */" in l)
    out = os.path.join(tmp, "inlined.pprof")
    raw, p = convert_load([data, "-o", out], out)
    c.result("inlined: converts and pprof -raw reads it", p)
    if raw is None:
        return
    binname = os.path.basename(wl)
    binmaps = {mid for mid, m in raw.mappings.items() if m["file"].endswith("/" + binname)
               or m["file"] == binname}
    # Oracle: addr2line on perf script's addresses (leaf pc; return address - 1 above).
    want_addr = []
    for s in samples:
        for i, (a, sym, dso) in enumerate(s.chain):
            if dso.endswith("/" + binname):
                want_addr.append(lookup_addr(s.chain, i))
    a2l = addr2line(wl, want_addr)
    expect = collections.Counter()
    for s in samples:
        if any(dso.startswith("[") for _, _, dso in s.chain):
            continue  # samples through the kernel: user pc is a syscall return, skip
        fr = []
        for i, (a, sym, dso) in enumerate(s.chain):
            if dso.endswith("/" + binname):
                fr += a2l.get(lookup_addr(s.chain, i), [])
        expect[tuple(fr)] += 1
    got = collections.Counter()
    for s in raw.samples:
        locs = [raw.locations.get(l) for l in s.locs]
        if any(loc is None for loc in locs):
            continue
        # As perf's side: any frame in a "[...]" dso, which includes "[unknown]" (no map).
        kernel = any(loc.mapping not in raw.mappings or loc.addr >= KERNEL_MIN or
                     raw.mappings[loc.mapping].get("file", "").startswith("[")
                     for loc in locs)
        if kernel:
            continue
        fr = []
        for loc in locs:
            if loc.mapping in binmaps:
                fr += [(fn, os.path.basename(fl), ln) for fn, fl, ln, _ in loc.lines]
        got[tuple(fr)] += s.values[0]
    p = counter_diff(got, expect, 6)
    if not binmaps:
        p.insert(0, f"no mapping for {binname}: {[m['file'] for m in raw.mappings.values()]}")
    c.result("inlined: frames in the binary = addr2line -f -i (leaf pc, return address - 1)",
             p, f"{sum(expect.values())} user-only samples, {len(expect)} distinct stacks")

    # The inlined function as its own frame, at the marker line, called from the call site.
    n_in = n_ok = 0
    bad = collections.Counter()
    for s in raw.samples:
        fr = raw.frames(s)
        if fr and fr[0][0] == "mix_inlined":
            n_in += s.values[0]
            if (os.path.basename(fr[0][1]) == "inlined.c" and fr[0][2] in (body - 1, body)
                    and len(fr) > 1 and fr[1][:1] == ("outer_noinline",)
                    and fr[1][2] == call and os.path.basename(fr[1][1]) == "inlined.c"):
                n_ok += s.values[0]
            else:
                bad[fr[:2]] += s.values[0]
    total = raw.total(0)
    p = []
    if n_in < 0.9 * total:
        p.append(f"only {n_in} of {total} samples have mix_inlined as leaf frame")
    if n_ok != n_in:
        p.append(f"{n_in - n_ok} mix_inlined samples not at inlined.c:{body - 1}-{body} "
                 f"under outer_noinline inlined.c:{call}: {bad.most_common(3)}")
    c.result(f"inlined: mix_inlined is a frame at inlined.c:{body} (marker) under "
             f"outer_noinline at inlined.c:{call}", p, f"{n_ok} of {total} samples")

    o2 = os.path.join(tmp, "inlined.noinline.pprof")
    raw2, p = convert_load(["--no-inline", data, "-o", o2], o2)
    if raw2 is not None:
        names = {ln[0] for loc in raw2.locations.values() for ln in loc.lines}
        if "mix_inlined" in names:
            p.append("mix_inlined still present with --no-inline")
        if raw2.total(0) != total:
            p.append(f"total {raw2.total(0)} != {total}")
        a = stack_prefix_count(raw2, ("outer_noinline", "main"))
        # Without inlining, mix_inlined's samples and those in outer_noinline's own code
        # (loop overhead; rare but possible) both become outer_noinline<-main.
        b = stack_prefix_count(raw, ("mix_inlined", "outer_noinline", "main"))
        b_own = stack_prefix_count(raw, ("outer_noinline", "main"))
        if a != b + b_own:
            p.append(f"outer_noinline<-main {a} with --no-inline, "
                     f"mix_inlined<-outer_noinline<-main {b} + outer_noinline<-main "
                     f"{b_own} without")
    c.result("inlined: --no-inline drops the inlined frame, keeps the stacks", p)


def check_kernelheavy(c, tmp, data, samples, wl):
    out = os.path.join(tmp, "kernelheavy.pprof")
    raw, p = convert_load([data, "-o", out], out)
    c.result("kernelheavy: converts and pprof -raw reads it", p)
    if raw is None:
        return
    rows = perf_report_flat(data)
    kshare = sum(pct for pct, _, kind, _ in rows if kind == "k")
    kern_locs = [loc for loc in raw.locations.values() if loc.addr >= KERNEL_MIN]
    names = {ln[0] for loc in kern_locs for ln in loc.lines}
    nonames = [f"0x{loc.addr:x}" for loc in kern_locs if not loc.lines]
    p = []
    if not any("write" in n for n in names):
        p.append(f"no kernel function containing 'write': {sorted(names)[:10]}")
    if not any("sys" in n for n in names):
        p.append(f"no kernel function containing 'sys': {sorted(names)[:10]}")
    hexnames = sorted(n for n in names if HEX.match(n))
    if hexnames:
        p.append(f"kernel functions named by address: {hexnames[:5]}")
    unknown_perf = sum(1 for s in samples for a, sym, dso in s.chain
                       if dso.startswith("[kernel") and sym == "[unknown]")
    if len(nonames) > 0 and unknown_perf == 0:
        p.append(f"{len(nonames)} kernel locations without a function "
                 f"(perf names them all): {nonames[:5]}")
    c.result("kernelheavy: kernel frames named from kallsyms", p,
             f"{len(kern_locs)} kernel locations, {len(names)} functions, perf [k] "
             f"{kshare:.1f}%")
    p, detail = compare_flat(raw, rows, 1, lambda dso, kind, sym: kind == "k",
                             lambda name: name in names)
    c.result("kernelheavy: flat% per kernel function within 1 point of perf report", p,
             detail)

    ks = os.path.join(tmp, "kallsyms")
    shutil.copyfile("/proc/kallsyms", ks)
    o2 = os.path.join(tmp, "kernelheavy.kallsyms.pprof")
    r, p = convert(["--kallsyms", ks, data, "-o", o2])
    if not p and raw_text(o2) != raw_text(out):
        p.append("profile with --kallsyms (a copy of /proc/kallsyms) differs")
    c.result("kernelheavy: --kallsyms FILE = /proc/kallsyms", p)

    # The file given is the one used: the same kallsyms with every name containing
    # "write" renamed must give the renamed names, with the same flat values.
    ksr = os.path.join(tmp, "kallsyms.renamed")
    with open("/proc/kallsyms") as fi, open(ksr, "w") as fo:
        for line in fi:
            parts = line.rstrip("\n").split()
            if len(parts) >= 3 and "write" in parts[2]:
                parts[2] = "renamed_" + parts[2]
            fo.write(" ".join(parts) + "\n")
    o3 = os.path.join(tmp, "kernelheavy.renamed.pprof")
    raw3, p = convert_load(["--kallsyms", ksr, data, "-o", o3], o3)
    if raw3 is not None:
        f0 = {n: v for n, v in raw.flat_by_function(0).items() if n in names}
        f3 = raw3.flat_by_function(0)
        for n, v in sorted(f0.items(), key=lambda kv: -kv[1])[:8]:
            want = "renamed_" + n if "write" in n else n
            if f3.get(want) != v:
                p.append(f"{want}: {f3.get(want)} samples, want {v} (as {n} without "
                         "--kallsyms)")
    c.result("kernelheavy: --kallsyms FILE is used (names renamed in it come out renamed)",
             p)


def check_demangle(c, tmp, data, samples, wl):
    out = os.path.join(tmp, "demangle.pprof")
    raw, p = convert_load([data, "-o", out], out)
    c.result("demangle: converts and pprof -raw reads it", p)
    if raw is None:
        return
    names = {ln[0] for loc in raw.locations.values() for ln in loc.lines}
    base = {strip_params(n) for n in names}
    p = []
    for want in ("pps_work::Cruncher::crunch", "pps_work::spin<unsigned long>"):
        if want not in base:
            p.append(f"{want!r} (perf's name, parameters allowed) not among "
                     f"{sorted(n for n in names if 'pps' in n or '_Z' in n)}")
    mangled = sorted(n for n in names if n.startswith("_Z"))
    if mangled:
        p.append(f"mangled names left: {mangled[:5]}")
    c.result("demangle: pps_work::Cruncher::crunch and pps_work::spin<unsigned long>", p,
             f"{sorted(n for n in names if 'pps_work' in n)}")
    rows = perf_report_flat(data)
    binname = os.path.basename(wl)
    p, detail = compare_flat(raw, rows, 1, lambda dso, kind, sym: dso == binname,
                             lambda name: name.startswith("pps_work"))
    c.result("demangle: flat% of the C++ functions within 1 point of perf report", p, detail)



def check_fault(c, tmp, data, samples, wl):
    """Samples in the kernel (page faults at fault_target's first instruction, madvise
    calls): the first user frame below the kernel frames is the pc where the thread
    entered the kernel, not a return address. Its function must be perf's, sample for
    sample (counted by name), and fault_target must be it for every fault at its entry."""
    out = os.path.join(tmp, "fault.pprof")
    raw, p = convert_load([data, "-o", out], out)
    c.result("fault: converts and pprof -raw reads it", p)
    if raw is None:
        return
    # Only first user frames in the workload binary are compared (libc's aliases, such as
    # __madvise and __GI_madvise, are not this check's business); "elsewhere" counts the rest.
    binname = os.path.basename(wl)
    want = collections.Counter()
    for s in samples:
        if s.chain and s.chain[0][0] >= KERNEL_MIN:
            user = [f for f in s.chain if f[0] < KERNEL_MIN and f[0] != 0]
            if user:
                inbin = user[0][2].endswith("/" + binname)
                want[sym_name(user[0][1]) if inbin else "elsewhere"] += 1
    got = collections.Counter()
    for s in raw.samples:
        locs = [raw.locations.get(l) for l in s.locs]
        if locs and locs[0] is not None and locs[0].addr >= KERNEL_MIN:
            user = [loc for loc in locs if loc is not None and loc.addr < KERNEL_MIN]
            if user:
                u = user[0]
                f = raw.mappings.get(u.mapping, {}).get("file", "")
                name = u.lines[-1][0] if u.lines else f"0x{u.addr:x}"
                got[strip_params(name) if f.endswith("/" + binname) else "elsewhere"] += \
                    s.values[0]
    p = counter_diff(got, want, 6)
    if want.get("fault_target", 0) < 20:
        p.append(f"oracle: only {want.get('fault_target', 0)} samples fault at fault_target "
                 "(workload broken?)")
    c.result("fault: first user frame under kernel frames = perf's (the pc itself, not "
             "pc - 1)", p, f"perf: {dict(want.most_common(4))}")


def check_plt(c, tmp, data, samples, wl):
    out = os.path.join(tmp, "plt.pprof")
    raw, p = convert_load([data, "-o", out], out)
    c.result("plt: converts and pprof -raw reads it", p)
    if raw is None:
        return
    rows = perf_report_flat(data)
    stub = sum(pct for pct, _, _, sym in rows if sym == "tiny_inc@plt")
    p, detail = compare_flat(raw, rows, 1, lambda dso, kind, sym: True)
    if stub < 5.0:
        p.append(f"oracle: perf puts only {stub}% in tiny_inc@plt (workload broken?)")
    c.result("plt: samples in the PLT stub named tiny_inc@plt as perf does (flat% within "
             "1 point)", p, detail)


def check_cli(c, tmp, data):
    p2 = T.perf2pprof()
    o = os.path.join(tmp, "cli.pprof")
    for args in (["--no-such-option", data, "-o", o], [],
                 ["-o", o], [data, data, "-o", o],
                 ["--labels", "pid,nosuch", data, "-o", o],
                 ["--from", "soon", data, "-o", o],
                 ["--to", "12parsecs", data, "-o", o],
                 ["--group-by", "planet", data, "-o", tmp],
                 ["--pid", "abc", data, "-o", o],
                 ["--from", "2s", "--to", "1s", data, "-o", o],
                 ["--all", data],
                 ["-t"]):
        r = T.run([p2] + args, 60)
        p = r.problems()
        if not p and r.rc != 2:
            p.append(f"exit {r.rc}, want 2: {r.err_head(200)}")
        if not p and not r.err_text.strip():
            p.append("no message on stderr")
        c.result(f"cli: perf2pprof {' '.join(a.replace(tmp, '$TMP') for a in args)} "
                 "exits 2", p)
    # Durations read as Go's: units may be compounded; the same window either way.
    totals = []
    for frm, to in (("250ms", "750ms"), ("0h0m0.25s", "0m0.5s250ms")):
        o2 = os.path.join(tmp, f"dur-{len(totals)}.pprof")
        raw, p = convert_load([data, "--from", frm, "--to", to, "-o", o2], o2)
        totals.append(raw.total() if raw else None)
    p = [] if totals[0] is not None and totals[0] == totals[1] and totals[0] > 0 else \
        [f"--from 250ms --to 750ms: {totals[0]} samples, compound forms: {totals[1]}"]
    c.result("cli: --from 0h0m0.25s --to 0m0.5s250ms = --from 250ms --to 750ms", p,
             f"{totals[0]} samples")
    for bad in ("1h30", "1..5s", "0x10s", "nan", "1e3s", " 5s"):
        r = T.run([p2, "--from", bad, data, "-o", o], 60)
        c.result(f"cli: --from {bad!r} exits 2", [] if r.rc == 2 else [f"exit {r.rc}"])
    missing = os.path.join(tmp, "no-such-recording.data")
    notperf = os.path.join(tmp, "not-a-recording.data")
    with open(notperf, "wb") as f:
        f.write(b"this is not a perf.data file\n" * 100)
    # A directory recording whose header file is empty (perf record --kcore that failed
    # to copy /proc/kcore leaves one): the message names DIR/data.
    emptydir = os.path.join(tmp, "empty-dir.data")
    os.makedirs(emptydir, exist_ok=True)
    open(os.path.join(emptydir, "data"), "wb").close()
    for path, label, named in ((missing, "a missing file", missing),
                               (notperf, "a non-perf file", notperf),
                               (emptydir, "a directory with an empty data file",
                                os.path.join(emptydir, "data"))):
        r = T.run([p2, path, "-o", o], 60)
        p = r.problems()
        if not p and r.rc != 1:
            p.append(f"exit {r.rc}, want 1")
        if not p and named + ":" not in r.err_text:
            p.append(f"stderr does not name {named}: {r.err_head(200)}")
        c.result(f"cli: {label} exits 1 naming the file", p, r.err_head(120))


def check_info_json(c, tmp):
    """--info --json: the perf command line (bytes from the file) comes back as perf wrote
    it: UTF-8 unchanged, a stray byte as the code point of its value."""
    data = os.path.join(tmp, "utf8.data")
    good, bad = "naïve-日本", b"bad\xff\xc3x"
    args = [good, bad.decode("latin-1")]  # what the JSON must say
    r = T.run([T.perf_bin(), "record", "-q", "-e", "cpu-clock", "-o", data, "--", "true",
               good.encode(), bad], 60)
    if r.rc != 0:
        c.result("info: perf record with non-ASCII arguments", [f"exit {r.rc}: {r.err_head()}"])
        return
    r = T.run([T.perf2pprof(), "--info", "--json", data], 60)
    p = r.problems()
    got = None
    if not p:
        try:
            got = json.loads(r.out)["cmdline"]
        except (ValueError, KeyError) as e:
            p.append(f"not JSON with a cmdline: {e}")
    if got is not None and not got.endswith(" true " + " ".join(args)):
        p.append(f"cmdline {got!r} does not end with {' '.join(args)!r}")
    c.result("info: --json keeps UTF-8 in the command line, stray bytes as U+00XX", p,
             repr(got[-24:]) if got else "")


def check_comm(c, tmp, wl):
    """A system-wide recording: samples per thread name (the comm label) equal perf
    report's per Command, the idle task included (perf calls it swapper)."""
    data = os.path.join(tmp, "comm.data")
    # Idle time after the workload: the idle task's samples (when the kernel takes them).
    ok, msg = record(data, ["-a", "-e", "cpu-clock", "-F", "499"],
                     ["sh", "-c", f"'{wl}' 1; sleep 0.5"])
    if not ok:
        c.result("comm: perf record -a", [msg])
        return
    r = T.run([T.perf_bin(), "report", "-i", data, "--stdio", "--sort", "comm", "-n"], 300)
    if r.rc != 0:
        c.result("comm: perf report --sort comm", [f"exit {r.rc}: {r.err_head()}"])
        return
    want = collections.Counter()  # keyed as labels_counter(raw, ("comm",)) keys
    for line in r.out_text.splitlines():
        m = re.match(r"^\s+[\d.]+%\s+(\d+)\s+(.+?)\s*$", line)
        if m:
            want[((m.group(2),),)] += int(m.group(1))
    out = os.path.join(tmp, "comm.pprof")
    raw, p = convert_load([data, "--labels", "comm", "-o", out], out)
    if raw:
        p += counter_diff(labels_counter(raw, ("comm",)), want, 8)
    c.result("comm: samples per thread name = perf report --sort comm (swapper too)", p,
             f"{len(want)} names, swapper {want[(('swapper',),)]} of "
             f"{sum(want.values())} samples")


def main():
    T.perf2pprof()
    perf = T.perf_bin()
    if not perf:
        print("SKIP: perf is not installed")
        return T.SKIP
    if not P.pprof_bin() or not os.access(P.pprof_bin(), os.X_OK):
        print(f"FATAL: pprof not found ({P.pprof_bin()}); set PPROF")
        return 1
    wls = {n: workload(n) for n in ("split", "inlined", "kernelheavy", "demangle", "plt",
                                    "fault")}
    tmp = tempfile.mkdtemp(prefix="pps-convert-")
    keep = bool(os.environ.get("PPS_KEEP"))
    c = Checker()
    try:
        ok, msg = record(os.path.join(tmp, "probe.data"), ["-e", "cpu-clock"], ["true"])
        if not ok:
            print(f"SKIP: perf record does not work here: {msg}")
            return T.SKIP
        for name, wl in wls.items():
            if wl is None:
                c.result(f"{name}: workload binary", [f"pps_wl_{name} not built (set "
                                                      f"PPS_WL_{name.upper()})"])
                continue
            data = os.path.join(tmp, name + ".data")
            ok, msg = record(data, BASE, [wl, "1"])
            if not ok:
                c.result(f"{name}: perf record", [msg])
                continue
            try:
                samples = perf_script(data)
                fn = {"split": check_split, "inlined": check_inlined,
                      "kernelheavy": check_kernelheavy, "demangle": check_demangle,
                      "plt": check_plt, "fault": check_fault}[name]
                fn(c, tmp, data, samples, wl)
            except RuntimeError as e:
                c.result(f"{name}: oracle", [str(e)])
        if wls["split"]:
            try:
                check_pipe(c, tmp, wls["split"])
                check_multi(c, tmp, wls["split"])
            except RuntimeError as e:
                c.result("pipe/multi: oracle", [str(e)])
        if wls["kernelheavy"]:
            try:
                check_all(c, tmp, wls["kernelheavy"])
            except RuntimeError as e:
                c.result("all: oracle", [str(e)])
        if wls["split"]:
            try:
                check_comm(c, tmp, wls["split"])
                check_container(c, tmp, wls["split"])
            except RuntimeError as e:
                c.result("comm/container: oracle", [str(e)])
        check_info_json(c, tmp)
        if wls["split"] and os.path.exists(os.path.join(tmp, "split.data")):
            check_cli(c, tmp, os.path.join(tmp, "split.data"))
    finally:
        if keep or c.nfail:
            print(f"recordings kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    T.summary(c.npass, c.nfail, c.nskip)
    return 0 if c.nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
