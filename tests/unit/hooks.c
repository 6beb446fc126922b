/* Allocation and free hooks (hooks.c): every allocation and free of every
 * entry point is seen once, with the block's size class and span; a hook's
 * own allocations are not; removing a hook stops the calls; threads. */
#include <pthread.h>

#include "internal.h"
#include "test.h"

typedef struct tally {
    int allocs, frees;
    gm_alloc_event last_alloc, last_free;
} tally;

static __thread bool counting; /* only this thread's events */

static void on_alloc(const gm_alloc_event *ev, void *arg) {
    if (!counting) return;
    tally *t = arg;
    t->allocs++;
    t->last_alloc = *ev;
}

static void on_free(const gm_alloc_event *ev, void *arg) {
    if (!counting) return;
    tally *t = arg;
    t->frees++;
    t->last_free = *ev;
}

static void start(tally *t) {
    memset(t, 0, sizeof *t);
    gm_set_alloc_hook(on_alloc, t);
    gm_set_free_hook(on_free, t);
    counting = true;
}

static void stop(void) {
    counting = false;
    gm_set_alloc_hook(NULL, NULL);
    gm_set_free_hook(NULL, NULL);
}

TEST(every_malloc_family_call_is_seen_once) {
    static const size_t sizes[] = {0, 1, 8, 24, 100, 1000, 4096, 32768, 40000, 1 << 20};
    enum { N = sizeof sizes / sizeof sizes[0] };
    void *p[6 * N];
    int k = 0;
    tally t;
    start(&t);
    for (int i = 0; i < N; i++) p[k++] = gm_malloc(sizes[i]);
    for (int i = 0; i < N; i++) p[k++] = gm_calloc(3, sizes[i]);
    for (int i = 0; i < N; i++) p[k++] = gm_aligned_alloc(64, sizes[i] + 64);
    for (int i = 0; i < N; i++) REQUIRE(gm_posix_memalign(&p[k++], 4096, sizes[i]) == 0);
    for (int i = 0; i < N; i++) p[k++] = gm_memalign(32, sizes[i]);
    for (int i = 0; i < N; i++) p[k++] = gm_malloc_uncollectable(sizes[i] + 1);
    CHECK_EQ(t.allocs, 6 * N);
    CHECK_EQ(t.frees, 0);
    for (int i = 0; i < k; i++) gm_free(p[i]);
    CHECK_EQ(t.frees, 6 * N);
    gm_free(NULL); /* not a free */
    CHECK_EQ(t.frees, 6 * N);
    stop();
}

TEST(an_event_describes_the_block_and_its_span) {
    tally t;
    start(&t);
    void *p = gm_malloc(1000);
    stop();
    gm_size_class_info ci;
    gm_span_info si;
    REQUIRE(gm_size_class_of(1000, &ci) == 0 && gm_span_inspect(p, &si) == 0);
    CHECK(t.last_alloc.ptr == p);
    CHECK_EQ(t.last_alloc.size, 1000);
    CHECK_EQ(t.last_alloc.elemsize, 1024);
    CHECK_EQ(t.last_alloc.size_class, ci.size_class);
    CHECK_EQ(t.last_alloc.span_class, ci.span_class);
    CHECK_EQ(t.last_alloc.span, si.base);
    CHECK_EQ(t.last_alloc.gc_kind, GM_GC_NONE);
    start(&t);
    gm_free(p);
    void *big = gm_malloc(100000);
    gm_free(big);
    stop();
    CHECK_EQ(t.frees, 2);
    CHECK(t.last_free.ptr == big);
    CHECK_EQ(t.last_free.size, 13 * 8192);
    CHECK_EQ(t.last_free.size_class, 0);
    CHECK_EQ(t.last_free.span, (uintptr_t)big);
}

TEST(realloc_reports_a_move_as_an_allocation_and_a_free) {
    void *p = gm_malloc(100);
    tally t;
    start(&t);
    p = gm_realloc(p, 110); /* same class (112): in place, no event */
    CHECK_EQ(t.allocs + t.frees, 0);
    void *q = gm_realloc(p, 5000);
    CHECK_EQ(t.allocs, 1);
    CHECK_EQ(t.frees, 1);
    CHECK(t.last_alloc.ptr == q && t.last_free.ptr == p);
    CHECK_EQ(t.last_alloc.size, 5000);
    gm_free(q);
    stop();
}

TEST(collected_allocations_are_seen_with_their_kind) {
    static const uint64_t pair_bits[1] = {3};
    static const gm_type pair = {16, 16, pair_bits, "pair", 8};
    tally t;
    start(&t);
    for (int i = 0; i < 20; i++) gm_keep_alive(gm_new(64));
    CHECK_EQ(t.last_alloc.gc_kind, GM_GC_CONSERVATIVE);
    for (int i = 0; i < 10; i++) gm_keep_alive(gm_new_noscan(4)); /* tiny */
    CHECK_EQ(t.last_alloc.gc_kind, GM_GC_NOSCAN);
    CHECK_EQ(t.last_alloc.size, 4);
    for (int i = 0; i < 3; i++) gm_keep_alive(gm_new_typed(&pair));
    CHECK_EQ(t.last_alloc.gc_kind, GM_GC_TYPED);
    gm_keep_alive(gm_new(100000));
    stop();
    CHECK_EQ(t.allocs, 34);
}

static int nested;
static void allocating_hook(const gm_alloc_event *ev, void *arg) {
    (void)ev;
    (void)arg;
    if (!counting) return;
    nested++;
    void *p = gm_malloc(32); /* neither hooked nor freed-hooked */
    gm_free(p);
}

TEST(a_hook_may_allocate_without_recursion) {
    tally t;
    start(&t);
    gm_set_alloc_hook(allocating_hook, NULL);
    for (int i = 0; i < 100; i++) gm_free(gm_malloc(64));
    stop();
    CHECK_EQ(nested, 100);
    CHECK_EQ(t.frees, 100); /* the hook's own frees are not reported */
}

TEST(removed_hooks_are_not_called) {
    tally t;
    start(&t);
    stop();
    counting = true;
    for (int i = 0; i < 100; i++) gm_free(gm_malloc(64));
    counting = false;
    CHECK_EQ(t.allocs + t.frees, 0);
}

static int thread_allocs; /* atomic */
static void count_all(const gm_alloc_event *ev, void *arg) {
    (void)ev;
    if (counting) __atomic_add_fetch((int *)arg, 1, __ATOMIC_RELAXED);
}

static void *worker(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    counting = true;
    void *keep[64] = {0};
    for (int i = 0; i < 10000; i++) {
        int j = (int)(rand_r(&seed) % 64);
        gm_free(keep[j]);
        keep[j] = gm_malloc(rand_r(&seed) % 3000);
    }
    for (int j = 0; j < 64; j++) gm_free(keep[j]);
    counting = false;
    return NULL;
}

TEST(every_thread_calls_the_hook) {
    gm_set_alloc_hook(count_all, &thread_allocs);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    gm_set_alloc_hook(NULL, NULL);
    CHECK_EQ(thread_allocs, 4 * 10000);
}

TEST_MAIN()
