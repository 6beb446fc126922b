/*
 * Per-thread caches (Go's mcache.go; Go has one per P, we have one per
 * thread). See malloc.c for the overview.
 *
 * A thread starts with gm__tls_mcache pointing at gm__empty_mcache, whose
 * every span is gm__emptyspan (alloc_cache == 0), so the first allocation
 * of each class falls into the slow path, which creates the real cache.
 * When a thread exits, a pthread key destructor returns its spans to the
 * central lists, moves its counters into gm__flushed and puts the cache on
 * a reuse list: nothing is stranded with a dead thread.
 */
#include <pthread.h>

#include "internal.h"

#define EMPTY8 &gm__emptyspan, &gm__emptyspan, &gm__emptyspan, &gm__emptyspan, \
               &gm__emptyspan, &gm__emptyspan, &gm__emptyspan, &gm__emptyspan
gm_mcache gm__empty_mcache = {.alloc = {
    EMPTY8, EMPTY8, EMPTY8, EMPTY8, EMPTY8, EMPTY8, EMPTY8, EMPTY8, EMPTY8,
    EMPTY8, EMPTY8, EMPTY8, EMPTY8, EMPTY8, EMPTY8, EMPTY8, EMPTY8}};
_Static_assert(GM_NUM_SPANCLASSES == 17 * 8, "EMPTY8 count must match span classes");

__thread gm_mcache *gm__tls_mcache __attribute__((tls_model("initial-exec"))) =
    &gm__empty_mcache;

__thread bool gm__tls_cache_gone __attribute__((tls_model("initial-exec")));

static pthread_key_t cache_key;
static gm_mcache *reuse_list; /* heap lock */

/* Give back everything c holds and put it on the reuse list: at thread
 * exit, and in a fork child for the threads that did not survive. */
void gm__mcache_retire(gm_mcache *c) {
    gm__lock(&gm__allcaches_lock);
    gm__mcache_release_all(c);
    for (int i = 0; i < GM_NUM_SPANCLASSES; i++) {
        gm__flushed.nmalloc[i] += c->nmalloc[i];
        gm__flushed.nfree[i] += c->nfree[i];
        gm__flushed.nrefill[i] += c->nrefill[i];
        GM_STORE(&c->nmalloc[i], 0);
        GM_STORE(&c->nrefill[i], 0);
        GM_STORE(&c->nfree[i], 0);
    }
    if (c->prev_all) c->prev_all->next_all = c->next_all;
    else gm__allcaches = c->next_all;
    if (c->next_all) c->next_all->prev_all = c->prev_all;
    gm__unlock(&gm__allcaches_lock);
    gm__lock(&gm__heap_lock);
    c->next_free = reuse_list;
    reuse_list = c;
    gm__heapstats.mcache_inuse -= sizeof *c;
    gm__unlock(&gm__heap_lock);
}

static void mcache_thread_exit(void *v) {
    gm__mcache_retire(v);
    /* Destructors that run after this one may still allocate: they use the
     * shared orphan cache (malloc.c), not a new cache nobody would return. */
    gm__tls_mcache = &gm__empty_mcache;
    gm__tls_cache_gone = true;
}

void gm__mcache_thread_init(void) {
    if (pthread_key_create(&cache_key, mcache_thread_exit) != 0)
        gm__fatal("pthread_key_create failed", NULL);
}

gm_mcache *gm__mcache_new(void) {
    gm__ensure_init();
    /* Counted and listed under one allcaches hold: a fork in between would
     * leave the child a counted cache that no list retires. */
    gm__lock(&gm__allcaches_lock);
    gm__lock(&gm__heap_lock);
    gm_mcache *c = reuse_list;
    if (c) reuse_list = c->next_free;
    else c = gm__fixalloc_alloc(&gm__cachealloc);
    if (c) gm__heapstats.mcache_inuse += sizeof *c;
    gm__unlock(&gm__heap_lock);
    if (!c) {
        gm__unlock(&gm__allcaches_lock);
        return NULL;
    }
    for (int i = 0; i < GM_NUM_SPANCLASSES; i++) {
        c->alloc[i] = &gm__emptyspan;
        c->partial[i] = c->partial_tail[i] = NULL;
    }
    gm__lock_reinit(&c->lock);
    c->next_free = NULL;
    c->prev_all = NULL;
    c->next_all = gm__allcaches;
    if (gm__allcaches) gm__allcaches->prev_all = c;
    gm__allcaches = c;
    gm__unlock(&gm__allcaches_lock);
    return c;
}

gm_mcache *gm__mcache_acquire(void) {
    gm_mcache *c = gm__mcache_new();
    if (c) {
        gm__tls_mcache = c;
        pthread_setspecific(cache_key, c);
    }
    return c;
}

void gm__mcache_flush_stats(gm_mcache *c, int spc) {
    gm_span *s = c->alloc[spc];
    if (s == &gm__emptyspan) return;
    uint32_t now = gm__span_alloc_count(s), n = now - s->alloc_count_base;
    if (n) GM_STORE(&c->nmalloc[spc], c->nmalloc[spc] + n);
    GM_STORE(&s->alloc_count_base, now);
}

/* The owner's partial queue is FIFO: a span waits there the longest time
 * before reuse, collecting more frees, so fewer refills are needed. */
static void partial_push(gm_mcache *c, gm_span *s) {
    int spc = s->spanclass;
    s->next = NULL;
    if (c->partial[spc]) c->partial_tail[spc]->next = s;
    else c->partial[spc] = s;
    c->partial_tail[spc] = s;
}

static gm_span *partial_pop(gm_mcache *c, int spc) {
    gm_span *s = c->partial[spc];
    if (s) {
        c->partial[spc] = s->next;
        s->next = NULL;
    }
    return s;
}

/* s, c's span, has no free slot: hold it as owned-full (owner = c | 1). If
 * remote frees raced in, take it back and return true: s is usable. */
static bool retire_full(gm_mcache *c, gm_span *s) {
    uintptr_t tagged = (uintptr_t)c | GM_OWNER_FULL_TAG;
    GM_STORE(&s->state, GM_SPAN_OWNED);
    GM_STORE_SC(&s->owner, tagged);
    if (!gm__span_has_remote_frees(s)) return false;
    return __atomic_compare_exchange_n(&s->owner, &tagged, (uintptr_t)c, false,
                                       __ATOMIC_SEQ_CST, __ATOMIC_RELAXED) &&
           gm__span_fold(s, &c->nfree[s->spanclass]) > 0;
}

static gm_span *make_active(gm_mcache *c, int spc, gm_span *s) {
    s->parked = 0;
    GM_STORE_SC(&s->state, GM_SPAN_CACHED);
    GM_STORE(&s->alloc_count_base, s->alloc_count);
    GM_STORE_REL(&c->alloc[spc], s); /* MemStats reads the span through it */
    return s;
}

/* A span is worth folding once 1/8 of its slots (at least one) wait to be
 * folded: refolding a span for a slot or two costs more than it gives, and
 * fights the freeing thread for the bitmap's cache lines. */
static bool worth_folding(gm_span *s) {
    uint32_t batch = s->nelems / 8 ? s->nelems / 8 : 1;
    return gm__span_pending_frees(s) >= batch;
}

/* s is not worth folding now. It first goes round the owner's queue once,
 * untagged, so that its frees stay plain stores; if it comes back with no
 * pending free at all, it holds long-lived data: retire it as owned-full so
 * refills stop visiting it. True if s turned out usable (see retire_full). */
static bool park(gm_mcache *c, gm_span *s) {
    if (!s->parked || gm__span_has_frees(s)) {
        s->parked = 1;
        GM_STORE(&s->state, GM_SPAN_OWNED);
        partial_push(c, s);
        return false;
    }
    return retire_full(c, s);
}

/* How many queued spans one refill looks at. Spans in the queue have had
 * fewer than 1/8 of their slots freed (else they would have been folded):
 * looking at all of them on every refill made refills linear in the queue,
 * 10x slower Python programs whose long-lived dicts leave thousands of
 * spans with a free slot or two. Past the bound the refill takes a span
 * from elsewhere; the FIFO brings every queued span round again. Each
 * visit touches a cold span (and counts its pending frees): 8 visits put
 * a third of larson's time in refills; 2 made it 14% faster (RSS +2%). */
#define REFILL_VISITS 2
/* Before growing the heap, more of the queue is worth a look. */
#define GROW_VISITS 8

/* Before growing the heap: an owned span near the head of the queue with
 * a free slot. */
static gm_span *any_with_frees(gm_mcache *c, int spc) {
    int visits = 0;
    for (gm_span *s = c->partial[spc], *prev = NULL; s && visits++ < GROW_VISITS;
         prev = s, s = s->next) {
        if (!gm__span_has_frees(s) || !gm__span_fold(s, &c->nfree[spc])) continue;
        if (prev) prev->next = s->next;
        else c->partial[spc] = s->next;
        if (c->partial_tail[spc] == s) c->partial_tail[spc] = prev;
        s->next = NULL;
        return s;
    }
    return NULL;
}

bool gm__mcache_claim_full(gm_mcache *c, gm_span *s) {
    uintptr_t tagged = (uintptr_t)c | GM_OWNER_FULL_TAG;
    if (!__atomic_compare_exchange_n(&s->owner, &tagged, (uintptr_t)c, false,
                                     __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        return false;
    gm__lock(&c->lock);
    partial_push(c, s);
    gm__unlock(&c->lock);
    return true;
}

/* Go's mcache.refill: the current span of the class is exhausted. In order:
 * fold the frees it has received (a local sweep); take a span from our own
 * partial list; take one from the mcentral; grow the heap. */
static gm_span *refill_from_own(gm_mcache *c, int spc) {
    uint64_t *nfolded = &c->nfree[spc];
    gm_span *s = c->alloc[spc];
    if (s != &gm__emptyspan) {
        gm__mcache_flush_stats(c, spc);
        if (worth_folding(s) && gm__span_fold(s, nfolded)) return s;
        GM_STORE(&c->alloc[spc], &gm__emptyspan);
        if (park(c, s)) return s;
    }
    /* Visit queued spans once each, at most REFILL_VISITS: worth folding,
     * or back to the tail. */
    gm_span *last = c->partial_tail[spc];
    for (int visits = 0; visits < REFILL_VISITS && (s = partial_pop(c, spc)) != NULL; visits++) {
        if (worth_folding(s) && gm__span_fold(s, nfolded)) return s;
        bool was_last = s == last;
        if (park(c, s)) return s;
        if (was_last) break;
    }
    return NULL;
}

gm_span *gm__mcache_refill(gm_mcache *c, int spc) {
    GM_STORE(&c->nrefill[spc], c->nrefill[spc] + 1);
    gm__lock(&c->lock);
    gm_span *s = refill_from_own(c, spc);
    gm__unlock(&c->lock);
    if (!s) s = gm__mcentral_cache_span(&gm__central[spc], c, false);
    if (!s) {
        gm__lock(&c->lock);
        s = any_with_frees(c, spc);
        gm__unlock(&c->lock);
    }
    if (!s) s = gm__mcentral_cache_span(&gm__central[spc], c, true);
    return s ? make_active(c, spc, s) : NULL;
}

/* Caller holds gm__allcaches_lock: MemStats reads the caches' current
 * spans under it, and this is the only place they are freed. */
void gm__mcache_release_all(gm_mcache *c) {
    gm__lock(&c->lock);
    for (int spc = 0; spc < GM_NUM_SPANCLASSES; spc++) {
        gm_span *s = c->alloc[spc];
        if (s != &gm__emptyspan) {
            gm__mcache_flush_stats(c, spc);
            GM_STORE(&c->alloc[spc], &gm__emptyspan);
            gm__mcentral_uncache_span(&gm__central[spc], s, &c->nfree[spc]);
        }
        while ((s = partial_pop(c, spc)) != NULL)
            gm__mcentral_uncache_span(&gm__central[spc], s, &c->nfree[spc]);
    }
    gm__unlock(&c->lock);
}

void gm__mcache_reclaim_own(void) {
    gm_mcache *c = gm__tls_mcache;
    if (c == &gm__empty_mcache) return;
    gm__lock(&c->lock);
    for (int spc = 2; spc < GM_NUM_SPANCLASSES; spc++) {
        gm_span *s, *keep = NULL;
        while ((s = partial_pop(c, spc)) != NULL) {
            if (gm__span_fold(s, &c->nfree[spc]) != s->nelems) {
                s->next = keep;
                keep = s;
                continue;
            }
            GM_STORE_SC(&s->owner, 0);
            GM_STORE_SC(&s->state, GM_SPAN_FREE);
            gm__mheap_free_span(s);
        }
        while ((s = keep) != NULL) {
            keep = s->next;
            partial_push(c, s);
        }
    }
    gm__unlock(&c->lock);
}
