#!/usr/bin/env bash
# bench/run.sh — run gomalloc's benchmark suite against glibc, jemalloc,
# tcmalloc and mimalloc, and print a Markdown table of the medians.
#
# usage: bench/run.sh [-n RUNS] [--quick] [--write] [--only B1,B2] [--alloc A1,A2]
#                     [--build-dir DIR] [--wait-quiet SECONDS]
#   -n RUNS        rounds per benchmark and allocator (default 5)
#   --quick        small scales and 1 round unless -n is given (smoke test)
#   --write        also write the report to bench/RESULTS.md
#   --only LIST    benchmarks to run (default: churn,larson,prodcons,binarytrees,sizesweep,largechurn)
#   --alloc LIST   allocators to run (default: glibc,jemalloc,tcmalloc,mimalloc,gomalloc)
#   --build-dir D  CMake build directory (default: build, or $BUILD_DIR)
#   --wait-quiet S before each round, wait up to S seconds while other work
#                  keeps half a core or more busy (default 0: just warn)
#
# Each benchmark prints one result line with a checksum that does not depend
# on the allocator; the script checks the lines agree across allocators and
# rounds. Allocators are interleaved within each round (and their order is
# rotated from round to round) so that machine drift affects all alike.
# Progress goes to stderr, the report to stdout. The exit status is 1 when a
# run failed or checksums disagree.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CMDLINE="./bench/run.sh"
for a in "$@"; do CMDLINE+=" $(printf '%q' "$a")"; done

RUNS=5
RUNS_SET=0
QUICK=0
WRITE=0
BUILD_DIR=${BUILD_DIR:-build}
ONLY=""
ALLOC_SEL=""
WAIT_QUIET=0

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

# ---- The benchmarks and their scales ----------------------------------------
# Full scales are picked so that each benchmark takes ~0.3-2 s under glibc on
# a 2-core machine (prodcons excepted: glibc's arena lock makes it far slower
# there than the other allocators). Arguments are positional; see each .c file.
ALL_BENCHES=(churn larson prodcons binarytrees sizesweep largechurn)
declare -A FULL_ARGS=(
  [churn]="50000000 10000"    # ops, live slots
  [larson]="4 15000000 1000 8" # threads, ops per thread, slots per thread, exchange every 8th op
  [prodcons]="10000000 4096"  # blocks, queue capacity
  [binarytrees]="21"          # max depth: the classic 21, as the issue asks
  [sizesweep]="256"           # MiB moved per size, 39 sizes 8 B .. 4 MiB
  [largechurn]="1000000 2000" # ops, live slots of 33-160 KiB
)
declare -A QUICK_ARGS=(
  [churn]="1000000 10000"
  [larson]="4 200000 1000 8"
  [prodcons]="200000 4096"
  [binarytrees]="14"
  [sizesweep]="8"
  [largechurn]="20000 2000"
)
declare -A DESCRIPTION=(
  [churn]="single thread, random slot of 10k live blocks replaced per op, 8-256 B"
  [larson]="4 threads x 1000 slots, 8-1000 B, every 8th op swaps a block with another thread"
  [prodcons]="producer thread mallocs 16-512 B, SPSC ring, consumer thread frees"
  [binarytrees]="benchmarks-game binary-trees, 16 B nodes, explicit free"
  [sizesweep]="39 sizes 8 B-4 MiB, same bytes per size, pages touched"
  [largechurn]="page heap: random slot of 2000 live 33-160 KiB blocks replaced per op"
)

BENCHES=()
if [ -n "$ONLY" ]; then
  IFS=, read -r -a BENCHES <<<"$ONLY"
  for b in "${BENCHES[@]}"; do [ -n "${FULL_ARGS[$b]+x}" ] || die "unknown benchmark '$b'"; done
else
  BENCHES=("${ALL_BENCHES[@]}")
fi

# ---- Dependencies -------------------------------------------------------------
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

install_pkgs() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { note "not root and no sudo: cannot install $*"; return 1; }
    sudo=(sudo)
  fi
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@")
  # apt-get update only when there are no package lists, or when install fails.
  if ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then
    "${sudo[@]}" apt-get update -qq >&2 || true
  fi
  if ! "${apt[@]}" >&2; then
    "${sudo[@]}" apt-get update -qq >&2 && "${apt[@]}" >&2
  fi
}

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0 time; do
    have_pkg "$p" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    note "installing ${missing[*]}"
    install_pkgs "${missing[@]}" || note "could not install ${missing[*]}; missing allocators are skipped"
  fi
  if ! command -v cmake >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1; then
    if [ -x tools/ensure-deps.sh ]; then tools/ensure-deps.sh >&2 || true; fi
  fi
else
  note "no dpkg/apt-get: not installing anything"
fi

MULTIARCH=$(gcc -print-multiarch 2>/dev/null || true)
[ -n "$MULTIARCH" ] || MULTIARCH=x86_64-linux-gnu

# find_lib PACKAGE NAME...: the first NAME that exists, in the package's file
# list first, then in the usual library directories.
find_lib() {
  local pkg=$1 name f
  shift
  for name in "$@"; do
    if command -v dpkg >/dev/null 2>&1; then
      while IFS= read -r f; do
        [ "$(basename "$f")" = "$name" ] && [ -e "$f" ] && { echo "$f"; return 0; }
      done < <(dpkg -L "$pkg" 2>/dev/null || true)
    fi
    for f in "/usr/lib/$MULTIARCH/$name" "/usr/lib/$name" "/usr/local/lib/$name" "/usr/lib64/$name"; do
      [ -e "$f" ] && { echo "$f"; return 0; }
    done
  done
  return 1
}

declare -A PRELOAD=()
PRELOAD[jemalloc]=$(find_lib libjemalloc2 libjemalloc.so.2 libjemalloc.so || true)
PRELOAD[tcmalloc]=$(find_lib libtcmalloc-minimal4 libtcmalloc_minimal.so.4 libtcmalloc_minimal.so || true)
PRELOAD[mimalloc]=$(find_lib libmimalloc2.0 libmimalloc.so.2.0 libmimalloc.so.2 libmimalloc.so || true)

# ---- Build --------------------------------------------------------------------
mkdir -p "$BUILD_DIR"
BUILD_LOG="$BUILD_DIR/bench-build.log"
BIN="$BUILD_DIR/bench"
GM_OK=1
: >"$BUILD_LOG"
note "building in $BUILD_DIR (log: $BUILD_LOG)"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >>"$BUILD_LOG" 2>&1 || true
fi
if ! cmake --build "$BUILD_DIR" -j "$(nproc)" >>"$BUILD_LOG" 2>&1; then
  note "full build failed; building the benchmark targets alone"
  if ! cmake --build "$BUILD_DIR" -j "$(nproc)" --target bench_sys >>"$BUILD_LOG" 2>&1; then
    # CMake itself may not configure while the library is incomplete: build
    # the plain-malloc variants directly so the peers can still be measured.
    note "CMake build of bench_sys failed; compiling the _sys variants directly"
    BIN="$BUILD_DIR/bench-direct"
    mkdir -p "$BIN"
    CC=${CC:-cc}
    for b in "${ALL_BENCHES[@]}" fastpath; do
      "$CC" -std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE -pthread -Ibench -o "$BIN/bench_${b}_sys" "bench/$b.c" \
        >>"$BUILD_LOG" 2>&1 || die "cannot compile bench/$b.c (see $BUILD_LOG)"
    done
    "$CC" -std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE -o "$BIN/bench_runone" bench/runone.c \
      >>"$BUILD_LOG" 2>&1 || die "cannot compile bench/runone.c (see $BUILD_LOG)"
    GM_OK=0
  elif ! cmake --build "$BUILD_DIR" -j "$(nproc)" --target bench_gm >>"$BUILD_LOG" 2>&1; then
    GM_OK=0
  fi
  if [ "$GM_OK" = 0 ]; then
    note "the gomalloc build failed: gomalloc is skipped. Last lines of $BUILD_LOG:"
    grep -E "error|Error" "$BUILD_LOG" | tail -n 8 >&2 || true
  fi
fi
RUNONE="$BIN/bench_runone"
[ -x "$RUNONE" ] || die "$RUNONE was not built"

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
    gomalloc)
      if [ "$GM_OK" = 1 ]; then ALLOCS+=(gomalloc); else SKIPPED+=("gomalloc (build failed)"); fi ;;
    *)
      if [ -n "${PRELOAD[$a]}" ]; then ALLOCS+=("$a"); else SKIPPED+=("$a (library not found)"); fi ;;
  esac
done
[ ${#ALLOCS[@]} -gt 0 ] || die "no allocator to run"
for s in "${SKIPPED[@]+"${SKIPPED[@]}"}"; do note "skipping $s"; done

exe_for() { # BENCH ALLOC
  if [ "$2" = gomalloc ]; then echo "$BIN/bench_$1_gm"; else echo "$BIN/bench_$1_sys"; fi
}
args_for() {
  if [ "$QUICK" = 1 ]; then echo "${QUICK_ARGS[$1]}"; else echo "${FULL_ARGS[$1]}"; fi
}
for b in "${BENCHES[@]}"; do
  for a in "${ALLOCS[@]}"; do
    [ -x "$(exe_for "$b" "$a")" ] || die "$(exe_for "$b" "$a") was not built"
  done
done

# ---- Run ----------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gomalloc-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/results.tsv"
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
TIMEOUT=300 # seconds; a run that takes longer (a deadlock?) is killed and counted as failed
[ "$QUICK" = 0 ] || TIMEOUT=60
: >"$RESULTS"
total=$((RUNS * ${#BENCHES[@]} * ${#ALLOCS[@]}))
done_runs=0
failures=0
START=$(date +%s)
# other_load: how many cores other work kept busy over the last 0.5 s (from
# the aggregate cpu line of /proc/stat: non-idle share of all CPU time, times
# the number of CPUs). Sampled before each round: the benchmarks share the
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
LOADS=""
note "running ${#BENCHES[@]} benchmarks x ${#ALLOCS[@]} allocators x $RUNS rounds"

for ((r = 1; r <= RUNS; r++)); do
  load=$(other_load)
  waited=0
  while [ "$waited" -lt "$WAIT_QUIET" ] && awk -v l="$load" 'BEGIN { exit !(l + 0 >= 0.5) }'; do
    [ "$waited" -gt 0 ] || note "other work keeps $load cores busy: waiting up to ${WAIT_QUIET} s for a quiet machine"
    sleep 1.5
    waited=$((waited + 2))
    load=$(other_load)
  done
  LOADS+="${LOADS:+ }$load"
  if awk -v l="$load" 'BEGIN { exit !(l + 0 >= 0.5) }'; then
    note "warning: other work kept $load cores busy before round $r: expect noise"
  fi
  for b in "${BENCHES[@]}"; do
    n=${#ALLOCS[@]}
    for ((k = 0; k < n; k++)); do
      a=${ALLOCS[$(((k + r - 1 + n) % n))]}
      exe=$(exe_for "$b" "$a")
      read -r -a args <<<"$(args_for "$b")"
      pre=""
      [ "$a" = glibc ] || [ "$a" = gomalloc ] || pre=${PRELOAD[$a]}
      base="$WORK/$b.$a.$r"
      rc=0
      stat0=$(head -n 1 /proc/stat 2>/dev/null || true)
      "$RUNONE" -p "$pre" -o "$base.res" -t "$TIMEOUT" -- "$exe" "${args[@]}" >"$base.out" 2>"$base.err" || rc=$?
      stat1=$(head -n 1 /proc/stat 2>/dev/null || true)
      done_runs=$((done_runs + 1))
      if [ "$rc" -ne 0 ] || [ ! -s "$base.res" ]; then
        failures=$((failures + 1))
        printf 'run.sh: [%d/%d] %s %s round %d FAILED (exit %d):\n' "$done_runs" "$total" "$b" "$a" "$r" "$rc" >&2
        tail -n 5 "$base.err" >&2 || true
        printf '%s\t%s\t%d\tFAIL\tFAIL\t%d\t-\t0\n' "$b" "$a" "$r" "$rc" >>"$RESULTS"
        continue
      fi
      read -r t rss _code cpu_user cpu_sys <"$base.res"
      chk=$(tail -n 1 "$base.out" | tr '\t' ' ')
      # Cores kept busy by other work during the run: the machine's non-idle
      # CPU time over the run, less the benchmark's own, over the wall time.
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
      if awk -v o="$other" 'BEGIN { exit !(o + 0 >= 0.25) }'; then flag="  (other work: $other cores)"; fi
      printf 'run.sh: [%3d/%d] %-11s %-8s round %d: %8.3f s %9.1f MiB%s\n' "$done_runs" "$total" "$b" "$a" "$r" \
        "$t" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" "$flag" >&2
    done
  done
done
ELAPSED=$(($(date +%s) - START))
note "done in ${ELAPSED} s"

# ---- Report -------------------------------------------------------------------
# report: the Markdown tables, from results.tsv (bench alloc round time rss rc line).
report() {
  awk -F'\t' -v benches="${BENCHES[*]}" -v allocs="${ALLOCS[*]}" '
  function median(list,    v, n, i, j, x) {
    n = split(list, v, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++) {           # insertion sort, numerically
      x = v[i] + 0
      for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]
      v[j + 1] = x
    }
    if (n % 2) return v[(n + 1) / 2] + 0
    return (v[n / 2] + v[n / 2 + 1]) / 2
  }
  function fmt_t(x) { return x == "" ? "n/a" : sprintf("%.3f", x) }
  function fmt_m(x) { return x == "" ? "n/a" : sprintf("%.1f", x / 1024) }
  function fmt_r(x) { return x == "" ? "n/a" : sprintf("%.2f", x) }
  function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "" : a / b }
  {
    key = $1 SUBSEP $2
    if ($4 == "FAIL") { failed[key]++; next }
    times[key] = times[key] " " $4
    rsss[key] = rsss[key] " " $5
    # checksum lines: remember each distinct one per benchmark
    if (!(($1 SUBSEP $7) in seen)) { seen[$1 SUBSEP $7] = 1; nlines[$1]++ }
    lineof[key] = lineof[key] == "" ? $7 : (lineof[key] == $7 ? $7 : "\001")
    if (!(($1 SUBSEP $7) in firstalloc)) firstalloc[$1 SUBSEP $7] = $2
  }
  END {
    nb = split(benches, B, " "); na = split(allocs, A, " ")
    hasmi = 0; hasgm = 0
    for (j = 1; j <= na; j++) { if (A[j] == "mimalloc") hasmi = 1; if (A[j] == "gomalloc") hasgm = 1 }
    for (i = 1; i <= nb; i++) for (j = 1; j <= na; j++) {
      k = B[i] SUBSEP A[j]
      T[k] = median(times[k]); M[k] = median(rsss[k])
    }

    # Table 1: medians.
    printf "| benchmark |"
    for (j = 1; j <= na; j++) printf " %s s | %s MiB |", A[j], A[j]
    if (hasmi && hasgm) printf " gm/mi time | gm/mi RSS |"
    printf " checksum |\n|---|"
    for (j = 1; j <= na; j++) printf "---:|---:|"
    if (hasmi && hasgm) printf "---:|---:|"
    printf "---|\n"
    for (i = 1; i <= nb; i++) {
      b = B[i]
      printf "| %s |", b
      for (j = 1; j <= na; j++) { k = b SUBSEP A[j]; printf " %s | %s |", fmt_t(T[k]), fmt_m(M[k]) }
      if (hasmi && hasgm)
        printf " %s | %s |", fmt_r(ratio(T[b SUBSEP "gomalloc"], T[b SUBSEP "mimalloc"])),
          fmt_r(ratio(M[b SUBSEP "gomalloc"], M[b SUBSEP "mimalloc"]))
      # checksum verdict
      status = ""
      for (j = 1; j <= na; j++) {
        k = b SUBSEP A[j]
        if (k in failed) status = status (status == "" ? "" : ", ") "FAILED: " A[j] " x" failed[k]
        if (lineof[k] == "\001") status = status (status == "" ? "" : ", ") "unstable: " A[j]
      }
      if (nlines[b] > 1) {
        # name the allocators whose line differs from the first allocator with a line
        ref = ""
        for (j = 1; j <= na && ref == ""; j++) { k = b SUBSEP A[j]; if (lineof[k] != "" && lineof[k] != "\001") ref = lineof[k] }
        bad = ""
        for (j = 1; j <= na; j++) { k = b SUBSEP A[j]; if (lineof[k] != "" && lineof[k] != ref) bad = bad " " A[j] }
        status = status (status == "" ? "" : ", ") "MISMATCH:" bad
      }
      if (status == "") status = "ok"
      printf " %s |\n", status
    }
    # geometric means over the benchmarks that have a value for everyone
    printf "| **geomean** |"
    for (j = 1; j <= na; j++) {
      st = 0; sm = 0; n = 0
      for (i = 1; i <= nb; i++) {
        ok = 1
        for (jj = 1; jj <= na; jj++) if (T[B[i] SUBSEP A[jj]] == "" || T[B[i] SUBSEP A[jj]] + 0 <= 0) ok = 0
        if (!ok) continue
        k = B[i] SUBSEP A[j]; st += log(T[k]); sm += log(M[k]); n++
      }
      if (n) printf " %.3f | %.1f |", exp(st / n), exp(sm / n) / 1024; else printf " n/a | n/a |"
      GT[A[j]] = n ? exp(st / n) : ""; GM[A[j]] = n ? exp(sm / n) : ""
    }
    if (hasmi && hasgm) printf " %s | %s |", fmt_r(ratio(GT["gomalloc"], GT["mimalloc"])), fmt_r(ratio(GM["gomalloc"], GM["mimalloc"]))
    printf " |\n"

    if (!hasmi) exit
    # Tables 2 and 3: every allocator relative to mimalloc.
    for (what = 1; what <= 2; what++) {
      printf "\n%s relative to mimalloc (lower is better):\n\n", what == 1 ? "Median wall time" : "Median peak RSS"
      printf "| benchmark |"
      for (j = 1; j <= na; j++) printf " %s |", A[j]
      printf "\n|---|"
      for (j = 1; j <= na; j++) printf "---:|"
      printf "\n"
      for (j = 1; j <= na; j++) { ls[j] = 0; ln[j] = 0 }
      for (i = 1; i <= nb; i++) {
        b = B[i]; printf "| %s |", b
        for (j = 1; j <= na; j++) {
          x = what == 1 ? ratio(T[b SUBSEP A[j]], T[b SUBSEP "mimalloc"]) : ratio(M[b SUBSEP A[j]], M[b SUBSEP "mimalloc"])
          printf " %s |", fmt_r(x)
          if (x != "" && x > 0) { ls[j] += log(x); ln[j]++ }
        }
        printf "\n"
      }
      printf "| **geomean** |"
      for (j = 1; j <= na; j++) printf " %s |", ln[j] == nb ? sprintf("%.2f", exp(ls[j] / ln[j])) : "n/a"
      printf "\n"
    }
  }' "$RESULTS"
}

# raw: every run, for the <details> block of RESULTS.md.
raw() {
  awk -F'\t' '
    { k = $1 " / " $2
      if (!(k in v)) order[++n] = k
      v[k] = v[k] (v[k] == "" ? "" : ", ") ($4 == "FAIL" ? "FAIL" : sprintf("%s s %.1f MiB", $4, $5 / 1024)) \
             ($8 + 0 >= 0.25 ? sprintf(" (other work %.1f)", $8) : "")
      if ($4 != "FAIL") {
        if (!($1 in line)) { border[++nb] = $1; line[$1] = $7 }
        else if (line[$1] != $7) diff[$1] = 1
        lines[$1] = lines[$1] "\n  - " $2 " round " $3 ": `" $7 "`"
      } }
    END {
      for (i = 1; i <= n; i++) printf "- %s: %s\n", order[i], v[order[i]]
      print ""
      print "Result lines (the same for every allocator and round unless listed run by run):"
      print ""
      for (i = 1; i <= nb; i++) {
        b = border[i]
        if (diff[b]) printf "- %s: DIFFERENT:%s\n", b, lines[b]
        else printf "- %s: `%s`\n", b, line[b]
      } }' "$RESULTS"
}

TABLE=$(report)
MISMATCH=0
if grep -qE "MISMATCH|unstable|FAILED" <<<"$TABLE"; then MISMATCH=1; fi

echo "$TABLE"
echo
if [ "$QUICK" = 1 ]; then echo "(--quick: small scales, $RUNS round(s); not for comparison)"; fi
echo "Times are median wall seconds, RSS median peak resident MiB, over $RUNS round(s)."
DISTURBED=$(awk -F'\t' '$4 != "FAIL" { n++; if ($8 + 0 >= 0.25) d++; if ($8 + 0 > m) m = $8 + 0 }
  END { printf "%d of %d runs had other work keeping 0.25 cores or more busy beside them (at most %.1f)", d, n, m }' "$RESULTS")
echo "$DISTURBED."
[ ${#SKIPPED[@]} -eq 0 ] || echo "Skipped: ${SKIPPED[*]}."
[ "$MISMATCH" = 0 ] || echo "WARNING: some runs failed or their checksum lines disagree (see the checksum column)."

# ---- RESULTS.md -------------------------------------------------------------------
if [ "$WRITE" = 1 ]; then
  OUT=bench/RESULTS.md
  FASTPATH=""
  if [ -f "$OUT" ] && grep -q '<!-- fastpath:begin -->' "$OUT"; then
    FASTPATH=$(sed -n '/<!-- fastpath:begin -->/,/<!-- fastpath:end -->/p' "$OUT")
  fi
  if [ -z "$FASTPATH" ]; then
    # shellcheck disable=SC2016 # backquotes are Markdown here
    FASTPATH=$(printf '%s\n' '<!-- fastpath:begin -->' \
      '_Not measured yet: run `./bench/count-instructions.sh --write` to fill this section in._' \
      '<!-- fastpath:end -->')
  fi
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
  mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || true)
  glibc_ver=$(ldd --version 2>/dev/null | head -n 1 | sed 's/^ldd //' || true)
  ccver=$(${CC:-cc} --version 2>/dev/null | head -n 1 || true)
  pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
  {
    cat <<'EOF'
# gomalloc benchmark results

This file is written by `./bench/run.sh --write`; the text above "Latest run"
is part of the script, the rest is the output of its last run.

## How to reproduce

```sh
./bench/run.sh --write     # full suite, 5 rounds, rewrites this file (a few minutes on 2 cores)
./bench/run.sh --quick     # smoke test: small scales, 1 round, prints the table only
./bench/run.sh -n 9 --only churn,larson --alloc mimalloc,gomalloc
./bench/count-instructions.sh --write   # callgrind fast-path count (section at the end)
```

`run.sh` installs the peer allocators (Debian packages `libjemalloc2`,
`libtcmalloc-minimal4`, `libmimalloc2.0`, and GNU `time`) when they are
missing, configures and builds `build/` (Release) if needed, then runs every
benchmark under five allocators:

| allocator | how |
|---|---|
| glibc | `bench_<name>_sys`, the C library's malloc |
| jemalloc | `bench_<name>_sys` with `LD_PRELOAD=libjemalloc.so.2` |
| tcmalloc | `bench_<name>_sys` with `LD_PRELOAD=libtcmalloc_minimal.so.4` |
| mimalloc | `bench_<name>_sys` with `LD_PRELOAD=libmimalloc.so.2.0` |
| gomalloc | `bench_<name>_gm`, the same source built with `-DUSE_GOMALLOC` and linked to `gomalloc_static` |

Method: every run is one process started by `bench/runone.c`, which forks,
execs, `wait4`s and reports the wall time (CLOCK_MONOTONIC, 0.1 ms) and the
child's `ru_maxrss`. In each round every allocator runs every benchmark once,
allocators interleaved and their order rotated from round to round, so that
drift (thermal, noisy neighbours) affects all of them alike; the tables give
medians over the rounds. Each benchmark prints one result line with a
checksum computed from the blocks' contents (never from addresses or time),
and the script checks that it is the same for every allocator and round.
Note that gomalloc is linked statically (direct calls) while the peers are
reached through the PLT, a difference of a couple of instructions per call.

## Benchmarks

| benchmark | what it does | arguments of the full run |
|---|---|---|
EOF
    for b in "${ALL_BENCHES[@]}"; do
      # shellcheck disable=SC2016 # backquotes are Markdown here
      printf '| %s | %s | `%s` |\n' "$b" "${DESCRIPTION[$b]}" "${FULL_ARGS[$b]}"
    done
    echo
    echo "The suite's scales keep most benchmarks near 0.3-2 s under glibc (a full run takes a few"
    echo "minutes on 2 cores); binarytrees runs at the classic depth 21 (about 8 s under glibc), and"
    echo "prodcons, run alone, defaults to 20M blocks. glibc is far slower than the rest on prodcons: the"
    echo "consumer thread's frees and the producer's mallocs contend for the main arena's lock."
    echo
    echo "## Latest run"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, ${mem:-? GiB} RAM, Linux $(uname -r)"
    echo "- C library / compiler: ${glibc_ver:-?}; ${ccver:-?}"
    echo "- Peers: jemalloc $(pkgver libjemalloc2), tcmalloc (gperftools) $(pkgver libtcmalloc-minimal4), mimalloc $(pkgver libmimalloc2.0)"
    echo "- gomalloc: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (with uncommitted changes)')"
    echo "- Command: \`$CMDLINE\` ($RUNS round(s), ${ELAPSED} s in all)"
    echo "- CPU cores busy with other work, sampled for 0.5 s before each round: $LOADS (0.0 = quiet machine); during the runs: $DISTURBED (marked in \"Every run\" below)"
    [ "$QUICK" = 0 ] || echo "- **--quick run: small scales, not for comparison**"
    [ ${#SKIPPED[@]} -eq 0 ] || echo "- Skipped: ${SKIPPED[*]}"
    echo
    echo "Median wall time (s) and median peak RSS (MiB); gm/mi = gomalloc ÷ mimalloc:"
    echo
    echo "$TABLE"
    echo
    echo "<details><summary>Every run</summary>"
    echo
    raw
    echo
    echo "</details>"
    echo
    echo "## Fast-path instruction count (callgrind)"
    echo
    cat <<'EOF'
`bench/fastpath.c` does 10M `malloc(32)` + `free` pairs after a warm-up;
`./bench/count-instructions.sh` runs it under `valgrind --tool=callgrind`
for N and 2N pairs and reports (Ir(2N) − Ir(N)) / N, the instructions of one
malloc+free pair with the loop around it, and the part of it spent inside
malloc and free (callgrind's inclusive cost of the functions the loop calls),
for gomalloc and, via LD_PRELOAD into the plain-malloc build, for each peer.

EOF
    echo "$FASTPATH"
  } >"$OUT.tmp"
  mv "$OUT.tmp" "$OUT"
  note "wrote $OUT"
fi

if [ "$failures" -gt 0 ] || [ "$MISMATCH" = 1 ]; then exit 1; fi
exit 0
