//! Prints what counters this machine offers, one thread's readings, and what the counters cost.
//!
//! `cargo run -p copybench-perf --example counters`

use std::time::{Duration, Instant};

use copybench_perf::{availability, pmu_present, CpuTimes, EventKind, KeepWarm, ThreadCounters};

fn time<T>(n: u32, mut f: impl FnMut() -> T) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(f());
    }
    t.elapsed() / n
}

fn main() -> Result<(), copybench_perf::PerfError> {
    println!("pmu_present: {}", pmu_present());
    for a in availability() {
        match a.result {
            Ok(()) => println!("  {:17} ok", a.event),
            Err(why) => println!("  {:17} unsupported: {why}", a.event),
        }
    }

    let before = CpuTimes::read()?;
    let mut c = ThreadCounters::open();
    c.start();
    let mut x = 0u64;
    for i in 0..50_000_000u64 {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    let v = c.stop();
    println!("one thread: {v:#?}");
    println!(
        "system CPU meanwhile: {:#?}",
        before.delta(&CpuTimes::read()?)
    );

    const N: u32 = 200;
    let hw = [
        EventKind::Cycles,
        EventKind::Instructions,
        EventKind::LlcMisses,
        EventKind::CacheMisses,
    ];
    let sw = [
        EventKind::ContextSwitches,
        EventKind::CpuMigrations,
        EventKind::PageFaults,
        EventKind::TaskClock,
    ];
    println!("cost, mean of {N}:");
    println!(
        "  open()                {:?}",
        time(N, ThreadCounters::open)
    );
    println!(
        "  open hardware only    {:?}",
        time(N, || ThreadCounters::open_selected(&hw))
    );
    println!(
        "  open software only    {:?}",
        time(N, || ThreadCounters::open_selected(&sw))
    );
    let cycle = || {
        let mut c = ThreadCounters::open();
        c.start();
        c.stop()
    };
    println!("  open()+start()+stop() {:?}", time(N, cycle));
    let warm = KeepWarm::new();
    println!("  the same, KeepWarm held {:?}", time(N, cycle));
    drop(warm);
    println!("  availability()        {:?}", time(20, availability));
    println!("  pmu_present()         {:?}", time(20, pmu_present));
    println!("  CpuTimes::read()      {:?}", time(N, CpuTimes::read));
    Ok(())
}
