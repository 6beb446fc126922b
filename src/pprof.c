/*
 * The heap profile writer: mprof.c's records as a gzipped profile.proto
 * (perftools.profiles.Profile), the format `go tool pprof` reads. See the
 * essay at the top of mprof.c (the allocator's is at the top of malloc.c).
 *
 * The profile is Go's heap profile: sample types alloc_objects/count,
 * alloc_space/bytes, inuse_objects/count, inuse_space/bytes (the default),
 * period_type space/bytes with period = the sampling rate, and per record
 * one Sample whose values are unsampled as Go's runtime/pprof does (see
 * unsample) and whose numeric label "bytes" is the object size. Locations
 * are deduplicated by address and Functions by name; the Mappings and
 * names come from symtab.c, so the profile needs no binary to be read.
 *
 * Encoding. Protocol buffers are tag-length-value: a nested message needs
 * its length before its bytes, so each top-level message (a Sample, a
 * Location...) is built in a small scratch buffer and then appended to the
 * output. The Profile itself is a plain sequence of top-level fields, so
 * the output streams: it is deflated (gzip framing) and written to the fd
 * 64 KiB at a time. Memory grows with the distinct return addresses and
 * names (the tables below) plus fixed buffers, not with the size of the
 * output, and is all freed before returning.
 *
 * Two passes over the records: the first resolves every distinct return
 * address once (name, mapping, whether it is gomalloc's own code); the
 * second drops each stack's leading gomalloc frames and numbers the
 * Locations and Functions that remain in use, in order of first use.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "mprof.h"

/* ---- profile.proto field numbers ---------------------------------------- */
enum {
    PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3,
    PROFILE_LOCATION = 4, PROFILE_FUNCTION = 5, PROFILE_STRING_TABLE = 6,
    PROFILE_TIME_NANOS = 9, PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12,
    PROFILE_DEFAULT_SAMPLE_TYPE = 14,
    VALUE_TYPE_TYPE = 1, VALUE_TYPE_UNIT = 2,
    SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3,
    LABEL_KEY = 1, LABEL_NUM = 3,
    MAPPING_ID = 1, MAPPING_START = 2, MAPPING_LIMIT = 3, MAPPING_OFFSET = 4,
    MAPPING_FILENAME = 5, MAPPING_BUILD_ID = 6, MAPPING_HAS_FUNCTIONS = 7,
    LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_ADDRESS = 3, LOCATION_LINE = 4,
    LINE_FUNCTION_ID = 1,
    FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_SYSTEM_NAME = 3,
};
enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

/* The strings every profile has, interned first in this order ("" is
 * index 0, as profile.proto requires). */
enum { S_EMPTY, S_ALLOC_OBJECTS, S_ALLOC_SPACE, S_INUSE_OBJECTS, S_INUSE_SPACE,
       S_COUNT, S_BYTES, S_SPACE, S_NFIXED };
static const char *const fixed_strings[S_NFIXED] = {
    "", "alloc_objects", "alloc_space", "inuse_objects", "inuse_space",
    "count", "bytes", "space"};

#define OUT_CHUNK (64 << 10) /* bytes deflated, and written, at a time */
/* The sampler's own helper functions (static, so not named gm_*) may sit
 * innermost, before the first frame the rules below recognise. */
#define HIDDEN_FRAMES_MAX 3

/* ---- a growable byte buffer and protobuf primitives ---------------------- */

typedef struct pbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom; /* an append failed: the buffer is incomplete */
} pbuf;

static bool pb_reserve(pbuf *b, size_t n) {
    if (b->oom) return false;
    if (b->len + n <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void pb_bytes(pbuf *b, const void *p, size_t n) {
    if (!pb_reserve(b, n)) return;
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void pb_varint(pbuf *b, uint64_t v) {
    if (!pb_reserve(b, 10)) return;
    while (v >= 0x80) {
        b->p[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->p[b->len++] = (uint8_t)v;
}

static void pb_tag(pbuf *b, uint32_t field, unsigned wire) {
    pb_varint(b, (uint64_t)field << 3 | wire);
}

/* A scalar field; int64 values go as their two's complement, as proto. */
static void pb_int(pbuf *b, uint32_t field, uint64_t v) {
    pb_tag(b, field, WIRE_VARINT);
    pb_varint(b, v);
}

/* Omitted when zero, proto3's default (what decoders assume). */
static void pb_int_opt(pbuf *b, uint32_t field, uint64_t v) {
    if (v) pb_int(b, field, v);
}

static void pb_len(pbuf *b, uint32_t field, const void *p, size_t n) {
    pb_tag(b, field, WIRE_LEN);
    pb_varint(b, n);
    pb_bytes(b, p, n);
}

static size_t varint_size(uint64_t v) {
    size_t k = 1;
    while (v >= 0x80) v >>= 7, k++;
    return k;
}

/* A packed repeated integer field. */
static void pb_packed(pbuf *b, uint32_t field, const uint64_t *v, size_t n) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += varint_size(v[i]);
    pb_tag(b, field, WIRE_LEN);
    pb_varint(b, total);
    for (size_t i = 0; i < n; i++) pb_varint(b, v[i]);
}

static void pb_value_type(pbuf *b, uint32_t field, uint64_t type, uint64_t unit) {
    uint8_t m[24];
    pbuf sub = {m, 0, sizeof m, false}; /* fits: two small varint fields */
    pb_int(&sub, VALUE_TYPE_TYPE, type);
    pb_int(&sub, VALUE_TYPE_UNIT, unit);
    pb_len(b, field, sub.p, sub.len);
}

/* ---- the gzip stream to the fd ----------------------------------------- */

typedef struct out {
    int fd;
    int err;      /* errno of the first failure, 0 while all is well */
    bool zinit;
    z_stream z;
    pbuf pending; /* encoded, not yet deflated */
    uint8_t *zbuf;
} out;

static bool write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return false;
        if (w == 0) { /* no progress and no error: give up, not spin */
            errno = EIO;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Deflates the pending bytes (and, with Z_FINISH, ends the stream). */
static void out_deflate(out *o, int flush) {
    if (o->err) return;
    o->z.next_in = o->pending.p;
    o->z.avail_in = (uInt)o->pending.len;
    int rc;
    do {
        o->z.next_out = o->zbuf;
        o->z.avail_out = OUT_CHUNK;
        rc = deflate(&o->z, flush);
        if (rc == Z_STREAM_ERROR) {
            o->err = EIO;
            return;
        }
        size_t have = OUT_CHUNK - o->z.avail_out;
        if (!write_all(o->fd, o->zbuf, have)) {
            o->err = errno;
            return;
        }
    } while (o->z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    o->pending.len = 0;
}

static bool out_open(out *o, int fd) {
    memset(o, 0, sizeof *o);
    o->fd = fd;
    o->zbuf = malloc(OUT_CHUNK);
    /* windowBits 15 + 16: a gzip header and trailer around the deflate data. */
    if (!o->zbuf || deflateInit2(&o->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                                 Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
    o->zinit = true;
    return pb_reserve(&o->pending, OUT_CHUNK + 1024);
}

static void out_close(out *o) {
    if (o->zinit) deflateEnd(&o->z);
    free(o->zbuf);
    free(o->pending.p);
}

/* Appends the top-level field `field` holding message msg. */
static void out_msg(out *o, uint32_t field, pbuf *msg) {
    if (msg->oom) o->err = ENOMEM;
    pb_len(&o->pending, field, msg->p, msg->len);
    if (o->pending.oom && !o->err) o->err = ENOMEM;
    if (o->pending.len >= OUT_CHUNK) out_deflate(o, Z_NO_FLUSH);
    msg->len = 0;
}

/* ---- the tables: strings, locations, functions --------------------------- */

typedef struct str {
    const char *s;  /* in the builder's pool */
    uint64_t hash;
    uint32_t func;  /* 1 + the index of the function named s, or 0 */
} str;

typedef struct loc {
    uintptr_t pc;    /* the return address */
    uint32_t func;   /* index in fns */
    int32_t mapping; /* index in the mappings, -1 for none */
    uint32_t id;     /* Location id, 0 while unused */
    bool ours;       /* gomalloc's code: dropped when leading */
} loc;

typedef struct fn {
    uint32_t name, system_name; /* string indices */
    uint32_t id;                /* Function id, 0 while unused */
} fn;

typedef struct pool_chunk {
    struct pool_chunk *next;
    size_t used, cap;
    char data[];
} pool_chunk;

/* The tables grow with the distinct addresses and names, not with the
 * frames (stacks share most of theirs). Indexes are open-addressing hash
 * tables of 1 + entry number (0: empty), at most half full. */
typedef struct builder {
    gm_symtab *st;
    const gm_symtab_mapping *maps;
    size_t nmaps;
    str *strs;
    size_t nstrs, cap_strs;
    uint32_t *str_slots;
    size_t str_mask;
    pool_chunk *pool;
    loc *locs;
    size_t nlocs, cap_locs;
    uint32_t *loc_slots;
    size_t loc_mask;
    fn *fns;
    size_t nfns, cap_fns;
    uint32_t *first; /* per record: index of its first kept frame */
    uint32_t next_loc_id, next_fn_id;
} builder;

static uint64_t hash_str(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static uint64_t hash_pc(uintptr_t pc) {
    uint64_t h = (uint64_t)pc * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

static uint64_t str_hash(const builder *b, size_t e) { return b->strs[e].hash; }
static uint64_t loc_hash(const builder *b, size_t e) { return hash_pc(b->locs[e].pc); }

/* items, grown to hold n + 1 items of `size` bytes; NULL if out of
 * memory (items and *cap unchanged). */
static void *array_reserve(void *items, size_t *cap, size_t n, size_t size) {
    if (n < *cap) return items;
    size_t cap2 = *cap ? 2 * *cap : 64;
    void *p = realloc(items, cap2 * size);
    if (p) *cap = cap2;
    return p;
}

/* Makes room in an index of n entries for one more (doubling and
 * rehashing at half load). */
static bool index_reserve(const builder *b, uint32_t **slots, size_t *mask, size_t n,
                          uint64_t (*hash)(const builder *, size_t)) {
    if (*slots && 2 * (n + 1) <= *mask + 1) return true;
    size_t size = *slots ? 2 * (*mask + 1) : 64;
    uint32_t *s = calloc(size, sizeof *s);
    if (!s) return false;
    for (size_t e = 0; e < n; e++) {
        size_t i = hash(b, e) & (size - 1);
        while (s[i]) i = (i + 1) & (size - 1);
        s[i] = (uint32_t)(e + 1);
    }
    free(*slots);
    *slots = s;
    *mask = size - 1;
    return true;
}

static const char *pool_copy(builder *b, const char *s) {
    size_t n = strlen(s) + 1;
    pool_chunk *c = b->pool;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > (32 << 10) ? n : (32 << 10);
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = b->pool;
        c->used = 0;
        c->cap = cap;
        b->pool = c;
    }
    char *d = c->data + c->used;
    memcpy(d, s, n);
    c->used += n;
    return d;
}

/* The index of s in the string table, adding it; -1 if out of memory. */
static int64_t intern(builder *b, const char *s) {
    uint64_t h = hash_str(s);
    if (!index_reserve(b, &b->str_slots, &b->str_mask, b->nstrs, str_hash)) return -1;
    size_t i = h & b->str_mask;
    for (; b->str_slots[i]; i = (i + 1) & b->str_mask) {
        const str *e = &b->strs[b->str_slots[i] - 1];
        if (e->hash == h && strcmp(e->s, s) == 0) return b->str_slots[i] - 1;
    }
    str *strs = array_reserve(b->strs, &b->cap_strs, b->nstrs, sizeof *strs);
    if (!strs) return -1;
    b->strs = strs;
    const char *copy = pool_copy(b, s);
    if (!copy) return -1;
    b->strs[b->nstrs] = (str){copy, h, 0};
    b->str_slots[i] = (uint32_t)++b->nstrs;
    return (int64_t)b->nstrs - 1;
}

static bool builder_init(builder *b, gm_symtab *st, size_t nrecs) {
    memset(b, 0, sizeof *b);
    b->st = st;
    b->nmaps = gm__symtab_mappings(st, &b->maps);
    b->first = malloc((nrecs ? nrecs : 1) * sizeof *b->first);
    if (!b->first) return false;
    for (int i = 0; i < S_NFIXED; i++)
        if (intern(b, fixed_strings[i]) != i) return false;
    for (size_t i = 0; i < b->nmaps; i++)
        if (intern(b, b->maps[i].filename) < 0 || intern(b, b->maps[i].build_id) < 0)
            return false;
    return true;
}

static void builder_free(builder *b) {
    while (b->pool) {
        pool_chunk *next = b->pool->next;
        free(b->pool);
        b->pool = next;
    }
    free(b->strs);
    free(b->str_slots);
    free(b->locs);
    free(b->loc_slots);
    free(b->fns);
    free(b->first);
}

/* ---- pass 1: resolve every distinct address ------------------------------ */

/* gomalloc's allocation entry points and internals, by name: the frames
 * that sit between a sampled allocation and the code that asked for it. */
static bool is_allocator_name(const char *n) {
    static const char *const entry[] = {
        "malloc", "calloc", "realloc", "reallocarray", "free", "aligned_alloc",
        "memalign", "posix_memalign", "valloc", "pvalloc"};
    if (strncmp(n, "gm_", 3) == 0) return true; /* gm_ and gm__ */
    /* Every overload of ::operator new and new[], demangled or not. */
    if (strncmp(n, "operator new", 12) == 0) return true;
    if (strncmp(n, "_Znw", 4) == 0 || strncmp(n, "_Zna", 4) == 0) return true;
    if (strncmp(n, "__libc_", 7) == 0) n += 7;
    for (size_t i = 0; i < sizeof entry / sizeof *entry; i++)
        if (strcmp(n, entry[i]) == 0) return true;
    return false;
}

/* The function named by the frame, adding it; -1 if out of memory. */
static int64_t function_of(builder *b, const gm_symtab_frame *f) {
    int64_t name = intern(b, f->name);
    if (name < 0) return -1;
    if (b->strs[name].func) return b->strs[name].func - 1;
    int64_t sys = intern(b, f->system_name);
    fn *fns = array_reserve(b->fns, &b->cap_fns, b->nfns, sizeof *fns);
    if (sys < 0 || !fns) return -1;
    b->fns = fns;
    b->fns[b->nfns] = (fn){(uint32_t)name, (uint32_t)sys, 0};
    b->strs[name].func = (uint32_t)++b->nfns;
    return (int64_t)b->nfns - 1;
}

/* The slot of pc in the location index: its entry, or the empty slot
 * where it goes. */
static size_t loc_slot(const builder *b, uintptr_t pc) {
    size_t i = hash_pc(pc) & b->loc_mask;
    while (b->loc_slots[i] && b->locs[b->loc_slots[i] - 1].pc != pc) i = (i + 1) & b->loc_mask;
    return i;
}

/* The loc of a pc that resolve_all has seen. */
static loc *loc_of(const builder *b, uintptr_t pc) {
    return &b->locs[b->loc_slots[loc_slot(b, pc)] - 1];
}

/* Resolves return address pc the first time it is seen; false on OOM. */
static bool add_location(builder *b, uintptr_t pc) {
    if (!index_reserve(b, &b->loc_slots, &b->loc_mask, b->nlocs, loc_hash)) return false;
    size_t i = loc_slot(b, pc);
    if (b->loc_slots[i]) return true;
    /* pc - 1: the call instruction, inside the caller even when the call
     * is the function's last instruction (a noreturn callee). */
    gm_symtab_frame f = gm__symtab_lookup(b->st, pc - 1);
    int64_t func = function_of(b, &f);
    loc *locs = array_reserve(b->locs, &b->cap_locs, b->nlocs, sizeof *locs);
    if (func < 0 || !locs) return false;
    b->locs = locs;
    loc *l = &b->locs[b->nlocs];
    *l = (loc){pc, (uint32_t)func, f.mapping, 0, false};
    l->ours = (f.mapping >= 0 && b->maps[f.mapping].gomalloc) ||
              is_allocator_name(f.name) || is_allocator_name(f.system_name);
    b->loc_slots[i] = (uint32_t)++b->nlocs;
    return true;
}

static bool resolve_all(builder *b, const gm_mprof_record *recs, size_t n) {
    for (size_t r = 0; r < n; r++)
        for (uint32_t i = 0; i < recs[r].nstack; i++)
            if (!add_location(b, recs[r].stack[i])) return false;
    return true;
}

/* ---- pass 2: drop gomalloc's frames, number what is used ----------------- */

/* The first frame of a stack that is not gomalloc's: past the run of
 * allocator frames that starts within the innermost few frames (the
 * sampler's static helpers may precede it). Keeps at least one frame. */
static uint32_t first_kept(const builder *b, const gm_mprof_record *r) {
    uint32_t i = 0, n = r->nstack;
    while (i < n && i <= HIDDEN_FRAMES_MAX && !loc_of(b, r->stack[i])->ours) i++;
    if (i == n || i > HIDDEN_FRAMES_MAX) return 0; /* not an allocator stack */
    while (i < n && loc_of(b, r->stack[i])->ours) i++;
    return i < n ? i : n - 1;
}

static void number_used(builder *b, const gm_mprof_record *recs, size_t n) {
    for (size_t r = 0; r < n; r++) {
        b->first[r] = first_kept(b, &recs[r]);
        for (uint32_t i = b->first[r]; i < recs[r].nstack; i++) {
            loc *l = loc_of(b, recs[r].stack[i]);
            if (!l->id) l->id = ++b->next_loc_id;
            if (!b->fns[l->func].id) b->fns[l->func].id = ++b->next_fn_id;
        }
    }
}

/* ---- encoding ------------------------------------------------------------ */

/* Go's scaleHeapSample: a sampled object of n bytes stood for
 * 1 / (1 - exp(-n/rate)) objects on average (the sampler takes it with
 * probability 1 - exp(-n/rate)). The same scale for count and bytes. */
static void unsample(uint64_t count, uint64_t bytes, uint64_t rate, int64_t out[2]) {
    if (count == 0 || bytes == 0) {
        out[0] = out[1] = 0;
        return;
    }
    if (rate <= 1) { /* rate 1: every allocation was recorded */
        out[0] = (int64_t)count;
        out[1] = (int64_t)bytes;
        return;
    }
    double avg = (double)bytes / (double)count;
    double scale = 1 / (1 - exp(-avg / (double)rate));
    out[0] = (int64_t)((double)count * scale);
    out[1] = (int64_t)((double)bytes * scale);
}

static void encode_header(out *o, uint64_t rate, uint64_t time_ns) {
    pbuf *p = &o->pending;
    pb_value_type(p, PROFILE_SAMPLE_TYPE, S_ALLOC_OBJECTS, S_COUNT);
    pb_value_type(p, PROFILE_SAMPLE_TYPE, S_ALLOC_SPACE, S_BYTES);
    pb_value_type(p, PROFILE_SAMPLE_TYPE, S_INUSE_OBJECTS, S_COUNT);
    pb_value_type(p, PROFILE_SAMPLE_TYPE, S_INUSE_SPACE, S_BYTES);
    pb_value_type(p, PROFILE_PERIOD_TYPE, S_SPACE, S_BYTES);
    pb_int(p, PROFILE_PERIOD, rate);
    pb_int(p, PROFILE_DEFAULT_SAMPLE_TYPE, S_INUSE_SPACE);
    pb_int_opt(p, PROFILE_TIME_NANOS, time_ns);
}

static void encode_sample(out *o, const builder *b, const gm_mprof_record *r,
                          uint32_t first, uint64_t rate, pbuf *m) {
    int64_t v[4];
    uint64_t inuse_objects = r->alloc_objects > r->free_objects
                                 ? r->alloc_objects - r->free_objects : 0;
    uint64_t inuse_bytes = r->alloc_bytes > r->free_bytes ? r->alloc_bytes - r->free_bytes : 0;
    unsample(r->alloc_objects, r->alloc_bytes, rate, &v[0]);
    unsample(inuse_objects, inuse_bytes, rate, &v[2]);
    size_t len = 0; /* packed location ids, innermost first */
    for (uint32_t i = first; i < r->nstack; i++) len += varint_size(loc_of(b, r->stack[i])->id);
    pb_tag(m, SAMPLE_LOCATION_ID, WIRE_LEN);
    pb_varint(m, len);
    for (uint32_t i = first; i < r->nstack; i++) pb_varint(m, loc_of(b, r->stack[i])->id);
    uint64_t uv[4] = {(uint64_t)v[0], (uint64_t)v[1], (uint64_t)v[2], (uint64_t)v[3]};
    pb_packed(m, SAMPLE_VALUE, uv, 4);
    /* Go's numeric label: the size of the bucket's objects. */
    uint8_t lb[32];
    pbuf label = {lb, 0, sizeof lb, false};
    pb_int(&label, LABEL_KEY, S_BYTES);
    pb_int(&label, LABEL_NUM, r->size);
    pb_len(m, SAMPLE_LABEL, label.p, label.len);
    out_msg(o, PROFILE_SAMPLE, m);
}

static void encode_mappings(out *o, builder *b, pbuf *m) {
    for (size_t i = 0; i < b->nmaps; i++) {
        const gm_symtab_mapping *mp = &b->maps[i];
        pb_int(m, MAPPING_ID, i + 1);
        pb_int_opt(m, MAPPING_START, mp->start);
        pb_int_opt(m, MAPPING_LIMIT, mp->limit);
        pb_int_opt(m, MAPPING_OFFSET, mp->offset);
        pb_int_opt(m, MAPPING_FILENAME, (uint64_t)intern(b, mp->filename)); /* present */
        pb_int_opt(m, MAPPING_BUILD_ID, (uint64_t)intern(b, mp->build_id));
        /* Names are resolved here: pprof needs no binary, looks for none. */
        pb_int(m, MAPPING_HAS_FUNCTIONS, 1);
        out_msg(o, PROFILE_MAPPING, m);
    }
}

static void encode_locations(out *o, const builder *b, pbuf *m) {
    for (size_t i = 0; i < b->nlocs; i++) {
        const loc *l = &b->locs[i];
        if (!l->id) continue;
        uint8_t lb[16];
        pbuf line = {lb, 0, sizeof lb, false};
        pb_int(&line, LINE_FUNCTION_ID, b->fns[l->func].id);
        pb_int(m, LOCATION_ID, l->id);
        pb_int_opt(m, LOCATION_MAPPING_ID, (uint64_t)(l->mapping + 1));
        pb_int(m, LOCATION_ADDRESS, l->pc - 1);
        pb_len(m, LOCATION_LINE, line.p, line.len);
        out_msg(o, PROFILE_LOCATION, m);
    }
}

static void encode_functions(out *o, const builder *b, pbuf *m) {
    for (size_t i = 0; i < b->nfns; i++) {
        const fn *f = &b->fns[i];
        if (!f->id) continue;
        pb_int(m, FUNCTION_ID, f->id);
        pb_int_opt(m, FUNCTION_NAME, f->name);
        pb_int_opt(m, FUNCTION_SYSTEM_NAME, f->system_name);
        out_msg(o, PROFILE_FUNCTION, m);
    }
}

static void encode_strings(out *o, const builder *b, pbuf *m) {
    for (size_t i = 0; i < b->nstrs; i++) {
        pb_bytes(m, b->strs[i].s, strlen(b->strs[i].s));
        out_msg(o, PROFILE_STRING_TABLE, m);
    }
}

static void encode(out *o, builder *b, const gm_mprof_record *recs, size_t n,
                   uint64_t rate, uint64_t time_ns) {
    pbuf m = {0}; /* scratch for one message, reused */
    encode_header(o, rate, time_ns);
    for (size_t r = 0; r < n && !o->err; r++) encode_sample(o, b, &recs[r], b->first[r], rate, &m);
    encode_mappings(o, b, &m);
    encode_locations(o, b, &m);
    encode_functions(o, b, &m);
    encode_strings(o, b, &m);
    free(m.p);
    out_deflate(o, Z_FINISH);
}

int gm__pprof_write_heap(int fd, const gm_mprof_record *recs, size_t n, uint64_t rate,
                         uint64_t time_ns) {
    builder b;
    out o;
    int err = ENOMEM;
    gm_symtab *st = gm__symtab_open();
    if (!st) return -1; /* errno set */
    bool ok = builder_init(&b, st, n) && resolve_all(&b, recs, n);
    if (ok) {
        number_used(&b, recs, n);
        if (out_open(&o, fd)) {
            encode(&o, &b, recs, n, rate, time_ns);
            err = o.err;
        }
        out_close(&o);
    }
    builder_free(&b);
    gm__symtab_close(st);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}
