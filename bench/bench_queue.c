/*
 * bench_queue - items per second through unbounded MPMC queues, weft_queue
 * against its peers, with the same harness for all; and the bytes each
 * holds per queued item.
 *
 *   weft_queue                       vs  moodycamel ConcurrentQueue (tokens),
 *   at 1P1C 2P2C 4P4C 8P8C 1P4C 4P1C     oneTBB concurrent_queue,
 *                                        boost::lockfree::queue,
 *                                        liburcu wfcqueue and rculfqueue,
 *                                        ck_fifo_mpmc, crossbeam SegQueue
 *
 * A run of a (peer, scenario) pair happens in a fork()ed child: P producers
 * and C consumers start behind a barrier; the producers push ITEMS items in
 * all (each its share, values (producer + 1) << 40 | sequence); consumers
 * pop until every item has come out.  Each consumer checks that it sees
 * each producer's items in increasing order (all these queues promise at
 * least per-producer FIFO), and the child checks that count and sum of what
 * came out match what went in: ok, else LOST/DUP or ORDER.  When nothing is
 * popped for --stall seconds the parent kills the child: "stalled".
 * Throughput is ITEMS / (barrier to the last pop).  The peers take turns
 * (round 1 of each, then round 2, ...); a cell is the median of --runs
 * runs and its ratio to weft_queue of the same round (median of the
 * per-round ratios).
 *
 * Every peer runs through its fastest public interface: moodycamel with a
 * producer or consumer token per thread, boost with a preallocated node
 * pool that grows, TBB's try_pop.  Node-based peers (liburcu's, ck_fifo)
 * need a node per item: malloc per push; wfcqueue frees it after its
 * (mutex-serialised) dequeue, rculfqueue hands it to call_rcu (memb
 * flavour), and ck_fifo_mpmc's dequeued "garbage" stubs, which need safe
 * memory reclamation before reuse, are kept and freed after the run (so
 * ck's row pays for no reclamation at all).  Empty pops back off alike for
 * every peer: a few pauses, then sched_yield.
 *
 * Bytes per item: in a child, RSS before and after one thread pushed
 * 1,000,000 items into a new queue, divided by the count.
 *
 * Usage: bench_queue [--runs N] [--items N] [--stall S] [--quick]
 *                    [--only TEXT] [--peer-segqueue PATH] [--csv FILE]
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <weft/queue.h>

#include "bench.h"
#include "bench_queue.h"
#include "wait.h" /* cpu_relax, now_ns */

#ifdef HAVE_CK
#include <ck_fifo.h>
#endif
#ifdef HAVE_URCU
#define _LGPL_SOURCE 1 /* liburcu's inline fast paths, as its users build them */
#include <urcu.h>      /* the memb flavour */
#include <urcu/rculfqueue.h>
#include <urcu/wfcqueue.h>
#endif

enum { MAX_SIDE = 8, MAX_PEERS = 12, MAX_RUNS = 15, MEM_ITEMS = 1000000 };

/* ---- the peers written in C --------------------------------------------- */

static void *weft_create(void)
{
    return weft_queue_create();
}
static void weft_destroy(void *q)
{
    weft_queue_destroy(q);
}
static void weft_push(void *q, void *tok, uintptr_t v)
{
    (void)tok;
    if (weft_queue_push(q, (void *)v) != 0)
        abort();
}
static bool weft_pop(void *q, void *tok, uintptr_t *v)
{
    (void)tok;
    void *p;
    if (!weft_queue_try_pop(q, &p))
        return false;
    *v = (uintptr_t)p;
    return true;
}

#ifdef HAVE_URCU
struct wfcq_peer {
    struct cds_wfcq_head head;
    struct cds_wfcq_tail tail;
};
struct wfcq_node {
    struct cds_wfcq_node node;
    uintptr_t v;
};
static void *wfcq_create(void)
{
    struct wfcq_peer *q = malloc(sizeof *q);
    if (q)
        cds_wfcq_init(&q->head, &q->tail);
    return q;
}
static void wfcq_destroy(void *q)
{
    struct wfcq_peer *w = q;
    cds_wfcq_destroy(&w->head, &w->tail);
    free(q);
}
static void wfcq_push(void *q, void *tok, uintptr_t v)
{
    (void)tok;
    struct wfcq_peer *w = q;
    struct wfcq_node *n = malloc(sizeof *n);
    if (!n)
        abort();
    cds_wfcq_node_init(&n->node);
    n->v = v;
    cds_wfcq_enqueue(&w->head, &w->tail, &n->node);
}
static bool wfcq_pop(void *q, void *tok, uintptr_t *v)
{
    (void)tok;
    struct wfcq_peer *w = q;
    struct cds_wfcq_node *n = cds_wfcq_dequeue_blocking(&w->head, &w->tail);
    if (!n)
        return false;
    struct wfcq_node *x = (struct wfcq_node *)(void *)n; /* node is the first member */
    *v = x->v;
    free(x); /* valid at once after a blocking (mutex) dequeue */
    return true;
}

struct lfq_node {
    struct cds_lfq_node_rcu node;
    struct rcu_head rcu;
    uintptr_t v;
};
static void *lfq_create(void)
{
    struct cds_lfq_queue_rcu *q = malloc(sizeof *q);
    if (q)
        cds_lfq_init_rcu(q, call_rcu);
    return q;
}
static void lfq_destroy(void *q)
{
    rcu_barrier(); /* the call_rcu frees of the run */
    (void)cds_lfq_destroy_rcu(q);
    free(q);
}
static void *lfq_begin(void *q, bool producer)
{
    (void)q;
    (void)producer;
    rcu_register_thread();
    return NULL;
}
static void lfq_end(void *q, void *tok)
{
    (void)q;
    (void)tok;
    rcu_unregister_thread();
}
static void lfq_push(void *q, void *tok, uintptr_t v)
{
    (void)tok;
    struct lfq_node *n = malloc(sizeof *n);
    if (!n)
        abort();
    cds_lfq_node_init_rcu(&n->node);
    n->v = v;
    rcu_read_lock();
    cds_lfq_enqueue_rcu(q, &n->node);
    rcu_read_unlock();
}
static void lfq_free_node(struct rcu_head *h)
{
    free((char *)(void *)h - offsetof(struct lfq_node, rcu));
}
static bool lfq_pop(void *q, void *tok, uintptr_t *v)
{
    (void)tok;
    rcu_read_lock();
    struct cds_lfq_node_rcu *n = cds_lfq_dequeue_rcu(q);
    rcu_read_unlock();
    if (!n)
        return false;
    struct lfq_node *x = (struct lfq_node *)(void *)n; /* node is the first member */
    *v = x->v;
    call_rcu(&x->rcu, lfq_free_node);
    return true;
}
#endif /* HAVE_URCU */

#ifdef HAVE_CK
/* ck_fifo_mpmc: the caller provides an entry per enqueue; a dequeue hands
 * back the old stub entry ("garbage"), which other dequeuers may still
 * read: it needs SMR before reuse.  Here consumers keep the garbage in a
 * per-thread list, freed when the thread ends (after the timed part). */
struct ckq {
    ck_fifo_mpmc_t fifo;
};
struct ck_tok {
    void **garbage;
    size_t n, cap;
};
static void *ckq_create(void)
{
    struct ckq *q = malloc(sizeof *q);
    ck_fifo_mpmc_entry_t *stub = malloc(sizeof *stub);
    if (!q || !stub) {
        free(q);
        free(stub);
        return NULL;
    }
    ck_fifo_mpmc_init(&q->fifo, stub);
    return q;
}
static void ckq_destroy(void *q)
{
    struct ckq *c = q;
    ck_fifo_mpmc_entry_t *garbage = NULL;
    ck_fifo_mpmc_deinit(&c->fifo, &garbage);
    free(garbage);
    free(q);
}
static void *ckq_begin(void *q, bool producer)
{
    (void)q;
    (void)producer;
    return calloc(1, sizeof(struct ck_tok));
}
static void ckq_end(void *q, void *tok)
{
    (void)q;
    struct ck_tok *t = tok;
    for (size_t i = 0; i < t->n; i++)
        free(t->garbage[i]);
    free(t->garbage);
    free(t);
}
static void ckq_push(void *q, void *tok, uintptr_t v)
{
    (void)tok;
    ck_fifo_mpmc_entry_t *e = malloc(sizeof *e);
    if (!e)
        abort();
    ck_fifo_mpmc_enqueue(&((struct ckq *)q)->fifo, e, (void *)v);
}
static bool ckq_pop(void *q, void *tok, uintptr_t *v)
{
    struct ck_tok *t = tok;
    ck_fifo_mpmc_entry_t *garbage;
    void *p;
    if (!ck_fifo_mpmc_dequeue(&((struct ckq *)q)->fifo, &p, &garbage))
        return false;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 4096;
        t->garbage = realloc(t->garbage, t->cap * sizeof *t->garbage);
        if (!t->garbage)
            abort();
    }
    t->garbage[t->n++] = garbage;
    *v = (uintptr_t)p;
    return true;
}
#endif /* HAVE_CK */

static struct qpeer peers[MAX_PEERS];
static size_t npeers;

static void add_c_peers(void)
{
    peers[npeers++] = (struct qpeer){ .name = "weft_queue",
                                      .create = weft_create,
                                      .destroy = weft_destroy,
                                      .push = weft_push,
                                      .pop = weft_pop };
#ifdef HAVE_URCU
    peers[npeers++] = (struct qpeer){ .name = "urcu wfcqueue",
                                      .create = wfcq_create,
                                      .destroy = wfcq_destroy,
                                      .push = wfcq_push,
                                      .pop = wfcq_pop };
    peers[npeers++] = (struct qpeer){ .name = "urcu rculfqueue",
                                      .create = lfq_create,
                                      .destroy = lfq_destroy,
                                      .begin = lfq_begin,
                                      .end = lfq_end,
                                      .push = lfq_push,
                                      .pop = lfq_pop };
#endif
#ifdef HAVE_CK
    peers[npeers++] = (struct qpeer){ .name = "ck_fifo_mpmc *",
                                      .create = ckq_create,
                                      .destroy = ckq_destroy,
                                      .begin = ckq_begin,
                                      .end = ckq_end,
                                      .push = ckq_push,
                                      .pop = ckq_pop };
#endif
    size_t n = 0;
    const struct qpeer *cxx = bench_queue_cxx_peers(&n);
    for (size_t i = 0; i < n && npeers < MAX_PEERS - 1; i++)
        peers[npeers++] = cxx[i];
}

/* ---- one run, in a child ---------------------------------------------------- */

struct scenario {
    const char *name;
    unsigned p, c;
};
static const struct scenario scenarios[] = {
    { "1P1C", 1, 1 }, { "2P2C", 2, 2 }, { "4P4C", 4, 4 },
    { "8P8C", 8, 8 }, { "1P4C", 1, 4 }, { "4P1C", 4, 1 },
};
enum { NSCEN = sizeof scenarios / sizeof scenarios[0] };

enum outcome { OK, LOST, ORDER, STALLED, FAILED };
static const char *const outcome_name[] = { "ok", "LOST/DUP", "ORDER", "stalled", "failed" };

struct run_ctx {
    const struct qpeer *pe;
    void *q;
    unsigned P, C;
    uint64_t items;
    pthread_barrier_t go;
    atomic_uint_least64_t consumed;  /* reported in chunks */
    atomic_uint_least64_t *progress; /* shared with the parent */
};

struct side {
    struct run_ctx *x;
    unsigned id;
    uint64_t count, sum;
    bool order_ok;
};

static void backoff(unsigned *spins)
{
    if (++*spins % 64 == 0)
        sched_yield();
    else
        cpu_relax();
}

static uint64_t share(const struct run_ctx *x, unsigned id)
{
    return x->items / x->P + (id < x->items % x->P);
}

static void *producer(void *arg)
{
    struct side *s = arg;
    struct run_ctx *x = s->x;
    void *tok = x->pe->begin ? x->pe->begin(x->q, true) : NULL;
    pthread_barrier_wait(&x->go);
    uint64_t n = share(x, s->id);
    uintptr_t base = (uintptr_t)(s->id + 1) << 40;
    for (uint64_t i = 0; i < n; i++)
        x->pe->push(x->q, tok, base | i);
    if (x->pe->end)
        x->pe->end(x->q, tok);
    return NULL;
}

static void *consumer(void *arg)
{
    struct side *s = arg;
    struct run_ctx *x = s->x;
    void *tok = x->pe->begin ? x->pe->begin(x->q, false) : NULL;
    uint64_t next[MAX_SIDE] = { 0 }, unreported = 0;
    unsigned spins = 0;
    s->order_ok = true;
    pthread_barrier_wait(&x->go);
    for (;;) {
        uintptr_t v;
        if (x->pe->pop(x->q, tok, &v)) {
            unsigned p = (unsigned)(v >> 40) - 1;
            uint64_t seq = v & (((uintptr_t)1 << 40) - 1);
            if (p >= x->P || seq < next[p])
                s->order_ok = false;
            else
                next[p] = seq + 1;
            s->count++;
            s->sum += v;
            spins = 0;
            if (++unreported == 256) {
                /* relaxed: counters; the join orders the results */
                atomic_fetch_add_explicit(&x->consumed, unreported, memory_order_relaxed);
                atomic_fetch_add_explicit(x->progress, unreported, memory_order_relaxed);
                unreported = 0;
            }
            continue;
        }
        if (unreported) {
            atomic_fetch_add_explicit(&x->consumed, unreported, memory_order_relaxed);
            atomic_fetch_add_explicit(x->progress, unreported, memory_order_relaxed);
            unreported = 0;
        }
        if (atomic_load_explicit(&x->consumed, memory_order_relaxed) >= x->items)
            break;
        backoff(&spins);
    }
    if (x->pe->end)
        x->pe->end(x->q, tok);
    return NULL;
}

/* The child's work: one run; writes (M items/s, outcome) to fd. */
static void child_run(const struct qpeer *pe, const struct scenario *sc, uint64_t items,
                      atomic_uint_least64_t *progress, int fd)
{
    struct run_ctx x = { .pe = pe, .P = sc->p, .C = sc->c, .items = items, .progress = progress };
    struct side ps[MAX_SIDE], cs[MAX_SIDE];
    pthread_t pt[MAX_SIDE], ct[MAX_SIDE];
    double res[2] = { 0, FAILED };
    atomic_init(&x.consumed, 0);
    if (!(x.q = pe->create()) || pthread_barrier_init(&x.go, NULL, sc->p + sc->c + 1) != 0)
        goto out;
    for (unsigned i = 0; i < sc->c; i++) {
        cs[i] = (struct side){ .x = &x, .id = i };
        if (pthread_create(&ct[i], NULL, consumer, &cs[i]) != 0)
            goto out;
    }
    for (unsigned i = 0; i < sc->p; i++) {
        ps[i] = (struct side){ .x = &x, .id = i };
        if (pthread_create(&pt[i], NULL, producer, &ps[i]) != 0)
            goto out;
    }
    pthread_barrier_wait(&x.go);
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < sc->c; i++)
        pthread_join(ct[i], NULL);
    uint64_t t1 = now_ns();
    for (unsigned i = 0; i < sc->p; i++)
        pthread_join(pt[i], NULL);
    uint64_t count = 0, sum = 0, want = 0;
    bool order = true;
    for (unsigned i = 0; i < sc->c; i++) {
        count += cs[i].count;
        sum += cs[i].sum;
        order = order && cs[i].order_ok;
    }
    for (unsigned p = 0; p < sc->p; p++) {
        uint64_t n = share(&x, p);
        want += n * ((uint64_t)(p + 1) << 40) + n * (n - 1) / 2;
    }
    res[0] = (double)items / ((double)(t1 - t0) / 1e9) / 1e6;
    res[1] = count != items || sum != want ? LOST : !order ? ORDER : OK;
    pe->destroy(x.q);
out:
    if (write(fd, res, sizeof res) != (ssize_t)sizeof res)
        _exit(2);
    _exit(0);
}

static double opt_stall = 10.0;

/* A counter in memory shared with the children (their progress). */
static atomic_uint_least64_t *mmap_shared_counter(void)
{
    void *m = mmap(NULL, sizeof(atomic_uint_least64_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

/* Run in a child; STALLED when no item moved for opt_stall seconds. */
static enum outcome run_once(const struct qpeer *pe, const struct scenario *sc, uint64_t items,
                             double *mitems)
{
    static atomic_uint_least64_t *progress;
    if (!progress) {
        progress = mmap_shared_counter();
        if (!progress)
            return FAILED;
    }
    atomic_store(progress, 0);
    int fds[2];
    if (pipe(fds) != 0)
        return FAILED;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return FAILED;
    if (pid == 0) {
        close(fds[0]);
        child_run(pe, sc, items, progress, fds[1]);
    }
    close(fds[1]);
    double res[2] = { 0, FAILED };
    uint64_t last = 0;
    double idle = 0;
    for (;;) {
        struct pollfd pfd = { fds[0], POLLIN, 0 };
        int r = poll(&pfd, 1, 200);
        if (r > 0) {
            if (read(fds[0], res, sizeof res) != (ssize_t)sizeof res)
                res[1] = FAILED;
            break;
        }
        uint64_t now = atomic_load(progress);
        idle = now == last ? idle + 0.2 : 0;
        last = now;
        if (idle >= opt_stall) {
            kill(pid, SIGKILL);
            res[1] = STALLED;
            break;
        }
    }
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    *mitems = res[0];
    return (enum outcome)res[1];
}

/* ---- the crossbeam SegQueue peer: a separate Rust program ---------------- */

static const char *segqueue_path;
static char segqueue_label[160];

/* One run of the Rust peer: it prints "segqueue P C MITEMS ok|LOST|ORDER". */
static enum outcome run_segqueue(const struct scenario *sc, uint64_t items, double *mitems)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "timeout %.0f %s run %u %u %" PRIu64, opt_stall * 6, segqueue_path,
             sc->p, sc->c, items);
    FILE *f = popen(cmd, "r");
    if (!f)
        return FAILED;
    char verdict[32] = "";
    unsigned p, c;
    int got = fscanf(f, "segqueue %u %u %lf %31s", &p, &c, mitems, verdict);
    int st = pclose(f);
    if (got != 4)
        return WIFEXITED(st) && WEXITSTATUS(st) == 124 ? STALLED : FAILED;
    return !strcmp(verdict, "ok") ? OK : !strcmp(verdict, "ORDER") ? ORDER : LOST;
}

/* ---- memory: bytes per queued item -------------------------------------------- */

static long resident_kb(void)
{
    long pages = 0, resident = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static double bytes_per_item(const struct qpeer *pe)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        double b = -1;
        long r0 = resident_kb();
        void *q = pe->create();
        void *tok = pe->begin ? pe->begin(q, true) : NULL;
        if (q) {
            for (uintptr_t i = 0; i < MEM_ITEMS; i++)
                pe->push(q, tok, (uintptr_t)1 << 40 | i);
            long r1 = resident_kb();
            b = (double)(r1 - r0) * 1024.0 / MEM_ITEMS;
        }
        if (write(fds[1], &b, sizeof b) != (ssize_t)sizeof b)
            _exit(2);
        _exit(0); /* no teardown: the child ends */
    }
    close(fds[1]);
    double b = -1;
    if (pid < 0 || read(fds[0], &b, sizeof b) != (ssize_t)sizeof b)
        b = -1;
    close(fds[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return b;
}

static double segqueue_bytes_per_item(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s mem %d", segqueue_path, MEM_ITEMS);
    FILE *f = popen(cmd, "r");
    double b = -1;
    if (f) {
        if (fscanf(f, "segqueue mem %lf", &b) != 1)
            b = -1;
        pclose(f);
    }
    return b;
}

/* ---- the table ------------------------------------------------------------------ */

struct cell {
    double v[MAX_RUNS], ratio[MAX_RUNS];
    int n;
    enum outcome worst;
};

static struct cell cells[MAX_PEERS][NSCEN];
static double mem[MAX_PEERS];

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--runs N] [--items N] [--stall S] [--quick] [--only TEXT]\n"
            "          [--peer-segqueue PATH] [--csv FILE]\n"
            "  --runs N     rounds; a cell is the median of N runs (default 5)\n"
            "  --items N    items per run (default 2000000)\n"
            "  --stall S    a run where no item moves for S seconds is killed (default 10)\n"
            "  --quick      --runs 3 --items 300000\n"
            "  --only TEXT  only peers whose name contains TEXT (weft_queue always runs)\n"
            "  --peer-segqueue PATH  crossbeam SegQueue peer (bench/crossbeam_queue)\n",
            argv0);
    exit(2);
}

static void print_table(int runs, uint64_t items, FILE *csv)
{
    printf("\nM items/s, median of %d runs of %" PRIu64
           " items (in brackets: weft_queue's throughput / the peer's, median of the\n"
           "rounds' ratios; above 1.00x weft_queue is faster):\n\n",
           runs, items);
    printf("| %-34s", "peer");
    for (int s = 0; s < NSCEN; s++)
        printf(" | %-15s", scenarios[s].name);
    printf(" | bytes/item |\n|---");
    for (int s = 0; s <= NSCEN; s++)
        printf("|---:");
    printf("|\n");
    if (csv)
        fprintf(csv, "peer,scenario,median_mitems_s,ratio,verdict\n");
    for (size_t p = 0; p < npeers; p++) {
        if (cells[p][0].n == 0 && cells[p][0].worst == OK)
            continue;
        printf("| %-34s", peers[p].name);
        for (int s = 0; s < NSCEN; s++) {
            struct cell *c = &cells[p][s];
            char buf[40];
            if (c->worst != OK) {
                snprintf(buf, sizeof buf, "%s", outcome_name[c->worst]);
            } else if (p == 0) {
                snprintf(buf, sizeof buf, "%.1f", bench_median(c->v, (size_t)c->n));
            } else {
                double m = bench_median(c->v, (size_t)c->n);
                snprintf(buf, sizeof buf, "%.1f (%.2fx)", m, bench_median(c->ratio, (size_t)c->n));
            }
            printf(" | %-15s", buf);
            if (csv && c->n)
                fprintf(csv, "%s,%s,%.3f,%.3f,%s\n", peers[p].name, scenarios[s].name,
                        bench_median(c->v, (size_t)c->n),
                        p ? bench_median(c->ratio, (size_t)c->n) : 1.0, outcome_name[c->worst]);
        }
        if (mem[p] >= 0)
            printf(" | %10.1f |\n", mem[p]);
        else
            printf(" | %10s |\n", "-");
    }
    printf("\nverdicts: ok = every run delivered each item once, per-producer order kept;\n"
           "stalled = no item moved for %.0f s; LOST/DUP, ORDER = delivery violated.\n",
           opt_stall);
    for (size_t p = 0; p < npeers; p++)
        if (peers[p].note)
            printf("%s: %s\n", peers[p].name, peers[p].note);
}

int main(int argc, char **argv)
{
    int runs = 5;
    uint64_t items = 2000000;
    const char *only = NULL, *csv_path = "bench-queue.csv";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            runs = 3;
            items = 300000;
        } else if (!strcmp(a, "--runs") && v) {
            runs = atoi(v);
            i++;
        } else if (!strcmp(a, "--items") && v) {
            items = strtoull(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--stall") && v) {
            opt_stall = atof(v);
            i++;
        } else if (!strcmp(a, "--only") && v) {
            only = v;
            i++;
        } else if (!strcmp(a, "--peer-segqueue") && v) {
            segqueue_path = v;
            i++;
        } else if (!strcmp(a, "--csv") && v) {
            csv_path = v;
            i++;
        } else {
            usage(argv[0]);
        }
    }
    if (runs < 1 || runs > MAX_RUNS || items < 1000 || !(opt_stall > 0))
        usage(argv[0]);
    add_c_peers();
    size_t segq = SIZE_MAX;
    if (segqueue_path && npeers < MAX_PEERS) {
        segq = npeers;
        peers[npeers++] =
            (struct qpeer){ .name = bench_rust_label(segqueue_path, "crossbeam SegQueue 0.3",
                                                     segqueue_label, sizeof segqueue_label),
                            .note = NULL };
    }
    printf("bench_queue: %" PRIu64 " items per run, %d round(s), %ld CPU(s), stall after %.0f s\n",
           items, runs, sysconf(_SC_NPROCESSORS_ONLN), opt_stall);
    bool want[MAX_PEERS];
    for (size_t p = 0; p < npeers; p++) {
        want[p] = p == 0 || !only || strstr(peers[p].name, only);
        mem[p] = -1;
    }
    for (int r = 0; r < runs; r++) {
        for (int s = 0; s < NSCEN; s++) {
            double weft_v = 0;
            for (size_t p = 0; p < npeers; p++) {
                struct cell *c = &cells[p][s];
                if (!want[p] || c->worst != OK)
                    continue;
                double v = 0;
                enum outcome o = p == segq ? run_segqueue(&scenarios[s], items, &v)
                                           : run_once(&peers[p], &scenarios[s], items, &v);
                if (o != OK) {
                    c->worst = o;
                    continue;
                }
                if (p == 0)
                    weft_v = v;
                c->ratio[c->n] = weft_v > 0 ? weft_v / v : 0;
                c->v[c->n++] = v;
            }
        }
        printf("bench_queue: round %d of %d done\n", r + 1, runs);
    }
    for (size_t p = 0; p < npeers; p++)
        if (want[p])
            mem[p] = p == segq ? segqueue_bytes_per_item() : bytes_per_item(&peers[p]);
    FILE *csv = fopen(csv_path, "w");
    print_table(runs, items, csv);
    if (csv) {
        fclose(csv);
        printf("wrote %s\n", csv_path);
    }
    return 0;
}
