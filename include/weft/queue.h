/*
 * weft/queue.h - an unbounded multi-producer, multi-consumer FIFO of
 * pointers that gives its memory back.
 *
 * Items are void * (NULL included) and are neither copied nor freed.  The
 * queue is a list of 32 KB segments of 2024 cells; every cell is used once: a
 * producer takes a ticket with fetch-and-add and fills its cell with a
 * compare-and-swap, a consumer takes a ticket and empties the cell with an
 * exchange (Morrison and Afek's infinite array, PPoPP 2013, cut into
 * segments as in Yang and Mellor-Crummey's queue, PPoPP 2016; see
 * src/queue.c).  Only single-word CAS, exchange and fetch-and-add are used:
 * no 16-byte atomics.  A segment that every consumer has left is handed to
 * weft_epoch (weft/epoch.h) and freed as soon as no thread can read it.
 *
 * Semantics: linearizable FIFO across all producers (not only per
 * producer), close included; every item pushed with a 0 result is popped
 * exactly once, also when the push raced with weft_queue_close.  After
 * close, pushes fail with EPIPE and pops drain what is left, then return
 * EPIPE.
 *
 * Concurrency: may two threads make these calls on one queue at once?
 *
 *                     | push*  | pop*   | close  | size, memory, closed
 *   push*             | yes    |        |        |
 *   pop*              | yes    | yes    |        |
 *   close             | yes    | yes    | yes    |
 *   size, memory, ... | yes    | yes    | yes    | yes
 *
 * push*: push, push_many; pop*: try_pop, try_pop_many, pop, pop_timed.
 * create: alone; destroy: alone, after every other call returned.  NULL
 * handles are the caller's bug (debug builds assert).
 *
 * Progress: push, push_many, try_pop and try_pop_many are lock-free (a
 * push that loses its cell to a consumer takes the next one; a push that
 * finds the segment full appends a new one that already holds its item),
 * apart from the mmap(2) of a new segment every 2024 items (a spare one is
 * reused first).  pop and pop_timed
 * block while the queue is empty: they spin briefly, yield, then park on an
 * eventcount; a push wakes a parked consumer with one futex call and costs
 * nothing extra when nobody waits.  close waits until every push that was
 * running when it began has finished (a grace period of the queue's epoch
 * domain), so that none of them is lost; a push that finds the queue
 * closed while close waits returns EPIPE once close is done.
 *
 * Memory: 16 bytes per cell plus 384 per segment (32 KB per segment, its
 * own mapping, so that a freed segment goes back to the system), so about
 * 16.2 bytes per queued item; weft_queue_memory says what the queue
 * holds (its header and segments, one kept spare for reuse).  Once the
 * queue is drained and no thread is inside an operation, that is at most
 * two segments and the header.
 *
 * Example (make check compiles and runs it: tests/snippets.sh):
 *
 * @code
 * #include <errno.h>
 * #include <pthread.h>
 * #include <stdint.h>
 * #include <weft/queue.h>
 *
 * static void *producer(void *arg)
 * {
 *     weft_queue *q = arg;
 *     for (uintptr_t i = 1; i <= 100000; i++)
 *         if (weft_queue_push(q, (void *)i) != 0)
 *             return (void *)1;
 *     weft_queue_close(q); // the consumer drains, then sees EPIPE
 *     return NULL;
 * }
 *
 * int main(void)
 * {
 *     weft_queue *q = weft_queue_create();
 *     pthread_t t;
 *     if (q == NULL || pthread_create(&t, NULL, producer, q) != 0)
 *         return 1;
 *     uintptr_t expect = 1;
 *     void *item;
 *     while (weft_queue_pop(q, &item) == 0)
 *         if ((uintptr_t)item != expect++) // one producer: its order
 *             return 1;
 *     pthread_join(t, NULL);
 *     weft_queue_destroy(q);
 *     return expect == 100001 ? 0 : 1;
 * }
 * @endcode
 */
#ifndef WEFT_QUEUE_H
#define WEFT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/common.h>
#include <weft/doorbell.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_queue weft_queue; /* opaque */

/* A new, empty queue; NULL with errno ENOMEM. */
WEFT_API weft_queue *weft_queue_create(void);

/* Frees the queue; items still inside are not freed. */
WEFT_API void weft_queue_destroy(weft_queue *q);

/* Never blocks: 0, ENOMEM (no memory for a new segment: the item is not
 * in the queue), or EPIPE once closed. */
WEFT_API int weft_queue_push(weft_queue *q, void *item);

/* Pushes items[0..n) in order, as n pushes would (in one epoch section, one
 * wake-up): other producers' items may land between them.  Returns how many
 * were pushed; fewer than n only on ENOMEM or close, and errno says which. */
WEFT_API size_t weft_queue_push_many(weft_queue *q, void *const *items, size_t n);

/* The oldest item, or false when the queue is empty. */
WEFT_API bool weft_queue_try_pop(weft_queue *q, void **item);

/* Up to n items, as n try_pops would (in one epoch section): in FIFO order,
 * but other consumers may take items between them.  Returns how many. */
WEFT_API size_t weft_queue_try_pop_many(weft_queue *q, void **items, size_t n);

/* Blocks while the queue is empty: 0, or EPIPE once closed and drained. */
WEFT_API int weft_queue_pop(weft_queue *q, void **item);

/* As weft_queue_pop, for at most timeout_ns: 0, ETIMEDOUT or EPIPE; a
 * timeout of 0 tries once. */
WEFT_API int weft_queue_pop_timed(weft_queue *q, void **item, uint64_t timeout_ns);

/* No push succeeds after close returns; wakes every parked consumer.
 * Idempotent. */
WEFT_API void weft_queue_close(weft_queue *q);

WEFT_API bool weft_queue_closed(const weft_queue *q);

/* Items inside; exact when nothing else runs, approximate otherwise. */
WEFT_API size_t weft_queue_size(const weft_queue *q);

/* Bytes the queue holds now: its header and its segments (including the
 * ones retired and not yet freed, and the spare). */
WEFT_API size_t weft_queue_memory(const weft_queue *q);

/* Attach db (NULL: detach): from then on every push and close rings it
 * after waking parked consumers, so an event loop waiting on db's fd learns
 * of new items and of the close (weft/doorbell.h).  With none attached a
 * push pays one load of a read-mostly word; with one attached and the loop
 * busy, one more load.  One doorbell per queue; a doorbell may serve several
 * queues and rings.  Detach before destroying db, and let pushes that may still see it
 * finish first. 
 * Thread: any.  Returns: 0, or EINVAL when q is NULL. */
WEFT_API int weft_queue_set_doorbell(weft_queue *q, weft_doorbell *db);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_QUEUE_H */
