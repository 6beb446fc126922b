/*
 * Size-class queries for the public API. The tables themselves are generated
 * into sizeclasses.h by tools/mksizeclasses.c (see malloc.c, "Size classes").
 */
#include <errno.h>

#include "internal.h"

int gm_size_class_of(size_t size, gm_size_class_info *info) {
    if (size > (size_t)PTRDIFF_MAX) {
        errno = ENOMEM;
        return -1;
    }
    if (size == 0) size = 1; /* gm_malloc(0) returns a unique 1-byte object */
    gm_size_class_info r = {0};
    if (size <= GM_MAX_SMALL_SIZE) {
        int c = gm__malloc_size_to_class(size);
        r.size_class = c;
        r.span_class = c << 1 | 1;
        r.size = gm__class_to_size[c];
        r.span_bytes = (size_t)gm__class_to_allocnpages[c] * GM_PAGE_SIZE;
        r.nelems = (unsigned)(r.span_bytes / r.size);
        r.tail_waste = r.span_bytes - r.nelems * r.size;
    } else {
        size_t pages = (size + GM_PAGE_SIZE - 1) / GM_PAGE_SIZE;
        r.span_class = 1;
        r.size = r.span_bytes = pages * GM_PAGE_SIZE;
        r.nelems = 1;
    }
    *info = r;
    return 0;
}
