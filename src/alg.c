/*
 * alg: the hash functions of maps (Go's alg.go and asm_amd64.s's aeshash)
 * and the runtime's cheap random numbers (Go's rand.go). See the top of
 * malloc.c for the allocator and of map.c for the maps that use these.
 *
 * Every map hashes with a seed of its own (hmap.hash0, random per map and
 * renewed when the map empties) mixed with per-process random keys, so an
 * attacker who does not see the process cannot pick colliding keys, and
 * iteration order differs from map to map and run to run.
 *
 * Two implementations, chosen once at init (alg_init, from gm_make_map):
 *  - AES (CPUs with AES-NI and SSE4.1, as Go's useAeshash): AESENC rounds
 *    keyed by a random schedule. An 8-byte key costs three rounds, as in
 *    Go's memhash64; longer inputs are absorbed 16 bytes per lane.
 *  - multiply-mix otherwise: 64x64->128 multiplies folded (hi ^ lo), the
 *    wyhash family's primitive; the mixing schedule is ours.
 * Inputs are read without touching a byte past their end (overlapping
 * loads, never a masked over-read), so sanitizers stay quiet.
 *
 * Invariant: gm__alg_init() has returned before any hash is computed (every
 * map comes from gm_make_map, which calls it).
 */
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "internal.h"
#include "gomalloc/map.h"

#define AES_TARGET __attribute__((target("aes,sse4.1")))

static bool use_aes;                       /* written once by alg_init */
static uint64_t hashkey[4];                /* multiply-mix keys, odd */
static uint8_t aeskeysched[4 * 16] __attribute__((aligned(16))); /* AES round keys */
static int alg_state;                      /* 0 none, 1 initializing, 2 done */

/* ---- init ------------------------------------------------------------------- */

static void fill_random(void *buf, size_t n) {
    unsigned char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, GRND_NONBLOCK);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got == n) return;
    /* No entropy source yet (early boot): the clock and an address still
     * differ per process, which is all iteration order needs. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uintptr_t)&ts;
    for (size_t i = got; i < n; i++) {
        x = x * 0x2545f4914f6cdd1dull + 0x9e3779b97f4a7c15ull;
        p[i] = (unsigned char)(x >> 56);
    }
}

static bool cpu_has_aes(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    return (c & bit_AES) && (c & bit_SSE4_1);
}

void gm__alg_init(void) {
    if (GM_LIKELY(__atomic_load_n(&alg_state, __ATOMIC_ACQUIRE) == 2)) return;
    int expect = 0;
    if (__atomic_compare_exchange_n(&alg_state, &expect, 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        fill_random(hashkey, sizeof hashkey);
        for (int i = 0; i < 4; i++) hashkey[i] |= 1;
        fill_random(aeskeysched, sizeof aeskeysched);
        use_aes = cpu_has_aes();
        __atomic_store_n(&alg_state, 2, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_load_n(&alg_state, __ATOMIC_ACQUIRE) != 2) __builtin_ia32_pause();
}

bool gm__alg_uses_aes(void) { return use_aes; }

/* ---- loads that never read past the end ------------------------------------- */

static inline uint64_t ld64(const void *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline uint32_t ld32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
/* 0..16 bytes as two words; distinct inputs of one length give distinct
 * pairs (the length itself is mixed in separately). */
static inline void ld_short(const uint8_t *p, size_t n, uint64_t *lo, uint64_t *hi) {
    if (n >= 8) {
        *lo = ld64(p);
        *hi = ld64(p + n - 8);
    } else if (n >= 4) {
        *lo = ld32(p);
        *hi = ld32(p + n - 4);
    } else if (n > 0) {
        *lo = (uint64_t)p[0] << 16 | (uint64_t)p[n >> 1] << 8 | p[n - 1];
        *hi = 0;
    } else {
        *lo = *hi = 0;
    }
}

/* ---- multiply-mix ------------------------------------------------------------ */

static inline uint64_t mum(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t mix_hash64(uint64_t x, uint64_t seed) {
    uint64_t a = mum(x ^ hashkey[0], seed ^ hashkey[1]);
    return mum(a ^ hashkey[2], x ^ (x >> 29) ^ hashkey[3]);
}

static uint64_t mix_hash(const uint8_t *p, size_t n, uint64_t seed) {
    uint64_t acc = mum(seed ^ hashkey[0], n ^ hashkey[1]);
    uint64_t lo, hi;
    if (n <= 16) {
        ld_short(p, n, &lo, &hi);
    } else {
        /* Two lanes over whole 32-byte blocks, then the last 16 bytes
         * (overlapping what came before, never past the end). */
        uint64_t acc2 = acc ^ hashkey[2];
        size_t i = 0;
        for (; i + 32 < n; i += 32) {
            acc = mum(ld64(p + i) ^ hashkey[1], ld64(p + i + 8) ^ acc);
            acc2 = mum(ld64(p + i + 16) ^ hashkey[2], ld64(p + i + 24) ^ acc2);
        }
        if (n - i > 16) acc = mum(ld64(p + i) ^ hashkey[1], ld64(p + i + 8) ^ acc);
        acc ^= acc2;
        lo = ld64(p + n - 16);
        hi = ld64(p + n - 8);
    }
    acc = mum(lo ^ hashkey[2], hi ^ acc);
    return mum(acc ^ hashkey[3], n ^ hashkey[0]);
}

/* ---- AES ----------------------------------------------------------------------- */

AES_TARGET static inline __m128i aes_key(int i) {
    return _mm_load_si128((const __m128i *)(aeskeysched + 16 * i));
}

AES_TARGET static uint64_t aes_hash64(uint64_t x, uint64_t seed) {
    __m128i v = _mm_set_epi64x((long long)x, (long long)seed);
    v = _mm_aesenc_si128(v, aes_key(0));
    v = _mm_aesenc_si128(v, aes_key(1));
    v = _mm_aesenc_si128(v, aes_key(2));
    return (uint64_t)_mm_cvtsi128_si64(v);
}

AES_TARGET static uint64_t aes_hash32(uint32_t x, uint64_t seed) { return aes_hash64(x, seed); }

/* One 16-byte block absorbed into lane v. */
AES_TARGET static inline __m128i aes_absorb(__m128i v, const uint8_t *p, __m128i k) {
    __m128i d = _mm_loadu_si128((const __m128i *)p);
    return _mm_aesenc_si128(_mm_xor_si128(v, d), k);
}

AES_TARGET static uint64_t aes_hash(const uint8_t *p, size_t n, uint64_t seed) {
    /* The seed and the length key every lane, so equal prefixes of
     * different lengths diverge from the first round. */
    __m128i s = _mm_aesenc_si128(_mm_set_epi64x((long long)n, (long long)seed), aes_key(3));
    __m128i v;
    if (n <= 16) {
        uint64_t lo, hi;
        ld_short(p, n, &lo, &hi);
        v = _mm_xor_si128(s, _mm_set_epi64x((long long)hi, (long long)lo));
        v = _mm_aesenc_si128(v, aes_key(0));
        v = _mm_aesenc_si128(v, aes_key(1));
    } else if (n <= 32) {
        __m128i a = aes_absorb(s, p, aes_key(0));
        __m128i b = aes_absorb(_mm_xor_si128(s, aes_key(2)), p + n - 16, aes_key(1));
        v = _mm_aesenc_si128(_mm_xor_si128(a, b), aes_key(2));
    } else {
        /* Four lanes over 64-byte blocks; the last 64 bytes (overlapping
         * the previous block if n is not a multiple of 64) close them. */
        __m128i l0 = s, l1 = _mm_xor_si128(s, aes_key(1)), l2 = _mm_xor_si128(s, aes_key(2)),
                l3 = _mm_xor_si128(s, aes_key(3));
        size_t i = 0;
        for (; i + 64 < n; i += 64) {
            l0 = aes_absorb(l0, p + i, aes_key(0));
            l1 = aes_absorb(l1, p + i + 16, aes_key(1));
            l2 = aes_absorb(l2, p + i + 32, aes_key(2));
            l3 = aes_absorb(l3, p + i + 48, aes_key(3));
        }
        const uint8_t *e = p + n - 64;
        if (n < 64) e = p + n - 32; /* 33..63 bytes: two pairs of blocks overlap */
        l0 = aes_absorb(l0, n < 64 ? p : e, aes_key(0));
        l1 = aes_absorb(l1, n < 64 ? p + 16 : e + 16, aes_key(1));
        l2 = aes_absorb(l2, n < 64 ? e : e + 32, aes_key(2));
        l3 = aes_absorb(l3, n < 64 ? e + 16 : e + 48, aes_key(3));
        v = _mm_xor_si128(_mm_aesenc_si128(l0, l1), _mm_aesenc_si128(l2, l3));
        v = _mm_aesenc_si128(v, aes_key(0));
    }
    v = _mm_aesenc_si128(v, s);
    return (uint64_t)_mm_cvtsi128_si64(v);
}

/* ---- entry points (Go's memhash, memhash32, memhash64, strhash) ------------- */

uint64_t gm__memhash64(uint64_t key, uint64_t seed) {
    return use_aes ? aes_hash64(key, seed) : mix_hash64(key, seed);
}

uint64_t gm__memhash32(uint32_t key, uint64_t seed) {
    return use_aes ? aes_hash32(key, seed) : mix_hash64(key ^ (uint64_t)4 << 32, seed);
}

uint64_t gm__memhash(const void *p, size_t n, uint64_t seed) {
    return use_aes ? aes_hash(p, n, seed) : mix_hash(p, n, seed);
}

uint64_t gm__strhash(const gm_string *s, uint64_t seed) {
    return use_aes ? aes_hash((const uint8_t *)s->ptr, s->len, seed)
                   : mix_hash((const uint8_t *)s->ptr, s->len, seed);
}

/* The public forms, usable before any map exists. */
uint64_t gm_memhash(const void *p, size_t n, uint64_t seed) {
    gm__alg_init();
    return gm__memhash(p, n, seed);
}

uint64_t gm_strhash(const gm_string *s, uint64_t seed) {
    gm__alg_init();
    return gm__strhash(s, seed);
}

/* ---- cheap random numbers (Go's rand / cheaprand) ---------------------------- */

/* Per thread, so two threads never contend; seeded from the OS once per
 * thread. Not for cryptography: hash seeds, iteration starts, the
 * approximate overflow counter. */
static __thread uint64_t rand_state;

uint64_t gm__rand(void) {
    uint64_t s = rand_state;
    if (GM_UNLIKELY(s == 0)) {
        fill_random(&s, sizeof s);
        s |= 1;
    }
    s += 0xa0761d6478bd642full;
    rand_state = s;
    return mum(s, s ^ 0xe7037ed1a0b428dbull);
}
