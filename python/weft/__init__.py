"""weft: multiprocessing queues over weft's lock-free message queue.

``weft.Queue`` and ``weft.SimpleQueue`` have the interface of
``multiprocessing.Queue`` and ``multiprocessing.SimpleQueue``, but carry their
messages through a lock-free ring in shared memory (weft/msgq.h): no pipe, no
lock, no feeder thread.  A put copies the message into the ring before it
returns; a get copies it out.  Objects are pickled (protocol 5) at ``put``,
so an unpicklable object raises there and nothing enters the queue; ``bytes``
go through without pickling.

The ring lives in a memfd mapping, so a queue can be handed to processes
started with the ``fork``, ``spawn`` and ``forkserver`` methods, as an
argument of ``multiprocessing.Process`` or of a pool's initializer, like the
standard queues.

asyncio: ``await queue.get_async()`` waits in the event loop through the
queue's eventfd, which puts write only while a loop sleeps on it.

Limits: the ring holds ``capacity_bytes`` of messages (each message takes
whole cells of 64 bytes, plus one byte of its own); a message longer than
the ring raises ``ValueError`` at ``put``.  ``maxsize`` bounds the number of
messages approximately: ``put`` checks the count before it sends, so
concurrent puts may overshoot it by one each.  A process killed while it is
inside ``put`` or ``get`` loses that one item and nothing else: the rings are
robust (WEFT_MSGQ_ROBUST, see weft/msgq.h), and whoever waits next recovers
them (``qsize`` may then be off by that item for good).
"""

import os
import mmap
import queue as _queue
import time as _time

from . import _weft

__all__ = ["Queue", "SimpleQueue", "Empty", "Full", "Pool", "AsyncResult",
           "ProcessPoolExecutor", "WorkerLostError", "RemoteTraceback"]

Empty = _queue.Empty
Full = _queue.Full

_DEFAULT_CAPACITY = 1 << 22
_NOTHING = object()  # what _weft's get returns when its time ran out


def _wait_for(block, timeout):
    """put's and get's block and timeout as the C side's: 0 (one try),
    None (for ever) or seconds."""
    if not block:
        return 0
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    return timeout



class _Ring:
    """A weft_msgq in a memfd mapping, shared with child processes."""

    def __init__(self, capacity_bytes, fd=None, efd=None):
        self.capacity_bytes = int(capacity_bytes)
        size = _weft.footprint(self.capacity_bytes)
        init = fd is None
        if init:
            fd = os.memfd_create("weft-queue", os.MFD_CLOEXEC)
            os.ftruncate(fd, size)
            efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self.fd = fd
        self.efd = efd  # the asyncio bell (see _weft.c)
        self.map = mmap.mmap(fd, size)
        self.q = _weft.MsgQ(self.map, self.capacity_bytes, init)
        self.q.set_eventfd(efd)

    def __reduce__(self):
        from multiprocessing import context, reduction

        context.assert_spawning(self)
        return (_rebuild_ring, (self.capacity_bytes, reduction.DupFd(self.fd),
                                reduction.DupFd(self.efd)))


def _rebuild_ring(capacity_bytes, dupfd, dupefd):
    return _Ring(capacity_bytes, dupfd.detach(), dupefd.detach())


class Queue:
    """A process-shared FIFO queue with the interface of multiprocessing.Queue.

    maxsize: at most this many messages (approximately, see the module's
    docstring); 0 or less: bounded only by capacity_bytes.
    capacity_bytes: the ring's storage (default 4 MiB).
    """

    def __init__(self, maxsize=0, *, capacity_bytes=_DEFAULT_CAPACITY, ctx=None):
        self._maxsize = maxsize if maxsize > 0 else 0
        self._ring = _Ring(capacity_bytes)
        self._bind()

    def _bind(self):
        self._closed = False
        self._put = self._ring.q.put
        self._get = self._ring.q.get

    def __getstate__(self):
        return (self._maxsize, self._ring)

    def __setstate__(self, state):
        self._maxsize, self._ring = state
        self._bind()

    def put(self, obj, block=True, timeout=None):
        """Put obj into the queue.

        Blocks while the queue is full when block is true (for at most
        timeout seconds when it is not None); raises queue.Full when no room
        came.  Raises ValueError after close() or when the message is
        longer than the ring, and pickle's errors when obj cannot be pickled
        (then nothing entered the queue).
        """
        if self._closed:
            raise ValueError("Queue %r is closed" % self)
        t = None if block and timeout is None else _wait_for(block, timeout)
        if self._maxsize:
            self._wait_below_maxsize(t)
        try:
            ok = self._put(obj, t)  # pickles (bytes go as they are), then sends
        except BrokenPipeError:
            raise ValueError("the queue was closed") from None
        if not ok:
            raise Full

    def _wait_below_maxsize(self, t):
        if self._ring.q.count() < self._maxsize:
            return
        if t == 0:
            raise Full
        deadline = None if t is None else _time.monotonic() + t
        delay = 0.0001
        while self._ring.q.count() >= self._maxsize:
            if deadline is not None and _time.monotonic() >= deadline:
                raise Full
            _time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def get(self, block=True, timeout=None):
        """Remove and return the oldest item.

        Blocks while the queue is empty when block is true (for at most
        timeout seconds when it is not None); raises queue.Empty when
        nothing came.  After close() of this handle: ValueError.  When the
        ring was closed (by shutdown() in any process) and drained:
        queue.Empty without waiting.
        """
        if self._closed:
            raise ValueError("Queue %r is closed" % self)
        t = None if block and timeout is None else _wait_for(block, timeout)
        try:
            obj = self._get(t, _NOTHING)  # receives, then unpickles
        except BrokenPipeError:
            raise Empty from None
        if obj is _NOTHING:
            raise Empty
        return obj

    async def get_async(self):
        """Remove and return the oldest item, waiting in the running asyncio
        event loop, not in a thread: the loop watches the queue's eventfd
        (loop.add_reader), which a put writes only when the loop is asleep
        on it, once per sleep.  Raises queue.Empty once the ring was shut
        down and drained.  Any number of coroutines of one loop may wait;
        one process's loop per queue at a time (consumers in other
        processes use get)."""
        import asyncio

        loop = asyncio.get_running_loop()
        q = self._ring.q
        while True:
            if self._closed:
                raise ValueError("Queue %r is closed" % self)
            try:
                obj = self._get(0, _NOTHING)
                if obj is _NOTHING:
                    q.arm()
                    obj = self._get(0, _NOTHING)  # the look after arming
                    if obj is not _NOTHING:
                        q.disarm()
            except BrokenPipeError:
                q.disarm()
                raise Empty from None
            if obj is not _NOTHING:
                return obj
            fut = loop.create_future()
            waiters = self.__dict__.setdefault("_async_waiters", [])
            waiters.append(fut)
            if len(waiters) == 1:
                loop.add_reader(self._ring.efd, self._on_bell, loop)
            try:
                await fut
            finally:
                if fut in waiters:
                    waiters.remove(fut)
                if not waiters:
                    loop.remove_reader(self._ring.efd)

    def _on_bell(self, loop):
        self._ring.q.clear()
        waiters = self.__dict__.get("_async_waiters", [])
        for f in list(waiters):
            if not f.done():
                f.set_result(None)
        waiters.clear()
        loop.remove_reader(self._ring.efd)

    def put_nowait(self, obj):
        """put(obj, False)."""
        return self.put(obj, False)

    def get_nowait(self):
        """get(False)."""
        return self.get(False)

    def put_many(self, objs, block=True, timeout=None):
        """Put every object of objs, in order (each as put would)."""
        for obj in objs:
            self.put(obj, block, timeout)

    def get_many(self, n, block=True, timeout=None):
        """Return a list of up to n items: waits (as get) for the first one
        only, then takes what is there without waiting."""
        out = [self.get(block, timeout)]
        while len(out) < n:
            try:
                out.append(self.get(False))
            except Empty:
                break
        return out

    def qsize(self):
        """The approximate number of items in the queue."""
        return self._ring.q.count()

    def empty(self):
        """True when the queue looks empty (a snapshot)."""
        return self._ring.q.bytes_used() == 0

    def full(self):
        """True when the queue holds maxsize items (never when maxsize is 0)."""
        return bool(self._maxsize) and self.qsize() >= self._maxsize

    def close(self):
        """Mark this handle closed: later put/get through it raise
        ValueError.  Items already put stay for other handles to get (as
        with multiprocessing.Queue, which has no other way to end waiting
        getters, weft also closes the shared ring when shutdown() is called).
        """
        self._closed = True

    def shutdown(self):
        """Close the shared ring: every process's waiting get ends, later
        puts raise ValueError, gets drain what is left, then raise Empty."""
        self._ring.q.close()

    def join_thread(self):
        """Nothing to join: weft.Queue has no feeder thread (for
        multiprocessing.Queue compatibility)."""
        if not self._closed:
            raise AssertionError("Queue.join_thread() called before close()")

    def cancel_join_thread(self):
        """Nothing to cancel: puts are complete when they return."""


class SimpleQueue:
    """A process-shared queue with the interface of multiprocessing.SimpleQueue."""

    def __init__(self, *, capacity_bytes=_DEFAULT_CAPACITY, ctx=None):
        self._q = Queue(capacity_bytes=capacity_bytes)

    def put(self, obj):
        """Put obj (waits while the ring is full)."""
        self._q.put(obj)

    def get(self):
        """Remove and return the oldest item (waits while empty)."""
        return self._q.get()

    def empty(self):
        """True when the queue looks empty."""
        return self._q.empty()

    def close(self):
        """Release this handle."""
        self._q.close()


from .pool import Pool, AsyncResult, ProcessPoolExecutor, WorkerLostError, RemoteTraceback  # noqa: E402
