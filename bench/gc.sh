#!/usr/bin/env bash
# bench/gc.sh — the garbage-collector benchmarks: gomalloc's collector (with
# span and with object marking) against the Boehm collector, Go's runtime and
# explicit malloc/free (mimalloc and glibc), with a Markdown table of the
# medians.
#
# usage: bench/gc.sh [-n RUNS] [--quick] [--write] [--only W1,W2]
#                    [--variant V1,V2] [--build-dir DIR]
#   -n RUNS        rounds per workload and variant (default 3)
#   --quick        small scales and 1 round unless -n is given (smoke test,
#                  under a minute once built)
#   --write        also write the "Garbage collector" section of
#                  bench/RESULTS.md (replaced if there, else appended)
#   --only LIST    workloads (default: all but pauses-1000 and latency-1000
#                  with --quick): binarytrees, gcbench, mtalloc, pauses-10,
#                  pauses-100, pauses-1000, latency-10, latency-100,
#                  latency-1000, or the groups pauses and latency
#   --variant LIST variants (default: gomalloc,gomalloc-objmark,boehm,
#                  boehm-incr,go,mimalloc,glibc, with gomalloc-objmark only
#                  for binarytrees, gcbench and latency-*; gomalloc-typed
#                  only when asked for; a variant named here runs for every
#                  workload that has its program)
#   --build-dir D  CMake build directory (default: build, or $BUILD_DIR)
#
# Workloads (bench/gc/<name>.c, and bench/gc/<name>.go for Go):
#   binarytrees  the benchmarks-game binary trees, depth 21
#   gcbench      GCBench-style: long-lived tree and 500k-double array,
#                short-lived trees of depth 4..16 top down and bottom up
#   mtalloc      2 threads allocating lists and arrays into a rolling window
#   pauses-L     L MiB live as a pointer graph, 20 forced collections
#                (no malloc/free variant)
#   latency-L    L MiB live as pauses' graph; one thread allocates as fast as
#                it can while replacing live nodes, and times every loop
#                iteration: the largest gap and the 99.9th percentile are what
#                the program sees of the collector (no malloc/free variant;
#                its own table, with the gap columns)
# Variants:
#   gomalloc  build/bench/gc/<name>_gm       gm_new & co., gomalloc's collector
#             with span-at-a-time marking (GOMALLOC_GCMARK=span, the default,
#             set in its environment so that an exported value cannot change it)
#   gomalloc-objmark  build/bench/gc/<name>_gm  the same program with
#             GOMALLOC_GCMARK=object: object-at-a-time marking; the report
#             gives span / object ratios of the two rows' medians
#   gomalloc-typed  build/bench/gc/<name>_gmtyped  the same with gm_new_typed
#             nodes (binarytrees and gcbench only; not run unless named)
#   boehm     build/bench/gc/<name>_boehm    GC_MALLOC, Debian's libgc (8.2)
#   boehm-incr  build/bench/gc/latency_boehm ... incremental: the same after
#             GC_enable_incremental() (latency only)
#   go        build/bench/gc/<name>_go       `go build` (the go on PATH);
#             latency_go sets GOMAXPROCS=2 unless the environment does
#   mimalloc  build/bench/gc/<name>_sys      malloc/free, LD_PRELOAD=libmimalloc.so.2
#   glibc     build/bench/gc/<name>_sys      malloc/free, glibc
#
# Each run is one process under bench_runone (wall time, peak RSS =
# ru_maxrss, CPU time); variants are interleaved within a round and their
# order rotated from round to round. Every program prints a result line whose
# checksum must be the same for every variant and round (checked), and the
# collected variants a line
#   gc: cycles=N pause_max_ms=X pause_p99_ms=Y pause_total_ms=Z pauses=K
# (see bench/gc/gc_common.h for where each takes its pauses); binarytrees,
# gcbench and latency (gc_common.h's gc_cpu_report, gc_common.go's
# gcCPUReport) a line
#   gccpu: total_ms=T per_cycle_ms=C source=S
# (GC CPU time: gomalloc and Go from their runtime metrics; for Boehm it is
# the CPU spent while the world was stopped), the table's GC CPU columns;
# and latency also
#   gaps: n=N max_us=X p999_us=Y p99_us=Z p50_us=W
# Progress goes to
# stderr, the report to stdout; the exit status is 1 when a run failed or
# result lines disagree.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=bench/lib/cmdline.sh
source "$ROOT/bench/lib/cmdline.sh"
CMDLINE=$(bench_cmdline ./bench/gc.sh "$@")

RUNS=3
RUNS_SET=0
QUICK=0
WRITE=0
BUILD_DIR=${BUILD_DIR:-build}
ONLY=""
VARIANT_SEL=""
# the targets of the collector's issue
BT_BOEHM_TARGET=0.35   # binary-trees depth 21: time, times Boehm's
BT_MIMALLOC_TARGET=1.0 # binary-trees depth 21: time, times mimalloc malloc/free
BT_RSS_GO_TARGET=1.0   # binary-trees depth 21: peak RSS, times Go's
GCB_BOEHM_TARGET=0.5   # GCBench: time, times Boehm's

die() { echo "gc.sh: $*" >&2; exit 2; }
note() { echo "gc.sh: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    -n) [ $# -ge 2 ] || die "-n needs a number"; RUNS=$2; RUNS_SET=1; shift 2 ;;
    -n*) RUNS=${1#-n}; RUNS_SET=1; shift ;;
    --quick) QUICK=1; [ "$RUNS_SET" = 1 ] || RUNS=1; shift ;;
    --write) WRITE=1; shift ;;
    --only) [ $# -ge 2 ] || die "--only needs a list"; ONLY=$2; shift 2 ;;
    --variant) [ $# -ge 2 ] || die "--variant needs a list"; VARIANT_SEL=$2; shift 2 ;;
    --build-dir) [ $# -ge 2 ] || die "--build-dir needs a directory"; BUILD_DIR=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "-n needs a positive number"

# ---- Workloads ----------------------------------------------------------------
ALL_WORKLOADS=(binarytrees gcbench mtalloc pauses-10 pauses-100 pauses-1000 latency-10 latency-100 latency-1000)
ALL_VARIANTS=(gomalloc gomalloc-objmark gomalloc-typed boehm boehm-incr go mimalloc glibc)
DEFAULT_VARIANTS=(gomalloc gomalloc-objmark boehm boehm-incr go mimalloc glibc)
declare -A FULL_ARGS=(
  [binarytrees]="21"         # max depth: the classic 21
  [gcbench]="16 8 500000"    # max depth, rounds, array doubles
  [mtalloc]="2 300000 4096"  # threads, items per thread, window slots
  [pauses-10]="10 20"        # live MiB, forced cycles
  [pauses-100]="100 20"
  [pauses-1000]="1000 20"
  [latency-10]="10 10M"      # live MiB, loop iterations (5 new 64 B nodes each)
  [latency-100]="100 10M"
  [latency-1000]="1000 20M"
)
declare -A QUICK_ARGS=(
  [binarytrees]="18"
  [gcbench]="16 1 500000"
  [mtalloc]="2 100000 4096"
  [pauses-10]="10 10"
  [pauses-100]="100 10"
  [pauses-1000]="1000 10"
  [latency-10]="10 2M"
  [latency-100]="100 2M"
  [latency-1000]="1000 5M"
)
declare -A DESCRIPTION=(
  [binarytrees]="benchmarks-game binary trees: 16 B nodes (two pointers), bottom up; stretch tree, long-lived tree, 2^(max-d+4) trees of each depth d"
  [gcbench]="GCBench-style: 32 B nodes; long-lived tree of depth 16 and 500,000 doubles; per round and depth 4..16, short-lived trees top down and bottom up"
  [mtalloc]="2 threads, each a 4096-slot window of items (lists of 1-32 nodes of 16-128 B, one in four with a 16-1024-word array), replaced at random and verified"
  [pauses-10]="10 MiB live (64 B nodes in 4-ary subtrees), 5% replaced + L/4 MiB garbage per round, a forced collection per round"
  [pauses-100]="the same, 100 MiB live"
  [pauses-1000]="the same, 1000 MiB live"
  [latency-10]="10 MiB live as pauses' graph (parent as cross pointer); one thread: walk a random path (checked), replace a height-1 node and its 4 leaves with 5 new 64 B nodes, read the clock; gaps between iterations"
  [latency-100]="the same, 100 MiB live"
  [latency-1000]="the same, 1000 MiB live"
)
program_of() { echo "${1%%-*}"; } # pauses-100 -> pauses
is_latency() { case "$1" in latency-*) return 0 ;; esac; return 1; }

SEL_W=()
if [ -n "$ONLY" ]; then
  IFS=, read -r -a req <<<"$ONLY"
  for w in "${req[@]}"; do
    case "$w" in
      pauses) SEL_W+=(pauses-10 pauses-100 pauses-1000) ;;
      latency) SEL_W+=(latency-10 latency-100 latency-1000) ;;
      all) SEL_W+=("${ALL_WORKLOADS[@]}") ;;
      *) case " ${ALL_WORKLOADS[*]} " in *" $w "*) SEL_W+=("$w") ;; *) die "unknown workload '$w'" ;; esac ;;
    esac
  done
else
  for w in "${ALL_WORKLOADS[@]}"; do
    [ "$QUICK" = 1 ] && { [ "$w" = pauses-1000 ] || [ "$w" = latency-1000 ]; } && continue
    SEL_W+=("$w")
  done
fi
WORKLOADS=()
for w in "${ALL_WORKLOADS[@]}"; do
  case " ${SEL_W[*]} " in *" $w "*) WORKLOADS+=("$w") ;; esac
done

WANT_V=("${DEFAULT_VARIANTS[@]}")
if [ -n "$VARIANT_SEL" ]; then
  IFS=, read -r -a WANT_V <<<"$VARIANT_SEL"
  for v in "${WANT_V[@]}"; do
    case " ${ALL_VARIANTS[*]} " in *" $v "*) ;; *) die "unknown variant '$v'" ;; esac
  done
fi
want_variant() { case " ${WANT_V[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

args_for() {
  if [ "$QUICK" = 1 ]; then echo "${QUICK_ARGS[$1]}"; else echo "${FULL_ARGS[$1]}"; fi
}

# ---- Dependencies -------------------------------------------------------------
# shellcheck source=bench/lib/deps.sh
source "$ROOT/bench/lib/deps.sh"
ensure_pkgs cmake gcc libgc-dev golang-go libmimalloc2.0 || true

MULTIARCH=$(gcc -print-multiarch 2>/dev/null || true)
[ -n "$MULTIARCH" ] || MULTIARCH=x86_64-linux-gnu
MIMALLOC=$(find_lib libmimalloc2.0 libmimalloc.so.2.0 libmimalloc.so.2 libmimalloc.so || true)

# ---- Build --------------------------------------------------------------------
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
BUILD_LOG="$BUILD_DIR/bench-gc-build.log"
GCBIN="$BUILD_DIR/bench/gc"
RUNONE="$BUILD_DIR/bench/bench_runone"
: >"$BUILD_LOG"
note "building in $BUILD_DIR (log: $BUILD_LOG)"
declare -A SKIP_V=() # variant -> why it is skipped

# Configure every time (cheap with a cache): it finds libgc once installed.
CONFIGURED=1
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >>"$BUILD_LOG" 2>&1 || CONFIGURED=0
PEERS_BUILT=0
if [ "$CONFIGURED" = 1 ] && cmake --build "$BUILD_DIR" -j "$(nproc)" --target bench_gc_peers >>"$BUILD_LOG" 2>&1; then
  PEERS_BUILT=1
fi
if [ "$PEERS_BUILT" = 0 ]; then
  # CMake may not configure while the library is being changed: compile the
  # programs that do not need it directly.
  note "CMake build of bench_gc_peers failed; compiling the _sys and _boehm programs directly"
  mkdir -p "$GCBIN" "$BUILD_DIR/bench"
  CFLAGS_GC=(-std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE -pthread -Ibench -Ibench/gc)
  for p in binarytrees gcbench mtalloc pauses latency; do
    rm -f "$GCBIN/${p}_sys" "$GCBIN/${p}_boehm" # what fails to build is skipped, not run stale
    if [ "$p" != pauses ] && [ "$p" != latency ]; then
      "${CC:-cc}" "${CFLAGS_GC[@]}" -o "$GCBIN/${p}_sys" "bench/gc/$p.c" >>"$BUILD_LOG" 2>&1 ||
        note "cannot compile ${p}_sys (see $BUILD_LOG)"
    fi
    "${CC:-cc}" "${CFLAGS_GC[@]}" -DGCB_BOEHM -o "$GCBIN/${p}_boehm" "bench/gc/$p.c" -lgc >>"$BUILD_LOG" 2>&1 ||
      note "cannot compile ${p}_boehm (see $BUILD_LOG)"
  done
  "${CC:-cc}" -std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE -o "$RUNONE" bench/runone.c >>"$BUILD_LOG" 2>&1 ||
    die "cannot compile bench/runone.c (see $BUILD_LOG)"
fi
[ -x "$RUNONE" ] || die "$RUNONE was not built"

if want_variant gomalloc || want_variant gomalloc-objmark || want_variant gomalloc-typed; then
  if [ "$CONFIGURED" = 0 ] || ! cmake --build "$BUILD_DIR" -j "$(nproc)" --target bench_gc_gm >>"$BUILD_LOG" 2>&1; then
    SKIP_V[gomalloc]="the _gm programs do not build (no collector in the library yet?); see $BUILD_LOG"
    SKIP_V[gomalloc-objmark]=${SKIP_V[gomalloc]}
    SKIP_V[gomalloc-typed]=${SKIP_V[gomalloc]}
    grep -E "error|undefined reference" "$BUILD_LOG" | sort -u | tail -n 6 >&2 || true
  fi
fi

if want_variant go; then
  if command -v go >/dev/null 2>&1; then
    mkdir -p "$GCBIN"
    [ -n "${HOME:-}" ] || export GOCACHE="${GOCACHE:-$BUILD_DIR/go-cache}"
    # standard library only: never reach for a module proxy
    for p in binarytrees gcbench mtalloc pauses latency; do
      rm -f "$GCBIN/${p}_go" # a failed build must not leave an old binary to run
      GOPROXY=off GOFLAGS='' go build -o "$GCBIN/${p}_go" "bench/gc/$p.go" bench/gc/gc_common.go >>"$BUILD_LOG" 2>&1 ||
        note "go build of bench/gc/$p.go failed (see $BUILD_LOG)"
    done
    GO_VERSION=$(go version 2>/dev/null | awk '{ print $3 }')
  else
    SKIP_V[go]="no go command (Debian golang-go)"
  fi
fi
[ -n "$MIMALLOC" ] || SKIP_V[mimalloc]="libmimalloc.so.2 not found (Debian libmimalloc2.0)"

# program_path WORKLOAD VARIANT: the executable, or nothing if the pair does not exist.
program_path() {
  local p
  p=$(program_of "$1")
  case "$2" in
    gomalloc|gomalloc-objmark) echo "$GCBIN/${p}_gm" ;;
    gomalloc-typed) case "$p" in binarytrees|gcbench) echo "$GCBIN/${p}_gmtyped" ;; esac ;;
    boehm) echo "$GCBIN/${p}_boehm" ;;
    boehm-incr) [ "$p" != latency ] || echo "$GCBIN/${p}_boehm" ;;
    go) echo "$GCBIN/${p}_go" ;;
    mimalloc|glibc) case "$p" in pauses|latency) ;; *) echo "$GCBIN/${p}_sys" ;; esac ;;
  esac
}

# variant_env VARIANT: the NAME=VALUE words its runs get in their environment.
variant_env() {
  case "$1" in
    gomalloc) echo GOMALLOC_GCMARK=span ;;
    gomalloc-objmark) echo GOMALLOC_GCMARK=object ;;
  esac
}

VARIANTS=()
SKIPPED=()
for v in "${ALL_VARIANTS[@]}"; do
  want_variant "$v" || continue
  if [ -n "${SKIP_V[$v]:-}" ]; then SKIPPED+=("$v (${SKIP_V[$v]})"); continue; fi
  VARIANTS+=("$v")
done
[ ${#VARIANTS[@]} -gt 0 ] || die "no variant to run"
for s in "${SKIPPED[@]+"${SKIPPED[@]}"}"; do note "skipping $s"; done

# the (workload, variant) pairs that run
declare -A RUNS_OF=()
for w in "${WORKLOADS[@]}"; do
  list=""
  for v in "${VARIANTS[@]}"; do
    prog=$(program_path "$w" "$v")
    [ -n "$prog" ] || continue
    # by default object marking is compared where the report has its ratios
    if [ "$v" = gomalloc-objmark ] && [ -z "$VARIANT_SEL" ]; then
      case "$w" in binarytrees|gcbench|latency-*) ;; *) continue ;; esac
    fi
    if [ ! -x "$prog" ]; then
      SKIPPED+=("$w/$v ($prog not built)")
      note "skipping $w/$v: $prog not built"
      continue
    fi
    list+="${list:+ }$v"
  done
  RUNS_OF[$w]=$list
done

# ---- Run ----------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gomalloc-gc-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/gc-results.tsv"
: >"$RESULTS"
TIMEOUT=600
[ "$QUICK" = 0 ] || TIMEOUT=90
total=0
for w in "${WORKLOADS[@]}"; do read -r -a vs <<<"${RUNS_OF[$w]}"; total=$((total + RUNS * ${#vs[@]})); done
done_runs=0
failures=0
START=$(date +%s)

# run_one WORKLOAD VARIANT ROUND: one timed run appended to gc-results.tsv,
# 17 fields: the 12 of every run, then (latency only, else -) gap max, p99.9
# and p99 (µs), then (from a gccpu: line, else -) GC CPU per cycle and total
# (ms). bench/lib/gc_report.awk reads fields 1-12, 16 and 17,
# bench/lib/latency_table.awk 13-15.
run_one() {
  local w=$1 v=$2 r=$3 base="$WORK/$1.$2.$3" rc=0 prog pre=() envs=() t rss u s chk gcl cyc pmax p99 ptot
  local gapl cpul gmax g999 g99 gcpu gtot
  prog=$(program_path "$w" "$v")
  read -r -a ARGS <<<"$(args_for "$w")"
  read -r -a envs <<<"$(variant_env "$v")"
  [ "$v" != boehm-incr ] || ARGS+=(incremental)
  [ "$v" != mimalloc ] || pre=(-p "$MIMALLOC")
  env "${envs[@]+"${envs[@]}"}" "$RUNONE" "${pre[@]+"${pre[@]}"}" -o "$base.res" -t "$TIMEOUT" -- "$prog" "${ARGS[@]}" \
    >"$base.out" 2>"$base.err" || rc=$?
  done_runs=$((done_runs + 1))
  chk=$(grep -m 1 "^$(program_of "$w") " "$base.out" 2>/dev/null | tr '\t' ' ') || true
  if [ "$rc" -ne 0 ] || [ ! -s "$base.res" ] || [ -z "$chk" ]; then
    failures=$((failures + 1))
    printf 'gc.sh: [%d/%d] %s %s round %d FAILED (exit %d):\n' "$done_runs" "$total" "$w" "$v" "$r" "$rc" >&2
    { tail -n 5 "$base.out"; tail -n 10 "$base.err"; } >&2 || true
    printf '%s\t%s\t%d\tFAIL\tFAIL\t%d\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n' "$w" "$v" "$r" "$rc" >>"$RESULTS"
    return
  fi
  read -r t rss _ u s <"$base.res"
  gcl=$(grep -m 1 '^gc: ' "$base.out" || true)
  cyc=-; pmax=-; p99=-; ptot=-
  if [ -n "$gcl" ]; then
    cyc=$(sed -n 's/.*cycles=\([0-9]*\).*/\1/p' <<<"$gcl")
    pmax=$(sed -n 's/.*pause_max_ms=\([0-9.]*\).*/\1/p' <<<"$gcl")
    p99=$(sed -n 's/.*pause_p99_ms=\([0-9.]*\).*/\1/p' <<<"$gcl")
    ptot=$(sed -n 's/.*pause_total_ms=\([0-9.]*\).*/\1/p' <<<"$gcl")
  fi
  gapl=$(grep -m 1 '^gaps: ' "$base.out" || true)
  cpul=$(grep -m 1 '^gccpu: ' "$base.out" || true)
  gmax=-; g999=-; g99=-; gcpu=-; gtot=-
  if [ -n "$gapl" ]; then
    gmax=$(sed -n 's/.*max_us=\([0-9.]*\).*/\1/p' <<<"$gapl")
    g999=$(sed -n 's/.*p999_us=\([0-9.]*\).*/\1/p' <<<"$gapl")
    g99=$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$gapl")
  fi
  if [ -n "$cpul" ]; then
    gcpu=$(sed -n 's/.*per_cycle_ms=\([0-9.]*\).*/\1/p' <<<"$cpul")
    gtot=$(sed -n 's/^gccpu: total_ms=\([0-9.]*\).*/\1/p' <<<"$cpul")
  fi
  printf '%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$v" "$r" "$t" "$rss" "$rc" "$chk" \
    "${cyc:--}" "${pmax:--}" "${p99:--}" "${ptot:--}" "$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')" \
    "${gmax:--}" "${g999:--}" "${g99:--}" "${gcpu:--}" "${gtot:--}" >>"$RESULTS"
  printf 'gc.sh: [%3d/%d] %-12s %-16s round %d: %8.3f s %9.1f MiB%s%s%s\n' "$done_runs" "$total" "$w" "$v" "$r" \
    "$t" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" "${gcl:+  $gcl}" "${gapl:+  $gapl}" \
    "${cpul:+  $cpul}" >&2
}

note "running ${#WORKLOADS[@]} workloads, $RUNS round(s), variants ${VARIANTS[*]}"
for ((r = 1; r <= RUNS; r++)); do
  for w in "${WORKLOADS[@]}"; do
    read -r -a vs <<<"${RUNS_OF[$w]}"
    n=${#vs[@]}
    for ((k = 0; k < n; k++)); do
      run_one "$w" "${vs[$(((k + r - 1) % n))]}" "$r"
    done
  done
done
ELAPSED=$(($(date +%s) - START))
note "done in ${ELAPSED} s"

# ---- Report -------------------------------------------------------------------
read -r -a BT_ARGS <<<"$(args_for binarytrees)"
GCB_SCALE=""
[ "$(args_for gcbench)" = "${FULL_ARGS[gcbench]}" ] || GCB_SCALE=" (run at \`$(args_for gcbench)\`, not the full \`${FULL_ARGS[gcbench]}\`: indicative only)"
TABLE=$(awk -f "$ROOT/bench/lib/stats.awk" -f "$ROOT/bench/lib/gc_report.awk" -v benches="${WORKLOADS[*]}" -v variants="${ALL_VARIANTS[*]}" \
  -v bt_depth="${BT_ARGS[0]}" -v bt_boehm_target="$BT_BOEHM_TARGET" -v bt_mimalloc_target="$BT_MIMALLOC_TARGET" \
  -v bt_rss_go_target="$BT_RSS_GO_TARGET" -v gcb_boehm_target="$GCB_BOEHM_TARGET" -v gcb_scale="$GCB_SCALE" "$RESULTS")
# latency_table: the latency-* rows in a table of their own (see
# bench/lib/latency_table.awk).
latency_table() {
  awk -v tsv="$RESULTS" -f "$ROOT/bench/lib/stats.awk" -f "$ROOT/bench/lib/latency_table.awk"
}
TABLE=$(latency_table <<<"$TABLE")
MISMATCH=0
if grep -qE "MISMATCH|FAILED" <<<"$TABLE"; then MISMATCH=1; fi
NOTE="Median over $RUNS round(s): wall time, CPU time (user + system, all threads), peak RSS (\`ru_maxrss\`); ratios are of time (or RSS) to the Boehm, Go and mimalloc rows of the same workload. GC cycles and pauses come from each program's \`gc:\` line: gomalloc and Go from MemStats' \`pause_ns\`/\`PauseNs\` ring (sampled between phases), Boehm from its collection events (stop-the-world to restart). GC CPU per cycle and total come from the \`gccpu:\` line (binarytrees, gcbench and latency; – where a program prints none): gomalloc and Go from \`/cpu/classes/gc/total:cpu-seconds\` (and over \`/gc/cycles/total:gc-cycles\`); Boehm's is only the process CPU time while the world was stopped (not lazy sweeping, nor boehm-incr's mark increments done inside allocation), over its collections. malloc/free rows have no collector."
OBJMARK_RAN=0
for w in "${WORKLOADS[@]}"; do case " ${RUNS_OF[$w]} " in *" gomalloc-objmark "*) OBJMARK_RAN=1 ;; esac; done
if [ "$OBJMARK_RAN" = 1 ]; then
  NOTE+=" gomalloc runs with \`GOMALLOC_GCMARK=span\` (span-at-a-time marking, the default), gomalloc-objmark is the same program with \`GOMALLOC_GCMARK=object\` (object-at-a-time marking); the span / object lines divide the gomalloc row's medians by gomalloc-objmark's (below 1: span marking costs less)."
fi
LATENCY_RAN=0
for w in "${WORKLOADS[@]}"; do is_latency "$w" && LATENCY_RAN=1; done
if [ "$LATENCY_RAN" = 1 ]; then
  NOTE+=" Latency workloads: one thread times every iteration of its loop (one CLOCK_MONOTONIC read, Go's runtime.nanotime); a gap is the time between consecutive reads, counted in a log-linear histogram (percentiles within 1.6%, the maximum exact); the time column is for a fixed number of iterations (lower is more throughput). boehm-incr is the Boehm program after \`GC_enable_incremental()\`; Go runs with GOMAXPROCS=2."
fi

echo "$TABLE"
echo
echo "$NOTE"
if [ "$QUICK" = 1 ]; then echo; echo "(--quick: small scales, $RUNS round(s); not for comparison)"; fi
[ ${#SKIPPED[@]} -eq 0 ] || { echo; echo "Skipped: ${SKIPPED[*]}."; }
[ "$MISMATCH" = 0 ] || { echo; echo "WARNING: some runs failed or their result lines disagree (see above)."; }

# ---- bench/RESULTS.md ---------------------------------------------------------
write_gc_section() {
  local out=$1 sec="$WORK/gc-section.md" cpu mem w
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
  mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || true)
  pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
  {
    echo "<!-- gc:begin -->"
    echo "## Garbage collector"
    echo
    echo "Written by \`./bench/gc.sh --write\` (bench/gc/: C programs built three ways —"
    echo "gomalloc's \`gm_new*\`, Boehm's \`GC_MALLOC\`, malloc/free — and the same"
    echo "programs in Go; see the comment at the top of bench/gc.sh)."
    echo
    echo "| workload | what it does | arguments |"
    echo "|---|---|---|"
    for w in "${WORKLOADS[@]}"; do
      # shellcheck disable=SC2016 # backquotes are Markdown here
      printf '| %s | %s | `%s` |\n' "$w" "${DESCRIPTION[$w]}" "$(args_for "$w")"
    done
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Command: \`$CMDLINE\` ($RUNS round(s), ${ELAPSED} s in all)"
    echo "- Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, ${mem:-? GiB} RAM, Linux $(uname -r)"
    echo "- Peers: Boehm GC (libgc1) $(pkgver libgc1), Go ${GO_VERSION:-?}, mimalloc $(pkgver libmimalloc2.0), glibc $(ldd --version 2>/dev/null | head -n 1 | sed 's/^ldd //')"
    echo "- gomalloc: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (with uncommitted changes)')"
    [ "$QUICK" = 0 ] || echo "- **--quick run: small scales, not for comparison**"
    [ ${#SKIPPED[@]} -eq 0 ] || echo "- Skipped: ${SKIPPED[*]}"
    echo
    echo "$TABLE"
    echo
    echo "$NOTE"
    echo
    echo "<details><summary>Every run</summary>"
    echo
    awk -F'\t' '{ printf "- %s / %s round %s: %s\n", $1, $2, $3,
      ($4 == "FAIL") ? "FAIL (exit " $6 ")" : sprintf("%s s, %.1f MiB", $4, $5 / 1024) ($8 == "-" ? "" : sprintf(", gc cycles %s, pause max %s ms, p99 %s ms", $8, $9, $10)) \
      (($4 == "FAIL" || $13 == "" || $13 == "-") ? "" : sprintf(", gap max %s µs, p99.9 %s µs, p99 %s µs", $13, $14, $15)) \
      (($4 == "FAIL" || $16 == "" || $16 == "-") ? "" : sprintf(", GC CPU %s ms/cycle, %s ms in all", $16, $17)) }' "$RESULTS"
    echo
    echo "</details>"
    echo "<!-- gc:end -->"
  } >"$sec"
  if [ -f "$out" ] && grep -q '<!-- gc:begin -->' "$out"; then
    awk -v sec="$sec" '
      /<!-- gc:begin -->/ { while ((getline l < sec) > 0) print l; skip = 1; next }
      /<!-- gc:end -->/ { skip = 0; next }
      !skip' "$out" >"$out.tmp"
    mv "$out.tmp" "$out"
  else
    if [ -s "$out" ]; then echo >>"$out"; fi
    cat "$sec" >>"$out"
  fi
}

if [ "$WRITE" = 1 ]; then
  write_gc_section bench/RESULTS.md
  note "wrote the Garbage collector section of bench/RESULTS.md"
fi

if [ "$failures" -gt 0 ] || [ "$MISMATCH" = 1 ]; then exit 1; fi
exit 0
