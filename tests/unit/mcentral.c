/* Central lists: a span whose objects are all freed goes back to the page
 * heap (at uncache or at reclaim), partial spans are handed out before the
 * heap grows, and full spans regain free slots through remote frees. */
#include <pthread.h>
#include <string.h>

#include "internal.h"
#include "test.h"

enum { N = 20000, SIZE = 256 };
static void *objs[N];

static void *alloc_all(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i++) objs[i] = gm_malloc(SIZE);
    return NULL;
}

static void *free_all(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i++) gm_free(objs[i]);
    return NULL;
}

TEST(spans_emptied_by_remote_frees_return_to_heap_at_reclaim) {
    gm_memstats m0, m1, m2;
    gm_read_memstats(&m0);
    gm_test_run_in_thread(alloc_all, NULL);
    gm_read_memstats(&m1);
    CHECK(m1.heap_inuse - m0.heap_inuse >= (uint64_t)N * SIZE);
    gm_test_run_in_thread(free_all, NULL);
    size_t pages = gm__mcentral_reclaim();
    gm_read_memstats(&m2);
    CHECK(pages * GM_PAGE_SIZE >= (uint64_t)N * SIZE);
    CHECK(m2.heap_inuse <= m0.heap_inuse + 64 * GM_PAGE_SIZE);
    CHECK_EQ(m2.heap_objects, m0.heap_objects);
}

TEST(partial_spans_are_reused_before_the_heap_grows) {
    gm_test_run_in_thread(alloc_all, NULL);
    for (int i = 0; i < N; i += 2) gm_free(objs[i]); /* half of every span */
    gm_memstats m0, m1;
    gm_read_memstats(&m0);
    void *again[N / 2];
    for (int i = 0; i < N / 2; i++) again[i] = gm_malloc(SIZE);
    gm_read_memstats(&m1);
    CHECK_EQ(m1.heap_inuse, m0.heap_inuse); /* no new span was needed */
    for (int i = 0; i < N / 2; i++) gm_free(again[i]);
    for (int i = 1; i < N; i += 2) gm_free(objs[i]);
    gm_release_memory();
}

TEST(central_lists_account_for_their_spans) {
    int spc = gm__size_to_class(SIZE) << 1 | 1;
    gm_mcentral *mc = &gm__central[spc];
    gm_test_run_in_thread(alloc_all, NULL);
    gm_test_run_in_thread(free_all, NULL);
    gm__mcentral_reclaim();
    gm__lock(&mc->lock);
    uint64_t n = 0;
    for (gm_span *s = mc->partial.next; s != &mc->partial; s = s->next) {
        CHECK_EQ(s->state, GM_SPAN_PARTIAL);
        CHECK_EQ(s->owner, 0);
        n++;
    }
    CHECK_EQ(n, mc->npartial);
    n = 0;
    for (gm_span *s = mc->full.next; s != &mc->full; s = s->next) {
        CHECK_EQ(s->state, GM_SPAN_FULL);
        n++;
    }
    CHECK_EQ(n, mc->nfull);
    gm__unlock(&mc->lock);
}

TEST_MAIN()
