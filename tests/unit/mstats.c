/* MemStats: exact object and byte counts for small and large objects,
 * Go's identities between the heap fields, by_size per class. */
#include "internal.h"
#include "test.h"

TEST(small_objects_are_counted_exactly_by_class) {
    gm_memstats a, b;
    gm_read_memstats(&a);
    void *p[300];
    for (int i = 0; i < 300; i++) p[i] = gm_malloc(100); /* class 9, 112 bytes */
    for (int i = 0; i < 120; i++) gm_free(p[i]);
    gm_read_memstats(&b);
    CHECK_EQ(b.by_size[9].size, 112);
    CHECK_EQ(b.by_size[9].mallocs - a.by_size[9].mallocs, 300);
    CHECK_EQ(b.by_size[9].frees - a.by_size[9].frees, 120);
    CHECK_EQ(b.mallocs - a.mallocs, 300);
    CHECK_EQ(b.frees - a.frees, 120);
    CHECK_EQ(b.heap_objects - a.heap_objects, 180);
    CHECK_EQ(b.heap_alloc - a.heap_alloc, 180 * 112);
    CHECK_EQ(b.total_alloc - a.total_alloc, 300 * 112);
    for (int i = 120; i < 300; i++) gm_free(p[i]);
}

TEST(refills_count_the_thread_caches_misses_by_class) {
    gm_size_class_info big, small;
    REQUIRE(gm_size_class_of(2048, &big) == 0 && gm_size_class_of(16, &small) == 0);
    gm_memstats a, b;
    gm_read_memstats(&a);
    static void *p[2000];
    for (int i = 0; i < 1000; i++) p[i] = gm_malloc(2048); /* 4 per 8 KiB span */
    for (int i = 1000; i < 2000; i++) p[i] = gm_malloc(16); /* 512 per span */
    gm_read_memstats(&b);
    uint64_t big_refills = b.by_size[big.size_class].refills - a.by_size[big.size_class].refills;
    uint64_t small_refills =
        b.by_size[small.size_class].refills - a.by_size[small.size_class].refills;
    CHECK(big_refills >= 1000 / big.nelems && big_refills <= 1000 / big.nelems + 2);
    CHECK(small_refills <= 1000 / small.nelems + 2);
    for (int i = 0; i < 2000; i++) gm_free(p[i]);
}

TEST(large_objects_are_counted_in_whole_pages) {
    gm_memstats a, b, c;
    gm_read_memstats(&a);
    void *p = gm_malloc(100000);
    gm_read_memstats(&b);
    CHECK_EQ(b.mallocs - a.mallocs, 1);
    CHECK_EQ(b.heap_alloc - a.heap_alloc, 13 * 8192);
    CHECK_EQ(b.heap_inuse - a.heap_inuse, 13 * 8192);
    gm_free(p);
    gm_read_memstats(&c);
    CHECK_EQ(c.frees - a.frees, 1);
    CHECK_EQ(c.heap_alloc, a.heap_alloc);
}

TEST(heap_fields_satisfy_go_identities) {
    void *keep = gm_malloc(5000);
    gm_memstats m;
    gm_read_memstats(&m);
    CHECK_EQ(m.alloc, m.heap_alloc);
    CHECK_EQ(m.heap_idle + m.heap_inuse, m.heap_sys);
    CHECK(m.heap_released <= m.heap_idle);
    CHECK(m.heap_inuse >= m.heap_alloc);
    CHECK_EQ(m.heap_objects, m.mallocs - m.frees);
    CHECK(m.mspan_inuse <= m.mspan_sys);
    CHECK(m.mcache_inuse <= m.mcache_sys);
    CHECK_EQ(m.sys, m.heap_sys + m.stack_sys + m.mspan_sys + m.mcache_sys + m.buck_hash_sys +
                        m.gc_sys + m.other_sys);
    CHECK_EQ(m.lookups, 0);
    gm_free(keep);
}

TEST(realloc_in_place_does_not_count_an_allocation) {
    void *p = gm_malloc(70);
    gm_memstats a, b;
    gm_read_memstats(&a);
    void *q = gm_realloc(p, 80);
    gm_read_memstats(&b);
    CHECK(q == p);
    CHECK_EQ(b.mallocs, a.mallocs);
    gm_free(q);
}

TEST_MAIN()
