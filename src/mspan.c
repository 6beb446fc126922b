/*
 * Spans and their bitmaps (Go's mspan in mheap.go, mbitmap.go). See malloc.c
 * for the overview and internal.h for the field rules.
 *
 * A small span has four bitmaps of nwords 64-bit words each, in one block
 * from the heap's bitmap allocator: alloc_bits, gcmark_bits, local_free,
 * remote_free. Slot i is allocated exactly when
 *     (i < freeindex || alloc_bits[i]) && !local_free[i] && !remote_free[i].
 * Bits of alloc_bits past nelems are always 1, so alloc_cache never offers a
 * slot past the end and the fast path needs no bounds check.
 */
#include <string.h>

#include "internal.h"

gm_span gm__emptyspan = {.state = GM_SPAN_CACHED};
_Static_assert(sizeof(gm_span) <= 3 * GM_CACHELINE, "gm_span is three cache lines");
_Static_assert(offsetof(gm_span, nelems) == GM_CACHELINE,
               "the fast-path fields of gm_span must fit its first cache line");

bool gm__span_init_small(gm_span *s, int spanclass) {
    int cls = spanclass >> 1;
    uint32_t size = gm__class_to_size[cls];
    uint32_t nelems = (uint32_t)(s->npages * GM_PAGE_SIZE / size);
    unsigned nw = (nelems + 63) / 64;
    uint64_t *bits = gm__bitsalloc(nw);
    if (!bits) return false;
    s->alloc_bits = bits;
    s->gcmark_bits = bits + nw;
    s->local_free = bits + 2 * nw;
    s->remote_free = bits + 3 * nw;
    s->nwords = (uint8_t)nw;
    s->nelems = nelems;
    s->elemsize = size;
    s->divmul = gm__class_to_divmagic[cls];
    s->limit = s->base + (uintptr_t)nelems * size;
    if (nelems % 64) s->alloc_bits[nw - 1] = ~(uint64_t)0 << (nelems % 64);
    s->freeindex = 0;
    s->alloc_count = 0;
    s->alloc_cache = ~s->alloc_bits[0];
    return true;
}

uint32_t gm__span_next_free_index(gm_span *s) {
    uint32_t fi = s->freeindex;
    uint64_t cache = s->alloc_cache;
    if (fi >= s->nelems) return s->nelems;
    if (cache == 0) {
        /* The rest of the current word is allocated: move to the next word
         * with a free slot. */
        fi = (fi + 63) & ~(uint32_t)63;
        for (;;) {
            if (fi >= s->nelems) {
                GM_STORE(&s->freeindex, s->nelems);
                return s->nelems;
            }
            cache = ~GM_LOAD(&s->alloc_bits[fi / 64]);
            if (cache) break;
            fi += 64;
        }
    }
    unsigned t = (unsigned)__builtin_ctzll(cache);
    uint32_t idx = fi + t;
    GM_STORE(&s->alloc_cache, (cache >> t) >> 1);
    GM_STORE(&s->freeindex, idx + 1);
    return idx;
}

uint32_t gm__span_alloc_count(const gm_span *s) {
    uint32_t fi = GM_LOAD(&s->freeindex);
    uint64_t cache = GM_LOAD(&s->alloc_cache);
    if (fi >= s->nelems) return s->nelems;
    /* alloc_cache holds the free slots of freeindex's word from freeindex
     * on; it is 0 at a word boundary before that word is loaded. */
    uint32_t freeslots = gm__popcount(cache);
    unsigned w = fi / 64 + (fi % 64 != 0 || cache != 0);
    for (; w < s->nwords; w++) freeslots += gm__popcount(~GM_LOAD(&s->alloc_bits[w]));
    return s->nelems - freeslots;
}

bool gm__span_has_remote_frees(gm_span *s) {
    for (unsigned w = 0; w < s->nwords; w++)
        if (GM_LOAD_SC(&s->remote_free[w])) return true;
    return false;
}

bool gm__span_has_frees(gm_span *s) {
    for (unsigned w = 0; w < s->nwords; w++)
        if (GM_LOAD(&s->local_free[w]) | GM_LOAD(&s->remote_free[w])) return true;
    return false;
}

uint32_t gm__span_pending_frees(gm_span *s) {
    uint32_t n = 0;
    for (unsigned w = 0; w < s->nwords; w++)
        n += gm__popcount(GM_LOAD(&s->local_free[w]) | GM_LOAD(&s->remote_free[w]));
    return n;
}

uint32_t gm__span_fold(gm_span *s, uint64_t *nfolded) {
    uint32_t fi = s->freeindex, allocated = 0, nfreed = 0;
    /* Sampled objects (heap profile): note which slots this fold frees. */
    uint64_t freed_words[GM_SPAN_MAX_ELEMS / 64];
    bool sampled = GM_LOAD_ACQ(&s->specials) != NULL;
    for (unsigned w = 0; w < s->nwords; w++) {
        uint64_t lf = s->local_free[w];
        uint64_t rf = GM_LOAD(&s->remote_free[w]);
        if (rf) rf = __atomic_exchange_n(&s->remote_free[w], 0, __ATOMIC_SEQ_CST);
        uint64_t a = s->alloc_bits[w] | gm__below_freeindex(fi, w);
        uint64_t freed = lf | rf;
        if (GM_UNLIKELY((freed & ~a) | (lf & rf))) {
            uint64_t bad = (freed & ~a) | (lf & rf);
            uintptr_t slot = w * 64 + (uintptr_t)__builtin_ctzll(bad);
            gm__fatal("double free or free of unallocated object",
                      (void *)(s->base + slot * s->elemsize));
        }
        a &= ~freed;
        if (sampled) freed_words[w] = freed;
        nfreed += gm__popcount(freed);
        GM_STORE(&s->alloc_bits[w], a);
        if (lf) GM_STORE(&s->local_free[w], 0);
        allocated += (uint32_t)gm__popcount(a);
    }
    allocated -= s->nwords * 64 - s->nelems; /* padding bits are always set */
    if (GM_UNLIKELY(sampled) && nfreed) gm__mprof_free_slots(s, freed_words);
    if (nfreed) {
        s->needzero = 1;
        GM_ADD(nfolded, nfreed);
    }
    GM_STORE(&s->alloc_cache, ~s->alloc_bits[0]);
    GM_STORE(&s->alloc_count, allocated);
    GM_STORE_REL(&s->freeindex, 0);
    gm__span_check(s);
    return s->nelems - allocated;
}

void gm__span_check(gm_span *s) {
    if (GOMALLOC_DEBUG < 3 || s == &gm__emptyspan || s->state == GM_SPAN_LARGE) return;
    uint32_t count = 0;
    for (unsigned w = 0; w < s->nwords; w++) {
        uint64_t a = (s->alloc_bits[w] | gm__below_freeindex(s->freeindex, w)) &
                     ~(s->local_free[w] | GM_LOAD(&s->remote_free[w]));
        count += (uint32_t)gm__popcount(a);
    }
    count -= s->nwords * 64 - s->nelems;
    if (s->nelems % 64 &&
        (s->alloc_bits[s->nwords - 1] >> (s->nelems % 64)) !=
            (~(uint64_t)0 >> (s->nelems % 64)))
        gm__fatal("span padding bits cleared", (void *)s->base);
    if (count > s->nelems || s->freeindex > s->nelems)
        gm__fatal("span counts inconsistent", (void *)s->base);
}
