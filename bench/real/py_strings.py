"""py_strings — string and regex heavy Python.

Generates a log-like text of LINES lines (timestamps, hosts, e-mail
addresses, paths, numbers, words), then in each of ROUNDS rounds: splits it
into lines and words, counts words in a dict, extracts fields with several
regular expressions (findall, finditer with groups, sub with a callback),
rewrites and re-joins the lines with f-strings, str.replace and case
changes, and round-trips the text through UTF-8 bytes.

usage: python3 py_strings.py [ROUNDS=2] [LINES=30000]
prints: py_strings rounds=... lines=... checksum=<sha256 prefix>
Run with PYTHONMALLOC=malloc so that objects go through malloc.
"""
import hashlib
import random
import re
import sys

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi "
         "omicron pi rho sigma tau upsilon phi chi psi omega request response "
         "timeout retry cache miss hit error warning info debug connect close "
         "read write open flush commit rollback").split()
HOSTS = ["db%02d.example.net" % i for i in range(40)] + ["web%02d.example.org" % i for i in range(60)]
LEVELS = ["INFO", "WARN", "ERROR", "DEBUG", "TRACE"]

RE_EMAIL = re.compile(r"\b([a-z][a-z0-9._]*)@([a-z0-9.-]+\.[a-z]{2,})\b")
RE_KV = re.compile(r"(\w+)=(\"[^\"]*\"|\S+)")
RE_NUM = re.compile(r"-?\d+(?:\.\d+)?")
RE_PATH = re.compile(r"(/[\w.-]+)+")
RE_TS = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)")


def make_text(rng, nlines):
    out = []
    for i in range(nlines):
        ts = "2024-%02d-%02dT%02d:%02d:%02d" % (rng.randint(1, 12), rng.randint(1, 28),
                                             rng.randrange(24), rng.randrange(60), rng.randrange(60))
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 14)))
        user = "%s.%s%d" % (rng.choice(WORDS), rng.choice(WORDS), rng.randrange(100))
        path = "/" + "/".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5))) + ".dat"
        out.append(f'{ts} {rng.choice(LEVELS)} host={rng.choice(HOSTS)} user={user}@{rng.choice(HOSTS)} '
                   f'path={path} ms={rng.random() * 1000:.3f} n={rng.randint(-500, 50000)} '
                   f'msg="{words}"')
    return "\n".join(out) + "\n"


def one_round(text, h):
    lines = text.splitlines()
    counts = {}
    for line in lines:
        for w in line.split():
            counts[w] = counts.get(w, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:50]
    h.update(repr(top).encode())

    domains = {}
    for user, dom in RE_EMAIL.findall(text):
        domains[dom] = domains.get(dom, 0) + len(user)
    h.update(repr(sorted(domains.items())).encode())

    fields = {}
    for line in lines[::3]:
        for k, v in RE_KV.findall(line):
            fields.setdefault(k, []).append(v.strip('"'))
    h.update(repr({k: (len(v), max(v), min(v)) for k, v in sorted(fields.items())}).encode())

    total = 0.0
    for m in RE_NUM.finditer(text):
        total += float(m.group(0))
    h.update(("%.3f" % total).encode())

    def mask(m):
        return "<%d:%s>" % (len(m.group(0)), m.group(0)[-4:].upper())
    masked = RE_PATH.sub(mask, text)
    h.update(hashlib.sha256(masked.encode()).digest())

    rewritten = []
    for line in lines:
        m = RE_TS.match(line)
        y, mo, d = m.group(1), m.group(2), m.group(3)
        level = line.split(" ", 2)[1]
        rest = line[len(m.group(0)):].replace("example", "ex").replace("=", ": ")
        rewritten.append(f"[{d}/{mo}/{y}] {level.lower():>5} |{rest.title()[:120]}")
    joined = "\n".join(sorted(rewritten, key=len))
    data = joined.encode("utf-8")
    back = data.decode("utf-8")
    h.update(str(len(back)).encode())
    h.update(back[-200:].encode())
    parts = back.split("|")
    h.update(str(sum(len(p) for p in parts)).encode())


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    nlines = int(sys.argv[2]) if len(sys.argv) > 2 else 30000
    rng = random.Random(4242)
    h = hashlib.sha256()
    for _ in range(rounds):
        text = make_text(rng, nlines)
        one_round(text, h)
    print("py_strings rounds=%d lines=%d checksum=%s" % (rounds, nlines, h.hexdigest()[:16]))


if __name__ == "__main__":
    main()
