#!/usr/bin/env python3
"""Checks the heap maps heapmap_layout wrote, as headless Chromium shows them.

Each page is loaded with `chromium --headless --dump-dom` (the DOM after its
scripts ran) and compared with the facts the program wrote: gm_span_inspect
of known pointers, MemStats and span counts taken right before the map.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

PAGE = 8192
PAGES_PER_ARENA = 8192
ARENA = PAGE * PAGES_PER_ARENA

failures = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)
    return cond


def load_facts(path):
    facts = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition(" ")
            facts.setdefault(key, []).append(value)
    return {k: v if len(v) > 1 or k.endswith("keptSlot") else v[0] for k, v in facts.items()}


def num(s):
    return int(s, 0)


class Page(HTMLParser):
    """Every element's attributes, the text of <pre data-k>, the JSON."""

    def __init__(self, dom):
        super().__init__()
        self.elems, self.pre, self._k, self._text = [], {}, None, []
        self.feed(dom)
        m = re.search(r'<script type="application/json" id="heap-data">(.*?)</script>', dom, re.S)
        self.data = json.loads(m.group(1)) if m else None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elems.append((tag, a))
        if tag == "pre" and "data-k" in a:
            self._k, self._text = a["data-k"], []

    def handle_data(self, data):
        if self._k:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "pre" and self._k:
            self.pre[self._k] = "".join(self._text)
            self._k = None

    def find(self, **want):
        """Elements whose attributes (data_x for data-x) have these values."""
        want = {k.replace("_", "-"): v for k, v in want.items()}
        return [a for _, a in self.elems if all(a.get(k) == v for k, v in want.items())]

    def one(self, tag):
        return next((a for t, a in self.elems if t == tag), {})

    def rows(self):
        """The detail panel's table: data-k -> data-v."""
        return {a["data-k"]: a.get("data-v") for t, a in self.elems if t == "tr" and "data-k" in a}


def dump(chromium, path, fragment=""):
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--user-data-dir=" + profile, "--dump-dom", "file://" + path + fragment]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if r.returncode != 0 or "<html" not in r.stdout.decode(errors="replace"):
        err = r.stderr.decode(errors="replace")[-2000:]
        sys.exit("heapmap: chromium failed on %s: %s" % (path, err))
    return Page(r.stdout.decode())


def check_loaded(p, name):
    check(p.one("body").get("data-ready") == "1",
          name + ": the script ran to the end (body data-ready=1)")
    err = p.one("html").get("data-error")
    check(err is None, name + ": no JavaScript error" + (" (%s)" % err if err else ""))
    check(p.data is not None and "spans" in p.data, name + ": heap-data JSON parses")


def span_at(p, base):
    return next((s for s in p.data["spans"] if int(s["base"], 16) == base), None)


def check_layout(p, name):
    """Every arena's runs cover its pages exactly; spans are address-ordered."""
    ok = all(sum(r[1] for r in a["runs"]) == PAGES_PER_ARENA for a in p.data["arenas"])
    check(ok, name + ": the runs of every arena cover its %d pages" % PAGES_PER_ARENA)
    bases = [int(s["base"], 16) for s in p.data["spans"]]
    ends = [b + s["npages"] * PAGE for b, s in zip(bases, p.data["spans"])]
    check(all(ends[i] <= bases[i + 1] for i in range(len(bases) - 1)),
          name + ": spans are in address order and do not overlap")


def check_summary(p, f):
    s = p.find(id="summary")[0]
    g = lambda k: int(s["data-" + k])
    check(g("arenas") == num(f["heap_sys"]) // ARENA,
          "summary: arenas = HeapSys / 64 MiB (%d)" % g("arenas"))
    check(g("spans") == num(f["spans"]),
          "summary: %d spans in use, as the heap counts them" % g("spans"))
    check(g("pages-inuse") == num(f["heap_inuse"]) // PAGE,
          "summary: pages in use = HeapInuse / 8 KiB (%d)" % g("pages-inuse"))
    free = (num(f["heap_idle"]) - num(f["heap_released"])) // PAGE
    check(g("pages-free") == free,
          "summary: free pages = (HeapIdle - HeapReleased) / 8 KiB (%d)" % g("pages-free"))
    rel = g("pages-scavenged") + g("pages-unused")
    check(rel == num(f["heap_released"]) // PAGE,
          "summary: scavenged + never used = HeapReleased / 8 KiB (%d)" % rel)
    check(g("pages-free") >= 40 + 13,
          "summary: the freed 40-page block and the cached 13-page span are free")
    check(g("pages-scavenged") >= 50,
          "summary: the released 50-page block is scavenged (%d)" % g("pages-scavenged"))
    check(g("pages-unused") > 0 and g("free-spans") >= 1,
          "summary: never-used pages and a cached large span")
    check(p.data["stats"]["heapInuse"] == num(f["heap_inuse"]),
          "JSON stats.heapInuse = MemStats HeapInuse")


def check_small(p, f):
    base, cls = num(f["p48.base"]), f["p48.sizeclass"]
    cells = p.find(data_base=hex(base))
    first = [c for c in cells if "data-cont" not in c]
    check(len(first) == 1, "48-byte span %s has a cell" % hex(base))
    if first:
        c = first[0]
        check(c.get("data-class") == cls and c.get("data-alloc") == f["p48.alloc"],
              "its cell: class %s, %s allocated" % (cls, f["p48.alloc"]))
    s = span_at(p, base)
    if not check(s is not None, "48-byte span in the JSON"):
        return
    for k in ("elemsize", "nelems", "alloc", "freeindex", "spanclass", "sizeclass", "npages"):
        check(s[k] == num(f["p48." + k]), "48-byte span %s = %s" % (k, f["p48." + k]))
    check(int(s["allocCache"], 16) == num(f["p48.allocCache"]),
          "48-byte span allocCache = " + f["p48.allocCache"])
    check(s["allocBits"] == f["p48.allocBits"],
          "48-byte span allocBits as gm_span_inspect reads them")
    n = sum(1 for x in p.data["spans"]
            if str(x["sizeclass"]) == cls and x["state"] != "free" and not x["gckind"])
    check(n == num(f["spans48"]), "%d spans of class %s, as the heap counts them" % (n, cls))
    check(bool(p.find(data_class=cls, **{"class": "li"})), "the legend lists class " + cls)


def check_large(p, f):
    for key in ("big0", "big1"):
        base, npages = num(f[key + ".base"]), num(f[key + ".npages"])
        s = span_at(p, base)
        if not check(s is not None, key + ": large span in the JSON"):
            continue
        check(s["state"] == "large" and s["npages"] == npages == 13
              and s["elemsize"] == 13 * PAGE, key + ": state large, 13 pages, elemsize 104 KiB")
        idx = p.data["spans"].index(s)
        pages = sum(r[1] for a in p.data["arenas"] for r in a["runs"] if r[2] == idx)
        check(pages == npages, key + ": its runs draw its %d pages" % npages)
        cells = p.find(data_base=hex(base))
        width = sum(float(re.search(r"width:([\d.]+)%", c["style"]).group(1)) for c in cells)
        check(abs(width - npages * 100 / 256) < 0.01
              and all(c.get("data-state") == "large" for c in cells),
              key + ": its cells are %d/256 of a row wide, state large" % npages)
    s = span_at(p, num(f["cachedbig.ptr"]))
    check(s is not None and s["state"] == "free" and s["npages"] == 13,
          "the freed 100 KiB block is a 13-page span of state free (large-span cache)")


def check_pending(p, f):
    s = span_at(p, num(f["p4096.base"]))
    if not check(s is not None, "4096-byte span in the JSON"):
        return
    freed = f["p4096.freedBits"]
    check(s["alloc"] == num(f["p4096.alloc"]) and s["pending"] == freed.count("1") == 1
          and s["freedBits"] == freed,
          "4096-byte span: %s allocated, 1 freed not yet folded" % f["p4096.alloc"])


def check_free_states(p):
    for st in ("free", "scavenged", "unused"):
        check(any(a.get("data-state") == st and "data-base" not in a for _, a in p.elems),
              "free pages drawn in state " + st)


def check_detail(p, f):
    d = p.find(id="detail")[0]
    check(d.get("data-span") == hex(num(f["p48.base"])),
          "#ptr selects the span holding the pointer")
    rows = p.rows()
    for k in ("elemsize", "nelems", "alloc", "freeindex", "sizeclass", "spanclass"):
        check(rows.get(k) == f["p48." + k], "detail panel %s = %s" % (k, f["p48." + k]))
    check(int(rows.get("allocCache", "0"), 16) == num(f["p48.allocCache"]),
          "detail panel allocCache")
    check(rows.get("state") in ("cached", "owned", "partial", "full"),
          "detail panel state " + str(rows.get("state")))
    check(re.sub(r"\s", "", p.pre.get("allocBits", "")) == f["p48.allocBits"],
          "detail panel allocBits")
    sel = [a for _, a in p.elems if "sel" in a.get("class", "").split()]
    check(sel and all(a.get("data-base") == hex(num(f["p48.base"])) for a in sel),
          "the selected span's cell is outlined")


def check_mark(p, f):
    base = num(f["mark.base"])
    s = span_at(p, base)
    if not check(s is not None and s["gckind"] == 1,
                 "mark.html: the kept objects' span is collected (gckind 1)"):
        return
    check(s.get("gcmarkBits") == f["mark.gcmarkBits"],
          "mark.html: gcmarkBits as gm_span_inspect read them at mark done")
    slots = [int(x) for x in f["mark.keptSlot"]]
    check(slots and all(s["gcmarkBits"][i] == "1" for i in slots),
          "mark.html: the %d kept objects in the span are marked" % len(slots))
    check(s["sweepgen"] == p.data["stats"]["sweepgen"] - 2,
          "mark.html: the span needs sweeping (sweepgen h-2)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chromium", required=True)
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    d = os.path.abspath(a.dir)
    f = load_facts(os.path.join(d, "facts"))

    heap = dump(a.chromium, os.path.join(d, "heap.html"))
    check_loaded(heap, "heap.html")
    if heap.data:
        check_layout(heap, "heap.html")
        check_summary(heap, f)
        check_small(heap, f)
        check_large(heap, f)
        check_pending(heap, f)
        check_free_states(heap)
        s = span_at(heap, num(f["gc.base"]))
        check(s is not None and s["gckind"] == 1 and "gcmarkBits" in s,
              "heap.html: collected span with gcmarkBits")

    sel = dump(a.chromium, os.path.join(d, "heap.html"), "#" + f["p48.ptr"])
    check_loaded(sel, "heap.html#ptr")
    check_detail(sel, f)

    mark = dump(a.chromium, os.path.join(d, "mark.html"), "#" + f["gc.ptr"])
    check_loaded(mark, "mark.html")
    if mark.data:
        check_mark(mark, f)
        check(re.sub(r"\s", "", mark.pre.get("gcmarkBits", "")) == f["mark.gcmarkBits"],
              "mark.html#ptr: the detail panel shows gcmarkBits")
        check(mark.rows().get("gckind") == "1", "mark.html#ptr: the detail panel shows gckind 1")

    churn = dump(a.chromium, os.path.join(d, "churn.html"))
    check_loaded(churn, "churn.html (written while two threads allocate)")
    if churn.data:
        check_layout(churn, "churn.html")

    if failures:
        sys.exit("heapmap: %d check(s) failed" % len(failures))
    print("heapmap: all checks passed")


if __name__ == "__main__":
    main()
