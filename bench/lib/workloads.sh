# shellcheck shell=bash disable=SC2034 # sourced by run.sh, which uses the tables
# bench/lib/workloads.sh — the workloads of bench/run.sh (sourced by it).
#
# Two kinds of workload:
#   ours  bench_<name>_sys, our own C programs (bench/<name>.c), and
#         bench_cxx_sys (bench/cxx_workload.cc)
#   real  programs of the system run on inputs we generate: Debian's
#         python3, sqlite3, git, gcc
# Every run is one process started by bench_runone with the allocator in
# LD_PRELOAD (none for glibc); the environment, and with it LD_PRELOAD, is
# inherited by the processes a workload starts (git's helpers, gcc's cc1 and
# as, the shell of bench/real/git.sh).
#
# For each workload NAME this file defines
#   FULL_ARGS[NAME], QUICK_ARGS[NAME]  its scale (positional arguments)
#   DESCRIPTION[NAME], PEAK_RSS_OF[NAME]  for the report
#   NEEDS[NAME]      Debian packages it needs (installed when missing)
# and these functions, called by run.sh with $WORK set and the scale in ARGS:
#   wl_setup NAME    once, before the first round (untimed): generate inputs,
#                    warm the caches; returns non-zero if the workload cannot run
#   wl_prepare NAME  before each run (untimed): a clean run directory
#   wl_command NAME  sets RUN_CMD (argv), RUN_CWD and RUN_ENV (VAR=value
#                    words exported for the run only)
#   wl_result NAME OUT  after a successful run (untimed): prints the run's
#                    result line, whose checksum must not depend on the allocator
# The ARGS array holds the workload's scale; $BIN the built programs.

OUR_BENCHES=(churn larson prodcons binarytrees sizesweep largechurn)
REAL_WORKLOADS=(cxx py-objects py-strings py-raytrace sqlite git gcc)
ALL_WORKLOADS=("${OUR_BENCHES[@]}" "${REAL_WORKLOADS[@]}")
# names --only accepts for several workloads at once
declare -A WORKLOAD_GROUP=(
  [ours]="${OUR_BENCHES[*]}"
  [real]="${REAL_WORKLOADS[*]}"
  [python]="py-objects py-strings py-raytrace"
  [all]="${ALL_WORKLOADS[*]}"
)

PYTHON=/usr/bin/python3 # Debian's, not a pyenv shim: the one a Debian user runs
SQLITE=/usr/bin/sqlite3
GIT=/usr/bin/git
GCC=/usr/bin/gcc
# the gcc workload's flags besides its scale (FULL_ARGS[gcc]); paths relative
# to its object directory
GCC_FLAGS=(-Wall -Wextra -std=gnu11 -D_GNU_SOURCE -I../tree/include -I../tree/src -I../tree/tools -I../tree/bench)

# Full scales: each workload takes ~0.3-2 s under glibc on a 2-core machine
# (binarytrees ~10 s at the classic depth 21; prodcons is far slower under
# glibc than the rest, see RESULTS.md). Arguments are positional.
declare -A FULL_ARGS=(
  [churn]="50000000 10000"     # ops, live slots
  [larson]="4 15000000 1000 8" # threads, ops per thread, slots per thread, exchange every 8th op
  [prodcons]="10000000 4096"   # blocks, queue capacity
  [binarytrees]="21"           # max depth: the classic 21
  [sizesweep]="256"            # MiB moved per size, 39 sizes 8 B .. 4 MiB
  [largechurn]="1000000 2000"  # ops, live slots of 33-160 KiB
  [cxx]="12 60000"             # rounds, keys per thread and round
  [py-objects]="4 10000"       # rounds, orders per document
  [py-strings]="2 30000"       # rounds, lines of text per round
  [py-raytrace]="400 300"      # image width, height
  [sqlite]="200000"            # order rows
  [git]="2000 10"              # files, commits after the first
  [gcc]="-O2 -g"               # optimisation flags for the whole tree
)
declare -A QUICK_ARGS=(
  [churn]="1000000 10000"
  [larson]="4 200000 1000 8"
  [prodcons]="200000 4096"
  [binarytrees]="14"
  [sizesweep]="8"
  [largechurn]="20000 2000"
  [cxx]="2 10000"
  [py-objects]="1 2000"
  [py-strings]="1 4000"
  [py-raytrace]="80 60"
  [sqlite]="20000"
  [git]="300 3"
  [gcc]="-O0"
)
declare -A DESCRIPTION=(
  [churn]="single thread, random slot of 10k live blocks replaced per op, 8-256 B"
  [larson]="4 threads x 1000 slots, 8-1000 B, every 8th op swaps a block with another thread"
  [prodcons]="producer thread mallocs 16-512 B, SPSC ring, consumer thread frees"
  [binarytrees]="benchmarks-game binary-trees, 16 B nodes, explicit free"
  [sizesweep]="39 sizes 8 B-4 MiB, same bytes per size, pages touched"
  [largechurn]="page heap: random slot of 2000 live 33-160 KiB blocks replaced per op"
  [cxx]="C++17 (bench/cxx_workload.cc), 2 threads: unordered_map/map with string keys, vector growth, shared_ptr lists, messages freed by the other thread"
  [py-objects]="python3 (bench/real/py_objects.py): classes, dicts, lists; JSON encode and decode of a generated document; group-by aggregation"
  [py-strings]="python3 (bench/real/py_strings.py): log-like text, split/join, dict word counts, regex findall/finditer/sub, f-strings, UTF-8"
  [py-raytrace]="python3 (bench/real/py_raytrace.py): object-oriented ray tracer, a new Vec object per vector operation"
  [sqlite]="sqlite3 (bench/real/sqlite.sql): 3 tables built from recursive CTEs, 4 indexes, joins, group-by, a window function, updates, deletes, VACUUM, integrity check"
  [git]="git (bench/real/git.sh): init, add and commit a generated tree of C-like files, apply and commit change sets, log --stat and -p, gc, fsck"
  [gcc]="gcc -c, Wall -Wextra: gomalloc's own C sources (src/, tools/, bench/, copied at the start of the run), one gcc driver, a cc1 and an as per file"
)
declare -A PEAK_RSS_OF=(
  [cxx]="the process"
  [py-objects]="the python3 process"
  [py-strings]="the python3 process"
  [py-raytrace]="the python3 process"
  [sqlite]="the sqlite3 process"
  [git]="the largest single process of the tree: the driving bash and every git process it starts (git gc's pack-objects in practice)"
  [gcc]="the largest single process of the tree: the gcc driver, each cc1 and each as (the cc1 of the largest file in practice)"
)
for b in "${OUR_BENCHES[@]}"; do PEAK_RSS_OF[$b]="the process"; done
declare -A NEEDS=(
  [cxx]="g++"
  [py-objects]="python3" [py-strings]="python3" [py-raytrace]="python3"
  [sqlite]="sqlite3"
  [git]="git python3"
  [gcc]="gcc"
)

is_real() { case " ${REAL_WORKLOADS[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

# The executable each workload's runs need, for the "is it there" check.
wl_program() {
  case "$1" in
    cxx) echo "$BIN/bench_cxx_sys" ;;
    py-*) echo "$PYTHON" ;;
    sqlite) echo "$SQLITE" ;;
    git) echo "$GIT" ;;
    gcc) echo "$GCC" ;;
    *) echo "$BIN/bench_$1_sys" ;;
  esac
}

wl_dir() { echo "$WORK/wl/$1"; }

# run_quietly LOG CMD...: run a set-up step without any preload; on failure
# show the end of its log.
run_quietly() {
  local log=$1
  shift
  if ! env -u LD_PRELOAD "$@" >>"$log" 2>&1; then
    note "set-up step failed: $*"
    tail -n 8 "$log" >&2
    return 1
  fi
}

wl_setup() {
  local w=$1 d
  d=$(wl_dir "$w")
  mkdir -p "$d"
  local log="$d/setup.log"
  : >"$log"
  case "$w" in
    git)
      # The tree and the change sets, then the patches: made once with git
      # itself (glibc), in a scratch repository.
      run_quietly "$log" "$PYTHON" "$ROOT/bench/real/git_gen.py" "$d/gen" "${ARGS[0]}" "${ARGS[1]}" || return 1
      mkdir -p "$d/patches"
      cp -a "$d/gen/base" "$d/scratch"
      # shellcheck disable=SC2016 # the script is for the inner bash
      run_quietly "$log" bash -c '
        set -euo pipefail
        export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
        gitbin=$3
        g() { "$gitbin" -c user.name=setup -c user.email=setup@example.invalid -c gc.auto=0 "$@"; }
        cd "$1/scratch"
        g init -q -b main . && g add -A && g commit -q -m base
        for ((k = 1; k <= $2; k++)); do
          cp -a "../gen/v$k/." .
          g add -A
          g diff --cached --binary >"../patches/$k.diff"
          g commit -q -m "change $k"
        done' setup "$d" "${ARGS[1]}" "$GIT" || return 1
      rm -rf "$d/scratch"
      ;;
    gcc)
      # A snapshot of the sources, so every run compiles the same files even
      # if the tree changes meanwhile.
      local dir f
      mkdir -p "$d/tree/include" "$d/obj"
      cp -r "$ROOT/include/." "$d/tree/include/"
      for dir in src tools bench; do
        mkdir -p "$d/tree/$dir"
        cp "$ROOT/$dir"/*.[ch] "$d/tree/$dir/"
      done
      # Every file that compiles on its own with these flags (the tree may
      # be half-way through a change), one object per file name (gcc -c
      # writes NAME.o into the current directory).
      : >"$d/files"
      for f in $(cd "$d/tree" && printf '%s\n' src/*.c tools/*.c bench/*.c | awk -F/ '!seen[$NF]++'); do
        if (cd "$d/obj" && env -u LD_PRELOAD "$GCC" "${ARGS[@]}" "${GCC_FLAGS[@]}" -c "../tree/$f") >>"$log" 2>&1; then
          echo "$f" >>"$d/files"
        else
          note "gcc: $f does not compile on its own: left out"
        fi
      done
      [ -s "$d/files" ] || return 1
      ;;
    py-* | sqlite) ;;
    *) return 0 ;; # our programs and cxx: nothing to generate, no warm-up
  esac
  # A warm-up run under glibc: fills the page cache (python's modules, gcc's
  # headers) and shows that the workload works before any allocator is judged.
  wl_prepare "$w"
  wl_command "$w"
  if ! (cd "$RUN_CWD" && for e in "${RUN_ENV[@]+"${RUN_ENV[@]}"}"; do export "${e?}"; done &&
      exec env -u LD_PRELOAD "${RUN_CMD[@]}") >"$d/warmup.out" 2>>"$log"; then
    note "$w: the warm-up run (glibc) failed:"
    tail -n 8 "$log" >&2
    return 1
  fi
}

wl_prepare() {
  local w=$1 d
  d=$(wl_dir "$w")
  case "$w" in
    sqlite) rm -rf "$d/run" && mkdir -p "$d/run" ;;
    git) rm -rf "$d/run" && mkdir -p "$d/run" && cp -a "$d/gen/base" "$d/run/repo" ;;
    gcc) rm -f "$d"/obj/*.o ;;
    *) mkdir -p "$d" ;;
  esac
}

wl_command() {
  local w=$1 d
  d=$(wl_dir "$w")
  RUN_CWD=$d
  RUN_ENV=()
  case "$w" in
    cxx) RUN_CMD=("$BIN/bench_cxx_sys" "${ARGS[@]}") ;;
    py-*)
      # PYTHONMALLOC=malloc: every object through malloc, not pymalloc's
      # arenas, so the allocator under test sees Python's small objects.
      RUN_ENV=(PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 PYTHONPATH= PYTHONHOME=)
      RUN_CMD=("$PYTHON" "$ROOT/bench/real/py_${w#py-}.py" "${ARGS[@]}")
      ;;
    sqlite)
      RUN_CWD=$d/run
      RUN_ENV=(SQLITE_TMPDIR="$d/run")
      RUN_CMD=("$SQLITE" -bail "$d/run/bench.db" -cmd ".parameter set @rows ${ARGS[0]}"
        ".read $ROOT/bench/real/sqlite.sql")
      ;;
    git)
      RUN_CWD=$d/run
      RUN_ENV=(GIT="$GIT")
      RUN_CMD=(bash "$ROOT/bench/real/git.sh" "$d/run/repo" "$d/patches" "${ARGS[1]}")
      ;;
    gcc)
      RUN_CWD=$d/obj
      local files=()
      mapfile -t files <"$d/files"
      # Relative paths and -fdebug-prefix-map: the objects (debug info
      # included) do not depend on where the work directory is.
      RUN_CMD=("$GCC" "${ARGS[@]}" "${GCC_FLAGS[@]}" "-fdebug-prefix-map=$d=/bench" -c "${files[@]/#/../tree/}")
      ;;
    *) RUN_CMD=("$BIN/bench_${w}_sys" "${ARGS[@]}") ;;
  esac
}

sha16() { sha256sum | cut -c1-16; }

wl_result() {
  local w=$1 out=$2 d
  d=$(wl_dir "$w")
  case "$w" in
    sqlite)
      printf 'sqlite rows=%s lines=%s output=%s db=%s\n' "${ARGS[0]}" "$(wc -l <"$out")" \
        "$(sha16 <"$out")" "$(sha16 <"$d/run/bench.db")"
      ;;
    git)
      printf 'git files=%s commits=%s head=%s log=%s %s\n' "${ARGS[0]}" "${ARGS[1]}" \
        "$(cat "$d/run/head.txt")" "$(sha16 <"$d/run/log.txt")" \
        "$(tr -d ' ' <"$d/run/objects.txt" | tr '\n' ' ' | sed 's/ $//')"
      ;;
    gcc)
      local n
      n=$(wc -l <"$d/files")
      printf 'gcc flags=%s files=%s objects=%s\n' "${ARGS[*]// /,}" "$n" \
        "$(cd "$d/obj" && sed 's|.*/||; s|\.c$|.o|' ../files | xargs cat | sha16)"
      ;;
    *) tail -n 1 "$out" | tr '\t' ' ' ;;
  esac
}
