/*
 * fork() while other threads allocate: the child must never deadlock, must
 * allocate and free normally (also from a new thread), and must get the
 * dead threads' caches back (their spans returned, as at thread exit).
 */
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gomalloc.h"

enum { WORKERS = 3, FORKS = 150, SLOTS = 256 };
#define SEED 0xf0f0ull

static atomic_int stop, started;

static void *churn(void *arg) {
    atomic_fetch_add(&started, 1);
    uint64_t rng = SEED + (uint64_t)(intptr_t)arg;
    void *slot[SLOTS] = {0};
    while (!atomic_load(&stop)) {
        uint64_t r = gm_test_rand(&rng);
        int i = (int)(r % SLOTS);
        gm_free(slot[i]);
        size_t n = (r >> 8) % ((r >> 40) % 16 == 0 ? 200000 : 3000);
        slot[i] = gm_malloc(n);
        if (slot[i]) memset(slot[i], (int)i, n < 64 ? n : 64);
    }
    for (int i = 0; i < SLOTS; i++) gm_free(slot[i]);
    return NULL;
}

/* The child: allocate from this thread and a new one; report through the
 * exit status. alarm() turns a deadlock into a failure. */
static void child(void) {
    alarm(20);
    void *p[500];
    for (int i = 0; i < 500; i++) {
        p[i] = gm_malloc((size_t)i * 61);
        if (!p[i] && i) _exit(2);
    }
    for (int i = 0; i < 500; i++) gm_free(p[i]);
    atomic_store(&stop, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, churn, (void *)1) != 0) _exit(3);
    usleep(1000);
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    /* Only this thread's cache (and the new thread's, retired) remain. */
    gm_memstats m;
    gm_read_memstats(&m);
    _exit(m.mcache_inuse <= 2 * 8192 ? 0 : 4);
}

TEST(fork_while_threads_allocate) {
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        REQUIRE(pthread_create(&t[i], NULL, churn, (void *)(intptr_t)(i + 2)) == 0);
    /* Fork only once the workers run: a thread still starting may hold the
     * C library's or a sanitizer's allocator lock (ASan's thread start
     * calls calloc), which the child would inherit locked. */
    while (atomic_load(&started) < WORKERS) sched_yield();
    for (int k = 0; k < FORKS; k++) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) child();
        int st;
        REQUIRE(waitpid(pid, &st, 0) == pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "  fork %d: child status %#x\n", k, st);
            CHECK(0);
            break;
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
}

TEST_MAIN()
