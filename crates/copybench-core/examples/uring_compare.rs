//! Scatter-gather `sendmsg` against the io_uring strategies over loopback, one connection,
//! interleaved repetitions, with sender CPU from the thread clock (plus io_uring workers).
//!
//! ```sh
//! cargo run --release -p copybench-core --example uring_compare -- [seconds] [repetitions]
//! SIZES=4096,65536 ...   # message sizes in bytes (default 4096,65536)
//! ```

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{run_point, Endpoints, Hooks, PointParams, Role, ThreadProbe};
use copybench_core::result::{Counters, Metric, Point};
use copybench_core::StrategyKind;

/// Measures only the thread's CPU clock (no perf events): enough for CPU per byte.
struct ThreadClock;

struct ClockProbe(u64);

fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

impl ThreadProbe for ClockProbe {
    fn finish(self: Box<Self>) -> Counters {
        let none = || Metric::Unsupported("not measured by this example".into());
        Counters {
            cycles: none(),
            instructions: none(),
            llc_misses: none(),
            llc_event: "none".into(),
            context_switches: none(),
            cpu_migrations: none(),
            page_faults: none(),
            task_clock_ns: Metric::Value(thread_cpu_ns() - self.0),
            time_enabled_ns: 0,
            time_running_ns: 0,
        }
    }
}

impl Hooks for ThreadClock {
    fn begin_thread_measure(&self, _role: Role, _index: usize) -> Option<Box<dyn ThreadProbe>> {
        Some(Box::new(ClockProbe(thread_cpu_ns())))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(3.0, |s| s.parse().expect("seconds"));
    let repetitions: usize = args.next().map_or(3, |s| s.parse().expect("repetitions"));
    // (strategy, fields, fixed buffers)
    let variants = [
        (StrategyKind::ZeroCopy, 8, false),
        (StrategyKind::ZeroCopy, 1, false),
        (StrategyKind::ScatterGather, 8, false),
        (StrategyKind::UringSend, 8, false),
        (StrategyKind::UringZc, 8, false),
        (StrategyKind::ScatterGather, 1, false),
        (StrategyKind::UringSend, 1, false),
        (StrategyKind::UringZc, 1, false),
        (StrategyKind::UringZc, 1, true),
    ];
    println!("loopback, 1 connection, {seconds} s x {repetitions}, median (min..max)");
    println!(
        "{:>6} {:>14} {:>6} {:>5} {:>22} {:>10} {:>10} {:>7}",
        "size", "strategy", "fields", "fixed", "Gbps", "snd ns/B", "wrk ns", "copied"
    );
    let sizes: Vec<usize> = std::env::var("SIZES").map_or(vec![4096, 65536], |v| {
        v.split(',')
            .map(|x| x.parse().expect("SIZES: bytes"))
            .collect()
    });
    for size in sizes {
        let mut results: Vec<Vec<Point>> = vec![Vec::new(); variants.len()];
        for rep in 0..repetitions {
            for k in 0..variants.len() {
                let i = (k + rep) % variants.len();
                let (strategy, fields, fixed) = variants[i];
                let mut p = PointParams::new(strategy, size, 1);
                p.fields = fields;
                p.fixed_buffers = fixed;
                p.repetition = rep;
                p.warmup = Duration::from_millis(500);
                p.duration = Duration::from_secs_f64(seconds);
                let point = run_point(
                    &p,
                    &Endpoints::loopback(),
                    &ThreadClock,
                    &AtomicBool::new(false),
                )
                .unwrap_or_else(|e| panic!("{strategy} {size}: {e}"));
                assert!(point.verified, "{strategy} {size}: {:?}", point.error);
                results[i].push(point);
            }
        }
        for (i, &(strategy, fields, fixed)) in variants.iter().enumerate() {
            let pts = &results[i];
            let mut g: Vec<f64> = pts.iter().map(|p| p.throughput_gbps).collect();
            g.sort_by(f64::total_cmp);
            let mut cpu: Vec<f64> = pts
                .iter()
                .filter_map(|p| p.sender.cpu_ns_per_byte)
                .collect();
            cpu.sort_by(f64::total_cmp);
            let wrk: u64 = pts.iter().filter_map(|p| p.sender_io_worker_ns).sum();
            let copied = pts
                .iter()
                .filter_map(|p| p.zerocopy.as_ref().and_then(|z| z.copied_ratio))
                .fold(None, |a: Option<f64>, r| Some(a.map_or(r, |a| a.min(r))));
            println!(
                "{:>6} {:>14} {:>6} {:>5} {:>7.2} ({:>5.2}..{:>5.2}) {:>10.3} {:>10} {:>7}",
                size,
                strategy.name(),
                fields,
                fixed,
                g[g.len() / 2],
                g[0],
                g[g.len() - 1],
                cpu.get(cpu.len() / 2).copied().unwrap_or(f64::NAN),
                if pts.iter().any(|p| p.sender_io_worker_ns.is_some()) {
                    wrk.to_string()
                } else {
                    "-".into()
                },
                copied.map_or("-".into(), |c| format!("{c:.2}")),
            );
        }
    }
}
