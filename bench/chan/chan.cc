/*
 * chan.cc — the channel benchmarks on moodycamel's concurrentqueue (Debian
 * libconcurrentqueue-dev, header-only; see chb_common.h for the workloads):
 *
 *   chan_mc pingpong N | buffered P C CAP N | select K CAP N
 *
 * moodycamel has no channel, so a channel of capacity CAP (class Chan) is
 * built from its pieces, as a C++ program that wants Go's blocking both
 * ways would: moodycamel::ConcurrentQueue<int64_t> (lock-free MPMC) with a
 * moodycamel::LightweightSemaphore counting its items — which is exactly
 * moodycamel::BlockingConcurrentQueue (a receiver waits on the semaphore,
 * spinning first, then sleeping in the kernel, then try_dequeues) — plus a
 * second LightweightSemaphore of CAP free slots (a sender blocks while CAP
 * items wait) and a closed flag (close gives every receiver a token; a
 * receiver that finds the queue closed and empty gets ok = false).
 * Not Go's semantics in two ways, both in the queue's favour: there is no
 * unbuffered rendezvous (pingpong uses capacity 1: a sender does not wait
 * for its receiver, which in a ping-pong changes nothing, since each side
 * waits for the other's reply anyway; select with CAP 0 is not run), and
 * FIFO order holds per producer only (so close cannot be a poison pill
 * queued behind the items: with 4 producers a pill can overtake an item).
 * Select over K channels: K Chans sharing one items semaphore, which thus
 * counts the items and closes of all K; the consumer waits on it, then
 * tries the channels from a random start (Go's select picks a ready case
 * at random), dropping a channel found closed and drained.
 */
#include "chb_common.h"

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <concurrentqueue/blockingconcurrentqueue.h>
#include <concurrentqueue/concurrentqueue.h>
#include <concurrentqueue/lightweightsemaphore.h>

namespace {

using moodycamel::LightweightSemaphore;

/* A channel of capacity cap: moodycamel's ConcurrentQueue with a
 * LightweightSemaphore counting its items (what BlockingConcurrentQueue
 * is: wait on the semaphore, then try_dequeue until the item shows), plus
 * a LightweightSemaphore of free slots (send blocks while cap items wait)
 * and a closed flag. The items semaphore may be shared by several channels
 * (the select emulation); the consumer side of such a group is one thread. */
class Chan {
  public:
    explicit Chan(size_t cap, LightweightSemaphore *items = nullptr)
        : q_(cap < 32 ? 32 : cap), slots_((LightweightSemaphore::ssize_t)cap), items_(items ? items : &own_)
    {
    }
    void send(int64_t v)
    {
        slots_.wait();
        q_.enqueue(v);
        items_->signal();
    }
    /* close(c) for a channel with `receivers` receiving threads: one
     * token each, so that every one of them wakes and sees it. */
    void close(int receivers)
    {
        closed_.store(true, std::memory_order_release);
        items_->signal(receivers);
    }
    /* v, ok := <-c */
    bool recv(int64_t &v)
    {
        items_->wait();
        for (;;) {
            if (int r = try_take(v))
                return r > 0;
        }
    }
    /* After a token of the items semaphore: 1 took an item, -1 closed and
     * drained, 0 neither (an item in flight, or the token is another
     * channel's of the group). */
    int try_take(int64_t &v)
    {
        if (q_.try_dequeue(v)) {
            slots_.signal();
            return 1;
        }
        /* No enqueue follows close: once closed, an empty queue stays so. */
        if (closed_.load(std::memory_order_acquire) && q_.size_approx() == 0)
            return -1;
        return 0;
    }

  private:
    moodycamel::ConcurrentQueue<int64_t> q_;
    LightweightSemaphore slots_, own_;
    LightweightSemaphore *items_;
    std::atomic<bool> closed_{false};
};

chb_args A;
pthread_barrier_t start;

int pingpong()
{
    Chan ping(1), pong(1);
    std::thread echo([&] {
        int64_t v;
        while (ping.recv(v))
            pong.send(2 * v + 1);
    });
    uint64_t w = chb_warmup(A.n), sum = 0;
    int64_t t0 = 0;
    for (uint64_t i = 1; i <= w + A.n; i++) {
        if (i == w + 1)
            t0 = chb_now_ns();
        ping.send((int64_t)i);
        int64_t r;
        pong.recv(r);
        sum += chb_mix((uint64_t)r);
    }
    int64_t t1 = chb_now_ns();
    ping.close(1);
    echo.join();
    chb_phase("roundtrip", A.n, t1 - t0);
    printf("pingpong n=%llu warmup=%llu checksum=%016llx\n", (unsigned long long)A.n, (unsigned long long)w,
           (unsigned long long)sum);
    uint64_t want = 0;
    for (uint64_t i = 1; i <= w + A.n; i++)
        want += chb_mix(2 * i + 1);
    return sum == want ? 0 : 1;
}

int buffered()
{
    Chan ch(A.cap);
    pthread_barrier_init(&start, nullptr, (unsigned)(A.p + A.c + 1));
    uint64_t per = A.n / A.p;
    std::vector<uint64_t> items(A.c), sums(A.c);
    std::vector<std::thread> prod, cons;
    for (uint64_t j = 0; j < A.c; j++)
        cons.emplace_back([&, j] {
            pthread_barrier_wait(&start);
            uint64_t n = 0, s = 0;
            int64_t v;
            while (ch.recv(v)) {
                n++;
                s += chb_mix((uint64_t)v);
            }
            items[j] = n;
            sums[j] = s;
        });
    for (uint64_t p = 0; p < A.p; p++)
        prod.emplace_back([&, p] {
            pthread_barrier_wait(&start);
            for (uint64_t i = 0; i < per; i++)
                ch.send((int64_t)(p * per + i + 1));
        });
    pthread_barrier_wait(&start);
    int64_t t0 = chb_now_ns();
    for (auto &t : prod)
        t.join();
    ch.close((int)A.c);
    uint64_t n = 0, s = 0;
    for (uint64_t j = 0; j < A.c; j++) {
        cons[j].join();
        n += items[j];
        s += sums[j];
    }
    int64_t t1 = chb_now_ns();
    return chb_report(&A, t1 - t0, n, s);
}

int selectk()
{
    if (A.cap == 0) {
        fprintf(stderr, "chan_mc: no unbuffered queue in moodycamel: select needs CAP > 0\n");
        return 2;
    }
    LightweightSemaphore ready; /* the items of all K channels */
    std::vector<std::unique_ptr<Chan>> chs;
    for (uint64_t k = 0; k < A.p; k++)
        chs.emplace_back(new Chan(A.cap, &ready));
    pthread_barrier_init(&start, nullptr, (unsigned)(A.p + 1));
    uint64_t per = A.n / A.p;
    std::vector<std::thread> prod;
    for (uint64_t k = 0; k < A.p; k++)
        prod.emplace_back([&, k] {
            Chan &c = *chs[k];
            pthread_barrier_wait(&start);
            for (uint64_t i = 0; i < per; i++)
                c.send((int64_t)(k * per + i + 1));
            c.close(1);
        });
    pthread_barrier_wait(&start);
    int64_t t0 = chb_now_ns();
    uint64_t items = 0, sum = 0, live = A.p, rng = 0x9e3779b97f4a7c15ULL;
    std::vector<bool> dead(A.p);
    while (live > 0) {
        ready.wait(); /* an item or a close of one of the K */
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17; /* xorshift64 */
        int64_t v = 0;
        int r = 0;
        for (uint64_t j = rng % A.p;; j = j + 1 == A.p ? 0 : j + 1) {
            if (dead[j])
                continue;
            if ((r = chs[j]->try_take(v)) != 0) {
                if (r < 0) /* closed: ch = nil */
                    dead[j] = true;
                break;
            }
        }
        if (r < 0) {
            live--;
            continue;
        }
        items++;
        sum += chb_mix((uint64_t)v);
    }
    int64_t t1 = chb_now_ns();
    for (auto &t : prod)
        t.join();
    return chb_report(&A, t1 - t0, items, sum);
}

} // namespace

int main(int argc, char **argv)
{
    A = chb_parse(argc, argv);
    int rc = A.kind == 'p' ? pingpong() : A.kind == 'b' ? buffered() : selectk();
    fflush(stdout);
    return rc;
}
