/* The heap profiler under threads: four threads allocate, free each
 * other's blocks and collect while a fifth writes profiles and reads the
 * records over and over. At the end every sampled malloc'd block was freed
 * and the records must say so exactly: each free counted once, whichever
 * way it was found (fold, remote fold, span free, the writer). Seed fixed:
 * the threads' choices come from rand_r with seeds 1..4. */
#include <fcntl.h>
#include <pthread.h>

#include "mprof.h"
#include "test.h"

#define NTHREADS 4
#define ROUNDS 60000
#define SLOTS 256
/* Collected objects of a size no malloc here asks for (25 pages). */
#define COLLECTED 200000

static void *volatile shared[NTHREADS][SLOTS]; /* any thread may free another's */
static int stop_writer;

static void *mutator(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        int t = (int)(rand_r(&seed) % NTHREADS), j = (int)(rand_r(&seed) % SLOTS);
        void *p = __atomic_exchange_n(&shared[t][j], NULL, __ATOMIC_ACQ_REL);
        gm_free(p);
        size_t size = rand_r(&seed) % 8 == 0 ? 40000 + rand_r(&seed) % 100000
                                               : 1 + rand_r(&seed) % 2000;
        p = gm_malloc(size);
        if (!p) abort();
        p = __atomic_exchange_n(&shared[(int)(seed % NTHREADS)][j], p, __ATOMIC_ACQ_REL);
        gm_free(p);
        if (i % 2000 == 0) gm_keep_alive(gm_new(COLLECTED)); /* and cycles */
        if (i % 20000 == 0) gm_gc();
    }
    return NULL;
}

static gm_mprof_record recs[1 << 16];

static void *writer(void *arg) {
    (void)arg;
    int fd = open("/dev/null", O_WRONLY);
    while (!__atomic_load_n(&stop_writer, __ATOMIC_ACQUIRE)) {
        gm_write_heap_profile(fd);
        gm__mprof_records(recs, sizeof recs / sizeof recs[0]);
    }
    close(fd);
    return NULL;
}

TEST(every_sampled_free_is_counted_once_under_threads) {
    gm_set_profile_rate(4096);
    pthread_t th[NTHREADS], w;
    REQUIRE(pthread_create(&w, NULL, writer, NULL) == 0);
    for (int i = 0; i < NTHREADS; i++)
        REQUIRE(pthread_create(&th[i], NULL, mutator, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    __atomic_store_n(&stop_writer, 1, __ATOMIC_RELEASE);
    pthread_join(w, NULL);
    gm_set_profile_rate(0);
    for (int t = 0; t < NTHREADS; t++)
        for (int j = 0; j < SLOTS; j++) gm_free(shared[t][j]);
    size_t n = gm__mprof_records(recs, sizeof recs / sizeof recs[0]);
    REQUIRE(n <= sizeof recs / sizeof recs[0]);
    uint64_t allocs = 0, frees = 0, collected = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(recs[i].free_objects <= recs[i].alloc_objects);
        CHECK_EQ(recs[i].alloc_bytes, recs[i].alloc_objects * recs[i].size);
        CHECK_EQ(recs[i].free_bytes, recs[i].free_objects * recs[i].size);
        if (recs[i].size == 25 * 8192) { /* gm_new's: left to the collector */
            collected += recs[i].alloc_objects - recs[i].free_objects;
            continue;
        }
        allocs += recs[i].alloc_objects;
        frees += recs[i].free_objects;
    }
    fprintf(stderr, "  %" PRIu64 " sampled blocks, %" PRIu64 " collected still live\n", allocs,
            collected);
    CHECK(allocs > 1000);
    CHECK_EQ(frees, allocs);
}

TEST_MAIN()
