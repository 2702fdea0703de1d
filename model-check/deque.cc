/*
 * deque.cc - model checking of src/deque.c (the Chase-Lev deque) under
 * Relacy.  Built twice: WEFT_DEQUE_FENCES=1 (Le et al.'s seq_cst fences,
 * the form non-x86 targets ship) and =0 (seq_cst accesses, the form x86 and
 * the TSan build ship).
 *
 * What every scenario asserts:
 *  - exactly once: every pushed item is taken by exactly one pop or steal
 *    (what is left is drained by the owner once all threads end), and
 *    nothing is taken that was not pushed;
 *  - order: the owner pops newest first (LIFO at the bottom: an item it
 *    pops after another, and that was already pushed then, is older), one
 *    thief's successive steals return increasing items (FIFO at the top);
 *  - publication: each item's payload is an rl::var written before its
 *    push and read by whoever takes it, so a missing release/acquire edge
 *    is a data race Relacy reports.
 * Items are 1..N (pointers made from small integers), pushed in that order.
 */
#include "model.h"

#include "deque.c"

namespace
{

const int MAX_ITEMS = 4;

/* The shared state of one iteration: the deque, the payloads, and who took
 * what.  Takers record into their own row, so no recording races. */
template <class Derived, int Threads>
struct deque_scenario : weft_model::scenario<Derived, Threads> {
    weft_deque *d;
    int pushed; /* items 1..pushed were pushed (set by the owner) */
    rl::var<int> payload[MAX_ITEMS + 1];
    int taken[Threads][MAX_ITEMS + 1]; /* [thread][k]: k-th item it took */
    int ntaken[Threads];
    int pushed_at[MAX_ITEMS + 1]; /* pushed when the owner's k-th pop ran */

    void before()
    {
        d = weft_deque_create(Derived::initial_capacity());
        RL_ASSERT(d != nullptr);
        pushed = 0;
        for (int t = 0; t < Threads; t++)
            ntaken[t] = 0;
    }

    static size_t initial_capacity()
    {
        return 4;
    }

    void push(int item)
    {
        payload[item]($) = item * 10;
        RL_ASSERT(weft_deque_push(d, (void *)(intptr_t)item) == 0);
        pushed = item;
    }

    /* The pool's private push (deque_internal.h, "Private items"): no
     * thief may see item until a publish. */
    void push_private(int item)
    {
        payload[item]($) = item * 10;
        RL_ASSERT(deque_push_private(d, (void *)(intptr_t)item) == 0);
        pushed = item;
    }

    void record(unsigned thread, void *x)
    {
        int item = (int)(intptr_t)x;
        RL_ASSERT(item >= 1 && item <= MAX_ITEMS);
        /* the payload written before the push: a race if not published */
        RL_ASSERT(payload[item]($) == item * 10);
        taken[thread][ntaken[thread]++] = item;
    }

    bool pop(unsigned thread)
    {
        void *x = nullptr;
        if (!weft_deque_pop(d, &x))
            return false;
        pushed_at[ntaken[thread]] = pushed;
        record(thread, x);
        return true;
    }

    weft_steal_result steal(unsigned thread)
    {
        void *x = nullptr;
        weft_steal_result r = weft_deque_steal(d, &x);
        if (r == WEFT_STEAL_OK)
            record(thread, x);
        return r;
    }

    /* Owner's row is 0: its pops (LIFO); thieves' rows (FIFO). */
    void after()
    {
        /* LIFO: an item the owner pops later and that was pushed before
         * an earlier pop is older than what that pop returned */
        for (int k = 0; k < ntaken[0]; k++)
            for (int l = k + 1; l < ntaken[0]; l++)
                if (taken[0][l] <= pushed_at[k])
                    RL_ASSERT(taken[0][l] < taken[0][k]);
        for (int t = 1; t < Threads; t++)
            for (int k = 1; k < ntaken[t]; k++)
                RL_ASSERT(taken[t][k] > taken[t][k - 1]);
        int seen[MAX_ITEMS + 1] = { 0 };
        for (int t = 0; t < Threads; t++)
            for (int k = 0; k < ntaken[t]; k++)
                seen[taken[t][k]]++;
        void *x;
        while (weft_deque_pop(d, &x))
            seen[(int)(intptr_t)x]++;
        for (int i = 1; i <= pushed; i++)
            RL_ASSERT(seen[i] == 1);
        for (int i = pushed + 1; i <= MAX_ITEMS; i++)
            RL_ASSERT(seen[i] == 0);
        weft_deque_destroy(d);
    }
};

/* Owner pushes 1 and pops; a thief steals at once: the last item's race. */
struct pop_vs_steal_1 : deque_scenario<pop_vs_steal_1, 2> {
    void thread(unsigned i)
    {
        if (i == 0) {
            push(1);
            pop(0);
        } else {
            steal(1);
        }
    }
};

/* Owner pushes 2 and pops twice against one thief: the pop whose Dekker
 * pair decides between the general path and the last-item CAS. */
struct pop_vs_steal_2 : deque_scenario<pop_vs_steal_2, 2> {
    void thread(unsigned i)
    {
        if (i == 0) {
            push(1);
            push(2);
            pop(0);
            pop(0);
        } else {
            steal(1);
            steal(1);
        }
    }
};

/* Items pushed while the thief runs: push, pop, push, pop. */
struct interleaved_push_pop : deque_scenario<interleaved_push_pop, 2> {
    void thread(unsigned i)
    {
        if (i == 0) {
            push(1);
            push(2);
            pop(0);
            push(3);
            pop(0);
        } else {
            steal(1);
            steal(1);
        }
    }
};

/* Two thieves against the owner over 3 items. */
struct two_thieves_3 : deque_scenario<two_thieves_3, 3> {
    void thread(unsigned i)
    {
        if (i == 0) {
            push(1);
            push(2);
            push(3);
            pop(0);
            pop(0);
        } else {
            steal(i);
        }
    }
};

/* Two thieves, the owner pushing and popping its last item. */
struct two_thieves_1 : deque_scenario<two_thieves_1, 3> {
    void thread(unsigned i)
    {
        if (i == 0) {
            push(1);
            pop(0);
        } else {
            steal(i);
        }
    }
};

/* steal_batch against the owner's pops: the batch's Dekker re-check before
 * each further CAS. */
struct batch_vs_pop : deque_scenario<batch_vs_pop, 2> {
    void thread(unsigned i)
    {
        if (i == 0) {
            push(1);
            push(2);
            push(3);
            push(4);
            pop(0);
            pop(0);
            pop(0);
        } else {
            void *items[4];
            size_t n = 0;
            weft_steal_result r = weft_deque_steal_batch(d, items, 4, &n);
            RL_ASSERT((r == WEFT_STEAL_OK) == (n > 0));
            RL_ASSERT(n <= 2); /* at most half of what it saw (<= 4 items) */
            for (size_t k = 0; k < n; k++)
                record(1, items[k]);
        }
    }
};

/* A grow while a thief steals: capacity 1, so the second push copies the
 * live items into a new array that the thief must load with acquire. */
struct grow_vs_steal : deque_scenario<grow_vs_steal, 2> {
    static size_t initial_capacity()
    {
        return 1;
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            push(1);
            push(2);
            push(3);
            pop(0);
        } else {
            steal(1);
            steal(1);
        }
    }
};

/* Private items (deque_internal.h): the owner pushes 1 public and 2, 3
 * private, lets deque_share_if_dry decide on what the thief took, pops, and
 * pushes 4 private after a pop, into the slot a public pop freed.  Thieves
 * may take only published items: an unpublished one reaching a thief would
 * be taken twice (the owner pops it without any atomic), which exactly-once
 * catches; a publish without its release is a race on the payload. */
struct private_items : deque_scenario<private_items, 2> {
    void thread(unsigned i)
    {
        if (i == 0) {
            push(1);
            push_private(2);
            push_private(3);
            (void)deque_share_if_dry(d);
            pop(0);
            pop(0);
            push_private(4);
            deque_publish(d);
            pop(0);
        } else {
            steal(1);
            steal(1);
            steal(1);
        }
    }
};

/* Private items across a grow: capacity 1, so both private pushes grow the
 * array while a thief steals the public item from the old one; the publish
 * then hands the thief the new array with the private items in it. */
struct private_grow : deque_scenario<private_grow, 2> {
    static size_t initial_capacity()
    {
        return 1;
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            push(1);
            push_private(2);
            push_private(3);
            deque_publish(d);
            pop(0);
        } else {
            steal(1);
            steal(1);
        }
    }
};

} /* namespace */

int main()
{
    using namespace weft_model;
    /* searches sized to finish in seconds in both forms (the fence form's
     * full searches grow fastest); a context bound of k explores every
     * schedule with at most k preemptions */
    run<pop_vs_steal_1>("deque: pop vs steal, 1 item", full);
    run<pop_vs_steal_2>("deque: pops vs steals, 2 items", full);
    run<interleaved_push_pop>("deque: push/pop interleaved vs steals, 3 items", bounded(5));
    run<two_thieves_1>("deque: pop vs two thieves, 1 item", bounded(5));
    run<two_thieves_3>("deque: pops vs two thieves, 3 items", bounded(4));
    run<batch_vs_pop>("deque: steal_batch vs pops, 4 items", bounded(5));
    run<grow_vs_steal>("deque: grow vs steals", bounded(5));
    run<private_items>("deque: private items, share_if_dry and publish vs steals", bounded(5));
    run<private_grow>("deque: private items across a grow vs steals", bounded(5));
    return exit_status();
}
