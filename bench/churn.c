/*
 * churn — single-thread small-object churn.
 *
 * A table of SLOTS live blocks of random sizes 8..256 B. Each step picks a
 * random slot, verifies and frees the block in it, and puts a freshly
 * allocated, stamped block of a new random size there. Lifetimes are thus
 * geometric, and the live set stays at SLOTS blocks (~1.3 MB by default).
 *
 * usage: churn [OPS=50M] [SLOTS=10000] [SEED=1]
 * prints: churn ops=... slots=... checksum=...
 *
 * largechurn.c is this program with other sizes: it defines the CHURN_*
 * parameters below and includes this file.
 */
#include "bench_alloc.h"

#ifndef CHURN_NAME
#define CHURN_NAME "churn"
#define CHURN_MIN_SIZE 8
#define CHURN_MAX_SIZE 256
#define CHURN_OPS 50000000LL
#define CHURN_SLOTS 10000
#endif

/* The stamp's size field has 16 bits: stamp the size modulo 64 KiB (at
 * least 8), which always lies inside the block. */
static size_t stamp_size(size_t n)
{
    size_t m = n & 0xffff;
    return m < 8 ? 8 : m;
}

int main(int argc, char **argv)
{
    long long ops = bench_arg(argc, argv, 1, CHURN_OPS, 1, 1LL << 40);
    long long nslots = bench_arg(argc, argv, 2, CHURN_SLOTS, 1, 1LL << 26);
    long long seed = bench_arg(argc, argv, 3, 1, 0, INT64_MAX);

    bench_rng rng;
    bench_rng_seed(&rng, (uint64_t)seed);

    /* The slot table itself comes from the C library's malloc in both builds:
     * it is bookkeeping, not part of what is measured. */
    void **slot = calloc((size_t)nslots, sizeof *slot);
    if (slot == NULL)
        bench_die("out of memory for the slot table");

    uint64_t tag = 0, sum = 0;
    int bad = 0;
    for (long long i = 0; i < nslots; i++) {
        size_t n = (size_t)bench_rng_range(&rng, CHURN_MIN_SIZE, CHURN_MAX_SIZE);
        slot[i] = bench_xmalloc(n);
        bench_stamp(slot[i], stamp_size(n), ++tag);
    }
    for (long long i = 0; i < ops; i++) {
        size_t k = (size_t)bench_rng_range(&rng, 0, (uint64_t)nslots - 1);
        size_t n = (size_t)bench_rng_range(&rng, CHURN_MIN_SIZE, CHURN_MAX_SIZE);
        sum += bench_verify(slot[k], &bad);
        BENCH_FREE(slot[k]);
        slot[k] = bench_xmalloc(n);
        bench_stamp(slot[k], stamp_size(n), ++tag);
    }
    for (long long i = 0; i < nslots; i++) {
        sum += bench_verify(slot[i], &bad);
        BENCH_FREE(slot[i]);
    }
    free(slot);

    if (bad)
        bench_die("a block's contents were corrupted");
    printf(CHURN_NAME " ops=%lld slots=%lld seed=%lld checksum=%016llx\n", ops, nslots, seed,
           (unsigned long long)sum);
    return 0;
}
