/*
 * binarytrees (GC) — the benchmarks-game binary-trees program, on a garbage
 * collector or on malloc/free (see gc_common.h for the three builds).
 *
 * A stretch tree of depth MAX+1 is built, checked and dropped; a long-lived
 * tree of depth MAX is built and kept; then for each depth d = 4, 6, ..., MAX,
 * 2^(MAX - d + 4) trees of depth d are built, checked and dropped; last the
 * long-lived tree is checked again. Trees are built bottom up (both children
 * before their parent), as the benchmarks game's Go program does.
 *
 *   gomalloc  gm_new (scanned conservatively); never freed
 *   Boehm     GC_MALLOC (scanned conservatively); never freed
 *   malloc    malloc, every tree freed after its check
 * gm_new is gomalloc's GC_MALLOC, what a C programmer writes first, so the
 * two collectors get the same program. A node is two pointers and nothing
 * else, so precise scanning could skip no word: gm_new_typed would only add
 * the cost of its type bitmap (build with -DGCB_GM_TYPED to measure it:
 * nodes from gm_new_typed with a GM_TYPE naming both fields).
 *
 * usage: binarytrees [MAX_DEPTH=21] [-v]
 * prints: binarytrees depth=... nodes=... checksum=...
 *         gc: cycles=... (collected variants)
 *         gccpu: total_ms=... per_cycle_ms=... source=... (collected
 *         variants; gc_common.h)
 * The classic output lines go to stderr with -v.
 */
#include "gc_common.h"

#define MIN_DEPTH 4

typedef struct node {
    struct node *left, *right;
} node;

#if defined(GCB_GOMALLOC) && defined(GCB_GM_TYPED)
static const gm_type node_type = GM_TYPE(struct node, left, right);
#endif

static uint64_t g_nodes; /* nodes allocated, for the result line */

static inline node *new_node(node *left, node *right)
{
#if defined(GCB_GOMALLOC) && defined(GCB_GM_TYPED)
    node *n = gm_new_typed(&node_type);
    if (n == NULL)
        bench_die("allocation failed");
#else
    node *n = gcb_alloc_scan(sizeof *n);
#endif
    n->left = left;
    n->right = right;
    g_nodes++;
    return n;
}

static node *make_tree(int depth)
{
    if (depth <= 0)
        return new_node(NULL, NULL);
    node *l = make_tree(depth - 1);
    node *r = make_tree(depth - 1);
    return new_node(l, r);
}

static long check_tree(const node *n)
{
    if (n->left == NULL)
        return 1;
    return 1 + check_tree(n->left) + check_tree(n->right);
}

/* Drop a tree: free(3) for the malloc build, nothing for a collector. */
static void drop_tree(node *n)
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

int main(int argc, char **argv)
{
    int verbose = 0;
    if (argc > 1 && strcmp(argv[argc - 1], "-v") == 0) {
        verbose = 1;
        argc--;
    }
    int max_depth = (int)bench_arg(argc, argv, 1, 21, 0, 30);
    if (max_depth < MIN_DEPTH + 2)
        max_depth = MIN_DEPTH + 2;
    gcb_init();

    uint64_t sum = 0;
    int stretch = max_depth + 1;
    node *t = make_tree(stretch);
    long c = check_tree(t);
    drop_tree(t);
    t = NULL;
    sum = bench_mix(sum ^ (uint64_t)c);
    if (verbose)
        fprintf(stderr, "stretch tree of depth %d\t check: %ld\n", stretch, c);
    gcb_sample();

    node *long_lived = make_tree(max_depth);

    for (int d = MIN_DEPTH; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + MIN_DEPTH);
        long check = 0;
        for (long i = 0; i < iterations; i++) {
            t = make_tree(d);
            check += check_tree(t);
            drop_tree(t);
        }
        t = NULL;
        sum = bench_mix(sum ^ ((uint64_t)iterations << 32) ^ (uint64_t)check);
        if (verbose)
            fprintf(stderr, "%ld\t trees of depth %d\t check: %ld\n", iterations, d, check);
        gcb_sample();
    }

    c = check_tree(long_lived);
    drop_tree(long_lived);
    sum = bench_mix(sum ^ (uint64_t)c);
    if (verbose)
        fprintf(stderr, "long lived tree of depth %d\t check: %ld\n", max_depth, c);

    printf("binarytrees depth=%d nodes=%llu checksum=%016llx\n", max_depth,
           (unsigned long long)g_nodes, (unsigned long long)sum);
    gcb_report();
    gc_cpu_report();
    return 0;
}
