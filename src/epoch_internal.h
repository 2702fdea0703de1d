/*
 * epoch_internal.h - the layout of a weft_epoch domain and the inline read
 * side that weft_epoch_enter/exit and the queue (src/queue.c) share
 * (internal, not installed).  The protocol and why it is safe are in
 * epoch.c's top comment.
 */
#ifndef WEFT_EPOCH_INTERNAL_H
#define WEFT_EPOCH_INTERNAL_H

#include <assert.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/epoch.h>

#include "base.h"
#include "eventcount_internal.h"

enum {
    EPOCH_LOG_ENTRIES = 128, /* retired objects per log block */
    EPOCH_RETIRE_SCAN = 64,  /* a thread's retires between reclaim attempts */
    EPOCH_TLS_SLOTS = 8,     /* a thread's cache of (domain, record) pairs */
    EPOCH_GRACE = 3          /* advances between a retire and its free */
};

/* A record's state: 0 outside every section, else epoch << 1 | ACTIVE. */
#define EPOCH_ACTIVE 1u

struct epoch_retired {
    void *p;
    void (*fn)(void *);
    uint64_t epoch; /* the domain's epoch when p was retired */
};

/* One block of a record's retire log: the record's owner appends, the
 * reclaimer (whoever holds the domain's mutex) consumes from the front. */
struct epoch_log {
    /* the next block; written once by the owner (release), read by the
     * reclaimer (acquire) */
    _Atomic(struct epoch_log *) next;
    /* entries published; written by the owner (release), read by the
     * reclaimer (acquire) */
    atomic_size_t n;
    struct epoch_retired e[EPOCH_LOG_ENTRIES];
};

/* A thread's record in one domain, laid out by who writes what. */
struct epoch_rec {
    /* Written by the owner on every outermost enter and exit; read by every
     * advance.  Nothing else on these lines. */
    alignas(LINE_PAIR_BYTES) atomic_uint_least64_t state;
    unsigned nest;          /* owner only: open sections */
    unsigned since_scan;    /* owner only: retires since the last attempt */
    struct epoch_log *tail; /* owner only: the block it appends to */
    /* The reclaimer's (under the domain's mutex), and the claim flag. */
    alignas(LINE_PAIR_BYTES) struct epoch_log *head;
    size_t head_i;          /* entries of head already freed */
    atomic_int in_use;      /* 1 while a thread owns the record */
    struct epoch_rec *next; /* the domain's list; set before publication */
};

_Static_assert(offsetof(struct epoch_rec, head) == LINE_PAIR_BYTES,
               "the owner's hot fields fill exactly the first line pair");

struct weft_epoch {
    /* Read by every outermost enter; written only by an advance. */
    alignas(LINE_PAIR_BYTES) atomic_uint_least64_t epoch;
    /* 1: sections use compiler barriers and advances membarrier(2); 0: both
     * use seq_cst fences.  Goes 1 -> 0 once, if membarrier starts failing. */
    atomic_uint asym;
    uint64_t id; /* unique per domain ever made; immutable */
    /* Written when a record is added (push-only list, CAS). */
    alignas(LINE_PAIR_BYTES) _Atomic(struct epoch_rec *) records;
    /* Serialises advances and frees. */
    pthread_mutex_t mu;
    uint64_t asym_off_at;         /* under mu: when asym went to 0, or 0 */
    struct weft_epoch *live_next; /* the registry of live domains */
};

/* A thread's entry for one domain it used (its list, tls_list in epoch.c). */
struct epoch_tls {
    weft_epoch *d;
    uint64_t id; /* d's id then: tells a new domain at a reused address */
    struct epoch_rec *r;
    struct epoch_tls *next;
};

/* A slot of the thread's cache of entries, held by value so that a hit
 * costs one load level (d, id and r on one line) before the record. */
struct epoch_slot {
    alignas(32) weft_epoch *d;
    uint64_t id;
    struct epoch_rec *r;
};

#ifndef WEFT_MODEL
extern _Thread_local struct epoch_slot weft_internal_epoch_cache[EPOCH_TLS_SLOTS]
    __attribute__((tls_model("initial-exec")));

/* The calling thread's record in d, made on first use; NULL on ENOMEM. */
struct epoch_rec *weft_internal_epoch_rec_slow(weft_epoch *d);

/* The calling thread's record in d if its cache holds it, else NULL. */
static inline struct epoch_rec *epoch_rec_cached(weft_epoch *d)
{
    const struct epoch_slot *s = &weft_internal_epoch_cache[d->id % EPOCH_TLS_SLOTS];
    return LIKELY(s->d == d && s->id == d->id) ? s->r : NULL;
}

static inline struct epoch_rec *epoch_rec_of(weft_epoch *d)
{
    struct epoch_rec *r = epoch_rec_cached(d);
    return LIKELY(r != NULL) ? r : weft_internal_epoch_rec_slow(d);
}
#else
/* The model checker's fibers share one OS thread: its harness keeps a
 * record per model thread (model-check/epoch.cc). */
struct epoch_rec *weft_model_epoch_rec(weft_epoch *d);
static inline struct epoch_rec *epoch_rec_of(weft_epoch *d)
{
    return weft_model_epoch_rec(d);
}
static inline struct epoch_rec *epoch_rec_cached(weft_epoch *d)
{
    return weft_model_epoch_rec(d);
}
#endif

/* The reader's half of the section protocol (see epoch.c) on r, the
 * calling thread's record in d: announce the epoch read, then the light
 * fence, then the section's loads. */
static inline void epoch_enter_rec(weft_epoch *d, struct epoch_rec *r)
{
    if (r->nest++ == 0) {
        /* acquire: pairs with the release store of the advance that made
         * this epoch, so the section sees what that advance ordered before
         * it (epoch.c, "three advances") */
        uint64_t e = atomic_load_explicit(&d->epoch, memory_order_acquire);
        /* relaxed: the fence below orders it before the section's loads */
        atomic_store_explicit(&r->state, e << 1 | EPOCH_ACTIVE, memory_order_relaxed);
        /* pairs with the heavy fence (membarrier, or its seq_cst fence) of
         * try_advance: either the advance's scan sees this announcement, or
         * this section's loads see every unlink the advance ordered;
         * relaxed: a hint written once, see struct weft_epoch */
        weft_internal_fence_light(!atomic_load_explicit(&d->asym, memory_order_relaxed));
    }
}

/* Open a section of d; the thread's record, or NULL when its first record
 * could not be allocated (no section is open then). */
static inline struct epoch_rec *epoch_enter(weft_epoch *d)
{
    struct epoch_rec *r = epoch_rec_of(d);
    if (LIKELY(r != NULL))
        epoch_enter_rec(d, r);
    return r;
}

static inline void epoch_exit(struct epoch_rec *r)
{
    assert(r->nest > 0 && "weft_epoch_exit without weft_epoch_enter");
    if (--r->nest == 0)
        /* release: pairs with the acquire load of state in try_advance;
         * every load of the section happens before what is freed after an
         * advance that saw this store */
        atomic_store_explicit(&r->state, 0, memory_order_release);
}

/* Try (without waiting for the mutex) up to advances epoch advances, then
 * free what is old enough.  Call outside any section of d to let all of
 * them succeed. */
void weft_internal_epoch_poll(weft_epoch *d, unsigned advances);

/* Wait until every section of d open at the call has closed (two
 * advances), without freeing anything.  Not inside a section of d. */
void weft_internal_epoch_barrier(weft_epoch *d);

#endif /* WEFT_EPOCH_INTERNAL_H */
