/*
 * Pacing (GOGC, GOMEMLIMIT). Each scenario runs in a fresh child process
 * (this program again, see gc_run_self), so that heaps and settings of
 * earlier scenarios do not leak into it:
 *   - GOGC=100 (gm_set_gc_percent): after a cycle next_gc is about twice the
 *     live heap; churning 512 MiB of garbage over 32 MiB live runs a number
 *     of cycles near 512/32 and keeps heap_alloc and heap_inuse near 2x live;
 *   - 50: the same at 1.5x;
 *   - off (-1): no automatic cycle while 200 MiB of garbage is allocated;
 *     gm_gc still collects;
 *   - a 64 MiB memory limit with GOGC off: garbage triggers cycles and the
 *     heap stays near the limit;
 *   - the same three settings from the environment: GOGC=off, GOGC=50,
 *     GOMEMLIMIT=64MiB.
 * In this process: gm_set_gc_percent and gm_set_memory_limit return the
 * previous setting, and a negative limit only reads it.
 */
#include "gc_test.h"

enum { CHUNK = 64 * 1024 };

static void *volatile live_chunks[2048];

/* mib MiB of live 64 KiB noscan chunks, referenced from live_chunks. */
GC_NOINLINE static void build_live(size_t mib) {
    for (size_t i = 0; i < mib * 16 && i < GC_COUNT_OF(live_chunks); i++) {
        live_chunks[i] = gm_new_noscan(CHUNK);
        if (live_chunks[i]) memset(live_chunks[i], 0x81, 64);
    }
}

struct peaks {
    uint64_t alloc, inuse, mapped; /* mapped: sys - heap_released */
};

static void sample(struct peaks *pk) {
    gm_memstats m = gc_stats();
    if (m.heap_alloc > pk->alloc) pk->alloc = m.heap_alloc;
    if (m.heap_inuse > pk->inuse) pk->inuse = m.heap_inuse;
    if (m.sys - m.heap_released > pk->mapped) pk->mapped = m.sys - m.heap_released;
}

/* mib MiB of garbage: per 64 KiB, one 32 KiB noscan chunk and 32 1 KiB
 * conservative objects, all dropped at once. Peaks sampled every 4 MiB. */
GC_NOINLINE static void churn(size_t mib, struct peaks *pk) {
    for (size_t i = 0; i < mib * 16; i++) {
        void *c = gm_new_noscan(32 * KiB);
        if (c) ((volatile char *)c)[0] = 1;
        for (int j = 0; j < 32; j++) {
            void *o = gm_new(1024);
            if (o) ((volatile char *)o)[8] = 1;
        }
        if (pk && i % 64 == 0) sample(pk);
    }
}

static void report(const char *what, const gm_memstats *a, const gm_memstats *b,
                   const struct peaks *pk) {
    printf("  info: %s: live %.1f MiB, next_gc %.1f MiB, cycles %u, peak heap_alloc %.1f MiB, "
           "peak heap_inuse %.1f MiB, peak mapped %.1f MiB\n",
           what, a->heap_alloc / 1048576.0, a->next_gc / 1048576.0, b->num_gc - a->num_gc,
           pk ? pk->alloc / 1048576.0 : 0, pk ? pk->inuse / 1048576.0 : 0,
           pk ? pk->mapped / 1048576.0 : 0);
    fflush(stdout);
}

/* GOGC = percent, live 32 MiB: goal and pacing. */
static void check_gogc(int percent, size_t churn_mib) {
    build_live(32);
    gm_gc();
    gm_memstats a = gc_stats();
    double live = (double)a.heap_alloc, ratio = 1 + percent / 100.0;
    CHECK(live >= 32.0 * MiB);
    CHECK(a.next_gc >= 0.9 * ratio * live);
    CHECK(a.next_gc <= 1.25 * ratio * live);
    struct peaks pk = {0, 0, 0};
    churn(churn_mib, &pk);
    gm_memstats b = gc_stats();
    report(percent == 100 ? "GOGC=100" : "GOGC=50", &a, &b, &pk);
    /* Each cycle lets the heap grow by about live * percent / 100. */
    double expect = churn_mib * (double)MiB / (live * (ratio - 1));
    unsigned cycles = b.num_gc - a.num_gc;
    CHECK(cycles >= expect / 3);
    CHECK(cycles <= expect * 3 + 2);
    CHECK(pk.alloc <= 1.3 * ratio * live + 8.0 * MiB);
    CHECK(pk.inuse <= 1.5 * ratio * live + 16.0 * MiB);
    /* The live chunks are intact. */
    int bad = 0;
    for (int i = 0; i < 32 * 16; i++)
        if (!live_chunks[i] || ((volatile unsigned char *)live_chunks[i])[63] != 0x81) bad++;
    CHECK_EQ(bad, 0);
}

/* ---- Children ----------------------------------------------------------- */

TEST(child_gogc_100) {
    GC_CHILD_ONLY();
    CHECK_EQ(gm_set_gc_percent(100), 100); /* the default */
    check_gogc(100, 512);
}

TEST(child_gogc_50_set) {
    GC_CHILD_ONLY();
    CHECK_EQ(gm_set_gc_percent(50), 100);
    check_gogc(50, 256);
}

TEST(child_env_gogc_50) {
    GC_CHILD_ONLY();
    check_gogc(50, 256);
    CHECK_EQ(gm_set_gc_percent(50), 50);
}

/* No automatic cycle while 200 MiB of garbage is allocated. */
static void check_off(void) {
    (void)gc_launder(gm_new(16));
    gm_memstats a = gc_stats();
    churn(200, NULL);
    gm_memstats b = gc_stats();
    report("GOGC=off", &a, &b, NULL);
    CHECK_EQ(b.num_gc, a.num_gc);
    CHECK(b.heap_alloc >= a.heap_alloc + 150 * MiB); /* nothing collected */
    gc_clear_stack();
    gm_gc();
    gm_memstats c = gc_stats();
    CHECK_EQ(c.num_gc, b.num_gc + 1);
    CHECK(c.heap_alloc + 150 * MiB <= b.heap_alloc); /* gm_gc still collects */
}

TEST(child_gogc_off_set) {
    GC_CHILD_ONLY();
    CHECK_EQ(gm_set_gc_percent(-1), 100);
    check_off();
    CHECK(gm_set_gc_percent(100) < 0);
}

TEST(child_env_gogc_off) {
    GC_CHILD_ONLY();
    check_off();
    CHECK(gm_set_gc_percent(-1) < 0); /* GOGC=off was the setting */
}

/* GOGC off, 64 MiB limit, 8 MiB live, 512 MiB of garbage. */
static void check_limit(void) {
    build_live(8);
    gm_gc();
    gm_memstats a = gc_stats();
    struct peaks pk = {0, 0, 0};
    churn(512, &pk);
    gm_memstats b = gc_stats();
    report("GOGC=off GOMEMLIMIT=64MiB", &a, &b, &pk);
    CHECK(b.num_gc >= a.num_gc + 4);
    CHECK(pk.alloc <= 72 * MiB);
    CHECK(pk.mapped <= 96 * MiB);
}

TEST(child_memory_limit_set) {
    GC_CHILD_ONLY();
    CHECK_EQ(gm_set_memory_limit(-1), INT64_MAX);
    CHECK_EQ(gm_set_gc_percent(-1), 100);
    CHECK_EQ(gm_set_memory_limit(64 * (int64_t)MiB), INT64_MAX);
    check_limit();
    CHECK_EQ(gm_set_memory_limit(-1), 64 * (int64_t)MiB);
}

TEST(child_env_gomemlimit_gogc_off) {
    GC_CHILD_ONLY();
    CHECK_EQ(gm_set_memory_limit(-1), 64 * (int64_t)MiB);
    check_limit();
    CHECK(gm_set_gc_percent(-1) < 0);
}

TEST(child_env_gomemlimit_alone) {
    GC_CHILD_ONLY();
    CHECK_EQ(gm_set_memory_limit(-1), 3 * 1024 * (int64_t)MiB);
    CHECK_EQ(gm_set_gc_percent(100), 100);
}

/* GOGC=1: the goal leaves less room than one span; allocation must still
 * make progress (it once refilled and collected forever). */
TEST(child_gogc_1_makes_progress) {
    GC_CHILD_ONLY();
    alarm(60);
    gm_set_gc_percent(1);
    void **keep = NULL;
    long n = 0;
    for (; n < 100000; n++) {
        void **p = gm_new(32);
        if (!p) break;
        p[0] = keep;
        keep = p;
    }
    CHECK_EQ(n, 100000);
    long chain = 0;
    for (void **p = keep; p; p = p[0]) chain++;
    CHECK_EQ(chain, 100000);
    alarm(0);
}

/* ---- In this process ---------------------------------------------------- */

TEST(gm_set_gc_percent_returns_the_previous_setting) {
    if (gc_is_child()) return;
    if (getenv("GOGC")) {
        printf("  (skipped: GOGC is set)\n");
        return;
    }
    CHECK_EQ(gm_set_gc_percent(100), 100);
    CHECK_EQ(gm_set_gc_percent(50), 100);
    CHECK_EQ(gm_set_gc_percent(-1), 50);
    CHECK(gm_set_gc_percent(300) < 0);
    CHECK_EQ(gm_set_gc_percent(0), 300);
    CHECK_EQ(gm_set_gc_percent(100), 0);
}

TEST(gm_set_memory_limit_returns_the_previous_limit) {
    if (gc_is_child()) return;
    if (getenv("GOMEMLIMIT")) {
        printf("  (skipped: GOMEMLIMIT is set)\n");
        return;
    }
    int64_t big = (int64_t)1 << 40;
    CHECK_EQ(gm_set_memory_limit(-1), INT64_MAX);
    CHECK_EQ(gm_set_memory_limit(big), INT64_MAX);
    CHECK_EQ(gm_set_memory_limit(-1), big);
    CHECK_EQ(gm_set_memory_limit(-12345), big); /* negative: read only */
    CHECK_EQ(gm_set_memory_limit(INT64_MAX), big);
    CHECK_EQ(gm_set_memory_limit(-1), INT64_MAX);
}

TEST(gogc_100_paces_at_twice_the_live_heap) {
    if (gc_is_child()) return;
    GC_EXPECT_CHILD_PASSES("child_gogc_100", "GM_GC_CASE=gogc100");
}
TEST(gogc_50_from_gm_set_gc_percent) {
    if (gc_is_child()) return;
    GC_EXPECT_CHILD_PASSES("child_gogc_50_set", "GM_GC_CASE=gogc50");
}
TEST(gogc_off_from_gm_set_gc_percent) {
    if (gc_is_child()) return;
    GC_EXPECT_CHILD_PASSES("child_gogc_off_set", "GM_GC_CASE=off");
}
TEST(memory_limit_from_gm_set_memory_limit) {
    if (gc_is_child()) return;
    GC_EXPECT_CHILD_PASSES("child_memory_limit_set", "GM_GC_CASE=limit");
}
TEST(env_gogc_off) {
    if (gc_is_child()) return;
    GC_EXPECT_CHILD_PASSES("child_env_gogc_off", "GOGC=off");
}
TEST(env_gogc_50) {
    if (gc_is_child()) return;
    GC_EXPECT_CHILD_PASSES("child_env_gogc_50", "GOGC=50");
}
TEST(env_gomemlimit_with_gogc_off) {
    if (gc_is_child()) return;
    GC_EXPECT_CHILD_PASSES("child_env_gomemlimit_gogc_off", "GOMEMLIMIT=64MiB", "GOGC=off");
}
TEST(gogc_1_allocation_makes_progress) {
    if (gc_is_child()) return;
    GC_EXPECT_CHILD_PASSES("child_gogc_1_makes_progress", "GM_GC_CASE=gogc1");
}
TEST(env_gomemlimit_alone) {
    if (gc_is_child()) return;
    GC_EXPECT_CHILD_PASSES("child_env_gomemlimit_alone", "GOMEMLIMIT=3GiB");
}

TEST_MAIN()
