# SPDX-License-Identifier: BSD-2-Clause
"""Shared helpers for the perf2pprof test scripts (Python 3 stdlib only).

Environment:
  PERF2PPROF  path of the perf2pprof binary (default: <repo>/build/cmd/perf2pprof)
  PPS_CORPUS  corpus directory holding perf-data/ and fuzz/ (default: <repo>/../shared/corpus)
  PPS_PERF    perf binary used as the oracle (default: perf)
"""

import json
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = 77  # ctest SKIP_RETURN_CODE

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "LeakSanitizer",
    "runtime error:",
    "AddressSanitizer:DEADLYSIGNAL",
    "ERROR: UndefinedBehaviorSanitizer",
)

# perf's record type names (tools/perf/util/event.c perf_event__names), by type number.
PERF_RECORD_NAMES = {
    1: "MMAP", 2: "LOST", 3: "COMM", 4: "EXIT", 5: "THROTTLE", 6: "UNTHROTTLE",
    7: "FORK", 8: "READ", 9: "SAMPLE", 10: "MMAP2", 11: "AUX", 12: "ITRACE_START",
    13: "LOST_SAMPLES", 14: "SWITCH", 15: "SWITCH_CPU_WIDE", 16: "NAMESPACES",
    17: "KSYMBOL", 18: "BPF_EVENT", 19: "CGROUP", 20: "TEXT_POKE",
    21: "AUX_OUTPUT_HW_ID", 64: "ATTR", 65: "EVENT_TYPE", 66: "TRACING_DATA",
    67: "BUILD_ID", 68: "FINISHED_ROUND", 69: "ID_INDEX", 70: "AUXTRACE_INFO",
    71: "AUXTRACE", 72: "AUXTRACE_ERROR", 73: "THREAD_MAP", 74: "CPU_MAP",
    75: "STAT_CONFIG", 76: "STAT", 77: "STAT_ROUND", 78: "EVENT_UPDATE",
    79: "TIME_CONV", 80: "FEATURE", 81: "COMPRESSED", 82: "FINISHED_INIT",
}


def perf2pprof():
    p = os.environ.get("PERF2PPROF") or os.path.join(REPO, "build", "cmd", "perf2pprof")
    if not os.access(p, os.X_OK):
        print(f"FATAL: perf2pprof binary not found or not executable: {p} "
              "(set PERF2PPROF)", flush=True)
        sys.exit(1)
    return p


def corpus_dir():
    d = os.environ.get("PPS_CORPUS") or os.path.join(REPO, "..", "shared", "corpus")
    d = os.path.abspath(d)
    if not os.path.isdir(d):
        print(f"FATAL: corpus directory not found: {d} (set PPS_CORPUS)", flush=True)
        sys.exit(1)
    return d


def corpus_files(sub):
    d = os.path.join(corpus_dir(), sub)
    if not os.path.isdir(d):
        print(f"FATAL: corpus directory not found: {d}", flush=True)
        sys.exit(1)
    out = sorted(os.path.join(d, f) for f in os.listdir(d)
                 if os.path.isfile(os.path.join(d, f)))
    if not out:
        print(f"FATAL: no files in {d}", flush=True)
        sys.exit(1)
    return out


def perf_bin():
    return os.environ.get("PPS_PERF") or shutil.which("perf")


def quiet_env():
    """Environment for perf / perf2pprof: never page, no user perf config, C locale."""
    env = dict(os.environ)
    env.update({"PAGER": "cat", "PERF_PAGER": "cat", "PERF_CONFIG": "/dev/null",
                "LC_ALL": "C", "LANG": "C", "TERM": "dumb"})
    # Make sanitizer reports deterministic and fatal (only affects the ASan build).
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1:allocator_may_return_null=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


class Run:
    """Outcome of one subprocess run."""

    def __init__(self, argv, rc, out, err, timed_out):
        self.argv, self.rc, self.out, self.err, self.timed_out = argv, rc, out, err, timed_out

    @property
    def out_text(self):
        return self.out.decode("utf-8", "replace")

    @property
    def err_text(self):
        return self.err.decode("utf-8", "replace")

    def problems(self):
        """Crash / hang / sanitizer findings; empty list when the run was sane."""
        p = []
        if self.timed_out:
            p.append("timed out (hang?)")
        elif self.rc is None or self.rc < 0:
            p.append(f"killed by signal {-self.rc if self.rc is not None else '?'}")
        elif self.rc >= 128:
            p.append(f"exit code {self.rc} (signal death?)")
        err = self.err_text
        for m in SANITIZER_MARKERS:
            if m in err:
                line = next((l for l in err.splitlines() if m in l), m)
                p.append(f"sanitizer: {line.strip()[:200]}")
                break
        return p

    def err_head(self, n=300):
        return self.err_text.strip().replace("\n", " | ")[:n]


def run(argv, timeout, stdin_path=None, stdin_bytes=None):
    """Run argv; stdin from a file, from bytes, or /dev/null."""
    env = quiet_env()
    fin = None
    try:
        if stdin_path is not None:
            fin = open(stdin_path, "rb")
            kw = {"stdin": fin}
        elif stdin_bytes is not None:
            kw = {"input": stdin_bytes}
        else:
            kw = {"stdin": subprocess.DEVNULL}
        try:
            cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                timeout=timeout, env=env, **kw)
            return Run(argv, cp.returncode, cp.stdout, cp.stderr, False)
        except subprocess.TimeoutExpired as e:
            return Run(argv, None, e.stdout or b"", e.stderr or b"", True)
    finally:
        if fin:
            fin.close()


def run_piped(producer_argv, consumer_argv, timeout):
    """producer | consumer through a real (non-seekable) pipe; returns the consumer's Run."""
    env = quiet_env()
    prod = subprocess.Popen(producer_argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    cons = subprocess.Popen(consumer_argv, stdin=prod.stdout, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    prod.stdout.close()
    try:
        out, err = cons.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        cons.kill()
        out, err = cons.communicate()
        timed_out = True
    try:
        prod.wait(timeout=10)
    except subprocess.TimeoutExpired:
        prod.kill()
        prod.wait()
    return Run(consumer_argv, None if timed_out else cons.returncode, out, err, timed_out)


def ours_json(path, timeout=120, stdin_path=None, pipe_from=None):
    """Run `perf2pprof --info --json path`. Returns (Run, dict-or-None, json_error-or-None)."""
    argv = [perf2pprof(), "--info", "--json", path]
    if pipe_from is not None:
        r = run_piped(pipe_from, argv, timeout)
    else:
        r = run(argv, timeout, stdin_path=stdin_path)
    data, jerr = None, None
    if r.out.strip():
        try:
            data = json.loads(r.out_text)
            if not isinstance(data, dict):
                data, jerr = None, "stdout JSON is not an object"
        except ValueError as e:
            jerr = f"stdout is not one JSON object: {e}"
    else:
        jerr = "no JSON on stdout"
    return r, data, jerr


# ---------------------------------------------------------------- perf report --stats oracle

_STAT_LINE = re.compile(r"^\s*(\S+) events:\s+(-?\d+)(?:\s+\(\s*[\d.]+%\))?\s*$")
_EVT_HDR = re.compile(r"^(\S.*) stats:\s*$")


class PerfStats:
    def __init__(self):
        self.note = ""          # text after "Aggregated stats:" (e.g. the AUX exclusion note)
        self.total = None       # TOTAL events
        self.agg = {}           # type name -> count (TOTAL excluded)
        self.events = []        # [(evsel name, {"SAMPLE": n, "LOST_SAMPLES": n})]


def parse_perf_stats(text):
    ps = PerfStats()
    state = None
    cur = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("Aggregated stats:"):
            ps.note = line[len("Aggregated stats:"):].strip()
            state = "agg"
            continue
        m = _STAT_LINE.match(line)
        if m and state == "agg":
            name, n = m.group(1), int(m.group(2))
            if name == "TOTAL":
                ps.total = n
            else:
                ps.agg[name] = n
            continue
        if m and state == "evt":
            cur[1][m.group(1)] = int(m.group(2))
            continue
        h = _EVT_HDR.match(line)
        if h and state in ("agg", "evt"):
            cur = (h.group(1), {})
            ps.events.append(cur)
            state = "evt"
            continue
        raise ValueError(f"unparsed perf --stats line: {line!r}")
    if state is None:
        raise ValueError("no 'Aggregated stats:' block in perf output")
    if ps.total is None:
        ps.total = 0  # perf skips the TOTAL line when it is 0 (skip_empty)
    return ps


def perf_stats(path, timeout=120):
    """Run `perf report --stats -i path`. Returns (PerfStats or None, reason, Run).

    None means perf 6.1 cannot read the file (it exits 0 even then, so stderr is checked too).
    """
    perf = perf_bin()
    if not perf:
        return None, "perf not installed", None
    r = run([perf, "report", "--stats", "-f", "-i", path], timeout)
    err = r.err_text
    if r.timed_out:
        return None, "perf timed out", r
    if r.rc != 0:
        return None, f"perf exit {r.rc}: {r.err_head(200)}", r
    if re.search(r"Error|failed to process|Couldn't|can't|cannot|incompatible|not a perf",
                 err, re.I):
        return None, f"perf error: {r.err_head(200)}", r
    try:
        ps = parse_perf_stats(r.out_text)
    except ValueError as e:
        return None, f"perf output not parsed: {e}", r
    return ps, "", r


def _s32(n):
    """perf prints these u32 counters with %d."""
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n & 0x80000000 else n


_REPORT_EVT = re.compile(r"^# Samples: \S+\s+of events? '(.*)'\s*$")


def perf_report_names(path, timeout=120):
    """Evsel names as full `perf report` shows them (it applies EVENT_UPDATE name records and
    pipe-mode FEATURE records, which the --stats mode of perf 6.1 ignores). None on failure."""
    perf = perf_bin()
    r = run([perf, "report", "--stdio", "--no-group", "--sort", "pid", "-f", "-i", path],
            timeout)
    if r.timed_out or r.rc != 0:
        return None
    names = []
    for line in r.out_text.splitlines():
        m = _REPORT_EVT.match(line)
        if m:
            names.append(m.group(1))
    return names


def compare_with_perf(ps, ours, path=None, notes=None):
    """Mismatches between perf's --stats and our --info --json (list of strings).

    Event names: perf 6.1's --stats mode replaces the tool callbacks (builtin-report.c
    stats_setup), so EVENT_UPDATE(NAME) records and pipe-mode FEATURE(EVENT_DESC) records are
    not applied and it prints attr-derived names (e.g. "cycles:uH" where the recording says
    "cycles:u"). When the --stats names differ from ours, the names printed by a full
    `perf report` are accepted instead (appended to notes when given)."""
    mm = []
    try:
        records = ours["records"]
        events = ours["events"]
        total = ours["total_records"]
    except (KeyError, TypeError) as e:
        return [f"our JSON lacks {e}"]
    # (a) aggregated record counts, both directions
    if total != ps.total:
        mm.append(f"TOTAL: perf {ps.total}, ours total_records {total}")
    for name, n in ps.agg.items():
        if records.get(name, 0) != n:
            mm.append(f"{name}: perf {n}, ours {records.get(name, 0)}")
    for name, n in records.items():
        if n and name not in ps.agg:
            mm.append(f"{name}: perf 0 (not listed), ours {n}")
    # (b) per-event blocks. perf 6.1 (builtin-report.c stats mode, hist.c
    # evlist__fprintf_nr_events with skip_empty) prints only evsels with samples or lost samples;
    # its "LOST_SAMPLES events" is the SUM of the lost fields of the LOST_SAMPLES records
    # attributed to that evsel (hists__inc_nr_lost_samples(hists, event->lost_samples.lost)).
    ours_ev = [e for e in events
               if e.get("samples", 0) or _s32(e.get("lost_samples", 0))]
    pn = [n for n, _ in ps.events]
    on = [e.get("name") for e in ours_ev]
    if pn != on:
        alt = perf_report_names(path) if path else None
        on_s = [e.get("name") for e in ours_ev if e.get("samples", 0)]
        if alt is not None and alt == on_s and len(on) == len(pn):
            if notes is not None:
                notes.append(f"names per full perf report {alt} (perf --stats: {pn})")
        else:
            mm.append(f"event blocks: perf {pn}, ours (non-empty) {on}"
                      + (f", full perf report {alt}" if alt is not None else ""))
    for (name, st), e in zip(ps.events, ours_ev):
        if st.get("SAMPLE", 0) != e.get("samples"):
            mm.append(f"[{name}] SAMPLE: perf {st.get('SAMPLE', 0)}, ours {e.get('samples')}")
        if st.get("LOST_SAMPLES", 0) != _s32(e.get("lost_samples", 0)):
            mm.append(f"[{name}] LOST_SAMPLES (sum of lost): perf {st.get('LOST_SAMPLES', 0)}, "
                      f"ours lost_samples {e.get('lost_samples')} "
                      f"(lost_samples_records {e.get('lost_samples_records')})")
        extra = set(st) - {"SAMPLE", "LOST_SAMPLES"}
        if extra:
            mm.append(f"[{name}] unexpected perf per-event rows {sorted(extra)}")
    return mm


def self_consistency(ours):
    """Checks of our JSON against itself (contract invariants)."""
    mm = []
    rec = ours.get("records", {})
    for key, typ in (("samples", "SAMPLE"), ("lost_records", "LOST"),
                     ("lost_samples_records", "LOST_SAMPLES"),
                     ("throttled", "THROTTLE"), ("unthrottled", "UNTHROTTLE")):
        if key in ours and ours[key] != rec.get(typ, 0):
            mm.append(f"json {key}={ours[key]} but records[{typ}]={rec.get(typ, 0)}")
    if sum(rec.values()) > ours.get("total_records", 0):
        mm.append(f"sum(records)={sum(rec.values())} > total_records={ours.get('total_records')}")
    unknown = set(rec) - set(PERF_RECORD_NAMES.values())
    if unknown:
        mm.append(f"records has non-perf type names {sorted(unknown)}")
    if ours.get("mode") not in ("file", "pipe"):
        mm.append(f"mode={ours.get('mode')!r}")
    for e in ours.get("events", []):
        n = e.get("name")
        if not isinstance(n, str) or not n or not n.isprintable():
            mm.append(f"event name not printable: {n!r}")
    return mm


COUNT_KEYS = ("records", "total_records", "samples", "lost_records", "lost",
              "lost_samples_records", "lost_samples", "throttled", "unthrottled",
              "first_time_ns", "last_time_ns", "unknown_records", "bad_records",
              "unknown_id_samples", "truncated", "truncated_bytes")
EVENT_COUNT_KEYS = ("name", "ids", "samples", "period", "lost_records", "lost",
                    "lost_samples_records", "lost_samples", "throttled", "unthrottled",
                    "first_time_ns", "last_time_ns")


def count_view(d):
    """The count-bearing part of our JSON, for comparing two reads of the same data."""
    v = {k: d.get(k) for k in COUNT_KEYS}
    v["events"] = [{k: e.get(k) for k in EVENT_COUNT_KEYS} for e in d.get("events", [])]
    return v


def dict_diff(a, b, prefix=""):
    """First few differences between two JSON values, as strings."""
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append(f"{prefix}{k}: missing vs {b[k]!r}"[:300])
            elif k not in b:
                out.append(f"{prefix}{k}: {a[k]!r} vs missing"[:300])
            else:
                out += dict_diff(a[k], b[k], f"{prefix}{k}.")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out += dict_diff(x, y, f"{prefix}{i}.")
    elif a != b:
        out.append(f"{prefix.rstrip('.')}: {a!r} vs {b!r}"[:300])
    return out


def check_text_form(path, event_names, timeout=120, stdin_path=None):
    """`perf2pprof --info path` runs sanely and mentions each event name. Returns problems."""
    r = run([perf2pprof(), "--info", path], timeout, stdin_path=stdin_path)
    p = [f"text: {x}" for x in r.problems()]
    if p:
        return p, r
    if r.rc not in (0, 1, 3):
        p.append(f"text: exit {r.rc} not in {{0,1,3}}")
    if r.rc in (0, 3):
        for n in event_names:
            if n not in r.out_text:
                p.append(f"text: event name {n!r} not in output")
    return p, r


def summary(passed, failed, skipped=0):
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line, flush=True)
