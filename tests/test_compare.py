#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""pprofstore diff and compare, and the nightly recipe ci/nightly.sh, end to end.

Workloads (tests/workloads/gate.c): PPS_WL_GATE and PPS_WL_GATE_TWIN are the same program
built twice the same way; PPS_WL_GATE_SLOW is it with parse_input doing 15% more work (the
same code; only a constant differs), which takes its share of the samples from 30% to
about 33% (+10%). Each run is `perf record -e cpu-clock -F 20000 -g` of 0.5 s of CPU time
(about 10000 samples), recorded and ingested by ci/nightly.sh (PPROFSTORE is the pprofstore
it runs), which also runs the comparison, as the nightly job does.

A trial is a fresh comparison: 5 runs of the base build and 5 of the head build, recorded
alternately (so that a change of machine load during the trial falls on both sides), each
side tagged with its own commit, then `ci/nightly.sh --prev BASE --commit HEAD` (the gate
with its defaults: 5% threshold, 1% minimum share, alpha 0.01). A trial takes about 12 s.

Checks:
  same       20 trials of the two identical builds: at least 19 pass (exit 0); every
             exit is 0 or 1
  slow       a trial of the base build against the slow one fails (exit 1); the text,
             markdown and JSON reports name parse_input among the regressed functions
             (any other is printed), its flat or cum share grown by 6% to 14% (15% more
             work on 30% of the CPU is +10%); base's flat shares are the work split
             3:3:2:2 (+-1.5 points)
  diff       pprofstore diff of the slow trial: `pprof -top` of it equals
             `pprof -top -diff_base BASE HEAD` of --base-out and --head-out, for both
             sample types, every node; in `pprof -raw`, the samples labelled
             pprof::base=true sum to minus base's totals and the others to head's
  single     one run a side (sources told apart by a tag): the report names the
             two-proportion z-test
  selection  window=, from=, to= and two tags select as documented: the same runs as
             the commit tag alone, or none
  errors     missing database, unknown type (the types present are listed), malformed
             TIME and window, bad tag syntax, bad options, an empty selection: the
             documented exit code (compare 2; diff 1 or 2) and a message naming the
             problem; tag values with quotes, % and _ match literally (bound parameters)
Exit 77 (skip) when perf record is refused. PPS_KEEP=1 keeps the temporary directory.
"""

import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppstest as T  # noqa: E402
import pprofraw as P  # noqa: E402

TRIALS = 20     # identical-build trials
MIN_PASS = 19   # of which at least this many must pass
RUNS = 5        # runs a side in a trial (the nightly script's default)
# 0.5 s of CPU a run: the slow build's t statistic is then about 8 against a critical
# value near 5 (Holm's first step with about 11 tests, df 8), so it fails every time.
CPU_S = "0.5"   # CPU seconds of each run
FREQ = "20000"  # perf -F: about 10000 samples a run
SCRIPT = os.path.join(T.REPO, "ci", "nightly.sh")
SLOW_FN = "parse_input"
WORKLOAD_FNS = ("parse_input", "transform", "checksum", "emit_output")


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


def binary(env, *parts):
    p = os.environ.get(env) or os.path.join(T.REPO, "build", *parts)
    if not os.access(p, os.X_OK):
        print(f"FATAL: not found: {p} (set {env})", flush=True)
        sys.exit(1)
    return p


def pprofstore():
    return binary("PPROFSTORE", "cmd", "pprofstore")


def store(db, args, timeout=600):
    return T.run([pprofstore(), "--db", db] + args, timeout)


def nightly(db, args, bench=None):
    # perf 6.1 lingers a second for its BPF side-band thread, and collects build-ids
    # after the run unless MMAP2 records carry them: both cost more than a run.
    argv = [SCRIPT, "--db", db, "--pprofstore", pprofstore(), "--freq", FREQ,
            "--perf-opt", "--no-bpf-event", "--perf-opt", "--buildid-mmap"] + args
    if bench:
        argv += ["--"] + bench
    return T.run(argv, 600)


def trial(db, tmp, name, base_bin, head_bin):
    """One trial: RUNS runs a side, alternating, then the gate. Returns (Run, report path)
    or (None, why)."""
    for r in range(RUNS):
        sides = [(f"{name}-base", base_bin), (f"{name}-head", head_bin)]
        if r % 2:
            sides.reverse()
        for commit, b in sides:
            res = nightly(db, ["--commit", commit, "--runs", "1"], [b, CPU_S])
            if res.rc != 0 or res.problems():
                return None, (f"recording {commit} run {r}: exit {res.rc} "
                              f"{res.problems()} {res.err_head()}")
    rep = os.path.join(tmp, f"{name}.md")
    res = nightly(db, ["--commit", f"{name}-head", "--prev", f"{name}-base", "--runs", "0",
                       "--report", rep])
    return res, rep


def regressed_rows(text):
    """Function names of the 'regressed' rows of a text report, in order."""
    return [line.split()[-1] for line in text.splitlines() if line.startswith("regressed ")]


def check_same(c, db, tmp, gate, twin):
    passes, problems, flagged = 0, [], []
    for i in range(TRIALS):
        res, rep = trial(db, tmp, f"same{i}", gate, twin)
        if res is None:
            problems.append(f"trial {i}: {rep}")
            break
        if res.problems() or res.rc not in (0, 1):
            problems.append(f"trial {i}: exit {res.rc} {res.problems()} {res.err_head()}")
            break
        r = store(db, ["compare", "--type", "cpu", "--base", f"commit=same{i}-base", "--head",
                       f"commit=same{i}-head", "--format", "json"])
        try:
            js = json.loads(r.out_text)
            tested = [(min(f[m]["p_up"], f[m]["p_down"]), f["name"], m)
                      for f in js["functions"] for m in ("flat", "cum")
                      if f[m]["verdict"] != "untested"]
            low = min(tested)
            print(f"NOTE same: trial {i}: exit {res.rc}, {js['tests']} tests, smallest "
                  f"one-sided p {low[0]:.2g} ({low[1]} {low[2]})", flush=True)
        except (ValueError, KeyError) as e:
            problems.append(f"trial {i}: compare --format json: {e}")
            break
        if res.rc == 0:
            passes += 1
        else:
            flagged.append(f"trial {i}: {', '.join(regressed_rows(res.out_text))}")
            print(f"NOTE same: trial {i} failed the gate:\n{res.out_text}", flush=True)
    if not problems and passes < MIN_PASS:
        problems.append(f"identical builds passed {passes} of {TRIALS} trials "
                        f"(< {MIN_PASS}): {flagged}")
    c.result("same", problems, f"identical builds passed {passes} of {TRIALS} trials"
             + (f" (false alarms: {flagged})" if flagged else ""))


def check_slow(c, db, tmp, gate, slow):
    res, rep = trial(db, tmp, "slow", gate, slow)
    if res is None:
        c.result("slow", [rep])
        return False
    print(res.out_text, flush=True)
    problems = [f"exit {res.rc}, expected 1 (regression): {res.err_head()}"] \
        if res.rc != 1 else []
    problems += res.problems()
    rows = regressed_rows(res.out_text)
    if SLOW_FN not in rows:
        problems.append(f"text report: regressed rows {rows}, without {SLOW_FN}")
    elif rows != [SLOW_FN]:
        print(f"NOTE slow: also flagged: {[r for r in rows if r != SLOW_FN]}", flush=True)
    md = open(rep).read() if os.path.exists(rep) else ""
    if not re.search(r"^\| \*\*regressed\*\* \| `" + SLOW_FN + r"` \|", md, re.M):
        problems.append(f"markdown report has no regressed row for {SLOW_FN}: {md[:300]!r}")
    if ":x: regression in" not in md:
        problems.append("markdown report does not say 'regression'")
    r = store(db, ["compare", "--type", "cpu", "--base", "commit=slow-base", "--head",
                   "commit=slow-head", "--format", "json"])
    try:
        js = json.loads(r.out_text)
    except ValueError as e:
        problems.append(f"compare --format json: not JSON: {e}")
        js = None
    if js is not None:
        fns = {f["name"]: f for f in js["functions"]}
        reg = [f["name"] for f in js["functions"]
               if "regressed" in (f["flat"]["verdict"], f["cum"]["verdict"])]
        if r.rc != 1 or not js["regression"] or reg != rows:
            problems.append(f"json: exit {r.rc}, regression {js['regression']}, "
                            f"regressed {reg} (text: {rows})")
        if js["test"] != "welch" or js["base"]["runs"] != RUNS or js["head"]["runs"] != RUNS:
            problems.append(f"json: test {js['test']}, runs {js['base']['runs']} and "
                            f"{js['head']['runs']}, expected welch over {RUNS} and {RUNS}")
        missing = [f for f in WORKLOAD_FNS if f not in fns]
        if missing:
            problems.append(f"json: functions {missing} not tested")
        else:
            # The known answer: base's flat shares are the work split, 3:3:2:2 (of the
            # samples, a few go to the kernel and to run's own loop).
            for fn, want in zip(WORKLOAD_FNS, (0.3, 0.3, 0.2, 0.2)):
                got = fns[fn]["flat"]["base"]
                if abs(got - want) > 0.015:
                    problems.append(f"json: {fn} base flat share {got:.4f}, expected "
                                    f"{want} +- 0.015")
            # 15% more work on 30%: 0.345 / 1.045 = 0.330, +10%; each side's mean share
            # has a standard error near 1% of it, and kernel time (interrupts, which
            # count in cum but not in flat) shifts it by a little more under load. The
            # gate flags a function when flat or cum regressed: both must have grown,
            # the flagged one by +6% to +14%.
            fl, cu = fns[SLOW_FN]["flat"], fns[SLOW_FN]["cum"]
            flagged = [st for st in (fl, cu) if st["verdict"] == "regressed"]
            if not flagged or not all(0.06 <= st["relative_change"] <= 0.14
                                      for st in flagged) or \
                    not (fl["change"] > 0 and cu["change"] > 0):
                problems.append(f"json: {SLOW_FN} flat {fl}, cum {cu}: expected a "
                                "regression of +6% to +14%")
    c.result("slow", problems, f"the slow build failed the gate; regressed: {rows}")
    return True


def top_lines(args, path):
    r = P.pprof(["-top", "-nodecount=100000", "-nodefraction=0", "-edgefraction=0"] + args,
                path)
    return r, [line for line in r.out_text.splitlines()]


def check_diff(c, db, tmp):
    d, b, h = (os.path.join(tmp, n) for n in ("diff.pprof", "base.pprof", "head.pprof"))
    r = store(db, ["diff", "--type", "cpu", "--base", "commit=slow-base", "--head",
                   "commit=slow-head", "-o", d, "--base-out", b, "--head-out", h])
    problems = r.problems() + ([f"diff exit {r.rc}: {r.err_head()}"] if r.rc else [])
    if problems:
        c.result("diff", problems)
        return
    nodes = 0
    for si in ("samples", "cpu"):
        r1, ours = top_lines([f"-sample_index={si}"], d)
        r2, theirs = top_lines([f"-sample_index={si}", "-diff_base", b], h)
        if r1.rc or r2.rc:
            problems.append(f"pprof -top exit {r1.rc}, {r2.rc}: {r1.err_head()} "
                            f"{r2.err_head()}")
            continue
        if ours != theirs:
            diffs = [f"{x!r} vs {y!r}" for x, y in zip(ours, theirs) if x != y][:3]
            problems.append(f"-sample_index={si}: pprof -top of diff.pprof differs from "
                            f"-diff_base ({len(ours)} vs {len(theirs)} lines): {diffs}")
        nodes = max(nodes, len(ours))
        if not any(line.rstrip().endswith(" " + SLOW_FN) for line in ours):
            problems.append(f"-sample_index={si}: {SLOW_FN} not in pprof -top of the diff")
    raw = {}
    for name, path in (("diff", d), ("base", b), ("head", h)):
        raw[name], err = P.load_raw(path)
        if raw[name] is None:
            problems.append(f"pprof -raw {name}: {err}")
    if not problems:
        rd = raw["diff"]
        based = [s for s in rd.samples if s.labels.get("pprof::base") == ["true"]]
        heads = [s for s in rd.samples if "pprof::base" not in s.labels]
        for k in range(len(rd.sample_types)):
            got_b = sum(s.values[k] for s in based)
            got_h = sum(s.values[k] for s in heads)
            if got_b != -raw["base"].total(k) or got_h != raw["head"].total(k):
                problems.append(f"value {k}: base-labelled samples sum to {got_b}, head's "
                                f"to {got_h}; base total {raw['base'].total(k)}, head "
                                f"total {raw['head'].total(k)}")
        if len(based) + len(heads) != len(rd.samples):
            problems.append("samples with other pprof::base labels")
        if any(v > 0 for s in based for v in s.values) or \
                any(v < 0 for s in heads for v in s.values):
            problems.append("a base sample with a positive value or a head one negative")
        fd = rd.flat_by_function(0)
        fb, fh = raw["base"].flat_by_function(0), raw["head"].flat_by_function(0)
        for fn in WORKLOAD_FNS:
            if fd.get(fn, 0) != fh.get(fn, 0) - fb.get(fn, 0):
                problems.append(f"{fn}: flat {fd.get(fn, 0)} in the diff, head "
                                f"{fh.get(fn, 0)} - base {fb.get(fn, 0)}")
    c.result("diff", problems, f"pprof -top of the diff = -diff_base ({nodes} lines, both "
             "sample types); base samples negated and labelled")


def check_single(c, db, tmp, gate, twin):
    problems = []
    for tag, b in (("base", gate), ("head", twin)):
        data = os.path.join(tmp, f"single-{tag}.data")
        r = T.run([T.perf_bin(), "record", "-q", "--no-bpf-event", "-e", "cpu-clock", "-F",
                   FREQ, "-g", "-o", data, "--", b, CPU_S], 300)
        if r.rc:
            problems.append(f"perf record: {r.err_head()}")
            break
        r = store(db, ["ingest", "-q", "--tag", "single=" + tag, "--tag", "kind=one run",
                       data])
        if r.rc or r.problems():
            problems.append(f"ingest: exit {r.rc} {r.problems()}")
    if not problems:
        r = store(db, ["compare", "-t", "cpu", "--base", "single=base,kind=one run",
                       "--head", "single=head,kind=one run", "--format", "json"])
        try:
            js = json.loads(r.out_text)
            if js["test"] != "two-proportion-z" or js["base"]["runs"] != 1 or \
                    js["head"]["runs"] != 1:
                problems.append(f"json: test {js['test']}, runs {js['base']['runs']}, "
                                f"{js['head']['runs']}")
        except (ValueError, KeyError) as e:
            problems.append(f"json: {e}: {r.out_text[:200]!r}")
        if r.rc not in (0, 1) or r.problems():
            problems.append(f"exit {r.rc} {r.problems()} {r.err_head()}")
        r = store(db, ["compare", "-t", "cpu", "--base", "single=base", "--head",
                       "single=head"])
        if "two-proportion z-test" not in r.out_text or "sampling noise only" not in r.out_text:
            problems.append(f"text report does not name the z-test: {r.out_text[:300]!r}")
    c.result("single", problems, "one run a side: the two-proportion z-test")


def runs_of(r):
    """(base runs, head runs) from a text report, or None."""
    m = re.search(r"^base: .*: (\d+) runs?, .*\nhead: .*: (\d+) runs?,", r.out_text, re.M)
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_selection(c, db):
    problems = []
    base, head = "commit=slow-base", "commit=slow-head"
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    for extra in ("window=1h", "from=-1h", f"from=-2h,to={later}", f"window=1d,to={later}"):
        r = store(db, ["compare", "--type", "cpu", "--base", f"{base},{extra}", "--head",
                       f"{head},{extra}"])
        if r.rc not in (0, 1) or runs_of(r) != (RUNS, RUNS):
            problems.append(f"{extra}: exit {r.rc}, runs {runs_of(r)}: {r.err_head()}")
    # Two tags: a source needs both.
    r = store(db, ["compare", "--type", "cpu", "--base", f"{base},single=base", "--head", head])
    if r.rc != 2 or "no cpu samples" not in r.err_text:
        problems.append(f"two tags no source has: exit {r.rc}: {r.err_head()}")
    r = store(db, ["compare", "--type", "cpu", "--base", f"{base},to=2000-01-01T00:00:00Z",
                   "--head", head])
    if r.rc != 2 or "no cpu samples" not in r.err_text:
        problems.append(f"to= before the data: exit {r.rc}: {r.err_head()}")
    c.result("selection", problems, "window=, from=, to= and tags select as documented")


def check_errors(c, db, tmp):
    base, head = "commit=slow-base", "commit=slow-head"
    ok_sel = ["--base", base, "--head", head]
    missing = os.path.join(tmp, "nosuch", "x.db")
    cases = [
        # (argv after --db DB, db, expected exit, message part)
        (["compare", "-t", "cpu"] + ok_sel, missing, 2, "no such database"),
        (["diff", "-t", "cpu", "-o", os.path.join(tmp, "x.pprof")] + ok_sel, missing, 1,
         "no such database"),
        (["compare", "-t", "nosuch"] + ok_sel, db, 2, "no profiles of type 'nosuch'; the "
         "store has: cpu"),
        (["diff", "-t", "nosuch", "-o", os.path.join(tmp, "x.pprof")] + ok_sel, db, 1,
         "the store has: cpu"),
        (["compare", "-t", "cpu", "--base", base + ",from=yesterday", "--head", head], db, 2,
         "bad TIME 'yesterday'"),
        (["compare", "-t", "cpu", "--base", base + ",to=2024-13-01T00:00:00Z", "--head",
          head], db, 2, "bad TIME"),
        (["compare", "-t", "cpu", "--base", base + ",window=10q", "--head", head], db, 2,
         "bad window duration '10q'"),
        (["compare", "-t", "cpu", "--base", base + ",window=0", "--head", head], db, 2,
         "bad window duration"),
        (["compare", "-t", "cpu", "--base", "commit", "--head", head], db, 2,
         "bad term 'commit'"),
        (["compare", "-t", "cpu", "--base", "=abc", "--head", head], db, 2, "bad term '=abc'"),
        (["compare", "-t", "cpu", "--base", base + ",,x=y", "--head", head], db, 2,
         "bad term ''"),
        (["compare", "-t", "cpu", "--base", "", "--head", head], db, 2, "empty selection"),
        (["compare", "-t", "cpu", "--base", base + ",window=1h,from=-2h", "--head", head], db,
         2, "exclude each other"),
        (["compare", "-t", "cpu", "--base", base + ",from=200,to=100", "--head", head], db, 2,
         "not before"),
        (["compare", "-t", "cpu", "--base", base + ",window=1h,window=2h", "--head", head],
         db, 2, "window= given twice"),
        (["compare", "-t", "cpu"] + ok_sel + ["--threshold", "5"], db, 2, "bad --threshold"),
        (["compare", "-t", "cpu"] + ok_sel + ["--threshold", "-1%"], db, 2,
         "bad --threshold"),
        (["compare", "-t", "cpu"] + ok_sel + ["--format", "xml"], db, 2, "bad --format"),
        (["compare", "-t", "cpu"] + ok_sel + ["--alpha", "1.5"], db, 2, "bad --alpha"),
        (["compare", "-t", "cpu"] + ok_sel + ["--min-share", "0.5"], db, 2,
         "bad --min-share"),
        (["compare", "-t", "cpu", "--base", base], db, 2, "required"),
        (["compare", "-t", "cpu", "--nosuch"] + ok_sel, db, 2, "unrecognized option"),
        (["compare", "-t", "cpu", "--base", "commit=nosuch", "--head", head], db, 2,
         "--base commit=nosuch: no cpu samples"),
        (["diff", "-t", "cpu", "--base", "commit=nosuch", "--head", head, "-o",
          os.path.join(tmp, "x.pprof")], db, 1, "no cpu samples"),
        (["diff", "-t", "cpu"] + ok_sel, db, 2, "-o"),
        (["diff", "-t", "cpu", "--base", "commit", "--head", head, "-o",
          os.path.join(tmp, "x.pprof")], db, 2, "bad term 'commit'"),
        # Bound parameters: quotes, LIKE wildcards and SQL match literally (nothing).
        (["compare", "-t", "cpu", "--base", "commit=slow-base' OR '1'='1", "--head", head],
         db, 2, "no cpu samples"),
        (["compare", "-t", "cpu", "--base", "commit=slow-%", "--head", head], db, 2,
         "no cpu samples"),
        (["compare", "-t", "cpu", "--base", "commit=slow_base", "--head", head], db, 2,
         "no cpu samples"),
        (["compare", "-t", "cpu", "--base", "commit=x\"); DROP TABLE samples; --", "--head",
          head], db, 2, "no cpu samples"),
    ]
    problems = []
    for argv, d, rc, msg in cases:
        r = store(d, argv, 120)
        if r.rc != rc or msg not in r.err_text or r.problems():
            problems.append(f"{' '.join(argv)}: exit {r.rc} (expected {rc}), stderr "
                            f"{r.err_head(200)!r} (expected {msg!r}) {r.problems()}")
    # The store is intact after the injection attempts.
    r = store(db, ["compare", "-t", "cpu"] + ok_sel)
    if r.rc != 1:
        problems.append(f"after the bad selections, the slow trial's gate exits {r.rc}")
    for argv, rc in (([SCRIPT, "--commit", "a,b", "--runs", "0", "--prev", "x"], 2),
                     ([SCRIPT, "--commit", "x", "--runs", "two"], 2),
                     ([SCRIPT, "--commit", "x"], 2),
                     ([SCRIPT, "--db", missing, "--pprofstore", pprofstore(), "--commit",
                       "x", "--prev", "y", "--runs", "0"], 2)):
        r = T.run(argv, 120)
        if r.rc != rc or not r.err_text.strip():
            problems.append(f"{' '.join(argv)}: exit {r.rc} (expected {rc}), stderr "
                            f"{r.err_head(200)!r}")
    c.result("errors", problems, f"{len(cases)} bad inputs, each with its exit code and "
             "message; the nightly script's own errors exit 2")


def main():
    gate = binary("PPS_WL_GATE", "tests", "workloads", "pps_wl_gate")
    twin = binary("PPS_WL_GATE_TWIN", "tests", "workloads", "pps_wl_gate_twin")
    slow = binary("PPS_WL_GATE_SLOW", "tests", "workloads", "pps_wl_gate_slow")
    c = Checker()
    keep = os.environ.get("PPS_KEEP") == "1"
    tmp = tempfile.mkdtemp(prefix="pps_compare_")
    try:
        probe = os.path.join(tmp, "probe.data")
        r = T.run([T.perf_bin(), "record", "-q", "-e", "cpu-clock", "-g", "-o", probe, "--",
                   "true"], 120)
        if r.rc != 0:
            print(f"SKIP: perf record refused: {r.err_head()}", flush=True)
            return T.SKIP
        db = os.path.join(tmp, "gate.db")
        if check_slow(c, db, tmp, gate, slow):
            check_diff(c, db, tmp)
            check_selection(c, db)
            check_errors(c, db, tmp)
            check_single(c, db, tmp, gate, twin)
        check_same(c, db, tmp, gate, twin)
    finally:
        if keep:
            print(f"kept {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    T.summary(c.npass, c.nfail)
    return 1 if c.nfail else 0


if __name__ == "__main__":
    sys.exit(main())
