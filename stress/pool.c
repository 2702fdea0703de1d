/*
 * stress/pool.c - scenarios for weft_pool.
 *
 *   pool-submit   outside threads submit heap-item tasks; tasks submit more
 *                 tasks from inside; a task calls destroy (must be refused
 *                 with EDEADLK); then destroy runs while tasks still submit.
 *                 Check: the set of tasks that ran equals the set of
 *                 submissions that returned 0 (exactly once each; nothing
 *                 refused with ESHUTDOWN ever runs; ESHUTDOWN only after
 *                 destroy started), payloads intact.
 *   pool-nested   fork-join trees of depth 16-20 (weft_group/weft_spawn,
 *                 random fan-out 1-3; half of the 2-child nodes use
 *                 weft_join instead), rooted on outside threads, some
 *                 roots spawned and waited for, some run directly on the
 *                 outside thread.  Check: each task ran exactly once (a
 *                 counter in the parent's frame), each subtree's size equals
 *                 a sequential recount, payloads intact.
 *   pool-for      weft_parallel_for over empty, tiny and large ranges with
 *                 grains 0, 1, small and larger than the range, some nested
 *                 inside the body; weft_parallel_reduce with an ordered
 *                 (non-commutative) combine.  Check: each index covered
 *                 exactly once and nothing outside, no chunk shorter than
 *                 grain (or the range), reduce combines adjacent ranges in
 *                 order.
 *   pool-futures  weft_async from outside and from inside future tasks
 *                 (whose get then runs on a worker); get, done-polling and
 *                 early release; a last future per outside thread whose
 *                 task parks for an inner one (run_last_future).  Check:
 *                 values, every async'd function ran exactly once (also
 *                 when released), no hang.
 *   pool-oversub  16 workers on 2 cores, trees and loops and submissions
 *                 together.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stress.h"

#if defined(__has_include)
#if __has_include(<weft/pool.h>)
#define STRESS_HAVE_POOL 1
#endif
#endif

#ifdef STRESS_HAVE_POOL
#include <weft/pool.h>

/* One pool scenario runs at a time: its context is a global, written by
 * the main thread before it creates the pool and the outside threads. */
struct pctx {
    struct stress_run *r;
    weft_pool *pool;
    unsigned S;       /* outside threads */
    struct seen *ran; /* producer S: tasks submitted by tasks */
    struct seen *accepted;
    atomic_uint_least64_t inner_seq;
    atomic_bool destroying; /* set just before destroy */
    atomic_bool stop;
    atomic_bool deadlk_tested;
    struct stress_progress *tasks; /* shared progress slot of pool tasks */
    pthread_mutex_t refused_lock;
    struct item **refused;
    size_t nrefused, refused_cap;
    unsigned workers;
};
static struct pctx *P;

static void task_progress(void)
{
    /* relaxed: a progress hint for the watchdog; many writers, so an RMW */
    atomic_fetch_add_explicit(&P->tasks->ops, 1, memory_order_relaxed);
}

static void main_wait(struct stress_run *r, double seconds)
{
    double end = stress_now() + seconds;
    while (stress_now() < end && !stress_failed(r))
        stress_sleep_us(5000);
}

static void pool_end(struct pctx *c);
static void pool_describe(void *ctx, FILE *out);

/* Set up the context of a pool scenario: r->p outside threads, r->c
 * workers.  On failure (skipped: r->skip says why; or out of memory) it
 * has cleaned up and returns false. */
static bool pool_begin(struct stress_run *r, struct pctx *c)
{
    memset(c, 0, sizeof *c);
    if (r->peer != STRESS_PEER_NONE) {
        snprintf(r->skip, sizeof r->skip, "no peer for the pool");
        return false;
    }
    unsigned nseen = r->p + 1; /* the outside threads and the tasks */
    c->r = r;
    c->workers = r->c;
    c->S = r->p;
    pthread_mutex_init(&c->refused_lock, NULL);
    c->tasks = stress_progress_claim("pool tasks", 0);
    c->ran = seen_new(nseen);
    c->accepted = seen_new(nseen);
    if (!c->tasks || !c->ran || !c->accepted) {
        stress_fail(r, "out of memory");
        pool_end(c);
        return false;
    }
    P = c;
    snprintf(r->setup, sizeof r->setup, "%u outside, %u workers", c->S, c->workers);
    stress_set_describe(pool_describe, c);
    return true;
}

static void pool_end(struct pctx *c)
{
    if (!c->r)
        return;
    unsigned nseen = c->S + 1;
    stress_set_describe(NULL, NULL);
    seen_free(c->ran, nseen);
    seen_free(c->accepted, nseen);
    for (size_t i = 0; i < c->nrefused; i++)
        item_free(c->refused[i]);
    free(c->refused);
    pthread_mutex_destroy(&c->refused_lock);
    stress_progress_release(c->tasks);
    P = NULL;
}

static bool create_pool(struct stress_run *r, struct pctx *c)
{
    c->pool = weft_pool_create(c->workers);
    if (!c->pool)
        stress_fail(r, "weft_pool_create(%u): %s", c->workers, strerror(errno));
    return c->pool != NULL;
}

static void pool_describe(void *ctx, FILE *out)
{
    struct pctx *c = ctx;
    /* relaxed: snapshots for the report */
    fprintf(out, "    weft_pool: %u workers, %s, tasks run (progress) %llu\n", c->workers,
            atomic_load_explicit(&c->destroying, memory_order_relaxed) ? "destroying" : "running",
            (unsigned long long)atomic_load_explicit(&c->tasks->ops, memory_order_relaxed));
}

/* Compare the tasks that ran with the submissions that were accepted. */
static void compare_sets(struct stress_run *r, struct seen *acc, struct seen *ran,
                         unsigned producer, uint64_t limit, const char *what)
{
    uint64_t ran_not_acc = 0, acc_not_ran = 0, first_a = 0, first_b = 0;
    for (uint64_t s = 0; s < limit; s++) {
        bool a = seen_test(acc, producer, s), b = seen_test(ran, producer, s);
        if (b && !a && ran_not_acc++ == 0)
            first_a = s;
        if (a && !b && acc_not_ran++ == 0)
            first_b = s;
    }
    if (ran_not_acc)
        stress_fail(r,
                    "%s: %llu tasks of submitter %u ran although their submission failed "
                    "(first seq %llu)",
                    what, (unsigned long long)ran_not_acc, producer, (unsigned long long)first_a);
    if (acc_not_ran)
        stress_fail(r, "%s: %llu accepted tasks of submitter %u never ran (first seq %llu)", what,
                    (unsigned long long)acc_not_ran, producer, (unsigned long long)first_b);
}

/* ---- pool-submit ------------------------------------------------------------ */

static void keep_refused(struct item *it)
{
    pthread_mutex_lock(&P->refused_lock);
    if (P->nrefused == P->refused_cap) {
        size_t nc = P->refused_cap ? 2 * P->refused_cap : 64;
        struct item **nv = realloc(P->refused, nc * sizeof *nv);
        if (!nv) {
            pthread_mutex_unlock(&P->refused_lock);
            return; /* leak it rather than free what might still run */
        }
        P->refused = nv;
        P->refused_cap = nc;
    }
    P->refused[P->nrefused++] = it;
    pthread_mutex_unlock(&P->refused_lock);
}

static void submit_task(void *arg);

/* Submit a task from inside a task (producer index S). */
static void submit_inner(struct rng *g, uint32_t depth)
{
    /* relaxed: only uniqueness of the number matters */
    uint64_t seq = atomic_fetch_add_explicit(&P->inner_seq, 1, memory_order_relaxed);
    struct item *it;
    if (!seen_prepare(P->ran, P->S, seq) || !seen_prepare(P->accepted, P->S, seq) ||
        !(it = item_new(g, P->S, seq, depth))) {
        stress_fail(P->r, "task: out of memory");
        return;
    }
    int e = weft_pool_submit(P->pool, submit_task, it);
    if (e == 0) {
        seen_mark(P->accepted, P->S, seq);
    } else {
        /* acquire: pairs with the release before weft_pool_destroy */
        if (e != ESHUTDOWN || !atomic_load_explicit(&P->destroying, memory_order_acquire))
            stress_fail(P->r, "submit from a task returned %d (%s)%s", e, strerror(e),
                        e == ESHUTDOWN ? " before destroy started" : "");
        keep_refused(it);
    }
}

static void submit_task(void *arg)
{
    struct item *it = arg;
    struct rng g;
    unsigned prod;
    uint64_t seq;
    uint32_t depth;
    rng_seed(&g, (uint64_t)(uintptr_t)arg, 7);
    if (!item_receive(P->r, P->ran, P->S + 1, it, "pool task", &prod, &seq, &depth))
        return;
    task_progress();
    /* once per run: a task that destroys its own pool must be refused */
    bool expected = false;
    /* relaxed: one winner is all we need */
    if (prod == 0 && seq == 5 &&
        atomic_compare_exchange_strong_explicit(&P->deadlk_tested, &expected, true,
                                                memory_order_relaxed, memory_order_relaxed)) {
        errno = 0;
        weft_pool_destroy(P->pool);
        if (errno != EDEADLK)
            stress_fail(P->r, "weft_pool_destroy from a task: errno %d (%s), want EDEADLK", errno,
                        strerror(errno));
    }
    unsigned k = depth < 3 ? (unsigned)rng_below(&g, 3) : 0; /* 0-2 children */
    for (unsigned i = 0; i < k; i++)
        submit_inner(&g, depth + 1);
}

static void submitter(struct stress_worker *w)
{
    struct pctx *c = w->ctx;
    uint64_t seq = 0;
    /* relaxed: a time-out flag */
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed) && !stress_failed(w->run)) {
        struct item *it;
        if (!seen_prepare(c->ran, w->id, seq) || !seen_prepare(c->accepted, w->id, seq) ||
            !(it = item_new(&w->rng, w->id, seq, 0))) {
            stress_fail(w->run, "submitter %u: out of memory", w->id);
            break;
        }
        prog_op(w->prog, OP_SUBMIT);
        int e = weft_pool_submit(c->pool, submit_task, it);
        if (e != 0) {
            stress_fail(w->run, "submitter %u: submit returned %d (%s) before destroy", w->id, e,
                        strerror(e));
            keep_refused(it);
            break;
        }
        seen_mark(c->accepted, w->id, seq);
        seq++;
        prog_done(w->prog, 1);
        if ((seq & 255) == 0)
            stress_sleep_us(50); /* let destroy find a backlog at times */
        stress_chaos();
    }
    prog_op(w->prog, OP_IDLE);
    w->count[0] = seq;
}

static int run_submit(struct stress_run *r)
{
    struct pctx c;
    if (!pool_begin(r, &c))
        return r->skip[0] ? STRESS_EXIT_SKIP : 0;
    double t0 = stress_now(), round_s = r->seconds < 0.6 ? r->seconds / 3 : 0.2;
    uint64_t total = 0;
    unsigned rounds = 0;
    while ((stress_now() < t0 + r->seconds || rounds < 2) && !stress_failed(r)) {
        struct team t;
        if (!create_pool(r, &c))
            break;
        if (!team_init(&t, r, c.S)) {
            weft_pool_destroy(c.pool);
            break;
        }
        /* relaxed: the round's threads do not exist yet */
        atomic_store_explicit(&c.stop, false, memory_order_relaxed);
        atomic_store_explicit(&c.destroying, false, memory_order_relaxed);
        atomic_store_explicit(&c.deadlk_tested, false, memory_order_relaxed);
        seen_free(c.ran, c.S + 1);
        seen_free(c.accepted, c.S + 1);
        c.ran = seen_new(c.S + 1);
        c.accepted = seen_new(c.S + 1);
        /* relaxed: as above */
        atomic_store_explicit(&c.inner_seq, 0, memory_order_relaxed);
        bool ok = c.ran && c.accepted;
        for (unsigned i = 0; ok && i < c.S; i++)
            ok = team_add(&t, "submitter", i, submitter, &c) != NULL;
        if (ok && team_start(&t))
            main_wait(r, round_s);
        /* relaxed: a time-out flag (see submitter) */
        atomic_store_explicit(&c.stop, true, memory_order_relaxed);
        prog_op(stress_main_progress, OP_JOIN);
        team_join(&t, NULL);
        /* release: pairs with the acquire in submit_inner */
        atomic_store_explicit(&c.destroying, true, memory_order_release);
        prog_op(stress_main_progress, OP_DESTROY);
        weft_pool_destroy(c.pool);
        c.pool = NULL;
        prog_op(stress_main_progress, OP_CHECK);
        for (unsigned i = 0; i < c.S; i++) {
            seen_check(r, c.ran, i, t.w[i].count[0], "submitted tasks that ran");
            total += t.w[i].count[0];
        }
        /* relaxed: destroy returned, every task is done */
        uint64_t inner = atomic_load_explicit(&c.inner_seq, memory_order_relaxed);
        compare_sets(r, c.accepted, c.ran, c.S, inner, "tasks submitted by tasks");
        total += inner;
        team_free(&t);
        rounds++;
    }
    r->elapsed = stress_now() - t0;
    r->ops = total;
    pool_end(&c);
    return 0;
}

/* ---- pool-nested (and oversub): fork-join trees -------------------------------- */

struct node {
    weft_task task;
    uint64_t id;
    uint64_t seed;
    unsigned depth, max_depth;
    uint64_t result; /* subtree size, written by the task */
    unsigned ran;    /* incremented by the task: exactly once */
    struct item *payload;
};

/* Children of a node: deterministic from (seed, id), so that main can
 * recount the tree.  Branching 1-3 (mean about 1.6) until max_depth: every
 * tree is max_depth deep. */
static unsigned node_children(uint64_t seed, uint64_t id, unsigned depth, unsigned max_depth)
{
    if (depth >= max_depth)
        return 0;
    uint64_t h = stress_mix(seed ^ stress_mix(id));
    unsigned x = (unsigned)(h % 8);
    return x < 4 ? 1 : x < 7 ? 2 : 3;
}

static uint64_t tree_size(uint64_t seed, uint64_t id, unsigned depth, unsigned max_depth)
{
    uint64_t n = 1;
    unsigned k = node_children(seed, id, depth, max_depth);
    for (unsigned i = 0; i < k; i++)
        n += tree_size(seed, id * 4 + 1 + i, depth + 1, max_depth);
    return n;
}

static void loop_body_small(size_t b, size_t e, void *ctx);

static void node_fn(void *arg)
{
    struct node *n = arg;
    n->ran++;
    task_progress();
    if (n->payload) {
        unsigned prod;
        uint64_t seq;
        if (!item_receive(P->r, P->ran, P->S + 1, n->payload, "tree task", &prod, &seq, NULL))
            return;
    }
    unsigned k = node_children(n->seed, n->id, n->depth, n->max_depth);
    if (k == 0) {
        n->result = 1;
        return;
    }
    struct node kids[3];
    weft_group g;
    weft_group_init(&g, P->pool);
    struct rng rg;
    rng_seed(&rg, n->seed, n->id);
    for (unsigned i = 0; i < k; i++) {
        kids[i].id = n->id * 4 + 1 + i;
        kids[i].seed = n->seed;
        kids[i].depth = n->depth + 1;
        kids[i].max_depth = n->max_depth;
        kids[i].result = 0;
        kids[i].ran = 0;
        /* a payload on some tasks: written here, verified by the child */
        kids[i].payload = NULL;
        if (rng_below(&rg, 4) == 0) {
            /* relaxed: uniqueness only */
            uint64_t seq = atomic_fetch_add_explicit(&P->inner_seq, 1, memory_order_relaxed);
            if (seen_prepare(P->ran, P->S, seq))
                kids[i].payload = item_new(&rg, P->S, seq, 0);
        }
    }
    bool join = k == 2 && rng_below(&rg, 2) == 0;
    if (join) /* both children at once; the group stays empty */
        weft_join(P->pool, node_fn, &kids[0], node_fn, &kids[1]);
    else
        for (unsigned i = 0; i < k; i++)
            weft_spawn(&g, &kids[i].task, node_fn, &kids[i]);
    /* now and then a small loop inside a task (nested parallelism) */
    if (rng_below(&rg, 64) == 0) {
        unsigned char cnt[40] = { 0 };
        weft_parallel_for(P->pool, 0, 40, 3, loop_body_small, cnt);
        for (unsigned i = 0; i < 40; i++)
            if (cnt[i] != 1) {
                stress_fail(P->r, "nested parallel_for [0, 40) grain 3: index %u covered %u times",
                            i, cnt[i]);
                break;
            }
    }
    weft_group_wait(&g);
    uint64_t sum = 1;
    for (unsigned i = 0; i < k; i++) {
        if (kids[i].ran != 1)
            stress_fail(P->r, "task %llu (depth %u) ran %u times after weft_group_wait",
                        (unsigned long long)kids[i].id, kids[i].depth, kids[i].ran);
        sum += kids[i].result;
    }
    n->result = sum;
}

static void loop_body_small(size_t b, size_t e, void *ctx)
{
    unsigned char *cnt = ctx;
    for (size_t i = b; i < e; i++)
        cnt[i]++;
}

static uint64_t run_tree(struct stress_worker *w, unsigned min_depth, unsigned spread)
{
    struct node root;
    memset(&root, 0, sizeof root);
    root.seed = rng_next(&w->rng);
    root.max_depth = min_depth + (unsigned)rng_below(&w->rng, spread + 1);
    uint64_t want = tree_size(root.seed, 0, 0, root.max_depth);
    prog_op(w->prog, OP_WAIT);
    if (rng_below(&w->rng, 2)) {
        weft_group g;
        weft_group_init(&g, P->pool);
        weft_spawn(&g, &root.task, node_fn, &root);
        weft_group_wait(&g);
    } else {
        node_fn(&root); /* the outside thread itself forks and waits */
    }
    if (root.ran != 1 || root.result != want)
        stress_fail(w->run, "tree of depth %u: root ran %u times, counted %llu tasks, want %llu",
                    root.max_depth, root.ran, (unsigned long long)root.result,
                    (unsigned long long)want);
    return want;
}

/* ---- pool-for: loops and reductions --------------------------------------------- */

struct loop {
    unsigned char *cnt;
    size_t begin, end, grain;
    struct stress_run *r;
    atomic_uint bad;
};

static void loop_body(size_t b, size_t e, void *ctx)
{
    struct loop *l = ctx;
    task_progress();
    /* no call shorter than grain, unless the whole range is */
    size_t len = l->end - l->begin, least = l->grain < len ? l->grain : len;
    if (b >= e || b < l->begin || e > l->end || e - b < least) {
        /* relaxed: counted, reported by the caller */
        if (atomic_fetch_add_explicit(&l->bad, 1, memory_order_relaxed) == 0)
            stress_fail(l->r, "parallel_for [%zu, %zu) grain %zu called body on [%zu, %zu)",
                        l->begin, l->end, l->grain, b, e);
        if (b >= e || b < l->begin || e > l->end)
            return;
    }
    for (size_t i = b; i < e; i++)
        l->cnt[i]++; /* plain: two bodies on one index are a data race */
}

struct racc {
    uint64_t first, last, count, sum;
    uint64_t bad;
};

static void reduce_map(size_t b, size_t e, void *acc, void *ctx)
{
    struct racc *a = acc;
    (void)ctx;
    task_progress();
    for (size_t i = b; i < e; i++) {
        if (a->count == 0)
            a->first = i;
        else if (a->last + 1 != i)
            a->bad++;
        a->last = i;
        a->count++;
        a->sum += i * i;
    }
}

static void reduce_combine(void *left, const void *right, void *ctx)
{
    struct racc *l = left;
    const struct racc *r = right;
    (void)ctx;
    if (r->count == 0)
        return;
    if (l->count == 0) {
        *l = *r;
        return;
    }
    if (l->last + 1 != r->first)
        l->bad++; /* combined out of order: left must end just before right */
    l->last = r->last;
    l->count += r->count;
    l->sum += r->sum;
    l->bad += r->bad;
}

static uint64_t run_loops(struct stress_worker *w)
{
    static const size_t lens[] = { 0, 1, 2, 3, 17, 1000, 20000 };
    size_t len = lens[rng_below(&w->rng, sizeof lens / sizeof lens[0])];
    size_t begin = (size_t)rng_below(&w->rng, 100);
    size_t grains[] = { 0, 1, 7, len + 5, 64 };
    size_t grain = grains[rng_below(&w->rng, 5)];
    struct loop l;
    l.cnt = calloc(begin + len + 16, 1);
    if (!l.cnt) {
        stress_fail(w->run, "out of memory");
        return 0;
    }
    l.begin = begin;
    l.end = begin + len;
    l.grain = grain;
    l.r = w->run;
    atomic_init(&l.bad, 0);
    prog_op(w->prog, OP_FOR);
    weft_parallel_for(P->pool, begin, begin + len, grain, loop_body, &l);
    for (size_t i = 0; i < begin + len + 16; i++) {
        unsigned want = i >= begin && i < begin + len;
        if (l.cnt[i] != want) {
            stress_fail(w->run, "parallel_for [%zu, %zu) grain %zu: index %zu covered %u times",
                        begin, begin + len, grain, i, l.cnt[i]);
            break;
        }
    }
    free(l.cnt);

    struct racc id = { 0, 0, 0, 0, 0 }, res;
    memset(&res, 0xab, sizeof res);
    int e = weft_parallel_reduce(P->pool, begin, begin + len, grain, &res, &id, sizeof res,
                                 reduce_map, reduce_combine, NULL);
    uint64_t sum = 0;
    for (size_t i = begin; i < begin + len; i++)
        sum += (uint64_t)i * i;
    if (e != 0)
        stress_fail(w->run, "parallel_reduce returned %d", e);
    else if (res.bad || res.count != len || res.sum != sum ||
             (len && (res.first != begin || res.last != begin + len - 1)))
        stress_fail(w->run,
                    "parallel_reduce [%zu, %zu) grain %zu: count %llu sum %llu first "
                    "%llu last %llu, %llu out of order",
                    begin, begin + len, grain, (unsigned long long)res.count,
                    (unsigned long long)res.sum, (unsigned long long)res.first,
                    (unsigned long long)res.last, (unsigned long long)res.bad);
    return len + 1;
}

/* ---- pool-futures ------------------------------------------------------------------ */

static void *inner_future_fn(void *arg)
{
    uint64_t seq = (uintptr_t)arg;
    task_progress();
    /* now and then long enough that a waiter that does not run it itself
     * finds nothing else to do and parks */
    if (seq % 16 == 0)
        stress_sleep_us(500);
    stress_chaos();
    return (void *)(stress_mix(seq) | 1);
}

/* Half of the future tasks wait for a future of their own: weft_future_get
 * on a worker, which runs other tasks meanwhile and parks beside the idle
 * workers when there are none (woken by the inner task's end). */
static void inner_future(uint64_t seq)
{
    weft_future *g = weft_async(P->pool, inner_future_fn, (void *)(uintptr_t)seq);
    if (g == NULL) {
        if (errno != ESHUTDOWN) /* destroy has started: refused, fine */
            stress_fail(P->r, "weft_async from a task: %s", strerror(errno));
        return;
    }
    void *v = weft_future_get(g);
    if (v != (void *)(uintptr_t)(stress_mix(seq) | 1))
        stress_fail(P->r, "inner future %llu returned %p", (unsigned long long)seq, v);
    weft_future_release(g);
}

static void *future_fn(void *arg)
{
    struct item *it = arg;
    unsigned prod;
    uint64_t seq;
    task_progress();
    if (!item_receive(P->r, P->ran, P->S + 1, it, "future task", &prod, &seq, NULL))
        return NULL;
    if (seq % 2 == 0)
        inner_future(seq);
    return (void *)(uintptr_t)(stress_mix(seq) | 1);
}

static uint64_t run_futures(struct stress_worker *w, uint64_t *seq)
{
    weft_future *f[8];
    uint64_t seqs[8];
    unsigned n = 1 + (unsigned)rng_below(&w->rng, 8);
    for (unsigned i = 0; i < n; i++) {
        struct item *it;
        f[i] = NULL;
        if (!seen_prepare(P->ran, w->id, *seq) || !seen_prepare(P->accepted, w->id, *seq) ||
            !(it = item_new(&w->rng, w->id, *seq, 0))) {
            stress_fail(w->run, "out of memory");
            break;
        }
        prog_op(w->prog, OP_SUBMIT);
        f[i] = weft_async(P->pool, future_fn, it);
        if (!f[i]) {
            stress_fail(w->run, "weft_async: %s", strerror(errno));
            keep_refused(it);
            break;
        }
        seen_mark(P->accepted, w->id, *seq);
        seqs[i] = (*seq)++;
    }
    prog_op(w->prog, OP_WAIT);
    for (unsigned i = 0; i < n && f[i]; i++) {
        unsigned how = (unsigned)rng_below(&w->rng, 3);
        if (how == 2) {
            weft_future_release(f[i]); /* may run later: checked after destroy */
            continue;
        }
        if (how == 1) {
            unsigned spins = 0;
            while (!weft_future_done(f[i]))
                stress_backoff(&spins);
        }
        void *v = weft_future_get(f[i]);
        if (v != (void *)(uintptr_t)(stress_mix(seqs[i]) | 1))
            stress_fail(w->run, "future %llu returned %p", (unsigned long long)seqs[i], v);
        if (weft_future_get(f[i]) != v || !weft_future_done(f[i]))
            stress_fail(w->run, "future %llu: second get or done disagrees",
                        (unsigned long long)seqs[i]);
        weft_future_release(f[i]);
    }
    return n;
}

/* The last future of an outside thread: its task waits for an inner
 * future that another worker runs for 2 ms, so that the waiting worker
 * parks when no other work is left in the pool.  Only the inner task's end
 * can wake it then: a missed wake-up hangs here, and the watchdog says so
 * (during the run, new work would wake such a worker sooner or later and
 * hide the bug). */
struct last_future {
    atomic_int started; /* the inner task runs */
};

static void *last_inner_fn(void *arg)
{
    struct last_future *lf = arg;
    task_progress();
    /* release: pairs with the acquire load in last_outer_fn.  No data
     * passes through the flag, only the news that this task has started
     * on another worker; the pair is the plain way to say so */
    atomic_store_explicit(&lf->started, 1, memory_order_release);
    stress_sleep_us(2000);
    return lf;
}

static void *last_outer_fn(void *arg)
{
    struct last_future *lf = arg;
    task_progress();
    weft_future *g = weft_async(P->pool, last_inner_fn, lf);
    if (g == NULL) {
        stress_fail(P->r, "weft_async from a task: %s", strerror(errno));
        return NULL;
    }
    /* acquire: pairs with the release in last_inner_fn.  Another worker
     * takes the inner task (the push woke it); until then we keep it from
     * being run here. */
    while (!atomic_load_explicit(&lf->started, memory_order_acquire))
        sched_yield();
    void *v = weft_future_get(g); /* nothing else to run: parks */
    weft_future_release(g);
    return v;
}

static void run_last_future(struct stress_worker *w)
{
    struct last_future lf;
    /* not shared yet: the push of weft_async publishes it to the tasks */
    atomic_init(&lf.started, 0);
    prog_op(w->prog, OP_WAIT);
    weft_future *f = weft_async(P->pool, last_outer_fn, &lf);
    if (f == NULL) {
        stress_fail(w->run, "weft_async: %s", strerror(errno));
        return;
    }
    if (weft_future_get(f) != &lf)
        stress_fail(w->run, "the last future returned the wrong value");
    weft_future_release(f);
    prog_done(w->prog, 1);
}

/* ---- the outside threads of nested/for/futures/oversub ------------------------------- */

enum { DO_TREES = 1, DO_LOOPS = 2, DO_FUTURES = 4, DO_SUBMIT = 8 };

struct mix_arg {
    unsigned what;
    unsigned min_depth, spread;
};

static void mixer(struct stress_worker *w)
{
    struct pctx *c = w->ctx;
    const struct mix_arg *a = w->run->sc->arg;
    uint64_t done = 0, fseq = 0;
    unsigned kinds[4], nk = 0;
    for (unsigned b = 1; b <= DO_SUBMIT; b <<= 1)
        if (a->what & b)
            kinds[nk++] = b;
    /* relaxed: a time-out flag */
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed) && !stress_failed(w->run)) {
        unsigned k = kinds[rng_below(&w->rng, nk)];
        if (k == DO_TREES)
            done += run_tree(w, a->min_depth, a->spread);
        else if (k == DO_LOOPS)
            done += run_loops(w);
        else if (k == DO_FUTURES)
            done += run_futures(w, &fseq);
        else
            submit_inner(&w->rng, 2);
        prog_done(w->prog, 1);
        stress_chaos();
    }
    if ((a->what & DO_FUTURES) && !stress_failed(w->run))
        run_last_future(w);
    prog_op(w->prog, OP_IDLE);
    w->count[0] = done;
    w->count[1] = fseq;
}

static int run_mix(struct stress_run *r)
{
    struct pctx c;
    if (!pool_begin(r, &c))
        return r->skip[0] ? STRESS_EXIT_SKIP : 0;
    double t0 = stress_now();
    struct team t;
    memset(&t, 0, sizeof t);
    if (!create_pool(r, &c) || !team_init(&t, r, c.S))
        goto out;
    bool ok = true;
    for (unsigned i = 0; ok && i < c.S; i++)
        ok = team_add(&t, "outside", i, mixer, &c) != NULL;
    if (ok && team_start(&t))
        main_wait(r, r->seconds);
    /* relaxed: a time-out flag (see mixer) */
    atomic_store_explicit(&c.stop, true, memory_order_relaxed);
    prog_op(stress_main_progress, OP_JOIN);
    team_join(&t, NULL);
    /* release: pairs with the acquire in submit_inner */
    atomic_store_explicit(&c.destroying, true, memory_order_release);
    prog_op(stress_main_progress, OP_DESTROY);
    weft_pool_destroy(c.pool);
    c.pool = NULL;
    r->elapsed = stress_now() - t0;
    prog_op(stress_main_progress, OP_CHECK);
    /* futures (released ones too) and submitted tasks: each ran once */
    for (unsigned i = 0; i < c.S; i++) {
        compare_sets(r, c.accepted, c.ran, i, t.w[i].count[1], "futures");
        r->ops += t.w[i].count[0];
    }
    /* relaxed: destroy returned, every task is done */
    uint64_t inner = atomic_load_explicit(&c.inner_seq, memory_order_relaxed);
    /* inner seqs: tree payloads (ran, never "accepted") and submissions */
    uint64_t missing = 0;
    for (uint64_t s = 0; s < inner; s++)
        if (seen_test(c.accepted, c.S, s) && !seen_test(c.ran, c.S, s))
            missing++;
    if (missing)
        stress_fail(r, "%llu accepted submissions never ran", (unsigned long long)missing);
    team_free(&t);
out:
    pool_end(&c);
    return 0;
}

static const struct mix_arg m_nested = { .what = DO_TREES, .min_depth = 16, .spread = 4 };
static const struct mix_arg m_for = { .what = DO_LOOPS };
static const struct mix_arg m_futures = { .what = DO_FUTURES | DO_SUBMIT };
static const struct mix_arg m_oversub = { .what = DO_TREES | DO_LOOPS | DO_FUTURES | DO_SUBMIT,
                                          .min_depth = 12,
                                          .spread = 6 };

const struct scenario stress_pool_scenarios[] = {
    { .name = "pool-submit",
      .what = "submit from 3 threads and from tasks, destroy drains: each accepted task once",
      .fn = run_submit,
      .def_p = 3,
      .def_c = 4,
      .def_cap = 0,
      .weight = 2 },
    { .name = "pool-nested",
      .what = "fork-join trees of depth 16-20 from 2 outside threads: each task once",
      .fn = run_mix,
      .arg = &m_nested,
      .def_p = 2,
      .def_c = 4,
      .def_cap = 0,
      .weight = 2 },
    { .name = "pool-for",
      .what = "parallel_for / parallel_reduce over empty, tiny, large ranges, odd grains",
      .fn = run_mix,
      .arg = &m_for,
      .def_p = 2,
      .def_c = 4,
      .def_cap = 0,
      .weight = 2 },
    { .name = "pool-futures",
      .what = "weft_async + get / done / early release, submissions: each ran once",
      .fn = run_mix,
      .arg = &m_futures,
      .def_p = 2,
      .def_c = 4,
      .def_cap = 0,
      .weight = 1 },
    { .name = "pool-oversub",
      .what = "16 workers on 2 cores: trees, loops, futures and submissions together",
      .fn = run_mix,
      .arg = &m_oversub,
      .def_p = 3,
      .def_c = 16,
      .def_cap = 0,
      .weight = 2 },
};
const size_t stress_pool_count = sizeof stress_pool_scenarios / sizeof stress_pool_scenarios[0];

#else /* no weft/pool.h */

const struct scenario stress_pool_scenarios[] = {
    { .name = NULL },
};
const size_t stress_pool_count = 0;

#endif
