/*
 * bench_alloc.h — the allocation interface every gomalloc benchmark uses.
 *
 * The same benchmark source builds two ways:
 *   -DUSE_GOMALLOC  BENCH_MALLOC & co. call gm_malloc & co. from <gomalloc.h>
 *                   (the bench_<name>_gm executables, linked to gomalloc_static)
 *   (default)       they call the C library's malloc & co. (bench_<name>_sys);
 *                   jemalloc, tcmalloc and mimalloc are measured by injecting
 *                   them into the _sys executables with LD_PRELOAD.
 *
 * It also has the small helpers the benchmarks share: a seeded PRNG, a
 * 64-bit mixer for checksums, block stamping/verification, argument parsing.
 * The checksum a benchmark prints must not depend on the allocator (no
 * addresses, no timing), so that run.sh can compare it across allocators.
 *
 * Include this header before any system header.
 */
#ifndef GM_BENCH_ALLOC_H
#define GM_BENCH_ALLOC_H

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef USE_GOMALLOC
#include <gomalloc.h>
#define BENCH_MALLOC(n) gm_malloc(n)
#define BENCH_FREE(p) gm_free(p)
#define BENCH_REALLOC(p, n) gm_realloc((p), (n))
#define BENCH_CALLOC(c, n) gm_calloc((c), (n))
#define BENCH_ALLOCATOR "gomalloc"
#else
#define BENCH_MALLOC(n) malloc(n)
#define BENCH_FREE(p) free(p)
#define BENCH_REALLOC(p, n) realloc((p), (n))
#define BENCH_CALLOC(c, n) calloc((c), (n))
#define BENCH_ALLOCATOR "libc"
#endif

#if defined(__GNUC__)
#define BENCH_UNUSED __attribute__((unused))
#define BENCH_NOINLINE __attribute__((noinline))
#else
#define BENCH_UNUSED
#define BENCH_NOINLINE
#endif

/* ---- fatal errors ------------------------------------------------------ */

static BENCH_UNUSED void bench_die(const char *what)
{
    fprintf(stderr, "bench: fatal: %s\n", what);
    exit(2);
}

/* Allocate or die: a NULL from the allocator under test ends the run. */
static inline void *bench_xmalloc(size_t n)
{
    void *p = BENCH_MALLOC(n);
    if (p == NULL)
        bench_die("allocation failed");
    return p;
}

/* ---- PRNG: splitmix64 for seeding, xoshiro256** for streams ------------- */

typedef struct bench_rng {
    uint64_t s[4];
} bench_rng;

static inline uint64_t bench_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void bench_rng_seed(bench_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = bench_splitmix64(&x);
}

static inline uint64_t bench_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t bench_rng_next(bench_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = bench_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = bench_rotl(s[3], 45);
    return result;
}

/* Uniform-enough integer in [lo, hi] (Lemire's multiply-shift; the tiny bias
 * is irrelevant here, and it is the same for every allocator). */
static inline uint64_t bench_rng_range(bench_rng *r, uint64_t lo, uint64_t hi)
{
    uint64_t span = hi - lo + 1;
    uint32_t x = (uint32_t)(bench_rng_next(r) >> 32);
    return lo + (((uint64_t)x * span) >> 32);
}

/* ---- checksums --------------------------------------------------------- */

/* A strong 64-bit mixer (the murmur3 finalizer), so that summing the mixes of
 * many values is an order-independent yet sensitive checksum. */
static inline uint64_t bench_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* ---- block stamping ------------------------------------------------------
 * A stamped block (size 8..65535) carries its identity so whoever frees it —
 * possibly another thread — can check it and fold it into a checksum:
 *   bytes 0..7   header word: tag << 16 | size
 *   last byte    low byte of bench_mix(tag)
 * Both writes also make sure the block is really used, so no compiler can
 * elide a malloc/free pair. */

static inline void bench_stamp(void *p, size_t size, uint64_t tag)
{
    uint64_t h = (tag << 16) | (uint64_t)size;
    memcpy(p, &h, sizeof h);
    if (size > 8) /* for 8-byte blocks the last byte belongs to the header */
        ((unsigned char *)p)[size - 1] = (unsigned char)bench_mix(tag);
}

/* Verify a stamped block; returns the value to add to a checksum, and sets
 * *bad when the block does not match its header. */
static inline uint64_t bench_verify(const void *p, int *bad)
{
    uint64_t h;
    memcpy(&h, p, sizeof h);
    size_t size = (size_t)(h & 0xffff);
    uint64_t tag = h >> 16;
    if (size < 8) {
        *bad = 1;
        return 0;
    }
    if (size > 8 && ((const unsigned char *)p)[size - 1] != (unsigned char)bench_mix(tag))
        *bad = 1;
    return bench_mix(h);
}

/* ---- arguments ----------------------------------------------------------
 * Benchmarks take positional integer arguments; "-" or a missing argument
 * means the default. Accepts k/m/g suffixes (powers of 1000). */
static BENCH_UNUSED long long bench_arg(int argc, char **argv, int i, long long def,
                                        long long min, long long max)
{
    if (i >= argc || strcmp(argv[i], "-") == 0)
        return def;
    errno = 0;
    char *end;
    long long v = strtoll(argv[i], &end, 10);
    if (end == argv[i] || errno != 0)
        goto bad;
    switch (*end) {
    case 'k': case 'K': v *= 1000LL; end++; break;
    case 'm': case 'M': v *= 1000000LL; end++; break;
    case 'g': case 'G': v *= 1000000000LL; end++; break;
    default: break;
    }
    if (*end != '\0' || v < min || v > max)
        goto bad;
    return v;
bad:
    fprintf(stderr, "bench: argument %d (%s) must be an integer in [%lld, %lld]\n",
            i, argv[i], min, max);
    exit(2);
}

#endif /* GM_BENCH_ALLOC_H */
