//! What each way of timing CPU samples costs the threads it samples, under a fixed load.
//!
//! `cargo run --release --example timer_cost -- [threads] [frequency] [rounds]`
//!
//! Each round runs the same work (a fixed number of loop iterations split over `threads` threads)
//! unprofiled, with per-thread perf-event timers and with the sampler thread, in turn; it prints
//! the medians of wall time and process CPU, and the extra CPU per sample over the unprofiled run.
//! A build's CPU varies by ±10% from run to run on a shared virtual machine; fixed work in one
//! process varies by about 1%, which is what tells the two timers apart (`npm run bench` measures
//! the builds themselves).

use std::time::Instant;

use perfprobe_core::sampler::Timer;
use perfprobe_core::session::{Session, SessionOptions};
use perfprobe_core::util::process_cpu_ns;

const TOTAL_ITERATIONS: u64 = 2_000_000_000;

fn work(threads: usize) {
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15u64;
                for i in 0..TOTAL_ITERATIONS / threads as u64 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i ^ (x >> 7)));
                }
                x
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

struct Run {
    wall_s: f64,
    cpu_s: f64,
    samples: u64,
    sampler_ms: f64,
    handler_ms: f64,
}

fn run(threads: usize, frequency: u32, timer: Option<Timer>) -> Run {
    let session = timer.map(|timer| Session::start(SessionOptions { frequency, timer, ..Default::default() }).expect("start"));
    // Discovery finds the workers within its interval either way; started first, they are seen at birth.
    std::thread::sleep(std::time::Duration::from_millis(30));
    let (t0, c0) = (Instant::now(), process_cpu_ns());
    work(threads);
    let (wall_s, cpu_s) = (t0.elapsed().as_secs_f64(), (process_cpu_ns() - c0) as f64 / 1e9);
    let raw = session.map(Session::stop);
    Run {
        wall_s,
        cpu_s,
        samples: raw.as_ref().map_or(0, |r| r.samples.len() as u64),
        sampler_ms: raw.as_ref().map_or(0.0, |r| r.stats.sampler_cpu_ns as f64 / 1e6),
        handler_ms: raw.as_ref().map_or(0.0, |r| r.stats.handler_ns as f64 / 1e6),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numbers: threads frequency rounds")).collect();
    let (threads, frequency, rounds) = (args.first().copied().unwrap_or(2) as usize, args.get(1).copied().unwrap_or(999) as u32, args.get(2).copied().unwrap_or(5));
    let modes = [("unprofiled", None), ("perf-event", Some(Timer::PerfEvent)), ("sampler-thread", Some(Timer::SamplerThread)), ("cpu-clock", Some(Timer::CpuClock))];
    let mut runs: Vec<Vec<Run>> = modes.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        // Rotated, so no mode always follows the same one.
        for k in 0..modes.len() {
            let m = (k + round as usize) % modes.len();
            runs[m].push(run(threads, frequency, modes[m].1));
        }
    }
    // Each mode against the unprofiled run of the same round: the machine's drift cancels.
    let ratio = |m: usize, f: fn(&Run) -> f64| median(runs[m].iter().zip(&runs[0]).map(|(r, b)| f(r) / f(b)).collect());
    let base_cpu = median(runs[0].iter().map(|r| r.cpu_s).collect());
    println!("{threads} threads on {} CPUs, {frequency} Hz, {rounds} rounds; medians, ratios paired by round", std::thread::available_parallelism().map_or(0, |n| n.get()));
    println!("| timer | wall | CPU | samples | sampler thread | in handler (wall) | extra CPU per sample |");
    println!("|---|---|---|---|---|---|---|");
    for (m, (name, _)) in modes.iter().enumerate() {
        let wall = ratio(m, |r| r.wall_s);
        let cpu = ratio(m, |r| r.cpu_s);
        let samples = median(runs[m].iter().map(|r| r.samples as f64).collect());
        let sampler = median(runs[m].iter().map(|r| r.sampler_ms).collect());
        let handler = median(runs[m].iter().map(|r| r.handler_ms).collect());
        let per_sample = if samples > 0.0 { format!("{:.1} µs", (cpu - 1.0) * base_cpu * 1e6 / samples) } else { "—".into() };
        println!("| {name} | {:+.1}% | {:+.1}% | {samples:.0} | {sampler:.0} ms | {handler:.0} ms | {per_sample} |", (wall - 1.0) * 100.0, (cpu - 1.0) * 100.0);
    }
}
