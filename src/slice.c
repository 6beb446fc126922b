/*
 * slice: Go's slices (runtime/slice.go) over collected memory. See the top
 * of malloc.c for size classes and mgc.c for the collector; the API and its
 * fatal messages are described in include/gomalloc/slice.h.
 *
 * Invariants:
 *  - array is never NULL once made: arrays of 0 bytes all share zerobase,
 *    a static that no one writes (Go's zerobase), so a slice of capacity 0
 *    costs no allocation and is never collected.
 *  - a backing array is one gm_new_array(elem, cap) object, so it is
 *    noscan or typed by the element type, zeroed, and its size class holds
 *    cap elements: the capacity growslice picks comes from roundupsize
 *    with Go's classes, and gm_new_array picks the same class (the 24-byte
 *    one included, for elements aligned to 8 or less).
 *  - an array is never freed here: the old array after a growth may still
 *    be shared by other slices, and the collector knows when it is not.
 *  - a slice of capacity 0 made by s[lo:hi:max] points where s did, never
 *    one past the end of s's array (which would be the next object).
 */
#include <string.h>

#include "internal.h"
#include "gomalloc/slice.h"

/* Go's maxAlloc on linux/amd64: no allocation exceeds the address space. */
#define MAX_ALLOC ((size_t)1 << GM_ADDR_BITS)
/* nextslicecap: below this capacity, double. */
#define GROWTH_THRESHOLD 256

static _Alignas(64) uint64_t zerobase;

/* ---- fatal errors, in Go's words ------------------------------------------ */

typedef struct msgbuf {
    char buf[128];
    size_t n;
} msgbuf;

static void msg_str(msgbuf *m, const char *s) {
    while (*s && m->n < sizeof m->buf - 1) m->buf[m->n++] = *s++;
}

static void msg_uint(msgbuf *m, size_t v) {
    char tmp[24];
    size_t k = 0;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k > 0 && m->n < sizeof m->buf - 1) m->buf[m->n++] = tmp[--k];
}

/* Go's boundsError texts all read "<a><x><b><y><c>". Formatted on the
 * stack: a fatal error must not allocate. */
static _Noreturn void panic_bounds(const char *a, size_t x, const char *b, size_t y,
                                   const char *c) {
    msgbuf m = {.n = 0};
    msg_str(&m, a);
    msg_uint(&m, x);
    msg_str(&m, b);
    msg_uint(&m, y);
    msg_str(&m, c);
    m.buf[m.n] = 0;
    gm__fatal(m.buf, NULL);
}

void gm_panic_index(size_t i, size_t len) {
    panic_bounds("index out of range [", i, "] with length ", len, "");
}

static _Noreturn void panic_growslice(void) { gm__fatal("growslice: len out of range", NULL); }

/* Go throws here too: a container has no error return to report it with. */
static void *check_oom(void *p) {
    if (GM_UNLIKELY(!p)) gm__fatal("runtime: out of memory", NULL);
    return p;
}

/* ---- make ------------------------------------------------------------------ */

/* n elements of size bytes are at most maxAlloc (and n fits Go's int). */
static bool mem_in_range(size_t size, size_t n, size_t *mem) {
    return n <= (size_t)PTRDIFF_MAX && !__builtin_mul_overflow(size, n, mem) &&
           *mem <= MAX_ALLOC;
}

/* Go's makeslice, checks in Go's order: a len that is itself too big is
 * reported as such even when cap is too (make([]T, huge) names len). */
static size_t makeslice(const gm_type *elem, size_t len, size_t cap) {
    size_t mem, lenmem;
    if (GM_UNLIKELY(!mem_in_range(elem->size, cap, &mem) || len > cap)) {
        if (!mem_in_range(elem->size, len, &lenmem))
            gm__fatal("makeslice: len out of range", NULL);
        gm__fatal("makeslice: cap out of range", NULL);
    }
    return mem;
}

gm_slice gm_make_slice(const gm_type *elem, size_t len, size_t cap) {
    size_t mem = makeslice(elem, len, cap);
    void *p = mem == 0 ? (void *)&zerobase : check_oom(gm_new_array(elem, cap));
    return (gm_slice){p, len, cap};
}

/* ---- append ---------------------------------------------------------------- */

/* Go's nextslicecap: double small slices, then ease towards 1.25x. Go's
 * int arithmetic is signed; a capacity above PTRDIFF_MAX is its overflow. */
static size_t nextslicecap(size_t newlen, size_t oldcap) {
    size_t newcap = oldcap, doublecap = oldcap + oldcap;
    if (newlen > doublecap) return newlen;
    if (oldcap < GROWTH_THRESHOLD) return doublecap;
    do
        newcap += (newcap + 3 * GROWTH_THRESHOLD) >> 2;
    while (newcap < newlen && newcap <= (size_t)PTRDIFF_MAX);
    return newcap > (size_t)PTRDIFF_MAX ? newlen : newcap;
}

size_t gm_growslice_cap(size_t oldcap, size_t newlen, const gm_type *elem) {
    if (GM_UNLIKELY(newlen > (size_t)PTRDIFF_MAX)) panic_growslice();
    /* Zero-size elements need no memory, so no room to spare either. */
    if (elem->size == 0) return newlen;
    size_t mem, newcap = nextslicecap(newlen, oldcap);
    if (GM_UNLIKELY(!mem_in_range(elem->size, newcap, &mem))) panic_growslice();
    /* maxAlloc is a whole number of pages, so rounding stays within it. */
    return gm__roundupsize(mem, elem->ptrdata == 0) / elem->size;
}

/* Go's growslice: a new array of the grown capacity holding s's elements
 * (length still s.len: append copies the new ones). */
static gm_slice growslice(gm_slice s, const gm_type *elem, size_t newlen) {
    size_t newcap = gm_growslice_cap(s.cap, newlen, elem);
    if (elem->size == 0) return (gm_slice){(void *)&zerobase, s.len, newcap};
    void *p = check_oom(gm_new_array(elem, newcap));
    if (s.len) memcpy(p, s.array, s.len * elem->size);
    return (gm_slice){p, s.len, newcap};
}

gm_slice gm_append(gm_slice s, const gm_type *elem, const void *vals, size_t n) {
    size_t newlen;
    if (GM_UNLIKELY(__builtin_add_overflow(s.len, n, &newlen))) panic_growslice();
    if (newlen > s.cap) s = growslice(s, elem, newlen);
    /* memmove: in place, vals may be a part of s itself (append(s[:1],
     * s[2:]...)). After a growth they are in the old array, still live. */
    if (n && elem->size) memmove((char *)s.array + s.len * elem->size, vals, n * elem->size);
    s.len = newlen;
    return s;
}

/* ---- copy and slicing ------------------------------------------------------ */

size_t gm_slice_copy(gm_slice dst, gm_slice src, const gm_type *elem) {
    size_t n = dst.len < src.len ? dst.len : src.len;
    if (n && elem->size && dst.array != src.array)
        memmove(dst.array, src.array, n * elem->size);
    return n;
}

/* s[lo:hi:max] once the bounds are checked. */
static gm_slice reslice(gm_slice s, const gm_type *elem, size_t lo, size_t hi, size_t max) {
    char *base = (char *)s.array;
    if (max - lo != 0) base += lo * elem->size;
    return (gm_slice){base, hi - lo, max - lo};
}

gm_slice gm_slice_sub(gm_slice s, const gm_type *elem, size_t lo, size_t hi, size_t max) {
    if (GM_UNLIKELY(max > s.cap))
        panic_bounds("slice bounds out of range [::", max, "] with capacity ", s.cap, "");
    if (GM_UNLIKELY(hi > max)) panic_bounds("slice bounds out of range [:", hi, ":", max, "]");
    if (GM_UNLIKELY(lo > hi)) panic_bounds("slice bounds out of range [", lo, ":", hi, ":]");
    return reslice(s, elem, lo, hi, max);
}

gm_slice gm_slice_sub2(gm_slice s, const gm_type *elem, size_t lo, size_t hi) {
    if (GM_UNLIKELY(hi > s.cap))
        panic_bounds("slice bounds out of range [:", hi, "] with capacity ", s.cap, "");
    if (GM_UNLIKELY(lo > hi)) panic_bounds("slice bounds out of range [", lo, ":", hi, "]");
    return reslice(s, elem, lo, hi, s.cap);
}
