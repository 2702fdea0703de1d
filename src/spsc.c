/*
 * spsc.c - bounded single-producer/single-consumer ring; the contract is in
 * include/weft/spsc.h.
 *
 * Algorithm.  The ring is Lamport's concurrent FIFO for one producer and one
 * consumer (L. Lamport, "Specifying Concurrent Program Modules", ACM TOPLAS
 * 5(2), 1983): an array of slots and two free-running counters, tail (next
 * slot to fill, written only by the producer) and head (next slot to empty,
 * written only by the consumer).  The ring is empty when head == tail and
 * full when tail - head == capacity; because each counter has one writer no
 * read-modify-write is needed, only a release store to publish a counter
 * and an acquire load to read the other one.  Lamport's version reads the
 * other side's counter on every operation, which moves a contended cache
 * line between the cores each time.  FastForward (J. Giacomoni, T. Moseley
 * and M. Vachharajani, "FastForward for Efficient Pipeline Parallelism: A
 * Cache-Optimized Concurrent Lock-Free Queue", PPoPP 2008) removed that
 * traffic by letting each side decide from the slots themselves; we keep
 * Lamport's counters instead and take the cheaper middle road popularised by
 * rigtorp's SPSCQueue: each side keeps a private cached copy of the other's
 * counter and reloads the shared counter only when the copy says full
 * (producer) or empty (consumer).  In steady state the producer then reads
 * the consumer's line once per lap of free space, and the consumer the
 * producer's line once per run of available items.  Counters are size_t and
 * only ever compared by unsigned difference, so they may wrap.
 *
 * Slots are relaxed atomics of void *: the producer's release store of tail
 * after writing a slot, paired with the consumer's acquire load of tail
 * before reading it, orders the slot (and whatever the item points to); the
 * consumer's release store of head after reading a slot, paired with the
 * producer's acquire load of head, keeps the producer from overwriting a slot
 * before it was read.  They are atomics only so that C11 (and TSan) see no
 * data race when a slot's line is shared; relaxed accesses compile to plain
 * moves.  A batch writes all its slots, then publishes tail once.
 *
 * Close without a read-modify-write on the push path.  A push that checked
 * "not closed" and is about to publish must still be delivered, so a pop may
 * report EPIPE only when no such push can be in flight.  Before it reads the
 * gate word, a push of k items at tail t stores t + k in prod_entered (its
 * own cache line); publishing tail = t + k then ends it, so no second store
 * is needed, and a push that finds the ring closed puts prod_entered back
 * to t.  A push is in flight exactly while prod_entered != tail.  Close
 * sets the gate's CLOSED bit, then fences, then sets sealed.  This is
 * Dekker's pattern: with a fence between each side's store and load, either
 * the push sees closed (and fails), or close's fence comes after the push's
 * store of prod_entered, so a pop that saw sealed (acquire) also sees that
 * store or a later one.  A pop thus reports EPIPE only when sealed, empty
 * and prod_entered == tail (no push between its check and its
 * publication).  The fence pair is asymmetric, as in the eventcount: the
 * push side is a compiler barrier and close issues membarrier(2), which
 * runs a full barrier on every CPU that runs a thread of this process;
 * process-shared rings (and the TSan build) use a seq_cst fence on both
 * sides.
 *
 * The fast path is kept short because at 1P1C a push or pop costs only a few
 * nanoseconds: the gate word holds both the CLOSED bit and a FENCED bit (set
 * at init when the light fence must be a real one), so one load and one
 * branch decide "not closed, no fence needed" for the whole push, including
 * its wake-up check.  Each side reads its own index back with a relaxed load
 * (it is the only writer) instead of keeping a private copy.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <weft/spsc.h>

#include "chaos.h"
#include "spin.h"
#include "eventcount_internal.h"

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
/* The fast paths are inlined into each public function even where the
 * compiler would rather call them: at 1P1C a call is a sizeable part of
 * an operation's cost. */
#define HOT_INLINE inline __attribute__((always_inline))

/* Bounded spinning before a blocking operation yields, and yielding before
 * it parks: short enough that an oversubscribed machine loses little, long
 * enough that a ring that is only briefly full or empty costs no syscall. */
enum { SPIN_TRIES = 64, YIELD_TRIES = 16 };

/* Groups of fields are spaced two cache lines apart: the line after each
 * group is padding that nobody touches, so the adjacent-line prefetcher
 * (which fetches 128-byte pairs) never couples two groups, whatever the
 * alignment of the block modulo 128. */
#define GROUP_SPACING (2 * WEFT_CACHELINE)

/* The array has two slots per unit of capacity, and positions map to slots
 * modulo the array size, while at most capacity items are in the ring.  A
 * full ring's producer then refills the slot capacity positions past the
 * one the consumer reads next, half an array away, instead of the slot the
 * consumer has just emptied, which shares its cache line with the next ones
 * the consumer reads: with one slot per unit, every refill of a full ring
 * takes that line from the consumer.  Measured with bench/bench_rings at
 * capacity 1024, 1P1C, single items: about +10 % (140 -> 153 M items/s) in
 * runs where the ring stays full, no change otherwise; the price is
 * sizeof(void *) more bytes per unit of capacity. */
#define SLOTS_PER_ITEM 2
_Static_assert((SLOTS_PER_ITEM & (SLOTS_PER_ITEM - 1)) == 0, "a power of two");

/* Bits of the gate word; a push with gate == 0 takes the fast path. */
#define GATE_CLOSED 1u /* weft_spsc_close was called */
#define GATE_FENCED 2u /* the light fence must be a seq_cst fence */

struct weft_spsc {
    /* Read by both sides on every operation, written only at init and once
     * by close: shared read-only in every cache in steady state. */
    alignas(WEFT_CACHELINE) size_t mask; /* capacity - 1 */
    size_t slot_mask;                    /* 2 * capacity - 1: see SLOTS_PER_ITEM */
    unsigned flags;                      /* 0 or WEFT_SHARED */
    atomic_uint gate;   /* GATE_CLOSED | GATE_FENCED; read by every push */
    unsigned fenced;    /* light fences are real fences (GATE_FENCED) */
    atomic_uint sealed; /* 1 once close has fenced; read by pops on empty */
    alignas(WEFT_CACHELINE) char pad_config[WEFT_CACHELINE];

    /* Parked threads announce themselves here (written only when parking);
     * each side reads the other's waiter count once per operation. */
    alignas(WEFT_CACHELINE) weft_eventcount not_empty; /* the consumer parks */
    weft_eventcount not_full;                          /* the producer parks */
    alignas(WEFT_CACHELINE) char pad_ec[WEFT_CACHELINE];

    /* Written and read by the producer only (prod_entered is also read by
     * pops on a sealed ring and by nobody else). */
    alignas(WEFT_CACHELINE) size_t prod_head_cache; /* last head the producer read */
    atomic_size_t prod_entered; /* tail + k inside a push of k; else tail */
    alignas(WEFT_CACHELINE) char pad_prod[WEFT_CACHELINE];

    /* Written by the producer, read by the consumer when its cache is out. */
    alignas(WEFT_CACHELINE) atomic_size_t tail;
    alignas(WEFT_CACHELINE) char pad_tail[WEFT_CACHELINE];

    /* Written by the consumer, read by the producer when its cache is out. */
    alignas(WEFT_CACHELINE) atomic_size_t head;
    alignas(WEFT_CACHELINE) char pad_head[WEFT_CACHELINE];

    /* Written and read by the consumer only. */
    alignas(WEFT_CACHELINE) size_t cons_tail_cache; /* last tail the consumer read */
    alignas(WEFT_CACHELINE) char pad_cons[WEFT_CACHELINE];

    alignas(WEFT_CACHELINE) _Atomic(void *) slots[];
};

/* Each group of fields that one side writes sits alone in its own pair of
 * cache lines: every group starts a line, fits in it, and the next group
 * starts GROUP_SPACING or more later. */
#define SPSC_OWN_LINE(prev, last, next)                                              \
    _Static_assert(offsetof(struct weft_spsc, next) % WEFT_CACHELINE == 0 &&          \
                       offsetof(struct weft_spsc, next) - offsetof(struct weft_spsc, prev) >= \
                           GROUP_SPACING &&                                           \
                       offsetof(struct weft_spsc, last) + sizeof(((struct weft_spsc *)0)->last) <= \
                           offsetof(struct weft_spsc, prev) + WEFT_CACHELINE,  \
                   #prev " .. " #last " and " #next " share a cache line pair")
SPSC_OWN_LINE(mask, sealed, not_empty);
SPSC_OWN_LINE(not_empty, not_full, prod_head_cache);
SPSC_OWN_LINE(prod_head_cache, prod_entered, tail);
SPSC_OWN_LINE(tail, tail, head);
SPSC_OWN_LINE(head, head, cons_tail_cache);
SPSC_OWN_LINE(cons_tail_cache, cons_tail_cache, slots);
_Static_assert(sizeof(_Atomic(void *)) == sizeof(void *), "slots are plain pointers");

static inline struct weft_internal_ec *ec_of(weft_eventcount *ec)
{
    return weft_internal_ec(ec);
}

/* The slot of position pos (see SLOTS_PER_ITEM). */
static inline _Atomic(void *) *slot_at(struct weft_spsc *q, size_t pos)
{
    return &q->slots[pos & q->slot_mask];
}

/* ---- sizes -------------------------------------------------------------- */

/* Power of two >= capacity, or 0 when there is none in a size_t. */
static size_t round_capacity(size_t capacity)
{
    size_t cap = 1;
    if (capacity == 0 || capacity > (SIZE_MAX >> 1) + 1)
        return 0;
    while (cap < capacity)
        cap <<= 1;
    return cap;
}

size_t weft_spsc_footprint(size_t capacity)
{
    size_t cap = round_capacity(capacity);
    /* leave WEFT_CACHELINE spare: create rounds the size up to a line */
    if (cap == 0 ||
        cap > (SIZE_MAX - sizeof(struct weft_spsc) - WEFT_CACHELINE) / sizeof(void *) /
                  SLOTS_PER_ITEM)
        return 0;
    return sizeof(struct weft_spsc) + SLOTS_PER_ITEM * cap * sizeof(void *);
}

weft_spsc *weft_spsc_init(void *mem, size_t capacity, unsigned flags)
{
    size_t bytes = weft_spsc_footprint(capacity);
    if (mem == NULL || (uintptr_t)mem % WEFT_CACHELINE != 0 || bytes == 0 ||
        (flags & ~WEFT_SHARED) != 0) {
        errno = EINVAL;
        return NULL;
    }
    struct weft_spsc *q = mem;
    q->mask = round_capacity(capacity) - 1;
    q->slot_mask = SLOTS_PER_ITEM * (q->mask + 1) - 1;
    q->flags = flags;
    /* atomic_init: the ring is not shared yet; handing it over is the
     * caller's synchronisation */
    atomic_init(&q->sealed, 0);
    weft_eventcount_init(&q->not_empty, flags);
    weft_eventcount_init(&q->not_full, flags);
    /* the eventcount knows whether waiters issue membarrier (asym); when
     * they do not (process-shared, TSan, no membarrier), both the close
     * Dekker pair and the wake-up check need real fences */
    q->fenced = ec_of(&q->not_empty)->asym ? 0 : 1;
    atomic_init(&q->gate, q->fenced ? GATE_FENCED : 0);
    q->prod_head_cache = 0;
    atomic_init(&q->prod_entered, 0);
    atomic_init(&q->tail, 0);
    atomic_init(&q->head, 0);
    q->cons_tail_cache = 0;
    return q;
}

weft_spsc *weft_spsc_create(size_t capacity)
{
    size_t bytes = weft_spsc_footprint(capacity);
    if (bytes == 0) {
        errno = EINVAL;
        return NULL;
    }
    /* aligned_alloc wants a multiple of the alignment */
    bytes = (bytes + WEFT_CACHELINE - 1) / WEFT_CACHELINE * WEFT_CACHELINE;
    void *mem = aligned_alloc(WEFT_CACHELINE, bytes);
    if (mem == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    return weft_spsc_init(mem, capacity, 0);
}

void weft_spsc_destroy(weft_spsc *q)
{
    free(q);
}

size_t weft_spsc_capacity(const weft_spsc *q)
{
    assert(q != NULL);
    return q->mask + 1;
}

size_t weft_spsc_size(const weft_spsc *q)
{
    assert(q != NULL);
    struct weft_spsc *m = (struct weft_spsc *)q; /* atomic loads take non-const */
    /* acquire: pairs with the consumer's release store of head; the tail the
     * consumer had read before storing this head then happens-before the
     * load of tail below, which therefore cannot return less than h. */
    size_t h = atomic_load_explicit(&m->head, memory_order_acquire);
    /* relaxed: any value at least h is a size the ring had meanwhile */
    size_t t = atomic_load_explicit(&m->tail, memory_order_relaxed);
    size_t n = t - h;
    return n > m->mask ? m->mask + 1 : n;
}

bool weft_spsc_closed(const weft_spsc *q)
{
    assert(q != NULL);
    struct weft_spsc *m = (struct weft_spsc *)q;
    /* acquire: pairs with nothing that carries data; a caller that sees 1
     * and then pushes from the same thread fails by coherence */
    return (atomic_load_explicit(&m->gate, memory_order_acquire) & GATE_CLOSED) != 0;
}

/* ---- the producer ------------------------------------------------------ */

/* Enter a push of k items at tail t: announce it, then read the gate.
 * Returns the gate (0 on the fast path: open, no fence needed), or UINT_MAX
 * when closed (the announcement withdrawn). */
static HOT_INLINE unsigned producer_enter(struct weft_spsc *q, size_t t, size_t k)
{
    /* relaxed: ordered before the load of the gate by the fence below; the
     * release store of tail = t + k in the caller ends the push */
    atomic_store_explicit(&q->prod_entered, t + k, memory_order_relaxed);
    /* the light side of the close fence: a compiler barrier, enough when
     * close issues membarrier (gate has no FENCED bit); pairs with
     * close_fence_heavy */
    atomic_signal_fence(memory_order_seq_cst);
    /* relaxed: the load half of the Dekker pair with close's fetch_or of
     * GATE_CLOSED and its heavy fence */
    unsigned gate = atomic_load_explicit(&q->gate, memory_order_relaxed);
    if (LIKELY(gate == 0))
        return 0;
    if (gate & GATE_FENCED) {
        /* seq_cst: the real light fence (process-shared ring, TSan);
         * pairs with the seq_cst fence in close_fence_heavy.  The gate is
         * read again after it. */
        atomic_thread_fence(memory_order_seq_cst);
        /* relaxed: as above */
        gate = atomic_load_explicit(&q->gate, memory_order_relaxed);
    }
    if (gate & GATE_CLOSED) {
        /* release: this push published nothing, but a pop that reads t
         * here must still see the tail of the pushes before it (pairs with
         * the acquire load of prod_entered in pop_slow; C11 release
         * sequences no longer carry a plain store, so say it here).  A pop
         * that still sees t + k waits for this store. */
        atomic_store_explicit(&q->prod_entered, t, memory_order_release);
        return UINT_MAX;
    }
    return gate;
}

/* The notifier's fence between publishing an index and reading a waiter
 * count: a compiler barrier when waiters issue membarrier, else seq_cst.
 * Pairs with the fence in weft_eventcount_prepare. */
static inline void notify_fence(unsigned fenced)
{
    if (UNLIKELY(fenced))
        atomic_thread_fence(memory_order_seq_cst); /* pairs with prepare's fence */
    else
        atomic_signal_fence(memory_order_seq_cst); /* pairs with prepare's membarrier */
}

/* Leave a push that published its items (its release store of tail ended
 * it for pop_slow); gate as producer_enter returned. */
static HOT_INLINE void producer_leave(struct weft_spsc *q, unsigned gate)
{
    /* the consumer may be parked on empty: wake it.  The fence orders the
     * tail store before the load of the waiter count (one relaxed load when
     * nobody waits) */
    notify_fence(gate & GATE_FENCED);
    weft_internal_ec_notify_fenced(ec_of(&q->not_empty), 1);
}

/* Free slots as the producer sees them at tail t, reloading head only when
 * the cached copy shows fewer than want. */
static HOT_INLINE size_t producer_space(struct weft_spsc *q, size_t t, size_t want)
{
    size_t cap = q->mask + 1;
    size_t space = cap - (t - q->prod_head_cache);
    if (UNLIKELY(space < want)) {
        /* acquire: pairs with the consumer's release store of head; the
         * consumer's reads of the slots it freed happen before we refill
         * them */
        q->prod_head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
        space = cap - (t - q->prod_head_cache);
    }
    return space;
}

/* 0 pushed, EAGAIN full, EPIPE closed. */
static inline size_t producer_tail(struct weft_spsc *q)
{
    /* relaxed: the producer is the only writer of tail; it reads its own
     * last store */
    return atomic_load_explicit(&q->tail, memory_order_relaxed);
}

static HOT_INLINE int push_one(struct weft_spsc *q, void *item)
{
    size_t t = producer_tail(q);
    if (UNLIKELY(producer_space(q, t, 1) == 0))
        return EAGAIN;
    unsigned gate = producer_enter(q, t, 1);
    if (UNLIKELY(gate == UINT_MAX))
        return EPIPE;
    /* relaxed: published by the release store of tail below */
    atomic_store_explicit(slot_at(q, t), item, memory_order_relaxed);
    WEFT_CHAOS_POINT();
    /* release: pairs with the acquire load of tail in consumer_avail; the
     * slot and the caller's writes before the push are visible to the pop.
     * It also ends the push for pop_slow (tail == prod_entered again) */
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    producer_leave(q, gate);
    return 0;
}

bool weft_spsc_try_push(weft_spsc *q, void *item)
{
    assert(q != NULL);
    return push_one(q, item) == 0;
}

size_t weft_spsc_try_push_many(weft_spsc *q, void *const *items, size_t n)
{
    assert(q != NULL);
    if (n == 0)
        return 0;
    size_t t = producer_tail(q);
    size_t space = producer_space(q, t, n);
    size_t k = n < space ? n : space;
    if (k == 0)
        return 0;
    unsigned gate = producer_enter(q, t, k);
    if (gate == UINT_MAX)
        return 0;
    for (size_t i = 0; i < k; i++) {
        /* relaxed: published by the release store of tail below */
        atomic_store_explicit(slot_at(q, t + i), items[i], memory_order_relaxed);
    }
    WEFT_CHAOS_POINT();
    /* release: as in push_one; one store publishes the whole batch */
    atomic_store_explicit(&q->tail, t + k, memory_order_release);
    producer_leave(q, gate);
    return k;
}

/* ---- the consumer ------------------------------------------------------ */

/* Items available to the consumer at head h, reloading tail only when the
 * cached copy shows fewer than want. */
static HOT_INLINE size_t consumer_avail(struct weft_spsc *q, size_t h, size_t want)
{
    size_t avail = q->cons_tail_cache - h;
    if (UNLIKELY(avail < want)) {
        /* acquire: pairs with the producer's release store of tail; the
         * slots it filled (and what their items point to) are visible */
        q->cons_tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
        avail = q->cons_tail_cache - h;
    }
    return avail;
}

static inline size_t consumer_head(struct weft_spsc *q)
{
    /* relaxed: the consumer is the only writer of head; it reads its own
     * last store */
    return atomic_load_explicit(&q->head, memory_order_relaxed);
}

static HOT_INLINE void consumer_publish(struct weft_spsc *q, size_t h)
{
    /* release: pairs with the acquire load of head in producer_space; our
     * reads of the freed slots happen before the producer refills them */
    atomic_store_explicit(&q->head, h, memory_order_release);
    /* the producer may be parked on full: wake it (one relaxed load when
     * not); the fence pairs with the one in eventcount_prepare */
    notify_fence(q->fenced);
    weft_internal_ec_notify_fenced(ec_of(&q->not_full), 1);
}

static HOT_INLINE bool pop_one(struct weft_spsc *q, void **item)
{
    size_t h = consumer_head(q);
    if (UNLIKELY(consumer_avail(q, h, 1) == 0))
        return false;
    /* relaxed: ordered by the acquire load of tail in consumer_avail */
    *item = atomic_load_explicit(slot_at(q, h), memory_order_relaxed);
    consumer_publish(q, h + 1);
    return true;
}

bool weft_spsc_try_pop(weft_spsc *q, void **item)
{
    assert(q != NULL && item != NULL);
    return pop_one(q, item);
}

size_t weft_spsc_try_pop_many(weft_spsc *q, void **items, size_t n)
{
    assert(q != NULL);
    if (n == 0)
        return 0;
    size_t h = consumer_head(q);
    size_t avail = consumer_avail(q, h, n);
    size_t k = n < avail ? n : avail;
    if (k == 0)
        return 0;
    for (size_t i = 0; i < k; i++) {
        /* relaxed: ordered by the acquire load of tail in consumer_avail */
        items[i] = atomic_load_explicit(slot_at(q, h + i), memory_order_relaxed);
    }
    consumer_publish(q, h + k);
    return k;
}

/* ---- blocking ------------------------------------------------------------ */

/* A wait's deadline; forever: timed is false. */
struct deadline {
    bool timed;
    uint64_t at; /* CLOCK_MONOTONIC ns */
};

static struct deadline deadline_after(bool timed, uint64_t timeout_ns)
{
    struct deadline d = { timed, timed ? deadline_ns(timeout_ns) : 0 };
    return d;
}

/* Nanoseconds left (at least 1), or 0 when the deadline passed. */
static uint64_t time_left(const struct deadline *d)
{
    uint64_t now = now_ns();
    return now >= d->at ? 0 : d->at - now;
}

/* One step of the spin / yield / park ladder: returns after a spin or a
 * yield, or after a park on ec that the caller's condition (checked after
 * announcing, through ready()) did not cancel.  ETIMEDOUT when the deadline
 * passed, else 0. */
static int wait_step(struct weft_spsc *q, weft_eventcount *ec, unsigned *round,
                     const struct deadline *d, bool (*ready)(struct weft_spsc *))
{
    if (*round < SPIN_TRIES) {
        ++*round;
        cpu_relax();
        return 0;
    }
    uint64_t left = d->timed ? time_left(d) : 0;
    if (d->timed && left == 0)
        return ETIMEDOUT;
    if (*round < SPIN_TRIES + YIELD_TRIES) {
        ++*round;
        sched_yield();
        return 0;
    }
    WEFT_CHAOS_POINT();
    uint32_t key = weft_eventcount_prepare(ec);
    /* the re-check after announcing: prepare's fence pairs with the
     * notifier's light fence, so either ready() sees its publication or the
     * notifier sees us announced */
    if (ready(q)) {
        weft_eventcount_cancel(ec);
        return 0;
    }
    if (d->timed)
        (void)weft_eventcount_wait_timed(ec, key, left);
    else
        weft_eventcount_wait(ec, key);
    return 0;
}

/* The producer may stop waiting: there is room, or the ring is closed. */
static bool producer_ready(struct weft_spsc *q)
{
    /* acquire: pairs with close's relaxed store made visible by its fences;
     * only the value matters here (relaxed would do, acquire is free) */
    return producer_space(q, producer_tail(q), 1) != 0 ||
           (atomic_load_explicit(&q->gate, memory_order_acquire) & GATE_CLOSED) != 0;
}

/* The consumer may stop waiting: an item arrived, or the ring is sealed. */
static bool consumer_ready(struct weft_spsc *q)
{
    /* acquire: pairs with the release store of sealed in weft_spsc_close */
    return consumer_avail(q, consumer_head(q), 1) != 0 ||
           atomic_load_explicit(&q->sealed, memory_order_acquire) != 0;
}

static __attribute__((noinline, cold)) int push_slow(struct weft_spsc *q, void *item, bool timed,
                                                     uint64_t timeout_ns)
{
    struct deadline d = deadline_after(timed, timeout_ns);
    unsigned round = 0;
    for (;;) {
        int rc = push_one(q, item);
        if (rc != EAGAIN)
            return rc;
        /* full: a closed ring stays full, so give up now.  relaxed: only
         * the value matters, nothing is read after it */
        if ((atomic_load_explicit(&q->gate, memory_order_relaxed) & GATE_CLOSED) != 0)
            return EPIPE;
        if (wait_step(q, &q->not_full, &round, &d, producer_ready) == ETIMEDOUT)
            return ETIMEDOUT;
    }
}

int weft_spsc_push(weft_spsc *q, void *item)
{
    assert(q != NULL);
    int rc = push_one(q, item);
    return LIKELY(rc != EAGAIN) ? rc : push_slow(q, item, false, 0);
}

int weft_spsc_push_timed(weft_spsc *q, void *item, uint64_t timeout_ns)
{
    assert(q != NULL);
    int rc = push_one(q, item);
    return LIKELY(rc != EAGAIN) ? rc : push_slow(q, item, true, timeout_ns);
}

static __attribute__((noinline, cold)) int pop_slow(struct weft_spsc *q, void **item, bool timed,
                                                    uint64_t timeout_ns)
{
    struct deadline d = deadline_after(timed, timeout_ns);
    unsigned round = 0;
    for (;;) {
        if (pop_one(q, item))
            return 0;
        /* acquire: pairs with the release store of sealed in close; close's
         * fence then comes before our load of prod_entered below */
        if (atomic_load_explicit(&q->sealed, memory_order_acquire) != 0) {
            /* acquire: pairs with the withdrawing release store in
             * producer_enter.  Every push that can still succeed stored
             * prod_entered before close's fence, so this load returns its
             * value (or a later one) */
            size_t entered = atomic_load_explicit(&q->prod_entered, memory_order_acquire);
            /* acquire: pairs with the release store of tail in push_one and
             * try_push_many; equal to entered, the push that close's fence
             * raced with is over (published or withdrawn), its items are
             * visible, and no later push can succeed */
            if (atomic_load_explicit(&q->tail, memory_order_acquire) == entered)
                return pop_one(q, item) ? 0 : EPIPE;
            /* a push is between its closed check and its publication: it
             * ends within a few instructions unless preempted; wait for it
             * without parking (it notifies only when it publishes) */
            if (d.timed && time_left(&d) == 0)
                return ETIMEDOUT;
            sched_yield();
            continue;
        }
        if (wait_step(q, &q->not_empty, &round, &d, consumer_ready) == ETIMEDOUT)
            return ETIMEDOUT;
    }
}

int weft_spsc_pop(weft_spsc *q, void **item)
{
    assert(q != NULL && item != NULL);
    return LIKELY(pop_one(q, item)) ? 0 : pop_slow(q, item, false, 0);
}

int weft_spsc_pop_timed(weft_spsc *q, void **item, uint64_t timeout_ns)
{
    assert(q != NULL && item != NULL);
    return LIKELY(pop_one(q, item)) ? 0 : pop_slow(q, item, true, timeout_ns);
}

/* ---- close ---------------------------------------------------------------- */

/* The heavy side of the close fence; pairs with the light one in
 * producer_enter.  membarrier(PRIVATE_EXPEDITED) makes every running thread
 * of this process execute a full barrier, which stands in for the fence the
 * producer skipped.  A fork()ed child inherits the ring but not the
 * registration: register and try again. */
static void close_fence_heavy(struct weft_spsc *q)
{
#ifndef WEFT_TSAN
    if (!q->fenced) {
        if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
            return;
        (void)syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
        if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
            return;
        /* cannot happen: asym is set only when registration worked */
    }
#else
    (void)q;
#endif
    /* seq_cst: pairs with the seq_cst fence in producer_enter for
     * process-shared rings and the TSan build */
    atomic_thread_fence(memory_order_seq_cst);
}

void weft_spsc_close(weft_spsc *q)
{
    assert(q != NULL);
    /* relaxed: the store half of the Dekker pair with producer_enter; the
     * heavy fence below orders it against the producer's load of the gate.
     * An RMW keeps the FENCED bit when several threads close at once. */
    atomic_fetch_or_explicit(&q->gate, GATE_CLOSED, memory_order_relaxed);
    close_fence_heavy(q);
    /* release: pairs with the acquire loads of sealed in pop_slow and
     * consumer_ready; a pop that sees it knows the fence above is done */
    atomic_store_explicit(&q->sealed, 1, memory_order_release);
    /* notify_all fences after our stores (pairs with eventcount_prepare) */
    weft_eventcount_notify_all(&q->not_empty);
    weft_eventcount_notify_all(&q->not_full);
}
