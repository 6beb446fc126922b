/*
 * Finalizers, uncollectable objects and registered roots (Go's mfinal.go
 * and the finalizer specials of mheap.go). See mgc.c for the overview.
 *
 * Specials. Go hangs them off each span, sorted by offset; we keep one
 * open-addressing table keyed by object address, which the marker walks
 * in full once per cycle. Kinds:
 *   FINALIZER      fn(obj, arg) runs once obj is unreachable. The marker
 *                  scans what obj points to, not obj itself, so in a chain
 *                  A -> B only A is found unreachable first; B's finalizer
 *                  runs in a later cycle, after A has been freed.
 *   UNCOLLECTABLE  gm_malloc_uncollectable: obj is a root (marked and
 *                  scanned every cycle) until gm_free.
 * The finalizer queue (finq) holds finalizers whose objects were found
 * unreachable; those objects and their args are roots until their
 * finalizer has returned, so they live one more cycle at least. One
 * finalizer thread runs them in queue order, one at a time.
 *
 * Everything here is under the gc lock; the marker reads it with the world
 * stopped while the collector holds that lock. Tables are mmap'd (never
 * malloc'd: they must not live in a heap they describe) and counted in
 * gc_sys.
 */
#include <string.h>

#include "mgc.h"

enum { SPECIAL_FINALIZER = 1, SPECIAL_UNCOLLECTABLE = 2 };
#define TOMBSTONE ((uintptr_t)1)

typedef struct special {
    uintptr_t obj;     /* 0: empty slot, TOMBSTONE: deleted */
    gm_finalizer fn;
    void *arg;
    uintptr_t kind;
} special;

typedef struct finq_entry {
    uintptr_t obj;
    gm_finalizer fn;
    void *arg;
} finq_entry;

static special *specials;     /* gc lock */
static size_t specials_cap;   /* power of two */
static size_t specials_used;  /* live + tombstones */
static uint32_t nspecials; /* live */

static finq_entry *finq;      /* ring of queued finalizers; gc lock */
static size_t finq_cap, finq_head, finq_len;
static finq_entry fin_running; /* being run by the finalizer thread: still a root */

typedef struct root_range { uintptr_t lo, hi; } root_range;
static root_range *roots;     /* gc lock */
static size_t nroots, roots_cap;

static uint32_t fin_wake_word; /* futex word: bumped when finq gains entries */
static bool fin_started;       /* gc lock */

/* A zeroed table of n elements of the given size; fatal on OOM (the
 * collector's own metadata cannot be left half-updated). */
static void *table_alloc(size_t n, size_t size) {
    void *p = gm__sys_alloc(n * size);
    if (!p) gm__fatal("out of memory for the collector's tables", NULL);
    GM_ADD(&gm__heapstats.gc_sys, n * size);
    return p;
}

static void table_free(void *p, size_t n, size_t size) {
    if (!p) return;
    gm__sys_free(p, n * size);
    __atomic_sub_fetch(&gm__heapstats.gc_sys, n * size, __ATOMIC_RELAXED);
}

/* ---- the specials table ---------------------------------------------------- */

static size_t hash(uintptr_t obj) { return (size_t)((obj >> 4) * 0x9E3779B97F4A7C15ull >> 20); }

/* The slot of obj, or NULL. */
static special *special_find(uintptr_t obj) {
    if (!specials) return NULL;
    for (size_t i = hash(obj);; i++) {
        special *sp = &specials[i & (specials_cap - 1)];
        if (sp->obj == obj) return sp;
        if (sp->obj == 0) return NULL;
    }
}

static void special_insert_nogrow(special v) {
    for (size_t i = hash(v.obj);; i++) {
        special *sp = &specials[i & (specials_cap - 1)];
        if (sp->obj == 0 || sp->obj == TOMBSTONE) {
            if (sp->obj == 0) specials_used++;
            *sp = v;
            nspecials++;
            return;
        }
    }
}

static void specials_grow(void) {
    special *old = specials;
    size_t oldcap = specials_cap;
    specials_cap = 1024;
    while (specials_cap < (size_t)nspecials * 4) specials_cap *= 2;
    specials = table_alloc(specials_cap, sizeof *specials);
    specials_used = 0;
    nspecials = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].obj > TOMBSTONE) special_insert_nogrow(old[i]);
    table_free(old, oldcap, sizeof *old);
}

static void special_set(uintptr_t obj, gm_finalizer fn, void *arg, uintptr_t kind) {
    special *sp = special_find(obj);
    if (sp) {
        sp->fn = fn;
        sp->arg = arg;
        sp->kind = kind;
        return;
    }
    if ((specials_used + 1) * 2 > specials_cap) specials_grow();
    special_insert_nogrow((special){obj, fn, arg, kind});
}

static void special_delete(special *sp) {
    sp->obj = TOMBSTONE;
    sp->fn = NULL;
    sp->arg = NULL;
    nspecials--;
}

void gm__final_forget(uintptr_t obj) {
    special *sp = special_find(obj);
    if (sp) special_delete(sp);
}

void gm__final_add_uncollectable(void *p) {
    gm__gc_lock_acquire(true);
    special_set((uintptr_t)p, NULL, NULL, SPECIAL_UNCOLLECTABLE);
    gm__unlock(&gm__gc_lock);
}

bool gm__final_is_uncollectable(uintptr_t obj) {
    gm__gc_lock_acquire(true);
    special *sp = special_find(obj);
    bool u = sp && sp->kind == SPECIAL_UNCOLLECTABLE;
    gm__unlock(&gm__gc_lock);
    return u;
}

void gm_set_finalizer(void *obj, gm_finalizer fn, void *arg) {
    gm_span *s;
    uint32_t idx;
    uintptr_t o = gm__find_object((uintptr_t)obj, &s, &idx);
    if (!o || o != (uintptr_t)obj)
        gm__fatal("gm_set_finalizer: pointer is not the start of a collected object", obj);
    gm__gc_lock_acquire(true);
    special *sp = special_find(o);
    if (sp && sp->kind == SPECIAL_UNCOLLECTABLE) {
        gm__unlock(&gm__gc_lock);
        gm__fatal("gm_set_finalizer: object is uncollectable", obj);
    }
    if (fn) special_set(o, fn, arg, SPECIAL_FINALIZER);
    else if (sp) special_delete(sp);
    gm__unlock(&gm__gc_lock);
}

void gm_keep_alive(const void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

/* ---- registered roots ------------------------------------------------------- */

void gm_add_roots(void *lo, void *hi) {
    if ((uintptr_t)hi <= (uintptr_t)lo) return;
    gm__ensure_init();
    gm__gc_lock_acquire(true);
    if (nroots == roots_cap) {
        size_t ncap = roots_cap ? roots_cap * 2 : 64;
        root_range *n = table_alloc(ncap, sizeof *n);
        if (roots) memcpy(n, roots, nroots * sizeof *n);
        table_free(roots, roots_cap, sizeof *roots);
        roots = n;
        roots_cap = ncap;
    }
    roots[nroots++] = (root_range){(uintptr_t)lo, (uintptr_t)hi};
    gm__unlock(&gm__gc_lock);
}

void gm_remove_roots(void *lo, void *hi) {
    gm__gc_lock_acquire(true);
    size_t k = 0;
    for (size_t i = 0; i < nroots; i++)
        if (roots[i].lo < (uintptr_t)lo || roots[i].hi > (uintptr_t)hi) roots[k++] = roots[i];
    nroots = k;
    gm__unlock(&gm__gc_lock);
}

/* ---- marking and queueing ----------------------------------------------------- */

static size_t object_bytes(gm_span *s) { return s->spanclass < 2 ? s->largesize : s->elemsize; }

void gm__final_mark_roots(void (*scan)(uintptr_t lo, uintptr_t hi, void *ctx), void *ctx) {
    for (size_t i = 0; i < nroots; i++) scan(roots[i].lo, roots[i].hi, ctx);
    for (size_t i = 0; i < specials_cap; i++) {
        special *sp = &specials[i];
        if (sp->obj <= TOMBSTONE) continue;
        if (sp->kind == SPECIAL_UNCOLLECTABLE) {
            scan((uintptr_t)&sp->obj, (uintptr_t)(&sp->obj + 1), ctx); /* the object itself */
            continue;
        }
        /* A finalizer: what the object points to, and arg; not the object. */
        scan((uintptr_t)&sp->arg, (uintptr_t)(&sp->arg + 1), ctx);
        gm_span *s = gm__span_of(sp->obj);
        if (s && s->gckind != GM_GC_NOSCAN) scan(sp->obj, sp->obj + object_bytes(s), ctx);
    }
    for (size_t i = 0; i < finq_len; i++) {
        finq_entry *e = &finq[(finq_head + i) % finq_cap];
        scan((uintptr_t)e, (uintptr_t)(e + 1), ctx);
    }
    scan((uintptr_t)&fin_running, (uintptr_t)(&fin_running + 1), ctx);
}

static void finq_push(finq_entry e) {
    if (finq_len == finq_cap) {
        size_t ncap = finq_cap ? finq_cap * 2 : 256; /* 4 KiB + */
        finq_entry *n = table_alloc(ncap, sizeof *n);
        for (size_t i = 0; i < finq_len; i++) n[i] = finq[(finq_head + i) % finq_cap];
        table_free(finq, finq_cap, sizeof *finq);
        finq = n;
        finq_cap = ncap;
        finq_head = 0;
    }
    finq[(finq_head + finq_len++) % finq_cap] = e;
}

size_t gm__final_queue_unreachable(gm_markstats *ms) {
    size_t n = 0;
    for (size_t i = 0; i < specials_cap; i++) {
        special *sp = &specials[i];
        if (sp->obj <= TOMBSTONE || sp->kind != SPECIAL_FINALIZER) continue;
        gm_span *s = gm__span_of(sp->obj);
        if (gm__gc_is_marked(s, sp->obj)) continue;
        finq_push((finq_entry){sp->obj, sp->fn, sp->arg});
        special_delete(sp);
        n++;
    }
    /* Resurrect them (and what they reach) until their finalizers ran. */
    for (size_t i = finq_len - n; i < finq_len; i++)
        gm__gc_mark_object((void *)finq[(finq_head + i) % finq_cap].obj, ms);
    return n;
}

/* ---- the finalizer thread ------------------------------------------------------- */

static void *run_finalizers(void *arg) {
    (void)arg;
    uint32_t seen = 0;
    for (;;) {
        gm__gc_lock_acquire(true);
        while (finq_len) {
            fin_running = finq[finq_head];
            finq_head = (finq_head + 1) % finq_cap;
            finq_len--;
            gm__unlock(&gm__gc_lock);
            fin_running.fn((void *)fin_running.obj, fin_running.arg);
            /* A finalizer that allocated registered this thread: unregister
             * it, so that idle it is never waited for by a stop. */
            if (gm__tls_gthread) gm_unregister_thread();
            gm__gc_lock_acquire(true);
            fin_running = (finq_entry){0, NULL, NULL};
        }
        seen = GM_LOAD_ACQ(&fin_wake_word);
        gm__unlock(&gm__gc_lock);
        gm__futex_wait(&fin_wake_word, seen, 0);
    }
    return NULL;
}

/* gc lock. */
void gm__final_wake(void) {
    if (!finq_len) return;
    if (!fin_started) fin_started = gm__start_helper(run_finalizers, NULL);
    __atomic_add_fetch(&fin_wake_word, 1, __ATOMIC_RELEASE);
    gm__futex_wake(&fin_wake_word);
}

void gm__final_fork_child(void) { fin_started = false; }
