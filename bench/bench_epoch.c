/*
 * bench_epoch - the cost of a read-side section and of retiring objects,
 * weft_epoch against ck_epoch, liburcu (memb flavour) and crossbeam-epoch.
 *
 * Rows:
 *   section, 1 thread    ns per enter + exit (ck_epoch_begin + end,
 *                        rcu_read_lock + unlock, crossbeam's pin + drop),
 *                        a loop of --sections pairs around a load of a
 *                        shared pointer;
 *   section, 2 threads   the same loop on two threads at once (each its
 *                        own count), ns per pair per thread: what readers
 *                        cost each other;
 *   retire + free        ns per object: one thread hands --objects malloc'd
 *                        objects to the reclamation (weft_epoch_retire,
 *                        ck_epoch_call with a ck_epoch_poll every 64,
 *                        call_rcu, crossbeam's defer_unchecked) and waits
 *                        until every one was freed (synchronize,
 *                        ck_epoch_barrier, rcu_barrier, a flush and pins
 *                        until the count is reached).
 * The peers take turns, --runs rounds; a cell is the median, and the ratio
 * is weft's time / the peer's (below 1.00x weft is faster).
 *
 * Usage: bench_epoch [--runs N] [--sections N] [--objects N] [--quick]
 *                    [--peer-crossbeam PATH]
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/epoch.h>

#include "bench.h"
#include "wait.h" /* now_ns */

#ifdef HAVE_CK
#include <ck_epoch.h>
#endif
#ifdef HAVE_URCU
#define _LGPL_SOURCE 1 /* liburcu's inline read side, as its users build it */
#include <urcu.h>      /* memb */
#endif

enum { MAX_RUNS = 15, KINDS = 3 };
static const char *const kind_name[KINDS] = { "section, 1 thread", "section, 2 threads",
                                              "retire + free" };

static uint64_t opt_sections = 20000000, opt_objects = 1000000;
static atomic_uintptr_t shared_ptr; /* what the sections read */
static atomic_long freed;

static void count_free(void *p)
{
    free(p);
    /* relaxed: read after the barrier of the peer */
    atomic_fetch_add_explicit(&freed, 1, memory_order_relaxed);
}

struct peer {
    const char *name;
    double (*section)(unsigned threads); /* ns per pair per thread */
    double (*retire)(void);              /* ns per object */
};

/* Run fn on n threads at once; returns the slowest's ns per iteration. */
struct par {
    void *(*fn)(void *);
    pthread_barrier_t go;
    double ns[2];
    void *ctx;
};
struct par_arg {
    struct par *p;
    int i;
};

static void *par_body(void *arg)
{
    struct par_arg *a = arg;
    a->p->ns[a->i] = *(double *)a->p->fn(a->p);
    return NULL;
}

static double run_threads(void *(*fn)(void *), unsigned n, void *ctx)
{
    struct par p = { .fn = fn, .ctx = ctx };
    pthread_t t[2];
    struct par_arg a[2];
    pthread_barrier_init(&p.go, NULL, n);
    for (unsigned i = 0; i < n; i++) {
        a[i] = (struct par_arg){ &p, (int)i };
        pthread_create(&t[i], NULL, par_body, &a[i]);
    }
    for (unsigned i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&p.go);
    return n == 2 && p.ns[1] > p.ns[0] ? p.ns[1] : p.ns[0];
}

/* ---- weft ---------------------------------------------------------------- */

static void *weft_section_loop(void *arg)
{
    struct par *p = arg;
    static _Thread_local double ns;
    weft_epoch *d = p->ctx;
    uintptr_t sum = 0;
    weft_epoch_enter(d); /* the thread's record exists before the clock */
    weft_epoch_exit(d);
    pthread_barrier_wait(&p->go);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < opt_sections; i++) {
        weft_epoch_enter(d);
        sum += atomic_load_explicit(&shared_ptr, memory_order_acquire);
        weft_epoch_exit(d);
    }
    ns = (double)(now_ns() - t0) / (double)opt_sections;
    if (sum == 1)
        puts(""); /* keeps the loads */
    return &ns;
}

static double weft_section(unsigned threads)
{
    weft_epoch *d = weft_epoch_create();
    double ns = run_threads(weft_section_loop, threads, d);
    weft_epoch_destroy(d);
    return ns;
}

static void **objects(void)
{
    void **o = malloc(opt_objects * sizeof *o);
    for (uint64_t i = 0; o && i < opt_objects; i++)
        if (!(o[i] = malloc(32)))
            abort();
    atomic_store(&freed, 0);
    return o;
}

static double weft_retire(void)
{
    weft_epoch *d = weft_epoch_create();
    void **o = objects();
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < opt_objects; i++)
        weft_epoch_retire(d, o[i], count_free);
    weft_epoch_synchronize(d);
    double ns = (double)(now_ns() - t0) / (double)opt_objects;
    if (atomic_load(&freed) != (long)opt_objects)
        ns = -1;
    weft_epoch_destroy(d);
    free(o);
    return ns;
}

/* ---- ck_epoch --------------------------------------------------------------- */
#ifdef HAVE_CK
static void *ck_section_loop(void *arg)
{
    struct par *p = arg;
    static _Thread_local double ns;
    ck_epoch_t *ep = p->ctx;
    ck_epoch_record_t *rec = ck_epoch_recycle(ep, NULL); /* an unregistered one */
    if (rec == NULL) {
        if (!(rec = malloc(sizeof *rec)))
            abort();
        ck_epoch_register(ep, rec, NULL);
    }
    uintptr_t sum = 0;
    pthread_barrier_wait(&p->go);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < opt_sections; i++) {
        ck_epoch_begin(rec, NULL);
        sum += atomic_load_explicit(&shared_ptr, memory_order_acquire);
        ck_epoch_end(rec, NULL);
    }
    ns = (double)(now_ns() - t0) / (double)opt_sections;
    if (sum == 1)
        puts("");
    ck_epoch_unregister(rec); /* records are never freed by ck */
    return &ns;
}

static double ck_section(unsigned threads)
{
    static ck_epoch_t ep; /* ck_epoch has no destroy: one domain, reused */
    static bool init;
    if (!init) {
        ck_epoch_init(&ep);
        init = true;
    }
    return run_threads(ck_section_loop, threads, &ep);
}

struct ck_obj {
    ck_epoch_entry_t entry; /* ck needs the entry inside the object */
    char pad[16];
};

static void ck_free(ck_epoch_entry_t *e)
{
    count_free(e);
}

static double ck_retire(void)
{
    static ck_epoch_t ep;
    static ck_epoch_record_t rec;
    static bool init;
    if (!init) {
        ck_epoch_init(&ep);
        ck_epoch_register(&ep, &rec, NULL);
        init = true;
    }
    void **o = objects();
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < opt_objects; i++) {
        ck_epoch_call(&rec, &((struct ck_obj *)o[i])->entry, ck_free);
        if (i % 64 == 63)
            ck_epoch_poll(&rec);
    }
    ck_epoch_barrier(&rec);
    double ns = (double)(now_ns() - t0) / (double)opt_objects;
    if (atomic_load(&freed) != (long)opt_objects)
        ns = -1;
    free(o);
    return ns;
}
#endif

/* ---- liburcu, memb ------------------------------------------------------------ */
#ifdef HAVE_URCU
static void *urcu_section_loop(void *arg)
{
    struct par *p = arg;
    static _Thread_local double ns;
    rcu_register_thread();
    uintptr_t sum = 0;
    pthread_barrier_wait(&p->go);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < opt_sections; i++) {
        rcu_read_lock();
        sum += atomic_load_explicit(&shared_ptr, memory_order_acquire);
        rcu_read_unlock();
    }
    ns = (double)(now_ns() - t0) / (double)opt_sections;
    if (sum == 1)
        puts("");
    rcu_unregister_thread();
    return &ns;
}

static double urcu_section(unsigned threads)
{
    return run_threads(urcu_section_loop, threads, NULL);
}

struct urcu_obj {
    struct rcu_head head;
    char pad[16];
};

static void urcu_free(struct rcu_head *h)
{
    count_free(h);
}

static double urcu_retire(void)
{
    rcu_register_thread();
    void **o = objects();
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < opt_objects; i++)
        call_rcu(&((struct urcu_obj *)o[i])->head, urcu_free);
    rcu_barrier();
    double ns = (double)(now_ns() - t0) / (double)opt_objects;
    if (atomic_load(&freed) != (long)opt_objects)
        ns = -1;
    free(o);
    rcu_unregister_thread();
    return ns;
}
#endif

/* ---- crossbeam-epoch: a separate Rust program ------------------------------- */

static const char *xbeam_path;
static char xbeam_name[160];

/* Prints "crossbeam <kind 0..2> <ns>". */
static double xbeam_run(int kind)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s %d %" PRIu64 " %" PRIu64, xbeam_path, kind, opt_sections,
             opt_objects);
    FILE *f = popen(cmd, "r");
    double ns = -1;
    int k;
    if (f) {
        if (fscanf(f, "crossbeam %d %lf", &k, &ns) != 2)
            ns = -1;
        pclose(f);
    }
    return ns;
}

/* ---- the floor of any out-of-line section API ---------------------------- */

/* Empty functions the compiler must call (noinline; the asm makes them
 * impure, so the calls are not dropped).  weft_epoch_enter/exit are such a
 * pair of calls, whose bodies are the part weft can make faster. */
static __attribute__((noinline)) void empty_enter(void *d)
{
    __asm__ __volatile__("" : : "r"(d) : "memory");
}

static __attribute__((noinline)) void empty_exit(void *d)
{
    __asm__ __volatile__("" : : "r"(d) : "memory");
}

static double call_floor(void)
{
    uintptr_t sum = 0;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < opt_sections; i++) {
        empty_enter(&shared_ptr);
        sum += atomic_load_explicit(&shared_ptr, memory_order_acquire);
        empty_exit(&shared_ptr);
    }
    double ns = (double)(now_ns() - t0) / (double)opt_sections;
    if (sum == 1)
        puts("");
    return ns;
}

/* ---- main -------------------------------------------------------------------------- */

static double measure(const struct peer *pe, int kind)
{
    if (pe->section == NULL) /* the Rust peer */
        return xbeam_run(kind);
    return kind < 2 ? pe->section(kind + 1) : pe->retire();
}

int main(int argc, char **argv)
{
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            runs = 3;
            opt_sections = 5000000;
            opt_objects = 300000;
        } else if (!strcmp(a, "--runs") && v) {
            runs = atoi(v);
            i++;
        } else if (!strcmp(a, "--sections") && v) {
            opt_sections = strtoull(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--objects") && v) {
            opt_objects = strtoull(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--peer-crossbeam") && v) {
            xbeam_path = v;
            i++;
        } else {
            fprintf(stderr,
                    "usage: %s [--runs N] [--sections N] [--objects N] [--quick]\n"
                    "          [--peer-crossbeam PATH]\n",
                    argv[0]);
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS || opt_sections < 1000 || opt_objects < 1000)
        return 2;
    struct peer peers[4];
    int np = 0;
    peers[np++] = (struct peer){ "weft_epoch", weft_section, weft_retire };
#ifdef HAVE_CK
    peers[np++] = (struct peer){ "ck_epoch 0.7.1", ck_section, ck_retire };
#endif
#ifdef HAVE_URCU
    peers[np++] = (struct peer){ "liburcu 0.13 memb", urcu_section, urcu_retire };
#endif
    if (xbeam_path) {
        bench_rust_label(xbeam_path, "crossbeam-epoch 0.9", xbeam_name, sizeof xbeam_name);
        peers[np++] = (struct peer){ xbeam_name, NULL, NULL };
    }
    printf("bench_epoch: %" PRIu64 " sections, %" PRIu64 " objects, %d round(s)\n", opt_sections,
           opt_objects, runs);
    static double v[4][KINDS][MAX_RUNS], ratio[4][KINDS][MAX_RUNS];
    bool bad[4][KINDS] = { { false } };
    static double floor_ns[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        floor_ns[r] = call_floor();
        for (int k = 0; k < KINDS; k++) {
            double weft = 0;
            for (int p = 0; p < np; p++) {
                double ns = measure(&peers[p], k);
                if (ns <= 0)
                    bad[p][k] = true;
                if (p == 0)
                    weft = ns;
                v[p][k][r] = ns;
                ratio[p][k][r] = ns > 0 ? weft / ns : 0;
            }
        }
        printf("bench_epoch: round %d of %d done\n", r + 1, runs);
    }
    printf("\nns per operation, median of %d rounds (in brackets: weft's time / the peer's,\n"
           "median of the rounds' ratios; below 1.00x weft is faster):\n\n| peer",
           runs);
    for (int k = 0; k < KINDS; k++)
        printf(" | %s", kind_name[k]);
    printf(" |\n|---|---:|---:|---:|\n");
    for (int p = 0; p < np; p++) {
        printf("| %s", peers[p].name);
        for (int k = 0; k < KINDS; k++) {
            if (bad[p][k]) {
                printf(" | failed");
                continue;
            }
            double m = bench_median(v[p][k], (size_t)runs);
            if (p == 0)
                printf(" | %.2f", m);
            else
                printf(" | %.2f (%.2fx)", m, bench_median(ratio[p][k], (size_t)runs));
        }
        printf(" |\n");
    }
    printf("\nretire + free: every object freed before the clock stops (counted); ck_epoch\n"
           "and liburcu need an entry inside each object (ck_epoch_entry_t, rcu_head);\n"
           "weft_epoch and crossbeam take any pointer.\n"
           "\nfloor of a section API made of two library calls, as weft_epoch_enter/exit\n"
           "(ck_epoch and liburcu are inline, crossbeam's pin is inlined by rustc): two\n"
           "calls to empty functions around the same load take %.2f ns here.\n",
           bench_median(floor_ns, (size_t)runs));
    return 0;
}
