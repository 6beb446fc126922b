/*
 * Concurrent marking and the lost-object bug (issue 13 §4).
 *
 * The classic way a concurrent collector loses an object: the program
 * moves the only pointer to it from a place the marker has not scanned yet
 * into one it has already scanned, then clears the old place. Here mutator
 * threads do exactly that, as fast as they can, while they allocate enough
 * garbage to keep cycles running back to back. Each live object (64 bytes,
 * a seeded pattern) has exactly one pointer at any time, moved at random
 * between
 *   - a holder object in the heap (a word of another gm_new object),
 *   - the thread's stack (a volatile local),
 *   - a register (held across a garbage burst with no store of it),
 *   - a global array,
 *   - a heap buffer the kernel writes: the pointer goes through a pipe or a
 *     datagram socket and read, readv, recv, recvmsg or the raw read system
 *     call puts it into a holder object (only the kernel writes there).
 * After every burst, every live object's pattern is checked: a lost object
 * is reused by a later allocation (zeroed, refilled), so its pattern breaks.
 * Other scenarios free objects with gm_free and create and join threads
 * during marking, keep a thread asleep in read(2) into a collected buffer
 * holding the only pointer to an object, and fork while cycles run.
 *
 * Each scenario runs in a child per GOMALLOC_GCMODE / GOMALLOC_DIRTY
 * setting: concurrent with userfaultfd, concurrent with mprotect, and stw.
 * Under mprotect the kernel's writes into collected memory would fail with
 * EFAULT (and a datagram would be dropped) but for the wrappers of
 * override_syscalls.c, linked into this test as into the products: any
 * failed read or recv fails the test. The child
 * checks that the mode it asked for is the one in use (MemStats.gc_mode)
 * and that cycles ran. Fixed seeds.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gc_test.h"
#include "test.h"

#define THREADS 2
#define SLOTS 64     /* live objects per thread */
#define SIZE 64
#define PLACES 5

enum { IN_HEAP, IN_STACK, IN_REG, IN_GLOBAL, IN_PIPE };

static void *volatile globals_[THREADS][SLOTS];

typedef struct mutator {
    int id;
    uint64_t rng;
    void **holder;       /* gm_new'd: SLOTS words, the heap place */
    void **kbuf;         /* gm_new'd: SLOTS words, written by read(2) only */
    int pipefd[2];
    int dgram[2];        /* a datagram socket pair: a failed recv drops it */
    struct msghdr *hdr;  /* gm_new'd: recvmsg's header */
    int place[SLOTS];
    uint64_t seed[SLOTS];
    long bad, moves;
    double seconds;
} mutator;

static uint64_t next_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fill(void *p, uint64_t seed) {
    uint64_t *w = p;
    for (int i = 0; i < SIZE / 8; i++) w[i] = seed * 0x9e3779b97f4a7c15u + (uint64_t)i;
}

static int intact(const void *p, uint64_t seed) {
    const uint64_t *w = p;
    for (int i = 0; i < SIZE / 8; i++)
        if (w[i] != seed * 0x9e3779b97f4a7c15u + (uint64_t)i) return 0;
    return 1;
}

static void garbage(uint64_t *rng, int n) {
    for (int i = 0; i < n; i++) {
        void **g = gm_new(SIZE + (next_rand(rng) % 4) * 16);
        if (g) g[0] = g; /* written: its page is dirty */
    }
}

/* The kernel writes p into m->kbuf[slot]: read(2) or readv(2) from a pipe,
 * recv(2) or recvmsg(2) from a datagram socket (recvmsg's header in the
 * heap too: the kernel writes its lengths and flags), or the raw system
 * call (not wrapped: bracketed with gm_kernel_write_begin/end, as the API
 * asks). */
static void via_kernel(mutator *m, int slot, void *p) {
    int how = (int)(next_rand(&m->rng) % 5);
    int *fds = how == 1 || how == 4 ? m->dgram : m->pipefd;
    if (write(fds[1], &p, sizeof p) != sizeof p) abort();
    void *to = &m->kbuf[slot];
    struct iovec v = {to, sizeof p};
    ssize_t got;
    switch (how) {
    case 0: got = read(fds[0], to, sizeof p); break;
    case 1: got = recv(fds[0], to, sizeof p, 0); break;
    case 2:
        if (gm_kernel_write_begin(to, sizeof p) != 0) abort(); /* 128 pins: not here */
        got = syscall(SYS_read, fds[0], to, sizeof p);
        gm_kernel_write_end(to, sizeof p);
        break;
    case 3: got = readv(fds[0], &v, 1); break;
    default:
        memset(m->hdr, 0, sizeof *m->hdr);
        m->hdr->msg_iov = &v;
        m->hdr->msg_iovlen = 1;
        got = recvmsg(fds[0], m->hdr, 0);
        break;
    }
    if (got != sizeof p) {
        fprintf(stderr, "  way %d into the heap: %zd (%s)\n", how, got, strerror(errno));
        abort();
    }
}

/* Take the only pointer out of its place (clearing the place). */
static void *take(mutator *m, int slot, uintptr_t *reg) {
    void *p = NULL;
    switch (m->place[slot]) {
    case IN_HEAP: p = m->holder[slot]; m->holder[slot] = NULL; break;
    case IN_GLOBAL: p = globals_[m->id][slot]; globals_[m->id][slot] = NULL; break;
    case IN_PIPE: p = m->kbuf[slot]; ((void *volatile *)m->kbuf)[slot] = NULL; break;
    default: p = (void *)*reg; *reg = 0; break; /* stack and register */
    }
    return p;
}

/* Moves the pointer of one slot through the stack and a register (each
 * held across a garbage burst, so cycles see it there and nowhere else),
 * then into a new place. */
GC_NOINLINE static void move_one(mutator *m, int slot) {
    uintptr_t held = 0;
    void *volatile on_stack = take(m, slot, &held);
    garbage(&m->rng, 8);
    uintptr_t r = (uintptr_t)on_stack;
    on_stack = NULL;
    __asm__ volatile("" : "+r"(r)); /* a callee-saved register, or a spill */
    garbage(&m->rng, 8);
    __asm__ volatile("" : "+r"(r));
    void *p = (void *)r;
    int to = (int)(next_rand(&m->rng) % PLACES);
    if (to == IN_STACK || to == IN_REG) to = IN_HEAP; /* those are transit only */
    m->place[slot] = to;
    switch (to) {
    case IN_HEAP: m->holder[slot] = p; break;
    case IN_GLOBAL: globals_[m->id][slot] = p; break;
    default: via_kernel(m, slot, p); break;
    }
    p = NULL;
    m->moves++;
}

static void *slot_ptr(mutator *m, int slot) {
    switch (m->place[slot]) {
    case IN_HEAP: return m->holder[slot];
    case IN_GLOBAL: return globals_[m->id][slot];
    default: return m->kbuf[slot];
    }
}

static void *mutator_main(void *arg) {
    mutator *m = arg;
    m->holder = gm_new(SLOTS * sizeof(void *));
    m->kbuf = gm_new(SLOTS * sizeof(void *));
    m->hdr = gm_new(sizeof *m->hdr);
    if (!m->holder || !m->kbuf || !m->hdr || pipe(m->pipefd) != 0 ||
        socketpair(AF_UNIX, SOCK_DGRAM, 0, m->dgram) != 0)
        abort();
    for (int i = 0; i < SLOTS; i++) {
        m->seed[i] = (uint64_t)m->id << 32 | (uint64_t)i;
        void *p = gm_new(SIZE);
        fill(p, m->seed[i]);
        m->holder[i] = p;
        m->place[i] = IN_HEAP;
    }
    double end = gc_now() + m->seconds;
    while (gc_now() < end) {
        for (int k = 0; k < 16; k++) move_one(m, (int)(next_rand(&m->rng) % SLOTS));
        for (int i = 0; i < SLOTS; i++) {
            void *p = slot_ptr(m, i);
            if (!p || !gm_is_collected(p) || !intact(p, m->seed[i])) {
                if (m->bad++ < 3)
                    fprintf(stderr, "  thread %d slot %d (place %d): object %p lost\n", m->id, i,
                            m->place[i], p);
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        close(m->pipefd[i]);
        close(m->dgram[i]);
    }
    return NULL;
}

static const char *mode_wanted(void) {
    const char *mode = getenv("GOMALLOC_GCMODE");
    const char *dirty = getenv("GOMALLOC_DIRTY");
    if (mode && strcmp(mode, "stw") == 0) return "stw";
    static char buf[64];
    snprintf(buf, sizeof buf, "concurrent/%s", dirty ? dirty : "uffd");
    return buf;
}

TEST(child_moving_pointers) {
    GC_CHILD_ONLY();
    gm_set_gc_percent(20); /* cycles back to back */
    pthread_t th[THREADS];
    static mutator ms[THREADS]; /* a root: this thread is not registered */
    for (int i = 0; i < THREADS; i++) {
        ms[i] = (mutator){.id = i, .rng = 0x1234567u + (uint64_t)i * 7919, .seconds = 2.0};
        REQUIRE(gm_pthread_create(&th[i], NULL, mutator_main, &ms[i]) == 0);
    }
    long bad = 0, moves = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        bad += ms[i].bad;
        moves += ms[i].moves;
    }
    gm_memstats st = gc_stats();
    printf("mode %s cycles %u moves %ld lost %ld\n", st.gc_mode, st.num_gc, moves, bad);
    CHECK_EQ(bad, 0);
    CHECK(st.num_gc >= 10);
    CHECK(strcmp(st.gc_mode, mode_wanted()) == 0);
}

/* gm_free and thread churn during marking: objects freed by hand are
 * never seen again, the others stay intact. */
static void *short_thread(void *arg) {
    uint64_t rng = (uintptr_t)arg;
    garbage(&rng, 200);
    return NULL;
}

TEST(child_free_and_threads_during_marking) {
    GC_CHILD_ONLY();
    gm_set_gc_percent(10);
    enum { N = 512 };
    static void *volatile keep[N];
    uint64_t rng = 99;
    for (int i = 0; i < N; i++) {
        keep[i] = gm_new(SIZE);
        fill(keep[i], (uint64_t)i);
    }
    long bad = 0;
    double end = gc_now() + 1.5;
    for (int round = 0; gc_now() < end; round++) {
        pthread_t t;
        REQUIRE(gm_pthread_create(&t, NULL, short_thread, (void *)(uintptr_t)(round + 1)) == 0);
        for (int k = 0; k < 32; k++) {
            int i = (int)(next_rand(&rng) % N);
            gm_free(keep[i]); /* possibly while marking */
            void *big = gm_new(64 << 10); /* large: freed by hand below */
            keep[i] = gm_new(SIZE);
            fill(keep[i], (uint64_t)i);
            garbage(&rng, 16);
            gm_free(big);
        }
        pthread_join(t, NULL);
        for (int i = 0; i < N; i++)
            if (!intact(keep[i], (uint64_t)i) && bad++ < 3) fprintf(stderr, "  object %d lost\n", i);
    }
    CHECK_EQ(bad, 0);
}

/* A thread asleep in read(2) into a collected buffer, with the only pointer
 * to an object in its frame; fork() while cycles run: the forked child finds its objects intact
 * and collects on its own (stop the world: it does not track pages). */
static int sleeper_pipe[2];

/* Under ThreadSanitizer the stop signal would wait for the read (GC_TSAN,
 * gc_test.h): there the sleeper blocks in short polls instead. */

static void *sleeper(void *arg) {
    void *volatile mine = gm_new(SIZE);
    fill(mine, 777);
    char *volatile into = gm_new(SIZE); /* protected by each cycle (mprotect) */
    atomic_store((atomic_int *)arg, 1);
    for (;;) {
#ifdef GC_TSAN
        struct pollfd pf = {sleeper_pipe[0], POLLIN, 0};
        while (poll(&pf, 1, 1) <= 0) {} /* 0: timeout, -1: EINTR (the stop signal) */
#endif
        ssize_t got = read(sleeper_pipe[0], into, 8); /* blocked while cycles run */
        if (got != 8 || !intact(mine, 777)) return NULL;
        if (memcmp(into, "stop now", 8) == 0) return (void *)1;
        if (memcmp(into, "wake up!", 8) != 0) return NULL;
    }
}

TEST(child_blocked_threads_and_fork_during_marking) {
    GC_CHILD_ONLY();
    gm_set_gc_percent(10);
    REQUIRE(pipe(sleeper_pipe) == 0);
    static atomic_int ready;
    pthread_t t;
    REQUIRE(gm_pthread_create(&t, NULL, sleeper, (void *)&ready) == 0);
    while (!atomic_load(&ready)) sched_yield();
    enum { N = 256 };
    static void *volatile keep[N];
    for (int i = 0; i < N; i++) {
        keep[i] = gm_new(SIZE);
        fill(keep[i], (uint64_t)i + 1000);
    }
    uint64_t rng = 5;
    int forks = 0, bad_children = 0;
    double end = gc_now() + 1.5;
    while (gc_now() < end) {
        garbage(&rng, 1000);
        REQUIRE(write(sleeper_pipe[1], "wake up!", 8) == 8); /* read during a cycle */
        garbage(&rng, 1000); /* cycles run: fork lands in or between them */
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int ok = 1;
            garbage(&rng, 20000);
            gm_gc();
            for (int i = 0; i < N; i++) ok &= intact(keep[i], (uint64_t)i + 1000);
            gm_memstats st = gc_stats();
            ok &= strcmp(st.gc_mode, "stw") == 0 || strcmp(st.gc_mode, "off") == 0;
            _exit(ok ? 0 : 1);
        }
        int status;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        forks++;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bad_children++;
    }
    REQUIRE(write(sleeper_pipe[1], "stop now", 8) == 8);
    void *res;
    pthread_join(t, &res);
    CHECK(res == (void *)1);
    CHECK_EQ(bad_children, 0);
    CHECK(forks > 0);
    for (int i = 0; i < N; i++) CHECK(intact(keep[i], (uint64_t)i + 1000));
    printf("forks %d\n", forks);
}

static void run_child(const char *test, const char *mode, const char *dirty) {
    char e1[64], e2[64];
    snprintf(e1, sizeof e1, "GOMALLOC_GCMODE=%s", mode);
    snprintf(e2, sizeof e2, "GOMALLOC_DIRTY=%s", dirty);
    const char *env[] = {e1, e2, NULL};
    struct gc_child *c = malloc(sizeof *c);
    REQUIRE(c != NULL);
    gc_run_self(test, env, GC_SANITIZED ? 600 : 120, 0, c);
    char how[64];
    gc_describe(c, how, sizeof how);
    if (!gc_child_ok(c))
        fprintf(stderr, "  %s %s/%s: child %s\n  stdout:\n%s\n  stderr:\n%s\n", test, mode, dirty,
                how, c->out, c->err);
    CHECK(gc_child_ok(c));
    free(c);
}

TEST(no_object_lost_concurrent_uffd) { if (!gc_is_child()) run_child("child_moving_pointers", "concurrent", "uffd"); }
TEST(no_object_lost_concurrent_mprotect) { if (!gc_is_child()) run_child("child_moving_pointers", "concurrent", "mprotect"); }
TEST(no_object_lost_stw) { if (!gc_is_child()) run_child("child_moving_pointers", "stw", "auto"); }
TEST(free_and_threads_concurrent_uffd) { if (!gc_is_child()) run_child("child_free_and_threads_during_marking", "concurrent", "uffd"); }
TEST(blocked_threads_and_fork_concurrent_uffd) { if (!gc_is_child()) run_child("child_blocked_threads_and_fork_during_marking", "concurrent", "uffd"); }
TEST(blocked_threads_and_fork_concurrent_mprotect) { if (!gc_is_child()) run_child("child_blocked_threads_and_fork_during_marking", "concurrent", "mprotect"); }
TEST(free_and_threads_concurrent_mprotect) { if (!gc_is_child()) run_child("child_free_and_threads_during_marking", "concurrent", "mprotect"); }

TEST_MAIN()
