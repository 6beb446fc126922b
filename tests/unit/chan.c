/*
 * Channels on one thread: makechan's allocations, the buffer's FIFO order,
 * non-blocking operations, close, nil channels and the fatal errors.
 * Blocking between threads is in chan_threads.c, select in select.c.
 */
#include <errno.h>

#include "gomalloc.h"
#include "gomalloc/chan.h"
#include "../../src/chan.h" /* the layout: waiters, buffer */
#include "test.h"

struct pair { int64_t a, b; };
struct big { char bytes[1000]; };
struct node { struct node *next; int64_t v; };

static const gm_type int_type = GM_TYPE_NOPTRS(int64_t);
static const gm_type pair_type = GM_TYPE_NOPTRS(struct pair);
static const gm_type big_type = GM_TYPE_NOPTRS(struct big);
static const gm_type ptr_type = GM_TYPE_POINTER(struct node *);
static const gm_type node_type = GM_TYPE(struct node, next);
static const gm_type empty_type = {0, 0, NULL, "struct{}", 1};

/* ---- makechan: Go's three allocation cases ------------------------------- */

struct mk { const gm_type *t; size_t cap; };
static void make_one(void *arg) {
    struct mk *m = arg;
    gm_keep_alive(gm_make_chan(m->t, m->cap));
}

static double allocs_for(const gm_type *t, size_t cap) {
    struct mk m = {t, cap};
    return gm_allocs_per_run(100, make_one, &m);
}

TEST(makechan_without_buffer_memory_allocates_the_header_only) {
    CHECK(allocs_for(&int_type, 0) == 1);
    CHECK(allocs_for(&ptr_type, 0) == 1);
    CHECK(allocs_for(&empty_type, 100) == 1);
    CHECK(allocs_for(NULL, 100) == 1);
    gm_chan *c = gm_make_chan(&ptr_type, 0);
    gm_span_info si;
    REQUIRE(gm_span_inspect(c, &si) == 0);
    CHECK_EQ(si.gc_kind, GM_GC_NOSCAN);
    CHECK_EQ(si.elemsize, 96); /* Go's hchanSize */
}

TEST(makechan_of_pointer_free_elements_is_one_noscan_object) {
    CHECK(allocs_for(&int_type, 1) == 1);
    CHECK(allocs_for(&int_type, 64) == 1);
    CHECK(allocs_for(&pair_type, 1024) == 1);
    gm_chan *c = gm_make_chan(&int_type, 64);
    gm_span_info si;
    REQUIRE(gm_span_inspect(c, &si) == 0);
    CHECK_EQ(si.gc_kind, GM_GC_NOSCAN);
    CHECK(si.elemsize >= 96 + 64 * 8);
    CHECK((char *)c->buf == (char *)c + 96); /* the buffer follows the header */
}

TEST(makechan_of_pointer_elements_is_a_header_and_a_typed_buffer) {
    CHECK(allocs_for(&ptr_type, 1) == 2);
    CHECK(allocs_for(&node_type, 64) == 2);
    CHECK(allocs_for(&ptr_type, 1024) == 2);
    gm_chan *c = gm_make_chan(&ptr_type, 64);
    gm_span_info si;
    REQUIRE(gm_span_inspect(c, &si) == 0);
    CHECK_EQ(si.gc_kind, GM_GC_TYPED);
    CHECK_EQ(si.elemsize, 96);
    REQUIRE(gm_span_inspect(c->buf, &si) == 0);
    CHECK_EQ(si.gc_kind, GM_GC_TYPED);
    CHECK_EQ(si.elemsize, 512);
}

TEST(len_and_cap) {
    gm_chan *c = gm_make_chan(&int_type, 3);
    CHECK_EQ(gm_chan_cap(c), 3);
    CHECK_EQ(gm_chan_len(c), 0);
    gm_chan_send(c, &(int64_t){1});
    gm_chan_send(c, &(int64_t){2});
    CHECK_EQ(gm_chan_len(c), 2);
    CHECK_EQ(gm_chan_cap(NULL), 0);
    CHECK_EQ(gm_chan_len(NULL), 0);
    CHECK_EQ(gm_chan_cap(gm_make_chan(&int_type, 0)), 0);
}

/* ---- the buffer ------------------------------------------------------------ */

TEST(buffered_channel_is_fifo_across_wraparound) {
    gm_chan *c = gm_make_chan(&int_type, 5);
    int64_t next_in = 0, next_out = 0;
    for (int round = 0; round < 100; round++) {
        int k = 1 + round % 5;
        for (int i = 0; i < k; i++) gm_chan_send(c, &(int64_t){next_in++});
        for (int i = 0; i < k; i++) {
            int64_t v = -1;
            CHECK(gm_chan_recv(c, &v));
            CHECK_EQ(v, next_out++);
        }
    }
    CHECK_EQ(gm_chan_len(c), 0);
}

TEST(large_elements_are_copied_whole) {
    gm_chan *c = gm_make_chan(&big_type, 4);
    struct big in, out;
    for (int r = 0; r < 10; r++) {
        for (size_t i = 0; i < sizeof in.bytes; i++) in.bytes[i] = (char)(i * 7 + (size_t)r);
        gm_chan_send(c, &in);
        memset(&out, 0, sizeof out);
        CHECK(gm_chan_recv(c, &out));
        CHECK(memcmp(&in, &out, sizeof in) == 0);
    }
}

TEST(zero_size_elements_count_in_the_buffer) {
    gm_chan *c = gm_make_chan(NULL, 2);
    CHECK(gm_chan_try_send(c, NULL));
    CHECK(gm_chan_try_send(c, NULL));
    CHECK(!gm_chan_try_send(c, NULL));
    CHECK_EQ(gm_chan_len(c), 2);
    bool ok = false;
    CHECK(gm_chan_try_recv(c, NULL, &ok) && ok);
    CHECK(gm_chan_recv(c, NULL));
    CHECK(!gm_chan_try_recv(c, NULL, &ok));
}

TEST(received_slot_is_cleared) {
    gm_chan *c = gm_make_chan(&ptr_type, 2);
    struct node *n = gm_new_typed(&node_type);
    gm_chan_send(c, &n);
    struct node *got = NULL;
    CHECK(gm_chan_recv(c, &got));
    CHECK(got == n);
    void **slots = c->buf;
    CHECK(slots[0] == NULL && slots[1] == NULL); /* the referent may die */
}

static gm_chan *ops_chan;
static void send_and_recv(void *arg) {
    (void)arg;
    struct node *n = (struct node *)&ops_chan; /* any non-heap pointer */
    gm_chan_send(ops_chan, &n);
    CHECK(gm_chan_try_send(ops_chan, &n));
    bool ok;
    CHECK(gm_chan_recv(ops_chan, &n));
    CHECK(gm_chan_try_recv(ops_chan, &n, &ok) && ok);
    CHECK(!gm_chan_try_recv(ops_chan, &n, &ok));
}

TEST(operations_do_not_allocate) {
    ops_chan = gm_make_chan(&ptr_type, 8);
    CHECK(gm_allocs_per_run(1000, send_and_recv, NULL) == 0);
}

/* ---- non-blocking operations ------------------------------------------------ */

TEST(try_send_fails_on_a_full_buffer_and_try_recv_on_an_empty_one) {
    gm_chan *c = gm_make_chan(&int_type, 1);
    int64_t v = 7;
    bool ok = true;
    CHECK(!gm_chan_try_recv(c, &v, &ok));
    CHECK_EQ(v, 7); /* untouched when it did not proceed */
    CHECK(gm_chan_try_send(c, &(int64_t){1}));
    CHECK(!gm_chan_try_send(c, &(int64_t){2}));
    CHECK(gm_chan_try_recv(c, &v, &ok));
    CHECK(ok);
    CHECK_EQ(v, 1);
}

TEST(unbuffered_try_ops_fail_without_a_partner) {
    gm_chan *c = gm_make_chan(&int_type, 0);
    CHECK(!gm_chan_try_send(c, &(int64_t){1}));
    bool ok;
    CHECK(!gm_chan_try_recv(c, NULL, &ok));
}

TEST(nil_channel_is_never_ready) {
    CHECK(!gm_chan_try_send(NULL, &(int64_t){1}));
    bool ok = true;
    int64_t v = 3;
    CHECK(!gm_chan_try_recv(NULL, &v, &ok));
    CHECK_EQ(v, 3);
}

/* ---- close ------------------------------------------------------------------------ */

TEST(values_buffered_before_close_are_received_then_zero_and_false) {
    gm_chan *c = gm_make_chan(&pair_type, 4);
    gm_chan_send(c, &(struct pair){1, 2});
    gm_chan_send(c, &(struct pair){3, 4});
    gm_chan_close(c);
    struct pair p = {9, 9};
    CHECK(gm_chan_recv(c, &p));
    CHECK(p.a == 1 && p.b == 2);
    bool ok = false;
    CHECK(gm_chan_try_recv(c, &p, &ok) && ok);
    CHECK(p.a == 3 && p.b == 4);
    p = (struct pair){9, 9};
    CHECK(!gm_chan_recv(c, &p));
    CHECK(p.a == 0 && p.b == 0);
    p = (struct pair){9, 9};
    ok = true;
    CHECK(gm_chan_try_recv(c, &p, &ok)); /* proceeds: a closed channel is ready */
    CHECK(!ok);
    CHECK(p.a == 0 && p.b == 0);
    CHECK(!gm_chan_recv(c, NULL));
}

TEST(closed_unbuffered_channel_receives_zero_at_once) {
    gm_chan *c = gm_make_chan(&int_type, 0);
    gm_chan_close(c);
    int64_t v = 5;
    CHECK(!gm_chan_recv(c, &v));
    CHECK_EQ(v, 0);
}

/* ---- fatal errors, with Go's messages ------------------------------------------ */

static void send_on_closed(bool try) {
    gm_chan *c = gm_make_chan(&int_type, 1);
    gm_chan_close(c);
    if (try) gm_chan_try_send(c, &(int64_t){1});
    else gm_chan_send(c, &(int64_t){1});
}

TEST(send_on_closed_channel_is_fatal) {
    EXPECT_DEATH(send_on_closed(false), "gomalloc: fatal error: send on closed channel");
    EXPECT_DEATH(send_on_closed(true), "gomalloc: fatal error: send on closed channel");
}

static void close_twice(void) {
    gm_chan *c = gm_make_chan(&int_type, 0);
    gm_chan_close(c);
    gm_chan_close(c);
}

TEST(close_of_closed_channel_is_fatal) {
    EXPECT_DEATH(close_twice(), "gomalloc: fatal error: close of closed channel");
}

TEST(close_of_nil_channel_is_fatal) {
    EXPECT_DEATH(gm_chan_close(NULL), "gomalloc: fatal error: close of nil channel");
}

TEST(makechan_checks_as_go_does) {
    static const gm_type huge = {1 << 16, 0, NULL, "[65536]byte", 1};
    static const gm_type aligned16 = {16, 0, NULL, "int128", 16};
    EXPECT_DEATH(gm_make_chan(&huge, 1), "makechan: invalid channel element type");
    EXPECT_DEATH(gm_make_chan(&aligned16, 1), "makechan: bad alignment");
    EXPECT_DEATH(gm_make_chan(&int_type, (size_t)1 << 46), "makechan: size out of range");
    EXPECT_DEATH(gm_make_chan(&int_type, (size_t)-1), "makechan: size out of range");
    EXPECT_DEATH(gm_make_chan(NULL, (size_t)-1), "makechan: size out of range");
    /* The largest valid element and 0-byte elements of any count are fine. */
    static const gm_type maxelem = {(1 << 16) - 1, 0, NULL, "[65535]byte", 1};
    gm_chan *c = gm_make_chan(&maxelem, 2);
    CHECK(c != NULL && gm_chan_cap(c) == 2);
    CHECK(gm_make_chan(NULL, (size_t)1 << 60) != NULL);
}

TEST_MAIN()
