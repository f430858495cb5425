#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Record fresh perf.data files with this machine's perf and check perf2pprof against
`perf report --stats` on them.

Recordings (cpu-clock, -F 999, -g, a ~1 s Python busy loop):
  file.data    perf record -o file.data
  pipe.data    perf record -o - | (captured through a pipe)
  z.data       perf record -z (zstd; must contain COMPRESSED records)
  zpipe.data   perf record -z -o -  (perf 6.1 itself cannot decompress it: sanity only)
  tp.data      perf record -e sched:sched_switch -a -- sleep 0.5 (skipped if not permitted)
  threads.data perf record --threads (a directory: the header in data, records in data.N)
  threadsz.data  perf record --threads -z
  (both skipped when this perf has no --threads)
  group.data   perf record -e '{cpu-clock,task-clock}:S' (leader sampling, PERF_SAMPLE_READ)
Checks:
  * each readable recording: counts equal perf's exactly (as test_corpus_oracle.py)
  * file/pipe/z have the same event names, each with > 0 samples
  * `cat X | perf2pprof --info --json -` gives the same counts as reading the path, for the
    file-mode data (non-seekable input), the pipe data and the compressed data
  * tp.data names its event "sched:sched_switch"
  * group.data: a profile per group member, each with the samples and event count (the
    growth of its counter between samples) that `perf report --no-group` shows for it
  * each directory recording converts to the same profile (pprof -raw, comments aside) as
    `perf inject` of it into one file, which perf sorts itself: the data.N files are
    merged in time order, side-band before the samples it explains
Exit 77 (skip) when `perf record -e cpu-clock -o /tmp/x true` fails. Set PPS_KEEP=1 to keep
the temporary directory.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppstest as T  # noqa: E402
import pprofraw as R  # noqa: E402

WORKLOAD = [sys.executable, "-c",
            "import time\nt = time.time()\nx = 0\n"
            "while time.time() - t < 1.0:\n    x += 1\n"]
BASE = ["-e", "cpu-clock", "-F", "999", "-g"]


def perf_record(perf, args, out_path, to_pipe=False, timeout=120):
    """Run perf record; with to_pipe, `-o -` and stdout captured through a pipe into out_path.
    Returns (ok, message)."""
    env = T.quiet_env()
    if to_pipe:
        argv = [perf, "record"] + args[:-1] + ["-o", "-"] + args[-1:]
    else:
        argv = [perf, "record"] + args[:-1] + ["-o", out_path] + args[-1:]
    argv = [a for part in argv for a in (part if isinstance(part, list) else [part])]
    try:
        if to_pipe:
            with open(out_path, "wb") as f:
                p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=env)
                out, err = p.communicate(timeout=timeout)
                f.write(out)
                rc = p.returncode
        else:
            cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=env, timeout=timeout)
            rc, err = cp.returncode, cp.stderr
    except subprocess.TimeoutExpired:
        return False, f"{' '.join(argv)}: timed out"
    if rc != 0 or not os.path.exists(out_path) or os.path.getsize(out_path) == 0:
        msg = err.decode("utf-8", "replace").strip().replace("\n", " | ")[:300]
        return False, f"{' '.join(map(str, argv))}: exit {rc}: {msg}"
    return True, ""


class Checker:
    def __init__(self):
        self.npass = self.nfail = self.nskip = 0

    def result(self, name, problems, detail=""):
        if problems:
            self.nfail += 1
            print(f"FAIL {name}: " + "; ".join(problems), flush=True)
        else:
            self.npass += 1
            print(f"PASS {name}" + (f": {detail}" if detail else ""), flush=True)

    def skip(self, name, why):
        self.nskip += 1
        print(f"SKIP {name}: {why}", flush=True)


def oracle_check(c, label, path, want_compressed=False):
    """Compare with perf report --stats; returns our JSON (or None)."""
    problems = []
    r, ours, jerr = T.ours_json(path)
    problems += r.problems()
    if problems:
        c.result(label, problems + [f"stderr: {r.err_head()}"])
        return None
    ps, why, _ = T.perf_stats(path)
    if ps is None:
        c.result(label, [f"perf cannot read this fresh recording ({why}); ours exit {r.rc}"])
        return ours
    if r.rc != 0:
        problems.append(f"exit {r.rc} (perf reads it fine, TOTAL {ps.total}): {r.err_head()}")
    if jerr:
        problems.append(jerr)
        c.result(label, problems)
        return None
    if want_compressed and not ps.agg.get("COMPRESSED"):
        problems.append("perf report --stats shows no COMPRESSED records for the -z recording")
    notes = []
    problems += T.compare_with_perf(ps, ours, path, notes)
    problems += [f"self-check: {m}" for m in T.self_consistency(ours)]
    tp, _ = T.check_text_form(path, [e.get("name", "") for e in ours.get("events", [])])
    problems += tp
    detail = (f"TOTAL {ps.total}, records {ps.agg}, events "
              f"{[(n, s.get('SAMPLE', 0)) for n, s in ps.events]}")
    if notes:
        detail += " [note: " + "; ".join(notes) + "]"
    c.result(label, problems, detail)
    return ours


def stdin_check(c, label, path, ours_path_json):
    """`cat path | perf2pprof --info --json -` must give the same counts as the path."""
    r, ours, jerr = T.ours_json("-", pipe_from=["cat", path])
    problems = list(r.problems())
    if not problems:
        if ours_path_json is None:
            problems.append("no JSON from the path read to compare with")
        elif jerr:
            problems.append(f"stdin read: exit {r.rc}, {jerr}: {r.err_head()}")
        else:
            if r.rc != 0:
                problems.append(f"stdin read exit {r.rc}: {r.err_head()}")
            if ours.get("mode") != ours_path_json.get("mode"):
                problems.append(f"mode via stdin {ours.get('mode')!r} vs path "
                                f"{ours_path_json.get('mode')!r}")
            d = T.dict_diff(T.count_view(ours), T.count_view(ours_path_json))
            if d:
                problems.append("counts differ (stdin vs path): " + "; ".join(d[:6]))
    detail = ""
    if not problems and ours is not None:
        other = {k: v for k, v in ours.items() if k != "file"}
        base = {k: v for k, v in ours_path_json.items() if k != "file"}
        d = T.dict_diff(other, base)
        detail = "same counts" + (f" (NOTE other fields differ: {'; '.join(d[:4])})"
                                  if d else ", identical JSON apart from 'file'")
    c.result(label, problems, detail)


def group_profile_check(c, path, tmp):
    """Each event's profile has perf report's sample count and event count."""
    problems, detail = [], []
    r = T.run([T.perf_bin(), "report", "-i", path, "--no-group", "--stdio", "--no-children",
               "--sort", "sym"], 120)
    want = {}
    event = None
    for line in r.out_text.splitlines():
        # perf abbreviates the sample count here (1K): it comes from --stats below.
        m = re.match(r"^# Samples: \S+\s+of events? '([^']+)'", line)
        if m:
            event = m.group(1)
            want[event] = [None, None]
        m = re.match(r"^# Event count \(approx\.\): (\d+)", line)
        if m and event:
            want[event][1] = int(m.group(1))
    ps, why, _ = T.perf_stats(path)
    for name, st in (ps.events if ps else []):
        if name in want:
            want[name][0] = st.get("SAMPLE", 0)
    if sorted(want) != ["cpu-clock", "task-clock"]:
        c.result("group.data profiles", [f"perf report --no-group shows events {sorted(want)}: "
                                         f"{r.err_head()}"])
        return
    out = os.path.join(tmp, "group-out")
    r = T.run([T.perf2pprof(), "--all", "-o", out, path], 120)
    if r.rc != 0:
        c.result("group.data profiles", [f"perf2pprof --all exit {r.rc}: {r.err_head()}"])
        return
    for event, file in (("cpu-clock", "cpu.pprof"), ("task-clock", "task-clock.pprof")):
        raw, err = R.load_raw(os.path.join(out, file))
        if raw is None:
            problems.append(f"{file}: {err}")
            continue
        got = [raw.total(0), raw.total(1)]
        if got != want[event]:
            problems.append(f"{file}: {got[0]} samples, {got[1]} {event}; perf report "
                            f"--no-group: {want[event][0]} samples, event count {want[event][1]}")
        detail.append(f"{event} {got[0]} samples, {got[1]}")
    c.result("group.data: a profile per member = perf report --no-group", problems,
             "; ".join(detail))


def dir_profile_check(c, key, path, tmp):
    """The directory recording's profile equals that of perf inject's single file."""
    single = os.path.join(tmp, key + ".single.data")
    r = T.run([T.perf_bin(), "inject", "-i", path, "-o", single], 120)
    # perf inject of a directory writes a directory holding one data file.
    if os.path.isdir(single):
        single = os.path.join(single, "data")
    if r.rc != 0 or not os.path.isfile(single):
        c.skip(f"{key}.data = perf inject's single file", f"perf inject failed: {r.err_head()}")
        return
    # perf 6.1 inject copies the data.N files' COMPRESSED records into one file, where
    # they no longer decompress: perf report itself fails on it.
    ps, why, _ = T.perf_stats(single)
    if ps is None:
        c.skip(f"{key}.data = perf inject's single file",
               f"perf cannot read perf inject's output ({why})")
        return
    raws = []
    problems = []
    for src in (path, single):
        out = os.path.join(tmp, os.path.basename(src) + f".{key}.pprof")
        r = T.run([T.perf2pprof(), src, "-o", out], 120)
        problems += [f"perf2pprof {src}: {p}" for p in r.problems()]
        if r.rc != 0:
            problems.append(f"perf2pprof {src}: exit {r.rc}: {r.err_head()}")
            break
        raw, err = R.load_raw(out)
        if raw is None:
            problems.append(f"{out}: {err}")
            break
        raws.append(raw)
    if len(raws) == 2:
        def view(x):
            def loc(lid):
                l = x.locations.get(lid)
                m = x.mappings.get(l.mapping) if l and l.mapping else None
                return (l.addr, l.lines, m and m.get("file")) if l else lid
            return sorted(repr((s.values, [loc(i) for i in s.locs], sorted(s.labels.items()),
                                sorted(s.num.items()))) for s in x.samples)
        a, b = view(raws[0]), view(raws[1])
        if a != b:
            problems.append(f"samples differ: {len(a)} pprof samples from the directory, "
                            f"{len(b)} from perf inject's file")
        total = sum(s.values[0] for s in raws[0].samples)
        if not total:
            problems.append("no samples")
    c.result(f"{key}.data = perf inject's single file", problems,
             f"{len(raws[0].samples) if raws else 0} pprof samples" if not problems else "")


def main():
    T.perf2pprof()
    perf = T.perf_bin()
    if not perf:
        print("SKIP: perf is not installed")
        return T.SKIP
    tmp = tempfile.mkdtemp(prefix="pps-record-")
    keep = bool(os.environ.get("PPS_KEEP"))
    c = Checker()
    try:
        probe = os.path.join(tmp, "probe.data")
        ok, msg = perf_record(perf, ["-e", "cpu-clock", ["true"]], probe)
        if not ok:
            print(f"SKIP: perf record does not work here: {msg}")
            return T.SKIP
        paths = {k: os.path.join(tmp, k + ".data")
                 for k in ("file", "pipe", "z", "zpipe", "tp")}
        rec = {}
        for key, extra, pipe in (("file", [], False), ("pipe", [], True),
                                 ("z", ["-z"], False), ("zpipe", ["-z"], True)):
            ok, msg = perf_record(perf, extra + BASE + [["--"] + WORKLOAD], paths[key], pipe)
            rec[key] = ok
            if not ok:
                if key in ("file", "pipe"):
                    c.result(f"record {key}", [msg])
                else:
                    c.skip(f"record {key}", f"perf -z not usable here: {msg}")
        ok, msg = perf_record(perf, ["-e", "sched:sched_switch", "-a",
                                     ["--", "sleep", "0.5"]], paths["tp"])
        rec["tp"] = ok
        if not ok:
            c.skip("record tp", f"tracepoint recording not permitted: {msg}")

        js = {}
        for key, label in (("file", "file.data (file mode)"), ("pipe", "pipe.data (pipe mode)"),
                           ("z", "z.data (zstd -z)")):
            if rec.get(key):
                js[key] = oracle_check(c, label, paths[key], want_compressed=(key == "z"))

        # Same event list, > 0 samples.
        have = [k for k in ("file", "pipe", "z") if js.get(k)]
        if have:
            problems = []
            names = {k: [e.get("name") for e in js[k].get("events", [])] for k in have}
            first = names[have[0]]
            for k in have[1:]:
                if names[k] != first:
                    problems.append(f"event names {have[0]} {first} vs {k} {names[k]}")
            for k in have:
                if not js[k].get("samples"):
                    problems.append(f"{k}: 0 samples")
                elif not any(e.get("samples") for e in js[k].get("events", [])):
                    problems.append(f"{k}: no event has samples")
                if "cpu-clock" not in names[k]:
                    problems.append(f"{k}: no event named 'cpu-clock' in {names[k]}")
            c.result("same events across " + "/".join(have), problems,
                     f"{first}, samples " + ", ".join(f"{k}={js[k].get('samples')}"
                                                      for k in have))

        # Non-seekable stdin.
        for key in ("file", "pipe", "z"):
            if rec.get(key):
                stdin_check(c, f"cat {key}.data | perf2pprof --info --json -", paths[key],
                            js.get(key))

        # -z in pipe mode: perf 6.1 cannot decompress it ("Couldn't decompress data"), so only
        # sanity here (and, when perf can read it, the full comparison).
        if rec.get("zpipe"):
            ps, why, _ = T.perf_stats(paths["zpipe"])
            if ps is not None:
                oracle_check(c, "zpipe.data (-z, pipe mode)", paths["zpipe"], True)
            else:
                r, ours, jerr = T.ours_json(paths["zpipe"])
                problems = list(r.problems())
                if not problems:
                    if r.rc not in (0, 1, 3):
                        problems.append(f"exit {r.rc}")
                    if r.rc in (0, 3) and jerr:
                        problems.append(jerr)
                    if r.rc in (1, 3) and not r.err_text.strip():
                        problems.append(f"exit {r.rc} with empty stderr")
                detail = f"perf cannot read it ({why}); ours exit {r.rc}"
                if ours:
                    detail += (f", samples={ours.get('samples')} records={ours.get('records')} "
                               f"events={[e.get('name') for e in ours.get('events', [])]}")
                c.result("zpipe.data (-z, pipe mode; sanity only)", problems, detail)
                if not problems and ours and js.get("pipe"):
                    # Same recording shape as pipe.data: same event names expected.
                    a = [e.get("name") for e in ours.get("events", [])]
                    b = [e.get("name") for e in js["pipe"].get("events", [])]
                    c.result("zpipe.data event names == pipe.data's",
                             [] if a == b else [f"{a} vs {b}"], f"{a}")

        # Directory recordings (perf record --threads).
        for key, extra in (("threads", ["--threads"]), ("threadsz", ["--threads", "-z"])):
            path = os.path.join(tmp, key + ".data")
            ok, msg = perf_record(perf, extra + BASE + [["--"] + WORKLOAD], path)
            if not ok or not os.path.isdir(path):
                c.skip(f"record {key}", f"perf record {' '.join(extra)} not usable here: "
                       f"{msg or 'no directory written'}")
                continue
            nr_files = len([f for f in os.listdir(path) if f.startswith("data.")])
            if oracle_check(c, f"{key}.data ({' '.join(extra)}, {nr_files} data.N files)",
                            path, want_compressed=("-z" in extra)) is not None:
                dir_profile_check(c, key, path, tmp)

        # Leader sampling: every member of the group gets its samples from the leader's.
        path = os.path.join(tmp, "group.data")
        ok, msg = perf_record(perf, ["-e", "{cpu-clock,task-clock}:S", "-F", "999", "-g",
                                     ["--"] + WORKLOAD], path)
        if not ok:
            c.result("record group", [msg])
        elif oracle_check(c, "group.data ({cpu-clock,task-clock}:S)", path) is not None:
            group_profile_check(c, path, tmp)

        if rec.get("tp"):
            ours = oracle_check(c, "tp.data (sched:sched_switch -a)", paths["tp"])
            if ours is not None:
                names = [e.get("name") for e in ours.get("events", [])]
                c.result("tp.data event name", [] if "sched:sched_switch" in names else
                         [f"no event named 'sched:sched_switch' in {names}"], f"{names}")
    finally:
        if keep or c.nfail:
            print(f"recordings kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    T.summary(c.npass, c.nfail, c.nskip)
    return 0 if c.nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
