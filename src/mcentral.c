/*
 * Central free lists, one per span class (Go's mcentral.go). See malloc.c
 * for the overview.
 *
 * Go keeps partial and full spans in lock-free span sets, swept and
 * unswept. With explicit free there is no sweep phase to order around, so
 * each mcentral keeps two intrusive lists under one short lock:
 *   partial: uncached spans with at least one free slot (possibly only
 *            through remote_free bits not yet folded);
 *   full:    uncached spans with no free slot when they were uncached.
 * Spans reach these lists when a thread exits (its cache gives its spans
 * back) and when a remote free lands in a span its owner ran full (see
 * "Span ownership" in internal.h). A remote free into a FULL or owned-full
 * span moves it to partial (free_to_full), so a span that gains free slots
 * always becomes allocatable again.
 *
 * The full <-> remote free handshake is Dekker-style with seq_cst
 * operations: whoever makes a span full stores state = FULL (or owner |= 1)
 * then reads remote_free; a remote freer ORs its bit into remote_free then
 * reads owner and state. At least one of them sees the other, so no freed
 * slot is stranded in a full span.
 */
#include "internal.h"

gm_mcentral gm__central[GM_NUM_SPANCLASSES];

static void list_init(gm_span *head) { head->next = head->prev = head; }

static void list_push(gm_span *head, gm_span *s) {
    s->next = head->next;
    s->prev = head;
    head->next->prev = s;
    head->next = s;
}

static void list_remove(gm_span *s) {
    s->prev->next = s->next;
    s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

void gm__mcentral_init(void) {
    for (int i = 0; i < GM_NUM_SPANCLASSES; i++) {
        gm__central[i].spanclass = i;
        list_init(&gm__central[i].partial);
        list_init(&gm__central[i].full);
    }
}

/* Go's mcentral.grow: a fresh span from the page heap. */
static gm_span *mcentral_grow(gm_mcentral *mc) {
    int cls = mc->spanclass >> 1;
    return gm__mheap_alloc_span(gm__class_to_allocnpages[cls], mc->spanclass, 1);
}

static void push_partial(gm_mcentral *mc, gm_span *s) {
    GM_STORE_SC(&s->state, GM_SPAN_PARTIAL);
    list_push(&mc->partial, s);
    GM_STORE(&mc->npartial, mc->npartial + 1);
}

static void push_full(gm_mcentral *mc, gm_span *s) {
    GM_STORE_SC(&s->state, GM_SPAN_FULL);
    list_push(&mc->full, s);
    mc->nfull++;
}

gm_span *gm__mcentral_cache_span(gm_mcentral *mc, gm_mcache *c, bool grow) {
    gm__lock(&mc->lock);
    gm_span *s;
    while ((s = mc->partial.next) != &mc->partial) {
        list_remove(s);
        GM_STORE(&mc->npartial, mc->npartial - 1);
        /* Ours to fold once owned by the central lock; a span with no free
         * slot after all (see free_to_full) goes to the full list. */
        if (gm__span_fold(s, &mc->nfolded) == 0) {
            push_full(mc, s);
            continue;
        }
        GM_STORE_SC(&s->owner, (uintptr_t)c);
        GM_STORE_SC(&s->state, GM_SPAN_CACHED);
        gm__unlock(&mc->lock);
        return s;
    }
    gm__unlock(&mc->lock);
    if (!grow) return NULL;
    s = mcentral_grow(mc);
    if (!s) return NULL;
    GM_STORE_SC(&s->owner, (uintptr_t)c);
    GM_STORE_SC(&s->state, GM_SPAN_CACHED);
    return s;
}

void gm__mcentral_uncache_span(gm_mcentral *mc, gm_span *s, uint64_t *nfolded) {
    uint32_t nfree = gm__span_fold(s, nfolded);
    if (nfree == s->nelems) {
        /* Every object is free: no legitimate free can still arrive. */
        GM_STORE_SC(&s->owner, 0);
        GM_STORE_SC(&s->state, GM_SPAN_FREE);
        gm__mheap_free_span(s);
        return;
    }
    gm__lock(&mc->lock);
    GM_STORE_SC(&s->owner, 0);
    if (nfree == 0) {
        GM_STORE_SC(&s->state, GM_SPAN_FULL);
        if (!gm__span_has_remote_frees(s)) {
            list_push(&mc->full, s);
            mc->nfull++;
            gm__unlock(&mc->lock);
            return;
        }
    }
    push_partial(mc, s);
    gm__unlock(&mc->lock);
}

void gm__mcentral_free_to_full(gm_span *s, uintptr_t owner) {
    int spc = GM_LOAD(&s->spanclass);
    gm_mcentral *mc = &gm__central[spc];
    gm__lock(&mc->lock);
    /* Re-check under the lock: s may have changed hands (or even been
     * reused for another class) since the caller read its owner. */
    if (owner & GM_OWNER_FULL_TAG) {
        if (__atomic_compare_exchange_n(&s->owner, &owner, 0, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED)) {
            if (s->spanclass != spc) GM_STORE_SC(&s->owner, owner); /* recycled: give it back */
            else if (gm__span_has_remote_frees(s)) push_partial(mc, s);
            else push_full(mc, s);
        }
    } else if (GM_LOAD(&s->state) == GM_SPAN_FULL && GM_LOAD(&s->owner) == 0 &&
               s->spanclass == spc && gm__span_has_remote_frees(s)) {
        list_remove(s);
        mc->nfull--;
        push_partial(mc, s);
    }
    gm__unlock(&mc->lock);
}

size_t gm__mcentral_reclaim(void) {
    size_t pages = 0;
    for (int spc = 2; spc < GM_NUM_SPANCLASSES; spc++) {
        gm_mcentral *mc = &gm__central[spc];
        if (!GM_LOAD(&mc->npartial)) continue;
        gm_span *empty = NULL;
        gm__lock(&mc->lock);
        for (gm_span *s = mc->partial.next, *next; s != &mc->partial; s = next) {
            next = s->next;
            if (!gm__span_has_remote_frees(s) || gm__span_fold(s, &mc->nfolded) != s->nelems) continue;
            list_remove(s);
            GM_STORE(&mc->npartial, mc->npartial - 1);
            GM_STORE_SC(&s->state, GM_SPAN_FREE);
            s->next = empty;
            empty = s;
        }
        gm__unlock(&mc->lock);
        while (empty) {
            gm_span *s = empty;
            empty = s->next;
            pages += s->npages;
            gm__mheap_free_span(s);
        }
    }
    return pages;
}
