/*
 * chan: Go's channels (runtime/chan.go) for C threads. See the top of
 * malloc.c for the allocator and mgc.c for the collector; select is in
 * select.c; the API is described in include/gomalloc/chan.h, whose
 * implementation section declares what the two files share.
 *
 * Glossary (Go's names)
 * ---------------------
 *  hchan     the channel (gm_chan): a ring buffer buf of dataqsiz
 *            elements, qcount of them in use from recvx; sendx is where
 *            the next one goes. recvq and sendq queue blocked receivers
 *            and senders. One lock guards it all.
 *  sudog     one waiter in one queue: which thread (g), where its value
 *            is (elem), whether it completed (success). It lives on the
 *            waiting thread's stack, for the one operation: no operation
 *            allocates.
 *  waiter    what Go's g is to a channel (gm_waiter): the parker (park
 *            and ready), the word it sleeps on, select's selectDone and
 *            param. OS threads park on a futex (thread_parker below); a
 *            lightweight-thread scheduler would give its threads its own
 *            parker and share these same queues.
 *
 * Invariants (c->lock held)
 * -------------------------
 *  - recvq non-empty => qcount == 0 (receivers wait only on an empty
 *    buffer); sendq non-empty => qcount == dataqsiz (senders only on a
 *    full one). So a send with a waiting receiver copies straight into
 *    that receiver's variable (Go's sendDirect), and a receive from a full
 *    buffer with a waiting sender takes the head and moves the sender's
 *    value to the tail (recvx advances, sendx = recvx).
 *  - closed only goes 0 -> 1; then both queues are empty for good: close
 *    woke everyone, and no one enqueues on a closed channel.
 *  - A dequeued sudog belongs to whoever dequeued it until they call
 *    ready: they write its elem (the value), success and g->param, and
 *    nothing touches it after ready, when its thread may return.
 *  - A select's sudogs (is_select) are claimed by CAS on the waiter's
 *    select_done: one partner completes the select; one that loses the CAS
 *    has merely unlinked a sudog the select was about to remove itself.
 *
 * Which lock guards what: every mutable field of gm_chan and of queued
 * sudogs is under c->lock. qcount, closed and the queues' first pointers
 * are also read without it by the checks that let try ops fail without
 * locking (Go's full/empty) and by len: those fields are stored with
 * relaxed atomics. Lock order between channels: by address (select.c);
 * no other lock is taken while a channel's is held, and a channel lock
 * is never held while sleeping.
 *
 * Memory and the collector
 * ------------------------
 *  makechan (Go's three cases): no buffer memory (cap 0 or 0-byte
 *  elements): one noscan object, the header. Pointer-free elements: one
 *  noscan object, the header followed by the buffer. Elements with
 *  pointers: the header as a typed object whose only pointer word is buf,
 *  then the buffer, gm_new_array(elem, cap), scanned by the element type.
 *  The header may be noscan because nothing it points to needs it for
 *  reachability: elemtype is the caller's (outlives the channel, as for
 *  every gm_type), the queues point to sudogs on waiters' stacks, and buf
 *  is the object itself or, in the third case, scanned. This is Go's
 *  reasoning too (its sudogs are kept alive by their goroutines).
 *  A value in flight is always somewhere the collector looks: in the
 *  sender's variable until the copy is complete (the sender is either the
 *  copying thread or parked until it is), in the buffer (scanned by type),
 *  or in the receiver's variable. Threads register before their first
 *  operation (gm__chan_thread), so variables on their stacks are roots,
 *  and so are the sudogs: a blocked thread keeps the channel alive.
 *  A received slot is cleared so that its referent can die.
 *  A thread that sleeps in futex, parked or waiting for a channel lock,
 *  counts as stopped meanwhile (gm__blocking_begin/end, Go's
 *  entersyscallblock): its context is saved before it sleeps, the
 *  collector neither signals nor waits for it, and if it wakes during a
 *  stop it stops itself before touching anything. So a collection never
 *  waits for a partner that is itself stopped (and under ThreadSanitizer,
 *  whose deferred signals never reach a thread asleep in a raw futex, it
 *  does not hang). The collector never takes a channel lock; a thread
 *  stopped while holding one delays only that channel's users.
 *
 * Parking (thread_park / thread_ready)
 * ------------------------------------
 *  The waiter's word goes RUNNING -> READY (the partner, by exchange) or
 *  RUNNING -> SLEEPING -> READY. The waiter first spins on its own word
 *  for an adaptive budget (doubled when a spin succeeds, halved when it
 *  fails, per thread), so a quick partner costs no system call on either
 *  side; then it yields the CPU twice (with more runnable threads than
 *  cores the partner may be waiting for ours); then it announces
 *  SLEEPING and waits in futex. The partner calls
 *  futex wake only if it saw SLEEPING. That wake may reach an address the
 *  waiter has already left (it saw READY after a spurious return): every
 *  futex sleeper in gomalloc re-checks its condition, so a stray wake-up
 *  is harmless, as with glibc's semaphores.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "mgc.h"
#include "chan.h"

/* Go's maxAlloc on linux/amd64, and its maxAlign. */
#define MAX_ALLOC ((size_t)1 << GM_ADDR_BITS)
#define MAX_ALIGN 8
#define HCHAN_SIZE ((sizeof(gm_chan) + MAX_ALIGN - 1) & ~(size_t)(MAX_ALIGN - 1))
_Static_assert(HCHAN_SIZE == 96, "hchan is Go's 96 bytes");

/* The header of a channel whose elements hold pointers: only buf is. */
static const gm_type hchan_type = GM_TYPE(struct gm_chan, buf);

/* ---- parking OS threads ----------------------------------------------------- */

enum { W_RUNNING = 0, W_SLEEPING = 1, W_READY = 2 };
/* Spin budget, in pause instructions (tens of ns each). */
enum { SPIN_MIN = 16, SPIN_MAX = 4096, SPIN_INIT = 256, YIELDS = 2, LOCK_SPIN = 100 };

static __thread uint32_t spin_budget = SPIN_INIT;

/* Spin on the waiter's own word: true if readied meanwhile. */
static bool spin_for_ready(gm_waiter *w) {
    uint32_t n = spin_budget;
    for (uint32_t i = 0; i < n; i++) {
        if (GM_LOAD_ACQ(&w->state) == W_READY) {
            spin_budget = n < SPIN_MAX ? n * 2 : SPIN_MAX;
            return true;
        }
        __builtin_ia32_pause();
    }
    spin_budget = n > SPIN_MIN ? n / 2 : SPIN_MIN;
    return false;
}

/* The partner may be waiting for our CPU (more runnable threads than
 * cores): let it run before paying for a sleep and a wake-up. */
static bool yield_for_ready(gm_waiter *w) {
    for (int i = 0; i < YIELDS; i++) {
        sched_yield();
        if (GM_LOAD_ACQ(&w->state) == W_READY) return true;
    }
    return false;
}

/* Sleep in the kernel, counted as stopped by the collector meanwhile
 * (gm__blocking_begin): nothing here touches the heap. */
static bool sleep_until_ready(gm_waiter *w, uint64_t deadline) {
    for (;;) {
        uint64_t timeout = 0;
        if (deadline) {
            uint64_t now = gm__nanotime();
            if (now >= deadline) {
                /* Back to RUNNING, unless the partner readied us first. */
                uint32_t expected = W_SLEEPING;
                return !__atomic_compare_exchange_n(&w->state, &expected, W_RUNNING, false,
                                                    __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE);
            }
            timeout = deadline - now;
        }
        /* Returns early on EINTR or a stray wake. */
        gm__futex_wait(&w->state, W_SLEEPING, timeout);
        if (GM_LOAD_ACQ(&w->state) == W_READY) return true;
    }
}

static bool thread_park(gm_waiter *w, uint64_t deadline) {
    if (spin_for_ready(w) || yield_for_ready(w)) return true;
    uint32_t expected = W_RUNNING;
    if (!__atomic_compare_exchange_n(&w->state, &expected, W_SLEEPING, false,
                                     __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
        return true; /* READY */
    gm__blocking_begin();
    bool readied = sleep_until_ready(w, deadline);
    gm__blocking_end();
    return readied;
}

static void thread_ready(gm_waiter *w) {
    uint32_t *word = &w->state;
    if (__atomic_exchange_n(word, W_READY, __ATOMIC_RELEASE) == W_SLEEPING)
        gm__futex_wake(word);
}

static const gm_parker thread_parker = {thread_park, thread_ready};

void gm__waiter_init(gm_waiter *w) {
    w->parker = &thread_parker;
    w->state = W_RUNNING;
    w->select_done = 0;
    w->param = NULL;
}

_Noreturn void gm__chan_block_forever(void) {
    gm_waiter w;
    gm__waiter_init(&w);
    for (;;) w.parker->park(&w, 0); /* no one will ready w */
}

GM_NOINLINE static void register_slow(void) {
    if (!gm__gthread_get()) gm__fatal("runtime: out of memory", NULL);
}

void gm__chan_thread(void) {
    if (GM_UNLIKELY(!gm__tls_gthread)) register_slow();
}

/* ---- the channel lock ------------------------------------------------------ */

/* gm_mutex's protocol (0 free, 1 locked, 2 contended; gm__unlock wakes),
 * but a waiter that sleeps counts as stopped for the collector meanwhile,
 * as a parked waiter does: the holder may be stopped by a collection, and
 * a waiter stuck in futex must not hold the stop up (under
 * ThreadSanitizer the stop signal does not even reach it there). */
GM_NOINLINE static void chan_lock_slow(gm_mutex *m) {
    for (int i = 0; i < LOCK_SPIN; i++) {
        int expected = 0;
        if (GM_LOAD(&m->state) == 0 &&
            __atomic_compare_exchange_n(&m->state, &expected, 1, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return;
        __builtin_ia32_pause();
    }
    while (__atomic_exchange_n(&m->state, 2, __ATOMIC_ACQUIRE) != 0) {
        gm__blocking_begin();
        gm__futex_wait((uint32_t *)&m->state, 2, 0);
        gm__blocking_end();
    }
}

void gm__chan_lock(gm_chan *c) {
    int expected = 0;
    if (!__atomic_compare_exchange_n(&c->lock.state, &expected, 1, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        chan_lock_slow(&c->lock);
}

/* ---- wait queues -------------------------------------------------------------- */

void gm__waitq_enqueue(gm_waitq *q, gm_sudog *sg) {
    sg->next = NULL;
    sg->prev = q->last;
    if (q->last) q->last->next = sg;
    else GM_STORE(&q->first, sg);
    q->last = sg;
}

static void waitq_unlink_first(gm_waitq *q, gm_sudog *sg) {
    gm_sudog *y = sg->next;
    if (y) y->prev = NULL;
    else q->last = NULL;
    GM_STORE(&q->first, y);
    sg->next = NULL;
}

/* The first waiter that can still be completed. A select's sudog counts
 * only if this CAS is the one that decides its select; otherwise the
 * select is already won elsewhere (or timed out), and will find its sudog
 * gone from this queue. */
gm_sudog *gm__waitq_dequeue(gm_waitq *q) {
    for (;;) {
        gm_sudog *sg = q->first;
        if (!sg) return NULL;
        waitq_unlink_first(q, sg);
        uint32_t zero = 0;
        if (sg->is_select &&
            !__atomic_compare_exchange_n(&sg->g->select_done, &zero, 1, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        return sg;
    }
}

/* Unlink sg wherever it is; it may already be gone (dequeued by a
 * partner that lost the select_done race). */
void gm__waitq_remove(gm_waitq *q, gm_sudog *sg) {
    gm_sudog *x = sg->prev, *y = sg->next;
    if (x) {
        x->next = y;
        if (y) y->prev = x;
        else q->last = x;
        sg->next = sg->prev = NULL;
        return;
    }
    if (y) {
        y->prev = NULL;
        GM_STORE(&q->first, y);
        sg->next = NULL;
        return;
    }
    if (q->first == sg) {
        GM_STORE(&q->first, NULL);
        q->last = NULL;
    }
}

/* ---- the buffer ------------------------------------------------------------------- */

static inline void *chanbuf(gm_chan *c, size_t i) {
    return (char *)c->buf + i * c->elemsize;
}

void gm__chan_buf_put(gm_chan *c, const void *ep) {
    gm__chan_memmove(c, chanbuf(c, c->sendx), ep);
    if (++c->sendx == c->dataqsiz) c->sendx = 0;
    GM_STORE(&c->qcount, c->qcount + 1);
}

/* The slot is cleared so that what it pointed to can be collected. */
void gm__chan_buf_take(gm_chan *c, void *ep) {
    void *qp = chanbuf(c, c->recvx);
    if (ep) gm__chan_memmove(c, ep, qp);
    gm__chan_memclr(c, qp);
    if (++c->recvx == c->dataqsiz) c->recvx = 0;
    GM_STORE(&c->qcount, c->qcount - 1);
}

/* ---- makechan ------------------------------------------------------------------------ */

static void *check_oom(void *p) {
    if (GM_UNLIKELY(!p)) gm__fatal("runtime: out of memory", NULL);
    return p;
}

gm_chan *gm_make_chan(const gm_type *elem, size_t cap) {
    size_t esize = elem ? elem->size : 0;
    if (esize >= (size_t)1 << 16) gm__fatal("makechan: invalid channel element type", NULL);
    if (elem && elem->align > MAX_ALIGN) gm__fatal("makechan: bad alignment", NULL);
    /* cap beyond PTRDIFF_MAX is a negative int in the caller's eyes. */
    if (cap > (size_t)PTRDIFF_MAX || (esize && cap > (MAX_ALLOC - HCHAN_SIZE) / esize))
        gm__fatal("makechan: size out of range", NULL);
    size_t mem = esize * cap;
    gm_chan *c;
    if (mem == 0) {
        c = check_oom(gm_new_noscan(HCHAN_SIZE));
        c->buf = c; /* never read or written: every copy is 0 bytes */
    } else if (elem->ptrdata == 0) {
        c = check_oom(gm_new_noscan(HCHAN_SIZE + mem));
        c->buf = (char *)c + HCHAN_SIZE;
    } else {
        c = check_oom(gm_new_typed(&hchan_type));
        c->buf = check_oom(gm_new_array(elem, cap));
    }
    c->elemsize = (uint16_t)esize;
    c->elemtype = elem;
    c->dataqsiz = cap;
    return c;
}

size_t gm_chan_len(const gm_chan *c) { return c ? GM_LOAD(&c->qcount) : 0; }
size_t gm_chan_cap(const gm_chan *c) { return c ? c->dataqsiz : 0; }

/* ---- completing a waiter (Go's send and recv) --------------------------------------- */

static void finish(gm_sudog *sg, gm_unlockf unlockf, void *ctx) {
    gm_waiter *gp = sg->g;
    sg->elem = NULL;
    sg->success = true;
    gp->param = sg;
    unlockf(ctx);
    gp->parker->ready(gp);
}

/* A receiver waits, so the buffer is empty: the value goes straight into
 * the receiver's variable. */
void gm__chan_send_to(gm_chan *c, gm_sudog *sg, const void *ep, gm_unlockf unlockf,
                      void *ctx) {
    if (sg->elem) gm__chan_memmove(c, sg->elem, ep);
    finish(sg, unlockf, ctx);
}

/* A sender waits. Unbuffered: take its value directly. Buffered (hence
 * full): take the head, and the sender's value becomes the tail. */
void gm__chan_recv_from(gm_chan *c, gm_sudog *sg, void *ep, gm_unlockf unlockf,
                        void *ctx) {
    if (c->dataqsiz == 0) {
        if (ep) gm__chan_memmove(c, ep, sg->elem);
    } else {
        void *qp = chanbuf(c, c->recvx);
        if (ep) gm__chan_memmove(c, ep, qp);
        gm__chan_memmove(c, qp, sg->elem);
        if (++c->recvx == c->dataqsiz) c->recvx = 0;
        c->sendx = c->recvx;
    }
    finish(sg, unlockf, ctx);
}

static void unlock_chan(void *c) { gm__unlock(&((gm_chan *)c)->lock); }

/* ---- chansend ------------------------------------------------------------------------- */

/* No receiver to take a value now (Go's full): read without the lock. */
static bool full(gm_chan *c) {
    if (c->dataqsiz == 0) return GM_LOAD(&c->recvq.first) == NULL;
    return GM_LOAD(&c->qcount) == c->dataqsiz;
}

static _Noreturn void panic_send_closed(void) { gm__fatal("send on closed channel", NULL); }

/* Park until a receiver takes *ep, or close wakes us (fatal). c locked. */
static void send_block(gm_chan *c, const void *ep) {
    gm_waiter w;
    gm_sudog sg = {.g = &w, .elem = (void *)ep, .c = c};
    gm__waiter_init(&w);
    gm__waitq_enqueue(&c->sendq, &sg);
    gm__unlock(&c->lock);
    w.parker->park(&w, 0);
    if (!sg.success) panic_send_closed();
    /* ep was read by the receiver while we were parked: keep it to here. */
    __asm__ volatile("" : : "r"(ep) : "memory");
}

static bool chansend(gm_chan *c, const void *ep, bool block) {
    if (!c) {
        if (!block) return false;
        gm__chan_thread();
        gm__chan_block_forever();
    }
    /* A failed non-blocking send needs no lock: if the channel looked
     * open and full at one instant, failing is what a locked check at that
     * instant would have done (Go's reasoning). */
    if (!block && !GM_LOAD(&c->closed) && full(c)) return false;
    gm__chan_thread();
    gm__chan_lock(c);
    if (c->closed) {
        gm__unlock(&c->lock);
        panic_send_closed();
    }
    gm_sudog *sg = gm__waitq_dequeue(&c->recvq);
    if (sg) {
        gm__chan_send_to(c, sg, ep, unlock_chan, c);
        return true;
    }
    if (c->qcount < c->dataqsiz) {
        gm__chan_buf_put(c, ep);
        gm__unlock(&c->lock);
        return true;
    }
    if (!block) {
        gm__unlock(&c->lock);
        return false;
    }
    send_block(c, ep);
    return true;
}

void gm_chan_send(gm_chan *c, const void *v) { chansend(c, v, true); }
bool gm_chan_try_send(gm_chan *c, const void *v) { return chansend(c, v, false); }

/* ---- chanrecv ------------------------------------------------------------------------- */

/* No value to take now (Go's empty): read without the lock. */
static bool empty(gm_chan *c) {
    if (c->dataqsiz == 0) return GM_LOAD_ACQ(&c->sendq.first) == NULL;
    return GM_LOAD_ACQ(&c->qcount) == 0;
}

/* Park until a sender hands us a value (true) or close wakes us (false,
 * *ep zeroed by close). c locked. */
static bool recv_block(gm_chan *c, void *ep) {
    gm_waiter w;
    gm_sudog sg = {.g = &w, .elem = ep, .c = c};
    gm__waiter_init(&w);
    gm__waitq_enqueue(&c->recvq, &sg);
    gm__unlock(&c->lock);
    w.parker->park(&w, 0);
    return sg.success;
}

/* Returns whether it proceeded (always, when blocking); *received is Go's
 * ok. */
static bool chanrecv(gm_chan *c, void *ep, bool block, bool *received) {
    *received = false;
    if (!c) {
        if (!block) return false;
        gm__chan_thread();
        gm__chan_block_forever();
    }
    if (!block && empty(c)) {
        /* Seen empty, then open: it was open while empty, so failing is
         * right. Seen closed: a closed channel never refills, so a second
         * look that finds it empty means drained. */
        if (!GM_LOAD_ACQ(&c->closed)) return false;
        if (empty(c)) {
            if (ep) gm__chan_memclr(c, ep);
            return true;
        }
    }
    gm__chan_thread();
    gm__chan_lock(c);
    if (c->closed) {
        if (c->qcount == 0) {
            gm__unlock(&c->lock);
            if (ep) gm__chan_memclr(c, ep);
            return true;
        }
        /* closed with values left: they are received first */
    } else {
        gm_sudog *sg = gm__waitq_dequeue(&c->sendq);
        if (sg) {
            gm__chan_recv_from(c, sg, ep, unlock_chan, c);
            return *received = true;
        }
    }
    if (c->qcount > 0) {
        gm__chan_buf_take(c, ep);
        gm__unlock(&c->lock);
        return *received = true;
    }
    if (!block) {
        gm__unlock(&c->lock);
        return false;
    }
    *received = recv_block(c, ep);
    return true;
}

bool gm_chan_recv(gm_chan *c, void *v) {
    bool ok;
    chanrecv(c, v, true, &ok);
    return ok;
}

bool gm_chan_try_recv(gm_chan *c, void *v, bool *ok) {
    bool received;
    bool selected = chanrecv(c, v, false, &received);
    if (ok) *ok = received;
    return selected;
}

/* ---- closechan ------------------------------------------------------------------------- */

/* Dequeue every waiter of q onto *list (linked through next), marked as
 * woken by close. Receivers get zero values. c locked. */
static void release_all(gm_chan *c, gm_waitq *q, bool zero, gm_sudog **list) {
    gm_sudog *sg;
    while ((sg = gm__waitq_dequeue(q)) != NULL) {
        if (zero && sg->elem) gm__chan_memclr(c, sg->elem);
        sg->elem = NULL;
        sg->success = false;
        sg->g->param = sg;
        sg->next = *list;
        *list = sg;
    }
}

void gm_chan_close(gm_chan *c) {
    if (!c) gm__fatal("close of nil channel", NULL);
    gm__chan_thread();
    gm__chan_lock(c);
    if (c->closed) {
        gm__unlock(&c->lock);
        gm__fatal("close of closed channel", NULL);
    }
    GM_STORE(&c->closed, 1);
    gm_sudog *list = NULL;
    release_all(c, &c->recvq, true, &list);
    release_all(c, &c->sendq, false, &list);
    gm__unlock(&c->lock);
    /* Woken after the unlock, as Go does, so that they do not run into the
     * lock at once. next and g are read before ready: after it the sudog
     * may be gone. */
    while (list) {
        gm_sudog *sg = list;
        gm_waiter *gp = sg->g;
        list = sg->next;
        gp->parker->ready(gp);
    }
}
