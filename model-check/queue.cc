/*
 * queue.cc - model checking of src/queue.c (the unbounded MPMC queue) under
 * Relacy, with segments of 2 cells (WEFT_MODEL) so that every scenario
 * crosses from a full segment to the next: the producer that finds its
 * segment full links a new one holding its item, the consumer that leaves
 * a segment moves tail past it, then head, and retires it to the queue's
 * weft_epoch domain, whose advances free it into the spare slots for reuse.
 *
 * queue.c is included as it ships; what stands for the rest of the library:
 *  - mmap/munmap: a zeroed block from the model's arena, and nothing;
 *  - the epoch domain: its sections (src/epoch_internal.h) and protocols
 *    (src/epoch_sync.h) as they ship, over one record per model thread
 *    (weft_model_epoch_rec); the functions of epoch.c that queue.c calls
 *    (create, destroy, retire, poll, barrier, synchronize) are written
 *    here from those, with a try-lock for the domain's mutex;
 *  - the eventcount: src/eventcount.c itself.
 *
 * What every scenario asserts:
 *  - exactly once: each pushed item is popped once, nothing else is;
 *  - order: each producer's items come out in its order, and one consumer
 *    sees them so;
 *  - publication: each item's payload (an rl::var written before the push)
 *    is read after the pop without a race;
 *  - close: every push that returned 0 is popped before a blocking pop
 *    returns EPIPE.
 * Limits: a freed segment's cells are atomics, so a use after its free is
 * not a race the model sees (the stress suite's TSan and ASan runs are
 * what would); and Relacy makes seq_cst fences synchronise with each other,
 * so the sections' fences hide a relaxed publication (TSan catches that
 * one: mutant queue-publish-relaxed).  Searches are context-bounded.
 */
#include "model.h"

#include <sys/mman.h>

#include "eventcount.c"
#include "epoch_sync.h"
#include "epoch_model.h"
#include "doorbell_model.h"

namespace
{
void *model_mmap(size_t len)
{
    void *p = calloc(1, len);
    return p ? p : MAP_FAILED;
}
} /* namespace */

#define mmap(addr, len, prot, flags, fd, off) model_mmap(len)
#define munmap(addr, len) ((void)(addr), 0)

#include "queue.c"

namespace
{

int model_threads;
rl::atomic<int> *model_mu; /* the domain's mutex, as a try-lock */

bool mu_try()
{
    int free_ = 0;
    return (*model_mu)($).compare_exchange_strong(free_, 1, rl::mo_acquire);
}
void mu_lock()
{
    while (!mu_try())
        weft_model::yield($);
}
void mu_unlock()
{
    (*model_mu)($).store(0, rl::mo_release);
}

const int MAX_ITEMS = 6;

template <class Derived, int Threads>
struct queue_scenario : weft_model::scenario<Derived, Threads> {
    weft_queue *q;
    rl::var<int> payload[MAX_ITEMS + 1];
    int got[Threads][MAX_ITEMS + 1], ngot[Threads];
    int times_popped[MAX_ITEMS + 1];

    void before()
    {
        (void)weft_model::membarrier_ok_flag($);
        model_threads = Threads;
        model_mu = static_cast<rl::atomic<int> *>(malloc(sizeof(rl::atomic<int>)));
        atomic_init(model_mu, 0);
        q = weft_queue_create();
        RL_ASSERT(q != nullptr);
        for (int t = 0; t < Threads; t++)
            ngot[t] = 0;
        for (int &n : times_popped)
            n = 0;
    }

    /* Item k of producer p: k in 1..3, p in 0..1 -> 1..6. */
    static int item_of(int p, int k)
    {
        return p * 3 + k;
    }

    void push(int item)
    {
        payload[item]($) = item * 10;
        RL_ASSERT(weft_queue_push(q, (void *)(intptr_t)item) == 0);
    }

    void take(unsigned thread, void *x)
    {
        int item = (int)(intptr_t)x;
        RL_ASSERT(item >= 1 && item <= MAX_ITEMS);
        RL_ASSERT(payload[item]($) == item * 10);
        times_popped[item]++;
        got[thread][ngot[thread]++] = item;
    }

    bool try_pop(unsigned thread)
    {
        void *x;
        if (!weft_queue_try_pop(q, &x))
            return false;
        take(thread, x);
        return true;
    }

    int total_popped()
    {
        int n = 0;
        for (int c : times_popped)
            n += c;
        return n;
    }

    /* Each consumer sees each producer's items in increasing order. */
    void check_order()
    {
        for (int t = 0; t < Threads; t++)
            for (int i = 1; i < ngot[t]; i++)
                for (int j = 0; j < i; j++)
                    if ((got[t][i] - 1) / 3 == (got[t][j] - 1) / 3)
                        RL_ASSERT(got[t][j] < got[t][i]);
    }

    void after()
    {
        void *x;
        while (weft_queue_try_pop(q, &x))
            take(0, x);
        check_order();
        weft_queue_destroy(q);
    }
};

/* Two producers of 2 items against one consumer: 4 items over 2 cells per
 * segment, so both producers race to link the next segment. */
struct two_producers : queue_scenario<two_producers, 3> {
    void thread(unsigned i)
    {
        if (i < 2) {
            push(item_of((int)i, 1));
            push(item_of((int)i, 2));
        } else {
            for (int k = 0; k < 4; k++)
                if (!try_pop(2))
                    weft_model::yield($);
        }
    }
    void after()
    {
        queue_scenario::after();
        for (int p = 0; p < 2; p++)
            for (int k = 1; k <= 2; k++)
                RL_ASSERT(times_popped[item_of(p, k)] == 1);
    }
};

/* One producer of 3 items against two consumers: consumers cross into the
 * next segment while the producer is still filling it, and one of them
 * retires the first. */
struct two_consumers : queue_scenario<two_consumers, 3> {
    void thread(unsigned i)
    {
        if (i == 0) {
            for (int k = 1; k <= 3; k++)
                push(item_of(0, k));
        } else {
            for (int k = 0; k < 3; k++)
                if (!try_pop(i))
                    weft_model::yield($);
        }
    }
    void after()
    {
        queue_scenario::after();
        for (int k = 1; k <= 3; k++)
            RL_ASSERT(times_popped[item_of(0, k)] == 1);
    }
};

/* close against a producer: every push that returned 0 is popped, a
 * blocking pop ends with EPIPE. */
struct close_vs_push : queue_scenario<close_vs_push, 3> {
    int accepted;
    void before()
    {
        queue_scenario::before();
        accepted = 0;
    }
    void thread(unsigned i)
    {
        if (i == 0) {
            for (int k = 1; k <= 3; k++) {
                int item = item_of(0, k);
                payload[item]($) = item * 10;
                int rc = weft_queue_push(q, (void *)(intptr_t)item);
                RL_ASSERT(rc == 0 || rc == EPIPE);
                if (rc == 0)
                    accepted++;
            }
        } else if (i == 1) {
            weft_queue_close(q);
        } else {
            void *x;
            while (weft_queue_pop(q, &x) == 0)
                take(2, x);
        }
    }
    void after()
    {
        queue_scenario::after();
        RL_ASSERT(total_popped() == accepted);
    }
};

/* A blocking pop on the empty queue and one push: the pop parks (or sees
 * the item first) and the push's notify must wake it; a lost wake-up
 * leaves it parked, which Relacy reports as a deadlock.  (The systematic
 * run's wake.remove mutants of notify() and weft_queue_push survived
 * everything but a unit test's time-out before this scenario.) */
struct parked_pop : queue_scenario<parked_pop, 2> {
    void thread(unsigned i)
    {
        if (i == 0) {
            int item = item_of(0, 1);
            payload[item]($) = item * 10;
            RL_ASSERT(weft_queue_push(q, (void *)(intptr_t)item) == 0);
        } else {
            void *x;
            RL_ASSERT(weft_queue_pop(q, &x) == 0);
            take(1, x);
        }
    }
    void after()
    {
        RL_ASSERT(total_popped() == 1);
        queue_scenario::after();
    }
};

} /* namespace */

/* ---- the parts of epoch.c that queue.c calls ---------------------------- */

struct epoch_rec *weft_model_epoch_rec(weft_epoch *d)
{
    (void)d;
    return model_epoch_recs[rl::thread_index()];
}

weft_epoch *weft_epoch_create(void)
{
    return model_epoch_new(model_threads, weft_internal_asym_fences());
}

void weft_epoch_destroy(weft_epoch *d)
{
    for (struct epoch_rec *r = atomic_load_explicit(&d->records, memory_order_acquire); r;
         r = r->next)
        free_log(r, UINT64_MAX);
}

void weft_epoch_retire(weft_epoch *d, void *p, void (*free_fn)(void *p))
{
    RL_ASSERT(log_append(d, epoch_rec_of(d), p, free_fn));
}

void weft_internal_epoch_poll(weft_epoch *d, unsigned advances)
{
    if (!mu_try())
        return;
    for (unsigned i = 0; i < advances && try_advance(d); i++)
        ;
    free_old(d);
    mu_unlock();
}

static void advance_by(weft_epoch *d, uint64_t n)
{
    mu_lock();
    uint64_t target = atomic_load_explicit(&d->epoch, memory_order_relaxed) + n;
    while (atomic_load_explicit(&d->epoch, memory_order_relaxed) < target)
        if (!try_advance(d))
            weft_model::yield($);
    if (n == EPOCH_GRACE)
        free_old(d);
    mu_unlock();
}

void weft_internal_epoch_barrier(weft_epoch *d)
{
    advance_by(d, 2);
}

void weft_epoch_synchronize(weft_epoch *d)
{
    advance_by(d, EPOCH_GRACE);
}

int main()
{
    using namespace weft_model;
    run<two_producers>("queue: two producers cross a segment, one consumer", bounded(2));
    run<two_consumers>("queue: one producer, two consumers cross and retire", bounded(2));
    run<close_vs_push>("queue: close vs push, blocking pop to EPIPE", bounded(1));
    run<parked_pop>("queue: a blocking pop parks and the push wakes it", bounded(3));
    return exit_status();
}
