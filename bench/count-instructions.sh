#!/usr/bin/env bash
# bench/count-instructions.sh — instructions per malloc(32)+free pair, counted
# with callgrind, for gomalloc and the peer allocators.
#
# usage: bench/count-instructions.sh [-N PAIRS] [-s SIZE] [--write] [--build-dir DIR]
#   -N PAIRS      N (default 1000000); each allocator runs N and 2N pairs
#   -s SIZE       request size (default 32)
#   --write       also put the table into bench/RESULTS.md (fast-path section)
#   --build-dir D CMake build directory (default: build, or $BUILD_DIR)
#
# bench_fastpath_{gm,sys} run a warm-up and then N malloc+free pairs. Under
# `valgrind --tool=callgrind` the total instruction count Ir includes start-up,
# warm-up and exit, which are the same for N and 2N, so
#     (Ir(2N) - Ir(N)) / N
# is the cost of one pair plus the loop around it. The last column counts, by
# the same difference, only what callgrind attributes to the functions the
# loop calls (malloc, free and their callees, PLT stubs included): the
# allocator's own instructions. Peers are LD_PRELOADed into the _sys build
# (callgrind, unlike memcheck, does not replace malloc itself).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CMDLINE="./bench/count-instructions.sh"
for a in "$@"; do CMDLINE+=" $(printf '%q' "$a")"; done

N=1000000
SIZE=32
WRITE=0
BUILD_DIR=${BUILD_DIR:-build}
die() { echo "count-instructions.sh: $*" >&2; exit 2; }
note() { echo "count-instructions.sh: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    -N) [ $# -ge 2 ] || die "-N needs a number"; N=$2; shift 2 ;;
    -s) [ $# -ge 2 ] || die "-s needs a size"; SIZE=$2; shift 2 ;;
    --write) WRITE=1; shift ;;
    --build-dir) [ $# -ge 2 ] || die "--build-dir needs a directory"; BUILD_DIR=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "-N wants a positive integer"
[[ "$SIZE" =~ ^[0-9]+$ ]] || die "-s wants a size in bytes"

if ! command -v valgrind >/dev/null 2>&1; then
  note "installing valgrind"
  if ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then apt-get update -qq >&2 || true; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >&2 ||
    { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >&2; } ||
    die "valgrind is needed"
fi

# Build (the same way run.sh does, fast-path targets only).
mkdir -p "$BUILD_DIR"
LOG="$BUILD_DIR/bench-build.log"
BIN="$BUILD_DIR/bench"
GM_OK=1
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$LOG" 2>&1 || true
fi
if ! cmake --build "$BUILD_DIR" -j "$(nproc)" --target bench_fastpath_sys >>"$LOG" 2>&1; then
  note "CMake build failed; compiling bench_fastpath_sys directly"
  BIN="$BUILD_DIR/bench-direct"
  mkdir -p "$BIN"
  ${CC:-cc} -std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE -Ibench -o "$BIN/bench_fastpath_sys" bench/fastpath.c ||
    die "cannot compile bench/fastpath.c"
  GM_OK=0
elif ! cmake --build "$BUILD_DIR" -j "$(nproc)" --target bench_fastpath_gm >>"$LOG" 2>&1; then
  GM_OK=0
fi
[ "$GM_OK" = 1 ] || note "gomalloc does not build (see $LOG): gomalloc is skipped"

MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
lib() { local f; for f in "$@"; do [ -e "/usr/lib/$MULTIARCH/$f" ] && { echo "/usr/lib/$MULTIARCH/$f"; return; }; done; }
declare -A PRELOAD=(
  [jemalloc]=$(lib libjemalloc.so.2)
  [tcmalloc]=$(lib libtcmalloc_minimal.so.4)
  [mimalloc]=$(lib libmimalloc.so.2.0 libmimalloc.so.2)
)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gomalloc-ir.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# measure PRELOAD EXE ARGS...: one callgrind run; prints "TOTAL CALLEES": the
# program's total instruction count, and the instructions executed in the
# functions run_pairs calls (malloc and free, with everything they call and
# the PLT stubs), i.e. run_pairs' inclusive cost minus its self cost.
measure() {
  local pre=$1 out="$WORK/cg.out"
  shift
  rm -f "$out"
  if ! env ${pre:+LD_PRELOAD="$pre"} valgrind --tool=callgrind --callgrind-out-file="$out" \
      "$@" >"$WORK/stdout" 2>"$WORK/stderr"; then
    tail -n 5 "$WORK/stderr" >&2
    return 1
  fi
  local total incl self
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$out")
  incl=$(callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null |
    awk '/:run_pairs / { gsub(",", "", $1); print $1; exit }')
  self=$(callgrind_annotate --inclusive=no --threshold=100 "$out" 2>/dev/null |
    awk '/:run_pairs / { gsub(",", "", $1); print $1; exit }')
  if [ -z "$total" ] || [ -z "$incl" ] || [ -z "$self" ]; then
    note "cannot parse $out"
    return 1
  fi
  echo "$total $((incl - self))"
}

ALLOCS=(glibc jemalloc tcmalloc mimalloc gomalloc)
rows=""
for a in "${ALLOCS[@]}"; do
  pre=""
  exe="$BIN/bench_fastpath_sys"
  case "$a" in
    glibc) ;;
    gomalloc) [ "$GM_OK" = 1 ] || { rows+="| $a | n/a | n/a | n/a | n/a |"$'\n'; continue; }
              exe="$BIN/bench_fastpath_gm" ;;
    *) pre=${PRELOAD[$a]}
       [ -n "$pre" ] || { rows+="| $a | n/a | n/a | n/a | n/a |"$'\n'; note "$a not installed"; continue; } ;;
  esac
  note "$a: callgrind, $N and $((2 * N)) pairs"
  if m1=$(measure "$pre" "$exe" "$N" "$SIZE") && m2=$(measure "$pre" "$exe" "$((2 * N))" "$SIZE"); then
    read -r t1 c1 <<<"$m1"
    read -r t2 c2 <<<"$m2"
    per=$(awk -v a="$t1" -v b="$t2" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }')
    inner=$(awk -v a="$c1" -v b="$c2" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }')
    rows+="| $a | $t1 | $t2 | $per | $inner |"$'\n'
  else
    rows+="| $a | FAIL | FAIL | n/a | n/a |"$'\n'
  fi
done

TABLE=$(
  echo "| allocator | Ir(N) | Ir(2N) | (Ir(2N)−Ir(N))/N | of which in malloc+free |"
  echo "|---|---:|---:|---:|---:|"
  printf '%s' "$rows"
)
echo "Instructions per malloc($SIZE)+free pair, N = $N:"
echo
echo "$TABLE"

if [ "$WRITE" = 1 ]; then
  OUT=bench/RESULTS.md
  SECTION="$WORK/section.md"
  {
    echo '<!-- fastpath:begin -->'
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(valgrind --version), with \`$CMDLINE\`."
    echo "Size $SIZE, N = $N. The last column counts only the instructions executed in the functions the loop calls (malloc and free with their callees and PLT stubs); the difference to the column before is the loop itself (call set-up, volatile store, count)."
    echo
    echo "$TABLE"
    echo '<!-- fastpath:end -->'
  } >"$SECTION"
  if [ -f "$OUT" ] && grep -q '<!-- fastpath:begin -->' "$OUT"; then
    awk -v sec="$SECTION" '
      /<!-- fastpath:begin -->/ { while ((getline l < sec) > 0) print l; skip = 1; next }
      /<!-- fastpath:end -->/ { skip = 0; next }
      !skip { print }' "$OUT" >"$OUT.tmp"
    mv "$OUT.tmp" "$OUT"
  else
    { [ -f "$OUT" ] && cat "$OUT" && echo
      echo "## Fast-path instruction count (callgrind)"
      echo
      cat "$SECTION"; } >"$OUT.tmp"
    mv "$OUT.tmp" "$OUT"
  fi
  note "wrote the fast-path section of $OUT"
fi
