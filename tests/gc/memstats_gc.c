/*
 * The collector's MemStats fields: num_gc and num_forced_gc count gm_gc()
 * cycles exactly (automatic collection off); the pause ring's newest entry,
 * at (num_gc + 255) % 256, is > 0 and its end time recent; pause_total_ns
 * covers the recorded pauses; last_gc is the wall-clock end of the last
 * cycle; next_gc is the goal (> live heap); gc_cpu_fraction is a fraction;
 * heap_objects, heap_alloc and frees reflect what a cycle collected.
 */
#include "gc_test.h"

enum { GARBAGE = 10000 };

static gm_memstats before, after;

TEST(num_gc_and_num_forced_gc_count_gm_gc) {
    int prev = gm_set_gc_percent(-1);
    (void)gc_launder(gm_new(64)); /* the collector is on from the first gm_new */
    gm_gc();
    before = gc_stats();
    for (int i = 0; i < 3; i++) gm_gc();
    after = gc_stats();
    CHECK_EQ(after.num_gc - before.num_gc, 3);
    CHECK_EQ(after.num_forced_gc - before.num_forced_gc, 3);
    CHECK(after.num_forced_gc <= after.num_gc);
    gm_set_gc_percent(prev);
}

TEST(pause_ring_and_times) {
    int prev = gm_set_gc_percent(-1);
    uint64_t t0 = gc_unix_ns();
    gm_gc();
    gm_gc();
    uint64_t t1 = gc_unix_ns();
    after = gc_stats();
    REQUIRE(after.num_gc >= 2);
    uint32_t newest = (after.num_gc + 255) % 256, older = (after.num_gc + 254) % 256;
    CHECK(after.pause_ns[newest] > 0);
    CHECK(after.pause_ns[older] > 0);
    CHECK(after.pause_ns[newest] < 10ull * 1000000000ull); /* a pause, not a timestamp */
    /* The pauses ended during this test, the newest last. */
    CHECK(after.pause_end[newest] >= t0 && after.pause_end[newest] <= t1);
    CHECK(after.pause_end[older] >= t0 && after.pause_end[older] <= after.pause_end[newest]);
    /* last_gc: the end of the second cycle, as Unix nanoseconds. */
    CHECK(after.last_gc >= t0 && after.last_gc <= t1);
    CHECK(after.last_gc >= after.pause_end[older]);
    uint64_t sum = 0;
    uint32_t recorded = after.num_gc < 256 ? after.num_gc : 256;
    for (uint32_t i = 0; i < recorded; i++) sum += after.pause_ns[(after.num_gc + 255 - i) % 256];
    CHECK(after.pause_total_ns >= sum);
    CHECK(after.pause_total_ns > 0);
    /* Unused ring entries are zero. */
    for (uint32_t i = recorded; i < 256; i++) CHECK_EQ(after.pause_ns[(after.num_gc + 255 - i) % 256], 0);
    gm_set_gc_percent(prev);
}

TEST(pause_ring_wraps_after_256_cycles) {
    int prev = gm_set_gc_percent(-1);
    uint64_t t0 = gc_unix_ns();
    for (int i = 0; i < 260; i++) gm_gc();
    after = gc_stats();
    int zero = 0, old = 0;
    for (int i = 0; i < 256; i++) {
        if (after.pause_ns[i] == 0) zero++;
        if (after.pause_end[i] < t0) old++;
    }
    CHECK_EQ(zero, 0);
    CHECK_EQ(old, 0); /* every entry is from the last 260 cycles */
    uint64_t sum = 0;
    for (int i = 0; i < 256; i++) sum += after.pause_ns[i];
    CHECK(after.pause_total_ns >= sum);
    gm_set_gc_percent(prev);
}

GC_NOINLINE static void make_garbage(void) {
    for (int i = 0; i < GARBAGE; i++) {
        void *p = gm_new(48);
        if (p) memset(p, 0x80, 48);
    }
}

TEST(collection_shows_in_heap_objects_heap_alloc_and_frees) {
    int prev = gm_set_gc_percent(-1);
    gm_gc();
    gm_memstats base = gc_stats();
    make_garbage();
    before = gc_stats();
    CHECK(before.heap_objects >= base.heap_objects + GARBAGE);
    CHECK(before.heap_alloc >= base.heap_alloc + GARBAGE * 48);
    CHECK(before.mallocs >= base.mallocs + GARBAGE);
    gc_clear_stack();
    gm_gc();
    gm_gc();
    after = gc_stats();
    CHECK(before.heap_objects >= after.heap_objects + GARBAGE * 9 / 10);
    CHECK(before.heap_alloc >= after.heap_alloc + GARBAGE * 48 * 9 / 10);
    CHECK(after.frees >= before.frees + GARBAGE * 9 / 10);
    CHECK_EQ(after.mallocs - after.frees, after.heap_objects);
    if (before.heap_objects < after.heap_objects + GARBAGE * 9 / 10)
        fprintf(stderr, "  heap_objects %" PRIu64 " -> %" PRIu64 "\n", before.heap_objects,
                after.heap_objects);
    gm_set_gc_percent(prev);
}

/* Kept alive across the next test's collection. */
static void *volatile live[64];

TEST(next_gc_is_the_goal_above_the_live_heap) {
    int prev = gm_set_gc_percent(100);
    for (int i = 0; i < 64; i++) live[i] = gm_new_noscan(256 * KiB); /* 16 MiB */
    gm_gc();
    after = gc_stats();
    CHECK(after.next_gc > 0);
    CHECK(after.next_gc > after.heap_alloc);
    CHECK(after.next_gc >= 16 * MiB);
    CHECK(after.gc_cpu_fraction >= 0 && after.gc_cpu_fraction <= 1);
    for (int i = 0; i < 64; i++) live[i] = NULL;
    gm_set_gc_percent(prev);
}

TEST(read_memstats_is_consistent_after_cycles) {
    gm_gc();
    after = gc_stats();
    CHECK(after.heap_inuse >= after.heap_alloc);
    CHECK_EQ(after.heap_idle + after.heap_inuse, after.heap_sys);
    CHECK(after.heap_released <= after.heap_idle);
    CHECK_EQ(after.sys, after.heap_sys + after.stack_sys + after.mspan_sys + after.mcache_sys +
                            after.buck_hash_sys + after.gc_sys + after.other_sys);
    CHECK(after.gc_sys > 0);
    uint64_t m = 0, f = 0;
    for (int i = 0; i < GM_NUM_SIZE_CLASSES; i++) {
        m += after.by_size[i].mallocs;
        f += after.by_size[i].frees;
    }
    CHECK_EQ(m, after.mallocs);
    CHECK_EQ(f, after.frees);
}

TEST_MAIN()
