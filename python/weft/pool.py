"""weft.Pool and weft.ProcessPoolExecutor: worker processes fed through
weft.Queue (lock-free rings in shared memory) instead of pipes and locks.

The interface is multiprocessing.Pool's (map, imap, imap_unordered,
starmap, apply, apply_async, close, join, terminate, with), plus
apply_coro for asyncio, and
concurrent.futures.ProcessPoolExecutor's (submit, map, shutdown).

How it works: the tasks travel as chunks (a list of arguments and the
function, pickled by reference as multiprocessing pickles it) through one
shared task queue that every worker takes from; each worker puts
(job, chunk, ok, value) on one shared result queue, which a thread of the
parent hands to the job's result object.  Each worker records in a shared
array which chunk it is running; a thread of the parent (the same one)
polls the workers, and when one has died it reports that chunk as failed
(WorkerLostError) and starts a replacement, so that nobody waits forever
for a dead worker's task.  Exceptions raised by a task reach the caller
with the worker's traceback as their __cause__, as in multiprocessing.

Known limits: the queues are robust (weft/msgq.h, WEFT_MSGQ_ROBUST), so a
worker killed inside a queue operation never leaves the queue stuck; but a
worker killed inside its get of a chunk, or in the few instructions between
taking a chunk and recording it, loses that chunk, and the chunk's result
object then never completes: give get() a timeout where that matters.
"""

import concurrent.futures as _cf
import itertools
import multiprocessing as mp
import os
import pickle
import threading
import time
import traceback

from . import Queue, Empty

__all__ = ["Pool", "AsyncResult", "ProcessPoolExecutor", "WorkerLostError", "RemoteTraceback"]

_RUN, _CLOSE, _TERMINATE = "RUN", "CLOSE", "TERMINATE"
_ASYNC_CHUNK = -2  # the chunk number of an apply_coro task: its result goes to the async ring
_POLL_S = 0.05


class WorkerLostError(RuntimeError):
    """The worker process running a task exited before it finished."""


class RemoteTraceback(Exception):
    """The worker's traceback of a task's exception (its __cause__)."""

    def __init__(self, tb):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return self.tb


def _wrap_exception(e):
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    tb = '\n"""\n%s"""' % tb
    try:
        pickle.loads(pickle.dumps(e, protocol=5))
        exc = e
    except Exception:
        exc = RuntimeError("unpicklable exception %s: %s" % (type(e).__name__, e))
    exc.__traceback__ = None
    return (exc, tb)


def _unwrap_exception(value):
    exc, tb = value
    exc.__cause__ = RemoteTraceback(tb)
    return exc


def _worker(tasks, results, slots, index, initializer, initargs, aresults=None):
    if initializer is not None:
        initializer(*initargs)
    me = 2 * index
    while True:
        try:
            t = tasks.get()
        except Empty:  # the ring was shut down
            break
        if t is None:
            break
        job, chunk, func, args, star, kwargs = t
        slots[me + 1] = chunk
        slots[me] = job
        try:
            if kwargs is not None:
                out = [func(*a, **kwargs) for a in args]
            elif star:
                out = [func(*a) for a in args]
            else:
                out = [func(a) for a in args]
            msg = (job, chunk, True, out)
        except BaseException as e:  # reported, not fatal to the worker
            msg = (job, chunk, False, _wrap_exception(e))
        slots[me] = -1
        out_q = aresults if chunk == _ASYNC_CHUNK else results
        try:
            out_q.put(msg)
        except Exception as e:  # an unpicklable result
            out_q.put((job, chunk, False, _wrap_exception(e)))


class AsyncResult:
    """The result of apply_async (and the base of map_async's): get, wait,
    ready, successful, as multiprocessing.pool.AsyncResult."""

    def __init__(self, pool, nchunks, callback=None, error_callback=None):
        self._pool = pool
        self._event = threading.Event()
        self._left = nchunks
        self._parts = [None] * nchunks
        self._error = None
        self._callback = callback
        self._error_callback = error_callback
        if nchunks == 0:
            self._finish()

    def _set(self, chunk, ok, value):
        if self._event.is_set():
            return
        if ok:
            self._parts[chunk] = value
        elif self._error is None:
            self._error = _unwrap_exception(value) if isinstance(value, tuple) else value
        self._left -= 1
        if self._left == 0 or not ok:
            self._finish()

    def _finish(self):
        self._pool._forget(self)
        try:
            if self._error is None and self._callback is not None:
                self._callback(self._value())
            elif self._error is not None and self._error_callback is not None:
                self._error_callback(self._error)
        finally:
            self._event.set()

    def _value(self):
        return self._parts[0][0]

    def ready(self):
        """True once the result (or an error) is there."""
        return self._event.is_set()

    def successful(self):
        """True when the call returned; ValueError before it is ready."""
        if not self.ready():
            raise ValueError("%r not ready" % self)
        return self._error is None

    def wait(self, timeout=None):
        """Wait until ready, for at most timeout seconds."""
        self._event.wait(timeout)

    def get(self, timeout=None):
        """The result, waiting for at most timeout seconds (then
        multiprocessing.TimeoutError); a task's exception is raised here,
        with the worker's traceback as its __cause__."""
        self.wait(timeout)
        if not self.ready():
            raise mp.TimeoutError
        if self._error is not None:
            raise self._error
        return self._value()


class _MapResult(AsyncResult):
    def _value(self):
        # list += list copies a block of references: 4x faster here than
        # list(itertools.chain.from_iterable(parts)) (32 parts of 3125:
        # 0.16 against 0.65 ms, 2026-12-03)
        out = []
        for part in self._parts:
            out += part
        return out


class _IMapIterator:
    """Results of imap (ordered) or imap_unordered, chunk by chunk."""

    def __init__(self, pool, ordered):
        self._pool = pool
        self._ordered = ordered
        self._cond = threading.Condition(threading.Lock())
        self._parts = {}
        self._arrived = []
        self._next = 0
        self._total = None  # chunks, once the submitter knows
        self._yielded_chunks = 0
        self._got = 0
        self._buffer = []

    def _set_total(self, n):
        with self._cond:
            self._total = n
            self._cond.notify_all()
            done = self._got >= n
        if done:
            self._pool._forget(self)

    def _set(self, chunk, ok, value):
        with self._cond:
            if not ok:
                value = _unwrap_exception(value) if isinstance(value, tuple) else value
            if self._ordered:
                self._parts[chunk] = (ok, value)
            else:
                self._arrived.append((ok, value))
            self._got += 1
            self._cond.notify_all()
            done = self._total is not None and self._got >= self._total
        if done:
            self._pool._forget(self)

    def __iter__(self):
        return self

    def next(self, timeout=None):
        """The next result, waiting for at most timeout seconds
        (multiprocessing.TimeoutError)."""
        while not self._buffer:
            with self._cond:
                deadline = None if timeout is None else time.monotonic() + timeout
                while True:
                    if self._total is not None and self._yielded_chunks >= self._total:
                        raise StopIteration
                    if self._ordered and self._next in self._parts:
                        ok, value = self._parts.pop(self._next)
                        self._next += 1
                        break
                    if not self._ordered and self._arrived:
                        ok, value = self._arrived.pop(0)
                        break
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise mp.TimeoutError
                    self._cond.wait(left)
                self._yielded_chunks += 1
            if not ok:
                raise value
            self._buffer = list(reversed(value))
        return self._buffer.pop()

    __next__ = next


class Pool:
    """A pool of worker processes with multiprocessing.Pool's interface.

    processes: the number of workers (default os.cpu_count()).
    initializer(*initargs) runs in each worker as it starts.
    context: a multiprocessing context (default: multiprocessing's default,
    fork on Linux); spawn and forkserver work too.
    capacity_bytes: the storage of each of the two rings.
    """

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None,
                 context=None, *, capacity_bytes=1 << 24):
        if processes is None:
            processes = os.cpu_count() or 1
        if processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None:
            raise NotImplementedError("maxtasksperchild is not supported")
        self._ctx = context or mp.get_context()
        self._n = processes
        self._initializer, self._initargs = initializer, initargs
        self._tasks = Queue(capacity_bytes=capacity_bytes)
        self._results = Queue(capacity_bytes=capacity_bytes)
        # apply_coro's results: read by the event loop itself (get_async)
        self._aresults = Queue(capacity_bytes=1 << 20)
        self._afutures = {}
        self._slots = self._ctx.RawArray("q", [-1] * (2 * processes))
        self._lock = threading.Lock()
        self._jobs = {}
        self._job_ids = itertools.count()
        self._state = _RUN
        self._workers = [self._start(i) for i in range(processes)]
        self._handler = threading.Thread(target=self._handle, name="weft-pool-results",
                                         daemon=True)
        self._handler.start()

    def _start(self, i):
        p = self._ctx.Process(target=_worker, name="weft-pool-worker-%d" % i,
                              args=(self._tasks, self._results, self._slots, i,
                                    self._initializer, self._initargs, self._aresults),
                              daemon=True)
        p.start()
        return p

    # ---- the parent's thread: results and dead workers ----

    def _handle(self):
        last_check = time.monotonic()
        while True:
            try:
                msg = self._results.get(timeout=_POLL_S)
            except Empty:
                msg = None
            except ValueError:  # closed at terminate
                return
            if msg is not None:
                job, chunk, ok, value = msg
                with self._lock:
                    r = self._jobs.get(job)
                if r is not None:
                    r._set(chunk, ok, value)
            now = time.monotonic()
            if msg is None or now - last_check >= _POLL_S:
                last_check = now
                if not self._check_workers(drained=msg is None):
                    return

    def _check_workers(self, drained):
        """Replace dead workers and fail what they were running; False when
        the thread should end (terminated, or closed with every worker gone
        and every result read: what is still pending then can never come)."""
        if self._state == _TERMINATE:
            return False
        for i, p in enumerate(self._workers):
            if p.exitcode is None:
                continue
            job, chunk = self._slots[2 * i], self._slots[2 * i + 1]
            self._slots[2 * i] = -1
            if job >= 0 and chunk == _ASYNC_CHUNK:
                self._fail_coro(job, WorkerLostError(
                    "worker %s (pid %s) exited with code %s while running a task"
                    % (p.name, p.pid, p.exitcode)))
            elif job >= 0:
                with self._lock:
                    r = self._jobs.get(job)
                if r is not None:
                    r._set(chunk, False, WorkerLostError(
                        "worker %s (pid %s) exited with code %s while running a task"
                        % (p.name, p.pid, p.exitcode)))
            if self._state == _RUN or (self._state == _CLOSE and p.exitcode != 0):
                self._workers[i] = self._start(i)
        if (self._state == _CLOSE and drained and
                all(p.exitcode is not None for p in self._workers)):
            with self._lock:
                pending = list(self._jobs.values())
            for r in pending:
                r._set(0, False, WorkerLostError("the pool's workers exited first"))
            return False
        return True

    def _fail_coro(self, job, exc):
        with self._lock:
            entry = self._afutures.pop(job, None)
        if entry is not None:
            loop, fut = entry
            loop.call_soon_threadsafe(lambda: fut.done() or fut.set_exception(exc))

    async def apply_coro(self, func, *args, **kwargs):
        """Run func(*args, **kwargs) in a worker and await its result in the
        running asyncio loop, with no thread waiting for it: the worker puts
        the result on a ring that the loop reads through its eventfd
        (weft.Queue.get_async).  A task's exception is raised here, with the
        worker's traceback as its __cause__; a dead worker's task raises
        WorkerLostError."""
        import asyncio

        self._check_running()
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._lock:
            job = next(self._job_ids)
            self._afutures[job] = (loop, fut)
        try:
            self._tasks.put((job, _ASYNC_CHUNK, func, [tuple(args)], True, kwargs or None))
        except BaseException:
            with self._lock:
                self._afutures.pop(job, None)
            raise
        # Every waiting coroutine reads the ring and hands on what it reads,
        # until its own future is done (by itself or by another one).
        while not fut.done():
            getter = asyncio.ensure_future(self._aresults.get_async())
            await asyncio.wait({fut, getter}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                try:
                    await getter
                except asyncio.CancelledError:
                    pass
                except Exception:
                    pass
            if getter.done() and not getter.cancelled() and getter.exception() is None:
                j, _, ok, value = getter.result()
                with self._lock:
                    entry = self._afutures.pop(j, None)
                if entry is not None and not entry[1].done():
                    if ok:
                        entry[1].set_result(value[0])
                    else:
                        entry[1].set_exception(_unwrap_exception(value))
        return fut.result()

    def _forget(self, r):
        with self._lock:
            for k, v in list(self._jobs.items()):
                if v is r:
                    del self._jobs[k]

    def _register(self, r):
        with self._lock:
            job = next(self._job_ids)
            self._jobs[job] = r
        return job

    def _check_running(self):
        if self._state != _RUN:
            raise ValueError("Pool not running")

    def _submit_chunks(self, job, func, chunks, star, kwargs=None):
        n = 0
        for i, c in enumerate(chunks):
            self._tasks.put((job, i, func, c, star, kwargs))
            n += 1
        return n

    # ---- the interface ----

    def apply_async(self, func, args=(), kwds=None, callback=None, error_callback=None):
        """Run func(*args, **kwds) in a worker; an AsyncResult."""
        self._check_running()
        r = AsyncResult(self, 1, callback, error_callback)
        job = self._register(r)
        try:
            self._tasks.put((job, 0, func, [tuple(args)], True, kwds if kwds else None))
        except BaseException:  # an unpicklable function or argument
            self._forget(r)
            raise
        return r

    def apply(self, func, args=(), kwds=None):
        """apply_async(...).get()."""
        return self.apply_async(func, args, kwds).get()

    @staticmethod
    def _chunks(iterable, chunksize):
        if type(iterable) is range:  # a slice of a range pickles in a few bytes
            for i in range(0, len(iterable), chunksize):
                yield iterable[i:i + chunksize]
            return
        it = iter(iterable)
        while True:
            c = list(itertools.islice(it, chunksize))
            if not c:
                return
            yield c

    def _default_chunksize(self, n):
        # multiprocessing cuts 4 chunks per worker; 16 let the parent's
        # unpickling overlap the workers' runs better and even out their
        # loads (10^5 tiny tasks, 2 workers, medians of 40 interleaved
        # rounds, 2026-12-03: 8 per worker 5.32 ms, 16 4.82, 32 4.70;
        # multiprocessing.Pool.map 10.0)
        chunksize, extra = divmod(n, self._n * 16)
        return chunksize + 1 if extra else max(chunksize, 1)

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None,
                  star=False):
        """map, without waiting: an AsyncResult whose get() is the list."""
        self._check_running()
        if not hasattr(iterable, "__len__"):
            iterable = list(iterable)
        if chunksize is None:
            chunksize = self._default_chunksize(len(iterable))
        nchunks = (len(iterable) + chunksize - 1) // chunksize
        r = _MapResult(self, nchunks, callback, error_callback)
        if nchunks:
            job = self._register(r)
            try:
                self._submit_chunks(job, func, self._chunks(iterable, chunksize), star)
            except BaseException:  # an unpicklable function or argument
                self._forget(r)
                raise
        return r

    def map(self, func, iterable, chunksize=None):
        """[func(x) for x in iterable], computed by the workers, in order;
        the first exception of a task is raised here."""
        return self.map_async(func, iterable, chunksize).get()

    def starmap(self, func, iterable, chunksize=None):
        """[func(*args) for args in iterable], by the workers."""
        return self.map_async(func, iterable, chunksize, star=True).get()

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """starmap, without waiting."""
        return self.map_async(func, iterable, chunksize, callback, error_callback, star=True)

    def _imap(self, func, iterable, chunksize, ordered):
        self._check_running()
        if chunksize < 1:
            raise ValueError("Chunksize must be 1+, not %r" % chunksize)
        it = _IMapIterator(self, ordered)
        job = self._register(it)

        def submit():
            n = 0
            try:
                for c in self._chunks(iterable, chunksize):
                    self._tasks.put((job, n, func, c, False, None))
                    n += 1
            except BaseException as e:  # the iterable or pickling raised: the next chunk
                it._set(n, False, e)
                n += 1
            it._set_total(n)

        threading.Thread(target=submit, name="weft-pool-imap", daemon=True).start()
        return it

    def imap(self, func, iterable, chunksize=1):
        """An iterator of func(x) for x in iterable, in order, as they come."""
        return self._imap(func, iterable, chunksize, True)

    def imap_unordered(self, func, iterable, chunksize=1):
        """As imap, in the order the results arrive."""
        return self._imap(func, iterable, chunksize, False)

    def close(self):
        """No more tasks: the workers exit once the queued ones are done."""
        if self._state == _RUN:
            self._state = _CLOSE
            for _ in range(self._n):
                self._tasks.put(None)

    def terminate(self):
        """Stop the workers now; results not there yet never come
        (their get raises once the timeout passes)."""
        self._state = _TERMINATE
        # the result thread first: it starts replacements for dead workers,
        # so it must be gone before the kills (else a replacement started
        # after them would wait for tasks for ever, and join with it)
        if threading.current_thread() is not self._handler:
            self._handler.join()
        for p in self._workers:
            if p.exitcode is None:
                p.kill()
        for p in self._workers:
            p.join()
        with self._lock:
            pending = list(self._jobs.values())
            self._jobs.clear()
        for r in pending:
            try:
                r._set(0, False, RuntimeError("the pool was terminated"))
            except Exception:
                pass

    def join(self):
        """Wait for the workers to exit (after close or terminate)."""
        if self._state == _RUN:
            raise ValueError("Pool is still running")
        for p in self._workers:
            p.join()
        # replacements started while we waited
        while any(p.exitcode is None for p in self._workers):
            for p in self._workers:
                p.join()
        if self._state == _CLOSE:
            self._handler.join()

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, *exc):
        self.terminate()


class ProcessPoolExecutor(_cf.Executor):
    """A concurrent.futures.Executor on a weft.Pool."""

    def __init__(self, max_workers=None, mp_context=None, initializer=None, initargs=()):
        self._pool = Pool(max_workers, initializer, initargs, context=mp_context)
        self._shutdown = False

    def submit(self, fn, /, *args, **kwargs):
        """Schedule fn(*args, **kwargs): a concurrent.futures.Future."""
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        f = _cf.Future()

        def done(value):
            if f.set_running_or_notify_cancel():
                f.set_result(value)

        def failed(e):
            if f.set_running_or_notify_cancel():
                f.set_exception(e)

        self._pool.apply_async(fn, args, kwargs, done, failed)
        return f

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """As Executor.map: results in order, computed in chunks of
        chunksize."""
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        deadline = None if timeout is None else time.monotonic() + timeout
        it = self._pool._imap(_Star(fn), zip(*iterables), chunksize, True)

        def results():
            while True:
                left = None if deadline is None else max(0, deadline - time.monotonic())
                try:
                    yield it.next(left)
                except StopIteration:
                    return
                except mp.TimeoutError:
                    raise _cf.TimeoutError from None

        return results()

    def shutdown(self, wait=True, *, cancel_futures=False):
        """No more submissions; wait for the workers when wait is true."""
        self._shutdown = True
        self._pool.close()
        if wait:
            self._pool.join()


class _Star:
    """fn(*args), picklable when fn is."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, args):
        return self.fn(*args)
