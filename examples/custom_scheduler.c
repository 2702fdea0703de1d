/* custom_scheduler.c - a work-stealing scheduler assembled from weft's parts.
 *
 * weft_pool is one way to combine the parts; this is a smaller one: one
 * weft_deque per worker (push/pop own work, steal from others), a weft_mpmc
 * ring for jobs from outside, and a weft_eventcount on which idle workers
 * sleep without lost wake-ups (prepare, re-check every source, then wait
 * or cancel; notify after making work visible).  The job is a recursive
 * range sum that splits until ranges are small; the result is checked. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft/deque.h>
#include <weft/eventcount.h>
#include <weft/mpmc.h>

#define NT 4

struct job {
    uint64_t lo, hi;
};

static weft_deque *dq[NT];
static weft_mpmc *inject;
static weft_eventcount ec;
static atomic_long pending; /* jobs not finished; 0: all done */
static atomic_int closing;
static atomic_uint_least64_t sum;
static _Thread_local int self = -1;

static void push(struct job *j)
{
    /* relaxed: the job is published below (push/try_push release); the
     * decrement of the job that is running us comes later in pending's
     * order, so pending cannot reach 0 while this job is outstanding */
    atomic_fetch_add_explicit(&pending, 1, memory_order_relaxed);
    if (self < 0 || weft_deque_push(dq[self], j) != 0)
        while (!weft_mpmc_try_push(inject, j))
            sched_yield();
    weft_eventcount_notify_one(&ec); /* after the job is visible */
}

static struct job *find(void)
{
    void *j;
    if (self >= 0 && weft_deque_pop(dq[self], &j))
        return j;
    if (weft_mpmc_try_pop(inject, &j))
        return j;
    for (int i = 0; i < NT; i++)
        if (i != self && weft_deque_steal(dq[i], &j) == WEFT_STEAL_OK)
            return j;
    return NULL;
}

static void run(struct job *j)
{
    if (j->hi - j->lo > 10000) { /* split: two new jobs */
        uint64_t mid = j->lo + (j->hi - j->lo) / 2;
        struct job *a = malloc(sizeof *a), *b = malloc(sizeof *b);
        if (!a || !b)
            abort();
        *a = (struct job){ j->lo, mid };
        *b = (struct job){ mid, j->hi };
        push(a);
        push(b);
    } else {
        uint64_t s = 0;
        for (uint64_t i = j->lo; i < j->hi; i++)
            s += i;
        atomic_fetch_add_explicit(&sum, s, memory_order_relaxed); /* read after join */
    }
    free(j);
    /* acq_rel: the last finisher has seen every other job's work (release
     * sequence); pairs with the acquire load in main */
    if (atomic_fetch_sub_explicit(&pending, 1, memory_order_acq_rel) == 1)
        weft_eventcount_notify_all(&ec); /* wake the main thread */
}

static void *worker(void *arg)
{
    self = (int)(intptr_t)arg;
    for (;;) {
        struct job *j = find();
        if (j) {
            run(j);
            continue;
        }
        uint32_t key = weft_eventcount_prepare(&ec);
        if ((j = find()) != NULL) { /* re-check after announcing */
            weft_eventcount_cancel(&ec);
            run(j);
        } else if (atomic_load_explicit(&closing,
                                        memory_order_acquire)) { /* pairs with main's release */
            weft_eventcount_cancel(&ec);
            return NULL;
        } else {
            weft_eventcount_wait(&ec, key);
        }
    }
}

int main(void)
{
    const uint64_t n = 50000000;
    pthread_t th[NT];
    inject = weft_mpmc_create(64);
    weft_eventcount_init(&ec, 0);
    for (int i = 0; i < NT; i++)
        if (!(dq[i] = weft_deque_create(0)))
            return 1;
    if (!inject)
        return 1;
    for (int i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);

    struct job *root = malloc(sizeof *root);
    *root = (struct job){ 0, n };
    push(root);
    for (;;) { /* wait for pending == 0, parked on the same eventcount */
        uint32_t key = weft_eventcount_prepare(&ec);
        if (atomic_load_explicit(&pending, memory_order_acquire) == 0) {
            weft_eventcount_cancel(&ec);
            break;
        }
        weft_eventcount_wait(&ec, key);
    }
    atomic_store_explicit(&closing, 1, memory_order_release);
    weft_eventcount_notify_all(&ec);
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NT; i++) /* only now: others may steal until they exit */
        weft_deque_destroy(dq[i]);
    weft_mpmc_destroy(inject);

    uint64_t want = n * (n - 1) / 2;
    uint64_t got = atomic_load_explicit(&sum, memory_order_relaxed); /* after join */
    printf("sum of 0..%llu = %llu (%s)\n", (unsigned long long)n - 1, (unsigned long long)got,
           got == want ? "right" : "WRONG");
    return got == want ? 0 : 1;
}
