#!/bin/sh
# Installs the build tools (and python3, which `make demo` runs) a fresh Debian
# machine may lack (needs root for apt-get).
missing=""
for t in cmake make gcc g++ clang python3; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
[ -z "$missing" ] && exit 0
pkgs=""
for t in $missing; do
  case "$t" in g++) pkgs="$pkgs g++";; clang) pkgs="$pkgs clang";; *) pkgs="$pkgs $t";; esac
done
echo "gomalloc: installing$pkgs"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $pkgs
