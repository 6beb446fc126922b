/*
 * Stopping the world with threads in awkward places: blocked in a system
 * call (its stack is still a root, and the collection does not wait for
 * the call to return), exiting while collections run, and running a
 * signal handler that allocates collected memory with the collector's
 * signal blocked. Each case is bounded by alarm(): a deadlock fails it.
 */
#include <pthread.h>
#include <signal.h>

#include "gc_test.h"

enum { OBJ = 160 };

/* ---- A thread blocked in read() ------------------------------------------ */

struct blocked {
    int fd;
    atomic_int *fin;
    atomic_int ready;
    int ok;
};

GC_NOINLINE static void read_holding(struct blocked *b, void *obj) {
    void *volatile local = obj;
    obj = NULL;
    gc_clear_stack();
    atomic_store(&b->ready, 1);
    char c;
    while (read(b->fd, &c, 1) < 0 && errno == EINTR) {
    }
    b->ok = gc_check(local, OBJ, 51);
    local = NULL;
}

static void *blocked_main(void *arg) {
    struct blocked *b = arg;
    read_holding(b, gc_unhide(gc_make_hidden(OBJ, 51, b->fin)));
    gc_clear_stack();
    return NULL;
}

/* Under TSan this thread would never stop (GC_TSAN, gc_test.h). */

TEST(thread_blocked_in_read_is_stopped_and_its_stack_is_a_root) {
    static atomic_int fin;
#ifdef GC_TSAN
    printf("  (skipped under TSan: signals wait for blocking calls to return)\n");
    return;
#endif
    alarm(GC_SANITIZED ? 300 : 60);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    struct blocked b = {.fd = fds[0], .fin = &fin};
    pthread_t t;
    REQUIRE(gm_pthread_create(&t, NULL, blocked_main, &b) == 0);
    while (!atomic_load(&b.ready)) gc_sleep_ms(1);
    gc_sleep_ms(5); /* in read() by now */
    for (int i = 0; i < 5; i++) gm_gc(); /* returns although the thread stays blocked */
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&fin), 0);
    REQUIRE(write(fds[1], "x", 1) == 1);
    pthread_join(t, NULL);
    CHECK(b.ok);
    close(fds[0]);
    close(fds[1]);
    gc_clear_stack();
    CHECK(gc_wait_count(&fin, 1, GC_WAIT_SECONDS));
    alarm(0);
}

/* ---- Threads exiting while collections run -------------------------------- */

static atomic_int exiting_bad;

static void *short_lived(void *arg) {
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    void *keep = gc_make(OBJ, seed, NULL);
    for (int i = 0; i < 200; i++) (void)gc_launder(gm_new(32 + (size_t)i % 200));
    if (!keep || !gc_check(keep, OBJ, seed)) atomic_fetch_add(&exiting_bad, 1);
    return NULL;
}

TEST(threads_exit_while_collections_run) {
    alarm(GC_SANITIZED ? 300 : 60);
    enum { ROUNDS = 40, BATCH = 4 };
    for (int r = 0; r < ROUNDS; r++) {
        pthread_t t[BATCH];
        for (int i = 0; i < BATCH; i++)
            REQUIRE(gm_pthread_create(&t[i], NULL, short_lived,
                                      (void *)(uintptr_t)(r * BATCH + i + 1)) == 0);
        gm_gc(); /* some threads are starting, some allocating, some exiting */
        for (int i = 0; i < BATCH; i++) pthread_join(t[i], NULL);
    }
    CHECK_EQ(atomic_load(&exiting_bad), 0);
    alarm(0);
}

/* ---- A signal handler that allocates, the stop signal blocked ------------- */

static atomic_int handled, handler_bad;
static atomic_int spin_stop;

static void usr1_handler(int sig) {
    (void)sig;
    int saved = errno;
    /* Enough small objects to refill (the gc lock) and one large one. */
    for (int i = 0; i < 64; i++) {
        unsigned char *p = gm_new(OBJ);
        if (!p) {
            atomic_fetch_add(&handler_bad, 1);
            break;
        }
        p[0] = 7;
    }
    if (!gc_launder(gm_new(64 * KiB))) atomic_fetch_add(&handler_bad, 1);
    atomic_fetch_add(&handled, 1);
    errno = saved;
}

static void *spinner(void *arg) {
    (void)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = usr1_handler;
    sigfillset(&sa.sa_mask); /* GOMALLOC_SIGNAL blocked inside the handler */
    sigaction(SIGUSR1, &sa, NULL);
    (void)gc_launder(gm_new(16)); /* registered, and the collector is on */
    while (!atomic_load(&spin_stop)) __asm__ volatile("" ::: "memory");
    return NULL;
}

TEST(signal_handler_allocating_with_the_stop_signal_blocked_does_not_deadlock) {
    alarm(GC_SANITIZED ? 300 : 60);
    pthread_t t;
    REQUIRE(gm_pthread_create(&t, NULL, spinner, NULL) == 0);
    gc_sleep_ms(20);
    for (int i = 0; i < 200; i++) {
        pthread_kill(t, SIGUSR1);
        if (i % 4 == 0) gm_gc();
        else (void)gc_launder(gm_new(OBJ));
    }
    double end = gc_now() + GC_WAIT_SECONDS;
    while (atomic_load(&handled) == 0 && gc_now() < end) gc_sleep_ms(1);
    atomic_store(&spin_stop, 1);
    pthread_join(t, NULL);
    CHECK(atomic_load(&handled) > 0);
    CHECK_EQ(atomic_load(&handler_bad), 0);
    alarm(0);
}

/* ---- Waiting for the gc lock parks the thread ----------------------------- */

/* The hook holds the collector (and its lock) at mark done for HOLD_MS
 * while another registered thread needs the lock: that thread must sleep in
 * the kernel, not spin (with GOGC=1 on two cores, spinning waiters starved
 * the collector). Its CPU time over the wait is the observable. */
enum { HOLD_MS = 300 };
static atomic_int hook_entered, waiter_started;

static void holding_hook(int phase, void *arg) {
    (void)arg;
    if (phase != GM_GC_PHASE_MARK_DONE) return;
    atomic_store(&hook_entered, 1);
    gc_sleep_ms(HOLD_MS);
}

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *lock_waiter(void *arg) {
    gm_register_thread();
    atomic_store(&waiter_started, 1);
    while (!atomic_load(&hook_entered)) gc_sleep_ms(1);
    uint64_t c0 = thread_cpu_ns();
    gm_set_gc_percent(100); /* takes the gc lock: waits out the hook */
    *(uint64_t *)arg = thread_cpu_ns() - c0;
    gm_unregister_thread();
    return NULL;
}

static void *collector(void *arg) {
    (void)arg;
    gm_gc();
    return NULL;
}

TEST(a_thread_waiting_for_the_gc_lock_sleeps_instead_of_spinning) {
    uint64_t cpu = UINT64_MAX;
    pthread_t w, c;
    gm_set_gc_hook(holding_hook, NULL);
    REQUIRE(pthread_create(&w, NULL, lock_waiter, &cpu) == 0);
    while (!atomic_load(&waiter_started)) gc_sleep_ms(1);
    REQUIRE(pthread_create(&c, NULL, collector, NULL) == 0);
    pthread_join(c, NULL);
    pthread_join(w, NULL);
    gm_set_gc_hook(NULL, NULL);
    /* Spinning would burn about HOLD_MS of CPU; sleeping, a few microseconds. */
    printf("  waiter CPU over a %d ms wait: %.3f ms\n", HOLD_MS, (double)cpu / 1e6);
    CHECK(cpu < (uint64_t)HOLD_MS * 1000000u / 10);
}

TEST_MAIN()
