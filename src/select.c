/*
 * select: Go's selectgo (runtime/select.go) for C threads. Channels, wait
 * queues, sudogs and the parking of threads are explained at the top of
 * chan.c; the API is gm_select in include/gomalloc/chan.h.
 *
 * The algorithm, as Go's:
 *  1. pollorder: the cases with a channel, in a random order (an
 *     inside-out Fisher-Yates shuffle), so that when several are ready
 *     each is chosen with equal probability.
 *  2. lockorder: the same cases sorted by channel address (heap sort: n
 *     log n, no recursion, no allocation). Every channel is locked in that
 *     order, each distinct one once (sellock), so two selects over the
 *     same channels cannot deadlock; unlocked in reverse (selunlock).
 *  3. Pass 1: in pollorder, the first case that can proceed now does
 *     (a waiting partner, buffer room or a value, a closed channel).
 *  4. Otherwise, with a default or a zero timeout: return at once.
 *  5. Pass 2: one sudog per case, enqueued on every channel, in lock
 *     order; unlock all; park.
 *  6. A partner on any channel dequeues its sudog and wins the select by
 *     CAS on the waiter's select_done (chan.c, gm__waitq_dequeue), does the
 *     copy and readies us; partners that lose the CAS skip the sudog. With
 *     a timeout, the waiter itself races for select_done when the deadline
 *     passes: winning means no partner can complete it any more; losing
 *     means one is doing so right now, and the waiter parks again for it.
 *  7. Pass 3: lock all again and unlink every other sudog (some may have
 *     been unlinked by partners that lost the race).
 *
 * A closed channel wakes a waiting select with success false: a receive
 * case gets ok = false and a zeroed value, a send case is fatal.
 */
#include <string.h>

#include "mgc.h"
#include "chan.h"

/* Scratch for up to this many cases lives on the stack; beyond, one
 * gm_malloc per select. */
enum { STACK_CASES = 64 };

typedef struct selstate {
    gm_select_case *cases;
    uint32_t *pollorder, *lockorder;
    uint32_t norder;    /* cases with a channel */
    gm_sudog *sgs;      /* one per case, indexed by case */
} selstate;

/* ---- cheaprand: per-thread, no lock ---------------------------------------- */

static __thread uint64_t rand_state;
static uint64_t rand_seq;

static uint32_t cheaprand(void) {
    if (GM_UNLIKELY(rand_state == 0)) {
        /* Distinct per thread: a shared counter mixed with the clock. */
        rand_state = (gm__nanotime() ^ (GM_ADD(&rand_seq, 1) * 0x9e3779b97f4a7c15ull)) | 1;
    }
    uint64_t z = (rand_state += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* Uniform in [0, n) up to a bias of n / 2^32 (Lemire's multiply-shift). */
static uint32_t cheaprandn(uint32_t n) { return (uint32_t)(((uint64_t)cheaprand() * n) >> 32); }

/* ---- the orders ----------------------------------------------------------------- */

static uintptr_t sortkey(const selstate *s, uint32_t i) { return (uintptr_t)s->cases[i].c; }

static void build_pollorder(selstate *s, size_t n) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        gm_select_case *cas = &s->cases[i];
        if (!cas->c) continue; /* a nil channel is never ready */
        if (cas->dir != GM_SELECT_SEND && cas->dir != GM_SELECT_RECV)
            gm__fatal("select: bad case direction", NULL);
        uint32_t j = cheaprandn(k + 1);
        s->pollorder[k] = s->pollorder[j];
        s->pollorder[j] = i;
        k++;
    }
    s->norder = k;
}

static void sift_down(selstate *s, uint32_t *a, uint32_t j, uint32_t n, uint32_t o) {
    uintptr_t key = sortkey(s, o);
    for (;;) {
        uint32_t k = 2 * j + 1;
        if (k >= n) break;
        if (k + 1 < n && sortkey(s, a[k]) < sortkey(s, a[k + 1])) k++;
        if (key >= sortkey(s, a[k])) break;
        a[j] = a[k];
        j = k;
    }
    a[j] = o;
}

/* Heap sort of pollorder's cases by channel address into lockorder. */
static void build_lockorder(selstate *s) {
    uint32_t *a = s->lockorder, n = s->norder;
    for (uint32_t i = 0; i < n; i++) { /* sift up into a max-heap */
        uint32_t o = s->pollorder[i], j = i;
        while (j > 0 && sortkey(s, a[(j - 1) / 2]) < sortkey(s, o)) {
            a[j] = a[(j - 1) / 2];
            j = (j - 1) / 2;
        }
        a[j] = o;
    }
    for (uint32_t i = n; i-- > 1;) { /* move the max to the end */
        uint32_t o = a[i];
        a[i] = a[0];
        sift_down(s, a, 0, i, o);
    }
}

static void sellock(selstate *s) {
    gm_chan *last = NULL;
    for (uint32_t i = 0; i < s->norder; i++) {
        gm_chan *c = s->cases[s->lockorder[i]].c;
        if (c != last) gm__chan_lock(c);
        last = c;
    }
}

static void selunlock(void *ctx) {
    selstate *s = ctx;
    for (uint32_t i = s->norder; i-- > 0;) {
        gm_chan *c = s->cases[s->lockorder[i]].c;
        if (i > 0 && c == s->cases[s->lockorder[i - 1]].c) continue;
        gm__unlock(&c->lock);
    }
}

/* ---- pass 1: a case that can proceed now ---------------------------------------- */

static _Noreturn void sclose(selstate *s) {
    selunlock(s);
    gm__fatal("send on closed channel", NULL);
}

/* Try case i with every channel locked; on success the locks are dropped
 * and cases[i].ok set. */
static bool try_case(selstate *s, uint32_t i) {
    gm_select_case *cas = &s->cases[i];
    gm_chan *c = cas->c;
    gm_sudog *sg;
    if (cas->dir == GM_SELECT_RECV) {
        if ((sg = gm__waitq_dequeue(&c->sendq)) != NULL) {
            cas->ok = true;
            gm__chan_recv_from(c, sg, cas->val, selunlock, s);
        } else if (c->qcount > 0) {
            cas->ok = true;
            gm__chan_buf_take(c, cas->val);
            selunlock(s);
        } else if (c->closed) {
            cas->ok = false;
            selunlock(s);
            if (cas->val) gm__chan_memclr(c, cas->val);
        } else {
            return false;
        }
        return true;
    }
    if (c->closed) sclose(s);
    if ((sg = gm__waitq_dequeue(&c->recvq)) != NULL) {
        cas->ok = true;
        gm__chan_send_to(c, sg, cas->val, selunlock, s);
    } else if (c->qcount < c->dataqsiz) {
        cas->ok = true;
        gm__chan_buf_put(c, cas->val);
        selunlock(s);
    } else {
        return false;
    }
    return true;
}

/* ---- passes 2 and 3: wait on every channel ------------------------------------- */

static void enqueue_all(selstate *s, gm_waiter *w) {
    for (uint32_t k = 0; k < s->norder; k++) {
        uint32_t i = s->lockorder[k];
        gm_select_case *cas = &s->cases[i];
        gm_sudog *sg = &s->sgs[i];
        *sg = (gm_sudog){.g = w, .elem = cas->val, .c = cas->c, .is_select = true};
        gm__waitq_enqueue(cas->dir == GM_SELECT_SEND ? &cas->c->sendq : &cas->c->recvq, sg);
    }
}

/* Unlink every sudog but the winner's; returns the winner's case, or -1. */
static int dequeue_all(selstate *s, gm_sudog *winner) {
    int casi = -1;
    for (uint32_t k = 0; k < s->norder; k++) {
        uint32_t i = s->lockorder[k];
        gm_select_case *cas = &s->cases[i];
        gm_sudog *sg = &s->sgs[i];
        if (sg == winner) casi = (int)i;
        else gm__waitq_remove(cas->dir == GM_SELECT_SEND ? &cas->c->sendq : &cas->c->recvq, sg);
    }
    return casi;
}

/* Park; false if the deadline passed and no partner completed us. */
static bool park_select(gm_waiter *w, uint64_t deadline) {
    if (w->parker->park(w, deadline)) return true;
    uint32_t zero = 0;
    if (__atomic_compare_exchange_n(&w->select_done, &zero, 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return false;
    /* A partner won the race and is completing the select: wait for it. */
    w->parker->park(w, 0);
    return true;
}

static int block(selstate *s, uint64_t deadline) {
    gm_waiter w;
    gm__waiter_init(&w);
    enqueue_all(s, &w);
    selunlock(s);
    bool woken = park_select(&w, deadline);
    sellock(s);
    int casi = dequeue_all(s, woken ? w.param : NULL);
    if (!woken) {
        selunlock(s);
        return GM_SELECT_TIMEOUT;
    }
    if (casi < 0) gm__fatal("selectgo: bad wakeup", NULL);
    gm_select_case *cas = &s->cases[casi];
    bool success = s->sgs[casi].success;
    if (cas->dir == GM_SELECT_SEND && !success) sclose(s);
    cas->ok = success;
    selunlock(s);
    return casi;
}

/* ---- selectgo ------------------------------------------------------------------ */

static int selectgo(selstate *s, size_t n, bool has_default, int64_t timeout_ns) {
    uint64_t deadline = timeout_ns > 0 ? gm__nanotime() + (uint64_t)timeout_ns : 0;
    build_pollorder(s, n);
    if (s->norder == 0) { /* only nil channels */
        if (has_default) return GM_SELECT_DEFAULT;
        if (timeout_ns < 0) gm__chan_block_forever();
        gm_waiter w;
        gm__waiter_init(&w);
        if (timeout_ns > 0) w.parker->park(&w, deadline); /* no one readies w */
        return GM_SELECT_TIMEOUT;
    }
    build_lockorder(s);
    sellock(s);
    for (uint32_t k = 0; k < s->norder; k++)
        if (try_case(s, s->pollorder[k])) return (int)s->pollorder[k];
    if (has_default || timeout_ns == 0) {
        selunlock(s);
        return has_default ? GM_SELECT_DEFAULT : GM_SELECT_TIMEOUT;
    }
    return block(s, deadline);
}

int gm_select(gm_select_case *cases, size_t n, bool has_default, int64_t timeout_ns) {
    if (n > UINT32_MAX / 2) gm__fatal("select: too many cases", NULL);
    gm__chan_thread();
    uint32_t orders[2 * STACK_CASES];
    gm_sudog sgs[STACK_CASES];
    selstate s = {.cases = cases, .pollorder = orders, .lockorder = orders + STACK_CASES,
                  .sgs = sgs};
    void *scratch = NULL;
    if (n > STACK_CASES) {
        /* sudogs need not be scanned: they point to cases' channels and
         * values, which the caller's cases array holds too. */
        scratch = gm_malloc(n * (sizeof(gm_sudog) + 2 * sizeof(uint32_t)));
        if (!scratch) gm__fatal("runtime: out of memory", NULL);
        s.sgs = scratch;
        s.pollorder = (uint32_t *)(s.sgs + n);
        s.lockorder = s.pollorder + n;
    }
    int r = selectgo(&s, n, has_default, timeout_ns);
    if (scratch) gm_free(scratch);
    return r;
}
