/*
 * Chapter 7 of `gomalloc demo` (and `gomalloc demo-chan`): where a
 * channel's buffer comes from — the article's question, answered by
 * makechan on our heap. Mallocs and bytes from gm_read_memstats, classes
 * from gm_span_inspect.
 */
#include <gomalloc.h>
#include <gomalloc/chan.h>
#include <gomalloc/slice.h>
#include <stdio.h>

#include "demo.h"

struct node { struct node *next; int64_t v; };

static const gm_type int_type = GM_TYPE_NOPTRS(int64_t);
static const gm_type ptr_type = GM_TYPE_POINTER(struct node *);

typedef struct delta { uint64_t mallocs, bytes; } delta;

static delta stats_now(void) {
    static gm_memstats m; /* large: off the stack */
    gm_read_memstats(&m);
    return (delta){m.mallocs, m.total_alloc};
}

static const char *kind_name(int k) {
    return k == GM_GC_NOSCAN ? "noscan" : k == GM_GC_TYPED ? "scan (typed)" : "scan";
}

/* One line: what a make allocated, and the class of the object at p. */
static void show(const char *what, const void *p, delta d0, delta d1) {
    gm_span_info si;
    printf("  %-24s %llu malloc(s), %5llu B", what, (unsigned long long)(d1.mallocs - d0.mallocs),
           (unsigned long long)(d1.bytes - d0.bytes));
    if (p && gm_span_inspect(p, &si) == 0 && si.object_base == (uintptr_t)p)
        printf("   first object: class %2d (%4zu B), span class %3d, %s", si.size_class,
               si.elemsize, si.span_class, kind_name(si.gc_kind));
    printf("\n");
}

static __attribute__((noinline)) void chan_cases(void) {
    delta d0 = stats_now();
    gm_chan *unbuf = gm_make_chan(&int_type, 0);
    delta d1 = stats_now();
    show("make(chan int64)", unbuf, d0, d1);
    d0 = stats_now();
    gm_chan *ints = gm_make_chan(&int_type, 100);
    d1 = stats_now();
    show("make(chan int64, 100)", ints, d0, d1);
    d0 = stats_now();
    gm_slice s = gm_make_slice(&int_type, 100, 100);
    d1 = stats_now();
    show("make([]int64, 100)", s.array, d0, d1);
    d0 = stats_now();
    gm_chan *ptrs = gm_make_chan(&ptr_type, 100);
    d1 = stats_now();
    show("make(chan *node, 100)", ptrs, d0, d1);
    d0 = stats_now();
    gm_slice ps = gm_make_slice(&ptr_type, 100, 100);
    d1 = stats_now();
    show("make([]*node, 100)", ps.array, d0, d1);
    gm_keep_alive(unbuf);
    gm_keep_alive(ints);
    gm_keep_alive(ptrs);
}

void demo_chan(void) {
    demo_heading("7. Channels: does the buffer share the header's allocation?");
    printf("Go's makechan has three cases, and so does gm_make_chan:\n"
           "  - no buffer memory (unbuffered, or 0-byte elements): the hchan header only;\n"
           "  - elements without pointers: header and buffer in ONE noscan object;\n"
           "  - elements with pointers: the header, then the buffer as its own typed\n"
           "    object (the collector must scan the buffer, not the header's ints).\n\n");
    chan_cases();
    printf("\n  make(chan int64, 100) is one object: the header followed by 800 bytes of\n"
           "  buffer, in one noscan size class. make(chan *node, 100) is two: the header,\n"
           "  and an 800-byte buffer in the same class and span class as make([]*node,\n"
           "  100)'s array, scanned precisely. So the answer to the article's question is\n"
           "  \"it depends on the element type\", not on buffered versus unbuffered alone.\n");
}
