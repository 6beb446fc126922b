/*
 * fork() while registered threads allocate collected objects and
 * collections run (automatic ones, and gm_gc from a worker). 50 times, the
 * child, whose only thread is the one that forked, must: find intact a
 * chain of objects the parent built before forking; allocate with gm_new;
 * collect with gm_gc (not waiting for the parent's threads, which do not
 * exist in the child) and keep what it references; run a finalizer; start
 * a registered thread that allocates and collects; and exit 0. A child
 * still running after 30 s is deadlocked (killed by alarm).
 */
#include <pthread.h>

#include "gc_test.h"

enum { WORKERS = 3, FORKS = 50, RING = 64, CHAIN = 1000, CHILD_OBJS = 1000 };
#define SEED 0xf02cull

struct lnode {
    struct lnode *next;
    uint64_t v;
    uint64_t check;
};

static uint64_t val(uint64_t seed, uint64_t i) {
    return ((seed + i) * 0x9E3779B97F4A7C15ull) | (1ull << 63);
}

static struct lnode *build(uint64_t seed, int n) {
    struct lnode *head = NULL;
    for (int i = 0; i < n; i++) {
        struct lnode *l = gm_new(sizeof *l);
        if (!l) return NULL;
        l->v = val(seed, (uint64_t)i);
        l->check = ~l->v;
        l->next = head;
        head = l;
    }
    return head;
}

/* 1 if list is build(seed, n). */
static int intact(const struct lnode *l, uint64_t seed, int n) {
    for (int i = n - 1; i >= 0; i--, l = l->next)
        if (!l || l->v != val(seed, (uint64_t)i) || l->check != ~l->v) return 0;
    return l == NULL;
}

static atomic_int stop;
static atomic_long worker_errors;
static struct lnode *volatile inherited;

static void *churn(void *arg) {
    int id = (int)(intptr_t)arg;
    uint64_t rng = SEED + (uint64_t)id;
    struct lnode *ring[RING] = {0};
    uint64_t seeds[RING] = {0};
    int lens[RING] = {0};
    long it = 0;
    while (!atomic_load(&stop)) {
        uint64_t r = gm_test_rand(&rng);
        int i = (int)(r % RING);
        if (ring[i] && !intact(ring[i], seeds[i], lens[i])) atomic_fetch_add(&worker_errors, 1);
        seeds[i] = r;
        lens[i] = 1 + (int)((r >> 16) % 60);
        ring[i] = build(seeds[i], lens[i]);
        if (!ring[i]) atomic_fetch_add(&worker_errors, 1);
        (void)gc_launder(gm_new_noscan((r >> 40) % 5000 + 1)); /* garbage */
        if (id == 0 && ++it % 300 == 0) gm_gc();
    }
    for (int i = 0; i < RING; i++)
        if (ring[i] && !intact(ring[i], seeds[i], lens[i])) atomic_fetch_add(&worker_errors, 1);
    return NULL;
}

static atomic_int child_fin;

GC_NOINLINE static void child_garbage_with_finalizer(void) {
    void *p = gm_new(64);
    if (p) gm_set_finalizer(p, gc_count_fin, &child_fin);
}

static void *child_thread(void *arg) {
    (void)arg;
    struct lnode *l = build(77, 500);
    gm_gc();
    return (void *)(intptr_t)(l && intact(l, 77, 500));
}

/* Exit codes: 2 inherited chain, 3 allocation, 4 own objects after gm_gc,
 * 5 finalizer, 6 thread, 7 inherited chain after collections. */
static void child(void) {
    alarm(30);
    if (!intact(inherited, SEED, CHAIN)) _exit(2);
    void *objs[CHILD_OBJS];
    for (int i = 0; i < CHILD_OBJS; i++) {
        objs[i] = gm_new(16 + (size_t)i % 300);
        if (!objs[i]) _exit(3);
        gc_fill(objs[i], 16 + (size_t)i % 300, (uint64_t)i);
    }
    gm_gc();
    for (int i = 0; i < 20000; i++) (void)gc_launder(gm_new(16 + (size_t)i % 300));
    gm_gc();
    for (int i = 0; i < CHILD_OBJS; i++)
        if (!gc_check(objs[i], 16 + (size_t)i % 300, (uint64_t)i)) _exit(4);
    atomic_store(&child_fin, 0);
    child_garbage_with_finalizer();
    gc_clear_stack();
    if (!gc_wait_count(&child_fin, 1, 10)) _exit(5);
    pthread_t t;
    void *ok = NULL;
    if (gm_pthread_create(&t, NULL, child_thread, NULL) != 0) _exit(6);
    pthread_join(t, &ok);
    if (!ok) _exit(6);
    if (!intact(inherited, SEED, CHAIN)) _exit(7);
    _exit(0);
}

static int wait_child(pid_t pid, double seconds, int *status) {
    double end = gc_now() + seconds;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) return 0;
        if (r < 0 && errno != EINTR) return -1;
        if (gc_now() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return -1;
        }
        gc_sleep_ms(1);
    }
}

TEST(fork_while_registered_threads_allocate_and_collect) {
    inherited = build(SEED, CHAIN);
    REQUIRE(inherited != NULL);
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        REQUIRE(gm_pthread_create(&t[i], NULL, churn, (void *)(intptr_t)i) == 0);
    gc_sleep_ms(20);
    int failed = 0;
    for (int k = 0; k < FORKS && !failed; k++) {
        fflush(NULL);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) child();
        int st = 0;
        if (wait_child(pid, GC_SANITIZED ? 300 : 60, &st) != 0 || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0) {
            fprintf(stderr, "  fork %d: child status %#x (%s %d)\n", k, st,
                    WIFEXITED(st) ? "exit" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? WTERMSIG(st) : -1);
            failed = 1;
        }
        if (k % 10 == 9) gm_gc();
        gc_sleep_ms(2);
    }
    CHECK(!failed);
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
    CHECK_EQ(atomic_load(&worker_errors), 0);
    CHECK(intact(inherited, SEED, CHAIN));
    inherited = NULL;
}

TEST_MAIN()
