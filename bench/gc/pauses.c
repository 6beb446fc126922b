/*
 * pauses — stop-the-world pause against live heap size, on gomalloc's
 * collector or Boehm's (see gc_common.h; there is no malloc build).
 *
 * Keeps LIVE_MB megabytes (MiB) live as a pointer graph of 64-byte objects
 * (four child pointers, one cross pointer, an id and two check words): a
 * root table of subtrees, each a complete 4-ary tree of height 6 (5461
 * nodes, 341 KiB) whose nodes also point to the node built before them.
 * Then CYCLES rounds of: replace 1/20 of the subtrees with new ones (the old
 * ones become garbage), allocate LIVE_MB/4 MiB (at least 4) of short-lived
 * 64-byte lists, and force a full collection (gm_gc, GC_gcollect). Last,
 * every live node is checked. The gc: line gives every cycle's pause,
 * forced or not.
 *
 *   gomalloc  gm_new (scanned conservatively), gm_gc
 *   Boehm     GC_MALLOC, GC_gcollect
 *
 * usage: pauses [LIVE_MB=100] [CYCLES=20]
 * prints: pauses live_mb=... cycles=... nodes=... checksum=...
 *         gc: cycles=...
 */
#include "gc_common.h"

#if !GCB_COLLECTED
#error "pauses needs a collector: build it with -DGCB_GOMALLOC or -DGCB_BOEHM"
#endif

#define FANOUT 4
#define SUB_HEIGHT 6
#define SUB_NODES 5461 /* (4^7 - 1) / 3 */

typedef struct pnode {
    struct pnode *kid[FANOUT];
    struct pnode *cross; /* the node built before this one in its subtree */
    uint64_t id;
    uint64_t check[2]; /* id * K1, id ^ K2 */
} pnode;

#define K1 0x9e3779b97f4a7c15ULL
#define K2 0x5bd1e9955bd1e995ULL

static uint64_t g_allocated;

static inline void *gc_alloc(size_t n)
{
    void *p = gcb_alloc_scan(n);
    g_allocated += n;
    return p;
}

static void collect(void)
{
#if defined(GCB_GOMALLOC)
    gm_gc();
#else
    GC_gcollect();
#endif
}

/* A subtree of height h whose nodes get ids *next, *next + 1, ... in
 * preorder; *prev is the node built last (the cross pointer's target). */
static pnode *build(int h, uint64_t *next, pnode **prev)
{
    pnode *n = gc_alloc(sizeof *n);
    n->id = (*next)++;
    n->check[0] = n->id * K1;
    n->check[1] = n->id ^ K2;
    n->cross = *prev;
    *prev = n;
    if (h > 0)
        for (int i = 0; i < FANOUT; i++)
            n->kid[i] = build(h - 1, next, prev);
    return n;
}

static pnode *new_subtree(uint64_t first_id)
{
    uint64_t next = first_id;
    pnode *prev = NULL;
    return build(SUB_HEIGHT, &next, &prev);
}

/* Check a subtree built from first_id; returns its nodes' checksum. */
static uint64_t check_subtree(const pnode *n, int h, uint64_t *expect, int *bad)
{
    if (n == NULL || n->id != *expect || n->check[0] != n->id * K1 || n->check[1] != (n->id ^ K2)) {
        *bad = 1;
        return 0;
    }
    (*expect)++;
    if (n->cross != NULL && n->cross->id + 1 > n->id) /* built before: smaller id */
        *bad = 1;
    uint64_t s = bench_mix(n->id);
    if (h > 0)
        for (int i = 0; i < FANOUT; i++)
            s += check_subtree(n->kid[i], h - 1, expect, bad);
    return s;
}

int main(int argc, char **argv)
{
    long live_mb = (long)bench_arg(argc, argv, 1, 100, 1, 100000);
    int cycles = (int)bench_arg(argc, argv, 2, 20, 1, 10000);
    gcb_init();

    size_t nsub = (size_t)(live_mb * 1048576 / (SUB_NODES * (long)sizeof(pnode)));
    if (nsub < 1)
        nsub = 1;
    /* the root table is collected too; this stack keeps it alive */
    pnode **root = gc_alloc(nsub * sizeof *root);
    uint64_t *first = malloc(nsub * sizeof *first); /* first id of each subtree */
    if (first == NULL)
        bench_die("out of memory");
    uint64_t next_id = 1;
    for (size_t i = 0; i < nsub; i++) {
        first[i] = next_id;
        root[i] = new_subtree(next_id);
        next_id += SUB_NODES;
    }
    gcb_sample();

    bench_rng r;
    bench_rng_seed(&r, 0x7061757365ULL);
    size_t replace = nsub / 20 ? nsub / 20 : 1;
    size_t garbage = (size_t)(live_mb < 16 ? 4 : live_mb / 4) * 1048576;
    uint64_t sum = 0;
    for (int c = 0; c < cycles; c++) {
        for (size_t k = 0; k < replace; k++) {
            size_t i = (size_t)bench_rng_range(&r, 0, nsub - 1);
            first[i] = next_id;
            root[i] = new_subtree(next_id);
            next_id += SUB_NODES;
        }
        /* short-lived lists of 64-byte nodes, dropped at once */
        for (size_t done = 0; done < garbage;) {
            pnode *head = NULL;
            for (int j = 0; j < 256; j++) {
                pnode *n = gc_alloc(sizeof *n);
                n->kid[0] = head;
                n->id = (uint64_t)j;
                head = n;
            }
            uint64_t len = 0;
            for (pnode *n = head; n != NULL; n = n->kid[0])
                len += n->id;
            sum += len;
            done += 256 * sizeof(pnode);
        }
        collect();
        gcb_sample();
    }

    int bad = 0;
    for (size_t i = 0; i < nsub; i++) {
        uint64_t expect = first[i];
        sum += check_subtree(root[i], SUB_HEIGHT, &expect, &bad);
    }
    free(first);
    if (bad) {
        fprintf(stderr, "pauses: a live node did not hold what was stored (%s)\n", GCB_VARIANT);
        printf("pauses CORRUPT\n");
        return 1;
    }
    printf("pauses live_mb=%ld cycles=%d nodes=%llu checksum=%016llx\n", live_mb, cycles,
           (unsigned long long)(nsub * SUB_NODES), (unsigned long long)sum);
    gcb_report();
    return 0;
}
