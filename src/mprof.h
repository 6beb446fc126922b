/*
 * The heap profiler's internal interface (mprof.c samples and keeps the
 * buckets; pprof.c encodes them; symtab.c names the addresses). See the
 * essay at the top of mprof.c.
 */
#ifndef GM_MPROF_H
#define GM_MPROF_H
#include "internal.h"

#define GM_MPROF_MAX_STACK 64 /* frames kept per sample (Go keeps 128; 32 by default) */

/* One bucket of the profile: a call stack and an object size with its
 * sampled (not yet unsampled) counts. Go's bucket with its memRecord. */
typedef struct gm_mprof_record {
    const uintptr_t *stack; /* return addresses, innermost first; may start
                               with gomalloc's own frames (the writer drops
                               them) */
    uint32_t nstack;
    uint64_t size;          /* bytes of each object of the bucket */
    uint64_t alloc_objects, alloc_bytes; /* sampled allocations */
    uint64_t free_objects, free_bytes;   /* sampled frees */
} gm_mprof_record;

/* pprof.c: write records as a gzipped profile.proto heap profile to fd:
 * Go's sample types (alloc_objects/count, alloc_space/bytes,
 * inuse_objects/count, inuse_space/bytes), period_type space/bytes,
 * period = rate, values unsampled as Go's scaleHeapSample does, a "bytes"
 * label per sample, mappings and function names from symtab.c, and
 * gomalloc's own leading frames dropped. May call malloc (the caller has
 * turned sampling off for this thread). 0, or -1 with errno. */
GM_INTERNAL int gm__pprof_write_heap(int fd, const gm_mprof_record *recs, size_t n,
                                     uint64_t rate, uint64_t time_ns);

#endif
