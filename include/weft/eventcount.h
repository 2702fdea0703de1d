/*
 * weft/eventcount.h - park and wake threads without lost wake-ups.
 *
 * An eventcount lets threads wait for a condition that other threads make
 * true (a ring became non-empty, a deque got work) without a lock around the
 * condition, and costs the notifier one load of a shared, read-mostly word
 * when nobody waits.  It is the classic eventcount
 * (Reed and Kanodia, "Synchronization with eventcounts and sequencers",
 * CACM 1979) in the Dekker-style form used by Go's and rayon's schedulers:
 *
 *   waiter                                   notifier
 *   ------                                   --------
 *   key = weft_eventcount_prepare(ec);       make the condition true
 *   if (condition is true) {                 weft_eventcount_notify_one(ec);
 *       weft_eventcount_cancel(ec);
 *       ...use it...
 *   } else {
 *       weft_eventcount_wait(ec, key);
 *       ...go round and check again...
 *   }
 *
 * prepare announces the waiter and then (after a seq_cst fence) reads the
 * epoch; notify publishes nothing itself but issues a seq_cst fence after the
 * caller made the condition true and then reads the waiter count.  Of the two
 * threads at least one sees the other: either the waiter's re-check sees the
 * condition, or the notifier sees the waiter, bumps the epoch and wakes it;
 * a wait whose key is stale returns at once.  So no wake-up is lost.
 *
 * Concurrency: may two threads make these calls on one eventcount at once?
 *
 *                  | prepare | cancel, wait* | notify*
 *   prepare        | yes     |               |
 *   cancel, wait*  | yes     | yes           |
 *   notify*        | yes     | yes           | yes
 *
 * wait*: wait, wait_timed; notify*: notify_one, notify_all.  Any number of
 * threads, in any process when initialised with WEFT_SHARED (a weft_eventcount
 * holds no pointers).  cancel and wait*: only by the thread that called
 * prepare, exactly one of them per prepare.  init: alone, before any other
 * call.
 *
 * Progress: prepare, cancel and notify never block: cancel is wait-free,
 * prepare and notify are lock-free.  notify makes a system call (one futex
 * wake) only when a waiter is announced; when nobody waits it costs one load of
 * a read-mostly word and a fence, which is only a compiler barrier on
 * process-private eventcounts made with weft_eventcount_init (their waiters pay
 * with membarrier(2) in prepare; see weft_eventcount_notify_one).  wait and
 * wait_timed block: the thread parks on a futex and uses no CPU until a notify,
 * the timeout or a signal (a spurious return: callers re-check); a wait whose
 * key is stale returns at once.  init is wait-free.
 *
 * Example (make check compiles and runs it: tests/snippets.sh):
 *
 * @code
 * #include <pthread.h>
 * #include <stdatomic.h>
 * #include <stdint.h>
 * #include <weft/eventcount.h>
 *
 * static weft_eventcount ec = WEFT_EVENTCOUNT_INITIALIZER;
 * static atomic_int ready; // the condition
 * static int value;
 *
 * static void *notifier(void *arg)
 * {
 *     (void)arg;
 *     value = 42;
 *     atomic_store_explicit(&ready, 1, memory_order_release); // make it true,
 *     weft_eventcount_notify_one(&ec);                        // then notify
 *     return NULL;
 * }
 *
 * int main(void)
 * {
 *     pthread_t t;
 *     if (pthread_create(&t, NULL, notifier, NULL) != 0)
 *         return 1;
 *     // acquire: pairs with the notifier's release store of ready
 *     while (!atomic_load_explicit(&ready, memory_order_acquire)) {
 *         uint32_t key = weft_eventcount_prepare(&ec);
 *         if (atomic_load_explicit(&ready, memory_order_acquire)) {
 *             weft_eventcount_cancel(&ec); // true after all: do not sleep
 *             break;
 *         }
 *         weft_eventcount_wait(&ec, key); // then go round and check again
 *     }
 *     pthread_join(t, NULL);
 *     return value == 42 ? 0 : 1;
 * }
 * @endcode
 */
#ifndef WEFT_EVENTCOUNT_H
#define WEFT_EVENTCOUNT_H

#include <stdint.h>
#include <weft/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Plain storage; the library checks that its atomic layout fits.  Treat the
 * contents as private.  Zero-filled storage is a valid process-private
 * eventcount (same as weft_eventcount_init(ec, 0)). */
typedef struct weft_eventcount {
#ifndef WEFT_MODEL
    uint32_t opaque[4];
#else
    uint64_t opaque[16]; /* weft's model-check build: its atomics are larger */
#endif
} weft_eventcount;

#define WEFT_EVENTCOUNT_INITIALIZER \
    {                               \
        {                           \
            0, 0, 0, 0              \
        }                           \
    }

/* Initialise ec; flags is 0 or WEFT_SHARED (waiters in other processes).
 * Thread: one, before any other use.  Progress: wait-free.  Returns nothing. */
WEFT_API void weft_eventcount_init(weft_eventcount *ec, unsigned flags);

/* Announce that the calling thread is about to wait, and return the key that
 * weft_eventcount_wait takes.  The caller must then re-check its condition and
 * call exactly one of weft_eventcount_cancel or weft_eventcount_wait[_timed].
 * Thread: any.  Progress: lock-free.
 * Ordering: seq_cst; a notify whose caller's writes this thread's re-check
 *   does not see will see this announcement and wake the thread.
 * Returns: the key (the current epoch). */
WEFT_API uint32_t weft_eventcount_prepare(weft_eventcount *ec);

/* Withdraw the announcement made by prepare (the condition turned out true).
 * Thread: the one that called prepare.  Progress: wait-free. */
WEFT_API void weft_eventcount_cancel(weft_eventcount *ec);

/* Sleep until a notify after prepare, unless one already happened (then
 * return at once).  Withdraws the announcement.  May return spuriously
 * (signals): callers re-check their condition in a loop.
 * Thread: the one that called prepare.  Progress: blocks (futex); uses no CPU
 * while parked.
 * Ordering: acquire; the notifier's writes before its notify are visible
 *   after return when the wake-up came from that notify. */
WEFT_API void weft_eventcount_wait(weft_eventcount *ec, uint32_t key);

/* As weft_eventcount_wait, for at most timeout_ns nanoseconds (relative,
 * CLOCK_MONOTONIC).  Returns 0 when woken, a stale key or spuriously,
 * ETIMEDOUT when the time ran out. */
WEFT_API int weft_eventcount_wait_timed(weft_eventcount *ec, uint32_t key, uint64_t timeout_ns);

/* Wake one announced waiter (all waiters that have not yet gone to sleep
 * return from their wait too, as their key is now stale).  Call after making
 * the condition true.  When nobody waits: one load of a read-mostly word, no
 * write, no system call, and a seq_cst fence only for process-shared or
 * zero-initialised eventcounts (for the others, waiters pay for the fence
 * with membarrier(2) so that notifiers need none).
 * Thread: any.  Progress: lock-free; may make one futex system call.
 * Ordering: release; writes before the notify are visible to a waiter it
 *   wakes. */
WEFT_API void weft_eventcount_notify_one(weft_eventcount *ec);

/* Wake every announced waiter.  As notify_one otherwise. */
WEFT_API void weft_eventcount_notify_all(weft_eventcount *ec);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_EVENTCOUNT_H */
