#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Conversion benchmark: perf2pprof (symbolized, the default) end to end on a big perf.data,
# against the perf tools that read the same file: `perf report --stdio --no-children` and
# `perf script`. Not a test: it only prints figures.
#
# The recording is made as bench/reader.sh makes it, and shared with it (same $BENCH_DIR and
# naming; any perf.data.bench-*mb there at least BENCH_MB big is reused):
#   perf record -a -g -e cpu-clock -F $BENCH_FREQ  while a few busy processes run
#   (python3 loops using zlib/json/hashlib, gzip of /dev/urandom, sort of a big input),
#   stopped with SIGINT once the file is big enough (or after BENCH_MAX_SECONDS).
# Then, from the page cache (after a warm-up read), runs each tool and reports the best wall
# time and the peak RSS (GNU time's %M, else os.wait4's ru_maxrss). cat writes to /dev/null;
# the other tools' stdout goes to a temporary file, whose size is shown. perf2pprof writes
# its profile to stdout (-o -). Symbols come from the binaries on this machine, so run it
# where the recording was made.
#
# Environment:
#   BENCH_MB           minimum size of the recording in MB (default 100)
#   BENCH_DIR          where the recording lives and is reused from (default /tmp/pps-bench)
#   BENCH_FREQ         sampling frequency (default 9999; perf may lower it)
#   BENCH_MAX_SECONDS  longest recording time (default 300)
#   BENCH_REPS         timed runs of perf2pprof and cat, best is kept (default 3)
#   BENCH_PERF_REPS    timed runs of the (slow) perf report and perf script (default 1)
#   BENCH_PAIRS        then this many rounds of perf2pprof and perf report back to back,
#                      with the median of the rounds' ratios (default 0: none)
#   BUILD              build directory (default <repo>/build)
#   PERF2PPROF         perf2pprof binary (default $BUILD/cmd/perf2pprof)
#   BENCH_FILE         use this perf.data instead of making one
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_MB=${BENCH_MB:-100}
BENCH_DIR=${BENCH_DIR:-/tmp/pps-bench}
BENCH_FREQ=${BENCH_FREQ:-9999}
BENCH_MAX_SECONDS=${BENCH_MAX_SECONDS:-300}
BENCH_REPS=${BENCH_REPS:-3}
BENCH_PERF_REPS=${BENCH_PERF_REPS:-1}
BENCH_PAIRS=${BENCH_PAIRS:-0}
BUILD=${BUILD:-$REPO/build}
PERF2PPROF=${PERF2PPROF:-$BUILD/cmd/perf2pprof}
PERF=${PERF:-perf}
export PAGER=cat PERF_PAGER=cat PERF_CONFIG=/dev/null LC_ALL=C

FILE=${BENCH_FILE:-$BENCH_DIR/perf.data.bench-${BENCH_MB}mb}
want_bytes=$((BENCH_MB * 1024 * 1024))

log() { printf '%s\n' "convert.sh: $*" >&2; }
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

# A recording left by reader.sh (or by a run with another BENCH_MB) that is big enough.
if [[ -z ${BENCH_FILE:-} && ! -r $FILE ]]; then
	for f in "$BENCH_DIR"/perf.data.bench-*mb; do
		if [[ -r $f && $(fsize "$f") -ge $want_bytes ]]; then
			FILE=$f
			break
		fi
	done
fi

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
	for _ in 1 2; do
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
[[ -x $PERF2PPROF ]] || { log "perf2pprof not found: $PERF2PPROF"; exit 1; }
if ! "$PERF2PPROF" --help 2>&1 | grep -q -- '--no-symbolize'; then
	log "warning: $PERF2PPROF --help does not mention --no-symbolize (no converter yet?)"
fi

# ---------------------------------------------------------------- measuring
# measure NAME REPS CMD...: best wall time of REPS runs, peak RSS, exit code, stdout bytes.
RESULTS=()
measure() {
	local name=$1 reps=$2
	shift 2
	if ! command -v "$1" >/dev/null 2>&1 && [[ ! -x $1 ]]; then
		log "skipping $name: $1 not found"
		return 0
	fi
	local line
	line=$(python3 - "$reps" "$@" <<'EOF'
import os, subprocess, sys, tempfile, time
# Peak RSS: GNU time's %M when installed (a child's ru_maxrss includes the RSS of the process
# that exec'd it, so a small C parent is more exact than python), else os.wait4's ru_maxrss.
reps = int(sys.argv[1]); argv = sys.argv[2:]
gnu_time = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
is_cat = os.path.basename(argv[0]) == "cat"   # the floor: write to /dev/null, not a file
best, rss, rc, outsz = None, 0, 0, 0
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
        outsz = out.seek(0, 2)
print(f"{best:.4f} {rss} {rc} {outsz}")
EOF
	)
	RESULTS+=("$name|$line")
	log "  $name: ${line%% *} s"
}

log "warm-up read"
cat "$FILE" >/dev/null
log "timing (perf2pprof best of $BENCH_REPS, perf report/script best of $BENCH_PERF_REPS)"
measure "cat" "$BENCH_REPS" cat "$FILE"
measure "perf2pprof" "$BENCH_REPS" "$PERF2PPROF" -q "$FILE" -o -
measure "perf2pprof --no-symbolize" "$BENCH_REPS" "$PERF2PPROF" -q --no-symbolize "$FILE" -o -
measure "perf report --no-children" "$BENCH_PERF_REPS" \
	"$PERF" report --stdio --no-children -f -i "$FILE"
measure "perf script" "$BENCH_PERF_REPS" "$PERF" script -f -i "$FILE"

# ---------------------------------------------------------------- table
python3 - "$size" "${RESULTS[@]}" <<'EOF'
import sys
size = int(sys.argv[1])
rows = []
for r in sys.argv[2:]:
    name, rest = r.split("|", 1)
    secs, rss, rc, outsz = rest.split()
    rows.append((name, float(secs), int(rss), int(rc), int(outsz)))
base = {n: s for n, s, *_ in rows}
cat = base.get("cat")
rep, scr = base.get("perf report --no-children"), base.get("perf script")
mb = size / 1e6
print(f"\nfile: {size / 1048576:.1f} MiB ({size} bytes), best of runs, from page cache\n")
print(f"{'tool':<27} {'seconds':>8} {'MB/s':>8} {'peak RSS MB':>12} {'out MB':>8} "
      f"{'x cat':>7} {'x report':>9} {'x script':>9} {'exit':>5}")
for name, secs, rss, rc, outsz in rows:
    xc = f"{secs / cat:.1f}" if cat else "-"
    xr = f"{secs / rep:.3f}" if rep else "-"
    xs = f"{secs / scr:.3f}" if scr else "-"
    print(f"{name:<27} {secs:8.3f} {mb / secs if secs else 0:8.1f} {rss / 1024:12.1f} "
          f"{outsz / 1048576:8.2f} {xc:>7} {xr:>9} {xs:>9} {rc:>5}")
p = base.get("perf2pprof")
if p and rep and scr:
    print(f"\ntime ratios: perf report --no-children / perf2pprof = {rep / p:.2f}, "
          f"perf script / perf2pprof = {scr / p:.2f} (above 1: perf2pprof is faster)")
bad = [n for n, _, _, rc, _ in rows if rc != 0]
if bad:
    print(f"\nnote: nonzero exit from {', '.join(bad)}: their figures may not mean much")
EOF

# ---------------------------------------------------------------- paired rounds
# On a shared host the speed of the machine drifts by a third within minutes, so the two
# bests above may come from different weather. Each round here runs perf2pprof and perf
# report back to back (order alternating), and the ratio is taken within the round.
if ((BENCH_PAIRS > 0)) && command -v "$PERF" >/dev/null; then
	log "paired rounds: $BENCH_PAIRS x (perf2pprof, perf report)"
	python3 - "$BENCH_PAIRS" "$FILE" "$PERF2PPROF" "$PERF" <<'EOF'
import statistics, subprocess, sys, time
pairs, f, p2p, perf = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
cmds = {"perf2pprof": [p2p, "-q", f, "-o", "-"],
        "report": [perf, "report", "--stdio", "--no-children", "-f", "-i", f]}
def run(argv):
    t0 = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0
ratios = []
for i in range(pairs):
    order = ["perf2pprof", "report"] if i % 2 == 0 else ["report", "perf2pprof"]
    t = {k: run(cmds[k]) for k in order}
    ratios.append(t["report"] / t["perf2pprof"])
    print(f"round {i + 1}: perf2pprof {t['perf2pprof']:.3f} s, perf report {t['report']:.3f} s,"
          f" ratio {ratios[-1]:.2f}")
print(f"paired ratio perf report / perf2pprof over {pairs} rounds: median "
      f"{statistics.median(ratios):.2f}, min {min(ratios):.2f}, max {max(ratios):.2f}")
EOF
fi
