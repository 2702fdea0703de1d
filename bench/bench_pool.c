/*
 * bench_pool - weft_pool against its peers, in one run.
 *
 *   bench_pool [--quick] [--fib N] [--peer NAME PATH]...
 *
 * 1. Three fine-grained kernels, at 1 and 2 threads, median of several
 *    runs, in ms, each checked against its sequential result:
 *      fib     fib(N) (default 30) with a fork-join at every call: weft_join
 *              (rayon::join's counterpart), and weft_group + weft_spawn;
 *              OpenMP tasks when built with OpenMP;
 *      pfor    out[i] = bench_mix(i) (4 xorshift rounds) for 10^6 indices,
 *              weft_parallel_for with grain 1;
 *      reduce  the sum of 10^7 u32 values (bench_datum), weft_parallel_reduce
 *              in chunks of 1000.
 *    A peer is a program run as "PATH FIB_N PFOR_N REDUCE_N RUNS 1 2" right
 *    after weft's runs that prints "KIND THREADS MS CHECK" lines
 *    (bench/rayon_peer: rayon::join, par_iter; bench_pool_tbb: task_group,
 *    parallel_for / parallel_reduce with simple_partitioner); NAME says
 *    which build it is.
 * 2. weft_parallel_for speedup on a compute-bound loop: 2 workers vs 1.
 * 3. Wake-up latency from parked: an idle pool (its workers parked, checked
 *    with the park counter) gets one task; time from submit to the task's
 *    first instruction, median, in microseconds.
 * 4. Wake-up latency of a worker parked in weft_group_wait: in a pool of
 *    2 workers one worker waits for a group whose task blocks the other
 *    worker; once the waiter parked, a task submitted from outside can only
 *    run on the waiter.  Time from submit to the task's first instruction,
 *    median, in microseconds.
 * 5. Idle CPU: CPU time used by an idle pool of one worker per CPU over
 *    the wall time, in % of one core.
 * Then tables with ratios against each peer.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <weft/pool.h>

#include "bench.h"
#include "wait.h" /* now_ns */

#ifdef HAVE_OPENMP_BENCH
#include <omp.h>
#endif


static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static double median(double *v, int n)
{
    return bench_median(v, (size_t)n);
}

static uint64_t cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static uint64_t fib_seq(unsigned n)
{
    return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

/* ---- the kernels on weft ----------------------------------------------- */

enum kind { FIB, PFOR, REDUCE, FIB_GROUP, NKINDS };
static const char *const kind_names[NKINDS] = { "fib", "pfor", "reduce", "fib-group" };

enum { PFOR_N = 1000000, REDUCE_N = 10000000, REDUCE_GRAIN = 1000 };

/* The kernels' own loops (bench_mix, pfor_mix, reduce_map) are compiled at
 * -O3, as the peers' are (bench_pool_tbb -O3, rayon_peer opt-level 3): gcc
 * vectorises reduce_map's widening sum only there (clang does at -O2), and
 * this compares schedulers, not compilers.  The library itself is built
 * with the configured CFLAGS. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("O3")
#endif

/* The pfor body and the reduce data, bit for bit the same in the peers
 * (bench/rayon_peer/src/main.rs, bench/bench_pool_tbb.cc). */
static inline uint64_t bench_mix(uint64_t i)
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
    for (int k = 0; k < 4; k++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
    }
    return x;
}

static inline uint32_t bench_datum(uint64_t i)
{
    return (uint32_t)((i * 2654435761ull) % 1000);
}

struct fib {
    weft_pool *p;
    unsigned n;
    uint64_t r;
};

static void fib_task(void *arg)
{
    struct fib *f = arg;
    if (f->n < 2) {
        f->r = f->n;
        return;
    }
    struct fib a = { f->p, f->n - 1, 0 }, b = { f->p, f->n - 2, 0 };
    weft_group g;
    weft_task t;
    weft_group_init(&g, f->p);
    weft_spawn(&g, &t, fib_task, &a);
    fib_task(&b);
    weft_group_wait(&g);
    f->r = a.r + b.r;
}

/* The same with weft_join, rayon::join's counterpart. */
static void fib_join(void *arg)
{
    struct fib *f = arg;
    if (f->n < 2) {
        f->r = f->n;
        return;
    }
    struct fib a = { f->p, f->n - 1, 0 }, b = { f->p, f->n - 2, 0 };
    weft_join(f->p, fib_join, &a, fib_join, &b);
    f->r = a.r + b.r;
}

static uint64_t run_fib_group(weft_pool *p, unsigned n)
{
    struct fib f = { p, n, 0 };
    weft_group g;
    weft_task task;
    weft_group_init(&g, p);
    weft_spawn(&g, &task, fib_task, &f);
    weft_group_wait(&g);
    return f.r;
}

static void pfor_mix(size_t b, size_t e, void *ctx)
{
    uint64_t *out = ctx;
    for (size_t i = b; i < e; i++)
        out[i] = bench_mix(i);
}

static void reduce_map(size_t b, size_t e, void *acc, void *ctx)
{
    const uint32_t *data = ctx;
    uint64_t s = *(uint64_t *)acc;
    for (size_t i = b; i < e; i++)
        s += data[i];
    *(uint64_t *)acc = s;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

static void reduce_combine(void *left, const void *right, void *ctx)
{
    (void)ctx;
    *(uint64_t *)left += *(const uint64_t *)right;
}

struct kernels {
    unsigned fib_n;
    uint64_t *out;
    uint32_t *data;
    uint64_t want[NKINDS];
};

static uint64_t pfor_checksum(const struct kernels *kn)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < PFOR_N; i++)
        sum += kn->out[i];
    return sum;
}

/* One run of kernel k; returns its result (fib's value, the sum), or 0 for
 * pfor, whose checksum is taken outside the timed part. */
static uint64_t run_kernel(weft_pool *p, enum kind k, struct kernels *kn)
{
    if (k == FIB) {
        struct fib f = { p, kn->fib_n, 0 };
        weft_group g;
        weft_task task;
        weft_group_init(&g, p);
        weft_spawn(&g, &task, fib_join, &f);
        weft_group_wait(&g);
        return f.r;
    }
    if (k == FIB_GROUP)
        return run_fib_group(p, kn->fib_n);
    if (k == PFOR) {
        weft_parallel_for(p, 0, PFOR_N, 1, pfor_mix, kn->out);
        return 0;
    }
    uint64_t sum = 0, zero = 0;
    if (weft_parallel_reduce(p, 0, REDUCE_N, REDUCE_GRAIN, &sum, &zero, sizeof sum, reduce_map,
                             reduce_combine, kn->data) != 0)
        exit(99);
    return sum;
}

/* The median time of kernel k on a pool of `threads` workers, in ms; *ok
 * cleared on a wrong result. */
static double weft_kernel_ms(unsigned threads, enum kind k, struct kernels *kn, int runs, bool *ok)
{
    weft_pool *p = weft_pool_create(threads);
    if (!p) {
        perror("weft_pool_create");
        exit(99);
    }
    double t[32];
    (void)run_kernel(p, k, kn); /* warm up: pages, workers */
    for (int i = 0; i < runs; i++) {
        if (k == PFOR) /* a stale right answer must not pass */
            memset(kn->out, 0, PFOR_N * sizeof *kn->out);
        uint64_t t0 = now_ns();
        uint64_t r = run_kernel(p, k, kn);
        t[i] = (double)(now_ns() - t0) / 1e6;
        if (k == PFOR)
            r = pfor_checksum(kn);
        *ok &= r == kn->want[k];
    }
    weft_pool_destroy(p);
    return median(t, runs);
}

static void kernels_init(struct kernels *kn, unsigned fib_n)
{
    kn->fib_n = fib_n;
    kn->out = malloc(PFOR_N * sizeof *kn->out);
    kn->data = malloc(REDUCE_N * sizeof *kn->data);
    if (!kn->out || !kn->data)
        exit(99);
    kn->want[FIB] = kn->want[FIB_GROUP] = fib_seq(fib_n);
    kn->want[PFOR] = kn->want[REDUCE] = 0;
    for (uint64_t i = 0; i < PFOR_N; i++)
        kn->want[PFOR] += bench_mix(i);
    for (uint64_t i = 0; i < REDUCE_N; i++) {
        kn->data[i] = bench_datum(i);
        kn->want[REDUCE] += kn->data[i];
    }
}

/* ---- fib on OpenMP tasks ------------------------------------------------ */

#ifdef HAVE_OPENMP_BENCH
static uint64_t fib_omp(unsigned n)
{
    if (n < 2)
        return n;
    uint64_t a, b;
#pragma omp task shared(a) firstprivate(n)
    a = fib_omp(n - 1);
    b = fib_omp(n - 2);
#pragma omp taskwait
    return a + b;
}

static double omp_fib_ms(unsigned threads, unsigned n, int runs, uint64_t *result)
{
    double t[32];
    omp_set_num_threads((int)threads);
    for (int i = 0; i < runs; i++) {
        uint64_t r = 0, t0 = now_ns();
#pragma omp parallel
#pragma omp single
        r = fib_omp(n);
        t[i] = (double)(now_ns() - t0) / 1e6;
        *result = r;
    }
    return median(t, runs);
}
#endif

/* ---- peers run as programs ---------------------------------------------- */

struct peer {
    const char *name;
    double ms[NKINDS][3]; /* [kind][threads 1, 2]; 0: not measured */
    bool ok;              /* every result was right */
};

static void run_peer(const char *path, int runs, struct peer *out, const struct kernels *kn)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %u %d %d %d 1 2", path, kn->fib_n, PFOR_N, REDUCE_N, runs);
    memset(out->ms, 0, sizeof out->ms); /* out->ok: cleared on a wrong result only */
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    char name[32];
    unsigned threads;
    double ms;
    unsigned long long r;
    while (fscanf(f, "%31s %u %lf %llu", name, &threads, &ms, &r) == 4) {
        for (int k = 0; k < NKINDS; k++) {
            if (strcmp(name, kind_names[k]) != 0 || threads < 1 || threads > 2)
                continue;
            out->ms[k][threads] = ms;
            out->ok &= r == kn->want[k];
        }
    }
    if (pclose(f) != 0)
        memset(out->ms, 0, sizeof out->ms);
}

static void print_kernel_table(enum kind k, const char *title, struct peer **all, size_t n)
{
    const struct peer *w = all[0];
    printf("\n| %-40s | 1 thread | 2 threads | vs weft, 1 thr | vs weft, 2 thr |\n", title);
    printf("|------------------------------------------|---------:|----------:|---------------:|"
           "---------------:|\n");
    for (size_t i = 0; i < n; i++) {
        const struct peer *pp = all[i];
        if (pp->ms[k][1] <= 0 && pp->ms[k][2] <= 0)
            continue;
        /* weft's row is its fib with weft_join; the loops are weft's own */
        const char *name = pp == w && k != FIB ? "weft" : pp->name;
        printf("| %-40s | %8.2f | %9.2f | %13.2fx | %13.2fx |%s\n", name, pp->ms[k][1],
               pp->ms[k][2], pp->ms[k][1] / w->ms[k][1], pp->ms[k][2] / w->ms[k][2],
               pp->ok ? "" : "  WRONG RESULT");
    }
}

/* ---- parallel_for speedup ----------------------------------------------- */

static uint64_t *pf_out;

static void pf_body(size_t b, size_t e, void *ctx)
{
    (void)ctx;
    for (size_t i = b; i < e; i++) {
        uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
        for (int k = 0; k < 200; k++) { /* compute-bound, no memory traffic */
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
        }
        pf_out[i] = x;
    }
}

static double pfor_ms(unsigned threads, size_t n, int runs)
{
    weft_pool *p = weft_pool_create(threads);
    if (!p)
        exit(99);
    double t[32];
    weft_parallel_for(p, 0, n, 0, pf_body, NULL); /* warm up */
    for (int i = 0; i < runs; i++) {
        uint64_t t0 = now_ns();
        weft_parallel_for(p, 0, n, 0, pf_body, NULL);
        t[i] = (double)(now_ns() - t0) / 1e6;
    }
    weft_pool_destroy(p);
    return median(t, runs);
}

/* ---- wake-up latency ---------------------------------------------------- */

static _Atomic uint64_t started_at;

static void note_start(void *arg)
{
    (void)arg;
    /* release: pairs with the acquire load in time_to_start_us */
    atomic_store_explicit(&started_at, now_ns(), memory_order_release);
}

/* Submit fn from this (outside) thread and return the microseconds from the
 * submit to the moment fn called note_start. */
static double time_to_start_us(weft_pool *p, void (*fn)(void *))
{
    /* relaxed: no task that stores it runs now; the submit below publishes
     * the reset to the task (its push is a release) */
    atomic_store_explicit(&started_at, 0, memory_order_relaxed);
    uint64_t t0 = now_ns();
    if (weft_pool_submit(p, fn, NULL) != 0)
        exit(99);
    uint64_t s;
    /* acquire: pairs with the release store in note_start */
    while ((s = atomic_load_explicit(&started_at, memory_order_acquire)) == 0)
        sched_yield();
    return (double)(s - t0) / 1e3;
}

static double wake_latency_us(int samples, unsigned *parked_ok)
{
    weft_pool *p = weft_pool_create(2);
    if (!p)
        exit(99);
    double t[256];
    unsigned ok = 0;
    for (int i = 0; i < samples; i++) {
        weft_pool_stats before, after;
        sleep_ms(5); /* long past the spinning phase: the workers park */
        weft_pool_read_stats(p, &before);
        t[i] = time_to_start_us(p, note_start);
        sleep_ms(5);
        weft_pool_read_stats(p, &after);
        ok += after.parks > before.parks; /* someone parked again: it was awake */
    }
    weft_pool_destroy(p);
    *parked_ok = ok;
    return median(t, samples);
}

/* ---- a worker parked in weft_group_wait, woken for new work -------------- */

static atomic_int blocker_started, blocker_go, root_done;

static void blocker(void *arg)
{
    (void)arg;
    /* release: pairs with the acquire loads in waiting_root and
     * waiter_wake_latency_us */
    atomic_store_explicit(&blocker_started, 1, memory_order_release);
    /* acquire: pairs with the release store in note_start_and_go */
    while (!atomic_load_explicit(&blocker_go, memory_order_acquire))
        sched_yield();
}

static void waiting_root(void *arg)
{
    weft_pool *p = arg;
    weft_group g;
    weft_task t;
    weft_group_init(&g, p);
    weft_spawn(&g, &t, blocker, NULL);
    /* the other worker steals the blocker (the spawn woke it).  acquire:
     * pairs with the release store in blocker */
    while (!atomic_load_explicit(&blocker_started, memory_order_acquire))
        sched_yield();
    weft_group_wait(&g); /* nothing to run here: park */
    /* release: pairs with the acquire load in waiter_wake_latency_us */
    atomic_store_explicit(&root_done, 1, memory_order_release);
}

static void note_start_and_go(void *arg)
{
    note_start(arg);
    /* release: pairs with the acquire load in blocker */
    atomic_store_explicit(&blocker_go, 1, memory_order_release);
}

static double waiter_wake_latency_us(int samples)
{
    weft_pool *p = weft_pool_create(2);
    if (!p)
        exit(99);
    double t[256];
    for (int i = 0; i < samples; i++) {
        /* relaxed: the previous sample's tasks are done (root_done); the
         * submit below publishes the resets to the new ones */
        atomic_store_explicit(&blocker_started, 0, memory_order_relaxed);
        atomic_store_explicit(&blocker_go, 0, memory_order_relaxed);
        atomic_store_explicit(&root_done, 0, memory_order_relaxed);
        if (weft_pool_submit(p, waiting_root, p) != 0)
            exit(99);
        /* acquire: pairs with the release store in blocker */
        while (!atomic_load_explicit(&blocker_started, memory_order_acquire))
            sched_yield();
        sleep_ms(10); /* long past the waiter's spinning phase: it parks */
        t[i] = time_to_start_us(p, note_start_and_go);
        /* acquire: pairs with the release store at the end of waiting_root */
        while (!atomic_load_explicit(&root_done, memory_order_acquire))
            sched_yield();
    }
    weft_pool_destroy(p);
    return median(t, samples);
}

/* ---- idle CPU ----------------------------------------------------------- */

static double idle_cpu_percent(unsigned ms)
{
    weft_pool *p = weft_pool_create(0);
    if (!p)
        exit(99);
    weft_parallel_for(p, 0, 100000, 0, pf_body, NULL); /* wake everyone once */
    sleep_ms(20);
    uint64_t c0 = cpu_us(), t0 = now_ns();
    sleep_ms(ms);
    uint64_t c1 = cpu_us(), t1 = now_ns();
    weft_pool_destroy(p);
    return 100.0 * (double)(c1 - c0) * 1e3 / (double)(t1 - t0);
}

/* ---- main --------------------------------------------------------------- */

enum { MAX_PEERS = 8, MAX_ROUNDS = 8 };

int main(int argc, char **argv)
{
    bool quick = false;
    unsigned n = 30;
    struct peer peers[MAX_PEERS];
    const char *paths[MAX_PEERS];
    size_t npeers = 1; /* peers[0] is weft */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--fib") && i + 1 < argc)
            n = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--peer") && i + 2 < argc && npeers < MAX_PEERS) {
            peers[npeers].name = argv[++i];
            paths[npeers++] = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--quick] [--fib N] [--peer NAME PATH]...\n", argv[0]);
            return 2;
        }
    }
    /* Rounds: every implementation runs each kernel `runs` times per
     * round, one after the other, and the table gives the median over the
     * rounds of the per-round medians, so that this shared machine's slow
     * and fast phases fall on every row alike. */
    int runs = quick ? 3 : 5, rounds = quick ? 3 : 5;
    bool all_ok = true;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("# bench_pool: %d interleaved rounds of %d runs each (median of the round medians); "
           "%ld CPUs\n",
           rounds, runs, sysconf(_SC_NPROCESSORS_ONLN));
    struct kernels kn;
    kernels_init(&kn, n);

    struct peer *weft = &peers[0];
    weft->name = "weft (weft_join)";
    struct peer omp = { "OpenMP tasks (gcc, libgomp)", { { 0 } }, true };
    struct peer *measured[MAX_PEERS + 1];
    for (size_t i = 0; i < npeers; i++)
        measured[i] = &peers[i];
    measured[npeers] = &omp;
    static double by_round[MAX_PEERS + 1][NKINDS][3][MAX_ROUNDS];
    for (size_t i = 0; i <= npeers; i++)
        measured[i]->ok = true;
    for (int round = 0; round < rounds; round++) {
        for (int k = 0; k < NKINDS; k++)
            for (unsigned t = 1; t <= 2; t++)
                by_round[0][k][t][round] = weft_kernel_ms(t, (enum kind)k, &kn, runs, &weft->ok);
        for (size_t i = 1; i < npeers; i++) {
            run_peer(paths[i], runs, &peers[i], &kn);
            for (int k = 0; k < NKINDS; k++)
                for (unsigned t = 1; t <= 2; t++)
                    by_round[i][k][t][round] = peers[i].ms[k][t];
        }
        memset(omp.ms, 0, sizeof omp.ms);
#ifdef HAVE_OPENMP_BENCH
        for (unsigned t = 1; t <= 2; t++) {
            uint64_t r = 0;
            by_round[npeers][FIB][t][round] = omp_fib_ms(t, n, runs, &r);
            omp.ok &= r == kn.want[FIB];
        }
        sleep_ms(200); /* libgomp's idle threads spin a while: let them sleep */
#endif
    }
    for (size_t i = 0; i <= npeers; i++)
        for (int k = 0; k < NKINDS; k++)
            for (unsigned t = 1; t <= 2; t++)
                measured[i]->ms[k][t] =
                    by_round[i][k][t][0] > 0 ? median(by_round[i][k][t], rounds) : 0;
    /* fib written with a group and a spawn, weft's other fork-join API */
    struct peer wgroup = { "weft (weft_group + weft_spawn)", { { 0 } }, weft->ok };
    for (unsigned t = 1; t <= 2; t++)
        wgroup.ms[FIB][t] = weft->ms[FIB_GROUP][t];
    struct peer *all[MAX_PEERS + 2];
    size_t nall = 0;
    all[nall++] = weft;
    all[nall++] = &wgroup;
    for (size_t i = 1; i < npeers; i++)
        all[nall++] = &peers[i];
    all[nall++] = &omp;
    for (size_t i = 0; i < nall; i++)
        all_ok &= all[i]->ok;
    char title[64];
    snprintf(title, sizeof title, "fib(%u), a fork-join per call, ms", n);
    print_kernel_table(FIB, title, all, nall);
    double joins = (double)(fib_seq(n + 1) - 1); /* calls with n >= 2 */
    printf("(ns per fork-join, fib(%u) makes %.0f: weft_join %.2f at 1 thread, %.2f at 2; "
           "group + spawn %.2f, %.2f)\n",
           n, joins, weft->ms[FIB][1] * 1e6 / joins, weft->ms[FIB][2] * 1e6 / joins,
           weft->ms[FIB_GROUP][1] * 1e6 / joins, weft->ms[FIB_GROUP][2] * 1e6 / joins);
    print_kernel_table(PFOR, "parallel_for, 10^6 x mix, grain 1, ms", all, nall);
    print_kernel_table(REDUCE, "reduce, sum of 10^7 u32, grain 1000, ms", all, nall);
    printf("(a ratio is the peer's time / weft's time: > 1 means weft is faster)\n");
    free(kn.out);
    free(kn.data);

    size_t pn = quick ? 200000 : 1000000;
    pf_out = malloc(pn * sizeof *pf_out);
    if (!pf_out)
        return 99;
    double p1 = pfor_ms(1, pn, runs), p2 = pfor_ms(2, pn, runs);
    unsigned parked_ok = 0;
    int samples = quick ? 20 : 100;
    double wake = wake_latency_us(samples, &parked_ok);
    int wsamples = quick ? 10 : 40;
    double wwake = waiter_wake_latency_us(wsamples);
    double idle = idle_cpu_percent(quick ? 300 : 1000);
    free(pf_out);

    char label[96];
    printf("\n| weft_pool                                          |            |\n");
    printf("|----------------------------------------------------|-----------:|\n");
    snprintf(label, sizeof label, "parallel_for, %zu x 200 xorshifts, 1 worker", pn);
    printf("| %-50s | %7.2f ms |\n", label, p1);
    printf("| %-50s | %7.2f ms |\n", "parallel_for, the same, 2 workers", p2);
    printf("| %-50s | %9.2fx |\n", "parallel_for speedup, 2 workers vs 1", p1 / p2);
    snprintf(label, sizeof label, "wake-up latency from parked, median of %d", samples);
    printf("| %-50s | %7.1f us |\n", label, wake);
    snprintf(label, sizeof label, "group_wait waiter woken for new work, median of %d", wsamples);
    printf("| %-50s | %7.1f us |\n", label, wwake);
    snprintf(label, sizeof label, "idle pool of %ld workers, CPU in %% of one core",
             sysconf(_SC_NPROCESSORS_ONLN));
    printf("| %-50s | %8.3f %% |\n", label, idle);
    printf("(samples in which the woken worker parked again afterwards: %u of %d)\n", parked_ok,
           samples);
    return all_ok ? 0 : 1;
}
