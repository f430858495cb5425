#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Store benchmark: ingest rate, stored bytes per sample against perf.data bytes per sample,
# and query+export latency of a 10-minute window in a store holding 24 hours of continuous
# profiles. Not a test: it prints figures (targets: a 10-minute window under 100 ms; a
# repetitive day stored in under 5% of its perf.data size).
#
# For each sampling frequency in BENCH_FREQS:
#   1. a chunk: perf record -g -e cpu-clock -F FREQ for BENCH_SECONDS of a repetitive
#      service-like workload (one python3 process: json, zlib and sha256 under a random
#      recursion depth of 1..40, so hundreds of distinct stacks);
#   2. ingest rate: `pprofstore ingest` of the chunk into an empty store, end to end
#      (prescan, conversion with symbolization, storing), best of BENCH_REPS; perf samples
#      per second of wall time, and the store phase alone (ingest -v);
#   3. the day: bench/pps-storegen stores the chunk again and again, moved one chunk later
#      each time, until BENCH_HOURS are covered (each copy a source, as if each chunk had
#      been recorded and ingested in turn); stored bytes (database + WAL) per perf sample
#      against perf.data bytes per perf sample, and their ratio;
#   4. latency: `pprofstore query` of BENCH_WINDOWS 10-minute windows spread over the day,
#      written to a gzipped pprof (-o FILE), wall time of the whole command (process start
#      included); median and max; the same for `top`;
#   5. the query plan of a time range (EXPLAIN QUERY PLAN through the sqlite3 CLI on the
#      statement lib/store.c prepares): a search of the samples primary key, not a scan.
# Then the ingest rate of a diverse recording (system-wide, many processes: tens of
# thousands of distinct stacks) when perf may record system-wide.
#
# Environment:
#   BENCH_DIR      where recordings and stores go (default /tmp/pps-bench-store)
#   BENCH_FREQS    sampling frequencies (default "99 999")
#   BENCH_SECONDS  length of a chunk (default 60)
#   BENCH_HOURS    length of the day (default 24)
#   BENCH_WINDOWS  10-minute windows queried (default 20)
#   BENCH_REPS     ingest runs, best kept (default 3)
#   BUILD          build directory (default <repo>/build)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/pps-bench-store}
BENCH_FREQS=${BENCH_FREQS:-99 999}
BENCH_SECONDS=${BENCH_SECONDS:-60}
BENCH_HOURS=${BENCH_HOURS:-24}
BENCH_WINDOWS=${BENCH_WINDOWS:-20}
BENCH_REPS=${BENCH_REPS:-3}
BUILD=${BUILD:-$REPO/build}
PPROFSTORE=${PPROFSTORE:-$BUILD/cmd/pprofstore}
STOREGEN=${STOREGEN:-$BUILD/bench/pps-storegen}
PERF=${PERF:-perf}
export PAGER=cat PERF_PAGER=cat PERF_CONFIG=/dev/null LC_ALL=C

log() { printf '%s\n' "store.sh: $*" >&2; }
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }
dbsize() { echo $(($(fsize "$1") + $(fsize "$1-wal"))); }
now_ns() { date +%s%N; }
for b in "$PPROFSTORE" "$STOREGEN"; do
	[[ -x $b ]] || { log "$b not built (cmake --build build)"; exit 1; }
done
command -v "$PERF" >/dev/null || { log "perf not found"; exit 1; }
command -v sqlite3 >/dev/null || { log "sqlite3 not found"; exit 1; }
mkdir -p "$BENCH_DIR"

WORKLOAD='
import hashlib, json, zlib, os, random, time
random.seed(1)
blob = os.urandom(1 << 16)
def rec(n):
    if n == 0:
        d = {"k%d" % i: random.random() for i in range(50)}
        return len(zlib.compress(json.dumps(d).encode() + blob[: random.randrange(1 << 16)]))
    return rec(n - 1) + 1
end = time.time() + float(os.environ["BENCH_SECONDS"])
while time.time() < end:
    hashlib.sha256(blob).hexdigest()
    rec(random.randrange(1, 40))
'

# Prints "samples_per_s store_phase_s" of the best of BENCH_REPS ingests of $1.
ingest_rate() {
	local data=$1 samples=$2 best="" db=$BENCH_DIR/rate.db t0 t1 ns store
	for _ in $(seq "$BENCH_REPS"); do
		rm -f "$db" "$db-wal" "$db-shm"
		t0=$(now_ns)
		"$PPROFSTORE" --db "$db" -v ingest "$data" 2>"$BENCH_DIR/rate.log"
		t1=$(now_ns)
		ns=$((t1 - t0))
		if [[ -z $best || $ns -lt $best ]]; then
			best=$ns
			store=$(sed -n 's/.*store \([0-9.]*\) s.*/\1/p' "$BENCH_DIR/rate.log")
		fi
	done
	awk -v s="$samples" -v ns="$best" -v st="$store" \
		'BEGIN { printf "%.0f %.3f %s\n", s / (ns / 1e9), ns / 1e9, st }'
}

# Prints "median_ms max_ms" of running "$@" with FROM/TO substituted, over the windows.
latency() {
	local start=$1 end=$2
	shift 2
	local span=$((end - start - 600 * 1000000000)) i from to t0 t1 args a
	local -a ms=()
	for ((i = 0; i < BENCH_WINDOWS; i++)); do
		from=$(((start + span / BENCH_WINDOWS * i) / 1000000000))
		to=$((from + 600))
		args=()
		for a in "$@"; do
			a=${a//FROM/$(date -u -d "@$from" +%FT%TZ)}
			args+=("${a//TO/$(date -u -d "@$to" +%FT%TZ)}")
		done
		t0=$(now_ns)
		"${args[@]}" >/dev/null
		t1=$(now_ns)
		ms+=($(((t1 - t0) / 1000)))
	done
	printf '%s\n' "${ms[@]}" | sort -n | awk '{ v[NR] = $1 } END {
		printf "%.1f %.1f\n", v[int((NR + 1) / 2)] / 1000, v[NR] / 1000 }'
}

printf '%-6s %-10s %-12s %-12s %-10s %-12s %-12s %-8s %-16s %-16s\n' freq "chunk" \
	"ingest/s" "store-only" "day" "perf.data" "store" "ratio" "query ms med/max" \
	"top ms med/max"
for freq in $BENCH_FREQS; do
	data=$BENCH_DIR/chunk-${freq}hz-${BENCH_SECONDS}s.data
	if [[ ! -r $data ]]; then
		log "recording $data (${BENCH_SECONDS}s at ${freq} Hz)"
		BENCH_SECONDS=$BENCH_SECONDS "$PERF" record -q -g -e cpu-clock -F "$freq" \
			-o "$data.partial" -- python3 -c "$WORKLOAD" </dev/null >/dev/null 2>&1
		mv "$data.partial" "$data"
	fi
	samples=$("$REPO/build/cmd/perf2pprof" --info --json "$data" 2>/dev/null |
		python3 -c 'import json, sys; print(sum(e["samples"] for e in json.load(sys.stdin)["events"]))')
	read -r rate wall store_s < <(ingest_rate "$data" "$samples")
	day=$BENCH_DIR/day-${freq}hz.db
	rm -f "$day" "$day-wal" "$day-shm"
	log "synthesizing ${BENCH_HOURS}h from $data"
	"$STOREGEN" "$data" "$day" "$BENCH_HOURS" >"$BENCH_DIR/gen.out" 2>"$BENCH_DIR/gen.log"
	# shellcheck disable=SC1090
	. "$BENCH_DIR/gen.out"
	stored=$(dbsize "$day")
	read -r qmed qmax < <(latency "$day_start_ns" "$day_end_ns" "$PPROFSTORE" --db "$day" -q \
		query -t cpu --from FROM --to TO -o "$BENCH_DIR/window.pprof")
	read -r tmed tmax < <(latency "$day_start_ns" "$day_end_ns" "$PPROFSTORE" --db "$day" -q \
		top -t cpu --from FROM --to TO)
	printf '%-6s %-10s %-12s %-12s %-10s %-12s %-12s %-8s %-16s %-16s\n' "$freq" \
		"$((samples))smp" "$rate" "${store_s}s" "${copies}x" \
		"$((perf_bytes / 1048576))MB" "$((stored / 1048576))MB" \
		"$(awk -v a="$stored" -v b="$perf_bytes" 'BEGIN { printf "%.2f%%", 100 * a / b }')" \
		"$qmed/$qmax" "$tmed/$tmax"
	awk -v s="$stored" -v p="$perf_bytes" -v n="$perf_samples" -v w="$wall" -v c="$samples" \
		-v g="$store_seconds" -v k="$copies" 'BEGIN {
		printf "       bytes per perf sample: perf.data %.1f, store %.2f; one chunk ingested in %.3f s; the day stored in %.1f s (%.0f samples/s)\n",
			p / n, s / n, w, g, n / g }'
	rows=$(sqlite3 "$day" "SELECT count(*) FROM samples")
	printf '       day: %s sample rows, %s stacks, %s label sets, %s sources\n' "$rows" \
		"$(sqlite3 "$day" 'SELECT count(*) FROM stacks')" \
		"$(sqlite3 "$day" 'SELECT count(*) FROM labelsets')" \
		"$(sqlite3 "$day" 'SELECT count(*) FROM sources')"
done

# The query plan of a time range on the last day, as lib/store.c's pps_store_select()
# prepares it (head + range term + tail).
plan=$(sqlite3 "$day" "EXPLAIN QUERY PLAN SELECT sa.bucket_start, sa.data FROM samples sa
	WHERE sa.type_id = 1 AND sa.bucket_start >= 0 AND sa.bucket_start < 1" | tr '\n' ' ')
printf 'query plan: %s\n' "$plan"

# A diverse recording: many processes and kernel stacks.
wide=$BENCH_DIR/wide.data
if [[ ! -r $wide ]]; then
	if "$PERF" record -q -a -g -e cpu-clock -F 3999 -o "$wide.partial" -- sh -c \
		"timeout 10 sh -c 'find /usr -type f 2>/dev/null | xargs -n 8 md5sum > /dev/null'; true" \
		</dev/null >/dev/null 2>&1; then
		mv "$wide.partial" "$wide"
	else
		log "system-wide recording refused: no diverse ingest figure"
	fi
fi
if [[ -r $wide ]]; then
	samples=$("$REPO/build/cmd/perf2pprof" --info --json "$wide" 2>/dev/null |
		python3 -c 'import json, sys; print(sum(e["samples"] for e in json.load(sys.stdin)["events"]))')
	read -r rate wall store_s < <(ingest_rate "$wide" "$samples")
	rows=$(sqlite3 "$BENCH_DIR/rate.db" "SELECT count(*) FROM samples")
	printf 'diverse: %s samples (%s MB perf.data) ingested at %s samples/s (%.3f s, store phase %s s); %s sample rows, %s MB stored\n' \
		"$samples" "$(($(fsize "$wide") / 1048576))" "$rate" "$wall" "$store_s" "$rows" \
		"$(($(dbsize "$BENCH_DIR/rate.db") / 1048576))"
fi
