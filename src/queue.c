/*
 * queue.c - the unbounded MPMC queue; see include/weft/queue.h for the
 * contract.
 *
 * The algorithm is the infinite-array queue of Morrison and Afek ("Fast
 * concurrent queues for x86 processors", PPoPP 2013, section 3) cut into a
 * linked list of finite segments, as in Yang and Mellor-Crummey ("A
 * wait-free queue as fast as fetch-and-add", PPoPP 2016, the fast path of
 * their enqueue and dequeue):
 *
 *   push: t = tail; i = FAA(t->enq); CAS(t->cells[i]: EMPTY -> FULL)
 *   pop:  h = head; i = FAA(h->deq); XCHG(h->cells[i] -> TAKEN); FULL? done
 *
 * A consumer that reaches a cell before its producer marks it TAKEN; the
 * producer's CAS then fails and it takes another ticket.  Because a cell is
 * used once, no ABA can happen on it, which is what LCRQ (Morrison and
 * Afek) needs CAS2 for when it reuses the cells of a ring; the price is a
 * new segment every SEG_CELLS items, which this file recycles (SPARES kept)
 * and frees through weft_epoch instead.  Where Yang and Mellor-Crummey add
 * a helping slow path for wait-freedom, this queue stays lock-free with the
 * trick of Ramalhete and Correia's FAAArrayQueue (2016): a producer that
 * finds its segment full appends a new segment that already holds its item
 * in cell 0, so a push fails at most SEG_CELLS times per segment; a pop
 * fails only on a cell whose ticket it consumed, so it too finishes within
 * a segment's worth of steps or sees the queue empty.
 *
 * Mapping: Yang and Mellor-Crummey's global T and H are (tail segment,
 * its enq) and (head segment, its deq); their cell values bottom and top
 * are CELL_EMPTY and CELL_TAKEN.  The item lives beside the state word, so
 * that every pointer value (NULL too) can be an item.
 *
 * Linearization points: a push at its successful CAS (or at the CAS that
 * links the segment holding its item); a pop that returns an item at its
 * exchange; a pop that returns empty at its load of deq (when it found
 * deq >= enq and no next segment) or at its load of next.
 *
 * Reclamation: every operation runs inside a section of the queue's own
 * weft_epoch domain.  The consumer that moves head past a segment first
 * makes sure tail is past it too (a producer holding a lagging tail would
 * otherwise enter a segment after its retire), then retires it.
 *
 * Close: the Dekker pair of a push's section announcement (then its load
 * of closed) with close's store of closed (then the grace period of
 * weft_internal_epoch_barrier, whose advances fence and scan every
 * section): a push either sees closed and fails, or close waits until the
 * push finished.  Only then does close set sealed; a pop reports EPIPE only
 * after it saw sealed and then the queue empty, and a refused push only
 * after it saw sealed (push_refused), so close takes effect at once, at the
 * seal: linearizable.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <weft/eventcount.h>
#include <weft/queue.h>

#include "base.h"
#include "chaos.h"
#include "doorbell_internal.h"
#include "epoch_internal.h"
#include "eventcount_internal.h"
#include "wait.h"

/* A segment is 32 KB of its own mmap(2), so that a freed one goes back to
 * the system at once (from malloc's heap it might not: the live segments
 * above it pin the heap's top); its header takes three line pairs and the
 * cells the rest. */
enum { SEG_BYTES = 32768, SEG_HEADER = 3 * LINE_PAIR_BYTES };
#ifndef WEFT_MODEL
enum { SEG_CELLS = (SEG_BYTES - SEG_HEADER) / (2 * sizeof(void *)) };
#else
enum { SEG_CELLS = 2 };     /* the model checker crosses segments after 2 items */
#endif

enum { CELL_EMPTY = 0, CELL_FULL = 1, CELL_TAKEN = 2 };

/* Freed segments kept for reuse while the queue runs: a new segment then
 * costs no mmap, and a freed one no munmap, whose TLB shoot-down
 * interrupts every CPU (measured: 6% of a 4P4C run with one spare).  A
 * drained queue keeps one (trim_spares). */
enum { SPARES = 16 };

/* Consumers try to free retired segments after every RECLAIM_EVERY-th
 * retire: each try costs an epoch advance, a membarrier(2) (measured: 12%
 * of a 4P4C run when every retire tried). */
#ifndef WEFT_MODEL
enum { RECLAIM_EVERY = 8 };
#else
enum { RECLAIM_EVERY = 1 }; /* the model checker frees at every retire */
#endif

struct cell {
    atomic_uintptr_t state; /* CELL_*: set FULL by the producer, TAKEN by the consumer */
    void *item;             /* written by the producer before its CAS */
};

struct seg {
    /* Tickets of producers, then of consumers, then the link: each written
     * by a different side, each on its own line pair. */
    alignas(LINE_PAIR_BYTES) atomic_size_t enq;
    alignas(LINE_PAIR_BYTES) atomic_size_t deq;
    alignas(LINE_PAIR_BYTES) _Atomic(struct seg *) next;
    uint64_t index; /* 0 for the first segment, then 1, 2, ...; immutable */
    struct weft_queue *q;
    alignas(LINE_PAIR_BYTES) struct cell cells[SEG_CELLS];
};

_Static_assert(sizeof(struct cell) == 2 * sizeof(void *), "a cell is two words");
_Static_assert(offsetof(struct seg, cells) == SEG_HEADER, "the header is three line pairs");
_Static_assert(sizeof(struct seg) <= SEG_BYTES, "a segment fits its mapping");

struct weft_queue {
    alignas(LINE_PAIR_BYTES) _Atomic(struct seg *) head; /* written by consumers */
    alignas(LINE_PAIR_BYTES) _Atomic(struct seg *) tail; /* written by producers */
    /* Read by every push and pop, written rarely. */
    alignas(LINE_PAIR_BYTES) weft_epoch *dom;
    atomic_uint closed;  /* no push may succeed any more */
    atomic_uint sealed;  /* every push that will ever succeed has */
    atomic_size_t bytes; /* segments held (allocated, not yet freed) */
    /* freed segments kept for the next ones (a slot is NULL or one) */
    _Atomic(struct seg *) spare[SPARES];
    atomic_uint retires;             /* segments retired, for the reclaim cadence */
    atomic_uint_least64_t next_trim; /* now_ns() after which an empty pop trims */
    atomic_uint trimmed_at;          /* retires at the last trim */
    weft_eventcount not_empty;       /* consumers park here */
    /* the loop's doorbell, or NULL: read by every push after its notify
     * fence, written by weft_queue_set_doorbell */
    _Atomic(weft_doorbell *) doorbell;
};

/* A kept segment, or NULL. */
static struct seg *take_spare(weft_queue *q)
{
    for (int i = 0; i < SPARES; i++) {
        /* relaxed: a peek that spares the exchange on empty slots */
        if (atomic_load_explicit(&q->spare[i], memory_order_relaxed) == NULL)
            continue;
        /* acquire: pairs with the release CAS in seg_drop: the segment's
         * last reader is done with it before we write it */
        struct seg *s = atomic_exchange_explicit(&q->spare[i], NULL, memory_order_acquire);
        if (s != NULL)
            return s;
    }
    return NULL;
}

/* Every cell of a kept segment EMPTY again (CELL_EMPTY is 0); the CAS that
 * links the segment publishes it.  The model checker's atomics are objects
 * that atomic_init makes, so there the same stores are atomic_inits. */
static void cells_clear(struct seg *s)
{
#ifndef WEFT_MODEL
    memset(s->cells, 0, sizeof s->cells);
#else
    for (int i = 0; i < SEG_CELLS; i++)
        atomic_init(&s->cells[i].state, CELL_EMPTY);
#endif
}

/* A zeroed segment, kept or newly mapped; NULL when out of memory. */
static struct seg *seg_new(weft_queue *q, uint64_t index)
{
    struct seg *s = take_spare(q);
    if (s != NULL) {
        cells_clear(s);
    } else {
        /* MAP_POPULATE: fault the pages in now; a consumer's read of a
         * fresh page would map the zero page, and the producer's write
         * then costs a copy-on-write fault and a TLB shoot-down */
        void *m = mmap(NULL, SEG_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        s = (struct seg *)m; /* zero-filled */
#ifdef WEFT_MODEL
        cells_clear(s);
#endif
        /* relaxed: a statistic; nothing is ordered by it */
        atomic_fetch_add_explicit(&q->bytes, SEG_BYTES, memory_order_relaxed);
    }
    /* relaxed: published by the release CAS that links the segment */
    atomic_init(&s->enq, 0);
    atomic_init(&s->deq, 0);
    atomic_init(&s->next, NULL);
    s->index = index;
    s->q = q;
    return s;
}

static void seg_unmap(weft_queue *q, struct seg *s)
{
    munmap(s, SEG_BYTES);
    /* relaxed: a statistic */
    atomic_fetch_sub_explicit(&q->bytes, SEG_BYTES, memory_order_relaxed);
}

/* Keep s for reuse (the first keep slots only), or give it back. */
static void seg_keep(weft_queue *q, struct seg *s, int keep)
{
    for (int i = 0; i < keep; i++) {
        struct seg *none = NULL;
        /* release: pairs with the acquire exchange in take_spare; relaxed
         * on failure: the slot is taken, try the next */
        if (atomic_compare_exchange_strong_explicit(&q->spare[i], &none, s, memory_order_release,
                                                    memory_order_relaxed))
            return;
    }
    seg_unmap(q, s);
}

static void seg_drop(weft_queue *q, struct seg *s)
{
    seg_keep(q, s, SPARES);
}

/* A drained queue gives back all its kept segments but one. */
static void trim_spares(weft_queue *q)
{
    for (int i = 1; i < SPARES; i++) {
        /* acquire: as in take_spare */
        struct seg *s = atomic_exchange_explicit(&q->spare[i], NULL, memory_order_acquire);
        if (s != NULL)
            seg_keep(q, s, 1);
    }
}

/* weft_epoch's free_fn for a retired segment. */
static void seg_free(void *p)
{
    struct seg *s = (struct seg *)p;
    seg_drop(s->q, s);
}

/* ---- push ---------------------------------------------------------------- */

enum { PUSH_OK = 0, PUSH_AGAIN = -1 };

/* t is full: link a new segment holding item, or help the one linked. */
static COLD int push_next(weft_queue *q, struct seg *t, void *item)
{
    /* acquire: pairs with the release CAS below (another producer's) */
    struct seg *n = atomic_load_explicit(&t->next, memory_order_acquire);
    if (n == NULL) {
        struct seg *s = seg_new(q, t->index + 1);
        if (s == NULL)
            return ENOMEM;
        s->cells[0].item = item;
        /* relaxed: published by the CAS below */
        atomic_store_explicit(&s->cells[0].state, CELL_FULL, memory_order_relaxed);
        atomic_store_explicit(&s->enq, 1, memory_order_relaxed);
        WEFT_CHAOS_POINT();
        /* release: publishes s, its cell 0 included (pairs with the acquire
         * loads of next and of tail); acquire on failure: pairs with the
         * winner's release, so n is initialised when we use it */
        if (atomic_compare_exchange_strong_explicit(&t->next, &n, s, memory_order_release,
                                                    memory_order_acquire)) {
            WEFT_CHAOS_POINT(); /* tail lags: consumers must not retire t */
            /* release: pairs with the acquire load of tail in push_in;
             * relaxed on failure: someone else moved it */
            atomic_compare_exchange_strong_explicit(&q->tail, &t, s, memory_order_release,
                                                    memory_order_relaxed);
            return PUSH_OK;
        }
        seg_drop(q, s); /* never published */
    }
    /* help the producer that linked n (release, relaxed: as above) */
    atomic_compare_exchange_strong_explicit(&q->tail, &t, n, memory_order_release,
                                            memory_order_relaxed);
    return PUSH_AGAIN;
}

/* One push inside the caller's section. */
static inline int push_in(weft_queue *q, void *item)
{
    /* relaxed: the section's light fence (epoch_enter) orders it after the
     * announcement; pairs with close's barrier, see the top comment */
    if (UNLIKELY(atomic_load_explicit(&q->closed, memory_order_relaxed)))
        return EPIPE;
    for (;;) {
        /* acquire: pairs with the release CAS of tail: the segment is
         * initialised */
        struct seg *t = atomic_load_explicit(&q->tail, memory_order_acquire);
        /* relaxed: a ticket only picks the cell; its CAS orders the item */
        size_t i = atomic_fetch_add_explicit(&t->enq, 1, memory_order_relaxed);
        if (LIKELY(i < SEG_CELLS)) {
            struct cell *c = &t->cells[i];
            c->item = item;
            WEFT_CHAOS_POINT();
            uintptr_t empty = CELL_EMPTY;
            /* release: pairs with the acquire exchange in pop_in, which
             * then reads item; relaxed on failure: a consumer gave up on
             * the cell (TAKEN) and we take another */
            if (LIKELY(atomic_compare_exchange_strong_explicit(
                    &c->state, &empty, CELL_FULL, memory_order_release, memory_order_relaxed)))
                return PUSH_OK;
            continue;
        }
        int r = push_next(q, t, item);
        if (r != PUSH_AGAIN)
            return r;
    }
}

static inline void notify(weft_queue *q, int n)
{
    /* a compiler barrier and one load when nobody waits; pairs with the
     * fence of weft_eventcount_prepare in pop_wait */
    weft_internal_ec_notify(weft_internal_ec(&q->not_empty), n);
    /* after the same fence: one more load when no doorbell is attached */
    weft_internal_doorbell_ring_fenced(&q->doorbell);
}

/* A push found the queue closed: it reports EPIPE only once close has
 * sealed the queue, after every push still in flight has placed its item.
 * So the refusal comes after every success, and close is linearizable: at
 * its seal (a push that sees closed while close waits for the others would
 * otherwise fail before a push that began earlier succeeds).  Outside the
 * section: close's grace period waits for the sections. */
static COLD int push_refused(weft_queue *q)
{
    unsigned round = 0;
    /* acquire: pairs with the release store of sealed in close */
    while (!atomic_load_explicit(&q->sealed, memory_order_acquire))
        wait_rung_no_park(&round);
    return EPIPE;
}

int weft_queue_push(weft_queue *q, void *item)
{
    assert(q != NULL);
    struct epoch_rec *r = epoch_enter(q->dom);
    if (UNLIKELY(r == NULL))
        return ENOMEM;
    int rc = push_in(q, item);
    epoch_exit(r);
    if (LIKELY(rc == 0))
        notify(q, 1);
    else if (rc == EPIPE)
        return push_refused(q);
    return rc;
}

size_t weft_queue_push_many(weft_queue *q, void *const *items, size_t n)
{
    assert(q != NULL && (items != NULL || n == 0));
    struct epoch_rec *r = epoch_enter(q->dom);
    if (UNLIKELY(r == NULL)) {
        errno = ENOMEM;
        return 0;
    }
    size_t done = 0;
    int rc = 0;
    while (done < n && (rc = push_in(q, items[done])) == 0)
        done++;
    epoch_exit(r);
    if (done > 0)
        notify(q, done > INT_MAX ? INT_MAX : (int)done);
    if (done < n)
        errno = rc == EPIPE ? push_refused(q) : rc;
    return done;
}

/* ---- pop ----------------------------------------------------------------- */

/* h is used up and n follows it: move head on and retire h.  tail first:
 * a producer must never find a retired segment through tail. */
static COLD void pop_advance(weft_queue *q, struct seg *h, struct seg *n, bool *retired)
{
    struct seg *t = h;
    /* release: as in push_next; relaxed on failure: tail was past h */
    atomic_compare_exchange_strong_explicit(&q->tail, &t, n, memory_order_release,
                                            memory_order_relaxed);
    /* release: pairs with the acquire load of head in pop_in (n came from
     * an acquire load of next, so what it points to is initialised);
     * relaxed on failure: another consumer moved it and retires h */
    if (atomic_compare_exchange_strong_explicit(&q->head, &h, n, memory_order_release,
                                                memory_order_relaxed)) {
        weft_epoch_retire(q->dom, h, seg_free);
        /* relaxed: a cadence only */
        if (atomic_fetch_add_explicit(&q->retires, 1, memory_order_relaxed) % RECLAIM_EVERY ==
            RECLAIM_EVERY - 1)
            *retired = true;
    }
}

/* One pop inside the caller's section. */
static inline bool pop_in(weft_queue *q, void **item, bool *retired)
{
    for (;;) {
        /* acquire: pairs with the release CAS of head in pop_advance */
        struct seg *h = atomic_load_explicit(&q->head, memory_order_acquire);
        /* relaxed: hints that spare a ticket on an empty queue (a pop that
         * reads stale values takes a ticket and learns from the cell) */
        size_t d = atomic_load_explicit(&h->deq, memory_order_relaxed);
        if (d >= SEG_CELLS) {
            /* acquire: pairs with the release CAS in push_next */
            struct seg *n = atomic_load_explicit(&h->next, memory_order_acquire);
            if (n == NULL)
                return false;
            pop_advance(q, h, n, retired);
            continue;
        }
        /* A filled cell at deq: take a ticket without touching enq, the
         * producers' line.  Else compare with enq: deq >= enq with no next
         * segment is empty. */
        if (atomic_load_explicit(&h->cells[d].state, memory_order_relaxed) == CELL_EMPTY &&
            d >= atomic_load_explicit(&h->enq, memory_order_relaxed) &&
            atomic_load_explicit(&h->next, memory_order_relaxed) == NULL)
            return false;
        /* relaxed: a ticket only picks the cell; its exchange orders */
        size_t i = atomic_fetch_add_explicit(&h->deq, 1, memory_order_relaxed);
        if (UNLIKELY(i >= SEG_CELLS))
            continue; /* past the end: the check above moves on */
        WEFT_CHAOS_POINT();
        /* acquire: pairs with the release CAS of the producer, so item is
         * written; TAKEN tells a producer still to come to go elsewhere */
        uintptr_t s =
            atomic_exchange_explicit(&h->cells[i].state, CELL_TAKEN, memory_order_acquire);
        if (LIKELY(s == CELL_FULL)) {
            *item = h->cells[i].item;
            return true;
        }
    }
}

/* After an operation that retired segments: one advance and what it frees,
 * outside the section. */
static COLD void reclaim(weft_queue *q)
{
    weft_internal_epoch_poll(q->dom, 1);
}

/* The trim interval of empty pops: a consumer polling a queue that is
 * often empty must not pay three advances per poll. */
#define TRIM_NS 1000000u /* 1 ms */

/* An empty pop on a queue holding more than its live segment and one
 * spare: free what was retired, keep one spare (at most every TRIM_NS). */
static COLD void trim_if_due(weft_queue *q)
{
    /* relaxed: hints.  Nothing retired since the last trim: nothing new */
    unsigned r = atomic_load_explicit(&q->retires, memory_order_relaxed);
    if (r == atomic_load_explicit(&q->trimmed_at, memory_order_relaxed))
        return;
    uint64_t now = now_ns();
    /* relaxed: a rate limit; two trims at once are harmless */
    if (now < atomic_load_explicit(&q->next_trim, memory_order_relaxed))
        return;
    atomic_store_explicit(&q->next_trim, now + TRIM_NS, memory_order_relaxed);
    atomic_store_explicit(&q->trimmed_at, r, memory_order_relaxed);
    weft_internal_epoch_poll(q->dom, EPOCH_GRACE);
    trim_spares(q);
}

static inline bool drained_with_garbage(const weft_queue *q)
{
    /* relaxed: a statistic, read as a hint */
    return atomic_load_explicit(&q->bytes, memory_order_relaxed) > 2 * SEG_BYTES;
}

/* Closed and drained: free everything retired (waiting for the sections
 * still open), keep one spare, wake the other consumers: EPIPE. */
static COLD int pop_closed(weft_queue *q)
{
    if (drained_with_garbage(q)) { /* a pop after the first EPIPE: nothing */
        weft_epoch_synchronize(q->dom);
        trim_spares(q);
    }
    weft_eventcount_notify_all(&q->not_empty);
    return EPIPE;
}

bool weft_queue_try_pop(weft_queue *q, void **item)
{
    assert(q != NULL && item != NULL);
    struct epoch_rec *r = epoch_enter(q->dom);
    if (UNLIKELY(r == NULL))
        return false;
    bool retired = false;
    bool got = pop_in(q, item, &retired);
    epoch_exit(r);
    if (UNLIKELY(retired))
        reclaim(q);
    if (UNLIKELY(!got) && drained_with_garbage(q))
        trim_if_due(q);
    return got;
}

size_t weft_queue_try_pop_many(weft_queue *q, void **items, size_t n)
{
    assert(q != NULL && (items != NULL || n == 0));
    struct epoch_rec *r = epoch_enter(q->dom);
    if (UNLIKELY(r == NULL))
        return 0;
    bool retired = false;
    size_t got = 0;
    while (got < n && pop_in(q, &items[got], &retired))
        got++;
    epoch_exit(r);
    if (UNLIKELY(retired))
        reclaim(q);
    if (UNLIKELY(got < n) && drained_with_garbage(q))
        trim_if_due(q);
    return got;
}

/* The blocking pop once the queue was found empty: the ladder of wait.h
 * around try_pop, parked on not_empty. */
static COLD int pop_wait(weft_queue *q, void **item, struct deadline d)
{
    weft_eventcount *ec = &q->not_empty;
    for (unsigned round = 0;;) {
        /* acquire: pairs with the release store in close: every push that
         * succeeded has its item in the queue, so empty now means drained */
        if (atomic_load_explicit(&q->sealed, memory_order_acquire)) {
            if (weft_queue_try_pop(q, item))
                return 0;
            return pop_closed(q);
        }
        enum wait_rung rung = wait_rung(&round, d);
        if (rung == WAIT_TIMEOUT)
            return ETIMEDOUT;
        if (rung == WAIT_PARK) {
            uint32_t key = weft_eventcount_prepare(ec);
            /* the re-check after announcing: prepare's fence pairs with
             * the light fence of notify, so either this pop sees the item,
             * or the push sees us announced */
            if (weft_queue_try_pop(q, item)) {
                weft_eventcount_cancel(ec);
                return 0;
            }
            /* relaxed: seen again, with acquire, at the top of the loop */
            if (atomic_load_explicit(&q->sealed, memory_order_relaxed)) {
                weft_eventcount_cancel(ec);
                continue;
            }
            (void)wait_park(ec, key, d);
        }
        if (weft_queue_try_pop(q, item))
            return 0;
    }
}

int weft_queue_pop(weft_queue *q, void **item)
{
    assert(q != NULL && item != NULL);
    if (LIKELY(weft_queue_try_pop(q, item)))
        return 0;
    return pop_wait(q, item, deadline_none());
}

int weft_queue_pop_timed(weft_queue *q, void **item, uint64_t timeout_ns)
{
    assert(q != NULL && item != NULL);
    if (LIKELY(weft_queue_try_pop(q, item)))
        return 0;
    if (timeout_ns == 0) {
        /* acquire: as in pop_wait */
        if (!atomic_load_explicit(&q->sealed, memory_order_acquire))
            return ETIMEDOUT;
        return weft_queue_try_pop(q, item) ? 0 : pop_closed(q);
    }
    return pop_wait(q, item, deadline_in(timeout_ns));
}

/* ---- close, queries, create, destroy -------------------------------------- */

void weft_queue_close(weft_queue *q)
{
    assert(q != NULL);
    /* relaxed: the grace period below is what orders it against every
     * push (its advances fence: pairs with epoch_enter's light fence) */
    atomic_store_explicit(&q->closed, 1, memory_order_relaxed);
    weft_internal_epoch_barrier(q->dom);
    /* release: pairs with the acquire loads of sealed in the pops: the
     * pushes the grace period waited for happen before */
    atomic_store_explicit(&q->sealed, 1, memory_order_release);
    weft_eventcount_notify_all(&q->not_empty);
    weft_internal_doorbell_ring_fenced(&q->doorbell); /* after notify_all's fence */
}

int weft_queue_set_doorbell(weft_queue *q, weft_doorbell *db)
{
    if (q == NULL)
        return EINVAL;
    weft_internal_doorbell_attach(&q->doorbell, db);
    return 0;
}

bool weft_queue_closed(const weft_queue *q)
{
    assert(q != NULL);
    /* relaxed: a query; ordering is the caller's business */
    return atomic_load_explicit(&q->closed, memory_order_relaxed) != 0;
}

static size_t position(const struct seg *s, const atomic_size_t *ticket)
{
    /* relaxed: an estimate */
    size_t i = atomic_load_explicit(ticket, memory_order_relaxed);
    return (size_t)s->index * SEG_CELLS + (i < SEG_CELLS ? i : SEG_CELLS);
}

size_t weft_queue_size(const weft_queue *q)
{
    assert(q != NULL);
    struct epoch_rec *r = epoch_enter(q->dom);
    if (r == NULL)
        return 0;
    /* acquire: as in push_in and pop_in (we read the segments) */
    struct seg *h = atomic_load_explicit(&q->head, memory_order_acquire);
    struct seg *t = atomic_load_explicit(&q->tail, memory_order_acquire);
    size_t out = position(h, &h->deq), in = position(t, &t->enq);
    epoch_exit(r);
    return in > out ? in - out : 0;
}

size_t weft_queue_memory(const weft_queue *q)
{
    assert(q != NULL);
    /* relaxed: a statistic */
    return sizeof *q + atomic_load_explicit(&q->bytes, memory_order_relaxed);
}

weft_queue *weft_queue_create(void)
{
    weft_queue *q = (weft_queue *)aligned_alloc(LINE_PAIR_BYTES, sizeof *q);
    if (q == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memset(q, 0, sizeof *q);
    atomic_init(&q->bytes, 0);
    for (int i = 0; i < SPARES; i++)
        atomic_init(&q->spare[i], NULL);
    atomic_init(&q->retires, 0);
    atomic_init(&q->next_trim, 0);
    atomic_init(&q->trimmed_at, 0);
    struct seg *s = seg_new(q, 0);
    q->dom = s ? weft_epoch_create() : NULL;
    if (q->dom == NULL) {
        if (s != NULL)
            seg_unmap(q, s);
        free(q);
        errno = ENOMEM;
        return NULL;
    }
    /* relaxed: the queue is handed to other threads by the caller */
    atomic_init(&q->head, s);
    atomic_init(&q->tail, s);
    atomic_init(&q->closed, 0);
    atomic_init(&q->doorbell, NULL);
    atomic_init(&q->sealed, 0);
    weft_eventcount_init(&q->not_empty, 0);
    return q;
}

void weft_queue_destroy(weft_queue *q)
{
    if (q == NULL)
        return;
    weft_epoch_destroy(q->dom); /* frees the retired segments (into spares) */
    /* relaxed: every other call has returned (the caller's promise) */
    struct seg *s = atomic_load_explicit(&q->head, memory_order_relaxed);
    while (s != NULL) {
        struct seg *n = atomic_load_explicit(&s->next, memory_order_relaxed);
        seg_unmap(q, s);
        s = n;
    }
    while ((s = take_spare(q)) != NULL)
        seg_unmap(q, s);
    free(q);
}
