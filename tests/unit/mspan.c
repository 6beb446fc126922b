/* Span bitmaps: next_free_index hands out slots in order, alloc_cache is the
 * inverted window of alloc_bits, folds turn freed bits into free slots,
 * padding bits are never handed out, and bad frees are caught in a fold. */
#include "internal.h"
#include "test.h"

static uint64_t nfolded; /* frees counted by folds */

static gm_span *small_span(int cls) {
    gm__ensure_init();
    return gm__mheap_alloc_span(gm__class_to_allocnpages[cls], cls << 1 | 1, 1);
}

static uint32_t take(gm_span *s) {
    return gm__span_next_free_index(s);
}

TEST(fresh_span_hands_out_every_slot_once_in_order) {
    int classes[] = {1, 3, 7, 35, 67};
    for (size_t k = 0; k < sizeof classes / sizeof classes[0]; k++) {
        gm_span *s = small_span(classes[k]);
        REQUIRE(s);
        CHECK_EQ(s->nelems, gm__class_to_allocnpages[classes[k]] * GM_PAGE_SIZE /
                                gm__class_to_size[classes[k]]);
        for (uint32_t i = 0; i < s->nelems; i++) CHECK_EQ(take(s), i);
        CHECK_EQ(take(s), s->nelems); /* exhausted, padding never offered */
        CHECK_EQ(gm__span_alloc_count(s), s->nelems);
        gm__mheap_free_span(s);
    }
}

TEST(padding_bits_past_nelems_are_set) {
    gm_span *s = small_span(7); /* 102 objects: 26 padding bits in word 1 */
    REQUIRE(s);
    CHECK_EQ(s->nwords, 2);
    CHECK_EQ(s->alloc_bits[1], ~(uint64_t)0 << (102 - 64));
    gm__mheap_free_span(s);
}

TEST(alloc_cache_is_inverted_window_at_freeindex) {
    gm_span *s = small_span(2); /* 512 objects, 8 words */
    REQUIRE(s);
    for (int i = 0; i < 10; i++) take(s);
    CHECK_EQ(s->freeindex, 10);
    CHECK_EQ(gm__span_alloc_count(s), 10);
    CHECK_EQ(s->alloc_cache, ~(uint64_t)0 >> 10);
    for (int i = 10; i < 64; i++) take(s);
    CHECK_EQ(s->alloc_cache, 0); /* window consumed; next take reloads word 1 */
    CHECK_EQ(gm__span_alloc_count(s), 64); /* at a word boundary, window not loaded */
    CHECK_EQ(take(s), 64);
    CHECK_EQ(s->alloc_cache, ~(uint64_t)0 >> 1);
    CHECK_EQ(gm__span_alloc_count(s), 65);
    gm__mheap_free_span(s);
}

TEST(fold_makes_freed_slots_allocatable_lowest_first) {
    gm_span *s = small_span(7);
    REQUIRE(s);
    while (take(s) < s->nelems) {}
    s->local_free[0] |= (uint64_t)1 << 5;
    s->remote_free[1] |= (uint64_t)1 << 3; /* slot 67 */
    s->local_free[0] |= (uint64_t)1 << 40;
    CHECK(gm__span_has_frees(s));
    uint64_t before = nfolded;
    CHECK_EQ(gm__span_fold(s, &nfolded), 3);
    CHECK_EQ(nfolded - before, 3); /* frees are counted when folded */
    CHECK_EQ(s->alloc_count, s->nelems - 3);
    CHECK_EQ(gm__span_alloc_count(s), s->nelems - 3);
    CHECK_EQ(s->freeindex, 0);
    CHECK_EQ(s->needzero, 1);
    CHECK(!gm__span_has_frees(s));
    CHECK_EQ(take(s), 5);
    CHECK_EQ(take(s), 40);
    CHECK_EQ(take(s), 67);
    CHECK_EQ(take(s), s->nelems);
    gm__mheap_free_span(s);
}

TEST(fold_keeps_slots_handed_out_since_last_fold) {
    gm_span *s = small_span(7);
    REQUIRE(s);
    for (int i = 0; i < 10; i++) take(s);
    s->local_free[0] |= 1u << 2;
    CHECK_EQ(gm__span_fold(s, &nfolded), s->nelems - 9); /* slots 0..9 minus slot 2 are live */
    CHECK_EQ(s->alloc_count, 9);
    CHECK_EQ(take(s), 2);
    CHECK_EQ(take(s), 10);
    gm__mheap_free_span(s);
}

TEST(span_on_clean_pages_needs_no_zeroing_until_a_slot_is_recycled) {
    gm__ensure_init();
    gm__mheap_scavenge_all(); /* earlier tests dirtied pages: make them all clean */
    gm_span *s = small_span(10);
    REQUIRE(s);
    CHECK_EQ(s->needzero, 0);
    take(s);
    gm__span_fold(s, &nfolded);
    CHECK_EQ(s->needzero, 0); /* nothing was freed */
    s->local_free[0] |= 1;
    gm__span_fold(s, &nfolded);
    CHECK_EQ(s->needzero, 1); /* slot 0 is free again but holds old data */
    gm__mheap_free_span(s);
}

TEST(fold_of_free_of_unallocated_slot_aborts) {
    gm_span *s = small_span(7);
    REQUIRE(s);
    take(s);
    s->remote_free[0] |= (uint64_t)1 << 50; /* slot 50 was never handed out */
    EXPECT_DEATH(gm__span_fold(s, &nfolded), "gomalloc: fatal error: double free or free of unallocated object");
    s->remote_free[0] = 0;
    s->local_free[0] = 1;
    s->remote_free[0] = 1; /* freed by the owner and by another thread */
    EXPECT_DEATH(gm__span_fold(s, &nfolded), "double free");
    s->local_free[0] = s->remote_free[0] = 0;
    gm__mheap_free_span(s);
}

TEST(slot_division_maps_every_byte_to_its_object) {
    gm_span *s = small_span(40); /* 2688-byte objects */
    REQUIRE(s);
    for (uintptr_t off = 0; off < s->nelems * s->elemsize; off += 7)
        CHECK_EQ(gm__span_slot(s, s->base + off), off / s->elemsize);
    gm__mheap_free_span(s);
}

TEST_MAIN()
