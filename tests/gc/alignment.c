/*
 * Alignment of collected objects: every gm_new* block of 16 bytes or more
 * is 16-byte aligned (malloc's ABI), for every size from 1 byte to 64 KiB;
 * a type that records an alignment of at most 8 keeps Go's 24-byte class.
 */
#include <stdbool.h>

#include "gc_test.h"

struct three { int64_t a, b, c; };          /* 24 bytes, 8-aligned */
struct three_ptrs { void *a, *b, *c; };      /* 24 bytes, scanned */

static const gm_type three_type = GM_TYPE_NOPTRS(struct three);
static const gm_type three_ptrs_type = GM_TYPE(struct three_ptrs, a, b, c);
/* The same layout with no alignment recorded: treated as malloc memory. */
static const gm_type unknown_align_type = {24, 0, NULL, "unknown", 0};
static const gm_type byte_type = {1, 0, NULL, "byte", 1};

static bool aligned(const void *p, size_t a) { return (uintptr_t)p % a == 0; }

TEST(every_size_up_to_64_kib_from_gm_new_is_16_aligned) {
    size_t bad = 0;
    for (size_t n = 1; n <= 64 * KiB; n++) {
        size_t want = n <= 8 ? 8 : 16;
        void *v[] = {gm_new(n), n >= 16 ? gm_new_noscan(n) : gm_new(16),
                     gm_malloc_uncollectable(n), gm_new_array(&unknown_align_type, (n + 23) / 24)};
        for (size_t i = 0; i < GC_COUNT_OF(v); i++)
            if ((!v[i] || !aligned(v[i], i == 3 ? 16 : want)) && bad++ < 8)
                fprintf(stderr, "  entry %zu, size %zu: %p\n", i, n, v[i]);
        gm_free(v[2]);
    }
    CHECK_EQ(bad, 0);
}

TEST(gm_new_of_17_to_24_bytes_takes_the_32_byte_class) {
    for (size_t n = 17; n <= 24; n++) {
        void *p = gm_new(n), *q = gm_new_noscan(n);
        gm_span_info si;
        REQUIRE(gm_span_inspect(p, &si) == 0);
        CHECK_EQ(si.elemsize, 32);
        REQUIRE(gm_span_inspect(q, &si) == 0);
        CHECK_EQ(si.elemsize, 32);
        gm_keep_alive(p);
        gm_keep_alive(q);
    }
}

TEST(types_aligned_to_8_keep_gos_24_byte_class) {
    const gm_type *types[] = {&three_type, &three_ptrs_type};
    for (size_t i = 0; i < GC_COUNT_OF(types); i++) {
        void *p = gm_new_typed(types[i]);
        gm_span_info si;
        REQUIRE(gm_span_inspect(p, &si) == 0);
        CHECK_EQ(si.elemsize, 24);
        CHECK_EQ(si.gc_kind, i == 0 ? GM_GC_NOSCAN : GM_GC_TYPED);
        CHECK(aligned(p, 8));
        gm_keep_alive(p);
    }
    /* 20 one-byte elements: Go rounds a 20-byte []byte to 24. */
    void *b = gm_new_array(&byte_type, 20);
    gm_span_info si;
    REQUIRE(gm_span_inspect(b, &si) == 0);
    CHECK_EQ(si.elemsize, 24);
    gm_keep_alive(b);
}

TEST(a_type_with_unknown_alignment_gets_16) {
    void *p = gm_new_typed(&unknown_align_type);
    gm_span_info si;
    REQUIRE(gm_span_inspect(p, &si) == 0);
    CHECK_EQ(si.elemsize, 32);
    CHECK(aligned(p, 16));
    gm_keep_alive(p);
}

TEST_MAIN()
