/*
 * spin.h - the helpers every blocking path of weft shares (internal, not
 * installed): a CPU pause for spin loops, and the monotonic clock that
 * deadlines of the _timed calls are measured on.
 */
#ifndef WEFT_SPIN_H
#define WEFT_SPIN_H

#include <sched.h>
#include <stdint.h>
#include <time.h>

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

/* The pause of round number round of a waiting thread's spin: cpu_relax
 * pauses that double up to 64 while round < spins, then one sched_yield. */
static inline void spin_backoff(unsigned round, unsigned spins)
{
    if (round < spins) {
        for (unsigned i = 0, k = 1u << (round < 6 ? round : 6); i < k; i++)
            cpu_relax();
    } else {
        sched_yield();
    }
}

/* The now_ns() time timeout_ns from now, saturated at UINT64_MAX (which the
 * rings' waits treat as "no deadline"). */
static inline uint64_t deadline_ns(uint64_t timeout_ns)
{
    uint64_t now = now_ns();
    return timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

#endif /* WEFT_SPIN_H */
