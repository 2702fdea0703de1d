/*
 * stress/rings.c - scenarios for weft_mpmc and weft_spsc (and, with
 * --peer ck, for ck_ring through the same checker).
 *
 * Every ring scenario moves heap items (stress.h's struct item) from
 * producers to consumers and checks, for each item:
 *   - integrity: the receiver verifies magic numbers and a checksum over
 *     every field before it frees the item (plain writes by the producer,
 *     plain reads by the consumer: a missing release/acquire in the ring is
 *     a data race TSan reports, a torn publication fails the checksum);
 *   - exactly once: a bit per (producer, seq) set by the receiver; a bit set
 *     twice is a duplicate, a bit never set at the end is a lost item;
 *   - per-producer FIFO per consumer: every consumer sees the items of one
 *     producer in increasing seq order (batches included);
 *   - close: every push that reported success is popped exactly once, no
 *     push that reported EPIPE/false-on-closed is ever popped, every thread
 *     parked in a blocking call returns EPIPE, a closed ring refuses pushes.
 * Hangs (lost wake-ups, a pop that never sees a published item) are the
 * watchdog's.
 *
 * This file holds what the ring scenarios share (the rings behind one
 * interface, picking the ring under test, the receiver and the checks on a
 * single thread) and the table of scenarios; the families are in
 * rings_flow.c, rings_close.c (parked and racing closes), rings_shared.c and
 * rings_lin.c.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <weft/mpmc.h>
#include <weft/spsc.h>

#include "lincheck.h"
#include "rings.h"
#include "stress.h"

/* ---- the rings behind one interface ------------------------------------ */

#define RING_WRAPPERS(P)                                             \
    static void *P##_w_create(size_t c)                              \
    {                                                                \
        return weft_##P##_create(c);                                 \
    }                                                                \
    static void P##_w_destroy(void *q)                               \
    {                                                                \
        weft_##P##_destroy(q);                                       \
    }                                                                \
    static size_t P##_w_footprint(size_t c)                          \
    {                                                                \
        return weft_##P##_footprint(c);                              \
    }                                                                \
    static void *P##_w_init(void *m, size_t c, unsigned f)           \
    {                                                                \
        return weft_##P##_init(m, c, f);                             \
    }                                                                \
    static size_t P##_w_capacity(const void *q)                      \
    {                                                                \
        return weft_##P##_capacity(q);                               \
    }                                                                \
    static size_t P##_w_size(const void *q)                          \
    {                                                                \
        return weft_##P##_size(q);                                   \
    }                                                                \
    static bool P##_w_try_push(void *q, void *i)                     \
    {                                                                \
        return weft_##P##_try_push(q, i);                            \
    }                                                                \
    static bool P##_w_try_pop(void *q, void **i)                     \
    {                                                                \
        return weft_##P##_try_pop(q, i);                             \
    }                                                                \
    static size_t P##_w_push_many(void *q, void *const *i, size_t n) \
    {                                                                \
        return weft_##P##_try_push_many(q, i, n);                    \
    }                                                                \
    static size_t P##_w_pop_many(void *q, void **i, size_t n)        \
    {                                                                \
        return weft_##P##_try_pop_many(q, i, n);                     \
    }                                                                \
    static int P##_w_push(void *q, void *i)                          \
    {                                                                \
        return weft_##P##_push(q, i);                                \
    }                                                                \
    static int P##_w_pop(void *q, void **i)                          \
    {                                                                \
        return weft_##P##_pop(q, i);                                 \
    }                                                                \
    static int P##_w_push_timed(void *q, void *i, uint64_t t)        \
    {                                                                \
        return weft_##P##_push_timed(q, i, t);                       \
    }                                                                \
    static int P##_w_pop_timed(void *q, void **i, uint64_t t)        \
    {                                                                \
        return weft_##P##_pop_timed(q, i, t);                        \
    }                                                                \
    static void P##_w_close(void *q)                                 \
    {                                                                \
        weft_##P##_close(q);                                         \
    }                                                                \
    static bool P##_w_closed(const void *q)                          \
    {                                                                \
        return weft_##P##_closed(q);                                 \
    }

RING_WRAPPERS(mpmc)
RING_WRAPPERS(spsc)

#define RING_OPS(P, MULTI, LIN)                                                                 \
    {                                                                                           \
        .name = "weft_" #P, .multi = MULTI, .create = P##_w_create, .destroy = P##_w_destroy,   \
        .footprint = P##_w_footprint, .init = P##_w_init, .capacity = P##_w_capacity,           \
        .size = P##_w_size, .try_push = P##_w_try_push, .try_pop = P##_w_try_pop,               \
        .push_many = P##_w_push_many, .pop_many = P##_w_pop_many, .push = P##_w_push,           \
        .pop = P##_w_pop, .push_timed = P##_w_push_timed, .pop_timed = P##_w_pop_timed,         \
        .close = P##_w_close, .closed = P##_w_closed, .align = WEFT_CACHELINE, .lin_flags = LIN \
    }

/* The linearizability contracts (include/weft/mpmc.h, spsc.h, "What the
 * results mean"): Vyukov's ring claims a position, then publishes (a pop
 * may find the oldest claimed item unpublished), and a pop claims, then
 * releases its slot; weft_spsc's push announces itself and passes the
 * close gate, then publishes (possibly after close returned), or withdraws
 * when closed, and its close gates pushes before it seals the ring for
 * pops. */
#define MPMC_LIN (LIN_PUSH_TWO_PHASE | LIN_POP_TWO_PHASE)
#define SPSC_LIN (LIN_PUSH_TWO_PHASE | LIN_CLOSE_TWO_PHASE | LIN_PUSH_ANNOUNCES)
static const struct ring_ops mpmc_ops = RING_OPS(mpmc, true, MPMC_LIN);
static const struct ring_ops spsc_ops = RING_OPS(spsc, false, SPSC_LIN);

/* ---- what a ring scenario is ---------------------------------------------- */

/* The ring under test, before the thread counts are fitted to it. */
static const struct ring_ops *choose_ops(struct stress_run *r, const struct ring_arg *a,
                                         unsigned modes)
{
    if (a->queue) {
        if (r->peer == STRESS_PEER_NONE)
            return stress_queue_ops();
        snprintf(r->skip, sizeof r->skip, "the queue has no peer here");
        return NULL;
    }
    if (a->msgq) {
        if (r->peer == STRESS_PEER_NONE)
            return stress_msgq_ops(a->msgq_two_cells);
        snprintf(r->skip, sizeof r->skip, "the message queue has no peer here");
        return NULL;
    }
    if (r->peer == STRESS_PEER_MUTEX)
        return stress_mutex_ops(a->multi);
    if (r->peer == STRESS_PEER_NONE)
        return a->multi ? &mpmc_ops : &spsc_ops;
    const struct ring_ops *ck = stress_ck_ops(a->multi, r->skip, sizeof r->skip);
    if (!ck)
        return NULL;
    if ((modes & ~M_TRY) != 0) {
        snprintf(r->skip, sizeof r->skip, "ck_ring has only try operations");
        return NULL;
    }
    /* ck_ring's MPMC makes each producer wait for the previous one's commit:
     * it is meant for no more threads than cores. */
    unsigned half = r->ncpu / 2 ? r->ncpu / 2 : 1;
    if (r->p > half)
        r->p = half;
    if (r->c > half)
        r->c = half;
    return ck;
}

/* Pick the ring under test; NULL (with r->skip set) when it cannot run.
 * A single-producer ring runs one producer and one consumer, or, with
 * lanes, one consumer per producer (each pair on its own ring). */
const struct ring_ops *ring_pick_ops(struct stress_run *r, const struct ring_arg *a, unsigned modes)
{
    const struct ring_ops *ops = choose_ops(r, a, modes);
    if (ops && !ops->multi) {
        if (a->lanes)
            r->c = r->p;
        else
            r->p = r->c = 1;
    }
    return ops;
}

/* The main phase: sleep until the budget is spent or a check failed. */
void ring_main_phase(struct stress_run *r, double seconds)
{
    double end = stress_now() + seconds;
    while (stress_now() < end && !stress_failed(r))
        stress_sleep_us(5000);
}

/* ---- receiving and checking items --------------------------------------- */

bool ring_receiver_init(struct ring_receiver *rc, struct stress_run *r, struct seen *seen,
                        unsigned P, const char *who, unsigned id, unsigned nlanes, unsigned lane)
{
    rc->r = r;
    rc->seen = seen;
    rc->nproducers = P;
    rc->last = calloc(P, sizeof *rc->last);
    rc->who = who;
    rc->id = id;
    rc->nlanes = nlanes;
    rc->lane = lane;
    rc->got = 0;
    if (!rc->last)
        stress_fail(r, "%s %u: out of memory", who, id);
    return rc->last != NULL;
}

void ring_receive(struct ring_receiver *rc, void *p)
{
    char who[48];
    snprintf(who, sizeof who, "%s %u", rc->who, rc->id);
    unsigned prod;
    uint64_t seq;
    if (!item_receive(rc->r, rc->seen, rc->nproducers, p, who, &prod, &seq, NULL))
        return;
    rc->got++;
    if (prod % rc->nlanes != rc->lane)
        stress_fail(rc->r, "%s got an item of producer %u from another ring (lane %u)", who, prod,
                    prod % rc->nlanes);
    if (rc->last[prod] != 0 && seq < rc->last[prod])
        stress_fail(rc->r,
                    "%s got producer %u's seq %llu after its seq %llu: per-producer "
                    "FIFO broken",
                    who, prod, (unsigned long long)seq, (unsigned long long)(rc->last[prod] - 1));
    rc->last[prod] = seq + 1;
}

/* After the threads are joined: a closed ring refuses pushes and reports
 * EPIPE to pops, also through the timed and batch forms. */
void ring_check_closed(struct stress_run *r, const struct ring_ops *ops, void *q)
{
    static int dummy;
    void *it = &dummy;
    if (!ops->closed(q))
        stress_fail(r, "closed() is false after close");
    if (ops->try_push(q, it))
        stress_fail(r, "try_push succeeded on a closed ring");
    void *const one[1] = { it };
    if (ops->push_many(q, one, 1) != 0)
        stress_fail(r, "try_push_many pushed onto a closed ring");
    int e;
    if ((e = ops->push(q, it)) != EPIPE)
        stress_fail(r, "push on a closed ring returned %d, not EPIPE", e);
    if ((e = ops->push_timed(q, it, 1000)) != EPIPE)
        stress_fail(r, "push_timed on a closed ring returned %d, not EPIPE", e);
    if ((e = ops->pop(q, &it)) != EPIPE)
        stress_fail(r, "pop on a closed, drained ring returned %d, not EPIPE", e);
    if ((e = ops->pop_timed(q, &it, 1000)) != EPIPE)
        stress_fail(r, "pop_timed on a closed, drained ring returned %d, not EPIPE", e);
    if (ops->size(q) != 0)
        stress_fail(r, "size is %zu on a drained ring", ops->size(q));
}

/* Before the threads start, on the empty ring, one thread: the full and
 * empty edges and the time-outs (a timed call that never times out, or a
 * full test off by one, fails here deterministically; a timed call that
 * hangs is the watchdog's).  Dummy items are never dereferenced. */
void ring_check_edges(struct stress_run *r, const struct ring_ops *ops, void *q)
{
    static char dummy[64];
    size_t cap = ops->capacity(q);
    void *it;
    int e;
    if (ops->size(q) != 0 || ops->try_pop(q, &it))
        stress_fail(r, "a new ring is not empty (size %zu)", ops->size(q));
    if (ops->pop_timed && (e = ops->pop_timed(q, &it, 100000)) != ETIMEDOUT)
        stress_fail(r, "pop_timed(100 us) on an empty ring returned %d, not ETIMEDOUT", e);
    size_t n = 0;
    while (n < cap + 1 && ops->try_push(q, &dummy[n % 64]))
        n++;
    if (n != cap)
        stress_fail(r, "try_push accepted %zu items into a ring of capacity %zu", n, cap);
    if (ops->size(q) != n)
        stress_fail(r, "size is %zu with %zu items in the ring", ops->size(q), n);
    if (ops->push_timed && (e = ops->push_timed(q, &dummy[0], 100000)) != ETIMEDOUT)
        stress_fail(r, "push_timed(100 us) on a full ring returned %d, not ETIMEDOUT", e);
    void *one[1] = { &dummy[0] };
    if (ops->push_many && ops->push_many(q, one, 1) != 0)
        stress_fail(r, "try_push_many pushed onto a full ring");
    for (size_t i = 0; i < n; i++) {
        if (!ops->try_pop(q, &it)) {
            stress_fail(r, "try_pop found the ring empty after %zu of %zu items", i, n);
            return;
        }
        if (it != &dummy[i % 64])
            stress_fail(r, "item %zu of a single thread came out of order", i);
    }
    if (ops->size(q) != 0 || ops->try_pop(q, &it))
        stress_fail(r, "the ring is not empty after popping all it held");
}

/* Drain what the consumers left (they must have left nothing: they stop
 * only on EPIPE, or on an empty try after every producer of the lane was
 * done).  Leftovers are verified like any item, then reported. */
void ring_drain_leftovers(struct stress_run *r, const struct ring_ops *ops, void *q,
                          struct ring_receiver *rc, const char *why)
{
    void *it;
    uint64_t before = rc->got, n = 0;
    while (n < 100000000 && ops->try_pop(q, &it)) {
        ring_receive(rc, it);
        n++;
    }
    if (n)
        stress_fail(r, "%llu items (%llu good) left in the ring after %s", (unsigned long long)n,
                    (unsigned long long)(rc->got - before), why);
}

/* ---- the table --------------------------------------------------------------------- */

static const struct ring_arg a_mpmc_try = { .multi = true, .modes = M_TRY };
static const struct ring_arg a_mpmc_batch = { .multi = true, .modes = M_BATCH };
static const struct ring_arg a_mpmc_block = { .multi = true, .modes = M_BLOCK };
static const struct ring_arg a_mpmc_timed = { .multi = true, .modes = M_TIMED };
static const struct ring_arg a_mpmc_mixed = { .multi = true, .modes = M_ALL };
static const struct ring_arg a_spsc_try = { .multi = false, .modes = M_TRY };
static const struct ring_arg a_spsc_batch = { .multi = false, .modes = M_BATCH };
static const struct ring_arg a_spsc_block = { .multi = false, .modes = M_BLOCK };
static const struct ring_arg a_spsc_timed = { .multi = false, .modes = M_TIMED };
static const struct ring_arg a_spsc_mixed = { .multi = false, .modes = M_ALL, .lanes = true };
static const struct ring_arg a_mpmc_lin = { .multi = true, .modes = M_ALL };
static const struct ring_arg a_spsc_lin = { .multi = false, .modes = M_ALL };

const struct scenario stress_ring_scenarios[] = {
    { .name = "mpmc-try",
      .what = "try_push/try_pop, 4P4C, capacity 4: exactly-once, per-producer FIFO, payload",
      .fn = run_flow,
      .arg = &a_mpmc_try,
      .def_p = 4,
      .def_c = 4,
      .def_cap = 4,
      .weight = 2 },
    { .name = "mpmc-batch",
      .what = "try_push_many/try_pop_many of 1-32 items, 4P4C, capacity 8",
      .fn = run_flow,
      .arg = &a_mpmc_batch,
      .def_p = 4,
      .def_c = 4,
      .def_cap = 8,
      .weight = 2 },
    { .name = "mpmc-block",
      .what = "blocking push/pop, 4P4C, capacity 1; close drains, then EPIPE",
      .fn = run_flow,
      .arg = &a_mpmc_block,
      .def_p = 4,
      .def_c = 4,
      .def_cap = 1,
      .weight = 2 },
    { .name = "mpmc-timed",
      .what = "push_timed/pop_timed with 0-2 ms time-outs, 4P4C, capacity 2",
      .fn = run_flow,
      .arg = &a_mpmc_timed,
      .def_p = 4,
      .def_c = 4,
      .def_cap = 2,
      .weight = 1 },
    { .name = "mpmc-close",
      .what = "close with producers parked on full / consumers parked on empty / live",
      .fn = run_close,
      .arg = &a_mpmc_block,
      .def_p = 3,
      .def_c = 3,
      .def_cap = 0,
      .weight = 2 },
    { .name = "mpmc-close-race",
      .what = "thousands of closes racing pushes and pops in flight, 3P2C, capacity 1,2,4",
      .fn = run_close_race,
      .arg = &a_mpmc_block,
      .def_p = 3,
      .def_c = 2,
      .def_cap = 0,
      .weight = 1 },
    { .name = "mpmc-shared",
      .what = "WEFT_SHARED ring in mmap(MAP_SHARED) between fork()ed processes, 2P2C",
      .fn = run_shared,
      .arg = &a_mpmc_block,
      .def_p = 2,
      .def_c = 2,
      .def_cap = 4,
      .weight = 1 },
    { .name = "mpmc-oversub",
      .what = "8P8C on a capacity-2 ring, every operation kind mixed",
      .fn = run_flow,
      .arg = &a_mpmc_mixed,
      .def_p = 8,
      .def_c = 8,
      .def_cap = 2,
      .weight = 2 },
    { .name = "mpmc-lin",
      .what = "recorded windows of every op kind, 4P4C: linearizability (fast + exhaustive)",
      .fn = run_lin,
      .arg = &a_mpmc_lin,
      .def_p = 4,
      .def_c = 4,
      .def_cap = 4,
      .weight = 2 },
    { .name = "spsc-try",
      .what = "try_push/try_pop, capacity 4: exactly-once, FIFO, payload",
      .fn = run_flow,
      .arg = &a_spsc_try,
      .def_p = 1,
      .def_c = 1,
      .def_cap = 4,
      .weight = 1 },
    { .name = "spsc-batch",
      .what = "try_push_many/try_pop_many of 1-32 items, capacity 8",
      .fn = run_flow,
      .arg = &a_spsc_batch,
      .def_p = 1,
      .def_c = 1,
      .def_cap = 8,
      .weight = 1 },
    { .name = "spsc-block",
      .what = "blocking push/pop, capacity 1; close drains, then EPIPE",
      .fn = run_flow,
      .arg = &a_spsc_block,
      .def_p = 1,
      .def_c = 1,
      .def_cap = 1,
      .weight = 1 },
    { .name = "spsc-timed",
      .what = "push_timed/pop_timed with 0-2 ms time-outs, capacity 2",
      .fn = run_flow,
      .arg = &a_spsc_timed,
      .def_p = 1,
      .def_c = 1,
      .def_cap = 2,
      .weight = 1 },
    { .name = "spsc-close",
      .what = "close with the producer parked on full / consumer parked on empty / live",
      .fn = run_close,
      .arg = &a_spsc_block,
      .def_p = 1,
      .def_c = 1,
      .def_cap = 0,
      .weight = 1 },
    { .name = "spsc-close-race",
      .what = "thousands of closes racing the producer's push in flight",
      .fn = run_close_race,
      .arg = &a_spsc_block,
      .def_p = 1,
      .def_c = 1,
      .def_cap = 0,
      .weight = 1 },
    { .name = "spsc-shared",
      .what = "WEFT_SHARED ring between a producer and a consumer process",
      .fn = run_shared,
      .arg = &a_spsc_block,
      .def_p = 1,
      .def_c = 1,
      .def_cap = 4,
      .weight = 1 },
    { .name = "spsc-oversub",
      .what = "8 rings (capacity 1, 2, 4) with 8 producer/consumer pairs, ops mixed",
      .fn = run_flow,
      .arg = &a_spsc_mixed,
      .def_p = 8,
      .def_c = 8,
      .def_cap = 0,
      .weight = 2 },
    { .name = "spsc-lin",
      .what = "recorded windows of every op kind, 1P1C: linearizability (fast + exhaustive)",
      .fn = run_lin,
      .arg = &a_spsc_lin,
      .def_p = 1,
      .def_c = 1,
      .def_cap = 4,
      .weight = 1 },
};
const size_t stress_ring_count = sizeof stress_ring_scenarios / sizeof stress_ring_scenarios[0];
