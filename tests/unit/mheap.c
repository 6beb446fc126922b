/* The page heap: emptied spans of classes a thread stopped using are
 * reclaimed as the heap grows; the scavenger keeps free backed memory within
 * the retention target; gm_release_memory returns everything. */
#include "internal.h"
#include "test.h"

enum { MB = 1 << 20 };

TEST(spans_of_abandoned_classes_are_reclaimed_as_the_heap_grows) {
    enum { A = 64, B = 512, BYTES = 32 * MB };
    static void *pa[BYTES / A], *pb[BYTES / B];
    gm_memstats m0, m1;
    gm_release_memory();
    gm_read_memstats(&m0);
    for (size_t i = 0; i < BYTES / A; i++) pa[i] = gm_malloc(A);
    for (size_t i = 0; i < BYTES / A; i++) gm_free(pa[i]);
    /* Class A's spans are all empty now but still queued in our cache. */
    for (size_t i = 0; i < BYTES / B; i++) pb[i] = gm_malloc(B);
    gm_read_memstats(&m1);
    /* Without reclaim both sets would be in use (64 MiB). */
    CHECK(m1.heap_inuse - m0.heap_inuse < BYTES + BYTES / 2);
    for (size_t i = 0; i < BYTES / B; i++) gm_free(pb[i]);
}

TEST(scavenger_keeps_free_backed_memory_near_the_retention_target) {
    gm__ensure_init();
    gm_options saved = gm__opts;
    gm__opts.retain_min = 1 * MB;
    gm__opts.retain_percent = 0;
    void *big = gm_malloc(16 * MB);
    REQUIRE(big);
    for (size_t i = 0; i < 16 * MB; i += 4096) ((char *)big)[i] = 1;
    gm_free(big);
    gm__lock(&gm__heap_lock);
    uint64_t dirty = gm__heapstats.heap_free_dirty;
    gm__unlock(&gm__heap_lock);
    CHECK(dirty <= 1 * MB + MB / 8);
    gm__opts = saved;
}

TEST(release_memory_returns_every_free_page) {
    void *p[64];
    for (int i = 0; i < 64; i++) p[i] = gm_malloc(100000);
    for (int i = 0; i < 64; i++) gm_free(p[i]);
    gm_release_memory();
    gm_memstats m;
    gm_read_memstats(&m);
    CHECK_EQ(m.heap_released, m.heap_idle);
    gm__lock(&gm__heap_lock);
    CHECK_EQ(gm__heapstats.heap_free_dirty, 0);
    gm__unlock(&gm__heap_lock);
}

TEST(large_object_grows_in_place_into_free_pages) {
    gm_release_memory();
    char *p = gm_malloc(64 * 1024);
    REQUIRE(p);
    p[0] = 42;
    char *q = gm_realloc(p, 256 * 1024); /* the pages after p are free */
    CHECK(q == p);
    CHECK_EQ(q[0], 42);
    CHECK(gm_usable_size(q) >= 256 * 1024);
    q[256 * 1024 - 1] = 1;
    gm_free(q);
}

TEST_MAIN()
