/*
 * sizesweep — every size from 8 B to 4 MiB.
 *
 * Sizes are the powers of two and their midpoints: 8, 12, 16, 24, 32, 48, ...,
 * 3 MiB, 4 MiB (39 sizes). For each size s, N = MB_PER_SIZE MiB / s blocks
 * are allocated in batches of at most LIVE_MB MiB: a batch is allocated,
 * each block is touched (its first and last byte and one byte in every 4 KiB
 * page), then the batch is read back and freed in allocation order. So every
 * size moves the same number of bytes, small sizes stress the per-object
 * path, large ones the page heap and the return of memory to the OS.
 *
 * The checksum sums the bytes read back, which depend only on the sizes.
 *
 * usage: sizesweep [MB_PER_SIZE=256] [MAX_SIZE=4194304] [LIVE_MB=8]
 * prints: sizesweep sizes=... blocks=... checksum=...
 */
#include "bench_alloc.h"

#define PAGE 4096

static inline unsigned char pattern(size_t size, size_t i, size_t off)
{
    return (unsigned char)((size * 31u) ^ (i * 7u) ^ (off >> 12) ^ 0x5a);
}

static void touch(unsigned char *p, size_t size, size_t i)
{
    p[0] = pattern(size, i, 0);
    for (size_t off = PAGE; off < size; off += PAGE)
        p[off] = pattern(size, i, off);
    p[size - 1] = pattern(size, i, size - 1);
}

static uint64_t readback(const unsigned char *p, size_t size)
{
    uint64_t s = p[0];
    for (size_t off = PAGE; off < size; off += PAGE)
        s += p[off];
    return s + p[size - 1];
}

int main(int argc, char **argv)
{
    long long mb_per_size = bench_arg(argc, argv, 1, 256, 1, 1 << 20);
    long long max_size = bench_arg(argc, argv, 2, 4LL << 20, 8, 1LL << 40);
    long long live_mb = bench_arg(argc, argv, 3, 8, 1, 1 << 20);

    size_t bytes_per_size = (size_t)mb_per_size << 20;
    size_t live_bytes = (size_t)live_mb << 20;
    size_t max_batch = live_bytes / 8;
    void **blk = malloc(max_batch * sizeof *blk); /* bookkeeping: libc malloc */
    if (blk == NULL)
        bench_die("out of memory for the block table");

    uint64_t sum = 0, blocks = 0;
    int nsizes = 0;
    for (size_t pow = 8; pow <= (size_t)max_size; pow *= 2) {
        for (int half = 0; half < 2; half++) {
            size_t size = half ? pow + pow / 2 : pow;
            if (size > (size_t)max_size)
                break;
            nsizes++;
            size_t n = bytes_per_size / size;
            if (n == 0)
                n = 1;
            size_t batch = live_bytes / size;
            if (batch == 0)
                batch = 1;
            size_t done = 0;
            uint64_t s = 0;
            while (done < n) {
                size_t b = n - done < batch ? n - done : batch;
                for (size_t i = 0; i < b; i++) {
                    blk[i] = bench_xmalloc(size);
                    touch(blk[i], size, done + i);
                }
                for (size_t i = 0; i < b; i++) {
                    s += readback(blk[i], size);
                    BENCH_FREE(blk[i]);
                }
                done += b;
            }
            blocks += n;
            sum = bench_mix(sum ^ s ^ ((uint64_t)size << 40));
        }
    }
    free(blk);

    printf("sizesweep sizes=%d max=%lld mb_per_size=%lld blocks=%llu checksum=%016llx\n", nsizes,
           max_size, mb_per_size, (unsigned long long)blocks, (unsigned long long)sum);
    return 0;
}
