#!/usr/bin/env bash
# Installs everything pprofstore's build, tests and benchmarks need on Debian 12, as root.
#
# - Debian packages (apt-get), only when one is missing, so a second run takes seconds.
# - libperf from the linux-source-6.1 package's tools/lib/perf into $PPS_DEPS (default
#   /opt/pprofstore-deps) when `pkg-config libperf` finds none, so a distribution that
#   packages libperf uses its own.
# - The real Go pprof binary, built offline in GOPATH mode from Debian's packaged source
#   (golang-github-google-pprof-dev), into $PPS_DEPS/bin/pprof; the tests use it as an oracle.
#
# Exit status: 0 when everything is in place, non-zero (with the failing step on stderr) else.
set -euo pipefail

deps=${PPS_DEPS:-/opt/pprofstore-deps}
packages=(
  build-essential cmake pkg-config git xz-utils file
  libtraceevent-dev libtracefs-dev libdw-dev libelf-dev elfutils libdebuginfod-dev debuginfod
  libiberty-dev g++
  libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libisal-dev libzstd-dev
  libsqlite3-dev sqlite3 linux-perf linux-source-6.1
  golang-go golang-github-google-pprof-dev
  golang-github-chzyer-readline-dev golang-github-ianlancetaylor-demangle-dev
  golang-golang-x-sys-dev
  flex bison python3
)

log() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (installs Debian packages)"
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libperf: the distribution's when it has one, else ours from the kernel source.
if pkg-config --exists libperf 2>/dev/null; then
  log "libperf: using the system's ($(pkg-config --modversion libperf))"
elif [ -f "$deps/lib/pkgconfig/libperf.pc" ] || [ -f "$deps/lib64/pkgconfig/libperf.pc" ]; then
  log "libperf: already built in $deps"
else
  tarball=$(ls /usr/src/linux-source-6.1*.tar.xz | head -n 1)
  [ -n "$tarball" ] || { log "no /usr/src/linux-source-6.1*.tar.xz"; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  log "libperf: building from $tarball"
  top=linux-source-6.1
  tar -xJf "$tarball" -C "$work" "$top/tools" "$top/include/uapi" "$top/arch/x86/include/uapi"
  make -s -C "$work/$top/tools/lib/perf" prefix="$deps" DESTDIR= libdir="$deps/lib" \
    EXTRA_CFLAGS="-fPIC -O2" install_lib install_headers install_pkgconfig >/dev/null
  # libperf's install puts its pkg-config file under lib/pkgconfig; the static archive is
  # what we link so the binaries do not need LD_LIBRARY_PATH.
  [ -f "$deps/lib/pkgconfig/libperf.pc" ] || { log "libperf install left no libperf.pc"; exit 1; }
  # Keep the perf.data format reference beside it for developers.
  mkdir -p "$deps/share/doc"
  cp "$work/$top/tools/perf/Documentation/perf.data-file-format.txt" "$deps/share/doc/" || true
fi

# The real pprof, built offline from Debian's packaged source.
if [ -x "$deps/bin/pprof" ]; then
  log "pprof: already built"
else
  log "pprof: building from Debian's golang-github-google-pprof-dev source"
  mkdir -p "$deps/bin"
  gocache=$(mktemp -d)
  GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$gocache" GOFLAGS=-mod=mod \
    go build -o "$deps/bin/pprof" github.com/google/pprof 2>&1 |
    sed 's/^/setup: go: /' >&2 || true
  rm -rf "$gocache"
  [ -x "$deps/bin/pprof" ] || { log "pprof build failed"; exit 1; }
fi

log "ready (deps in $deps)"
