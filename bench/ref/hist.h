/*
 * bench/ref/hist.h: a log-linear histogram of microseconds, in the manner
 * of HdrHistogram. Values below 2^(SUB+1) have a bucket each; above, every
 * power of two [2^e, 2^(e+1)) is cut into 2^SUB equal buckets, so a value
 * is known to within 1/2^SUB (1.6%). Values are clamped below 2^MAXE µs
 * (about 12.7 days).
 */
#ifndef REF_HIST_H
#define REF_HIST_H
#include <stdint.h>

#define HIST_SUB 6
#define HIST_MAXE 40
#define HIST_N ((HIST_MAXE - HIST_SUB + 1) << HIST_SUB)

struct hist {
    uint64_t count[HIST_N];
};

static inline int hist_index(uint64_t v) {
    if (v >= (1ull << HIST_MAXE)) v = (1ull << HIST_MAXE) - 1;
    if (v < (1ull << (HIST_SUB + 1))) return (int)v;
    int e = 63 - __builtin_clzll(v); /* 2^e <= v < 2^(e+1), e > SUB */
    int k = e - HIST_SUB;
    return (k << HIST_SUB) + (int)(v >> k);
}

/* The highest value that falls in bucket i. */
static inline uint64_t hist_high(int i) {
    if (i < (1 << (HIST_SUB + 1))) return (uint64_t)i;
    int k = (i >> HIST_SUB) - 1;
    uint64_t m = (uint64_t)(i - (k << HIST_SUB));
    return ((m + 1) << k) - 1;
}

static inline void hist_add(struct hist *h, uint64_t v) { h->count[hist_index(v)]++; }

static inline void hist_merge(struct hist *into, const struct hist *h) {
    for (int i = 0; i < HIST_N; i++) into->count[i] += h->count[i];
}

/* The value at quantile q (0 < q <= 1): the highest value of the bucket
 * holding the ceil(q * total)-th smallest sample; 0 when empty. */
static inline uint64_t hist_quantile(const struct hist *h, double q) {
    uint64_t total = 0, seen = 0;
    for (int i = 0; i < HIST_N; i++) total += h->count[i];
    if (!total) return 0;
    uint64_t rank = (uint64_t)(q * (double)total);
    if ((double)rank < q * (double)total) rank++;
    if (!rank) rank = 1;
    for (int i = 0; i < HIST_N; i++) {
        seen += h->count[i];
        if (seen >= rank) return hist_high(i);
    }
    return hist_high(HIST_N - 1);
}
#endif
