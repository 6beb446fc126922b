/*
 * Fixed-size off-heap allocator (Go's mfixalloc.go) and the persistent bump
 * allocator (Go's persistentalloc). See malloc.c for where they are used.
 * Metadata never lives inside the spans it describes: a heap overflow in
 * user memory cannot reach span structs or bitmaps through adjacency.
 */
#include <string.h>

#include "internal.h"

enum { FIX_CHUNK = 16 << 10, PERSISTENT_CHUNK = 256 << 10 };

void gm__fixalloc_init(gm_fixalloc *f, size_t size, uint64_t *sys_stat, bool zero) {
    memset(f, 0, sizeof *f);
    f->size = size < sizeof(void *) ? sizeof(void *) : (size + 7) & ~(size_t)7;
    f->sys = sys_stat;
    f->zero = zero;
}

void *gm__fixalloc_alloc(gm_fixalloc *f) {
    void *p;
    if (f->free_list) {
        p = f->free_list;
        f->free_list = *(void **)p;
        if (f->zero) memset(p, 0, f->size);
    } else {
        if (f->chunk_left < f->size) {
            size_t n = f->size > FIX_CHUNK ? f->size : FIX_CHUNK;
            char *c = gm__persistent_alloc(n, f->sys);
            if (!c) return NULL;
            f->chunk = c;
            f->chunk_left = n;
        }
        p = f->chunk; /* persistent memory is fresh, hence zero */
        f->chunk += f->size;
        f->chunk_left -= f->size;
    }
    f->inuse += f->size;
    return p;
}

void gm__fixalloc_free(gm_fixalloc *f, void *p) {
    f->inuse -= f->size;
    *(void **)p = f->free_list;
    f->free_list = p;
}

gm_mutex gm__persistent_lock = GM_MUTEX_INIT;
static char *persistent_next; /* gm__persistent_lock */
static size_t persistent_left; /* gm__persistent_lock */

void *gm__persistent_alloc(size_t size, uint64_t *sys_stat) {
    size = (size + 63) & ~(size_t)63;
    if (size >= PERSISTENT_CHUNK) {
        void *p = gm__sys_alloc(size);
        if (p && sys_stat) GM_ADD(sys_stat, size);
        return p;
    }
    gm__lock(&gm__persistent_lock);
    if (persistent_left < size) {
        char *c = gm__sys_alloc(PERSISTENT_CHUNK);
        if (!c) {
            gm__unlock(&gm__persistent_lock);
            return NULL;
        }
        persistent_next = c;
        persistent_left = PERSISTENT_CHUNK;
    }
    void *p = persistent_next;
    persistent_next += size;
    persistent_left -= size;
    gm__unlock(&gm__persistent_lock);
    if (sys_stat) GM_ADD(sys_stat, size);
    return p;
}
