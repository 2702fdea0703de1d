/*
 * epoch_sync.h - the protocols of weft_epoch between threads (internal, not
 * installed): the advance (the heavy fence and the scan of the records
 * against the sections' announcements in epoch_internal.h), the retire log
 * (its owner appends, the reclaimer frees from the front), and freeing what
 * is old enough.  src/epoch.c includes it and so does the model checker
 * (model-check/epoch.cc), which runs these functions as they ship; why the
 * protocol is safe is in epoch.c's top comment.  Advances and frees run
 * under the domain's mutex (the caller holds it).
 */
#ifndef WEFT_EPOCH_SYNC_H
#define WEFT_EPOCH_SYNC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "epoch_internal.h"
#include "wait.h"

/* After membarrier failed, how long advances wait before they trust a scan
 * again: a section that read asym = 1 just before the switch used only a
 * compiler barrier, and its announcement is visible after this at the
 * latest (a store buffer drains in nanoseconds). */
#define FALLBACK_NS 10000000u /* 10 ms */

/* ---- advance and free (under d->mu) --------------------------------------- */

/* The advancer's half of the fence pair with epoch_enter's light fence.
 * false when the scan that follows must not be trusted (see FALLBACK_NS). */
static inline bool fence_heavy(weft_epoch *d)
{
    /* relaxed: only mutex holders write asym */
    if (atomic_load_explicit(&d->asym, memory_order_relaxed)) {
        if (weft_internal_heavy_fence())
            return true; /* pairs with the compiler barrier of every section */
        /* relaxed: sections read it as a hint; FALLBACK_NS covers the ones
         * that read it too late */
        atomic_store_explicit(&d->asym, 0, memory_order_relaxed);
        d->asym_off_at = now_ns();
        return false;
    }
    /* seq_cst: pairs with the seq_cst fence of epoch_enter and of retire */
    atomic_thread_fence(memory_order_seq_cst);
    return d->asym_off_at == 0 || now_ns() - d->asym_off_at >= FALLBACK_NS;
}

/* One advance, if every active record announced the current epoch. */
static inline bool try_advance(weft_epoch *d)
{
    /* relaxed: only mutex holders store it, and we hold the mutex */
    uint64_t e = atomic_load_explicit(&d->epoch, memory_order_relaxed);
    if (!fence_heavy(d))
        return false;
    /* acquire: pairs with the release CAS that published each record */
    for (struct epoch_rec *r = atomic_load_explicit(&d->records, memory_order_acquire); r;
         r = r->next) {
        /* acquire: pairs with the release store of epoch_exit: a section
         * that ended is over before anything this advance lets us free */
        uint64_t s = atomic_load_explicit(&r->state, memory_order_acquire);
        if ((s & EPOCH_ACTIVE) && s >> 1 != e)
            return false;
    }
    /* release: pairs with the acquire load in epoch_enter */
    atomic_store_explicit(&d->epoch, e + 1, memory_order_release);
    return true;
}

/* Free r's retired objects of epochs up to old (all of them: UINT64_MAX). */
static inline void free_log(struct epoch_rec *r, uint64_t old)
{
    struct epoch_log *b = r->head;
    for (;;) {
        /* acquire: pairs with retire's release store of n: the entries
         * below n are written */
        size_t n = atomic_load_explicit(&b->n, memory_order_acquire);
        while (r->head_i < n && b->e[r->head_i].epoch <= old) {
            struct epoch_retired *x = &b->e[r->head_i++];
            x->fn(x->p);
        }
        if (r->head_i < EPOCH_LOG_ENTRIES)
            return;
        /* acquire: pairs with the release store of next in log_grow */
        struct epoch_log *nx = atomic_load_explicit(&b->next, memory_order_acquire);
        if (nx == NULL)
            return;
        free(b); /* the owner moved on to nx before it published it */
        r->head = b = nx;
        r->head_i = 0;
    }
}

static inline void free_old(weft_epoch *d)
{
    /* relaxed: we hold the mutex, under which every advance stored it */
    uint64_t e = atomic_load_explicit(&d->epoch, memory_order_relaxed);
    if (e < EPOCH_GRACE)
        return;
    /* acquire: pairs with the release CAS that published each record */
    for (struct epoch_rec *r = atomic_load_explicit(&d->records, memory_order_acquire); r;
         r = r->next)
        free_log(r, e - EPOCH_GRACE);
}

static inline struct epoch_log *log_new(void)
{
    struct epoch_log *b = (struct epoch_log *)malloc(sizeof *b);
    if (b != NULL) {
        /* relaxed: published with the record or by log_grow's release */
        atomic_init(&b->next, NULL);
        atomic_init(&b->n, 0);
    }
    return b;
}

/* The owner's log is full: a new block, or false when malloc failed. */
static COLD bool log_grow(struct epoch_rec *r)
{
    struct epoch_log *b = log_new();
    if (b == NULL)
        return false;
    /* release: pairs with the acquire load in free_log; after this store
     * the owner never touches the old block again */
    atomic_store_explicit(&r->tail->next, b, memory_order_release);
    r->tail = b;
    return true;
}

/* Append (p, fn) to r's log, tagged with the epoch: the owner's side of the
 * log.  false when the log needed a new block and malloc failed. */
static inline bool log_append(weft_epoch *d, struct epoch_rec *r, void *p, void (*fn)(void *))
{
    struct epoch_log *b = r->tail;
    /* relaxed: only this thread writes n */
    size_t n = atomic_load_explicit(&b->n, memory_order_relaxed);
    if (UNLIKELY(n == EPOCH_LOG_ENTRIES)) {
        if (!log_grow(r))
            return false;
        b = r->tail;
        n = 0;
    }
    /* the writer's half: orders the caller's unlink before the load of the
     * epoch below when sections use real fences (pairs with fence_heavy's
     * seq_cst fence); with membarrier it is a compiler barrier and the
     * third advance covers the reordering (epoch.c's top comment);
     * relaxed: a hint */
    weft_internal_fence_light(!atomic_load_explicit(&d->asym, memory_order_relaxed));
    /* relaxed: the fence above (or the third advance) orders it */
    uint64_t e = atomic_load_explicit(&d->epoch, memory_order_relaxed);
    b->e[n] = (struct epoch_retired){ p, fn, e };
    /* release: pairs with the acquire load in free_log: the entry is
     * written before it is counted */
    atomic_store_explicit(&b->n, n + 1, memory_order_release);
    return true;
}

#endif /* WEFT_EPOCH_SYNC_H */
