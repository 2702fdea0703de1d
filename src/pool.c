/*
 * pool.c - the work-stealing pool's scheduler; the contract is in
 * include/weft/pool.h, the pool's files and layout in pool_internal.h.
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
 * no extra thread is ever needed.  weft_join's push is private while the
 * deque's public part still holds work (Lace's split deque: van Dijk and
 * van de Pol, Euro-Par 2014; deque_internal.h, "Private items"), so that
 * the unstolen fork-join, the common case, pays no fence (Chase-Lev's pop
 * pays one); the work-first principle of Frigo, Leiserson and Randall (PLDI
 * 1998): the cost moves to the steal, which finds the private items only
 * once the owner sees the public part empty at its next join.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chaos.h"
#include "pool_internal.h"

enum {
    MAX_THREADS = 4096,
    INJECT_CAPACITY = 1024, /* outside submissions in flight before helping */
    BATCH = 4,              /* items taken per steal / per injection pop */
    /* The idle worker's own policy (not wait.h's ladder): a searcher sweeps
     * SPIN_ROUNDS times with pauses that double up to 64 (spin_backoff),
     * then YIELD_ROUNDS times with sched_yield, before it parks.  Longer
     * than a blocking call's spin because a searcher that gives up too
     * early costs the next spawn a futex wake-up (Go's spinning Ms, rayon's
     * rounds before sleep). */
    SPIN_ROUNDS = 64,
    YIELD_ROUNDS = 8,
    DRAIN_POLL_NS = 100000 /* see pool_idle.h */
};

/* The idle worker's search (it needs the constants above; the functions it
 * calls are defined under "finding work") */
#include "pool_idle.h"

/* pool_internal.h; written by worker_main only */
_Thread_local struct worker *weft_internal_pool_tls_worker TLS_FAST;

/* The pool whose task this outside thread is running right now (for
 * destroy's refusal). */
static _Thread_local weft_pool *tls_helping TLS_FAST;

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


/* ---- running tasks ------------------------------------------------------ */

/* pool_internal.h */
void weft_internal_pool_run_other(struct task *t)
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
    struct idle_pool ip = { &p->search, &p->ec, &p->gate, p->search_cap };
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
    return deque_push(w->dq, item) == 0;
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
    weft_internal_pool_tls_worker = w;
    for (;;) {
        void *item;
        struct task *t;
        if (deque_pop(w->dq, &item))
            t = item;
        else if (!(t = worker_search(w)))
            break;
        run_on_worker(w, t);
    }
    weft_internal_pool_tls_worker = NULL;
    return NULL;
}

/* ---- pool --------------------------------------------------------------- */

/* Frees what alloc_pool made (p->workers NULL or zero-filled beyond it). */
static void free_pool(weft_pool *p)
{
    for (unsigned i = 0; p->workers && i < p->n; i++)
        if (p->workers[i].dq)
            weft_deque_destroy(p->workers[i].dq);
    if (p->inject)
        weft_mpmc_destroy(p->inject);
    free(p->workers);
    free(p);
}

/* Worker i of p, with its deque (0), or ENOMEM. */
static int init_worker(weft_pool *p, unsigned i)
{
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
    return w->dq ? 0 : ENOMEM;
}

/* The pool's memory, its rings and deques, before any thread runs (NULL and
 * errno ENOMEM). */
static weft_pool *alloc_pool(unsigned nthreads)
{
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
    if (p->workers)
        memset(p->workers, 0, sizeof(struct worker) * nthreads);
    p->inject = p->workers ? weft_mpmc_create(INJECT_CAPACITY) : NULL;
    bool ok = p->inject != NULL;
    for (unsigned i = 0; ok && i < nthreads; i++)
        ok = init_worker(p, i) == 0;
    if (!ok) {
        free_pool(p);
        errno = ENOMEM;
        return NULL;
    }
    return p;
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
    weft_pool *p = alloc_pool(nthreads);
    if (!p)
        return NULL;
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

/* pool_internal.h.  When the ring is full, run the oldest injected task
 * here and try again (see weft_pool_submit). */
void weft_internal_pool_inject(weft_pool *p, struct task *t)
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

/* pool_internal.h */
int weft_internal_pool_submit(weft_pool *p, struct task *t)
{
    struct worker *w = worker_of(p);
    if (w) {
        if (UNLIKELY(pool_gate_closed(&p->gate)))
            return ESHUTDOWN;
        if (LIKELY(deque_push(w->dq, t) == 0)) {
            WEFT_CHAOS_POINT();
            wake_for_new_work(p);
        } else {
            weft_internal_pool_inject(p, t);
        }
        return 0;
    }
    if (UNLIKELY(!pool_gate_enter(&p->gate)))
        return ESHUTDOWN;
    weft_internal_pool_inject(p, t);
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
    int rc = weft_internal_pool_submit(p, t);
    if (rc)
        free(t);
    return rc;
}

/* ---- a worker's wait for a group or a future --------------------------- */

/* A task for a worker that waits for a group or a future: from its own
 * deque first (usually the task it waits for, or what that spawned), then
 * as an idle worker would find one (worker_take). */
static struct task *waiter_take(struct worker *w, bool *contended)
{
    void *item;
    if (deque_pop(w->dq, &item))
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
 * done: run other tasks meanwhile (waiter_take), climb wait.h's ladder
 * when there are none, then park beside the idle workers (group_park_worker,
 * future_park_worker) until new work or the end of the wait wakes it. */
void weft_internal_pool_worker_wait(struct worker *w, struct group *g, struct weft_future *f)
{
    unsigned round = 0;
    for (;;) {
        if (g) {
            enum group_state s = group_count_look(&g->count);
            if (s == GROUP_DONE)
                return;
            if (s == GROUP_WAKING) { /* a finishing task is waking us */
                wait_rung_no_park(&round);
                continue;
            }
        } else if (weft_future_done(f)) {
            return;
        }
        bool contended = false;
        struct task *t = waiter_take(w, &contended);
        if (t) {
            run_on_worker(w, t);
            round = 0;
            continue;
        }
        if (contended) { /* a steal lost a race: there may be work */
            wait_rung_no_park(&round);
            continue;
        }
        if (wait_rung(&round, deadline_none()) != WAIT_PARK)
            continue;
        bool done = false;
        t = g ? group_park_worker(w, g, &done) : future_park_worker(w, f);
        if (done)
            return;
        round = 0;
        if (t)
            run_on_worker(w, t);
    }
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
