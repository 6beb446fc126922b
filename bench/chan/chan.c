/*
 * chan.c — the channel benchmarks on gomalloc's channels (see chb_common.h):
 *
 *   chan_gm pingpong N | buffered P C CAP N | select K CAP N
 *
 * gm_chan of int64 (GM_TYPE_NOPTRS: one noscan object, header and buffer
 * together, as Go's makechan), gm_chan_send / gm_chan_recv / gm_chan_close,
 * gm_select over K receive cases; one pthread per Go goroutine. The
 * channels hang off static variables (roots), so the collector, which
 * never runs here (nothing else is allocated), could not take them.
 */
#include "chb_common.h"

#include <pthread.h>
#include <stdbool.h>

#include <gomalloc.h>
#include <gomalloc/chan.h>

static const gm_type i64_type = GM_TYPE_NOPTRS(int64_t);

static chb_args A;
static gm_chan *ping, *pong, *ch;
static gm_chan *sel[64];
static pthread_barrier_t start;

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) {
        perror("pthread_create");
        exit(1);
    }
    return t;
}

/* ---- pingpong --------------------------------------------------------------- */

static void *echo(void *arg)
{
    (void)arg;
    int64_t v;
    while (gm_chan_recv(ping, &v)) {
        int64_t r = 2 * v + 1;
        gm_chan_send(pong, &r);
    }
    return NULL;
}

static int pingpong(void)
{
    ping = gm_make_chan(&i64_type, 0);
    pong = gm_make_chan(&i64_type, 0);
    pthread_t t = spawn(echo, NULL);
    uint64_t w = chb_warmup(A.n), sum = 0;
    int64_t t0 = 0;
    for (uint64_t i = 1; i <= w + A.n; i++) {
        if (i == w + 1)
            t0 = chb_now_ns();
        int64_t v = (int64_t)i, r;
        gm_chan_send(ping, &v);
        gm_chan_recv(pong, &r);
        sum += chb_mix((uint64_t)r);
    }
    int64_t t1 = chb_now_ns();
    gm_chan_close(ping);
    pthread_join(t, NULL);
    chb_phase("roundtrip", A.n, t1 - t0);
    printf("pingpong n=%llu warmup=%llu checksum=%016llx\n", (unsigned long long)A.n, (unsigned long long)w,
           (unsigned long long)sum);
    uint64_t want = 0;
    for (uint64_t i = 1; i <= w + A.n; i++)
        want += chb_mix(2 * i + 1);
    return sum == want ? 0 : 1;
}

/* ---- buffered --------------------------------------------------------------- */

typedef struct consumer_out {
    uint64_t items, sum;
} consumer_out;

static void *producer(void *arg)
{
    uint64_t p = (uint64_t)(uintptr_t)arg, per = A.n / A.p;
    pthread_barrier_wait(&start);
    for (uint64_t i = 0; i < per; i++) {
        int64_t v = (int64_t)(p * per + i + 1);
        gm_chan_send(ch, &v);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    consumer_out *o = arg;
    uint64_t items = 0, sum = 0;
    int64_t v;
    pthread_barrier_wait(&start);
    while (gm_chan_recv(ch, &v)) {
        items++;
        sum += chb_mix((uint64_t)v);
    }
    o->items = items;
    o->sum = sum;
    return NULL;
}

static int buffered(void)
{
    ch = gm_make_chan(&i64_type, A.cap);
    pthread_barrier_init(&start, NULL, (unsigned)(A.p + A.c + 1));
    pthread_t pt[64], ct[64];
    consumer_out out[64];
    for (uint64_t i = 0; i < A.c; i++)
        ct[i] = spawn(consumer, &out[i]);
    for (uint64_t i = 0; i < A.p; i++)
        pt[i] = spawn(producer, (void *)(uintptr_t)i);
    pthread_barrier_wait(&start);
    int64_t t0 = chb_now_ns();
    for (uint64_t i = 0; i < A.p; i++)
        pthread_join(pt[i], NULL);
    gm_chan_close(ch);
    uint64_t items = 0, sum = 0;
    for (uint64_t i = 0; i < A.c; i++) {
        pthread_join(ct[i], NULL);
        items += out[i].items;
        sum += out[i].sum;
    }
    int64_t t1 = chb_now_ns();
    return chb_report(&A, t1 - t0, items, sum);
}

/* ---- select ----------------------------------------------------------------- */

static void *sel_producer(void *arg)
{
    uint64_t k = (uint64_t)(uintptr_t)arg, per = A.n / A.p;
    pthread_barrier_wait(&start);
    for (uint64_t i = 0; i < per; i++) {
        int64_t v = (int64_t)(k * per + i + 1);
        gm_chan_send(sel[k], &v);
    }
    gm_chan_close(sel[k]);
    return NULL;
}

static int selectk(void)
{
    pthread_barrier_init(&start, NULL, (unsigned)(A.p + 1));
    gm_select_case cs[64];
    int64_t v = 0;
    pthread_t pt[64];
    for (uint64_t k = 0; k < A.p; k++) {
        sel[k] = gm_make_chan(&i64_type, A.cap);
        cs[k] = (gm_select_case){.c = sel[k], .dir = GM_SELECT_RECV, .val = &v};
    }
    for (uint64_t k = 0; k < A.p; k++)
        pt[k] = spawn(sel_producer, (void *)(uintptr_t)k);
    pthread_barrier_wait(&start);
    int64_t t0 = chb_now_ns();
    uint64_t items = 0, sum = 0, live = A.p;
    while (live > 0) {
        int k = gm_select(cs, A.p, false, -1);
        if (!cs[k].ok) { /* closed and drained: ch = nil */
            cs[k].c = NULL;
            live--;
            continue;
        }
        items++;
        sum += chb_mix((uint64_t)v);
    }
    int64_t t1 = chb_now_ns();
    for (uint64_t k = 0; k < A.p; k++)
        pthread_join(pt[k], NULL);
    return chb_report(&A, t1 - t0, items, sum);
}

int main(int argc, char **argv)
{
    A = chb_parse(argc, argv);
    int rc = A.kind == 'p' ? pingpong() : A.kind == 'b' ? buffered() : selectk();
    fflush(stdout);
    return rc;
}
