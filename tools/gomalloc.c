/*
 * gomalloc: the command-line tool.
 *
 *   gomalloc demo          walk through the allocator with live data
 *   gomalloc run [--stats] [--stats-file F] [--] CMD [ARGS...]
 *                          run any program with gomalloc as its malloc
 *   gomalloc sizeclasses   print the size-class table
 *   gomalloc version
 *
 * Everything printed by the demo is read from the running heap through the
 * public API (gm_size_class_of, gm_span_inspect, gm_read_memstats,
 * gm_set_gc_hook).
 */
#include <gomalloc.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

static void usage(FILE *f) {
    fprintf(f, "usage: gomalloc <command>\n\n"
               "commands:\n"
               "  demo          walk through Go's allocator design on the live heap\n"
               "  run [--stats] [--stats-file F] [--] CMD [ARGS...]\n"
               "                run CMD with gomalloc preloaded as its malloc; --stats\n"
               "                prints a heap summary when CMD exits\n"
               "  sizeclasses   print the 67 size classes\n"
               "  version       print the version\n");
}

static void heading(const char *title) {
    printf("\n== %s ", title);
    for (size_t i = strlen(title); i < 70; i++) putchar('=');
    printf("\n\n");
}

/* Slot i is printed at column i: 1 = allocated, 0 = free. */
static void print_bits(const char *label, const uint64_t *words, unsigned n) {
    printf("  %-12s", label);
    for (unsigned i = 0; i < n; i++) {
        putchar((words[i / 64] >> (i % 64)) & 1 ? '1' : '0');
        if (i % 64 == 63 && i + 1 < n) printf("\n  %-12s", "");
    }
    putchar('\n');
}

static void print_cache(uint64_t cache) {
    /* allocCache is inverted: 1 = free. Bit 0 is slot freeindex. */
    printf("  %-12s", "allocCache");
    for (int i = 0; i < 64; i++) putchar((cache >> i) & 1 ? '1' : '0');
    printf("  (1 = free, from freeindex on)\n");
}

static void print_span(const char *what, const void *p) {
    gm_span_info s;
    if (gm_span_inspect(p, &s) != 0) {
        printf("  %p is not in the heap\n", p);
        return;
    }
    printf("%s\n", what);
    printf("  span %#lx: %zu page(s), class %d, spanclass %d, elemsize %zu, nelems %u\n",
           (unsigned long)s.base, s.npages, s.size_class, s.span_class, s.elemsize, s.nelems);
    printf("  freeindex %u, allocCount %u\n", s.freeindex, s.alloc_count);
    print_cache(s.alloc_cache);
    print_bits("allocBits", s.alloc_bits, s.nelems);
    print_bits("freed", s.freed_bits, s.nelems);
}

static void demo_sizeclasses(void) {
    heading("1. Size classes: which class does an allocation use?");
    printf("Go rounds every small request up to one of 67 size classes; each span holds\n"
           "objects of one class. span class = size class << 1 | noscan (malloc memory\n"
           "is never scanned, so it uses the noscan classes).\n\n");
    printf("  %8s  %5s  %9s  %8s  %10s  %7s  %s\n", "request", "class", "spanclass", "size",
           "span bytes", "objects", "waste");
    size_t sizes[] = {1, 8, 9, 24, 33, 80, 81, 100, 1000, 1025, 8192, 32768, 32769, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        gm_size_class_info ci;
        gm_size_class_of(sizes[i], &ci);
        printf("  %8zu  %5d  %9d  %8zu  %10zu  %7u  %5.1f%%\n", sizes[i], ci.size_class,
               ci.span_class, ci.size, ci.span_bytes, ci.nelems,
               100.0 * (double)(ci.size - sizes[i]) / (double)ci.size);
    }
    printf("\n80 bytes fits class 7 exactly; 81 bytes needs class 8 (96 bytes): 15 bytes\n"
           "of every object are rounding waste. Above 32 KiB an object is \"large\"\n"
           "(class 0) and gets whole 8 KiB pages.\n");
}

static void demo_bitmaps(void) {
    heading("2. A span's allocBits and allocCache, object by object");
    printf("Allocating 80-byte objects. nextFreeFast takes the lowest set bit of\n"
           "allocCache (an inverted 64-bit window of allocBits starting at freeindex),\n"
           "so allocation is a count-trailing-zeros and a shift: no free list.\n\n");
    void *objs[102];
    int shown[] = {1, 2, 3, 10, 63, 64, 65, 100};
    size_t next = 0;
    for (int i = 1; i <= 100; i++) {
        objs[i - 1] = gm_malloc(80);
        if (next < sizeof shown / sizeof shown[0] && shown[next] == i) {
            char what[64];
            snprintf(what, sizeof what, "after %d allocation(s): object at %p", i, objs[i - 1]);
            print_span(what, objs[i - 1]);
            next++;
            putchar('\n');
        }
    }
    printf("allocBits only changes when the span is folded (our local sweep);\n"
           "between folds, freeindex and allocCache track allocation.\n\n");
    objs[100] = gm_malloc(80);
    objs[101] = gm_malloc(80);
    int holes[] = {3, 4, 5, 40, 77};
    for (size_t i = 0; i < sizeof holes / sizeof holes[0]; i++) gm_free(objs[holes[i]]);
    print_span("span full (102 objects), then objects 3, 4, 5, 40, 77 freed:", objs[0]);
    void *again = gm_malloc(80);
    printf("\n");
    print_span("one more gm_malloc(80): the span runs out, mcache_refill folds the freed\n"
               "slots into allocBits and allocation restarts at freeindex 0:", again);
    printf("  the new object reuses slot %ld (%p)\n",
           (long)(((char *)again - (char *)objs[0]) / 80), again);
    gm_free(again);
    for (int i = 0; i < 102; i++) {
        int hole = 0;
        for (size_t h = 0; h < sizeof holes / sizeof holes[0]; h++) hole |= holes[h] == i;
        if (!hole && objs[i] != again) gm_free(objs[i]);
    }
}

static void demo_large(void) {
    heading("3. A large object gets its own span");
    void *big = gm_malloc(100000);
    gm_span_info s;
    gm_span_inspect(big, &s);
    printf("gm_malloc(100000) = %p\n", big);
    printf("  span %#lx: %zu pages (%zu bytes), size class %d (large), spanclass %d\n",
           (unsigned long)s.base, s.npages, s.npages * 8192, s.size_class, s.span_class);
    printf("  usable size %zu: the request rounded up to whole 8 KiB pages\n",
           gm_usable_size(big));
    gm_free(big);
}

static void print_memstats(const char *title, const gm_memstats *m) {
    printf("%s\n", title);
    printf("  alloc %llu  total_alloc %llu  sys %llu\n", (unsigned long long)m->alloc,
           (unsigned long long)m->total_alloc, (unsigned long long)m->sys);
    printf("  mallocs %llu  frees %llu  heap_objects %llu\n", (unsigned long long)m->mallocs,
           (unsigned long long)m->frees, (unsigned long long)m->heap_objects);
    printf("  heap_sys %llu  heap_inuse %llu  heap_idle %llu  heap_released %llu\n",
           (unsigned long long)m->heap_sys, (unsigned long long)m->heap_inuse,
           (unsigned long long)m->heap_idle, (unsigned long long)m->heap_released);
    printf("  mspan_inuse %llu  mcache_inuse %llu  gc_sys %llu  other_sys %llu\n",
           (unsigned long long)m->mspan_inuse, (unsigned long long)m->mcache_inuse,
           (unsigned long long)m->gc_sys, (unsigned long long)m->other_sys);
}

static void demo_memstats(void) {
    heading("4. MemStats before and after");
    gm_memstats before, after;
    gm_read_memstats(&before);
    print_memstats("before allocating 10,000 objects of 1..2000 bytes and 10 of 1 MiB:", &before);
    void *small[10000], *big[10];
    for (int i = 0; i < 10000; i++) small[i] = gm_malloc((size_t)(i * 7919) % 2000 + 1);
    for (int i = 0; i < 10; i++) big[i] = gm_malloc(1 << 20);
    gm_read_memstats(&after);
    print_memstats("\nafter:", &after);
    printf("\n  by size class (objects live now):\n");
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c += 6)
        printf("    class %2d (%5u B): mallocs %llu frees %llu\n", c, after.by_size[c].size,
               (unsigned long long)after.by_size[c].mallocs,
               (unsigned long long)after.by_size[c].frees);
    for (int i = 0; i < 10000; i++) gm_free(small[i]);
    for (int i = 0; i < 10; i++) gm_free(big[i]);
    gm_release_memory();
    gm_read_memstats(&after);
    print_memstats("\nafter freeing everything and gm_release_memory():", &after);
}

static int cmd_sizeclasses(void) {
    printf("%5s %10s %11s %8s %11s\n", "class", "bytes/obj", "bytes/span", "objects", "tail waste");
    for (size_t sz = 1; sz <= 32768;) {
        gm_size_class_info ci;
        gm_size_class_of(sz, &ci);
        printf("%5d %10zu %11zu %8u %11zu\n", ci.size_class, ci.size, ci.span_bytes, ci.nelems,
               ci.tail_waste);
        sz = ci.size + 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "demo") == 0) {
        printf("gomalloc %s: the Go runtime's allocator, in C, on a live heap.\n", GM_VERSION);
        demo_sizeclasses();
        demo_bitmaps();
        demo_large();
        demo_memstats();
        return 0;
    }
    if (strcmp(argv[1], "sizeclasses") == 0) return cmd_sizeclasses();
    if (strcmp(argv[1], "run") == 0) return cmd_run(argc, argv);
    if (strcmp(argv[1], "version") == 0) {
        printf("gomalloc %s\n", GM_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "gomalloc: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
