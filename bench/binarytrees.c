/*
 * binarytrees — the benchmarks-game binary-trees program, with malloc/free.
 *
 * As in the benchmarks game: a stretch tree of depth MAX+1 is built, checked
 * and freed; a long-lived tree of depth MAX is built and kept; then for each
 * depth d = MIN, MIN+2, ..., MAX, 2^(MAX - d + MIN) trees of depth d are built,
 * checked and freed; finally the long-lived tree is checked and freed. Every
 * node is allocated with BENCH_MALLOC and freed explicitly with BENCH_FREE
 * (no arena, no pool). Single-threaded.
 *
 * The classic output lines go to stderr with -v; stdout gets one line whose
 * checksum folds all of them in.
 *
 * usage: binarytrees [MAX_DEPTH=21] [-v]
 * prints: binarytrees depth=... nodes=... checksum=...
 */
#include "bench_alloc.h"

#define MIN_DEPTH 4

typedef struct node {
    struct node *left, *right;
} node;

static uint64_t g_nodes; /* nodes allocated, for the result line */

static node *make_tree(int depth)
{
    node *n = bench_xmalloc(sizeof *n);
    g_nodes++;
    if (depth > 0) {
        n->left = make_tree(depth - 1);
        n->right = make_tree(depth - 1);
    } else {
        n->left = n->right = NULL;
    }
    return n;
}

static long check_tree(const node *n)
{
    if (n->left == NULL)
        return 1;
    return 1 + check_tree(n->left) + check_tree(n->right);
}

static void free_tree(node *n)
{
    if (n->left != NULL) {
        free_tree(n->left);
        free_tree(n->right);
    }
    BENCH_FREE(n);
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

    uint64_t sum = 0;

    int stretch = max_depth + 1;
    node *t = make_tree(stretch);
    long c = check_tree(t);
    free_tree(t);
    sum = bench_mix(sum ^ (uint64_t)c);
    if (verbose)
        fprintf(stderr, "stretch tree of depth %d\t check: %ld\n", stretch, c);

    node *long_lived = make_tree(max_depth);

    for (int d = MIN_DEPTH; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + MIN_DEPTH);
        long check = 0;
        for (long i = 0; i < iterations; i++) {
            t = make_tree(d);
            check += check_tree(t);
            free_tree(t);
        }
        sum = bench_mix(sum ^ ((uint64_t)iterations << 32) ^ (uint64_t)check);
        if (verbose)
            fprintf(stderr, "%ld\t trees of depth %d\t check: %ld\n", iterations, d, check);
    }

    c = check_tree(long_lived);
    free_tree(long_lived);
    sum = bench_mix(sum ^ (uint64_t)c);
    if (verbose)
        fprintf(stderr, "long lived tree of depth %d\t check: %ld\n", max_depth, c);

    printf("binarytrees depth=%d nodes=%llu checksum=%016llx\n", max_depth,
           (unsigned long long)g_nodes, (unsigned long long)sum);
    return 0;
}
