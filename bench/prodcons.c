/*
 * prodcons — producer/consumer: every block is freed by another thread.
 *
 * The producer allocates COUNT blocks of random sizes 16..512 B, stamps each,
 * and pushes it through a bounded single-producer/single-consumer lock-free
 * ring of QCAP cells; the consumer pops, verifies and frees it. This is the
 * worst case for per-thread caches: the freeing thread never allocates, so
 * the allocator must move memory back to the allocating thread.
 *
 * The checksum is the sum of the mixed headers of all blocks, which depends
 * only on the seed and the count.
 *
 * usage: prodcons [COUNT=20M] [QCAP=4096] [SEED=1]
 * prints: prodcons count=... checksum=...
 */
#include "bench_alloc.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define MIN_SIZE 16
#define MAX_SIZE 512
#define SPINS_BEFORE_YIELD 256

/* The ring: head and tail each on their own cache line, and each side keeps
 * a private copy of the other's index so it touches the shared line only
 * when the ring looks full (producer) or empty (consumer). */
static struct {
    _Alignas(64) atomic_size_t head; /* next cell to pop; written by the consumer */
    _Alignas(64) atomic_size_t tail; /* next cell to push; written by the producer */
    _Alignas(64) size_t mask;
    void **cell;
} q;

static long long g_count, g_seed;
static uint64_t g_sum;
static int g_bad;

static void *consumer(void *arg)
{
    (void)arg;
    size_t head = 0, tail_seen = 0;
    uint64_t sum = 0;
    int bad = 0;
    for (long long i = 0; i < g_count; i++) {
        if (head == tail_seen) {
            int spins = 0;
            while ((tail_seen = atomic_load_explicit(&q.tail, memory_order_acquire)) == head) {
                if (++spins == SPINS_BEFORE_YIELD) {
                    spins = 0;
                    sched_yield();
                }
            }
        }
        void *p = q.cell[head & q.mask];
        head++;
        atomic_store_explicit(&q.head, head, memory_order_release);
        sum += bench_verify(p, &bad);
        BENCH_FREE(p);
    }
    g_sum = sum;
    g_bad = bad;
    return NULL;
}

int main(int argc, char **argv)
{
    g_count = bench_arg(argc, argv, 1, 20000000LL, 1, 1LL << 40);
    long long qcap = bench_arg(argc, argv, 2, 4096, 2, 1LL << 24);
    g_seed = bench_arg(argc, argv, 3, 1, 0, INT64_MAX);
    if ((qcap & (qcap - 1)) != 0)
        bench_die("QCAP must be a power of two");

    q.mask = (size_t)qcap - 1;
    q.cell = calloc((size_t)qcap, sizeof *q.cell);
    if (q.cell == NULL)
        bench_die("out of memory for the queue");
    atomic_init(&q.head, 0);
    atomic_init(&q.tail, 0);

    pthread_t th;
    if (pthread_create(&th, NULL, consumer, NULL) != 0)
        bench_die("pthread_create");

    bench_rng rng;
    bench_rng_seed(&rng, (uint64_t)g_seed);
    size_t tail = 0, head_seen = 0;
    for (long long i = 0; i < g_count; i++) {
        size_t n = (size_t)bench_rng_range(&rng, MIN_SIZE, MAX_SIZE);
        void *p = bench_xmalloc(n);
        bench_stamp(p, n, (uint64_t)i + 1);
        if (tail - head_seen > q.mask) {
            int spins = 0;
            while (tail - (head_seen = atomic_load_explicit(&q.head, memory_order_acquire)) > q.mask) {
                if (++spins == SPINS_BEFORE_YIELD) {
                    spins = 0;
                    sched_yield();
                }
            }
        }
        q.cell[tail & q.mask] = p;
        tail++;
        atomic_store_explicit(&q.tail, tail, memory_order_release);
    }
    pthread_join(th, NULL);
    free(q.cell);

    if (g_bad)
        bench_die("a block's contents were corrupted");
    printf("prodcons count=%lld qcap=%lld seed=%lld checksum=%016llx\n", g_count, qcap, g_seed,
           (unsigned long long)g_sum);
    return 0;
}
