#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# The README's main job, end to end: record a demo workload live into the default SQLite
# store with `pprofstore record` (no perf, no perf.data), then export each profile type
# with `pprofstore query`, and show it with `pprofstore top` and the real pprof.
#
# The workload (tests/workloads/demo.c) is a small "server" whose answers are known:
#   cpu    main -> serve -> render_page for about 3/4 of the main thread's CPU,
#          compress_page for 1/4; the cache threads' fill_entry
#   block  the disk thread's nanosleeps (read_index 3/4, read_log 1/4), and the cache
#          threads' waits for their mutex (off-CPU time, whatever the cause)
#   mutex  the cache threads wait for one pthread mutex in update_cache
#
# Needs root (or CAP_PERFMON and a readable tracefs) for perf_event_open and tracepoints.
# Environment: BUILD (default <repo>/build), PPROF (default pprof on PATH, else
# /opt/pprofstore-deps/bin/pprof), DEMO_DIR (default a new temporary directory, kept),
# DEMO_SECONDS (default 3).
# Exit status: 0 when every step worked.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
PPROF=${PPROF:-$(command -v pprof || echo /opt/pprofstore-deps/bin/pprof)}
DEMO_DIR=${DEMO_DIR:-$(mktemp -d /tmp/pprofstore-demo.XXXXXX)}
DEMO_SECONDS=${DEMO_SECONDS:-3}
PPROFSTORE=$BUILD/cmd/pprofstore
DEMO=$BUILD/tests/workloads/pps_wl_demo

if [[ ! -x $PPROFSTORE || ! -x $DEMO ]]; then
	cmake -S "$REPO" -B "$BUILD" >/dev/null
	cmake --build "$BUILD" -j "$(nproc)" >/dev/null
fi
cd "$DEMO_DIR"
unset PPROFSTORE_DB # the default store: ./pprofstore.db

echo "+ pprofstore record --freq 999 --flush 1s -- pps_wl_demo $DEMO_SECONDS"
"$PPROFSTORE" record --freq 999 --flush 1s -- "$DEMO" "$DEMO_SECONDS"
echo "+ pprofstore list"
"$PPROFSTORE" list | cut -f 1,2,4,5,6
for type in cpu block mutex; do
	echo "+ pprofstore query --type $type --window 10m -o $type.pprof"
	"$PPROFSTORE" query --type "$type" --window 10m -o "$type.pprof"
	echo "+ pprofstore top --type $type --window 10m --nodecount 6"
	"$PPROFSTORE" top --type "$type" --window 10m --nodecount 6
	case $type in
	cpu) view=(-top -nodecount=8) ;;
	# Every wait ends in the scheduler's frames: what matters is who waited.
	block) view=(-peek 'read_index$|read_log$|update_cache$') ;;
	mutex) view=(-top -cum -nodecount=6) ;;
	esac
	echo "+ pprof ${view[*]} $type.pprof"
	"$PPROF" "${view[@]}" "$type.pprof" 2>/dev/null | sed -n '/flat  flat%/,$p'
done
echo "+ pprof -peek 'serve\$' cpu.pprof (the main thread's split)"
"$PPROF" -peek 'serve$' cpu.pprof 2>/dev/null | sed -n '/flat  flat%/,$p'
echo "files in $DEMO_DIR; try: $PPROF -http=localhost:8080 $DEMO_DIR/block.pprof"
