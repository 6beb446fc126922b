/*
 * A tiny test harness. Each test file defines tests with TEST(name) and ends
 * with TEST_MAIN(). Every test runs in order; a failed CHECK reports the file,
 * line and expression and marks the test failed (the test goes on).
 * The run ends with the line "N passed, N failed".
 *
 * EXPECT_DEATH(stmt, msg) runs stmt in a forked child and checks that the
 * child dies by SIGABRT with msg in its stderr.
 */
#ifndef GM_TEST_H
#define GM_TEST_H

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*gm_test_fn)(void);
struct gm_test_case { const char *name; gm_test_fn fn; };

#define GM_TEST_MAX 512
static struct gm_test_case gm_test_cases[GM_TEST_MAX];
static int gm_test_ncases;
static int gm_test_failed_current;

#define TEST(tname)                                                         \
    static void test_##tname(void);                                         \
    __attribute__((constructor)) static void register_##tname(void) {       \
        gm_test_cases[gm_test_ncases].name = #tname;                        \
        gm_test_cases[gm_test_ncases++].fn = test_##tname;                  \
    }                                                                       \
    static void test_##tname(void)

#define CHECK(expr)                                                         \
    do {                                                                    \
        if (!(expr)) {                                                      \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__,        \
                    __LINE__, #expr);                                       \
            gm_test_failed_current = 1;                                     \
        }                                                                   \
    } while (0)

/* Integer comparison that prints both sides. */
#define CHECK_EQ(a, b)                                                      \
    do {                                                                    \
        uintmax_t va_ = (uintmax_t)(a), vb_ = (uintmax_t)(b);               \
        if (va_ != vb_) {                                                   \
            fprintf(stderr, "  %s:%d: CHECK_EQ failed: %s == %s (%ju vs %ju)\n", \
                    __FILE__, __LINE__, #a, #b, va_, vb_);                  \
            gm_test_failed_current = 1;                                     \
        }                                                                   \
    } while (0)

/* Stop the current test (e.g. a NULL that later checks would dereference). */
#define REQUIRE(expr)                                                       \
    do {                                                                    \
        if (!(expr)) {                                                      \
            fprintf(stderr, "  %s:%d: REQUIRE failed: %s\n", __FILE__,      \
                    __LINE__, #expr);                                       \
            gm_test_failed_current = 1;                                     \
            return;                                                         \
        }                                                                   \
    } while (0)

/* Runs stmt in a child; true if it died of SIGABRT with msg on stderr. */
#define EXPECT_DEATH(stmt, msg)                                             \
    do {                                                                    \
        int fds_[2];                                                        \
        REQUIRE(pipe(fds_) == 0);                                           \
        fflush(NULL);                                                       \
        pid_t pid_ = fork();                                                \
        if (pid_ == 0) {                                                    \
            dup2(fds_[1], 2);                                               \
            close(fds_[0]);                                                 \
            stmt;                                                           \
            _exit(0);                                                       \
        }                                                                   \
        close(fds_[1]);                                                     \
        char buf_[4096];                                                    \
        size_t n_ = 0;                                                      \
        ssize_t r_;                                                         \
        while (n_ < sizeof buf_ - 1 &&                                      \
               (r_ = read(fds_[0], buf_ + n_, sizeof buf_ - 1 - n_)) > 0)   \
            n_ += (size_t)r_;                                               \
        buf_[n_] = 0;                                                       \
        close(fds_[0]);                                                     \
        int st_ = 0;                                                        \
        waitpid(pid_, &st_, 0);                                             \
        if (!WIFSIGNALED(st_) || WTERMSIG(st_) != SIGABRT ||                \
            !strstr(buf_, msg)) {                                           \
            fprintf(stderr, "  %s:%d: EXPECT_DEATH(%s) failed: status %d, " \
                    "stderr \"%s\", wanted SIGABRT and \"%s\"\n",           \
                    __FILE__, __LINE__, #stmt, st_, buf_, msg);             \
            gm_test_failed_current = 1;                                     \
        }                                                                   \
    } while (0)

/* A function the optimiser neither inlines nor clones, so that its address
 * is where its code runs (stacks in profile tests). Clang has no noipa. */
#if defined(__clang__)
#define TEST_NOIPA __attribute__((noinline, optnone))
#else
#define TEST_NOIPA __attribute__((noipa))
#endif

#define TEST_MAIN()                                                         \
    int main(int argc, char **argv) {                                       \
        int passed = 0, failed = 0;                                         \
        for (int i = 0; i < gm_test_ncases; i++) {                          \
            if (argc > 1 && !strstr(gm_test_cases[i].name, argv[1]))        \
                continue;                                                   \
            gm_test_failed_current = 0;                                     \
            gm_test_cases[i].fn();                                          \
            printf("%s %s\n", gm_test_failed_current ? "FAIL" : "ok  ",     \
                   gm_test_cases[i].name);                                  \
            fflush(stdout);                                                 \
            if (gm_test_failed_current) failed++; else passed++;            \
        }                                                                   \
        printf("%d passed, %d failed\n", passed, failed);                   \
        return failed ? 1 : (passed ? 0 : 1);                               \
    }

/* Runs fn(arg) in a new thread and returns its result: a fresh thread has
 * a fresh gomalloc cache. Link with pthreads. */
#include <pthread.h>
static inline void *gm_test_run_in_thread(void *(*fn)(void *), void *arg) {
    pthread_t t;
    void *r = NULL;
    if (pthread_create(&t, NULL, fn, arg) != 0) abort();
    pthread_join(t, &r);
    return r;
}

/* splitmix64: the fixed-seed generator every multi-threaded test uses. */
static inline uint64_t gm_test_rand(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
