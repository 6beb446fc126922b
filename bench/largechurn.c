/*
 * largechurn — the page heap under churn: large objects only.
 *
 * churn.c with blocks of random sizes 33..160 KiB (all above the 32 KiB
 * small-object limit, so every block is its own span of pages): this
 * measures finding, splitting and coalescing runs of pages.
 *
 * usage: largechurn [OPS=1M] [SLOTS=2000] [SEED=1]
 * prints: largechurn ops=... slots=... checksum=...
 */
#define CHURN_NAME "largechurn"
#define CHURN_MIN_SIZE (33 << 10)
#define CHURN_MAX_SIZE (160 << 10)
#define CHURN_OPS 1000000LL
#define CHURN_SLOTS 2000
#include "churn.c"
