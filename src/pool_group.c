/*
 * pool_group.c - fork-join: groups of tasks (weft_group_init, weft_spawn,
 * weft_group_wait); the contract is in include/weft/pool.h, the
 * pool's layout in pool_internal.h.
 */
#include "config.h"

#include <assert.h>
#include <string.h>

#include "chaos.h"
#include "pool_internal.h"

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
    struct worker *w = weft_internal_pool_tls_worker;
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
        weft_internal_pool_inject(p, t);
    }
}

/* An outside thread parks on g->ec until the count might have reached 0
 * (pool_sync.h).  Returns true when the wait is over. */
static bool group_park(struct group *g)
{
    return group_count_park(&g->count, &g->ec);
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
        if (s == GROUP_WAKING) /* a finishing task is waking us */
            wait_rung_no_park(&round);
        else if (wait_rung(&round, deadline_none()) == WAIT_PARK && group_park(g))
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
    weft_internal_pool_worker_wait(w, g, NULL);
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
