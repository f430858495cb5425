#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""perf2pprof --all on every corpus recording, read back by the real pprof, sample totals
against `perf report --stats`.

For every file in $PPS_CORPUS/perf-data that perf (6.1) reads (`perf report --stats`):
  * `perf2pprof --all --no-symbolize -o DIR FILE` exits 0 (or 3, damaged input, with a
    message) without crashing, and writes at least one profile when perf counts samples;
  * every profile written loads in `pprof -raw` (run with -symbolize=none);
  * per event: the sum of the samples/count values of the profile for that event equals
    perf's SAMPLE count for it. The profile for an event is found by its second sample
    type: "cpu" for cpu-clock/task-clock, else the event's name (perf --stats's name, or the
    name a full `perf report` shows, or the same name without :modifiers);
  * per event, when `perf script -F event,period` reads the file: the sum of the second
    values (cpu/nanoseconds or <event>/count) equals the sum of perf's sample periods;
  * no profile holds samples of an event perf does not list (block.pprof and mutex.pprof,
    derived profiles, excepted);
  * the same again symbolized (`--all -o DIR FILE`): same exit code, same totals.
Files perf cannot read are skipped with a note, not failed.
Prints PASS/FAIL/SKIP per file and ends with 'N passed, N failed, N skipped'.
"""

import collections
import os
import re
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppstest as T  # noqa: E402
import pprofraw as P  # noqa: E402

DERIVED = ("block.pprof", "mutex.pprof")
MODIFIERS = re.compile(r":[ukhIGHpPSDWeb]+$")


def profile_type(event):
    """The second sample type perf2pprof gives an event's profile."""
    base = MODIFIERS.sub("", event)
    return "cpu" if base in ("cpu-clock", "task-clock") else event


_PERIOD_ROW = re.compile(r"^\s*(\d+)\s+(\S+):\s*$")


def perf_period_sums(path):
    """{event name: sum of sample periods} from perf script, or (None, reason)."""
    r = T.run([T.perf_bin(), "script", "-F", "event,period", "-f", "-i", path], 300)
    if r.timed_out or r.rc != 0:
        return None, f"perf script exit {r.rc}: {r.err_head(150)}"
    sums = collections.defaultdict(int)
    for line in r.out_text.splitlines():
        m = _PERIOD_ROW.match(line)
        if not m:
            return None, f"unparsed perf script line {line[:100]!r}"
        sums[m.group(2)] += int(m.group(1))
    return dict(sums), ""


def match_periods(sums, raws):
    """Our second-value totals per type against perf script's period sums."""
    ours = collections.defaultdict(int)
    for f, raw in raws.items():
        if f in DERIVED or len(raw.sample_types) < 2:
            continue
        ours[raw.sample_types[1][0]] += raw.total(1)
    want = collections.defaultdict(int)
    problems = []
    for name, n in sums.items():
        t = next((c for c in (profile_type(name), MODIFIERS.sub("", name)) if c in ours),
                 None)
        if t is None:
            t = next((o for o in ours if MODIFIERS.sub("", o) == MODIFIERS.sub("", name)),
                     None)
        if t is None:
            problems.append(f"[{name}] perf script period sum {n}: no profile for it")
            continue
        want[t] += n
    for t, n in want.items():
        if ours[t] != n:
            problems.append(f"[{t}] second-value total {ours[t]}, perf script period sum {n}")
    return problems


def convert_all(path, outdir, extra):
    """Returns (Run, {file: Raw}, problems)."""
    os.makedirs(outdir, exist_ok=True)
    r = T.run([T.perf2pprof(), "--all"] + extra + ["-o", outdir, path], 600)
    problems = [f"{' '.join(extra) or 'symbolized'}: {p}" for p in r.problems()]
    raws = {}
    if problems:
        return r, raws, problems
    if r.rc not in (0, 3):
        problems.append(f"exit {r.rc} (perf reads this file): {r.err_head()}")
        return r, raws, problems
    if r.rc == 3 and not r.err_text.strip():
        problems.append("exit 3 with nothing on stderr")
    for f in sorted(os.listdir(outdir)):
        fp = os.path.join(outdir, f)
        if not f.endswith(".pprof"):
            problems.append(f"unexpected output file {f!r}")
            continue
        raw, err = P.load_raw(fp)
        if raw is None:
            problems.append(f"{f}: {err}")
        else:
            raws[f] = raw
    return r, raws, problems


def match_totals(ps, alt_names, raws):
    """Compare perf's per-event SAMPLE counts with our per-type totals. Returns problems."""
    problems = []
    ours = collections.defaultdict(int)   # type -> samples/count total
    files = collections.defaultdict(list)
    for f, raw in raws.items():
        if len(raw.sample_types) < 2 or raw.sample_types[0] != ("samples", "count"):
            if f not in DERIVED:
                problems.append(f"{f}: sample types {raw.sample_types}, want samples/count "
                                "first and the event's type second")
            continue
        if f in DERIVED:
            continue
        t = raw.sample_types[1][0]
        ours[t] += raw.total(0)
        files[t].append(f)
    want = collections.defaultdict(int)
    names = [n for n, _ in ps.events]
    used = set()
    for i, (name, st) in enumerate(ps.events):
        n = st.get("SAMPLE", 0)
        cands = [profile_type(name)]
        if alt_names and i < len(alt_names):
            cands.append(profile_type(alt_names[i]))
        cands.append(MODIFIERS.sub("", name))
        t = next((c for c in cands if c in ours), None)
        if t is None:
            # An event whose name we spell differently, with the same modifiers stripped.
            t = next((o for o in ours if MODIFIERS.sub("", o) == MODIFIERS.sub("", name)),
                     None)
        if t is None:
            if n:
                problems.append(f"[{name}] perf SAMPLE {n}: no profile with sample type "
                                f"{cands[0]!r} (ours: {dict(files)})")
            continue
        want[t] += n
        used.add(t)
    for t in used:
        if ours[t] != want[t]:
            problems.append(f"[{t}] samples/count total {ours[t]} in {files[t]}, perf "
                            f"SAMPLE {want[t]}")
    for t, n in ours.items():
        if t not in used and n:
            problems.append(f"{files[t]} (type {t!r}) holds {n} samples of no event perf "
                            f"lists ({names})")
    return problems, {t: ours[t] for t in sorted(ours)}


def check_file(path, tmp):
    """Returns (status, detail): status PASS, FAIL or SKIP."""
    ps, why, _ = T.perf_stats(path)
    if ps is None:
        return "SKIP", f"perf cannot read it ({why})"
    nperf = sum(st.get("SAMPLE", 0) for _, st in ps.events)
    sums, sums_why = perf_period_sums(path)
    alt = None
    problems = []
    totals = {}
    rcs = []
    for label, extra in (("unsymbolized", ["--no-symbolize"]), ("symbolized", [])):
        d = os.path.join(tmp, label)
        shutil.rmtree(d, ignore_errors=True)
        r, raws, p = convert_all(path, d, extra)
        rcs.append(r.rc)
        problems += [f"{label}: {x}" for x in p]
        if p and not raws:
            continue
        if nperf and not raws:
            problems.append(f"{label}: no profile written; perf counts {nperf} samples")
            continue
        if alt is None:
            alt = T.perf_report_names(path) or []
        mm, tot = match_totals(ps, alt, raws)
        problems += [f"{label}: {x}" for x in mm]
        if sums is not None:
            problems += [f"{label}: {x}" for x in match_periods(sums, raws)]
        totals[label] = tot
        shutil.rmtree(d, ignore_errors=True)
    if len(set(rcs)) > 1:
        problems.append(f"exit codes differ: unsymbolized {rcs[0]}, symbolized {rcs[1]}")
    if len(totals) == 2 and totals["unsymbolized"] != totals["symbolized"]:
        problems.append(f"totals differ: {totals}")
    if problems:
        return "FAIL", "; ".join(problems)
    perf_ev = {n: st.get("SAMPLE", 0) for n, st in ps.events}
    note = f" [exit {rcs[0]}]" if rcs and rcs[0] else ""
    note += (f", periods {sums}" if sums is not None
             else f" [periods not checked: {sums_why}]")
    return "PASS", f"perf {perf_ev}, ours {totals.get('unsymbolized')}{note}"


def main():
    T.perf2pprof()
    if not T.perf_bin():
        print("SKIP: perf is not installed (needed as the oracle)")
        return T.SKIP
    if not P.pprof_bin() or not os.access(P.pprof_bin(), os.X_OK):
        print(f"FATAL: pprof not found ({P.pprof_bin()}); set PPROF")
        return 1
    files = T.corpus_files("perf-data")
    tmp = tempfile.mkdtemp(prefix="pps-corpus-pprof-")
    npass = nfail = nskip = 0
    try:
        for f in files:
            status, detail = check_file(f, tmp)
            print(f"{status} {os.path.basename(f)}: {detail}", flush=True)
            if status == "PASS":
                npass += 1
            elif status == "FAIL":
                nfail += 1
            else:
                nskip += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if npass == 0 and nfail == 0:
        print(f"FAIL: perf read none of the {len(files)} corpus files; nothing was checked")
        nfail = 1
    T.summary(npass, nfail, nskip)
    return 0 if nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
