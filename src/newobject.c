/*
 * Allocation of collected objects (Go's newobject and the collected half of
 * mallocgc). See mgc.c for the collector's overview and malloc.c for spans.
 *
 * Collected objects live in spans of their own, one set of size classes
 * per kind of scanning (GM_GC_CONSERVATIVE, GM_GC_NOSCAN, GM_GC_TYPED), so
 * s->gckind alone tells the marker how to scan an object. A registered
 * thread (gm_gthread) holds one span per collected class, as Go's mcache
 * does, and takes slots from it with the bitmap fast path of malloc.c
 * inside a "nosuspend" region: a stop-the-world signal that arrives there
 * is deferred to the region's end, so the collector never sees a span with
 * freeindex and alloc_cache half-updated. Refill, large objects and
 * gm_free take the gc lock, which the collector holds for the whole cycle.
 *
 * Invariants:
 *   - a span a thread holds is swept (sweepgen == h) and in no list;
 *   - every other collected span is in exactly one list of its class:
 *     unswept (sweepgen h-2), partial or full (h), or, if large, gclarge
 *     or gclarge_unswept;
 *   - heap_live grows by the free bytes of a span when a thread takes it,
 *     and by a large object's pages, as Go's does.
 */
#include <errno.h>
#include <string.h>

#include "mgc.h"

gm_gccentral gm__gccentral[GM_GC_NUM_CLASSES];
gm_span gm__gclarge, gm__gclarge_unswept, gm__gclarge_freed;

/* ---- span lists (gc lock) -------------------------------------------------- */

void gm__gc_list_init(gm_span *l) { l->next = l->prev = l; }

void gm__gc_list_push(gm_span *l, gm_span *s) {
    s->prev = l->prev;
    s->next = l;
    l->prev->next = s;
    l->prev = s;
}

void gm__gc_list_remove(gm_span *s) {
    s->prev->next = s->next;
    s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

void gm__gc_list_splice(gm_span *to, gm_span *from) {
    if (from->next == from) return;
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    gm__gc_list_init(from);
}

void gm__newobject_init(void) {
    for (int i = 0; i < GM_GC_NUM_CLASSES; i++) {
        gm__gc_list_init(&gm__gccentral[i].unswept);
        gm__gc_list_init(&gm__gccentral[i].partial);
        gm__gc_list_init(&gm__gccentral[i].full);
    }
    gm__gc_list_init(&gm__gclarge);
    gm__gc_list_init(&gm__gclarge_unswept);
    gm__gc_list_init(&gm__gclarge_freed);
}

void gm__gc_free_deferred(void) {
    while (gm__gclarge_freed.next != &gm__gclarge_freed) {
        gm_span *s = gm__gclarge_freed.next;
        gm__gc_list_remove(s);
        gm__mheap_free_span(s);
    }
}

/* ---- spans of a thread ---------------------------------------------------- */

/* Count the objects taken from s since it was cached. gc lock. */
static void flush_mallocs(gm_span *s, int gcs) {
    uint32_t n = gm__span_alloc_count(s);
    gm__gc.nmalloc[gcs] += n - s->alloc_count_base;
    s->alloc_count_base = n;
    s->alloc_count = n;
}

void gm__gc_list_swept(gm_span *s) {
    gm_gccentral *c = &gm__gccentral[gm__gc_class(s->gckind, s->spanclass >> 1)];
    if (s->alloc_count < s->nelems) {
        GM_STORE(&s->state, GM_SPAN_PARTIAL);
        gm__gc_list_push(&c->partial, s);
    } else {
        GM_STORE(&s->state, GM_SPAN_FULL);
        gm__gc_list_push(&c->full, s);
    }
}

/* s leaves a thread. gc lock. */
static void uncache(gm_span *s, int gcs) {
    flush_mallocs(s, gcs);
    gm__gc_list_swept(s);
}

void gm__gthread_release_spans(gm_gthread *t) {
    for (int gcs = 0; gcs < GM_GC_NUM_CLASSES; gcs++) {
        gm_span *s = t->alloc[gcs];
        if (s == &gm__emptyspan) continue;
        t->alloc[gcs] = &gm__emptyspan;
        uncache(s, gcs);
    }
    t->tiny = t->tinyoffset = 0;
}

/* Mallocs in spans threads hold now (MemStats). gc lock. */
void gm__gthread_count_cached(uint64_t nmalloc[GM_GC_NUM_CLASSES], uint64_t *tiny) {
    gm__lock(&gm__threads_lock);
    for (gm_gthread *t = gm__threads; t; t = t->next) {
        *tiny += GM_LOAD(&t->tiny_allocs);
        for (int gcs = 0; gcs < GM_GC_NUM_CLASSES; gcs++) {
            gm_span *s = GM_LOAD_ACQ(&t->alloc[gcs]);
            if (s == &gm__emptyspan) continue;
            uint32_t n = gm__span_alloc_count(s);
            if (n >= s->alloc_count_base) nmalloc[gcs] += n - s->alloc_count_base;
        }
    }
    gm__unlock(&gm__threads_lock);
}

/* A fresh span of collected class gcs from the heap. gc lock. */
static gm_span *grow(int kind, int cls) {
    size_t npages = gm__class_to_allocnpages[cls];
    gm_span *s = gm__mheap_alloc_span(npages, cls << 1 | (kind == GM_GC_NOSCAN), 1);
    if (!s) return NULL;
    if (kind != GM_GC_NOSCAN) {
        bool spanscan = gm__opts.gc_spanmark && s->elemsize <= GM_SPANSCAN_MAX;
        gm__lock(&gm__heap_lock);
        if (kind == GM_GC_TYPED) s->heap_bits = gm__heapbits_alloc(npages);
        if (spanscan) s->gcscan_bits = gm__scanbits_alloc(s->nwords);
        gm__unlock(&gm__heap_lock);
        if ((kind == GM_GC_TYPED && !s->heap_bits) || (spanscan && !s->gcscan_bits)) {
            gm__mheap_free_span(s);
            return NULL;
        }
    }
    s->sweepgen = GM_LOAD(&gm__gc.sweepgen);
    s->markgen = 0;
    GM_STORE_REL(&s->gckind, (uint8_t)kind);
    return s;
}

/* Go's mcache.refill for a collected class: the thread's exhausted span
 * goes to the full list, and a partial one, a lazily swept one or a fresh
 * one takes its place. Returns the free bytes it brings (heap_live), 0 on
 * out of memory. gc lock. */
static uint64_t refill(gm_gthread *t, int gcs, int kind, int cls) {
    gm__gc.nrefill[gcs]++;
    gm_span *old = t->alloc[gcs];
    if (old != &gm__emptyspan) {
        t->alloc[gcs] = &gm__emptyspan;
        uncache(old, gcs);
    }
    gm_gccentral *c = &gm__gccentral[gcs];
    gm_span *s = c->partial.next;
    if (s != &c->partial) gm__gc_list_remove(s);
    else if (!(s = gm__sweep_for_alloc(gcs)) && !(s = grow(kind, cls))) return 0;
    if (GM_LOAD(&gm__gc.marking)) gm__gc_mark_free_slots(s); /* allocate black */
    GM_STORE(&s->state, GM_SPAN_CACHED);
    s->alloc_count_base = s->alloc_count;
    GM_STORE_REL(&t->alloc[gcs], s);
    return (uint64_t)(s->nelems - s->alloc_count) * s->elemsize;
}

/* ---- small objects ---------------------------------------------------------- */

/* Zero an object of a recycled slot: small ones inline, word by word. */
static inline void zero_object(uintptr_t p, uint32_t size) {
    if (size <= 256) {
        for (uint32_t i = 0; i < size; i += 8) *(uint64_t *)(p + i) = 0;
    } else {
        memset((void *)p, 0, size);
    }
}

/* Heap bits of a small typed object: t's mask tiled over n elements, the
 * rest of the slot cleared (its previous occupant's bits). */
static void set_heap_bits(gm_span *s, uintptr_t obj, const gm_type *t, size_t n) {
    size_t first = (obj - s->base) / 8;
    gm__bits_clear_range(s->heap_bits, first, s->elemsize / 8);
    size_t nptr = t->ptrdata / 8, stride = t->size / 8;
    for (size_t e = 0; e < n; e++)
        for (size_t wk = 0; wk * 64 < nptr; wk++) {
            uint64_t bits = t->gcdata[wk];
            if (nptr - wk * 64 < 64) bits &= ((uint64_t)1 << (nptr - wk * 64)) - 1;
            while (bits) { /* only the pointer words */
                size_t b = first + e * stride + wk * 64 + (size_t)__builtin_ctzll(bits);
                bits &= bits - 1;
                s->heap_bits[b / 64] |= (uint64_t)1 << (b % 64);
            }
        }
}

/* One slot of t's span for class gcs, or 0 if the span is exhausted.
 * Inside a nosuspend region, so the collector sees the slot either free
 * or allocated and initialised. */
static uintptr_t take_slot(gm_gthread *t, int gcs, const gm_type *type, size_t n) {
    uintptr_t p = 0;
    gm__nosuspend_begin(t);
    gm_span *s = t->alloc[gcs];
    uint32_t idx = gm__span_next_free_index(s);
    if (idx < s->nelems) {
        p = s->base + (uintptr_t)idx * s->elemsize;
        if (s->needzero) zero_object(p, s->elemsize);
        if (type) set_heap_bits(s, p, type, n);
    }
    gm__nosuspend_end(t);
    return p;
}

/* align8: the object needs at most 8-byte alignment, so it may take Go's
 * 24-byte class (see "Alignment" in malloc.c). */
static void *small_object(gm_gthread *t, size_t size, int kind, const gm_type *type,
                          size_t n, bool align8) {
    int cls = align8 ? gm__size_to_class(size) : gm__malloc_size_to_class(size);
    int gcs = gm__gc_class(kind, cls);
    uintptr_t p = take_slot(t, gcs, type, n);
    if (GM_LIKELY(p)) return (void *)p;
    uint64_t got = 0;
    /* Another thread's cycle may take the fresh span back before our
     * take_slot: refill again (bounded; then newobject's OOM path). */
    for (int tries = 0; !p && tries < 3; tries++) {
        gm__gc_lock_acquire(true);
        uint64_t bytes = refill(t, gcs, kind, cls);
        gm__unlock(&gm__gc_lock);
        if (!bytes) break;
        got += bytes;
        p = take_slot(t, gcs, type, n);
    }
    /* The object is taken before the trigger check, as Go does: a cycle
     * there takes the fresh span back, and checking first would refill
     * forever when the goal leaves less room than a span (GOGC=1). It
     * stays on our stack, a root, through that cycle. */
    void *volatile obj = (void *)p;
    if (got) gm__gc_add_live(got);
    return obj;
}

/* Go's tiny allocator: noscan objects under 16 bytes share 16-byte blocks,
 * aligned to their size's lowest set bit (up to 8). A block lives while
 * any of its objects is referenced. */
static void *tiny_object(gm_gthread *t, size_t size) {
    size_t align = size & 7 ? (size & 3 ? (size & 1 ? 1 : 2) : 4) : 8;
    void *p = NULL;
    gm__nosuspend_begin(t);
    size_t off = (t->tinyoffset + align - 1) & ~(align - 1);
    if (t->tiny && off + size <= GM_TINY_SIZE) {
        t->tinyoffset = off + size;
        p = (void *)(t->tiny + off);
        GM_STORE(&t->tiny_allocs, t->tiny_allocs + 1);
    }
    gm__nosuspend_end(t);
    if (p) return p;
    /* Outside the region: a refill takes the gc lock. A cycle in between
     * only finds the new block on our stack. */
    void *block = small_object(t, GM_TINY_SIZE, GM_GC_NOSCAN, NULL, 0, false);
    if (!block) return NULL;
    gm__nosuspend_begin(t);
    t->tiny = (uintptr_t)block;
    t->tinyoffset = size;
    gm__nosuspend_end(t);
    return block;
}

/* ---- large objects ---------------------------------------------------------- */

/* A span of its own, zeroed and with 1-word bitmaps before the collector
 * can see it (gckind 0 until listed). */
static void *large_object(size_t size, int kind, const gm_type *type) {
    size_t npages = size / GM_PAGE_SIZE + (size % GM_PAGE_SIZE != 0);
    gm_span *s = gm__mheap_alloc_span(npages, kind == GM_GC_NOSCAN, 1);
    if (!s) return NULL;
    gm__lock(&gm__heap_lock);
    uint64_t *bits = gm__bitsalloc(1);
    gm__unlock(&gm__heap_lock);
    if (!bits) {
        gm__mheap_free_span(s);
        return NULL;
    }
    s->alloc_bits = bits;
    s->gcmark_bits = bits + 1;
    s->local_free = bits + 2;
    s->remote_free = bits + 3;
    s->nwords = 1;
    s->alloc_bits[0] = ~(uint64_t)0;
    s->largesize = size;
    s->largetype = type;
    if (s->needzero) memset((void *)s->base, 0, size);
    gm__gc_lock_acquire(true);
    s->sweepgen = GM_LOAD(&gm__gc.sweepgen);
    if (GM_LOAD(&gm__gc.marking)) gm__gc_mark_large_black(s);
    GM_STORE_REL(&s->gckind, (uint8_t)kind);
    gm__gc_list_push(&gm__gclarge, s);
    gm__unlock(&gm__gc_lock);
    /* The cycle add_live may start must find the object on our stack: the
     * span pointer alone is not a root. */
    void *volatile p = (void *)s->base;
    gm__gc_add_live(npages * GM_PAGE_SIZE);
    return p;
}

/* ---- entry points ----------------------------------------------------------- */

static void *try_new(size_t size, int kind, const gm_type *type, size_t n, bool align8) {
    gm_gthread *t = gm__gthread();
    if (!t) return NULL;
    if (size > GM_MAX_SMALL_SIZE) return large_object(size, kind, type);
    if (kind == GM_GC_NOSCAN && size < GM_TINY_SIZE) return tiny_object(t, size);
    return small_object(t, size, kind, type, n, align8);
}

/* Go's mallocgc for collected memory: zeroed, of the given kind; on out of
 * memory one full collection and a second try, then NULL + ENOMEM. */
static void *newobject(size_t size, int kind, const gm_type *type, size_t n, bool align8) {
    if (GM_UNLIKELY(size > (size_t)PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    if (GM_UNLIKELY(!GM_LOAD_ACQ(&gm__gc.enabled))) gm__gc_enable();
    size_t asked = size;
    if (size == 0) size = 1;
    void *p = try_new(size, kind, type, n, align8);
    if (GM_UNLIKELY(!p)) {
        gm__gc_oom();
        p = try_new(size, kind, type, n, align8);
        if (!p) errno = ENOMEM;
    }
    if (GM_UNLIKELY(gm__observe_alloc_on)) p = gm__observe_alloc(p, asked);
    return p;
}

/* The fast path of gm_new and gm_new_noscan (Go's nextFreeFast): a slot
 * from the allocCache window of the thread's span, inside a nosuspend
 * region; 0 when the window is empty (or there is no thread record yet:
 * its spans start as the empty span, so the first call takes the slow
 * path, which also turns the collector on). */
static inline void *new_fast(size_t size, int kind) {
    gm_gthread *t = gm__tls_gthread;
    if (GM_UNLIKELY(!t || size - 1 >= GM_SMALL_SIZE_MAX - 8)) return NULL;
    int gcs = gm__gc_class(kind, gm__malloc_size_to_class8[(size + 7) >> 3]);
    void *p = NULL;
    gm__nosuspend_begin(t);
    /* Read inside the region: a cycle takes the thread's spans back. */
    gm_span *s = t->alloc[gcs];
    uint64_t cache = s->alloc_cache;
    if (GM_LIKELY(cache != 0)) {
        unsigned tz = (unsigned)__builtin_ctzll(cache);
        uint32_t idx = s->freeindex + tz;
        GM_STORE(&s->alloc_cache, (cache >> tz) >> 1);
        GM_STORE(&s->freeindex, idx + 1);
        uintptr_t a = s->base + (uintptr_t)idx * s->elemsize;
        if (s->needzero) zero_object(a, s->elemsize);
        p = (void *)a;
    }
    gm__nosuspend_end(t);
    return p;
}

void *gm_new(size_t size) {
    void *p = new_fast(size, GM_GC_CONSERVATIVE);
    if (GM_UNLIKELY(p == NULL)) return newobject(size, GM_GC_CONSERVATIVE, NULL, 0, false);
    if (GM_UNLIKELY(gm__observe_alloc_on) && gm__observe_needed(gm__malloc_block_size(size)))
        return gm__observe_alloc(p, size);
    return p;
}

void *gm_new_noscan(size_t size) {
    void *p = size >= GM_TINY_SIZE ? new_fast(size, GM_GC_NOSCAN) : NULL;
    if (GM_UNLIKELY(p == NULL)) return newobject(size, GM_GC_NOSCAN, NULL, 0, false);
    if (GM_UNLIKELY(gm__observe_alloc_on) && gm__observe_needed(gm__malloc_block_size(size)))
        return gm__observe_alloc(p, size);
    return p;
}

void *gm_new_array(const gm_type *t, size_t n) {
    size_t size;
    if (!t || __builtin_mul_overflow(t->size, n, &size)) {
        errno = ENOMEM;
        return NULL;
    }
    bool align8 = t->align != 0 && t->align <= 8;
    if (t->ptrdata == 0) return newobject(size, GM_GC_NOSCAN, NULL, 0, align8);
    /* Small objects keep their type in the span's heap bits; large ones in
     * the span (largetype), tiled at scan time. */
    return newobject(size, GM_GC_TYPED, t, n, align8);
}

void *gm_new_typed(const gm_type *t) { return gm_new_array(t, 1); }

void *gm_malloc_uncollectable(size_t size) {
    void *p = gm_new(size);
    if (p) gm__final_add_uncollectable(p);
    return p;
}

/* ---- explicit free and queries ------------------------------------------------ */

/* gm_free of the collected object p (an object start, or any byte of a
 * tiny block: checked by the caller), span s. Small: its slot is marked
 * freed and reused after the next sweep of the span; large: its pages go
 * back now. Tiny blocks may hold several objects, some still in use: they
 * are left to the collector, but must still be allocated. */
void gm__gc_free(gm_span *s, void *p) {
    gm__gc_lock_acquire(true);
    gm__final_forget((uintptr_t)p);
    if (s->spanclass < 2) {
        uint8_t expected = GM_SPAN_LARGE;
        if (!__atomic_compare_exchange_n(&s->state, &expected, GM_SPAN_FREE, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            gm__fatal("double free", p);
        gm__gc_list_remove(s);
        /* Markers may hold its address: its pages go back after the mark. */
        if (GM_LOAD(&gm__gc.marking)) gm__gc_list_push(&gm__gclarge_freed, s);
        else gm__mheap_free_span(s);
    } else {
        uint32_t idx = gm__span_slot(s, (uintptr_t)p);
        if (!gm__slot_live(s, idx)) gm__fatal("double free", p);
        if (!gm__is_tiny_span(s))
            __atomic_fetch_or(&s->remote_free[idx / 64], (uint64_t)1 << (idx % 64),
                              __ATOMIC_RELAXED);
    }
    gm__unlock(&gm__gc_lock);
}

int gm_is_collected(const void *p) {
    gm_span *s;
    uint32_t idx;
    return gm__find_object((uintptr_t)p, &s, &idx) && !gm__final_is_uncollectable(
                                                            s->base + (uintptr_t)idx * s->elemsize);
}
