/*
 * Cross-file declarations of gomalloc, grouped by the source file that
 * defines them. The design is explained at the top of malloc.c; each struct
 * here states, field by field, who writes it and under which lock or atomic
 * rule. Never installed.
 */
#ifndef GM_INTERNAL_H
#define GM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gomalloc.h"
#include "sizeclasses.h"

#ifndef GOMALLOC_DEBUG
#define GOMALLOC_DEBUG 0
#endif

#define GM_LIKELY(x) __builtin_expect(!!(x), 1)
#define GM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GM_INTERNAL __attribute__((visibility("hidden")))
#define GM_NOINLINE __attribute__((noinline))
#define GM_CACHELINE 64
/* Conservative scanning reads whole stacks and data segments, redzones and
 * other threads' frames included: not instrumented by sanitizers. */
#define GM_NO_SANITIZE __attribute__((no_sanitize("address", "thread")))

/* Atomics on plain fields (GCC/Clang builtins, which C11 <stdatomic.h> wraps).
 * A field is written with these wherever another thread may read it. */
#define GM_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define GM_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define GM_LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define GM_STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define GM_LOAD_SC(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define GM_STORE_SC(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define GM_ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

/* Debug levels (GOMALLOC_DEBUG build option): 1 cheap, 2 internal, 3 expensive. */
#define gm_assert(level, cond, what)                                         \
    do {                                                                     \
        if (GOMALLOC_DEBUG >= (level) && GM_UNLIKELY(!(cond)))               \
            gm__fatal("assertion failed: " what, NULL);                      \
    } while (0)

/* ---- Address-space geometry (see "Address space" in malloc.c) ---------- */

#define GM_ADDR_BITS 48                  /* user addresses are below 2^48 */
#define GM_ARENA_SHIFT 26                /* 64 MiB heap arenas */
#define GM_ARENA_BYTES ((uintptr_t)1 << GM_ARENA_SHIFT)
#define GM_PAGES_PER_ARENA (GM_ARENA_BYTES / GM_PAGE_SIZE) /* 8192 */
#define GM_ARENA_L1_ENTRIES ((size_t)1 << (GM_ADDR_BITS - GM_ARENA_SHIFT))
#define GM_CHUNK_PAGES 512               /* 4 MiB page-allocator chunks */
#define GM_CHUNK_WORDS (GM_CHUNK_PAGES / 64)
#define GM_CHUNKS_PER_ARENA (GM_PAGES_PER_ARENA / GM_CHUNK_PAGES) /* 16 */
#define GM_ARENA_HINT ((uintptr_t)0xc000000000) /* where Go's heap starts */
#define GM_MAX_BITMAP_WORDS (GM_SPAN_MAX_ELEMS / 64)

typedef struct gm_span gm_span;
typedef struct gm_special gm_special; /* mprof.c */
typedef struct gm_mcache gm_mcache;
typedef struct gm_mcentral gm_mcentral;
typedef struct gm_heap_arena gm_heap_arena;
typedef struct gm_mutex gm_mutex;
typedef struct gm_fixalloc gm_fixalloc;

/* ---- lock_futex.c ------------------------------------------------------ */

/* 0 unlocked, 1 locked, 2 locked with waiters. Not recursive. */
struct gm_mutex { int state; };
#define GM_MUTEX_INIT {0}
GM_INTERNAL void gm__lock_slow(gm_mutex *m);
GM_INTERNAL void gm__unlock_slow(gm_mutex *m);
/* gm__lock without spinning: for locks held for long stretches. */
GM_INTERNAL void gm__lock_park(gm_mutex *m);
static inline void gm__lock(gm_mutex *m) {
    int expected = 0;
    if (!__atomic_compare_exchange_n(&m->state, &expected, 1, false,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        gm__lock_slow(m);
}
static inline void gm__unlock(gm_mutex *m) {
    if (__atomic_exchange_n(&m->state, 0, __ATOMIC_RELEASE) == 2) gm__unlock_slow(m);
}
/* After fork() in the child: the only thread left owns nothing. */
static inline void gm__lock_reinit(gm_mutex *m) { m->state = 0; }

/* ---- mem_linux.c (the OS layer: the only file that calls mmap/madvise) - */

/* Address-space states, as in Go's mem.go: None -> Reserved (PROT_NONE)
 * -> Ready (readable/writable, maybe backed). unused() drops the backing
 * (Ready memory reads as zero afterwards); used() undoes unused(). */
GM_INTERNAL void *gm__sys_reserve(void *hint, size_t n); /* NULL on failure */
GM_INTERNAL bool gm__sys_map(void *p, size_t n);         /* Reserved -> Ready */
GM_INTERNAL void gm__sys_unused(void *p, size_t n);      /* give pages back */
GM_INTERNAL void gm__sys_used(void *p, size_t n);        /* no-op on Linux */
GM_INTERNAL void *gm__sys_alloc(size_t n);               /* None -> Ready, metadata */
GM_INTERNAL void gm__sys_free(void *p, size_t n);        /* any -> None */
GM_INTERNAL void gm__sys_write_err(const char *s, size_t n);
GM_INTERNAL _Noreturn void gm__sys_abort(void);
GM_INTERNAL size_t gm__sys_rss(void); /* resident bytes, from /proc/self/statm */
GM_INTERNAL size_t gm__sys_peak_rss(void); /* peak resident bytes */
GM_INTERNAL const char *gm__sys_program_name(void);
/* What the address a belongs to, for pointers outside our arenas. */
typedef struct gm_mapping {
    enum { GM_MAP_NONE, GM_MAP_ANON, GM_MAP_STACK, GM_MAP_FILE } kind;
    uintptr_t end;  /* end of the mapping */
    bool writable;
} gm_mapping;
GM_INTERNAL gm_mapping gm__sys_mapping(uintptr_t a);
/* True if a lies in a loaded program or library (code, data or bss), the
 * dynamic loader excepted. */
GM_INTERNAL bool gm__sys_in_loaded_image(uintptr_t a);

/* ---- panic.c ----------------------------------------------------------- */

/* Prints "gomalloc: fatal error: <what> <p>" and aborts. Never allocates. */
GM_INTERNAL _Noreturn void gm__fatal(const char *what, const void *p);

/* ---- mfixalloc.c -------------------------------------------------------- */

/* Free list of fixed-size off-heap objects carved from 16 KiB chunks.
 * Not thread-safe: every fixalloc is owned by one lock (named at its use). */
struct gm_fixalloc {
    size_t size;        /* object size, >= sizeof(void *) */
    void *free_list;    /* freed objects; first word links them */
    char *chunk;        /* current chunk's next free byte */
    size_t chunk_left;  /* bytes left in the chunk */
    uint64_t inuse;     /* bytes handed out and not freed */
    uint64_t *sys;      /* stat charged with chunk bytes */
    bool zero;          /* zero reused objects (fresh chunks are zero anyway) */
};
GM_INTERNAL void gm__fixalloc_init(gm_fixalloc *f, size_t size, uint64_t *sys_stat, bool zero);
/* NULL if OOM. A reused object is zeroed if f->zero, else only its first
 * word (the free-list link) is garbage. */
GM_INTERNAL void *gm__fixalloc_alloc(gm_fixalloc *f);
GM_INTERNAL void gm__fixalloc_free(gm_fixalloc *f, void *p);
/* Never-freed bump allocation for metadata (arena index, summaries). */
GM_INTERNAL void *gm__persistent_alloc(size_t size, uint64_t *sys_stat);
GM_INTERNAL extern gm_mutex gm__persistent_lock;

/* ---- mspan.c ------------------------------------------------------------ */

/* Span ownership. A small span is owned either by one thread's cache or
 * by its mcentral, and s->owner says which:
 *   owner == c       c's active span for the class (state CACHED), or in
 *                    c's private partial list (state OWNED). Only c writes
 *                    the span's allocation state; c's frees are plain stores.
 *   owner == c | 1   "owned-full": c ran it out of free slots and holds it in
 *                    no list (state OWNED). The first free to it claims it
 *                    with one CAS on owner: c itself (-> back to c's partial
 *                    list) or another thread (-> owner NULL, central partial).
 *   owner == NULL    central: in its partial or full list (state PARTIAL or
 *                    FULL), central lock.
 * State transitions, and the lock or atomic that orders them:
 *   FREE -> CACHED             mcentral_grow (fresh from the heap)
 *   PARTIAL -> CACHED          mcentral_cache_span (central lock)
 *   CACHED -> OWNED (c|1)      mcache_refill (seq_cst store, then re-check
 *                              remote_free: pairs with free_remote)
 *   OWNED (c|1) -> OWNED (c)   owner's free (CAS on owner)
 *   OWNED (c|1) -> PARTIAL     remote free (CAS on owner, central lock)
 *   CACHED/OWNED -> PARTIAL/FULL/FREE   thread exit or release (central lock)
 *   FULL -> PARTIAL            remote free (central lock)
 *   FREE -> LARGE -> FREE      large objects (heap lock / CAS on free)
 * Values are GM_SPAN_* from gomalloc.h. */
#define GM_OWNER_FULL_TAG ((uintptr_t)1)

/*
 * An mspan: a run of pages holding objects of one span class (or one large
 * object). 128 bytes (asserted in mspan.c); the fields of the allocation
 * and free fast paths share the first cache line.
 *
 * Explicit free (see "Freeing" in malloc.c): a slot freed by the owning
 * thread sets its bit in local_free; a slot freed by any other thread sets
 * its bit in remote_free with one atomic OR. span_fold() merges both into
 * alloc_bits, which is the local analogue of Go's sweep.
 */
struct gm_span {
    /* -- first cache line: everything gm_malloc and gm_free touch -- */
    uint64_t alloc_cache;  /* ~alloc_bits shifted so bit 0 is freeindex; owner only */
    uint32_t freeindex;    /* slots below it are allocated; owner writes (relaxed),
                              remote freers read (acquire) */
    uint32_t divmul;       /* ceil(2^32 / elemsize): slot = (off * divmul) >> 32 */
    uintptr_t base;        /* first byte; set at init under the heap lock, then immutable */
    uintptr_t limit;       /* end of the last object (Go's mspan.limit); immutable */
    uintptr_t owner;       /* owning gm_mcache *, | GM_OWNER_FULL_TAG when owned-full,
                              or 0 for central (see "Span ownership"); atomic */
    uint64_t *alloc_bits;  /* 1 = allocated as of the last fold; bits past nelems
                              stay 1. Owner (or central-lock holder when uncached)
                              writes relaxed; others read relaxed */
    uint64_t *local_free;  /* slots freed by the owner since the last fold; owner only
                              (relaxed stores: remote freers read for double-free checks) */
    uint8_t spanclass;     /* sizeclass << 1 | noscan; immutable while in use */
    uint8_t state;         /* GM_SPAN_*; atomic (seq_cst where it pairs with remote_free) */
    uint8_t needzero;      /* free slots or pages may hold old data; owner / heap lock */
    uint8_t nwords;        /* 64-bit words per bitmap */
    uint32_t elemsize;     /* object size (0 for large spans: use npages) */
    /* -- second line -- */
    uint32_t nelems;       /* objects in the span; immutable while in use */
    uint32_t alloc_count;  /* objects allocated as of the last fold; allocations since
                              are not counted on the fast path: gm__span_alloc_count()
                              derives the live count. Folder writes (relaxed) */
    uint64_t *remote_free; /* slots freed by other threads; atomic OR by freers,
                              atomic exchange by the folder */
    uint64_t *gcmark_bits; /* mark bits for the collector; zero until the GC exists */
    uintptr_t npages;      /* pages in the span; immutable while in use */
    gm_span *next, *prev;  /* mcentral list links (central lock), or the owner's
                              partial queue (next only; owner only) */
    uint32_t sweepgen;     /* collected spans: Go's sweepgen rules against
                              gm__sweepgen (mgc.h); gc lock */
    uint8_t parked;        /* owner only: went round the owner's partial queue once
                              with no free slot; the next time it is retired */
    uint8_t gckind;        /* GM_GC_* (0: malloc memory). Set with a release store
                              once the span is ready for the marker, cleared when
                              its pages are freed; the marker reads it (acquire) */
    uint32_t alloc_count_base; /* gm__span_alloc_count() when last cached or folded:
                                  mallocs since then = count now - base; owner writes */
    /* -- third line: collected spans only -- */
    uint64_t *heap_bits;   /* typed small spans: 1 bit per word of the span, set
                              when a slot is allocated (Go's heap bits); owner
                              writes, marker reads with the world stopped */
    const gm_type *largetype; /* typed large span: the element type */
    uint64_t largesize;    /* large collected span: bytes requested */
    uint32_t markgen;      /* collected spans: gm__gc.cycle + 1 of the mark that
                              marked its free slots (allocate black); gc lock */
    uint64_t *gcscan_bits; /* span-at-a-time marking (mgcmark.c), scan spans of objects
                              up to GM_SPANSCAN_MAX bytes: 1 = marked and scanned (or
                              allocated black) this cycle. Markers set bits with atomic
                              OR; the sweeper clears them; NULL when not used */
    uint8_t gcowned;       /* SPANQ_ONE|SPANQ_MANY (mgcmark.c) while the span is queued
                              for a span scan, else 0: set by the marker that queues it,
                              cleared (exchange) by the one that scans it; seq_cst,
                              pairs with gcmark_bits */
    gm_special *specials;  /* sampled objects of the heap profile (mprof.c): written
                              under its prof_lock (release), read unlocked as a hint
                              by the folder, the sweeper and the heap */
};

GM_INTERNAL extern gm_span gm__emptyspan; /* never allocatable: alloc_cache == 0 */

/* Build the bitmaps of a freshly allocated small span. false on OOM. */
GM_INTERNAL bool gm__span_init_small(gm_span *s, int spanclass);
GM_INTERNAL void gm__span_free_bits(gm_span *s);
/* Next free slot at or after freeindex, refilling alloc_cache; nelems if none. */
GM_INTERNAL uint32_t gm__span_next_free_index(gm_span *s);
/* Merge local_free and remote_free into alloc_bits, reset freeindex and
 * alloc_count, and add the number of frees folded to *nfolded (atomic add):
 * frees are counted here, as Go counts them when sweeping, not one by one.
 * Caller owns s (its cache, or the central lock if uncached). Returns the
 * number of free slots. */
GM_INTERNAL uint32_t gm__span_fold(gm_span *s, uint64_t *nfolded);
GM_INTERNAL bool gm__span_has_remote_frees(gm_span *s);
/* Objects allocated now: nelems minus the free slots left at and after
 * freeindex (frees not yet folded are not subtracted). Any thread (relaxed
 * reads); exact when the owner is not allocating. */
GM_INTERNAL uint32_t gm__span_alloc_count(const gm_span *s);
GM_INTERNAL bool gm__span_has_frees(gm_span *s);
GM_INTERNAL uint32_t gm__span_pending_frees(gm_span *s); /* not yet folded */
GM_INTERNAL void gm__span_check(gm_span *s); /* debug level 3 */

static inline unsigned gm__popcount(uint64_t x) {
    /* SWAR: baseline x86-64 has no popcnt instruction (libgcc would be called). */
    x -= (x >> 1) & 0x5555555555555555ull;
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* Slots of bitmap word w below freeindex fi: handed out since the last
 * fold or sweep, whatever alloc_bits says. */
static inline uint64_t gm__below_freeindex(uint32_t fi, unsigned w) {
    if ((w + 1) * 64 <= fi) return ~(uint64_t)0;
    if (w * 64 >= fi) return 0;
    return ((uint64_t)1 << (fi % 64)) - 1;
}

static inline uint32_t gm__span_slot(const gm_span *s, uintptr_t addr) {
    return (uint32_t)(((uint64_t)(addr - s->base) * s->divmul) >> 32);
}

/* ---- mcache.c ----------------------------------------------------------- */
/* Lock order: gm__allcaches_lock -> mcache.lock -> mcentral.lock -> heap lock. */

/* Per-thread cache. Owned by one thread; others read its counters
 * (relaxed) and walk its spans while holding gm__allcaches_lock and
 * c->lock, for MemStats. ~5.5 KiB. */
struct gm_mcache {
    gm_span *alloc[GM_NUM_SPANCLASSES];  /* span per span class, or &gm__emptyspan;
                                            owner writes (relaxed) */
    gm_span *partial[GM_NUM_SPANCLASSES];/* FIFO of owned spans; owner, under lock */
    gm_span *partial_tail[GM_NUM_SPANCLASSES];
    gm_mutex lock;                       /* the partial queues (owner writes, MemStats
                                            reads); never held on the fast path */
    uint64_t nfree[GM_NUM_SPANCLASSES];  /* frees folded by this thread, by span class
                                            (atomic adds) */
    uint64_t nmalloc[GM_NUM_SPANCLASSES];/* mallocs flushed from spans (see alloc_count_base) */
    uint64_t nrefill[GM_NUM_SPANCLASSES];/* slow-path refills by span class (the cache's
                                            misses: hits = mallocs - refills); owner
                                            writes (relaxed) */
    gm_mcache *next_all, *prev_all;      /* gm__allcaches list; gm__allcaches_lock */
    gm_mcache *next_free;                /* reuse list of exited threads' caches */
};

GM_INTERNAL extern __thread gm_mcache *gm__tls_mcache;
GM_INTERNAL extern gm_mcache gm__empty_mcache; /* every slot is gm__emptyspan */
GM_INTERNAL extern __thread bool gm__tls_cache_gone; /* this thread's cache was retired */
GM_INTERNAL gm_mcache *gm__mcache_new(void);     /* a cache in gm__allcaches; NULL on OOM */
GM_INTERNAL gm_mcache *gm__mcache_acquire(void); /* the thread's real cache; NULL on OOM */
/* Return c's spans and counters and put it on the reuse list. */
GM_INTERNAL void gm__mcache_retire(gm_mcache *c);
GM_INTERNAL gm_span *gm__mcache_refill(gm_mcache *c, int spanclass); /* NULL on OOM */
GM_INTERNAL void gm__mcache_release_all(gm_mcache *c); /* uncache every span */
/* The owner freed into its owned-full span s: claim it back. False if a
 * remote freer moved it to its mcentral first. */
GM_INTERNAL bool gm__mcache_claim_full(gm_mcache *c, gm_span *s);
/* Fold the calling thread's partial spans; free the empty ones. */
GM_INTERNAL void gm__mcache_reclaim_own(void);
GM_INTERNAL void gm__mcache_flush_stats(gm_mcache *c, int spanclass);
GM_INTERNAL void gm__mcache_thread_init(void);

/* ---- mcentral.c --------------------------------------------------------- */

/* One per span class. Go keeps lock-free span sets; we keep two intrusive
 * lists under one lock (holds for a few dozen instructions). */
struct gm_mcentral {
    gm_mutex lock;
    int spanclass;
    gm_span partial;   /* sentinel: uncached spans with free slots */
    gm_span full;      /* sentinel: uncached spans with no free slot known */
    uint64_t npartial; /* list lengths; central lock (npartial stored relaxed:
                          reclaim reads it unlocked as a hint) */
    uint64_t nfull;
    uint64_t nfolded;  /* frees folded by the central (cache_span, reclaim); atomic */
} __attribute__((aligned(GM_CACHELINE)));

GM_INTERNAL extern gm_mcentral gm__central[GM_NUM_SPANCLASSES];
GM_INTERNAL void gm__mcentral_init(void);
/* A partial span for c, folded; if none and grow, a fresh one from the heap. */
GM_INTERNAL gm_span *gm__mcentral_cache_span(gm_mcentral *mc, gm_mcache *c, bool grow);
GM_INTERNAL void gm__mcentral_uncache_span(gm_mcentral *mc, gm_span *s, uint64_t *nfolded);
/* A remote free landed in s, which is central FULL or owned-full (owner,
 * as read by the freer): make it allocatable. */
GM_INTERNAL void gm__mcentral_free_to_full(gm_span *s, uintptr_t owner);
/* Fold every uncached partial span and return the empty ones to the heap. */
GM_INTERNAL size_t gm__mcentral_reclaim(void);

/* ---- mpagealloc.c ------------------------------------------------------- */

/* Free-run summary of a chunk or an arena: free pages at the start, the
 * longest free run, free pages at the end (Go's pallocSum, unpacked). */
typedef struct gm_pallocsum { uint16_t start, max, end; } gm_pallocsum;

/* Per-arena page metadata: one bit per page in use, one bit per page whose
 * memory was returned to the OS ("scavenged": reads as zero, not resident).
 * Fresh pages are free and scavenged. All under the heap lock. */
typedef struct gm_pallocdata {
    uint64_t inuse[GM_CHUNKS_PER_ARENA][GM_CHUNK_WORDS];
    uint64_t scav[GM_CHUNKS_PER_ARENA][GM_CHUNK_WORDS];
    gm_pallocsum chunk_sum[GM_CHUNKS_PER_ARENA];
    gm_pallocsum arena_sum;
    uint32_t used_pages; /* one past the highest page ever allocated: the pages
                            above it were never used (the heap map shows them) */
} gm_pallocdata;

/* First fit: the lowest address run of npages free pages whose start is a
 * multiple of align_pages (a power of two). 0 if none. Heap lock. */
GM_INTERNAL uintptr_t gm__pages_find(size_t npages, size_t align_pages);
/* Marks the run in use; returns how many of its pages were scavenged and
 * sets *dirty when any page may hold old data. Heap lock. */
GM_INTERNAL size_t gm__pages_alloc(uintptr_t addr, size_t npages, bool *dirty);
GM_INTERNAL void gm__pages_free(uintptr_t addr, size_t npages);
/* True if every page of the run lies in an arena and is free. Heap lock. */
GM_INTERNAL bool gm__pages_range_free(uintptr_t addr, size_t npages);
/* Return up to `bytes` of free, unscavenged pages to the OS, highest
 * addresses first. Returns bytes released. Heap lock. */
GM_INTERNAL size_t gm__pages_scavenge(size_t bytes);
GM_INTERNAL void gm__pages_add_arena(gm_heap_arena *ha);
GM_INTERNAL void gm__heap_check(void); /* debug level 3: summaries, bitmaps, order */
/* Bit helpers shared with the span bitmaps. */
GM_INTERNAL void gm__bits_set_range(uint64_t *w, size_t from, size_t n);
GM_INTERNAL void gm__bits_clear_range(uint64_t *w, size_t from, size_t n);
GM_INTERNAL size_t gm__bits_count_range(const uint64_t *w, size_t from, size_t n);
/* nbits is a multiple of 64 for these two. */
GM_INTERNAL gm_pallocsum gm__bits_summarize(const uint64_t *w, size_t nbits);
/* Lowest index of a run of n zero bits in [0, nbits); nbits if none. */
GM_INTERNAL size_t gm__bits_find_run(const uint64_t *w, size_t nbits, size_t n);

/* ---- mheap.c ------------------------------------------------------------ */

/* Metadata of one 64 MiB arena, off-heap, found in O(1) through
 * gm__arenas[addr >> GM_ARENA_SHIFT] with no lock. */
struct gm_heap_arena {
    gm_span *spans[GM_PAGES_PER_ARENA]; /* page -> span for in-use spans, NULL for
                                           free pages; heap lock writes, anyone reads */
    uintptr_t base;
    gm_heap_arena *next, *prev;         /* address-ordered list; heap lock */
    gm_pallocdata pages;                /* heap lock */
};

GM_INTERNAL extern gm_heap_arena *gm__arenas[GM_ARENA_L1_ENTRIES];
/* The heap addresses the allocator keeps in globals. They are not roots:
 * the collector skips this struct (lo is the first object ever allocated,
 * which would otherwise never be collected). Heap lock writes (atomic
 * stores for lo and hi), anyone reads. */
typedef struct gm_heap_bounds {
    uintptr_t lo, hi; /* lowest and highest address of any arena: the
                         marker's quick filter */
    uintptr_t hint;   /* where the next arena is reserved */
} gm_heap_bounds;
GM_INTERNAL extern gm_heap_bounds gm__heap_bounds;
/* Address-ordered list of all arenas; heap lock. */
GM_INTERNAL extern gm_heap_arena *gm__arena_first, *gm__arena_last;

/* Arena metadata for a, or NULL. Masked, not range-checked: a wild pointer
 * above 2^48 aliases a real arena, and callers then reject it by its offset
 * in the span (or, like malloc.c's in_arenas, check the range). */
static inline gm_heap_arena *gm__arena_of(uintptr_t a) {
    return GM_LOAD(&gm__arenas[(a >> GM_ARENA_SHIFT) & (GM_ARENA_L1_ENTRIES - 1)]);
}

/* Span for any address inside the heap, or NULL. A few loads, no lock. */
static inline gm_span *gm__span_of(uintptr_t a) {
    gm_heap_arena *ha = gm__arena_of(a);
    if (!ha) return NULL;
    return GM_LOAD(&ha->spans[(a >> GM_PAGE_SHIFT) & (GM_PAGES_PER_ARENA - 1)]);
}

/* Heap-wide counters. Fields marked [heap] are under the heap lock. */
typedef struct gm_heapstats {
    uint64_t heap_sys;       /* [heap] bytes of arenas mapped */
    uint64_t heap_inuse;     /* [heap] bytes in in-use spans */
    uint64_t heap_inuse_peak;/* [heap] the most heap_inuse has been */
    uint64_t heap_released;  /* [heap] bytes of free pages returned to the OS */
    uint64_t heap_free_dirty;/* [heap] bytes of free pages still backed */
    uint64_t nlarge_alloc, nlarge_free;           /* [heap] */
    uint64_t large_alloc_bytes, large_free_bytes; /* [heap] */
    uint64_t mspan_sys, mcache_sys, gc_sys, other_sys; /* atomic adds (fixalloc) */
    uint64_t mcache_inuse;   /* [heap] bytes of caches owned by live threads */
} gm_heapstats;

GM_INTERNAL extern gm_mutex gm__heap_lock;
GM_INTERNAL extern gm_heapstats gm__heapstats;
GM_INTERNAL extern gm_fixalloc gm__spanalloc;  /* heap lock */
GM_INTERNAL extern gm_fixalloc gm__cachealloc; /* heap lock */
GM_INTERNAL void gm__mheap_init(void);
/* npages pages aligned to align_pages, as a span of the given class (0 or 1:
 * large). NULL on OOM. Takes the heap lock. */
GM_INTERNAL gm_span *gm__mheap_alloc_span(size_t npages, int spanclass, size_t align_pages);
GM_INTERNAL void gm__mheap_free_span(gm_span *s);
/* Extend large span s in place to hold size bytes if the pages after it
 * are free (realloc). */
GM_INTERNAL bool gm__mheap_grow_span(gm_span *s, size_t size);
GM_INTERNAL void gm__mheap_scavenge_all(void);
GM_INTERNAL void gm__mheap_flush_large_cache(void); /* pages of cached large spans to the page allocator */
GM_INTERNAL uint64_t *gm__bitsalloc(unsigned nwords); /* 4 bitmaps, zeroed; heap lock */
GM_INTERNAL void gm__bitsfree(uint64_t *bits, unsigned nwords); /* heap lock */
GM_INTERNAL uint64_t *gm__heapbits_alloc(size_t npages); /* zeroed; heap lock */
GM_INTERNAL uint64_t *gm__scanbits_alloc(unsigned nwords); /* zeroed; heap lock */

/* ---- malloc.c ----------------------------------------------------------- */

GM_INTERNAL void gm__init_slow(void);
GM_INTERNAL extern int gm__inited;
static inline void gm__ensure_init(void) {
    if (GM_UNLIKELY(!__atomic_load_n(&gm__inited, __ATOMIC_ACQUIRE))) gm__init_slow();
}
/* Go's mallocgc: the one entry for small and large objects. */
GM_INTERNAL void *gm__mallocgc(size_t size, bool noscan, bool needzero);
GM_INTERNAL void *gm__malloc_aligned(size_t size, size_t align);
GM_INTERNAL void gm__free_sized(void *p, size_t size, size_t align, bool exact);
GM_INTERNAL extern gm_mutex gm__init_lock;
/* The shared cache of threads whose own cache was retired (see malloc.c);
 * its lock comes before every other lock. */
GM_INTERNAL extern gm_mutex gm__orphan_lock;
GM_INTERNAL extern gm_mcache *gm__orphan_cache; /* gm__orphan_lock */

/* ---- fork.c ------------------------------------------------------------- */

GM_INTERNAL void gm__fork_init(void); /* pthread_atfork, once, after init */

/* ---- foreign.c ---------------------------------------------------------- */

/* Pointers outside gomalloc's arenas, passed to free or realloc: memory of
 * another allocator (kept, never freed), or garbage (fatal). */
GM_INTERNAL void gm__foreign_free(void *p);
GM_INTERNAL void *gm__foreign_realloc(void *p, size_t size);
GM_INTERNAL extern uint64_t gm__foreign_frees; /* atomic */

static inline int gm__class128(size_t size) {
    return gm__size_to_class128[(size - GM_SMALL_SIZE_MAX + GM_LARGE_SIZE_DIV - 1) /
                                GM_LARGE_SIZE_DIV];
}
/* Go's size class of a small object: for objects known to need at most
 * 8-byte alignment (Go's own rule: containers, typed objects). */
static inline int gm__size_to_class(size_t size) {
    if (size <= GM_SMALL_SIZE_MAX - 8)
        return gm__size_to_class8[(size + GM_SMALL_SIZE_DIV - 1) / GM_SMALL_SIZE_DIV];
    return gm__class128(size);
}
/* Go's roundupsize (msize.go, 1.22+): the bytes mallocgc hands out for a
 * request of size, less the 8-byte malloc header that Go puts in front of
 * a pointerful (!noscan) object over 512 bytes. Containers size their
 * arrays with it so that capacities and bucket counts are Go's; our typed
 * objects keep their pointer bits in the span, so our block is never larger
 * than Go's. */
static inline size_t gm__roundupsize(size_t size, bool noscan) {
    enum { MALLOC_HEADER = 8, MIN_SIZE_FOR_HEADER = 512 };
    if (size <= GM_MAX_SMALL_SIZE - MALLOC_HEADER) {
        size_t req = size + (!noscan && size > MIN_SIZE_FOR_HEADER ? MALLOC_HEADER : 0);
        return gm__class_to_size[gm__size_to_class(req)] - (req - size);
    }
    size_t req = size + GM_PAGE_SIZE - 1;
    return req < size ? size : req & ~((size_t)GM_PAGE_SIZE - 1);
}

/* The class of a malloc-family or gm_new block: Go's, except 17..24 bytes
 * take the 32-byte class, so every block of 16 bytes or more is 16-byte
 * aligned (see "Alignment" in malloc.c). */
static inline int gm__malloc_size_to_class(size_t size) {
    if (size <= GM_SMALL_SIZE_MAX - 8)
        return gm__malloc_size_to_class8[(size + GM_SMALL_SIZE_DIV - 1) / GM_SMALL_SIZE_DIV];
    return gm__class128(size);
}

/* The block a small request of size bytes gets from malloc's classes. */
static inline size_t gm__malloc_block_size(size_t size) {
    return gm__class_to_size[gm__malloc_size_to_class(size)];
}

/* ---- mstats.c ----------------------------------------------------------- */

/* Counters moved out of caches of exited threads. gm__allcaches_lock. */
typedef struct gm_flushedstats {
    uint64_t nmalloc[GM_NUM_SPANCLASSES];
    uint64_t nfree[GM_NUM_SPANCLASSES];
    uint64_t nrefill[GM_NUM_SPANCLASSES];
} gm_flushedstats;
GM_INTERNAL extern gm_mutex gm__allcaches_lock;
GM_INTERNAL extern gm_mcache *gm__allcaches;
GM_INTERNAL extern gm_flushedstats gm__flushed;
/* In-use spans per size class (0: large) and the peak of heap_inuse. */
GM_INTERNAL void gm__count_spans(uint64_t nspans[GM_NUM_CLASSES], uint64_t *peak_inuse);

/* Concurrent collection tracks written pages of every arena (mgc.c): set
 * once the collector is on in that mode; then each new arena is given to
 * gm__gc_track_arena under the heap lock. */
GM_INTERNAL extern bool gm__track_arenas;
GM_INTERNAL void gm__gc_track_arena(uintptr_t base);

/* ---- options.c ---------------------------------------------------------- */

typedef struct gm_options {
    uint64_t retain_min;     /* GOMALLOC_RETAIN: free bytes kept backed */
    uint64_t retain_percent; /* GOMALLOC_RETAIN_PERCENT: of heap in use */
    const char *stats;       /* GOMALLOC_STATS: "0", "1" (stderr) or a path */
    uint64_t stats_pid;      /* GOMALLOC_STATS_PID: 0 = any process */
    int gc_percent;          /* GOGC: -1 = off */
    int64_t memory_limit;    /* GOMEMLIMIT: INT64_MAX = none */
    int gctrace;             /* GODEBUG=gctrace=N */
    uint64_t markers;        /* GOMALLOC_MARKERS: 0 = number of cores */
    uint64_t gc_signal;      /* GOMALLOC_SIGNAL */
    const char *profile;     /* GOMALLOC_PROFILE: "" or a path (%p = pid) */
    uint64_t profile_rate;   /* GOMALLOC_PROFILE_RATE: bytes per sample, 0 = off */
    uint64_t profile_signal; /* GOMALLOC_PROFILE_SIGNAL: 0 = none */
    const char *heap_map;    /* GOMALLOC_HEAP_MAP: "" or a path */
    const char *metrics;     /* GOMALLOC_METRICS: "" or a path */
    uint64_t metrics_interval_ns; /* GOMALLOC_METRICS_INTERVAL */
    bool gc_concurrent;      /* GOMALLOC_GCMODE=concurrent */
    int dirty;               /* GOMALLOC_DIRTY: 0 auto, else a gm_dirty_mode */
    bool gc_spanmark;        /* GOMALLOC_GCMARK=span */
} gm_options;
GM_INTERNAL extern gm_options gm__opts;
GM_INTERNAL void gm__options_init(void);
/* Parses Go's byte syntax ("512MiB", "1G", "4096"); false if malformed. */
GM_INTERNAL bool gm__parse_bytes(const char *s, uint64_t *out);

/* ---- alg.c -------------------------------------------------------------- */

/* The hash functions of maps and the runtime's cheap random numbers. */
struct gm_string; /* gomalloc/map.h */
GM_INTERNAL void gm__alg_init(void);
GM_INTERNAL uint64_t gm__memhash64(uint64_t key, uint64_t seed);
GM_INTERNAL uint64_t gm__memhash32(uint32_t key, uint64_t seed);
GM_INTERNAL uint64_t gm__memhash(const void *p, size_t n, uint64_t seed);
GM_INTERNAL uint64_t gm__strhash(const struct gm_string *s, uint64_t seed);
GM_INTERNAL uint64_t gm__rand(void);

/* ---- mprof.c, hooks.c: the heap profiler and the allocation hooks -------- */

/* Set while sampling or an allocation hook is on: the allocation fast
 * paths then call gm__observe_alloc (one predicted branch otherwise). The
 * free fast path tests gm__observe_free_on (a free hook is set). */
GM_INTERNAL extern uint8_t gm__observe_alloc_on, gm__observe_free_on;
/* This thread is sampling, running a hook or writing a profile: its own
 * allocations are not observed. */
GM_INTERNAL extern __thread bool gm__tls_observing;
/* After an allocation of `size` bytes requested at p (NULL passes
 * through): sample it, call the hook. Returns p. */
GM_INTERNAL void *gm__observe_alloc(void *p, size_t size);
GM_INTERNAL void gm__observe_free(void *p); /* before p is freed */
GM_INTERNAL void gm__observe_update(void);  /* recompute the two flags */
GM_INTERNAL extern uint64_t gm__mprof_rate; /* bytes per sample, 0 = off; atomic */
GM_INTERNAL extern uint32_t gm__mprof_epoch; /* bumped at every rate change; atomic */
GM_INTERNAL extern __thread int64_t gm__tls_sample_left;
GM_INTERNAL extern __thread uint32_t gm__tls_sample_epoch;
/* gm__observe_alloc_on: 0 nothing, 1 sampling only, 2 a hook is set. */
enum { GM_OBSERVE_SAMPLING = 1, GM_OBSERVE_HOOK = 2 };

/* The profiler's countdown, inline on a fast path that found a block of
 * `bytes` while gm__observe_alloc_on is set: false (counted down, nothing
 * to do) unless a sample is due, the rate changed or a hook is set. */
static inline bool gm__observe_needed(size_t bytes) {
    if (GM_LOAD(&gm__observe_alloc_on) != GM_OBSERVE_SAMPLING ||
        gm__tls_sample_epoch != GM_LOAD(&gm__mprof_epoch))
        return true;
    int64_t left = gm__tls_sample_left - (int64_t)bytes;
    if (left < 0) return true;
    gm__tls_sample_left = left;
    return false;
}
GM_INTERNAL extern uint64_t gm__mprof_sys;  /* MemStats buck_hash_sys; atomic */
GM_INTERNAL void gm__mprof_init(void);      /* the rate from the options */
GM_INTERNAL bool gm__mprof_should_sample(size_t size);
GM_INTERNAL void gm__mprof_malloc(void *p, gm_span *s, size_t size);
/* freed[w]: the slots of bitmap word w a fold or sweep just freed. */
GM_INTERNAL void gm__mprof_free_slots(gm_span *s, const uint64_t *freed);
GM_INTERNAL void gm__mprof_free_span(gm_span *s);
/* A GOMALLOC_* file name with every %p replaced by the pid; false if it
 * does not fit in cap bytes. */
GM_INTERNAL bool gm__expand_path(const char *pattern, char *buf, size_t cap);
GM_INTERNAL void gm__mprof_fork_prepare(void);
GM_INTERNAL void gm__mprof_fork_parent(void);
GM_INTERNAL void gm__mprof_fork_child(void);

/* ---- metrics.c ---------------------------------------------------------- */

/* A stop-the-world pause of ns nanoseconds ended: counted in the
 * /gc/pauses:seconds histogram. Called by the collector, gc lock held. */
GM_INTERNAL void gm__metrics_record_pause(uint64_t ns);

#endif /* GM_INTERNAL_H */
