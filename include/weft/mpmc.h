/*
 * weft/mpmc.h - bounded multi-producer/multi-consumer ring of void * items.
 *
 * A fixed-size FIFO queue that any number of threads (or processes, see
 * "In-place and shared memory") push to and pop from at the same time.  Items
 * are opaque `void *` values, NULL included: the ring never dereferences them.
 * Every operation comes in a non-blocking form (try_push, try_pop and their
 * batch forms) and a blocking form (push, pop, and _timed variants) that spins
 * briefly, yields, then parks the thread on a futex through an eventcount
 * (weft/eventcount.h), so a parked thread uses no CPU.  The algorithm is Dmitry
 * Vyukov's bounded MPMC queue (a sequence number per slot); src/mpmc.c explains
 * the mapping.
 *
 * Concurrency: may two threads make these calls on one ring at the same time?
 *
 *             | push* | pop* | close | size
 *   push*     | yes   |      |       |
 *   pop*      | yes   | yes  |       |
 *   close     | yes   | yes  | yes   |
 *   size      | yes   | yes  | yes   | yes
 *
 * push*: push, try_push, push_timed, try_push_many; pop*: pop, try_pop,
 * pop_timed, try_pop_many; size: size, closed, capacity.  Any number of
 * threads, in any process that shares the ring.  footprint: any time (a pure
 * function).  create, init: alone, before any other call on the ring.  destroy:
 * alone; no other call on the ring runs or can start.
 *
 * Order and linearizability: items leave the ring in the order in which
 * their pushes claimed positions (one atomic step on the tail), and each
 * pushed item is popped exactly once, unless it is still in the ring when
 * the ring is destroyed or its memory is reused.  So two items pushed by one
 * thread (in program order) are popped in that order, by any single
 * consumer and overall.  A batch (try_push_many / try_pop_many) takes
 * consecutive positions in one atomic step, so its items stay adjacent and
 * in order.  Successful pushes and pops, and close, are linearizable as a
 * FIFO queue with a closed flag.  The one exception, inherent in Vyukov's
 * design and the price of producers never waiting for each other: a pop
 * may find the ring empty while the push of the oldest item is still in
 * progress (claimed, not yet published), even if pushes of later items have
 * already returned; likewise a push may find the ring full while the pop
 * of the oldest item is still in progress.  Blocking forms then wait for
 * that hand-off; try_ forms return false.
 *
 * What the results mean, exactly (weft-stress's mpmc-lin scenario checks
 * this and no more; stress/README.md, "Linearizability"):
 * - Steps.  A push is two atomic steps inside its call: it claims the next
 *   position (a batch: its consecutive positions, in one step), then
 *   publishes the item (a batch: each item, in order).  A pop is two steps
 *   too: it claims the oldest positions (one step; only published items
 *   can be claimed), then releases their slots, one by one.  close is one
 *   step.  Items leave in the order of their claims; each exactly once.
 * - try_pop false, try_pop_many 0, pop_timed ETIMEDOUT: at some instant of
 *   the call every claimed position had been claimed by a pop ("empty"), or
 *   the oldest one's item was claimed but not yet published.  So "empty"
 *   is not linearizable: it can be reported while pushes of later items
 *   have returned, and after every such push returned.  ETIMEDOUT also
 *   means that at that instant the ring was not closed and drained.
 * - try_push false, try_push_many 0: at some instant the ring was closed,
 *   or the slot of the next position was not free: capacity positions
 *   claimed and not popped ("full"), or the pop of the item capacity
 *   positions back had claimed but not yet released the slot.
 *   push_timed ETIMEDOUT: the same, and not closed.
 * - EPIPE from a push: close had happened (a push that returned 0 claimed
 *   before it).  EPIPE from a pop: closed, and every position claimed by a
 *   push had been claimed by a pop.
 * - try_pop_many: any k >= 1 of the oldest items (in order), not always
 *   all it could have had.  try_push_many k < n: items[0..k) pushed as one
 *   claim; that the slot for items[k] was not free when the call looked is
 *   what the code does, but no recorded history can show it, so the
 *   scenario does not check it.
 *
 * Progress: a push claims its position with one successful CAS on the shared
 * tail and publishes its slot on its own: lock-free among producers (a pop
 * likewise among consumers); the try_ forms never block.  The ring as a whole
 * is not lock-free: a producer stopped between claim and publish makes the ring
 * look empty at that slot until it resumes, a consumer stopped between claim
 * and release makes it look full there one lap later; try_ forms then return
 * false, blocking forms spin, yield and park until the hand-off, and a thread
 * that dies there strands the slot and every item behind it (_timed forms:
 * ETIMEDOUT).  Only create allocates; nothing takes a lock; the system calls
 * are the parks, and a futex wake when a call finds a thread parked.
 *
 * Ordering: everything a producer wrote before pushing an item happens-before
 * the return of the pop that takes that item; everything a consumer did before
 * popping from a slot happens-before the push that reuses that slot.  close
 * happens-before every call that reports the ring closed (EPIPE, or false from
 * a push, or true from closed).
 *
 * Closing: weft_mpmc_close marks the ring closed and wakes every parked thread.
 * Every push that succeeded (returned 0/true/counted) before or concurrently
 * with close claimed its slot before the close, and its item will be popped;
 * every push that starts after close fails (EPIPE/false/0).  Pops keep
 * returning items until the ring is drained, then return EPIPE.
 *
 * In-place and shared memory: the ring is one block of memory with no internal
 * pointers (header, eventcounts and slots together).  weft_mpmc_footprint tells
 * its size, weft_mpmc_init builds a ring in memory you provide, for example
 * mmap(MAP_SHARED) memory shared with other processes; with WEFT_SHARED the
 * parked threads of any process sharing the ring are woken (non-private
 * futexes).  Every process may call every operation.  When nobody is parked, a
 * push or pop writes only the ring's counter and its slot and reads the other
 * side's eventcount line, which stays read-mostly; a WEFT_SHARED ring also pays
 * one seq_cst fence per successful operation, which a process-private ring
 * avoids on kernels with membarrier(2) (see weft/eventcount.h).
 *
 * Example (make check compiles and runs it: tests/snippets.sh):
 *
 * @code
 * #include <pthread.h>
 * #include <stdint.h>
 * #include <weft/mpmc.h>
 *
 * enum { PRODUCERS = 2, CONSUMERS = 2, PER_PRODUCER = 50000 };
 *
 * static weft_mpmc *q;
 *
 * static void *produce(void *arg) // pushes first .. first + PER_PRODUCER - 1
 * {
 *     uintptr_t first = (uintptr_t)arg * PER_PRODUCER + 1;
 *     for (uintptr_t i = first; i < first + PER_PRODUCER; i++)
 *         if (weft_mpmc_push(q, (void *)i) != 0) // waits while full
 *             break;
 *     return NULL;
 * }
 *
 * static void *consume(void *arg)
 * {
 *     unsigned long long *sum = arg;
 *     void *item;
 *     while (weft_mpmc_pop(q, &item) == 0) // waits while empty; EPIPE: closed, drained
 *         *sum += (uintptr_t)item;
 *     return NULL;
 * }
 *
 * int main(void)
 * {
 *     pthread_t p[PRODUCERS], c[CONSUMERS];
 *     unsigned long long sums[CONSUMERS] = { 0 }, total = 0, n = PRODUCERS * PER_PRODUCER;
 *     q = weft_mpmc_create(1024); // NULL and errno on error
 *     if (!q)
 *         return 1;
 *     for (int i = 0; i < PRODUCERS; i++)
 *         if (pthread_create(&p[i], NULL, produce, (void *)(uintptr_t)i) != 0)
 *             return 1;
 *     for (int i = 0; i < CONSUMERS; i++)
 *         if (pthread_create(&c[i], NULL, consume, &sums[i]) != 0)
 *             return 1;
 *     for (int i = 0; i < PRODUCERS; i++)
 *         pthread_join(p[i], NULL);
 *     weft_mpmc_close(q); // the producers are done: the consumers drain the ring
 *     for (int i = 0; i < CONSUMERS; i++) {
 *         pthread_join(c[i], NULL);
 *         total += sums[i];
 *     }
 *     weft_mpmc_destroy(q); // alone: every thread has been joined
 *     return total == n * (n + 1) / 2 ? 0 : 1;
 * }
 * @endcode
 */
#ifndef WEFT_MPMC_H
#define WEFT_MPMC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <weft/common.h>
#include <weft/doorbell.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ring (opaque). */
typedef struct weft_mpmc weft_mpmc;

/* The alignment in bytes that weft_mpmc_init needs for its memory. */
#define WEFT_MPMC_ALIGN WEFT_CACHELINE

/* Allocate and initialise an empty, process-private ring holding at least
 * capacity items (rounded up to a power of two; weft_mpmc_capacity tells
 * the real one).
 * Thread: any.  Progress: allocates (aligned_alloc).
 * Returns: the ring; or NULL with errno EINVAL when capacity is 0 or so large
 *   that the ring's size overflows size_t (weft_mpmc_footprint returns 0),
 *   ENOMEM when the allocation fails. */
WEFT_API weft_mpmc *weft_mpmc_create(size_t capacity);

/* Free a ring made by weft_mpmc_create.  Items still in it are not touched
 * (they are the caller's).  q must come from weft_mpmc_create (rings built
 * with weft_mpmc_init are released by freeing or unmapping their memory,
 * after the last use); NULL does nothing.
 * Thread: any, alone (no other call on q may run or start).
 * Progress: frees memory. */
WEFT_API void weft_mpmc_destroy(weft_mpmc *q);

/* The number of bytes weft_mpmc_init needs for a ring of capacity items
 * (after rounding capacity up to a power of two).
 * Thread: any.  Progress: wait-free, pure.
 * Returns: the size; 0 when capacity is 0 or the size overflows size_t. */
WEFT_API size_t weft_mpmc_footprint(size_t capacity);

/* Build an empty ring in mem, which must hold weft_mpmc_footprint(capacity)
 * bytes aligned to WEFT_MPMC_ALIGN (64) bytes; mmap'ed memory qualifies.
 * flags: 0, or WEFT_SHARED when mem is shared between processes (parked
 * threads are then woken across processes).  The ring holds no pointers, so
 * each process may map the memory at a different address; the memory must
 * stay valid while the ring is used.  Do not call weft_mpmc_destroy on it.
 * Thread: one, before any other call on the ring (from any process).
 * Progress: wait-free; writes the whole block (the slots too).
 * Returns: mem as a ring; or NULL with errno EINVAL when mem is NULL or not
 *   aligned to WEFT_MPMC_ALIGN, capacity is 0 or too large (footprint 0), or
 *   flags has a bit other than WEFT_SHARED. */
WEFT_API weft_mpmc *weft_mpmc_init(void *mem, size_t capacity, unsigned flags);

/* Thread: any.  Progress: wait-free.
 * Returns: the number of items the ring holds when full (a power of two). */
WEFT_API size_t weft_mpmc_capacity(const weft_mpmc *q);

/* Thread: any.  Progress: wait-free.
 * Returns: the number of items in the ring (pushed, not yet popped,
 *   counting claimed slots), between 0 and the capacity.  Exact when no
 *   other thread operates on the ring; only a snapshot otherwise. */
WEFT_API size_t weft_mpmc_size(const weft_mpmc *q);

/* Push item (any value, NULL included) at the tail, if there is room.
 * Thread: any.  Progress: lock-free among producers (see above), never
 *   blocks; wakes one parked consumer if there is one.
 * Ordering: release; the caller's writes before the push happen-before the
 *   return of the pop that takes item.
 * Returns: true when pushed; false when the ring was full (or the slot at
 *   the tail still being released by a consumer inside its pop) or closed. */
WEFT_API bool weft_mpmc_try_push(weft_mpmc *q, void *item);

/* Pop the item at the head into *item, if there is one.
 * Thread: any.  Progress: lock-free among consumers, never blocks; wakes one
 *   parked producer if there is one.
 * Ordering: acquire; the producer's writes before it pushed the item are
 *   visible after the return.
 * Returns: true with *item set; false when the ring was empty (or the slot at
 *   the head not yet published by a producer inside its push), *item
 *   unchanged.  A closed ring still gives its remaining items. */
WEFT_API bool weft_mpmc_try_pop(weft_mpmc *q, void **item);

/* Push up to n items from items[0..n-1], in order, at consecutive positions
 * claimed in one atomic step: as many as there is room for (a prefix).
 * Thread: any.  Progress and ordering: as weft_mpmc_try_push; wakes up to
 *   that many parked consumers.
 * Returns: the number pushed, items[0..k-1] (0 when full or closed, or n is
 *   0). */
WEFT_API size_t weft_mpmc_try_push_many(weft_mpmc *q, void *const *items, size_t n);

/* Pop up to n items into items[0..n-1], oldest first, from consecutive
 * positions claimed in one atomic step.
 * Thread: any.  Progress and ordering: as weft_mpmc_try_pop; wakes up to
 *   that many parked producers.
 * Returns: the number popped (0 when empty or n is 0). */
WEFT_API size_t weft_mpmc_try_pop_many(weft_mpmc *q, void **items, size_t n);

/* Push item, waiting while the ring is full.  Waits by spinning briefly,
 * then yielding, then parking on a futex (no CPU used while parked).
 * Thread: any.  Progress: blocks while the ring is full; lock-free otherwise.
 * Ordering: as weft_mpmc_try_push.
 * Returns: 0 when pushed; EPIPE when the ring is closed (also when it gets
 *   closed while waiting): then item was not pushed. */
WEFT_API int weft_mpmc_push(weft_mpmc *q, void *item);

/* Pop an item into *item, waiting while the ring is empty (as push waits).
 * Thread: any.  Progress: blocks while the ring is empty.
 * Ordering: as weft_mpmc_try_pop.
 * Returns: 0 with *item set; EPIPE when the ring is closed and drained
 *   (*item unchanged). */
WEFT_API int weft_mpmc_pop(weft_mpmc *q, void **item);

/* As weft_mpmc_push, waiting at most timeout_ns nanoseconds (relative,
 * measured on CLOCK_MONOTONIC; 0 means try once).
 * Returns: 0 when pushed; ETIMEDOUT when still full at the deadline; EPIPE
 *   when closed.  A push that can succeed succeeds, even past the deadline. */
WEFT_API int weft_mpmc_push_timed(weft_mpmc *q, void *item, uint64_t timeout_ns);

/* As weft_mpmc_pop, waiting at most timeout_ns nanoseconds (as push_timed).
 * Returns: 0 with *item set; ETIMEDOUT when no item could be popped by the
 *   deadline; EPIPE when the ring is closed and drained.  A pop that can
 *   succeed succeeds, even past the deadline. */
WEFT_API int weft_mpmc_pop_timed(weft_mpmc *q, void **item, uint64_t timeout_ns);

/* Close the ring: later pushes fail, pops drain what is left and then return
 * EPIPE; every parked producer and consumer is woken.  Closing twice is
 * harmless.  A ring cannot be reopened.
 * Thread: any.  Progress: lock-free; makes futex wake-up calls when threads
 *   are parked.
 * Ordering: release; the caller's writes before close happen-before the
 *   return of any call that reports the ring closed. */
WEFT_API void weft_mpmc_close(weft_mpmc *q);

/* Thread: any.  Progress: wait-free.  Ordering: acquire (see close).
 * Returns: true once weft_mpmc_close was called (it may still hold items). */
WEFT_API bool weft_mpmc_closed(const weft_mpmc *q);

/* Attach db (NULL: detach): from then on every push and close rings it
 * after waking parked consumers, so an event loop waiting on db's fd learns
 * of new items and of the close (weft/doorbell.h).  With none attached a
 * push pays one load of a read-mostly word; with one attached and the loop
 * busy, one more load.  One doorbell per ring; a doorbell may serve several
 * rings.  Detach before destroying db, and let pushes that may still see it
 * finish first.  A ring in shared memory: see "Processes" in
 * weft/doorbell.h (the ring holds db's address).
 * Thread: any.  Returns: 0, or EINVAL when q is NULL. */
WEFT_API int weft_mpmc_set_doorbell(weft_mpmc *q, weft_doorbell *db);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_MPMC_H */
