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
 * Span at a time (GOMALLOC_GCMARK=span, the default; Go 1.26's "Green
 * Tea"): the objects of scan spans of up to 512-byte objects are not
 * queued one by one. Marking one queues its span (once: gcowned), into a
 * FIFO ring of the marker's own, so that a span waits while more of its
 * objects are marked; a span scan then scans every object marked and not
 * yet scanned (gcmark_bits & ~gcscan_bits), in address order, and the
 * objects they point to in the same span in further passes, marked
 * without a span lookup or an atomic operation each (scan_span). The
 * objects of one span share cache lines, heap bits and metadata, and a
 * structure allocated in order lies in few spans: with the world
 * stopped, binary-trees and GCBench take 63% and 77% less marking CPU per
 * cycle than with object-at-a-time marking (GOMALLOC_GCMARK=object,
 * bench/RESULTS.md).
 *
 * The markers are GOMALLOC_MARKERS threads: the collector plus helpers
 * that sleep between cycles. With the world stopped (GOMALLOC_GCMODE=stw,
 * and mark termination) all of them drain; while the program runs, a
 * quarter of them (at least the collector: Go's dedicated workers) and the
 * allocating threads' assists.
 *
 * Concurrent marking (mgc.c has the cycle) rests on three rules:
 *  - Allocate black: a span handed to a thread during marking has its
 *    free slots marked first (mark_free_slots), so every object allocated
 *    during marking is black without a store on the fast path; mark
 *    termination unmarks the slots that stayed free.
 *  - A pointer stored into a black object after it was scanned (or born)
 *    dirties its page (mdirty.h: the write barrier C does not have); the
 *    marked objects on dirty pages are scanned again, in concurrent rounds
 *    and at mark termination (rescan_run).
 *  - Roots (stacks, registers, globals, gm_add_roots ranges, finalizer
 *    roots) are scanned at both pauses, the second time in full.
 * Together: at mark termination every object reachable from the roots is
 * marked, or reachable from a grey one (Boehm, Demers and Shenker 1991).
 */
#include <link.h>
#include <string.h>
#include <time.h>

#include "mdirty.h"
#include "mgc.h"

#define WORKBUF_N 254 /* Go: 253 after a 24-byte header; ours is 16 */
typedef struct workbuf {
    struct workbuf *next;
    uintptr_t n;
    uintptr_t obj[WORKBUF_N];
} workbuf;
_Static_assert(sizeof(workbuf) == 2048, "a work buffer is 2 KiB");

/* Span-at-a-time marking keeps the spans it queued in a FIFO ring of its
 * own, so that a span waits while more of its objects get marked (Go's
 * spanQueue; a ring of 256 as Go's). */
#define SPANQ_N 256
#define PF_N 16 /* see pf_push */
typedef struct gcwork {
    workbuf *w1, *w2;
    uint64_t marked_bytes;
    uint64_t scanned;      /* bytes scanned, not yet added to scan_done */
    uint32_t qhead, qtail; /* spanq[qhead % SPANQ_N .. qtail) are queued spans */
    gm_span *cur;          /* the span being scanned (scan_span), or NULL */
    uintptr_t cur_base, cur_len; /* its objects' range; cur_len 0 without cur */
    uint64_t cur_marks[GM_MAX_BITMAP_WORDS]; /* objects of cur we marked, not yet
                                                in its gcmark_bits (scan_span) */
    /* Conservative words that may point into the heap, in flight through
     * the prefetch pipeline (pf_push): pf_v[pf_out % PF_N .. pf_in). */
    uint32_t pf_in, pf_out;
    uintptr_t pf_v[PF_N];
    gm_span *pf_s[PF_N];
    uintptr_t spanq[SPANQ_N];
} gcwork;

/* Shared by the markers of one cycle; work_lock (never taken by mutators). */
static gm_mutex work_lock = GM_MUTEX_INIT;
static workbuf *work_full, *work_empty;
static uint32_t work_seq;     /* futex word: bumped when a full buffer is published */
static uint32_t nwait;        /* markers out of work (atomic) */
static uint32_t nmarkers;     /* markers in this phase, collector included */
static uint32_t nassist;      /* threads assisting now: they hold work (SC) */
static uint64_t scan_done;    /* bytes scanned this cycle by everyone (relaxed) */

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

/* The n oldest queued spans go to the shared list, where idle markers
 * take them. */
static void spanq_spill(gcwork *w, uint32_t n) {
    workbuf *b = getempty();
    for (; n && b->n < WORKBUF_N; n--) b->obj[b->n++] = w->spanq[w->qhead++ % SPANQ_N];
    putfull(b);
}

static inline void spanq_put(gcwork *w, uintptr_t item) {
    if (GM_UNLIKELY(w->qtail - w->qhead == SPANQ_N)) spanq_spill(w, SPANQ_N / 2);
    w->spanq[w->qtail++ % SPANQ_N] = item;
}

static void pf_flush(gcwork *w);

/* Work in this order: our objects (LIFO), our spans (FIFO: the longer a
 * span waits, the more of its objects are marked when it is scanned, as
 * in Go's gcDrain), then the shared list. */
static inline bool pop(gcwork *w, uintptr_t *obj) {
    workbuf *b = w->w1;
    if (GM_UNLIKELY(b->n == 0)) {
        w->w1 = w->w2;
        w->w2 = b;
        b = w->w1;
        if (b->n == 0) {
            if (w->pf_in != w->pf_out) { /* its marks may bring work */
                pf_flush(w);
                return pop(w, obj);
            }
            if (w->qhead != w->qtail) {
                *obj = w->spanq[w->qhead++ % SPANQ_N];
                return true;
            }
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

/* Span-at-a-time marking (GOMALLOC_GCMARK=span; Go 1.26's "Green Tea").
 * For a scan span of small objects (gcscan_bits != NULL), greying an
 * object sets its mark bit and queues its span rather than the object,
 * unless the span is queued already; the marker that takes the span scans
 * every object marked and not yet scanned (gcmark_bits & ~gcscan_bits), in
 * address order. Objects that share a span are scanned together: the
 * span's heap bits and the objects' cache lines are touched once. A span
 * is queued (item: the object's address | 2) by whoever moves gcowned away
 * from 0 (Go's tryAcquire): ONE for the first mark, MANY once a second
 * marker finds it queued. The scanner takes it back to 0 with an exchange
 * before it reads the mark bits; a mark set after that queues the span
 * again. Mark bit OR then gcowned load, against exchange then mark bit
 * load, all seq_cst: either the scanner sees the mark or the marker sees
 * 0 and queues. A span taken back as ONE has exactly one new mark, the
 * queued object's, which is scanned without reading the bitmaps (Go's
 * fast path for sparse spans). */
#define SPANQ_ONE 1
#define SPANQ_MANY 2
#define SPAN_ITEM 2

static inline bool span_acquire(gm_span *s) {
    uint8_t o = GM_LOAD_SC(&s->gcowned);
    if (o == 0) {
        o = __atomic_fetch_or(&s->gcowned, SPANQ_ONE, __ATOMIC_SEQ_CST);
        if (o == 0) return true;
    }
    if (o & SPANQ_MANY) return false;
    return __atomic_fetch_or(&s->gcowned, SPANQ_MANY, __ATOMIC_SEQ_CST) == 0;
}

static inline void grey(gcwork *w, gm_span *s, uint32_t idx, uintptr_t obj) {
    uint64_t bit = (uint64_t)1 << (idx % 64);
    uint64_t *m = &s->gcmark_bits[idx / 64];
    if (GM_LOAD(m) & bit) return;
    if (__atomic_fetch_or(m, bit, __ATOMIC_SEQ_CST) & bit) return;
    w->marked_bytes += s->spanclass >= 2 ? s->elemsize : s->npages * GM_PAGE_SIZE;
    if (s->gckind == GM_GC_NOSCAN) return;
    if (!s->gcscan_bits) push(w, obj);
    else if (span_acquire(s)) spanq_put(w, obj | SPAN_ITEM);
}

bool gm__gc_is_marked(gm_span *s, uintptr_t obj) {
    uint32_t idx = s->spanclass >= 2 ? gm__span_slot(s, obj) : 0;
    return (GM_LOAD(&s->gcmark_bits[idx / 64]) >> (idx % 64)) & 1;
}

/* The heap's address range as [lo, lo + span). It grows while concurrent
 * marking runs; a stale copy only misses arenas mapped since, whose
 * objects were all allocated black. */
static inline void heap_range(uintptr_t *lo, uintptr_t *span) {
    *lo = GM_LOAD(&gm__heap_bounds.lo);
    *span = GM_LOAD(&gm__heap_bounds.hi) - *lo;
}

/* A pointer into the span being scanned: noted in w->cur_marks without
 * looking the span up or an atomic operation, and scanned by scan_span's
 * next pass (the object is prefetched meanwhile). */
static inline bool mark_in_cur(gcwork *w, uintptr_t v) {
    if (v - w->cur_base >= w->cur_len) return false;
    gm_span *s = w->cur;
    uint32_t idx = gm__span_slot(s, v);
    if (!gm__slot_live(s, idx)) return false; /* the caller's checks decide */
    uint64_t bit = (uint64_t)1 << (idx % 64);
    if ((GM_LOAD(&s->gcmark_bits[idx / 64]) | w->cur_marks[idx / 64]) & bit) return true;
    w->cur_marks[idx / 64] |= bit;
    __builtin_prefetch((const void *)(s->base + (uintptr_t)idx * s->elemsize));
    return true;
}

static inline void mark_found(gcwork *w, uintptr_t v) {
    gm_span *s;
    uint32_t idx;
    uintptr_t obj = gm__find_object(v, &s, &idx);
    if (obj) grey(w, s, idx, obj);
}

/* The prefetch pipeline. Finding the object a word points to is a chain
 * of dependent loads (the arena's span table, the span, its bitmaps), each
 * likely a cache miss for a pointer to anywhere in a large heap. Words
 * wait in a FIFO of PF_N while the lines they need are prefetched, one
 * link of the chain at a time: the span table entry when a word enters,
 * the span PF_SPAN words later, its mark bitmap word PF_BITS later; it is
 * marked (mark_found, every check made again) when it leaves. The
 * prefetches are hints only: a span read early may be reused meanwhile.
 * (Garner, Blackburn and Frampton, "Effective prefetch for mark-sweep
 * garbage collection", ISMM 2007, prefetch the objects on a FIFO the
 * same way.) Pending words are marked before a marker looks for work or
 * hands its work over (pf_flush). */
#define PF_SPAN 5
#define PF_BITS 10

static void pf_flush(gcwork *w) {
    while (w->pf_out != w->pf_in) mark_found(w, w->pf_v[w->pf_out++ % PF_N]);
}

static inline void pf_prefetch_bits(gcwork *w, uint32_t k) {
    gm_span *s = w->pf_s[k % PF_N];
    if (!s || !GM_LOAD_ACQ(&s->gckind)) return;
    uintptr_t v = w->pf_v[k % PF_N];
    uint32_t idx = s->spanclass >= 2 ? gm__span_slot(s, v) : 0;
    if (idx < s->nelems) __builtin_prefetch(&s->gcmark_bits[idx / 64]);
}

static inline void pf_push(gcwork *w, uintptr_t v) {
    uint32_t n = w->pf_in;
    if (n - w->pf_out == PF_N) mark_found(w, w->pf_v[w->pf_out++ % PF_N]);
    if (n - w->pf_out >= PF_SPAN) {
        uint32_t k = n - PF_SPAN;
        gm_span *s = gm__span_of(w->pf_v[k % PF_N]);
        w->pf_s[k % PF_N] = s;
        if (s) {
            __builtin_prefetch(s);
            __builtin_prefetch((const char *)s + GM_CACHELINE);
        }
    }
    if (n - w->pf_out >= PF_BITS) pf_prefetch_bits(w, n - PF_BITS);
    gm_heap_arena *ha = gm__arena_of(v);
    if (ha) __builtin_prefetch(&ha->spans[(v >> GM_PAGE_SHIFT) & (GM_PAGES_PER_ARENA - 1)]);
    w->pf_v[n % PF_N] = v;
    w->pf_in = n + 1;
}

static inline void mark_word(gcwork *w, uintptr_t v, uintptr_t lo, uintptr_t span) {
    if (GM_LIKELY(v - lo >= span) || mark_in_cur(w, v)) return;
    pf_push(w, v);
}

/* Every aligned word of [lo, hi) may be a pointer. */
GM_NO_SANITIZE static void scan_conservative(gcwork *w, uintptr_t lo, uintptr_t hi) {
    lo = (lo + 7) & ~(uintptr_t)7;
    uintptr_t hlo, hspan;
    heap_range(&hlo, &hspan);
    for (const uintptr_t *p = (const uintptr_t *)lo; (uintptr_t)p + 8 <= hi; p++)
        mark_word(w, *p, hlo, hspan);
}

/* 1 while the world is stopped for marking. Only then is a typed object
 * sure to be initialised: while the program runs, a marker may read one
 * being allocated (old words, new heap bits). Written by the collector. */
static uint32_t world_stopped;

/* A word the type says is a pointer: it must not lead to a free slot of a
 * collected span (the object it named was collected: heap corruption). */
static inline void mark_precise(gcwork *w, uintptr_t v) {
    uintptr_t hlo, hspan;
    heap_range(&hlo, &hspan);
    if (GM_LIKELY(v - hlo >= hspan) || mark_in_cur(w, v)) return;
    gm_span *s;
    uint32_t idx;
    uintptr_t obj = gm__find_object(v, &s, &idx);
    if (obj) {
        grey(w, s, idx, obj);
        return;
    }
    s = gm__span_of(v);
    if (GM_LOAD(&world_stopped) && s && GM_LOAD_ACQ(&s->gckind) && s->spanclass >= 2 &&
        v < s->limit) {
        idx = gm__span_slot(s, v);
        if (!(GM_LOAD(&s->remote_free[idx / 64]) & ((uint64_t)1 << (idx % 64))))
            gm__fatal("found pointer to free object in typed object (heap corruption)",
                      (void *)v);
    }
}

/* Small typed object: the span's heap bits say which words are pointers.
 * During concurrent marking the owner may be setting them for an object
 * allocated black; such an object is written after, so its page is
 * rescanned at the latest at mark termination, bits complete. */
GM_NO_SANITIZE static void scan_typed_small(gcwork *w, gm_span *s, uintptr_t obj) {
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
GM_NO_SANITIZE static void scan_typed_range(gcwork *w, const gm_type *t, uintptr_t base, uintptr_t lo,
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

/* Go's scanobject. obj is an object start, an oblet of a large object, or
 * a written page | 1. Returns the bytes scanned (the pacer's scan work). */
static void rescan_run(uintptr_t lo, size_t npages, gcwork *w);

static inline size_t scan_small(gcwork *w, gm_span *s, uintptr_t obj) {
    if (s->gckind == GM_GC_TYPED) scan_typed_small(w, s, obj);
    else scan_conservative(w, obj, obj + s->elemsize);
    return s->elemsize;
}

/* Publish the marks scan_span's objects made in their own span, one
 * atomic OR per word; true if any was new (another marker may have marked
 * the object meanwhile, and then it is not ours to count). */
static bool flush_cur_marks(gcwork *w, gm_span *s) {
    bool any = false;
    for (unsigned i = 0; i < s->nwords; i++) {
        uint64_t mine = w->cur_marks[i];
        if (!mine) continue;
        w->cur_marks[i] = 0;
        uint64_t fresh = mine & ~__atomic_fetch_or(&s->gcmark_bits[i], mine, __ATOMIC_SEQ_CST);
        w->marked_bytes += (uint64_t)gm__popcount(fresh) * s->elemsize;
        any |= fresh != 0;
    }
    return any;
}

/* One pass over the bitmaps: scan what is marked and not scanned. */
static size_t scan_span_pass(gcwork *w, gm_span *s) {
    uint64_t *scanned = s->gcscan_bits;
    size_t n = 0;
    for (unsigned i = 0; i < s->nwords; i++) {
        uint64_t marks = GM_LOAD_SC(&s->gcmark_bits[i]);
        if (!(marks & ~GM_LOAD(&scanned[i]))) continue;
        /* Two markers may hold the same span: the OR's old value tells
         * each which objects are its own to scan. */
        uint64_t todo = marks & ~__atomic_fetch_or(&scanned[i], marks, __ATOMIC_RELAXED);
        /* The objects' addresses first, each prefetched, then the scans:
         * their cache misses overlap (Go prefetches the same way). */
        uintptr_t objs[64];
        unsigned k = 0;
        for (; todo; todo &= todo - 1) {
            uint32_t idx = i * 64 + (uint32_t)__builtin_ctzll(todo);
            objs[k] = s->base + (uintptr_t)idx * s->elemsize;
            __builtin_prefetch((const void *)objs[k++]);
        }
        for (unsigned j = 0; j < k; j++) n += scan_small(w, s, objs[j]);
    }
    return n;
}

/* A queued span (see grey): scan what was marked since it was last
 * scanned. Objects of the span that its own objects point to are marked
 * in passes (mark_in_cur, flush_cur_marks) and scanned by the next pass,
 * so that a structure laid out in one span (a subtree allocated in order,
 * a list) is scanned in one visit while its lines are in the cache, with
 * one atomic operation per bitmap word rather than per object. */
static size_t scan_span(gcwork *w, uintptr_t obj) {
    gm_span *s = gm__span_of(obj);
    size_t n = 0;
    w->cur = s;
    w->cur_base = s->base;
    w->cur_len = s->limit - s->base;
    if (__atomic_exchange_n(&s->gcowned, 0, __ATOMIC_SEQ_CST) == SPANQ_ONE) {
        uint32_t idx = gm__span_slot(s, obj);
        uint64_t bit = (uint64_t)1 << (idx % 64);
        if (!(__atomic_fetch_or(&s->gcscan_bits[idx / 64], bit, __ATOMIC_RELAXED) & bit))
            n += scan_small(w, s, obj);
        if (!flush_cur_marks(w, s)) goto out;
    }
    do n += scan_span_pass(w, s);
    while (flush_cur_marks(w, s));
out:
    w->cur = NULL;
    w->cur_len = 0;
    return n;
}

static size_t scan_object(gcwork *w, uintptr_t obj) {
    if (obj & SPAN_ITEM) return scan_span(w, obj - SPAN_ITEM);
    if (GM_UNLIKELY(obj & 1)) { /* a written page to rescan (queue_run) */
        rescan_run(obj - 1, 1, w);
        return gm__dirty_page_size();
    }
    gm_span *s = gm__span_of(obj);
    if (s->spanclass >= 2) return scan_small(w, s, obj);
    uintptr_t end = s->base + s->largesize;
    if (obj == s->base)
        for (uintptr_t o = obj + GM_OBLET_BYTES; o < end; o += GM_OBLET_BYTES) push(w, o);
    uintptr_t hi = obj + GM_OBLET_BYTES < end ? obj + GM_OBLET_BYTES : end;
    if (s->gckind == GM_GC_TYPED) scan_typed_range(w, s->largetype, s->base, obj, hi);
    else scan_conservative(w, obj, hi);
    return hi - obj;
}

static void flush_scanned(gcwork *w) {
    if (w->scanned) __atomic_add_fetch(&scan_done, w->scanned, __ATOMIC_RELAXED);
    w->scanned = 0;
}

/* ---- draining, in parallel ------------------------------------------------ */

static void gcwork_init(gcwork *w) {
    w->w1 = getempty();
    w->w2 = getempty();
    w->marked_bytes = w->scanned = 0;
    w->qhead = w->qtail = 0;
    w->cur = NULL;
    w->cur_base = w->cur_len = 0;
    memset(w->cur_marks, 0, sizeof w->cur_marks);
    w->pf_in = w->pf_out = 0;
}

/* Hand w's queued work to the shared list, keeping empty buffers. */
static void publish(gcwork *w) {
    pf_flush(w);
    while (w->qhead != w->qtail) spanq_spill(w, w->qtail - w->qhead);
    if (w->w1->n) {
        putfull(w->w1);
        w->w1 = getempty();
    }
    if (w->w2->n) {
        putfull(w->w2);
        w->w2 = getempty();
    }
}

static void gcwork_dispose(gcwork *w, gm_markstats *ms) {
    gm_assert(1, w->pf_in == w->pf_out && w->qhead == w->qtail, "mark work left behind");
    putempty(w->w1);
    putempty(w->w2);
    if (ms) __atomic_add_fetch(&ms->marked_bytes, w->marked_bytes, __ATOMIC_RELAXED);
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
            w->scanned += scan_object(w, obj);
            if ((++n & 63) != 0) continue;
            flush_scanned(w);
            /* Share: others are idle and we hold a spare buffer of work,
             * or spans queued. */
            if (!GM_LOAD(&nwait)) continue;
            if (w->w2->n) {
                putfull(w->w2);
                w->w2 = getempty();
            } else if (w->qtail - w->qhead >= 8) {
                spanq_spill(w, (w->qtail - w->qhead) / 2);
            }
        }
        flush_scanned(w);
        __atomic_add_fetch(&nwait, 1, __ATOMIC_SEQ_CST);
        for (int spins = 0;; spins++) {
            uint32_t seq = GM_LOAD_SC(&work_seq);
            if (GM_LOAD(&work_full)) {
                __atomic_sub_fetch(&nwait, 1, __ATOMIC_SEQ_CST);
                break;
            }
            if (GM_LOAD_SC(&nwait) == GM_LOAD(&nmarkers) && !GM_LOAD(&work_full) &&
                !GM_LOAD_SC(&nassist)) {
                end_of_work();
                return;
            }
            if (spins < 64) __builtin_ia32_pause();
            else gm__futex_wait(&work_seq, seq, 0);
        }
    }
}

static uint32_t phase;          /* futex word: bumped to start helpers on a phase */
static uint32_t phase_helpers;  /* helpers that take part in the phase (release with phase) */
static uint32_t helpers_busy;   /* futex word: helpers still in the phase */
static uint32_t nhelpers;       /* helper threads started (gc lock) */
static gm_markstats *phase_stats;

typedef struct helper_arg { uint32_t seen, id; } helper_arg;

/* arg: the phase when the helper was started, so that it waits for the
 * next one (in a fork child, phase keeps the parent's count), and the
 * helper's number: helper i takes part in phases with more than i. */
static void *marker_main(void *arg) {
    uint32_t seen = (uint32_t)(uintptr_t)arg >> 8, id = (uint32_t)(uintptr_t)arg & 0xff;
    for (;;) {
        while (GM_LOAD_ACQ(&phase) == seen) gm__futex_wait(&phase, seen, 0);
        seen = GM_LOAD_ACQ(&phase);
        if (id >= GM_LOAD(&phase_helpers)) continue;
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
    long n = gm__opts.markers ? (long)gm__opts.markers : (long)gm__nprocs();
    return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

/* Helpers are started outside the stopped world (creating a thread may
 * take locks a stopped thread holds). gc lock. */
static void start_helpers(void) {
    unsigned want = markers_wanted() - 1;
    while (nhelpers < want &&
           gm__start_helper(marker_main,
                            (void *)(uintptr_t)(GM_LOAD(&phase) << 8 | nhelpers)))
        nhelpers++;
}

/* One phase of marking: the caller runs prep (roots, rescans) into its
 * buffers and drains beside `helpers` helper threads until no work is
 * left anywhere. */
static void run_phase(gm_markstats *ms, unsigned helpers,
                      void (*prep)(gcwork *w, gm_markstats *ms)) {
    if (helpers > nhelpers) helpers = nhelpers;
    phase_stats = ms;
    GM_STORE(&nwait, 0);
    GM_STORE(&nmarkers, helpers + 1);
    GM_STORE(&phase_helpers, helpers);
    GM_STORE(&helpers_busy, helpers);
    __atomic_add_fetch(&phase, 1, __ATOMIC_RELEASE);
    if (helpers) gm__futex_wake(&phase);
    gcwork w;
    gcwork_init(&w);
    if (prep) prep(&w, ms);
    drain(&w);
    gcwork_dispose(&w, ms);
    uint32_t busy;
    while ((busy = GM_LOAD_ACQ(&helpers_busy)) != 0) gm__futex_wait(&helpers_busy, busy, 0);
}

/* ---- roots (mgcroots.c finds them) -------------------------------------------- */

static void scan_root_cb(uintptr_t lo, uintptr_t hi, void *ctx) {
    scan_conservative(ctx, lo, hi);
}

static void mark_roots(gcwork *w, gm_markstats *ms) { gm__roots_scan(scan_root_cb, w, ms); }

typedef struct mark_ctx {
    gm_markstats *ms;
    void (*stopped)(gm_markstats *ms); /* what to do with the world stopped */
} mark_ctx;

/* Runs with the loader's lock held (inside dl_iterate_phdr), so no library
 * is loaded or unloaded while the world is stopped and its data scanned. */
static int mark_under_loader_lock(struct dl_phdr_info *info, size_t size, void *ctxv) {
    (void)info;
    (void)size;
    mark_ctx *ctx = ctxv;
    gm__roots_read_segments(); /* the loader lock is recursive */
    ctx->ms->stop_ns = gm__nanotime();
    gm__stop_the_world();
    GM_STORE(&world_stopped, 1);
    ctx->stopped(ctx->ms);
    return 1;
}

static void with_world_stopped(gm_markstats *ms, void (*fn)(gm_markstats *ms)) {
    start_helpers();
    mark_ctx ctx = {ms, fn};
    dl_iterate_phdr(mark_under_loader_lock, &ctx);
}

static void mark_stw(gm_markstats *ms) {
    gm__pool_cleanup();
    run_phase(ms, nhelpers, mark_roots);
}

void gm__gc_mark(gm_markstats *ms) { with_world_stopped(ms, mark_stw); }

/* ---- concurrent marking ------------------------------------------------------ */

/* Spans handed to threads during this mark, their free slots marked
 * (allocate black); [gc] (refills and the pauses hold the gc lock). */
typedef struct black_span { gm_span *s; uint32_t premarked; } black_span;
static black_span *black;
static size_t nblack, capblack;
static uint64_t black_large_bytes; /* [gc] large objects allocated during marking */
static uint64_t assist_alloc;      /* bytes handed out during marking (relaxed) */
static uint64_t assist_cpu_ns;     /* CPU of this mark's assists (relaxed) */
static uint64_t assist_marked;     /* bytes the assists marked (relaxed) */
static uint64_t assist_ratio_k;    /* scan bytes owed per KiB allocated: set at the
                                      start of marking and raised by rounds (relaxed) */
static uint64_t pace_alloc0, pace_scan0; /* assist_alloc and scan_done when it was set */

static unsigned background_helpers(void) {
    unsigned n = (markers_wanted() + 2) / 4; /* a quarter of the markers, rounded */
    return n ? n - 1 : 0;                    /* the collector is one of them */
}

double gm__gc_bg_utilization(void) {
    double u = (double)(background_helpers() + 1) / (double)gm__nprocs();
    return u < 0.25 ? 0.25 : u > 0.5 ? 0.5 : u; /* one CPU: shared with the program */
}

void gm__gc_mark_free_slots(gm_span *s) {
    if (s->markgen == GM_LOAD(&gm__gc.cycle) + 1) return; /* already, this mark */
    s->markgen = gm__gc.cycle + 1;
    uint32_t fi = s->freeindex, n = 0;
    for (unsigned w = 0; w < s->nwords; w++) {
        uint64_t free = ~(s->alloc_bits[w] | gm__below_freeindex(fi, w));
        if (!free) continue;
        /* Scanned before marked: a span scan never takes these slots. */
        if (s->gcscan_bits) __atomic_fetch_or(&s->gcscan_bits[w], free, __ATOMIC_RELAXED);
        __atomic_fetch_or(&s->gcmark_bits[w], free, __ATOMIC_SEQ_CST);
        n += gm__popcount(free);
    }
    if (nblack == capblack)
        black = gm__grow_table(black, nblack, &capblack, sizeof *black, 1024,
                               "out of memory for the collector's span table");
    black[nblack++] = (black_span){s, n};
}

void gm__gc_mark_large_black(gm_span *s) {
    s->gcmark_bits[0] = 1;
    black_large_bytes += s->npages * GM_PAGE_SIZE;
}

/* Mark termination: the slots marked free that stayed free are unmarked;
 * the objects allocated in them count as marked. World stopped. */
static void unmark_free_slots(gm_markstats *ms) {
    for (size_t i = 0; i < nblack; i++) {
        gm_span *s = black[i].s;
        uint32_t fi = s->freeindex, left = 0;
        for (unsigned w = 0; w < s->nwords; w++) {
            uint64_t alloc = s->alloc_bits[w] | gm__below_freeindex(fi, w);
            left += gm__popcount(~alloc);
            s->gcmark_bits[w] &= alloc;
        }
        ms->black_bytes += (uint64_t)(black[i].premarked - left) * s->elemsize;
    }
    nblack = 0;
    ms->black_bytes += black_large_bytes;
    ms->marked_bytes += ms->black_bytes;
    black_large_bytes = 0;
}

/* Rescan the marked objects of scan span s that lie in [lo, hi): the
 * words a dirty page holds. */
GM_NO_SANITIZE static void rescan_span(gcwork *w, gm_span *s, uintptr_t lo, uintptr_t hi) {
    if (s->spanclass < 2) {
        uintptr_t end = s->base + s->largesize;
        if (GM_LOAD(&s->state) != GM_SPAN_LARGE || !(GM_LOAD(&s->gcmark_bits[0]) & 1)) return;
        if (lo < s->base) lo = s->base;
        if (hi > end) hi = end;
        if (lo >= hi) return;
        if (s->gckind == GM_GC_TYPED) scan_typed_range(w, s->largetype, s->base, lo, hi);
        else scan_conservative(w, lo, hi);
        return;
    }
    if (lo < s->base) lo = s->base;
    if (hi > s->limit) hi = s->limit;
    if (lo >= hi) return;
    for (uint32_t idx = gm__span_slot(s, lo), last = gm__span_slot(s, hi - 1); idx <= last; idx++) {
        if (!((GM_LOAD(&s->gcmark_bits[idx / 64]) >> (idx % 64)) & 1) || !gm__slot_live(s, idx))
            continue;
        uintptr_t obj = s->base + (uintptr_t)idx * s->elemsize, end = obj + s->elemsize;
        if (s->gckind == GM_GC_TYPED) scan_typed_small(w, s, obj);
        else scan_conservative(w, obj > lo ? obj : lo, end < hi ? end : hi);
    }
}

/* Rescan a run of written OS pages. Spans do not go away during marking
 * (no sweeping; gm_free of large objects waits). */
static void rescan_run(uintptr_t lo, size_t npages, gcwork *w) {
    uintptr_t hi = lo + npages * gm__dirty_page_size();
    while (lo < hi) {
        gm_span *s = gm__span_of(lo);
        uintptr_t next = (lo | (GM_PAGE_SIZE - 1)) + 1;
        uint8_t kind = s ? GM_LOAD_ACQ(&s->gckind) : 0;
        if (kind && kind != GM_GC_NOSCAN) {
            uintptr_t end = s->base + s->npages * GM_PAGE_SIZE;
            rescan_span(w, s, lo, hi < end ? hi : end);
            next = end;
        }
        lo = next;
    }
}

/* gm__dirty_collect's callback: each written page of a scan span becomes
 * a work item (its address | 1, see scan_object), so that every marker and
 * every assist shares the rescanning. */
static void queue_run(uintptr_t lo, size_t npages, void *arg) {
    gcwork *w = arg;
    size_t ps = gm__dirty_page_size();
    for (size_t i = 0; i < npages; i++, lo += ps) {
        gm_span *s = gm__span_of(lo);
        uint8_t kind = s ? GM_LOAD_ACQ(&s->gckind) : 0;
        if (kind && kind != GM_GC_NOSCAN) push(w, lo | 1);
    }
}

static size_t last_round_pages;

/* A round: the written pages are queued and re-armed. A thread that
 * allocates more than ROUND_BUDGET while they wait pays for them with
 * assists, so it cannot write pages faster than they are rescanned, and
 * the rounds shrink (Go charges assists the same way; C has no write
 * barrier to charge the writes themselves). */
#define ROUND_BUDGET (64u << 10)
static void rescan_rearm(gcwork *w, gm_markstats *ms) {
    last_round_pages = gm__dirty_collect(queue_run, w, true);
    ms->dirty_pages += last_round_pages;
    uint64_t k = (uint64_t)last_round_pages * gm__dirty_page_size() / (ROUND_BUDGET / 1024);
    GM_STORE(&pace_alloc0, GM_LOAD(&assist_alloc));
    GM_STORE(&pace_scan0, GM_LOAD(&scan_done));
    if (k > GM_LOAD(&assist_ratio_k)) GM_STORE(&assist_ratio_k, k);
}

/* Mark termination's work: the pages written since the last round, every
 * heap page if the tracking lost some, and every root. */
static void rescan_final(gcwork *w, gm_markstats *ms) {
    if (GM_LOAD(&gm__gc.dirty_lost)) {
        for (gm_heap_arena *ha = gm__arena_first; ha; ha = ha->next)
            rescan_run(ha->base, GM_ARENA_BYTES / gm__dirty_page_size(), w);
    } else {
        ms->term_pages = gm__dirty_collect(queue_run, w, false);
        ms->dirty_pages += ms->term_pages;
    }
    mark_roots(w, ms);
}

/* Sweep termination's pause: threads give their spans back (so that every
 * span they allocate from during marking is refilled, and so marked free
 * first), pools are cleaned, and the roots are scanned into the shared
 * queue for the background markers. */
static void begin_stopped(gm_markstats *ms) {
    gm__pool_cleanup();
    for (gm_gthread *t = gm__threads; t; t = t->next) gm__gthread_release_spans(t);
    GM_STORE(&gm__gc.marking, 1);
    gcwork w;
    gcwork_init(&w);
    mark_roots(&w, ms);
    publish(&w);
    gcwork_dispose(&w, ms);
    GM_STORE(&world_stopped, 0);
    gm__start_the_world();
    ms->pause_ns = gm__nanotime() - ms->stop_ns;
}

void gm__gc_mark_begin(gm_markstats *ms, uint64_t scan_expected, uint64_t runway) {
    GM_STORE(&scan_done, 0);
    GM_STORE(&assist_alloc, 0);
    GM_STORE(&assist_cpu_ns, 0);
    GM_STORE(&assist_marked, 0);
    GM_STORE(&pace_alloc0, 0);
    GM_STORE(&pace_scan0, 0);
    if (runway < (1u << 20)) runway = 1u << 20;
    GM_STORE(&assist_ratio_k, scan_expected / (runway / 1024));
    gm__dirty_arm(); /* before any object is scanned: later writes are seen */
    with_world_stopped(ms, begin_stopped);
}

/* The concurrent phase: drain, then rounds of "collect and re-arm the
 * dirty pages, rescan them" while the set keeps shrinking, so that mark
 * termination has little left. SOFTDIRTY cannot re-arm while the program
 * runs, so it has no rounds. No lock held. */
void gm__gc_mark_background(gm_markstats *ms) {
    uint64_t c0 = nanocpu();
    unsigned helpers = background_helpers();
    run_phase(ms, helpers, NULL);
    if (gm__dirty_mode() != GM_DIRTY_SOFTDIRTY && !GM_LOAD(&gm__gc.dirty_lost)) {
        size_t prev = SIZE_MAX;
        for (int round = 0; round < 8; round++) {
            run_phase(ms, helpers, rescan_rearm);
            ms->rounds++;
            if (last_round_pages < 64 || last_round_pages * 2 > prev) break;
            prev = last_round_pages;
        }
    }
    ms->cpu_ns_bg += nanocpu() - c0;
}

static void end_stopped(gm_markstats *ms) {
    run_phase(ms, nhelpers, rescan_final);
    unmark_free_slots(ms);
    GM_STORE(&gm__gc.marking, 0);
    ms->cpu_ns_assist = GM_LOAD(&assist_cpu_ns);
    ms->marked_bytes += GM_LOAD(&assist_marked);
}

void gm__gc_mark_end(gm_markstats *ms) { with_world_stopped(ms, end_stopped); }

/* Scan work the markers owe for alloc bytes allocated during marking. */
static uint64_t behind(uint64_t alloc) {
    uint64_t a0 = GM_LOAD(&pace_alloc0), s0 = GM_LOAD(&pace_scan0);
    uint64_t owed = (alloc > a0 ? alloc - a0 : 0) / 1024 * GM_LOAD(&assist_ratio_k);
    uint64_t done = GM_LOAD(&scan_done) - s0;
    return owed > done ? owed - done : 0;
}

/* Scan about budget bytes of the shared work, then give back what is left
 * of it. Inside a nosuspend region while marking. */
static size_t assist_quantum(size_t budget) {
    __atomic_add_fetch(&nassist, 1, __ATOMIC_SEQ_CST);
    gcwork w;
    gcwork_init(&w);
    uintptr_t obj;
    size_t done = 0;
    while (done < budget && pop(&w, &obj)) done += scan_object(&w, obj);
    w.scanned = done;
    flush_scanned(&w);
    publish(&w);
    __atomic_add_fetch(&assist_marked, w.marked_bytes, __ATOMIC_RELAXED);
    w.marked_bytes = 0;
    gcwork_dispose(&w, NULL);
    /* Markers that went idle while we held work look again. */
    __atomic_sub_fetch(&nassist, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&work_seq, 1, __ATOMIC_SEQ_CST);
    if (GM_LOAD_SC(&nwait)) gm__futex_wake(&work_seq);
    return done;
}

/* Go's gcAssistAlloc, with one global credit: a thread that took `bytes`
 * during marking, while the work done by everyone is behind the pace that
 * ends marking at the goal, scans what its own allocation owes at the
 * current ratio (Go's assist debt; at least one quantum), or, once the
 * heap is past its goal, until everyone is back on the pace; it stops
 * early when no work is left to take. Small quanta keep each wait short
 * (an 8 KiB quantum is 5-15 µs of scanning; 64 KiB quanta gave the latency
 * benchmark 40-85 µs waits at the 99.9th percentile) and run in a
 * nosuspend region: mark termination waits for a quantum to end, so no
 * work is ever held by a stopped thread. */
#define ASSIST_QUANTUM (8u << 10)
#define ASSIST_MAX (4u << 20) /* per call */
void gm__gc_assist(uint64_t bytes) {
    uint64_t alloc = __atomic_add_fetch(&assist_alloc, bytes, __ATOMIC_RELAXED);
    gm_gthread *t = gm__tls_gthread;
    if (!t || behind(alloc) == 0) return;
    uint64_t c0 = nanocpu(), paid = 0;
    uint64_t owed = GM_LOAD(&gm__gc.heap_live) > GM_LOAD(&gm__gc.heap_goal)
                        ? ASSIST_MAX
                        : bytes / 1024 * GM_LOAD(&assist_ratio_k);
    do {
        gm__nosuspend_begin(t);
        size_t done = GM_LOAD(&gm__gc.marking) ? assist_quantum(ASSIST_QUANTUM) : 0;
        gm__nosuspend_end(t);
        paid += done;
        if (done < ASSIST_QUANTUM || behind(GM_LOAD(&assist_alloc)) == 0) break;
    } while (paid < owed && paid < ASSIST_MAX);
    __atomic_add_fetch(&assist_cpu_ns, nanocpu() - c0, __ATOMIC_RELAXED);
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
