/*
 * Fatal errors: one function, one format (see malloc.c, "Errors"):
 *     gomalloc: fatal error: <what> <pointer>
 * It must not allocate: the heap may be corrupt, or we may be inside malloc.
 */
#include "internal.h"

static size_t put_str(char *buf, size_t at, size_t cap, const char *s) {
    while (*s && at < cap) buf[at++] = *s++;
    return at;
}

static size_t put_hex(char *buf, size_t at, size_t cap, uintptr_t v) {
    char tmp[2 + 16];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    at = put_str(buf, at, cap, "0x");
    while (n > 0 && at < cap) buf[at++] = tmp[--n];
    return at;
}

void gm__fatal(const char *what, const void *p) {
    char buf[256];
    size_t cap = sizeof buf - 1, n = 0;
    n = put_str(buf, n, cap, "gomalloc: fatal error: ");
    n = put_str(buf, n, cap, what);
    if (p) {
        n = put_str(buf, n, cap, " ");
        n = put_hex(buf, n, cap, (uintptr_t)p);
    }
    buf[n++] = '\n';
    gm__sys_write_err(buf, n);
    gm__sys_abort();
}
