/*
 * deque_internal.h - the Chase-Lev deque's layout and its owner's side,
 * inline (internal, not installed).  src/deque.c holds the algorithm's
 * description, the thieves' side and create/destroy, and exports
 * weft_deque_push / weft_deque_pop / weft_deque_size as calls of the inline
 * functions here; the pool (pool_internal.h) calls these directly, so that a
 * spawn and its join cost no call into another translation unit (liburcu's
 * split of static inline fast paths and exported calls, urcu/static/).
 * Everything here is static inline or hidden: no symbol leaves the library.
 */
#ifndef WEFT_DEQUE_INTERNAL_H
#define WEFT_DEQUE_INTERNAL_H

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/deque.h>

#include "base.h"
#include "chaos.h"

/* Which formulation orders the two Dekker pairs (see the dekker_* helpers).
 * WEFT_DEQUE_FENCES=1 selects Le et al.'s seq_cst fences, 0 seq_cst accesses.
 * TSan cannot check the fence form, so its build always uses the other. */
#ifdef WEFT_TSAN
#undef WEFT_DEQUE_FENCES
#define WEFT_DEQUE_FENCES 0
#elif !defined(WEFT_DEQUE_FENCES)
#if defined(__x86_64__) || defined(__i386__)
#define WEFT_DEQUE_FENCES 0
#else
#define WEFT_DEQUE_FENCES 1
#endif
#endif

/* The largest capacity: 2^(N-4) slots for N-bit size_t, so that the size of
 * an array in bytes (8 bytes a slot at most, plus a header) fits in size_t,
 * and far below 2^62 so that int64 differences of indices never overflow. */
#define MAX_CAPACITY ((SIZE_MAX >> 4) + 1)

typedef _Atomic(void *) slot_t;

/* A circular array.  Immutable after publication except for the slots. */
struct deque_array {
    size_t mask;               /* capacity - 1; capacity is a power of two */
    struct deque_array *older; /* retired-list link (owner only) */
    slot_t slots[];            /* relaxed atomics: a thief may read a slot
                                  while the owner writes it (the thief's CAS
                                  then fails and it drops what it read) */
};

/* Layout.  top, bottom and array share ONE cache line, as front, back and
 * buffer do in crossbeam-deque's Inner.  A steal reads all three and then
 * CASes top, and a polling owner (size, or a scheduler asking whether its
 * deque is short) reads top and bottom: on one line, each of these costs at
 * most one line transfer instead of two.  The price, that the owner's store
 * of bottom and the thieves' CAS of top now contend for the same line, is
 * small because the owner's push never READS that line: the owner keeps
 * its own copies of bottom and array (and a lower bound of top) on a
 * second, owner-private line, so push only stores to the shared line (a
 * store miss waits in the store buffer, a load miss stalls the owner); pop
 * touches it only for the exchange of bottom and the read of top that
 * Chase-Lev needs.  Measured on the transfer benchmark (bench/bench_deque.c:
 * the owner pushes while 1..3 thieves steal, 2 vCPUs), medians of
 * alternated runs: about 54 -> 36 ns per item against top and bottom on
 * separate lines, with push+pop and steal latency unchanged. */
struct weft_deque {
    /* Shared line: read by every thief on every steal. */
    /* Index of the oldest item.  Advanced by thieves' CAS and by the
     * owner's CAS on the last item; read by everyone. */
    alignas(WEFT_CACHELINE) _Atomic(int64_t) top;
    /* One past the newest item.  Written by the owner only (push, pop),
     * read by thieves and size. */
    _Atomic(int64_t) bottom;
    /* The current array.  Written by the owner (grow) with release, read by
     * thieves with acquire. */
    _Atomic(struct deque_array *) array;

    /* Owner-private line (no other thread touches it). */
    alignas(WEFT_CACHELINE) int64_t top_cache; /* a value top had; <= top */
    int64_t own_bottom;                        /* == bottom: the owner's last store of it */
    struct deque_array *own_array;             /* == array: the owner's last store of it */
    /* One past the newest item: >= own_bottom; items in [bottom, end) are
     * private (see "Private items" below).  Not beside own_bottom: gcc's
     * vectoriser then loads the two with one 16-byte load in deque_pop,
     * which store forwarding cannot serve from push's 8-byte store of end
     * (a stall that took 40% of a fork-join). */
    int64_t end;
    struct deque_array *retired; /* replaced arrays, newest first */
};

_Static_assert(offsetof(struct weft_deque, array) + sizeof(void *) <= WEFT_CACHELINE &&
                   offsetof(struct weft_deque, top) == 0,
               "top, bottom and array must share the first cache line");
_Static_assert(offsetof(struct weft_deque, top_cache) >= WEFT_CACHELINE,
               "owner-private fields must not share the line thieves read and CAS");
_Static_assert(sizeof(int64_t) == 8, "indices are 64-bit");

/* ---- the Dekker pairs ----------------------------------------------------
 *
 * Owner (pop):  store bottom := b;  load t := top
 * Thief:        load t := top;      load b := bottom
 *
 * What they must guarantee: if the thief's load of bottom misses the owner's
 * store (so the thief believes item b is still there), then the owner's load
 * of top sees every CAS on top that the thief's load of top saw (so the
 * owner does not take item b without a CAS while that thief may take it).
 *
 * Fence form (Le et al.): the accesses around a seq_cst fence on each side
 * (the thief's load of top relaxed, its load of bottom acquire).  The two
 * fences are ordered in the single total order S: if the owner's fence
 * comes first, the thief's later load of bottom must see the owner's store
 * (C11, N1570 7.17.3p11); if the thief's fence comes first, the CAS the
 * thief's load of top read from happens-before the thief's fence (a seq_cst
 * CAS is a release, and the fence after the load is an acquire fence), so
 * precedes it in S, and the owner's load after its own fence sees that CAS
 * or a later one (7.17.3p9).
 *
 * Access form (Chase and Lev's SC model): the owner's store is a seq_cst
 * exchange and its load of top seq_cst; the thief's two loads are seq_cst.
 * All four, and every CAS on top, are in S consistently with program order.
 * If the thief's load of bottom precedes the owner's exchange in S, then
 * thief-load-top < thief-load-bottom < owner-exchange < owner-load-top in S,
 * and the CAS the thief's load of top read precedes that load in S, so the
 * owner's seq_cst load of top reads it or a later CAS.  Otherwise the thief's
 * seq_cst load of bottom follows the exchange in S and reads it or a later
 * store.  This is the same guarantee as the fence form, with no standalone
 * fence for ThreadSanitizer to miss: TSan sees the seq_cst accesses as the
 * release/acquire pairs they also are, which is all the happens-before the
 * fence form creates too (a seq_cst fence after a relaxed load acts as an
 * acquire of it).  Cost on x86: seq_cst loads are plain loads and the
 * exchange is one locked instruction, against one locked (gcc) or mfence
 * (clang) instruction on each side for the fence form.
 */

#if WEFT_DEQUE_FENCES
/* The only standalone seq_cst fence of the file (not compiled for TSan). */
static inline void sc_fence(void)
{
    /* seq_cst: the fence of a Dekker pair; pairs with the fence on the
     * other side (dekker_owner <-> dekker_thief / dekker_thief_again) */
    atomic_thread_fence(memory_order_seq_cst);
}
#endif

/* Owner: lower bottom to b, then read top. */
static inline int64_t dekker_owner(struct weft_deque *d, int64_t b)
{
#if WEFT_DEQUE_FENCES
    /* release: as every store of bottom (pairs with the acquire loads of
     * bottom in the thieves); the Dekker ordering comes from the fence.
     * A thief that reads this lowered value goes on to read slots that
     * earlier pushes published.  C11 would order those for a relaxed store
     * too (a later store of the same thread continues push's release
     * sequence, N1570 5.1.2.4p10), which is why the model checker, which
     * implements that rule, cannot tell release from relaxed here (mutant
     * src/deque.c:214:42 survives).  C++20 dropped the rule (P0982R1) and
     * this file is also compiled as C++ (model-check/); kept release,
     * which costs nothing on x86 and one stlr instead of str on ARMv8. */
    atomic_store_explicit(&d->bottom, b, memory_order_release);
    sc_fence();
    WEFT_CHAOS_POINT();
    /* relaxed: the fence before orders it after the store */
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    /* acquire: pairs with the CAS that wrote t (a thief's seq_cst CAS);
     * the thief's read of its slot happens before the owner reuses the slot
     * on the strength of top_cache (see deque_push).  Without it the
     * thief's relaxed read of the slot could return the owner's later
     * write to it: a load-buffering outcome, which C11 allows and which
     * Relacy never produces (its loads read only stores that have already
     * run), so mutant src/deque.c:222:5 survives the model; see "Slot
     * reuse" in stress/README.md.  No instruction on x86. */
    atomic_thread_fence(memory_order_acquire);
    return t;
#else
    /* seq_cst RMW: the owner's half of the Dekker pair (pairs with the
     * seq_cst loads in dekker_thief); also a release (pairs with the
     * acquire loads of bottom) */
    (void)atomic_exchange_explicit(&d->bottom, b, memory_order_seq_cst);
    WEFT_CHAOS_POINT();
    /* seq_cst: second access of the owner's half; also an acquire of the
     * thieves' CAS on top (pairs with their seq_cst CAS) */
    return atomic_load_explicit(&d->top, memory_order_seq_cst);
#endif
}

/* The one CAS that takes item *t: by a thief, or by the owner for the last
 * item; on failure *t becomes the current top.  seq_cst: a release of
 * everything the taker did before (in particular its read of the slot: the
 * owner may overwrite that slot only after it acquired a top past it -
 * pairs with the acquire loads of top in deque_push and deque_pop), and an access in S
 * for the Dekker argument above.  Failure:
 * acquire, because the owner's pop then records t + 1 in top_cache and push
 * reuses slot t on its strength: the winner's read of that slot must happen
 * before (pairs with the winner's seq_cst CAS; otherwise that read could
 * return the owner's later write, load buffering, which the model checker
 * cannot produce: mutant src/deque.c:285:52 survives it).  Thieves ignore the failure
 * value; acquire costs them nothing on x86 and little elsewhere. */
static inline bool claim(struct weft_deque *d, int64_t *t)
{
    return atomic_compare_exchange_strong_explicit(&d->top, t, *t + 1, memory_order_seq_cst,
                                                   memory_order_acquire);
}

/* ---- owner --------------------------------------------------------------- */

/* deque.c: replace the full array a by one of twice the size holding items
 * [t, b); the new array, or NULL (ENOMEM) with nothing changed. */
struct deque_array *weft_internal_deque_grow(struct weft_deque *d, struct deque_array *a, int64_t t,
                                             int64_t b);

/* ---- private items -------------------------------------------------------
 *
 * The pool's weft_join keeps the call it pushes private while the deque still
 * holds stealable items, after Lace's split deque (Tom van Dijk and Jaco van
 * de Pol, "Lace: non-blocking split deque for work-stealing", Euro-Par 2014
 * Workshops, LNCS 8806): items [top, bottom) are public, as in Chase-Lev;
 * items [bottom, end) were written to their slots but bottom was not yet
 * raised over them, so no thief can see them (a thief reads only slots below
 * a bottom it loaded).  Lace's split point is our bottom, its tail our end.
 *
 *  - deque_push_private writes the slot and raises end: no store to the
 *    shared line, no fence.
 *  - deque_pop takes a private item by lowering end: no atomic access at
 *    all; only once the private part is empty does it run Chase-Lev's pop,
 *    with its Dekker pair, on the public part.
 *  - deque_publish raises bottom to end with push's release store: the
 *    private items become public at once, oldest first for thieves.  A
 *    private push followed later by a publish is, to every thief, one push of
 *    several items (bottom's stores are merged); a private push undone by a
 *    private pop before any publish is, to thieves, nothing at all.  So
 *    Chase-Lev's safety argument covers the split as it stands: thieves'
 *    code is unchanged, and the slots it may read (below a bottom it loaded,
 *    at or above a top it loaded) are never private ones.
 *  - When to publish is a policy, not a safety matter: deque_share_if_dry
 *    publishes when the public part looks empty (Lace's "all stolen" rule:
 *    a thief took everything it could see, so it may be waiting).  Lace's
 *    thieves also raise a split request flag; here the owner reads top
 *    instead, on the line the thieves write only when they take an item.
 *    The cost is that private items wait for the owner's next push or pop
 *    to become stealable: a caller must not wait inside one call for the
 *    other to start (weft_join says so).
 * Only the pool uses private items; weft_deque_push publishes each push. */

/* Write item to the slot at end and raise end: private until published. */
static inline int deque_push_private(struct weft_deque *d, void *item)
{
    assert(d != NULL);
    /* the owner's copies: no load from the line the thieves CAS */
    int64_t b = d->end;
    struct deque_array *a = d->own_array;
    if (UNLIKELY(b - d->top_cache > (int64_t)a->mask)) {
        /* acquire: pairs with the CAS of the thief that took the oldest
         * item; its read of the slot we are about to overwrite happens
         * before our write (without it that read could return this write:
         * load buffering, which the model checker cannot produce; mutant
         * src/deque.c:391:51 survives it, as dekker_owner's fence) */
        int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
        d->top_cache = t;
        if (b - t > (int64_t)a->mask) {
            a = weft_internal_deque_grow(d, a, t, b);
            if (a == NULL)
                return ENOMEM;
        }
    }
    /* relaxed: published by the release store of bottom in deque_publish */
    atomic_store_explicit(&a->slots[(size_t)b & a->mask], item, memory_order_relaxed);
    d->end = b + 1;
    return 0;
}

/* Make every private item public. */
static inline void deque_publish(struct weft_deque *d)
{
    d->own_bottom = d->end;
    /* release: publishes the slots (and the caller's writes to the items);
     * pairs with the acquire (or seq_cst) loads of bottom in the thieves */
    atomic_store_explicit(&d->bottom, d->end, memory_order_release);
}

static inline int deque_push(struct weft_deque *d, void *item)
{
    int err = deque_push_private(d, item);
    if (LIKELY(err == 0))
        deque_publish(d);
    return err;
}

/* Whether the public part looks empty: thieves took all they could see. */
static inline bool deque_dry(struct weft_deque *d)
{
    /* relaxed: a hint for the policy above; publishing and keeping private
     * are both safe whatever value it reads, and nothing is accessed on its
     * strength.  Usually a hit: thieves write this line only when they take
     * an item. */
    return atomic_load_explicit(&d->top, memory_order_relaxed) >= d->own_bottom;
}

/* Publish the private items if there are some and the public part looks
 * empty; true when it published (the caller then wakes an idle worker). */
static inline bool deque_share_if_dry(struct weft_deque *d)
{
    if (LIKELY(d->end == d->own_bottom) || !deque_dry(d))
        return false; /* nothing private, or thieves still see an item */
    deque_publish(d);
    return true;
}

/* Pop when the owner's cached top says exactly one item may be left: item
 * t = bottom - 1, unless thieves took it since the owner last read top.
 * Such an item is taken only by a CAS of top from t to t + 1, whoever takes
 * it, so the owner can claim it with that CAS directly, without lowering
 * bottom and without the Dekker pair: if the CAS succeeds no thief can
 * succeed on t any more; if it fails, top moved past t, and as nobody pushes
 * meanwhile top can only be bottom: the deque is empty.  This saves the
 * seq_cst exchange of the general path (and makes push+pop on an empty
 * deque cost one atomic read-modify-write). */
static inline bool pop_last(struct weft_deque *d, struct deque_array *a, int64_t t, void **item)
{
    /* relaxed: the owner wrote the slot; the value counts only if we win */
    void *x = atomic_load_explicit(&a->slots[(size_t)t & a->mask], memory_order_relaxed);
    if (claim(d, &t)) {
        d->top_cache = t + 1;
        *item = x;
        return true;
    }
    d->top_cache = t; /* the top the failed CAS read (acquire): == bottom */
    return false;
}

/* Chase-Lev's pop, of the public part (no private item is left). */
static inline bool deque_pop_public(struct weft_deque *d, void **item)
{
    int64_t b = d->own_bottom; /* the owner's copy (see struct weft_deque) */
    int64_t t = d->top_cache;
    if (UNLIKELY(b <= t))
        return false; /* top >= top_cache >= bottom: certainly empty */
    struct deque_array *a = d->own_array;
    b--;
    if (b == t)
        return pop_last(d, a, t, item);
    t = dekker_owner(d, b);
    d->own_bottom = b;
    d->end = b;
    d->top_cache = t;
    if (LIKELY(t < b)) {
        /* relaxed: the owner wrote this slot; with an item left above it
         * no thief can take it (the Dekker pair) */
        *item = atomic_load_explicit(&a->slots[(size_t)b & a->mask], memory_order_relaxed);
        return true;
    }
    bool got = false;
    if (t == b) {
        /* the last item: race the thieves for it with their own CAS.
         * relaxed: the owner wrote the slot; it counts only if we win */
        void *x = atomic_load_explicit(&a->slots[(size_t)b & a->mask], memory_order_relaxed);
        got = claim(d, &t);
        d->top_cache = b + 1; /* won: top = b + 1; lost: a thief moved it there */
        if (got)
            *item = x;
    }
    /* Restore bottom (t > b: it was empty; t == b: top is now b + 1 either
     * way).  release: as every store of bottom (pairs with the thieves'
     * acquire loads of bottom); relaxed would do under C11's release
     * sequences only, as in dekker_owner (mutant src/deque.c:463:46) */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    d->own_bottom = b + 1;
    d->end = b + 1;
    return got;
}

static inline bool deque_pop(struct weft_deque *d, void **item)
{
    assert(d != NULL && item != NULL);
    if (d->end == d->own_bottom)
        return deque_pop_public(d, item);
    /* a private item: no thief can reach its slot ("Private items" above).
     * relaxed: the owner wrote it */
    int64_t e = --d->end;
    struct deque_array *a = d->own_array;
    *item = atomic_load_explicit(&a->slots[(size_t)e & a->mask], memory_order_relaxed);
    return true;
}

static inline size_t deque_size(const struct weft_deque *d)
{
    assert(d != NULL);
    struct weft_deque *m = (struct weft_deque *)(uintptr_t)d; /* atomic loads want non-const */
    /* relaxed: a statistic; no item is accessed on its strength */
    int64_t t = atomic_load_explicit(&m->top, memory_order_relaxed);
    int64_t b = atomic_load_explicit(&m->bottom, memory_order_relaxed);
    return b > t ? (size_t)(b - t) : 0;
}

#endif /* WEFT_DEQUE_INTERNAL_H */
