/*
 * Thread churn: 2,000 short-lived threads (at most WAVE alive at a time),
 * each allocating and freeing a few hundred objects of many size classes and
 * leaving exactly one object alive, which the main thread verifies and frees
 * after the thread has exited. The heap must return to its baseline, and the
 * per-thread caches of exited threads must be reused: mcache memory after
 * 2,000 threads is no larger than after 200.
 */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "gomalloc.h"

#define KiB ((size_t)1024)

enum {
    NTHREADS = 2000,
    CHECKPOINT = 200, /* compare mcache stats here and at the end */
    WAVE = 8,         /* threads alive at once */
    PER_THREAD = 300, /* allocations per thread, one of which stays alive */
    HELD = 64,        /* blocks a thread holds at most at once */
};
#define SEED 0xc4a7ull

struct kept {
    unsigned char *p;
    size_t n;
    int thread;
};
static struct kept kept[NTHREADS];
static atomic_int failures;

static unsigned char pat(int thread, size_t i) {
    return (unsigned char)((unsigned)thread * 131u + i * 7u + 1u);
}

static size_t pick_size(uint64_t *rng) {
    uint64_t r = gm_test_rand(rng);
    unsigned b = (unsigned)(r % 100);
    r >>= 8;
    if (b < 2) return 32 * KiB + 1 + r % (200 * KiB); /* large */
    if (b < 15) return 1 + r % (32 * KiB);
    return 1 + r % 512;
}

static void fail(int thread, const char *what, size_t n) {
    if (atomic_fetch_add(&failures, 1) < 10)
        fprintf(stderr, "  thread %d (seed 0x%llx): %s, size %zu\n", thread,
                (unsigned long long)SEED, what, n);
}

/* Every thread of a wave holds its cache at the same time as the others,
 * so the peak number of caches is the same in every wave. */
static pthread_barrier_t wave_barrier;

static void *churn(void *arg) {
    int id = (int)(intptr_t)arg;
    uint64_t rng = SEED ^ ((uint64_t)id << 20);
    struct { unsigned char *p; size_t n; } held[HELD];
    memset(held, 0, sizeof held);
    void *first = gm_malloc(16);
    if (!first) fail(id, "malloc failed", 16);
    pthread_barrier_wait(&wave_barrier);
    gm_free(first);
    int keep_at = (int)(gm_test_rand(&rng) % PER_THREAD);
    for (int k = 0; k < PER_THREAD; k++) {
        size_t n = pick_size(&rng);
        unsigned char *p = gm_malloc(n);
        if (!p) { fail(id, "malloc failed", n); continue; }
        memset(p, (int)(n & 0xff), n < 256 ? n : 256);
        p[n - 1] = (unsigned char)n;
        if (k == keep_at) {
            for (size_t i = 0; i < n; i++) p[i] = pat(id, i);
            kept[id].p = p;
            kept[id].n = n;
            kept[id].thread = id;
            continue;
        }
        int slot = (int)(gm_test_rand(&rng) % HELD);
        if (held[slot].p) {
            size_t m = held[slot].n;
            if (held[slot].p[m - 1] != (unsigned char)m ||
                held[slot].p[0] != (unsigned char)m)
                fail(id, "block corrupted before free", m);
            gm_free(held[slot].p);
        }
        held[slot].p = p;
        held[slot].n = n;
    }
    for (int s = 0; s < HELD; s++) gm_free(held[s].p);
    return NULL;
}

static void run_threads(int from, int to) {
    for (int i = from; i < to; i += WAVE) {
        pthread_t tid[WAVE];
        int n = to - i < WAVE ? to - i : WAVE;
        pthread_barrier_init(&wave_barrier, NULL, (unsigned)n);
        for (int k = 0; k < n; k++)
            if (pthread_create(&tid[k], NULL, churn, (void *)(intptr_t)(i + k))) {
                /* the wave's barrier would wait forever */
                fprintf(stderr, "  pthread_create failed for thread %d\n", i + k);
                abort();
            }
        for (int k = 0; k < n; k++) pthread_join(tid[k], NULL);
        pthread_barrier_destroy(&wave_barrier);
    }
}

TEST(exited_threads_leave_no_objects_and_their_caches_are_reused) {
    /* Give the main thread its cache before the baseline. */
    void *warm = gm_malloc(64);
    REQUIRE(warm != NULL);
    gm_free(warm);
    gm_memstats base, at200, at2000, end;
    gm_read_memstats(&base);

    run_threads(0, CHECKPOINT);
    gm_read_memstats(&at200);
    run_threads(CHECKPOINT, NTHREADS);
    gm_read_memstats(&at2000);

    CHECK_EQ(atomic_load(&failures), 0);
    /* One object per thread is still alive. */
    CHECK_EQ(at2000.heap_objects - base.heap_objects, NTHREADS);
    CHECK_EQ(at2000.mallocs - base.mallocs,
             (uint64_t)NTHREADS * (PER_THREAD + 1));
    CHECK_EQ(at2000.frees - base.frees, (uint64_t)NTHREADS * PER_THREAD);

    printf("mcache inuse/sys: base %ju/%ju, after %d threads %ju/%ju, after "
           "%d threads %ju/%ju\n", (uintmax_t)base.mcache_inuse,
           (uintmax_t)base.mcache_sys, CHECKPOINT,
           (uintmax_t)at200.mcache_inuse, (uintmax_t)at200.mcache_sys,
           NTHREADS, (uintmax_t)at2000.mcache_inuse,
           (uintmax_t)at2000.mcache_sys);
    CHECK(base.mcache_inuse > 0);   /* the main thread has a cache */
    CHECK(at200.mcache_sys > 0);
    CHECK(at2000.mcache_inuse <= at200.mcache_inuse);
    CHECK(at2000.mcache_sys <= at200.mcache_sys);

    /* The survivors are intact; the main thread frees them. */
    size_t bad = 0;
    uint64_t kept_bytes = 0;
    for (int t = 0; t < NTHREADS; t++) {
        if (!kept[t].p) { bad++; continue; }
        for (size_t i = 0; i < kept[t].n; i++)
            if (kept[t].p[i] != pat(t, i)) {
                if (bad < 5)
                    fprintf(stderr, "  object kept by thread %d: byte %zu of "
                            "%zu changed after the thread exited\n", t, i,
                            kept[t].n);
                bad++;
                break;
            }
        gm_size_class_info info;
        if (gm_size_class_of(kept[t].n, &info) == 0) kept_bytes += info.size;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(at2000.heap_alloc - base.heap_alloc, kept_bytes);
    for (int t = 0; t < NTHREADS; t++) gm_free(kept[t].p);

    gm_read_memstats(&end);
    CHECK_EQ(end.heap_objects, base.heap_objects);
    CHECK_EQ(end.heap_alloc, base.heap_alloc);
    CHECK_EQ(end.mallocs - base.mallocs, end.frees - base.frees);
    CHECK(end.mcache_inuse <= at200.mcache_inuse);
}

TEST_MAIN()
