/*
 * gomalloc — the Go runtime's memory manager as a C library.
 *
 * Public API. Every symbol is prefixed gm_. The allocator is thread-safe;
 * memory may be freed by any thread.
 *
 * Alignment: like Go, jemalloc and tcmalloc, a block is aligned to its size
 * class. Every class that is a multiple of 16 bytes (all classes except the
 * 8- and 24-byte ones) gives 16-byte alignment, so gm_malloc(n) for n > 8 and
 * n not in 17..24 is aligned to 16 (max_align_t). Requests of 1..8 bytes are
 * 8-byte aligned, 17..24 bytes are 8-byte aligned. Use gm_aligned_alloc or
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
    uint64_t gc_sys;        /* span bitmaps (allocBits, gcmarkBits, free bits) */
    uint64_t other_sys;     /* arena index, heap arena metadata, page summaries */
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

/* Write a human-readable summary to file descriptor fd: the MemStats
 * fields, one row per size class in use (size, mallocs, frees, live
 * objects, spans), peak heap in use and peak RSS. This is what
 * GOMALLOC_STATS prints at exit and malloc_stats() prints. Returns 0, or -1
 * with errno if writing failed. */
GM_API int gm_write_stats(int fd);

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

/* Describe the span holding p (any address inside a heap object). Returns 0,
 * or -1 if p is not inside gomalloc's heap. Bits are read without stopping
 * the owning thread: exact for the calling thread's own spans. */
GM_API int gm_span_inspect(const void *p, gm_span_info *info);

#ifdef __cplusplus
}
#endif
#endif /* GOMALLOC_H */
