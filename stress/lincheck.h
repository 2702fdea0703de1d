/*
 * stress/lincheck.h - recorded histories and the two linearizability
 * checkers of weft-stress (the fast one and the exhaustive one).
 *
 * A history is an array of operations, each with its invocation and
 * response time (lin_clock_inv / lin_clock_res around the call), its kind,
 * its result and the values it pushed or returned.  Values must be
 * distinct: every value is pushed at most once (a history where one is
 * pushed twice is a harness error, not a verdict).  The history of a window
 * must be complete: every operation has returned.
 *
 * Two checkers decide the same question, "is this history allowed by the
 * structure's contract?", in two independent ways:
 *   - lin_fast_check applies the violation rules listed in stress/lincheck.c
 *     (for queues: the four of Henzinger, Sezgin and Vafeiadis, CONCUR 2013,
 *     plus the rules for close, capacity, batches and the weaker "empty" of
 *     two-phase rings; for the deque: the owner-LIFO / thief-FIFO analogues).
 *     O(n log n) for most rules; used on every window.
 *   - lin_exhaustive_check searches for a linearization, in the manner of
 *     Wing and Gong (J. Parallel Distrib. Comput., 1993) with Lowe's
 *     memoisation of configurations ("Testing for linearizability",
 *     Concurrency and Computation: Practice and Experience, 2017), against
 *     a sequential (or two-phase, see LIN_PUSH_TWO_PHASE) specification.
 *     Exponential in the worst case: windows of up to LIN_EXHAUSTIVE_MAX_OPS
 *     operations.
 * weft-stress runs both on the short windows and reports a disagreement as a
 * failure.  Nothing here allocates or locks on the recording path: a thread
 * appends to its own preallocated struct lin_log.
 */
#ifndef WEFT_STRESS_LINCHECK_H
#define WEFT_STRESS_LINCHECK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "wait.h"

/* ---- the clock ----------------------------------------------------------- */

/* A fence that orders the clock read against the operation's own memory
 * accesses in real time, not only in the C11 model:
 * - seq_cst: a full barrier (mfence or a locked instruction on x86); before
 *   the response time it drains the store buffer, so every store of the
 *   operation (the publication of an item, say) is visible to all threads
 *   before the response time is read.  Without it a push could read its
 *   response time while its publishing store still sat in the store buffer,
 *   and a pop that began "after" the push ended could legitimately miss the
 *   item: a false V4.  Pairs with nothing: it orders this thread's accesses
 *   against its own clock read (the clock is the shared "memory").
 * - lfence (x86): rdtsc, behind clock_gettime, is not ordered by mfence or
 *   locked instructions (Intel SDM, RDTSC); lfence waits until every earlier
 *   instruction has completed and starts no later one before.  After the
 *   invocation's clock read it keeps the operation's first load from being
 *   performed before the time was read; before the response's clock read it
 *   keeps the clock from being read before the fence completed.
 * In the TSan build the seq_cst fence is TSan's (a real fence too). */
static inline void lin_clock_fence(void)
{
    atomic_thread_fence(memory_order_seq_cst);
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_lfence();
#endif
}

static inline uint64_t lin_clock_read(void)
{
    return now_ns(); /* src/wait.h: CLOCK_MONOTONIC in ns */
}

/* The invocation time: read the clock, then fence. */
static inline uint64_t lin_clock_inv(void)
{
    uint64_t t = lin_clock_read();
    lin_clock_fence();
    return t;
}

/* The response time: fence, then read the clock. */
static inline uint64_t lin_clock_res(void)
{
    lin_clock_fence();
    return lin_clock_read();
}

/* ---- histories ------------------------------------------------------------ */

enum lin_kind {
    LIN_PUSH,  /* ring push (any form) / deque owner push */
    LIN_POP,   /* ring pop (any form) / deque owner pop */
    LIN_STEAL, /* deque steal or steal_batch (thieves) */
    LIN_CLOSE  /* ring close */
};

enum lin_result {
    LIN_OK,       /* push: values were pushed; pop/steal: values were taken (n >= 1);
                     close: done */
    LIN_EMPTY,    /* pop/steal took nothing: try_pop false, try_pop_many 0,
                     WEFT_STEAL_EMPTY, deque pop false */
    LIN_TIMEDOUT, /* ring pop_timed: ETIMEDOUT */
    LIN_FULL,     /* ring push_timed: ETIMEDOUT */
    LIN_REFUSED,  /* ring try_push false / try_push_many 0: full or closed */
    LIN_CLOSED,   /* ring push or pop: EPIPE */
    LIN_RETRY     /* deque steal / steal_batch: WEFT_STEAL_RETRY */
};

struct lin_op {
    uint64_t inv, res; /* ns, from lin_clock_inv / lin_clock_res */
    uint32_t first;    /* its values: vals[first .. first + n) (pushed or taken;
                          for a failed push the value it tried to push) */
    uint16_t n;
    uint8_t kind;    /* enum lin_kind */
    uint8_t result;  /* enum lin_result */
    uint16_t thread; /* who ran it (for reports; 0 is the main thread) */
    uint16_t asked;  /* batch calls: the n asked for (for reports) */
};

/* One thread's record of a window: arrays preallocated by the harness. */
struct lin_log {
    struct lin_op *ops;
    uint64_t *vals;
    size_t nops, nvals;
    size_t max_ops, max_vals;
    uint16_t thread;
};

/* Append an operation; false when the log is full (a harness bug: scripts
 * are sized to fit).  No allocation, no lock. */
static inline bool lin_log_add(struct lin_log *l, enum lin_kind kind, enum lin_result result,
                               uint64_t inv, uint64_t res, const uint64_t *vals, size_t n,
                               size_t asked)
{
    if (l->nops == l->max_ops || n > l->max_vals - l->nvals)
        return false;
    struct lin_op *o = &l->ops[l->nops++];
    o->inv = inv;
    o->res = res;
    o->first = (uint32_t)l->nvals;
    o->n = (uint16_t)n;
    o->kind = (uint8_t)kind;
    o->result = (uint8_t)result;
    o->thread = l->thread;
    o->asked = (uint16_t)asked;
    for (size_t i = 0; i < n; i++)
        l->vals[l->nvals++] = vals[i];
    return true;
}

/* ---- what the structure promises ---------------------------------------- */

enum lin_structure { LIN_QUEUE, LIN_DEQUE };

/* Ring models (flags; 0 is a plain linearizable bounded FIFO with close,
 * every operation one atomic step):
 * LIN_PUSH_TWO_PHASE: a push is two atomic steps in its interval: it claims
 *   its position (where full / closed is decided and where the item's place
 *   in the FIFO order is fixed), then publishes the item; a pop may take an
 *   item only once it is published, and may report empty when the oldest
 *   claimed item is not yet published (Vyukov's ring; weft_spsc's push,
 *   which may publish after close returned).  A batch claims its positions
 *   in one step and publishes them one by one, in order.
 * LIN_POP_TWO_PHASE: a pop claims its items in one step, then releases
 *   their slots one by one; a push needs the slot of position
 *   tail - capacity released (Vyukov's ring: a push may find the ring full
 *   behind a pop in progress).
 * LIN_CLOSE_TWO_PHASE: close first refuses pushes (a push that claims after
 *   it fails), then, later in its interval, lets pops report EPIPE
 *   (weft_spsc: the gate, then the seal).
 * LIN_PUSH_ANNOUNCES: a push announces itself before it checks for close,
 *   and a push that fails withdraws the announcement; while one is
 *   announced, a pop on a sealed, drained ring does not report EPIPE (it
 *   waits, so a timed one may time out) (weft_spsc: prod_entered). */
enum {
    LIN_PUSH_TWO_PHASE = 1,
    LIN_POP_TWO_PHASE = 2,
    LIN_CLOSE_TWO_PHASE = 4,
    LIN_PUSH_ANNOUNCES = 8
};

struct lin_spec {
    enum lin_structure structure;
    unsigned flags;  /* LIN_*_TWO_PHASE, queues only */
    size_t capacity; /* ring capacity; 0: unbounded (no LIN_FULL/REFUSED
                        check) */
};

/* The rules of the fast checker (bits of lin_verdict.rules).  Each is a
 * sufficient condition for the history to violate the spec; see
 * stress/lincheck.c for the exact statement of each. */
enum lin_rule {
    LIN_V1_FRESH,  /* a value taken that no successful push pushed (before) */
    LIN_V2_REPEAT, /* a value taken twice */
    LIN_V3_ORDER,  /* queue: FIFO order (also batches: order, adjacency) */
    LIN_V4_EMPTY,  /* queue: empty / timed-out pop while provably non-empty */
    LIN_R_FULL,    /* ring: full / refused push while provably not full */
    LIN_R_CLOSE,   /* ring: close rules (EPIPE too early, push after close,
                        EPIPE while not drained, timed out on a drained ring) */
    LIN_D3_LIFO,   /* deque: the owner's pop is not the newest item */
    LIN_D4_EMPTY,  /* deque: the owner's pop reports empty while an item is
                        provably there */
    LIN_D5_FIFO,   /* deque: a steal is not the oldest item (batches too) */
    LIN_D6_EMPTY,  /* deque: a steal reports empty while provably non-empty */
    LIN_D7_RETRY,  /* deque: RETRY with no concurrent successful take (a
                        promise of the header beyond linearizability) */
    LIN_RULE_COUNT
};

extern const char *const lin_rule_names[LIN_RULE_COUNT];

struct lin_verdict {
    unsigned rules; /* bit (1u << rule) for every rule that fired */
    int first;      /* the rule of text, or -1 */
    size_t op[3];   /* ops involved in text (SIZE_MAX: none) */
    char text[384]; /* the first violation found, in words */
};

/* Scratch space reused across checks (grows on demand; the checkers
 * allocate only here, never on the recording path). */
struct lin_ctx;
struct lin_ctx *lin_ctx_new(void);
void lin_ctx_free(struct lin_ctx *c);

/* Apply every rule.  Returns 1 when none fired, 0 when some did (v says
 * which, with the first one in words), -1 on a harness error (a value
 * pushed twice, two owner operations overlapping, out of memory; v->text
 * says which). */
int lin_fast_check(struct lin_ctx *c, const struct lin_spec *spec, const struct lin_op *ops,
                   size_t nops, const uint64_t *vals, struct lin_verdict *v);

/* The linearizability rules only (lin_fast_check without the rules that
 * are promises beyond linearizability, i.e. LIN_D7_RETRY). */
#define LIN_LINEARIZABILITY_RULES (((1u << LIN_RULE_COUNT) - 1) & ~(1u << LIN_D7_RETRY))

/* Search for a linearization (an order of every operation's steps that
 * respects real time and the spec).  Returns 1 when one exists, 0 when none
 * does, -1 when undecided: more than LIN_EXHAUSTIVE_MAX_OPS operations,
 * LIN_EXHAUSTIVE_MAX_STEPS steps or LIN_EXHAUSTIVE_MAX_VALUES values, or the
 * search visited more than max_nodes configurations. */
#define LIN_EXHAUSTIVE_MAX_OPS 24
#define LIN_EXHAUSTIVE_MAX_STEPS 128
#define LIN_EXHAUSTIVE_MAX_VALUES 64
int lin_exhaustive_check(struct lin_ctx *c, const struct lin_spec *spec, const struct lin_op *ops,
                         size_t nops, const uint64_t *vals, size_t max_nodes);

/* Print the history (one line per operation, times relative to the
 * earliest invocation) to out, at most max lines. */
#include <stdio.h>
void lin_print_history(FILE *out, const struct lin_op *ops, size_t nops, const uint64_t *vals,
                       size_t max);

#endif /* WEFT_STRESS_LINCHECK_H */
