/*
 * The page allocator (Go's mpagealloc.go, simplified). See malloc.c for the
 * design. Every 64 MiB arena carries a bitmap of pages in use and a bitmap
 * of scavenged pages, cut into 4 MiB chunks of 512 pages. Each chunk has a
 * summary (free pages at its start, longest free run, free pages at its
 * end) and each arena a summary of its 16 chunk summaries, so a search skips
 * whole arenas and chunks that cannot hold the request: a two-level version
 * of Go's five-level radix tree. Allocation is address-ordered first fit.
 *
 * Invariants (heap lock held for everything here):
 *  - chunk_sum[i] == summarize(inuse[i]); arena_sum == merge(chunk_sum[]).
 *  - A page that is in use is never scavenged.
 *  - A free page that is scavenged reads as zero (fresh or MADV_DONTNEED).
 */
#include "internal.h"


/* ---- bit helpers --------------------------------------------------------- */

static inline uint64_t mask_from(size_t bit) { return ~(uint64_t)0 << (bit & 63); }

void gm__bits_set_range(uint64_t *w, size_t from, size_t n) {
    while (n > 0) {
        size_t i = from >> 6, b = from & 63, k = 64 - b < n ? 64 - b : n;
        uint64_t m = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << b;
        w[i] |= m;
        from += k;
        n -= k;
    }
}

void gm__bits_clear_range(uint64_t *w, size_t from, size_t n) {
    while (n > 0) {
        size_t i = from >> 6, b = from & 63, k = 64 - b < n ? 64 - b : n;
        uint64_t m = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << b;
        w[i] &= ~m;
        from += k;
        n -= k;
    }
}

size_t gm__bits_count_range(const uint64_t *w, size_t from, size_t n) {
    size_t c = 0;
    while (n > 0) {
        size_t i = from >> 6, b = from & 63, k = 64 - b < n ? 64 - b : n;
        uint64_t m = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << b;
        c += (size_t)gm__popcount(w[i] & m);
        from += k;
        n -= k;
    }
    return c;
}

/* Index of the first bit at or after i equal to `one`; nbits if none. */
static size_t next_bit(const uint64_t *w, size_t nbits, size_t i, bool one) {
    while (i < nbits) {
        uint64_t v = one ? w[i >> 6] : ~w[i >> 6];
        v &= mask_from(i);
        if (v) {
            size_t r = (i & ~(size_t)63) + (size_t)__builtin_ctzll(v);
            return r < nbits ? r : nbits;
        }
        i = (i & ~(size_t)63) + 64;
    }
    return nbits;
}

/* Longest run of zeros in x (x != 0) that touches neither bit 0 nor bit 63:
 * the runs at the ends continue into the neighbouring words. */
static unsigned max_inner_zero_run(uint64_t x) {
    uint64_t free_bits = ~x;
    free_bits &= ~(((uint64_t)1 << __builtin_ctzll(x)) - 1);
    unsigned top = (unsigned)__builtin_clzll(x);
    if (top) free_bits &= ~(~(uint64_t)0 << (64 - top));
    unsigned best = 0;
    while (free_bits) {
        free_bits >>= __builtin_ctzll(free_bits);
        unsigned len = (unsigned)__builtin_ctzll(~free_bits); /* top bit is 0 here */
        if (len > best) best = len;
        free_bits >>= len;
    }
    return best;
}

/* Word at a time: runs crossing words are carried in `run`. nbits is a
 * multiple of 64. */
gm_pallocsum gm__bits_summarize(const uint64_t *w, size_t nbits) {
    size_t run = 0, best = 0, start = nbits;
    for (size_t i = 0; i < nbits / 64; i++) {
        uint64_t x = w[i];
        if (x == 0) {
            run += 64;
            continue;
        }
        run += (size_t)__builtin_ctzll(x);
        if (start == nbits) start = run;
        if (run > best) best = run;
        unsigned inner = max_inner_zero_run(x);
        if (inner > best) best = inner;
        run = (size_t)__builtin_clzll(x);
    }
    if (run > best) best = run;
    return (gm_pallocsum){(uint16_t)start, (uint16_t)best, (uint16_t)run};
}

/* Bit p of the result is set iff free has n ones at p..p+n-1 (n <= 64). */
static uint64_t runs_of(uint64_t free_bits, size_t n) {
    for (size_t have = 1; have < n && free_bits;) {
        size_t step = have < n - have ? have : n - have;
        free_bits &= free_bits >> step;
        have += step;
    }
    return free_bits;
}

size_t gm__bits_find_run(const uint64_t *w, size_t nbits, size_t n) {
    size_t run = 0, start = 0;
    for (size_t i = 0; i < nbits / 64; i++) {
        uint64_t x = w[i];
        if (x == 0) {
            if (!run) start = i * 64;
            run += 64;
            if (run >= n) return start;
            continue;
        }
        size_t low = (size_t)__builtin_ctzll(x);
        if (run + low >= n) return run ? start : i * 64;
        if (n < 64) {
            uint64_t inner = runs_of(~x, n);
            if (inner) return i * 64 + (size_t)__builtin_ctzll(inner);
        }
        run = (size_t)__builtin_clzll(x);
        start = i * 64 + 64 - run;
    }
    return nbits;
}

/* ---- summaries --------------------------------------------------------- */

static bool sum_equal(gm_pallocsum a, gm_pallocsum b) {
    return a.start == b.start && a.max == b.max && a.end == b.end;
}

/* Recomputes chunk c's summary; true if it changed (then the arena's
 * summary must be merged again). */
static bool update_chunk(gm_heap_arena *ha, size_t c) {
    gm_pallocsum old = ha->pages.chunk_sum[c];
    gm_pallocsum now = gm__bits_summarize(ha->pages.inuse[c], GM_CHUNK_PAGES);
    ha->pages.chunk_sum[c] = now;
    return !sum_equal(now, old);
}

/* The arena's summary, merged from its chunks' summaries. */
static gm_pallocsum merge_chunks(const gm_pallocsum *cs) {
    gm_pallocsum a = {0, 0, 0};
    size_t run = 0, i;
    for (i = 0; i < GM_CHUNKS_PER_ARENA && cs[i].start == GM_CHUNK_PAGES; i++)
        a.start += GM_CHUNK_PAGES;
    for (i = GM_CHUNKS_PER_ARENA; i > 0 && cs[i - 1].start == GM_CHUNK_PAGES; i--)
        a.end += GM_CHUNK_PAGES;
    if (i > 0) a.end += cs[i - 1].end;
    if (a.start < GM_PAGES_PER_ARENA) a.start += cs[a.start / GM_CHUNK_PAGES].start;
    for (i = 0; i < GM_CHUNKS_PER_ARENA; i++) {
        if (cs[i].start == GM_CHUNK_PAGES) {
            run += GM_CHUNK_PAGES;
        } else {
            run += cs[i].start;
            if (run > a.max) a.max = (uint16_t)run;
            if (cs[i].max > a.max) a.max = cs[i].max;
            run = cs[i].end;
        }
        if (run > a.max) a.max = (uint16_t)run;
    }
    return a;
}

static void update_arena(gm_heap_arena *ha) {
    ha->pages.arena_sum = merge_chunks(ha->pages.chunk_sum);
}


void gm__pages_add_arena(gm_heap_arena *ha) {
    /* Fresh memory: free and scavenged (it reads as zero and is not resident). */
    for (size_t c = 0; c < GM_CHUNKS_PER_ARENA; c++) {
        for (size_t w = 0; w < GM_CHUNK_WORDS; w++) {
            ha->pages.inuse[c][w] = 0;
            ha->pages.scav[c][w] = ~(uint64_t)0;
        }
        update_chunk(ha, c);
    }
    update_arena(ha);
}

/* ---- search ------------------------------------------------------------ */

/* First run of n free pages inside ha, known to exist (arena_sum.max >= n). */
static uintptr_t find_in_arena(gm_heap_arena *ha, size_t n) {
    size_t run = 0;
    uintptr_t run_start = 0;
    for (size_t c = 0; c < GM_CHUNKS_PER_ARENA; c++) {
        gm_pallocsum cs = ha->pages.chunk_sum[c];
        uintptr_t cbase = ha->base + c * GM_CHUNK_PAGES * GM_PAGE_SIZE;
        if (cs.start == GM_CHUNK_PAGES) {
            if (!run) run_start = cbase;
            run += GM_CHUNK_PAGES;
            if (run >= n) return run_start;
            continue;
        }
        if (run + cs.start >= n) return run ? run_start : cbase;
        if (cs.max >= n) {
            size_t i = gm__bits_find_run(ha->pages.inuse[c], GM_CHUNK_PAGES, n);
            return cbase + i * GM_PAGE_SIZE;
        }
        run = cs.end;
        run_start = cbase + (GM_CHUNK_PAGES - cs.end) * GM_PAGE_SIZE;
    }
    gm__fatal("page summaries are inconsistent", (void *)ha->base);
}

static uintptr_t find_run(size_t n) {
    size_t run = 0;
    uintptr_t run_start = 0, prev_end = 0;
    for (gm_heap_arena *ha = gm__arena_first; ha; ha = ha->next) {
        gm_pallocsum as = ha->pages.arena_sum;
        if (ha->base != prev_end) run = 0;
        prev_end = ha->base + GM_ARENA_BYTES;
        if (as.start == GM_PAGES_PER_ARENA) {
            if (!run) run_start = ha->base;
            run += GM_PAGES_PER_ARENA;
            if (run >= n) return run_start;
            continue;
        }
        if (run + as.start >= n) return run ? run_start : ha->base;
        if (as.max >= n) return find_in_arena(ha, n);
        run = as.end;
        run_start = ha->base + (GM_PAGES_PER_ARENA - as.end) * GM_PAGE_SIZE;
    }
    return 0;
}

uintptr_t gm__pages_find(size_t npages, size_t align_pages) {
    if (align_pages <= 1) return find_run(npages);
    /* Any run of npages + align - 1 free pages holds an aligned run of npages. */
    uintptr_t start = find_run(npages + align_pages - 1);
    if (!start) return 0;
    uintptr_t a = align_pages * GM_PAGE_SIZE;
    return (start + a - 1) & ~(a - 1);
}

/* ---- alloc / free / scavenge ------------------------------------------- */

/* Runs body on each (arena ha, chunk, first page in chunk, page count)
 * piece of [addr, addr + npages pages), which must lie in known, contiguous
 * arenas. body sets changed_ when a chunk summary changed; the arena's
 * summary is merged again only then. */
#define FOR_EACH_PIECE(addr, npages, body)                                      \
    do {                                                                        \
        uintptr_t a_ = (addr);                                                  \
        size_t left_ = (npages);                                                \
        bool changed_ = false;                                                  \
        while (left_ > 0) {                                                     \
            gm_heap_arena *ha = gm__arenas[a_ >> GM_ARENA_SHIFT];               \
            size_t pg_ = (a_ - ha->base) / GM_PAGE_SIZE;                        \
            size_t chunk = pg_ / GM_CHUNK_PAGES, first = pg_ % GM_CHUNK_PAGES;  \
            size_t count = GM_CHUNK_PAGES - first < left_ ? GM_CHUNK_PAGES - first \
                                                          : left_;              \
            body;                                                               \
            a_ += count * GM_PAGE_SIZE;                                         \
            left_ -= count;                                                     \
            if (changed_ && ((chunk == GM_CHUNKS_PER_ARENA - 1 &&               \
                              first + count == GM_CHUNK_PAGES) || left_ == 0)) { \
                update_arena(ha);                                               \
                changed_ = false;                                               \
            }                                                                   \
        }                                                                       \
    } while (0)

size_t gm__pages_alloc(uintptr_t addr, size_t npages, bool *dirty) {
    size_t scav = 0;
    FOR_EACH_PIECE(addr, npages, {
        gm_assert(2, gm__bits_count_range(ha->pages.inuse[chunk], first, count) == 0,
                  "allocating pages in use");
        size_t s = gm__bits_count_range(ha->pages.scav[chunk], first, count);
        scav += s;
        gm__bits_set_range(ha->pages.inuse[chunk], first, count);
        gm__bits_clear_range(ha->pages.scav[chunk], first, count);
        changed_ |= update_chunk(ha, chunk);
        uint32_t end = (uint32_t)(chunk * GM_CHUNK_PAGES + first + count);
        if (end > ha->pages.used_pages) ha->pages.used_pages = end;
    });
    *dirty = scav != npages;
    return scav;
}

void gm__pages_free(uintptr_t addr, size_t npages) {
    FOR_EACH_PIECE(addr, npages, {
        gm_assert(2, gm__bits_count_range(ha->pages.inuse[chunk], first, count) == count,
                  "freeing pages not in use");
        gm__bits_clear_range(ha->pages.inuse[chunk], first, count);
        changed_ |= update_chunk(ha, chunk);
    });
}

bool gm__pages_range_free(uintptr_t addr, size_t npages) {
    uintptr_t a = addr, end = addr + npages * GM_PAGE_SIZE;
    if (end < addr || end > ((uintptr_t)1 << GM_ADDR_BITS)) return false;
    while (a < end) {
        gm_heap_arena *ha = gm__arenas[a >> GM_ARENA_SHIFT];
        if (!ha) return false;
        size_t pg = (a - ha->base) / GM_PAGE_SIZE;
        size_t chunk = pg / GM_CHUNK_PAGES, first = pg % GM_CHUNK_PAGES;
        size_t count = GM_CHUNK_PAGES - first;
        if (count > (end - a) / GM_PAGE_SIZE) count = (end - a) / GM_PAGE_SIZE;
        if (gm__bits_count_range(ha->pages.inuse[chunk], first, count)) return false;
        a += count * GM_PAGE_SIZE;
    }
    return true;
}

/* Releases the free, unscavenged runs of one chunk; returns bytes released. */
static size_t scavenge_chunk(gm_heap_arena *ha, size_t c, size_t want) {
    uint64_t busy[GM_CHUNK_WORDS]; /* 1 = in use or already scavenged */
    for (size_t w = 0; w < GM_CHUNK_WORDS; w++)
        busy[w] = ha->pages.inuse[c][w] | ha->pages.scav[c][w];
    size_t released = 0, i = 0;
    uintptr_t cbase = ha->base + c * GM_CHUNK_PAGES * GM_PAGE_SIZE;
    while (i < GM_CHUNK_PAGES && released < want) {
        size_t z = next_bit(busy, GM_CHUNK_PAGES, i, false);
        if (z >= GM_CHUNK_PAGES) break;
        size_t o = next_bit(busy, GM_CHUNK_PAGES, z, true);
        gm__sys_unused((void *)(cbase + z * GM_PAGE_SIZE), (o - z) * GM_PAGE_SIZE);
        gm__bits_set_range(ha->pages.scav[c], z, o - z);
        released += (o - z) * GM_PAGE_SIZE;
        i = o;
    }
    return released;
}

size_t gm__pages_scavenge(size_t bytes) {
    size_t released = 0;
    for (gm_heap_arena *ha = gm__arena_last; ha && released < bytes; ha = ha->prev)
        for (size_t c = GM_CHUNKS_PER_ARENA; c > 0 && released < bytes; c--)
            released += scavenge_chunk(ha, c - 1, bytes - released);
    return released;
}

void gm__heap_check(void) {
    if (GOMALLOC_DEBUG < 3) return;
    for (gm_heap_arena *ha = gm__arena_first; ha; ha = ha->next) {
        for (size_t c = 0; c < GM_CHUNKS_PER_ARENA; c++) {
            if (!sum_equal(gm__bits_summarize(ha->pages.inuse[c], GM_CHUNK_PAGES),
                           ha->pages.chunk_sum[c]))
                gm__fatal("page chunk summary is stale", (void *)ha->base);
            for (size_t w = 0; w < GM_CHUNK_WORDS; w++)
                if (ha->pages.inuse[c][w] & ha->pages.scav[c][w])
                    gm__fatal("page both in use and scavenged", (void *)ha->base);
        }
        if (!sum_equal(merge_chunks(ha->pages.chunk_sum), ha->pages.arena_sum))
            gm__fatal("page arena summary is stale", (void *)ha->base);
        if (ha->next && ha->next->base <= ha->base)
            gm__fatal("arena list out of order", (void *)ha->base);
    }
}
