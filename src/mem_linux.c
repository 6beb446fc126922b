/*
 * The OS layer for Linux: the only file that calls mmap, munmap and madvise.
 * See malloc.c ("Address space") for the states; each function is named by
 * the state change it makes, as in Go's mem.go.
 */
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
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

size_t gm__sys_peak_rss(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (size_t)ru.ru_maxrss * 1024 : 0; /* KiB on Linux */
}

/* One line of /proc/self/maps: "lo-hi perms offset dev inode   path". The
 * mapping holding our own stack pointer is a stack, named or not (threads'
 * stacks are anonymous mappings). */
static bool maps_line(const char *line, uintptr_t a, gm_mapping *m) {
    char *q;
    uintptr_t lo = (uintptr_t)strtoull(line, &q, 16);
    if (*q != '-') return false;
    uintptr_t hi = (uintptr_t)strtoull(q + 1, &q, 16);
    if (a < lo || a >= hi) return false;
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    m->end = hi;
    m->writable = q[1] == 'r' && q[2] == 'w';
    for (int field = 0; field < 4 && *q; field++) { /* perms offset dev inode */
        while (*q == ' ') q++;
        while (*q && *q != ' ') q++;
    }
    while (*q == ' ') q++;
    if (strncmp(q, "[stack", 6) == 0 || (sp >= lo && sp < hi)) m->kind = GM_MAP_STACK;
    else if (*q == '/' && !strstr(q, "/ld-linux")) m->kind = GM_MAP_FILE;
    else m->kind = GM_MAP_ANON; /* anonymous, [heap], or the dynamic loader's data */
    return true;
}

/* Reads /proc/self/maps with raw read(2) into a stack buffer: the caller
 * may be inside free, so nothing here may allocate. */
gm_mapping gm__sys_mapping(uintptr_t a) {
    gm_mapping m = {GM_MAP_NONE, 0, false};
    int saved = errno;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) { /* no /proc: unknown, reported as unmapped */
        errno = saved;
        return m;
    }
    char buf[4096 + 1];
    size_t have = 0;
    bool found = false;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        have += (size_t)n;
        buf[have] = 0;
        char *line = buf, *nl;
        while (!found && (nl = strchr(line, '\n')) != NULL) {
            *nl = 0;
            found = maps_line(line, a, &m);
            line = nl + 1;
        }
        if (found) break;
        have = (size_t)(buf + have - line);
        if (have == sizeof buf - 1) have = 0; /* an absurdly long line: drop it */
        memmove(buf, line, have);
    }
    close(fd);
    errno = saved;
    return m;
}

const char *gm__sys_program_name(void) { return program_invocation_short_name; }

struct image_query { uintptr_t a; bool found; };

static int image_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    struct image_query *q = arg;
    if (info->dlpi_name && strstr(info->dlpi_name, "/ld-linux")) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && q->a >= lo && q->a - lo < ph->p_memsz) {
            q->found = true;
            return 1;
        }
    }
    return 0;
}

/* The dynamic loader's image does not count: its data holds its own early
 * heap (see foreign.c). */
bool gm__sys_in_loaded_image(uintptr_t a) {
    struct image_query q = {a, false};
    dl_iterate_phdr(image_cb, &q);
    return q.found;
}
