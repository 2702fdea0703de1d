/*
 * eventcount.c - see include/weft/eventcount.h for the contract and the
 * waiter protocol.  Waiters park on a Linux futex on the epoch word.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "eventcount_internal.h"

static int futex_op(struct weft_internal_ec *e, int op)
{
    return (e->flags & WEFT_SHARED) ? op : (op | FUTEX_PRIVATE_FLAG);
}

/* ---- asymmetric fences (see weft_internal_ec_fence_light) -------------- */

#ifndef WEFT_TSAN /* the TSan build keeps seq_cst fences on both sides */
static bool membarrier_registered;
static pthread_once_t membarrier_once = PTHREAD_ONCE_INIT;

static void membarrier_register(void)
{
    membarrier_registered =
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}
#endif

#ifndef WEFT_MODEL
atomic_uint weft_internal_membarrier_ok = 1;
#endif

bool weft_internal_heavy_fence(void)
{
#ifndef WEFT_TSAN
    if (weft_internal_membarrier_works()) {
        if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
            return true;
        /* A fork()ed child inherits the eventcount but not the
         * registration: register this process and try again. */
        if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 &&
            syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
            return true;
        /* Refused (a seccomp filter installed after init, say): light
         * fences become real ones from now on.  relaxed: see
         * weft_internal_membarrier_works */
        atomic_store_explicit(&weft_internal_membarrier_ok, 0, memory_order_relaxed);
    }
#endif
    /* seq_cst: stands in for the barrier membarrier() would have run on this
     * thread; pairs with the seq_cst fences the notifiers issue from now on
     * (weft_internal_ec_fence_light, spsc's light fences) */
    atomic_thread_fence(memory_order_seq_cst);
    return false;
}

bool weft_internal_asym_fences(void)
{
#ifndef WEFT_TSAN
    pthread_once(&membarrier_once, membarrier_register);
    return membarrier_registered && weft_internal_membarrier_works();
#else
    return false; /* TSan models no membarrier: real fences on both sides */
#endif
}

void weft_eventcount_init(weft_eventcount *ec, unsigned flags)
{
    struct weft_internal_ec *e = weft_internal_ec(ec);
    /* relaxed: init happens before the object is handed to other threads
     * (that hand-off is the caller's synchronisation) */
    atomic_init(&e->epoch, 0);
    atomic_init(&e->waiters, 0);
    e->flags = flags & WEFT_SHARED;
    e->asym = 0;
#ifndef WEFT_TSAN
    if (!(flags & WEFT_SHARED)) {
        pthread_once(&membarrier_once, membarrier_register);
        /* once membarrier failed, new eventcounts start symmetric */
        e->asym = membarrier_registered && weft_internal_membarrier_works();
    }
#endif
}

uint32_t weft_eventcount_prepare(weft_eventcount *ec)
{
    struct weft_internal_ec *e = weft_internal_ec(ec);
    /* The store half of the Dekker pair: this RMW, then the fence below
     * (membarrier, or a seq_cst fence), then the caller's re-check; it
     * pairs with the seq_cst fence a notifier issues between publishing its
     * condition and reading waiters (weft_eventcount_notify_one, or the
     * rings' fenced fast path).  Either this thread's re-check of the
     * condition sees the publication, or the notifier sees waiters != 0.
     * relaxed: the fence does the ordering (C11 7.17.4: a modification
     * sequenced before a seq_cst fence X is seen by a load sequenced after
     * a seq_cst fence Y when X precedes Y in S, and symmetrically), and
     * nothing reads waiters to acquire anything.  It was seq_cst until the
     * mutation run of issue #12 (mutant src/eventcount.c:93:47) showed no
     * check telling the two apart; Relacy passes every scenario with it
     * relaxed (model-check/eventcount, mpmc, spsc, pool), and on x86 the
     * instruction is the same locked add either way. */
    atomic_fetch_add_explicit(&e->waiters, 1, memory_order_relaxed);
    if (e->asym)
        (void)weft_internal_heavy_fence(); /* pairs with the compiler barrier in fence_light */
    else
        atomic_thread_fence(memory_order_seq_cst);
    /* acquire: pairs with the release bump in weft_internal_ec_wake; a key
     * that already includes a notify makes the caller's re-check see what
     * that notifier published. */
    return atomic_load_explicit(&e->epoch, memory_order_acquire);
}

void weft_eventcount_cancel(weft_eventcount *ec)
{
    struct weft_internal_ec *e = weft_internal_ec(ec);
    /* relaxed: withdrawing only makes notifiers skip a wake; a notifier that
     * still sees the old count wakes nobody useful, which is harmless */
    atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_relaxed);
}

/* How long a waiter on an asymmetric eventcount sleeps at most once
 * membarrier has failed: a notifier that read weft_internal_membarrier_works
 * just before the switch used only the light fence, and its wake-up may be
 * lost; the waiter's caller re-checks its condition after this long. */
#define FALLBACK_PARK_NS 10000000u /* 10 ms */

/* Sleep on the epoch unless it moved past key; ts NULL means forever.
 * Returns 0, or ETIMEDOUT. */
static int park(struct weft_internal_ec *e, uint32_t key, const struct timespec *ts)
{
    int rc = 0;
    const struct timespec bound = { 0, FALLBACK_PARK_NS };
    bool bounded = e->asym && !weft_internal_membarrier_works() &&
                   (ts == NULL || ts->tv_sec > 0 || ts->tv_nsec > (long)FALLBACK_PARK_NS);
    /* The kernel compares the epoch with key atomically with queueing us,
     * so a bump between our re-check and this call makes it return EAGAIN.
     * A bounded sleep that ends early returns 0: a spurious wake-up, which
     * the contract allows (the caller re-checks). */
    if (syscall(SYS_futex, &e->epoch, futex_op(e, FUTEX_WAIT), key, bounded ? &bound : ts, NULL,
                0) != 0 &&
        errno == ETIMEDOUT && !bounded)
        rc = ETIMEDOUT;
    /* acquire: pairs with the release bump in weft_internal_ec_wake so that
     * what the waking notifier published is visible once we return */
    (void)atomic_load_explicit(&e->epoch, memory_order_acquire);
    /* relaxed: as in cancel */
    atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_relaxed);
    return rc;
}

void weft_eventcount_wait(weft_eventcount *ec, uint32_t key)
{
    (void)park(weft_internal_ec(ec), key, NULL);
}

int weft_eventcount_wait_timed(weft_eventcount *ec, uint32_t key, uint64_t timeout_ns)
{
    struct timespec ts;
    const uint64_t max_s = (uint64_t)1 << 40; /* ~35000 years: "forever" */
    uint64_t s = timeout_ns / 1000000000u;
    ts.tv_sec = (time_t)(s > max_s ? max_s : s);
    ts.tv_nsec = (long)(timeout_ns % 1000000000u);
    return park(weft_internal_ec(ec), key, &ts);
}

void weft_internal_ec_wake(struct weft_internal_ec *e, int n)
{
    /* release: pairs with the acquire loads of the epoch in prepare and
     * park; the caller's writes before the notify happen-before a waiter's
     * return from a wait that saw this bump.  For shared eventcounts the
     * seq_cst fence notify issued before reading waiters already orders
     * them (a release fence before a relaxed store, C11 7.17.4p2); for
     * private ones that fence is a compiler barrier, and on ARMv8 a relaxed
     * ldadd could be seen before the caller's stores.  The model gives the
     * light half a seq_cst fence (its Dekker ordering, and with it its
     * release half), so it cannot tell release from relaxed here; kept. */
    atomic_fetch_add_explicit(&e->epoch, 1, memory_order_release);
    syscall(SYS_futex, &e->epoch, futex_op(e, FUTEX_WAKE), n, NULL, NULL, 0);
}

static void notify(weft_eventcount *ec, int n)
{
    /* the fence inside orders the caller's publication of its condition
     * before the load of waiters; pairs with the fence in prepare */
    weft_internal_ec_notify(weft_internal_ec(ec), n);
}

void weft_eventcount_notify_one(weft_eventcount *ec)
{
    notify(ec, 1);
}

void weft_eventcount_notify_all(weft_eventcount *ec)
{
    notify(ec, INT_MAX);
}
