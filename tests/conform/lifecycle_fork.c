/*
 * fork() in a multi-threaded program (reference §5.3): while four threads
 * keep allocating and freeing, the main thread (and, later, a secondary
 * thread) forks 200 times. Each child must be able to allocate and free at
 * once, from its only thread and from a thread it starts, and free blocks
 * its parent allocated before the fork. A child that has not exited after
 * 10 s is taken to be deadlocked on an allocator lock held at fork time.
 */
#include <stdatomic.h>

#include "conform.h"

enum { CHURNERS = 4, RING = 64, FORKS = 200, INHERITED = 32 };
static const double CHILD_TIMEOUT = 10;

static atomic_int stop_churn;
static atomic_long churn_ops;

/* Mostly small, some medium, 1% large (up to 4 MiB). */
static size_t random_size(uint64_t *rng) {
    uint64_t r = gm_test_rand(rng);
    if (r % 100 == 0) return 32769 + (r >> 8) % (4 * MiB);
    if (r % 10 == 0) return 1025 + (r >> 8) % 31744;
    return 1 + (r >> 8) % 1024;
}

/* Writes a pattern into the head and the last byte; checking that much is
 * enough to catch a block handed out twice, and keeps 4 MiB blocks cheap. */
static void mark(unsigned char *p, size_t n, uint64_t seed) {
    fill(p, n < 256 ? n : 256, seed);
    p[n - 1] = pattern_byte(seed, n - 1);
}
static int marked(const unsigned char *p, size_t n, uint64_t seed) {
    return bad_offset(p, n < 256 ? n : 256, seed) == SIZE_MAX &&
           p[n - 1] == pattern_byte(seed, n - 1);
}

static void *churn(void *arg) {
    uint64_t rng = (uintptr_t)arg;
    void *ring[RING] = {0};
    while (!atomic_load_explicit(&stop_churn, memory_order_relaxed)) {
        size_t slot = gm_test_rand(&rng) % RING, n = random_size(&rng);
        free(ring[slot]);
        ring[slot] = malloc(n);
        if (ring[slot]) mark(ring[slot], n, n);
        atomic_fetch_add_explicit(&churn_ops, 1, memory_order_relaxed);
    }
    for (int i = 0; i < RING; i++) free(ring[i]);
    return NULL;
}

/* ---- What a child does -------------------------------------------------- */

/* Blocks the parent allocates before each fork, for the child to free. */
static void *inherited[INHERITED];
static size_t inherited_size[INHERITED];

/* Allocation work in the child: 0 if every block came back intact. */
static int allocate_in_child(uint64_t seed) {
    enum { LIVE = 128 };
    void *p[LIVE];
    size_t n[LIVE];
    uint64_t rng = seed;
    int bad = 0;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < LIVE; i++) {
            n[i] = random_size(&rng);
            p[i] = i % 3 ? malloc(n[i]) : calloc(1, n[i]);
            if (!p[i]) { bad = 1; continue; }
            if (i % 3 == 0) bad |= nonzero_offset(p[i], n[i] < 4096 ? n[i] : 4096) != SIZE_MAX;
            mark(p[i], n[i], seed + (uint64_t)i);
        }
        for (int i = 0; i < LIVE; i++) {
            if (p[i] && !marked(p[i], n[i], seed + (uint64_t)i)) bad = 1;
            free(p[i]);
        }
    }
    return bad;
}

static void *allocate_in_child_thread(void *seed) {
    return (void *)(uintptr_t)allocate_in_child((uintptr_t)seed);
}

static int free_inherited_blocks(void) {
    int bad = 0;
    for (int i = 0; i < INHERITED; i++) {
        bad |= !marked(inherited[i], inherited_size[i], (uint64_t)i);
        free(inherited[i]);
    }
    return bad;
}

static int fork_and_check(uint64_t seed, int nested);

static int child_main(uint64_t seed, int nested) {
    int bad = allocate_in_child(seed);
    pthread_t t;
    if (pthread_create(&t, NULL, allocate_in_child_thread, (void *)(uintptr_t)(seed + 1)) != 0)
        return 2;
    void *r = NULL;
    pthread_join(t, &r);
    bad |= r != NULL;
    if (nested) bad |= fork_and_check(seed + 2, 0) != 0; /* a grandchild */
    bad |= free_inherited_blocks();
    return bad;
}

/* Forks a child running child_main. 0 if it exited 0; -1 if it hung (it is
 * then killed); otherwise its exit code, or 128 + the signal that killed it. */
static int fork_and_check(uint64_t seed, int nested) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return 3;
    if (pid == 0) _exit(child_main(seed, nested));
    int st = 0;
    if (wait_with_timeout(pid, CHILD_TIMEOUT, &st) != 0) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- The parent --------------------------------------------------------- */

static void allocate_inherited(uint64_t seed) {
    uint64_t rng = seed;
    for (int i = 0; i < INHERITED; i++) {
        inherited_size[i] = random_size(&rng);
        inherited[i] = malloc(inherited_size[i]);
        if (!inherited[i]) abort();
        mark(inherited[i], inherited_size[i], (uint64_t)i);
    }
}

static void start_churn(pthread_t *t) {
    atomic_store(&stop_churn, 0);
    for (uintptr_t i = 0; i < CHURNERS; i++)
        if (pthread_create(&t[i], NULL, churn, (void *)(i + 1)) != 0) abort();
}

static void stop_and_join_churn(pthread_t *t) {
    atomic_store(&stop_churn, 1);
    for (int i = 0; i < CHURNERS; i++) pthread_join(t[i], NULL);
}

/* Forks `count` times; stops at the first hung child, since every later
 * one would likely hang as well. Returns the number of failed forks. */
static int fork_repeatedly(int count, uint64_t seed, int nested_at) {
    int failed = 0;
    for (int i = 0; i < count; i++) {
        allocate_inherited(seed + (uint64_t)i);
        int r = fork_and_check(seed + (uint64_t)i * 3, i == nested_at);
        if (r == -1) {
            fprintf(stderr, "  fork %d: child still running after %.0f s: deadlock\n", i,
                    CHILD_TIMEOUT);
            return failed + 1;
        }
        if (r != 0) {
            fprintf(stderr, "  fork %d%s: child exit status %d\n", i,
                    i == nested_at ? " (with a grandchild)" : "", r);
            failed++;
        }
        for (int k = 0; k < INHERITED; k++) free(inherited[k]);
    }
    return failed;
}

TEST(fork_200_times_while_4_threads_allocate) {
    pthread_t t[CHURNERS];
    start_churn(t);
    long before = atomic_load(&churn_ops);
    CHECK_EQ(fork_repeatedly(FORKS, 1000, FORKS / 2), 0);
    long during = atomic_load(&churn_ops) - before;
    stop_and_join_churn(t);
    CHECK(during > 0); /* the threads really were allocating meanwhile */
}

static void *fork_from_here(void *arg) {
    (void)arg;
    return (void *)(uintptr_t)fork_repeatedly(20, 5000, -1);
}

TEST(fork_from_a_secondary_thread_while_others_allocate) {
    pthread_t t[CHURNERS];
    start_churn(t);
    CHECK(gm_test_run_in_thread(fork_from_here, NULL) == NULL);
    stop_and_join_churn(t);
}

/* A hung parent (fork itself deadlocking) ends the run instead of waiting
 * for ctest's timeout; SIGALRM's default action kills the process. */
__attribute__((constructor)) static void watchdog(void) { alarm(240); }

TEST_MAIN()
