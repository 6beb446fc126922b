/*
 * Go's sync.Pool (sync/pool.go, sync/poolqueue.go). See mgc.c for the
 * collector, include/gomalloc/pool.h for the behaviour.
 *
 * Layout. A pool (uncollectable, so a root) points to two arrays of
 * per-thread locals, `local` and `victim` (collected, scanned
 * conservatively); a thread's slot in them is its pool index (tid, below),
 * Go's P id. A local has a private slot and a shared chain: a list of
 * lock-free single-producer multi-consumer ring buffers (pool_dequeue) of
 * 8, 16, 32, ... slots. The owner pushes and pops at the head; other
 * threads steal from the tail. Everything a pool holds is reachable from
 * it, so pooled objects live as long as the pool keeps them.
 *
 * Cleanup (Go's poolCleanup): at the start of every cycle, with the world
 * stopped and the gc lock held, each pool's victim is dropped and local
 * becomes the victim; a new local array is made on next use. A thread
 * stopped in the middle of a Get or Put carries on in what is now the
 * victim (the ring operations are atomic, so that is safe; its pointer on
 * its stack keeps that array alive).
 *
 * Invariants:
 *   - only the thread with index tid writes locals->l[tid], l->private and
 *     the head end of l->shared (plain or relaxed stores, read by stealers
 *     with acquire loads where they publish);
 *   - a ring slot is NULL when free; head_tail packs head (high 32 bits)
 *     and tail (low 32): the owner moves head, stealers move tail by CAS;
 *   - the pools list is under the gc lock.
 */
#include <errno.h>
#include <pthread.h>

#include "gomalloc/pool.h"
#include "mgc.h"

enum { POOL_MAX_THREADS = 1024, RING_FIRST = 8, RING_MAX = 1 << 20 };

typedef struct pool_dequeue pool_dequeue;
struct pool_dequeue {
    uint64_t head_tail;        /* atomic: head << 32 | tail */
    uint32_t n;                /* slots, a power of two; immutable */
    pool_dequeue *next, *prev; /* newer / older ring of the chain; atomic */
    void *vals[];              /* atomic; NULL = free */
};

typedef struct pool_chain {
    pool_dequeue *head; /* owner only: the newest ring */
    pool_dequeue *tail; /* atomic: the oldest ring, where stealers start */
} pool_chain;

typedef struct pool_local {
    void *private; /* atomic; owner only but for victim reads */
    pool_chain shared;
    char pad[128 - 3 * sizeof(void *)]; /* Go pads to 128 B against false sharing */
} pool_local;

typedef struct pool_locals {
    pool_local *l[POOL_MAX_THREADS]; /* atomic; written by the owner of the index */
} pool_locals;

struct gm_pool {
    void *(*new_fn)(void *);
    void *arg;
    pool_locals *local;  /* atomic; NULL until used since the last cleanup */
    pool_locals *victim; /* atomic; what the last cycle moved here */
    gm_pool *next, *prev; /* gc lock */
};

static gm_pool pools = {.next = &pools, .prev = &pools}; /* gc lock */

/* ---- thread indexes -------------------------------------------------------- */

static gm_mutex tid_lock = GM_MUTEX_INIT;
static uint64_t tid_used[POOL_MAX_THREADS / 64]; /* tid_lock */
static uint32_t tid_limit;                       /* atomic: highest index in use + 1 */
static __thread int my_tid = -1;                 /* -2: none free */
static pthread_key_t tid_key;
static pthread_once_t tid_once = PTHREAD_ONCE_INIT;

static void tid_release(void *v) {
    int t = (int)(intptr_t)v - 1;
    gm__lock(&tid_lock);
    tid_used[t / 64] &= ~((uint64_t)1 << (t % 64));
    gm__unlock(&tid_lock);
}

static void tid_key_init(void) { pthread_key_create(&tid_key, tid_release); }

static GM_NOINLINE int tid_acquire(void) {
    pthread_once(&tid_once, tid_key_init);
    int t = -2;
    gm__lock(&tid_lock);
    for (int w = 0; w < POOL_MAX_THREADS / 64 && t < 0; w++)
        if (~tid_used[w]) {
            t = w * 64 + __builtin_ctzll(~tid_used[w]);
            tid_used[w] |= (uint64_t)1 << (t % 64);
        }
    if (t >= 0 && (uint32_t)t >= GM_LOAD(&tid_limit)) GM_STORE(&tid_limit, (uint32_t)t + 1);
    gm__unlock(&tid_lock);
    if (t >= 0) pthread_setspecific(tid_key, (void *)(intptr_t)(t + 1));
    return my_tid = t;
}

static inline int tid(void) {
    int t = my_tid;
    return GM_LIKELY(t != -1) ? t : tid_acquire();
}

/* ---- one ring (Go's poolDequeue) -------------------------------------------- */

static pool_dequeue *ring_new(uint32_t n) {
    pool_dequeue *d = gm_new(sizeof *d + (size_t)n * sizeof(void *));
    if (d) d->n = n;
    return d;
}

static inline uint64_t pack(uint32_t head, uint32_t tail) {
    return (uint64_t)head << 32 | tail;
}

/* Owner only. False if full (or the slot a stealer took is not cleared yet). */
static bool ring_push_head(pool_dequeue *d, void *x) {
    uint64_t ht = GM_LOAD_ACQ(&d->head_tail);
    uint32_t head = (uint32_t)(ht >> 32), tail = (uint32_t)ht;
    if (tail + d->n == head) return false;
    void **slot = &d->vals[head & (d->n - 1)];
    if (GM_LOAD_ACQ(slot) != NULL) return false;
    GM_STORE(slot, x);
    /* Publishes the value to the stealer whose CAS reads the new head. */
    __atomic_add_fetch(&d->head_tail, (uint64_t)1 << 32, __ATOMIC_RELEASE);
    return true;
}

/* Owner only. */
static void *ring_pop_head(pool_dequeue *d) {
    for (;;) {
        uint64_t ht = GM_LOAD_ACQ(&d->head_tail);
        uint32_t head = (uint32_t)(ht >> 32), tail = (uint32_t)ht;
        if (head == tail) return NULL;
        head--;
        if (__atomic_compare_exchange_n(&d->head_tail, &ht, pack(head, tail), false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            void **slot = &d->vals[head & (d->n - 1)];
            void *x = GM_LOAD(slot);
            GM_STORE(slot, NULL);
            return x;
        }
    }
}

/* Any thread. */
static void *ring_pop_tail(pool_dequeue *d) {
    for (;;) {
        uint64_t ht = GM_LOAD_ACQ(&d->head_tail);
        uint32_t head = (uint32_t)(ht >> 32), tail = (uint32_t)ht;
        if (head == tail) return NULL;
        if (__atomic_compare_exchange_n(&d->head_tail, &ht, pack(head, tail + 1), false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            void **slot = &d->vals[tail & (d->n - 1)];
            void *x = GM_LOAD(slot);
            GM_STORE_REL(slot, NULL); /* the slot is the owner's again */
            return x;
        }
    }
}

/* ---- the chain of rings (Go's poolChain) ------------------------------------ */

static void chain_push_head(pool_chain *c, void *x) {
    pool_dequeue *d = c->head;
    if (!d) {
        if (!(d = ring_new(RING_FIRST))) return; /* x is left to the collector */
        c->head = d;
        GM_STORE_REL(&c->tail, d);
    }
    if (ring_push_head(d, x)) return;
    pool_dequeue *d2 = ring_new(d->n < RING_MAX ? d->n * 2 : RING_MAX);
    if (!d2) return;
    d2->prev = d;
    GM_STORE_REL(&d->next, d2);
    c->head = d2;
    ring_push_head(d2, x);
}

static void *chain_pop_head(pool_chain *c) {
    for (pool_dequeue *d = c->head; d; d = GM_LOAD_ACQ(&d->prev)) {
        void *x = ring_pop_head(d);
        if (x) return x;
    }
    return NULL;
}

static void *chain_pop_tail(pool_chain *c) {
    pool_dequeue *d = GM_LOAD_ACQ(&c->tail);
    while (d) {
        /* Read next first: if d is empty and had no successor then, the
         * chain was empty at that moment. */
        pool_dequeue *d2 = GM_LOAD_ACQ(&d->next);
        void *x = ring_pop_tail(d);
        if (x) return x;
        if (!d2) return NULL;
        /* d is empty and older than d2, which the owner pushes to: drop it. */
        if (__atomic_compare_exchange_n(&c->tail, &d, d2, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            GM_STORE_REL(&d2->prev, NULL);
        d = GM_LOAD_ACQ(&c->tail);
    }
    return NULL;
}

/* ---- Get and Put ------------------------------------------------------------- */

static pool_locals *locals_of(gm_pool *p) {
    pool_locals *l = GM_LOAD_ACQ(&p->local);
    if (GM_LIKELY(l != NULL)) return l;
    pool_locals *n = gm_new(sizeof *n);
    if (!n) return NULL;
    if (!__atomic_compare_exchange_n(&p->local, &l, n, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return l; /* another thread made it first; n is garbage */
    return n;
}

/* The calling thread's local in p's current array (Go's pin), made on
 * first use; NULL if the thread has no index or memory ran out. */
static pool_local *pin(gm_pool *p, int t) {
    if (t < 0) return NULL;
    pool_locals *ls = locals_of(p);
    if (!ls) return NULL;
    pool_local *l = GM_LOAD_ACQ(&ls->l[t]);
    if (GM_UNLIKELY(!l)) {
        if (!(l = gm_new(sizeof *l))) return NULL;
        GM_STORE_REL(&ls->l[t], l);
    }
    return l;
}

/* Steal from the other threads' chains of ls, starting after t. */
static void *steal(pool_locals *ls, int t) {
    uint32_t n = GM_LOAD(&tid_limit);
    for (uint32_t i = 1; i <= n; i++) {
        pool_local *l = GM_LOAD_ACQ(&ls->l[((uint32_t)t + i) % n]);
        void *x = l ? chain_pop_tail(&l->shared) : NULL;
        if (x) return x;
    }
    return NULL;
}

static void *get_slow(gm_pool *p, int t) {
    pool_locals *ls = GM_LOAD_ACQ(&p->local);
    void *x = ls ? steal(ls, t < 0 ? 0 : t) : NULL;
    if (x) return x;
    pool_locals *v = GM_LOAD_ACQ(&p->victim);
    if (!v) return NULL;
    if (t >= 0) {
        pool_local *mine = GM_LOAD_ACQ(&v->l[t]);
        if (mine && (x = __atomic_exchange_n(&mine->private, NULL, __ATOMIC_ACQ_REL)))
            return x;
    }
    if ((x = steal(v, t < 0 ? 0 : t - 1))) return x;
    /* The victim is empty: later Gets need not look (Go's victimSize = 0). */
    __atomic_compare_exchange_n(&p->victim, &v, NULL, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return NULL;
}

void *gm_pool_get(gm_pool *p) {
    if (!gm__gthread()) return NULL; /* registered: what we hold is a root */
    int t = tid();
    pool_local *l = pin(p, t);
    void *x = NULL;
    if (l) {
        x = __atomic_exchange_n(&l->private, NULL, __ATOMIC_ACQ_REL);
        if (!x) x = chain_pop_head(&l->shared);
    }
    if (!x) x = get_slow(p, t);
    if (!x && p->new_fn) x = p->new_fn(p->arg);
    return x;
}

void gm_pool_put(gm_pool *p, void *x) {
    if (!x || !gm__gthread()) return;
    pool_local *l = pin(p, tid());
    if (!l) return;
    void *none = NULL;
    if (!__atomic_compare_exchange_n(&l->private, &none, x, false, __ATOMIC_RELEASE,
                                     __ATOMIC_RELAXED))
        chain_push_head(&l->shared, x);
}

/* ---- lifetime and the collector --------------------------------------------- */

gm_pool *gm_pool_new(void *(*new_fn)(void *), void *arg) {
    gm_pool *p = gm_malloc_uncollectable(sizeof *p);
    if (!p) return NULL;
    p->new_fn = new_fn;
    p->arg = arg;
    gm__gc_lock_acquire(true);
    p->next = pools.next;
    p->prev = &pools;
    pools.next->prev = p;
    pools.next = p;
    gm__unlock(&gm__gc_lock);
    return p;
}

void gm_pool_free(gm_pool *p) {
    if (!p) return;
    gm__gc_lock_acquire(true);
    p->prev->next = p->next;
    p->next->prev = p->prev;
    gm__unlock(&gm__gc_lock);
    gm_free(p);
}

void gm__pool_cleanup(void) {
    for (gm_pool *p = pools.next; p != &pools; p = p->next) {
        GM_STORE_REL(&p->victim, GM_LOAD(&p->local));
        GM_STORE_REL(&p->local, NULL);
    }
}
