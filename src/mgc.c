/*
 * gomalloc's garbage collector: Go's tri-color mark-sweep for C programs.
 *
 * This essay is the map of the collector, as malloc.c's is of the
 * allocator (read that first: spans, bitmaps, size classes). It follows
 * Go's mgc.go and says where a C library must differ: C has no stack
 * maps, no write barriers and no safe points, so roots are found
 * conservatively, and marking runs beside the program only where the
 * kernel can tell which heap pages were written (mdirty.h): the
 * mostly-concurrent collector of Boehm, Demers and Shenker (PLDI 1991).
 *
 * Glossary
 * --------
 *  collected object  memory from gm_new* (newobject.c): never freed by
 *               hand (gm_free may free it early), reclaimed by sweeping
 *               once unreachable.
 *  kind         how an object is scanned: CONSERVATIVE (gm_new: every
 *               aligned word may be a pointer), NOSCAN (gm_new_noscan:
 *               never), TYPED (gm_new_typed/array: the words a gm_type's
 *               bitmap marks). Each kind has its own span classes, so the
 *               span says how to scan (Go's noscan span classes, extended).
 *  heap bits    typed small spans: one bit per word of the span, set at
 *               allocation from the type (Go's heap bits); large typed
 *               spans keep the type itself (Go's largeType).
 *  gthread      a registered thread (stoptheworld.c): its stack and
 *               registers are roots, and it holds one span per collected
 *               class (Go's mcache for collected memory).
 *  white/grey/black  mark bit clear / mark bit set and queued in a work
 *               buffer / mark bit set and scanned (mgcmark.c).
 *  sweepgen     h = gm__gc.sweepgen rises by 2 per cycle; a span at h-2
 *               needs sweeping, h-1 is being swept, h is swept.
 *  special      a finalizer or an "uncollectable" record on an object
 *               (mfinal.c).
 *
 * The cycle (Go's phases, numbered as in Go)
 * -----------------------------------------
 * Two drivers: concurrent_cycle (GOMALLOC_GCMODE=concurrent, the default
 * where written pages can be tracked) and gc_cycle (stw, and the last
 * collection before out of memory). The numbers below are gc_cycle's; the
 * concurrent cycle differs as its section says.
 *  0. Trigger: an allocation pushes heap_live to the trigger (Go's
 *     heapLive >= trigger), or gm_gc(), or a failed allocation. In stw
 *     mode the allocating thread runs the cycle itself (Boehm-style); in
 *     concurrent mode it wakes the background collector thread (bg_main)
 *     and goes on (waiting only once the heap passes the goal). gm_gc runs
 *     a cycle on the calling thread in either mode. The cycle lock makes
 *     cycles one at a time and keeps fork out of them.
 *  1. Sweep termination: take the gc lock (held to the end, so no thread
 *     refills, frees or sets finalizers meanwhile) and finish sweeping the
 *     last cycle's spans.
 *  2. Stop the world (stoptheworld.c): GOMALLOC_SIGNAL to each registered
 *     thread; its handler saves registers and stack pointer and parks on a
 *     futex. A thread inside a lock-free allocation defers the stop to the
 *     end of it, so spans are never seen half-updated. Then Go's
 *     clearpools: every sync.Pool's victim is dropped and its contents
 *     become the victim (pool.c).
 *  3. Mark (mgcmark.c; the roots from mgcroots.c): roots are every
 *     registered thread's stack (from its saved stack pointer) and
 *     registers, the writable segments of the program and of every loaded
 *     library (dl_iterate_phdr, read each cycle, gomalloc's own arena
 *     index excluded), gm_add_roots ranges,
 *     uncollectable objects, what objects with finalizers point to, and
 *     the finalizer queue. A root word that points anywhere inside an
 *     allocated collected object marks it (arena index -> span -> divMul
 *     slot -> mark bit: a few loads, no lock). GOMALLOC_MARKERS threads
 *     drain shared work buffers in parallel; large objects are split into
 *     128 KiB oblets. Small scan objects (up to 512 bytes) are marked a
 *     span at a time (Go 1.26's Green Tea, GOMALLOC_GCMARK=span): marking
 *     one queues its span, and a span scan takes every object marked in
 *     it since the last, in address order.
 *  4. Mark termination: finalizers of unmarked objects are queued and
 *     their objects marked again (they live one more cycle); every
 *     thread's spans are taken back; sweepgen += 2; the pacer sets the
 *     next goal from the bytes marked; the world restarts.
 *  5. Sweep (mgcsweep.c): per span, alloc_bits = gcmark_bits, fresh mark
 *     bits, freeindex = 0, count the freed; empty spans go back to the
 *     page heap. Lazily by allocating threads (a refill sweeps spans of its
 *     class until one has room) and by the background sweeper thread.
 *     Queued finalizers then run on the finalizer thread, one at a time.
 *
 * The concurrent cycle (concurrent_cycle; mgcmark.c has the marking rules)
 * ----------------------------------------------------------------------
 *  1. Sweep termination: finish sweeping (in batches of 10 spans, so
 *     refilling threads are not held up); arm the dirty-page tracking of
 *     every arena (pages count as clean from here on); stop the world:
 *     pool cleanup, every thread's spans taken back, marking = 1, roots
 *     scanned into the shared queue; restart. This is the first pause.
 *  2. Concurrent mark: the collector thread and a quarter of the markers
 *     drain the queue while the program runs. Threads that refill a span
 *     get its free slots pre-marked (allocate black); a thread that
 *     allocates faster than marking proceeds scans in proportion (Go's
 *     assists, one global credit). Then rounds: collect and re-arm the
 *     written pages and queue them as work (a page's marked objects are
 *     rescanned by whichever marker or assist takes it), while the set
 *     keeps shrinking (at most 8). A thread that allocates more than
 *     64 KiB while a round's pages wait pays for them with assists, so its
 *     writes cannot outrun the rescans. gm_free of a large object keeps
 *     its pages until the mark ends.
 *  3. Mark termination (second pause): stop the world, rescan the roots
 *     in full and the marked objects on pages written since the last
 *     round, drain with every marker, unmark the pre-marked slots that
 *     stayed free; then as gc_cycle's 4.
 *  If a range cannot be tracked (dirty_lost), mark termination rescans
 *  the whole heap and later cycles stop the world.
 *
 * Pacing (Go's pacer, simplified)
 * -------------------------------------------------------------------
 *  goal = marked + (marked + stacks + globals) * GOGC/100, at least
 *  4 MiB * GOGC/100; with GOMEMLIMIT, also at most limit - (memory mapped
 *  for anything but collected objects and free pages) - max(3%, 1 MiB).
 *  Go triggers before the goal to leave runway for concurrent marking:
 *  concurrent cycles trigger where the program, allocating at the pace of
 *  the last four marks (Go's cons/mark: bytes allocated per byte scanned,
 *  at equal CPU), would reach the goal just as the background markers
 *  alone finish the expected scan work; between 70% and 95% of the way
 *  from the marked heap to the goal (concurrent_trigger), and assists
 *  hold marking to the pace that ends it at the goal; stw cycles trigger
 *  at the goal itself.
 *  Under a limit the live heap exceeds, the goal stays 1 MiB + 1/16 above
 *  the marked bytes: Go's CPU limiter bounds the same death spiral.
 *
 * Locks
 * -----
 *  gc lock        the cycle, collected-span lists, refills, specials, roots,
 *                 the finalizer queue, gm__gc's [gc] fields
 *  threads lock   the registered-thread list (held while the world is
 *                 stopped)
 *  lock order     gc -> threads -> orphan -> init -> allcaches -> mcache ->
 *                 mcentral -> heap -> persistent. The world is only stopped
 *                 with the gc lock held, and while it is stopped the
 *                 collector takes no allocator lock (a stopped thread may
 *                 hold one): work buffers and tables come from mmap.
 *
 * Where we differ from Go
 * -----------------------
 *  - Roots are conservative; heap objects are conservative or typed.
 *  - No compiler write barrier: written pages (mdirty.h) stand in for it,
 *    so a pointer store costs nothing, but mark termination rescans the
 *    marked objects on every page written since the last round.
 *  - Marking is object at a time (Go 1.26 marks small objects a span at
 *    a time: tried here and 3x slower on binary-trees, see the issue).
 *  - Threads that never called gm_new* are not stopped and their stacks
 *    are not roots unless they register (gm_register_thread); with the
 *    preloaded library every pthread_create'd thread is registered.
 *  - gm_free frees a collected object early (Boehm's GC_FREE).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mdirty.h"
#include "mgc.h"

gm_gcstate gm__gc;
gm_mutex gm__gc_lock = GM_MUTEX_INIT;
bool gm__track_arenas;
/* Held through each cycle, concurrent or not, by whoever runs it (the
 * background collector, gm_gc, an allocating thread in stw mode), and by
 * fork: a cycle is never half done in a child. Taken before the gc lock. */
static gm_mutex cycle_lock = GM_MUTEX_INIT;

#define MIB ((uint64_t)1 << 20)

uint64_t gm__nanotime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t unixnano(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Read once, as Go reads ncpu at start: sysconf reads sysfs on every call,
 * and MemStats (gc_cpu_fraction) must not read files. */
unsigned gm__nprocs(void) {
    static unsigned n;
    unsigned v = GM_LOAD(&n);
    if (!v) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        v = c < 1 ? 1 : (unsigned)c;
        GM_STORE(&n, v);
    }
    return v;
}

/* ---- the pacer ------------------------------------------------------------- */

/* Memory mapped for anything but collected objects and free pages: what
 * the memory limit must leave room for (Go's mappedReady - heapFree -
 * heapAlloc, with malloc'd memory on the overhead side). */
static uint64_t non_gc_overhead(void) {
    gm__lock(&gm__heap_lock);
    gm_heapstats h = gm__heapstats;
    gm__unlock(&gm__heap_lock);
    uint64_t mapped = h.heap_sys - h.heap_released + GM_LOAD(&gm__heapstats.mspan_sys) +
                      GM_LOAD(&gm__heapstats.mcache_sys) + GM_LOAD(&gm__heapstats.gc_sys) +
                      GM_LOAD(&gm__heapstats.other_sys);
    uint64_t used = h.heap_free_dirty + GM_LOAD(&gm__gc.heap_live);
    return mapped > used ? mapped - used : 0;
}

/* Go's concurrent trigger (the 1.18 pacer): early enough that, at the
 * background markers' share of the CPUs and with no assists, marking the
 * expected scan work ends at the goal while the program allocates at the
 * pace of the last four marks (their largest cons/mark, as Go takes);
 * between 70% and 95% of the way from the live heap to the goal, as Go
 * bounds it. */
static uint64_t concurrent_trigger(uint64_t goal) {
    uint64_t marked = gm__gc.heap_marked;
    if (goal == UINT64_MAX || goal <= marked) return goal;
    double cm = 0;
    for (int i = 0; i < 4; i++)
        if (gm__gc.cons_mark[i] > cm) cm = gm__gc.cons_mark[i];
    double u = gm__gc_bg_utilization();
    double scan = (double)(marked + gm__gc.stacks_bytes + gm__gc.globals_bytes);
    double runway = cm * (1 - u) / u * scan;
    uint64_t span = goal - marked;
    uint64_t lo = marked + span / 10 * 7, hi = marked + span / 20 * 19;
    uint64_t t = runway < (double)goal ? goal - (uint64_t)runway : 0;
    return t < lo ? lo : t > hi ? hi : t;
}

/* Goal and trigger from heap_marked and the settings. gc lock. */
static void pacer_update(void) {
    uint64_t marked = gm__gc.heap_marked, goal = UINT64_MAX;
    int pct = gm__gc.gc_percent;
    if (pct >= 0) {
        uint64_t scan = marked + gm__gc.stacks_bytes + gm__gc.globals_bytes;
        goal = marked + scan / 100 * (uint64_t)pct + scan % 100 * (uint64_t)pct / 100;
        uint64_t min = 4 * MIB * (uint64_t)pct / 100;
        if (goal < min) goal = min;
    }
    if (gm__gc.memory_limit != INT64_MAX) {
        uint64_t limit = (uint64_t)gm__gc.memory_limit;
        uint64_t headroom = limit / 100 * 3 > MIB ? limit / 100 * 3 : MIB;
        uint64_t taken = non_gc_overhead() + headroom;
        uint64_t lgoal = limit > taken ? limit - taken : 0;
        uint64_t floor = marked + marked / 16 + MIB;
        if (lgoal < floor) lgoal = floor;
        if (lgoal < goal) goal = lgoal;
    }
    GM_STORE(&gm__gc.heap_goal, goal);
    GM_STORE(&gm__gc.trigger, GM_LOAD(&gm__gc.concurrent) ? concurrent_trigger(goal) : goal);
}

int gm_set_gc_percent(int percent) {
    gm__ensure_init();
    gm__gc_lock_acquire(true);
    int old = gm__gc.gc_percent;
    gm__gc.gc_percent = percent < 0 ? -1 : percent;
    pacer_update();
    gm__unlock(&gm__gc_lock);
    return old;
}

int64_t gm_set_memory_limit(int64_t limit) {
    gm__ensure_init();
    gm__gc_lock_acquire(true);
    int64_t old = gm__gc.memory_limit;
    if (limit >= 0) {
        gm__gc.memory_limit = limit;
        pacer_update();
    }
    gm__unlock(&gm__gc_lock);
    return old;
}

/* The settings from the environment, and the lists; from gm__init_slow. */
void gm__gc_init(void) {
    gm__newobject_init();
    gm__gc.gc_percent = gm__opts.gc_percent;
    gm__gc.memory_limit = gm__opts.memory_limit;
    gm__gc.start_ns = gm__nanotime();
    pacer_update();
}

/* Track an arena's writes; heap lock held (see mheap_grow). A registered
 * thread must not be stopped inside the dirty module's lock, which mark
 * termination takes with the world stopped. */
void gm__gc_track_arena(uintptr_t base) {
    gm_gthread *t = gm__tls_gthread;
    if (t) gm__nosuspend_begin(t);
    if (!gm__dirty_track((void *)base, GM_ARENA_BYTES)) GM_STORE(&gm__gc.dirty_lost, 1);
    if (t) gm__nosuspend_end(t);
}

/* GOMALLOC_GCMODE=concurrent needs a dirty-page mechanism; mprotect only
 * when asked for by name: the read family is wrapped (override_syscalls.c),
 * but any other system call writing into the heap would fail with EFAULT. */
static void choose_mode(void) {
    if (!gm__opts.gc_concurrent) return;
    gm_dirty_mode want = (gm_dirty_mode)gm__opts.dirty;
    gm_dirty_mode m = gm__dirty_init(want ? want : GM_DIRTY_UFFD);
    if (!want && m == GM_DIRTY_NONE) m = gm__dirty_init(GM_DIRTY_SOFTDIRTY);
    if (m == GM_DIRTY_NONE) return;
    gm__lock(&gm__heap_lock);
    GM_STORE(&gm__track_arenas, true);
    for (gm_heap_arena *ha = gm__arena_first; ha; ha = ha->next) gm__gc_track_arena(ha->base);
    gm__unlock(&gm__heap_lock);
    GM_STORE(&gm__gc.concurrent, true);
}

void gm__gc_enable(void) {
    gm__ensure_init();
    if (GM_LOAD_ACQ(&gm__gc.enabled)) return;
    gm__gc_lock_acquire(true);
    if (!GM_LOAD(&gm__gc.enabled)) {
        gm__stw_install();
        choose_mode();
        pacer_update();
        GM_STORE_REL(&gm__gc.enabled, true);
    }
    gm__unlock(&gm__gc_lock);
}

static const char *gc_mode_name(void) {
    if (!GM_LOAD_ACQ(&gm__gc.enabled)) return "off";
    if (!GM_LOAD(&gm__gc.concurrent)) return "stw";
    switch (gm__dirty_mode()) {
    case GM_DIRTY_UFFD: return "concurrent/uffd";
    case GM_DIRTY_SOFTDIRTY: return "concurrent/softdirty";
    case GM_DIRTY_MPROTECT: return "concurrent/mprotect";
    default: return "stw";
    }
}

/* ---- statistics and the trace ------------------------------------------------- */

typedef struct cycle_times {
    uint64_t t0, t1, t2, t3;      /* start, world stopped, mark done, world restarted */
    uint64_t pause1, pause2;      /* the two pauses of a concurrent cycle (0, t3-t1 for stw) */
    uint64_t cpu_sweepterm, cpu_mark, cpu_markterm, cpu_assist;
    uint64_t heap0, heap1;        /* heap_live at the start and at mark end */
    uint64_t goal;                /* the goal this cycle ran against */
    bool forced;
} cycle_times;

/* Go's fmtNSAsMS: whole ms from 10 ms on, else about 3 significant digits. */
static void fmt_ms(char *buf, size_t cap, uint64_t ns) {
    if (ns >= 10000000u) {
        snprintf(buf, cap, "%llu", (unsigned long long)(ns / 1000000u));
        return;
    }
    uint64_t x = ns / 1000;
    int dec = 3;
    while (x >= 100) {
        x /= 10;
        dec--;
    }
    uint64_t div = 1;
    for (int i = 0; i < dec; i++) div *= 10;
    if (x == 0) snprintf(buf, cap, "0");
    else if (dec == 0) snprintf(buf, cap, "%llu", (unsigned long long)x);
    else snprintf(buf, cap, "%llu.%0*llu", (unsigned long long)(x / div), dec,
                  (unsigned long long)(x % div));
}

static void gctrace(const cycle_times *ct, const gm_markstats *ms) {
    char a[24], b[24], c[24], d[24], e[24], f[24], g[24], h[24];
    if (gm__gc.cycle == 1) { /* once, before the first cycle's line */
        char mode[80];
        int k = snprintf(mode, sizeof mode, "gomalloc: gc mode %s, %s marking\n", gc_mode_name(),
                         gm__opts.gc_spanmark ? "span" : "object");
        if (k > 0) gm__sys_write_err(mode, (size_t)k);
    }
    unsigned p = gm__nprocs();
    fmt_ms(a, sizeof a, ct->t1 - ct->t0);
    fmt_ms(b, sizeof b, ct->t2 - ct->t1);
    fmt_ms(c, sizeof c, ct->t3 - ct->t2);
    fmt_ms(d, sizeof d, ct->cpu_sweepterm);
    fmt_ms(e, sizeof e, ct->cpu_assist);
    fmt_ms(f, sizeof f, ct->cpu_mark);
    fmt_ms(g, sizeof g, 0); /* idle workers: none */
    fmt_ms(h, sizeof h, ct->cpu_markterm);
    double elapsed = (double)(ct->t3 - gm__gc.start_ns);
    unsigned pct = elapsed > 0 ? (unsigned)(100.0 * (double)gm__gc.gc_cpu_ns / (elapsed * p)) : 0;
    char line[320];
    int n = snprintf(line, sizeof line,
                     "gc %u @%.3fs %u%%: %s+%s+%s ms clock, %s+%s/%s/%s+%s ms cpu, "
                     "%llu->%llu->%llu MB, %llu MB goal, %llu MB stacks, %llu MB globals, "
                     "%u P%s\n",
                     gm__gc.cycle, (double)(ct->t0 - gm__gc.start_ns) / 1e9, pct > 100 ? 100 : pct,
                     a, b, c, d, e, f, g, h, (unsigned long long)(ct->heap0 >> 20),
                     (unsigned long long)(ct->heap1 >> 20),
                     (unsigned long long)(ms->marked_bytes >> 20),
                     (unsigned long long)(ct->goal == UINT64_MAX ? 0 : ct->goal >> 20),
                     (unsigned long long)(ms->stacks_bytes >> 20),
                     (unsigned long long)(ms->globals_bytes >> 20), p,
                     ct->forced ? " (forced)" : "");
    if (n > 0) gm__sys_write_err(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    if (gm__opts.gctrace < 2 || !ct->pause1) return;
    /* gctrace=2: what the concurrent phases did (ours). */
    n = snprintf(line, sizeof line,
                 "gomalloc: gc %u: %u rounds, %llu written pages rescanned (%llu at mark "
                 "termination), %llu MB allocated black, %llu ms assists\n",
                 gm__gc.cycle, ms->rounds, (unsigned long long)ms->dirty_pages,
                 (unsigned long long)ms->term_pages, (unsigned long long)(ms->black_bytes >> 20),
                 (unsigned long long)(ms->cpu_ns_assist / 1000000));
    if (n > 0) gm__sys_write_err(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* gc lock. */
static void record_cycle(const cycle_times *ct) {
    /* Go's PauseNs holds a cycle's total; the histogram each pause. */
    uint64_t pause = ct->pause1 + ct->pause2, end = unixnano();
    uint32_t i = gm__gc.cycle % 256;
    gm__gc.pause_ns[i] = pause;
    gm__gc.pause_end[i] = end;
    gm__gc.pause_total_ns += pause;
    if (ct->pause1) gm__metrics_record_pause(ct->pause1);
    gm__metrics_record_pause(ct->pause2);
    gm__gc.last_gc = end;
    gm__gc.gc_cpu_ns += ct->cpu_sweepterm + ct->cpu_mark + ct->cpu_markterm + ct->cpu_assist;
    if (ct->forced) gm__gc.num_forced_gc++;
    GM_STORE_REL(&gm__gc.cycle, gm__gc.cycle + 1);
    gm__futex_wake(&gm__gc.cycle); /* threads in wait_for_cycle */
}

/* ---- the cycle --------------------------------------------------------------- */

static gm_gc_hook hook;  /* gc lock */
static void *hook_arg;

void gm_set_gc_hook(gm_gc_hook fn, void *arg) {
    gm__ensure_init();
    gm__gc_lock_acquire(true);
    hook = fn;
    hook_arg = arg;
    gm__unlock(&gm__gc_lock);
}

static void call_hook(int phase) {
    if (hook) hook(phase, hook_arg);
}

/* Mark termination's bookkeeping, shared by both kinds of cycle: world
 * stopped, gc lock held. */
static void mark_done(gm_markstats *ms) {
    gm__final_queue_unreachable(ms);
    gm__sweep_flip();
    gm__gc.heap_marked = ms->marked_bytes; /* allocated black included, as Go's */
    GM_STORE(&gm__gc.heap_live, ms->marked_bytes);
    gm__gc.stacks_bytes = ms->stacks_bytes;
    gm__gc.globals_bytes = ms->globals_bytes;
}

static void cycle_end(cycle_times *ct, gm_markstats *ms) {
    pacer_update();
    record_cycle(ct);
    if (gm__opts.gctrace > 0) gctrace(ct, ms);
    call_hook(GM_GC_PHASE_MARK_DONE);
    gm__sweeper_wake();
    gm__final_wake();
}

/* One full cycle; gc lock held. */
static void gc_cycle(bool forced) {
    cycle_times ct = {.forced = forced};
    unsigned p = gm__nprocs();
    ct.t0 = gm__nanotime();
    gm__sweep_finish();                                  /* 1. sweep termination */
    ct.heap0 = GM_LOAD(&gm__gc.heap_live);
    ct.goal = gm__gc.heap_goal;
    gm_markstats ms;
    memset(&ms, 0, sizeof ms);
    ct.t1 = gm__nanotime();
    uint64_t c1 = thread_cpu();
    gm__gc_mark(&ms);                                    /* 2, 3. stop the world, mark */
    ct.t2 = gm__nanotime();
    ct.cpu_mark = thread_cpu() - c1 + ms.cpu_ns_workers;
    ct.heap1 = GM_LOAD(&gm__gc.heap_live);
    mark_done(&ms);                                      /* 4. mark termination */
    gm__start_the_world();
    ct.t3 = gm__nanotime();
    ct.pause2 = ct.t3 - ct.t1;
    ct.cpu_sweepterm = (ct.t1 - ct.t0) * p;
    ct.cpu_markterm = (ct.t3 - ct.t2) * p;
    cycle_end(&ct, &ms);                                 /* 5. sweep, finalizers */
}

/* Go's currentConsMark: bytes allocated during the mark per byte scanned,
 * scaled by the CPU share the collector (markers and assists) took over
 * the share the program kept. */
static void cons_mark_update(const cycle_times *ct, const gm_markstats *ms, unsigned p) {
    uint64_t wall = ct->t2 - ct->t1;
    uint64_t scanned = ms->marked_bytes > ms->black_bytes ? ms->marked_bytes - ms->black_bytes : 0;
    if (wall == 0 || scanned == 0) return;
    double u = (double)(ct->cpu_mark + ct->cpu_assist) / ((double)wall * p);
    if (u > 0.95) u = 0.95;
    double alloc = ct->heap1 > ct->heap0 ? (double)(ct->heap1 - ct->heap0) : 0;
    memmove(&gm__gc.cons_mark[1], &gm__gc.cons_mark[0], 3 * sizeof gm__gc.cons_mark[0]);
    gm__gc.cons_mark[0] = alloc * u / ((double)scanned * (1 - u));
}

/* One concurrent cycle (Go's phases): sweep termination and the start of
 * marking in a short pause, marking while the program runs, mark
 * termination in a second pause, then sweeping in the background. Cycle
 * lock held; returns with the gc lock held as well. */
static void concurrent_cycle(bool forced) {
    cycle_times ct = {.forced = forced};
    gm_markstats ms;
    memset(&ms, 0, sizeof ms);
    unsigned p = gm__nprocs();
    gm__sweep_finish_yielding();
    ct.heap0 = GM_LOAD(&gm__gc.heap_live);
    ct.goal = gm__gc.heap_goal;
    uint64_t runway = ct.goal > ct.heap0 ? ct.goal - ct.heap0 : 0;
    gm__gc_mark_begin(&ms, gm__gc.heap_marked + gm__gc.stacks_bytes + gm__gc.globals_bytes,
                      runway);
    gm__unlock(&gm__gc_lock);
    /* gctrace's clock: a, b, c = the first pause, marking, the second. */
    ct.t0 = ms.stop_ns;
    ct.t1 = ms.stop_ns + ms.pause_ns;
    ct.pause1 = ms.pause_ns;
    gm__gc_mark_background(&ms);
    gm__gc_lock_acquire(false);
    gm__gc_mark_end(&ms);
    ct.t2 = ms.stop_ns;
    ct.heap1 = GM_LOAD(&gm__gc.heap_live);
    mark_done(&ms);
    gm__start_the_world();
    ct.t3 = gm__nanotime();
    ct.pause2 = ct.t3 - ct.t2;
    gm__gc_free_deferred();
    if (GM_LOAD(&gm__gc.dirty_lost)) GM_STORE(&gm__gc.concurrent, false);
    ct.cpu_sweepterm = ct.pause1 * p;
    ct.cpu_mark = ms.cpu_ns_bg + ms.cpu_ns_workers;
    ct.cpu_assist = ms.cpu_ns_assist;
    ct.cpu_markterm = ct.pause2 * p;
    cons_mark_update(&ct, &ms, p);
    cycle_end(&ct, &ms);
}

/* The cycle lock, for a registered thread as a sleep that counts as
 * stopped (a cycle in progress must not wait for it). */
static void cycle_lock_acquire(void) {
    int expected = 0;
    if (__atomic_compare_exchange_n(&cycle_lock.state, &expected, 1, false, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED))
        return;
    gm__blocking_begin();
    gm__lock_park(&cycle_lock);
    gm__blocking_end();
}

/* The background collector (Go's gcBgMarkWorker and the goroutine that
 * runs gcStart, in one thread): woken when the heap reaches the trigger. */
static uint32_t bg_request; /* futex word: bumped to ask for a cycle */
static uint32_t bg_started; /* 0, 1 (started) */

static void *bg_main(void *arg) {
    uint32_t seen = (uint32_t)(uintptr_t)arg;
    for (;;) {
        while (GM_LOAD_ACQ(&bg_request) == seen) gm__futex_wait(&bg_request, seen, 0);
        seen = GM_LOAD_ACQ(&bg_request);
        gm__lock_park(&cycle_lock);
        if (GM_LOAD(&gm__gc.concurrent) && GM_LOAD(&gm__gc.heap_live) >= GM_LOAD(&gm__gc.trigger)) {
            concurrent_cycle(false);
            call_hook(GM_GC_PHASE_CYCLE_DONE);
            gm__unlock(&gm__gc_lock);
        }
        gm__unlock(&cycle_lock);
    }
    return NULL;
}

static void bg_wake(void) {
    uint32_t zero = 0;
    if (!GM_LOAD(&bg_started) &&
        __atomic_compare_exchange_n(&bg_started, &zero, 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED) &&
        !gm__start_helper(bg_main, (void *)(uintptr_t)GM_LOAD(&bg_request)))
        gm__fatal("cannot start the background collector thread", NULL);
    __atomic_add_fetch(&bg_request, 1, __ATOMIC_RELEASE);
    gm__futex_wake(&bg_request);
}

int gm_kernel_write_begin(const void *p, size_t n) {
    if (gm__dirty_pin(p, n)) return 0;
    errno = EAGAIN;
    return -1;
}
void gm_kernel_write_end(const void *p, size_t n) { gm__dirty_unpin(p, n); }

void gm_gc(void) {
    gm__gc_enable();
    if (!gm__gthread_get()) return; /* out of memory for a thread record */
    cycle_lock_acquire();
    GM_SAVE_SELF_HERE();
    if (GM_LOAD(&gm__gc.concurrent)) {
        concurrent_cycle(true);
    } else {
        gm__gc_lock_acquire(false);
        gc_cycle(true);
    }
    gm__sweep_finish(); /* runtime.GC returns after the sweep, too */
    call_hook(GM_GC_PHASE_CYCLE_DONE);
    gm__unlock(&gm__gc_lock);
    gm__unlock(&cycle_lock);
}

/* Past the goal before the collector thread started marking, or half
 * past it with marking under way (assists could not keep up; no slack
 * under GOMEMLIMIT): sleep until the cycle ends, so the heap overshoots
 * its goal by a bounded amount. */
static void wait_for_cycle(uint32_t cycle) {
    gm__blocking_begin();
    uint32_t c;
    while ((c = GM_LOAD_ACQ(&gm__gc.cycle)) == cycle) gm__futex_wait(&gm__gc.cycle, c, 0);
    gm__blocking_end();
}

void gm__gc_maybe_start(void) {
    if (GM_LOAD(&gm__gc.concurrent)) {
        uint32_t cycle = GM_LOAD_ACQ(&gm__gc.cycle);
        uint64_t live = GM_LOAD(&gm__gc.heap_live), goal = GM_LOAD(&gm__gc.heap_goal);
        bool marking = GM_LOAD(&gm__gc.marking);
        if (!marking) bg_wake();
        /* Under a memory limit, no slack while marking either. */
        uint64_t cap = marking && GM_LOAD(&gm__gc.memory_limit) == INT64_MAX ? goal / 2 * 3 : goal;
        if (live > cap && gm__tls_gthread) wait_for_cycle(cycle);
        return;
    }
    cycle_lock_acquire();
    GM_SAVE_SELF_HERE();
    gm__gc_lock_acquire(false);
    /* Another thread may have run the cycle while we waited. */
    if (GM_LOAD(&gm__gc.heap_live) >= GM_LOAD(&gm__gc.trigger)) {
        gc_cycle(false);
        call_hook(GM_GC_PHASE_CYCLE_DONE);
    }
    gm__unlock(&gm__gc_lock);
    gm__unlock(&cycle_lock);
}

/* A full stop-the-world collection in either mode: quickest to free all. */
void gm__gc_oom(void) {
    cycle_lock_acquire();
    GM_SAVE_SELF_HERE();
    gm__gc_lock_acquire(false);
    gc_cycle(false);
    gm__sweep_finish();
    gm__unlock(&gm__gc_lock);
    gm__unlock(&cycle_lock);
    gm_release_memory();
}

/* ---- helper threads ------------------------------------------------------------ */

/* Every signal blocked: the stop signal must never land in a marker,
 * the sweeper or the finalizer thread (the latter unblocks it when a
 * finalizer allocates and so registers it). */
bool gm__start_helper(void *(*fn)(void *), void *arg) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int err = gm__sys_pthread_create(&th, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err == 0;
}

/* ---- fork ----------------------------------------------------------------------- */

/* Before the allocator's own locks (fork.c): no cycle is running, the
 * thread list is stable. */
void gm__gc_fork_prepare(void) {
    cycle_lock_acquire(); /* a concurrent cycle ends first */
    gm__gc_lock_acquire(true);
    gm__lock(&gm__threads_lock);
}

void gm__gc_fork_parent(void) {
    gm__unlock(&gm__threads_lock);
    gm__unlock(&gm__gc_lock);
    gm__unlock(&cycle_lock);
}

/* Only the forking thread exists in the child: forget the others, and
 * the helper threads, which are started again when needed. */
void gm__gc_fork_child(void) {
    gm__lock_reinit(&cycle_lock);
    gm__lock_reinit(&gm__threads_lock);
    gm__lock_reinit(&gm__gc_lock);
    /* The child does not track written pages (mdirty.h): it marks with
     * the world stopped, and its collector thread is gone. */
    GM_STORE(&gm__gc.concurrent, false);
    GM_STORE(&gm__track_arenas, false);
    bg_started = 0;
    gm__lock(&gm__gc_lock);
    gm__lock(&gm__threads_lock);
    gm__stw_fork_child();
    gm__unlock(&gm__threads_lock);
    gm__gc_markers_fork_child();
    gm__sweeper_fork_child();
    gm__final_fork_child();
    gm__unlock(&gm__gc_lock);
}

/* ---- MemStats ------------------------------------------------------------------- */

void gm__gc_read_memstats(gm_memstats *m) {
    gm__gc_lock_acquire(true);
    uint64_t nmalloc[GM_GC_NUM_CLASSES];
    memcpy(nmalloc, gm__gc.nmalloc, sizeof nmalloc);
    uint64_t tiny = gm__gc.tiny_allocs;
    gm__gthread_count_cached(nmalloc, &tiny);
    /* Go counts every tiny object as a malloc, and as freed at once: its
     * block is what stays counted in the heap. */
    m->mallocs += tiny;
    m->frees += tiny;
    for (int gcs = 0; gcs < GM_GC_NUM_CLASSES; gcs++) {
        int cls = gcs % GM_NUM_CLASSES;
        if (cls == 0) continue;
        uint64_t size = gm__class_to_size[cls], freed = gm__gc.nfree[gcs];
        gm_memstats_by_size *b = &m->by_size[cls];
        b->mallocs += nmalloc[gcs];
        b->frees += freed;
        b->refills += gm__gc.nrefill[gcs];
        m->mallocs += nmalloc[gcs];
        m->frees += freed;
        m->total_alloc += nmalloc[gcs] * size;
        m->heap_alloc += (nmalloc[gcs] - freed) * size;
    }
    m->next_gc = gm__gc.heap_goal == UINT64_MAX ? 0 : gm__gc.heap_goal;
    m->last_gc = gm__gc.last_gc;
    m->pause_total_ns = gm__gc.pause_total_ns;
    memcpy(m->pause_ns, gm__gc.pause_ns, sizeof m->pause_ns);
    memcpy(m->pause_end, gm__gc.pause_end, sizeof m->pause_end);
    m->num_gc = gm__gc.cycle;
    m->num_forced_gc = gm__gc.num_forced_gc;
    double elapsed = (double)(gm__nanotime() - gm__gc.start_ns) * gm__nprocs();
    m->gc_cpu_fraction = elapsed > 0 ? (double)gm__gc.gc_cpu_ns / elapsed : 0;
    m->gc_mode = gc_mode_name();
    gm__unlock(&gm__gc_lock);
}
