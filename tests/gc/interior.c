/*
 * Interior pointers: a pointer to any byte inside a collected object keeps
 * it alive (from a root, from a conservatively scanned object, from a
 * typed pointer field), small and large, up to its last byte. A pointer one
 * past the end is not inside it: the object is collected (the pointer may
 * keep whatever object follows, so each kept object is followed by a
 * pointer-free filler).
 */
#include "gc_test.h"

enum { N = 200 };

/* Objects whose only reference is base + offset, kept in refs[]. */
static void *volatile refs[N];

/* n objects of size bytes each, a finalizer on each, refs[i] = base + off
 * (off < 0: from the end). With filler, each object is followed by a
 * pointer-free object of the same size, allocated right after it. */
GC_NOINLINE static void make_referenced(int n, size_t size, long off, int filler,
                                        atomic_int *fin, uint64_t seed) {
    for (int i = 0; i < n; i++) {
        char *p = gc_make(size, seed + (uint64_t)i, fin);
        if (!p) return;
        if (filler) {
            void *f = gm_new(size);
            if (f) gc_fill(f, size, 999);
        }
        refs[i] = p + (off >= 0 ? (size_t)off : size - (size_t)-off);
    }
}

static void drop_refs(void) {
    for (int i = 0; i < N; i++) refs[i] = NULL;
}

/* Every object made with (size, off) is intact and not finalized. */
static void check_all_survive(int n, size_t size, long off, atomic_int *fin, uint64_t seed) {
    gc_clear_stack();
    for (int k = 0; k < 3; k++) {
        gm_gc();
        for (int j = 0; j < n; j++) (void)gc_launder(gm_new(size)); /* reuse freed slots */
    }
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(fin), 0);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const char *base = (const char *)refs[i] - (off >= 0 ? (size_t)off : size - (size_t)-off);
        if (!gc_check(base, size, seed + (uint64_t)i)) bad++;
    }
    CHECK_EQ(bad, 0);
}

static void interior_case(size_t size, long off, uint64_t seed) {
    static atomic_int fin;
    atomic_store(&fin, 0);
    int n = size > 32 * KiB ? 8 : N;
    make_referenced(n, size, off, 0, &fin, seed);
    check_all_survive(n, size, off, &fin, seed);
    drop_refs();
    gc_clear_stack();
    CHECK(gc_wait_count(&fin, n * 9 / 10, GC_WAIT_SECONDS));
}

TEST(pointer_to_the_middle_keeps_a_small_object) { interior_case(64, 30, 100); }
TEST(pointer_to_the_last_byte_keeps_a_small_object) { interior_case(64, -1, 200); }
TEST(pointer_to_the_second_byte_keeps_a_small_object) { interior_case(48, 1, 300); }
TEST(pointer_to_the_middle_keeps_a_mid_size_object) { interior_case(3072, 2000, 400); }
TEST(pointer_to_the_last_byte_keeps_a_mid_size_object) { interior_case(32 * KiB, -1, 500); }
TEST(pointer_to_the_middle_keeps_a_large_object) { interior_case(256 * KiB, 100001, 600); }
TEST(pointer_to_the_last_byte_keeps_a_large_object) { interior_case(256 * KiB, -1, 700); }

/* ---- Interior pointers stored in the heap ------------------------------- */

struct holder {
    void *p;
    uint64_t pad;
};
static const gm_type holder_type = GM_TYPE(struct holder, p);
static void *volatile holder_root;

/* N holders (conservative or typed), each pointing into one 128-byte
 * object (its middle or its last byte); an array of the holders is the
 * only root. */
GC_NOINLINE static void make_held(int typed, atomic_int *fin, uint64_t seed) {
    struct holder **arr = gm_new(N * sizeof *arr);
    if (!arr) return;
    for (int i = 0; i < N; i++) {
        struct holder *h = typed ? gm_new_typed(&holder_type) : gm_new(sizeof *h);
        if (!h) return;
        char *p = gc_make(128, seed + (uint64_t)i, fin);
        h->p = p + (i % 2 ? 127 : 64); /* last byte, or middle */
        h->pad = 0x8000000000000001ull;
        arr[i] = h;
    }
    holder_root = arr;
}

/* Held objects that lost their pattern. In a frame of its own, so that no
 * copy of the array's address stays in the caller (a conservative root). */
GC_NOINLINE static int held_bad(uint64_t seed) {
    struct holder **arr = holder_root;
    int bad = 0;
    for (int i = 0; i < N; i++) {
        const char *base = (const char *)arr[i]->p - (i % 2 ? 127 : 64);
        if (!gc_check(base, 128, seed + (uint64_t)i)) bad++;
    }
    return bad;
}

static void heap_interior_case(int typed, uint64_t seed) {
    static atomic_int fin;
    atomic_store(&fin, 0);
    make_held(typed, &fin, seed);
    REQUIRE(holder_root != NULL);
    gc_clear_stack();
    for (int k = 0; k < 3; k++) {
        gm_gc();
        for (int j = 0; j < N; j++) (void)gc_launder(gm_new(128));
    }
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&fin), 0);
    CHECK_EQ(held_bad(seed), 0);
    holder_root = NULL;
    gc_clear_stack();
    CHECK(gc_wait_count(&fin, N * 9 / 10, GC_WAIT_SECONDS));
}

TEST(interior_pointer_in_a_conservative_object_keeps_the_target) { heap_interior_case(0, 800); }
TEST(interior_pointer_in_a_typed_pointer_field_keeps_the_target) { heap_interior_case(1, 900); }

/* ---- One past the end --------------------------------------------------- */

static void past_end_case(size_t size, int n, uint64_t seed) {
    static atomic_int fin;
    atomic_store(&fin, 0);
    make_referenced(n, size, (long)size, 1, &fin, seed); /* base + size */
    gc_clear_stack();
    CHECK(gc_wait_count(&fin, n * 9 / 10, GC_WAIT_SECONDS));
    if (atomic_load(&fin) < n * 9 / 10)
        fprintf(stderr, "  size %zu: %d of %d objects referenced one past their end "
                "were finalized\n", size, atomic_load(&fin), n);
    drop_refs();
}

TEST(pointer_one_past_the_end_does_not_keep_a_small_object) { past_end_case(64, N, 1000); }
TEST(pointer_one_past_the_end_does_not_keep_a_mid_size_object) { past_end_case(8192, 40, 1100); }
/* 40 KiB: a large object of exactly 5 pages, so base + size is the start
 * of whatever span follows. */
TEST(pointer_one_past_the_end_does_not_keep_a_large_object) { past_end_case(40 * KiB, 20, 1200); }

/* gm_is_collected agrees: inside (first to last byte) yes, outside no. */
TEST(gm_is_collected_covers_exactly_the_object) {
    char *p = gm_new(64);
    char *big = gm_new(40 * KiB);
    REQUIRE(p && big);
    CHECK(gm_is_collected(p));
    CHECK(gm_is_collected(p + 31));
    CHECK(gm_is_collected(p + 63));
    CHECK(gm_is_collected(big));
    CHECK(gm_is_collected(big + 40 * KiB - 1));
    int local;
    CHECK(!gm_is_collected(&local));
    CHECK(!gm_is_collected(NULL));
    void *m = gm_malloc(64);
    CHECK(!gm_is_collected(m));
    gm_free(m);
    gm_keep_alive(p);
    gm_keep_alive(big);
}

TEST_MAIN()
