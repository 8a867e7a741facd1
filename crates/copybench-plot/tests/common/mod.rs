//! Real results for the tests: points measured over loopback by copybench-core's engine.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{run_point, Endpoints, Mode, NoHooks, PointParams};
use copybench_core::result::{
    Counters, HostInfo, Metric, Point, RunConfigRecord, RunResults, ToolInfo, TopologyKind,
    TopologyRecord, SCHEMA_VERSION,
};
/// Skips the calling test, counted as skipped by `cargo xtask test`; fails under `CI=true`.
pub use copybench_core::skip::skip;
use copybench_core::StrategyKind;

/// What to measure.
pub struct Sweep {
    pub sizes: Vec<usize>,
    pub threads: Vec<usize>,
    /// Thread counts measured in rr mode (at the first size); empty for none.
    pub rr_threads: Vec<usize>,
    pub repetitions: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Also run one point whose message is corrupted on purpose, to have a real failure.
    pub with_failure: bool,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn host() -> HostInfo {
    let cpu_model = read("/proc/cpuinfo").and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    let mut counters = serde_json::Map::new();
    counters.insert(
        "all".into(),
        "not probed: these results come from copybench-plot's tests, which run the engine \
         without copybench-perf (counters off)"
            .into(),
    );
    HostInfo {
        hostname: read("/proc/sys/kernel/hostname"),
        kernel: read("/proc/sys/kernel/osrelease"),
        cpu_model,
        cores: std::thread::available_parallelism().ok().map(|n| n.get()),
        optmem_max: read("/proc/sys/net/core/optmem_max").and_then(|s| s.parse().ok()),
        counters_available: counters,
        ..Default::default()
    }
}

/// The time now, RFC 3339 in UTC (as `copybench run` records it).
fn now_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".into(), |s| s.trim().to_string())
}

fn measure(p: &PointParams) -> Point {
    run_point(p, &Endpoints::loopback(), &NoHooks, &AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("{} {}B x{}: {e}", p.strategy, p.msg_size, p.threads))
}

/// Runs the sweep over loopback for every strategy and returns it as a results document.
pub fn loopback_run(sweep: &Sweep, command_line: &str) -> RunResults {
    let mut points = Vec::new();
    let params = |strategy, size, threads, rep, mode| {
        let mut p = PointParams::new(strategy, size, threads);
        p.repetition = rep;
        p.mode = mode;
        p.warmup = sweep.warmup;
        p.duration = sweep.duration;
        // Loopback zero-copy stalls in long blocked sends the more buffers are in flight.
        p.pool = Some(16);
        p
    };
    for rep in 0..sweep.repetitions {
        // The five that run with any pool: sendfile and splice need one that holds a receive
        // buffer (their own tests are in copybench-core and the CLI).
        for strategy in StrategyKind::DEFAULT {
            for &threads in &sweep.threads {
                for &size in &sweep.sizes {
                    points.push(measure(&params(strategy, size, threads, rep, Mode::Stream)));
                }
            }
            for &threads in &sweep.rr_threads {
                points.push(measure(&params(
                    strategy,
                    sweep.sizes[0],
                    threads,
                    rep,
                    Mode::Rr,
                )));
            }
        }
    }
    if sweep.with_failure {
        let mut p = params(
            StrategyKind::ScatterGather,
            sweep.sizes[0],
            1,
            0,
            Mode::Stream,
        );
        p.corrupt_message = Some(3);
        p.repetition = sweep.repetitions;
        points.push(measure(&p));
    }
    let first = PointParams::new(StrategyKind::TwoCopy, sweep.sizes[0], 1);
    RunResults {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::default(),
        command_line: command_line.split(' ').map(String::from).collect(),
        started_at: now_utc(),
        host: host(),
        config: RunConfigRecord {
            // The fixture mixes stream and rr points (each point says its own mode), which a
            // real run never does; the run records the mode it started with.
            mode: Mode::Stream,
            protocol: Default::default(),
            topology: TopologyRecord {
                kind: TopologyKind::Loopback,
                mtu: read("/sys/class/net/lo/mtu").and_then(|s| s.parse().ok()),
                receiver_addr: Some("127.0.0.1".into()),
                sender_addr: Some("127.0.0.1".into()),
                receiver_host: None,
            },
            strategies: StrategyKind::DEFAULT.to_vec(),
            sizes: sweep.sizes.clone(),
            threads: sweep.threads.clone(),
            duration_s: sweep.duration.as_secs_f64(),
            warmup_s: sweep.warmup.as_secs_f64(),
            repetitions: sweep.repetitions,
            fields: first.fields,
            pool: Some(first.pool_size()),
            align: first.align,
            pin: None,
            counters: false,
            ..Default::default()
        },
        points,
        complete: true,
        interrupted: None,
        unsupported: Vec::new(),
        failures: Vec::new(),
        findings: None,
    }
}

/// The committed fixture: real loopback output (see `regenerate_fixture` in tests/aggregate.rs).
/// A real `copybench peers` run (netns, placement apart; copybench and all four peers).
pub fn peers_fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/peers.json")
}

pub fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/loopback.json")
}

/// The sweep behind the committed fixture.
pub fn fixture_sweep() -> Sweep {
    Sweep {
        sizes: vec![1 << 10, 16 << 10, 256 << 10],
        threads: vec![1, 2],
        rr_threads: vec![1, 2],
        repetitions: 3,
        warmup: Duration::from_millis(30),
        duration: Duration::from_millis(120),
        with_failure: true,
    }
}

/// A counter set with the given LLC reading and task clock; the rest as on this VM
/// (hardware events unsupported, software events counted).
pub fn counters(llc: Metric, event: &str, task_clock: Metric) -> Counters {
    let na = || Metric::Unsupported("hardware event not available on this machine".into());
    Counters {
        cycles: na(),
        instructions: na(),
        llc_misses: llc,
        llc_event: event.into(),
        context_switches: Metric::Value(3),
        cpu_migrations: Metric::Value(0),
        page_faults: Metric::Value(1),
        task_clock_ns: task_clock,
        time_enabled_ns: 1,
        time_running_ns: 1,
    }
}

/// The run with made-up counter figures (this VM has no PMU, and the tests run without
/// copybench-perf): LLC misses from the generic event at 1 KiB only, sender CPU everywhere,
/// receiver CPU nowhere. Only for exercising the LLC and CPU charts.
pub fn with_counter_figures(mut run: RunResults) -> RunResults {
    for p in &mut run.points {
        let small = p.msg_size == 1024;
        p.llc_misses_per_kib = small.then_some(12.5);
        p.sender.counters = Some(counters(
            if small {
                Metric::Value(100)
            } else {
                Metric::Unsupported("x".into())
            },
            "cache-misses",
            Metric::Value(1000),
        ));
        p.sender.cpu_ns_per_byte = Some(0.25 + 1000.0 / p.msg_size as f64);
        p.receiver.cpu_ns_per_byte = None;
    }
    run.config.counters = true;
    run
}
