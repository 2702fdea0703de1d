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

#include <weft/doorbell.h>

#include "base.h"

/* state bits */
#define DOORBELL_PREPARED 1u /* the loop is between prepare and cancel/clear */
#define DOORBELL_RUNG 2u     /* a ring claimed the write(2) of this round */

struct weft_doorbell {
    /* Written by the loop (prepare, cancel, clear) and by the one ring per
     * round that claims the write; read by every ring.  Alone on its line
     * pair: when the loop is busy nobody writes it. */
    alignas(LINE_PAIR_BYTES) atomic_uint state;
    /* Read-only after create. */
    alignas(LINE_PAIR_BYTES) int fd;
    bool asym;        /* prepare issues membarrier: rings may use a light fence */
    size_t map_bytes; /* the MAP_SHARED mapping the doorbell lives in */
    /* The loop's own: membarrier failed in one of its prepares (from then
     * on it fences, as the rings do once membarrier_works reads 0). */
    bool loop_fenced;
};

#ifdef WEFT_MODEL
/* The model's eventfd (model-check/doorbell.cc): make, write one, and
 * read (true when it held a count, which the read takes). */
int weft_model_fd_make(void);
void weft_model_fd_write(int fd);
bool weft_model_fd_read(int fd);
#endif

/* The rare half of a ring: claim this round's write and make it. */
void weft_internal_doorbell_ring_slow(weft_doorbell *db);

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
    /* relaxed: the caller's fence orders it after the publication of the
     * work (pairs with the heavy fence in weft_doorbell_prepare) */
    if (UNLIKELY(atomic_load_explicit(&db->state, memory_order_relaxed) == DOORBELL_PREPARED))
        weft_internal_doorbell_ring_slow(db);
}

/* Attach db (or NULL) to a ring's slot: the rings' set_doorbell. */
static inline void weft_internal_doorbell_attach(_Atomic(weft_doorbell *) *slot, weft_doorbell *db)
{
    /* release: pairs with the acquire load in weft_internal_doorbell_ring_fenced */
    atomic_store_explicit(slot, db, memory_order_release);
}

#endif /* WEFT_DOORBELL_INTERNAL_H */
