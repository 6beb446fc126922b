/*
 * Sweeping (Go's mgcsweep.go). See mgc.c for the overview.
 *
 * Go's sweepgen rules, with gm__gc.sweepgen = h raised by 2 at each mark
 * termination: a span with sweepgen h-2 needs sweeping, h-1 is being swept,
 * h is swept. Go also has h+1 and h+3 for spans a P held in its mcache when
 * the cycle ended; here mark termination takes every span back from the
 * threads (the world is stopped), so a thread only ever holds swept spans.
 * Which spans need sweeping is also kept as lists (gm_gccentral.unswept and
 * gm__gclarge_unswept), all under the gc lock: a span is taken off the
 * unswept list before it is swept, so it is swept exactly once per cycle.
 *
 * Sweepers: an allocating thread that needs a span sweeps unswept spans of
 * its class until one has room (lazy sweep); the background sweeper thread
 * sweeps the rest, 10 spans per gc-lock hold; the next cycle finishes
 * whatever is left before it marks.
 *
 * Sweeping a span (Go's mspan.sweep): the objects marked survive, so
 * alloc_bits = gcmark_bits; the mark bits are cleared for the next cycle;
 * freeindex = 0; frees (allocated but unmarked, and early frees by
 * gm_free) are counted. An empty span goes back to the heap. A marked slot
 * that was not allocated is a "zombie": something pointed to a free slot,
 * which is fatal, as in Go.
 */
#include <string.h>

#include "mgc.h"

static uint32_t sweep_wake_word; /* futex word: bumped when a cycle leaves spans to sweep */
static bool sweeper_started;    /* gc lock */

static void zombie(gm_span *s, uint64_t bits, unsigned w) {
    uintptr_t a = s->base + (uintptr_t)(w * 64 + (unsigned)__builtin_ctzll(bits)) * s->elemsize;
    gm__fatal("marked free object in span (zombie)", (void *)a);
}

static bool sweep_large(gm_span *s) {
    bool marked = s->gcmark_bits[0] & 1;
    if (s->remote_free[0] & 1) gm__fatal("swept large object that was freed", (void *)s->base);
    if (marked) {
        s->gcmark_bits[0] = 0;
        s->sweepgen = GM_LOAD(&gm__gc.sweepgen);
        return true;
    }
    gm__mheap_free_span(s); /* gckind is cleared with the span */
    return false;
}

bool gm__sweep_span(gm_span *s) {
    uint32_t h = GM_LOAD(&gm__gc.sweepgen);
    gm_assert(1, s->sweepgen == h - 2, "sweeping a span that does not need it");
    s->sweepgen = h - 1;
    if (s->spanclass < 2) return sweep_large(s);
    int gcs = gm__gc_class(s->gckind, s->spanclass >> 1);
    uint32_t fi = s->freeindex, live = 0, freed = 0;
    uint64_t freed_words[GM_SPAN_MAX_ELEMS / 64]; /* for the heap profile */
    bool sampled = GM_LOAD_ACQ(&s->specials) != NULL;
    for (unsigned w = 0; w < s->nwords; w++) {
        uint64_t pad = w + 1 == s->nwords && s->nelems % 64 ? ~(uint64_t)0 << (s->nelems % 64) : 0;
        uint64_t alloc = ((s->alloc_bits[w] | gm__below_freeindex(fi, w)) & ~pad) & ~s->remote_free[w];
        /* gm_free after the mark (the span was not swept yet) wins. */
        uint64_t mark = s->gcmark_bits[w] & ~s->remote_free[w];
        if (mark & ~alloc) zombie(s, mark & ~alloc, w);
        freed += gm__popcount(alloc & ~mark) + gm__popcount(s->remote_free[w] & ~pad);
        if (sampled) freed_words[w] = (alloc & ~mark) | (s->remote_free[w] & ~pad);
        live += gm__popcount(mark);
        /* Atomic stores where gm_is_collected and gm_set_finalizer read
         * without the gc lock (gm__find_object). */
        GM_STORE(&s->alloc_bits[w], mark | pad);
        s->gcmark_bits[w] = 0;
        if (s->gcscan_bits) s->gcscan_bits[w] = 0;
        GM_STORE(&s->remote_free[w], 0);
    }
    if (GM_UNLIKELY(sampled) && freed) gm__mprof_free_slots(s, freed_words);
    gm__gc.nfree[gcs] += freed;
    GM_STORE(&s->freeindex, 0);
    GM_STORE(&s->alloc_cache, ~s->alloc_bits[0]);
    GM_STORE(&s->alloc_count, live);
    if (freed) s->needzero = 1;
    s->sweepgen = h;
    if (live == 0) {
        GM_STORE(&s->gckind, 0);
        gm__mheap_free_span(s);
        return false;
    }
    return true;
}

gm_span *gm__sweep_for_alloc(int gcs) {
    gm_span *u = &gm__gccentral[gcs].unswept;
    while (u->next != u) {
        gm_span *s = u->next;
        gm__gc_list_remove(s);
        if (!gm__sweep_span(s)) continue;
        if (s->alloc_count < s->nelems) return s;
        gm__gc_list_swept(s);
    }
    return NULL;
}

/* Sweep up to n spans; returns how many were left to sweep (0: done). */
static size_t sweep_some(size_t n) {
    static int next_class; /* gc lock: where the last batch stopped */
    size_t done = 0;
    while (done < n && gm__gclarge_unswept.next != &gm__gclarge_unswept) {
        gm_span *s = gm__gclarge_unswept.next;
        gm__gc_list_remove(s);
        if (gm__sweep_span(s)) gm__gc_list_push(&gm__gclarge, s);
        done++;
    }
    for (int i = 0; i < GM_GC_NUM_CLASSES && done < n; i++) {
        int gcs = (next_class + i) % GM_GC_NUM_CLASSES;
        gm_span *u = &gm__gccentral[gcs].unswept;
        while (done < n && u->next != u) {
            gm_span *s = u->next;
            gm__gc_list_remove(s);
            if (gm__sweep_span(s)) gm__gc_list_swept(s);
            done++;
        }
        if (u->next != u) {
            next_class = gcs;
            return 1;
        }
    }
    return done == n;
}

void gm__sweep_finish(void) {
    while (sweep_some(SIZE_MAX)) {}
}

/* Go's finishsweep_m before a concurrent cycle, without holding up the
 * allocating threads: batches of 10 spans, the gc lock taken for each.
 * No lock held; returns with it held and nothing left to sweep. */
void gm__sweep_finish_yielding(void) {
    for (;;) {
        gm__gc_lock_acquire(false);
        if (!sweep_some(10)) return;
        gm__unlock(&gm__gc_lock);
    }
}

void gm__sweep_flip(void) {
    for (gm_gthread *t = gm__threads; t; t = t->next) gm__gthread_release_spans(t);
    for (int i = 0; i < GM_GC_NUM_CLASSES; i++) {
        gm_gccentral *c = &gm__gccentral[i];
        gm__gc_list_splice(&c->unswept, &c->partial);
        gm__gc_list_splice(&c->unswept, &c->full);
    }
    gm__gc_list_splice(&gm__gclarge_unswept, &gm__gclarge);
    GM_STORE(&gm__gc.sweepgen, gm__gc.sweepgen + 2);
}

/* The background sweeper (Go's bgsweep): batches of 10 spans, yielding the
 * gc lock between them so allocation is never held up for long. */
static void *bgsweep(void *arg) {
    (void)arg;
    uint32_t seen = 0;
    for (;;) {
        while (GM_LOAD_ACQ(&sweep_wake_word) == seen) gm__futex_wait(&sweep_wake_word, seen, 0);
        seen = GM_LOAD_ACQ(&sweep_wake_word);
        for (;;) {
            gm__gc_lock_acquire(true);
            size_t more = sweep_some(10);
            gm__unlock(&gm__gc_lock);
            if (!more) break;
        }
    }
    return NULL;
}

/* gc lock. */
void gm__sweeper_wake(void) {
    if (!sweeper_started) sweeper_started = gm__start_helper(bgsweep, NULL);
    __atomic_add_fetch(&sweep_wake_word, 1, __ATOMIC_RELEASE);
    gm__futex_wake(&sweep_wake_word);
}

void gm__sweeper_fork_child(void) { sweeper_started = false; }
