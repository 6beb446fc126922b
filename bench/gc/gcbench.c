/*
 * gcbench — a GCBench-style collector benchmark (after the shape of Ellis,
 * Kovac and Boehm's GCBench; written for gomalloc), on a garbage collector
 * or on malloc/free (see gc_common.h for the three builds).
 *
 *   1. a stretch tree of depth MAX+2 is built and dropped;
 *   2. a long-lived tree of depth MAX is built top down and kept;
 *   3. a long-lived pointer-free array of ARRAY doubles, a[i] = 1/i, is kept;
 *   4. ROUNDS times, for each depth d = 4, 6, ..., MAX: 2 * size(MAX+2) /
 *      size(d) trees of depth d (size(d) = 2^(d+1) - 1 nodes, so about
 *      2^(MAX+3) nodes per depth) are built top down (the parent first, its
 *      children filled in after), then as many bottom up (the children
 *      first); every 8th tree is walked and checked, and all are dropped;
 *   5. the long-lived tree and array are checked.
 * Nodes are 32 bytes: two pointers and two integers.
 *
 *   gomalloc  gm_new nodes (scanned conservatively), gm_new_noscan array
 *   Boehm     GC_MALLOC nodes (scanned conservatively), GC_MALLOC_ATOMIC
 *             array
 *   malloc    malloc, each tree freed after it is built (and checked)
 * gm_new / gm_new_noscan are gomalloc's GC_MALLOC / GC_MALLOC_ATOMIC, what
 * a C programmer writes with each API, so both collectors scan the same
 * words. (The two integers of a node are small, never heap addresses.)
 * Build with -DGCB_GM_TYPED for nodes from gm_new_typed (a GM_TYPE naming
 * the two pointers), gomalloc's precise scanning.
 *
 * usage: gcbench [MAX_DEPTH=16] [ROUNDS=8] [ARRAY=500000]
 * prints: gcbench depth=... rounds=... nodes=... checksum=...
 *         gc: cycles=... (collected variants)
 *         gccpu: total_ms=... per_cycle_ms=... source=... (collected
 *         variants; gc_common.h)
 */
#include "gc_common.h"

#define MIN_DEPTH 4
#define CHECK_EVERY 8

typedef struct gnode {
    struct gnode *left, *right;
    int64_t depth; /* levels below this node */
    int64_t mark;  /* depth * 2 + 1, checked on the walk */
} gnode;

#if defined(GCB_GOMALLOC) && defined(GCB_GM_TYPED)
static const gm_type gnode_type = GM_TYPE(struct gnode, left, right);
#endif

static uint64_t g_nodes;
static int g_bad;

static inline gnode *new_gnode(gnode *left, gnode *right, int depth)
{
#if defined(GCB_GOMALLOC) && defined(GCB_GM_TYPED)
    gnode *n = gm_new_typed(&gnode_type);
    if (n == NULL)
        bench_die("allocation failed");
#else
    gnode *n = gcb_alloc_scan(sizeof *n);
#endif
    n->left = left;
    n->right = right;
    n->depth = depth;
    n->mark = (int64_t)depth * 2 + 1;
    g_nodes++;
    return n;
}

static double *new_array(size_t n)
{
    return gcb_alloc_noscan(n * sizeof(double));
}

/* Top down: n exists; give it two children and fill them in. */
static void populate(gnode *n, int depth)
{
    if (depth <= 0)
        return;
    n->left = new_gnode(NULL, NULL, depth - 1);
    n->right = new_gnode(NULL, NULL, depth - 1);
    populate(n->left, depth - 1);
    populate(n->right, depth - 1);
}

/* Bottom up: the children first. */
static gnode *make_tree(int depth)
{
    if (depth <= 0)
        return new_gnode(NULL, NULL, 0);
    gnode *l = make_tree(depth - 1);
    gnode *r = make_tree(depth - 1);
    return new_gnode(l, r, depth);
}

/* Nodes of the tree; flags g_bad when a node is not what was built. */
static uint64_t check_tree(const gnode *n, int depth)
{
    if (n->depth != depth || n->mark != (int64_t)depth * 2 + 1) {
        g_bad = 1;
        return 0;
    }
    if (depth == 0)
        return (n->left == NULL && n->right == NULL) ? 1 : (g_bad = 1, 0);
    if (n->left == NULL || n->right == NULL) {
        g_bad = 1;
        return 0;
    }
    return 1 + check_tree(n->left, depth - 1) + check_tree(n->right, depth - 1);
}

static void drop_tree(gnode *n)
{
#if GCB_COLLECTED
    (void)n;
#else
    if (n->left != NULL) {
        drop_tree(n->left);
        drop_tree(n->right);
    }
    free(n);
#endif
}

static long tree_size(int depth)
{
    return (1L << (depth + 1)) - 1;
}

int main(int argc, char **argv)
{
    int max_depth = (int)bench_arg(argc, argv, 1, 16, MIN_DEPTH, 24);
    int rounds = (int)bench_arg(argc, argv, 2, 8, 1, 1000);
    size_t array_len = (size_t)bench_arg(argc, argv, 3, 500000, 1001, 100000000);
    int stretch_depth = max_depth + 2;
    gcb_init();

    uint64_t sum = 0;

    gnode *t = make_tree(stretch_depth);
    sum = bench_mix(sum ^ check_tree(t, stretch_depth));
    drop_tree(t);
    t = NULL;
    gcb_sample();

    gnode *long_lived = new_gnode(NULL, NULL, max_depth);
    populate(long_lived, max_depth);

    double *array = new_array(array_len);
    array[0] = 0.0;
    for (size_t i = 1; i < array_len; i++)
        array[i] = 1.0 / (double)i;

    for (int r = 0; r < rounds; r++) {
        for (int d = MIN_DEPTH; d <= max_depth; d += 2) {
            long iters = 2 * tree_size(stretch_depth) / tree_size(d);
            uint64_t checked = 0;
            for (long i = 0; i < iters; i++) {
                t = new_gnode(NULL, NULL, d);
                populate(t, d);
                if (i % CHECK_EVERY == 0)
                    checked += check_tree(t, d);
                drop_tree(t);
            }
            for (long i = 0; i < iters; i++) {
                t = make_tree(d);
                if (i % CHECK_EVERY == 0)
                    checked += check_tree(t, d);
                drop_tree(t);
            }
            t = NULL;
            sum = bench_mix(sum ^ ((uint64_t)iters << 40) ^ ((uint64_t)d << 32) ^ checked);
            gcb_sample();
        }
    }

    sum = bench_mix(sum ^ check_tree(long_lived, max_depth));
    double s = 0.0;
    for (size_t i = 0; i < array_len; i++)
        s += array[i];
    uint64_t bits;
    memcpy(&bits, &s, sizeof bits);
    if (array[1000] != 1.0 / 1000.0)
        g_bad = 1;
    sum = bench_mix(sum ^ bits);
    drop_tree(long_lived);
#if !GCB_COLLECTED
    free(array);
#endif
    if (g_bad) {
        fprintf(stderr, "gcbench: a tree or the array did not hold what was stored (%s)\n",
                GCB_VARIANT);
        printf("gcbench CORRUPT\n");
        return 1;
    }
    printf("gcbench depth=%d rounds=%d array=%zu nodes=%llu checksum=%016llx\n", max_depth, rounds,
           array_len, (unsigned long long)g_nodes, (unsigned long long)sum);
    gcb_report();
    gc_cpu_report();
    return 0;
}
