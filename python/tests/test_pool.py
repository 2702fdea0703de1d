"""Tests of weft.Pool and weft.ProcessPoolExecutor (make check: tests/python.sh)."""
import concurrent.futures as cf
import multiprocessing as mp
import os
import signal
import time

import pytest

import weft


def square(x):
    return x * x


def add(a, b):
    return a + b


def fail_on_three(x):
    if x == 3:
        raise KeyError("three")
    return x


def die(x):
    os._exit(3)


def die_once(path):
    # the first call dies (its marker file does not exist yet), later ones return
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return "second try"
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def slow(x):
    time.sleep(x)
    return x


def pid_of(_):
    return os.getpid()


def kw(a, b=0, *, c=0):
    return (a, b, c)


def init_global(v):
    global INIT
    INIT = v


def read_global(_):
    return INIT


def test_map_returns_the_results_in_order():
    with weft.Pool(2) as p:
        assert p.map(square, range(1000)) == [x * x for x in range(1000)]
        assert p.map(square, range(10), chunksize=1) == [x * x for x in range(10)]
        assert p.map(square, []) == []
        assert p.map(square, iter(range(5))) == [0, 1, 4, 9, 16]


def test_starmap_imap_and_imap_unordered():
    with weft.Pool(2) as p:
        assert p.starmap(add, [(1, 2), (3, 4)]) == [3, 7]
        assert list(p.imap(square, range(50), chunksize=7)) == [x * x for x in range(50)]
        assert sorted(p.imap_unordered(square, range(50))) == sorted(x * x for x in range(50))
        assert list(p.imap(square, [])) == []


def test_apply_async_and_apply():
    with weft.Pool(2) as p:
        r = p.apply_async(kw, (1,), {"b": 2, "c": 3})
        assert r.get(timeout=30) == (1, 2, 3)
        assert r.ready() and r.successful()
        assert p.apply(add, (2, 3)) == 5
        got = []
        p.apply_async(square, (4,), callback=got.append).wait(30)
        assert got == [16]


def test_get_times_out_while_the_task_runs():
    with weft.Pool(1) as p:
        r = p.apply_async(slow, (0.5,))
        with pytest.raises(mp.TimeoutError):
            r.get(timeout=0.05)
        assert r.get(timeout=30) == 0.5


def test_an_exception_in_a_worker_reaches_the_caller_with_its_traceback():
    with weft.Pool(2) as p:
        with pytest.raises(KeyError) as info:
            p.map(fail_on_three, range(10), chunksize=1)
        cause = info.value.__cause__
        assert isinstance(cause, weft.RemoteTraceback)
        assert "fail_on_three" in str(cause) and "KeyError" in str(cause)
        errors = []
        r = p.apply_async(fail_on_three, (3,), error_callback=errors.append)
        r.wait(30)
        assert not r.successful() and isinstance(errors[0], KeyError)
        it = p.imap(fail_on_three, range(5))
        assert [next(it), next(it), next(it)] == [0, 1, 2]
        with pytest.raises(KeyError):
            next(it)
        # the pool still works
        assert p.map(square, range(3)) == [0, 1, 4]


def test_an_unpicklable_function_raises_at_the_call():
    with weft.Pool(1) as p:
        with pytest.raises(Exception):
            p.map(lambda x: x, range(3))
        assert p.map(square, range(3)) == [0, 1, 4]


def test_a_worker_that_dies_is_replaced_and_its_task_fails():
    with weft.Pool(2) as p:
        r = p.apply_async(die, (0,))
        with pytest.raises(weft.WorkerLostError):
            r.get(timeout=30)
        assert p.map(square, range(100)) == [x * x for x in range(100)]


def test_a_worker_killed_by_sigkill_fails_its_task_and_the_others_finish(tmp_path):
    with weft.Pool(2) as p:
        rs = [p.apply_async(die_once, (str(tmp_path / "marker"),))]
        rs += [p.apply_async(square, (i,)) for i in range(20)]
        with pytest.raises(weft.WorkerLostError):
            rs[0].get(timeout=30)
        assert [r.get(timeout=30) for r in rs[1:]] == [i * i for i in range(20)]
        assert p.apply(die_once, (str(tmp_path / "marker"),)) == "second try"


def test_close_and_join_finish_the_queued_tasks():
    p = weft.Pool(2)
    r = p.map_async(square, range(200), chunksize=3)
    p.close()
    with pytest.raises(ValueError):
        p.map(square, range(3))
    p.join()
    assert r.get(timeout=1) == [x * x for x in range(200)]


def test_join_while_running_is_an_error():
    p = weft.Pool(1)
    with pytest.raises(ValueError):
        p.join()
    p.terminate()


def test_terminate_stops_the_workers_and_fails_what_is_pending():
    p = weft.Pool(2)
    r = p.apply_async(slow, (30,))
    time.sleep(0.2)
    p.terminate()
    p.join()
    # had terminate waited for the task, r would hold its value
    with pytest.raises(RuntimeError):
        r.get(timeout=5)


def test_initializer_runs_in_every_worker():
    with weft.Pool(2, initializer=init_global, initargs=(42,)) as p:
        assert p.map(read_global, range(10)) == [42] * 10


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_the_pool_works_with_other_start_methods(method):
    with weft.Pool(2, context=mp.get_context(method)) as p:
        assert p.map(square, range(100)) == [x * x for x in range(100)]
        assert len(set(p.map(pid_of, range(100), chunksize=1))) >= 1


def test_process_pool_executor_submit_map_and_shutdown():
    with weft.ProcessPoolExecutor(2) as ex:
        f = ex.submit(kw, 1, b=2, c=3)
        assert f.result(timeout=30) == (1, 2, 3)
        assert list(ex.map(add, [1, 2, 3], [10, 20, 30])) == [11, 22, 33]
        assert list(ex.map(square, range(100), chunksize=10)) == [x * x for x in range(100)]
        bad = ex.submit(fail_on_three, 3)
        with pytest.raises(KeyError):
            bad.result(timeout=30)
        fs = [ex.submit(square, i) for i in range(20)]
        assert sorted(f.result() for f in cf.as_completed(fs, timeout=30)) == sorted(
            i * i for i in range(20))
    with pytest.raises(RuntimeError):
        ex.submit(square, 1)


def test_executor_map_times_out():
    with weft.ProcessPoolExecutor(1) as ex:
        it = ex.map(slow, [1.0], timeout=0.05)
        with pytest.raises(cf.TimeoutError):
            next(it)


def test_apply_coro_awaits_results_in_the_event_loop():
    import asyncio

    with weft.Pool(2) as p:

        async def main():
            one = await asyncio.wait_for(p.apply_coro(add, 2, 3), 30)
            many = await asyncio.wait_for(
                asyncio.gather(*(p.apply_coro(square, i) for i in range(20))), 30)
            with pytest.raises(KeyError) as info:
                await asyncio.wait_for(p.apply_coro(fail_on_three, 3), 30)
            assert isinstance(info.value.__cause__, weft.RemoteTraceback)
            with pytest.raises(weft.WorkerLostError):
                await asyncio.wait_for(p.apply_coro(die, 0), 30)
            return one, many

        one, many = asyncio.run(main())
        assert one == 5 and many == [i * i for i in range(20)]
