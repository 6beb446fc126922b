"""git_gen — generate the source tree and the change sets of the git workload.

usage: python3 git_gen.py OUTDIR FILES COMMITS
Writes OUTDIR/base/ (FILES text files of 1-12 KiB, C-like lines, in 2-level
directories) and OUTDIR/v1 .. OUTDIR/vCOMMITS/, each holding the files that
commit k changes (about 3% of the tree: edited lines, inserted and appended
blocks, and a few new files), with their full new content. Deterministic:
the same arguments give the same bytes.
"""
import os
import random
import sys

WORDS = ("buffer count index value state node list table entry cache lock page "
         "span class size free alloc heap arena chunk block bits mask offset "
         "limit next prev head tail root key hash item slot queue").split()
TYPES = ["int", "size_t", "uint64_t", "char *", "struct node *", "void *", "double"]


def line(rng):
    k = rng.randrange(6)
    a, b, c = rng.choice(WORDS), rng.choice(WORDS), rng.choice(WORDS)
    if k == 0:
        return "    %s %s_%s = %s_%s(%d);" % (rng.choice(TYPES), a, b, c, a, rng.randrange(1000))
    if k == 1:
        return "    if (%s->%s > %d) return %s_%s(%s);" % (a, b, rng.randrange(4096), c, b, a)
    if k == 2:
        return "    /* %s %s %s: %s */" % (a, b, c, " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))))
    if k == 3:
        return "    for (size_t i = 0; i < %s_%s; i++) %s[i] += %s[i] ^ %d;" % (a, b, c, a, rng.randrange(256))
    if k == 4:
        return "    %s->%s = %s->%s + %d;" % (a, b, c, a, rng.randrange(100))
    return ""


def content(rng, nfunc):
    out = ["#include \"%s.h\"" % rng.choice(WORDS), ""]
    for f in range(nfunc):
        out.append("static int %s_%s_%d(struct %s *%s)" % (rng.choice(WORDS), rng.choice(WORDS), f,
                                                          rng.choice(WORDS), rng.choice(WORDS)))
        out.append("{")
        out.extend(line(rng) for _ in range(rng.randint(4, 30)))
        out.append("}")
        out.append("")
    return "\n".join(out) + "\n"


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main():
    outdir, nfiles, ncommits = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(2024)
    files = {}
    for i in range(nfiles):
        path = "src/%s%02d/%s_%04d.c" % (WORDS[i % len(WORDS)], (i // len(WORDS)) % 16,
                                         rng.choice(WORDS), i)
        files[path] = content(rng, rng.randint(1, 10))
    for path, text in files.items():
        write(os.path.join(outdir, "base", path), text)
    names = sorted(files)
    for k in range(1, ncommits + 1):
        vdir = os.path.join(outdir, "v%d" % k)
        changed = rng.sample(names, max(1, len(names) * 3 // 100))
        for path in changed:
            lines = files[path].split("\n")
            for _ in range(rng.randint(1, 6)):
                lines[rng.randrange(len(lines))] = line(rng)
            pos = rng.randrange(len(lines))
            lines[pos:pos] = [line(rng) for _ in range(rng.randint(0, 12))]
            text = "\n".join(lines)
            if rng.random() < 0.3:
                text += content(rng, 1)
            files[path] = text
            write(os.path.join(vdir, path), text)
        for j in range(rng.randint(0, 4)):
            path = "src/new/c%03d_%d.c" % (k, j)
            files[path] = content(rng, rng.randint(1, 4))
            names.append(path)
            write(os.path.join(vdir, path), files[path])
    print("git_gen files=%d commits=%d bytes=%d" % (nfiles, ncommits, sum(len(t) for t in files.values())))


if __name__ == "__main__":
    main()
