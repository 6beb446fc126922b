/*
 * latency — what the mutator sees of the collector: the gaps between
 * consecutive iterations of a loop that allocates as fast as it can while
 * rewiring a live pointer graph, on gomalloc's collector or Boehm's (see
 * gc_common.h; there is no malloc build).
 *
 * Keeps LIVE_MB MiB live as pauses.c's graph of 64-byte objects (four child
 * pointers, a cross pointer, an id and two check words) in the same shape: a
 * root table of subtrees, each a complete 4-ary tree of height 6 (5461
 * nodes). One difference: a node's cross pointer is its parent (pauses.c's
 * points to the node built before it), so that replacing nodes leaves no
 * old node reachable and the live size stays constant.
 *
 * Then ITERS iterations of one thread (the main one; no other mutator):
 *   - walk from a random subtree's root down a random path to a node of
 *     height 1, checking each node's check words and that its cross pointer
 *     is the parent it was reached from;
 *   - check that node's four leaves (ids parent+1..parent+4);
 *   - allocate five new 64-byte nodes (a height-1 node and four leaves,
 *     fresh ids), link them where the old five were (the grandparent's kid
 *     slot): the old five become garbage;
 *   - read the monotonic clock once: the time since the previous read is
 *     this iteration's gap, counted in a log-linear histogram (64 buckets
 *     per power of two: within 1.6%) and its maximum kept exactly.
 * Every 65,536 iterations gcb_sample() takes the collector's pause ring; the
 * gap that contains that call is not counted. Last, every live node is
 * checked.
 *
 *   gomalloc  gm_new (scanned conservatively)
 *   Boehm     GC_MALLOC; MODE "incremental" calls GC_enable_incremental()
 *             first (Boehm's incremental, generational mode: short
 *             stop-the-world increments, dirty pages from the VDB)
 *
 * GC CPU time: gc_common.h's gc_cpu_report() (gomalloc from its runtime
 * metrics; Boehm as the process CPU time spent while the world was
 * stopped, and GC_get_full_gc_total_time()).
 *
 * usage: latency [LIVE_MB=100] [ITERS=10M] [MODE=-|incremental]
 * prints: latency live_mb=... iters=... nodes=... checksum=...
 *         gaps: n=... max_us=... p999_us=... p99_us=... p50_us=...
 *         gc: cycles=...                     (gc_common.h)
 *         gccpu: total_ms=... per_cycle_ms=... source=... (gc_common.h)
 * The percentiles are the upper edges of their histogram buckets (never
 * above the exact maximum). latency.go is the same program in Go.
 */
#include "gc_common.h"

#if !GCB_COLLECTED
#error "latency needs a collector: build it with -DGCB_GOMALLOC or -DGCB_BOEHM"
#endif

#define FANOUT 4
#define SUB_HEIGHT 6
#define SUB_NODES 5461 /* (4^7 - 1) / 3 */
#define SAMPLE_EVERY 65536

typedef struct pnode {
    struct pnode *kid[FANOUT];
    struct pnode *cross; /* the parent; NULL for a subtree's root */
    uint64_t id;
    uint64_t check[2]; /* id * K1, id ^ K2 */
} pnode;

#define K1 0x9e3779b97f4a7c15ULL
#define K2 0x5bd1e9955bd1e995ULL

/* ---- the gap histogram: log-linear, 64 sub-buckets per power of two ----- */

#define HSUB_BITS 7 /* values below 2^7 ns exact; then 64 buckets per octave */
#define HBUCKETS ((64 - HSUB_BITS + 1) * 64)

static uint64_t g_hist[HBUCKETS]; /* static: pointer-free, not on the heap */

static inline unsigned hist_index(uint64_t v)
{
    if (v < (1u << HSUB_BITS))
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= HSUB_BITS */
    unsigned shift = e - (HSUB_BITS - 1);
    return shift * 64u + (unsigned)(v >> shift);
}

/* The largest value that falls in bucket i. */
static uint64_t hist_upper(unsigned i)
{
    if (i < (1u << HSUB_BITS))
        return i;
    unsigned shift = i / 64u - 1u;
    uint64_t m = (uint64_t)(i % 64u) + 64u;
    return ((m + 1) << shift) - 1;
}

/* The q-quantile (nearest rank) of n counted values, as a bucket's upper edge. */
static uint64_t hist_quantile(uint64_t n, double q, uint64_t max)
{
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)((double)n * q);
    if ((double)rank < (double)n * q)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HBUCKETS; i++) {
        seen += g_hist[i];
        if (seen >= rank) {
            uint64_t u = hist_upper(i);
            return u < max ? u : max;
        }
    }
    return max;
}

/* ---- the graph ------------------------------------------------------------ */

static inline pnode *new_node(uint64_t id, pnode *parent)
{
    pnode *n = gcb_alloc_scan(sizeof *n);
    for (int i = 0; i < FANOUT; i++)
        n->kid[i] = NULL;
    n->cross = parent;
    n->id = id;
    n->check[0] = id * K1;
    n->check[1] = id ^ K2;
    return n;
}

/* A subtree of height h, ids *next, *next + 1, ... in preorder. */
static pnode *build(int h, uint64_t *next, pnode *parent)
{
    pnode *n = new_node((*next)++, parent);
    if (h > 0)
        for (int i = 0; i < FANOUT; i++)
            n->kid[i] = build(h - 1, next, n);
    return n;
}

static inline int node_ok(const pnode *n, const pnode *parent)
{
    return n != NULL && n->check[0] == n->id * K1 && n->check[1] == (n->id ^ K2) &&
           n->cross == parent;
}

/* Checks a whole subtree; returns its nodes' checksum. */
static uint64_t check_subtree(const pnode *n, const pnode *parent, int h, int *bad)
{
    if (!node_ok(n, parent)) {
        *bad = 1;
        return 0;
    }
    uint64_t s = bench_mix(n->id);
    for (int i = 0; i < FANOUT; i++) {
        if (h == 0) {
            if (n->kid[i] != NULL)
                *bad = 1;
            continue;
        }
        if (h == 1 && (n->kid[i] == NULL || n->kid[i]->id != n->id + 1 + (uint64_t)i)) {
            *bad = 1;
            continue;
        }
        s += check_subtree(n->kid[i], n, h - 1, bad);
    }
    return s;
}

static void usage_die(void)
{
    fprintf(stderr, "usage: latency [LIVE_MB=100] [ITERS=10M] [MODE=-|incremental]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long live_mb = (long)bench_arg(argc, argv, 1, 100, 1, 100000);
    uint64_t iters = (uint64_t)bench_arg(argc, argv, 2, 10000000, 1, 1000000000000LL);
    int incremental = 0;
    if (argc > 3 && strcmp(argv[3], "-") != 0) {
        if (strcmp(argv[3], "incremental") != 0)
            usage_die();
#if defined(GCB_BOEHM)
        incremental = 1;
#else
        fprintf(stderr, "latency: MODE incremental is for the Boehm build only\n");
        return 2;
#endif
    }
#if defined(GCB_BOEHM)
    if (incremental)
        GC_enable_incremental();
#endif
    gcb_init();
    (void)incremental;

    size_t nsub = (size_t)(live_mb * 1048576 / (SUB_NODES * (long)sizeof(pnode)));
    if (nsub < 1)
        nsub = 1;
    /* the root table is collected too; this stack keeps it alive */
    pnode **root = gcb_alloc_scan(nsub * sizeof *root);
    uint64_t next_id = 1;
    for (size_t i = 0; i < nsub; i++)
        root[i] = build(SUB_HEIGHT, &next_id, NULL);
    gcb_sample();

    bench_rng r;
    bench_rng_seed(&r, 0x6c6174656e6379ULL);
    uint64_t sum = 0, gap_max = 0, counted = 0;
    int bad = 0;
    uint64_t last = gcb_now_ns();
    for (uint64_t it = 0; it < iters; it++) {
        /* down a random path to a node of height 1 */
        pnode *g = NULL, *p = root[bench_rng_range(&r, 0, nsub - 1)];
        uint64_t path = bench_rng_next(&r);
        unsigned slot = 0;
        if (!node_ok(p, NULL))
            bad = 1;
        for (int h = SUB_HEIGHT; h > 1; h--) {
            slot = (unsigned)(path & 3);
            path >>= 2;
            pnode *c = p->kid[slot];
            if (!node_ok(c, p)) {
                bad = 1;
                break;
            }
            g = p;
            p = c;
        }
        if (bad)
            break;
        uint64_t pid = p->id;
        for (int i = 0; i < FANOUT; i++) {
            const pnode *l = p->kid[i];
            if (!node_ok(l, p) || l->id != pid + 1 + (uint64_t)i)
                bad = 1;
        }
        sum += bench_mix(pid);
        /* five new nodes in the old five's place */
        pnode *np = new_node(next_id, g);
        for (int i = 0; i < FANOUT; i++)
            np->kid[i] = new_node(next_id + 1 + (uint64_t)i, np);
        next_id += FANOUT + 1;
        g->kid[slot] = np;

        uint64_t now = gcb_now_ns();
        uint64_t gap = now - last;
        last = now;
        g_hist[hist_index(gap)]++;
        counted++;
        if (gap > gap_max)
            gap_max = gap;
        if ((it + 1) % SAMPLE_EVERY == 0) {
            gcb_sample();
            last = gcb_now_ns(); /* the sample's own time is not a gap */
        }
    }

    for (size_t i = 0; i < nsub && !bad; i++)
        sum += check_subtree(root[i], NULL, SUB_HEIGHT, &bad);
    if (bad) {
        fprintf(stderr, "latency: a live node did not hold what was stored (%s)\n", GCB_VARIANT);
        printf("latency CORRUPT\n");
        return 1;
    }
    printf("latency live_mb=%ld iters=%llu nodes=%llu checksum=%016llx\n", live_mb,
           (unsigned long long)iters, (unsigned long long)(nsub * SUB_NODES),
           (unsigned long long)sum);
    printf("gaps: n=%llu max_us=%.1f p999_us=%.1f p99_us=%.1f p50_us=%.3f\n",
           (unsigned long long)counted, (double)gap_max / 1e3,
           (double)hist_quantile(counted, 0.999, gap_max) / 1e3,
           (double)hist_quantile(counted, 0.99, gap_max) / 1e3,
           (double)hist_quantile(counted, 0.5, gap_max) / 1e3);
    gcb_report();
    gc_cpu_report();
    return 0;
}
