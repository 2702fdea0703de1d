/*
 * mpmc_pipeline - a two-stage pipeline on weft_mpmc rings.
 *
 *   4 readers --jobs--> 4 workers --results--> 1 collector
 *
 * Readers push numbers into the jobs ring; workers pop them, square them and
 * push the squares into the results ring; the collector adds them up.  Each
 * stage ends the next one with weft_mpmc_close once all of its threads are
 * done: pops drain what is left and then return EPIPE, so no item is lost
 * and nobody needs a sentinel value.  Both rings are small (16 items), so
 * the blocking push and pop park and wake threads all the time; there are
 * more threads than cores on purpose.  The program checks the sum and
 * exits non-zero when it is wrong.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft/mpmc.h>

enum { READERS = 4, WORKERS = 4, PER_READER = 100000 };

static weft_mpmc *jobs, *results;
static atomic_int workers_left = WORKERS;

static void *reader(void *arg)
{
    uintptr_t first = (uintptr_t)arg * PER_READER + 1;
    for (uintptr_t n = first; n < first + PER_READER; n++)
        if (weft_mpmc_push(jobs, (void *)n) != 0)
            return NULL; /* closed: cannot happen here */
    return NULL;
}

static void *worker(void *arg)
{
    (void)arg;
    void *job;
    while (weft_mpmc_pop(jobs, &job) == 0) { /* EPIPE: closed and drained */
        uintptr_t n = (uintptr_t)job;
        weft_mpmc_push(results, (void *)(n * n));
    }
    /* the last worker out closes the next stage; acq_rel: every worker's
     * pushes happen-before the close (pairs with the other workers'
     * decrements) */
    if (atomic_fetch_sub_explicit(&workers_left, 1, memory_order_acq_rel) == 1)
        weft_mpmc_close(results);
    return NULL;
}

/* Closes the jobs ring once every reader has returned. */
static void *closer(void *arg)
{
    pthread_t *readers = arg;
    for (int i = 0; i < READERS; i++)
        pthread_join(readers[i], NULL);
    weft_mpmc_close(jobs);
    return NULL;
}

int main(void)
{
    pthread_t readers[READERS], workers[WORKERS], closing;
    jobs = weft_mpmc_create(16);
    results = weft_mpmc_create(16);
    if (jobs == NULL || results == NULL) {
        perror("weft_mpmc_create");
        return 1;
    }
    for (uintptr_t i = 0; i < WORKERS; i++)
        pthread_create(&workers[i], NULL, worker, NULL);
    for (uintptr_t i = 0; i < READERS; i++)
        pthread_create(&readers[i], NULL, reader, (void *)i);
    pthread_create(&closing, NULL, closer, readers);

    /* the collector: the main thread */
    uint64_t sum = 0, count = 0;
    void *square;
    while (weft_mpmc_pop(results, &square) == 0) {
        sum += (uintptr_t)square;
        count++;
    }
    pthread_join(closing, NULL);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i], NULL);

    uint64_t n = (uint64_t)READERS * PER_READER, expect = n * (n + 1) * (2 * n + 1) / 6;
    printf("mpmc_pipeline: %" PRIu64 " squares, sum %" PRIu64 " (expected %" PRIu64 ")\n", count,
           sum, expect);
    weft_mpmc_destroy(jobs);
    weft_mpmc_destroy(results);
    return count == n && sum == expect ? 0 : 1;
}
