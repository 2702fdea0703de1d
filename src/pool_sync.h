/*
 * pool_sync.h - the pool's four synchronisation protocols, the group
 * count, the gate, the searchers and the future's end, as small inline
 * functions over small structs (internal,
 * not installed).  src/pool.c runs them; a model checker (Relacy, through
 * a shim from <stdatomic.h> to its atomics) runs the same code.  So this
 * header also compiles as C++17: atomics are spelt _Atomic(T), nothing
 * here makes a system call, takes a lock or reads a clock (waits and wakes
 * go through the weft_eventcount_* functions, which the model provides),
 * there are no designated initialisers, compound literals or VLAs, and
 * no function here spins (the only loops are CAS retries).  The
 * scheduling around the protocols stays in pool.c: how long a waiter
 * spins (cpu_relax, then sched_yield) before it parks, what it runs
 * meanwhile, where a task goes.
 *
 * ===== 1. The group count (struct group_count) ===========================
 *
 * Counts the unfinished tasks of one weft_group and lets its one waiter
 * sleep until they are done.  The fork-join fast path (the owner spawns a
 * task and pops it back) must not pay two locked RMWs per task, so the
 * count is split in two:
 *
 *   local       plain; only the owner (the worker that initialised the
 *               group, also its only waiter) touches it: +1 per task it
 *               spawns, -1 per task of the group it finishes, while
 *               local_mode is 1.  No atomic RMW on that path.
 *   local_mode  plain, owner only: 1 while local counts.
 *   pending     atomic: +1 per task spawned by any other thread, -1 per
 *               task finished by any other thread.  Bits 0-60 count;
 *               three flags above (PENDING_PARKED and so on):
 *     PARKED    (bit 63) the waiter announced itself on an eventcount and
 *               may sleep there;
 *     ON_POOL   (bit 62) with PARKED: that eventcount is the pool's (the
 *               waiter is a worker), else the group's own;
 *     WAKING    (bit 61) the one task that took the count to 0 while PARKED
 *               was set (without ON_POOL) is waking the waiter on the
 *               group's eventcount and has not yet made its last access.
 *
 * The number of unfinished tasks is local + pending (mod 2^64: pending
 * goes "negative" while thieves finish the owner's tasks in local mode;
 * such values never equal PARKED | 1, with or without ON_POOL).  Before
 * the owner waits for tasks it does not run itself it folds local into
 * pending (group_count_fold) and counts atomically until its wait returns
 * (group_count_unfold).  A group made outside the pool has no owner and
 * counts in pending only.  The waiter sets flags only after the fold (or
 * without an owner), so in local mode no flag is ever set.
 *
 * The wake.  The one task whose decrement finds PARKED | 1 (with or
 * without ON_POOL) is the waker: its decrement is a CAS that, in the same
 * step, stores 0 when the waiter parks on the pool's eventcount (then it
 * notifies that one, which belongs to the pool, not to the group), or
 * WAKING when it parks on the group's own (then it notifies that one and
 * clears WAKING with a release: its last access to the group).  A task
 * spawned meanwhile by another thread, and its end, only move the count
 * beside WAKING and never find PARKED | 1 again.  The waiter returns only
 * on reading 0 (never while WAKING is set: it spins then, the waker being
 * inside one notify) and sets PARKED only while WAKING is clear and a
 * task is left.
 *
 * Thread roles and calls:
 *   group_count_init        the thread that initialises the group, alone
 *   group_count_spawn       any thread (owner: the caller is the owner)
 *   group_count_task_done   the thread that ran a task of the group, after
 *                           the task's function returned
 *   group_count_left        the waiter (the owner in local mode too)
 *   group_count_fold/unfold the owner, around its slow wait
 *   group_count_look        the waiter, after the fold
 *   group_count_begin_park  the waiter, after the fold, on the eventcount
 *                           it will sleep on (where: PENDING_ON_POOL for
 *                           the pool's, 0 for the group's own)
 *   group_count_park        the waiter outside the pool: begin_park on the
 *                           group's eventcount, then sleep
 *
 * What it guarantees (what a model scenario asserts):
 *   G1 Completeness and ordering.  When the waiter sees the wait over
 *      (group_count_left returns 0, group_count_look returns GROUP_DONE,
 *      group_count_begin_park returns GROUP_DONE or group_count_park
 *      returns true), every task whose group_count_spawn happened-before
 *      the wait began, and every task spawned by those tasks, has called
 *      group_count_task_done, and everything each of them wrote before it
 *      happens-before that return.  (Data the tasks wrote is read by the
 *      waiter without a race and with the written values.)
 *   G2 One waker.  Each time the count reaches 0 with PARKED set, exactly
 *      one group_count_task_done wakes the waiter (notifies); at any time
 *      at most one thread is between setting WAKING and clearing it.  A
 *      task spawned meanwhile and its end do not make a second waker.
 *   G3 Last touch.  Once the waiter has seen the wait over, no other
 *      thread accesses the group_count or own_ec for this wait (a
 *      scenario may free them right then), except calls for tasks spawned
 *      after that.  pool_ec may still be notified: it belongs to the pool,
 *      which outlives the tasks that notify it.
 *   G4 No lost wake-up.  A waiter that sleeps (weft_eventcount_wait after
 *      GROUP_ANNOUNCED) is woken once the last task is done: no schedule
 *      leaves it sleeping.
 *   G5 Right place.  The waker notifies the eventcount the waiter named
 *      (where == PENDING_ON_POOL: pool_ec, else own_ec).
 *   G6 Word invariants (whenever the owner is not in local mode):
 *      PARKED implies count >= 1; ON_POOL implies PARKED; WAKING implies
 *      neither.  After the wait: pending == 0 and local == 0.
 *   Progress: spawn and a task's end are lock-free (the end's CAS retries
 *   only when another thread changed pending); the waiter may spin only
 *   while WAKING is set, i.e. while one waker executes a notify.
 *
 * ===== 2. The gate (struct pool_gate) ====================================
 *
 * What weft_pool_destroy waits for besides the tasks: the submits from
 * threads outside the pool that are still inside it.  After its push such
 * a submit still reads the injection ring and the pool (to wake a worker),
 * when its task may already have run; destroy must not free them before.
 *
 *   word        atomic: CLOSED (bit 63) | the number of outside submits
 *               inside (entered, not yet left).
 *
 * Thread roles and calls:
 *   pool_gate_init     create, alone
 *   pool_gate_enter    an outside submit, before its first access to the
 *                      pool; on false it has withdrawn already and must
 *                      not touch the pool again (ESHUTDOWN)
 *   pool_gate_leave    an outside submit whose enter returned true: its
 *                      very last access to the pool
 *   pool_gate_closed   a submit on a worker of the pool (not counted: the
 *                      worker is joined by destroy and runs its own deque)
 *   pool_gate_close    destroy (and a failed create), once; wakes every
 *                      thread parked on the eventcount it is given
 *   pool_gate_read     a worker that found no work, after its prepare on
 *                      the pool's eventcount and before its last look for
 *                      work: GATE_OPEN (park), GATE_DRAINING (an outside
 *                      submit is inside and wakes nobody when it leaves:
 *                      look again soon), GATE_DRAINED (exit after that last
 *                      look finds nothing)
 *
 * What it guarantees (what a model scenario asserts):
 *   P1 Last touch.  A pool_gate_read that returns GATE_DRAINED happens
 *      after the pool_gate_leave of every enter that returned true, and
 *      after the withdrawal of every enter that returned false and came
 *      before it in the gate's modification order: once a worker sees
 *      DRAINED, the submits it accounts for make no further access (a
 *      scenario may free the pool after the workers saw DRAINED).
 *   P2 No lost task.  Whatever a submit did between an enter that returned
 *      true and its leave (its push) happens-before every pool_gate_read
 *      that returns GATE_DRAINED, so the worker's last look finds it.
 *   P3 Refusal only after close.  pool_gate_enter returns false exactly
 *      when its RMW comes after the close in the gate's modification
 *      order; an enter that happens after a read that returned
 *      GATE_DRAINED returns false, and every later read returns
 *      GATE_DRAINED or GATE_DRAINING, never GATE_OPEN.
 *   P4 No lost wake-up at close.  A worker that reads GATE_OPEN after its
 *      prepare and then sleeps is woken by pool_gate_close's notify
 *      (Dekker pair: the notify's fence against prepare's).
 *   P5 Word invariant: word == CLOSED (once closed) | (enters so far -
 *      leaves - withdrawals); it returns to exactly CLOSED once every
 *      submit inside has left.
 *   Progress: enter, leave, closed, close and read are wait-free.
 *
 * ===== 3. The searchers (struct pool_search) =============================
 *
 * How new work finds an idle worker without a wake-up per task (Go's
 * runtime/proc.go "Worker thread parking/unparking", rayon's sleep
 * module): an idle worker first searches (spins over every source of
 * work) for a while, counted in `searching`, at most `cap` at a time; a
 * producer that made a task visible wakes a parked worker only when nobody
 * searches; a searcher that finds work and was the last one wakes another
 * (there may be more work that no producer woke anybody for).
 *
 *   searching   atomic: the number of searchers.
 *
 * Thread roles and calls:
 *   pool_search_init    create, alone
 *   pool_search_begin   a worker out of work (also after a wake-up): may it
 *                       search (true: it is counted), or must it park?
 *   pool_search_found   a searcher that found a task: uncounts it; true
 *                       when it was the last one: then it calls
 *                       pool_search_wake
 *   pool_search_leave   a searcher about to park: uncounts it, before its
 *                       weft_eventcount_prepare on the pool's eventcount,
 *                       which it follows with a last look for work
 *   pool_search_wake    a producer, after it made a task visible (a push
 *                       with release inside): wakes one parked worker
 *                       unless somebody searches
 *
 * What it guarantees (what a model scenario asserts):
 *   S1 No stranded task.  A task made visible before a pool_search_wake is
 *      taken by some worker: a worker that parks after its last look missed
 *      it is woken.  Dekker pair: the producer's publication, its fence
 *      (weft_internal_ec_fence_light), its loads of searching and of the
 *      waiter count, against the worker's leave, its prepare's fence, its
 *      last look.  Either the worker's look sees the task, or the
 *      producer sees the worker gone from searching and announced.
 *   S2 Work spreads.  When a searcher finds a task, a task left for which
 *      no producer woke anybody (it saw a searcher) is taken too: the last
 *      searcher to find work wakes another worker (which may find nothing),
 *      and a worker that takes several tasks at once (pool.c's batches)
 *      runs one and keeps the others where they can be stolen, then calls
 *      pool_search_wake as a producer (pool.c: keep_rest).
 *   S3 Count invariant: searching == begins that returned true - founds -
 *      leaves; never more than cap after a begin's check (the cap is a
 *      heuristic: two begins may both pass it).
 *   Progress: every call is wait-free.
 *
 * ===== 4. The future's end (struct future_sync) ==========================
 *
 * A weft_future is done once; its one waiter (weft_future_get) sleeps
 * until then, on the future's own eventcount when it is outside the pool,
 * or, when it is a worker, on the pool's beside the idle workers (so that
 * new work wakes it too), which it records in on_pool.
 *
 *   done      atomic: 0, then 1 once the value is written (by the runner).
 *   on_pool   atomic: 1 once a worker announced itself on the pool's
 *             eventcount for this future (by the waiter).
 *
 * Thread roles and calls:
 *   future_sync_init        create, alone
 *   future_sync_done        anybody: is the value there (acquire)?
 *   future_sync_complete    the runner, once, after writing the value
 *   future_sync_begin_park  a waiting worker, announcing itself on the
 *                           pool's eventcount (then it sleeps or cancels)
 *   future_sync_park        a waiter outside the pool, on own_ec
 *
 * What it guarantees (what a model scenario asserts):
 *   F1 Publication: a waiter that sees done sees the value and whatever
 *      the function wrote (release store, acquire loads).
 *   F2 No lost wake-up: a waiter that sleeps is woken by the completion.
 *      On own_ec this is the eventcount's own protocol.  On the pool's, a
 *      Dekker pair: the waiter's store of on_pool, prepare's fence, its
 *      load of done; against the runner's store of done, its fence
 *      (weft_internal_ec_fence_light), its load of on_pool.  Either the
 *      waiter sees done or the runner sees on_pool and notifies.
 *   The future's memory is kept alive by its reference count (pool.c), so
 *   the runner may touch it after done.
 *   Progress: every call but the sleep is wait-free.
 */
#ifndef WEFT_POOL_SYNC_H
#define WEFT_POOL_SYNC_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <weft/eventcount.h>

#include "base.h"
#include "chaos.h"
#include "eventcount_internal.h"

/* ---- 1. the group count ---------------------------------------------- */

#define PENDING_PARKED (UINT64_C(1) << 63)
#define PENDING_ON_POOL (UINT64_C(1) << 62)
#define PENDING_WAKING (UINT64_C(1) << 61)

struct group_count {
    _Atomic(uint64_t) pending; /* see the top; written by every thread */
    uint64_t local;            /* owner only */
    uint64_t local_mode;       /* owner only: 1 while local counts */
};

/* What the waiter finds (group_count_look, group_count_begin_park). */
enum group_state {
    GROUP_DONE,     /* pending is 0: the wait is over */
    GROUP_WAKING,   /* a task is waking us: look again, do not sleep */
    GROUP_PENDING,  /* tasks are left (look) */
    GROUP_ANNOUNCED /* tasks are left and PARKED is set: sleep (begin_park) */
};

/* Thread: the one that initialises the group, before it is shared. */
static inline void group_count_init(struct group_count *c)
{
    /* relaxed (init): the group is not shared yet */
    atomic_init(&c->pending, 0);
    c->local = 0;
    c->local_mode = 1;
}

/* Count a task about to be published (before the push that hands it
 * over).  owner: the caller is the group's owner.  Thread: any.
 * Progress: wait-free; no RMW for the owner in local mode.
 * Returns: true when counted in local (the owner in local mode). */
static inline bool group_count_spawn(struct group_count *c, bool owner)
{
    if (LIKELY(owner && c->local_mode)) {
        c->local++;
        return true;
    }
    /* relaxed: the increment only has to come before the task's decrement
     * in pending's modification order, and it does: the push after it
     * (release) happens-before the taker runs the task (its acquire). */
    atomic_fetch_add_explicit(&c->pending, 1, memory_order_relaxed);
    return false;
}

/* The waker: our CAS replaced old (PARKED | 1, maybe with ON_POOL) by 0
 * (ON_POOL) or WAKING. */
static inline void group_count_wake(struct group_count *c, uint64_t old, weft_eventcount *pool_ec,
                                    weft_eventcount *own_ec)
{
    if (old & PENDING_ON_POOL) {
        /* Our CAS stored 0: the waiter may return and free c at once; we
         * touch only the pool's eventcount, everybody on it (the waiter
         * cannot be picked out).  The CAS is sequenced before the notify's
         * release bump of the epoch, so the woken waiter sees 0. */
        weft_eventcount_notify_all(pool_ec);
        return;
    }
    weft_eventcount_notify_all(own_ec);
    WEFT_CHAOS_POINT(); /* the waiter is awake; c must stay alive */
    /* release: the waiter returns (and may free c) only once it read
     * pending == 0 with acquire (pairs with the loads in
     * group_count_left, group_count_look and group_count_begin_park),
     * which it cannot before this clear: our last access to c */
    atomic_fetch_and_explicit(&c->pending, ~PENDING_WAKING, memory_order_release);
}

/* The end of a task of the group, after its function returned.  owner:
 * the caller is the group's owner.  When this end takes the count to 0
 * while the waiter is parked, it wakes it on pool_ec or own_ec (where the
 * waiter said it parks).  pool_ec and own_ec are only addresses until
 * then.  Thread: the one that ran the task.  Progress: lock-free (a CAS
 * loop; no RMW for the owner in local mode). */
static inline void group_count_task_done(struct group_count *c, bool owner,
                                         weft_eventcount *pool_ec, weft_eventcount *own_ec)
{
    if (LIKELY(owner && c->local_mode)) {
        c->local--;
        return;
    }
    /* A CAS, not a fetch_sub: the decrement that finds PARKED | 1 must
     * also take PARKED away in the same step (G2); uncontended it costs the
     * same one locked instruction.  relaxed first load: the CAS checks it. */
    uint64_t old = atomic_load_explicit(&c->pending, memory_order_relaxed);
    bool wake;
    uint64_t next;
    do {
        wake = (old & ~PENDING_ON_POOL) == (PENDING_PARKED | 1);
        next = !wake ? old - 1 : (old & PENDING_ON_POOL) ? 0 : PENDING_WAKING;
        /* release: publishes the task's writes to the waiter's acquire
         * loads of pending (G1).  No acquire: the waiter's announcement
         * on the eventcount reaches our notify through the eventcount's
         * own Dekker pair (its prepare's fence, then its CAS that set
         * PARKED, which ours reads: so its fence precedes our notify's in
         * S, and our load of the waiter count sees its increment, C11
         * 7.17.3), and we read nothing else the waiter wrote.  It was
         * acq_rel until issue #12's mutation run (mutant
         * src/pool_sync.h:309:53, cas-success acq_rel -> release, passed
         * every check); every pool model passes with release.  relaxed
         * on failure: we retry with the value read. */
    } while (!atomic_compare_exchange_weak_explicit(&c->pending, &old, next, memory_order_release,
                                                    memory_order_relaxed));
    if (UNLIKELY(wake))
        group_count_wake(c, old, pool_ec, own_ec);
}

/* How many tasks are left (0: the wait is over), as the waiter's fast
 * path sees it: local + pending.  It can only see too many, never too
 * few: a task's spawns precede its own end in pending's modification
 * order.  Thread: the waiter. */
static inline uint64_t group_count_left(struct group_count *c)
{
    /* acquire: pairs with the release decrements in group_count_task_done
     * and the release clear in group_count_wake (G1) */
    return c->local + atomic_load_explicit(&c->pending, memory_order_acquire);
}

/* The owner leaves local mode before it waits for tasks it does not run
 * itself: from here on pending alone is the count.  The caller learns
 * whether the wait is over from group_count_look, _left or _begin_park
 * (their acquire), not from this.  Thread: the owner. */
static inline void group_count_fold(struct group_count *c)
{
    c->local_mode = 0;
    if (c->local) {
        /* relaxed: it may be the change that brings the count to 0 (no
         * flag can be set yet, as only we, the waiter, set them), but the
         * waiter reads pending again with acquire before it concludes
         * anything (group_count_look, _left, _begin_park), and that load
         * reads this RMW's value or a later one: every change of pending
         * is an RMW, so it is in the release sequence of each task's
         * release decrement before it, and the load synchronises with all
         * of them (G1).  Nobody acquires our writes through pending.
         * acq_rel until issue #12's mutation run: both of its one-step
         * weakenings (mutants src/pool_sync.h:335:58, to acquire and to
         * release) passed every check. */
        atomic_fetch_add_explicit(&c->pending, c->local, memory_order_relaxed);
        c->local = 0;
    }
}

/* The owner's wait returned: back to local mode.  Thread: the owner. */
static inline void group_count_unfold(struct group_count *c)
{
    c->local_mode = 1;
}

/* The waiter (after the fold): GROUP_DONE, GROUP_WAKING or GROUP_PENDING. */
static inline enum group_state group_count_look(struct group_count *c)
{
    /* acquire: as in group_count_left */
    uint64_t v = atomic_load_explicit(&c->pending, memory_order_acquire);
    if (v == 0)
        return GROUP_DONE;
    return (v & PENDING_WAKING) ? GROUP_WAKING : GROUP_PENDING;
}

/* The waiter (after the fold) announces itself on ec, the eventcount it
 * will sleep on, and then in pending, with where (PENDING_ON_POOL when ec is
 * the pool's, 0 when it is the group's own).  Returns GROUP_ANNOUNCED with
 * *key set: the caller must sleep (weft_eventcount_wait(ec, *key)) or, if
 * it finds other work first, cancel (weft_eventcount_cancel(ec)); PARKED
 * may stay set then, which costs one spurious notify.  Returns GROUP_DONE
 * or GROUP_WAKING with the announcement on ec withdrawn. */
static inline enum group_state group_count_begin_park(struct group_count *c, weft_eventcount *ec,
                                                      uint64_t where, uint32_t *key)
{
    *key = weft_eventcount_prepare(ec);
    /* acquire: as the CAS's failure order below */
    uint64_t v = atomic_load_explicit(&c->pending, memory_order_acquire);
    for (;;) {
        if (v == 0 || (v & PENDING_WAKING)) {
            weft_eventcount_cancel(ec);
            return v == 0 ? GROUP_DONE : GROUP_WAKING;
        }
        /* one waiter, one place: a PARKED still set was set by us */
        assert(!(v & PENDING_PARKED) || (v & PENDING_ON_POOL) == where);
        /* acquire on failure: pairs with the tasks' release decrements
         * when we see 0 (G1); on success only because C11 wants it no
         * weaker than the failure's.  No release: our announcement on ec
         * (prepare, above) reaches the task that finds PARKED through the
         * eventcount's fences (see group_count_task_done), and nobody
         * acquires anything else through pending.  acq_rel until issue
         * #12's mutation run weakened the finisher's CAS to release, which
         * left this release without a partner. */
        if (atomic_compare_exchange_weak_explicit(&c->pending, &v, v | PENDING_PARKED | where,
                                                  memory_order_acquire, memory_order_acquire))
            return GROUP_ANNOUNCED;
    }
}

/* A waiter outside the pool parks on own_ec, the group's eventcount,
 * until the count might have reached 0.  Returns true when the wait is
 * over (GROUP_DONE), false when the caller must look again.  Thread: the
 * waiter, after group_count_look returned GROUP_PENDING. */
static inline bool group_count_park(struct group_count *c, weft_eventcount *own_ec)
{
    uint32_t key;
    enum group_state s = group_count_begin_park(c, own_ec, 0, &key);
    if (s != GROUP_ANNOUNCED)
        return s == GROUP_DONE;
    WEFT_CHAOS_POINT();
    weft_eventcount_wait(own_ec, key);
    return false;
}

/* ---- 2. the gate ------------------------------------------------------- */

#define GATE_CLOSED (UINT64_C(1) << 63)

struct pool_gate {
    _Atomic(uint64_t) word; /* CLOSED | outside submits inside */
};

enum pool_gate_state {
    GATE_OPEN,     /* destroy has not started: park */
    GATE_DRAINING, /* closed, an outside submit is still inside: look again soon */
    GATE_DRAINED   /* closed, nobody inside: exit after one last look */
};

/* Thread: create, before the pool is shared. */
static inline void pool_gate_init(struct pool_gate *gt)
{
    /* relaxed (init): the pool is not shared yet */
    atomic_init(&gt->word, 0);
}

/* An outside submit enters, before its first access to the pool.  Returns
 * false when the gate is closed: then it has withdrawn already and must
 * not touch the pool again.  Thread: any thread outside the pool. */
static inline bool pool_gate_enter(struct pool_gate *gt)
{
    /* relaxed: only the gate's modification order matters.  Before the
     * close, this increment is counted in every value a worker's read sees
     * after the close, until our leave; after it, we read CLOSED. */
    uint64_t old = atomic_fetch_add_explicit(&gt->word, 1, memory_order_relaxed);
    if (UNLIKELY((old & GATE_CLOSED) != 0)) {
        /* release: as in pool_gate_leave (P1); our last access */
        atomic_fetch_sub_explicit(&gt->word, 1, memory_order_release);
        return false;
    }
    return true;
}

/* The outside submit's very last access to the pool.  Thread: one whose
 * pool_gate_enter returned true. */
static inline void pool_gate_leave(struct pool_gate *gt)
{
    /* release: our push (and the tasks we ran while the ring was full)
     * happen-before a worker's acquire read in pool_gate_read that sees
     * the gate drained; pairs with it (P1, P2) */
    atomic_fetch_sub_explicit(&gt->word, 1, memory_order_release);
}

/* A submit on a worker of the pool: has destroy closed the gate?  Such a
 * submit is not counted: destroy joins the worker (it cannot free the pool
 * under it) and the worker empties its own deque before it exits. */
static inline bool pool_gate_closed(struct pool_gate *gt)
{
    /* relaxed: a late view only accepts a task that its worker still runs */
    return (atomic_load_explicit(&gt->word, memory_order_relaxed) & GATE_CLOSED) != 0;
}

/* destroy (and a failed create): close the gate, then wake everybody
 * parked on ec, the pool's eventcount.  Thread: the destroying one, once. */
static inline void pool_gate_close(struct pool_gate *gt, weft_eventcount *ec)
{
    /* relaxed: the notify's fence orders this RMW before its load of the
     * waiter count; it pairs with the fence of the prepare a parking
     * worker issues before pool_gate_read (P4).  Nothing else is
     * published through the gate by destroy. */
    atomic_fetch_or_explicit(&gt->word, GATE_CLOSED, memory_order_relaxed);
    weft_eventcount_notify_all(ec);
}

/* A worker that found no work, after its prepare on the pool's eventcount
 * and before its last look for work.  Thread: a worker. */
static inline enum pool_gate_state pool_gate_read(struct pool_gate *gt)
{
    /* acquire: pairs with the release in pool_gate_leave and in a refused
     * pool_gate_enter: with DRAINED, everything those submits did is
     * visible to the last look (P1, P2) */
    uint64_t v = atomic_load_explicit(&gt->word, memory_order_acquire);
    if (!(v & GATE_CLOSED))
        return GATE_OPEN;
    return v == GATE_CLOSED ? GATE_DRAINED : GATE_DRAINING;
}


/* ---- 3. the searchers -------------------------------------------------- */

struct pool_search {
    _Atomic(unsigned) searching; /* see the top; written by idle workers */
};

/* Thread: create, before the pool is shared. */
static inline void pool_search_init(struct pool_search *ps)
{
    /* relaxed (init): the pool is not shared yet */
    atomic_init(&ps->searching, 0);
}

/* A worker out of work: true when it may search (and is counted), false
 * when cap workers search already (it parks at once).  Thread: a worker. */
static inline bool pool_search_begin(struct pool_search *ps, unsigned cap)
{
    /* relaxed: the cap is a heuristic (S3); what the count is for, S1, is
     * ordered by the fences of the Dekker pair (pool_search_leave,
     * pool_search_wake) */
    if (atomic_load_explicit(&ps->searching, memory_order_relaxed) >= cap)
        return false;
    /* relaxed: as above */
    atomic_fetch_add_explicit(&ps->searching, 1, memory_order_relaxed);
    return true;
}

/* A searcher found a task.  Returns true when it was the last searcher:
 * the caller must then call pool_search_wake (S2).  Thread: a worker whose
 * pool_search_begin returned true. */
static inline bool pool_search_found(struct pool_search *ps)
{
    /* relaxed: S2 needs only that exactly one of the searchers sees 1,
     * which the RMW's modification order gives; the task it found came
     * through its own source's acquire */
    return atomic_fetch_sub_explicit(&ps->searching, 1, memory_order_relaxed) == 1;
}

/* A searcher gives up: uncount it, then (the caller) prepare on the pool's
 * eventcount and look for work once more before it waits.  Thread: a
 * worker whose pool_search_begin returned true. */
static inline void pool_search_leave(struct pool_search *ps)
{
    /* relaxed: the fence of the weft_eventcount_prepare that follows
     * orders it before the last look; S1's Dekker pair with the fence in
     * pool_search_wake */
    atomic_fetch_sub_explicit(&ps->searching, 1, memory_order_relaxed);
}

/* A producer made a task visible (its push released it): wake a parked
 * worker unless somebody searches.  ec: the pool's eventcount.  Thread:
 * any. */
static inline void pool_search_wake(struct pool_search *ps, weft_eventcount *ec)
{
    struct weft_internal_ec *e = weft_internal_ec(ec);
    /* orders the push before the loads of searching and of the waiter
     * count (S1); pairs with the fence in weft_eventcount_prepare, which a
     * worker issues after pool_search_leave and before its last look */
    weft_internal_ec_fence_light(e);
    /* relaxed: ordered by the fence above */
    if (atomic_load_explicit(&ps->searching, memory_order_relaxed) == 0)
        weft_internal_ec_notify_fenced(e, 1);
}

/* ---- 4. the future's end ------------------------------------------------ */

struct future_sync {
    _Atomic(int) done;    /* 0 -> 1 once, by the runner */
    _Atomic(int) on_pool; /* 1 once a worker parked for it on the pool's ec */
};

/* Thread: the one that creates the future, before it is shared. */
static inline void future_sync_init(struct future_sync *fs)
{
    /* relaxed (init): not shared yet */
    atomic_init(&fs->done, 0);
    atomic_init(&fs->on_pool, 0);
}

/* Is the value there?  Thread: any.  Progress: wait-free. */
static inline bool future_sync_done(struct future_sync *fs)
{
    /* acquire: pairs with the release store in future_sync_complete (F1) */
    return atomic_load_explicit(&fs->done, memory_order_acquire) != 0;
}

/* The runner, after it wrote the value: publish it and wake the waiter
 * where it sleeps (pool_ec: the pool's eventcount, own_ec: the
 * future's).  Thread: the runner, once.  Progress: lock-free. */
static inline void future_sync_complete(struct future_sync *fs, weft_eventcount *pool_ec,
                                        weft_eventcount *own_ec)
{
    /* release: publishes the value and the function's writes (F1); pairs
     * with the acquire in future_sync_done */
    atomic_store_explicit(&fs->done, 1, memory_order_release);
    /* orders the store of done before the load of on_pool (F2); pairs with
     * the fence of the waiter's weft_eventcount_prepare, between its store
     * of on_pool and its load of done */
    weft_internal_ec_fence_light(weft_internal_ec(pool_ec));
    /* relaxed: ordered by the fence above */
    if (atomic_load_explicit(&fs->on_pool, memory_order_relaxed))
        weft_eventcount_notify_all(pool_ec);
    weft_eventcount_notify_all(own_ec);
}

/* A waiting worker announces itself on pool_ec.  Returns false, with the
 * announcement withdrawn, when the future is done; true with *key set:
 * the caller sleeps (weft_eventcount_wait(pool_ec, *key)) or, if it finds
 * work first, cancels (weft_eventcount_cancel(pool_ec)).  Thread: the
 * waiter (a worker of the pool).  Progress: wait-free. */
static inline bool future_sync_begin_park(struct future_sync *fs, weft_eventcount *pool_ec,
                                          uint32_t *key)
{
    /* relaxed: the store half of the Dekker pair (F2); the fence in
     * prepare below orders it before our load of done */
    atomic_store_explicit(&fs->on_pool, 1, memory_order_relaxed);
    *key = weft_eventcount_prepare(pool_ec);
    if (future_sync_done(fs)) {
        weft_eventcount_cancel(pool_ec);
        return false;
    }
    return true;
}

/* A waiter outside the pool sleeps on own_ec until the future might be
 * done.  Returns true when it is, false when the caller must look again.
 * Thread: the waiter.  Progress: blocks. */
static inline bool future_sync_park(struct future_sync *fs, weft_eventcount *own_ec)
{
    uint32_t key = weft_eventcount_prepare(own_ec);
    if (future_sync_done(fs)) {
        weft_eventcount_cancel(own_ec);
        return true;
    }
    WEFT_CHAOS_POINT();
    weft_eventcount_wait(own_ec, key);
    return false;
}

#endif /* WEFT_POOL_SYNC_H */
