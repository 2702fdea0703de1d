/*
 * bench_pool - weft_pool against its peers, in one run.
 *
 *   bench_pool [--quick] [--fib N] [--tbb PATH] [--rayon PATH]
 *
 * 1. fib(N) (default 30) with a spawn at every call, at 1 and 2 threads,
 *    median of several runs, in ms: weft (weft_group + weft_spawn), OpenMP
 *    tasks (when built with OpenMP), and the peers TBB task_group
 *    (bench_pool_tbb) and rayon::join (bench/rayon_fib), run as separate
 *    programs right after weft's runs; each prints "NAME THREADS MS RESULT".
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
 * Then a table with ratios against rayon and TBB.
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

/* ---- fib on weft -------------------------------------------------------- */

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

static double weft_fib_ms(unsigned threads, unsigned n, int runs, uint64_t *result)
{
    weft_pool *p = weft_pool_create(threads);
    if (!p) {
        perror("weft_pool_create");
        exit(99);
    }
    double t[32];
    for (int i = 0; i < runs; i++) {
        struct fib f = { p, n, 0 };
        weft_group g;
        weft_task task;
        uint64_t t0 = now_ns();
        weft_group_init(&g, p);
        weft_spawn(&g, &task, fib_task, &f);
        weft_group_wait(&g);
        t[i] = (double)(now_ns() - t0) / 1e6;
        *result = f.r;
    }
    weft_pool_destroy(p);
    return median(t, runs);
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
    double ms[3]; /* by thread count 1, 2; 0: not measured */
    bool ok;      /* every result was right */
};

static void run_peer(const char *cmd, struct peer *out, uint64_t want)
{
    out->ms[1] = out->ms[2] = 0;
    out->ok = true;
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    char name[32];
    unsigned threads;
    double ms;
    unsigned long long r;
    while (fscanf(f, "%31s %u %lf %llu", name, &threads, &ms, &r) == 4) {
        if (threads >= 1 && threads <= 2)
            out->ms[threads] = ms;
        if (r != want)
            out->ok = false;
    }
    if (pclose(f) != 0)
        out->ms[1] = out->ms[2] = 0;
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

int main(int argc, char **argv)
{
    bool quick = false;
    unsigned n = 30;
    const char *tbb = NULL, *rayon = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--fib") && i + 1 < argc)
            n = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tbb") && i + 1 < argc)
            tbb = argv[++i];
        else if (!strcmp(argv[i], "--rayon") && i + 1 < argc)
            rayon = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--quick] [--fib N] [--tbb PATH] [--rayon PATH]\n", argv[0]);
            return 2;
        }
    }
    int runs = quick ? 5 : 11;
    uint64_t want = fib_seq(n), r = 0;
    bool all_ok = true;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("# bench_pool: fib(%u) with a spawn at every call, median of %d runs; %ld CPUs\n", n,
           runs, sysconf(_SC_NPROCESSORS_ONLN));

    struct peer weft = { "weft", { 0, 0, 0 }, true };
    for (unsigned t = 1; t <= 2; t++) {
        weft.ms[t] = weft_fib_ms(t, n, runs, &r);
        weft.ok &= r == want;
    }
    char cmd[4096];
    struct peer tbbp = { "TBB task_group", { 0, 0, 0 }, true };
    if (tbb) {
        snprintf(cmd, sizeof cmd, "'%s' %u %d 1 2", tbb, n, runs);
        run_peer(cmd, &tbbp, want);
    }
    struct peer rayonp = { "rayon::join", { 0, 0, 0 }, true };
    if (rayon) {
        snprintf(cmd, sizeof cmd, "'%s' %u %d 1 2", rayon, n, runs);
        run_peer(cmd, &rayonp, want);
    }
    struct peer ompp = { "OpenMP tasks", { 0, 0, 0 }, true };
#ifdef HAVE_OPENMP_BENCH
    for (unsigned t = 1; t <= 2; t++) {
        ompp.ms[t] = omp_fib_ms(t, n, runs, &r);
        ompp.ok &= r == want;
    }
    sleep_ms(200); /* libgomp's idle threads spin a while: let them sleep */
#endif
    struct peer *all[] = { &weft, &rayonp, &tbbp, &ompp };
    printf("\n| fib(%u), ms        | 1 thread | 2 threads | speedup | weft vs it (2 thr) |\n", n);
    printf("|--------------------|---------:|----------:|--------:|-------------------:|\n");
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        struct peer *pp = all[i];
        if (pp->ms[1] <= 0 && pp->ms[2] <= 0) {
            printf("| %-18s | (not built: skipped)                                 |\n", pp->name);
            continue;
        }
        printf("| %-18s | %8.2f | %9.2f | %6.2fx | %17.2fx |%s\n", pp->name, pp->ms[1], pp->ms[2],
               pp->ms[1] / pp->ms[2], pp->ms[2] / weft.ms[2], pp->ok ? "" : "  WRONG RESULT");
        all_ok &= pp->ok;
    }
    printf("(last column: the peer's time / weft's time at 2 threads; > 1 means weft is faster)\n");

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
