#!/usr/bin/env python3
"""Test of the GDB extension (tools/gdb/gomalloc.py) on tests/gdb/gdb_heap.c.

  run.py --gdb GDB --ext gomalloc.py --prog gdb_heap --work DIR --mode live|core
         [--shared --autoload LIBDIR] [--gdb-core]

live: gdb runs the program to gdb_heap_stop() and inspects the process.
core: the program abort()s and gdb reads its core dump (the kernel's, or,
      when core_pattern pipes cores away or none appears, one written by
      gdb's generate-core-file at the same stop; --gdb-core forces that).
--shared: the program uses libgomalloc.so, and the extension must be
      auto-loaded from LIBDIR/libgomalloc.so-gdb.py (nothing is sourced).

The program writes what it knows (addresses, span counts, gm_read_memstats)
to a facts file; every gm command's output is checked against it.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys

FAILURES = []


def check(cond, what, output=None):
    if cond:
        print("ok    " + what)
        return
    print("FAIL  " + what)
    if output is not None:
        print("      --- output ---\n      " + output.replace("\n", "\n      "))
    FAILURES.append(what)


def read_facts(path):
    facts = {}
    with open(path) as f:
        for line in f:
            k, v = line.split()
            facts[k] = int(v, 0)
    if facts.get("done") != 1:
        sys.exit("the program did not finish writing %s" % path)
    return facts


def gdb_base(args):
    cmd = [args.gdb, "-batch", "-nx", "-iex", "set debuginfod enabled off",
           "-iex", "set pagination off", "-iex", "set width 0"]
    if args.shared:
        # Auto-load only: the test fails if gdb does not pick the script up.
        cmd += ["-iex", "add-auto-load-safe-path " + args.autoload]
    else:
        cmd += ["-ex", "source " + args.ext]
    return cmd


def gdb_run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=240)
    return p.stdout


def make_core(args, facts_path):
    """The kernel's core of `gdb_heap abort`, else gdb's generate-core-file."""
    pattern = ""
    try:
        with open("/proc/sys/kernel/core_pattern") as f:
            pattern = f.read().strip()
    except OSError:
        pass
    if not pattern.startswith("|") and not args.gdb_core:
        for name in os.listdir(args.work):
            if name.startswith("core"):
                os.unlink(os.path.join(args.work, name))
        p = subprocess.run([args.prog, "abort", facts_path], cwd=args.work)
        check(p.returncode == -signal.SIGABRT, "the program aborts (status %d)" % p.returncode)
        cores = [n for n in os.listdir(args.work) if n.startswith("core")]
        if cores:
            print("info  kernel core dump: %s (core_pattern %r)" % (cores[0], pattern))
            return os.path.join(args.work, cores[0])
    core = os.path.join(args.work, "gdb.core")
    print("info  %s: gdb generate-core-file" % (
        "--gdb-core" if args.gdb_core else "no kernel core (core_pattern %r)" % pattern))
    out = gdb_run([args.gdb, "-batch", "-nx", "-iex", "set debuginfod enabled off",
                   "-ex", "break gdb_heap_stop", "-ex", "run",
                   "-ex", "generate-core-file " + core, "-ex", "kill",
                   "--args", args.prog, "stop", facts_path])
    if not os.path.exists(core):
        sys.exit("could not produce a core file:\n" + out)
    return core


def sections(out):
    """Split gdb's output at the `echo @@ name` markers."""
    res, name = {}, None
    for line in out.splitlines():
        m = re.match(r"^@@ (\S+)$", line)
        if m:
            name = m.group(1)
            res[name] = ""
        elif name:
            res[name] += line + "\n"
    return res


def commands(facts, live):
    """(name, gm command). Addresses: globals of the program by name in the
    live run (exercising expressions), the printed numbers on the core."""
    if live:
        a = {"live": "small48[50]", "lfree": "small48[10]", "rfree": "small48[20]",
             "large": "(char *)large_block + 4096", "gc": "kept[20]"}
    else:
        a = {"live": hex(facts["live_ptr"]), "lfree": hex(facts["freed_local_ptr"]),
             "rfree": hex(facts["freed_remote_ptr"]), "large": hex(facts["large_ptr"] + 4096),
             "gc": hex(facts["gc_ptr"])}
    cls = "small_class" if live else str(facts["small_class"])
    cmds = [("memstats", "gm memstats"),
            ("spans", "gm spans"),
            ("spans_small", "gm spans " + cls),
            ("spans_large", "gm spans large"),
            ("span_small", "gm span " + a["live"]),
            ("obj_live", "gm object " + a["live"]),
            ("obj_lfree", "gm object " + a["lfree"]),
            ("obj_rfree", "gm object " + a["rfree"]),
            ("obj_large", "gm object " + a["large"]),
            ("span_large", "gm span " + a["large"]),
            ("obj_gc", "gm object " + a["gc"]),
            ("span_gc", "gm span " + a["gc"]),
            ("obj_outside", "gm object 0x10"),
            ("spans_bad", "gm spans nonsense")]
    if live:
        cmds.append(("memstats_call", "gm memstats --call"))
    return cmds


def row(text, label):
    """A bitmap drawn over several lines: the label's line and the
    continuation lines after it, joined."""
    bits, on = "", False
    for line in text.splitlines():
        if line.startswith("  %-12s" % label):
            bits, on = line[14:].split("  ")[0], True
        elif on and line.startswith(" " * 14) and set(line.strip()) <= {"0", "1"}:
            bits += line.strip()
        else:
            on = False
    return bits


def verify(s, facts, args, live):
    small = facts["small_class"]

    m = s.get("memstats", "")
    got = {k: int(v) for k, v in re.findall(r"^  (\w+)\s+(\d+)", m, re.M)}
    for k in ("heap_inuse", "heap_objects", "heap_alloc", "heap_sys", "heap_released",
              "mallocs", "frees", "num_gc"):
        check(got.get(k) == facts[k], "gm memstats %s = %s (gm_read_memstats: %d)"
              % (k, got.get(k), facts[k]), m)
    check(got.get("heap_idle") == facts["heap_sys"] - facts["heap_inuse"],
          "gm memstats heap_idle = heap_sys - heap_inuse", m)

    if live:
        c = s.get("memstats_call", "")
        check("from gm_read_memstats" in c and " *" not in c and "heap_objects" in c,
              "gm memstats --call: gm_read_memstats agrees on every field", c)

    sp = s.get("spans_small", "")
    rows = [l for l in sp.splitlines() if l.startswith("0x")]
    n = int(re.search(r"^(\d+) span\(s\)", sp, re.M).group(1)) if "span(s)" in sp else -1
    ok = n == facts["small_spans"] if not args.shared else n >= facts["small_spans"]
    check(ok and n == len(rows), "gm spans %d lists %d span(s) (program: %d)"
          % (small, n, facts["small_spans"]), sp)
    check(rows and all(r.split()[3] == str(small) and r.split()[5] == "48" for r in rows),
          "gm spans %d: every row is class %d, elemsize 48" % (small, small), sp)
    allsp = s.get("spans", "")
    check(any(l.startswith("%#x" % (facts["large_ptr"])) and " LARGE " in l
              for l in allsp.splitlines()), "gm spans lists the large block's span", allsp)
    sl = s.get("spans_large", "")
    check(re.search(r"^%#x\s+%d LARGE\s+0\s+1\s+%d\s+1/1 " % (
        facts["large_ptr"], facts["large_pages"], facts["large_pages"] * 8192), sl, re.M),
        "gm spans large: %d pages, LARGE, 1/1" % facts["large_pages"], sl)

    span = s.get("span_small", "")
    mb = re.search(r"^span (0x[0-9a-f]+) .*class %d, spanclass %d \(noscan\)" % (small, 2 * small + 1),
                   span, re.M)
    check(mb is not None, "gm span: the live object's span is class %d (48 B)" % small, span)
    check("elemsize 48, nelems 170" in span, "gm span: elemsize 48, 170 slots", span)
    if mb:
        base = int(mb.group(1), 16)
        lslot = (facts["freed_local_ptr"] - base) // 48
        rslot = (facts["freed_remote_ptr"] - base) // 48
        vslot = (facts["live_ptr"] - base) // 48
        lf, rf, live_bits = row(span, "localFree"), row(span, "remoteFree"), row(span, "live")
        alloc, cache = row(span, "allocBits"), row(span, "allocCache")
        check(len(alloc) == 170 and len(lf) == 170 and len(rf) == 170 and len(live_bits) == 170,
              "gm span: allocBits, localFree, remoteFree, live drawn with 170 columns", span)
        check(len(cache) == 64, "gm span: allocCache drawn as 64 bits", span)
        check(lf[lslot:lslot + 1] == "1" and lf.count("1") == 1,
              "gm span: localFree has exactly slot %d" % lslot, span)
        check(rf[rslot:rslot + 1] == "1" and rf.count("1") == 1,
              "gm span: remoteFree has exactly slot %d" % rslot, span)
        check(live_bits[vslot:vslot + 1] == "1" and live_bits[lslot:lslot + 1] == "0"
              and live_bits.count("1") == 98, "gm span: 98 live slots, the freed ones not", span)

    o = s.get("obj_live", "")
    check(re.search(r"object %#x\.\." % facts["live_ptr"], o) and "status:     allocated" in o,
          "gm object: small48[50] allocated, object base right", o)
    o = s.get("obj_lfree", "")
    check("status:     free" in o and "localFree" in o, "gm object: the freed object is free (localFree)", o)
    o = s.get("obj_rfree", "")
    check("status:     free" in o and "remoteFree" in o,
          "gm object: the object freed by another thread is free (remoteFree)", o)
    o = s.get("obj_large", "")
    check("in large span %#x (%d page(s), LARGE)" % (facts["large_ptr"], facts["large_pages"]) in o
          and "offset 4096" in o and "status:     allocated" in o,
          "gm object: interior of the large block: its span, %d pages" % facts["large_pages"], o)
    o = s.get("span_large", "")
    check("%d page(s), class 0" % facts["large_pages"] in o and
          "%d bytes" % (facts["large_pages"] * 8192) in o, "gm span: the large block's pages", o)
    o = s.get("obj_gc", "")
    check("object %#x.." % facts["gc_ptr"] in o and "(class %d," % facts["gc_class"] in o
          and "gc kind:    conservative" in o, "gm object: gm_new object, class and gc kind", o)
    check("status:     allocated" in o and "marked:     yes" in o,
          "gm object: the kept gm_new object is marked after gm_gc", o)
    o = s.get("span_gc", "")
    check("gcmarkBits" in o and "sweepgen" in o, "gm span: collected span draws gcmarkBits", o)
    o = s.get("obj_outside", "")
    check("not in the gomalloc heap" in o, "gm object 0x10: clear error", o)
    o = s.get("spans_bad", "")
    check("size class must be" in o, "gm spans nonsense: clear error", o)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gdb", required=True)
    ap.add_argument("--ext", required=True)
    ap.add_argument("--prog", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--mode", choices=["live", "core"], required=True)
    ap.add_argument("--shared", action="store_true")
    ap.add_argument("--autoload")
    ap.add_argument("--gdb-core", action="store_true",
                    help="make the core with generate-core-file, not the kernel")
    args = ap.parse_args()
    if args.shared and not args.autoload:
        ap.error("--shared needs --autoload LIBDIR")
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    facts_path = os.path.join(args.work, "facts")
    live = args.mode == "live"

    if live:
        target = ["-ex", "break gdb_heap_stop", "-ex", "run"]
        tail = ["--args", args.prog, "stop", facts_path]
        core = None
    else:
        core = make_core(args, facts_path)
        target, tail = [], [args.prog, core]
    gm = []
    if live:
        # The facts exist once the program has stopped: the live commands
        # name the program's globals instead of numbers.
        cmds = commands(None, True)
    else:
        cmds = commands(read_facts(facts_path), False)
    for name, c in cmds:
        gm += ["-ex", "echo @@ %s\\n" % name, "-ex", c]
    if args.shared:
        gm = ["-ex", "echo @@ autoload\\n", "-ex", "info auto-load python-scripts"] + gm
    out = gdb_run(gdb_base(args) + target + gm + tail)
    with open(os.path.join(args.work, "gdb.out"), "w") as f:
        f.write(out)
    facts = read_facts(facts_path)
    s = sections(out)
    if args.shared:
        a = s.get("autoload", "")
        check(re.search(r"^Yes\s+\S*libgomalloc\.so-gdb\.py", a, re.M),
              "gdb auto-loaded libgomalloc.so-gdb.py", a)
    verify(s, facts, args, live)
    print("%d check(s) failed" % len(FAILURES) if FAILURES else "all checks passed")
    if core and not FAILURES:
        os.unlink(core)  # up to 120 MB; kept when a check fails
    print("(gdb output: %s)" % os.path.join(args.work, "gdb.out"))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
