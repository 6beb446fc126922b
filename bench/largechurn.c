/*
 * largechurn — the page heap under churn: large objects only.
 *
 * A table of SLOTS live blocks of random sizes 33..160 KiB (all above the
 * 32 KiB small-object limit, so every block is its own span of pages). Each
 * step picks a random slot, verifies and frees its block and allocates a new
 * one there. This measures finding, splitting and coalescing runs of pages,
 * not object caches.
 *
 * usage: largechurn [OPS=1M] [SLOTS=2000] [SEED=1]
 * prints: largechurn ops=... slots=... checksum=...
 */
#include "bench_alloc.h"

/* The stamp's size field has 16 bits: stamp the size modulo 64 KiB (at
 * least 8), which always lies inside the block. */
static size_t stamp_size(size_t n)
{
    size_t m = n & 0xffff;
    return m < 8 ? 8 : m;
}

int main(int argc, char **argv)
{
    long long ops = bench_arg(argc, argv, 1, 1000000LL, 1, 1LL << 40);
    long long nslots = bench_arg(argc, argv, 2, 2000, 1, 1LL << 22);
    long long seed = bench_arg(argc, argv, 3, 1, 0, INT64_MAX);

    bench_rng rng;
    bench_rng_seed(&rng, (uint64_t)seed);

    /* Bookkeeping from the C library in both builds: not measured. */
    void **slot = calloc((size_t)nslots, sizeof *slot);
    if (slot == NULL)
        bench_die("out of memory for the slot table");

    const uint64_t lo = 33 << 10, hi = 160 << 10;
    uint64_t tag = 0, sum = 0;
    int bad = 0;
    for (long long i = 0; i < nslots; i++) {
        size_t n = (size_t)bench_rng_range(&rng, lo, hi);
        slot[i] = bench_xmalloc(n);
        bench_stamp(slot[i], stamp_size(n), ++tag);
    }
    for (long long i = 0; i < ops; i++) {
        size_t k = (size_t)bench_rng_range(&rng, 0, (uint64_t)nslots - 1);
        size_t n = (size_t)bench_rng_range(&rng, lo, hi);
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
    printf("largechurn ops=%lld slots=%lld seed=%lld checksum=%016llx\n", ops, nslots, seed,
           (unsigned long long)sum);
    return 0;
}
