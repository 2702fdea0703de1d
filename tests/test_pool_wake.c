/* Unit tests for weft/pool.h: new work reaches a parked worker.
 *
 * Each test makes two tasks that must run at the same time: the first
 * waits (sleeping, without helping) until the second has started, so
 * only a wake-up of the other, parked, worker can get the second run.  A
 * lost wake-up ends the wait at a generous bound (WAIT_BOUND_MS) and
 * fails the test; no timing is asserted otherwise.  Each test stops at
 * its first failed round, so that a lost wake-up costs one bound, and the
 * tests live in a program of their own (not test_pool), so that stress/
 * mutants.sh's unit layer sees that failure before its time-out.  The
 * first two kill the mutants that remove the wake-up of weft_spawn and of
 * weft_pool_submit on a worker (issue #12's mutation run), which the
 * model checker (it runs pool_sync.h, not pool.c's call sites) and the
 * stress suite missed.  The third does not kill the removal of the
 * searchers' wake-ups (keep_rest, stop_searching_found_work): two submits
 * in a row usually wake both workers themselves. */
#include "config.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include <weft/pool.h>

#include "check.h"

#define WAIT_BOUND_MS 10000

/* Two tasks that meet: first waits for second to start. */
struct meet {
    weft_pool *p;
    weft_group g;
    weft_task t;
    atomic_int second_ran;
    atomic_int waited_ms;
    atomic_int first_done;
    int how; /* how first hands second over: SPAWN or SUBMIT */
};

enum { SPAWN, SUBMIT };

static void meet_second(void *arg)
{
    struct meet *m = arg;
    atomic_store(&m->second_ran, 1);
}

static void meet_first(void *arg)
{
    struct meet *m = arg;
    weft_group_init(&m->g, m->p); /* on this worker: the spawn stays on its deque */
    check_sleep_ms(50);           /* the other worker parks meanwhile */
    if (m->how == SPAWN)
        weft_spawn(&m->g, &m->t, meet_second, m);
    else if (weft_pool_submit(m->p, meet_second, m) != 0)
        atomic_store(&m->second_ran, -1);
    int ms = 0;
    while (!atomic_load(&m->second_ran) && ms < WAIT_BOUND_MS) {
        check_sleep_ms(1);
        ms++;
    }
    atomic_store(&m->waited_ms, ms);
    weft_group_wait(&m->g);
    atomic_store(&m->first_done, 1);
}

/* Rounds of: a pool of 2, an outside submit of meet_first, which hands
 * meet_second over from its worker (to that worker's deque); stops at the
 * first round whose second task did not run before the bound. */
static void meet_rounds(int how)
{
    for (int round = 0; round < 2; round++) {
        struct meet m = { 0 };
        m.how = how;
        m.p = weft_pool_create(2);
        REQUIRE(m.p != NULL);
        REQUIRE(weft_pool_submit(m.p, meet_first, &m) == 0);
        /* not destroy at once: its close would let the idle worker exit */
        while (!atomic_load(&m.first_done))
            check_sleep_ms(1);
        weft_pool_destroy(m.p); /* runs a second task still queued */
        int waited = atomic_load(&m.waited_ms);
        CHECK_LT(waited, WAIT_BOUND_MS);
        CHECK_EQ(atomic_load(&m.second_ran), 1);
        if (waited >= WAIT_BOUND_MS)
            return;
    }
}

/* weft_spawn on a worker wakes a parked worker when nobody searches
 * (pool.h; src/pool_sync.h, S1). */
static void spawned_task_wakes_a_parked_worker_to_run_it(void)
{
    meet_rounds(SPAWN);
}

/* weft_pool_submit on a worker goes to its deque, and wakes a parked
 * worker in the same way. */
static void task_submitted_from_a_worker_wakes_a_parked_worker(void)
{
    meet_rounds(SUBMIT);
}

/* Two tasks submitted from outside at once that meet (each waits for the
 * other to start): the worker woken for them may take both from the
 * injection ring (a batch: it keeps one on its deque and must wake
 * another worker for it, pool_sync.h S2 and keep_rest in pool.c) or one
 * (then, the last searcher to find work, it wakes another, S2).  Either
 * way both run at once.  Rounds, as the batch depends on timing. */
struct pair {
    atomic_int arrived;
    atomic_int late;     /* a task that gave up waiting for the other */
    atomic_int finished; /* tasks that will not touch the pair again */
};

static void pair_task(void *arg)
{
    struct pair *pr = arg;
    atomic_fetch_add(&pr->arrived, 1);
    int ms = 0;
    while (atomic_load(&pr->arrived) < 2 && ms < WAIT_BOUND_MS) {
        check_sleep_ms(1);
        ms++;
    }
    if (ms >= WAIT_BOUND_MS)
        atomic_store(&pr->late, 1);
    atomic_fetch_add(&pr->finished, 1);
}

static void outside_submitted_tasks_that_meet_run_at_once(void)
{
    weft_pool *p = weft_pool_create(2);
    REQUIRE(p != NULL);
    for (int round = 0; round < 40; round++) {
        struct pair pr = { 0 };
        check_sleep_ms(20); /* both workers park */
        REQUIRE(weft_pool_submit(p, pair_task, &pr) == 0);
        REQUIRE(weft_pool_submit(p, pair_task, &pr) == 0);
        while (atomic_load(&pr.finished) < 2)
            check_sleep_ms(1);
        CHECK_EQ(atomic_load(&pr.late), 0);
        if (atomic_load(&pr.late))
            break;
    }
    weft_pool_destroy(p);
}

CHECK_MAIN(CASE(spawned_task_wakes_a_parked_worker_to_run_it),
           CASE(task_submitted_from_a_worker_wakes_a_parked_worker),
           CASE(outside_submitted_tasks_that_meet_run_at_once))
