/*
 * weft/spsc.h - bounded single-producer/single-consumer ring of void * items.
 *
 * A fixed-size FIFO for exactly one producer thread and one consumer thread.
 * The fast paths make no read-modify-write and no system call: a push stores
 * the item and publishes it with a release store into the item's own cache
 * line; a pop loads the item and publishes the consumer's index with a release
 * store.  The producer re-reads the consumer's index only when its private copy
 * says "full"; the consumer learns from the item's line itself whether the item
 * is there, so an item moves between the cores as one cache line (src/spsc.c
 * explains the layout).
 *
 * Concurrency: may two threads make these calls on one ring at the same time?
 *
 *             | push* | pop* | close | size
 *   push*     | no    |      |       |
 *   pop*      | yes   | no   |       |
 *   close     | yes   | yes  | yes   |
 *   size      | yes   | yes  | yes   | yes
 *
 * push*: every push form (push, try_push, push_timed, try_push_many), the
 * producer's calls; pop*: every pop form, the consumer's; size: size, closed,
 * capacity.  footprint: any time.  create (any thread) and init: before every
 * other call; the ring reaches the other threads through the caller's
 * synchronisation.  destroy: alone, after every other call.  Handing the
 * producer (or consumer) role to another thread needs a happens-before edge
 * between the two (a join, a mutex, ...).
 *
 * Progress: the try_ forms, size, closed, capacity, footprint and init are
 * wait-free; the try_ forms make no system call unless the other side is parked
 * (then one futex wake).  close is wait-free but for one membarrier(2) call
 * (see "Close") and its futex wakes.  push and pop and their _timed forms block
 * while the ring is full / empty: they spin briefly, yield, then park on an
 * eventcount (weft/eventcount.h) and use no CPU; pop also waits while the
 * producer is in the middle of a push on a closed ring, and for 10 ms on a
 * closed ring once membarrier has failed (see "Close").  When nobody is parked,
 * push and pop only read one read-mostly word to find that out.
 *
 * Ordering: a push happens-before the pop that returns its item (release on
 * publish, acquire on read), so whatever the producer wrote before pushing a
 * pointer is visible to the consumer after popping it.  The ring is a
 * linearizable FIFO: items come out in push order, each exactly once; the one
 * exception is close (below).
 *
 * What the results mean, exactly (weft-stress's spsc-lin scenario checks
 * this and no more; stress/README.md, "Linearizability"):
 * - Steps.  A pop is one atomic step inside its call (it stores its new
 *   position; until then its items still take their slots).  A push is two:
 *   it passes the closed check (it fails there if closed, and claims room
 *   there: "full" is decided against the consumer's stored position), then
 *   publishes (a batch: line by line).  close is two: it refuses pushes
 *   (the gate), then seals the ring for pops.
 * - Without close all of it is linearizable, "empty" and "full" included:
 *   there is one producer, so an item claimed but not yet published is
 *   simply not in the ring yet.  try_pop false, try_pop_many 0, pop_timed
 *   ETIMEDOUT: empty at some instant of the call (ETIMEDOUT: and not sealed
 *   and drained).  try_push false, try_push_many 0: full or closed at some
 *   instant; push_timed ETIMEDOUT: full and not closed.
 * - With close it is not: a push that passed the check before the gate
 *   succeeds even if it publishes after close returned, so a pop may find
 *   the ring empty after close returned and get that item later.  EPIPE
 *   from a pop: the ring was sealed, and every push that passed the check
 *   before the gate had been popped.  EPIPE from a push: the gate had
 *   closed.  A push that has room announces itself before its check and
 *   withdraws when it finds the ring closed; a pop on the sealed, drained
 *   ring waits out an announced push, so pop_timed may report ETIMEDOUT
 *   there while a push that will fail is in progress.
 *
 * Close: after weft_spsc_close, pushes fail (try: false, blocking: EPIPE)
 * and pops take what is left, then return EPIPE.  A push that runs at the
 * same time as close either fails, or succeeds and its item is popped before
 * any pop reports EPIPE: an item whose push returned true / 0 is never lost.
 * (A push announces itself on its own cache line before it checks the
 * closed flag, and publishing its items ends it; close raises the flag,
 * issues the heavy side of an asymmetric fence, then seals the ring; a pop
 * reports EPIPE only when the ring is sealed, empty and no announced push
 * is still to publish.)
 * If membarrier(2) fails after the ring was made (a seccomp filter installed
 * later, say), close keeps this guarantee.  From the first refusal on,
 * every light fence of the process's rings and eventcounts is a seq_cst
 * fence; a push that read the switch too late (it skipped its fence) either
 * checked the closed flag after close, and fails, or was already between
 * its check and its publication, and then it publishes within nanoseconds
 * or is preempted, which on Linux is a full barrier that makes its
 * announcement visible.  So a pop on a ring whose close had membarrier
 * refused reports EPIPE only after it has found the ring empty with no
 * push announced twice, 10 ms apart (it waits parked, and a push that
 * publishes wakes it); pop_timed reports ETIMEDOUT there until 10 ms have
 * passed since a pop first found it so.
 *
 * Memory: the ring is one position-independent block without pointers.
 * weft_spsc_init builds it in memory the caller provides, which may be
 * mmap(MAP_SHARED) memory used by two processes (producer in one, consumer in
 * the other); pass WEFT_SHARED then, so that parked threads of the other
 * process are woken.  If the producer process dies inside a push, pops after
 * close wait for it forever (yielding); items it pushed before are intact.
 * weft_spsc_footprint(capacity) tells the block's size in bytes (about 37 per
 * unit of capacity).
 *
 * Example (make check compiles and runs it: tests/snippets.sh):
 *
 * @code
 * #include <pthread.h>
 * #include <stdint.h>
 * #include <weft/spsc.h>
 *
 * enum { N = 100000 };
 *
 * static void *producer(void *arg)
 * {
 *     weft_spsc *q = arg;
 *     for (uintptr_t i = 1; i <= N; i++)
 *         if (weft_spsc_push(q, (void *)i) != 0) // waits while full
 *             break;
 *     weft_spsc_close(q); // the consumer's loop ends after the last item
 *     return NULL;
 * }
 *
 * int main(void)
 * {
 *     weft_spsc *q = weft_spsc_create(1024); // NULL and errno on error
 *     pthread_t t;
 *     if (!q || pthread_create(&t, NULL, producer, q) != 0)
 *         return 1;
 *     void *item;
 *     uintptr_t expect = 1;
 *     while (weft_spsc_pop(q, &item) == 0) { // waits while empty; EPIPE: closed, drained
 *         if ((uintptr_t)item != expect)     // FIFO: 1, 2, 3, ...
 *             return 1;
 *         expect++;
 *     }
 *     pthread_join(t, NULL);
 *     weft_spsc_destroy(q); // alone: after the producer's last call
 *     return expect == N + 1 ? 0 : 1;
 * }
 * @endcode
 */
#ifndef WEFT_SPSC_H
#define WEFT_SPSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <weft/common.h>
#include <weft/doorbell.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque; its storage comes from weft_spsc_create or weft_spsc_init. */
typedef struct weft_spsc weft_spsc;

/* The alignment in bytes that weft_spsc_init needs for its memory. */
#define WEFT_SPSC_ALIGN WEFT_CACHELINE

/* Allocate a ring for at least capacity items (rounded up to a power of two).
 * Thread: any.  Progress: allocates.
 * Returns: the ring; NULL with errno EINVAL when capacity is 0 or too large
 *   for its footprint to fit in a size_t, ENOMEM when allocation fails. */
WEFT_API weft_spsc *weft_spsc_create(size_t capacity);

/* Free a ring from weft_spsc_create (never one from weft_spsc_init).
 * Thread: one, when no other call on q runs or will run.  NULL is ignored. */
WEFT_API void weft_spsc_destroy(weft_spsc *q);

/* Bytes weft_spsc_init needs for a ring of at least capacity items.
 * Thread: any.  Progress: wait-free.
 * Returns: the size, or 0 when capacity is 0 or too large. */
WEFT_API size_t weft_spsc_footprint(size_t capacity);

/* Build a ring in caller-provided memory: at least
 * weft_spsc_footprint(capacity) bytes aligned to WEFT_SPSC_ALIGN (64);
 * mmap'ed memory qualifies.
 * flags: 0, or WEFT_SHARED for memory shared between processes.  The memory
 * stays the caller's: release it when no call on the ring runs any more.
 * Thread: one, before any other call on the ring.  Progress: wait-free.
 * Returns: the ring (at address mem); NULL with errno EINVAL when mem is
 *   NULL or misaligned, capacity is 0 or too large, or flags has unknown
 *   bits. */
WEFT_API weft_spsc *weft_spsc_init(void *mem, size_t capacity, unsigned flags);

/* The real capacity (a power of two >= the one asked for).
 * Thread: any.  Progress: wait-free. */
WEFT_API size_t weft_spsc_capacity(const weft_spsc *q);

/* Number of items in the ring.  Exact when neither side runs; otherwise
 * approximate, and it counts only items that a pop can take: called by the
 * consumer, a non-zero size means its next try_pop succeeds.  It may miss
 * items of a push that is still publishing, and never counts pushes that
 * fail because the ring is closed.
 * Thread: any.  Progress: wait-free.  Returns: 0 .. capacity. */
WEFT_API size_t weft_spsc_size(const weft_spsc *q);

/* Append item (any value, NULL included) unless the ring is full or closed.
 * Thread: the producer.  Progress: wait-free; no system call unless the
 *   consumer is parked (then one futex wake).
 * Ordering: release; writes before the push are visible to the consumer
 *   whose pop returns the item.
 * Returns: true when pushed; false when full or closed (nothing changed). */
WEFT_API bool weft_spsc_try_push(weft_spsc *q, void *item);

/* Remove the oldest item into *item unless the ring is empty.
 * Thread: the consumer.  Progress: wait-free; no system call unless the
 *   producer is parked on a full ring (then one futex wake).
 * Ordering: acquire; pairs with the release of the push that stored it.
 * Returns: true with *item set; false when empty (*item untouched).  A
 *   closed ring still gives up its items: false + weft_spsc_closed() means
 *   "drained" only once no push can be running (use weft_spsc_pop for
 *   an exact end-of-stream). */
WEFT_API bool weft_spsc_try_pop(weft_spsc *q, void **item);

/* Append as many of items[0..n) as fit, in order, publishing them with one
 * store per cache line of slots.  Thread: the producer.  Progress: wait-free.
 * Ordering: as weft_spsc_try_push for each item.
 * Returns: how many were pushed (the first ones), 0 when full or closed or
 *   n is 0 (items may be NULL then). */
WEFT_API size_t weft_spsc_try_push_many(weft_spsc *q, void *const *items, size_t n);

/* Remove up to n of the oldest items into items[0..), in order, with one
 * store.  Thread: the consumer.  Progress: wait-free.
 * Ordering: as weft_spsc_try_pop for each item.
 * Returns: how many were popped, 0 when empty or n is 0. */
WEFT_API size_t weft_spsc_try_pop_many(weft_spsc *q, void **items, size_t n);

/* Append item, waiting while the ring is full (spin, yield, then park).
 * Thread: the producer.  Progress: blocks.
 * Ordering: as weft_spsc_try_push.
 * Returns: 0 when pushed; EPIPE when the ring is closed (before or while
 *   waiting; the item was not pushed). */
WEFT_API int weft_spsc_push(weft_spsc *q, void *item);

/* Remove the oldest item into *item, waiting while the ring is empty.
 * Thread: the consumer.  Progress: blocks.
 * Ordering: as weft_spsc_try_pop.
 * Returns: 0 with *item set; EPIPE when the ring is closed and every item
 *   pushed before has been popped (*item untouched); once membarrier(2)
 *   has failed in the process, only 10 ms after it first found that (see
 *   "Close"). */
WEFT_API int weft_spsc_pop(weft_spsc *q, void **item);

/* weft_spsc_push waiting at most timeout_ns nanoseconds (relative,
 * CLOCK_MONOTONIC; 0 means "try once").
 * Returns: 0, EPIPE as weft_spsc_push; ETIMEDOUT when still full at the end
 *   of the timeout (the item was not pushed). */
WEFT_API int weft_spsc_push_timed(weft_spsc *q, void *item, uint64_t timeout_ns);

/* weft_spsc_pop waiting at most timeout_ns nanoseconds (0: try once).
 * Returns: 0, EPIPE as weft_spsc_pop; ETIMEDOUT when still empty at the end
 *   of the timeout (on a closed, drained ring too, while the pop waits out
 *   an announced push or the 10 ms of "Close"). */
WEFT_API int weft_spsc_pop_timed(weft_spsc *q, void **item, uint64_t timeout_ns);

/* Close the ring: later pushes fail, pops drain what is left and then
 * return EPIPE; every parked push and pop is woken.  Idempotent.
 * Thread: any (the producer, the consumer or a third one).
 * Progress: wait-free but for one membarrier(2) system call (process-private
 *   rings; a seq_cst fence instead once the kernel refuses it, see "Close")
 *   and the futex wakes.
 * Ordering: a push that sees the ring closed fails; one that does not is
 *   delivered (see "Close" above). */
WEFT_API void weft_spsc_close(weft_spsc *q);

/* Has weft_spsc_close been called?  Thread: any.  Progress: wait-free. */
WEFT_API bool weft_spsc_closed(const weft_spsc *q);

/* Attach db (NULL: detach): from then on every push and close rings it
 * after waking a parked consumer, so an event loop waiting on db's fd learns
 * of new items and of the close (weft/doorbell.h).  With none attached a
 * push pays one load of a read-mostly word; with one attached and the loop
 * busy, one more load.  One doorbell per ring; a doorbell may serve several
 * rings.  Detach before destroying db, and let pushes that may still see it
 * finish first.  A ring in shared memory: see "Processes" in
 * weft/doorbell.h (the ring holds db's address).
 * Thread: any.  Returns: 0, or EINVAL when q is NULL. */
WEFT_API int weft_spsc_set_doorbell(weft_spsc *q, weft_doorbell *db);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SPSC_H */
