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

/* Copies up to cap records (after counting the frees not folded yet) and
 * returns how many there are. The stacks stay valid forever. */
GM_INTERNAL size_t gm__mprof_records(gm_mprof_record *out, size_t cap);
/* Fix the calling thread's sampling draws (tests); 0: random again. */
GM_INTERNAL void gm__mprof_seed(uint64_t seed);

/* pprof.c: write records as a gzipped profile.proto heap profile to fd:
 * Go's sample types (alloc_objects/count, alloc_space/bytes,
 * inuse_objects/count, inuse_space/bytes), period_type space/bytes,
 * period = rate, values unsampled as Go's scaleHeapSample does, a "bytes"
 * label per sample, mappings and function names from symtab.c, and
 * gomalloc's own leading frames dropped: the run of frames, starting
 * within the innermost four, that lie in gomalloc's shared library or are
 * named gm_*, malloc & co., __libc_malloc & co. or operator new (at least
 * one frame is kept). May call malloc (the caller has turned sampling off
 * for this thread); frees all it allocates. Writes with write(2) only,
 * retrying short writes and EINTR. 0, or -1 with errno. */
GM_INTERNAL int gm__pprof_write_heap(int fd, const gm_mprof_record *recs, size_t n,
                                     uint64_t rate, uint64_t time_ns);

/* symtab.c: the process's loaded objects and the names of their functions,
 * read in-process for the writer. A table is a snapshot of the objects
 * loaded when it is opened, owned by one thread until closed. */
typedef struct gm_symtab gm_symtab;
typedef struct gm_symtab_mapping {
    uint64_t start, limit, offset; /* an executable segment, page-aligned */
    const char *filename;          /* the program's path for the program */
    const char *build_id;          /* GNU build ID in lowercase hex, or "" */
    bool gomalloc;                 /* in gomalloc itself, a shared library */
    size_t object;                 /* symtab.c's: the loaded object */
} gm_symtab_mapping;
typedef struct gm_symtab_frame {
    const char *name;        /* demangled; "obj+0x..." or "0x..." if unknown */
    const char *system_name; /* the symbol as in the file (mangled) */
    int mapping;             /* index in the mappings, -1 for none */
} gm_symtab_frame;
/* NULL with errno on failure. The program's mapping comes first. */
GM_INTERNAL gm_symtab *gm__symtab_open(void);
GM_INTERNAL void gm__symtab_close(gm_symtab *t);
GM_INTERNAL size_t gm__symtab_mappings(const gm_symtab *t, const gm_symtab_mapping **maps);
/* The function containing code address addr (a return address - 1). The
 * names stay valid until the next lookup or close. Never fails: an
 * address without a symbol gets a made-up name. */
GM_INTERNAL gm_symtab_frame gm__symtab_lookup(gm_symtab *t, uintptr_t addr);

#endif
