/*
 * gm_pthread_create's start argument stays reachable until the new thread
 * is registered: a parent that drops its only reference and collects at
 * once must not let the child receive a dead object.
 */
#include <pthread.h>

#include "gc_test.h"

enum { CHILDREN = 200, OBJ = 64 };

static atomic_int finalized;
static void **received; /* uncollectable: a root for what children got */
static atomic_int bad_pattern;

static void *child(void *arg) {
    uint64_t seed = ((uint64_t *)arg)[0];
    if (seed >= CHILDREN || !gc_check((char *)arg + 8, OBJ - 8, seed)) {
        atomic_fetch_add(&bad_pattern, 1); /* a dead, reused object */
        return NULL;
    }
    received[seed] = arg;
    return NULL;
}

/* Makes the argument and starts the child; keeps no copy of the address. */
GC_HELPER int spawn(pthread_t *t, uint64_t i) {
    uint64_t *o = gm_new_noscan(OBJ);
    if (!o) return ENOMEM;
    o[0] = i;
    gc_fill(o + 1, OBJ - 8, i);
    gm_set_finalizer(o, gc_count_fin, &finalized);
    return gm_pthread_create(t, NULL, child, o);
}

TEST(start_argument_survives_a_collection_before_the_child_registers) {
    received = gm_malloc_uncollectable(CHILDREN * sizeof(void *));
    REQUIRE(received != NULL);
    pthread_t t[CHILDREN];
    for (uint64_t i = 0; i < CHILDREN; i++) {
        REQUIRE(spawn(&t[i], i) == 0);
        gc_clear_stack();
        gm_gc(); /* the child has usually not run yet */
    }
    for (int i = 0; i < CHILDREN; i++) pthread_join(t[i], NULL);
    REQUIRE(gc_settle());
    CHECK_EQ(atomic_load(&bad_pattern), 0);
    CHECK_EQ(atomic_load(&finalized), 0);
    for (int i = 0; i < CHILDREN; i++) CHECK(received[i] != NULL);
    /* And once nothing holds them, they are collected. */
    memset(received, 0, CHILDREN * sizeof(void *));
    CHECK(gc_wait_count(&finalized, CHILDREN * 9 / 10, GC_WAIT_SECONDS));
    gm_free(received);
}

TEST_MAIN()
