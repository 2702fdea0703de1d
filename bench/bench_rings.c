/*
 * bench_rings - items per second through bounded rings, weft against its
 * peers, with the same harness for all.
 *
 *   weft_mpmc (try ops, blocking ops, batches of 32)  vs  ck_ring MPMC,
 *   liburcu wfcqueue                                   at 1P1C 2P2C 4P4C 8P8C 1P4C 4P1C
 *   weft_spsc (try, blocking, batches of 32)           vs  ck_ring SPSC at 1P1C
 *
 * Every run of a (peer, scenario) pair happens in a fork()ed child: P
 * producer and C consumer threads start behind a barrier, producers push
 * items for --seconds, then stop; consumers drain the ring.  The items
 * encode (producer, sequence number), so the child checks exactly-once
 * delivery (count and checksum of the values) and per-producer order (each
 * consumer sees one producer's items in increasing order) and reports LOST,
 * DUP or ORDER when violated.  The parent watches the consumers' progress
 * counters in shared memory: when no item moves for --stall seconds it kills
 * the child and reports "stalled" (and skips the pair's remaining runs).
 * Throughput is items popped / (time from the barrier to the end of the
 * drain); the table shows the median of --runs runs and the ratio to ck_ring
 * of the same family measured in the same invocation: the peers take turns
 * (run 1 of each, then run 2, ...), every run of a peer comes right after a
 * run of its ck_ring, and the ratio is the median of those pairs' ratios
 * (see measure_scenario and ratio_of).
 *
 * Try loops back off identically for every peer: a few pauses, then
 * sched_yield.  Blocking peers use their own waiting (weft spins, yields,
 * then parks); to end a blocking run the harness closes the ring after the
 * producers stopped and consumers pop until EPIPE.
 *
 * liburcu's wfcqueue is unbounded and needs a node per item; here each
 * producer recycles nodes from its own pool of 1024/P nodes (a node is
 * reused once its consumer marked it free), which bounds the items in
 * flight like a ring of capacity 1024 would.
 *
 * The program links libweft statically (see mk/bench_rings.am): ck_ring's
 * operations are inline functions in its header, weft's are library calls.
 *
 * Usage: bench_rings [--runs N] [--seconds S] [--stall S] [--quick]
 *                    [--csv FILE] [--png FILE] [--only TEXT]
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
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

#include <weft/mpmc.h>
#include <weft/spsc.h>

#include "bench.h"
#include "wait.h" /* cpu_relax, now_ns */

#ifdef HAVE_CK
#include <ck_ring.h>
#endif
#ifdef HAVE_URCU
#define _LGPL_SOURCE 1 /* liburcu's inline fast paths, as its users build them */
#include <urcu/wfcqueue.h>
#endif

#define ALWAYS_INLINE inline __attribute__((always_inline))

enum {
    DEFAULT_CAPACITY = 1024,
    MAX_THREADS = 8, /* per side */
    BATCH = 32,      /* items per call in the batch scenarios */
    SEQ_BITS = 40,   /* item = (producer + 1) << SEQ_BITS | sequence */
    PROGRESS_EVERY = 1024,
};

/* --capacity: slots per ring (a power of two for ck_ring); wfcqueue's
 * node pools hold as many nodes in all. */
static size_t opt_capacity = DEFAULT_CAPACITY;

#define SEQ_MASK (((uintptr_t)1 << SEQ_BITS) - 1)


/* The one back-off every try loop uses: pause a few times, then yield. */
static ALWAYS_INLINE void backoff(unsigned *fails)
{
    if (*fails < 8) {
        ++*fails;
        for (int i = 0; i < 4; i++)
            cpu_relax();
    } else {
        sched_yield();
    }
}

/* ---- shared memory between the parent and a run's child ----------------- */

struct progress {
    alignas(64) atomic_ulong popped; /* written by one consumer, read by the parent */
};

struct shared_page {
    struct progress progress[MAX_THREADS];
    /* the child's result, read by the parent after the child exited */
    uint64_t pushed, popped, pushed_sum, popped_sum, order_errors, foreign;
    uint64_t elapsed_ns;
    int done;
};

/* ---- one run, inside the child ------------------------------------------- */

struct run;

struct worker {
    alignas(64) struct run *run;
    int id;
    uint64_t count, sum, order_errors, foreign;
    uintptr_t last[MAX_THREADS]; /* consumers: last sequence per producer */
};

struct run {
    void *q;
    int producers, consumers;
    pthread_barrier_t start;
    alignas(64) atomic_bool stop;          /* set by the main thread */
    alignas(64) atomic_int producers_done; /* producers that finished */
    struct shared_page *page;
    struct worker w[2 * MAX_THREADS];
};

static ALWAYS_INLINE void *encode(int producer, uintptr_t seq)
{
    return (void *)(((uintptr_t)(producer + 1) << SEQ_BITS) | seq);
}

/* relaxed: a flag whose value alone matters; the join orders the rest */
static ALWAYS_INLINE bool stopping(struct run *r)
{
    return atomic_load_explicit(&r->stop, memory_order_relaxed);
}

static ALWAYS_INLINE void consume(struct worker *w, void *item)
{
    uintptr_t v = (uintptr_t)item;
    uintptr_t p = v >> SEQ_BITS, seq = v & SEQ_MASK;
    if (p == 0 || p > (uintptr_t)w->run->producers) {
        w->foreign++;
    } else {
        if (seq <= w->last[p - 1])
            w->order_errors++;
        w->last[p - 1] = seq;
    }
    w->sum += v;
    if (++w->count % PROGRESS_EVERY == 0)
        /* relaxed: a progress gauge for the stall detector only */
        atomic_store_explicit(&w->run->page->progress[w->id].popped, w->count,
                              memory_order_relaxed);
}

static void producer_finished(struct worker *w, uint64_t count, uint64_t sum)
{
    w->count = count;
    w->sum = sum;
    /* release: pairs with the acquire loads in the consumers' drain checks
     * (the counts themselves are read after join) */
    atomic_fetch_add_explicit(&w->run->producers_done, 1, memory_order_release);
}

static ALWAYS_INLINE bool producers_all_done(struct run *r)
{
    /* acquire: pairs with producer_finished; every push is done */
    return atomic_load_explicit(&r->producers_done, memory_order_acquire) == r->producers;
}

/* Loops, instantiated per peer with constant function pointers (so the
 * ring operations inline: no indirect call on the measured path). */
typedef bool (*try_push_fn)(void *q, void *item);
typedef bool (*try_pop_fn)(void *q, void **item);
typedef int (*push_fn)(void *q, void *item);
typedef int (*pop_fn)(void *q, void **item);
typedef size_t (*push_many_fn)(void *q, void *const *items, size_t n);
typedef size_t (*pop_many_fn)(void *q, void **items, size_t n);

static ALWAYS_INLINE void produce_try(struct worker *w, try_push_fn push)
{
    struct run *r = w->run;
    uintptr_t seq = 0;
    uint64_t sum = 0;
    unsigned fails = 0;
    pthread_barrier_wait(&r->start);
    while (!stopping(r)) {
        void *item = encode(w->id, seq + 1);
        if (push(r->q, item)) {
            seq++;
            sum += (uintptr_t)item;
            fails = 0;
        } else {
            backoff(&fails);
        }
    }
    producer_finished(w, seq, sum);
}

static ALWAYS_INLINE void consume_try(struct worker *w, try_pop_fn pop)
{
    struct run *r = w->run;
    unsigned fails = 0;
    void *item;
    pthread_barrier_wait(&r->start);
    for (;;) {
        if (pop(r->q, &item)) {
            consume(w, item);
            fails = 0;
        } else if (producers_all_done(r)) {
            if (!pop(r->q, &item))
                break; /* nothing can arrive any more */
            consume(w, item);
        } else {
            backoff(&fails);
        }
    }
}

static ALWAYS_INLINE void produce_blocking(struct worker *w, push_fn push)
{
    struct run *r = w->run;
    uintptr_t seq = 0;
    uint64_t sum = 0;
    pthread_barrier_wait(&r->start);
    while (!stopping(r)) {
        void *item = encode(w->id, seq + 1);
        if (push(r->q, item) != 0)
            break;
        seq++;
        sum += (uintptr_t)item;
    }
    producer_finished(w, seq, sum);
}

static ALWAYS_INLINE void consume_blocking(struct worker *w, pop_fn pop)
{
    struct run *r = w->run;
    void *item;
    pthread_barrier_wait(&r->start);
    while (pop(r->q, &item) == 0) /* EPIPE once closed and drained */
        consume(w, item);
}

static ALWAYS_INLINE void produce_batch(struct worker *w, push_many_fn push_many)
{
    struct run *r = w->run;
    uintptr_t seq = 0;
    uint64_t sum = 0;
    unsigned fails = 0;
    void *items[BATCH];
    size_t have = 0, first = 0; /* items[first..have) still to push */
    pthread_barrier_wait(&r->start);
    while (!stopping(r)) {
        if (first == have) {
            for (size_t i = 0; i < BATCH; i++)
                items[i] = encode(w->id, seq + 1 + i);
            first = 0;
            have = BATCH;
        }
        size_t k = push_many(r->q, items + first, have - first);
        if (k == 0) {
            backoff(&fails);
            continue;
        }
        fails = 0;
        for (size_t i = first; i < first + k; i++)
            sum += (uintptr_t)items[i];
        seq += k;
        first += k;
    }
    producer_finished(w, seq, sum);
}

static ALWAYS_INLINE void consume_batch(struct worker *w, pop_many_fn pop_many)
{
    struct run *r = w->run;
    unsigned fails = 0;
    void *items[BATCH];
    pthread_barrier_wait(&r->start);
    for (;;) {
        size_t k = pop_many(r->q, items, BATCH);
        if (k == 0) {
            if (producers_all_done(r)) {
                k = pop_many(r->q, items, BATCH);
                if (k == 0)
                    break;
            } else {
                backoff(&fails);
                continue;
            }
        }
        fails = 0;
        for (size_t i = 0; i < k; i++)
            consume(w, items[i]);
    }
}

/* ---- the peers ----------------------------------------------------------- */

struct peer {
    const char *name;
    bool spsc;     /* compared with ck_ring SPSC at 1P1C only */
    bool baseline; /* the ck_ring of its family: ratios are against it */
    const char *note;
    void *(*create)(int producers);
    void (*destroy)(void *q);
    void (*close)(void *q); /* blocking peers: ends the consumers' pops */
    void *(*producer)(void *worker);
    void *(*consumer)(void *worker);
};

#define THREAD_FNS(tag, pfn, cfn, pop_arg, push_arg) \
    static void *tag##_producer(void *a)             \
    {                                                \
        pfn((struct worker *)a, push_arg);           \
        return NULL;                                 \
    }                                                \
    static void *tag##_consumer(void *a)             \
    {                                                \
        cfn((struct worker *)a, pop_arg);            \
        return NULL;                                 \
    }

/* weft_mpmc */
static void *mpmc_create(int producers)
{
    (void)producers;
    return weft_mpmc_create(opt_capacity);
}
static void mpmc_destroy(void *q)
{
    weft_mpmc_destroy(q);
}
static void mpmc_close(void *q)
{
    weft_mpmc_close(q);
}
static ALWAYS_INLINE bool mpmc_try_push(void *q, void *i)
{
    return weft_mpmc_try_push(q, i);
}
static ALWAYS_INLINE bool mpmc_try_pop(void *q, void **i)
{
    return weft_mpmc_try_pop(q, i);
}
static ALWAYS_INLINE int mpmc_push(void *q, void *i)
{
    return weft_mpmc_push(q, i);
}
static ALWAYS_INLINE int mpmc_pop(void *q, void **i)
{
    return weft_mpmc_pop(q, i);
}
static ALWAYS_INLINE size_t mpmc_push_many(void *q, void *const *i, size_t n)
{
    return weft_mpmc_try_push_many(q, i, n);
}
static ALWAYS_INLINE size_t mpmc_pop_many(void *q, void **i, size_t n)
{
    return weft_mpmc_try_pop_many(q, i, n);
}
THREAD_FNS(mpmc_try, produce_try, consume_try, mpmc_try_pop, mpmc_try_push)
THREAD_FNS(mpmc_block, produce_blocking, consume_blocking, mpmc_pop, mpmc_push)
THREAD_FNS(mpmc_batch, produce_batch, consume_batch, mpmc_pop_many, mpmc_push_many)

/* weft_spsc */
static void *spsc_create(int producers)
{
    (void)producers;
    return weft_spsc_create(opt_capacity);
}
static void spsc_destroy(void *q)
{
    weft_spsc_destroy(q);
}
static void spsc_close(void *q)
{
    weft_spsc_close(q);
}
static ALWAYS_INLINE bool spsc_try_push(void *q, void *i)
{
    return weft_spsc_try_push(q, i);
}
static ALWAYS_INLINE bool spsc_try_pop(void *q, void **i)
{
    return weft_spsc_try_pop(q, i);
}
static ALWAYS_INLINE int spsc_push(void *q, void *i)
{
    return weft_spsc_push(q, i);
}
static ALWAYS_INLINE int spsc_pop(void *q, void **i)
{
    return weft_spsc_pop(q, i);
}
static ALWAYS_INLINE size_t spsc_push_many(void *q, void *const *i, size_t n)
{
    return weft_spsc_try_push_many(q, i, n);
}
static ALWAYS_INLINE size_t spsc_pop_many(void *q, void **i, size_t n)
{
    return weft_spsc_try_pop_many(q, i, n);
}
THREAD_FNS(spsc_try, produce_try, consume_try, spsc_try_pop, spsc_try_push)
THREAD_FNS(spsc_block, produce_blocking, consume_blocking, spsc_pop, spsc_push)
THREAD_FNS(spsc_batch, produce_batch, consume_batch, spsc_pop_many, spsc_push_many)

#ifdef HAVE_CK
/* ck_ring: a ring header plus its buffer; capacity 1024 holds 1023 items. */
struct ck_peer {
    ck_ring_t ring;
    ck_ring_buffer_t *buf;
};
static void *ck_create(int producers)
{
    (void)producers;
    struct ck_peer *c = aligned_alloc(64, (sizeof *c + 63) / 64 * 64);
    if (c == NULL)
        return NULL;
    c->buf = aligned_alloc(64, opt_capacity * sizeof(ck_ring_buffer_t));
    if (c->buf == NULL) {
        free(c);
        return NULL;
    }
    ck_ring_init(&c->ring, (unsigned)opt_capacity);
    return c;
}
static void ck_destroy(void *q)
{
    struct ck_peer *c = q;
    free(c->buf);
    free(c);
}
static ALWAYS_INLINE bool ck_mpmc_push(void *q, void *i)
{
    struct ck_peer *c = q;
    return ck_ring_enqueue_mpmc(&c->ring, c->buf, i);
}
static ALWAYS_INLINE bool ck_mpmc_pop(void *q, void **i)
{
    struct ck_peer *c = q;
    return ck_ring_dequeue_mpmc(&c->ring, c->buf, i);
}
static ALWAYS_INLINE bool ck_spsc_push(void *q, void *i)
{
    struct ck_peer *c = q;
    return ck_ring_enqueue_spsc(&c->ring, c->buf, i);
}
static ALWAYS_INLINE bool ck_spsc_pop(void *q, void **i)
{
    struct ck_peer *c = q;
    return ck_ring_dequeue_spsc(&c->ring, c->buf, i);
}
THREAD_FNS(ck_mpmc, produce_try, consume_try, ck_mpmc_pop, ck_mpmc_push)
THREAD_FNS(ck_spsc, produce_try, consume_try, ck_spsc_pop, ck_spsc_push)
#endif

#ifdef HAVE_URCU
/* wfcqueue: nodes come from per-producer pools; a node is reused once the
 * consumer that dequeued it marked it free. */
struct wfcq_item {
    struct cds_wfcq_node node;
    uintptr_t value;
    atomic_int free; /* 1: the producer may reuse the node */
};
_Static_assert(offsetof(struct wfcq_item, node) == 0, "node first: the pop casts back");
struct wfcq_peer {
    struct cds_wfcq_head head;
    alignas(64) struct cds_wfcq_tail tail;
    alignas(64) size_t pool_size;
    struct wfcq_item *pool[MAX_THREADS];
};
static void *wfcq_create(int producers)
{
    struct wfcq_peer *w = aligned_alloc(64, (sizeof *w + 63) / 64 * 64);
    if (w == NULL)
        return NULL;
    cds_wfcq_init(&w->head, &w->tail);
    w->pool_size = opt_capacity / (size_t)producers;
    for (int p = 0; p < MAX_THREADS; p++)
        w->pool[p] = NULL;
    for (int p = 0; p < producers; p++) {
        w->pool[p] = aligned_alloc(64, w->pool_size * sizeof(struct wfcq_item));
        if (w->pool[p] == NULL)
            abort();
        for (size_t i = 0; i < w->pool_size; i++)
            atomic_init(&w->pool[p][i].free, 1);
    }
    return w;
}
static void wfcq_destroy(void *q)
{
    struct wfcq_peer *w = q;
    for (int p = 0; p < MAX_THREADS; p++)
        free(w->pool[p]);
    cds_wfcq_destroy(&w->head, &w->tail);
    free(w);
}
static ALWAYS_INLINE bool wfcq_push(void *q, void *item)
{
    struct wfcq_peer *w = q;
    uintptr_t v = (uintptr_t)item;
    struct wfcq_item *n = &w->pool[(v >> SEQ_BITS) - 1][(v & SEQ_MASK) % w->pool_size];
    /* acquire: pairs with the consumer's release store of free; its read of
     * the node happened before we reuse it */
    if (!atomic_load_explicit(&n->free, memory_order_acquire))
        return false; /* this producer's pool is exhausted: "full" */
    atomic_store_explicit(&n->free, 0, memory_order_relaxed); /* only we write 0 */
    n->value = v;
    cds_wfcq_node_init(&n->node);
    cds_wfcq_enqueue(&w->head, &w->tail, &n->node); /* publishes with a full barrier */
    return true;
}
static ALWAYS_INLINE bool wfcq_pop(void *q, void **item)
{
    struct wfcq_peer *w = q;
    struct cds_wfcq_node *node = cds_wfcq_dequeue_blocking(&w->head, &w->tail);
    if (node == NULL)
        return false;
    struct wfcq_item *n = (struct wfcq_item *)(void *)node; /* node is its first member */
    *item = (void *)n->value;
    /* release: pairs with the acquire load in wfcq_push */
    atomic_store_explicit(&n->free, 1, memory_order_release);
    return true;
}
THREAD_FNS(wfcq, produce_try, consume_try, wfcq_pop, wfcq_push)
#endif

static const struct peer peers[] = {
    { "weft_mpmc try", false, false, NULL, mpmc_create, mpmc_destroy, NULL, mpmc_try_producer,
      mpmc_try_consumer },
    { "weft_mpmc blocking", false, false, NULL, mpmc_create, mpmc_destroy, mpmc_close,
      mpmc_block_producer, mpmc_block_consumer },
    { "weft_mpmc batch32", false, false, "32 items per try_push_many/try_pop_many call",
      mpmc_create, mpmc_destroy, NULL, mpmc_batch_producer, mpmc_batch_consumer },
#ifdef HAVE_CK
    { "ck_ring mpmc", false, true, NULL, ck_create, ck_destroy, NULL, ck_mpmc_producer,
      ck_mpmc_consumer },
#endif
#ifdef HAVE_URCU
    { "urcu wfcqueue *", false, false,
      "unbounded linked queue; nodes recycled from per-producer pools of 1024/P", wfcq_create,
      wfcq_destroy, NULL, wfcq_producer, wfcq_consumer },
#endif
    { "weft_spsc try", true, false, NULL, spsc_create, spsc_destroy, NULL, spsc_try_producer,
      spsc_try_consumer },
    { "weft_spsc blocking", true, false, NULL, spsc_create, spsc_destroy, spsc_close,
      spsc_block_producer, spsc_block_consumer },
    { "weft_spsc batch32", true, false, "32 items per try_push_many/try_pop_many call", spsc_create,
      spsc_destroy, NULL, spsc_batch_producer, spsc_batch_consumer },
#ifdef HAVE_CK
    { "ck_ring spsc", true, true, NULL, ck_create, ck_destroy, NULL, ck_spsc_producer,
      ck_spsc_consumer },
#endif
};
enum { NPEERS = sizeof peers / sizeof peers[0] };

struct scenario {
    const char *name;
    int producers, consumers;
};
static const struct scenario scenarios[] = {
    { "1P1C", 1, 1 }, { "2P2C", 2, 2 }, { "4P4C", 4, 4 },
    { "8P8C", 8, 8 }, { "1P4C", 1, 4 }, { "4P1C", 4, 1 },
};
enum { NSCEN = sizeof scenarios / sizeof scenarios[0] };

/* The child: one run; exit 0 with the result in the page, 2 on setup
 * failure. */
static void run_child(const struct peer *pe, const struct scenario *sc, double seconds,
                      struct shared_page *page)
{
    static struct run r;
    r.q = pe->create(sc->producers);
    if (r.q == NULL)
        _exit(2);
    r.producers = sc->producers;
    r.consumers = sc->consumers;
    r.page = page;
    atomic_init(&r.stop, false);
    atomic_init(&r.producers_done, 0);
    int n = sc->producers + sc->consumers;
    if (pthread_barrier_init(&r.start, NULL, (unsigned)n + 1) != 0)
        _exit(2);
    pthread_t t[2 * MAX_THREADS];
    for (int i = 0; i < n; i++) {
        struct worker *w = &r.w[i];
        memset(w, 0, sizeof *w);
        w->run = &r;
        bool producer = i < sc->producers;
        w->id = producer ? i : i - sc->producers;
        if (pthread_create(&t[i], NULL, producer ? pe->producer : pe->consumer, w) != 0)
            _exit(2);
    }
    pthread_barrier_wait(&r.start);
    uint64_t t0 = now_ns();
    struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
    nanosleep(&ts, NULL);
    /* relaxed: the producers only need to see it eventually */
    atomic_store_explicit(&r.stop, true, memory_order_relaxed);
    for (int i = 0; i < sc->producers; i++)
        pthread_join(t[i], NULL);
    if (pe->close)
        pe->close(r.q);
    for (int i = sc->producers; i < n; i++)
        pthread_join(t[i], NULL);
    page->elapsed_ns = now_ns() - t0;
    for (int i = 0; i < n; i++) {
        struct worker *w = &r.w[i];
        if (i < sc->producers) {
            page->pushed += w->count;
            page->pushed_sum += w->sum;
        } else {
            page->popped += w->count;
            page->popped_sum += w->sum;
            page->order_errors += w->order_errors;
            page->foreign += w->foreign;
        }
    }
    page->done = 1;
    pe->destroy(r.q);
    _exit(0);
}

/* ---- the parent ------------------------------------------------------------- */

enum outcome { OK, STALLED, LOST, DUP, ORDER, FAILED };
static const char *const outcome_name[] = { "ok", "stalled", "LOST", "DUP", "ORDER", "failed" };

/* A baseline runs once before each run of every other peer of its family
 * (see measure_scenario), so it has up to NPEERS - 1 runs per round. */
enum { MAX_RUNS = 64, MAX_SAMPLES = MAX_RUNS * (NPEERS - 1) };

struct result {
    int runs_done;
    double mips[MAX_SAMPLES];
    double partner[MAX_RUNS]; /* the baseline's run just before run k; 0: none */
    double median;
    enum outcome outcome;
    bool tried;
};

static struct result results[NPEERS][NSCEN];

static double opt_seconds = 0.5, opt_stall = 2.0;
static int opt_runs = 5;

/* One run in a child; returns its outcome and sets *mips. */
static enum outcome run_once(const struct peer *pe, const struct scenario *sc, double *mips)
{
    struct shared_page *page =
        mmap(NULL, sizeof *page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        return FAILED;
    memset(page, 0, sizeof *page);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        munmap(page, sizeof *page);
        return FAILED;
    }
    if (pid == 0)
        run_child(pe, sc, opt_seconds, page);

    enum outcome out = OK;
    uint64_t last = 0, last_move = now_ns();
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        struct timespec ts = { 0, 20 * 1000000 };
        nanosleep(&ts, NULL);
        uint64_t sum = 0;
        for (int i = 0; i < MAX_THREADS; i++)
            /* relaxed: a gauge */
            sum += atomic_load_explicit(&page->progress[i].popped, memory_order_relaxed);
        uint64_t now = now_ns();
        if (sum != last) {
            last = sum;
            last_move = now;
        } else if ((double)(now - last_move) > opt_stall * 1e9) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            out = STALLED;
            break;
        }
    }
    if (out == OK) {
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !page->done)
            out = FAILED;
        else if (page->popped < page->pushed)
            out = LOST;
        else if (page->popped > page->pushed || page->foreign)
            out = DUP;
        else if (page->popped_sum != page->pushed_sum)
            out = LOST; /* same count, different items: some lost, some doubled */
        else if (page->order_errors)
            out = ORDER;
        *mips = (double)page->popped / ((double)page->elapsed_ns / 1e9) / 1e6;
    }
    munmap(page, sizeof *page);
    return out;
}

static double median_of(const double *v, int n)
{
    double sorted[MAX_SAMPLES];
    memcpy(sorted, v, sizeof(double) * (size_t)n);
    return bench_median(sorted, (size_t)n);
}

static void finish(struct result *res)
{
    if (res->runs_done > 0)
        res->median = median_of(res->mips, res->runs_done);
}

/* The baseline peer (ck_ring) of p's family, or -1. */
static int baseline_of(int p)
{
    for (int b = 0; b < NPEERS; b++)
        if (peers[b].baseline && peers[b].spsc == peers[p].spsc)
            return b;
    return -1;
}

/* Whether baseline b runs as the partner of another peer in scenario s. */
static bool has_partners(int b, int s)
{
    for (int p = 0; p < NPEERS; p++)
        if (p != b && results[p][s].tried && baseline_of(p) == b)
            return true;
    return false;
}

/* One run of p in scenario s, added to its results; false when it stalled
 * or failed (one bad run condemns the pair: it is not run again). */
static bool run_and_record(int p, int s, double *mips)
{
    struct result *res = &results[p][s];
    enum outcome out = run_once(&peers[p], &scenarios[s], mips);
    if (out != OK) {
        res->outcome = out;
        return false;
    }
    res->mips[res->runs_done++] = *mips;
    return true;
}

/* All runs of one scenario, the peers taking turns (run 1 of every peer,
 * then run 2, ...) so that a burst of noise from the rest of the machine
 * hits them alike.  Each run of a peer that has a baseline comes right
 * after a run of that baseline, its partner for the ratio (see ratio_of);
 * a baseline with no partner in the scenario runs on its own. */
static void measure_scenario(int s, bool (*wanted)(int p, int s))
{
    for (int p = 0; p < NPEERS; p++)
        if (wanted(p, s)) {
            results[p][s].tried = true;
            results[p][s].outcome = OK;
        }
    for (int run = 0; run < opt_runs; run++)
        for (int p = 0; p < NPEERS; p++) {
            struct result *res = &results[p][s];
            if (!res->tried || res->outcome != OK)
                continue;
            int b = baseline_of(p);
            double partner = 0, mips;
            if (b == p) {
                if (!has_partners(b, s))
                    run_and_record(p, s, &mips);
                continue;
            }
            if (b >= 0 && results[b][s].tried && results[b][s].outcome == OK &&
                !run_and_record(b, s, &partner))
                partner = 0;
            if (run_and_record(p, s, &mips))
                res->partner[res->runs_done - 1] = partner;
        }
    for (int p = 0; p < NPEERS; p++)
        finish(&results[p][s]);
}

/* The ratio of p to its baseline: the median over p's runs of the ratio of
 * each run to its partner (the baseline's run just before it), not the
 * ratio of the two medians.  On a VM whose vCPUs the host moves, throughput
 * can change 3-4x from one placement to another within seconds; a run and
 * its partner mostly see the same placement, while the two medians may
 * come from different ones. */
static bool ratio_of(int p, int s, double *ratio)
{
    int b = baseline_of(p);
    const struct result *rp = &results[p][s];
    if (b < 0 || results[b][s].outcome != OK || rp->outcome != OK)
        return false;
    if (b == p) {
        *ratio = 1.0;
        return true;
    }
    double r[MAX_RUNS];
    int n = 0;
    for (int k = 0; k < rp->runs_done; k++)
        if (rp->partner[k] > 0)
            r[n++] = rp->mips[k] / rp->partner[k];
    if (n == 0)
        return false;
    *ratio = median_of(r, n);
    return true;
}

static void cell(int p, int s, char *buf, size_t len)
{
    const struct result *res = &results[p][s];
    double ratio;
    if (!res->tried)
        snprintf(buf, len, "-");
    else if (res->outcome != OK)
        snprintf(buf, len, "%s", outcome_name[res->outcome]);
    else if (ratio_of(p, s, &ratio))
        snprintf(buf, len, "%.1f (%.2fx)", res->median, ratio);
    else
        snprintf(buf, len, "%.1f", res->median);
}

static void print_table(FILE *f, bool markdown)
{
    char buf[64];
    const char *sep = markdown ? " | " : "  ";
    fprintf(f, "%s%-20s", markdown ? "| " : "", "peer");
    for (int s = 0; s < NSCEN; s++)
        fprintf(f, "%s%-15s", sep, scenarios[s].name);
    fprintf(f, "%s\n", markdown ? " |" : "");
    if (markdown) {
        fprintf(f, "|---");
        for (int s = 0; s < NSCEN; s++)
            fprintf(f, "|---:");
        fprintf(f, "|\n");
    }
    for (int p = 0; p < NPEERS; p++) {
        bool any = false;
        for (int s = 0; s < NSCEN; s++)
            any |= results[p][s].tried;
        if (!any)
            continue;
        fprintf(f, "%s%-20s", markdown ? "| " : "", peers[p].name);
        for (int s = 0; s < NSCEN; s++) {
            cell(p, s, buf, sizeof buf);
            fprintf(f, "%s%-15s", sep, buf);
        }
        fprintf(f, "%s\n", markdown ? " |" : "");
    }
}

static void write_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return;
    }
    fprintf(f, "peer,scenario,producers,consumers,runs,seconds,median_mitems_s,min,max,"
               "ratio_vs_ck_ring,verdict\n");
    for (int p = 0; p < NPEERS; p++)
        for (int s = 0; s < NSCEN; s++) {
            const struct result *res = &results[p][s];
            if (!res->tried)
                continue;
            double lo = 0, hi = 0, ratio = 0;
            for (int i = 0; i < res->runs_done; i++) {
                lo = i == 0 || res->mips[i] < lo ? res->mips[i] : lo;
                hi = res->mips[i] > hi ? res->mips[i] : hi;
            }
            fprintf(f, "%s,%s,%d,%d,%d,%.3f,", peers[p].name, scenarios[s].name,
                    scenarios[s].producers, scenarios[s].consumers, res->runs_done, opt_seconds);
            if (res->runs_done)
                fprintf(f, "%.2f,%.2f,%.2f,", res->median, lo, hi);
            else
                fprintf(f, ",,,");
            if (ratio_of(p, s, &ratio))
                fprintf(f, "%.3f,", ratio);
            else
                fprintf(f, ",");
            fprintf(f, "%s\n", outcome_name[res->outcome]);
        }
    fclose(f);
    printf("wrote %s\n", path);
}

/* A clustered bar chart through gnuplot, when it is installed. */
static void write_png(const char *path)
{
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        printf("gnuplot not found: no plot\n");
        return;
    }
    FILE *g = popen("gnuplot 2>/dev/null", "w");
    if (g == NULL)
        return;
    fprintf(g,
            "set terminal pngcairo size 1100,560 noenhanced\n"
            "set output '%s'\n"
            "set title 'Ring throughput, capacity %zu, median of %d x %.2f s (bars missing: "
            "stalled or not run)'\n"
            "set style data histograms\nset style histogram cluster gap 1\n"
            "set style fill solid 0.8 border -1\nset boxwidth 0.9\n"
            "set ylabel 'M items/s'\nset logscale y\nset yrange [0.1:*]\n"
            "set grid ytics\nset key outside right top\n"
            "set datafile missing '?'\n",
            path, opt_capacity, opt_runs, opt_seconds);
    /* columns: scenario, then one per peer that ran */
    int cols[NPEERS], ncols = 0;
    for (int p = 0; p < NPEERS; p++)
        for (int s = 0; s < NSCEN; s++)
            if (results[p][s].tried) {
                cols[ncols++] = p;
                break;
            }
    /* weft in blues and greens, ck_ring in red, liburcu in grey */
    static const char *const weft_colors[] = { "#08519c", "#3182bd", "#9ecae1",
                                               "#006d2c", "#31a354", "#a1d99b" };
    int weft_used = 0;
    fprintf(g, "plot ");
    for (int c = 0; c < ncols; c++) {
        const struct peer *pe = &peers[cols[c]];
        const char *color = pe->baseline                   ? (pe->spsc ? "#fb6a4a" : "#a50f15")
                            : strncmp(pe->name, "weft", 4) ? "#969696"
                                                           : weft_colors[weft_used++ % 6];
        fprintf(g, "%s'-' using 2:xtic(1) title '%s' lc rgb '%s'", c ? ", " : "", pe->name, color);
    }
    fprintf(g, "\n");
    for (int c = 0; c < ncols; c++) {
        for (int s = 0; s < NSCEN; s++) {
            const struct result *res = &results[cols[c]][s];
            if (res->tried && res->outcome == OK)
                fprintf(g, "%s %.3f\n", scenarios[s].name, res->median);
            else
                fprintf(g, "%s ?\n", scenarios[s].name);
        }
        fprintf(g, "e\n");
    }
    if (pclose(g) == 0)
        printf("wrote %s\n", path);
}

static const char *opt_only;

/* SPSC peers run at 1P1C only; --only filters by name. */
static bool wanted(int p, int s)
{
    if (opt_only && !strstr(peers[p].name, opt_only))
        return false;
    return !peers[p].spsc || (scenarios[s].producers == 1 && scenarios[s].consumers == 1);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--runs N] [--seconds S] [--stall S] [--quick] [--csv FILE]\n"
            "          [--png FILE] [--only TEXT] [--capacity N]\n"
            "  --runs N      runs per peer and scenario, median reported (default 5)\n"
            "  --seconds S   length of one run (default 0.5)\n"
            "  --stall S     a run where no item moves for S seconds is killed (default 2)\n"
            "  --quick       a short demo: --runs 3 --seconds 0.15\n"
            "  --csv FILE    results as CSV (default bench-rings.csv)\n"
            "  --png FILE    plot, when gnuplot is installed (default bench-rings.png;\n"
            "                \"\" for none)\n"
            "  --capacity N  slots per ring, a power of two, 16..2^20 (default 1024)\n"
            "  --only TEXT   only peers whose name contains TEXT\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *csv = "bench-rings.csv", *png = "bench-rings.png", *only = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            opt_runs = 3;
            opt_seconds = 0.15;
        } else if (!strcmp(a, "--runs") && v) {
            opt_runs = atoi(v);
            i++;
        } else if (!strcmp(a, "--seconds") && v) {
            opt_seconds = atof(v);
            i++;
        } else if (!strcmp(a, "--stall") && v) {
            opt_stall = atof(v);
            i++;
        } else if (!strcmp(a, "--csv") && v) {
            csv = v;
            i++;
        } else if (!strcmp(a, "--png") && v) {
            png = v;
            i++;
        } else if (!strcmp(a, "--capacity") && v) {
            opt_capacity = strtoul(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--only") && v) {
            only = v;
            i++;
        } else {
            usage(argv[0]);
        }
    }
    if (opt_runs < 1 || opt_runs > MAX_RUNS || opt_capacity < 16 || opt_capacity > (1u << 20) ||
        (opt_capacity & (opt_capacity - 1)) || !(opt_seconds > 0) || !(opt_stall > 0))
        usage(argv[0]);

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("bench_rings: capacity %zu, %d run(s) of %.2f s per cell, median; %ld CPU(s); "
           "stall = no item moved for %.1f s\n",
           opt_capacity, opt_runs, opt_seconds, cpus, opt_stall);
#ifndef HAVE_CK
    printf("(Concurrency Kit not found: no ck_ring baseline)\n");
#endif
#ifndef HAVE_URCU
    printf("(liburcu not found: no wfcqueue)\n");
#endif
    opt_only = only;
    for (int s = 0; s < NSCEN; s++) {
        measure_scenario(s, wanted);
        for (int p = 0; p < NPEERS; p++) {
            if (!results[p][s].tried)
                continue;
            char buf[64];
            snprintf(buf, sizeof buf, "%.1f M items/s", results[p][s].median);
            printf("  %-20s %-5s %s\n", peers[p].name, scenarios[s].name,
                   results[p][s].outcome == OK ? buf : outcome_name[results[p][s].outcome]);
        }
        fflush(stdout);
    }

    printf("\nM items/s, median of %d x %.2f s (ratio to ck_ring of the same kind: median "
           "over runs of each run against the ck_ring run just before it):\n\n",
           opt_runs, opt_seconds);
    print_table(stdout, true);
    printf("\n");
    for (int p = 0; p < NPEERS; p++)
        if (peers[p].note && (!only || strstr(peers[p].name, only)))
            printf("%s: %s\n", peers[p].name, peers[p].note);
    printf("SPSC rows run at 1P1C only and compare with ck_ring spsc; verdicts: ok = every "
           "run delivered each item exactly once in per-producer order; stalled = no item "
           "moved for %.1f s; LOST / DUP / ORDER = delivery violated.\n",
           opt_stall);
    write_csv(csv);
    if (*png) /* --png '' writes no plot (bench/bench_wait.sh) */
        write_png(png);
    return 0;
}
