/*
 * weft/doorbell.h - let an event loop (epoll, poll, libuv, asyncio) wait on
 * weft's rings through a file descriptor.
 *
 * A doorbell is an eventfd that is written only while its loop is about to
 * wait or waiting.  The loop announces itself with prepare, looks at its
 * rings once more, and then either waits on the fd with its own wait
 * (epoll_wait, poll, uv_run, asyncio's add_reader) or cancels.  Any thread
 * that makes work visible rings the bell; a ring that finds the loop busy
 * costs one load (and a fence while the loop sleeps often, see Progress):
 * no system call, no write to a shared line.  A burst of
 * rings while the loop is prepared costs one write(2), and clear costs one
 * read(2) only when the fd was written.  It is the eventcount's protocol
 * (weft/eventcount.h) with the loop's own wait in place of the futex.
 *
 * Attach a doorbell to a ring (weft_mpmc_set_doorbell, weft_spsc_set_doorbell,
 * weft_queue_set_doorbell) and its pushes ring it themselves, as does its
 * close: the loop then never misses an item or the close.  With no doorbell
 * attached a push pays one load of a read-mostly pointer.
 *
 * The loop's side, every round:
 *
 *   weft_doorbell_prepare(db);
 *   if (work is there)                   (look at every ring it serves)
 *       weft_doorbell_cancel(db);        and go and do it
 *   else
 *       wait until db's fd is readable (with the loop's other fds)
 *   ...
 *   when the fd is readable: weft_doorbell_clear(db), then take the work
 *
 * Look with a pop (weft_mpmc_try_pop and the like), not with a ring's size:
 * size counts a push whose producer is still inside it, and a loop that
 * cancels on that spins until the producer runs again (which, with more
 * threads than cores, can be a whole time slice).  A push that has not
 * published its item yet rings after it has, so the loop may wait.
 *
 * Concurrency: may two threads make these calls on one doorbell at once?
 *                   | prepare, cancel, clear | ring | fd
 *   prepare,        |                        |      |
 *   cancel, clear   |                        |      |
 *   ring            | yes                    | yes  |
 *   fd              | yes                    | yes  | yes
 * prepare, cancel and clear belong to one loop: a doorbell has one waiting
 * loop (several loops use several doorbells, one each; a ring can have one
 * doorbell attached, so give each loop its own rings).  ring: any number
 * of threads.  create: alone.  destroy: alone, once no ring runs or can
 * start, nothing attaches it, and the loop has stopped polling its fd (as
 * with close(2), polling a destroyed doorbell's fd is the caller's bug).
 *
 * Progress: prepare, cancel, clear and ring never block.  ring makes one
 * write(2) when it is the first ring since a prepare; clear makes one
 * read(2) when the fd was written.  Fences: a loop that prepares rarely
 * (more than 2 ms apart) issues membarrier(2) in prepare when the kernel
 * offers it, so that a ring needs no fence of its own, as
 * weft_eventcount_prepare does; membarrier costs microseconds when the
 * process's other threads run, so a loop whose prepares come less than
 * 200 us apart switches to a seq_cst fence in prepare, and rings pay a
 * seq_cst fence too, until its prepares slow down again.  Without
 * membarrier, both sides always use a seq_cst fence.
 *
 * Ordering: no lost wake-up.  If a thread makes work visible (any store,
 * then ring, or a push of a ring the doorbell is attached to) and the loop,
 * after prepare, does not see that work, the fd becomes readable.  Work seen
 * after clear happens after the ring that wrote the fd.  A ring may make the
 * fd readable when the loop already took the work (a spurious wake-up: clear,
 * find nothing, prepare again); it never stays readable after clear unless
 * a later ring made it so.
 *
 * Errors: create: NULL with errno EMFILE, ENFILE (no fd) or ENOMEM.  ring
 * never fails visibly (an eventfd that cannot take more is readable
 * already).  The fd is EFD_CLOEXEC | EFD_NONBLOCK; do not read, write or
 * close it yourself.  NULL handles assert in debug builds.
 *
 * Processes.  A doorbell lives in a page mapped MAP_SHARED, so a doorbell
 * created before fork() is the same doorbell in the parent and the child
 * (the fd is inherited): a ring in shared memory (made with WEFT_SHARED)
 * with the doorbell attached before the fork wakes a loop in either process
 * from pushes in either.  After a fork weft_doorbell_ring uses a seq_cst
 * fence in both processes (membarrier reaches only the caller's process).
 * Not supported: a process that did not inherit the doorbell (one that maps
 * the ring later, or after exec) must not push to a ring that has it
 * attached: the ring holds the doorbell's address, which means nothing in
 * that process.  Rings that such processes use need no doorbell, or one
 * attached by that process alone.
 *
 * Example (make check compiles and runs it: tests/snippets.sh):
 *
 * @code
 * #include <errno.h>
 * #include <poll.h>
 * #include <pthread.h>
 * #include <stdint.h>
 * #include <weft/doorbell.h>
 * #include <weft/mpmc.h>
 *
 * static void *worker(void *q)
 * {
 *     for (uintptr_t i = 1; i <= 1000; i++)
 *         weft_mpmc_push(q, (void *)i); // rings the doorbell when the loop waits
 *     weft_mpmc_close(q);
 *     return NULL;
 * }
 *
 * int main(void)
 * {
 *     weft_doorbell *db = weft_doorbell_create();
 *     weft_mpmc *q = weft_mpmc_create(64);
 *     if (!db || !q || weft_mpmc_set_doorbell(q, db) != 0)
 *         return 1;
 *     pthread_t t;
 *     pthread_create(&t, NULL, worker, q);
 *     uintptr_t sum = 0;
 *     void *item;
 *     for (;;) { // the event loop
 *         int rc;
 *         while ((rc = weft_mpmc_pop_timed(q, &item, 0)) == 0) // take what is there
 *             sum += (uintptr_t)item;
 *         if (rc == EPIPE)
 *             break; // closed and drained
 *         weft_doorbell_prepare(db);
 *         if (weft_mpmc_try_pop(q, &item)) { // the look: work after all
 *             weft_doorbell_cancel(db);
 *             sum += (uintptr_t)item;
 *             continue;
 *         }
 *         if (weft_mpmc_closed(q)) { // closed: drain what is left, end
 *             weft_doorbell_cancel(db);
 *             continue;
 *         }
 *         struct pollfd p = { weft_doorbell_fd(db), POLLIN, 0 };
 *         poll(&p, 1, -1); // the loop's own wait, with its other fds
 *         weft_doorbell_clear(db);
 *     }
 *     pthread_join(t, NULL);
 *     weft_mpmc_destroy(q);
 *     weft_doorbell_destroy(db);
 *     return sum == 1000 * 1001 / 2 ? 0 : 1;
 * }
 * @endcode
 */
#ifndef WEFT_DOORBELL_H
#define WEFT_DOORBELL_H

#include <weft/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An eventfd for one event loop, written only while the loop waits. */
typedef struct weft_doorbell weft_doorbell;

/* A new doorbell: not prepared, its fd not readable.  NULL with errno
 * EMFILE or ENFILE (no fd left) or ENOMEM. */
WEFT_API weft_doorbell *weft_doorbell_create(void);

/* Close the fd and free the doorbell.  Detach it from every ring first. */
WEFT_API void weft_doorbell_destroy(weft_doorbell *db);

/* The fd to wait on for readability (EPOLLIN, POLLIN, UV_READABLE). */
WEFT_API int weft_doorbell_fd(const weft_doorbell *db);

/* The loop is about to wait: from here on a ring writes the fd.  Look for
 * work after it, then call cancel (work found) or wait on the fd. */
WEFT_API void weft_doorbell_prepare(weft_doorbell *db);

/* The loop found work after prepare and will not wait: rings are free
 * again.  A ring between prepare and cancel may still have written the
 * fd; the loop's next wait then returns at once (clear, as always). */
WEFT_API void weft_doorbell_cancel(weft_doorbell *db);

/* The fd was readable: make it unreadable (one read(2) when it was
 * written) and end the prepare.  Call it before taking the work, so that
 * work made visible after the take rings again. */
WEFT_API void weft_doorbell_clear(weft_doorbell *db);

/* Wake the loop if it is prepared: call after making work visible.  One
 * load when the loop is busy (two loads and a seq_cst fence in the
 * symmetric mode, see Progress); one write(2) per prepare otherwise. */
WEFT_API void weft_doorbell_ring(weft_doorbell *db);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_DOORBELL_H */
