/*
 * Cross-file declarations of the collector, grouped by defining file. The
 * design is explained at the top of mgc.c; each field says who writes it
 * and under which lock. Never installed.
 */
#ifndef GM_MGC_H
#define GM_MGC_H

#include <pthread.h>
#include <signal.h>

#include "internal.h"

/* Collected span classes: one set of size classes per kind of scanning
 * (GM_GC_CONSERVATIVE, GM_GC_NOSCAN, GM_GC_TYPED), never mixed with malloc
 * spans. */
#define GM_GC_KINDS 3
#define GM_GC_NUM_CLASSES (GM_GC_KINDS * GM_NUM_CLASSES)
static inline int gm__gc_class(int kind, int sizeclass) {
    return (kind - 1) * GM_NUM_CLASSES + sizeclass;
}

#define GM_TINY_SIZE 16       /* Go's maxTinySize */
/* Collected noscan spans of 16-byte blocks hold Go's tiny blocks (several
 * objects each) beside 16-byte objects: gm_free leaves their slots to the
 * collector and accepts a pointer to any byte of a block. */
static inline bool gm__is_tiny_span(const gm_span *s) {
    return GM_LOAD_ACQ(&s->gckind) == GM_GC_NOSCAN && s->elemsize == GM_TINY_SIZE;
}
#define GM_OBLET_BYTES (128 << 10) /* large objects are scanned in oblets */
/* Scan spans of objects up to this size are marked a span at a time
 * (GOMALLOC_GCMARK=span, mgcmark.c); Go 1.26 draws the line at 512 too. */
#define GM_SPANSCAN_MAX 512

/* ---- stoptheworld.c: registered threads --------------------------------- */

/* A registered thread (Go's M, as far as the collector cares). Created by
 * gm_register_thread (or the first gm_new), freed at unregistration.
 * Fields marked [own] are written by the thread itself; [stw] by the
 * thread's suspend path and read by the collector once acknowledged. */
typedef struct gm_gthread gm_gthread;
struct gm_gthread {
    /* Allocation state for collected objects (Go's mcache for them): the
     * thread's current span per collected class. [own] inside a nosuspend
     * region or under the gc lock; the collector reads and resets it with
     * the world stopped (then no thread is inside either). */
    gm_span *alloc[GM_GC_NUM_CLASSES];
    uintptr_t tiny;       /* current 16-byte tiny block, 0 if none [own, as alloc] */
    uintptr_t tinyoffset; /* bytes of it handed out */
    uint64_t tiny_allocs; /* [own, relaxed stores] tiny objects placed in a block
                             already counted (Go's tinyAllocs); read by MemStats */

    int nosuspend;        /* [own] > 0: a stop request is deferred (volatile use) */
    uint32_t pending;     /* stop epoch + 1 deferred by the handler; 0 if none [own] */
    uint32_t ack_epoch;   /* [stw] the stop epoch this thread acknowledged (release) */
    uint32_t blocked;     /* 1 while asleep outside the heap with its context
                             saved (waiting for the gc lock, or parked in a
                             channel): counts as stopped, no signal needed; 2
                             once a stop has claimed it. Set and cleared by
                             the thread, claimed by the collector (SC CAS) */
    int tid;              /* kernel thread id; immutable */
    uintptr_t stack_lo, stack_hi; /* the thread's stack; immutable */
    uintptr_t sp;         /* [stw] stack pointer when suspended */
    uintptr_t regs[18];   /* [stw] general registers when suspended */
    uintptr_t altstack_lo, altstack_hi; /* [stw] sigaltstack in use, if sp is there */
    gm_gthread *next, *prev; /* gm__threads list; threads lock */
};

GM_INTERNAL extern __thread gm_gthread *gm__tls_gthread;
GM_INTERNAL extern gm_mutex gm__threads_lock; /* gm__threads list */
GM_INTERNAL extern gm_gthread *gm__threads;   /* threads lock */
/* The calling thread's record, registering it if needed; NULL on OOM. */
GM_INTERNAL gm_gthread *gm__gthread_get(void);
static inline gm_gthread *gm__gthread(void) {
    gm_gthread *t = gm__tls_gthread;
    return GM_LIKELY(t != NULL) ? t : gm__gthread_get();
}
/* Stop every registered thread but the caller and wait until each has
 * saved its registers; gc lock held. */
GM_INTERNAL void gm__stop_the_world(void);
GM_INTERNAL void gm__start_the_world(void);
/* Leave a nosuspend region: honour a stop request deferred in it. */
GM_INTERNAL void gm__suspend_deferred(gm_gthread *t);
GM_INTERNAL void gm__stw_fork_child(void);
GM_INTERNAL void gm__stw_install(void); /* once, at the first gm_new or gm_gc */
GM_INTERNAL void gm__save_self(void);   /* see stoptheworld.c; before sleeping */
GM_INTERNAL void gm__save_self_at(uintptr_t sp);
/* A thread about to run a cycle itself: its roots are the frames from
 * the caller's up, with every callee-saved register spilled into them
 * (Boehm's GC_with_callee_saves_pushed), and not the collector's frames
 * below, which hold stale words of earlier calls. A macro, so that it
 * runs in the caller's frame; after the cycle lock, whose wait saves
 * from deeper down. */
#if defined(__x86_64__)
#define GM_SP_ASM "mov %%rsp, %0"
#elif defined(__aarch64__)
#define GM_SP_ASM "mov %0, sp"
#endif
#define GM_SAVE_SELF_HERE()                                                    \
    do {                                                                      \
        __builtin_unwind_init();                                              \
        uintptr_t sp_;                                                        \
        __asm__ volatile(GM_SP_ASM : "=r"(sp_));                               \
        gm__save_self_at(sp_ > 128 ? sp_ - 128 : 0);                          \
    } while (0)
GM_INTERNAL void gm__gc_lock_slow(gm_gthread *t, bool save);
/* Around a sleep outside the heap (channels): asleep, the thread counts as
 * stopped, so collections need not signal it; see stoptheworld.c. */
GM_INTERNAL void gm__blocking_begin(void);
GM_INTERNAL void gm__blocking_end(void);
/* The C library's pthread_create, never the preloaded override (which
 * registers threads). */
GM_INTERNAL int gm__sys_pthread_create(pthread_t *th, const pthread_attr_t *attr,
                                       void *(*fn)(void *), void *arg);

static inline void gm__nosuspend_begin(gm_gthread *t) {
    t->nosuspend++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}
static inline void gm__nosuspend_end(gm_gthread *t) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    int left = --t->nosuspend;
    /* pending is read after the decrement is stored: a stop that lands
     * between them finds nosuspend 0 and parks the thread itself. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (left == 0 && GM_UNLIKELY(t->pending)) gm__suspend_deferred(t);
}

/* ---- newobject.c: allocation of collected objects ---------------------- */

/* Per collected class: spans no thread holds. gc lock. */
typedef struct gm_gccentral {
    gm_span unswept;  /* sentinel: need sweeping this cycle (sweepgen h-2) */
    gm_span partial;  /* swept, with free slots */
    gm_span full;     /* swept, no free slot */
} gm_gccentral;

GM_INTERNAL extern gm_gccentral gm__gccentral[GM_GC_NUM_CLASSES];
GM_INTERNAL extern gm_span gm__gclarge;         /* sentinel: large spans, swept; gc lock */
GM_INTERNAL extern gm_span gm__gclarge_unswept; /* sentinel: large spans to sweep; gc lock */
GM_INTERNAL extern gm_span gm__gclarge_freed;   /* sentinel: gm_free'd during marking; gc lock */
/* Give the pages of gm__gclarge_freed back (after mark termination). gc lock. */
GM_INTERNAL void gm__gc_free_deferred(void);
GM_INTERNAL void gm__gc_list_init(gm_span *sentinel);
GM_INTERNAL void gm__gc_list_push(gm_span *sentinel, gm_span *s);
GM_INTERNAL void gm__gc_list_remove(gm_span *s);
GM_INTERNAL void gm__gc_list_splice(gm_span *to, gm_span *from); /* append all of from */
/* A swept span no thread holds: to the partial or full list of its class,
 * by alloc_count. gc lock. */
GM_INTERNAL void gm__gc_list_swept(gm_span *s);
/* Return t's current spans to the central lists (gc lock or stopped world). */
GM_INTERNAL void gm__gthread_release_spans(gm_gthread *t);
GM_INTERNAL void gm__gc_free(gm_span *s, void *p); /* gm_free of a collected object start */
GM_INTERNAL void gm__newobject_init(void);
/* Add the mallocs in spans threads hold now to nmalloc, and their tiny
 * allocations to *tiny. gc lock. */
GM_INTERNAL void gm__gthread_count_cached(uint64_t nmalloc[GM_GC_NUM_CLASSES], uint64_t *tiny);

/* ---- mgc.c: the cycle, pacing, statistics ------------------------------ */

/* Collector state. [gc] = gc lock; [atomic] = read anywhere, written with
 * atomics. */
typedef struct gm_gcstate {
    uint32_t sweepgen;     /* [gc, atomic reads] h: += 2 per cycle (see mgcsweep.c) */
    uint32_t cycle;        /* [gc, atomic reads] completed cycles */
    uint64_t heap_live;    /* [atomic] collected bytes allocated or live as far as known:
                              marked at the last cycle + spans handed out since */
    uint64_t heap_marked;  /* [gc] bytes marked by the last cycle */
    uint64_t heap_goal;    /* [gc, atomic reads] */
    uint64_t trigger;      /* [gc, atomic reads] heap_live that starts a cycle */
    int gc_percent;        /* [gc, atomic reads] GOGC; < 0 = off */
    int64_t memory_limit;  /* [gc, atomic reads] GOMEMLIMIT */
    bool enabled;          /* [atomic] set by the first gm_new or gm_gc, which
                              install the stop signal's handler */
    bool concurrent;       /* [gc, atomic reads] cycles mark while the program runs:
                              GOMALLOC_GCMODE and a dirty-page mechanism */
    uint32_t marking;      /* [atomic; written with the world stopped] 1 between the
                              two pauses of a concurrent cycle: allocate black */
    uint32_t dirty_lost;   /* [atomic] a heap range could not be tracked: the next
                              mark termination rescans the whole heap, and cycles
                              stop the world from then on */
    double cons_mark[4];   /* [gc] Go's cons/mark of the last four concurrent marks:
                              bytes allocated per byte scanned, at equal CPU */
    /* MemStats: [gc] */
    uint64_t nmalloc[GM_GC_NUM_CLASSES], nfree[GM_GC_NUM_CLASSES];
    uint64_t nrefill[GM_GC_NUM_CLASSES]; /* threads' span refills (cache misses) */
    uint64_t tiny_allocs;  /* of unregistered threads (see gm_gthread) */
    /* (large objects are counted by the heap, as malloc's are) */
    uint64_t pause_ns[256], pause_end[256], pause_total_ns, last_gc;
    uint32_t num_forced_gc;
    uint64_t gc_cpu_ns;    /* CPU time spent by the collector */
    uint64_t start_ns;     /* monotonic time the allocator started (gctrace's @, and
                              gc_cpu_fraction's denominator) */
    uint64_t globals_bytes, stacks_bytes; /* scanned by the last cycle */
} gm_gcstate;

GM_INTERNAL extern gm_gcstate gm__gc;
GM_INTERNAL extern gm_mutex gm__gc_lock;
/* How mutators take the gc lock: a registered thread that has to wait for
 * it (a cycle may hold it for a while) saves its context and counts as
 * stopped, so the collector need not signal it. That also keeps a thread
 * whose signal handler, with GOMALLOC_SIGNAL blocked, calls gm_new from
 * deadlocking. save = false where the caller has saved its context at a
 * cycle's entry already. */
static inline void gm__gc_lock_acquire(bool save) {
    gm_gthread *t = gm__tls_gthread;
    int expected = 0;
    if (!t) gm__lock_park(&gm__gc_lock); /* a helper thread: never stopped */
    else if (!__atomic_compare_exchange_n(&gm__gc_lock.state, &expected, 1, false,
                                          __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        gm__gc_lock_slow(t, save);
}
/* A thread took bytes during marking: mark in proportion (mgcmark.c). */
GM_INTERNAL void gm__gc_assist(uint64_t bytes);
/* Start a cycle if heap_live has reached the trigger. No lock held. */
GM_INTERNAL void gm__gc_maybe_start(void);
static inline void gm__gc_add_live(uint64_t bytes) {
    uint64_t live = __atomic_add_fetch(&gm__gc.heap_live, bytes, __ATOMIC_RELAXED);
    if (GM_UNLIKELY(GM_LOAD(&gm__gc.marking))) gm__gc_assist(bytes);
    if (GM_UNLIKELY(live >= GM_LOAD(&gm__gc.trigger))) gm__gc_maybe_start();
}
GM_INTERNAL void gm__gc_enable(void);
GM_INTERNAL void gm__gc_init(void); /* from gm__init_slow */
/* Add the collected objects' counts and the GC fields to m. */
GM_INTERNAL void gm__gc_read_memstats(gm_memstats *m);
/* The last full collection before reporting out of memory. */
GM_INTERNAL void gm__gc_oom(void);
GM_INTERNAL void gm__gc_fork_child(void);
GM_INTERNAL void gm__gc_fork_prepare(void);
GM_INTERNAL void gm__gc_fork_parent(void);
GM_INTERNAL uint64_t gm__nanotime(void);

/* ---- mgcmark.c ---------------------------------------------------------- */

typedef struct gm_markstats {
    uint64_t marked_bytes;  /* bytes of objects marked */
    uint64_t stacks_bytes, globals_bytes; /* roots scanned (at the last pause) */
    uint64_t cpu_ns_workers; /* CPU of the helper markers */
    uint64_t cpu_ns_bg;     /* CPU of the collector while the program ran */
    uint64_t cpu_ns_assist; /* CPU of the mutators' assists */
    uint64_t dirty_pages;   /* written pages rescanned, rounds and termination */
    uint64_t term_pages;    /* of which at mark termination */
    uint64_t black_bytes;   /* allocated black during marking */
    uint32_t rounds;        /* concurrent rescan rounds */
    uint64_t stop_ns;       /* when the world was last stopped (gm__nanotime) */
    uint64_t pause_ns;      /* concurrent: the first pause, stop to restart */
} gm_markstats;
/* Mark from every root with the world stopped; gc lock held. */
GM_INTERNAL void gm__gc_mark(gm_markstats *ms);
/* Concurrent marking (see mgcmark.c), in this order. begin: arm the dirty
 * tracking, stop the world, take the threads' spans, scan the roots,
 * restart (gc lock held); scan_expected and runway set the assists' pace.
 * background: mark while the program runs (no lock held). end: stop the
 * world and finish marking; the world stays stopped (gc lock held). */
GM_INTERNAL void gm__gc_mark_begin(gm_markstats *ms, uint64_t scan_expected, uint64_t runway);
GM_INTERNAL void gm__gc_mark_background(gm_markstats *ms);
GM_INTERNAL void gm__gc_mark_end(gm_markstats *ms);
/* The share of the CPUs the background markers take (Go's 25% goal
 * utilization; here a whole marker thread of P). */
GM_INTERNAL double gm__gc_bg_utilization(void);
/* Allocate black: s goes to a thread during marking (gc lock). */
GM_INTERNAL void gm__gc_mark_free_slots(gm_span *s);
GM_INTERNAL void gm__gc_mark_large_black(gm_span *s);

/* Mark obj (a collected object start) and what it points to, without
 * treating it as a root itself: for finalizer resurrection. */
GM_INTERNAL void gm__gc_mark_object(void *obj, gm_markstats *ms);
GM_INTERNAL bool gm__gc_is_marked(gm_span *s, uintptr_t obj);
GM_INTERNAL void gm__gc_markers_fork_child(void);

/* Slot idx of small collected span s holds an object: allocated as of the
 * last sweep or since, and not freed by gm_free. Any thread (relaxed). */
static inline bool gm__slot_live(const gm_span *s, uint32_t idx) {
    uint64_t bit = (uint64_t)1 << (idx % 64);
    return (idx < GM_LOAD(&s->freeindex) || (GM_LOAD(&s->alloc_bits[idx / 64]) & bit)) &&
           !(GM_LOAD(&s->remote_free[idx / 64]) & bit);
}

/* Go's findObject: the object holding address a, its span and slot; 0 if
 * a is not inside an allocated collected object. A few loads, no lock. */
static inline uintptr_t gm__find_object(uintptr_t a, gm_span **sp, uint32_t *slot) {
    uintptr_t lo = GM_LOAD(&gm__heap_bounds.lo);
    if (a - lo >= GM_LOAD(&gm__heap_bounds.hi) - lo) return 0;
    gm_span *s = gm__span_of(a);
    if (!s || !GM_LOAD_ACQ(&s->gckind)) return 0;
    uint32_t idx = 0;
    if (s->spanclass >= 2) {
        if (a >= s->limit) return 0;
        idx = gm__span_slot(s, a);
        if (!gm__slot_live(s, idx)) return 0;
    } else if (a - s->base >= s->largesize || GM_LOAD(&s->state) != GM_SPAN_LARGE) {
        return 0;
    }
    *sp = s;
    *slot = idx;
    return s->base + (uintptr_t)idx * s->elemsize;
}

/* ---- mgcroots.c --------------------------------------------------------- */

/* Read the writable segments of the loaded objects (loader lock held). */
GM_INTERNAL void gm__roots_read_segments(void);
/* Every root range to scan: stacks, registers, segments, finalizer roots;
 * sets ms->stacks_bytes and ms->globals_bytes (the pacer's). World stopped. */
GM_INTERNAL void gm__roots_scan(void (*scan)(uintptr_t lo, uintptr_t hi, void *ctx), void *ctx,
                                gm_markstats *ms);
/* A full table of the collector's, twice as big, from mmap (never malloc:
 * the world may be stopped with a thread inside it); fatal (what) if none. */
GM_INTERNAL void *gm__grow_table(void *old, size_t used, size_t *cap, size_t elem, size_t first,
                                 const char *what);

/* ---- mgcsweep.c --------------------------------------------------------- */

/* Sweep s (taken off its list by the caller): mark bits become alloc bits.
 * Returns false if it was empty and went back to the heap. gc lock. */
GM_INTERNAL bool gm__sweep_span(gm_span *s);
/* Sweep one unswept span of class gcs and return it if it has free slots
 * (it stays unlisted), else list it and try the next; NULL if none. gc lock. */
GM_INTERNAL gm_span *gm__sweep_for_alloc(int gcs);
/* Sweep everything left (before marking, and for gm_gc). gc lock. */
GM_INTERNAL void gm__sweep_finish(void);
/* The same in batches that let allocating threads in; takes the gc lock
 * and returns with it held. */
GM_INTERNAL void gm__sweep_finish_yielding(void);
/* After mark termination: every span needs sweeping. World stopped. */
GM_INTERNAL void gm__sweep_flip(void);
GM_INTERNAL void gm__sweeper_wake(void);
GM_INTERNAL void gm__sweeper_fork_child(void);

/* ---- mfinal.c: finalizers, uncollectable objects, roots ---------------- */

/* Roots and specials are read by the marker with the world stopped. */
GM_INTERNAL void gm__final_mark_roots(void (*scan)(uintptr_t lo, uintptr_t hi, void *ctx),
                                      void *ctx);
/* After marking: queue the finalizers of unmarked objects and mark them
 * (they live one more cycle). Returns how many were queued. gc lock. */
GM_INTERNAL size_t gm__final_queue_unreachable(gm_markstats *ms);
GM_INTERNAL void gm__final_wake(void);
/* Drop obj's special (finalizer or uncollectable) on gm_free. gc lock. */
GM_INTERNAL void gm__final_forget(uintptr_t obj);
GM_INTERNAL void gm__final_add_uncollectable(void *p);
GM_INTERNAL bool gm__final_is_uncollectable(uintptr_t obj);
GM_INTERNAL void gm__final_fork_child(void);

/* ---- pool.c: sync.Pool ---------------------------------------------------- */

/* Go's poolCleanup: every pool's victim is dropped and its contents become
 * the victim. World stopped, gc lock held. */
GM_INTERNAL void gm__pool_cleanup(void);

/* ---- signals and threads: helper threads of the collector ------------- */

/* Create a detached helper thread that is never registered nor stopped
 * (sweeper, finalizer runner, markers). Returns false on failure. */
GM_INTERNAL bool gm__start_helper(void *(*fn)(void *), void *arg);
/* Online cores, read once (as Go reads ncpu): the CPU accounting's P. */
GM_INTERNAL unsigned gm__nprocs(void);
GM_INTERNAL void gm__futex_wait(uint32_t *addr, uint32_t val, uint64_t timeout_ns);
GM_INTERNAL void gm__futex_wake(uint32_t *addr);

#endif /* GM_MGC_H */
