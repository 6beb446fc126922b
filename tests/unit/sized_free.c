/*
 * Sized deallocation (C23 free_sized/free_aligned_sized and C++ sized
 * delete, both gm__free_sized): a size is accepted exactly when it selects
 * the block's size class (or page count), with or without an alignment;
 * C's form also accepts the upper half of a block realloc left in place.
 */
#include "test.h"

#include <string.h>

#include "internal.h"

#define DEATH_MSG "gomalloc: fatal error: sized free"

TEST(every_size_is_accepted_for_its_own_block) {
    for (size_t n = 0; n <= 70000; n += n < 2048 ? 1 : 97) {
        void *p = gm_malloc(n);
        REQUIRE(p != NULL);
        gm__free_sized(p, n, 1, true);
    }
}

TEST(every_size_and_alignment_is_accepted_for_its_own_block) {
    for (size_t align = 1; align <= 65536; align <<= 1) {
        for (size_t n = 0; n <= 40000; n += 1 + n / 3) {
            void *p = gm_memalign(align, n);
            REQUIRE(p != NULL);
            CHECK_EQ((uintptr_t)p % align, 0u);
            gm__free_sized(p, n, align, true);
        }
    }
}

TEST(size_of_another_class_is_fatal) {
    void *p = gm_malloc(100); /* class 112 */
    REQUIRE(p != NULL);
    EXPECT_DEATH(gm__free_sized(p, 5000, 1, true), DEATH_MSG);
    EXPECT_DEATH(gm__free_sized(p, 5, 1, true), DEATH_MSG);
    EXPECT_DEATH(gm__free_sized(p, 96, 1, true), DEATH_MSG); /* the class below */
    EXPECT_DEATH(gm__free_sized(p, 113, 1, true), DEATH_MSG); /* the class above */
    gm__free_sized(p, 97, 1, true);                            /* same class: fine */
}

TEST(large_block_with_another_page_count_is_fatal) {
    void *p = gm_malloc(100000); /* 13 pages */
    REQUIRE(p != NULL);
    EXPECT_DEATH(gm__free_sized(p, 90000, 1, true), DEATH_MSG);
    EXPECT_DEATH(gm__free_sized(p, 200000, 1, true), DEATH_MSG);
    EXPECT_DEATH(gm__free_sized(p, 100, 1, true), DEATH_MSG);
    gm__free_sized(p, 98305, 1, true);
}

TEST(c_form_accepts_a_block_realloc_kept_in_place) {
    char *p = gm_malloc(1000); /* class 1024 */
    REQUIRE(p != NULL);
    char *q = gm_realloc(p, 600); /* at least half: stays */
    CHECK(q == p);
    EXPECT_DEATH(gm__free_sized(q, 600, 1, true), DEATH_MSG);
    EXPECT_DEATH(gm__free_sized(q, 2000, 1, false), DEATH_MSG);
    gm__free_sized(q, 600, 1, false);
}

TEST(null_is_ignored) { gm__free_sized(NULL, 123, 1, true); }

TEST_MAIN()
