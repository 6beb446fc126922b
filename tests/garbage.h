/* Collected garbage whose addresses are gone, for tests that need a heap
 * with both survivors and dead objects after gm_gc (the heap map and GDB
 * tests). Call make_garbage, then clear_stack, then gm_gc. */
#ifndef GM_TESTS_GARBAGE_H
#define GM_TESTS_GARBAGE_H
#include <string.h>

#include "gomalloc.h"

/* The dropped objects' addresses die with this frame. */
static __attribute__((noinline, unused)) void make_garbage(int n, size_t size) {
    for (int i = 0; i < n; i++) {
        void *volatile p = gm_new(size);
        (void)p;
    }
}

/* Zero the dead stack below the caller: stale addresses there would be
 * roots of a conservative collector. */
static __attribute__((noinline, unused)) void clear_stack(void) {
    char buf[32 << 10];
    memset(buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}
#endif
