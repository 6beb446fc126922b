/*
 * The OS layer for Linux: the only file that calls mmap, munmap and madvise.
 * See malloc.c ("Address space") for the states; each function is named by
 * the state change it makes, as in Go's mem.go.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

void *gm__sys_reserve(void *hint, size_t n) {
    void *p = mmap(hint, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

bool gm__sys_map(void *p, size_t n) {
    /* Fresh anonymous memory reads as zero: callers rely on it. */
    return mprotect(p, n, PROT_READ | PROT_WRITE) == 0;
}

void gm__sys_unused(void *p, size_t n) {
    /* MADV_DONTNEED (Go's default): RSS drops now and the pages read as
     * zero afterwards, which the page allocator's scavenged bits rely on. */
    int saved = errno;
    (void)madvise(p, n, MADV_DONTNEED);
    errno = saved;
}

void gm__sys_used(void *p, size_t n) { (void)p; (void)n; }

void *gm__sys_alloc(size_t n) {
    int saved = errno;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = saved;
    return p == MAP_FAILED ? NULL : p;
}

void gm__sys_free(void *p, size_t n) { (void)munmap(p, n); }

void gm__sys_write_err(const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

void gm__sys_abort(void) {
    /* abort() may run atexit-like hooks in some libcs; raise directly. */
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
    _exit(134);
}

size_t gm__sys_rss(void) {
    int saved = errno;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    size_t rss = 0;
    if (fd >= 0) {
        char buf[128];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = 0;
            char *q = buf;
            while (*q && *q != ' ') q++; /* skip total size */
            rss = (size_t)strtoull(q, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
        }
    }
    errno = saved;
    return rss;
}
