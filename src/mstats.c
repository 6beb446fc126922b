/*
 * MemStats (Go's mstats.go). See malloc.c for the overview.
 *
 * Object counts live where they are cheapest to keep, and never on the
 * fast paths. Mallocs: per cached span, the allocations since it was cached
 * or folded (gm__span_alloc_count - alloc_count_base), flushed into the
 * cache's nmalloc at refill. Frees: counted when folded (as Go counts them
 * when sweeping) into the folding cache's nfree or the mcentral's nfolded,
 * plus those still pending in span bitmaps. Exiting threads move their
 * counts to gm__flushed; large objects are counted by the heap under its
 * lock. gm_read_memstats adds everything up without stopping anyone: exact
 * for the calling thread and for threads not allocating at that moment.
 */
#include <string.h>

#include "mgc.h"

gm_mutex gm__allcaches_lock = GM_MUTEX_INIT;
gm_mcache *gm__allcaches;
gm_flushedstats gm__flushed;

/* Mallocs of one cache not yet flushed into its nmalloc[]. */
static uint64_t cached_mallocs(gm_mcache *c, int spc) {
    gm_span *s = GM_LOAD_ACQ(&c->alloc[spc]);
    if (s == &gm__emptyspan) return 0;
    uint32_t count = gm__span_alloc_count(s), base = GM_LOAD(&s->alloc_count_base);
    /* A span changing hands under us can look inconsistent: ignore it. */
    return count >= base ? count - base : 0;
}

/* Frees are counted when folded; add those still pending in the bitmaps of
 * every span that can hold them: caches' current and queued spans, and
 * the central lists. (An owned-full span has none: a free to it first
 * moves it to a queue or to its mcentral.) */
static void count_cache(gm_mcache *c, uint64_t *nmalloc, uint64_t *nfree, uint64_t *nrefill) {
    gm__lock(&c->lock);
    for (int spc = 0; spc < GM_NUM_SPANCLASSES; spc++) {
        nmalloc[spc] += GM_LOAD(&c->nmalloc[spc]) + cached_mallocs(c, spc);
        nrefill[spc] += GM_LOAD(&c->nrefill[spc]);
        nfree[spc] += GM_LOAD(&c->nfree[spc]);
        gm_span *s = GM_LOAD_ACQ(&c->alloc[spc]);
        if (s != &gm__emptyspan) nfree[spc] += gm__span_pending_frees(s);
        for (s = c->partial[spc]; s; s = s->next) nfree[spc] += gm__span_pending_frees(s);
    }
    gm__unlock(&c->lock);
}

static uint64_t central_pending(gm_mcentral *mc) {
    uint64_t n = GM_LOAD(&mc->nfolded);
    gm__lock(&mc->lock);
    for (gm_span *s = mc->partial.next; s != &mc->partial; s = s->next)
        n += gm__span_pending_frees(s);
    for (gm_span *s = mc->full.next; s != &mc->full; s = s->next)
        n += gm__span_pending_frees(s);
    gm__unlock(&mc->lock);
    return n;
}

static void count_objects(uint64_t *nmalloc, uint64_t *nfree, uint64_t *nrefill) {
    gm__lock(&gm__allcaches_lock);
    for (int spc = 0; spc < GM_NUM_SPANCLASSES; spc++) {
        nmalloc[spc] = gm__flushed.nmalloc[spc];
        nfree[spc] = gm__flushed.nfree[spc];
        nrefill[spc] = gm__flushed.nrefill[spc];
    }
    for (gm_mcache *c = gm__allcaches; c; c = c->next_all)
        count_cache(c, nmalloc, nfree, nrefill);
    for (int spc = 2; spc < GM_NUM_SPANCLASSES; spc++)
        nfree[spc] += central_pending(&gm__central[spc]);
    gm__unlock(&gm__allcaches_lock);
}

void gm_read_memstats(gm_memstats *m) {
    gm__ensure_init();
    uint64_t nmalloc[GM_NUM_SPANCLASSES], nfree[GM_NUM_SPANCLASSES], nrefill[GM_NUM_SPANCLASSES];
    count_objects(nmalloc, nfree, nrefill);
    memset(m, 0, sizeof *m);
    for (int cls = 1; cls < GM_NUM_CLASSES; cls++) {
        uint64_t size = gm__class_to_size[cls];
        gm_memstats_by_size *b = &m->by_size[cls];
        b->size = (uint32_t)size;
        b->mallocs = nmalloc[2 * cls] + nmalloc[2 * cls + 1];
        b->frees = nfree[2 * cls] + nfree[2 * cls + 1];
        b->refills = nrefill[2 * cls] + nrefill[2 * cls + 1];
        m->mallocs += b->mallocs;
        m->frees += b->frees;
        m->total_alloc += b->mallocs * size;
        m->heap_alloc += (b->mallocs - b->frees) * size;
    }
    gm__lock(&gm__heap_lock);
    gm_heapstats h = gm__heapstats;
    m->mspan_inuse = gm__spanalloc.inuse;
    gm__unlock(&gm__heap_lock);
    m->by_size[0].mallocs = h.nlarge_alloc;
    m->by_size[0].frees = h.nlarge_free;
    m->by_size[0].refills = h.nlarge_alloc; /* each goes to the page heap */
    m->mallocs += h.nlarge_alloc;
    m->frees += h.nlarge_free;
    m->total_alloc += h.large_alloc_bytes;
    m->heap_alloc += h.large_alloc_bytes - h.large_free_bytes;
    gm__gc_read_memstats(m); /* collected small objects, the GC's fields */
    m->alloc = m->heap_alloc;
    m->heap_objects = m->mallocs - m->frees;
    m->heap_sys = h.heap_sys;
    m->heap_inuse = h.heap_inuse;
    m->heap_idle = h.heap_sys - h.heap_inuse;
    m->heap_released = h.heap_released;
    m->mspan_sys = GM_LOAD(&gm__heapstats.mspan_sys);
    m->mcache_inuse = h.mcache_inuse;
    m->mcache_sys = GM_LOAD(&gm__heapstats.mcache_sys);
    m->gc_sys = GM_LOAD(&gm__heapstats.gc_sys);
    m->other_sys = GM_LOAD(&gm__heapstats.other_sys);
    m->buck_hash_sys = GM_LOAD(&gm__mprof_sys);
    m->sys = m->heap_sys + m->stack_sys + m->mspan_sys + m->mcache_sys +
             m->buck_hash_sys + m->gc_sys + m->other_sys;
}

void gm__count_spans(uint64_t nspans[GM_NUM_CLASSES], uint64_t *peak_inuse) {
    memset(nspans, 0, GM_NUM_CLASSES * sizeof nspans[0]);
    gm__lock(&gm__heap_lock);
    for (gm_heap_arena *ha = gm__arena_first; ha; ha = ha->next) {
        for (size_t i = 0; i < GM_PAGES_PER_ARENA; i++) {
            gm_span *s = ha->spans[i];
            if (s && s->base == ha->base + i * GM_PAGE_SIZE && GM_LOAD(&s->state) != GM_SPAN_FREE)
                nspans[s->spanclass >> 1]++;
        }
    }
    *peak_inuse = gm__heapstats.heap_inuse_peak;
    gm__unlock(&gm__heap_lock);
}

int gm_span_inspect(const void *p, gm_span_info *info) {
    gm_span *s = gm__span_of((uintptr_t)p);
    if (!s || (uintptr_t)p - s->base >= s->npages * GM_PAGE_SIZE) return -1;
    memset(info, 0, sizeof *info);
    info->base = s->base;
    info->npages = s->npages;
    info->size_class = s->spanclass >> 1;
    info->span_class = s->spanclass;
    info->state = GM_LOAD(&s->state);
    info->needzero = s->needzero;
    info->gc_kind = GM_LOAD_ACQ(&s->gckind);
    info->sweepgen = s->sweepgen;
    info->heap_sweepgen = GM_LOAD(&gm__gc.sweepgen);
    if (s->spanclass < 2) {
        info->elemsize = s->npages * GM_PAGE_SIZE;
        info->nelems = 1;
        info->object_base = s->base;
        return 0;
    }
    info->elemsize = s->elemsize;
    info->nelems = s->nelems;
    info->freeindex = GM_LOAD(&s->freeindex);
    info->alloc_count = gm__span_alloc_count(s);
    info->alloc_cache = GM_LOAD(&s->alloc_cache);
    info->object_index = gm__span_slot(s, (uintptr_t)p);
    info->object_base = s->base + (uintptr_t)info->object_index * s->elemsize;
    for (unsigned w = 0; w < s->nwords; w++) {
        info->alloc_bits[w] = GM_LOAD(&s->alloc_bits[w]);
        info->gcmark_bits[w] = GM_LOAD(&s->gcmark_bits[w]);
        info->freed_bits[w] = GM_LOAD(&s->local_free[w]) | GM_LOAD(&s->remote_free[w]);
    }
    return 0;
}

double gm_allocs_per_run(int runs, void (*fn)(void *), void *arg) {
    if (runs <= 0) return 0;
    gm_memstats before, after;
    fn(arg); /* warm-up, as Go's */
    gm_read_memstats(&before);
    for (int i = 0; i < runs; i++) fn(arg);
    gm_read_memstats(&after);
    return (double)((after.mallocs - before.mallocs) / (uint64_t)runs);
}
