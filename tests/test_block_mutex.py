#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""perf2pprof block and mutex profiles against oracles, on workloads recorded at test time.

Workloads (tests/workloads, built by CMake; paths from PPS_WL_SLEEPER, PPS_WL_MMAPPER,
PPS_WL_MUTEXER, else <repo>/build/tests/workloads/pps_wl_*):
  sleeper  main -> sleep_long (~300 ms of nanosleep) and sleep_short (~100 ms); prints the
           time it measured around its own nanosleep calls
  mmapper  4 threads looping mmap / touch / munmap: the mmap_lock rwsem is contended
  mutexer  4 threads fighting over one pthread mutex: futex(FUTEX_WAIT_PRIVATE) waits
Recordings (each made here, -g everywhere):
  sleeper.data   perf record -e sched:sched_switch -g -a -- sleeper   (-a: the switch-in
                 of a thread is recorded in the context of the task switched out)
  mmapper.data, mutexer.data
                 perf record -e lock:contention_begin -e lock:contention_end
                   -e syscalls:sys_enter_futex -e syscalls:sys_exit_futex -g -- WORKLOAD
  lockrec.data   perf lock record -- mmapper   (perf's own recipe: -R -c 1, fp callchains)
  combined.data  perf record -e cpu-clock + all of the above -g -a -- mutexer
  cpu.data       perf record -e cpu-clock -g -- sleeper  (no tracepoints)

Oracles:
  spec     the pairing the spec describes, computed here from `perf script` (tid, time,
           trace fields): block = per thread, switch-out (prev_pid) to the next switch-in
           (next_pid), state from prev_state, still-off-CPU threads up to the last sample
           time; futex = sys_enter_futex (WAIT, WAIT_BITSET, LOCK_PI, LOCK_PI2,
           WAIT_REQUEUE_PI, flags masked as the kernel does) to the thread's next
           sys_exit_futex
  timehist `perf sched timehist --state`: its "wait time" on a line is the time the thread
           was off-CPU before that switch-in (sleep, iowait and preempt together); the
           state that wait belongs to is the one printed on the thread's PREVIOUS line.
           perf 6.1 prints states with its own letter table ("RSDTtZXxKWP" by bit), which
           is older than this kernel's: letters are mapped back through the bit to the
           recorded print fmt (so 6.1's 'K' is I, 'W' is R+ = preempted, 'Z'/'X' swap).
           timehist prints times truncated to the microsecond, so each line may be up to
           1 us short: tolerance max(1%, lines x 1 us). It does not see waits that the
           recording ends in: those (from the spec oracle) are taken out of ours first.
  lock     `perf lock contention -i FILE -E 1000000` (per caller; summed per lock type,
           whose names map rwsem:W -> rwsem:write, pcpu-sem:R -> percpu-rwsem:read, ...)
           and `perf lock contention -t` (per thread), times printed with 2 decimals
  pprof    the real Go pprof reads both profiles: -raw, -top -cum, -traces
  workload the sleeper's own CLOCK_MONOTONIC measurement of its sleeps

Checks:
  block      sample types contentions/count delay/nanoseconds; labels pid, tid (numeric),
             comm, state (strings); no state R by default; per (tid, state) count and
             delay = spec oracle (within 1%); per (tid, state) delay = timehist's (within
             max(1%, lines x 1 us), states other than R and the exit states X/Z, waits
             cut by the end of the recording removed); sleep_long and sleep_short delay
             each within 5% of the sleeper's measurement, in stacks where a nanosleep frame
             is below them (-raw and -traces), and -top -cum puts sleep_long above
             sleep_short and every other workload function but main
  preempted  --include-preempted adds exactly the spec oracle's state R waits, labelled
             state=R, and leaves the rest unchanged
  mutex      sample types; lock label values from the spec's set; addr labels are hex;
             kernel locks per lock type (contentions and delay) = perf lock contention
             (within 1%); per thread = perf lock contention -t (within 1%); futex waits
             (lock=futex) count/delay total, per thread and per uaddr = spec oracle
             (within 1%); symbol labels agree with kallsyms; pprof -top -cum: the rwsem
             delay is under mmap/munmap paths and map_loop (mmapper), the futex delay
             under the lock-wait path and lock_loop (mutexer)
  lockrec    a `perf lock record` file: kernel lock totals per type = perf lock contention
  all        --all -o DIR writes cpu.pprof, block.pprof and mutex.pprof, each equal to the
             single-type conversion (pprof -raw), cpu.pprof with perf's cpu-clock count
  missing    --type block / --type mutex on a recording without their events: exit 1 and
             the message names the events to record (sched:sched_switch;
             lock:contention_begin ... and the futex syscalls)
Exit 77 (skip) when perf, the tracepoints or perf_event_open are unavailable. PPS_KEEP=1
keeps the temporary directory.
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
from test_convert import Checker, convert, convert_load  # noqa: E402

REL = 0.01           # oracle tolerance: 1%
SLEEP_REL = 0.05     # sleeper: within 5% of its own measurement
TIMEHIST_RES = 1000  # ns: timehist prints times truncated to the microsecond
LOCK_EVENTS = ["-e", "lock:contention_begin", "-e", "lock:contention_end",
               "-e", "syscalls:sys_enter_futex", "-e", "syscalls:sys_exit_futex"]
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
OTHER_TP = "sched:sched_process_exit"  # an event neither block nor mutex uses

# Lock types by their long names (the numbers are compared through these), and perf 6.1's
# type names (builtin-lock.c get_type_str), which the lock label uses.
SPEC_LOCKS = {"spinlock", "rwlock:read", "rwlock:write", "rwsem:read", "rwsem:write",
              "mutex", "rtmutex", "percpu-rwsem:read", "percpu-rwsem:write", "futex"}
PERF_LOCK_TYPES = {"spinlock": "spinlock", "rwlock:R": "rwlock:read",
                   "rwlock:W": "rwlock:write", "rwsem:R": "rwsem:read",
                   "rwsem:W": "rwsem:write", "rtmutex": "rtmutex", "mutex": "mutex",
                   "pcpu-sem:R": "percpu-rwsem:read", "pcpu-sem:W": "percpu-rwsem:write",
                   "semaphore": "semaphore", "rwlock-rt:R": "rwlock-rt:read",
                   "rwlock-rt:W": "rwlock-rt:write", "unknown": "unknown"}


def spec_lock(name):
    """Our lock label as the spec names it: perf's short names (rwsem:W, pcpu-sem:R) are
    mapped, so that the numbers are compared even where the label check fails."""
    return PERF_LOCK_TYPES.get(name, name) if name != "futex" else name


# contention_begin flags (include/trace/events/lock.h LCB_F_*) -> spec name.
LCB = {"SPIN": 1, "READ": 2, "WRITE": 4, "RT": 8, "PERCPU": 16, "MUTEX": 32}
FLAGS_TYPES = {1: "spinlock", 3: "rwlock:read", 5: "rwlock:write", 2: "rwsem:read",
               4: "rwsem:write", 8: "rtmutex", 18: "percpu-rwsem:read",
               20: "percpu-rwsem:write", 32: "mutex", 33: "mutex", 0: "semaphore"}
# Futex commands that wait (include/uapi/linux/futex.h), and the kernel's FUTEX_CMD_MASK.
FUTEX_WAIT_CMDS = {0: "WAIT", 9: "WAIT_BITSET", 6: "LOCK_PI", 13: "LOCK_PI2",
                   11: "WAIT_REQUEUE_PI"}
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
# perf 6.1 builtin-sched.c TASK_STATE_TO_CHAR_STR: letter i stands for bit 1 << (i - 1).
PERF61_STATES = "RSDTtZXxKWP"
EXIT_STATES = {"X", "Z"}


def workload(name):
    p = os.environ.get(f"PPS_WL_{name.upper()}") or os.path.join(
        T.REPO, "build", "tests", "workloads", f"pps_wl_{name}")
    return p if os.access(p, os.X_OK) else None


def tracepoint_exists(tp):
    sysname, name = tp.split(":")
    return any(os.path.isdir(os.path.join(d, "events", sysname, name)) for d in TRACEFS)


def record(out, args, cmd, timeout=300, lock_record=False):
    """perf record ARGS -o OUT -- CMD (or perf lock record). Returns (Run, problem)."""
    head = [T.perf_bin(), "lock", "record"] if lock_record else [T.perf_bin(), "record"]
    argv = head + args + ["-o", out, "--"] + cmd
    r = T.run(argv, timeout)
    if r.timed_out or r.rc != 0 or not os.path.exists(out) or os.path.getsize(out) == 0:
        return r, f"{' '.join(argv)}: exit {r.rc}: {r.err_head()}"
    return r, ""


def workload_output(r):
    """key=value pairs the workload printed (perf record passes its stdout through)."""
    kv = {}
    for k, v in re.findall(r"(\w+)=(\d+)", r.out_text):
        kv[k] = int(v)
    return kv


def pct(a, b):
    return 100.0 * (a - b) / b if b else (0.0 if a == 0 else float("inf"))


def close(a, b, rel=REL, absolute=0):
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), absolute)


def ms(ns):
    return f"{ns / 1e6:.3f}ms"


# ---------------------------------------------------------------- perf script oracle

class TP:
    __slots__ = ("comm", "pid", "tid", "cpu", "time", "event", "trace")


_TP_LINE = re.compile(r"^\s*(.*?)\s+(-?\d+)/(-?\d+)\s+\[(\d+)\]\s+(\d+)\.(\d+):\s+(\S+):\s?(.*)$")


def perf_script_tp(path):
    """Every sample as a TP (trace: perf's text for the tracepoint's fields), time order."""
    r = T.run([T.perf_bin(), "script", "-F", "comm,pid,tid,cpu,time,event,trace", "--ns",
               "-f", "-i", path], 600)
    if r.rc != 0 or r.timed_out:
        raise RuntimeError(f"perf script -i {path}: exit {r.rc}: {r.err_head()}")
    out = []
    for line in r.out_text.splitlines():
        if not line.strip():
            continue
        m = _TP_LINE.match(line)
        if not m:
            raise RuntimeError(f"unparsed perf script line: {line!r}")
        s = TP()
        s.comm, s.pid, s.tid, s.cpu = m.group(1), int(m.group(2)), int(m.group(3)), \
            int(m.group(4))
        s.time = int(m.group(5)) * 1_000_000_000 + int((m.group(6) + "000000000")[:9])
        s.event, s.trace = m.group(7), m.group(8)
        out.append(s)
    return out


_SWITCH = re.compile(r"prev_comm=(.*) prev_pid=(-?\d+) prev_prio=(-?\d+) prev_state=(\S+) "
                     r"==> next_comm=(.*) next_pid=(-?\d+) next_prio=(-?\d+)")


class Wait:
    __slots__ = ("pid", "tid", "comm", "kind", "key", "start", "end", "truncated",
                 "trace_comm", "th_blind")

    @property
    def delay(self):
        return self.end - self.start


def block_oracle(samples, unpaired=None):
    """The spec's off-CPU waits from sched_switch samples (all states, R included). A
    switch-out while the thread's previous one is still unpaired (its switch-in is not in
    the recording) replaces it; such tids are added to the set unpaired when given."""
    pending = {}
    waits = []
    last_done = {}
    last = max((s.time for s in samples), default=0)
    for s in samples:
        if s.event != "sched:sched_switch":
            continue
        m = _SWITCH.search(s.trace)
        if not m:
            raise RuntimeError(f"unparsed sched_switch trace: {s.trace!r}")
        prev, state, nxt = int(m.group(2)), m.group(4), int(m.group(6))
        # "R+" is preempted; "S|D"-style combinations keep their first letter.
        letter = state[0]
        if prev != 0:
            if prev in pending and unpaired is not None:
                unpaired.add(prev)
            # A dead task's last switch-out carries pid/tid -1 in the sample (the kernel
            # has detached its pid), so timehist, which goes by the sample's tid, never
            # prints the wait that this switch-out closes its run after.
            if s.tid != prev and prev in last_done:
                last_done[prev].th_blind = True
            w = Wait()
            w.pid, w.tid, w.comm, w.kind, w.key = s.pid, prev, s.comm, letter, 0
            w.trace_comm, w.th_blind = m.group(1), False
            w.start, w.truncated = s.time, False
            pending[prev] = w
        if nxt in pending:
            w = pending.pop(nxt)
            w.end = s.time
            waits.append(w)
            last_done[nxt] = w
    for w in pending.values():
        w.end, w.truncated = last, True
        waits.append(w)
    return waits


def futex_oracle(samples, cmd_mask=~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)):
    """The spec's futex waits: enter of a waiting op to the thread's next exit."""
    pending = {}
    waits = []
    last = max((s.time for s in samples), default=0)
    for s in samples:
        if s.event == "syscalls:sys_enter_futex":
            f = dict(re.findall(r"(\w+): (0x[0-9a-fA-F]+)", s.trace))
            if "op" not in f or "uaddr" not in f:
                raise RuntimeError(f"unparsed sys_enter_futex trace: {s.trace!r}")
            op = int(f["op"], 16)
            pending.pop(s.tid, None)
            if (op & cmd_mask) in FUTEX_WAIT_CMDS:
                w = Wait()
                w.pid, w.tid, w.comm, w.kind = s.pid, s.tid, s.comm, "futex"
                w.key, w.start, w.truncated = int(f["uaddr"], 16), s.time, False
                pending[s.tid] = w
        elif s.event == "syscalls:sys_exit_futex":
            w = pending.pop(s.tid, None)
            if w is not None:
                w.end = s.time
                waits.append(w)
    for w in pending.values():
        w.end, w.truncated = last, True
        waits.append(w)
    return waits


_LOCK_BEGIN = re.compile(r"^(0x[0-9a-f]+) \(flags=(.*)\)$")
_LOCK_END = re.compile(r"^(0x[0-9a-f]+) \(ret=(-?\d+)\)$")


def lock_oracle(samples):
    """Kernel lock waits as perf lock pairs them: per (tid, lock address), a begin while
    one is pending is ignored (mutex: optimistic spin, then sleep), the end completes."""
    pending = {}
    waits = []
    for s in samples:
        if s.event == "lock:contention_begin":
            m = _LOCK_BEGIN.match(s.trace.strip())
            if not m:
                raise RuntimeError(f"unparsed contention_begin trace: {s.trace!r}")
            addr = int(m.group(1), 16)
            bits = 0
            for f in m.group(2).split("|"):
                bits |= LCB.get(f, 0)
            if (s.tid, addr) in pending:
                continue
            w = Wait()
            w.pid, w.tid, w.comm = s.pid, s.tid, s.comm
            w.kind, w.key, w.start, w.truncated = FLAGS_TYPES.get(bits, f"flags{bits}"), \
                addr, s.time, False
            pending[(s.tid, addr)] = w
        elif s.event == "lock:contention_end":
            m = _LOCK_END.match(s.trace.strip())
            if not m:
                raise RuntimeError(f"unparsed contention_end trace: {s.trace!r}")
            w = pending.pop((s.tid, int(m.group(1), 16)), None)
            if w is not None:
                w.end = s.time
                waits.append(w)
    return waits


def sum_by(waits, key):
    d = collections.defaultdict(lambda: [0, 0])
    for w in waits:
        v = d[key(w)]
        v[0] += 1
        v[1] += w.delay
    return d


# ---------------------------------------------------------------- perf sched timehist

_TH_LINE = re.compile(r"^\s*(\d+\.\d+)\s+\[(\d+)\]\s+(.*)\[(\d+)(?:/(\d+))?\]\s+(\d+)\.(\d+)\s+"
                      r"(\d+)\.(\d+)\s+(\d+)\.(\d+)\s+(\S)\s*$")


def state_letters():
    """Bit -> letter, from the running kernel's sched_switch print fmt (the recordings are
    made here), plus the bit above the flags (TASK_REPORT_MAX: preempted) -> R."""
    table = {}
    for d in TRACEFS:
        f = os.path.join(d, "events", "sched", "sched_switch", "format")
        try:
            with open(f) as fh:
                text = fh.read()
        except OSError:
            continue
        m = re.search(r'__print_flags\(.*?"\|",(.*?)\) :', text)
        if m:
            for bit, letter in re.findall(r'\{\s*(0x[0-9a-fA-F]+|\d+),\s*"(\w)"\s*\}',
                                          m.group(1)):
                table[int(bit, 0)] = letter
        break
    if not table:  # the usual TASK_REPORT order since Linux 4.14
        table = {1 << i: c for i, c in enumerate("SDTtXZPI")}
    table[max(table) << 1] = "R"
    table[0] = "R"
    return table


def timehist(path):
    """{tid: [(wait_ns, state)]} in line order, state mapped to this kernel's letters."""
    r = T.run([T.perf_bin(), "sched", "timehist", "--state", "--no-call-graph", "-f", "-i",
               path], 600)
    if r.rc != 0 or r.timed_out:
        raise RuntimeError(f"perf sched timehist -i {path}: exit {r.rc}: {r.err_head()}")
    letters = state_letters()
    lines = collections.defaultdict(list)
    n = 0
    for line in r.out_text.splitlines():
        m = _TH_LINE.match(line)
        if not m:
            continue
        n += 1
        tid = int(m.group(4))
        wait = int(m.group(6)) * 1_000_000 + int((m.group(7) + "000")[:3]) * 1000
        c = m.group(12)
        i = PERF61_STATES.find(c)
        state = letters.get(0 if i <= 0 else 1 << (i - 1), "?") if i >= 0 else c
        lines[tid].append((wait, state))
    if n == 0:
        raise RuntimeError(f"perf sched timehist -i {path}: no lines parsed: "
                           f"{r.out_text[:300]!r} {r.err_head()}")
    return lines


def timehist_by_tid_state(lines):
    """{(tid, state): [lines, wait_ns]}: each line's wait belongs to the state of the
    thread's previous line (its last switch-out)."""
    d = collections.defaultdict(lambda: [0, 0])
    for tid, ls in lines.items():
        for (_, prev_state), (wait, _) in zip(ls, ls[1:]):
            v = d[(tid, prev_state)]
            v[0] += 1
            v[1] += wait
    return d


# ---------------------------------------------------------------- perf lock contention

_LC_ROW = re.compile(r"^\s*(\d+)\s+([\d.]+) (h|m|s|ms|us|ns)\s+([\d.]+) (h|m|s|ms|us|ns)\s+"
                     r"([\d.]+) (h|m|s|ms|us|ns)\s+(\S+)\s+(.*?)\s*$")
UNITS = {"h": 3600e9, "m": 60e9, "s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1}


def perf_lock_contention(path, threads=False):
    """[(contended, wait_total_ns, type or tid, caller or comm)] from perf lock contention."""
    argv = [T.perf_bin(), "lock", "contention", "-E", "1000000", "-f", "-i", path]
    if threads:
        argv.insert(3, "-t")
    r = T.run(argv, 600)
    if r.rc != 0 or r.timed_out:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.rc}: {r.err_head()}")
    rows = []
    for line in (r.out_text + "\n" + r.err_text).splitlines():
        m = _LC_ROW.match(line)
        if m:
            rows.append((int(m.group(1)), float(m.group(2)) * UNITS[m.group(3)],
                         m.group(8), m.group(9)))
    return rows, r


# ---------------------------------------------------------------- our profiles

def label(s, key):
    if key in P.NUMERIC_LABELS:
        return s.num.get(key, [0])[0]  # pprof drops a numeric label whose value is 0
    v = s.labels.get(key)
    return v[0] if v else None


def ours_by(raw, key):
    """{key(sample): [contentions, delay]}."""
    ci, di = raw.type_index("contentions"), raw.type_index("delay")
    d = collections.defaultdict(lambda: [0, 0])
    for s in raw.samples:
        v = d[key(s)]
        v[0] += s.values[ci]
        v[1] += s.values[di]
    return d


def shape_problems(raw):
    p = []
    want = [("contentions", "count"), ("delay", "nanoseconds")]
    if raw.sample_types != want:
        p.append(f"sample types {raw.sample_types}, want {want}")
    return p


def label_problems(raw, string_keys):
    p = collections.Counter()
    for s in raw.samples:
        for k in ("pid", "tid"):
            if k in s.labels:
                p[f"{k} is a string label ({s.labels[k]}), want numeric"] += 1
        for k in string_keys:
            if k not in s.labels:
                p[f"sample without string label {k} (labels {sorted(s.labels)}, "
                  f"numeric {sorted(s.num)})"] += 1
    return [f"{k} x{n}" for k, n in p.most_common(5)]


def compare_maps(ours, oracle, what, rel=REL, absolute=lambda k: 0, counts=True, n=6):
    """Problems where ours and oracle ({key: [count, delay]}) differ beyond tolerance."""
    out = []
    for k in sorted(set(ours) | set(oracle), key=str):
        o, w = ours.get(k, [0, 0]), oracle.get(k, [0, 0])
        bad = not close(o[1], w[1], rel, absolute(k))
        if counts and not close(o[0], w[0], rel):
            bad = True
        if bad:
            out.append(f"{what} {k}: ours {o[0]} / {ms(o[1])}, oracle {w[0]} / {ms(w[1])}")
    return out[:n] + ([f"... {len(out) - n} more"] if len(out) > n else [])


_TOP_ROW = re.compile(r"^\s*(\S+)\s+(-?[\d.]+)%\s+(-?[\d.]+)%\s+(\S+)\s+(-?[\d.]+)%\s+(.*?)\s*$")
_DUR = re.compile(r"^(-?[\d.]+)(ns|us|ms|s|m|h)?$")


def dur_ns(text):
    m = _DUR.match(text.replace("µs", "us"))
    if not m:
        return None
    return float(m.group(1)) * UNITS.get(m.group(2) or "ns", 1)


def top_cum(path, extra=()):
    """pprof -top -cum -sample_index=delay: [(name, cum_ns)] in pprof's order, and the Run."""
    r = P.pprof(["-top", "-cum", "-sample_index=delay", "-nodecount=100000",
                 "-nodefraction=0", "-edgefraction=0"] + list(extra), path)
    rows = []
    for line in r.out_text.splitlines():
        m = _TOP_ROW.match(line)
        if m and m.group(1) != "flat":
            cum = dur_ns(m.group(4))
            if cum is not None:
                rows.append((m.group(6).replace(" (inline)", ""), cum))
    return rows, r


def traces_with_values(path, extra=()):
    """pprof -traces -sample_index=delay: [(value_ns, [names leaf first])]."""
    r = P.pprof(["-traces", "-sample_index=delay"] + list(extra), path)
    out = []
    for blk in re.split(r"^-+\+-+$", r.out_text, flags=re.M)[1:]:
        names, value = [], None
        for line in blk.splitlines():
            if len(line) > 13 and line[10:13] == "   ":
                if not names and line[:10].strip():
                    value = dur_ns(line[:10].strip())
                names.append(line[13:].strip().replace(" (inline)", ""))
        if names:
            out.append((value or 0, names))
    return out, r


def raw_text_no_time(path):
    r = P.pprof(["-raw"], path)
    if r.rc != 0:
        return None
    return "\n".join(l for l in r.out_text.splitlines() if not l.startswith("Time: "))


# ---------------------------------------------------------------- block checks

def block_vs_oracles(c, name, data, raw, samples, th_lines):
    """Our default block profile against the spec oracle and timehist."""
    unpaired = set()
    waits = block_oracle(samples, unpaired)
    # Neither preemption (R, by default) nor a dying thread's last switch-out (X/Z) starts
    # a wait: perf2pprof drops both, and they only replace a pending wait here.
    exits = [w for w in waits if w.kind in EXIT_STATES]
    nonr = [w for w in waits if w.kind != "R" and w.kind not in EXIT_STATES]
    ours = ours_by(raw, lambda s: (label(s, "tid"), label(s, "state")))
    ours.pop((0, None), None)
    oracle = sum_by(nonr, lambda w: (w.tid, w.kind))
    p = compare_maps(ours, oracle, "tid,state")
    tot_o = sum(v[1] for v in ours.values())
    tot_w = sum(w.delay for w in nonr)
    if not close(tot_o, tot_w):
        p.insert(0, f"total delay ours {ms(tot_o)}, oracle {ms(tot_w)} ({pct(tot_o, tot_w):+.2f}%)")
    c.result(f"{name}: block per (tid, state) = spec oracle from perf script (1%)", p,
             f"{len(oracle)} (tid, state) keys, {len(nonr)} waits, total ours "
             f"{ms(tot_o)} oracle {ms(tot_w)}")

    # timehist: the waits that end with a switch-in, by the state of the switch-out.
    # timehist takes the switch-in time from the previous event on the CPU, so where a
    # thread's switch-in is missing from the recording it pairs the wrong events: such
    # threads (unpaired switch-outs in the spec oracle) are left out.
    th = timehist_by_tid_state(th_lines)
    trunc = sum_by([w for w in nonr if w.truncated or w.th_blind], lambda w: (w.tid, w.kind))
    cmp_ours, cmp_th = {}, {}
    for k, v in ours.items():
        tid, st = k
        if tid == 0 or st in EXIT_STATES or st == "R" or tid in unpaired:
            continue
        t = trunc.get(k, [0, 0])
        cmp_ours[k] = [v[0] - t[0], v[1] - t[1]]
    for k, v in th.items():
        tid, st = k
        if tid == 0 or st in EXIT_STATES or st == "R" or tid in unpaired:
            continue
        cmp_th[k] = v
    for k in list(cmp_ours):
        if cmp_ours[k] == [0, 0] and k not in cmp_th:
            del cmp_ours[k]
    p = compare_maps(cmp_ours, cmp_th, "tid,state", counts=False,
                     absolute=lambda k: cmp_th.get(k, [0, 0])[0] * TIMEHIST_RES + TIMEHIST_RES)
    a, b = sum(v[1] for v in cmp_ours.values()), sum(v[1] for v in cmp_th.values())
    nlines = sum(v[0] for v in cmp_th.values())
    if not close(a, b, REL, nlines * TIMEHIST_RES):
        p.insert(0, f"total ours {ms(a)}, timehist {ms(b)} ({pct(a, b):+.2f}%)")
    c.result(f"{name}: block per (tid, state) = perf sched timehist wait times "
             "(max(1%, lines x 1us); states except R and X/Z; waits the recording ends "
             "in and waits before a dead task's last switch-out left out)", p,
             f"{len(cmp_th)} keys, {nlines} timehist waits, ours {ms(a)}, timehist {ms(b)}; "
             f"{len(unpaired)} threads with switch-ins missing from the recording left out")

    # Exit states: a thread switched out dead is never switched in again; it is not
    # blocked, so no wait (a literal reading would count it to the end of the recording).
    ex_o = sum(v[1] for (tid, st), v in ours.items() if st in EXIT_STATES)
    ex_w = sum(w.delay for w in exits)
    c.result(f"{name}: block exit states (X/Z) start no wait", [] if ex_o == 0 else
             [f"ours {ms(ex_o)} in X/Z states"],
             f"ours {ms(ex_o)}; {len(exits)} dying switch-outs ({ms(ex_w)} if counted to the "
             "end)")

    # Labels: pid and comm of each (tid) as perf script's sample had them.
    pids = collections.defaultdict(set)
    comms = collections.defaultdict(set)
    for w in nonr:
        pids[w.tid].add(w.pid)
        comms[w.tid].update((w.comm, w.trace_comm))  # perf's thread comm, or prev_comm
    p = []
    for s in raw.samples:
        tid = label(s, "tid")
        if tid == 0:
            continue
        if label(s, "pid") not in pids.get(tid, set()):
            p.append(f"tid {tid}: pid label {label(s, 'pid')}, perf {sorted(pids.get(tid, []))}")
        if label(s, "comm") not in comms.get(tid, set()):
            p.append(f"tid {tid}: comm label {label(s, 'comm')!r}, perf "
                     f"{sorted(comms.get(tid, []))}")
    c.result(f"{name}: block pid/comm labels = perf script's for the thread (its comm or "
             "prev_comm)", p[:6])
    return waits, unpaired


def check_sleeper(c, tmp, wl, sched_ok):
    if not sched_ok:
        c.skip("sleeper", "sched:sched_switch tracepoint missing")
        return
    # The recording must hold the sleeper's switch-ins for its sleeps to be measurable.
    # Some kernels do not report every switch (this one loses the idle task's switch-outs
    # on some CPUs): then the sleeper is recorded again pinned to each CPU in turn, and
    # the measurement checks run on the first recording that holds its sleeps.
    data = os.path.join(tmp, "sleeper.data")
    cpus = sorted(os.sched_getaffinity(0)) if shutil.which("taskset") else []
    faithful, notes, samples = False, [], None
    for cpu in [None] + cpus:
        cmd = [wl] if cpu is None else ["taskset", "-c", str(cpu), wl]
        r, msg = record(data, ["-e", "sched:sched_switch", "-g", "-a"], cmd)
        if msg:
            c.result("sleeper: perf record", [msg])
            return
        kv = workload_output(r)
        if "sleep_long_ns" not in kv:
            c.result("sleeper: workload output", [f"no sleep_long_ns= in {r.out_text[:200]!r}"])
            return
        try:
            samples = perf_script_tp(data)
        except RuntimeError as e:
            c.result("sleeper: oracle", [str(e)])
            return
        got = sum(w.delay for w in block_oracle(samples)
                  if w.tid == kv["pid"] and w.kind == "S")
        want = kv["sleep_long_ns"] + kv["sleep_short_ns"]
        # 1%: a lost switch-in costs one 10 ms sleep, which a looser bound would let
        # through into the 5% per-function check below.
        if close(got, want, 0.01):
            faithful = True
            break
        notes.append(f"{'unpinned' if cpu is None else f'pinned to cpu {cpu}'}: the "
                     f"recording pairs only {ms(got)} of the sleeper's {ms(want)} of sleep "
                     "(switch-ins missing)")
    for n in notes:
        print(f"NOTE sleeper: {n}", flush=True)
    out = os.path.join(tmp, "sleeper.block.pprof")
    raw, p = convert_load(["--type", "block", data, "-o", out], out)
    c.result("sleeper: --type block converts and pprof -raw reads it", p)
    if raw is None:
        return
    p = shape_problems(raw) + label_problems(raw, ("comm", "state"))
    c.result("sleeper: block sample types contentions/count delay/nanoseconds; labels "
             "pid, tid numeric, comm, state strings", p, f"{raw.sample_types}")
    states = collections.Counter(label(s, "state") for s in raw.samples)
    c.result("sleeper: block without --include-preempted has no state=R",
             [f"{states['R']} samples with state=R"] if states.get("R") else [],
             f"states {dict(states)}")
    try:
        block_vs_oracles(c, "sleeper", data, raw, samples, timehist(data))
    except RuntimeError as e:
        c.result("sleeper: oracle", [str(e)])
    if not faithful:
        c.skip("sleeper: delay against the workload's measurement",
               "no recording holds its switch-ins: " + "; ".join(notes))
        return

    # The sleeper's own measurement: sleep_long and sleep_short in the -raw stacks.
    pid = kv["pid"]
    di = raw.type_index("delay") or 1
    got = {"sleep_long": 0, "sleep_short": 0}
    under_sleep = {"sleep_long": 0, "sleep_short": 0}
    for s in raw.samples:
        if label(s, "pid") != pid:
            continue
        names = [f[0] for f in raw.frames(s)]
        for fn in got:
            if fn in names:
                got[fn] += s.values[di]
                i = names.index(fn)
                if any("nanosleep" in n for n in names[:i]) and "main" in names[i + 1:]:
                    under_sleep[fn] += s.values[di]
    p = []
    for fn in got:
        want = kv[f"{fn}_ns"]
        if not close(got[fn], want, SLEEP_REL):
            p.append(f"{fn}: {ms(got[fn])} in the profile, workload measured {ms(want)} "
                     f"({pct(got[fn], want):+.1f}%)")
        if under_sleep[fn] < 0.95 * got[fn] or got[fn] == 0:
            p.append(f"{fn}: only {ms(under_sleep[fn])} of {ms(got[fn])} in stacks "
                     "nanosleep <- ... <- {fn} <- ... <- main")
    c.result("sleeper: sleep_long / sleep_short delay within 5% of the workload's "
             "measurement, under nanosleep frames and main (-raw)", p,
             f"long {ms(got['sleep_long'])}/{ms(kv['sleep_long_ns'])}, short "
             f"{ms(got['sleep_short'])}/{ms(kv['sleep_short_ns'])} (ours/measured)")

    comm = os.path.basename(wl)[:15]
    rows, rr = top_cum(out, [f"-tagfocus=comm={re.escape(comm)}"])
    cum = dict(rows)
    p = [] if rr.rc == 0 else [f"pprof -top exit {rr.rc}: {rr.err_head()}"]
    own = [n for n, _ in rows if n in ("sleep_long", "sleep_short", "nap")]
    if own[:2] != ["sleep_long", "sleep_short"]:
        p.append(f"workload functions in -top -cum order {own}, want sleep_long, sleep_short "
                 "first")
    for fn in ("sleep_long", "sleep_short"):
        if not close(cum.get(fn, 0), kv[f"{fn}_ns"], SLEEP_REL):
            p.append(f"-top cum {fn} {ms(cum.get(fn, 0))}, measured {ms(kv[fn + '_ns'])}")
    ns = max((v for n, v in rows if "nanosleep" in n), default=0)
    if ns < 0.95 * (kv["sleep_long_ns"] + kv["sleep_short_ns"]):
        p.append(f"no nanosleep function with the sleeps' cum: best {ms(ns)}")
    c.result("sleeper: pprof -top -cum (comm focus): sleep_long then sleep_short, "
             "nanosleep frames above both", p,
             ", ".join(f"{n} {ms(v)}" for n, v in rows[:14]))

    tr, rr = traces_with_values(out, [f"-tagfocus=comm={re.escape(comm)}"])
    p = [] if rr.rc == 0 else [f"pprof -traces exit {rr.rc}: {rr.err_head()}"]
    for fn in ("sleep_long", "sleep_short"):
        v = 0
        for val, names in tr:
            if fn in names:
                i = names.index(fn)
                if any("nanosleep" in n for n in names[:i]) and "main" in names[i + 1:]:
                    v += val
        if not close(v, kv[f"{fn}_ns"], SLEEP_REL):
            p.append(f"traces nanosleep..{fn}..main: {ms(v)}, measured {ms(kv[fn + '_ns'])}")
    c.result("sleeper: pprof -traces: nanosleep <- ... <- sleep_long/sleep_short <- main "
             "carry the measured times (5%)", p, f"{len(tr)} traces")


# ---------------------------------------------------------------- mutex checks

def kernel_lock_checks(c, name, data, raw, samples):
    """Kernel locks in our mutex profile against perf lock contention (per type, per
    thread) and the perf-lock-style pairing from perf script (per address)."""
    rows, lr = perf_lock_contention(data)
    if not rows and re.search(r"[Ee]rror|not found|failed", lr.err_text):
        c.result(f"{name}: perf lock contention", [lr.err_head()])
        return
    perf_types = collections.defaultdict(lambda: [0, 0])
    unknown = set()
    for n, wt, typ, _ in rows:
        t = PERF_LOCK_TYPES.get(typ)
        if t is None:
            unknown.add(typ)
            t = typ
        perf_types[t][0] += n
        perf_types[t][1] += wt
    ours = ours_by(raw, lambda s: spec_lock(label(s, "lock")))
    ours_k = {k: v for k, v in ours.items() if k != "futex"}
    p = compare_maps(ours_k, perf_types, "lock")
    if unknown:
        p.append(f"perf lock types not mapped: {sorted(unknown)}")
    c.result(f"{name}: kernel locks per type (contentions, delay) = perf lock contention "
             "(1%)", p, "ours/perf: " + ", ".join(
                 f"{k} {ours_k.get(k, [0, 0])[0]}/{perf_types.get(k, [0, 0])[0]} "
                 f"{ms(ours_k.get(k, [0, 0])[1])}/{ms(perf_types.get(k, [0, 0])[1])}"
                 for k in sorted(set(ours_k) | set(perf_types))))

    trows, tr = perf_lock_contention(data, threads=True)
    # perf prints pid -1 for a contention in a task past its exit (the kernel no longer
    # has its pid); ours carries the sample's tid, -1 too.
    perf_tid = {int(t): [n, wt] for n, wt, t, _ in trows if re.fullmatch(r"-?\d+", t)}
    ours_tid = ours_by(raw, lambda s: label(s, "tid") if label(s, "lock") != "futex" else None)
    ours_tid.pop(None, None)
    p = compare_maps(ours_tid, perf_tid, "tid")
    c.result(f"{name}: kernel locks per thread = perf lock contention -t (1%)", p,
             f"{len(perf_tid)} threads, perf total "
             f"{ms(sum(v[1] for v in perf_tid.values()))}, ours "
             f"{ms(sum(v[1] for v in ours_tid.values()))}")

    # Per lock address: the addr label against the perf-lock pairing of perf script.
    waits = lock_oracle(samples)
    orc = sum_by(waits, lambda w: w.key)
    bad_addr = collections.Counter()

    def addr_of(s):
        a = label(s, "addr")
        try:
            return int(a, 16)
        except (TypeError, ValueError):
            bad_addr[a] += 1
            return a
    ours_addr = ours_by(raw, lambda s: addr_of(s) if label(s, "lock") != "futex" else None)
    ours_addr.pop(None, None)
    p = [f"addr label not hex: {a!r} x{n}" for a, n in bad_addr.most_common(3)]
    # Per address, compare only the big ones (1% of an address with 3 waits is noise).
    big = {k for k, v in orc.items() if v[1] >= 0.01 * sum(x[1] for x in orc.values())}
    p += compare_maps({k: v for k, v in ours_addr.items() if k in big},
                      {k: v for k, v in orc.items() if k in big}, "addr",
                      rel=0.02, counts=False)
    c.result(f"{name}: kernel lock delay per addr label = perf script pairing (addresses "
             "with >= 1% of the delay, 2%)", p,
             f"{len(orc)} addresses, {len(big)} compared; addr labels e.g. "
             f"{sorted({label(s, 'addr') for s in raw.samples})[:3]}")


def kallsyms_check(c, name, raw, data=None, tmp=None):
    syms = []
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                # The types perf loads (code, data, bss, weak): a read-only data name
                # ('R', e.g. __stop_runtime_ptr_*) is no symbol to perf, nor to us.
                if len(parts) >= 3 and parts[1] in "tTwWdDbB":
                    syms.append((int(parts[0], 16), parts[2], parts[1]))
    except OSError:
        c.skip(f"{name}: symbol labels", "no /proc/kallsyms")
        return
    syms.sort()
    exact = {a: n for a, n, _ in syms if a}
    import bisect
    starts = [a for a, _, _ in syms]
    p, n_sym, n_exact = [], 0, 0
    for s in raw.samples:
        if label(s, "lock") in (None, "futex"):
            continue
        try:
            addr = int(label(s, "addr"), 16)
        except (TypeError, ValueError):
            continue
        sym = label(s, "symbol")
        if addr in exact:
            n_exact += 1
            if sym != exact[addr]:
                p.append(f"addr 0x{addr:x} is {exact[addr]} in kallsyms, symbol label {sym!r}")
        if sym is not None:
            n_sym += 1
            i = bisect.bisect_right(starts, addr) - 1
            near = [n for a, n, _ in syms if a == starts[i]] if i >= 0 else []
            if sym not in near and sym.split("+")[0] not in near:
                p.append(f"addr 0x{addr:x}: symbol label {sym!r}, kallsyms has "
                         f"{near[:3]} at or before it")
    text = min((a for a, n, _ in syms if n in ("_text", "_stext")), default=None)
    static = set()
    for s in raw.samples:
        if label(s, "lock") in (None, "futex"):
            continue
        try:
            addr = int(label(s, "addr"), 16)
        except (TypeError, ValueError):
            continue
        if text is not None and text <= addr < 0xffffffffc0000000:
            static.add(addr)  # in the kernel image: a static lock
    c.result(f"{name}: symbol labels of kernel locks agree with kallsyms", p[:5],
             f"{n_sym} samples with a symbol label, {n_exact} at a kallsyms address, "
             f"{len(static)} static (kernel image) lock addresses")
    # This kernel's kallsyms may name no data (no CONFIG_KALLSYMS_ALL): a copy of it with a
    # name at each static lock address, given with --kallsyms, must give that name.
    if not static or data is None:
        c.skip(f"{name}: symbol label from --kallsyms", "no static kernel lock contended "
               "in this recording")
        return
    ks = os.path.join(tmp, f"{name}.kallsyms")
    names = {a: f"pps_static_lock_{i}" for i, a in enumerate(sorted(static))}
    with open("/proc/kallsyms") as fi, open(ks, "w") as fo:
        lines = fi.read().splitlines()
        lines += [f"{a:016x} d {n}" for a, n in names.items()]
        lines.sort(key=lambda l: int(l.split()[0], 16))
        fo.write("\n".join(lines) + "\n")
    o = os.path.join(tmp, f"{name}.kallsyms.mutex.pprof")
    raw2, p = convert_load(["--type", "mutex", "--kallsyms", ks, data, "-o", o], o)
    seen = 0
    if raw2 is not None:
        for s in raw2.samples:
            try:
                addr = int(label(s, "addr"), 16)
            except (TypeError, ValueError):
                continue
            if addr in names:
                seen += 1
                if label(s, "symbol") != names[addr]:
                    p.append(f"addr 0x{addr:x}: symbol label {label(s, 'symbol')!r}, "
                             f"--kallsyms names it {names[addr]}")
    c.result(f"{name}: static lock addresses named by a --kallsyms file get that symbol "
             "label", p[:5], f"{len(names)} addresses, {seen} samples")


def futex_checks(c, name, raw, samples, require=True):
    """Futex waits. The spec says nothing of futex waits the recording ends in: ours may
    count them up to the last sample (as block does) or not at all; either is accepted,
    and the detail says which matched."""
    allw = futex_oracle(samples)
    done = [w for w in allw if not w.truncated]
    ours = {k: v for k, v in ours_by(raw, lambda s: label(s, "lock")).items() if k == "futex"}
    variants = []
    for vname, ws in (("waits cut by the end counted", allw), ("completed waits", done)):
        orc = {"futex": [len(ws), sum(w.delay for w in ws)]} if ws else {}
        variants.append((vname, ws, compare_maps(ours, orc, "lock")))
    vname, waits, p = next((v for v in variants if not v[2]), variants[0])
    if not allw and require:
        p.append("oracle: no futex waits in the recording (workload broken?)")
    # A second reading of the spec: only FUTEX_PRIVATE_FLAG masked (CLOCK_REALTIME waits,
    # such as pthread_join's FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME, not counted).
    alt = futex_oracle(samples, cmd_mask=~FUTEX_PRIVATE_FLAG)
    detail = (f"ours {ours.get('futex', [0, 0])[0]} / {ms(ours.get('futex', [0, 0])[1])}, "
              f"oracle ({vname}) {len(waits)} / {ms(sum(w.delay for w in waits))}, "
              f"{len(allw) - len(done)} cut by the end; without "
              f"CLOCK_REALTIME ops {len(alt)} / {ms(sum(w.delay for w in alt))}")
    c.result(f"{name}: futex waits (lock=futex) count and delay = perf script pairing (1%)",
             p, detail)
    ot = ours_by(raw, lambda s: label(s, "tid") if label(s, "lock") == "futex" else None)
    ot.pop(None, None)
    c.result(f"{name}: futex waits per thread = perf script pairing (1%)",
             compare_maps(ot, sum_by(waits, lambda w: w.tid), "tid"))

    def addr_of(s):
        try:
            return int(label(s, "addr"), 16)
        except (TypeError, ValueError):
            return label(s, "addr")
    oa = ours_by(raw, lambda s: addr_of(s) if label(s, "lock") == "futex" else None)
    oa.pop(None, None)
    c.result(f"{name}: futex waits per addr label (uaddr) = perf script pairing (1%)",
             compare_maps(oa, sum_by(waits, lambda w: w.key), "uaddr"),
             f"uaddrs {[hex(k) if isinstance(k, int) else k for k in list(oa)[:3]]}")
    return waits


def check_mutex(c, tmp, name, wl, args, lock_ok):
    if not lock_ok:
        c.skip(name, "lock:contention_begin/end or syscalls futex tracepoints missing")
        return None
    data = os.path.join(tmp, name + ".data")
    r, msg = record(data, LOCK_EVENTS + ["-g"], [wl] + args)
    if msg:
        c.result(f"{name}: perf record", [msg])
        return None
    out = os.path.join(tmp, name + ".mutex.pprof")
    raw, p = convert_load(["--type", "mutex", data, "-o", out], out)
    c.result(f"{name}: --type mutex converts and pprof -raw reads it", p)
    if raw is None:
        return None
    p = shape_problems(raw) + label_problems(raw, ("lock", "addr"))
    locks = collections.Counter(label(s, "lock") for s in raw.samples)
    # The lock type names are perf lock contention's (the oracle's), futex for user locks.
    extra = set(locks) - set(PERF_LOCK_TYPES) - {"futex"}
    if extra:
        p.append(f"lock label values that perf lock contention does not use: "
                 f"{sorted(map(str, extra))}")
    c.result(f"{name}: mutex sample types; lock/addr labels with perf lock's type names", p,
             f"locks {dict(locks)}")
    try:
        samples = perf_script_tp(data)
        kernel_lock_checks(c, name, data, raw, samples)
        # Only the mutexer must wait on futexes (the mmapper's joins may not wait).
        futex_checks(c, name, raw, samples, require=(name == "mutexer"))
        kallsyms_check(c, name, raw, data, tmp)
    except RuntimeError as e:
        c.result(f"{name}: oracle", [str(e)])
    return data, out, raw


def check_mmapper_paths(c, out, raw):
    """rwsem delay (mmap_lock) under mmap/munmap paths and the workload's map_loop."""
    di = raw.type_index("delay")
    tot = under = 0
    for s in raw.samples:
        if not str(label(s, "lock")).startswith("rwsem"):
            continue
        names = [f[0] for f in raw.frames(s)]
        tot += s.values[di]
        if any(re.search(r"mmap|munmap|exc_page_fault|do_user_addr_fault", n) for n in names) \
                and any(n in ("map_loop", "map_unmap") for n in names):
            under += s.values[di]
    rows, rr = top_cum(out, ["-tagfocus=lock=rwsem"])
    own = [n for n, _ in rows if n in ("map_loop", "map_unmap", "main")]
    p = []
    if tot == 0:
        p.append("no rwsem waits in the profile (mmap_lock not contended?)")
    elif under < 0.95 * tot:
        p.append(f"only {ms(under)} of {ms(tot)} rwsem delay under mmap/munmap/fault "
                 "frames and map_loop/map_unmap")
    if rr.rc != 0:
        p.append(f"pprof -top exit {rr.rc}: {rr.err_head()}")
    elif not own or own[0] not in ("map_loop", "map_unmap"):
        p.append(f"workload functions in -top -cum order {own}, want map_loop first")
    top_k = [n for n, _ in rows if re.search(r"mmap|munmap", n)]
    if not top_k:
        p.append("pprof -top -cum shows no mmap/munmap function for rwsem")
    c.result("mmapper: rwsem delay under mmap/munmap paths and map_loop (-raw, "
             "pprof -top -cum -tagfocus=lock=rwsem)", p,
             f"rwsem {ms(tot)}; -top: " + ", ".join(f"{n} {ms(v)}" for n, v in rows[:12]))


def check_mutexer_paths(c, out, raw):
    di = raw.type_index("delay")
    tot = under = joins = 0
    for s in raw.samples:
        if label(s, "lock") != "futex":
            continue
        names = [f[0] for f in raw.frames(s)]
        # main's pthread_join waits on the threads' tid words: futex waits too, but not
        # the mutex (the workload has no condition variables, so timed waits are joins);
        # how long they last depends on the load.
        if any(re.search(r"pthread_join|clockjoin|futex_abstimed_wait", n) for n in names):
            joins += s.values[di]
            continue
        tot += s.values[di]
        if any(re.search(r"lll_lock_wait|pthread_mutex_lock|futex_wait", n) for n in names) \
                and any(n in ("lock_loop", "critical_section") for n in names):
            under += s.values[di]
    rows, rr = top_cum(out, ["-tagfocus=lock=futex"])
    own = [n for n, _ in rows if n in ("lock_loop", "critical_section", "main")]
    p = []
    if tot == 0:
        p.append("no futex waits in the profile")
    elif under < 0.99 * tot:
        p.append(f"only {ms(under)} of {ms(tot)} futex delay (joins left out) under a "
                 "lock-wait frame and lock_loop/critical_section")
    if rr.rc != 0:
        p.append(f"pprof -top exit {rr.rc}: {rr.err_head()}")
    elif not own or own[0] not in ("lock_loop", "critical_section"):
        p.append(f"workload functions in -top -cum order {own}, want lock_loop first")
    lw = [(n, v) for n, v in rows if re.search(r"lll_lock_wait|pthread_mutex_lock", n)]
    if not lw or lw[0][1] < 0.99 * tot:
        p.append(f"pprof -top -cum: lock-wait functions {lw[:3]} do not carry 99% of "
                 f"{ms(tot)} (the futex delay outside pthread_join)")
    c.result("mutexer: futex delay under the mutex lock-wait path and lock_loop (-raw, "
             "pprof -top -cum -tagfocus=lock=futex)", p,
             f"futex {ms(tot)} (+ {ms(joins)} in pthread_join); -top: "
             + ", ".join(f"{n} {ms(v)}" for n, v in rows[:12]))


def check_lockrec(c, tmp, wl, lock_ok):
    if not lock_ok:
        c.skip("lockrec", "lock tracepoints missing")
        return
    data = os.path.join(tmp, "lockrec.data")
    r, msg = record(data, [], [wl, "0.5"], lock_record=True)
    if msg:
        c.skip("lockrec: perf lock record", msg)
        return
    out = os.path.join(tmp, "lockrec.mutex.pprof")
    raw, p = convert_load(["--type", "mutex", data, "-o", out], out)
    c.result("lockrec: --type mutex on a `perf lock record` file", p)
    if raw is None:
        return
    c.result("lockrec: sample types", shape_problems(raw))
    try:
        rows, _ = perf_lock_contention(data)
    except RuntimeError as e:
        c.result("lockrec: oracle", [str(e)])
        return
    perf_types = collections.defaultdict(lambda: [0, 0])
    for n, wt, typ, _ in rows:
        v = perf_types[PERF_LOCK_TYPES.get(typ, typ)]
        v[0] += n
        v[1] += wt
    ours = {k: v for k, v in ours_by(raw, lambda s: spec_lock(label(s, "lock"))).items()
            if k != "futex"}
    c.result("lockrec: kernel locks per type = perf lock contention (1%)",
             compare_maps(ours, perf_types, "lock"),
             ", ".join(f"{k} {v[0]} {ms(v[1])}" for k, v in sorted(perf_types.items())))


# ---------------------------------------------------------------- combined: --all, preempted

def check_combined(c, tmp, wl, sched_ok, lock_ok):
    if not (sched_ok and lock_ok):
        c.skip("combined", "tracepoints missing")
        return
    data = os.path.join(tmp, "combined.data")
    r, msg = record(data, ["-e", "cpu-clock", "-e", "sched:sched_switch"] + LOCK_EVENTS +
                    ["-e", OTHER_TP, "-g", "-a"], [wl, "0.5"])
    if msg:
        c.result("combined: perf record", [msg])
        return
    try:
        samples = perf_script_tp(data)
        th_lines = timehist(data)
    except RuntimeError as e:
        c.result("combined: oracle", [str(e)])
        return
    ob = os.path.join(tmp, "combined.block.pprof")
    raw, p = convert_load(["--type", "block", data, "-o", ob], ob)
    c.result("combined: --type block converts", p)
    if raw is not None:
        try:
            waits, _ = block_vs_oracles(c, "combined", data, raw, samples, th_lines)
        except RuntimeError as e:
            c.result("combined: oracle", [str(e)])
            waits = None
        obp = os.path.join(tmp, "combined.block.preempted.pprof")
        rawp, p = convert_load(["--type", "block", "--include-preempted", data, "-o", obp],
                               obp)
        if rawp is not None and waits is not None:
            rw = [w for w in waits if w.kind == "R"]
            orc = sum_by(rw, lambda w: w.tid)
            ours_r = ours_by(rawp, lambda s: label(s, "tid") if label(s, "state") == "R"
                             else None)
            ours_r.pop(None, None)
            ours_r.pop(0, None)  # the idle tasks: one tid 0 per CPU, not one thread
            orc.pop(0, None)
            p += compare_maps(ours_r, orc, "state=R tid")
            if not rw:
                p.append("oracle: no preemptions recorded (workload broken?)")
            rest = ours_by(rawp, lambda s: (label(s, "tid"), label(s, "state"))
                           if label(s, "state") != "R" else None)
            rest.pop(None, None)
            base = ours_by(raw, lambda s: (label(s, "tid"), label(s, "state")))
            if dict(rest) != dict(base):
                p += ["non-R part differs from the default: "] + \
                    compare_maps(rest, base, "tid,state", rel=0)
        c.result("combined: --include-preempted adds the state=R waits (per tid = spec "
                 "oracle, 1%) and changes nothing else", p,
                 f"oracle R: {sum(1 for w in waits or [] if w.kind == 'R')} waits, "
                 f"{ms(sum(w.delay for w in waits or [] if w.kind == 'R'))}")

    om = os.path.join(tmp, "combined.mutex.pprof")
    rawm, p = convert_load(["--type", "mutex", data, "-o", om], om)
    c.result("combined: --type mutex converts", p)
    if rawm is not None:
        try:
            kernel_lock_checks(c, "combined", data, rawm, samples)
            futex_checks(c, "combined", rawm, samples)
            kallsyms_check(c, "combined", rawm, data, tmp)
        except RuntimeError as e:
            c.result("combined: lock oracle", [str(e)])

    d = os.path.join(tmp, "all")
    os.makedirs(d, exist_ok=True)
    r, p = convert(["--all", data, "-o", d])
    files = sorted(os.listdir(d)) if os.path.isdir(d) else []
    if not p:
        for f in ("cpu.pprof", "block.pprof", "mutex.pprof"):
            if f not in files:
                p.append(f"{f} missing (files {files})")
        for f, single in (("block.pprof", ob), ("mutex.pprof", om)):
            if f in files and os.path.exists(single):
                a, b = raw_text_no_time(os.path.join(d, f)), raw_text_no_time(single)
                if a is None or a != b:
                    p.append(f"{f} differs from --type {f.split('.')[0]} (pprof -raw)")
        if "cpu.pprof" in files:
            rc, err = P.load_raw(os.path.join(d, "cpu.pprof"))
            n = sum(1 for s in samples if s.event == "cpu-clock")
            if rc is None:
                p.append(f"cpu.pprof: {err}")
            elif rc.total(0) != n:
                p.append(f"cpu.pprof {rc.total(0)} samples, perf script {n}")
    c.result("combined: --all -o DIR writes cpu, block and mutex profiles equal to the "
             "single conversions", p, f"files {files}")
    # "plus other events' profiles": the event that feeds neither block nor mutex keeps
    # its own profile (samples/count, EVENT/count), as test_convert's check_all expects.
    p = []
    n = sum(1 for s in samples if s.event == OTHER_TP)
    found = []
    for f in files:
        rf, err = P.load_raw(os.path.join(d, f))
        if rf is not None and len(rf.sample_types) > 1 and rf.sample_types[1][0] == OTHER_TP:
            found.append((f, rf.total(0)))
    if len(found) != 1:
        p.append(f"want one profile with sample type {OTHER_TP}, found {found} in {files}")
    elif found[0][1] != n:
        p.append(f"{found[0][0]}: {found[0][1]} samples, perf script {n}")
    if n == 0:
        p.append(f"oracle: no {OTHER_TP} samples recorded")
    c.result(f"combined: --all also writes the profile of {OTHER_TP} (an event neither block "
             "nor mutex uses) with perf's count", p, f"perf {n} samples; files {files}")


def check_missing(c, tmp, sleeper, mutexer_data, sleeper_data):
    data = os.path.join(tmp, "cpu.data")
    r, msg = record(data, ["-e", "cpu-clock", "-g"], [sleeper, "0.2"])
    if msg:
        c.result("missing: perf record cpu-clock", [msg])
        return
    cases = [(data, "block", ["sched:sched_switch"]),
             (data, "mutex", ["lock:contention_begin", "futex"])]
    if mutexer_data:
        cases.append((mutexer_data, "block", ["sched:sched_switch"]))
    if sleeper_data:
        cases.append((sleeper_data, "mutex", ["lock:contention_begin", "futex"]))
    for path, typ, words in cases:
        o = os.path.join(tmp, f"missing.{typ}.pprof")
        rr = T.run([T.perf2pprof(), "--type", typ, path, "-o", o], 120)
        p = rr.problems()
        if not p and rr.rc != 1:
            p.append(f"exit {rr.rc}, want 1")
        for w in words:
            if w not in rr.err_text:
                p.append(f"stderr does not name {w!r}: {rr.err_head(200)}")
        c.result(f"missing: --type {typ} on {os.path.basename(path)} exits 1 naming the "
                 "events to record", p, rr.err_head(160))


def main():
    T.perf2pprof()
    if not T.perf_bin():
        print("SKIP: perf is not installed")
        return T.SKIP
    if not P.pprof_bin() or not os.access(P.pprof_bin(), os.X_OK):
        print(f"FATAL: pprof not found ({P.pprof_bin()}); set PPROF")
        return 1
    sched_ok = tracepoint_exists("sched:sched_switch")
    lock_ok = all(tracepoint_exists(t) for t in (
        "lock:contention_begin", "lock:contention_end", "syscalls:sys_enter_futex",
        "syscalls:sys_exit_futex"))
    if not sched_ok and not lock_ok:
        print("SKIP: no sched:sched_switch, lock:contention_* or futex syscall tracepoints")
        return T.SKIP
    wls = {n: workload(n) for n in ("sleeper", "mmapper", "mutexer")}
    tmp = tempfile.mkdtemp(prefix="pps-blockmutex-")
    keep = bool(os.environ.get("PPS_KEEP"))
    c = Checker()
    try:
        probe = ["-e", "sched:sched_switch" if sched_ok else "lock:contention_begin", "-a"]
        _, msg = record(os.path.join(tmp, "probe.data"), probe, ["true"])
        if msg:
            print(f"SKIP: perf record of tracepoints does not work here: {msg}")
            return T.SKIP
        for n, wl in wls.items():
            if wl is None:
                c.result(f"{n}: workload binary",
                         [f"pps_wl_{n} not built (set PPS_WL_{n.upper()})"])
        if wls["sleeper"]:
            check_sleeper(c, tmp, wls["sleeper"], sched_ok)
        mutexer_data = None
        if wls["mmapper"]:
            res = check_mutex(c, tmp, "mmapper", wls["mmapper"], ["1"], lock_ok)
            if res:
                check_mmapper_paths(c, res[1], res[2])
            check_lockrec(c, tmp, wls["mmapper"], lock_ok)
        if wls["mutexer"]:
            res = check_mutex(c, tmp, "mutexer", wls["mutexer"], ["1"], lock_ok)
            if res:
                mutexer_data = res[0]
                check_mutexer_paths(c, res[1], res[2])
            check_combined(c, tmp, wls["mutexer"], sched_ok, lock_ok)
        if wls["sleeper"]:
            sd = os.path.join(tmp, "sleeper.data")
            check_missing(c, tmp, wls["sleeper"], mutexer_data,
                          sd if os.path.exists(sd) else None)
    finally:
        if keep or c.nfail:
            print(f"recordings kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    T.summary(c.npass, c.nfail, c.nskip)
    return 0 if c.nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
