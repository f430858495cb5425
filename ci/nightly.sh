#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# The nightly regression gate (README, "The nightly CI recipe"): record a benchmark with
# perf, store the recordings tagged with the commit, and compare them with the previous
# commit's.
#
#   ci/nightly.sh --commit SHA [--prev SHA] [OPTIONS] -- BENCHMARK [ARG...]
#
# 1. Runs BENCHMARK --runs times (default 5) under
#    `perf record -e cpu-clock -F FREQ -g`, and ingests each recording into the store with
#    the tag commit=SHA (each recording is one run for the gate's statistics).
# 2. With --prev: `pprofstore compare --type TYPE --base commit=PREV --head commit=SHA`,
#    the text report on standard output, the markdown report in --report (and appended to
#    $GITHUB_STEP_SUMMARY when set).
#
# Options:
#   --db PATH          the store (default $PPROFSTORE_DB, else ./pprofstore.db)
#   --commit SHA       this build's commit (required)
#   --prev SHA         the commit to compare with; without it, only record
#   --runs N           recordings of the benchmark (default 5; 0: only compare)
#   --freq HZ          perf's sampling frequency (default 4999)
#   --type TYPE        the profile type compared (default cpu)
#   --threshold T      compare --threshold (default 5%)
#   --min-share S      compare --min-share (default 1%)
#   --report FILE      the markdown report (default nightly-report.md)
#   --pprofstore BIN   the pprofstore program (default: build/cmd/pprofstore of this
#                      checkout when built, else pprofstore on PATH)
#   --perf-opt OPT     one more perf record option (repeatable), e.g. --no-bpf-event
#                      (perf 6.1 then ends at once instead of polling its BPF side-band
#                      thread for a second)
# Environment: PERF, the perf program (default perf).
#
# Exit status: 0 recorded and no regression, 1 regression, 2 error (the benchmark or perf
# failed, the store refused, or compare could not compare).
set -u

me=ci/nightly.sh
here=$(cd "$(dirname "$0")/.." && pwd)
db=${PPROFSTORE_DB:-./pprofstore.db}
commit='' prev='' runs=5 freq=4999 type=cpu threshold=5% min_share=1%
report=nightly-report.md perf_opts='' pprofstore=''
if [ -x "$here/build/cmd/pprofstore" ]; then
	pprofstore=$here/build/cmd/pprofstore
else
	pprofstore=pprofstore
fi

die() {
	echo "$me: $*" >&2
	exit 2
}

need() {
	[ $# -ge 2 ] || die "$1 needs a value"
}

while [ $# -gt 0 ]; do
	case $1 in
	--db) need "$@"; db=$2; shift 2 ;;
	--commit) need "$@"; commit=$2; shift 2 ;;
	--prev) need "$@"; prev=$2; shift 2 ;;
	--runs) need "$@"; runs=$2; shift 2 ;;
	--freq) need "$@"; freq=$2; shift 2 ;;
	--type) need "$@"; type=$2; shift 2 ;;
	--threshold) need "$@"; threshold=$2; shift 2 ;;
	--min-share) need "$@"; min_share=$2; shift 2 ;;
	--report) need "$@"; report=$2; shift 2 ;;
	--pprofstore) need "$@"; pprofstore=$2; shift 2 ;;
	--perf-opt) need "$@"; perf_opts="$perf_opts $2"; shift 2 ;;
	-h|--help) sed -n '3,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	--) shift; break ;;
	*) die "unknown option '$1' (--help)" ;;
	esac
done

[ -n "$commit" ] || die "--commit SHA is required"
case $commit in *,*) die "--commit: a commit id holds no comma" ;; esac
case $prev in *,*) die "--prev: a commit id holds no comma" ;; esac
case $runs in ''|*[!0-9]*) die "--runs: not a number: '$runs'" ;; esac
case $freq in ''|*[!0-9]*) die "--freq: not a number: '$freq'" ;; esac
[ "$runs" -eq 0 ] || [ $# -gt 0 ] || die "no benchmark command after --"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nightly.XXXXXX") || die "cannot create a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' INT TERM

i=1
while [ "$i" -le "$runs" ]; do
	# perf's own options are split on purpose: --perf-opt takes one word each.
	# shellcheck disable=SC2086
	if ! "${PERF:-perf}" record -q -e cpu-clock -F "$freq" -g $perf_opts -o "$tmp/run$i.data" -- "$@" \
		>"$tmp/bench.out" 2>"$tmp/bench.err"; then
		cat "$tmp/bench.err" >&2
		die "run $i: the benchmark or perf record failed"
	fi
	"$pprofstore" --db "$db" ingest -q --tag "commit=$commit" "$tmp/run$i.data" ||
		die "run $i: pprofstore ingest failed"
	rm -f "$tmp/run$i.data"
	i=$((i + 1))
done

[ -n "$prev" ] || exit 0

"$pprofstore" --db "$db" compare --type "$type" --base "commit=$prev" --head "commit=$commit" \
	--threshold "$threshold" --min-share "$min_share"
rc=$?
[ "$rc" -le 1 ] || die "pprofstore compare failed (exit $rc)"
"$pprofstore" --db "$db" compare --type "$type" --base "commit=$prev" --head "commit=$commit" \
	--threshold "$threshold" --min-share "$min_share" --format markdown -o "$report"
[ $? -eq "$rc" ] || die "pprofstore compare: the markdown report disagrees with the text one"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
	cat "$report" >>"$GITHUB_STEP_SUMMARY"
fi
exit "$rc"
