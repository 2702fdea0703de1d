/*
 * stress/rings_lin.c - mpmc-lin and spsc-lin: recorded windows of every
 * operation kind, checked for linearizability by stress/lincheck.c.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "lin_windows.h"
#include "lincheck.h"
#include "rings.h"
#include "stress.h"

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
#define LIN_WORKER_OPS 40 /* recorded operations per worker and window, at most */
#define LIN_BATCH_MAX 8   /* batch size in long windows (2 in short ones) */
#define LIN_SEARCH_NODES 200000
#define LIN_SHORT_OPS 12 /* the workers' operations in a short window, about */

struct linwin {
    struct lin_windows w; /* the frame; its logs are log[0..W] */
    const struct ring_ops *ops;
    struct lin_spec spec;
    unsigned modes;
    void *q;                              /* this window's ring */
    unsigned P, C, W;                     /* producers, consumers, both */
    unsigned script[LIN_MAX_WORKERS + 1]; /* per log: ops this window (set before start) */
    unsigned batch_max;
    atomic_uint finished;                    /* workers done with this window's script */
    atomic_int inblock[LIN_MAX_WORKERS + 1]; /* a worker is inside a blocking call */
    struct lin_log log[LIN_MAX_WORKERS + 1]; /* [0]: main; then producers, consumers */
    uint64_t made[LIN_MAX_WORKERS + 1];      /* values made by each log's thread */
};

/* A value no other push of the run uses: the thread's log index and a
 * counter (only that thread touches its counter). */
static uint64_t lin_value(struct linwin *L, unsigned who)
{
    return ((uint64_t)(who + 1) << 40) | ++L->made[who];
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
    unsigned mode = ring_pick_mode(g, L->modes);
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
            stress_fail(L->w.r, "try_push_many(%zu) returned %zu", k, m);
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
        uint64_t to = ring_pick_timeout(g);
        prog_op(prog, OP_PUSH_TIMED);
        t0 = lin_clock_inv();
        e = L->ops->push_timed(L->q, items[0], to);
        t1 = lin_clock_res();
        res = e == 0 ? LIN_OK : e == ETIMEDOUT ? LIN_FULL : LIN_CLOSED;
    }
    if (e != 0 && e != EPIPE && e != ETIMEDOUT) {
        stress_fail(L->w.r, "push returned %d (%s)", e, strerror(e));
        return;
    }
    linw_record(&L->w, who, LIN_PUSH, res, t0, t1, v, n, k);
}

static void lin_pop_op(struct linwin *L, unsigned who, struct rng *g, struct stress_progress *prog)
{
    unsigned mode = ring_pick_mode(g, L->modes);
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
            stress_fail(L->w.r, "try_pop_many(%zu) returned %zu", k, n);
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
        uint64_t to = ring_pick_timeout(g);
        prog_op(prog, OP_POP_TIMED);
        t0 = lin_clock_inv();
        e = L->ops->pop_timed(L->q, &items[0], to);
        t1 = lin_clock_res();
        n = e == 0;
        res = e == 0 ? LIN_OK : e == ETIMEDOUT ? LIN_TIMEDOUT : LIN_CLOSED;
    }
    if (e != 0 && e != EPIPE && e != ETIMEDOUT) {
        stress_fail(L->w.r, "pop returned %d (%s)", e, strerror(e));
        return;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (uint64_t)(uintptr_t)items[i];
    linw_record(&L->w, who, LIN_POP, res, t0, t1, v, n, k);
}

static void lin_worker(struct stress_worker *w)
{
    struct linwin *L = w->ctx;
    bool producer = strcmp(w->role, "producer") == 0;
    unsigned who = producer ? 1 + w->id : 1 + L->P + w->id;
    L->log[who].thread = (uint16_t)who;
    for (;;) {
        prog_op(w->prog, OP_IDLE);
        pthread_barrier_wait(&L->w.start);
        /* relaxed: ordered by the barrier */
        if (atomic_load_explicit(&L->w.quit, memory_order_relaxed))
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
        pthread_barrier_wait(&L->w.end);
    }
}

static void lin_close(struct linwin *L)
{
    prog_op(stress_main_progress, OP_CLOSE);
    uint64_t t0 = lin_clock_inv();
    L->ops->close(L->q);
    uint64_t t1 = lin_clock_res();
    linw_record(&L->w, 0, LIN_CLOSE, LIN_OK, t0, t1, NULL, 0, 0);
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
    linw_record(&L->w, 0, push ? LIN_PUSH : LIN_POP,
                ok     ? LIN_OK
                : push ? LIN_REFUSED
                       : LIN_EMPTY,
                t0, t1, &v, push || ok, 1);
    return ok;
}


/* A new ring for the window, moved on a random number of positions, in
 * L->q (its capacity in L->spec); false when that failed (reported). */
static bool lin_new_ring(struct linwin *L, struct rng *g, bool short_window)
{
    struct stress_run *r = L->w.r;
    /* short windows: capacity 1, 2 or 4 (what the search can decide);
     * long ones: 4, 16 or 64 (a roomy ring keeps more pushes in flight
     * while pops find items: the planted bug of tests/lincheck_planted.sh
     * shows in 2 of 8 runs of 2 s with 4 only, in 8 of 8 with 64) */
    bool fixed = r->capacity != r->sc->def_cap;
    size_t want = fixed          ? r->capacity
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
    return true;
}

/* The workers' scripts (how many operations each runs) and the batch size
 * of the window. */
static void lin_plan_scripts(struct linwin *L, struct rng *g, bool short_window)
{
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
}

/* Main waits for every worker to finish its script, closing the ring (if
 * it has a close and closed is false) once everyone left sits in a
 * blocking call. */
static void lin_wait_workers(struct linwin *L, bool closed)
{
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
        /* relaxed: see lin_worker */
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
}

/* One window; false when it could not run (reported). */
static bool lin_window(void *arg, struct rng *g, bool short_window)
{
    struct linwin *L = arg;
    if (!lin_new_ring(L, g, short_window))
        return false;
    size_t cap = L->spec.capacity;
    L->log[0].nops = L->log[0].nvals = 0;
    for (unsigned i = (unsigned)rng_below(g, (short_window ? 1 : cap) + 1); i > 0; i--)
        lin_main_op(L, true);
    lin_plan_scripts(L, g, short_window);
    bool plan_close = L->ops->close && rng_below(g, 4) == 0;
    unsigned delay = (unsigned)rng_below(g, 200);
    /* relaxed: no worker runs until the barrier below */
    atomic_store_explicit(&L->finished, 0, memory_order_relaxed);
    prog_done(stress_main_progress, 1);
    pthread_barrier_wait(&L->w.start);
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
    lin_wait_workers(L, closed);
    pthread_barrier_wait(&L->w.end);
    prog_op(stress_main_progress, OP_DRAIN);
    for (size_t i = 0; i <= cap && lin_main_op(L, false); i++) {
    }
    prog_op(stress_main_progress, OP_CHECK);
    char what[48], label[96];
    snprintf(what, sizeof what, "capacity %zu, ", cap);
    snprintf(label, sizeof label, ", %s, capacity %zu, flags %#x", L->ops->name, cap,
             L->spec.flags);
    linw_judge(&L->w, &L->spec, short_window, LIN_SEARCH_NODES, what, label, "thread 0 is main");
    L->ops->destroy(L->q);
    L->q = NULL;
    L->w.windows++;
    return true;
}

/* The context, the logs and the history buffers of a *-lin scenario; false
 * when something is missing (run_lin frees what there is). */
static bool lin_alloc(struct linwin *L)
{
    struct stress_run *r = L->w.r;
    L->w.ctx = lin_ctx_new();
    size_t cap_max = 2 * (r->capacity > 64 ? r->capacity : 64); /* create rounds up */
    size_t main_ops = 2 * cap_max + 8, hops = main_ops + (size_t)L->W * LIN_WORKER_OPS;
    L->log[0].max_ops = L->log[0].max_vals = main_ops;
    L->log[0].ops = calloc(main_ops, sizeof(struct lin_op));
    L->log[0].vals = calloc(main_ops, sizeof(uint64_t));
    bool ok = L->w.ctx && L->log[0].ops && L->log[0].vals;
    for (unsigned who = 1; who <= L->W && ok; who++) {
        struct lin_log *lg = &L->log[who];
        lg->max_ops = LIN_WORKER_OPS;
        lg->max_vals = LIN_WORKER_OPS * LIN_BATCH_MAX;
        lg->ops = calloc(lg->max_ops, sizeof *lg->ops);
        lg->vals = calloc(lg->max_vals, sizeof *lg->vals);
        ok = lg->ops && lg->vals;
    }
    L->w.hops = calloc(hops, sizeof *L->w.hops);
    L->w.hvals =
        calloc(main_ops + (size_t)L->W * LIN_WORKER_OPS * LIN_BATCH_MAX, sizeof *L->w.hvals);
    return ok && L->w.hops && L->w.hvals;
}

/* Free what lin_alloc allocated, and L itself. */
static void lin_free(struct linwin *L)
{
    linw_free(&L->w);
    free(L);
}

/* Start the producers and consumers, run windows until the time is up (at
 * least 8), stop the team and report; the barriers are initialised. */
static void lin_run(struct linwin *L, struct team *t)
{
    struct stress_run *r = L->w.r;
    for (unsigned i = 0; i < L->P; i++)
        if (!team_add(t, "producer", i, lin_worker, L))
            return;
    for (unsigned i = 0; i < L->C; i++)
        if (!team_add(t, "consumer", i, lin_worker, L))
            return;
    if (!linw_run(&L->w, t, lin_window, L))
        return;
    const char *peer = stress_peer_name(r->peer);
    snprintf(r->setup, sizeof r->setup, "%s%s%uP%uC, %llu win, %llu srch%s", peer ? peer : "",
             peer ? " " : "", L->P, L->C, (unsigned long long)L->w.windows,
             (unsigned long long)L->w.searched, L->w.undecided ? " (some undecided)" : "");
    linw_report_undecided(&L->w, LIN_SEARCH_NODES);
}

int run_lin(struct stress_run *r)
{
    const struct ring_arg *a = r->sc->arg;
    struct linwin *L = calloc(1, sizeof *L);
    if (!L) {
        stress_fail(r, "out of memory");
        return 0;
    }
    L->w.r = r;
    L->w.log = L->log;
    L->modes = a->modes;
    if (!(L->ops = ring_pick_ops(r, a, a->modes))) {
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
    L->w.nlogs = L->W + 1;
    L->spec.structure = LIN_QUEUE;
    L->spec.flags = L->ops->lin_flags;
    struct team t;
    memset(&t, 0, sizeof t);
    if (!lin_alloc(L) || !team_init(&t, r, L->W)) {
        stress_fail(r, "out of memory");
    } else {
        lin_run(L, &t);
    }
    team_free(&t);
    lin_free(L);
    return 0;
}
