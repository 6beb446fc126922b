#!/usr/bin/env bash
# Real programs under a preloaded allocator: every workload runs once with
# glibc's malloc and once with LD_PRELOAD=LIB; stdout, stderr and the exit
# status of the two runs must be identical after normalisation.
#
#   tests/real/run.sh LIB [--only NAME,...] [--keep DIR]
#
# Workloads: python sqlite3 git perl tclsh cxx.  See tests/real/README.md.
# shellcheck disable=SC2317  # wl_*, nm_* and cleanup are called indirectly
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ALL_WORKLOADS=(python sqlite3 git perl tclsh cxx)
PY=/usr/bin/python3          # Debian's, not whatever python3 is first on PATH

usage() { echo "usage: $0 LIB [--only NAME,...] [--keep DIR]   (NAME: ${ALL_WORKLOADS[*]})" >&2; exit 2; }

LIB="" ONLY="" KEEP=""
while (($#)); do
  case "$1" in
    --only) [[ $# -ge 2 ]] || usage; ONLY=$2; shift 2 ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    --keep) [[ $# -ge 2 ]] || usage; KEEP=$2; shift 2 ;;
    --keep=*) KEEP=${1#--keep=}; shift ;;
    -h|--help) usage ;;
    -*) echo "real: unknown option $1" >&2; usage ;;
    *) [[ -z $LIB ]] || usage; LIB=$1; shift ;;
  esac
done
[[ -n $LIB ]] || usage
[[ -f $LIB ]] || { echo "real: no such library: $LIB" >&2; exit 2; }
LIB=$(realpath "$LIB")

WORKLOADS=("${ALL_WORKLOADS[@]}")
if [[ -n $ONLY ]]; then
  IFS=, read -r -a WORKLOADS <<<"$ONLY"
  for w in "${WORKLOADS[@]}"; do
    [[ " ${ALL_WORKLOADS[*]} " == *" $w "* ]] || { echo "real: unknown workload '$w'" >&2; usage; }
  done
fi
selected() { [[ " ${WORKLOADS[*]} " == *" $1 "* ]]; }

# ---------------------------------------------------------------- packages
# Python's test package lives in libpython3.X-testsuite on Debian (python3.X
# itself ships test/libregrtest but not the test modules).
pyver() { "$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }
missing=()
need() {  # need PACKAGE TEST-COMMAND...
  local pkg=$1; shift
  "$@" >/dev/null 2>&1 || missing+=("$pkg")
}
if selected python; then
  if [[ -x $PY ]]; then
    need "libpython$(pyver)-testsuite" test -f "/usr/lib/python$(pyver)/test/test_doctest.py"
  else
    missing+=(python3)
  fi
fi
if selected sqlite3; then need sqlite3 test -x /usr/bin/sqlite3; fi
if selected git; then need git test -x /usr/bin/git; fi
if selected perl; then need perl-base test -x /usr/bin/perl; fi
if selected tclsh; then need tcl test -x /usr/bin/tclsh; fi
if selected cxx; then need g++ command -v g++; fi
need binutils command -v nm
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "real: missing packages: ${missing[*]} (not root: run 'apt-get install ${missing[*]}' first)" >&2
    exit 1
  fi
  echo "real: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
  # python3 may just have been installed: now its version is known
  if selected python && ! test -f "/usr/lib/python$(pyver)/test/test_doctest.py"; then
    apt-get install -y -qq "libpython$(pyver)-testsuite" >/dev/null
  fi
fi

# ---------------------------------------------------------------- the library
# A library that does not define malloc would make every comparison pass
# trivially, and ld.so only warns (and goes on) when it cannot preload.
syms=$(nm -D --defined-only "$LIB" 2>/dev/null || true)   # no grep -q in a pipe: SIGPIPE
if ! grep -qw malloc <<<"$syms"; then
  echo "real: $LIB does not export malloc: nothing would be replaced" >&2
  exit 1
fi
rc=0
maps=$(LD_PRELOAD=$LIB cat /proc/self/maps 2>&1) || rc=$?
if ((rc)); then
  echo "real: even cat fails under LD_PRELOAD=$LIB (exit status $rc):" >&2
  echo "$maps" | grep -vF / | head -n 5 >&2
  exit 1
elif ! grep -qF "$LIB" <<<"$maps"; then
  echo "real: LD_PRELOAD=$LIB does not load the library:" >&2
  echo "$maps" | grep -vF /proc | head -n 5 >&2
  exit 1
fi

# ---------------------------------------------------------------- work dir
if [[ -n $KEEP ]]; then
  mkdir -p "$KEEP"
  WORK=$(cd "$KEEP" && pwd)
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/gomalloc-real.XXXXXX")
fi
JOBS=()
kill_tree() {  # kill_tree PID: PID and all its descendants (timeout makes
  local p=$1 c  # its own process group, so killing our job's group is not enough)
  kill -STOP "$p" 2>/dev/null || return 0
  for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do kill_tree "$c"; done
  kill -TERM "$p" 2>/dev/null || true
  kill -CONT "$p" 2>/dev/null || true
}
cleanup() {
  local p
  for p in "${JOBS[@]}"; do kill_tree "$p"; done
  wait 2>/dev/null || true
  [[ -n $KEEP ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The same, fixed environment for both runs.
export LC_ALL=C.UTF-8 TZ=UTC
unset LD_PRELOAD MALLOC_CHECK_ MALLOC_PERTURB_ GLIBC_TUNABLES PYTHONPATH PYTHONHOME \
      PYTHONSTARTUP PERL5LIB PERL5OPT TCLLIBPATH GIT_DIR GIT_WORK_TREE 2>/dev/null || true

TIMEOUT=420   # per run; a hang shows as exit status 124 in one run only

# ---------------------------------------------------------------- workloads
# Each wl_NAME runs in its own directory (cwd), with LD_PRELOAD already set or
# not; it writes the output to compare to stdout/stderr.  nm_NAME (optional)
# filters that output (both streams) to remove what legitimately varies.

PY_TESTS=(
  # containers
  test_list test_tuple test_dict test_set test_deque test_collections
  test_ordered_dict test_userdict test_userlist test_heapq test_bisect
  test_array test_memoryview test_weakref test_copy test_genericalias
  # strings, bytes, text formats
  test_unicode test_bytes test_string test_userstring test_format test_fstring
  test_re test_unicodedata test_codecs test_base64 test_textwrap test_difflib
  test_json test_csv test_configparser test_pprint test_html test_htmlparser
  test_urlparse test_pyexpat test_sax test_minidom test_xml_etree test_plistlib
  test_email test_mailbox
  # serialisation, compression, hashing
  test_pickle test_pickletools test_marshal test_struct test_zlib test_gzip
  test_bz2 test_lzma test_zipfile test_tarfile test_zipimport test_hashlib
  test_hmac test_uuid
  # numbers
  test_int test_long test_float test_complex test_decimal test_fractions
  test_math test_statistics test_random test_ipaddress test_datetime
  # the interpreter: objects, compiler, gc
  test_itertools test_functools test_operator test_sort test_enum
  test_dataclasses test_types test_typing test_class test_descr test_richcmp
  test_scope test_exceptions test_traceback test_generators test_coroutines
  test_patma test_syntax test_compile test_ast test_dis test_inspect
  test_importlib test_gc test_tracemalloc test_sys test_doctest
  test_argparse
  # threads, fork, processes, files
  test_threading test_thread test_threading_local test_queue test_fork1
  test_wait4 test_subprocess test_posix test_os test_select test_mmap
  test_memoryio test_shutil test_glob
)
# regrtest (python3 -m test), but with unittest's verbose per-test lines
# ("test_x (test.test_m.C.test_x) ... ok") without -v: -v also sets
# test.support.verbose, which makes tests print racy thread traces.
PY_REGRTEST='import test.support as s, test.libregrtest as r
runner = s.get_test_runner
s.get_test_runner = lambda stream, verbosity, capture_output=False: runner(stream, 2, capture_output)
r.main()'
wl_python() {
  mkdir -p tmp
  # PYTHONMALLOC=malloc: every object goes through malloc, not pymalloc.
  PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 TMPDIR=$PWD/tmp \
    timeout -k 10 "$TIMEOUT" "$PY" -X faulthandler -c "$PY_REGRTEST" --timeout 300 "${PY_TESTS[@]}"
}
nm_python() {
  sed -E \
    -e 's/^[0-9]+:[0-9]{2}:[0-9]{2} (load avg: [0-9.]+ )?/H:MM:SS /' \
    -e 's/test_python_[0-9]+/test_python_PID/g' \
    -e 's/^(Ran [0-9]+ tests?) in [0-9.]+s$/\1/' \
    -e 's/^(Total duration:) .*/\1 D/' \
    -e 's/ -- test_[a-z0-9_]+ passed in [0-9].*$//' \
    -e '/^test_[a-z0-9_]+ passed in [0-9]/d' \
    -e 's/^(.* test_[a-z0-9_]+ [a-z][a-z ()]*) in [0-9.]+ (ms|sec|min|hour).*$/\1/'
}

wl_sqlite3() {
  timeout -k 10 "$TIMEOUT" /usr/bin/sqlite3 -batch -bail real.db <"$HERE/workload.sql"
}

wl_git() {
  export HOME=$PWD/home GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME='A U Thor' \
    GIT_AUTHOR_EMAIL=author@example.com GIT_COMMITTER_NAME='C O Mitter' \
    GIT_COMMITTER_EMAIL=committer@example.com
  mkdir -p home
  timeout -k 10 "$TIMEOUT" bash "$HERE/workload-git.sh"
}

wl_perl() {
  PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 timeout -k 10 "$TIMEOUT" /usr/bin/perl "$HERE/workload.pl"
}

wl_tclsh() {
  timeout -k 10 "$TIMEOUT" /usr/bin/tclsh "$HERE/workload.tcl"
}

wl_cxx() {
  timeout -k 10 "$TIMEOUT" "$WORK/cxx_threads"
}

# Run one side: $1 = base|preload.  Output: DIR/{stdout,stderr,status}.
run_side() {
  local name=$1 side=$2 dir=$WORK/$1/$2 rc=0
  rm -rf "$dir"; mkdir -p "$dir/run"
  (
    cd "$dir/run"
    [[ $side == preload ]] && export LD_PRELOAD=$LIB
    "wl_$name" >"$dir/stdout" 2>"$dir/stderr" </dev/null
  ) || rc=$?
  echo "$rc" >"$dir/status"
}

normalise() {  # normalise NAME SIDE: the side's report, made comparable
  local name=$1 dir=$WORK/$1/$2 f
  {
    # exit status and stderr first: a short diff then shows how a run died
    echo "==== exit status $(cat "$dir/status")"
    for f in stderr stdout; do
      echo "==== $f"
      # the run's own directory, then addresses (ASLR), then per-workload
      sed -e "s|$dir/run|RUNDIR|g" -e "s|$WORK|WORK|g" "$dir/$f" |
        sed -E 's/0x[0-9a-f]{6,16}/0xADDR/g' |
        if declare -F "nm_$name" >/dev/null; then "nm_$name"; else cat; fi
    done
  } >"$dir/report"
}

fail=0
if selected cxx; then
  g++ -O2 -std=c++17 -pthread -Wall -o "$WORK/cxx_threads" "$HERE/cxx_threads.cc"
fi
for name in "${WORKLOADS[@]}"; do
  start=$SECONDS
  # The two runs side by side: 2 jobs at most.
  JOBS=()
  run_side "$name" base & JOBS+=($!)
  run_side "$name" preload & JOBS+=($!)
  wait "${JOBS[@]}" || true
  JOBS=()
  normalise "$name" base
  normalise "$name" preload
  secs=$((SECONDS - start))
  if ! cmp -s "$WORK/$name/base/report" "$WORK/$name/preload/report"; then
    echo "real: $name DIFFERS (${secs}s)"
    diff -u --label "$name (glibc)" --label "$name (LD_PRELOAD=$LIB)" \
      "$WORK/$name/base/report" "$WORK/$name/preload/report" | head -n 60 || true
    fail=1
  elif [[ $(cat "$WORK/$name/base/status") != 0 ]]; then
    # identical, but the workload itself is broken: nothing was really compared
    echo "real: $name FAILED: exit status $(cat "$WORK/$name/base/status") in both runs (${secs}s)"
    tail -n 20 "$WORK/$name/base/report"
    fail=1
  else
    echo "real: $name ok (${secs}s)"
  fi
done
[[ -z $KEEP ]] || echo "real: outputs kept in $WORK"
exit $fail
