/*
 * System calls that write into the caller's memory, wrapped so that they
 * never fail because concurrent marking protected that memory.
 *
 * Under GOMALLOC_DIRTY=mprotect the collector write-protects the pages of
 * collected memory while it marks (mdirty.h), and the kernel does not
 * take the fault a user-space write would: read(2) into such a page fails
 * with EFAULT, and for some descriptors (a UDP socket) the data is gone.
 * Boehm's collector wraps read for the same reason and unprotects the
 * buffer first. Here each wrapper pins its buffers (gm__dirty_pin: the
 * pages stay writable, and count as written, until the call returns),
 * calls the C library's function, and unpins. With the other mechanisms,
 * or before any concurrent cycle, the wrapper is one load and a tail call.
 *
 * Covered: read, pread, pread64, readv, recv, recvfrom, recvmsg, and the
 * _FORTIFY_SOURCE entry points __read_chk, __pread_chk, __pread64_chk,
 * __recv_chk, __recvfrom_chk, which glibc's headers call instead when the
 * buffer's size is known at compile time. Not covered: the C library's
 * internal reads (fread straight into a large user buffer) and other
 * system calls; bracket those with gm_kernel_write_begin/end.
 *
 * Like override.c, only the product libraries contain this file. The C
 * library's function is found with dlsym(RTLD_NEXT), so cancellation
 * points and a sanitizer's interceptors still apply; where that fails
 * (a static executable) the raw system call is made.
 */
#undef _FORTIFY_SOURCE /* we define the functions its inline wrappers call */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"
#include "mdirty.h"

#define GM_EXPORT __attribute__((visibility("default")))
#define RETRIES 8 /* EFAULT retries when the pin table was full */

extern void __chk_fail(void) __attribute__((noreturn));

/* ---- The C library's functions -------------------------------------------- */

static void *resolve(void **slot, const char *name, void *fallback) {
    void *f = GM_LOAD(slot);
    if (!f) {
        f = dlsym(RTLD_NEXT, name);
        if (!f) f = fallback;
        GM_STORE(slot, f);
    }
    return f;
}

typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*readv_fn)(int, const struct iovec *, int);
typedef ssize_t (*recvfrom_fn)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
typedef ssize_t (*recvmsg_fn)(int, struct msghdr *, int);

static ssize_t sys_read(int fd, void *b, size_t n) { return syscall(SYS_read, fd, b, n); }
static ssize_t sys_pread(int fd, void *b, size_t n, off_t o) { return syscall(SYS_pread64, fd, b, n, o); }
static ssize_t sys_readv(int fd, const struct iovec *v, int n) { return syscall(SYS_readv, fd, v, n); }
static ssize_t sys_recvfrom(int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l) {
    return syscall(SYS_recvfrom, fd, b, n, f, a, l);
}
static ssize_t sys_recvmsg(int fd, struct msghdr *m, int f) { return syscall(SYS_recvmsg, fd, m, f); }

static void *real[5];
#define REAL_READ ((read_fn)resolve(&real[0], "read", (void *)sys_read))
#define REAL_PREAD ((pread_fn)resolve(&real[1], "pread64", (void *)sys_pread))
#define REAL_READV ((readv_fn)resolve(&real[2], "readv", (void *)sys_readv))
#define REAL_RECVFROM ((recvfrom_fn)resolve(&real[3], "recvfrom", (void *)sys_recvfrom))
#define REAL_RECVMSG ((recvmsg_fn)resolve(&real[4], "recvmsg", (void *)sys_recvmsg))

/* ---- Pinning the buffers of one call ---------------------------------------- */

/* The memory one call may write: up to four plain regions (the buffer,
 * the peer's address and its length, a msghdr and its control data) and
 * an iovec array. */
#define KW_FIXED 4
typedef struct {
    struct { const void *p; size_t n; } fixed[KW_FIXED]; /* n == 0: unused */
    const struct iovec *iov;
    size_t niov;
    bool held;  /* every pin holds: an EFAULT is the caller's own */
    int tries;
} kernel_write;

/* Region i of k's memory: the fixed ones, then the iovecs. */
static void kw_region(const kernel_write *k, size_t i, const void **p, size_t *n) {
    if (i < KW_FIXED) {
        *p = k->fixed[i].p;
        *n = k->fixed[i].n;
    } else {
        *p = k->iov[i - KW_FIXED].iov_base;
        *n = k->iov[i - KW_FIXED].iov_len;
    }
}

static void kw_unpin_first(const kernel_write *k, size_t upto) {
    int saved = errno;
    for (size_t i = 0; i < upto; i++) {
        const void *p;
        size_t n;
        kw_region(k, i, &p, &n);
        gm__dirty_unpin(p, n);
    }
    errno = saved;
}

/* Pins every buffer, or none: when the pin table is full the buffers are
 * still made writable, but nothing holds them (k->held false). */
static void kw_pin(kernel_write *k) {
    size_t total = KW_FIXED + k->niov;
    for (size_t i = 0; i < total; i++) {
        const void *p;
        size_t n;
        kw_region(k, i, &p, &n);
        if (!gm__dirty_pin(p, n)) {
            kw_unpin_first(k, i);
            for (size_t j = i + 1; j < total; j++) { /* writable, unheld */
                kw_region(k, j, &p, &n);
                if (gm__dirty_pin(p, n)) gm__dirty_unpin(p, n);
            }
            k->held = false;
            return;
        }
    }
    k->held = true;
}

static void kw_unpin(kernel_write *k) {
    if (k->held) kw_unpin_first(k, KW_FIXED + k->niov);
    k->held = false;
}

/* After the call returned r: true to make it again (the pins did not all
 * hold and a re-arm protected a buffer before the kernel wrote it). */
static bool kw_retry(kernel_write *k, ssize_t r) {
    if (r >= 0 || errno != EFAULT || k->held || ++k->tries > RETRIES) return false;
    kw_pin(k);
    return true;
}

#define KERNEL_WRITES(k, call)                                                                     \
    do {                                                                                           \
        if (!gm__dirty_pinning()) return call;                                                     \
        ssize_t r_;                                                                                \
        kw_pin(k);                                                                                 \
        do r_ = call;                                                                              \
        while (kw_retry(k, r_));                                                                   \
        kw_unpin(k);                                                                               \
        return r_;                                                                                 \
    } while (0)

/* ---- The wrappers ------------------------------------------------------------ */

GM_EXPORT ssize_t read(int fd, void *buf, size_t n) {
    kernel_write k = {.fixed = {{buf, n}}};
    KERNEL_WRITES(&k, REAL_READ(fd, buf, n));
}

GM_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off) {
    kernel_write k = {.fixed = {{buf, n}}};
    KERNEL_WRITES(&k, REAL_PREAD(fd, buf, n, off));
}

GM_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off) { return pread64(fd, buf, n, off); }

GM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int n) {
    kernel_write k = {.iov = iov, .niov = n > 0 ? (size_t)n : 0};
    KERNEL_WRITES(&k, REAL_READV(fd, iov, n));
}

GM_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                           socklen_t *addrlen) {
    bool named = addr && addrlen;
    kernel_write k = {.fixed = {{buf, n}, {addr, named ? *addrlen : 0},
                                {addrlen, named ? sizeof *addrlen : 0}}};
    KERNEL_WRITES(&k, REAL_RECVFROM(fd, buf, n, flags, addr, addrlen));
}

GM_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags) {
    return recvfrom(fd, buf, n, flags, NULL, NULL);
}

GM_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags) {
    /* The kernel also writes the header: msg_namelen, msg_controllen, msg_flags. */
    kernel_write k = {.fixed = {{m, sizeof *m},
                                {m->msg_name, m->msg_name ? m->msg_namelen : 0},
                                {m->msg_control, m->msg_control ? m->msg_controllen : 0}},
                      .iov = m->msg_iov, .niov = m->msg_iovlen};
    KERNEL_WRITES(&k, REAL_RECVMSG(fd, m, flags));
}

/* _FORTIFY_SOURCE: the size check glibc's own versions make, then ours. */
GM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen) {
    if (n > buflen) __chk_fail();
    return read(fd, buf, n);
}

GM_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen) {
    if (n > buflen) __chk_fail();
    return pread64(fd, buf, n, off);
}

GM_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen) {
    return __pread64_chk(fd, buf, n, off, buflen);
}

GM_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags) {
    if (n > buflen) __chk_fail();
    return recvfrom(fd, buf, n, flags, NULL, NULL);
}

GM_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                                 struct sockaddr *addr, socklen_t *addrlen) {
    if (n > buflen) __chk_fail();
    return recvfrom(fd, buf, n, flags, addr, addrlen);
}
