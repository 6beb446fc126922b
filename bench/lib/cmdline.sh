# bench/lib/cmdline.sh — the command that ran a bench script, as one string
# to paste back into a shell, for the "Command:" line of its report: plain
# words as they are, anything else quoted with printf %q.
# usage: CMDLINE=$(bench_cmdline ./bench/NAME.sh "$@")
bench_cmdline() {
  local out=$1 a
  shift
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_.,/=:+-]+$ ]]; then out+=" $a"; else out+=" $(printf '%q' "$a")"; fi
  done
  printf '%s' "$out"
}
