/*
 * Cross-file declarations of the channels: hchan, sudog and the wait
 * queues, shared by chan.c and select.c (and read by tests that count
 * waiters). The design is explained at the top of chan.c. Never installed.
 */
#ifndef GM_CHAN_H
#define GM_CHAN_H

#include "gomalloc/chan.h"

#include <string.h>

#include "internal.h"

typedef struct gm_sudog gm_sudog;
typedef struct gm_waiter gm_waiter;

/* How a waiter sleeps and is woken: OS threads park on a futex; a
 * lightweight-thread scheduler would install its own pair and park its
 * threads in the same wait queues. */
typedef struct gm_parker {
    /* Sleep until ready(w) has been called: true; or until deadline
     * (gm__nanotime() ns; 0 = none) passes: false. Called by w's thread. */
    bool (*park)(gm_waiter *w, uint64_t deadline);
    /* Wake w. w may be gone the moment this returns (its stack unwound). */
    void (*ready)(gm_waiter *w);
} gm_parker;

/* A thread blocked in a channel operation (what chan.go uses of Go's g).
 * Lives on the waiting thread's stack, for one operation. */
struct gm_waiter {
    const gm_parker *parker;
    uint32_t state;       /* the parker's word (chan.c: W_*); atomic */
    uint32_t select_done; /* Go's selectDone: 0 -> 1 by CAS, by whoever completes
                             a select (a partner, or the timed-out waiter itself) */
    gm_sudog *param;      /* the sudog that completed the operation (Go's
                             gp.param); written by the partner before ready */
};

/* Go's sudog: one waiter in one channel's queue. On the waiter's stack
 * (a root, since channel users are registered threads): what it points to
 * stays alive while it waits. */
struct gm_sudog {
    gm_waiter *g;
    gm_sudog *next, *prev; /* waitq links; channel lock */
    void *elem;            /* value to send, or where to receive (NULL:
                              discard); channel lock; NULL once done */
    gm_chan *c;
    bool is_select;        /* dequeue must win g->select_done first */
    bool success;          /* completed by a partner, not woken by close;
                              written before ready */
};

typedef struct gm_waitq {
    gm_sudog *first, *last; /* channel lock; first also read by the lock-free
                               checks (atomic stores) */
} gm_waitq;

/* Go's hchan: 96 bytes, as Go's. See the essay in chan.c for who guards
 * what and why the header may live in noscan memory. */
struct gm_chan {
    size_t qcount;          /* elements in buf; lock (atomic stores: len, try ops) */
    size_t dataqsiz;        /* cap; immutable */
    void *buf;              /* ring of dataqsiz elements; immutable */
    const gm_type *elemtype;/* immutable; the user's, never heap memory we own */
    size_t sendx, recvx;    /* ring indices; lock */
    gm_waitq recvq, sendq;  /* blocked receivers / senders; lock */
    gm_mutex lock;
    uint32_t closed;        /* lock (atomic stores: read by the lock-free checks) */
    uint16_t elemsize;      /* immutable */
};

typedef void (*gm_unlockf)(void *ctx);

/* Lock c; a long wait counts as stopped for the collector (chan.c). */
GM_INTERNAL void gm__chan_lock(gm_chan *c);
GM_INTERNAL void gm__waitq_enqueue(gm_waitq *q, gm_sudog *sg);
GM_INTERNAL gm_sudog *gm__waitq_dequeue(gm_waitq *q);
GM_INTERNAL void gm__waitq_remove(gm_waitq *q, gm_sudog *sg); /* Go's dequeueSudoG */
/* Go's send and recv: complete the operation of waiter sg (dequeued),
 * with c locked; unlockf(ctx) drops the lock(s) before sg's thread wakes. */
GM_INTERNAL void gm__chan_send_to(gm_chan *c, gm_sudog *sg, const void *ep,
                                  gm_unlockf unlockf, void *ctx);
GM_INTERNAL void gm__chan_recv_from(gm_chan *c, gm_sudog *sg, void *ep,
                                    gm_unlockf unlockf, void *ctx);
GM_INTERNAL void gm__chan_buf_put(gm_chan *c, const void *ep); /* c locked, room */
GM_INTERNAL void gm__chan_buf_take(gm_chan *c, void *ep);      /* c locked, qcount > 0 */
/* A waiter for the calling thread, state reset. */
GM_INTERNAL void gm__waiter_init(gm_waiter *w);
/* Register the calling thread with the collector (fatal on OOM). */
GM_INTERNAL void gm__chan_thread(void);
GM_INTERNAL _Noreturn void gm__chan_block_forever(void);

static inline void gm__chan_memclr(const gm_chan *c, void *p) {
    if (c->elemsize) memset(p, 0, c->elemsize);
}
/* Word-sized elements, the common case, without a call to memcpy: the
 * copies happen with the channel lock held. */
static inline void gm__chan_memmove(const gm_chan *c, void *dst, const void *src) {
    switch (c->elemsize) {
    case 0: break;
    case 8: memcpy(dst, src, 8); break;
    case 4: memcpy(dst, src, 4); break;
    case 16: memcpy(dst, src, 16); break;
    default: memcpy(dst, src, c->elemsize);
    }
}

#endif /* GM_CHAN_H */
