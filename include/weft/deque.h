/*
 * weft/deque.h - Chase-Lev work-stealing deque.
 *
 * One thread, the owner, pushes and pops items at the bottom (LIFO, like a
 * stack); any number of other threads, the thieves, steal items from the top
 * (FIFO: the oldest item first).  This is the per-worker queue of a
 * work-stealing scheduler: the owner works on its newest task, idle workers
 * take the oldest one, which is usually the biggest piece of work left.
 *
 * The algorithm is Chase and Lev's dynamic circular deque (SPAA 2005) with
 * the C11 memory orderings of Le, Pop, Cohen and Zappa Nardelli (PPoPP 2013);
 * src/deque.c explains the mapping.  The array grows (doubles) when full,
 * without stopping the thieves; it never shrinks.  Arrays that a growth
 * replaced stay allocated until weft_deque_destroy, because a thief may still
 * be reading them; as sizes double, all arrays together take at most twice
 * the memory of the largest one.
 *
 * Items are opaque `void *` values, NULL included: the deque never
 * dereferences them.  Each pushed item is returned exactly once, by the
 * owner's pop or by one thief's steal, unless it is still in the deque when
 * the deque is destroyed.
 *
 * Concurrency: may two threads make these calls on one deque at the same time?
 *
 *               | push, pop | steal* | size
 *   push, pop   | no        |        |
 *   steal*      | yes       | yes    |
 *   size        | yes       | yes    | yes
 *
 * push, pop: the owner's calls (one thread at a time; the owner may change only
 * with a happens-before hand-off between the old and the new owner).  steal*:
 * steal and steal_batch, from any thread (the owner may steal from its own
 * deque too).  create: any thread.  destroy: alone, when no other call on the
 * deque runs or can start.
 *
 * Progress: push, pop, steal and steal_batch finish in a bounded number of
 * their own steps whatever the other threads do (wait-free per call); a steal
 * that loses a race returns WEFT_STEAL_RETRY instead of looping, so progress of
 * the whole system is lock-free.  size is wait-free.  No call blocks, takes a
 * lock or makes a system call, except a push that must grow the array (it calls
 * malloc), create (it allocates) and destroy (it frees).
 *
 * Ordering: everything the owner wrote before pushing an item happens-before
 * the return of the steal (or the pop) that takes that item.  Steals from
 * different thieves are not ordered with each other beyond that.
 *
 * Linearizability: push, pop and single steals are linearizable as a deque
 * (owner at one end, thieves at the other), and so is steal_batch, as one
 * removal of the items it returns (see weft_deque_steal_batch).
 *
 * What the results mean, exactly (weft-stress's deque-lin scenario checks
 * this and no more; stress/README.md, "Linearizability"):
 * - pop true: the newest item; pop false: the deque was empty at some
 *   instant of the call (also when a thief won the last item: empty after
 *   its steal).
 * - steal OK: the oldest item; EMPTY: empty at some instant of the call;
 *   RETRY: nothing changed, and another thread's steal or pop that claimed
 *   an item (with its compare-and-swap on top) overlapped the call.  RETRY
 *   is the one result that is not a statement about the deque's contents.
 * - steal_batch OK: the k oldest items, 1 <= k <= max, removed at one
 *   instant, oldest first; EMPTY and RETRY as for steal.  That k is at most
 *   half of what the call saw is what the code does; no recorded history
 *   shows it, so it is not checked.
 *
 * Example (make check compiles and runs it: tests/snippets.sh):
 *
 * @code
 * #include <pthread.h>
 * #include <stdint.h>
 * #include <weft/deque.h>
 *
 * enum { N = 100000 };
 *
 * static weft_deque *d;
 *
 * static void *thief(void *arg)
 * {
 *     unsigned long long *sum = arg;
 *     void *item;
 *     for (;;) {
 *         weft_steal_result r = weft_deque_steal(d, &item); // the oldest item
 *         if (r == WEFT_STEAL_OK)
 *             *sum += (uintptr_t)item;
 *         else if (r == WEFT_STEAL_EMPTY) // nothing is pushed any more: done
 *             return NULL;
 *         // WEFT_STEAL_RETRY: lost a race for an item; look again
 *     }
 * }
 *
 * int main(void)
 * {
 *     unsigned long long mine = 0, stolen = 0;
 *     void *item;
 *     pthread_t t;
 *     d = weft_deque_create(0); // grows on demand
 *     if (!d)
 *         return 1;
 *     for (uintptr_t i = 1; i <= N; i++) // this thread is the owner
 *         if (weft_deque_push(d, (void *)i) != 0)
 *             return 1;
 *     if (pthread_create(&t, NULL, thief, &stolen) != 0)
 *         return 1;
 *     while (weft_deque_pop(d, &item)) // the newest item, racing the thief
 *         mine += (uintptr_t)item;
 *     pthread_join(t, NULL);
 *     weft_deque_destroy(d); // alone: the thief has been joined
 *     return mine + stolen == (unsigned long long)N * (N + 1) / 2 ? 0 : 1;
 * }
 * @endcode
 */
#ifndef WEFT_DEQUE_H
#define WEFT_DEQUE_H

#include <stdbool.h>
#include <stddef.h>
#include <weft/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The deque (opaque; allocate with weft_deque_create). */
typedef struct weft_deque weft_deque;

/* The three outcomes of a steal. */
typedef enum {
    WEFT_STEAL_OK,    /* took at least one item */
    WEFT_STEAL_EMPTY, /* saw no item to take */
    WEFT_STEAL_RETRY  /* lost a race with another thread for the item it saw:
                         try again, or try another victim */
} weft_steal_result;

/* The capacity used when weft_deque_create is given 0. */
#define WEFT_DEQUE_DEFAULT_CAPACITY 64

/* Create an empty deque whose array holds initial_capacity items before the
 * first growth (rounded up to a power of two; 0 means
 * WEFT_DEQUE_DEFAULT_CAPACITY).  The deque grows on demand: the capacity is
 * a starting size, not a limit.
 * Thread: any.  Progress: allocates (malloc).
 * Returns: the deque, or NULL with errno set to EINVAL when initial_capacity
 *   is larger than 2^(N-4) for N-bit size_t (the array size in bytes would
 *   not fit), or ENOMEM when memory is short. */
WEFT_API weft_deque *weft_deque_create(size_t initial_capacity);

/* Free the deque and every array it allocated.  Items still inside are not
 * touched (they are the caller's).  d must not be NULL.
 * Thread: any, alone (no other call on d may run or start).
 * Progress: frees memory. */
WEFT_API void weft_deque_destroy(weft_deque *d);

/* Push item (any value, NULL included) at the bottom.  When the array is
 * full it doubles first; thieves keep stealing meanwhile.
 * Thread: the owner only.
 * Progress: wait-free, a few instructions; allocates (malloc) only when the
 *   array is full.
 * Ordering: release; the caller's writes before the push happen-before the
 *   return of the steal or pop that takes item.
 * Returns: 0; or ENOMEM when the array was full and a larger one could not
 *   be allocated (or would exceed the largest capacity): then item was not
 *   pushed, and the deque and its items are unchanged and usable. */
WEFT_API int weft_deque_push(weft_deque *d, void *item);

/* Pop the newest item from the bottom (LIFO) into *item.
 * Thread: the owner only.
 * Progress: wait-free, no loop: one seq_cst read-modify-write or fence
 *   (Chase-Lev's ordering of the owner against thieves), or, when the item
 *   is the last one, a single compare-and-swap raced with the thieves.
 *   Popping an empty deque usually costs no atomic read-modify-write.
 * Ordering: seq_cst against concurrent steals: when the owner and thieves
 *   race for the last item, exactly one of them gets it.
 * Returns: true and the item in *item; false when the deque is empty (or the
 *   last item went to a thief), *item unchanged. */
WEFT_API bool weft_deque_pop(weft_deque *d, void **item);

/* Steal the oldest item from the top (FIFO) into *item.
 * Thread: any (usually not the owner, but the owner may call it too).
 * Progress: wait-free: one compare-and-swap, no loop, no allocation.
 * Ordering: acquire; the writes the owner made before pushing the item
 *   happen-before this return.
 * Returns: WEFT_STEAL_OK and the item in *item; WEFT_STEAL_EMPTY when the
 *   deque looked empty; WEFT_STEAL_RETRY when another thief or the owner
 *   took the item this thief saw first (the deque may still hold others).
 *   *item is written only on WEFT_STEAL_OK. */
WEFT_API weft_steal_result weft_deque_steal(weft_deque *d, void **item);

/* Steal up to max of the oldest items, in FIFO order, into items[0..],
 * and their number into *stolen.  It takes at most half (rounded up) of
 * the items it saw in the deque, and at most max: a single item can be
 * batch-stolen, and the owner always keeps the newer half.
 *
 * All-or-nothing: a call takes either nothing (EMPTY or RETRY) or a batch
 * that is linearizable as ONE removal of the oldest *stolen items, at the
 * moment of its first claim: every item it returns was pushed before the
 * call read bottom and was still in the deque at that moment, and no other
 * thread takes any of them afterwards.  The items are claimed one atomic
 * step each, oldest first, and the call stops at the first step that loses
 * a race, so the batch can be shorter than the call aimed for (a thread
 * that takes an item the batch aimed at took it after the batch's moment,
 * or the batch ends before it; the aim itself is not observable).  Why not
 * one compare-and-swap of top over the whole range: the owner's pop takes
 * items from the bottom without any atomic read-modify-write while at least
 * two items are left, so a thief that read bottom and was then preempted
 * could see its CAS succeed after the owner popped down into its range (and
 * pushed again), and both would return the same items; the fences of
 * Chase-Lev cannot help, as the CAS may come arbitrarily late.  Making that
 * safe would cost the owner a CAS on every pop.  crossbeam-deque's LIFO
 * flavour steals its batches one item per CAS for the same reason.
 *
 * Thread: any.
 * Progress: wait-free: at most min(max, half of what it saw) iterations of
 *   one compare-and-swap each; no allocation.
 * Ordering: as weft_deque_steal, for each item returned.
 * Returns: WEFT_STEAL_OK with *stolen >= 1 items in items[0..*stolen-1]
 *   (items[0] the oldest); WEFT_STEAL_EMPTY with *stolen == 0 when the
 *   deque looked empty, or when max is 0 (then the deque is not read);
 *   WEFT_STEAL_RETRY with *stolen == 0 when it lost the race for the first
 *   item.  items[] beyond *stolen are not written.  items may be NULL only
 *   when max is 0; stolen must not be NULL. */
WEFT_API weft_steal_result weft_deque_steal_batch(weft_deque *d, void **items, size_t max,
                                                  size_t *stolen);

/* The number of items in the deque, as seen at some moment during the call
 * (approximate while other threads push, pop or steal; exact when none do).
 * Thread: any.  Progress: wait-free.
 * Ordering: none (relaxed reads); use it for heuristics and statistics.
 * Returns: the count (0 when the deque looked empty). */
WEFT_API size_t weft_deque_size(const weft_deque *d);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_DEQUE_H */
