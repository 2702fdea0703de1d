/*
 * stress/rings.h - the ring interface the ring scenarios drive, so that
 * weft_mpmc, weft_spsc and ck_ring (--peer ck) go through the same checker,
 * and what the scenario families (stress/rings_*.c) share from
 * stress/rings.c.
 */
#ifndef WEFT_STRESS_RINGS_H
#define WEFT_STRESS_RINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stress.h"

struct ring_ops {
    const char *name;
    bool multi; /* several producers and consumers allowed */
    size_t align;
    void *(*create)(size_t capacity);
    void (*destroy)(void *q);
    size_t (*footprint)(size_t capacity); /* NULL: no in-place */
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

/* weft_queue behind the ring interface (capacity 0: unbounded), for the
 * linearizability windows (queue-lin). */
const struct ring_ops *stress_queue_ops(void);

/* weft_msgq behind the ring interface: each item a message of three
 * cells, or of two (stress/msgq.c says why msgq-lin's are). */
const struct ring_ops *stress_msgq_ops(bool two_cells);

/* A ring behind a mutex with the whole interface (weft-stress --peer
 * mutex): a trusted reference for every ring scenario. */
const struct ring_ops *stress_mutex_ops(bool multi);

/* ---- what a ring scenario is ---------------------------------------------- */

enum { M_TRY = 1, M_BATCH = 2, M_BLOCK = 4, M_TIMED = 8, M_ALL = 15 };

struct ring_arg {
    bool multi;          /* mpmc (true) or spsc */
    bool queue;          /* the unbounded weft_queue (stress/queue.c) */
    bool msgq;           /* weft_msgq, items as messages (stress/msgq.c) */
    bool msgq_two_cells; /* ... of two cells instead of three */
    unsigned modes;      /* flow scenarios: the operations threads pick from */
    bool lanes;          /* one ring per producer/consumer pair (spsc oversub) */
};

/* Pick the ring under test; NULL (with r->skip set) when it cannot run.
 * A single-producer ring runs one producer and one consumer, or, with
 * lanes, one consumer per producer (each pair on its own ring). */
const struct ring_ops *ring_pick_ops(struct stress_run *r, const struct ring_arg *a,
                                     unsigned modes);

static inline uint64_t ring_pick_timeout(struct rng *g)
{
    static const uint64_t t[] = { 0, 1000, 20000, 200000, 2000000 };
    return t[rng_below(g, sizeof t / sizeof t[0])];
}

static inline unsigned ring_pick_mode(struct rng *g, unsigned modes)
{
    unsigned n = (unsigned)__builtin_popcount(modes);
    unsigned k = (unsigned)rng_below(g, n);
    for (unsigned m = 1; m <= M_TIMED; m <<= 1)
        if ((modes & m) && k-- == 0)
            return m;
    return M_TRY;
}

/* The main phase: sleep until the budget is spent or a check failed. */
void ring_main_phase(struct stress_run *r, double seconds);

/* ---- receiving and checking items --------------------------------------- */

/* A thread's side of the checker: verifies, marks seen and frees what it
 * receives, and checks per-producer FIFO and the lane. */
struct ring_receiver {
    struct stress_run *r;
    struct seen *seen;
    unsigned nproducers;
    uint64_t *last; /* per producer: last seq + 1 this receiver saw (0: none) */
    const char *who;
    unsigned id;
    unsigned nlanes, lane;
    uint64_t got;
};

/* false (reported) when out of memory. */
bool ring_receiver_init(struct ring_receiver *rc, struct stress_run *r, struct seen *seen,
                        unsigned P, const char *who, unsigned id, unsigned nlanes, unsigned lane);
void ring_receive(struct ring_receiver *rc, void *p);

/* After the threads are joined: a closed ring refuses pushes and reports
 * EPIPE to pops, also through the timed and batch forms. */
void ring_check_closed(struct stress_run *r, const struct ring_ops *ops, void *q);
/* Before the threads start, on the empty ring, one thread: the full and
 * empty edges and the time-outs. */
void ring_check_edges(struct stress_run *r, const struct ring_ops *ops, void *q);
/* Drain and verify what the consumers left, reporting it (why: when the
 * ring should have been empty). */
void ring_drain_leftovers(struct stress_run *r, const struct ring_ops *ops, void *q,
                          struct ring_receiver *rc, const char *why);

/* ---- the scenario families ---------------------------------------------- */

int run_flow(struct stress_run *r);       /* rings_flow.c */
int run_close(struct stress_run *r);      /* rings_close.c: parked and live closes */
int run_close_race(struct stress_run *r); /* rings_close.c: many tiny rounds */
int run_shared(struct stress_run *r);     /* rings_shared.c */
int run_lin(struct stress_run *r);        /* rings_lin.c */

#endif /* WEFT_STRESS_RINGS_H */
