// bench_pool_tbb FIB_N PFOR_N REDUCE_N RUNS THREADS... : the TBB peer of
// bench_pool.  For each thread count, in a task_arena of that many threads,
// time RUNS times each of
//   fib     fib(FIB_N) with a tbb::task_group run at every call;
//   pfor    out[i] = mix(i) for i < PFOR_N: parallel_for, grain 1,
//           simple_partitioner (split down to single indices);
//   reduce  the sum of REDUCE_N u32 values: parallel_reduce, grain 1000,
//           simple_partitioner;
// and print "KIND THREADS MEDIAN_MS CHECK" per kind (the format bench_pool
// reads; CHECK is fib's value, the wrapping sum of out, the sum).  mix and
// the data are bench_pool.c's (bench_mix, bench_datum), bit for bit.
// Compiled at -O3 whatever CXXFLAGS say (they come last on the command
// line), as bench_pool's kernels and the rayon peer are.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

static std::uint64_t fib(unsigned n)
{
    if (n < 2)
        return n;
    std::uint64_t a = 0, b = 0;
    tbb::task_group g;
    g.run([&] { a = fib(n - 1); });
    b = fib(n - 2);
    g.wait();
    return a + b;
}

static inline std::uint64_t mix(std::uint64_t i)
{
    std::uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
    for (int k = 0; k < 4; k++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
    }
    return x;
}

template <class F> static double median_ms(int runs, std::uint64_t &check, F f)
{
    std::vector<double> t;
    for (int k = 0; k < runs; k++) {
        auto t0 = std::chrono::steady_clock::now();
        check = f();
        std::chrono::duration<double, std::milli> d = std::chrono::steady_clock::now() - t0;
        t.push_back(d.count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        std::fprintf(stderr, "usage: %s FIB_N PFOR_N REDUCE_N RUNS THREADS...\n", argv[0]);
        return 2;
    }
    unsigned n = (unsigned)std::atoi(argv[1]);
    std::size_t pn = (std::size_t)std::atol(argv[2]), rn = (std::size_t)std::atol(argv[3]);
    int runs = std::atoi(argv[4]);
    std::vector<std::uint64_t> out(pn);
    std::vector<std::uint32_t> data(rn);
    for (std::size_t i = 0; i < rn; i++)
        data[i] = (std::uint32_t)((i * 2654435761ull) % 1000);
    for (int i = 5; i < argc; i++) {
        int threads = std::atoi(argv[i]);
        tbb::task_arena arena(threads);
        std::uint64_t r = 0;
        arena.execute([&] { r = fib(10); }); // start the workers
        double ms = median_ms(runs, r, [&] {
            std::uint64_t v = 0;
            arena.execute([&] { v = fib(n); });
            return v;
        });
        std::printf("fib %d %.3f %llu\n", threads, ms, (unsigned long long)r);
        ms = median_ms(runs, r, [&] {
            arena.execute([&] {
                tbb::parallel_for(
                    tbb::blocked_range<std::size_t>(0, pn, 1),
                    [&](const tbb::blocked_range<std::size_t> &b) {
                        for (std::size_t k = b.begin(); k != b.end(); k++)
                            out[k] = mix(k);
                    },
                    tbb::simple_partitioner());
            });
            return std::uint64_t(0);
        });
        std::uint64_t sum = 0;
        for (std::uint64_t x : out)
            sum += x;
        std::printf("pfor %d %.3f %llu\n", threads, ms, (unsigned long long)sum);
        ms = median_ms(runs, r, [&] {
            std::uint64_t v = 0;
            arena.execute([&] {
                v = tbb::parallel_reduce(
                    tbb::blocked_range<std::size_t>(0, rn, 1000), std::uint64_t(0),
                    [&](const tbb::blocked_range<std::size_t> &b, std::uint64_t acc) {
                        for (std::size_t k = b.begin(); k != b.end(); k++)
                            acc += data[k];
                        return acc;
                    },
                    std::plus<std::uint64_t>(), tbb::simple_partitioner());
            });
            return v;
        });
        std::printf("reduce %d %.3f %llu\n", threads, ms, (unsigned long long)r);
    }
    return 0;
}
