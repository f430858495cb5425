#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Live capture benchmark (pprofstore record). Not a test: it only prints figures.
#
# 1. Overhead. pps-cpubench (bench/cpubench.c: a fixed amount of CPU work on every CPU, no
#    system calls while it works) is timed in each mode, the modes interleaved run by run
#    (BENCH_REPS rounds, each starting one mode further down the list than the last) so
#    that drift on a shared machine, and whatever a run leaves behind for the next (a
#    recorder's writeback, say), hit all of them alike:
#      none           no recording
#      pprofstore F   pprofstore record -a with all three types: cpu-clock at F Hz,
#                     sched:sched_switch, lock:contention_begin/end, syscalls:sys_enter_futex
#                     and sys_exit_futex, callchains; windows every 10 s into a SQLite store
#      perf F         perf record -a -g with the same events (cpu-clock/freq=F/, the
#                     tracepoints at every hit), into a file
#    for F = 99 and 999. Each recorder is started before the timed run and stopped with
#    SIGINT after it. The run starts once the recorder is in its steady state: perf record
#    BENCH_SETTLE seconds after its start (its synthesis of /proc is done), pprofstore
#    record once it has stored BENCH_WINDOWS windows, at least BENCH_SETTLE seconds after
#    its start. Its one-off costs are then behind it: the synthesis of /proc and the first
#    symbolization, which loads the debug info of every binary seen so far (~0.2 s of CPU
#    together), and most of the store's learning: a fresh store inserts every stack and
#    location it has not seen, so on this VM at 999 Hz the recorder's CPU per 10 s window
#    went 32, 17, 15, 12, 10, 11, 12 ms from the second window on. A run (~10 s at the
#    default BENCH_UNITS) spans a --flush period of 10 s, so each pprofstore run pays
#    about one window's conversion, symbolization and transaction, as a recorder left
#    running does every 10 s. Both recorders' last windows (perf's file writing) are
#    outside the timing.
#    Figures, per mode:
#      wall       the best (shortest) and the median run time, and their slowdowns
#                 against the same without recording, as ratios
#      cpu        the CPU time the run cost (best, median): the benchmark's own (user +
#                 system, where the kernel's sampling work lands) plus the recorder's
#                 during the run; its ratio to the same without recording is the slowdown
#                 the run would see on a machine of its own. On a shared machine other
#                 people's load moves wall times by far more than 1%, and CPU time less.
#      recorder   the recorder's own CPU time during the run (median, from schedstat),
#                 and its share of the run's CPU time: the part of the cost that is the
#                 tool's and not the kernel's sampling, which both tools ask alike
#      start-up   the recorder's CPU time before the run (median): the one-off costs, and
#                 for pprofstore the windows it stored before the run
#      stop       the recorder's CPU time from SIGINT to its exit (median, wait4's rusage
#                 less the above): pprofstore's last partial window; perf record's
#                 collection of build-ids, a pass over the file for the binaries its
#                 samples hit (2-3 ms with --no-buildid instead of ~0.1 s): work perf
#                 record leaves to its end, outside the run's time
# 2. Context-switch storm. On every CPU, `perf bench sched pipe -T` (two threads
#    ping-ponging over a pipe) pinned to that CPU with taskset: a pair left to the
#    scheduler spreads over two CPUs and then waits on cross-CPU wakeups (24,000 to 49,000
#    switches a second on this 2-CPU VM, recorded or not); pinned, each pair switches as
#    fast as the CPU allows, so every CPU's ring buffer fills at once. The storm runs
#    BENCH_STORM_SECONDS with no recorder, then under pprofstore record -a with default
#    settings (all types, 99 Hz, default ring buffers), then under perf record -a with the
#    same events and its default buffers. Figures: context switches per second (/proc/stat
#    ctxt over the storm), and the records lost (the store's windows; perf2pprof --info for
#    perf).
#
# Environment:
#   BENCH_REPS            rounds of timed runs (default 5)
#   BENCH_UNITS           pps-cpubench work units per thread (default 2000: ~10 s per run
#                         on an idle 2-CPU VM)
#   BENCH_SETTLE          seconds a recorder runs at least before the timed run (default 2)
#   BENCH_WINDOWS         windows pprofstore record stores before the timed run (default 3)
#   BENCH_MODES           the modes, comma-separated, none first (default all five)
#   BENCH_STORM_SECONDS   length of each storm (default 8; 0: no storm)
#   BENCH_DIR             scratch directory (default a new one in /tmp, removed)
#   BUILD                 build directory (default <repo>/build)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
BENCH_REPS=${BENCH_REPS:-5}
BENCH_UNITS=${BENCH_UNITS:-2000}
BENCH_SETTLE=${BENCH_SETTLE:-2}
BENCH_WINDOWS=${BENCH_WINDOWS:-3}
BENCH_STORM_SECONDS=${BENCH_STORM_SECONDS:-8}
PPROFSTORE=${PPROFSTORE:-$BUILD/cmd/pprofstore}
PERF2PPROF=${PERF2PPROF:-$BUILD/cmd/perf2pprof}
CPUBENCH=${CPUBENCH:-$BUILD/bench/pps-cpubench}
PERF=${PERF:-perf}
export PAGER=cat PERF_PAGER=cat PERF_CONFIG=/dev/null LC_ALL=C

log() { printf '%s\n' "record.sh: $*" >&2; }
for b in "$PPROFSTORE" "$PERF2PPROF" "$CPUBENCH"; do
	[[ -x $b ]] || { log "not built: $b (cmake --build $BUILD)"; exit 1; }
done
command -v "$PERF" >/dev/null || { log "perf not installed"; exit 1; }

OWN_DIR=""
if [[ -z ${BENCH_DIR:-} ]]; then
	BENCH_DIR=$(mktemp -d /tmp/pps-record-bench.XXXXXX)
	OWN_DIR=$BENCH_DIR
fi
mkdir -p "$BENCH_DIR"
REC_PID="" LIFE_PID=""
cleanup() {
	[[ -n $REC_PID ]] && kill -INT "$REC_PID" 2>/dev/null && wait "$LIFE_PID" 2>/dev/null
	[[ -n $OWN_DIR ]] && rm -rf "$OWN_DIR"
	true
}
trap cleanup EXIT

EVENTS=(-e sched:sched_switch -e lock:contention_begin -e lock:contention_end
	-e syscalls:sys_enter_futex -e syscalls:sys_exit_futex)

# life CMD...: runs CMD as a child, writes its pid to life.pid and, once it has ended, the
# CPU time (user + system, s) its whole life took to life.cpu (wait4's rusage: exact, and
# it includes the work a recorder does after SIGINT, where schedstat cannot follow); exits
# as CMD did.
life() {
	python3 - "$BENCH_DIR" "$@" <<'PY'
import os, sys
d = sys.argv[1]
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
with open(f"{d}/life.pid.tmp", "w") as f:
    f.write(str(pid))
os.rename(f"{d}/life.pid.tmp", f"{d}/life.pid")
_, status, ru = os.wait4(pid, 0)
with open(f"{d}/life.cpu", "w") as f:
    f.write(f"{ru.ru_utime + ru.ru_stime:.6f}\n")
code = os.waitstatus_to_exitcode(status)
sys.exit(128 - code if code < 0 else code)
PY
}

# start_recorder MODE: starts the recorder of MODE in the background (REC_PID; LIFE_PID
# its parent, life()).
start_recorder() {
	local mode=$1 freq=${1##* }
	rm -f "$BENCH_DIR"/bench.db* "$BENCH_DIR"/perf.data "$BENCH_DIR"/life.*
	case $mode in
	none) REC_PID="" ;;
	pprofstore*)
		life "$PPROFSTORE" --db "$BENCH_DIR/bench.db" record -q -a -F "$freq" \
			2>"$BENCH_DIR/rec.err" &
		;;
	perf*)
		# -F would sample the tracepoints at that frequency too: the frequency is
		# cpu-clock's alone, tracepoints are recorded at every hit, as ours.
		life "$PERF" record -q -a -g -e "cpu-clock/freq=$freq/" "${EVENTS[@]}" \
			-o "$BENCH_DIR/perf.data" 2>"$BENCH_DIR/rec.err" &
		;;
	esac
	if [[ $mode != none ]]; then
		LIFE_PID=$!
		local tries=0
		until [[ -s $BENCH_DIR/life.pid ]]; do
			((++tries < 100)) || { log "$mode did not start"; exit 1; }
			sleep 0.01
		done
		REC_PID=$(<"$BENCH_DIR/life.pid")
	fi
	if [[ -n $REC_PID ]]; then
		sleep "$BENCH_SETTLE"
		kill -0 "$REC_PID" 2>/dev/null || { log "$mode failed: $(cat "$BENCH_DIR/rec.err")"; exit 1; }
	fi
	if [[ $mode == pprofstore* ]]; then
		local tries=0
		until [[ $(sqlite3 "$BENCH_DIR/bench.db" "SELECT count(*) FROM windows" 2>/dev/null) -ge $BENCH_WINDOWS ]]; do
			((++tries < 10 * (10 * BENCH_WINDOWS + 20))) ||
				{ log "$mode stored no $BENCH_WINDOWS windows in $((10 * BENCH_WINDOWS + 20)) s"; exit 1; }
			sleep 0.1
		done
	fi
}

stop_recorder() {
	local rc=0
	if [[ -n $REC_PID ]]; then
		kill -INT "$REC_PID"
		wait "$LIFE_PID" || rc=$?
		REC_PID="" LIFE_PID=""
		# perf record ends by raising the SIGINT again: 130 is its normal end.
		if ((rc != 0 && rc != 130)); then
			log "recorder exit $rc: $(cat "$BENCH_DIR/rec.err")"
			exit 1
		fi
	fi
}

# ---------------------------------------------------------------- overhead
IFS=, read -r -a MODES <<<"${BENCH_MODES:-none,pprofstore 99,perf 99,pprofstore 999,perf 999}"
[[ ${MODES[0]} == none ]] || { log "BENCH_MODES must start with none (the baseline)"; exit 1; }
# CPU time the recorder's threads have used, in ns (schedstat: exact, where /proc/PID/stat
# counts 10 ms ticks).
rec_ns() {
	local sum=0 a f
	[[ -n $REC_PID ]] || { echo 0; return; }
	for f in /proc/"$REC_PID"/task/*/schedstat; do
		read -r a _ <"$f" 2>/dev/null && sum=$((sum + a))
	done
	echo "$sum"
}
RUNS=$BENCH_DIR/runs.txt
: >"$RUNS"
log "overhead: $BENCH_REPS rounds of ${#MODES[@]} runs of pps-cpubench $BENCH_UNITS on $(nproc) CPUs"
for ((round = 1; round <= BENCH_REPS; round++)); do
	# Each round starts one mode further down the list: over as many rounds as modes,
	# every mode runs once in every position (after a recorder just stopped, or first).
	for ((k = 0; k < ${#MODES[@]}; k++)); do
		mode=${MODES[(k + round - 1) % ${#MODES[@]}]}
		start_recorder "$mode"
		k0=$(rec_ns)
		read -r t cpu < <("$CPUBENCH" "$BENCH_UNITS")
		k1=$(rec_ns)
		stop_recorder
		rec=$(awk -v k="$((k1 - k0))" 'BEGIN { printf "%.4f", k / 1e9 }')
		pre=$(awk -v k="$k0" 'BEGIN { printf "%.4f", k / 1e9 }')
		lifecpu=0
		[[ $mode == none ]] || lifecpu=$(<"$BENCH_DIR/life.cpu")
		post=$(awk -v l="$lifecpu" -v k="$k1" 'BEGIN { p = l - k / 1e9; printf "%.4f", (p > 0 ? p : 0) }')
		log "round $round: $mode: wall $t s, cpu $cpu s + recorder $rec s (start-up $pre s, stop $post s)"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$mode" "$t" "$cpu" "$rec" "$pre" "$post" >>"$RUNS"
	done
done
printf '\nload average before the last round: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
# Per mode: best and median of the wall time and of the CPU cost (the benchmark's own
# user + system time, where the kernel's sampling work lands, plus the recorder's during
# the run), each against the same statistic without recording; the recorder's own CPU
# during the run (median), as a share of the run's CPU time; its CPU before the run.
# Then pprofstore against perf at each frequency, round by round (the two ran minutes
# apart, next to the same 'none'): the difference of their slowdowns, as a share of that
# round's time without recording. Its median, its range, and in how many rounds
# pprofstore's was no larger, say more than the two medians do when drift between rounds
# is as large as the difference.
python3 - "$RUNS" "${MODES[@]}" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
modes = sys.argv[2:]
by = {m: [(float(t), float(c) + float(r), float(r), float(c), float(p), float(q))
          for _, mm, t, c, r, p, q in rows if mm == m]
      for m in modes}
rounds = {}
for rnd, m, t, c, r, _, _ in rows:
    rounds.setdefault(rnd, {})[m] = (float(t), float(c) + float(r))
def stat(m, i, f):
    return f([x[i] for x in by[m]])
print(f"{'recording':<16} {'wall best':>9} {'slowdown':>9} {'wall med':>9} {'slowdown':>9} "
      f"{'cpu best':>9} {'slowdown':>9} {'cpu med':>9} {'slowdown':>9} {'recorder':>9} {'share':>7} "
      f"{'start-up':>9} {'stop':>9}")
for m in modes:
    out = [m]
    for i in (0, 1):
        for f in (min, statistics.median):
            v, b = stat(m, i, f), stat("none", i, f)
            out += [f"{v:9.3f}", f"{100 * (v / b - 1):8.2f}%"]
    rec = stat(m, 2, statistics.median)
    share = 100 * rec / stat(m, 3, statistics.median)
    out += [f"{1000 * rec:7.1f}ms", f"{share:6.2f}%", f"{1000 * stat(m, 4, statistics.median):7.1f}ms",
            f"{1000 * stat(m, 5, statistics.median):7.1f}ms"]
    print(f"{out[0]:<16} " + " ".join(out[1:]))
print(f"\n{'paired, per round':<28} {'median':>8} {'min':>8} {'max':>8} {'rounds <= 0':>12}")
for f in ("99", "999"):
    ours, theirs = f"pprofstore {f}", f"perf {f}"
    for i, what in ((0, "wall"), (1, "cpu")):
        d = [100 * (v[ours][i] - v[theirs][i]) / v["none"][i] for v in rounds.values()
             if {ours, theirs, "none"} <= v.keys()]
        if d:
            print(f"{'pprofstore - perf ' + f + ' ' + what:<28} {statistics.median(d):7.2f}% "
                  f"{min(d):7.2f}% {max(d):7.2f}% {sum(x <= 0 for x in d):>7} of {len(d)}")
PY

# ---------------------------------------------------------------- storm
((BENCH_STORM_SECONDS > 0)) || exit 0
ctxt() { awk '/^ctxt / { print $2 }' /proc/stat; }
storm() {
	local c0 c1 t0 t1 cpu pids=()
	c0=$(ctxt)
	t0=$(date +%s.%N)
	for ((cpu = 0; cpu < $(nproc); cpu++)); do
		timeout -s INT "$BENCH_STORM_SECONDS" taskset -c "$cpu" \
			"$PERF" bench sched pipe -T -l 2000000000 >/dev/null 2>&1 &
		pids+=("$!")
	done
	wait "${pids[@]}" || true
	t1=$(date +%s.%N)
	c1=$(ctxt)
	awk -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", c / (t1 - t0) }'
}

printf '\n%-48s %16s %14s\n' "context-switch storm (perf bench sched pipe -T," "switches/s" "lost records"
printf '%s\n' "a pair pinned to each CPU)"
printf '%-48s %16s %14s\n' "no recording" "$(storm)" "-"
start_recorder "pprofstore 99"
rate=$(storm)
stop_recorder
lost=$(sqlite3 "$BENCH_DIR/bench.db" "SELECT coalesce(sum(lost), 0) FROM windows")
samples=$(sqlite3 "$BENCH_DIR/bench.db" "SELECT coalesce(sum(nr_samples), 0) FROM windows")
printf '%-48s %16s %14s   (%s samples)\n' "pprofstore record -a, defaults" "$rate" "$lost" "$samples"
start_recorder "perf 99"
rate=$(storm)
stop_recorder
read -r lost samples < <("$PERF2PPROF" --info --json "$BENCH_DIR/perf.data" 2>/dev/null |
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["lost"], d["samples"])')
printf '%-48s %16s %14s   (%s samples)\n' "perf record -a, same events, defaults" "$rate" "$lost" "$samples"
