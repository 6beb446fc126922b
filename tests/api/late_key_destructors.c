/*
 * Allocation after a thread's cache is gone. pthread key destructors run in
 * key order, so a key created after gomalloc's own runs after the cache was
 * returned; allocating there must work, its blocks must stay valid after
 * the thread is gone, and it must not leave a new cache behind per thread
 * (such threads share one locked "orphan" cache). Not a TSan test: TSan's
 * own thread state is gone by the last destructor round.
 */
#include "test.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#include "gomalloc.h"

enum { NTHREADS = 300, PER_DTOR = 50 };

static pthread_key_t late_key;
static unsigned char *kept[NTHREADS];

static __thread int rounds;

/* Re-arms itself so that it also runs in the last destructor round, after
 * which nothing would return a cache made for this thread. */
static void late_destructor(void *arg) {
    int id = (int)(intptr_t)arg - 1;
    if (++rounds < PTHREAD_DESTRUCTOR_ITERATIONS) pthread_setspecific(late_key, arg);
    void *tmp[PER_DTOR];
    for (int i = 0; i < PER_DTOR; i++) {
        tmp[i] = gm_malloc(16 + (size_t)i * 40);
        if (tmp[i]) memset(tmp[i], 0xee, 16 + (size_t)i * 40);
    }
    for (int i = 0; i < PER_DTOR; i++) gm_free(tmp[i]);
    gm_free(kept[id]);
    kept[id] = gm_malloc(200);
    if (kept[id]) memset(kept[id], id & 0xff, 200);
}

static void *thread_main(void *arg) {
    /* Allocate first, so gomalloc's key holds a cache for this thread. */
    void *p = gm_malloc(64);
    gm_free(p);
    pthread_setspecific(late_key, arg);
    return NULL;
}

TEST(allocation_in_a_late_key_destructor_works_and_leaks_no_cache) {
    gm_free(gm_malloc(1)); /* gomalloc's key first */
    REQUIRE(pthread_key_create(&late_key, late_destructor) == 0);
    gm_memstats before, after;
    gm_read_memstats(&before);
    for (int i = 0; i < NTHREADS; i++) {
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, thread_main, (void *)(intptr_t)(i + 1)) == 0);
        pthread_join(t, NULL);
    }
    gm_read_memstats(&after);
    for (int i = 0; i < NTHREADS; i++) {
        REQUIRE(kept[i] != NULL);
        for (int j = 0; j < 200; j++) CHECK_EQ(kept[i][j], (unsigned char)(i & 0xff));
        gm_free(kept[i]);
    }
    /* At most one more cache in use (the shared orphan one), not one per thread. */
    CHECK(after.mcache_inuse <= before.mcache_inuse + 8192);
}

TEST_MAIN()
