//! crossbeam-epoch peer of bench/bench_epoch.c.
//!
//! Usage: bench_crossbeam_epoch KIND SECTIONS OBJECTS
//!
//! Prints `crossbeam KIND <ns>`, as bench_epoch measures its own peers:
//!   0  ns per pin + drop of the guard around a load of a shared pointer;
//!   1  the same on two threads at once (the slower thread's ns per pair);
//!   2  ns per object: OBJECTS boxed objects deferred for destruction
//!      (defer_unchecked), then flushes and pins until every one was
//!      dropped (counted).

use crossbeam_epoch as epoch;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

static SHARED: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);

struct Obj {
    _pad: [u64; 4],
}

impl Drop for Obj {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

fn sections(n: u64, go: &Barrier) -> f64 {
    drop(epoch::pin()); // the thread's local handle exists before the clock
    let mut sum = 0usize;
    go.wait();
    let t0 = Instant::now();
    for _ in 0..n {
        let g = epoch::pin();
        sum = sum.wrapping_add(SHARED.load(Ordering::Acquire));
        drop(g);
    }
    let ns = t0.elapsed().as_nanos() as f64 / n as f64;
    if sum == 1 {
        println!();
    }
    ns
}

fn retire(n: u64) -> f64 {
    let objs: Vec<Box<Obj>> = (0..n).map(|_| Box::new(Obj { _pad: [0; 4] })).collect();
    DROPPED.store(0, Ordering::Relaxed);
    let t0 = Instant::now();
    for o in objs {
        let g = epoch::pin();
        let p = Box::into_raw(o) as usize;
        unsafe {
            g.defer_unchecked(move || drop(Box::from_raw(p as *mut Obj)));
        }
    }
    while DROPPED.load(Ordering::Relaxed) < n as usize {
        let g = epoch::pin();
        g.flush();
    }
    t0.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let a: Vec<u64> = std::env::args().skip(1).filter_map(|x| x.parse().ok()).collect();
    if a.len() != 3 || a[0] > 2 {
        eprintln!("usage: bench_crossbeam_epoch KIND SECTIONS OBJECTS");
        std::process::exit(2);
    }
    let ns = match a[0] {
        0 => sections(a[1], &Barrier::new(1)),
        1 => {
            let go = Arc::new(Barrier::new(2));
            let n = a[1];
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let go = go.clone();
                    thread::spawn(move || sections(n, &go))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).fold(0.0, f64::max)
        }
        _ => retire(a[2]),
    };
    println!("crossbeam {} {:.3}", a[0], ns);
}
