/*
 * Helpers shared by the conformance and lifecycle programs. These programs
 * call only the standard API (malloc, free, new, ...), never gm_*, so each
 * one runs unchanged against glibc and with LD_PRELOAD of another allocator.
 * Valid as C11 and as C++17.
 */
#ifndef CONFORM_H
#define CONFORM_H

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "test.h"

#ifdef __cplusplus
extern "C" {
#endif
/* The preloaded gomalloc also exports its own API. A weak reference is
 * NULL when no loaded object defines the symbol (glibc, other allocators). */
extern void *gm_malloc(size_t size) __attribute__((weak));
#ifdef __cplusplus
}
#endif

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* A check that does not apply here: say so next to the test's "ok". */
static inline void note_skip(const char *why) { printf("  (skipped: %s)\n", why); }

/* Which allocator serves malloc: decides which misuse must be detected. */
enum conform_allocator { ALLOC_GLIBC, ALLOC_GOMALLOC, ALLOC_OTHER };

static inline enum conform_allocator conform_allocator(void) {
    if (gm_malloc) return ALLOC_GOMALLOC;
    Dl_info di;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    if (m && dladdr(m, &di) && di.dli_fname && strstr(di.dli_fname, "/libc.so"))
        return ALLOC_GLIBC;
    return ALLOC_OTHER;
}

/* Hide a value from the optimizer: gcc folds malloc(SIZE_MAX) to NULL,
 * deletes free(malloc(n)), and warns about constant huge sizes and about
 * deliberate misuse (-Wuse-after-free, -Wfree-nonheap-object). */
static inline void *launder(void *p) {
    __asm__ volatile("" : "+r"(p) : : "memory");
    return p;
}
static inline size_t opaque(size_t n) {
    __asm__ volatile("" : "+r"(n));
    return n;
}

/* A byte pattern that differs per block (seed) and per offset. */
static inline unsigned char pattern_byte(uint64_t seed, size_t i) {
    uint64_t x = (seed + i + 1) * 0x9E3779B97F4A7C15ull;
    return (unsigned char)(x >> 56);
}
static inline void fill(void *p, size_t n, uint64_t seed) {
    unsigned char *b = (unsigned char *)p;
    for (size_t i = 0; i < n; i++) b[i] = pattern_byte(seed, i);
}
/* Offset of the first byte that differs from the pattern, or SIZE_MAX. */
static inline size_t bad_offset(const void *p, size_t n, uint64_t seed) {
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern_byte(seed, i)) return i;
    return SIZE_MAX;
}
/* Offset of the first non-zero byte, or SIZE_MAX. */
static inline size_t nonzero_offset(const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return i;
    return SIZE_MAX;
}

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits up to `seconds` for pid. A child still running then is taken to be
 * deadlocked: it is killed and reaped, and the result is -1. */
static inline int wait_with_timeout(pid_t pid, double seconds, int *status) {
    double deadline = now_seconds() + seconds;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) return 0;
        if (r < 0 && errno != EINTR) return -1;
        if (now_seconds() > deadline) break;
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
    return -1;
}

/* The outcome of run_child: wait status and everything written to stderr. */
struct child_result {
    int status;
    int timed_out;
    char err[8192];
};

/* Read the child's stderr until EOF (all writers gone) or the deadline. */
static inline void drain_pipe(int fd, char *buf, size_t cap, double deadline) {
    size_t n = 0;
    for (;;) {
        int left_ms = (int)((deadline - now_seconds()) * 1000);
        if (left_ms <= 0) break;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, left_ms) <= 0) continue;
        char tmp[512];
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r <= 0) break;
        size_t take = (size_t)r < cap - 1 - n ? (size_t)r : cap - 1 - n;
        memcpy(buf + n, tmp, take);
        n += take;
    }
    buf[n] = 0;
}

/* Runs fn(arg) in a forked child whose stderr is captured; the child exits
 * 0 if fn returns. No core files (SIGABRT is the expected outcome), and
 * glibc is told to print its own fatal errors on stderr, not /dev/tty. */
static inline void run_child(void (*fn)(void *), void *arg, double timeout,
                             struct child_result *out) {
    int fds[2];
    memset(out, 0, sizeof *out);
    if (pipe(fds) != 0) abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        setenv("LIBC_FATAL_STDERR_", "1", 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    double deadline = now_seconds() + timeout;
    drain_pipe(fds[0], out->err, sizeof out->err, deadline);
    close(fds[0]);
    double left = deadline - now_seconds();
    out->timed_out = wait_with_timeout(pid, left > 0.1 ? left : 0.1, &out->status) != 0;
}

/* "exited with 3", "killed by SIGABRT", "hung (killed after the timeout)". */
static inline const char *describe_exit(const struct child_result *r, char *buf, size_t cap) {
    if (r->timed_out) snprintf(buf, cap, "hung (killed after the timeout)");
    else if (WIFEXITED(r->status)) snprintf(buf, cap, "exited with %d", WEXITSTATUS(r->status));
    else if (WIFSIGNALED(r->status))
        snprintf(buf, cap, "killed by SIG%s", sigabbrev_np(WTERMSIG(r->status)));
    else snprintf(buf, cap, "status 0x%x", r->status);
    return buf;
}

static inline int died_of(const struct child_result *r, int sig) {
    return !r->timed_out && WIFSIGNALED(r->status) && WTERMSIG(r->status) == sig;
}
static inline int exited_zero(const struct child_result *r) {
    return !r->timed_out && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

/* Number of lines of s that start with prefix; *first gets the first. */
static inline int count_lines_starting(const char *s, const char *prefix,
                                       const char **first) {
    int n = 0;
    size_t plen = strlen(prefix);
    for (const char *line = s; *line;) {
        if (strncmp(line, prefix, plen) == 0 && n++ == 0 && first) *first = line;
        const char *nl = strchr(line, '\n');
        if (!nl) break;
        line = nl + 1;
    }
    return n;
}

/* True if the line at `line` names p as 0x<lowercase hex> (a whole token:
 * 0x1234 must not match inside 0x12345). */
static inline int line_names_pointer(const char *line, const void *p) {
    char want[32];
    snprintf(want, sizeof want, "0x%" PRIxPTR, (uintptr_t)p);
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    size_t wl = strlen(want);
    for (size_t i = 0; i + wl <= len; i++) {
        if (memcmp(line + i, want, wl) != 0) continue;
        char next = i + wl < len ? line[i + wl] : 0;
        if (!((next >= '0' && next <= '9') || (next >= 'a' && next <= 'f'))) return 1;
    }
    return 0;
}

#define GM_FATAL_PREFIX "gomalloc: fatal error: "

/* The gomalloc contract for misuse: SIGABRT, and exactly one line on stderr
 * starting "gomalloc: fatal error: " that names the pointer. `what` is
 * printed with a failure. Returns 1 if it held. */
static inline int gomalloc_died_naming(const struct child_result *r, const void *p,
                                       const char *what) {
    const char *line = NULL;
    int lines = count_lines_starting(r->err, GM_FATAL_PREFIX, &line);
    int ok = died_of(r, SIGABRT) && lines == 1 && line_names_pointer(line, p);
    char how[64];
    if (!ok)
        fprintf(stderr, "  %s: child %s with %d \"" GM_FATAL_PREFIX "\" lines; wanted "
                "SIGABRT and one such line naming %p. Its stderr:\n%s\n", what,
                describe_exit(r, how, sizeof how), lines, p, r->err);
    return ok;
}

/* LD_PRELOAD's first entry, resolved to an absolute path; NULL if unset. */
static inline const char *preload_path(char *buf, size_t cap) {
    const char *env = getenv("LD_PRELOAD");
    if (!env || !*env) return NULL;
    char first[4096];
    size_t n = strcspn(env, ": ");
    if (n >= sizeof first) return NULL;
    memcpy(first, env, n);
    first[n] = 0;
    char *real = realpath(first, NULL);
    if (!real) return NULL;
    snprintf(buf, cap, "%s", real);
    free(real);
    return buf;
}

/* Checks that each named symbol resolves to the preloaded library, so a
 * preload that silently leaves an entry point to glibc fails. Nothing to
 * check (returns 0) without LD_PRELOAD; else the number of wrong symbols. */
static inline int check_preload_provides(const char *const *names, size_t n) {
    char lib[4096];
    if (!preload_path(lib, sizeof lib)) {
        note_skip("no LD_PRELOAD");
        return 0;
    }
    int wrong = 0;
    for (size_t i = 0; i < n; i++) {
        void *sym = dlsym(RTLD_DEFAULT, names[i]);
        Dl_info di;
        char *where = NULL;
        if (sym && dladdr(sym, &di) && di.dli_fname) where = realpath(di.dli_fname, NULL);
        if (!where || strcmp(where, lib) != 0) {
            fprintf(stderr, "  %s: resolves to %s, not to %s\n", names[i],
                    where ? where : "nothing", lib);
            wrong++;
        }
        free(where);
    }
    return wrong;
}

/* Resident set size in bytes, from /proc/self/statm. */
static inline size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f) return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

#endif
