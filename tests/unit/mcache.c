/* Per-thread caches: consecutive allocations come from one span, a thread's
 * own frees are folded back at refill, owned-full spans are claimed back by
 * their owner or moved to the mcentral by a remote free, and a thread's exit
 * returns its spans and its cache. */
#include <pthread.h>

#include "internal.h"
#include "test.h"

static void *consecutive(void *arg) {
    (void)arg;
    char *p[46]; /* one span of 176-byte objects */
    long ok = 1;
    for (int i = 0; i < 46; i++) p[i] = gm_malloc(176);
    for (int i = 1; i < 46; i++) ok &= p[i] == p[i - 1] + 176;
    for (int i = 0; i < 46; i++) gm_free(p[i]);
    return (void *)ok;
}

TEST(fresh_thread_allocates_consecutive_slots_of_one_span) {
    CHECK(gm_test_run_in_thread(consecutive, NULL) == (void *)1);
}

static void *refill_reuses(void *arg) {
    (void)arg;
    gm_size_class_info ci;
    gm_size_class_of(1280, &ci); /* 6 objects per span */
    void *p[6];
    for (int i = 0; i < 6; i++) p[i] = gm_malloc(1280);
    gm_free(p[2]);
    gm_free(p[4]);
    /* The span is exhausted: the next two allocations fold it and reuse the
     * freed slots, lowest first, before any new span is taken. */
    void *a = gm_malloc(1280), *b = gm_malloc(1280);
    long ok = a == p[2] && b == p[4];
    gm_free(a);
    gm_free(b);
    for (int i = 0; i < 6; i++) if (i != 2 && i != 4) gm_free(p[i]);
    return (void *)ok;
}

TEST(exhausted_span_is_folded_before_a_new_span_is_taken) {
    CHECK(gm_test_run_in_thread(refill_reuses, NULL) == (void *)1);
}

static void *owned_full_claimed(void *arg) {
    (void)arg;
    void *p[12], *q[12];
    for (int i = 0; i < 12; i++) p[i] = gm_malloc(640);  /* 12 per span: first span full */
    for (int i = 0; i < 12; i++) q[i] = gm_malloc(640);  /* second span active */
    gm_span_info info;
    gm_span_inspect(p[0], &info);
    long ok = info.state == GM_SPAN_OWNED;
    gm_free(p[7]); /* owner frees into its owned-full span: claimed back */
    gm_span_inspect(p[0], &info);
    ok &= info.state == GM_SPAN_OWNED && (info.freed_bits[0] >> 7 & 1);
    void *r = gm_malloc(640); /* second span exhausted: reuse p[7] */
    ok &= r == p[7];
    gm_free(r);
    for (int i = 0; i < 12; i++) {
        if (i != 7) gm_free(p[i]);
        gm_free(q[i]);
    }
    return (void *)ok;
}

TEST(owner_free_claims_owned_full_span_back) {
    CHECK(gm_test_run_in_thread(owned_full_claimed, NULL) == (void *)1);
}

static void *fill_spans(void *arg) {
    void **p = arg;
    for (int i = 0; i < 24; i++) p[i] = gm_malloc(704); /* 11 per span */
    return NULL;
}

TEST(remote_free_moves_owned_full_span_to_central_partial) {
    void *p[24];
    gm_test_run_in_thread(fill_spans, p);
    gm_span_info info;
    gm_span_inspect(p[0], &info); /* first span: owned-full, left tagged at exit */
    CHECK_EQ(info.state, GM_SPAN_OWNED);
    gm_free(p[3]); /* a remote free: we never owned it */
    gm_span_inspect(p[0], &info);
    CHECK_EQ(info.state, GM_SPAN_PARTIAL);
    CHECK((info.freed_bits[0] >> 3) & 1);
    for (int i = 0; i < 24; i++) if (i != 3) gm_free(p[i]);
}

static void *fill_exactly_one_span(void *arg) {
    void **p = arg;
    for (int i = 0; i < 11; i++) p[i] = gm_malloc(704);
    return NULL;
}

TEST(remote_free_moves_central_full_span_to_partial) {
    void *p[11];
    gm_test_run_in_thread(fill_exactly_one_span, p); /* exit uncaches a span with no free slot */
    gm_span_info info;
    gm_span_inspect(p[0], &info);
    CHECK_EQ(info.state, GM_SPAN_FULL);
    gm_free(p[10]);
    gm_span_inspect(p[0], &info);
    CHECK_EQ(info.state, GM_SPAN_PARTIAL);
    for (int i = 0; i < 10; i++) gm_free(p[i]);
}

static void *fill_and_wait(void *arg) {
    void **p = arg;
    for (int i = 0; i < 24; i++) p[i] = gm_malloc(640);
    /* first span is owned-full by this thread; hand back control */
    return NULL;
}

TEST(thread_exit_returns_caches_for_reuse) {
    void *p[24];
    gm_test_run_in_thread(fill_and_wait, p);
    gm_memstats m0, m1;
    gm_read_memstats(&m0);
    for (int i = 0; i < 20; i++) gm_test_run_in_thread(fill_and_wait, p + 0), gm_free(p[0]);
    gm_read_memstats(&m1);
    CHECK_EQ(m1.mcache_inuse, m0.mcache_inuse);
    CHECK(m1.mcache_sys == m0.mcache_sys);
}

static void *alloc_n(void *arg) {
    long n = (long)arg;
    for (long i = 0; i < n; i++) gm_free(gm_malloc(48));
    return NULL;
}

TEST(exited_thread_counts_are_kept) {
    gm_memstats m0, m1;
    gm_read_memstats(&m0);
    gm_test_run_in_thread(alloc_n, (void *)1000L);
    gm_read_memstats(&m1);
    CHECK_EQ(m1.by_size[5].mallocs - m0.by_size[5].mallocs, 1000);
    CHECK_EQ(m1.by_size[5].frees - m0.by_size[5].frees, 1000);
}

TEST_MAIN()
