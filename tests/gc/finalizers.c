/*
 * Finalizers (runtime.SetFinalizer): run once, with the object and the arg
 * they were set with, on a thread that is not the one collecting; one at a
 * time; not at all when cleared (fn NULL) or when the object was gm_free'd.
 * The object, and what it points to, stay valid while the finalizer runs,
 * even if collections run meanwhile. If A points to B and both have
 * finalizers, B's runs only after A's ran, in a later cycle. A finalizer may
 * allocate; an object it resurrects stays alive and is not finalized again.
 */
#include <pthread.h>

#include "gc_test.h"

enum { N = 100, OBJ = 160 };

static pthread_t main_thread;
__attribute__((constructor)) static void remember_main_thread(void) { main_thread = pthread_self(); }

/* ---- Exactly once, right object and argument, another thread ----------- */

struct fin_record {
    uintptr_t expect;   /* the object, hidden */
    uint64_t seed;
    atomic_int runs;
    atomic_int wrong_obj, on_main, content_bad, not_collected;
};
static struct fin_record records[N];

static void record_fin(void *obj, void *arg) {
    struct fin_record *r = arg;
    if (gc_hide(obj) != r->expect) atomic_fetch_add(&r->wrong_obj, 1);
    if (pthread_equal(pthread_self(), main_thread)) atomic_fetch_add(&r->on_main, 1);
    if (!gc_check(obj, OBJ, r->seed)) atomic_fetch_add(&r->content_bad, 1);
    if (!gm_is_collected(obj)) atomic_fetch_add(&r->not_collected, 1);
    atomic_fetch_add(&r->runs, 1);
}

GC_NOINLINE static void make_recorded(void) {
    for (int i = 0; i < N; i++) {
        void *p = gm_new(OBJ);
        if (!p) return;
        records[i].seed = 100 + (uint64_t)i;
        records[i].expect = gc_hide(p);
        gc_fill(p, OBJ, records[i].seed);
        gm_set_finalizer(p, record_fin, &records[i]);
    }
}

static int total_runs(void) {
    int n = 0;
    for (int i = 0; i < N; i++) n += atomic_load(&records[i].runs);
    return n;
}

TEST(finalizer_runs_once_with_its_object_and_arg_on_another_thread) {
    make_recorded();
    gc_clear_stack();
    double end = gc_now() + GC_WAIT_SECONDS;
    while (total_runs() < N * 9 / 10 && gc_now() < end) {
        gc_clear_stack();
        gm_gc();
        gc_sleep_ms(1);
    }
    CHECK(total_runs() >= N * 9 / 10);
    /* More cycles: nothing runs twice. */
    for (int k = 0; k < 5; k++) gm_gc();
    CHECK(gc_settle());
    int twice = 0, wrong = 0, on_main = 0, bad = 0, freed = 0;
    for (int i = 0; i < N; i++) {
        if (atomic_load(&records[i].runs) > 1) twice++;
        wrong += atomic_load(&records[i].wrong_obj);
        on_main += atomic_load(&records[i].on_main);
        bad += atomic_load(&records[i].content_bad);
        freed += atomic_load(&records[i].not_collected);
    }
    CHECK_EQ(twice, 0);
    CHECK_EQ(wrong, 0);
    CHECK_EQ(on_main, 0);
    CHECK_EQ(bad, 0);
    CHECK_EQ(freed, 0);
}

/* ---- Valid while it runs, even across collections ----------------------- */

static atomic_int slow_started, slow_done, slow_ok;

static void slow_fin(void *obj, void *arg) {
    (void)arg;
    atomic_store(&slow_started, 1);
    /* Collections and allocations of the same size run meanwhile. */
    gc_sleep_ms(300);
    int ok = gc_check(obj, OBJ, 555) && gm_is_collected(obj);
    gc_sleep_ms(100);
    ok = ok && gc_check(obj, OBJ, 555);
    atomic_store(&slow_ok, ok);
    atomic_store(&slow_done, 1);
}

GC_NOINLINE static void make_slow(void) {
    void *p = gm_new(OBJ);
    if (!p) return;
    gc_fill(p, OBJ, 555);
    gm_set_finalizer(p, slow_fin, NULL);
}

TEST(object_stays_valid_while_its_finalizer_runs) {
    make_slow();
    gc_clear_stack();
    CHECK(gc_wait_count(&slow_started, 1, GC_WAIT_SECONDS));
    double end = gc_now() + GC_WAIT_SECONDS;
    while (!atomic_load(&slow_done) && gc_now() < end) {
        gm_gc();
        for (int i = 0; i < 2000; i++) {
            void *q = gm_new(OBJ); /* would take the slot if it had been freed */
            if (q) memset(q, 0x11, OBJ);
        }
        gc_sleep_ms(2);
    }
    CHECK(atomic_load(&slow_done));
    CHECK(atomic_load(&slow_ok));
}

/* ---- Cleared, or freed: never runs -------------------------------------- */

GC_NOINLINE static void make_cleared_and_control(atomic_int *cleared, atomic_int *control) {
    for (int i = 0; i < N; i++) {
        void *p = gc_make(OBJ, 200 + (uint64_t)i, cleared);
        if (p) gm_set_finalizer(p, NULL, NULL);
        (void)gc_make(OBJ, 300 + (uint64_t)i, control);
    }
}

TEST(cleared_finalizer_does_not_run) {
    static atomic_int cleared, control;
    make_cleared_and_control(&cleared, &control);
    gc_clear_stack();
    CHECK(gc_wait_count(&control, N * 9 / 10, GC_WAIT_SECONDS));
    for (int k = 0; k < 3; k++) gm_gc();
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&cleared), 0);
}

GC_NOINLINE static void make_freed_and_control(atomic_int *freed, atomic_int *control) {
    for (int i = 0; i < N; i++) {
        void *p = gc_make(OBJ, 400 + (uint64_t)i, freed);
        gm_free(p);
        void *big = gc_make(64 * KiB, 500 + (uint64_t)i, freed);
        gm_free(big);
        (void)gc_make(OBJ, 600 + (uint64_t)i, control);
    }
}

TEST(gm_free_drops_the_finalizer) {
    static atomic_int freed, control;
    make_freed_and_control(&freed, &control);
    gc_clear_stack();
    CHECK(gc_wait_count(&control, N * 9 / 10, GC_WAIT_SECONDS));
    for (int k = 0; k < 3; k++) {
        gm_gc();
        for (int j = 0; j < N; j++) { /* reuse the freed slots */
            void *q = gm_new(OBJ);
            if (q) memset(q, 0x22, OBJ);
        }
    }
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&freed), 0);
}

/* ---- A -> B ordering ---------------------------------------------------- */

struct pair_state {
    atomic_int a_started, a_done, b_done;
    atomic_int b_done_when_a_ran, a_done_when_b_ran;
    atomic_int a_saw_b_intact, a_saw_c_intact;
};
static struct pair_state ps;

struct node_a {
    void *b; /* has a finalizer */
    void *c; /* has none */
    uint64_t pad[4];
};

static void fin_a(void *obj, void *arg) {
    (void)arg;
    struct node_a *a = obj;
    atomic_store(&ps.a_started, 1);
    atomic_store(&ps.b_done_when_a_ran, atomic_load(&ps.b_done));
    atomic_store(&ps.a_saw_b_intact, gc_check(a->b, OBJ, 701));
    atomic_store(&ps.a_saw_c_intact, gc_check(a->c, OBJ, 702));
    atomic_store(&ps.a_done, 1);
}
static void fin_b(void *obj, void *arg) {
    (void)obj;
    (void)arg;
    atomic_store(&ps.a_done_when_b_ran, atomic_load(&ps.a_done));
    atomic_store(&ps.b_done, 1);
}

GC_NOINLINE static void make_pair(void) {
    struct node_a *a = gm_new(sizeof *a);
    if (!a) return;
    a->b = gc_make(OBJ, 701, NULL);
    a->c = gc_make(OBJ, 702, NULL);
    for (int i = 0; i < 4; i++) a->pad[i] = 0x8000000000000000ull + (uint64_t)i;
    gm_set_finalizer(a->b, fin_b, NULL);
    gm_set_finalizer(a, fin_a, NULL);
}

TEST(finalizers_run_in_order_a_before_b_in_a_later_cycle) {
    /* Collections only when asked for: the test counts them. */
    int prev = gm_set_gc_percent(-1);
    make_pair();
    gc_clear_stack();
    /* One cycle at a time until A is found unreachable (a stale copy of its
     * address may keep it a few cycles). */
    double end = gc_now() + GC_WAIT_SECONDS;
    while (!atomic_load(&ps.a_started) && gc_now() < end) {
        gc_clear_stack();
        gm_gc();
        double wait_end = gc_now() + 0.2;
        while (!atomic_load(&ps.a_started) && gc_now() < wait_end) gc_sleep_ms(1);
    }
    if (!atomic_load(&ps.a_started)) {
        CHECK(atomic_load(&ps.a_started));
        gm_set_gc_percent(prev);
        return;
    }
    end = gc_now() + GC_WAIT_SECONDS;
    while (!atomic_load(&ps.a_done) && gc_now() < end) gc_sleep_ms(1);
    CHECK(atomic_load(&ps.a_done));
    CHECK_EQ(atomic_load(&ps.b_done_when_a_ran), 0);
    CHECK(atomic_load(&ps.a_saw_b_intact));
    CHECK(atomic_load(&ps.a_saw_c_intact));
    /* B was reachable from A in the cycle that queued A's finalizer: without
     * another cycle, its finalizer must not run. */
    gc_sleep_ms(200);
    CHECK_EQ(atomic_load(&ps.b_done), 0);
    /* Later cycles free A; then B is unreachable. */
    CHECK(gc_wait_count(&ps.b_done, 1, GC_WAIT_SECONDS));
    CHECK_EQ(atomic_load(&ps.a_done_when_b_ran), 1);
    gm_set_gc_percent(prev);
}

/* ---- A finalizer may allocate ------------------------------------------- */

static void *volatile made_by_finalizer;
static atomic_int alloc_fin_done, alloc_fin_ok;

struct tnode {
    struct tnode *next;
    uint64_t v;
};
static const gm_type tnode_type = GM_TYPE(struct tnode, next);

static void allocating_fin(void *obj, void *arg) {
    (void)obj;
    (void)arg;
    int ok = 1;
    struct tnode *list = NULL;
    for (int i = 0; i < 1000; i++) {
        struct tnode *n = gm_new_typed(&tnode_type);
        if (!n) {
            ok = 0;
            break;
        }
        n->v = 0x8000000000000000ull + (uint64_t)i;
        n->next = list;
        list = n;
    }
    void *p = gm_new(OBJ);
    if (!p) ok = 0;
    else gc_fill(p, OBJ, 801);
    void *q = gm_new_noscan(20000);
    if (!q) ok = 0;
    gm_keep_alive(q);
    if (p) ((void **)p)[0] = list; /* the list hangs off p */
    made_by_finalizer = p;
    atomic_store(&alloc_fin_ok, ok);
    atomic_store(&alloc_fin_done, 1);
}

GC_NOINLINE static void make_allocating(void) {
    void *p = gm_new(OBJ);
    if (p) gm_set_finalizer(p, allocating_fin, NULL);
}

TEST(finalizer_may_allocate) {
    make_allocating();
    gc_clear_stack();
    CHECK(gc_wait_count(&alloc_fin_done, 1, GC_WAIT_SECONDS));
    CHECK(atomic_load(&alloc_fin_ok));
    for (int k = 0; k < 3; k++) gm_gc();
    void **p = made_by_finalizer;
    REQUIRE(p != NULL);
    CHECK(gc_check_from(p, sizeof(void *), OBJ, 801));
    int n = 0, bad = 0;
    for (struct tnode *t = p[0]; t && n < 2000; t = t->next, n++)
        if (t->v != 0x8000000000000000ull + (uint64_t)(999 - n)) bad++;
    CHECK_EQ(n, 1000);
    CHECK_EQ(bad, 0);
    made_by_finalizer = NULL;
}

/* ---- One at a time ------------------------------------------------------ */

static atomic_int inside, overlapped, serial_runs;

static void serial_fin(void *obj, void *arg) {
    (void)obj;
    (void)arg;
    if (atomic_fetch_add(&inside, 1) != 0) atomic_fetch_add(&overlapped, 1);
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
    atomic_fetch_sub(&inside, 1);
    atomic_fetch_add(&serial_runs, 1);
}

GC_NOINLINE static void make_serial(void) {
    for (int i = 0; i < 2 * N; i++) {
        void *p = gm_new(OBJ);
        if (p) gm_set_finalizer(p, serial_fin, NULL);
    }
}

TEST(finalizers_run_one_at_a_time) {
    make_serial();
    gc_clear_stack();
    CHECK(gc_wait_count(&serial_runs, 2 * N * 9 / 10, GC_WAIT_SECONDS));
    CHECK_EQ(atomic_load(&overlapped), 0);
}

/* ---- Resurrection ------------------------------------------------------- */

static void *volatile resurrected;
static atomic_int resurrect_runs;

static void resurrecting_fin(void *obj, void *arg) {
    (void)arg;
    resurrected = obj;
    atomic_fetch_add(&resurrect_runs, 1);
}

GC_NOINLINE static void make_resurrecting(void) {
    void *p = gc_make(OBJ, 901, NULL);
    if (p) gm_set_finalizer(p, resurrecting_fin, NULL);
}

TEST(resurrected_object_stays_alive_and_is_not_finalized_again) {
    make_resurrecting();
    gc_clear_stack();
    CHECK(gc_wait_count(&resurrect_runs, 1, GC_WAIT_SECONDS));
    for (int k = 0; k < 3; k++) {
        gm_gc();
        for (int j = 0; j < 1000; j++) {
            void *q = gm_new(OBJ);
            if (q) memset(q, 0x33, OBJ);
        }
    }
    REQUIRE(resurrected != NULL);
    CHECK(gc_check(resurrected, OBJ, 901));
    CHECK(gm_is_collected(resurrected));
    resurrected = NULL;
    gc_clear_stack();
    for (int k = 0; k < 3; k++) gm_gc();
    CHECK(gc_settle());
    CHECK_EQ(atomic_load(&resurrect_runs), 1);
}

/* ---- Every kind of collected object ------------------------------------- */

struct kinded {
    void *p;
    uint64_t x;
};
static const gm_type kinded_type = GM_TYPE(struct kinded, p);

GC_NOINLINE static void make_every_kind(atomic_int *fin) {
    void *objs[] = {gm_new(1 * MiB), gm_new_noscan(64), gm_new_noscan(3 * MiB),
                    gm_new_typed(&kinded_type), gm_new_array(&kinded_type, 5000)};
    for (size_t i = 0; i < GC_COUNT_OF(objs); i++)
        if (objs[i]) gm_set_finalizer(objs[i], gc_count_fin, fin);
}

TEST(finalizers_of_large_noscan_typed_and_array_objects_run) {
    static atomic_int fin;
    make_every_kind(&fin);
    gc_clear_stack();
    CHECK(gc_wait_count(&fin, 5, GC_WAIT_SECONDS));
    if (atomic_load(&fin) < 5) fprintf(stderr, "  %d of 5 finalizers ran\n", atomic_load(&fin));
}

TEST_MAIN()
