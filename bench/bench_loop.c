/*
 * bench_loop - results handed from worker threads back to one event-loop
 * thread that waits on file descriptors, the way an epoll / libuv / asyncio
 * program gets results back from its pool.
 *
 * Producers (1 or 2 threads, standing for pool workers) hand over
 * --items items in bursts of B (1, 16, 256) with a short pause (about 2 us
 * of spinning) between bursts, so that the loop runs out of work and goes
 * to sleep between them.  The loop takes every item and checks the sum
 * (each item exactly once).  Transports:
 *
 *   weft ring + doorbell   a weft_mpmc (capacity 4096) with a weft_doorbell
 *                          attached; the loop polls the doorbell's fd
 *                          (prepare / look / poll / clear)
 *   pipe per item          the item itself written to a pipe (asyncio's
 *                          call_soon_threadsafe writes a byte to its
 *                          self-pipe per call); the loop polls and reads
 *   eventfd per item       a mutex-protected list and an eventfd write per
 *                          item; the loop polls, reads, drains the list
 *   libuv uv_async_send    a mutex-protected list and uv_async_send per item
 *                          (the pattern libuv's documentation suggests;
 *                          libuv coalesces the sends); the loop is uv_run
 *
 * Reported: items per second (median of --runs rounds, the transports
 * interleaved in each round), what a send costs the producer (its time
 * inside its bursts, per item: the sends and what they wait for, such as
 * a mutex or a write(2); the clock reads around each burst included), and
 * system calls per item: the process's
 * read(2)/write(2)-family calls (/proc/self/io, syscr + syscw) plus the
 * loop's poll(2)/epoll_wait(2) calls (counted here; libuv's epoll_wait
 * calls are counted by its uv_prepare handle) and the doorbell's
 * membarrier(2) calls (counted by wrapping libweft's syscall(2), see
 * __wrap_syscall).  Futex calls of the mutexes and of weft's blocking push
 * are not counted.
 *
 * Usage: bench_loop [--runs N] [--items N] [--quick]
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_LIBUV
#include <uv.h>
#endif

#include <weft/doorbell.h>
#include <weft/mpmc.h>

#include "bench.h"
#include "wait.h" /* now_ns */

enum { MAX_RUNS = 31, MAX_PRODUCERS = 2 };

static uint64_t opt_items = 400000;

/* read(2)/write(2)-family calls of the whole process so far */
static uint64_t rw_syscalls(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    uint64_t r = 0, w = 0, v;
    char key[32];
    if (f == NULL)
        return 0;
    while (fscanf(f, "%31s %" SCNu64, key, &v) == 2) {
        if (!strcmp(key, "syscr:"))
            r = v;
        else if (!strcmp(key, "syscw:"))
            w = v;
    }
    fclose(f);
    return r + w;
}

/* weft's syscall(2) calls, counted: the bench is linked with
 * -Wl,--wrap=syscall (mk/bench_loop.am, GNU ld and lld), so libweft's
 * calls (linked in statically) come here; libuv's and libc's own do not.
 * Each number is forwarded with the arguments, of the types, that
 * src/eventcount.c passes for it (membarrier: cmd, flags, cpu_id; futex:
 * word, op, value, timeout, NULL, 0); msgq.c's gettid and tgkill are not
 * linked into this program, so any other number is a bench bug. */
long __real_syscall(long nr, ...);
long __wrap_syscall(long nr, ...);
static atomic_uint_fast64_t membarrier_calls;

long __wrap_syscall(long nr, ...)
{
    va_list ap;
    long rc;
    va_start(ap, nr);
    if (nr == SYS_membarrier) {
        /* relaxed: a statistic, read after the threads are joined */
        atomic_fetch_add_explicit(&membarrier_calls, 1, memory_order_relaxed);
        int cmd = va_arg(ap, int);
        unsigned flags = va_arg(ap, unsigned);
        int cpu = va_arg(ap, int);
        rc = __real_syscall(nr, cmd, flags, cpu);
    } else if (nr == SYS_futex) {
        void *word = va_arg(ap, void *);
        int op = va_arg(ap, int);
        unsigned val = va_arg(ap, unsigned);
        void *timeout = va_arg(ap, void *);
        void *word2 = va_arg(ap, void *);
        int val3 = va_arg(ap, int);
        rc = __real_syscall(nr, word, op, val, timeout, word2, val3);
    } else {
        abort();
    }
    va_end(ap);
    return rc;
}

static void pause_between_bursts(void)
{
    uint64_t until = now_ns() + 2000;
    while (now_ns() < until)
        ;
}

/* One run: what the transport's producers and loop share. */
struct run {
    unsigned producers, burst;
    uint64_t per_producer;
    uint64_t loop_syscalls;       /* poll / epoll_wait by the loop, then membarrier */
    atomic_uint_fast64_t send_ns; /* the producers' time inside their bursts */
    void *ctx;
};

/* Item k of producer p: 1-based, distinct, so that the sum checks exactly-once. */
static uintptr_t item_of(unsigned p, uint64_t k)
{
    return (uintptr_t)p * opt_items + k + 1;
}

static uint64_t expected_sum(const struct run *r)
{
    uint64_t s = 0;
    for (unsigned p = 0; p < r->producers; p++)
        for (uint64_t k = 0; k < r->per_producer; k++)
            s += item_of(p, k);
    return s;
}

struct producer_arg {
    struct run *r;
    unsigned p;
    void (*send)(struct run *r, uintptr_t item);
};

static void *producer(void *arg)
{
    struct producer_arg *a = arg;
    uint64_t in_bursts = 0, start = now_ns();
    for (uint64_t k = 0; k < a->r->per_producer; k++) {
        a->send(a->r, item_of(a->p, k));
        if ((k + 1) % a->r->burst == 0) {
            in_bursts += now_ns() - start;
            pause_between_bursts();
            start = now_ns();
        }
    }
    in_bursts += now_ns() - start;
    /* relaxed: read after the join */
    atomic_fetch_add_explicit(&a->r->send_ns, in_bursts, memory_order_relaxed);
    return NULL;
}

static void start_producers(struct run *r, void (*send)(struct run *, uintptr_t), pthread_t *t,
                            struct producer_arg *a)
{
    for (unsigned p = 0; p < r->producers; p++) {
        a[p] = (struct producer_arg){ r, p, send };
        if (pthread_create(&t[p], NULL, producer, &a[p]) != 0)
            abort();
    }
}

static void join_producers(struct run *r, pthread_t *t)
{
    for (unsigned p = 0; p < r->producers; p++)
        pthread_join(t[p], NULL);
}

static void wait_readable(struct run *r, int fd)
{
    struct pollfd pf = { fd, POLLIN, 0 };
    while (poll(&pf, 1, -1) < 0 && errno == EINTR)
        ;
    r->loop_syscalls++;
}

/* ---- weft ring + doorbell ---------------------------------------------------- */

struct weft_ctx {
    weft_mpmc *q;
    weft_doorbell *db;
};

static void weft_send(struct run *r, uintptr_t item)
{
    struct weft_ctx *c = r->ctx;
    if (weft_mpmc_push(c->q, (void *)item) != 0)
        abort();
}

static uint64_t weft_loop(struct run *r, uint64_t total)
{
    struct weft_ctx *c = r->ctx;
    uint64_t n = 0, sum = 0;
    void *items[256];
    bool prepared = false;
    while (n < total) {
        size_t k = weft_mpmc_try_pop_many(c->q, items, 256);
        if (prepared) {
            prepared = false;
            if (k == 0) {
                /* the look after prepare found nothing published (an item
                 * still being pushed rings once it is): wait */
                wait_readable(r, weft_doorbell_fd(c->db));
                weft_doorbell_clear(c->db);
                continue;
            }
            weft_doorbell_cancel(c->db);
        }
        if (k > 0) {
            for (size_t i = 0; i < k; i++)
                sum += (uintptr_t)items[i];
            n += k;
            continue;
        }
        weft_doorbell_prepare(c->db);
        prepared = true;
    }
    return sum;
}

static uint64_t weft_run(struct run *r)
{
    struct weft_ctx c = { weft_mpmc_create(4096), weft_doorbell_create() };
    if (!c.q || !c.db || weft_mpmc_set_doorbell(c.q, c.db) != 0)
        abort();
    r->ctx = &c;
    pthread_t t[MAX_PRODUCERS];
    struct producer_arg a[MAX_PRODUCERS];
    start_producers(r, weft_send, t, a);
    uint64_t sum = weft_loop(r, r->per_producer * r->producers);
    join_producers(r, t);
    weft_mpmc_destroy(c.q);
    weft_doorbell_destroy(c.db);
    return sum;
}

/* ---- a pipe write per item ------------------------------------------------------ */

static void pipe_send(struct run *r, uintptr_t item)
{
    int *fds = r->ctx;
    uint64_t v = item;
    /* 8 bytes <= PIPE_BUF: atomic; blocks while the pipe is full */
    if (write(fds[1], &v, sizeof v) != (ssize_t)sizeof v)
        abort();
}

static uint64_t pipe_run(struct run *r)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        abort();
    r->ctx = fds;
    pthread_t t[MAX_PRODUCERS];
    struct producer_arg a[MAX_PRODUCERS];
    start_producers(r, pipe_send, t, a);
    uint64_t total = r->per_producer * r->producers, n = 0, sum = 0;
    uint64_t buf[512];
    size_t have = 0; /* bytes of a partial item left from the last read */
    while (n < total) {
        wait_readable(r, fds[0]);
        ssize_t k = read(fds[0], (char *)buf + have, sizeof buf - have);
        if (k <= 0)
            abort();
        have += (size_t)k;
        size_t whole = have / sizeof buf[0];
        for (size_t i = 0; i < whole; i++)
            sum += buf[i];
        n += whole;
        have -= whole * sizeof buf[0];
        memmove(buf, buf + whole, have);
    }
    join_producers(r, t);
    close(fds[0]);
    close(fds[1]);
    return sum;
}

/* ---- a mutex-protected list (eventfd and libuv) -------------------------------- */

struct list {
    pthread_mutex_t mu;
    uintptr_t *v;
    size_t n, cap;
};

static void list_put(struct list *l, uintptr_t item)
{
    pthread_mutex_lock(&l->mu);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        if (!(l->v = realloc(l->v, l->cap * sizeof *l->v)))
            abort();
    }
    l->v[l->n++] = item;
    pthread_mutex_unlock(&l->mu);
}

/* Take everything: add it to *sum; returns how many. */
static uint64_t list_drain(struct list *l, uint64_t *sum)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->n;
    for (size_t i = 0; i < n; i++)
        *sum += l->v[i];
    l->n = 0;
    pthread_mutex_unlock(&l->mu);
    return n;
}

struct efd_ctx {
    struct list l;
    int efd;
};

static void efd_send(struct run *r, uintptr_t item)
{
    struct efd_ctx *c = r->ctx;
    list_put(&c->l, item);
    uint64_t one = 1;
    if (write(c->efd, &one, sizeof one) != (ssize_t)sizeof one)
        abort();
}

static uint64_t efd_run(struct run *r)
{
    struct efd_ctx c = { { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0 },
                         eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
    if (c.efd < 0)
        abort();
    r->ctx = &c;
    pthread_t t[MAX_PRODUCERS];
    struct producer_arg a[MAX_PRODUCERS];
    start_producers(r, efd_send, t, a);
    uint64_t total = r->per_producer * r->producers, n = 0, sum = 0;
    while (n < total) {
        wait_readable(r, c.efd);
        uint64_t v;
        if (read(c.efd, &v, sizeof v) != (ssize_t)sizeof v)
            abort();
        n += list_drain(&c.l, &sum);
    }
    join_producers(r, t);
    close(c.efd);
    free(c.l.v);
    return sum;
}

/* ---- libuv's uv_async_send ------------------------------------------------------- */
#ifdef HAVE_LIBUV
struct libuv_ctx {
    struct list l;
    uv_async_t async;
    uv_prepare_t prep;
    uint64_t n, total, sum;
    struct run *r;
};

static void libuv_send(struct run *r, uintptr_t item)
{
    struct libuv_ctx *c = r->ctx;
    list_put(&c->l, item);
    if (uv_async_send(&c->async) != 0)
        abort();
}

static void libuv_on_async(uv_async_t *h)
{
    struct libuv_ctx *c = h->data;
    c->n += list_drain(&c->l, &c->sum);
    if (c->n >= c->total) {
        uv_close((uv_handle_t *)&c->async, NULL);
        uv_close((uv_handle_t *)&c->prep, NULL);
    }
}

static void libuv_on_prepare(uv_prepare_t *h)
{
    struct libuv_ctx *c = h->data;
    c->r->loop_syscalls++; /* the epoll_wait that follows */
}

static uint64_t libuv_run(struct run *r)
{
    uv_loop_t loop;
    static struct libuv_ctx c; /* big enough to keep off the stack */
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.l.mu, NULL);
    c.total = r->per_producer * r->producers;
    c.r = r;
    if (uv_loop_init(&loop) != 0 || uv_async_init(&loop, &c.async, libuv_on_async) != 0 ||
        uv_prepare_init(&loop, &c.prep) != 0 || uv_prepare_start(&c.prep, libuv_on_prepare) != 0)
        abort();
    c.async.data = &c;
    c.prep.data = &c;
    r->ctx = &c;
    pthread_t t[MAX_PRODUCERS];
    struct producer_arg a[MAX_PRODUCERS];
    start_producers(r, libuv_send, t, a);
    uv_run(&loop, UV_RUN_DEFAULT);
    join_producers(r, t);
    uv_loop_close(&loop);
    pthread_mutex_destroy(&c.l.mu);
    free(c.l.v);
    return c.sum;
}
#endif

/* ---- main ------------------------------------------------------------------------- */

struct transport {
    const char *name;
    uint64_t (*run)(struct run *r);
};

static const struct transport transports[] = {
    { "weft ring + doorbell", weft_run },
    { "pipe write per item", pipe_run },
    { "eventfd write per item", efd_run },
#ifdef HAVE_LIBUV
    { "libuv 1.44 uv_async_send", libuv_run },
#endif
};
enum { NT = sizeof transports / sizeof transports[0] };
static const unsigned bursts[] = { 1, 16, 256 };
enum { NB = 3, NP = 2 };

/* One measured run: items/s, syscalls per item into *spi, and the
 * producers' nanoseconds per item inside their bursts into *npi. */
static double measure(const struct transport *tr, unsigned producers, unsigned burst, double *spi,
                      double *npi)
{
    struct run r = { producers, burst, opt_items / producers, 0, 0, NULL };
    /* relaxed: no thread of the run is running (see __wrap_syscall) */
    uint64_t m0 = atomic_load_explicit(&membarrier_calls, memory_order_relaxed);
    uint64_t s0 = rw_syscalls(), t0 = now_ns();
    uint64_t sum = tr->run(&r);
    uint64_t t1 = now_ns(), s1 = rw_syscalls();
    r.loop_syscalls += atomic_load_explicit(&membarrier_calls, memory_order_relaxed) - m0;
    uint64_t total = r.per_producer * producers;
    if (sum != expected_sum(&r)) {
        fprintf(stderr, "bench_loop: %s lost or duplicated items\n", tr->name);
        exit(1);
    }
    *spi = (double)(s1 - s0 + r.loop_syscalls) / (double)total;
    /* relaxed: the producers are joined */
    *npi = (double)atomic_load_explicit(&r.send_ns, memory_order_relaxed) / (double)total;
    return (double)total / ((double)(t1 - t0) / 1e9);
}

typedef double results[NT][NP][NB][MAX_RUNS];

/* One table: the medians of v (times scale), each with the median of
 * calls (system calls per item) in brackets when calls is not NULL. */
static void print_table(const char *title, int runs, results v, double scale, results calls)
{
    printf(
        "\n%s, median of %d rounds%s\n\n"
        "| transport | producers | burst 1 | burst 16 | burst 256 |\n|---|---:|---:|---:|---:|\n",
        title, runs, calls ? " (in brackets: system calls per item)" : "");
    for (int t = 0; t < NT; t++)
        for (int p = 0; p < NP; p++) {
            printf("| %s | %d", transports[t].name, p + 1);
            for (int b = 0; b < NB; b++) {
                double m = bench_median(v[t][p][b], (size_t)runs) * scale;
                if (calls)
                    printf(" | %.2f (%.3f)", m, bench_median(calls[t][p][b], (size_t)runs));
                else
                    printf(" | %.0f", m);
            }
            printf(" |\n");
        }
}

int main(int argc, char **argv)
{
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            runs = 3;
            opt_items = 100000;
        } else if (!strcmp(a, "--runs") && v) {
            runs = atoi(v);
            i++;
        } else if (!strcmp(a, "--items") && v) {
            opt_items = strtoull(v, NULL, 10);
            i++;
        } else {
            fprintf(stderr, "usage: %s [--runs N] [--items N] [--quick]\n", argv[0]);
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS || opt_items < 1000)
        return 2;
    static results ips, spi, npi;
    printf("bench_loop: %" PRIu64 " items per run, %d round(s)\n", opt_items, runs);
    for (int round = 0; round < runs; round++) {
        for (int p = 0; p < NP; p++)
            for (int b = 0; b < NB; b++)
                for (int t = 0; t < NT; t++)
                    ips[t][p][b][round] = measure(&transports[t], (unsigned)p + 1, bursts[b],
                                                  &spi[t][p][b][round], &npi[t][p][b][round]);
        printf("bench_loop: round %d of %d done\n", round + 1, runs);
    }
    print_table("M items/s to the loop", runs, ips, 1e-6, spi);
    printf("\nsystem calls: read/write family (/proc/self/io) + the loop's poll/epoll_wait +\n"
           "the doorbell's membarrier calls; futex calls not counted.\n");
    print_table("What a send costs the producer: ns per item inside its bursts (the sends,\n"
                "and whatever the sends wait for)",
                runs, npi, 1, NULL);
    return 0;
}
