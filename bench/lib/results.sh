# shellcheck shell=bash
# bench/lib/results.sh — bench/RESULTS.md for bench/run.sh (sourced by it).
#
# raw_runs RESULTS_TSV: every run, for the <details> block.
# write_results OUT: the whole file; uses run.sh's globals (TABLE, RESULTS,
# BENCHES, ALL_WORKLOADS, CMDLINE, RUNS, ELAPSED, LOADS, DISTURBED, QUICK,
# SKIPPED, ROOT, PRELOAD, WORK_FS) and keeps the fast-path section that
# bench/count-instructions.sh wrote into OUT, and the garbage-collector
# section of bench/gc.sh (between <!-- gc:begin --> and <!-- gc:end -->) and
# the containers section of bench/containers.sh (<!-- containers:begin -->)
# and the channels section of bench/chan.sh (<!-- chan:begin -->) and the
# heap-profiling section of bench/profile.sh (<!-- profile:begin -->).

raw_runs() {
  awk -F'\t' '
    { k = $1 " / " $2
      if (!(k in v)) order[++n] = k
      v[k] = v[k] (v[k] == "" ? "" : ", ") ($4 == "FAIL" ? "FAIL (exit " $6 ")" : sprintf("%s s %.1f MiB", $4, $5 / 1024)) \
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
      } }' "$1"
}

write_results() {
  local out=$1 fastpath="" gcsection="" containers="" chansection="" profsection=""
  if [ -f "$out" ] && grep -q '<!-- fastpath:begin -->' "$out"; then
    fastpath=$(sed -n '/<!-- fastpath:begin -->/,/<!-- fastpath:end -->/p' "$out")
  fi
  # the "Garbage collector" section that bench/gc.sh --write keeps there
  if [ -f "$out" ] && grep -q '<!-- gc:begin -->' "$out"; then
    gcsection=$(sed -n '/<!-- gc:begin -->/,/<!-- gc:end -->/p' "$out")
  fi
  # the "Containers" section that bench/containers.sh --write keeps there
  if [ -f "$out" ] && grep -q '<!-- containers:begin -->' "$out"; then
    containers=$(sed -n '/<!-- containers:begin -->/,/<!-- containers:end -->/p' "$out")
  fi
  # the "Channels" section that bench/chan.sh --write keeps there
  if [ -f "$out" ] && grep -q '<!-- chan:begin -->' "$out"; then
    chansection=$(sed -n '/<!-- chan:begin -->/,/<!-- chan:end -->/p' "$out")
  fi
  # the "Heap profiling cost" section that bench/profile.sh --write keeps there
  if [ -f "$out" ] && grep -q '<!-- profile:begin -->' "$out"; then
    profsection=$(sed -n '/<!-- profile:begin -->/,/<!-- profile:end -->/p' "$out")
  fi
  if [ -z "$fastpath" ]; then
    # shellcheck disable=SC2016 # backquotes are Markdown here
    fastpath=$(printf '%s\n' '<!-- fastpath:begin -->' \
      '_Not measured yet: run `./bench/count-instructions.sh --write` to fill this section in._' \
      '<!-- fastpath:end -->')
  fi
  local cpu mem glibc_ver ccver
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
./bench/run.sh --write     # every workload, 5 rounds, rewrites this file (~10-12 minutes on 2 cores)
./bench/run.sh --quick     # smoke test: small scales, 1 round, prints the tables only
./bench/run.sh -n 9 --only churn,python --alloc mimalloc,gomalloc
./bench/count-instructions.sh --write   # callgrind fast-path count (section at the end)
```

`--only` takes workload names and the groups `ours` (our C programs),
`real` (the real programs), `python` (the three Python scripts) and `all`.

`run.sh` installs what is missing (Debian packages `libjemalloc2`,
`libtcmalloc-minimal4`, `libmimalloc2.0`, `python3`, `sqlite3`, `git`,
`gcc`, `g++`), configures and builds `build/` (Release) if needed, then runs
every workload under five allocators, each one injected the same way:

| allocator | how |
|---|---|
| glibc | no `LD_PRELOAD`: the C library's malloc |
| jemalloc | `LD_PRELOAD=libjemalloc.so.2` (Debian `libjemalloc2`) |
| tcmalloc | `LD_PRELOAD=libtcmalloc_minimal.so.4` (Debian `libtcmalloc-minimal4`) |
| mimalloc | `LD_PRELOAD=libmimalloc.so.2.0` (Debian `libmimalloc2.0`) |
| gomalloc | `LD_PRELOAD=build/libgomalloc.so` |

Our own programs run as `bench_<name>_sys` (plain malloc/free) for all five;
the `bench_<name>_gm` builds, linked to gomalloc through its `gm_` API, are
only used by `count-instructions.sh`. The real programs are the system's
(`/usr/bin/python3`, `/usr/bin/sqlite3`, `/usr/bin/git`, `/usr/bin/gcc`),
and `LD_PRELOAD` reaches every process they start (git's helpers, gcc's
`cc1` and `as`, the shell of `bench/real/git.sh`). The Python scripts run
with `PYTHONMALLOC=malloc` (and `PYTHONHASHSEED=0`), so that every Python
object is allocated with malloc instead of pymalloc's arenas: the rows
measure the allocator under Python's objects, which a default Python run
would mostly hide.

Method: every run is one process started by `bench/runone.c`, which forks,
execs, `wait4`s and reports the wall time (CLOCK_MONOTONIC, 0.1 ms) and the
`ru_maxrss` that `wait4` returns. In each round every allocator runs every
workload once, allocators interleaved and their order rotated from round to
round, so that drift (thermal, noisy neighbours) affects all of them alike;
the tables give medians over the rounds. Inputs are generated before the
first round (and each real workload is run once under glibc to warm the
page cache); a run's directory is reset before it, outside the timed part.
Work files live in a tmpfs (`/dev/shm`) when there is one. Each run ends
with a result line that does not depend on the allocator — a checksum
computed by the program, or the hashes of what the real programs wrote —
and the script checks that it is the same for every allocator and round.

**Peak RSS** is `wait4`'s `ru_maxrss`: for a single process its peak
resident set; for a workload that starts other processes (git, gcc), the
largest peak of any single process in the tree — Linux folds in the peaks of
waited-for descendants as a maximum, not a sum (checked: two concurrent 200
MiB children report 208 MiB).

A run that fails (a crash, a non-zero exit, a time-out of 300 s: the run's
whole process group is killed) counts as FAIL, and the workload is left out
of the geomeans.

**Targets**: every gomalloc run completes with the result line the peers
give; gomalloc's geomean time at most 1.0× mimalloc's; no workload slower
than 1.25× the fastest peer on it (peers: glibc, jemalloc, tcmalloc,
mimalloc); gomalloc's geomean peak RSS at most 1.1× the lowest geomean peak
RSS of a peer (the report also gives the stricter geomean of gomalloc's
ratio to the lowest peer of each workload). Geomeans are taken over the
workloads every allocator completed.

## Workloads

| workload | what it does | arguments of the full run | peak RSS of |
|---|---|---|---|
EOF
    local w
    for w in "${ALL_WORKLOADS[@]}"; do
      # shellcheck disable=SC2016 # backquotes are Markdown here
      printf '| %s | %s | `%s` | %s |\n' "$w" "${DESCRIPTION[$w]}" "${FULL_ARGS[$w]}" "${PEAK_RSS_OF[$w]}"
    done
    cat <<'EOF'

Our programs take ~0.3-2 s under glibc at these scales, binarytrees ~10 s
(the classic depth 21), and prodcons far longer under glibc than under the
others (the consumer thread's frees and the producer's mallocs contend for
glibc's main arena lock); the real programs take 1-2.5 s under glibc. The
gcc row compiles the sources of the tree being measured, so its absolute
time moves as the tree grows; within one run every allocator compiles the
same copy.

## Latest run

EOF
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, ${mem:-? GiB} RAM, Linux $(uname -r); work files on $WORK_FS"
    echo "- C library / compiler: ${glibc_ver:-?}; ${ccver:-?}"
    echo "- Peers: jemalloc $(pkgver libjemalloc2), tcmalloc (gperftools) $(pkgver libtcmalloc-minimal4), mimalloc $(pkgver libmimalloc2.0)"
    echo "- Real programs: Python $(pkgver python3), SQLite $(pkgver sqlite3), git $(pkgver git), gcc $(pkgver gcc) ($(${GCC:-gcc} -dumpfullversion 2>/dev/null || echo '?'))"
    echo "- gomalloc: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (with uncommitted changes)'), ${PRELOAD[gomalloc]:-not run}"
    echo "- Command: \`$CMDLINE\` ($RUNS round(s), ${ELAPSED} s in all)"
    echo "- Machine load: CPU cores busy with other work, sampled for 0.5 s before each round: $LOADS (0.0 = quiet machine); during the runs: $DISTURBED (marked in \"Every run\" below)"
    [ "$QUICK" = 0 ] || echo "- **--quick run: small scales, not for comparison**"
    [ ${#SKIPPED[@]} -eq 0 ] || echo "- Skipped: ${SKIPPED[*]}"
    echo
    echo "$TABLE"
    echo
    echo "<details><summary>Every run</summary>"
    echo
    raw_runs "$RESULTS"
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
for gomalloc (`bench_fastpath_gm`, linked to it through the `gm_` API) and,
via LD_PRELOAD into the plain-malloc build, for each peer.

EOF
    echo "$fastpath"
    for section in "$gcsection" "$containers" "$chansection" "$profsection"; do
      if [ -n "$section" ]; then
        echo
        echo "$section"
      fi
    done
  } >"$out.tmp"
  mv "$out.tmp" "$out"
}
