/*
 * Channels and select under load, with the collector running: producers
 * send collected objects (each stamped with its producer and sequence
 * number) through a set of channels of several capacities, by blocking
 * send, try_send and select with and without timeouts; consumers take
 * them by blocking receive, try_recv and select over every channel, and
 * check that each object is received once, intact, and in its producer's
 * order on its channel. A collector thread calls gm_gc() throughout, so
 * values in flight (in buffers, sudogs, variables) must stay visible to
 * it. Fixed seeds, printed on failure. Runs under TSan (`make tsan`).
 */
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "gomalloc.h"
#include "chan_test.h"

enum { NCHAN = 4, MAXT = 8 };

struct msg {
    int producer;
    int64_t seq;       /* per producer and channel */
    uint64_t check;    /* producer, seq and channel mixed */
    char payload[40];
};
static const gm_type msg_ptr_type = GM_TYPE_POINTER(struct msg *);

struct run {
    uint64_t seed;
    int producers, consumers, per_producer;
    gm_chan *chans[NCHAN];
    atomic_uchar *seen;             /* [producer][channel][seq]: received */
    atomic_long received, errors;
    atomic_int producers_left;
    atomic_int stop_gc;
};

static uint64_t stamp(int producer, int64_t seq, int ch) {
    uint64_t x = (uint64_t)producer * 0x9e3779b97f4a7c15ull ^ (uint64_t)seq * 0xbf58476d1ce4e5b9ull;
    return x ^ (uint64_t)ch << 56;
}

static struct msg *make_msg(int producer, int64_t seq, int ch, int64_t index) {
    struct msg *m = gm_new(sizeof *m);
    if (!m) abort();
    m->producer = producer;
    m->seq = seq;
    m->check = stamp(producer, seq, ch);
    memset(m->payload, (int)(index & 0x7f), sizeof m->payload);
    return m;
}

struct worker { struct run *r; int id; };

/* One message: by a blocking send on a random channel, a try_send loop, or
 * a select over every channel (with a timeout now and then). The message
 * says which channel it went on only after the fact, so select sends one
 * candidate per channel, each numbered for its own channel. */
static void produce_one(struct run *r, int id, uint64_t *rng, int64_t index, int64_t *seqs) {
    int how = (int)(gm_test_rand(rng) % 4);
    if (how < 2) {
        int ch = (int)(gm_test_rand(rng) % NCHAN);
        struct msg *m = make_msg(id, seqs[ch], ch, index);
        m->payload[0] = (char)index;
        if (how == 0) {
            gm_chan_send(r->chans[ch], &m);
        } else {
            while (!gm_chan_try_send(r->chans[ch], &m)) sched_yield();
        }
        seqs[ch]++;
        return;
    }
    struct msg *ms[NCHAN];
    gm_select_case cs[NCHAN];
    for (int ch = 0; ch < NCHAN; ch++) {
        ms[ch] = make_msg(id, seqs[ch], ch, index);
        cs[ch] = (gm_select_case){r->chans[ch], GM_SELECT_SEND, &ms[ch], false};
    }
    int got;
    do got = gm_select(cs, NCHAN, false, how == 3 ? 1000 : -1);
    while (got == GM_SELECT_TIMEOUT);
    if (got < 0 || !cs[got].ok) atomic_fetch_add(&r->errors, 1);
    else seqs[got]++;
}

static void *producer(void *arg) {
    struct worker *w = arg;
    struct run *r = w->r;
    uint64_t rng = r->seed * 1000 + (uint64_t)w->id;
    int64_t seqs[NCHAN] = {0};
    for (int64_t i = 0; i < r->per_producer; i++) produce_one(r, w->id, &rng, i, seqs);
    atomic_fetch_sub(&r->producers_left, 1);
    return NULL;
}

struct consumer_state {
    int64_t next[MAXT][NCHAN]; /* smallest seq still acceptable */
};

static void check_msg(struct run *r, struct consumer_state *st, int ch, struct msg *m) {
    if (!m || m->producer < 0 || m->producer >= r->producers ||
        m->check != stamp(m->producer, m->seq, ch) || m->seq < st->next[m->producer][ch] ||
        m->seq >= r->per_producer ||
        atomic_exchange(&r->seen[((size_t)m->producer * NCHAN + (size_t)ch) *
                                     (size_t)r->per_producer + (size_t)m->seq], 1)) {
        atomic_fetch_add(&r->errors, 1);
        return;
    }
    st->next[m->producer][ch] = m->seq + 1;
    atomic_fetch_add(&r->received, 1);
}

/* Receives until every channel is closed and drained. Consumer 0 (when
 * there are others) blocks in gm_chan_recv on channel 0 alone; the others
 * wait only in selects over every open channel, so a blocked producer
 * always has a partner (a blocking receive from one channel would let
 * consumers and producers wait on different channels forever). */
static int consume_one(struct run *r, int id, uint64_t *rng, gm_select_case *cs, bool *ok) {
    if (id == 0 && r->consumers > 1) {
        *ok = gm_chan_recv(cs[0].c, cs[0].val);
        return 0;
    }
    int how = (int)(gm_test_rand(rng) % 3);
    if (how == 2) {
        int ch = (int)(gm_test_rand(rng) % NCHAN);
        if (!cs[ch].c || !gm_chan_try_recv(cs[ch].c, cs[ch].val, ok)) return -1;
        return ch;
    }
    int ch = gm_select(cs, NCHAN, false, how ? 2000 : -1);
    if (ch >= 0) *ok = cs[ch].ok;
    return ch;
}

static void *consumer(void *arg) {
    struct worker *w = arg;
    struct run *r = w->r;
    uint64_t rng = r->seed * 2000 + (uint64_t)w->id;
    struct consumer_state st;
    memset(&st, 0, sizeof st);
    gm_select_case cs[NCHAN];
    struct msg *vals[NCHAN];
    int open = NCHAN;
    for (int ch = 0; ch < NCHAN; ch++)
        cs[ch] = (gm_select_case){r->chans[ch], GM_SELECT_RECV, &vals[ch], false};
    if (w->id == 0 && r->consumers > 1) open = 1; /* channel 0 only */
    while (open > 0) {
        bool ok = false;
        int ch = consume_one(r, w->id, &rng, cs, &ok);
        if (ch < 0) continue;
        if (!ok) { /* closed and drained: a nil channel from now on */
            cs[ch].c = NULL;
            open--;
            continue;
        }
        check_msg(r, &st, ch, vals[ch]);
        vals[ch] = NULL;
    }
    return NULL;
}

/* Collects every few milliseconds (a cycle scans all the program's
 * globals, and under sanitizers those are large: back to back, cycles
 * would leave the workers little time to run). */
static void *collector(void *arg) {
    struct run *r = arg;
    struct timespec pause = {0, (GC_SANITIZED ? 50 : 2) * 1000000L};
    while (!atomic_load(&r->stop_gc)) {
        gm_gc();
        nanosleep(&pause, NULL);
    }
    return NULL;
}

/* Joins t with the calling thread unregistered: under TSan a stop signal
 * waits for pthread_join to return, and t may be waiting for that stop to
 * end (to unregister itself) — so a registered joiner would hang the
 * collector. What this thread holds must be rooted elsewhere meanwhile
 * (the run is a global). */
static void join(pthread_t t) {
    gm_unregister_thread();
    pthread_join(t, NULL);
    gm_register_thread();
}

static struct run the_run; /* a root: the channels live here */

static void run_once(uint64_t seed, int np, int nc, int per) {
    struct run *rp = &the_run;
    memset(rp, 0, sizeof *rp);
    *rp = (struct run){.seed = seed, .producers = np, .consumers = nc, .per_producer = per};
#define r (*rp)
    size_t caps[NCHAN] = {0, 1, 8, 128};
    for (int i = 0; i < NCHAN; i++) r.chans[i] = gm_make_chan(&msg_ptr_type, caps[i]);
    atomic_store(&r.producers_left, np);
    r.seen = calloc((size_t)np * NCHAN * (size_t)per, 1);
    pthread_t pt[MAXT], ct[MAXT], gc;
    struct worker pw[MAXT], cw[MAXT];
    if (pthread_create(&gc, NULL, collector, &r) != 0) abort();
    for (int i = 0; i < nc; i++) {
        cw[i] = (struct worker){&r, i};
        if (pthread_create(&ct[i], NULL, consumer, &cw[i]) != 0) abort();
    }
    for (int i = 0; i < np; i++) {
        pw[i] = (struct worker){&r, i};
        if (pthread_create(&pt[i], NULL, producer, &pw[i]) != 0) abort();
    }
    for (int i = 0; i < np; i++) join(pt[i]);
    for (int i = 0; i < NCHAN; i++) gm_chan_close(r.chans[i]);
    for (int i = 0; i < nc; i++) join(ct[i]);
    atomic_store(&r.stop_gc, 1);
    join(gc);
    long want = (long)np * per;
    if (atomic_load(&r.errors) || atomic_load(&r.received) != want)
        fprintf(stderr, "  seed %" PRIu64 " (%d producers, %d consumers): %ld errors, "
                        "%ld of %ld received\n", seed, np, nc, atomic_load(&r.errors),
                atomic_load(&r.received), want);
    CHECK_EQ(atomic_load(&r.errors), 0);
    CHECK_EQ(atomic_load(&r.received), want);
    free(r.seen);
#undef r
}

TEST(mixed_operations_with_collections_lose_and_duplicate_nothing) {
    int per = GC_SANITIZED ? 1000 : 15000;
    run_once(1, 4, 4, per / 4);
    run_once(2, 1, 1, per);
    run_once(3, 8, 2, per / 8);
    run_once(4, 2, 8, per / 2);
}

TEST(close_races_with_waiting_receivers_and_selects) {
    enum { ROUNDS = 200, R = 4 };
    for (int round = 0; round < (GC_SANITIZED ? ROUNDS / 10 : ROUNDS); round++) {
        gm_chan *a = gm_make_chan(&msg_ptr_type, (size_t)(round % 3));
        gm_chan *b = gm_make_chan(&msg_ptr_type, 0);
        pthread_t t[R];
        struct worker w[R];
        struct run r = {.seed = (uint64_t)round, .producers = 1, .per_producer = 1};
        r.chans[0] = a;
        r.chans[1] = b;
        r.chans[2] = a;
        r.chans[3] = b;
        for (int i = 0; i < R; i++) {
            w[i] = (struct worker){&r, i};
            if (pthread_create(&t[i], NULL, consumer, &w[i]) != 0) abort();
        }
        if (round % 2) sched_yield();
        gm_chan_close(a);
        gm_chan_close(b);
        for (int i = 0; i < R; i++) join(t[i]);
        if (atomic_load(&r.errors) || atomic_load(&r.received))
            fprintf(stderr, "  round %d\n", round);
        CHECK_EQ(atomic_load(&r.errors), 0);
        CHECK_EQ(atomic_load(&r.received), 0);
    }
}

TEST_MAIN()
