/*
 * Waiting selects and the threads that complete them: a sender or a
 * receiver on any of the channels, close, selects on both ends, and the
 * race between a timeout and a partner. Multi-threaded, hence the name
 * (label "concurrency"). Fixed seeds; no timings, only bounded waits.
 */
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "gomalloc.h"
#include "chan_test.h"

static const gm_type int_type = GM_TYPE_NOPTRS(int64_t);




static pthread_t spawn(void *(*fn)(void *), void *arg) {
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) abort();
    return t;
}

/* A select in its own thread, over K channels, all receives or all sends. */
enum { K = 3 };
struct waiting_select {
    gm_chan *c[K];
    int dir;
    int64_t timeout;
    int64_t vals[K];
    gm_select_case cases[K];
    int result;
};

static void *run_select(void *arg) {
    struct waiting_select *w = arg;
    for (int i = 0; i < K; i++)
        w->cases[i] = (gm_select_case){w->c[i], w->dir, &w->vals[i], false};
    w->result = gm_select(w->cases, K, false, w->timeout);
    return NULL;
}

static struct waiting_select *start_select(int dir, int64_t timeout, pthread_t *t) {
    struct waiting_select *w = calloc(1, sizeof *w);
    for (int i = 0; i < K; i++) {
        /* receives: caps 0, 1, 2, all empty; sends: unbuffered */
        w->c[i] = gm_make_chan(&int_type, dir == GM_SELECT_RECV ? (size_t)i : 0);
        w->vals[i] = 100 + i;
    }
    gm_add_roots(w, w + 1); /* the channels live in malloc memory */
    w->dir = dir;
    w->timeout = timeout;
    *t = spawn(run_select, w);
    for (int i = 0; i < K; i++)
        if (!wait_queued(w->c[i], dir == GM_SELECT_SEND, 1, 30)) abort();
    return w;
}

static void end_select(struct waiting_select *w, pthread_t t) {
    pthread_join(t, NULL);
    for (int i = 0; i < K; i++) { /* pass 3 took every sudog off */
        CHECK_EQ(queued(w->c[i], true), 0);
        CHECK_EQ(queued(w->c[i], false), 0);
    }
    gm_remove_roots(w, w + 1);
}

TEST(waiting_select_receives_from_whichever_channel_gets_a_sender) {
    for (int which = 0; which < K; which++) {
        pthread_t t;
        struct waiting_select *w = start_select(GM_SELECT_RECV, -1, &t);
        gm_chan_send(w->c[which], &(int64_t){which * 10});
        end_select(w, t);
        CHECK_EQ(w->result, which);
        CHECK_EQ(w->vals[which], which * 10);
        free(w);
    }
}

TEST(waiting_select_with_timeout_is_completed_by_a_partner) {
    pthread_t t;
    struct waiting_select *w = start_select(GM_SELECT_RECV, (int64_t)60 * 1000000000, &t);
    gm_chan_send(w->c[1], &(int64_t){5});
    end_select(w, t);
    CHECK_EQ(w->result, 1);
    CHECK_EQ(w->vals[1], 5);
    CHECK(w->cases[1].ok);
    CHECK_EQ(w->vals[0], 100); /* the others untouched */
    CHECK_EQ(w->vals[2], 102);
    free(w);
}

TEST(waiting_select_sends_to_whichever_channel_gets_a_receiver) {
    for (int which = 0; which < K; which++) {
        pthread_t t;
        struct waiting_select *w = start_select(GM_SELECT_SEND, -1, &t);
        int64_t v = -1;
        CHECK(gm_chan_recv(w->c[which], &v));
        CHECK_EQ(v, 100 + which);
        end_select(w, t);
        CHECK_EQ(w->result, which);
        CHECK(w->cases[which].ok);
        for (int i = 0; i < K; i++) CHECK_EQ(gm_chan_len(w->c[i]), 0);
        free(w);
    }
}

TEST(close_wakes_a_waiting_select_with_ok_false) {
    pthread_t t;
    struct waiting_select *w = start_select(GM_SELECT_RECV, -1, &t);
    w->cases[2].ok = true;
    gm_chan_close(w->c[2]);
    end_select(w, t);
    CHECK_EQ(w->result, 2);
    CHECK(!w->cases[2].ok);
    CHECK_EQ(w->vals[2], 0);
    free(w);
}

static void close_under_select_send(void) {
    pthread_t t;
    struct waiting_select *w = start_select(GM_SELECT_SEND, -1, &t);
    gm_chan_close(w->c[0]);
    pthread_join(t, NULL);
    _exit(0);
}

TEST(close_under_a_waiting_select_send_is_fatal) {
    EXPECT_DEATH(close_under_select_send(), "gomalloc: fatal error: send on closed channel");
}

/* ---- selects on both ends -------------------------------------------------- */

struct both { gm_chan *a, *b; int n; uint64_t seed; atomic_long sum; atomic_int errors; };

/* Sends 1..n, each on a or b as a select decides. */
static void *select_sender(void *arg) {
    struct both *x = arg;
    for (int64_t i = 1; i <= x->n; i++) {
        int64_t v = i;
        gm_select_case cs[] = {{x->a, GM_SELECT_SEND, &v, false},
                               {x->b, GM_SELECT_SEND, &v, false}};
        if (gm_select(cs, 2, false, -1) < 0) atomic_fetch_add(&x->errors, 1);
    }
    return NULL;
}

static void *select_receiver(void *arg) {
    struct both *x = arg;
    uint64_t rng = x->seed;
    for (int i = 0; i < x->n; i++) {
        int64_t v = 0;
        gm_select_case cs[] = {{x->a, GM_SELECT_RECV, &v, false},
                               {x->b, GM_SELECT_RECV, &v, false}};
        /* now and then with a timeout that may race with the sender */
        int64_t timeout = gm_test_rand(&rng) % 3 == 0 ? 2000 : -1;
        int r = gm_select(cs, 2, false, timeout);
        if (r == GM_SELECT_TIMEOUT) {
            i--;
            continue;
        }
        if (r < 0 || !cs[r].ok) atomic_fetch_add(&x->errors, 1);
        atomic_fetch_add(&x->sum, v);
    }
    return NULL;
}

TEST(selects_on_both_ends_pass_every_value_once) {
    size_t caps[] = {0, 1, 16};
    for (size_t k = 0; k < 3; k++) {
        int n = GC_SANITIZED ? 2000 : 20000;
        struct both x = {gm_make_chan(&int_type, caps[k]), gm_make_chan(&int_type, 0), n,
                         7 + k, 0, 0};
        pthread_t s = spawn(select_sender, &x), r = spawn(select_receiver, &x);
        pthread_join(s, NULL);
        pthread_join(r, NULL);
        long want = (long)n * (n + 1) / 2;
        if (atomic_load(&x.sum) != want) fprintf(stderr, "  seed %" PRIu64 "\n", x.seed);
        CHECK_EQ(atomic_load(&x.sum), want);
        CHECK_EQ(atomic_load(&x.errors), 0);
        CHECK_EQ(gm_chan_len(x.a), 0);
    }
}

/* A receiver that keeps timing out while a sender blocks: the timeout and
 * the partner race for select_done; a value is either taken by the select
 * or left for the next one, never lost or duplicated. */
struct racer { gm_chan *c; int n; };

static void *blocking_sender(void *arg) {
    struct racer *r = arg;
    for (int64_t i = 0; i < r->n; i++) gm_chan_send(r->c, &i);
    return NULL;
}

TEST(timeouts_racing_with_senders_lose_nothing) {
    struct racer r = {gm_make_chan(&int_type, 0), GC_SANITIZED ? 1000 : 10000};
    pthread_t t = spawn(blocking_sender, &r);
    int64_t next = 0, timeouts = 0;
    while (next < r.n) {
        int64_t v = -1;
        gm_select_case cs[] = {{r.c, GM_SELECT_RECV, &v, false}};
        int got = gm_select(cs, 1, false, (next % 7) * 300);
        if (got == GM_SELECT_TIMEOUT) {
            timeouts++;
            continue;
        }
        REQUIRE(got == 0);
        if (v != next) {
            CHECK_EQ(v, next);
            break;
        }
        next++;
    }
    pthread_join(t, NULL);
    CHECK_EQ(next, r.n);
    printf("  (%" PRId64 " timeouts)\n", timeouts);
}

TEST_MAIN()
