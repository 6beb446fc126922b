/*
 * Cross-file declarations of the map, grouped by defining file: map.c
 * (types, buckets, growth, access, assign, delete) and map_iter.c
 * (iteration). The design is explained at the top of map.c. Never
 * installed.
 */
#ifndef GM_MAP_H
#define GM_MAP_H

#include <string.h>

#include "internal.h"
#include "gomalloc/map.h"
#include "gomalloc/slice.h"

#define ALWAYS_INLINE __attribute__((always_inline)) inline

enum {
    BUCKET_CNT = 8,
    LOAD_NUM = 13, /* load factor 6.5 = 13/2 */
    LOAD_DEN = 2,
    MAX_KEY_SIZE = 128, /* larger keys and values are stored indirectly */
    MAX_ELEM_SIZE = 128,
    DATA_OFFSET = 8, /* keys start after tophash[8] */
};
enum { EMPTY_REST = 0, EMPTY_ONE = 1, EVACUATED_X = 2, EVACUATED_Y = 3,
       EVACUATED_EMPTY = 4, MIN_TOPHASH = 5 };
enum { ITERATOR = 1, OLD_ITERATOR = 2, HASH_WRITING = 4, SAME_SIZE_GROW = 8 };

/* The specialised paths (Go's map_fast32/64/str.go) are the generic code
 * compiled with the key kind as a constant. */
enum { K_GENERIC, K_32, K_64, K_STR };

/* ---- map.c: types, helpers, and what map_iter.c calls ------------------- */

/* Go's maptype with the bucket type derived from it; lives in the user's
 * gm_maptype_cache, filled once (state 0 -> 1 -> 2). Read-only after. */
typedef struct maptype {
    int state;
    uint8_t fast;          /* K_* */
    uint8_t keykind;       /* GM_KEY_* */
    bool indirectkey, indirectelem;
    bool needkeyupdate;    /* overwrite an equal key on assign (strings) */
    bool keyptrs, elemptrs;/* slots hold pointers: cleared on delete */
    bool noscan;           /* buckets pointer-free: overflow kept in extra */
    uint32_t keysize;      /* slot sizes: K's size or 8 if indirect */
    uint32_t elemsize;
    uint32_t keybytes;     /* K's size (what is hashed and compared) */
    uint32_t elembytes;
    uint32_t elemoff;      /* first value slot */
    uint32_t bucketsize;   /* overflow pointer at bucketsize - 8 */
    gm_hashfn hasher;
    gm_equalfn equal;
    const gm_type *key, *elem;
    gm_type bucket;        /* Go's bmap type: noscan, or tiled K/V bitmaps */
    uint64_t gcdata[5];    /* bucket bitmap: up to 2064 bytes = 258 words */
} maptype;
_Static_assert(sizeof(maptype) <= sizeof(gm_maptype_cache), "gm_maptype_cache too small");
_Static_assert(_Alignof(maptype) <= _Alignof(gm_maptype_cache), "gm_maptype_cache alignment");

typedef struct mapextra {
    gm_slice *overflow;    /* overflow buckets of buckets (noscan maps) */
    gm_slice *oldoverflow; /* ... of oldbuckets */
    uint8_t *nextoverflow; /* a free preallocated overflow bucket */
} mapextra;

/* Written by the one writer (hashWriting held), read by readers. */
struct gm_map {
    size_t count;          /* live entries: len() */
    uint8_t flags;         /* ITERATOR | OLD_ITERATOR | HASH_WRITING | SAME_SIZE_GROW */
    uint8_t B;             /* log2 of the number of buckets */
    uint16_t noverflow;    /* overflow buckets, approximate for B >= 16 */
    uint32_t hash0;        /* seed */
    uint8_t *buckets;
    uint8_t *oldbuckets;   /* half as many (or as many, same-size grow) */
    uintptr_t nevacuate;   /* old buckets below are evacuated */
    mapextra *extra;
    const maptype *t;      /* not in Go's hmap: see the top of this file */
};

static _Noreturn GM_NOINLINE void throw(const char *msg) { gm__fatal(msg, NULL); }

static inline uint8_t flags_load(const gm_map *h) { return GM_LOAD(&h->flags); }

/* Go's isEmpty and evacuated. */
static inline bool is_empty(uint8_t x) { return x <= EMPTY_ONE; }
static inline bool evacuated(const uint8_t *b) {
    return b[0] > EMPTY_ONE && b[0] < MIN_TOPHASH;
}

static inline uintptr_t bucket_mask(uint8_t B) { return ((uintptr_t)1 << (B & 63)) - 1; }

static inline uint8_t *bucket_at(const maptype *t, uint8_t *base, uintptr_t i) {
    return base + i * t->bucketsize;
}
static inline uint8_t *key_at(const maptype *t, uint8_t *b, uintptr_t i) {
    return b + DATA_OFFSET + i * t->keysize;
}
static inline uint8_t *elem_at(const maptype *t, uint8_t *b, uintptr_t i) {
    return b + t->elemoff + i * t->elemsize;
}
static inline uint8_t *overflow_of(const maptype *t, uint8_t *b) {
    uint8_t *o;
    memcpy(&o, b + t->bucketsize - sizeof o, sizeof o);
    return o;
}
static inline void *deref(void *slot) {
    void *p;
    memcpy(&p, slot, sizeof p);
    return p;
}

static inline bool growing(const gm_map *h) { return h->oldbuckets != NULL; }
static inline bool same_size_grow(const gm_map *h) {
    return (flags_load(h) & SAME_SIZE_GROW) != 0;
}
/* Number of old buckets while growing. */
static inline uintptr_t noldbuckets(const gm_map *h) {
    uint8_t oldB = h->B;
    if (!same_size_grow(h)) oldB--;
    return (uintptr_t)1 << oldB;
}
static inline uintptr_t oldbucket_mask(const gm_map *h) { return noldbuckets(h) - 1; }

static ALWAYS_INLINE uint64_t hash_key(const maptype *t, const void *key, uint32_t seed,
                                       int kind) {
    uint64_t k64;
    uint32_t k32;
    switch (kind) {
    case K_64:
        memcpy(&k64, key, 8);
        return gm__memhash64(k64, seed);
    case K_32:
        memcpy(&k32, key, 4);
        return gm__memhash32(k32, seed);
    case K_STR:
        return gm__strhash(key, seed);
    default:
        break;
    }
    if (t->keykind == GM_KEY_MEM) {
        if (t->keybytes == 8) {
            memcpy(&k64, key, 8);
            return gm__memhash64(k64, seed);
        }
        if (t->keybytes == 4) {
            memcpy(&k32, key, 4);
            return gm__memhash32(k32, seed);
        }
        return gm__memhash(key, t->keybytes, seed);
    }
    if (t->keykind == GM_KEY_STRING) return gm__strhash(key, seed);
    return t->hasher(key, seed);
}

/* Go's createOverflow: mapextra and its overflow list, if missing. */
GM_INTERNAL void gm__map_create_overflow(gm_map *h);
/* Go's mapaccessK: the key and value slots (indirections followed) for an
 * iterator whose entry has moved; false if the key is gone. */
GM_INTERNAL bool gm__map_access_k(const gm_map *h, const void *key, void **kp, void **ep);

#endif /* GM_MAP_H */
