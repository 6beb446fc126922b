/*
 * C++'s operator new and delete (all 20 replaceable forms, by their
 * Itanium-ABI names), written in C so that the library does not depend on
 * libstdc++ and C programs do not load it.
 *
 * Throwing new loops as the standard says: try to allocate; on failure
 * call std::get_new_handler()'s handler if there is one and try again, else
 * throw std::bad_alloc. Both come from the C++ runtime through weak
 * references: a program that calls operator new has the runtime loaded.
 * If a runtime is loaded only later by dlopen, the weak references stay
 * unresolved, and we look the symbols up by name when they are needed.
 * Without any runtime, out-of-memory in throwing new is a fatal error.
 *
 * nothrow new must call the handler too and return NULL if it throws. C
 * cannot catch, so once it fails with a handler installed it hands over to
 * the C++ runtime's own nothrow form (the next definition of the same
 * symbol, dlsym RTLD_NEXT): libstdc++ and libc++ implement it as the
 * throwing operator new — ours, through the PLT — inside try/catch. With
 * no handler it returns NULL at once.
 *
 * Sized delete checks the size against the block (gm__free_sized): a size
 * from another size class is a fatal error.
 */
#include <dlfcn.h>
#include <stddef.h>

#include "internal.h"

#define GM_EXPORT __attribute__((visibility("default")))

typedef void (*new_handler_fn)(void);
extern new_handler_fn _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

static new_handler_fn current_handler(void) {
    new_handler_fn (*get)(void) = _ZSt15get_new_handlerv;
    if (!get) get = (new_handler_fn (*)(void))dlsym(RTLD_DEFAULT, "_ZSt15get_new_handlerv");
    return get ? get() : NULL;
}

static _Noreturn void throw_bad_alloc(size_t size) {
    void (*thrower)(void) = _ZSt17__throw_bad_allocv;
    if (!thrower) thrower = (void (*)(void))dlsym(RTLD_DEFAULT, "_ZSt17__throw_bad_allocv");
    if (thrower) thrower();
    gm__fatal("out of memory in operator new, and no C++ runtime to throw std::bad_alloc",
              (void *)size);
}

/* Out of memory in new: the new-handler loop. NULL only if nothrow. */
static GM_NOINLINE void *new_retry(size_t size, size_t align, bool nothrow) {
    for (;;) {
        new_handler_fn h = current_handler();
        if (!h) {
            if (nothrow) return NULL;
            throw_bad_alloc(size);
        }
        h();
        void *p = align ? gm_memalign(align, size) : gm_malloc(size);
        if (p) return p;
    }
}

typedef struct nothrow_t nothrow_t; /* std::nothrow_t, passed by reference */
typedef void *(*nothrow_new_fn)(size_t, const nothrow_t *);
typedef void *(*nothrow_new_aligned_fn)(size_t, size_t, const nothrow_t *);

/* The C++ runtime's definition of the nothrow form `name`, or NULL. */
static void *runtime_nothrow(const char *name) {
    return current_handler() ? dlsym(RTLD_NEXT, name) : NULL;
}

static inline void *new_impl(size_t size) {
    void *p = gm_malloc(size);
    return GM_LIKELY(p != NULL) ? p : new_retry(size, 0, false);
}

static inline void *new_aligned(size_t size, size_t align) {
    void *p = gm_memalign(align, size); /* as aligned_alloc, but rounds a bad align up */
    return GM_LIKELY(p != NULL) ? p : new_retry(size, align, false);
}

static inline void *new_nothrow(size_t size, const nothrow_t *t, const char *name) {
    void *p = gm_malloc(size);
    if (GM_LIKELY(p != NULL)) return p;
    nothrow_new_fn f = (nothrow_new_fn)runtime_nothrow(name);
    return f ? f(size, t) : new_retry(size, 0, true);
}

static inline void *new_aligned_nothrow(size_t size, size_t align, const nothrow_t *t,
                                        const char *name) {
    void *p = gm_memalign(align, size);
    if (GM_LIKELY(p != NULL)) return p;
    nothrow_new_aligned_fn f = (nothrow_new_aligned_fn)runtime_nothrow(name);
    return f ? f(size, align, t) : new_retry(size, align, true);
}

/* operator new / new[] */
GM_EXPORT void *_Znwm(size_t n) { return new_impl(n); }
GM_EXPORT void *_Znam(size_t n) { return new_impl(n); }
GM_EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, const nothrow_t *t) {
    return new_nothrow(n, t, "_ZnwmRKSt9nothrow_t");
}
GM_EXPORT void *_ZnamRKSt9nothrow_t(size_t n, const nothrow_t *t) {
    return new_nothrow(n, t, "_ZnamRKSt9nothrow_t");
}
GM_EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t al) { return new_aligned(n, al); }
GM_EXPORT void *_ZnamSt11align_val_t(size_t n, size_t al) { return new_aligned(n, al); }
GM_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const nothrow_t *t) {
    return new_aligned_nothrow(n, al, t, "_ZnwmSt11align_val_tRKSt9nothrow_t");
}
GM_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const nothrow_t *t) {
    return new_aligned_nothrow(n, al, t, "_ZnamSt11align_val_tRKSt9nothrow_t");
}

/* operator delete / delete[] */
GM_EXPORT void _ZdlPv(void *p) { gm_free(p); }
GM_EXPORT void _ZdaPv(void *p) { gm_free(p); }
GM_EXPORT void _ZdlPvm(void *p, size_t n) { gm__free_sized(p, n, 1, true); }
GM_EXPORT void _ZdaPvm(void *p, size_t n) { gm__free_sized(p, n, 1, true); }
GM_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t al) { (void)al; gm_free(p); }
GM_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t al) { (void)al; gm_free(p); }
GM_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al) {
    gm__free_sized(p, n, al, true);
}
GM_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al) {
    gm__free_sized(p, n, al, true);
}
GM_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const nothrow_t *t) { (void)t; gm_free(p); }
GM_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const nothrow_t *t) { (void)t; gm_free(p); }
GM_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const nothrow_t *t) {
    (void)al, (void)t;
    gm_free(p);
}
GM_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const nothrow_t *t) {
    (void)al, (void)t;
    gm_free(p);
}
