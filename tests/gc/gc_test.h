/*
 * Helpers shared by the garbage collector tests (every .c file in tests/gc).
 *
 * Conservative scanning retains an object whose address lingers anywhere in
 * a root: a dead stack slot, a callee-saved register, a local the compiler
 * spilled. So the tests
 *   - create garbage in separate noinline functions that hand back nothing
 *     (or only a "hidden" address: XOR-ed with GC_MASK, which is never a
 *     heap address), then clear a chunk of stack (gc_clear_stack);
 *   - detect collection with finalizers (gc_count_fin on a counter), and
 *     survival with patterns (gc_fill / gc_check) plus a finalizer counter
 *     that must stay 0 (a finalizer runs only for an unreachable object);
 *   - assert that most (>= 90%) of N objects are collected, not all.
 * Finalizers run on the collector's finalizer thread, so collection is
 * awaited with a bounded loop (gc_wait_count) that keeps collecting.
 *
 * Child processes: gc_run_self runs this very test program again (through
 * /proc/self/exe) with one test selected by name and GM_GC_CHILD=1 in its
 * environment, plus any variables given (GOGC, GOMEMLIMIT, GODEBUG). Tests
 * meant to run only there start with GC_CHILD_ONLY().
 */
#ifndef GM_GC_TEST_H
#define GM_GC_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "gomalloc.h"
#include "test.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
#define GC_NOINLINE __attribute__((noinline))
/* Helpers here: not every test uses each. */
#define GC_HELPER __attribute__((noinline, unused)) static
#define GC_COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ThreadSanitizer's interceptors hold a signal back until a blocking call
 * returns, so there a thread blocked in read(2) is never stopped. */
#if defined(__SANITIZE_THREAD__)
#define GC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GC_TSAN 1
#endif
#endif

/* Sanitizers slow everything down: bounded waits get longer, work smaller. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define GC_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define GC_SANITIZED 1
#endif
#endif
#ifndef GC_SANITIZED
#define GC_SANITIZED 0
#endif
#define GC_WAIT_SECONDS (GC_SANITIZED ? 30.0 : 5.0)

/* ---- Hiding pointers from the collector --------------------------------- */

/* A hidden address has its top bits set: never a user-space address. */
#define GC_MASK ((uintptr_t)0xa5a5a5a5a5a5a5a5ull)
static inline uintptr_t gc_hide(const void *p) { return (uintptr_t)p ^ GC_MASK; }
static inline void *gc_unhide(uintptr_t h) { return (void *)(h ^ GC_MASK); }

/* Hide a value from the optimizer (it cannot fold or delete around it). */
static inline void *gc_launder(void *p) {
    __asm__ volatile("" : "+r"(p) : : "memory");
    return p;
}
static inline size_t gc_opaque(size_t n) {
    __asm__ volatile("" : "+r"(n));
    return n;
}

/* Overwrite 16 KiB of stack below the caller's frame: stale copies of
 * addresses that earlier (returned) calls left there are gone. Not
 * instrumented: ASan would put buf between redzones that memset skips. */
__attribute__((no_sanitize("address"))) GC_HELPER void gc_clear_stack(void) {
    char buf[16 * 1024];
    memset(buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

static inline double gc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static inline uint64_t gc_unix_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static inline void gc_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- Patterns ----------------------------------------------------------- */

/* Pseudo-random bytes: no 8-byte word of a pattern looks like an address. */
static inline unsigned char gc_pat(uint64_t seed, size_t i) {
    uint64_t x = (seed * 0x9E3779B97F4A7C15ull) ^ (i * 0xD6E8FEB86659FD93ull);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (unsigned char)(x | 0x80); /* top bit set: words are non-canonical */
}
static inline void gc_fill(void *p, size_t n, uint64_t seed) {
    unsigned char *b = (unsigned char *)p;
    for (size_t i = 0; i < n; i++) b[i] = gc_pat(seed, i);
}
/* 1 if p[0..n) holds seed's pattern. */
static inline int gc_check(const void *p, size_t n, uint64_t seed) {
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != gc_pat(seed, i)) return 0;
    return 1;
}

/* 1 if bytes [from, n) of p hold seed's pattern (as gc_fill wrote it). */
static inline int gc_check_from(const void *p, size_t from, size_t n, uint64_t seed) {
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = from; i < n; i++)
        if (b[i] != gc_pat(seed, i)) return 0;
    return 1;
}

/* ---- Finalizer counters -------------------------------------------------- */

__attribute__((unused)) static void gc_count_fin(void *obj, void *arg) {
    (void)obj;
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* A collected object of n bytes filled with seed's pattern, with a
 * gc_count_fin finalizer on counter (if not NULL). */
GC_HELPER void *gc_make(size_t n, uint64_t seed, atomic_int *counter) {
    void *p = gm_new(n);
    if (!p) return NULL;
    gc_fill(p, n, seed);
    if (counter) gm_set_finalizer(p, gc_count_fin, counter);
    return p;
}
/* The same, returned hidden: no copy of the address stays in a register. */
GC_HELPER uintptr_t gc_make_hidden(size_t n, uint64_t seed, atomic_int *counter) {
    return gc_hide(gc_make(n, seed, counter));
}

/* Collect until *c >= target or the bounded wait ends. 1 if reached. */
GC_HELPER int gc_wait_count(atomic_int *c, int target, double seconds) {
    double end = gc_now() + seconds;
    for (;;) {
        if (atomic_load(c) >= target) return 1;
        if (gc_now() > end) return 0;
        gc_clear_stack();
        gm_gc();
        sched_yield();
        gc_sleep_ms(1);
    }
}

/* Collection of one particular object once its last reference is gone.
 * Unoptimised sanitizer builds keep copies of locals in frames the test
 * cannot clear (a conservative root), so there a miss is reported, not
 * failed; survival, the half that matters for safety, is checked in every
 * build, and optimised builds check this too. */
#define GC_CHECK_ONE_COLLECTED(c)                                              \
    do {                                                                      \
        int got_ = gc_wait_count((c), 1, GC_SANITIZED ? 2.0 : GC_WAIT_SECONDS); \
        if (GC_SANITIZED && !got_)                                            \
            printf("  note: %s:%d: one object retained (sanitizer build)\n",  \
                   __FILE__, __LINE__);                                       \
        else                                                                  \
            CHECK(got_);                                                      \
    } while (0)

/* Lets the collector and the finalizer thread catch up: twice, a fresh
 * garbage object's finalizer is awaited. After this, a finalizer that the
 * earlier collections queued has (almost certainly) run. 1 on success, 0 if
 * even the sentinel's finalizer did not run. */
__attribute__((unused)) static atomic_int gc_sentinel_fin;
GC_HELPER void gc_drop_sentinel(void) {
    void *p = gm_new(48);
    if (p) gm_set_finalizer(p, gc_count_fin, &gc_sentinel_fin);
}
GC_HELPER int gc_settle(void) {
    for (int round = 0; round < 2; round++) {
        int before = atomic_load(&gc_sentinel_fin);
        gc_drop_sentinel();
        gc_clear_stack();
        if (!gc_wait_count(&gc_sentinel_fin, before + 1, GC_WAIT_SECONDS)) {
            fprintf(stderr, "  gc_settle: a garbage object's finalizer did not run "
                            "within %.0f s\n", GC_WAIT_SECONDS);
            return 0;
        }
    }
    gc_sleep_ms(5);
    return 1;
}

static inline gm_memstats gc_stats(void) {
    gm_memstats m;
    memset(&m, 0, sizeof m);
    gm_read_memstats(&m);
    return m;
}

/* ---- Children: this program again, one test, some environment ---------- */

static inline int gc_is_child(void) { return getenv("GM_GC_CHILD") != NULL; }
/* A test that does its work only in a child started by gc_run_self. */
#define GC_CHILD_ONLY()                                                       \
    do {                                                                      \
        if (!gc_is_child()) return;                                           \
    } while (0)

struct gc_child {
    int status;    /* waitpid status */
    int timed_out; /* killed after the timeout */
    char out[16384];
    char err[65536];
};

static inline void gc_describe(const struct gc_child *c, char *buf, size_t cap) {
    if (c->timed_out) snprintf(buf, cap, "hung (killed after the timeout)");
    else if (WIFEXITED(c->status)) snprintf(buf, cap, "exited with %d", WEXITSTATUS(c->status));
    else if (WIFSIGNALED(c->status)) snprintf(buf, cap, "killed by signal %d", WTERMSIG(c->status));
    else snprintf(buf, cap, "status 0x%x", c->status);
}
static inline int gc_child_ok(const struct gc_child *c) {
    return !c->timed_out && WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
}

static inline int gc_env_overridden(const char *entry, const char *const *env) {
    const char *names[] = {"GM_GC_CHILD=", "GOGC=", "GOMEMLIMIT=", "GODEBUG="};
    for (size_t i = 0; i < GC_COUNT_OF(names); i++)
        if (strncmp(entry, names[i], strlen(names[i])) == 0) return 1;
    for (size_t i = 0; env && env[i]; i++) {
        size_t k = strcspn(env[i], "=");
        if (strncmp(entry, env[i], k + 1) == 0) return 1;
    }
    return 0;
}

/* Runs this program with argv[1] = test and the environment without GOGC,
 * GOMEMLIMIT and GODEBUG, plus GM_GC_CHILD=1 and env (NULL-terminated
 * "NAME=value" list). Its stdout and stderr are captured in c->out and
 * c->err (truncated) unless pass_stderr, then stderr is inherited. */
extern char **environ;
static inline void gc_run_self(const char *test, const char *const *env, double timeout,
                               int pass_stderr, struct gc_child *c) {
    memset(c, 0, sizeof *c);
    size_t n = 0;
    while (environ[n]) n++;
    size_t extra = 0;
    while (env && env[extra]) extra++;
    char **envp = calloc(n + extra + 2, sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!gc_env_overridden(environ[i], env)) envp[k++] = environ[i];
    envp[k++] = (char *)"GM_GC_CHILD=1";
    for (size_t i = 0; i < extra; i++) envp[k++] = (char *)env[i];
    envp[k] = NULL;
    char *argv[] = {(char *)"gc-child", (char *)test, NULL};
    int outp[2], errp[2];
    if (pipe(outp) != 0 || pipe(errp) != 0) abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        dup2(outp[1], 1);
        if (!pass_stderr) dup2(errp[1], 2);
        close(outp[0]);
        close(outp[1]);
        close(errp[0]);
        close(errp[1]);
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    free(envp);
    close(outp[1]);
    close(errp[1]);
    double deadline = gc_now() + timeout;
    size_t no = 0, ne = 0;
    int open_out = 1, open_err = 1;
    while ((open_out || open_err) && gc_now() < deadline) {
        struct pollfd pf[2] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
        int r = poll(pf, 2, 100);
        if (r < 0 && errno != EINTR) break;
        char tmp[4096];
        for (int i = 0; i < 2; i++) {
            int *open = i ? &open_err : &open_out;
            if (!*open || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t got = read(pf[i].fd, tmp, sizeof tmp);
            if (got <= 0) {
                *open = 0;
                continue;
            }
            char *dst = i ? c->err : c->out;
            size_t *len = i ? &ne : &no;
            size_t cap = (i ? sizeof c->err : sizeof c->out) - 1;
            size_t take = (size_t)got < cap - *len ? (size_t)got : cap - *len;
            memcpy(dst + *len, tmp, take);
            *len += take;
        }
    }
    c->out[no] = 0;
    c->err[ne] = 0;
    close(outp[0]);
    close(errp[0]);
    for (;;) {
        pid_t r = waitpid(pid, &c->status, WNOHANG);
        if (r == pid) break;
        if (gc_now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &c->status, 0);
            c->timed_out = 1;
            break;
        }
        gc_sleep_ms(2);
    }
}

/* Runs test in a child (stderr passed through, so its CHECK failures show)
 * and checks that it passed. */
#define GC_EXPECT_CHILD_PASSES(test, ...)                                      \
    do {                                                                      \
        const char *const env_[] = {__VA_ARGS__, NULL};                       \
        struct gc_child *c_ = malloc(sizeof *c_);                             \
        REQUIRE(c_ != NULL);                                                  \
        gc_run_self(test, env_, GC_SANITIZED ? 600 : 120, 1, c_);             \
        if (!gc_child_ok(c_) || !strstr(c_->out, "ok   " test "\n")) {              \
            char how_[64];                                                    \
            gc_describe(c_, how_, sizeof how_);                               \
            fprintf(stderr, "  %s:%d: child %s (env:", __FILE__, __LINE__,    \
                    test);                                                    \
            for (size_t i_ = 0; env_[i_]; i_++) fprintf(stderr, " %s", env_[i_]); \
            fprintf(stderr, ") %s; its stdout:\n%s\n", how_, c_->out);        \
            gm_test_failed_current = 1;                                       \
        }                                                                     \
        free(c_);                                                             \
    } while (0)

#endif
