/*
 * eventcount.cc - model checking of src/eventcount.c under Relacy, in both
 * modes that ship: private (asymmetric: membarrier in prepare, a compiler
 * barrier in notify) and WEFT_SHARED (a seq_cst fence on both sides); and
 * the private mode once membarrier fails after initialisation (the
 * fallback to symmetric fences).
 *
 * Waiters follow the protocol of include/weft/eventcount.h (prepare,
 * re-check, cancel or wait, in a loop); notifiers make the condition true
 * with a release store and notify.  What the scenarios assert:
 *  - no lost wake-up: every waiter returns (a futex wait nobody ends is
 *    reported by Relacy as a deadlock);
 *  - publication: what the notifier wrote before its notify (an rl::var) is
 *    visible to the woken waiter (else a data race); through the waiter's
 *    own acquire of the condition, and (wake_publishes) through the wait
 *    alone, as the header promises for wait and notify;
 *  - once membarrier's failure is known to everyone (settled_fallback),
 *    no wake-up is lost either: the fallback's bounded 10 ms sleep (see
 *    park in src/eventcount.c) is modelled as one that never ends by
 *    itself, so a lost wake-up there is a deadlock too and not a delay
 *    nobody sees;
 *  - accounting: once every thread is done, no waiter is announced.
 */
#include "model.h"

#include "eventcount.c"

namespace
{

/* A fresh eventcount in the model's memory (the public storage type is
 * large enough in this build; the C builds assert the real layout). */
weft_eventcount *new_eventcount(unsigned flags)
{
    static_assert(sizeof(struct weft_internal_ec) <= sizeof(weft_eventcount),
                  "the model's weft_eventcount must hold its layout");
    (void)weft_model::membarrier_ok_flag($);
    weft_eventcount *ec = (weft_eventcount *)malloc(sizeof *ec);
    weft_eventcount_init(ec, flags);
    return ec;
}

unsigned announced(weft_eventcount *ec)
{
    return atomic_load_explicit(&weft_internal_ec(ec)->waiters, memory_order_relaxed);
}

template <class Derived, int Threads, unsigned Flags>
struct ec_scenario : weft_model::scenario<Derived, Threads> {
    weft_eventcount *ec;
    rl::atomic<int> cond; /* the waiters' condition: a count of tokens */
    rl::var<int> data;    /* written before the first token is published */

    void before()
    {
        ec = new_eventcount(Flags);
        cond($).store(0, rl::mo_relaxed);
        weft_model::timeouts_fire() = true;
    }

    void publish_token(bool first)
    {
        if (first)
            data($) = 42;
        cond($).fetch_add(1, rl::mo_release);
    }

    /* Take a token if there is one (acquire: pairs with the release in
     * publish_token). */
    bool take_token()
    {
        int t = cond($).load(rl::mo_acquire);
        while (t > 0)
            if (cond($).compare_exchange_weak(t, t - 1, rl::mo_acquire))
                return true;
        return false;
    }

    /* The waiter protocol of the header, until a token is taken. */
    void wait_token()
    {
        for (;;) {
            if (take_token())
                break;
            uint32_t key = weft_eventcount_prepare(ec);
            if (take_token()) {
                weft_eventcount_cancel(ec);
                break;
            }
            weft_eventcount_wait(ec, key);
        }
        RL_ASSERT(data($) == 42);
    }

    /* One waiter (thread 0) and one notifier with one token. */
    void one_waiter_thread(unsigned i)
    {
        if (i == 0) {
            wait_token();
        } else {
            publish_token(true);
            weft_eventcount_notify_one(ec);
        }
    }

    void after()
    {
        RL_ASSERT(announced(ec) == 0);
    }
};

/* One waiter, one notify_one. */
template <unsigned Flags> struct one_waiter : ec_scenario<one_waiter<Flags>, 2, Flags> {
    void thread(unsigned i)
    {
        this->one_waiter_thread(i);
    }
};

/* Two waiters, one token each, from one notifier's notify_all. */
template <unsigned Flags> struct notify_all_two : ec_scenario<notify_all_two<Flags>, 3, Flags> {
    void thread(unsigned i)
    {
        if (i < 2) {
            this->wait_token();
        } else {
            this->data($) = 42;
            this->cond($).fetch_add(2, rl::mo_release);
            weft_eventcount_notify_all(this->ec);
        }
    }
};

/* Two waiters, two notifiers with one token and one notify_one each: every
 * notify_one must wake a waiter that still needs a token. */
template <unsigned Flags> struct notify_one_two : ec_scenario<notify_one_two<Flags>, 4, Flags> {
    void before()
    {
        ec_scenario<notify_one_two<Flags>, 4, Flags>::before();
        this->data($) = 42;
    }
    void thread(unsigned i)
    {
        if (i < 2) {
            this->wait_token();
        } else {
            this->publish_token(false);
            weft_eventcount_notify_one(this->ec);
        }
    }
};

/* Membarrier refused, and every thread already knows: a prepare in
 * before() met the refusal and switched the process to fences on both
 * sides, so the notifier's fence is a real one from the start.  Waits are
 * still bounded (10 ms) there; here the bound never fires, so that a lost
 * wake-up is a deadlock and not a 10 ms delay. */
struct settled_fallback : ec_scenario<settled_fallback, 2, 0> {
    void before()
    {
        ec_scenario<settled_fallback, 2, 0>::before();
        (void)weft_eventcount_prepare(ec);
        weft_eventcount_cancel(ec);
        RL_ASSERT(!weft_internal_membarrier_works());
        /* with every notifier fencing, a wake-up must not need the bound */
        weft_model::timeouts_fire() = false;
    }
    void thread(unsigned i)
    {
        one_waiter_thread(i);
    }
};

/* What the header promises of wait and notify alone: the notifier's
 * writes before its notify are visible after a wait that notify ended.
 * The condition is read relaxed here, so only the eventcount orders
 * data: its release bump of the epoch and the wait's acquire (a futex
 * wait that returns EAGAIN acquires nothing, see the shim). */
template <unsigned Flags> struct wake_publishes : ec_scenario<wake_publishes<Flags>, 2, Flags> {
    void thread(unsigned i)
    {
        if (i == 0) {
            uint32_t key = weft_eventcount_prepare(this->ec);
            if (this->cond($).load(rl::mo_relaxed) != 0) {
                weft_eventcount_cancel(this->ec);
                return;
            }
            /* unbounded (membarrier works): it returns only once the
             * notify moved the epoch, as there are no spurious wake-ups */
            weft_eventcount_wait(this->ec, key);
            RL_ASSERT(this->data($) == 42);
        } else {
            this->data($) = 42;
            this->cond($).store(1, rl::mo_relaxed);
            weft_eventcount_notify_one(this->ec);
        }
    }
};

/* A timed wait nobody notifies: times out and withdraws its announcement. */
template <unsigned Flags> struct timed_out : ec_scenario<timed_out<Flags>, 2, Flags> {
    void thread(unsigned i)
    {
        if (i == 0) {
            uint32_t key = weft_eventcount_prepare(this->ec);
            int rc = weft_eventcount_wait_timed(this->ec, key, 1000);
            RL_ASSERT(rc == 0 || rc == ETIMEDOUT);
        } else {
            /* a notify with nothing published may or may not wake it */
            weft_eventcount_notify_one(this->ec);
        }
    }
};

} /* namespace */

int main()
{
    using namespace weft_model;
    /* membarrier works: the private mode is the asymmetric one */
    run<one_waiter<0>>("eventcount private: one waiter, notify_one", full);
    run<one_waiter<WEFT_SHARED>>("eventcount shared: one waiter, notify_one", full);
    run<notify_all_two<0>>("eventcount private: two waiters, notify_all", bounded(3));
    run<notify_all_two<WEFT_SHARED>>("eventcount shared: two waiters, notify_all", bounded(3));
    run<notify_one_two<0>>("eventcount private: two waiters, two notify_one", bounded(2));
    run<notify_one_two<WEFT_SHARED>>("eventcount shared: two waiters, two notify_one", bounded(2));
    run<timed_out<0>>("eventcount private: timed wait, cancel accounting", full);
    run<timed_out<WEFT_SHARED>>("eventcount shared: timed wait, cancel accounting", full);
    /* membarrier registered at init, refused later (seccomp): the private
     * mode must fall back to fences on both sides without losing a wake */
    run<wake_publishes<0>>("eventcount private: wait acquires what notify released", full);
    run<wake_publishes<WEFT_SHARED>>("eventcount shared: wait acquires what notify released", full);
    run<one_waiter<0>>("eventcount private, membarrier fails after init: one waiter", bounded(4),
                       MEMBARRIER_FAILS_LATER);
    run<settled_fallback>("eventcount private, membarrier failed before: one waiter, "
                          "no lost wake-up",
                          full, MEMBARRIER_FAILS_LATER);
    return exit_status();
}
