/*
 * gomalloc/slice.h — Go's slices for C: make, append, copy, s[lo:hi:max]
 * and bounds-checked indexing, over collected memory.
 *
 * A gm_slice is Go's slice header by value: a backing array from gm_new_array
 * (zeroed; noscan when the element type has no pointers, scanned precisely
 * by the type's bitmap otherwise), a length and a capacity. Nothing is ever
 * freed by hand: an array nobody points to any more — the old one after
 * append grew the slice, say — is reclaimed by the collector. The header
 * itself is plain data; keep it where the collector looks (a local, a
 * global, a collected object), as for any other collected pointer.
 *
 * The element's gm_type must outlive every array made with it (a static
 * const, as GM_SLICE_DECL_NOPTRS and GM_SLICE_DECL_POINTER define): a large
 * array keeps a pointer to it for scanning.
 *
 * Capacities are Go's exactly (Go 1.22+ growslice: double below 256
 * elements, then grow by (cap + 768) / 4 until big enough, then round the
 * bytes up to Go's size class — with Go's 8-byte malloc header counted for
 * pointerful arrays above 512 bytes — or to whole 8 KiB pages above 32 KiB).
 *
 * Misuse is fatal, with Go's panic text after gomalloc's prefix:
 *     gomalloc: fatal error: index out of range [5] with length 3
 *     gomalloc: fatal error: slice bounds out of range [::7] with capacity 5
 *     gomalloc: fatal error: makeslice: len out of range
 * Out of memory is fatal too ("runtime: out of memory"), as in Go.
 *
 * Untyped use, with the element's gm_type passed each time:
 *     static const gm_type i64 = GM_TYPE_NOPTRS(int64_t);
 *     gm_slice s = gm_make_slice(&i64, 0, 0);
 *     int64_t v = 42;
 *     s = gm_append(s, &i64, &v, 1);
 *     GM_SLICE_AT(s, int64_t, 0) += 1;
 *
 * Typed use: GM_SLICE_DECL(name, T, type) declares the struct `name`
 * ({T *array; size_t len, cap;}) and static inline functions that pass the
 * `const gm_type *` expression `type` for you; GM_SLICE_DECL_NOPTRS(name, T)
 * and GM_SLICE_DECL_POINTER(name, T) also define that gm_type (name_elem):
 *     GM_SLICE_DECL_NOPTRS(int_slice, int64_t);
 *     GM_SLICE_DECL_POINTER(node_slice, struct node *);
 *     static const gm_type point_type = GM_TYPE(struct point, label);
 *     GM_SLICE_DECL(point_slice, struct point, &point_type);
 *
 *     int_slice s = int_slice_make(0, 10);         make([]int64, 0, 10)
 *     s = int_slice_append(s, 7);                  s = append(s, 7)
 *     s = int_slice_append_n(s, vals, 3);          s = append(s, vals...)
 *     s = int_slice_append_slice(s, t);            s = append(s, t...)
 *     *int_slice_at(s, 0) = 8;                     s[0] = 8
 *     int_slice u = int_slice_sub(s, 1, 2);        s[1:2]
 *     int_slice w = int_slice_sub3(s, 0, 1, 1);    s[0:1:1]
 *     size_t n = int_slice_copy(u, s);             copy(u, s)
 *     gm_slice g = int_slice_untyped(s);           and int_slice_typed(g)
 * T must be assignable (not an array type).
 */
#ifndef GOMALLOC_SLICE_H
#define GOMALLOC_SLICE_H

#include <stddef.h>

#include "../gomalloc.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GM__SLICE_NORETURN __attribute__((noreturn))
#define GM__SLICE_UNUSED __attribute__((unused))
#define GM__SLICE_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define GM__SLICE_NORETURN
#define GM__SLICE_UNUSED
#define GM__SLICE_LIKELY(x) (x)
#endif

/* Go's slice header (runtime.slice). A zeroed header ({0}) is Go's nil
 * slice: every function here takes it (append allocates, copy moves
 * nothing, s[0:0] gives it back). Made slices never have a NULL array: a
 * capacity-0 one points at a static zero-size base instead. */
typedef struct gm_slice {
    void *array;
    size_t len;
    size_t cap;
} gm_slice;

/* make([]T, len, cap) for T = *elem. The array is zeroed; with cap == 0,
 * or a zero-size element, nothing is allocated and array is a static
 * address (Go's zerobase) that is never collected. Fatal, in Go's order:
 * "makeslice: len out of range" when len * elem->size exceeds 2^48 bytes
 * (Go's maxAlloc), else "makeslice: cap out of range" when cap does or
 * len > cap. */
GM_API gm_slice gm_make_slice(const gm_type *elem, size_t len, size_t cap);

/* s = append(s, vals[0..n)...). In place, without allocating, when
 * s.len + n <= s.cap; otherwise one new array of gm_growslice_cap elements
 * receives the old s.len elements and then vals (which may point into s).
 * The old array is left to the collector, so other slices sharing it keep
 * seeing the old contents. Fatal "growslice: len out of range" when the
 * new array would exceed 2^48 bytes. */
GM_API gm_slice gm_append(gm_slice s, const gm_type *elem, const void *vals, size_t n);

/* The capacity append gives when a slice of capacity oldcap must hold
 * newlen (> oldcap) elements: Go's nextslicecap, then roundupsize. */
GM_API size_t gm_growslice_cap(size_t oldcap, size_t newlen, const gm_type *elem);

/* copy(dst, src): moves min(dst.len, src.len) elements (the two may
 * overlap) and returns that count. */
GM_API size_t gm_slice_copy(gm_slice dst, gm_slice src, const gm_type *elem);

/* s[lo:hi:max]: fatal unless lo <= hi <= max <= s.cap, with Go's text for
 * the first bound that fails, checked from the right:
 *     slice bounds out of range [::max] with capacity cap
 *     slice bounds out of range [:hi:max]
 *     slice bounds out of range [lo:hi:]
 * A result of capacity 0 keeps s.array rather than pointing past the end,
 * as Go does, so it never keeps the next object alive. */
GM_API gm_slice gm_slice_sub(gm_slice s, const gm_type *elem, size_t lo, size_t hi, size_t max);

/* s[lo:hi] (max = s.cap), with Go's two-index texts:
 *     slice bounds out of range [:hi] with capacity cap
 *     slice bounds out of range [lo:hi] */
GM_API gm_slice gm_slice_sub2(gm_slice s, const gm_type *elem, size_t lo, size_t hi);

/* Fatal "index out of range [i] with length len". Called by the inline
 * accessors below. */
GM_API GM__SLICE_NORETURN void gm_panic_index(size_t i, size_t len);

/* Address of element i of an array of len elements of size bytes. */
static inline void *gm__slice_index(void *array, size_t len, size_t i, size_t size) {
    if (GM__SLICE_LIKELY(i < len)) return (char *)array + i * size;
    gm_panic_index(i, len);
}

/* s[i] as an lvalue of type T, bounds-checked against s.len. s is
 * evaluated twice: pass a variable. */
#define GM_SLICE_AT(s, T, i) (*(T *)gm__slice_index((s).array, (s).len, (i), sizeof(T)))

#define GM__SLICE_FN static inline GM__SLICE_UNUSED
/* See the top of this file. name_item is T: with it, const name_item * of a
 * pointer T is T *const *, which plain text substitution of T would get
 * wrong. The final typedef makes the macro take a semicolon. */
#define GM_SLICE_DECL(name, T, type)                                                 \
    typedef T name##_item;                                                           \
    typedef struct name {                                                            \
        name##_item *array;                                                          \
        size_t len, cap;                                                             \
    } name;                                                                          \
    GM__SLICE_FN gm_slice name##_untyped(name s) {                                   \
        gm_slice g = {(void *)s.array, s.len, s.cap};                                \
        return g;                                                                    \
    }                                                                                \
    GM__SLICE_FN name name##_typed(gm_slice g) {                                     \
        name s = {(name##_item *)g.array, g.len, g.cap};                             \
        return s;                                                                    \
    }                                                                                \
    GM__SLICE_FN name name##_make(size_t len, size_t cap) {                          \
        return name##_typed(gm_make_slice((type), len, cap));                        \
    }                                                                                \
    GM__SLICE_FN name name##_append_n(name s, const name##_item *vals, size_t n) {   \
        return name##_typed(gm_append(name##_untyped(s), (type), vals, n));          \
    }                                                                                \
    GM__SLICE_FN name name##_append(name s, name##_item v) {                         \
        if (GM__SLICE_LIKELY(s.len < s.cap)) {                                       \
            s.array[s.len++] = v;                                                    \
            return s;                                                                \
        }                                                                            \
        return name##_append_n(s, &v, 1);                                            \
    }                                                                                \
    GM__SLICE_FN name name##_append_slice(name s, name t) {                          \
        return name##_append_n(s, t.array, t.len);                                   \
    }                                                                                \
    GM__SLICE_FN name##_item *name##_at(name s, size_t i) {                          \
        return (name##_item *)gm__slice_index(s.array, s.len, i, sizeof(name##_item));\
    }                                                                                \
    GM__SLICE_FN name name##_sub(name s, size_t lo, size_t hi) {                     \
        return name##_typed(gm_slice_sub2(name##_untyped(s), (type), lo, hi));       \
    }                                                                                \
    GM__SLICE_FN name name##_sub3(name s, size_t lo, size_t hi, size_t max) {        \
        return name##_typed(gm_slice_sub(name##_untyped(s), (type), lo, hi, max));   \
    }                                                                                \
    GM__SLICE_FN size_t name##_copy(name dst, name src) {                            \
        return gm_slice_copy(name##_untyped(dst), name##_untyped(src), (type));      \
    }                                                                                \
    typedef int name##_gm_slice_decl_needs_a_semicolon

/* GM_SLICE_DECL with a pointer-free T: defines name_elem = GM_TYPE_NOPTRS(T). */
#define GM_SLICE_DECL_NOPTRS(name, T)                                         \
    static const gm_type name##_elem = GM_TYPE_NOPTRS(T);                     \
    GM_SLICE_DECL(name, T, &name##_elem)

/* GM_SLICE_DECL with a pointer T (struct node *): defines
 * name_elem = GM_TYPE_POINTER(T). */
#define GM_SLICE_DECL_POINTER(name, T)                                        \
    static const gm_type name##_elem = GM_TYPE_POINTER(T);                    \
    GM_SLICE_DECL(name, T, &name##_elem)

#ifdef __cplusplus
}
#endif
#endif /* GOMALLOC_SLICE_H */
