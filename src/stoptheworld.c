/*
 * Registered threads and stopping the world (Go's stopTheWorld and, for
 * lack of safe points in C, Boehm-style signal suspension). See mgc.c for
 * the overview. Linux x86-64: tgkill, futexes and ucontext registers.
 *
 * Protocol. The collector holds the gc lock (so no thread is inside a
 * collected-span slow path) and the threads lock (the list is fixed),
 * raises stw_active and sends GOMALLOC_SIGNAL to every other registered
 * thread. The handler saves the interrupted registers and stack pointer in
 * the thread's record, publishes ack_epoch = epoch + 1 (release) and sleeps
 * on the stw_epoch futex. The collector waits until every thread has
 * acknowledged; to restart the world it bumps stw_epoch and wakes them all.
 * No second signal is needed.
 *
 * A thread inside a nosuspend region (the lock-free allocation of a
 * collected object, which leaves a span half-updated for a few
 * instructions) is not stopped by the handler: it notes the request in
 * `pending` and the region's end stops the thread itself. Such regions
 * never block, so the wait is short.
 *
 * Threads blocked in system calls are interrupted by the signal
 * (SA_RESTART restarts most calls). A thread that exits mid-collection
 * blocks on the threads lock while still registered, so it is stopped
 * like any other. A thread that died unregistered (tgkill says ESRCH) is
 * dropped. Signals are resent every 100 ms to threads that have not
 * answered, in case one was consumed while the thread was starting up.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "mgc.h"
#include "options.h"

__thread gm_gthread *gm__tls_gthread __attribute__((tls_model("initial-exec")));
gm_mutex gm__threads_lock = GM_MUTEX_INIT;
gm_gthread *gm__threads;

static gm_fixalloc gthread_alloc; /* threads lock */
static pthread_key_t gthread_key;
static bool signal_installed;     /* threads lock */
static uint32_t stw_epoch;        /* futex word: bumped to restart the world */
static uint32_t stw_active;       /* 1 while the world is being stopped or is stopped */
static uint32_t stw_acks;         /* futex word: bumped by each acknowledgement */

static inline uintptr_t current_sp(void) {
    uintptr_t sp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
    return sp;
}

/* Save what the collector scans for t: its registers and stack pointer
 * (the red zone below it may hold a leaf function's data). */
static void save_context(gm_gthread *t, const ucontext_t *uc, uintptr_t sp) {
    for (int i = 0; i < 16; i++) t->regs[i] = (uintptr_t)uc->uc_mcontext.gregs[i];
    t->sp = sp > 128 ? sp - 128 : 0;
    t->altstack_lo = t->altstack_hi = 0;
    if (sp < t->stack_lo || sp >= t->stack_hi) {
        /* Running on a signal stack: scan it, and all of the thread's stack,
         * since where the interrupted frames end there is unknown. */
        stack_t ss;
        if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK)) {
            t->altstack_lo = t->sp;
            t->altstack_hi = (uintptr_t)ss.ss_sp + ss.ss_size;
        }
        t->sp = t->stack_lo;
    }
}

static void park(gm_gthread *t, uint32_t epoch) {
    GM_STORE_REL(&t->ack_epoch, epoch + 1);
    __atomic_add_fetch(&stw_acks, 1, __ATOMIC_RELEASE);
    gm__futex_wake(&stw_acks);
    while (GM_LOAD_ACQ(&stw_epoch) == epoch) gm__futex_wait(&stw_epoch, epoch, 0);
}

static void suspend_handler(int sig, siginfo_t *info, void *ucv) {
    (void)sig;
    (void)info;
    int saved = errno;
    gm_gthread *t = gm__tls_gthread;
    uint32_t epoch = GM_LOAD_ACQ(&stw_epoch);
    /* A thread waiting for the gc lock already counts as stopped, with its
     * context saved: a late signal must not rewrite it under the marker. */
    if (t && !GM_LOAD(&t->blocked) && GM_LOAD_ACQ(&stw_active) &&
        GM_LOAD(&t->ack_epoch) != epoch + 1) {
        if (t->nosuspend > 0) {
            t->pending = epoch + 1;
        } else {
            ucontext_t *uc = ucv;
            save_context(t, uc, (uintptr_t)uc->uc_mcontext.gregs[REG_RSP]);
            park(t, epoch);
        }
    }
    errno = saved;
}

GM_NOINLINE void gm__suspend_deferred(gm_gthread *t) {
    uint32_t epoch = t->pending - 1;
    t->pending = 0;
    if (!GM_LOAD_ACQ(&stw_active) || GM_LOAD_ACQ(&stw_epoch) != epoch) return;
    ucontext_t uc;
    getcontext(&uc); /* callee-saved registers, unmangled */
    save_context(t, &uc, current_sp());
    park(t, epoch);
}

static void install_signal(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = suspend_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction((int)gm__opts.gc_signal, &sa, NULL) != 0)
        gm__fatal("cannot install the collector's signal handler", NULL);
}

static void unblock_signal(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, (int)gm__opts.gc_signal);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* Threads lock and gc lock (or a stopped world). */
static void unlink_thread(gm_gthread *t) {
    gm__gc.tiny_allocs += t->tiny_allocs;
    if (t->prev) t->prev->next = t->next;
    else gm__threads = t->next;
    if (t->next) t->next->prev = t->prev;
    gm__fixalloc_free(&gthread_alloc, t);
}

static void gthread_exit(void *v) {
    gm_gthread *t = v;
    if (gm__tls_gthread == t) gm_unregister_thread();
}

static void stack_bounds(uintptr_t *lo, uintptr_t *hi) {
    pthread_attr_t attr;
    void *addr;
    size_t size;
    *lo = *hi = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        *lo = (uintptr_t)addr;
        *hi = (uintptr_t)addr + size;
    }
    pthread_attr_destroy(&attr);
}

static void key_init(void) {
    if (pthread_key_create(&gthread_key, gthread_exit) != 0)
        gm__fatal("pthread_key_create failed", NULL);
}

GM_NOINLINE gm_gthread *gm__gthread_get(void) {
    gm_gthread *t = gm__tls_gthread;
    if (t) return t;
    gm__ensure_init();
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, key_init);
    uintptr_t lo, hi;
    stack_bounds(&lo, &hi); /* may allocate (the main thread reads /proc) */
    gm__lock(&gm__threads_lock);
    if (!gthread_alloc.size)
        gm__fixalloc_init(&gthread_alloc, sizeof(gm_gthread), &gm__heapstats.other_sys, true);
    t = gm__fixalloc_alloc(&gthread_alloc);
    if (t) {
        for (int i = 0; i < GM_GC_NUM_CLASSES; i++) t->alloc[i] = &gm__emptyspan;
        t->tid = (int)syscall(SYS_gettid);
        t->stack_lo = lo;
        t->stack_hi = hi ? hi : current_sp() + 4096;
        t->next = gm__threads;
        if (gm__threads) gm__threads->prev = t;
        gm__threads = t;
        gm__tls_gthread = t;
    }
    gm__unlock(&gm__threads_lock);
    if (t) {
        unblock_signal();
        pthread_setspecific(gthread_key, t);
    }
    return t;
}

/* The stop signal's handler, installed by the first gm_new or gm_gc (not
 * at registration: a preloaded program that never collects keeps its
 * own handler for that signal). */
void gm__stw_install(void) {
    gm__lock(&gm__threads_lock);
    if (!signal_installed) {
        install_signal();
        signal_installed = true;
    }
    gm__unlock(&gm__threads_lock);
}

int gm_register_thread(void) { return gm__gthread_get() ? 0 : ENOMEM; }

int gm_unregister_thread(void) {
    gm_gthread *t = gm__tls_gthread;
    if (!t) return 0;
    /* Still registered while waiting for the locks: a collection may stop
     * this thread meanwhile. */
    gm__gc_lock_acquire(true);
    gm__gthread_release_spans(t);
    gm__lock(&gm__threads_lock);
    gm__tls_gthread = NULL;
    unlink_thread(t);
    gm__unlock(&gm__threads_lock);
    gm__unlock(&gm__gc_lock);
    pthread_setspecific(gthread_key, NULL);
    return 0;
}

/* ---- pthread_create with registration ------------------------------------ */

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

/* Defined by override.c, so only in the product libraries. */
extern const char gm__override_present __attribute__((weak, visibility("hidden")));

/* In libgomalloc.so and .a, pthread_create is our override (override.c),
 * bound directly by -Bsymbolic-functions: the C library's is the next one.
 * The core (tests, sanitizer builds) calls pthread_create as it is, so
 * that a sanitizer's interceptor sees our threads. */
int gm__sys_pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *),
                           void *arg) {
    static create_fn real;
    create_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!f) {
        f = &gm__override_present ? (create_fn)dlsym(RTLD_NEXT, "pthread_create") : NULL;
        if (!f) f = pthread_create;
        __atomic_store_n(&real, f, __ATOMIC_RELEASE);
    }
    return f(th, attr, fn, arg);
}

typedef struct start_args {
    void *(*start)(void *);
    void *arg;
    bool rooted; /* the block is a root (gm_add_roots) until the child registers */
} start_args;

/* The child registers before it takes arg out of the block: until then
 * only the block holds it, and the child's stack is not a root yet. */
static void *registered_start(void *v) {
    gm__gthread_get();
    start_args a = *(start_args *)v;
    if (a.rooted) gm_remove_roots(v, (start_args *)v + 1);
    gm_free(v);
    return a.start(a.arg);
}

int gm_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                      void *(*start)(void *), void *arg) {
    /* Once the collector is on, arg (a collected object, perhaps the only
     * reference to it) must stay reachable until the child registers: the
     * block is a root meanwhile. It is malloc memory, not a collected
     * object, because its address stays in the child's struct pthread (at
     * the top of its stack, a root) for the child's whole life. Before the
     * collector is on no collected object exists. */
    start_args *a = gm_malloc(sizeof *a);
    if (!a) return EAGAIN;
    a->start = start;
    a->arg = arg;
    a->rooted = GM_LOAD_ACQ(&gm__gc.enabled);
    if (a->rooted) gm_add_roots(a, a + 1);
    int err = gm__sys_pthread_create(thread, attr, registered_start, a);
    if (err) {
        if (a->rooted) gm_remove_roots(a, a + 1);
        gm_free(a);
    }
    return err;
}

/* ---- stop and start ------------------------------------------------------- */

GM_NOINLINE void gm__gc_lock_slow(gm_gthread *t, bool save) {
    if (save) gm__save_self();
    GM_STORE_SC(&t->blocked, 1);
    gm__lock_park(&gm__gc_lock);
    GM_STORE(&t->blocked, 0); /* the cycle is over: it held the gc lock */
}

/* Go's entersyscallblock/exitsyscall for a registered thread that is
 * about to sleep outside the heap (a channel wait): asleep, it counts as
 * stopped with the context saved here, so a collection neither signals it
 * (a signal would only wake it; under ThreadSanitizer it would not even
 * arrive while the thread sleeps in a raw futex) nor waits for it. The
 * caller's frames stay as they are while it sleeps. */
GM_NOINLINE void gm__blocking_begin(void) {
    gm_gthread *t = gm__tls_gthread;
    if (!t) return;
    gm__save_self();
    GM_STORE_SC(&t->blocked, 1);
}

/* Awake again. A stop that found the thread asleep claimed it (blocked
 * 1 -> 2) and may be scanning the saved context: then wait for the world
 * to restart before running, and release the claim once no stop is in
 * progress. Unclaimed (1 -> 0 wins), the collector sees the thread running
 * and signals it as any other. */
void gm__blocking_end(void) {
    gm_gthread *t = gm__tls_gthread;
    if (!t) return;
    for (;;) {
        uint32_t v = 1;
        if (__atomic_compare_exchange_n(&t->blocked, &v, 0, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return;
        uint32_t epoch = GM_LOAD_ACQ(&stw_epoch);
        if (GM_LOAD_SC(&stw_active)) {
            while (GM_LOAD_ACQ(&stw_epoch) == epoch) gm__futex_wait(&stw_epoch, epoch, 0);
        } else {
            v = 2; /* a finished stop's claim */
            __atomic_compare_exchange_n(&t->blocked, &v, 1, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST);
        }
    }
}

/* Stopped: acknowledged this stop, or asleep with its context saved
 * (waiting for the gc lock, which the collector holds until the world
 * restarts, or parked in a channel: see gm__blocking_begin). */
static bool stopped(gm_gthread *t, uint32_t epoch) {
    if (GM_LOAD_ACQ(&t->ack_epoch) == epoch + 1) return true;
    uint32_t b = 1; /* asleep: claim it, so it cannot run until the restart */
    if (__atomic_compare_exchange_n(&t->blocked, &b, 2, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST))
        return true;
    return b == 2;
}

static int signal_thread(gm_gthread *t) {
    return (int)syscall(SYS_tgkill, getpid(), t->tid, (int)gm__opts.gc_signal) == 0 ? 0 : errno;
}

/* Signal every other thread whose acknowledgement is missing; drop the dead. */
static int signal_all(gm_gthread *self, uint32_t epoch) {
    int waiting = 0;
    gm_gthread *next;
    for (gm_gthread *t = gm__threads; t; t = next) {
        next = t->next;
        if (t == self || stopped(t, epoch)) continue;
        if (signal_thread(t) == ESRCH) {
            gm__gthread_release_spans(t);
            unlink_thread(t);
            continue;
        }
        waiting++;
    }
    return waiting;
}

static bool all_acked(gm_gthread *self, uint32_t epoch) {
    for (gm_gthread *t = gm__threads; t; t = t->next)
        if (t != self && !stopped(t, epoch)) return false;
    return true;
}

/* The collecting thread's roots: its registers now and its stack from
 * the caller's frame up. Called where a cycle is entered, before any of
 * the collector's frames: those hold no roots (a value of the caller's
 * that they spill is in the registers saved here), only stale addresses
 * that would keep garbage alive. */
void gm__save_self_at(uintptr_t sp) {
    gm_gthread *t = gm__tls_gthread;
    if (!t) return;
    memset(t->regs, 0, sizeof t->regs); /* spilled into the frames above sp */
    t->sp = sp;
    t->altstack_lo = t->altstack_hi = 0;
}

GM_NOINLINE void gm__save_self(void) {
    gm_gthread *t = gm__tls_gthread;
    if (!t) return;
    ucontext_t uc;
    getcontext(&uc);
    save_context(t, &uc, current_sp());
}

void gm__stop_the_world(void) {
    gm__lock(&gm__threads_lock);
    gm_gthread *self = gm__tls_gthread;
    uint32_t epoch = GM_LOAD(&stw_epoch);
    GM_STORE_SC(&stw_active, 1);
    if (!signal_all(self, epoch)) return;
    uint64_t resend = gm__nanotime() + 100000000u;
    for (;;) {
        uint32_t acks = GM_LOAD_ACQ(&stw_acks);
        if (all_acked(self, epoch)) break;
        gm__futex_wait(&stw_acks, acks, 1000000u);
        if (gm__nanotime() > resend) {
            signal_all(self, epoch);
            resend = gm__nanotime() + 100000000u;
        }
    }
}

void gm__start_the_world(void) {
    GM_STORE_SC(&stw_active, 0);
    __atomic_add_fetch(&stw_epoch, 1, __ATOMIC_SEQ_CST);
    gm__futex_wake(&stw_epoch);
    gm__unlock(&gm__threads_lock);
}

/* In a fork child only the forking thread exists: forget the others. The
 * caller holds (reinitialised) the gc and threads locks. */
void gm__stw_fork_child(void) {
    gm_gthread *next;
    for (gm_gthread *t = gm__threads; t; t = next) {
        next = t->next;
        if (t != gm__tls_gthread) {
            gm__gthread_release_spans(t);
            unlink_thread(t);
        }
    }
    stw_active = 0;
}
