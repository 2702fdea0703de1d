/*
 * eventcount_internal.h - the eventcount's atomic layout and its inline fast
 * path, for the parts of weft that notify on every operation (the rings).
 * Not installed.
 */
#ifndef WEFT_EVENTCOUNT_INTERNAL_H
#define WEFT_EVENTCOUNT_INTERNAL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <weft/eventcount.h>

#include "base.h"

/* The layout behind weft_eventcount's opaque storage. */
struct weft_internal_ec {
    /* Futex word: bumped by every notify that saw a waiter.  Written by
     * notifiers, read by waiters. */
    atomic_uint_least32_t epoch;
    /* Announced waiters (prepare .. cancel/wait).  Written by waiters only,
     * read by every notify: read-mostly when nobody waits. */
    atomic_uint_least32_t waiters;
    uint32_t flags; /* WEFT_SHARED or 0; written once at init */
    /* 1 when notifiers may use the light fence because waiters issue
     * membarrier() (see weft_internal_ec_fence_light); written once at init */
    uint32_t asym;
};

_Static_assert(sizeof(struct weft_internal_ec) == sizeof(weft_eventcount),
               "weft_eventcount storage must match its layout");
_Static_assert(alignof(struct weft_internal_ec) <= alignof(weft_eventcount),
               "weft_eventcount storage must be aligned for its layout");
_Static_assert(sizeof(atomic_uint_least32_t) == sizeof(uint32_t), "futex words are 32 bits");

static inline struct weft_internal_ec *weft_internal_ec(weft_eventcount *ec)
{
    return (struct weft_internal_ec *)(void *)ec;
}

/* 1 while membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) works in this
 * process; 0 from the first time it failed after having worked (a seccomp
 * filter installed later, say): from then on every light fence of the
 * process is a real fence.  Written by weft_internal_heavy_fence only. */
#ifndef WEFT_MODEL /* the model-check shim makes one per test iteration */
extern atomic_uint weft_internal_membarrier_ok;
#endif

static inline bool weft_internal_membarrier_works(void)
{
    /* relaxed: a hint that decides between the light and the real fence;
     * what keeps a notifier that still read 1 during the switch from losing
     * a wake-up is the waiters' bounded park (see park in eventcount.c) */
    return atomic_load_explicit(&weft_internal_membarrier_ok, memory_order_relaxed) != 0;
}

/* The heavy half of an asymmetric fence pair: membarrier(), a full barrier
 * on every running thread of this process.  When the kernel refuses it,
 * marks membarrier as broken for the whole process and issues a seq_cst
 * fence instead; returns false then, true when membarrier did it. */
bool weft_internal_heavy_fence(void);

/* May a new structure pair light fences with weft_internal_heavy_fence?
 * true when this process registered for membarrier(PRIVATE_EXPEDITED) and
 * it has not failed since (registers on the first call); false in the TSan
 * build.  What weft_eventcount_init decides for its asym flag. */
bool weft_internal_asym_fences(void);

/* Wake up to n waiters (INT32_MAX: all).  Out of line: only called when
 * weft_internal_ec_has_waiters said yes. */
void weft_internal_ec_wake(struct weft_internal_ec *e, int n);

/* The notifier's half of the Dekker pair, between publishing its condition
 * and reading waiters.  For a process-private eventcount on a kernel with
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) this is only a compiler
 * barrier: the waiter's side (weft_eventcount_prepare) issues membarrier(),
 * which runs a full barrier on every CPU running a thread of this process, so
 * the pair still orders as two seq_cst fences would (the asymmetric-fence
 * technique of liburcu's urcu-memb flavour and Folly's
 * asymmetric_thread_fence_heavy).  That keeps the fast path of every push free
 * of an mfence.  Process-shared eventcounts, the TSan build (TSan models
 * neither fences nor membarrier; the real fence keeps the code simple to
 * reason about there), and every eventcount once membarrier has failed in
 * this process (weft_internal_membarrier_works), use a seq_cst fence. */
/* The light half of every asymmetric fence pair of weft (the eventcount's
 * notify, spsc's notify and close fences): a compiler barrier when the
 * other side issues membarrier(), else (real) a seq_cst fence, which pairs
 * with the other side's seq_cst fence. */
static inline void weft_internal_fence_light(bool real)
{
    if (UNLIKELY(real)) {
        atomic_thread_fence(memory_order_seq_cst); /* pairs with the other side's fence */
        return;
    }
    /* pairs with the other side's membarrier().  seq_cst, not acq_rel: gcc
     * and clang emit the same compiler barrier for both (so mutants that
     * weaken it pass every check), but an acq_rel signal fence would let a
     * compiler hoist the load after it above the store before it, which is
     * exactly the reordering a Dekker pair forbids */
    atomic_signal_fence(memory_order_seq_cst);
}

static inline void weft_internal_ec_fence_light(const struct weft_internal_ec *e)
{
#ifndef WEFT_TSAN
    bool real = !(e->asym && weft_internal_membarrier_works());
#else
    (void)e;
    bool real = true;
#endif
    /* one call for both builds, so that what the model checks (the plain
     * build) is the call the TSan build makes too; pairs with membarrier()
     * in prepare, or with its fence */
    weft_internal_fence_light(real);
}

/* Is anybody announced?  The caller must have ordered its publication of the
 * condition before this load with a seq_cst fence (or an equivalent seq_cst
 * read-modify-write); that fence pairs with the one in
 * weft_eventcount_prepare. */
static inline bool weft_internal_ec_has_waiters(struct weft_internal_ec *e)
{
    /* relaxed: ordering comes from the caller's seq_cst fence, see above */
    return atomic_load_explicit(&e->waiters, memory_order_relaxed) != 0;
}

/* notify for callers that already issued the seq_cst fence. */
static inline void weft_internal_ec_notify_fenced(struct weft_internal_ec *e, int n)
{
    if (UNLIKELY(weft_internal_ec_has_waiters(e)))
        weft_internal_ec_wake(e, n);
}

/* The whole notify, inline: call after publishing the condition (with
 * release or stronger).  When nobody waits: a compiler barrier (or one
 * fence, see weft_internal_ec_fence_light) and one load of a read-mostly
 * word; no write, no system call.  n: how many to wake (INT32_MAX: all). */
static inline void weft_internal_ec_notify(struct weft_internal_ec *e, int n)
{
    weft_internal_ec_fence_light(e);
    weft_internal_ec_notify_fenced(e, n);
}

#endif /* WEFT_EVENTCOUNT_INTERNAL_H */
