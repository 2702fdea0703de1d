/*
 * seq_cells.h - what weft_mpmc's slots and weft_msgq's cells share: the
 * state encoding of Vyukov's bounded MPMC queue (D. Vyukov, "Bounded MPMC
 * queue", 1024cores.net, 2010), where every slot carries a sequence number
 * that says for which position it is free or with which position it is
 * full, and the closed mark in bit 63 of the tail word.  Internal: static
 * inline, included by src/mpmc.c and src/msgq.c (and so by their
 * model-check programs).
 */
#ifndef WEFT_SEQ_CELLS_H
#define WEFT_SEQ_CELLS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Bit 63 of the tail word: closed. */
#define CLOSED ((uint64_t)1 << 63)

/* Slot states (the sequence number), for position p.  Both are even/odd
 * multiples so that "full with p" (2p+1) never equals "free for p+1"
 * (2p+2), not even with capacity 1, where Vyukov's p+1 encoding is
 * ambiguous. */
static inline uint64_t free_for(uint64_t p)
{
    return 2 * p;
}

static inline uint64_t full_of(uint64_t p)
{
    return 2 * p + 1;
}

/* The ring is closed and every position below the frozen tail was claimed
 * by a taker, given that a taker found position h empty. */
static inline bool seq_drained(const atomic_uint_least64_t *tail, uint64_t h)
{
    /* acquire: pairs with the release fetch_or of close (weft_mpmc_close,
     * weft_msgq_close), whose writes EPIPE then shows */
    uint64_t t = atomic_load_explicit(tail, memory_order_acquire);
    return (t & CLOSED) != 0 && (int64_t)(h - (t & ~CLOSED)) >= 0;
}

#endif /* WEFT_SEQ_CELLS_H */
