/*
 * cb_common.h — what the container benchmarks share (C11 and C++17; its Go
 * twin is common.go). bench/containers.sh runs them; see the comment at its
 * top for the variants and how they are reported.
 *
 * The workloads, the same in every language:
 *
 *   map KIND N OPS   KIND int: int64 -> int64; KIND str: string -> int64.
 *       Keys: 2N distinct keys built before the clock starts, key number j
 *       being cb_int_key(j) or cb_str_key(j); the N even ones (j = 2i) are
 *       inserted (value i), the N odd ones are the misses. String keys are
 *       8-24 decimal digits (16 on average), all of them in one buffer, the
 *       keys themselves (pointer, length) pointing into it: the map stores
 *       the header, not a copy of the bytes (Go's string, std::string_view).
 *       A round: make an empty map (no size hint); insert the N keys in
 *       order; look each of them up (hit); look up the N misses; iterate
 *       over the map; delete the N keys in order. max(1, OPS / N) rounds,
 *       so that every phase does about OPS operations at any N.
 *   slice N          append N int64 (7i + 3) one at a time to an empty
 *       slice, no capacity reserved.
 *
 * Output: one line per phase,
 *     phase <name> ops=<operations> ns=<total ns> ns_per_op=<x>
 * (time measured in the program with CLOCK_MONOTONIC, around the phase
 * only), then one result line whose checksum depends only on the work done:
 *     map key=<kind> n=<N> rounds=<R> checksum=<16 hex digits>
 *     slice n=<N> len=<len> cap=<cap> checksum=<16 hex digits>
 * (cap is the implementation's, not part of the checksum).
 */
#ifndef CB_COMMON_H
#define CB_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CB_SEED_INT 0x9e3779b97f4a7c15ULL
#define CB_SEED_STR 0xd1b54a32d192ed03ULL
#define CB_STR_MAX 24 /* longest string key */

/* murmur3's 64-bit finalizer: a bijection, so distinct j give distinct keys */
static inline uint64_t cb_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline int64_t cb_int_key(uint64_t j) { return (int64_t)cb_mix(j + CB_SEED_INT); }

/* x on exactly w decimal digits, zero-padded on the left (x < 10^w) */
static inline void cb_digits(char *out, uint64_t x, size_t w)
{
    while (w > 0) {
        out[--w] = (char)('0' + x % 10);
        x /= 10;
    }
}

/* Writes key number j (j < 10^8) to out (CB_STR_MAX bytes), returns its
 * length L (8-24): the first L-8 of the 16 digits of (v / 17) mod 10^16,
 * v = cb_mix(j + CB_SEED_STR), then j on 8 digits (which makes the keys
 * distinct). No terminating NUL. */
static inline size_t cb_str_key(uint64_t j, char *out)
{
    uint64_t v = cb_mix(j + CB_SEED_STR);
    size_t l = 8 + (size_t)(v % 17);
    char pre[16];
    cb_digits(pre, (v / 17) % 10000000000000000ULL, 16);
    memcpy(out, pre, l - 8);
    cb_digits(out + (l - 8), j, 8);
    return l;
}

static inline int64_t cb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

static inline uint64_t cb_arg(int argc, char **argv, int i, uint64_t def)
{
    if (argc <= i)
        return def;
    char *end;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (*end != '\0' || end == argv[i]) {
        fprintf(stderr, "bad argument '%s'\n", argv[i]);
        exit(2);
    }
    return (uint64_t)v;
}

static inline void cb_phase(const char *name, uint64_t ops, int64_t ns)
{
    printf("phase %s ops=%llu ns=%lld ns_per_op=%.3f\n", name, (unsigned long long)ops, (long long)ns,
           (double)ns / (double)ops);
}

/* the per-phase sums a map run accumulates, folded into its checksum */
typedef struct cb_acc {
    uint64_t ins, hit, miss, iter, del;
} cb_acc;

static inline uint64_t cb_acc_sum(const cb_acc *a)
{
    uint64_t c = 0;
    c = cb_mix(c ^ a->ins);
    c = cb_mix(c ^ a->hit);
    c = cb_mix(c ^ a->miss);
    c = cb_mix(c ^ a->iter);
    c = cb_mix(c ^ a->del);
    return c;
}

/* map KIND N OPS: parses the arguments; returns 1 for int, 0 for str */
static inline int cb_map_args(int argc, char **argv, uint64_t *n, uint64_t *ops, uint64_t *rounds)
{
    if (argc < 3 || (strcmp(argv[1], "int") != 0 && strcmp(argv[1], "str") != 0)) {
        fprintf(stderr, "usage: %s int|str N [OPS]\n", argv[0]);
        exit(2);
    }
    *n = cb_arg(argc, argv, 2, 1000);
    *ops = cb_arg(argc, argv, 3, 10000000);
    if (*n == 0 || *n > 40000000) {
        fprintf(stderr, "N must be 1..4e7\n");
        exit(2);
    }
    *rounds = *ops / *n ? *ops / *n : 1;
    return strcmp(argv[1], "int") == 0;
}

static inline void cb_map_report(const char *kind, uint64_t n, uint64_t rounds, const int64_t t[5], const cb_acc *a)
{
    uint64_t tot = n * rounds;
    cb_phase("insert", tot, t[0]);
    cb_phase("lookup_hit", tot, t[1]);
    cb_phase("lookup_miss", tot, t[2]);
    cb_phase("iterate", tot, t[3]);
    cb_phase("delete", tot, t[4]);
    printf("map key=%s n=%llu rounds=%llu checksum=%016llx\n", kind, (unsigned long long)n,
           (unsigned long long)rounds, (unsigned long long)cb_acc_sum(a));
}

#endif
