/*
 * larson — a Larson-style server workload.
 *
 * THREADS threads each own SLOTS slots of live blocks. A step picks a random
 * slot, verifies and frees its block and allocates a new random 8..1000 B
 * block there. Every XCHG-th step the thread instead swaps a random slot's
 * block into a random cell of a shared exchange array (atomic exchange) and
 * takes whatever block was there, usually one another thread allocated; that
 * block is later freed by this thread. So a steady share of frees happen in
 * a thread other than the one that allocated.
 *
 * The op count is fixed (not time-based), so runs are comparable. Each
 * thread's sequence of allocations is fixed by its seed, and every block is
 * freed exactly once (remaining ones at the end), so the sum of the blocks'
 * mixed headers is the same whatever the interleaving: that is the checksum.
 *
 * usage: larson [THREADS=4] [OPS_PER_THREAD=15M] [SLOTS=1000] [XCHG=8] [SEED=1]
 * prints: larson threads=... ops=... checksum=...
 */
#include "bench_alloc.h"

#include <pthread.h>
#include <stdatomic.h>

#define MIN_SIZE 8
#define MAX_SIZE 1000

typedef struct worker {
    pthread_t thread;
    int id;
    uint64_t sum;
    int bad;
    char pad[64];
} worker;

static long long g_ops, g_slots, g_xchg, g_seed;
static size_t g_nx;                /* cells in the exchange array */
static _Atomic(void *) *g_exchange; /* shared exchange array */
static pthread_barrier_t g_start;

static void *run_worker(void *arg)
{
    worker *w = arg;
    bench_rng rng;
    bench_rng_seed(&rng, (uint64_t)g_seed * 1000003u + (uint64_t)w->id);
    void **slot = calloc((size_t)g_slots, sizeof *slot);
    if (slot == NULL)
        bench_die("out of memory for the slot table");
    uint64_t tag = (uint64_t)w->id << 40, sum = 0;
    int bad = 0;

    for (long long i = 0; i < g_slots; i++) {
        size_t n = (size_t)bench_rng_range(&rng, MIN_SIZE, MAX_SIZE);
        slot[i] = bench_xmalloc(n);
        bench_stamp(slot[i], n, ++tag);
    }
    pthread_barrier_wait(&g_start);

    long long until_xchg = g_xchg;
    for (long long i = 0; i < g_ops; i++) {
        size_t k = (size_t)bench_rng_range(&rng, 0, (uint64_t)g_slots - 1);
        if (g_xchg > 0 && --until_xchg == 0) {
            until_xchg = g_xchg;
            size_t j = (size_t)bench_rng_range(&rng, 0, g_nx - 1);
            slot[k] = atomic_exchange_explicit(&g_exchange[j], slot[k], memory_order_acq_rel);
            continue;
        }
        size_t n = (size_t)bench_rng_range(&rng, MIN_SIZE, MAX_SIZE);
        if (slot[k] != NULL) {
            sum += bench_verify(slot[k], &bad);
            BENCH_FREE(slot[k]);
        }
        slot[k] = bench_xmalloc(n);
        bench_stamp(slot[k], n, ++tag);
    }

    for (long long i = 0; i < g_slots; i++) {
        if (slot[i] != NULL) {
            sum += bench_verify(slot[i], &bad);
            BENCH_FREE(slot[i]);
        }
    }
    free(slot);
    w->sum = sum;
    w->bad = bad;
    return NULL;
}

int main(int argc, char **argv)
{
    int nthreads = (int)bench_arg(argc, argv, 1, 4, 1, 255);
    g_ops = bench_arg(argc, argv, 2, 15000000LL, 1, 1LL << 40);
    g_slots = bench_arg(argc, argv, 3, 1000, 1, 1LL << 24);
    g_xchg = bench_arg(argc, argv, 4, 8, 0, 1LL << 40);
    g_seed = bench_arg(argc, argv, 5, 1, 0, INT64_MAX);

    g_nx = (size_t)nthreads * 64;
    g_exchange = calloc(g_nx, sizeof *g_exchange);
    worker *w = calloc((size_t)nthreads, sizeof *w);
    if (g_exchange == NULL || w == NULL)
        bench_die("out of memory");
    for (size_t j = 0; j < g_nx; j++)
        atomic_init(&g_exchange[j], NULL);
    if (pthread_barrier_init(&g_start, NULL, (unsigned)nthreads) != 0)
        bench_die("pthread_barrier_init");

    for (int t = 0; t < nthreads; t++) {
        w[t].id = t + 1;
        if (pthread_create(&w[t].thread, NULL, run_worker, &w[t]) != 0)
            bench_die("pthread_create");
    }
    uint64_t sum = 0;
    int bad = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(w[t].thread, NULL);
        sum += w[t].sum;
        bad |= w[t].bad;
    }
    for (size_t j = 0; j < g_nx; j++) {
        void *p = atomic_load(&g_exchange[j]);
        if (p != NULL) {
            sum += bench_verify(p, &bad);
            BENCH_FREE(p);
        }
    }
    pthread_barrier_destroy(&g_start);
    free(g_exchange);
    free(w);

    if (bad)
        bench_die("a block's contents were corrupted");
    printf("larson threads=%d ops=%lld slots=%lld xchg=%lld seed=%lld checksum=%016llx\n",
           nthreads, g_ops, g_slots, g_xchg, g_seed, (unsigned long long)sum);
    return 0;
}
