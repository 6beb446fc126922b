/*
 * Foreign pointers: addresses outside every gomalloc arena given to free or
 * realloc. Inside the arenas the span and bitmaps judge a pointer exactly
 * (malloc.c); outside them we know nothing of the block, so we ask the
 * kernel what the address is (/proc/self/maps, only on this rare path):
 *
 *  - misaligned, inside a loaded program or library other than the dynamic
 *    loader (a global, a string literal: dl_iterate_phdr), not mapped (or
 *    /proc unreadable: we cannot tell), on the main thread's stack or the
 *    calling thread's, in another mapped file, or read-only: it cannot be a
 *    heap block of any allocator, so it is heap misuse and fatal, as inside
 *    the heap;
 *  - writable anonymous memory (another allocator's heap, mmap) or the
 *    dynamic loader's data (ld.so allocates from it before a preloaded
 *    allocator takes over): the block of another allocator. free keeps it
 *    (it is never handed to glibc's free, which may not own it either) and
 *    counts it in gm__foreign_frees; realloc copies it into a new gomalloc
 *    block and keeps the old one the same way.
 *
 * realloc cannot know the old block's size, so it copies the new size, or
 * up to the end of the mapping if that comes first: the bytes past the old
 * block are readable, and C leaves their copies unspecified anyway.
 */
#include "internal.h"

uint64_t gm__foreign_frees;

/* The mapping of a foreign block, or a fatal error if p cannot be one. */
static gm_mapping foreign_block(const void *p, const char *what) {
    if ((uintptr_t)p % sizeof(void *) != 0 || gm__sys_in_loaded_image((uintptr_t)p))
        gm__fatal(what, p);
    gm_mapping m = gm__sys_mapping((uintptr_t)p);
    if (m.kind != GM_MAP_ANON || !m.writable) gm__fatal(what, p);
    return m;
}

void gm__foreign_free(void *p) {
    foreign_block(p, "free of pointer not allocated by gomalloc");
    GM_ADD(&gm__foreign_frees, 1);
}

/* Copies bytes past the old block on purpose (see above), which a
 * sanitizer would report: uninstrumented, and volatile so that the loop is
 * not turned into a (intercepted) memcpy call. Rare path; speed is moot. */
#if defined(__SANITIZE_ADDRESS__)
#define GM_NO_ASAN __attribute__((no_sanitize("address")))
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GM_NO_ASAN __attribute__((no_sanitize("address")))
#endif
#endif
#ifndef GM_NO_ASAN
#define GM_NO_ASAN
#endif
static GM_NO_ASAN void copy_unchecked(void *dst, const void *src, size_t n) {
    const volatile unsigned char *s = src;
    unsigned char *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = s[i];
}

void *gm__foreign_realloc(void *p, size_t size) {
    gm_mapping m = foreign_block(p, "realloc of pointer not allocated by gomalloc");
    void *q = gm__mallocgc(size, true, false);
    if (!q) return NULL;
    size_t n = size;
    if (m.end - (uintptr_t)p < n) n = m.end - (uintptr_t)p;
    copy_unchecked(q, p, n);
    GM_ADD(&gm__foreign_frees, 1);
    return q;
}
