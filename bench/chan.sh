#!/usr/bin/env bash
# bench/chan.sh — Go's channels on gomalloc (gm_chan, gm_select) against Go
# itself and moodycamel's concurrentqueue, with Markdown tables of the medians.
#
# usage: bench/chan.sh [-n RUNS] [--quick] [--write] [--only LIST]
#                      [--variant LIST] [--build-dir DIR] [--wait-quiet S]
#   -n RUNS        rounds (default 5)
#   --quick        a tenth of the items and 1 round unless -n is given: a
#                  smoke test of a few seconds once built
#   --write        also write the "Channels" section of bench/RESULTS.md
#                  (replaced if there, else appended; the rest is kept)
#   --only LIST    workload groups: pingpong, buf (or buf-1x1, buf-4x4),
#                  select (default: all); or single workloads as listed in
#                  the report (buf-4x4-c64)
#   --variant LIST gomalloc, go, moodycamel (default: all three)
#   --build-dir D  CMake build directory (default: build, or $BUILD_DIR)
#   --wait-quiet S before each round, wait up to S seconds for other work to
#                  drop below half a core (default 0: just note the load)
#   --results F    the file --write writes (default bench/RESULTS.md)
# Environment: GO (the go command, default go), CXX (the fallback compiler
# when CMake cannot build the C++ program), BUILD_DIR.
#
# Workloads (bench/chan/chb_common.h describes them exactly; the same values,
# checks and checksums in every language), int64 elements:
#   pingpong       unbuffered ping-pong between two threads: ns per round trip
#   buf-PxC-cCAP   P producers and C consumers on one channel of capacity CAP
#                  (1x1 and 4x4; CAP 1, 64, 1024): ns per item, closed by the
#                  main thread once the producers are done
#   select4-cCAP   4 producers, each on its own channel of capacity CAP (0 and
#                  64), one consumer selecting over the 4: ns per item
# Variants (programs in <build>/bench/chan/):
#   gomalloc    chan_gm  C, gm_make_chan/gm_chan_send/gm_chan_recv/gm_select,
#               one pthread per goroutine, linked to gomalloc_core
#   go          chan_go  Go (bench/chan/*.go, own go.mod, standard library
#               only; built here with `go build`), chan int64 and select
#   moodycamel  chan_mc  C++17, moodycamel::BlockingConcurrentQueue bounded by
#               a LightweightSemaphore of free slots (Debian
#               libconcurrentqueue-dev, header-only, installed when missing);
#               no unbuffered queue, so select4-c0 is n/a for it
# A variant that cannot be built (no go command, no concurrentqueue headers,
# gomalloc/chan.h not there yet) shows as n/a; it is not a failure.
#
# Every run has GOMAXPROCS=2 (Go: two Ps for the goroutines; the C and C++
# programs have as many threads as the workload has goroutines) and GOGC,
# GOMEMLIMIT, GODEBUG unset. Each run is one process under bench_runone (wall
# time, CPU time, peak RSS = ru_maxrss); variants are interleaved within a
# round and their order rotated from round to round. The programs time the
# phase themselves (CLOCK_MONOTONIC, threads created before the clock starts)
# and print ns/op and a result line whose checksum must be the same for every
# variant and round (checked); each program also checks that it received
# every item exactly once (exit status 1 otherwise). Progress goes to stderr,
# the report to stdout; the exit status is 1 when a run failed or result
# lines disagree.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CALLER_PWD=$PWD
cd "$ROOT"

# shellcheck source=bench/lib/cmdline.sh
source "$ROOT/bench/lib/cmdline.sh"
CMDLINE=$(bench_cmdline ./bench/chan.sh "$@")

RUNS=5
RUNS_SET=0
QUICK=0
WRITE=0
BUILD_DIR=${BUILD_DIR:-build}
ONLY=""
VARIANT_SEL=""
WAIT_QUIET=0
RESULTS_MD=bench/RESULTS.md
# the targets of the channels' issue
BUF_GO_TARGET=1.0  # buffered throughput: ns/item, times Go's (throughput >= Go's)
PING_GO_TARGET=2.0 # unbuffered ping-pong: ns/round trip, times Go's

die() { echo "chan.sh: $*" >&2; exit 2; }
note() { echo "chan.sh: $*" >&2; }

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
# Items per run: 0.3-2 s for gomalloc and Go on a quiet 2-core machine, at
# most ~4 s for the slowest variant (moodycamel at 4x4, capacity 1: every
# item sleeps and wakes a thread).
SCALE=1
[ "$QUICK" = 0 ] || SCALE=10
ALL_WORKLOADS=()
declare -A ARGS_OF=()
addw() { ALL_WORKLOADS+=("$1"); ARGS_OF[$1]="$2 $(($3 / SCALE))"; }
addw pingpong "pingpong" 1000000
addw buf-1x1-c1 "buffered 1 1 1" 2000000
addw buf-1x1-c64 "buffered 1 1 64" 10000000
addw buf-1x1-c1024 "buffered 1 1 1024" 10000000
addw buf-4x4-c1 "buffered 4 4 1" 400000 # moodycamel: ~10 us per item
addw buf-4x4-c64 "buffered 4 4 64" 10000000
addw buf-4x4-c1024 "buffered 4 4 1024" 10000000
addw select4-c0 "select 4 0" 1000000
addw select4-c64 "select 4 64" 5000000

ALL_VARIANTS=(gomalloc go moodycamel)
SEL_W=()
if [ -n "$ONLY" ]; then
  IFS=, read -r -a req <<<"$ONLY"
  for w in "${req[@]}"; do
    case "$w" in
      all) SEL_W+=("${ALL_WORKLOADS[@]}") ;;
      buf|buf-1x1|buf-4x4|select) for x in "${ALL_WORKLOADS[@]}"; do [[ "$x" != "$w"* ]] || SEL_W+=("$x"); done ;;
      *) case " ${ALL_WORKLOADS[*]} " in *" $w "*) SEL_W+=("$w") ;; *) die "unknown workload '$w' (have: pingpong buf buf-1x1 buf-4x4 select ${ALL_WORKLOADS[*]})" ;; esac ;;
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
DEPS=(cmake gcc g++)
want_variant moodycamel && DEPS+=(libconcurrentqueue-dev)
ensure_pkgs "${DEPS[@]}" || true
# the go command: $GO, else go on the PATH, else the official tarball's place
GO=${GO:-go}
if [ "$GO" = go ] && ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; fi

# ---- Build --------------------------------------------------------------------
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
BUILD_LOG="$BUILD_DIR/bench-chan-build.log"
CHB="$BUILD_DIR/bench/chan"
RUNONE="$BUILD_DIR/bench/bench_runone"
: >"$BUILD_LOG"
note "building in $BUILD_DIR (log: $BUILD_LOG)"
declare -A SKIP_V=() # variant -> why it is n/a
mkdir -p "$CHB"
# what fails to build must not leave an old binary to run
rm -f "$CHB"/chan_gm "$CHB"/chan_go "$CHB"/chan_mc

CONFIGURED=1
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >>"$BUILD_LOG" 2>&1 || CONFIGURED=0
JOBS=$(nproc 2>/dev/null || echo 2)
[ "$JOBS" -le 2 ] || JOBS=2 # the machine is shared: never more than two compile jobs
if [ "$CONFIGURED" = 0 ] || ! cmake --build "$BUILD_DIR" -j "$JOBS" --target bench_chan_peers >>"$BUILD_LOG" 2>&1; then
  # CMake may not configure while the library is being changed: compile the
  # programs that do not need it directly.
  note "CMake build of bench_chan_peers failed; compiling the C++ program directly"
  if want_variant moodycamel && [ -f /usr/include/concurrentqueue/blockingconcurrentqueue.h ]; then
    "${CXX:-c++}" -std=c++17 -O2 -Wall -Wextra -pthread -Ibench/chan -o "$CHB/chan_mc" bench/chan/chan.cc >>"$BUILD_LOG" 2>&1 ||
      note "cannot compile chan_mc"
  fi
  if [ ! -x "$RUNONE" ]; then
    mkdir -p "$BUILD_DIR/bench"
    "${CC:-cc}" -std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE -o "$RUNONE" bench/runone.c >>"$BUILD_LOG" 2>&1 ||
      die "cannot compile bench/runone.c (see $BUILD_LOG)"
  fi
fi
[ -x "$RUNONE" ] || die "$RUNONE was not built"
[ -x "$CHB/chan_mc" ] || SKIP_V[moodycamel]="moodycamel's concurrentqueue not found or chan_mc not built (Debian libconcurrentqueue-dev)"

if want_variant gomalloc; then
  if [ "$CONFIGURED" = 0 ] || ! cmake --build "$BUILD_DIR" -j "$JOBS" --target bench_chan_gm >>"$BUILD_LOG" 2>&1; then
    note "chan_gm does not build (include/gomalloc/chan.h or src/chan.c not there yet?); its gomalloc column is n/a"
    grep -E "error|undefined reference" "$BUILD_LOG" | sort -u | tail -n 4 >&2 || true
  fi
  [ -x "$CHB/chan_gm" ] || SKIP_V[gomalloc]="chan_gm does not build; see $BUILD_LOG"
fi

GO_VERSION=""
if want_variant go; then
  if command -v "$GO" >/dev/null 2>&1; then
    [ -n "${HOME:-}" ] || export GOCACHE="${GOCACHE:-$BUILD_DIR/go-cache}"
    # standard library only: never reach for a module proxy
    (cd bench/chan && GOPROXY=off GOFLAGS='' GOTOOLCHAIN=local "$GO" build -o "$CHB/chan_go" chan.go common.go) >>"$BUILD_LOG" 2>&1 ||
      note "go build of bench/chan/chan.go failed (see $BUILD_LOG)"
    GO_VERSION=$("$GO" version 2>/dev/null | awk '{ print $3 }')
    [ -x "$CHB/chan_go" ] || SKIP_V[go]="go build failed; see $BUILD_LOG"
  else
    SKIP_V[go]="no go command ($GO)"
  fi
fi

# program_path WORKLOAD VARIANT: the executable, or nothing if the pair does not exist.
program_path() {
  case "$2" in
    gomalloc) echo "$CHB/chan_gm" ;;
    go) echo "$CHB/chan_go" ;;
    moodycamel) [ "$1" = select4-c0 ] || echo "$CHB/chan_mc" ;; # no unbuffered queue
  esac
}

# run_progress W V R T RSS BASE FLAG: the progress line of a run (bench/lib/suite.sh).
run_progress() {
  local w=$1 v=$2 r=$3 t=$4 rss=$5 base=$6 flag=$7
  printf 'chan.sh: [%3d/%d] %-14s %-10s round %d: %8.3f s %7.1f MiB %10s ns/op%s\n' "$done_runs" "$total" "$w" "$v" "$r" \
    "$t" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" \
    "$(awk '$1 == "phase" { for (i = 3; i <= NF; i++) if ($i ~ /^ns_per_op=/) { sub(/^ns_per_op=/, "", $i); print $i; exit } }' "$base.out")" "$flag" >&2
}

# ---- Run ----------------------------------------------------------------------
SUITE_NAME=chan
SUITE_TITLE=Channels
SUITE_QUICK_WHAT="a tenth of the items"
SUITE_RESULT_RE="^(pingpong|buffered|select) "
SUITE_ENV=(GOMAXPROCS=2)
# shellcheck source=bench/lib/suite.sh
source "$ROOT/bench/lib/suite.sh"
suite_select
suite_start 120
suite_rounds

# ---- Report -------------------------------------------------------------------
TABLE=$(awk -f "$ROOT/bench/lib/stats.awk" -f "$ROOT/bench/chan/report.awk" -v benches="${WORKLOADS[*]}" -v variants="${ALL_VARIANTS[*]}" \
  -v buf_go_target="$BUF_GO_TARGET" -v ping_go_target="$PING_GO_TARGET" -v quick="$QUICK" \
  -v phases_file="$PHASES" "$RESULTS")
suite_summary

# ---- bench/RESULTS.md (bench/lib/suite.sh's write_section) ---------------------
# section_head: the section from under its heading to the blank line before "- Date:".
section_head() {
  echo "Written by \`./bench/chan.sh --write\` (bench/chan/: the same program in C"
  echo "on gomalloc's \`gm_chan\`/\`gm_select\` with one pthread per goroutine, in Go"
  echo "with GOMAXPROCS=2, and in C++ on moodycamel's concurrentqueue; the"
  echo "workloads are specified in bench/chan/chb_common.h, the variants at the top"
  echo "of bench/chan.sh). Elements are int64."
  echo
  echo "| workload | what it does | arguments |"
  echo "|---|---|---|"
  local d
  for w in "${WORKLOADS[@]}"; do
    case "$w" in
      pingpong) d="unbuffered ping-pong: main sends v on one channel, an echo thread answers 2v+1 on another; ns per round trip (after 10,000 untimed warm-up round trips)" ;;
      buf-1x1-*) d="1 producer, 1 consumer, one channel of capacity ${w##*-c}; the main thread closes it when the producer is done; ns per item" ;;
      buf-4x4-*) d="4 producers, 4 consumers, one channel of capacity ${w##*-c}; closed when the producers are done; ns per item" ;;
      select4-c0) d="4 producers each on its own unbuffered channel, closing it when done; one consumer in a select over the 4 (a closed one set to nil); ns per item" ;;
      select4-*) d="the same with channels of capacity ${w##*-c}" ;;
    esac
    # shellcheck disable=SC2016 # backquotes are Markdown here
    printf '| %s | %s | `%s` |\n' "$w" "$d" "${ARGS_OF[$w]}"
  done
  echo
  echo "**Why moodycamel.** The issue asks for a well-known C/C++ channel or queue library with blocking semantics comparable to a channel, from a Debian package: moodycamel's concurrentqueue (\`libconcurrentqueue-dev\` $(pkgver libconcurrentqueue-dev), header-only) is the best-known fast lock-free MPMC queue in C++, and its \`BlockingConcurrentQueue\` blocks a receiver the way a channel does (spin, then sleep on a semaphore). It has no bound, no close and no select, so bench/chan/chan.cc builds a channel from its pieces: \`ConcurrentQueue\` plus a \`LightweightSemaphore\` counting the items (which is what \`BlockingConcurrentQueue\` is), a second one counting the CAP free slots (a sender blocks while CAP items wait), and a closed flag; select over 4 channels is 4 of them sharing one items semaphore, tried from a random start. It has no unbuffered rendezvous: pingpong uses capacity 1 (in a ping-pong this changes nothing) and select4-c0 is n/a. Boost.Fiber's channels were the other candidate; they need power-of-two capacities (holding one less than that) and are built for fibers."
  echo
  echo "How to read it: Go runs its goroutines on 2 Ps here, and a goroutine that a channel operation readies goes to the readying P's \`runnext\`: a producer that fills the buffer and blocks hands its P to the consumer, which drains the buffer on the same core, hot in its cache (at 1x1 Go's CPU time ≈ its wall time in the process table: one core does the work; at 4x4 each P runs such pairs). gomalloc's and moodycamel's threads are OS threads, one per goroutine: producer and consumer run on the two cores at once, every operation moves the channel's cache lines (for gomalloc, its lock word too) from one core to the other, and a blocked thread spins, then sleeps in futex until its partner wakes it (CPU time ≈ 2× wall time)."
  echo
}
section_peers() {
  echo "- Peers: Go ${GO_VERSION:-n/a} (GOMAXPROCS=2), moodycamel concurrentqueue $(pkgver libconcurrentqueue-dev), $(${CXX:-c++} --version 2>/dev/null | head -n 1)"
}

suite_finish
