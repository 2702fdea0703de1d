//! crossbeam-deque peer of bench/bench_deque.c.
//!
//! Usage: bench_crossbeam_deque PAIRS ITEMS REPS
//!
//! Prints, for each measurement, one line
//!     crossbeam <measure> <median> <min> <max>
//! (nanoseconds; median/min/max over REPS runs), exactly as bench_deque
//! prints its own rows:
//!     pushpop_ns     owner push + pop of one item, per pair
//!     transfer_<T>_ns owner pushes ITEMS items that T thieves steal, per item
//!     batch_3_ns     the same, 3 thieves with steal_batch_and_pop (batches
//!                    of at most 32, crossbeam's limit) into a local Worker
//!     steal_ns       one thief steals ITEMS pre-pushed items, per steal
//!
//! bench_deque starts it once per round with REPS = 1, so that its runs
//! interleave with weft's on the shared machine; run by hand it does REPS
//! runs of each measurement in a row.

use crossbeam_deque::{Steal, Worker};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

/// How many items the owner lets pile up before it waits for the thieves
/// (the same bound as bench_deque.c).
const BACKLOG: usize = 1024;

/// Spin-wait politely: pause, and yield now and then (2 cores, more threads).
fn backoff(spins: &mut u32) {
    *spins += 1;
    if *spins % 64 == 0 {
        thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

fn pushpop(pairs: usize) -> f64 {
    let w: Worker<usize> = Worker::new_lifo();
    let mut sum = 0usize;
    let t0 = Instant::now();
    for i in 0..pairs {
        w.push(i);
        sum = sum.wrapping_add(w.pop().unwrap_or(0));
    }
    let ns = t0.elapsed().as_nanos() as f64 / pairs as f64;
    assert_eq!(sum, pairs.wrapping_mul(pairs.wrapping_sub(1)) / 2);
    ns
}

fn transfer(items: usize, thieves: usize, batch: bool) -> f64 {
    let w: Worker<usize> = Worker::new_lifo();
    let go = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..thieves {
        let s = w.stealer();
        let (go, stop, ready) = (go.clone(), stop.clone(), ready.clone());
        handles.push(thread::spawn(move || {
            let mut sum = 0usize;
            let mut spins = 0u32;
            ready.fetch_add(1, Ordering::AcqRel);
            while !go.load(Ordering::Acquire) {
                backoff(&mut spins);
            }
            spins = 0;
            let local: Worker<usize> = Worker::new_fifo();
            while !stop.load(Ordering::Acquire) {
                let r = if batch { s.steal_batch_and_pop(&local) } else { s.steal() };
                match r {
                    Steal::Success(v) => {
                        sum = sum.wrapping_add(v);
                        while let Some(v) = local.pop() {
                            sum = sum.wrapping_add(v);
                        }
                        spins = 0;
                    }
                    Steal::Empty => backoff(&mut spins),
                    Steal::Retry => {}
                }
            }
            sum
        }));
    }
    let mut spins = 0u32;
    while ready.load(Ordering::Acquire) != thieves {
        backoff(&mut spins);
    }
    let t0 = Instant::now();
    go.store(true, Ordering::Release);
    for i in 1..=items {
        spins = 0;
        while w.len() >= BACKLOG {
            backoff(&mut spins);
        }
        w.push(i);
    }
    spins = 0;
    while !w.is_empty() {
        backoff(&mut spins);
    }
    let ns = t0.elapsed().as_nanos() as f64 / items as f64;
    stop.store(true, Ordering::Release);
    let total: usize = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .fold(0, |a, b| a.wrapping_add(b));
    assert_eq!(total, items.wrapping_mul(items + 1) / 2, "items lost or duplicated");
    ns
}

fn steal_latency(items: usize) -> f64 {
    let w: Worker<usize> = Worker::new_lifo();
    for i in 1..=items {
        w.push(i);
    }
    let s = w.stealer();
    let h = thread::spawn(move || {
        let mut sum = 0usize;
        let t0 = Instant::now();
        loop {
            match s.steal() {
                Steal::Success(v) => sum = sum.wrapping_add(v),
                Steal::Empty => break,
                Steal::Retry => {}
            }
        }
        (t0.elapsed().as_nanos() as f64, sum)
    });
    let (ns, sum) = h.join().unwrap();
    assert_eq!(sum, items.wrapping_mul(items + 1) / 2);
    drop(w);
    ns / items as f64
}

/// Median, min and max of the runs of one measurement.
fn report(name: &str, mut runs: Vec<f64>) {
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = runs.len();
    let median = if n % 2 == 1 {
        runs[n / 2]
    } else {
        (runs[n / 2 - 1] + runs[n / 2]) / 2.0
    };
    println!("crossbeam {} {:.2} {:.2} {:.2}", name, median, runs[0], runs[n - 1]);
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("usage: bench_crossbeam_deque PAIRS ITEMS REPS"))
        .collect();
    if args.len() != 3 || args.iter().any(|&a| a == 0) {
        eprintln!("usage: bench_crossbeam_deque PAIRS ITEMS REPS");
        std::process::exit(2);
    }
    let (pairs, items, reps) = (args[0], args[1], args[2]);
    report("pushpop_ns", (0..reps).map(|_| pushpop(pairs)).collect());
    for t in 1..=3 {
        let runs = (0..reps).map(|_| transfer(items, t, false)).collect();
        report(&format!("transfer_{}_ns", t), runs);
    }
    report("batch_3_ns", (0..reps).map(|_| transfer(items, 3, true)).collect());
    report("steal_ns", (0..reps).map(|_| steal_latency(items)).collect());
}
