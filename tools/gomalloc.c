/*
 * gomalloc: the command-line tool.
 *
 *   gomalloc demo          walk through the allocator with live data
 *   gomalloc demo-containers  only its chapters on make, append, maps, channels
 *   gomalloc run [OPTIONS] [--] CMD [ARGS...]
 *                          run any program with gomalloc as its malloc, and
 *                          get its heap summary, profile, metrics, heap map
 *   gomalloc plot FILE -o OUT.svg   chart a metrics file (run --metrics)
 *   gomalloc sizeclasses   print the size-class table
 *   gomalloc version
 *
 * Everything printed by the demo is read from the running heap through the
 * public API (gm_size_class_of, gm_span_inspect, gm_read_memstats,
 * gm_set_gc_hook).
 */
#include <errno.h>
#include <gomalloc.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"
#include "plot.h"
#include "run.h"

/* The chapters that hold heap addresses in locals are not inlined into
 * main: in main's frame those addresses would stay on the stack, which the
 * garbage collector scans conservatively, and the collected spans of
 * chapter 5 may reuse the pages they pointed to. */
#define NOINLINE __attribute__((noinline))

/* full: also the options of `run` (for `gomalloc help`). */
static void usage(FILE *f, bool full) {
    fprintf(f, "usage: gomalloc <command>\n\n"
               "commands:\n"
               "  demo          walk through Go's allocator design on the live heap\n"
               "  demo-containers  only the demo's chapters on make, append, maps, channels\n"
               "  run [OPTIONS] [--] CMD [ARGS...]\n"
               "                run CMD with gomalloc preloaded as its malloc; options for\n"
               "                its heap summary, profile, metrics and heap map below\n"
               "  plot FILE -o OUT.svg\n"
               "                chart a metrics file written by run --metrics\n"
               "  sizeclasses   print the 67 size classes\n"
               "  version       print the version\n");
    if (!full) {
        fprintf(f, "\n`gomalloc help` or `gomalloc run --help` for run's options\n");
        return;
    }
    fputc('\n', f);
    run_usage(f);
}

void demo_heading(const char *title) {
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
    demo_heading("1. Size classes: which class does an allocation use?");
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
           "(class 0) and gets whole 8 KiB pages. Unlike Go, malloc gives 24 bytes the\n"
           "32-byte class: C needs 16-byte alignment for blocks of 16 bytes or more, and\n"
           "Go's 24-byte class (class 3) is kept for typed objects and container arrays.\n");
}

static NOINLINE void demo_bitmaps(void) {
    demo_heading("2. A span's allocBits and allocCache, object by object");
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

static NOINLINE void demo_large(void) {
    demo_heading("3. A large object gets its own span");
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

static NOINLINE void demo_memstats(void) {
    demo_heading("4. MemStats before and after");
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

/* ---- 5. The garbage collector ---------------------------------------------- */

enum { GC_OBJ = 64 }; /* object size of the span the chapter watches */

/* Boehm's GC_HIDE_POINTER: an address stored inverted is not a root, so we
 * can remember an object without keeping it alive. */
#define GC_HIDE(p) (~(uintptr_t)(p))
#define GC_REVEAL(h) ((void *)~(h))

/* The watched span at one moment. No pointers: this lives in bss, which
 * the collector scans, and an address here would keep its object alive. */
typedef struct gc_snap {
    unsigned nelems, freeindex, alloc_count, sweepgen, heap_sweepgen;
    uint64_t alloc_bits[GM_SPAN_MAX_ELEMS / 64];
    uint64_t gcmark_bits[GM_SPAN_MAX_ELEMS / 64];
} gc_snap;

/* volatile: the stores must happen, although only the collector reads most. */
static void *volatile gc_kept[GM_SPAN_MAX_ELEMS];     /* bss: the survivors' root */
static uint64_t gc_kept_bits[GM_SPAN_MAX_ELEMS / 64]; /* their slots */
static gc_snap gc_at_mark;                            /* filled by gc_hook */

static void snap_take(const void *p, gc_snap *g) {
    gm_span_info s;
    memset(g, 0, sizeof *g);
    if (gm_span_inspect(p, &s) != 0) return;
    g->nelems = s.nelems;
    g->freeindex = s.freeindex;
    g->alloc_count = s.alloc_count;
    g->sweepgen = s.sweepgen;
    g->heap_sweepgen = s.heap_sweepgen;
    memcpy(g->alloc_bits, s.alloc_bits, sizeof g->alloc_bits);
    memcpy(g->gcmark_bits, s.gcmark_bits, sizeof g->gcmark_bits);
}

/* Runs on the collecting thread with the collector's lock held: it may only
 * read the heap and copy into static memory (no gm_new, no gm_free). */
static void gc_hook(int phase, void *obj) {
    if (phase == GM_GC_PHASE_MARK_DONE) snap_take(obj, &gc_at_mark);
}

static const char *sweep_state(const gc_snap *g) {
    switch (g->heap_sweepgen - g->sweepgen) {
    case 0: return "= h: swept";
    case 1: return "h-1: being swept";
    case 2: return "h-2: needs sweeping";
    default: return "?";
    }
}

static void print_snap(const char *what, const gc_snap *g) {
    printf("%s\n", what);
    printf("  sweepgen %u, heap sweepgen %u (%s); freeindex %u, allocCount %u\n",
           g->sweepgen, g->heap_sweepgen, sweep_state(g), g->freeindex, g->alloc_count);
    print_bits("allocBits", g->alloc_bits, g->nelems);
    print_bits("gcmarkBits", g->gcmark_bits, g->nelems);
}

/* Zero the dead stack below the caller: stale addresses left there by
 * earlier calls would be roots to the conservative stack scan. */
static NOINLINE void clear_stack(void) {
    char buf[64 << 10];
    explicit_bzero(buf, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

/* One span's worth of gm_new(GC_OBJ); slots 0, 3, 6, ... go to gc_kept.
 * noinline: the other addresses die with this frame. Returns how many
 * were kept; *span_elems is the span's object count. */
static NOINLINE unsigned gc_fill_span(unsigned *span_elems) {
    gm_span_info s;
    void *first = gm_new(GC_OBJ);
    if (!first || gm_span_inspect(first, &s) != 0) return 0;
    unsigned nkept = 0;
    for (unsigned i = 0; i < s.nelems; i++) {
        uintptr_t off = (uintptr_t)(i ? gm_new(GC_OBJ) : first) - s.base;
        if (off >= s.npages * 8192) continue; /* from another span */
        unsigned slot = (unsigned)(off / s.elemsize);
        if (slot % 3) continue;
        gc_kept[nkept++] = (void *)(s.base + off);
        gc_kept_bits[slot / 64] |= (uint64_t)1 << (slot % 64);
    }
    *span_elems = s.nelems;
    return nkept;
}

/* The marks against what we kept: every kept slot should be marked; other
 * marked slots are stragglers. The sweep should have copied the marks. */
static void gc_check_marks(const gc_snap *mark, const gc_snap *swept, unsigned nkept) {
    char list[64] = "";
    unsigned extra = 0, unmarked = 0;
    for (unsigned i = 0; i < mark->nelems; i++) {
        unsigned m = mark->gcmark_bits[i / 64] >> (i % 64) & 1;
        unsigned k = gc_kept_bits[i / 64] >> (i % 64) & 1;
        unmarked += k && !m;
        if (m && !k && extra++ < 8) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, " %u", i);
        }
    }
    printf("\n  marked: %u of the %u kept, and %u straggler(s)%s%s\n", nkept - unmarked, nkept,
           extra, extra ? ", slot" : "", list);
    printf("  allocBits after the sweep == gcmarkBits at mark done: %s\n",
           memcmp(swept->alloc_bits, mark->gcmark_bits, sizeof swept->alloc_bits) ? "NO" : "yes");
    printf("  (stragglers: dropped objects whose stale address on the stack is a root)\n");
}

static void demo_gc_span(void) {
    unsigned nelems = 0;
    unsigned nkept = gc_fill_span(&nelems);
    clear_stack();
    if (!nkept) {
        printf("  gm_new(%d) failed\n", GC_OBJ);
        return;
    }
    gc_snap before, after;
    snap_take(gc_kept[0], &before);
    printf("%u gm_new(%d) objects fill one span; slots 0, 3, 6, ... (%u objects) are\n"
           "stored in a static array (globals are roots), the other %u are dropped.\n\n",
           nelems, GC_OBJ, nkept, nelems - nkept);
    print_snap("before the mark: allocBits is as of the span's last sweep (none: it is new);\n"
               "the slots below freeindex are allocated, as in Go:", &before);
    gm_set_gc_hook(gc_hook, gc_kept[0]);
    gm_gc();
    gm_set_gc_hook(NULL, NULL);
    snap_take(gc_kept[0], &after);
    print_snap("\nafter the mark (read in the gm_set_gc_hook callback at MARK_DONE): all objects\n"
               "start white; the world stops, each root-reachable one turns grey (queued), then\n"
               "black (scanned). gcmarkBits: 1 = black, 0 = white = garbage. Mark termination\n"
               "raised h by 2, so the span is now unswept:", &gc_at_mark);
    print_snap("\nafter the sweep (gm_gc returned): allocBits := gcmarkBits, gcmarkBits cleared,\n"
               "freeindex 0: the white slots are free, allocCache finds them next:", &after);
    gc_check_marks(&gc_at_mark, &after, nkept);
}

static int gc_fin_ran, gc_fin_value; /* atomics: set by the finalizer thread */
static long gc_fin_tid;

static void gc_finalizer(void *obj, void *arg) {
    (void)arg;
    gc_fin_value = *(int *)obj;
    gc_fin_tid = syscall(SYS_gettid);
    __atomic_store_n(&gc_fin_ran, 1, __ATOMIC_RELEASE);
}

/* A finalized object nothing points to, returned hidden. */
static NOINLINE uintptr_t gc_make_finalized(void) {
    int *obj = gm_new(sizeof *obj);
    if (!obj) return 0;
    *obj = 42;
    gm_set_finalizer(obj, gc_finalizer, NULL);
    return GC_HIDE(obj);
}

/* noinline, and a cleared stack after it: the revealed address must not
 * outlive the call. */
static NOINLINE int gc_hidden_alive(uintptr_t h) {
    return gm_is_collected(GC_REVEAL(h));
}

static void demo_gc_finalizer(void) {
    uintptr_t h = gc_make_finalized();
    if (!h) return;
    clear_stack();
    int cycles = 0;
    while (!__atomic_load_n(&gc_fin_ran, __ATOMIC_ACQUIRE) && cycles < 20) {
        gm_gc();
        cycles++;
        for (int i = 0; i < 50 && !__atomic_load_n(&gc_fin_ran, __ATOMIC_ACQUIRE); i++)
            nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    printf("\nruntime.SetFinalizer: a gm_new(int) holding 42, with a finalizer, then dropped.\n");
    if (!__atomic_load_n(&gc_fin_ran, __ATOMIC_ACQUIRE)) {
        printf("  the finalizer has not run after %d cycles: a stale copy of the address is\n"
               "  still a root\n", cycles);
        return;
    }
    printf("  after %d gm_gc(): the finalizer ran on thread %ld (the finalizer thread; main\n"
           "  is %ld) and read %d from the object.\n",
           cycles, gc_fin_tid, (long)syscall(SYS_gettid), gc_fin_value);
    int alive = gc_hidden_alive(h);
    clear_stack();
    gm_gc();
    printf("  The cycle that found it unreachable marked it again, so the finalizer could\n"
           "  use it: live now %s; after one more gm_gc(): %s.\n",
           alive ? "yes" : "no", gc_hidden_alive(h) ? "still live" : "freed");
}

/* gctrace is read from GODEBUG when the library starts, so the trace comes
 * from a child process; these variables are the child's, not the user's. */
static int env_overridden(const char *e) {
    static const char *const names[] = {"GODEBUG=", "GOGC=", "GOMEMLIMIT=", "GOMALLOC_STATS="};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncmp(e, names[i], strlen(names[i])) == 0) return 1;
    return 0;
}

static char **gctrace_env(void) {
    static char godebug[] = "GODEBUG=gctrace=1", gogc[] = "GOGC=100";
    size_t n = 0, k = 0;
    while (environ[n]) n++;
    char **env = malloc((n + 3) * sizeof *env);
    if (!env) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!env_overridden(environ[i])) env[k++] = environ[i];
    env[k++] = godebug;
    env[k++] = gogc;
    env[k] = NULL;
    return env;
}

/* Start `gomalloc demo-gctrace` under GODEBUG=gctrace=1 with its stderr
 * (where the trace goes) on a pipe. Returns 0 and the pipe's read end, or
 * an errno value. */
static int gctrace_spawn(pid_t *pid, int *rfd) {
    char **env = gctrace_env();
    int fds[2];
    if (!env) return ENOMEM;
    if (pipe(fds) != 0) {
        free(env);
        return errno;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    char arg0[] = "gomalloc", arg1[] = "demo-gctrace";
    char *argv[] = {arg0, arg1, NULL};
    int err = posix_spawn(pid, "/proc/self/exe", &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(fds[1]);
    if (err) close(fds[0]);
    *rfd = fds[0];
    return err;
}

/* The child's trace, indented like the rest of the demo. */
static void gctrace_run_child(void) {
    pid_t pid = 0;
    int fd = -1, status = 0;
    int err = gctrace_spawn(&pid, &fd);
    if (err) {
        printf("  cannot start the child: %s\n", strerror(err));
        return;
    }
    FILE *f = fdopen(fd, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) printf("  %s", line);
    if (f) fclose(f);
    else close(fd);
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) printf("  the child failed\n");
}

static void demo_gc_trace(void) {
    printf("\nGODEBUG=gctrace=1: a child keeps 4 MiB live in 64 KiB gm_new objects and drops\n"
           "32 MiB more; GOGC=100 lets the heap reach twice what the last cycle found live:\n");
    fflush(stdout);
    gctrace_run_child();
    printf("  gc N @s P%%: cycle N, seconds since the allocator started, share of CPU used\n"
           "  by the GC so far. clock/cpu: sweep termination + mark + mark termination (cpu\n"
           "  splits mark into assist/background/idle; no assists or idle workers here).\n"
           "  MB: heap at the start -> at mark end -> marked live, then the goal, the stacks\n"
           "  and globals scanned, P = CPUs. Unlike Go, marking stops the world: the mark is\n"
           "  pause time, and nothing allocates during it (start and mark-end heap agree).\n");
}

static void demo_gc_memstats(void) {
    gm_memstats m;
    gm_read_memstats(&m);
    printf("\nMemStats, GC fields (of this process; the traced cycles were the child's):\n");
    printf("  num_gc %u  num_forced_gc %u  next_gc %llu  heap_objects %llu\n", m.num_gc,
           m.num_forced_gc, (unsigned long long)m.next_gc, (unsigned long long)m.heap_objects);
    printf("  last pause %llu ns (pause_ns[(num_gc+255)%%256])  pause_total_ns %llu\n",
           (unsigned long long)m.pause_ns[(m.num_gc + 255) % 256],
           (unsigned long long)m.pause_total_ns);
    printf("  gc_cpu_fraction %.6f\n", m.gc_cpu_fraction);
    printf("  every cycle here was a gm_gc() (forced); with so little live, next_gc is the\n"
           "  pacer's floor, 4 MiB * GOGC/100 (0 with GOGC=off).\n");
}

static NOINLINE void demo_gc_steps(void) {
    printf("gm_new memory is collected: Go's tri-color mark-sweep. A cycle marks what\n"
           "the roots reach and sweeps the rest; the span's two bitmaps tell the story.\n\n");
    demo_gc_span();
    demo_gc_finalizer();
    demo_gc_trace();
    demo_gc_memstats();
}

static NOINLINE void demo_gc(void) {
    demo_heading("5. The garbage collector: mark, sweep, finalizers, pacing");
    /* The earlier chapters' dead frames hold malloc addresses, and their
     * pages may now hold collected spans: clear them before demo_gc_steps'
     * frame (whose padding and unset locals are scanned) is built there. */
    clear_stack();
    demo_gc_steps();
}

/* The workload behind the trace: 4 MiB live (volatile: only the collector
 * reads it), 32 MiB of garbage. */
static void *volatile gc_churn_live[64];

static int cmd_demo_gctrace(void) {
    for (int i = 0; i < 64; i++) gc_churn_live[i] = gm_new(64 << 10);
    for (int i = 0; i < 512; i++) gm_keep_alive(gm_new(64 << 10));
    return 0;
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
        usage(stderr, false);
        return 2;
    }
    if (strcmp(argv[1], "demo") == 0) {
        printf("gomalloc %s: the Go runtime's allocator, in C, on a live heap.\n", GM_VERSION);
        demo_sizeclasses();
        demo_bitmaps();
        demo_large();
        demo_memstats();
        demo_gc();
        demo_containers();
        demo_chan();
        return 0;
    }
    if (strcmp(argv[1], "demo-containers") == 0) { /* the containers chapters alone */
        demo_containers();
        demo_chan();
        return 0;
    }
    if (strcmp(argv[1], "demo-gctrace") == 0) return cmd_demo_gctrace(); /* demo_gc_trace's child */
    if (strcmp(argv[1], "sizeclasses") == 0) return cmd_sizeclasses();
    if (strcmp(argv[1], "run") == 0) return cmd_run(argc, argv);
    if (strcmp(argv[1], "plot") == 0) return cmd_plot(argc, argv); /* argv[1] is "plot" */
    if (strcmp(argv[1], "version") == 0) {
        printf("gomalloc %s\n", GM_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout, true);
        return 0;
    }
    fprintf(stderr, "gomalloc: unknown command \"%s\"\n", argv[1]);
    usage(stderr, false);
    return 2;
}
