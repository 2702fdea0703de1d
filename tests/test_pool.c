/* Unit tests for weft/pool.h. */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <weft/pool.h>

#include "check.h"

/* More threads than the machine's 2 cores everywhere. */
#define NWORKERS 4

/* The chaos points (src/chaos.h): in a library configured with
 * --enable-chaos, the tests that check a race turn them on around it, so
 * that the threads lose the CPU (yield, or sleep 1-50 us) inside the
 * windows the points mark; elsewhere they compile to nothing and
 * chaos_on/chaos_off do nothing.  The controls are hidden library symbols
 * (stress/chaos_ctl.h): mk/pool.am links this test statically then. */
#ifdef WEFT_CHAOS
void weft_internal_chaos_configure(uint64_t seed, unsigned permille);
static void chaos_on(uint64_t seed)
{
    weft_internal_chaos_configure(seed, 1000);
}
static void chaos_off(void)
{
    weft_internal_chaos_configure(0, 0);
}
#else
static void chaos_on(uint64_t seed)
{
    (void)seed;
}
static void chaos_off(void) {}
#endif

/* ---- submit ------------------------------------------------------------- */

#define SUBMITTERS 8
#define PER_SUBMITTER 3000

static atomic_int hits[SUBMITTERS * PER_SUBMITTER];

static void hit(void *arg)
{
    /* relaxed: counted, checked after destroy joined the workers */
    atomic_fetch_add_explicit(&hits[(uintptr_t)arg], 1, memory_order_relaxed);
}

struct submitter {
    weft_pool *p;
    unsigned id;
    unsigned failures;
};

static void *submit_many(void *arg)
{
    struct submitter *s = arg;
    for (unsigned i = 0; i < PER_SUBMITTER; i++)
        if (weft_pool_submit(s->p, hit, (void *)(uintptr_t)(s->id * PER_SUBMITTER + i)) != 0)
            s->failures++;
    return NULL;
}

static void tasks_submitted_from_many_outside_threads_run_exactly_once(void)
{
    memset(hits, 0, sizeof hits);
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    pthread_t th[SUBMITTERS];
    struct submitter s[SUBMITTERS];
    for (unsigned i = 0; i < SUBMITTERS; i++) {
        s[i] = (struct submitter){ p, i, 0 };
        REQUIRE(pthread_create(&th[i], NULL, submit_many, &s[i]) == 0);
    }
    unsigned failures = 0;
    for (unsigned i = 0; i < SUBMITTERS; i++) {
        pthread_join(th[i], NULL);
        failures += s[i].failures;
    }
    weft_pool_destroy(p);
    CHECK_EQ(failures, 0);
    unsigned wrong = 0, first_wrong = 0;
    for (unsigned i = 0; i < SUBMITTERS * PER_SUBMITTER; i++)
        if (atomic_load(&hits[i]) != 1 && wrong++ == 0)
            first_wrong = i;
    CHECK_EQ(wrong, 0);
    CHECK_EQ(atomic_load(&hits[first_wrong]), 1);
}

static atomic_int slow_done;

static void slow_task(void *arg)
{
    (void)arg;
    check_sleep_ms(1);
    atomic_fetch_add(&slow_done, 1);
}

static void destroy_runs_every_submitted_task(void)
{
    atomic_store(&slow_done, 0);
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    for (int i = 0; i < 200; i++)
        REQUIRE(weft_pool_submit(p, slow_task, NULL) == 0);
    weft_pool_destroy(p); /* most are still queued here */
    CHECK_EQ(atomic_load(&slow_done), 200);
}

/* A task that keeps submitting until destroy (in the main thread) has
 * started, then reports what it saw. */
struct late_submit {
    weft_pool *p;
    atomic_int accepted, ran;
    int refused_rc;
    weft_future *refused_future;
    int refused_future_errno;
};

static void late_counted(void *arg)
{
    struct late_submit *ls = arg;
    atomic_fetch_add(&ls->ran, 1);
}

static void *identity_fn(void *arg)
{
    return arg;
}

static void late_submitter_async(void *arg)
{
    struct late_submit *ls = arg;
    for (;;) {
        int rc = weft_pool_submit(ls->p, late_counted, ls);
        if (rc != 0) {
            ls->refused_rc = rc;
            break;
        }
        atomic_fetch_add(&ls->accepted, 1);
        check_sleep_ms(1);
    }
    errno = 0;
    ls->refused_future = weft_async(ls->p, identity_fn, NULL);
    ls->refused_future_errno = errno;
}

static void submit_after_destroy_started_returns_eshutdown(void)
{
    struct late_submit ls = { 0 };
    ls.p = weft_pool_create(NWORKERS);
    REQUIRE(ls.p != NULL);
    REQUIRE(weft_pool_submit(ls.p, late_submitter_async, &ls) == 0);
    check_sleep_ms(20);
    weft_pool_destroy(ls.p); /* waits for late_submitter, which sees ESHUTDOWN */
    CHECK_ERRNO(ls.refused_rc, ESHUTDOWN);
    CHECK(ls.refused_future == NULL);
    CHECK_ERRNO(ls.refused_future_errno, ESHUTDOWN);
    /* every accepted submission ran before destroy returned */
    CHECK_EQ(atomic_load(&ls.ran), atomic_load(&ls.accepted));
}

static void noop(void *arg)
{
    (void)arg;
}

/* An outside thread's submit and destroy overlap: destroy starts as soon
 * as the submitted task has run, while the submit may still be inside the
 * pool (after its push it still wakes a worker).  Destroy must not free
 * the pool before the submit is out of it: ASan reports the use after free
 * otherwise.  To hold the submitter inside that window, the task signals
 * it; the handler, when the submit has not returned yet, keeps the thread
 * there until destroy returned (as a preemption could) or for at most
 * HOLD_MS (a destroy that waits for the submit cannot return before).  In
 * a chaos build the point after the push makes the window wide enough for
 * the signal to land in it in most rounds; elsewhere it rarely does. */
#define RACING_ROUNDS 100
#define HOLD_MS 20

struct racing_submit {
    weft_pool *p;
    pthread_t submitter;
    atomic_int in_submit; /* the submitter is inside its second submit */
    atomic_int ran;
    atomic_int destroyed;
    atomic_int held; /* rounds in which the handler held the submitter */
    int rc;
};

static struct racing_submit *racing; /* for the signal handler */

static void hold_submitter(int sig)
{
    (void)sig;
    struct racing_submit *rs = racing;
    if (!atomic_load(&rs->in_submit))
        return;
    atomic_fetch_add(&rs->held, 1);
    for (unsigned ms = 0; ms < HOLD_MS && !atomic_load(&rs->destroyed); ms++) {
        struct timespec ts = { 0, 1000000L };
        nanosleep(&ts, NULL); /* async-signal-safe, unlike check_sleep_ms's loop */
    }
}

static void mark_ran_and_signal(void *arg)
{
    struct racing_submit *rs = arg;
    atomic_store(&rs->ran, 1);
    pthread_kill(rs->submitter, SIGUSR1);
}

/* The first task wakes the worker, which then searches for work: it takes
 * the second one while its submit may still be inside the pool. */
static void *submit_twice(void *arg)
{
    struct racing_submit *rs = arg;
    rs->submitter = pthread_self();
    rs->rc = weft_pool_submit(rs->p, noop, NULL);
    if (rs->rc == 0) {
        atomic_store(&rs->in_submit, 1);
        rs->rc = weft_pool_submit(rs->p, mark_ran_and_signal, rs);
        atomic_store(&rs->in_submit, 0);
    }
    return NULL;
}

static void destroy_waits_for_an_outside_submit_still_inside_the_pool(void)
{
    unsigned refused = 0, not_run = 0, held = 0;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = hold_submitter;
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);
    chaos_on(2);
    for (unsigned round = 0; round < RACING_ROUNDS; round++) {
        static struct racing_submit rs;
        pthread_t th;
        rs.p = weft_pool_create(1);
        REQUIRE(rs.p != NULL);
        rs.rc = -1;
        atomic_store(&rs.in_submit, 0);
        atomic_store(&rs.ran, 0);
        atomic_store(&rs.destroyed, 0);
        atomic_store(&rs.held, 0);
        racing = &rs;
        REQUIRE(pthread_create(&th, NULL, submit_twice, &rs) == 0);
        while (!atomic_load(&rs.ran))
            sched_yield();
        weft_pool_destroy(rs.p); /* the submit may be in flight */
        atomic_store(&rs.destroyed, 1);
        pthread_join(th, NULL);
        refused += rs.rc != 0;
        not_run += !atomic_load(&rs.ran);
        held += atomic_load(&rs.held) != 0;
    }
    chaos_off();
    sigaction(SIGUSR1, &old, NULL);
    /* the task ran, so its submit was accepted */
    CHECK_EQ(refused, 0);
    CHECK_EQ(not_run, 0);
    printf("# the submitter was held inside its submit in %u of %u rounds\n", held, RACING_ROUNDS);
}

struct self_destroy {
    weft_pool *p;
    int err;
};

static void destroy_own_pool(void *arg)
{
    struct self_destroy *sd = arg;
    errno = 0;
    weft_pool_destroy(sd->p);
    sd->err = errno;
}

static void destroy_from_a_task_of_the_pool_is_refused_with_edeadlk(void)
{
    struct self_destroy sd = { weft_pool_create(2), 0 };
    REQUIRE(sd.p != NULL);
    REQUIRE(weft_pool_submit(sd.p, destroy_own_pool, &sd) == 0);
    /* the pool still works afterwards: a future runs */
    weft_future *f = weft_async(sd.p, identity_fn, &sd);
    REQUIRE(f != NULL);
    CHECK_PTR_EQ(weft_future_get(f), &sd);
    weft_future_release(f);
    weft_pool_destroy(sd.p);
    CHECK_ERRNO(sd.err, EDEADLK);
}

/* ---- fork-join ---------------------------------------------------------- */

/* Run fn(arg) as one task of p, spawned from this (outside) thread, and
 * wait until it and everything it spawned into the group finished. */
static void run_as_task(weft_pool *p, void (*fn)(void *), void *arg)
{
    weft_group g;
    weft_task t;
    weft_group_init(&g, p);
    weft_spawn(&g, &t, fn, arg);
    weft_group_wait(&g);
}

struct chain {
    weft_pool *p;
    unsigned depth;
    atomic_uint *leaves;
};

static void leaf(void *arg)
{
    atomic_fetch_add((atomic_uint *)arg, 1);
}

/* Each level spawns the next level and a leaf, and waits for both. */
static void chain_level(void *arg)
{
    struct chain *c = arg;
    if (c->depth == 0) {
        atomic_fetch_add(c->leaves, 1);
        return;
    }
    struct chain next = { c->p, c->depth - 1, c->leaves };
    weft_group g;
    weft_task t1, t2;
    weft_group_init(&g, c->p);
    weft_spawn(&g, &t1, chain_level, &next);
    weft_spawn(&g, &t2, leaf, c->leaves);
    weft_group_wait(&g);
}

static void nested_groups_of_depth_64_complete(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    atomic_uint leaves = 0;
    struct chain c = { p, 64, &leaves };
    run_as_task(p, chain_level, &c);
    CHECK_EQ(atomic_load(&leaves), 65);
    weft_pool_destroy(p);
}

struct fib {
    weft_pool *p;
    unsigned n;
    uint64_t r;
};

static void fib_task(void *arg)
{
    struct fib *f = arg;
    if (f->n < 2) {
        f->r = f->n;
        return;
    }
    struct fib a = { f->p, f->n - 1, 0 }, b = { f->p, f->n - 2, 0 };
    weft_group g;
    weft_task t;
    weft_group_init(&g, f->p);
    weft_spawn(&g, &t, fib_task, &a);
    fib_task(&b);
    weft_group_wait(&g);
    f->r = a.r + b.r;
}

static void fib_with_a_spawn_per_call_is_correct(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    struct fib f = { p, 22, 0 };
    run_as_task(p, fib_task, &f);
    CHECK_EQ(f.r, 17711);
    weft_pool_destroy(p);
}

/* ---- weft_join ---------------------------------------------------------- */

static void fib_join(void *arg);

static void fib_join_pair(struct fib *f, struct fib *a, struct fib *b)
{
    weft_join(f->p, fib_join, a, fib_join, b);
    f->r = a->r + b->r;
}

static void fib_join(void *arg)
{
    struct fib *f = arg;
    if (f->n < 2) {
        f->r = f->n;
        return;
    }
    struct fib a = { f->p, f->n - 1, 0 }, b = { f->p, f->n - 2, 0 };
    fib_join_pair(f, &a, &b);
}

/* fib with a weft_join at every call: on 1 worker (never stolen), on
 * NWORKERS, and oversubscribed (more workers than CPUs: steals, waits for
 * thieves, preempted thieves). */
static void join_computes_fib_on_any_number_of_workers(void)
{
    unsigned sizes[] = { 1, NWORKERS, 8 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        weft_pool *p = weft_pool_create(sizes[i]);
        REQUIRE(p != NULL);
        struct fib f = { p, 22, 0 };
        run_as_task(p, fib_join, &f);
        CHECK_EQ(f.r, 17711);
        weft_pool_destroy(p);
    }
}

/* From a thread outside the pool both calls run on workers. */
static void join_from_outside_the_pool_runs_both_on_workers(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    struct fib f = { p, 18, 0 }, a = { p, 17, 0 }, b = { p, 16, 0 };
    fib_join_pair(&f, &a, &b);
    CHECK_EQ(f.r, 2584);
    weft_pool_destroy(p);
}

static weft_pool *join_pool; /* the pool of the join tests' tasks */

struct join_steal {
    atomic_int b_started, b_done;
    int done_at_return; /* b_done as weft_join returned */
};

static void join_wait_for_b(void *arg)
{
    struct join_steal *js = arg;
    /* fb can only start on another worker, which must steal it */
    while (!atomic_load(&js->b_started))
        sched_yield();
}

static void join_note_b(void *arg)
{
    struct join_steal *js = arg;
    atomic_store(&js->b_started, 1);
    /* keep the thief busy after fa can return, so that a join that does
     * not wait for it returns before b_done is set */
    for (int i = 0; i < 100; i++)
        sched_yield();
    atomic_store(&js->b_done, 1);
}

/* fa waits until fb has started: fb must be stolen, and weft_join must
 * wait for its thief to finish it (NWORKERS >= 2). */
static void join_waits_for_a_stolen_second_call(void *arg)
{
    struct join_steal *js = arg;
    weft_join(join_pool, join_wait_for_b, js, join_note_b, js);
    js->done_at_return = atomic_load(&js->b_done);
}

static void join_whose_second_call_is_stolen_waits_for_the_thief(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    join_pool = p;
    for (int round = 0; round < 20; round++) {
        struct join_steal js = { 0, 0, 0 };
        run_as_task(p, join_waits_for_a_stolen_second_call, &js);
        CHECK_EQ(js.done_at_return, 1);
    }
    weft_pool_destroy(p);
}

/* weft_join's push is private while older work of the deque is stealable
 * (pool.h): the root's join publishes its B (the deque is empty), A's join
 * keeps its A2 private behind B.  Once the other worker took B, A1's next
 * join must publish A2, so that the idle worker steals it while A1 waits.
 * Without that publication A2 stays private, A1 gives up after 10 s (a
 * bound for a hang, not a timing), and A2 runs on A1's worker. */
struct join_share {
    atomic_int b_started, a2_started;
    bool b_stolen; /* A1 saw B start while it waited (B ran elsewhere) */
    pthread_t a1_thread, a2_thread;
};

static void share_b(void *arg)
{
    struct join_share *js = arg;
    atomic_store(&js->b_started, 1);
}

static void share_nothing(void *arg)
{
    (void)arg;
}

static void share_a1(void *arg)
{
    struct join_share *js = arg;
    js->a1_thread = pthread_self();
    uint64_t give_up = check_now_ns() + 10 * 1000000000ull;
    while (!atomic_load(&js->b_started)) { /* B can only be stolen */
        if (check_now_ns() > give_up)
            return;
        sched_yield();
    }
    js->b_stolen = true;
    weft_join(join_pool, share_nothing, NULL, share_nothing, NULL);
    while (!atomic_load(&js->a2_started) && check_now_ns() < give_up)
        sched_yield();
}

static void share_a2(void *arg)
{
    struct join_share *js = arg;
    js->a2_thread = pthread_self();
    atomic_store(&js->a2_started, 1);
}

static void share_a(void *arg)
{
    weft_join(join_pool, share_a1, arg, share_a2, arg);
}

static void share_root(void *arg)
{
    weft_join(join_pool, share_a, arg, share_b, arg);
}

static void join_shares_a_private_push_once_older_work_was_stolen(void)
{
    weft_pool *p = weft_pool_create(2);
    REQUIRE(p != NULL);
    join_pool = p;
    for (int round = 0; round < 10; round++) {
        struct join_share js = { 0 };
        run_as_task(p, share_root, &js);
        /* (b_started itself is always set by now: the root's join runs B
         * here if nobody stole it) */
        bool a2_stolen = !pthread_equal(js.a1_thread, js.a2_thread);
        CHECK(js.b_stolen);
        CHECK(a2_stolen);
        if (!js.b_stolen || !a2_stolen)
            break; /* one hang is enough */
    }
    weft_pool_destroy(p);
}

/* fa leaves submitted tasks above fb on the deque: weft_join runs them too
 * before (or while) it finds fb. */
static void join_submit_then_return(void *arg)
{
    atomic_uint *ran = arg;
    for (int i = 0; i < 5; i++)
        REQUIRE(weft_pool_submit(join_pool, leaf, ran) == 0);
}

static void join_leaves_submitted_tasks(void *arg)
{
    weft_join(join_pool, join_submit_then_return, arg, leaf, arg);
}

static void join_after_a_call_that_submitted_work_runs_everything(void)
{
    weft_pool *p = weft_pool_create(1);
    REQUIRE(p != NULL);
    join_pool = p;
    atomic_uint ran = 0;
    run_as_task(p, join_leaves_submitted_tasks, &ran);
    /* the only worker ran the five nodes (above fb on its deque) and fb
     * before its weft_join returned */
    CHECK_EQ(atomic_load(&ran), 6);
    weft_pool_destroy(p);
}

/* Tasks of a group spawn more tasks into the same group from whatever
 * worker runs them (a tree of 2^12 - 1 tasks); the owner's wait covers
 * them all. */
#define TREE_DEPTH 12
#define TREE_TASKS ((1u << TREE_DEPTH) - 1)

struct tree {
    weft_group *g;
    atomic_uint next; /* next free slot in tasks/levels */
    atomic_uint ran;
    unsigned seen_at_wait; /* tasks run when the owner's wait returned */
    weft_task tasks[TREE_TASKS];
    unsigned levels[TREE_TASKS];
};

static struct tree tree;

static void tree_node(void *arg)
{
    unsigned level = *(unsigned *)arg;
    atomic_fetch_add_explicit(&tree.ran, 1, memory_order_relaxed);
    if (level + 1 >= TREE_DEPTH)
        return;
    for (int k = 0; k < 2; k++) {
        unsigned i = atomic_fetch_add_explicit(&tree.next, 1, memory_order_relaxed);
        tree.levels[i] = level + 1;
        weft_spawn(tree.g, &tree.tasks[i], tree_node, &tree.levels[i]);
    }
}

struct tree_root {
    weft_pool *p;
};

static void tree_owner(void *arg)
{
    struct tree_root *r = arg;
    weft_group g;
    weft_group_init(&g, r->p); /* on a worker: the owner */
    tree.g = &g;
    unsigned i = atomic_fetch_add_explicit(&tree.next, 1, memory_order_relaxed);
    tree.levels[i] = 0;
    weft_spawn(&g, &tree.tasks[i], tree_node, &tree.levels[i]);
    weft_group_wait(&g);
    /* relaxed: the wait's acquire ordered every task's increment before */
    tree.seen_at_wait = atomic_load_explicit(&tree.ran, memory_order_relaxed);
}

static void tasks_spawning_into_their_own_group_are_all_waited_for(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    for (int round = 0; round < 20; round++) {
        atomic_store(&tree.next, 0);
        atomic_store(&tree.ran, 0);
        struct tree_root r = { p };
        run_as_task(p, tree_owner, &r);
        CHECK_EQ(tree.seen_at_wait, TREE_TASKS);
    }
    weft_pool_destroy(p);
}

static void fib_on_a_single_worker_is_correct(void)
{
    weft_pool *p = weft_pool_create(1);
    REQUIRE(p != NULL);
    struct fib f = { p, 18, 0 };
    run_as_task(p, fib_task, &f);
    CHECK_EQ(f.r, 2584);
    weft_pool_destroy(p);
}

/* The owner's only task is stolen and runs long: the owner's wait runs out
 * of work, parks on the group, and the thief's end of the task wakes it. */
struct stolen {
    weft_pool *p;
    atomic_int started;
    atomic_int finished;
    int finished_at_wait; /* what the owner saw when its wait returned */
};

static void long_task(void *arg)
{
    struct stolen *st = arg;
    atomic_store_explicit(&st->started, 1, memory_order_relaxed);
    check_sleep_ms(30);
    atomic_store_explicit(&st->finished, 1, memory_order_relaxed);
}

static void owner_of_stolen_task(void *arg)
{
    struct stolen *st = arg;
    weft_group g;
    weft_task t;
    weft_group_init(&g, st->p);
    weft_spawn(&g, &t, long_task, st);
    /* let another worker steal it (not weft_group_wait: it would pop it) */
    while (!atomic_load_explicit(&st->started, memory_order_relaxed))
        sched_yield();
    weft_group_wait(&g);
    /* relaxed: ordered by the wait's acquire */
    st->finished_at_wait = atomic_load_explicit(&st->finished, memory_order_relaxed);
}

static void waiting_for_a_stolen_task_parks_and_is_woken(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    for (int round = 0; round < 3; round++) {
        struct stolen st = { p, 0, 0, 0 };
        run_as_task(p, owner_of_stolen_task, &st);
        CHECK_EQ(st.finished_at_wait, 1);
    }
    weft_pool_destroy(p);
}

/* Poll flag (every millisecond) for at most timeout_ms: the watchdog of
 * the tests below, which would otherwise hang on the bug they check.
 * Returns whether the flag was set; never used to measure speed. */
#define HANG_TIMEOUT_MS 10000

static bool flag_set_within(atomic_int *flag, unsigned timeout_ms)
{
    for (unsigned waited = 0; !atomic_load(flag); waited++) {
        if (waited >= timeout_ms)
            return false;
        check_sleep_ms(1);
    }
    return true;
}

/* A group initialised on an outside thread, waited for by a task on a
 * worker (the header allows it: any one thread waits).  The group's only
 * task is on the other worker and ends only once the waiter has parked
 * (its park counter moved), so the end of that task is what must wake it. */
struct foreign_wait {
    weft_pool *p;
    weft_group g;
    weft_task t;
    uint64_t parks_before_wait; /* written before waiter_started */
    atomic_int waiter_started;
    atomic_int waiter_returned;
};

static uint64_t pool_parks(weft_pool *p)
{
    weft_pool_stats st;
    weft_pool_read_stats(p, &st);
    return st.parks;
}

static void end_after_the_waiter_parked(void *arg)
{
    struct foreign_wait *fw = arg;
    while (!atomic_load(&fw->waiter_started))
        check_sleep_ms(1);
    /* both workers are busy (this task, the waiter): only the waiter's
     * park moves the counter once the waiter read it */
    while (pool_parks(fw->p) == fw->parks_before_wait)
        check_sleep_ms(1);
    check_sleep_ms(10); /* from its count to its futex wait */
}

static void wait_for_foreign_group(void *arg)
{
    struct foreign_wait *fw = arg;
    fw->parks_before_wait = pool_parks(fw->p);
    atomic_store(&fw->waiter_started, 1);
    weft_group_wait(&fw->g);
    atomic_store(&fw->waiter_returned, 1);
}

static void worker_waiting_for_a_group_made_outside_is_woken_by_its_last_task(void)
{
    weft_pool *p = weft_pool_create(2);
    REQUIRE(p != NULL);
    static struct foreign_wait fw;
    fw.p = p;
    atomic_store(&fw.waiter_started, 0);
    atomic_store(&fw.waiter_returned, 0);
    weft_group_init(&fw.g, p); /* outside the pool: the group has no owner */
    weft_spawn(&fw.g, &fw.t, end_after_the_waiter_parked, &fw);
    REQUIRE(weft_pool_submit(p, wait_for_foreign_group, &fw) == 0);
    bool returned = flag_set_within(&fw.waiter_returned, HANG_TIMEOUT_MS);
    CHECK(returned);
    if (!returned) {
        printf("#     the waiter was still parked %u ms after the group's last task\n",
               HANG_TIMEOUT_MS);
        /* new work wakes a parked worker, maybe the waiter (the hang's
         * only way out): clean up */
        for (unsigned i = 0; i < HANG_TIMEOUT_MS && !atomic_load(&fw.waiter_returned); i++) {
            REQUIRE(weft_pool_submit(p, noop, NULL) == 0);
            check_sleep_ms(1);
        }
        REQUIRE(atomic_load(&fw.waiter_returned));
    }
    weft_pool_destroy(p);
}

/* A group finished twice.  The waiter (this thread, outside the pool) is
 * parked on g->ec for the group's one task A.  A's end takes the count to
 * 0 and wakes the waiter; before it lets the waiter return, a task C on
 * the other worker, woken by the same notify (it parks on the public
 * g->ec), spawns B into the group, and B ends too.  Only one of the two
 * ends may treat itself as the one that wakes the waiter: the other one
 * would touch g after the waiter returned and freed it (ASan reports the
 * use after free; g is on the heap for that).  A ends only once the waiter
 * sleeps in its futex wait (its /proc wchan says so), so that A's end has
 * somebody to wake.  To hold A's end inside its window, C signals A's
 * thread; the handler keeps that thread there until g is freed, or for at
 * most HOLD_MS (a fixed pool cannot free g before A's end is out).  The
 * chaos point after the wake-up makes the window wide enough for the
 * signal in most rounds; the test fails if no round reached it. */
#define REFINISH_ROUNDS 40

struct refinish {
    weft_pool *p;
    weft_group *g;
    weft_task ta, tb;
    pthread_t a_thread;
    pid_t waiter_tid; /* the thread in weft_group_wait, set before the spawn */
    atomic_int c_announced;
    atomic_int spawned;
    atomic_int freed;
    atomic_int hold_a; /* C woke: hold A's thread when the signal lands */
    atomic_int held;   /* rounds in which the handler held A's thread */
};

static struct refinish *refinish; /* for the signal handler */

static void hold_finisher(int sig)
{
    (void)sig;
    struct refinish *rf = refinish;
    if (!atomic_load(&rf->hold_a))
        return;
    atomic_fetch_add(&rf->held, 1);
    for (unsigned ms = 0; ms < HOLD_MS && !atomic_load(&rf->freed); ms++) {
        struct timespec ts = { 0, 1000000L };
        nanosleep(&ts, NULL);
    }
}

/* Whether thread tid sleeps in a futex wait right now (Linux's
 * /proc/<pid>/task/<tid>/wchan names the kernel function it sleeps in). */
static bool sleeps_in_futex(pid_t tid)
{
    char path[64], buf[64] = "";
    snprintf(path, sizeof path, "/proc/self/task/%d/wchan", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strncmp(buf, "futex", 5) == 0;
}

/* Does this kernel show wchan?  (Some hide it: it reads "0".)  A thread
 * that blocks reading an empty pipe must show something else. */
struct pipe_blocker {
    int fd;
    atomic_int tid; /* the blocked thread's, once it is about to read */
};

static void *block_on_pipe(void *arg)
{
    struct pipe_blocker *pb = arg;
    char c;
    atomic_store(&pb->tid, (int)syscall(SYS_gettid));
    return read(pb->fd, &c, 1) < 0 ? NULL : arg;
}

static bool wchan_shown(void)
{
    int fds[2];
    pthread_t t;
    if (pipe(fds) != 0)
        return false;
    struct pipe_blocker pb = { fds[0], 0 };
    bool shown = false;
    if (pthread_create(&t, NULL, block_on_pipe, &pb) == 0) {
        while (atomic_load(&pb.tid) == 0)
            sched_yield();
        /* until it blocks (a running thread reads "0" too), at most 1 s */
        for (unsigned ms = 0; ms < 1000 && !shown; ms++) {
            char path[64], buf[64];
            check_sleep_ms(1);
            snprintf(path, sizeof path, "/proc/self/task/%d/wchan", atomic_load(&pb.tid));
            FILE *f = fopen(path, "r");
            size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
            if (f)
                fclose(f);
            buf[n] = '\0';
            shown = n > 0 && strcmp(buf, "0") != 0;
        }
        if (write(fds[1], "x", 1) != 1)
            abort();
        pthread_join(t, NULL);
    }
    close(fds[0]);
    close(fds[1]);
    return shown;
}

static bool refinish_wchan; /* wchan_shown(), once per test */

static void task_a(void *arg)
{
    struct refinish *rf = arg;
    rf->a_thread = pthread_self();
    while (!atomic_load(&rf->c_announced))
        sched_yield();
    /* let the waiter park on g->ec: until wchan says it sleeps in a futex
     * wait or, on a kernel that hides wchan, for HOLD_MS */
    if (refinish_wchan) {
        while (!sleeps_in_futex(rf->waiter_tid))
            check_sleep_ms(1);
    } else {
        check_sleep_ms(HOLD_MS);
    }
}

static void task_c(void *arg)
{
    struct refinish *rf = arg;
    uint32_t key = weft_eventcount_prepare(&rf->g->ec);
    atomic_store(&rf->c_announced, 1);
    /* A's end wakes us (and the waiter); it notifies g->ec only if the
     * waiter parked, which A waited for (a guard, should wchan have
     * misled it: the round then misses the window, and held says so) */
    (void)weft_eventcount_wait_timed(&rf->g->ec, key, 1000u * 1000000u);
    atomic_store(&rf->hold_a, 1);
    pthread_kill(rf->a_thread, SIGUSR1);
    weft_spawn(rf->g, &rf->tb, noop, NULL); /* runs next on this worker */
    atomic_store(&rf->spawned, 1);
}

static void group_woken_while_a_spawn_raises_its_count_is_not_touched_after_its_wait(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = hold_finisher;
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);
    unsigned held = 0;
    refinish_wchan = wchan_shown();
    chaos_on(3);
    for (unsigned round = 0; round < REFINISH_ROUNDS; round++) {
        static struct refinish rf;
        rf.p = weft_pool_create(2);
        REQUIRE(rf.p != NULL);
        rf.g = malloc(sizeof *rf.g);
        REQUIRE(rf.g != NULL);
        atomic_store(&rf.c_announced, 0);
        atomic_store(&rf.spawned, 0);
        atomic_store(&rf.freed, 0);
        atomic_store(&rf.hold_a, 0);
        atomic_store(&rf.held, 0);
        refinish = &rf;
        rf.waiter_tid = (pid_t)syscall(SYS_gettid);
        weft_group_init(rf.g, rf.p);
        weft_spawn(rf.g, &rf.ta, task_a, &rf);
        REQUIRE(weft_pool_submit(rf.p, task_c, &rf) == 0);
        weft_group_wait(rf.g);
        /* C spawned into g while we waited: wait for that task too (the
         * group may be reused), then free the group */
        while (!atomic_load(&rf.spawned))
            sched_yield();
        weft_group_wait(rf.g);
        free(rf.g);
        atomic_store(&rf.freed, 1);
        weft_pool_destroy(rf.p);
        held += atomic_load(&rf.held) != 0;
    }
    chaos_off();
    sigaction(SIGUSR1, &old, NULL);
    /* what the test asserts is ASan's silence, in rounds that reached the
     * window: at least one must have */
    CHECK_GE(held, 1);
    printf("# the finisher was held inside its wake-up in %u of %u rounds (A waited for the "
           "waiter's park: %s)\n",
           held, REFINISH_ROUNDS, refinish_wchan ? "by its wchan" : "20 ms");
}

#define OUTSIDE_WAITERS 6
#define OUTSIDE_TASKS 500

struct outside_waiter {
    weft_pool *p;
    atomic_uint done;
    weft_task tasks[OUTSIDE_TASKS];
};

static void *spawn_and_wait_outside(void *arg)
{
    struct outside_waiter *o = arg;
    weft_group g;
    weft_group_init(&g, o->p);
    for (unsigned i = 0; i < OUTSIDE_TASKS; i++)
        weft_spawn(&g, &o->tasks[i], leaf, &o->done);
    weft_group_wait(&g);
    return NULL;
}

static void group_wait_works_from_threads_outside_the_pool(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    static struct outside_waiter o[OUTSIDE_WAITERS];
    pthread_t th[OUTSIDE_WAITERS];
    for (unsigned i = 0; i < OUTSIDE_WAITERS; i++) {
        o[i].p = p;
        atomic_store(&o[i].done, 0);
        REQUIRE(pthread_create(&th[i], NULL, spawn_and_wait_outside, &o[i]) == 0);
    }
    for (unsigned i = 0; i < OUTSIDE_WAITERS; i++) {
        pthread_join(th[i], NULL);
        /* the wait returned only after all of its tasks ran */
        CHECK_EQ(atomic_load(&o[i].done), OUTSIDE_TASKS);
    }
    weft_pool_destroy(p);
}

/* The single worker is blocked; an outside thread spawns more tasks than
 * the injection ring holds: it must run the overflow itself, losing none. */
static atomic_int gate, gate_entered;

static void wait_for_gate(void *arg)
{
    (void)arg;
    atomic_store(&gate_entered, 1);
    while (!atomic_load(&gate))
        check_sleep_ms(1);
}

static void spawning_into_a_full_injection_ring_loses_nothing(void)
{
    enum { N = 5000 };
    static weft_task tasks[N];
    weft_pool *p = weft_pool_create(1);
    REQUIRE(p != NULL);
    atomic_store(&gate, 0);
    atomic_store(&gate_entered, 0);
    atomic_uint done = 0;
    weft_group blocker, g;
    weft_task bt;
    weft_group_init(&blocker, p);
    weft_spawn(&blocker, &bt, wait_for_gate, NULL);
    while (!atomic_load(&gate_entered)) /* the worker picks up the blocker */
        check_sleep_ms(1);
    weft_group_init(&g, p);
    for (unsigned i = 0; i < N; i++)
        weft_spawn(&g, &tasks[i], leaf, &done);
    weft_pool_stats st;
    weft_pool_read_stats(p, &st);
    atomic_store(&gate, 1);
    weft_group_wait(&g);
    weft_group_wait(&blocker);
    CHECK_EQ(atomic_load(&done), N);
    CHECK_GT(st.outside_runs, 0);
    weft_pool_destroy(p);
}

/* ---- parallel_for ------------------------------------------------------- */

#define RANGE 50000
static atomic_uchar seen[RANGE + 16];

struct cover {
    atomic_uint calls;
    atomic_size_t min_len;
};

static void mark(size_t b, size_t e, void *ctx)
{
    struct cover *c = ctx;
    atomic_fetch_add(&c->calls, 1);
    size_t len = e - b, m = atomic_load(&c->min_len);
    while (len < m && !atomic_compare_exchange_weak(&c->min_len, &m, len)) {
    }
    for (size_t i = b; i < e; i++)
        atomic_fetch_add_explicit(&seen[i], 1, memory_order_relaxed);
}

/* Runs parallel_for over [b, e) and checks each index was visited once
 * and nothing outside; returns the number of body calls, and in *min_len
 * the length of the shortest. */
static unsigned cover_once(weft_pool *p, size_t b, size_t e, size_t grain, size_t *min_len)
{
    struct cover c = { 0, SIZE_MAX };
    memset(seen, 0, sizeof seen);
    weft_parallel_for(p, b, e, grain, mark, &c);
    unsigned bad = 0;
    for (size_t i = 0; i < RANGE + 16; i++) {
        unsigned want = (i >= b && i < e) ? 1 : 0;
        if (atomic_load(&seen[i]) != want)
            bad++;
    }
    CHECK_EQ(bad, 0);
    if (min_len)
        *min_len = atomic_load(&c.min_len);
    return atomic_load(&c.calls);
}

static void parallel_for_visits_each_index_once(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    size_t grains[] = { 0, 1, 7, 1000 };
    for (size_t i = 0; i < sizeof grains / sizeof grains[0]; i++) {
        size_t min_len = 0;
        /* the range is at least 2 grains: it is always split at least once */
        unsigned calls = cover_once(p, 3, RANGE, grains[i], &min_len);
        CHECK_GE(calls, 2);
        if (grains[i])
            CHECK_GE(min_len, grains[i]); /* no call is shorter than grain */
    }
    weft_pool_destroy(p);
}

static void parallel_for_with_automatic_grain_cuts_no_call_below_it(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    size_t min_len = 0;
    unsigned calls = cover_once(p, 0, RANGE, 0, &min_len);
    /* grain 0: range / (32 * threads), the shortest call allowed */
    CHECK_GE(calls, 2);
    CHECK_GE(min_len, RANGE / (32 * NWORKERS));
    weft_pool_destroy(p);
}

/* Lazy splitting: with one worker nobody can take a split-off half while
 * the worker's deque still holds one, so a loop of RANGE indices at grain 1
 * takes O(log^2 RANGE) body calls (a few hundred), not RANGE. */
static void parallel_for_splits_lazily_when_nobody_steals(void)
{
    weft_pool *p = weft_pool_create(1);
    REQUIRE(p != NULL);
    size_t min_len = 0;
    unsigned calls = cover_once(p, 0, RANGE, 1, &min_len);
    CHECK_GE(calls, 2);
    CHECK_LE(calls, 2000);
    weft_pool_destroy(p);
}

static void parallel_for_on_an_empty_range_calls_nothing(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    CHECK_EQ(cover_once(p, 10, 10, 1, NULL), 0);
    CHECK_EQ(cover_once(p, 10, 5, 0, NULL), 0);
    weft_pool_destroy(p);
}

static void parallel_for_on_tiny_ranges_visits_each_index_once(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    for (size_t n = 1; n <= 5; n++) {
        CHECK_GE(cover_once(p, 100, 100 + n, 1, NULL), 1);
        CHECK_GE(cover_once(p, 100, 100 + n, 0, NULL), 1);
    }
    weft_pool_destroy(p);
}

static void parallel_for_with_grain_above_the_range_calls_body_once(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    size_t max_len = 0;
    CHECK_EQ(cover_once(p, 5, 1005, 5000, &max_len), 1);
    CHECK_EQ(max_len, 1000);
    weft_pool_destroy(p);
}

struct nested_for {
    weft_pool *p;
    atomic_uint inner;
};

static void inner_body(size_t b, size_t e, void *ctx)
{
    struct nested_for *nf = ctx;
    atomic_fetch_add(&nf->inner, (unsigned)(e - b));
}

static void outer_body(size_t b, size_t e, void *ctx)
{
    struct nested_for *nf = ctx;
    for (size_t i = b; i < e; i++)
        weft_parallel_for(nf->p, 0, 100, 3, inner_body, nf);
}

static void parallel_for_nests_inside_parallel_for(void)
{
    struct nested_for nf = { weft_pool_create(NWORKERS), 0 };
    REQUIRE(nf.p != NULL);
    weft_parallel_for(nf.p, 0, 100, 1, outer_body, &nf);
    CHECK_EQ(atomic_load(&nf.inner), 100 * 100);
    weft_pool_destroy(nf.p);
}

/* ---- futures ------------------------------------------------------------ */

static void *square(void *arg)
{
    uintptr_t x = (uintptr_t)arg;
    return (void *)(x * x);
}

static void future_gives_the_value_and_reports_done(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    weft_future *f[64];
    for (uintptr_t i = 0; i < 64; i++)
        REQUIRE((f[i] = weft_async(p, square, (void *)i)) != NULL);
    for (uintptr_t i = 0; i < 64; i++) {
        CHECK_EQ((uintptr_t)weft_future_get(f[i]), i * i);
        CHECK(weft_future_done(f[i]));
        CHECK_EQ((uintptr_t)weft_future_get(f[i]), i * i); /* again */
        weft_future_release(f[i]);
    }
    weft_pool_destroy(p);
}

static atomic_int late_gate, late_ran;

static void *late_value(void *arg)
{
    while (!atomic_load(&late_gate))
        check_sleep_ms(1);
    atomic_fetch_add(&late_ran, 1);
    return arg;
}

static void future_released_before_completion_still_runs(void)
{
    atomic_store(&late_gate, 0);
    atomic_store(&late_ran, 0);
    weft_pool *p = weft_pool_create(2);
    REQUIRE(p != NULL);
    weft_future *f = weft_async(p, late_value, NULL);
    REQUIRE(f != NULL);
    CHECK(!weft_future_done(f));
    weft_future_release(f); /* fn is still blocked: freed when it ends */
    weft_future_release(NULL);
    atomic_store(&late_gate, 1);
    weft_pool_destroy(p); /* drains the future (ASan/TSan see the free) */
    CHECK_EQ(atomic_load(&late_ran), 1);
}

struct get_inside {
    weft_pool *p;
    uintptr_t sum;
};

static void get_futures_on_a_worker(void *arg)
{
    struct get_inside *gi = arg;
    weft_future *f[32];
    for (uintptr_t i = 0; i < 32; i++)
        f[i] = weft_async(gi->p, square, (void *)i);
    for (uintptr_t i = 0; i < 32; i++) {
        gi->sum += (uintptr_t)weft_future_get(f[i]);
        weft_future_release(f[i]);
    }
}

static void future_get_on_the_only_worker_runs_the_task_itself(void)
{
    struct get_inside gi = { weft_pool_create(1), 0 };
    REQUIRE(gi.p != NULL);
    weft_future *outer = weft_async(gi.p, identity_fn, &gi);
    REQUIRE(outer != NULL);
    weft_future_release(outer);
    weft_group g;
    weft_task t;
    weft_group_init(&g, gi.p);
    weft_spawn(&g, &t, get_futures_on_a_worker, &gi);
    weft_group_wait(&g);
    CHECK_EQ(gi.sum, 31 * 32 * 63 / 6); /* sum of i^2, i < 32 */
    weft_pool_destroy(gi.p);
}

/* ---- parallel_reduce ---------------------------------------------------- */

static void add_squares(size_t b, size_t e, void *acc, void *ctx)
{
    (void)ctx;
    uint64_t s = 0;
    for (size_t i = b; i < e; i++)
        s += (uint64_t)i * i;
    *(uint64_t *)acc += s;
}

static void add_u64(void *left, const void *right, void *ctx)
{
    (void)ctx;
    *(uint64_t *)left += *(const uint64_t *)right;
}

static void parallel_reduce_sums_squares(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    const uint64_t n = 1000000, zero = 0;
    size_t grains[] = { 0, 1, 1000, 5000000 };
    for (size_t i = 0; i < sizeof grains / sizeof grains[0]; i++) {
        uint64_t sum = 1;
        CHECK_ERRNO(weft_parallel_reduce(p, 0, n, grains[i], &sum, &zero, sizeof sum, add_squares,
                                         add_u64, NULL),
                    0);
        CHECK_EQ(sum, (n - 1) * n * (2 * n - 1) / 6);
    }
    weft_pool_destroy(p);
}

/* A polynomial hash of the sequence of indices: combine is associative but
 * not commutative, so only a left-to-right combination gives the
 * sequential value. */
struct phash {
    uint64_t h, pw; /* hash and B^length */
};
#define HASH_B 1000003u

static void hash_map(size_t b, size_t e, void *acc, void *ctx)
{
    struct phash *a = acc;
    (void)ctx;
    for (size_t i = b; i < e; i++) {
        a->h = a->h * HASH_B + i;
        a->pw *= HASH_B;
    }
}

static void hash_combine(void *left, const void *right, void *ctx)
{
    struct phash *l = left;
    const struct phash *r = right;
    (void)ctx;
    l->h = l->h * r->pw + r->h;
    l->pw *= r->pw;
}

static void parallel_reduce_combines_in_index_order(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    const struct phash id = { 0, 1 };
    struct phash seq = id, par = { 7, 7 };
    hash_map(10, 100000, &seq, NULL);
    CHECK_ERRNO(weft_parallel_reduce(p, 10, 100000, 17, &par, &id, sizeof par, hash_map,
                                     hash_combine, NULL),
                0);
    CHECK_EQ(par.h, seq.h);
    CHECK_EQ(par.pw, seq.pw);
    weft_pool_destroy(p);
}

static void parallel_reduce_of_an_empty_range_gives_the_identity(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    const uint64_t id = 42;
    uint64_t r = 0;
    CHECK_ERRNO(weft_parallel_reduce(p, 5, 5, 0, &r, &id, sizeof r, add_squares, add_u64, NULL), 0);
    CHECK_EQ(r, 42);
    r = 0;
    CHECK_ERRNO(weft_parallel_reduce(p, 5, 5, 0, &r, &id, 0, add_squares, add_u64, NULL), EINVAL);
    CHECK_EQ(r, 0);
    weft_pool_destroy(p);
}

/* ---- allocation failure ------------------------------------------------- */

/* ASan and TSan reserve terabytes of address space: RLIMIT_AS cannot be
 * used under them, so this test exists only without them. */
#ifndef CHECK_SANITIZED_ADDRESS_SPACE
static atomic_int enomem_ran;

static void enomem_mark(void *arg)
{
    (void)arg;
    atomic_fetch_add_explicit(&enomem_ran, 1, memory_order_relaxed);
}

static void enomem_map(size_t b, size_t e, void *acc, void *ctx)
{
    (void)b, (void)e, (void)acc, (void)ctx;
    atomic_fetch_add_explicit(&enomem_ran, 1, memory_order_relaxed);
}

static void enomem_combine(void *l, const void *r, void *ctx)
{
    (void)l, (void)r, (void)ctx;
}

/* In a child with its address space used up, every allocating call
 * reports ENOMEM and runs nothing; exit status 0 when so. */
static int enomem_child(void)
{
    weft_pool *p = weft_pool_create(1);
    if (p == NULL)
        return 10;
    int limited = check_limit_address_space((size_t)32u << 20);
    if (limited != 0)
        return limited;
    /* take every byte malloc can still give: halving sizes, then every
     * small size one by one (glibc keeps freed small chunks in bins of one
     * exact size, which a request of another size never drains) */
    void *hoard = NULL, *b;
    for (size_t size = (size_t)1 << 20; size >= sizeof(void *);
         size = size > 1024 ? size / 2 : size - sizeof(void *))
        while ((b = malloc(size)) != NULL) {
            *(void **)b = hoard;
            hoard = b;
        }
    int rc = weft_pool_submit(p, enomem_mark, NULL);
    errno = 0;
    weft_future *fut = weft_async(p, identity_fn, NULL);
    int async_errno = errno;
    uint64_t acc = 0;
    const uint64_t zero = 0;
    int rrc = weft_parallel_reduce(p, 0, 1000, 10, &acc, &zero, sizeof acc, enomem_map,
                                   enomem_combine, NULL);
    /* create fails cleanly at each of its allocations in turn: give the
     * hoard back a few blocks at a time (the smallest first) until it
     * succeeds; every failure is NULL with ENOMEM (or EAGAIN once only the
     * threads are missing), and ASan-free builds see no crash on the way */
    int create_fail = 0;
    for (;;) {
        errno = 0;
        weft_pool *q = weft_pool_create(2);
        if (q != NULL) {
            weft_pool_destroy(q);
            break;
        }
        if (errno != ENOMEM && errno != EAGAIN)
            create_fail = 1;
        if (!hoard)
            break;
        for (int k = 0; k < 16 && hoard; k++) {
            b = *(void **)hoard;
            free(hoard);
            hoard = b;
        }
    }
    while (hoard) {
        b = *(void **)hoard;
        free(hoard);
        hoard = b;
    }
    weft_pool_destroy(p);
    if (create_fail)
        return 24;
    if (rc != ENOMEM)
        return 20;
    if (fut != NULL || async_errno != ENOMEM)
        return 21;
    if (rrc != ENOMEM)
        return 22;
    if (atomic_load_explicit(&enomem_ran, memory_order_relaxed) != 0)
        return 23; /* nothing refused may run */
    return 0;
}

static void allocation_failure_is_reported_as_enomem_and_runs_nothing(void)
{
    CHECK_EQ_I(check_in_child(enomem_child), 0); /* see enomem_child for the codes */
}
#define ENOMEM_CASES CASE(allocation_failure_is_reported_as_enomem_and_runs_nothing),
#else
#define ENOMEM_CASES
#endif

/* ---- pool lifetime, arguments, idle, statistics ------------------------- */

static void pool_create_zero_starts_one_worker_per_online_cpu(void)
{
    weft_pool *p = weft_pool_create(0);
    REQUIRE(p != NULL);
    CHECK_EQ(weft_pool_size(p), (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
    weft_pool_destroy(p);
    p = weft_pool_create(3);
    REQUIRE(p != NULL);
    CHECK_EQ(weft_pool_size(p), 3);
    weft_pool_destroy(p);
}

static void pool_create_with_too_many_threads_is_einval(void)
{
    errno = 0;
    CHECK(weft_pool_create(4097) == NULL);
    CHECK_ERRNO(errno, EINVAL);
    errno = 0;
    CHECK(weft_pool_create(UINT32_MAX) == NULL);
    CHECK_ERRNO(errno, EINVAL);
}

struct name_check {
    char name[32];
};

static void read_thread_name(void *arg)
{
    struct name_check *nc = arg;
    pthread_getname_np(pthread_self(), nc->name, sizeof nc->name);
}

static void worker_threads_are_named_weft_worker_n(void)
{
    weft_pool *p = weft_pool_create(2);
    REQUIRE(p != NULL);
    struct name_check nc = { "" };
    REQUIRE(weft_pool_submit(p, read_thread_name, &nc) == 0);
    weft_pool_destroy(p);
    CHECK(strcmp(nc.name, "weft-worker-0") == 0 || strcmp(nc.name, "weft-worker-1") == 0);
    if (strncmp(nc.name, "weft-worker-", 12) != 0)
        printf("# name was '%s'\n", nc.name);
}

/* The workers' names as Linux keeps them (at most 15 characters: what
 * pthread_getname_np reads for another thread, /proc/self/task/TID/comm),
 * once every worker of a pool of MANY_WORKERS named itself (each does so
 * as it starts; the watchdog bounds the wait).  Names from index 1000 on
 * must not be cut into copies of earlier ones. */
#define MANY_WORKERS 1100
#define NAME_LEN 16

static int compare_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Reads the names of this process's threads that start with "weft-" into
 * names (at most max); returns how many. */
static unsigned read_weft_thread_names(char (*names)[NAME_LEN], unsigned max)
{
    unsigned n = 0;
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        char path[300], name[NAME_LEN + 1] = "";
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue; /* the thread has exited */
        if (fgets(name, sizeof name, f) != NULL) {
            name[strcspn(name, "\n")] = '\0';
            if (strncmp(name, "weft-", 5) == 0)
                snprintf(names[n++], NAME_LEN, "%s", name);
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

static void worker_names_stay_unique_past_worker_999(void)
{
    static char names[MANY_WORKERS + 1][NAME_LEN];
    weft_pool *p = weft_pool_create(MANY_WORKERS);
    REQUIRE(p != NULL);
    unsigned n = 0;
    for (unsigned waited = 0; waited < HANG_TIMEOUT_MS; waited++) {
        n = read_weft_thread_names(names, MANY_WORKERS + 1);
        if (n >= MANY_WORKERS)
            break;
        check_sleep_ms(1);
    }
    weft_pool_destroy(p);
    CHECK_EQ(n, MANY_WORKERS);
    qsort(names, n, sizeof names[0], compare_names);
    unsigned duplicates = 0, first_duplicate = 0;
    for (unsigned i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0 && duplicates++ == 0)
            first_duplicate = i;
    CHECK_EQ(duplicates, 0);
    if (duplicates)
        printf("#     first duplicate: '%s'\n", names[first_duplicate]);
    /* the first thousand keep the documented names */
    unsigned documented = 0;
    for (unsigned i = 0; i < n; i++) {
        char *end;
        if (strncmp(names[i], "weft-worker-", 12) == 0 && strtoul(names[i] + 12, &end, 10) < 1000 &&
            *end == '\0')
            documented++;
    }
    CHECK_EQ(documented, 1000);
}

static uint64_t cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void idle_pool_parks_its_workers_and_uses_almost_no_cpu(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    atomic_uint leaves = 0;
    for (int i = 0; i < 100; i++)
        REQUIRE(weft_pool_submit(p, leaf, &leaves) == 0);
    check_sleep_ms(50); /* the work is done, the workers stop searching and park */
    uint64_t c0 = cpu_us();
    check_sleep_ms(300);
    uint64_t used = cpu_us() - c0;
    weft_pool_stats st;
    weft_pool_read_stats(p, &st);
    weft_pool_destroy(p);
    /* generous: a pool that spins burns ~600 ms (2 cores) here */
    CHECK_LT(used, 30000);
    CHECK_GE(st.parks, NWORKERS);
}

static void statistics_count_tasks_steals_and_parks(void)
{
    weft_pool *p = weft_pool_create(NWORKERS);
    REQUIRE(p != NULL);
    weft_pool_stats before, after;
    weft_pool_read_stats(p, &before);
    struct fib f = { p, 18, 0 };
    run_as_task(p, fib_task, &f);
    /* a worker bumps its counter just after the task returns, and parks a
     * little after it ran dry: poll (for at most 10 s) */
    for (int i = 0; i < 10000; i++) {
        weft_pool_read_stats(p, &after);
        if (after.tasks_run + after.outside_runs - before.tasks_run - before.outside_runs >= 4181 &&
            after.parks > before.parks)
            break;
        check_sleep_ms(1);
    }
    weft_pool_destroy(p);
    CHECK_EQ(f.r, 2584);
    /* fib(18) spawns fib(19) - 1 = 4180 tasks, plus the root */
    CHECK_EQ(after.tasks_run + after.outside_runs - before.tasks_run - before.outside_runs, 4181);
    CHECK_GE(after.injected + after.outside_runs, 1); /* the root came from outside */
    CHECK_GT(after.parks, before.parks);
}

CHECK_MAIN(
    CASE(tasks_submitted_from_many_outside_threads_run_exactly_once),
    CASE(destroy_runs_every_submitted_task), CASE(submit_after_destroy_started_returns_eshutdown),
    CASE(destroy_from_a_task_of_the_pool_is_refused_with_edeadlk),
    CASE(destroy_waits_for_an_outside_submit_still_inside_the_pool),
    CASE(nested_groups_of_depth_64_complete), CASE(fib_with_a_spawn_per_call_is_correct),
    CASE(fib_on_a_single_worker_is_correct), CASE(join_computes_fib_on_any_number_of_workers),
    CASE(join_from_outside_the_pool_runs_both_on_workers),
    CASE(join_whose_second_call_is_stolen_waits_for_the_thief),
    CASE(join_shares_a_private_push_once_older_work_was_stolen),
    CASE(join_after_a_call_that_submitted_work_runs_everything),
    CASE(tasks_spawning_into_their_own_group_are_all_waited_for),
    CASE(waiting_for_a_stolen_task_parks_and_is_woken),
    CASE(worker_waiting_for_a_group_made_outside_is_woken_by_its_last_task),
    CASE(group_woken_while_a_spawn_raises_its_count_is_not_touched_after_its_wait),
    CASE(group_wait_works_from_threads_outside_the_pool),
    CASE(spawning_into_a_full_injection_ring_loses_nothing),
    CASE(parallel_for_visits_each_index_once),
    CASE(parallel_for_with_automatic_grain_cuts_no_call_below_it),
    CASE(parallel_for_splits_lazily_when_nobody_steals),
    CASE(parallel_for_on_an_empty_range_calls_nothing),
    CASE(parallel_for_on_tiny_ranges_visits_each_index_once),
    CASE(parallel_for_with_grain_above_the_range_calls_body_once),
    CASE(parallel_for_nests_inside_parallel_for), CASE(future_gives_the_value_and_reports_done),
    CASE(future_released_before_completion_still_runs),
    CASE(future_get_on_the_only_worker_runs_the_task_itself), CASE(parallel_reduce_sums_squares),
    CASE(parallel_reduce_combines_in_index_order),
    CASE(parallel_reduce_of_an_empty_range_gives_the_identity),
    ENOMEM_CASES CASE(pool_create_zero_starts_one_worker_per_online_cpu),
    CASE(pool_create_with_too_many_threads_is_einval), CASE(worker_threads_are_named_weft_worker_n),
    CASE(worker_names_stay_unique_past_worker_999),
    CASE(idle_pool_parks_its_workers_and_uses_almost_no_cpu),
    CASE(statistics_count_tasks_steals_and_parks))
