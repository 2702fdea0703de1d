/*
 * bench_msgq - what weft_msgq's modes cost: messages per second between
 * threads of one process for a process-private queue, a WEFT_SHARED one and
 * a WEFT_SHARED | WEFT_MSGQ_ROBUST one (the owner records: four stores per
 * operation), with a pipe(2) as the baseline a C programmer would otherwise
 * use for byte messages between processes.
 *
 * Each cell: P sender and C receiver threads move MESSAGES messages of
 * LEN bytes (try_send / try_recv, yielding while full or empty; the pipe:
 * one blocking write and one read of LEN bytes per message, which a pipe
 * keeps whole below PIPE_BUF), timed from
 * a start barrier to the last receive; the median of RUNS runs, the runs of
 * the transports interleaved.  In brackets: the cell as a fraction of the
 * private queue's rate; under each table, the robust queue's rate as a
 * fraction of the shared one's (ROBUST requires SHARED).  Threads, not processes, so that the rows differ
 * only in the mode; the shared memory a real robust queue sits in costs
 * nothing more (the Python rows of bench_python.py are across processes).
 *
 * Usage: bench_msgq [--quick] [--runs N] [--messages N]
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weft/msgq.h>

#include "bench.h"

enum { T_PRIVATE, T_SHARED, T_ROBUST, T_PIPE, NT };
static const char *const tname[NT] = { "weft_msgq (private)", "weft_msgq WEFT_SHARED",
                                       "weft_msgq SHARED + ROBUST",
                                       "pipe(2), one write per message" };
static const unsigned tflags[NT] = { 0, WEFT_SHARED, WEFT_SHARED | WEFT_MSGQ_ROBUST, 0 };

static const size_t lens[] = { 8, 256 };
static const unsigned confs[][2] = { { 1, 1 }, { 2, 2 } };
enum { NL = sizeof lens / sizeof lens[0], NC = sizeof confs / sizeof confs[0], MAXT = 4 };
#define QUEUE_BYTES ((size_t)1 << 16)

struct cell {
    int t;
    size_t len;
    unsigned p, c;
    uint64_t per_sender;
    weft_msgq *q;
    int fd[2];
    pthread_barrier_t start;
    atomic_uint_least64_t left; /* messages still to receive */
    atomic_bool failed;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The try forms, yielding while full or empty: the blocking forms' parking
 * (a futex wait and wake per message at these rates on 2 cores) would
 * measure the scheduler, and the same in every mode. */
static int try_send(weft_msgq *q, const void *msg, size_t len)
{
    int e;
    while ((e = weft_msgq_try_send(q, msg, len)) == EAGAIN)
        sched_yield();
    return e;
}

static int try_recv(weft_msgq *q, void *buf, size_t cap, size_t *len)
{
    int e;
    while ((e = weft_msgq_try_recv(q, buf, cap, len)) == EAGAIN)
        sched_yield();
    return e;
}

static void *sender(void *arg)
{
    struct cell *c = arg;
    unsigned char msg[256];
    memset(msg, 0x5a, sizeof msg);
    pthread_barrier_wait(&c->start);
    for (uint64_t i = 0; i < c->per_sender; i++) {
        memcpy(msg, &i, sizeof i);
        if (c->t == T_PIPE) {
            if (write(c->fd[1], msg, c->len) != (ssize_t)c->len)
                /* relaxed: read after join */
                atomic_store_explicit(&c->failed, true, memory_order_relaxed);
        } else if (try_send(c->q, msg, c->len) != 0) {
            atomic_store_explicit(&c->failed, true, memory_order_relaxed);
        }
    }
    return NULL;
}

static void *receiver(void *arg)
{
    struct cell *c = arg;
    unsigned char buf[256];
    pthread_barrier_wait(&c->start);
    for (;;) {
        /* relaxed: a count of claims; the messages themselves are ordered
         * by the queue (or the pipe) */
        uint64_t left = atomic_load_explicit(&c->left, memory_order_relaxed);
        do {
            if (left == 0)
                return NULL;
        } while (!atomic_compare_exchange_weak_explicit(
            &c->left, &left, left - 1, memory_order_relaxed, memory_order_relaxed));
        size_t got;
        if (c->t == T_PIPE) {
            if (read(c->fd[0], buf, c->len) != (ssize_t)c->len)
                atomic_store_explicit(&c->failed, true, memory_order_relaxed);
        } else if (try_recv(c->q, buf, sizeof buf, &got) != 0 || got != c->len) {
            atomic_store_explicit(&c->failed, true, memory_order_relaxed);
        }
    }
}

/* One run of one cell: messages per second, or -1 on failure. */
static double run_cell(int t, size_t len, unsigned p, unsigned cons, uint64_t messages)
{
    struct cell c;
    memset(&c, 0, sizeof c);
    c.t = t;
    c.len = len;
    c.p = p;
    c.c = cons;
    c.per_sender = messages / p;
    atomic_init(&c.left, c.per_sender * p);
    atomic_init(&c.failed, false);
    void *mem = NULL;
    if (t == T_PIPE) {
        if (pipe(c.fd) != 0)
            return -1;
    } else {
        mem = aligned_alloc(WEFT_MSGQ_ALIGN, weft_msgq_footprint(QUEUE_BYTES));
        c.q = mem ? weft_msgq_init(mem, QUEUE_BYTES, tflags[t]) : NULL;
        if (!c.q) {
            free(mem);
            return -1;
        }
    }
    pthread_barrier_init(&c.start, NULL, p + cons + 1);
    pthread_t th[2 * MAXT];
    unsigned n = 0;
    for (unsigned i = 0; i < p; i++)
        pthread_create(&th[n++], NULL, sender, &c);
    for (unsigned i = 0; i < cons; i++)
        pthread_create(&th[n++], NULL, receiver, &c);
    pthread_barrier_wait(&c.start);
    double t0 = now_s();
    for (unsigned i = p; i < n; i++) /* the receivers end last */
        pthread_join(th[i], NULL);
    double el = now_s() - t0;
    for (unsigned i = 0; i < p; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&c.start);
    if (t == T_PIPE) {
        close(c.fd[0]);
        close(c.fd[1]);
    }
    free(mem);
    return atomic_load_explicit(&c.failed, memory_order_relaxed) ? -1
                                                                 : (double)(c.per_sender * p) / el;
}

int main(int argc, char **argv)
{
    bool quick = false;
    unsigned runs = 0;
    uint64_t messages = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--messages") && i + 1 < argc)
            messages = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_msgq [--quick] [--runs N] [--messages N]\n");
            return 2;
        }
    }
    if (!runs)
        runs = quick ? 3 : 11;
    if (!messages)
        messages = quick ? 200000 : 1000000;
    if (runs > 64)
        runs = 64;
    printf("# bench_msgq: %llu messages per run, median of %u runs, threads of one process\n",
           (unsigned long long)messages, runs);
    static double v[NL][NC][NT][64];
    for (unsigned r = 0; r < runs; r++)
        for (size_t l = 0; l < NL; l++)
            for (size_t k = 0; k < NC; k++)
                for (int t = 0; t < NT; t++) {
                    v[l][k][t][r] = run_cell(t, lens[l], confs[k][0], confs[k][1], messages);
                    if (v[l][k][t][r] < 0) {
                        fprintf(stderr, "bench_msgq: %s failed\n", tname[t]);
                        return 1;
                    }
                }
    for (size_t l = 0; l < NL; l++) {
        printf("\n| %zu B messages, M msgs/s |", lens[l]);
        for (size_t k = 0; k < NC; k++)
            printf(" %uP%uC |", confs[k][0], confs[k][1]);
        printf("\n|---|");
        for (size_t k = 0; k < NC; k++)
            printf("---:|");
        printf("\n");
        double base[NC];
        for (int t = 0; t < NT; t++) {
            printf("| %s |", tname[t]);
            for (size_t k = 0; k < NC; k++) {
                double m = bench_median(v[l][k][t], runs);
                if (t == T_PRIVATE) {
                    base[k] = m;
                    printf(" %.2f |", m / 1e6);
                } else {
                    printf(" %.2f (%.2fx) |", m / 1e6, m / base[k]);
                }
            }
            printf("\n");
        }
        printf("\nROBUST's cost, %zu B: SHARED + ROBUST at", lens[l]);
        for (size_t k = 0; k < NC; k++)
            printf("%s %.2fx of SHARED's rate (%uP%uC)", k ? "," : "",
                   bench_median(v[l][k][T_ROBUST], runs) / bench_median(v[l][k][T_SHARED], runs),
                   confs[k][0], confs[k][1]);
        printf("\n");
    }
    return 0;
}
