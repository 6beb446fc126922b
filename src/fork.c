/*
 * fork(): the child gets one thread, a copy of the heap, and every lock in
 * whatever state other threads left it. So around fork we hold all of them
 * (pthread_atfork, registered once after initialisation), in the lock order
 * of malloc.c ("Locks and ownership"): orphan -> init -> allcaches -> every
 * mcache -> every mcentral -> heap -> persistent. Nothing is then mid-update
 * under a lock; the lock-free fast paths touch only their own thread's
 * spans, which in the child belong to threads that no longer exist.
 *
 * The child then retires those threads' caches, as their exits would have:
 * their spans go to the mcentrals and their counters to the flushed totals,
 * so a long-lived child does not strand memory. A slot a dead thread was
 * handing out at the instant of fork reads as free after the fold, which is
 * right in the child: nobody there holds the pointer.
 */
#include <pthread.h>

#include "mgc.h"

static gm_mutex *const outer_locks[] = {&gm__orphan_lock, &gm__init_lock, &gm__allcaches_lock};

static void each_cache_lock(bool lock) {
    for (gm_mcache *c = gm__allcaches; c; c = c->next_all) {
        if (lock) gm__lock(&c->lock);
        else gm__unlock(&c->lock);
    }
}

static void prepare(void) {
    gm__gc_fork_prepare(); /* the collector's locks come first */
    for (size_t i = 0; i < sizeof outer_locks / sizeof outer_locks[0]; i++)
        gm__lock(outer_locks[i]);
    each_cache_lock(true);
    for (int i = 0; i < GM_NUM_SPANCLASSES; i++) gm__lock(&gm__central[i].lock);
    gm__lock(&gm__heap_lock);
    gm__lock(&gm__persistent_lock);
    gm__mprof_fork_prepare(); /* a leaf lock: last */
}

static void parent(void) {
    gm__mprof_fork_parent();
    gm__unlock(&gm__persistent_lock);
    gm__unlock(&gm__heap_lock);
    for (int i = GM_NUM_SPANCLASSES - 1; i >= 0; i--) gm__unlock(&gm__central[i].lock);
    each_cache_lock(false);
    for (size_t i = sizeof outer_locks / sizeof outer_locks[0]; i-- > 0;)
        gm__unlock(outer_locks[i]);
    gm__gc_fork_parent();
}

static void child(void) {
    /* Waiters recorded in the lock words are threads the child lacks. */
    gm__mprof_fork_child();
    gm__lock_reinit(&gm__persistent_lock);
    gm__lock_reinit(&gm__heap_lock);
    for (int i = 0; i < GM_NUM_SPANCLASSES; i++) gm__lock_reinit(&gm__central[i].lock);
    for (gm_mcache *c = gm__allcaches; c; c = c->next_all) gm__lock_reinit(&c->lock);
    for (size_t i = 0; i < sizeof outer_locks / sizeof outer_locks[0]; i++)
        gm__lock_reinit(outer_locks[i]);

    gm_mcache *next;
    for (gm_mcache *c = gm__allcaches; c; c = next) {
        next = c->next_all;
        if (c != gm__tls_mcache && c != gm__orphan_cache) gm__mcache_retire(c);
    }
    gm__gc_fork_child();
}

void gm__fork_init(void) {
    static int registered;
    if (__atomic_exchange_n(&registered, 1, __ATOMIC_ACQ_REL)) return;
    if (pthread_atfork(prepare, parent, child) != 0)
        gm__fatal("pthread_atfork failed", NULL);
}

/* Initialise (and so register the handlers) while the program is loaded,
 * before it can start threads: a fork while another thread is inside the
 * lazy initialisation, before pthread_atfork, would leave the child with
 * the init lock held. */
static void __attribute__((constructor)) fork_init_at_load(void) { gm__ensure_init(); }
