#!/usr/bin/env bash
# bench/real/git.sh — the timed part of the git workload of bench/run.sh.
#
# usage: git.sh REPO PATCHDIR COMMITS
# REPO is a fresh copy of the generated tree (bench/real/git_gen.py) with no
# .git; PATCHDIR holds 1.diff .. COMMITS.diff (made from the change sets by
# run.sh's setup). In REPO: git init, add and commit the whole tree, then
# apply and commit each patch, then `git log --stat` and `git log -p` (into
# REPO/../log.txt), `git gc`, `git fsck`. Dates, names and config are fixed,
# so the commit ids are the same every run: run.sh checks HEAD against the
# id its setup got with the same steps. Every git process (and this shell)
# runs under the LD_PRELOADed allocator: the environment is inherited.
set -euo pipefail
repo=$1 patches=$2 commits=$3
git=${GIT:-git} # run.sh passes /usr/bin/git

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME=$repo/.. LC_ALL=C TZ=UTC
export GIT_AUTHOR_NAME="Bench Author" GIT_AUTHOR_EMAIL="author@example.invalid"
export GIT_COMMITTER_NAME="Bench Committer" GIT_COMMITTER_EMAIL="committer@example.invalid"
# no automatic gc/maintenance after commits: the one gc is explicit, below
export GIT_CONFIG_COUNT=3 GIT_CONFIG_KEY_0=gc.auto GIT_CONFIG_VALUE_0=0 \
  GIT_CONFIG_KEY_1=maintenance.auto GIT_CONFIG_VALUE_1=false \
  GIT_CONFIG_KEY_2=core.fsync GIT_CONFIG_VALUE_2=none

at() { export GIT_AUTHOR_DATE="@$((1700000000 + $1 * 3600)) +0000" GIT_COMMITTER_DATE="@$((1700000000 + $1 * 3600 + 60)) +0000"; }

cd "$repo"
"$git" init -q -b main .
"$git" add -A
at 0
"$git" commit -q -m "import the generated tree"
for ((k = 1; k <= commits; k++)); do
  "$git" apply --index --whitespace=nowarn "$patches/$k.diff"
  at "$k"
  "$git" commit -q -m "change set $k"
done
{
  "$git" log --stat --format='%H %s'
  "$git" log -p -n 5 --format='%H %an %ad'
} >../log.txt
"$git" gc -q
"$git" fsck --no-progress
"$git" count-objects -v | grep -E '^(count|in-pack|packs):' >../objects.txt
"$git" rev-parse HEAD >../head.txt
