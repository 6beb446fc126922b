/*
 * Precise and pointer-free objects. gm_new_typed scans only the words its
 * type marks: an address in a non-pointer word does not retain its object,
 * one in a pointer word does (also past the first 64 words of the bitmap,
 * and nothing past ptrdata). gm_new_array follows the pointers of every
 * element. gm_new_noscan contents are never pointers. Tiny noscan objects
 * are aligned to their size's lowest set bit (up to 8) and survive while
 * referenced, although they share 16-byte blocks with garbage. Spans report
 * the kind of object they hold (gm_span_info.gc_kind).
 */
#include "gc_test.h"

enum { N = 200, OBJ = 96 };

struct rec {
    uintptr_t addr; /* word 0: not a pointer */
    void *ptr;      /* word 1: a pointer */
    uint64_t pad[2];
};
static const gm_type rec_type = GM_TYPE(struct rec, ptr);

/* Pointers at words 100 and 151: bitmap words 1 and 2. */
struct big {
    uintptr_t w[100];
    void *p;
    uintptr_t w2[50];
    void *q;
    uintptr_t tail[4];
};
static const gm_type big_type = GM_TYPE(struct big, p, q);

/* A type whose bitmap marks every word but whose ptrdata is one word:
 * only word 0 may hold a pointer. */
static const uint64_t all_words[1] = {~0ull};
static const gm_type prefix_type = {64, 8, all_words, "prefix", 8};

static void *volatile roots[N];
static void *volatile root;

static void drop_roots(void) {
    for (int i = 0; i < N; i++) roots[i] = NULL;
    root = NULL;
}

/* The kind of p's span. Not inline: its gm_span_info, which holds p's
 * address twice, must not stay in the caller's frame (a conservative root). */
GC_NOINLINE static int kind_of(const void *p) {
    gm_span_info si;
    memset(&si, 0, sizeof si);
    if (gm_span_inspect(p, &si) != 0) return -1;
    return si.gc_kind;
}

/* ---- gm_new_typed ------------------------------------------------------- */

/* N typed records, each the only holder of two objects: one in addr (not
 * a pointer word), one in ptr. */
GC_NOINLINE static void make_records(atomic_int *fin_addr, atomic_int *fin_ptr) {
    for (int i = 0; i < N; i++) {
        struct rec *r = gm_new_typed(&rec_type);
        if (!r) return;
        r->addr = (uintptr_t)gc_make(OBJ, 1000 + (uint64_t)i, fin_addr);
        r->ptr = gc_make(OBJ, 2000 + (uint64_t)i, fin_ptr);
        r->pad[0] = r->pad[1] = 0x8000000000000000ull | (uint64_t)i;
        roots[i] = r;
    }
}

TEST(typed_object_retains_only_through_pointer_words) {
    static atomic_int fin_addr, fin_ptr;
    make_records(&fin_addr, &fin_ptr);
    gc_clear_stack();
    CHECK(gc_wait_count(&fin_addr, N * 9 / 10, GC_WAIT_SECONDS));
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&fin_ptr), 0);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        struct rec *r = roots[i];
        if (!r || !gc_check(r->ptr, OBJ, 2000 + (uint64_t)i) ||
            r->pad[1] != (0x8000000000000000ull | (uint64_t)i))
            bad++;
    }
    CHECK_EQ(bad, 0);
    drop_roots();
    gc_clear_stack();
    CHECK(gc_wait_count(&fin_ptr, N * 9 / 10, GC_WAIT_SECONDS));
}

GC_NOINLINE static void make_big(atomic_int *fin_words, atomic_int *fin_ptrs) {
    struct big *b = gm_new_typed(&big_type);
    if (!b) return;
    for (int i = 0; i < 100; i++) b->w[i] = (uintptr_t)gc_make(OBJ, 3000 + (uint64_t)i, fin_words);
    for (int i = 0; i < 50; i++) b->w2[i] = (uintptr_t)gc_make(OBJ, 3100 + (uint64_t)i, fin_words);
    for (int i = 0; i < 4; i++) b->tail[i] = (uintptr_t)gc_make(OBJ, 3200 + (uint64_t)i, fin_words);
    b->p = gc_make(OBJ, 3300, fin_ptrs);
    b->q = gc_make(OBJ, 3301, fin_ptrs);
    root = b;
}

/* Checks through the root in a frame of its own: no copy of the address
 * stays in the test's frame or registers once it returns. */
GC_NOINLINE static int big_pointees_intact(void) {
    struct big *b = root;
    return gc_check(b->p, OBJ, 3300) && gc_check(b->q, OBJ, 3301);
}

TEST(typed_bitmap_beyond_its_first_64_words) {
    static atomic_int fin_words, fin_ptrs;
    CHECK_EQ(big_type.size, sizeof(struct big));
    CHECK_EQ(big_type.gcdata[0], 0);
    CHECK_EQ(big_type.gcdata[1], 1ull << 36);
    CHECK_EQ(big_type.gcdata[2], 1ull << 23);
    make_big(&fin_words, &fin_ptrs);
    REQUIRE(root != NULL);
    gc_clear_stack();
    CHECK(gc_wait_count(&fin_words, 154 * 9 / 10, GC_WAIT_SECONDS));
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&fin_ptrs), 0);
    CHECK(big_pointees_intact());
    drop_roots();
    gc_clear_stack();
    CHECK(gc_wait_count(&fin_ptrs, 2, GC_WAIT_SECONDS));
}

GC_NOINLINE static void make_prefix(atomic_int *fin_word0, atomic_int *fin_rest) {
    uintptr_t *o = gm_new_typed(&prefix_type);
    if (!o) return;
    o[0] = (uintptr_t)gc_make(OBJ, 4000, fin_word0);
    for (int i = 1; i < 8; i++) o[i] = (uintptr_t)gc_make(OBJ, 4000 + (uint64_t)i, fin_rest);
    root = o;
}

TEST(typed_scan_stops_at_ptrdata) {
    static atomic_int fin_word0, fin_rest;
    make_prefix(&fin_word0, &fin_rest);
    REQUIRE(root != NULL);
    gc_clear_stack();
    CHECK(gc_wait_count(&fin_rest, 6, GC_WAIT_SECONDS));
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&fin_word0), 0);
    CHECK(gc_check((void *)((uintptr_t *)root)[0], OBJ, 4000));
    drop_roots();
    gc_clear_stack();
    GC_CHECK_ONE_COLLECTED(&fin_word0);
}

/* ---- gm_new_array ------------------------------------------------------- */

GC_NOINLINE static void make_array(size_t n, const gm_type *t, atomic_int *fin_ptr,
                                   atomic_int *fin_addr, uint64_t seed) {
    char *a = gm_new_array(t, n);
    if (!a) return;
    for (size_t i = 0; i < n; i++) {
        uintptr_t *e = (uintptr_t *)(a + i * t->size);
        if (t == &rec_type) {
            e[1] = (uintptr_t)gc_make(OBJ, seed + i, fin_ptr);
            e[0] = (uintptr_t)gc_make(OBJ, seed + n + i, fin_addr);
        } else { /* prefix_type: word 0 is a pointer, word 3 is not */
            e[0] = (uintptr_t)gc_make(OBJ, seed + i, fin_ptr);
            e[3] = (uintptr_t)gc_make(OBJ, seed + n + i, fin_addr);
        }
    }
    root = a;
}

/* Elements of the array at root whose pointee lost its pattern (in a frame
 * of its own, as big_pointees_intact). */
GC_NOINLINE static size_t array_bad_elements(size_t n, const gm_type *t, uint64_t seed) {
    const char *a = root;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const uintptr_t *e = (const uintptr_t *)(a + i * t->size);
        if (!gc_check((void *)e[t == &rec_type ? 1 : 0], OBJ, seed + i)) bad++;
    }
    return bad;
}

static void array_case(size_t n, const gm_type *t, uint64_t seed) {
    static atomic_int fin_ptr, fin_addr;
    atomic_store(&fin_ptr, 0);
    atomic_store(&fin_addr, 0);
    make_array(n, t, &fin_ptr, &fin_addr, seed);
    REQUIRE(root != NULL);
    CHECK_EQ(kind_of(root), GM_GC_TYPED);

    gc_clear_stack();
    CHECK(gc_wait_count(&fin_addr, (int)(n * 9 / 10), GC_WAIT_SECONDS));
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&fin_ptr), 0);
    CHECK_EQ(array_bad_elements(n, t, seed), 0);
    drop_roots();
    gc_clear_stack();
    CHECK(gc_wait_count(&fin_ptr, (int)(n * 9 / 10), GC_WAIT_SECONDS));
}

/* 1000 x 32 bytes: a small object. 3000 x 32: a large one. */
TEST(array_pointers_in_every_element_are_followed_small) { array_case(1000, &rec_type, 10000); }
TEST(array_pointers_in_every_element_are_followed_large) { array_case(3000, &rec_type, 20000); }
TEST(array_elements_scanned_only_up_to_ptrdata) { array_case(500, &prefix_type, 30000); }

TEST(array_size_overflow_is_enomem) {
    errno = 0;
    void *p = gm_new_array(&rec_type, SIZE_MAX / 16);
    CHECK(p == NULL);
    CHECK_EQ(errno, ENOMEM);
    errno = 0;
    p = gm_new_array(&big_type, (SIZE_MAX / sizeof(struct big)) + 2);
    CHECK(p == NULL);
    CHECK_EQ(errno, ENOMEM);
}

/* ---- gm_new_noscan ------------------------------------------------------ */

GC_NOINLINE static void make_noscan_holder(atomic_int *fin) {
    void **block = gm_new_noscan(N * sizeof(void *));
    if (!block) return;
    for (int i = 0; i < N; i++) block[i] = gc_make(OBJ, 5000 + (uint64_t)i, fin);
    root = block;
}

TEST(noscan_contents_are_not_pointers) {
    static atomic_int fin;
    make_noscan_holder(&fin);
    REQUIRE(root != NULL);
    gm_span_info si;
    CHECK(gm_span_inspect(root, &si) == 0 && si.gc_kind == GM_GC_NOSCAN);
    gc_clear_stack();
    CHECK(gc_wait_count(&fin, N * 9 / 10, GC_WAIT_SECONDS));
    /* The holder itself is alive and its contents untouched. */
    CHECK(gm_is_collected(root));
    drop_roots();
}

/* Tiny noscan objects: kept ones are referenced from tiny_keep (a root),
 * garbage ones of every size are allocated between them, so that kept and
 * garbage objects share 16-byte blocks. */
enum { TINY = 3000 };
static void *volatile tiny_keep[TINY];
static size_t tiny_size(int i) { return 1 + (size_t)i % 15; }
static size_t low_bit_align(size_t n) {
    size_t a = n & -n;
    return a > 8 ? 8 : a;
}

GC_NOINLINE static int make_tiny(int round, int *misaligned) {
    uint64_t rng = 77 + (uint64_t)round;
    for (int i = 0; i < TINY; i++) {
        size_t n = tiny_size(i + round);
        unsigned char *p = gm_new_noscan(n);
        if (!p) return 0;
        if ((uintptr_t)p % low_bit_align(n)) (*misaligned)++;
        for (size_t k = 0; k < n; k++)
            if (p[k]) (*misaligned) += 1000000; /* not zeroed */
        gc_fill(p, n, 6000 + (uint64_t)i);
        tiny_keep[i] = p;
        int g = (int)(gm_test_rand(&rng) % 3);
        for (int j = 0; j < g; j++) {
            size_t gn = 1 + gm_test_rand(&rng) % 15;
            unsigned char *q = gm_new_noscan(gn);
            if (!q) return 0;
            if ((uintptr_t)q % low_bit_align(gn)) (*misaligned)++;
            memset(q, 0xff, gn);
        }
    }
    return 1;
}

static int tiny_intact(int round) {
    int bad = 0;
    for (int i = 0; i < TINY; i++)
        if (!gc_check(tiny_keep[i], tiny_size(i + round), 6000 + (uint64_t)i)) bad++;
    return bad;
}

GC_NOINLINE static void tiny_garbage(int count) {
    for (int i = 0; i < count; i++) {
        unsigned char *q = gm_new_noscan(1 + (size_t)i % 15);
        if (q) memset(q, 0xee, 1 + (size_t)i % 15);
    }
}

TEST(tiny_noscan_objects_aligned_and_kept_while_referenced) {
    for (int round = 0; round < 3; round++) {
        int misaligned = 0;
        REQUIRE(make_tiny(round, &misaligned));
        CHECK_EQ(misaligned, 0);
        CHECK_EQ(kind_of(tiny_keep[0]), GM_GC_NOSCAN);
        gc_clear_stack();
        for (int k = 0; k < 3; k++) {
            gm_gc();
            tiny_garbage(3 * TINY); /* would overwrite kept objects freed by mistake */
            CHECK_EQ(tiny_intact(round), 0);
        }
    }
    for (int i = 0; i < TINY; i++) tiny_keep[i] = NULL;
}

TEST(tiny_noscan_garbage_is_collected) {
    tiny_garbage(1000); /* warm up: a current tiny block exists */
    gm_gc();
    gm_memstats before = gc_stats();
    tiny_garbage(200000); /* at least 200000 / 16 = 12500 blocks */
    gc_clear_stack();
    gm_gc();
    gm_gc();
    gm_memstats after = gc_stats();
    CHECK(after.heap_objects < before.heap_objects + 1000);
    if (after.heap_objects >= before.heap_objects + 1000)
        fprintf(stderr, "  heap_objects %" PRIu64 " -> %" PRIu64 "\n", before.heap_objects,
                after.heap_objects);
}

/* ---- What each span holds ----------------------------------------------- */

TEST(span_gc_kind_says_how_objects_are_scanned) {
    void *c = gm_new(100), *cl = gm_new(100 * KiB);
    void *n = gm_new_noscan(100), *nl = gm_new_noscan(100 * KiB), *nt = gm_new_noscan(5);
    void *t = gm_new_typed(&rec_type), *ta = gm_new_array(&rec_type, 10000);
    void *m = gm_malloc(100), *ml = gm_malloc(100 * KiB);
    REQUIRE(c && cl && n && nl && nt && t && ta && m && ml);
    CHECK_EQ(kind_of(c), GM_GC_CONSERVATIVE);
    CHECK_EQ(kind_of(cl), GM_GC_CONSERVATIVE);
    CHECK_EQ(kind_of(n), GM_GC_NOSCAN);
    CHECK_EQ(kind_of(nl), GM_GC_NOSCAN);
    CHECK_EQ(kind_of(nt), GM_GC_NOSCAN);
    CHECK_EQ(kind_of(t), GM_GC_TYPED);
    CHECK_EQ(kind_of(ta), GM_GC_TYPED);
    CHECK_EQ(kind_of(m), GM_GC_NONE);
    CHECK_EQ(kind_of(ml), GM_GC_NONE);
    /* Collected objects come zeroed. */
    CHECK(((uintptr_t *)t)[0] == 0 && ((uintptr_t *)t)[3] == 0);
    CHECK(((unsigned char *)cl)[100 * KiB - 1] == 0);
    gm_free(m);
    gm_free(ml);
    gm_keep_alive(c);
    gm_keep_alive(cl);
    gm_keep_alive(n);
    gm_keep_alive(nl);
    gm_keep_alive(nt);
    gm_keep_alive(t);
    gm_keep_alive(ta);
}

TEST_MAIN()
