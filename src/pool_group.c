/*
 * pool_group.c - fork-join: groups of tasks (weft_group_init, weft_spawn,
 * weft_group_wait) and weft_join; the contract is in include/weft/pool.h, the
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
    /* g->ec is where an outside waiter parks; a worker's wait parks on the
     * pool's eventcount and nothing touches g->ec (pool_sync.h, G5), so
     * only an outside group needs it.  Zero-filled storage is a valid
     * eventcount (weft/eventcount.h): two stores, not a call. */
    if (g->owner == NULL)
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
        if (UNLIKELY(deque_push(w->dq, t) != 0)) {
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

/* The worker's side of weft_group_wait, once gp's own tasks are the top of
 * w's deque: pop and run them until none is left, then wait for thieves. */
static void group_wait_on_worker(struct worker *w, struct group *g)
{
    void *item;
    while (group_count_left(&g->count) != 0) {
        if (!deque_pop(w->dq, &item)) {
            group_wait_worker(w, g);
            return;
        }
        run_on_worker(w, item);
    }
}

/* weft_join from a thread outside p: both calls become tasks of p. */
static COLD void join_outside(weft_pool *p, void (*fa)(void *), void *a, void (*fb)(void *),
                              void *b)
{
    weft_group g;
    weft_task ta, tb;
    weft_group_init(&g, p);
    weft_spawn(&g, &tb, fb, b);
    weft_spawn(&g, &ta, fa, a);
    weft_group_wait(&g);
}

void weft_join(weft_pool *p, void (*fa)(void *), void *a, void (*fb)(void *), void *b)
{
    assert(p != NULL && fa != NULL && fb != NULL);
    struct worker *w = worker_of(p);
    if (UNLIKELY(w == NULL)) {
        join_outside(p, fa, a, fb, b);
        return;
    }
    /* a group owned by w, counted in local mode, with fb(b) its one task;
     * g.ec stays unset: w waits on the pool's eventcount (weft_group_init) */
    weft_group gs;
    struct group *g = group_of(&gs);
    group_count_init(&g->count);
    g->pool = p;
    g->owner = w;
    struct task t = { fb, b, g, KIND_GROUP };
    (void)group_count_spawn(&g->count, true);
    /* t stays private while thieves still see an older item of this deque
     * (deque_internal.h, "Private items"): then the push and the pop below
     * touch no shared line and no thread needs waking */
    struct weft_deque *dq = w->dq;
    if (UNLIKELY(deque_push_private(dq, &t) != 0)) {
        fa(a); /* the deque cannot grow: run both here, lose nothing */
        fb(b);
        return;
    }
    if (deque_dry(dq)) {
        deque_publish(dq);
        WEFT_CHAOS_POINT();
        wake_for_new_work(p);
    }
    fa(a);
    void *item;
    if (LIKELY(deque_pop(dq, &item))) {
        if (LIKELY(item == &t)) { /* not stolen: the usual case */
            /* the older private items of the callers' joins, if thieves
             * took what they could see meanwhile */
            if (UNLIKELY(deque_share_if_dry(dq)))
                wake_for_new_work(p);
            fb(b);
            count(&w->tasks_run, 1);
            return;
        }
        /* fa left tasks of its own (weft_pool_submit) above t: run them */
        run_on_worker(w, item);
        group_wait_on_worker(w, g);
        return;
    }
    group_wait_worker(w, g); /* t was stolen: wait for its thief */
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
        group_wait_on_worker(w, g);
        return;
    }
    assert(g->owner == NULL);
    if (group_count_left(&g->count) != 0)
        group_wait_outside(g);
}
