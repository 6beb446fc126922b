/*
 * fastpath — the malloc+free fast path, for instruction counting.
 *
 * After a warm-up (so the thread cache / tcache / size-class page is set up),
 * it runs ITERS pairs of BENCH_MALLOC(SIZE) + BENCH_FREE. Each pointer is
 * stored to a volatile sink, so the compiler cannot elide the pair; nothing
 * else is done per iteration. bench/count-instructions.sh runs it under
 * callgrind for N and 2N iterations: the difference of the two instruction
 * counts divided by N is the cost of one malloc+free pair plus the loop
 * (MODE=loop runs the same loop with no allocation, to measure that part).
 *
 * usage: fastpath [ITERS=10M] [SIZE=32] [MODE=pair|loop]
 * prints: fastpath iters=... size=... mode=... ok=...
 */
#include "bench_alloc.h"

#define WARMUP 100000

static void *volatile g_sink;

BENCH_NOINLINE static long run_pairs(long long iters, size_t size)
{
    long ok = 0;
    for (long long i = 0; i < iters; i++) {
        void *p = BENCH_MALLOC(size);
        g_sink = p;
        ok += p != NULL;
        BENCH_FREE(p);
    }
    return ok;
}

BENCH_NOINLINE static long run_loop(long long iters, size_t size)
{
    static char dummy[64];
    long ok = 0;
    for (long long i = 0; i < iters; i++) {
        void *p = dummy + (size & 31);
        g_sink = p;
        ok += p != NULL;
    }
    return ok;
}

int main(int argc, char **argv)
{
    long long iters = bench_arg(argc, argv, 1, 10000000LL, 0, 1LL << 40);
    size_t size = (size_t)bench_arg(argc, argv, 2, 32, 0, 1LL << 30);
    int loop_only = argc > 3 && strcmp(argv[3], "loop") == 0;
    if (argc > 3 && !loop_only && strcmp(argv[3], "pair") != 0)
        bench_die("MODE must be pair or loop");

    /* Warm-up: a few blocks of the size stay live during the whole run, so
     * the pair being measured never empties its span/page (which would send
     * some allocators down a page-retirement path on every free), and the
     * allocator's per-thread state for the class exists; then some pairs. */
    void *keep[64];
    for (int i = 0; i < 64; i++)
        keep[i] = bench_xmalloc(size ? size : 1);
    long ok = loop_only ? run_loop(WARMUP, size) : run_pairs(WARMUP, size);

    ok = loop_only ? run_loop(iters, size) : run_pairs(iters, size);
    for (int i = 0; i < 64; i++)
        BENCH_FREE(keep[i]);
    if (ok != iters)
        bench_die("allocation failed");
    printf("fastpath iters=%lld size=%zu mode=%s ok=%ld\n", iters, size,
           loop_only ? "loop" : "pair", ok);
    return 0;
}
