# shellcheck shell=bash
# bench/lib/suite.sh — what bench/chan.sh and bench/containers.sh share: the
# variants and runs to do, the timed runs under bench_runone, the rounds, the
# summary under the table and their section of bench/RESULTS.md (sourced by
# both, after they have parsed their options, built their programs and filled
# SKIP_V).
#
# The sourcing script sets, before calling these:
#   SUITE_NAME        chan / containers: the script is bench/$SUITE_NAME.sh,
#                     its RESULTS.md section is between <!-- $SUITE_NAME:begin -->
#                     and <!-- $SUITE_NAME:end -->
#   SUITE_TITLE       the section's heading: Channels / Containers
#   SUITE_QUICK_WHAT  what --quick shrinks: "a tenth of the items"
#   SUITE_RESULT_RE   the extended regexp of a program's result line
#   SUITE_ENV         an array of NAME=VALUE set for every run (may be empty)
# and defines these functions:
#   program_path W V  the executable of workload W for variant V, or nothing
#   run_progress W V R T RSS BASE FLAG
#                     the progress line of a successful run (to stderr); BASE
#                     is the run's files' prefix (BASE.out: its stdout)
#   section_head      the RESULTS.md section from its "## " heading to the blank
#                     line before "- Date:" (pkgver PKG is there for it)
#   section_peers     the section's "- Peers: " line
# and the globals ALL_VARIANTS, WORKLOADS, ARGS_OF, SKIP_V, RUNS, QUICK,
# WRITE, WAIT_QUIET, RESULTS_MD, RUNONE, CMDLINE, ROOT, and functions note,
# die, want_variant. After TABLE is set (from RESULTS and PHASES), the script
# calls suite_summary, and at the end suite_finish.
#
# Optional, for scripts whose runs are not "program_path W V with ARGS_OF[W]"
# (bench/profile.sh: the workloads of bench/lib/workloads.sh under preloaded
# allocators); chan.sh and containers.sh define none of them:
#   SUITE_WORK_PARENT where suite_start makes WORK (default: $TMPDIR or /tmp)
#   suite_command W V R BASE
#                     called before each run (untimed; ARGS holds ARGS_OF[W]):
#                     sets RUN_CMD (argv), and may set RUN_CWD (default: the
#                     current directory), RUN_ENV (NAME=VALUE words for this
#                     run only), RUN_PRELOAD (a library runone preloads) and
#                     RUN_TIMEOUT (seconds, default TIMEOUT)
#   suite_result W V BASE
#                     after a run that exited 0: prints its result line
#                     (instead of the first line of BASE.out that matches
#                     SUITE_RESULT_RE); runs in a subshell
#   suite_failed W V R RC
#                     after a failed run (RC: its exit status, 137 for a
#                     time-out), e.g. to drop the pair from RUNS_OF for the
#                     rounds still to come

# suite_select: VARIANTS (wanted and buildable), SKIPPED (the rest, and the
# workload/variant pairs whose program is missing) and RUNS_OF[workload] (the
# variants to run it with).
suite_select() {
  VARIANTS=()
  SKIPPED=()
  for v in "${ALL_VARIANTS[@]}"; do
    want_variant "$v" || continue
    if [ -n "${SKIP_V[$v]:-}" ]; then SKIPPED+=("$v (${SKIP_V[$v]})"); continue; fi
    VARIANTS+=("$v")
  done
  [ ${#VARIANTS[@]} -gt 0 ] || die "no variant to run"
  for s in "${SKIPPED[@]+"${SKIPPED[@]}"}"; do note "n/a: $s"; done

  declare -gA RUNS_OF=()
  for w in "${WORKLOADS[@]}"; do
    list=""
    for v in "${VARIANTS[@]}"; do
      prog=$(program_path "$w" "$v")
      [ -n "$prog" ] || continue
      if [ ! -x "$prog" ]; then
        SKIPPED+=("$w/$v ($prog not built)")
        note "n/a: $w/$v: $prog not built"
        continue
      fi
      list+="${list:+ }$v"
    done
    RUNS_OF[$w]=$list
  done
}

# suite_start TIMEOUT: the work directory WORK (removed on exit) with RESULTS
# and PHASES, the per-run TIMEOUT in seconds (60 with --quick) and the counters.
suite_start() {
  WORK=$(mktemp -d "${SUITE_WORK_PARENT:-${TMPDIR:-/tmp}}/gomalloc-$SUITE_NAME-bench.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  RESULTS="$WORK/results.tsv" # workload variant round wall rss-KiB rc result-line other-cores user sys
  PHASES="$WORK/phases.tsv"   # workload variant round phase ns-per-op
  : >"$RESULTS"
  : >"$PHASES"
  TIMEOUT=$1
  [ "$QUICK" = 0 ] || TIMEOUT=60
  CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
  total=0
  for w in "${WORKLOADS[@]}"; do read -r -a vs <<<"${RUNS_OF[$w]}"; total=$((total + RUNS * ${#vs[@]})); done
  [ "$total" -gt 0 ] || die "nothing to run"
  done_runs=0
  failures=0
  START=$(date +%s)
}

# other_load: how many cores other work kept busy over the last 0.5 s (as
# bench/run.sh: the non-idle share of /proc/stat's cpu line times the CPUs).
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

# run_one WORKLOAD VARIANT ROUND: one timed run, appended to results.tsv and
# (its phase lines) to phases.tsv.
run_one() {
  local w=$1 v=$2 r=$3 base="$WORK/$1.$2.$3" rc=0 prog t rss u s chk stat0 stat1 other flag
  prog=$(program_path "$w" "$v")
  read -r -a ARGS <<<"${ARGS_OF[$w]}"
  if declare -F suite_command >/dev/null; then
    RUN_CMD=() RUN_CWD=$PWD RUN_ENV=() RUN_PRELOAD="" RUN_TIMEOUT=$TIMEOUT
    suite_command "$w" "$v" "$r" "$base"
    stat0=$(head -n 1 /proc/stat 2>/dev/null || true)
    (cd "$RUN_CWD" && exec env -u GOGC -u GOMEMLIMIT -u GODEBUG -u LD_PRELOAD ${SUITE_ENV[@]+"${SUITE_ENV[@]}"} \
      ${RUN_ENV[@]+"${RUN_ENV[@]}"} "$RUNONE" ${RUN_PRELOAD:+-p "$RUN_PRELOAD"} -o "$base.res" -t "$RUN_TIMEOUT" \
      -- "${RUN_CMD[@]}") >"$base.out" 2>"$base.err" || rc=$?
  else
    stat0=$(head -n 1 /proc/stat 2>/dev/null || true)
    env -u GOGC -u GOMEMLIMIT -u GODEBUG -u LD_PRELOAD ${SUITE_ENV[@]+"${SUITE_ENV[@]}"} \
      "$RUNONE" -o "$base.res" -t "$TIMEOUT" -- "$prog" "${ARGS[@]}" >"$base.out" 2>"$base.err" || rc=$?
  fi
  stat1=$(head -n 1 /proc/stat 2>/dev/null || true)
  done_runs=$((done_runs + 1))
  if ! declare -F suite_result >/dev/null; then
    chk=$(grep -m 1 -E "$SUITE_RESULT_RE" "$base.out" 2>/dev/null | tr '\t' ' ') || true
  elif [ "$rc" -eq 0 ]; then
    chk=$(suite_result "$w" "$v" "$base" 2>/dev/null | tr '\t' ' ') || true
  else
    chk=""
  fi
  if [ "$rc" -ne 0 ] || [ ! -s "$base.res" ] || [ -z "$chk" ]; then
    failures=$((failures + 1))
    printf '%s.sh: [%d/%d] %s %s round %d FAILED (exit %d):\n' "$SUITE_NAME" "$done_runs" "$total" "$w" "$v" "$r" "$rc" >&2
    { tail -n 5 "$base.out"; tail -n 10 "$base.err"; } >&2 || true
    printf '%s\t%s\t%d\tFAIL\tFAIL\t%d\t-\t0\t-\t-\n' "$w" "$v" "$r" "$rc" >>"$RESULTS"
    if declare -F suite_failed >/dev/null; then suite_failed "$w" "$v" "$r" "$rc"; fi
    return
  fi
  read -r t rss _ u s <"$base.res"
  # Cores kept busy by other work during the run (as bench/run.sh): the
  # machine's non-idle CPU time over the run less the run's own, over its
  # wall time; not judged for runs under 0.2 s (clock ticks are coarse).
  other=$(awk -v a="$stat0" -v b="$stat1" -v hz="$CLK_TCK" -v u="$u" -v s="$s" -v t="$t" 'BEGIN {
    if (split(a, x, " ") < 9 || split(b, y, " ") < 9 || t + 0 < 0.2) { print 0; exit }
    busy = 0
    for (i = 2; i <= 9; i++) if (i != 5 && i != 6) busy += y[i] - x[i]
    o = ((busy - 2) / hz - u - s) / t
    printf "%.2f", (o < 0) ? 0 : o }')
  printf '%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n' "$w" "$v" "$r" "$t" "$rss" "$rc" "$chk" "$other" "$u" "$s" >>"$RESULTS"
  awk -v w="$w" -v v="$v" -v r="$r" '$1 == "phase" {
      for (i = 3; i <= NF; i++) if ($i ~ /^ns_per_op=/) { sub(/^ns_per_op=/, "", $i); printf "%s\t%s\t%s\t%s\t%s\n", w, v, r, $2, $i } }' \
    "$base.out" >>"$PHASES"
  flag=""
  if busy "$other" 0.25; then flag="  (other work: $other cores)"; fi
  run_progress "$w" "$v" "$r" "$t" "$rss" "$base" "$flag"
}

# suite_rounds: RUNS rounds of every workload with its variants, their order
# rotated from round to round, each after waiting up to WAIT_QUIET s for a
# quiet machine; LOADS (the load before each round) and ELAPSED.
suite_rounds() {
  LOADS=""
  note "running ${#WORKLOADS[@]} workloads, $RUNS round(s), variants ${VARIANTS[*]}"
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
}

# suite_summary: after TABLE: MISMATCH, DISTURBED, and the table with the
# notes under it on stdout.
suite_summary() {
  MISMATCH=0
  if grep -qE "MISMATCH|FAILED" <<<"$TABLE"; then MISMATCH=1; fi
  DISTURBED=$(awk -F'\t' '$4 != "FAIL" { n++; if ($8 + 0 >= 0.25) d++; if ($8 + 0 > m) m = $8 + 0 }
    END { printf "%d of %d runs had other work keeping 0.25 cores or more busy beside them (at most %.1f)", d, n, m }' "$RESULTS")

  echo "$TABLE"
  echo
  if [ "$QUICK" = 1 ]; then echo "(--quick: $SUITE_QUICK_WHAT, $RUNS round(s); not for comparison)"; fi
  echo "Machine load: CPU cores busy with other work before each round: $LOADS; $DISTURBED."
  [ ${#SKIPPED[@]} -eq 0 ] || echo "n/a: ${SKIPPED[*]}."
  [ "$MISMATCH" = 0 ] || { echo; echo "WARNING: some runs failed or their result lines disagree (see above)."; }
}

# write_section OUT: the script's section of OUT (bench/RESULTS.md), replaced
# where it is, else appended.
write_section() {
  local out=$1 sec="$WORK/$SUITE_NAME-section.md" cpu mem w
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
  mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || true)
  pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
  {
    echo "<!-- $SUITE_NAME:begin -->"
    echo "## $SUITE_TITLE"
    echo
    section_head
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Command: \`$CMDLINE\` ($RUNS round(s), ${ELAPSED} s in all)"
    echo "- Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, ${mem:-? GiB} RAM, Linux $(uname -r)"
    echo "- Machine load: CPU cores busy with other work, sampled for 0.5 s before each round: $LOADS (0.0 = quiet machine); during the runs: $DISTURBED (marked in \"Every run\" below)"
    section_peers
    echo "- gomalloc: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (with uncommitted changes)')"
    [ "$QUICK" = 0 ] || echo "- **--quick run: $SUITE_QUICK_WHAT, not for comparison**"
    [ ${#SKIPPED[@]} -eq 0 ] || echo "- n/a: ${SKIPPED[*]}"
    echo
    echo "$TABLE"
    echo
    echo "<details><summary>Every run</summary>"
    echo
    awk -F'\t' 'FILENAME == ARGV[1] { k = $1 SUBSEP $2 SUBSEP $3; ph[k] = ph[k] (ph[k] == "" ? "" : ", ") $4 " " $5; next }
      { k = $1 SUBSEP $2 SUBSEP $3
        printf "- %s / %s round %s: %s\n", $1, $2, $3,
          ($4 == "FAIL") ? "FAIL (exit " $6 ")" : sprintf("%s s, CPU %.2f s, %.1f MiB%s%s", $4, $9 + $10, $5 / 1024, (k in ph) ? "; ns/op: " ph[k] : "",
            ($8 + 0 >= 0.25) ? sprintf(" (other work %.1f)", $8) : "") }' "$PHASES" "$RESULTS"
    echo
    echo "</details>"
    echo "<!-- $SUITE_NAME:end -->"
  } >"$sec"
  if [ -f "$out" ] && grep -q "<!-- $SUITE_NAME:begin -->" "$out"; then
    awk -v sec="$sec" -v b="<!-- $SUITE_NAME:begin -->" -v e="<!-- $SUITE_NAME:end -->" '
      index($0, b) { while ((getline l < sec) > 0) print l; skip = 1; next }
      index($0, e) { skip = 0; next }
      !skip' "$out" >"$out.tmp"
    mv "$out.tmp" "$out"
  else
    if [ -s "$out" ]; then echo >>"$out"; fi
    cat "$sec" >>"$out"
  fi
}

# suite_finish: with --write, the section of RESULTS_MD; exits 1 when a run
# failed or result lines disagree, else 0.
suite_finish() {
  if [ "$WRITE" = 1 ]; then
    write_section "$RESULTS_MD"
    note "wrote the $SUITE_TITLE section of $RESULTS_MD"
  fi

  if [ "$failures" -gt 0 ] || [ "$MISMATCH" = 1 ]; then exit 1; fi
  exit 0
}
