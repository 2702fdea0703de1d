/*
 * weft.h - umbrella header: includes every part of weft.
 *
 *   weft/eventcount.h  park and wake threads without lost wake-ups
 *   weft/doorbell.h    let an event loop wait on rings through an fd
 *   weft/epoch.h       epoch-based reclamation of memory others may read
 *   weft/queue.h       unbounded multi-producer/multi-consumer queue
 *   weft/mpmc.h        bounded multi-producer/multi-consumer ring
 *   weft/msgq.h        bounded queue of byte messages, between processes
 *   weft/spsc.h        bounded single-producer/single-consumer ring
 *   weft/deque.h       Chase-Lev work-stealing deque
 *   weft/pool.h        work-stealing thread pool: fork-join, parallel_for,
 *                      map/reduce, futures
 *
 * The top comment of each part's header gives, in this order: what the part
 * is, a matrix of which calls two threads may make at the same time, a
 * progress paragraph (wait-free, lock-free or blocking, and what blocking
 * means), the ordering the calls give, and one complete example program
 * between a line "@code" and a line "@endcode", which make check extracts,
 * compiles and runs (tests/snippets.sh).
 */
#ifndef WEFT_H
#define WEFT_H

#include <weft/common.h>
#include <weft/eventcount.h>
#include <weft/doorbell.h>
#include <weft/epoch.h>
#include <weft/queue.h>
#include <weft/mpmc.h>
#include <weft/msgq.h>
#include <weft/spsc.h>
#include <weft/deque.h>
#include <weft/pool.h>

#endif /* WEFT_H */
