/*
 * Go's map (gomalloc/map.h): each operation, growth and evacuation as seen
 * through gm_map_inspect, and the exact objects allocated, derived from Go
 * 1.23's runtime/map.go (the reasoning is next to each count). Counts come
 * from gm_read_memstats' mallocs, which counts every collected object.
 *
 * Deterministic layouts use a GM_KEY_CUSTOM map whose hash is the key
 * itself: key k goes to bucket k mod 2^B, and its tophash is k's top byte
 * (0 here, raised to minTopHash 5).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "gomalloc/map.h"
#include "test.h"

static uint64_t ident_hash(const void *k, uint64_t seed) {
    (void)seed;
    uint64_t v;
    memcpy(&v, k, 8);
    return v;
}
static bool u64_equal(const void *a, const void *b) { return memcmp(a, b, 8) == 0; }

static const gm_type u64_type = GM_TYPE_NOPTRS(uint64_t);
static const gm_type intptr_type = GM_TYPE_POINTER(int64_t *);

static const gm_maptype i64_map = GM_MAPTYPE(int64_t, int64_t);
static const gm_maptype i32_map = GM_MAPTYPE(int32_t, int32_t);
static const gm_maptype i8_map = GM_MAPTYPE(int8_t, uint16_t);
static const gm_maptype i16_map = GM_MAPTYPE(int16_t, int64_t);
static const gm_maptype ptrval_map =
    GM_MAPTYPE_KV(GM_TYPE_NOPTRS(int64_t), GM_TYPE_POINTER(int64_t *), GM_KEY_MEM);
static const gm_maptype ptrkey_map =
    GM_MAPTYPE_KV(GM_TYPE_POINTER(void *), GM_TYPE_NOPTRS(int64_t), GM_KEY_MEM);
static const gm_maptype str_map = GM_MAPTYPE_STRING(int64_t);
/* map[uint64]uint64 with the identity hash: pointer-free buckets */
static const gm_maptype ident_map =
    GM_MAPTYPE_OF(&u64_type, &u64_type, GM_KEY_CUSTOM, ident_hash, u64_equal);
/* map[uint64]*int64 with the identity hash: scanned buckets */
static const gm_maptype ident_ptr_map =
    GM_MAPTYPE_OF(&u64_type, &intptr_type, GM_KEY_CUSTOM, ident_hash, u64_equal);

struct bytes20 { unsigned char b[20]; };
static const gm_maptype bytes_map = GM_MAPTYPE(struct bytes20, int64_t);
struct big { uint64_t w[25]; }; /* 200 bytes: stored indirectly */
static const gm_maptype bigkey_map = GM_MAPTYPE(struct big, int64_t);
static const gm_maptype bigval_map = GM_MAPTYPE(int64_t, struct big);
static const gm_maptype bigboth_map = GM_MAPTYPE(struct big, struct big);

static uint64_t mallocs(void) {
    gm_memstats m;
    gm_read_memstats(&m);
    return m.mallocs;
}

static gm_map_info info(const gm_map *m) {
    gm_map_info i;
    gm_map_inspect(m, &i);
    return i;
}

static void set_u64(gm_map *m, uint64_t k, uint64_t v) { *(uint64_t *)gm_map_assign(m, &k) = v; }

/* ---- make: Go's makemap --------------------------------------------------------- */

/* makemap picks the least B with !overLoadFactor(hint, B), i.e. hint <= 8
 * or hint <= 13 * 2^B / 2: hint 9 -> B 1, 100 -> B 4 (104), 1000 -> B 8
 * (1664). new(hmap) always; makeBucketArray only for B > 0; for B >= 4 it
 * adds 2^(B-4) overflow buckets and rounds the bytes up to the size class
 * (map[int64]int64: 144-byte buckets, noscan):
 *   B 4: 17 * 144 = 2448 -> class 2688 -> 18 buckets, 2 spare -> mapextra
 *   B 8: 272 * 144 = 39168 -> large, 5 pages = 40960 -> 284 buckets
 * so Go allocates hmap; hmap + array; hmap + array + mapextra. */
TEST(make_with_hint_allocates_like_go) {
    static const struct { size_t hint; uint64_t objs; unsigned B; size_t nb; size_t spare; } c[] = {
        {0, 1, 0, 0, 0}, {8, 1, 0, 0, 0}, {9, 2, 1, 2, 0}, {100, 3, 4, 18, 2}, {1000, 3, 8, 284, 28},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        uint64_t before = mallocs();
        gm_map *m = gm_make_map(&i64_map, c[i].hint);
        CHECK_EQ(mallocs() - before, c[i].objs);
        gm_map_info in = info(m);
        CHECK_EQ(in.B, c[i].B);
        CHECK_EQ(in.count, 0);
        CHECK_EQ(in.bucket_size, 144);
        CHECK_EQ(in.buckets_bytes, c[i].nb * 144);
        CHECK_EQ(in.prealloc_free, c[i].spare);
        CHECK_EQ(in.has_extra, c[i].spare != 0);
        CHECK((in.buckets == NULL) == (c[i].nb == 0));
    }
}

/* Pointerful buckets: Go 1.22+ counts an 8-byte malloc header in
 * roundupsize above 512 bytes: 2448 + 8 -> 2688, minus the header 2680
 * -> still 18 buckets of 144 bytes. */
TEST(make_pointerful_map_rounds_with_go_malloc_header) {
    uint64_t before = mallocs();
    gm_map *m = gm_make_map(&ptrval_map, 100);
    CHECK_EQ(mallocs() - before, 3);
    CHECK_EQ(info(m).buckets_bytes, 18 * 144);
}

TEST(first_assign_allocates_the_single_bucket) {
    gm_map *m = gm_make_map(&i64_map, 0);
    CHECK(info(m).buckets == NULL);
    uint64_t before = mallocs();
    int64_t k = 7;
    *(int64_t *)gm_map_assign(m, &k) = 70;
    CHECK_EQ(mallocs() - before, 1); /* mapassign: h.buckets = newobject(t.bucket) */
    CHECK(info(m).buckets != NULL);
    before = mallocs();
    for (k = 0; k < 8; k++) *(int64_t *)gm_map_assign(m, &k) = k;
    CHECK_EQ(mallocs() - before, 0);
    CHECK_EQ(info(m).B, 0);
}

/* ---- growth ------------------------------------------------------------------ */

/* Sequential keys under the identity hash spread evenly (never more than 7
 * per bucket below the load factor), so the only allocations are the
 * first bucket and one array per doubling: inserting key n+1 grows when
 * n+1 > 8 and n+1 > 6.5 * 2^B: at keys 9, 14, 27, 53, 105, 209, 417, 833.
 * The B 4 array has spare overflow buckets, so that grow also allocates
 * mapextra (hashGrow: h.extra == nil). 1000 keys: 1 + 8 + 1 objects. */
TEST(inserting_past_the_load_factor_allocates_like_go) {
    gm_map *m = gm_make_map(&ident_map, 0);
    static const uint64_t grow_at[] = {9, 14, 27, 53, 105, 209, 417, 833};
    size_t g = 0;
    for (uint64_t k = 0; k < 1000; k++) {
        uint64_t before = mallocs();
        unsigned B = info(m).B;
        set_u64(m, k, k * 3);
        uint64_t got = mallocs() - before, want = 0;
        if (k == 0) want = 1;
        if (g < 8 && k + 1 == grow_at[g]) {
            want = k + 1 == 53 ? 2 : 1;
            CHECK_EQ(info(m).B, B + 1);
            g++;
        } else {
            CHECK_EQ(info(m).B, B);
        }
        if (got != want) fprintf(stderr, "  key %" PRIu64 "\n", k);
        CHECK_EQ(got, want);
        CHECK_EQ(info(m).noverflow, 0);
    }
    CHECK_EQ(gm_map_len(m), 1000);
    for (uint64_t k = 0; k < 1000; k++) {
        uint64_t *v = gm_map_access(m, &k);
        REQUIRE(v != NULL);
        CHECK_EQ(*v, k * 3);
    }
}

/* Growth is incremental: the write that starts it (key 53, bucket 4 of
 * 16) evacuates old bucket 4 and old bucket nevacuate = 0; each later
 * write its own old bucket and the next nevacuate. After keys 54, 55, 56
 * (old buckets 5, 6, 7 and 1, 2, 3) every old bucket is evacuated and
 * advanceEvacuationMark ends the grow. */
TEST(evacuation_is_incremental_and_visible) {
    gm_map *m = gm_make_map(&ident_map, 0);
    for (uint64_t k = 0; k < 52; k++) set_u64(m, k, k);
    gm_map_info in = info(m);
    CHECK_EQ(in.B, 3);
    CHECK(!in.growing);
    set_u64(m, 52, 52);
    in = info(m);
    CHECK_EQ(in.B, 4);
    CHECK(in.growing);
    CHECK(!in.same_size_grow);
    CHECK_EQ(in.noldbuckets, 8);
    CHECK_EQ(in.nevacuate, 1);
    for (uint64_t k = 53; k < 55; k++) {
        set_u64(m, k, k);
        CHECK(info(m).growing);
        CHECK_EQ(info(m).nevacuate, k - 51);
    }
    /* reads during the grow find keys in old and new buckets */
    for (uint64_t k = 0; k < 55; k++) {
        uint64_t *v = gm_map_access(m, &k);
        REQUIRE(v != NULL);
        CHECK_EQ(*v, k);
    }
    set_u64(m, 55, 55);
    in = info(m);
    CHECK(!in.growing);
    CHECK_EQ(in.nevacuate, 8);
    CHECK_EQ(in.noldbuckets, 0);
    /* deletes drive evacuation too */
    for (uint64_t k = 56; k < 105; k++) set_u64(m, k, k);
    CHECK(info(m).growing); /* key 105 (index 104): B 5 */
    uint64_t gone = 1000;
    CHECK(!gm_map_delete(m, &gone));
    CHECK_EQ(info(m).nevacuate, 2);
}

/* Overflow buckets of a pointer-free map (all keys in bucket 0: n << 16),
 * following Go's mapassign/hashGrow/evacuate/newoverflow step by step.
 * The grow check (overLoadFactor or tooManyOverflowBuckets) comes before
 * any new key is stored, whether or not the chain has room:
 *  key 1: the single bucket (1).
 *  key 9: overLoadFactor(9, 0) -> hashGrow to B 1 (array, 1); evacuation
 *    puts the 8 keys in new bucket 0, which is full, so newoverflow: a
 *    bucket (1), then createOverflow: new(mapextra) (1), new([]*bmap) (1),
 *    and the append to it (growslice 0 -> cap 1: 1) = 5.
 *  key 14: 14 > 13 -> B 2 (1); extra.overflow moves to oldoverflow;
 *    evacuating 13 keys to bucket 0 needs an overflow bucket (1), a new
 *    slice header (1), its append (1); old bucket 1 is empty, the grow
 *    ends; the key fits in the overflow bucket = 4.
 *  key 17: chain full: overflow bucket (1), append cap 1 -> 2 (1) = 2.
 *  key 25: the same, append cap 2 -> 4 = 2.
 *  key 27: 27 > 26 -> B 3 (1); evacuating 26 keys: 3 overflow buckets
 *    (3), a slice header (1), appends to cap 1, 2, 4 (3); the key fits = 8.
 *  key 33: chain full, no grow (33 <= 52, 3 overflow < 8 buckets): an
 *    overflow bucket (1), the append fits (len 4, cap 4) = 1.
 *  key 41: overflow bucket (1), append cap 4 -> 8 (1) = 2.  key 49: 1.
 *  key 53: 53 > 52 -> B 4: 18 buckets, 2 of them spare (1; mapextra
 *    exists); evacuating 52 keys needs 6 overflow buckets: the 2 spares
 *    (0) and 4 from the heap (4), a slice header (1), appends to cap 1, 2,
 *    4, 8 (4) = 10; the grow goes on (old buckets 0 and 1 done). */
TEST(overflow_buckets_of_noscan_map_allocate_like_go) {
    gm_map *m = gm_make_map(&ident_map, 0);
    uint64_t want[54] = {0};
    want[1] = 1, want[9] = 5, want[14] = 4, want[17] = 2, want[25] = 2, want[27] = 8;
    want[33] = 1, want[41] = 2, want[49] = 1, want[53] = 10;
    for (uint64_t n = 1; n < 54; n++) {
        uint64_t before = mallocs();
        set_u64(m, n << 16, n);
        uint64_t got = mallocs() - before;
        if (got != want[n]) fprintf(stderr, "  key %" PRIu64 "\n", n);
        CHECK_EQ(got, want[n]);
        if (n == 49) {
            gm_map_info in = info(m);
            CHECK_EQ(in.B, 3);
            CHECK(!in.growing);
            CHECK_EQ(in.noverflow, 6);
            CHECK_EQ(in.overflow_list, 6);
        }
    }
    gm_map_info in = info(m);
    CHECK_EQ(in.B, 4);
    CHECK(in.growing);
    CHECK_EQ(in.nevacuate, 2);
    CHECK_EQ(in.noverflow, 6);
    CHECK_EQ(in.overflow_list, 6);
    CHECK_EQ(in.prealloc_free, 0);
    for (uint64_t n = 1; n < 54; n++) {
        uint64_t k = n << 16, *v = gm_map_access(m, &k);
        REQUIRE(v != NULL);
        CHECK_EQ(*v, n);
    }
}

/* Scanned buckets keep their overflow buckets through the overflow
 * pointer itself: no mapextra, no list. key 9: grow (1) + overflow bucket (1). */
TEST(overflow_buckets_of_scanned_map_need_no_extra) {
    gm_map *m = gm_make_map(&ident_ptr_map, 0);
    for (uint64_t n = 1; n <= 8; n++) {
        uint64_t k = n << 16;
        gm_map_assign(m, &k);
    }
    uint64_t before = mallocs();
    uint64_t k = 9 << 16;
    gm_map_assign(m, &k);
    CHECK_EQ(mallocs() - before, 2);
    CHECK(!info(m).has_extra);
    CHECK_EQ(info(m).noverflow, 1);
}

/* Preallocated overflow buckets are used before heap ones: a map made
 * with hint 100 (B 4, 2 spare) takes its first two overflow buckets from
 * the array: only the list grows (append: 1, then 1 for cap 2). */
TEST(preallocated_overflow_buckets_come_first) {
    gm_map *m = gm_make_map(&ident_map, 100);
    CHECK_EQ(info(m).prealloc_free, 2);
    for (uint64_t n = 0; n < 8; n++) set_u64(m, n << 16, n);
    uint64_t before = mallocs();
    set_u64(m, 8 << 16, 8); /* spare 1; createOverflow's slice header + append */
    CHECK_EQ(mallocs() - before, 2);
    CHECK_EQ(info(m).prealloc_free, 1);
    for (uint64_t n = 9; n < 16; n++) set_u64(m, n << 16, n);
    before = mallocs();
    set_u64(m, 16 << 16, 16); /* spare 2 (the last) + append to cap 2 */
    CHECK_EQ(mallocs() - before, 1);
    CHECK_EQ(info(m).prealloc_free, 0);
    for (uint64_t n = 17; n < 24; n++) set_u64(m, n << 16, n);
    before = mallocs();
    set_u64(m, 24 << 16, 24); /* from the heap now + append to cap 4 */
    CHECK_EQ(mallocs() - before, 2);
    CHECK_EQ(info(m).noverflow, 3);
}

/* Go's same-size grow: as many overflow buckets as buckets (4 at B 2)
 * while under the load factor, made by filling each bucket to 9 keys and
 * deleting 8. The next new key regrows at B 2, compacting the chains. */
TEST(too_many_overflow_buckets_regrow_at_the_same_size) {
    gm_map *m = gm_make_map(&ident_map, 20);
    REQUIRE(info(m).B == 2);
    for (uint64_t j = 0; j < 4; j++) {
        for (uint64_t i = 0; i < 9; i++) set_u64(m, j + 4 * (i + 1) * 16, i);
        for (uint64_t i = 0; i < 8; i++) {
            uint64_t k = j + 4 * (i + 1) * 16;
            CHECK(gm_map_delete(m, &k));
        }
    }
    gm_map_info in = info(m);
    CHECK_EQ(in.noverflow, 4);
    CHECK_EQ(in.count, 4);
    CHECK(!in.growing);
    uint64_t before = mallocs();
    set_u64(m, 1000 * 4, 1);
    CHECK_EQ(mallocs() - before, 1); /* the new 4-bucket array only */
    in = info(m);
    CHECK_EQ(in.B, 2);
    CHECK(in.growing);
    CHECK(in.same_size_grow);
    set_u64(m, 8001, 1); /* bucket 1: evacuates old 1 (done) and 2 */
    CHECK(info(m).growing);
    set_u64(m, 8002, 2); /* bucket 2: old 3, the last */
    in = info(m);
    CHECK(!in.growing);
    CHECK(!in.same_size_grow);
    CHECK_EQ(in.noverflow, 0);
    CHECK_EQ(in.count, 7);
    for (uint64_t j = 0; j < 4; j++) {
        uint64_t k = j + 4 * 9 * 16, *v = gm_map_access(m, &k);
        REQUIRE(v != NULL);
        CHECK_EQ(*v, 8);
    }
}

/* ---- operations --------------------------------------------------------------- */

TEST(assign_access_delete_len_int64) {
    gm_map *m = gm_make_map(&i64_map, 0);
    for (int64_t k = -500; k < 500; k++) {
        int64_t *v = gm_map_assign(m, &k);
        CHECK_EQ(*v, 0); /* a new key's value is zero */
        *v = k * 2;
    }
    CHECK_EQ(gm_map_len(m), 1000);
    for (int64_t k = -500; k < 500; k++) {
        int64_t *v = gm_map_access(m, &k);
        REQUIRE(v != NULL);
        CHECK_EQ(*v, k * 2);
    }
    int64_t miss = 12345;
    CHECK(gm_map_access(m, &miss) == NULL);
    for (int64_t k = -500; k < 500; k += 2) CHECK(gm_map_delete(m, &k));
    for (int64_t k = -500; k < 500; k += 2) CHECK(!gm_map_delete(m, &k));
    CHECK_EQ(gm_map_len(m), 500);
    for (int64_t k = -500; k < 500; k++) CHECK((gm_map_access(m, &k) != NULL) == (k % 2 != 0));
    /* reinsert: the deleted slots' values were cleared */
    for (int64_t k = -500; k < 500; k += 2) CHECK_EQ(*(int64_t *)gm_map_assign(m, &k), 0);
    CHECK_EQ(gm_map_len(m), 1000);
    /* overwrite keeps the count */
    int64_t k = 3;
    *(int64_t *)gm_map_assign(m, &k) = 99;
    CHECK_EQ(*(int64_t *)gm_map_access(m, &k), 99);
    CHECK_EQ(gm_map_len(m), 1000);
}

TEST(small_integer_keys_of_every_width) {
    gm_map *m8 = gm_make_map(&i8_map, 0), *m16 = gm_make_map(&i16_map, 0),
           *m32 = gm_make_map(&i32_map, 0);
    for (int i = -128; i < 128; i++) {
        int8_t k = (int8_t)i;
        *(uint16_t *)gm_map_assign(m8, &k) = (uint16_t)(i + 1000);
    }
    for (int i = -3000; i < 3000; i++) {
        int16_t k16 = (int16_t)i;
        int32_t k32 = i * 65537;
        *(int64_t *)gm_map_assign(m16, &k16) = i;
        *(int32_t *)gm_map_assign(m32, &k32) = i;
    }
    CHECK_EQ(gm_map_len(m8), 256);
    CHECK_EQ(gm_map_len(m16), 6000);
    CHECK_EQ(gm_map_len(m32), 6000);
    for (int i = -128; i < 128; i++) {
        int8_t k = (int8_t)i;
        CHECK_EQ(*(uint16_t *)gm_map_access(m8, &k), (uint16_t)(i + 1000));
    }
    for (int i = -3000; i < 3000; i++) {
        int16_t k16 = (int16_t)i;
        int32_t k32 = i * 65537;
        CHECK_EQ(*(int64_t *)gm_map_access(m16, &k16), (uint64_t)(int64_t)i);
        CHECK_EQ(*(int32_t *)gm_map_access(m32, &k32), (int64_t)i);
        CHECK(gm_map_delete(m32, &k32));
    }
    CHECK_EQ(gm_map_len(m32), 0);
}

TEST(pointer_and_byte_array_keys) {
    gm_map *mp = gm_make_map(&ptrkey_map, 0), *mb = gm_make_map(&bytes_map, 0);
    static int64_t cells[300];
    for (int i = 0; i < 300; i++) {
        void *k = &cells[i];
        *(int64_t *)gm_map_assign(mp, &k) = i;
        struct bytes20 b;
        memset(&b, 0, sizeof b);
        snprintf((char *)b.b, sizeof b.b, "key-%d", i);
        *(int64_t *)gm_map_assign(mb, &b) = i;
    }
    for (int i = 0; i < 300; i++) {
        void *k = &cells[i];
        CHECK_EQ(*(int64_t *)gm_map_access(mp, &k), i);
        struct bytes20 b;
        memset(&b, 0, sizeof b);
        snprintf((char *)b.b, sizeof b.b, "key-%d", i);
        CHECK_EQ(*(int64_t *)gm_map_access(mb, &b), i);
        b.b[19] = 1;
        CHECK(gm_map_access(mb, &b) == NULL);
    }
}

/* Strings are compared by content; the map stores the header only, and an
 * assignment with an equal string stores the new header (Go updates the
 * key so the old bytes can be collected). */
TEST(string_keys_compare_by_content_and_are_not_copied) {
    gm_map *m = gm_make_map(&str_map, 0);
    char a[16] = "hello", b[16] = "hello";
    gm_string ka = {a, 5}, kb = {b, 5};
    *(int64_t *)gm_map_assign(m, &ka) = 1;
    *(int64_t *)gm_map_assign(m, &kb) += 1;
    CHECK_EQ(gm_map_len(m), 1);
    CHECK_EQ(*(int64_t *)gm_map_access(m, &ka), 2);
    gm_map_iter it;
    gm_map_iter_init(&it, m);
    REQUIRE(it.key != NULL);
    CHECK(((gm_string *)it.key)->ptr == b); /* the header of the last assign */
    gm_string hell = {a, 4}, empty = {"", 0};
    CHECK(gm_map_access(m, &hell) == NULL);
    *(int64_t *)gm_map_assign(m, &empty) = 7;
    CHECK_EQ(*(int64_t *)gm_map_access(m, &empty), 7);
    char buf[64];
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(buf, sizeof buf, "string number %d with some length", i);
        char *p = gm_new_noscan((size_t)n);
        memcpy(p, buf, (size_t)n);
        gm_string k = {p, (size_t)n};
        *(int64_t *)gm_map_assign(m, &k) = i;
    }
    CHECK_EQ(gm_map_len(m), 2002);
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(buf, sizeof buf, "string number %d with some length", i);
        gm_string k = {buf, (size_t)n};
        int64_t *v = gm_map_access(m, &k);
        REQUIRE(v != NULL);
        CHECK_EQ(*v, i);
    }
}

/* Keys and values over 128 bytes live in objects of their own: one
 * allocation each per new entry (Go's mapassign: newobject(t.key),
 * newobject(t.elem)), none for an update. */
TEST(big_keys_and_values_are_indirect) {
    gm_map *mk = gm_make_map(&bigkey_map, 16), *mv = gm_make_map(&bigval_map, 16),
           *mkv = gm_make_map(&bigboth_map, 16);
    CHECK_EQ(info(mk).bucket_size, 8 + 64 + 64 + 8);
    CHECK_EQ(info(mkv).bucket_size, 8 + 64 + 64 + 8);
    struct big key;
    memset(&key, 0, sizeof key);
    for (int i = 0; i < 10; i++) {
        key.w[24] = (uint64_t)i;
        int64_t ik = i;
        uint64_t before = mallocs();
        *(int64_t *)gm_map_assign(mk, &key) = i;
        struct big *bv = gm_map_assign(mv, &ik);
        CHECK_EQ(bv->w[0], 0);
        bv->w[0] = (uint64_t)i;
        struct big *bkv = gm_map_assign(mkv, &key);
        bkv->w[3] = (uint64_t)i;
        CHECK_EQ(mallocs() - before, 4);
    }
    uint64_t before = mallocs();
    key.w[24] = 3;
    ((struct big *)gm_map_assign(mkv, &key))->w[4] = 1;
    CHECK_EQ(mallocs() - before, 0);
    for (int i = 0; i < 10; i++) {
        key.w[24] = (uint64_t)i;
        int64_t ik = i;
        CHECK_EQ(*(int64_t *)gm_map_access(mk, &key), i);
        CHECK_EQ(((struct big *)gm_map_access(mv, &ik))->w[0], i);
        CHECK_EQ(((struct big *)gm_map_access(mkv, &key))->w[3], i);
    }
    key.w[24] = 5;
    CHECK(gm_map_delete(mkv, &key));
    CHECK(gm_map_access(mkv, &key) == NULL);
    CHECK_EQ(gm_map_len(mkv), 9);
}

TEST(nil_map_behaves_like_go) {
    int64_t k = 1;
    CHECK_EQ(gm_map_len(NULL), 0);
    CHECK(gm_map_access(NULL, &k) == NULL);
    CHECK(!gm_map_delete(NULL, &k));
    gm_map_clear(NULL);
    gm_map_iter it;
    gm_map_iter_init(&it, NULL);
    CHECK(it.key == NULL);
    CHECK(!gm_map_iter_next(&it));
    EXPECT_DEATH(gm_map_assign(NULL, &k), "gomalloc: fatal error: assignment to entry in nil map");
}

/* Go 1.23's mapclear: B and the bucket array stay (zeroed), overflow
 * buckets and the lists go, mapextra stays allocated; a new seed. */
TEST(clear_keeps_buckets_and_resets_the_rest) {
    gm_map *m = gm_make_map(&ident_map, 100);
    for (uint64_t n = 0; n < 60; n++) set_u64(m, n << 16, n); /* overflow chains */
    gm_map_info a = info(m);
    REQUIRE(a.noverflow > 0);
    uint64_t before = mallocs();
    gm_map_clear(m);
    CHECK_EQ(mallocs() - before, 0);
    gm_map_info b = info(m);
    CHECK_EQ(b.count, 0);
    CHECK_EQ(b.B, a.B);
    CHECK(b.buckets == a.buckets);
    CHECK_EQ(b.noverflow, 0);
    CHECK(!b.growing);
    CHECK(b.has_extra);
    CHECK_EQ(b.overflow_list, 0);
    CHECK_EQ(b.prealloc_free, a.buckets_bytes / a.bucket_size - a.nbuckets);
    for (uint64_t n = 0; n < 60; n++) {
        uint64_t k = n << 16;
        CHECK(gm_map_access(m, &k) == NULL);
    }
    set_u64(m, 5, 50);
    CHECK_EQ(*(uint64_t *)gm_map_access(m, &(uint64_t){5}), 50);
    CHECK_EQ(gm_map_len(m), 1);
    /* hash0 is re-drawn: over a few clears it changes */
    gm_map *h = gm_make_map(&i64_map, 0);
    uint32_t seed = info(h).hash0;
    int changed = 0;
    for (int i = 0; i < 8; i++) {
        *(int64_t *)gm_map_assign(h, &(int64_t){i}) = i;
        gm_map_clear(h);
        changed |= info(h).hash0 != seed;
    }
    CHECK(changed);
}

/* ---- iteration ----------------------------------------------------------------- */

TEST(iteration_returns_every_entry_once) {
    gm_map *m = gm_make_map(&i64_map, 0);
    enum { N = 5000 };
    for (int64_t k = 0; k < N; k++) *(int64_t *)gm_map_assign(m, &k) = k + 1;
    static unsigned char seen[N];
    memset(seen, 0, sizeof seen);
    size_t n = 0;
    gm_map_iter it;
    for (gm_map_iter_init(&it, m); it.key; gm_map_iter_next(&it)) {
        int64_t k = *(int64_t *)it.key;
        REQUIRE(k >= 0 && k < N);
        CHECK_EQ(seen[k], 0);
        seen[k] = 1;
        CHECK_EQ(*(int64_t *)it.elem, k + 1);
        n++;
    }
    CHECK_EQ(n, N);
    CHECK(!gm_map_iter_next(&it));
}

/* Go randomises the start bucket and slot per iteration. */
TEST(iteration_order_is_randomised) {
    gm_map *m = gm_make_map(&i64_map, 0);
    for (int64_t k = 0; k < 100; k++) gm_map_assign(m, &k);
    int64_t first[20];
    int distinct = 0;
    for (int r = 0; r < 20; r++) {
        gm_map_iter it;
        gm_map_iter_init(&it, m);
        first[r] = *(int64_t *)it.key;
        int dup = 0;
        for (int q = 0; q < r; q++) dup |= first[q] == first[r];
        distinct += !dup;
    }
    CHECK(distinct > 3);
}

/* Iterating a pointer-free map makes mapextra and its overflow list if
 * missing (mapiterinit calls createOverflow): 2 objects, once. */
TEST(iterating_noscan_map_creates_overflow_list_like_go) {
    gm_map *m = gm_make_map(&i64_map, 0);
    gm_map_assign(m, &(int64_t){1});
    uint64_t before = mallocs();
    gm_map_iter it;
    gm_map_iter_init(&it, m);
    CHECK_EQ(mallocs() - before, 2);
    before = mallocs();
    gm_map_iter_init(&it, m);
    CHECK_EQ(mallocs() - before, 0);
    gm_map *p = gm_make_map(&ptrval_map, 0);
    gm_map_assign(p, &(int64_t){1});
    before = mallocs();
    gm_map_iter_init(&it, p);
    CHECK_EQ(mallocs() - before, 0);
}

/* Deleting entries not yet reached hides them; entries present throughout
 * are returned once, even across a grow started mid-iteration. */
TEST(iteration_survives_modification_and_growth) {
    gm_map *m = gm_make_map(&i64_map, 0);
    enum { N = 600 };
    for (int64_t k = 0; k < N; k++) *(int64_t *)gm_map_assign(m, &k) = k;
    static unsigned char seen[4 * N];
    memset(seen, 0, sizeof seen);
    gm_map_iter it;
    size_t steps = 0;
    int64_t added = N;
    for (gm_map_iter_init(&it, m); it.key; gm_map_iter_next(&it)) {
        int64_t k = *(int64_t *)it.key;
        REQUIRE(k >= 0 && k < 4 * N);
        CHECK_EQ(seen[k], 0);
        CHECK_EQ(*(int64_t *)it.elem, k);
        seen[k] = 1;
        /* delete an odd key not seen yet, add two new keys (forcing grows) */
        for (int64_t d = 1; d < N; d += 2) {
            if (!seen[d] && gm_map_access(m, &d)) {
                gm_map_delete(m, &d);
                seen[d] = 2; /* deleted before reached */
                break;
            }
        }
        for (int j = 0; j < 2 && added < 4 * N; j++, added++)
            *(int64_t *)gm_map_assign(m, &added) = added;
        steps++;
    }
    for (int64_t k = 0; k < N; k++) {
        if (seen[k] == 2) continue;
        CHECK_EQ(seen[k], 1); /* present the whole time: returned */
    }
    CHECK(steps > 0);
    CHECK(info(m).B > 6);
}

/* Clearing a map mid-iteration ends the iteration (issue 59411). */
TEST(clear_ends_iterations_in_progress) {
    gm_map *m = gm_make_map(&i64_map, 0);
    for (int64_t k = 0; k < 100; k++) gm_map_assign(m, &k);
    gm_map_iter it;
    gm_map_iter_init(&it, m);
    REQUIRE(it.key);
    gm_map_clear(m);
    CHECK(!gm_map_iter_next(&it));
}

/* ---- collected objects: kinds ---------------------------------------------------- */

static int kind_of(const void *p) {
    gm_span_info si;
    if (gm_span_inspect(p, &si) != 0) return -1;
    return si.gc_kind;
}

TEST(buckets_are_noscan_or_typed_by_map_type) {
    gm_map *a = gm_make_map(&i64_map, 100), *b = gm_make_map(&ptrval_map, 100),
           *c = gm_make_map(&str_map, 100), *d = gm_make_map(&bigkey_map, 100);
    CHECK_EQ(kind_of(info(a).buckets), GM_GC_NOSCAN);
    CHECK_EQ(kind_of(info(b).buckets), GM_GC_TYPED);
    CHECK_EQ(kind_of(info(c).buckets), GM_GC_TYPED);
    CHECK_EQ(kind_of(info(d).buckets), GM_GC_TYPED); /* indirect key: a pointer */
    CHECK_EQ(kind_of(a), GM_GC_TYPED);                /* the hmap */
}

/* ---- hashing --------------------------------------------------------------------- */

TEST(hashes_depend_on_bytes_and_seed) {
    unsigned char buf[200];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 7 + 1);
    for (size_t n = 0; n < sizeof buf; n++) {
        uint64_t h = gm_memhash(buf, n, 1);
        CHECK_EQ(h, gm_memhash(buf, n, 1));
        CHECK(h != gm_memhash(buf, n, 2));
        if (n > 0) {
            CHECK(h != gm_memhash(buf, n - 1, 1));
            buf[n - 1] ^= 1;
            CHECK(h != gm_memhash(buf, n, 1));
            buf[n - 1] ^= 1;
            buf[0] ^= 0x80;
            CHECK(h != gm_memhash(buf, n, 1));
            buf[0] ^= 0x80;
        }
    }
    gm_string s = {"abc", 3};
    CHECK_EQ(gm_strhash(&s, 9), gm_memhash("abc", 3, 9));
}

/* ---- concurrent misuse: Go's hashWriting checks ----------------------------------- */

static gm_map *shared;
static atomic_int stop_threads;

static void *writer(void *arg) {
    int64_t base = (int64_t)(intptr_t)arg;
    for (uint64_t i = 0; !atomic_load_explicit(&stop_threads, memory_order_relaxed); i++) {
        int64_t k = (int64_t)(i % 64) + base;
        *(int64_t *)gm_map_assign(shared, &k) += 1; /* existing keys: no growth */
    }
    return NULL;
}
static void *reader(void *arg) {
    (void)arg;
    int64_t s = 0;
    for (uint64_t i = 0; !atomic_load_explicit(&stop_threads, memory_order_relaxed); i++) {
        int64_t k = (int64_t)(i % 128);
        int64_t *v = gm_map_access(shared, &k);
        s += v ? *v : 0;
    }
    return (void *)(intptr_t)s;
}
static void *iterator(void *arg) {
    (void)arg;
    int64_t s = 0;
    while (!atomic_load_explicit(&stop_threads, memory_order_relaxed)) {
        gm_map_iter it;
        for (gm_map_iter_init(&it, shared); it.key; gm_map_iter_next(&it)) s += *(int64_t *)it.elem;
    }
    return (void *)(intptr_t)s;
}

/* Two threads on one map for up to 20 s; the detection must kill the
 * process long before. */
static void race(void *(*a)(void *), void *(*b)(void *)) {
    shared = gm_make_map(&i64_map, 128);
    for (int64_t k = 0; k < 128; k++) gm_map_assign(shared, &k);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, a, (void *)(intptr_t)0);
    pthread_create(&t2, NULL, b, (void *)(intptr_t)64);
    sleep(20);
    atomic_store(&stop_threads, 1);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
}

TEST(concurrent_writes_are_fatal) {
    EXPECT_DEATH(race(writer, writer), "gomalloc: fatal error: concurrent map writes");
}
TEST(concurrent_read_and_write_are_fatal) {
    EXPECT_DEATH(race(reader, writer), "gomalloc: fatal error: concurrent map read and map write");
}
TEST(concurrent_iteration_and_write_are_fatal) {
    EXPECT_DEATH(race(iterator, writer),
                 "gomalloc: fatal error: concurrent map iteration and map write");
}

TEST_MAIN()
