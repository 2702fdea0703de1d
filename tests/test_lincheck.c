/*
 * tests/test_lincheck.c - the checkers of stress/lincheck.c on histories
 * made by hand and at random.
 *
 * One test per rule shows that it fires on a history built to break it
 * (and that the exhaustive search, an independent decision procedure, also
 * rejects that history); a few linearizable histories are accepted by both;
 * and random histories, from a simulation of each model with random
 * mutations, show that the two checkers agree: everywhere for the histories
 * of Henzinger, Sezgin and Vafeiadis's theorem (single-item pushes and pops
 * on an unbounded queue) and for the deque; for rings with capacity,
 * batches, close and two-phase steps the fast rules never reject a history
 * the search accepts (a false alarm) and miss at most a few of the search's
 * rejections (printed; at most 1%).
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "lincheck.h"

/* ---- building histories ------------------------------------------------------ */

struct hist {
    struct lin_op ops[LIN_EXHAUSTIVE_MAX_OPS];
    uint64_t vals[256];
    size_t n, nv;
};

/* Add an op of thread t; n values follow. */
static void op(struct hist *h, unsigned t, enum lin_kind kind, enum lin_result result, uint64_t inv,
               uint64_t res, unsigned n, ...)
{
    struct lin_op *o = &h->ops[h->n++];
    o->inv = inv;
    o->res = res;
    o->kind = (uint8_t)kind;
    o->result = (uint8_t)result;
    o->thread = (uint16_t)t;
    o->first = (uint32_t)h->nv;
    o->n = (uint16_t)n;
    o->asked = (uint16_t)n;
    va_list ap;
    va_start(ap, n);
    for (unsigned i = 0; i < n; i++)
        h->vals[h->nv++] = va_arg(ap, uint64_t);
    va_end(ap);
}

#define PUSH(h, t, inv, res, v) op(h, t, LIN_PUSH, LIN_OK, inv, res, 1, (uint64_t)(v))
#define POP(h, t, inv, res, v) op(h, t, LIN_POP, LIN_OK, inv, res, 1, (uint64_t)(v))
#define POP_EMPTY(h, t, inv, res) op(h, t, LIN_POP, LIN_EMPTY, inv, res, 0)
#define STEAL(h, t, inv, res, v) op(h, t, LIN_STEAL, LIN_OK, inv, res, 1, (uint64_t)(v))
#define STEAL_EMPTY(h, t, inv, res) op(h, t, LIN_STEAL, LIN_EMPTY, inv, res, 0)

static struct lin_ctx *ctx_;

/* The checkers' scratch space, made once. */
static struct lin_ctx *the_ctx(void)
{
    if (!ctx_)
        ctx_ = lin_ctx_new();
    return ctx_;
}
#define ctx the_ctx()

static const struct lin_spec queue_strict = { LIN_QUEUE, 0, 0 };
static const struct lin_spec queue_vyukov = { LIN_QUEUE, LIN_PUSH_TWO_PHASE | LIN_POP_TWO_PHASE,
                                              0 };
static const struct lin_spec deque_spec = { LIN_DEQUE, 0, 0 };

static struct lin_spec bounded(struct lin_spec s, size_t cap)
{
    s.capacity = cap;
    return s;
}

/* Both checkers on h: the fast one must find rule (-1: none) broken (it
 * may find others too: one mistake often breaks two rules); the exhaustive
 * search must agree
 * that the history is (not) linearizable (D7 is not about linearizability:
 * the search accepts those). */
static void expect(const struct lin_spec *spec, const struct hist *h, int rule)
{
    struct lin_verdict v;
    int fast = lin_fast_check(ctx, spec, h->ops, h->n, h->vals, &v);
    int full = lin_exhaustive_check(ctx, spec, h->ops, h->n, h->vals, 10000000);
    printf("# fast: %d (%s), exhaustive: %d\n", fast, fast == 1 ? "no violation" : v.text, full);
    if (rule < 0) {
        CHECK_EQ_I(fast, 1);
        CHECK_EQ_I(full, 1);
        return;
    }
    printf("# expected rule %s; rules that fired:", lin_rule_names[rule]);
    for (int r = 0; r < LIN_RULE_COUNT; r++)
        if ((v.rules >> r) & 1)
            printf(" %s", lin_rule_names[r]);
    printf("\n");
    CHECK_EQ_I(fast, 0);
    CHECK((v.rules >> rule) & 1);
    CHECK_EQ_I(full, rule == LIN_D7_RETRY ? 1 : 0);
}

/* ---- linearizable histories ------------------------------------------------------ */

static void sequential_fifo_is_accepted(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    PUSH(&h, 1, 20, 30, 0xb);
    POP(&h, 2, 40, 50, 0xa);
    POP(&h, 2, 60, 70, 0xb);
    POP_EMPTY(&h, 2, 80, 90);
    expect(&queue_strict, &h, -1);
}

static void overlapping_pushes_may_go_either_way(void)
{
    /* b's push overlaps a's, so b may be first in the queue */
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 100, 0xa);
    PUSH(&h, 2, 10, 90, 0xb);
    POP(&h, 3, 110, 120, 0xb);
    POP(&h, 3, 130, 140, 0xa);
    POP_EMPTY(&h, 3, 150, 160);
    expect(&queue_strict, &h, -1);
}

static void empty_pop_overlapping_the_last_pop_is_accepted(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    POP(&h, 2, 20, 60, 0xa);
    POP_EMPTY(&h, 3, 30, 50);
    expect(&queue_strict, &h, -1);
}

static void deque_owner_and_thieves_are_accepted(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 0, 0, 10, 1);
    PUSH(&h, 0, 20, 30, 2);
    PUSH(&h, 0, 40, 50, 3);
    STEAL(&h, 1, 35, 60, 1);                            /* the oldest */
    op(&h, 0, LIN_POP, LIN_OK, 70, 80, 1, (uint64_t)3); /* the newest */
    STEAL(&h, 2, 75, 95, 2);
    op(&h, 0, LIN_POP, LIN_EMPTY, 90, 100, 0); /* overlaps the last steal */
    STEAL_EMPTY(&h, 1, 110, 120);
    expect(&deque_spec, &h, -1);
}

/* ---- one history per queue rule ------------------------------------------------- */

static void v1_value_never_pushed_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    POP(&h, 2, 20, 30, 0xc);
    expect(&queue_strict, &h, LIN_V1_FRESH);
}

static void v1_value_taken_before_its_push_began_is_rejected(void)
{
    struct hist h = { .n = 0 };
    POP(&h, 2, 0, 10, 0xa);
    PUSH(&h, 1, 20, 30, 0xa);
    expect(&queue_strict, &h, LIN_V1_FRESH);
}

static void v2_value_popped_twice_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    POP(&h, 2, 20, 30, 0xa);
    POP(&h, 3, 25, 35, 0xa);
    expect(&queue_strict, &h, LIN_V2_REPEAT);
}

static void v3_values_popped_in_reverse_order_are_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    PUSH(&h, 1, 20, 30, 0xb);
    POP(&h, 2, 40, 50, 0xb);
    POP(&h, 2, 60, 70, 0xa);
    expect(&queue_strict, &h, LIN_V3_ORDER);
}

static void v3_later_value_popped_while_earlier_never_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    PUSH(&h, 1, 20, 30, 0xb);
    POP(&h, 2, 40, 50, 0xb);
    expect(&queue_strict, &h, LIN_V3_ORDER);
}

static void v4_empty_pop_between_push_and_pop_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    POP_EMPTY(&h, 2, 20, 30);
    POP(&h, 3, 40, 50, 0xa);
    expect(&queue_strict, &h, LIN_V4_EMPTY);
}

static void v4_empty_pop_covered_only_by_two_values_is_rejected(void)
{
    /* no single value is there throughout the empty pop: a leaves (its pop
     * overlaps) only after b certainly arrived, and b stays past its end */
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    POP_EMPTY(&h, 2, 20, 200);
    PUSH(&h, 1, 30, 40, 0xb);
    POP(&h, 3, 50, 80, 0xa);
    POP(&h, 3, 210, 220, 0xb);
    expect(&queue_strict, &h, LIN_V4_EMPTY);
}

static void timed_out_pop_on_a_non_empty_ring_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    op(&h, 2, LIN_POP, LIN_TIMEDOUT, 20, 30, 0);
    POP(&h, 3, 40, 50, 0xa);
    expect(&queue_strict, &h, LIN_V4_EMPTY);
}

static void vyukov_empty_behind_an_unpublished_push_is_accepted(void)
{
    /* a's push claimed first and publishes late; b's completed: the ring
     * may report empty meanwhile (and a comes out first) */
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 100, 0xa);
    PUSH(&h, 2, 10, 20, 0xb);
    POP_EMPTY(&h, 3, 30, 40);
    POP(&h, 3, 110, 120, 0xa);
    POP(&h, 3, 130, 140, 0xb);
    expect(&queue_vyukov, &h, -1);
}

static void the_same_history_is_rejected_by_a_strict_ring(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 100, 0xa);
    PUSH(&h, 2, 10, 20, 0xb);
    POP_EMPTY(&h, 3, 30, 40);
    POP(&h, 3, 110, 120, 0xa);
    POP(&h, 3, 130, 140, 0xb);
    expect(&queue_strict, &h, LIN_V4_EMPTY);
}

static void vyukov_empty_after_every_older_push_published_is_rejected(void)
{
    /* a's push overlaps b's but has ended before the empty pop begins */
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 25, 0xa);
    PUSH(&h, 2, 10, 20, 0xb);
    POP_EMPTY(&h, 3, 30, 40);
    POP(&h, 3, 110, 120, 0xa);
    POP(&h, 3, 130, 140, 0xb);
    expect(&queue_vyukov, &h, LIN_V4_EMPTY);
}

static void full_push_on_an_empty_ring_is_rejected(void)
{
    struct lin_spec s = bounded(queue_strict, 1);
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    POP(&h, 2, 20, 30, 0xa);
    op(&h, 1, LIN_PUSH, LIN_REFUSED, 40, 50, 1, (uint64_t)0xb);
    expect(&s, &h, LIN_R_FULL);
}

static void full_push_on_a_full_ring_is_accepted(void)
{
    struct lin_spec s = bounded(queue_strict, 1);
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    op(&h, 1, LIN_PUSH, LIN_FULL, 20, 30, 1, (uint64_t)0xb);
    POP(&h, 2, 40, 50, 0xa);
    expect(&s, &h, -1);
}

static void vyukov_full_behind_a_pop_in_progress_is_accepted(void)
{
    /* capacity 2: a's pop claimed position 0 but has not released its slot
     * when c's push needs it (b still in the ring) */
    struct lin_spec s = bounded(queue_vyukov, 2);
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    PUSH(&h, 1, 20, 30, 0xb);
    POP(&h, 2, 40, 100, 0xa);
    op(&h, 1, LIN_PUSH, LIN_REFUSED, 50, 60, 1, (uint64_t)0xc);
    expect(&s, &h, -1);
    struct lin_spec strict = bounded(queue_strict, 2);
    expect(&strict, &h, -1); /* strictly: a's pop may come after */
    /* but a pop that ended before the push began holds no slot */
    h.ops[2].res = 45;
    expect(&s, &h, LIN_R_FULL);
}

static void push_after_close_returned_is_rejected(void)
{
    struct hist h = { .n = 0 };
    op(&h, 0, LIN_CLOSE, LIN_OK, 0, 10, 0);
    PUSH(&h, 1, 20, 30, 0xa);
    POP(&h, 2, 40, 50, 0xa);
    expect(&queue_strict, &h, LIN_R_CLOSE);
}

static void epipe_before_any_close_is_rejected(void)
{
    struct hist h = { .n = 0 };
    op(&h, 1, LIN_PUSH, LIN_CLOSED, 0, 10, 1, (uint64_t)0xa);
    op(&h, 0, LIN_CLOSE, LIN_OK, 20, 30, 0);
    expect(&queue_strict, &h, LIN_R_CLOSE);
}

static void epipe_pop_while_an_item_is_left_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    op(&h, 0, LIN_CLOSE, LIN_OK, 20, 30, 0);
    op(&h, 2, LIN_POP, LIN_CLOSED, 40, 50, 0);
    POP(&h, 3, 60, 70, 0xa);
    expect(&queue_strict, &h, LIN_R_CLOSE);
}

static void timed_out_pop_on_a_closed_drained_ring_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    POP(&h, 2, 20, 30, 0xa);
    op(&h, 0, LIN_CLOSE, LIN_OK, 40, 50, 0);
    op(&h, 2, LIN_POP, LIN_TIMEDOUT, 60, 70, 0);
    expect(&queue_strict, &h, LIN_R_CLOSE);
}

static void spsc_push_publishing_after_close_is_accepted(void)
{
    /* two-phase push and close (weft_spsc): the push passed the gate before
     * close and published after close returned; an EPIPE after it has the
     * item popped first */
    struct lin_spec s = { LIN_QUEUE, LIN_PUSH_TWO_PHASE | LIN_CLOSE_TWO_PHASE, 4 };
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 100, 0xa);
    op(&h, 0, LIN_CLOSE, LIN_OK, 10, 20, 0);
    POP_EMPTY(&h, 2, 30, 40);
    POP(&h, 2, 110, 120, 0xa);
    op(&h, 2, LIN_POP, LIN_CLOSED, 130, 140, 0);
    expect(&s, &h, -1);
    /* a strict ring must not show that empty pop */
    struct lin_spec strict = bounded(queue_strict, 4);
    expect(&strict, &h, LIN_V4_EMPTY);
}

static void spsc_timed_out_pop_behind_a_failing_push_is_accepted(void)
{
    /* weft_spsc: a push that will fail announces itself first, and a timed
     * pop on the sealed, drained ring waits for it and may time out */
    struct lin_spec s = { LIN_QUEUE, LIN_PUSH_TWO_PHASE | LIN_CLOSE_TWO_PHASE | LIN_PUSH_ANNOUNCES,
                          4 };
    struct hist h = { .n = 0 };
    op(&h, 0, LIN_CLOSE, LIN_OK, 0, 10, 0);
    op(&h, 2, LIN_POP, LIN_CLOSED, 20, 30, 0);
    op(&h, 1, LIN_PUSH, LIN_CLOSED, 35, 60, 1, (uint64_t)0xa);
    op(&h, 2, LIN_POP, LIN_TIMEDOUT, 40, 50, 0);
    expect(&s, &h, -1);
    /* without a push in progress it must report EPIPE */
    h.ops[2].inv = 52;
    expect(&s, &h, LIN_R_CLOSE);
}

static void batch_pop_out_of_order_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    PUSH(&h, 1, 20, 30, 0xb);
    op(&h, 2, LIN_POP, LIN_OK, 40, 50, 2, (uint64_t)0xb, (uint64_t)0xa);
    expect(&queue_strict, &h, LIN_V3_ORDER);
}

static void batch_push_split_by_another_value_is_rejected(void)
{
    /* a and b pushed in one step, yet c is popped between them */
    struct hist h = { .n = 0 };
    op(&h, 1, LIN_PUSH, LIN_OK, 0, 10, 2, (uint64_t)0xa, (uint64_t)0xb);
    PUSH(&h, 2, 5, 15, 0xc);
    POP(&h, 3, 20, 30, 0xa);
    POP(&h, 3, 40, 50, 0xc);
    POP(&h, 3, 60, 70, 0xb);
    expect(&queue_strict, &h, LIN_V3_ORDER);
    /* single pushes would be fine */
    struct hist g = { .n = 0 };
    PUSH(&g, 1, 0, 5, 0xa);
    PUSH(&g, 2, 5, 15, 0xc);
    PUSH(&g, 1, 6, 10, 0xb);
    POP(&g, 3, 20, 30, 0xa);
    POP(&g, 3, 40, 50, 0xc);
    POP(&g, 3, 60, 70, 0xb);
    expect(&queue_strict, &g, -1);
}

static void batch_pop_skipping_a_value_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    PUSH(&h, 1, 20, 30, 0xc);
    PUSH(&h, 1, 40, 50, 0xb);
    op(&h, 2, LIN_POP, LIN_OK, 60, 70, 2, (uint64_t)0xa, (uint64_t)0xb);
    POP(&h, 3, 55, 80, 0xc);
    expect(&queue_strict, &h, LIN_V3_ORDER);
}

/* ---- one history per deque rule ------------------------------------------------ */

static void d3_owner_pop_not_the_newest_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 0, 0, 10, 1);
    PUSH(&h, 0, 20, 30, 2);
    op(&h, 0, LIN_POP, LIN_OK, 40, 50, 1, (uint64_t)1);
    STEAL(&h, 1, 45, 60, 2);
    expect(&deque_spec, &h, LIN_D3_LIFO);
}

static void d4_owner_empty_with_an_item_left_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 0, 0, 10, 1);
    op(&h, 0, LIN_POP, LIN_EMPTY, 20, 30, 0);
    STEAL(&h, 1, 40, 50, 1);
    expect(&deque_spec, &h, LIN_D4_EMPTY);
}

static void d5_steal_not_the_oldest_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 0, 0, 10, 1);
    PUSH(&h, 0, 20, 30, 2);
    STEAL(&h, 1, 40, 50, 2);
    STEAL(&h, 2, 60, 70, 1);
    expect(&deque_spec, &h, LIN_D5_FIFO);
}

static void d5_batch_skipping_an_item_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 0, 0, 10, 1);
    PUSH(&h, 0, 20, 30, 2);
    PUSH(&h, 0, 40, 50, 3);
    op(&h, 1, LIN_STEAL, LIN_OK, 60, 70, 2, (uint64_t)1, (uint64_t)3);
    STEAL(&h, 2, 55, 80, 2);
    expect(&deque_spec, &h, LIN_D5_FIFO);
}

static void d6_steal_empty_with_an_item_left_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 0, 0, 10, 1);
    STEAL_EMPTY(&h, 1, 20, 30);
    STEAL(&h, 2, 40, 50, 1);
    expect(&deque_spec, &h, LIN_D6_EMPTY);
}

static void d7_retry_without_a_race_is_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 0, 0, 10, 1);
    op(&h, 1, LIN_STEAL, LIN_RETRY, 20, 30, 0);
    STEAL(&h, 2, 40, 50, 1);
    expect(&deque_spec, &h, LIN_D7_RETRY);
    /* a race makes it legitimate */
    h.ops[2].inv = 25;
    expect(&deque_spec, &h, -1);
}

static void deque_v1_v2_are_rejected(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 0, 0, 10, 1);
    STEAL(&h, 1, 20, 30, 1);
    STEAL(&h, 2, 25, 35, 1);
    expect(&deque_spec, &h, LIN_V2_REPEAT);
    struct hist g = { .n = 0 };
    PUSH(&g, 0, 0, 10, 1);
    STEAL(&g, 1, 20, 30, 7);
    expect(&deque_spec, &g, LIN_V1_FRESH);
}

static void a_value_pushed_twice_is_a_harness_error(void)
{
    struct hist h = { .n = 0 };
    PUSH(&h, 1, 0, 10, 0xa);
    PUSH(&h, 1, 20, 30, 0xa);
    struct lin_verdict v;
    int fast = lin_fast_check(ctx, &queue_strict, h.ops, h.n, h.vals, &v);
    printf("# fast: %d (%s)\n", fast, v.text);
    CHECK_EQ_I(fast, -1);
}

/* ---- random histories ------------------------------------------------------------ */

#ifndef RANDOM_SEED
#define RANDOM_SEED 0x2545f4914f6cdd1du
#endif
static uint64_t rng_state = RANDOM_SEED;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static unsigned below(unsigned n)
{
    return (unsigned)((rnd() >> 11) % n);
}

/* What a generator may produce. */
struct gen {
    struct lin_spec spec;
    unsigned threads, ops; /* per thread, at most */
    bool batches, timed, close;
    bool one_producer; /* thread 1 pushes, thread 2 pops (spsc) */
};

/* The model of a ring, as the exhaustive search has it, simulated step by
 * step with random interleavings (an independent implementation). */
struct sim {
    uint64_t order[64];
    unsigned tail, head;
    unsigned announced; /* failing pushes announced (LIN_PUSH_ANNOUNCES) */
    bool gate, sealed;
    bool pub[64], rel[64]; /* by position */
};

static bool sim_free(const struct sim *s, size_t cap, unsigned p)
{
    return cap == 0 || p < cap || s->rel[p - cap];
}

/* A thread's op in flight. */
struct flight {
    int kind;       /* -1: idle */
    int form;       /* 0 try, 1 timed */
    unsigned want;  /* batch size asked */
    unsigned step;  /* 0: not started; 1: decided; then publishes/releases */
    unsigned at, k; /* positions claimed: at .. at + k */
    size_t op;      /* its index in the history */
    unsigned left;  /* ops still to run */
};

/* Generate a complete history of the model in h. */
static void gen_queue(const struct gen *g, struct hist *h)
{
    struct sim s;
    memset(&s, 0, sizeof s);
    memset(h, 0, sizeof *h);
    struct flight f[4];
    unsigned nthreads = g->threads;
    for (unsigned t = 0; t < nthreads; t++) {
        f[t].kind = -1;
        f[t].left = 1 + below(g->ops);
    }
    bool closed_once = false;
    uint64_t now = 1, next_value = 1;
    size_t cap = g->spec.capacity;
    unsigned flags = g->spec.flags;
    for (;;) {
        unsigned busy = 0;
        for (unsigned t = 0; t < nthreads; t++)
            busy += f[t].left > 0 || f[t].kind >= 0;
        if (busy == 0 || h->n + nthreads >= LIN_EXHAUSTIVE_MAX_OPS)
            break;
        unsigned t = below(nthreads);
        struct flight *x = &f[t];
        if (x->kind < 0 && x->left == 0)
            continue;
        now += 1 + below(3);
        if (x->kind < 0) {
            /* start an op */
            x->left--;
            if (g->close && t == 0 && !closed_once && below(3) == 0) {
                x->kind = LIN_CLOSE;
                closed_once = true;
            } else if (g->one_producer) {
                /* thread 1 is the producer, 2 the consumer, 0 only closes */
                if (t == 0)
                    continue;
                x->kind = t == 1 ? LIN_PUSH : LIN_POP;
            } else {
                x->kind = below(2) ? LIN_PUSH : LIN_POP;
            }
            x->form = g->timed ? (int)below(2) : 0;
            x->want = g->batches ? 1 + below(2) : 1;
            x->step = 0;
            x->op = h->n++;
            struct lin_op *o = &h->ops[x->op];
            o->inv = now;
            o->kind = (uint8_t)x->kind;
            o->thread = (uint16_t)t;
            continue;
        }
        struct lin_op *o = &h->ops[x->op];
        unsigned steps = 1;
        if (x->kind == LIN_CLOSE) {
            steps = (flags & LIN_CLOSE_TWO_PHASE) ? 2 : 1;
            if (x->step == 0)
                s.gate = true;
            if (x->step == steps - 1 || !(flags & LIN_CLOSE_TWO_PHASE))
                s.sealed = true;
            o->result = LIN_OK;
        } else if (x->kind == LIN_PUSH) {
            if (x->step == 0) {
                o->first = (uint32_t)h->nv;
                unsigned k = 0;
                if (!s.gate)
                    while (k < x->want && sim_free(&s, cap, s.tail + k))
                        k++;
                if (k == 0) {
                    o->result = s.gate ? (x->form ? LIN_CLOSED : LIN_REFUSED)
                                       : (x->form ? LIN_FULL : LIN_REFUSED);
                    o->n = 1;
                    h->vals[h->nv++] = next_value++;
                    if (flags & LIN_PUSH_ANNOUNCES) {
                        s.announced++; /* withdrawn at the next step */
                        steps = 2;
                    }
                } else {
                    o->result = LIN_OK;
                    o->n = (uint16_t)k;
                    x->at = s.tail;
                    x->k = k;
                    for (unsigned j = 0; j < k; j++) {
                        s.order[s.tail] = next_value;
                        s.pub[s.tail] = !(flags & LIN_PUSH_TWO_PHASE);
                        s.tail++;
                        h->vals[h->nv++] = next_value++;
                    }
                    if (flags & LIN_PUSH_TWO_PHASE)
                        steps = 1 + k;
                }
            } else if (o->result != LIN_OK) {
                s.announced--;
                steps = 2;
            } else {
                s.pub[x->at + x->step - 1] = true;
                steps = 1 + x->k;
            }
        } else { /* pop */
            if (x->step == 0) {
                o->first = (uint32_t)h->nv;
                unsigned k = 0;
                while (k < x->want && s.head + k < s.tail && s.pub[s.head + k])
                    k++;
                if (k == 0) {
                    bool drained = s.sealed && s.head == s.tail && s.announced == 0;
                    o->result = x->form ? (drained ? LIN_CLOSED : LIN_TIMEDOUT) : LIN_EMPTY;
                    o->n = 0;
                } else {
                    o->result = LIN_OK;
                    o->n = (uint16_t)k;
                    x->at = s.head;
                    x->k = k;
                    for (unsigned j = 0; j < k; j++) {
                        s.rel[s.head] = !(flags & LIN_POP_TWO_PHASE);
                        h->vals[h->nv++] = s.order[s.head++];
                    }
                    if (flags & LIN_POP_TWO_PHASE)
                        steps = 1 + k;
                }
            } else {
                s.rel[x->at + x->step - 1] = true;
                steps = 1 + x->k;
            }
        }
        x->step++;
        if (x->step >= steps) {
            now += below(3);
            o->res = now;
            x->kind = -1;
        }
    }
    /* finish the ops in flight (their remaining steps, in order) */
    for (unsigned t = 0; t < nthreads; t++) {
        struct flight *x = &f[t];
        if (x->kind < 0)
            continue;
        struct lin_op *o = &h->ops[x->op];
        if (x->step == 0) {
            h->n--; /* not started: drop it */
            continue;
        }
        if (x->kind == LIN_PUSH && o->result == LIN_OK)
            for (unsigned j = x->step - 1; j < x->k; j++)
                s.pub[x->at + j] = true;
        if (x->kind == LIN_PUSH && o->result != LIN_OK && (flags & LIN_PUSH_ANNOUNCES))
            s.announced--;
        if (x->kind == LIN_POP && o->result == LIN_OK)
            for (unsigned j = x->step - 1; j < x->k; j++)
                s.rel[x->at + j] = true;
        if (x->kind == LIN_CLOSE)
            s.sealed = true;
        now += 1 + below(3);
        o->res = now;
    }
}

/* Change the history a little, so that it may break the contract. */
static void mutate(struct hist *h, bool deque)
{
    if (h->n == 0)
        return;
    size_t i = below((unsigned)h->n), j = below((unsigned)h->n);
    struct lin_op *o = &h->ops[i], *p = &h->ops[j];
    switch (below(5)) {
    case 0: /* a take that returned an item says empty instead */
        if ((o->kind == LIN_POP || o->kind == LIN_STEAL) && o->result == LIN_OK && o->n == 1) {
            o->result = LIN_EMPTY;
            o->n = 0;
        }
        break;
    case 1: /* two single takes swap their items */
        if (i != j && (o->kind == LIN_POP || o->kind == LIN_STEAL) &&
            (p->kind == LIN_POP || p->kind == LIN_STEAL) && o->result == LIN_OK &&
            p->result == LIN_OK && o->n == 1 && p->n == 1) {
            uint64_t t = h->vals[o->first];
            h->vals[o->first] = h->vals[p->first];
            h->vals[p->first] = t;
        }
        break;
    case 2: /* an interval shrinks */
        if (o->res > o->inv + 1) {
            uint64_t mid = o->inv + 1 + below((unsigned)(o->res - o->inv - 1));
            if (below(2))
                o->inv = mid;
            else
                o->res = mid;
        }
        break;
    case 3: /* a failed push succeeds, or an empty pop closes */
        if (!deque && o->kind == LIN_PUSH && o->result != LIN_OK)
            o->result = LIN_OK;
        else if (!deque && o->kind == LIN_POP && o->result == LIN_EMPTY)
            o->result = below(2) ? LIN_CLOSED : LIN_TIMEDOUT;
        break;
    default: /* a thief's op moves a little */
        if (o->kind != LIN_PUSH && !(deque && o->kind == LIN_POP)) {
            uint64_t d = 1 + below(8);
            if (below(2) && o->inv > d) {
                o->inv -= d;
                o->res -= d;
            } else {
                o->inv += d;
                o->res += d;
            }
        }
        break;
    }
}

/* Generate a deque history: thread 0 owns, the others steal. */
static void gen_deque(const struct gen *g, struct hist *h)
{
    memset(h, 0, sizeof *h);
    uint64_t dq[64];
    unsigned top = 0, bottom = 0, left[4];
    size_t inflight[4];
    for (unsigned t = 0; t < g->threads; t++) {
        left[t] = 1 + below(g->ops) + (t == 0 ? 2 : 0);
        inflight[t] = SIZE_MAX;
    }
    uint64_t now = 1, next_value = 1;
    for (;;) {
        unsigned busy = 0;
        for (unsigned t = 0; t < g->threads; t++)
            busy += left[t] > 0 || inflight[t] != SIZE_MAX;
        if (busy == 0 || h->n + g->threads >= LIN_EXHAUSTIVE_MAX_OPS)
            break;
        unsigned t = below(g->threads);
        now += 1 + below(3);
        if (inflight[t] == SIZE_MAX) {
            if (left[t] == 0)
                continue;
            left[t]--;
            struct lin_op *o = &h->ops[h->n];
            o->inv = now;
            o->thread = (uint16_t)t;
            o->kind = (uint8_t)(t == 0 ? (below(3) ? LIN_PUSH : LIN_POP) : LIN_STEAL);
            o->asked = (uint16_t)(g->batches && t != 0 ? 1 + below(3) : 1);
            inflight[t] = h->n++;
            continue;
        }
        struct lin_op *o = &h->ops[inflight[t]];
        if (o->res == 0) {
            /* the atomic step */
            unsigned size = bottom - top;
            o->first = (uint32_t)h->nv;
            if (o->kind == LIN_PUSH) {
                o->result = LIN_OK;
                o->n = 1;
                dq[bottom++] = next_value;
                h->vals[h->nv++] = next_value++;
            } else if (o->kind == LIN_POP) {
                if (size == 0) {
                    o->result = LIN_EMPTY;
                } else {
                    o->result = LIN_OK;
                    o->n = 1;
                    h->vals[h->nv++] = dq[--bottom];
                }
            } else if (size == 0) {
                o->result = below(4) ? LIN_EMPTY : LIN_RETRY;
            } else {
                unsigned k = o->asked < (size + 1) / 2 ? o->asked : (size + 1) / 2;
                o->result = LIN_OK;
                o->n = (uint16_t)k;
                for (unsigned j = 0; j < k; j++)
                    h->vals[h->nv++] = dq[top++];
            }
            o->res = 1; /* stepped; the real response comes next */
            continue;
        }
        o->res = now;
        inflight[t] = SIZE_MAX;
    }
    for (unsigned t = 0; t < g->threads; t++) {
        if (inflight[t] == SIZE_MAX)
            continue;
        struct lin_op *o = &h->ops[inflight[t]];
        if (o->res == 0) {
            /* never stepped: drop it if it is the last op, else say empty */
            if (inflight[t] == h->n - 1) {
                h->n--;
                continue;
            }
            o->result = o->kind == LIN_PUSH ? LIN_OK : LIN_EMPTY;
            if (o->kind == LIN_PUSH) {
                o->n = 1;
                o->first = (uint32_t)h->nv;
                h->vals[h->nv++] = next_value++;
            }
        }
        now += 1 + below(3);
        o->res = now;
    }
}

struct tally {
    unsigned histories, rejected, undecided, fast_only, search_only, errors;
};

static void compare(const struct gen *g, bool deque, unsigned count, struct tally *t)
{
    memset(t, 0, sizeof *t);
    static struct hist h;
    for (unsigned i = 0; i < count; i++) {
        if (deque)
            gen_deque(g, &h);
        else
            gen_queue(g, &h);
        if (below(4) != 0)
            mutate(&h, deque);
        if (below(3) == 0)
            mutate(&h, deque);
        struct lin_verdict v;
        int fast = lin_fast_check(ctx, &g->spec, h.ops, h.n, h.vals, &v);
        if (fast < 0) {
            t->errors++; /* a mutation made it malformed (e.g. owner ops overlap) */
            continue;
        }
        int full = lin_exhaustive_check(ctx, &g->spec, h.ops, h.n, h.vals, 2000000);
        t->histories++;
        if (full < 0) {
            t->undecided++;
            continue;
        }
        bool fast_rejects = fast == 0 && (v.rules & LIN_LINEARIZABILITY_RULES) != 0;
        t->rejected += full == 0;
        if (fast_rejects && full == 1) {
            if (t->fast_only++ < 3) {
                printf("# fast rejects, search accepts: %s\n", v.text);
                lin_print_history(stdout, h.ops, h.n, h.vals, 32);
            }
        }
        if (!fast_rejects && full == 0) {
            if (t->search_only++ < 3) {
                printf("# search rejects, fast accepts:\n");
                lin_print_history(stdout, h.ops, h.n, h.vals, 32);
            }
        }
    }
    printf("# %u histories (%u malformed by mutation, skipped): %u rejected by the search, "
           "%u undecided; fast-only rejections %u, search-only rejections %u\n",
           t->histories, t->errors, t->rejected, t->undecided, t->fast_only, t->search_only);
}

#ifndef RANDOM_HISTORIES
#define RANDOM_HISTORIES 3000
#endif

static void random_single_item_queue_histories_agree_exactly(void)
{
    /* the theorem's ground: the checkers must agree on every history */
    struct gen g = { .spec = queue_strict, .threads = 3, .ops = 4 };
    struct tally t;
    compare(&g, false, RANDOM_HISTORIES, &t);
    CHECK_GT(t.rejected, 0);
    CHECK_EQ(t.fast_only, 0);
    CHECK_EQ(t.search_only, 0);
}

static void random_bounded_ring_histories_never_false_alarm_and_rarely_miss(void)
{
    struct gen g = { .spec = bounded(queue_strict, 2),
                     .threads = 3,
                     .ops = 4,
                     .batches = true,
                     .timed = true,
                     .close = true };
    struct tally t;
    compare(&g, false, RANDOM_HISTORIES, &t);
    CHECK_GT(t.rejected, 0);
    CHECK_EQ(t.fast_only, 0);
    /* capacity with batches: a few position-bound patterns escape the fast
     * rules (stress/lincheck.c); at most 1% of the search's rejections */
    CHECK_LE(t.search_only * 100, t.rejected);
}

static void random_vyukov_ring_histories_never_false_alarm_and_rarely_miss(void)
{
    struct gen g = { .spec = bounded(queue_vyukov, 2),
                     .threads = 3,
                     .ops = 4,
                     .batches = true,
                     .timed = true,
                     .close = true };
    struct tally t;
    compare(&g, false, RANDOM_HISTORIES, &t);
    CHECK_GT(t.rejected, 0);
    CHECK_EQ(t.fast_only, 0);
    CHECK_LE(t.search_only * 100, t.rejected);
}

static void random_spsc_ring_histories_never_false_alarm_and_rarely_miss(void)
{
    struct gen g = { .spec = { LIN_QUEUE,
                               LIN_PUSH_TWO_PHASE | LIN_CLOSE_TWO_PHASE | LIN_PUSH_ANNOUNCES, 2 },
                     .threads = 3,
                     .ops = 5,
                     .batches = true,
                     .timed = true,
                     .close = true,
                     .one_producer = true };
    struct tally t;
    compare(&g, false, RANDOM_HISTORIES, &t);
    CHECK_GT(t.rejected, 0);
    CHECK_EQ(t.fast_only, 0);
    CHECK_LE(t.search_only * 100, t.rejected);
}

static void random_deque_histories_agree_exactly(void)
{
    struct gen g = { .spec = deque_spec, .threads = 3, .ops = 4, .batches = true };
    struct tally t;
    compare(&g, true, RANDOM_HISTORIES, &t);
    CHECK_GT(t.rejected, 0);
    CHECK_EQ(t.fast_only, 0);
    CHECK_EQ(t.search_only, 0);
}

CHECK_MAIN(
    CASE(sequential_fifo_is_accepted), CASE(overlapping_pushes_may_go_either_way),
    CASE(empty_pop_overlapping_the_last_pop_is_accepted),
    CASE(deque_owner_and_thieves_are_accepted), CASE(v1_value_never_pushed_is_rejected),
    CASE(v1_value_taken_before_its_push_began_is_rejected), CASE(v2_value_popped_twice_is_rejected),
    CASE(v3_values_popped_in_reverse_order_are_rejected),
    CASE(v3_later_value_popped_while_earlier_never_is_rejected),
    CASE(v4_empty_pop_between_push_and_pop_is_rejected),
    CASE(v4_empty_pop_covered_only_by_two_values_is_rejected),
    CASE(timed_out_pop_on_a_non_empty_ring_is_rejected),
    CASE(vyukov_empty_behind_an_unpublished_push_is_accepted),
    CASE(the_same_history_is_rejected_by_a_strict_ring),
    CASE(vyukov_empty_after_every_older_push_published_is_rejected),
    CASE(full_push_on_an_empty_ring_is_rejected), CASE(full_push_on_a_full_ring_is_accepted),
    CASE(vyukov_full_behind_a_pop_in_progress_is_accepted),
    CASE(push_after_close_returned_is_rejected), CASE(epipe_before_any_close_is_rejected),
    CASE(epipe_pop_while_an_item_is_left_is_rejected),
    CASE(timed_out_pop_on_a_closed_drained_ring_is_rejected),
    CASE(spsc_push_publishing_after_close_is_accepted),
    CASE(spsc_timed_out_pop_behind_a_failing_push_is_accepted),
    CASE(batch_pop_out_of_order_is_rejected), CASE(batch_push_split_by_another_value_is_rejected),
    CASE(batch_pop_skipping_a_value_is_rejected), CASE(d3_owner_pop_not_the_newest_is_rejected),
    CASE(d4_owner_empty_with_an_item_left_is_rejected), CASE(d5_steal_not_the_oldest_is_rejected),
    CASE(d5_batch_skipping_an_item_is_rejected), CASE(d6_steal_empty_with_an_item_left_is_rejected),
    CASE(d7_retry_without_a_race_is_rejected), CASE(deque_v1_v2_are_rejected),
    CASE(a_value_pushed_twice_is_a_harness_error),
    CASE(random_single_item_queue_histories_agree_exactly),
    CASE(random_bounded_ring_histories_never_false_alarm_and_rarely_miss),
    CASE(random_vyukov_ring_histories_never_false_alarm_and_rarely_miss),
    CASE(random_spsc_ring_histories_never_false_alarm_and_rarely_miss),
    CASE(random_deque_histories_agree_exactly))
