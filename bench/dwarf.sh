#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# DWARF call-graph benchmark: perf2pprof on a recording made with
# `perf record --call-graph dwarf` (every sample carries the user registers and a copy of
# the user stack, unwound at conversion), against `perf report --stdio --no-children` on
# the same file, which unwinds them with elfutils too. Not a test: it only prints figures.
#
# The recording: perf record -e cpu-clock -F $BENCH_FREQ --call-graph dwarf of a shell that
# runs busy processes using shared libraries (python3 with zlib and hashlib: libz,
# libcrypto; xz: liblzma; gzip; sort), stopped once the file is BENCH_MB big (or after
# BENCH_MAX_SECONDS). The timing is bench/convert.sh's, given the file as BENCH_FILE: best
# wall time from the page cache, peak RSS, perf2pprof with and without symbolization,
# perf report --no-children, perf script, and the ratios. Symbols and unwinding tables
# come from the binaries on this machine, so run it where the recording was made.
#
# Environment:
#   BENCH_MB           minimum size of the recording in MB (default 100)
#   BENCH_DIR          where the recording lives and is reused from (default /tmp/pps-bench)
#   BENCH_FREQ         sampling frequency (default 999)
#   BENCH_MAX_SECONDS  longest recording time (default 120)
#   BENCH_FILE         use this DWARF perf.data instead of making one
#   and bench/convert.sh's BENCH_REPS, BENCH_PERF_REPS, BUILD, PERF2PPROF
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_MB=${BENCH_MB:-100}
BENCH_DIR=${BENCH_DIR:-/tmp/pps-bench}
BENCH_FREQ=${BENCH_FREQ:-999}
BENCH_MAX_SECONDS=${BENCH_MAX_SECONDS:-120}
PERF=${PERF:-perf}
export PAGER=cat PERF_PAGER=cat PERF_CONFIG=/dev/null LC_ALL=C

FILE=${BENCH_FILE:-$BENCH_DIR/perf.data.dwarf-${BENCH_MB}mb}
want_bytes=$((BENCH_MB * 1024 * 1024))

log() { printf '%s\n' "dwarf.sh: $*" >&2; }
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

make_recording() {
	command -v "$PERF" >/dev/null || { log "perf not found"; exit 1; }
	mkdir -p "$(dirname "$FILE")"
	local tmp=$FILE.partial stop=$FILE.stop
	rm -f "$tmp" "$stop"
	log "recording with --call-graph dwarf until $tmp >= ${BENCH_MB} MB" \
		"(max ${BENCH_MAX_SECONDS}s)"
	# The shell under perf starts the workloads, waits for the file to be big enough (or
	# the time to run out), then tells them to stop and waits for them: perf record ends
	# with it. Each loop checks the stop file between runs.
	"$PERF" record -e cpu-clock -F "$BENCH_FREQ" --call-graph dwarf -o "$tmp" -- \
		bash -c '
tmp=$1 stop=$2 want=$3 max=$4
python3 -c "
import hashlib, json, os, random, sys, zlib
random.seed(1)
blob = os.urandom(1 << 16)
def rec(n):
    if n == 0:
        d = {\"k%d\" % i: random.random() for i in range(50)}
        return len(zlib.compress(json.dumps(d).encode() + blob[: random.randrange(1 << 16)]))
    return rec(n - 1) + 1
while not os.path.exists(sys.argv[1]):
    for _ in range(50):
        hashlib.sha256(blob).hexdigest()
        rec(random.randrange(1, 40))
" "$stop" &
(while [ ! -e "$stop" ]; do head -c 8M /dev/urandom | xz -1 -T1 > /dev/null; done) &
(while [ ! -e "$stop" ]; do head -c 16M /dev/urandom | gzip -1 > /dev/null; done) &
(while [ ! -e "$stop" ]; do seq 1 300000 | sort -r | sort -n > /dev/null; done) &
t=0
while [ "$(stat -c %s "$tmp" 2>/dev/null || echo 0)" -lt "$want" ] && [ "$t" -lt "$((max * 2))" ]; do
	sleep 0.5
	t=$((t + 1))
done
touch "$stop"
wait
' bench "$tmp" "$stop" "$want_bytes" "$BENCH_MAX_SECONDS" </dev/null >/dev/null 2>"$tmp.log" ||
		{ log "perf record failed:"; cat "$tmp.log" >&2; exit 1; }
	rm -f "$stop"
	tail -n 1 "$tmp.log" >&2 || true
	if (($(fsize "$tmp") < want_bytes)); then
		log "warning: only $(($(fsize "$tmp") / 1048576)) MB (raise BENCH_MAX_SECONDS)"
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

# What the recording holds: samples, and how many of them perf2pprof unwound.
"${PERF2PPROF:-${BUILD:-$REPO/build}/cmd/perf2pprof}" "$FILE" -o /dev/null 2>&1 |
	sed 's/^/dwarf.sh: perf2pprof: /' >&2 || true
BENCH_FILE=$FILE exec "$REPO/bench/convert.sh"
