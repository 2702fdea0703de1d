/*
 * spsc.c - bounded single-producer/single-consumer ring; the contract is in
 * include/weft/spsc.h.
 *
 * Algorithm.  The ring is Lamport's concurrent FIFO for one producer and one
 * consumer (L. Lamport, "Specifying Concurrent Program Modules", ACM TOPLAS
 * 5(2), 1983): an array of slots and two free-running positions, the
 * producer's (next position to fill) and head (next position to empty,
 * written only by the consumer).  The ring is empty when the two are equal
 * and full when they are capacity apart; because each position has one
 * writer no read-modify-write is needed, only release stores to publish and
 * acquire loads to read.  Positions are size_t and only ever compared by
 * unsigned difference, so they may wrap.
 *
 * Who reads what.  The producer keeps a private copy of head and reloads the
 * shared one only when its copy says full (the "cached index" of rigtorp's
 * SPSCQueue).  The consumer does not read a producer index at all: as in
 * FastForward (J. Giacomoni, T. Moseley and M. Vachharajani, "FastForward
 * for Efficient Pipeline Parallelism: A Cache-Optimized Concurrent
 * Lock-Free Queue", PPoPP 2008) it learns from the slots' own cache line
 * whether an item is there.  FastForward marks empty slots with NULL, which
 * is an item here; instead each 64-byte line of the array holds
 * ITEMS_PER_LINE slots and one word, published, that the producer sets to
 * the position after the last item it stored in that line.  A consumer at
 * position h whose slot lies in line L takes the item when L's published
 * word is later than h, and may then take every position before that word
 * without reading it again (cons_published holds the last value read).
 * When the consumer runs right behind the producer, an item thus costs one
 * cache line moving from the producer's core to the consumer's (the item's
 * line carries its own publication), where an index on a line of its own
 * costs two.  Measured with bench/bench_rings at capacity 1024, 1P1C,
 * single items, against a producer index on its own line: 46-53 instead
 * of 37-45 M items/s when the two vCPUs are far apart, and 152-167 instead
 * of 151-158 when they are close.
 *
 * A published word can hold a value from an earlier lap, which is earlier
 * than any position the consumer looks for; it cannot hold one from a
 * later lap, because the array has at least capacity + ITEMS_PER_LINE
 * slots, so the producer refills a line only after the consumer left it.
 * Each side walks the array with a private cursor (the index of its next
 * slot word, which skips the published words), so the array need not have
 * a power-of-two number of slots.
 *
 * Slots are relaxed atomics of void *: the producer's release store of a
 * line's published word after writing its slots, paired with the
 * consumer's acquire load of that word before reading them, orders the
 * slots (and whatever the items point to); the consumer's release store of
 * head after reading a slot, paired with the producer's acquire load of
 * head, keeps the producer from overwriting a slot before it was read.
 * They are atomics only so that C11 (and TSan) see no data race when a
 * slot's line is shared; relaxed accesses compile to plain moves.  A batch
 * writes the slots of each line, then publishes that line once.
 *
 * Close without a read-modify-write on the push path.  A push that checked
 * "not closed" and is about to publish must still be delivered, so a pop may
 * report EPIPE only when no such push can be in flight.  Before it reads the
 * gate word, a push of k items at position t stores t + k in prod_entered
 * (its own cache line); outside a push prod_entered is the producer's
 * position, and a push that finds the ring closed puts it back to t.  So a
 * pop that found the ring empty at h knows that no push is in flight, and
 * none will deliver, exactly when prod_entered == h.  Close
 * sets the gate's CLOSED bit, then fences, then sets sealed.  This is
 * Dekker's pattern: with a fence between each side's store and load, either
 * the push sees closed (and fails), or close's fence comes after the push's
 * store of prod_entered, so a pop that saw sealed (acquire) also sees that
 * store or a later one.  A pop thus reports EPIPE only when sealed, empty
 * at h and prod_entered == h (no push between its check and its
 * publication).  The fence pair is asymmetric, as in the eventcount: the
 * push side is a compiler barrier and close issues membarrier(2), which
 * runs a full barrier on every CPU that runs a thread of this process;
 * process-shared rings (and the TSan build) use a seq_cst fence on both
 * sides.  The wake-up checks (a push reading the consumer's waiter count,
 * a pop the producer's) pair the same way with the membarrier of
 * weft_eventcount_prepare.
 *
 * When membarrier fails after the ring was made (a seccomp filter installed
 * later, say: the kernel refuses the call that worked at init), the
 * guarantees stay, at the price of real fences.  close's heavy fence is the
 * library's one membarrier path, weft_internal_heavy_fence, which on a
 * refusal issues a seq_cst fence and clears the process-wide flag that
 * weft_internal_membarrier_works reads; from then on every light fence of
 * the ring (producer_enter, producer_leave, consumer_publish) is a seq_cst
 * fence, as for a process-shared ring, and the eventcount's waiters park
 * at most 10 ms at a time, so a wake-up check that still used the compiler
 * barrier costs at most that delay.  Left is the close Dekker pair during
 * the switch: a push that read "works" just before it skipped its fence, and
 * close's own fence alone does not make that push's store of prod_entered
 * visible.  Two things cover it.  The push's load of the gate is seq_cst
 * and so is close's fetch_or, so a push whose check comes after close's
 * fetch_or in the single total order fails, fences or not.  A push that
 * checked before is between its check and its publication: either running,
 * and then it publishes within nanoseconds, or preempted, and a context
 * switch is a full barrier on Linux, which makes its store visible.  So
 * close records that its membarrier was refused (sealed = SEALED_UNSURE),
 * and a pop on such a ring reports EPIPE only when it has seen prod_entered
 * == head twice, 10 ms apart (close_grace); in between it waits on
 * not_empty, where a publishing push wakes it.
 *
 * The fast path is kept short because at 1P1C a push or pop costs only a few
 * nanoseconds: the gate word holds both the CLOSED bit and a FENCED bit (set
 * at init when the light fence must be a real one), so one load and one
 * branch decide "not closed, no fence needed" for the whole push, including
 * its wake-up check; the one addition is a relaxed load of the "membarrier
 * works" flag, a word written at most once in the life of the process, on
 * each side (push: in producer_enter; pop: in consumer_fenced, where both
 * tests are marked unlikely: laid out as the fall-through instead, they cost
 * a single-threaded push+pop pair 10 -> 13 ns).  Measured with bench_rings
 * --only weft_spsc, 10 alternating pairs against the code without it, on a
 * loaded 2-vCPU machine: new/old medians 1.11 (try), 1.04 (blocking), 1.10
 * (batch32), run-to-run spread +-30%: no cost that shows.  Each side reads
 * its own position back with a relaxed load (it is the only writer)
 * instead of keeping a second copy.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <weft/spsc.h>

#include "base.h"
#include "chaos.h"
#include "doorbell_internal.h"
#include "eventcount_internal.h"
#include "wait.h"

/* The fast paths are inlined into each public function even where the
 * compiler would rather call them: at 1P1C a call is a sizeable part of
 * an operation's cost. */
#define HOT_INLINE inline __attribute__((always_inline))

/* Groups of fields are spaced LINE_PAIR_BYTES (base.h) apart: the line
 * after each group is padding that nobody touches, so the adjacent-line
 * prefetcher (which fetches 128-byte pairs) never couples two groups,
 * whatever the alignment of the block modulo 128. */

/* The array has SLOTS_PER_ITEM slots per unit of capacity (and at least
 * capacity + ITEMS_PER_LINE, see above).  A full ring's producer then
 * refills slots far from the ones the consumer reads, instead of the slot
 * the consumer has just emptied, whose line the consumer reads next.
 * Measured with bench/bench_rings at capacity 1024, 1P1C, single items,
 * with the vCPUs close together: 126 M items/s with 256 lines (1.75 slots
 * per unit), 120-132 with 300, 144-148 with 500-512, 158-162 with 586 (the
 * 4 per unit here) to 600; with the vCPUs far apart 45-52 for all sizes.
 * The price is about 37 bytes per unit of capacity, against 16 for two
 * plain slots. */
#define SLOTS_PER_ITEM 4

/* A line of the array: the position after the last item the producer
 * stored in it, then ITEMS_PER_LINE slots. */
#define LINE_WORDS (WEFT_CACHELINE / sizeof(void *))
#define ITEMS_PER_LINE (LINE_WORDS - 1)
struct slot_line {
    atomic_size_t published;
    _Atomic(void *) item[ITEMS_PER_LINE];
};
_Static_assert(sizeof(struct slot_line) == WEFT_CACHELINE, "a line is a cache line");
_Static_assert(sizeof(atomic_size_t) == sizeof(void *) && sizeof(_Atomic(void *)) == sizeof(void *),
               "the published word and the slots are plain words");

/* Bits of the gate word; a push with gate == 0 takes the fast path. */
#define GATE_CLOSED 1u /* weft_spsc_close was called */
#define GATE_FENCED 2u /* the light fence must be a seq_cst fence */

/* Values of sealed, set by close after its fence. */
#define SEALED 1u        /* close's fence ordered every push (see close) */
#define SEALED_UNSURE 2u /* close's membarrier was refused: see close_grace */

struct weft_spsc {
    /* Read by both sides on every operation, written only at init and once
     * by close: shared read-only in every cache in steady state. */
    alignas(WEFT_CACHELINE) size_t mask; /* capacity - 1 */
    size_t words;                        /* LINE_WORDS * lines in the array */
    atomic_uint gate;                    /* GATE_CLOSED | GATE_FENCED; read by every push */
    unsigned fenced;                     /* light fences are real fences (GATE_FENCED) */
    atomic_uint sealed;                  /* SEALED* once close has fenced; read by pops on empty */
    /* The loop's doorbell, or NULL: read by every push after its notify
     * fence, written by weft_spsc_set_doorbell (rarely, if ever). */
    _Atomic(weft_doorbell *) doorbell;
    alignas(WEFT_CACHELINE) char pad_config[WEFT_CACHELINE];

    /* Parked threads announce themselves here (written only when parking);
     * each side reads the other's waiter count once per operation. */
    alignas(WEFT_CACHELINE) weft_eventcount not_empty; /* the consumer parks */
    weft_eventcount not_full;                          /* the producer parks */
    alignas(WEFT_CACHELINE) char pad_ec[WEFT_CACHELINE];

    /* Written and read by the producer only (prod_entered is also read by
     * pops on a sealed ring, tail by size, and neither on a fast path). */
    alignas(WEFT_CACHELINE) size_t prod_head_cache; /* last head the producer read */
    atomic_size_t prod_entered; /* position + k inside a push of k; else position */
    size_t prod_word;           /* word of the next slot to fill */
    atomic_size_t tail;         /* position after the last published item; for size */
    alignas(WEFT_CACHELINE) char pad_prod[WEFT_CACHELINE];

    /* Written by the consumer, read by the producer when its cache is out. */
    alignas(WEFT_CACHELINE) atomic_size_t head;
    alignas(WEFT_CACHELINE) char pad_head[WEFT_CACHELINE];

    /* Written and read by the consumer only. */
    alignas(WEFT_CACHELINE) size_t cons_published; /* last published word it read */
    size_t cons_word;                              /* word of the next slot to empty */
    uint64_t cons_grace_until; /* close_grace: 0 not started, else its end (now_ns) */
    bool cons_grace_over;      /* close_grace: waited out, EPIPE may be reported */
    alignas(WEFT_CACHELINE) char pad_cons[WEFT_CACHELINE];

    alignas(WEFT_CACHELINE) struct slot_line lines[];
};

/* Each group of fields that one side writes sits alone in its own pair of
 * cache lines: every group starts a line, fits in it, and the next group
 * starts LINE_PAIR_BYTES or more later. */
#define SPSC_OWN_LINE(prev, last, next)                                                            \
    _Static_assert(offsetof(struct weft_spsc, next) % WEFT_CACHELINE == 0 &&                       \
                       offsetof(struct weft_spsc, next) - offsetof(struct weft_spsc, prev) >=      \
                           LINE_PAIR_BYTES &&                                                      \
                       offsetof(struct weft_spsc, last) + sizeof(((struct weft_spsc *)0)->last) <= \
                           offsetof(struct weft_spsc, prev) + WEFT_CACHELINE,                      \
                   #prev " .. " #last " and " #next " share a cache line pair")
SPSC_OWN_LINE(mask, sealed, not_empty);
SPSC_OWN_LINE(not_empty, not_full, prod_head_cache);
SPSC_OWN_LINE(prod_head_cache, prod_word, head);
SPSC_OWN_LINE(head, head, cons_published);
SPSC_OWN_LINE(cons_published, cons_grace_over, lines);

static inline struct weft_internal_ec *ec_of(weft_eventcount *ec)
{
    return weft_internal_ec(ec);
}

/* A cursor is the index of a slot's word in the array, counting each
 * line's published word: word % LINE_WORDS is never 0. */
static inline _Atomic(void *) *slot_at(struct weft_spsc *q, size_t word)
{
    return &q->lines[word / LINE_WORDS].item[word % LINE_WORDS - 1];
}

/* The published word of the line that holds slot word. */
static inline atomic_size_t *published_at(struct weft_spsc *q, size_t word)
{
    return &q->lines[word / LINE_WORDS].published;
}

/* The slot after word: skips the next line's published word and wraps
 * from the last line to the first. */
static inline size_t next_word(const struct weft_spsc *q, size_t word)
{
    word++;
    if (UNLIKELY(word % LINE_WORDS == 0)) {
        word++;
        if (word > q->words)
            word = 1;
    }
    return word;
}

/* Whether position a is later than position b on the free-running
 * counters (they are never half the range apart). */
static inline bool later(size_t a, size_t b)
{
    return a != b && a - b <= SIZE_MAX / 2;
}

/* ---- sizes -------------------------------------------------------------- */

/* Power of two >= capacity, or 0 when there is none in a size_t. */
static size_t round_capacity(size_t capacity)
{
    if (capacity == 0 || capacity > (SIZE_MAX >> 1) + 1)
        return 0;
    return pow2_at_least(capacity);
}

/* Lines in the array of a ring of rounded capacity cap (see SLOTS_PER_ITEM
 * and the laps argument at the top); cap is at most SIZE_MAX /
 * SLOTS_PER_ITEM. */
static size_t line_count(size_t cap)
{
    size_t slots = SLOTS_PER_ITEM * cap;
    if (slots < cap + ITEMS_PER_LINE)
        slots = cap + ITEMS_PER_LINE;
    return slots / ITEMS_PER_LINE + (slots % ITEMS_PER_LINE != 0);
}

size_t weft_spsc_footprint(size_t capacity)
{
    size_t cap = round_capacity(capacity);
    if (cap == 0 || cap > SIZE_MAX / SLOTS_PER_ITEM)
        return 0;
    /* leave WEFT_CACHELINE spare: create rounds the size up to a line.
     * sizeof(struct slot_line) is WEFT_CACHELINE (asserted above) but in
     * the model-check build, whose atomics are larger */
    if (line_count(cap) >
        (SIZE_MAX - sizeof(struct weft_spsc) - WEFT_CACHELINE) / sizeof(struct slot_line))
        return 0;
    return sizeof(struct weft_spsc) + line_count(cap) * sizeof(struct slot_line);
}

weft_spsc *weft_spsc_init(void *mem, size_t capacity, unsigned flags)
{
    size_t bytes = weft_spsc_footprint(capacity);
    if (mem == NULL || (uintptr_t)mem % WEFT_CACHELINE != 0 || bytes == 0 ||
        (flags & ~WEFT_SHARED) != 0) {
        errno = EINVAL;
        return NULL;
    }
    struct weft_spsc *q = (struct weft_spsc *)mem;
    q->mask = round_capacity(capacity) - 1;
    size_t lines = line_count(q->mask + 1);
    q->words = lines * LINE_WORDS;
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
    atomic_init(&q->doorbell, NULL);
    q->prod_head_cache = 0;
    atomic_init(&q->prod_entered, 0);
    atomic_init(&q->tail, 0);
    q->prod_word = 1;
    atomic_init(&q->head, 0);
    q->cons_published = 0;
    q->cons_word = 1;
    q->cons_grace_until = 0;
    q->cons_grace_over = false;
    /* 0 is not later than any position the consumer looks for in a line
     * that was never filled */
    for (size_t i = 0; i < lines; i++) {
        atomic_init(&q->lines[i].published, 0);
#ifdef WEFT_MODEL
        /* the model checker's atomics must be constructed; C11's slots
         * need nothing, as each is stored before it is read */
        for (size_t j = 0; j < ITEMS_PER_LINE; j++)
            atomic_init(&q->lines[i].item[j], NULL);
#endif
    }
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
    size_t cap = m->mask + 1;
    /* relaxed: for the consumer, h is its own last store; for any other
     * thread the header promises an approximation, which a stale tail
     * below h gives too (the check below answers 0 then).  It was an
     * acquire (so that a third thread's t would be at least where the push
     * of item h - 1 started) until issue #12's mutation run (mutant
     * src/spsc.c:408:47) showed that no promise rests on it. */
    size_t h = atomic_load_explicit(&m->head, memory_order_relaxed);
    /* acquire: pairs with the release stores of tail in push_one and
     * try_push_many; the items before t are published, so a consumer that
     * reads t > h here pops at least one item next (the header's promise;
     * model-check/spsc asserts it at every try_pop) */
    size_t t = atomic_load_explicit(&m->tail, memory_order_acquire);
    if (later(h, t)) {
        /* the consumer took items that tail does not count yet: the push
         * that published item h - 1 is between storing its published words
         * and storing tail (as far as this thread can see).  Some of its
         * lines may not be visible to us yet, so count nothing from h on
         * rather than items a pop could not take */
        return 0;
    }
    /* more than cap when the producer refilled the ring after we read h */
    size_t n = t - h;
    return n > cap ? cap : n;
}

bool weft_spsc_closed(const weft_spsc *q)
{
    assert(q != NULL);
    struct weft_spsc *m = (struct weft_spsc *)q;
    /* relaxed: the header promises no ordering (unlike mpmc's closed), and
     * nothing is read on its strength; a caller that sees CLOSED and then
     * pushes from the same thread fails by coherence (its push reads the
     * gate later).  acquire until issue #12's mutation run (mutant
     * src/spsc.c:432:44), which paired with nothing. */
    return (atomic_load_explicit(&m->gate, memory_order_relaxed) & GATE_CLOSED) != 0;
}

/* ---- the producer ------------------------------------------------------ */

/* producer_enter's rare cases: the ring is closed, or the light fence must
 * be a real one (process-shared ring, TSan, or membarrier has failed in
 * this process).  Returns as producer_enter. */
static inline unsigned producer_enter_rare(struct weft_spsc *q, size_t t, unsigned gate)
{
    if (!(gate & GATE_CLOSED)) {
        /* seq_cst: the real light fence; pairs with the seq_cst fence in
         * close_fence_heavy (or the one weft_internal_heavy_fence issues
         * in place of a refused membarrier).  The gate is read again after
         * it. */
        atomic_thread_fence(memory_order_seq_cst);
        /* relaxed: after the fence, the Dekker pair needs no more.  FENCED
         * tells producer_leave that its fence must be real too */
        gate = atomic_load_explicit(&q->gate, memory_order_relaxed) | GATE_FENCED;
    }
    if (gate & GATE_CLOSED) {
        /* relaxed: this push published nothing, and a pop that reads t
         * here, equal to its head, has popped every item before t itself;
         * what it does next (pop_one) acquires on its own.  It was a
         * release paired with the acquire in pop_slow (to show the pop the
         * items of earlier pushes) until issue #12's mutation run: both
         * survived (mutants src/spsc.c:458:52 and :874:69), and neither
         * orders anything a pop reads.  A pop that still sees t + k waits
         * for this store. */
        atomic_store_explicit(&q->prod_entered, t, memory_order_relaxed);
        return UINT_MAX;
    }
    return gate;
}

/* Enter a push of k items at position t: announce it, then read the gate.
 * Returns the gate (0 on the fast path: open, no fence needed; GATE_FENCED
 * set when producer_leave's fence must be a real one), or UINT_MAX when
 * closed (the announcement withdrawn). */
static HOT_INLINE unsigned producer_enter(struct weft_spsc *q, size_t t, size_t k)
{
    /* relaxed: ordered before the load of the gate by the fence below, and
     * before the caller's release stores of published words */
    atomic_store_explicit(&q->prod_entered, t + k, memory_order_relaxed);
    /* the light side of the close fence: a compiler barrier, enough while
     * close issues membarrier (gate has no FENCED bit and membarrier still
     * works); pairs with close_fence_heavy */
    weft_internal_fence_light(false);
    /* The load half of the Dekker pair with close's fetch_or of GATE_CLOSED
     * and its heavy fence.  seq_cst, with that fetch_or seq_cst too: a push
     * whose check comes after close's fetch_or in the single total order
     * sees CLOSED whatever fences either side skipped, which is what keeps
     * a push that starts after close_grace's wait from delivering once
     * membarrier has failed.  On x86-64 a seq_cst load is a plain load (the
     * code is the same as relaxed); on AArch64 it is an LDAR */
    unsigned gate = atomic_load_explicit(&q->gate, memory_order_seq_cst);
    /* one relaxed load of a flag that is written once in a process's life,
     * if ever: membarrier refused (see weft_internal_membarrier_works) */
    if (LIKELY(gate == 0 && weft_internal_membarrier_works()))
        return 0;
    return producer_enter_rare(q, t, gate);
}

/* The notifier's fence between publishing an index and reading a waiter
 * count: a compiler barrier when waiters issue membarrier, else seq_cst
 * (fenced: producer_enter's GATE_FENCED, consumer_fenced).  Pairs with the
 * fence in weft_eventcount_prepare. */
static inline void notify_fence(unsigned fenced)
{
    weft_internal_fence_light(fenced != 0); /* pairs with prepare's fence or membarrier */
}

/* Leave a push that published its items; gate as producer_enter
 * returned. */
static HOT_INLINE void producer_leave(struct weft_spsc *q, unsigned gate)
{
    /* the consumer may be parked on empty: wake it.  The fence orders the
     * store of the published word before the load of the waiter count (one
     * relaxed load when nobody waits) */
    notify_fence(gate & GATE_FENCED);
    weft_internal_ec_notify_fenced(ec_of(&q->not_empty), 1);
    /* after the same fence: one more load when no doorbell is attached */
    weft_internal_doorbell_ring_fenced(&q->doorbell);
}

/* Free slots as the producer sees them at position t, reloading head only
 * when the cached copy shows fewer than want. */
static HOT_INLINE size_t producer_space(struct weft_spsc *q, size_t t, size_t want)
{
    size_t cap = q->mask + 1;
    size_t space = cap - (t - q->prod_head_cache);
    if (UNLIKELY(space < want)) {
        /* acquire: pairs with the consumer's release store of head; the
         * consumer's reads of the slots it freed happen before we refill
         * them (without it such a read could return our refill: load
         * buffering, which Relacy never produces, so mutant
         * src/spsc.c:525:61 survives the model; as the deque's slot reuse,
         * see stress/README.md) */
        q->prod_head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
        space = cap - (t - q->prod_head_cache);
    }
    return space;
}

/* The producer's position: outside a push, prod_entered is it. */
static inline size_t producer_position(struct weft_spsc *q)
{
    /* relaxed: the producer is the only writer of prod_entered; it reads
     * its own last store */
    return atomic_load_explicit(&q->prod_entered, memory_order_relaxed);
}

/* 0 pushed, EAGAIN full, EPIPE closed. */
static HOT_INLINE int push_one(struct weft_spsc *q, void *item)
{
    size_t t = producer_position(q);
    if (UNLIKELY(producer_space(q, t, 1) == 0))
        return EAGAIN;
    unsigned gate = producer_enter(q, t, 1);
    if (UNLIKELY(gate == UINT_MAX))
        return EPIPE;
    size_t word = q->prod_word;
    /* relaxed: published by the release store below */
    atomic_store_explicit(slot_at(q, word), item, memory_order_relaxed);
    WEFT_CHAOS_POINT();
    /* release: pairs with the acquire load in consumer_has; the slot and
     * the caller's writes before the push are visible to the pop */
    atomic_store_explicit(published_at(q, word), t + 1, memory_order_release);
    q->prod_word = next_word(q, word);
    /* release: pairs with the acquire load in weft_spsc_size, which then
     * sees the published word too; on our own line, which nobody else
     * reads on a fast path */
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
    size_t t = producer_position(q);
    size_t space = producer_space(q, t, n);
    size_t k = n < space ? n : space;
    if (k == 0)
        return 0;
    unsigned gate = producer_enter(q, t, k);
    if (gate == UINT_MAX)
        return 0;
    size_t word = q->prod_word;
    for (size_t i = 0; i < k; i++) {
        /* relaxed: published by the release store below */
        atomic_store_explicit(slot_at(q, word), items[i], memory_order_relaxed);
        size_t next = next_word(q, word);
        if (i + 1 == k || next % LINE_WORDS == 1) {
            WEFT_CHAOS_POINT();
            /* release: as in push_one; one store publishes the slots this
             * batch filled in the line */
            atomic_store_explicit(published_at(q, word), t + i + 1, memory_order_release);
        }
        word = next;
    }
    q->prod_word = word;
    /* release: as in push_one */
    atomic_store_explicit(&q->tail, t + k, memory_order_release);
    producer_leave(q, gate);
    return k;
}

/* ---- the consumer ------------------------------------------------------ */

/* Whether an item is at position pos, whose slot is word: yes when the
 * last published word the consumer read is later, else ask the slot's
 * line. */
static HOT_INLINE bool consumer_has(struct weft_spsc *q, size_t pos, size_t word)
{
    if (LIKELY(q->cons_published != pos))
        return true; /* cons_published is never earlier than the head */
    /* acquire: pairs with the release stores of published words in
     * push_one and try_push_many; the slots they cover (and what their
     * items point to) are visible */
    size_t published = atomic_load_explicit(published_at(q, word), memory_order_acquire);
    if (!later(published, pos))
        return false; /* an earlier lap's value, or this line is not there yet */
    q->cons_published = published;
    return true;
}

static inline size_t consumer_head(struct weft_spsc *q)
{
    /* relaxed: the consumer is the only writer of head; it reads its own
     * last store */
    return atomic_load_explicit(&q->head, memory_order_relaxed);
}

/* Whether the consumer's light fence must be a real one: the ring needs
 * real fences (fenced), or membarrier has failed in this process since.
 * Both unlikely, so that the common case reads straight down. */
static HOT_INLINE bool consumer_fenced(const struct weft_spsc *q)
{
    return UNLIKELY(q->fenced) || UNLIKELY(!weft_internal_membarrier_works());
}

static HOT_INLINE void consumer_publish(struct weft_spsc *q, size_t h)
{
    /* release: pairs with the acquire load of head in producer_space; our
     * reads of the freed slots happen before the producer refills them */
    atomic_store_explicit(&q->head, h, memory_order_release);
    /* the producer may be parked on full: wake it (one relaxed load when
     * not); the fence pairs with the one in eventcount_prepare */
    notify_fence(consumer_fenced(q));
    weft_internal_ec_notify_fenced(ec_of(&q->not_full), 1);
}

static HOT_INLINE bool pop_one(struct weft_spsc *q, void **item)
{
    size_t h = consumer_head(q);
    size_t word = q->cons_word;
    if (UNLIKELY(!consumer_has(q, h, word)))
        return false;
    /* relaxed: ordered by the acquire load in consumer_has */
    *item = atomic_load_explicit(slot_at(q, word), memory_order_relaxed);
    q->cons_word = next_word(q, word);
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
    size_t h = consumer_head(q);
    size_t word = q->cons_word;
    size_t k = 0;
    while (k < n && consumer_has(q, h + k, word)) {
        /* relaxed: ordered by the acquire load in consumer_has */
        items[k++] = atomic_load_explicit(slot_at(q, word), memory_order_relaxed);
        word = next_word(q, word);
    }
    if (k == 0)
        return 0;
    q->cons_word = word;
    consumer_publish(q, h + k);
    return k;
}

/* ---- blocking ------------------------------------------------------------ */

/* One rung of wait.h's ladder for a push or pop that found the ring full
 * or empty: returns after a pause or a yield, or after a park on ec that
 * the caller's condition (checked after announcing, through ready()) did
 * not cancel.  ETIMEDOUT when the deadline passed, else 0. */
static int wait_step(struct weft_spsc *q, weft_eventcount *ec, unsigned *round, struct deadline d,
                     bool (*ready)(struct weft_spsc *))
{
    enum wait_rung rung = wait_rung(round, d);
    if (rung == WAIT_TIMEOUT)
        return ETIMEDOUT;
    if (rung == WAIT_AGAIN)
        return 0;
    WEFT_CHAOS_POINT();
    uint32_t key = weft_eventcount_prepare(ec);
    /* the re-check after announcing: prepare's fence pairs with the
     * notifier's light fence, so either ready() sees its publication or the
     * notifier sees us announced */
    if (ready(q)) {
        weft_eventcount_cancel(ec);
        return 0;
    }
    /* timed out or not, the caller tries once more */
    (void)wait_park(ec, key, d);
    return 0;
}

/* The producer may stop waiting: there is room, or the ring is closed. */
static bool producer_ready(struct weft_spsc *q)
{
    /* relaxed: only the value matters here: it decides whether to sleep,
     * and the push tried next reads the gate itself (wait_step's caller);
     * ordered after the announcement by prepare's fence.  acquire until
     * issue #12's mutation run (mutant src/spsc.c:753:44) */
    return producer_space(q, producer_position(q), 1) != 0 ||
           (atomic_load_explicit(&q->gate, memory_order_relaxed) & GATE_CLOSED) != 0;
}

/* The consumer may stop waiting: an item arrived, or the ring is sealed. */
static bool consumer_ready(struct weft_spsc *q)
{
    /* relaxed: it only decides whether to sleep; pop_slow reads sealed
     * again with acquire before it acts on it (the load that pairs with
     * close's release store).  acquire until issue #12's mutation run
     * (mutant src/spsc.c:761:45) */
    return consumer_has(q, consumer_head(q), q->cons_word) ||
           atomic_load_explicit(&q->sealed, memory_order_relaxed) != 0;
}

COLD static int push_slow(struct weft_spsc *q, void *item, bool timed, uint64_t timeout_ns)
{
    struct deadline d = timed ? deadline_in(timeout_ns) : deadline_none();
    unsigned round = 0;
    for (;;) {
        /* the caller's attempt, or ours below, found the ring full: a closed
         * ring stays full, so give up now.  relaxed: only the value
         * matters, nothing is read after it */
        if ((atomic_load_explicit(&q->gate, memory_order_relaxed) & GATE_CLOSED) != 0)
            return EPIPE;
        if (wait_step(q, &q->not_full, &round, d, producer_ready) == ETIMEDOUT)
            return ETIMEDOUT;
        int rc = push_one(q, item);
        if (rc != EAGAIN)
            return rc;
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

/* How long a pop on a sealed ring waits before it trusts "no push in
 * flight" when close's membarrier was refused (see close_grace). */
#define CLOSE_GRACE_NS 10000000u /* 10 ms */

/* Whether the consumer may stop waiting out the grace: an item arrived, or
 * a push is announced (then the pop waits for it as on any sealed ring). */
static bool grace_ready(struct weft_spsc *q)
{
    size_t h = consumer_head(q);
    /* relaxed: it only decides whether to sleep; pop_slow reads
     * prod_entered again with acquire before it acts on it.  acquire until
     * issue #12's mutation run (mutant src/spsc.c:808:51) */
    return consumer_has(q, h, q->cons_word) ||
           atomic_load_explicit(&q->prod_entered, memory_order_relaxed) != h;
}

/* The consumer found a SEALED_UNSURE ring empty and prod_entered equal to
 * its head (it is called only then; its state is the consumer's, so the
 * grace runs across calls and a pop_timed that polls sees EPIPE once it is
 * over).  close's membarrier was refused (a seccomp filter installed
 * after the ring was made, say), so a push that read "membarrier works"
 * just before the switch and skipped its real fence may have passed its
 * closed check without its store of prod_entered being visible to us yet.
 * Such a push is either running, and then it publishes within nanoseconds,
 * or it was preempted, and a context switch is a full barrier on Linux,
 * which makes its store visible.  So the pop reports EPIPE only when it sees
 * prod_entered == head again CLOSE_GRACE_NS after the first time: this
 * waits on not_empty (a push that publishes wakes it) until the grace is
 * over.  ETIMEDOUT when the caller's deadline passed first, else 0. */
static int close_grace(struct weft_spsc *q, struct deadline d)
{
    uint64_t now = now_ns();
    if (q->cons_grace_until == 0)
        q->cons_grace_until = now + CLOSE_GRACE_NS;
    if (now >= q->cons_grace_until) {
        q->cons_grace_over = true;
        return 0;
    }
    uint64_t left = q->cons_grace_until - now;
    bool whole_grace = true; /* the wait below lasts until the grace is over */
    if (!deadline_is_none(d)) {
        uint64_t d_left = deadline_left(d);
        if (d_left == 0)
            return ETIMEDOUT;
        if (d_left < left) {
            left = d_left;
            whole_grace = false;
        }
    }
    uint32_t key = weft_eventcount_prepare(&q->not_empty);
    /* the re-check after announcing, as in wait_step */
    if (grace_ready(q)) {
        weft_eventcount_cancel(&q->not_empty);
        return 0;
    }
    /* a wait that timed out lasted the grace (the model checker's clock does
     * not advance with its waits, so it needs this rather than now_ns) */
    if (weft_eventcount_wait_timed(&q->not_empty, key, left) == ETIMEDOUT && whole_grace)
        q->cons_grace_over = true;
    return 0;
}

COLD static int pop_slow(struct weft_spsc *q, void **item, bool timed, uint64_t timeout_ns)
{
    struct deadline d = timed ? deadline_in(timeout_ns) : deadline_none();
    unsigned round = 0;
    /* the caller's attempt found the ring empty; so does each attempt at
     * the end of the loop that goes round */
    for (;;) {
        /* acquire: pairs with the release store of sealed in close; close's
         * fence then comes before our load of prod_entered below */
        unsigned sealed = atomic_load_explicit(&q->sealed, memory_order_acquire);
        if (sealed != 0) {
            /* relaxed: only the value matters.  Every push that can still
             * succeed stored prod_entered before close's fence, which the
             * acquire of sealed above ordered before this load, so on a
             * SEALED ring it returns that value (or a later one); on a
             * SEALED_UNSURE one, close_grace waits for it.  When it equals
             * our head we have popped everything before it, and pop_one
             * acquires what it takes (see producer_enter_rare) */
            size_t entered = atomic_load_explicit(&q->prod_entered, memory_order_relaxed);
            /* the last attempt found nothing at the head: equal to it, no push
             * announced an item there (or it withdrew), and no later push
             * can succeed.  Later, a push is announced: published (the pop
             * below takes it), withdrawn, or still on its way */
            if (entered == consumer_head(q)) {
                if (sealed == SEALED || q->cons_grace_over)
                    return pop_one(q, item) ? 0 : EPIPE;
                /* close's membarrier was refused: look again later */
                if (close_grace(q, d) == ETIMEDOUT)
                    return ETIMEDOUT;
            } else {
                /* a push is between its closed check and its publication:
                 * it ends within a few instructions unless preempted; wait
                 * for it without parking (it notifies only when it
                 * publishes) */
                if (!deadline_is_none(d) && deadline_left(d) == 0)
                    return ETIMEDOUT;
                sched_yield();
            }
        } else if (wait_step(q, &q->not_empty, &round, d, consumer_ready) == ETIMEDOUT) {
            return ETIMEDOUT;
        }
        if (pop_one(q, item))
            return 0;
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
 * producer_enter.  Returns true when it orders every push: either side's
 * fence is real, or membarrier(PRIVATE_EXPEDITED) made every running
 * thread of this process execute a full barrier, which stands in for the
 * fence the producer skipped.  false when the kernel refused membarrier
 * (weft_internal_heavy_fence, the library's one membarrier path, has then
 * issued a seq_cst fence and switched every light fence of the process to
 * a real one; a push that read the switch too late is what close_grace
 * waits out). */
static bool close_fence_heavy(struct weft_spsc *q)
{
    /* fenced is set in the TSan build, which issues no membarrier */
    if (!q->fenced)
        return weft_internal_heavy_fence();
    /* seq_cst: pairs with the seq_cst fence in producer_enter_rare for
     * process-shared rings and the TSan build */
    atomic_thread_fence(memory_order_seq_cst);
    return true;
}

void weft_spsc_close(weft_spsc *q)
{
    assert(q != NULL);
    /* The store half of the Dekker pair with producer_enter; the heavy
     * fence below orders it against the producer's load of the gate.
     * seq_cst: pairs with the seq_cst load of the gate in producer_enter
     * (a push that checks after this in the total order fails, see there).
     * An RMW keeps the FENCED bit when several threads close at once. */
    atomic_fetch_or_explicit(&q->gate, GATE_CLOSED, memory_order_seq_cst);
    unsigned sealed = close_fence_heavy(q) ? SEALED : SEALED_UNSURE;
    /* release: pairs with the acquire load of sealed in pop_slow; a pop
     * that sees it knows the fence above is done (the fence then happens
     * before the pop's load of prod_entered, which is what lets it see
     * every push that will deliver).  The model checker cannot tell it
     * from relaxed (mutant src/spsc.c:950:47 survives): Relacy makes
     * seq_cst fences synchronise with each other, so the pop's own fences
     * hand it close's writes anyway; C11 and C++20 do not.  Kept.
     * Concurrent closes may store different values: each one is true of
     * the close that stored it, which is all a pop needs */
    atomic_store_explicit(&q->sealed, sealed, memory_order_release);
    /* notify_all fences after our stores (pairs with eventcount_prepare) */
    weft_eventcount_notify_all(&q->not_empty);
    weft_eventcount_notify_all(&q->not_full);
    weft_internal_doorbell_ring_fenced(&q->doorbell); /* after notify_all's fence */
}

int weft_spsc_set_doorbell(weft_spsc *q, weft_doorbell *db)
{
    if (q == NULL)
        return EINVAL;
    weft_internal_doorbell_attach(&q->doorbell, db);
    return 0;
}
