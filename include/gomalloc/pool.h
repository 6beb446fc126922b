/*
 * gomalloc/pool.h — Go's sync.Pool for C: a cache of collected objects
 * that the collector empties over two cycles.
 *
 *     static void *new_buf(void *arg) { (void)arg; return gm_new_noscan(4096); }
 *     gm_pool *pool = gm_pool_new(new_buf, NULL);
 *     char *b = gm_pool_get(pool);   // a pooled buffer, or new_buf's
 *     ...
 *     gm_pool_put(pool, b);          // may be handed out again, or collected
 *
 * As in Go:
 *   - Get takes the calling thread's private slot, then the head of its
 *     own shared chain, then steals from the tails of other threads'
 *     chains, then the victim cache, then calls new_fn (NULL if there is
 *     none). Put fills the private slot, else pushes onto the thread's
 *     shared chain (lock-free ring buffers of 8, 16, ... slots).
 *   - Each collection moves the pool's contents to the victim cache and
 *     drops the previous victim: an object put and never taken again is
 *     collected by the second cycle after. With no collection at all the
 *     pool is a plain cache.
 *   - Objects must be collected ones (gm_new*): the pool holds them, and
 *     the collector reclaims what it drops. Put(NULL) does nothing.
 *   - Any thread may Get and Put; using a pool registers the thread with
 *     the collector. Up to 1024 threads have a slot of their own at a time;
 *     beyond that a thread's Put leaves the object to the collector and its
 *     Get only steals or calls new_fn.
 */
#ifndef GOMALLOC_POOL_H
#define GOMALLOC_POOL_H

#include "../gomalloc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gm_pool gm_pool;

/* A new pool whose Get calls new_fn(arg) when it has nothing (Go's New;
 * may be NULL). The pool lives until gm_pool_free. NULL + ENOMEM on OOM. */
GM_API gm_pool *gm_pool_new(void *(*new_fn)(void *arg), void *arg);
/* Go's Pool.Get: an object from the pool, or new_fn's, or NULL. */
GM_API void *gm_pool_get(gm_pool *p);
/* Go's Pool.Put. */
GM_API void gm_pool_put(gm_pool *p, void *x);
/* Forget the pool; its objects are left to the collector. No Get or Put
 * may run on it concurrently. */
GM_API void gm_pool_free(gm_pool *p);

#ifdef __cplusplus
}
#endif
#endif /* GOMALLOC_POOL_H */
