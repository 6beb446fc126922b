/*
 * gomalloc — the Go runtime's memory manager as a C library.
 *
 * Public API. Every symbol is prefixed gm_. The allocator is thread-safe;
 * memory may be freed by any thread.
 *
 * Alignment: every block of 9 bytes or more from the malloc family and
 * gm_new/gm_new_noscan is 16-byte aligned (max_align_t, x86-64's malloc
 * ABI); requests of 1..8 bytes are 8-byte aligned. A block is aligned to its
 * size class, so 17..24-byte requests take the 32-byte class; Go's 24-byte
 * class serves typed objects whose gm_type.align is at most 8. Use
 * gm_aligned_alloc or
 * gm_posix_memalign for stricter alignment (any power of two up to 64 MiB;
 * larger alignments fail with ENOMEM).
 *
 * Errors: allocation failures return NULL with errno = ENOMEM (EINVAL where
 * POSIX says so). Heap misuse — double free, freeing an interior pointer or
 * a pointer gomalloc never returned — aborts with one line on stderr:
 *     gomalloc: fatal error: <what> <pointer>
 * Memory of another allocator (writable anonymous memory outside gomalloc's
 * arenas) passed to gm_free is kept, not freed; gm_realloc copies it into a
 * new block. Stacks, globals and unmapped addresses are misuse (fatal).
 */
#ifndef GOMALLOC_H
#define GOMALLOC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GM_API __attribute__((visibility("default")))
#define GM_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define GM_API
#define GM_MALLOC_ATTR
#endif

#define GM_VERSION "0.1.0"

/* ---- The malloc family ------------------------------------------------- */

GM_API GM_MALLOC_ATTR void *gm_malloc(size_t size);
GM_API GM_MALLOC_ATTR void *gm_calloc(size_t count, size_t size);
/* In place when the new size still fits the block's size class (or, for
 * large blocks, its pages). gm_realloc(p, 0) frees p and returns NULL, as
 * glibc does. On failure the old block is left intact. */
GM_API void *gm_realloc(void *p, size_t size);
GM_API void gm_free(void *p);
GM_API GM_MALLOC_ATTR void *gm_aligned_alloc(size_t alignment, size_t size);
/* EINVAL unless alignment is a power of two multiple of sizeof(void*);
 * ENOMEM when out of memory. *memptr is untouched on failure. */
GM_API int gm_posix_memalign(void **memptr, size_t alignment, size_t size);
GM_API GM_MALLOC_ATTR void *gm_memalign(size_t alignment, size_t size);
/* Bytes usable at p: >= the size requested; the size-class size for small
 * objects, whole pages for large ones. 0 for NULL. */
GM_API size_t gm_usable_size(const void *p);

/* Return all free pages to the OS now (Go's debug.FreeOSMemory). */
GM_API void gm_release_memory(void);

/* ---- Statistics (Go's runtime.MemStats, in snake_case) ----------------- */

#define GM_NUM_SIZE_CLASSES 68 /* class 0 means "large" */

typedef struct gm_memstats_by_size {
    uint32_t size;    /* object size of the class */
    uint64_t mallocs; /* cumulative objects allocated */
    uint64_t frees;   /* cumulative objects freed */
    uint64_t refills; /* times a thread's cache had no free slot of this class
                         and went to the slow path for a span (ours; Go has no
                         such field): the cache hit rate is
                         1 - refills / mallocs */
} gm_memstats_by_size;

typedef struct gm_memstats {
    /* General */
    uint64_t alloc;       /* bytes of allocated heap objects (= heap_alloc) */
    uint64_t total_alloc; /* cumulative bytes allocated */
    uint64_t sys;         /* total bytes obtained from the OS */
    uint64_t lookups;     /* always 0, as in Go */
    uint64_t mallocs;     /* cumulative count of objects allocated */
    uint64_t frees;       /* cumulative count of objects freed */
    /* Heap */
    uint64_t heap_alloc;    /* bytes of live objects (size-class rounded) */
    uint64_t heap_sys;      /* heap address space mapped from the OS */
    uint64_t heap_idle;     /* bytes in free pages */
    uint64_t heap_inuse;    /* bytes in in-use spans */
    uint64_t heap_released; /* bytes of free pages returned to the OS */
    uint64_t heap_objects;  /* live objects */
    /* Off-heap metadata */
    uint64_t stack_inuse, stack_sys; /* 0 until goroutine stacks exist */
    uint64_t mspan_inuse, mspan_sys;
    uint64_t mcache_inuse, mcache_sys;
    uint64_t buck_hash_sys; /* profiling buckets */
    uint64_t gc_sys;        /* span bitmaps, mark work buffers, finalizer table */
    uint64_t other_sys;     /* arena index, heap arena metadata, page summaries */
    /* Garbage collector (Go's fields and meanings) */
    uint64_t next_gc;        /* heap goal of the next cycle (collected bytes) */
    uint64_t last_gc;        /* end of the last cycle, ns since the Unix epoch */
    uint64_t pause_total_ns; /* cumulative stop-the-world time */
    uint64_t pause_ns[256];  /* ring of recent pauses; newest at (num_gc+255)%256 */
    uint64_t pause_end[256]; /* ring of pause end times, ns since the epoch */
    uint32_t num_gc;         /* completed cycles */
    uint32_t num_forced_gc;  /* cycles started by gm_gc() */
    double gc_cpu_fraction;  /* share of available CPU used by the collector
                                since the allocator started */
    const char *gc_mode;     /* ours: "stw", or "concurrent/" and the dirty-page
                                mechanism ("uffd", "softdirty", "mprotect");
                                "off" before the first gm_new or gm_gc */
    /* Per size class. by_size[0] counts large objects (size 0): Go's
     * BySize has no such row; ours makes the table add up to mallocs. */
    gm_memstats_by_size by_size[GM_NUM_SIZE_CLASSES];
} gm_memstats;

/* Exact for the calling thread and for threads not allocating right now
 * (their caches are read, not stopped). Frees are counted when a span is
 * folded, so this walks the spans that may hold unfolded frees: its cost
 * grows with the heap (measured: 0.2 ms for a 280 MB heap of 35,000 spans,
 * half of whose objects were freed); it is meant
 * for monitoring, not for a hot loop. */
GM_API void gm_read_memstats(gm_memstats *stats);

/* Go's testing.AllocsPerRun: calls fn(arg) once to warm up, then runs
 * times, and returns the mallocs per call from MemStats (malloc'd and
 * collected objects, tiny ones each counted, as Go counts them), rounded
 * down to an integer as Go's is. Other threads' allocations count too. */
GM_API double gm_allocs_per_run(int runs, void (*fn)(void *arg), void *arg);

/* Write a human-readable summary to file descriptor fd: the MemStats
 * fields, one row per size class in use (size, mallocs, frees, live
 * objects, spans), peak heap in use and peak RSS. This is what
 * GOMALLOC_STATS prints at exit and malloc_stats() prints. Returns 0, or -1
 * with errno if writing failed. */
GM_API int gm_write_stats(int fd);

/* ---- Heap profiling (Go's MemProfileRate and pprof heap profile) ------- */

/* Go's runtime.MemProfileRate: on average one allocation is sampled per
 * `rate` bytes allocated (the distance between samples is exponentially
 * distributed, so an allocation of n bytes is sampled with probability
 * 1 - exp(-n/rate)); 1 samples every allocation, 0 turns sampling off.
 * A sampled allocation records its call stack; its free is found when its
 * span is next folded or swept. Initially GOMALLOC_PROFILE_RATE (512 KiB
 * when GOMALLOC_PROFILE or GOMALLOC_PROFILE_SIGNAL is set, else 0).
 * Returns the previous rate. Samples taken at an earlier rate keep it. */
GM_API size_t gm_set_profile_rate(size_t rate);

/* Write the heap profile to fd: gzipped pprof (profile.proto) with Go's
 * sample types alloc_objects/count, alloc_space/bytes, inuse_objects/count,
 * inuse_space/bytes, unsampled as Go does, one mapping per loaded object
 * (with its build ID) and function names resolved in-process, so that
 * `go tool pprof -top FILE` works without the binaries. Returns 0, or -1
 * with errno (EINVAL for a bad fd, or the write's error). */
GM_API int gm_write_heap_profile(int fd);

/* ---- Allocation hooks (the articles' allocFreeHook) --------------------- */

typedef struct gm_alloc_event {
    void *ptr;          /* the block (for a free: before it is freed) */
    size_t size;        /* bytes requested; for a free, the block's size */
    size_t elemsize;    /* bytes of the block: class size, or whole pages */
    int size_class;     /* 1..67, 0 for a large object */
    int span_class;     /* size_class << 1 | noscan (collected: see gc_kind) */
    uintptr_t span;     /* the span's base address: identifies the span */
    int gc_kind;        /* GM_GC_*: 0 for malloc memory */
} gm_alloc_event;
typedef void (*gm_alloc_hook)(const gm_alloc_event *ev, void *arg);

/* fn(ev, arg) runs on the allocating thread after every allocation (malloc
 * family, C++ new, gm_new*; tiny objects included), or before every free
 * (free, delete, realloc's move, gm_free; not the collector's frees: use a
 * finalizer). fn may allocate and free: those calls are not reported (no
 * recursion). fn == NULL removes the hook. A hook costs nothing while none
 * is set beyond one predicted branch shared with the profiler. Setting is
 * atomic; a thread in the middle of an allocation may still call the old
 * hook once. */
GM_API void gm_set_alloc_hook(gm_alloc_hook fn, void *arg);
GM_API void gm_set_free_hook(gm_alloc_hook fn, void *arg);

/* ---- Runtime metrics (Go's runtime/metrics) -----------------------------
 *
 * Go's names, kinds, units and descriptions for every metric gomalloc can
 * compute honestly: allocations and frees (objects, bytes, by size class),
 * the memory classes (adding up to MemStats.sys exactly as Go's do), the
 * collector's cycles, goal, live heap, settings, CPU and pause histogram.
 * Go's scheduler, goroutine and finalizer metrics are absent. The values
 * agree with gm_read_memstats as Go's metrics do with MemStats; the heap
 * goal and the live heap count collected objects (gm_new*) only, which are
 * all that is paced. GOMALLOC_METRICS=FILE appends them as JSON lines
 * while the program runs (see src/metrics.c); `gomalloc plot` draws them. */

enum { GM_METRIC_BAD = 0, GM_METRIC_UINT64 = 1, GM_METRIC_FLOAT64 = 2,
       GM_METRIC_HISTOGRAM = 3 };
#define GM_METRIC_HIST_MAX 200 /* buckets of the largest histogram */

typedef struct gm_metric_description {
    const char *name;        /* Go's name, e.g. "/gc/heap/allocs:bytes" */
    const char *description; /* Go's description */
    int kind;                /* GM_METRIC_* */
    int cumulative;          /* 1 if the value only grows */
} gm_metric_description;

typedef struct gm_metric_histogram {
    size_t nbuckets;         /* counts used; buckets has nbuckets + 1 edges */
    uint64_t counts[GM_METRIC_HIST_MAX];
    const double *buckets;   /* bucket i is [buckets[i], buckets[i+1]); the
                                first and last edges may be -Inf and +Inf.
                                Static storage, the same for every read */
} gm_metric_histogram;

typedef struct gm_metric_sample {
    const char *name;        /* in: the metric's name */
    int kind;                /* out: GM_METRIC_*; BAD for an unknown name */
    uint64_t u64;            /* out: GM_METRIC_UINT64 */
    double f64;              /* out: GM_METRIC_FLOAT64 */
    gm_metric_histogram hist;/* out: GM_METRIC_HISTOGRAM */
} gm_metric_sample;

/* metrics.All(): every metric gomalloc supports, sorted by name; returns
 * their number. *descs points to static storage. */
GM_API size_t gm_metrics_all(const gm_metric_description **descs);
/* metrics.Read: fills each sample by its name (kind GM_METRIC_BAD for a
 * name gomalloc does not know, NULL included). The values are read
 * together, from one snapshot: one gm_read_memstats (its cost) and the
 * collector's counters, read again should a cycle end in between. Does not
 * allocate; uses about 16 KiB of the caller's stack. */
GM_API void gm_read_metrics(gm_metric_sample *samples, size_t n);

/* ---- Heap map ----------------------------------------------------------- */

/* Write one self-contained HTML page that draws every arena and span of
 * the heap (a cell per span, coloured by size class, shaded by occupancy;
 * free and scavenged pages shown), with each span's class, bitmaps,
 * allocCache and freeindex on hover. Returns 0, or -1 with errno. */
GM_API int gm_write_heap_map(int fd);

/* ---- Size classes and span inspection (observability) ----------------- */

typedef struct gm_size_class_info {
    int size_class;       /* 1..67, or 0 for a large object */
    int span_class;       /* size_class << 1 | noscan */
    size_t size;          /* bytes per object (rounded size) */
    size_t span_bytes;    /* bytes per span (class_to_allocnpages * 8 KiB) */
    unsigned nelems;      /* objects per span */
    size_t tail_waste;    /* bytes at the end of a span no object uses */
} gm_size_class_info;

/* The class gm_malloc(size) uses (noscan span class). Returns 0 and fills
 * *info; -1 with errno = ENOMEM for sizes above PTRDIFF_MAX. */
GM_API int gm_size_class_of(size_t size, gm_size_class_info *info);

#define GM_SPAN_MAX_ELEMS 1024

typedef struct gm_span_info {
    uintptr_t base;      /* span start address */
    size_t npages;       /* 8 KiB pages */
    int size_class;      /* 0 for large */
    int span_class;
    size_t elemsize;
    unsigned nelems;
    unsigned freeindex;  /* slots below it are allocated */
    unsigned alloc_count;
    uint64_t alloc_cache; /* inverted allocBits window starting at freeindex */
    int state;           /* GM_SPAN_* below */
    int needzero;
    int gc_kind;         /* GM_GC_* below: 0 for malloc memory */
    unsigned sweepgen;   /* span's sweepgen; heap_sweepgen is the heap's */
    unsigned heap_sweepgen;
    unsigned object_index; /* slot of the queried pointer */
    uintptr_t object_base; /* start of the object holding the pointer */
    uint64_t alloc_bits[GM_SPAN_MAX_ELEMS / 64];   /* as of the last sweep */
    uint64_t gcmark_bits[GM_SPAN_MAX_ELEMS / 64];
    uint64_t freed_bits[GM_SPAN_MAX_ELEMS / 64];   /* freed, not yet folded */
} gm_span_info;

/* Span states: FREE (pages back in the heap), CACHED (a thread's current
 * span for its class), OWNED (owned by a thread, not current), PARTIAL and
 * FULL (in the central lists), LARGE (one large object). */
enum { GM_SPAN_FREE = 0, GM_SPAN_CACHED = 1, GM_SPAN_PARTIAL = 2,
       GM_SPAN_FULL = 3, GM_SPAN_LARGE = 4, GM_SPAN_OWNED = 5 };

/* What a span holds: malloc memory, or collected objects scanned
 * conservatively (gm_new), never (gm_new_noscan) or by type (gm_new_typed). */
enum { GM_GC_NONE = 0, GM_GC_CONSERVATIVE = 1, GM_GC_NOSCAN = 2, GM_GC_TYPED = 3 };

/* Describe the span holding p (any address inside a heap object). Returns 0,
 * or -1 if p is not inside gomalloc's heap. Bits are read without stopping
 * the owning thread: exact for the calling thread's own spans. */
GM_API int gm_span_inspect(const void *p, gm_span_info *info);

/* ---- Garbage collection (Go's new/make, runtime.GC, debug.SetGCPercent) --
 *
 * Objects from gm_new* are collected: a stop-the-world, parallel mark-sweep
 * finds those reachable from the roots and reclaims the rest. Roots are the
 * stacks and registers of registered threads, the data and bss segments of
 * the program and of every loaded library, ranges given to gm_add_roots,
 * uncollectable objects, and whatever objects with finalizers point to.
 * A word anywhere in a root or in a gm_new object that holds the address
 * of any byte inside a collected object keeps it alive (interior pointers
 * count, as in Go).
 *
 * Not roots: memory from gm_malloc/malloc (neither scanned nor collected),
 * thread-local (__thread) variables, and memory mapped by the program. To
 * keep collected objects alive from such memory, allocate it with
 * gm_malloc_uncollectable or register it with gm_add_roots.
 *
 * Threads: a thread that calls gm_new* is registered automatically. A
 * thread that holds collected pointers without allocating must register
 * (gm_register_thread, or start it with gm_pthread_create); with the
 * preloaded library every pthread_create'd thread is registered. The
 * collector stops registered threads with a signal (GOMALLOC_SIGNAL,
 * default SIGPWR; they resume through a futex, no second signal), so a
 * registered thread blocked in nanosleep, poll or select may see EINTR.
 * Collected objects may not be used from threads that are not registered.
 *
 * Out of memory: gm_new* runs one last full collection, then returns NULL
 * with errno = ENOMEM. Bad input (a finalizer on a pointer that is not the
 * start of a collected object, heap corruption found while marking or
 * sweeping) aborts with "gomalloc: fatal error: ...".
 */

/* Describes the pointer layout of a type for precise scanning: bit i of
 * gcdata (bit i%64 of word i/64) says word i of the object may hold a
 * pointer; only the first ptrdata bytes are looked at. Must outlive every
 * object allocated with it. name is for profiles and diagnostics.
 * align is the type's alignment (alignof): with align <= 8 an object of
 * 17..24 bytes takes Go's 24-byte size class, as in Go; 0 (unknown) gives
 * the malloc rule, 16-byte alignment for every object of 16 bytes or more.
 * Alignments above 16 are not honoured: use gm_aligned_alloc memory. */
typedef struct gm_type {
    size_t size;            /* bytes of one element (sizeof) */
    size_t ptrdata;         /* bytes of the prefix that may hold pointers */
    const uint64_t *gcdata; /* pointer bitmap, one bit per 8-byte word */
    const char *name;
    size_t align;           /* alignof, or 0 if unknown (treated as 16) */
} gm_type;

/* GM_TYPE(T, field, ...) builds a gm_type for struct T whose pointer fields
 * are the listed ones (at most 16, within the first 2 KiB of T):
 *     struct node { int key; struct node *left, *right; };
 *     static const gm_type node_type = GM_TYPE(struct node, left, right); */
#define GM_TYPE(T, ...)                                                       \
    {sizeof(T), sizeof(T),                                                    \
     (const uint64_t[4]){GM__TYPE_WORD(T, 0, __VA_ARGS__),                    \
                         GM__TYPE_WORD(T, 1, __VA_ARGS__),                    \
                         GM__TYPE_WORD(T, 2, __VA_ARGS__),                    \
                         GM__TYPE_WORD(T, 3, __VA_ARGS__)},                   \
     #T, __alignof__(T)}
/* A type with no pointers (an integer, a double, a struct of them): its
 * objects are noscan. GM_TYPE_NOPTRS(int64_t), GM_TYPE_NOPTRS(struct point). */
#define GM_TYPE_NOPTRS(T) {sizeof(T), 0, (const uint64_t *)0, #T, __alignof__(T)}
/* A pointer type (T *, one word, scanned): GM_TYPE_POINTER(struct node *). */
#define GM_TYPE_POINTER(T) \
    {sizeof(void *), sizeof(void *), (const uint64_t[1]){1}, #T, __alignof__(void *)}
/* Bit of field f in bitmap word k (compile error past 2 KiB). */
#define GM__TYPE_BIT(T, k, f)                                                 \
    ((offsetof(T, f) / 8 / 64 == (k) ? (uint64_t)1 << (offsetof(T, f) / 8 % 64) \
                                      : (uint64_t)0) |                        \
     (uint64_t)(0 * sizeof(char[offsetof(T, f) < 2048 ? 1 : -1])))
#define GM__TYPE_WORD(T, k, ...) GM__TYPE_FOR(GM__TYPE_BIT, T, k, __VA_ARGS__)
#define GM__TYPE_NARG(...) GM__TYPE_NARG_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, \
                                          8, 7, 6, 5, 4, 3, 2, 1, 0)
#define GM__TYPE_NARG_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13,  \
                       a14, a15, a16, n, ...) n
#define GM__TYPE_CAT(a, b) GM__TYPE_CAT_(a, b)
#define GM__TYPE_CAT_(a, b) a##b
#define GM__TYPE_FOR(m, T, k, ...) \
    GM__TYPE_CAT(GM__TYPE_FOR_, GM__TYPE_NARG(__VA_ARGS__))(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_1(m, T, k, a) m(T, k, a)
#define GM__TYPE_FOR_2(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_1(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_3(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_2(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_4(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_3(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_5(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_4(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_6(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_5(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_7(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_6(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_8(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_7(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_9(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_8(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_10(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_9(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_11(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_10(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_12(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_11(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_13(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_12(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_14(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_13(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_15(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_14(m, T, k, __VA_ARGS__)
#define GM__TYPE_FOR_16(m, T, k, a, ...) m(T, k, a) | GM__TYPE_FOR_15(m, T, k, __VA_ARGS__)

/* Collected, zeroed, scanned conservatively (every aligned word may be a
 * pointer). 16-byte aligned like gm_malloc. */
GM_API GM_MALLOC_ATTR void *gm_new(size_t size);
/* Collected, zeroed, never scanned: for pointer-free data. Sizes under 16
 * bytes share 16-byte blocks (Go's tiny allocator) and are aligned to their
 * size's lowest set bit, up to 8. */
GM_API GM_MALLOC_ATTR void *gm_new_noscan(size_t size);
/* Collected, zeroed, scanned precisely: only the words t->gcdata marks. */
GM_API GM_MALLOC_ATTR void *gm_new_typed(const gm_type *t);
/* n elements of t, each scanned by t's bitmap. NULL + ENOMEM on overflow. */
GM_API GM_MALLOC_ATTR void *gm_new_array(const gm_type *t, size_t n);
/* Scanned conservatively, never collected: free it with gm_free. */
GM_API GM_MALLOC_ATTR void *gm_malloc_uncollectable(size_t size);

/* gm_free(p) of a collected object (from gm_new*) frees it now, like
 * Boehm's GC_FREE, and drops its finalizer; its slot is reused after the
 * next sweep of its span. Tiny objects (gm_new_noscan under 16 bytes) are
 * left to the collector. */

/* runtime.GC: run a full collection now and wait for it, sweep included. */
GM_API void gm_gc(void);
/* debug.SetGCPercent: the heap may grow to live * (1 + percent/100) before
 * the next cycle; negative turns collection off (except gm_gc and the
 * memory limit). Returns the previous setting. Initially GOGC (100). */
GM_API int gm_set_gc_percent(int percent);
/* debug.SetMemoryLimit: a soft limit on all memory gomalloc maps, in bytes;
 * the collector runs more often as it nears. A negative value only reads
 * the setting. Returns the previous limit (INT64_MAX = none). Initially
 * GOMEMLIMIT. */
GM_API int64_t gm_set_memory_limit(int64_t limit);

/* runtime.SetFinalizer: when obj (the start of a collected object) becomes
 * unreachable, fn(obj, arg) runs once on the finalizer thread, one
 * finalizer at a time, and obj lives until the cycle after. What obj
 * points to stays alive until then: if A points to B, B's finalizer runs
 * only after A is freed. fn == NULL clears the finalizer. Aborts if obj is
 * not the start of a collected object. */
typedef void (*gm_finalizer)(void *obj, void *arg);
GM_API void gm_set_finalizer(void *obj, gm_finalizer fn, void *arg);
/* runtime.KeepAlive: p is reachable at least until this call. */
GM_API void gm_keep_alive(const void *p);

/* Scan [lo, hi) as a root (conservatively) until removed. */
GM_API void gm_add_roots(void *lo, void *hi);
/* Remove the roots entirely inside [lo, hi). */
GM_API void gm_remove_roots(void *lo, void *hi);

/* Register the calling thread: its stack and registers become roots.
 * Returns 0 (also if already registered). */
GM_API int gm_register_thread(void);
/* Unregister the calling thread (its exit does this too). Returns 0. */
GM_API int gm_unregister_thread(void);
/* pthread_create, with the new thread registered before start runs. */
GM_API int gm_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                             void *(*start)(void *), void *arg);

/* A system call is about to write into [p, p+n) (a read into a collected
 * object). Under GOMALLOC_DIRTY=mprotect, concurrent marking write-protects
 * collected memory and the kernel would fail such a call with EFAULT;
 * after gm_kernel_write_begin returns 0 the range stays writable until the
 * matching gm_kernel_write_end. read, pread, readv, recv, recvfrom and
 * recvmsg (and their _FORTIFY_SOURCE forms) do this themselves in programs
 * linked with libgomalloc; bracket any other such call. Ranges may nest
 * and overlap, up to 128 held at once in the process: past that, begin
 * makes the range writable for now but returns -1 with errno EAGAIN (call
 * no end; a re-arm may protect it again, so retry a call that fails with
 * EFAULT). With the other mechanisms both do nothing and begin returns 0. */
GM_API int gm_kernel_write_begin(const void *p, size_t n);
GM_API void gm_kernel_write_end(const void *p, size_t n);

/* 1 if p points into a live collected object, else 0. */
GM_API int gm_is_collected(const void *p);

/* Observing a cycle (for tools such as `gomalloc demo`): fn(phase, arg)
 * runs on the collecting thread at each phase boundary below, with the
 * collector's lock held. It may read (gm_span_inspect, gm_is_collected)
 * and use malloc, but must not allocate collected memory, gm_free, collect,
 * set finalizers or read MemStats. fn == NULL removes the hook. */
enum {
    GM_GC_PHASE_MARK_DONE = 1, /* marked, world restarted, nothing swept yet:
                                  gcmark_bits show the survivors */
    GM_GC_PHASE_CYCLE_DONE = 2 /* the cycle is over (gm_gc: swept too) */
};
typedef void (*gm_gc_hook)(int phase, void *arg);
GM_API void gm_set_gc_hook(gm_gc_hook fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* GOMALLOC_H */
