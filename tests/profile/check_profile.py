#!/usr/bin/env python3
"""Heap profiles of gomalloc, read back with `go tool pprof -raw`.

Checks (each prints "ok  NAME" or "FAIL NAME: why"; any failure fails):
  accuracy     three C sites in a known byte ratio (1 : 3 : 10, mixed sizes,
               part freed) at the default rate: alloc_space and inuse_space
               shares within 10% of the truth the program prints
  format       Go's sample types, period type and period, a "bytes" label,
               no gomalloc or malloc frame left at the top of a stack
  cxx          C++ frames demangled, operator new dropped
  dlopen       a dlopen'ed library's function named, its mapping with the
               build ID readelf reports
  real         preloaded python3, sqlite3 and git write profiles pprof reads
  launcher     `gomalloc run --profile F -- CMD` writes F
  pid          %p gives each process of a tree its own file
  signal       GOMALLOC_PROFILE_SIGNAL writes the profile while CMD runs
Exit 77 (skipped) when no Go toolchain can be found or installed.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

FAILED = []


def report(name, ok, why=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + why), flush=True)
    if not ok:
        FAILED.append(name)


def find_go():
    for cand in [shutil.which("go"), "/usr/local/go/bin/go", "/usr/lib/go/bin/go"]:
        if cand and os.access(cand, os.X_OK):
            return cand
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing golang-go for `go tool pprof`", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-qq", "golang-go"], env=env,
                       stdout=subprocess.DEVNULL)
        return shutil.which("go")
    return None


class Profile:
    """What `go tool pprof -raw` prints: samples, locations, mappings."""

    def __init__(self, text):
        self.text = text
        self.types = []
        self.samples = []  # (values, [location ids], {label: [values]})
        self.functions = {}  # location id -> [function names, innermost first]
        self.mappings = []  # (start, limit, file, build id)
        self.period_type = self.period = None
        section = None
        for line in text.splitlines():
            if line.startswith("PeriodType:"):
                self.period_type = line.split(":", 1)[1].strip()
            elif line.startswith("Period:"):
                self.period = int(line.split(":", 1)[1])
            elif line in ("Samples:", "Locations", "Mappings"):
                section = line
            elif section == "Samples:" and not self.types:
                self.types = [t.replace("[dflt]", "") for t in line.split()]
                self.default = [t for t in line.split() if "[dflt]" in t]
            elif section == "Samples:" and ":" in line and "[" not in line:
                vals, locs = line.split(":", 1)
                self.samples.append(([int(v) for v in vals.split()],
                                     [int(l) for l in locs.split()], {}))
            elif section == "Samples:" and "[" in line and self.samples:
                key, vals = line.strip().split(":", 1)
                self.samples[-1][2][key] = vals.strip("[] ").split()
            elif section == "Locations":
                m = re.match(r"\s*(\d+): 0x[0-9a-f]+ M=\d+ (.*)", line)
                if m:
                    loc = int(m.group(1))
                    self.functions[loc] = [m.group(2)]
                elif line.startswith("             ") and self.functions:
                    self.functions[loc].append(line.strip())
            elif section == "Mappings":
                m = re.match(r"\d+: (0x[0-9a-f]+)/(0x[0-9a-f]+)/0x[0-9a-f]+ (\S*) ?(\S*)", line)
                if m:
                    self.mappings.append((int(m.group(1), 16), int(m.group(2), 16),
                                          m.group(3), m.group(4)))

    def leaf(self, sample):
        """The innermost function of a sample."""
        locs = sample[1]
        return self.functions.get(locs[0], ["?"])[0].split()[0] if locs else "?"

    def stack_functions(self, sample):
        return [f for loc in sample[1] for f in self.functions.get(loc, [])]

    def value(self, name):
        return self.types.index(name)


GO_ENV = {}


def pprof_raw(go, path):
    """`go tool pprof -raw`: the first call builds pprof into GO_ENV's cache."""
    env = dict(os.environ, **GO_ENV)
    # -symbolize=none: every name must come from the file itself (the
    # binaries need not be at hand).
    r = subprocess.run([go, "tool", "pprof", "-raw", "-symbolize=none", path],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError("pprof failed on %s: %s" % (path, r.stderr.strip()[-300:]))
    return Profile(r.stdout)


def preloaded(lib, profile, rate=None, extra=None):
    env = dict(os.environ, LD_PRELOAD=lib, GOMALLOC_PROFILE=profile)
    if rate is not None:
        env["GOMALLOC_PROFILE_RATE"] = str(rate)
    env.update(extra or {})
    return env


OURS = re.compile(r"^(gm_|gm__|malloc$|calloc$|realloc$|free$|operator new|"
                  r"__libc_malloc|aligned_alloc$|posix_memalign$|memalign$)")


def check_accuracy_and_format(go, args, tmp):
    out = os.path.join(tmp, "sites.pb.gz")
    r = subprocess.run([args.sites, out, "20261203"], capture_output=True, text=True)
    if r.returncode != 0:
        return report("accuracy", False, r.stderr)
    truth = {}
    for line in r.stdout.split("\n"):
        if line.startswith("site_"):
            name, alloc, inuse = line.split()
            truth[name] = (int(alloc), int(inuse))
    p = pprof_raw(go, out)
    want_types = ["alloc_objects/count", "alloc_space/bytes", "inuse_objects/count",
                  "inuse_space/bytes"]
    report("format: sample types", p.types == want_types, str(p.types))
    report("format: default inuse_space", p.default == ["inuse_space/bytes[dflt]"],
           str(p.default))
    report("format: period", p.period_type == "space bytes" and p.period == 512 * 1024,
           "%s %s" % (p.period_type, p.period))
    report("format: bytes label",
           all("bytes" in s[2] for s in p.samples if s[0][1]), "a sample lacks it")
    tops = [p.leaf(s) for s in p.samples]
    report("format: gomalloc frames dropped", not any(OURS.match(t) for t in tops),
           str(sorted(set(t for t in tops if OURS.match(t)))))
    for kind, col in (("alloc_space", 1), ("inuse_space", 3)):
        got = {name: 0 for name in truth}
        for s, top in zip(p.samples, tops):
            if top in got:
                got[top] += s[0][p.value(kind + "/bytes")]
        total_got, total_true = sum(got.values()), sum(t[col // 2] for t in truth.values())
        for name in sorted(truth):
            share_true = truth[name][col // 2] / total_true
            share_got = got[name] / total_got if total_got else 0
            err = share_got / share_true - 1
            print("     %s %s: share %.4f, truth %.4f (%+.1f%%)" %
                  (kind, name, share_got, share_true, 100 * err))
            report("accuracy: %s %s" % (kind, name), abs(err) <= 0.10, "%+.1f%%" % (100 * err))


def check_cxx(go, args, tmp):
    out = os.path.join(tmp, "cxx.pb.gz")
    r = subprocess.run([args.cxx], env=preloaded(args.lib, out, rate=1), capture_output=True,
                       text=True)
    if r.returncode != 0 or not os.path.exists(out):
        return report("cxx", False, "exit %d, %s" % (r.returncode, r.stderr[-300:]))
    p = pprof_raw(go, out)
    tops = [p.leaf(s) for s in p.samples]
    counts = {}
    for s, t in zip(p.samples, tops):
        counts[t] = counts.get(t, 0) + s[0][0]
    report("cxx: shapes::Circle::make() allocated 1000", counts.get("shapes::Circle::make", 0)
           == 1000 or counts.get("shapes::Circle::make(int)", 0) == 1000, str(counts)[:400])
    fill = [t for t in tops if t.startswith("shapes::Pool<long>::fill")]
    report("cxx: template frame demangled", bool(fill), str(sorted(set(tops)))[:400])
    report("cxx: operator new dropped", not any(OURS.match(t) for t in tops),
           str(sorted(set(t for t in tops if OURS.match(t)))))


def build_id(path):
    r = subprocess.run(["readelf", "-n", path], capture_output=True, text=True)
    m = re.search(r"Build ID: ([0-9a-f]+)", r.stdout)
    return m.group(1) if m else None


def check_dlopen(go, args, tmp):
    out = os.path.join(tmp, "dso.pb.gz")
    r = subprocess.run([args.dlopen, args.dso], env=preloaded(args.lib, out, rate=1),
                       capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(out):
        return report("dlopen", False, "exit %d, %s" % (r.returncode, r.stderr[-300:]))
    p = pprof_raw(go, out)
    n = sum(s[0][0] for s in p.samples if p.leaf(s) == "dso_allocate")
    report("dlopen: dso_allocate named, 300 objects", n == 300, "%d" % n)
    dso = os.path.realpath(args.dso)
    maps = [m for m in p.mappings if os.path.realpath(m[2]) == dso]
    want = build_id(args.dso)
    report("dlopen: mapping with build ID", bool(maps) and maps[0][3] == want,
           "mappings %s, readelf %s" % (maps, want))


def check_real(go, args, tmp):
    py = "import json; d = {str(i): [i] * 5 for i in range(200000)}; print(len(json.dumps(d)))"
    programs = [("python3", ["python3", "-c", py], {"PYTHONMALLOC": "malloc"}, None)]
    if shutil.which("sqlite3"):
        sql = ("create table t(a, b); with recursive c(x) as (select 1 union all select x+1 "
               "from c where x < 100000) insert into t select x, hex(randomblob(50)) from c; "
               "select count(*) from t;")
        programs.append(("sqlite3", ["sqlite3", ":memory:"], {}, sql))
    if shutil.which("git"):
        repo = os.path.join(tmp, "repo")
        os.makedirs(repo)
        script = ("cd %s && git init -q && for i in $(seq 50); do echo $i > f$i; done && "
                  "git add . && git -c user.name=t -c user.email=t@t commit -qm m && git log "
                  "--oneline | wc -l" % repo)
        programs.append(("git", ["bash", "-c", script], {}, None))
    for name, cmd, extra, stdin in programs:
        d = os.path.join(tmp, "real-" + name)
        os.makedirs(d)
        env = preloaded(args.lib, os.path.join(d, "%p.pb.gz"), extra=extra)
        r = subprocess.run(cmd, env=env, input=stdin, capture_output=True, text=True)
        files = glob.glob(os.path.join(d, "*.pb.gz"))
        ok = r.returncode == 0 and files
        why = "exit %d, %d files" % (r.returncode, len(files))
        samples = 0
        for f in files:
            try:
                samples += len(pprof_raw(go, f).samples)
            except RuntimeError as e:
                ok, why = False, str(e)
        report("real: %s (%d profiles, %d samples)" % (name, len(files), samples),
               bool(ok) and samples > 0, why)


def check_launcher(go, args, tmp):
    out = os.path.join(tmp, "launched.pb.gz")
    r = subprocess.run([args.gomalloc, "run", "--profile", out, "--", "python3", "-c",
                        "x = [str(i) * 10 for i in range(300000)]"],
                       env=dict(os.environ, PYTHONMALLOC="malloc"), capture_output=True,
                       text=True)
    ok = r.returncode == 0 and os.path.exists(out)
    report("launcher: gomalloc run --profile",
           ok and len(pprof_raw(go, out).samples) > 0, "exit %d %s" % (r.returncode, r.stderr))


def check_pid(go, args, tmp):
    d = os.path.join(tmp, "pids")
    os.makedirs(d)
    env = preloaded(args.lib, os.path.join(d, "heap-%p.pb.gz"))
    # bash, two pythons (the last command is not exec'd in place: `; true`)
    subprocess.run(["bash", "-c", "python3 -c 'print(1)'; python3 -c 'print(2)'; true"],
                   env=env, capture_output=True)
    files = sorted(os.listdir(d))
    report("pid: one profile per process", len(files) >= 3 and
           all(re.fullmatch(r"heap-\d+\.pb\.gz", f) for f in files), str(files))


def check_signal(go, args, tmp):
    out = os.path.join(tmp, "signalled.pb.gz")
    script = ("import os, time, signal\n"
              "keep = [bytearray(1000) for _ in range(20000)]\n"
              "os.kill(os.getpid(), signal.SIGUSR2)\n"
              "for _ in range(1000):\n"
              "    if os.path.exists(%r): break\n"
              "    time.sleep(0.01)\n"
              "print('seen' if os.path.exists(%r) else 'missing', flush=True)\n"
              "os.unlink(%r)\n" % (out, out, out))
    env = preloaded(args.lib, out, extra={"GOMALLOC_PROFILE_SIGNAL": "12",
                                           "PYTHONMALLOC": "malloc"})
    r = subprocess.run(["python3", "-c", script], env=env, capture_output=True, text=True)
    report("signal: written while running", r.stdout.strip() == "seen",
           "%s %s" % (r.stdout, r.stderr[-300:]))
    report("signal: written again at exit", os.path.exists(out) and
           len(pprof_raw(go, out).samples) > 0, "no profile at exit")


def main():
    ap = argparse.ArgumentParser()
    for a in ("build", "lib", "gomalloc", "sites", "cxx", "dlopen", "dso"):
        ap.add_argument("--" + a, required=True)
    args = ap.parse_args()
    go = find_go()
    if not go:
        print("SKIP: no Go toolchain (go tool pprof) and none could be installed")
        return 77
    tmp = tempfile.mkdtemp(prefix="gm-profile-")
    # One Go cache for every pprof call (the build's, kept between runs):
    # `go tool pprof` is compiled on first use.
    cache = os.path.join(args.build, "go-cache")
    GO_ENV.update(GOCACHE=cache, HOME=tmp, PPROF_TMPDIR=tmp,
                  GOPATH=os.path.join(args.build, "go-path"))
    for check in (check_accuracy_and_format, check_cxx, check_dlopen, check_real,
                  check_launcher, check_pid, check_signal):
        try:
            check(go, args, tmp)
        except (RuntimeError, OSError, ValueError) as e:
            report(check.__name__, False, str(e))
    if not FAILED:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failed" % len(FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
