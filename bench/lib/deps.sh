# shellcheck shell=bash
# bench/lib/deps.sh — installing and finding what the benchmark scripts need
# (sourced by bench/run.sh and bench/gc.sh; both define note()).
#
#   have_pkg PKG            true when the Debian package PKG is installed
#   install_pkgs PKG...     apt-get install (with sudo when not root); runs
#                           apt-get update first when there are no package
#                           lists, and again when the install fails
#   ensure_pkgs PKG...      install those of PKG... that are missing (a note
#                           and status 1 when that fails; nothing without
#                           dpkg/apt-get)
#   find_lib PKG NAME...    the first library file NAME that exists, looked
#                           up in PKG's file list, then in the usual
#                           directories (needs MULTIARCH set)

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

ensure_pkgs() {
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    note "no dpkg/apt-get: not installing anything"
    return 0
  fi
  local missing=() p
  for p in $(printf '%s\n' "$@" | awk 'NF && !seen[$0]++'); do
    have_pkg "$p" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  note "installing ${missing[*]}"
  install_pkgs "${missing[@]}" || { note "could not install ${missing[*]}; what needs them is skipped"; return 1; }
}

find_lib() {
  local pkg=$1 name f
  shift
  for name in "$@"; do
    if command -v dpkg >/dev/null 2>&1; then
      while IFS= read -r f; do
        [ "$(basename "$f")" = "$name" ] && [ -e "$f" ] && { echo "$f"; return 0; }
      done < <(dpkg -L "$pkg" 2>/dev/null || true)
    fi
    for f in "/usr/lib/${MULTIARCH:-x86_64-linux-gnu}/$name" "/usr/lib/$name" "/usr/local/lib/$name" "/usr/lib64/$name"; do
      [ -e "$f" ] && { echo "$f"; return 0; }
    done
  done
  return 1
}
