/*
 * The human-readable MemStats summary: gm_write_stats, malloc_stats(), and
 * GOMALLOC_STATS at exit (so `gomalloc run --stats -- CMD` can show what a
 * program nobody changed did with its heap).
 *
 * At exit stdio may already be torn down and other threads may still be
 * allocating: the summary is formatted into a stack buffer with snprintf
 * and written with write(2), and gm_read_memstats copes with live threads.
 */
#include <errno.h>
#include <stdlib.h>
#include <limits.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

typedef struct out {
    int fd;
    int err;     /* first errno of a failed write */
    size_t used;
    char buf[4096];
} out;

static void flush(out *o) {
    for (size_t done = 0; done < o->used;) {
        ssize_t n = write(o->fd, o->buf + done, o->used - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (!o->err) o->err = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t)n;
    }
    o->used = 0;
}

static void __attribute__((format(printf, 2, 3))) put(out *o, const char *fmt, ...) {
    if (o->used > sizeof o->buf - 256) flush(o);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->used, sizeof o->buf - o->used, fmt, ap);
    va_end(ap);
    if (n > 0) o->used += (size_t)n < sizeof o->buf - o->used ? (size_t)n : sizeof o->buf - o->used - 1;
}

static void put_bytes(out *o, const char *name, uint64_t v) {
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double x = (double)v;
    int u = 0;
    while (x >= 1024 && u < 4) x /= 1024, u++;
    put(o, "  %-14s %20llu B  (%.1f %s)\n", name, (unsigned long long)v, x, unit[u]);
}

static void put_count(out *o, const char *name, uint64_t v) {
    put(o, "  %-14s %20llu\n", name, (unsigned long long)v);
}

static void put_memstats(out *o, const gm_memstats *m) {
    put(o, "MemStats:\n");
    put_bytes(o, "Alloc", m->alloc);
    put_bytes(o, "TotalAlloc", m->total_alloc);
    put_bytes(o, "Sys", m->sys);
    put_count(o, "Mallocs", m->mallocs);
    put_count(o, "Frees", m->frees);
    put_bytes(o, "HeapAlloc", m->heap_alloc);
    put_bytes(o, "HeapSys", m->heap_sys);
    put_bytes(o, "HeapIdle", m->heap_idle);
    put_bytes(o, "HeapInuse", m->heap_inuse);
    put_bytes(o, "HeapReleased", m->heap_released);
    put_count(o, "HeapObjects", m->heap_objects);
    put_bytes(o, "MSpanInuse", m->mspan_inuse);
    put_bytes(o, "MSpanSys", m->mspan_sys);
    put_bytes(o, "MCacheInuse", m->mcache_inuse);
    put_bytes(o, "MCacheSys", m->mcache_sys);
    put_bytes(o, "GCSys", m->gc_sys);
    put_bytes(o, "OtherSys", m->other_sys);
}

/* The thread caches' hit rate for a class: allocations served without a
 * refill, in tenths of a percent. */
static unsigned hit_permille(const gm_memstats_by_size *b) {
    if (!b->mallocs || b->refills >= b->mallocs) return 0;
    return (unsigned)((b->mallocs - b->refills) * 1000 / b->mallocs);
}

static void put_class(out *o, const char *cls, const char *size, const gm_memstats_by_size *b,
                      uint64_t nspans) {
    unsigned hit = hit_permille(b);
    put(o, "%5s %7s %14llu %14llu %12llu %8llu %12llu %5u.%u%%\n", cls, size,
        (unsigned long long)b->mallocs, (unsigned long long)b->frees,
        (unsigned long long)(b->mallocs - b->frees), (unsigned long long)nspans,
        (unsigned long long)b->refills, hit / 10, hit % 10);
}

static void put_classes(out *o, const gm_memstats *m, const uint64_t *nspans) {
    put(o, "%5s %7s %14s %14s %12s %8s %12s %7s\n", "class", "size", "mallocs", "frees", "live",
        "spans", "refills", "hit");
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        const gm_memstats_by_size *b = &m->by_size[c];
        if (!b->mallocs && !nspans[c]) continue;
        char cls[8], size[12];
        snprintf(cls, sizeof cls, "%d", c);
        snprintf(size, sizeof size, "%u", b->size);
        put_class(o, cls, size, b, nspans[c]);
    }
    put_class(o, "large", ">32K", &m->by_size[0], nspans[0]);
}

int gm_write_stats(int fd) {
    gm_memstats m;
    gm_read_memstats(&m);
    uint64_t nspans[GM_NUM_CLASSES], peak;
    gm__count_spans(nspans, &peak);
    int saved = errno;
    out o = {.fd = fd};
    put(&o, "gomalloc " GM_VERSION ": heap of pid %d (%s)\n", (int)getpid(),
        gm__sys_program_name());
    put_memstats(&o, &m);
    put(&o, "Peak:\n");
    put_bytes(&o, "HeapInuse", peak);
    put_bytes(&o, "RSS", gm__sys_peak_rss());
    uint64_t foreign = GM_LOAD(&gm__foreign_frees);
    if (foreign) put_count(&o, "ForeignFrees", foreign); /* see foreign.c */
    put(&o, "Size classes:\n");
    put_classes(&o, &m, nspans);
    flush(&o);
    if (o.err) {
        errno = o.err;
        return -1;
    }
    errno = saved;
    return 0;
}

/* "1" is stderr; "/proc/self/fd/N" (what `gomalloc run --stats` passes) is
 * descriptor N itself, written directly: reopening it through /proc would
 * fail for a socket, and N outlives the program closing its stderr. -1 for
 * a file name. */
static int stats_descriptor(const char *v) {
    if (strcmp(v, "1") == 0) return 2;
    static const char prefix[] = "/proc/self/fd/";
    if (strncmp(v, prefix, sizeof prefix - 1) != 0) return -1;
    char *end;
    long fd = strtol(v + sizeof prefix - 1, &end, 10);
    if (*end || end == v + sizeof prefix - 1 || fd < 0 || fd > INT_MAX) return -1;
    return fcntl((int)fd, F_GETFD) >= 0 ? (int)fd : -1;
}

/* GOMALLOC_STATS: "1" (stderr) or a file to append to; GOMALLOC_STATS_PID
 * limits it to one process of a tree (gomalloc run sets it). */
static void __attribute__((destructor)) stats_at_exit(void) {
    gm__ensure_init();
    if (!gm__opts.stats || !*gm__opts.stats) return;
    if (gm__opts.stats_pid && gm__opts.stats_pid != (uint64_t)getpid()) return;
    if (strcmp(gm__opts.stats, "0") == 0) return;
    int saved = errno;
    int fd = stats_descriptor(gm__opts.stats);
    if (fd >= 0) {
        gm_write_stats(fd);
    } else {
        int fd = open(gm__opts.stats, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            gm_write_stats(fd);
            close(fd);
        } else {
            static const char msg[] = "gomalloc: cannot open GOMALLOC_STATS file\n";
            gm__sys_write_err(msg, sizeof msg - 1);
        }
    }
    errno = saved;
}
