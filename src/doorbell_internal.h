/*
 * doorbell_internal.h - the doorbell's layout and the inline ring that the
 * rings' pushes and closes run after their own notify fence (internal, not
 * installed).  The protocol and why no wake-up is lost: doorbell.c.
 */
#ifndef WEFT_DOORBELL_INTERNAL_H
#define WEFT_DOORBELL_INTERNAL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <weft/doorbell.h>

#include "base.h"

/* state bits */
#define DOORBELL_PREPARED 1u /* the loop is between prepare and cancel/clear */
#define DOORBELL_RUNG 2u     /* a ring claimed the write(2) of this round */
/* symmetric mode: rings fence, prepare does not issue membarrier
 * (doorbell.c, "Modes"); written by the loop only */
#define DOORBELL_SYM 4u

struct weft_doorbell {
    /* Written by the loop (prepare, cancel, clear) and by the one ring per
     * round that claims the write; read by every ring.  On its own line
     * pair with the loop's bookkeeping below: when the loop is busy nobody
     * writes it, and when it prepares it writes this line anyway. */
    alignas(LINE_PAIR_BYTES) atomic_uint state;
    /* The loop's own: membarrier failed in one of its prepares (from then
     * on it fences, as the rings do once membarrier_works reads 0). */
    bool loop_fenced;
    /* The loop's own: the mode its last prepare chose (the state's SYM bit
     * mirrors it), and when that prepare ran (now_ns; 0: never). */
    bool loop_sym;
    uint64_t last_prepare_ns;
    /* Read-only after create: what every ring reads. */
    alignas(LINE_PAIR_BYTES) int fd;
    bool asym;        /* prepare issues membarrier: rings may use a light fence */
    size_t map_bytes; /* the MAP_SHARED mapping the doorbell lives in */
};

#ifdef WEFT_MODEL
/* The model's eventfd (model-check/doorbell.cc): make, write one, and
 * read (true when it held a count, which the read takes). */
int weft_model_fd_make(void);
void weft_model_fd_write(int fd);
bool weft_model_fd_read(int fd);
#endif

/* The rare half of a ring: claim this round's write (state read as seen,
 * exactly PREPARED, with or without SYM) and make it. */
void weft_internal_doorbell_ring_slow(weft_doorbell *db, unsigned seen);

/* The ring proper, after the ringer's half of the Dekker pair: a light
 * fence (fenced false: a compiler barrier against prepare's membarrier) or
 * a seq_cst fence (fenced true).  One load when the loop is busy and the
 * doorbell is in asymmetric mode; in symmetric mode (SYM: prepare issued no
 * membarrier) a light fence is no fence, so the ringer issues a seq_cst
 * fence and loads again. */
static inline void weft_internal_doorbell_ring_after_fence(weft_doorbell *db, bool fenced)
{
    /* relaxed: ordered after the publication of the work by the caller's
     * fence (pairs with the heavy fence in weft_doorbell_prepare: the
     * membarrier of an asymmetric prepare, and of the prepare that enters
     * the symmetric mode when this load reads no SYM; doorbell.c, "Modes") */
    unsigned s = atomic_load_explicit(&db->state, memory_order_relaxed);
    if (UNLIKELY(s & DOORBELL_SYM) && !fenced) {
        /* pairs with the seq_cst fence of a prepare in the symmetric mode,
         * or with the membarrier of the prepare that left it (this SYM may
         * be stale): the Dekker pair of that mode (doorbell.c, "Modes") */
        atomic_thread_fence(memory_order_seq_cst);
        /* relaxed: ordered by the fence above */
        s = atomic_load_explicit(&db->state, memory_order_relaxed);
    }
    if (UNLIKELY((s & ~DOORBELL_SYM) == DOORBELL_PREPARED))
        weft_internal_doorbell_ring_slow(db, s);
}

/* The ring of a push or close that already issued its notify fence (the
 * light fence of weft_internal_ec_notify, or a seq_cst one) after making
 * its items visible: that fence is this ring's half of the Dekker pair with
 * prepare's heavy fence.  One load of the attachment (a read-mostly word),
 * and one of the doorbell's state when one is attached. */
static inline void weft_internal_doorbell_ring_fenced(_Atomic(weft_doorbell *) *slot)
{
    /* acquire: pairs with the release store of weft_*_set_doorbell, so the
     * doorbell's fd (written by create) is seen */
    weft_doorbell *db = atomic_load_explicit(slot, memory_order_acquire);
    if (LIKELY(db == NULL))
        return;
    /* fenced false: the notify fence may have been a light one */
    weft_internal_doorbell_ring_after_fence(db, false);
}

/* Attach db (or NULL) to a ring's slot: the rings' set_doorbell. */
static inline void weft_internal_doorbell_attach(_Atomic(weft_doorbell *) *slot, weft_doorbell *db)
{
    /* release: pairs with the acquire load in weft_internal_doorbell_ring_fenced */
    atomic_store_explicit(slot, db, memory_order_release);
}

#endif /* WEFT_DOORBELL_INTERNAL_H */
