/*
 * chb_common.h — what the channel benchmarks share (C11 and C++17; its Go
 * twin is common.go). bench/chan.sh runs them; see the comment at its top
 * for the variants and how they are reported.
 *
 * Three programs do the same work, each with its own channel:
 *   chan_gm  bench/chan/chan.c   gomalloc's gm_chan and gm_select (pthreads)
 *   chan_go  bench/chan/chan.go  Go's chan and select (goroutines)
 *   chan_mc  bench/chan/chan.cc  moodycamel::BlockingConcurrentQueue bounded
 *                                by a moodycamel::LightweightSemaphore (std::thread)
 *
 * The workloads (values are int64; every value sent is >= 1):
 *
 *   pingpong N
 *       Two unbuffered channels, ping and pong, and one echo thread:
 *       main sends v on ping, the echo thread receives it and sends
 *       2v + 1 on pong, main receives that. W = min(N / 10, 10000)
 *       untimed warm-up round trips (v = 1..W), then N timed ones
 *       (v = W+1..W+N). Phase "roundtrip": ns per round trip.
 *       Result: pingpong n=N warmup=W checksum=<sum of mix(2v+1)>
 *
 *   buffered P C CAP N
 *       One channel of capacity CAP, P producer and C consumer threads,
 *       all created before the clock starts and released together.
 *       Producer p sends v = p * (N / P) + i + 1 for i in [0, N / P)
 *       (N must be a multiple of P). When every producer has finished,
 *       the main thread closes the channel (the moodycamel program sends
 *       C zeros instead: a poison pill per consumer); consumers receive
 *       until it is closed. Phase "item": from the release to the last
 *       consumer's exit, ns per item.
 *       Result: buffered p=P c=C cap=CAP n=N items=<received> checksum=<sum of mix(v)>
 *
 *   select K CAP N
 *       K channels of capacity CAP (CAP 0: unbuffered), K producers,
 *       producer k sending v = k * (N / K) + i + 1 for i in [0, N / K) on
 *       channel k and then closing it (moodycamel: a 0 on its queue); one
 *       consumer (the main thread) selects over the K channels, receiving
 *       into one variable, dropping a closed channel from the select (Go's
 *       "ch = nil" idiom) until all K are closed. Phase "item": from the
 *       release until the K channels are closed and drained, ns per
 *       received item.
 *       (The Go program is written for K = 4: a select has fixed cases.)
 *       Result: select k=K cap=CAP n=N items=<received> checksum=<sum of mix(v)>
 *
 * Every program checks that it received N values whose checksum is the
 * expected one (computed from the formula, not from what was received) and
 * exits with status 1 otherwise: every item received exactly once.
 *
 * Output: one line per phase,
 *     phase <name> ops=<operations> ns=<total ns> ns_per_op=<x>
 * (CLOCK_MONOTONIC inside the program, around the phase only), then the
 * result line, the same in every language.
 */
#ifndef CHB_COMMON_H
#define CHB_COMMON_H

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread barriers under -std=c11 */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* murmur3's 64-bit finalizer */
static inline uint64_t chb_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline int64_t chb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

static inline void chb_phase(const char *name, uint64_t ops, int64_t ns)
{
    printf("phase %s ops=%llu ns=%lld ns_per_op=%.3f\n", name, (unsigned long long)ops, (long long)ns,
           (double)ns / (double)ops);
}

static inline uint64_t chb_warmup(uint64_t n) { return n / 10 < 10000 ? n / 10 : 10000; }

/* sum of mix(v) for v in [1, n]: what the buffered and select workloads must receive */
static inline uint64_t chb_expected_sum(uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t v = 1; v <= n; v++)
        s += chb_mix(v);
    return s;
}

typedef struct chb_args {
    int kind;      /* 'p' pingpong, 'b' buffered, 's' select */
    uint64_t p, c; /* producers, consumers (select: p = K, c = 1) */
    uint64_t cap, n;
} chb_args;

static inline uint64_t chb_num(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || end == s) {
        fprintf(stderr, "bad number '%s'\n", s);
        exit(2);
    }
    return (uint64_t)v;
}

static inline chb_args chb_parse(int argc, char **argv)
{
    chb_args a = {0, 1, 1, 0, 0};
    if (argc == 3 && strcmp(argv[1], "pingpong") == 0) {
        a.kind = 'p';
        a.n = chb_num(argv[2]);
    } else if (argc == 6 && strcmp(argv[1], "buffered") == 0) {
        a.kind = 'b';
        a.p = chb_num(argv[2]);
        a.c = chb_num(argv[3]);
        a.cap = chb_num(argv[4]);
        a.n = chb_num(argv[5]);
    } else if (argc == 5 && strcmp(argv[1], "select") == 0) {
        a.kind = 's';
        a.p = chb_num(argv[2]);
        a.cap = chb_num(argv[3]);
        a.n = chb_num(argv[4]);
    } else {
        fprintf(stderr, "usage: %s pingpong N | buffered P C CAP N | select K CAP N\n", argv[0]);
        exit(2);
    }
    if (a.n == 0 || a.p == 0 || a.c == 0 || a.p > 64 || a.c > 64 || a.n % a.p != 0) {
        fprintf(stderr, "need N > 0, 1 <= P, C, K <= 64, N a multiple of P (K)\n");
        exit(2);
    }
    if (a.kind == 'b' && a.cap == 0) {
        fprintf(stderr, "buffered needs CAP > 0\n");
        exit(2);
    }
    return a;
}

/* Prints the phase and result lines of a buffered or select run; returns
 * the exit status (1 when the items or their checksum are wrong). */
static inline int chb_report(const chb_args *a, int64_t ns, uint64_t items, uint64_t sum)
{
    chb_phase("item", a->n, ns);
    if (a->kind == 'b')
        printf("buffered p=%llu c=%llu cap=%llu n=%llu items=%llu checksum=%016llx\n", (unsigned long long)a->p,
               (unsigned long long)a->c, (unsigned long long)a->cap, (unsigned long long)a->n,
               (unsigned long long)items, (unsigned long long)sum);
    else
        printf("select k=%llu cap=%llu n=%llu items=%llu checksum=%016llx\n", (unsigned long long)a->p,
               (unsigned long long)a->cap, (unsigned long long)a->n, (unsigned long long)items,
               (unsigned long long)sum);
    uint64_t want = chb_expected_sum(a->n);
    if (items != a->n || sum != want) {
        fprintf(stderr, "WRONG: received %llu items, checksum %016llx; want %llu, %016llx\n",
                (unsigned long long)items, (unsigned long long)sum, (unsigned long long)a->n,
                (unsigned long long)want);
        return 1;
    }
    return 0;
}

#endif
