#!/usr/bin/env bash
# bench/profile.sh — what the sampled heap profiler costs: gomalloc with
# profiling off against the commit before it, gomalloc with GOMALLOC_PROFILE
# against profiling off, and the same for gperftools' and jemalloc's heap
# profilers, on binary-trees and the real programs of bench/lib/workloads.sh,
# with Markdown tables of the medians.
#
# usage: bench/profile.sh [-n RUNS] [--quick] [--write] [--only LIST]
#                         [--variant LIST] [--build-dir DIR] [--wait-quiet S]
#                         [--before COMMIT] [--rate N] [--anchor-timeout S]
#   -n RUNS        rounds (default 5)
#   --quick        bench/lib/workloads.sh's small scales and 1 round unless
#                  -n is given: a smoke test
#   --write        also write the "Heap profiling cost" section of
#                  bench/RESULTS.md (replaced if there, else appended; the
#                  rest is kept, and bench/run.sh --write keeps it)
#   --only LIST    workloads, as bench/run.sh's --only (names and groups of
#                  bench/lib/workloads.sh); default: binarytrees, cxx, the
#                  three Python scripts, sqlite and git
#   --variant LIST before, off, on, tc, tc-heapprof, tc-sample, je, je-prof
#                  (default: all; a ratio needs both of its variants)
#   --build-dir D  CMake build directory of this tree (default: build, or
#                  $BUILD_DIR); the "before" library is built once into
#                  D/profile-before-<commit>/ and kept there
#   --wait-quiet S before each round, wait up to S seconds for other work to
#                  drop below half a core (default 0: just note the load)
#   --results F    the file --write writes (default bench/RESULTS.md)
#   --before C     the commit to compare profiling-off against (default
#                  1a950eb, the last one before the profiler's work)
#   --rate N       GOMALLOC_PROFILE_RATE for the "on" runs (default: unset,
#                  the library's default of 512 KiB)
#   --anchor-timeout S
#                  cut a gperftools HEAPPROFILE run after S seconds (default
#                  60, or the suite's 60 s time-out with --quick); a run cut
#                  there is reported as ">N" and not repeated in later rounds
#
# Variants (every one preloaded with LD_PRELOAD by bench_runone):
#   before       libgomalloc.so of --before (a `git worktree` of that commit
#                in a temporary directory, built with CMake Release, then
#                removed), no profiling
#   off          <build>/libgomalloc.so of this tree, no GOMALLOC_* variable
#   on           the same with GOMALLOC_PROFILE=<dir>/gomalloc.%p.pb.gz: the
#                default sampling rate (one sample per 512 KiB allocated), a
#                gzipped pprof profile written at exit by every process
#   tc           gperftools' full tcmalloc, libtcmalloc.so.4 (Debian
#                libgoogle-perftools4), not profiling
#   tc-heapprof  the same with HEAPPROFILE=<dir>/tcmalloc: gperftools' heap
#                profiler, which records the stack of *every* allocation (it
#                does not sample; Debian's build unwinds with libunwind), and
#                dumps at exit and at its default intervals (every 1 GiB
#                allocated, every 100 MiB of new high-water mark)
#   tc-sample    the same with TCMALLOC_SAMPLE_PARAMETER=524288: tcmalloc's
#                sampled heap profile at 512 KiB (what MallocExtension's
#                GetHeapSample reads; the default is 0, off), nothing written
#   je           Debian's jemalloc, libjemalloc.so.2 (libjemalloc2)
#   je-prof      the same with MALLOC_CONF=prof:true,lg_prof_sample:19,
#                prof_final:true,prof_prefix:<dir>/jeprof: sampled every
#                512 KiB, a profile written at exit; n/a if that jemalloc is
#                built without --enable-prof (checked with stats_print)
# Each profiled run writes into a directory of its own (emptied before the
# run, outside the timed part); the report says how many runs wrote a
# profile. Rounds interleave the variants and rotate their order
# (bench/lib/suite.sh); each real workload is set up and run once under
# glibc before the first round (bench/lib/workloads.sh). The result lines
# (checksums) must agree across variants and rounds. Progress goes to
# stderr, the report to stdout; the exit status is 1 when a run failed (but
# for gperftools' HEAPPROFILE runs cut at --anchor-timeout) or result lines
# disagree.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CALLER_PWD=$PWD
cd "$ROOT"

# shellcheck source=bench/lib/cmdline.sh
source "$ROOT/bench/lib/cmdline.sh"
CMDLINE=$(bench_cmdline ./bench/profile.sh "$@")

RUNS=5
RUNS_SET=0
QUICK=0
WRITE=0
BUILD_DIR=${BUILD_DIR:-build}
ONLY=""
VARIANT_SEL=""
WAIT_QUIET=0
RESULTS_MD=bench/RESULTS.md
BEFORE=1a950eb
RATE=""
ANCHOR_TIMEOUT=60
TARGET=1.02 # the issue: profiling at the default rate costs at most 2% time
TC_SAMPLE=524288
JE_CONF_PROF="prof:true,lg_prof_sample:19,prof_final:true"
DEFAULT_WORKLOADS=(binarytrees cxx py-objects py-strings py-raytrace sqlite git)

die() { echo "profile.sh: $*" >&2; exit 2; }
note() { echo "profile.sh: $*" >&2; }

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
    --before) [ $# -ge 2 ] || die "--before needs a commit"; BEFORE=$2; shift 2 ;;
    --rate) [ $# -ge 2 ] || die "--rate needs bytes"; RATE=$2; shift 2 ;;
    --anchor-timeout) [ $# -ge 2 ] || die "--anchor-timeout needs seconds"; ANCHOR_TIMEOUT=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "-n needs a positive number"
[[ "$WAIT_QUIET" =~ ^[0-9]+$ ]] || die "--wait-quiet needs a number of seconds"
[[ "$ANCHOR_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "--anchor-timeout needs a number of seconds"
[ -z "$RATE" ] || [[ "$RATE" =~ ^[0-9]+$ ]] || die "--rate needs a number of bytes"

# No profiler or allocator setting of the caller's may leak into the runs:
# each variant sets its own.
for e in $(compgen -e); do
  case "$e" in
    GOMALLOC_* | GODEBUG | GOGC | GOMEMLIMIT | HEAPPROFILE | HEAPCHECK | HEAP_PROFILE_* | TCMALLOC_* | MALLOC_CONF | \
      JE_MALLOC_CONF | _RJEM_MALLOC_CONF | LD_PRELOAD) unset "$e" ;;
  esac
done

# ---- Workloads ----------------------------------------------------------------
# shellcheck source=bench/lib/workloads.sh
source "$ROOT/bench/lib/workloads.sh"
SEL=()
if [ -n "$ONLY" ]; then
  IFS=, read -r -a want <<<"$ONLY"
  for b in "${want[@]}"; do
    if [ -n "${WORKLOAD_GROUP[$b]+x}" ]; then
      read -r -a g <<<"${WORKLOAD_GROUP[$b]}"
      SEL+=("${g[@]}")
    elif [ -n "${FULL_ARGS[$b]+x}" ]; then
      SEL+=("$b")
    else
      die "unknown workload '$b' (have: ${!WORKLOAD_GROUP[*]} ${ALL_WORKLOADS[*]})"
    fi
  done
else
  SEL=("${DEFAULT_WORKLOADS[@]}")
fi
WORKLOADS=() # in workloads.sh's order, each once
for w in "${ALL_WORKLOADS[@]}"; do
  case " ${SEL[*]} " in *" $w "*) WORKLOADS+=("$w") ;; esac
done
[ ${#WORKLOADS[@]} -gt 0 ] || die "no workload selected"
declare -A ARGS_OF=()
for w in "${WORKLOADS[@]}"; do
  if [ "$QUICK" = 1 ]; then ARGS_OF[$w]=${QUICK_ARGS[$w]}; else ARGS_OF[$w]=${FULL_ARGS[$w]}; fi
done

ALL_VARIANTS=(before off on tc tc-heapprof tc-sample je je-prof)
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
DEPS=(cmake gcc g++ zlib1g-dev libgoogle-perftools4 libjemalloc2)
for w in "${WORKLOADS[@]}"; do
  if [ -n "${NEEDS[$w]:-}" ]; then read -r -a p <<<"${NEEDS[$w]}"; DEPS+=("${p[@]}"); fi
done
ensure_pkgs "${DEPS[@]}" || true
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || true)
[ -n "$MULTIARCH" ] || MULTIARCH=x86_64-linux-gnu
TC_LIB=$(find_lib libgoogle-perftools4 libtcmalloc.so.4 libtcmalloc.so || true)
JE_LIB=$(find_lib libjemalloc2 libjemalloc.so.2 libjemalloc.so || true)

# ---- Build --------------------------------------------------------------------
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
BUILD_LOG="$BUILD_DIR/bench-profile-build.log"
BIN="$BUILD_DIR/bench" # workloads.sh's programs
RUNONE="$BIN/bench_runone"
: >"$BUILD_LOG"
JOBS=$(nproc 2>/dev/null || echo 2)
[ "$JOBS" -le 2 ] || JOBS=2 # the machine is shared: never more than two compile jobs
declare -A SKIP_V=() # variant -> why it is n/a

# exports_malloc LIB: LIB is a drop-in (LD_PRELOAD replaces malloc).
exports_malloc() { nm -D --defined-only "$1" 2>/dev/null | awk '$3 == "malloc" { ok = 1 } END { exit !ok }'; }

note "building in $BUILD_DIR (log: $BUILD_LOG)"
[ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >>"$BUILD_LOG" 2>&1 || true
TARGETS=(bench_runone)
for w in "${WORKLOADS[@]}"; do
  case "$w" in cxx) TARGETS+=(bench_cxx_sys) ;; py-* | sqlite | git | gcc) ;; *) TARGETS+=("bench_${w}_sys") ;; esac
done
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${TARGETS[@]}" >>"$BUILD_LOG" 2>&1 ||
  note "some benchmark programs did not build (see $BUILD_LOG)"
[ -x "$RUNONE" ] || die "$RUNONE was not built (see $BUILD_LOG)"
GM_LIB="$BUILD_DIR/libgomalloc.so"
# a failed build must not leave an old library to measure: off and on are n/a then
if ! cmake --build "$BUILD_DIR" -j "$JOBS" --target gomalloc_shared >>"$BUILD_LOG" 2>&1 || [ ! -f "$GM_LIB" ]; then
  grep -E "error" "$BUILD_LOG" | sort -u | tail -n 4 >&2 || true
  SKIP_V[off]="this tree's libgomalloc.so does not build; see $BUILD_LOG"
  SKIP_V[on]=${SKIP_V[off]}
elif ! exports_malloc "$GM_LIB"; then
  SKIP_V[off]="$GM_LIB does not export malloc"
  SKIP_V[on]=${SKIP_V[off]}
fi

# The "before" library: built once per commit, from a worktree that is
# removed right after (the build directory is kept for the next run).
BEFORE_SHA=$(git rev-parse --verify --short=12 "$BEFORE^{commit}" 2>/dev/null || true)
GM_BEFORE=""
build_before() {
  local dir=$1 tmp rc=0
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/gomalloc-before.XXXXXX")
  note "building the 'before' library ($BEFORE_SHA) in a worktree at $tmp/src"
  {
    git worktree add --detach "$tmp/src" "$BEFORE_SHA" &&
      cmake -S "$tmp/src" -B "$dir" -DCMAKE_BUILD_TYPE=Release &&
      cmake --build "$dir" -j "$JOBS" --target gomalloc_shared
  } >>"$BUILD_LOG" 2>&1 || rc=$?
  git worktree remove --force "$tmp/src" >>"$BUILD_LOG" 2>&1 || true
  rm -rf "$tmp"
  git worktree prune >>"$BUILD_LOG" 2>&1 || true
  return "$rc"
}
if want_variant before; then
  if [ -z "$BEFORE_SHA" ]; then
    SKIP_V[before]="no commit '$BEFORE'"
  else
    BEFORE_DIR="$BUILD_DIR/profile-before-$BEFORE_SHA"
    if [ ! -f "$BEFORE_DIR/libgomalloc.so" ]; then
      rm -rf "$BEFORE_DIR"
      build_before "$BEFORE_DIR" || note "the 'before' library does not build (see $BUILD_LOG)"
    fi
    if [ -f "$BEFORE_DIR/libgomalloc.so" ] && exports_malloc "$BEFORE_DIR/libgomalloc.so"; then
      GM_BEFORE="$BEFORE_DIR/libgomalloc.so"
    else
      SKIP_V[before]="libgomalloc.so of $BEFORE_SHA not built; see $BUILD_LOG"
    fi
  fi
fi

if [ -z "$TC_LIB" ]; then
  for v in tc tc-heapprof tc-sample; do SKIP_V[$v]="libtcmalloc.so.4 not found (Debian libgoogle-perftools4)"; done
fi
if [ -z "$JE_LIB" ]; then
  for v in je je-prof; do SKIP_V[$v]="libjemalloc.so.2 not found (Debian libjemalloc2)"; done
elif ! MALLOC_CONF=stats_print:true LD_PRELOAD=$JE_LIB /bin/true 2>&1 | grep -q 'config.prof: true'; then
  SKIP_V[je-prof]="n/a (Debian's jemalloc is built without --enable-prof)"
fi

# program_path WORKLOAD VARIANT: what suite_select checks is there.
program_path() { wl_program "$1"; }

# ---- Runs (bench/lib/suite.sh's hooks) ----------------------------------------
# suite_command W V R BASE: the workload's command (workloads.sh), with the
# variant's library and profiler settings; its profile directory emptied.
suite_command() {
  local w=$1 v=$2 pdir="$WORK/prof/$2"
  wl_prepare "$w"
  wl_command "$w"
  rm -rf "$pdir"
  mkdir -p "$pdir"
  case "$v" in
    before) RUN_PRELOAD=$GM_BEFORE ;;
    off) RUN_PRELOAD=$GM_LIB ;;
    on)
      RUN_PRELOAD=$GM_LIB
      RUN_ENV+=("GOMALLOC_PROFILE=$pdir/gomalloc.%p.pb.gz")
      [ -z "$RATE" ] || RUN_ENV+=("GOMALLOC_PROFILE_RATE=$RATE")
      ;;
    tc) RUN_PRELOAD=$TC_LIB ;;
    tc-heapprof)
      RUN_PRELOAD=$TC_LIB
      RUN_ENV+=("HEAPPROFILE=$pdir/tcmalloc")
      RUN_TIMEOUT=$((ANCHOR_TIMEOUT < TIMEOUT ? ANCHOR_TIMEOUT : TIMEOUT))
      ;;
    tc-sample) RUN_PRELOAD=$TC_LIB; RUN_ENV+=("TCMALLOC_SAMPLE_PARAMETER=$TC_SAMPLE") ;;
    je) RUN_PRELOAD=$JE_LIB ;;
    je-prof) RUN_PRELOAD=$JE_LIB; RUN_ENV+=("MALLOC_CONF=$JE_CONF_PROF,prof_prefix:$pdir/jeprof") ;;
  esac
}

# suite_result W V BASE: the workload's result line; for a profiling variant,
# the profiles it wrote go to profiles.tsv (files, bytes, gzip ok or bad).
suite_result() {
  local w=$1 v=$2 r=${3##*.} pdir="$WORK/prof/$2" n bytes gz=ok f # BASE is $WORK/W.V.R
  wl_result "$w" "$3.out"
  case "$v" in
    on | tc-heapprof | je-prof)
      n=$(find "$pdir" -type f | wc -l)
      bytes=$(find "$pdir" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
      if [ "$v" = on ]; then
        for f in "$pdir"/*; do [ -f "$f" ] || continue; gzip -t "$f" 2>/dev/null || gz=bad; done
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$v" "$r" "$n" "$bytes" "$gz" >>"$PROFILES"
      ;;
  esac
}

# suite_failed W V R RC: a HEAPPROFILE run cut at the anchor time-out is not
# repeated in the rounds to come.
suite_failed() {
  local w=$1 v=$2 r=$3 rc=$4
  [ "$v" = tc-heapprof ] && [ "$rc" -eq 137 ] || return 0
  note "$w: gperftools' HEAPPROFILE run cut at ${RUN_TIMEOUT} s; not run again"
  RUNS_OF[$w]=$(tr ' ' '\n' <<<"${RUNS_OF[$w]}" | grep -vx tc-heapprof | tr '\n' ' ' | sed 's/ *$//')
  total=$((total - (RUNS - r)))
}

# run_progress W V R T RSS BASE FLAG: the progress line of a run.
run_progress() {
  local w=$1 v=$2 r=$3 t=$4 rss=$5 flag=$7
  printf 'profile.sh: [%3d/%d] %-11s %-11s round %d: %8.3f s %9.1f MiB%s\n' "$done_runs" "$total" "$w" "$v" "$r" \
    "$t" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" "$flag" >&2
}

SUITE_NAME=profile
SUITE_TITLE="Heap profiling cost"
SUITE_QUICK_WHAT="small scales"
SUITE_RESULT_RE="." # unused: suite_result gives the result line
SUITE_ENV=()
# Work files (the workloads' inputs and runs, the profiles) on a tmpfs when
# there is one with 1 GiB free, as bench/run.sh's: git and sqlite write tens
# of MB per run.
SUITE_WORK_PARENT=${TMPDIR:-/tmp}
if [ -w /dev/shm ] && [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 + 0 }')" -gt 1048576 ]; then
  SUITE_WORK_PARENT=/dev/shm
fi
# shellcheck source=bench/lib/suite.sh
source "$ROOT/bench/lib/suite.sh"
suite_select
suite_start 300
[ "$QUICK" = 0 ] || ANCHOR_TIMEOUT=$((ANCHOR_TIMEOUT < TIMEOUT ? ANCHOR_TIMEOUT : TIMEOUT))
PROFILES="$WORK/profiles.tsv"
: >"$PROFILES"

# Set-up (untimed): inputs, and a warm-up run under glibc of each real workload.
for w in "${WORKLOADS[@]}"; do
  [ -n "${RUNS_OF[$w]}" ] || continue
  read -r -a ARGS <<<"${ARGS_OF[$w]}"
  if is_real "$w"; then note "setting up $w"; fi
  if ! wl_setup "$w"; then
    SKIPPED+=("$w (set-up failed)")
    RUNS_OF[$w]=""
  fi
done
KEPT=()
total=0
for w in "${WORKLOADS[@]}"; do
  [ -n "${RUNS_OF[$w]}" ] || continue
  KEPT+=("$w")
  read -r -a vs <<<"${RUNS_OF[$w]}"
  total=$((total + RUNS * ${#vs[@]}))
done
[ ${#KEPT[@]} -gt 0 ] || die "no workload to run"
WORKLOADS=("${KEPT[@]}")

suite_rounds

# ---- Report -------------------------------------------------------------------
TABLE=$(awk -f "$ROOT/bench/lib/profile_report.awk" -v benches="${WORKLOADS[*]}" -v variants="${VARIANTS[*]}" \
  -v anchor_timeout="$ANCHOR_TIMEOUT" -v target="$TARGET" -v rate="$RATE" \
  -v profiles="$PROFILES" "$RESULTS")
suite_summary
# HEAPPROFILE runs cut at the anchor time-out are results (">N"), not failures.
failures=$(awk -F'\t' '$4 == "FAIL" && !($2 == "tc-heapprof" && $6 == 137) { n++ } END { print n + 0 }' "$RESULTS")

# ---- bench/RESULTS.md (bench/lib/suite.sh's write_section) ---------------------
# section_head: the section from under its heading to the blank line before "- Date:".
section_head() {
  echo "Written by \`./bench/profile.sh --write\`: what the sampled heap profiler"
  echo "(\`GOMALLOC_PROFILE\`, Go's \`MemProfileRate\`) costs, and what it costs when"
  echo "off, on binary-trees and the real programs of \`bench/run.sh\`, with the"
  echo "heap profilers of gperftools and jemalloc as anchors. Every variant is"
  echo "preloaded (\`LD_PRELOAD\`); the variants are described at the top of"
  echo "\`bench/profile.sh\`. Targets (issue 12): profiling at the default rate costs"
  echo "at most 2% time; with profiling off, no measurable cost against the commit"
  echo "before the profiler ($BEFORE_SHA)."
  echo
  echo "| workload | what it does | arguments |"
  echo "|---|---|---|"
  local w
  for w in "${WORKLOADS[@]}"; do
    # shellcheck disable=SC2016 # backquotes are Markdown here
    printf '| %s | %s | `%s` |\n' "$w" "${DESCRIPTION[$w]}" "${ARGS_OF[$w]}"
  done
  echo
}
section_peers() {
  echo "- Peers: gperftools $(pkgver libgoogle-perftools4) (\`$TC_LIB\`), jemalloc $(pkgver libjemalloc2) (\`$JE_LIB\`); Python $(pkgver python3), SQLite $(pkgver sqlite3), git $(pkgver git)"
  echo "- before: $BEFORE_SHA (\`${GM_BEFORE:-not built}\`); off/on: \`${GM_LIB}\`${RATE:+, on with GOMALLOC_PROFILE_RATE=$RATE}"
}

suite_finish
