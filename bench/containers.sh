#!/usr/bin/env bash
# bench/containers.sh — Go's containers on gomalloc's collected heap (gm_map,
# gm_slice) against Go itself, C++'s std::unordered_map / std::vector and
# Abseil's absl::flat_hash_map, with Markdown tables of the medians.
#
# usage: bench/containers.sh [-n RUNS] [--quick] [--write] [--only LIST]
#                            [--variant LIST] [--build-dir DIR] [--wait-quiet S]
#   -n RUNS        rounds (default 5)
#   --quick        tiny scales (maps of 1e3, 1e4, 1e5 entries, 1e5 operations
#                  per phase; 1e6 appends) and 1 round unless -n is given: a
#                  smoke test of a few seconds once built
#   --write        also write the "Containers" section of bench/RESULTS.md
#                  (replaced if there, else appended; the rest is kept)
#   --only LIST    workload groups: map-int, map-str, slice (default: all);
#                  or single workloads as listed in the report (map-int-1e5)
#   --variant LIST gomalloc, go, absl, std (default: all four)
#   --build-dir D  CMake build directory (default: build, or $BUILD_DIR)
#   --wait-quiet S before each round, wait up to S seconds for other work to
#                  drop below half a core (default 0: just note the load)
#   --results F    the file --write writes (default bench/RESULTS.md)
# Environment: GO (the go command, default go), CC, CXX (the fallback
# compilers when CMake cannot build the C++ programs), BUILD_DIR.
#
# Workloads (bench/containers/cb_common.h describes them exactly; the same key
# sets, order of operations and checksums in every language):
#   map-int-N  int64 -> int64, N = 1e3, 1e5, 1e7: insert N keys into an empty
#              map (no size hint), look each up (hit), look up N absent keys
#              (miss), iterate, delete the N keys; repeated max(1, 1e7 / N)
#              times, so that each phase does ~1e7 operations
#   map-str-N  the same with string keys of 8-24 decimal digits (16 on
#              average), stored as (pointer, length) into one buffer
#   slice-1e8  append 1e8 int64 one at a time to an empty slice
# Variants (programs in <build>/bench/containers/):
#   gomalloc  map_gm, slice_gm   C: gm_make_map/gm_map_assign/... and
#             gm_append, linked to gomalloc_core (bench/containers/*.c)
#   go        map_go, slice_go   Go (bench/containers/*.go, own go.mod,
#             standard library only; built here with `go build`), default
#             GOGC, map[int64]int64 / map[string]int64, s = append(s, v)
#   absl      map_absl           absl::flat_hash_map (Debian libabsl-dev,
#             installed when missing); no slice program (n/a)
#   std       map_std, slice_std std::unordered_map, std::vector::push_back
#             (libstdc++, no reserve)
# A variant that cannot be built (no go command, no Abseil, the gm_ headers
# not there yet) shows as n/a; it is not a failure.
#
# Each run is one process under bench_runone (wall time, CPU time, peak RSS =
# ru_maxrss); variants are interleaved within a round and their order rotated
# from round to round. The programs time each phase themselves
# (CLOCK_MONOTONIC around the phase only) and print ns/op per phase and a
# result line whose checksum must be the same for every variant and round
# (checked; the slice's final capacity is printed but not compared). GOGC,
# GOMEMLIMIT and GODEBUG are unset for every run. Progress goes to stderr,
# the report to stdout; the exit status is 1 when a run failed or result
# lines disagree.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CALLER_PWD=$PWD
cd "$ROOT"

# shellcheck source=bench/lib/cmdline.sh
source "$ROOT/bench/lib/cmdline.sh"
CMDLINE=$(bench_cmdline ./bench/containers.sh "$@")

RUNS=5
RUNS_SET=0
QUICK=0
WRITE=0
BUILD_DIR=${BUILD_DIR:-build}
ONLY=""
VARIANT_SEL=""
WAIT_QUIET=0
RESULTS_MD=bench/RESULTS.md
# the targets of the containers' issue
MAP_GO_TARGET=1.0    # map ops, int keys, the two largest sizes: ns/op, times Go's
MAP_ABSL_TARGET=1.5  # the same, times absl::flat_hash_map's
SLICE_GO_TARGET=1.0  # append: ns/op, times Go's
SLICE_STD_TARGET=1.2 # append: ns/op, times std::vector's

die() { echo "containers.sh: $*" >&2; exit 2; }
note() { echo "containers.sh: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    -n) [ $# -ge 2 ] || die "-n needs a number"; RUNS=$2; RUNS_SET=1; shift 2 ;;
    -n*) RUNS=${1#-n}; RUNS_SET=1; shift ;;
    --quick) QUICK=1; [ "$RUNS_SET" = 1 ] || RUNS=1; shift ;;
    --write) WRITE=1; shift ;;
    --only) [ $# -ge 2 ] || die "--only needs a list"; ONLY=$2; shift 2 ;;
    --variant) [ $# -ge 2 ] || die "--variant needs a list"; VARIANT_SEL=$2; shift 2 ;;
    --build-dir) [ $# -ge 2 ] || die "--build-dir needs a directory"; BUILD_DIR=$2; shift 2 ;;
    --wait-quiet) [ $# -ge 2 ] || die "--wait-quiet needs seconds"; WAIT_QUIET=$2; shift 2 ;;
    --results) [ $# -ge 2 ] || die "--results needs a file"; RESULTS_MD=$2; [[ "$2" = /* ]] || RESULTS_MD="$CALLER_PWD/$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "-n needs a positive number"
[[ "$WAIT_QUIET" =~ ^[0-9]+$ ]] || die "--wait-quiet needs a number of seconds"

# ---- Workloads ----------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
  MAP_SIZES=(1000 10000 100000)
  MAP_OPS=100000
  SLICE_N=1000000
else
  MAP_SIZES=(1000 100000 10000000)
  MAP_OPS=10000000
  SLICE_N=100000000
fi
# 1000 -> 1e3; anything else stays as it is
label() { awk -v n="$1" 'BEGIN { e = 0; m = n; while (m >= 10 && m % 10 == 0) { m /= 10; e++ } print (m == 1 && e > 0) ? "1e" e : n }'; }
ALL_WORKLOADS=()
declare -A ARGS_OF=() PROG_OF=()
for kind in int str; do
  for n in "${MAP_SIZES[@]}"; do
    w="map-$kind-$(label "$n")"
    ALL_WORKLOADS+=("$w")
    ARGS_OF[$w]="$kind $n $MAP_OPS"
    PROG_OF[$w]=map
  done
done
SLICE_W="slice-$(label "$SLICE_N")"
ALL_WORKLOADS+=("$SLICE_W")
ARGS_OF[$SLICE_W]="$SLICE_N"
PROG_OF[$SLICE_W]=slice
# the sizes the map targets are judged at: the two largest (1e5 and 1e7)
TARGET_SIZES="$(label "${MAP_SIZES[1]}") $(label "${MAP_SIZES[2]}")"

ALL_VARIANTS=(gomalloc go absl std)
SEL_W=()
if [ -n "$ONLY" ]; then
  IFS=, read -r -a req <<<"$ONLY"
  for w in "${req[@]}"; do
    case "$w" in
      all) SEL_W+=("${ALL_WORKLOADS[@]}") ;;
      map) for x in "${ALL_WORKLOADS[@]}"; do [[ "$x" != map-* ]] || SEL_W+=("$x"); done ;;
      map-int|map-str|slice) for x in "${ALL_WORKLOADS[@]}"; do [[ "$x" != "$w"-* ]] || SEL_W+=("$x"); done ;;
      *) case " ${ALL_WORKLOADS[*]} " in *" $w "*) SEL_W+=("$w") ;; *) die "unknown workload '$w' (have: map-int map-str slice ${ALL_WORKLOADS[*]})" ;; esac ;;
    esac
  done
else
  SEL_W=("${ALL_WORKLOADS[@]}")
fi
WORKLOADS=()
for w in "${ALL_WORKLOADS[@]}"; do
  case " ${SEL_W[*]} " in *" $w "*) WORKLOADS+=("$w") ;; esac
done
[ ${#WORKLOADS[@]} -gt 0 ] || die "no workload selected"

WANT_V=("${ALL_VARIANTS[@]}")
if [ -n "$VARIANT_SEL" ]; then
  IFS=, read -r -a WANT_V <<<"$VARIANT_SEL"
  for v in "${WANT_V[@]}"; do
    case " ${ALL_VARIANTS[*]} " in *" $v "*) ;; *) die "unknown variant '$v'" ;; esac
  done
fi
want_variant() { case " ${WANT_V[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

# ---- Dependencies -------------------------------------------------------------
# shellcheck source=bench/lib/deps.sh
source "$ROOT/bench/lib/deps.sh"
DEPS=(cmake gcc g++ pkg-config)
want_variant absl && DEPS+=(libabsl-dev)
ensure_pkgs "${DEPS[@]}" || true
# the go command: $GO, else go on the PATH, else the official tarball's place
GO=${GO:-go}
if [ "$GO" = go ] && ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; fi

# ---- Build --------------------------------------------------------------------
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
BUILD_LOG="$BUILD_DIR/bench-containers-build.log"
CB="$BUILD_DIR/bench/containers"
RUNONE="$BUILD_DIR/bench/bench_runone"
: >"$BUILD_LOG"
note "building in $BUILD_DIR (log: $BUILD_LOG)"
declare -A SKIP_V=() # variant -> why it is n/a
mkdir -p "$CB"
# what fails to build must not leave an old binary to run
rm -f "$CB"/map_gm "$CB"/slice_gm "$CB"/map_go "$CB"/slice_go "$CB"/map_std "$CB"/slice_std "$CB"/map_absl

CONFIGURED=1
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >>"$BUILD_LOG" 2>&1 || CONFIGURED=0
JOBS=$(nproc 2>/dev/null || echo 2)
[ "$JOBS" -le 2 ] || JOBS=2 # the machine is shared: never more than two compile jobs
if [ "$CONFIGURED" = 0 ] || ! cmake --build "$BUILD_DIR" -j "$JOBS" --target bench_containers_peers >>"$BUILD_LOG" 2>&1; then
  # CMake may not configure while the library is being changed: compile the
  # programs that do not need it directly.
  note "CMake build of bench_containers_peers failed; compiling the C++ programs directly"
  CXXFLAGS_CB=(-std=c++17 -O2 -Wall -Wextra -Ibench/containers)
  "${CXX:-c++}" "${CXXFLAGS_CB[@]}" -o "$CB/map_std" bench/containers/map.cc >>"$BUILD_LOG" 2>&1 || note "cannot compile map_std"
  "${CXX:-c++}" "${CXXFLAGS_CB[@]}" -o "$CB/slice_std" bench/containers/slice.cc >>"$BUILD_LOG" 2>&1 || note "cannot compile slice_std"
  if pkg-config --exists absl_flat_hash_map absl_hash 2>/dev/null; then
    # shellcheck disable=SC2046 # pkg-config's words
    "${CXX:-c++}" "${CXXFLAGS_CB[@]}" -DCB_ABSL -o "$CB/map_absl" bench/containers/map.cc \
      $(pkg-config --cflags --libs absl_flat_hash_map absl_hash) >>"$BUILD_LOG" 2>&1 || note "cannot compile map_absl"
  fi
  if [ ! -x "$RUNONE" ]; then
    mkdir -p "$BUILD_DIR/bench"
    "${CC:-cc}" -std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE -o "$RUNONE" bench/runone.c >>"$BUILD_LOG" 2>&1 ||
      die "cannot compile bench/runone.c (see $BUILD_LOG)"
  fi
fi
[ -x "$RUNONE" ] || die "$RUNONE was not built"
[ -x "$CB/map_absl" ] || SKIP_V[absl]="absl::flat_hash_map not found or not built (Debian libabsl-dev)"
[ -x "$CB/map_std" ] || SKIP_V[std]="the C++ programs do not build; see $BUILD_LOG"

if want_variant gomalloc; then
  # one program at a time: slice_gm runs even while map_gm does not build
  for p in map slice; do
    if [ "$CONFIGURED" = 0 ] || ! cmake --build "$BUILD_DIR" -j "$JOBS" --target "bench_containers_${p}_gm" >>"$BUILD_LOG" 2>&1; then
      note "${p}_gm does not build (include/gomalloc/$p.h not there yet?); its gomalloc column is n/a"
      grep -E "error|undefined reference" "$BUILD_LOG" | sort -u | tail -n 4 >&2 || true
    fi
  done
  [ -x "$CB/map_gm" ] || [ -x "$CB/slice_gm" ] || SKIP_V[gomalloc]="neither map_gm nor slice_gm builds; see $BUILD_LOG"
fi

GO_VERSION=""
if want_variant go; then
  if command -v "$GO" >/dev/null 2>&1; then
    [ -n "${HOME:-}" ] || export GOCACHE="${GOCACHE:-$BUILD_DIR/go-cache}"
    # standard library only: never reach for a module proxy
    for p in map slice; do
      (cd bench/containers && GOPROXY=off GOFLAGS='' GOTOOLCHAIN=local "$GO" build -o "$CB/${p}_go" "$p.go" common.go) >>"$BUILD_LOG" 2>&1 ||
        note "go build of bench/containers/$p.go failed (see $BUILD_LOG)"
    done
    GO_VERSION=$("$GO" version 2>/dev/null | awk '{ print $3 }')
    [ -x "$CB/map_go" ] || [ -x "$CB/slice_go" ] || SKIP_V[go]="go build failed; see $BUILD_LOG"
  else
    SKIP_V[go]="no go command ($GO)"
  fi
fi

# program_path WORKLOAD VARIANT: the executable, or nothing if the pair does not exist.
program_path() {
  local p=${PROG_OF[$1]}
  case "$2" in
    gomalloc) echo "$CB/${p}_gm" ;;
    go) echo "$CB/${p}_go" ;;
    absl) [ "$p" != map ] || echo "$CB/map_absl" ;;
    std) echo "$CB/${p}_std" ;;
  esac
}

# run_progress W V R T RSS BASE FLAG: the progress line of a run (bench/lib/suite.sh).
run_progress() {
  local w=$1 v=$2 r=$3 t=$4 rss=$5 base=$6 flag=$7
  printf 'containers.sh: [%3d/%d] %-14s %-8s round %d: %8.3f s %9.1f MiB%s\n' "$done_runs" "$total" "$w" "$v" "$r" \
    "$t" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" "$flag" >&2
}

# ---- Run ----------------------------------------------------------------------
SUITE_NAME=containers
SUITE_TITLE=Containers
SUITE_QUICK_WHAT="tiny scales"
SUITE_RESULT_RE="^(map|slice) "
SUITE_ENV=()
# shellcheck source=bench/lib/suite.sh
source "$ROOT/bench/lib/suite.sh"
suite_select
suite_start 300
suite_rounds

# ---- Report -------------------------------------------------------------------
TABLE=$(awk -f "$ROOT/bench/lib/stats.awk" -f "$ROOT/bench/containers/report.awk" -v benches="${WORKLOADS[*]}" -v variants="${ALL_VARIANTS[*]}" \
  -v target_sizes="$TARGET_SIZES" -v map_go_target="$MAP_GO_TARGET" -v map_absl_target="$MAP_ABSL_TARGET" \
  -v slice_go_target="$SLICE_GO_TARGET" -v slice_std_target="$SLICE_STD_TARGET" -v quick="$QUICK" \
  -v phases_file="$PHASES" "$RESULTS")
suite_summary

# ---- bench/RESULTS.md (bench/lib/suite.sh's write_section) ---------------------
# section_head: the section from under its heading to the blank line before "- Date:".
section_head() {
  echo "Written by \`./bench/containers.sh --write\` (bench/containers/: the same"
  echo "programs in C on gomalloc's \`gm_map\`/\`gm_slice\`, in Go, and in C++ with"
  echo "\`std::unordered_map\`/\`std::vector\` and \`absl::flat_hash_map\`; the"
  echo "workloads are specified in bench/containers/cb_common.h, the variants at the"
  echo "top of bench/containers.sh)."
  echo
  echo "| workloads | what each does | arguments |"
  echo "|---|---|---|"
  local g ws args d
  for g in map-int map-str slice; do
    ws=""; args=""
    for w in "${WORKLOADS[@]}"; do
      [[ "$w" == "$g"-* ]] || continue
      ws+="${ws:+, }$w"
      # shellcheck disable=SC2016 # backquotes are Markdown here
      args+="${args:+, }\`${ARGS_OF[$w]}\`"
    done
    [ -n "$ws" ] || continue
    case "$g" in
      map-int) d="int64 → int64. A round: insert the N keys into an empty map (no size hint), look each up (hit), look up N absent keys (miss), iterate, delete the N keys; max(1, OPS/N) rounds, so every phase does ~OPS operations" ;;
      map-str) d="the same with string keys of 8-24 decimal digits (16 on average), stored as (pointer, length) headers into one buffer: Go \`string\`, \`gm_string\`, \`std::string_view\`" ;;
      slice) d="append N int64 one at a time to an empty slice: Go \`append\`, the typed \`gm_slice\`'s append (\`gm_append\` when full), \`push_back\` without \`reserve\`" ;;
    esac
    printf '| %s | %s | %s |\n' "$ws" "$d" "$args"
  done
  echo
  echo "The maps are of different designs: gomalloc's \`gm_map\` is Go's hmap of Go ≤ 1.23 (buckets of 8, load factor 6.5, incremental doubling); Go's map is a Swiss table since Go 1.24 (this run: ${GO_VERSION:-no Go}), as is \`absl::flat_hash_map\`; \`std::unordered_map\` chains nodes. Go's and gomalloc's slices grow alike (Go's growslice: ×2 below 256 elements, then ~×1.25, rounded to a size class), \`std::vector\` doubles."
  echo
}
section_peers() {
  echo "- Peers: Go ${GO_VERSION:-n/a} (default GOGC), Abseil $(pkgver libabsl-dev), libstdc++ $(pkgver libstdc++6), $(${CXX:-c++} --version 2>/dev/null | head -n 1)"
}

suite_finish
