/*
 * Allocation and free hooks (the articles' allocFreeHook), and the one
 * branch every observer shares. See malloc.c for the allocator's overview
 * and mprof.c for the profiler behind gm__observe_alloc.
 *
 * The fast paths test gm__observe_alloc_on (gm_malloc, gm_new and their
 * slow paths) and gm__observe_free_on (gm_free) — one predicted branch on
 * a byte that stays in cache. A hook is an immutable (fn, arg) pair
 * published with one pointer store, so a reader never pairs one hook's fn
 * with another's arg; pairs come from a ring and are not freed (a thread
 * may still hold an old one: reusing a pair needs 64 more hook changes
 * while it runs).
 */
#include "mgc.h"

uint8_t gm__observe_alloc_on, gm__observe_free_on; /* atomic */
__thread bool gm__tls_observing;

typedef struct hook_pair {
    gm_alloc_hook fn;
    void *arg;
} hook_pair;

#define HOOK_RING 64
static hook_pair ring[HOOK_RING]; /* hook_lock */
static unsigned ring_next;        /* hook_lock */
static gm_mutex hook_lock = GM_MUTEX_INIT;
static hook_pair *alloc_hook, *free_hook; /* atomic (release/acquire) */

void gm__observe_update(void) {
    uint8_t on = GM_LOAD_ACQ(&alloc_hook) ? GM_OBSERVE_HOOK
                 : GM_LOAD(&gm__mprof_rate) ? GM_OBSERVE_SAMPLING
                                            : 0;
    GM_STORE(&gm__observe_alloc_on, on);
    GM_STORE(&gm__observe_free_on, (uint8_t)(GM_LOAD_ACQ(&free_hook) != NULL));
}

static void set_hook(hook_pair **slot, gm_alloc_hook fn, void *arg) {
    gm__ensure_init();
    gm__lock(&hook_lock);
    hook_pair *h = NULL;
    if (fn) {
        h = &ring[ring_next++ % HOOK_RING];
        h->fn = fn;
        h->arg = arg;
    }
    GM_STORE_REL(slot, h);
    gm__observe_update();
    gm__unlock(&hook_lock);
}

void gm_set_alloc_hook(gm_alloc_hook fn, void *arg) { set_hook(&alloc_hook, fn, arg); }
void gm_set_free_hook(gm_alloc_hook fn, void *arg) { set_hook(&free_hook, fn, arg); }

static size_t block_size(const gm_span *s) {
    return s->spanclass < 2 ? s->npages * GM_PAGE_SIZE : s->elemsize;
}

static void fill_event(gm_alloc_event *ev, void *p, size_t size, const gm_span *s) {
    ev->ptr = p;
    ev->size = size;
    ev->elemsize = s ? block_size(s) : 0;
    ev->size_class = s ? s->spanclass >> 1 : 0;
    ev->span_class = s ? s->spanclass : 0;
    ev->span = s ? s->base : 0;
    ev->gc_kind = s ? GM_LOAD_ACQ(&s->gckind) : 0;
}

void *gm__observe_alloc(void *p, size_t size) {
    if (!p || gm__tls_observing) return p;
    gm_span *s = gm__span_of((uintptr_t)p);
    if (!s) return p;
    /* Objects count with their block, as Go counts them; tiny objects
     * (sharing a 16-byte block) with their own size. */
    size_t counted = gm__is_tiny_span(s) && size < GM_TINY_SIZE ? size : block_size(s);
    bool sample = gm__mprof_should_sample(counted);
    hook_pair *h = GM_LOAD_ACQ(&alloc_hook);
    if (GM_LIKELY(!sample && !h)) return p;
    gm__tls_observing = true;
    if (sample) gm__mprof_malloc(p, s, counted);
    if (h) {
        gm_alloc_event ev;
        fill_event(&ev, p, size, s);
        h->fn(&ev, h->arg);
    }
    gm__tls_observing = false;
    return p;
}

void gm__observe_free(void *p) {
    hook_pair *h = GM_LOAD_ACQ(&free_hook);
    if (!p || !h || gm__tls_observing) return;
    gm_span *s = gm__span_of((uintptr_t)p);
    gm__tls_observing = true;
    gm_alloc_event ev;
    fill_event(&ev, p, s ? block_size(s) : 0, s);
    h->fn(&ev, h->arg);
    gm__tls_observing = false;
}
