/*
 * Thread lifecycle (reference §5.3). (a) 10,000 short-lived threads must not
 * make the heap grow: whatever an allocator caches per thread has to be
 * given back when the thread exits. (b) pthread key destructors that run
 * at thread exit, possibly after the allocator's own per-thread cleanup,
 * allocate and free, and leave blocks behind for the main thread.
 */
#include <stdatomic.h>

#include "conform.h"

/* ---- (a) Many short-lived threads ------------------------------------- */

enum { TOTAL_THREADS = 10000, AT_ONCE = 8, CHECKPOINT = 1000, PER_SIZE = 4 };
static const size_t RSS_GROWTH_LIMIT = 16 * MiB;

/* Several size classes, up to large blocks. */
static const size_t thread_sizes[] = {8,    16,   24,   32,    48,    64,    96,    128,  256,
                                      512,  1024, 2048, 4096,  8192,  16384, 32768, 40000,
                                      100000};

/* One small block per thread outlives it (its size cycles through the
 * first six classes), so a span is left partly used by a dead thread. */
static void *leftover[TOTAL_THREADS];
static atomic_int thread_failures;

static void *short_lived(void *arg) {
    size_t id = (uintptr_t)arg;
    void *p[COUNT_OF(thread_sizes)][PER_SIZE];
    for (size_t s = 0; s < COUNT_OF(thread_sizes); s++)
        for (int k = 0; k < PER_SIZE; k++) {
            size_t n = thread_sizes[s];
            unsigned char *b = malloc(n);
            if (!b) { atomic_fetch_add(&thread_failures, 1); p[s][k] = NULL; continue; }
            b[0] = b[n - 1] = (unsigned char)id;
            p[s][k] = b;
        }
    size_t keep = id % 6;
    leftover[id] = p[keep][0];
    if (leftover[id]) memcpy(leftover[id], &id, sizeof id);
    for (size_t s = 0; s < COUNT_OF(thread_sizes); s++)
        for (int k = 0; k < PER_SIZE; k++) {
            unsigned char *b = p[s][k];
            if (!b || (s == keep && k == 0)) continue;
            if (b[0] != (unsigned char)id || b[thread_sizes[s] - 1] != (unsigned char)id)
                atomic_fetch_add(&thread_failures, 1);
            free(b);
        }
    return NULL;
}

static void run_threads(size_t from, size_t to) {
    for (size_t i = from; i < to; i += AT_ONCE) {
        pthread_t t[AT_ONCE];
        size_t n = to - i < AT_ONCE ? to - i : AT_ONCE;
        for (size_t k = 0; k < n; k++)
            if (pthread_create(&t[k], NULL, short_lived, (void *)(i + k)) != 0) abort();
        for (size_t k = 0; k < n; k++) pthread_join(t[k], NULL);
    }
}

TEST(ten_thousand_short_lived_threads_do_not_grow_the_heap) {
    run_threads(0, CHECKPOINT);
    size_t rss_at_checkpoint = rss_bytes();
    run_threads(CHECKPOINT, TOTAL_THREADS);
    size_t rss_at_end = rss_bytes();
    size_t growth = rss_at_end > rss_at_checkpoint ? rss_at_end - rss_at_checkpoint : 0;
    printf("  RSS after %d threads %zu KiB, after %d %zu KiB\n", CHECKPOINT,
           rss_at_checkpoint / 1024, TOTAL_THREADS, rss_at_end / 1024);
    if (growth >= RSS_GROWTH_LIMIT)
        fprintf(stderr, "  RSS grew by %zu KiB over %d threads (limit %zu KiB)\n",
                growth / 1024, TOTAL_THREADS - CHECKPOINT, RSS_GROWTH_LIMIT / 1024);
    CHECK(growth < RSS_GROWTH_LIMIT);
    CHECK_EQ(atomic_load(&thread_failures), 0);
    size_t damaged = 0;
    for (size_t i = 0; i < TOTAL_THREADS; i++) {
        size_t id = SIZE_MAX;
        if (leftover[i]) memcpy(&id, leftover[i], sizeof id);
        damaged += id != i;
        free(leftover[i]);
    }
    CHECK_EQ(damaged, 0);
}

/* ---- (b) Key destructors that allocate -------------------------------- */

enum { KEY_THREADS = 300, ROUNDS = 3, BLOCKS_PER_CALL = 2 };

/* key_early exists before any thread below allocates; key_late is created
 * by main after it has allocated; key_in_thread by the first thread, after
 * that thread has allocated. Keys' destructors run in creation order, so
 * some run before and some after an allocator key created in between. */
static pthread_key_t key_early, key_late, key_in_thread;
static pthread_once_t key_in_thread_once = PTHREAD_ONCE_INIT;

/* Each destructor call leaves blocks here for main to check and free. */
static void *late_blocks[3 * KEY_THREADS * ROUNDS * BLOCKS_PER_CALL];
static atomic_int late_count;
static atomic_int destructor_calls[3];

/* A key's value: which key, and how many destructor rounds have run. */
struct key_value {
    int key;
    int round;
};
/* Set before the thread's first malloc, so not itself allocated. */
static struct key_value static_first_value = {0, 0};

static void keep_late_block(int key, int round) {
    unsigned char *b = malloc(100 + (size_t)key * 1000);
    if (!b) return;
    memset(b, 'a' + key * ROUNDS + round, 100);
    int slot = atomic_fetch_add(&late_count, 1);
    if (slot < (int)COUNT_OF(late_blocks)) late_blocks[slot] = b;
    else free(b);
}

/* Allocates and frees in several classes, leaves two blocks behind, and
 * sets a new (allocated) value for ROUNDS rounds so that glibc calls it
 * again, later in thread exit. */
static void key_destructor(void *v) {
    struct key_value kv = *(struct key_value *)v;
    if (v != &static_first_value) free(v);
    atomic_fetch_add(&destructor_calls[kv.key], 1);
    for (size_t n = 8; n <= 65536; n *= 4) {
        void *scratch = malloc(n);
        if (scratch) memset(scratch, 1, n);
        free(scratch);
    }
    for (int i = 0; i < BLOCKS_PER_CALL; i++) keep_late_block(kv.key, kv.round);
    if (kv.round + 1 >= ROUNDS) return;
    struct key_value *next = malloc(sizeof *next);
    if (!next) return;
    next->key = kv.key;
    next->round = kv.round + 1;
    pthread_key_t keys[3] = {key_early, key_late, key_in_thread};
    pthread_setspecific(keys[kv.key], next);
}

__attribute__((constructor(101))) static void create_early_key(void) {
    if (pthread_key_create(&key_early, key_destructor) != 0) abort();
}
static void create_key_in_thread(void) {
    if (pthread_key_create(&key_in_thread, key_destructor) != 0) abort();
}

static void set_value(pthread_key_t key, int which) {
    struct key_value *v = malloc(sizeof *v);
    if (!v) abort();
    v->key = which;
    v->round = 0;
    pthread_setspecific(key, v);
}

static void *thread_with_keys(void *arg) {
    (void)arg;
    pthread_setspecific(key_early, &static_first_value); /* before any malloc */
    void *first = malloc(200);
    pthread_once(&key_in_thread_once, create_key_in_thread);
    set_value(key_late, 1);
    set_value(key_in_thread, 2);
    free(first);
    return NULL;
}

TEST(key_destructors_allocate_after_thread_cleanup) {
    free(malloc(opaque(64)));
    REQUIRE(pthread_key_create(&key_late, key_destructor) == 0);
    for (int i = 0; i < KEY_THREADS; i += AT_ONCE) {
        pthread_t t[AT_ONCE];
        int n = KEY_THREADS - i < AT_ONCE ? KEY_THREADS - i : AT_ONCE;
        for (int k = 0; k < n; k++) REQUIRE(pthread_create(&t[k], NULL, thread_with_keys, NULL) == 0);
        for (int k = 0; k < n; k++) pthread_join(t[k], NULL);
    }
    for (int k = 0; k < 3; k++) CHECK_EQ(atomic_load(&destructor_calls[k]), KEY_THREADS * ROUNDS);
    int count = atomic_load(&late_count);
    CHECK_EQ(count, (int)COUNT_OF(late_blocks));
    int bad = 0;
    for (int i = 0; i < count && i < (int)COUNT_OF(late_blocks); i++) {
        const unsigned char *b = late_blocks[i];
        bad += !b || b[0] < 'a' || b[0] >= 'a' + 3 * ROUNDS || b[99] != b[0];
        free(late_blocks[i]);
    }
    CHECK_EQ(bad, 0);
}

/* Detached threads exit on their own while main keeps allocating. */
static atomic_int detached_done;

static void *detached_worker(void *arg) {
    uint64_t rng = (uintptr_t)arg;
    for (int i = 0; i < 200; i++) {
        size_t n = 1 + gm_test_rand(&rng) % 50000;
        unsigned char *p = malloc(n);
        if (p) p[n - 1] = 1;
        free(p);
    }
    atomic_fetch_add(&detached_done, 1);
    return NULL;
}

TEST(detached_threads_exit_while_main_allocates) {
    enum { N = 500 };
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (uintptr_t i = 0; i < N; i++) {
        pthread_t t;
        while (pthread_create(&t, &attr, detached_worker, (void *)(i + 1)) != 0) sched_yield();
        free(malloc(opaque(1 + i * 37 % 3000)));
    }
    pthread_attr_destroy(&attr);
    double deadline = now_seconds() + 60;
    while (atomic_load(&detached_done) < N && now_seconds() < deadline) {
        void *p = malloc(opaque(128));
        free(p);
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
    }
    CHECK_EQ(atomic_load(&detached_done), N);
}

TEST_MAIN()
