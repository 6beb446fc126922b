/*
 * Maps and the collector. A map is the only holder of collected objects —
 * as values (map[int]*obj), as keys (map[*obj]int), as the bytes of
 * string keys, as indirect (> 128-byte) values — and keeps them alive
 * across collections; once the map is dropped they are reclaimed.
 * Pointer-free maps, whose buckets are never scanned, keep their overflow
 * buckets alive through extra.overflow (Go's mechanism): a map with long
 * overflow chains survives collections, with garbage churned through the
 * freed memory in between, intact.
 */
#include "gc_test.h"
#include "gomalloc/map.h"

enum { N = 300, OBJ = 80 };

static gm_map *volatile root_map;

static const gm_maptype ptrval_map =
    GM_MAPTYPE_KV(GM_TYPE_NOPTRS(int64_t), GM_TYPE_POINTER(void *), GM_KEY_MEM);
static const gm_maptype ptrkey_map =
    GM_MAPTYPE_KV(GM_TYPE_POINTER(void *), GM_TYPE_NOPTRS(int64_t), GM_KEY_MEM);
static const gm_maptype str_map = GM_MAPTYPE_STRING(int64_t);
struct holder {
    uint64_t pad[20];
    void *p; /* 168-byte value: stored indirectly, scanned by its type */
};
static const gm_type holder_type = GM_TYPE(struct holder, p);
static const gm_type i64_type = GM_TYPE_NOPTRS(int64_t);
static const gm_maptype holder_map = GM_MAPTYPE_OF(&i64_type, &holder_type, GM_KEY_MEM, 0, 0);

/* Churn: garbage that reuses whatever the collector freed. */
GC_NOINLINE static void churn(void) {
    for (int i = 0; i < 20000; i++) {
        unsigned char *p = gm_new_noscan(144 + (size_t)(i % 5) * 16);
        if (p) memset(p, 0xee, 144);
    }
}

static void collect_a_few_times(void) {
    for (int i = 0; i < 3; i++) {
        gc_clear_stack();
        gm_gc();
        churn();
    }
}

/* ---- map[int]*obj --------------------------------------------------------------- */

GC_NOINLINE static void fill_values(atomic_int *fin) {
    gm_map *m = gm_make_map(&ptrval_map, 0);
    for (int64_t i = 0; i < N; i++)
        *(void **)gm_map_assign(m, &i) = gc_make(OBJ, 100 + (uint64_t)i, fin);
    root_map = m;
}

GC_NOINLINE static int check_values(void) {
    int bad = 0;
    for (int64_t i = 0; i < N; i++) {
        void **v = gm_map_access(root_map, &i);
        if (!v || !gc_check(*v, OBJ, 100 + (uint64_t)i)) bad++;
    }
    return bad;
}

TEST(map_values_keep_objects_alive_until_the_map_is_dropped) {
    static atomic_int fin;
    fill_values(&fin);
    collect_a_few_times();
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&fin), 0);
    CHECK_EQ(check_values(), 0);
    root_map = NULL;
    gc_clear_stack();
    CHECK(gc_wait_count(&fin, N * 9 / 10, GC_WAIT_SECONDS));
}

/* ---- map[*obj]int ------------------------------------------------------------------ */

GC_NOINLINE static void fill_keys(atomic_int *fin) {
    gm_map *m = gm_make_map(&ptrkey_map, 0);
    for (int64_t i = 0; i < N; i++) {
        void *k = gc_make(OBJ, 500 + (uint64_t)i, fin);
        *(int64_t *)gm_map_assign(m, &k) = i;
    }
    root_map = m;
}

GC_NOINLINE static int check_keys(void) {
    static unsigned char seen[N];
    memset(seen, 0, sizeof seen);
    int bad = 0;
    gm_map_iter it;
    for (gm_map_iter_init(&it, root_map); it.key; gm_map_iter_next(&it)) {
        int64_t i = *(int64_t *)it.elem;
        void *k = *(void **)it.key;
        if (i < 0 || i >= N || seen[i] || !gc_check(k, OBJ, 500 + (uint64_t)i)) {
            bad++;
            continue;
        }
        seen[i] = 1;
        if (*(int64_t *)gm_map_access(root_map, &k) != i) bad++;
    }
    for (int i = 0; i < N; i++) bad += !seen[i];
    return bad;
}

TEST(map_keys_keep_objects_alive_until_the_map_is_dropped) {
    static atomic_int fin;
    fill_keys(&fin);
    collect_a_few_times();
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&fin), 0);
    CHECK_EQ(check_keys(), 0);
    root_map = NULL;
    gc_clear_stack();
    CHECK(gc_wait_count(&fin, N * 9 / 10, GC_WAIT_SECONDS));
}

/* ---- string keys pointing to collected bytes ------------------------------------------ */

GC_NOINLINE static void fill_strings(atomic_int *fin) {
    gm_map *m = gm_make_map(&str_map, 0);
    for (int64_t i = 0; i < N; i++) {
        char *bytes = gm_new_noscan(OBJ);
        gc_fill(bytes, OBJ, 900 + (uint64_t)i);
        gm_set_finalizer(bytes, gc_count_fin, fin);
        gm_string k = {bytes, OBJ};
        *(int64_t *)gm_map_assign(m, &k) = i;
    }
    root_map = m;
}

/* Look every key up by a copy of its bytes (not the same pointer). */
GC_NOINLINE static int check_strings(void) {
    int bad = 0;
    char buf[OBJ];
    for (int64_t i = 0; i < N; i++) {
        gc_fill(buf, OBJ, 900 + (uint64_t)i);
        gm_string k = {buf, OBJ};
        int64_t *v = gm_map_access(root_map, &k);
        if (!v || *v != i) bad++;
    }
    return bad;
}

TEST(string_keys_keep_their_bytes_alive) {
    static atomic_int fin;
    fill_strings(&fin);
    collect_a_few_times();
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&fin), 0);
    CHECK_EQ(check_strings(), 0);
    root_map = NULL;
    gc_clear_stack();
    CHECK(gc_wait_count(&fin, N * 9 / 10, GC_WAIT_SECONDS));
}

/* ---- indirect values: the value object is typed; its pointer is kept ------------------ */

GC_NOINLINE static void fill_holders(atomic_int *fin) {
    gm_map *m = gm_make_map(&holder_map, 0);
    for (int64_t i = 0; i < N; i++) {
        struct holder *h = gm_map_assign(m, &i);
        h->pad[0] = (uint64_t)i;
        h->p = gc_make(OBJ, 1300 + (uint64_t)i, fin);
    }
    root_map = m;
}

GC_NOINLINE static int check_holders(void) {
    int bad = 0;
    for (int64_t i = 0; i < N; i++) {
        struct holder *h = gm_map_access(root_map, &i);
        if (!h || h->pad[0] != (uint64_t)i || !gc_check(h->p, OBJ, 1300 + (uint64_t)i)) bad++;
    }
    return bad;
}

TEST(indirect_values_keep_what_they_point_to) {
    static atomic_int fin;
    fill_holders(&fin);
    collect_a_few_times();
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&fin), 0);
    CHECK_EQ(check_holders(), 0);
    root_map = NULL;
    gc_clear_stack();
    CHECK(gc_wait_count(&fin, N * 9 / 10, GC_WAIT_SECONDS));
}

/* ---- pointer-free maps with long overflow chains ---------------------------------------- */

/* All keys of one group of 64 share a hash: chains of 8 buckets. */
static uint64_t group_hash(const void *k, uint64_t seed) {
    return (*(const uint64_t *)k / 64) * 0x9e3779b97f4a7c15ull ^ seed;
}
static bool u64_eq(const void *a, const void *b) { return memcmp(a, b, 8) == 0; }
static const gm_type u64_type = GM_TYPE_NOPTRS(uint64_t);
static const gm_maptype chain_map =
    GM_MAPTYPE_OF(&u64_type, &u64_type, GM_KEY_CUSTOM, group_hash, u64_eq);
static const gm_maptype plain_map = GM_MAPTYPE(uint64_t, uint64_t);

enum { NCHAIN = 4000 };

static uint64_t val_of(uint64_t k) { return k * 0x9e3779b97f4a7c15ull | 1; }

GC_NOINLINE static void fill_chains(const gm_maptype *t) {
    gm_map *m = gm_make_map(t, 0);
    for (uint64_t k = 0; k < NCHAIN; k++) *(uint64_t *)gm_map_assign(m, &k) = val_of(k);
    root_map = m;
}

GC_NOINLINE static int check_chains(void) {
    int bad = 0;
    for (uint64_t k = 0; k < NCHAIN; k++) {
        uint64_t *v = gm_map_access(root_map, &k);
        if (!v || *v != val_of(k)) bad++;
    }
    size_t n = 0;
    gm_map_iter it;
    for (gm_map_iter_init(&it, root_map); it.key; gm_map_iter_next(&it))
        n += *(uint64_t *)it.key < NCHAIN && *(uint64_t *)it.elem == val_of(*(uint64_t *)it.key);
    return bad + (n != NCHAIN);
}

TEST(noscan_map_overflow_buckets_survive_collections) {
    fill_chains(&chain_map);
    gm_map_info in;
    gm_map_inspect(root_map, &in);
    CHECK(in.noverflow > 100);
    CHECK_EQ(in.overflow_list, in.noverflow); /* every overflow bucket listed */
    gm_span_info si;
    CHECK(gm_span_inspect(in.buckets, &si) == 0 && si.gc_kind == GM_GC_NOSCAN);
    for (int round = 0; round < 3; round++) {
        collect_a_few_times();
        CHECK_EQ(check_chains(), 0);
        /* writes in between: evacuation and new overflow buckets */
        for (uint64_t k = 0; k < NCHAIN; k += 3) {
            gm_map_delete(root_map, &k);
            *(uint64_t *)gm_map_assign(root_map, &k) = val_of(k);
        }
    }
    root_map = NULL;
}

/* The same with random hashes, while growing: old buckets' overflow
 * buckets are kept by extra.oldoverflow until evacuated. */
TEST(noscan_map_survives_collections_mid_growth) {
    fill_chains(&plain_map);
    gm_map_info in;
    gm_map_inspect(root_map, &in);
    uint64_t k = NCHAIN;
    while (!in.growing) { /* one insert at a time until a grow starts */
        *(uint64_t *)gm_map_assign(root_map, &k) = val_of(k);
        k++;
        gm_map_inspect(root_map, &in);
    }
    collect_a_few_times();
    gm_map_inspect(root_map, &in);
    CHECK(in.growing);
    CHECK_EQ(check_chains(), 0);
    for (uint64_t j = NCHAIN; j < k; j++) CHECK_EQ(*(uint64_t *)gm_map_access(root_map, &j), val_of(j));
    root_map = NULL;
}

TEST_MAIN()
