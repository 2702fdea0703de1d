/*
 * weft/msgq.h - bounded multi-producer/multi-consumer queue of byte
 * messages, for threads or processes sharing one block of memory.
 *
 * A FIFO queue of variable-length messages (0 bytes up to the whole
 * queue's capacity), copied in and out: a sender hands over bytes, a
 * receiver gets a copy of them in its own buffer.  The queue is one block of
 * memory with no pointers inside (header, eventcounts, cells and data), so
 * it can live in mmap(MAP_SHARED) memory that several processes map, each
 * at its own address: that is what it is for (logging, work and results
 * between worker processes, the transport of the Python package's Queue).
 * Every operation comes in a non-blocking form (try_send, try_recv and the
 * batch forms) and a blocking form (send, recv, and _timed variants) that
 * spins briefly, yields, then parks on an eventcount (weft/eventcount.h).
 *
 * Concurrency: may two threads make these calls on one queue at the same time?
 *
 *             | send* | recv* | close | query
 *   send*     | yes   |       |       |
 *   recv*     | yes   | yes   |       |
 *   close     | yes   | yes   | yes   |
 *   query     | yes   | yes   | yes   | yes
 *
 * send*: send, try_send, send_timed, try_send_many; recv*: recv, try_recv,
 * recv_timed, try_recv_many; query: closed, capacity, max_message,
 * bytes_used.  Any number of threads, in any process that maps the queue.
 * footprint: any time (a pure function).  create, init: alone, before any
 * other call on the queue.  destroy: alone, after every other call.
 *
 * Storage: the data area is cut into cells of WEFT_MSGQ_CELL (64) bytes; a
 * message of n bytes takes max(1, ceil(n / 64)) consecutive cells (the
 * last cell of the data area is followed by the first: a message may wrap
 * around), so a queue of capacity C bytes holds C / 64 messages of up to
 * 64 bytes, or fewer longer ones.  A message longer than the capacity can
 * never be sent: EMSGSIZE, never truncation.
 *
 * Order: messages leave in the order in which their sends claimed cells
 * (one atomic step on the tail), each exactly once; two messages sent by
 * one thread are received in that order by any single receiver and
 * overall.  A batch claims consecutive cells in one step, so its messages
 * stay adjacent and in order.
 *
 * What the results mean: a send is two steps, claim (the cells, in one
 * atomic step) and publish; a receive is claim (of the oldest message,
 * only once published) and release (of its cells, after the copy).  As in
 * weft/mpmc.h (Vyukov's design, which this generalises to runs of cells):
 * EAGAIN from a receive means that at some instant of the call the oldest
 * claimed message was already received, or claimed and not yet published
 * ("empty" is not linearizable: a later message may already be
 * published); EAGAIN from a send means the cells after the tail were not
 * all free (full, or a receive still copying out of them).
 *
 * Progress: a send claims with one successful CAS and publishes on its own:
 * lock-free among senders (receives likewise among receivers); the try_
 * forms never block.  The queue as a whole is not lock-free: a sender
 * stopped between claim and publish makes the queue look empty at its
 * message until it resumes, and a receiver stopped between claim and
 * release makes it look full there one lap later.  Nothing takes a lock;
 * the system calls are the parks and a futex wake when a call finds a
 * thread parked.
 *
 * Dead processes: a process that dies (SIGKILL, a crash) between claim and
 * publish, or between claim and release, strands those cells, and every
 * message behind them waits.  A queue initialised with WEFT_MSGQ_ROBUST
 * recovers: every thread that operates on it holds a record in the block
 * (pid, thread id, the process's start time, and the cells it is claiming,
 * written before each claim), and a thread whose blocking or timed calls
 * have waited RECOVER_NS (10 ms) at the same position, in one call or in a
 * loop of shorter timed ones, looks for dead owners there:
 * the cells of a dead sender's claim are dropped (received as nothing),
 * those of a dead receiver's handed on to the next lap.  The dead process
 * loses the messages of the one operation it was in (one message, or one
 * batch), nothing else is lost or duplicated, and weft_msgq_dropped counts
 * the operations recovered.  weft_msgq_recover does the same at once (for
 * programs that use only the try_ forms).  A process counts as dead when
 * kill(pid, 0) fails with ESRCH, when /proc/PID/stat says zombie, or when
 * its start time there differs (the pid was reused); a thread of a live
 * process when tgkill fails with ESRCH.  So all processes must share one
 * pid namespace and /proc.  A process merely stopped (SIGSTOP, a debugger)
 * is alive, and its claims wait for it.  Limits: at most
 * WEFT_MSGQ_RECORDS threads are tracked at once (a thread killed in the few
 * instructions of taking its record keeps that record for good); an
 * operation that finds no free record runs untracked, and while one runs
 * recovery waits.  A robust
 * operation costs four stores to the thread's own record.  Without
 * WEFT_MSGQ_ROBUST (and for weft_msgq_create) nothing is recorded and a
 * dead process's claims strand the queue for good.
 *
 * Ordering: everything a sender wrote before sending a message
 * happens-before the return of the receive that takes it; everything a
 * receiver did before releasing cells happens-before the send that reuses
 * them.  close happens-before every call that reports the queue closed.
 *
 * Closing: weft_msgq_close marks the queue closed and wakes every parked
 * thread.  Every send that succeeded before or concurrently with close
 * claimed its cells before the close, and its message will be received;
 * every send that starts after close fails with EPIPE.  Receives keep
 * returning messages until the queue is drained, then return EPIPE.
 *
 * In-place and shared memory: weft_msgq_footprint tells the size of the
 * block, weft_msgq_init builds a queue in memory you provide; with
 * WEFT_SHARED, threads parked in any process that maps the queue are woken
 * (non-private futexes).  A queue from weft_msgq_create is process-private.
 * A WEFT_SHARED queue pays one seq_cst fence per successful operation.
 *
 * Example (make check compiles and runs it: tests/snippets.sh):
 * @code
 * #define _DEFAULT_SOURCE // MAP_ANONYMOUS
 * #include <string.h>
 * #include <sys/mman.h>
 * #include <sys/wait.h>
 * #include <unistd.h>
 * #include <weft/msgq.h>
 *
 * int main(void)
 * {
 *     size_t bytes = weft_msgq_footprint(4096);
 *     void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
 *     if (mem == MAP_FAILED)
 *         return 1;
 *     weft_msgq *q = weft_msgq_init(mem, 4096, WEFT_SHARED); // NULL and errno on error
 *     if (!q)
 *         return 1;
 *     pid_t child = fork();
 *     if (child == 0) { // the child sends 1000 greetings, then closes
 *         for (int i = 0; i < 1000; i++)
 *             if (weft_msgq_send(q, "hello", 5) != 0) // waits while full
 *                 _exit(1);
 *         weft_msgq_close(q);
 *         _exit(0);
 *     }
 *     char buf[16];
 *     size_t len;
 *     int got = 0, status = 0;
 *     while (weft_msgq_recv(q, buf, sizeof buf, &len) == 0) // EPIPE: closed, drained
 *         got += len == 5 && memcmp(buf, "hello", 5) == 0;
 *     waitpid(child, &status, 0);
 *     munmap(mem, bytes);
 *     return got == 1000 && status == 0 ? 0 : 1;
 * }
 * @endcode
 */
#ifndef WEFT_MSGQ_H
#define WEFT_MSGQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <weft/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The queue (opaque). */
typedef struct weft_msgq weft_msgq;

/* The alignment in bytes that weft_msgq_init needs for its memory. */
#define WEFT_MSGQ_ALIGN WEFT_CACHELINE

/* The unit of storage: a message of n bytes takes max(1, ceil(n / 64))
 * cells of this many bytes. */
#define WEFT_MSGQ_CELL 64

/* Flag for weft_msgq_init, with WEFT_SHARED: record the owner of every
 * claim, so that the claims of processes that died in the middle of a send
 * or a receive can be recovered (see "Dead processes" at the top). */
#define WEFT_MSGQ_ROBUST 2u

/* Threads that a robust queue tracks at once (one record each, in the
 * queue's block; the records of dead processes and ended threads are
 * reused). */
#define WEFT_MSGQ_RECORDS 64

/* The number of bytes weft_msgq_init needs for a queue of capacity_bytes of
 * message storage (rounded up to a power of two number of cells, at least
 * one: weft_msgq_capacity tells the result).
 * Thread: any.  Progress: wait-free, pure.
 * Returns: the size; 0 when capacity_bytes is 0 or the size overflows. */
WEFT_API size_t weft_msgq_footprint(size_t capacity_bytes);

/* Build an empty queue in mem, which must hold
 * weft_msgq_footprint(capacity_bytes) bytes aligned to WEFT_MSGQ_ALIGN;
 * mmap'ed memory qualifies.  flags: 0, or WEFT_SHARED when mem is shared
 * between processes, with WEFT_MSGQ_ROBUST added to recover from processes
 * that die inside an operation (see the top).  Do not call
 * weft_msgq_destroy on it: unmap or free the memory after the last use.
 * Thread: one, before any other call on the queue (from any process).
 * Progress: wait-free; writes the header and the cells' states (not the
 *   data area).
 * Returns: mem as a queue; or NULL with errno EINVAL when mem is NULL or
 *   misaligned, capacity_bytes is 0 or too large (footprint 0), or flags
 *   has a bit other than WEFT_SHARED and WEFT_MSGQ_ROBUST. */
WEFT_API weft_msgq *weft_msgq_init(void *mem, size_t capacity_bytes, unsigned flags);

/* Allocate and initialise an empty, process-private queue (as init).
 * Thread: any.  Progress: allocates.
 * Returns: the queue; or NULL with errno EINVAL (as init) or ENOMEM. */
WEFT_API weft_msgq *weft_msgq_create(size_t capacity_bytes);

/* Free a queue made by weft_msgq_create; NULL does nothing.  Messages still
 * in it are dropped.
 * Thread: any, alone.  Progress: frees memory. */
WEFT_API void weft_msgq_destroy(weft_msgq *q);

/* Thread: any.  Progress: wait-free.
 * Returns: the bytes of message storage (a power of two number of cells,
 *   times WEFT_MSGQ_CELL). */
WEFT_API size_t weft_msgq_capacity(const weft_msgq *q);

/* Thread: any.  Progress: wait-free.
 * Returns: the longest message the queue can ever take (its capacity);
 *   longer sends fail with EMSGSIZE. */
WEFT_API size_t weft_msgq_max_message(const weft_msgq *q);

/* Thread: any.  Progress: wait-free.
 * Returns: the bytes of storage held by messages sent and not yet received
 *   (in whole cells), between 0 and the capacity; exact when no other
 *   thread operates on the queue, a snapshot otherwise. */
WEFT_API size_t weft_msgq_bytes_used(const weft_msgq *q);

/* Send the len bytes at msg (msg may be NULL when len is 0), if the cells
 * it needs are free.
 * Thread: any.  Progress: lock-free among senders, never blocks; wakes one
 *   parked receiver if there is one.
 * Ordering: release (see the top).
 * Returns: 0 when sent; EAGAIN when the queue had no room for it (full, or
 *   a receive still copying out of the cells at the tail); EPIPE when
 *   closed; EMSGSIZE when len > weft_msgq_max_message (never fits). */
WEFT_API int weft_msgq_try_send(weft_msgq *q, const void *msg, size_t len);

/* As try_send, but waits while there is no room.
 * Thread: any.  Progress: blocks (spin, yield, park) while full.
 * Returns: 0, EPIPE (closed before it could send), EMSGSIZE. */
WEFT_API int weft_msgq_send(weft_msgq *q, const void *msg, size_t len);

/* As weft_msgq_send, giving up after timeout_ns nanoseconds (0: one try).
 * Returns: 0, EPIPE, EMSGSIZE, or ETIMEDOUT (still no room, not closed). */
WEFT_API int weft_msgq_send_timed(weft_msgq *q, const void *msg, size_t len, uint64_t timeout_ns);

/* Receive the oldest message into buf (cap bytes; buf may be NULL when cap
 * is 0), if there is one; its length goes to *len.
 * Thread: any.  Progress: lock-free among receivers, never blocks; wakes
 *   the parked senders if there are any.
 * Ordering: acquire (see the top).
 * Returns: 0 with the message copied and *len set; EAGAIN when empty (or
 *   the oldest message not yet published; *len untouched, as with EPIPE
 *   and ETIMEDOUT); EPIPE when closed and drained;
 *   EMSGSIZE when the oldest message is longer than cap: *len is its
 *   length, and the message stays in the queue (call again with a buffer
 *   that large; another receiver may take it meanwhile). */
WEFT_API int weft_msgq_try_recv(weft_msgq *q, void *buf, size_t cap, size_t *len);

/* As try_recv, but waits while the queue is empty.
 * Thread: any.  Progress: blocks while empty.
 * Returns: 0, EPIPE (closed and drained), EMSGSIZE (as try_recv). */
WEFT_API int weft_msgq_recv(weft_msgq *q, void *buf, size_t cap, size_t *len);

/* As weft_msgq_recv, giving up after timeout_ns nanoseconds (0: one try).
 * Returns: 0, EPIPE, EMSGSIZE, or ETIMEDOUT (still empty, not drained). */
WEFT_API int weft_msgq_recv_timed(weft_msgq *q, void *buf, size_t cap, size_t *len,
                                  uint64_t timeout_ns);

/* Send messages msgs[i] of lens[i] bytes, i < n, in order, at consecutive
 * cells claimed in one atomic step: the longest prefix that fits.
 * Thread: any.  Progress and ordering: as try_send.
 * Returns: the number sent (0 when the first did not fit, the queue was
 *   closed, or n was 0); a message longer than max_message ends the prefix
 *   (check it with weft_msgq_max_message first). */
WEFT_API size_t weft_msgq_try_send_many(weft_msgq *q, const void *const *msgs, const size_t *lens,
                                        size_t n);

/* Receive up to n of the oldest messages, claimed in one atomic step, packed
 * one after the other into buf (cap bytes): message i starts at
 * buf + sum of lens[0..i) and has lens[i] bytes.  Takes only as many as
 * fit in cap.
 * Thread: any.  Progress and ordering: as try_recv.
 * Returns: the number received (0 when empty, when n is 0, or when the
 *   oldest message alone is longer than cap: then use try_recv, which
 *   tells its length); lens[k] and beyond hold nothing useful. */
WEFT_API size_t weft_msgq_try_recv_many(weft_msgq *q, void *buf, size_t cap, size_t *lens,
                                        size_t n);

/* Look for claims of dead processes at the head and a lap behind the tail
 * of a robust queue, and recover them (see the top) now, without the
 * blocking calls' wait.  Safe at any time: a live owner's claims are never
 * touched.
 * Thread: any.  Progress: lock-free; system calls (kill, /proc) for each
 *   record with a claim in progress.
 * Returns: the number of dead owners' operations recovered by this call;
 *   0 for a queue that is not robust. */
WEFT_API size_t weft_msgq_recover(weft_msgq *q);

/* Thread: any.  Progress: wait-free.
 * Returns: how many operations of dead processes recovery has cleared
 *   (each lost at most the messages it was moving: one, or a batch). */
WEFT_API uint64_t weft_msgq_dropped(const weft_msgq *q);

/* Mark the queue closed and wake every parked thread (see the top).
 * Thread: any.  Progress: lock-free (a futex wake per eventcount with
 *   waiters).  Idempotent. */
WEFT_API void weft_msgq_close(weft_msgq *q);

/* Thread: any.  Progress: wait-free.
 * Returns: true once weft_msgq_close was called (acquire: pairs with it). */
WEFT_API bool weft_msgq_closed(const weft_msgq *q);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_MSGQ_H */
