/*
 * pool_idle.h - how an idle worker of the pool finds work or parks
 * (internal, not installed): one sweep over the sources of work other than
 * its own deque, the hand-on of a claimed batch's rest, the searcher
 * protocol of pool_sync.h ("3. The searchers") and the park on the pool's
 * eventcount, with its last look and the gate's read.
 *
 * It is a header so that the model checker runs these very lines: src/pool.c
 * includes it, and so do the searcher scenarios of model-check/pool.cc,
 * which stand for the pool's rings and deques with an atomic word.  What
 * this code needs from its includer:
 *
 *   BATCH          the most items one claim takes;
 *   SPIN_ROUNDS    sweeps with cpu_relax pauses before yielding, then
 *   YIELD_ROUNDS   sweeps with sched_yield, before a searcher parks;
 *   DRAIN_POLL_NS  how long a worker that found no work sleeps at most while
 *                  destroy waits for an outside submit still in flight
 *                  (GATE_DRAINING: its end wakes nobody, as it must not touch
 *                  the pool after it); rare and short, the submit being
 *                  between its pool_gate_enter and its pool_gate_leave;
 *
 * (macros or enumerators), and definitions of the functions declared under
 * "what the includer defines" below.  Like pool_sync.h this compiles as C11
 * and as C++17.
 */
#ifndef WEFT_POOL_IDLE_H
#define WEFT_POOL_IDLE_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/eventcount.h>

#include "base.h"
#include "chaos.h"
#include "pool_sync.h"
#include "wait.h"

struct worker;

/* The parts of a worker's pool that idle workers share. */
struct idle_pool {
    struct pool_search *search; /* pool_sync.h, "3." */
    weft_eventcount *ec;        /* where idle workers park */
    struct pool_gate *gate;     /* pool_sync.h, "2." */
    unsigned cap;               /* at most this many search at a time */
};

/* ---- what the includer defines ----------------------------------------- */

/* w's pool. */
static struct idle_pool idle_pool_of(struct worker *w);

/* One sweep over the sources of work other than w's own deque (pool.c: the
 * injection ring, then every other deque from a random victim on): up to
 * BATCH items claimed from one source into items (the claim's acquire makes
 * each task's contents visible), and their number, or 0; *contended is set
 * when a claim lost a race (there may be work). */
static size_t idle_claim(struct worker *w, void **items, bool *contended);

/* Make item stealable from w (with a release that publishes it); false
 * when that cannot be done now (the deque cannot grow). */
static bool idle_keep(struct worker *w, void *item);

/* Run the task item now, on w. */
static void idle_run(struct worker *w, void *item);

/* w is about to sleep (a statistic). */
static void idle_count_park(struct worker *w);

/* ---- the search --------------------------------------------------------- */

/* Keep items[1..n-1] where others may steal them and wake a parked worker
 * for them, as a spawn does (pool_search_wake: unless somebody searches);
 * an item that cannot be kept runs now rather than being lost.  The wake
 * matters when w does not search: a worker that left the searchers and
 * claims a batch in its last look before parking may be the only one that
 * knows the rest is there (its producers saw it searching and woke nobody:
 * model-check/pool.cc, searchers, S2). */
static inline void keep_rest(struct worker *w, void **items, size_t n)
{
    if (n < 2)
        return;
    for (size_t i = 1; i < n; i++)
        if (UNLIKELY(!idle_keep(w, items[i])))
            idle_run(w, items[i]);
    struct idle_pool ip = idle_pool_of(w);
    pool_search_wake(ip.search, ip.ec);
}

/* One sweep for a worker: a task to run now (the rest of its batch kept,
 * keep_rest), or NULL; *contended as for idle_claim. */
static inline void *worker_take(struct worker *w, bool *contended)
{
    void *items[BATCH];
    size_t n = idle_claim(w, items, contended);
    if (n == 0)
        return NULL;
    keep_rest(w, items, n);
    return items[0];
}

/* The last searcher to find work wakes another worker, in case there is
 * more (pool_sync.h, S2; Go's wakep after a spinning M found work): the
 * producers of any task made visible while it searched woke nobody. */
static inline void stop_searching_found_work(struct idle_pool ip)
{
    if (pool_search_found(ip.search))
        pool_search_wake(ip.search, ip.ec);
}

/* Find a task for the idle worker w (its own deque is empty), parking when
 * there is none; NULL when the pool shuts down and everything submitted
 * has run (the gate is drained and a last look found nothing). */
static inline void *worker_search(struct worker *w)
{
    struct idle_pool ip = idle_pool_of(w);
    bool searching = pool_search_begin(ip.search, ip.cap);
    unsigned round = 0;
    for (;;) {
        bool contended = false;
        void *t = worker_take(w, &contended);
        if (t) {
            if (searching)
                stop_searching_found_work(ip);
            return t;
        }
        if (searching && (contended || round < SPIN_ROUNDS + YIELD_ROUNDS)) {
            spin_backoff(round++, SPIN_ROUNDS);
            continue;
        }
        /* Park: leave the searchers first, then announce (prepare's fence
         * orders both before the re-check: the Dekker pair with
         * pool_search_wake). */
        if (searching) {
            pool_search_leave(ip.search);
            searching = false;
        }
        uint32_t key = weft_eventcount_prepare(ip.ec);
        /* read before the last look: a drained gate makes every task of
         * the outside submits visible to it (pool_sync.h, P2) */
        enum pool_gate_state gs = pool_gate_read(ip.gate);
        contended = false;
        t = worker_take(w, &contended);
        if (t || contended) {
            weft_eventcount_cancel(ip.ec);
            if (t)
                return t;
            continue;
        }
        if (gs == GATE_DRAINED) {
            weft_eventcount_cancel(ip.ec);
            return NULL;
        }
        WEFT_CHAOS_POINT();
        idle_count_park(w);
        if (gs == GATE_DRAINING)
            (void)weft_eventcount_wait_timed(ip.ec, key, DRAIN_POLL_NS);
        else
            weft_eventcount_wait(ip.ec, key);
        searching = pool_search_begin(ip.search, ip.cap);
        round = 0;
    }
}

#endif /* WEFT_POOL_IDLE_H */
