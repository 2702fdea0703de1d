/*
 * stress/deque.c - scenarios for weft_deque (Chase-Lev work-stealing deque).
 *
 * One owner pushes heap items numbered 0, 1, 2, ... (seq, in push order) and
 * pops some of them; thieves steal (single or batch).  Checks:
 *   - integrity and exactly-once as for the rings (checksum, seen bitmap);
 *   - owner LIFO: the owner keeps a mirror stack of the seqs it pushed and
 *     has not popped itself.  Every successful pop must return exactly the
 *     top of that stack (the newest item it has not popped): thieves take
 *     from the other end, so they can only have taken the top if they took
 *     everything.  A pop that reports empty is allowed only if every item
 *     of the mirror is taken by a thief: the owner forgets the mirror then,
 *     so a later pop of one of them fails the LIFO check, and a thief that
 *     never takes it shows up as a lost item at the end;
 *   - thief FIFO: each thief's items (batch items in array order, then the
 *     next call's) have strictly increasing seqs.  This holds globally for
 *     Chase-Lev - steals claim increasing top indices, and an index is
 *     reused only after the owner popped it back - so any thief seeing a
 *     smaller seq after a larger one saw the deque out of order;
 *   - batch steals: OK means 1 <= stolen <= max, EMPTY/RETRY mean 0;
 *   - push never fails (ENOMEM would be a failure here) and growth happens
 *     under steals (deque-grow starts every round at capacity 1).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <weft/deque.h>

#include "lin_windows.h"
#include "lincheck.h"
#include "stress.h"

struct dq_arg {
    unsigned burst_max;   /* owner pushes 1..burst_max items in a row */
    unsigned pop_percent; /* then pops up to this % of them */
    int steal_kind;       /* 0 single, 1 batch, 2 mixed */
    bool grow;            /* rounds, each on a new deque of capacity 1 */
    bool race;            /* one-item race: push 1-2, pop all */
};

struct dq {
    struct stress_run *r;
    const struct dq_arg *a;
    weft_deque *d;
    struct seen *seen; /* one producer: the owner */
    atomic_bool stop;
    atomic_bool owner_done;              /* release: the owner pushes no more */
    atomic_uint_least64_t pushed_so_far; /* for the watchdog's report */
    uint64_t pushed;
    uint64_t taken; /* sum over workers, after join */
    double round_s;
};

static void dq_describe(void *ctx, FILE *out)
{
    struct dq *q = ctx;
    /* relaxed: a snapshot for the report */
    fprintf(out, "    weft_deque: size %zu, owner pushed %llu, owner %s\n", weft_deque_size(q->d),
            (unsigned long long)atomic_load_explicit(&q->pushed_so_far, memory_order_relaxed),
            atomic_load_explicit(&q->owner_done, memory_order_relaxed) ? "done" : "running");
}

/* The owner's mirror of what it pushed and did not pop: a stack whose
 * bottom part is trimmed once thieves took it. */
struct mirror {
    uint64_t *v;
    size_t lo, hi, cap;
};

static bool mirror_push(struct mirror *m, uint64_t seq)
{
    if (m->hi == m->cap) {
        if (m->lo > m->cap / 2) {
            memmove(m->v, m->v + m->lo, (m->hi - m->lo) * sizeof *m->v);
            m->hi -= m->lo;
            m->lo = 0;
        } else {
            size_t nc = m->cap ? 2 * m->cap : 1024;
            uint64_t *nv = realloc(m->v, nc * sizeof *nv);
            if (!nv)
                return false;
            m->v = nv;
            m->cap = nc;
        }
    }
    m->v[m->hi++] = seq;
    return true;
}

/* How many items the owner pushes in its next burst. */
static unsigned dq_burst_size(struct stress_worker *w, const struct dq_arg *a)
{
    if (a->race)
        return 1 + (unsigned)rng_below(&w->rng, 2);
    if (a->grow)
        return 1u << (4 + rng_below(&w->rng, 10)); /* 16 .. 8192: doublings under steals */
    return 1 + (unsigned)rng_below(&w->rng, a->burst_max);
}

/* The owner pushes k new items, seqs from *seq on, each on the mirror too;
 * false when it failed (reported). */
static bool dq_push_burst(struct stress_worker *w, struct dq *q, struct mirror *m, uint64_t *seq,
                          unsigned k)
{
    struct stress_run *r = w->run;
    prog_op(w->prog, OP_PUSH);
    for (unsigned i = 0; i < k; i++) {
        struct item *it;
        if (!seen_prepare(q->seen, 0, *seq) || !(it = item_new(&w->rng, 0, *seq, 0)) ||
            !mirror_push(m, *seq)) {
            stress_fail(r, "owner: out of memory");
            return false;
        }
        int e = weft_deque_push(q->d, it);
        if (e != 0) {
            stress_fail(r, "owner: push returned %d (%s)", e, strerror(e));
            item_free(it);
            return false;
        }
        (*seq)++;
        if ((i & 15) == 0)
            stress_chaos();
    }
    /* relaxed: for the watchdog's report only */
    atomic_store_explicit(&q->pushed_so_far, *seq, memory_order_relaxed);
    prog_done(w->prog, k);
    return true;
}

/* The owner's pop returned seq s: it must be the top of the mirror (LIFO),
 * which it then takes off. */
static void dq_check_lifo(struct stress_run *r, struct mirror *m, uint64_t s)
{
    if (m->hi == m->lo)
        stress_fail(r,
                    "owner: pop returned seq %llu, but every item it pushed since "
                    "its last empty pop was popped by it",
                    (unsigned long long)s);
    else if (m->v[m->hi - 1] != s)
        stress_fail(r,
                    "owner: pop returned seq %llu, the newest item it had not popped "
                    "is seq %llu (LIFO broken)",
                    (unsigned long long)s, (unsigned long long)m->v[m->hi - 1]);
    else
        m->hi--;
}

/* After a burst of k pushes, the owner pops some of them back (all of them
 * in the race), counting what it took in *taken. */
static void dq_pop_some(struct stress_worker *w, struct dq *q, struct mirror *m, unsigned k,
                        uint64_t *taken)
{
    const struct dq_arg *a = q->a;
    unsigned pops = k;
    if (!a->race)
        pops = (unsigned)(((uint64_t)k * rng_below(&w->rng, a->pop_percent + 1)) / 100);
    prog_op(w->prog, OP_POP);
    for (unsigned j = 0; j < pops; j++) {
        void *p;
        if (!weft_deque_pop(q->d, &p)) {
            /* every item of the mirror must be (or be being) stolen */
            m->lo = m->hi = 0;
            break;
        }
        unsigned prod;
        uint64_t s;
        if (!item_receive(w->run, q->seen, 1, p, "owner (pop)", &prod, &s, NULL))
            continue;
        (*taken)++;
        dq_check_lifo(w->run, m, s);
        prog_done(w->prog, 1);
    }
}

static void dq_owner(struct stress_worker *w)
{
    struct dq *q = w->ctx;
    struct stress_run *r = w->run;
    const struct dq_arg *a = q->a;
    struct mirror m = { NULL, 0, 0, 0 };
    uint64_t seq = 0, taken = 0;
    double end = stress_now() + q->round_s;
    /* relaxed: a time-out flag */
    while (!atomic_load_explicit(&q->stop, memory_order_relaxed) && !stress_failed(r) &&
           (!a->grow || stress_now() < end)) {
        unsigned k = dq_burst_size(w, a);
        if (!dq_push_burst(w, q, &m, &seq, k))
            break;
        dq_pop_some(w, q, &m, k, &taken);
        /* forget the bottom of the mirror that thieves took */
        while (m.lo < m.hi && seen_test(q->seen, 0, m.v[m.lo]))
            m.lo++;
        stress_chaos();
    }
    prog_op(w->prog, OP_IDLE);
    free(m.v);
    q->pushed = seq;
    w->count[0] = taken;
    /* release: pairs with the acquire in dq_thief: the owner's pushes
     * happen-before a thief that sees it done, so an EMPTY steal after that
     * means the deque is drained */
    atomic_store_explicit(&q->owner_done, true, memory_order_release);
}

static void dq_take(struct stress_worker *w, struct dq *q, void *p, uint64_t *last, const char *how)
{
    char who[40];
    snprintf(who, sizeof who, "thief %u (%s)", w->id, how);
    unsigned prod;
    uint64_t s;
    if (!item_receive(w->run, q->seen, 1, p, who, &prod, &s, NULL))
        return;
    w->count[0]++;
    if (*last && s < *last)
        stress_fail(w->run, "%s took seq %llu after seq %llu (steals not FIFO)", who,
                    (unsigned long long)s, (unsigned long long)(*last - 1));
    *last = s + 1;
}

static void dq_thief(struct stress_worker *w)
{
    struct dq *q = w->ctx;
    struct stress_run *r = w->run;
    uint64_t last = 0;
    unsigned spins = 0;
    for (;;) {
        /* acquire: pairs with the release in dq_owner */
        bool done = atomic_load_explicit(&q->owner_done, memory_order_acquire);
        bool batch = q->a->steal_kind == 1 || (q->a->steal_kind == 2 && rng_below(&w->rng, 2));
        weft_steal_result res;
        if (batch) {
            void *buf[16];
            size_t max = 1 + (size_t)rng_below(&w->rng, 16), n = 12345;
            prog_op(w->prog, OP_STEAL_BATCH);
            res = weft_deque_steal_batch(q->d, buf, max, &n);
            if (res == WEFT_STEAL_OK) {
                if (n < 1 || n > max) {
                    stress_fail(r, "thief %u: steal_batch(max %zu) returned OK with %zu items",
                                w->id, max, n);
                    break;
                }
                for (size_t i = 0; i < n; i++)
                    dq_take(w, q, buf[i], &last, "batch");
                prog_done(w->prog, n);
            } else if (n != 0) {
                stress_fail(r, "thief %u: steal_batch returned %s with %zu items", w->id,
                            res == WEFT_STEAL_EMPTY ? "EMPTY" : "RETRY", n);
                break;
            }
        } else {
            void *p;
            prog_op(w->prog, OP_STEAL);
            res = weft_deque_steal(q->d, &p);
            if (res == WEFT_STEAL_OK) {
                dq_take(w, q, p, &last, "steal");
                prog_done(w->prog, 1);
            }
        }
        if (res == WEFT_STEAL_OK) {
            spins = 0;
        } else if (res == WEFT_STEAL_EMPTY) {
            if (done)
                break;
            stress_backoff(&spins);
        } else if (res != WEFT_STEAL_RETRY) {
            stress_fail(r, "thief %u: steal returned %d", w->id, (int)res);
            break;
        }
        if (stress_failed(r) && done)
            break;
        stress_chaos();
    }
    prog_op(w->prog, OP_IDLE);
}

/* One deque, one owner, thieves: until the budget is spent (or, with grow,
 * for one round). */
static void dq_round(struct stress_run *r, struct dq *q, unsigned thieves, size_t cap)
{
    struct team t;
    memset(&t, 0, sizeof t);
    q->d = weft_deque_create(cap);
    q->seen = seen_new(1);
    if (!q->d || !q->seen) {
        stress_fail(r, "weft_deque_create(%zu): %s", cap, strerror(errno));
        goto out;
    }
    /* relaxed: no worker of this round exists yet (pthread_create orders) */
    atomic_store_explicit(&q->stop, false, memory_order_relaxed);
    atomic_store_explicit(&q->owner_done, false, memory_order_relaxed);
    q->pushed = 0;
    if (!team_init(&t, r, 1 + thieves) || !team_add(&t, "owner", 0, dq_owner, q))
        goto out;
    for (unsigned i = 0; i < thieves; i++)
        if (!team_add(&t, "thief", i, dq_thief, q))
            goto out;
    stress_set_describe(dq_describe, q);
    if (team_start(&t) && !q->a->grow)
        for (double end = stress_now() + q->round_s; stress_now() < end && !stress_failed(r);)
            stress_sleep_us(5000);
    /* relaxed: see dq_owner */
    atomic_store_explicit(&q->stop, true, memory_order_relaxed);
    prog_op(stress_main_progress, OP_JOIN);
    team_join(&t, NULL);
    prog_op(stress_main_progress, OP_CHECK);
    for (unsigned i = 0; i < t.n; i++)
        q->taken += t.w[i].count[0];
    /* The threads are joined: main may act as the owner now. */
    void *p;
    uint64_t left = 0;
    while (weft_deque_pop(q->d, &p)) {
        unsigned prod;
        uint64_t s;
        if (item_receive(r, q->seen, 1, p, "main (drain)", &prod, &s, NULL))
            q->taken++;
        left++;
    }
    if (left)
        stress_fail(r, "%llu items left in the deque after every thief saw it empty",
                    (unsigned long long)left);
    if (weft_deque_size(q->d) != 0)
        stress_fail(r, "size is %zu on a drained deque", weft_deque_size(q->d));
    seen_check(r, q->seen, 0, q->pushed, "exactly-once");
out:
    stress_set_describe(NULL, NULL);
    team_free(&t);
    if (q->d)
        weft_deque_destroy(q->d);
    q->d = NULL;
    seen_free(q->seen, 1);
    q->seen = NULL;
}

static int run_deque(struct stress_run *r)
{
    if (r->peer != STRESS_PEER_NONE) {
        snprintf(r->skip, sizeof r->skip, "no peer for the deque");
        return STRESS_EXIT_SKIP;
    }
    struct dq q;
    memset(&q, 0, sizeof q);
    q.r = r;
    q.a = r->sc->arg;
    unsigned thieves = r->c;
    r->p = 1;
    snprintf(r->setup, sizeof r->setup, "1 owner %u thieves cap %zu", thieves, r->capacity);
    double t0 = stress_now();
    if (q.a->grow) {
        q.round_s = r->seconds < 0.4 ? r->seconds / 2 : 0.2;
        unsigned rounds = 0;
        while ((stress_now() < t0 + r->seconds || rounds < 2) && !stress_failed(r)) {
            dq_round(r, &q, thieves, r->capacity);
            rounds++;
        }
    } else {
        q.round_s = r->seconds;
        dq_round(r, &q, thieves, r->capacity);
    }
    r->elapsed = stress_now() - t0;
    r->ops = q.taken;
    return 0;
}

/* ---- linearizability windows ------------------------------------------------- */

/* As for the rings (stress/rings.c, "linearizability windows"): the owner
 * and the thieves run window after window on a new deque (capacity 2, so
 * long windows grow it); each runs a short script of recorded pushes and
 * pops (owner) or steals and batch steals (thieves) between a start and an
 * end barrier; then main, now the owner (the barrier hands the role over),
 * pops what is left, recorded, and checks the window: the fast checker's
 * deque rules (D3-D7 of stress/lincheck.c), and the exhaustive search on
 * the short windows; the two must agree. */

#define DQL_MAX_THIEVES 31
#define DQL_OWNER_OPS 160
#define DQL_THIEF_OPS 40
#define DQL_BATCH_MAX 4
#define DQL_SEARCH_NODES 200000

struct dqlin {
    struct lin_windows w; /* the frame; its logs are log[0..T+1] */
    weft_deque *d;
    unsigned T;                           /* thieves */
    unsigned script[DQL_MAX_THIEVES + 2]; /* per log: ops this window */
    unsigned batch_max;
    struct lin_log log[DQL_MAX_THIEVES + 2]; /* [0] main (the drain), [1] owner, thieves */
    uint64_t made;                           /* values the owner made (owner or main only) */
};

/* The owner's (or, draining, main's) pop, recorded; false when empty. */
static bool dql_pop(struct dqlin *L, unsigned who)
{
    void *p = NULL;
    uint64_t t0 = lin_clock_inv();
    bool ok = weft_deque_pop(L->d, &p);
    uint64_t t1 = lin_clock_res();
    uint64_t v = (uint64_t)(uintptr_t)p;
    linw_record(&L->w, who, LIN_POP, ok ? LIN_OK : LIN_EMPTY, t0, t1, &v, ok, 1);
    return ok;
}

static void dql_owner_op(struct dqlin *L, struct stress_worker *w)
{
    if (rng_below(&w->rng, 3) != 0) {
        uint64_t v = ((uint64_t)1 << 40) | ++L->made;
        prog_op(w->prog, OP_PUSH);
        uint64_t t0 = lin_clock_inv();
        int e = weft_deque_push(L->d, (void *)(uintptr_t)v);
        uint64_t t1 = lin_clock_res();
        if (e != 0) {
            stress_fail(L->w.r, "owner: push returned %d (%s)", e, strerror(e));
            return;
        }
        linw_record(&L->w, 1, LIN_PUSH, LIN_OK, t0, t1, &v, 1, 1);
    } else {
        prog_op(w->prog, OP_POP);
        dql_pop(L, 1);
    }
}

static void dql_thief_op(struct dqlin *L, struct stress_worker *w, unsigned who)
{
    void *buf[DQL_BATCH_MAX];
    uint64_t v[DQL_BATCH_MAX];
    size_t n = 0, max = 1;
    weft_steal_result res;
    uint64_t t0, t1;
    if (rng_below(&w->rng, 2)) {
        max = 1 + (size_t)rng_below(&w->rng, L->batch_max);
        prog_op(w->prog, OP_STEAL_BATCH);
        t0 = lin_clock_inv();
        res = weft_deque_steal_batch(L->d, buf, max, &n);
        t1 = lin_clock_res();
        if ((res == WEFT_STEAL_OK && (n < 1 || n > max)) || (res != WEFT_STEAL_OK && n != 0)) {
            stress_fail(L->w.r, "thief %u: steal_batch(max %zu) returned %d with %zu items", w->id,
                        max, (int)res, n);
            return;
        }
    } else {
        prog_op(w->prog, OP_STEAL);
        t0 = lin_clock_inv();
        res = weft_deque_steal(L->d, &buf[0]);
        t1 = lin_clock_res();
        n = res == WEFT_STEAL_OK;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (uint64_t)(uintptr_t)buf[i];
    enum lin_result r = res == WEFT_STEAL_OK      ? LIN_OK
                        : res == WEFT_STEAL_EMPTY ? LIN_EMPTY
                                                  : LIN_RETRY;
    linw_record(&L->w, who, LIN_STEAL, r, t0, t1, v, n, max);
}

static void dql_worker(struct stress_worker *w)
{
    struct dqlin *L = w->ctx;
    bool owner = strcmp(w->role, "owner") == 0;
    unsigned who = owner ? 1 : 2 + w->id;
    L->log[who].thread = (uint16_t)who;
    for (;;) {
        prog_op(w->prog, OP_IDLE);
        pthread_barrier_wait(&L->w.start);
        /* relaxed: ordered by the barrier */
        if (atomic_load_explicit(&L->w.quit, memory_order_relaxed))
            break;
        L->log[who].nops = L->log[who].nvals = 0;
        for (unsigned i = 0; i < L->script[who]; i++) {
            if (owner)
                dql_owner_op(L, w);
            else
                dql_thief_op(L, w, who);
            prog_done(w->prog, 1);
            stress_chaos();
        }
        prog_op(w->prog, OP_IDLE);
        pthread_barrier_wait(&L->w.end);
    }
}


static bool dql_window(void *arg, struct rng *g, bool short_window)
{
    struct dqlin *L = arg;
    struct stress_run *r = L->w.r;
    if (!(L->d = weft_deque_create(r->capacity))) {
        stress_fail(r, "weft_deque_create(%zu): %s", r->capacity, strerror(errno));
        return false;
    }
    memset(L->script, 0, sizeof L->script);
    if (short_window) {
        L->script[1] = 2 + (unsigned)rng_below(g, 5);
        for (unsigned i = 0, total = 4 + (unsigned)rng_below(g, 5); i < total; i++) {
            unsigned who = 2 + (unsigned)rng_below(g, L->T);
            if (L->script[who] < 3)
                L->script[who]++;
        }
        L->batch_max = 2;
    } else {
        L->script[1] = 32 + (unsigned)rng_below(g, DQL_OWNER_OPS - 32 + 1);
        for (unsigned who = 2; who < L->T + 2; who++)
            L->script[who] = 8 + (unsigned)rng_below(g, DQL_THIEF_OPS - 8 + 1);
        L->batch_max = DQL_BATCH_MAX;
    }
    L->log[0].nops = L->log[0].nvals = 0;
    prog_done(stress_main_progress, 1);
    pthread_barrier_wait(&L->w.start);
    prog_op(stress_main_progress, OP_JOIN);
    pthread_barrier_wait(&L->w.end);
    /* the barrier made main the owner: drain, recorded, up to the empty pop */
    prog_op(stress_main_progress, OP_DRAIN);
    while (L->log[0].nops < L->log[0].max_ops && dql_pop(L, 0)) {
    }
    prog_op(stress_main_progress, OP_CHECK);
    static const struct lin_spec spec = { .structure = LIN_DEQUE };
    linw_judge(&L->w, &spec, short_window, DQL_SEARCH_NODES, "", "",
               "thread 0 is main draining as the owner, 1 the owner, 2.. the thieves");
    weft_deque_destroy(L->d);
    L->d = NULL;
    L->w.windows++;
    return true;
}

/* The context, the logs and the history buffers of deque-lin; false when
 * something is missing (run_deque_lin frees what there is). */
static bool dql_alloc(struct dqlin *L)
{
    L->w.ctx = lin_ctx_new();
    /* main drains at most what the owner pushed */
    L->log[0].max_ops = L->log[0].max_vals = DQL_OWNER_OPS + 1;
    L->log[1].max_ops = L->log[1].max_vals = DQL_OWNER_OPS;
    bool ok = L->w.ctx != NULL;
    for (unsigned who = 0; who < L->T + 2 && ok; who++) {
        struct lin_log *lg = &L->log[who];
        if (who >= 2) {
            lg->max_ops = DQL_THIEF_OPS;
            lg->max_vals = DQL_THIEF_OPS * DQL_BATCH_MAX;
        }
        lg->ops = calloc(lg->max_ops, sizeof *lg->ops);
        lg->vals = calloc(lg->max_vals, sizeof *lg->vals);
        ok = lg->ops && lg->vals;
    }
    size_t hops = 2 * DQL_OWNER_OPS + 1 + (size_t)L->T * DQL_THIEF_OPS;
    L->w.hops = calloc(hops, sizeof *L->w.hops);
    L->w.hvals = calloc(hops * DQL_BATCH_MAX, sizeof *L->w.hvals);
    return ok && L->w.hops && L->w.hvals;
}

/* Free what dql_alloc allocated, and L itself. */
static void dql_free(struct dqlin *L)
{
    linw_free(&L->w);
    free(L);
}

/* Start the owner and the thieves, run windows until the time is up (at
 * least 8), stop the team and report; the barriers are initialised. */
static void dql_run(struct dqlin *L, struct team *t)
{
    struct stress_run *r = L->w.r;
    if (!team_add(t, "owner", 0, dql_worker, L))
        return;
    for (unsigned i = 0; i < L->T; i++)
        if (!team_add(t, "thief", i, dql_worker, L))
            return;
    if (!linw_run(&L->w, t, dql_window, L))
        return;
    snprintf(r->setup, sizeof r->setup, "1 owner %u thieves, %llu win, %llu srch%s", L->T,
             (unsigned long long)L->w.windows, (unsigned long long)L->w.searched,
             L->w.undecided ? " (some undecided)" : "");
    linw_report_undecided(&L->w, DQL_SEARCH_NODES);
}

static int run_deque_lin(struct stress_run *r)
{
    if (r->peer != STRESS_PEER_NONE) {
        snprintf(r->skip, sizeof r->skip, "no peer for the deque");
        return STRESS_EXIT_SKIP;
    }
    struct dqlin *L = calloc(1, sizeof *L);
    if (!L) {
        stress_fail(r, "out of memory");
        return 0;
    }
    L->w.r = r;
    r->p = 1;
    if (r->c > DQL_MAX_THIEVES)
        r->c = DQL_MAX_THIEVES;
    L->T = r->c;
    L->w.log = L->log;
    L->w.nlogs = L->T + 2;
    struct team t;
    memset(&t, 0, sizeof t);
    if (!dql_alloc(L) || !team_init(&t, r, 1 + L->T)) {
        stress_fail(r, "out of memory");
    } else {
        dql_run(L, &t);
    }
    team_free(&t);
    dql_free(L);
    return 0;
}

static const struct dq_arg a_steal = { .burst_max = 64, .pop_percent = 100, .steal_kind = 0 };
static const struct dq_arg a_batch = { .burst_max = 64, .pop_percent = 100, .steal_kind = 1 };
static const struct dq_arg a_race = {
    .burst_max = 2, .pop_percent = 100, .steal_kind = 2, .race = true
};
static const struct dq_arg a_grow = {
    .burst_max = 0, .pop_percent = 50, .steal_kind = 2, .grow = true
};
static const struct dq_arg a_oversub = { .burst_max = 64, .pop_percent = 100, .steal_kind = 2 };

const struct scenario stress_deque_scenarios[] = {
    { .name = "deque-steal",
      .what = "owner push/pop bursts vs 3 thieves stealing single items: LIFO, FIFO, once",
      .fn = run_deque,
      .arg = &a_steal,
      .def_p = 1,
      .def_c = 3,
      .def_cap = 2,
      .weight = 2 },
    { .name = "deque-batch",
      .what = "owner push/pop bursts vs 3 thieves using steal_batch (max 1-16)",
      .fn = run_deque,
      .arg = &a_batch,
      .def_p = 1,
      .def_c = 3,
      .def_cap = 2,
      .weight = 2 },
    { .name = "deque-race",
      .what = "owner pushes 1-2 items and pops them back vs 3 thieves: the last-item race",
      .fn = run_deque,
      .arg = &a_race,
      .def_p = 1,
      .def_c = 3,
      .def_cap = 2,
      .weight = 2 },
    { .name = "deque-grow",
      .what = "rounds from capacity 1, bursts of 16-8192 pushes, growth while thieves steal",
      .fn = run_deque,
      .arg = &a_grow,
      .def_p = 1,
      .def_c = 3,
      .def_cap = 1,
      .weight = 2 },
    { .name = "deque-oversub",
      .what = "1 owner vs 15 thieves (single and batch) on 2 cores",
      .fn = run_deque,
      .arg = &a_oversub,
      .def_p = 1,
      .def_c = 15,
      .def_cap = 2,
      .weight = 2 },
    { .name = "deque-lin",
      .what = "recorded windows, owner push/pop vs 3 thieves: linearizability (fast + exhaustive)",
      .fn = run_deque_lin,
      .def_p = 1,
      .def_c = 3,
      .def_cap = 2,
      .weight = 1 },
};
const size_t stress_deque_count = sizeof stress_deque_scenarios / sizeof stress_deque_scenarios[0];
