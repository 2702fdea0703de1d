//! crossbeam SegQueue peer of bench/bench_queue.c.
//!
//! Usage: bench_crossbeam_queue run P C ITEMS
//!        bench_crossbeam_queue mem ITEMS
//!
//! `run`: P producers push ITEMS values in all ((producer + 1) << 40 |
//! sequence), C consumers pop until every value came out, each checking
//! per-producer order; prints `segqueue P C <M items/s> <verdict>` with
//! verdict ok, LOST (count or sum wrong) or ORDER, exactly as bench_queue
//! measures its own peers (the clock runs from the start barrier to the
//! last consumer's end; empty pops back off with pauses, then a yield).
//! `mem`: one thread pushes ITEMS values into a new queue; prints
//! `segqueue mem <bytes of resident memory per item>`.

use crossbeam_queue::SegQueue;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

fn share(items: u64, p: u64, id: u64) -> u64 {
    items / p + u64::from(id < items % p)
}

fn backoff(spins: &mut u32) {
    *spins += 1;
    if *spins % 64 == 0 {
        thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

fn run(p: u64, c: u64, items: u64) {
    let q = Arc::new(SegQueue::<u64>::new());
    let consumed = Arc::new(AtomicU64::new(0));
    let go = Arc::new(Barrier::new((p + c + 1) as usize));
    let mut producers = Vec::new();
    for id in 0..p {
        let (q, go) = (q.clone(), go.clone());
        producers.push(thread::spawn(move || {
            go.wait();
            let base = (id + 1) << 40;
            for i in 0..share(items, p, id) {
                q.push(base | i);
            }
        }));
    }
    let mut consumers = Vec::new();
    for _ in 0..c {
        let (q, go, consumed) = (q.clone(), go.clone(), consumed.clone());
        consumers.push(thread::spawn(move || {
            let mut next = vec![0u64; p as usize];
            let (mut count, mut sum, mut order_ok) = (0u64, 0u64, true);
            let (mut unreported, mut spins) = (0u64, 0u32);
            go.wait();
            loop {
                if let Some(v) = q.pop() {
                    let who = (v >> 40) as usize - 1;
                    let seq = v & ((1u64 << 40) - 1);
                    if who >= p as usize || seq < next[who] {
                        order_ok = false;
                    } else {
                        next[who] = seq + 1;
                    }
                    count += 1;
                    sum = sum.wrapping_add(v);
                    spins = 0;
                    unreported += 1;
                    if unreported == 256 {
                        consumed.fetch_add(unreported, Ordering::Relaxed);
                        unreported = 0;
                    }
                    continue;
                }
                if unreported > 0 {
                    consumed.fetch_add(unreported, Ordering::Relaxed);
                    unreported = 0;
                }
                if consumed.load(Ordering::Relaxed) >= items {
                    break;
                }
                backoff(&mut spins);
            }
            (count, sum, order_ok)
        }));
    }
    go.wait();
    let t0 = Instant::now();
    let (mut count, mut sum, mut order_ok) = (0u64, 0u64, true);
    for h in consumers {
        let (n, s, o) = h.join().unwrap();
        count += n;
        sum = sum.wrapping_add(s);
        order_ok &= o;
    }
    let secs = t0.elapsed().as_secs_f64();
    for h in producers {
        h.join().unwrap();
    }
    let mut want = 0u64;
    for id in 0..p {
        let n = share(items, p, id);
        want = want
            .wrapping_add(n.wrapping_mul((id + 1) << 40))
            .wrapping_add(n * n.saturating_sub(1) / 2);
    }
    let verdict = if count != items || sum != want {
        "LOST"
    } else if !order_ok {
        "ORDER"
    } else {
        "ok"
    };
    println!("segqueue {} {} {:.3} {}", p, c, items as f64 / secs / 1e6, verdict);
}

fn resident_kb() -> i64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = s.split_whitespace().nth(1).and_then(|x| x.parse().ok()).unwrap_or(-1);
    pages * 4
}

fn mem(items: u64) {
    let r0 = resident_kb();
    let q = SegQueue::<u64>::new();
    for i in 0..items {
        q.push((1u64 << 40) | i);
    }
    let r1 = resident_kb();
    println!("segqueue mem {:.1}", (r1 - r0) as f64 * 1024.0 / items as f64);
    std::mem::forget(q);
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let num = |i: usize| -> u64 { a.get(i).and_then(|x| x.parse().ok()).unwrap_or(0) };
    match a.get(1).map(String::as_str) {
        Some("run") if num(2) > 0 && num(3) > 0 && num(4) > 0 => run(num(2), num(3), num(4)),
        Some("mem") if num(2) > 0 => mem(num(2)),
        _ => {
            eprintln!("usage: bench_crossbeam_queue run P C ITEMS | mem ITEMS");
            std::process::exit(2);
        }
    }
}
