/*
 * wait.h - the one wait layer of weft's blocking paths (internal, not
 * installed): the CPU pause, the monotonic clock, deadlines, and the
 * spin -> yield -> park ladder that every blocking call climbs (the mpmc
 * and spsc rings' push and pop, the pool's waits for a group or a future)
 * before it sleeps on a weft_eventcount.  The idle worker's search keeps
 * a policy of its own (pool_idle.h, spin_backoff below), stated there.
 *
 * The ladder, as liburcu's one busy-wait helper for every blocking path:
 *   wait_rung()  one rung: a pause (WAIT_SPINS of them), then a
 *                sched_yield (WAIT_YIELDS), then "park";
 *   wait_park()  the park itself, after the caller announced itself
 *                (weft_eventcount_prepare) and looked once more;
 * and the deadline of a _timed call, which the ladder tests before its
 * first rung (timeout 0 tries once), on every yield and every park.
 *
 * The tuning, measured by `make bench-wait` (bench/wait_sweep.sh: the
 * blocking rows of bench_rings with the rings built once per candidate,
 * interleaved rounds, medians; 2026-12-02 on the 2-CPU development VM):
 * - Spinning pays only when the thread we wait for runs on another core
 *   and is about to hand over (a cross-core hand-off takes a few hundred
 *   nanoseconds; each retry costs a pause plus a cache miss).  When the
 *   other thread shares our core every spin is wasted.  With every thread
 *   on one CPU (capacity 16) 8 spins moved 2.8-3.3 M items/s in the
 *   mpmc rows, 64 spins 1.7-1.9 and 256 spins 0.7; 1 spin 3.4-3.7.
 *   Unpinned, with a side waiting every few items (capacity 16), 64
 *   spins did best (44-59 M items/s against 15-50 for 8), while 1 spin
 *   fell to 7-25.  8 is the compromise: close to the best on a shared
 *   core, which is what more threads than cores means, and far from the
 *   collapse of 1 spin when each side has its own core.
 * - Yielding lets the thread we wait for run when there are more threads
 *   than cores.  8 yields parked too often (every park costs the parker a
 *   membarrier and the notifier a futex wake-up): 4P4C/8P8C at capacity
 *   1024 moved 33 M items/s against 62-68 with 64 yields; 512 yields did
 *   no better than 64 and burn CPU longer before parking.  When nothing
 *   else is runnable a yield returns in about half a microsecond, so a
 *   waiter burns a few tens of microseconds of CPU before it parks.
 *
 * Compiles as C11 and as C++17: the model checker's shim provides
 * cpu_relax, now_ns and sched_yield under Relacy (WEFT_MODEL).
 */
#ifndef WEFT_WAIT_H
#define WEFT_WAIT_H

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <weft/eventcount.h>

#include "base.h"

#ifndef WEFT_MODEL /* the model-check build's shim defines both under Relacy */
/* One polite spin-loop iteration: tells the core (and its hyperthread
 * sibling) that we are waiting.  The only inline assembly weft allows. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* CLOCK_MONOTONIC in nanoseconds (the clock FUTEX_WAIT's relative timeouts
 * use too). */
static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif /* WEFT_MODEL */

/* ---- deadlines ---------------------------------------------------------- */

/* When a wait gives up: a now_ns() time, or DEADLINE_NONE (never). */
struct deadline {
    uint64_t at;
};

#define DEADLINE_NONE UINT64_MAX

static inline struct deadline deadline_none(void)
{
    struct deadline d = { DEADLINE_NONE };
    return d;
}

/* timeout_ns from now, saturated just below DEADLINE_NONE. */
static inline struct deadline deadline_in(uint64_t timeout_ns)
{
    uint64_t now = now_ns();
    struct deadline d = { timeout_ns >= DEADLINE_NONE - now ? DEADLINE_NONE - 1
                                                            : now + timeout_ns };
    return d;
}

static inline bool deadline_is_none(struct deadline d)
{
    return d.at == DEADLINE_NONE;
}

/* Nanoseconds left (at least 1), or 0 once d passed; not for DEADLINE_NONE. */
static inline uint64_t deadline_left(struct deadline d)
{
    uint64_t now = now_ns();
    return now >= d.at ? 0 : d.at - now;
}

/* ---- the ladder --------------------------------------------------------- */

#ifndef WEFT_MODEL
/* WEFT_WAIT_SPINS / WEFT_WAIT_YIELDS override the tuning for `make
 * bench-wait` only (mk/bench_wait.am), which builds the rings once per
 * candidate and runs their blocking rows side by side. */
#ifndef WEFT_WAIT_SPINS
#define WEFT_WAIT_SPINS 8
#endif
#ifndef WEFT_WAIT_YIELDS
#define WEFT_WAIT_YIELDS 64
#endif
enum { WAIT_SPINS = WEFT_WAIT_SPINS, WAIT_YIELDS = WEFT_WAIT_YIELDS };
#else
/* The model checker runs a pause or a yield as a Relacy yield: 72 of them
 * per wait multiply the schedules beyond any bound that finishes.  One of
 * each keeps every rung (spin, yield, deadline test, park). */
enum { WAIT_SPINS = 1, WAIT_YIELDS = 1 };
#endif

enum wait_rung {
    WAIT_AGAIN,  /* paused or yielded: look again */
    WAIT_PARK,   /* spinning is over: prepare, look again, wait_park */
    WAIT_TIMEOUT /* the deadline passed: give up (ETIMEDOUT) */
};

/* Climb one rung; *round counts the rungs of this wait (start at 0).  A
 * timed wait reads the clock before its first rung, so a deadline that has
 * passed already ("try once") ends it before any second attempt, then on
 * every yield and park, never while it spins. */
static inline enum wait_rung wait_rung(unsigned *round, struct deadline d)
{
    if (!deadline_is_none(d) && (*round == 0 || *round >= WAIT_SPINS) && deadline_left(d) == 0)
        return WAIT_TIMEOUT;
    if (*round < WAIT_SPINS) {
        ++*round;
        cpu_relax();
        return WAIT_AGAIN;
    }
    if (*round < WAIT_SPINS + WAIT_YIELDS) {
        ++*round;
        sched_yield();
        return WAIT_AGAIN;
    }
    return WAIT_PARK;
}

/* A rung of a wait that must not sleep now (the thread it waits for is
 * inside its wake-up, or a lost race says there may be work): the ladder's
 * pause or yield, and a yield where the ladder would park. */
static inline void wait_rung_no_park(unsigned *round)
{
    if (wait_rung(round, deadline_none()) == WAIT_PARK)
        sched_yield();
}

/* Sleep on ec, where the caller announced itself (key, from
 * weft_eventcount_prepare) and then found nothing, until a notify or the
 * deadline: 0, or ETIMEDOUT (the announcement withdrawn either way). */
static inline int wait_park(weft_eventcount *ec, uint32_t key, struct deadline d)
{
    if (deadline_is_none(d)) {
        weft_eventcount_wait(ec, key);
        return 0;
    }
    uint64_t left = deadline_left(d);
    if (left == 0) {
        weft_eventcount_cancel(ec);
        return ETIMEDOUT;
    }
    return weft_eventcount_wait_timed(ec, key, left);
}

/* ---- the idle worker's own policy --------------------------------------- */

/* The pause of round number round of the pool's search for work
 * (pool_idle.h): cpu_relax pauses that double up to 64 while round < spins,
 * then one sched_yield. */
static inline void spin_backoff(unsigned round, unsigned spins)
{
    if (round < spins) {
        for (unsigned i = 0, k = 1u << (round < 6 ? round : 6); i < k; i++)
            cpu_relax();
    } else {
        sched_yield();
    }
}

#endif /* WEFT_WAIT_H */
