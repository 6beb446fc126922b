/*
 * Reachability from every kind of root: an object whose only reference is
 * in one root survives gm_gc() (its pattern intact, its finalizer never
 * run), and once that reference is dropped it is collected (its finalizer
 * runs). Roots: a stack variable, a register (same thread across gm_gc,
 * and another thread's register while it spins), the program's .data and
 * .bss, a dlopen'ed library's globals, a chain of 10,000 heap objects,
 * another registered thread's stack (gm_pthread_create, gm_register_thread),
 * gm_add_roots ranges (not after gm_remove_roots), and an uncollectable
 * object. Memory from malloc/gm_malloc is not a root.
 */
#include <dlfcn.h>
#include <pthread.h>

#include "gc_test.h"

enum { OBJ = 200 };

/* Survival: the object is intact after three collections and a settle, and
 * its finalizer (counter c) has not run. */
#define CHECK_SURVIVES(p, seed, c)                                            \
    do {                                                                      \
        for (int k_ = 0; k_ < 3; k_++) gm_gc();                               \
        CHECK(gc_settle());                                                   \
        CHECK_EQ(atomic_load(c), 0);                                          \
        CHECK(gm_is_collected(p));                                            \
        CHECK(gc_check((p), OBJ, (seed)));                                    \
    } while (0)

/* Collection: the finalizer runs within the bounded wait. */
#define CHECK_COLLECTED(c)                                                    \
    do {                                                                      \
        gc_clear_stack();                                                     \
        GC_CHECK_ONE_COLLECTED(c);                                            \
    } while (0)

/* ---- The stack ---------------------------------------------------------- */

TEST(stack_variable_is_a_root) {
    static atomic_int fin;
    void *volatile local = gc_make(OBJ, 11, &fin);
    REQUIRE(local != NULL);
    gc_clear_stack();
    CHECK_SURVIVES(local, 11, &fin);
    local = NULL;
    CHECK_COLLECTED(&fin);
}

/* ---- Registers ---------------------------------------------------------- */

/* p lives in a register (a callee-saved one, since gm_gc is called) for
 * the whole function; no store of it is ever made by this code. */
GC_NOINLINE static int hold_in_register_across_gc(uintptr_t hidden, uint64_t seed) {
    uintptr_t p = hidden ^ GC_MASK;
    __asm__ volatile("" : "+r"(p));
    for (int i = 0; i < 3; i++) {
        gm_gc();
        __asm__ volatile("" : "+r"(p));
    }
    /* Collected by mistake, its slot would be free after gm_gc's sweep. */
    int ok = gm_is_collected((void *)p) && gc_check((void *)p, OBJ, seed);
    __asm__ volatile("" : "+r"(p));
    return ok;
}

TEST(register_is_a_root_across_gm_gc) {
    static atomic_int fin;
    uintptr_t h = gc_make_hidden(OBJ, 12, &fin);
    REQUIRE(h != gc_hide(NULL));
    gc_clear_stack();
    CHECK(hold_in_register_across_gc(h, 12));
    /* No cycle since the hold: a finalizer run now was queued during it.
     * (No gc_settle here: once the function returns, the object may be
     * garbage already.) */
    CHECK_EQ(atomic_load(&fin), 0);
    /* Only h (hidden) is left: the object is garbage now. */
    CHECK_COLLECTED(&fin);
}

/* A thread that keeps the only (unhidden) copy in a register while it
 * spins, or in a stack variable while it sleeps, until the main thread
 * has collected. */
enum hold_how { HOLD_REGISTER, HOLD_STACK, HOLD_STACK_HANDED_OVER };
struct holder {
    enum hold_how how;
    uint64_t seed;
    atomic_int *fin;
    uintptr_t handed; /* HOLD_STACK_HANDED_OVER: the object, hidden */
    atomic_int phase; /* 0 starting, 1 holding, 2 release */
    int ok;
};

GC_NOINLINE static void spin_holding_in_register(struct holder *h) {
    uintptr_t p = gc_make_hidden(OBJ, h->seed, h->fin);
    gc_clear_stack();
    p ^= GC_MASK;
    __asm__ volatile("" : "+r"(p));
    atomic_store(&h->phase, 1);
    while (atomic_load_explicit(&h->phase, memory_order_acquire) == 1)
        __asm__ volatile("" : "+r"(p));
    h->ok = gc_check((void *)p, OBJ, h->seed);
    __asm__ volatile("" : "+r"(p));
}

GC_NOINLINE static void sleep_holding_on_stack(struct holder *h, void *obj) {
    void *volatile local = obj;
    obj = NULL;
    gc_clear_stack();
    atomic_store(&h->phase, 1);
    while (atomic_load(&h->phase) == 1) gc_sleep_ms(1);
    h->ok = gc_check(local, OBJ, h->seed);
    local = NULL;
}

static void *holder_main(void *arg) {
    struct holder *h = arg;
    switch (h->how) {
    case HOLD_REGISTER:
        spin_holding_in_register(h);
        break;
    case HOLD_STACK:
        sleep_holding_on_stack(h, gc_unhide(gc_make_hidden(OBJ, h->seed, h->fin)));
        break;
    case HOLD_STACK_HANDED_OVER:
        /* Started with plain pthread_create: registers itself, then takes
         * the object the main thread made and dropped. */
        if (gm_register_thread() != 0) return NULL;
        sleep_holding_on_stack(h, gc_unhide(h->handed));
        h->handed = 0;
        break;
    }
    gc_clear_stack();
    return NULL;
}

GC_NOINLINE static void hold_in_thread(enum hold_how how, uint64_t seed, atomic_int *fin) {
    struct holder h = {.how = how, .seed = seed, .fin = fin};
    pthread_t t;
    if (how == HOLD_STACK_HANDED_OVER) {
        h.handed = gc_make_hidden(OBJ, seed, fin);
        gc_clear_stack();
        REQUIRE(pthread_create(&t, NULL, holder_main, &h) == 0);
    } else {
        REQUIRE(gm_pthread_create(&t, NULL, holder_main, &h) == 0);
    }
    double end = gc_now() + GC_WAIT_SECONDS;
    while (atomic_load(&h.phase) == 0 && gc_now() < end) gc_sleep_ms(1);
    CHECK_EQ(atomic_load(&h.phase), 1);
    for (int i = 0; i < 3; i++) gm_gc();
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(fin), 0); /* not found unreachable while held */
    atomic_store(&h.phase, 2);
    pthread_join(t, NULL);
    CHECK(h.ok);
}

TEST(another_threads_register_is_a_root) {
    static atomic_int fin;
    hold_in_thread(HOLD_REGISTER, 21, &fin);
    CHECK_COLLECTED(&fin); /* the thread is gone: garbage */
}

TEST(another_threads_stack_is_a_root) {
    static atomic_int fin;
    hold_in_thread(HOLD_STACK, 22, &fin);
    CHECK_COLLECTED(&fin);
}

TEST(gm_register_thread_makes_a_threads_stack_a_root) {
    static atomic_int fin;
    hold_in_thread(HOLD_STACK_HANDED_OVER, 23, &fin);
    CHECK_COLLECTED(&fin);
}

/* ---- The program's globals ---------------------------------------------- */

static volatile uintptr_t data_words[4] = {1, 2, 3, 4}; /* .data */
static void *volatile bss_pointer;                      /* .bss */

TEST(program_data_segment_is_a_root) {
    static atomic_int fin;
    data_words[2] = (uintptr_t)gc_make(OBJ, 31, &fin);
    REQUIRE(data_words[2] != 0);
    gc_clear_stack();
    CHECK_SURVIVES((void *)data_words[2], 31, &fin);
    data_words[2] = 3;
    CHECK_COLLECTED(&fin);
}

TEST(program_bss_segment_is_a_root) {
    static atomic_int fin;
    bss_pointer = gc_make(OBJ, 32, &fin);
    REQUIRE(bss_pointer != NULL);
    gc_clear_stack();
    CHECK_SURVIVES(bss_pointer, 32, &fin);
    bss_pointer = NULL;
    CHECK_COLLECTED(&fin);
}

/* ---- A library loaded after the collector started ----------------------- */

typedef void (*dso_set_fn)(void *);
typedef void *(*dso_get_fn)(void);

GC_NOINLINE static void dso_store(void *lib, const char *setter, uint64_t seed, atomic_int *fin) {
    dso_set_fn set;
    *(void **)&set = dlsym(lib, setter);
    if (set) set(gc_make(OBJ, seed, fin));
}

static void check_dso_slot(void *lib, const char *which, uint64_t seed, atomic_int *fin) {
    char setter[64], getter[64];
    snprintf(setter, sizeof setter, "roots_dso_set_%s", which);
    snprintf(getter, sizeof getter, "roots_dso_get_%s", which);
    dso_set_fn set;
    dso_get_fn get;
    *(void **)&set = dlsym(lib, setter);
    *(void **)&get = dlsym(lib, getter);
    REQUIRE(set && get);
    dso_store(lib, setter, seed, fin);
    gc_clear_stack();
    REQUIRE(get() != NULL);
    CHECK_SURVIVES(get(), seed, fin);
    set(NULL);
    CHECK_COLLECTED(fin);
}

TEST(dlopened_library_globals_are_roots) {
    static atomic_int fin_bss, fin_data;
    gm_gc(); /* the collector is up before the library arrives */
    void *lib = dlopen(GC_ROOTS_DSO_PATH, RTLD_NOW | RTLD_LOCAL);
    if (!lib) fprintf(stderr, "  dlopen: %s\n", dlerror());
    REQUIRE(lib != NULL);
    check_dso_slot(lib, "bss", 41, &fin_bss);
    check_dso_slot(lib, "data", 42, &fin_data);
}

/* ---- Heap chains -------------------------------------------------------- */

enum { CHAIN = 10000 };
struct lnode {
    struct lnode *next;
    uint64_t val;
    uint64_t check;
};
static struct lnode *volatile chain_root;

static uint64_t chain_val(int i) { return ((uint64_t)i * 0x9E3779B97F4A7C15ull) | (1ull << 63); }

/* Built tail first: node i points to node i-1; the root is node CHAIN-1.
 * The tail (node 0) carries the finalizer. */
GC_NOINLINE static void build_chain(atomic_int *fin) {
    struct lnode *prev = NULL;
    for (int i = 0; i < CHAIN; i++) {
        struct lnode *n = gm_new(sizeof *n);
        if (!n) return;
        n->next = prev;
        n->val = chain_val(i);
        n->check = ~n->val;
        if (i == 0) gm_set_finalizer(n, gc_count_fin, fin);
        prev = n;
    }
    chain_root = prev;
}

GC_NOINLINE static int walk_chain(void) {
    int i = CHAIN - 1;
    for (struct lnode *n = chain_root; n; n = n->next, i--)
        if (i < 0 || n->val != chain_val(i) || n->check != ~n->val) return -1;
    return i == -1 ? CHAIN : -1;
}

TEST(heap_chain_of_10000_objects_from_one_root) {
    static atomic_int fin;
    build_chain(&fin);
    REQUIRE(chain_root != NULL);
    gc_clear_stack();
    for (int k = 0; k < 3; k++) {
        gm_gc();
        /* Garbage in between, so that freed slots would be reused. */
        for (int j = 0; j < CHAIN; j++) (void)gc_launder(gm_new(sizeof(struct lnode)));
    }
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&fin), 0);
    CHECK_EQ(walk_chain(), CHAIN);
    gm_gc();
    gm_memstats before = gc_stats();
    chain_root = NULL;
    gc_clear_stack();
    CHECK_COLLECTED(&fin); /* the tail: the whole chain was unreachable */
    gm_gc();
    gm_gc();
    gm_memstats after = gc_stats();
    CHECK(before.heap_objects >= after.heap_objects + CHAIN * 9 / 10);
    if (before.heap_objects < after.heap_objects + CHAIN * 9 / 10)
        fprintf(stderr, "  heap_objects %" PRIu64 " -> %" PRIu64 "\n", before.heap_objects,
                after.heap_objects);
}

/* ---- gm_add_roots / gm_remove_roots ------------------------------------- */

TEST(gm_add_roots_range_is_a_root_until_removed) {
    static atomic_int fin;
    enum { WORDS = 64 };
    void **block = calloc(WORDS, sizeof *block); /* the C library's malloc */
    REQUIRE(block != NULL);
    gm_add_roots(block, block + WORDS);
    block[37] = gc_make(OBJ, 51, &fin);
    REQUIRE(block[37] != NULL);
    gc_clear_stack();
    CHECK_SURVIVES(block[37], 51, &fin);
    gm_remove_roots(block, block + WORDS);
    /* block still holds the address, but is no root any more. */
    CHECK_COLLECTED(&fin);
    free(block);
}

TEST(gm_add_roots_on_gm_malloc_memory) {
    static atomic_int fin;
    enum { WORDS = 512 };
    void **block = gm_calloc(WORDS, sizeof *block);
    REQUIRE(block != NULL);
    gm_add_roots(block, block + WORDS);
    block[WORDS - 1] = gc_make(OBJ, 52, &fin); /* the last word of the range */
    gc_clear_stack();
    CHECK_SURVIVES(block[WORDS - 1], 52, &fin);
    gm_remove_roots(block, block + WORDS);
    CHECK_COLLECTED(&fin);
    gm_free(block);
}

/* ---- Uncollectable objects ---------------------------------------------- */

TEST(uncollectable_object_is_a_root) {
    static atomic_int fin;
    void **u = gm_malloc_uncollectable(16 * sizeof(void *));
    REQUIRE(u != NULL);
    u[5] = gc_make(OBJ, 61, &fin);
    REQUIRE(u[5] != NULL);
    gc_clear_stack();
    CHECK_SURVIVES(u[5], 61, &fin);
    /* Freed, it is no root any more (it still holds the address). */
    gm_free(u);
    u = NULL;
    CHECK_COLLECTED(&fin);
}

TEST(uncollectable_object_is_not_collected) {
    static atomic_int fin;
    uintptr_t hidden = gc_hide(gm_malloc_uncollectable(OBJ));
    REQUIRE(hidden != gc_hide(NULL));
    gc_fill(gc_unhide(hidden), OBJ, 62);
    /* Something collected in it, to see that it is scanned after the
     * collections that might have reclaimed it. */
    ((void **)gc_unhide(hidden))[0] = gc_make(OBJ, 63, &fin);
    gc_clear_stack();
    for (int k = 0; k < 3; k++) {
        gm_gc();
        for (int j = 0; j < 1000; j++) (void)gc_launder(gm_new(OBJ));
    }
    CHECK(gc_settle());
    void **u = gc_unhide(hidden);
    CHECK(gc_check_from(u, sizeof(void *), OBJ, 62));
    CHECK_EQ(atomic_load(&fin), 0);
    CHECK(gc_check(u[0], OBJ, 63));
    gm_free(u);
}

/* ---- Not roots ---------------------------------------------------------- */

/* Memory of gm_malloc and of the C library's malloc is neither scanned nor
 * collected (gomalloc.h): objects referenced only from there are collected. */
enum { NOTROOT = 200 };
GC_NOINLINE static void fill_with_objects(void **block, atomic_int *fin) {
    for (int i = 0; i < NOTROOT; i++) block[i] = gc_make(64, 70 + (uint64_t)i, fin);
}

TEST(gm_malloc_and_libc_malloc_memory_are_not_roots) {
    static atomic_int fin_gm, fin_libc;
    void **gm_block = gm_malloc(NOTROOT * sizeof(void *));
    void **libc_block = malloc(NOTROOT * sizeof(void *));
    REQUIRE(gm_block && libc_block);
    fill_with_objects(gm_block, &fin_gm);
    fill_with_objects(libc_block, &fin_libc);
    gc_clear_stack();
    CHECK(gc_wait_count(&fin_gm, NOTROOT * 9 / 10, GC_WAIT_SECONDS));
    CHECK(gc_wait_count(&fin_libc, NOTROOT * 9 / 10, GC_WAIT_SECONDS));
    gm_free(gm_block);
    free(libc_block);
}

TEST_MAIN()
