/*
 * gomalloc/chan.h — Go's channels and select for C threads, on the
 * collected heap.
 *
 *     static const gm_type int_type = GM_TYPE_NOPTRS(int64_t);
 *     gm_chan *c = gm_make_chan(&int_type, 16);   // make(chan int64, 16)
 *     gm_chan_send(c, &(int64_t){42});             // c <- 42
 *     int64_t v;
 *     bool ok = gm_chan_recv(c, &v);               // v, ok := <-c
 *     gm_chan_close(c);                            // close(c)
 *
 * As in Go (runtime/chan.go, select.go):
 *   - A send to a waiting receiver copies straight into the receiver's
 *     variable; an unbuffered channel (cap 0) makes sender and receiver
 *     meet; a buffered one is a FIFO ring of cap elements.
 *   - A receive from a closed, drained channel returns false at once and
 *     zeroes the value. Send on a closed channel, close of a closed
 *     channel and close of a nil channel are fatal errors with Go's panic
 *     messages ("send on closed channel", ...). Closing wakes every
 *     waiter: receivers get zero values and false, blocked senders die.
 *   - A NULL channel is Go's nil channel: a send or receive on it blocks
 *     forever, and it is never ready in a select.
 *   - The channel is a collected object: reclaimed when unreachable (a
 *     thread blocked on it keeps it reachable); the elements in its
 *     buffer keep what they point to alive (the element type says where
 *     its pointers are: GM_TYPE, GM_TYPE_POINTER, GM_TYPE_NOPTRS).
 *   - Allocations are Go's makechan's: one object when there is no
 *     buffer memory (cap 0 or elements of size 0) or the elements hold no
 *     pointers (header and buffer together, noscan), two when they do
 *     (the header, then the buffer typed by the element type).
 *   - Operations never allocate. A blocked thread spins briefly, then
 *     sleeps in the kernel (futex) until a partner wakes exactly it.
 *   - Any thread may use a channel; using one registers the thread with
 *     the collector (values it receives on its stack are roots).
 */
#ifndef GOMALLOC_CHAN_H
#define GOMALLOC_CHAN_H

#include <stdbool.h>
#include <stdint.h>

#include "../gomalloc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gm_chan gm_chan;

/* make(chan T, cap). elem describes T (NULL: a 0-byte element, Go's
 * chan struct{}); it must outlive the channel. T must be smaller than 64
 * KiB (fatal "makechan: invalid channel element type") and aligned to at
 * most 8 (fatal "makechan: bad alignment"); cap * size beyond the address
 * space is fatal "makechan: size out of range". Out of memory is fatal, as
 * in Go. */
GM_API gm_chan *gm_make_chan(const gm_type *elem, size_t cap);

/* c <- *v: blocks until a receiver takes the value or the buffer has
 * room. v points to one element (may be NULL for 0-byte elements). */
GM_API void gm_chan_send(gm_chan *c, const void *v);
/* *v, ok = <-c: blocks until a value arrives or c is closed and drained;
 * then *v is zeroed and false returned. v may be NULL (<-c, value
 * discarded). */
GM_API bool gm_chan_recv(gm_chan *c, void *v);
/* select { case c <- *v: return true; default: return false }. */
GM_API bool gm_chan_try_send(gm_chan *c, const void *v);
/* select { case *v, *ok = <-c: return true; default: return false }.
 * ok may be NULL. */
GM_API bool gm_chan_try_recv(gm_chan *c, void *v, bool *ok);
/* close(c). */
GM_API void gm_chan_close(gm_chan *c);
/* len(c), cap(c); 0 for NULL. len is a snapshot, as in Go. */
GM_API size_t gm_chan_len(const gm_chan *c);
GM_API size_t gm_chan_cap(const gm_chan *c);

/* ---- select --------------------------------------------------------------- */

enum { GM_SELECT_SEND = 1, GM_SELECT_RECV = 2 };
/* gm_select's results besides a case index. */
enum { GM_SELECT_DEFAULT = -1, GM_SELECT_TIMEOUT = -2 };

/* One case of a select. c NULL: never ready (Go's nil channel case). dir:
 * GM_SELECT_SEND sends *val; GM_SELECT_RECV receives into val (NULL:
 * discard). ok is written for the chosen case only: for a receive, false
 * if the channel was closed and drained (val zeroed); true for a send. */
typedef struct gm_select_case {
    gm_chan *c;
    int dir;
    void *val;
    bool ok;
} gm_select_case;

/* Go's select over cases[0..n): returns the index of the case that
 * proceeded. If several are ready, one is chosen uniformly at random.
 * If none is: with has_default returns GM_SELECT_DEFAULT at once; else
 * waits, for at most timeout_ns nanoseconds if timeout_ns >= 0
 * (GM_SELECT_TIMEOUT when it passes; 0 = just poll), forever if
 * timeout_ns < 0. n == 0 with neither blocks forever (select {}). A send
 * case on a closed channel is fatal ("send on closed channel"), also when
 * the close happens while the select waits. Cases beyond 64 cost one
 * gm_malloc per call for scratch space. */
GM_API int gm_select(gm_select_case *cases, size_t n, bool has_default, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif /* GOMALLOC_CHAN_H */
