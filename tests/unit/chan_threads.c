/*
 * Channels between threads: rendezvous, direct handoff to a waiting
 * receiver, a full buffer with a waiting sender, close with waiters,
 * producer/consumer exactness, nil channels. Multi-threaded, hence the
 * name (label "concurrency": `make tsan` runs it). Fixed seeds.
 *
 * "Blocked" is observed, not timed: a helper counts the sudogs in a
 * channel's queue under its lock, and the test waits (bounded) for them.
 */
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "gomalloc.h"
#include "chan_test.h"

static const gm_type int_type = GM_TYPE_NOPTRS(int64_t);





static bool wait_flag(atomic_int *f, int v) {
    double end = gc_now() + 30;
    while (atomic_load(f) != v) {
        if (gc_now() > end) return false;
        sched_yield();
    }
    return true;
}

static pthread_t spawn(void *(*fn)(void *), void *arg) {
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) abort();
    return t;
}

/* ---- rendezvous ------------------------------------------------------------- */

struct sender { gm_chan *c; int64_t v; atomic_int done; };

static void *send_one(void *arg) {
    struct sender *s = arg;
    gm_chan_send(s->c, &s->v);
    atomic_store(&s->done, 1);
    return NULL;
}

TEST(unbuffered_send_waits_for_a_receiver) {
    gm_chan *c = gm_make_chan(&int_type, 0);
    struct sender s = {c, 42, 0};
    pthread_t t = spawn(send_one, &s);
    REQUIRE(wait_queued(c, true, 1, 30));
    CHECK_EQ(atomic_load(&s.done), 0); /* parked, not returned */
    CHECK_EQ(gm_chan_len(c), 0);
    int64_t v = 0;
    CHECK(gm_chan_recv(c, &v));
    CHECK_EQ(v, 42);
    pthread_join(t, NULL);
    CHECK_EQ(atomic_load(&s.done), 1);
}

struct receiver { gm_chan *c; int64_t v; bool ok; atomic_int done; };

static void *recv_one(void *arg) {
    struct receiver *r = arg;
    r->ok = gm_chan_recv(r->c, &r->v);
    atomic_store(&r->done, 1);
    return NULL;
}

TEST(unbuffered_receive_waits_for_a_sender) {
    gm_chan *c = gm_make_chan(&int_type, 0);
    struct receiver r = {c, -1, false, 0};
    pthread_t t = spawn(recv_one, &r);
    REQUIRE(wait_queued(c, false, 1, 30));
    CHECK_EQ(atomic_load(&r.done), 0);
    gm_chan_send(c, &(int64_t){7});
    pthread_join(t, NULL);
    CHECK(r.ok);
    CHECK_EQ(r.v, 7);
}

/* The value goes straight to the waiting receiver: the buffer never holds
 * it, so right after the send the one slot is still free. */
TEST(send_to_a_waiting_receiver_bypasses_the_buffer) {
    gm_chan *c = gm_make_chan(&int_type, 1);
    struct receiver r = {c, -1, false, 0};
    pthread_t t = spawn(recv_one, &r);
    REQUIRE(wait_queued(c, false, 1, 30));
    gm_chan_send(c, &(int64_t){1});
    CHECK_EQ(gm_chan_len(c), 0);
    CHECK(gm_chan_try_send(c, &(int64_t){2}));
    CHECK(!gm_chan_try_send(c, &(int64_t){3}));
    pthread_join(t, NULL);
    CHECK(r.ok);
    CHECK_EQ(r.v, 1);
    int64_t v = 0;
    CHECK(gm_chan_recv(c, &v));
    CHECK_EQ(v, 2);
}

/* Go's recv on a full buffer with a waiting sender: the head is received
 * and the sender's value takes the freed slot at the tail. */
TEST(receive_from_full_buffer_moves_the_waiting_sender_to_the_tail) {
    gm_chan *c = gm_make_chan(&int_type, 2);
    gm_chan_send(c, &(int64_t){1});
    gm_chan_send(c, &(int64_t){2});
    struct sender s = {c, 3, 0};
    pthread_t t = spawn(send_one, &s);
    REQUIRE(wait_queued(c, true, 1, 30));
    int64_t v = 0;
    CHECK(gm_chan_recv(c, &v));
    CHECK_EQ(v, 1);
    CHECK_EQ(gm_chan_len(c), 2); /* 2 and the sender's 3, at once */
    CHECK_EQ(queued(c, true), 0);
    pthread_join(t, NULL);
    for (int64_t want = 2; want <= 3; want++) {
        CHECK(gm_chan_recv(c, &v));
        CHECK_EQ(v, want);
    }
}

struct echo { gm_chan *in, *out; };

/* Sends back every value, plus one, until its input is closed. */
static void *echo(void *arg) {
    struct echo *e = arg;
    int64_t v;
    while (gm_chan_recv(e->in, &v)) gm_chan_send(e->out, &(int64_t){v + 1});
    return NULL;
}

TEST(ping_pong_on_unbuffered_channels) {
    struct echo e = {gm_make_chan(&int_type, 0), gm_make_chan(&int_type, 0)};
    pthread_t t = spawn(echo, &e);
    int rounds = GC_SANITIZED ? 2000 : 50000;
    int64_t v = 0;
    for (int i = 0; i < rounds; i++) {
        gm_chan_send(e.in, &v);
        int64_t w = -1;
        CHECK(gm_chan_recv(e.out, &w));
        if (w != v + 1) {
            CHECK_EQ(w, v + 1);
            break;
        }
        v = w;
    }
    gm_chan_close(e.in);
    pthread_join(t, NULL);
    CHECK_EQ(v, rounds);
}

/* ---- close with waiters ------------------------------------------------------ */

static void close_wakes_receivers(size_t cap) {
    enum { K = 6 };
    gm_chan *c = gm_make_chan(&int_type, cap);
    struct receiver r[K];
    pthread_t t[K];
    for (int i = 0; i < K; i++) {
        r[i] = (struct receiver){c, 12345, true, 0};
        t[i] = spawn(recv_one, &r[i]);
    }
    REQUIRE(wait_queued(c, false, K, 30));
    gm_chan_close(c);
    for (int i = 0; i < K; i++) {
        pthread_join(t[i], NULL);
        CHECK(!r[i].ok);
        CHECK_EQ(r[i].v, 0); /* the zero value */
    }
}

TEST(close_wakes_every_waiting_receiver_with_zero_and_false) {
    close_wakes_receivers(0);
    close_wakes_receivers(4);
}

static void *recv_discard(void *arg) {
    struct receiver *r = arg;
    r->ok = gm_chan_recv(r->c, NULL);
    return NULL;
}

TEST(waiting_receiver_that_discards_is_woken_by_close) {
    gm_chan *c = gm_make_chan(&int_type, 0);
    struct receiver r = {c, 0, true, 0};
    pthread_t t = spawn(recv_discard, &r);
    REQUIRE(wait_queued(c, false, 1, 30));
    gm_chan_close(c);
    pthread_join(t, NULL);
    CHECK(!r.ok);
}

static void close_with_blocked_sender(void) {
    gm_chan *c = gm_make_chan(&int_type, 0);
    static struct sender s;
    s = (struct sender){c, 1, 0};
    spawn(send_one, &s);
    if (!wait_queued(c, true, 1, 30)) _exit(3);
    gm_chan_close(c); /* the sender dies */
    for (;;) gc_sleep_ms(1000);
}

TEST(close_makes_a_blocked_sender_die) {
    EXPECT_DEATH(close_with_blocked_sender(), "gomalloc: fatal error: send on closed channel");
}

/* ---- producers and consumers --------------------------------------------------- */

enum { MAXP = 8 };

struct pc {
    gm_chan *c;
    int producers, per_producer;
    uint64_t seed;
    atomic_uchar *seen;     /* [producer * per_producer + seq] */
    atomic_int errors;
    atomic_long received;
};

struct producer { struct pc *pc; int id; };

static void *produce(void *arg) {
    struct producer *p = arg;
    uint64_t rng = p->pc->seed + (uint64_t)p->id;
    for (int64_t seq = 0; seq < p->pc->per_producer; seq++) {
        int64_t v = (int64_t)p->id << 32 | seq;
        if (gm_test_rand(&rng) % 4 == 0) {
            while (!gm_chan_try_send(p->pc->c, &v)) sched_yield();
        } else {
            gm_chan_send(p->pc->c, &v);
        }
    }
    return NULL;
}

/* Every value once; per producer, each consumer sees increasing seqs. */
static void *consume(void *arg) {
    struct pc *pc = arg;
    int64_t last[MAXP];
    for (int i = 0; i < MAXP; i++) last[i] = -1;
    int64_t v;
    while (gm_chan_recv(pc->c, &v)) {
        int id = (int)(v >> 32);
        int64_t seq = v & 0xffffffff;
        if (id < 0 || id >= pc->producers || seq >= pc->per_producer || seq <= last[id] ||
            atomic_exchange(&pc->seen[id * pc->per_producer + seq], 1)) {
            atomic_fetch_add(&pc->errors, 1);
            continue;
        }
        last[id] = seq;
        atomic_fetch_add(&pc->received, 1);
    }
    return NULL;
}

static void producers_consumers(size_t cap, int np, int nc, int per, uint64_t seed) {
    struct pc pc = {gm_make_chan(&int_type, cap), np, per, seed,
                    calloc((size_t)np * (size_t)per, 1), 0, 0};
    pthread_t pt[MAXP], ct[MAXP];
    struct producer prod[MAXP];
    for (int i = 0; i < nc; i++) ct[i] = spawn(consume, &pc);
    for (int i = 0; i < np; i++) {
        prod[i] = (struct producer){&pc, i};
        pt[i] = spawn(produce, &prod[i]);
    }
    for (int i = 0; i < np; i++) pthread_join(pt[i], NULL);
    gm_chan_close(pc.c);
    for (int i = 0; i < nc; i++) pthread_join(ct[i], NULL);
    long want = (long)np * per;
    if (atomic_load(&pc.errors) || atomic_load(&pc.received) != want)
        fprintf(stderr, "  cap %zu, %d producers, %d consumers, seed %" PRIu64
                        ": %d errors, %ld of %ld received\n",
                cap, np, nc, seed, atomic_load(&pc.errors), atomic_load(&pc.received), want);
    CHECK_EQ(atomic_load(&pc.errors), 0);
    CHECK_EQ(atomic_load(&pc.received), want);
    free(pc.seen);
}

TEST(every_value_is_received_once_in_per_producer_order) {
    int per = GC_SANITIZED ? 2000 : 20000;
    size_t caps[] = {0, 1, 7, 64};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        producers_consumers(caps[i], 1, 1, per, 1 + i);
        producers_consumers(caps[i], 4, 4, per / 4, 11 + i);
        producers_consumers(caps[i], 8, 2, per / 8, 21 + i);
        producers_consumers(caps[i], 2, 8, per / 2, 31 + i);
    }
}

/* ---- nil channels and the collector ------------------------------------------------ */

static void *recv_nil(void *arg) {
    atomic_int *returned = arg;
    gm_chan_recv(NULL, NULL);
    atomic_store(returned, 1);
    return NULL;
}

static void *send_nil(void *arg) {
    atomic_int *returned = arg;
    gm_chan_send(NULL, &(int64_t){1});
    atomic_store(returned, 1);
    return NULL;
}

/* Threads blocked forever stay stoppable: collections go on around them. */
TEST(operations_on_a_nil_channel_block_forever) {
    static atomic_int r1, r2;
    pthread_t t1 = spawn(recv_nil, &r1), t2 = spawn(send_nil, &r2);
    pthread_detach(t1);
    pthread_detach(t2);
    gc_sleep_ms(20);
    for (int i = 0; i < 3; i++) gm_gc();
    gc_sleep_ms(20);
    CHECK_EQ(atomic_load(&r1), 0);
    CHECK_EQ(atomic_load(&r2), 0);
}

TEST(collections_while_threads_wait_in_channels) {
    gm_chan *c = gm_make_chan(&int_type, 0), *d = gm_make_chan(&int_type, 1);
    struct receiver r = {c, -1, false, 0};
    gm_chan_send(d, &(int64_t){1});
    struct sender s = {d, 2, 0};
    pthread_t tr = spawn(recv_one, &r), ts = spawn(send_one, &s);
    REQUIRE(wait_queued(c, false, 1, 30));
    REQUIRE(wait_queued(d, true, 1, 30));
    for (int i = 0; i < 5; i++) gm_gc();
    CHECK_EQ(atomic_load(&r.done), 0);
    CHECK_EQ(atomic_load(&s.done), 0);
    gm_chan_send(c, &(int64_t){9});
    int64_t v = 0;
    CHECK(gm_chan_recv(d, &v) && v == 1);
    CHECK(wait_flag(&s.done, 1));
    CHECK(gm_chan_recv(d, &v) && v == 2);
    pthread_join(tr, NULL);
    pthread_join(ts, NULL);
    CHECK(r.ok && r.v == 9);
}

TEST_MAIN()
