/*
 * stress/rings_flow.c - the flow scenarios (mpmc-try, -batch, -block, -timed,
 * -oversub and their spsc twins): producers push into a ring (or one ring
 * per lane) for a time budget, consumers pop, and every item is checked
 * (stress/rings.c's top comment).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rings.h"
#include "stress.h"

/* ---- flow: producers -> ring(s) -> consumers, for a time budget ---------- */

struct flow {
    struct stress_run *r;
    const struct ring_ops *ops;
    unsigned modes;
    unsigned nlanes;
    void **q; /* per lane */
    unsigned P, C;
    struct seen *seen;
    atomic_bool stop;         /* producers: time is up */
    atomic_uint *lane_done;   /* per lane: producers finished */
    unsigned *lane_producers; /* per lane: how many producers it has */
    uint64_t *pushed;         /* per producer, written before lane_done */
    bool closes;              /* main closes the rings after the producers */
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
                atomic_load_explicit(&f->lane_done[l], memory_order_relaxed), f->lane_producers[l]);
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

/* What a producer's or consumer's step tells its loop. */
enum flow_next {
    FLOW_GO,   /* go on (through the loop's tail) */
    FLOW_NEXT, /* the next step straight away (consumers: a timed pop timed out) */
    FLOW_STOP, /* leave the loop */
    FLOW_ABORT /* a check failed: return at once */
};

/* Push a batch of 1-32 new items (try_push_many until all are in). */
static enum flow_next flow_push_batch(struct stress_worker *w, struct flow *f, void *q,
                                      uint64_t *seq)
{
    struct item *batch[32];
    size_t k = 1 + (size_t)rng_below(&w->rng, 32);
    size_t made = 0;
    unsigned spins = 0;
    for (; made < k; made++)
        if (!(batch[made] = flow_item(w, f, *seq + made)))
            break;
    size_t off = 0;
    prog_op(w->prog, OP_PUSH_MANY);
    while (off < made) {
        size_t m = f->ops->push_many(q, (void *const *)(batch + off), made - off);
        if (m > made - off) {
            stress_fail(w->run, "try_push_many(%zu) returned %zu", made - off, m);
            return FLOW_ABORT;
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
    *seq += made;
    prog_done(w->prog, made);
    return made < k ? FLOW_STOP : FLOW_NEXT;
}

/* Push one item by try_push, push or push_timed (mode); false (reported)
 * when the ring refused it on an open ring. */
static bool flow_push_one(struct stress_worker *w, struct flow *f, void *q, struct item *it,
                          unsigned mode)
{
    struct stress_run *r = w->run;
    unsigned spins = 0;
    if (mode == M_TRY) {
        prog_op(w->prog, OP_TRY_PUSH);
        while (!f->ops->try_push(q, it)) {
            if (f->ops->closed && f->ops->closed(q)) {
                stress_fail(r, "producer %u: ring closed before the producers finished", w->id);
                return false;
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
            return false;
        }
    } else {
        prog_op(w->prog, OP_PUSH_TIMED);
        int rc;
        while ((rc = f->ops->push_timed(q, it, ring_pick_timeout(&w->rng))) == ETIMEDOUT) {
        }
        if (rc != 0) {
            stress_fail(r, "producer %u: push_timed returned %d (%s) on an open ring", w->id, rc,
                        strerror(rc));
            item_free(it);
            return false;
        }
    }
    return true;
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
        unsigned mode = ring_pick_mode(&w->rng, f->modes);
        if (mode == M_BATCH) {
            enum flow_next next = flow_push_batch(w, f, q, &seq);
            if (next == FLOW_ABORT)
                return;
            if (next == FLOW_STOP)
                break;
            continue;
        }
        struct item *it = flow_item(w, f, seq);
        if (!it)
            break;
        if (!flow_push_one(w, f, q, it, mode))
            return;
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
static bool lane_finished(struct flow *f, unsigned lane)
{
    /* acquire: pairs with the release in flow_producer */
    unsigned done = atomic_load_explicit(&f->lane_done[lane], memory_order_acquire);
    return done == f->lane_producers[lane];
}

/* A consumer's try_pop_many of 1-32 items; stops once the lane is finished
 * and drained. */
static enum flow_next flow_pop_batch(struct stress_worker *w, struct flow *f, void *q,
                                     struct ring_receiver *rc, unsigned *spins)
{
    struct stress_run *r = w->run;
    unsigned lane = w->id % f->nlanes;
    void *batch[32];
    size_t k = 1 + (size_t)rng_below(&w->rng, 32);
    prog_op(w->prog, OP_POP_MANY);
    size_t n = f->ops->pop_many(q, batch, k);
    if (n > k) {
        stress_fail(r, "try_pop_many(%zu) returned %zu", k, n);
        return FLOW_STOP;
    }
    for (size_t i = 0; i < n; i++)
        ring_receive(rc, batch[i]);
    if (n) {
        prog_done(w->prog, n);
        *spins = 0;
    } else if (lane_finished(f, lane)) {
        if ((n = f->ops->pop_many(q, batch, k)) == 0)
            return FLOW_STOP;
        for (size_t i = 0; i < n; i++)
            ring_receive(rc, batch[i]);
        prog_done(w->prog, n);
    } else {
        stress_backoff(spins);
    }
    return FLOW_GO;
}

/* A consumer's try_pop; stops once the lane is finished and drained. */
static enum flow_next flow_try_pop(struct stress_worker *w, struct flow *f, void *q,
                                   struct ring_receiver *rc, unsigned *spins)
{
    unsigned lane = w->id % f->nlanes;
    void *it;
    prog_op(w->prog, OP_TRY_POP);
    if (f->ops->try_pop(q, &it)) {
        ring_receive(rc, it);
        prog_done(w->prog, 1);
        *spins = 0;
    } else if (lane_finished(f, lane)) {
        if (!f->ops->try_pop(q, &it))
            return FLOW_STOP;
        ring_receive(rc, it);
        prog_done(w->prog, 1);
    } else {
        stress_backoff(spins);
    }
    return FLOW_GO;
}

/* A consumer's pop; stops on EPIPE. */
static enum flow_next flow_pop(struct stress_worker *w, struct flow *f, void *q,
                               struct ring_receiver *rc)
{
    struct stress_run *r = w->run;
    void *it;
    prog_op(w->prog, OP_POP);
    int e = f->ops->pop(q, &it);
    if (e == EPIPE)
        return FLOW_STOP;
    if (e != 0) {
        stress_fail(r, "consumer %u: pop returned %d (%s)", w->id, e, strerror(e));
        return FLOW_STOP;
    }
    ring_receive(rc, it);
    prog_done(w->prog, 1);
    return FLOW_GO;
}

/* A consumer's pop_timed; stops on EPIPE, or on a time-out once the lane
 * is finished and drained. */
static enum flow_next flow_pop_timed(struct stress_worker *w, struct flow *f, void *q,
                                     struct ring_receiver *rc)
{
    struct stress_run *r = w->run;
    unsigned lane = w->id % f->nlanes;
    void *it;
    prog_op(w->prog, OP_POP_TIMED);
    int e = f->ops->pop_timed(q, &it, ring_pick_timeout(&w->rng));
    if (e == EPIPE)
        return FLOW_STOP;
    if (e == ETIMEDOUT) {
        /* after every producer of the lane is done, an empty try_pop
         * means drained; an item found now is delivered */
        if (lane_finished(f, lane)) {
            if (!f->ops->try_pop(q, &it))
                return FLOW_STOP;
            ring_receive(rc, it);
            prog_done(w->prog, 1);
        }
        return FLOW_NEXT;
    }
    if (e != 0) {
        stress_fail(r, "consumer %u: pop_timed returned %d (%s)", w->id, e, strerror(e));
        return FLOW_STOP;
    }
    ring_receive(rc, it);
    prog_done(w->prog, 1);
    return FLOW_GO;
}

static void flow_consumer(struct stress_worker *w)
{
    struct flow *f = w->ctx;
    struct stress_run *r = w->run;
    unsigned lane = w->id % f->nlanes;
    void *q = f->q[lane];
    struct ring_receiver rc;
    if (!ring_receiver_init(&rc, r, f->seen, f->P, "consumer", w->id, f->nlanes, lane))
        return;
    unsigned spins = 0;
    for (;;) {
        unsigned mode = ring_pick_mode(&w->rng, f->modes);
        enum flow_next next;
        if (mode == M_BATCH)
            next = flow_pop_batch(w, f, q, &rc, &spins);
        else if (mode == M_TRY)
            next = flow_try_pop(w, f, q, &rc, &spins);
        else if (mode == M_BLOCK)
            next = flow_pop(w, f, q, &rc);
        else
            next = flow_pop_timed(w, f, q, &rc);
        if (next == FLOW_STOP)
            break;
        if (next == FLOW_NEXT)
            continue;
        if (stress_failed(r) && lane_finished(f, lane))
            break;
        stress_chaos();
    }
    prog_op(w->prog, OP_IDLE);
    w->count[0] = rc.got;
    free(rc.last);
}

/* The lanes' rings (checked on their edges) and the bookkeeping; false
 * (reported) on failure. */
static bool flow_setup(struct stress_run *r, const struct ring_arg *a, struct flow *f)
{
    f->q = calloc(f->nlanes, sizeof *f->q);
    f->lane_done = calloc(f->nlanes, sizeof *f->lane_done);
    f->lane_producers = calloc(f->nlanes, sizeof *f->lane_producers);
    f->pushed = calloc(f->P, sizeof *f->pushed);
    f->seen = seen_new(f->P);
    if (!f->q || !f->lane_done || !f->lane_producers || !f->pushed || !f->seen) {
        stress_fail(r, "out of memory");
        return false;
    }
    for (unsigned l = 0; l < f->nlanes; l++) {
        /* spsc-oversub: capacities 1, 2, 4 over the lanes */
        size_t cap = a->lanes && r->capacity == r->sc->def_cap ? (size_t)1 << (l % 3) : r->capacity;
        if (!(f->q[l] = f->ops->create(cap))) {
            stress_fail(r, "%s create(%zu): %s", f->ops->name, cap, strerror(errno));
            return false;
        }
        atomic_init(&f->lane_done[l], 0);
    }
    for (unsigned p = 0; p < f->P; p++)
        f->lane_producers[p % f->nlanes]++;
    for (unsigned l = 0; l < f->nlanes; l++)
        ring_check_edges(r, f->ops, f->q[l]);
    const char *peer = stress_peer_name(r->peer);
    snprintf(r->setup, sizeof r->setup, "%s%s%uP%uC cap %zu%s", peer ? peer : "", peer ? " " : "",
             f->P, f->C, f->ops->capacity(f->q[0]), f->nlanes > 1 ? ".." : "");
    return true;
}

/* Time is up: stop and join the producers, close the rings (when they
 * close), join the consumers. */
static void flow_finish(struct flow *f, struct team *t)
{
    /* relaxed: see flow_producer */
    atomic_store_explicit(&f->stop, true, memory_order_relaxed);
    prog_op(stress_main_progress, OP_JOIN);
    team_join(t, "producer");
    if (f->closes) {
        prog_op(stress_main_progress, OP_CLOSE);
        for (unsigned l = 0; l < f->nlanes; l++)
            f->ops->close(f->q[l]);
    }
    prog_op(stress_main_progress, OP_JOIN);
    team_join(t, "consumer");
}

/* After the join: nothing left in the rings, every item delivered once. */
static void flow_check(struct stress_run *r, struct flow *f, struct team *t)
{
    uint64_t pushed = 0, got = 0;
    for (unsigned i = 0; i < f->P; i++)
        pushed += f->pushed[i];
    for (unsigned i = 0; i < t->n; i++)
        if (!strcmp(t->w[i].role, "consumer"))
            got += t->w[i].count[0];
    for (unsigned l = 0; l < f->nlanes; l++) {
        struct ring_receiver left;
        if (!ring_receiver_init(&left, r, f->seen, f->P, "main (drain)", l, f->nlanes, l))
            break;
        ring_drain_leftovers(r, f->ops, f->q[l], &left,
                             f->closes ? "every consumer saw EPIPE or an empty ring"
                                       : "every consumer saw an empty ring");
        got += left.got;
        free(left.last);
        if (f->closes && !stress_failed(r))
            ring_check_closed(r, f->ops, f->q[l]);
    }
    for (unsigned i = 0; i < f->P; i++)
        seen_check(r, f->seen, i, f->pushed[i], "exactly-once");
    if (got != pushed && !stress_failed(r))
        stress_fail(r, "%llu items pushed, %llu delivered", (unsigned long long)pushed,
                    (unsigned long long)got);
    r->ops = got;
}

static void flow_free(struct flow *f)
{
    if (f->q)
        for (unsigned l = 0; l < f->nlanes; l++)
            if (f->q[l])
                f->ops->destroy(f->q[l]);
    free(f->q);
    free(f->lane_done);
    free(f->lane_producers);
    free(f->pushed);
    seen_free(f->seen, f->P);
}

int run_flow(struct stress_run *r)
{
    const struct ring_arg *a = r->sc->arg;
    struct flow f;
    memset(&f, 0, sizeof f);
    f.r = r;
    f.modes = a->modes;
    if (!(f.ops = ring_pick_ops(r, a, a->modes)))
        return STRESS_EXIT_SKIP;
    f.P = r->p;
    f.C = r->c;
    f.nlanes = a->lanes ? r->p : 1;
    f.closes = f.ops->close != NULL;
    struct team t;
    memset(&t, 0, sizeof t);
    if (!flow_setup(r, a, &f) || !team_init(&t, r, f.P + f.C))
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
        /* relaxed: see flow_producer */
        atomic_store_explicit(&f.stop, true, memory_order_relaxed);
        team_join(&t, NULL);
        goto out;
    }
    ring_main_phase(r, r->seconds);
    flow_finish(&f, &t);
    r->elapsed = stress_now() - t0;
    prog_op(stress_main_progress, OP_CHECK);
    flow_check(r, &f, &t);
out:
    stress_set_describe(NULL, NULL);
    team_free(&t);
    flow_free(&f);
    return 0;
}
