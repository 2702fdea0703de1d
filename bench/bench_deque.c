/*
 * bench_deque - weft_deque against crossbeam-deque 0.8 and a mutex deque.
 *
 * Usage: bench_deque [--quick] [--peer PATH] [PAIRS ITEMS REPS]
 *
 * The measurements below, each run once per round for weft, the mutex
 * deque and the crossbeam peer, in REPS rounds; the median over the rounds
 * is reported (rounds rather than REPS runs in a row per implementation, so
 * that load from other processes on the shared machine falls on every
 * column alike):
 *   pushpop_ns       the owner pushes one item and pops it again, PAIRS
 *                    times; nanoseconds per push+pop pair (no thieves)
 *   transfer_<T>_ns  the owner pushes ITEMS items (never letting more than
 *                    1024 pile up) while T = 1..3 thieves steal them one at
 *                    a time; nanoseconds from the first push until every
 *                    item was stolen, per item
 *   batch_3_ns       the same with 3 thieves stealing batches (at most 32,
 *                    at most half: weft_deque_steal_batch; crossbeam's
 *                    Stealer::steal_batch_and_pop into a local Worker that
 *                    the thief then drains)
 *   steal_ns         ITEMS items are pushed, then one other thread steals
 *                    them all; nanoseconds per steal (uncontended latency)
 * The transfers check that the thieves' sum of items is exact.
 *
 * PATH is the crossbeam peer (bench/crossbeam_deque, built by `make
 * bench-deque`); it runs the same measurements with the same loops and is
 * started once per round with REPS = 1.  Rows have one format for all:
 * "<impl> <measure> <median> <min> <max>".
 * Without --peer (or if it fails) the crossbeam column shows "-".
 * The machine this runs on is shared: run it under
 * `flock /tmp/weft-bench.lock`, as the make targets do.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/deque.h>

#include "bench.h"
#include "wait.h" /* cpu_relax, now_ns */

#define BACKLOG 1024 /* as in bench/crossbeam_deque/src/main.rs */
#define MAX_REPS 64


/* Spin-wait politely: pause, and yield now and then (2 cores, more threads
 * than cores).  The same policy as backoff() in the Rust peer. */
static void backoff(unsigned *spins)
{
    if (++*spins % 64 == 0)
        sched_yield();
    else
        cpu_relax();
}

/* ---- the floor: a deque behind one mutex ---------------------------------- */

struct mdeque {
    pthread_mutex_t mu;
    void **buf;
    size_t mask;
    size_t head, tail; /* items [head, tail), free-running */
};

static struct mdeque *md_create(void)
{
    struct mdeque *m = malloc(sizeof *m);
    if (m == NULL || (m->buf = malloc(64 * sizeof(void *))) == NULL)
        abort();
    pthread_mutex_init(&m->mu, NULL);
    m->mask = 63;
    m->head = m->tail = 0;
    return m;
}

static void md_destroy(struct mdeque *m)
{
    pthread_mutex_destroy(&m->mu);
    free(m->buf);
    free(m);
}

static void md_push(struct mdeque *m, void *x)
{
    pthread_mutex_lock(&m->mu);
    if (m->tail - m->head > m->mask) {
        size_t cap = (m->mask + 1) * 2;
        void **nb = malloc(cap * sizeof(void *));
        if (nb == NULL)
            abort();
        for (size_t i = m->head; i != m->tail; i++)
            nb[i & (cap - 1)] = m->buf[i & m->mask];
        free(m->buf);
        m->buf = nb;
        m->mask = cap - 1;
    }
    m->buf[m->tail++ & m->mask] = x;
    pthread_mutex_unlock(&m->mu);
}

static bool md_pop(struct mdeque *m, void **x)
{
    bool ok = false;
    pthread_mutex_lock(&m->mu);
    if (m->tail != m->head) {
        *x = m->buf[--m->tail & m->mask];
        ok = true;
    }
    pthread_mutex_unlock(&m->mu);
    return ok;
}

static weft_steal_result md_steal(struct mdeque *m, void **x)
{
    weft_steal_result r = WEFT_STEAL_EMPTY;
    pthread_mutex_lock(&m->mu);
    if (m->tail != m->head) {
        *x = m->buf[m->head++ & m->mask];
        r = WEFT_STEAL_OK;
    }
    pthread_mutex_unlock(&m->mu);
    return r;
}

static weft_steal_result md_steal_batch(struct mdeque *m, void **items, size_t max, size_t *stolen)
{
    pthread_mutex_lock(&m->mu);
    size_t n = (m->tail - m->head + 1) / 2;
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        items[i] = m->buf[m->head++ & m->mask];
    pthread_mutex_unlock(&m->mu);
    *stolen = n;
    return n ? WEFT_STEAL_OK : WEFT_STEAL_EMPTY;
}

static size_t md_size(struct mdeque *m)
{
    pthread_mutex_lock(&m->mu);
    size_t n = m->tail - m->head;
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* ---- the measurements, once per implementation ----------------------------
 * One body per measurement, instantiated for each implementation by a macro
 * so that the calls are direct (a function pointer would cost as much as
 * the operation measured). */

#define BATCH 32 /* steal_batch's max, as crossbeam's batch limit */

struct thief_arg {
    void *q;
    atomic_int *go, *stop, *ready;
    bool batch; /* steal_batch instead of steal */
    uintptr_t sum;
};

#define DEFINE_BENCH(P, Q, CREATE, DESTROY, PUSH, POP, STEAL, BATCH_, SIZE)   \
    static double P##_pushpop(size_t pairs)                                   \
    {                                                                         \
        Q *q = CREATE;                                                        \
        uintptr_t sum = 0;                                                    \
        uint64_t t0 = now_ns();                                               \
        for (uintptr_t i = 0; i < pairs; i++) {                               \
            void *x = NULL;                                                   \
            PUSH(q, (void *)i);                                               \
            if (POP(q, &x))                                                   \
                sum += (uintptr_t)x;                                          \
        }                                                                     \
        double ns = (double)(now_ns() - t0) / (double)pairs;                  \
        if (sum != (uintptr_t)pairs * (pairs - 1) / 2) {                      \
            fprintf(stderr, #P ": push+pop lost items\n");                    \
            exit(99);                                                         \
        }                                                                     \
        DESTROY(q);                                                           \
        return ns;                                                            \
    }                                                                         \
                                                                              \
    static void *P##_thief(void *arg)                                         \
    {                                                                         \
        struct thief_arg *a = arg;                                            \
        Q *q = a->q;                                                          \
        uintptr_t sum = 0;                                                    \
        unsigned spins = 0;                                                   \
        /* acq_rel/acquire: start-line handshake with the owner */            \
        atomic_fetch_add_explicit(a->ready, 1, memory_order_acq_rel);         \
        while (!atomic_load_explicit(a->go, memory_order_acquire))            \
            backoff(&spins);                                                  \
        spins = 0;                                                            \
        /* acquire: pairs with the owner's release of stop */                 \
        while (!atomic_load_explicit(a->stop, memory_order_acquire)) {        \
            void *x[BATCH];                                                   \
            size_t n = 0;                                                     \
            weft_steal_result r;                                              \
            if (a->batch) {                                                   \
                r = BATCH_(q, x, BATCH, &n);                                  \
            } else {                                                          \
                r = STEAL(q, &x[0]);                                          \
                n = r == WEFT_STEAL_OK;                                       \
            }                                                                 \
            for (size_t i = 0; i < n; i++)                                    \
                sum += (uintptr_t)x[i];                                       \
            if (r == WEFT_STEAL_OK)                                           \
                spins = 0;                                                    \
            else if (r == WEFT_STEAL_EMPTY)                                   \
                backoff(&spins);                                              \
        }                                                                     \
        a->sum = sum;                                                         \
        return NULL;                                                          \
    }                                                                         \
                                                                              \
    static double P##_transfer(size_t items, int thieves, bool batch)         \
    {                                                                         \
        Q *q = CREATE;                                                        \
        atomic_int go, stop, ready;                                           \
        struct thief_arg args[3];                                             \
        pthread_t th[3];                                                      \
        atomic_init(&go, 0);                                                  \
        atomic_init(&stop, 0);                                                \
        atomic_init(&ready, 0);                                               \
        for (int i = 0; i < thieves; i++) {                                   \
            args[i] = (struct thief_arg){ q, &go, &stop, &ready, batch, 0 };  \
            pthread_create(&th[i], NULL, P##_thief, &args[i]);                \
        }                                                                     \
        unsigned spins = 0;                                                   \
        /* acquire: pairs with each thief's acq_rel increment of ready */     \
        while (atomic_load_explicit(&ready, memory_order_acquire) != thieves) \
            backoff(&spins);                                                  \
        uint64_t t0 = now_ns();                                               \
        atomic_store_explicit(&go, 1, memory_order_release);                  \
        for (uintptr_t i = 1; i <= items; i++) {                              \
            spins = 0;                                                        \
            while (SIZE(q) >= BACKLOG)                                        \
                backoff(&spins);                                              \
            PUSH(q, (void *)i);                                               \
        }                                                                     \
        spins = 0;                                                            \
        while (SIZE(q) != 0)                                                  \
            backoff(&spins);                                                  \
        double ns = (double)(now_ns() - t0) / (double)items;                  \
        /* release: pairs with the thieves' acquire of stop */                \
        atomic_store_explicit(&stop, 1, memory_order_release);                \
        uintptr_t sum = 0;                                                    \
        for (int i = 0; i < thieves; i++) {                                   \
            pthread_join(th[i], NULL);                                        \
            sum += args[i].sum;                                               \
        }                                                                     \
        if (sum != (uintptr_t)items * (items + 1) / 2) {                      \
            fprintf(stderr, #P ": transfer lost or duplicated items\n");      \
            exit(99);                                                         \
        }                                                                     \
        DESTROY(q);                                                           \
        return ns;                                                            \
    }                                                                         \
                                                                              \
    struct P##_steal_arg {                                                    \
        Q *q;                                                                 \
        size_t items;                                                         \
        double ns;                                                            \
        uintptr_t sum;                                                        \
    };                                                                        \
                                                                              \
    static void *P##_steal_all(void *arg)                                     \
    {                                                                         \
        struct P##_steal_arg *a = arg;                                        \
        uintptr_t sum = 0;                                                    \
        uint64_t t0 = now_ns();                                               \
        for (;;) {                                                            \
            void *x;                                                          \
            weft_steal_result r = STEAL(a->q, &x);                            \
            if (r == WEFT_STEAL_OK)                                           \
                sum += (uintptr_t)x;                                          \
            else if (r == WEFT_STEAL_EMPTY)                                   \
                break;                                                        \
        }                                                                     \
        a->ns = (double)(now_ns() - t0) / (double)a->items;                   \
        a->sum = sum;                                                         \
        return NULL;                                                          \
    }                                                                         \
                                                                              \
    static double P##_steal_latency(size_t items)                             \
    {                                                                         \
        struct P##_steal_arg a = { CREATE, items, 0, 0 };                     \
        pthread_t th;                                                         \
        for (uintptr_t i = 1; i <= items; i++)                                \
            PUSH(a.q, (void *)i);                                             \
        pthread_create(&th, NULL, P##_steal_all, &a);                         \
        pthread_join(th, NULL);                                               \
        if (a.sum != (uintptr_t)items * (items + 1) / 2) {                    \
            fprintf(stderr, #P ": steal lost items\n");                       \
            exit(99);                                                         \
        }                                                                     \
        DESTROY(a.q);                                                         \
        return a.ns;                                                          \
    }

static weft_deque *weft_create_or_die(void)
{
    weft_deque *d = weft_deque_create(0);
    if (d == NULL) {
        perror("weft_deque_create");
        exit(99);
    }
    return d;
}

static void weft_push_or_die(weft_deque *d, void *x)
{
    if (weft_deque_push(d, x) != 0) {
        perror("weft_deque_push");
        exit(99);
    }
}

DEFINE_BENCH(weft, weft_deque, weft_create_or_die(), weft_deque_destroy, weft_push_or_die,
             weft_deque_pop, weft_deque_steal, weft_deque_steal_batch, weft_deque_size)
DEFINE_BENCH(mutex, struct mdeque, md_create(), md_destroy, md_push, md_pop, md_steal,
             md_steal_batch, md_size)

/* ---- results -------------------------------------------------------------- */

enum { M_PUSHPOP, M_T1, M_T2, M_T3, M_B3, M_STEAL, NMEASURES };
enum { I_WEFT, I_XBEAM, I_MUTEX, NIMPLS };

static const char *const measure_key[NMEASURES] = { "pushpop_ns",    "transfer_1_ns",
                                                    "transfer_2_ns", "transfer_3_ns",
                                                    "batch_3_ns",    "steal_ns" };
static const char *const measure_label[NMEASURES] = {
    "owner push+pop (ns/pair)",  "push, 1 thief (ns/item)",         "push, 2 thieves (ns/item)",
    "push, 3 thieves (ns/item)", "push, 3 batch thieves (ns/item)", "steal latency (ns/steal)"
};
static const char *const impl_name[NIMPLS] = { "weft", "crossbeam", "mutex" };

static double result[NIMPLS][NMEASURES];         /* medians; 0 = not measured */
static double runs[NIMPLS][NMEASURES][MAX_REPS]; /* one sample per round */
static size_t nruns[NIMPLS][NMEASURES];

static void sample(int impl, int m, double ns)
{
    if (nruns[impl][m] < MAX_REPS)
        runs[impl][m][nruns[impl][m]++] = ns;
}

/* Record the median of the samples of (impl, m) and print its row in the
 * shared format. */
static void report(int impl, int m)
{
    size_t n = nruns[impl][m];
    double *v = runs[impl][m];
    if (n == 0)
        return;
    double median = bench_median(v, n);
    result[impl][m] = median;
    printf("%s %s %.2f %.2f %.2f\n", impl_name[impl], measure_key[m], median, v[0], v[n - 1]);
}

/* One round of the peer: it runs every measurement once (REPS = 1) and
 * prints one row per measurement (whose median is that one run).
 * Returns false if the peer failed. */
static bool run_peer(const char *path, size_t pairs, size_t items)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %zu %zu 1", path, pairs, items);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        perror("popen");
        return false;
    }
    char line[256];
    while (fgets(line, sizeof line, p) != NULL) {
        char impl[32], key[32];
        double median, lo, hi;
        if (sscanf(line, "%31s %31s %lf %lf %lf", impl, key, &median, &lo, &hi) != 5)
            continue;
        for (int m = 0; m < NMEASURES; m++)
            if (strcmp(key, measure_key[m]) == 0)
                sample(I_XBEAM, m, median);
    }
    if (pclose(p) != 0) {
        fprintf(stderr, "bench_deque: the crossbeam peer failed (%s)\n", path);
        return false;
    }
    return true;
}

static void cell(double v)
{
    if (v > 0)
        printf(" %10.2f", v);
    else
        printf(" %10s", "-");
}

static void ratio(double a, double b)
{
    if (a > 0 && b > 0)
        printf(" %12.2f", a / b);
    else
        printf(" %12s", "-");
}

int main(int argc, char **argv)
{
    size_t pairs = 20000000, items = 1000000, reps = 11;
    const char *peer = NULL;
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            pairs = 2000000;
            items = 200000;
            reps = 3;
        } else if (strcmp(argv[i], "--peer") == 0 && i + 1 < argc) {
            peer = argv[++i];
        } else if (pos < 3 && strtoull(argv[i], NULL, 10) > 0) {
            size_t v = (size_t)strtoull(argv[i], NULL, 10);
            *(pos == 0 ? &pairs : pos == 1 ? &items : &reps) = v;
            pos++;
        } else {
            fprintf(stderr, "usage: %s [--quick] [--peer PATH] [PAIRS ITEMS REPS]\n", argv[0]);
            return 2;
        }
    }
    if (reps > MAX_REPS)
        reps = MAX_REPS;
    printf("# bench_deque: pairs=%zu items=%zu reps=%zu (median min max, ns)\n", pairs, items,
           reps);

    /* Rounds: each round runs every measurement once for every
     * implementation, the crossbeam peer included (one process per round),
     * so that a change of load on the shared machine hits all columns alike
     * instead of one column's whole series. */
    for (size_t r = 0; r < reps; r++) {
        sample(I_WEFT, M_PUSHPOP, weft_pushpop(pairs));
        sample(I_MUTEX, M_PUSHPOP, mutex_pushpop(pairs));
        for (int t = 1; t <= 3; t++) {
            sample(I_WEFT, M_T1 + t - 1, weft_transfer(items, t, false));
            sample(I_MUTEX, M_T1 + t - 1, mutex_transfer(items, t, false));
        }
        sample(I_WEFT, M_B3, weft_transfer(items, 3, true));
        sample(I_MUTEX, M_B3, mutex_transfer(items, 3, true));
        sample(I_WEFT, M_STEAL, weft_steal_latency(items));
        sample(I_MUTEX, M_STEAL, mutex_steal_latency(items));
        if (peer != NULL && !run_peer(peer, pairs, items)) {
            peer = NULL; /* no more rounds of a failing peer, and no column */
            memset(nruns[I_XBEAM], 0, sizeof nruns[I_XBEAM]);
        }
    }
    for (int i = 0; i < NIMPLS; i++)
        for (int m = 0; m < NMEASURES; m++)
            report(i, m);

    printf("\n%-32s %10s %10s %10s %12s %12s\n", "median of runs (ns)", "weft", "crossbeam",
           "mutex", "weft/xbeam", "weft/mutex");
    for (int m = 0; m < NMEASURES; m++) {
        printf("%-32s", measure_label[m]);
        for (int i = 0; i < NIMPLS; i++)
            cell(result[i][m]);
        ratio(result[I_WEFT][m], result[I_XBEAM][m]);
        ratio(result[I_WEFT][m], result[I_MUTEX][m]);
        printf("\n");
    }
    printf("(ratios below 1: weft is faster)\n");
    return 0;
}
