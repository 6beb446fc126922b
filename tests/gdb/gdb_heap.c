/*
 * The heap that tests/gdb/run.py inspects with tools/gdb/gomalloc.py: a
 * layout the test knows, its addresses and MemStats written to a facts file
 * (key value per line), then the process stops where gdb can look at it.
 *
 *   gdb_heap stop  FACTS   calls gdb_heap_stop() (the live test's breakpoint),
 *                          then exits 0
 *   gdb_heap abort FACTS   abort()s with RLIMIT_CORE raised: the kernel's core
 *
 * The heap: 100 gm_malloc(48) (class 48 B), one freed by this thread (its
 * localFree bit) and one by another thread (remoteFree); a 100 KiB block
 * (13 pages); 40 gm_new(64) objects kept in a global (roots) and 200
 * dropped, then gm_gc() (the kept ones survive: marked).
 *
 * Nothing allocates from gomalloc between gm_read_memstats and the stop, so
 * gdb must find the same numbers: facts are formatted with snprintf and
 * written with write(2) (stdio would allocate when linked with the
 * preloading libgomalloc.so).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gomalloc.h"
#include "garbage.h"

#define NSMALL 100
#define SMALL_SIZE 48
#define FREED_LOCAL 10
#define FREED_REMOTE 20
#define LIVE_ONE 50
#define LARGE_SIZE (100 * 1024)
#define NKEPT 40
#define NDROPPED 200
#define GC_SIZE 64

/* Globals: gdb reads them by name too, and they are the collector's roots. */
void *small48[NSMALL];
void *large_block;
void *kept[NKEPT];
int small_class; /* the size class of 48-byte blocks */

static int facts_fd = -1;

static void fact(const char *key, unsigned long long v, int hex) {
    char line[128];
    int n = snprintf(line, sizeof line, hex ? "%s %#llx\n" : "%s %llu\n", key, v);
    if (write(facts_fd, line, (size_t)n) != n) _exit(2);
}

static void die(const char *what) {
    const char *msg = "gdb_heap: ";
    if (write(2, msg, strlen(msg)) < 0 || write(2, what, strlen(what)) < 0 ||
        write(2, "\n", 1) < 0)
        _exit(2);
    _exit(1);
}

static void *free_remote(void *p) {
    gm_free(p); /* not this span's owning thread: sets its remoteFree bit */
    return NULL;
}

/* The live test's breakpoint. */
__attribute__((noinline)) void gdb_heap_stop(void) { __asm__ volatile("" ::: "memory"); }

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "stop") && strcmp(argv[1], "abort")))
        die("usage: gdb_heap stop|abort FACTS");
    facts_fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (facts_fd < 0) die("cannot open the facts file");

    for (int i = 0; i < NSMALL; i++)
        if (!(small48[i] = gm_malloc(SMALL_SIZE))) die("out of memory");
    gm_free(small48[FREED_LOCAL]);
    pthread_t th;
    if (pthread_create(&th, NULL, free_remote, small48[FREED_REMOTE]) != 0 ||
        pthread_join(th, NULL) != 0)
        die("pthread_create");
    if (!(large_block = gm_malloc(LARGE_SIZE))) die("out of memory");
    for (int i = 0; i < NKEPT; i++)
        if (!(kept[i] = gm_new(GC_SIZE))) die("out of memory");
    make_garbage(NDROPPED, GC_SIZE);
    clear_stack();
    gm_gc();

    /* Spans of the 48-byte class among our pointers: nothing else in this
     * process allocates 48-byte blocks from gomalloc (with the core
     * library; the preloading one may see libc's too). */
    gm_span_info si;
    uintptr_t bases[NSMALL];
    unsigned nspans = 0;
    for (int i = 0; i < NSMALL; i++) {
        if (gm_span_inspect(small48[i], &si) != 0) die("small object not in the heap");
        unsigned j = 0;
        while (j < nspans && bases[j] != si.base) j++;
        if (j == nspans) bases[nspans++] = si.base;
    }
    small_class = si.size_class;
    if (gm_span_inspect(large_block, &si) != 0) die("large block not in the heap");
    size_t large_pages = si.npages;
    if (gm_span_inspect(kept[0], &si) != 0) die("gc object not in the heap");
    int gc_class = si.size_class;

    fact("small_class", (unsigned long long)small_class, 0);
    fact("small_spans", nspans, 0);
    fact("live_ptr", (uintptr_t)small48[LIVE_ONE], 1);
    fact("freed_local_ptr", (uintptr_t)small48[FREED_LOCAL], 1);
    fact("freed_remote_ptr", (uintptr_t)small48[FREED_REMOTE], 1);
    fact("large_ptr", (uintptr_t)large_block, 1);
    fact("large_pages", large_pages, 0);
    fact("gc_ptr", (uintptr_t)kept[NKEPT / 2], 1);
    fact("gc_class", (unsigned long long)gc_class, 0);

    gm_memstats m;
    gm_read_memstats(&m);
    fact("heap_inuse", m.heap_inuse, 0);
    fact("heap_objects", m.heap_objects, 0);
    fact("heap_alloc", m.heap_alloc, 0);
    fact("heap_sys", m.heap_sys, 0);
    fact("heap_released", m.heap_released, 0);
    fact("mallocs", m.mallocs, 0);
    fact("frees", m.frees, 0);
    fact("num_gc", m.num_gc, 0);
    fact("done", 1, 0);
    close(facts_fd);

    if (argv[1][0] == 'a') {
        struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
        if (setrlimit(RLIMIT_CORE, &rl) != 0) {
            /* The hard limit may be lower: take what is allowed. */
            getrlimit(RLIMIT_CORE, &rl);
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_CORE, &rl);
        }
        abort();
    }
    gdb_heap_stop();
    return 0;
}
