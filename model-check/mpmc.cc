/*
 * mpmc.cc - model checking of src/mpmc.c (Vyukov's bounded ring with a
 * closed mark and two eventcounts) under Relacy.  The ring comes from
 * weft_mpmc_create (process-private: membarrier in prepare against the
 * light fence in notify, which the shim makes a seq_cst fence while
 * membarrier works).
 *
 * What every scenario asserts (include/weft/mpmc.h is the contract):
 *  - exactly once: every item whose push succeeded is popped exactly once,
 *    by a thread or by the drain once all threads end, and nothing is
 *    popped that was not pushed;
 *  - order: in every consumer's pops, one producer's items come in the
 *    order it pushed them; the drain's items of a producer are younger than
 *    all its items the threads took (the drain claims after every pop did);
 *    the items of one pop_many (and the drain) are consecutive positions, so
 *    the items of one push_many stay adjacent there;
 *  - publication: each item's payload is an rl::var written before its
 *    push and read by whoever pops it (a missing release/acquire on the
 *    slot's seq is a data race); where a scenario says so, what a consumer
 *    wrote before popping is read by the producer whose push reuses the
 *    slot, and what the closer wrote before close is read by a consumer
 *    that got EPIPE;
 *  - no lost wake-up: every blocking push and pop returns (a thread parked
 *    forever on a futex is reported as a deadlock), and once all threads
 *    end no thread is still announced on either eventcount.
 * What try_pop false / try_push false mean is weaker than "empty" / "full"
 * (a claimed slot not yet published or released; see the header): the
 * scenarios assert nothing about them beyond "nothing changed".
 *
 * Items are small integers made into pointers: producer p's k-th item is
 * p * PER_PRODUCER + k + 1.
 */
#include "model.h"

#include "eventcount.c"
#include "doorbell_model.h"
#include "mpmc.c"
#include "lags.h"

namespace
{

using namespace weft_model_lags;

const int PER_PRODUCER = 4;
const int MAX_PRODUCERS = 2;
const int MAX_ID = MAX_PRODUCERS * PER_PRODUCER;
const int MAX_TAKES = MAX_ID + 1;

void *const UNTOUCHED = (void *)(intptr_t)-1; /* *item before a pop */

int item(int producer, int k)
{
    return producer * PER_PRODUCER + k + 1;
}

int producer_of(int id)
{
    return (id - 1) / PER_PRODUCER;
}

int rank_of(int id)
{
    return (id - 1) % PER_PRODUCER;
}


/* The shared state of one iteration: the ring, the payloads, what was
 * pushed (set by the item's producer) and who took what (each thread its
 * own row; row Threads is the drain in after()).  Each pop call is a
 * group: a pop_many's items are consecutive positions. */
template <class Derived, int Threads>
struct mpmc_scenario : weft_model::scenario<Derived, Threads> {
    static const int ROWS = Threads + 1;
    weft_mpmc *q;
    rl::var<int> payload[MAX_ID + 1];
    bool pushed[MAX_ID + 1];
    int batch_of[MAX_ID + 1]; /* items pushed by one push_many share it */
    int next_batch;
    int taken[ROWS][MAX_TAKES];
    int group[ROWS][MAX_TAKES];
    int ntaken[ROWS], ngroups[ROWS];

    static size_t capacity()
    {
        return 1;
    }

    void before()
    {
        (void)weft_model::membarrier_ok_flag($);
        q = weft_mpmc_create(Derived::capacity());
        RL_ASSERT(q != nullptr);
        RL_ASSERT(weft_mpmc_capacity(q) == Derived::capacity());
        for (int i = 0; i <= MAX_ID; i++) {
            pushed[i] = false;
            batch_of[i] = -1 - i; /* alone */
        }
        next_batch = 0;
        for (int r = 0; r < ROWS; r++)
            ntaken[r] = ngroups[r] = 0;
    }

    /* ---- producers ---- */

    void *make(int id)
    {
        payload[id]($) = id * 10;
        return (void *)(intptr_t)id;
    }

    bool try_push(int id)
    {
        bool ok = weft_mpmc_try_push(q, make(id));
        if (ok)
            pushed[id] = true;
        return ok;
    }

    int push(int id)
    {
        int r = weft_mpmc_push(q, make(id));
        RL_ASSERT(r == 0 || r == EPIPE);
        if (r == 0)
            pushed[id] = true;
        return r;
    }

    /* push_many of producer p's items k0 .. k0+n-1 */
    size_t try_push_many(int p, int k0, size_t n)
    {
        void *items[PER_PRODUCER];
        int b = next_batch++;
        for (size_t i = 0; i < n; i++) {
            items[i] = make(item(p, k0 + (int)i));
            batch_of[item(p, k0 + (int)i)] = b;
        }
        size_t k = weft_mpmc_try_push_many(q, items, n);
        RL_ASSERT(k <= n && k <= weft_mpmc_capacity(q));
        for (size_t i = 0; i < k; i++) /* a prefix */
            pushed[item(p, k0 + (int)i)] = true;
        return k;
    }

    /* ---- consumers ---- */

    void record(unsigned row, void *x)
    {
        int id = (int)(intptr_t)x;
        RL_ASSERT(id >= 1 && id <= MAX_ID);
        /* the payload written before the push: a race if not published */
        RL_ASSERT(payload[id]($) == id * 10);
        RL_ASSERT(ntaken[row] < MAX_TAKES);
        group[row][ntaken[row]] = ngroups[row];
        taken[row][ntaken[row]++] = id;
    }

    bool try_pop(unsigned row)
    {
        void *x = UNTOUCHED;
        if (!weft_mpmc_try_pop(q, &x)) {
            RL_ASSERT(x == UNTOUCHED);
            return false;
        }
        record(row, x);
        ngroups[row]++;
        return true;
    }

    int pop(unsigned row)
    {
        void *x = UNTOUCHED;
        int r = weft_mpmc_pop(q, &x);
        RL_ASSERT(r == 0 || r == EPIPE);
        if (r == 0) {
            record(row, x);
            ngroups[row]++;
        } else {
            RL_ASSERT(x == UNTOUCHED);
        }
        return r;
    }

    size_t try_pop_many(unsigned row, size_t n)
    {
        void *items[MAX_TAKES];
        for (size_t i = 0; i < n; i++)
            items[i] = UNTOUCHED;
        size_t k = weft_mpmc_try_pop_many(q, items, n);
        RL_ASSERT(k <= n);
        for (size_t i = 0; i < k; i++)
            record(row, items[i]);
        for (size_t i = k; i < n; i++)
            RL_ASSERT(items[i] == UNTOUCHED);
        if (k > 0)
            ngroups[row]++;
        return k;
    }

    /* ---- the end ---- */

    void check_order()
    {
        for (int r = 0; r < ROWS; r++)
            for (int a = 0; a < ntaken[r]; a++)
                for (int b = a + 1; b < ntaken[r]; b++)
                    if (producer_of(taken[r][a]) == producer_of(taken[r][b]))
                        RL_ASSERT(rank_of(taken[r][a]) < rank_of(taken[r][b]));
        /* the drain claimed after every thread's pop had claimed */
        const int drain = Threads;
        for (int r = 0; r < Threads; r++)
            for (int a = 0; a < ntaken[r]; a++)
                for (int b = 0; b < ntaken[drain]; b++)
                    if (producer_of(taken[r][a]) == producer_of(taken[drain][b]))
                        RL_ASSERT(rank_of(taken[r][a]) < rank_of(taken[drain][b]));
        /* a group is consecutive positions: a push_many's items that it
         * holds are adjacent, and it holds the next one unless it ends */
        for (int r = 0; r < ROWS; r++)
            for (int a = 0; a < ntaken[r]; a++) {
                int id = taken[r][a];
                bool last = a + 1 == ntaken[r] || group[r][a + 1] != group[r][a];
                bool first = a == 0 || group[r][a - 1] != group[r][a];
                if (rank_of(id) + 1 < PER_PRODUCER && batch_of[id + 1] == batch_of[id] &&
                    pushed[id + 1] && !last)
                    RL_ASSERT(taken[r][a + 1] == id + 1);
                if (rank_of(id) > 0 && batch_of[id - 1] == batch_of[id] && !first)
                    RL_ASSERT(taken[r][a - 1] == id - 1);
            }
    }

    void after()
    {
        const int drain = Threads;
        void *x;
        while (weft_mpmc_try_pop(q, &x))
            record(drain, x);
        ngroups[drain]++;
        RL_ASSERT(weft_mpmc_size(q) == 0);
        int seen[MAX_ID + 1] = { 0 };
        for (int r = 0; r < ROWS; r++)
            for (int a = 0; a < ntaken[r]; a++)
                seen[taken[r][a]]++;
        for (int i = 1; i <= MAX_ID; i++)
            RL_ASSERT(seen[i] == (pushed[i] ? 1 : 0));
        check_order();
        RL_ASSERT(announced(not_empty(q)) == 0);
        RL_ASSERT(announced(not_full(q)) == 0);
        static_cast<Derived *>(this)->check();
        weft_mpmc_destroy(q);
    }

    void check() {}
};

/* ---- the fast path: no thread parks ------------------------------------ */

/* Producer 0 tries to push two items, producer 1 one; consumer 2 tries to
 * pop twice, consumer 3 once.  At capacity 1 a second push can only land
 * in the slot a consumer has just handed back (the next lap). */
template <size_t Cap> struct try_2p2c : mpmc_scenario<try_2p2c<Cap>, 4> {
    static size_t capacity()
    {
        return Cap;
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            this->try_push(item(0, 0));
            this->try_push(item(0, 1));
        } else if (i == 1) {
            this->try_push(item(1, 0));
        } else if (i == 2) {
            this->try_pop(2);
            this->try_pop(2);
        } else {
            this->try_pop(3);
        }
    }
};

/* Capacity 1 holding one item: a consumer pops it while a producer tries
 * to push into the same slot, one lap later.  When the push succeeds, what
 * the consumer wrote before its pop is visible (the header: a consumer's
 * pop happens-before the push that reuses the slot). */
struct slot_reuse : mpmc_scenario<slot_reuse, 2> {
    rl::var<int> note; /* written by the consumer before its pop */
    void before()
    {
        mpmc_scenario<slot_reuse, 2>::before();
        RL_ASSERT(try_push(item(1, 0)));
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            note($) = 1;
            RL_ASSERT(try_pop(0)); /* nobody else pops: the item is there */
        } else if (try_push(item(0, 0))) {
            RL_ASSERT(note($) == 1);
        }
    }
};

/* Producer 0 pushes three items with one push_many (capacity 2: at most
 * two fit), producer 1 one item; consumer 2 pops with pop_many(3),
 * consumer 3 with try_pop. */
struct batches : mpmc_scenario<batches, 4> {
    static size_t capacity()
    {
        return 2;
    }
    void thread(unsigned i)
    {
        if (i == 0)
            try_push_many(0, 0, 3);
        else if (i == 1)
            try_push(item(1, 0));
        else if (i == 2)
            try_pop_many(2, 3);
        else
            try_pop(3);
    }
};

/* Two push_many of two items each against two pop_many(4): each batch
 * stays adjacent and in order. */
struct batches_2 : mpmc_scenario<batches_2, 3> {
    static size_t capacity()
    {
        return 4;
    }
    void thread(unsigned i)
    {
        if (i < 2) {
            try_push_many(i, 0, 2);
        } else {
            try_pop_many(2, 4);
            try_pop_many(2, 4);
        }
    }
};

/* close against a pop on an empty ring, without parking: the pop returns
 * EPIPE once it sees the mark, and then sees what the closer wrote. */
struct close_vs_pop : mpmc_scenario<close_vs_pop, 2> {
    rl::var<int> note; /* written by the closer before close */
    void thread(unsigned i)
    {
        if (i == 0) {
            RL_ASSERT(pop(0) == EPIPE);
            RL_ASSERT(note($) == 1);
        } else {
            note($) = 1;
            weft_mpmc_close(q);
        }
    }
};

/* closed() true: what the closer wrote before close is visible. */
struct closed_flag : mpmc_scenario<closed_flag, 2> {
    rl::var<int> note;
    void thread(unsigned i)
    {
        if (i == 0) {
            if (weft_mpmc_closed(q))
                RL_ASSERT(note($) == 1);
        } else {
            note($) = 1;
            weft_mpmc_close(q);
        }
    }
};

/* A push racing close: if it fails, what the closer wrote before close is
 * visible (the header: close happens-before every call that reports the
 * ring closed, EPIPE from a push included). */
struct close_vs_push : mpmc_scenario<close_vs_push, 2> {
    rl::var<int> note;
    void thread(unsigned i)
    {
        if (i == 0) {
            if (push(item(0, 0)) == EPIPE)
                RL_ASSERT(note($) == 1);
        } else {
            note($) = 1;
            weft_mpmc_close(q);
        }
    }
};

/* ---- parking ------------------------------------------------------------ */

/* A consumer's pop on an empty ring (capacity 2), then (after a lag) a
 * try_push, a push_many of two or a push_timed with timeout 0 (which tries
 * once, and must wake like the others): the pop returns the first item. */
struct parked_consumer : mpmc_scenario<parked_consumer, 2> {
    static size_t capacity()
    {
        return 2;
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            RL_ASSERT(pop(0) == 0);
        } else {
            lag_any();
            switch (rl::rand(3)) {
            case 0:
                RL_ASSERT(try_push(item(0, 0)));
                break;
            case 1:
                RL_ASSERT(try_push_many(0, 0, 2) == 2);
                break;
            default:
                RL_ASSERT(weft_mpmc_push_timed(q, make(item(0, 0)), 0) == 0);
                pushed[item(0, 0)] = true;
            }
        }
    }
};

/* A producer's push on a full ring (capacity 1), then (after a lag) a
 * try_pop or a pop_many: the push returns, and sees what the consumer wrote
 * before its pop. */
struct parked_producer : mpmc_scenario<parked_producer, 2> {
    rl::var<int> note; /* written by the consumer before its pop */
    void before()
    {
        mpmc_scenario<parked_producer, 2>::before();
        RL_ASSERT(try_push(item(1, 0)));
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            RL_ASSERT(push(item(0, 0)) == 0);
            RL_ASSERT(note($) == 1);
        } else {
            note($) = 1;
            lag_any();
            switch (rl::rand(3)) {
            case 0:
                RL_ASSERT(try_pop(1));
                break;
            case 1:
                RL_ASSERT(try_pop_many(1, 2) == 1);
                break;
            default: {
                void *x = UNTOUCHED;
                RL_ASSERT(weft_mpmc_pop_timed(q, &x, 0) == 0);
                record(1, x);
                ngroups[1]++;
            }
            }
        }
    }
};

/* close after a lag wakes a consumer parked on an empty ring: EPIPE, and
 * it sees what the closer wrote. */
struct close_wakes_consumer : mpmc_scenario<close_wakes_consumer, 2> {
    rl::var<int> note;
    void thread(unsigned i)
    {
        if (i == 0) {
            RL_ASSERT(pop(0) == EPIPE);
            RL_ASSERT(note($) == 1);
        } else {
            note($) = 1;
            lag_any();
            weft_mpmc_close(q);
        }
    }
};

/* close after a lag wakes a producer parked on a full ring (capacity 1,
 * one item, nobody pops): EPIPE, and the item stays for the drain. */
struct close_wakes_producer : mpmc_scenario<close_wakes_producer, 2> {
    void before()
    {
        mpmc_scenario<close_wakes_producer, 2>::before();
        RL_ASSERT(try_push(item(1, 0)));
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            RL_ASSERT(push(item(0, 0)) == EPIPE);
        } else {
            lag_any();
            weft_mpmc_close(q);
        }
    }
    void check()
    {
        RL_ASSERT(ntaken[2] == 1);
    }
};

/* Two consumers parked on an empty ring while a push is half done (its
 * position claimed, its slot not yet published); the ring is closed; the
 * push completes and wakes one of them, but a third consumer (the closer)
 * takes the item first.  The woken one finds the ring closed and drained:
 * it must wake the other before it returns EPIPE (pop_closed), as close's
 * wake-up is spent (the parked ones had found the ring not drained, with
 * the item pending, and parked again).  Every pop returns. */
struct closed_while_pending : mpmc_scenario<closed_while_pending, 4> {
    rl::atomic<int> done; /* the producer's push returned */
    void before()
    {
        mpmc_scenario<closed_while_pending, 4>::before();
        done($).store(0, rl::mo_relaxed);
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            try_push(item(0, 0)); /* refused if the close came first */
            done($).store(1, rl::mo_release);
        } else if (i == 1) {
            weft_mpmc_close(q);
            while (done($).load(rl::mo_acquire) == 0)
                rl::yield(1, $);
            try_pop(1);
        } else {
            pop(i);
        }
    }
};

/* Two consumers parked on an empty ring (capacity 2), then two producers
 * push one item each, from the same moment: both pops return.  The case of
 * "One subtlety" in src/mpmc.c: the second position, published first,
 * wakes a consumer that finds the first unpublished and parks again; the
 * consumer woken for the first must pass the wake-up on. */
struct parked_consumers : mpmc_scenario<parked_consumers, 4> {
    gate g;
    static size_t capacity()
    {
        return 2;
    }
    void before()
    {
        mpmc_scenario<parked_consumers, 4>::before();
        g.init();
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            lag_until(2, not_empty(q));
            g.release();
            RL_ASSERT(try_push(item(0, 0)));
        } else if (i == 1) {
            g.wait();
            RL_ASSERT(try_push(item(1, 0)));
        } else {
            RL_ASSERT(pop(i) == 0);
        }
    }
    void check()
    {
        RL_ASSERT(ntaken[4] == 0);
    }
};

/* Two producers parked on a full ring (capacity 2, two items), then two
 * consumers pop (blocking) from the same moment: both pushes return (the
 * mirror image: the second slot released first). */
struct parked_producers : mpmc_scenario<parked_producers, 4> {
    gate g;
    static size_t capacity()
    {
        return 2;
    }
    void before()
    {
        mpmc_scenario<parked_producers, 4>::before();
        g.init();
        RL_ASSERT(try_push(item(0, 0)));
        RL_ASSERT(try_push(item(1, 0)));
    }
    void thread(unsigned i)
    {
        if (i < 2) {
            RL_ASSERT(push(item(i, 1)) == 0);
        } else if (i == 2) {
            lag_until(2, not_full(q));
            g.release();
            RL_ASSERT(pop(2) == 0);
        } else {
            g.wait();
            RL_ASSERT(pop(3) == 0);
        }
    }
    void check()
    {
        RL_ASSERT(ntaken[4] == 2);
    }
};

/* Each producer pushes one item with push, each consumer pops one with pop,
 * no lags: hand-offs while the other side spins. */
template <size_t Cap> struct blocking_2p2c : mpmc_scenario<blocking_2p2c<Cap>, 4> {
    static size_t capacity()
    {
        return Cap;
    }
    void thread(unsigned i)
    {
        if (i < 2)
            RL_ASSERT(this->push(item(i, 0)) == 0);
        else
            RL_ASSERT(this->pop(i) == 0);
    }
    void check()
    {
        RL_ASSERT(this->ntaken[4] == 0);
    }
};

/* A producer pushing (blocking) two items into capacity 1, a consumer
 * popping (blocking) until EPIPE, and close from a third thread, at once
 * or once the others are parked or done.  The header's contract: the
 * consumer gets every item whose push returned 0 (it drains the ring before
 * EPIPE, so the drain finds nothing), in order; once a push returned EPIPE
 * closed() is true and every later push fails; after EPIPE pops keep
 * failing; the consumer that got EPIPE sees what the closer wrote; a push
 * that starts after close returned fails. */
struct close_race : mpmc_scenario<close_race, 3> {
    rl::var<int> note; /* written by the closer before close */

    void thread(unsigned i)
    {
        if (i == 0) {
            for (int k = 0; k < 2; k++)
                if (push(item(0, k)) == EPIPE) {
                    RL_ASSERT(weft_mpmc_closed(q));
                    RL_ASSERT(!weft_mpmc_try_push(q, (void *)(intptr_t)item(0, 3)));
                    RL_ASSERT(weft_mpmc_push(q, (void *)(intptr_t)item(0, 3)) == EPIPE);
                    break;
                }
        } else if (i == 1) {
            while (pop(1) == 0) {
            }
            RL_ASSERT(weft_mpmc_closed(q));
            RL_ASSERT(note($) == 1);
            void *x = UNTOUCHED;
            RL_ASSERT(!weft_mpmc_try_pop(q, &x) && x == UNTOUCHED);
            RL_ASSERT(weft_mpmc_pop(q, &x) == EPIPE && x == UNTOUCHED);
        } else {
            note($) = 1;
            if (rl::rand(2)) /* at once, or once the consumer waits */
                lag_until(1, not_empty(q));
            weft_mpmc_close(q);
            RL_ASSERT(weft_mpmc_closed(q));
            RL_ASSERT(!weft_mpmc_try_push(q, (void *)(intptr_t)item(1, 0)));
            RL_ASSERT(weft_mpmc_push(q, (void *)(intptr_t)item(1, 0)) == EPIPE);
        }
    }
    void check()
    {
        RL_ASSERT(ntaken[3] == 0);
    }
};

/* A scenario that src/ does not pass yet, as a TAP TODO: reported, and not
 * counted as a failure; once it passes the harness reports an unexpected
 * pass (XPASS, a failure) until the mark is removed. */
template <class T>
void run_todo(const char *name, weft_model::search s, weft_model::membarrier_mode mb,
              const char *why)
{
    char line[512];
    snprintf(line, sizeof line, "%s # TODO %s", name, why);
    if (!weft_model::run<T>(line, s, mb))
        weft_model::results().failed--;
}

} /* namespace */

int main()
{
    using namespace weft_model;
    const char *kb = getenv("MPMC_K");
    unsigned K = kb ? (unsigned)atoi(kb) : 1;
    const char *kb4 = getenv("MPMC_K4");
    unsigned K4 = kb4 ? (unsigned)atoi(kb4) : 1;
    /* Scenarios where no thread parks run with the light fences as the
     * machine code has them: weft_internal_ec_fence_light is a compiler
     * barrier in a private ring's notify, and nothing calls membarrier
     * (MEMBARRIER_FAILS_LATER changes nothing until a waiter prepares).
     * With MEMBARRIER_WORKS the shim makes every light fence a seq_cst
     * fence, which (beyond the Dekker pair with the waiters' membarrier it
     * stands for) would also act as an acquire and release fence and hide
     * a missing acquire or release on the slots and the tail. */
    const membarrier_mode COMPILED = MEMBARRIER_FAILS_LATER;
    run<try_2p2c<1>>("mpmc: 2P x 2C try_push/try_pop, capacity 1", bounded(K4), COMPILED);
    run<try_2p2c<2>>("mpmc: 2P x 2C try_push/try_pop, capacity 2", bounded(K4), COMPILED);
    run<slot_reuse>("mpmc: pop vs try_push into the same slot, capacity 1", full, COMPILED);
    run<batches>("mpmc: push_many/pop_many vs try_push/try_pop, capacity 2", bounded(K4), COMPILED);
    run<batches_2>("mpmc: two push_many vs pop_many, capacity 4", bounded(K), COMPILED);
    run<close_vs_pop>("mpmc: close vs pop on an empty ring", bounded(K + 2), COMPILED);
    run<closed_flag>("mpmc: close vs closed()", full, COMPILED);
    run<close_vs_push>("mpmc: close vs push, EPIPE sees the closer's writes", full, COMPILED);
    /* Parking: membarrier works, the light fences pair with it. */
    run<parked_consumer>("mpmc: parked consumer woken by a push", bounded(K + 2));
    run<parked_producer>("mpmc: parked producer woken by a pop, capacity 1", bounded(K + 2));
    run<close_wakes_consumer>("mpmc: close wakes a parked consumer", bounded(K + 2));
    run<close_wakes_producer>("mpmc: close wakes a parked producer", bounded(K + 2));
    /* bound 1, not 0: without pass_on_consumers (pass_on_producers) these
     * fail at schedule 13504 (216) of bound 1 and pass at bound 0, as do
     * 200000 random schedules.  17 s and 43 s when they pass. */
    run<parked_consumers>("mpmc: 2 parked consumers, 2 pushes, capacity 2", bounded(K4));
    run<parked_producers>("mpmc: 2 parked producers, 2 pops, capacity 2", bounded(K4));
    run<blocking_2p2c<1>>("mpmc: 2P x 2C push/pop, capacity 1", bounded(K4 - 1));
    run<blocking_2p2c<2>>("mpmc: 2P x 2C push/pop, capacity 2", bounded(K4 - 1));
    run<close_race>("mpmc: close vs blocking push and pop, capacity 1", bounded(K + 1));
    run<closed_while_pending>("mpmc: close while a push is pending, 2 parked consumers",
                              bounded(K4));
    return exit_status();
}
