#!/usr/bin/env bash
# pprofstore's test command (the README's, and what .ci/run calls).
#
# 1. ci/setup.sh when run as root (installs packages, builds libperf and pprof; seconds
#    when everything is already there).
# 2. Two builds with warnings as errors: build/ (normal) and build-asan/ (AddressSanitizer
#    + UndefinedBehaviorSanitizer, LeakSanitizer included).
# 3. The whole ctest suite in each, then one summary line over both.
#
# Exit status: 0 when every test passed in both builds, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
  bash ci/setup.sh || { echo "ci/test.sh: setup failed" >&2; exit 1; }
elif ! pkg-config --exists libperf 2>/dev/null &&
     [ ! -f "${PPS_DEPS:-/opt/pprofstore-deps}/lib/pkgconfig/libperf.pc" ]; then
  echo "ci/test.sh: dependencies missing; run 'sudo ci/setup.sh' first" >&2
  exit 1
fi

jobs=$(nproc 2>/dev/null || echo 2)
# Sanitizer reports must not look like our own exit codes (1: error, 3: partial).
export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=86:detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-exitcode=86:print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-exitcode=86}

total_pass=0
total_fail=0
status=0
for variant in normal asan; do
  dir=build
  flags=(-DPPS_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
  if [ "$variant" = asan ]; then
    dir=build-asan
    flags=(-DPPS_WERROR=ON -DPPS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  fi
  echo "== $variant build ($dir)"
  mkdir -p "$dir"
  if ! cmake -S . -B "$dir" "${flags[@]}" >"$dir/configure.log" 2>&1; then
    cat "$dir/configure.log" >&2
    echo "ci/test.sh: $variant configure failed" >&2
    status=1; total_fail=$((total_fail + 1)); continue
  fi
  if ! cmake --build "$dir" -j "$jobs"; then
    echo "ci/test.sh: $variant build failed" >&2
    status=1; total_fail=$((total_fail + 1)); continue
  fi
  log="$dir/ctest.log"
  (cd "$dir" && ctest --output-on-failure --timeout 1800) 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || status=1
  # ctest: "100% tests passed, 0 tests failed out of 5"
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    all=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    total_pass=$((total_pass + all - failed))
    total_fail=$((total_fail + failed))
  else
    total_fail=$((total_fail + 1))
    status=1
  fi
done

echo "ci: $total_pass passed, $total_fail failed"
exit $status
