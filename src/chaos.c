/*
 * chaos.c - seeded schedule perturbation for stress testing (internal).
 *
 * Compiled into libweft only when configured with --enable-chaos (see
 * src/chaos.h, which turns every WEFT_CHAOS_POINT() into a call of
 * weft_internal_chaos_point()).  Never part of a normal build.
 *
 * Each thread owns a small generator (xorshift64*), seeded from the run's
 * seed mixed with the thread's index, so a failing stress run can be
 * replayed with the same random decisions per thread (the OS scheduler
 * still varies, so a replay makes the failure likely, not certain).  At a
 * point, with probability permille/1000, the thread either yields the CPU
 * or sleeps 1-50 microseconds: on two cores that is what makes a thread
 * lose its time slice between claiming a slot and publishing it, or between
 * reading an index and the CAS that commits it.
 *
 * Control (from stress/chaos_ctl.h; weft-stress links libweft statically, so
 * these hidden symbols resolve at link time and are never exported from
 * libweft.so):
 *   weft_internal_chaos_configure(seed, permille)   before threads start
 *   weft_internal_chaos_thread(index)               first thing in a thread
 * A thread that never called weft_internal_chaos_thread (a pool worker, a
 * thread of the library itself) takes the next index from a counter at its
 * first point.
 */
#include "config.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "chaos.h"

/* Declared here as well as in stress/chaos_ctl.h (the library does not
 * include the stress program's headers); -Wmissing-prototypes wants one. */
void weft_internal_chaos_configure(uint64_t seed, unsigned permille);
void weft_internal_chaos_thread(unsigned index);

/* Probability of acting at a point, per mille; 0 turns chaos off.  relaxed:
 * written before the stress threads are created (pthread_create orders it),
 * read-only afterwards. */
static atomic_uint chaos_permille;
static atomic_uint_least64_t chaos_seed;
/* Indices for threads that did not announce one; start high so they never
 * collide with the stress program's own indices. */
static atomic_uint chaos_next_index = 1u << 20;

static _Thread_local uint64_t chaos_state; /* 0: not seeded yet */

static uint64_t mix64(uint64_t z)
{
    /* splitmix64's finaliser: spreads a seed and an index over all bits */
    z += 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void weft_internal_chaos_configure(uint64_t seed, unsigned permille)
{
    /* relaxed: see chaos_permille; the caller starts its threads after this */
    atomic_store_explicit(&chaos_seed, seed, memory_order_relaxed);
    atomic_store_explicit(&chaos_permille, permille > 1000 ? 1000 : permille, memory_order_relaxed);
}

void weft_internal_chaos_thread(unsigned index)
{
    /* relaxed: the seed was stored before this thread was created */
    uint64_t s =
        mix64(atomic_load_explicit(&chaos_seed, memory_order_relaxed) ^ mix64((uint64_t)index + 1));
    chaos_state = s ? s : 1; /* xorshift must not start at 0 */
}

static uint64_t next(void)
{
    if (chaos_state == 0)
        /* relaxed: only uniqueness of the index matters */
        weft_internal_chaos_thread(
            atomic_fetch_add_explicit(&chaos_next_index, 1, memory_order_relaxed));
    chaos_state ^= chaos_state >> 12;
    chaos_state ^= chaos_state << 25;
    chaos_state ^= chaos_state >> 27;
    return chaos_state * 0x2545f4914f6cdd1du;
}

void weft_internal_chaos_point(void)
{
    /* relaxed: configured before the threads started (see above) */
    unsigned permille = atomic_load_explicit(&chaos_permille, memory_order_relaxed);
    if (permille == 0)
        return;
    uint64_t r = next();
    if ((unsigned)(r % 1000) >= permille)
        return;
    r >>= 10;
    if (r & 1) {
        sched_yield();
    } else {
        struct timespec ts = { 0, (long)(1000 + ((r >> 1) % 50000)) }; /* 1-50 us */
        nanosleep(&ts, NULL);
    }
}
