/* The page allocator and page heap: bitmap helpers agree with a naive model,
 * allocation is address-ordered first fit, frees coalesce, runs may cross
 * chunks and arenas, alignment is honoured, scavenged pages read as zero. */
#include <string.h>

#include "internal.h"
#include "test.h"

static int naive_bit(const uint64_t *w, size_t i) { return (w[i / 64] >> (i % 64)) & 1; }

static gm_pallocsum naive_summary(const uint64_t *w, size_t n) {
    gm_pallocsum s = {0, 0, 0};
    size_t run = 0, i;
    for (i = 0; i < n && !naive_bit(w, i); i++) s.start++;
    for (i = n; i > 0 && !naive_bit(w, i - 1); i--) s.end++;
    for (i = 0; i < n; i++) {
        run = naive_bit(w, i) ? 0 : run + 1;
        if (run > s.max) s.max = (uint16_t)run;
    }
    return s;
}

/* Free a span's pages for good: past the large-span cache, which would
 * otherwise keep them for the next span of the same size. */
static void free_pages(gm_span *s) {
    gm__mheap_free_span(s);
    gm__mheap_flush_large_cache();
}

TEST(bit_helpers_agree_with_naive_model) {
    uint64_t seed = 42;
    for (int iter = 0; iter < 2000; iter++) {
        uint64_t w[8] = {0};
        /* Random runs of ones and zeros, so long runs occur. */
        size_t i = 0;
        while (i < 512) {
            size_t len = gm_test_rand(&seed) % (iter % 2 ? 200 : 20) + 1;
            if (len > 512 - i) len = 512 - i;
            if (gm_test_rand(&seed) & 1) gm__bits_set_range(w, i, len);
            i += len;
        }
        gm_pallocsum a = gm__bits_summarize(w, 512), b = naive_summary(w, 512);
        if (a.start != b.start || a.max != b.max || a.end != b.end) {
            fprintf(stderr, "  seed 42 iter %d: summary %u/%u/%u want %u/%u/%u\n", iter,
                    a.start, a.max, a.end, b.start, b.max, b.end);
            CHECK(0);
            return;
        }
        size_t n = gm_test_rand(&seed) % 64 + 1, found = gm__bits_find_run(w, 512, n), want = 512;
        for (size_t s = 0, run = 0; s < 512; s++) {
            run = naive_bit(w, s) ? 0 : run + 1;
            if (run == n) { want = s + 1 - n; break; }
        }
        CHECK_EQ(found, want);
        size_t from = gm_test_rand(&seed) % 512, cnt = gm_test_rand(&seed) % (512 - from);
        size_t naive = 0;
        for (size_t s = from; s < from + cnt; s++) naive += (size_t)naive_bit(w, s);
        CHECK_EQ(gm__bits_count_range(w, from, cnt), naive);
    }
}

TEST(clear_range_undoes_set_range) {
    uint64_t w[8];
    memset(w, 0xff, sizeof w);
    gm__bits_clear_range(w, 60, 200);
    CHECK_EQ(gm__bits_count_range(w, 0, 512), 312);
    CHECK_EQ(gm__bits_count_range(w, 60, 200), 0);
    gm__bits_set_range(w, 60, 200);
    CHECK_EQ(gm__bits_count_range(w, 0, 512), 512);
}

static gm_span *span(size_t npages) { return gm__mheap_alloc_span(npages, 1, 1); }

TEST(spans_do_not_overlap_and_are_page_aligned) {
    gm__ensure_init();
    gm_span *s[64];
    for (int i = 0; i < 64; i++) {
        s[i] = span((size_t)i % 7 + 1);
        REQUIRE(s[i]);
        CHECK_EQ(s[i]->base % GM_PAGE_SIZE, 0);
    }
    for (int i = 0; i < 64; i++)
        for (int j = i + 1; j < 64; j++) {
            uintptr_t ai = s[i]->base, bi = ai + s[i]->npages * GM_PAGE_SIZE;
            uintptr_t aj = s[j]->base, bj = aj + s[j]->npages * GM_PAGE_SIZE;
            CHECK(bi <= aj || bj <= ai);
        }
    for (int i = 0; i < 64; i++) free_pages(s[i]);
}

TEST(first_fit_reuses_lowest_hole_and_frees_coalesce) {
    gm__ensure_init();
    gm_span *a = span(4), *b = span(4), *c = span(4), *d = span(4);
    REQUIRE(a && b && c && d);
    uintptr_t bbase = b->base;
    CHECK_EQ(c->base, bbase + 4 * GM_PAGE_SIZE);
    free_pages(b);
    free_pages(c);
    /* b and c coalesced: an 8-page span fits exactly where b was. */
    gm_span *e = span(8);
    REQUIRE(e);
    CHECK_EQ(e->base, bbase);
    gm_span *f = span(1); /* lowest free page is after d now */
    REQUIRE(f);
    CHECK(f->base > d->base);
    free_pages(e);
    gm_span *g = span(1); /* first fit: the hole at bbase comes first */
    REQUIRE(g);
    CHECK_EQ(g->base, bbase);
    free_pages(a);
    free_pages(d);
    free_pages(f);
    free_pages(g);
}

TEST(runs_cross_chunks_and_arenas) {
    gm__ensure_init();
    gm_span *s = span(600); /* > one 512-page chunk */
    REQUIRE(s);
    CHECK_EQ(s->npages, 600);
    gm_span *huge = span(GM_PAGES_PER_ARENA + 100); /* > one 64 MiB arena */
    REQUIRE(huge);
    char *p = (char *)huge->base;
    p[0] = 1;
    p[(GM_PAGES_PER_ARENA + 99) * GM_PAGE_SIZE] = 2;
    CHECK(gm__span_of(huge->base + GM_ARENA_BYTES + 5) == huge);
    free_pages(s);
    free_pages(huge);
}

TEST(aligned_runs_start_on_alignment) {
    gm__ensure_init();
    size_t aligns[] = {2, 4, 16, 128, 1024};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        gm_span *pad = span(1);
        gm_span *s = gm__mheap_alloc_span(3, 1, aligns[i]);
        REQUIRE(pad && s);
        CHECK_EQ(s->base % (aligns[i] * GM_PAGE_SIZE), 0);
        free_pages(s);
        free_pages(pad);
    }
}

TEST(scavenged_pages_read_zero_and_need_no_zeroing) {
    gm__ensure_init();
    gm_span *s = span(32);
    REQUIRE(s);
    uintptr_t base = s->base;
    memset((void *)base, 0xAB, 32 * GM_PAGE_SIZE);
    free_pages(s);
    gm__mheap_scavenge_all();
    gm_span *t = span(32);
    REQUIRE(t);
    CHECK_EQ(t->base, base);
    CHECK_EQ(t->needzero, 0);
    const unsigned char *p = (const unsigned char *)t->base;
    size_t nonzero = 0;
    for (size_t i = 0; i < 32 * GM_PAGE_SIZE; i++) nonzero += p[i] != 0;
    CHECK_EQ(nonzero, 0);
    memset((void *)t->base, 1, GM_PAGE_SIZE);
    free_pages(t);
    gm_span *u = span(32); /* reused without scavenging: dirty */
    REQUIRE(u);
    CHECK_EQ(u->needzero, 1);
    free_pages(u);
}

TEST(heap_stats_balance) {
    gm__ensure_init();
    gm_memstats m0, m1;
    gm_read_memstats(&m0);
    gm_span *s = span(10);
    REQUIRE(s);
    gm_read_memstats(&m1);
    CHECK_EQ(m1.heap_inuse - m0.heap_inuse, 10 * GM_PAGE_SIZE);
    CHECK_EQ(m1.heap_idle + m1.heap_inuse, m1.heap_sys);
    CHECK(m1.heap_released <= m1.heap_idle);
    free_pages(s);
    gm_read_memstats(&m1);
    CHECK_EQ(m1.heap_inuse, m0.heap_inuse);
}

TEST(large_span_cache_returns_a_freed_span_of_the_same_size) {
    gm__ensure_init();
    gm_span *a = span(13);
    REQUIRE(a);
    uintptr_t base = a->base;
    gm__mheap_free_span(a);
    CHECK_EQ(a->state, GM_SPAN_FREE);
    CHECK(gm__span_of(base) == a); /* still mapped to it: a double free is caught */
    gm_span *b = span(12);
    REQUIRE(b);
    CHECK(b->base != base);
    gm_span *c = span(13);
    REQUIRE(c);
    CHECK_EQ(c->base, base);
    CHECK_EQ(c->state, GM_SPAN_LARGE);
    CHECK_EQ(c->needzero, 1);
    free_pages(b);
    free_pages(c);
    CHECK(gm__span_of(base) == NULL);
}

TEST_MAIN()
