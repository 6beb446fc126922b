/*
 * Marking (Go's mgcmark.go and mgcwork.go). See mgc.c for the overview.
 *
 * Colours: white = mark bit clear; grey = mark bit set and the object's
 * address in a work buffer; black = mark bit set and scanned (noscan
 * objects go straight to black). Work buffers hold 254 addresses (2 KiB,
 * as Go's) and come from mmap'd 64 KiB chunks, so the mark stack never
 * overflows: it grows until memory runs out (fatal). Each marker has two
 * buffers (one of hysteresis, Go's gcWork); full buffers go to a shared
 * list from which idle markers take work, and a marker with spare work
 * gives a buffer away when others are idle. Large objects are scanned in
 * 128 KiB oblets, each queued separately, so one big array does not
 * serialise the mark.
 *
 * The world is stopped for all of this. The markers are GOMALLOC_MARKERS
 * threads: the collector plus helpers that sleep between cycles.
 */
#include <link.h>
#include <string.h>
#include <time.h>

#include "mgc.h"

#define WORKBUF_N 254 /* Go: 253 after a 24-byte header; ours is 16 */
typedef struct workbuf {
    struct workbuf *next;
    uintptr_t n;
    uintptr_t obj[WORKBUF_N];
} workbuf;
_Static_assert(sizeof(workbuf) == 2048, "a work buffer is 2 KiB");

typedef struct gcwork {
    workbuf *w1, *w2;
    uint64_t marked_bytes;
} gcwork;

/* Shared by the markers of one cycle; work_lock (never taken by mutators). */
static gm_mutex work_lock = GM_MUTEX_INIT;
static workbuf *work_full, *work_empty;
static uint32_t work_seq;     /* futex word: bumped when a full buffer is published */
static uint32_t nwait;        /* markers out of work (atomic) */
static uint32_t nmarkers;     /* markers in this phase, collector included */

static uint64_t nanocpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static workbuf *getempty(void) {
    gm__lock(&work_lock);
    workbuf *b = work_empty;
    if (!b) {
        enum { CHUNK = 64 << 10 };
        char *c = gm__sys_alloc(CHUNK);
        if (!c) gm__fatal("out of memory for mark work buffers", NULL);
        GM_ADD(&gm__heapstats.gc_sys, CHUNK);
        for (size_t off = 0; off < CHUNK; off += sizeof(workbuf)) {
            workbuf *w = (workbuf *)(c + off);
            w->next = work_empty;
            work_empty = w;
        }
        b = work_empty;
    }
    work_empty = b->next;
    gm__unlock(&work_lock);
    b->n = 0;
    return b;
}

static void putempty(workbuf *b) {
    gm__lock(&work_lock);
    b->next = work_empty;
    work_empty = b;
    gm__unlock(&work_lock);
}

static void putfull(workbuf *b) {
    gm__lock(&work_lock);
    b->next = work_full;
    GM_STORE(&work_full, b); /* idle markers peek at it without the lock */
    gm__unlock(&work_lock);
    /* Sequentially consistent with the idle markers' nwait increment and
     * their read of work_seq: either they see the new seq (and the buffer)
     * or we see them waiting and wake them. */
    __atomic_add_fetch(&work_seq, 1, __ATOMIC_SEQ_CST);
    if (GM_LOAD_SC(&nwait)) gm__futex_wake(&work_seq);
}

static workbuf *trygetfull(void) {
    if (!GM_LOAD(&work_full)) return NULL;
    gm__lock(&work_lock);
    workbuf *b = work_full;
    if (b) GM_STORE(&work_full, b->next);
    gm__unlock(&work_lock);
    return b;
}

static inline void push(gcwork *w, uintptr_t obj) {
    workbuf *b = w->w1;
    if (GM_UNLIKELY(b->n == WORKBUF_N)) {
        w->w1 = w->w2;
        w->w2 = b;
        b = w->w1;
        if (b->n == WORKBUF_N) {
            putfull(b);
            w->w1 = b = getempty();
        }
    }
    b->obj[b->n++] = obj;
}

static inline bool pop(gcwork *w, uintptr_t *obj) {
    workbuf *b = w->w1;
    if (GM_UNLIKELY(b->n == 0)) {
        w->w1 = w->w2;
        w->w2 = b;
        b = w->w1;
        if (b->n == 0) {
            workbuf *f = trygetfull();
            if (!f) return false;
            putempty(b);
            w->w1 = b = f;
        }
    }
    *obj = b->obj[--b->n];
    return true;
}

/* ---- finding and greying objects ------------------------------------------ */

static inline void grey(gcwork *w, gm_span *s, uint32_t idx, uintptr_t obj) {
    uint64_t bit = (uint64_t)1 << (idx % 64);
    uint64_t *m = &s->gcmark_bits[idx / 64];
    if (GM_LOAD(m) & bit) return;
    if (__atomic_fetch_or(m, bit, __ATOMIC_RELAXED) & bit) return;
    w->marked_bytes += s->spanclass >= 2 ? s->elemsize : s->npages * GM_PAGE_SIZE;
    if (s->gckind != GM_GC_NOSCAN) push(w, obj);
}

bool gm__gc_is_marked(gm_span *s, uintptr_t obj) {
    uint32_t idx = s->spanclass >= 2 ? gm__span_slot(s, obj) : 0;
    return (GM_LOAD(&s->gcmark_bits[idx / 64]) >> (idx % 64)) & 1;
}

static inline void mark_word(gcwork *w, uintptr_t v, uintptr_t lo, uintptr_t span) {
    if (GM_LIKELY(v - lo >= span)) return;
    gm_span *s;
    uint32_t idx;
    uintptr_t obj = gm__find_object(v, &s, &idx);
    if (obj) grey(w, s, idx, obj);
}

/* Every aligned word of [lo, hi) may be a pointer. */
GM_NO_SANITIZE static void scan_conservative(gcwork *w, uintptr_t lo, uintptr_t hi) {
    lo = (lo + 7) & ~(uintptr_t)7;
    /* The heap's bounds do not change while the world is stopped. */
    uintptr_t hlo = gm__heap_bounds.lo, hspan = gm__heap_bounds.hi - hlo;
    for (const uintptr_t *p = (const uintptr_t *)lo; (uintptr_t)p + 8 <= hi; p++)
        mark_word(w, *p, hlo, hspan);
}

/* A word the type says is a pointer: it must not lead to a free slot of a
 * collected span (the object it named was collected: heap corruption). */
static inline void mark_precise(gcwork *w, uintptr_t v) {
    if (GM_LIKELY(v - gm__heap_bounds.lo >= gm__heap_bounds.hi - gm__heap_bounds.lo)) return;
    gm_span *s;
    uint32_t idx;
    uintptr_t obj = gm__find_object(v, &s, &idx);
    if (obj) {
        grey(w, s, idx, obj);
        return;
    }
    s = gm__span_of(v);
    if (s && GM_LOAD_ACQ(&s->gckind) && s->spanclass >= 2 && v < s->limit) {
        idx = gm__span_slot(s, v);
        if (!(GM_LOAD(&s->remote_free[idx / 64]) & ((uint64_t)1 << (idx % 64))))
            gm__fatal("found pointer to free object in typed object (heap corruption)",
                      (void *)v);
    }
}

/* Small typed object: the span's heap bits say which words are pointers. */
static void scan_typed_small(gcwork *w, gm_span *s, uintptr_t obj) {
    size_t first = (obj - s->base) / 8, n = s->elemsize / 8;
    const uintptr_t *words = (const uintptr_t *)obj;
    for (size_t i = 0; i < n;) {
        size_t bit = first + i;
        uint64_t bits = s->heap_bits[bit / 64] >> (bit % 64);
        size_t avail = 64 - bit % 64;
        if (avail > n - i) {
            avail = n - i;
            bits &= ((uint64_t)1 << avail) - 1;
        }
        while (bits) {
            unsigned t = (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            mark_precise(w, words[i + t]);
        }
        i += avail;
    }
}

/* [lo, hi) of a large typed object starting at base, tiled by t. */
static void scan_typed_range(gcwork *w, const gm_type *t, uintptr_t base, uintptr_t lo,
                             uintptr_t hi) {
    size_t nptr = t->ptrdata / 8;
    for (uintptr_t e = base + (lo - base) / t->size * t->size; e < hi; e += t->size) {
        for (size_t k = 0; k < nptr; k++) {
            if (!((t->gcdata[k / 64] >> (k % 64)) & 1)) continue;
            uintptr_t a = e + k * 8;
            if (a >= lo && a < hi) mark_precise(w, *(const uintptr_t *)a);
        }
    }
}

/* Go's scanobject. obj is an object start, or an oblet of a large object. */
static void scan_object(gcwork *w, uintptr_t obj) {
    gm_span *s = gm__span_of(obj);
    if (s->spanclass >= 2) {
        if (s->gckind == GM_GC_TYPED) scan_typed_small(w, s, obj);
        else scan_conservative(w, obj, obj + s->elemsize);
        return;
    }
    uintptr_t end = s->base + s->largesize;
    if (obj == s->base)
        for (uintptr_t o = obj + GM_OBLET_BYTES; o < end; o += GM_OBLET_BYTES) push(w, o);
    uintptr_t hi = obj + GM_OBLET_BYTES < end ? obj + GM_OBLET_BYTES : end;
    if (s->gckind == GM_GC_TYPED) scan_typed_range(w, s->largetype, s->base, obj, hi);
    else scan_conservative(w, obj, hi);
}

/* ---- draining, in parallel ------------------------------------------------ */

static void gcwork_init(gcwork *w) {
    w->w1 = getempty();
    w->w2 = getempty();
    w->marked_bytes = 0;
}

static void gcwork_dispose(gcwork *w, gm_markstats *ms) {
    putempty(w->w1);
    putempty(w->w2);
    __atomic_add_fetch(&ms->marked_bytes, w->marked_bytes, __ATOMIC_RELAXED);
}

/* Every marker is idle and no work is left: wake the sleepers so that
 * they see it too (the seq bump makes a wait about to start return). */
static void end_of_work(void) {
    __atomic_add_fetch(&work_seq, 1, __ATOMIC_SEQ_CST);
    if (GM_LOAD(&nmarkers) > 1) gm__futex_wake(&work_seq);
}

/* Drain until every marker is out of work and no full buffer is left. An
 * idle marker spins briefly, then sleeps until a buffer is published or the
 * mark ends: no yielding, no polling, so a marker that still has work (or
 * a runnable mutator, after the mark) gets the CPU. */
static void drain(gcwork *w) {
    unsigned n = 0;
    for (;;) {
        uintptr_t obj;
        while (pop(w, &obj)) {
            scan_object(w, obj);
            /* Share: others are idle and we hold a spare buffer of work. */
            if ((++n & 63) == 0 && GM_LOAD(&nwait) && w->w2->n) {
                putfull(w->w2);
                w->w2 = getempty();
            }
        }
        __atomic_add_fetch(&nwait, 1, __ATOMIC_SEQ_CST);
        for (int spins = 0;; spins++) {
            uint32_t seq = GM_LOAD_SC(&work_seq);
            if (GM_LOAD(&work_full)) {
                __atomic_sub_fetch(&nwait, 1, __ATOMIC_SEQ_CST);
                break;
            }
            if (GM_LOAD_SC(&nwait) == GM_LOAD(&nmarkers) && !GM_LOAD(&work_full)) {
                end_of_work();
                return;
            }
            if (spins < 64) __builtin_ia32_pause();
            else gm__futex_wait(&work_seq, seq, 0);
        }
    }
}

static uint32_t phase;          /* futex word: bumped to start helpers on a phase */
static uint32_t helpers_busy;   /* futex word: helpers still in the phase */
static uint32_t nhelpers;       /* helper threads started (gc lock) */
static gm_markstats *phase_stats;

/* arg: the phase when the helper was started, so that it waits for the
 * next one (in a fork child, phase keeps the parent's count). */
static void *marker_main(void *arg) {
    uint32_t seen = (uint32_t)(uintptr_t)arg;
    for (;;) {
        while (GM_LOAD_ACQ(&phase) == seen) gm__futex_wait(&phase, seen, 0);
        seen = GM_LOAD_ACQ(&phase);
        uint64_t c0 = nanocpu();
        gcwork w;
        gcwork_init(&w);
        drain(&w);
        gcwork_dispose(&w, phase_stats);
        __atomic_add_fetch(&phase_stats->cpu_ns_workers, nanocpu() - c0, __ATOMIC_RELAXED);
        if (__atomic_sub_fetch(&helpers_busy, 1, __ATOMIC_RELEASE) == 0)
            gm__futex_wake(&helpers_busy);
    }
    return NULL;
}

static unsigned markers_wanted(void) {
    long n = gm__opts.markers ? (long)gm__opts.markers : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

/* Helpers are started outside the stopped world (creating a thread may
 * take locks a stopped thread holds). gc lock. */
static void start_helpers(void) {
    unsigned want = markers_wanted() - 1;
    while (nhelpers < want && gm__start_helper(marker_main, (void *)(uintptr_t)GM_LOAD(&phase)))
        nhelpers++;
}

/* ---- roots ------------------------------------------------------------------ */

typedef struct segment { uintptr_t lo, hi; } segment;
static segment *segs;       /* writable segments of loaded objects; gc lock */
static size_t nsegs, capsegs;

static void add_segment(uintptr_t lo, uintptr_t hi) {
    if (nsegs == capsegs) {
        size_t ncap = capsegs ? capsegs * 2 : 64;
        segment *n = gm__sys_alloc(ncap * sizeof *n);
        if (!n) gm__fatal("out of memory for root segments", NULL);
        if (segs) {
            memcpy(n, segs, nsegs * sizeof *n);
            gm__sys_free(segs, capsegs * sizeof *n);
        }
        segs = n;
        capsegs = ncap;
    }
    segs[nsegs++] = (segment){lo, hi};
}

/* gomalloc's own globals are not roots: the arena index (32 MiB of bss)
 * and the heap addresses in gm__heap_bounds. */
static void add_segment_excluding(uintptr_t lo, uintptr_t hi, int k) {
    static const struct { const void *lo, *hi; } ours[] = {
        {&gm__arenas[0], &gm__arenas[GM_ARENA_L1_ENTRIES]},
        {&gm__heap_bounds, &gm__heap_bounds + 1},
    };
    if (hi <= lo) return;
    if (k == (int)(sizeof ours / sizeof ours[0])) {
        add_segment(lo, hi);
        return;
    }
    uintptr_t xlo = (uintptr_t)ours[k].lo, xhi = (uintptr_t)ours[k].hi;
    if (hi <= xlo || lo >= xhi) {
        add_segment_excluding(lo, hi, k + 1);
        return;
    }
    if (lo < xlo) add_segment_excluding(lo, xlo, k + 1);
    if (hi > xhi) add_segment_excluding(xhi, hi, k + 1);
}

static int phdr_segments(struct dl_phdr_info *info, size_t size, void *ctx) {
    (void)size;
    (void)ctx;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        add_segment_excluding(lo, lo + ph->p_memsz, 0);
    }
    return 0;
}

static void scan_root_cb(uintptr_t lo, uintptr_t hi, void *ctx) {
    scan_conservative(ctx, lo, hi);
}

static void mark_roots(gcwork *w, gm_markstats *ms) {
    gm_gthread *self = gm__tls_gthread;
    for (gm_gthread *t = gm__threads; t; t = t->next) {
        uintptr_t lo = t->sp < t->stack_lo ? t->stack_lo : t->sp;
        if (lo < t->stack_hi) {
            scan_conservative(w, lo, t->stack_hi);
            ms->stacks_bytes += t->stack_hi - lo;
        }
        scan_conservative(w, (uintptr_t)t->regs, (uintptr_t)(t->regs + 18));
        if (t != self && t->altstack_hi > t->altstack_lo)
            scan_conservative(w, t->altstack_lo, t->altstack_hi);
    }
    for (size_t i = 0; i < nsegs; i++) {
        scan_conservative(w, segs[i].lo, segs[i].hi);
        ms->globals_bytes += segs[i].hi - segs[i].lo;
    }
    gm__final_mark_roots(scan_root_cb, w);
}

/* The collector's part: roots, then draining beside the helpers. */
static void mark_with_helpers(gm_markstats *ms) {
    phase_stats = ms;
    GM_STORE(&nwait, 0);
    GM_STORE(&nmarkers, nhelpers + 1);
    GM_STORE(&helpers_busy, nhelpers);
    __atomic_add_fetch(&phase, 1, __ATOMIC_RELEASE);
    gm__futex_wake(&phase);
    gcwork w;
    gcwork_init(&w);
    mark_roots(&w, ms);
    drain(&w);
    gcwork_dispose(&w, ms);
    uint32_t busy;
    while ((busy = GM_LOAD_ACQ(&helpers_busy)) != 0) gm__futex_wait(&helpers_busy, busy, 0);
}

typedef struct mark_ctx { gm_markstats *ms; } mark_ctx;

/* Runs with the loader's lock held (inside dl_iterate_phdr), so no library
 * is loaded or unloaded while the world is stopped and its data scanned. */
static int mark_under_loader_lock(struct dl_phdr_info *info, size_t size, void *ctxv) {
    (void)info;
    (void)size;
    mark_ctx *ctx = ctxv;
    nsegs = 0;
    dl_iterate_phdr(phdr_segments, NULL); /* the loader lock is recursive */
    gm__stop_the_world();
    gm__pool_cleanup();
    mark_with_helpers(ctx->ms);
    return 1;
}

void gm__gc_mark(gm_markstats *ms) {
    start_helpers();
    mark_ctx ctx = {ms};
    dl_iterate_phdr(mark_under_loader_lock, &ctx);
}

void gm__gc_mark_object(void *obj, gm_markstats *ms) {
    gm_span *s;
    uint32_t idx;
    uintptr_t o = gm__find_object((uintptr_t)obj, &s, &idx);
    if (!o) return;
    GM_STORE(&nwait, 0);
    GM_STORE(&nmarkers, 1);
    gcwork w;
    gcwork_init(&w);
    grey(&w, s, idx, o);
    drain(&w);
    gcwork_dispose(&w, ms);
}

void gm__gc_markers_fork_child(void) {
    nhelpers = 0;
    gm__lock_reinit(&work_lock);
    helpers_busy = 0;
}
