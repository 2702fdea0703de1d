//! rayon_fib N RUNS THREADS... : for each thread count, time fib(N) with a
//! rayon::join at every call, RUNS times, and print
//! "rayon THREADS MEDIAN_MS RESULT" (the format bench_pool reads).
use std::time::Instant;

fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = rayon::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: rayon_fib N RUNS THREADS...");
        std::process::exit(2);
    }
    let n: u64 = args[1].parse().expect("N");
    let runs: usize = args[2].parse().expect("RUNS");
    for t in &args[3..] {
        let threads: usize = t.parse().expect("THREADS");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        let mut times = Vec::new();
        let mut result = 0;
        pool.install(|| fib(10)); // warm up the workers
        for _ in 0..runs {
            let t0 = Instant::now();
            result = pool.install(|| fib(n));
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("rayon {} {:.3} {}", threads, times[times.len() / 2], result);
    }
}
