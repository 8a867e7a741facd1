//! Synthetic points and runs for the findings, compare and crossover tests, and the skip
//! helper.
#![allow(dead_code)]

use copybench_core::engine::Mode;
use copybench_core::result::{
    Counters, LatencyKind, LatencySummary, Metric, Point, RunConfigRecord, RunResults, SideMetrics,
    ThreadResult, ToolInfo, TopologyKind, TopologyRecord, ZeroCopyStats, SCHEMA_VERSION,
};
use copybench_core::StrategyKind;

/// Skips the calling test, counted as skipped by `cargo xtask test`; fails under `CI=true`.
pub use copybench_core::skip::skip;

/// A verified stream point with a receiver, `gbps` throughput and `cpu` sender ns/byte
/// (`None`: counters unsupported). Zero-copy points carry fully copied zero-copy statistics.
pub fn point(
    strategy: StrategyKind,
    msg_size: usize,
    threads: usize,
    repetition: usize,
    gbps: f64,
    cpu: Option<f64>,
) -> Point {
    let duration_s = 2.0;
    let bytes = (gbps * 1e9 / 8.0 * duration_s) as u64;
    let messages = bytes / msg_size.max(1) as u64;
    let counters = Counters {
        cycles: Metric::Unsupported("no PMU".into()),
        instructions: Metric::Unsupported("no PMU".into()),
        llc_misses: Metric::Unsupported("no PMU".into()),
        llc_event: "none".into(),
        context_switches: Metric::Value(10),
        cpu_migrations: Metric::Value(0),
        page_faults: Metric::Value(0),
        task_clock_ns: match cpu {
            Some(c) => Metric::Value((c * bytes as f64) as u64),
            None => Metric::Unsupported("off".into()),
        },
        time_enabled_ns: 1,
        time_running_ns: 1,
    };
    Point {
        refined: false,
        pacing: None,
        tool: copybench_core::result::copybench_tool(),
        peer: None,
        not_verifiable: None,
        protocol: Default::default(),
        udp: None,
        pool_bytes: 0,
        read_size: None,
        pool_wait_s: None,
        longest_send_s: None,
        data: None,
        buffers_touched: None,
        working_set_bytes: None,
        pages_per_message: None,
        fixed_buffers: false,
        uring_depth: None,
        uring: None,
        splice_gift: None,
        receive_margin_bytes: None,
        hugepages: None,
        udp_gso: None,
        sender_io_worker_ns: None,
        strategy,
        msg_size,
        threads,
        repetition,
        mode: Mode::Stream,
        fields: 8,
        pool: 16,
        throughput_gbps: gbps,
        bytes,
        messages,
        duration_s,
        send_calls: messages,
        verified: true,
        transactions_per_s: None,
        latency_us: Some(LatencySummary {
            p50: 2.0,
            p90: 5.0,
            p99: 10.0,
            p999: 20.0,
            max: 30.0,
            mean: 3.0,
            samples: 100,
            what: LatencyKind::SendCall,
        }),
        zerocopy: (strategy == StrategyKind::ZeroCopy).then_some(ZeroCopyStats {
            sends: messages,
            completions: messages,
            copied: messages,
            copied_ratio: Some(1.0),
            enobufs: 0,
            notifications: 10,
        }),
        sender: SideMetrics {
            counters: Some(counters.clone()),
            cpu_ns_per_byte: cpu,
            ..Default::default()
        },
        receiver: SideMetrics {
            counters: Some(counters.clone()),
            cpu_ns_per_byte: cpu.map(|c| c / 2.0),
            ..Default::default()
        },
        system_cpu: None,
        receive: Default::default(),
        receive_setup: None,
        receiver_system_cpu: None,
        service_demand_ns_per_byte: None,
        service_demand_per: None,
        verification: Default::default(),
        placement: None,
        cycles_per_byte: None,
        llc_misses_per_kib: None,
        per_thread: vec![ThreadResult {
            thread: 0,
            bytes,
            messages,
            send_calls: messages,
            duration_s,
            throughput_gbps: gbps,
            verified: true,
            received_bytes: Some(bytes),
            ..Default::default()
        }],
        error: None,
    }
}

/// The same as an rr point with `p50` round-trip latency.
pub fn rr_point(
    strategy: StrategyKind,
    msg_size: usize,
    threads: usize,
    repetition: usize,
    p50: f64,
) -> Point {
    let mut p = point(strategy, msg_size, threads, repetition, 1.0, Some(1.0));
    p.mode = Mode::Rr;
    p.transactions_per_s = Some(1e6 / p50);
    if let Some(l) = p.latency_us.as_mut() {
        l.p50 = p50;
        l.p99 = p50 * 3.0;
        l.what = LatencyKind::RoundTrip;
    }
    p
}

/// A complete run on `topology` holding `points`.
pub fn run(topology: &str, points: Vec<Point>) -> RunResults {
    RunResults {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::default(),
        command_line: vec!["copybench".into(), "run".into()],
        started_at: "2026-11-25T07:00:00Z".into(),
        host: Default::default(),
        config: RunConfigRecord {
            mode: Mode::Stream,
            topology: TopologyRecord {
                kind: TopologyKind::from_name(topology).expect("a topology name"),
                ..Default::default()
            },
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

/// A deterministic jitter in [-amplitude, +amplitude] from a seed (no rand dependency).
pub fn jitter(seed: u64, amplitude: f64) -> f64 {
    let mut x = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    let unit = (x >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
    (unit * 2.0 - 1.0) * amplitude
}

/// Every (two-copy, scatter-gather, zero-copy) x size at `threads`, one point per factor in `reps` (the median is exact).
pub fn points(
    sizes: &[usize],
    threads: usize,
    reps: &[f64],
    gbps: impl Fn(StrategyKind, usize) -> f64,
    cpu: impl Fn(StrategyKind, usize) -> Option<f64>,
) -> Vec<Point> {
    let mut out = Vec::new();
    for &s in sizes {
        for k in [
            StrategyKind::TwoCopy,
            StrategyKind::ScatterGather,
            StrategyKind::ZeroCopy,
        ] {
            for (rep, f) in reps.iter().enumerate() {
                out.push(point(
                    k,
                    s,
                    threads,
                    rep,
                    gbps(k, s) * f,
                    cpu(k, s).map(|c| c * f),
                ));
            }
        }
    }
    out
}
