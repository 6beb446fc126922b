/*
 * The collector's roots (Go's markroot jobs, for a C program): every
 * registered thread's stack from its saved stack pointer, its saved
 * registers and signal stack, the writable segments of the program and
 * of every loaded library (read at each stop, under the loader's lock),
 * less gomalloc's own tables, and the finalizer roots (mfinal.c). All of
 * it is scanned conservatively, by the callback mgcmark.c passes.
 */
#include <link.h>
#include <string.h>

#include "mdirty.h"
#include "mgc.h"

typedef struct segment { uintptr_t lo, hi; } segment;
static segment *segs;       /* writable segments of loaded objects; gc lock */
static size_t nsegs, capsegs;

void *gm__grow_table(void *old, size_t used, size_t *cap, size_t elem, size_t first,
                     const char *what) {
    size_t ncap = *cap ? *cap * 2 : first;
    char *n = gm__sys_alloc(ncap * elem);
    if (!n) gm__fatal(what, NULL);
    if (old) {
        memcpy(n, old, used * elem);
        gm__sys_free(old, *cap * elem);
    }
    *cap = ncap;
    return n;
}

static void add_segment(uintptr_t lo, uintptr_t hi) {
    if (nsegs == capsegs)
        segs = gm__grow_table(segs, nsegs, &capsegs, sizeof *segs, 64,
                              "out of memory for root segments");
    segs[nsegs++] = (segment){lo, hi};
}

/* gomalloc's own globals are not roots: the arena index (32 MiB of bss),
 * the heap addresses in gm__heap_bounds and the dirty-page module's
 * tables of heap ranges and pages. */
static void add_segment_excluding(uintptr_t lo, uintptr_t hi, int k) {
    struct { const void *lo, *hi; } ours[] = {
        {&gm__arenas[0], &gm__arenas[GM_ARENA_L1_ENTRIES]},
        {&gm__heap_bounds, &gm__heap_bounds + 1},
        {NULL, NULL},
    };
    gm__dirty_state(&ours[2].lo, &ours[2].hi);
    if (hi <= lo) return;
    if (k == (int)(sizeof ours / sizeof ours[0])) {
        add_segment(lo, hi);
        return;
    }
    uintptr_t xlo = (uintptr_t)ours[k].lo, xhi = (uintptr_t)ours[k].hi;
    if (hi <= xlo || lo >= xhi) {
        add_segment_excluding(lo, hi, k + 1);
        return;
    }
    if (lo < xlo) add_segment_excluding(lo, xlo, k + 1);
    if (hi > xhi) add_segment_excluding(xhi, hi, k + 1);
}

static int phdr_segments(struct dl_phdr_info *info, size_t size, void *ctx) {
    (void)size;
    (void)ctx;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        add_segment_excluding(lo, lo + ph->p_memsz, 0);
    }
    return 0;
}

void gm__roots_read_segments(void) {
    nsegs = 0;
    dl_iterate_phdr(phdr_segments, NULL);
}

void gm__roots_scan(void (*scan)(uintptr_t lo, uintptr_t hi, void *ctx), void *ctx,
                    gm_markstats *ms) {
    gm_gthread *self = gm__tls_gthread;
    ms->stacks_bytes = ms->globals_bytes = 0; /* the pacer's: the last scan's */
    for (gm_gthread *t = gm__threads; t; t = t->next) {
        uintptr_t lo = t->sp < t->stack_lo ? t->stack_lo : t->sp;
        if (lo < t->stack_hi) {
            scan(lo, t->stack_hi, ctx);
            ms->stacks_bytes += t->stack_hi - lo;
        }
        scan((uintptr_t)t->regs, (uintptr_t)(t->regs + 18), ctx);
        if (t != self && t->altstack_hi > t->altstack_lo)
            scan(t->altstack_lo, t->altstack_hi, ctx);
    }
    for (size_t i = 0; i < nsegs; i++) {
        scan(segs[i].lo, segs[i].hi, ctx);
        ms->globals_bytes += segs[i].hi - segs[i].lo;
    }
    gm__final_mark_roots(scan, ctx);
}
