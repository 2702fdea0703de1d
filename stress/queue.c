/*
 * stress/queue.c - the scenarios of the unbounded queue and of the epoch
 * part:
 *   queue-flow       producers push (push, push_many) for the time budget,
 *                    consumers pop (try_pop, try_pop_many, pop, pop_timed);
 *                    main closes; consumers drain until EPIPE.  Every item
 *                    is a checked payload: exactly-once, per-producer order.
 *   queue-close-race many short rounds on fresh queues: close comes at a
 *                    random moment while producers push; every push that
 *                    returned 0 must come out, exactly once, in order.
 *   epoch-readers    readers dereference a shared node inside sections of
 *                    random length (some long, with yields and sleeps) while
 *                    writers replace and retire it and a thread calls
 *                    synchronize; free_fn poisons a node before freeing it,
 *                    so a free too early shows as poison (or, under ASan,
 *                    as a use after free).
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <weft/epoch.h>
#include <weft/queue.h>

#include "rings.h"
#include "stress.h"

/* ---- queue-flow and queue-close-race -------------------------------------- */

struct qflow {
    struct stress_run *r;
    weft_queue *q;
    unsigned P, C;
    struct seen *seen;
    atomic_bool stop;   /* producers: time is up (flow) */
    uint64_t *pushed;   /* per producer: pushes that returned 0 */
    bool until_refused; /* close race: producers push until EPIPE */
};

static void qflow_describe(void *ctx, FILE *out)
{
    struct qflow *f = ctx;
    fprintf(out, "    weft_queue: size %zu, memory %zu, %s\n", weft_queue_size(f->q),
            weft_queue_memory(f->q), weft_queue_closed(f->q) ? "closed" : "open");
}

/* Push n new items (n > 1: one push_many); returns how many went in, and
 * false in *open once the queue refused with EPIPE. */
static size_t qflow_push(struct stress_worker *w, struct qflow *f, uint64_t seq, size_t n,
                         bool *open)
{
    struct item *batch[16];
    for (size_t i = 0; i < n; i++) {
        if (!seen_prepare(f->seen, w->id, seq + i) ||
            !(batch[i] = item_new(&w->rng, w->id, seq + i, 0))) {
            stress_fail(w->run, "producer %u: out of memory", w->id);
            for (size_t j = 0; j < i; j++)
                item_free(batch[j]);
            *open = false;
            return 0;
        }
    }
    size_t done;
    int rc = 0;
    if (n == 1) {
        prog_op(w->prog, OP_PUSH);
        rc = weft_queue_push(f->q, batch[0]);
        done = rc == 0;
    } else {
        prog_op(w->prog, OP_PUSH_MANY);
        errno = 0;
        done = weft_queue_push_many(f->q, (void *const *)batch, n);
        rc = done < n ? errno : 0;
    }
    for (size_t j = done; j < n; j++)
        item_free(batch[j]);
    if (rc == EPIPE && f->until_refused) {
        *open = false;
    } else if (rc != 0) {
        stress_fail(w->run, "producer %u: push returned %d (%s)%s", w->id, rc, strerror(rc),
                    rc == EPIPE ? " before close" : "");
        *open = false;
    }
    return done;
}

static void qflow_producer(struct stress_worker *w)
{
    struct qflow *f = w->ctx;
    uint64_t seq = 0;
    bool open = true;
    /* relaxed: a stop flag; the items carry their own ordering */
    while (open && !atomic_load_explicit(&f->stop, memory_order_relaxed) &&
           !stress_failed(w->run)) {
        size_t n = rng_below(&w->rng, 4) == 0 ? 1 + (size_t)rng_below(&w->rng, 16) : 1;
        size_t done = qflow_push(w, f, seq, n, &open);
        seq += done;
        prog_done(w->prog, done);
        /* keep what is inside bounded (memory, not correctness): an
         * unbounded queue lets 8 producers run far ahead on 2 cores */
        while (!f->until_refused && weft_queue_size(f->q) > 20000 &&
               !atomic_load_explicit(&f->stop, memory_order_relaxed)) {
            prog_op(w->prog, OP_BACKOFF);
            sched_yield();
        }
        stress_chaos();
    }
    f->pushed[w->id] = seq; /* read by main after join */
    prog_op(w->prog, OP_IDLE);
}

/* One consumer step; false once the queue is closed and drained. */
static bool qflow_pop(struct stress_worker *w, struct qflow *f, struct ring_receiver *rc)
{
    void *batch[16];
    size_t n = 0;
    int e = 0;
    switch (rng_below(&w->rng, 4)) {
    case 0:
        prog_op(w->prog, OP_TRY_POP);
        n = weft_queue_try_pop(f->q, batch);
        break;
    case 1:
        prog_op(w->prog, OP_POP_MANY);
        n = weft_queue_try_pop_many(f->q, batch, 1 + (size_t)rng_below(&w->rng, 16));
        break;
    case 2:
        prog_op(w->prog, OP_POP);
        e = weft_queue_pop(f->q, batch);
        n = e == 0;
        break;
    default:
        prog_op(w->prog, OP_POP_TIMED);
        e = weft_queue_pop_timed(f->q, batch, ring_pick_timeout(&w->rng));
        n = e == 0;
        break;
    }
    if (e != 0 && e != ETIMEDOUT && e != EPIPE)
        stress_fail(w->run, "consumer %u: pop returned %d (%s)", w->id, e, strerror(e));
    for (size_t i = 0; i < n; i++)
        ring_receive(rc, batch[i]);
    prog_done(w->prog, n);
    if (e == EPIPE)
        return false;
    if (n == 0 && e == 0) { /* a try found it empty: closed and drained? */
        prog_op(w->prog, OP_POP_TIMED);
        e = weft_queue_pop_timed(f->q, batch, 0);
        if (e == 0) {
            ring_receive(rc, batch[0]);
            prog_done(w->prog, 1);
        }
        return e != EPIPE;
    }
    return true;
}

static void qflow_consumer(struct stress_worker *w)
{
    struct qflow *f = w->ctx;
    struct ring_receiver rc;
    if (!ring_receiver_init(&rc, w->run, f->seen, f->P, "consumer", w->id, 1, 0))
        return;
    while (qflow_pop(w, f, &rc)) {
        if (stress_failed(w->run) && weft_queue_closed(f->q))
            break;
        stress_chaos();
    }
    prog_op(w->prog, OP_IDLE);
    w->count[0] = rc.got;
    free(rc.last);
}

/* After join: the queue is closed and drained, and what came out is
 * exactly what went in.  Returns the items delivered. */
static uint64_t qflow_check(struct qflow *f, struct team *t)
{
    struct stress_run *r = f->r;
    uint64_t got = 0, pushed = 0;
    for (unsigned i = 0; i < t->n; i++)
        if (!strcmp(t->w[i].role, "consumer"))
            got += t->w[i].count[0];
    for (unsigned i = 0; i < f->P; i++) {
        pushed += f->pushed[i];
        seen_check(r, f->seen, i, f->pushed[i], "queue");
    }
    if (got != pushed)
        stress_fail(r, "%llu items pushed, %llu popped", (unsigned long long)pushed,
                    (unsigned long long)got);
    void *it;
    if (weft_queue_try_pop(f->q, &it))
        stress_fail(r, "an item left in the queue after every consumer saw EPIPE");
    if (weft_queue_push(f->q, it) != EPIPE)
        stress_fail(r, "push on a closed queue did not return EPIPE");
    return got;
}

/* One round: a fresh queue, P producers and C consumers, close after
 * close_after seconds (flow: producers stop first). */
static uint64_t qflow_round(struct stress_run *r, double seconds, bool race)
{
    struct qflow f = { .r = r, .P = r->p, .C = r->c, .until_refused = race };
    struct team t;
    memset(&t, 0, sizeof t);
    uint64_t got = 0;
    f.q = weft_queue_create();
    f.seen = seen_new(f.P);
    f.pushed = calloc(f.P, sizeof *f.pushed);
    atomic_init(&f.stop, false);
    if (!f.q || !f.seen || !f.pushed || !team_init(&t, r, f.P + f.C)) {
        stress_fail(r, "out of memory");
        goto out;
    }
    stress_set_describe(qflow_describe, &f);
    for (unsigned i = 0; i < f.P; i++)
        if (!team_add(&t, "producer", i, qflow_producer, &f))
            goto out;
    for (unsigned i = 0; i < f.C; i++)
        if (!team_add(&t, "consumer", i, qflow_consumer, &f))
            goto out;
    if (!team_start(&t))
        goto out;
    if (race) {
        stress_sleep_us((unsigned)(seconds * 1e6));
        weft_queue_close(f.q); /* while the producers push */
        team_join(&t, "producer");
    } else {
        ring_main_phase(r, seconds);
        /* relaxed: see qflow_producer */
        atomic_store_explicit(&f.stop, true, memory_order_relaxed);
        team_join(&t, "producer");
        weft_queue_close(f.q);
    }
    team_join(&t, NULL);
    got = qflow_check(&f, &t);
out:
    stress_set_describe(NULL, NULL);
    team_join(&t, NULL);
    team_free(&t);
    weft_queue_destroy(f.q);
    if (f.seen)
        seen_free(f.seen, f.P);
    free(f.pushed);
    return got;
}

static int run_queue_flow(struct stress_run *r)
{
    if (r->peer != STRESS_PEER_NONE) {
        snprintf(r->skip, sizeof r->skip, "the queue has no peer here");
        return STRESS_EXIT_SKIP;
    }
    r->ops = qflow_round(r, r->seconds, false);
    snprintf(r->setup, sizeof r->setup, "%uP%uC", r->p, r->c);
    return 0;
}

static int run_queue_close_race(struct stress_run *r)
{
    if (r->peer != STRESS_PEER_NONE) {
        snprintf(r->skip, sizeof r->skip, "the queue has no peer here");
        return STRESS_EXIT_SKIP;
    }
    struct rng g;
    rng_seed(&g, r->seed, r->stream);
    double end = stress_now() + r->seconds;
    unsigned rounds = 0;
    while ((stress_now() < end || rounds < 8) && !stress_failed(r)) {
        /* close after 0 to 5 ms: often before some producer's first push */
        r->ops += qflow_round(r, (double)rng_below(&g, 5001) * 1e-6, true);
        rounds++;
    }
    snprintf(r->setup, sizeof r->setup, "%uP%uC, %u rounds", r->p, r->c, rounds);
    return 0;
}

/* ---- epoch-readers ---------------------------------------------------------- */

#define NODE_MAGIC 0x600dcafeu
#define NODE_POISON 0xdeadbeefu

struct enode {
    atomic_uint value;
    uint64_t payload[6]; /* plain data: TSan sees an early free race with it */
};

struct ereaders {
    weft_epoch *d;
    _Atomic(struct enode *) slot[4]; /* shared pointers the writers replace */
    atomic_bool stop;
};

static void enode_free(void *p)
{
    struct enode *n = p;
    /* relaxed: readers that could still see it would be the bug we look for */
    atomic_store_explicit(&n->value, NODE_POISON, memory_order_relaxed);
    free(n);
}

static struct enode *enode_new(uint64_t tag)
{
    struct enode *n = malloc(sizeof *n);
    if (n != NULL) {
        atomic_init(&n->value, NODE_MAGIC);
        for (int i = 0; i < 6; i++)
            n->payload[i] = tag + (uint64_t)i;
    }
    return n;
}

static void ereader(struct stress_worker *w)
{
    struct ereaders *e = w->ctx;
    /* relaxed: a stop flag */
    while (!atomic_load_explicit(&e->stop, memory_order_relaxed) && !stress_failed(w->run)) {
        prog_op(w->prog, OP_POP);
        weft_epoch_enter(e->d);
        unsigned reads = 1 + (unsigned)rng_below(&w->rng, 8);
        bool nest = rng_below(&w->rng, 8) == 0;
        if (nest)
            weft_epoch_enter(e->d);
        for (unsigned k = 0; k < reads; k++) {
            /* acquire: pairs with the writer's release exchange */
            struct enode *n =
                atomic_load_explicit(&e->slot[rng_below(&w->rng, 4)], memory_order_acquire);
            uint64_t sum = 0;
            for (int i = 0; i < 6; i++)
                sum += n->payload[i] - (uint64_t)i;
            if (atomic_load_explicit(&n->value, memory_order_relaxed) != NODE_MAGIC ||
                sum != 6 * n->payload[0])
                stress_fail(w->run, "reader %u: a node was freed inside its section", w->id);
            /* a long section now and then: others retire meanwhile */
            uint64_t pause = rng_below(&w->rng, 64);
            if (pause == 0)
                stress_sleep_us(200);
            else if (pause < 8)
                sched_yield();
        }
        if (nest)
            weft_epoch_exit(e->d);
        weft_epoch_exit(e->d);
        prog_done(w->prog, 1);
        stress_chaos();
    }
    prog_op(w->prog, OP_IDLE);
}

static void ewriter(struct stress_worker *w)
{
    struct ereaders *e = w->ctx;
    uint64_t tag = (uint64_t)w->id << 40;
    while (!atomic_load_explicit(&e->stop, memory_order_relaxed) && !stress_failed(w->run)) {
        prog_op(w->prog, OP_PUSH);
        struct enode *n = enode_new(++tag);
        if (n == NULL) {
            stress_fail(w->run, "writer %u: out of memory", w->id);
            break;
        }
        /* release: publishes the node's fields; acquire: the old node's
         * writes happen before our retire (and its free) */
        struct enode *old =
            atomic_exchange_explicit(&e->slot[rng_below(&w->rng, 4)], n, memory_order_acq_rel);
        weft_epoch_retire(e->d, old, enode_free);
        if (rng_below(&w->rng, 512) == 0) {
            prog_op(w->prog, OP_WAIT);
            weft_epoch_synchronize(e->d);
        }
        prog_done(w->prog, 1);
        stress_chaos();
    }
    prog_op(w->prog, OP_IDLE);
}

static int run_epoch_readers(struct stress_run *r)
{
    if (r->peer != STRESS_PEER_NONE) {
        snprintf(r->skip, sizeof r->skip, "the epoch part has no peer here");
        return STRESS_EXIT_SKIP;
    }
    struct ereaders e = { .d = weft_epoch_create() };
    struct team t;
    memset(&t, 0, sizeof t);
    atomic_init(&e.stop, false);
    bool ok = e.d != NULL;
    for (int i = 0; i < 4; i++) {
        struct enode *n = ok ? enode_new(0) : NULL;
        atomic_init(&e.slot[i], n);
        ok = ok && n != NULL;
    }
    if (!ok || !team_init(&t, r, r->p + r->c)) {
        stress_fail(r, "out of memory");
    } else {
        for (unsigned i = 0; i < r->p; i++)
            team_add(&t, "writer", i, ewriter, &e);
        for (unsigned i = 0; i < r->c; i++)
            team_add(&t, "reader", i, ereader, &e);
        if (team_start(&t)) {
            ring_main_phase(r, r->seconds);
            atomic_store_explicit(&e.stop, true, memory_order_relaxed);
            team_join(&t, NULL);
        }
        for (unsigned i = 0; i < t.n; i++)
            r->ops += atomic_load_explicit(&t.w[i].prog->ops, memory_order_relaxed);
    }
    team_join(&t, NULL);
    team_free(&t);
    if (e.d != NULL)
        weft_epoch_destroy(e.d); /* runs the pending frees */
    for (int i = 0; i < 4; i++)
        free(atomic_load_explicit(&e.slot[i], memory_order_relaxed));
    snprintf(r->setup, sizeof r->setup, "%u writers, %u readers", r->p, r->c);
    return 0;
}

/* ---- queue-lin: the ring interface over weft_queue ---------------------- */

static void *q_create(size_t capacity)
{
    (void)capacity; /* unbounded */
    return weft_queue_create();
}
static void q_destroy(void *q)
{
    weft_queue_destroy(q);
}
static size_t q_capacity(const void *q)
{
    (void)q;
    return 0; /* unbounded: lincheck's capacity 0 */
}
static size_t q_size(const void *q)
{
    return weft_queue_size(q);
}
static bool q_try_push(void *q, void *item)
{
    return weft_queue_push(q, item) == 0;
}
static bool q_try_pop(void *q, void **item)
{
    return weft_queue_try_pop(q, item);
}
static size_t q_push_many(void *q, void *const *items, size_t n)
{
    return weft_queue_push_many(q, items, n);
}
static size_t q_pop_many(void *q, void **items, size_t n)
{
    return weft_queue_try_pop_many(q, items, n);
}
static int q_push(void *q, void *item)
{
    return weft_queue_push(q, item);
}
static int q_pop(void *q, void **item)
{
    return weft_queue_pop(q, item);
}
static int q_push_timed(void *q, void *item, uint64_t timeout_ns)
{
    (void)timeout_ns; /* a push never waits */
    return weft_queue_push(q, item);
}
static int q_pop_timed(void *q, void **item, uint64_t timeout_ns)
{
    return weft_queue_pop_timed(q, item, timeout_ns);
}
static void q_close(void *q)
{
    weft_queue_close(q);
}
static bool q_closed(const void *q)
{
    return weft_queue_closed(q);
}

/* The contract (include/weft/queue.h): a plain linearizable FIFO with
 * close, every operation one atomic step (close's at its seal: pushes and
 * pops report EPIPE only after it). */
static const struct ring_ops queue_ops = {
    .name = "weft_queue",
    .multi = true,
    .align = WEFT_CACHELINE,
    .create = q_create,
    .destroy = q_destroy,
    .capacity = q_capacity,
    .size = q_size,
    .try_push = q_try_push,
    .try_pop = q_try_pop,
    .push_many = q_push_many,
    .pop_many = q_pop_many,
    .push = q_push,
    .pop = q_pop,
    .push_timed = q_push_timed,
    .pop_timed = q_pop_timed,
    .close = q_close,
    .closed = q_closed,
    .lin_flags = 0,
};

const struct ring_ops *stress_queue_ops(void)
{
    return &queue_ops;
}

/* No batches: weft_queue's push_many and try_pop_many are sequences of
 * single operations (queue.h), not the one atomic claim of a ring's batch
 * that the windows' batch rules assume. */
static const struct ring_arg a_queue_lin = { .multi = true,
                                             .queue = true,
                                             .modes = M_TRY | M_BLOCK | M_TIMED };

const struct scenario stress_queue_scenarios[] = {
    { .name = "queue-lin",
      .what = "weft_queue, 2P2C windows of recorded histories (no batches): linearizable",
      .fn = run_lin,
      .arg = &a_queue_lin,
      .def_p = 2,
      .def_c = 2,
      .def_cap = 4,
      .weight = 4 }, /* --quick: about 3 s, what the close mutant needs */
    { .name = "queue-flow",
      .what = "weft_queue, 8P8C, every push and pop form: exactly-once, per-producer FIFO",
      .fn = run_queue_flow,
      .def_p = 8,
      .def_c = 8,
      .weight = 3 },
    { .name = "queue-close-race",
      .what = "weft_queue, 4P4C rounds closed while pushing: every accepted push delivered",
      .fn = run_queue_close_race,
      .def_p = 4,
      .def_c = 4,
      .weight = 2 },
    { .name = "epoch-readers",
      .what = "weft_epoch, 2 writers retire while 4 readers hold long sections: no early free",
      .fn = run_epoch_readers,
      .def_p = 2,
      .def_c = 4,
      .weight = 2 },
};
const size_t stress_queue_count = sizeof stress_queue_scenarios / sizeof stress_queue_scenarios[0];
