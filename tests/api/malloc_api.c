/*
 * Public-API conformance of the malloc family, as documented in gomalloc.h:
 * gm_malloc, gm_calloc, gm_realloc, gm_free, gm_aligned_alloc,
 * gm_posix_memalign, gm_memalign, gm_usable_size, gm_release_memory,
 * gm_read_memstats, gm_size_class_of and gm_span_inspect.
 *
 * The expected size classes below are Go's (runtime/sizeclasses.go), written
 * out here independently of the library's own table.
 */
#include "test.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gomalloc.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
#define GO_PAGE ((size_t)8192)
#define MAX_SMALL ((size_t)32768)
#define NCLASSES 68
#define DEATH_MSG "gomalloc: fatal error:"

/* Go's size classes: object size and objects per span, by class. */
static const size_t go_class_size[NCLASSES] = {
    0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208,
    224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768,
    896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200,
    3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240,
    10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576,
    27264, 28672, 32768,
};
static const unsigned go_class_npages[NCLASSES] = {
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3, 4, 5,
    6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8, 3, 10, 7, 4,
};

/* The class gm_malloc uses for a small request (1..32768): Go's, except
 * that 17..24 bytes take the 32-byte class (16-byte alignment from 16
 * bytes up, as every x86-64 malloc gives). */
static int malloc_class_of(size_t n) {
    if (n > 16 && n <= 24) n = 32;
    for (int c = 1; c < NCLASSES; c++)
        if (go_class_size[c] >= n) return c;
    return 0;
}

/* Bytes gm_malloc(n) must make usable: class size, or whole 8 KiB pages. */
static size_t malloc_rounded(size_t n) {
    if (n <= MAX_SMALL) return go_class_size[malloc_class_of(n ? n : 1)];
    return (n + GO_PAGE - 1) / GO_PAGE * GO_PAGE;
}

/* A byte pattern that differs per block (seed) and per offset. */
static unsigned char pat(uint64_t seed, size_t i) {
    uint64_t x = (seed + i + 1) * 0x9E3779B97F4A7C15ull;
    return (unsigned char)(x >> 56);
}
static void fill(void *p, size_t n, uint64_t seed) {
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++) b[i] = pat(seed, i);
}
/* Offset of the first byte that differs from the pattern, or SIZE_MAX. */
static size_t bad_offset(const void *p, size_t n, uint64_t seed) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(seed, i)) return i;
    return SIZE_MAX;
}
/* Offset of the first non-zero byte, or SIZE_MAX. */
static size_t nonzero_offset(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return i;
    return SIZE_MAX;
}

static int cmp_uptr(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}
/* Number of adjacent equal values after sorting (0 means all distinct). */
static size_t count_duplicates(uintptr_t *v, size_t n) {
    qsort(v, n, sizeof v[0], cmp_uptr);
    size_t d = 0;
    for (size_t i = 1; i < n; i++) d += v[i] == v[i - 1];
    return d;
}

static gm_memstats read_stats(void) {
    gm_memstats s;
    memset(&s, 0, sizeof s);
    gm_read_memstats(&s);
    return s;
}

static bool aligned(const void *p, size_t a) { return (uintptr_t)p % a == 0; }

/* ---- malloc(0), free(NULL), errno ------------------------------------- */

TEST(malloc_zero_returns_unique_non_null_pointers) {
    enum { N = 1000 };
    static void *ptrs[N];
    static uintptr_t addrs[N];
    for (int i = 0; i < N; i++) {
        ptrs[i] = gm_malloc(0);
        REQUIRE(ptrs[i] != NULL);
        addrs[i] = (uintptr_t)ptrs[i];
    }
    CHECK_EQ(count_duplicates(addrs, N), 0);
    for (int i = 0; i < N; i++) gm_free(ptrs[i]);
    /* The freed zero-size blocks are reusable: a new one is still unique
     * against live ones. */
    void *a = gm_malloc(0), *b = gm_malloc(0);
    REQUIRE(a && b);
    CHECK((uintptr_t)a != (uintptr_t)b);
    gm_free(a);
    gm_free(b);
}

TEST(free_null_is_a_noop) {
    gm_memstats before = read_stats();
    errno = EDOM;
    gm_free(NULL);
    CHECK_EQ(errno, EDOM);
    gm_memstats after = read_stats();
    CHECK_EQ(after.frees, before.frees);
    CHECK_EQ(after.mallocs, before.mallocs);
    CHECK_EQ(after.heap_objects, before.heap_objects);
}

TEST(free_preserves_errno) {
    const size_t sizes[] = {1, 80, 4096, 32768, 32769, 100 * KiB, 4 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = gm_malloc(sizes[i]);
        REQUIRE(p != NULL);
        memset(p, 1, sizes[i]);
        errno = ERANGE;
        gm_free(p);
        CHECK_EQ(errno, ERANGE);
    }
}

/* ---- Sizes that cannot be satisfied ------------------------------------ */

TEST(malloc_sizes_above_ptrdiff_max_return_null_enomem) {
    const size_t sizes[] = {
        (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX + 8193, SIZE_MAX / 2 + 2,
        SIZE_MAX - GO_PAGE, SIZE_MAX - 1, SIZE_MAX,
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        errno = 0;
        void *p = gm_malloc(sizes[i]);
        CHECK(p == NULL);
        CHECK_EQ(errno, ENOMEM);
        if (p) gm_free(p);
    }
}

TEST(malloc_of_ptrdiff_max_returns_null_enomem) {
    errno = 0;
    void *p = gm_malloc((size_t)PTRDIFF_MAX);
    CHECK(p == NULL);
    CHECK_EQ(errno, ENOMEM);
    if (p) gm_free(p);
}

/* Rounding such a size up to 8 KiB pages must not wrap to a small size. */
TEST(malloc_sizes_near_size_max_do_not_wrap_when_rounded_up) {
    for (size_t k = 0; k <= 2 * GO_PAGE + 1; k++) {
        errno = 0;
        void *p = gm_malloc(SIZE_MAX - k);
        if (p != NULL || errno != ENOMEM) {
            fprintf(stderr, "  gm_malloc(SIZE_MAX - %zu) = %p, errno %d\n", k,
                    p, errno);
            CHECK(p == NULL);
            CHECK_EQ(errno, ENOMEM);
            if (p) gm_free(p);
            return;
        }
    }
}

TEST(calloc_overflow_returns_null_enomem) {
    const size_t pairs[][2] = {
        {SIZE_MAX, 2}, {2, SIZE_MAX}, {SIZE_MAX, SIZE_MAX},
        {SIZE_MAX / 2 + 1, 2}, {(size_t)1 << 32, (size_t)1 << 32},
        {((size_t)1 << 32) + 1, ((size_t)1 << 32) - 1}, {SIZE_MAX / 16 + 1, 16},
        {65537, SIZE_MAX / 65536},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        errno = 0;
        void *p = gm_calloc(pairs[i][0], pairs[i][1]);
        if (p != NULL || errno != ENOMEM)
            fprintf(stderr, "  gm_calloc(%zu, %zu) = %p, errno %d\n",
                    pairs[i][0], pairs[i][1], p, errno);
        CHECK(p == NULL);
        CHECK_EQ(errno, ENOMEM);
        if (p) gm_free(p);
    }
}

TEST(calloc_product_above_ptrdiff_max_returns_null_enomem) {
    const size_t pairs[][2] = {
        {1, SIZE_MAX}, {SIZE_MAX, 1}, {(size_t)PTRDIFF_MAX / 8 + 1, 8},
        {4, (size_t)PTRDIFF_MAX / 4 + 1},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        errno = 0;
        void *p = gm_calloc(pairs[i][0], pairs[i][1]);
        CHECK(p == NULL);
        CHECK_EQ(errno, ENOMEM);
        if (p) gm_free(p);
    }
}

/* ---- calloc zeroes ------------------------------------------------------ */

TEST(calloc_zero_count_or_size_gives_null_or_freeable_pointer) {
    void *a = gm_calloc(0, 16), *b = gm_calloc(16, 0), *c = gm_calloc(0, 0);
    if (a && b) CHECK((uintptr_t)a != (uintptr_t)b);
    if (a && c) CHECK((uintptr_t)a != (uintptr_t)c);
    if (b && c) CHECK((uintptr_t)b != (uintptr_t)c);
    gm_free(a);
    gm_free(b);
    gm_free(c);
}

TEST(calloc_memory_is_zeroed_for_every_size_up_to_8_kib) {
    for (size_t n = 1; n <= 8 * KiB; n++) {
        unsigned char *p = gm_calloc(1, n);
        REQUIRE(p != NULL);
        size_t off = nonzero_offset(p, n);
        if (off != SIZE_MAX) {
            fprintf(stderr, "  gm_calloc(1, %zu): byte %zu is 0x%02x\n", n,
                    off, p[off]);
            CHECK(off == SIZE_MAX);
            gm_free(p);
            return;
        }
        memset(p, 0xAA, n); /* dirty it for the next, smaller-class sizes */
        gm_free(p);
    }
}

/* Dirty a batch of blocks, free them, calloc the same size: the reused
 * memory must come back zeroed. */
static bool dirty_then_calloc(size_t n, size_t count, int rounds) {
    void **v = calloc(count, sizeof *v); /* libc: bookkeeping only */
    if (!v) return false;
    bool ok = true;
    for (int r = 0; r < rounds && ok; r++) {
        for (size_t i = 0; i < count; i++) {
            v[i] = gm_malloc(n);
            if (!v[i]) { ok = false; count = i; break; }
            memset(v[i], 0xAA, gm_usable_size(v[i]));
        }
        for (size_t i = 0; i < count; i++) gm_free(v[i]);
        for (size_t i = 0; i < count; i++) {
            /* Alternate the ways of spelling n bytes. */
            unsigned char *p = (i & 1) || n % 8 ? gm_calloc(1, n)
                                                : gm_calloc(n / 8, 8);
            if (!p) { ok = false; count = i; break; }
            v[i] = p;
            size_t off = nonzero_offset(p, n);
            if (off != SIZE_MAX) {
                fprintf(stderr, "  size %zu round %d block %zu: byte %zu is "
                        "0x%02x after calloc\n", n, r, i, off, p[off]);
                ok = false;
                count = i + 1;
                break;
            }
        }
        for (size_t i = 0; i < count; i++) gm_free(v[i]);
    }
    free(v);
    return ok;
}

TEST(calloc_zeroes_reused_small_blocks_of_every_size_class) {
    for (int c = 1; c < NCLASSES; c++) {
        size_t sz = go_class_size[c];
        size_t count = 2 * MiB / sz;
        if (count > 200) count = 200;
        CHECK(dirty_then_calloc(sz, count, 3));
        CHECK(dirty_then_calloc(sz - 1 ? sz - 1 : 1, count, 2));
    }
}

TEST(calloc_zeroes_reused_small_blocks_many_times) {
    const size_t sizes[] = {1, 8, 13, 24, 80, 100, 1000, 4096, 10000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int rep = 0; rep < 200; rep++) {
            unsigned char *p = gm_malloc(sizes[i]);
            REQUIRE(p != NULL);
            memset(p, 0xAA, sizes[i]);
            gm_free(p);
            unsigned char *q = gm_calloc(1, sizes[i]);
            REQUIRE(q != NULL);
            size_t off = nonzero_offset(q, sizes[i]);
            if (off != SIZE_MAX) {
                fprintf(stderr, "  size %zu rep %d: byte %zu is 0x%02x\n",
                        sizes[i], rep, off, q[off]);
                CHECK(off == SIZE_MAX);
                gm_free(q);
                return;
            }
            gm_free(q);
        }
    }
}

TEST(calloc_zeroes_reused_large_blocks) {
    const size_t sizes[] = {32769, 40000, 64 * KiB, 100 * KiB, 1 * MiB,
                            3 * MiB + 123, 8 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        CHECK(dirty_then_calloc(sizes[i], 4, 3));
}

TEST(calloc_count_times_size_is_allocated_and_zeroed) {
    unsigned char *p = gm_calloc(1000, 80);
    REQUIRE(p != NULL);
    CHECK(gm_usable_size(p) >= 80000);
    CHECK(nonzero_offset(p, 80000) == SIZE_MAX);
    memset(p, 0xAA, gm_usable_size(p));
    gm_free(p);
    p = gm_calloc(3, 1 * MiB + 5);
    REQUIRE(p != NULL);
    CHECK(gm_usable_size(p) >= 3 * MiB + 15);
    CHECK(nonzero_offset(p, 3 * MiB + 15) == SIZE_MAX);
    gm_free(p);
}

/* ---- Alignment and usable size ----------------------------------------- */

static bool needs_only_8(size_t n) { return n <= 8; }

TEST(malloc_aligns_every_block_of_9_bytes_or_more_to_16) {
    enum { PER = 3, MAXN = 4096 };
    static void *v[MAXN + 1][PER];
    for (size_t n = 1; n <= MAXN; n++) {
        for (int k = 0; k < PER; k++) {
            void *p = gm_malloc(n);
            REQUIRE(p != NULL);
            size_t want = needs_only_8(n) ? 8 : 16;
            if (!aligned(p, want)) {
                fprintf(stderr, "  gm_malloc(%zu) = %p, not %zu-aligned\n", n,
                        p, want);
                CHECK(aligned(p, want));
            }
            size_t us = gm_usable_size(p);
            if (us < n) {
                fprintf(stderr, "  gm_usable_size(gm_malloc(%zu)) = %zu\n", n,
                        us);
                CHECK(us >= n);
            }
            fill(p, us, (uint64_t)(uintptr_t)p);
            v[n][k] = p;
        }
    }
    /* Every block kept its whole usable area: no two blocks overlap. */
    size_t bad = 0;
    for (size_t n = 1; n <= MAXN; n++)
        for (int k = 0; k < PER; k++) {
            void *p = v[n][k];
            if (bad_offset(p, gm_usable_size(p), (uint64_t)(uintptr_t)p) !=
                SIZE_MAX)
                bad++;
            gm_free(p);
        }
    CHECK_EQ(bad, 0);
}

/* Every size from 1 byte to 64 KiB from every gm_ entry point: 16-byte
 * alignment from 9 bytes up (the 8-byte alignment asked of the aligned
 * forms is a minimum). */
TEST(every_size_up_to_64_kib_is_16_aligned_from_every_entry_point) {
    size_t bad = 0;
    for (size_t n = 1; n <= 64 * KiB; n++) {
        void *pm = NULL;
        int rc = gm_posix_memalign(&pm, 8, n);
        void *v[] = {gm_malloc(n), gm_calloc(n, 1), gm_realloc(gm_malloc(1), n),
                     gm_realloc(gm_malloc(n + 40), n), gm_aligned_alloc(8, n),
                     gm_memalign(8, n), rc == 0 ? pm : NULL};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            if (!v[i] || !aligned(v[i], needs_only_8(n) ? 8 : 16)) {
                if (bad++ < 8) fprintf(stderr, "  entry %zu, size %zu: %p\n", i, n, v[i]);
            }
            gm_free(v[i]);
        }
    }
    CHECK_EQ(bad, 0);
}

TEST(malloc_aligns_larger_sizes_to_16_and_whole_usable_size_is_writable) {
    const size_t sizes[] = {
        4097, 5000, 6144, 8191, 8192, 8193, 12000, 16384, 20000, 32767, 32768,
        32769, 40960, 40961, 65536, 100 * KiB, 256 * KiB + 1, 1 * MiB,
        3 * MiB + 7, 16 * MiB,
    };
    enum { N = sizeof sizes / sizeof sizes[0] };
    void *v[N];
    for (size_t i = 0; i < N; i++) {
        v[i] = gm_malloc(sizes[i]);
        REQUIRE(v[i] != NULL);
        CHECK(aligned(v[i], 16));
        size_t us = gm_usable_size(v[i]);
        CHECK(us >= sizes[i]);
        fill(v[i], us, i * 77 + 1);
    }
    for (size_t i = 0; i < N; i++) {
        CHECK(bad_offset(v[i], gm_usable_size(v[i]), i * 77 + 1) == SIZE_MAX);
        gm_free(v[i]);
    }
}

TEST(usable_size_is_the_malloc_size_class) {
    const size_t cases[][2] = {
        {1, 8},         {8, 8},         {9, 16},       {17, 32},
        {24, 32},       {25, 32},       {33, 48},      {80, 80},
        {81, 96},       {1024, 1024},   {1025, 1152},  {4097, 4864},
        {8192, 8192},   {8193, 9472},   {32767, 32768}, {32768, 32768},
        {32769, 40960}, {40960, 40960}, {40961, 49152}, {100 * KiB, 106496},
        {1 * MiB, 1 * MiB}, {1 * MiB + 1, 1 * MiB + GO_PAGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        void *p = gm_malloc(cases[i][0]);
        REQUIRE(p != NULL);
        size_t us = gm_usable_size(p);
        if (us != cases[i][1])
            fprintf(stderr, "  gm_usable_size(gm_malloc(%zu)) = %zu, want %zu\n",
                    cases[i][0], us, cases[i][1]);
        CHECK_EQ(us, cases[i][1]);
        gm_free(p);
    }
}

TEST(usable_size_equals_size_class_of_for_every_small_size) {
    size_t mismatches = 0;
    for (size_t n = 1; n <= MAX_SMALL; n++) {
        gm_size_class_info info;
        memset(&info, 0xff, sizeof info);
        REQUIRE(gm_size_class_of(n, &info) == 0);
        void *p = gm_malloc(n);
        REQUIRE(p != NULL);
        size_t us = gm_usable_size(p);
        if (us != info.size || info.size != malloc_rounded(n)) {
            if (mismatches++ < 5)
                fprintf(stderr, "  size %zu: usable %zu, size_class_of %zu, "
                        "want %zu\n", n, us, info.size, malloc_rounded(n));
        }
        gm_free(p);
    }
    CHECK_EQ(mismatches, 0);
}

TEST(size_class_of_matches_the_malloc_table) {
    size_t bad = 0;
    for (size_t n = 1; n <= MAX_SMALL; n++) {
        gm_size_class_info info;
        memset(&info, 0xff, sizeof info);
        REQUIRE(gm_size_class_of(n, &info) == 0);
        int c = malloc_class_of(n);
        size_t span = go_class_npages[c] * GO_PAGE;
        unsigned nel = (unsigned)(span / go_class_size[c]);
        if (info.size_class != c || info.span_class != (c << 1 | 1) ||
            info.size != go_class_size[c] || info.span_bytes != span ||
            info.nelems != nel || info.tail_waste != span - nel * go_class_size[c]) {
            if (bad++ < 5)
                fprintf(stderr, "  size %zu: class %d span_class %d size %zu "
                        "span_bytes %zu nelems %u tail %zu; want class %d size "
                        "%zu span_bytes %zu nelems %u\n", n, info.size_class,
                        info.span_class, info.size, info.span_bytes,
                        info.nelems, info.tail_waste, c, go_class_size[c],
                        span, nel);
        }
    }
    CHECK_EQ(bad, 0);
    gm_size_class_info info;
    REQUIRE(gm_size_class_of(80, &info) == 0);
    CHECK_EQ(info.size_class, 7);
    CHECK_EQ(info.nelems, 102);
    CHECK_EQ(info.tail_waste, 32);
}

TEST(size_class_of_large_sizes_is_class_0_with_whole_pages) {
    const size_t sizes[] = {32769, 40960, 40961, 100 * KiB, 5 * MiB + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        gm_size_class_info info;
        REQUIRE(gm_size_class_of(sizes[i], &info) == 0);
        CHECK_EQ(info.size_class, 0);
        CHECK_EQ(info.size, malloc_rounded(sizes[i]));
    }
}

TEST(size_class_of_above_ptrdiff_max_fails_enomem) {
    gm_size_class_info info;
    errno = 0;
    CHECK_EQ(gm_size_class_of((size_t)PTRDIFF_MAX + 1, &info), -1);
    CHECK_EQ(errno, ENOMEM);
    errno = 0;
    CHECK_EQ(gm_size_class_of(SIZE_MAX, &info), -1);
    CHECK_EQ(errno, ENOMEM);
}

TEST(usable_size_of_null_is_zero) { CHECK_EQ(gm_usable_size(NULL), 0); }

/* ---- realloc ------------------------------------------------------------ */

TEST(realloc_null_behaves_as_malloc) {
    gm_memstats before = read_stats();
    void *p = gm_realloc(NULL, 100);
    REQUIRE(p != NULL);
    gm_memstats after = read_stats();
    CHECK_EQ(after.mallocs - before.mallocs, 1);
    CHECK_EQ(after.heap_objects - before.heap_objects, 1);
    CHECK(aligned(p, 16));
    CHECK_EQ(gm_usable_size(p), 112);
    memset(p, 1, 112);
    gm_free(p);
    p = gm_realloc(NULL, 200 * KiB);
    REQUIRE(p != NULL);
    CHECK_EQ(gm_usable_size(p), 200 * KiB);
    memset(p, 1, 200 * KiB);
    gm_free(p);
}

TEST(realloc_to_zero_frees_and_returns_null) {
    const size_t sizes[] = {100, 100 * KiB};
    for (size_t i = 0; i < 2; i++) {
        void *p = gm_malloc(sizes[i]);
        REQUIRE(p != NULL);
        gm_memstats before = read_stats();
        void *q = gm_realloc(p, 0);
        gm_memstats after = read_stats();
        CHECK(q == NULL);
        CHECK_EQ(after.frees - before.frees, 1);
        CHECK_EQ(after.mallocs - before.mallocs, 0);
        CHECK_EQ(before.heap_objects - after.heap_objects, 1);
        CHECK_EQ(before.heap_alloc - after.heap_alloc, malloc_rounded(sizes[i]));
        if (q) gm_free(q);
    }
}

TEST(realloc_within_the_same_size_class_is_in_place) {
    const size_t cases[][2] = {
        {70, 80}, {80, 80}, {1, 8}, {17, 24}, {33, 48}, {4000, 4096},
        {30000, 32768}, {32769, 40960}, {100000, 106496}, {100000, 100001},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t from = cases[i][0], to = cases[i][1];
        void *p = gm_malloc(from);
        REQUIRE(p != NULL);
        fill(p, from, 42 + i);
        void *q = gm_realloc(p, to);
        REQUIRE(q != NULL);
        if (q != p)
            fprintf(stderr, "  realloc %zu -> %zu moved %p to %p\n", from, to,
                    p, q);
        CHECK(q == p);
        CHECK(bad_offset(q, from, 42 + i) == SIZE_MAX);
        CHECK(gm_usable_size(q) >= to);
        memset(q, 3, to);
        gm_free(q);
    }
}

TEST(realloc_shrinking_keeps_the_alignment_malloc_would_give) {
    /* A 16-byte request must be 16-aligned even when it shrinks a block of
     * the 8-aligned 24-byte class; 20 bytes may stay 8-aligned. */
    for (int i = 0; i < 64; i++) {
        void *p = gm_malloc(24);
        REQUIRE(p != NULL);
        memset(p, 7, 24);
        void *q = gm_realloc(p, 16);
        REQUIRE(q != NULL);
        CHECK((uintptr_t)q % 16 == 0);
        CHECK(((unsigned char *)q)[15] == 7);
        gm_free(q);
    }
}

TEST(realloc_preserves_contents_across_small_and_large) {
    /* small->small, small->large, large->larger, large->small,
     * small->smaller */
    const size_t steps[] = {100, 1000, 100 * KiB, 5 * MiB, 500, 10, 33000,
                            24 * KiB, 7};
    size_t cur = steps[0];
    unsigned char *p = gm_malloc(cur);
    REQUIRE(p != NULL);
    fill(p, cur, 9);
    for (size_t i = 1; i < sizeof steps / sizeof steps[0]; i++) {
        size_t next = steps[i];
        unsigned char *q = gm_realloc(p, next);
        REQUIRE(q != NULL);
        CHECK(gm_usable_size(q) >= next);
        size_t keep = cur < next ? cur : next;
        size_t off = bad_offset(q, keep, 9);
        if (off != SIZE_MAX) {
            fprintf(stderr, "  realloc %zu -> %zu lost byte %zu\n", cur, next,
                    off);
            CHECK(off == SIZE_MAX);
        }
        fill(q, next, 9);
        p = q;
        cur = next;
    }
    gm_free(p);
}

TEST(realloc_to_huge_size_fails_enomem_and_leaves_block_intact) {
    const size_t sizes[] = {200, 300 * KiB};
    const size_t huge[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, SIZE_MAX - 100};
    for (size_t i = 0; i < 2; i++) {
        unsigned char *p = gm_malloc(sizes[i]);
        REQUIRE(p != NULL);
        fill(p, sizes[i], 5);
        size_t us = gm_usable_size(p);
        for (size_t h = 0; h < 3; h++) {
            errno = 0;
            void *q = gm_realloc(p, huge[h]);
            CHECK(q == NULL);
            CHECK_EQ(errno, ENOMEM);
            if (q) { p = q; break; }
        }
        CHECK_EQ(gm_usable_size(p), us);
        CHECK(bad_offset(p, sizes[i], 5) == SIZE_MAX);
        /* Still a live, working block. */
        unsigned char *q = gm_realloc(p, sizes[i] * 2);
        REQUIRE(q != NULL);
        CHECK(bad_offset(q, sizes[i], 5) == SIZE_MAX);
        gm_free(q);
    }
}

/* ---- posix_memalign, aligned_alloc, memalign --------------------------- */

TEST(posix_memalign_rejects_bad_alignment_with_einval) {
    const size_t bad[] = {0, 1, 2, 3, 4, 7, 12, 24, 40, 48, 100, 4097,
                          3 * 4096, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *sentinel = (void *)(uintptr_t)0xdeadbeef;
        void *p = sentinel;
        errno = EDOM;
        int rc = gm_posix_memalign(&p, bad[i], 64);
        if (rc != EINVAL)
            fprintf(stderr, "  posix_memalign(alignment %zu) = %d\n", bad[i],
                    rc);
        CHECK_EQ(rc, EINVAL);
        CHECK(p == sentinel);
        CHECK_EQ(errno, EDOM);
        if (rc == 0) gm_free(p);
    }
}

TEST(posix_memalign_returns_enomem_for_huge_size) {
    const size_t sizes[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, SIZE_MAX - 4096};
    const size_t aligns[] = {8, 16, 4096, 1 * MiB};
    for (size_t i = 0; i < 3; i++)
        for (size_t a = 0; a < 4; a++) {
            void *sentinel = (void *)(uintptr_t)0xdeadbeef;
            void *p = sentinel;
            errno = EDOM;
            int rc = gm_posix_memalign(&p, aligns[a], sizes[i]);
            CHECK_EQ(rc, ENOMEM);
            CHECK(p == sentinel);
            CHECK_EQ(errno, EDOM);
            if (rc == 0) gm_free(p);
        }
}

TEST(posix_memalign_returns_enomem_for_alignment_above_64_mib) {
    void *sentinel = (void *)(uintptr_t)0xdeadbeef;
    void *p = sentinel;
    errno = EDOM;
    int rc = gm_posix_memalign(&p, 128 * MiB, 16);
    CHECK_EQ(rc, ENOMEM);
    CHECK(p == sentinel);
    CHECK_EQ(errno, EDOM);
    if (rc == 0) gm_free(p);
    errno = 0;
    p = gm_aligned_alloc(128 * MiB, 16);
    CHECK(p == NULL);
    CHECK_EQ(errno, ENOMEM);
    if (p) gm_free(p);
}

enum { ALLOC_POSIX, ALLOC_ALIGNED, ALLOC_MEMALIGN };
static const char *const alloc_name[] = {"posix_memalign", "aligned_alloc",
                                         "memalign"};

static void *alloc_aligned(int how, size_t a, size_t n, int *rc) {
    *rc = 0;
    switch (how) {
    case ALLOC_POSIX: {
        void *p = NULL;
        *rc = gm_posix_memalign(&p, a, n);
        return *rc ? NULL : p;
    }
    case ALLOC_ALIGNED: return gm_aligned_alloc(a, n);
    default: return gm_memalign(a, n);
    }
}

/* Every power of two from 8 to max_align, sizes 1, 100, a-1, a, 3a: aligned,
 * usable >= size, whole usable area writable and not shared. */
static void check_alignments(int how, size_t max_align) {
    enum { NS = 5 };
    for (size_t a = 8; a <= max_align; a *= 2) {
        const size_t sizes[NS] = {1, 100, a - 1, a, 3 * a};
        void *v[NS];
        for (int s = 0; s < NS; s++) {
            int rc;
            errno = EDOM;
            v[s] = alloc_aligned(how, a, sizes[s], &rc);
            if (!v[s] || !aligned(v[s], a) || rc != 0) {
                fprintf(stderr, "  %s(%zu, %zu) = %p rc %d errno %d\n",
                        alloc_name[how], a, sizes[s], v[s], rc, errno);
                CHECK(v[s] != NULL && rc == 0);
                CHECK(aligned(v[s], a));
                for (int k = 0; k < s; k++) gm_free(v[k]);
                if (v[s]) gm_free(v[s]);
                return;
            }
            if (how == ALLOC_POSIX) CHECK_EQ(errno, EDOM);
            size_t us = gm_usable_size(v[s]);
            CHECK(us >= sizes[s]);
            fill(v[s], us, a + (size_t)s);
        }
        for (int s = 0; s < NS; s++) {
            CHECK(bad_offset(v[s], gm_usable_size(v[s]), a + (size_t)s) ==
                  SIZE_MAX);
            gm_free(v[s]);
        }
    }
}

TEST(posix_memalign_aligns_every_power_of_two_up_to_1_mib) {
    check_alignments(ALLOC_POSIX, 1 * MiB);
}

TEST(aligned_alloc_aligns_every_power_of_two_up_to_1_mib) {
    check_alignments(ALLOC_ALIGNED, 1 * MiB);
}

TEST(memalign_aligns_every_power_of_two_up_to_1_mib) {
    check_alignments(ALLOC_MEMALIGN, 1 * MiB);
}

TEST(aligned_allocations_support_alignments_up_to_64_mib) {
    for (size_t a = 2 * MiB; a <= 64 * MiB; a *= 2) {
        for (int how = 0; how < 3; how++) {
            int rc;
            unsigned char *p = alloc_aligned(how, a, 100 * KiB, &rc);
            if (!p || !aligned(p, a))
                fprintf(stderr, "  %s(%zu, 100 KiB) = %p rc %d\n",
                        alloc_name[how], a, (void *)p, rc);
            REQUIRE(p != NULL);
            CHECK(aligned(p, a));
            CHECK(gm_usable_size(p) >= 100 * KiB);
            memset(p, 7, 100 * KiB);
            gm_free(p);
        }
    }
}

TEST(posix_memalign_size_zero_gives_null_or_unique_freeable_pointer) {
    enum { N = 8 };
    void *v[N];
    uintptr_t addrs[N];
    size_t live = 0;
    for (int i = 0; i < N; i++) {
        void *p = (void *)(uintptr_t)0xdeadbeef;
        CHECK_EQ(gm_posix_memalign(&p, (size_t)8 << (i % 4 * 3), 0), 0);
        CHECK(p != (void *)(uintptr_t)0xdeadbeef);
        v[i] = p == (void *)(uintptr_t)0xdeadbeef ? NULL : p;
        if (v[i]) addrs[live++] = (uintptr_t)v[i];
    }
    CHECK_EQ(count_duplicates(addrs, live), 0);
    for (int i = 0; i < N; i++) gm_free(v[i]);
}

TEST(aligned_alloc_accepts_size_not_a_multiple_of_alignment) {
    const size_t cases[][2] = {
        {64, 100}, {32, 1}, {256, 1000}, {4096, 5000}, {8192, 1}, {16, 33},
        {128 * KiB, 100 * KiB + 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        void *p = gm_aligned_alloc(cases[i][0], cases[i][1]);
        REQUIRE(p != NULL);
        CHECK(aligned(p, cases[i][0]));
        CHECK(gm_usable_size(p) >= cases[i][1]);
        memset(p, 1, cases[i][1]);
        gm_free(p);
    }
}

TEST(memalign_and_aligned_alloc_of_huge_size_return_null_enomem) {
    errno = 0;
    void *p = gm_memalign(4096, SIZE_MAX);
    CHECK(p == NULL);
    CHECK_EQ(errno, ENOMEM);
    if (p) gm_free(p);
    errno = 0;
    p = gm_memalign(16, (size_t)PTRDIFF_MAX + 1);
    CHECK(p == NULL);
    CHECK_EQ(errno, ENOMEM);
    if (p) gm_free(p);
    errno = 0;
    p = gm_aligned_alloc(16, SIZE_MAX);
    CHECK(p == NULL);
    CHECK_EQ(errno, ENOMEM);
    if (p) gm_free(p);
    errno = 0;
    p = gm_aligned_alloc(1 * MiB, SIZE_MAX - 1 * MiB);
    CHECK(p == NULL);
    CHECK_EQ(errno, ENOMEM);
    if (p) gm_free(p);
}

TEST(aligned_blocks_can_be_reallocated_and_freed) {
    const size_t aligns[] = {16, 64, 4096, 64 * KiB, 1 * MiB};
    const size_t sizes[] = {100, 50000};
    gm_memstats b = read_stats();
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++)
        for (size_t s = 0; s < 2; s++) {
            size_t n = sizes[s];
            unsigned char *p = gm_aligned_alloc(aligns[a], n);
            REQUIRE(p != NULL);
            CHECK(aligned(p, aligns[a]));
            fill(p, n, a * 10 + s);
            unsigned char *q = gm_realloc(p, 2 * n + 100);
            REQUIRE(q != NULL);
            CHECK(gm_usable_size(q) >= 2 * n + 100);
            CHECK(bad_offset(q, n, a * 10 + s) == SIZE_MAX);
            unsigned char *r = gm_realloc(q, n / 2);
            REQUIRE(r != NULL);
            CHECK(bad_offset(r, n / 2, a * 10 + s) == SIZE_MAX);
            gm_free(r);
        }
    gm_memstats e = read_stats();
    CHECK_EQ(e.heap_objects, b.heap_objects);
    CHECK_EQ(e.heap_alloc, b.heap_alloc);
}

/* ---- Heap misuse aborts ------------------------------------------------- */

TEST(double_free_of_small_object_aborts) {
    void *p = gm_malloc(64);
    REQUIRE(p != NULL);
    EXPECT_DEATH({ gm_free(p); gm_free(p); }, DEATH_MSG);
    gm_free(p); /* the parent's copy is still live */
}

TEST(free_of_pointer_into_span_tail_waste_aborts) {
    /* 80-byte class: 102 objects in 8192 bytes, 32 bytes of tail. The
     * address just past the last object is a multiple of 80 from the base. */
    void *p = gm_malloc(80);
    REQUIRE(p != NULL);
    gm_span_info si;
    REQUIRE(gm_span_inspect(p, &si) == 0);
    char *tail = (char *)si.base + (size_t)si.nelems * si.elemsize;
    REQUIRE(tail < (char *)si.base + si.npages * 8192);
    EXPECT_DEATH(gm_free(tail), "gomalloc: fatal error: free of pointer not allocated by gomalloc");
    gm_free(p);
}

TEST(double_free_after_other_frees_in_the_same_span_aborts) {
    void *v[16];
    for (int i = 0; i < 16; i++) {
        v[i] = gm_malloc(48);
        REQUIRE(v[i] != NULL);
    }
    EXPECT_DEATH({
        gm_free(v[3]);
        for (int i = 4; i < 16; i++) gm_free(v[i]);
        gm_free(v[3]);
    }, DEATH_MSG);
    for (int i = 0; i < 16; i++) gm_free(v[i]);
}

TEST(double_free_of_large_object_aborts) {
    void *p = gm_malloc(100 * KiB);
    REQUIRE(p != NULL);
    EXPECT_DEATH({ gm_free(p); gm_free(p); }, DEATH_MSG);
    gm_free(p);
}

TEST(free_of_interior_pointer_of_small_object_aborts) {
    char *p = gm_malloc(80);
    REQUIRE(p != NULL);
    EXPECT_DEATH(gm_free(p + 8), DEATH_MSG);
    EXPECT_DEATH(gm_free(p + 79), DEATH_MSG);
    gm_free(p);
}

TEST(free_of_interior_pointer_of_large_object_aborts) {
    char *p = gm_malloc(100 * KiB);
    REQUIRE(p != NULL);
    EXPECT_DEATH(gm_free(p + 8), DEATH_MSG);
    EXPECT_DEATH(gm_free(p + GO_PAGE), DEATH_MSG);
    gm_free(p);
}

TEST(free_of_stack_address_aborts) {
    char buf[64];
    memset(buf, 0, sizeof buf);
    EXPECT_DEATH(gm_free(buf), DEATH_MSG);
}

static void *free_own_stack_address(void *arg) {
    char buf[64];
    memset(buf, 1, sizeof buf);
    gm_free(buf);
    return arg;
}

TEST(free_of_stack_address_in_a_thread_aborts) {
    /* A thread's stack is an anonymous mapping, like other heaps' memory. */
    EXPECT_DEATH(gm_test_run_in_thread(free_own_stack_address, NULL), DEATH_MSG);
}

static char global_block[64] __attribute__((aligned(16)));

TEST(free_of_global_unmapped_or_misaligned_address_aborts) {
    EXPECT_DEATH(gm_free(global_block), DEATH_MSG);
    EXPECT_DEATH(gm_free((void *)(uintptr_t)0x1000), DEATH_MSG);
    void *p = malloc(64);
    REQUIRE(p != NULL);
    EXPECT_DEATH(gm_free((char *)p + 3), DEATH_MSG);
    EXPECT_DEATH(gm_realloc(global_block, 10), DEATH_MSG);
    free(p);
}

/* Memory of another allocator (here glibc's: the tests are linked without
 * gomalloc's malloc override) is kept, never freed, and realloc copies it. */
TEST(libc_malloc_pointer_is_kept_by_free_and_copied_by_realloc) {
    char *p = malloc(64);
    REQUIRE(p != NULL);
    memset(p, 'a', 64);
    gm_free(p);
    CHECK_EQ(p[63], 'a'); /* still glibc's block, untouched */
    char *q = gm_realloc(p, 1000);
    REQUIRE(q != NULL);
    CHECK(q != p);
    CHECK(gm_usable_size(q) >= 1000);
    for (int i = 0; i < 64; i++) CHECK_EQ(q[i], 'a');
    CHECK_EQ(gm_usable_size(p), 0u);
    gm_free(q);
    free(p);
}

/* Runs fn(arg) in a child; returns its wait status and stderr in buf. */
static int capture_child(void (*fn)(void *), void *arg, char *buf, size_t cap) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fds[0], buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

static void double_free(void *p) { gm_free(p); gm_free(p); }

TEST(fatal_error_is_one_line_naming_the_pointer) {
    void *p = gm_malloc(96);
    REQUIRE(p != NULL);
    char buf[4096];
    int st = capture_child(double_free, p, buf, sizeof buf);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    CHECK(strncmp(buf, DEATH_MSG " ", strlen(DEATH_MSG) + 1) == 0);
    char *nl = strchr(buf, '\n');
    CHECK(nl != NULL && nl[1] == 0); /* exactly one line */
    /* The pointer's hex digits appear, in either case. */
    char hex[32], line[4096];
    snprintf(hex, sizeof hex, "%" PRIxPTR, (uintptr_t)p);
    size_t i;
    for (i = 0; buf[i] && i < sizeof line - 1; i++)
        line[i] = (buf[i] >= 'A' && buf[i] <= 'F') ? (char)(buf[i] + 32) : buf[i];
    line[i] = 0;
    if (!strstr(line, hex))
        fprintf(stderr, "  message \"%s\" does not name %s\n", buf, hex);
    CHECK(strstr(line, hex) != NULL);
    gm_free(p);
}

/* ---- gm_release_memory -------------------------------------------------- */

static size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    return n == 2 ? resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

TEST(release_memory_returns_freed_pages_to_the_os) {
    enum { N64 = 2048, N1M = 128 }; /* 128 MiB + 128 MiB */
    static void *small[N64], *big[N1M];
    for (int i = 0; i < N64; i++) {
        small[i] = gm_malloc(64 * KiB);
        REQUIRE(small[i] != NULL);
        memset(small[i], 0x5A, 64 * KiB);
    }
    for (int i = 0; i < N1M; i++) {
        big[i] = gm_malloc(1 * MiB);
        REQUIRE(big[i] != NULL);
        memset(big[i], 0x5A, 1 * MiB);
    }
    size_t peak = rss_bytes();
    REQUIRE(peak > 0);
    CHECK(peak >= 256 * MiB);
    for (int i = 0; i < N64; i++) gm_free(small[i]);
    for (int i = 0; i < N1M; i++) gm_free(big[i]);
    gm_release_memory();
    size_t after = rss_bytes();
    if (!(after + 200 * MiB <= peak))
        fprintf(stderr, "  RSS %zu MiB at peak, %zu MiB after release\n",
                peak / MiB, after / MiB);
    CHECK(after + 200 * MiB <= peak);
    gm_memstats s = read_stats();
    CHECK(s.heap_released >= 200 * MiB);
    /* Released pages are reusable, and come back zeroed to calloc. */
    unsigned char *p = gm_calloc(1, 1 * MiB);
    REQUIRE(p != NULL);
    CHECK(nonzero_offset(p, 1 * MiB) == SIZE_MAX);
    memset(p, 1, 1 * MiB);
    gm_free(p);
}

/* ---- Statistics --------------------------------------------------------- */

TEST(memstats_count_small_mallocs_and_frees_exactly_by_size) {
    enum { N = 1000, M = 600 };
    static void *v[N];
    const int cls = 7; /* 80 bytes */
    gm_memstats b = read_stats();
    for (int i = 0; i < N; i++) {
        v[i] = gm_malloc(80);
        REQUIRE(v[i] != NULL);
    }
    for (int i = 0; i < M; i++) gm_free(v[i * N / M]);
    gm_memstats a = read_stats();
    CHECK_EQ(a.by_size[cls].size, 80);
    CHECK_EQ(a.by_size[cls].mallocs - b.by_size[cls].mallocs, N);
    CHECK_EQ(a.by_size[cls].frees - b.by_size[cls].frees, M);
    CHECK_EQ(a.mallocs - b.mallocs, N);
    CHECK_EQ(a.frees - b.frees, M);
    CHECK_EQ(a.heap_objects - b.heap_objects, N - M);
    CHECK_EQ(a.heap_alloc - b.heap_alloc, (uint64_t)(N - M) * 80);
    CHECK_EQ(a.alloc - b.alloc, (uint64_t)(N - M) * 80);
    CHECK_EQ(a.total_alloc - b.total_alloc, (uint64_t)N * 80);
    for (int c = 1; c < NCLASSES; c++) {
        if (c == cls) continue;
        CHECK_EQ(a.by_size[c].mallocs, b.by_size[c].mallocs);
        CHECK_EQ(a.by_size[c].frees, b.by_size[c].frees);
    }
    /* Free the rest: everything returns to where it started. */
    for (int i = 0; i < N; i++) {
        bool freed = false;
        for (int j = 0; j < M; j++) freed |= i == j * N / M;
        if (!freed) gm_free(v[i]);
    }
    gm_memstats e = read_stats();
    CHECK_EQ(e.heap_objects, b.heap_objects);
    CHECK_EQ(e.heap_alloc, b.heap_alloc);
    CHECK_EQ(e.by_size[cls].frees - b.by_size[cls].frees, N);
}

/* Class 3 (24 bytes) is not malloc's: 17..24-byte requests take class 4. */
#define MALLOC_CLASS(c) ((c) != 3)

TEST(memstats_count_every_small_size_class) {
    gm_memstats b = read_stats();
    void *v[NCLASSES][3] = {{0}};
    uint64_t bytes = 0;
    int nclasses = 0;
    for (int c = 1; c < NCLASSES; c++) {
        if (!MALLOC_CLASS(c)) continue;
        nclasses++;
        for (int k = 0; k < 3; k++) {
            v[c][k] = gm_malloc(go_class_size[c] - (size_t)k); /* same class */
            REQUIRE(v[c][k] != NULL);
            bytes += go_class_size[c];
        }
    }
    for (int c = 1; c < NCLASSES; c++) gm_free(v[c][0]);
    gm_memstats a = read_stats();
    for (int c = 1; c < NCLASSES; c++) {
        CHECK_EQ(a.by_size[c].size, go_class_size[c]);
        CHECK_EQ(a.by_size[c].mallocs - b.by_size[c].mallocs, MALLOC_CLASS(c) ? 3 : 0);
        CHECK_EQ(a.by_size[c].frees - b.by_size[c].frees, MALLOC_CLASS(c) ? 1 : 0);
    }
    CHECK_EQ(a.mallocs - b.mallocs, 3 * nclasses);
    CHECK_EQ(a.frees - b.frees, nclasses);
    CHECK_EQ(a.total_alloc - b.total_alloc, bytes);
    for (int c = 1; c < NCLASSES; c++) {
        gm_free(v[c][1]);
        gm_free(v[c][2]);
    }
    gm_memstats e = read_stats();
    CHECK_EQ(e.heap_objects, b.heap_objects);
    CHECK_EQ(e.heap_alloc, b.heap_alloc);
}

TEST(memstats_count_large_objects_in_whole_pages) {
    enum { N = 10 };
    const size_t sz = 100 * KiB + 1, rounded = 13 * GO_PAGE; /* 106496 */
    void *v[N];
    gm_memstats b = read_stats();
    for (int i = 0; i < N; i++) {
        v[i] = gm_malloc(sz);
        REQUIRE(v[i] != NULL);
    }
    gm_memstats a = read_stats();
    CHECK_EQ(a.mallocs - b.mallocs, N);
    CHECK_EQ(a.frees - b.frees, 0);
    CHECK_EQ(a.heap_objects - b.heap_objects, N);
    CHECK_EQ(a.heap_alloc - b.heap_alloc, N * rounded);
    CHECK_EQ(a.total_alloc - b.total_alloc, N * rounded);
    CHECK_EQ(a.heap_inuse - b.heap_inuse, N * rounded);
    for (int c = 1; c < NCLASSES; c++)
        CHECK_EQ(a.by_size[c].mallocs, b.by_size[c].mallocs);
    for (int i = 0; i < N; i++) gm_free(v[i]);
    gm_memstats e = read_stats();
    CHECK_EQ(e.frees - b.frees, N);
    CHECK_EQ(e.heap_objects, b.heap_objects);
    CHECK_EQ(e.heap_alloc, b.heap_alloc);
    CHECK_EQ(e.heap_inuse, b.heap_inuse);
}

static void check_invariants(const char *when) {
    gm_memstats s = read_stats();
    bool ok = true;
#define INV(cond) do { if (!(cond)) { fprintf(stderr, "  %s: %s\n", when, #cond); ok = false; } } while (0)
    INV(s.heap_sys == s.heap_idle + s.heap_inuse);
    INV(s.heap_released <= s.heap_idle);
    INV(s.heap_inuse >= s.heap_alloc);
    INV(s.heap_inuse % GO_PAGE == 0);
    INV(s.heap_sys % GO_PAGE == 0);
    INV(s.sys >= s.heap_sys);
    INV(s.sys == s.heap_sys + s.stack_sys + s.mspan_sys + s.mcache_sys +
                     s.buck_hash_sys + s.gc_sys + s.other_sys);
    INV(s.alloc == s.heap_alloc);
    INV(s.heap_objects == s.mallocs - s.frees);
    INV(s.total_alloc >= s.heap_alloc);
    INV(s.mspan_inuse <= s.mspan_sys);
    INV(s.mcache_inuse <= s.mcache_sys);
    INV(s.stack_inuse <= s.stack_sys);
    INV(s.lookups == 0);
#undef INV
    if (!ok)
        fprintf(stderr, "  alloc %ju total %ju sys %ju mallocs %ju frees %ju "
                "heap: alloc %ju sys %ju idle %ju inuse %ju released %ju "
                "objects %ju\n", (uintmax_t)s.alloc, (uintmax_t)s.total_alloc,
                (uintmax_t)s.sys, (uintmax_t)s.mallocs, (uintmax_t)s.frees,
                (uintmax_t)s.heap_alloc, (uintmax_t)s.heap_sys,
                (uintmax_t)s.heap_idle, (uintmax_t)s.heap_inuse,
                (uintmax_t)s.heap_released, (uintmax_t)s.heap_objects);
    CHECK(ok);
}

TEST(memstats_invariants_hold_through_allocation_free_and_release) {
    check_invariants("start");
    enum { N = 3000 };
    static void *v[N];
    uint64_t seed = 1;
    for (int i = 0; i < N; i++) {
        uint64_t r = gm_test_rand(&seed);
        size_t n = r % 10 == 0 ? 1 + r % (300 * KiB) : 1 + r % 2048;
        v[i] = gm_malloc(n);
        REQUIRE(v[i] != NULL);
    }
    check_invariants("after allocating");
    for (int i = 0; i < N; i += 2) gm_free(v[i]);
    check_invariants("after freeing half");
    gm_release_memory();
    check_invariants("after release");
    for (int i = 1; i < N; i += 2) gm_free(v[i]);
    check_invariants("after freeing all");
    gm_release_memory();
    check_invariants("after second release");
}

TEST(memstats_by_size_reports_go_class_sizes) {
    gm_memstats s = read_stats();
    for (int c = 1; c < NCLASSES; c++) CHECK_EQ(s.by_size[c].size, go_class_size[c]);
}

/* ---- gm_span_inspect ---------------------------------------------------- */

TEST(span_inspect_describes_a_small_object) {
    char *p = gm_malloc(80);
    REQUIRE(p != NULL);
    gm_size_class_info ci;
    REQUIRE(gm_size_class_of(80, &ci) == 0);
    gm_span_info si;
    memset(&si, 0xff, sizeof si);
    REQUIRE(gm_span_inspect(p, &si) == 0);
    CHECK_EQ(si.size_class, ci.size_class);
    CHECK_EQ(si.span_class, ci.span_class);
    CHECK_EQ(si.elemsize, 80);
    CHECK_EQ(si.nelems, 102);
    CHECK_EQ(si.npages, 1);
    CHECK_EQ(si.object_base, (uintptr_t)p);
    CHECK_EQ(si.base % GO_PAGE, 0);
    CHECK(si.base <= (uintptr_t)p && (uintptr_t)p < si.base + GO_PAGE);
    CHECK_EQ(si.object_index, ((uintptr_t)p - si.base) / 80);
    CHECK(si.object_index < si.freeindex); /* just allocated */
    CHECK_EQ(si.state, GM_SPAN_CACHED);    /* in this thread's mcache */
    gm_span_info si2;
    memset(&si2, 0, sizeof si2);
    REQUIRE(gm_span_inspect(p + 10, &si2) == 0);
    CHECK_EQ(si2.object_base, (uintptr_t)p);
    CHECK_EQ(si2.object_index, si.object_index);
    CHECK_EQ(si2.base, si.base);
    REQUIRE(gm_span_inspect(p + 79, &si2) == 0);
    CHECK_EQ(si2.object_base, (uintptr_t)p);
    gm_free(p);
}

TEST(span_inspect_describes_a_large_object) {
    char *p = gm_malloc(100 * KiB);
    REQUIRE(p != NULL);
    gm_span_info si;
    memset(&si, 0xff, sizeof si);
    REQUIRE(gm_span_inspect(p, &si) == 0);
    CHECK_EQ(si.size_class, 0);
    CHECK_EQ(si.npages, 13);
    CHECK_EQ(si.state, GM_SPAN_LARGE);
    CHECK_EQ(si.object_base, (uintptr_t)p);
    CHECK(si.base <= (uintptr_t)p && (uintptr_t)p < si.base + 13 * GO_PAGE);
    memset(&si, 0, sizeof si);
    REQUIRE(gm_span_inspect(p + 100 * KiB - 1, &si) == 0);
    CHECK_EQ(si.object_base, (uintptr_t)p);
    CHECK_EQ(si.npages, 13);
    gm_free(p);
}

static int a_global;

TEST(span_inspect_returns_minus_one_outside_the_heap) {
    int local = 0;
    gm_span_info si;
    CHECK_EQ(gm_span_inspect(&local, &si), -1);
    CHECK_EQ(gm_span_inspect(&a_global, &si), -1);
    CHECK_EQ(gm_span_inspect(NULL, &si), -1);
    void *libc = malloc(64);
    REQUIRE(libc != NULL);
    CHECK_EQ(gm_span_inspect(libc, &si), -1);
    free(libc);
}

TEST_MAIN()
