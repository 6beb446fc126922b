/*
 * Dirty-page tracking for Linux: the mechanism behind mdirty.h (read its
 * comment first: the three mechanisms and the rules for callers); mgc.c
 * says how the collector uses it. Every platform detail of dirty-page
 * tracking lives in this file.
 *
 * State and invariants
 *  - D.ranges[0..nranges) are the tracked ranges, disjoint, page aligned.
 *    Changed only with dirty_lock and siglock both held, so the SIGSEGV
 *    handler (which takes only siglock) always sees a consistent table.
 *  - MPROTECT: for each range, bit i of `bits` is set iff page i was
 *    written (or unprotected) since the last arm/rearm; a page whose bit
 *    is clear is PROT_READ, a page whose bit is set is read-write. Bits
 *    and protections change together under siglock, so a write can never
 *    slip between "bit cleared" and "page protected" (the handler would
 *    otherwise set the bit and unprotect in between, and a write after it
 *    would be lost for the next round).
 *  - MPROTECT pins: D.pins[0..npins) are buffers a system call may be
 *    writing into right now [siglock]. Their pages stay read-write (bit
 *    set) while pinned: arming and re-arming skip them, so the kernel
 *    never meets a protected page there, and collect reports them written
 *    every round (the kernel may write them at any moment).
 *  - siglock is a spin lock taken by the SIGSEGV handler; everyone else
 *    takes it with all signals blocked, so a handler never spins on a lock
 *    its own thread holds. Nothing under it faults on tracked memory.
 *  - UFFD and SOFTDIRTY keep no per-page state: the page tables are the
 *    bitmap, read through /proc/self/pagemap (D.pagemap).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"
#include "mdirty.h"

/* ---- Kernel ABI newer than Debian 12's headers (Linux 6.7) ------------- */

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#define UFFD_FEATURES_NEEDED ((uint64_t)(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED))

/* include/uapi/linux/fs.h, PAGEMAP_SCAN. */
struct gm_page_region {
    uint64_t start, end, categories;
};
struct gm_pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define GM_PAGEMAP_SCAN _IOWR('f', 16, struct gm_pm_scan_arg)
#define GM_PAGE_IS_WRITTEN ((uint64_t)1 << 1)
#define GM_PM_SCAN_WP_MATCHING ((uint64_t)1 << 0)
#define GM_PM_SCAN_CHECK_WPASYNC ((uint64_t)1 << 1)
#define GM_PM_SOFT_DIRTY ((uint64_t)1 << 55) /* a /proc/pid/pagemap entry bit */

/* ---- State ---------------------------------------------------------------- */

#define MAX_RANGES 1024 /* arenas (64 MiB each) or scan-span runs */
#define SCAN_VEC 256    /* page_regions per PAGEMAP_SCAN call */
#define MAX_PINS 128    /* system calls writing into tracked memory at once */

typedef struct {
    uintptr_t base;
    size_t len;
    uint64_t *bits;  /* MPROTECT: written pages [siglock]; NULL otherwise */
    uint64_t *taken; /* MPROTECT: collect's snapshot of bits [dirty_lock] */
    size_t map_bytes; /* bits and taken come from one gm__sys_alloc */
} dirty_range;

static struct {
    gm_dirty_mode mode; /* [dirty_lock]; GM_LOAD elsewhere */
    pid_t owner;        /* the process that called init: a raw fork child differs */
    int uffd, pagemap;  /* [dirty_lock]; -1 when closed */
    int nranges;        /* [dirty_lock + siglock] */
    bool handler_installed;
    bool atfork_registered;
    struct sigaction prev; /* the SIGSEGV handler faults outside ranges go to */
    dirty_range ranges[MAX_RANGES];
    int npins;                                 /* [siglock] */
    struct { uintptr_t lo, hi; } pins[MAX_PINS]; /* [siglock] page aligned */
    struct gm_page_region vec[SCAN_VEC]; /* [dirty_lock] PAGEMAP_SCAN output */
} D = {.uffd = -1, .pagemap = -1};

static gm_mutex dirty_lock = GM_MUTEX_INIT;
static int siglock;
static size_t page = 4096;

static void spin_lock(int *l) {
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < 64 && GM_LOAD(l); i++) __builtin_ia32_pause();
        if (GM_LOAD(l)) sched_yield();
    }
}

static void spin_unlock(int *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

static void siglock_acquire(sigset_t *old) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, old);
    spin_lock(&siglock);
}

static void siglock_release(const sigset_t *old) {
    spin_unlock(&siglock);
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* In a child forked without pthread_atfork (raw clone) the descriptors
 * and the registrations belong to the parent: do nothing there. */
static bool active(void) { return D.mode != GM_DIRTY_NONE && getpid() == D.owner; }

static size_t range_pages(const dirty_range *r) { return r->len / page; }

/* The range holding address a, or NULL. Handler-safe under siglock. */
static dirty_range *range_of(uintptr_t a) {
    for (int i = 0; i < D.nranges; i++) {
        dirty_range *r = &D.ranges[i];
        if (a - r->base < r->len) return r;
    }
    return NULL;
}

/* ---- Reporting runs: merges adjacent pages into one callback ------------- */

typedef struct {
    void (*fn)(uintptr_t page, size_t npages, void *arg);
    void *arg;
    uintptr_t start;
    size_t npages, total;
} emitter;

static void emit_flush(emitter *e) {
    if (!e->npages) return;
    if (e->fn) e->fn(e->start, e->npages, e->arg);
    e->total += e->npages;
    e->npages = 0;
}

static void emit(emitter *e, uintptr_t start, size_t npages) {
    if (e->npages && e->start + e->npages * page == start) {
        e->npages += npages;
        return;
    }
    emit_flush(e);
    e->start = start;
    e->npages = npages;
}

/* ---- UFFD: userfaultfd WP async + PAGEMAP_SCAN ---------------------------- */

/* unprivileged_userfaultfd = 0 refuses the plain call without
 * CAP_SYS_PTRACE (EPERM); user-mode-only faults are still allowed, and
 * async write protection never raises a fault to the descriptor anyway. */
static int uffd_open(void) {
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno == EPERM)
        fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0) return -1;
    struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURES_NEEDED};
    if (ioctl(fd, UFFDIO_API, &api) != 0 || (api.features & UFFD_FEATURES_NEEDED) != UFFD_FEATURES_NEEDED) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool uffd_register(uintptr_t base, size_t len) {
    struct uffdio_register reg = {.range = {base, len}, .mode = UFFDIO_REGISTER_MODE_WP};
    return ioctl(D.uffd, UFFDIO_REGISTER, &reg) == 0;
}

static void uffd_unregister(uintptr_t base, size_t len) {
    struct uffdio_range rng = {base, len};
    (void)ioctl(D.uffd, UFFDIO_UNREGISTER, &rng);
}

/* PAGEMAP_SCAN with WP_MATCHING, no output and no category filter: the
 * kernel's "exclusive WP" walk, which skips pages already protected and
 * with WP_UNPOPULATED puts markers on never-touched ones. A filter on
 * PAGE_IS_WRITTEN would skip holes (never "written") and leave them
 * unprotected. UFFDIO_WRITEPROTECT does the same, more slowly (it
 * rewrites every pte), and is the fallback. */
static bool uffd_protect(uintptr_t base, size_t len) {
    struct gm_pm_scan_arg a = {.size = sizeof a, .flags = GM_PM_SCAN_WP_MATCHING | GM_PM_SCAN_CHECK_WPASYNC,
                               .start = base, .end = base + len};
    long n;
    while ((n = ioctl(D.pagemap, GM_PAGEMAP_SCAN, &a)) < 0 && errno == EINTR)
        ;
    if (n >= 0 && a.walk_end == a.end) return true;
    struct uffdio_writeprotect wp = {.range = {base, len}, .mode = UFFDIO_WRITEPROTECT_MODE_WP};
    int rc;
    while ((rc = ioctl(D.uffd, UFFDIO_WRITEPROTECT, &wp)) != 0 && (errno == EAGAIN || errno == EINTR))
        ;
    return rc == 0;
}

/* Reports the written pages of [base, base+len) and, with rearm, protects
 * them again in the same page-table walk (under the page-table lock: a
 * write is either seen now or faults into the next round). */
static bool uffd_scan(uintptr_t base, size_t len, emitter *e, bool rearm) {
    struct gm_pm_scan_arg a = {
        .size = sizeof a,
        .flags = GM_PM_SCAN_CHECK_WPASYNC | (rearm ? GM_PM_SCAN_WP_MATCHING : 0),
        .start = base,
        .end = base + len,
        .vec = (uintptr_t)D.vec,
        .vec_len = SCAN_VEC,
        .category_mask = GM_PAGE_IS_WRITTEN,
        .return_mask = GM_PAGE_IS_WRITTEN,
    };
    while (a.start < a.end) {
        long n = ioctl(D.pagemap, GM_PAGEMAP_SCAN, &a);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            /* Cannot happen for a registered range; be conservative. */
            emit(e, (uintptr_t)a.start, (size_t)(a.end - a.start) / page);
            return false;
        }
        for (long i = 0; i < n; i++)
            emit(e, (uintptr_t)D.vec[i].start, (size_t)(D.vec[i].end - D.vec[i].start) / page);
        a.start = a.walk_end;
    }
    return true;
}

/* Protect four untouched pages, write the second, and expect PAGEMAP_SCAN
 * to report exactly it: proves WP_ASYNC, WP_UNPOPULATED and the ioctl. */
static bool uffd_probe(void) {
    size_t len = 4 * page;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    bool ok = uffd_register((uintptr_t)p, len) && uffd_protect((uintptr_t)p, len);
    if (ok) {
        p[page] = 1;
        struct gm_pm_scan_arg a = {.size = sizeof a, .flags = GM_PM_SCAN_CHECK_WPASYNC,
                                   .start = (uintptr_t)p, .end = (uintptr_t)p + len,
                                   .vec = (uintptr_t)D.vec, .vec_len = SCAN_VEC,
                                   .category_mask = GM_PAGE_IS_WRITTEN,
                                   .return_mask = GM_PAGE_IS_WRITTEN};
        ok = ioctl(D.pagemap, GM_PAGEMAP_SCAN, &a) == 1 && D.vec[0].start == (uintptr_t)p + page &&
             D.vec[0].end == (uintptr_t)p + 2 * page;
    }
    munmap(p, len); /* unmapping unregisters */
    return ok;
}

static bool uffd_init(void) {
    D.uffd = uffd_open();
    if (D.uffd < 0) return false;
    D.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    return D.pagemap >= 0 && uffd_probe();
}

/* ---- SOFTDIRTY: clear_refs + pagemap bit 55 ------------------------------- */

static bool softdirty_clear(void) {
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = write(fd, "4", 1) == 1;
    close(fd);
    return ok;
}

static uint64_t pagemap_entry(uintptr_t a) {
    uint64_t v = 0;
    if (pread(D.pagemap, &v, sizeof v, (off_t)(a / page * sizeof v)) != (ssize_t)sizeof v) return 0;
    return v;
}

/* Without CONFIG_MEM_SOFT_DIRTY the write to clear_refs succeeds and the
 * bit is never set: only a write that sets it proves the mechanism. */
static bool softdirty_probe(void) {
    volatile char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    p[0] = 1;
    bool ok = softdirty_clear() && !(pagemap_entry((uintptr_t)p) & GM_PM_SOFT_DIRTY);
    p[0] = 2;
    ok = ok && (pagemap_entry((uintptr_t)p) & GM_PM_SOFT_DIRTY);
    munmap((void *)p, page);
    return ok;
}

static bool softdirty_init(void) {
    D.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    return D.pagemap >= 0 && softdirty_probe();
}

static void softdirty_scan(const dirty_range *r, emitter *e) {
    uint64_t ent[512];
    size_t n = range_pages(r);
    for (size_t i = 0; i < n;) {
        size_t k = n - i < 512 ? n - i : 512;
        ssize_t got = pread(D.pagemap, ent, k * sizeof ent[0], (off_t)((r->base / page + i) * 8));
        size_t have = got > 0 ? (size_t)got / sizeof ent[0] : 0;
        for (size_t j = 0; j < k; j++) /* unreadable entries count as written */
            if (j >= have || (ent[j] & GM_PM_SOFT_DIRTY)) emit(e, r->base + (i + j) * page, 1);
        i += k;
    }
}

/* ---- MPROTECT: PROT_READ + SIGSEGV ----------------------------------------- */

static void bit_set(uint64_t *bits, size_t i) {
    __atomic_fetch_or(&bits[i / 64], (uint64_t)1 << (i % 64), __ATOMIC_RELAXED);
}

/* When a protection change fails (ENOMEM: too many VMAs from unprotected
 * single pages, vm.max_map_count), the whole range counts as written for
 * this round and becomes one writable mapping again. siglock held. */
static bool range_give_up(dirty_range *r) {
    memset(r->bits, 0xff, (range_pages(r) + 63) / 64 * sizeof(uint64_t));
    return mprotect((void *)r->base, r->len, PROT_READ | PROT_WRITE) == 0;
}

static bool is_write_fault(const void *uc) {
#if defined(__x86_64__)
    /* The page-fault error code: bit 1 set for a write. */
    return (((const ucontext_t *)uc)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
    (void)uc;
    return true;
#endif
}

/* A write to a page we protected: record it and let the write proceed. */
static bool mprotect_fault(uintptr_t a) {
    spin_lock(&siglock);
    dirty_range *r = range_of(a);
    bool ok = r && r->bits;
    if (ok) {
        size_t i = (a - r->base) / page;
        bit_set(r->bits, i);
        if (mprotect((void *)(r->base + i * page), page, PROT_READ | PROT_WRITE) != 0)
            ok = range_give_up(r);
    }
    spin_unlock(&siglock);
    return ok;
}

static void chain(int sig, siginfo_t *si, void *uc) {
    const struct sigaction *p = &D.prev;
    if ((p->sa_flags & SA_SIGINFO) && p->sa_sigaction) {
        p->sa_sigaction(sig, si, uc);
    } else if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN && p->sa_handler) {
        p->sa_handler(sig);
    } else {
        /* Returning re-executes the access, which now takes the default
         * action (a core dump, as without us). */
        signal(sig, SIG_DFL);
    }
}

static void segv_handler(int sig, siginfo_t *si, void *uc) {
    int saved = errno;
    bool ours = si->si_code == SEGV_ACCERR && is_write_fault(uc) && mprotect_fault((uintptr_t)si->si_addr);
    errno = saved;
    if (!ours) chain(sig, si, uc);
}

/* Installs the handler unless it already is the current one; whatever was
 * there becomes the handler to chain to. */
static bool mprotect_init(void) {
    struct sigaction sa, cur;
    if (sigaction(SIGSEGV, NULL, &cur) != 0) return false;
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == segv_handler) return true;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask); /* nothing may interrupt us while we hold siglock */
    if (sigaction(SIGSEGV, &sa, &D.prev) != 0) return false;
    D.handler_installed = true;
    return true;
}

static bool range_alloc_bits(dirty_range *r) {
    size_t words = (range_pages(r) + 63) / 64;
    r->map_bytes = (2 * words * sizeof(uint64_t) + page - 1) / page * page;
    r->bits = gm__sys_alloc(r->map_bytes);
    if (!r->bits) return false;
    r->taken = r->bits + words;
    memset(r->bits, 0xff, words * sizeof(uint64_t)); /* read-write until armed */
    return true;
}

/* Sets the bits of r's pages in [lo, hi) (page aligned) and returns that
 * part of r in [*a, *b) (empty: *a >= *b). siglock held. */
static void set_bits_within(dirty_range *r, uintptr_t lo, uintptr_t hi, uintptr_t *a, uintptr_t *b) {
    *a = lo > r->base ? lo : r->base;
    *b = hi < r->base + r->len ? hi : r->base + r->len;
    for (uintptr_t q = *a; q < *b; q += page) bit_set(r->bits, (q - r->base) / page);
}

/* Sets the bits of r's pages that a pin covers. siglock held. */
static void pins_set_bits(dirty_range *r) {
    uintptr_t a, b;
    for (int k = 0; k < D.npins; k++) set_bits_within(r, D.pins[k].lo, D.pins[k].hi, &a, &b);
}

/* Protects the pages set in r->taken but not in r->bits (those are
 * pinned, or written again). siglock held. */
static void protect_taken(dirty_range *r) {
    size_t n = range_pages(r);
#define WANT(i) ((r->taken[(i) / 64] & ~r->bits[(i) / 64]) >> ((i) % 64) & 1)
    for (size_t i = 0; i < n; i++) {
        if (!WANT(i)) {
            if (!(r->taken[i / 64] & ~r->bits[i / 64])) i |= 63; /* skip a clean word */
            continue;
        }
        size_t j = i + 1;
        while (j < n && WANT(j)) j++;
        if (mprotect((void *)(r->base + i * page), (j - i) * page, PROT_READ) != 0) {
            range_give_up(r);
            return;
        }
        i = j;
    }
#undef WANT
}

/* Clears the bits and protects the range, pins excepted: a new round.
 * siglock held. */
static void mprotect_arm(dirty_range *r) {
    size_t words = (range_pages(r) + 63) / 64;
    memset(r->bits, 0, words * sizeof(uint64_t));
    if (D.npins == 0) {
        if (mprotect((void *)r->base, r->len, PROT_READ) != 0) range_give_up(r);
        return;
    }
    pins_set_bits(r);
    memset(r->taken, 0xff, words * sizeof(uint64_t));
    protect_taken(r);
}

static void mprotect_scan(dirty_range *r, emitter *e, bool rearm) {
    size_t words = (range_pages(r) + 63) / 64;
    sigset_t old;
    siglock_acquire(&old);
    for (size_t w = 0; w < words; w++)
        r->taken[w] = rearm ? __atomic_exchange_n(&r->bits[w], 0, __ATOMIC_RELAXED) : GM_LOAD(&r->bits[w]);
    if (rearm) {
        pins_set_bits(r);
        protect_taken(r);
    }
    siglock_release(&old);
    for (size_t w = 0; w < words; w++)
        for (uint64_t m = r->taken[w]; m; m &= m - 1)
            emit(e, r->base + (w * 64 + (size_t)__builtin_ctzll(m)) * page, 1);
}

/* ---- The range table ---------------------------------------------------- */

static bool range_add(uintptr_t base, size_t len) {
    if (D.nranges == MAX_RANGES) return false;
    dirty_range r = {.base = base, .len = len};
    if (D.mode == GM_DIRTY_MPROTECT && !range_alloc_bits(&r)) return false;
    sigset_t old;
    siglock_acquire(&old);
    D.ranges[D.nranges++] = r;
    siglock_release(&old);
    return true;
}

/* Leaves the memory writable and forgets it. */
static void range_remove(int i) {
    dirty_range r = D.ranges[i];
    sigset_t old;
    siglock_acquire(&old);
    if (D.mode == GM_DIRTY_MPROTECT) mprotect((void *)r.base, r.len, PROT_READ | PROT_WRITE);
    D.ranges[i] = D.ranges[--D.nranges];
    siglock_release(&old);
    if (D.mode == GM_DIRTY_UFFD) uffd_unregister(r.base, r.len);
    if (r.bits) gm__sys_free(r.bits, r.map_bytes);
}

static void close_fds(void) {
    if (D.uffd >= 0) close(D.uffd);
    if (D.pagemap >= 0) close(D.pagemap);
    D.uffd = D.pagemap = -1;
}

static void teardown(void) {
    sigset_t old;
    siglock_acquire(&old);
    D.npins = 0; /* pins belong to the mode: a later unpin finds none */
    siglock_release(&old);
    while (D.nranges > 0) range_remove(D.nranges - 1);
    close_fds();
    GM_STORE(&D.mode, GM_DIRTY_NONE);
}

/* The child of fork() does not track: its uffd registrations are gone
 * (no UFFD_FEATURE_EVENT_FORK), its pagemap descriptor reads the parent.
 * MPROTECT ranges become writable; the table stays, so that the handler
 * still unprotects a page if that mprotect failed. The child is single
 * threaded here: the locks are reset, not taken. */
static void fork_child(void) {
    siglock = 0;
    D.npins = 0; /* only the forking thread runs here, not in a system call */
    gm__lock_reinit(&dirty_lock);
    if (D.mode == GM_DIRTY_MPROTECT)
        for (int i = 0; i < D.nranges; i++) {
            dirty_range *r = &D.ranges[i];
            memset(r->bits, 0xff, (range_pages(r) + 63) / 64 * sizeof(uint64_t));
            mprotect((void *)r->base, r->len, PROT_READ | PROT_WRITE);
        }
    else
        D.nranges = 0;
    close_fds();
    GM_STORE(&D.mode, GM_DIRTY_NONE);
}

/* ---- The interface (mdirty.h) ------------------------------------------- */

static bool try_mode(gm_dirty_mode m) {
    bool ok = m == GM_DIRTY_UFFD ? uffd_init() : m == GM_DIRTY_SOFTDIRTY ? softdirty_init() : mprotect_init();
    if (!ok) close_fds();
    return ok;
}

gm_dirty_mode gm__dirty_init(gm_dirty_mode wanted) {
    gm__lock(&dirty_lock);
    if (getpid() != D.owner) D.nranges = 0; /* a raw fork child: nothing to undo */
    teardown();
    page = (size_t)sysconf(_SC_PAGESIZE);
    if (!D.atfork_registered) D.atfork_registered = pthread_atfork(NULL, NULL, fork_child) == 0;
    static const gm_dirty_mode order[] = {GM_DIRTY_UFFD, GM_DIRTY_SOFTDIRTY, GM_DIRTY_MPROTECT};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (wanted != GM_DIRTY_NONE && wanted != order[i]) continue;
        if (try_mode(order[i])) {
            GM_STORE(&D.mode, order[i]);
            break;
        }
    }
    D.owner = getpid();
    gm_dirty_mode m = D.mode;
    gm__unlock(&dirty_lock);
    return m;
}

size_t gm__dirty_page_size(void) { return page; }

void gm__dirty_state(const void **lo, const void **hi) {
    *lo = &D;
    *hi = &D + 1;
}

gm_dirty_mode gm__dirty_mode(void) {
    gm_dirty_mode m = GM_LOAD(&D.mode);
    return m != GM_DIRTY_NONE && getpid() == D.owner ? m : GM_DIRTY_NONE;
}

const char *gm__dirty_mode_name(gm_dirty_mode m) {
    switch (m) {
    case GM_DIRTY_UFFD: return "uffd";
    case GM_DIRTY_SOFTDIRTY: return "softdirty";
    case GM_DIRTY_MPROTECT: return "mprotect";
    default: return "none";
    }
}

bool gm__dirty_track(void *base, size_t len) {
    uintptr_t b = (uintptr_t)base;
    if (len == 0 || (b | len) & (page - 1)) return false;
    gm__lock(&dirty_lock);
    bool ok = active();
    if (ok && D.mode == GM_DIRTY_UFFD) ok = uffd_register(b, len);
    if (ok && !range_add(b, len)) {
        if (D.mode == GM_DIRTY_UFFD) uffd_unregister(b, len);
        ok = false;
    }
    gm__unlock(&dirty_lock);
    return ok;
}

void gm__dirty_untrack(void *base, size_t len) {
    gm__lock(&dirty_lock);
    for (int i = 0; active() && i < D.nranges; i++)
        if (D.ranges[i].base == (uintptr_t)base && D.ranges[i].len == len) {
            range_remove(i);
            break;
        }
    gm__unlock(&dirty_lock);
}

void gm__dirty_arm(void) {
    gm__lock(&dirty_lock);
    if (active() && D.mode == GM_DIRTY_SOFTDIRTY) softdirty_clear();
    for (int i = 0; active() && i < D.nranges; i++) {
        dirty_range *r = &D.ranges[i];
        if (D.mode == GM_DIRTY_UFFD && !uffd_protect(r->base, r->len))
            gm__fatal("UFFDIO_WRITEPROTECT failed on a tracked range", (void *)r->base);
        if (D.mode == GM_DIRTY_MPROTECT) {
            sigset_t old;
            siglock_acquire(&old);
            mprotect_arm(r);
            siglock_release(&old);
        }
    }
    gm__unlock(&dirty_lock);
}

size_t gm__dirty_collect(void (*fn)(uintptr_t page, size_t npages, void *arg), void *arg, bool rearm) {
    emitter e = {.fn = fn, .arg = arg};
    gm__lock(&dirty_lock);
    for (int i = 0; active() && i < D.nranges; i++) {
        dirty_range *r = &D.ranges[i];
        if (D.mode == GM_DIRTY_UFFD) uffd_scan(r->base, r->len, &e, rearm);
        else if (D.mode == GM_DIRTY_SOFTDIRTY) softdirty_scan(r, &e);
        else mprotect_scan(r, &e, rearm);
        emit_flush(&e); /* runs never span two ranges */
    }
    if (rearm && active() && D.mode == GM_DIRTY_SOFTDIRTY) softdirty_clear();
    gm__unlock(&dirty_lock);
    return e.total;
}

bool gm__dirty_pinning(void) { return GM_LOAD(&D.mode) == GM_DIRTY_MPROTECT; }

/* The OS pages covering [p, p+n). */
static void page_bounds(const void *p, size_t n, uintptr_t *lo, uintptr_t *hi) {
    *lo = (uintptr_t)p & ~(page - 1);
    *hi = ((uintptr_t)p + n + page - 1) & ~(page - 1);
}

bool gm__dirty_pin(const void *p, size_t n) {
    if (n == 0 || !gm__dirty_pinning()) return true;
    uintptr_t lo, hi, a, b;
    page_bounds(p, n, &lo, &hi);
    sigset_t old;
    siglock_acquire(&old);
    bool pinned = D.npins < MAX_PINS;
    if (pinned) {
        D.pins[D.npins].lo = lo;
        D.pins[D.npins++].hi = hi;
    }
    for (int i = 0; i < D.nranges; i++) {
        dirty_range *r = &D.ranges[i];
        if (!r->bits) continue;
        set_bits_within(r, lo, hi, &a, &b);
        if (a < b && mprotect((void *)a, b - a, PROT_READ | PROT_WRITE) != 0) range_give_up(r);
    }
    siglock_release(&old);
    return pinned;
}

/* Like pin, a no-op unless pins matter: no lock, no signal mask. */
void gm__dirty_unpin(const void *p, size_t n) {
    if (n == 0 || !gm__dirty_pinning()) return;
    uintptr_t lo, hi;
    page_bounds(p, n, &lo, &hi);
    sigset_t old;
    siglock_acquire(&old);
    for (int k = D.npins - 1; k >= 0; k--)
        if (D.pins[k].lo == lo && D.pins[k].hi == hi) {
            D.pins[k] = D.pins[--D.npins];
            break;
        }
    siglock_release(&old);
}
