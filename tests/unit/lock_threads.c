/* The futex mutex (lock_futex.c): mutual exclusion under contention, and
 * waiters that spin briefly then sleep in the kernel: never sched_yield
 * (counted by defining it here, ahead of the C library's), and no CPU
 * burnt while the holder keeps the lock for long. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "test.h"

static atomic_long yields;

int sched_yield(void) {
    atomic_fetch_add(&yields, 1);
    return (int)syscall(SYS_sched_yield);
}

static gm_mutex lock = GM_MUTEX_INIT;
static long counter; /* [lock] */

static void hold_for_us(long us) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

enum { THREADS = 4, ROUNDS = 400 };

static void *contend(void *arg) {
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        gm__lock(&lock);
        long v = counter;
        if (i % 8 == 0) hold_for_us(50); /* longer than any spin */
        counter = v + 1;
        gm__unlock(&lock);
    }
    return NULL;
}

TEST(contended_lock_excludes_and_never_yields) {
    pthread_t t[THREADS];
    atomic_store(&yields, 0);
    for (int i = 0; i < THREADS; i++) REQUIRE(pthread_create(&t[i], NULL, contend, NULL) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK_EQ(counter, THREADS * ROUNDS);
    CHECK_EQ(atomic_load(&yields), 0);
}

static double thread_cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static atomic_int waiting;

static void *waiter(void *arg) {
    double c0 = thread_cpu_ms();
    atomic_store(&waiting, 1);
    gm__lock(&lock);
    gm__unlock(&lock);
    *(double *)arg = thread_cpu_ms() - c0;
    return NULL;
}

TEST(a_waiter_sleeps_while_the_holder_keeps_the_lock) {
    double cpu = -1;
    pthread_t t;
    gm__lock(&lock);
    REQUIRE(pthread_create(&t, NULL, waiter, &cpu) == 0);
    while (!atomic_load(&waiting)) hold_for_us(100);
    hold_for_us(300000); /* 300 ms */
    gm__unlock(&lock);
    pthread_join(t, NULL);
    CHECK(cpu >= 0 && cpu < 30); /* a spinner would have burnt ~300 ms */
}

TEST_MAIN()
