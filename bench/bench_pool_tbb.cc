// bench_pool_tbb N RUNS THREADS... : the TBB peer of bench_pool.  For each
// thread count, time fib(N) with a tbb::task_group run at every call, in a
// task_arena of that many threads, RUNS times; print
// "tbb THREADS MEDIAN_MS RESULT" (the format bench_pool reads).
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

int main(int argc, char **argv)
{
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s N RUNS THREADS...\n", argv[0]);
        return 2;
    }
    unsigned n = (unsigned)std::atoi(argv[1]);
    int runs = std::atoi(argv[2]);
    for (int i = 3; i < argc; i++) {
        int threads = std::atoi(argv[i]);
        tbb::task_arena arena(threads);
        std::vector<double> t;
        std::uint64_t r = 0;
        arena.execute([&] { r = fib(10); }); // start the workers
        for (int k = 0; k < runs; k++) {
            auto t0 = std::chrono::steady_clock::now();
            arena.execute([&] { r = fib(n); });
            std::chrono::duration<double, std::milli> d = std::chrono::steady_clock::now() - t0;
            t.push_back(d.count());
        }
        std::sort(t.begin(), t.end());
        std::printf("tbb %d %.3f %llu\n", threads, t[t.size() / 2], (unsigned long long)r);
    }
    return 0;
}
