/*
 * base.h - what every file of src/ shares (internal, not installed): branch
 * hints, the attribute of slow paths, the distance that keeps two sides of
 * a structure apart, and the power-of-two rounder of the capacities.
 * Compiles as C11 and as C++17 (the model checker includes it).
 */
#ifndef WEFT_BASE_H
#define WEFT_BASE_H

#include <stddef.h>
#include <stdint.h>

#include <weft/common.h>

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* A slow path: kept out of line and out of the hot code's cache lines. */
#define COLD __attribute__((cold, noinline))

/* Fields written by different sides are this far apart: two cache lines,
 * so that the adjacent-line prefetcher (which fetches 128-byte pairs) never
 * couples them, whatever the 64-byte-aligned base address. */
#define LINE_PAIR_BYTES (2 * WEFT_CACHELINE)

/* The smallest power of two >= n, for 1 <= n <= SIZE_MAX / 2 + 1 (the
 * callers bound their capacities first). */
static inline size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

#endif /* WEFT_BASE_H */
