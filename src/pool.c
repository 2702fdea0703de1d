/*
 * pool.c - the work-stealing pool; the contract is in include/weft/pool.h.
 *
 * What the design follows
 * -----------------------
 * Blumofe and Leiserson, "Scheduling multithreaded computations by work
 * stealing", JACM 46(5), 1999: every worker keeps its own deque of ready
 * tasks, works at its bottom end (the newest task, so a fork-join program
 * runs in the same order as its sequential version and keeps its working
 * set hot) and, when it runs dry, picks a victim at random and steals from
 * the top end (the oldest task, near the root of the task tree, so one steal
 * moves a large piece of work).  Their analysis bounds time by T1/P + O(Tinf)
 * and steals by O(P * Tinf).  Here the deque is weft_deque (Chase-Lev); a
 * thief takes a small batch (weft_deque_steal_batch, at most half of what it
 * sees) to cut the number of steals when the work is fine-grained.  A join
 * (weft_group_wait) does not suspend the worker as in Cilk's "work-first"
 * scheme: the worker runs other tasks until the group is done (it pops its
 * own deque first, which usually gives back the task it just spawned, so an
 * unstolen fork-join is a push and a pop), as TBB and rayon do.  This keeps
 * the stack as the only per-task storage: no continuation is ever stolen,
 * no extra thread is ever needed.
 *
 * Work from outside the pool enters through one bounded weft_mpmc, the
 * injection ring (Go's global run queue, rayon's injector); workers drain it
 * in small batches into their own deques, where others can steal from them.
 *
 * Parking follows Go's scheduler (runtime/proc.go, "Worker thread parking/
 * unparking") and rayon's sleep module: a worker that runs out of work
 * becomes a "searcher" and keeps looking for a short while before it parks
 * on the pool's weft_eventcount; at most half of the workers (and at least
 * two) search at a time, the others park at once.  A thread that makes work
 * visible wakes a parked worker only when nobody is searching (a searcher
 * will find the work), and a searcher that finds work and was the last one
 * wakes another, so work spreads without a wake-up per task.  The searcher
 * count and the eventcount form one Dekker pair: a worker stops being a
 * searcher, announces itself on the eventcount (prepare, whose fence orders
 * both), re-checks every source of work and only then sleeps; a producer
 * publishes its task, fences (weft_internal_ec_fence_light, the eventcount's
 * own notify fence), then reads the searcher count and the waiter count.
 * One of the two sees the other.  A worker that waits in weft_group_wait or
 * weft_future_get and has nothing to run parks on the same eventcount, so
 * that new work wakes it too; the end of its wait wakes everybody parked
 * there (it cannot be picked out), which happens only when it had parked.
 *
 * Task kinds: a group task (caller storage, weft_spawn), a node (malloc'ed
 * by weft_pool_submit, freed when run) and a future (weft_async).
 *
 * Shutdown.  weft_pool_destroy closes the pool's gate (pool_sync.h, "2.
 * The gate": it counts the submits from outside still inside the pool)
 * and wakes every worker; a worker exits once the gate is closed,
 * no submit from outside is in flight, and a last look finds no work.
 * Every task submitted before that is in a deque (whose owner runs it
 * before it exits) or in the injection ring (which every worker empties
 * before it exits), so destroy runs them all; then it joins the workers
 * and frees the pool.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/deque.h>
#include <weft/eventcount.h>
#include <weft/mpmc.h>
#include <weft/pool.h>

#include "chaos.h"
#include "eventcount_internal.h"
#include "pool_sync.h"
#include "spin.h"

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

enum {
    MAX_THREADS = 4096,
    INJECT_CAPACITY = 1024, /* outside submissions in flight before helping */
    BATCH = 4,              /* items taken per steal / per injection pop */
    SPIN_ROUNDS = 64,       /* search sweeps with pauses before yielding */
    YIELD_ROUNDS = 8,       /* then sweeps with sched_yield before parking */
    DRAIN_POLL_NS = 100000, /* see pool_idle.h */
    REDUCE_CHUNKS_PER_THREAD = 64,
    /* grain 0 cuts a loop into this many chunks per worker: enough that
     * the last chunk, which may run alone, is a small part of the loop
     * (a fork-join costs tens of nanoseconds, a chunk usually far more) */
    AUTO_CHUNKS_PER_THREAD = 32
};

/* The idle worker's search (it needs the constants above; the functions it
 * calls are defined under "finding work") */
#include "pool_idle.h"


/* ---- layouts ------------------------------------------------------------ */

enum task_kind { KIND_GROUP, KIND_NODE, KIND_FUTURE };

/* The layout behind weft_task.  owner: the group (KIND_GROUP) or the pool
 * (KIND_NODE, KIND_FUTURE).  Written by the spawner before the push that
 * publishes the task, read by the one thread that takes it. */
struct task {
    void (*fn)(void *);
    void *arg;
    void *owner;
    uintptr_t kind;
};

_Static_assert(sizeof(struct task) <= sizeof(weft_task), "weft_task storage too small");
_Static_assert(alignof(struct task) <= alignof(weft_task), "weft_task storage misaligned");

/* Counting a group's unfinished tasks, and the wake of its waiter: the
 * protocol is in pool_sync.h (struct group_count, "1. The group count").
 * In short: the owner (the worker that initialised the group, its only
 * waiter) counts its own spawns and joins in a plain local count, every
 * other thread in the atomic pending; before the owner waits for thieves
 * it folds local into pending.  A waiter that parks records in pending
 * where (the pool's eventcount for a worker, g->ec for any other thread),
 * and exactly one finishing task wakes it there. */
struct group {
    struct group_count count; /* pool_sync.h */
    weft_pool *pool;          /* written at init only */
    struct worker *owner;     /* written at init only; NULL outside */
    weft_eventcount ec;       /* zero-filled at init (a valid one) */
};

_Static_assert(sizeof(struct group) == sizeof(weft_group), "weft_group layout");
_Static_assert(alignof(struct group) <= alignof(weft_group), "weft_group alignment");
_Static_assert(offsetof(struct group, ec) == offsetof(weft_group, ec), "weft_group ec offset");
_Static_assert(sizeof(_Atomic(uint64_t)) == sizeof(uint64_t), "64-bit atomics are plain");

static inline struct group *group_of(weft_group *g) { return (struct group *)(void *)g; }
static inline struct task *task_of(weft_task *t) { return (struct task *)(void *)t; }

struct weft_future {
    struct task task; /* KIND_FUTURE; arg is fn's argument */
    void *(*fn)(void *);
    void *value;          /* written by the runner before it is done */
    struct future_sync sync; /* done, on_pool (pool_sync.h, "4.") */
    atomic_int refs;      /* 2 at start: the runner's and the user's */
    weft_eventcount ec;   /* outside waiters of get park here */
};

/* One worker.  The counters are written by this worker only (load + store,
 * no read-modify-write) and read by weft_pool_read_stats. */
struct worker {
    alignas(WEFT_CACHELINE) weft_deque *dq;
    weft_pool *pool;
    unsigned index;
    uint64_t rng;
    pthread_t thread;
    atomic_uint_least64_t tasks_run, steals, injected, parks;
};

struct weft_pool {
    unsigned n;
    unsigned search_cap;
    struct worker *workers;
    weft_mpmc *inject;
    /* idle workers park here; every producer reads its waiter count */
    alignas(WEFT_CACHELINE) weft_eventcount ec;
    /* workers looking for work (pool_sync.h, "3. The searchers"); written
     * by workers going idle and waking */
    alignas(WEFT_CACHELINE) struct pool_search search;
    /* outside submits in flight vs destroy (pool_sync.h, "2. The gate");
     * written by outside submitters and destroy */
    alignas(WEFT_CACHELINE) struct pool_gate gate;
    atomic_uint_least64_t outside_runs;
};

/* The worker this thread is (NULL outside every pool), and the pool whose
 * task this outside thread is running right now (for destroy's refusal).
 * initial-exec: one instruction per access on the spawn fast path instead
 * of a __tls_get_addr call; it takes a few bytes of static TLS. */
#if defined(__GNUC__)
#define TLS_FAST __attribute__((tls_model("initial-exec")))
#else
#define TLS_FAST
#endif
static _Thread_local struct worker *tls_worker TLS_FAST;
static _Thread_local weft_pool *tls_helping TLS_FAST;

static inline struct worker *worker_of(const weft_pool *p)
{
    struct worker *w = tls_worker;
    return (w && w->pool == p) ? w : NULL;
}

/* owner-only counter bump: relaxed load + store, readers only need some
 * recent value */
static inline void count(atomic_uint_least64_t *c, uint64_t k)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + k,
                          memory_order_relaxed);
}

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64* (Vigna): good enough to pick a victim */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- waking ------------------------------------------------------------- */

/* A producer made a task visible (push or injection, release inside): wake
 * a parked worker unless someone is already searching (pool_sync.h, S1). */
static inline void wake_for_new_work(weft_pool *p)
{
    pool_search_wake(&p->search, &p->ec);
}

/* ---- running tasks ------------------------------------------------------ */

static void future_unref(struct weft_future *f)
{
    /* acq_rel: the last of the two owners frees; acquire makes the other
     * owner's accesses happen-before the free (pairs with this release) */
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

/* The end of a group task run by worker w (NULL: an outside thread): in
 * local on the owner in local mode, else in pending, waking the waiter
 * when it is the last and the waiter parked (pool_sync.h).  g->pool is
 * read before the decrement: after it, only the waker may touch g. */
static inline void group_task_done(struct worker *w, struct group *g)
{
    group_count_task_done(&g->count, w != NULL && w == g->owner, &g->pool->ec, &g->ec);
}

/* Run a node (weft_pool_submit) or a future (weft_async). */
static void run_node_or_future(struct task *t)
{
    if (t->kind == KIND_NODE) {
        void (*fn)(void *) = t->fn;
        void *arg = t->arg;
        free(t);
        fn(arg);
    } else {
        struct weft_future *f = (struct weft_future *)(void *)t;
        weft_pool *p = t->owner;
        f->value = f->fn(t->arg);
        /* publish, and wake the waiter on the pool's eventcount or the
         * future's own (pool_sync.h, F1 and F2); our reference keeps f */
        future_sync_complete(&f->sync, &p->ec, &f->ec);
        future_unref(f);
    }
}

/* Run t on worker w (NULL: on an outside thread).  The group case, the
 * fork-join hot path, is inline. */
static inline void run_task(struct worker *w, struct task *t)
{
    if (LIKELY(t->kind == KIND_GROUP)) {
        struct group *g = t->owner;
        t->fn(t->arg);
        group_task_done(w, g);
    } else {
        run_node_or_future(t);
    }
}

static inline void run_on_worker(struct worker *w, struct task *t)
{
    run_task(w, t);
    count(&w->tasks_run, 1);
}

static void run_outside(weft_pool *p, struct task *t)
{
    weft_pool *saved = tls_helping;
    tls_helping = p;
    run_task(NULL, t);
    tls_helping = saved;
    /* relaxed: a statistic */
    atomic_fetch_add_explicit(&p->outside_runs, 1, memory_order_relaxed);
}

/* ---- finding work (pool_idle.h) --------------------------------------- */

static inline struct idle_pool idle_pool_of(struct worker *w)
{
    weft_pool *p = w->pool;
    struct idle_pool ip = {&p->search, &p->ec, &p->gate, p->search_cap};
    return ip;
}

/* The injection ring first, then the other workers' deques from a random
 * victim on. */
static size_t idle_claim(struct worker *w, void **items, bool *contended)
{
    weft_pool *p = w->pool;
    size_t n = weft_mpmc_try_pop_many(p->inject, items, BATCH);
    if (n) {
        count(&w->injected, n);
        return n;
    }
    unsigned nw = p->n;
    if (nw > 1) {
        unsigned start = (unsigned)(next_rand(&w->rng) % nw);
        for (unsigned i = 0; i < nw; i++) {
            unsigned v = start + i < nw ? start + i : start + i - nw;
            if (v == w->index)
                continue;
            size_t k = 0;
            weft_steal_result r = weft_deque_steal_batch(p->workers[v].dq, items, BATCH, &k);
            if (r == WEFT_STEAL_OK) {
                count(&w->steals, k);
                return k;
            }
            if (r == WEFT_STEAL_RETRY)
                *contended = true;
        }
    }
    return 0;
}

static inline bool idle_keep(struct worker *w, void *item)
{
    return weft_deque_push(w->dq, item) == 0;
}

static void idle_run(struct worker *w, void *item)
{
    run_on_worker(w, item);
}

static inline void idle_count_park(struct worker *w)
{
    count(&w->parks, 1);
}

/* Linux keeps 15 characters of a thread's name.  "weft-worker-" leaves
 * room for 3 digits: from 1000 on the dash goes, so that "weft-worker1000"
 * and later names stay whole and never repeat an earlier one (all of them
 * have the dash, all of these have none). */
enum { THREAD_NAME_SIZE = 16 };
_Static_assert(MAX_THREADS <= 10000, "worker indices have at most 4 digits");

static void worker_name(char name[THREAD_NAME_SIZE], unsigned index)
{
    snprintf(name, THREAD_NAME_SIZE, index < 1000 ? "weft-worker-%u" : "weft-worker%u", index);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[THREAD_NAME_SIZE];
    worker_name(name, w->index);
    (void)pthread_setname_np(pthread_self(), name);
    tls_worker = w;
    for (;;) {
        void *item;
        struct task *t;
        if (weft_deque_pop(w->dq, &item))
            t = item;
        else if (!(t = worker_search(w)))
            break;
        run_on_worker(w, t);
    }
    tls_worker = NULL;
    return NULL;
}

/* ---- pool --------------------------------------------------------------- */

static void free_pool(weft_pool *p)
{
    for (unsigned i = 0; i < p->n; i++)
        if (p->workers[i].dq)
            weft_deque_destroy(p->workers[i].dq);
    if (p->inject)
        weft_mpmc_destroy(p->inject);
    free(p->workers);
    free(p);
}

weft_pool *weft_pool_create(unsigned nthreads)
{
    if (nthreads == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = c > 0 ? (unsigned)(c < MAX_THREADS ? c : MAX_THREADS) : 1;
    }
    if (nthreads > MAX_THREADS) {
        errno = EINVAL;
        return NULL;
    }
    weft_pool *p = aligned_alloc(WEFT_CACHELINE, sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    memset(p, 0, sizeof *p);
    p->n = nthreads;
    p->search_cap = nthreads / 2 > 2 ? nthreads / 2 : 2;
    weft_eventcount_init(&p->ec, 0);
    pool_search_init(&p->search);
    pool_gate_init(&p->gate);
    atomic_init(&p->outside_runs, 0);
    p->workers = aligned_alloc(WEFT_CACHELINE, sizeof(struct worker) * nthreads);
    if (!p->workers) {
        free(p);
        errno = ENOMEM;
        return NULL;
    }
    memset(p->workers, 0, sizeof(struct worker) * nthreads);
    p->inject = weft_mpmc_create(INJECT_CAPACITY);
    if (!p->inject)
        goto nomem;
    for (unsigned i = 0; i < nthreads; i++) {
        struct worker *w = &p->workers[i];
        w->pool = p;
        w->index = i;
        w->rng = 0x9E3779B97F4A7C15ull * (i + 1) ^ (uint64_t)(uintptr_t)p;
        if (!w->rng)
            w->rng = 1;
        atomic_init(&w->tasks_run, 0);
        atomic_init(&w->steals, 0);
        atomic_init(&w->injected, 0);
        atomic_init(&w->parks, 0);
        w->dq = weft_deque_create(256);
        if (!w->dq)
            goto nomem;
    }
    for (unsigned i = 0; i < nthreads; i++) {
        int rc = pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]);
        if (rc != 0) {
            /* as in destroy; nothing was submitted, so the started
             * workers exit at once */
            pool_gate_close(&p->gate, &p->ec);
            for (unsigned j = 0; j < i; j++)
                pthread_join(p->workers[j].thread, NULL);
            free_pool(p);
            errno = rc;
            return NULL;
        }
    }
    return p;
nomem:
    free_pool(p);
    errno = ENOMEM;
    return NULL;
}

void weft_pool_destroy(weft_pool *p)
{
    assert(p != NULL);
    if (worker_of(p) || tls_helping == p) {
        errno = EDEADLK; /* a task of p would wait for itself: refused */
        return;
    }
    /* the workers run what is left, wait for the outside submits in
     * flight and exit (pool_sync.h, "2. The gate"; worker_search) */
    pool_gate_close(&p->gate, &p->ec);
    for (unsigned i = 0; i < p->n; i++)
        pthread_join(p->workers[i].thread, NULL);
    free_pool(p);
}

unsigned weft_pool_size(const weft_pool *p)
{
    assert(p != NULL);
    return p->n;
}

/* Put t on the injection ring; when it is full, run the oldest injected
 * task here and try again (see weft_pool_submit). */
static void inject(weft_pool *p, struct task *t)
{
    while (UNLIKELY(!weft_mpmc_try_push(p->inject, t))) {
        void *old;
        if (weft_mpmc_try_pop(p->inject, &old))
            run_outside(p, old);
        else
            cpu_relax();
    }
    WEFT_CHAOS_POINT();
    wake_for_new_work(p);
}

/* Hand a node or future to the pool: from a worker of p to its deque, from
 * any other thread through the gate to the injection ring. */
static int submit_task(weft_pool *p, struct task *t)
{
    struct worker *w = worker_of(p);
    if (w) {
        if (UNLIKELY(pool_gate_closed(&p->gate)))
            return ESHUTDOWN;
        if (LIKELY(weft_deque_push(w->dq, t) == 0)) {
            WEFT_CHAOS_POINT();
            wake_for_new_work(p);
        } else {
            inject(p, t);
        }
        return 0;
    }
    if (UNLIKELY(!pool_gate_enter(&p->gate)))
        return ESHUTDOWN;
    inject(p, t);
    pool_gate_leave(&p->gate); /* our last access to p */
    return 0;
}

int weft_pool_submit(weft_pool *p, void (*fn)(void *), void *arg)
{
    assert(p != NULL && fn != NULL);
    struct task *t = malloc(sizeof *t);
    if (!t)
        return ENOMEM;
    t->fn = fn;
    t->arg = arg;
    t->owner = p;
    t->kind = KIND_NODE;
    int rc = submit_task(p, t);
    if (rc)
        free(t);
    return rc;
}

/* ---- fork-join ---------------------------------------------------------- */

void weft_group_init(weft_group *gp, weft_pool *p)
{
    assert(gp != NULL && p != NULL);
    struct group *g = group_of(gp);
    group_count_init(&g->count);
    g->pool = p;
    g->owner = worker_of(p);
    /* zero-filled storage is a valid eventcount (weft/eventcount.h); it
     * costs two stores instead of weft_eventcount_init's call */
    memset(&g->ec, 0, sizeof g->ec);
}

void weft_spawn(weft_group *gp, weft_task *tp, void (*fn)(void *), void *arg)
{
    struct group *g = group_of(gp);
    struct task *t = task_of(tp);
    assert(gp != NULL && tp != NULL && fn != NULL);
    t->fn = fn;
    t->arg = arg;
    t->owner = g;
    t->kind = KIND_GROUP;
    /* read before the push: once t is published it may run and end g's
     * wait, and the waiter may free g; the push is our last access */
    weft_pool *p = g->pool;
    struct worker *w = tls_worker;
    /* the owner (in local mode) is a worker of p; any other worker of
     * another pool is an outside thread here */
    if (!group_count_spawn(&g->count, w != NULL && w == g->owner) && w && w->pool != p)
        w = NULL;
    if (LIKELY(w != NULL)) {
        if (UNLIKELY(weft_deque_push(w->dq, t) != 0)) {
            run_on_worker(w, t); /* cannot grow: run it now, lose nothing */
            return;
        }
        WEFT_CHAOS_POINT();
        wake_for_new_work(p);
    } else {
        inject(p, t);
    }
}

/* An outside thread parks on g->ec until the count might have reached 0
 * (pool_sync.h).  Returns true when the wait is over. */
static bool group_park(struct group *g)
{
    return group_count_park(&g->count, &g->ec);
}

/* A task for a worker that waits for a group or a future: from its own
 * deque first (usually the task it waits for, or what that spawned), then
 * as an idle worker would find one (worker_take). */
static struct task *waiter_take(struct worker *w, bool *contended)
{
    void *item;
    if (weft_deque_pop(w->dq, &item))
        return item;
    return worker_take(w, contended);
}

/* The end of the park of a worker that waits for a group or a future on
 * the pool's eventcount, beside the idle workers, once it has announced
 * itself there (key) and found its wait not over: look for work once more
 * (prepare's fence pairs with the light fence in wake_for_new_work, so
 * either this look finds a task made visible before, or its producer sees
 * us announced), then sleep until new work or the end of the wait wakes
 * us.  Returns the task found (the caller runs it), or NULL. */
static struct task *waiter_park(struct worker *w, uint32_t key)
{
    weft_pool *p = w->pool;
    bool contended = false;
    struct task *t = worker_take(w, &contended);
    if (t || contended) {
        weft_eventcount_cancel(&p->ec);
        return t;
    }
    WEFT_CHAOS_POINT();
    count(&w->parks, 1);
    weft_eventcount_wait(&p->ec, key);
    return NULL;
}

/* A worker waiting for g parks beside the idle workers (waiter_park); the
 * task that ends g wakes everybody there (PENDING_ON_POOL, recorded with
 * PARKED, tells it that the waiter is a worker, whether g has an owner or
 * was made outside the pool).  Returns a task to run, or NULL, with *done
 * set when the wait is over. */
static struct task *group_park_worker(struct worker *w, struct group *g, bool *done)
{
    uint32_t key;
    enum group_state s = group_count_begin_park(&g->count, &w->pool->ec, PENDING_ON_POOL, &key);
    if (s != GROUP_ANNOUNCED) {
        *done = s == GROUP_DONE;
        return NULL;
    }
    /* PARKED stays set if we go back to work: the task that ends g still
     * notifies (spuriously then), which costs nothing else */
    return waiter_park(w, key);
}

/* A worker waiting for f parks beside the idle workers (waiter_park); the
 * runner of f wakes everybody there when it reads on_pool after publishing
 * done (the Dekker pair F2 of pool_sync.h).  Returns a
 * task to run, or NULL. */
static struct task *future_park_worker(struct worker *w, struct weft_future *f)
{
    uint32_t key;
    if (!future_sync_begin_park(&f->sync, &w->pool->ec, &key))
        return NULL; /* done */
    return waiter_park(w, key);
}

/* What a waiting worker does until its group g (or else its future f) is
 * done: run other tasks meanwhile (waiter_take), spin and yield a little
 * when there are none, then park beside the idle workers (group_park_worker,
 * future_park_worker) until new work or the end of the wait wakes it. */
static void worker_wait(struct worker *w, struct group *g, struct weft_future *f)
{
    unsigned round = 0;
    for (;;) {
        if (g) {
            enum group_state s = group_count_look(&g->count);
            if (s == GROUP_DONE)
                return;
            if (s == GROUP_WAKING) { /* a finishing task is waking us */
                backoff(round < SPIN_ROUNDS ? round++ : round);
                continue;
            }
        } else if (weft_future_done(f)) {
            return;
        }
        bool contended = false;
        struct task *t = waiter_take(w, &contended);
        if (!t && !contended && round >= SPIN_ROUNDS + YIELD_ROUNDS) {
            bool done = false;
            t = g ? group_park_worker(w, g, &done) : future_park_worker(w, f);
            if (done)
                return;
            round = 0;
        }
        if (t) {
            run_on_worker(w, t);
            round = 0;
            continue;
        }
        if (contended || round < SPIN_ROUNDS + YIELD_ROUNDS)
            backoff(round++);
    }
}

/* A thread outside the pool does not run the group's tasks: without a
 * deque of its own, every task they spawn would go through the injection
 * ring, and it might grab the root of a big computation before a worker
 * woke up.  It spins briefly (short tasks), then parks on g->ec. */
static void group_wait_outside(struct group *g)
{
    unsigned round = 0;
    for (;;) {
        enum group_state s = group_count_look(&g->count);
        if (s == GROUP_DONE)
            return;
        /* GROUP_WAKING: a finishing task is waking us */
        if (s == GROUP_WAKING || round < SPIN_ROUNDS) {
            backoff(round < SPIN_ROUNDS ? round++ : round);
            continue;
        }
        if (group_park(g))
            return;
    }
}

/* The owner ran out of its own tasks: fold local into pending, count
 * atomically until the wait ends (pool_sync.h). */
static void group_wait_worker(struct worker *w, struct group *g)
{
    bool owner = g->owner == w;
    if (owner)
        group_count_fold(&g->count);
    worker_wait(w, g, NULL);
    if (owner)
        group_count_unfold(&g->count);
}

void weft_group_wait(weft_group *gp)
{
    struct group *g = group_of(gp);
    assert(gp != NULL);
    struct worker *w = worker_of(g->pool);
    if (LIKELY(w != NULL)) {
        /* only the thread that initialised the group may wait for it */
        assert(g->owner == w || g->owner == NULL);
        /* fast path: run our own newest tasks (usually just spawned);
         * the local count is 0 unless we are the owner */
        void *item;
        while (group_count_left(&g->count) != 0) {
            if (!weft_deque_pop(w->dq, &item)) {
                group_wait_worker(w, g);
                return;
            }
            run_on_worker(w, item);
        }
        return;
    }
    assert(g->owner == NULL);
    if (group_count_left(&g->count) != 0)
        group_wait_outside(g);
}

/* ---- parallel_for ------------------------------------------------------- */

struct pfor {
    weft_pool *p;
    size_t grain;
    void (*body)(size_t, size_t, void *);
    void *ctx;
};

struct pfor_part {
    const struct pfor *pf;
    size_t b, e;
};

static void pfor_rec(const struct pfor *pf, size_t b, size_t e);

static void pfor_task(void *arg)
{
    struct pfor_part *r = arg;
    pfor_rec(r->pf, r->b, r->e);
}

static void pfor_rec(const struct pfor *pf, size_t b, size_t e)
{
    if (e - b <= pf->grain) {
        pf->body(b, e, pf->ctx);
        return;
    }
    size_t mid = b + (e - b) / 2;
    weft_group g;
    weft_task t;
    struct pfor_part right = { pf, mid, e };
    weft_group_init(&g, pf->p);
    weft_spawn(&g, &t, pfor_task, &right);
    pfor_rec(pf, b, mid);
    weft_group_wait(&g);
}

static size_t auto_grain(const weft_pool *p, size_t n)
{
    size_t g = n / (AUTO_CHUNKS_PER_THREAD * (size_t)p->n);
    return g ? g : 1;
}

/* Run fn(arg) so that it starts on a worker of p: directly when called on
 * one, else as one task waited for from outside. */
static void run_in_pool(weft_pool *p, void (*fn)(void *), void *arg)
{
    if (worker_of(p)) {
        fn(arg);
        return;
    }
    weft_group g;
    weft_task t;
    weft_group_init(&g, p);
    weft_spawn(&g, &t, fn, arg);
    weft_group_wait(&g);
}

void weft_parallel_for(weft_pool *p, size_t begin, size_t end, size_t grain,
                       void (*body)(size_t, size_t, void *), void *ctx)
{
    assert(p != NULL && body != NULL);
    if (begin >= end)
        return;
    struct pfor pf = { p, grain ? grain : auto_grain(p, end - begin), body, ctx };
    struct pfor_part all = { &pf, begin, end };
    if (end - begin <= pf.grain) {
        body(begin, end, ctx);
        return;
    }
    run_in_pool(p, pfor_task, &all);
}

/* ---- parallel_reduce ---------------------------------------------------- */

struct preduce {
    weft_pool *p;
    size_t begin, end, chunk;
    const void *identity;
    size_t acc_size, stride;
    unsigned char *accs; /* one accumulator per chunk, stride bytes apart */
    void (*map)(size_t, size_t, void *, void *);
    void (*combine)(void *, const void *, void *);
    void *ctx;
};

struct preduce_part {
    const struct preduce *r;
    size_t c0, c1; /* chunks [c0, c1); the result goes to accumulator c0 */
};

static void reduce_rec(const struct preduce *r, size_t c0, size_t c1);

static void reduce_task(void *arg)
{
    struct preduce_part *part = arg;
    reduce_rec(part->r, part->c0, part->c1);
}

static void reduce_rec(const struct preduce *r, size_t c0, size_t c1)
{
    void *acc = r->accs + c0 * r->stride;
    if (c1 - c0 == 1) {
        size_t b = r->begin + c0 * r->chunk;
        size_t e = r->end - b > r->chunk ? b + r->chunk : r->end;
        memcpy(acc, r->identity, r->acc_size);
        r->map(b, e, acc, r->ctx);
        return;
    }
    size_t mid = c0 + (c1 - c0) / 2;
    weft_group g;
    weft_task t;
    struct preduce_part right = { r, mid, c1 };
    weft_group_init(&g, r->p);
    weft_spawn(&g, &t, reduce_task, &right);
    reduce_rec(r, c0, mid);
    weft_group_wait(&g);
    r->combine(acc, r->accs + mid * r->stride, r->ctx);
}

int weft_parallel_reduce(weft_pool *p, size_t begin, size_t end, size_t grain,
                         void *result, const void *identity, size_t acc_size,
                         void (*map)(size_t, size_t, void *, void *),
                         void (*combine)(void *, const void *, void *), void *ctx)
{
    assert(p != NULL && result != NULL && identity != NULL && map != NULL && combine != NULL);
    if (acc_size == 0)
        return EINVAL;
    if (begin >= end) {
        memmove(result, identity, acc_size);
        return 0;
    }
    size_t n = end - begin;
    size_t chunk = grain ? grain : auto_grain(p, n);
    size_t max_chunks = (size_t)REDUCE_CHUNKS_PER_THREAD * p->n;
    size_t min_chunk = n / max_chunks + (n % max_chunks != 0);
    if (chunk < min_chunk)
        chunk = min_chunk;
    size_t nchunks = n / chunk + (n % chunk != 0);
    size_t align = alignof(max_align_t);
    if (acc_size > SIZE_MAX - align)
        return ENOMEM;
    size_t stride = (acc_size + align - 1) / align * align;
    if (nchunks > SIZE_MAX / stride)
        return ENOMEM;
    unsigned char *accs = aligned_alloc(align, nchunks * stride);
    if (!accs)
        return ENOMEM;
    struct preduce r = { p, begin, end, chunk, identity, acc_size, stride, accs,
                         map, combine, ctx };
    struct preduce_part all = { &r, 0, nchunks };
    if (nchunks == 1)
        reduce_task(&all);
    else
        run_in_pool(p, reduce_task, &all);
    memcpy(result, accs, acc_size);
    free(accs);
    return 0;
}

/* ---- futures ------------------------------------------------------------ */

weft_future *weft_async(weft_pool *p, void *(*fn)(void *), void *arg)
{
    assert(p != NULL && fn != NULL);
    struct weft_future *f = malloc(sizeof *f);
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    f->task.fn = NULL;
    f->task.arg = arg;
    f->task.owner = p;
    f->task.kind = KIND_FUTURE;
    f->fn = fn;
    f->value = NULL;
    /* relaxed: not shared yet; the push in submit_task publishes it */
    future_sync_init(&f->sync);
    atomic_init(&f->refs, 2);
    weft_eventcount_init(&f->ec, 0);
    int rc = submit_task(p, &f->task);
    if (rc) {
        free(f);
        errno = rc;
        return NULL;
    }
    return f;
}

bool weft_future_done(const weft_future *f)
{
    assert(f != NULL);
    /* the acquire of F1 (pool_sync.h); the load wants a non-const pointer */
    return future_sync_done(&((struct weft_future *)(uintptr_t)f)->sync);
}

/* weft_future_get on any other thread: only wait, as in
 * group_wait_outside: spin briefly, then park on f->ec. */
static void future_wait_outside(struct weft_future *f)
{
    unsigned round = 0;
    while (!weft_future_done(f)) {
        if (round < SPIN_ROUNDS) {
            backoff(round++);
            continue;
        }
        if (future_sync_park(&f->sync, &f->ec))
            return;
    }
}

void *weft_future_get(weft_future *f)
{
    assert(f != NULL);
    struct worker *w = worker_of(f->task.owner);
    if (w)
        worker_wait(w, NULL, f);
    else
        future_wait_outside(f);
    return f->value;
}

void weft_future_release(weft_future *f)
{
    if (f)
        future_unref(f);
}

/* ---- statistics --------------------------------------------------------- */

void weft_pool_read_stats(const weft_pool *p, weft_pool_stats *out)
{
    assert(p != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < p->n; i++) {
        struct worker *w = &p->workers[i];
        /* relaxed: statistics, see the header */
        out->tasks_run += atomic_load_explicit(&w->tasks_run, memory_order_relaxed);
        out->steals += atomic_load_explicit(&w->steals, memory_order_relaxed);
        out->injected += atomic_load_explicit(&w->injected, memory_order_relaxed);
        out->parks += atomic_load_explicit(&w->parks, memory_order_relaxed);
    }
    /* relaxed: a statistic */
    out->outside_runs = atomic_load_explicit(&p->outside_runs, memory_order_relaxed);
}
