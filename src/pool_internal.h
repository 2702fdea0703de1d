/*
 * pool_internal.h - what the files of the pool share (internal, not
 * installed): the layouts behind the public types, the worker a thread is,
 * running a task, and the calls one file of the pool makes into another.
 *
 * The pool is four files, split at its seams:
 *   pool.c           the scheduler: create and destroy, the workers' loop
 *                    (with pool_idle.h), submit and the injection ring, a
 *                    worker's wait for a group or a future, statistics;
 *   pool_group.c     fork-join: weft_group_init, weft_spawn, weft_group_wait;
 *   pool_parallel.c  weft_parallel_for and weft_parallel_reduce, built on the
 *                    group API alone;
 *   pool_future.c    weft_async and the rest of the future API.
 * The protocols between threads are in pool_sync.h; pool.c's top comment
 * says what the design follows.
 */
#ifndef WEFT_POOL_INTERNAL_H
#define WEFT_POOL_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <weft/deque.h>
#include <weft/eventcount.h>
#include <weft/mpmc.h>
#include <weft/pool.h>

#include "base.h"
#include "deque_internal.h" /* the owner's push and pop, inline */
#include "pool_sync.h"
#include "wait.h"

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

static inline struct group *group_of(weft_group *g)
{
    return (struct group *)(void *)g;
}
static inline struct task *task_of(weft_task *t)
{
    return (struct task *)(void *)t;
}

struct weft_future {
    struct task task; /* KIND_FUTURE; arg is fn's argument */
    void *(*fn)(void *);
    void *value;             /* written by the runner before it is done */
    struct future_sync sync; /* done, on_pool (pool_sync.h, "4.") */
    atomic_int refs;         /* 2 at start: the runner's and the user's */
    weft_eventcount ec;      /* outside waiters of get park here */
};

/* One worker, laid out by who writes what.  The first line is written
 * once, at create, and read by every thief (dq) and by the worker itself;
 * the second is written by this worker only, after every task and every
 * steal (rng, the counters: load + store, no read-modify-write), and read
 * by weft_pool_read_stats.  Keeping them apart keeps the owner's writes off
 * the line that thieves read on every steal. */
struct worker {
    alignas(WEFT_CACHELINE) weft_deque *dq;
    weft_pool *pool;
    unsigned index;
    pthread_t thread;
    alignas(WEFT_CACHELINE) uint64_t rng;
    atomic_uint_least64_t tasks_run, steals, injected, parks;
};

_Static_assert(offsetof(struct worker, thread) + sizeof(pthread_t) <= WEFT_CACHELINE,
               "a worker's read-mostly fields share one line");
_Static_assert(offsetof(struct worker, rng) == WEFT_CACHELINE,
               "a worker's own writes start the next line");
_Static_assert(sizeof(struct worker) == 2 * WEFT_CACHELINE, "a worker is two lines");

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

/* The worker this thread is (NULL outside every pool; pool.c writes it).
 * initial-exec: one instruction per access on the spawn fast path instead
 * of a __tls_get_addr call; it takes a few bytes of static TLS. */
#if defined(__GNUC__)
#define TLS_FAST __attribute__((tls_model("initial-exec")))
#else
#define TLS_FAST
#endif
extern _Thread_local struct worker *weft_internal_pool_tls_worker TLS_FAST;

static inline struct worker *worker_of(const weft_pool *p)
{
    struct worker *w = weft_internal_pool_tls_worker;
    return (w && w->pool == p) ? w : NULL;
}

/* owner-only counter bump: relaxed load + store, readers only need some
 * recent value */
static inline void count(atomic_uint_least64_t *c, uint64_t k)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + k,
                          memory_order_relaxed);
}


/* ---- waking ------------------------------------------------------------- */

/* A producer made a task visible (push or injection, release inside): wake
 * a parked worker unless someone is already searching (pool_sync.h, S1). */
static inline void wake_for_new_work(weft_pool *p)
{
    pool_search_wake(&p->search, &p->ec);
}

/* ---- running tasks ------------------------------------------------------ */

static inline void future_unref(struct weft_future *f)
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

/* Run a node (weft_pool_submit) or a future (weft_async); pool.c. */
void weft_internal_pool_run_other(struct task *t);

/* Run t on worker w (NULL: on an outside thread).  The group case, the
 * fork-join hot path, is inline. */
static inline void run_task(struct worker *w, struct task *t)
{
    if (LIKELY(t->kind == KIND_GROUP)) {
        struct group *g = t->owner;
        t->fn(t->arg);
        group_task_done(w, g);
    } else {
        weft_internal_pool_run_other(t);
    }
}

static inline void run_on_worker(struct worker *w, struct task *t)
{
    run_task(w, t);
    count(&w->tasks_run, 1);
}


/* ---- calls between the files of the pool ------------------------------- */

/* pool.c: hand a node or a future to the pool (from a worker of p to its
 * deque, from any other thread through the gate to the injection ring):
 * 0, or ESHUTDOWN once destroy began. */
int weft_internal_pool_submit(weft_pool *p, struct task *t);

/* pool.c: put t on the injection ring (a thread outside p, inside the gate
 * or spawning into a group it waits for), and wake a worker for it. */
void weft_internal_pool_inject(weft_pool *p, struct task *t);

/* pool.c: worker w waits until its group g is done (g != NULL) or else its
 * future f: runs other tasks meanwhile, then parks beside the idle workers. */
void weft_internal_pool_worker_wait(struct worker *w, struct group *g, struct weft_future *f);

#endif /* WEFT_POOL_INTERNAL_H */
