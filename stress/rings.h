/*
 * stress/rings.h - the ring interface the ring scenarios drive, so that
 * weft_mpmc, weft_spsc and ck_ring (--peer ck) go through the same checker.
 */
#ifndef WEFT_STRESS_RINGS_H
#define WEFT_STRESS_RINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ring_ops {
    const char *name;
    bool multi;                  /* several producers and consumers allowed */
    size_t align;
    void *(*create)(size_t capacity);
    void (*destroy)(void *q);
    size_t (*footprint)(size_t capacity);                  /* NULL: no in-place */
    void *(*init)(void *mem, size_t capacity, unsigned flags);
    size_t (*capacity)(const void *q);
    size_t (*size)(const void *q);
    bool (*try_push)(void *q, void *item);
    bool (*try_pop)(void *q, void **item);
    /* NULL in a peer that lacks them (ck_ring) */
    size_t (*push_many)(void *q, void *const *items, size_t n);
    size_t (*pop_many)(void *q, void **items, size_t n);
    int (*push)(void *q, void *item);
    int (*pop)(void *q, void **item);
    int (*push_timed)(void *q, void *item, uint64_t timeout_ns);
    int (*pop_timed)(void *q, void **item, uint64_t timeout_ns);
    void (*close)(void *q);
    bool (*closed)(const void *q);
    /* What the linearizability windows (the *-lin scenarios) hold the ring
     * to: LIN_*_TWO_PHASE flags of stress/lincheck.h, as the ring's header
     * states them; 0 (a peer's designated initializer leaves it so): a
     * plain linearizable bounded FIFO, every operation one atomic step. */
    unsigned lin_flags;
};

/* ck_ring's MPMC (multi) or SPSC ring with try operations only; NULL with
 * a reason in why when it cannot be used (no Concurrency Kit, or a TSan
 * build: ck's atomics are inline assembly TSan cannot see, so it would
 * report races on the payload that are not there). */
const struct ring_ops *stress_ck_ops(bool multi, char *why, size_t whylen);

/* A ring behind a mutex with the whole interface (weft-stress --peer
 * mutex): a trusted reference for every ring scenario. */
const struct ring_ops *stress_mutex_ops(bool multi);

#endif /* WEFT_STRESS_RINGS_H */
