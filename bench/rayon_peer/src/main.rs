//! rayon_peer FIB_N PFOR_N REDUCE_N RUNS THREADS... : the rayon peer of
//! bench/bench_pool.  For each thread count, in a rayon pool of that many
//! threads, time RUNS times each of
//!   fib     fib(FIB_N) with a rayon::join at every call;
//!   pfor    out[i] = mix(i) for i < PFOR_N, par_iter_mut().with_min_len(1);
//!   reduce  the sum of REDUCE_N u32 values, par_iter()
//!           .with_min_len(1000).fold(..).reduce(..);
//! and print "KIND THREADS MEDIAN_MS CHECK" per kind (the format bench_pool
//! reads; CHECK is fib's value, the wrapping sum of out, the sum).  mix and
//! the data are bench_pool.c's (bench_mix, bench_datum), bit for bit.
use rayon::prelude::*;
use std::time::Instant;

fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = rayon::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

#[inline]
fn mix(i: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    for _ in 0..4 {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
    }
    x
}

fn datum(i: u64) -> u32 {
    (i.wrapping_mul(2_654_435_761) % 1000) as u32
}

fn median_ms<F: FnMut() -> u64>(runs: usize, mut f: F) -> (f64, u64) {
    let mut times = Vec::new();
    let mut check = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        check = f();
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (times[times.len() / 2], check)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: rayon_peer FIB_N PFOR_N REDUCE_N RUNS THREADS...");
        std::process::exit(2);
    }
    let n: u64 = args[1].parse().expect("FIB_N");
    let pn: usize = args[2].parse().expect("PFOR_N");
    let rn: usize = args[3].parse().expect("REDUCE_N");
    let runs: usize = args[4].parse().expect("RUNS");
    let mut out = vec![0u64; pn];
    let data: Vec<u32> = (0..rn as u64).map(datum).collect();
    for t in &args[5..] {
        let threads: usize = t.parse().expect("THREADS");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        pool.install(|| fib(10)); // warm up the workers
        let (ms, r) = median_ms(runs, || pool.install(|| fib(n)));
        println!("fib {} {:.3} {}", threads, ms, r);
        let (ms, _) = median_ms(runs, || {
            pool.install(|| {
                out.par_iter_mut()
                    .enumerate()
                    .with_min_len(1)
                    .for_each(|(i, x)| *x = mix(i as u64))
            });
            0
        });
        let sum = out.iter().fold(0u64, |a, &x| a.wrapping_add(x));
        println!("pfor {} {:.3} {}", threads, ms, sum);
        let (ms, r) = median_ms(runs, || {
            pool.install(|| {
                data.par_iter()
                    .with_min_len(1000)
                    .fold(|| 0u64, |a, &x| a + x as u64)
                    .reduce(|| 0u64, |a, b| a + b)
            })
        });
        println!("reduce {} {:.3} {}", threads, ms, r);
    }
}
