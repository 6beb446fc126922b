/*
 * Go's runtime/metrics over MemStats and the collector's state, and the
 * GOMALLOC_METRICS time series. See malloc.c for the allocator and mgc.c
 * for the collector; Go's metrics.go and description.go are the model.
 *
 * One read, one snapshot. gm_read_metrics reads MemStats once and the
 * collector's own numbers (tiny allocations, marked bytes, scanned roots,
 * CPU, the pause histogram, GOGC and GOMEMLIMIT) under the gc lock before
 * and after it; if a cycle ended or tiny objects were placed in between,
 * it reads again (at most four times), so the values of one call describe
 * one state. Every metric is derived from that snapshot the way Go derives
 * it from its statistics, so Go's identities with MemStats hold:
 *   /memory/classes/heap/objects   = heap_alloc
 *   /memory/classes/heap/unused    = heap_inuse - heap_alloc
 *   /memory/classes/heap/free      = heap_idle - heap_released
 *   /memory/classes/heap/released  = heap_released
 *   /memory/classes/total          = sys = the sum of the other classes
 *   /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects = mallocs
 *   /gc/heap/frees:objects  + /gc/heap/tiny/allocs:objects = frees
 *   /gc/heap/allocs:bytes = total_alloc, frees:bytes = total_alloc - heap_alloc
 *   /cpu/classes/gc/total / /cpu/classes/total = gc_cpu_fraction
 * (A subtraction that a concurrent change makes negative reads 0, and the
 * total is the sum of the classes, so the classes always add up.) Where we
 * differ: the heap goal and /gc/heap/live count collected objects (gm_new*)
 * only, the heap the collector paces; malloc'd memory is in every other
 * heap metric. GOMAXPROCS is GOMALLOC_MARKERS (else the cores), while the
 * CPU classes count the cores as gc_cpu_fraction and gctrace do.
 *
 * What is left out: metrics we cannot compute honestly (goroutines and the
 * scheduler, finalizer and cleanup counts, scannable heap bytes, the CPU
 * classes other than the collector's, the stop-the-world stopping time
 * apart from the whole pause).
 *
 * The time series. With GOMALLOC_METRICS=FILE (%p = pid) a constructor
 * starts a sampler thread (a collector helper: never registered, every
 * signal blocked; it only reads statistics, never collected memory) that
 * appends one JSON object per line every GOMALLOC_METRICS_INTERVAL (at
 * least 1 ms), and a destructor appends a last line at exit:
 *   {"pid":1234,"t":0.300112,"rss":5234688,"/cpu/classes/gc/total:cpu-seconds":0.001234,
 *    "/gc/cycles/automatic:gc-cycles":2, ... every uint64 and float64 metric}
 * t is seconds since the allocator started (gctrace's @ clock). Histograms
 * are left out (read them with gm_read_metrics). Each line is one write(2)
 * on an O_APPEND descriptor, so lines of several processes sharing a file
 * never interleave inside a line; pid tells them apart. A forked child
 * gets a sampler of its own (its first line one interval after the fork,
 * so a child that execs at once writes nothing); a program it execs starts
 * its own series.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mgc.h"

/* ---- histogram buckets ------------------------------------------------- */

/* Go's timeHistogram (histogram.go): an HDR histogram of nanoseconds. A
 * duration with highest set bit b (b >= MIN_BITS) goes to bucket
 * b - MIN_BITS + 1, sub-bucket by the next SUB_BITS bits; shorter ones to
 * bucket 0; from 2^(MAX_BITS-1) ns on, the overflow bucket. Count 0 is the
 * underflow bucket (negative durations: never, with unsigned clocks). */
enum {
    TIME_MIN_BITS = 9,
    TIME_MAX_BITS = 48,
    TIME_SUB_BITS = 2,
    TIME_SUBS = 1 << TIME_SUB_BITS,
    TIME_NUM = TIME_MAX_BITS - TIME_MIN_BITS + 1,
    TIME_BUCKETS = TIME_NUM * TIME_SUBS + 2, /* 162, with underflow and overflow */
    SIZE_BUCKETS = GM_NUM_CLASSES,           /* 67 classes, then large objects */
};
_Static_assert(TIME_BUCKETS <= GM_METRIC_HIST_MAX, "pause histogram fits the API");
_Static_assert(SIZE_BUCKETS <= GM_METRIC_HIST_MAX, "size histogram fits the API");

static double time_edges[TIME_BUCKETS + 1]; /* seconds; filled once, then read-only */
static double size_edges[SIZE_BUCKETS + 1]; /* bytes */

/* Go's timeHistogramMetricsBuckets: exact in float64. */
static void init_time_edges(void) {
    time_edges[0] = -__builtin_inf();
    for (int j = 0; j < TIME_SUBS; j++)
        time_edges[j + 1] = (double)((uint64_t)j << (TIME_MIN_BITS - 1 - TIME_SUB_BITS)) / 1e9;
    for (int i = TIME_MIN_BITS; i < TIME_MAX_BITS; i++) {
        for (int j = 0; j < TIME_SUBS; j++) {
            uint64_t ns = (uint64_t)1 << (i - 1) | (uint64_t)j << (i - 1 - TIME_SUB_BITS);
            time_edges[(i - TIME_MIN_BITS + 1) * TIME_SUBS + j + 1] = (double)ns / 1e9;
        }
    }
    time_edges[TIME_BUCKETS - 1] = (double)((uint64_t)1 << (TIME_MAX_BITS - 1)) / 1e9;
    time_edges[TIME_BUCKETS] = __builtin_inf();
}

/* Go's sizeClassBuckets: a class's sizes are (previous, size], buckets are
 * [lo, hi), so every edge is a class size + 1; large objects go to the
 * last bucket, [32769, +Inf). */
static void init_size_edges(void) {
    size_edges[0] = 1;
    for (int c = 1; c < GM_NUM_CLASSES; c++) size_edges[c] = gm__class_to_size[c] + 1.0;
    size_edges[SIZE_BUCKETS] = __builtin_inf();
}

/* The bucket of a pause of ns nanoseconds, as Go's timeHistogram.record. */
static size_t time_bucket(uint64_t ns) {
    unsigned len = ns ? 64 - (unsigned)__builtin_clzll(ns) : 0, bit = TIME_MIN_BITS, b = 0;
    if (len >= TIME_MIN_BITS) {
        bit = len;
        b = len - TIME_MIN_BITS + 1;
    }
    if (b >= TIME_NUM) return TIME_BUCKETS - 1;
    unsigned sub = (unsigned)(ns >> (bit - 1 - TIME_SUB_BITS)) % TIME_SUBS;
    return 1 + b * TIME_SUBS + sub;
}

/* Counts of stop-the-world pauses. Written by the collector (gc lock held)
 * and read under the gc lock; atomics so that neither rule is needed. */
static uint64_t pause_counts[TIME_BUCKETS];

void gm__metrics_record_pause(uint64_t ns) { GM_ADD(&pause_counts[time_bucket(ns)], 1); }

/* ---- the snapshot -------------------------------------------------------- */

/* What MemStats does not carry, read under the gc lock. */
typedef struct gc_part {
    uint64_t tiny;          /* Go's tinyAllocs: in MemStats' mallocs and frees */
    uint32_t cycle;         /* completed cycles: a change means a new state */
    uint64_t heap_marked;   /* collected bytes the last cycle marked */
    uint64_t stacks_bytes, globals_bytes; /* roots the last cycle scanned */
    uint64_t gc_cpu_ns, start_ns;
    int gc_percent;         /* -1 = off */
    int64_t memory_limit;
    uint64_t pauses[TIME_BUCKETS];
} gc_part;

typedef struct snapshot {
    gm_memstats m;
    gc_part g;
    uint64_t now_ns;        /* monotonic, when taken */
} snapshot;

static void read_gc_part(gc_part *g) {
    uint64_t nmalloc[GM_GC_NUM_CLASSES] = {0}; /* counted by MemStats; unused here */
    gm__gc_lock_acquire(true);
    g->tiny = gm__gc.tiny_allocs;
    gm__gthread_count_cached(nmalloc, &g->tiny);
    g->cycle = gm__gc.cycle;
    g->heap_marked = gm__gc.heap_marked;
    g->stacks_bytes = gm__gc.stacks_bytes;
    g->globals_bytes = gm__gc.globals_bytes;
    g->gc_cpu_ns = gm__gc.gc_cpu_ns;
    g->start_ns = gm__gc.start_ns;
    g->gc_percent = gm__gc.gc_percent;
    g->memory_limit = gm__gc.memory_limit;
    for (size_t i = 0; i < TIME_BUCKETS; i++) g->pauses[i] = GM_LOAD(&pause_counts[i]);
    gm__unlock(&gm__gc_lock);
}

static void take_snapshot(snapshot *s) {
    gc_part after;
    read_gc_part(&s->g);
    for (int tries = 0;; tries++) {
        gm_read_memstats(&s->m);
        read_gc_part(&after);
        bool same = after.tiny == s->g.tiny && after.cycle == s->g.cycle;
        s->g = after;
        if (same || tries == 3) break;
    }
    s->now_ns = gm__nanotime();
}

/* ---- the metrics ------------------------------------------------------------ */

static uint64_t sub0(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

/* Go's GOMAXPROCS for us: the threads that mark in parallel
 * (GOMALLOC_MARKERS, else the cores), bounded as mgcmark.c bounds it. */
static uint64_t gomaxprocs(const snapshot *s) {
    (void)s;
    uint64_t n = gm__opts.markers ? gm__opts.markers : gm__nprocs();
    return n > 64 ? 64 : n;
}

static double gc_cpu(const snapshot *s) { return (double)s->g.gc_cpu_ns / 1e9; }
static double cpu_total(const snapshot *s) {
    return (double)sub0(s->now_ns, s->g.start_ns) * gm__nprocs() / 1e9;
}
static uint64_t cycles_auto(const snapshot *s) { return sub0(s->m.num_gc, s->m.num_forced_gc); }
static uint64_t cycles_forced(const snapshot *s) { return s->m.num_forced_gc; }
static uint64_t cycles_total(const snapshot *s) { return s->m.num_gc; }
/* Go reports the int32 setting as a uint64: off (-1) reads 2^64 - 1. */
static uint64_t gogc(const snapshot *s) { return (uint64_t)(int64_t)s->g.gc_percent; }
static uint64_t memlimit(const snapshot *s) { return (uint64_t)s->g.memory_limit; }
static uint64_t allocs_bytes(const snapshot *s) { return s->m.total_alloc; }
static uint64_t allocs_objects(const snapshot *s) { return sub0(s->m.mallocs, s->g.tiny); }
static uint64_t frees_bytes(const snapshot *s) { return sub0(s->m.total_alloc, s->m.heap_alloc); }
static uint64_t frees_objects(const snapshot *s) { return sub0(s->m.frees, s->g.tiny); }
static uint64_t heap_goal(const snapshot *s) { return s->m.next_gc; }
static uint64_t heap_live(const snapshot *s) { return s->g.heap_marked; }
static uint64_t heap_objects(const snapshot *s) { return s->m.heap_objects; }
static uint64_t tiny_allocs(const snapshot *s) { return s->g.tiny; }
static uint64_t scan_globals(const snapshot *s) { return s->g.globals_bytes; }
static uint64_t scan_stack(const snapshot *s) { return s->g.stacks_bytes; }

static uint64_t mem_heap_free(const snapshot *s) {
    return sub0(s->m.heap_idle, s->m.heap_released);
}
static uint64_t mem_heap_objects(const snapshot *s) { return s->m.heap_alloc; }
static uint64_t mem_heap_released(const snapshot *s) { return s->m.heap_released; }
static uint64_t mem_heap_stacks(const snapshot *s) { return s->m.stack_inuse; }
static uint64_t mem_heap_unused(const snapshot *s) {
    return sub0(s->m.heap_inuse, s->m.heap_alloc);
}
static uint64_t mem_mcache_free(const snapshot *s) {
    return sub0(s->m.mcache_sys, s->m.mcache_inuse);
}
static uint64_t mem_mcache_inuse(const snapshot *s) { return s->m.mcache_inuse; }
static uint64_t mem_mspan_free(const snapshot *s) {
    return sub0(s->m.mspan_sys, s->m.mspan_inuse);
}
static uint64_t mem_mspan_inuse(const snapshot *s) { return s->m.mspan_inuse; }
static uint64_t mem_meta_other(const snapshot *s) { return s->m.gc_sys; }
static uint64_t mem_os_stacks(const snapshot *s) { return sub0(s->m.stack_sys, s->m.stack_inuse); }
static uint64_t mem_other(const snapshot *s) { return s->m.other_sys; }
static uint64_t mem_profiling(const snapshot *s) { return s->m.buck_hash_sys; }
/* Sys, as the sum of the classes (see the top of the file). */
static uint64_t mem_total(const snapshot *s) {
    return mem_heap_free(s) + mem_heap_objects(s) + mem_heap_released(s) + mem_heap_stacks(s) +
           mem_heap_unused(s) + mem_mcache_free(s) + mem_mcache_inuse(s) + mem_mspan_free(s) +
           mem_mspan_inuse(s) + mem_meta_other(s) + mem_os_stacks(s) + mem_other(s) +
           mem_profiling(s);
}

/* by_size[c] for classes 1..67, then large objects (our by_size[0]). */
static void by_size_hist(const snapshot *s, gm_metric_histogram *h, bool frees) {
    h->nbuckets = SIZE_BUCKETS;
    h->buckets = size_edges;
    for (int c = 1; c < GM_NUM_CLASSES; c++)
        h->counts[c - 1] = frees ? s->m.by_size[c].frees : s->m.by_size[c].mallocs;
    h->counts[SIZE_BUCKETS - 1] = frees ? s->m.by_size[0].frees : s->m.by_size[0].mallocs;
}
static void allocs_by_size(const snapshot *s, gm_metric_histogram *h) { by_size_hist(s, h, false); }
static void frees_by_size(const snapshot *s, gm_metric_histogram *h) { by_size_hist(s, h, true); }
static void pauses(const snapshot *s, gm_metric_histogram *h) {
    h->nbuckets = TIME_BUCKETS;
    h->buckets = time_edges;
    memcpy(h->counts, s->g.pauses, sizeof s->g.pauses);
}

typedef struct metric {
    gm_metric_description d;
    uint64_t (*u64)(const snapshot *s);                        /* GM_METRIC_UINT64 */
    double (*f64)(const snapshot *s);                          /* GM_METRIC_FLOAT64 */
    void (*hist)(const snapshot *s, gm_metric_histogram *h);   /* GM_METRIC_HISTOGRAM */
} metric;

#define U64(name, cum, fn, desc) {{name, desc, GM_METRIC_UINT64, cum}, fn, NULL, NULL}
#define F64(name, cum, fn, desc) {{name, desc, GM_METRIC_FLOAT64, cum}, NULL, fn, NULL}
#define HIST(name, fn, desc) {{name, desc, GM_METRIC_HISTOGRAM, 1}, NULL, NULL, fn}
#define CPU_CAVEAT                                                                    \
    "This metric is an overestimate, and not directly comparable to system CPU time " \
    "measurements. Compare only with other /cpu/classes metrics."
#define TINY_NOTE                                                                        \
    "Note that this does not include tiny objects as defined by /gc/heap/tiny/allocs:objects, " \
    "only tiny blocks."
#define PAUSES_TEXT                                                                      \
    "Distribution of individual GC-related stop-the-world pause latencies. This is the " \
    "time from deciding to stop the world until the world is started again. Some of "   \
    "this time is spent getting all threads to stop (this is measured directly in "    \
    "/sched/pauses/stopping/gc:seconds), during which some threads may still be "       \
    "running. Bucket counts increase monotonically."

/* Go's names, kinds and descriptions (description.go), in Go's order. */
static const metric table[] = {
    F64("/cpu/classes/gc/total:cpu-seconds", 1, gc_cpu,
        "Estimated total CPU time spent performing GC tasks. " CPU_CAVEAT
        " Sum of all metrics in /cpu/classes/gc."),
    F64("/cpu/classes/total:cpu-seconds", 1, cpu_total,
        "Estimated total available CPU time for user Go code or the Go runtime, as defined "
        "by GOMAXPROCS. In other words, GOMAXPROCS integrated over the wall-clock duration "
        "this process has been executing for. " CPU_CAVEAT " Sum of all metrics in /cpu/classes."),
    U64("/gc/cycles/automatic:gc-cycles", 1, cycles_auto,
        "Count of completed GC cycles generated by the Go runtime."),
    U64("/gc/cycles/forced:gc-cycles", 1, cycles_forced,
        "Count of completed GC cycles forced by the application."),
    U64("/gc/cycles/total:gc-cycles", 1, cycles_total, "Count of all completed GC cycles."),
    U64("/gc/gogc:percent", 0, gogc,
        "Heap size target percentage configured by the user, otherwise 100. This value is set "
        "by the GOGC environment variable, and the runtime/debug.SetGCPercent function."),
    U64("/gc/gomemlimit:bytes", 0, memlimit,
        "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value "
        "is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit "
        "function."),
    HIST("/gc/heap/allocs-by-size:bytes", allocs_by_size,
         "Distribution of heap allocations by approximate size. Bucket counts increase "
         "monotonically. " TINY_NOTE),
    U64("/gc/heap/allocs:bytes", 1, allocs_bytes,
        "Cumulative sum of memory allocated to the heap by the application."),
    U64("/gc/heap/allocs:objects", 1, allocs_objects,
        "Cumulative count of heap allocations triggered by the application. " TINY_NOTE),
    HIST("/gc/heap/frees-by-size:bytes", frees_by_size,
         "Distribution of freed heap allocations by approximate size. Bucket counts increase "
         "monotonically. " TINY_NOTE),
    U64("/gc/heap/frees:bytes", 1, frees_bytes,
        "Cumulative sum of heap memory freed by the garbage collector."),
    U64("/gc/heap/frees:objects", 1, frees_objects,
        "Cumulative count of heap allocations whose storage was freed by the garbage "
        "collector. " TINY_NOTE),
    U64("/gc/heap/goal:bytes", 0, heap_goal, "Heap size target for the end of the GC cycle."),
    U64("/gc/heap/live:bytes", 0, heap_live,
        "Heap memory occupied by live objects that were marked by the previous GC."),
    U64("/gc/heap/objects:objects", 0, heap_objects,
        "Number of objects, live or unswept, occupying heap memory."),
    U64("/gc/heap/tiny/allocs:objects", 1, tiny_allocs,
        "Count of small allocations that are packed together into blocks. These allocations "
        "are counted separately from other allocations because each individual allocation "
        "is not tracked by the runtime, only their block. Each block is already accounted "
        "for in allocs-by-size and frees-by-size."),
    HIST("/gc/pauses:seconds", pauses,
         "Deprecated. Prefer the identical /sched/pauses/total/gc:seconds."),
    U64("/gc/scan/globals:bytes", 0, scan_globals,
        "The total amount of global variable space that is scannable."),
    U64("/gc/scan/stack:bytes", 0, scan_stack,
        "The number of bytes of stack that were scanned last GC cycle."),
    U64("/memory/classes/heap/free:bytes", 0, mem_heap_free,
        "Memory that is completely free and eligible to be returned to the underlying "
        "system, but has not been. This metric is the runtime's estimate of free address "
        "space that is backed by physical memory."),
    U64("/memory/classes/heap/objects:bytes", 0, mem_heap_objects,
        "Memory occupied by live objects and dead objects that have not yet been marked "
        "free by the garbage collector."),
    U64("/memory/classes/heap/released:bytes", 0, mem_heap_released,
        "Memory that is completely free and has been returned to the underlying system. "
        "This metric is the runtime's estimate of free address space that is still mapped "
        "into the process, but is not backed by physical memory."),
    U64("/memory/classes/heap/stacks:bytes", 0, mem_heap_stacks,
        "Memory allocated from the heap that is reserved for stack space, whether or not it "
        "is currently in-use. Currently, this represents all stack memory for goroutines. It "
        "also includes all OS thread stacks in non-cgo programs. Note that stacks may be "
        "allocated differently in the future, and this may change."),
    U64("/memory/classes/heap/unused:bytes", 0, mem_heap_unused,
        "Memory that is reserved for heap objects but is not currently used to hold heap "
        "objects."),
    U64("/memory/classes/metadata/mcache/free:bytes", 0, mem_mcache_free,
        "Memory that is reserved for runtime mcache structures, but not in-use."),
    U64("/memory/classes/metadata/mcache/inuse:bytes", 0, mem_mcache_inuse,
        "Memory that is occupied by runtime mcache structures that are currently being used."),
    U64("/memory/classes/metadata/mspan/free:bytes", 0, mem_mspan_free,
        "Memory that is reserved for runtime mspan structures, but not in-use."),
    U64("/memory/classes/metadata/mspan/inuse:bytes", 0, mem_mspan_inuse,
        "Memory that is occupied by runtime mspan structures that are currently being used."),
    U64("/memory/classes/metadata/other:bytes", 0, mem_meta_other,
        "Memory that is reserved for or used to hold runtime metadata."),
    U64("/memory/classes/os-stacks:bytes", 0, mem_os_stacks,
        "Stack memory allocated by the underlying operating system. In non-cgo programs this "
        "metric is currently zero. This may change in the future.In cgo programs this metric "
        "includes OS thread stacks allocated directly from the OS. Currently, this only "
        "accounts for one stack in c-shared and c-archive build modes, and other sources of "
        "stacks from the OS are not measured. This too may change in the future."),
    U64("/memory/classes/other:bytes", 0, mem_other,
        "Memory used by execution trace buffers, structures for debugging the runtime, "
        "finalizer and profiler specials, and more."),
    U64("/memory/classes/profiling/buckets:bytes", 0, mem_profiling,
        "Memory that is used by the stack trace hash map used for profiling."),
    U64("/memory/classes/total:bytes", 0, mem_total,
        "All memory mapped by the Go runtime into the current process as read-write. Note "
        "that this does not include memory mapped by code called via cgo or via the syscall "
        "package. Sum of all metrics in /memory/classes."),
    U64("/sched/gomaxprocs:threads", 0, gomaxprocs,
        "The current runtime.GOMAXPROCS setting, or the number of operating system threads "
        "that can execute user-level Go code simultaneously."),
    HIST("/sched/pauses/total/gc:seconds", pauses, PAUSES_TEXT),
};
#define NMETRICS (sizeof table / sizeof table[0])

static gm_metric_description descs[NMETRICS]; /* the public view of table; filled once */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void metrics_init(void) {
    for (size_t i = 0; i < NMETRICS; i++) descs[i] = table[i].d;
    init_time_edges();
    init_size_edges();
}

size_t gm_metrics_all(const gm_metric_description **out) {
    pthread_once(&init_once, metrics_init);
    *out = descs;
    return NMETRICS;
}

static const metric *find(const char *name) {
    for (size_t i = 0; name && i < NMETRICS; i++)
        if (strcmp(table[i].d.name, name) == 0) return &table[i];
    return NULL;
}

static void fill(gm_metric_sample *out, const metric *mt, const snapshot *s) {
    out->kind = mt ? mt->d.kind : GM_METRIC_BAD;
    out->u64 = 0;
    out->f64 = 0;
    memset(&out->hist, 0, sizeof out->hist);
    if (!mt) return;
    if (mt->u64) out->u64 = mt->u64(s);
    else if (mt->f64) out->f64 = mt->f64(s);
    else mt->hist(s, &out->hist);
}

/* The snapshot lives on the caller's stack (about 16 KiB with what
 * gm_read_memstats uses): no allocation, so the sampler and allocation
 * hooks may read metrics too. */
void gm_read_metrics(gm_metric_sample *samples, size_t n) {
    pthread_once(&init_once, metrics_init);
    snapshot s;
    bool taken = false;
    for (size_t i = 0; i < n; i++) {
        const metric *mt = find(samples[i].name);
        if (mt && !taken) {
            take_snapshot(&s);
            taken = true;
        }
        fill(&samples[i], mt, &s);
    }
}

/* ---- the time series (GOMALLOC_METRICS) -------------------------------- */

/* A line under construction; a pair that does not fit is dropped whole,
 * so a line is always valid JSON. */
typedef struct line {
    char buf[8192]; /* about 3 KiB used */
    size_t len;
} line;

static size_t fmt_u64(char *b, uint64_t v) {
    char t[20];
    size_t n = 0;
    do t[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (size_t i = 0; i < n; i++) b[i] = t[n - 1 - i];
    return n;
}

/* Fixed point with 6 decimals: no stdio and no locale in the sampler. */
static size_t fmt_f64(char *b, double v) {
    if (!(v >= 0)) v = 0;
    if (v > 1e12) v = 1e12;
    uint64_t us = (uint64_t)(v * 1e6 + 0.5), frac = us % 1000000;
    size_t n = fmt_u64(b, us / 1000000);
    b[n++] = '.';
    for (uint64_t d = 100000; d > 0; d /= 10) b[n++] = (char)('0' + frac / d % 10);
    return n;
}

/* ,"key":value (no comma before the first pair). */
static void put_pair(line *l, const char *key, const char *val, size_t vlen) {
    size_t klen = strlen(key), need = klen + vlen + 4;
    if (l->len + need + 2 > sizeof l->buf) return; /* room for "}\n" */
    char *p = l->buf + l->len;
    if (l->len > 1) *p++ = ',';
    *p++ = '"';
    memcpy(p, key, klen);
    p += klen;
    *p++ = '"';
    *p++ = ':';
    memcpy(p, val, vlen);
    p += vlen;
    l->len = (size_t)(p - l->buf);
}

static void put_u64(line *l, const char *key, uint64_t v) {
    char b[24];
    put_pair(l, key, b, fmt_u64(b, v));
}

static void put_f64(line *l, const char *key, double v) {
    char b[40];
    put_pair(l, key, b, fmt_f64(b, v));
}

/* One line from one snapshot: the same functions as gm_read_metrics. */
static void format_line(line *l, const snapshot *s) {
    l->buf[0] = '{';
    l->len = 1;
    put_u64(l, "pid", (uint64_t)getpid());
    put_f64(l, "t", (double)sub0(s->now_ns, s->g.start_ns) / 1e9);
    put_u64(l, "rss", gm__sys_rss());
    for (size_t i = 0; i < NMETRICS; i++) {
        const metric *mt = &table[i];
        if (mt->u64) put_u64(l, mt->d.name, mt->u64(s));
        else if (mt->f64) put_f64(l, mt->d.name, mt->f64(s));
    }
    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
}

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* The series of this process. lock orders lines (sampler vs. the exit
 * line) and guards the fields; it is taken before any allocator lock and
 * never while holding one. */
static struct {
    gm_mutex lock;
    int fd;        /* -1: no series (atomic reads outside the lock) */
    int pid;       /* the process fd belongs to */
    bool done;     /* the exit line is written: the sampler stops */
} series = {GM_MUTEX_INIT, -1, 0, false};

/* Appends a line; false once the series is over (or belongs to the parent
 * of a forked child). last: this is the exit line. */
static bool series_write(bool last) {
    gm__lock_park(&series.lock);
    bool live = !series.done && series.fd >= 0 && series.pid == getpid();
    if (live) {
        snapshot s;
        static line l; /* under series.lock; 8 KiB off the stack */
        take_snapshot(&s);
        format_line(&l, &s);
        write_all(series.fd, l.buf, l.len);
        series.done = last;
    }
    gm__unlock(&series.lock);
    return live && !last;
}

static void warn(const char *what, const char *path) {
    static const char pre[] = "gomalloc: GOMALLOC_METRICS: ";
    gm__sys_write_err(pre, sizeof pre - 1);
    gm__sys_write_err(what, strlen(what));
    gm__sys_write_err(path, strlen(path));
    gm__sys_write_err("\n", 1);
}

/* Opens the file for this process (%p = its pid). series.lock held or no
 * other thread using the series. */
static bool series_open(void) {
    char path[4096];
    if (!gm__expand_path(gm__opts.metrics, path, sizeof path)) {
        warn("file name too long: ", gm__opts.metrics);
        return false;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        warn("cannot open ", path);
        return false;
    }
    series.pid = (int)getpid();
    GM_STORE(&series.fd, fd);
    return true;
}

static void sleep_until(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

/* The sampler: a line now (or, in a forked child, after one interval),
 * then one per interval. Lines are not sent in bursts to catch up: a late
 * line moves the schedule. */
static void *sampler_main(void *delay_first) {
    uint64_t interval = gm__opts.metrics_interval_ns;
    if (interval < 1000000) interval = 1000000; /* 1 ms: sampling costs a MemStats read */
    uint64_t next = gm__nanotime() + (delay_first ? interval : 0);
    for (;;) {
        sleep_until(next);
        if (!series_write(false)) return NULL;
        uint64_t now = gm__nanotime();
        next += interval;
        if (next <= now) next = now + interval;
    }
}

/* fork: the child has no sampler thread and may hold a copy of a locked
 * lock. It starts its own series (its own file with %p, else the same
 * file, lines told apart by pid). Runs after fork.c's handler (registered
 * at init, before ours), so the allocator is usable. */
static void series_fork_child(void) {
    gm__lock_reinit(&series.lock);
    int fd = series.fd;
    GM_STORE(&series.fd, -1);
    if (fd >= 0) close(fd);
    if (fd >= 0 && !series.done && series_open()) gm__start_helper(sampler_main, (void *)1);
}

/* At load rather than at the first allocation: a thread must not be
 * started from inside malloc, and under LD_PRELOAD the first malloc comes
 * from the loader. */
static void __attribute__((constructor)) series_at_load(void) {
    const char *env = getenv("GOMALLOC_METRICS");
    if (!env || !*env) return; /* the common case: do not even initialise */
    gm__ensure_init();
    /* Options read before libc set environ (a malloc from the loader) are
     * defaults; options.c reads them again from its constructor, which
     * may not have run yet. */
    if (!*gm__opts.metrics) gm__options_init();
    if (!*gm__opts.metrics || !series_open()) return;
    pthread_once(&init_once, metrics_init);
    pthread_atfork(NULL, NULL, series_fork_child);
    if (!gm__start_helper(sampler_main, NULL)) warn("cannot start the sampler thread", "");
}

/* The last line: what the program ends with, however short it ran. */
static void __attribute__((destructor)) series_at_exit(void) {
    if (GM_LOAD(&series.fd) < 0) return;
    int saved = errno;
    series_write(true);
    errno = saved;
}
