/*
 * Channels and the collector: values in a channel's buffer, in a blocked
 * sender's variable and in a waiting select keep their referents alive
 * across collections; a received slot lets its referent go; channels of
 * each of makechan's three kinds are reclaimed when unreachable, and a
 * thread blocked on a channel keeps it reachable. See gc_test.h for the
 * hiding, stack clearing and finalizer counting these tests rely on.
 */
#include <pthread.h>


#include "chan_test.h"

struct obj { struct obj *next; uint64_t seed; char pad[48]; };
static const gm_type obj_ptr_type = GM_TYPE_POINTER(struct obj *);
static const gm_type int_type = GM_TYPE_NOPTRS(int64_t);
/* A struct element with a pointer in the middle. */
struct item { int64_t id; struct obj *p; int64_t check; };
static const gm_type item_type = GM_TYPE(struct item, p);

#define OBJ_BYTES sizeof(struct obj)



static void collect_hard(void) {
    for (int i = 0; i < 3; i++) {
        gc_clear_stack();
        gm_gc();
    }
    gc_settle();
}

/* ---- values in the buffer ---------------------------------------------------- */

static atomic_int buffered_fin;

/* Fills c with fresh objects, each only in the channel. */
GC_NOINLINE static void fill_with_objects(uintptr_t hc, int n) {
    gm_chan *c = gc_unhide(hc);
    for (int i = 0; i < n; i++) {
        struct obj *o = gc_make(OBJ_BYTES, 1000 + (uint64_t)i, &buffered_fin);
        gm_chan_send(c, &o);
    }
}

TEST(pointers_in_the_buffer_keep_their_objects_alive) {
    enum { N = 64 };
    gm_chan *c = gm_make_chan(&obj_ptr_type, N);
    fill_with_objects(gc_hide(c), N);
    collect_hard();
    CHECK_EQ(atomic_load(&buffered_fin), 0);
    for (int i = 0; i < N; i++) {
        struct obj *o = NULL;
        REQUIRE(gm_chan_recv(c, &o));
        CHECK(gm_is_collected(o));
        CHECK(gc_check(o, OBJ_BYTES, 1000 + (uint64_t)i));
    }
}

static atomic_int item_fin;

GC_NOINLINE static void fill_with_items(uintptr_t hc, int n) {
    gm_chan *c = gc_unhide(hc);
    for (int i = 0; i < n; i++) {
        struct item it = {i, gc_make(OBJ_BYTES, 2000 + (uint64_t)i, &item_fin), ~(int64_t)i};
        gm_chan_send(c, &it);
    }
}

TEST(struct_elements_are_scanned_by_their_type) {
    enum { N = 40 };
    gm_chan *c = gm_make_chan(&item_type, N);
    fill_with_items(gc_hide(c), N);
    collect_hard();
    CHECK_EQ(atomic_load(&item_fin), 0);
    for (int i = 0; i < N; i++) {
        struct item it;
        REQUIRE(gm_chan_recv(c, &it));
        CHECK_EQ(it.id, i);
        CHECK_EQ(it.check, ~(int64_t)i);
        CHECK(gc_check(it.p, OBJ_BYTES, 2000 + (uint64_t)i));
    }
}

static atomic_int taken_fin;

GC_NOINLINE static void send_and_take(uintptr_t hc) {
    gm_chan *c = gc_unhide(hc);
    struct obj *o = gc_make(OBJ_BYTES, 3000, &taken_fin);
    gm_chan_send(c, &o);
    o = NULL;
    gm_chan_recv(c, &o);
    gc_launder(o);
}

TEST(a_received_value_is_no_longer_held_by_the_channel) {
    gm_chan *c = gm_make_chan(&obj_ptr_type, 4);
    send_and_take(gc_hide(c));
    gc_clear_stack();
    GC_CHECK_ONE_COLLECTED(&taken_fin);
    gm_keep_alive(c);
}

/* ---- values held by waiting threads --------------------------------------------- */

static atomic_int sender_fin;

/* The object exists only in this thread's variable, which the blocked
 * send reads from. */
static void *send_fresh_object(void *arg) {
    gm_chan *c = arg;
    struct obj *o = gc_make(OBJ_BYTES, 4000, &sender_fin);
    gm_chan_send(c, &o);
    return NULL;
}

TEST(a_blocked_senders_value_stays_alive) {
    gm_chan *c = gm_make_chan(&obj_ptr_type, 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, send_fresh_object, c) == 0);
    REQUIRE(wait_queued(c, true, 1, GC_WAIT_SECONDS * 6));
    collect_hard();
    CHECK_EQ(atomic_load(&sender_fin), 0);
    struct obj *o = NULL;
    REQUIRE(gm_chan_recv(c, &o));
    pthread_join(t, NULL);
    CHECK(gc_check(o, OBJ_BYTES, 4000));
}

static atomic_int select_fin;

static void *select_send_fresh_object(void *arg) {
    gm_chan **cs = arg;
    struct obj *o = gc_make(OBJ_BYTES, 5000, &select_fin);
    gm_select_case cases[] = {{cs[0], GM_SELECT_SEND, &o, false},
                              {cs[1], GM_SELECT_SEND, &o, false}};
    gm_select(cases, 2, false, -1);
    return NULL;
}

TEST(a_waiting_selects_value_stays_alive) {
    static gm_chan *cs[2];
    cs[0] = gm_make_chan(&obj_ptr_type, 0);
    cs[1] = gm_make_chan(&obj_ptr_type, 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, select_send_fresh_object, cs) == 0);
    REQUIRE(wait_queued(cs[1], true, 1, GC_WAIT_SECONDS * 6));
    collect_hard();
    CHECK_EQ(atomic_load(&select_fin), 0);
    struct obj *o = NULL;
    REQUIRE(gm_chan_recv(cs[1], &o));
    pthread_join(t, NULL);
    CHECK(gc_check(o, OBJ_BYTES, 5000));
}

/* ---- channels reclaimed ---------------------------------------------------------- */

struct kind { const gm_type *t; size_t cap; bool fill; };

static atomic_int chan_fin, content_fin;

GC_NOINLINE static void make_garbage_channels(const struct kind *k, int n) {
    for (int i = 0; i < n; i++) {
        gm_chan *c = gm_make_chan(k->t, k->cap);
        gm_set_finalizer(c, gc_count_fin, &chan_fin);
        if (k->fill) {
            struct obj *o = gc_make(OBJ_BYTES, 6000, &content_fin);
            gm_chan_send(c, &o);
        }
    }
}

TEST(unreachable_channels_are_reclaimed) {
    enum { N = 100 };
    const struct kind kinds[] = {
        {&int_type, 0, false},      /* header only */
        {&int_type, 16, false},     /* header and buffer, noscan */
        {&obj_ptr_type, 16, true},  /* header, then a typed buffer holding an object */
    };
    for (size_t k = 0; k < GC_COUNT_OF(kinds); k++) {
        atomic_store(&chan_fin, 0);
        atomic_store(&content_fin, 0);
        make_garbage_channels(&kinds[k], N);
        gc_clear_stack();
        CHECK(gc_wait_count(&chan_fin, N * 9 / 10, GC_WAIT_SECONDS));
        if (kinds[k].fill) /* the contents go after their channels */
            CHECK(gc_wait_count(&content_fin, N * 9 / 10, GC_WAIT_SECONDS));
    }
}

/* ---- a blocked thread keeps its channel reachable -------------------------------- */

static atomic_int held_fin;

static void *recv_on(void *arg) {
    gm_chan *c = gc_unhide((uintptr_t)arg);
    int64_t v = 0;
    gm_chan_recv(c, &v);
    return (void *)(intptr_t)v;
}

GC_NOINLINE static uintptr_t start_waiter(pthread_t *t) {
    gm_chan *c = gm_make_chan(&int_type, 0); /* noscan header: sudogs in it */
    gm_set_finalizer(c, gc_count_fin, &held_fin);
    uintptr_t h = gc_hide(c);
    if (pthread_create(t, NULL, recv_on, (void *)h) != 0) abort();
    if (!wait_queued(c, false, 1, GC_WAIT_SECONDS * 6)) abort();
    return h;
}

TEST(a_thread_waiting_on_a_channel_keeps_it_reachable) {
    pthread_t t;
    uintptr_t h = start_waiter(&t);
    collect_hard();
    CHECK_EQ(atomic_load(&held_fin), 0);
    gm_chan_send(gc_unhide(h), &(int64_t){77});
    void *r;
    pthread_join(t, &r);
    CHECK_EQ((intptr_t)r, 77);
}

TEST_MAIN()
