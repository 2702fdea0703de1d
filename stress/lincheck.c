/*
 * stress/lincheck.c - the linearizability checkers of weft-stress; the
 * interface is in stress/lincheck.h.
 *
 * Terms.  An operation x has an interval [x.inv, x.res] (clock reads
 * before and after the call, fenced, see lin_clock_fence).  x precedes y,
 * x < y, when x.res < y.inv: in every linearization x's steps come before
 * y's.  Equal times count as overlapping, which only ever excuses.  For a
 * value a, P(a) is the push that pushed it successfully and D(a) the pop or
 * steal that returned it (none: never taken).  Times of missing operations
 * are +infinity.
 *
 * The queue rules (weft_mpmc, weft_spsc, every ring of stress/rings.h)
 * -----------------------------------------------------------------------
 * Thomas A. Henzinger, Ali Sezgin and Viktor Vafeiadis, "Aspect-oriented
 * linearizability proofs", CONCUR 2013 (LNCS 8052), show that a complete
 * history of a queue in which every value is enqueued at most once is
 * linearizable if and only if it has none of four violations:
 *   VFresh  a dequeue returns a value that no enqueue enqueued, or only one
 *           that began after the dequeue ended;
 *   VRepet  two dequeues return the value of the same enqueue;
 *   VOrd    enq(a) < enq(b), b is dequeued, and deq(b) < deq(a) or a is
 *           never dequeued (a window ends with a drain, so "never" is
 *           final);
 *   VWit    a dequeue d returns empty although the queue is never logically
 *           empty during d: every instant of [d.inv, d.res] lies in some
 *           open span (enq(a).res, deq(a).inv), where a is in the queue in
 *           every linearization.
 * V1..V4 are these four, as stated (V4 as the covering condition above; a
 * single value there throughout d is the simple case).  The theorem is
 * about single-item enqueues, dequeues and empty dequeues on an unbounded
 * queue; on such histories the fast checker and the exhaustive search agree
 * on every one of the random histories of tests/test_lincheck.c.  Our rings
 * add capacity, batches, close, timed and blocking calls, and two-phase
 * steps; each rule below is a consequence of the ring's contract
 * (include/weft/mpmc.h, spsc.h, "What the results mean") and of the
 * search's model of it:
 *   Bounds  FIFO order bounds where each value's claim and take can be:
 *           cmax(a), by which a's position is certainly claimed (the end of
 *           its push or of the close, or the bound of any value dequeued
 *           after a), and dmin(a), before which its take cannot be (the
 *           start of its take, or the bound of any value enqueued before
 *           a); batches are one claim (push) or one take (pop) and are
 *           contiguous in FIFO order, and values never taken come after
 *           every taken one.  Iterated to a fixed point (derive_bounds).
 *           V4's spans are then (cmax(a), dmin(a)), V3 also fires when a
 *           bound contradicts an interval (dmin(a) after the end of a's
 *           take, cmax(a) before the start of its push).
 *   V3      also: a batch pop's items are in push order (items of a batch
 *           push count as pushed in array order); no value is forced, by the
 *           takes' precedence, between two items of one batch push, nor, by
 *           the pushes' precedence, between two items of one batch pop.
 *   V4 weak (LIN_PUSH_TWO_PHASE): a pop may report empty while the oldest
 *           claimed item is not yet published.  So a's span starts only once
 *           a and every push R that may have claimed before it (R.inv <=
 *           cmax(a)) have published: at the latest min(R.res, the latest end
 *           of a take of R's items).  With one producer (spsc) no other push
 *           overlaps a's and this is plain V4.  A timed-out pop (ETIMEDOUT)
 *           must pass the same test.
 *   R_FULL  (capacity > 0) more than capacity values certainly in the ring
 *           at one instant (spans (cmax, dmin)); or a push that reported
 *           full (ETIMEDOUT) or full-or-closed (try false, batch 0) although
 *           at every instant of it at most capacity - 1 values can have been
 *           there (push begun, take not ended), unless, with
 *           LIN_POP_TWO_PHASE, a pop that may hold its slot was in progress
 *           (its claim possible by the push's end, capacity positions
 *           claimed by then) or, for try false, the close may have come
 *           first.
 *   R_CLOSE close's gate (no claim after it) lies after the first close
 *           began and after every successful push began, and before the
 *           first close ended and before every EPIPE returned: an empty
 *           range of instants is a violation (a push that succeeded after
 *           the ring was certainly closed, EPIPE before any close...).
 *           Also: ETIMEDOUT from a push that began after the gate's latest
 *           instant (EPIPE is due); EPIPE from a pop while some value pushed
 *           successfully is taken only after it, or never (it claimed
 *           before the gate, so it is in the ring until taken); ETIMEDOUT
 *           from a pop that began after the ring was certainly sealed,
 *           unless (two-phase) a push was in progress that may hold an
 *           unpublished item, or (LIN_PUSH_ANNOUNCES) any push was in
 *           progress: a failing one announces itself before it fails.
 * Not checked: that a partial batch push (k of n) had no room for item k
 * (the header says so; which slot was busy at the scan is not observable).
 * Beyond the theorem's ground the rules are sound (no random history they
 * reject has a linearization) but not complete: with capacity and batches
 * a few patterns that need the positions of slots (the slot of tail -
 * capacity held by one particular pop) escape them; the exhaustive search
 * catches those on the short windows (test_lincheck.c prints how many).
 *
 * The deque rules (weft_deque: owner push/pop at the bottom, thieves steal
 * at the top; the owner's operations are sequential)
 * -----------------------------------------------------------------------
 * The same kind of conditions, derived for a deque whose pushes all come
 * from one thread, in order (so push order is known and a total order),
 * and where only the owner pops:
 *   V1, V2  as for queues (taken values never pushed, or taken twice).
 *   D3 LIFO the owner's pop returns v although a value w pushed after v
 *           (and before the pop) was not popped by the owner before it.
 *           While v is in the deque no steal can take the newer w (steals
 *           take the oldest item, and v is older), so only the owner can
 *           have removed w, and before.
 *   D4      the owner's pop reports empty although some value w pushed
 *           before it and not popped by the owner before it is taken by
 *           nobody, by a later owner pop, or by a steal that began after the
 *           pop ended: w was in the deque throughout the pop.
 *   D5 FIFO a steal returns v although some value u pushed before v and not
 *           popped by the owner before v was pushed (so u was in the deque
 *           when v arrived) is taken by nobody, by the owner, or by a steal
 *           that began after this one ended (u older, still there: a steal
 *           must take it first).  A batch's items must be in push order and
 *           adjacent: a value pushed between two of them that was not
 *           popped by the owner before the later one was pushed must be in
 *           the batch (steal_batch is one removal of the oldest items).
 *   D6      a steal reports EMPTY although the deque is provably non-empty
 *           throughout (V4's covering condition, spans (P(w).res,
 *           take(w).inv)).
 *   D7      (beyond linearizability: the header's meaning of RETRY) a steal
 *           returns RETRY although no successful take (a steal, or an owner
 *           pop, that may have claimed the item with its CAS) overlaps it.
 * weft_deque claims linearizability with no weaker cases (include/weft/
 * deque.h), so D3..D6 have no excuses.
 *
 * The exhaustive search
 * ---------------------
 * Wing and Gong's algorithm (Jeannette M. Wing and Chun Gong, "Testing and
 * verifying concurrent objects", J. Parallel Distrib. Comput. 17, 1993): a
 * depth-first search for a sequence of all operations that respects real
 * time and is legal for the sequential specification; an operation may be
 * placed next when its invocation is not after the response of any
 * operation not yet placed.  Gavin Lowe ("Testing for linearizability",
 * Concurrency and Computation: Practice and Experience 29(4), 2017) adds the
 * memoisation of configurations (which operations are done, and the
 * object's state) already shown to lead nowhere; we keep that table.  Our
 * deviation: an operation of a two-phase ring is two or more steps (claim,
 * then publish each item; claim, then release each slot; gate, then seal),
 * each placed like an operation of its own but in order and inside the
 * operation's interval.  So the model is exactly the contract's: a pop may
 * report empty when the oldest claimed item is unpublished, a push may find
 * the slot of position tail - capacity unreleased, and so on.
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lincheck.h"

#define NONE UINT32_MAX
#define T_INF UINT64_MAX

const char *const lin_rule_names[LIN_RULE_COUNT] = {
    [LIN_V1_FRESH] = "V1", [LIN_V2_REPEAT] = "V2",  [LIN_V3_ORDER] = "V3",
    [LIN_V4_EMPTY] = "V4", [LIN_R_FULL] = "R-FULL", [LIN_R_CLOSE] = "R-CLOSE",
    [LIN_D3_LIFO] = "D3",  [LIN_D4_EMPTY] = "D4",   [LIN_D5_FIFO] = "D5",
    [LIN_D6_EMPTY] = "D6", [LIN_D7_RETRY] = "D7",
};

/* ---- scratch space --------------------------------------------------------- */

/* One distinct value of a history. */
struct vrec {
    uint64_t value;
    uint32_t push;        /* op of its successful push, or NONE */
    uint32_t take;        /* op of its (first) pop or steal, or NONE */
    uint32_t take2;       /* op of a second take (V2), or NONE */
    uint32_t failed_push; /* an op that tried to push it and failed, or NONE */
    uint16_t ppos, dpos;  /* its index in the push / in the take */
    uint32_t ntakes;
    uint32_t rank; /* deque: its push's place in the owner's order */
    uint32_t spos; /* deque: its place on the owner's stack, or NONE */
    uint64_t cmax; /* queue: its position is claimed by then (derive_bounds) */
    uint64_t dmin; /* queue: its take happens no earlier (derive_bounds) */
};

/* An entry while grouping values: value, where it occurs, in which role. */
enum { ROLE_PUSH_OK, ROLE_PUSH_FAILED, ROLE_TAKE };
struct occ {
    uint64_t value;
    uint32_t op, slot; /* slot: index into vals */
    uint16_t pos;
    uint8_t role;
};

/* An open span (lo, hi) of instants, with the value that makes it. */
struct span {
    uint64_t lo, hi;
    uint32_t v;
};

struct kv;

struct memo_entry {
    uint64_t m0, m1, h;
    uint32_t gen;
};

#define MEMO_BITS 17
#define MEMO_SIZE ((size_t)1 << MEMO_BITS)

struct lin_ctx {
    struct occ *occ;
    size_t cap_occ;
    struct vrec *v;
    size_t cap_v;
    uint32_t *vid; /* per vals slot: index of its vrec */
    size_t cap_vid;
    struct span *spans, *comps;
    size_t cap_spans, cap_comps;
    uint32_t *idx, *idx2, *idx3;
    size_t cap_idx, cap_idx2, cap_idx3;
    struct kv *kv;
    size_t cap_kv;
    uint64_t *t1, *t2, *t3;
    size_t cap_t1, cap_t2, cap_t3;
    struct memo_entry *memo;
    uint32_t gen;
};

struct lin_ctx *lin_ctx_new(void)
{
    return calloc(1, sizeof(struct lin_ctx));
}

void lin_ctx_free(struct lin_ctx *c)
{
    if (!c)
        return;
    free(c->occ);
    free(c->v);
    free(c->vid);
    free(c->spans);
    free(c->comps);
    free(c->idx);
    free(c->idx2);
    free(c->idx3);
    free(c->kv);
    free(c->t1);
    free(c->t2);
    free(c->t3);
    free(c->memo);
    free(c);
}

/* Make *p hold at least need elements of size elem. */
static bool reserve(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

#define RESERVE(c, field, need) \
    reserve((void **)&(c)->field, &(c)->cap_##field, (need), sizeof *(c)->field)

/* ---- reporting ------------------------------------------------------------- */

struct report {
    struct lin_verdict *v;
    const struct lin_op *ops;
    const uint64_t *vals;
    uint64_t t0; /* the earliest invocation: times are printed relative to it */
};

static const char *kind_name(const struct lin_op *o)
{
    static const char *const k[] = { "push", "pop", "steal", "close" };
    return o->kind < 4 ? k[o->kind] : "?";
}

static const char *result_name(unsigned r)
{
    static const char *const n[] = { "ok",      "empty",          "timed out", "full",
                                     "refused", "closed (EPIPE)", "retry" };
    return r < 7 ? n[r] : "?";
}

/* "op #k (thread t, pop -> empty, [inv, res] us)" */
static void describe(const struct report *rp, size_t k, char *buf, size_t len)
{
    const struct lin_op *o = &rp->ops[k];
    double a = (double)(o->inv - rp->t0) / 1000.0, b = (double)(o->res - rp->t0) / 1000.0;
    if (o->result == LIN_OK && o->n > 0 && o->kind != LIN_CLOSE)
        snprintf(buf, len, "op #%zu (thread %u, %s of %u value%s from %#llx, [%.3f, %.3f] us)", k,
                 (unsigned)o->thread, kind_name(o), (unsigned)o->n, o->n == 1 ? "" : "s",
                 (unsigned long long)rp->vals[o->first], a, b);
    else
        snprintf(buf, len, "op #%zu (thread %u, %s -> %s, [%.3f, %.3f] us)", k, (unsigned)o->thread,
                 kind_name(o), result_name(o->result), a, b);
}

/* Record that rule fired; the first one also gets the text. */
static void fire(const struct report *rp, int rule, uint32_t x, uint32_t y, uint32_t z,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void fire(const struct report *rp, int rule, uint32_t x, uint32_t y, uint32_t z,
                 const char *fmt, ...)
{
    struct lin_verdict *v = rp->v;
    v->rules |= 1u << rule;
    if (v->first >= 0)
        return;
    v->first = rule;
    v->op[0] = x == NONE ? SIZE_MAX : x;
    v->op[1] = y == NONE ? SIZE_MAX : y;
    v->op[2] = z == NONE ? SIZE_MAX : z;
    int n = snprintf(v->text, sizeof v->text, "%s: ", lin_rule_names[rule]);
    if (n < 0 || (size_t)n >= sizeof v->text)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->text + n, sizeof v->text - (size_t)n, fmt, ap);
    va_end(ap);
}

static void harness_error(struct lin_verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void harness_error(struct lin_verdict *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->text, sizeof v->text, fmt, ap);
    va_end(ap);
    v->first = -1;
}

/* ---- values ---------------------------------------------------------------- */

static int cmp_occ(const void *a, const void *b)
{
    const struct occ *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    if (x->op != y->op)
        return x->op < y->op ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static bool is_push(const struct lin_op *o)
{
    return o->kind == LIN_PUSH;
}

static bool is_take(const struct lin_op *o)
{
    return (o->kind == LIN_POP || o->kind == LIN_STEAL) && o->result == LIN_OK;
}

/* Make room in c for the occurrences of values in the history and for the
 * slots of vals it uses; false (harness error in v) when out of memory. */
static bool reserve_values(struct lin_ctx *c, const struct lin_op *ops, size_t nops,
                           struct lin_verdict *v)
{
    size_t nocc = 0, nslots = 0;
    for (size_t i = 0; i < nops; i++) {
        if (ops[i].first + (size_t)ops[i].n > nslots)
            nslots = ops[i].first + (size_t)ops[i].n;
        if (is_push(&ops[i]) || is_take(&ops[i]))
            nocc += ops[i].n;
    }
    if (!RESERVE(c, occ, nocc + 1) || !RESERVE(c, v, nocc + 1) || !RESERVE(c, vid, nslots + 1)) {
        harness_error(v, "out of memory");
        return false;
    }
    return true;
}

/* One entry in c->occ for each value of each push and successful take,
 * sorted by value, then op, then place; returns their number. */
static size_t collect_occurrences(struct lin_ctx *c, const struct lin_op *ops, size_t nops,
                                  const uint64_t *vals)
{
    size_t k = 0;
    for (size_t i = 0; i < nops; i++) {
        const struct lin_op *o = &ops[i];
        if (!is_push(o) && !is_take(o))
            continue;
        for (uint16_t j = 0; j < o->n; j++) {
            struct occ *e = &c->occ[k++];
            e->value = vals[o->first + j];
            e->op = (uint32_t)i;
            e->slot = o->first + j;
            e->pos = j;
            e->role =
                is_push(o) ? (o->result == LIN_OK ? ROLE_PUSH_OK : ROLE_PUSH_FAILED) : ROLE_TAKE;
        }
    }
    qsort(c->occ, k, sizeof *c->occ, cmp_occ);
    return k;
}

/* Add occurrence e to the record r of its value; false (harness error in v)
 * when it is a second successful push of the value. */
static bool add_occurrence(const struct lin_op *ops, struct vrec *r, const struct occ *e,
                           struct lin_verdict *v)
{
    if (e->role == ROLE_PUSH_OK) {
        if (r->push != NONE) {
            harness_error(v,
                          "value %#llx pushed twice (ops #%u and #%u): the "
                          "history's values must be distinct",
                          (unsigned long long)r->value, r->push, e->op);
            return false;
        }
        r->push = e->op;
        r->ppos = e->pos;
    } else if (e->role == ROLE_PUSH_FAILED) {
        r->failed_push = e->op;
    } else {
        r->ntakes++;
        if (r->take == NONE || ops[e->op].inv < ops[r->take].inv) {
            r->take2 = r->take;
            r->take = e->op;
            r->dpos = e->pos;
        } else if (r->take2 == NONE) {
            r->take2 = e->op;
        }
    }
    return true;
}

/* Group the values of the history into c->v (c->vid maps each vals slot to
 * its record).  Takes are ordered by invocation so that take is the first.
 * Returns the number of records, or -1 (harness error in v). */
static long build_values(struct lin_ctx *c, const struct lin_op *ops, size_t nops,
                         const uint64_t *vals, struct lin_verdict *v)
{
    if (!reserve_values(c, ops, nops, v))
        return -1;
    size_t k = collect_occurrences(c, ops, nops, vals);
    long nv = 0;
    for (size_t i = 0; i < k;) {
        struct vrec *r = &c->v[nv];
        r->value = c->occ[i].value;
        r->push = r->take = r->take2 = r->failed_push = NONE;
        r->ppos = r->dpos = 0;
        r->ntakes = 0;
        r->rank = r->spos = NONE;
        for (; i < k && c->occ[i].value == r->value; i++) {
            const struct occ *e = &c->occ[i];
            c->vid[e->slot] = (uint32_t)nv;
            if (!add_occurrence(ops, r, e, v))
                return -1;
        }
        nv++;
    }
    return nv;
}

/* V1 and V2, common to queues and deques. */
static void check_fresh_repeat(const struct report *rp, const struct vrec *vr, long nv)
{
    const struct lin_op *ops = rp->ops;
    char a[160], b[160];
    for (long i = 0; i < nv; i++) {
        const struct vrec *r = &vr[i];
        if (r->ntakes >= 2) {
            describe(rp, r->take, a, sizeof a);
            describe(rp, r->take2, b, sizeof b);
            fire(rp, LIN_V2_REPEAT, r->take, r->take2, r->push,
                 "value %#llx taken twice: by %s and by %s", (unsigned long long)r->value, a, b);
        }
        if (r->ntakes == 0)
            continue;
        describe(rp, r->take, a, sizeof a);
        if (r->push == NONE && r->failed_push != NONE) {
            describe(rp, r->failed_push, b, sizeof b);
            fire(rp, LIN_V1_FRESH, r->take, r->failed_push, NONE,
                 "value %#llx taken by %s, but its push failed: %s", (unsigned long long)r->value,
                 a, b);
        } else if (r->push == NONE) {
            fire(rp, LIN_V1_FRESH, r->take, NONE, NONE, "value %#llx taken by %s was never pushed",
                 (unsigned long long)r->value, a);
        } else if (ops[r->take].res < ops[r->push].inv) {
            describe(rp, r->push, b, sizeof b);
            fire(rp, LIN_V1_FRESH, r->take, r->push, NONE,
                 "value %#llx taken by %s, which ended before its push began: %s",
                 (unsigned long long)r->value, a, b);
        }
    }
}

/* ---- spans: "some value is certainly there at every instant of [x, y]" ---- */

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return (x->hi < y->hi) - (x->hi > y->hi);
}

/* Merge the n open spans of c->spans into disjoint components (open spans
 * that only touch stay apart: the instant between them is covered by
 * neither) in c->comps; returns their number.  Each component keeps the
 * value of the span that starts it. */
static size_t merge_spans(struct lin_ctx *c, size_t n)
{
    qsort(c->spans, n, sizeof *c->spans, cmp_span);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct span *s = &c->spans[i];
        if (m > 0 && s->lo < c->comps[m - 1].hi) {
            if (s->hi > c->comps[m - 1].hi)
                c->comps[m - 1].hi = s->hi;
        } else {
            c->comps[m++] = *s;
        }
    }
    return m;
}

/* The component that contains all of [x, y], or NULL. */
static const struct span *covering(const struct span *comps, size_t m, uint64_t x, uint64_t y)
{
    /* the last component with lo < x */
    size_t lo = 0, hi = m;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (comps[mid].lo < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const struct span *s = &comps[lo - 1];
    return y < s->hi ? s : NULL;
}

/* ---- counting: "at most U(t) values may be in the ring at instant t" ----- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Number of elements of the sorted a[0..n) that are <= t (strict: < t). */
static size_t count_le(const uint64_t *a, size_t n, uint64_t t, bool strict)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strict ? a[mid] < t : a[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* U(t) = #(pushes begun by t) - #(their items' takes ended before t); its
 * largest value over [x, y] (it grows only at the pushes' invocations). */
static size_t max_occupancy(const uint64_t *pinv, size_t np, const uint64_t *dres, size_t nd,
                            uint64_t x, uint64_t y)
{
    size_t a = count_le(pinv, np, x, false);
    size_t best = a - count_le(dres, nd, x, true);
    for (size_t i = a; i < np && pinv[i] <= y; i++) {
        size_t u = (i + 1) - count_le(dres, nd, pinv[i], true);
        if (u > best)
            best = u;
    }
    return best;
}

/* ---- the queue rules --------------------------------------------------------- */

/* a is forced before b in FIFO order by the pushes: a's push precedes b's,
 * or both are in one batch push, a first. */
static bool push_forced(const struct lin_op *ops, const struct vrec *a, const struct vrec *b)
{
    if (a->push == NONE || b->push == NONE)
        return false;
    if (a->push == b->push)
        return a->ppos < b->ppos;
    return ops[a->push].res < ops[b->push].inv;
}

/* a is forced before b by the takes: a's take precedes b's, or both are in
 * one batch take, a first. */
static bool take_forced(const struct lin_op *ops, const struct vrec *a, const struct vrec *b)
{
    if (a->take == NONE || b->take == NONE)
        return false;
    if (a->take == b->take)
        return a->dpos < b->dpos;
    return ops[a->take].res < ops[b->take].inv;
}

static uint64_t take_inv(const struct lin_op *ops, const struct vrec *r)
{
    return r->take == NONE ? T_INF : ops[r->take].inv;
}

static uint64_t take_res(const struct lin_op *ops, const struct vrec *r)
{
    return r->take == NONE ? T_INF : ops[r->take].res;
}

/* A sort key and the index it belongs to. */
struct kv {
    uint64_t key;
    uint32_t i;
};

static int cmp_kv(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* The pushed values sorted by the end of their push: the ends in t1, the
 * prefix maximum of their takes' starts in t2 and its argmax in idx2 (idx:
 * the values in that order).  Returns their number. */
static size_t sort_by_push_end(struct lin_ctx *c, const struct lin_op *ops, long nv)
{
    const struct vrec *vr = c->v;
    size_t np = 0;
    for (long i = 0; i < nv; i++)
        if (vr[i].push != NONE)
            c->kv[np++] = (struct kv){ ops[vr[i].push].res, (uint32_t)i };
    qsort(c->kv, np, sizeof *c->kv, cmp_kv);
    for (size_t k = 0; k < np; k++)
        c->idx[k] = c->kv[k].i;
    /* t1: P.res sorted; t2: prefix max of take_inv; idx2: its argmax */
    for (size_t k = 0; k < np; k++) {
        const struct vrec *r = &vr[c->idx[k]];
        c->t1[k] = ops[r->push].res;
        uint64_t key = take_inv(ops, r);
        if (k == 0 || key > c->t2[k - 1]) {
            c->t2[k] = key;
            c->idx2[k] = c->idx[k];
        } else {
            c->t2[k] = c->t2[k - 1];
            c->idx2[k] = c->idx2[k - 1];
        }
    }
    return np;
}

/* V3 between values: enq(a) < enq(b), b taken, and a never taken or
 * deq(b) < deq(a).  With the np pushed values sorted by P.res
 * (sort_by_push_end), the largest D.inv among those whose push ended
 * before P(b) began must not exceed D(b).res. */
static void check_fifo_pairs(const struct lin_ctx *c, const struct report *rp, long nv, size_t np)
{
    const struct lin_op *ops = rp->ops;
    const struct vrec *vr = c->v;
    char a[160], b[160];
    for (long i = 0; i < nv; i++) {
        const struct vrec *r = &vr[i];
        if (r->push == NONE || r->take == NONE)
            continue;
        size_t m = count_le(c->t1, np, ops[r->push].inv, true);
        if (m == 0 || c->t2[m - 1] <= ops[r->take].res)
            continue;
        const struct vrec *o = &vr[c->idx2[m - 1]];
        describe(rp, r->take, a, sizeof a);
        if (o->take == NONE)
            fire(rp, LIN_V3_ORDER, o->push, r->push, r->take,
                 "value %#llx was pushed before %#llx began its push, yet %#llx was taken (%s) "
                 "and %#llx never",
                 (unsigned long long)o->value, (unsigned long long)r->value,
                 (unsigned long long)r->value, a, (unsigned long long)o->value);
        else {
            describe(rp, o->take, b, sizeof b);
            fire(rp, LIN_V3_ORDER, o->push, r->push, r->take,
                 "value %#llx was pushed before %#llx began its push, yet %#llx was taken by "
                 "%s, which ended before %s began",
                 (unsigned long long)o->value, (unsigned long long)r->value,
                 (unsigned long long)r->value, a, b);
        }
    }
}

/* V3 within the batch push k: the same as check_fifo_pairs, between its
 * items (in array order). */
static void check_batch_push_order(const struct lin_ctx *c, const struct report *rp, size_t k)
{
    const struct lin_op *ops = rp->ops, *o = &ops[k];
    const struct vrec *vr = c->v;
    char a[160];
    uint64_t run = 0;
    uint32_t arg = NONE;
    for (uint16_t j = 0; j < o->n; j++) {
        uint32_t x = c->vid[o->first + j];
        const struct vrec *r = &vr[x];
        if (j > 0 && r->take != NONE && run > ops[r->take].res) {
            describe(rp, (uint32_t)k, a, sizeof a);
            fire(rp, LIN_V3_ORDER, (uint32_t)k, r->take, vr[arg].take,
                 "batch %s: item %#llx was taken before item %#llx, which precedes it "
                 "in the batch, was (or it never was)",
                 a, (unsigned long long)r->value, (unsigned long long)vr[arg].value);
        }
        if (take_inv(ops, r) > run || arg == NONE) {
            run = take_inv(ops, r);
            arg = x;
        }
    }
}

/* V3 within the batch pop k: it returns its items oldest first. */
static void check_batch_pop_order(const struct lin_ctx *c, const struct report *rp, size_t k)
{
    const struct lin_op *ops = rp->ops, *o = &ops[k];
    const struct vrec *vr = c->v;
    char a[160];
    for (uint16_t i = 0; i < o->n; i++)
        for (uint16_t j = (uint16_t)(i + 1); j < o->n; j++) {
            const struct vrec *p = &vr[c->vid[o->first + i]], *q = &vr[c->vid[o->first + j]];
            if (push_forced(ops, q, p)) {
                describe(rp, (uint32_t)k, a, sizeof a);
                fire(rp, LIN_V3_ORDER, (uint32_t)k, q->push, p->push,
                     "batch %s returned %#llx before %#llx, whose push came first", a,
                     (unsigned long long)p->value, (unsigned long long)q->value);
            }
        }
}

/* The op of the other side for value r of a batch: its take for a batch
 * push (bpush), its push for a batch pop. */
static uint32_t other_op(const struct vrec *r, bool bpush)
{
    return bpush ? r->take : r->push;
}

/* The quick filter of check_batch_adjacency for batch B: an outside value
 * x can be forced between items only if its op (push for a batch pop, take
 * for a batch push) ends before the latest start *smax among the items'
 * ops and begins after their earliest end *emin, or is one of them. */
static void batch_filter(const struct lin_ctx *c, const struct lin_op *ops, const struct lin_op *B,
                         uint64_t *emin, uint64_t *smax)
{
    bool bpush = B->kind == LIN_PUSH;
    *emin = T_INF;
    *smax = 0;
    for (uint16_t j = 0; j < B->n; j++) {
        uint32_t other = other_op(&c->v[c->vid[B->first + j]], bpush);
        if (other == NONE)
            continue;
        if (ops[other].res < *emin)
            *emin = ops[other].res;
        if (ops[other].inv > *smax)
            *smax = ops[other].inv;
    }
}

/* Q, an op of the other side, holds an item of the batch k (B). */
static bool shares_batch(const struct lin_ctx *c, const struct lin_op *B, const struct lin_op *Q,
                         size_t k)
{
    bool bpush = B->kind == LIN_PUSH, mine = false;
    for (uint16_t j = 0; j < Q->n && !mine; j++) {
        const struct vrec *r = &c->v[c->vid[Q->first + j]];
        mine = (bpush ? r->push : r->take) == (uint32_t)k;
    }
    return mine;
}

/* V3: value x, of op q and not an item of the batch k, must not be forced
 * between two of the batch's items (by the takes' order for a batch push,
 * by the pushes' for a batch pop). */
static void check_between(const struct lin_ctx *c, const struct report *rp, size_t k, size_t q,
                          const struct vrec *x)
{
    const struct lin_op *ops = rp->ops, *B = &ops[k];
    const struct vrec *vr = c->v;
    bool bpush = B->kind == LIN_PUSH;
    char a[160];
    int lo = -1, hi = -1;
    for (uint16_t i = 0; i < B->n; i++) {
        const struct vrec *r = &vr[c->vid[B->first + i]];
        bool before = bpush ? take_forced(ops, r, x) : push_forced(ops, r, x);
        bool after = bpush ? take_forced(ops, x, r) : push_forced(ops, x, r);
        if (before && lo < 0)
            lo = i;
        if (after)
            hi = i;
    }
    if (lo >= 0 && hi > lo) {
        describe(rp, (uint32_t)k, a, sizeof a);
        fire(rp, LIN_V3_ORDER, (uint32_t)k, (uint32_t)q, NONE,
             "batch %s: value %#llx is forced between its items %#llx and %#llx "
             "(by the %s' order), but a batch %s adjacent items",
             a, (unsigned long long)x->value, (unsigned long long)vr[c->vid[B->first + lo]].value,
             (unsigned long long)vr[c->vid[B->first + hi]].value, bpush ? "takes" : "pushes",
             bpush ? "pushes" : "pops");
    }
}

/* V3, adjacency of the batch push or pop k: no outside value is forced
 * between two of its items. */
static void check_batch_adjacency(const struct lin_ctx *c, const struct report *rp, size_t nops,
                                  size_t k)
{
    const struct lin_op *ops = rp->ops, *B = &ops[k];
    const struct vrec *vr = c->v;
    bool bpush = B->kind == LIN_PUSH;
    uint64_t emin, smax;
    batch_filter(c, ops, B, &emin, &smax);
    for (size_t q = 0; q < nops; q++) {
        const struct lin_op *Q = &ops[q];
        if (Q->result != LIN_OK || Q->kind != (bpush ? LIN_POP : LIN_PUSH))
            continue;
        if (!shares_batch(c, B, Q, k) && !(Q->inv > emin && Q->res < smax))
            continue;
        for (uint16_t j = 0; j < Q->n; j++) {
            const struct vrec *x = &vr[c->vid[Q->first + j]];
            if ((bpush ? x->push : x->take) == (uint32_t)k)
                continue; /* an item of the batch itself */
            check_between(c, rp, k, q, x);
        }
    }
}

/* V3: FIFO order, and the order and adjacency of batches. */
static void check_queue_order(struct lin_ctx *c, const struct report *rp, size_t nops, long nv)
{
    const struct lin_op *ops = rp->ops;
    size_t np = sort_by_push_end(c, ops, nv);
    check_fifo_pairs(c, rp, nv, np);
    for (size_t k = 0; k < nops; k++) {
        const struct lin_op *o = &ops[k];
        if (o->result != LIN_OK || o->n < 2)
            continue;
        if (o->kind == LIN_PUSH)
            check_batch_push_order(c, rp, k);
        else if (o->kind == LIN_POP)
            check_batch_pop_order(c, rp, k);
    }
    /* adjacency of batches: no outside value forced between two items */
    for (size_t k = 0; k < nops; k++) {
        const struct lin_op *B = &ops[k];
        if (B->result != LIN_OK || B->n < 2 || (B->kind != LIN_PUSH && B->kind != LIN_POP))
            continue;
        check_batch_adjacency(c, rp, nops, k);
    }
}

/* The first bounds of derive_bounds (the end of the value's push or of the
 * first close; the start of its take), and two sorted views: the pushed
 * values by the end of their push (idx, t1; *np of them) and the values
 * pushed and taken by the start of their take (idx2, t2; *nt). */
static void init_bounds(struct lin_ctx *c, const struct lin_op *ops, long nv, uint64_t close_res,
                        size_t *np, size_t *nt)
{
    struct vrec *vr = c->v;
    *np = *nt = 0;
    for (long i = 0; i < nv; i++) {
        struct vrec *r = &vr[i];
        r->cmax = T_INF;
        if (r->push != NONE)
            r->cmax = ops[r->push].res < close_res ? ops[r->push].res : close_res;
        r->dmin = take_inv(ops, r);
        if (r->push != NONE)
            c->kv[(*np)++] = (struct kv){ ops[r->push].res, (uint32_t)i };
    }
    qsort(c->kv, *np, sizeof *c->kv, cmp_kv);
    for (size_t k = 0; k < *np; k++) {
        c->idx[k] = c->kv[k].i;
        c->t1[k] = c->kv[k].key;
    }
    for (long i = 0; i < nv; i++)
        if (vr[i].push != NONE && vr[i].take != NONE)
            c->kv[(*nt)++] = (struct kv){ ops[vr[i].take].inv, (uint32_t)i };
    qsort(c->kv, *nt, sizeof *c->kv, cmp_kv);
    for (size_t k = 0; k < *nt; k++) {
        c->idx2[k] = c->kv[k].i;
        c->t2[k] = c->kv[k].key;
    }
}

/* dmin by the pushes: a value is taken no earlier than one whose push
 * ended before its own began.  The np pushes in order of their ends; t3:
 * prefix max of dmin.  True when a bound moved. */
static bool bounds_by_pushes(struct lin_ctx *c, const struct lin_op *ops, size_t np)
{
    bool changed = false;
    for (size_t k = 0; k < np; k++) {
        struct vrec *b = &c->v[c->idx[k]];
        size_t m = count_le(c->t1, k, ops[b->push].inv, true);
        if (m > 0 && c->t3[m - 1] > b->dmin) {
            b->dmin = c->t3[m - 1];
            changed = true;
        }
        c->t3[k] = k == 0 || b->dmin > c->t3[k - 1] ? b->dmin : c->t3[k - 1];
    }
    return changed;
}

/* cmax by the takes: the nt takes in order of their starts, from the last;
 * t3: suffix min of cmax, ending with the values never taken (they come
 * after every taken one: a value before them was taken, so they were).
 * True when a bound moved. */
static bool bounds_by_takes(struct lin_ctx *c, const struct lin_op *ops, long nv, size_t nt)
{
    struct vrec *vr = c->v;
    bool changed = false;
    uint64_t untaken = T_INF;
    for (long i = 0; i < nv; i++)
        if (vr[i].push != NONE && vr[i].take == NONE && vr[i].cmax < untaken)
            untaken = vr[i].cmax;
    for (size_t k = nt; k-- > 0;) {
        struct vrec *a = &vr[c->idx2[k]];
        size_t m = count_le(c->t2, nt, ops[a->take].res, false);
        uint64_t after = m < nt && c->t3[m] < untaken ? c->t3[m] : untaken;
        if (after < a->cmax) {
            a->cmax = after;
            changed = true;
        }
        c->t3[k] = k + 1 == nt || a->cmax < c->t3[k + 1] ? a->cmax : c->t3[k + 1];
    }
    return changed;
}

/* The batch push o: one claim for all its items; their takes in array
 * order.  True when a bound moved. */
static bool bounds_batch_push(struct lin_ctx *c, const struct lin_op *o)
{
    bool changed = false;
    uint64_t cm = T_INF, run = 0;
    for (uint16_t j = 0; j < o->n; j++) {
        struct vrec *r = &c->v[c->vid[o->first + j]];
        cm = r->cmax < cm ? r->cmax : cm;
        if (run > r->dmin) {
            r->dmin = run;
            changed = true;
        }
        run = r->dmin;
    }
    for (uint16_t j = 0; j < o->n; j++) {
        struct vrec *r = &c->v[c->vid[o->first + j]];
        if (r->cmax != cm) {
            r->cmax = cm;
            changed = true;
        }
    }
    return changed;
}

/* The batch pop o: one take for all its items; their claims in array
 * order.  True when a bound moved. */
static bool bounds_batch_pop(struct lin_ctx *c, const struct lin_op *o)
{
    bool changed = false;
    uint64_t dm = 0, run = T_INF;
    for (uint16_t j = o->n; j-- > 0;) {
        struct vrec *r = &c->v[c->vid[o->first + j]];
        dm = r->dmin > dm ? r->dmin : dm;
        if (run < r->cmax) {
            r->cmax = run;
            changed = true;
        }
        run = r->cmax;
    }
    for (uint16_t j = 0; j < o->n; j++) {
        struct vrec *r = &c->v[c->vid[o->first + j]];
        if (r->dmin != dm) {
            r->dmin = dm;
            changed = true;
        }
    }
    return changed;
}

/* Value x against the batch o, whose items' largest dmin is dmax and
 * smallest cmax is cmin: forced after (before) one item, x is after
 * (before) all of them.  True when a bound moved. */
static bool bounds_around_batch(struct lin_ctx *c, const struct lin_op *ops, const struct lin_op *o,
                                struct vrec *x, uint64_t dmax, uint64_t cmin)
{
    bool changed = false, after = false, before = false;
    for (uint16_t j = 0; j < o->n && !(after && before); j++) {
        const struct vrec *r = &c->v[c->vid[o->first + j]];
        after = after || push_forced(ops, r, x) || take_forced(ops, r, x) ||
                (r->take != NONE && x->take == NONE);
        before = before || push_forced(ops, x, r) || take_forced(ops, x, r) ||
                 (x->take != NONE && r->take == NONE);
    }
    if (after && dmax > x->dmin) {
        x->dmin = dmax;
        changed = true;
    }
    if (before && cmin < x->cmax) {
        x->cmax = cmin;
        changed = true;
    }
    for (uint16_t j = 0; j < o->n; j++) {
        struct vrec *r = &c->v[c->vid[o->first + j]];
        if (after && x->cmax < r->cmax) {
            r->cmax = x->cmax;
            changed = true;
        }
        if (before && x->dmin > r->dmin) {
            r->dmin = x->dmin;
            changed = true;
        }
    }
    return changed;
}

/* The batch push or pop q is contiguous in FIFO order: a value forced
 * after (or before) one item of it is after (before) all of them.  True
 * when a bound moved. */
static bool bounds_contiguous(struct lin_ctx *c, const struct lin_op *ops, size_t q, long nv)
{
    const struct lin_op *o = &ops[q];
    struct vrec *vr = c->v;
    bool changed = false;
    uint64_t dmax = 0, cmin = T_INF;
    for (uint16_t j = 0; j < o->n; j++) {
        const struct vrec *r = &vr[c->vid[o->first + j]];
        dmax = r->dmin > dmax ? r->dmin : dmax;
        cmin = r->cmax < cmin ? r->cmax : cmin;
    }
    for (long i = 0; i < nv; i++) {
        struct vrec *x = &vr[i];
        if (x->push == NONE || (o->kind == LIN_PUSH ? x->push : x->take) == (uint32_t)q)
            continue;
        if (bounds_around_batch(c, ops, o, x, dmax, cmin))
            changed = true;
    }
    return changed;
}

/* One round of derive_bounds over every rule; true when a bound moved. */
static bool bounds_round(struct lin_ctx *c, const struct lin_op *ops, size_t nops, long nv,
                         size_t np, size_t nt)
{
    bool changed = bounds_by_pushes(c, ops, np);
    if (bounds_by_takes(c, ops, nv, nt))
        changed = true;
    /* batches */
    for (size_t q = 0; q < nops; q++) {
        const struct lin_op *o = &ops[q];
        if (o->result != LIN_OK || o->n < 2 || o->kind == LIN_CLOSE)
            continue;
        if (o->kind == LIN_PUSH ? bounds_batch_push(c, o) : bounds_batch_pop(c, o))
            changed = true;
    }
    /* batches are contiguous in FIFO order */
    for (size_t q = 0; q < nops; q++) {
        const struct lin_op *o = &ops[q];
        if (o->result != LIN_OK || o->n < 2 || (o->kind != LIN_PUSH && o->kind != LIN_POP))
            continue;
        if (bounds_contiguous(c, ops, q, nv))
            changed = true;
    }
    return changed;
}

/* Bounds that FIFO order puts on where a value's claim and take can be in
 * any linearization: r->cmax, by which instant its position is certainly
 * claimed (the end of its push, or of the first close: a successful push
 * claimed before the close; or a bound of a value it is dequeued before:
 * its claim came first), and r->dmin, the instant before which its take
 * cannot be (the start of the take, or the bound of a value pushed before
 * it: that one's take comes first).  Items of one batch share one claim
 * (push) or one take (pop).  Iterated to a fixed point.  Each bound is a
 * consequence of the spec, so using it in the rules below never excuses
 * less than the truth and never condemns a legal history. */
static void derive_bounds(struct lin_ctx *c, const struct lin_op *ops, size_t nops, long nv,
                          uint64_t close_res)
{
    size_t np, nt;
    init_bounds(c, ops, nv, close_res, &np, &nt);
    for (int round = 0; round < 8; round++)
        if (!bounds_round(c, ops, nops, nv, np, nt))
            break;
}

/* The span (lo, hi) in which value r is certainly in the queue: from its
 * claim bound (or, with from > 0, the two-phase excuse, from then) to its
 * take bound. */
static bool presence_span(const struct vrec *r, uint64_t from, struct span *s, uint32_t v)
{
    s->lo = from ? from : r->cmax;
    s->hi = r->dmin;
    s->v = v;
    return s->lo < s->hi;
}

/* Where close's steps can be.  Its gate (after which no push claims) is
 * after the first close began and after every successful push began (each
 * claimed before it): lo; and before the first close ended and before
 * every EPIPE returned: hi.  Its seal (after which pops may report EPIPE;
 * the gate itself in one-step models) is certainly done by seal_hi: the
 * first close's end, or an EPIPE pop's. */
struct gate {
    uint64_t lo, hi, seal_hi;
    uint64_t close_inv;    /* the first close's start */
    uint32_t lo_op, hi_op; /* the ops that set lo / hi (for reports) */
};

/* The bounds of struct gate, from the history. */
static void find_gate(const struct lin_op *ops, size_t nops, struct gate *g)
{
    g->lo = g->hi = g->seal_hi = T_INF;
    g->lo_op = g->hi_op = NONE;
    for (size_t k = 0; k < nops; k++) {
        const struct lin_op *o = &ops[k];
        if (o->kind == LIN_CLOSE) {
            if (g->lo == T_INF || o->inv < g->lo)
                g->lo = o->inv;
            if (o->res < g->seal_hi)
                g->seal_hi = o->res;
        }
        if (o->result == LIN_CLOSED && o->kind == LIN_POP && o->res < g->seal_hi)
            g->seal_hi = o->res;
        if ((o->kind == LIN_CLOSE || o->result == LIN_CLOSED) && o->res < g->hi) {
            g->hi = o->res;
            g->hi_op = (uint32_t)k;
        }
    }
    g->close_inv = g->lo;
    for (size_t k = 0; k < nops; k++) {
        const struct lin_op *o = &ops[k];
        if (o->kind == LIN_PUSH && o->result == LIN_OK && g->hi < T_INF &&
            (g->lo == T_INF || o->inv > g->lo)) {
            g->lo = o->inv;
            g->lo_op = (uint32_t)k;
        }
    }
}

/* R_CLOSE: the gate's range of instants is empty (EPIPE with no close, or
 * before any close began; a push that succeeded after the ring was
 * certainly closed). */
static void check_gate(const struct report *rp, const struct gate *g)
{
    char a[160], b[160];
    if (!(g->hi < T_INF && (g->lo > g->hi || g->close_inv == T_INF)))
        return;
    describe(rp, g->hi_op, a, sizeof a);
    if (g->close_inv == T_INF)
        fire(rp, LIN_R_CLOSE, g->hi_op, NONE, NONE, "%s reported EPIPE, yet nobody closed the ring",
             a);
    else if (g->close_inv > g->hi)
        fire(rp, LIN_R_CLOSE, g->hi_op, NONE, NONE, "%s reported EPIPE before any close began", a);
    else {
        describe(rp, g->lo_op, b, sizeof b);
        fire(rp, LIN_R_CLOSE, g->lo_op, g->hi_op, NONE,
             "%s succeeded although it began after the ring was certainly closed (by the "
             "end of %s)",
             b, a);
    }
}

/* V3 by the bounds of derive_bounds: a take forced to come after it ended,
 * or a claim forced to come before its push began. */
static void check_bounds_order(const struct report *rp, const struct vrec *vr, long nv)
{
    const struct lin_op *ops = rp->ops;
    char a[160];
    for (long i = 0; i < nv; i++) {
        const struct vrec *r = &vr[i];
        if (r->push == NONE)
            continue;
        bool late = r->take != NONE && r->dmin > ops[r->take].res;
        if (late || r->cmax < ops[r->push].inv) {
            describe(rp, late ? r->take : r->push, a, sizeof a);
            fire(rp, LIN_V3_ORDER, r->push, r->take, NONE,
                 "value %#llx: FIFO order forces its %s %s it %s (%s)",
                 (unsigned long long)r->value, late ? "take" : "claim",
                 late ? "after the instant" : "before the instant", late ? "ended" : "began", a);
        }
    }
}

/* The weak excuse: for each successful push R, the time by which all of
 * its items are certainly published, min(R.res, the latest end of their
 * takes) in t1; t2: the pushes' invocations, sorted (kv: with R's index
 * into t1); t3: the prefix max of their publication times in that order.
 * Returns the number of pushes. */
static size_t publication_times(struct lin_ctx *c, const struct lin_op *ops, size_t nops)
{
    size_t npush = 0;
    for (size_t k = 0; k < nops; k++) {
        const struct lin_op *o = &ops[k];
        if (o->kind != LIN_PUSH || o->result != LIN_OK)
            continue;
        uint64_t latest = 0;
        for (uint16_t j = 0; j < o->n; j++) {
            uint64_t t = take_res(ops, &c->v[c->vid[o->first + j]]);
            if (t > latest)
                latest = t;
        }
        c->t1[npush] = o->res < latest ? o->res : latest;
        c->kv[npush] = (struct kv){ o->inv, (uint32_t)npush };
        npush++;
    }
    qsort(c->kv, npush, sizeof *c->kv, cmp_kv);
    for (size_t k = 0; k < npush; k++) {
        uint64_t t = c->t1[c->kv[k].i];
        c->t2[k] = c->kv[k].key;
        c->t3[k] = k == 0 || t > c->t3[k - 1] ? t : c->t3[k - 1];
    }
    return npush;
}

/* V4 and ETIMEDOUT pops: a pop that found the ring empty while some value
 * was certainly there (and, weak, published) throughout it. */
static void check_empty_pops(struct lin_ctx *c, const struct report *rp, size_t nops, long nv,
                             size_t npush, bool weak)
{
    const struct lin_op *ops = rp->ops;
    const struct vrec *vr = c->v;
    char a[160], b[160];
    size_t ns = 0;
    for (long i = 0; i < nv; i++) {
        const struct vrec *r = &vr[i];
        if (r->push == NONE)
            continue;
        uint64_t from = 0;
        if (weak) {
            /* claimed is not published: from the end of the push, and of
             * every push that may have claimed before it */
            from = ops[r->push].res;
            size_t m = count_le(c->t2, npush, r->cmax, false);
            if (m > 0 && c->t3[m - 1] > from)
                from = c->t3[m - 1];
        }
        if (presence_span(r, from, &c->spans[ns], (uint32_t)i))
            ns++;
    }
    size_t ncomp = merge_spans(c, ns);
    for (size_t k = 0; k < nops; k++) {
        const struct lin_op *e = &ops[k];
        if (e->kind != LIN_POP || (e->result != LIN_EMPTY && e->result != LIN_TIMEDOUT))
            continue;
        const struct span *s = covering(c->comps, ncomp, e->inv, e->res);
        if (!s)
            continue;
        const struct vrec *w = &vr[s->v];
        describe(rp, (uint32_t)k, a, sizeof a);
        describe(rp, w->push, b, sizeof b);
        fire(rp, LIN_V4_EMPTY, (uint32_t)k, w->push, w->take,
             "%s found the ring empty, yet it provably held an item throughout: value %#llx "
             "pushed by %s%s, taken %s",
             a, (unsigned long long)w->value, b,
             weak ? " (and every push that may be older had published)" : "",
             w->take == NONE ? "never" : "only by an op that began after");
    }
}

/* R_CLOSE: ETIMEDOUT pushes on a ring certainly closed (EPIPE is due). */
static void check_closed_pushes(const struct report *rp, size_t nops, const struct gate *g)
{
    const struct lin_op *ops = rp->ops;
    char a[160];
    for (size_t k = 0; k < nops; k++) {
        const struct lin_op *e = &ops[k];
        if (e->kind == LIN_PUSH && e->result == LIN_FULL && e->inv > g->hi) {
            describe(rp, (uint32_t)k, a, sizeof a);
            fire(rp, LIN_R_CLOSE, (uint32_t)k, g->hi_op, NONE,
                 "%s timed out although it began after the ring was certainly closed (EPIPE "
                 "is due)",
                 a);
        }
    }
}

/* R_CLOSE, EPIPE pops: every successful push claimed before the gate, so
 * its item must be taken before the first pop's EPIPE. */
static void check_epipe_pops(const struct report *rp, const struct vrec *vr, size_t nops, long nv)
{
    const struct lin_op *ops = rp->ops;
    char a[160], b[160];
    uint64_t first_epipe = T_INF;
    uint32_t epipe_op = NONE;
    for (size_t k = 0; k < nops; k++)
        if (ops[k].kind == LIN_POP && ops[k].result == LIN_CLOSED && ops[k].res < first_epipe) {
            first_epipe = ops[k].res;
            epipe_op = (uint32_t)k;
        }
    for (long i = 0; i < nv && first_epipe < T_INF; i++) {
        const struct vrec *r = &vr[i];
        if (r->push == NONE || r->dmin <= first_epipe)
            continue;
        describe(rp, epipe_op, a, sizeof a);
        describe(rp, r->push, b, sizeof b);
        fire(rp, LIN_R_CLOSE, epipe_op, r->push, r->take,
             "%s reported closed and drained, yet value %#llx, pushed by %s, was taken %s", a,
             (unsigned long long)r->value, b,
             r->take == NONE ? "by nobody" : "only after it (FIFO order says so)");
        break;
    }
}

/* R_CLOSE, ETIMEDOUT pops on a ring certainly sealed: only a claimed, not
 * yet published item at the head explains them (two-phase pushes, weak:
 * by publication_times' npush pushes), or a push that announced itself. */
static void check_sealed_pops(const struct lin_ctx *c, const struct report *rp,
                              const struct lin_spec *spec, size_t nops, size_t npush,
                              const struct gate *g)
{
    const struct lin_op *ops = rp->ops;
    bool weak = (spec->flags & LIN_PUSH_TWO_PHASE) != 0;
    char a[160];
    for (size_t k = 0; k < nops; k++) {
        const struct lin_op *e = &ops[k];
        if (e->kind != LIN_POP || e->result != LIN_TIMEDOUT || !(e->inv > g->seal_hi))
            continue;
        bool excused = false;
        for (size_t q = 0; q < npush && weak && !excused; q++)
            excused = c->t2[q] <= e->res && c->t1[c->kv[q].i] >= e->inv;
        /* a push that announced itself (and will fail) holds pops off too */
        for (size_t q = 0; q < nops && (spec->flags & LIN_PUSH_ANNOUNCES) && !excused; q++)
            excused = ops[q].kind == LIN_PUSH && ops[q].result != LIN_OK && ops[q].inv <= e->res &&
                      ops[q].res >= e->inv;
        if (excused)
            continue;
        describe(rp, (uint32_t)k, a, sizeof a);
        fire(rp, LIN_R_CLOSE, (uint32_t)k, NONE, NONE,
             "%s timed out on a ring that was certainly closed%s (EPIPE or an item is due)", a,
             weak ? ", with no push in progress that may hold it off" : "");
    }
}

/* For counting: t1 = the pushes' invocations (per value, *np of them), t2
 * = the takes' ends (*nd), both sorted. */
static void occupancy_times(struct lin_ctx *c, const struct lin_op *ops, long nv, size_t *np,
                            size_t *nd)
{
    const struct vrec *vr = c->v;
    *np = *nd = 0;
    for (long i = 0; i < nv; i++) {
        if (vr[i].push == NONE)
            continue;
        c->t1[(*np)++] = ops[vr[i].push].inv;
        if (vr[i].take != NONE)
            c->t2[(*nd)++] = ops[vr[i].take].res;
    }
    qsort(c->t1, *np, sizeof *c->t1, cmp_u64);
    qsort(c->t2, *nd, sizeof *c->t2, cmp_u64);
}

/* R_FULL, over capacity: more than capacity values certainly in the ring
 * at one instant (claimed: by the end of the push, or of the close,
 * whichever is first; there until the take begins).  Open spans: at equal
 * times an end comes before a start. */
static void check_over_capacity(struct lin_ctx *c, const struct report *rp,
                                const struct lin_spec *spec, long nv)
{
    const struct vrec *vr = c->v;
    char a[160];
    size_t ne = 0;
    for (long i = 0; i < nv; i++) {
        const struct vrec *r = &vr[i];
        if (r->push == NONE)
            continue;
        uint64_t lo = r->cmax, hi = r->dmin;
        if (lo >= hi)
            continue;
        c->kv[ne++] = (struct kv){ 2 * lo + 1, (uint32_t)i }; /* odd: a start */
        if (hi < T_INF)
            c->kv[ne++] = (struct kv){ 2 * hi, (uint32_t)i }; /* even: an end */
    }
    qsort(c->kv, ne, sizeof *c->kv, cmp_kv);
    size_t live = 0;
    for (size_t k = 0; k < ne; k++) {
        if ((c->kv[k].key & 1) == 0) {
            live--;
            continue;
        }
        if (++live > spec->capacity) {
            const struct vrec *w = &vr[c->kv[k].i];
            describe(rp, w->push, a, sizeof a);
            fire(rp, LIN_R_FULL, w->push, w->take, NONE,
                 "after %s, %zu values were certainly in the ring at once, more than its "
                 "capacity %zu",
                 a, live, spec->capacity);
            break;
        }
    }
}

/* With two-phase pops: a pop that may have claimed by f.res (not before
 * its items were claimed or its FIFO turn came: dmin) and may not have
 * released before f.inv may hold the slot at the tail.  kv: the npop
 * successful pops by invocation. */
static bool pop_holds_slot(const struct lin_ctx *c, const struct lin_op *ops, size_t npop,
                           const struct lin_op *f)
{
    bool held = false;
    for (size_t q = 0; q < npop && c->kv[q].key <= f->res && !held; q++) {
        const struct lin_op *d = &ops[c->kv[q].i];
        if (d->res < f->inv)
            continue;
        uint64_t claim = d->inv;
        for (uint16_t j = 0; j < d->n; j++) {
            const struct vrec *r = &c->v[c->vid[d->first + j]];
            if (r->dmin > claim)
                claim = r->dmin;
            if (r->push != NONE && ops[r->push].inv > claim)
                claim = ops[r->push].inv;
        }
        held = claim <= f->res;
    }
    return held;
}

/* R_FULL, refusals: a push that found the ring full although at most
 * capacity - 1 values can have been there at every instant of it (t1, t2:
 * occupancy_times' np and nd), unless excused. */
static void check_refusals(struct lin_ctx *c, const struct report *rp, const struct lin_spec *spec,
                           size_t nops, size_t np, size_t nd, const struct gate *g)
{
    const struct lin_op *ops = rp->ops;
    char a[160];
    /* successful pops by invocation (is one in progress during [x, y]?) */
    size_t npop = 0;
    for (size_t k = 0; k < nops; k++)
        if (ops[k].kind == LIN_POP && ops[k].result == LIN_OK)
            c->kv[npop++] = (struct kv){ ops[k].inv, (uint32_t)k };
    qsort(c->kv, npop, sizeof *c->kv, cmp_kv);
    bool releases = (spec->flags & LIN_POP_TWO_PHASE) != 0;
    for (size_t k = 0; k < nops; k++) {
        const struct lin_op *f = &ops[k];
        if (f->kind != LIN_PUSH || (f->result != LIN_FULL && f->result != LIN_REFUSED))
            continue;
        if (f->result == LIN_REFUSED && g->lo <= f->res)
            continue; /* may have been refused because closed */
        if (f->result == LIN_FULL && f->inv > g->hi)
            continue; /* R_CLOSE above */
        size_t u = max_occupancy(c->t1, np, c->t2, nd, f->inv, f->res);
        if (u >= spec->capacity)
            continue;
        /* the slot of position tail - capacity exists only once capacity
         * positions were claimed */
        if (releases && count_le(c->t1, np, f->res, false) >= spec->capacity &&
            pop_holds_slot(c, ops, npop, f))
            continue;
        describe(rp, (uint32_t)k, a, sizeof a);
        fire(rp, LIN_R_FULL, (uint32_t)k, NONE, NONE,
             "%s found the ring full, yet at most %zu of its %zu slots can have been taken at "
             "any instant of its interval%s",
             a, u, spec->capacity, releases ? ", and no pop was in progress" : "");
    }
}

/* V4, R_FULL and R_CLOSE. */
static void check_queue_emptiness(struct lin_ctx *c, const struct report *rp,
                                  const struct lin_spec *spec, size_t nops, long nv)
{
    const struct lin_op *ops = rp->ops;
    struct gate g;
    find_gate(ops, nops, &g);
    check_gate(rp, &g);
    derive_bounds(c, ops, nops, nv, g.hi);
    check_bounds_order(rp, c->v, nv);
    size_t npush = publication_times(c, ops, nops);
    check_empty_pops(c, rp, nops, nv, npush, (spec->flags & LIN_PUSH_TWO_PHASE) != 0);
    check_closed_pushes(rp, nops, &g);
    check_epipe_pops(rp, c->v, nops, nv);
    check_sealed_pops(c, rp, spec, nops, npush, &g);
    size_t np, nd;
    occupancy_times(c, ops, nv, &np, &nd);
    if (spec->capacity == 0)
        return;
    check_over_capacity(c, rp, spec, nv);
    check_refusals(c, rp, spec, nops, np, nd, &g);
}

static int check_queue(struct lin_ctx *c, const struct report *rp, const struct lin_spec *spec,
                       size_t nops, long nv)
{
    size_t n = 2 * (size_t)nv + nops + 1;
    if (!RESERVE(c, idx, n) || !RESERVE(c, idx2, n) || !RESERVE(c, kv, n) || !RESERVE(c, t1, n) ||
        !RESERVE(c, t2, n) || !RESERVE(c, t3, n) || !RESERVE(c, spans, n) ||
        !RESERVE(c, comps, n)) {
        harness_error(rp->v, "out of memory");
        return -1;
    }
    check_fresh_repeat(rp, c->v, nv);
    check_queue_order(c, rp, nops, nv);
    check_queue_emptiness(c, rp, spec, nops, nv);
    return rp->v->rules ? 0 : 1;
}

/* ---- the deque rules ---------------------------------------------------------- */

static bool stolen(const struct lin_op *ops, const struct vrec *r)
{
    return r->take != NONE && ops[r->take].kind == LIN_STEAL;
}

/* The instant after which u no longer keeps a pop or a steal from
 * succeeding past it: the start of the steal that took it; never when the
 * owner took it or nobody did (see D4 and D5). */
static uint64_t gone_key(const struct lin_op *ops, const struct vrec *u)
{
    return stolen(ops, u) ? ops[u->take].inv : T_INF;
}

static const char *fate(const struct lin_op *ops, const struct vrec *u)
{
    if (u->take == NONE)
        return "taken by nobody";
    return ops[u->take].kind == LIN_STEAL ? "stolen only by a steal that began after it ended"
                                          : "popped by the owner later";
}

/* The owner's operations (pushes and pops) in kv, in their (sequential)
 * order; returns their number, or -1 (harness error) when two overlap. */
static long owner_order(struct lin_ctx *c, const struct report *rp, size_t nops)
{
    const struct lin_op *ops = rp->ops;
    size_t no = 0;
    for (size_t k = 0; k < nops; k++)
        if (ops[k].kind == LIN_PUSH || ops[k].kind == LIN_POP)
            c->kv[no++] = (struct kv){ ops[k].inv, (uint32_t)k };
    qsort(c->kv, no, sizeof *c->kv, cmp_kv);
    for (size_t i = 1; i < no; i++)
        if (ops[c->kv[i].i].inv < ops[c->kv[i - 1].i].res) {
            harness_error(rp->v,
                          "owner operations #%u and #%u overlap: the owner must be one "
                          "thread",
                          c->kv[i - 1].i, c->kv[i].i);
            return -1;
        }
    return (long)no;
}

/* Each pushed value's rank in push order, over the no owner operations of
 * kv (idx2: the values in that order). */
static void rank_pushes(struct lin_ctx *c, const struct lin_op *ops, size_t no)
{
    uint32_t nrank = 0;
    for (size_t i = 0; i < no; i++) {
        const struct lin_op *o = &ops[c->kv[i].i];
        if (o->kind == LIN_PUSH && o->result == LIN_OK)
            for (uint16_t j = 0; j < o->n; j++) {
                uint32_t x = c->vid[o->first + j];
                c->v[x].rank = nrank;
                c->idx2[nrank++] = x;
            }
    }
}

/* Place q of the owner's stack holds value x with gone_key key: its prefix
 * max of gone_key (t1) and the argmax (idx3). */
static void stack_max_at(struct lin_ctx *c, size_t q, uint64_t key, uint32_t x)
{
    if (q == 0 || key > c->t1[q - 1]) {
        c->t1[q] = key;
        c->idx3[q] = x;
    } else {
        c->t1[q] = c->t1[q - 1];
        c->idx3[q] = c->idx3[q - 1];
    }
}

/* The owner's successful push o: its values go on the stack (of *sp
 * values); D5 for each of them. */
static void stack_push(struct lin_ctx *c, const struct report *rp, const struct lin_op *o,
                       size_t *sp)
{
    const struct lin_op *ops = rp->ops;
    struct vrec *vr = c->v;
    char a[160];
    for (uint16_t j = 0; j < o->n; j++) {
        uint32_t x = c->vid[o->first + j];
        struct vrec *r = &vr[x];
        /* D5: v stolen while an older value u still there when v was
         * pushed is gone only after (or never) */
        if (stolen(ops, r) && *sp > 0 && c->t1[*sp - 1] > ops[r->take].res) {
            const struct vrec *u = &vr[c->idx3[*sp - 1]];
            describe(rp, r->take, a, sizeof a);
            fire(rp, LIN_D5_FIFO, r->take, u->push, u->take,
                 "%s stole %#llx although the older %#llx, in the deque when %#llx was "
                 "pushed, was %s",
                 a, (unsigned long long)r->value, (unsigned long long)u->value,
                 (unsigned long long)r->value, fate(ops, u));
        }
        c->idx[*sp] = x;
        stack_max_at(c, *sp, gone_key(ops, r), x);
        r->spos = (uint32_t)(*sp)++;
    }
}

/* The owner's successful pop k of one value: D3 unless it is the top of
 * the stack; it leaves the stack either way. */
static void stack_pop(struct lin_ctx *c, const struct report *rp, uint32_t k, size_t *sp)
{
    const struct lin_op *ops = rp->ops, *o = &ops[k];
    struct vrec *vr = c->v;
    char a[160], b[160];
    struct vrec *r = &vr[c->vid[o->first]];
    if (r->spos == NONE)
        return; /* never pushed, or taken twice: V1 / V2 */
    if (r->spos != *sp - 1) {
        const struct vrec *w = &vr[c->idx[*sp - 1]];
        describe(rp, k, a, sizeof a);
        describe(rp, w->push, b, sizeof b);
        fire(rp, LIN_D3_LIFO, k, w->push, w->take,
             "%s returned %#llx although %#llx, pushed after it by %s, had not been "
             "popped by the owner",
             a, (unsigned long long)r->value, (unsigned long long)w->value, b);
        /* take r out and rebuild the prefix maxima above it */
        for (size_t q = r->spos; q + 1 < *sp; q++) {
            c->idx[q] = c->idx[q + 1];
            vr[c->idx[q]].spos = (uint32_t)q;
        }
        (*sp)--;
        for (size_t q = r->spos; q < *sp; q++)
            stack_max_at(c, q, gone_key(ops, &vr[c->idx[q]]), c->idx[q]);
    } else {
        (*sp)--;
    }
    r->spos = NONE;
}

/* The owner's pop k that found the deque empty: D4 if a value on the stack
 * was still there throughout; the stack is empty after. */
static void stack_empty(struct lin_ctx *c, const struct report *rp, uint32_t k, size_t *sp)
{
    const struct lin_op *ops = rp->ops, *o = &ops[k];
    struct vrec *vr = c->v;
    char a[160], b[160];
    /* D4: a value still there throughout the pop */
    if (*sp > 0 && c->t1[*sp - 1] > o->res) {
        const struct vrec *u = &vr[c->idx3[*sp - 1]];
        describe(rp, k, a, sizeof a);
        describe(rp, u->push, b, sizeof b);
        fire(rp, LIN_D4_EMPTY, k, u->push, u->take,
             "%s found the deque empty although %#llx, pushed by %s and not popped by "
             "the owner before, was %s",
             a, (unsigned long long)u->value, b, fate(ops, u));
    }
    /* everything on the stack is gone now (or D4 fired): a later
     * push's older neighbours are only the ones pushed after this */
    for (size_t q = 0; q < *sp; q++)
        vr[c->idx[q]].spos = NONE;
    *sp = 0;
}

/* D3, D4 and D5 along the no owner operations of kv, with the owner's
 * stack (idx: values pushed and not popped by the owner, stolen ones
 * included), the prefix max of gone_key (t1) and its argmax (idx3). */
static void check_owner_stack(struct lin_ctx *c, const struct report *rp, size_t no)
{
    const struct lin_op *ops = rp->ops;
    size_t sp = 0;
    for (size_t i = 0; i < no; i++) {
        uint32_t k = c->kv[i].i;
        const struct lin_op *o = &ops[k];
        if (o->kind == LIN_PUSH && o->result == LIN_OK)
            stack_push(c, rp, o, &sp);
        else if (o->kind == LIN_POP && o->result == LIN_OK && o->n == 1)
            stack_pop(c, rp, k, &sp);
        else if (o->kind == LIN_POP && o->result == LIN_EMPTY)
            stack_empty(c, rp, k, &sp);
    }
}

/* D5 within the batch steal k: its items in push order; false when they
 * are not (or one was never pushed: V1). */
static bool steal_batch_sorted(const struct lin_ctx *c, const struct report *rp, size_t k)
{
    const struct lin_op *o = &rp->ops[k];
    const struct vrec *vr = c->v;
    char a[160];
    bool sorted = true;
    for (uint16_t j = 0; j + 1 < o->n; j++) {
        const struct vrec *p = &vr[c->vid[o->first + j]], *q = &vr[c->vid[o->first + j + 1]];
        if (p->rank == NONE || q->rank == NONE)
            sorted = false; /* V1 */
        else if (q->rank < p->rank) {
            describe(rp, (uint32_t)k, a, sizeof a);
            fire(rp, LIN_D5_FIFO, (uint32_t)k, p->push, q->push,
                 "batch %s returned %#llx before %#llx, which was pushed first", a,
                 (unsigned long long)p->value, (unsigned long long)q->value);
            sorted = false;
        }
    }
    return sorted;
}

/* D5 within the batch steal k (sorted): a value pushed between two of its
 * items and still in the deque when the later one was pushed is in it. */
static void steal_batch_adjacent(const struct lin_ctx *c, const struct report *rp, size_t k)
{
    const struct lin_op *ops = rp->ops, *o = &ops[k];
    const struct vrec *vr = c->v;
    char a[160];
    for (uint16_t j = 0; j + 1 < o->n; j++) {
        const struct vrec *p = &vr[c->vid[o->first + j]], *q = &vr[c->vid[o->first + j + 1]];
        for (uint32_t rk = p->rank + 1; rk < q->rank; rk++) {
            const struct vrec *u = &vr[c->idx2[rk]];
            bool popped_before = u->take != NONE && ops[u->take].kind == LIN_POP &&
                                 ops[u->take].inv < ops[q->push].inv;
            if (popped_before)
                continue;
            describe(rp, (uint32_t)k, a, sizeof a);
            fire(rp, LIN_D5_FIFO, (uint32_t)k, u->push, u->take,
                 "batch %s took %#llx and %#llx but not %#llx, pushed between them and "
                 "still in the deque when %#llx was pushed",
                 a, (unsigned long long)p->value, (unsigned long long)q->value,
                 (unsigned long long)u->value, (unsigned long long)q->value);
            break;
        }
    }
}

/* D6: a steal that found the deque empty while it provably was not. */
static void check_empty_steals(struct lin_ctx *c, const struct report *rp, size_t nops, long nv)
{
    const struct lin_op *ops = rp->ops;
    const struct vrec *vr = c->v;
    char a[160], b[160];
    size_t ns = 0;
    for (long i = 0; i < nv; i++)
        if (vr[i].push != NONE && presence_span(&vr[i], 0, &c->spans[ns], (uint32_t)i))
            ns++;
    size_t ncomp = merge_spans(c, ns);
    for (size_t k = 0; k < nops; k++) {
        const struct lin_op *e = &ops[k];
        if (e->kind != LIN_STEAL || e->result != LIN_EMPTY)
            continue;
        const struct span *s = covering(c->comps, ncomp, e->inv, e->res);
        if (!s)
            continue;
        const struct vrec *w = &vr[s->v];
        describe(rp, (uint32_t)k, a, sizeof a);
        describe(rp, w->push, b, sizeof b);
        fire(rp, LIN_D6_EMPTY, (uint32_t)k, w->push, w->take,
             "%s found the deque empty, yet it provably held an item throughout: %#llx pushed "
             "by %s, taken %s",
             a, (unsigned long long)w->value, b,
             w->take == NONE ? "never" : "only by an op that began after");
    }
}

/* D7: RETRY means another thread's take won the race for the item. */
static void check_retries(const struct report *rp, size_t nops)
{
    const struct lin_op *ops = rp->ops;
    char a[160];
    for (size_t k = 0; k < nops; k++) {
        const struct lin_op *e = &ops[k];
        if (e->kind != LIN_STEAL || e->result != LIN_RETRY)
            continue;
        bool raced = false;
        for (size_t q = 0; q < nops && !raced; q++)
            raced = q != k && is_take(&ops[q]) && ops[q].thread != e->thread &&
                    ops[q].inv <= e->res && ops[q].res >= e->inv;
        if (!raced) {
            describe(rp, (uint32_t)k, a, sizeof a);
            fire(rp, LIN_D7_RETRY, (uint32_t)k, NONE, NONE,
                 "%s reported RETRY, but no other thread's pop or steal took an item during it", a);
        }
    }
}

static int check_deque(struct lin_ctx *c, const struct report *rp, size_t nops, long nv)
{
    const struct lin_op *ops = rp->ops;
    struct vrec *vr = c->v;
    size_t n = (size_t)nv + nops + 1;
    if (!RESERVE(c, idx, n) || !RESERVE(c, idx2, n) || !RESERVE(c, idx3, n) || !RESERVE(c, kv, n) ||
        !RESERVE(c, t1, n) || !RESERVE(c, spans, n) || !RESERVE(c, comps, n)) {
        harness_error(rp->v, "out of memory");
        return -1;
    }
    long no = owner_order(c, rp, nops);
    if (no < 0)
        return -1;
    rank_pushes(c, ops, (size_t)no);
    check_fresh_repeat(rp, vr, nv);
    for (long i = 0; i < nv; i++) {
        vr[i].cmax = vr[i].push == NONE ? T_INF : ops[vr[i].push].res;
        vr[i].dmin = take_inv(ops, &vr[i]);
    }
    check_owner_stack(c, rp, (size_t)no);
    /* D5 within a batch: push order, and adjacency */
    for (size_t k = 0; k < nops; k++) {
        const struct lin_op *o = &ops[k];
        if (o->kind != LIN_STEAL || o->result != LIN_OK || o->n < 2)
            continue;
        if (steal_batch_sorted(c, rp, k))
            steal_batch_adjacent(c, rp, k);
    }
    check_empty_steals(c, rp, nops, nv);
    check_retries(rp, nops);
    return rp->v->rules ? 0 : 1;
}

/* ---- the entry points ---------------------------------------------------------- */

/* The operation is one the spec knows, with a result it can have. */
static bool well_formed(const struct lin_spec *spec, const struct lin_op *o)
{
    if (o->inv > o->res)
        return false;
    bool q = spec->structure == LIN_QUEUE;
    switch (o->kind) {
    case LIN_PUSH:
        if (!q)
            return o->result == LIN_OK && o->n == 1;
        return (o->result == LIN_OK && o->n >= 1) ||
               ((o->result == LIN_FULL || o->result == LIN_REFUSED || o->result == LIN_CLOSED));
    case LIN_POP:
        if (!q)
            return (o->result == LIN_OK && o->n == 1) || (o->result == LIN_EMPTY && o->n == 0);
        return (o->result == LIN_OK && o->n >= 1) ||
               ((o->result == LIN_EMPTY || o->result == LIN_TIMEDOUT || o->result == LIN_CLOSED) &&
                o->n == 0);
    case LIN_STEAL:
        return !q && ((o->result == LIN_OK && o->n >= 1) ||
                      ((o->result == LIN_EMPTY || o->result == LIN_RETRY) && o->n == 0));
    case LIN_CLOSE:
        return q && o->result == LIN_OK && o->n == 0;
    default:
        return false;
    }
}

static uint64_t earliest(const struct lin_op *ops, size_t nops)
{
    uint64_t t0 = T_INF;
    for (size_t k = 0; k < nops; k++)
        if (ops[k].inv < t0)
            t0 = ops[k].inv;
    return t0 == T_INF ? 0 : t0;
}

int lin_fast_check(struct lin_ctx *c, const struct lin_spec *spec, const struct lin_op *ops,
                   size_t nops, const uint64_t *vals, struct lin_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->first = -1;
    v->op[0] = v->op[1] = v->op[2] = SIZE_MAX;
    for (size_t k = 0; k < nops; k++)
        if (!well_formed(spec, &ops[k])) {
            harness_error(v,
                          "op #%zu (kind %u, result %u, %u values, [%llu, %llu]) is not "
                          "an operation of this structure",
                          k, ops[k].kind, ops[k].result, ops[k].n, (unsigned long long)ops[k].inv,
                          (unsigned long long)ops[k].res);
            return -1;
        }
    struct report rp = { v, ops, vals, earliest(ops, nops) };
    long nv = build_values(c, ops, nops, vals, v);
    if (nv < 0)
        return -1;
    return spec->structure == LIN_QUEUE ? check_queue(c, &rp, spec, nops, nv)
                                        : check_deque(c, &rp, nops, nv);
}

void lin_print_history(FILE *out, const struct lin_op *ops, size_t nops, const uint64_t *vals,
                       size_t max)
{
    struct lin_verdict dummy;
    struct report rp = { &dummy, ops, vals, earliest(ops, nops) };
    char buf[160];
    for (size_t k = 0; k < nops && k < max; k++) {
        describe(&rp, k, buf, sizeof buf);
        fprintf(out, "      %s", buf);
        const struct lin_op *o = &ops[k];
        if (o->n > 1 || (o->n == 1 && o->result != LIN_OK)) {
            fprintf(out, " values");
            for (uint16_t j = 0; j < o->n && j < 8; j++)
                fprintf(out, " %#llx", (unsigned long long)vals[o->first + j]);
            if (o->n > 8)
                fprintf(out, " ...");
        }
        fprintf(out, "\n");
    }
    if (nops > max)
        fprintf(out, "      (%zu more operations)\n", nops - max);
}

/* ---- the exhaustive search ---------------------------------------------------- */

#define XS_MAX_SLOTS 256 /* values of all operations together */

struct xs {
    struct lin_ctx *c;
    const struct lin_spec *spec;
    const struct lin_op *ops;
    size_t n;
    unsigned nsub[LIN_EXHAUSTIVE_MAX_OPS], done[LIN_EXHAUSTIVE_MAX_OPS];
    unsigned base[LIN_EXHAUSTIVE_MAX_OPS];   /* bit of the op's first step */
    unsigned voff[LIN_EXHAUSTIVE_MAX_OPS];   /* its values' ids: id[voff ..] */
    unsigned by_res[LIN_EXHAUSTIVE_MAX_OPS]; /* ops, earliest response first */
    uint8_t id[XS_MAX_SLOTS];
    unsigned left;    /* steps not yet placed */
    uint64_t mask[2]; /* steps placed */
    /* queue: the claimed positions in order, and per value id its flags */
    uint8_t order[LIN_EXHAUSTIVE_MAX_VALUES];
    unsigned tail, head;
    unsigned announced; /* failed pushes between announcing and deciding */
    bool gate, sealed;
    bool pub[LIN_EXHAUSTIVE_MAX_VALUES], rel[LIN_EXHAUSTIVE_MAX_VALUES];
    /* deque: dq[top .. bottom) */
    uint8_t dq[LIN_EXHAUSTIVE_MAX_VALUES + 1];
    unsigned top, bottom;
    size_t nodes, budget;
    bool aborted;
};

/* What a step changes besides flags, to put back. */
struct xs_saved {
    unsigned tail, head, top, bottom, announced;
    bool gate, sealed;
    uint8_t slot;
};

static unsigned op_steps(const struct lin_spec *spec, const struct lin_op *o)
{
    if (spec->structure == LIN_DEQUE)
        return 1;
    if (o->result != LIN_OK)
        /* a failed push announced itself, then decided and withdrew */
        return o->kind == LIN_PUSH && (spec->flags & LIN_PUSH_ANNOUNCES) ? 2 : 1;
    if (o->kind == LIN_PUSH && (spec->flags & LIN_PUSH_TWO_PHASE))
        return 1u + o->n;
    if (o->kind == LIN_POP && (spec->flags & LIN_POP_TWO_PHASE))
        return 1u + o->n;
    if (o->kind == LIN_CLOSE && (spec->flags & LIN_CLOSE_TWO_PHASE))
        return 2;
    return 1;
}

/* Slot of position p is free for a push: before the window, or the item
 * capacity positions earlier was popped and its slot released. */
static bool slot_free(const struct xs *x, unsigned p)
{
    size_t cap = x->spec->capacity;
    if (cap == 0 || p < cap)
        return true;
    return x->rel[x->order[p - cap]];
}

/* Remember what a step may change besides flags, for xs_undo. */
static void xs_save(const struct xs *x, struct xs_saved *sv)
{
    sv->tail = x->tail;
    sv->head = x->head;
    sv->top = x->top;
    sv->bottom = x->bottom;
    sv->gate = x->gate;
    sv->sealed = x->sealed;
    sv->announced = x->announced;
    sv->slot = 0;
}

/* xs_apply on a deque: the op o (one step) with value ids v. */
static bool xs_apply_deque(struct xs *x, const struct lin_op *o, const uint8_t *v,
                           struct xs_saved *sv)
{
    unsigned size = x->bottom - x->top;
    switch (o->kind) {
    case LIN_PUSH:
        sv->slot = x->dq[x->bottom];
        x->dq[x->bottom++] = v[0];
        return true;
    case LIN_POP:
        if (o->result == LIN_EMPTY)
            return size == 0;
        if (size == 0 || x->dq[x->bottom - 1] != v[0])
            return false;
        x->bottom--;
        return true;
    default: /* steal */
        if (o->result == LIN_RETRY)
            return true;
        if (o->result == LIN_EMPTY)
            return size == 0;
        if (size < o->n)
            return false;
        for (unsigned j = 0; j < o->n; j++)
            if (x->dq[x->top + j] != v[j])
                return false;
        x->top += o->n;
        return true;
    }
}

/* The claim (first step) of the successful push o with value ids v: its
 * positions from the tail on, if the ring is not gated and their slots are
 * free; published at once unless pushes are two-phase. */
static bool xs_claim(struct xs *x, const struct lin_op *o, const uint8_t *v)
{
    if (x->gate)
        return false;
    for (unsigned j = 0; j < o->n; j++)
        if (!slot_free(x, x->tail + j))
            return false;
    for (unsigned j = 0; j < o->n; j++) {
        x->order[x->tail + j] = v[j];
        if (!(x->spec->flags & LIN_PUSH_TWO_PHASE))
            x->pub[v[j]] = true;
    }
    x->tail += o->n;
    return true;
}

/* xs_apply on a queue: step s of the push o with value ids v. */
static bool xs_apply_push(struct xs *x, const struct lin_op *o, const uint8_t *v, unsigned s,
                          const struct xs_saved *sv)
{
    if (o->result != LIN_OK && (x->spec->flags & LIN_PUSH_ANNOUNCES)) {
        if (s == 0) {
            x->announced++;
            return true;
        }
        x->announced--; /* decided (below), withdrawn */
    }
    switch (o->result) {
    case LIN_OK:
        if (s > 0) {
            x->pub[v[s - 1]] = true;
            return true;
        }
        return xs_claim(x, o, v);
    case LIN_FULL:
        if (!x->gate && !slot_free(x, x->tail))
            return true;
        break;
    case LIN_REFUSED:
        if (x->gate || !slot_free(x, x->tail))
            return true;
        break;
    default: /* LIN_CLOSED */
        if (x->gate)
            return true;
        break;
    }
    x->announced = sv->announced;
    return false;
}

/* xs_apply on a queue: step s of the pop o with value ids v. */
static bool xs_apply_pop(struct xs *x, const struct lin_op *o, const uint8_t *v, unsigned s)
{
    bool empty = x->head == x->tail;
    bool weak_empty = empty || !x->pub[x->order[x->head]];
    bool drained = x->sealed && empty && x->announced == 0;
    switch (o->result) {
    case LIN_OK:
        if (s > 0) {
            x->rel[v[s - 1]] = true;
            return true;
        }
        if (x->tail - x->head < o->n)
            return false;
        for (unsigned j = 0; j < o->n; j++)
            if (x->order[x->head + j] != v[j] || !x->pub[v[j]])
                return false;
        if (!(x->spec->flags & LIN_POP_TWO_PHASE))
            for (unsigned j = 0; j < o->n; j++)
                x->rel[v[j]] = true;
        x->head += o->n;
        return true;
    case LIN_EMPTY:
        return weak_empty;
    case LIN_TIMEDOUT:
        return weak_empty && !drained;
    default: /* LIN_CLOSED */
        return drained;
    }
}

/* Try step s of op i on the state; false (state unchanged) when illegal. */
static bool xs_apply(struct xs *x, unsigned i, unsigned s, struct xs_saved *sv)
{
    const struct lin_op *o = &x->ops[i];
    const uint8_t *v = &x->id[x->voff[i]];
    xs_save(x, sv);
    if (x->spec->structure == LIN_DEQUE)
        return xs_apply_deque(x, o, v, sv);
    switch (o->kind) {
    case LIN_PUSH:
        return xs_apply_push(x, o, v, s, sv);
    case LIN_POP:
        return xs_apply_pop(x, o, v, s);
    default: /* close */
        if (s == 0) {
            x->gate = true;
            if (!(x->spec->flags & LIN_CLOSE_TWO_PHASE))
                x->sealed = true;
        } else {
            x->sealed = true;
        }
        return true;
    }
}

static void xs_undo(struct xs *x, unsigned i, unsigned s, const struct xs_saved *sv)
{
    const struct lin_op *o = &x->ops[i];
    const uint8_t *v = &x->id[x->voff[i]];
    if (x->spec->structure == LIN_DEQUE) {
        if (o->kind == LIN_PUSH)
            x->dq[sv->bottom] = sv->slot;
    } else if (o->result == LIN_OK && o->kind == LIN_PUSH) {
        if (s > 0)
            x->pub[v[s - 1]] = false;
        else if (!(x->spec->flags & LIN_PUSH_TWO_PHASE))
            for (unsigned j = 0; j < o->n; j++)
                x->pub[v[j]] = false;
    } else if (o->result == LIN_OK && o->kind == LIN_POP) {
        if (s > 0)
            x->rel[v[s - 1]] = false;
        else if (!(x->spec->flags & LIN_POP_TWO_PHASE))
            for (unsigned j = 0; j < o->n; j++)
                x->rel[v[j]] = false;
    }
    x->tail = sv->tail;
    x->head = sv->head;
    x->top = sv->top;
    x->bottom = sv->bottom;
    x->gate = sv->gate;
    x->sealed = sv->sealed;
    x->announced = sv->announced;
}

/* The configuration: which steps are placed, and (queues) the order of the
 * claimed positions; the rest of the state follows from these. */
static uint64_t xs_hash(const struct xs *x)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ x->mask[0];
    h = (h ^ (h >> 31)) * 0xbf58476d1ce4e5b9u ^ x->mask[1];
    if (x->spec->structure == LIN_QUEUE)
        for (unsigned p = 0; p < x->tail; p++)
            h = (h ^ (h >> 29) ^ x->order[p]) * 0x94d049bb133111ebu;
    return h ^ (h >> 32);
}

/* Lowe's table of configurations known to lead to no linearization.  false
 * when the table is full (the search then gives up). */
static bool memo(struct xs *x, bool insert, bool *seen)
{
    uint64_t h = xs_hash(x);
    size_t i = (size_t)h & (MEMO_SIZE - 1);
    for (size_t probes = 0; probes < 64; probes++, i = (i + 1) & (MEMO_SIZE - 1)) {
        struct memo_entry *e = &x->c->memo[i];
        if (e->gen != x->c->gen) {
            if (insert) {
                e->gen = x->c->gen;
                e->m0 = x->mask[0];
                e->m1 = x->mask[1];
                e->h = h;
            }
            *seen = false;
            return true;
        }
        if (e->m0 == x->mask[0] && e->m1 == x->mask[1] && e->h == h) {
            *seen = true;
            return true;
        }
    }
    *seen = false;
    return !insert;
}

static bool xs_search(struct xs *x)
{
    if (x->left == 0)
        return true;
    if (++x->nodes > x->budget) {
        x->aborted = true;
        return false;
    }
    bool seen;
    if (memo(x, false, &seen) && seen)
        return false;
    /* an op may take its next step once no op that is not finished
     * responded before it was invoked */
    uint64_t limit = T_INF;
    for (unsigned i = 0; i < x->n; i++)
        if (x->done[i] < x->nsub[i] && x->ops[i].res < limit)
            limit = x->ops[i].res;
    for (unsigned k = 0; k < x->n; k++) {
        unsigned i = x->by_res[k];
        if (x->done[i] == x->nsub[i] || x->ops[i].inv > limit)
            continue;
        unsigned s = x->done[i];
        struct xs_saved sv;
        if (!xs_apply(x, i, s, &sv))
            continue;
        unsigned bit = x->base[i] + s;
        x->mask[bit / 64] |= (uint64_t)1 << (bit % 64);
        x->done[i]++;
        x->left--;
        bool ok = xs_search(x);
        x->left++;
        x->done[i]--;
        x->mask[bit / 64] &= ~((uint64_t)1 << (bit % 64));
        xs_undo(x, i, s, &sv);
        if (ok)
            return true;
        if (x->aborted)
            return false;
    }
    if (!memo(x, true, &seen))
        x->aborted = true;
    return false;
}

/* Start a new generation of c's memo table (allocated on first use), so
 * that older entries count as empty; false when out of memory. */
static bool memo_new_generation(struct lin_ctx *c)
{
    if (!c->memo && !(c->memo = calloc(MEMO_SIZE, sizeof *c->memo)))
        return false;
    if (++c->gen == 0) {
        memset(c->memo, 0, MEMO_SIZE * sizeof *c->memo);
        c->gen = 1;
    }
    return true;
}

/* The id of val among the *nvals distinct values of seen (added when
 * new); -1 when there would be more than LIN_EXHAUSTIVE_MAX_VALUES. */
static int value_id(uint64_t *seen, unsigned *nvals, uint64_t val)
{
    unsigned k = 0;
    while (k < *nvals && seen[k] != val)
        k++;
    if (k == *nvals) {
        if (*nvals == LIN_EXHAUSTIVE_MAX_VALUES)
            return -1;
        seen[(*nvals)++] = val;
    }
    return (int)k;
}

/* The ops' value ids (the distinct values, in first-seen order), their
 * steps and the steps left in x; false when an op is malformed or the
 * history exceeds the search's limits. */
static bool xs_number(struct xs *x, const uint64_t *vals)
{
    const struct lin_op *ops = x->ops;
    uint64_t seen_vals[LIN_EXHAUSTIVE_MAX_VALUES];
    unsigned nvals = 0, nslots = 0, steps = 0;
    for (unsigned i = 0; i < x->n; i++) {
        const struct lin_op *o = &ops[i];
        if (!well_formed(x->spec, o) || nslots + o->n > XS_MAX_SLOTS)
            return false;
        x->voff[i] = nslots;
        for (unsigned j = 0; j < o->n; j++) {
            int k = value_id(seen_vals, &nvals, vals[o->first + j]);
            if (k < 0)
                return false;
            x->id[nslots++] = (uint8_t)k;
        }
        x->nsub[i] = op_steps(x->spec, o);
        x->base[i] = steps;
        steps += x->nsub[i];
        if (steps > LIN_EXHAUSTIVE_MAX_STEPS)
            return false;
    }
    unsigned pushed = 0;
    for (unsigned i = 0; i < x->n; i++)
        if (ops[i].kind == LIN_PUSH && ops[i].result == LIN_OK)
            pushed += ops[i].n;
    if (pushed > LIN_EXHAUSTIVE_MAX_VALUES)
        return false; /* (values pushed twice: not a history of distinct values) */
    x->left = steps;
    return true;
}

/* x->by_res: the ops, earliest response first. */
static void xs_sort_by_res(struct xs *x)
{
    for (unsigned i = 0; i < x->n; i++) {
        unsigned k = i;
        while (k > 0 && x->ops[x->by_res[k - 1]].res > x->ops[i].res) {
            x->by_res[k] = x->by_res[k - 1];
            k--;
        }
        x->by_res[k] = i;
    }
}

int lin_exhaustive_check(struct lin_ctx *c, const struct lin_spec *spec, const struct lin_op *ops,
                         size_t nops, const uint64_t *vals, size_t max_nodes)
{
    if (nops > LIN_EXHAUSTIVE_MAX_OPS)
        return -1;
    struct xs *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    if (!memo_new_generation(c)) {
        free(x);
        return -1;
    }
    x->c = c;
    x->spec = spec;
    x->ops = ops;
    x->n = nops;
    x->budget = max_nodes;
    int rc = -1;
    if (xs_number(x, vals)) {
        xs_sort_by_res(x);
        bool ok = xs_search(x);
        rc = x->aborted ? -1 : ok ? 1 : 0;
    }
    free(x);
    return rc;
}
