/*
 * Go's tiny allocator (gm_new_noscan under 16 bytes): objects share 16-byte
 * blocks, and gm_free of any of them (most do not start their block) is
 * accepted and leaves the block to the collector, so its neighbours live on.
 */
#include "gc_test.h"

enum { PER_SIZE = 40 };

/* Allocate PER_SIZE tiny objects of n bytes, each filled with its own
 * pattern; free every other one; the rest keep their bytes, also across a
 * collection. Returns the number of objects not at a block start. */
GC_HELPER size_t free_every_other(size_t n) {
    unsigned char *v[PER_SIZE];
    size_t interior = 0;
    for (size_t i = 0; i < PER_SIZE; i++) {
        v[i] = gm_new_noscan(n);
        if (!v[i]) return 0;
        memset(v[i], (int)(i + n), n);
        gm_span_info si;
        CHECK(gm_span_inspect(v[i], &si) == 0);
        CHECK_EQ(si.elemsize, 16);
        if (si.object_base != (uintptr_t)v[i]) interior++;
    }
    for (size_t i = 0; i < PER_SIZE; i += 2) gm_free(v[i]);
    gm_gc();
    for (size_t i = 1; i < PER_SIZE; i += 2)
        for (size_t b = 0; b < n; b++) CHECK_EQ(v[i][b], (unsigned char)(i + n));
    return interior;
}

TEST(gm_free_of_a_tiny_object_of_every_size_is_accepted) {
    size_t interior = 0;
    for (size_t n = 1; n < 16; n++) interior += free_every_other(n);
    /* Sizes under 8 pack several objects per block: most are interior. */
    CHECK(interior > 100);
}

TEST(gm_free_of_a_tiny_object_keeps_its_block_mates) {
    char *a = gm_new_noscan(4), *b = gm_new_noscan(4), *c = gm_new_noscan(4);
    REQUIRE(a && b && c);
    memcpy(a, "aaa", 4);
    memcpy(b, "bbb", 4);
    memcpy(c, "ccc", 4);
    gm_free(b);
    gm_gc();
    CHECK(memcmp(a, "aaa", 4) == 0);
    CHECK(memcmp(c, "ccc", 4) == 0);
    CHECK(gm_is_collected(a));
    CHECK(gm_is_collected(c));
    gm_keep_alive(a);
    gm_keep_alive(c);
}

TEST_MAIN()
