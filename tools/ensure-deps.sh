#!/bin/sh
# Installs the build tools and libraries (and python3, which `make demo`
# runs) a fresh Debian machine may lack (needs root for apt-get).
missing=""
for t in cmake make gcc g++ clang python3 gdb; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
pkgs="$missing"
# zlib gzips heap profiles.
[ -f /usr/include/zlib.h ] || pkgs="$pkgs zlib1g-dev"
[ -z "$pkgs" ] && exit 0
echo "gomalloc: installing$pkgs"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $pkgs
