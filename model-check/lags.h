/*
 * lags.h - how a model-check scenario lets a partner thread park first, and
 * a gate for two threads that must start together (included by the
 * programs of the blocking rings, after the sources: it needs src/wait.h's
 * ladder and the eventcount's layout).
 */
#ifndef WEFT_MODEL_LAGS_H
#define WEFT_MODEL_LAGS_H

namespace weft_model_lags
{

/* Lags.  A blocking call of src/mpmc.c retries PARK_AFTER times (a pause
 * or a yield before each retry, both rl::yield here) before it parks, and
 * Relacy keeps a yielding thread off the CPU only until the others have
 * made a step (or all are blocked or yielding).  So a thread must itself
 * let time pass for its partner to park first:
 *  - lag(n): n yields of one step each.  Against one partner that spins,
 *    the two alternate, so lag(PARK_AFTER - 1) lands the hand-off on the
 *    partner's last retry and lag(PARK_AFTER) on its prepare, re-check and
 *    futex wait (a preemption of the search moves it within them);
 *  - lag_until(n, ec): until n threads are announced on the eventcount ec
 *    (a thread announced and not running is parked: prepare, re-check and
 *    the futex wait contain no yield).  Each round is one long yield, which
 *    ends when every other thread is blocked or yielding: one scheduling
 *    point per round, however many threads spin meanwhile. */
const unsigned PARK_AFTER = WAIT_SPINS + WAIT_YIELDS; /* src/wait.h */

void lag(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        rl::yield(1, $);
}

unsigned announced(struct weft_internal_ec *e)
{
    return atomic_load_explicit(&e->waiters, memory_order_relaxed);
}

void lag_until(unsigned n, struct weft_internal_ec *e)
{
    while (announced(e) < n)
        rl::yield(1u << 24, $);
}

/* The search chooses: no lag (the hand-off meets the partner spinning),
 * its last retry, or its parking. */
void lag_any()
{
    static const unsigned lags[] = { 0, PARK_AFTER - 1, PARK_AFTER };
    lag(lags[rl::rand(3)]);
}

/* A gate for a thread that must start at the same time as another, after
 * lag_until: it waits blocked on a futex (a thread that yields
 * would make the other's lag end as soon as it blocks).  Opening it orders
 * only the opener's lag before the waiter, nothing of the ring. */
struct gate {
    rl::atomic<unsigned> open;
    void init()
    {
        open($).store(0, rl::mo_relaxed); /* relaxed: before the threads run */
    }
    void wait()
    {
        while (open($).load(rl::mo_acquire) == 0)
            weft_model::futex(&open, FUTEX_WAIT, 0, nullptr, $);
    }
    void release()
    {
        open($).store(1, rl::mo_release);
        weft_model::futex(&open, FUTEX_WAKE, 1, nullptr, $);
    }
};

} /* namespace weft_model_lags */

#endif /* WEFT_MODEL_LAGS_H */
