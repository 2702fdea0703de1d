/*
 * spsc.cc - model checking of src/spsc.c (the single-producer /
 * single-consumer ring) under Relacy, with src/eventcount.c, whose
 * eventcounts it parks on.
 *
 * What every scenario asserts:
 *  - exactly once: every item whose push succeeded is popped exactly once
 *    (what the threads left is drained once all of them end), and nothing
 *    is popped that was not pushed;
 *  - FIFO: items come out in push order;
 *  - publication: each item's payload is an rl::var written before its
 *    push and read after its pop, so a missing release/acquire edge is a
 *    data race Relacy reports;
 *  - no lost wake-up: a blocking pop on an empty ring or a blocking push on
 *    a full one returns (a futex wait nobody ends is reported as a
 *    deadlock).
 * The close scenarios assert the header's contract: a push that succeeded
 * is popped before any pop reports EPIPE; once a push failed on the closed
 * ring no later push succeeds; after EPIPE, pops keep reporting it and
 * nothing is left in the ring.
 * Items are 1..MAX_ITEMS (pointers made from small integers), pushed in
 * that order.
 *
 * Two things this model does that the machine code does not: spsc.c's
 * spin ladder is one spin and one yield here (see WAIT_SPINS), and while
 * membarrier works every light fence (atomic_signal_fence) is a seq_cst
 * fence (see shim/weft_model.h), including the ones inside close's own
 * notify_all; so a scenario that checks close's heavy fence closes from a
 * thread that does not then pop (third_party_close, in every form: in
 * the shared one it is what kills the removal of close_fence_heavy's
 * fence, mutant src/spsc.c:932:5 of issue #12's run).  Process-shared
 * rings run with membarrier refused, where the light half is nothing, as
 * their machine code is.
 */
#include "model.h"

#include "eventcount.c"
#include "doorbell_model.h"
#include "spsc.c"

namespace
{

const int MAX_ITEMS = 4;

/* The ring and what the two threads did.  The producer is thread 0 and the
 * consumer thread 1 (a third thread, if any, only closes); each writes only
 * its own records. */
template <class Derived, int Threads>
struct spsc_scenario : weft_model::scenario<Derived, Threads> {

    weft_spsc *q;
    rl::var<int> payload[MAX_ITEMS + 1];
    bool pushed[MAX_ITEMS + 1]; /* [item]: its push succeeded */
    int attempted;              /* items 1..attempted were offered */
    int popped[MAX_ITEMS + 1];  /* the consumer's items, in pop order */
    int npopped;
    bool epipe; /* a pop reported EPIPE */

    /* Per scenario: the ring's capacity and flags, and how many positions
     * to push and pop before the threads start (so that their items fall
     * where the scenario wants them in the array). */
    static size_t capacity()
    {
        return 2;
    }
    static unsigned flags()
    {
        return 0;
    }
    static int advance()
    {
        return 0;
    }

    void before()
    {
        (void)weft_model::membarrier_ok_flag($);
        size_t bytes = weft_spsc_footprint(Derived::capacity());
        bytes = (bytes + WEFT_SPSC_ALIGN - 1) / WEFT_SPSC_ALIGN * WEFT_SPSC_ALIGN;
        q = weft_spsc_init(aligned_alloc(WEFT_SPSC_ALIGN, bytes), Derived::capacity(),
                           Derived::flags());
        RL_ASSERT(q != nullptr);
        for (int i = 0; i < Derived::advance(); i++) {
            void *x;
            RL_ASSERT(weft_spsc_try_push(q, nullptr));
            RL_ASSERT(weft_spsc_try_pop(q, &x) && x == nullptr);
        }
        attempted = 0;
        npopped = 0;
        epipe = false;
        for (int i = 0; i <= MAX_ITEMS; i++)
            pushed[i] = false;
    }

    static void *item(int i)
    {
        return (void *)(intptr_t)i;
    }

    /* The producer offers item i (the next one) with op. */
    template <class Op> bool offer(int i, Op op)
    {
        RL_ASSERT(i == attempted + 1);
        attempted = i;
        payload[i]($) = i * 10;
        pushed[i] = op(item(i));
        return pushed[i];
    }
    bool try_push(int i)
    {
        return offer(i, [this](void *x) { return weft_spsc_try_push(q, x); });
    }
    int push(int i)
    {
        int rc = -1;
        offer(i, [this, &rc](void *x) { return (rc = weft_spsc_push(q, x)) == 0; });
        return rc;
    }

    /* The consumer took x. */
    void took(void *x)
    {
        int i = (int)(intptr_t)x;
        RL_ASSERT(i >= 1 && i <= MAX_ITEMS);
        /* the payload written before the push: a race if not published */
        RL_ASSERT(payload[i]($) == i * 10);
        popped[npopped++] = i;
    }
    /* Whether try_pop checks size first (one scenario does: it multiplies
     * the schedules). */
    static bool sizes()
    {
        return false;
    }
    /* The consumer's try_pop; with sizes(), after a size, asserting the
     * header's promise that a non-zero size read by the consumer means its
     * next try_pop succeeds. */
    bool try_pop()
    {
        void *x;
        size_t n = Derived::sizes() ? weft_spsc_size(q) : 0;
        if (!weft_spsc_try_pop(q, &x)) {
            RL_ASSERT(n == 0);
            return false;
        }
        took(x);
        return true;
    }
    int pop()
    {
        void *x = nullptr;
        int rc = weft_spsc_pop(q, &x);
        if (rc == 0)
            took(x);
        else if (rc == EPIPE)
            epipe = true;
        return rc;
    }

    void after()
    {
        /* drain what the threads left (not after EPIPE: nothing is left) */
        int before_drain = npopped;
        void *x;
        while (weft_spsc_try_pop(q, &x))
            took(x);
        if (epipe)
            RL_ASSERT(npopped == before_drain);
        /* FIFO, and exactly the pushed items: pushes succeed in order up to
         * a point (capacity or close), then fail */
        for (int k = 1; k < npopped; k++)
            RL_ASSERT(popped[k] > popped[k - 1]);
        int n = 0;
        for (int i = 1; i <= attempted; i++)
            n += pushed[i];
        RL_ASSERT(npopped == n);
        for (int k = 0; k < npopped; k++)
            RL_ASSERT(pushed[popped[k]]);
        RL_ASSERT(weft_spsc_size(q) == 0);
    }
};

/* Two items and two try_pops, from where advance() left the positions, so
 * that they fall on both sides of a line's end (a published word per line
 * of seven slots); a third try_push that succeeds only after a pop. */
template <int Advance> struct across_lines : spsc_scenario<across_lines<Advance>, 2> {
    static int advance()
    {
        return Advance;
    }
    static bool sizes()
    {
        return Advance == 13;
    } /* across the array's end */
    void thread(unsigned i)
    {
        if (i == 0) {
            this->try_push(1);
            this->try_push(2);
            this->try_push(3);
        } else {
            this->try_pop();
            this->try_pop();
        }
    }
};

/* A batch of three that crosses a line's end (two published words) against
 * a batch pop and a single pop. */
struct batches : spsc_scenario<batches, 2> {
    static bool sizes()
    {
        return true;
    }
    static size_t capacity()
    {
        return 4;
    }
    static int advance()
    {
        return 5;
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            void *items[3] = { item(1), item(2), item(3) };
            for (int k = 1; k <= 3; k++)
                payload[k]($) = k * 10;
            size_t n = weft_spsc_try_push_many(q, items, 3);
            RL_ASSERT(n == 3); /* room for 4 */
            attempted = 3;
            for (int k = 1; k <= 3; k++)
                pushed[k] = true;
        } else {
            void *items[3];
            size_t n = weft_spsc_try_pop_many(q, items, 3);
            for (size_t k = 0; k < n; k++)
                took(items[k]);
            try_pop();
        }
    }
};

/* close races a push: the producer offers two items, the consumer closes
 * and then pops until EPIPE. */
template <unsigned Flags> struct close_vs_push : spsc_scenario<close_vs_push<Flags>, 2> {
    static unsigned flags()
    {
        return Flags;
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            for (int k = 1; k <= 2; k++)
                if (!this->try_push(k)) {
                    /* not full (capacity 2): it failed because closed */
                    RL_ASSERT(weft_spsc_closed(this->q));
                }
        } else {
            weft_spsc_close(this->q);
            while (this->pop() == 0) {
            }
            RL_ASSERT(this->epipe);
            void *x = nullptr;
            RL_ASSERT(weft_spsc_pop(this->q, &x) == EPIPE);
        }
    }
    void after()
    {
        /* once a push failed, none after it succeeded */
        for (int k = 2; k <= this->attempted; k++)
            if (this->pushed[k])
                RL_ASSERT(this->pushed[k - 1]);
        spsc_scenario<close_vs_push<Flags>, 2>::after();
    }
};

/* close from a third thread races a push: the consumer pops until EPIPE
 * meanwhile.  Unlike close_vs_push, no fence of the consumer's own sits
 * between close's fetch_or and its load of prod_entered (close's
 * notify_all has light fences, which this model makes seq_cst while
 * membarrier works), so close's heavy fence is what the scenario relies
 * on. */
template <unsigned Flags> struct third_party_close : spsc_scenario<third_party_close<Flags>, 3> {
    static unsigned flags()
    {
        return Flags;
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            if (!this->try_push(1))
                RL_ASSERT(weft_spsc_closed(this->q));
        } else if (i == 1) {
            while (this->pop() == 0) {
            }
            RL_ASSERT(this->epipe);
        } else {
            weft_spsc_close(this->q);
        }
    }
};

/* A consumer parked on an empty ring is woken by a push. */
template <unsigned Flags> struct parked_consumer : spsc_scenario<parked_consumer<Flags>, 2> {
    static unsigned flags()
    {
        return Flags;
    }
    void thread(unsigned i)
    {
        if (i == 0)
            RL_ASSERT(this->try_push(1));
        else
            RL_ASSERT(this->pop() == 0);
    }
};

/* A producer parked on a full ring (capacity 1, holding item 1) is woken
 * by a pop. */
template <unsigned Flags> struct parked_producer : spsc_scenario<parked_producer<Flags>, 2> {
    static size_t capacity()
    {
        return 1;
    }
    static unsigned flags()
    {
        return Flags;
    }
    void before()
    {
        spsc_scenario<parked_producer<Flags>, 2>::before();
        RL_ASSERT(this->try_push(1));
    }
    void thread(unsigned i)
    {
        if (i == 0)
            RL_ASSERT(this->push(2) == 0);
        else
            RL_ASSERT(this->try_pop());
    }
};

} /* namespace */

int main()
{
    using namespace weft_model;
    /* Searches sized so that the program runs in about 15 s on one core
     * (1.9 million schedules):
     * a context bound of k explores every schedule with at most k
     * preemptions.  Capacity 2: two lines of seven slots (words 1-7 and
     * 9-15); the positions start at 6 (item 1 ends line 0, item 2 starts
     * line 1) or 13 (item 1 ends the array, item 2 wraps to line 0). */
    run<across_lines<6>>("spsc: push/pop across a line boundary", bounded(5));
    run<across_lines<13>>("spsc: push/pop across the array's end", bounded(4));
    run<batches>("spsc: push_many across a line vs pop_many", bounded(7));
    /* process-private rings, membarrier working: the asymmetric fences */
    run<parked_consumer<0>>("spsc private: parked consumer woken by a push", bounded(5));
    run<parked_producer<0>>("spsc private: parked producer woken by a pop", bounded(6));
    run<close_vs_push<0>>("spsc private: close races a push", bounded(4));
    run<third_party_close<0>>("spsc private: close from a third thread races a push", bounded(3));
    /* process-shared rings use seq_cst fences on both sides and never
     * membarrier; with membarrier refused the model's light half
     * (atomic_signal_fence) is nothing, as in the machine code */
    run<parked_consumer<WEFT_SHARED>>("spsc shared: parked consumer woken by a push", bounded(5),
                                      MEMBARRIER_NEVER);
    run<parked_producer<WEFT_SHARED>>("spsc shared: parked producer woken by a pop", bounded(6),
                                      MEMBARRIER_NEVER);
    run<close_vs_push<WEFT_SHARED>>("spsc shared: close races a push", bounded(4),
                                    MEMBARRIER_NEVER);
    run<third_party_close<WEFT_SHARED>>("spsc shared: close from a third thread races a push",
                                        bounded(3), MEMBARRIER_NEVER);
    /* private rings, membarrier registered at init and refused later (a
     * seccomp filter): light fences must become real ones, and a pop on the
     * sealed ring waits out close_grace before it reports EPIPE */
    run<close_vs_push<0>>("spsc private, membarrier fails after init: close races a push",
                          bounded(3), MEMBARRIER_FAILS_LATER);
    run<third_party_close<0>>(
        "spsc private, membarrier fails after init: close from a third thread", bounded(2),
        MEMBARRIER_FAILS_LATER);
    run<parked_consumer<0>>("spsc private, membarrier fails after init: parked consumer",
                            bounded(4), MEMBARRIER_FAILS_LATER);
    run<parked_producer<0>>("spsc private, membarrier fails after init: parked producer",
                            bounded(4), MEMBARRIER_FAILS_LATER);
    return exit_status();
}
