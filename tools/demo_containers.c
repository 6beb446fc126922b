/*
 * `gomalloc demo containers` (and chapter 6 of `gomalloc demo`): the
 * articles' experiments with make, append and maps, run on our heap. Every
 * number is measured: mallocs and bytes from gm_read_memstats, classes
 * from gm_span_inspect, map state from gm_map_inspect.
 */
#include <gomalloc.h>
#include <gomalloc/map.h>
#include <gomalloc/slice.h>
#include <stdio.h>
#include <string.h>

#include "demo.h"

static const gm_type int_type = GM_TYPE_NOPTRS(int64_t);
static gm_maptype int_int = GM_MAPTYPE(int64_t, int64_t);
static gm_maptype int_ptr =
    GM_MAPTYPE_KV(GM_TYPE_NOPTRS(int64_t), GM_TYPE_POINTER(int64_t *), GM_KEY_MEM);

typedef struct counts { uint64_t mallocs, bytes; } counts;

static counts now(void) {
    static gm_memstats m; /* large: off the stack */
    gm_read_memstats(&m);
    return (counts){m.mallocs, m.total_alloc};
}

static const char *kind_name(int k) {
    return k == GM_GC_NOSCAN ? "noscan" : k == GM_GC_TYPED ? "scan (typed)" : "scan";
}

static void print_block(const char *what, const void *p) {
    gm_span_info si;
    if (!p || gm_span_inspect(p, &si) != 0) {
        printf("  %-34s no allocation\n", what);
        return;
    }
    printf("  %-34s size class %2d (%5zu B), span class %3d, %s\n", what, si.size_class,
           si.size_class ? si.elemsize : si.npages * 8192, si.span_class, kind_name(si.gc_kind));
}

static void slice_make_vs_append(void) {
    printf("make([]int, 1000) vs make([]int, 0, 1000), then 1,000 appends to each:\n\n");
    int64_t v = 7;
    for (int withlen = 1; withlen >= 0; withlen--) {
        counts c0 = now();
        gm_slice s = gm_make_slice(&int_type, withlen ? 1000 : 0, 1000);
        counts c1 = now();
        print_block(withlen ? "make([]int, 1000)" : "make([]int, 0, 1000)", s.array);
        for (int i = 0; i < 1000; i++) s = gm_append(s, &int_type, &v, 1);
        counts c2 = now();
        printf("    make: %llu malloc, %llu B;  1,000 appends: %llu more malloc(s), %llu B;"
               " now len %zu cap %zu\n",
               (unsigned long long)(c1.mallocs - c0.mallocs),
               (unsigned long long)(c1.bytes - c0.bytes),
               (unsigned long long)(c2.mallocs - c1.mallocs),
               (unsigned long long)(c2.bytes - c1.bytes), s.len, s.cap);
        if (withlen) print_block("  the grown array", s.array);
    }
    printf("\n  8,000 bytes round up to the 8,192-byte class. The 1,001st append grows the\n"
           "  array: 1000 + (1000 + 3*256)/4 = 1442 elements, rounded up to the\n"
           "  12,288-byte class, cap 1536; the 1,537th grows it again (cap 2304). So\n"
           "  make([]int, 1000) plus 1,000 appends is 3 mallocs in Go as here, not the\n"
           "  article's 2. Its growth rule (double below 1024, then x1.25) is Go's before\n"
           "  1.18; since then the threshold is 256 with a smooth step, and the capacity\n"
           "  is always rounded up to a size class.\n\n");
}

/* The capacities one-at-a-time appends go through, for an element size. */
static void slice_cap_sequence(size_t elemsize) {
    gm_type t = {elemsize, 0, NULL, "elem", elemsize % 8 ? 1 : 8};
    char zero[128] = {0};
    gm_slice s = {0};
    printf("  %3zu-byte elements:", elemsize);
    size_t last = 0;
    int shown = 0;
    while (s.len < 3000 && shown < 14) {
        s = gm_append(s, &t, zero, 1);
        if (s.cap != last) {
            printf(" %zu", s.cap);
            last = s.cap;
            shown++;
        }
    }
    printf("\n");
}

static void slice_growth(void) {
    printf("Capacities of repeated append(s, x) from a nil slice (Go's growslice:\n"
           "double below 256 elements, then +(cap + 768)/4, then round the bytes up\n"
           "to a size class and divide by the element size):\n\n");
    const size_t sizes[] = {1, 8, 24, 72};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) slice_cap_sequence(sizes[i]);
    printf("\n  1-byte elements start at cap 8, not 1: the smallest size class is 8\n"
           "  bytes. Element types aligned to 8 keep Go's 24-byte class, so these\n"
           "  sequences are Go's, element size by element size (tests/unit/slice.c\n"
           "  checks them against a table Go itself printed).\n\n");
}

static void map_hints(void) {
    printf("make(map[int]int, hint): what Go's makemap allocates (header, bucket\n"
           "array with preallocated overflow buckets for B >= 4, mapextra):\n\n");
    printf("  %6s  %7s  %2s  %8s  %12s  %9s\n", "hint", "mallocs", "B", "buckets",
           "array bytes", "prealloc");
    const size_t hints[] = {0, 8, 100, 1000};
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
        counts c0 = now();
        gm_map *m = gm_make_map(&int_int, hints[i]);
        counts c1 = now();
        gm_map_info mi;
        gm_map_inspect(m, &mi);
        printf("  %6zu  %7llu  %2u  %8zu  %12zu  %9zu\n", hints[i],
               (unsigned long long)(c1.mallocs - c0.mallocs), mi.B, mi.nbuckets,
               mi.buckets_bytes, mi.prealloc_free);
    }
    printf("\n  A bucket of map[int]int is 8 tophash bytes + 8 keys + 8 values + an\n"
           "  overflow pointer = 144 bytes, not the article's 16. Hint 1000 needs\n"
           "  B = 8 (1000 > 6.5 x 128): 256 buckets plus 2^(8-4) = 16 for overflow is\n"
           "  39,168 bytes, which roundupsize takes to 40,960 (5 pages), and Go fills\n"
           "  the rounding with more spare buckets (28 in all). Three mallocs (hmap,\n"
           "  the array, mapextra), not the article's two; hints up to 8 allocate only\n"
           "  the header. Go puts hmap on the stack when the map does not escape; a C\n"
           "  map always has its header on the heap.\n\n");
}

static void map_span_classes(void) {
    printf("map[int]int vs map[int]*int: the bucket array's span class:\n\n");
    gm_map *a = gm_make_map(&int_int, 100), *b = gm_make_map(&int_ptr, 100);
    gm_map_info ia, ib;
    gm_map_inspect(a, &ia);
    gm_map_inspect(b, &ib);
    print_block("map[int]int buckets", ia.buckets);
    print_block("map[int]*int buckets", ib.buckets);
    printf("\n  Pointer-free buckets are noscan: the collector never reads them (their\n"
           "  overflow buckets are kept alive by hmap.extra instead). Buckets holding\n"
           "  pointers are scanned precisely, only in their pointer words.\n\n");
}

static void map_growth(void) {
    printf("A map growing past its load factor (6.5 entries per bucket): doubling,\n"
           "then incremental evacuation, two old buckets per write:\n\n");
    gm_map *m = gm_make_map(&int_int, 0);
    unsigned lastB = 99;
    int growing = 0;
    for (int64_t k = 0; k < 1000; k++) {
        *(int64_t *)gm_map_assign(m, &k) = k;
        gm_map_info mi;
        gm_map_inspect(m, &mi);
        if (mi.B != lastB || (mi.growing && growing < 2) || (!mi.growing && growing)) {
            printf("  len %5zu: B %u (%4zu buckets)%s", mi.count, mi.B, mi.nbuckets,
                   mi.growing ? "" : "\n");
            if (mi.growing)
                printf(", growing: %zu of %zu old buckets evacuated\n", mi.nevacuate,
                       mi.noldbuckets);
            growing = mi.growing ? growing + 1 : 0;
            lastB = mi.B;
        }
    }
    printf("\n");
}

void demo_containers(void) {
    demo_heading("6. make, append and maps: what Go's containers allocate");
    slice_make_vs_append();
    slice_growth();
    map_hints();
    map_span_classes();
    map_growth();
}
