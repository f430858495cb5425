#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# The README's main job, end to end: record a demo workload with perf, convert it with
# perf2pprof, and show its top functions and call paths with the real pprof.
#
# The workload (tests/workloads/split.c) runs main -> driver -> hot_a for about 3/4 of its
# CPU time and main -> driver -> hot_b for 1/4, so the expected answer is known.
#
# Environment: BUILD (default <repo>/build), PPROF (default pprof on PATH, else
# /opt/pprofstore-deps/bin/pprof), DEMO_DIR (default a new temporary directory, kept).
# Exit status: 0 when every step worked.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
PPROF=${PPROF:-$(command -v pprof || echo /opt/pprofstore-deps/bin/pprof)}
DEMO_DIR=${DEMO_DIR:-$(mktemp -d /tmp/pprofstore-demo.XXXXXX)}

if [[ ! -x $BUILD/cmd/perf2pprof || ! -x $BUILD/tests/workloads/pps_wl_split ]]; then
	cmake -S "$REPO" -B "$BUILD" >/dev/null
	cmake --build "$BUILD" -j "$(nproc)" >/dev/null
fi
cd "$DEMO_DIR"
echo "+ perf record -e cpu-clock -F 999 -g -o perf.data -- pps_wl_split 2"
perf record -q -e cpu-clock -F 999 -g -o perf.data -- "$BUILD/tests/workloads/pps_wl_split" 2
echo "+ perf2pprof perf.data -o cpu.pprof"
"$BUILD/cmd/perf2pprof" perf.data -o cpu.pprof
echo "+ pprof -top cpu.pprof"
"$PPROF" -top -nodecount=8 cpu.pprof 2>/dev/null
echo "+ pprof -peek 'hot_a' cpu.pprof"
"$PPROF" -peek 'hot_a$' cpu.pprof 2>/dev/null | sed -n '/flat  flat%/,$p'
echo "files in $DEMO_DIR; try: $PPROF -http=localhost:8080 $DEMO_DIR/cpu.pprof"
