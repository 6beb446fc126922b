/*
 * gm_read_memstats is exact for threads that are not allocating right now.
 * K threads each do exactly A mallocs (every size class, some large objects)
 * and F frees, some of them of blocks another thread allocated. The memstats
 * deltas must then equal the counts exactly, in total and per size class,
 * whether the threads have exited or are still alive, parked on a barrier.
 */
#include "test.h"

#include <pthread.h>
#include <stdbool.h>

#include "gomalloc.h"

#define KiB ((size_t)1024)
#define NCLASSES GM_NUM_SIZE_CLASSES

enum {
    K = 4,      /* threads */
    A = 6000,   /* mallocs per thread */
    F = 4000,   /* frees per thread: F - X own blocks, X of the next thread's */
    X = 1500,
};

/* What the threads do, planned by the main thread. */
static size_t size_of[K][A];
static void *blk[K][A];
static uint64_t seed_used;

/* Own frees: blocks [0, F - X) of the thread itself.
 * Cross frees: blocks [A - X, A) of thread (t + 1) % K. */
static bool freed_by_plan(int t, int i) {
    (void)t;
    return i < F - X || i >= A - X;
}

static void plan(uint64_t seed) {
    seed_used = seed;
    uint64_t rng = seed;
    for (int t = 0; t < K; t++)
        for (int i = 0; i < A; i++) {
            uint64_t r = gm_test_rand(&rng);
            unsigned pick = (unsigned)(r % 100);
            r >>= 8;
            if (pick < 3) /* large: 32 KiB + 1 .. 512 KiB */
                size_of[t][i] = 32 * KiB + 1 + r % (480 * KiB);
            else if (pick < 20) /* anywhere in the small range */
                size_of[t][i] = 1 + r % (32 * KiB);
            else /* the crowded classes */
                size_of[t][i] = 1 + r % 1024;
        }
}

struct expect {
    uint64_t mallocs, frees, live_bytes, total_bytes;
    uint64_t cls_mallocs[NCLASSES], cls_frees[NCLASSES];
};

static void expect_add(struct expect *e, size_t n, bool freed) {
    gm_size_class_info info;
    if (gm_size_class_of(n, &info) != 0) return;
    e->mallocs++;
    e->total_bytes += info.size;
    e->cls_mallocs[info.size_class]++;
    if (freed) {
        e->frees++;
        e->cls_frees[info.size_class]++;
    } else {
        e->live_bytes += info.size;
    }
}

static gm_memstats read_stats(void) {
    gm_memstats s;
    memset(&s, 0, sizeof s);
    gm_read_memstats(&s);
    return s;
}

/* Compares the deltas b -> a with e; reports and returns false on mismatch. */
static bool check_deltas(const char *when, const gm_memstats *b,
                         const gm_memstats *a, const struct expect *e) {
    bool ok = true;
#define EXPECT_DELTA(what, got, want)                                          \
    do {                                                                       \
        uint64_t g_ = (got), w_ = (want);                                      \
        if (g_ != w_) {                                                        \
            fprintf(stderr, "  %s: %s delta %" PRIu64 ", want %" PRIu64        \
                    " (seed 0x%" PRIx64 ")\n", when, what, g_, w_, seed_used); \
            ok = false;                                                        \
        }                                                                      \
    } while (0)
    EXPECT_DELTA("mallocs", a->mallocs - b->mallocs, e->mallocs);
    EXPECT_DELTA("frees", a->frees - b->frees, e->frees);
    EXPECT_DELTA("heap_objects", a->heap_objects - b->heap_objects,
                 e->mallocs - e->frees);
    EXPECT_DELTA("heap_alloc", a->heap_alloc - b->heap_alloc, e->live_bytes);
    EXPECT_DELTA("total_alloc", a->total_alloc - b->total_alloc,
                 e->total_bytes);
    for (int c = 1; c < NCLASSES; c++) {
        char what[64];
        snprintf(what, sizeof what, "by_size[%d] (%u B) mallocs", c,
                 a->by_size[c].size);
        EXPECT_DELTA(what, a->by_size[c].mallocs - b->by_size[c].mallocs,
                     e->cls_mallocs[c]);
        snprintf(what, sizeof what, "by_size[%d] (%u B) frees", c,
                 a->by_size[c].size);
        EXPECT_DELTA(what, a->by_size[c].frees - b->by_size[c].frees,
                     e->cls_frees[c]);
    }
#undef EXPECT_DELTA
    return ok;
}

/* ---- Threads ------------------------------------------------------------ */

static pthread_barrier_t allocated; /* the K workers: all blocks exist */
static pthread_barrier_t parked;    /* K workers + main: work done */
static pthread_barrier_t resumed;   /* K workers + main: go on */
static bool park; /* set before the threads start */
static int alloc_failures[K];

static void alloc_all(int t) {
    for (int i = 0; i < A; i++) {
        blk[t][i] = gm_malloc(size_of[t][i]);
        if (!blk[t][i]) alloc_failures[t]++;
        else memset(blk[t][i], t + 1, size_of[t][i] < 64 ? size_of[t][i] : 64);
    }
}

static void free_planned(int t) {
    for (int i = 0; i < F - X; i++) gm_free(blk[t][i]); /* own */
    int u = (t + 1) % K;
    for (int i = A - X; i < A; i++) gm_free(blk[u][i]); /* another thread's */
}

static void *worker(void *arg) {
    int t = (int)(intptr_t)arg;
    alloc_all(t);
    pthread_barrier_wait(&allocated);
    free_planned(t);
    if (park) {
        pthread_barrier_wait(&parked);  /* main reads memstats */
        pthread_barrier_wait(&resumed);
        /* Second batch: free the thread's remaining own blocks, then
         * allocate and free a few more, then park again. */
        for (int i = F - X; i < A - X; i++) gm_free(blk[t][i]);
        for (int i = 0; i < 100; i++) {
            void *p = gm_malloc(size_of[t][i]);
            if (!p) alloc_failures[t]++;
            gm_free(p);
        }
        pthread_barrier_wait(&parked);
        pthread_barrier_wait(&resumed);
    }
    return NULL;
}

static void start_all(pthread_t *tid) {
    pthread_barrier_init(&allocated, NULL, K);
    pthread_barrier_init(&parked, NULL, K + 1);
    pthread_barrier_init(&resumed, NULL, K + 1);
    memset(alloc_failures, 0, sizeof alloc_failures);
    for (int t = 0; t < K; t++)
        if (pthread_create(&tid[t], NULL, worker, (void *)(intptr_t)t) != 0)
            abort();
}

static void destroy_barriers(void) {
    pthread_barrier_destroy(&allocated);
    pthread_barrier_destroy(&parked);
    pthread_barrier_destroy(&resumed);
}

static void expect_first_phase(struct expect *e) {
    memset(e, 0, sizeof *e);
    for (int t = 0; t < K; t++)
        for (int i = 0; i < A; i++)
            expect_add(e, size_of[t][i], freed_by_plan(t, i));
}

static int total_alloc_failures(void) {
    int n = 0;
    for (int t = 0; t < K; t++) n += alloc_failures[t];
    return n;
}

TEST(counts_are_exact_after_threads_exit) {
    plan(0x3e3e5eedull);
    struct expect e;
    expect_first_phase(&e);
    park = false;
    gm_memstats before = read_stats();
    pthread_t tid[K];
    start_all(tid);
    for (int t = 0; t < K; t++) pthread_join(tid[t], NULL);
    destroy_barriers();
    gm_memstats after = read_stats();
    REQUIRE(total_alloc_failures() == 0);
    CHECK(check_deltas("after join", &before, &after, &e));

    /* The main thread frees what is left, blocks of exited threads. */
    for (int t = 0; t < K; t++)
        for (int i = 0; i < A; i++)
            if (!freed_by_plan(t, i)) gm_free(blk[t][i]);
    gm_memstats end = read_stats();
    CHECK_EQ(end.heap_objects, before.heap_objects);
    CHECK_EQ(end.heap_alloc, before.heap_alloc);
    CHECK_EQ(end.mallocs - before.mallocs, (uint64_t)K * A);
    CHECK_EQ(end.frees - before.frees, (uint64_t)K * A);
    for (int c = 1; c < NCLASSES; c++)
        CHECK_EQ(end.by_size[c].frees - before.by_size[c].frees,
                 e.cls_mallocs[c]);
}

TEST(counts_are_exact_while_threads_are_parked) {
    plan(0x9a7c3d5eedull);
    struct expect e;
    expect_first_phase(&e);
    park = true;
    gm_memstats before = read_stats();
    pthread_t tid[K];
    start_all(tid);

    /* 1. The threads did their mallocs and frees and wait, alive. */
    pthread_barrier_wait(&parked);
    gm_memstats mid = read_stats();
    CHECK(check_deltas("threads parked", &before, &mid, &e));
    CHECK_EQ(total_alloc_failures(), 0);

    /* 2. Reading the stats changes nothing. */
    gm_memstats mid2 = read_stats();
    CHECK(check_deltas("threads parked, read again", &before, &mid2, &e));

    /* 3. They free their remaining own blocks, malloc+free 100 more each,
     * and park again. */
    struct expect e2 = e;
    for (int t = 0; t < K; t++) {
        for (int i = F - X; i < A - X; i++) {
            gm_size_class_info info;
            REQUIRE(gm_size_class_of(size_of[t][i], &info) == 0);
            e2.frees++;
            e2.cls_frees[info.size_class]++;
            e2.live_bytes -= info.size;
        }
        for (int i = 0; i < 100; i++) expect_add(&e2, size_of[t][i], true);
    }
    pthread_barrier_wait(&resumed);
    pthread_barrier_wait(&parked);
    gm_memstats mid3 = read_stats();
    CHECK(check_deltas("threads parked again", &before, &mid3, &e2));
    CHECK_EQ(total_alloc_failures(), 0);
    CHECK_EQ(mid3.heap_objects, before.heap_objects);
    CHECK_EQ(mid3.heap_alloc, before.heap_alloc);

    /* 4. Let them exit: the counts do not move when their caches go. */
    pthread_barrier_wait(&resumed);
    for (int t = 0; t < K; t++) pthread_join(tid[t], NULL);
    destroy_barriers();
    gm_memstats end = read_stats();
    CHECK(check_deltas("threads exited", &before, &end, &e2));
}

/* Blocks allocated by parked threads, freed by main while they wait. */
static void *alloc_then_park(void *arg) {
    int t = (int)(intptr_t)arg;
    alloc_all(t);
    pthread_barrier_wait(&parked);
    pthread_barrier_wait(&resumed);
    return NULL;
}

TEST(frees_by_main_of_parked_threads_blocks_are_counted_exactly) {
    plan(0x1234abcdull);
    pthread_barrier_init(&parked, NULL, K + 1);
    pthread_barrier_init(&resumed, NULL, K + 1);
    memset(alloc_failures, 0, sizeof alloc_failures);
    gm_memstats before = read_stats();
    pthread_t tid[K];
    for (int t = 0; t < K; t++)
        REQUIRE(pthread_create(&tid[t], NULL, alloc_then_park,
                               (void *)(intptr_t)t) == 0);
    pthread_barrier_wait(&parked);
    struct expect e;
    memset(&e, 0, sizeof e);
    for (int t = 0; t < K; t++)
        for (int i = 0; i < A; i++) expect_add(&e, size_of[t][i], i % 3 == 0);
    for (int t = 0; t < K; t++)
        for (int i = 0; i < A; i += 3) gm_free(blk[t][i]);
    gm_memstats mid = read_stats();
    CHECK_EQ(total_alloc_failures(), 0);
    CHECK(check_deltas("main freed while owners parked", &before, &mid, &e));
    pthread_barrier_wait(&resumed);
    for (int t = 0; t < K; t++) pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&parked);
    pthread_barrier_destroy(&resumed);
    gm_memstats after = read_stats();
    CHECK(check_deltas("owners exited", &before, &after, &e));
    for (int t = 0; t < K; t++)
        for (int i = 0; i < A; i++)
            if (i % 3) gm_free(blk[t][i]);
    gm_memstats end = read_stats();
    CHECK_EQ(end.heap_objects, before.heap_objects);
    CHECK_EQ(end.heap_alloc, before.heap_alloc);
    CHECK_EQ(end.frees - before.frees, (uint64_t)K * A);
}

TEST_MAIN()
