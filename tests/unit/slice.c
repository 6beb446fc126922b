/*
 * Go's slices (src/slice.c, include/gomalloc/slice.h): make, append, copy,
 * s[lo:hi:max], indexing and the typed wrappers. Capacities are checked
 * against growslice_table.h, which tests/go/growslice measured in Go with
 * real appends; allocations are counted with MemStats (one object per make
 * of capacity > 0 and per growth, none otherwise); every fatal message is
 * Go's panic text.
 */
#include <stdbool.h>

#include "gomalloc/slice.h"
#include "growslice_table.h"
#include "test.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

static const gm_type i64_type = GM_TYPE_NOPTRS(int64_t);
static const gm_type byte_type = GM_TYPE_NOPTRS(unsigned char);
static const gm_type ptr_type = GM_TYPE_POINTER(void *);
static const gm_type empty_type = {0, 0, NULL, "struct{}", 1};

/* The element types of the Go table: [N]byte (align 1, no pointers), or a
 * struct whose first word is a pointer (align 8). Static: a large typed
 * array keeps its gm_type, which must outlive it. */
static const uint64_t first_word[1] = {1};
static const gm_type *row_type(uint32_t size, bool ptr) {
    static gm_type types[64];
    static size_t ntypes;
    for (size_t i = 0; i < ntypes; i++)
        if (types[i].size == size && (types[i].ptrdata != 0) == ptr) return &types[i];
    if (ntypes == COUNT_OF(types)) abort();
    gm_type *t = &types[ntypes++];
    *t = (gm_type){size, 0, NULL, ptr ? "ptrstruct" : "bytes", 1};
    if (ptr) {
        t->ptrdata = 8;
        t->gcdata = first_word;
        t->align = 8;
    }
    return t;
}

static uint64_t mallocs(void) {
    gm_memstats m;
    gm_read_memstats(&m);
    return m.mallocs;
}

static int gc_kind(const void *p) {
    gm_span_info info;
    if (gm_span_inspect(p, &info) != 0) return -1;
    return info.gc_kind;
}

static size_t slot_size(const void *p) {
    gm_span_info info;
    if (gm_span_inspect(p, &info) != 0) return 0;
    return info.elemsize;
}

/* Go's tiny allocator serves noscan arrays under 16 bytes from a shared
 * 16-byte block: gomalloc's MemStats count the block, not each array (Go's
 * count both), so such an allocation adds 0 or 1 to mallocs. */
static bool tiny(const gm_type *t, size_t cap) { return t->ptrdata == 0 && cap * t->size < 16; }

/* An allocation count of one array of cap elements of t. */
#define CHECK_ONE_ALLOCATION(delta, t, cap)                                   \
    do {                                                                      \
        if (tiny((t), (cap))) CHECK((delta) <= 1);                            \
        else CHECK_EQ((delta), 1);                                            \
    } while (0)

static bool all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

/* ---- make ---------------------------------------------------------------- */

TEST(make_gives_len_cap_and_a_zeroed_collected_array) {
    gm_slice s = gm_make_slice(&i64_type, 3, 10);
    CHECK_EQ(s.len, 3);
    CHECK_EQ(s.cap, 10);
    REQUIRE(s.array != NULL);
    CHECK(gm_is_collected(s.array));
    CHECK(all_zero(s.array, 10 * sizeof(int64_t)));
    CHECK(slot_size(s.array) >= 10 * sizeof(int64_t));
}

TEST(make_of_capacity_zero_allocates_nothing_and_shares_zerobase) {
    uint64_t before = mallocs();
    gm_slice a = gm_make_slice(&i64_type, 0, 0);
    gm_slice b = gm_make_slice(&ptr_type, 0, 0);
    gm_slice c = gm_make_slice(&empty_type, 5, 100);
    CHECK_EQ(mallocs(), before);
    REQUIRE(a.array != NULL);
    CHECK(a.array == b.array);
    CHECK(a.array == c.array);
    CHECK_EQ(a.len, 0);
    CHECK_EQ(a.cap, 0);
    CHECK_EQ(c.len, 5);
    CHECK_EQ(c.cap, 100);
    CHECK(!gm_is_collected(a.array));
    gm_gc();
    gm_slice d = gm_make_slice(&byte_type, 0, 0);
    CHECK(d.array == a.array);
}

TEST(make_pointer_free_elements_is_noscan_pointerful_is_typed) {
    gm_slice n = gm_make_slice(&i64_type, 100, 100);
    gm_slice p = gm_make_slice(&ptr_type, 100, 100);
    gm_slice small = gm_make_slice(&byte_type, 1, 3); /* tiny allocator */
    CHECK_EQ(gc_kind(n.array), GM_GC_NOSCAN);
    CHECK_EQ(gc_kind(p.array), GM_GC_TYPED);
    CHECK_EQ(gc_kind(small.array), GM_GC_NOSCAN);
    gm_slice big = gm_make_slice(&ptr_type, 0, 10000); /* a large span */
    CHECK_EQ(gc_kind(big.array), GM_GC_TYPED);
    CHECK(all_zero(big.array, 10000 * sizeof(void *)));
}

TEST(make_allocates_exactly_one_object_per_nonempty_slice) {
    const gm_type *types[] = {&i64_type, &ptr_type, &byte_type};
    const size_t caps[] = {1, 2, 3, 17, 100, 1000, 5000, 100000};
    for (size_t t = 0; t < COUNT_OF(types); t++)
        for (size_t i = 0; i < COUNT_OF(caps); i++) {
            uint64_t before = mallocs();
            gm_slice s = gm_make_slice(types[t], caps[i] / 2, caps[i]);
            uint64_t after = mallocs();
            CHECK_ONE_ALLOCATION(after - before, types[t], caps[i]);
            CHECK(slot_size(s.array) >= caps[i] * types[t]->size);
        }
}

TEST(make_out_of_range_dies_with_gos_messages_in_gos_order) {
    const gm_type *big = row_type(4096, false);
    size_t max_cap = ((size_t)1 << 48) / 4096; /* maxAlloc / 4096 */
    /* len > cap with sizes in range names cap (Go's makeslice). */
    EXPECT_DEATH(gm_make_slice(&i64_type, 5, 3),
                 "gomalloc: fatal error: makeslice: cap out of range");
    /* cap too big, len fine: cap. */
    EXPECT_DEATH(gm_make_slice(big, 1, max_cap + 1), "makeslice: cap out of range");
    /* Both too big: len is reported (make([]T, huge)). */
    EXPECT_DEATH(gm_make_slice(big, max_cap + 1, max_cap + 1), "makeslice: len out of range");
    EXPECT_DEATH(gm_make_slice(big, max_cap + 1, 0), "makeslice: len out of range");
    EXPECT_DEATH(gm_make_slice(&i64_type, SIZE_MAX / 4, SIZE_MAX / 4),
                 "makeslice: len out of range");
    /* Go's int: a length or capacity above PTRDIFF_MAX is "negative". */
    EXPECT_DEATH(gm_make_slice(&empty_type, 0, SIZE_MAX), "makeslice: cap out of range");
    EXPECT_DEATH(gm_make_slice(&empty_type, SIZE_MAX, SIZE_MAX), "makeslice: len out of range");
    /* The largest array in range is accepted by the checks (maxAlloc). */
    gm_slice ok = gm_make_slice(&empty_type, 3, (size_t)PTRDIFF_MAX);
    CHECK_EQ(ok.cap, (size_t)PTRDIFF_MAX);
}

/* ---- growth capacities: Go's table ----------------------------------------- */

TEST(growslice_cap_equals_go_for_every_one_element_append_in_the_table) {
    size_t checked = 0;
    for (size_t r = 0; r < COUNT_OF(growslice_rows); r++) {
        const struct growslice_row *row = &growslice_rows[r];
        const gm_type *t = row_type(row->size, row->ptr);
        for (size_t c = 0; c <= GROWSLICE_MAX_ROW; c++, checked++) {
            size_t got = gm_growslice_cap(c, c + 1, t);
            if (got != row->one[c]) {
                fprintf(stderr, "  size %u ptr %d oldcap %zu: got %zu, Go %u\n", row->size,
                        row->ptr, c, got, row->one[c]);
                gm_test_failed_current = 1;
            }
        }
    }
    CHECK_EQ(checked, 31 * (GROWSLICE_MAX_ROW + 1));
}

TEST(growslice_cap_equals_go_for_large_and_multi_element_appends) {
    for (size_t i = 0; i < COUNT_OF(growslice_cases); i++) {
        const struct growslice_case *k = &growslice_cases[i];
        const gm_type *t = row_type(k->size, k->ptr);
        size_t got = gm_growslice_cap(k->oldcap, (size_t)k->oldcap + k->count, t);
        if (got != k->newcap) {
            fprintf(stderr, "  size %u ptr %d oldcap %u + %u: got %zu, Go %u\n", k->size,
                    k->ptr, k->oldcap, k->count, got, k->newcap);
            gm_test_failed_current = 1;
        }
    }
}

/* The table must cover both roundupsize branches: a pointerful array over
 * 512 bytes (Go's malloc header) gets less than a naive class rounding. */
TEST(table_covers_the_malloc_header_branch) {
    const gm_type *p72 = row_type(72, true), *n72 = row_type(72, false);
    /* Doubling 8 gives 16 x 72 = 1152 bytes: without pointers that is the
     * 1152-byte class exactly, 16 elements; with them Go adds its 8-byte
     * header, 1160 takes the 1280-byte class, 1272 bytes are usable: 17. */
    CHECK_EQ(gm_growslice_cap(8, 9, n72), 16);
    CHECK_EQ(gm_growslice_cap(8, 9, p72), 17);
    bool differs = false;
    for (size_t r = 0; r < COUNT_OF(growslice_rows); r++)
        for (size_t q = 0; q < COUNT_OF(growslice_rows); q++)
            if (growslice_rows[r].size == growslice_rows[q].size && growslice_rows[r].ptr &&
                !growslice_rows[q].ptr &&
                memcmp(growslice_rows[r].one, growslice_rows[q].one,
                       sizeof growslice_rows[r].one) != 0)
                differs = true;
    CHECK(differs);
}

/* ---- append ---------------------------------------------------------------- */

/* A full slice of c elements of t, element i holding byte pattern i. */
static gm_slice full_slice(const gm_type *t, size_t c) {
    gm_slice s = gm_make_slice(t, c, c);
    unsigned char *b = s.array;
    for (size_t i = 0; i < c * t->size; i++) b[i] = (unsigned char)(i * 7 + 1);
    if (t->ptrdata) /* keep pointer words valid: NULL or a live object */
        for (size_t i = 0; i < c; i++) memset(b + i * t->size, 0, 8);
    return s;
}

static bool same_prefix(const gm_slice *a, const gm_slice *b, size_t bytes) {
    return memcmp(a->array, b->array, bytes) == 0;
}

/* Real appends of one element for every type and old capacities 0..64
 * plus a few larger ones: Go's capacity, one allocation, contents kept,
 * the new tail zeroed, an array whose size class holds the capacity. */
TEST(append_grows_to_gos_capacity_with_one_allocation) {
    static const size_t extra[] = {100, 255, 256, 257, 300, 511, 512, 600};
    for (size_t r = 0; r < COUNT_OF(growslice_rows); r++) {
        const struct growslice_row *row = &growslice_rows[r];
        const gm_type *t = row_type(row->size, row->ptr);
        unsigned char val[4096];
        memset(val, 0x5a, sizeof val);
        if (row->ptr) memset(val, 0, 8);
        for (size_t k = 0; k < 65 + COUNT_OF(extra); k++) {
            size_t c = k < 65 ? k : extra[k - 65];
            gm_slice s = full_slice(t, c);
            uint64_t before = mallocs();
            gm_slice g = gm_append(s, t, val, 1);
            uint64_t after = mallocs();
            CHECK_ONE_ALLOCATION(after - before, t, g.cap);
            CHECK_EQ(g.len, c + 1);
            CHECK_EQ(g.cap, row->one[c]);
            CHECK(g.array != s.array);
            CHECK(same_prefix(&g, &s, c * t->size));
            CHECK(memcmp((char *)g.array + c * t->size, val, t->size) == 0);
            CHECK(all_zero((char *)g.array + g.len * t->size, (g.cap - g.len) * t->size));
            size_t need = g.cap * t->size, slot = slot_size(g.array);
            CHECK(slot >= need);
            /* No capacity left on the table (but tiny blocks are 16 bytes). */
            if (!(need < 16 && !row->ptr)) CHECK(slot - need < t->size + 8);
            CHECK_EQ(gc_kind(g.array), row->ptr ? GM_GC_TYPED : GM_GC_NOSCAN);
        }
    }
}

TEST(append_of_several_elements_grows_to_gos_capacity) {
    static unsigned char vals[1000 * 4096];
    for (size_t i = 0; i < sizeof vals; i++) vals[i] = (unsigned char)(i % 251);
    size_t done = 0;
    for (size_t i = 0; i < COUNT_OF(growslice_cases); i++) {
        const struct growslice_case *k = &growslice_cases[i];
        if (k->count == 1 || k->ptr || (size_t)(k->oldcap + k->count) * k->size > 4u << 20)
            continue;
        const gm_type *t = row_type(k->size, k->ptr);
        gm_slice s = full_slice(t, k->oldcap);
        uint64_t before = mallocs();
        gm_slice g = gm_append(s, t, vals, k->count);
        CHECK_ONE_ALLOCATION(mallocs() - before, t, g.cap);
        CHECK_EQ(g.cap, k->newcap);
        CHECK_EQ(g.len, (size_t)k->oldcap + k->count);
        CHECK(same_prefix(&g, &s, k->oldcap * t->size));
        CHECK(memcmp((char *)g.array + k->oldcap * t->size, vals, k->count * t->size) == 0);
        done++;
    }
    CHECK(done > 100);
}

TEST(append_within_capacity_is_in_place_and_allocates_nothing) {
    gm_slice s = gm_make_slice(&i64_type, 0, 100);
    void *array = s.array;
    uint64_t before = mallocs();
    for (int64_t i = 0; i < 100; i++) s = gm_append(s, &i64_type, &i, 1);
    s = gm_append(s, &i64_type, NULL, 0); /* append(s) with nothing: no growth */
    CHECK_EQ(mallocs(), before);
    CHECK(s.array == array);
    CHECK_EQ(s.len, 100);
    CHECK_EQ(s.cap, 100);
    for (int64_t i = 0; i < 100; i++) CHECK_EQ(GM_SLICE_AT(s, int64_t, i), i);
}

/* From nil, one at a time: the capacities follow the table's chain and
 * there is exactly one allocation per capacity change. */
TEST(append_one_at_a_time_allocates_once_per_growth) {
    for (size_t r = 0; r < COUNT_OF(growslice_rows); r++) {
        const struct growslice_row *row = &growslice_rows[r];
        if (row->size > 256) continue;
        const gm_type *t = row_type(row->size, row->ptr);
        unsigned char val[256] = {0};
        gm_slice s = gm_make_slice(t, 0, 0);
        uint64_t before = mallocs();
        size_t growths = 0, tiny_growths = 0;
        while (s.len < GROWSLICE_MAX_ROW) {
            size_t want = s.len == s.cap ? row->one[s.cap] : s.cap;
            growths += s.len == s.cap;
            tiny_growths += s.len == s.cap && tiny(t, want);
            val[8] = (unsigned char)s.len;
            s = gm_append(s, t, val, 1);
            CHECK_EQ(s.cap, want);
        }
        uint64_t delta = mallocs() - before;
        CHECK(delta >= growths - tiny_growths && delta <= growths);
        for (size_t i = 0; t->size > 8 && i < s.len; i++)
            CHECK_EQ(((unsigned char *)s.array)[i * t->size + 8], (unsigned char)i);
    }
}

TEST(append_of_a_part_of_itself) {
    int64_t v[6] = {0, 1, 2, 3, 4, 5};
    gm_slice s = gm_make_slice(&i64_type, 0, 6);
    s = gm_append(s, &i64_type, v, 6);
    /* In place, overlapping: append(s[:1], s[2:]...) removes element 1. */
    gm_slice t = gm_append(gm_slice_sub2(s, &i64_type, 0, 1), &i64_type,
                           (int64_t *)s.array + 2, 4);
    CHECK(t.array == s.array);
    int64_t want[] = {0, 2, 3, 4, 5};
    CHECK_EQ(t.len, 5);
    CHECK(memcmp(t.array, want, sizeof want) == 0);
    /* Growing: append(s, s...) reads the old array while filling the new. */
    gm_slice d = gm_append(s, &i64_type, s.array, s.len);
    CHECK(d.array != s.array);
    CHECK_EQ(d.len, 12);
    CHECK_EQ(d.cap, 12);
    for (size_t i = 0; i < 12; i++) CHECK_EQ(GM_SLICE_AT(d, int64_t, i), GM_SLICE_AT(s, int64_t, i % 6));
}

TEST(append_leaves_the_old_array_to_other_slices) {
    int64_t one = 1, two = 2;
    gm_slice a = gm_make_slice(&i64_type, 1, 1);
    gm_slice b = gm_append(a, &i64_type, &one, 1);
    GM_SLICE_AT(b, int64_t, 0) = 9;
    CHECK_EQ(GM_SLICE_AT(a, int64_t, 0), 0);
    /* Two appends into the same spare capacity share it, as in Go. */
    gm_slice base = gm_make_slice(&i64_type, 1, 4);
    gm_slice c = gm_append(base, &i64_type, &one, 1);
    gm_slice d = gm_append(base, &i64_type, &two, 1);
    CHECK(c.array == d.array);
    CHECK(c.array == base.array);
    CHECK_EQ(GM_SLICE_AT(c, int64_t, 1), 2);
}

TEST(nil_slice_works_with_every_operation) {
    gm_slice nil = {0};
    CHECK_EQ(gm_slice_copy(nil, nil, &i64_type), 0);
    gm_slice e = gm_slice_sub(nil, &i64_type, 0, 0, 0);
    CHECK(e.array == NULL);
    EXPECT_DEATH((void)GM_SLICE_AT(nil, int64_t, 0), "index out of range [0] with length 0");
    int64_t v = 5;
    gm_slice s = gm_append(nil, &i64_type, &v, 1);
    CHECK_EQ(s.len, 1);
    CHECK_EQ(s.cap, 1);
    CHECK_EQ(GM_SLICE_AT(s, int64_t, 0), 5);
    CHECK(gm_append(nil, &i64_type, NULL, 0).array == NULL); /* append(nil) is nil */
}

TEST(zero_size_elements_never_allocate) {
    gm_slice s = gm_make_slice(&empty_type, 0, 0);
    uint64_t before = mallocs();
    char dummy;
    for (int i = 0; i < 10; i++) s = gm_append(s, &empty_type, &dummy, 3);
    CHECK_EQ(mallocs(), before);
    CHECK_EQ(s.len, 30);
    CHECK_EQ(s.cap, 30); /* growslice gives exactly newLen */
    CHECK_EQ(gm_growslice_cap(4, 1000, &empty_type), 1000);
}

TEST(growth_beyond_max_alloc_dies) {
    const gm_type *big = row_type(4096, false);
    gm_slice s = {NULL, 0, 0};
    EXPECT_DEATH(gm_growslice_cap(0, ((size_t)1 << 36) + 1, big),
                 "gomalloc: fatal error: growslice: len out of range");
    EXPECT_DEATH(gm_growslice_cap(0, SIZE_MAX, &byte_type), "growslice: len out of range");
    EXPECT_DEATH(gm_growslice_cap(0, (size_t)PTRDIFF_MAX + 1, &empty_type),
                 "growslice: len out of range");
    s.len = s.cap = SIZE_MAX - 1;
    EXPECT_DEATH(gm_append(s, &byte_type, "ab", 2), "growslice: len out of range");
    /* Exactly maxAlloc is still allowed: 2^48 bytes of 4 KiB elements. */
    CHECK_EQ(gm_growslice_cap(0, (size_t)1 << 36, big), (size_t)1 << 36);
}

/* ---- copy ------------------------------------------------------------------- */

TEST(copy_moves_the_shorter_length_and_handles_overlap) {
    int64_t v[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    gm_slice s = gm_append(gm_make_slice(&i64_type, 0, 8), &i64_type, v, 8);
    gm_slice d = gm_make_slice(&i64_type, 3, 3);
    CHECK_EQ(gm_slice_copy(d, s, &i64_type), 3);
    CHECK(memcmp(d.array, v, 3 * sizeof *v) == 0);
    /* copy(s[2:], s): forward overlap. */
    CHECK_EQ(gm_slice_copy(gm_slice_sub2(s, &i64_type, 2, 8), s, &i64_type), 6);
    int64_t fwd[] = {0, 1, 0, 1, 2, 3, 4, 5};
    CHECK(memcmp(s.array, fwd, sizeof fwd) == 0);
    /* copy(s, s[3:]): backward overlap. */
    CHECK_EQ(gm_slice_copy(s, gm_slice_sub2(s, &i64_type, 3, 8), &i64_type), 5);
    int64_t back[] = {1, 2, 3, 4, 5, 3, 4, 5};
    CHECK(memcmp(s.array, back, sizeof back) == 0);
    CHECK_EQ(gm_slice_copy(gm_make_slice(&i64_type, 0, 0), s, &i64_type), 0);
    CHECK_EQ(gm_slice_copy(s, s, &i64_type), 8);
}

/* ---- slicing ---------------------------------------------------------------- */

TEST(sub_slices_share_the_array) {
    gm_slice s = gm_make_slice(&i64_type, 5, 8);
    for (int64_t i = 0; i < 5; i++) GM_SLICE_AT(s, int64_t, i) = i;
    gm_slice t = gm_slice_sub(s, &i64_type, 1, 3, 6);
    CHECK(t.array == (int64_t *)s.array + 1);
    CHECK_EQ(t.len, 2);
    CHECK_EQ(t.cap, 5);
    CHECK_EQ(GM_SLICE_AT(t, int64_t, 1), 2);
    /* Up to cap, past len: s[2:7] sees the zeroed spare capacity. */
    gm_slice u = gm_slice_sub2(s, &i64_type, 2, 7);
    CHECK_EQ(u.len, 5);
    CHECK_EQ(u.cap, 6);
    CHECK_EQ(GM_SLICE_AT(u, int64_t, 4), 0);
    /* A 3-index slice caps appends: they copy instead of overwriting s. */
    int64_t x = 99;
    gm_slice w = gm_append(gm_slice_sub(s, &i64_type, 0, 2, 2), &i64_type, &x, 1);
    CHECK(w.array != s.array);
    CHECK_EQ(GM_SLICE_AT(s, int64_t, 2), 2);
    /* Capacity 0 keeps the base, never one past the end of the array. */
    gm_slice e = gm_slice_sub2(s, &i64_type, 8, 8);
    CHECK(e.array == s.array);
    CHECK_EQ(e.len, 0);
    CHECK_EQ(e.cap, 0);
    gm_slice f = gm_slice_sub(s, &i64_type, 4, 4, 4);
    CHECK(f.array == s.array);
    gm_slice g = gm_slice_sub(s, &i64_type, 4, 4, 5);
    CHECK(g.array == (int64_t *)s.array + 4);
}

TEST(sub_out_of_bounds_dies_with_gos_messages) {
    gm_slice s = gm_make_slice(&i64_type, 3, 3);
    gm_slice c5 = gm_make_slice(&i64_type, 5, 5);
    EXPECT_DEATH(gm_slice_sub2(s, &i64_type, 0, 5),
                 "gomalloc: fatal error: slice bounds out of range [:5] with capacity 3\n");
    EXPECT_DEATH(gm_slice_sub2(s, &i64_type, 3, 2), "slice bounds out of range [3:2]\n");
    EXPECT_DEATH(gm_slice_sub(c5, &i64_type, 0, 1, 7),
                 "slice bounds out of range [::7] with capacity 5\n");
    EXPECT_DEATH(gm_slice_sub(c5, &i64_type, 0, 4, 3), "slice bounds out of range [:4:3]\n");
    EXPECT_DEATH(gm_slice_sub(c5, &i64_type, 3, 2, 4), "slice bounds out of range [3:2:]\n");
    /* The rightmost failing bound is reported, as Go checks them. */
    EXPECT_DEATH(gm_slice_sub(c5, &i64_type, 9, 8, 7), "[::7] with capacity 5\n");
    EXPECT_DEATH(gm_slice_sub(c5, &i64_type, 9, 8, 5), "slice bounds out of range [:8:5]\n");
    EXPECT_DEATH(gm_slice_sub2(s, &i64_type, 9, 8), "[:8] with capacity 3\n");
    EXPECT_DEATH(gm_slice_sub2(s, &i64_type, SIZE_MAX, 3),
                 "slice bounds out of range [18446744073709551615:3]\n");
    /* Bounds are against cap, not len. */
    gm_slice ok = gm_slice_sub2(gm_make_slice(&i64_type, 1, 4), &i64_type, 4, 4);
    CHECK_EQ(ok.len, 0);
}

/* ---- indexing ---------------------------------------------------------------- */

TEST(index_is_an_lvalue_checked_against_len) {
    gm_slice s = gm_make_slice(&i64_type, 3, 10);
    GM_SLICE_AT(s, int64_t, 2) = 7;
    GM_SLICE_AT(s, int64_t, 2) += 1;
    int64_t *p = &GM_SLICE_AT(s, int64_t, 0);
    CHECK(p == s.array);
    CHECK_EQ(((int64_t *)s.array)[2], 8);
    EXPECT_DEATH(GM_SLICE_AT(s, int64_t, 3) = 1,
                 "gomalloc: fatal error: index out of range [3] with length 3\n");
    gm_slice big = gm_make_slice(&i64_type, 3, 3);
    EXPECT_DEATH((void)GM_SLICE_AT(big, int64_t, 5), "index out of range [5] with length 3\n");
    gm_slice empty = gm_make_slice(&i64_type, 0, 0);
    EXPECT_DEATH((void)GM_SLICE_AT(empty, int64_t, 0), "index out of range [0] with length 0\n");
    EXPECT_DEATH(gm_panic_index(12345678901234, 0),
                 "index out of range [12345678901234] with length 0\n");
}

/* ---- typed slices --------------------------------------------------------------- */

struct point {
    int32_t x, y;
    const char *label;
};
static const gm_type point_type = GM_TYPE(struct point, label);

GM_SLICE_DECL_NOPTRS(int_slice, int64_t);
GM_SLICE_DECL_POINTER(str_slice, char *);
GM_SLICE_DECL(point_slice, struct point, &point_type);

TEST(typed_slices_pass_the_type_for_you) {
    int_slice s = int_slice_make(0, 0);
    uint64_t before = mallocs();
    size_t growths = 0;
    for (int64_t i = 0; i < 1000; i++) {
        growths += s.len == s.cap;
        s = int_slice_append(s, i * 3);
    }
    uint64_t delta = mallocs() - before; /* the first array, 8 bytes, is tiny */
    CHECK(delta == growths || delta == growths - 1);
    CHECK_EQ(s.len, 1000);
    size_t want = 0;
    while (want < 1000) want = gm_growslice_cap(want, want + 1, &int_slice_elem);
    CHECK_EQ(s.cap, want);
    CHECK_EQ(*int_slice_at(s, 999), 2997);
    *int_slice_at(s, 0) = -1;
    CHECK_EQ(s.array[0], -1);
    CHECK_EQ(gc_kind(s.array), GM_GC_NOSCAN);

    int64_t more[3] = {7, 8, 9};
    int_slice t = int_slice_append_n(int_slice_make(0, 3), more, 3);
    CHECK_EQ(t.len, 3);
    t = int_slice_append_slice(t, int_slice_sub(s, 1, 3));
    CHECK_EQ(t.len, 5);
    CHECK_EQ(t.array[4], 6);
    int_slice u = int_slice_sub3(t, 1, 2, 2);
    CHECK_EQ(u.cap, 1);
    CHECK_EQ(int_slice_copy(u, s), 1);
    CHECK_EQ(t.array[1], -1);
    gm_slice g = int_slice_untyped(t);
    CHECK(g.array == t.array);
    CHECK(int_slice_typed(g).array == t.array);
    EXPECT_DEATH(int_slice_at(t, 5), "index out of range [5] with length 5");
    EXPECT_DEATH(int_slice_sub(t, 0, 9), "slice bounds out of range [:9] with capacity 6");
    EXPECT_DEATH(int_slice_make(2, 1), "makeslice: cap out of range");
}

TEST(typed_slices_of_pointers_and_structs_are_scanned) {
    str_slice s = str_slice_make(0, 4);
    CHECK_EQ(gc_kind(s.array), GM_GC_TYPED);
    char *hello = gm_new(16);
    strcpy(hello, "hello");
    s = str_slice_append(s, hello);
    CHECK(*str_slice_at(s, 0) == hello);

    point_slice p = point_slice_make(0, 0);
    for (int i = 0; i < 10; i++) p = point_slice_append(p, (struct point){i, -i, "pt"});
    CHECK_EQ(p.len, 10);
    CHECK_EQ(p.cap, 16); /* 0, 1, 2, 4, 8, 16 */
    CHECK_EQ(point_slice_at(p, 9)->y, -9);
    CHECK_EQ(gc_kind(p.array), GM_GC_TYPED);
}

/* ---- the table is what the installed Go prints ------------------------------------ */

/* Bytes of a file or of a command's output, first line dropped (it names
 * the Go release). NULL if it could not be read. */
static char *read_all(FILE *f) {
    size_t cap = 1 << 18, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    if (!buf) return NULL;
    buf[n] = 0;
    char *nl = strchr(buf, '\n');
    memmove(buf, nl ? nl + 1 : buf + n, strlen(nl ? nl + 1 : buf + n) + 1);
    return buf;
}

/* Go 1.22 or later (the growth rule and roundupsize the table holds). */
static bool go_is_recent(void) {
    FILE *v = popen("go version 2>/dev/null", "r");
    if (!v) return false;
    char line[256] = "";
    int major = 0, minor = 0;
    bool ok = fgets(line, sizeof line, v) != NULL;
    pclose(v);
    const char *g = ok ? strstr(line, " go1.") : NULL;
    return g && sscanf(g, " go%d.%d", &major, &minor) == 2 && (major > 1 || minor >= 22);
}

TEST(committed_table_equals_what_installed_go_prints) {
#ifdef GM_SOURCE_DIR
    if (!go_is_recent()) {
        printf("  skipped: no go (1.22 or later) in PATH\n");
        return;
    }
    FILE *f = fopen(GM_SOURCE_DIR "/tests/unit/growslice_table.h", "r");
    REQUIRE(f != NULL);
    char *committed = read_all(f);
    fclose(f);
    FILE *p = popen("cd '" GM_SOURCE_DIR "/tests/go/growslice' && GOFLAGS=-mod=mod "
                    "GOTOOLCHAIN=local go run . 2>&1", "r");
    REQUIRE(p != NULL);
    char *fresh = read_all(p);
    int status = pclose(p);
    REQUIRE(committed && fresh);
    if (status != 0) {
        printf("  skipped: go run failed: %.300s\n", fresh);
    } else if (strcmp(committed, fresh) != 0) {
        fprintf(stderr, "  tests/unit/growslice_table.h differs from what go prints: "
                        "regenerate it (see tests/go/growslice/main.go)\n");
        gm_test_failed_current = 1;
    }
    free(committed);
    free(fresh);
#else
    printf("  skipped: GM_SOURCE_DIR unknown\n");
#endif
}

TEST_MAIN()
