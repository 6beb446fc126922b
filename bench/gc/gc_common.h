/*
 * gc_common.h — what the garbage-collector benchmarks (the C programs of bench/gc) share.
 *
 * Every program builds three ways from one source:
 *   -DGCB_GOMALLOC  collected objects from gomalloc (gm_new, gm_new_noscan;
 *                   gm_new_typed with -DGCB_GM_TYPED where a program offers
 *                   it), threads from gm_pthread_create; linked to
 *                   gomalloc_core (build/bench/gc/<name>_gm)
 *   -DGCB_BOEHM     the Boehm-Demers-Weiser collector (GC_MALLOC,
 *                   GC_MALLOC_ATOMIC; add -DGCB_THREADS for GC_THREADS);
 *                   linked with -lgc (build/bench/gc/<name>_boehm)
 * The collected builds use each API the way its manual's first example
 * does: gm_new where Boehm has GC_MALLOC (conservative scanning), and
 * gm_new_noscan where it has GC_MALLOC_ATOMIC (pointer-free data).
 *   (neither)       malloc/free, every object freed explicitly; mimalloc and
 *                   glibc are measured by running it with and without
 *                   LD_PRELOAD (build/bench/gc/<name>_sys)
 * and bench/gc/<name>.go is the same program in Go (gc_common.go is this
 * file's Go twin).
 *
 * A program prints one result line whose checksum depends only on the work
 * done (never on addresses or timing), and, for the collected variants, one
 *     gc: cycles=N pause_max_ms=X pause_p99_ms=Y pause_total_ms=Z pauses=K
 * line: N collections, the longest and the 99th percentile stop-the-world
 * pause among the K pauses seen, and the total stop-the-world time; and,
 * from gc_cpu_report() (the malloc build prints nothing), one
 *     gccpu: total_ms=T per_cycle_ms=C source=S
 * line: the collector's CPU time T (ms) and T over the cycles, and where
 * they come from:
 *   gomalloc  S=metrics: /cpu/classes/gc/total:cpu-seconds (sweep
 *             termination, marking with the helper markers' CPU, mark
 *             termination) and /gc/cycles/total:gc-cycles, from
 *             gm_read_metrics (S=none, T and C "-", when they are missing)
 *   Boehm     S=stw-process-cpu: the process CPU time
 *             (CLOCK_PROCESS_CPUTIME_ID, every thread: the collecting one
 *             and the parallel markers) spent while the world was stopped,
 *             read in the collection events, over GC_get_gc_no(); then
 *             full_gc_wall_ms=GC_get_full_gc_total_time() (wall ms of full
 *             collections) and incremental=1 in incremental mode
 * Lazy sweeping during allocation is in neither.
 *
 * Where the pauses come from:
 *   gomalloc  gm_read_memstats: num_gc, the pause_ns ring of the last 256
 *             cycles and pause_total_ns, as Go's MemStats. gcb_sample()
 *             collects the ring's new entries; a program calls it between
 *             phases (and at the end). Cycles that left the ring before a
 *             sample are not seen: then K < N.
 *   Boehm     GC_set_on_collection_event: CLOCK_MONOTONIC at
 *             GC_EVENT_PRE_STOP_WORLD and GC_EVENT_POST_START_WORLD, every
 *             collection recorded (the last 65,536 kept for the p99). A
 *             library built without threads emits no stop-the-world events:
 *             then GC_EVENT_START .. GC_EVENT_END is the pause (the whole
 *             collection runs in the allocating thread).
 *
 * Include it first: it includes bench/bench_alloc.h (PRNG, bench_mix,
 * bench_arg), which must come before any system header.
 */
#ifndef GC_COMMON_H
#define GC_COMMON_H

#include "bench_alloc.h"

#include <time.h>

#if defined(GCB_GOMALLOC) && defined(GCB_BOEHM)
#error "GCB_GOMALLOC and GCB_BOEHM exclude each other"
#endif

#if defined(GCB_GOMALLOC)
#include <gomalloc.h>
#define GCB_VARIANT "gomalloc"
#define GCB_COLLECTED 1
#elif defined(GCB_BOEHM)
#if defined(GCB_THREADS) && !defined(GC_THREADS)
#define GC_THREADS
#endif
#include <pthread.h> /* before gc.h, which redirects pthread_create */
#include <gc.h>
#define GCB_VARIANT "boehm"
#define GCB_COLLECTED 1
#else
#define GCB_VARIANT "malloc"
#define GCB_COLLECTED 0
#endif

static inline uint64_t gcb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- pause bookkeeping (every variant compiles it; malloc never records) */

#define GCB_PAUSE_KEEP 65536 /* pauses kept for the percentile */

static BENCH_UNUSED struct {
    uint64_t *ring;   /* malloc'd: neither collector scans it */
    uint64_t count;   /* pauses recorded */
    uint64_t max_ns;  /* over every recorded pause */
    uint64_t total_ns;
} gcb_pauses;

static BENCH_UNUSED void gcb_record_pause(uint64_t ns)
{
    if (gcb_pauses.ring == NULL)
        return;
    gcb_pauses.ring[gcb_pauses.count % GCB_PAUSE_KEEP] = ns;
    gcb_pauses.count++;
    gcb_pauses.total_ns += ns;
    if (ns > gcb_pauses.max_ns)
        gcb_pauses.max_ns = ns;
}

static BENCH_UNUSED int gcb_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The 99th percentile (nearest rank) of the kept pauses. */
static BENCH_UNUSED uint64_t gcb_p99_ns(void)
{
    size_t n = gcb_pauses.count < GCB_PAUSE_KEEP ? (size_t)gcb_pauses.count : GCB_PAUSE_KEEP;
    if (n == 0)
        return 0;
    uint64_t *v = malloc(n * sizeof *v);
    if (v == NULL)
        bench_die("out of memory for the pause list");
    memcpy(v, gcb_pauses.ring, n * sizeof *v);
    qsort(v, n, sizeof *v, gcb_cmp_u64);
    size_t rank = (size_t)((n * 99 + 99) / 100); /* ceil(0.99 n), 1-based */
    uint64_t p = v[rank - 1];
    free(v);
    return p;
}

static BENCH_UNUSED void gcb_print_line(uint64_t cycles, uint64_t total_ns)
{
    printf("gc: cycles=%llu pause_max_ms=%.3f pause_p99_ms=%.3f pause_total_ms=%.3f pauses=%llu\n",
           (unsigned long long)cycles, (double)gcb_pauses.max_ns / 1e6,
           (double)gcb_p99_ns() / 1e6, (double)total_ns / 1e6,
           (unsigned long long)gcb_pauses.count);
}

/* ---- gomalloc ----------------------------------------------------------- */
#if defined(GCB_GOMALLOC)

static uint32_t gcb_seen_gc; /* cycles whose pause has been taken from the ring */

static inline void gcb_init(void)
{
    gcb_pauses.ring = malloc(GCB_PAUSE_KEEP * sizeof(uint64_t));
    if (gcb_pauses.ring == NULL)
        bench_die("out of memory for the pause list");
    gm_register_thread();
}

/* The gccpu: line, from the runtime metrics. */
static BENCH_UNUSED void gc_cpu_report(void)
{
    gm_metric_sample s[2];
    memset(s, 0, sizeof s);
    s[0].name = "/cpu/classes/gc/total:cpu-seconds";
    s[1].name = "/gc/cycles/total:gc-cycles";
    gm_read_metrics(s, 2);
    if (s[0].kind != GM_METRIC_FLOAT64 || s[1].kind != GM_METRIC_UINT64) {
        printf("gccpu: total_ms=- per_cycle_ms=- source=none\n");
        return;
    }
    double ms = s[0].f64 * 1e3;
    uint64_t cycles = s[1].u64;
    printf("gccpu: total_ms=%.1f per_cycle_ms=%.3f source=metrics\n", ms,
           cycles ? ms / (double)cycles : 0.0);
}

/* Take the pauses of the cycles completed since the last sample. */
static BENCH_UNUSED void gcb_sample(void)
{
    gm_memstats *m = malloc(sizeof *m);
    if (m == NULL)
        bench_die("out of memory for gm_memstats");
    gm_read_memstats(m);
    uint32_t n = m->num_gc;
    uint32_t first = gcb_seen_gc + 1;
    if (n >= 256 && first < n - 255)
        first = n - 255; /* older ones have left the ring */
    for (uint32_t c = first; c <= n && n > 0; c++)
        gcb_record_pause(m->pause_ns[(c - 1) % 256]);
    if (n > gcb_seen_gc)
        gcb_seen_gc = n;
    free(m);
}

static BENCH_UNUSED void gcb_report(void)
{
    gcb_sample();
    gm_memstats *m = malloc(sizeof *m);
    if (m == NULL)
        bench_die("out of memory for gm_memstats");
    gm_read_memstats(m);
    gcb_print_line(m->num_gc, m->pause_total_ns);
    free(m);
}

/* ---- Boehm -------------------------------------------------------------- */
#elif defined(GCB_BOEHM)

static uint64_t gcb_stop_t0, gcb_start_t0;
static uint64_t gcb_stw_count; /* stop-the-world pairs seen */
static uint64_t gcb_coll_ring_count; /* START..END durations, the fallback */
static uint64_t *gcb_coll_ring, gcb_coll_max, gcb_coll_total;
/* GC CPU time (gc_cpu_report): the process CPU time while the world was stopped. */
static uint64_t gcb_stw_cpu0, gcb_stw_cpu_ns;

static uint64_t gcb_process_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Runs inside the collector with its lock held: no allocation here. */
static void GC_CALLBACK gcb_on_event(GC_EventType e)
{
    switch (e) {
    case GC_EVENT_START:
        gcb_start_t0 = gcb_now_ns();
        break;
    case GC_EVENT_END:
        if (gcb_start_t0 != 0) {
            uint64_t d = gcb_now_ns() - gcb_start_t0;
            gcb_coll_ring[gcb_coll_ring_count % GCB_PAUSE_KEEP] = d;
            gcb_coll_ring_count++;
            gcb_coll_total += d;
            if (d > gcb_coll_max)
                gcb_coll_max = d;
            gcb_start_t0 = 0;
        }
        break;
    case GC_EVENT_PRE_STOP_WORLD:
        gcb_stop_t0 = gcb_now_ns();
        gcb_stw_cpu0 = gcb_process_cpu_ns();
        break;
    case GC_EVENT_POST_START_WORLD:
        if (gcb_stop_t0 != 0) {
            gcb_record_pause(gcb_now_ns() - gcb_stop_t0);
            gcb_stw_count++;
            gcb_stop_t0 = 0;
            gcb_stw_cpu_ns += gcb_process_cpu_ns() - gcb_stw_cpu0;
        }
        break;
    default:
        break;
    }
}

static inline void gcb_init(void)
{
    gcb_pauses.ring = malloc(GCB_PAUSE_KEEP * sizeof(uint64_t));
    gcb_coll_ring = malloc(GCB_PAUSE_KEEP * sizeof(uint64_t));
    if (gcb_pauses.ring == NULL || gcb_coll_ring == NULL)
        bench_die("out of memory for the pause list");
    GC_INIT();
#if defined(GC_THREADS)
    GC_allow_register_threads();
#endif
    GC_set_on_collection_event(gcb_on_event);
    /* for GC_get_full_gc_total_time() */
    GC_start_performance_measurement();
}

/* The gccpu: line: stop-the-world CPU time over the collections. */
static BENCH_UNUSED void gc_cpu_report(void)
{
    double ms = (double)gcb_stw_cpu_ns / 1e6;
    uint64_t cycles = (uint64_t)GC_get_gc_no();
    printf("gccpu: total_ms=%.1f per_cycle_ms=%.3f source=stw-process-cpu full_gc_wall_ms=%lu%s\n",
           ms, cycles ? ms / (double)cycles : 0.0, GC_get_full_gc_total_time(),
           GC_is_incremental_mode() ? " incremental=1" : "");
}

static BENCH_UNUSED void gcb_sample(void) {}

static BENCH_UNUSED void gcb_report(void)
{
    if (gcb_stw_count == 0 && gcb_coll_ring_count > 0) {
        /* no stop-the-world events: the whole collection is the pause */
        free(gcb_pauses.ring);
        gcb_pauses.ring = gcb_coll_ring;
        gcb_pauses.count = gcb_coll_ring_count;
        gcb_pauses.max_ns = gcb_coll_max;
        gcb_pauses.total_ns = gcb_coll_total;
        gcb_coll_ring = NULL;
    }
    gcb_print_line((uint64_t)GC_get_gc_no(), gcb_pauses.total_ns);
}

/* ---- malloc/free: no collector ------------------------------------------ */
#else

static inline void gcb_init(void) {}
static BENCH_UNUSED void gcb_sample(void) {}
static BENCH_UNUSED void gcb_report(void) {}
static BENCH_UNUSED void gc_cpu_report(void) {} /* no collector, no line */

#endif

/* ---- allocation, the same in every program ------------------------------ */

/* An object that holds pointers: gm_new, GC_MALLOC, or malloc. */
static inline BENCH_UNUSED void *gcb_alloc_scan(size_t n)
{
#if defined(GCB_GOMALLOC)
    void *p = gm_new(n);
#elif defined(GCB_BOEHM)
    void *p = GC_MALLOC(n);
#else
    void *p = malloc(n);
#endif
    if (p == NULL)
        bench_die("allocation failed");
    return p;
}

/* Pointer-free data: gm_new_noscan, GC_MALLOC_ATOMIC, or malloc. */
static inline BENCH_UNUSED void *gcb_alloc_noscan(size_t n)
{
#if defined(GCB_GOMALLOC)
    void *p = gm_new_noscan(n);
#elif defined(GCB_BOEHM)
    void *p = GC_MALLOC_ATOMIC(n);
#else
    void *p = malloc(n);
#endif
    if (p == NULL)
        bench_die("allocation failed");
    return p;
}

#endif /* GC_COMMON_H */
