/*
 * Differential test of Go's map (gomalloc/map.h): long random sequences of
 * assign, access, delete, clear, len and iteration, checked after every
 * operation against a reference that cannot be wrong — keys are drawn from
 * a small id space, and the reference is an array indexed by id.
 *
 * Iteration under modification is checked with Go's rules: no entry is
 * returned twice (a key deleted and added again is a new entry), every
 * returned entry is in the map at that moment with
 * its current value, an entry deleted before it is reached is not returned
 * (unless added again), and every entry present for the whole iteration is
 * returned exactly once.
 *
 * Key and value types cover every path: int64 (the fast64 path), uint32
 * keys with 1-byte values (fast32), strings (faststr; lengths 0..100, the
 * key headers point to fresh copies each time), 200-byte keys and values
 * (stored indirectly), and a custom hash so weak it piles keys into long
 * overflow chains (same-size growth). Fixed seeds; a failure prints the
 * seed and the operation number.
 */
#include <inttypes.h>

#include "gomalloc/map.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define DIFF_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DIFF_SANITIZED 1
#endif
#endif
#ifndef DIFF_SANITIZED
#define DIFF_SANITIZED 0
#endif

enum { MAX_IDS = 4096 };

/* One key/value type: how ids become keys and back, and values. */
typedef struct kind {
    const char *name;
    const gm_maptype *mt;
    size_t keysize;
    void (*make_key)(uint64_t id, void *key); /* key bytes for id */
    uint64_t (*key_id)(const void *key);
    void (*set_val)(void *slot, uint64_t v);
    uint64_t (*get_val)(const void *slot);
    uint64_t val_mask; /* the bits of v a value keeps */
    bool sliding;      /* assign ids from a sliding window */
} kind;

/* ---- int64 -> int64 ------------------------------------------------------------- */
static const gm_maptype i64_map = GM_MAPTYPE(int64_t, int64_t);
static void i64_key(uint64_t id, void *k) { *(int64_t *)k = (int64_t)((id << 20) ^ 0xabcdef12345ull); }
static uint64_t i64_id(const void *k) { return ((uint64_t) * (const int64_t *)k ^ 0xabcdef12345ull) >> 20; }
static void u64_set(void *s, uint64_t v) { memcpy(s, &v, 8); }
static uint64_t u64_get(const void *s) {
    uint64_t v;
    memcpy(&v, s, 8);
    return v;
}

/* ---- uint32 -> uint8 -------------------------------------------------------------- */
static const gm_maptype u32_map = GM_MAPTYPE(uint32_t, uint8_t);
static void u32_key(uint64_t id, void *k) { *(uint32_t *)k = (uint32_t)id ^ 0xdeadbeefu; }
static uint64_t u32_id(const void *k) { return *(const uint32_t *)k ^ 0xdeadbeefu; }
static void u8_set(void *s, uint64_t v) { *(uint8_t *)s = (uint8_t)v; }
static uint64_t u8_get(const void *s) { return *(const uint8_t *)s; }

/* ---- string -> int64 ------------------------------------------------------------------ */
static const gm_maptype str_map = GM_MAPTYPE_STRING(int64_t);
static void str_key(uint64_t id, void *k) {
    char buf[128];
    size_t tail = id % 7 == 0 ? 60 + id % 40 : id % 40;
    int n = snprintf(buf, sizeof buf, "%" PRIu64 "-", id);
    memset(buf + n, 'x', tail);
    size_t len = (size_t)n + tail;
    if (id == 0) len = 0; /* the empty string */
    char *p = gm_new_noscan(len ? len : 1); /* a fresh copy every time */
    memcpy(p, buf, len);
    gm_string s = {p, len};
    memcpy(k, &s, sizeof s);
}
static uint64_t str_id(const void *k) {
    const gm_string *s = k;
    if (s->len == 0) return 0;
    uint64_t id = 0;
    for (size_t i = 0; i < s->len && s->ptr[i] != '-'; i++) id = id * 10 + (uint64_t)(s->ptr[i] - '0');
    return id;
}

/* ---- 200-byte keys and values (indirect) -------------------------------------------------- */
struct big { uint64_t w[25]; };
static const gm_maptype big_map = GM_MAPTYPE(struct big, struct big);
static void big_key(uint64_t id, void *k) {
    struct big *b = k;
    for (int i = 0; i < 25; i++) b->w[i] = id * (uint64_t)(i + 1) + 0x5151;
}
static uint64_t big_id(const void *k) { return ((const struct big *)k)->w[0] - 0x5151; }
static void big_set(void *s, uint64_t v) {
    struct big *b = s;
    b->w[0] = v;
    b->w[24] = ~v;
}
static uint64_t big_get(const void *s) {
    const struct big *b = s;
    return b->w[24] == ~b->w[0] ? b->w[0] : 0xbad;
}

/* ---- weak custom hash: one hash per 128 consecutive ids ------------------------------------- */
/* Keys are assigned from a window of ids that slides along (deleted from
 * anywhere), so chains fill up in one bucket after another and leave their
 * overflow buckets behind: Go's same-size grow cleans them up. */
static uint64_t weak_hash(const void *k, uint64_t seed) {
    (void)seed;
    return (*(const uint64_t *)k / 128) * 0x9e3779b97f4a7c15ull;
}
static bool u64_eq(const void *a, const void *b) { return memcmp(a, b, 8) == 0; }
static const gm_type u64_type = GM_TYPE_NOPTRS(uint64_t);
static const gm_maptype weak_map = GM_MAPTYPE_OF(&u64_type, &u64_type, GM_KEY_CUSTOM, weak_hash, u64_eq);
static void w_key(uint64_t id, void *k) { *(uint64_t *)k = id; }
static uint64_t w_id(const void *k) { return *(const uint64_t *)k; }

static const kind kinds[] = {
    {"int64", &i64_map, 8, i64_key, i64_id, u64_set, u64_get, ~0ull, false},
    {"uint32", &u32_map, 4, u32_key, u32_id, u8_set, u8_get, 0xff, false},
    {"string", &str_map, sizeof(gm_string), str_key, str_id, u64_set, u64_get, ~0ull, false},
    {"big", &big_map, sizeof(struct big), big_key, big_id, big_set, big_get, ~0ull, false},
    {"weak", &weak_map, 8, w_key, w_id, u64_set, u64_get, ~0ull, true},
};

/* ---- the run ------------------------------------------------------------------------------ */

typedef struct ref {
    unsigned char present[MAX_IDS];
    uint64_t val[MAX_IDS];
    size_t len;
} ref;

typedef struct run {
    const kind *k;
    uint64_t seed, rng;
    size_t op;
    size_t nids;
    gm_map *m;
    ref r;
    int failed;
    bool saw_same_size;
} run;

static uint64_t rnd(run *x, uint64_t n) { return gm_test_rand(&x->rng) % n; }

#define DCHECK(x, cond)                                                                     \
    do {                                                                                    \
        if (!(cond) && !(x)->failed) {                                                      \
            fprintf(stderr, "  %s:%d: %s failed: kind %s seed %" PRIu64 " op %zu\n",        \
                    __FILE__, __LINE__, #cond, (x)->k->name, (x)->seed, (x)->op);           \
            (x)->failed = 1;                                                                \
        }                                                                                   \
    } while (0)

static void do_assign(run *x, uint64_t id, uint64_t v) {
    unsigned char key[sizeof(struct big)];
    x->k->make_key(id, key);
    void *slot = gm_map_assign(x->m, key);
    DCHECK(x, slot != NULL);
    if (!x->r.present[id]) DCHECK(x, x->k->get_val(slot) == 0 || x->k == &kinds[3]);
    x->k->set_val(slot, v);
    if (!x->r.present[id]) x->r.len++;
    x->r.present[id] = 1;
    x->r.val[id] = v & x->k->val_mask;
}

static void do_delete(run *x, uint64_t id) {
    unsigned char key[sizeof(struct big)];
    x->k->make_key(id, key);
    bool had = gm_map_delete(x->m, key);
    DCHECK(x, had == (x->r.present[id] != 0));
    if (had) x->r.len--;
    x->r.present[id] = 0;
}

static void do_access(run *x, uint64_t id) {
    unsigned char key[sizeof(struct big)];
    x->k->make_key(id, key);
    void *slot = gm_map_access(x->m, key);
    DCHECK(x, (slot != NULL) == (x->r.present[id] != 0));
    if (slot && x->r.present[id]) DCHECK(x, x->k->get_val(slot) == x->r.val[id]);
}

/* A plain iteration: exactly the reference's entries. */
static void do_iterate(run *x) {
    static unsigned char seen[MAX_IDS];
    memset(seen, 0, x->nids);
    size_t n = 0;
    gm_map_iter it;
    for (gm_map_iter_init(&it, x->m); it.key; gm_map_iter_next(&it)) {
        uint64_t id = x->k->key_id(it.key);
        DCHECK(x, id < x->nids);
        if (id >= x->nids) return;
        DCHECK(x, !seen[id]);
        DCHECK(x, x->r.present[id]);
        DCHECK(x, x->k->get_val(it.elem) == x->r.val[id]);
        seen[id] = 1;
        n++;
    }
    DCHECK(x, n == x->r.len);
}

/* An iteration with random writes between its steps (Go's rules above). */
static void do_iterate_modifying(run *x) {
    static unsigned char at_start[MAX_IDS], deleted[MAX_IDS], returned[MAX_IDS];
    memcpy(at_start, x->r.present, x->nids);
    memset(deleted, 0, x->nids);
    memset(returned, 0, x->nids);
    gm_map_iter it;
    for (gm_map_iter_init(&it, x->m); it.key; gm_map_iter_next(&it)) {
        uint64_t id = x->k->key_id(it.key);
        DCHECK(x, id < x->nids);
        if (id >= x->nids) return;
        DCHECK(x, returned[id] == 0);
        DCHECK(x, x->r.present[id]);
        DCHECK(x, x->k->get_val(it.elem) == x->r.val[id]);
        returned[id] = 1;
        int writes = rnd(x, 8) == 0 ? (int)rnd(x, 4) : 0;
        for (int w = 0; w < writes; w++) {
            uint64_t other = rnd(x, x->nids);
            if (rnd(x, 2)) {
                /* gone: if added again it is a new entry, which may be
                 * returned (once more) */
                if (x->r.present[other]) deleted[other] = 1, returned[other] = 0;
                do_delete(x, other);
            } else {
                do_assign(x, other, gm_test_rand(&x->rng));
            }
        }
    }
    for (size_t id = 0; id < x->nids; id++)
        if (at_start[id] && !deleted[id]) DCHECK(x, returned[id] == 1);
}

static bool saw_same_size; /* some run went through a same-size grow */

static void run_one(const kind *k, uint64_t seed, size_t nops, size_t nids) {
    static run x;
    memset(&x, 0, sizeof x);
    x.k = k;
    x.seed = x.rng = seed;
    x.nids = nids;
    x.m = gm_make_map(k->mt, (size_t)rnd(&x, 3) == 0 ? (size_t)rnd(&x, k->sliding ? 200 : 2000) : 0);
    /* phases: grow towards a target size, then shrink, and so on */
    size_t target = nids / 2;
    for (x.op = 0; x.op < nops && !x.failed; x.op++) {
        if (x.op % 4000 == 0) target = k->sliding ? 50 + (size_t)rnd(&x, 200) : (size_t)rnd(&x, nids);
        uint64_t id = rnd(&x, nids), r = rnd(&x, 1000);
        if (k->sliding && r < 450) id = (x.op / 40 + rnd(&x, 160)) % nids;
        if (k->sliding && r >= 450 && r < 700) id = (x.op / 40 + nids - rnd(&x, 480)) % nids;
        if (r < 450) {
            if (x.r.len < target || x.r.present[id]) do_assign(&x, id, gm_test_rand(&x.rng));
            else do_delete(&x, id);
        } else if (r < 700) {
            do_delete(&x, id);
        } else if (r < 995) {
            do_access(&x, id);
        } else if (r < 997) {
            do_iterate(&x);
        } else if (r < 999) {
            do_iterate_modifying(&x);
        } else if (rnd(&x, 8) == 0) {
            gm_map_clear(x.m);
            memset(x.r.present, 0, nids);
            x.r.len = 0;
        }
        DCHECK(&x, gm_map_len(x.m) == x.r.len);
        gm_map_info in;
        gm_map_inspect(x.m, &in);
        x.saw_same_size |= in.same_size_grow;
    }
    saw_same_size |= x.saw_same_size;
    if (!x.failed) {
        do_iterate(&x);
        for (uint64_t id = 0; id < nids; id++) do_access(&x, id);
    }
    if (x.failed) gm_test_failed_current = 1;
}

static void run_kind(const kind *k, size_t nids) {
    static const uint64_t seeds[] = {1, 0x5eed, 20240601, 777};
    size_t nops = DIFF_SANITIZED ? 200000 : 400000;
    saw_same_size = false;
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) run_one(k, seeds[i], nops, nids);
    /* the weak hash's chains must have forced a same-size grow */
    if (k->sliding) CHECK(saw_same_size);
}

TEST(int64_keys_match_the_reference) { run_kind(&kinds[0], 3000); }
TEST(uint32_keys_match_the_reference) { run_kind(&kinds[1], 3000); }
TEST(string_keys_match_the_reference) { run_kind(&kinds[2], 2000); }
TEST(big_indirect_keys_and_values_match_the_reference) { run_kind(&kinds[3], 1500); }
TEST(weak_hash_long_chains_match_the_reference) { run_kind(&kinds[4], 1200); }

TEST_MAIN()
