/*
 * mpmc.c - bounded multi-producer/multi-consumer ring; the contract is in
 * include/weft/mpmc.h.
 *
 * The algorithm
 * -------------
 * Dmitry Vyukov, "Bounded MPMC queue", 1024cores.net, 2010 (the same design
 * underlies Erik Rigtorp's MPMCQueue and crossbeam's ArrayQueue).  The closed
 * flag as a mark bit in the tail word follows crossbeam-channel's bounded
 * array channel (Stjepan Glavina et al., crossbeam-channel, 2018), which
 * marks its tail to disconnect.
 *
 * In our words: positions are 64-bit counters that never wrap in practice
 * (2^63 operations); position p lives in slot p mod capacity.  Each slot
 * carries a sequence number that says whose turn it is: seq == p means "free
 * for the producer of position p", seq == p + 1 means "holds the item of
 * position p, for its consumer", and the consumer hands the slot to the
 * producer of the next lap by storing seq = p + capacity.  A producer reads
 * the tail t, checks that slot t says seq == t, claims position t with a CAS
 * tail: t -> t+1, then writes the item and publishes it with a release store
 * seq = t+1 (claim_one and fill_slot).  A consumer mirrors this on the
 * head with seq == h+1 and hands the slot back with seq = h + capacity
 * (claim_one and empty_slot).  A batch claims the longest ready run with
 * one CAS (claim_run).  A slot whose seq is behind the position means full
 * (producer) or empty (consumer); ahead means our copy of the counter is
 * stale.  All comparisons are signed differences of 64-bit values, so they
 * never suffer from wrap-around.  No thread ever waits for another
 * thread's *turn*: a producer that lost the CAS simply tries the next
 * position, which is why eight producers and eight consumers on two cores
 * keep moving even when some of them are preempted (ck_ring's MPMC and
 * DPDK's default ring make a producer wait until all earlier producers
 * have committed).
 *
 * Deviations and additions:
 * - Batches (try_push_many / try_pop_many): read the counter, scan the
 *   following slots while each is in the right state, then claim the whole
 *   free prefix with one CAS.  The CAS succeeding proves that no one claimed
 *   any of those positions after our scan (the counter did not move, and a
 *   slot changes state only after its position was claimed through it).
 * - close sets bit 63 of the tail (CLOSED) with one fetch_or.  Every
 *   producer's claiming CAS expects a tail without the mark, so in the
 *   modification order of the tail every successful claim comes before the
 *   close, and the tail position T frozen at close is final: the ring holds
 *   exactly the positions below T.  Consumers report "closed and drained"
 *   (EPIPE) when they find the ring empty at head position h >= T; below T a
 *   claimed slot is certain to be published, so they wait for it.
 * - Sequence numbers count in steps of two: "free for position p" is 2p and
 *   "holds the item of p" is 2p + 1 (Vyukov uses p and p + 1).  With p + 1,
 *   a full slot of capacity 1 reads exactly like a free slot for the next
 *   position, and a second push would overwrite the first item; with 2p+1
 *   against 2p+2 the states never collide.  Below, "seq == p" etc. in the
 *   prose means free_for(p) / full_of(p) in the code.
 * - Blocking forms park on two eventcounts, not_empty (consumers) and
 *   not_full (producers); see the "parking" section below.
 * - Slots hold items in relaxed atomics.  In this code every access to an
 *   item is already ordered by the slot's seq (a thread touches the item only
 *   after its claim, which it made after an acquire load of seq), so plain
 *   memory would be race-free too; the atomics cost nothing on the targets
 *   we build for (a relaxed 64-bit load or store is a plain mov) and keep
 *   it that way should a change ever read an item speculatively, or a
 *   misbehaving process write into a shared ring.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <weft/mpmc.h>

#include "base.h"
#include "chaos.h"
#include "doorbell_internal.h"
#include "eventcount_internal.h"
#include "seq_cells.h"
#include "wait.h"

/* Fields written by different sides are LINE_PAIR_BYTES apart (base.h). */

/* A marker in the header: the ring came from weft_mpmc_create (destroy
 * asserts it, to catch destroy on an in-place ring). */
#define CREATED_MAGIC 0x77656674u /* "weft" */

struct slot {
    /* Whose turn (see the top comment).  Written by the producer that
     * claimed the slot (publish) and by the consumer that claimed it
     * (release); read by everyone scanning the ring. */
    atomic_uint_least64_t seq;
    /* The item, as an integer.  Written by the slot's producer, read by its
     * consumer, ordered by seq. */
    atomic_uintptr_t item;
};

struct weft_mpmc {
    /* Read-only after init: shared by every thread without contention. */
    alignas(WEFT_CACHELINE) uint64_t mask; /* capacity - 1 */
    uint32_t created;                      /* CREATED_MAGIC when from create */
    /* The loop's doorbell, or NULL: read by every push after its notify
     * fence, written by weft_mpmc_set_doorbell (rarely, if ever). */
    _Atomic(weft_doorbell *) doorbell;
    alignas(WEFT_CACHELINE) char pad_ro[LINE_PAIR_BYTES - WEFT_CACHELINE];
    /* Next position to push | CLOSED.  Written by producers (CAS) and close. */
    alignas(WEFT_CACHELINE) atomic_uint_least64_t tail;
    alignas(WEFT_CACHELINE) char pad_tail[LINE_PAIR_BYTES - WEFT_CACHELINE];
    /* Next position to pop.  Written by consumers (CAS). */
    alignas(WEFT_CACHELINE) atomic_uint_least64_t head;
    alignas(WEFT_CACHELINE) char pad_head[LINE_PAIR_BYTES - WEFT_CACHELINE];
    /* Consumers park here; producers notify.  Its waiter count is written
     * only by parking consumers, so it is read-mostly when nobody parks. */
    alignas(WEFT_CACHELINE) weft_eventcount not_empty;
    /* Producers park here; consumers notify. */
    alignas(WEFT_CACHELINE) weft_eventcount not_full;
    alignas(WEFT_CACHELINE) struct slot slots[];
};

#define HEADER_BYTES offsetof(struct weft_mpmc, slots)

/* Layout decisions, locked (STYLE rule 16). */
_Static_assert(offsetof(struct weft_mpmc, head) - offsetof(struct weft_mpmc, tail) >=
                   LINE_PAIR_BYTES,
               "producers' and consumers' counters must not share a line pair");
_Static_assert(offsetof(struct weft_mpmc, tail) - offsetof(struct weft_mpmc, mask) >=
                   LINE_PAIR_BYTES,
               "the read-only header must not share a line pair with the tail");
_Static_assert(offsetof(struct weft_mpmc, not_empty) - offsetof(struct weft_mpmc, head) >=
                   LINE_PAIR_BYTES,
               "the eventcounts must not share a line pair with the head");
_Static_assert(HEADER_BYTES % WEFT_CACHELINE == 0, "slots start on a cache line");
_Static_assert(alignof(struct weft_mpmc) <= WEFT_MPMC_ALIGN,
               "WEFT_MPMC_ALIGN is enough for the ring");
_Static_assert(sizeof(struct slot) <= WEFT_CACHELINE && WEFT_CACHELINE % sizeof(struct slot) == 0,
               "slots never straddle a cache line");
_Static_assert(sizeof(uintptr_t) <= sizeof(uint64_t), "items fit a slot");

enum { OP_OK, OP_WOULD_BLOCK, OP_CLOSED };

static inline struct weft_internal_ec *not_empty(weft_mpmc *q)
{
    return weft_internal_ec(&q->not_empty);
}

static inline struct weft_internal_ec *not_full(weft_mpmc *q)
{
    return weft_internal_ec(&q->not_full);
}

static inline int clamp_int(size_t n)
{
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* ---- sizes and construction --------------------------------------------- */

/* The largest capacity: a power of two whose ring size fits size_t, and at
 * most 2^62 so that signed differences of positions and sequence numbers
 * (which are at most a capacity apart) never overflow. */
static size_t max_capacity(void)
{
    size_t limit = (SIZE_MAX - HEADER_BYTES - LINE_PAIR_BYTES) / sizeof(struct slot);
    size_t c = 1;
    while (c <= limit / 2 && (uint64_t)c < ((uint64_t)1 << 62))
        c *= 2;
    return c;
}

/* capacity rounded up to a power of two, or 0 when 0 or too large. */
static size_t round_capacity(size_t capacity)
{
    if (capacity == 0 || capacity > max_capacity())
        return 0;
    return pow2_at_least(capacity);
}

size_t weft_mpmc_footprint(size_t capacity)
{
    size_t c = round_capacity(capacity);
    return c ? HEADER_BYTES + c * sizeof(struct slot) : 0;
}

weft_mpmc *weft_mpmc_init(void *mem, size_t capacity, unsigned flags)
{
    size_t c = round_capacity(capacity);
    if (mem == NULL || (uintptr_t)mem % WEFT_MPMC_ALIGN != 0 || c == 0 ||
        (flags & ~WEFT_SHARED) != 0) {
        errno = EINVAL;
        return NULL;
    }
    weft_mpmc *q = (weft_mpmc *)mem;
    q->mask = (uint64_t)c - 1;
    q->created = 0;
    /* atomic_init: the ring is not shared yet; handing it to other threads
     * or processes is the caller's synchronisation */
    atomic_init(&q->tail, 0);
    atomic_init(&q->head, 0);
    atomic_init(&q->doorbell, NULL);
    weft_eventcount_init(&q->not_empty, flags);
    weft_eventcount_init(&q->not_full, flags);
    for (size_t i = 0; i < c; i++) {
        atomic_init(&q->slots[i].seq, free_for((uint64_t)i));
        atomic_init(&q->slots[i].item, 0);
    }
    return q;
}

weft_mpmc *weft_mpmc_create(size_t capacity)
{
    size_t bytes = weft_mpmc_footprint(capacity);
    if (bytes == 0) {
        errno = EINVAL;
        return NULL;
    }
    /* aligned_alloc wants a multiple of the alignment; max_capacity left
     * room for this rounding */
    bytes = (bytes + LINE_PAIR_BYTES - 1) / LINE_PAIR_BYTES * LINE_PAIR_BYTES;
    void *mem = aligned_alloc(LINE_PAIR_BYTES, bytes);
    if (mem == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    weft_mpmc *q = weft_mpmc_init(mem, capacity, 0);
    q->created = CREATED_MAGIC;
    return q;
}

void weft_mpmc_destroy(weft_mpmc *q)
{
    if (q == NULL)
        return;
    assert(q->created == CREATED_MAGIC && "destroy on a ring from weft_mpmc_init");
    free(q);
}

size_t weft_mpmc_capacity(const weft_mpmc *q)
{
    assert(q != NULL);
    return (size_t)q->mask + 1;
}

size_t weft_mpmc_size(const weft_mpmc *q)
{
    assert(q != NULL);
    weft_mpmc *m = (weft_mpmc *)(uintptr_t)q; /* C11 atomic loads take non-const */
    /* relaxed: a snapshot; read head first so that the difference is not
     * negative in the common case, and clamp for the rest */
    uint64_t h = atomic_load_explicit(&m->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&m->tail, memory_order_relaxed) & ~CLOSED;
    int64_t n = (int64_t)(t - h);
    if (n < 0)
        return 0;
    if ((uint64_t)n > m->mask + 1)
        return (size_t)m->mask + 1;
    return (size_t)n;
}

bool weft_mpmc_closed(const weft_mpmc *q)
{
    assert(q != NULL);
    weft_mpmc *m = (weft_mpmc *)(uintptr_t)q;
    /* acquire: pairs with the release half of the fetch_or in
     * weft_mpmc_close, so what the closer wrote is visible */
    return (atomic_load_explicit(&m->tail, memory_order_acquire) & CLOSED) != 0;
}

/* ---- the non-blocking core ----------------------------------------------- */

static inline struct slot *slot_of(weft_mpmc *q, uint64_t p)
{
    return &q->slots[p & q->mask];
}

/* Which slot state an end of the ring waits for at position p: free for a
 * producer, full for a consumer. */
static inline uint64_t ready_for(bool producer, uint64_t p)
{
    return producer ? free_for(p) : full_of(p);
}

/* Claim the one position at one end of the ring, the tail for a producer
 * or the head for a consumer (Vyukov's bounded MPMC queue, as in rigtorp's
 * try_emplace): true with the position in *at and its slot in *slot; false
 * when the slot at the index is not ready (the ring is full for a producer,
 * empty for a consumer; *at is that position) or, for a producer, when the
 * ring is closed (*at has CLOSED set).  Inlined with a constant end. */
static inline __attribute__((always_inline)) bool claim_one(weft_mpmc *q, bool producer,
                                                            uint64_t *at, struct slot **slot)
{
    atomic_uint_least64_t *index = producer ? &q->tail : &q->head;
    /* relaxed: only a guess of the position; the slot's seq (acquire below)
     * and the CAS decide */
    uint64_t p = atomic_load_explicit(index, memory_order_relaxed);
    for (;;) {
        if (producer && UNLIKELY((p & CLOSED) != 0)) {
            /* acquire fence, on this path only: pairs with the release
             * half of the fetch_or in weft_mpmc_close (as in claim_run) */
            atomic_thread_fence(memory_order_acquire);
            *at = p;
            return false;
        }
        struct slot *s = slot_of(q, p);
        /* acquire: as in claim_run (a producer's pairs with the release
         * store of seq in empty_slot, a consumer's with the one in
         * fill_slot) */
        uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        int64_t ahead = (int64_t)(seq - ready_for(producer, p));
        if (ahead < 0) {
            /* behind: full (producer) or empty (consumer) */
            *at = p;
            return false;
        }
        if (ahead > 0) {
            /* somebody claimed p already; relaxed as above */
            p = atomic_load_explicit(index, memory_order_relaxed);
            continue;
        }
        WEFT_CHAOS_POINT();
        /* relaxed: the CAS only decides who owns p (a total order on the
         * index); the hand-off is ordered by seq, as in claim_run */
        if (atomic_compare_exchange_weak_explicit(index, &p, p + 1, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *at = p;
            *slot = s;
            return true;
        }
    }
}

/* Claim a run of up to n (>= 1) consecutive positions at one end of the
 * ring, the tail for a producer or the head for a consumer: the longest run
 * of slots ready for this end, from the index on, with one CAS of the index.
 * For batches (a single push or pop uses claim_one).  Returns the run's
 * length and its first position in *at; or 0 when the slot at the index is
 * not ready (the ring is full for a producer, empty for a consumer; *at is
 * that position) or, for a producer, when the ring is closed (*at has
 * CLOSED set).  Inlined with a constant end, so each caller gets its own
 * copy of the loop. */
static inline __attribute__((always_inline)) size_t claim_run(weft_mpmc *q, bool producer, size_t n,
                                                              uint64_t *at)
{
    atomic_uint_least64_t *index = producer ? &q->tail : &q->head;
    /* relaxed: only a guess of the position; the slots' seq (acquire below)
     * and the CAS decide */
    uint64_t p = atomic_load_explicit(index, memory_order_relaxed);
    for (;;) {
        if (producer && UNLIKELY((p & CLOSED) != 0)) {
            /* acquire fence, on this path only: the relaxed load or failed
             * CAS above read the mark, so this pairs with the release of
             * the fetch_or in weft_mpmc_close (the header: close
             * happens-before every push that reports the ring closed).
             * model-check/mpmc.cc "close vs push" fails without it. */
            atomic_thread_fence(memory_order_acquire);
            *at = p;
            return 0;
        }
        size_t m;
        uint64_t seq = 0;
        for (m = 0; m < n; m++) {
            /* acquire: a producer's pairs with the release store of seq in
             * empty_slot (the previous lap's consumer finished reading the
             * item before we overwrite it); a consumer's pairs with the
             * release store of seq in fill_slot (the item, and all the
             * producer wrote before pushing it, is visible) */
            seq = atomic_load_explicit(&slot_of(q, p + m)->seq, memory_order_acquire);
            if (seq != ready_for(producer, p + m))
                break;
        }
        if (m == 0) {
            if ((int64_t)(seq - ready_for(producer, p)) < 0) {
                /* behind: the previous lap is not popped yet (full) or the
                 * item not published yet (empty) */
                *at = p;
                return 0;
            }
            /* ahead: somebody claimed p already, our index is stale;
             * relaxed as above */
            p = atomic_load_explicit(index, memory_order_relaxed);
            continue;
        }
        WEFT_CHAOS_POINT();
        /* relaxed: the CAS only decides who owns positions p .. p+m-1 (a
         * total order on the index is all we need; the data hand-off is
         * ordered by seq); success proves nobody claimed them since our
         * scan.  A producer's fails also once close set the mark. */
        if (atomic_compare_exchange_weak_explicit(index, &p, p + m, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *at = p;
            return m;
        }
    }
}

/* Write the item of claimed position t into its slot s and publish it to
 * its consumer. */
static inline void fill_slot(struct slot *s, uint64_t t, uintptr_t item)
{
    /* relaxed: published by the release store of seq just below */
    atomic_store_explicit(&s->item, item, memory_order_relaxed);
    /* release: pairs with a consumer's acquire load of seq in claim_run;
     * the item (and all the caller wrote before) becomes visible to the
     * consumer that sees seq == full_of(t) */
    atomic_store_explicit(&s->seq, full_of(t), memory_order_release);
}

/* Take the item of claimed position h and hand the slot to the producer of
 * the next lap. */
static inline uintptr_t empty_slot(weft_mpmc *q, struct slot *s, uint64_t h)
{
    /* relaxed: ordered after the acquire load of seq in claim_run */
    uintptr_t item = atomic_load_explicit(&s->item, memory_order_relaxed);
    /* release: pairs with a producer's acquire load of seq in claim_run:
     * our read of the item happens-before the next lap's producer
     * overwrites it */
    atomic_store_explicit(&s->seq, free_for(h + q->mask + 1), memory_order_release);
    return item;
}

/* Claim the position at the tail and publish item there.
 * Returns OP_OK, OP_WOULD_BLOCK (full: *seen is the tail position whose slot
 * was not free) or OP_CLOSED. */
static inline int push_one(weft_mpmc *q, uintptr_t item, uint64_t *seen)
{
    uint64_t t;
    struct slot *s;
    if (!claim_one(q, true, &t, &s)) {
        if (t & CLOSED)
            return OP_CLOSED;
        *seen = t;
        return OP_WOULD_BLOCK;
    }
    WEFT_CHAOS_POINT(); /* claimed, not yet published */
    fill_slot(s, t, item);
    return OP_OK;
}

/* Claim the position at the head and take its item.
 * Returns OP_OK with *item set, or OP_WOULD_BLOCK (empty: *seen is the head
 * position whose slot was not published). */
static inline int pop_one(weft_mpmc *q, void **item, uint64_t *seen)
{
    uint64_t h;
    struct slot *s;
    if (!claim_one(q, false, &h, &s)) {
        *seen = h;
        return OP_WOULD_BLOCK;
    }
    WEFT_CHAOS_POINT(); /* claimed, not yet released */
    *item = (void *)empty_slot(q, s, h);
    return OP_OK;
}

/* After a push: wake a parked consumer, if any.  The inline fast path is a
 * compiler barrier (or fence) and one relaxed load: the fence pairs with the
 * one in weft_eventcount_prepare, so either the consumer's re-check after
 * prepare sees our published seq, or we see its announcement. */
static inline void notify_consumers(weft_mpmc *q, int n)
{
    weft_internal_ec_notify(not_empty(q), n);
    /* after the same fence: one more load when no doorbell is attached */
    weft_internal_doorbell_ring_fenced(&q->doorbell);
}

/* After a pop: wake a parked producer, if any (as notify_consumers). */
static inline void notify_producers(weft_mpmc *q, int n)
{
    weft_internal_ec_notify(not_full(q), n);
}

bool weft_mpmc_try_push(weft_mpmc *q, void *item)
{
    assert(q != NULL);
    uint64_t seen;
    if (push_one(q, (uintptr_t)item, &seen) != OP_OK)
        return false;
    notify_consumers(q, 1);
    return true;
}

bool weft_mpmc_try_pop(weft_mpmc *q, void **item)
{
    assert(q != NULL && item != NULL);
    uint64_t seen;
    if (pop_one(q, item, &seen) != OP_OK)
        return false;
    notify_producers(q, 1);
    return true;
}

size_t weft_mpmc_try_push_many(weft_mpmc *q, void *const *items, size_t n)
{
    assert(q != NULL && (items != NULL || n == 0));
    if (n == 0)
        return 0;
    uint64_t t;
    size_t m = claim_run(q, true, n, &t);
    if (m == 0)
        return 0;       /* full or closed */
    WEFT_CHAOS_POINT(); /* claimed, not yet published */
    for (size_t i = 0; i < m; i++)
        fill_slot(slot_of(q, t + i), t + i, (uintptr_t)items[i]);
    notify_consumers(q, clamp_int(m));
    return m;
}

size_t weft_mpmc_try_pop_many(weft_mpmc *q, void **items, size_t n)
{
    assert(q != NULL && (items != NULL || n == 0));
    if (n == 0)
        return 0;
    uint64_t h;
    size_t m = claim_run(q, false, n, &h);
    if (m == 0)
        return 0;       /* empty */
    WEFT_CHAOS_POINT(); /* claimed, not yet released */
    for (size_t i = 0; i < m; i++)
        items[i] = (void *)empty_slot(q, slot_of(q, h + i), h + i);
    notify_producers(q, clamp_int(m));
    return m;
}

/* ---- close ----------------------------------------------------------------- */

void weft_mpmc_close(weft_mpmc *q)
{
    assert(q != NULL);
    /* release: the closer's writes before close are visible to whoever
     * sees the mark (pairs with the acquire loads of the tail in
     * weft_mpmc_closed and drained()).  Being an RMW it is ordered with
     * every producer's claiming CAS in the tail's modification order, which
     * is what freezes the tail position (no ordering needed for that). */
    atomic_fetch_or_explicit(&q->tail, CLOSED, memory_order_release);
    /* the fence inside notify orders the mark before the waiter counts;
     * pairs with the fence in weft_eventcount_prepare, so a thread about to
     * park either sees the mark in its re-check or is woken here */
    weft_internal_ec_notify(not_empty(q), INT_MAX);
    weft_internal_ec_notify(not_full(q), INT_MAX);
    weft_internal_doorbell_ring_fenced(&q->doorbell); /* after notify's fence */
}

int weft_mpmc_set_doorbell(weft_mpmc *q, weft_doorbell *db)
{
    if (q == NULL)
        return EINVAL;
    weft_internal_doorbell_attach(&q->doorbell, db);
    return 0;
}

/* ---- parking ----------------------------------------------------------------
 *
 * A blocking call first tries its operation; when that would block it spins
 * a little (pause), then yields a few times (with more threads than cores
 * the thread it waits for needs the CPU), then parks on an eventcount:
 *
 *     key = prepare(ec); retry the operation;
 *     success / closed -> cancel;  otherwise wait(ec, key) and go round.
 *
 * Every successful push notifies not_empty and every successful pop notifies
 * not_full, so a thread whose retry failed after prepare is woken by the
 * hand-off it waits for: if the retry saw slot p not yet published
 * (consumer) or not yet released (producer), the thread that later
 * publishes/releases p issues its notify after that store, and the Dekker
 * pair (prepare's fence against notify's fence) makes it see our
 * announcement.  close notifies both eventcounts after setting the mark.
 *
 * One subtlety: a wake-up can go to a consumer that cannot use it.  Slot p
 * is claimed but unpublished, slot p+1 is published and its notify wakes a
 * consumer, which finds p (the head) unpublished and parks again.  When p is
 * published, its notify wakes one consumer, which pops p; nobody would wake
 * a consumer for p+1.  So a consumer that succeeds in the slow path passes
 * the wake-up on (pass_on_*): if the next slot is already published it
 * notifies one more consumer, and when the ring is closed it wakes all of
 * them (they must see EPIPE once it is drained).  A consumer that returns
 * EPIPE wakes all others too.  Producers do the same with free slots.  The
 * woken thread always holds this obligation: it read the epoch bump of the
 * notify that woke it (acquire), so it also sees every waiter the notifier
 * saw.  (tests/test_mpmc.c: each_parked_consumer_gets_its_item and
 * each_parked_producer_gets_its_slot hang without pass_on_* in a build with
 * --enable-chaos.)
 */

/* Closed and drained, given that a consumer found position h empty (see
 * seq_cells.h). */
static bool drained(weft_mpmc *q, uint64_t h)
{
    return seq_drained(&q->tail, h);
}

/* See "One subtlety" above. */
static void pass_on_consumers(weft_mpmc *q)
{
    /* relaxed loads: a hint of whether waking is useful; a woken consumer
     * re-checks everything itself */
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t seq = atomic_load_explicit(&slot_of(q, h)->seq, memory_order_relaxed);
    if (t & CLOSED)
        notify_consumers(q, INT_MAX);
    else if (seq == full_of(h))
        notify_consumers(q, 1);
}

static void pass_on_producers(weft_mpmc *q)
{
    /* relaxed loads: a hint, as in pass_on_consumers */
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (t & CLOSED)
        return; /* close woke every producer; none may push any more */
    uint64_t seq = atomic_load_explicit(&slot_of(q, t)->seq, memory_order_relaxed);
    if (seq == free_for(t))
        notify_producers(q, 1);
}

/* The blocking push once the ring was found full: the ladder of wait.h
 * around push_one, parked on not_full. */
COLD static int push_slow(weft_mpmc *q, uintptr_t item, struct deadline d)
{
    weft_eventcount *ec = &q->not_full;
    uint64_t seen;
    int r = OP_WOULD_BLOCK;
    for (unsigned round = 0; r == OP_WOULD_BLOCK;) {
        enum wait_rung rung = wait_rung(&round, d);
        if (rung == WAIT_TIMEOUT)
            return ETIMEDOUT;
        if (rung == WAIT_PARK) {
            uint32_t key = weft_eventcount_prepare(ec);
            /* the re-check after announcing: prepare's fence pairs with
             * the light fence of notify_producers, so either this push
             * sees the slot its pop freed, or the pop sees us announced */
            r = push_one(q, item, &seen);
            if (r != OP_WOULD_BLOCK) {
                weft_eventcount_cancel(ec);
                break;
            }
            /* timed out or not, the push below tries once more: a push
             * that can succeed succeeds, even past the deadline */
            (void)wait_park(ec, key, d);
        }
        r = push_one(q, item, &seen);
    }
    if (r == OP_CLOSED)
        return EPIPE;
    notify_consumers(q, 1);
    pass_on_producers(q);
    return 0;
}

static inline int push_until(weft_mpmc *q, void *item, struct deadline d)
{
    uint64_t seen;
    int r = push_one(q, (uintptr_t)item, &seen);
    if (LIKELY(r == OP_OK)) {
        notify_consumers(q, 1);
        return 0;
    }
    if (r == OP_CLOSED)
        return EPIPE;
    return push_slow(q, (uintptr_t)item, d);
}

int weft_mpmc_push(weft_mpmc *q, void *item)
{
    assert(q != NULL);
    return push_until(q, item, deadline_none());
}

int weft_mpmc_push_timed(weft_mpmc *q, void *item, uint64_t timeout_ns)
{
    assert(q != NULL);
    uint64_t seen;
    if (timeout_ns == 0) {
        int r = push_one(q, (uintptr_t)item, &seen);
        if (r == OP_OK) {
            notify_consumers(q, 1);
            return 0;
        }
        return r == OP_CLOSED ? EPIPE : ETIMEDOUT;
    }
    return push_until(q, item, deadline_in(timeout_ns));
}

/* The consumer's side: EPIPE when it found the ring closed and drained. */
static int pop_closed(weft_mpmc *q)
{
    /* wake every other parked consumer: they must see EPIPE too */
    notify_consumers(q, INT_MAX);
    return EPIPE;
}

/* The blocking pop once the ring was found empty at position seen: the
 * ladder of wait.h around pop_one, parked on not_empty. */
COLD static int pop_slow(weft_mpmc *q, void **item, uint64_t seen, struct deadline d)
{
    weft_eventcount *ec = &q->not_empty;
    if (drained(q, seen))
        return pop_closed(q);
    for (unsigned round = 0;;) {
        enum wait_rung rung = wait_rung(&round, d);
        if (rung == WAIT_TIMEOUT)
            return ETIMEDOUT;
        if (rung == WAIT_PARK) {
            uint32_t key = weft_eventcount_prepare(ec);
            /* the re-check after announcing (as in push_slow, with the
             * light fence of notify_consumers) */
            if (pop_one(q, item, &seen) == OP_OK) {
                weft_eventcount_cancel(ec);
                break;
            }
            if (drained(q, seen)) {
                weft_eventcount_cancel(ec);
                return pop_closed(q);
            }
            /* the pop below tries once more, as in push_slow */
            (void)wait_park(ec, key, d);
        }
        if (pop_one(q, item, &seen) == OP_OK)
            break;
        if (drained(q, seen))
            return pop_closed(q);
    }
    notify_producers(q, 1);
    pass_on_consumers(q);
    return 0;
}

static inline int pop_until(weft_mpmc *q, void **item, struct deadline d)
{
    uint64_t seen;
    if (LIKELY(pop_one(q, item, &seen) == OP_OK)) {
        notify_producers(q, 1);
        return 0;
    }
    return pop_slow(q, item, seen, d);
}

int weft_mpmc_pop(weft_mpmc *q, void **item)
{
    assert(q != NULL && item != NULL);
    return pop_until(q, item, deadline_none());
}

int weft_mpmc_pop_timed(weft_mpmc *q, void **item, uint64_t timeout_ns)
{
    assert(q != NULL && item != NULL);
    uint64_t seen;
    if (timeout_ns == 0) {
        if (pop_one(q, item, &seen) == OP_OK) {
            notify_producers(q, 1);
            return 0;
        }
        return drained(q, seen) ? pop_closed(q) : ETIMEDOUT;
    }
    return pop_until(q, item, deadline_in(timeout_ns));
}
