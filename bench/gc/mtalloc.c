/*
 * mtalloc — a multi-threaded, allocation-heavy collector workload, on a
 * garbage collector or on malloc/free (see gc_common.h for the three builds).
 *
 * THREADS threads each make ITEMS items. An item is a linked list of 1..32
 * nodes of 16..128 bytes (a multiple of 16, at random), and one time in four
 * a pointer-free array of 16..1024 words. Every word of a node and the
 * array's first, middle and last words hold values derived from the item's
 * seed. Each thread keeps a window of WINDOW item slots: a new item goes to
 * a random slot, and the item it replaces is verified (every node, the
 * array) and dropped. At the end every item still in the window is verified
 * too. The result line's checksum folds in every verified item; it depends
 * only on the seeds, so it is the same for every build and run.
 *
 *   gomalloc  items, nodes and the window from gm_new, arrays from
 *             gm_new_noscan; threads from gm_pthread_create
 *   Boehm     GC_MALLOC / GC_MALLOC_ATOMIC; GC_THREADS, threads from
 *             GC_pthread_create
 *   malloc    malloc / calloc, a dropped item freed node by node
 * The main thread takes the collector's pause samples every 100 ms while the
 * workers run.
 *
 * usage: mtalloc [THREADS=2] [ITEMS=300000 per thread] [WINDOW=4096]
 * prints: mtalloc threads=... items=... nodes=... checksum=...
 *         gc: cycles=... (collected variants)
 */
#define GCB_THREADS 1
#include "gc_common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

typedef struct lnode {
    struct lnode *next;
    uint64_t tag; /* high bits: value, low 8 bits: size / 16 */
    /* (size - 16) / 8 payload words: tag + 1 + w */
} lnode;

typedef struct item {
    lnode *head;
    uint64_t *arr; /* pointer-free, or NULL */
    uint64_t seed;
    uint32_t nodes;
    uint32_t arrlen;
} item;

typedef struct worker {
    int id;
    long items;
    size_t window;
    uint64_t checksum, nodes, verified;
    int bad;
    pthread_t thread;
} worker;

static atomic_int g_running;

/* ---- allocation: the three builds ---------------------------------------- */

static void drop_item(item *it)
{
#if GCB_COLLECTED
    (void)it;
#else
    lnode *n = it->head;
    while (n != NULL) {
        lnode *next = n->next;
        free(n);
        n = next;
    }
    free(it->arr);
    free(it);
#endif
}

/* ---- the work ------------------------------------------------------------ */

static inline uint64_t arr_word(uint64_t seed, uint32_t w)
{
    return seed + (uint64_t)w * 0x9e3779b97f4a7c15ULL;
}

static item *make_item(bench_rng *r, uint64_t *nodes)
{
    item *it = gcb_alloc_scan(sizeof *it);
    it->seed = bench_rng_next(r);
    it->nodes = (uint32_t)bench_rng_range(r, 1, 32);
    it->head = NULL;
    for (uint32_t k = 0; k < it->nodes; k++) {
        size_t size = 16 * (size_t)bench_rng_range(r, 1, 8);
        lnode *n = gcb_alloc_scan(size);
        n->tag = (bench_mix(it->seed + k) & ~(uint64_t)0xff) | (size / 16);
        uint64_t *pay = (uint64_t *)(n + 1);
        for (size_t w = 0; w < (size - 16) / 8; w++)
            pay[w] = n->tag + 1 + w;
        n->next = it->head;
        it->head = n;
    }
    it->arr = NULL;
    it->arrlen = 0;
    if (bench_rng_range(r, 0, 3) == 0) {
        uint32_t len = (uint32_t)bench_rng_range(r, 16, 1024);
        uint64_t *a = gcb_alloc_noscan(len * sizeof *a);
        for (uint32_t w = 0; w < len; w++)
            a[w] = arr_word(it->seed, w);
        it->arr = a;
        it->arrlen = len;
    }
    *nodes += it->nodes;
    return it;
}

/* The item's contribution to the checksum; *bad set if it is not intact. */
static uint64_t verify_item(const item *it, int *bad)
{
    uint32_t k = it->nodes;
    for (const lnode *n = it->head; n != NULL; n = n->next) {
        if (k == 0) {
            *bad = 1;
            break;
        }
        k--;
        uint64_t size = (n->tag & 0xff) * 16;
        if ((n->tag & ~(uint64_t)0xff) != (bench_mix(it->seed + k) & ~(uint64_t)0xff) ||
            size < 16 || size > 128) {
            *bad = 1;
            break;
        }
        const uint64_t *pay = (const uint64_t *)(n + 1);
        for (size_t w = 0; w < (size - 16) / 8; w++)
            if (pay[w] != n->tag + 1 + w)
                *bad = 1;
    }
    if (k != 0)
        *bad = 1;
    if (it->arrlen > 0) {
        uint32_t mid = it->arrlen / 2, last = it->arrlen - 1;
        if (it->arr == NULL || it->arr[0] != arr_word(it->seed, 0) ||
            it->arr[mid] != arr_word(it->seed, mid) || it->arr[last] != arr_word(it->seed, last))
            *bad = 1;
    }
    return bench_mix(it->seed ^ ((uint64_t)it->nodes << 32) ^ it->arrlen);
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    bench_rng r;
    bench_rng_seed(&r, 0x6d74616c6c6f63ULL + (uint64_t)wk->id * 0x1000193ULL);
    /* the window is a collected object too: this stack keeps it alive */
    item **window = gcb_alloc_scan(wk->window * sizeof *window);
    memset(window, 0, wk->window * sizeof *window);
    uint64_t sum = 0, nodes = 0, verified = 0;
    int bad = 0;
    for (long i = 0; i < wk->items; i++) {
        size_t slot = (size_t)bench_rng_range(&r, 0, wk->window - 1);
        item *old = window[slot];
        if (old != NULL) {
            sum += verify_item(old, &bad);
            verified++;
            drop_item(old);
        }
        window[slot] = make_item(&r, &nodes);
    }
    for (size_t s = 0; s < wk->window; s++) {
        if (window[s] != NULL) {
            sum += verify_item(window[s], &bad);
            verified++;
            drop_item(window[s]);
            window[s] = NULL;
        }
    }
#if !GCB_COLLECTED
    free(window);
#endif
    wk->checksum = sum;
    wk->nodes = nodes;
    wk->verified = verified;
    wk->bad = bad;
    atomic_fetch_sub(&g_running, 1);
    return NULL;
}

int main(int argc, char **argv)
{
    int nthreads = (int)bench_arg(argc, argv, 1, 2, 1, 256);
    long items = (long)bench_arg(argc, argv, 2, 300000, 1, 1000000000LL);
    size_t window = (size_t)bench_arg(argc, argv, 3, 4096, 1, 100000000LL);
    gcb_init();

    worker *w = calloc((size_t)nthreads, sizeof *w);
    if (w == NULL)
        bench_die("out of memory");
    atomic_store(&g_running, nthreads);
    for (int t = 0; t < nthreads; t++) {
        w[t].id = t;
        w[t].items = items;
        w[t].window = window;
#if defined(GCB_GOMALLOC)
        int rc = gm_pthread_create(&w[t].thread, NULL, worker_main, &w[t]);
#elif defined(GCB_BOEHM)
        int rc = GC_pthread_create(&w[t].thread, NULL, worker_main, &w[t]);
#else
        int rc = pthread_create(&w[t].thread, NULL, worker_main, &w[t]);
#endif
        if (rc != 0)
            bench_die("cannot create a thread");
    }
    while (atomic_load(&g_running) > 0) {
        usleep(100000); /* may end early (a collector's signal): harmless */
        gcb_sample();
    }
    uint64_t sum = 0, nodes = 0, verified = 0;
    int bad = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(w[t].thread, NULL);
        sum += w[t].checksum;
        nodes += w[t].nodes;
        verified += w[t].verified;
        bad |= w[t].bad;
    }
    free(w);
    if (bad) {
        fprintf(stderr, "mtalloc: an item did not hold what was stored (%s)\n", GCB_VARIANT);
        printf("mtalloc CORRUPT\n");
        return 1;
    }
    printf("mtalloc threads=%d items=%llu nodes=%llu checksum=%016llx\n", nthreads,
           (unsigned long long)verified, (unsigned long long)nodes, (unsigned long long)sum);
    gcb_report();
    return 0;
}
