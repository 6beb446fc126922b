#!/usr/bin/env bash
# `gomalloc run`, the launcher (issue 12, §6 and the launcher parts of §1-4):
#
#   tests/tools/run.sh GOMALLOC LIBGOMALLOC_SO
#
# - the heap summary reaches stderr (a file, a pipe, a terminal) although
#   the program (ls) closes its standard streams before it exits;
# - the program keeps its exit status; its children stay quiet;
# - --profile, --profile-rate, --metrics, --interval, --heap-map reach the
#   program as the library's variables, with absolute paths;
# - bad usage exits 2 with one line saying what is wrong, then the usage,
#   and runs nothing;
# - a copy of the binary elsewhere finds the library (install layout,
#   GOMALLOC_LIBRARY, the build tree) or exits 127 saying why, running nothing.
set -uo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 GOMALLOC LIBGOMALLOC_SO" >&2; exit 2; }
GM=$(realpath "$1")
LIB=$(realpath "$2")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# The library's variables come from the launcher here, not from our caller.
unset GOMALLOC_STATS GOMALLOC_STATS_PID GOMALLOC_PROFILE GOMALLOC_PROFILE_RATE \
  GOMALLOC_PROFILE_SIGNAL GOMALLOC_METRICS GOMALLOC_METRICS_INTERVAL GOMALLOC_HEAP_MAP \
  GOMALLOC_LIBRARY LD_PRELOAD

FAILED=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; FAILED=$((FAILED + 1)); }
# expect NAME CONDITION-COMMAND... : pass if the command succeeds.
expect() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name" "$*"; fi; }
# The summary's marks: its first line names the program, HeapInuse is a row.
has_summary() { grep -q "heap of pid [0-9]* ($2)" "$1" && grep -q '^  HeapInuse ' "$1"; }
count() { grep -c "$2" "$1"; }

# ---- The summary reaches stderr after the program closed it -------------------

# Control: ls closes stderr before the library's destructor runs, so a plain
# GOMALLOC_STATS=1 prints nothing. Informational: the launcher must not
# depend on it.
GOMALLOC_STATS=1 LD_PRELOAD=$LIB ls / >/dev/null 2>"$T/control"
if grep -q HeapInuse "$T/control"; then
  echo "note: ls did not close stderr here; the next cases test less than they could"
fi

"$GM" run --stats -- ls / >/dev/null 2>"$T/file"
expect stats_reach_stderr_redirected_to_a_file has_summary "$T/file" ls

"$GM" run --stats -- ls / 2>&1 >/dev/null | cat >"$T/pipe"
expect stats_reach_stderr_on_a_pipe has_summary "$T/pipe" ls

if command -v script >/dev/null; then
  timeout 60 script -qec "'$GM' run --stats -- ls / >/dev/null" /dev/null </dev/null >"$T/tty"
  tr -d '\r' <"$T/tty" >"$T/tty.txt"
  expect stats_reach_stderr_on_a_terminal has_summary "$T/tty.txt" ls
else
  echo "SKIP stats_reach_stderr_on_a_terminal: no script(1)"
fi

# The descriptor is reopened with O_APPEND: what the program wrote first stays.
echo old >"$T/append"
"$GM" run --stats -- sh -c 'echo first >&2; exec ls / >/dev/null' 2>>"$T/append"
expect stats_append_after_what_the_program_wrote \
  test "$(head -2 "$T/append" | tr '\n' ' ')" = "old first "
expect stats_append_keeps_the_summary has_summary "$T/append" ls

# Only the launched process reports: bash's two ls children stay quiet.
# (bash, not sh: dash's exit builtin calls _exit, which runs no destructor.)
"$GM" run --stats -- bash -c 'ls / >/dev/null; ls / >/dev/null; exit 0' 2>"$T/children" >/dev/null
expect stats_only_from_the_program_not_its_children test "$(count "$T/children" 'heap of pid')" = 1
expect stats_name_the_program has_summary "$T/children" bash

# GOMALLOC_STATS names a descriptor above 2, open in the program.
# shellcheck disable=SC2016  # expanded by the child
"$GM" run --stats -- sh -c 'n=${GOMALLOC_STATS##*/}; echo "$GOMALLOC_STATS"; [ -e /proc/self/fd/$n ] && echo open' \
  >"$T/fd" 2>/dev/null
fd=$(sed -n 's|^/proc/self/fd/\([0-9]*\)$|\1|p' "$T/fd")
expect stats_descriptor_is_not_a_standard_stream test "${fd:-0}" -ge 3
expect stats_descriptor_is_open_in_the_program grep -qx open "$T/fd"

# --stats-file: relative to where gomalloc ran, although the program chdirs.
mkdir "$T/wd"
(cd "$T/wd" && "$GM" run --stats-file stats.txt -- bash -c 'cd /; ls >/dev/null; exit 0')
expect stats_file_relative_path_survives_chdir has_summary "$T/wd/stats.txt" bash

# ---- Exit status --------------------------------------------------------------

"$GM" run -- sh -c 'exit 3'
expect exit_status_of_the_program_is_kept test $? = 3
"$GM" run --stats -- sh -c 'exit 3' 2>/dev/null
expect exit_status_is_kept_with_stats test $? = 3
"$GM" run -- "$T/no-such-program" 2>"$T/enoent"
expect missing_program_exits_127 test $? = 127
expect missing_program_is_named grep -q "no-such-program: No such file" "$T/enoent"

# ---- The other outputs reach the program as absolute paths ---------------------

# child VAR: the variable as the launched program sees it.
child() { "$GM" run "${@:2}" -- sh -c "printf '%s' \"\${$1-unset}\""; }
cd "$T/wd" || exit 1
expect profile_path_is_made_absolute test "$(child GOMALLOC_PROFILE --profile p.pb.gz)" = "$T/wd/p.pb.gz"
expect profile_pid_pattern_is_kept test "$(child GOMALLOC_PROFILE --profile p.%p.pb.gz)" = "$T/wd/p.%p.pb.gz"
expect profile_rate_is_passed test "$(child GOMALLOC_PROFILE_RATE --profile p --profile-rate 1)" = 1
expect profile_rate_is_left_to_the_library test "$(child GOMALLOC_PROFILE_RATE --profile p)" = unset
expect metrics_path_is_made_absolute test "$(child GOMALLOC_METRICS --metrics m.jsonl --interval 10ms)" = "$T/wd/m.jsonl"
expect metrics_interval_is_passed test "$(child GOMALLOC_METRICS_INTERVAL --metrics m.jsonl --interval 10ms)" = 10ms
expect heap_map_path_is_made_absolute test "$(child GOMALLOC_HEAP_MAP --heap-map h.html)" = "$T/wd/h.html"
expect options_take_the_equals_form test "$(child GOMALLOC_HEAP_MAP --heap-map=../h.html)" = "$T/wd/../h.html"
cd "$T" || exit 1

# The files themselves are the library's to write (issue 12 §1, §3, §4): only
# noted until the profiler, the metrics and the heap map are in.
"$GM" run --profile "$T/p.pb.gz" --metrics "$T/m.jsonl" --interval 10ms --heap-map "$T/h.html" \
  -- sh -c 'sleep 0.1; ls / >/dev/null; exit 0' >/dev/null
[[ -s $T/p.pb.gz ]] || echo "note: --profile wrote no profile (profiler not in yet?)"
[[ -s $T/m.jsonl ]] || echo "note: --metrics wrote no samples (metrics not in yet?)"
[[ -s $T/h.html ]] || echo "note: --heap-map wrote no map (heap map not in yet?)"

# ---- Bad usage: exit 2, one line saying what, the usage, nothing run -----------

# bad NAME EXPECTED-MESSAGE-PART ARGS...
bad() {
  local name=$1 want=$2
  shift 2
  "$GM" run "$@" touch "$T/ran" 2>"$T/usage"
  local rc=$?
  if [[ $rc -ne 2 ]]; then fail "$name" "exit status $rc, not 2"
  elif [[ -e $T/ran ]]; then fail "$name" "the program ran"
  elif ! head -1 "$T/usage" | grep -q "^gomalloc run: .*$want"; then
    fail "$name" "first line: $(head -1 "$T/usage")"
  elif ! sed -n 2p "$T/usage" | grep -q '^usage: gomalloc run'; then fail "$name" "no usage"
  else pass "$name"; fi
  rm -f "$T/ran"
}
bad unknown_option_is_refused "unknown option --bogus" --bogus --
bad missing_file_argument_is_refused "--profile needs a FILE" --profile --
bad missing_file_argument_at_the_end "--heap-map needs a FILE" --heap-map=
bad duration_without_unit_is_refused "--interval 10: expected" --metrics m --interval 10 --
bad fractional_duration_is_refused "--interval 1.5s: expected" --metrics m --interval 1.5s --
bad zero_duration_is_refused "--interval 0ms: expected" --metrics m --interval 0ms --
bad interval_without_metrics_is_refused "needs --metrics" --interval 10ms --
bad bad_profile_rate_is_refused "--profile-rate lots: expected" --profile-rate lots --
"$GM" run --stats 2>"$T/usage"
expect no_command_exits_2 test $? = 2
expect no_command_is_said grep -q "^gomalloc run: no command to run" "$T/usage"
"$GM" run --help >"$T/help"
expect run_help_lists_the_options grep -q -- "--interval DURATION" "$T/help"
"$GM" help >"$T/help"
expect help_names_GOMALLOC_LIBRARY grep -q GOMALLOC_LIBRARY "$T/help"
expect help_lists_plot grep -q "plot FILE -o OUT.svg" "$T/help"
"$GM" plot 2>"$T/plot"
expect plot_is_a_command_now test "$(grep -c 'unknown command' "$T/plot")" = 0

# ---- Finding the library from a copy of the binary -----------------------------

mkdir -p "$T/alone" "$T/inst/bin" "$T/inst/lib" "$T/with space/bin"
cp "$GM" "$T/alone/gomalloc"
cp "$GM" "$T/inst/bin/gomalloc"
cp "$LIB" "$T/inst/lib/libgomalloc.so"
cp "$GM" "$LIB" "$T/with space/bin/"

# refused NAME WANT-IN-MESSAGE COMMAND...: exit 127, a clear message, nothing run.
refused() {
  local name=$1 want=$2
  shift 2
  "$@" run -- touch "$T/ran" 2>"$T/msg"
  local rc=$?
  if [[ $rc -ne 127 ]]; then fail "$name" "exit status $rc, not 127"
  elif [[ -e $T/ran ]]; then fail "$name" "the program ran without the library"
  elif ! grep -q "^gomalloc: .*$want" "$T/msg"; then fail "$name" "message: $(cat "$T/msg")"
  else pass "$name"; fi
  rm -f "$T/ran"
}
refused missing_GOMALLOC_LIBRARY_fails_clearly "cannot use GOMALLOC_LIBRARY=$T/nonexistent.so" \
  env GOMALLOC_LIBRARY="$T/nonexistent.so" "$T/alone/gomalloc"
refused non_library_GOMALLOC_LIBRARY_fails_clearly "not a 64-bit ELF shared object" \
  env GOMALLOC_LIBRARY=/etc/passwd "$T/alone/gomalloc"
refused library_path_with_a_space_fails_clearly "LD_PRELOAD cannot carry" \
  "$T/with space/bin/gomalloc"

preloaded() { "$@" run -- sh -c 'printf %s "$LD_PRELOAD"'; }
expect GOMALLOC_LIBRARY_serves_a_copied_binary \
  test "$(preloaded env GOMALLOC_LIBRARY="$LIB" "$T/alone/gomalloc")" = "$LIB"
GOMALLOC_LIBRARY=$LIB "$T/alone/gomalloc" run --stats -- ls / >/dev/null 2>"$T/alone.txt"
expect GOMALLOC_LIBRARY_copy_prints_the_summary has_summary "$T/alone.txt" ls
expect build_tree_serves_a_copied_binary test "$(preloaded "$T/alone/gomalloc")" = "$LIB"
expect install_layout_uses_its_own_lib \
  test "$(preloaded "$T/inst/bin/gomalloc")" = "$(realpath "$T/inst/lib/libgomalloc.so")"
expect library_next_to_the_binary_comes_first \
  test "$(preloaded env GOMALLOC_LIBRARY="$T/inst/lib/libgomalloc.so" "$GM")" = "$LIB"

if ((FAILED)); then
  echo "$FAILED case(s) failed"
  exit 1
fi
echo "all cases passed"
