"""bench_python - messages per second between processes: weft.Queue against
multiprocessing.Queue, multiprocessing.SimpleQueue and a multiprocessing.Pipe;
and the time of Pool.map / imap_unordered over TASKS tiny tasks: weft.Pool
against multiprocessing.Pool (default chunksize and chunksize 1) and
concurrent.futures.ProcessPoolExecutor.

For each payload (8-byte bytes, 1 KiB bytes, a small dict) and each
configuration (1P1C, 4P1C, 1P4C, 4P4C: producer and consumer processes,
started with fork), the producers wait at a barrier, then put their share
of MESSAGES messages; the consumers get until each has seen its stop
message; the time runs from the barrier to the last consumer's report.
Rounds interleave the transports; each cell is the median over the rounds.
A Pipe has one writer end and one reader end, so it is measured at 1P1C
only (several writers would need the lock that multiprocessing.Queue
adds).  Process start-up is outside the timed part.

The pool rows: pools of 2 processes (fork), made before the clock starts;
tiny task: x + 1 over range(TASKS); medians of the rounds (the two
default-chunksize maps, which take milliseconds: of REPS alternating runs
per round).

--plot FILE.svg also draws weft.Queue's rate as a multiple of
multiprocessing.Queue's, per payload and configuration, and weft.Pool.map's
time against the pool peers', with gnuplot (make bench-python writes
bench-python.svg in the build directory; README.md shows a copy,
bench/results/python.svg).

Usage: python3 bench/bench_python.py [--quick] [--rounds N] [--messages N] [--tasks N]
       [--plot FILE.svg]
(PYTHONPATH must reach the package: make bench-python sets it.)
"""
import argparse
import multiprocessing as mp
import shutil
import statistics
import subprocess
import sys
import time

import weft

PAYLOADS = {
    "8 B bytes": b"12345678",
    "1 KiB bytes": b"x" * 1024,
    "small dict": {"id": 12345, "name": "weft", "ok": True, "score": 0.5},
}
CONFIGS = [(1, 1), (4, 1), (1, 4), (4, 4)]
REPS = 5  # runs per round of the two default-chunksize maps
STOP = "stop"


def _produce(q, n, payload, barrier):
    put = q.put if not hasattr(q, "send") else q.send
    barrier.wait()
    for _ in range(n):
        put(payload)


def _consume(q, done, barrier):
    get = q.get if not hasattr(q, "recv") else q.recv
    barrier.wait()
    n = 0
    while True:
        x = get()
        if type(x) is str and x == STOP:
            break
        n += 1
    done.put(n)


class _PipePair:
    """A Pipe's two ends, with the names the workers call."""

    def __init__(self, ctx):
        self.r, self.w = ctx.Pipe(duplex=False)


def _run(kind, producers, consumers, messages, payload, ctx):
    if kind == "weft.Queue":
        q = weft.Queue(capacity_bytes=1 << 22)
        pq = cq = q
    elif kind == "multiprocessing.Queue":
        pq = cq = ctx.Queue()
    elif kind == "multiprocessing.SimpleQueue":
        pq = cq = ctx.SimpleQueue()
    else:
        pipe = _PipePair(ctx)
        pq, cq = pipe.w, pipe.r
    done = ctx.Queue()
    barrier = ctx.Barrier(producers + consumers + 1)
    share = messages // producers
    ps = [ctx.Process(target=_produce, args=(pq, share, payload, barrier)) for _ in range(producers)]
    cs = [ctx.Process(target=_consume, args=(cq, done, barrier)) for _ in range(consumers)]
    for p in ps + cs:
        p.start()
    barrier.wait()
    t0 = time.perf_counter()
    for p in ps:
        p.join()
    put = pq.send if hasattr(pq, "send") else pq.put
    for _ in cs:
        put(STOP)
    got = sum(done.get() for _ in cs)
    elapsed = time.perf_counter() - t0
    for p in cs:
        p.join()
    if got != share * producers:
        raise SystemExit("%s lost messages: %d of %d" % (kind, got, share * producers))
    return got / elapsed


def tiny(x):
    return x + 1


def _pool_rows(tasks, rounds, ctx):
    import concurrent.futures as cf

    data = range(tasks)
    want = [x + 1 for x in data]
    wp = weft.Pool(2, context=ctx)
    mpp = ctx.Pool(2)
    ppe = cf.ProcessPoolExecutor(2, mp_context=ctx)
    wex = weft.ProcessPoolExecutor(2, mp_context=ctx)
    rows = [
        ("weft.Pool.map (default chunksize)", lambda: wp.map(tiny, data)),
        ("weft.Pool.imap_unordered (chunksize 1)", lambda: sorted(wp.imap_unordered(tiny, data))),
        ("weft.ProcessPoolExecutor.map (chunksize 1)", lambda: list(wex.map(tiny, data))),
        ("multiprocessing.Pool.map (default chunksize)", lambda: mpp.map(tiny, data)),
        ("multiprocessing.Pool.map (chunksize 1)", lambda: mpp.map(tiny, data, chunksize=1)),
        ("multiprocessing.Pool.imap_unordered (chunksize 1)",
         lambda: sorted(mpp.imap_unordered(tiny, data))),
        ("concurrent.futures.ProcessPoolExecutor.map (chunksize 1)",
         lambda: list(ppe.map(tiny, data))),
    ]
    # The two default-chunksize maps take milliseconds, the others up to
    # seconds: in each round those two run REPS times, alternating, so that
    # their medians are not one sample each taken right after a heavy row.
    fast = ("weft.Pool.map (default chunksize)", "multiprocessing.Pool.map (default chunksize)")
    times = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        out = fn()
        times.setdefault(name, []).append(time.perf_counter() - t0)
        if out != want:
            raise SystemExit("%s: wrong result" % name)

    for _ in range(rounds):
        for _ in range(REPS):
            for name, fn in rows:
                if name in fast:
                    timed(name, fn)
        for name, fn in rows:
            if name not in fast:
                timed(name, fn)
    wp.terminate()
    mpp.terminate()
    ppe.shutdown()
    wex.shutdown()
    med = {k: statistics.median(v) for k, v in times.items()}
    print()
    print("| %d tiny tasks, 2 processes | ms | weft.Pool.map faster by |" % tasks)
    print("|---|---:|---:|")
    base = med["weft.Pool.map (default chunksize)"]
    for name, _ in rows:
        ratio = "" if name.startswith("weft.Pool.map") else "%.1fx" % (med[name] / base)
        print("| %s | %.1f | %s |" % (name, med[name] * 1e3, ratio))
    return [(name, med[name] / base) for name, _ in rows if not name.startswith("weft.Pool.map")]


def _plot(path, queue_ratios, pool_ratios, title):
    """Two panels: weft.Queue's rate over multiprocessing.Queue's (bars per
    payload, grouped by configuration, the targets 5x and 10x as lines) and
    how many times weft.Pool.map's time each pool row takes (log scale; the
    targets 2x, multiprocessing.Pool.map, and 10x, ProcessPoolExecutor, as
    lines)."""
    if shutil.which("gnuplot") is None:
        print("# --plot: gnuplot not found, no plot", file=sys.stderr)
        return
    names = list(PAYLOADS)
    qdata = "\n".join(
        "%dP%dC %s" % (pc + (" ".join("%.2f" % queue_ratios[(n, pc)] for n in names),))
        for pc in CONFIGS)
    pdata = "\n".join('"%s" %.2f' % (name.replace("multiprocessing", "mp")
                                     .replace("concurrent.futures", "cf")
                                     .replace(" (", "\\n("), r)
                       for name, r in pool_ratios)
    cols = " ".join("'$q' using %d:xtic(1) title '%s'," % (i + 2, n) for i, n in enumerate(names))
    script = """
set terminal svg size 960,420 dynamic font 'sans,11'
set output '%s'
set multiplot layout 1,2 title '%s'
$q << EOD
%s
EOD
$p << EOD
%s
EOD
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set grid ytics
set key top left
set yrange [0:%.1f]
set title 'weft.Queue / multiprocessing.Queue, messages per second'
set ylabel 'times faster'
plot %s 5 with lines dt 2 lc 'black' title 'target 1P1C (5x)', \
     10 with lines dt 3 lc 'black' title 'target 4P4C (10x)'
set title 'pools: time over weft.Pool.map (default chunksize)'
set ylabel 'times slower than weft.Pool.map'
set logscale y
set yrange [0.5:*]
set xtics rotate by -35 font ',8'
unset key
plot '$p' using 2:xtic(1) lc 'gray40', 2 with lines dt 2 lc 'black', \\
     10 with lines dt 3 lc 'black'
unset multiplot
""" % (path, title, qdata, pdata, max([11.0] + [1.15 * v for v in queue_ratios.values()]), cols)
    subprocess.run(["gnuplot"], input=script.encode(), check=True)
    print("# plot: %s" % path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--messages", type=int, default=None)
    ap.add_argument("--tasks", type=int, default=None)
    ap.add_argument("--plot", default=None)
    a = ap.parse_args()
    rounds = a.rounds or (3 if a.quick else 5)
    messages = a.messages or (20000 if a.quick else 100000)
    ctx = mp.get_context("fork")
    kinds = ["weft.Queue", "multiprocessing.Queue", "multiprocessing.SimpleQueue", "Pipe"]
    print("# bench_python: %d messages per cell, %d interleaved rounds (median), %s %s, %d CPUs"
          % (messages, rounds, sys.implementation.name, sys.version.split()[0], mp.cpu_count()))
    queue_ratios = {}
    for pname, payload in PAYLOADS.items():
        res = {}
        for _ in range(rounds):
            for pc in CONFIGS:
                for kind in kinds:
                    if kind == "Pipe" and pc != (1, 1):
                        continue
                    res.setdefault((kind, pc), []).append(
                        _run(kind, pc[0], pc[1], messages, payload, ctx))
        print()
        print("| %s, k msgs/s | %s |" % (pname, " | ".join("%dP%dC" % pc for pc in CONFIGS)))
        print("|---|" + "---:|" * len(CONFIGS))
        for kind in kinds:
            cells = []
            for pc in CONFIGS:
                if (kind, pc) not in res:
                    cells.append("")
                    continue
                v = statistics.median(res[(kind, pc)])
                if kind == "weft.Queue":
                    cells.append("%.0f" % (v / 1e3))
                else:
                    w = statistics.median(res[("weft.Queue", pc)])
                    cells.append("%.0f (weft %.1fx)" % (v / 1e3, w / v))
                    if kind == "multiprocessing.Queue":
                        queue_ratios[(pname, pc)] = w / v
            print("| %s | %s |" % (kind, " | ".join(cells)))
    pool_ratios = _pool_rows(a.tasks or (20000 if a.quick else 100000), rounds, ctx)
    if a.plot:
        _plot(a.plot, queue_ratios, pool_ratios,
              "bench_python, %s, %d CPUs, medians of %d rounds"
              % (time.strftime("%Y-%m-%d"), mp.cpu_count(), rounds))


if __name__ == "__main__":
    main()
