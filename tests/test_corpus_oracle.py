#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""perf2pprof --info --json against `perf report --stats` on every corpus recording.

For every file in $PPS_CORPUS/perf-data:
  * perf (6.1) reads it: our record counts must equal perf's "Aggregated stats" exactly
    (both directions), and the per-event blocks must list the same evsels in the same order
    with the same SAMPLE and LOST_SAMPLES counts; our exit code must be 0 or 3 with JSON.
  * perf cannot read it: ours must not crash and must exit 0, 1 or 3.
  * always: the text form (--info) must run without crashing, with the same exit code as
    --json, and mention every event name.
Exit 0 when every file passes, 1 otherwise.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppstest as T  # noqa: E402


def check_file(path):
    """Returns (ok, detail)."""
    problems = []
    r, ours, jerr = T.ours_json(path)
    crash = r.problems()
    if crash:
        return False, f"json run: {'; '.join(crash)}; stderr: {r.err_head()}"
    ps, why, _ = T.perf_stats(path)
    if ps is None:
        # perf 6.1 cannot read it: only sanity.
        if r.rc not in (0, 1, 3):
            problems.append(f"exit {r.rc} not in {{0,1,3}} (perf: {why})")
        if r.rc in (0, 3) and jerr:
            problems.append(f"exit {r.rc} but {jerr}")
        if r.rc in (1, 3) and not r.err_text.strip():
            problems.append(f"exit {r.rc} with empty stderr")
        names = [e.get("name", "") for e in ours.get("events", [])] if ours else []
        tp, _ = T.check_text_form(path, names)
        problems += tp
        if problems:
            return False, "; ".join(problems)
        extra = ""
        if ours:
            extra = (f" ours: total_records={ours.get('total_records')} "
                     f"samples={ours.get('samples')} truncated={ours.get('truncated')} "
                     f"bad_records={ours.get('bad_records')}")
        return True, f"perf cannot read it ({why}); ours exit {r.rc}{extra}"
    if r.rc not in (0, 3):
        return False, (f"perf reads it (TOTAL {ps.total}) but ours exit {r.rc}: "
                       f"{r.err_head()}")
    if jerr:
        return False, f"exit {r.rc} but {jerr}"
    notes = []
    problems += T.compare_with_perf(ps, ours, path, notes)
    problems += [f"self-check: {m}" for m in T.self_consistency(ours)]
    tp, tr = T.check_text_form(path, [e.get("name", "") for e in ours.get("events", [])])
    problems += tp
    if tr.rc != r.rc and not tr.problems():
        problems.append(f"text form exit {tr.rc} != json form exit {r.rc}")
    if problems:
        return False, "; ".join(problems)
    note = f" [exit 3: {r.err_head(150)}]" if r.rc == 3 else ""
    if notes:
        note += " [note: " + "; ".join(notes) + "]"
    return True, (f"TOTAL {ps.total}, {len(ps.events)} event block(s), "
                  f"{ours.get('samples')} samples{note}")


def main():
    T.perf2pprof()
    if not T.perf_bin():
        print("SKIP: perf is not installed (needed as the oracle)")
        return T.SKIP
    files = T.corpus_files("perf-data")
    npass = nfail = 0
    for f in files:
        ok, detail = check_file(f)
        name = os.path.basename(f)
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
        if ok:
            npass += 1
        else:
            nfail += 1
    T.summary(npass, nfail)
    return 0 if nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
