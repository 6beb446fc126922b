/*
 * The C library's allocator interface, exported by libgomalloc.so and
 * libgomalloc.a so that gomalloc replaces the system allocator: through
 * LD_PRELOAD, or by linking with -lgomalloc. Only the product libraries
 * contain this file and new_delete.c; the tests link the core without them
 * and call gm_* (tests/conform checks these symbols under LD_PRELOAD).
 *
 * Semantics follow glibc where C leaves a choice (reference:
 * shared/reference/malloc-conformance.md §5):
 *  - realloc(p, 0) frees p and returns NULL (errno untouched);
 *  - aligned_alloc rejects an alignment that is not a power of two with
 *    EINVAL (glibc >= 2.38; a size that is not a multiple is accepted);
 *    memalign rounds it up to one, as glibc always has;
 *  - mallopt accepts glibc's parameters (returns 1) and ignores them: they
 *    tune glibc's arenas, which gomalloc does not have; unknown ones
 *    return 0;
 *  - malloc_trim returns free pages to the OS (1 if the heap had some).
 *
 * Each function is a tail call into malloc.c; the library is linked with
 * -Bsymbolic-functions, so that call is a direct jump, not a PLT stub.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define GM_EXPORT __attribute__((visibility("default")))

/* Tells stoptheworld.c that pthread_create below is ours. */
const char gm__override_present = 1;

GM_EXPORT void *malloc(size_t n) { return gm_malloc(n); }
GM_EXPORT void free(void *p) { gm_free(p); }
GM_EXPORT void *calloc(size_t n, size_t size) { return gm_calloc(n, size); }
GM_EXPORT void *realloc(void *p, size_t n) { return gm_realloc(p, n); }
GM_EXPORT void *memalign(size_t align, size_t n) { return gm_memalign(align, n); }
GM_EXPORT void *aligned_alloc(size_t align, size_t n) { return gm_aligned_alloc(align, n); }
GM_EXPORT int posix_memalign(void **p, size_t align, size_t n) {
    return gm_posix_memalign(p, align, n);
}
GM_EXPORT size_t malloc_usable_size(void *p) { return gm_usable_size(p); }
GM_EXPORT void cfree(void *p) { gm_free(p); }

GM_EXPORT void *reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return gm_realloc(p, total);
}

static size_t os_page(void) {
    static size_t page;
    if (!page) page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

GM_EXPORT void *valloc(size_t n) { return gm__malloc_aligned(n, os_page()); }

GM_EXPORT void *pvalloc(size_t n) {
    size_t page = os_page(), rounded;
    if (__builtin_add_overflow(n, page - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    rounded &= ~(page - 1);
    return gm__malloc_aligned(rounded ? rounded : page, page);
}

/* C23. free_sized(p, n): n must be the size p was allocated (or last
 * reallocated) with; a size of another size class is fatal. */
GM_EXPORT void free_sized(void *p, size_t n) { gm__free_sized(p, n, 1, false); }
GM_EXPORT void free_aligned_sized(void *p, size_t align, size_t n) {
    gm__free_sized(p, n, align, false);
}

/* glibc's internal names, which some programs and libraries call. */
GM_EXPORT void *__libc_malloc(size_t n) { return gm_malloc(n); }
GM_EXPORT void __libc_free(void *p) { gm_free(p); }
GM_EXPORT void __libc_cfree(void *p) { gm_free(p); }
GM_EXPORT void *__libc_calloc(size_t n, size_t size) { return gm_calloc(n, size); }
GM_EXPORT void *__libc_realloc(void *p, size_t n) { return gm_realloc(p, n); }
GM_EXPORT void *__libc_memalign(size_t align, size_t n) { return gm_memalign(align, n); }
GM_EXPORT void *__libc_valloc(size_t n) { return valloc(n); }
GM_EXPORT void *__libc_pvalloc(size_t n) { return pvalloc(n); }
GM_EXPORT int __posix_memalign(void **p, size_t align, size_t n) {
    return gm_posix_memalign(p, align, n);
}

/* ---- Introspection ------------------------------------------------------ */

GM_EXPORT int malloc_trim(size_t pad) {
    (void)pad;
    gm_memstats before, after;
    gm_read_memstats(&before);
    gm_release_memory();
    gm_read_memstats(&after);
    return after.heap_released > before.heap_released;
}

GM_EXPORT void malloc_stats(void) { gm_write_stats(2); }

/* glibc's fields, filled from MemStats where they mean the same thing. */
GM_EXPORT struct mallinfo2 mallinfo2(void) {
    gm_memstats m;
    gm_read_memstats(&m);
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = m.heap_sys - m.heap_released;       /* heap memory mapped and backed */
    mi.ordblks = 0;                                /* free chunks: no free lists */
    mi.hblks = m.by_size[0].mallocs - m.by_size[0].frees; /* large objects */
    mi.hblkhd = 0;
    mi.uordblks = m.heap_alloc;                    /* bytes in live objects */
    mi.fordblks = mi.arena > m.heap_alloc ? mi.arena - m.heap_alloc : 0;
    mi.keepcost = m.heap_idle - m.heap_released;   /* trimmable */
    return mi;
}

static int clamp_int(size_t v) { return v > (size_t)0x7fffffff ? 0x7fffffff : (int)v; }

GM_EXPORT struct mallinfo mallinfo(void) {
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = clamp_int(m2.arena);
    mi.hblks = clamp_int(m2.hblks);
    mi.uordblks = clamp_int(m2.uordblks);
    mi.fordblks = clamp_int(m2.fordblks);
    mi.keepcost = clamp_int(m2.keepcost);
    return mi;
}

GM_EXPORT int mallopt(int param, int value) {
    (void)value;
    switch (param) {
    case M_MXFAST: case M_TRIM_THRESHOLD: case M_TOP_PAD: case M_MMAP_THRESHOLD:
    case M_MMAP_MAX: case M_CHECK_ACTION: case M_PERTURB: case M_ARENA_TEST:
    case M_ARENA_MAX:
        return 1;
    default:
        return 0;
    }
}

GM_EXPORT int malloc_info(int options, FILE *f) {
    if (options != 0) return EINVAL;
    gm_memstats m;
    gm_read_memstats(&m);
    fprintf(f, "<malloc version=\"gomalloc-" GM_VERSION "\">\n");
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        gm_memstats_by_size *b = &m.by_size[c];
        if (b->mallocs)
            fprintf(f, "  <size class=\"%d\" size=\"%u\" mallocs=\"%llu\" frees=\"%llu\"/>\n",
                    c, b->size, (unsigned long long)b->mallocs, (unsigned long long)b->frees);
    }
    fprintf(f, "  <total type=\"heap_alloc\" size=\"%llu\"/>\n", (unsigned long long)m.heap_alloc);
    fprintf(f, "  <system type=\"current\" size=\"%llu\"/>\n", (unsigned long long)m.heap_sys);
    fprintf(f, "  <system type=\"released\" size=\"%llu\"/>\n",
            (unsigned long long)m.heap_released);
    fprintf(f, "</malloc>\n");
    return 0;
}

/* Every thread of a program that preloads gomalloc is registered with the
 * collector, so collected pointers on its stack are roots (mgc.c). */
GM_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                             void *(*start)(void *), void *arg) {
    return gm_pthread_create(thread, attr, start, arg);
}
