/*
 * The page heap (Go's mheap.go). See malloc.c for the overview.
 *
 * mheap owns the arenas, the page allocator (mpagealloc.c), span structs
 * and span bitmaps. One lock, gm__heap_lock, covers all of it and is held
 * only for page operations: the per-class central lists have their own
 * locks, and the allocation fast path takes none.
 *
 * Lock order: allcaches lock -> central lock -> heap lock. Never the
 * reverse; code that needs a central lock while holding the heap lock drops
 * the heap lock first (see gm__mheap_alloc_span and reclaim).
 *
 * Arenas: 64 MiB of address space each, reserved PROT_NONE and made ready
 * whole when the page allocator runs out, at hints growing from
 * 0xc000000000 so the heap stays contiguous as Go's does. gm__arenas maps
 * addr >> 26 to the arena's metadata; it is a 32 MiB array in .bss, so only
 * the few entries in use ever become resident.
 */
#include <string.h>

#include "internal.h"

gm_heap_arena *gm__arenas[GM_ARENA_L1_ENTRIES];
gm_heap_arena *gm__arena_first, *gm__arena_last;
gm_mutex gm__heap_lock = GM_MUTEX_INIT;
gm_heapstats gm__heapstats;
gm_fixalloc gm__spanalloc;
gm_fixalloc gm__cachealloc;
static gm_fixalloc bitsalloc[GM_MAX_BITMAP_WORDS + 1]; /* by words per bitmap; heap lock */
static gm_fixalloc scanbitsalloc[GM_MAX_BITMAP_WORDS + 1]; /* gcscan_bits, likewise */
static uint64_t reclaim_mark;                          /* heap_inuse after the last reclaim; heap lock */

/* Freed large spans of up to LARGE_CACHE_PAGES pages, kept whole, by page
 * count, so that a program that frees and allocates large blocks of similar
 * sizes (buffers, hash tables, 33..256 KiB) skips the page allocator's
 * search and summary updates, which cost twice the rest of a large
 * allocation (bench/largechurn). Go's per-P pageCache serves the same end
 * for small page counts; tcmalloc and mimalloc cache such blocks too. A
 * cached span keeps its pages marked in use in the page allocator and in
 * the arena's spans[], with state FREE: a second free of it still fails the
 * LARGE -> FREE CAS and is reported. MemStats counts it as freed and its
 * pages as idle. The cache is bounded (LARGE_CACHE_MAX) and flushed before
 * the scavenger or gm_release_memory returns memory. All under the heap
 * lock. */
#define LARGE_CACHE_PAGES 32
#define LARGE_CACHE_MAX (8u << 20 >> GM_PAGE_SHIFT) /* 8 MiB of pages in all */
static gm_span *large_cache[LARGE_CACHE_PAGES + 1]; /* LIFO through s->next */
static size_t large_cache_npages;

void gm__mheap_init(void) {
    /* Span structs are type-stable: a remote freer may still read owner,
     * state and spanclass of a span just recycled (see free_remote), so they
     * are reset with atomic stores by span_reset, never by memset. */
    gm__fixalloc_init(&gm__spanalloc, sizeof(gm_span), &gm__heapstats.mspan_sys, false);
    gm__fixalloc_init(&gm__cachealloc, sizeof(gm_mcache), &gm__heapstats.mcache_sys, true);
    for (unsigned w = 1; w <= GM_MAX_BITMAP_WORDS; w++) {
        gm__fixalloc_init(&bitsalloc[w], 4 * w * sizeof(uint64_t), &gm__heapstats.gc_sys, true);
        gm__fixalloc_init(&scanbitsalloc[w], w * sizeof(uint64_t), &gm__heapstats.gc_sys, true);
    }
}

uint64_t *gm__scanbits_alloc(unsigned nwords) { return gm__fixalloc_alloc(&scanbitsalloc[nwords]); }

uint64_t *gm__bitsalloc(unsigned nwords) { return gm__fixalloc_alloc(&bitsalloc[nwords]); }

/* Heap bits of typed spans: one bit per 8-byte word, by span pages. */
#define HEAPBITS_MAX_PAGES 10 /* the most pages a small span has */
static gm_fixalloc heapbitsalloc[HEAPBITS_MAX_PAGES + 1]; /* heap lock */

uint64_t *gm__heapbits_alloc(size_t npages) {
    if (npages > HEAPBITS_MAX_PAGES) return NULL;
    gm_fixalloc *f = &heapbitsalloc[npages];
    if (!f->size) gm__fixalloc_init(f, npages * GM_PAGE_SIZE / 64, &gm__heapstats.gc_sys, true);
    return gm__fixalloc_alloc(f);
}
void gm__bitsfree(uint64_t *bits, unsigned nwords) { gm__fixalloc_free(&bitsalloc[nwords], bits); }

/* Reserves n bytes aligned to GM_ARENA_BYTES, at the hint if possible. */
static void *reserve_arenas(size_t n) {
    void *p = gm__sys_reserve((void *)gm__heap_bounds.hint, n);
    if (p && ((uintptr_t)p & (GM_ARENA_BYTES - 1)) == 0) return p;
    if (p) gm__sys_free(p, n);
    /* Over-reserve and trim to alignment. */
    size_t big = n + GM_ARENA_BYTES;
    char *q = gm__sys_reserve(NULL, big);
    if (!q) return NULL;
    uintptr_t a = ((uintptr_t)q + GM_ARENA_BYTES - 1) & ~(GM_ARENA_BYTES - 1);
    if (a > (uintptr_t)q) gm__sys_free(q, a - (uintptr_t)q);
    uintptr_t end = (uintptr_t)q + big;
    if (end > a + n) gm__sys_free((void *)(a + n), end - (a + n));
    return (void *)a;
}

gm_heap_bounds gm__heap_bounds = {0, 0, GM_ARENA_HINT};

static void insert_arena(gm_heap_arena *ha) {
    gm_heap_arena *after = gm__arena_last;
    while (after && after->base > ha->base) after = after->prev;
    ha->prev = after;
    ha->next = after ? after->next : gm__arena_first;
    if (ha->next) ha->next->prev = ha;
    else gm__arena_last = ha;
    if (after) after->next = ha;
    else gm__arena_first = ha;
    gm_heap_bounds *b = &gm__heap_bounds;
    if (!b->lo || ha->base < b->lo) GM_STORE(&b->lo, ha->base);
    if (ha->base + GM_ARENA_BYTES > b->hi) GM_STORE(&b->hi, ha->base + GM_ARENA_BYTES);
}

/* Adds arenas for at least npages pages. Heap lock. */
static bool mheap_grow(size_t npages) {
    size_t narenas = (npages + GM_PAGES_PER_ARENA - 1) / GM_PAGES_PER_ARENA;
    size_t n = narenas * GM_ARENA_BYTES;
    if (narenas == 0 || n / GM_ARENA_BYTES != narenas) return false;
    char *p = reserve_arenas(n);
    if (!p) return false;
    if ((uintptr_t)p + n > ((uintptr_t)1 << GM_ADDR_BITS) || !gm__sys_map(p, n)) {
        gm__sys_free(p, n);
        return false;
    }
    for (size_t i = 0; i < narenas; i++) {
        gm_heap_arena *ha = gm__persistent_alloc(sizeof *ha, &gm__heapstats.other_sys);
        if (!ha) return false; /* arenas already added stay usable */
        ha->base = (uintptr_t)p + i * GM_ARENA_BYTES;
        gm__pages_add_arena(ha);
        insert_arena(ha);
        GM_STORE_REL(&gm__arenas[ha->base >> GM_ARENA_SHIFT], ha);
        /* Before any span of it is handed out (we hold the heap lock). */
        if (GM_LOAD(&gm__track_arenas)) gm__gc_track_arena(ha->base);
        gm__heapstats.heap_sys += GM_ARENA_BYTES;
        gm__heapstats.heap_released += GM_ARENA_BYTES;
    }
    gm__heap_bounds.hint = (uintptr_t)p + n;
    return true;
}

static void set_spans(uintptr_t base, size_t npages, gm_span *s) {
    for (size_t i = 0; i < npages; i++) {
        uintptr_t a = base + i * GM_PAGE_SIZE;
        gm_heap_arena *ha = gm__arenas[a >> GM_ARENA_SHIFT];
        GM_STORE(&ha->spans[(a >> GM_PAGE_SHIFT) & (GM_PAGES_PER_ARENA - 1)], s);
    }
}

/* Every field to its initial value; the ones other threads may read late
 * with atomic stores. */
static void span_reset(gm_span *s, uintptr_t base, size_t npages, int spanclass) {
    GM_STORE(&s->alloc_cache, 0);
    GM_STORE(&s->freeindex, 0);
    GM_STORE(&s->alloc_count, 0);
    s->base = base;
    s->limit = base + npages * GM_PAGE_SIZE;
    s->elemsize = 0;
    s->divmul = 0;
    GM_STORE(&s->owner, 0);
    s->alloc_bits = s->local_free = s->remote_free = s->gcmark_bits = NULL;
    GM_STORE(&s->spanclass, (uint8_t)spanclass);
    GM_STORE(&s->state, GM_SPAN_FREE);
    s->needzero = 0;
    s->nwords = 0;
    s->nelems = 0;
    s->npages = npages;
    s->next = s->prev = NULL;
    s->sweepgen = 0;
    s->parked = 0;
    GM_STORE(&s->gckind, 0);
    s->heap_bits = NULL;
    s->gcscan_bits = NULL;
    GM_STORE(&s->gcowned, 0);
    s->largetype = NULL;
    s->largesize = 0;
    GM_STORE(&s->alloc_count_base, 0);
}

/* Heap lock. */
static void inuse_grew(size_t npages) {
    gm__heapstats.heap_inuse += npages * GM_PAGE_SIZE;
    if (gm__heapstats.heap_inuse > gm__heapstats.heap_inuse_peak)
        gm__heapstats.heap_inuse_peak = gm__heapstats.heap_inuse;
}

/* MemStats: s's pages are free from now on. Heap lock. */
static void count_free(gm_span *s) {
    if (s->spanclass < 2) {
        gm__heapstats.nlarge_free++;
        gm__heapstats.large_free_bytes += s->npages * GM_PAGE_SIZE;
    }
    gm__heapstats.heap_inuse -= s->npages * GM_PAGE_SIZE;
    gm__heapstats.heap_free_dirty += s->npages * GM_PAGE_SIZE;
}

/* s's pages back to the page allocator, s back to its fixalloc. Heap lock. */
static void release_span(gm_span *s) {
    set_spans(s->base, s->npages, NULL);
    gm__pages_free(s->base, s->npages);
    if (s->alloc_bits) gm__bitsfree(s->alloc_bits, s->nwords);
    if (s->heap_bits) gm__fixalloc_free(&heapbitsalloc[s->npages], s->heap_bits);
    if (s->gcscan_bits) gm__fixalloc_free(&scanbitsalloc[s->nwords], s->gcscan_bits);
    gm__heap_check();
    span_reset(s, 0, 0, 0);
    gm__fixalloc_free(&gm__spanalloc, s);
}

/* The large-span cache (see large_cache above). Heap lock. */
static void large_cache_put(gm_span *s) {
    count_free(s);
    GM_STORE_SC(&s->state, GM_SPAN_FREE); /* free_large has set it already */
    s->next = large_cache[s->npages];
    large_cache[s->npages] = s;
    large_cache_npages += s->npages;
}

static gm_span *large_cache_take(size_t npages, int spanclass) {
    gm_span *s = large_cache[npages];
    large_cache[npages] = s->next;
    large_cache_npages -= npages;
    s->next = NULL;
    s->needzero = 1;
    GM_STORE(&s->spanclass, (uint8_t)spanclass);
    gm__heapstats.nlarge_alloc++;
    gm__heapstats.large_alloc_bytes += npages * GM_PAGE_SIZE;
    gm__heapstats.heap_free_dirty -= npages * GM_PAGE_SIZE;
    inuse_grew(npages);
    GM_STORE_SC(&s->state, GM_SPAN_LARGE);
    return s;
}

static void large_cache_flush(void) {
    for (size_t n = 1; n <= LARGE_CACHE_PAGES; n++) {
        gm_span *s;
        while ((s = large_cache[n]) != NULL) {
            large_cache[n] = s->next;
            release_span(s);
        }
    }
    large_cache_npages = 0;
}

/* Takes free pages and makes a span of them. Heap lock. */
static gm_span *alloc_span_locked(uintptr_t addr, size_t npages, int spanclass) {
    gm_span *s = gm__fixalloc_alloc(&gm__spanalloc);
    if (!s) return NULL;
    bool dirty;
    size_t scav = gm__pages_alloc(addr, npages, &dirty);
    if (scav) gm__sys_used((void *)addr, npages * GM_PAGE_SIZE);
    span_reset(s, addr, npages, spanclass);
    s->needzero = dirty;
    if (spanclass >= 2 && !gm__span_init_small(s, spanclass)) {
        gm__pages_free(addr, npages);
        gm__fixalloc_free(&gm__spanalloc, s);
        return NULL;
    }
    if (spanclass < 2) {
        s->nelems = 1;
        GM_STORE_SC(&s->state, GM_SPAN_LARGE);
        gm__heapstats.nlarge_alloc++;
        gm__heapstats.large_alloc_bytes += npages * GM_PAGE_SIZE;
    }
    gm__heapstats.heap_released -= scav * GM_PAGE_SIZE;
    gm__heapstats.heap_free_dirty -= (npages - scav) * GM_PAGE_SIZE;
    inuse_grew(npages);
    set_spans(addr, npages, s);
    return s;
}

/* Returns spans emptied by frees to the page heap (Go's mheap.reclaim):
 * the caller's own queued spans and the central lists. Heap lock held on
 * entry and exit; dropped inside (the central locks come first). */
static void reclaim_locked(void) {
    gm__unlock(&gm__heap_lock);
    gm__mcache_reclaim_own();
    gm__mcentral_reclaim();
    gm__lock(&gm__heap_lock);
    reclaim_mark = gm__heapstats.heap_inuse;
}

/* Go sweeps in proportion to allocation; we reclaim once the heap in use
 * has grown by an eighth (at least 1 MiB) since the last reclaim, so spans
 * emptied in classes a program stopped using do not pile up. (Measured on
 * bench/sizesweep: peak RSS 77 MiB with no proportional reclaim, 29 MiB at
 * a quarter / 4 MiB, 25 MiB at an eighth / 1 MiB, no gain below; no cost
 * in time at any of them.) */
static bool reclaim_due(void) {
    uint64_t step = reclaim_mark / 8 > (1u << 20) ? reclaim_mark / 8 : (1u << 20);
    return gm__heapstats.heap_inuse >= reclaim_mark + step;
}

gm_span *gm__mheap_alloc_span(size_t npages, int spanclass, size_t align_pages) {
    if (npages == 0 || npages > ((uintptr_t)1 << (GM_ADDR_BITS - GM_PAGE_SHIFT))) return NULL;
    gm__ensure_init(); /* a process's first allocation may be a large one */
    gm__lock(&gm__heap_lock);
    if (spanclass < 2 && align_pages == 1 && npages <= LARGE_CACHE_PAGES && large_cache[npages]) {
        gm_span *s = large_cache_take(npages, spanclass);
        gm__unlock(&gm__heap_lock);
        return s;
    }
    if (reclaim_due()) reclaim_locked();
    uintptr_t addr = gm__pages_find(npages, align_pages);
    if (!addr) {
        reclaim_locked();
        large_cache_flush();
        addr = gm__pages_find(npages, align_pages);
        if (!addr && mheap_grow(npages + align_pages - 1))
            addr = gm__pages_find(npages, align_pages);
    }
    gm_span *s = addr ? alloc_span_locked(addr, npages, spanclass) : NULL;
    gm__unlock(&gm__heap_lock);
    return s;
}

/* Free bytes kept backed before the scavenger returns pages. Heap lock. */
static uint64_t retain_target(void) {
    uint64_t pct = gm__heapstats.heap_inuse / 100 * gm__opts.retain_percent;
    return pct > gm__opts.retain_min ? pct : gm__opts.retain_min;
}

static void scavenge_locked(uint64_t bytes) {
    large_cache_flush();
    size_t r = gm__pages_scavenge(bytes);
    gm__heapstats.heap_released += r;
    gm__heapstats.heap_free_dirty -= r;
}

static void free_span_locked(gm_span *s) {
    count_free(s);
    release_span(s);
    /* The scavenger, run inline: with 1/8 slack so that a heap hovering at
     * the target does not madvise on every free. */
    uint64_t target = retain_target();
    if (gm__heapstats.heap_free_dirty > target + target / 8)
        scavenge_locked(gm__heapstats.heap_free_dirty - target);
}

void gm__mheap_free_span(gm_span *s) {
    if (GM_UNLIKELY(GM_LOAD_ACQ(&s->specials) != NULL)) gm__mprof_free_span(s);
    gm__lock(&gm__heap_lock);
    if (s->spanclass < 2 && !s->gckind && s->npages <= LARGE_CACHE_PAGES &&
        large_cache_npages + s->npages <= LARGE_CACHE_MAX) {
        large_cache_put(s);
        gm__unlock(&gm__heap_lock);
        return;
    }
    free_span_locked(s);
    gm__unlock(&gm__heap_lock);
}

bool gm__mheap_grow_span(gm_span *s, size_t size) {
    size_t npages = size / GM_PAGE_SIZE + (size % GM_PAGE_SIZE != 0);
    size_t extra = npages - s->npages;
    uintptr_t end = s->base + s->npages * GM_PAGE_SIZE;
    gm__lock(&gm__heap_lock);
    bool ok = gm__pages_range_free(end, extra);
    if (ok) {
        bool dirty;
        size_t scav = gm__pages_alloc(end, extra, &dirty);
        gm__heapstats.heap_released -= scav * GM_PAGE_SIZE;
        gm__heapstats.heap_free_dirty -= (extra - scav) * GM_PAGE_SIZE;
        inuse_grew(extra);
        gm__heapstats.large_alloc_bytes += extra * GM_PAGE_SIZE;
        set_spans(end, extra, s);
        s->npages = npages;
    }
    gm__unlock(&gm__heap_lock);
    return ok;
}

void gm__mheap_flush_large_cache(void) {
    gm__lock(&gm__heap_lock);
    large_cache_flush();
    gm__unlock(&gm__heap_lock);
}

void gm__mheap_scavenge_all(void) {
    gm__lock(&gm__heap_lock);
    scavenge_locked(UINT64_MAX);
    gm__unlock(&gm__heap_lock);
}
