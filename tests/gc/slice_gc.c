/*
 * Slices and the collector: a slice's backing array is a collected object
 * scanned by its element type. A slice of pointers is the only holder of
 * the objects it points to and keeps them alive across collections; once
 * the slice is dropped they are reclaimed, and so are the arrays append
 * left behind. Pointer-free slices are noscan (an address stored as an
 * integer keeps nothing alive), typed elements are scanned only in their
 * pointer words, and a sub-slice keeps the whole array alive, as in Go.
 */
#include "gc_test.h"
#include "gomalloc/slice.h"

enum { N = 300, OBJ = 64 };

GM_SLICE_DECL_POINTER(ptr_slice, void *);
GM_SLICE_DECL_NOPTRS(word_slice, uintptr_t);

struct pair {
    uintptr_t addr; /* an address, but not a pointer word */
    void *ptr;
};
static const gm_type pair_type = GM_TYPE(struct pair, ptr);
GM_SLICE_DECL(pair_slice, struct pair, &pair_type);

/* Globals are roots: the slice headers the tests keep. */
static ptr_slice kept;
static word_slice kept_words;
static pair_slice kept_pairs;
/* Finalizer counters, one per test: objects a test drops may be finalized
 * during the next one. */
static atomic_int fin_kept, fin_dropped, fin_grown, fin_arrays, fin_sub, fin_words, fin_addr,
    fin_ptr;

/* kept = N objects (pattern seed i, finalizer on fin), appended one at a
 * time: the array grows ~10 times. */
GC_NOINLINE static void fill_kept(atomic_int *fin) {
    kept = ptr_slice_make(0, 0);
    for (int i = 0; i < N; i++) kept = ptr_slice_append(kept, gc_make(OBJ, (uint64_t)i, fin));
}

GC_NOINLINE static int kept_intact(size_t n) {
    if (kept.len != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!gc_check(*ptr_slice_at(kept, i), OBJ, i)) return 0;
    return 1;
}

GC_NOINLINE static void drop_kept(void) { kept = (ptr_slice){0}; }

TEST(slice_of_pointers_keeps_its_elements_alive) {
    fill_kept(&fin_kept);
    gc_clear_stack();
    for (int i = 0; i < 3; i++) gm_gc();
    REQUIRE(gc_settle());
    CHECK_EQ(atomic_load(&fin_kept), 0);
    CHECK(kept_intact(N));
    CHECK(gm_is_collected(kept.array));
}

TEST(dropped_slice_lets_its_elements_be_reclaimed) {
    fill_kept(&fin_dropped);
    drop_kept();
    gc_clear_stack();
    CHECK(gc_wait_count(&fin_dropped, N * 9 / 10, GC_WAIT_SECONDS));
}

/* The array append outgrew, with a finalizer on it: hidden, so only the
 * slice held it. */
GC_NOINLINE static void grow_past_first_array(void) {
    kept = ptr_slice_make(0, 4);
    gm_set_finalizer(kept.array, gc_count_fin, &fin_arrays);
    for (int i = 0; i < N; i++) {
        kept = ptr_slice_append(kept, gc_make(OBJ, (uint64_t)i, &fin_grown));
        if (i % 37 == 0) {
            gc_clear_stack();
            gm_gc();
        }
    }
}

TEST(appends_across_collections_keep_contents_and_free_old_arrays) {
    grow_past_first_array();
    gc_clear_stack();
    for (int i = 0; i < 3; i++) gm_gc();
    CHECK(kept_intact(N));
    REQUIRE(gc_settle());
    CHECK_EQ(atomic_load(&fin_grown), 0);
    /* The first array (cap 4) is garbage once the slice moved on. */
    GC_CHECK_ONE_COLLECTED(&fin_arrays);
    CHECK(kept_intact(N));
    drop_kept();
}

/* A sub-slice points into the middle of the array: the whole array, and
 * every element, stays alive (interior pointers count, as in Go). */
GC_NOINLINE static void keep_middle_only(void) {
    fill_kept(&fin_sub);
    kept = ptr_slice_sub(kept, N / 2, N / 2 + 1);
}

TEST(sub_slice_keeps_the_whole_array_alive) {
    keep_middle_only();
    gc_clear_stack();
    for (int i = 0; i < 3; i++) gm_gc();
    REQUIRE(gc_settle());
    CHECK_EQ(atomic_load(&fin_sub), 0);
    /* Re-extend to the array's end: the elements past the sub-slice are there. */
    ptr_slice rest = ptr_slice_sub(kept, 0, kept.cap);
    for (size_t i = 0; i < N - N / 2; i++)
        CHECK(gc_check(*ptr_slice_at(rest, i), OBJ, N / 2 + i));
    drop_kept();
}

/* ---- what is scanned --------------------------------------------------------- */

GC_NOINLINE static void fill_words(void) {
    kept_words = word_slice_make(0, 0);
    for (int i = 0; i < N; i++)
        kept_words = word_slice_append(kept_words, (uintptr_t)gc_make(OBJ, (uint64_t)i, &fin_words));
}

TEST(pointer_free_slice_is_not_scanned) {
    fill_words();
    gc_clear_stack();
    /* The addresses are all there, as integers: they retain nothing. */
    CHECK(gc_wait_count(&fin_words, N * 9 / 10, GC_WAIT_SECONDS));
    CHECK_EQ(kept_words.len, N);
    kept_words = (word_slice){0};
}

/* Each pair's addr word and ptr word each hold the only reference to one
 * object: fin_addr counts the first kind, fin_ptr the second. */
GC_NOINLINE static void fill_pairs(void) {
    kept_pairs = pair_slice_make(0, 0);
    for (int i = 0; i < N; i++) {
        struct pair p = {(uintptr_t)gc_make(OBJ, (uint64_t)i, &fin_addr),
                         gc_make(OBJ, (uint64_t)i + N, &fin_ptr)};
        kept_pairs = pair_slice_append(kept_pairs, p);
    }
}

/* Not in the test's frame: a debug build would leave the array's address
 * there, out of gc_clear_stack's reach. */
GC_NOINLINE static int pairs_intact(void) {
    for (size_t i = 0; i < N; i++)
        if (!gc_check(pair_slice_at(kept_pairs, i)->ptr, OBJ, i + N)) return 0;
    return 1;
}

TEST(typed_elements_are_scanned_in_their_pointer_words_only) {
    fill_pairs();
    gc_clear_stack();
    CHECK(gc_wait_count(&fin_addr, N * 9 / 10, GC_WAIT_SECONDS));
    CHECK_EQ(atomic_load(&fin_ptr), 0);
    CHECK(pairs_intact());
    kept_pairs = (pair_slice){0};
    gc_clear_stack();
    CHECK(gc_wait_count(&fin_ptr, N * 9 / 10, GC_WAIT_SECONDS));
}

TEST_MAIN()
