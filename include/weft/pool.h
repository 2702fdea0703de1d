/*
 * weft/pool.h - a work-stealing thread pool: fork-join, parallel_for,
 * map/reduce and futures.
 *
 * The pool is built from weft's parts: one weft_deque per worker thread (the
 * worker pushes and pops its own tasks at the bottom, idle workers steal the
 * oldest ones from the top), one weft_mpmc "injection" ring for work handed in
 * by threads outside the pool, and a weft_eventcount on which idle workers
 * park.  It also uses one thing the public API does not expose: the
 * eventcount's notify split in two (weft_internal_ec_fence_light, then
 * weft_internal_ec_notify_fenced, from src/eventcount_internal.h), so that the
 * one fence of a notify also orders the pool's own loads after it (the count of
 * searching workers; a future's flag saying that its waiter parked on the
 * pool's eventcount), as src/pool_sync.h explains.  src/pool.c explains the
 * scheduler and cites what it follows (Blumofe and Leiserson's work stealing,
 * rayon's and Go's parking).  examples/custom_scheduler.c builds a smaller
 * scheduler from the public parts alone.
 *
 * Six ways to give the pool work:
 *   weft_pool_submit      fire and forget (allocates a small node)
 *   weft_join             fork-join of two calls (rayon::join): the cheapest
 *   weft_group + spawn    fork-join with caller-owned task storage (allocates
 *                         nothing); weft_group_wait runs tasks while it waits
 *   weft_parallel_for     a loop over an index range, cut adaptively
 *   weft_parallel_reduce  map chunks of an index range, combine the partial
 *                         results in order
 *   weft_async + future   a value computed on the pool
 *
 * Concurrency: may two threads make these calls at the same time, on one pool
 * (and wait with spawn and wait: on one group; get, done and release with each
 * other: on one future)?
 *
 *                  | submit | spawn | wait  | loops | get   | release | size  | destroy
 *   submit, async  | yes    |       |       |       |       |         |       |
 *   spawn          | yes    | yes   |       |       |       |         |       |
 *   wait           | yes    | yes   | no    |       |       |         |       |
 *   loops          | yes    | yes   | yes   | yes   |       |         |       |
 *   get, done      | yes    | yes   | yes   | yes   | yes   |         |       |
 *   release        | yes    | yes   | yes   | yes   | no    | no      |       |
 *   size, stats    | yes    | yes   | yes   | yes   | yes   | yes     | yes   |
 *   destroy        | tasks+ | tasks | tasks | tasks | tasks | tasks   | tasks | no
 *
 * wait: weft_group_wait; loops: weft_parallel_for, weft_parallel_reduce (and
 * weft_join, which is a spawn and a wait in one call, on a group of its own);
 * get,
 * done, release: weft_future_*; stats: weft_pool_read_stats.  "yes" holds for
 * the pool's workers (inside a task) and outside threads alike, nested to any
 * depth.  wait: by the thread that called weft_group_init(g) (any one thread
 * when that was outside the pool), after the spawns it must wait for;
 * weft_group_init: alone on g.  get, done: until the future is released;
 * release: exactly once.  create: any thread outside the pool's tasks.  tasks:
 * destroy runs only beside calls made by the pool's own running tasks (a submit
 * or async among them returns ESHUTDOWN); tasks+: and beside an outside
 * thread's submit whose task was accepted before destroy was called (destroy
 * returns only after that submit has; see weft_pool_destroy).
 *
 * Progress: spawn, submit (when memory is there) and the fast path of
 * weft_group_wait take no lock, make no system call and never block (a spawn
 * and its join on the same worker cost a deque push and pop and no other atomic
 * read-modify-write); a spawn wakes a parked worker (one futex system call)
 * only when no worker is already looking for work.  Waits (group, future,
 * destroy) block, but a waiter on a worker thread runs other tasks meanwhile,
 * so nested fork-join never deadlocks and needs no extra threads.
 *
 * Idle: a worker that finds no work spins for a short while (at most half
 * of the workers, and at least two, spin at a time; the others park at
 * once), then parks on a futex and uses no CPU.  A parked worker is woken
 * by the next task handed to the pool (within tens of microseconds).
 *
 * Memory ordering: everything a thread wrote before handing a task to the
 * pool (submit, spawn, async, parallel_for, parallel_reduce) happens-before
 * the task runs; everything a task wrote happens-before the return of the
 * wait that waited for it (weft_group_wait, weft_future_get, a
 * weft_future_done that returned true, weft_parallel_for/_reduce,
 * weft_pool_destroy for submitted tasks).
 *
 * Example (make check compiles and runs it: tests/snippets.sh):
 *
 * @code
 * #include <weft/pool.h>
 *
 * static weft_pool *pool;
 *
 * struct fib {
 *     unsigned n;
 *     unsigned long result;
 * };
 *
 * static void fib(void *arg) // fork-join: caller-owned task storage, no allocation
 * {
 *     struct fib *f = arg;
 *     if (f->n < 2) {
 *         f->result = f->n;
 *         return;
 *     }
 *     struct fib a = { f->n - 1, 0 }, b = { f->n - 2, 0 };
 *     weft_group g;
 *     weft_task t;
 *     weft_group_init(&g, pool);
 *     weft_spawn(&g, &t, fib, &a); // an idle worker may steal it
 *     fib(&b);                     // meanwhile this thread computes the other half
 *     weft_group_wait(&g);         // runs tasks while it waits
 *     f->result = a.result + b.result;
 * }
 *
 * static void *fib_task(void *arg)
 * {
 *     fib(arg);
 *     return arg;
 * }
 *
 * int main(void)
 * {
 *     pool = weft_pool_create(0); // one worker per online CPU
 *     if (!pool)
 *         return 1;
 *     struct fib f = { 25, 0 };
 *     weft_future *fu = weft_async(pool, fib_task, &f); // the root runs on a worker
 *     if (!fu || weft_future_get(fu) != &f)
 *         return 1;
 *     weft_future_release(fu);
 *     weft_pool_destroy(pool);
 *     return f.result == 75025 ? 0 : 1;
 * }
 * @endcode
 */
#ifndef WEFT_POOL_H
#define WEFT_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <weft/common.h>
#include <weft/eventcount.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The pool (opaque). */
typedef struct weft_pool weft_pool;

/* Create a pool of nthreads worker threads, named "weft-worker-0",
 * "weft-worker-1", ... "weft-worker-999", then "weft-worker1000",
 * "weft-worker1001", ... (the 15 characters Linux keeps of a thread's
 * name).  0 means one per online CPU (sysconf(_SC_NPROCESSORS_ONLN)).
 * Thread: any.  Progress: allocates and starts threads.
 * Returns: the pool; NULL with errno EINVAL when nthreads > 4096, ENOMEM
 *   when memory is short, or the error of pthread_create (e.g. EAGAIN) when
 *   a thread could not be started (then none is left running). */
WEFT_API weft_pool *weft_pool_create(unsigned nthreads);

/* Stop accepting submissions, run every task already submitted or started
 * with weft_async (tasks they spawn still run: their waits need them;
 * submissions made after destroy started are refused with ESHUTDOWN), join
 * the workers and free the pool.
 * Thread: any thread that is not running one of p's tasks.  Called from a
 *   task of p (on a worker, or on an outside thread that runs one of p's
 *   tasks because the injection ring was full, see weft_pool_submit) it
 *   would wait for itself: it is refused instead: it returns at once, does
 *   nothing and sets errno to EDEADLK (the pool keeps running; destroy it
 *   later from outside).  No other call on p may run or start afterwards, except
 *   calls from p's own running tasks (weft_pool_submit and weft_async
 *   return ESHUTDOWN there) and weft_pool_submit calls of other threads
 *   whose task was accepted before destroy was called (the acceptance
 *   happens-before the call: for example the task started and told the
 *   destroying thread so): such a submit may still be returning, and
 *   destroy waits until it has returned and made its last access to p.
 *   Any other submit must not overlap destroy: one that begins, or has
 *   begun but not yet had its task accepted, when destroy is called may
 *   find p freed (stop such threads first, e.g. join them).
 *   (model-check/pool.cc checks this promise; a wider one, "every submit
 *   in progress", cannot hold: a submit not yet counted by the pool
 *   cannot be waited for.)
 * Progress: blocks until the tasks are done and the accepted submits
 *   still inside have returned.
 * Ordering: the writes of every submitted task happen-before the return. */
WEFT_API void weft_pool_destroy(weft_pool *p);

/* Run fn(arg) on the pool, some time later.  Allocates a small node.
 * From a worker of p the task goes to that worker's deque (others steal it
 * when idle); from any other thread it goes to the injection ring.  When the
 * injection ring is full the submitting thread helps instead of blocking
 * or dropping anything: it runs the oldest task of the ring itself, then
 * tries again (so a flood of submissions from outside is throttled to the
 * pace of the pool, and memory stays bounded).
 * Thread: any (while weft_pool_destroy runs: see there).  Progress:
 *   lock-free; malloc; may run other tasks (above); may wake a parked
 *   worker (one futex system call).
 * Ordering: the caller's writes before submit happen-before fn runs.
 * Returns: 0; ENOMEM when the node could not be allocated (fn will not
 *   run); ESHUTDOWN when weft_pool_destroy has started (fn will not run). */
WEFT_API int weft_pool_submit(weft_pool *p, void (*fn)(void *), void *arg);

/* The number of worker threads.  Thread: any.  Progress: wait-free. */
WEFT_API unsigned weft_pool_size(const weft_pool *p);

/* ---- fork-join --------------------------------------------------------- */

/* A task of a group: storage owned by the caller (usually on its stack),
 * which must stay valid from weft_spawn until weft_group_wait returns.
 * Plain storage; the library checks that its layout fits.  Treat the
 * contents as private. */
typedef struct weft_task {
    uint64_t opaque[4];
} weft_task;

/* A set of tasks that one weft_group_wait waits for.  Caller-owned storage;
 * initialise with weft_group_init before use.  After weft_group_wait
 * returned, the group may be reused (spawn again, wait again) or freed.
 * An outside thread waiting for the group parks on the embedded eventcount. */
typedef struct weft_group {
    uint64_t opaque[5];
    weft_eventcount ec;
} weft_group;

/* Initialise g for tasks of pool p.  The calling thread becomes the group's
 * waiter: when it is a worker of p, only it may call weft_group_wait(g)
 * (fork-join: the spawner joins), and its own spawns and joins are counted
 * without any atomic read-modify-write.
 * Thread: any, alone on g.  Progress: wait-free; no system call. */
WEFT_API void weft_group_init(weft_group *g, weft_pool *p);

/* Add the task fn(arg) to g; t is its storage (it must stay valid until
 * weft_group_wait(g) returns).  Allocates nothing.  On a worker of g's pool
 * the task goes to the worker's own deque (usually the same thread pops it
 * back in weft_group_wait: a fork-join costs a push and a pop); from any
 * other thread it goes to the injection ring (when that is full, the caller
 * runs the oldest injected task first, as weft_pool_submit does).  If the
 * worker's deque cannot grow (malloc failed), fn(arg) runs at once on the
 * calling thread: nothing is lost and spawn never fails.  Spawning works
 * also while weft_pool_destroy drains the pool (spawn from running tasks).
 * Thread: any; concurrently with other spawns on g and with the wait.
 * Progress: wait-free unless the deque grows (malloc) or it wakes a parked
 *   worker (only when no worker is searching for work: one futex call).
 * Ordering: the caller's writes before spawn happen-before fn runs. */
WEFT_API void weft_spawn(weft_group *g, weft_task *t, void (*fn)(void *), void *arg);

/* Wait until every task spawned on g so far has finished.  On a worker of
 * the pool the caller runs tasks while it waits: its own deque first
 * (usually the task it just spawned), then the injection ring, then steals;
 * when there is nothing to run it spins a little, then parks beside the
 * idle workers, so that it is woken both by new work in the pool and by the
 * end of the last task of g.  On any other thread it runs
 * nothing (it has no deque of its own, so every task spawned under it
 * would go through the injection ring, and it could grab the root of a big
 * computation before a worker woke up): it spins briefly, then parks on
 * g's eventcount until the last task wakes it.
 * Thread: the one that called weft_group_init(g) when that was a worker of
 *   the pool (asserted); otherwise any one thread at a time.
 * Progress: blocks until the tasks finished; never deadlocks by itself
 *   (nested fork-join to any depth needs no extra threads).
 * Ordering: acquire: the writes of every task of g happen-before the
 *   return. */
WEFT_API void weft_group_wait(weft_group *g);

/* Fork-join of two calls: run fa(a) and fb(b), possibly in parallel, and
 * return when both returned (rayon::join's counterpart; a weft_group with one
 * spawn, in one call).  On a worker of p, fb(b) is pushed on the worker's
 * deque where an idle worker may steal it, fa(a) runs on the caller, then
 * the caller pops fb(b) back and runs it itself unless it was stolen; then
 * it waits as weft_group_wait does.  The push is private while idle workers
 * can still steal older work from this deque (a split deque, as Lace's): fb(b)
 * becomes stealable at once when nothing else on the deque is, and otherwise
 * at this worker's next join (or spawn) once that older work was taken.  So
 * the unstolen path is a push, a pop and the two calls with no atomic
 * read-modify-write, no fence and no store another thread reads; and fa(a)
 * must not wait for fb(b) to start (with one worker it never would anyway).
 * From any other thread both calls are
 * submitted to p and the caller waits for them as an outside
 * weft_group_wait does.  Allocates nothing; never fails (if the deque
 * cannot grow, both run on the caller, one after the other).
 * Thread: any.  Progress: blocks until both returned (see weft_group_wait).
 * Ordering: the caller's writes happen-before both calls; their writes
 *   happen-before the return. */
WEFT_API void weft_join(weft_pool *p, void (*fa)(void *), void *a, void (*fb)(void *), void *b);

/* ---- loops ------------------------------------------------------------- */

/* Call body(b, e, ctx) on sub-ranges [b, e) that partition [begin, end),
 * in parallel; return when all calls returned.  grain is the smallest
 * range worth handing to another worker: a range of grain indices or fewer
 * is never split, and every call covers at least grain indices (or what is
 * left).  Beyond that the cut is adaptive (lazy binary splitting): a worker
 * halves its range only when an idle worker could take the half, and
 * otherwise runs ever longer pieces of it itself, so a loop with a tiny
 * body and grain 1 costs a few body calls per worker, not one per index;
 * body must not assume a range length.  grain 0 chooses
 * (end - begin) / (32 * pool size), at least 1.  begin >= end is an empty
 * range: body is not called.  Allocates nothing.
 * Thread: any (from a task of the pool too: nested loops are fine).
 * Progress: blocks until done; runs chunks itself meanwhile.
 * Ordering: the caller's writes happen-before each body call; each body's
 *   writes happen-before the return. */
WEFT_API void weft_parallel_for(weft_pool *p, size_t begin, size_t end, size_t grain,
                                void (*body)(size_t begin, size_t end, void *ctx), void *ctx);

/* map/reduce over an index range: "split the input into chunks, map the
 * worker over the chunks in parallel, combine the partial results".
 *
 * An accumulator is acc_size bytes of plain memory (copied with memcpy; it
 * must not hold pointers into itself).  The range [begin, end) is cut into
 * consecutive chunks of at most grain indices (grain 0: automatic as in
 * weft_parallel_for; in any case the range is cut into at most 64 * pool
 * size chunks, so a chunk may be longer than grain).  For each chunk
 * [b, e), an accumulator is set to a copy of *identity and
 * map(b, e, acc, ctx) folds the chunk into it.  Partial accumulators are
 * then combined pairwise by combine(left, right, ctx), which must store
 * left (+) right into left; left always covers the indices just before
 * right's, so an associative operator that is not commutative (string
 * concatenation, matrix product, "first match") gives the same result as a
 * sequential left-to-right fold.  identity must be a neutral element of
 * combine.  The final accumulator is copied to *result (also when the range
 * is empty: then *result = *identity and map is not called).
 * result and identity may be the same object.
 * Thread: any (from a task of the pool too).
 * Progress: blocks until done; allocates one block of (number of chunks *
 *   acc_size) bytes.
 * Ordering: as weft_parallel_for; each combine sees the writes of the map
 *   and combine calls that produced its two arguments.
 * Returns: 0; EINVAL when acc_size is 0 (nothing is called, *result
 *   untouched); ENOMEM when the accumulators could not be allocated
 *   (nothing is called, *result untouched). */
WEFT_API int weft_parallel_reduce(weft_pool *p, size_t begin, size_t end, size_t grain,
                                  void *result, const void *identity, size_t acc_size,
                                  void (*map)(size_t begin, size_t end, void *acc, void *ctx),
                                  void (*combine)(void *left, const void *right, void *ctx),
                                  void *ctx);

/* ---- futures ----------------------------------------------------------- */

/* A value being computed on the pool (opaque, allocated by weft_async). */
typedef struct weft_future weft_future;

/* Run fn(arg) on the pool; its return value becomes the future's value.
 * Thread: any.  Progress: as weft_pool_submit (allocates the future).
 * Ordering: the caller's writes before async happen-before fn runs.
 * Returns: the future (release it with weft_future_release); NULL with
 *   errno ENOMEM (allocation failed) or ESHUTDOWN (destroy has started):
 *   then fn will not run. */
WEFT_API weft_future *weft_async(weft_pool *p, void *(*fn)(void *), void *arg);

/* Wait for the value and return it (it can be read any number of times).
 * On a worker of the pool it runs other tasks while it waits (its own deque
 * first, where the future's task usually is) and, when there are none,
 * parks beside the idle workers (new work or the task's end wake it);
 * elsewhere it spins briefly, then parks until the task has run.
 * Thread: any, until the future is released.  Progress: blocks until done.
 * Ordering: acquire: fn's writes happen-before the return.
 * Returns: the value fn returned. */
WEFT_API void *weft_future_get(weft_future *f);

/* Has fn returned?  Thread: any, until the future is released.
 * Progress: wait-free.
 * Ordering: acquire: when true, fn's writes happen-before the return.
 * Returns: true once fn has returned (then weft_future_get does not wait). */
WEFT_API bool weft_future_done(const weft_future *f);

/* Give up the future.  It may be called before fn finished: fn still runs
 * (it is not cancelled), its value is dropped, and the memory is freed by
 * whichever of the two (this call or the end of fn) comes last.
 * f must not be used afterwards.  NULL is ignored.
 * Thread: any, exactly once per future.  Progress: wait-free (may free). */
WEFT_API void weft_future_release(weft_future *f);

/* ---- statistics -------------------------------------------------------- */

/* Counters since the pool was created.  Each worker counts its own events
 * in its own cache line (no shared write on any fast path); a read sums
 * them, so the totals are approximate while the pool runs and exact once it
 * is quiet.  Tasks run by threads outside the pool (because the injection
 * ring was full when they submitted or spawned) are counted in
 * outside_runs. */
typedef struct weft_pool_stats {
    uint64_t tasks_run;    /* tasks run by the workers */
    uint64_t outside_runs; /* tasks run by helping threads outside the pool */
    uint64_t steals;       /* tasks a worker took from another worker's deque */
    uint64_t injected;     /* tasks workers took from the injection ring */
    uint64_t parks;        /* times a worker went to sleep (idle) */
} weft_pool_stats;

/* Read the counters into *out.
 * Thread: any.  Progress: wait-free (reads one line per worker).
 * Ordering: none (relaxed reads); use them for monitoring and tests. */
WEFT_API void weft_pool_read_stats(const weft_pool *p, weft_pool_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_POOL_H */
