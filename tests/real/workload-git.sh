#!/usr/bin/env bash
# tests/real: git workload, run by run.sh in an empty directory with HOME,
# author and committer set.  Every commit has a fixed date, so every object
# id is the same from run to run.
set -euo pipefail

n=0
commit() {  # commit MESSAGE: a commit dated one day after the previous one
  n=$((n + 1))
  local d
  d=$(printf '@%d +0000' $((1700000000 + n * 86400)))
  GIT_AUTHOR_DATE=$d GIT_COMMITTER_DATE=$d git commit -q -m "$1"
}
# A deterministic generator of text: line L of file F, 40-90 characters.
gen() {  # gen SEED LINES
  awk -v s="$1" -v n="$2" 'BEGIN {
    x = s * 7919 + 17
    for (i = 1; i <= n; i++) {
      x = (x * 48271) % 2147483647
      line = sprintf("%6d %08x", i, x)
      w = 4 + x % 10
      for (j = 0; j < w; j++) { x = (x * 48271) % 2147483647; line = line " w" (x % 997) }
      print line
    }
  }'
}

echo "== init"
git -c init.defaultBranch=main init -q repo
cd repo
git config gc.auto 0
git config core.autocrlf false
git config pack.threads 2
git config tag.gpgSign false
git config commit.gpgSign false

echo "== commit 1: 2000 files in 40 directories"
for d in $(seq -w 0 39); do
  mkdir -p "src/d$d"
  for f in $(seq -w 0 49); do gen "1$d$f" $((5 + 10#$f % 37)) >"src/d$d/f$f.txt"; done
done
gen 1 3000 >big.txt
git add -A
commit "initial import"

echo "== commit 2: modify 400 files"
for d in $(seq -w 0 39 | awk 'NR % 2'); do
  for f in $(seq -w 0 2 39); do
    p=src/d$d/f$f.txt
    { head -n 3 "$p"; gen "2$d$f" 4; tail -n +4 "$p"; } >"$p.new" && mv "$p.new" "$p"
  done
done
sed -i 's/w1\([0-9]\)/W1\1/g' big.txt
git add -A
commit "modify every other file"

echo "== commit 3: renames, deletes, new files"
mkdir -p lib
for d in 00 01 02 03 04; do git mv "src/d$d" "lib/m$d"; done
for f in $(seq -w 10 29); do git mv "src/d10/f$f.txt" "src/d11/g$f.txt"; done
git rm -q -r src/d20 src/d21
for f in $(seq -w 0 99); do gen "3$f" 20 >"lib/new$f.txt"; done
git add -A
commit "move, delete, add"

echo "== branch, merge, tag"
git checkout -q -b topic
for f in $(seq -w 0 9); do echo "topic change $f" >>"src/d30/f0$f.txt"; done
git add -A
commit "topic work"
git checkout -q main
for f in $(seq -w 40 49); do echo "main change $f" >>"src/d30/f$f.txt"; done
git add -A
commit "main work"
d=$(printf '@%d +0000' $((1700000000 + (n + 1) * 86400)))
GIT_AUTHOR_DATE=$d GIT_COMMITTER_DATE=$d git merge -q --no-ff -m "merge topic" topic
n=$((n + 1))
GIT_COMMITTER_DATE=$d git tag -a -m "version one" v1
echo "== log"
git log --graph --stat --format=fuller
git log --numstat --format='%H %s' -M HEAD~3..HEAD
echo "== diff"
git diff --stat -M v1~4 v1
git diff -M v1~3 v1~2 -- lib/m00 src/d10 src/d11 | sed -n 1,400p
git diff --word-diff v1~4 v1~3 -- big.txt | sed -n 1,200p
echo "== show, blame, grep, archive, rev-list"
git show --stat v1
git blame -s src/d30/f05.txt
git grep -c 'w99[0-6]' v1 -- src | sed -n 1,50p
git grep -n -e 'w12 ' --and -e 'w34' v1 | sed -n 1,50p
git archive --format=tar v1 | git hash-object --stdin
git archive --format=tar v1 | tar -tf - | sort | sha1sum
git rev-list --objects --all | sort | git hash-object --stdin
git ls-tree -r -l v1 | tail -n 20
git shortlog -s -n --all
echo "== status after edits"
echo "dirty" >>big.txt
rm lib/new00.txt
echo "untracked" >untracked.txt
git status --porcelain=v2 --branch
d=$(printf '@%d +0000' $((1700000000 + 99 * 86400)))
GIT_AUTHOR_DATE=$d GIT_COMMITTER_DATE=$d git stash -q
git stash list
git stash show --stat
git stash pop -q
git checkout -q -- .
rm untracked.txt
echo "== gc --aggressive (2 threads), fsck"
git reflog expire --expire=now --all
git gc -q --aggressive --prune=now
git fsck --full --strict --no-progress --unreachable 2>&1
# The pack written by 2 threads may differ from run to run (delta search
# splits the work as the threads go): only counts are printed.
git count-objects -v | grep -E '^(count|in-pack|packs|prune-packable|garbage):'
echo "== repack with 1 thread: the pack itself is deterministic"
git repack -q -a -d -f --threads=1 --window=50 --depth=50
git count-objects -v | grep -v size-garbage
for p in .git/objects/pack/*.idx; do git verify-pack -s "$p"; done
git verify-pack -v .git/objects/pack/*.idx | sort | git hash-object --stdin
echo "== clone, bundle"
cd ..
git clone -q --no-local repo clone
git -C clone log --format='%H %s' | sed -n 1,3p
git -C repo bundle create ../all.bundle --all 2>/dev/null
git -C clone bundle verify ../all.bundle 2>&1
git -C clone fsck --no-progress 2>&1
echo "== done"
