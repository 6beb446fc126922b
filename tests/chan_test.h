/*
 * Helpers shared by the channel and select tests (tests/unit/chan*.c,
 * select*.c, tests/gc/chan_gc.c, tests/stress/chan_stress.c): the
 * collector tests' helpers (sanitizer detection, clocks, sleeps, hidden
 * pointers) and a look at a channel's wait queues.
 */
#ifndef GM_CHAN_TEST_H
#define GM_CHAN_TEST_H

#include "gc/gc_test.h"
#include "gomalloc/chan.h"
#include "../src/chan.h" /* the layout: waiters, buffer */

/* Threads waiting in c's send (or receive) queue. */
__attribute__((unused)) static size_t queued(gm_chan *c, bool senders) {
    gm__chan_lock(c);
    size_t n = 0;
    for (gm_sudog *s = senders ? c->sendq.first : c->recvq.first; s; s = s->next) n++;
    gm__unlock(&c->lock);
    return n;
}

/* Wait, at most `seconds`, until n threads wait in c's queue. */
__attribute__((unused)) static bool wait_queued(gm_chan *c, bool senders, size_t n,
                                                double seconds) {
    double end = gc_now() + seconds;
    while (queued(c, senders) != n) {
        if (gc_now() > end) return false;
        sched_yield();
    }
    return true;
}

#endif
