#!/usr/bin/env bash
# bench/run.sh — run gomalloc's benchmark suite (our own programs and real
# programs: Python, sqlite3, git, a C++ program, gcc) under glibc, jemalloc,
# tcmalloc, mimalloc and gomalloc, and print Markdown tables of the medians.
#
# usage: bench/run.sh [-n RUNS] [--quick] [--write] [--only W1,W2] [--alloc A1,A2]
#                     [--build-dir DIR] [--wait-quiet SECONDS]
#   -n RUNS        rounds per workload and allocator (default 5)
#   --quick        small scales and 1 round unless -n is given (smoke test)
#   --write        also write the report to bench/RESULTS.md
#   --only LIST    workloads to run (default: all): churn, larson, prodcons,
#                  binarytrees, sizesweep, largechurn, cxx, py-objects,
#                  py-strings, py-raytrace, sqlite, git, gcc, or the groups
#                  ours (the first six), real (the rest), python, all
#   --alloc LIST   allocators to run (default: glibc,jemalloc,tcmalloc,mimalloc,gomalloc)
#   --build-dir D  CMake build directory (default: build, or $BUILD_DIR)
#   --wait-quiet S before each round, wait up to S seconds while other work
#                  keeps half a core or more busy (default 0: just warn)
#
# Every allocator but glibc is injected with LD_PRELOAD, gomalloc as
# <build>/libgomalloc.so (skipped while that does not export malloc). Each
# run ends with a result line (a checksum) that must not depend on the
# allocator; the script checks the lines agree across allocators and rounds.
# Allocators are interleaved within each round (and their order is rotated
# from round to round) so that machine drift affects all alike. Progress goes
# to stderr, the report to stdout. The exit status is 1 when a run failed or
# result lines disagree. The workloads are defined in bench/lib/workloads.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=bench/lib/cmdline.sh
source "$ROOT/bench/lib/cmdline.sh"
CMDLINE=$(bench_cmdline ./bench/run.sh "$@")

RUNS=5
RUNS_SET=0
QUICK=0
WRITE=0
BUILD_DIR=${BUILD_DIR:-build}
ONLY=""
ALLOC_SEL=""
WAIT_QUIET=0
# the targets gomalloc is reported against (see bench/lib/report.awk)
TIME_TARGET=1.0 # geomean time, times mimalloc's
SLOW_TARGET=1.25 # every workload, times the fastest peer's time on it
RSS_TARGET=1.1 # geomean peak RSS, times the lowest peer geomean

die() { echo "run.sh: $*" >&2; exit 2; }
note() { echo "run.sh: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    -n) [ $# -ge 2 ] || die "-n needs a number"; RUNS=$2; RUNS_SET=1; shift 2 ;;
    -n*) RUNS=${1#-n}; RUNS_SET=1; shift ;;
    --quick) QUICK=1; [ "$RUNS_SET" = 1 ] || RUNS=1; shift ;;
    --write) WRITE=1; shift ;;
    --only) [ $# -ge 2 ] || die "--only needs a list"; ONLY=$2; shift 2 ;;
    --alloc) [ $# -ge 2 ] || die "--alloc needs a list"; ALLOC_SEL=$2; shift 2 ;;
    --build-dir) [ $# -ge 2 ] || die "--build-dir needs a directory"; BUILD_DIR=$2; shift 2 ;;
    --wait-quiet) [ $# -ge 2 ] || die "--wait-quiet needs seconds"; WAIT_QUIET=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "-n wants a positive integer, got '$RUNS'"
[[ "$WAIT_QUIET" =~ ^[0-9]+$ ]] || die "--wait-quiet wants seconds, got '$WAIT_QUIET'"

# shellcheck source=bench/lib/workloads.sh
source "$ROOT/bench/lib/workloads.sh"
# shellcheck source=bench/lib/results.sh
source "$ROOT/bench/lib/results.sh"
unset LD_PRELOAD # glibc runs have none; the others get theirs from runone

BENCHES=()
if [ -n "$ONLY" ]; then
  IFS=, read -r -a want <<<"$ONLY"
  for b in "${want[@]}"; do
    if [ -n "${WORKLOAD_GROUP[$b]+x}" ]; then
      read -r -a g <<<"${WORKLOAD_GROUP[$b]}"
      BENCHES+=("${g[@]}")
    elif [ -n "${FULL_ARGS[$b]+x}" ]; then
      BENCHES+=("$b")
    else
      die "unknown workload '$b' (see --help)"
    fi
  done
  # in the suite's order, each once
  sel=" ${BENCHES[*]} "
  BENCHES=()
  for b in "${ALL_WORKLOADS[@]}"; do case "$sel" in *" $b "*) BENCHES+=("$b") ;; esac; done
else
  BENCHES=("${ALL_WORKLOADS[@]}")
fi

# ---- Dependencies -------------------------------------------------------------
# shellcheck source=bench/lib/deps.sh
source "$ROOT/bench/lib/deps.sh"
wanted=(libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0 time)
for b in "${BENCHES[@]}"; do
  if [ -n "${NEEDS[$b]:-}" ]; then read -r -a p <<<"${NEEDS[$b]}"; wanted+=("${p[@]}"); fi
done
ensure_pkgs "${wanted[@]}" || true
if ! command -v cmake >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1; then
  if [ -x tools/ensure-deps.sh ]; then tools/ensure-deps.sh >&2 || true; fi
fi

MULTIARCH=$(gcc -print-multiarch 2>/dev/null || true)
[ -n "$MULTIARCH" ] || MULTIARCH=x86_64-linux-gnu

declare -A PRELOAD=([glibc]="")
PRELOAD[jemalloc]=$(find_lib libjemalloc2 libjemalloc.so.2 libjemalloc.so || true)
PRELOAD[tcmalloc]=$(find_lib libtcmalloc-minimal4 libtcmalloc_minimal.so.4 libtcmalloc_minimal.so || true)
PRELOAD[mimalloc]=$(find_lib libmimalloc2.0 libmimalloc.so.2.0 libmimalloc.so.2 libmimalloc.so || true)

# ---- Build --------------------------------------------------------------------
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd) # runs start in other directories
BUILD_LOG="$BUILD_DIR/bench-build.log"
BIN="$BUILD_DIR/bench"
GM_BUILT=1
: >"$BUILD_LOG"
note "building in $BUILD_DIR (log: $BUILD_LOG)"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >>"$BUILD_LOG" 2>&1 || true
fi
if ! cmake --build "$BUILD_DIR" -j "$(nproc)" >>"$BUILD_LOG" 2>&1; then
  note "full build failed; building the benchmark targets alone"
  if ! cmake --build "$BUILD_DIR" -j "$(nproc)" --target bench_sys >>"$BUILD_LOG" 2>&1; then
    # CMake itself may not configure while the library is incomplete: build
    # the plain-malloc programs directly so the peers can still be measured.
    note "CMake build of bench_sys failed; compiling the _sys programs directly"
    BIN="$BUILD_DIR/bench-direct"
    mkdir -p "$BIN"
    for b in "${OUR_BENCHES[@]}" fastpath; do
      "${CC:-cc}" -std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE -pthread -Ibench -o "$BIN/bench_${b}_sys" "bench/$b.c" \
        >>"$BUILD_LOG" 2>&1 || die "cannot compile bench/$b.c (see $BUILD_LOG)"
    done
    "${CXX:-g++}" -std=c++17 -O2 -Wall -Wextra -pthread -o "$BIN/bench_cxx_sys" bench/cxx_workload.cc \
      >>"$BUILD_LOG" 2>&1 || note "cannot compile bench/cxx_workload.cc (see $BUILD_LOG): cxx is skipped"
    "${CC:-cc}" -std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE -o "$BIN/bench_runone" bench/runone.c \
      >>"$BUILD_LOG" 2>&1 || die "cannot compile bench/runone.c (see $BUILD_LOG)"
  fi
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target gomalloc_shared >>"$BUILD_LOG" 2>&1 || GM_BUILT=0
fi
RUNONE="$BIN/bench_runone"
[ -x "$RUNONE" ] || die "$RUNONE was not built"

# gomalloc is preloaded like the peers, once libgomalloc.so exports malloc.
GM_LIB="$BUILD_DIR/libgomalloc.so"
GM_SKIP=""
if [ "$GM_BUILT" = 0 ]; then
  GM_SKIP="gomalloc (libgomalloc.so does not build; see $BUILD_LOG)"
  grep -E "error|Error" "$BUILD_LOG" | tail -n 8 >&2 || true
elif [ ! -f "$GM_LIB" ]; then
  GM_SKIP="gomalloc ($GM_LIB not built)"
elif ! nm -D --defined-only "$GM_LIB" 2>/dev/null | awk '$3 == "malloc" { ok = 1 } END { exit !ok }'; then
  GM_SKIP="gomalloc ($GM_LIB does not export malloc: no LD_PRELOAD drop-in yet)"
else
  PRELOAD[gomalloc]=$GM_LIB
fi

# ---- Allocators ---------------------------------------------------------------
ALL_ALLOCS=(glibc jemalloc tcmalloc mimalloc gomalloc)
WANT_ALLOCS=()
if [ -n "$ALLOC_SEL" ]; then
  IFS=, read -r -a WANT_ALLOCS <<<"$ALLOC_SEL"
  for a in "${WANT_ALLOCS[@]}"; do
    case " ${ALL_ALLOCS[*]} " in *" $a "*) ;; *) die "unknown allocator '$a'" ;; esac
  done
else
  WANT_ALLOCS=("${ALL_ALLOCS[@]}")
fi
ALLOCS=()
SKIPPED=()
for a in "${WANT_ALLOCS[@]}"; do
  case "$a" in
    glibc) ALLOCS+=(glibc) ;;
    gomalloc) if [ -z "$GM_SKIP" ]; then ALLOCS+=(gomalloc); else SKIPPED+=("$GM_SKIP"); fi ;;
    *) if [ -n "${PRELOAD[$a]}" ]; then ALLOCS+=("$a"); else SKIPPED+=("$a (library not found)"); fi ;;
  esac
done
[ ${#ALLOCS[@]} -gt 0 ] || die "no allocator to run"
for s in "${SKIPPED[@]+"${SKIPPED[@]}"}"; do note "skipping $s"; done

args_for() {
  if [ "$QUICK" = 1 ]; then echo "${QUICK_ARGS[$1]}"; else echo "${FULL_ARGS[$1]}"; fi
}

# ---- Set-up -------------------------------------------------------------------
# Work files go to a tmpfs when there is one with room: git and sqlite write
# tens of MB per run, and a disk would add its own noise.
WORK_PARENT=${TMPDIR:-/tmp}
if [ -d /dev/shm ] && [ -w /dev/shm ] &&
  [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')" -gt 1048576 ] 2>/dev/null; then
  WORK_PARENT=/dev/shm
fi
WORK=$(mktemp -d "$WORK_PARENT/gomalloc-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
WORK_FS=$(df -P "$WORK" 2>/dev/null | awk 'NR == 2 { print $1 }' || echo '?')
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

SEL=("${BENCHES[@]}")
BENCHES=()
for b in "${SEL[@]}"; do
  prog=$(wl_program "$b")
  if [ ! -x "$prog" ]; then
    note "skipping $b: $prog not found"
    SKIPPED+=("$b ($prog not found)")
    continue
  fi
  read -r -a ARGS <<<"$(args_for "$b")"
  if is_real "$b"; then note "setting up $b"; fi
  if ! wl_setup "$b"; then
    SKIPPED+=("$b (set-up failed)")
    continue
  fi
  BENCHES+=("$b")
done
[ ${#BENCHES[@]} -gt 0 ] || die "no workload to run"

# ---- Run ----------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
TIMEOUT=300 # seconds; a run that takes longer (a deadlock?) is killed and counted as failed
[ "$QUICK" = 0 ] || TIMEOUT=60
total=$((RUNS * ${#BENCHES[@]} * ${#ALLOCS[@]}))
done_runs=0
failures=0
START=$(date +%s)
# other_load: how many cores other work kept busy over the last 0.5 s (from
# the aggregate cpu line of /proc/stat: non-idle share of all CPU time, times
# the number of CPUs). Sampled before each round: the workloads share the
# cores with whatever else runs.
other_load() {
  local a b
  a=$(head -n 1 /proc/stat 2>/dev/null) || { echo "?"; return; }
  sleep 0.5
  b=$(head -n 1 /proc/stat)
  printf '%s|%s\n' "$a" "$b" | awk -F'|' -v n="$(nproc)" '{
    split($1, x, " "); split($2, y, " "); t = 0
    for (i = 2; i <= 9; i++) t += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6])
    printf "%.1f", (t > 0) ? n * (t - idle) / t : 0 }'
}
busy() { awk -v l="$1" -v t="$2" 'BEGIN { exit !(l + 0 >= t) }'; }

# run_one WORKLOAD ALLOC ROUND: one timed run, appended to results.tsv as
#   workload alloc round seconds rss-KiB exit-status result-line other-load
run_one() {
  local b=$1 a=$2 r=$3 base="$WORK/$1.$2.$3" rc=0 stat0 stat1 t rss cpu_user cpu_sys chk other flag
  read -r -a ARGS <<<"$(args_for "$b")"
  wl_prepare "$b"
  wl_command "$b"
  stat0=$(head -n 1 /proc/stat 2>/dev/null || true)
  (cd "$RUN_CWD" && for e in "${RUN_ENV[@]+"${RUN_ENV[@]}"}"; do export "${e?}"; done &&
    exec "$RUNONE" -p "${PRELOAD[$a]}" -o "$base.res" -t "$TIMEOUT" -- "${RUN_CMD[@]}") \
    >"$base.out" 2>"$base.err" || rc=$?
  stat1=$(head -n 1 /proc/stat 2>/dev/null || true)
  done_runs=$((done_runs + 1))
  if [ "$rc" -ne 0 ] || [ ! -s "$base.res" ]; then
    failures=$((failures + 1))
    printf 'run.sh: [%d/%d] %s %s round %d FAILED (exit %d):\n' "$done_runs" "$total" "$b" "$a" "$r" "$rc" >&2
    tail -n 5 "$base.err" >&2 || true
    printf '%s\t%s\t%d\tFAIL\tFAIL\t%d\t-\t0\n' "$b" "$a" "$r" "$rc" >>"$RESULTS"
    return
  fi
  read -r t rss _ cpu_user cpu_sys <"$base.res"
  chk=$(wl_result "$b" "$base.out" 2>/dev/null | tr '\t' ' ') || true
  [ -n "$chk" ] || chk="(no result line)"
  # Cores kept busy by other work during the run: the machine's non-idle CPU
  # time over the run, less the workload's own (its waited-for children
  # included), over the wall time.
  other=$(awk -v a="$stat0" -v b="$stat1" -v hz="$CLK_TCK" -v u="$cpu_user" -v s="$cpu_sys" -v t="$t" 'BEGIN {
    # clock ticks are coarse (10 ms): not judged for runs under 0.2 s,
    # and two ticks of slack
    if (split(a, x, " ") < 9 || split(b, y, " ") < 9 || t + 0 < 0.2) { print 0; exit }
    busy = 0
    for (i = 2; i <= 9; i++) if (i != 5 && i != 6) busy += y[i] - x[i]
    o = ((busy - 2) / hz - u - s) / t
    printf "%.2f", (o < 0) ? 0 : o }')
  printf '%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n' "$b" "$a" "$r" "$t" "$rss" "$rc" "$chk" "$other" >>"$RESULTS"
  flag=""
  if busy "$other" 0.25; then flag="  (other work: $other cores)"; fi
  printf 'run.sh: [%3d/%d] %-11s %-8s round %d: %8.3f s %9.1f MiB%s\n' "$done_runs" "$total" "$b" "$a" "$r" \
    "$t" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" "$flag" >&2
}

LOADS=""
note "running ${#BENCHES[@]} workloads x ${#ALLOCS[@]} allocators x $RUNS rounds (work files in $WORK)"
for ((r = 1; r <= RUNS; r++)); do
  load=$(other_load)
  waited=0
  while [ "$waited" -lt "$WAIT_QUIET" ] && busy "$load" 0.5; do
    [ "$waited" -gt 0 ] || note "other work keeps $load cores busy: waiting up to ${WAIT_QUIET} s for a quiet machine"
    sleep 1.5
    waited=$((waited + 2))
    load=$(other_load)
  done
  LOADS+="${LOADS:+ }$load"
  if busy "$load" 0.5; then note "warning: other work kept $load cores busy before round $r: expect noise"; fi
  for b in "${BENCHES[@]}"; do
    n=${#ALLOCS[@]}
    for ((k = 0; k < n; k++)); do
      run_one "$b" "${ALLOCS[$(((k + r - 1) % n))]}" "$r"
    done
  done
done
ELAPSED=$(($(date +%s) - START))
note "done in ${ELAPSED} s"

# ---- Report -------------------------------------------------------------------
OURS_RUN=()
for b in "${BENCHES[@]}"; do is_real "$b" || OURS_RUN+=("$b"); done
TABLE=$(awk -f "$ROOT/bench/lib/stats.awk" -f "$ROOT/bench/lib/report.awk" -v benches="${BENCHES[*]}" -v allocs="${ALLOCS[*]}" \
  -v ours="${OURS_RUN[*]+"${OURS_RUN[*]}"}" -v time_target="$TIME_TARGET" -v slow_target="$SLOW_TARGET" \
  -v rss_target="$RSS_TARGET" "$RESULTS")
MISMATCH=0
if grep -qE "MISMATCH|unstable|FAILED" <<<"$TABLE"; then MISMATCH=1; fi
DISTURBED=$(awk -F'\t' '$4 != "FAIL" { n++; if ($8 + 0 >= 0.25) d++; if ($8 + 0 > m) m = $8 + 0 }
  END { printf "%d of %d runs had other work keeping 0.25 cores or more busy beside them (at most %.1f)", d, n, m }' "$RESULTS")
TABLE+=$'\n\n'"Times are median wall seconds, RSS median peak resident MiB (for git and gcc: of the largest process in the tree), over $RUNS round(s); peers are glibc, jemalloc, tcmalloc and mimalloc; the Python rows run with PYTHONMALLOC=malloc."

echo "$TABLE"
echo
if [ "$QUICK" = 1 ]; then echo "(--quick: small scales, $RUNS round(s); not for comparison)"; fi
echo "$DISTURBED."
[ ${#SKIPPED[@]} -eq 0 ] || echo "Skipped: ${SKIPPED[*]}."
[ "$MISMATCH" = 0 ] || echo "WARNING: some runs failed or their result lines disagree (see the result column)."

if [ "$WRITE" = 1 ]; then
  write_results bench/RESULTS.md
  note "wrote bench/RESULTS.md"
fi

if [ "$failures" -gt 0 ] || [ "$MISMATCH" = 1 ]; then exit 1; fi
exit 0
