/*
 * Collector stress, fixed seeds, bounded work. Three mutator threads (two
 * started with gm_pthread_create, one with plain pthread_create and
 * registered by its first gm_new) build structures and drop them while
 * collections run: automatic ones, paced by the allocation, and gm_gc()
 * from thread 0 every GC_EVERY operations. A structure hangs off a "box"
 * (conservative or typed) and is one of:
 *   TREE   a complete binary tree of typed nodes (left/right pointers)
 *   LIST   a linked list of conservative nodes with payloads
 *   ARRAY  a typed array whose elements point to noscan blobs (tiny ones too)
 *   LARGE  one large noscan block
 *   WIDE   one large conservative block, every 512th word a pointer to a
 *          small noscan blob (large objects are scanned in pieces)
 * Every box is referenced from exactly one root: a slot in a global array,
 * in the thread's stack, in an uncollectable block, or in a shared exchange
 * through which boxes move between threads. Every structure's contents are
 * checked (keys, patterns, node counts) when it is picked, before it is
 * dropped, and all of a thread's structures after each cycle it notices
 * (num_gc changed). At the end everything is checked again, dropped, and
 * must be collected.
 *
 * Environment: GM_GC_STRESS_SCALE (percent; default 100, 15 under
 * sanitizers) scales the operations per thread.
 */
#include <pthread.h>

#include "gc_test.h"

enum { NTHREADS = 3, SLOTS = 40, EX = 64, BASE_OPS = 12000, GC_EVERY = 700 };
#define SEED 0x67632d737472ull

#define MAGIC 0x8b0c5d1e2f3a4b5cull
enum kind { TREE, LIST, ARRAY, LARGE, WIDE, NKINDS };

struct box {
    uint64_t magic;
    uint64_t seed;
    uint32_t kind, n;
    void *root;
    uint64_t check; /* magic ^ seed ^ kind ^ n */
};
static const gm_type box_type = GM_TYPE(struct box, root);

struct tnode {
    uint64_t key;
    struct tnode *left, *right;
    uint64_t check;
};
static const gm_type tnode_type = GM_TYPE(struct tnode, left, right);

struct lnode {
    struct lnode *next;
    uint32_t len, idx;
    unsigned char payload[];
};

struct elem {
    void *blob;
    uint64_t len;
    uint64_t seed;
};
static const gm_type elem_type = GM_TYPE(struct elem, blob);

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}
/* Values stored in objects have the top bit set: never addresses. */
static uint64_t key_of(uint64_t seed, uint64_t i) { return mix(seed + i) | (1ull << 63); }

/* ---- Errors --------------------------------------------------------------- */

static atomic_long errors;

static int fail(const struct box *b, const char *what, uint64_t at) {
    if (atomic_fetch_add(&errors, 1) < 10)
        fprintf(stderr, "  box %p (kind %u, n %u, seed %#llx): %s at %llu\n", (const void *)b,
                b ? b->kind : 0, b ? b->n : 0, b ? (unsigned long long)b->seed : 0ull, what,
                (unsigned long long)at);
    return 0;
}

/* ---- Building --------------------------------------------------------------- */

static struct tnode *build_tree(uint64_t seed, uint32_t idx, uint32_t n) {
    if (idx > n) return NULL;
    struct tnode *t = gm_new_typed(&tnode_type);
    if (!t) return NULL;
    t->key = key_of(seed, idx);
    t->left = build_tree(seed, 2 * idx, n);
    t->right = build_tree(seed, 2 * idx + 1, n);
    t->check = ~t->key ^ idx;
    return t;
}

static size_t list_len(uint64_t seed, uint32_t i) { return (size_t)(key_of(seed, i) % 200); }

static void *build_list(uint64_t seed, uint32_t n) {
    struct lnode *head = NULL;
    for (uint32_t i = 0; i < n; i++) {
        size_t len = list_len(seed, i);
        struct lnode *l = gm_new(sizeof *l + len);
        if (!l) return NULL;
        l->len = (uint32_t)len;
        l->idx = i;
        gc_fill(l->payload, len, seed + i);
        l->next = head;
        head = l;
    }
    return head;
}

static size_t blob_len(uint64_t seed, uint32_t i) {
    uint64_t k = key_of(seed, i);
    return k % 4 == 0 ? 1 + (k >> 8) % 15 : 1 + (k >> 8) % 3000; /* a quarter tiny */
}

static void *build_array(uint64_t seed, uint32_t n) {
    struct elem *a = gm_new_array(&elem_type, n);
    if (!a) return NULL;
    for (uint32_t i = 0; i < n; i++) {
        size_t len = blob_len(seed, i);
        a[i].blob = gm_new_noscan(len);
        if (!a[i].blob) return NULL;
        gc_fill(a[i].blob, len, seed ^ i);
        a[i].len = len | (1ull << 63);
        a[i].seed = key_of(seed, i);
    }
    return a;
}

/* Sparse pattern of large blocks: the first and last 64 bytes and one byte
 * every 4 KiB. */
static void large_fill(unsigned char *p, size_t n, uint64_t seed) {
    for (size_t i = 0; i < 64; i++) p[i] = gc_pat(seed, i), p[n - 1 - i] = gc_pat(seed, n - 1 - i);
    for (size_t i = 4096; i < n; i += 4096) p[i] = gc_pat(seed, i);
}
static int large_ok(const unsigned char *p, size_t n, uint64_t seed) {
    for (size_t i = 0; i < 64; i++)
        if (p[i] != gc_pat(seed, i) || p[n - 1 - i] != gc_pat(seed, n - 1 - i)) return 0;
    for (size_t i = 4096; i < n; i += 4096)
        if (p[i] != gc_pat(seed, i)) return 0;
    return 1;
}

enum { WIDE_STRIDE = 512 };

static void *build_wide(uint64_t seed, uint32_t words) {
    uint64_t *w = gm_new((size_t)words * 8);
    if (!w) return NULL;
    for (uint32_t i = 0; i < words; i++) {
        if (i % WIDE_STRIDE == 0) {
            void *blob = gm_new_noscan(32);
            if (!blob) return NULL;
            gc_fill(blob, 32, seed + i);
            w[i] = (uint64_t)(uintptr_t)blob;
        } else {
            w[i] = key_of(seed, i);
        }
    }
    return w;
}

static struct box *make_box(uint64_t *rng) {
    uint64_t r = gm_test_rand(rng);
    enum kind k = (enum kind)(r % NKINDS);
    uint64_t seed = gm_test_rand(rng);
    uint32_t n = 0;
    r >>= 8;
    switch (k) {
    case TREE: n = 1 + (uint32_t)(r % 600); break;
    case LIST: n = 1 + (uint32_t)(r % 300); break;
    case ARRAY: n = 1 + (uint32_t)(r % 120); break;
    case LARGE: n = (uint32_t)(33 * KiB + r % (300 * KiB)); break;
    case WIDE: n = (uint32_t)(16 * 1024 + r % (64 * 1024)); break; /* words: 128-640 KiB */
    default: break;
    }
    struct box *b = (r >> 30) % 2 ? gm_new_typed(&box_type) : gm_new(sizeof *b);
    if (!b) return NULL;
    b->magic = MAGIC;
    b->seed = seed | (1ull << 63);
    b->kind = k;
    b->n = n;
    b->check = MAGIC ^ b->seed ^ k ^ n;
    switch (k) {
    case TREE: b->root = build_tree(b->seed, 1, n); break;
    case LIST: b->root = build_list(b->seed, n); break;
    case ARRAY: b->root = build_array(b->seed, n); break;
    case LARGE:
        b->root = gm_new_noscan(n);
        if (b->root) large_fill(b->root, n, b->seed);
        break;
    case WIDE: b->root = build_wide(b->seed, n); break;
    default: break;
    }
    return b->root ? b : NULL;
}

/* ---- Verifying ----------------------------------------------------------- */

static uint32_t verify_tree(const struct box *b, const struct tnode *t, uint32_t idx, int *ok) {
    if (!t) return 0;
    if (idx > b->n || t->key != key_of(b->seed, idx) || t->check != (~t->key ^ idx)) {
        *ok = fail(b, "tree node corrupt", idx);
        return 0;
    }
    return 1 + verify_tree(b, t->left, 2 * idx, ok) + verify_tree(b, t->right, 2 * idx + 1, ok);
}

static int verify_box(const struct box *b) {
    if (!b) return 1;
    if (b->magic != MAGIC || b->check != (MAGIC ^ b->seed ^ b->kind ^ b->n))
        return fail(b, "box header corrupt", 0);
    int ok = 1;
    switch (b->kind) {
    case TREE: {
        uint32_t count = verify_tree(b, b->root, 1, &ok);
        if (ok && count != b->n) return fail(b, "tree node count", count);
        break;
    }
    case LIST: {
        uint32_t expect = b->n;
        for (const struct lnode *l = b->root; l; l = l->next) {
            if (expect == 0) return fail(b, "list too long", 0);
            expect--;
            if (l->idx != expect || l->len != list_len(b->seed, expect))
                return fail(b, "list node header", expect);
            if (!gc_check(l->payload, l->len, b->seed + expect))
                return fail(b, "list payload", expect);
        }
        if (expect != 0) return fail(b, "list too short", expect);
        break;
    }
    case ARRAY: {
        const struct elem *a = b->root;
        for (uint32_t i = 0; i < b->n; i++) {
            size_t len = blob_len(b->seed, i);
            if (a[i].len != (len | (1ull << 63)) || a[i].seed != key_of(b->seed, i))
                return fail(b, "array element", i);
            if (!gc_check(a[i].blob, len, b->seed ^ i)) return fail(b, "array blob", i);
        }
        break;
    }
    case LARGE:
        if (!large_ok(b->root, b->n, b->seed)) return fail(b, "large block pattern", 0);
        break;
    case WIDE: {
        const uint64_t *w = b->root;
        for (uint32_t i = 0; i < b->n; i++) {
            if (i % WIDE_STRIDE == 0) {
                if (!gc_check((const void *)(uintptr_t)w[i], 32, b->seed + i))
                    return fail(b, "wide blob", i);
            } else if (w[i] != key_of(b->seed, i)) {
                return fail(b, "wide word", i);
            }
        }
        break;
    }
    default:
        return fail(b, "bad kind", b->kind);
    }
    return ok;
}

/* ---- Workers ------------------------------------------------------------- */

static struct box *global_slots[NTHREADS][SLOTS];
static _Atomic(struct box *) exchange[EX];
static long ops_per_thread;
static atomic_long total_cycles_seen, total_full_checks;

struct worker {
    int id;
    pthread_t thread;
    long made;
};
static struct worker workers[NTHREADS];

static void verify_all(struct box **a, struct box **b, struct box **c) {
    for (int i = 0; i < SLOTS; i++) {
        verify_box(a[i]);
        verify_box(b[i]);
        verify_box(c[i]);
    }
    atomic_fetch_add(&total_full_checks, 1);
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    uint64_t rng = SEED + (uint64_t)w->id * 0x1000;
    /* The thread started with pthread_create registers here, before it
     * holds any collected pointer. */
    (void)gc_launder(gm_new(16));
    struct box *stack_slots[SLOTS];
    memset(stack_slots, 0, sizeof stack_slots);
    struct box **unc = gm_malloc_uncollectable(SLOTS * sizeof *unc);
    if (!unc) {
        fail(NULL, "gm_malloc_uncollectable failed", 0);
        return NULL;
    }
    struct box **arrays[3] = {global_slots[w->id], stack_slots, unc};
    uint32_t last_gc = gc_stats().num_gc;
    for (long op = 0; op < ops_per_thread; op++) {
        uint64_t r = gm_test_rand(&rng);
        struct box **slot = &arrays[r % 3][(r >> 8) % SLOTS];
        unsigned what = (unsigned)((r >> 20) % 100);
        if (what < 45) { /* replace */
            verify_box(*slot);
            *slot = make_box(&rng);
            if (!*slot) fail(NULL, "allocation failed", (uint64_t)op);
            w->made++;
        } else if (what < 65) { /* check */
            verify_box(*slot);
        } else if (what < 75) { /* trade with another thread */
            struct box *mine = *slot;
            *slot = NULL;
            struct box *theirs = atomic_exchange(&exchange[(r >> 32) % EX], mine);
            verify_box(theirs);
            *slot = theirs;
        } else { /* garbage, checked before it is dropped */
            struct box *g = make_box(&rng);
            verify_box(g);
            w->made++;
        }
        if (w->id == 0 && op % GC_EVERY == GC_EVERY - 1) gm_gc();
        if (op % 64 == 0) {
            uint32_t now = gc_stats().num_gc;
            if (now != last_gc) {
                atomic_fetch_add(&total_cycles_seen, 1);
                verify_all(arrays[0], arrays[1], arrays[2]);
                last_gc = now;
            }
        }
    }
    verify_all(arrays[0], arrays[1], arrays[2]);
    /* The global slots stay for the main thread; the others go to the
     * exchange where there is room, or are dropped. */
    for (int i = 0; i < SLOTS; i++) {
        for (int k = 0; k < 2; k++) {
            struct box *b = arrays[k + 1][i];
            arrays[k + 1][i] = NULL;
            struct box *expected = NULL;
            if (b) atomic_compare_exchange_strong(&exchange[(i + k * 7) % EX], &expected, b);
        }
    }
    gm_free(unc);
    gc_clear_stack();
    return NULL;
}

static long scale_percent(void) {
    const char *s = getenv("GM_GC_STRESS_SCALE");
    long v = s ? strtol(s, NULL, 0) : (GC_SANITIZED ? 15 : 100);
    return v > 0 ? v : 100;
}

static long count_live_boxes(void) {
    long n = 0;
    for (int t = 0; t < NTHREADS; t++)
        for (int i = 0; i < SLOTS; i++)
            if (global_slots[t][i]) n++;
    for (int i = 0; i < EX; i++)
        if (atomic_load(&exchange[i])) n++;
    return n;
}

TEST(mutators_and_collections) {
    ops_per_thread = BASE_OPS * scale_percent() / 100;
    gm_memstats start = gc_stats();
    double t0 = gc_now();
    for (int i = 0; i < NTHREADS; i++) {
        workers[i].id = i;
        int rc = i == NTHREADS - 1
                     ? pthread_create(&workers[i].thread, NULL, worker_main, &workers[i])
                     : gm_pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
        REQUIRE(rc == 0);
    }
    long made = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(workers[i].thread, NULL);
        made += workers[i].made;
    }
    double t1 = gc_now();
    gm_memstats end = gc_stats();
    /* What the threads left behind survives more collections. */
    for (int k = 0; k < 2; k++) {
        gm_gc();
        for (int t = 0; t < NTHREADS; t++)
            for (int i = 0; i < SLOTS; i++) verify_box(global_slots[t][i]);
        for (int i = 0; i < EX; i++) verify_box(atomic_load(&exchange[i]));
    }
    long live = count_live_boxes();
    gm_memstats kept = gc_stats();
    for (int t = 0; t < NTHREADS; t++)
        for (int i = 0; i < SLOTS; i++) global_slots[t][i] = NULL;
    for (int i = 0; i < EX; i++) atomic_store(&exchange[i], NULL);
    gc_clear_stack();
    gm_gc();
    gm_gc();
    gm_memstats dropped = gc_stats();
    uint32_t cycles = end.num_gc - start.num_gc, forced = end.num_forced_gc - start.num_forced_gc;
    printf("  %ld ops/thread, %ld structures made, %u cycles (%u forced), %ld noticed, "
           "%ld full checks, %.1f s; %ld boxes kept: heap_alloc %.1f MiB, %.1f MiB after "
           "dropping them\n",
           ops_per_thread, made, cycles, forced, atomic_load(&total_cycles_seen),
           atomic_load(&total_full_checks), t1 - t0, live, kept.heap_alloc / 1048576.0,
           dropped.heap_alloc / 1048576.0);
    CHECK_EQ(atomic_load(&errors), 0);
    CHECK(cycles > forced);           /* automatic cycles ran */
    CHECK(forced >= (uint32_t)(ops_per_thread / GC_EVERY)); /* and thread 0's */
    CHECK(atomic_load(&total_cycles_seen) >= 3);
    CHECK(dropped.heap_alloc < kept.heap_alloc / 2 + 4 * MiB);
}

TEST_MAIN()
