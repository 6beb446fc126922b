# gomalloc's GDB extension: the heap's spans, bitmaps, objects and MemStats,
# read from the allocator's own data structures (see the essay at the top
# of src/malloc.c for what they are, src/internal.h and src/mgc.h for their
# fields).
#
#   (gdb) source tools/gdb/gomalloc.py        # or let gdb auto-load it:
#   (gdb) gm memstats [--call]                # MemStats, as gm_read_memstats
#   (gdb) gm spans [CLASS|large] [--all]      # table of in-use spans
#   (gdb) gm span ADDR                        # one span, bitmaps drawn
#   (gdb) gm object ADDR                      # span, slot, allocated?, marked?
#
# Auto-loading: the build copies this file next to the library as
# libgomalloc.so-gdb.py; gdb runs it when it loads libgomalloc.so once the
# directory is trusted, e.g. in ~/.gdbinit:
#     add-auto-load-safe-path /path/to/build/libgomalloc.so-gdb.py
# (or -iex 'add-auto-load-safe-path DIR' on the command line). A program
# that links the core statically has no such objfile: `source` the file.
#
# Everything is computed by reading memory, never by calling into the
# process, so every command works on a core file as on a live process. The
# only exception is `gm memstats --call`, which calls gm_read_memstats in a
# live process to compare. Reads are not synchronised with the program's
# threads: stop them all (gdb's default all-stop mode does) for a consistent
# picture, as gm_read_memstats' own locks would otherwise give.

import struct

import gdb

# Layout constants that are C macros, absent from DWARF (internal.h,
# sizeclasses.h). Heap.__init__ checks them against what DWARF does say.
PAGE_SHIFT = 13             # GM_PAGE_SHIFT: 8 KiB pages
PAGE_SIZE = 1 << PAGE_SHIFT
ADDR_BITS = 48              # GM_ADDR_BITS: x86-64 user addresses
OWNER_FULL_TAG = 1          # GM_OWNER_FULL_TAG: owner == cache | 1

# Enumerators from gomalloc.h; read from DWARF when present (Heap._enum),
# these are the fallbacks.
SPAN_STATES = ["FREE", "CACHED", "PARTIAL", "FULL", "LARGE", "OWNED"]
GC_KINDS = ["none", "conservative", "noscan", "typed"]


def _fail(msg):
    raise gdb.GdbError("gm: " + msg)


def _parse_addr(arg):
    arg = arg.strip()
    if not arg:
        _fail("an address is required")
    try:
        v = gdb.parse_and_eval(arg)
    except gdb.error as e:
        _fail("cannot evaluate %r: %s" % (arg, e))
    # A pointer, an integer or an array decays to its address.
    try:
        if v.type.strip_typedefs().code == gdb.TYPE_CODE_ARRAY:
            v = v.address
        return int(v.cast(gdb.lookup_type("unsigned long")))
    except gdb.error as e:
        _fail("%r is not an address: %s" % (arg, e))


class Struct:
    """Field offsets of one C struct, from DWARF. Instances are read from
    memory in one go (gdb.Value would refuse the 66 KiB gm_heap_arena and
    is slow field by field) and decoded with struct.unpack."""

    def __init__(self, name):
        try:
            t = gdb.lookup_type(name).strip_typedefs()
        except gdb.error:
            _fail("no debug information for %s: is this a program linked with "
                  "gomalloc (or libgomalloc.so) built with -g?" % name)
        self.name = name
        self.size = t.sizeof
        self.fields = {}  # name -> (offset, element size, count or None, signed)
        for f in t.fields():
            ft = f.type.strip_typedefs()
            off = f.bitpos // 8
            if ft.code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
                self.fields[f.name] = (off, 0, None, False)  # read as its address
            elif ft.code == gdb.TYPE_CODE_ARRAY:
                et = ft.target().strip_typedefs()
                n = ft.range()[1] - ft.range()[0] + 1
                self.fields[f.name] = (off, et.sizeof, n, _signed(et))
            else:
                self.fields[f.name] = (off, ft.sizeof, None, _signed(ft))

    def offset(self, field):
        return self.fields[field][0]

    def count(self, field):
        return self.fields[field][2]


def _signed(t):
    if t.code not in (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_ENUM, gdb.TYPE_CODE_CHAR):
        return False  # pointers, bools, structs
    try:
        return t.is_signed
    except (AttributeError, ValueError):
        return t.code == gdb.TYPE_CODE_INT and not str(t).startswith(("u", "unsigned"))


_FMT = {1: "B", 2: "H", 4: "I", 8: "Q"}


class Rec:
    """One struct instance read from memory; fields decode on access."""

    def __init__(self, st, addr, data):
        self._st, self.addr, self._data = st, addr, data

    def __getattr__(self, name):
        try:
            off, size, n, signed = self._st.fields[name]
        except KeyError:
            raise AttributeError(name)
        fmt = _FMT.get(size)
        if fmt is None:  # a nested struct (a list sentinel, a lock): its address
            return self.addr + off
        if signed:
            fmt = fmt.lower()
        if n is None:
            return struct.unpack_from("<" + fmt, self._data, off)[0]
        return list(struct.unpack_from("<%d%s" % (n, fmt), self._data, off))


class Heap:
    """What one command needs to read the heap: types, globals, helpers.
    Made afresh per command, since the program's objfiles (and the
    library's load address) may change between commands."""

    def __init__(self):
        self.inf = gdb.selected_inferior()
        if self.inf.pid == 0:
            _fail("no process: run the program, attach, or open a core file")
        self.span = Struct("gm_span")
        self.arena = Struct("gm_heap_arena")
        self.arenas = self.sym_addr("gm__arenas")
        self.l1 = self.sym_type("gm__arenas").range()[1] + 1
        self.pages_per_arena = self.arena.count("spans")
        self.arena_shift = ADDR_BITS - (self.l1.bit_length() - 1)
        if (1 << self.arena_shift) != self.pages_per_arena * PAGE_SIZE:
            _fail("arena geometry in the debug information (%d arenas of %d pages) "
                  "does not match this extension's 8 KiB pages: out of date?"
                  % (self.l1, self.pages_per_arena))
        if not self.read_int(self.sym_addr("gm__inited"), 4):
            _fail("gomalloc is not initialised in this process yet (no allocation)")
        self.emptyspan = self.sym_addr("gm__emptyspan")
        self.states = self._enum(SPAN_STATES, "GM_SPAN_")
        self.kinds = self._enum(GC_KINDS, "GM_GC_")
        self.FREE = self.states.index("FREE")
        self.LARGE = self.states.index("LARGE")
        self.NOSCAN = self.kinds.index("noscan")
        self._structs = {}
        self._class_size = None
        self._owners = None

    # -- symbols and memory ------------------------------------------------

    def _symbol(self, name):
        sym = gdb.lookup_global_symbol(name)
        if sym is None:
            sym = gdb.lookup_static_symbol(name)
        if sym is None:
            _fail("symbol %s not found: no gomalloc debug information loaded "
                  "(a program linked with gomalloc, or libgomalloc.so, built with -g)"
                  % name)
        return sym

    def has_symbol(self, name):
        return (gdb.lookup_global_symbol(name) or gdb.lookup_static_symbol(name)) is not None

    def sym_addr(self, name):
        return int(self._symbol(name).value().address)

    def sym_type(self, name):
        return self._symbol(name).type.strip_typedefs()

    def read(self, addr, n):
        try:
            return bytes(self.inf.read_memory(addr, n))
        except gdb.MemoryError:
            _fail("cannot read %d bytes at %#x (not in the process or core file)" % (n, addr))

    def read_int(self, addr, size=8):
        return struct.unpack("<" + _FMT[size], self.read(addr, size))[0]

    def read_words(self, addr, n):
        if n == 0:
            return []
        return list(struct.unpack("<%dQ" % n, self.read(addr, 8 * n)))

    def rec(self, typename, addr):
        st = self._structs.get(typename)
        if st is None:
            st = self._structs[typename] = Struct(typename)
        return Rec(st, addr, self.read(addr, st.size))

    def global_rec(self, typename, name):
        return self.rec(typename, self.sym_addr(name))

    def _enum(self, fallback, prefix):
        names = list(fallback)
        for n in fallback:
            try:
                names[int(gdb.parse_and_eval(prefix + n.upper()))] = n
            except (gdb.error, IndexError):
                pass
        return names

    def state_name(self, state):
        return self.states[state] if state < len(self.states) else "state%d" % state

    def kind_name(self, kind):
        return self.kinds[kind] if kind < len(self.kinds) else "kind%d" % kind

    def class_size(self, cls):
        """gm__class_to_size[cls]. The table is static in a header, so
        every file has a copy; the first one the compiler kept will do."""
        if self._class_size is None:
            for sym in gdb.lookup_static_symbols("gm__class_to_size"):
                try:
                    self._class_size = [int(x) for x in _array(sym.value())]
                    break
                except gdb.error:
                    continue
            else:
                _fail("gm__class_to_size not found in the debug information")
        return self._class_size[cls]

    # -- arenas and spans --------------------------------------------------

    def arena_of(self, a):
        if a >= 1 << ADDR_BITS:
            return 0
        idx = (a >> self.arena_shift) & (self.l1 - 1)
        return self.read_int(self.arenas + 8 * idx)

    def span_ptr_of(self, a):
        ha = self.arena_of(a)
        if not ha:
            return 0, 0
        page = (a >> PAGE_SHIFT) & (self.pages_per_arena - 1)
        return ha, self.read_int(ha + self.arena.offset("spans") + 8 * page)

    def read_span(self, p):
        return self.rec("gm_span", p)

    def arenas_list(self):
        """Arena metadata records in address order (gm__arena_first)."""
        return self.walk("gm_heap_arena", self.read_int(self.sym_addr("gm__arena_first")))

    def all_spans(self, include_free=False):
        """Every span with pages in the heap, from the arenas' page maps,
        as gm__count_spans finds them: a span is listed at its first page.
        FREE spans there are large spans kept whole by mheap.c's cache."""
        seen, out = set(), []
        for ha in self.arenas_list():
            ptrs = ha.spans
            for i, p in enumerate(ptrs):
                if not p or p in seen:
                    continue
                s = self.read_span(p)
                if s.base != ha.base + i * PAGE_SIZE:
                    continue
                seen.add(p)
                if s.state != self.FREE or include_free:
                    out.append(s)
        return out

    # -- the bitmaps and the liveness rule (malloc.c, "Freeing") -----------

    def bitmaps(self, s):
        n = s.nwords
        return (self.read_words(s.alloc_bits, n) if s.alloc_bits else [0] * n,
                self.read_words(s.local_free, n) if s.local_free else [0] * n,
                self.read_words(s.remote_free, n) if s.remote_free else [0] * n,
                self.read_words(s.gcmark_bits, n) if s.gcmark_bits else [0] * n)

    @staticmethod
    def slot_live(s, i, alloc, lfree, rfree):
        """Slot i is live iff (i < freeindex || allocBits[i]) &&
        !localFree[i] && !remoteFree[i] (collected spans never set
        localFree, so gm__slot_live's shorter rule is the same)."""
        w, b = i // 64, 1 << (i % 64)
        return ((i < s.freeindex or alloc[w] & b) and
                not lfree[w] & b and not rfree[w] & b)

    @staticmethod
    def live_words(s, alloc, lfree, rfree):
        """The liveness rule a word at a time (gm spans reads every span):
        slots below freeindex count as allocated, padding bits past nelems
        do not."""
        out = []
        for w in range(s.nwords):
            below = ((1 << 64) - 1 if (w + 1) * 64 <= s.freeindex else
                     0 if w * 64 >= s.freeindex else (1 << (s.freeindex % 64)) - 1)
            valid = (1 << min(64, max(0, s.nelems - w * 64))) - 1
            out.append((alloc[w] | below) & ~(lfree[w] | rfree[w]) & valid)
        return out

    def live_count(self, s):
        return sum(bin(w).count("1") for w in self.live_words(s, *self.bitmaps(s)[:3]))

    def alloc_count(self, s):
        """gm__span_alloc_count: nelems less the free slots at and after
        freeindex (frees not yet folded still count as allocated)."""
        fi, cache = s.freeindex, s.alloc_cache
        if fi >= s.nelems:
            return s.nelems
        free = bin(cache).count("1")
        w = fi // 64 + (1 if (fi % 64 != 0 or cache != 0) else 0)
        for word in self.read_words(s.alloc_bits + 8 * w, max(0, s.nwords - w)):
            free += bin(~word & (2**64 - 1)).count("1")
        return s.nelems - free

    def pending_frees(self, s):
        """gm__span_pending_frees: frees not folded yet (MemStats adds them)."""
        if not s.local_free:
            return 0
        lfree, rfree = self.read_words(s.local_free, s.nwords), self.read_words(s.remote_free, s.nwords)
        return sum(bin(a | b).count("1") for a, b in zip(lfree, rfree))

    # -- who holds a span ----------------------------------------------------

    def owners(self):
        """Labels for span owners: mcache address -> thread, and collected
        spans held by registered threads -> their tid. Built once."""
        if self._owners is not None:
            return self._owners
        caches = {}
        for i, c in enumerate(self.caches()):
            caches[c.addr] = "mcache#%d" % i
        orphan = self.read_int(self.sym_addr("gm__orphan_cache"))
        if orphan:
            caches[orphan] = "orphan-mcache"
        for c, tid in self._cache_threads().items():
            if c in caches:
                caches[c] += "(LWP %d)" % tid
        held = {}
        for t in self.gthreads():
            for p in t.alloc:
                if p != self.emptyspan:
                    held[p] = "gthread(LWP %d)" % t.tid
        self._owners = (caches, held)
        return self._owners

    def _cache_threads(self):
        """gm__tls_mcache of every thread: a TLS read, which gdb may not
        manage (a static program, or a core without libthread_db): then
        caches keep their list index only."""
        out = {}
        try:
            selected = gdb.selected_thread()
            frame = gdb.selected_frame()
        except gdb.error:
            return out
        try:
            for th in self.inf.threads():
                try:
                    th.switch()
                    c = int(gdb.parse_and_eval("(unsigned long)gm__tls_mcache"))
                except gdb.error:
                    continue
                if c:
                    out[c] = th.ptid[1]
        finally:
            try:
                selected.switch()
                frame.select()
            except gdb.error:
                pass
        return out

    def owner_label(self, s):
        caches, held = self.owners()
        if s.gckind:
            if s.addr in held:
                return held[s.addr]
            return "gc lists" if s.spanclass >= 2 else "gc large"
        if s.spanclass < 2:
            return "-"
        if s.owner == 0:
            return "mcentral"
        c = s.owner & ~OWNER_FULL_TAG
        label = caches.get(c, "mcache@%#x" % c)
        return label + (" full" if s.owner & OWNER_FULL_TAG else "")

    # -- lists -----------------------------------------------------------------

    def walk(self, typename, p, link="next", stop=0):
        """Records linked through `link` from p until NULL or stop. A core
        may catch a list being edited: a cycle ends the walk instead of
        hanging gdb."""
        out, seen = [], set()
        while p and p != stop and p not in seen:
            seen.add(p)
            out.append(self.rec(typename, p))
            p = getattr(out[-1], link)
        return out

    def caches(self):
        """Every thread's mcache (gm__allcaches)."""
        return self.walk("gm_mcache", self.read_int(self.sym_addr("gm__allcaches")), "next_all")

    def gthreads(self):
        """Registered threads (gm__threads); none before the collector's first use."""
        if not self.has_symbol("gm__threads"):
            return []
        return self.walk("gm_gthread", self.read_int(self.sym_addr("gm__threads")))

    def chain(self, p, stop=0):
        """Spans linked by next (an mcache's partial queue, a list)."""
        return self.walk("gm_span", p, "next", stop)

    def span_list(self, sentinel):
        """The spans of a circular list with a sentinel (mcentral lists)."""
        return self.chain(self.read_int(sentinel + self.span.offset("next")), sentinel)


def _array(v):
    t = v.type.strip_typedefs()
    lo, hi = t.range()
    return [v[i] for i in range(lo, hi + 1)]


# ---- MemStats ----------------------------------------------------------------

def compute_memstats(h):
    """gm_read_memstats (mstats.c, mgc.c: gm__gc_read_memstats) redone from
    the structures: object counts from the caches' counters, the spans they
    hold and the frees pending in span bitmaps; page counts from
    gm__heapstats."""
    flushed = h.global_rec("gm_flushedstats", "gm__flushed")
    nspc = len(flushed.nmalloc)
    nmalloc, nfree = list(flushed.nmalloc), list(flushed.nfree)
    for c in h.caches():
        cn, cf, alloc = c.nmalloc, c.nfree, c.alloc
        partial = c.partial
        for spc in range(nspc):
            nmalloc[spc] += cn[spc]
            nfree[spc] += cf[spc]
            if alloc[spc] != h.emptyspan:
                s = h.read_span(alloc[spc])
                count, base = h.alloc_count(s), s.alloc_count_base
                nmalloc[spc] += count - base if count >= base else 0
                nfree[spc] += h.pending_frees(s)
            for s in h.chain(partial[spc]):
                nfree[spc] += h.pending_frees(s)
    central = h.sym_addr("gm__central")
    mc_size = h.sym_type("gm__central").target().sizeof
    for spc in range(2, nspc):
        r = h.rec("gm_mcentral", central + spc * mc_size)
        nfree[spc] += r.nfolded
        for sentinel in (r.partial, r.full):
            nfree[spc] += sum(h.pending_frees(s) for s in h.span_list(sentinel))

    m = {"mallocs": 0, "frees": 0, "total_alloc": 0, "heap_alloc": 0}
    for cls in range(1, nspc // 2):
        size = h.class_size(cls)
        ma = nmalloc[2 * cls] + nmalloc[2 * cls + 1]
        fr = nfree[2 * cls] + nfree[2 * cls + 1]
        m["mallocs"] += ma
        m["frees"] += fr
        m["total_alloc"] += ma * size
        m["heap_alloc"] += (ma - fr) * size
    hs = h.global_rec("gm_heapstats", "gm__heapstats")
    m["mallocs"] += hs.nlarge_alloc
    m["frees"] += hs.nlarge_free
    m["total_alloc"] += hs.large_alloc_bytes
    m["heap_alloc"] += hs.large_alloc_bytes - hs.large_free_bytes
    _gc_memstats(h, m, nspc // 2)
    m["alloc"] = m["heap_alloc"]
    m["heap_objects"] = m["mallocs"] - m["frees"]
    m["heap_sys"] = hs.heap_sys
    m["heap_inuse"] = hs.heap_inuse
    m["heap_idle"] = hs.heap_sys - hs.heap_inuse
    m["heap_released"] = hs.heap_released
    m["mspan_inuse"] = h.global_rec("gm_fixalloc", "gm__spanalloc").inuse
    m["mspan_sys"] = hs.mspan_sys
    m["mcache_inuse"] = hs.mcache_inuse
    m["mcache_sys"] = hs.mcache_sys
    m["gc_sys"] = hs.gc_sys
    m["other_sys"] = hs.other_sys
    m["buck_hash_sys"] = (h.read_int(h.sym_addr("gm__mprof_sys"))
                          if h.has_symbol("gm__mprof_sys") else 0)
    m["stack_sys"] = 0
    m["sys"] = (m["heap_sys"] + m["stack_sys"] + m["mspan_sys"] + m["mcache_sys"] +
                m["buck_hash_sys"] + m["gc_sys"] + m["other_sys"])
    # The C sums are uint64_t: wrap as they do (a count caught mid-update
    # in a core then reads as gm_read_memstats would have printed it).
    return {k: v & (2**64 - 1) for k, v in m.items()}


def _gc_memstats(h, m, nclasses):
    """gm__gc_read_memstats without its clock: collected objects' counts
    (gm__gc plus the spans registered threads hold), and the GC fields."""
    if not h.has_symbol("gm__gc"):
        return
    gc = h.global_rec("gm_gcstate", "gm__gc")
    nmalloc = gc.nmalloc
    tiny = gc.tiny_allocs
    for t in h.gthreads():
        tiny += t.tiny_allocs
        for gcs, p in enumerate(t.alloc):
            if p == h.emptyspan:
                continue
            s = h.read_span(p)
            n = h.alloc_count(s)
            if n >= s.alloc_count_base:
                nmalloc[gcs] += n - s.alloc_count_base
    # Go counts a tiny object as a malloc and a free at once: its block is
    # what stays counted in the heap.
    m["mallocs"] += tiny
    m["frees"] += tiny
    nfree = gc.nfree
    for gcs in range(len(nmalloc)):
        cls = gcs % nclasses
        if cls == 0:
            continue
        size = h.class_size(cls)
        m["mallocs"] += nmalloc[gcs]
        m["frees"] += nfree[gcs]
        m["total_alloc"] += nmalloc[gcs] * size
        m["heap_alloc"] += (nmalloc[gcs] - nfree[gcs]) * size
    m["num_gc"] = gc.cycle
    m["num_forced_gc"] = gc.num_forced_gc
    m["next_gc"] = 0 if gc.heap_goal == 2**64 - 1 else gc.heap_goal
    m["last_gc"] = gc.last_gc
    m["pause_total_ns"] = gc.pause_total_ns


MEMSTATS_ORDER = [
    ("alloc", "bytes of allocated heap objects"),
    ("total_alloc", "cumulative bytes allocated"),
    ("sys", "bytes obtained from the OS"),
    ("mallocs", "cumulative objects allocated"),
    ("frees", "cumulative objects freed"),
    ("heap_alloc", "= alloc"),
    ("heap_sys", "bytes of heap arenas mapped"),
    ("heap_idle", "bytes in free pages"),
    ("heap_inuse", "bytes in in-use spans"),
    ("heap_released", "bytes of free pages returned to the OS"),
    ("heap_objects", "live objects"),
    ("stack_sys", ""),
    ("mspan_inuse", "bytes of span structs in use"),
    ("mspan_sys", ""),
    ("mcache_inuse", ""),
    ("mcache_sys", ""),
    ("buck_hash_sys", "heap profile buckets"),
    ("gc_sys", "bitmaps and GC metadata"),
    ("other_sys", ""),
    ("next_gc", "heap goal"),
    ("last_gc", "ns since the epoch"),
    ("pause_total_ns", ""),
    ("num_gc", ""),
    ("num_forced_gc", ""),
]


def _call_memstats(h):
    """gm_read_memstats(buf) in the live process, buf from mmap so that no
    heap changes under the comparison (and unmapped afterwards)."""
    if not _is_live():
        _fail("--call needs a live process (a core file cannot run code)")
    size = int(gdb.parse_and_eval("sizeof(gm_memstats)"))
    try:
        buf = int(gdb.parse_and_eval(
            "(unsigned long)mmap(0, %d, 3, 0x22, -1, 0)" % size))
    except gdb.error as e:
        _fail("cannot call mmap in the process: %s" % e)
    if buf == 2**64 - 1:
        _fail("mmap failed in the process")
    try:
        gdb.parse_and_eval("gm_read_memstats((gm_memstats *)%d)" % buf)
        v = gdb.parse_and_eval("*(gm_memstats *)%d" % buf)
        out = {}
        for name, _ in MEMSTATS_ORDER:
            try:
                out[name] = int(v[name])
            except gdb.error:
                pass
        return out
    except gdb.error as e:
        _fail("calling gm_read_memstats failed: %s" % e)
    finally:
        gdb.parse_and_eval("(int)munmap((void *)%d, %d)" % (buf, size))


def _is_live():
    """False for a core file (gdb 12+ names the inferior's target)."""
    inf = gdb.selected_inferior()
    conn = getattr(inf, "connection", None)
    if conn is not None:
        return conn.type != "core"
    return "core dump" not in gdb.execute("info target", to_string=True)


# ---- commands ------------------------------------------------------------------

class GmPrefix(gdb.Command):
    """gomalloc heap inspection: gm memstats, gm spans, gm span, gm object."""

    def __init__(self):
        super().__init__("gm", gdb.COMMAND_DATA, gdb.COMPLETE_COMMAND, True)


class GmMemstats(gdb.Command):
    """Go's MemStats computed from the heap's data structures.

Usage: gm memstats [--call]
Works on live processes and core files: nothing is called in the process.
--call (live process only) also calls gm_read_memstats and prints its
numbers beside ours. Do not use it while a thread is inside the allocator
(it may hold a lock gm_read_memstats takes)."""

    def __init__(self):
        super().__init__("gm memstats", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        argv = gdb.string_to_argv(arg)
        call = "--call" in argv
        if [a for a in argv if a != "--call"]:
            _fail("usage: gm memstats [--call]")
        h = Heap()
        m = compute_memstats(h)
        called = _call_memstats(h) if call else None
        print("gomalloc MemStats (from the heap's structures%s)"
              % (" | from gm_read_memstats" if called else ""))
        for name, help_ in MEMSTATS_ORDER:
            if name not in m:
                continue
            line = "  %-15s %20d" % (name, m[name])
            if called is not None and name in called:
                line += "  %20d%s" % (called[name], "" if called[name] == m[name] else "  *")
            if help_ and called is None:
                line += "  " + help_
            print(line)


class GmSpans(gdb.Command):
    """Table of the heap's spans.

Usage: gm spans [CLASS|large] [--all]
CLASS is a size class (1..67, or an expression; see `gomalloc sizeclasses`);
`large` (or 0) lists the large spans. --all also lists the FREE large spans
the heap keeps whole in its large-span cache. Columns: base, pages, state, size class, span class,
element size, live objects / slots (by the liveness rule), gc kind, owner
(mcache#N in gm__allcaches order, with its thread when gdb can read TLS;
`full` for owned-full spans; mcentral; gthread for collected spans a
registered thread allocates from)."""

    def __init__(self):
        super().__init__("gm spans", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        argv = gdb.string_to_argv(arg)
        show_all = "--all" in argv
        argv = [a for a in argv if a != "--all"]
        want = None
        if len(argv) > 1:
            _fail("usage: gm spans [CLASS|large] [--all]")
        if argv:
            if argv[0] == "large":
                want = 0
            else:
                try:
                    want = int(gdb.parse_and_eval(argv[0]))
                except gdb.error:
                    _fail("size class must be a number, an expression or `large', not %r"
                          % argv[0])
        h = Heap()
        spans = [s for s in h.all_spans(show_all) if want is None or s.spanclass >> 1 == want]
        print("%-18s %5s %-8s %5s %4s %8s %11s %-12s %s" % (
            "base", "pages", "state", "class", "spc", "elemsize", "live/nelems", "gc", "owner"))
        total_pages = 0
        for s in spans:
            total_pages += s.npages
            if s.spanclass >= 2:
                live = "%d/%d" % (h.live_count(s), s.nelems)
                elem = s.elemsize
            else:
                live = "%d/1" % (1 if s.state == h.LARGE else 0)
                elem = s.npages * PAGE_SIZE
            print("%#-18x %5d %-8s %5d %4d %8d %11s %-12s %s" % (
                s.base, s.npages, h.state_name(s.state), s.spanclass >> 1, s.spanclass,
                elem, live, h.kind_name(s.gckind), h.owner_label(s)))
        what = "class %d" % want if want else ("large" if want == 0 else "all classes")
        print("%d span(s), %d page(s) (%d bytes), %s" % (
            len(spans), total_pages, total_pages * PAGE_SIZE, what))


def _find_span(h, a):
    """The span holding a, or a clear error."""
    ha, p = h.span_ptr_of(a)
    if not ha:
        _fail("%#x is not in the gomalloc heap (no arena maps it)" % a)
    if not p:
        _fail("%#x is in a heap arena but on a free page (in no span)" % a)
    s = h.read_span(p)
    if not s.base <= a < s.base + s.npages * PAGE_SIZE:
        _fail("%#x: page map and span disagree (span %#x, base %#x): heap corrupt?"
              % (a, p, s.base))
    return s


def _bits_row(label, words, n):
    """A bitmap as `gomalloc demo` draws it: slot i at column i, 1 set, 64
    slots per line, under a 12-column label."""
    out = "  %-12s" % label
    for i in range(n):
        out += "1" if words[i // 64] >> (i % 64) & 1 else "0"
        if i % 64 == 63 and i + 1 < n:
            out += "\n  %-12s" % ""
    return out


def _sweep_state(h, s):
    hgen = _heap_sweepgen(h)
    if hgen is None:
        return ""
    d = (hgen - s.sweepgen) & 0xffffffff
    what = {0: "swept", 1: "being swept", 2: "needs sweeping"}.get(d, "?")
    return "sweepgen %d, heap %d: %s" % (s.sweepgen, hgen, what)


def _heap_sweepgen(h):
    if not h.has_symbol("gm__gc"):
        return None
    return h.global_rec("gm_gcstate", "gm__gc").sweepgen


class GmSpan(gdb.Command):
    """The span holding an address, with its bitmaps.

Usage: gm span ADDR
Draws allocBits, the allocCache window (1 = free, bit 0 is slot freeindex),
localFree and remoteFree (frees not yet folded), the live slots by the
liveness rule, and gcmarkBits for collected spans, one column per slot as
`gomalloc demo` draws them."""

    def __init__(self):
        super().__init__("gm span", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        h = Heap()
        s = _find_span(h, _parse_addr(arg))
        print("span %#x (struct at %#x): %d page(s), class %d, spanclass %d%s, %s" % (
            s.base, s.addr, s.npages, s.spanclass >> 1, s.spanclass,
            " (noscan)" if s.spanclass & 1 else "", h.state_name(s.state)))
        gckind = "gc %s" % h.kind_name(s.gckind) if s.gckind else "malloc memory"
        print("  %s, owner %s, needzero %d" % (gckind, h.owner_label(s), s.needzero))
        if s.gckind:
            print("  " + _sweep_state(h, s))
        if s.spanclass < 2:
            size = s.largesize if s.gckind else s.npages * PAGE_SIZE
            print("  large object %#x, %d bytes%s" % (
                s.base, size, " requested" if s.gckind else " (whole pages)"))
            if s.gckind and s.gcmark_bits:
                print("  gcmarkBits  %d" % (h.read_words(s.gcmark_bits, 1)[0] & 1))
            return
        alloc, lfree, rfree, mark = h.bitmaps(s)
        live = h.live_words(s, alloc, lfree, rfree)
        nlive = sum(bin(w).count("1") for w in live)
        print("  elemsize %d, nelems %d, limit %#x" % (s.elemsize, s.nelems, s.limit))
        print("  freeindex %d, allocCount %d, live %d, pending frees %d" % (
            s.freeindex, h.alloc_count(s), nlive,
            sum(bin(a | b).count("1") for a, b in zip(lfree, rfree))))
        cache = "".join("1" if s.alloc_cache >> i & 1 else "0" for i in range(64))
        print("  %-12s%s  (1 = free, from freeindex on)" % ("allocCache", cache))
        print(_bits_row("allocBits", alloc, s.nelems))
        print(_bits_row("localFree", lfree, s.nelems))
        print(_bits_row("remoteFree", rfree, s.nelems))
        print(_bits_row("live", live, s.nelems))
        if s.gckind:
            print(_bits_row("gcmarkBits", mark, s.nelems))


class GmObject(gdb.Command):
    """The object holding an address.

Usage: gm object ADDR
Prints its span and slot, its base and size, whether it is allocated or
free by the liveness rule of malloc.c's "Freeing" (slot i is live iff
(i < freeindex || allocBits[i]) && !localFree[i] && !remoteFree[i]), and for
collected objects their gc kind and whether the collector marked them."""

    def __init__(self):
        super().__init__("gm object", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        h = Heap()
        a = _parse_addr(arg)
        s = _find_span(h, a)
        kind = h.kind_name(s.gckind) if s.gckind else "none (malloc memory)"
        if s.spanclass < 2:
            self.large(h, s, a, kind)
        else:
            self.small(h, s, a, kind)

    def large(self, h, s, a, kind):
        size = s.largesize if s.gckind else s.npages * PAGE_SIZE
        print("%#x: in large span %#x (%d page(s), %s)" % (
            a, s.base, s.npages, h.state_name(s.state)))
        print("  object %#x..%#x, %d bytes, offset %d" % (s.base, s.base + size, size, a - s.base))
        if s.state == h.LARGE:
            status = "allocated"
            if s.gckind and a - s.base >= size:
                status = "allocated (address past the requested size)"
        else:
            status = "free (a freed large span the heap keeps whole)"
        print("  status:     " + status)
        print("  gc kind:    " + kind)
        if s.gckind:
            mark = h.read_words(s.gcmark_bits, 1)[0] & 1 if s.gcmark_bits else 0
            print("  marked:     " + ("yes (gcmarkBits)" if mark else
                                     "no (large spans keep no record once swept)") +
                  "; " + _sweep_state(h, s))

    def small(self, h, s, a, kind):
        print("%#x: in span %#x (class %d, spanclass %d, elemsize %d, %s)" % (
            a, s.base, s.spanclass >> 1, s.spanclass, s.elemsize, h.state_name(s.state)))
        if a >= s.limit:
            print("  in the span's tail after its last slot (%#x): not an object" % s.limit)
            return
        i = (a - s.base) // s.elemsize
        base = s.base + i * s.elemsize
        print("  slot %d of %d, object %#x..%#x (%d bytes), offset %d" % (
            i, s.nelems, base, base + s.elemsize, s.elemsize, a - base))
        alloc, lfree, rfree, mark = h.bitmaps(s)
        w, b = i // 64, 1 << (i % 64)
        if h.slot_live(s, i, alloc, lfree, rfree):
            why = "below freeindex %d" % s.freeindex if i < s.freeindex else "allocBits set"
            status = "allocated (%s)" % why
        elif lfree[w] & b:
            status = "free (freed by its owner, localFree set; not folded yet)"
        elif rfree[w] & b:
            status = "free (freed by another thread, remoteFree set; not folded yet)"
        else:
            status = "free (allocBits clear, at or after freeindex %d)" % s.freeindex
        print("  status:     " + status)
        print("  gc kind:    " + kind)
        if s.gckind:
            if s.gckind == h.NOSCAN and s.elemsize == 16:  # GM_TINY_SIZE (mgc.h)
                print("  (a tiny-allocator block: may hold several small noscan objects)")
            print("  marked:     " + self.marked(h, s, i, alloc, mark, status))

    @staticmethod
    def marked(h, s, i, alloc, mark, status):
        """gcmarkBits hold the marks from marking until the span is swept;
        the sweep makes them the allocBits and clears them, so in a swept
        span an allocBits bit is a survivor of the last cycle."""
        gc = h.global_rec("gm_gcstate", "gm__gc")
        w, b = i // 64, 1 << (i % 64)
        d = (gc.sweepgen - s.sweepgen) & 0xffffffff
        if mark[w] & b:
            when = "not swept yet" if d else "marking in progress"
            return "yes (gcmarkBits set; %s)" % when
        if d:
            return "no (gcmarkBits clear after cycle %d's mark; not swept yet)" % gc.cycle
        if gc.cycle == 0:
            return "no (no collection yet)"
        if not status.startswith("allocated"):
            return "no (free slot)"
        if alloc[w] & b:
            return "yes (survived cycle %d: the sweep made its gcmarkBits the allocBits)" % gc.cycle
        return "no (allocated after cycle %d)" % gc.cycle


GmPrefix()
GmMemstats()
GmSpans()
GmSpan()
GmObject()
