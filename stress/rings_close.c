/*
 * stress/rings_close.c - the close scenarios: mpmc-close and spsc-close
 * (rounds that close a ring with producers or consumers parked, or while
 * everything runs) and mpmc-close-race and spsc-close-race (thousands of
 * tiny rounds, each closing a ring while pushes are in flight).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rings.h"
#include "stress.h"

/* ---- close while threads are parked -------------------------------------------- */

struct closer {
    struct stress_run *r;
    const struct ring_ops *ops;
    void *q;
    unsigned P, C;   /* the most of each (array sizes) */
    unsigned np, nc; /* this round's producers and consumers */
    struct seen *seen;
    uint64_t *accepted;        /* per producer: pushes that reported success */
    struct item **refused;     /* per producer: the item a push refused */
    atomic_uint producers_out; /* producers that saw the ring closed */
    int round;                 /* 0: producers parked, 1: consumers parked, 2: live */
    unsigned close_after_us;   /* live rounds: run this long, then close */
    uint64_t got;              /* items popped (main adds after join) */
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
            uint64_t to = c->round == 0 ? 60000000000u : ring_pick_timeout(&w->rng);
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
    struct ring_receiver rc;
    if (!ring_receiver_init(&rc, r, c->seen, c->P ? c->P : 1, "consumer", w->id, 1, 0))
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
            uint64_t to = c->round == 1 ? 60000000000u : ring_pick_timeout(&w->rng);
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
        ring_receive(&rc, it);
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

/* Round kind 0: the producers fill the ring and park; then main closes
 * it; then consumers drain it.  false when a team could not run (its
 * threads are joined). */
static bool close_parked_producers(struct stress_run *r, struct closer *c, struct team *t)
{
    if (!team_start(t)) {
        team_join(t, NULL);
        return false;
    }
    wait_parked(t, "producer");
    prog_op(stress_main_progress, OP_CLOSE);
    c->ops->close(c->q);
    team_join(t, "producer");
    struct team t2;
    if (!team_init(&t2, r, c->nc))
        return false;
    for (unsigned i = 0; i < c->nc; i++)
        if (!team_add(&t2, "consumer", i, close_consumer, c)) {
            team_free(&t2);
            return false;
        }
    if (team_start(&t2)) {
        team_join(&t2, NULL);
        for (unsigned i = 0; i < t2.n; i++)
            c->got += t2.w[i].count[0];
    } else {
        team_join(&t2, NULL);
    }
    team_free(&t2);
    return true;
}

/* Round kinds 1 and 2: consumers parked on the empty ring (1), or
 * everything running (2), when main closes it.  false when the team could
 * not run (its threads are joined). */
static bool close_running(struct closer *c, struct team *t)
{
    for (unsigned i = 0; i < c->nc; i++)
        if (!team_add(t, "consumer", i, close_consumer, c))
            return false;
    if (!team_start(t)) {
        team_join(t, NULL);
        return false;
    }
    if (c->round == 1)
        wait_parked(t, "consumer");
    else
        stress_sleep_us(c->close_after_us);
    prog_op(stress_main_progress, OP_CLOSE);
    c->ops->close(c->q);
    prog_op(stress_main_progress, OP_JOIN);
    team_join(t, NULL);
    for (unsigned i = 0; i < t->n; i++)
        if (!strcmp(t->w[i].role, "consumer"))
            c->got += t->w[i].count[0];
    return true;
}

/* After a round's threads are joined: nothing left, every accepted push
 * popped once, the ring closed for good. */
static void close_round_check(struct stress_run *r, struct closer *c)
{
    prog_op(stress_main_progress, OP_CHECK);
    struct ring_receiver left;
    if (ring_receiver_init(&left, r, c->seen, c->P, "main (drain)", 0, 1, 0)) {
        ring_drain_leftovers(r, c->ops, c->q, &left, "every consumer saw EPIPE");
        free(left.last);
    }
    for (unsigned i = 0; i < c->P; i++)
        seen_check(r, c->seen, i, c->accepted[i], "close: accepted vs popped");
    if (!stress_failed(r))
        ring_check_closed(r, c->ops, c->q);
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
    ring_check_edges(r, c->ops, c->q);
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
    if (c->round == 0 ? close_parked_producers(r, c, &t) : close_running(c, &t))
        close_round_check(r, c);
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

int run_close(struct stress_run *r)
{
    const struct ring_arg *a = r->sc->arg;
    struct closer c;
    memset(&c, 0, sizeof c);
    c.r = r;
    if (!(c.ops = ring_pick_ops(r, a, M_BLOCK)))
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
    snprintf(r->setup, sizeof r->setup, "%uP%uC cap %s", c.P, c.C, fixed ? "fixed" : "1,2,4");
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
        c.close_after_us =
            rng_below(&g, 2) ? (unsigned)rng_below(&g, 300) : 300 + (unsigned)rng_below(&g, 20000);
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
    void *q; /* this round's ring, set before the barrier */
    unsigned P, C;
    pthread_barrier_t start, end;
    atomic_bool quit;          /* read after the start barrier */
    atomic_uint producers_out; /* this round */
    struct seen *seen, *accepted;
    uint64_t round_first[16], round_next[16]; /* per producer: this round's seqs */
    unsigned char how[16][4096]; /* per producer: how each seq of the round was pushed */
    int consumer_end[16];        /* per consumer: the call that ended its round */
    uint64_t consumer_got[16];   /* per consumer: items popped this round */
    uint64_t consumer_last[16];  /* per consumer: last seq popped + 1 (0: none) */
    size_t size_after;           /* size() after the round, before the drain */
    size_t cap;
    unsigned delay_us;
    pthread_mutex_t lock;
    struct item **refused; /* freed by main between rounds */
    size_t nrefused, cap_refused;
    uint64_t rounds;
};

static void racer_describe(void *ctx, FILE *out)
{
    struct racer *c = ctx;
    fprintf(out, "    close race: round %llu\n", (unsigned long long)c->rounds);
}

/* Keep an item a push refused until the round is over (main frees it). */
static void race_keep_refused(struct racer *c, struct item *it)
{
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
}

/* A producer's round: push until EPIPE.  Returns the next seq. */
static uint64_t race_produce_round(struct racer *c, struct stress_worker *w, uint64_t seq)
{
    struct stress_run *r = w->run;
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
            do
                e = c->ops->push_timed(c->q, it, ring_pick_timeout(&w->rng));
            while (e == ETIMEDOUT);
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
        race_keep_refused(c, it);
        seq++; /* a refused seq is never reused: popping it is a failure */
        break;
    }
    return seq;
}

static void race_producer(struct stress_worker *w)
{
    struct racer *c = w->ctx;
    uint64_t seq = 0;
    for (;;) {
        prog_op(w->prog, OP_IDLE);
        pthread_barrier_wait(&c->start);
        /* relaxed: ordered by the barrier */
        if (atomic_load_explicit(&c->quit, memory_order_relaxed))
            break;
        c->round_first[w->id] = seq;
        seq = race_produce_round(c, w, seq);
        c->round_next[w->id] = seq;
        /* release: pairs with the acquire in race_consumer */
        atomic_fetch_add_explicit(&c->producers_out, 1, memory_order_release);
        prog_op(w->prog, OP_IDLE);
        pthread_barrier_wait(&c->end);
    }
    w->count[0] = seq;
}

/* A consumer's round: pop until EPIPE (or, by try_pop, until drained once
 * every producer is out). */
static void race_consume_round(struct racer *c, struct stress_worker *w, struct ring_receiver *rc)
{
    struct stress_run *r = w->run;
    unsigned spins = 0;
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
            if ((e = c->ops->pop_timed(c->q, &it, ring_pick_timeout(&w->rng))) == ETIMEDOUT)
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
        ring_receive(rc, it);
        prog_done(w->prog, 1);
    }
}

static void race_consumer(struct stress_worker *w)
{
    struct racer *c = w->ctx;
    struct stress_run *r = w->run;
    struct ring_receiver rc;
    if (!ring_receiver_init(&rc, r, c->seen, c->P, "consumer", w->id, 1, 0))
        return; /* (the barrier counts would hang: reported, and the watchdog ends it) */
    for (;;) {
        prog_op(w->prog, OP_IDLE);
        pthread_barrier_wait(&c->start);
        /* relaxed: ordered by the barrier */
        if (atomic_load_explicit(&c->quit, memory_order_relaxed))
            break;
        uint64_t got_before = rc.got;
        race_consume_round(c, w, &rc);
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
            stress_fail(r,
                        "round %llu (capacity %zu, close after %u us): producer %u seq %llu "
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

/* One round, once main opened the start barrier on the round's ring of
 * capacity cap: close after a random delay, wait for the end barrier,
 * drain and check.  Returns the items main drained. */
static uint64_t race_round(struct stress_run *r, struct racer *c, struct rng *g, size_t cap)
{
    uint64_t got = 0;
    unsigned delay = (unsigned)rng_below(g, 300);
    c->cap = cap;
    c->delay_us = delay;
    if (rng_below(g, 2))
        stress_sleep_us(delay);
    else
        for (unsigned i = 0; i < delay; i++)
            stress_chaos(); /* a short, schedule-dependent spin */
    prog_op(stress_main_progress, OP_CLOSE);
    c->ops->close(c->q);
    prog_op(stress_main_progress, OP_JOIN);
    pthread_barrier_wait(&c->end);
    prog_op(stress_main_progress, OP_CHECK);
    c->size_after = c->ops->size(c->q);
    struct ring_receiver left;
    if (ring_receiver_init(&left, r, c->seen, c->P, "main (drain)", 0, 1, 0)) {
        char why[160];
        snprintf(why, sizeof why,
                 "every consumer saw EPIPE (round %llu, capacity %zu, "
                 "close after %u us)",
                 (unsigned long long)c->rounds, c->cap, c->delay_us);
        ring_drain_leftovers(r, c->ops, c->q, &left, why);
        got += left.got;
        free(left.last);
    }
    race_round_check(r, c);
    c->ops->destroy(c->q);
    c->q = NULL;
    for (size_t i = 0; i < c->nrefused; i++)
        item_free(c->refused[i]);
    c->nrefused = 0;
    c->rounds++;
    return got;
}

/* Round after round until end (or a failure); the last opening of the
 * start barrier tells the threads to quit.  Returns the items main drained. */
static uint64_t race_rounds(struct stress_run *r, struct racer *c, struct rng *g, bool fixed,
                            double end)
{
    uint64_t got = 0;
    for (;;) {
        bool last = stress_now() >= end || stress_failed(r);
        size_t cap = fixed ? r->capacity : (size_t)1 << rng_below(g, 3);
        if (!last && !(c->q = c->ops->create(cap))) {
            stress_fail(r, "%s create(%zu): %s", c->ops->name, cap, strerror(errno));
            last = true;
        }
        /* relaxed: published to the workers by the barrier */
        atomic_store_explicit(&c->quit, last, memory_order_relaxed);
        atomic_store_explicit(&c->producers_out, 0, memory_order_relaxed);
        prog_done(stress_main_progress, 1);
        pthread_barrier_wait(&c->start);
        if (last)
            break;
        got += race_round(r, c, g, cap);
    }
    return got;
}

/* After the threads are joined: over the run, each producer's pushes that
 * succeeded are exactly the items popped.  Returns the consumers' items. */
static uint64_t race_totals(struct stress_run *r, struct racer *c, struct team *t)
{
    uint64_t got = 0;
    for (unsigned i = 0; i < t->n; i++) {
        struct stress_worker *w = &t->w[i];
        if (!strcmp(w->role, "consumer")) {
            got += w->count[0];
            continue;
        }
        /* popped exactly the accepted pushes (refused seqs never popped) */
        uint64_t bad = 0, first = 0;
        for (uint64_t q = 0; q < w->count[0]; q++)
            if (seen_test(c->seen, w->id, q) != seen_test(c->accepted, w->id, q) && bad++ == 0)
                first = q;
        if (bad)
            stress_fail(r,
                        "producer %u: %llu items whose push result disagrees with what was "
                        "popped (first seq %llu: push %s, %spopped)",
                        w->id, (unsigned long long)bad, (unsigned long long)first,
                        seen_test(c->accepted, w->id, first) ? "succeeded" : "failed",
                        seen_test(c->seen, w->id, first) ? "" : "never ");
    }
    return got;
}

/* The thread counts (at most 16 of each) and the set-up line. */
static void race_setup(struct stress_run *r, struct racer *c, bool fixed)
{
    if (r->p > 16)
        r->p = 16;
    if (r->c > 16)
        r->c = 16;
    c->P = r->p;
    c->C = r->c;
    snprintf(r->setup, sizeof r->setup, "%uP%uC cap %s", c->P, c->C, fixed ? "fixed" : "1,2,4");
    if (fixed)
        snprintf(r->setup, sizeof r->setup, "%uP%uC cap %zu", c->P, c->C, r->capacity);
}

static void race_free(struct racer *c)
{
    pthread_mutex_destroy(&c->lock);
    for (size_t i = 0; i < c->nrefused; i++)
        item_free(c->refused[i]);
    free(c->refused);
    seen_free(c->seen, c->P);
    seen_free(c->accepted, c->P);
}

int run_close_race(struct stress_run *r)
{
    const struct ring_arg *a = r->sc->arg;
    struct racer c;
    memset(&c, 0, sizeof c);
    c.r = r;
    if (!(c.ops = ring_pick_ops(r, a, M_BLOCK)))
        return STRESS_EXIT_SKIP;
    struct rng g;
    rng_seed(&g, r->seed, r->stream);
    bool fixed = r->capacity != r->sc->def_cap;
    race_setup(r, &c, fixed);
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
    uint64_t got = race_rounds(r, &c, &g, fixed, end);
    team_join(&t, NULL);
    r->elapsed = stress_now() - t0;
    got += race_totals(r, &c, &t);
    snprintf(r->setup + strlen(r->setup), sizeof r->setup - strlen(r->setup), ", %llu closes",
             (unsigned long long)c.rounds);
    r->ops = got;
out_barriers:
    pthread_barrier_destroy(&c.start);
    pthread_barrier_destroy(&c.end);
out:
    stress_set_describe(NULL, NULL);
    team_free(&t);
    race_free(&c);
    return 0;
}
