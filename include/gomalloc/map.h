/*
 * gomalloc/map.h — Go's map (the hash map of Go 1.23 and earlier,
 * runtime/map.go's hmap) for C, over collected memory.
 *
 * A gm_map is Go's hmap: 2^B buckets of 8 slots (tophash[8], 8 keys, 8
 * values, an overflow pointer), load factor 6.5, growth by doubling (or a
 * same-size regrow when overflow buckets pile up) done incrementally: each
 * assign or delete moves the bucket it writes plus one more. Keys or values
 * over 128 bytes are stored in objects of their own, the slot holding a
 * pointer. Everything the map allocates is a collected object, allocated
 * exactly as Go's runtime allocates it (the same objects at the same
 * operations): nothing is freed by hand, a map nobody points to is
 * reclaimed with its buckets. Keep the gm_map pointer where the collector
 * looks (a local, a global, a collected object).
 *
 *     static const gm_maptype ages_type = GM_MAPTYPE_STRING(int64_t);
 *     gm_map *m = gm_make_map(&ages_type, 0);
 *     gm_string k = {"gopher", 6};
 *     *(int64_t *)gm_map_assign(m, &k) = 13;          m["gopher"] = 13
 *     int64_t *v = gm_map_access(m, &k);              v, ok := m["gopher"]
 *     gm_map_delete(m, &k);                           delete(m, "gopher")
 *     gm_map_iter it;                                 for k, v := range m
 *     for (gm_map_iter_init(&it, m); it.key; gm_map_iter_next(&it))
 *         use(it.key, it.elem);
 *
 * Keys: GM_KEY_MEM compares and hashes the key's bytes (integers of any
 * width, pointers, fixed-size byte arrays, structs without padding);
 * GM_KEY_STRING takes a gm_string and compares and hashes the bytes it
 * points to — the bytes are NOT copied, only the {ptr, len} header is
 * stored, so they must stay unchanged while the key is in the map (if they
 * are collected memory, the map keeps them alive, as Go's strings do);
 * GM_KEY_CUSTOM calls the maptype's hash and equal functions (equal must
 * be reflexive: a key equal to nothing, like Go's NaN, is not supported).
 * Every map hashes with a random seed of its own (Go's hash0), AES-based on
 * CPUs with AES-NI as Go's aeshash, so iteration order is random.
 *
 * Iteration follows Go's rules: a random start bucket and slot; the map
 * may be modified meanwhile — an entry deleted before it is reached is not
 * returned, an entry added may or may not be, none is returned twice. Only
 * it.key and it.elem are public; the iterator must live where the
 * collector looks (a local), as it keeps buckets alive.
 *
 * Misuse is fatal, with Go's text after gomalloc's prefix:
 *     gomalloc: fatal error: assignment to entry in nil map
 *     gomalloc: fatal error: concurrent map writes
 *     gomalloc: fatal error: concurrent map read and map write
 *     gomalloc: fatal error: concurrent map iteration and map write
 * (the last three are Go's best-effort detection through the hashWriting
 * flag: a map may be read by many threads at once, written by one at a
 * time with no reader; lock around it otherwise). Out of memory is fatal.
 *
 * A nil map (NULL) is Go's nil map: length 0, every lookup misses, delete,
 * clear and iteration do nothing, assignment is fatal.
 */
#ifndef GOMALLOC_MAP_H
#define GOMALLOC_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../gomalloc.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef GM_STRING_DEFINED
#define GM_STRING_DEFINED
/* Go's string header: the bytes are not owned (not copied, not freed). */
typedef struct gm_string {
    const char *ptr;
    size_t len;
} gm_string;
#endif

/* The gm_type of a gm_string (its ptr is a pointer word). */
#define GM_TYPE_STRING \
    {sizeof(gm_string), sizeof(void *), (const uint64_t[1]){1}, "gm_string", __alignof__(gm_string)}

/* How keys are compared and hashed. */
enum { GM_KEY_MEM = 0, GM_KEY_STRING = 1, GM_KEY_CUSTOM = 2 };

/* GM_KEY_CUSTOM: hash(key, seed) must depend only on what equal compares
 * (and mix in seed: gm_memhash/gm_strhash do); equal(a, b) true iff the
 * keys are the same key. Both get pointers to keys (slots are 8-byte
 * aligned). */
typedef uint64_t (*gm_hashfn)(const void *key, uint64_t seed);
typedef bool (*gm_equalfn)(const void *a, const void *b);

/* Derived data (bucket layout, the bucket's gm_type and pointer bitmap)
 * computed by the first gm_make_map of a maptype. Opaque. */
typedef struct gm_maptype_cache {
    uint64_t opaque[20];
} gm_maptype_cache;

/* Go's maptype: map[K]V. Build it with the macros below; it must outlive
 * every map made from it (declare it at file scope, like a gm_type). */
typedef struct gm_maptype {
    const gm_type *key;   /* K: size, pointer bitmap (precise scanning) */
    const gm_type *elem;  /* V */
    int keykind;          /* GM_KEY_* */
    gm_hashfn hash;       /* GM_KEY_CUSTOM only */
    gm_equalfn equal;     /* GM_KEY_CUSTOM only */
    gm_maptype_cache *cache;
} gm_maptype;

/* map[K]V from gm_type pointers (user types: GM_TYPE(struct s, p), ...).
 * At block scope the compound literal holding the cache is automatic: such
 * a maptype, and the maps made from it, are valid only in the block. */
#define GM_MAPTYPE_OF(keytype, elemtype, keykind, hashfn, equalfn) \
    {(keytype), (elemtype), (keykind), (hashfn), (equalfn), &(gm_maptype_cache){{0}}}
/* map[K]V from gm_type initializers, Go's general form:
 *     GM_MAPTYPE_KV(GM_TYPE_NOPTRS(int64_t), GM_TYPE_POINTER(struct obj *), GM_KEY_MEM)
 *     GM_MAPTYPE_KV(GM_TYPE_POINTER(struct obj *), GM_TYPE_NOPTRS(int), GM_KEY_MEM)
 *     GM_MAPTYPE_KV(GM_TYPE_STRING, GM_TYPE_STRING, GM_KEY_STRING) */
#define GM_MAPTYPE_KV(KT, VT, keykind) \
    {&(const gm_type)KT, &(const gm_type)VT, (keykind), 0, 0, &(gm_maptype_cache){{0}}}
/* map[K]V for pointer-free K and V, keys compared by their bytes:
 * GM_MAPTYPE(int64_t, int64_t), GM_MAPTYPE(uint32_t, struct point). */
#define GM_MAPTYPE(K, V) GM_MAPTYPE_KV(GM_TYPE_NOPTRS(K), GM_TYPE_NOPTRS(V), GM_KEY_MEM)
/* map[string]V for a pointer-free V. */
#define GM_MAPTYPE_STRING(V) GM_MAPTYPE_KV(GM_TYPE_STRING, GM_TYPE_NOPTRS(V), GM_KEY_STRING)

typedef struct gm_map gm_map;

/* make(map[K]V, hint): room for hint entries without growing (Go's
 * makemap). hint <= 8 allocates only the header, the first bucket comes
 * with the first assignment. */
GM_API gm_map *gm_make_map(const gm_maptype *t, size_t hint);

/* m[key] = ...: the value slot of key, inserted (value zeroed) if absent
 * (Go's mapassign). Valid until the next write to m. Fatal on a nil map. */
GM_API void *gm_map_assign(gm_map *m, const void *key);

/* The value of key, or NULL if absent (Go's mapaccess2; Go's mapaccess1
 * would give the zero value). Valid until the next write to m. */
GM_API void *gm_map_access(const gm_map *m, const void *key);

/* delete(m, key): true if key was there (Go's mapdelete). */
GM_API bool gm_map_delete(gm_map *m, const void *key);

/* len(m). */
GM_API size_t gm_map_len(const gm_map *m);

/* clear(m) (Go's mapclear): every entry gone, the bucket array kept and
 * zeroed (B stays), overflow buckets dropped, a new hash seed. */
GM_API void gm_map_clear(gm_map *m);

/* Go's hiter. Read key and elem only: the entry's key and value (pointers
 * into the map, or to the indirect objects of > 128-byte keys/values), or
 * NULL when the iteration is over. */
typedef struct gm_map_iter {
    void *key;
    void *elem;
    gm_map *h;
    void *buckets;     /* bucket array at init */
    void *bptr;        /* current bucket */
    void *overflow;    /* keep overflow buckets of pointer-free maps alive */
    void *oldoverflow;
    size_t startbucket;
    size_t bucket;
    size_t checkbucket;
    uint8_t offset;    /* random starting slot */
    uint8_t wrapped;
    uint8_t B;
    uint8_t i;
} gm_map_iter;

/* for k, v := range m: positions it on the first entry (Go's mapiterinit);
 * it->key is NULL if there is none. Iterating a pointer-free map allocates
 * Go's mapextra and overflow list if the map has none yet, as Go does. */
GM_API void gm_map_iter_init(gm_map_iter *it, gm_map *m);
/* The next entry (Go's mapiternext): false, with it->key NULL, at the end. */
GM_API bool gm_map_iter_next(gm_map_iter *it);

/* The state of m, for tests and demos. */
typedef struct gm_map_info {
    size_t count;           /* len(m) */
    unsigned B;             /* log2 of the number of buckets */
    size_t nbuckets;        /* 2^B */
    size_t noverflow;       /* Go's approximate overflow-bucket count */
    int flags;              /* Go's hmap.flags (iterator 1, oldIterator 2,
                               hashWriting 4, sameSizeGrow 8) */
    uint32_t hash0;         /* the seed */
    bool growing;           /* old buckets still being evacuated */
    bool same_size_grow;
    size_t nevacuate;       /* old buckets below this are evacuated */
    size_t noldbuckets;     /* while growing */
    const void *buckets;    /* the bucket array (NULL until the first assign) */
    size_t buckets_bytes;   /* its allocation: 2^B buckets plus preallocated
                               overflow buckets */
    size_t bucket_size;     /* bytes per bucket */
    size_t prealloc_free;   /* preallocated overflow buckets not yet used */
    bool has_extra;         /* mapextra allocated */
    size_t overflow_list;   /* pointer-free maps: len of extra.overflow */
} gm_map_info;
/* Fills *info (zeroed for a nil map). */
GM_API void gm_map_inspect(const gm_map *m, gm_map_info *info);

/* The maps' seeded hashes (Go's memhash and strhash), for GM_KEY_CUSTOM
 * hash functions: equal bytes and seed give equal hashes within a process. */
GM_API uint64_t gm_memhash(const void *p, size_t n, uint64_t seed);
GM_API uint64_t gm_strhash(const gm_string *s, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif /* GOMALLOC_MAP_H */
