#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Reader benchmark: how fast perf2pprof / libpprofstore read a big perf.data, against
# `cat` (the floor) and `perf report --stats`. Not a test: it only prints figures.
#
# Makes (or reuses) a system-wide recording of at least BENCH_MB MB:
#   perf record -a -g -e cpu-clock -F $BENCH_FREQ  while a few busy processes run
#   (python3 loops using zlib/json/hashlib, gzip of /dev/urandom, sort of a big input),
#   stopped with SIGINT once the file is big enough (or after BENCH_MAX_SECONDS).
# Then, from the page cache (after a warm-up read), runs each reader BENCH_REPS times and
# reports the best wall time and the peak RSS (GNU time's %M, else os.wait4's ru_maxrss).
# cat writes to /dev/null; the other tools' stdout goes to a temporary file.
#
# Environment:
#   BENCH_MB           minimum size of the recording in MB (default 200)
#   BENCH_DIR          where the recording lives and is reused from (default /tmp/pps-bench)
#   BENCH_FREQ         sampling frequency (default 9999; perf may lower it)
#   BENCH_MAX_SECONDS  longest recording time (default 300)
#   BENCH_REPS         timed runs per tool, best is kept (default 3)
#   BUILD              build directory (default <repo>/build)
#   PERF2PPROF         perf2pprof binary (default $BUILD/cmd/perf2pprof)
#   READBENCH          pps-readbench binary (default $BUILD/bench/pps-readbench)
#   BENCH_FILE         use this perf.data instead of making one
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_MB=${BENCH_MB:-200}
BENCH_DIR=${BENCH_DIR:-/tmp/pps-bench}
BENCH_FREQ=${BENCH_FREQ:-9999}
BENCH_MAX_SECONDS=${BENCH_MAX_SECONDS:-300}
BENCH_REPS=${BENCH_REPS:-3}
BUILD=${BUILD:-$REPO/build}
PERF2PPROF=${PERF2PPROF:-$BUILD/cmd/perf2pprof}
READBENCH=${READBENCH:-$BUILD/bench/pps-readbench}
PERF=${PERF:-perf}
export PAGER=cat PERF_PAGER=cat PERF_CONFIG=/dev/null LC_ALL=C

FILE=${BENCH_FILE:-$BENCH_DIR/perf.data.bench-${BENCH_MB}mb}
want_bytes=$((BENCH_MB * 1024 * 1024))

log() { printf '%s\n' "reader.sh: $*" >&2; }
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------- recording
WORK_PIDS=()
PERF_PID=""
cleanup() {
	local p
	for p in "${WORK_PIDS[@]}"; do
		kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
	done
	if [[ -n $PERF_PID ]]; then
		kill -INT "$PERF_PID" 2>/dev/null || true
	fi
}
trap cleanup EXIT

start_workload() {
	# setsid: each workload is its own process group, so it is stopped with its children.
	setsid "$@" </dev/null >/dev/null 2>&1 &
	WORK_PIDS+=("$!")
}

make_recording() {
	command -v "$PERF" >/dev/null || { log "perf not found"; exit 1; }
	mkdir -p "$(dirname "$FILE")"
	local tmp=$FILE.partial
	rm -f "$tmp"
	log "recording system-wide until $tmp >= ${BENCH_MB} MB (max ${BENCH_MAX_SECONDS}s)"
	local py
	for py in 1 2; do
		start_workload python3 -c '
import hashlib, json, zlib, os, random
random.seed(1)
blob = os.urandom(1 << 16)
def rec(n):
    if n == 0:
        d = {"k%d" % i: random.random() for i in range(50)}
        return len(zlib.compress(json.dumps(d).encode() + blob[: random.randrange(1 << 16)]))
    return rec(n - 1) + 1
while True:
    hashlib.sha256(blob).hexdigest()
    rec(random.randrange(1, 40))
'
	done
	start_workload bash -c 'while :; do head -c 64M /dev/urandom | gzip -1 > /dev/null; done'
	start_workload bash -c 'while :; do seq 1 1500000 | sort -r | sort -n > /dev/null; done'
	"$PERF" record -a -g -e cpu-clock -F "$BENCH_FREQ" -o "$tmp" </dev/null >/dev/null \
		2>"$tmp.log" &
	PERF_PID=$!
	local t=0
	while ((t < BENCH_MAX_SECONDS)); do
		sleep 1
		t=$((t + 1))
		kill -0 "$PERF_PID" 2>/dev/null || { log "perf record died:"; cat "$tmp.log" >&2; exit 1; }
		if (($(fsize "$tmp") >= want_bytes)); then
			break
		fi
		if ((t % 10 == 0)); then
			log "  ${t}s: $(($(fsize "$tmp") / 1048576)) MB"
		fi
	done
	kill -INT "$PERF_PID"
	wait "$PERF_PID" || true
	PERF_PID=""
	cleanup
	WORK_PIDS=()
	tail -n 2 "$tmp.log" >&2 || true
	if (($(fsize "$tmp") < want_bytes)); then
		log "warning: only $(($(fsize "$tmp") / 1048576)) MB after ${t}s" \
			"(raise BENCH_MAX_SECONDS or BENCH_FREQ)"
	fi
	mv "$tmp" "$FILE"
	rm -f "$tmp.log"
}

if [[ -n ${BENCH_FILE:-} ]]; then
	[[ -r $FILE ]] || { log "BENCH_FILE $FILE not readable"; exit 1; }
elif [[ -r $FILE && $(fsize "$FILE") -ge $want_bytes ]]; then
	log "reusing $FILE"
else
	make_recording
fi

size=$(fsize "$FILE")
log "file: $FILE ($((size / 1048576)) MB)"

# ---------------------------------------------------------------- measuring
# measure NAME CMD...: best wall time of BENCH_REPS runs, peak RSS, stdout of the last run.
RESULTS=()
measure() {
	local name=$1
	shift
	if ! command -v "$1" >/dev/null 2>&1 && [[ ! -x $1 ]]; then
		log "skipping $name: $1 not found"
		return 0
	fi
	local line
	line=$(python3 - "$BENCH_REPS" "$@" <<'EOF'
import os, subprocess, sys, tempfile, time
# Peak RSS: GNU time's %M when installed (a child's ru_maxrss includes the RSS of the process
# that exec'd it, so a small C parent is more exact than python), else os.wait4's ru_maxrss.
reps = int(sys.argv[1]); argv = sys.argv[2:]
gnu_time = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
is_cat = os.path.basename(argv[0]) == "cat"   # the floor: write to /dev/null, not a file
best, rss, rc = None, 0, 0
with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as rf:
    for _ in range(reps):
        out.seek(0)
        out.truncate()
        run = ([gnu_time, "-f", "%M", "-o", rf.name] + argv) if gnu_time else argv
        t0 = time.perf_counter()
        p = subprocess.Popen(run, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL if is_cat else out,
                             stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        p.returncode = rc = os.waitstatus_to_exitcode(status)
        best = dt if best is None else min(best, dt)
        if gnu_time:
            rf.seek(0)
            lines = [l for l in rf.read().splitlines() if l.strip()]
            m = int(lines[-1]) if lines and lines[-1].strip().isdigit() else 0
        else:
            m = ru.ru_maxrss
        rss = max(rss, m)
    out.seek(max(0, out.seek(0, 2) - 4096))
    last = out.read()
tail = [l for l in last.decode("utf-8", "replace").replace("\0", "").splitlines() if l.strip()]
print(f"{best:.4f} {rss} {rc} " + (tail[-1] if tail else "").replace("\t", " ")[:200])
EOF
	)
	RESULTS+=("$name|$line")
	log "  $name: ${line%% *} s"
}

log "warm-up read"
cat "$FILE" >/dev/null
log "timing (best of $BENCH_REPS)"
measure "cat" cat "$FILE"
measure "perf report --stats" "$PERF" report --stats -f -i "$FILE"
measure "perf2pprof --info" "$PERF2PPROF" --info "$FILE"
measure "pps-readbench" "$READBENCH" "$FILE"
measure "pps-readbench --ordered" "$READBENCH" --ordered "$FILE"

# ---------------------------------------------------------------- table
python3 - "$size" "${RESULTS[@]}" <<'EOF'
import sys
size = int(sys.argv[1])
rows = []
for r in sys.argv[2:]:
    name, rest = r.split("|", 1)
    parts = rest.split(" ", 3)
    secs, rss, rc = float(parts[0]), int(parts[1]), int(parts[2])
    rows.append((name, secs, rss, rc, parts[3] if len(parts) > 3 else ""))
base = {n: s for n, s, *_ in rows}
cat, perf = base.get("cat"), base.get("perf report --stats")
mb = size / 1e6
print(f"\nfile: {size / 1048576:.1f} MiB ({size} bytes), best of runs, from page cache\n")
print(f"{'tool':<26} {'seconds':>8} {'MB/s':>9} {'peak RSS MB':>12} {'x cat':>7} "
      f"{'x perf':>7} {'exit':>5}")
for name, secs, rss, rc, _ in rows:
    xc = f"{secs / cat:.1f}" if cat else "-"
    xp = f"{secs / perf:.2f}" if perf else "-"
    print(f"{name:<26} {secs:8.3f} {mb / secs if secs else 0:9.1f} {rss / 1024:12.1f} "
          f"{xc:>7} {xp:>7} {rc:>5}")
print()
for name, secs, rss, rc, last in rows:
    if name.startswith("pps-readbench") and last:
        print(f"{name}: {last}")
EOF
