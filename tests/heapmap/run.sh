#!/bin/bash
# Usage: run.sh HEAPMAP_LAYOUT OUTDIR
# Builds the known heap, writes its maps, loads them in headless Chromium
# and checks what they show (check.py). Exit 77 (skipped) when Chromium is
# missing and cannot be installed (not root, or no apt-get).
set -euo pipefail
prog=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)

find_chromium() {
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 1
}

if ! chrome=$(find_chromium); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "heapmap: installing chromium with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y chromium >/dev/null 2>&1 ||
      { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
  fi
  if ! chrome=$(find_chromium); then
    echo "heapmap: SKIPPED: chromium is not installed (as root: apt-get install -y chromium)"
    exit 77
  fi
fi
command -v python3 >/dev/null || { echo "heapmap: SKIPPED: python3 is missing"; exit 77; }

rm -rf "$out"
mkdir -p "$out"
"$prog" layout "$out"
"$prog" churn "$out"
exec python3 "$here/check.py" --chromium "$chrome" --dir "$out"
