/*
 * deque.c - Chase-Lev work-stealing deque; the contract is in
 * include/weft/deque.h.
 *
 * Algorithm.  David Chase and Yossi Lev, "Dynamic circular work-stealing
 * deque", Proceedings of the 17th ACM Symposium on Parallelism in Algorithms
 * and Architectures (SPAA), 2005.  Memory orderings: Nhat Minh Le, Antoniu
 * Pop, Albert Cohen and Francesco Zappa Nardelli, "Correct and efficient
 * work-stealing for weak memory models", Proceedings of the 18th ACM SIGPLAN
 * Symposium on Principles and Practice of Parallel Programming (PPoPP), 2013.
 *
 * How the code maps to the papers.  Two free-running signed 64-bit indices
 * delimit the items: top (the oldest item, advanced only by compare-and-swap)
 * and bottom (one past the newest, written only by the owner).  Item i lives
 * in slot i mod capacity of a circular array whose capacity is a power of
 * two.  push writes the slot and then publishes bottom + 1.  pop first
 * lowers bottom, so that thieves stop short of the slot it is taking, and
 * then reads top: while at least one other item remains below, the owner
 * owns its slot without any atomic read-modify-write; for the last item it
 * races the thieves with a CAS on top, as a thief would.  steal reads top,
 * then bottom, then the slot, and commits with a CAS of top from the value
 * it read.  The store of bottom followed by the load of top in pop, and the
 * load of top followed by the load of bottom in steal, form a Dekker pair:
 * at least one side must see the other's write, or the owner and a thief
 * could both take the last items.  Le et al. order each pair with a seq_cst
 * fence and prove that, with release/acquire on the publishing accesses,
 * nothing stronger is needed.  When the array is full, push (Chase and Lev's
 * resize) copies the live items into an array of twice the size and
 * publishes it; thieves keep working on whichever array they loaded, which
 * is never freed before weft_deque_destroy (the papers leave reclamation
 * open; we keep a list of retired arrays, and since sizes double they total
 * less than the current array, so memory stays within 2x of the peak).
 *
 * Deviations, each argued where it is coded:
 *  - Publishing bottom: Le et al. put a release fence before a relaxed store
 *    of bottom in push; we make every store of bottom a release store
 *    instead (same cost on x86 and ARMv8).  A release fence synchronises
 *    through any later store of the same thread, including the stores in
 *    pop; making all of those stores release ones gives the same edges, and
 *    ThreadSanitizer understands them.
 *  - The Dekker pairs (see dekker_* below): the fence formulation of Le et
 *    al. is kept for targets where it is cheapest; on x86-64, and in the
 *    ThreadSanitizer build (TSan does not model standalone fences), the
 *    four accesses of the pairs are seq_cst accesses instead, which is
 *    Chase and Lev's original sequentially consistent formulation.  On x86
 *    seq_cst loads are plain loads, so thieves then pay no fence at all and
 *    the owner's pop pays one locked exchange.
 *  - steal_batch: not in either paper; it claims its items one CAS each (see
 *    the header for why one CAS over a range is unsafe), and stops at the
 *    first lost race, so that what it returns is still one linearizable
 *    removal (at its first CAS: every item after it was below the bottom
 *    read before, and the Dekker re-check before each further CAS keeps the
 *    owner's CAS-free pops out of the batch).
 *  - The owner caches the last value of top it read (top only grows, so the
 *    cache is a lower bound): push reads the thieves' cache line only when
 *    the cache says the array may be full; pop answers "empty" without any
 *    atomic read-modify-write when bottom <= the cached top, and when the
 *    cache says one item is left it claims that item with the CAS alone,
 *    skipping the lowering of bottom and the Dekker pair (pop_last argues
 *    why that is safe).  So push+pop on an empty deque costs one CAS where
 *    Chase-Lev pays a fence and a CAS.
 *  - The owner also keeps its own copies of bottom and of the array pointer
 *    (it is their only writer), so that push and pop never load the line
 *    that holds top; see the layout note above struct weft_deque.
 *  - No shrinking (crossbeam's shrinking path caused CVE-2021-32810).
 *  - Private items, for the pool only (weft_join): pushes that do not yet
 *    raise bottom, popped back with no atomic access, published later by one
 *    store of bottom (Lace's split deque; deque_internal.h, "Private
 *    items").  weft_deque_push publishes every push, so the public API is
 *    Chase-Lev's exactly.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <weft/deque.h>

#include "base.h"
#include "chaos.h"
#include "deque_internal.h"

/* Thief: read top, then bottom. */
static inline void dekker_thief(struct weft_deque *d, int64_t *t, int64_t *b)
{
#if WEFT_DEQUE_FENCES
    /* relaxed: the seq_cst fence right after it is also an acquire fence,
     * so the CAS that wrote this value (by a thief or the owner, a release)
     * synchronises with that fence (C11 7.17.4p4), and the CAS happens
     * before the fence, which is all the Dekker argument above uses.  It
     * was an acquire load until the mutation run of issue #12 (mutant
     * src/deque.c:242:40) showed nothing telling the two apart; an
     * acquire load before a full fence is a wasted ldar on ARMv8. */
    *t = atomic_load_explicit(&d->top, memory_order_relaxed);
    sc_fence();
    /* acquire: pairs with the owner's release stores of bottom; the items
     * and the array below that value are visible */
    *b = atomic_load_explicit(&d->bottom, memory_order_acquire);
#else
    /* seq_cst: the thief's half of the Dekker pair (pairs with the seq_cst
     * exchange and load in dekker_owner); acquire as above.  Under C11
     * acquire would do: the CAS it reads happens before the seq_cst load
     * of bottom below, so precedes it in S (N1570 7.17.3p6), which is why
     * the model checker, which implements that rule, cannot tell them
     * apart (mutant src/deque.c:250:40 survives).  The revised model
     * (P0668R5, C++20) orders S only by "strongly happens before", which
     * an acquire load does not give, because the compilers' mappings for
     * POWER do not.  Kept seq_cst: the same plain load on x86, ldar
     * either way on ARMv8. */
    *t = atomic_load_explicit(&d->top, memory_order_seq_cst);
    /* seq_cst: second access of the thief's half; acquire of the owner's
     * release stores of bottom */
    *b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);
#endif
}

/* Thief, after its own successful seq_cst CAS of top (steal_batch): read
 * bottom again.  The CAS plays the part of the load of top: it is a seq_cst
 * access of top (access form) or sequenced before the fence (fence form). */
static inline int64_t dekker_thief_again(struct weft_deque *d)
{
#if WEFT_DEQUE_FENCES
    sc_fence();
    /* relaxed: only the value is used, for the Dekker comparison; nothing
     * is read on its strength.  steal_batch takes fewer items than the
     * first load of bottom (an acquire, in dekker_thief) showed, so every
     * slot it reads was published to it by that load.  Acquire until the
     * mutation run of issue #12 (mutant src/deque.c:265:45). */
    return atomic_load_explicit(&d->bottom, memory_order_relaxed);
#else
    /* seq_cst: as the load of bottom in dekker_thief */
    return atomic_load_explicit(&d->bottom, memory_order_seq_cst);
#endif
}

/* ---- create / destroy ---------------------------------------------------- */

static struct deque_array *array_new(size_t capacity)
{
    struct deque_array *a = (struct deque_array *)malloc(sizeof *a + capacity * sizeof(slot_t));
    if (a == NULL)
        return NULL;
    a->mask = capacity - 1;
    a->older = NULL;
    return a;
}

weft_deque *weft_deque_create(size_t initial_capacity)
{
    size_t cap = initial_capacity ? initial_capacity : WEFT_DEQUE_DEFAULT_CAPACITY;
    if (cap > MAX_CAPACITY) {
        errno = EINVAL;
        return NULL;
    }
    size_t pow2 = pow2_at_least(cap);

    weft_deque *d = (weft_deque *)aligned_alloc(alignof(struct weft_deque), sizeof *d);
    if (d == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    struct deque_array *a = array_new(pow2);
    if (a == NULL) {
        free(d);
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < pow2; i++)
        atomic_init(&a->slots[i], NULL);
    /* atomic_init: the deque is not shared yet; handing it to other threads
     * is the caller's synchronisation */
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    atomic_init(&d->array, a);
    d->top_cache = 0;
    d->own_bottom = 0;
    d->end = 0;
    d->own_array = a;
    d->retired = NULL;
    return d;
}

void weft_deque_destroy(weft_deque *d)
{
    assert(d != NULL);
    /* relaxed: destroy runs alone, after the caller's hand-off */
    free(atomic_load_explicit(&d->array, memory_order_relaxed));
    for (struct deque_array *a = d->retired, *next; a != NULL; a = next) {
        next = a->older;
        free(a);
    }
    free(d);
}

/* ---- owner --------------------------------------------------------------- */

/* Replace the full array a by one of twice the size holding items [t, b).
 * Returns the new array, or NULL (ENOMEM) with nothing changed. */
COLD struct deque_array *weft_internal_deque_grow(struct weft_deque *d, struct deque_array *a,
                                                  int64_t t, int64_t b)
{
    size_t cap = a->mask + 1;
    if (cap >= MAX_CAPACITY)
        return NULL;
    struct deque_array *n = array_new(cap * 2);
    if (n == NULL)
        return NULL;
    /* Every slot of the new array is written once: the live items, and NULL
     * for the rest (a thief holding a stale top may read an uncopied slot;
     * its CAS then fails, but the read must not be of indeterminate memory).
     * atomic_init: n is not visible to any other thread yet. */
    for (int64_t i = t; i < t + (int64_t)(cap * 2); i++) {
        /* relaxed: the owner wrote these slots itself */
        void *x = i < b ? atomic_load_explicit(&a->slots[(size_t)i & a->mask], memory_order_relaxed)
                        : NULL;
        atomic_init(&n->slots[(size_t)i & n->mask], x);
    }
    a->older = d->retired;
    d->retired = a; /* a stays readable: thieves may still hold it */
    /* release: pairs with the acquire loads of array in the thieves, so that
     * a thief that loads n sees the copied slots */
    atomic_store_explicit(&d->array, n, memory_order_release);
    d->own_array = n;
    return n;
}

int weft_deque_push(weft_deque *d, void *item)
{
    return deque_push(d, item);
}

bool weft_deque_pop(weft_deque *d, void **item)
{
    return deque_pop(d, item);
}

size_t weft_deque_size(const weft_deque *d)
{
    return deque_size(d);
}

/* ---- thieves ------------------------------------------------------------- */

weft_steal_result weft_deque_steal(weft_deque *d, void **item)
{
    assert(d != NULL && item != NULL);
    int64_t t, b;
    dekker_thief(d, &t, &b);
    if (t >= b)
        return WEFT_STEAL_EMPTY;
    /* acquire: pairs with the release store in weft_internal_deque_grow; loaded after bottom,
     * so an array published before the push of item t is seen */
    struct deque_array *a = atomic_load_explicit(&d->array, memory_order_acquire);
    /* relaxed: read BEFORE the CAS (afterwards the owner may reuse the
     * slot); the value counts only if the CAS succeeds */
    void *x = atomic_load_explicit(&a->slots[(size_t)t & a->mask], memory_order_relaxed);
    WEFT_CHAOS_POINT();
    if (!claim(d, &t))
        return WEFT_STEAL_RETRY;
    *item = x;
    return WEFT_STEAL_OK;
}

weft_steal_result weft_deque_steal_batch(weft_deque *d, void **items, size_t max, size_t *stolen)
{
    assert(d != NULL && stolen != NULL && (items != NULL || max == 0));
    *stolen = 0;
    if (max == 0)
        return WEFT_STEAL_EMPTY;
    int64_t t, b;
    dekker_thief(d, &t, &b);
    if (t >= b)
        return WEFT_STEAL_EMPTY;
    uint64_t half = ((uint64_t)(b - t) + 1) / 2;
    size_t want = half < max ? (size_t)half : max;
    size_t got = 0;
    for (;;) {
        /* acquire: as in weft_deque_steal; reloaded after every load of
         * bottom, since the owner may have grown the array meanwhile and
         * pushed item t only into the new one */
        struct deque_array *a = atomic_load_explicit(&d->array, memory_order_acquire);
        /* relaxed: as in weft_deque_steal */
        void *x = atomic_load_explicit(&a->slots[(size_t)t & a->mask], memory_order_relaxed);
        WEFT_CHAOS_POINT();
        if (!claim(d, &t))
            break;
        items[got++] = x;
        t++;
        if (got == want)
            break;
        /* Item t: the owner may be popping toward it.  Our CAS stands in
         * for the load of top of a fresh steal. */
        if (dekker_thief_again(d) <= t)
            break;
    }
    *stolen = got;
    return got ? WEFT_STEAL_OK : WEFT_STEAL_RETRY;
}
