/*
 * Futex-based mutex (Go's lock_futex.go). See malloc.c for the design.
 * The fast paths are inline in internal.h; this file holds the contended
 * paths. A lock is one int: 0 unlocked, 1 locked, 2 locked with waiters.
 * Spins briefly first (the critical sections in gomalloc are short), then
 * sleeps in the kernel. Never sched_yield: with more threads than cores a
 * yielding waiter burns system time and hands the CPU to other waiters
 * rather than to the holder (Go's lock yields once; issue 14 measured 633
 * yields in mimalloc's stress test).
 */
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <time.h>

#include "mgc.h"

enum { SPIN = 128 };

/* ThreadSanitizer runs a signal's handler only when the thread next enters
 * its runtime (an interceptor, an instrumented atomic), never inside a raw
 * futex wait. A waiter asleep there could not answer the collector's stop
 * signal while the lock's holder sits stopped with the lock: the stop
 * would wait for it forever. Under TSan a wait is therefore a 1 ms poll
 * (each retry's atomic exchange lets the signal in). */
#if defined(__SANITIZE_THREAD__)
#define GM_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GM_TSAN_BUILD 1
#endif
#endif

static void futex_wait(int *addr, int val) {
#ifdef GM_TSAN_BUILD
    struct timespec poll = {0, 1000000};
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &poll, NULL, 0);
#else
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#endif
}

static void futex_wake1(int *addr) {
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Marks the lock contended and sleeps until this thread takes it: whoever
 * unlocks a contended lock wakes a sleeper. */
static void lock_sleep(gm_mutex *m) {
    while (__atomic_exchange_n(&m->state, 2, __ATOMIC_ACQUIRE) != 0)
        futex_wait(&m->state, 2);
}

void gm__lock_slow(gm_mutex *m) {
    for (int i = 0; i < SPIN; i++) {
        int expected = 0;
        int st = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
        if (st == 0 && __atomic_compare_exchange_n(&m->state, &expected, 1, false,
                                                   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
        if (st == 2) break; /* others already sleep: the holder is slow */
        __builtin_ia32_pause();
    }
    lock_sleep(m);
}

void gm__unlock_slow(gm_mutex *m) { futex_wake1(&m->state); }

/* For the gc lock, which a collection holds for a whole cycle: wait in the
 * kernel at once. Spinning or yielding would only take the CPU from the
 * holder (and with GOGC=1 cycles follow each other closely). */
void gm__lock_park(gm_mutex *m) {
    int expected = 0;
    if (__atomic_compare_exchange_n(&m->state, &expected, 1, false, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED))
        return;
    lock_sleep(m);
}

/* For the collector's sleeps and wake-ups (mgc.h). timeout_ns 0 = none. */
void gm__futex_wait(uint32_t *addr, uint32_t val, uint64_t timeout_ns) {
    struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, timeout_ns ? &ts : NULL, NULL, 0);
}

void gm__futex_wake(uint32_t *addr) {
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}
