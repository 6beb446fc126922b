/*
 * gm_select on one thread: ready cases, default, timeouts, nil channels,
 * closed channels, duplicate channels, fairness (chi-square), many cases.
 * Waiting selects woken by other threads are in select_threads.c.
 */
#include <math.h>
#include <time.h>

#include "gomalloc.h"
#include "chan_test.h"

static const gm_type int_type = GM_TYPE_NOPTRS(int64_t);


static gm_select_case recv_case(gm_chan *c, int64_t *v) {
    return (gm_select_case){c, GM_SELECT_RECV, v, false};
}
static gm_select_case send_case(gm_chan *c, int64_t *v) {
    return (gm_select_case){c, GM_SELECT_SEND, v, false};
}

TEST(default_when_nothing_is_ready) {
    gm_chan *a = gm_make_chan(&int_type, 0), *b = gm_make_chan(&int_type, 1);
    gm_chan_send(b, &(int64_t){1}); /* b full: a send to it is not ready */
    int64_t x = 5, y = 6;
    gm_select_case cs[] = {recv_case(a, &x), send_case(a, &y), send_case(b, &y)};
    CHECK_EQ(gm_select(cs, 3, true, -1), GM_SELECT_DEFAULT);
    CHECK_EQ(x, 5);
    CHECK_EQ(gm_chan_len(b), 1);
}

TEST(the_ready_case_proceeds) {
    gm_chan *a = gm_make_chan(&int_type, 0), *b = gm_make_chan(&int_type, 2);
    int64_t got = 0, out = 77;
    gm_select_case cs[] = {recv_case(a, &got), send_case(b, &out)};
    CHECK_EQ(gm_select(cs, 2, false, -1), 1);
    CHECK(cs[1].ok);
    CHECK_EQ(gm_chan_len(b), 1);
    gm_select_case rs[] = {recv_case(a, &got), recv_case(b, &got)};
    CHECK_EQ(gm_select(rs, 2, true, -1), 1);
    CHECK(rs[1].ok);
    CHECK_EQ(got, 77);
    CHECK_EQ(gm_chan_len(b), 0);
}

TEST(nil_channel_cases_are_never_chosen) {
    int64_t v = 0;
    gm_select_case cs[] = {recv_case(NULL, &v), send_case(NULL, &v)};
    CHECK_EQ(gm_select(cs, 2, true, -1), GM_SELECT_DEFAULT);
    CHECK_EQ(gm_select(cs, 2, false, 0), GM_SELECT_TIMEOUT);
    CHECK_EQ(gm_select(cs, 2, false, 1000000), GM_SELECT_TIMEOUT);
    gm_chan *c = gm_make_chan(&int_type, 1);
    gm_chan_send(c, &(int64_t){3});
    gm_select_case mixed[] = {recv_case(NULL, &v), recv_case(c, &v), send_case(NULL, &v)};
    for (int i = 0; i < 10; i++) {
        int r = gm_select(mixed, 3, true, -1);
        CHECK(r == 1 || r == GM_SELECT_DEFAULT);
        if (r == 1) gm_chan_send(c, &(int64_t){3});
    }
}

TEST(no_cases) {
    CHECK_EQ(gm_select(NULL, 0, true, -1), GM_SELECT_DEFAULT);
    CHECK_EQ(gm_select(NULL, 0, false, 0), GM_SELECT_TIMEOUT);
    CHECK_EQ(gm_select(NULL, 0, false, 100000), GM_SELECT_TIMEOUT);
}

TEST(timeout_when_nothing_becomes_ready) {
    gm_chan *c = gm_make_chan(&int_type, 0);
    int64_t v = 4;
    gm_select_case cs[] = {recv_case(c, &v), send_case(c, &v)};
    CHECK_EQ(gm_select(cs, 2, false, 0), GM_SELECT_TIMEOUT); /* a poll */
    double t0 = gc_now();
    CHECK_EQ(gm_select(cs, 2, false, 20 * 1000000), GM_SELECT_TIMEOUT);
    CHECK(gc_now() - t0 >= 0.019); /* not before the timeout */
    CHECK_EQ(v, 4);
    /* the select left no sudog behind: both directions are free again */
    CHECK(!gm_chan_try_send(c, &v));
    CHECK(!gm_chan_try_recv(c, &v, NULL));
    gm_chan *d = gm_make_chan(&int_type, 1);
    gm_chan_send(d, &(int64_t){8});
    gm_select_case ds[] = {recv_case(c, &v), recv_case(d, &v)};
    CHECK_EQ(gm_select(ds, 2, false, 1000), 1); /* ready: no timeout */
    CHECK_EQ(v, 8);
}

TEST(default_wins_over_a_timeout) {
    gm_chan *c = gm_make_chan(&int_type, 0);
    int64_t v;
    gm_select_case cs[] = {recv_case(c, &v)};
    CHECK_EQ(gm_select(cs, 1, true, 1000000000), GM_SELECT_DEFAULT);
}

TEST(receive_from_a_closed_channel_is_ready_with_ok_false) {
    gm_chan *c = gm_make_chan(&int_type, 0), *d = gm_make_chan(&int_type, 0);
    gm_chan_close(c);
    int64_t v = 9;
    gm_select_case cs[] = {recv_case(d, &v), recv_case(c, &v)};
    cs[1].ok = true;
    CHECK_EQ(gm_select(cs, 2, false, -1), 1);
    CHECK(!cs[1].ok);
    CHECK_EQ(v, 0);
}

static void select_send_on_closed(void) {
    gm_chan *c = gm_make_chan(&int_type, 4);
    gm_chan_close(c);
    int64_t v = 1;
    gm_select_case cs[] = {send_case(c, &v)};
    gm_select(cs, 1, true, -1);
}

TEST(select_send_on_closed_channel_is_fatal) {
    EXPECT_DEATH(select_send_on_closed(), "gomalloc: fatal error: send on closed channel");
}

static void select_bad_dir(void) {
    gm_select_case cs[] = {{gm_make_chan(&int_type, 1), 0, NULL, false}};
    gm_select(cs, 1, true, -1);
}

TEST(bad_case_direction_is_fatal) {
    EXPECT_DEATH(select_bad_dir(), "select: bad case direction");
}

TEST(same_channel_in_several_cases) {
    gm_chan *c = gm_make_chan(&int_type, 1);
    int64_t in = 0, out = 5;
    /* Empty: only the sends can proceed; full: only the receives. */
    gm_select_case cs[] = {recv_case(c, &in), send_case(c, &out), recv_case(c, &in),
                           send_case(c, &out)};
    int counts[4] = {0};
    for (int i = 0; i < 400; i++) {
        int r = gm_select(cs, 4, false, -1);
        REQUIRE(r >= 0 && r < 4);
        counts[r]++;
        if (r % 2 == 0) CHECK_EQ(in, 5);
        CHECK_EQ(gm_chan_len(c), (size_t)(r % 2));
    }
    for (int i = 0; i < 4; i++) CHECK(counts[i] > 50); /* all four take turns */
}

/* Go's fairness: with every case ready, each is chosen with probability
 * 1/n. Pearson's chi-square over many rounds; with k - 1 = 5 degrees of
 * freedom, 60 has probability below 1e-10 for a fair choice, while any
 * real bias over 60,000 rounds lands far beyond it. */
TEST(ready_cases_are_chosen_uniformly) {
    enum { K = 6, ROUNDS = 60000 };
    gm_chan *cs[K];
    gm_select_case cases[K];
    int64_t vals[K];
    for (int i = 0; i < K; i++) {
        cs[i] = gm_make_chan(&int_type, 1);
        vals[i] = i;
        if (i % 2 == 0) { /* receive cases, always a value ready */
            gm_chan_send(cs[i], &vals[i]);
            cases[i] = recv_case(cs[i], &vals[i]);
        } else { /* send cases, always room */
            cases[i] = send_case(cs[i], &vals[i]);
        }
    }
    long counts[K] = {0};
    for (int r = 0; r < ROUNDS; r++) {
        int i = gm_select(cases, K, false, -1);
        REQUIRE(i >= 0 && i < K);
        counts[i]++;
        if (i % 2 == 0) gm_chan_send(cs[i], &vals[i]); /* refill */
        else gm_chan_recv(cs[i], NULL);                /* make room */
    }
    double expect = (double)ROUNDS / K, chi2 = 0;
    for (int i = 0; i < K; i++) chi2 += pow((double)counts[i] - expect, 2) / expect;
    if (chi2 >= 60) {
        fprintf(stderr, "  chi-square %.1f, counts:", chi2);
        for (int i = 0; i < K; i++) fprintf(stderr, " %ld", counts[i]);
        fprintf(stderr, "\n");
    }
    CHECK(chi2 < 60);
}

TEST(many_cases) {
    enum { N = 200 };
    static gm_select_case cs[N];
    static int64_t vals[N];
    gm_chan *ready = gm_make_chan(&int_type, 1);
    for (int i = 0; i < N; i++) cs[i] = recv_case(gm_make_chan(&int_type, 0), &vals[i]);
    cs[137].c = ready;
    gm_chan_send(ready, &(int64_t){1234});
    CHECK_EQ(gm_select(cs, N, false, -1), 137);
    CHECK_EQ(vals[137], 1234);
    CHECK_EQ(gm_select(cs, N, false, 1000), GM_SELECT_TIMEOUT);
    CHECK_EQ(gm_select(cs, N, true, -1), GM_SELECT_DEFAULT);
}

static gm_select_case alloc_cases[3];
static void select_once(void *arg) {
    (void)arg;
    int r = gm_select(alloc_cases, 3, true, -1);
    if (r == 0) gm_chan_send(alloc_cases[0].c, alloc_cases[0].val);
    else if (r == 1) gm_chan_recv(alloc_cases[1].c, NULL);
}

TEST(select_does_not_allocate) {
    static int64_t v = 1;
    alloc_cases[0] = recv_case(gm_make_chan(&int_type, 1), &v);
    alloc_cases[1] = send_case(gm_make_chan(&int_type, 1), &v);
    alloc_cases[2] = recv_case(gm_make_chan(&int_type, 0), &v);
    gm_chan_send(alloc_cases[0].c, &v);
    CHECK(gm_allocs_per_run(1000, select_once, NULL) == 0);
}

TEST_MAIN()
