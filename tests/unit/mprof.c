/* The heap profiler's sampling and records (mprof.c): every allocation at
 * rate 1 with its call stack, frees found by fold, sweep, the heap and the
 * writer's reconciliation, Poisson sampling at a rate, the re-entry guard. */
#include <pthread.h>

#include "mprof.h"
#include "test.h"

#define MAXREC 4096
static gm_mprof_record recs[MAXREC];

/* Sums of the buckets of objects of `size` whose stack passes through fn
 * (a return address within the first 512 bytes of fn's code). */
typedef struct sums { uint64_t allocs, alloc_bytes, frees, free_bytes, buckets; } sums;

static sums site(void *fn, uint64_t size) {
    sums t = {0};
    size_t n = gm__mprof_records(recs, MAXREC);
    CHECK(n <= MAXREC);
    if (n > MAXREC) n = MAXREC;
    uintptr_t lo = (uintptr_t)fn;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].size != size) continue;
        bool in = false;
        for (uint32_t f = 0; f < recs[i].nstack; f++)
            in |= recs[i].stack[f] > lo && recs[i].stack[f] < lo + 512;
        if (!in) continue;
        t.allocs += recs[i].alloc_objects;
        t.alloc_bytes += recs[i].alloc_bytes;
        t.frees += recs[i].free_objects;
        t.free_bytes += recs[i].free_bytes;
        t.buckets++;
    }
    return t;
}

static void *volatile ptrs[20000];

static TEST_NOIPA void site_small(int n) {
    for (int i = 0; i < n; i++) ptrs[i] = gm_malloc(48);
}

TEST(rate_one_samples_every_allocation_with_the_callers_stack) {
    size_t old = gm_set_profile_rate(1);
    site_small(100);
    gm_set_profile_rate(0);
    sums s = site((void *)site_small, 48);
    CHECK_EQ(s.allocs, 100);
    CHECK_EQ(s.alloc_bytes, 4800);
    CHECK_EQ(s.frees, 0);
    /* One bucket, or two when the first allocation's slow path leaves its
     * own frames below the caller's (unoptimised builds). */
    CHECK(s.buckets == 1 || s.buckets == 2);
    /* Frees not yet folded are counted when the records are read. */
    for (int i = 0; i < 40; i++) gm_free(ptrs[i]);
    s = site((void *)site_small, 48);
    CHECK_EQ(s.frees, 40);
    CHECK_EQ(s.free_bytes, 40 * 48);
    /* Folding them later does not count them twice. */
    for (int i = 40; i < 100; i++) gm_free(ptrs[i]);
    for (int i = 0; i < 20000; i++) ptrs[i] = gm_malloc(48);
    for (int i = 0; i < 20000; i++) gm_free(ptrs[i]);
    s = site((void *)site_small, 48);
    CHECK_EQ(s.allocs, 100);
    CHECK_EQ(s.frees, 100);
    gm_set_profile_rate(old);
}

static TEST_NOIPA void site_large(int n) {
    for (int i = 0; i < n; i++) ptrs[i] = gm_malloc(100000);
}

TEST(large_objects_count_whole_pages_and_their_frees) {
    gm_set_profile_rate(1);
    site_large(5);
    gm_set_profile_rate(0);
    sums s = site((void *)site_large, 13 * 8192);
    CHECK_EQ(s.allocs, 5);
    CHECK_EQ(s.alloc_bytes, 5 * 13 * 8192);
    gm_free(ptrs[0]);
    gm_free(ptrs[1]);
    s = site((void *)site_large, 13 * 8192);
    CHECK_EQ(s.frees, 2);
    for (int i = 2; i < 5; i++) gm_free(ptrs[i]);
    CHECK_EQ(site((void *)site_large, 13 * 8192).frees, 5);
}

static void *remote_free_all(void *arg) {
    int n = (int)(intptr_t)arg;
    for (int i = 0; i < n; i++) gm_free(ptrs[i]);
    return NULL;
}

static TEST_NOIPA void site_remote(int n) {
    for (int i = 0; i < n; i++) ptrs[i] = gm_malloc(256);
}

TEST(frees_by_other_threads_are_counted) {
    gm_set_profile_rate(1);
    site_remote(500);
    gm_set_profile_rate(0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, remote_free_all, (void *)(intptr_t)300) == 0);
    pthread_join(th, NULL);
    sums s = site((void *)site_remote, 256);
    CHECK_EQ(s.allocs, 500);
    CHECK_EQ(s.frees, 300);
    for (int i = 300; i < 500; i++) gm_free(ptrs[i]);
    CHECK_EQ(site((void *)site_remote, 256).frees, 500);
}

static TEST_NOIPA void site_collected(int n) {
    for (int i = 0; i < n; i++) ptrs[i] = gm_new(64);
    for (int i = 0; i < 10; i++) ptrs[n + i] = gm_new_noscan(8); /* tiny */
}

TEST(collected_objects_are_freed_by_the_sweep) {
    gm_set_profile_rate(1);
    site_collected(50);
    gm_set_profile_rate(0);
    CHECK_EQ(site((void *)site_collected, 64).allocs, 50);
    CHECK_EQ(site((void *)site_collected, 8).allocs, 10); /* tiny: their own size */
    gm_gc();
    CHECK_EQ(site((void *)site_collected, 64).frees, 0); /* still referenced */
    /* Hide the pointers (and drop the stale ones of earlier tests, which
     * may point into a span reused for these objects). */
    static uintptr_t hidden[50];
    for (int i = 0; i < 50; i++) hidden[i] = ~(uintptr_t)ptrs[i];
    for (int i = 0; i < 20000; i++) ptrs[i] = NULL;
    gm_gc();
    gm_gc();
    /* The conservative stack scan may keep one or two: the profile must
     * agree with the collector object by object. */
    int live = 0;
    for (int i = 0; i < 50; i++) live += gm_is_collected((void *)~hidden[i]);
    CHECK(live <= 5);
    CHECK_EQ(site((void *)site_collected, 64).frees, 50 - live);
    uint64_t tiny_frees = site((void *)site_collected, 8).frees;
    CHECK(tiny_frees >= 4 && tiny_frees <= 10); /* the current tiny block lives on */
}

static TEST_NOIPA void site_poisson(int n) {
    for (int i = 0; i < n; i++) gm_free(gm_malloc(64));
}

TEST(sampling_at_a_rate_is_a_poisson_process_over_bytes) {
    /* 200,000 x 64 bytes at one sample per 4096 bytes: 3125 samples
     * expected, standard deviation 56. Seeded, so the run is repeatable. */
    gm__mprof_seed(12345);
    gm_set_profile_rate(4096);
    site_poisson(200000);
    gm_set_profile_rate(0);
    gm__mprof_seed(0);
    sums s = site((void *)site_poisson, 64);
    fprintf(stderr, "  %" PRIu64 " samples of 3125 expected\n", s.allocs);
    CHECK(s.allocs > 3125 - 5 * 56 && s.allocs < 3125 + 5 * 56);
    CHECK_EQ(s.frees, s.allocs);
}

TEST(rate_zero_samples_nothing) {
    gm_set_profile_rate(0);
    size_t before = gm__mprof_records(recs, 0);
    site_small(1000);
    for (int i = 0; i < 1000; i++) gm_free(ptrs[i]);
    CHECK_EQ(gm__mprof_records(recs, 0), before);
    CHECK_EQ(gm_set_profile_rate(0), 0);
}

static int hook_allocs;
static TEST_NOIPA void allocating_hook(const gm_alloc_event *ev, void *arg) {
    (void)ev;
    (void)arg;
    hook_allocs++;
    gm_free(gm_malloc(48)); /* not sampled, not hooked: no recursion */
}

static TEST_NOIPA void site_hooked(int n) {
    for (int i = 0; i < n; i++) ptrs[i] = gm_malloc(1024);
}

TEST(allocations_made_by_a_hook_are_neither_hooked_nor_sampled) {
    gm_set_profile_rate(1);
    gm_set_alloc_hook(allocating_hook, NULL);
    site_hooked(10);
    gm_set_alloc_hook(NULL, NULL);
    gm_set_profile_rate(0);
    CHECK_EQ(hook_allocs, 10);
    CHECK_EQ(site((void *)site_hooked, 1024).allocs, 10);
    CHECK_EQ(site((void *)allocating_hook, 48).allocs, 0); /* the hook's own: not sampled */
    for (int i = 0; i < 10; i++) gm_free(ptrs[i]);
}

TEST(realloc_that_moves_frees_the_sampled_block) {
    gm_set_profile_rate(1);
    site_small(1);
    gm_set_profile_rate(0);
    uint64_t frees = site((void *)site_small, 48).frees;
    void *q = gm_realloc(ptrs[0], 4000);
    REQUIRE(q);
    CHECK_EQ(site((void *)site_small, 48).frees, frees + 1);
    gm_free(q);
}

TEST(buckets_are_counted_in_memstats) {
    gm_memstats m;
    gm_read_memstats(&m);
    CHECK(m.buck_hash_sys > 0);
}

TEST_MAIN()
