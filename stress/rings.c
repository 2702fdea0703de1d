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
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/mpmc.h>
#include <weft/spsc.h>

#include "lincheck.h"
#include "rings.h"
#include "stress.h"

/* ---- the rings behind one interface ------------------------------------ */

#define RING_WRAPPERS(P)                                                              \
    static void *P##_w_create(size_t c) { return weft_##P##_create(c); }               \
    static void P##_w_destroy(void *q) { weft_##P##_destroy(q); }                      \
    static size_t P##_w_footprint(size_t c) { return weft_##P##_footprint(c); }        \
    static void *P##_w_init(void *m, size_t c, unsigned f) { return weft_##P##_init(m, c, f); } \
    static size_t P##_w_capacity(const void *q) { return weft_##P##_capacity(q); }     \
    static size_t P##_w_size(const void *q) { return weft_##P##_size(q); }             \
    static bool P##_w_try_push(void *q, void *i) { return weft_##P##_try_push(q, i); } \
    static bool P##_w_try_pop(void *q, void **i) { return weft_##P##_try_pop(q, i); }  \
    static size_t P##_w_push_many(void *q, void *const *i, size_t n)                   \
    {                                                                                 \
        return weft_##P##_try_push_many(q, i, n);                                     \
    }                                                                                 \
    static size_t P##_w_pop_many(void *q, void **i, size_t n)                          \
    {                                                                                 \
        return weft_##P##_try_pop_many(q, i, n);                                      \
    }                                                                                 \
    static int P##_w_push(void *q, void *i) { return weft_##P##_push(q, i); }          \
    static int P##_w_pop(void *q, void **i) { return weft_##P##_pop(q, i); }           \
    static int P##_w_push_timed(void *q, void *i, uint64_t t)                          \
    {                                                                                 \
        return weft_##P##_push_timed(q, i, t);                                        \
    }                                                                                 \
    static int P##_w_pop_timed(void *q, void **i, uint64_t t)                          \
    {                                                                                 \
        return weft_##P##_pop_timed(q, i, t);                                         \
    }                                                                                 \
    static void P##_w_close(void *q) { weft_##P##_close(q); }                          \
    static bool P##_w_closed(const void *q) { return weft_##P##_closed(q); }

RING_WRAPPERS(mpmc)
RING_WRAPPERS(spsc)

#define RING_OPS(P, MULTI, LIN)                                                           \
    {                                                                                  \
        .name = "weft_" #P, .multi = MULTI, .create = P##_w_create,                    \
        .destroy = P##_w_destroy, .footprint = P##_w_footprint, .init = P##_w_init,    \
        .capacity = P##_w_capacity, .size = P##_w_size, .try_push = P##_w_try_push,    \
        .try_pop = P##_w_try_pop, .push_many = P##_w_push_many,                        \
        .pop_many = P##_w_pop_many, .push = P##_w_push, .pop = P##_w_pop,              \
        .push_timed = P##_w_push_timed, .pop_timed = P##_w_pop_timed,                  \
        .close = P##_w_close, .closed = P##_w_closed, .align = WEFT_CACHELINE,          \
        .lin_flags = LIN                                                               \
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

enum { M_TRY = 1, M_BATCH = 2, M_BLOCK = 4, M_TIMED = 8, M_ALL = 15 };

struct ring_arg {
    bool multi;      /* mpmc (true) or spsc */
    unsigned modes;  /* flow scenarios: the operations threads pick from */
    bool lanes;      /* one ring per producer/consumer pair (spsc oversub) */
};

/* The ring under test, before the thread counts are fitted to it. */
static const struct ring_ops *choose_ops(struct stress_run *r, const struct ring_arg *a,
                                         unsigned modes)
{
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
static const struct ring_ops *pick_ops(struct stress_run *r, const struct ring_arg *a,
                                       unsigned modes)
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

static uint64_t pick_timeout(struct rng *g)
{
    static const uint64_t t[] = { 0, 1000, 20000, 200000, 2000000 };
    return t[rng_below(g, sizeof t / sizeof t[0])];
}

static unsigned pick_mode(struct rng *g, unsigned modes)
{
    unsigned n = (unsigned)__builtin_popcount(modes);
    unsigned k = (unsigned)rng_below(g, n);
    for (unsigned m = 1; m <= M_TIMED; m <<= 1)
        if ((modes & m) && k-- == 0)
            return m;
    return M_TRY;
}

/* The main phase: sleep until the budget is spent or a check failed. */
static void main_phase(struct stress_run *r, double seconds)
{
    double end = stress_now() + seconds;
    while (stress_now() < end && !stress_failed(r))
        stress_sleep_us(5000);
}

/* ---- flow: producers -> ring(s) -> consumers, for a time budget ---------- */

struct flow {
    struct stress_run *r;
    const struct ring_ops *ops;
    unsigned modes;
    unsigned nlanes;
    void **q;                    /* per lane */
    unsigned P, C;
    struct seen *seen;
    atomic_bool stop;            /* producers: time is up */
    atomic_uint *lane_done;      /* per lane: producers finished */
    unsigned *lane_producers;    /* per lane: how many producers it has */
    uint64_t *pushed;            /* per producer, written before lane_done */
    bool closes;                 /* main closes the rings after the producers */
};

static void flow_describe(void *ctx, FILE *out)
{
    struct flow *f = ctx;
    for (unsigned l = 0; l < f->nlanes; l++) {
        fprintf(out, "    %s lane %u: capacity %zu, size %zu", f->ops->name, l,
                f->ops->capacity(f->q[l]), f->ops->size(f->q[l]));
        if (f->ops->closed)
            fprintf(out, ", %s", f->ops->closed(f->q[l]) ? "closed" : "open");
        /* relaxed: a snapshot for the report */
        fprintf(out, ", producers done %u/%u\n",
                atomic_load_explicit(&f->lane_done[l], memory_order_relaxed),
                f->lane_producers[l]);
    }
}

static struct item *flow_item(struct stress_worker *w, struct flow *f, uint64_t seq)
{
    if (!seen_prepare(f->seen, w->id, seq)) {
        stress_fail(w->run, "producer %u: seen map full at seq %llu", w->id,
                    (unsigned long long)seq);
        return NULL;
    }
    struct item *it = item_new(&w->rng, w->id, seq, 0);
    if (!it)
        stress_fail(w->run, "producer %u: out of memory", w->id);
    return it;
}

static void flow_producer(struct stress_worker *w)
{
    struct flow *f = w->ctx;
    struct stress_run *r = w->run;
    unsigned lane = w->id % f->nlanes;
    void *q = f->q[lane];
    uint64_t seq = 0;
    /* relaxed: a time-out flag; nothing is published through it */
    while (!atomic_load_explicit(&f->stop, memory_order_relaxed) && !stress_failed(r)) {
        unsigned mode = pick_mode(&w->rng, f->modes);
        unsigned spins = 0;
        if (mode == M_BATCH) {
            struct item *batch[32];
            size_t k = 1 + (size_t)rng_below(&w->rng, 32);
            size_t made = 0;
            for (; made < k; made++)
                if (!(batch[made] = flow_item(w, f, seq + made)))
                    break;
            size_t off = 0;
            prog_op(w->prog, OP_PUSH_MANY);
            while (off < made) {
                size_t m = f->ops->push_many(q, (void *const *)(batch + off), made - off);
                if (m > made - off) {
                    stress_fail(r, "try_push_many(%zu) returned %zu", made - off, m);
                    return;
                }
                if (m == 0) {
                    prog_op(w->prog, OP_BACKOFF);
                    stress_backoff(&spins);
                    prog_op(w->prog, OP_PUSH_MANY);
                } else {
                    spins = 0;
                }
                off += m;
            }
            seq += made;
            prog_done(w->prog, made);
            if (made < k)
                break;
            continue;
        }
        struct item *it = flow_item(w, f, seq);
        if (!it)
            break;
        if (mode == M_TRY) {
            prog_op(w->prog, OP_TRY_PUSH);
            while (!f->ops->try_push(q, it)) {
                if (f->ops->closed && f->ops->closed(q)) {
                    stress_fail(r, "producer %u: ring closed before the producers finished", w->id);
                    return;
                }
                stress_backoff(&spins);
            }
        } else if (mode == M_BLOCK) {
            prog_op(w->prog, OP_PUSH);
            int rc = f->ops->push(q, it);
            if (rc != 0) {
                stress_fail(r, "producer %u: push returned %d (%s) on an open ring", w->id, rc,
                            strerror(rc));
                item_free(it);
                return;
            }
        } else {
            prog_op(w->prog, OP_PUSH_TIMED);
            int rc;
            while ((rc = f->ops->push_timed(q, it, pick_timeout(&w->rng))) == ETIMEDOUT) {
            }
            if (rc != 0) {
                stress_fail(r, "producer %u: push_timed returned %d (%s) on an open ring", w->id,
                            rc, strerror(rc));
                item_free(it);
                return;
            }
        }
        seq++;
        prog_done(w->prog, 1);
        stress_chaos();
    }
    prog_op(w->prog, OP_IDLE);
    f->pushed[w->id] = seq;
    /* release: pairs with the acquire in flow_consumer; this producer's
     * pushes happen-before a consumer that sees the count, so an empty
     * try_pop after that means the lane is really drained */
    atomic_fetch_add_explicit(&f->lane_done[lane], 1, memory_order_release);
}

struct receiver {
    struct stress_run *r;
    struct seen *seen;
    unsigned nproducers;
    uint64_t *last;  /* per producer: last seq + 1 this receiver saw (0: none) */
    const char *who;
    unsigned id;
    unsigned nlanes, lane;
    uint64_t got;
};

static bool receiver_init(struct receiver *rc, struct stress_run *r, struct seen *seen, unsigned P,
                          const char *who, unsigned id, unsigned nlanes, unsigned lane)
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

static void receive(struct receiver *rc, void *p)
{
    char who[48];
    snprintf(who, sizeof who, "%s %u", rc->who, rc->id);
    unsigned prod;
    uint64_t seq;
    if (!item_receive(rc->r, rc->seen, rc->nproducers, p, who, &prod, &seq, NULL))
        return;
    rc->got++;
    if (prod % rc->nlanes != rc->lane)
        stress_fail(rc->r, "%s got an item of producer %u from another ring (lane %u)", who,
                    prod, prod % rc->nlanes);
    if (rc->last[prod] != 0 && seq < rc->last[prod])
        stress_fail(rc->r, "%s got producer %u's seq %llu after its seq %llu: per-producer "
                    "FIFO broken", who, prod, (unsigned long long)seq,
                    (unsigned long long)(rc->last[prod] - 1));
    rc->last[prod] = seq + 1;
}

static bool lane_finished(struct flow *f, unsigned lane)
{
    /* acquire: pairs with the release in flow_producer */
    return atomic_load_explicit(&f->lane_done[lane], memory_order_acquire) == f->lane_producers[lane];
}

static void flow_consumer(struct stress_worker *w)
{
    struct flow *f = w->ctx;
    struct stress_run *r = w->run;
    unsigned lane = w->id % f->nlanes;
    void *q = f->q[lane];
    struct receiver rc;
    if (!receiver_init(&rc, r, f->seen, f->P, "consumer", w->id, f->nlanes, lane))
        return;
    unsigned spins = 0;
    for (;;) {
        unsigned mode = pick_mode(&w->rng, f->modes);
        void *it;
        if (mode == M_BATCH) {
            void *batch[32];
            size_t k = 1 + (size_t)rng_below(&w->rng, 32);
            prog_op(w->prog, OP_POP_MANY);
            size_t n = f->ops->pop_many(q, batch, k);
            if (n > k) {
                stress_fail(r, "try_pop_many(%zu) returned %zu", k, n);
                break;
            }
            for (size_t i = 0; i < n; i++)
                receive(&rc, batch[i]);
            if (n) {
                prog_done(w->prog, n);
                spins = 0;
            } else if (lane_finished(f, lane)) {
                if ((n = f->ops->pop_many(q, batch, k)) == 0)
                    break;
                for (size_t i = 0; i < n; i++)
                    receive(&rc, batch[i]);
                prog_done(w->prog, n);
            } else {
                stress_backoff(&spins);
            }
        } else if (mode == M_TRY) {
            prog_op(w->prog, OP_TRY_POP);
            if (f->ops->try_pop(q, &it)) {
                receive(&rc, it);
                prog_done(w->prog, 1);
                spins = 0;
            } else if (lane_finished(f, lane)) {
                if (!f->ops->try_pop(q, &it))
                    break;
                receive(&rc, it);
                prog_done(w->prog, 1);
            } else {
                stress_backoff(&spins);
            }
        } else if (mode == M_BLOCK) {
            prog_op(w->prog, OP_POP);
            int e = f->ops->pop(q, &it);
            if (e == EPIPE)
                break;
            if (e != 0) {
                stress_fail(r, "consumer %u: pop returned %d (%s)", w->id, e, strerror(e));
                break;
            }
            receive(&rc, it);
            prog_done(w->prog, 1);
        } else {
            prog_op(w->prog, OP_POP_TIMED);
            int e = f->ops->pop_timed(q, &it, pick_timeout(&w->rng));
            if (e == EPIPE)
                break;
            if (e == ETIMEDOUT) {
                /* after every producer of the lane is done, an empty try_pop
                 * means drained; an item found now is delivered */
                if (lane_finished(f, lane)) {
                    if (!f->ops->try_pop(q, &it))
                        break;
                    receive(&rc, it);
                    prog_done(w->prog, 1);
                }
                continue;
            }
            if (e != 0) {
                stress_fail(r, "consumer %u: pop_timed returned %d (%s)", w->id, e, strerror(e));
                break;
            }
            receive(&rc, it);
            prog_done(w->prog, 1);
        }
        if (stress_failed(r) && lane_finished(f, lane))
            break;
        stress_chaos();
    }
    prog_op(w->prog, OP_IDLE);
    w->count[0] = rc.got;
    free(rc.last);
}

/* After the threads are joined: a closed ring refuses pushes and reports
 * EPIPE to pops, also through the timed and batch forms. */
static void check_closed_ring(struct stress_run *r, const struct ring_ops *ops, void *q)
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
static void check_edges(struct stress_run *r, const struct ring_ops *ops, void *q)
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
static void drain_leftovers(struct stress_run *r, const struct ring_ops *ops, void *q,
                            struct receiver *rc, const char *why)
{
    void *it;
    uint64_t before = rc->got, n = 0;
    while (n < 100000000 && ops->try_pop(q, &it)) {
        receive(rc, it);
        n++;
    }
    if (n)
        stress_fail(r, "%llu items (%llu good) left in the ring after %s",
                    (unsigned long long)n, (unsigned long long)(rc->got - before), why);
}

static int run_flow(struct stress_run *r)
{
    const struct ring_arg *a = r->sc->arg;
    struct flow f;
    memset(&f, 0, sizeof f);
    f.r = r;
    f.modes = a->modes;
    if (!(f.ops = pick_ops(r, a, a->modes)))
        return STRESS_EXIT_SKIP;
    f.P = r->p;
    f.C = r->c;
    f.nlanes = a->lanes ? r->p : 1;
    f.closes = f.ops->close != NULL;
    f.q = calloc(f.nlanes, sizeof *f.q);
    f.lane_done = calloc(f.nlanes, sizeof *f.lane_done);
    f.lane_producers = calloc(f.nlanes, sizeof *f.lane_producers);
    f.pushed = calloc(f.P, sizeof *f.pushed);
    f.seen = seen_new(f.P);
    struct team t;
    memset(&t, 0, sizeof t);
    int rc = 0;
    if (!f.q || !f.lane_done || !f.lane_producers || !f.pushed || !f.seen) {
        stress_fail(r, "out of memory");
        goto out;
    }
    for (unsigned l = 0; l < f.nlanes; l++) {
        /* spsc-oversub: capacities 1, 2, 4 over the lanes */
        size_t cap = a->lanes && r->capacity == r->sc->def_cap ? (size_t)1 << (l % 3) : r->capacity;
        if (!(f.q[l] = f.ops->create(cap))) {
            stress_fail(r, "%s create(%zu): %s", f.ops->name, cap, strerror(errno));
            goto out;
        }
        atomic_init(&f.lane_done[l], 0);
    }
    for (unsigned p = 0; p < f.P; p++)
        f.lane_producers[p % f.nlanes]++;
    for (unsigned l = 0; l < f.nlanes; l++)
        check_edges(r, f.ops, f.q[l]);
    const char *peer = stress_peer_name(r->peer);
    snprintf(r->setup, sizeof r->setup, "%s%s%uP%uC cap %zu%s", peer ? peer : "",
             peer ? " " : "", f.P, f.C, f.ops->capacity(f.q[0]), f.nlanes > 1 ? ".." : "");
    if (!team_init(&t, r, f.P + f.C))
        goto out;
    for (unsigned i = 0; i < f.P; i++)
        if (!team_add(&t, "producer", i, flow_producer, &f))
            goto out;
    for (unsigned i = 0; i < f.C; i++)
        if (!team_add(&t, "consumer", i, flow_consumer, &f))
            goto out;
    stress_set_describe(flow_describe, &f);
    double t0 = stress_now();
    if (!team_start(&t)) {
        atomic_store_explicit(&f.stop, true, memory_order_relaxed);
        team_join(&t, NULL);
        goto out;
    }
    main_phase(r, r->seconds);
    /* relaxed: see flow_producer */
    atomic_store_explicit(&f.stop, true, memory_order_relaxed);
    prog_op(stress_main_progress, OP_JOIN);
    team_join(&t, "producer");
    if (f.closes) {
        prog_op(stress_main_progress, OP_CLOSE);
        for (unsigned l = 0; l < f.nlanes; l++)
            f.ops->close(f.q[l]);
    }
    prog_op(stress_main_progress, OP_JOIN);
    team_join(&t, "consumer");
    r->elapsed = stress_now() - t0;
    prog_op(stress_main_progress, OP_CHECK);

    uint64_t pushed = 0, got = 0;
    for (unsigned i = 0; i < f.P; i++)
        pushed += f.pushed[i];
    for (unsigned i = 0; i < t.n; i++)
        if (!strcmp(t.w[i].role, "consumer"))
            got += t.w[i].count[0];
    for (unsigned l = 0; l < f.nlanes; l++) {
        struct receiver left;
        if (!receiver_init(&left, r, f.seen, f.P, "main (drain)", l, f.nlanes, l))
            break;
        drain_leftovers(r, f.ops, f.q[l], &left,
                        f.closes ? "every consumer saw EPIPE or an empty ring"
                                 : "every consumer saw an empty ring");
        got += left.got;
        free(left.last);
        if (f.closes && !stress_failed(r))
            check_closed_ring(r, f.ops, f.q[l]);
    }
    for (unsigned i = 0; i < f.P; i++)
        seen_check(r, f.seen, i, f.pushed[i], "exactly-once");
    if (got != pushed && !stress_failed(r))
        stress_fail(r, "%llu items pushed, %llu delivered", (unsigned long long)pushed,
                    (unsigned long long)got);
    r->ops = got;
out:
    stress_set_describe(NULL, NULL);
    team_free(&t);
    if (f.q)
        for (unsigned l = 0; l < f.nlanes; l++)
            if (f.q[l])
                f.ops->destroy(f.q[l]);
    free(f.q);
    free(f.lane_done);
    free(f.lane_producers);
    free(f.pushed);
    seen_free(f.seen, f.P);
    return rc;
}

/* ---- close while threads are parked -------------------------------------------- */

struct closer {
    struct stress_run *r;
    const struct ring_ops *ops;
    void *q;
    unsigned P, C;               /* the most of each (array sizes) */
    unsigned np, nc;             /* this round's producers and consumers */
    struct seen *seen;
    uint64_t *accepted;          /* per producer: pushes that reported success */
    struct item **refused;       /* per producer: the item a push refused */
    atomic_uint producers_out;   /* producers that saw the ring closed */
    int round;                   /* 0: producers parked, 1: consumers parked, 2: live */
    unsigned close_after_us;     /* live rounds: run this long, then close */
    uint64_t got;                /* items popped (main adds after join) */
};

static void closer_describe(void *ctx, FILE *out)
{
    struct closer *c = ctx;
    fprintf(out, "    %s: round kind %d, capacity %zu, size %zu, %s\n", c->ops->name, c->round,
            c->ops->capacity(c->q), c->ops->size(c->q), c->ops->closed(c->q) ? "closed" : "open");
}

static void close_producer(struct stress_worker *w)
{
    struct closer *c = w->ctx;
    struct stress_run *r = w->run;
    uint64_t seq = 0;
    for (;;) {
        if (!seen_prepare(c->seen, w->id, seq)) {
            stress_fail(r, "producer %u: seen map full", w->id);
            break;
        }
        struct item *it = item_new(&w->rng, w->id, seq, 0);
        if (!it) {
            stress_fail(r, "producer %u: out of memory", w->id);
            break;
        }
        int e;
        /* parked-producer rounds use only blocking forms, so they park */
        unsigned k = c->round == 0 ? (w->id & 1) : (unsigned)rng_below(&w->rng, 4);
        if (k == 0) {
            prog_op(w->prog, OP_PUSH);
            e = c->ops->push(c->q, it);
        } else if (k == 1) {
            prog_op(w->prog, OP_PUSH_TIMED);
            uint64_t to = c->round == 0 ? 60000000000u : pick_timeout(&w->rng);
            while ((e = c->ops->push_timed(c->q, it, to)) == ETIMEDOUT) {
            }
        } else {
            prog_op(w->prog, OP_TRY_PUSH);
            unsigned spins = 0;
            for (;;) {
                if (c->ops->try_push(c->q, it)) {
                    e = 0;
                    break;
                }
                if (c->ops->closed(c->q)) {
                    e = EPIPE;
                    break;
                }
                stress_backoff(&spins);
            }
        }
        if (e == 0) {
            seq++;
            prog_done(w->prog, 1);
            stress_chaos();
            continue;
        }
        if (e != EPIPE)
            stress_fail(r, "producer %u: push returned %d (%s), wanted 0 or EPIPE", w->id, e,
                        strerror(e));
        c->refused[w->id] = it; /* freed by main once nobody can receive it */
        break;
    }
    prog_op(w->prog, OP_IDLE);
    c->accepted[w->id] = seq;
    /* release: pairs with the acquire in close_consumer */
    atomic_fetch_add_explicit(&c->producers_out, 1, memory_order_release);
}

static void close_consumer(struct stress_worker *w)
{
    struct closer *c = w->ctx;
    struct stress_run *r = w->run;
    struct receiver rc;
    if (!receiver_init(&rc, r, c->seen, c->P ? c->P : 1, "consumer", w->id, 1, 0))
        return;
    unsigned spins = 0;
    for (;;) {
        void *it;
        int e;
        unsigned k = c->round == 1 ? (w->id & 1) : (unsigned)rng_below(&w->rng, 4);
        if (k == 0) {
            prog_op(w->prog, OP_POP);
            e = c->ops->pop(c->q, &it);
        } else if (k == 1) {
            prog_op(w->prog, OP_POP_TIMED);
            uint64_t to = c->round == 1 ? 60000000000u : pick_timeout(&w->rng);
            e = c->ops->pop_timed(c->q, &it, to);
            if (e == ETIMEDOUT)
                continue;
        } else {
            prog_op(w->prog, OP_TRY_POP);
            if (c->ops->try_pop(c->q, &it)) {
                e = 0;
            } else {
                /* acquire: pairs with the release in close_producer.  Once
                 * every producer saw the ring closed, an empty try_pop means
                 * drained; one that finds an item must deliver it. */
                if (atomic_load_explicit(&c->producers_out, memory_order_acquire) == c->np &&
                    c->ops->closed(c->q)) {
                    if (!c->ops->try_pop(c->q, &it))
                        break;
                    e = 0;
                } else {
                    stress_backoff(&spins);
                    continue;
                }
            }
        }
        if (e == EPIPE)
            break;
        if (e != 0) {
            stress_fail(r, "consumer %u: pop returned %d (%s)", w->id, e, strerror(e));
            break;
        }
        if (c->round == 1)
            stress_fail(r, "consumer %u popped an item from a ring nobody pushed to", w->id);
        receive(&rc, it);
        prog_done(w->prog, 1);
        stress_chaos();
    }
    prog_op(w->prog, OP_IDLE);
    w->count[0] = rc.got;
    free(rc.last);
}

/* Wait until the workers of role have all entered a call and stopped
 * making progress for a few milliseconds: they are parked (or spinning). */
static void wait_parked(struct team *t, const char *role)
{
    double deadline = stress_now() + 2.0, stable_since = stress_now();
    uint64_t last = ~(uint64_t)0;
    while (stress_now() < deadline) {
        uint64_t sig = 0;
        bool in_call = true;
        for (unsigned i = 0; i < t->n; i++) {
            if (strcmp(t->w[i].role, role) != 0)
                continue;
            /* relaxed: progress counters are hints */
            int op = atomic_load_explicit(&t->w[i].prog->op, memory_order_relaxed);
            if (op == OP_IDLE)
                in_call = false;
            sig = stress_mix(sig ^ atomic_load_explicit(&t->w[i].prog->ops, memory_order_relaxed));
        }
        if (sig != last || !in_call) {
            last = sig;
            stable_since = stress_now();
        } else if (stress_now() - stable_since > 0.003) {
            return;
        }
        stress_sleep_us(500);
    }
}

static void close_round(struct stress_run *r, struct closer *c, size_t cap)
{
    struct team t;
    memset(&t, 0, sizeof t);
    c->q = c->ops->create(cap);
    if (!c->q) {
        stress_fail(r, "%s create(%zu): %s", c->ops->name, cap, strerror(errno));
        return;
    }
    check_edges(r, c->ops, c->q);
    /* relaxed: the round's threads do not exist yet */
    atomic_store_explicit(&c->producers_out, 0, memory_order_relaxed);
    for (unsigned i = 0; i < c->P; i++) {
        c->accepted[i] = 0;
        c->refused[i] = NULL;
    }
    c->seen = seen_new(c->P);
    if (!c->seen || !team_init(&t, r, c->P + c->C)) {
        stress_fail(r, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < c->np; i++)
        if (!team_add(&t, "producer", i, close_producer, c))
            goto out;
    stress_set_describe(closer_describe, c);
    if (c->round == 0) {
        /* producers fill the ring and park; then close; then consumers drain */
        if (!team_start(&t))
            goto fail;
        wait_parked(&t, "producer");
        prog_op(stress_main_progress, OP_CLOSE);
        c->ops->close(c->q);
        team_join(&t, "producer");
        struct team t2;
        if (!team_init(&t2, r, c->nc))
            goto out;
        for (unsigned i = 0; i < c->nc; i++)
            if (!team_add(&t2, "consumer", i, close_consumer, c)) {
                team_free(&t2);
                goto out;
            }
        if (team_start(&t2)) {
            team_join(&t2, NULL);
            for (unsigned i = 0; i < t2.n; i++)
                c->got += t2.w[i].count[0];
        } else {
            team_join(&t2, NULL);
        }
        team_free(&t2);
    } else {
        for (unsigned i = 0; i < c->nc; i++)
            if (!team_add(&t, "consumer", i, close_consumer, c))
                goto out;
        if (!team_start(&t))
            goto fail;
        if (c->round == 1)
            wait_parked(&t, "consumer");
        else
            stress_sleep_us(c->close_after_us);
        prog_op(stress_main_progress, OP_CLOSE);
        c->ops->close(c->q);
        prog_op(stress_main_progress, OP_JOIN);
        team_join(&t, NULL);
        for (unsigned i = 0; i < t.n; i++)
            if (!strcmp(t.w[i].role, "consumer"))
                c->got += t.w[i].count[0];
    }
    prog_op(stress_main_progress, OP_CHECK);
    struct receiver left;
    if (receiver_init(&left, r, c->seen, c->P, "main (drain)", 0, 1, 0)) {
        drain_leftovers(r, c->ops, c->q, &left, "every consumer saw EPIPE");
        free(left.last);
    }
    for (unsigned i = 0; i < c->P; i++)
        seen_check(r, c->seen, i, c->accepted[i], "close: accepted vs popped");
    if (!stress_failed(r))
        check_closed_ring(r, c->ops, c->q);
    goto out;
fail:
    team_join(&t, NULL);
out:
    stress_set_describe(NULL, NULL);
    team_free(&t);
    for (unsigned i = 0; i < c->P; i++)
        if (c->refused[i]) {
            item_free(c->refused[i]);
            c->refused[i] = NULL;
        }
    seen_free(c->seen, c->P);
    c->seen = NULL;
    c->ops->destroy(c->q);
    c->q = NULL;
}

static int run_close(struct stress_run *r)
{
    const struct ring_arg *a = r->sc->arg;
    struct closer c;
    memset(&c, 0, sizeof c);
    c.r = r;
    if (!(c.ops = pick_ops(r, a, M_BLOCK)))
        return STRESS_EXIT_SKIP;
    c.P = r->p;
    c.C = r->c;
    c.accepted = calloc(c.P, sizeof *c.accepted);
    c.refused = calloc(c.P, sizeof *c.refused);
    if (!c.accepted || !c.refused) {
        stress_fail(r, "out of memory");
        free(c.accepted);
        free(c.refused);
        return 0;
    }
    struct rng g;
    rng_seed(&g, r->seed, r->stream);
    bool fixed = r->capacity != r->sc->def_cap;
    snprintf(r->setup, sizeof r->setup, "%uP%uC cap %s", c.P, c.C,
             fixed ? "fixed" : "1,2,4");
    if (fixed)
        snprintf(r->setup, sizeof r->setup, "%uP%uC cap %zu", c.P, c.C, r->capacity);
    double t0 = stress_now(), end = t0 + r->seconds;
    unsigned rounds = 0;
    /* Live rounds (a close racing pushes and pops in flight) are the ones
     * that find a pop reporting EPIPE while a claimed push is still being
     * published: most rounds are live, many with one consumer (nobody else
     * to pick up the late item) and a close after a few microseconds. */
    static const int kinds[] = { 0, 1, 2, 2, 2, 2, 2, 2 };
    while ((stress_now() < end || rounds < 3) && !stress_failed(r)) {
        c.round = kinds[rounds % (sizeof kinds / sizeof kinds[0])];
        c.np = c.round == 1 ? 0 : c.round == 0 ? c.P : 1 + (unsigned)rng_below(&g, c.P);
        if (c.round != 2)
            c.nc = c.C;
        else
            c.nc = rng_below(&g, 2) ? 1 : 1 + (unsigned)rng_below(&g, c.C);
        c.close_after_us = rng_below(&g, 2) ? (unsigned)rng_below(&g, 300)
                                            : 300 + (unsigned)rng_below(&g, 20000);
        size_t cap = fixed ? r->capacity : (size_t)1 << rng_below(&g, 3);
        close_round(r, &c, cap);
        rounds++;
    }
    r->elapsed = stress_now() - t0;
    r->ops = c.got;
    free(c.accepted);
    free(c.refused);
    return 0;
}

/* ---- close racing pushes in flight, many times a second ------------------- */

/* The same threads run thousands of tiny rounds: main builds a ring, opens
 * the start barrier, closes the ring after 0-300 us, and waits at the end
 * barrier; producers push until EPIPE, consumers pop until EPIPE.  What it
 * hunts: a pop that reports "closed and drained" while a push that will
 * succeed is still between claiming its slot and publishing it (the window
 * is a few instructions, plus a chaos point), and a push that reports EPIPE
 * but was enqueued.  Per round, nothing may be left in the ring after every
 * consumer saw EPIPE; over the run, the items popped are exactly the pushes
 * that reported success. */
struct racer {
    struct stress_run *r;
    const struct ring_ops *ops;
    void *q;                       /* this round's ring, set before the barrier */
    unsigned P, C;
    pthread_barrier_t start, end;
    atomic_bool quit;              /* read after the start barrier */
    atomic_uint producers_out;     /* this round */
    struct seen *seen, *accepted;
    uint64_t round_first[16], round_next[16]; /* per producer: this round's seqs */
    unsigned char how[16][4096];   /* per producer: how each seq of the round was pushed */
    int consumer_end[16];          /* per consumer: the call that ended its round */
    uint64_t consumer_got[16];     /* per consumer: items popped this round */
    uint64_t consumer_last[16];    /* per consumer: last seq popped + 1 (0: none) */
    size_t size_after;             /* size() after the round, before the drain */
    size_t cap;
    unsigned delay_us;
    pthread_mutex_t lock;
    struct item **refused;         /* freed by main between rounds */
    size_t nrefused, cap_refused;
    uint64_t rounds;
};

static void racer_describe(void *ctx, FILE *out)
{
    struct racer *c = ctx;
    fprintf(out, "    close race: round %llu\n", (unsigned long long)c->rounds);
}

static void race_producer(struct stress_worker *w)
{
    struct racer *c = w->ctx;
    struct stress_run *r = w->run;
    uint64_t seq = 0;
    for (;;) {
        prog_op(w->prog, OP_IDLE);
        pthread_barrier_wait(&c->start);
        /* relaxed: ordered by the barrier */
        if (atomic_load_explicit(&c->quit, memory_order_relaxed))
            break;
        c->round_first[w->id] = seq;
        for (;;) {
            struct item *it;
            if (!seen_prepare(c->seen, w->id, seq) || !seen_prepare(c->accepted, w->id, seq) ||
                !(it = item_new(&w->rng, w->id, seq, 0))) {
                stress_fail(r, "producer %u: out of memory", w->id);
                break;
            }
            int e;
            unsigned k = (unsigned)rng_below(&w->rng, 3);
            if (seq - c->round_first[w->id] < sizeof c->how[0])
                c->how[w->id][seq - c->round_first[w->id]] = (unsigned char)k;
            if (k == 0) {
                prog_op(w->prog, OP_PUSH);
                e = c->ops->push(c->q, it);
            } else if (k == 1) {
                prog_op(w->prog, OP_PUSH_TIMED);
                while ((e = c->ops->push_timed(c->q, it, pick_timeout(&w->rng))) == ETIMEDOUT) {
                }
            } else {
                prog_op(w->prog, OP_TRY_PUSH);
                unsigned spins = 0;
                for (e = EPIPE; !c->ops->closed(c->q); stress_backoff(&spins))
                    if (c->ops->try_push(c->q, it)) {
                        e = 0;
                        break;
                    }
            }
            if (e == 0) {
                seen_mark(c->accepted, w->id, seq);
                seq++;
                prog_done(w->prog, 1);
                continue;
            }
            if (e != EPIPE)
                stress_fail(r, "producer %u: push returned %d (%s)", w->id, e, strerror(e));
            pthread_mutex_lock(&c->lock);
            if (c->nrefused == c->cap_refused) {
                size_t nc = c->cap_refused ? 2 * c->cap_refused : 64;
                struct item **nv = realloc(c->refused, nc * sizeof *nv);
                if (nv) {
                    c->refused = nv;
                    c->cap_refused = nc;
                }
            }
            if (c->nrefused < c->cap_refused)
                c->refused[c->nrefused++] = it; /* else leaked: never freed while poppable */
            pthread_mutex_unlock(&c->lock);
            seq++; /* a refused seq is never reused: popping it is a failure */
            break;
        }
        c->round_next[w->id] = seq;
        /* release: pairs with the acquire in race_consumer */
        atomic_fetch_add_explicit(&c->producers_out, 1, memory_order_release);
        prog_op(w->prog, OP_IDLE);
        pthread_barrier_wait(&c->end);
    }
    w->count[0] = seq;
}

static void race_consumer(struct stress_worker *w)
{
    struct racer *c = w->ctx;
    struct stress_run *r = w->run;
    struct receiver rc;
    if (!receiver_init(&rc, r, c->seen, c->P, "consumer", w->id, 1, 0))
        return; /* (the barrier counts would hang: reported, and the watchdog ends it) */
    for (;;) {
        prog_op(w->prog, OP_IDLE);
        pthread_barrier_wait(&c->start);
        /* relaxed: ordered by the barrier */
        if (atomic_load_explicit(&c->quit, memory_order_relaxed))
            break;
        unsigned spins = 0;
        uint64_t got_before = rc.got;
        c->consumer_last[w->id] = 0;
        for (;;) {
            void *it;
            int e;
            unsigned k = (unsigned)rng_below(&w->rng, 3);
            if (k == 0) {
                prog_op(w->prog, OP_POP);
                e = c->ops->pop(c->q, &it);
            } else if (k == 1) {
                prog_op(w->prog, OP_POP_TIMED);
                if ((e = c->ops->pop_timed(c->q, &it, pick_timeout(&w->rng))) == ETIMEDOUT)
                    continue;
            } else {
                prog_op(w->prog, OP_TRY_POP);
                if (c->ops->try_pop(c->q, &it)) {
                    e = 0;
                } else {
                    /* acquire: pairs with the release in race_producer (as in
                     * close_consumer: an item found now is delivered) */
                    if (atomic_load_explicit(&c->producers_out, memory_order_acquire) == c->P) {
                        if (!c->ops->try_pop(c->q, &it)) {
                            c->consumer_end[w->id] = 2;
                            break;
                        }
                        e = 0;
                    } else {
                        stress_backoff(&spins);
                        continue;
                    }
                }
            }
            if (e == EPIPE) {
                c->consumer_end[w->id] = (int)k;
                break;
            }
            if (e != 0) {
                stress_fail(r, "consumer %u: pop returned %d (%s)", w->id, e, strerror(e));
                break;
            }
            if (it && ((struct item *)it)->magic != 0)
                c->consumer_last[w->id] = ((struct item *)it)->seq + 1;
            receive(&rc, it);
            prog_done(w->prog, 1);
        }
        c->consumer_got[w->id] = rc.got - got_before;
        prog_op(w->prog, OP_IDLE);
        pthread_barrier_wait(&c->end);
    }
    w->count[0] = rc.got;
    free(rc.last);
}

/* After a round (threads at the end barrier, leftovers drained): the
 * round's pushes that succeeded are exactly the ones popped.  Reports the
 * first mismatch with what the threads did, for whoever debugs it. */
static void race_round_check(struct stress_run *r, struct racer *c)
{
    static const char *push_how[] = { "push", "push_timed", "try_push" };
    static const char *pop_how[] = { "EPIPE from pop", "EPIPE from pop_timed",
                                     "try_pop empty after every producer saw EPIPE" };
    for (unsigned p = 0; p < c->P; p++)
        for (uint64_t q = c->round_first[p]; q < c->round_next[p]; q++) {
            bool acc = seen_test(c->accepted, p, q), got = seen_test(c->seen, p, q);
            if (acc == got)
                continue;
            uint64_t i = q - c->round_first[p];
            char ends[400] = "";
            for (unsigned k = 0; k < c->C; k++)
                snprintf(ends + strlen(ends), sizeof ends - strlen(ends),
                         "%s%s after %llu items, the last seq %lld", k ? "; " : "",
                         pop_how[c->consumer_end[k] % 3], (unsigned long long)c->consumer_got[k],
                         (long long)c->consumer_last[k] - 1);
            stress_fail(r, "round %llu (capacity %zu, close after %u us): producer %u seq %llu "
                        "(push %llu of %llu in the round, by %s) %s but was %s; consumers "
                        "ended with: %s; size() before the drain %zu",
                        (unsigned long long)c->rounds, c->cap, c->delay_us, p,
                        (unsigned long long)q, (unsigned long long)i + 1,
                        (unsigned long long)(c->round_next[p] - c->round_first[p]),
                        i < sizeof c->how[0] ? push_how[c->how[p][i] % 3] : "?",
                        acc ? "succeeded" : "failed", got ? "popped" : "never popped", ends,
                        c->size_after);
            return;
        }
}

static int run_close_race(struct stress_run *r)
{
    const struct ring_arg *a = r->sc->arg;
    struct racer c;
    memset(&c, 0, sizeof c);
    c.r = r;
    if (!(c.ops = pick_ops(r, a, M_BLOCK)))
        return STRESS_EXIT_SKIP;
    if (r->p > 16)
        r->p = 16;
    if (r->c > 16)
        r->c = 16;
    c.P = r->p;
    c.C = r->c;
    struct rng g;
    rng_seed(&g, r->seed, r->stream);
    bool fixed = r->capacity != r->sc->def_cap;
    snprintf(r->setup, sizeof r->setup, "%uP%uC cap %s", c.P, c.C, fixed ? "fixed" : "1,2,4");
    if (fixed)
        snprintf(r->setup, sizeof r->setup, "%uP%uC cap %zu", c.P, c.C, r->capacity);
    c.seen = seen_new(c.P);
    c.accepted = seen_new(c.P);
    pthread_mutex_init(&c.lock, NULL);
    struct team t;
    memset(&t, 0, sizeof t);
    if (!c.seen || !c.accepted || !team_init(&t, r, c.P + c.C)) {
        stress_fail(r, "out of memory");
        goto out;
    }
    pthread_barrier_init(&c.start, NULL, c.P + c.C + 1);
    pthread_barrier_init(&c.end, NULL, c.P + c.C + 1);
    for (unsigned i = 0; i < c.P; i++)
        if (!team_add(&t, "producer", i, race_producer, &c))
            goto out_barriers;
    for (unsigned i = 0; i < c.C; i++)
        if (!team_add(&t, "consumer", i, race_consumer, &c))
            goto out_barriers;
    stress_set_describe(racer_describe, &c);
    double t0 = stress_now(), end = t0 + r->seconds;
    if (!team_start(&t))
        goto out_barriers; /* (a partial team would hang the barriers) */
    uint64_t got = 0;
    for (;;) {
        bool last = stress_now() >= end || stress_failed(r);
        size_t cap = fixed ? r->capacity : (size_t)1 << rng_below(&g, 3);
        if (!last && !(c.q = c.ops->create(cap))) {
            stress_fail(r, "%s create(%zu): %s", c.ops->name, cap, strerror(errno));
            last = true;
        }
        /* relaxed: published to the workers by the barrier */
        atomic_store_explicit(&c.quit, last, memory_order_relaxed);
        atomic_store_explicit(&c.producers_out, 0, memory_order_relaxed);
        prog_done(stress_main_progress, 1);
        pthread_barrier_wait(&c.start);
        if (last)
            break;
        unsigned delay = (unsigned)rng_below(&g, 300);
        c.cap = cap;
        c.delay_us = delay;
        if (rng_below(&g, 2))
            stress_sleep_us(delay);
        else
            for (unsigned i = 0; i < delay; i++)
                stress_chaos(); /* a short, schedule-dependent spin */
        prog_op(stress_main_progress, OP_CLOSE);
        c.ops->close(c.q);
        prog_op(stress_main_progress, OP_JOIN);
        pthread_barrier_wait(&c.end);
        prog_op(stress_main_progress, OP_CHECK);
        c.size_after = c.ops->size(c.q);
        struct receiver left;
        if (receiver_init(&left, r, c.seen, c.P, "main (drain)", 0, 1, 0)) {
            char why[160];
            snprintf(why, sizeof why, "every consumer saw EPIPE (round %llu, capacity %zu, "
                     "close after %u us)", (unsigned long long)c.rounds, c.cap, c.delay_us);
            drain_leftovers(r, c.ops, c.q, &left, why);
            got += left.got;
            free(left.last);
        }
        race_round_check(r, &c);
        c.ops->destroy(c.q);
        c.q = NULL;
        for (size_t i = 0; i < c.nrefused; i++)
            item_free(c.refused[i]);
        c.nrefused = 0;
        c.rounds++;
    }
    team_join(&t, NULL);
    r->elapsed = stress_now() - t0;
    for (unsigned i = 0; i < t.n; i++) {
        struct stress_worker *w = &t.w[i];
        if (!strcmp(w->role, "consumer")) {
            got += w->count[0];
            continue;
        }
        /* popped exactly the accepted pushes (refused seqs never popped) */
        uint64_t bad = 0, first = 0;
        for (uint64_t q = 0; q < w->count[0]; q++)
            if (seen_test(c.seen, w->id, q) != seen_test(c.accepted, w->id, q) && bad++ == 0)
                first = q;
        if (bad)
            stress_fail(r, "producer %u: %llu items whose push result disagrees with what was "
                        "popped (first seq %llu: push %s, %spopped)", w->id,
                        (unsigned long long)bad, (unsigned long long)first,
                        seen_test(c.accepted, w->id, first) ? "succeeded" : "failed",
                        seen_test(c.seen, w->id, first) ? "" : "never ");
    }
    snprintf(r->setup + strlen(r->setup), sizeof r->setup - strlen(r->setup), ", %llu closes",
             (unsigned long long)c.rounds);
    r->ops = got;
out_barriers:
    pthread_barrier_destroy(&c.start);
    pthread_barrier_destroy(&c.end);
out:
    stress_set_describe(NULL, NULL);
    team_free(&t);
    pthread_mutex_destroy(&c.lock);
    for (size_t i = 0; i < c.nrefused; i++)
        item_free(c.refused[i]);
    free(c.refused);
    seen_free(c.seen, c.P);
    seen_free(c.accepted, c.P);
    return 0;
}

/* ---- a ring shared by fork()ed processes ----------------------------------------- */

/* Items cannot be heap pointers across processes: a producer writes its
 * payload into a slot of a shared table and pushes the slot's index; the
 * consumer verifies the slot and hands it back (state FREE).  Each producer
 * has SH_SLOTS slots used round-robin, more than the ring plus every
 * consumer can hold, so a producer waits for a slot only if an item is lost
 * or a consumer is stuck (both reported). */
#define SH_MAX_SEQ ((uint64_t)1 << 22) /* per producer; then it stops */
#define SH_MAX_PROCS 16

struct sh_slot {
    atomic_uint state; /* 0 free, 1 written by the producer */
    uint32_t producer;
    uint64_t seq;
    uint64_t body[3];
    uint64_t check;
};

struct sh_hdr {
    atomic_bool stop;
    atomic_uint producers_done;
    atomic_uint errors;
    uint64_t pushed[SH_MAX_PROCS];
    uint64_t got[SH_MAX_PROCS];
};

struct shared_run {
    struct sh_hdr *hdr;
    struct sh_slot *slots;       /* [P][nslots] */
    atomic_uint_least64_t *bits; /* [P][SH_MAX_SEQ / 64] */
    void *q;
    size_t nslots;
    size_t map_len;
    void *map;
};

static uint64_t sh_sum(const struct sh_slot *s)
{
    uint64_t h = stress_mix(s->producer ^ 0x5a5a5a5a5a5aull);
    h = stress_mix(h ^ s->seq);
    for (int i = 0; i < 3; i++)
        h = stress_mix(h ^ s->body[i]);
    return h;
}

static void sh_error(struct sh_hdr *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sh_error(struct sh_hdr *h, const char *fmt, ...)
{
    /* relaxed: a counter read by the parent after waitpid */
    if (atomic_fetch_add_explicit(&h->errors, 1, memory_order_relaxed) < 8) {
        va_list ap;
        va_start(ap, fmt);
        printf("    FAIL (child %d): ", (int)getpid());
        vprintf(fmt, ap);
        printf("\n");
        fflush(stdout);
        va_end(ap);
    }
}

static void sh_producer(struct stress_run *r, const struct ring_ops *ops, struct shared_run *s,
                        unsigned id, unsigned P, struct stress_progress *prog)
{
    struct rng g;
    rng_seed(&g, r->seed, r->stream ^ (1000 + id));
    uint64_t seq = 0;
    /* relaxed: a time-out flag */
    while (!atomic_load_explicit(&s->hdr->stop, memory_order_relaxed) && seq < SH_MAX_SEQ) {
        size_t idx = (size_t)id * s->nslots + (size_t)(seq % s->nslots);
        struct sh_slot *sl = &s->slots[idx];
        unsigned spins = 0;
        double waited = 0;
        prog_op(prog, OP_BACKOFF);
        /* acquire: pairs with the release in sh_consumer, which finished
         * reading the slot's last payload */
        while (atomic_load_explicit(&sl->state, memory_order_acquire) != 0) {
            stress_backoff(&spins);
            if (spins > 1000000 && waited == 0)
                waited = 1;
        }
        sl->producer = id;
        sl->seq = seq;
        for (int i = 0; i < 3; i++)
            sl->body[i] = rng_next(&g);
        sl->check = sh_sum(sl);
        /* relaxed: the ring's push publishes the payload; this flag only
         * keeps the producer from reusing the slot too early */
        atomic_store_explicit(&sl->state, 1, memory_order_relaxed);
        void *item = (void *)(uintptr_t)idx;
        int e = 0;
        if (rng_below(&g, 2)) {
            prog_op(prog, OP_PUSH);
            e = ops->push(s->q, item);
        } else {
            prog_op(prog, OP_TRY_PUSH);
            while (!ops->try_push(s->q, item))
                stress_backoff(&spins);
        }
        if (e != 0) {
            sh_error(s->hdr, "producer %u: push returned %d", id, e);
            break;
        }
        seq++;
        prog_done(prog, 1);
        stress_chaos();
    }
    (void)P;
    s->hdr->pushed[id] = seq;
    /* release: pairs with the acquire in the parent (after waitpid anyway) */
    atomic_fetch_add_explicit(&s->hdr->producers_done, 1, memory_order_release);
}

static void sh_consumer(const struct ring_ops *ops, struct shared_run *s, unsigned id,
                        unsigned P, struct stress_progress *prog)
{
    uint64_t last[SH_MAX_PROCS] = { 0 }, got = 0;
    for (;;) {
        void *item;
        prog_op(prog, OP_POP);
        int e = ops->pop(s->q, &item);
        if (e == EPIPE)
            break;
        if (e != 0) {
            sh_error(s->hdr, "consumer %u: pop returned %d", id, e);
            break;
        }
        uintptr_t idx = (uintptr_t)item;
        if (idx >= (uintptr_t)P * s->nslots) {
            sh_error(s->hdr, "consumer %u: bogus item %#lx", id, (unsigned long)idx);
            continue;
        }
        struct sh_slot *sl = &s->slots[idx];
        unsigned prod = (unsigned)(idx / s->nslots);
        if (sl->producer != prod || sl->seq % s->nslots != idx % s->nslots ||
            sl->check != sh_sum(sl) || sl->seq >= SH_MAX_SEQ) {
            sh_error(s->hdr, "consumer %u: torn payload in slot %lu (producer %u seq %llu)", id,
                     (unsigned long)idx, sl->producer, (unsigned long long)sl->seq);
            continue;
        }
        uint64_t seq = sl->seq;
        uint64_t bit = (uint64_t)1 << (seq & 63);
        /* relaxed: the RMW alone decides who was first */
        uint64_t old = atomic_fetch_or_explicit(&s->bits[(size_t)prod * (SH_MAX_SEQ / 64) + seq / 64],
                                                bit, memory_order_relaxed);
        if (old & bit)
            sh_error(s->hdr, "consumer %u: producer %u seq %llu delivered twice", id, prod,
                     (unsigned long long)seq);
        if (last[prod] && seq < last[prod])
            sh_error(s->hdr, "consumer %u: producer %u seq %llu after seq %llu: FIFO broken", id,
                     prod, (unsigned long long)seq, (unsigned long long)(last[prod] - 1));
        last[prod] = seq + 1;
        /* release: pairs with the acquire in sh_producer; our reads of the
         * payload are done before the producer rewrites the slot */
        atomic_store_explicit(&sl->state, 0, memory_order_release);
        got++;
        prog_done(prog, 1);
        stress_chaos();
    }
    s->hdr->got[id] = got;
}

static void shared_describe(void *ctx, FILE *out)
{
    struct shared_run *s = ctx;
    (void)s;
    fprintf(out, "    shared ring (see the progress of the child processes above)\n");
}

static int run_shared(struct stress_run *r)
{
    const struct ring_arg *a = r->sc->arg;
    const struct ring_ops *ops = pick_ops(r, a, M_BLOCK);
    if (!ops)
        return STRESS_EXIT_SKIP;
    unsigned P = r->p > SH_MAX_PROCS ? SH_MAX_PROCS : r->p;
    unsigned C = r->c > SH_MAX_PROCS ? SH_MAX_PROCS : r->c;
    r->p = P;
    r->c = C;
    struct shared_run s;
    memset(&s, 0, sizeof s);
    size_t fp = ops->footprint(r->capacity);
    if (fp == 0) {
        stress_fail(r, "footprint(%zu) is 0", r->capacity);
        return 0;
    }
    s.nslots = 2 * r->capacity + 4 * (size_t)C + 64;
    size_t off_slots = (sizeof(struct sh_hdr) + 63) & ~(size_t)63;
    size_t off_bits = off_slots + ((sizeof(struct sh_slot) * P * s.nslots + 63) & ~(size_t)63);
    size_t off_ring = off_bits + sizeof(uint64_t) * P * (SH_MAX_SEQ / 64);
    off_ring = (off_ring + 4095) & ~(size_t)4095;
    s.map_len = off_ring + fp;
    s.map = mmap(NULL, s.map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s.map == MAP_FAILED) {
        stress_fail(r, "mmap(%zu): %s", s.map_len, strerror(errno));
        return 0;
    }
    s.hdr = s.map;
    s.slots = (struct sh_slot *)(void *)((char *)s.map + off_slots);
    s.bits = (atomic_uint_least64_t *)(void *)((char *)s.map + off_bits);
    s.q = ops->init((char *)s.map + off_ring, r->capacity, WEFT_SHARED);
    if (!s.q) {
        stress_fail(r, "%s init(WEFT_SHARED): %s", ops->name, strerror(errno));
        munmap(s.map, s.map_len);
        return 0;
    }
    snprintf(r->setup, sizeof r->setup, "%uP%uC procs cap %zu", P, C, ops->capacity(s.q));
    fflush(stdout);
    pid_t pids[2 * SH_MAX_PROCS];
    struct stress_progress *progs[2 * SH_MAX_PROCS];
    unsigned n = 0;
    stress_set_describe(shared_describe, &s);
    double t0 = stress_now();
    for (unsigned i = 0; i < P + C; i++) {
        bool prod = i < P;
        unsigned id = prod ? i : i - P;
        struct stress_progress *prog = stress_progress_claim(prod ? "producer" : "consumer", id);
        if (!prog) {
            stress_fail(r, "no progress slot");
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            stress_fail(r, "fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            stress_chaos_thread(r, i + 1);
            if (prod)
                sh_producer(r, ops, &s, id, P, prog);
            else
                sh_consumer(ops, &s, id, P, prog);
            prog_op(prog, OP_EXITED);
            fflush(stdout);
            _exit(0);
        }
        progs[n] = prog;
        pids[n++] = pid;
    }
    if (n == P + C)
        main_phase(r, r->seconds);
    /* relaxed: see sh_producer */
    atomic_store_explicit(&s.hdr->stop, true, memory_order_relaxed);
    prog_op(stress_main_progress, OP_JOIN);
    bool closed = false;
    for (unsigned i = 0; i < n; i++) {
        if (i >= P && !closed) {
            prog_op(stress_main_progress, OP_CLOSE);
            ops->close(s.q);
            closed = true;
        }
        int st;
        while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            stress_fail(r, "%s process %u ended with %s %d", i < P ? "producer" : "consumer",
                        i < P ? i : i - P, WIFEXITED(st) ? "status" : "signal",
                        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
    if (!closed)
        ops->close(s.q);
    for (unsigned i = 0; i < n; i++)
        stress_progress_release(progs[i]);
    r->elapsed = stress_now() - t0;
    prog_op(stress_main_progress, OP_CHECK);
    /* relaxed: every child was reaped (waitpid orders) */
    unsigned child_errors = atomic_load_explicit(&s.hdr->errors, memory_order_relaxed);
    if (child_errors)
        stress_fail(r, "%u failed checks in the child processes (printed above)", child_errors);
    if (n == P + C) {
        void *it;
        uint64_t left = 0;
        while (ops->try_pop(s.q, &it))
            left++;
        if (left)
            stress_fail(r, "%llu items left in the shared ring after the consumers saw EPIPE",
                        (unsigned long long)left);
        uint64_t pushed = 0, got = 0;
        for (unsigned i = 0; i < P; i++) {
            pushed += s.hdr->pushed[i];
            uint64_t missing = 0, first = 0;
            for (uint64_t q = 0; q < s.hdr->pushed[i]; q++) {
                /* relaxed: as above */
                uint64_t w = atomic_load_explicit(&s.bits[(size_t)i * (SH_MAX_SEQ / 64) + q / 64],
                                                  memory_order_relaxed);
                if (!((w >> (q & 63)) & 1) && missing++ == 0)
                    first = q;
            }
            if (missing)
                stress_fail(r, "producer %u: %llu of %llu items lost, first seq %llu", i,
                            (unsigned long long)missing, (unsigned long long)s.hdr->pushed[i],
                            (unsigned long long)first);
        }
        for (unsigned i = 0; i < C; i++)
            got += s.hdr->got[i];
        if (got != pushed && !stress_failed(r))
            stress_fail(r, "%llu pushed, %llu popped", (unsigned long long)pushed,
                        (unsigned long long)got);
        r->ops = got;
    }
    stress_set_describe(NULL, NULL);
    munmap(s.map, s.map_len);
    return 0;
}

/* ---- linearizability windows ------------------------------------------------------ */

/* The same threads run window after window (stress/README.md,
 * "Linearizability"): main builds a ring (a new one, moved a random number
 * of positions on, so that windows start at any lap and slot), pushes a few
 * items itself, and opens the start barrier; each worker runs a short
 * script of operations, each recorded with its invocation and response time
 * (lin_clock_inv / lin_clock_res) into the worker's own preallocated log;
 * main closes the ring at a random moment in some windows, and in any window
 * whose unfinished workers all sit in blocking calls (nothing else would
 * release them); after the end barrier main drains the ring, recorded too
 * (the drain's final empty pop is what exposes a lost item), and checks the
 * window with the fast checker, the short windows with the exhaustive
 * search as well; the two must agree.  The checker runs only between
 * windows, when every worker waits at a barrier: no lock and no allocation
 * on the recording path. */

#define LIN_MAX_WORKERS 32
#define LIN_WORKER_OPS 40     /* recorded operations per worker and window, at most */
#define LIN_BATCH_MAX 8       /* batch size in long windows (2 in short ones) */
#define LIN_SEARCH_NODES 200000
#define LIN_SHORT_OPS 12      /* the workers' operations in a short window, about */

struct linwin {
    struct stress_run *r;
    const struct ring_ops *ops;
    struct lin_spec spec;
    unsigned modes;
    void *q;                             /* this window's ring */
    unsigned P, C, W;                    /* producers, consumers, both */
    pthread_barrier_t start, end;
    atomic_bool quit;                    /* read after the start barrier */
    unsigned script[LIN_MAX_WORKERS + 1]; /* per log: ops this window (set before start) */
    unsigned batch_max;
    atomic_uint finished;                /* workers done with this window's script */
    atomic_int inblock[LIN_MAX_WORKERS + 1]; /* a worker is inside a blocking call */
    struct lin_log log[LIN_MAX_WORKERS + 1]; /* [0]: main; then producers, consumers */
    uint64_t made[LIN_MAX_WORKERS + 1];  /* values made by each log's thread */
    struct lin_op *hops;                 /* the window's history, assembled by main */
    uint64_t *hvals;
    struct lin_ctx *ctx;
    uint64_t windows, searched, undecided, recorded;
    bool printed;
};

/* A value no other push of the run uses: the thread's log index and a
 * counter (only that thread touches its counter). */
static uint64_t lin_value(struct linwin *L, unsigned who)
{
    return ((uint64_t)(who + 1) << 40) | ++L->made[who];
}

static void lin_record(struct linwin *L, unsigned who, enum lin_kind kind, enum lin_result res,
                       uint64_t t0, uint64_t t1, const uint64_t *v, size_t n, size_t asked)
{
    if (!lin_log_add(&L->log[who], kind, res, t0, t1, v, n, asked))
        stress_fail(L->r, "linearizability log of thread %u full (harness bug)", who);
}

/* The ring's items are the values themselves (never dereferenced). */
static void *lin_item(uint64_t v)
{
    return (void *)(uintptr_t)v;
}

static void lin_blocking(struct linwin *L, unsigned who, int on)
{
    /* relaxed: a hint for main's "everyone left is blocked" test, which
     * only decides when to close (closing early is never wrong) */
    atomic_store_explicit(&L->inblock[who], on, memory_order_relaxed);
}

static void lin_push_op(struct linwin *L, unsigned who, struct rng *g, struct stress_progress *prog)
{
    unsigned mode = pick_mode(g, L->modes);
    uint64_t v[LIN_BATCH_MAX];
    void *items[LIN_BATCH_MAX];
    size_t k = mode == M_BATCH ? 1 + (size_t)rng_below(g, L->batch_max) : 1;
    for (size_t i = 0; i < k; i++) {
        v[i] = lin_value(L, who);
        items[i] = lin_item(v[i]);
    }
    uint64_t t0, t1;
    enum lin_result res = LIN_OK;
    size_t n = k;
    int e = 0;
    if (mode == M_BATCH) {
        prog_op(prog, OP_PUSH_MANY);
        t0 = lin_clock_inv();
        size_t m = L->ops->push_many(L->q, (void *const *)items, k);
        t1 = lin_clock_res();
        if (m > k) {
            stress_fail(L->r, "try_push_many(%zu) returned %zu", k, m);
            return;
        }
        res = m ? LIN_OK : LIN_REFUSED;
        n = m ? m : k;
    } else if (mode == M_TRY) {
        prog_op(prog, OP_TRY_PUSH);
        t0 = lin_clock_inv();
        bool ok = L->ops->try_push(L->q, items[0]);
        t1 = lin_clock_res();
        res = ok ? LIN_OK : LIN_REFUSED;
    } else if (mode == M_BLOCK) {
        prog_op(prog, OP_PUSH);
        lin_blocking(L, who, 1);
        t0 = lin_clock_inv();
        e = L->ops->push(L->q, items[0]);
        t1 = lin_clock_res();
        lin_blocking(L, who, 0);
        res = e == 0 ? LIN_OK : LIN_CLOSED;
    } else {
        uint64_t to = pick_timeout(g);
        prog_op(prog, OP_PUSH_TIMED);
        t0 = lin_clock_inv();
        e = L->ops->push_timed(L->q, items[0], to);
        t1 = lin_clock_res();
        res = e == 0 ? LIN_OK : e == ETIMEDOUT ? LIN_FULL : LIN_CLOSED;
    }
    if (e != 0 && e != EPIPE && e != ETIMEDOUT) {
        stress_fail(L->r, "push returned %d (%s)", e, strerror(e));
        return;
    }
    lin_record(L, who, LIN_PUSH, res, t0, t1, v, n, k);
}

static void lin_pop_op(struct linwin *L, unsigned who, struct rng *g, struct stress_progress *prog)
{
    unsigned mode = pick_mode(g, L->modes);
    uint64_t v[LIN_BATCH_MAX];
    void *items[LIN_BATCH_MAX];
    size_t k = mode == M_BATCH ? 1 + (size_t)rng_below(g, L->batch_max) : 1, n = 0;
    uint64_t t0, t1;
    enum lin_result res;
    int e = 0;
    if (mode == M_BATCH) {
        prog_op(prog, OP_POP_MANY);
        t0 = lin_clock_inv();
        n = L->ops->pop_many(L->q, items, k);
        t1 = lin_clock_res();
        if (n > k) {
            stress_fail(L->r, "try_pop_many(%zu) returned %zu", k, n);
            return;
        }
        res = n ? LIN_OK : LIN_EMPTY;
    } else if (mode == M_TRY) {
        prog_op(prog, OP_TRY_POP);
        t0 = lin_clock_inv();
        bool ok = L->ops->try_pop(L->q, &items[0]);
        t1 = lin_clock_res();
        n = ok;
        res = ok ? LIN_OK : LIN_EMPTY;
    } else if (mode == M_BLOCK) {
        prog_op(prog, OP_POP);
        lin_blocking(L, who, 1);
        t0 = lin_clock_inv();
        e = L->ops->pop(L->q, &items[0]);
        t1 = lin_clock_res();
        lin_blocking(L, who, 0);
        n = e == 0;
        res = e == 0 ? LIN_OK : LIN_CLOSED;
    } else {
        uint64_t to = pick_timeout(g);
        prog_op(prog, OP_POP_TIMED);
        t0 = lin_clock_inv();
        e = L->ops->pop_timed(L->q, &items[0], to);
        t1 = lin_clock_res();
        n = e == 0;
        res = e == 0 ? LIN_OK : e == ETIMEDOUT ? LIN_TIMEDOUT : LIN_CLOSED;
    }
    if (e != 0 && e != EPIPE && e != ETIMEDOUT) {
        stress_fail(L->r, "pop returned %d (%s)", e, strerror(e));
        return;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (uint64_t)(uintptr_t)items[i];
    lin_record(L, who, LIN_POP, res, t0, t1, v, n, k);
}

static void lin_worker(struct stress_worker *w)
{
    struct linwin *L = w->ctx;
    bool producer = strcmp(w->role, "producer") == 0;
    unsigned who = producer ? 1 + w->id : 1 + L->P + w->id;
    L->log[who].thread = (uint16_t)who;
    for (;;) {
        prog_op(w->prog, OP_IDLE);
        pthread_barrier_wait(&L->start);
        /* relaxed: ordered by the barrier */
        if (atomic_load_explicit(&L->quit, memory_order_relaxed))
            break;
        L->log[who].nops = L->log[who].nvals = 0;
        for (unsigned i = 0; i < L->script[who]; i++) {
            if (producer)
                lin_push_op(L, who, &w->rng, w->prog);
            else
                lin_pop_op(L, who, &w->rng, w->prog);
            prog_done(w->prog, 1);
            stress_chaos();
        }
        /* relaxed: a count main polls to decide when to close; the logs
         * are handed over by the end barrier */
        atomic_fetch_add_explicit(&L->finished, 1, memory_order_relaxed);
        prog_op(w->prog, OP_IDLE);
        pthread_barrier_wait(&L->end);
    }
}

static void lin_close(struct linwin *L)
{
    prog_op(stress_main_progress, OP_CLOSE);
    uint64_t t0 = lin_clock_inv();
    L->ops->close(L->q);
    uint64_t t1 = lin_clock_res();
    lin_record(L, 0, LIN_CLOSE, LIN_OK, t0, t1, NULL, 0, 0);
}

/* Main's push or pop, recorded (prefill before the window, drain after). */
static bool lin_main_op(struct linwin *L, bool push)
{
    uint64_t v = 0;
    void *it = NULL;
    if (push) {
        v = lin_value(L, 0);
        it = lin_item(v);
    }
    uint64_t t0 = lin_clock_inv();
    bool ok = push ? L->ops->try_push(L->q, it) : L->ops->try_pop(L->q, &it);
    uint64_t t1 = lin_clock_res();
    if (!push && ok)
        v = (uint64_t)(uintptr_t)it;
    lin_record(L, 0, push ? LIN_PUSH : LIN_POP, ok ? LIN_OK : push ? LIN_REFUSED : LIN_EMPTY, t0,
               t1, &v, push || ok, 1);
    return ok;
}

/* Check the window's history; report a violation or a disagreement. */
static void lin_judge(struct linwin *L, bool search, size_t cap)
{
    struct stress_run *r = L->r;
    size_t n = 0, nv = 0;
    for (unsigned who = 0; who <= L->W; who++) {
        const struct lin_log *lg = &L->log[who];
        for (size_t i = 0; i < lg->nops; i++) {
            L->hops[n] = lg->ops[i];
            L->hops[n++].first += (uint32_t)nv;
        }
        memcpy(L->hvals + nv, lg->vals, lg->nvals * sizeof *L->hvals);
        nv += lg->nvals;
    }
    L->recorded += n;
    struct lin_verdict v;
    int fast = lin_fast_check(L->ctx, &L->spec, L->hops, n, L->hvals, &v);
    int full = -2;
    if (search && n <= LIN_EXHAUSTIVE_MAX_OPS) {
        full = lin_exhaustive_check(L->ctx, &L->spec, L->hops, n, L->hvals, LIN_SEARCH_NODES);
        L->searched++;
        L->undecided += full < 0;
    }
    bool bad = false;
    if (fast < 0) {
        stress_fail(r, "window %llu: harness error: %s", (unsigned long long)L->windows, v.text);
        bad = true;
    } else if (fast == 0) {
        stress_fail(r, "window %llu (capacity %zu, %zu ops): %s", (unsigned long long)L->windows,
                    cap, n, v.text);
        bad = true;
    }
    if (fast >= 0 && full >= 0) {
        bool fast_rejects = fast == 0 && (v.rules & LIN_LINEARIZABILITY_RULES) != 0;
        if (fast_rejects != (full == 0)) {
            stress_fail(r, "window %llu: the checkers disagree: the fast checker %s, the "
                        "exhaustive search %s", (unsigned long long)L->windows,
                        fast_rejects ? "rejects" : "accepts", full ? "finds a linearization" :
                        "finds none");
            bad = true;
        }
    }
    if (bad && !L->printed) {
        L->printed = true;
        printf("    window %llu, %s, capacity %zu, flags %#x: its history (times in us from the "
               "first invocation; thread 0 is main):\n", (unsigned long long)L->windows,
               L->ops->name, cap, L->spec.flags);
        lin_print_history(stdout, L->hops, n, L->hvals, 80);
        fflush(stdout);
    }
}

/* One window; false when it could not run (reported). */
static bool lin_window(struct linwin *L, struct rng *g, bool short_window)
{
    struct stress_run *r = L->r;
    /* short windows: capacity 1, 2 or 4 (what the search can decide);
     * long ones: 4, 16 or 64 (a roomy ring keeps more pushes in flight
     * while pops find items: the planted bug of tests/lincheck_planted.sh
     * shows in 2 of 8 runs of 2 s with 4 only, in 8 of 8 with 64) */
    bool fixed = r->capacity != r->sc->def_cap;
    size_t want = fixed ? r->capacity
                        : short_window ? (size_t)1 << rng_below(g, 3)
                                       : (size_t)4 << (2 * rng_below(g, 3));
    if (!(L->q = L->ops->create(want))) {
        stress_fail(r, "%s create(%zu): %s", L->ops->name, want, strerror(errno));
        return false;
    }
    size_t cap = L->ops->capacity(L->q);
    L->spec.capacity = cap;
    /* move on a random number of positions (not recorded; the ring is
     * empty again after) */
    static char dummy;
    for (unsigned i = (unsigned)rng_below(g, 3 * cap + 1); i > 0; i--) {
        void *x;
        if (!L->ops->try_push(L->q, &dummy) || !L->ops->try_pop(L->q, &x)) {
            stress_fail(r, "%s: a push and a pop on an empty ring failed", L->ops->name);
            L->ops->destroy(L->q);
            return false;
        }
    }
    L->log[0].nops = L->log[0].nvals = 0;
    for (unsigned i = (unsigned)rng_below(g, (short_window ? 1 : cap) + 1); i > 0; i--)
        lin_main_op(L, true);
    memset(L->script, 0, sizeof L->script);
    if (short_window) {
        /* a few operations on a few threads: what the search can decide */
        unsigned total = LIN_SHORT_OPS - 2 + (unsigned)rng_below(g, 4);
        for (unsigned i = 0; i < total; i++) {
            unsigned who = 1 + (unsigned)rng_below(g, L->W);
            if (L->script[who] < 4)
                L->script[who]++;
        }
        L->batch_max = 2;
    } else {
        for (unsigned who = 1; who <= L->W; who++)
            L->script[who] = 8 + (unsigned)rng_below(g, LIN_WORKER_OPS - 8 + 1);
        L->batch_max = LIN_BATCH_MAX;
    }
    bool plan_close = L->ops->close && rng_below(g, 4) == 0;
    unsigned delay = (unsigned)rng_below(g, 200);
    /* relaxed: no worker runs until the barrier below */
    atomic_store_explicit(&L->finished, 0, memory_order_relaxed);
    prog_done(stress_main_progress, 1);
    pthread_barrier_wait(&L->start);
    bool closed = false;
    if (plan_close) {
        if (rng_below(g, 2))
            stress_sleep_us(delay);
        else
            for (unsigned i = 0; i < delay; i++)
                stress_chaos();
        lin_close(L);
        closed = true;
    }
    prog_op(stress_main_progress, OP_JOIN);
    unsigned stuck = 0, polls = 0;
    /* relaxed: see lin_worker */
    while (atomic_load_explicit(&L->finished, memory_order_relaxed) < L->W) {
        /* most windows end within a few time slices: yield first (on 2
         * cores the workers need main's CPU), then poll every 100 us */
        if (++polls < 64) {
            sched_yield();
            continue;
        }
        stress_sleep_us(100);
        unsigned fin = atomic_load_explicit(&L->finished, memory_order_relaxed), blocked = 0;
        for (unsigned who = 1; who <= L->W; who++)
            /* relaxed: a hint (see lin_blocking) */
            blocked += (unsigned)atomic_load_explicit(&L->inblock[who], memory_order_relaxed);
        if (!closed && L->ops->close && fin + blocked >= L->W) {
            /* everyone left waits in a blocking call: only a close ends it */
            if (++stuck >= 3) {
                lin_close(L);
                closed = true;
            }
        } else {
            stuck = 0;
        }
    }
    pthread_barrier_wait(&L->end);
    prog_op(stress_main_progress, OP_DRAIN);
    for (size_t i = 0; i <= cap && lin_main_op(L, false); i++) {
    }
    prog_op(stress_main_progress, OP_CHECK);
    lin_judge(L, short_window, cap);
    L->ops->destroy(L->q);
    L->q = NULL;
    L->windows++;
    return true;
}

static int run_lin(struct stress_run *r)
{
    const struct ring_arg *a = r->sc->arg;
    struct linwin *L = calloc(1, sizeof *L);
    if (!L) {
        stress_fail(r, "out of memory");
        return 0;
    }
    L->r = r;
    L->modes = a->modes;
    if (!(L->ops = pick_ops(r, a, a->modes))) {
        free(L);
        return STRESS_EXIT_SKIP;
    }
    if (r->p + r->c > LIN_MAX_WORKERS) {
        r->p = r->p > LIN_MAX_WORKERS / 2 ? LIN_MAX_WORKERS / 2 : r->p;
        r->c = LIN_MAX_WORKERS - r->p < r->c ? LIN_MAX_WORKERS - r->p : r->c;
    }
    L->P = r->p;
    L->C = r->c;
    L->W = L->P + L->C;
    L->spec.structure = LIN_QUEUE;
    L->spec.flags = L->ops->lin_flags;
    L->ctx = lin_ctx_new();
    size_t cap_max = 2 * (r->capacity > 64 ? r->capacity : 64); /* create rounds up */
    size_t main_ops = 2 * cap_max + 8, hops = main_ops + (size_t)L->W * LIN_WORKER_OPS;
    L->log[0].max_ops = L->log[0].max_vals = main_ops;
    L->log[0].ops = calloc(main_ops, sizeof(struct lin_op));
    L->log[0].vals = calloc(main_ops, sizeof(uint64_t));
    bool ok = L->ctx && L->log[0].ops && L->log[0].vals;
    for (unsigned who = 1; who <= L->W && ok; who++) {
        struct lin_log *lg = &L->log[who];
        lg->max_ops = LIN_WORKER_OPS;
        lg->max_vals = LIN_WORKER_OPS * LIN_BATCH_MAX;
        lg->ops = calloc(lg->max_ops, sizeof *lg->ops);
        lg->vals = calloc(lg->max_vals, sizeof *lg->vals);
        ok = lg->ops && lg->vals;
    }
    L->hops = calloc(hops, sizeof *L->hops);
    L->hvals = calloc(main_ops + (size_t)L->W * LIN_WORKER_OPS * LIN_BATCH_MAX, sizeof *L->hvals);
    struct team t;
    memset(&t, 0, sizeof t);
    if (!ok || !L->hops || !L->hvals || !team_init(&t, r, L->W)) {
        stress_fail(r, "out of memory");
        goto out;
    }
    pthread_barrier_init(&L->start, NULL, L->W + 1);
    pthread_barrier_init(&L->end, NULL, L->W + 1);
    for (unsigned i = 0; i < L->P; i++)
        if (!team_add(&t, "producer", i, lin_worker, L))
            goto out_barriers;
    for (unsigned i = 0; i < L->C; i++)
        if (!team_add(&t, "consumer", i, lin_worker, L))
            goto out_barriers;
    struct rng g;
    rng_seed(&g, r->seed, r->stream);
    double t0 = stress_now(), end = t0 + r->seconds;
    if (!team_start(&t))
        goto out_barriers; /* (a partial team would hang the barriers) */
    while ((stress_now() < end || L->windows < 8) && !stress_failed(r))
        if (!lin_window(L, &g, L->windows % 4 != 3))
            break;
    /* relaxed: published to the workers by the barrier */
    atomic_store_explicit(&L->quit, true, memory_order_relaxed);
    pthread_barrier_wait(&L->start);
    team_join(&t, NULL);
    r->elapsed = stress_now() - t0;
    r->ops = L->recorded;
    const char *peer = stress_peer_name(r->peer);
    snprintf(r->setup, sizeof r->setup, "%s%s%uP%uC, %llu win, %llu srch%s", peer ? peer : "",
             peer ? " " : "", L->P, L->C, (unsigned long long)L->windows,
             (unsigned long long)L->searched, L->undecided ? " (some undecided)" : "");
    if (L->undecided)
        printf("    (%llu of %llu searched windows undecided: the search gave up after %d "
               "configurations)\n", (unsigned long long)L->undecided,
               (unsigned long long)L->searched, LIN_SEARCH_NODES);
out_barriers:
    pthread_barrier_destroy(&L->start);
    pthread_barrier_destroy(&L->end);
out:
    team_free(&t);
    for (unsigned who = 0; who <= L->W; who++) {
        free(L->log[who].ops);
        free(L->log[who].vals);
    }
    free(L->hops);
    free(L->hvals);
    lin_ctx_free(L->ctx);
    free(L);
    return 0;
}

/* ---- the table --------------------------------------------------------------------- */

static const struct ring_arg a_mpmc_try = { true, M_TRY, false };
static const struct ring_arg a_mpmc_batch = { true, M_BATCH, false };
static const struct ring_arg a_mpmc_block = { true, M_BLOCK, false };
static const struct ring_arg a_mpmc_timed = { true, M_TIMED, false };
static const struct ring_arg a_mpmc_mixed = { true, M_ALL, false };
static const struct ring_arg a_spsc_try = { false, M_TRY, false };
static const struct ring_arg a_spsc_batch = { false, M_BATCH, false };
static const struct ring_arg a_spsc_block = { false, M_BLOCK, false };
static const struct ring_arg a_spsc_timed = { false, M_TIMED, false };
static const struct ring_arg a_spsc_mixed = { false, M_ALL, true };
static const struct ring_arg a_mpmc_lin = { true, M_ALL, false };
static const struct ring_arg a_spsc_lin = { false, M_ALL, false };

const struct scenario stress_ring_scenarios[] = {
    { "mpmc-try", "try_push/try_pop, 4P4C, capacity 4: exactly-once, per-producer FIFO, payload",
      run_flow, &a_mpmc_try, 4, 4, 4, 2 },
    { "mpmc-batch", "try_push_many/try_pop_many of 1-32 items, 4P4C, capacity 8",
      run_flow, &a_mpmc_batch, 4, 4, 8, 2 },
    { "mpmc-block", "blocking push/pop, 4P4C, capacity 1; close drains, then EPIPE",
      run_flow, &a_mpmc_block, 4, 4, 1, 2 },
    { "mpmc-timed", "push_timed/pop_timed with 0-2 ms time-outs, 4P4C, capacity 2",
      run_flow, &a_mpmc_timed, 4, 4, 2, 1 },
    { "mpmc-close", "close with producers parked on full / consumers parked on empty / live",
      run_close, &a_mpmc_block, 3, 3, 0, 2 },
    { "mpmc-close-race", "thousands of closes racing pushes and pops in flight, 3P2C, capacity 1,2,4",
      run_close_race, &a_mpmc_block, 3, 2, 0, 1 },
    { "mpmc-shared", "WEFT_SHARED ring in mmap(MAP_SHARED) between fork()ed processes, 2P2C",
      run_shared, &a_mpmc_block, 2, 2, 4, 1 },
    { "mpmc-oversub", "8P8C on a capacity-2 ring, every operation kind mixed",
      run_flow, &a_mpmc_mixed, 8, 8, 2, 2 },
    { "mpmc-lin", "recorded windows of every op kind, 4P4C: linearizability (fast + exhaustive)",
      run_lin, &a_mpmc_lin, 4, 4, 4, 2 },
    { "spsc-try", "try_push/try_pop, capacity 4: exactly-once, FIFO, payload",
      run_flow, &a_spsc_try, 1, 1, 4, 1 },
    { "spsc-batch", "try_push_many/try_pop_many of 1-32 items, capacity 8",
      run_flow, &a_spsc_batch, 1, 1, 8, 1 },
    { "spsc-block", "blocking push/pop, capacity 1; close drains, then EPIPE",
      run_flow, &a_spsc_block, 1, 1, 1, 1 },
    { "spsc-timed", "push_timed/pop_timed with 0-2 ms time-outs, capacity 2",
      run_flow, &a_spsc_timed, 1, 1, 2, 1 },
    { "spsc-close", "close with the producer parked on full / consumer parked on empty / live",
      run_close, &a_spsc_block, 1, 1, 0, 1 },
    { "spsc-close-race", "thousands of closes racing the producer's push in flight",
      run_close_race, &a_spsc_block, 1, 1, 0, 1 },
    { "spsc-shared", "WEFT_SHARED ring between a producer and a consumer process",
      run_shared, &a_spsc_block, 1, 1, 4, 1 },
    { "spsc-oversub", "8 rings (capacity 1, 2, 4) with 8 producer/consumer pairs, ops mixed",
      run_flow, &a_spsc_mixed, 8, 8, 0, 2 },
    { "spsc-lin", "recorded windows of every op kind, 1P1C: linearizability (fast + exhaustive)",
      run_lin, &a_spsc_lin, 1, 1, 4, 1 },
};
const size_t stress_ring_count = sizeof stress_ring_scenarios / sizeof stress_ring_scenarios[0];
