/*
 * stress/stress.h - the framework shared by weft-stress's scenarios.
 *
 * A scenario is a function that runs threads against one structure for a
 * time budget and checks what came out.  The framework gives it:
 *   - workers started behind a barrier, each with a seeded generator and a
 *     progress slot (ops done, operation in progress) the watchdog reads;
 *   - the watchdog: when no slot moves for --watchdog seconds it prints every
 *     thread's state and the structure's indices (through the scenario's
 *     describe callback) and exits with STRESS_EXIT_WATCHDOG;
 *   - the checker: heap payload items with a checksum, verified and freed by
 *     the receiver, and a per-producer "seen" bitmap for exactly-once;
 *   - failure reporting that counts errors and prints the first few.
 * Progress slots live in MAP_SHARED memory so that fork()ed children of the
 * process-shared scenarios report to the parent's watchdog too.
 */
#ifndef WEFT_STRESS_H
#define WEFT_STRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chaos_ctl.h"

/* Exit statuses of weft-stress (documented in stress/README.md). */
enum {
    STRESS_EXIT_PASS = 0,     /* every scenario run passed */
    STRESS_EXIT_FAIL = 1,     /* at least one scenario failed a check */
    STRESS_EXIT_WATCHDOG = 3, /* no progress for --watchdog seconds: hang */
    STRESS_EXIT_SKIP = 77,    /* nothing could run (automake's "skipped") */
    STRESS_EXIT_HARD = 99     /* usage error or resource failure */
};

/* What a thread is doing, for the watchdog's report. */
enum stress_op {
    OP_IDLE,
    OP_PUSH,
    OP_POP,
    OP_TRY_PUSH,
    OP_TRY_POP,
    OP_PUSH_MANY,
    OP_POP_MANY,
    OP_PUSH_TIMED,
    OP_POP_TIMED,
    OP_STEAL,
    OP_STEAL_BATCH,
    OP_SUBMIT,
    OP_SPAWN,
    OP_WAIT,
    OP_FOR,
    OP_CLOSE,
    OP_JOIN,
    OP_DRAIN,
    OP_CHECK,
    OP_DESTROY,
    OP_BACKOFF,
    OP_EXITED,
    OP_COUNT
};

/* ---- random numbers: xorshift64*, one per thread ------------------------ */
struct rng {
    uint64_t s;
};
uint64_t stress_mix(uint64_t z);
void rng_seed(struct rng *r, uint64_t seed, uint64_t stream);
static inline uint64_t rng_next(struct rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1du;
}
/* uniform-ish in [0, n), n > 0 */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
    return (rng_next(r) >> 11) % n;
}

/* ---- one run of one scenario -------------------------------------------- */
struct scenario;

/* What the ring scenarios run against: weft's rings, or a peer (--peer)
 * that tests the harness itself.  The other scenarios skip under a peer. */
enum stress_peer {
    STRESS_PEER_NONE,  /* weft_mpmc / weft_spsc */
    STRESS_PEER_CK,    /* ck_ring (--peer ck) */
    STRESS_PEER_MUTEX, /* the mutex ring of peer_mutex.c (--peer mutex) */
};

/* The --peer argument that selects p ("ck", "mutex"), or NULL for weft. */
static inline const char *stress_peer_name(enum stress_peer p)
{
    return p == STRESS_PEER_CK ? "ck" : p == STRESS_PEER_MUTEX ? "mutex" : NULL;
}

struct stress_run {
    const struct scenario *sc;
    double seconds; /* time budget of the main phase */
    unsigned p, c;  /* producers (or owners) and consumers (or thieves) */
    size_t capacity;
    uint64_t seed;         /* the run's seed, as given by --seed */
    uint64_t stream;       /* hash of the scenario's name: seeds differ per scenario */
    unsigned permille;     /* chaos probability per point, when chaos */
    bool chaos;            /* chaos points active */
    enum stress_peer peer; /* the ring the ring scenarios test (--peer) */
    bool quick;
    unsigned ncpu;
    /* results */
    uint64_t ops; /* items delivered (throughput = ops / elapsed) */
    double elapsed;
    atomic_uint errors;
    char setup[64]; /* e.g. "4P4C cap 2", printed on the verdict line */
    char skip[96];  /* reason, when the scenario skipped itself */
};

struct scenario {
    const char *name;
    const char *what;                /* one line for --list */
    int (*fn)(struct stress_run *r); /* 0 ran (verdict from r->errors), 77 skip */
    const void *arg;                 /* scenario-specific (e.g. ring ops) */
    unsigned def_p, def_c;
    size_t def_cap;
    unsigned weight; /* share of the --quick / --all budget */
};

extern const struct scenario stress_ring_scenarios[];
extern const size_t stress_ring_count;
extern const struct scenario stress_deque_scenarios[];
extern const size_t stress_deque_count;
extern const struct scenario stress_pool_scenarios[];
extern const size_t stress_pool_count;
extern const struct scenario stress_queue_scenarios[];
extern const size_t stress_queue_count;
extern const struct scenario stress_msgq_scenarios[];
extern const size_t stress_msgq_count;
/* msgq-kill (stress/msgq_kill.c) */
int run_msgq_kill(struct stress_run *r);

/* Record a failed check: counts it, prints the first few.  Thread-safe. */
void stress_fail(struct stress_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same from a fork()ed child: counts the failure in *errors (in shared
 * memory, read by the parent once the child is reaped), prints the first
 * few with the child's pid. */
void stress_child_fail(atomic_uint *errors, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Has this run failed anything yet? */
static inline bool stress_failed(struct stress_run *r)
{
    /* relaxed: a hint to stop early; the verdict is read after join */
    return atomic_load_explicit(&r->errors, memory_order_relaxed) != 0;
}

/* Hook for the watchdog: describe the structure (indices, sizes).  fn runs
 * on the watchdog thread, concurrently with the workers, so it may only use
 * thread-safe calls (weft_*_size, weft_mpmc_closed ...).  Clear it (NULL)
 * before destroying what ctx points to. */
void stress_set_describe(void (*fn)(void *ctx, FILE *out), void *ctx);

double stress_now(void); /* monotonic seconds */
void stress_sleep_us(unsigned us);

/* ---- progress slots and workers ----------------------------------------- */
struct stress_progress {
    atomic_uint_least64_t ops; /* operations completed (any unit) */
    atomic_int op;             /* enum stress_op in progress */
    atomic_int used;
    char role[16];
    unsigned id;
};

/* The main thread's slot (the watchdog counts its phase changes as
 * progress too). */
extern struct stress_progress *stress_main_progress;
/* Grab a slot for a thread (or forked process); NULL when all are taken. */
struct stress_progress *stress_progress_claim(const char *role, unsigned id);
/* Give a slot back once its thread or process has ended. */
void stress_progress_release(struct stress_progress *p);

static inline void prog_op(struct stress_progress *p, int op)
{
    /* relaxed: only read by the watchdog, which needs no ordering */
    atomic_store_explicit(&p->op, op, memory_order_relaxed);
}
static inline void prog_done(struct stress_progress *p, uint64_t n)
{
    /* single writer: a relaxed load and store, no RMW */
    uint64_t v = atomic_load_explicit(&p->ops, memory_order_relaxed);
    atomic_store_explicit(&p->ops, v + n, memory_order_relaxed);
}

static inline uint64_t prog_ops(struct stress_progress *p)
{
    /* relaxed: a hint (has the thread begun?) */
    return atomic_load_explicit(&p->ops, memory_order_relaxed);
}

struct stress_worker {
    struct stress_run *run;
    struct stress_progress *prog;
    struct rng rng;
    unsigned id;    /* index within its role */
    unsigned index; /* index among all threads of the run (chaos seed) */
    const char *role;
    void (*fn)(struct stress_worker *w);
    void *ctx;
    pthread_t tid;
    bool started;
    uint64_t count[4]; /* scenario-private results, read after join */
};

struct team {
    struct stress_run *run;
    struct stress_worker *w;
    unsigned n, max;
    pthread_barrier_t barrier;
};

/* Up to max workers.  Returns false (after reporting) on allocation failure. */
bool team_init(struct team *t, struct stress_run *r, unsigned max);
struct stress_worker *team_add(struct team *t, const char *role, unsigned id,
                               void (*fn)(struct stress_worker *w), void *ctx);
/* Create every added worker; they wait on a barrier with the caller and
 * start together when this returns.  false on failure (reported). */
bool team_start(struct team *t);
/* Join the workers whose role is role (NULL: all). */
void team_join(struct team *t, const char *role);
void team_free(struct team *t);

/* A chaos point between operations (no-op unless --chaos in a chaos build). */
static inline void stress_chaos(void)
{
#ifdef WEFT_CHAOS
    weft_internal_chaos_point();
#endif
}
/* Seed the calling thread's chaos generator (thread index of the run). */
void stress_chaos_thread(struct stress_run *r, unsigned index);
/* Back off after a failed try operation: pause, and now and then yield so
 * that on 2 cores the thread we wait for gets the CPU. */
void stress_backoff(unsigned *spins);

/* ---- payload items ------------------------------------------------------ */
/* A heap object the sender writes completely before publishing it and the
 * receiver verifies and frees: with a missing release/acquire TSan sees the
 * plain writes and reads race, and a torn payload fails the checksum. */
struct item {
    uint64_t magic;
    uint32_t producer;
    uint32_t tag; /* scenario-specific (lane, round) */
    uint64_t seq;
    uint64_t body[4];
    uint64_t check;
    uint64_t magic2;
};

struct item *item_new(struct rng *rng, unsigned producer, uint64_t seq, uint32_t tag);
/* Verify an item; on success store producer/seq/tag.  false (reported) when
 * corrupt, or already freed (a duplicate delivery). */
bool item_verify(struct stress_run *r, const struct item *it, const char *who);
/* Free an item after verification (poisons it first). */
void item_free(struct item *it);

/* ---- exactly-once: one bit per (producer, seq) ------------------------- */
/* Two-level so it grows with the run: chunks of 2^20 items, allocated by the
 * producer before it publishes the first item of a chunk. */
#define SEEN_CHUNK_BITS 20
#define SEEN_MAX_CHUNKS 4096
struct seen {
    _Atomic(atomic_uint_least64_t *) chunk[SEEN_MAX_CHUNKS];
};
struct seen *seen_new(unsigned producers);
void seen_free(struct seen *s, unsigned producers);
/* Producer side: make sure the bit of seq exists (call before publishing;
 * any thread, concurrently). */
bool seen_prepare(struct seen *s, unsigned producer, uint64_t seq);
/* Receiver side: set the bit; returns 1 when it was clear (first delivery),
 * 0 when already set (duplicate), -1 when out of range (bogus item). */
int seen_mark(struct seen *s, unsigned producer, uint64_t seq);
bool seen_test(struct seen *s, unsigned producer, uint64_t seq);
/* After the run: check that exactly seqs [0, n) of producer are marked and
 * nothing beyond; reports at most a few misses.  Returns the missing count. */
uint64_t seen_check(struct stress_run *r, struct seen *s, unsigned producer, uint64_t n,
                    const char *what);

/* Receive an item: verify, mark seen (duplicate -> failure), free.  Returns
 * true when the item was good and new; producer/seq/tag are returned. */
bool item_receive(struct stress_run *r, struct seen *s, unsigned nproducers, void *p,
                  const char *who, unsigned *producer, uint64_t *seq, uint32_t *tag);

#endif /* WEFT_STRESS_H */
