/*
 * doorbell.cc - model checking of src/doorbell.c under Relacy: the loop's
 * prepare / look / cancel-or-wait / clear against ringers, with membarrier
 * working (asymmetric: a compiler barrier in ring, membarrier in prepare),
 * without it (seq_cst fences on both sides), and refused after the
 * doorbell was made (the switch, with prepare's self-ring).  The ringers
 * ring as the header says (weft_doorbell_ring) or as an attached ring does
 * (its notify fence, then weft_internal_doorbell_ring_fenced on the ring's
 * slot: the code weft_mpmc/spsc/queue run after every push).
 *
 * The fd is the model's (doorbell_model.h): the loop's wait on it is a
 * futex wait, so a wake-up that is lost leaves the loop waiting forever,
 * which Relacy reports as a deadlock.  What every scenario asserts:
 *  - no lost wake-up: the loop takes every item and returns;
 *  - publication: what a ringer wrote before its ring (an rl::var) is
 *    visible to the loop once it took the item;
 *  - one write per round: the fd's count never exceeds one, and no write
 *    is left unread after the loop's last clear (the fd is quiet at the
 *    end unless a ring came after the loop's last look).
 */
#include "model.h"

#include "eventcount.c"
#include "doorbell_model.h"

namespace
{

/* Set for the runs where membarrier is refused: before the threads start,
 * one prepare meets the refusal (and its self-ring, cleared here), so that
 * every thread starts knowing it: the settled fallback, as eventcount.cc's
 * settled_fallback.  The switch itself (a ringer that read
 * membarrier_works just before it and skipped its fence) is not checked:
 * under C11 that stale read may last forever, so the model loses the
 * wake-up, and only the self-ring of the prepare that met the refusal
 * covers it (src/doorbell.c). */
bool settle_fallback;

/* Set for the runs of the symmetric mode: before the threads start, two
 * prepares close together switch the doorbell to it (the second issues
 * the switching membarrier), and from then on the model's membarrier is
 * NOT_CALLED: light fences are nothing, so only the mode's own fences (the
 * ringer's seq_cst fence after it read SYM, prepare's seq_cst fence) keep
 * the wake-up, and a prepare that issued membarrier would fail the run.
 * With leave_sym the loop's first prepare comes "long" after the settling
 * ones (last_prepare_ns 0) and switches back, issuing membarrier again. */
bool settle_sym, leave_sym;

template <class Derived, int Threads> struct db_scenario : weft_model::scenario<Derived, Threads> {
    weft_doorbell *db;
    _Atomic(weft_doorbell *) *slot; /* a ring's attachment (the arena's) */
    rl::atomic<int> items;          /* published and not yet taken */
    rl::var<int> data[Threads];     /* written by ringer i before its item */
    int taken;                      /* the loop's */

    void before()
    {
        (void)weft_model::membarrier_ok_flag($);
        db = weft_doorbell_create();
        RL_ASSERT(db != nullptr);
        slot = (_Atomic(weft_doorbell *) *)malloc(sizeof *slot);
        atomic_init(slot, nullptr);
        weft_internal_doorbell_attach(slot, db);
        items($).store(0, rl::mo_relaxed);
        taken = 0;
        if (settle_fallback) {
            weft_doorbell_prepare(db);
            weft_doorbell_cancel(db);
            weft_doorbell_clear(db);
            RL_ASSERT(!weft_internal_membarrier_works());
            RL_ASSERT(!weft_model_fd_readable(db->fd));
        }
        if (settle_sym) {
            weft_model::membarrier() = weft_model::MEMBARRIER_WORKS;
            for (int i = 0; i < 2; i++) {
                weft_doorbell_prepare(db);
                weft_doorbell_cancel(db);
            }
            RL_ASSERT(db->loop_sym &&
                      (atomic_load_explicit(&db->state, memory_order_relaxed) & DOORBELL_SYM));
            if (leave_sym)
                db->last_prepare_ns = 0;
            else
                weft_model::membarrier() = weft_model::MEMBARRIER_NOT_CALLED;
        }
    }

    /* A ringer: publish one item (release), then ring the way asked. */
    void publish(unsigned i, bool attached)
    {
        data[i]($) = 42;
        items($).fetch_add(1, rl::mo_release);
        if (attached) {
            /* a ring's notify: its fence, then the attachment's ring */
            weft_internal_fence_light(!(db->asym && weft_internal_membarrier_works()));
            weft_internal_doorbell_ring_fenced(slot);
        } else {
            weft_doorbell_ring(db);
        }
    }

    bool take()
    {
        int n = items($).load(rl::mo_acquire);
        while (n > 0)
            if (items($).compare_exchange_weak(n, n - 1, rl::mo_acquire)) {
                taken++;
                return true;
            }
        return false;
    }

    /* The header's loop, until want items were taken. */
    void loop(int want)
    {
        while (taken < want) {
            if (take())
                continue;
            weft_doorbell_prepare(db);
            if (take()) {
                weft_doorbell_cancel(db);
                continue;
            }
            weft_model_fd_wait(db->fd);
            weft_doorbell_clear(db);
            RL_ASSERT(!weft_model_fd_readable(db->fd) ||
                      (atomic_load_explicit(&db->state, memory_order_relaxed) & DOORBELL_RUNG));
        }
        for (int i = 1; i < Threads; i++)
            RL_ASSERT(data[i]($) == 42);
    }

    void after()
    {
        /* at most one write per round, and every one read by a clear or
         * still announced by RUNG */
        unsigned c = atomic_load_explicit(model_fd_word(db->fd), memory_order_relaxed);
        unsigned s = atomic_load_explicit(&db->state, memory_order_relaxed);
        RL_ASSERT(c <= 1);
        RL_ASSERT(c == 0 || (s & DOORBELL_RUNG));
        weft_doorbell_destroy(db);
    }
};

/* One ringer (thread 1), the loop (thread 0). */
template <bool Attached> struct one_ringer : db_scenario<one_ringer<Attached>, 2> {
    void thread(unsigned i)
    {
        if (i == 0)
            this->loop(1);
        else
            this->publish(i, Attached);
    }
};

/* Two ringers, one item each: a burst, and a ring racing the loop's clear
 * (its claimed write landing after clear's read). */
template <bool Attached> struct two_ringers : db_scenario<two_ringers<Attached>, 3> {
    void thread(unsigned i)
    {
        if (i == 0)
            this->loop(2);
        else
            this->publish(i, Attached && i == 1);
    }
};

/* One ringer with two items in a row: the loop sleeps twice or takes both
 * at once; the second ring finds the first round's RUNG or a new round. */
template <bool Attached> struct two_rounds : db_scenario<two_rounds<Attached>, 2> {
    void thread(unsigned i)
    {
        if (i == 0) {
            this->loop(2);
        } else {
            this->publish(1, Attached);
            this->publish(1, Attached);
        }
    }
};

/* A loop woken by another of its fds: it calls clear without the doorbell's
 * fd being readable, so clear may run between a ring's claim and its
 * write(2).  Asserts (after) that the late write is still announced by
 * RUNG, so the next clear reads it: what clear's putting RUNG back is for. */
struct other_fd_wakes : db_scenario<other_fd_wakes, 2> {
    void thread(unsigned i)
    {
        if (i == 1) {
            this->publish(1, false);
            return;
        }
        while (this->taken < 1) {
            if (this->take())
                continue;
            weft_doorbell_prepare(this->db);
            if (this->take()) {
                weft_doorbell_cancel(this->db);
                continue;
            }
            sched_yield(); /* the loop's wait, ended by some other fd */
            weft_doorbell_clear(this->db);
        }
        RL_ASSERT(this->data[1]($) == 42);
    }
};

} /* namespace */

int main()
{
    using namespace weft_model;
    run<one_ringer<false>>("doorbell (membarrier): one ring", full);
    run<one_ringer<true>>("doorbell (membarrier): one attached ring", full);
    run<two_ringers<false>>("doorbell (membarrier): two rings", bounded(3));
    run<two_ringers<true>>("doorbell (membarrier): attached and plain rings", bounded(3));
    run<two_rounds<true>>("doorbell (membarrier): two rounds", bounded(3));
    run<other_fd_wakes>("doorbell (membarrier): clear after another fd's wake-up", bounded(3));
    settle_fallback = true;
    run<one_ringer<false>>("doorbell (fences): one ring", full, MEMBARRIER_NEVER);
    run<two_ringers<true>>("doorbell (fences): attached and plain rings", bounded(3),
                           MEMBARRIER_NEVER);
    run<two_rounds<false>>("doorbell (fences): two rounds", bounded(3), MEMBARRIER_NEVER);
    run<one_ringer<true>>("doorbell, membarrier refused after create: one attached ring", full,
                          MEMBARRIER_FAILS_LATER);
    run<two_rounds<false>>("doorbell, membarrier refused after create: two rounds", bounded(3),
                           MEMBARRIER_FAILS_LATER);
    settle_fallback = false;
    settle_sym = true;
    run<one_ringer<true>>("doorbell (symmetric mode): one attached ring", full);
    run<one_ringer<false>>("doorbell (symmetric mode): one ring", full);
    run<two_ringers<true>>("doorbell (symmetric mode): attached and plain rings", bounded(3));
    run<two_rounds<true>>("doorbell (symmetric mode): two rounds", bounded(3));
    run<other_fd_wakes>("doorbell (symmetric mode): clear after another fd's wake-up", bounded(3));
    leave_sym = true;
    run<two_rounds<true>>("doorbell (leaving symmetric mode): two rounds", bounded(3));
    run<two_ringers<false>>("doorbell (leaving symmetric mode): two rings", bounded(3));
    run<other_fd_wakes>("doorbell (leaving symmetric mode): clear after another fd's wake-up",
                        bounded(3));
    return exit_status();
}
