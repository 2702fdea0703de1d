/*
 * pool.cc - model checking of the pool's four synchronisation protocols,
 * src/pool_sync.h (the group count, the gate, the searchers and the
 * future's end), under Relacy.
 *
 * pool.c itself is not included (it creates pthreads); the scenarios call
 * pool_sync.h's functions in the sequences pool.c calls them (each role
 * below names the function of pool.c it follows), and the searcher
 * scenarios run src/pool_idle.h itself, the idle worker's search that
 * pool.c includes (its hooks over the model's world are defined below
 * pool_sync.h), on eventcounts made by
 * src/eventcount.c (process-private: membarrier in prepare against the
 * light fence in notify, which the shim makes a seq_cst fence while
 * membarrier works).  What stands for the rest of the pool is plain model
 * state: a task's body is a write to an rl::var, a deque or the injection
 * ring an atomic word (release on the push, acquire on the take, as
 * theirs), the pool's memory an rl::var per submitter that destroy's "free"
 * writes, pthread_join a futex wait on the worker's exit.  pool.c spins
 * (cpu_relax, then sched_yield) before it parks; the model parks at once
 * (the searchers sweep once) and spins only where pool.c must (while
 * WAKING is set): the scheduler
 * explores the delays that spinning makes.  The worker's timed park while
 * the gate drains times out at once (see worker()).  Every search is
 * context-bounded (a full search of three threads does not end in
 * minutes); WEFT_POOL_BOUND=k runs every scenario with bound k.
 *
 * The one seam beside the shim: pool_sync.h's weft_eventcount_notify_all
 * calls go through an observer (model_sync_notify_all below) that records
 * which eventcount is notified, by how many wakers at a time, and whether
 * the wait is already over, then calls the real one.  The scenarios also
 * keep a little bookkeeping in plain variables (which phase each thread is
 * in, whether the wait has returned): the fibers run on one OS thread and
 * Relacy switches only at atomic operations, so such flags are the order
 * in which the schedule ran the operations, which the checks compare with
 * what the protocol promises.  invariant() is Relacy's hook, run at every
 * scheduling point: it checks the word invariants on the newest value of
 * the group's pending or the gate's word.
 *
 * Group count (pool_sync.h, "1."), asserted in every group scenario:
 *  G1 once the waiter sees the wait over, every counted task has called
 *     task_done (bookkeeping) and its rl::var write is read by the waiter
 *     with its value and without a race (happens-before);
 *  G2 each count that reaches 0 with PARKED set has exactly one waker: the
 *     notifies made by pool_sync.h are as many as the times PARKED went
 *     from clear to set (invariant() counts them; once, unless a task
 *     spawned during the wake makes the waiter park again), none when the
 *     waiter never announced itself, and never two notifies of own_ec
 *     (the WAKING holders') at a time;
 *  G3 after the wait nobody touches c or own_ec: every notify of own_ec
 *     starts and returns before the waiter's return, and the waiter's
 *     sentinel survives: it adds all-ones to pending after its return (a
 *     write of all-ones over the 0 it read, done as an RMW so that a task
 *     spawned after the wait, which G3 allows, and its end commute with it:
 *     +1 and -1), and after() finds local + pending == all-ones.  A
 *     finisher's late fetch_and (or any late decrement) changes it;
 *  G4 no lost wake-up: a parked waiter nobody wakes is a Relacy DEADLOCK;
 *  G5 the one notify goes to the eventcount the waiter named (pool_ec with
 *     ON_POOL, own_ec without), and a PARKED in pending carries the where
 *     the waiter announced;
 *  G6 (invariant(), outside local mode) PARKED => count >= 1; ON_POOL =>
 *     PARKED; WAKING => neither; the count never goes above the tasks
 *     spawned; after the wait pending == 0 and local == 0 (after a fold or
 *     without an owner; after the owner's fast path local + pending == 0).
 *
 * Gate (pool_sync.h, "2."), asserted in the gate scenarios:
 *  P1 when destroy "frees" the pool (after the worker that read DRAINED
 *     exited) no accepted submit is between its enter and the end of its
 *     leave (bookkeeping), its last access to the pool (an rl::var) happens
 *     before the free's write (else a data race), and a sentinel destroy
 *     writes into the gate word then survives (a leave after it would
 *     change it; a late refused enter's +1 and -1 do not);
 *  P2 every task an accepted submit pushed is run by the worker before it
 *     exits, and its payload (rl::var) is read without a race;
 *  P3 an enter that returns true started before the close's notify, one
 *     that returns false after destroy began its close; after DRAINED the
 *     worker reads the gate again and sees it closed, never OPEN; an enter
 *     made after the worker exited is refused;
 *  P4 a worker that read OPEN and sleeps is woken by the close (else a
 *     DEADLOCK);
 *  P5 (invariant()) the gate's count is the submits inside: at least those
 *     between a successful enter and the end of their leave, at most those
 *     plus the ones inside pool_gate_enter; CLOSED is set once destroy's
 *     close returned and never before it began; at the end the word is
 *     the sentinel, less the refused enters it overwrote mid-way.
 *
 * accepted_submits_vs_destroy holds destroy to its header's promise: it
 * waits for the outside submits whose task was accepted before it was
 * called, until they made their last access.
 */
#include "model.h"

#include "eventcount.c"

namespace
{

/* ---- the observer of pool_sync.h's notifies ---------------------------- */

struct observer {
    weft_eventcount *own_ec;  /* the group's own eventcount */
    weft_eventcount *pool_ec; /* the pool's */
    weft_eventcount *named;   /* where the waiter parks (G5) */
    bool group;               /* a group scenario (else the gate's) */
    int notifies;             /* by pool_sync.h */
    int inside;               /* wakers inside their notify of own_ec */
    bool wait_over;           /* the waiter has seen the wait over */
    bool close_notified;      /* pool_gate_close reached its notify */
};

observer &obs()
{
    static observer o;
    return o;
}

void model_sync_notify_all(weft_eventcount *ec)
{
    observer &o = obs();
    if (o.group) {
        /* G5: the waker notifies where the waiter parks */
        RL_ASSERT(ec == o.named);
        /* G3: own_ec is not touched once the wait is over (pool_ec may be);
         * checked again once the notify returned */
        RL_ASSERT(!(o.wait_over && ec == o.own_ec));
    } else {
        o.close_notified = true;
    }
    o.notifies++;
    /* G2: one waker at a time between setting WAKING and clearing it (a
     * waker on pool_ec has no WAKING: it stored 0 already, and the next
     * waker of a later PARKED may notify pool_ec beside it) */
    bool waking = o.group && ec == o.own_ec;
    o.inside += waking;
    RL_ASSERT(o.inside <= 1);
    weft_eventcount_notify_all(ec);
    o.inside -= waking;
    /* G3: the whole notify of own_ec comes before the end of the wait */
    RL_ASSERT(!(o.group && o.wait_over && ec == o.own_ec));
}

} /* namespace */

#define weft_eventcount_notify_all model_sync_notify_all
#include "pool_sync.h"
#undef weft_eventcount_notify_all

/* ---- src/pool_idle.h, over the searcher scenarios' world ---------------- */

/* pool.c's BATCH; one sweep as a searcher before parking (pool.c: 64 + 8;
 * each further sweep repeats the first, and the scheduler explores the
 * delays that spinning makes); the timed park while the gate drains is
 * not reached (the producer submits through no gate). */
enum { BATCH = 4, SPIN_ROUNDS = 1, YIELD_ROUNDS = 0, DRAIN_POLL_NS = 1000 };

#include "pool_idle.h"

/* What stands for the pool in the searcher scenarios: the injection ring
 * and every deque are one word, ring (bit k: task k is there). */
struct idle_world {
    struct pool_search *ps = nullptr;
    struct pool_gate *gate = nullptr;
    weft_eventcount *pool_ec = nullptr;
    unsigned cap = 0;
    int tasks = 0;
    rl::atomic<unsigned> ring; /* bit k: task k pushed and not yet taken */
    rl::atomic<int> started;   /* tasks whose body has begun */
    rl::atomic<int> done;      /* tasks run to the end */
    rl::var<int> payload[2];

    void wait_for(rl::atomic<int> &word, int n)
    {
        for (;;) {
            /* acquire: pairs with bump's acq_rel increment (the tasks'
             * writes before it are read after the wait) */
            int v = word($).load(rl::mo_acquire);
            if (v >= n)
                return;
            syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
        }
    }

    void bump(rl::atomic<int> &word, int n)
    {
        /* acq_rel: the release half pairs with wait_for's acquire; the
         * acquire half orders the other tasks' increments before the wake */
        if (word($).fetch_add(1, rl::mo_acq_rel) + 1 == n)
            syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    }

    void run_task(int k)
    {
        RL_ASSERT(payload[k]($) == 100 + k); /* published by the push */
        bump(started, tasks);
        wait_for(started, tasks); /* the rendezvous (S2) */
        bump(done, tasks);
    }
};

struct worker {
    idle_world *world;
};

static void *task_item(unsigned k)
{
    return (void *)(uintptr_t)(k + 1);
}
static unsigned task_index(void *item)
{
    return (unsigned)((uintptr_t)item - 1);
}

static struct idle_pool idle_pool_of(struct worker *w)
{
    idle_world *s = w->world;
    struct idle_pool ip = { s->ps, s->pool_ec, s->gate, s->cap };
    return ip;
}

/* try_pop_many / steal_batch: every task there, the lowest first */
static size_t idle_claim(struct worker *w, void **items, bool *contended)
{
    (void)contended;
    /* acquire: the claim, pairs with the release of the push or the keep */
    unsigned v = w->world->ring($).exchange(0, rl::mo_acquire);
    size_t n = 0;
    for (unsigned k = 0; k < 2; k++)
        if (v & (1u << k))
            items[n++] = task_item(k);
    return n;
}

/* the push to the worker's own deque: back to the ring */
static bool idle_keep(struct worker *w, void *item)
{
    /* release: publishes the task to its thief, as the deque's push */
    w->world->ring($).fetch_or(1u << task_index(item), rl::mo_release);
    return true;
}

static void idle_run(struct worker *w, void *item)
{
    w->world->run_task((int)task_index(item));
}

static void idle_count_park(struct worker *) {}

namespace
{

const uint64_t ALL_ONES = ~UINT64_C(0);
const uint64_t COUNT_MASK = PENDING_WAKING - 1;
const unsigned MAX_TASKS = 4;

/* A fresh eventcount in the model's memory, as model-check/eventcount.cc
 * makes them. */
weft_eventcount *new_eventcount()
{
    static_assert(sizeof(struct weft_internal_ec) <= sizeof(weft_eventcount),
                  "the model's weft_eventcount must hold its layout");
    weft_eventcount *ec = (weft_eventcount *)malloc(sizeof *ec);
    weft_eventcount_init(ec, 0);
    return ec;
}

/* The observer, fresh, for a scenario without a group: every notify of
 * pool_sync.h goes to the pool's eventcount. */
void reset_observer_for_pool(weft_eventcount *pool_ec)
{
    observer &o = obs();
    o = observer();
    o.group = false;
    o.pool_ec = pool_ec;
    o.named = pool_ec;
}

unsigned announced(weft_eventcount *ec)
{
    return atomic_load_explicit(&weft_internal_ec(ec)->waiters, memory_order_relaxed);
}

/* ---- group scenarios ---------------------------------------------------- */

/* Tasks are numbered 0..MAX_TASKS-1; task k's body writes data[k] = k + 1. */
template <class Derived, int Threads>
struct group_scenario : weft_model::scenario<Derived, Threads> {
    struct group_count *c = nullptr;
    weft_eventcount *own_ec, *pool_ec;
    uint64_t where;   /* PENDING_ON_POOL or 0: where the waiter parks */
    bool has_owner;   /* the waiter is the group's owner */
    unsigned spawned; /* tasks counted so far (bookkeeping) */
    bool counted[MAX_TASKS];
    bool called[MAX_TASKS]; /* task k's task_done has begun */
    bool late[MAX_TASKS];   /* task k may have been spawned after the wait */
    rl::var<int> data[MAX_TASKS];
    int announces;    /* begin_park returned GROUP_ANNOUNCED */
    int episodes;     /* times PARKED went from clear to set */
    bool parked_seen; /* PARKED in the newest value invariant() saw */
    bool folded;      /* the owner's wait went through the fold */
    bool sentinel;    /* the waiter added its sentinel */

    void before()
    {
        (void)weft_model::membarrier_ok_flag($);
        c = (struct group_count *)malloc(sizeof *c);
        group_count_init(c);
        own_ec = new_eventcount();
        pool_ec = new_eventcount();
        where = 0;
        has_owner = false;
        spawned = 0;
        for (unsigned k = 0; k < MAX_TASKS; k++)
            counted[k] = called[k] = late[k] = false;
        announces = 0;
        episodes = 0;
        parked_seen = false;
        folded = false;
        sentinel = false;
        observer &o = obs();
        o = observer();
        o.group = true;
        o.own_ec = own_ec;
        o.pool_ec = pool_ec;
    }

    /* where the waiter parks: set in the derived before() */
    void waiter_parks_on_pool(bool on_pool)
    {
        where = on_pool ? PENDING_ON_POOL : 0;
        obs().named = on_pool ? pool_ec : own_ec;
    }

    /* weft_spawn's count, before the push that hands task k over */
    void spawn(unsigned k, bool owner)
    {
        counted[k] = true;
        spawned++;
        (void)group_count_spawn(c, owner);
    }

    /* run_task's group case: the body, then group_task_done */
    void run_task(unsigned k, bool owner)
    {
        data[k]($) = (int)k + 1;
        called[k] = true;
        group_count_task_done(c, owner, pool_ec, own_ec);
    }

    /* G6 on the newest value of pending, at every scheduling point */
    void invariant()
    {
        if (c == nullptr || sentinel)
            return;
        if (has_owner && (c->local_mode || c->local != 0))
            return; /* local mode (or inside the fold): pending may be "negative" */
        uint64_t v = c->pending($).load(rl::mo_relaxed);
        uint64_t count = v & COUNT_MASK;
        RL_ASSERT(count <= spawned);
        if ((v & PENDING_PARKED) && !parked_seen)
            episodes++; /* G2: a new wait for a waker begins */
        parked_seen = (v & PENDING_PARKED) != 0;
        if (v & PENDING_PARKED) {
            RL_ASSERT(count >= 1);
            RL_ASSERT((v & PENDING_ON_POOL) == where); /* G5 */
        }
        if (v & PENDING_ON_POOL)
            RL_ASSERT(v & PENDING_PARKED);
        if (v & PENDING_WAKING)
            RL_ASSERT(!(v & (PENDING_PARKED | PENDING_ON_POOL)));
    }

    /* The waiter returned from its wait: G1, G6, then the sentinel (G3).
     * Called right after the call that saw the wait over, before any other
     * atomic operation of the waiter. */
    void wait_returned()
    {
        obs().wait_over = true;
        for (unsigned k = 0; k < MAX_TASKS; k++)
            if (counted[k] && !late[k]) {
                RL_ASSERT(called[k]);                /* G1 */
                RL_ASSERT(data[k]($) == (int)k + 1); /* G1: no race */
            }
        uint64_t v = c->pending($).load(rl::mo_relaxed);
        bool late_spawn = false;
        for (unsigned k = 0; k < MAX_TASKS; k++)
            late_spawn |= late[k];
        if (!has_owner || folded) {
            RL_ASSERT(c->local == 0); /* G6 */
            RL_ASSERT(v == 0 || (late_spawn && v == 1));
        } else {
            RL_ASSERT(c->local + v == 0); /* the owner's fast path */
        }
        sentinel = true;
        (void)c->pending($).fetch_add(ALL_ONES, rl::mo_relaxed);
    }

    /* weft_group_wait from outside the pool: group_count_left, then
     * group_wait_outside (look, spin while WAKING, group_park) */
    void wait_outside()
    {
        if (group_count_left(c) != 0) {
            for (;;) {
                enum group_state s = group_count_look(c);
                if (s == GROUP_DONE)
                    break;
                if (s == GROUP_WAKING) {
                    cpu_relax();
                    continue;
                }
                uint32_t key;
                s = group_count_begin_park(c, own_ec, 0, &key); /* group_count_park */
                if (s == GROUP_DONE)
                    break;
                if (s == GROUP_ANNOUNCED) {
                    announces++;
                    weft_eventcount_wait(own_ec, key);
                }
            }
        }
        wait_returned();
    }

    /* Other work a waiting worker may find (waiter_take, worker_take):
     * none unless the scenario says so. */
    bool take_work()
    {
        return static_cast<Derived *>(this)->take_other_work();
    }
    bool take_other_work()
    {
        return false;
    }

    /* worker_wait for a group, with group_park_worker and waiter_park:
     * look, spin while WAKING, run other work, else announce on the pool's
     * eventcount (ON_POOL), look for work once more, sleep. */
    void worker_wait()
    {
        for (;;) {
            enum group_state s = group_count_look(c);
            if (s == GROUP_DONE)
                return;
            if (s == GROUP_WAKING) {
                cpu_relax();
                continue;
            }
            if (take_work())
                continue;
            uint32_t key;
            s = group_count_begin_park(c, pool_ec, PENDING_ON_POOL, &key);
            if (s == GROUP_DONE)
                return;
            if (s != GROUP_ANNOUNCED)
                continue;
            announces++;
            if (take_work()) {
                /* PARKED stays set: the last task notifies spuriously */
                weft_eventcount_cancel(pool_ec);
                continue;
            }
            weft_eventcount_wait(pool_ec, key);
        }
    }

    void after()
    {
        /* G2: exactly one waker each time PARKED was set (a task spawned
         * during the wake may make the waiter park a second time) */
        RL_ASSERT(obs().notifies == episodes);
        RL_ASSERT((episodes > 0) == (announces > 0));
        RL_ASSERT(obs().inside == 0);
        /* G3: every task done, and nobody changed the sentinel */
        uint64_t v = c->pending($).load(rl::mo_relaxed);
        RL_ASSERT(c->local + v == ALL_ONES);
        RL_ASSERT(announced(own_ec) == 0);
        RL_ASSERT(announced(pool_ec) == 0);
    }
};

/* (a) A thread outside the pool waits for two tasks that finish on two
 * threads; it parks on the group's own eventcount. */
struct outside_two_finishers : group_scenario<outside_two_finishers, 3> {
    void before()
    {
        group_scenario::before();
        waiter_parks_on_pool(false);
        spawn(0, false); /* the waiter's spawns, before the hand-over */
        spawn(1, false);
    }
    void thread(unsigned i)
    {
        if (i == 0)
            wait_outside();
        else
            run_task(i - 1, false);
    }
};

/* (b) A worker waits for a group made outside the pool (no owner) and
 * parks on the pool's eventcount (ON_POOL): bug 1 of issue #12 hung here,
 * the finisher waking only the group's own eventcount. */
struct worker_on_pool : group_scenario<worker_on_pool, 3> {
    void before()
    {
        group_scenario::before();
        waiter_parks_on_pool(true);
        spawn(0, false);
        spawn(1, false);
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            worker_wait();
            wait_returned();
        } else {
            run_task(i - 1, false);
        }
    }
};

/* (b') As (b) with one task, while a submitter hands the pool other work
 * and wakes a worker (wake_for_new_work): the waiting worker may find it
 * after announcing (cancel, PARKED stays set, a spurious notify) or be
 * woken by it and announce again. */
struct worker_on_pool_other_work : group_scenario<worker_on_pool_other_work, 3> {
    rl::atomic<int> work; /* 1: a task of another kind is in the pool */
    rl::var<int> work_data;

    void before()
    {
        group_scenario::before();
        waiter_parks_on_pool(true);
        work($).store(0, rl::mo_relaxed);
        spawn(0, false);
    }
    bool take_other_work()
    {
        /* acq_rel: the take of a deque or ring (acquire) */
        if (work($).load(rl::mo_relaxed) == 0 || work($).exchange(0, rl::mo_acq_rel) == 0)
            return false;
        RL_ASSERT(work_data($) == 7);
        return true;
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            worker_wait();
            wait_returned();
        } else if (i == 1) {
            run_task(0, false);
        } else {
            work_data($) = 7;
            work($).store(1, rl::mo_release); /* the push */
            weft_eventcount_notify_one(pool_ec);
        }
    }
};

/* (c) The group finished twice (bug 3 of issue #12): while the waiter is
 * parked on own_ec and the last counted task is between its decrement and
 * its wake, another thread spawns a task into the group and runs it.  That
 * spawn may land while WAKING is set (the waiter must then wait for it
 * too), before (it is counted like any other) or after the waiter saw the
 * wait over (a task of a later wait: G3 allows its accesses, and the
 * sentinel commutes with them). */
struct spawn_during_wake : group_scenario<spawn_during_wake, 3> {
    void before()
    {
        group_scenario::before();
        waiter_parks_on_pool(false);
        spawn(0, false);
        late[1] = true; /* task 1 races the end of the wait */
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            wait_outside();
        } else if (i == 1) {
            run_task(0, false);
        } else {
            spawn(1, false);
            run_task(1, false); /* a spawner that could not push runs it */
        }
    }
};

/* (c') As (c), the waiter a worker parked on the pool's eventcount: the
 * waker's CAS stores 0 at once, so the late task never sees WAKING. */
struct spawn_during_wake_on_pool : group_scenario<spawn_during_wake_on_pool, 3> {
    void before()
    {
        group_scenario::before();
        waiter_parks_on_pool(true);
        spawn(0, false);
        late[1] = true;
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            worker_wait();
            wait_returned();
        } else if (i == 1) {
            run_task(0, false);
        } else {
            spawn(1, false);
            run_task(1, false);
        }
    }
};

/* (d) The owner's local count: a worker spawns two tasks in local mode
 * (no RMW), runs one, and the other is popped back by it or stolen by a
 * thief, which spawns a third (counted in pending) and ends both in
 * pending (which goes "negative" while the owner is in local mode).  When
 * the owner finds its deque empty while tasks are left it folds local into
 * pending, waits as a worker (ON_POOL) and unfolds: weft_group_wait's fast
 * path and group_wait_worker. */
struct owner_fold : group_scenario<owner_fold, 2> {
    rl::atomic<int> slot; /* task 1 on the owner's deque: 1 until taken */

    void before()
    {
        group_scenario::before();
        waiter_parks_on_pool(true);
        has_owner = true;
        slot($).store(0, rl::mo_relaxed);
    }
    /* the deque's pop or steal of the last item: one of them gets it */
    bool take_slot()
    {
        return slot($).exchange(0, rl::mo_acq_rel) == 1;
    }

    void thread(unsigned i)
    {
        if (i == 0) {
            spawn(0, true);
            spawn(1, true);
            slot($).store(1, rl::mo_release); /* the push of task 1 */
            run_task(0, true);                /* task 0, run inline */
            while (group_count_left(c) != 0) {
                if (!take_slot()) { /* the deque is empty: group_wait_worker */
                    group_count_fold(c);
                    folded = true;
                    worker_wait();
                    group_count_unfold(c);
                    break;
                }
                run_task(1, true);
            }
            wait_returned();
        } else if (take_slot()) {
            /* task 1 on the thief spawns task 2 (in pending: not the
             * owner) and runs it before it ends itself */
            spawn(2, false);
            run_task(2, false);
            run_task(1, false);
        }
    }
};

/* ---- the gate ------------------------------------------------------------ */

const unsigned SUBMITTERS = 2;
const unsigned ENTERERS = SUBMITTERS + 1; /* and destroy's late probe */
const uint64_t GATE_SENTINEL = GATE_CLOSED | UINT64_C(0x5eed);

enum enter_phase { NOT_YET, IN_ENTER, INSIDE, IN_LEAVE, LEFT, REFUSED };
enum destroy_phase { RUNNING, CLOSING, CLOSED };

/* Threads: 0 destroy, 1 a worker, 2.. outside submitters. */
template <class Derived> struct gate_scenario : weft_model::scenario<Derived, 2 + SUBMITTERS> {
    struct pool_gate *gt = nullptr;
    weft_eventcount *pool_ec;
    rl::atomic<unsigned> ring;         /* the injection ring: bit s once s pushed */
    rl::var<int> payload[SUBMITTERS];  /* the submitted task's argument */
    rl::var<int> pool_mem[SUBMITTERS]; /* the rest of the pool, freed by destroy */
    rl::atomic<int> exited;            /* the worker's exit, for destroy's join */
    enter_phase phase[ENTERERS];
    destroy_phase dphase;
    bool ran[SUBMITTERS];
    bool sentinel;           /* destroy wrote its sentinel */
    uint64_t sentinel_final; /* what the word must end as */

    void before()
    {
        (void)weft_model::membarrier_ok_flag($);
        gt = (struct pool_gate *)malloc(sizeof *gt);
        pool_gate_init(gt);
        pool_ec = new_eventcount();
        ring($).store(0, rl::mo_relaxed);
        for (unsigned s = 0; s < SUBMITTERS; s++) {
            ran[s] = false;
        }
        for (unsigned e = 0; e < ENTERERS; e++)
            phase[e] = NOT_YET;
        for (unsigned s = 0; s < SUBMITTERS; s++)
            pool_mem[s]($) = 1;
        exited($).store(0, rl::mo_relaxed);
        dphase = RUNNING;
        sentinel = false;
        reset_observer_for_pool(pool_ec);
    }

    /* P5 on the newest value of the word, at every scheduling point */
    void invariant()
    {
        if (gt == nullptr || sentinel)
            return;
        uint64_t v = gt->word($).load(rl::mo_relaxed);
        uint64_t k = v & ~GATE_CLOSED, lo = 0, hi = 0;
        for (unsigned e = 0; e < ENTERERS; e++) {
            if (phase[e] == INSIDE || phase[e] == IN_LEAVE)
                lo++;
            if (phase[e] == IN_ENTER)
                hi++;
        }
        RL_ASSERT(lo <= k && k <= lo + hi);
        if (v & GATE_CLOSED)
            RL_ASSERT(dphase != RUNNING);
        if (dphase == CLOSED)
            RL_ASSERT(v & GATE_CLOSED);
    }

    /* the worker's look for work (worker_take): the injection ring
     * (acquire: its pop) */
    bool take()
    {
        unsigned pushed = ring($).load(rl::mo_acquire);
        for (unsigned s = 0; s < SUBMITTERS; s++)
            if (!ran[s] && (pushed & (1u << s))) {
                RL_ASSERT(payload[s]($) == 100 + (int)s); /* P2: published */
                ran[s] = true;
                return true;
            }
        return false;
    }

    /* worker_main and worker_search's park: look; prepare, read the gate,
     * look again; exit on DRAINED, a timed park on DRAINING, else park. */
    void worker()
    {
        for (;;) {
            if (take())
                continue;
            uint32_t key = weft_eventcount_prepare(pool_ec);
            enum pool_gate_state gs = pool_gate_read(gt);
            if (take()) {
                weft_eventcount_cancel(pool_ec);
                continue;
            }
            if (gs == GATE_DRAINED) {
                weft_eventcount_cancel(pool_ec);
                /* P3: closed for good */
                RL_ASSERT(pool_gate_read(gt) != GATE_OPEN);
                RL_ASSERT(pool_gate_closed(gt));
                break;
            }
            if (gs == GATE_DRAINING) {
                /* pool.c sleeps here at most DRAIN_POLL_NS (a timed park):
                 * the model's park times out at once.  Relacy 2.4 mishandles
                 * a timed park that only its timeout can end once the other
                 * threads have finished or blocked (it runs a finished
                 * thread's body again), and the park's other ending, a
                 * notify, leads to the same next step: look again. */
                weft_eventcount_cancel(pool_ec);
                cpu_relax();
                continue;
            }
            weft_eventcount_wait(pool_ec, key);
        }
        /* release: pthread_join's edge to destroy */
        exited($).store(1, rl::mo_release);
        syscall(SYS_futex, &exited, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }

    /* submit_task from outside the pool: enter, inject (push, then
     * wake_for_new_work: a notify and reads of the pool), leave. */
    void submit(unsigned s)
    {
        phase[s] = IN_ENTER;
        if (!pool_gate_enter(gt)) {
            phase[s] = REFUSED;
            RL_ASSERT(dphase != RUNNING); /* P3 */
            return;
        }
        phase[s] = INSIDE;
        RL_ASSERT(!obs().close_notified); /* P3: the enter came before the close */
        static_cast<Derived *>(this)->inject(s);
        phase[s] = IN_LEAVE;
        pool_gate_leave(gt); /* our last access to the pool */
        phase[s] = LEFT;
    }

    void inject(unsigned s)
    {
        payload[s]($) = 100 + (int)s;
        ring($).fetch_or(1u << s, rl::mo_release); /* the ring's push */
        weft_eventcount_notify_one(pool_ec);       /* wake_for_new_work */
        /* ... which reads the pool: modelled as a write, as Relacy 2.4
         * reports no race between a read and a later unordered write
         * (checked: a plain read, a relaxed RMW, an acquire load of its
         * value, a write: no report; with a write first: reported) */
        pool_mem[s]($) = 2;
    }

    /* pthread_join: a futex wait on the worker's exit, as glibc's (a
     * spin would not let a context-bounded search run the others once
     * its preemptions are spent: a false livelock) */
    void join_worker()
    {
        while (exited($).load(rl::mo_acquire) == 0)
            syscall(SYS_futex, &exited, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    }

    /* weft_pool_destroy: close (and notify), join the worker, free. */
    void destroy()
    {
        dphase = CLOSING;
        pool_gate_close(gt, pool_ec);
        dphase = CLOSED;
        join_worker();
        /* P3: an enter after the worker saw DRAINED is refused */
        phase[SUBMITTERS] = IN_ENTER;
        RL_ASSERT(!pool_gate_enter(gt));
        phase[SUBMITTERS] = REFUSED;
        /* P1: no accepted submit is still inside */
        for (unsigned s = 0; s < SUBMITTERS; s++)
            RL_ASSERT(phase[s] != INSIDE && phase[s] != IN_LEAVE);
        static_cast<Derived *>(this)->check_waited();
        for (unsigned s = 0; s < SUBMITTERS; s++)
            pool_mem[s]($) = 0; /* the free: a race with any unordered access */
        /* the sentinel, written over the word; what it replaced can only
         * be refused enters still between their +1 and their -1 (no
         * accepted submit is inside, above), whose -1 will follow */
        sentinel = true;
        uint64_t old = gt->word($).exchange(GATE_SENTINEL, rl::mo_relaxed);
        RL_ASSERT(old & GATE_CLOSED);
        sentinel_final = GATE_SENTINEL - (old & ~GATE_CLOSED);
    }
    void check_waited() {}

    void after()
    {
        for (unsigned s = 0; s < SUBMITTERS; s++) {
            RL_ASSERT(phase[s] == LEFT || phase[s] == REFUSED);
            if (phase[s] == LEFT)
                RL_ASSERT(ran[s]); /* P2: no lost task */
        }
        uint64_t v = gt->word($).load(rl::mo_relaxed);
        RL_ASSERT(sentinel);
        RL_ASSERT(v == sentinel_final); /* P1, P5 */
        RL_ASSERT(announced(pool_ec) == 0);
    }
};

/* (e) Two outside submitters race destroy's close while a worker parks:
 * bug 2 of issue #12 (destroy freed the pool under a submit still in it). */
struct submits_vs_destroy : gate_scenario<submits_vs_destroy> {
    void thread(unsigned i)
    {
        if (i == 0)
            destroy();
        else if (i == 1)
            worker();
        else
            submit(i - 2);
    }
};

/* The contract of weft_pool_destroy (include/weft/pool.h): destroy waits
 * until every outside submit whose task was accepted before destroy was
 * called (the push happens-before destroy's call: here destroy spins until
 * it sees both pushes; in a program, the task ran and said so) has
 * returned and made its last access.  Such a submit's enter comes before
 * the close in the gate's modification order, so the worker's DRAINED read
 * counts it until its leave.
 *
 * The header promised more before: a submit that had merely begun (its
 * start happened-before destroy's call, its enter not yet run).  The gate
 * cannot keep that: such an enter comes after the close and the worker's
 * read of DRAINED, and touches the word after the free (with destroy
 * waiting for a flag set just before submit: schedule 7852 of bound 2). */
struct accepted_submits_vs_destroy : gate_scenario<accepted_submits_vs_destroy> {
    void check_waited()
    {
        for (unsigned s = 0; s < SUBMITTERS; s++)
            RL_ASSERT(phase[s] == LEFT);
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            const unsigned all = (1u << SUBMITTERS) - 1;
            /* acquire: the pushes happen-before destroy's call */
            while ((ring($).load(rl::mo_acquire) & all) != all)
                cpu_relax();
            destroy();
        } else if (i == 1) {
            worker();
        } else {
            submit(i - 2);
        }
    }
};


/* ---- searcher scenarios ------------------------------------------------- */

/* pool_sync.h, "3. The searchers", and src/pool_idle.h, the idle worker's
 * search that runs them: one outside producer makes Tasks tasks visible
 * one by one (the injection ring's push, then wake_for_new_work, as
 * submit_task), two workers run worker_main's loop: worker_search, then
 * the task it found, until worker_search returns NULL.  At most Cap
 * search at a time; a searcher sweeps once (SPIN_ROUNDS 1, YIELD_ROUNDS 0
 * above; pool.c sweeps 72 times) before it parks.  The producer runs no
 * task; it waits (futex) until every task ran, then closes the gate and
 * wakes everybody (as destroy).  Each task's body waits until all Tasks
 * tasks have started (a rendezvous): it needs the tasks to run at the same
 * time, on both workers.
 *  S1: a task no worker ever takes leaves every thread waiting: deadlock.
 *  S2: the worker that took the first task blocks in it until the second
 *      starts; if nobody woke the other worker for it: deadlock.  Both
 *      wakes of pool_idle.h are needed here: keep_rest's (a worker that
 *      left the searchers claims both tasks in its last look) and
 *      stop_searching_found_work's (the last searcher claims the first
 *      task, the second is pushed while it still searches).
 *  Publication: each task's payload (rl::var) written before its push.
 *  S3 at the end: no searcher is counted, nobody is announced. */
template <unsigned Cap, unsigned Tasks>
struct searchers : weft_model::scenario<searchers<Cap, Tasks>, 3>, idle_world {
    static_assert(Tasks <= 2, "the rendezvous needs a worker per task");

    void before()
    {
        (void)weft_model::membarrier_ok_flag($);
        ps = (struct pool_search *)malloc(sizeof *ps);
        pool_search_init(ps);
        gate = (struct pool_gate *)malloc(sizeof *gate);
        pool_gate_init(gate);
        pool_ec = new_eventcount();
        cap = Cap;
        tasks = (int)Tasks;
        ring($).store(0, rl::mo_relaxed);
        started($).store(0, rl::mo_relaxed);
        done($).store(0, rl::mo_relaxed);
        reset_observer_for_pool(pool_ec);
    }

    /* worker_main (a worker's own deque is the ring here) */
    void worker()
    {
        struct worker w = { this };
        void *t;
        while ((t = worker_search(&w)) != nullptr)
            idle_run(&w, t);
    }

    void producer()
    {
        for (unsigned k = 0; k < Tasks; k++) {
            payload[k]($) = 100 + (int)k;
            ring($).fetch_or(1u << k, rl::mo_release); /* the push */
            pool_search_wake(ps, pool_ec);             /* wake_for_new_work */
        }
        wait_for(done, (int)Tasks);
        pool_gate_close(gate, pool_ec); /* destroy */
    }

    void thread(unsigned i)
    {
        if (i == 0)
            producer();
        else
            worker();
    }

    void after()
    {
        RL_ASSERT(ring($).load(rl::mo_relaxed) == 0);
        RL_ASSERT(ps->searching($).load(rl::mo_relaxed) == 0); /* S3 */
        RL_ASSERT(announced(pool_ec) == 0);
    }
};

/* ---- the future's end ---------------------------------------------------- */

/* Future (pool_sync.h, "4."): a runner completes the future while its
 * waiter waits, as a worker on the pool's eventcount (weft_future_get on a
 * worker: worker_wait, future_park_worker) or outside on the future's own
 * (future_wait_outside).  Asserts F1 (the value, an rl::var, is read after
 * the wait without a race and with the runner's value), F2 (a waiter
 * nobody wakes is a DEADLOCK), and that nobody is announced at the end. */
template <bool OnPool> struct future_end : weft_model::scenario<future_end<OnPool>, 2> {
    struct future_sync *fs = nullptr;
    weft_eventcount *pool_ec;
    weft_eventcount *own_ec;
    rl::var<int> value;

    void before()
    {
        fs = (struct future_sync *)malloc(sizeof *fs);
        future_sync_init(fs);
        pool_ec = new_eventcount();
        own_ec = new_eventcount();
        reset_observer_for_pool(pool_ec);
    }

    void thread(unsigned i)
    {
        if (i == 1) { /* run_node_or_future */
            value($) = 42;
            future_sync_complete(fs, pool_ec, own_ec);
            return;
        }
        while (!future_sync_done(fs)) {
            if (OnPool) {
                uint32_t key;
                if (!future_sync_begin_park(fs, pool_ec, &key))
                    break;
                weft_eventcount_wait(pool_ec, key); /* waiter_park, no work */
            } else if (future_sync_park(fs, own_ec)) {
                break;
            }
        }
        RL_ASSERT(value($) == 42); /* F1 */
    }

    void after()
    {
        RL_ASSERT(announced(pool_ec) == 0);
        RL_ASSERT(announced(own_ec) == 0);
        free(pool_ec);
        free(own_ec);
        free(fs);
    }
};

} /* namespace */

/* WEFT_POOL_BOUND=k: every scenario with context bound k instead (for
 * tuning the searches below, and for deeper runs by hand). */
weft_model::search pick(weft_model::search s)
{
    const char *k = getenv("WEFT_POOL_BOUND");
    if (k != nullptr && *k != '\0')
        return weft_model::bounded((unsigned)atoi(k));
    return s;
}

int main()
{
    using namespace weft_model;
    run<outside_two_finishers>("pool group: outside waiter on own ec, two finishers",
                               pick(bounded(3)));
    run<worker_on_pool>("pool group: worker waiter on the pool's ec (ON_POOL), two finishers",
                        pick(bounded(4)));
    run<worker_on_pool_other_work>(
        "pool group: worker waiter ON_POOL, one finisher, other work submitted", pick(bounded(3)));
    run<spawn_during_wake>("pool group: spawn from another thread during the wake, own ec",
                           pick(bounded(3)));
    run<spawn_during_wake_on_pool>("pool group: spawn from another thread during the wake, ON_POOL",
                                   pick(bounded(3)));
    run<owner_fold>("pool group: owner's local count, pop or steal, fold/unfold", pick(bounded(6)));
    run<submits_vs_destroy>("pool gate: two outside submits vs destroy vs a parking worker",
                            pick(bounded(2)));
    run<accepted_submits_vs_destroy>(
        "pool gate contract: destroy waits for accepted submits still inside", pick(bounded(1)));
    run<searchers<1, 2>>("pool searchers: cap 1, two tasks that meet, two workers (S1, S2)",
                         pick(bounded(2)));
    run<searchers<2, 2>>("pool searchers: cap 2, two tasks that meet, two workers (S1, S2)",
                         pick(bounded(2)));
    run<searchers<2, 1>>("pool searchers: cap 2, one task, two workers (S1)", pick(bounded(2)));
    run<future_end<true>>("pool future: worker waiter on the pool's ec vs the runner (F1, F2)",
                          pick(bounded(4)));
    run<future_end<false>>("pool future: outside waiter on own ec vs the runner (F1, F2)",
                           pick(bounded(4)));
    return exit_status();
}
