/*
 * Go's sync.Pool (gomalloc/pool.h): Get returns what Put stored, stealing
 * across threads; an object Put and never taken back is dropped over two
 * collections; the pool is a plain cache when nothing collects; no object
 * is ever handed to two holders at once; Get and Put allocate nothing once
 * warm.
 */
#include <pthread.h>

#include "gc_test.h"
#include "gomalloc/pool.h"

static atomic_int news;
static void *new_obj(void *arg) {
    (void)arg;
    atomic_fetch_add(&news, 1);
    return gm_new(64);
}

TEST(get_returns_what_put_stored_then_calls_new) {
    gm_pool *p = gm_pool_new(new_obj, NULL);
    REQUIRE(p != NULL);
    void *a = gm_new(64), *b = gm_new(64);
    gm_pool_put(p, a);
    gm_pool_put(p, b);
    gm_pool_put(p, NULL); /* ignored, as Put(nil) */
    void *x = gm_pool_get(p), *y = gm_pool_get(p);
    CHECK((x == a && y == b) || (x == b && y == a));
    int before = atomic_load(&news);
    void *z = gm_pool_get(p);
    CHECK(z != NULL && z != a && z != b);
    CHECK_EQ(atomic_load(&news), before + 1);
    gm_pool_free(p);
}

TEST(get_without_new_returns_null_when_empty) {
    gm_pool *p = gm_pool_new(NULL, NULL);
    REQUIRE(p != NULL);
    CHECK(gm_pool_get(p) == NULL);
    void *a = gm_new(32);
    gm_pool_put(p, a);
    CHECK(gm_pool_get(p) == a);
    CHECK(gm_pool_get(p) == NULL);
    gm_pool_free(p);
}

TEST(many_puts_fill_the_chain_and_all_come_back) {
    enum { N = 5000 }; /* rings of 8, 16, ... 4096 */
    gm_pool *p = gm_pool_new(NULL, NULL);
    REQUIRE(p != NULL);
    void **v = gm_malloc_uncollectable(N * sizeof *v);
    REQUIRE(v != NULL);
    for (int i = 0; i < N; i++) {
        v[i] = gm_new(48);
        *(int *)v[i] = i;
        gm_pool_put(p, v[i]);
    }
    char *seen = calloc(N, 1);
    int got = 0;
    for (void *x; (x = gm_pool_get(p)) != NULL; got++) {
        int i = *(int *)x;
        REQUIRE(i >= 0 && i < N && v[i] == x);
        CHECK(!seen[i]);
        seen[i] = 1;
    }
    CHECK_EQ(got, N);
    free(seen);
    gm_free(v);
    gm_pool_free(p);
}

/* ---- stealing ---------------------------------------------------------------- */

struct steal_ctx {
    gm_pool *p;
    int got;
};

static void *stealer(void *arg) {
    struct steal_ctx *c = arg;
    while (gm_pool_get(c->p)) c->got++;
    return NULL;
}

TEST(another_thread_steals_what_this_thread_put) {
    enum { N = 300 };
    gm_pool *p = gm_pool_new(NULL, NULL);
    REQUIRE(p != NULL);
    for (int i = 0; i < N; i++) gm_pool_put(p, gm_new(32));
    struct steal_ctx c = {p, 0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, stealer, &c) == 0);
    pthread_join(t, NULL);
    /* All but the private slot, which only its owner takes. */
    CHECK_EQ(c.got, N - 1);
    CHECK(gm_pool_get(p) != NULL);
    CHECK(gm_pool_get(p) == NULL);
    gm_pool_free(p);
}

/* ---- the collector ------------------------------------------------------------ */

static atomic_int pooled_fin;

GC_HELPER void put_fresh(gm_pool *p, int n) {
    for (int i = 0; i < n; i++) {
        void *o = gm_new(64);
        gm_set_finalizer(o, gc_count_fin, &pooled_fin);
        gm_pool_put(p, o);
    }
}

TEST(pooled_objects_survive_one_cycle_and_are_dropped_by_the_second) {
    enum { N = 100 };
    gm_pool *p = gm_pool_new(NULL, NULL);
    REQUIRE(p != NULL);
    put_fresh(p, N);
    gc_clear_stack();
    gm_gc(); /* contents move to the victim cache: still held */
    gc_sleep_ms(100); /* finalizers queued by that cycle would run by now */
    CHECK_EQ(atomic_load(&pooled_fin), 0);
    gm_gc(); /* the victim is dropped: now garbage */
    CHECK(gc_wait_count(&pooled_fin, N * 9 / 10, GC_WAIT_SECONDS));
    gm_pool_free(p);
}

TEST(the_victim_cache_still_serves_gets_after_one_cycle) {
    gm_pool *p = gm_pool_new(NULL, NULL);
    REQUIRE(p != NULL);
    void *a = gm_new(64);
    uintptr_t h = gc_hide(a);
    gm_pool_put(p, a);
    a = NULL;
    gm_gc();
    CHECK(gm_pool_get(p) == gc_unhide(h));
    gm_pool_free(p);
}

/* Steady state: Get and Put of a warm pool allocate nothing. */
static void get_put(void *arg) {
    gm_pool *p = arg;
    void *x = gm_pool_get(p), *y = gm_pool_get(p);
    gm_pool_put(p, x);
    gm_pool_put(p, y);
}

TEST(get_and_put_of_a_warm_pool_allocate_nothing) {
    gm_pool *p = gm_pool_new(new_obj, NULL);
    REQUIRE(p != NULL);
    CHECK(gm_allocs_per_run(1000, get_put, p) == 0.0);
    gm_pool_free(p);
}

/* ---- many threads, collections between --------------------------------------- */

enum { WORKERS = 4, ROUNDS = 20000, OBJ = 64 };
struct token {
    atomic_int held; /* 1 while a worker has it */
};

static void *tok_new(void *arg) {
    (void)arg;
    return gm_new(OBJ);
}

struct worker {
    gm_pool *p;
    unsigned seed;
    int errors;
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    gm_register_thread();
    struct token *mine[8];
    int n = 0;
    for (int r = 0; r < ROUNDS; r++) {
        w->seed = w->seed * 1103515245u + 12345u;
        if (n < 8 && (n == 0 || (w->seed >> 16) % 2)) {
            struct token *t = gm_pool_get(w->p);
            int expected = 0;
            if (!t || !atomic_compare_exchange_strong(&t->held, &expected, 1)) w->errors++;
            else mine[n++] = t;
        } else {
            struct token *t = mine[--n];
            atomic_store(&t->held, 0);
            gm_pool_put(w->p, t);
        }
        if (r % 5000 == 0 && w->seed % 4 == 0) gm_gc();
    }
    while (n) {
        atomic_store(&mine[--n]->held, 0);
    }
    gm_unregister_thread();
    return NULL;
}

TEST(no_object_is_ever_held_twice_under_concurrent_use_and_collections) {
    gm_pool *p = gm_pool_new(tok_new, NULL);
    REQUIRE(p != NULL);
    struct worker w[WORKERS];
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){p, 1234u + (unsigned)i, 0};
        REQUIRE(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
    }
    int errors = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        errors += w[i].errors;
    }
    if (errors) fprintf(stderr, "  seeds 1234..%d: %d double holds\n", 1234 + WORKERS - 1, errors);
    CHECK_EQ(errors, 0);
    gm_pool_free(p);
}

TEST_MAIN()
