#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Block and mutex profile benchmark: perf2pprof --type block / --type mutex / --all on a
# big tracepoint recording, against the perf tools that compute the same from the same
# file: `perf sched timehist` (off-CPU wait times per switch) and `perf lock contention`
# (lock waits). Not a test: it only prints figures.
#
# The recording (reused from $BENCH_DIR when it is there and has enough samples):
#   perf record -a -g -m $BENCH_MMAP -e sched:sched_switch -e lock:contention_begin
#     -e lock:contention_end -e syscalls:sys_enter_futex -e syscalls:sys_exit_futex
#   while a context-switch storm runs: `perf bench sched pipe -T` (two threads
#   ping-ponging over pipes) and, when built, tests/workloads' pps_wl_mutexer (4 threads
#   fighting over a pthread mutex: futex waits) and pps_wl_mmapper (mmap_lock rwsem).
# It is made again with twice the pipe loops while it has fewer than BENCH_SAMPLES
# samples (up to 4 times). The sample count is perf2pprof --info --json's, checked
# against `perf report --stats`.
# Then, from the page cache (after a warm-up read), each tool runs BENCH_REPS times (perf's
# BENCH_PERF_REPS times); the best wall time and the peak RSS (GNU time's %M, else
# os.wait4's ru_maxrss) are reported. Output goes to a temporary file whose size is shown
# (perf2pprof: -o FILE, or -o DIR for --all). Symbols come from this machine's binaries.
#
# Environment:
#   BENCH_SAMPLES      minimum number of tracepoint samples (default 1000000)
#   BENCH_LOOPS        first pipe ping-pong loop count (default 400000)
#   BENCH_DIR          where the recording lives and is reused from (default /tmp/pps-bench)
#   BENCH_MMAP         perf record -m, ring buffer pages per CPU (default 8192)
#   BENCH_REPS         timed runs of perf2pprof, best is kept (default 3)
#   BENCH_PERF_REPS    timed runs of perf sched timehist / perf lock contention (default 1)
#   BUILD              build directory (default <repo>/build)
#   PERF2PPROF         perf2pprof binary (default $BUILD/cmd/perf2pprof)
#   BENCH_FILE         use this perf.data instead of making one
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_SAMPLES=${BENCH_SAMPLES:-1000000}
BENCH_LOOPS=${BENCH_LOOPS:-400000}
BENCH_DIR=${BENCH_DIR:-/tmp/pps-bench}
BENCH_MMAP=${BENCH_MMAP:-8192}
BENCH_REPS=${BENCH_REPS:-3}
BENCH_PERF_REPS=${BENCH_PERF_REPS:-1}
BUILD=${BUILD:-$REPO/build}
PERF2PPROF=${PERF2PPROF:-$BUILD/cmd/perf2pprof}
PERF=${PERF:-perf}
MUTEXER=$BUILD/tests/workloads/pps_wl_mutexer
MMAPPER=$BUILD/tests/workloads/pps_wl_mmapper
export PAGER=cat PERF_PAGER=cat PERF_CONFIG=/dev/null LC_ALL=C

FILE=${BENCH_FILE:-$BENCH_DIR/perf.data.tracepoints}
EVENTS=(-e sched:sched_switch -e lock:contention_begin -e lock:contention_end
	-e syscalls:sys_enter_futex -e syscalls:sys_exit_futex)

log() { printf '%s\n' "tracepoints.sh: $*" >&2; }
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

[[ -x $PERF2PPROF ]] || { log "perf2pprof not found: $PERF2PPROF"; exit 1; }
if ! "$PERF2PPROF" --help 2>&1 | grep -q -- '--include-preempted'; then
	log "warning: $PERF2PPROF --help has no --include-preempted (no block/mutex profiles yet?)"
fi

# samples FILE: tracepoint samples in the recording (perf2pprof --info --json), 0 if unreadable.
samples() {
	"$PERF2PPROF" --info --json "$1" 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
    print(sum(e.get("samples", 0) for e in d.get("events", [])))
except ValueError:
    print(0)' || echo 0
}

# ---------------------------------------------------------------- recording
WORK_PIDS=()
cleanup() {
	local p
	for p in "${WORK_PIDS[@]}"; do
		kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT

make_recording() {
	command -v "$PERF" >/dev/null || { log "perf not found"; exit 1; }
	local tp
	for tp in sched/sched_switch lock/contention_begin syscalls/sys_enter_futex; do
		[[ -d /sys/kernel/tracing/events/$tp || -d /sys/kernel/debug/tracing/events/$tp ]] ||
			log "warning: tracepoint ${tp/\//:} not found; perf record may fail"
	done
	mkdir -p "$(dirname "$FILE")"
	local tmp=$FILE.partial loops=$BENCH_LOOPS try n=0 secs
	for try in 1 2 3 4; do
		# The mutex workloads run about as long as the pipe storm (measured at ~100k
		# loops/s here; they are stopped when it ends anyway).
		secs=$(python3 -c "print(max(2, $loops / 100000))")
		log "recording: perf bench sched pipe -T -l $loops + mutex workloads (${secs}s)"
		rm -f "$tmp"
		local extra=""
		[[ -x $MUTEXER ]] && extra+=" $MUTEXER $secs 4 >/dev/null &"
		[[ -x $MMAPPER ]] && extra+=" $MMAPPER $secs 4 >/dev/null &"
		# setsid: the storm and its workloads are one process group, stopped together.
		setsid "$PERF" record -a -g -m "$BENCH_MMAP" "${EVENTS[@]}" -o "$tmp" -- \
			sh -c "$extra $PERF bench sched pipe -T -l $loops >/dev/null; wait" \
			</dev/null >/dev/null 2>"$tmp.log" &
		WORK_PIDS=("$!")
		wait "${WORK_PIDS[0]}" || { log "perf record failed:"; tail -n 5 "$tmp.log" >&2; exit 1; }
		WORK_PIDS=()
		tail -n 2 "$tmp.log" >&2 || true
		n=$(samples "$tmp")
		log "  $n samples, $(($(fsize "$tmp") / 1048576)) MB"
		if ((n >= BENCH_SAMPLES)); then
			break
		fi
		loops=$((loops * 2))
	done
	((n >= BENCH_SAMPLES)) || log "warning: only $n samples (raise BENCH_LOOPS)"
	mv "$tmp" "$FILE"
	rm -f "$tmp.log"
}

if [[ -n ${BENCH_FILE:-} ]]; then
	[[ -r $FILE ]] || { log "BENCH_FILE $FILE not readable"; exit 1; }
elif [[ -r $FILE && $(samples "$FILE") -ge $BENCH_SAMPLES ]]; then
	log "reusing $FILE"
else
	make_recording
fi

size=$(fsize "$FILE")
nsamples=$(samples "$FILE")
log "file: $FILE ($((size / 1048576)) MB, $nsamples samples)"
perf_samples=$("$PERF" report --stats -f -i "$FILE" 2>/dev/null |
	awk '/^ *SAMPLE events:/ && !agg {agg = $3} END {print agg + 0}')
if [[ $perf_samples != "$nsamples" ]]; then
	log "warning: perf report --stats counts $perf_samples samples, perf2pprof $nsamples"
fi
lost=$("$PERF" report --stats -f -i "$FILE" 2>/dev/null |
	awk '/^ *LOST(_SAMPLES)? events:/ && !seen[$1]++ {s += $3} END {print s + 0}')
((lost == 0)) || log "note: $lost LOST/LOST_SAMPLES records (raise BENCH_MMAP)"

# ---------------------------------------------------------------- measuring
# measure NAME REPS OUTKIND CMD...: best wall time of REPS runs, peak RSS, exit code, output
# bytes. OUTKIND: "stdout" (to a temporary file), "file" (the command's -o is given the
# placeholder @OUT@ and the file is measured), "dir" (likewise, a directory).
RESULTS=()
measure() {
	local name=$1 reps=$2 kind=$3
	shift 3
	local line
	line=$(python3 - "$reps" "$kind" "$@" <<'EOF'
import os, shutil, subprocess, sys, tempfile, time
reps = int(sys.argv[1]); kind = sys.argv[2]; argv = sys.argv[3:]
gnu_time = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
best, rss, rc, outsz = None, 0, 0, 0
work = tempfile.mkdtemp(prefix="pps-tpbench-")
try:
    with tempfile.NamedTemporaryFile("r") as rf:
        for _ in range(reps):
            target = os.path.join(work, "out")
            shutil.rmtree(target, ignore_errors=True)
            if os.path.exists(target):
                os.unlink(target)
            if kind == "dir":
                os.makedirs(target)
            cmd = [a.replace("@OUT@", target) for a in argv]
            run = ([gnu_time, "-f", "%M", "-o", rf.name] + cmd) if gnu_time else cmd
            with open(os.path.join(work, "stdout"), "wb") as out:
                t0 = time.perf_counter()
                p = subprocess.Popen(run, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.DEVNULL)
                _, status, ru = os.wait4(p.pid, 0)
                dt = time.perf_counter() - t0
            rc = os.waitstatus_to_exitcode(status)
            best = dt if best is None else min(best, dt)
            if gnu_time:
                rf.seek(0)
                lines = [l for l in rf.read().splitlines() if l.strip()]
                m = int(lines[-1]) if lines and lines[-1].strip().isdigit() else 0
            else:
                m = ru.ru_maxrss
            rss = max(rss, m)
            if kind == "stdout":
                outsz = os.path.getsize(os.path.join(work, "stdout"))
            elif kind == "file":
                outsz = os.path.getsize(target) if os.path.exists(target) else 0
            else:
                outsz = sum(os.path.getsize(os.path.join(target, f))
                            for f in os.listdir(target))
finally:
    shutil.rmtree(work, ignore_errors=True)
print(f"{best:.4f} {rss} {rc} {outsz}")
EOF
	)
	RESULTS+=("$name|$line")
	log "  $name: ${line%% *} s"
}

log "warm-up read"
cat "$FILE" >/dev/null
log "timing (perf2pprof best of $BENCH_REPS, perf best of $BENCH_PERF_REPS)"
measure "cat" "$BENCH_REPS" stdout cat "$FILE"
measure "perf2pprof --type block" "$BENCH_REPS" file \
	"$PERF2PPROF" -q --type block "$FILE" -o @OUT@
measure "perf2pprof --type mutex" "$BENCH_REPS" file \
	"$PERF2PPROF" -q --type mutex "$FILE" -o @OUT@
measure "perf2pprof --all" "$BENCH_REPS" dir "$PERF2PPROF" -q --all "$FILE" -o @OUT@
measure "perf sched timehist" "$BENCH_PERF_REPS" stdout "$PERF" sched timehist -f -i "$FILE"
measure "perf lock contention" "$BENCH_PERF_REPS" stdout \
	"$PERF" lock contention -E 1000000 -f -i "$FILE"

# ---------------------------------------------------------------- table
python3 - "$size" "$nsamples" "${RESULTS[@]}" <<'EOF'
import sys
size, n = int(sys.argv[1]), int(sys.argv[2])
rows = []
for r in sys.argv[3:]:
    name, rest = r.split("|", 1)
    secs, rss, rc, outsz = rest.split()
    rows.append((name, float(secs), int(rss), int(rc), int(outsz)))
t = {name: secs for name, secs, *_ in rows}
print(f"\nfile: {size / 1048576:.1f} MiB, {n} tracepoint samples, best of runs, "
      "from page cache\n")
print(f"{'tool':<24} {'seconds':>8} {'Msamples/s':>11} {'peak RSS MB':>12} {'out MB':>8} "
      f"{'x cat':>7} {'exit':>5}")
cat = t.get("cat")
for name, secs, rss, rc, outsz in rows:
    xc = f"{secs / cat:.1f}" if cat else "-"
    print(f"{name:<24} {secs:8.3f} {n / secs / 1e6 if secs else 0:11.2f} {rss / 1024:12.1f} "
          f"{outsz / 1048576:8.2f} {xc:>7} {rc:>5}")
print()
for ours, theirs in (("perf2pprof --type block", "perf sched timehist"),
                     ("perf2pprof --type mutex", "perf lock contention"),
                     ("perf2pprof --all", "perf sched timehist")):
    if t.get(ours) and t.get(theirs):
        print(f"time ratio {theirs} / {ours} = {t[theirs] / t[ours]:.2f} "
              "(above 1: perf2pprof is faster)")
if t.get("perf2pprof --all") and t.get("perf sched timehist") and \
        t.get("perf lock contention"):
    both = t["perf sched timehist"] + t["perf lock contention"]
    print(f"time ratio (timehist + lock contention) / perf2pprof --all = "
          f"{both / t['perf2pprof --all']:.2f}")
bad = [name for name, _, _, rc, _ in rows if rc != 0]
if bad:
    print(f"\nnote: nonzero exit from {', '.join(bad)}: their figures may not mean much")
EOF
