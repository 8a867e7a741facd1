//! Paced senders (`rate_bps`) over real loopback TCP and UDP: a reachable rate is held within a
//! loose band, an unreachable one is reported as not reached with the rate it did reach, and
//! the findings never compare strategies paced at different rates.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::pacing::PacingMethod;
use copybench_core::engine::{run_point, Endpoints, NoHooks, PointParams, Protocol};
use copybench_core::findings::{findings, CaveatKind, Figure, Verdict};
use copybench_core::model::{Mode, TopologyKind};
use copybench_core::result::{PacingRecord, Point};
use copybench_core::StrategyKind;

use crate::support::point;

fn paced(strategy: StrategyKind, msg_size: usize, rate_bps: u64) -> PointParams {
    let mut p = PointParams::new(strategy, msg_size, 1);
    p.warmup = Duration::from_millis(100);
    p.duration = Duration::from_millis(500);
    p.pool = Some(16);
    p.rate_bps = Some(rate_bps);
    p
}

fn run(p: &PointParams) -> Point {
    run_point(p, &Endpoints::loopback(), &NoHooks, &AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("{} {} B at {:?}: {e}", p.strategy, p.msg_size, p.rate_bps))
}

#[test]
fn a_paced_point_reaches_its_rate_and_no_more() {
    // 200 Mbit/s is far below what loopback carries even on a loaded 2-CPU machine: the
    // pacer, not the machine, sets the rate. Unpaced, these run at several Gbps.
    let target = 200_000_000u64;
    for (strategy, size, protocol) in [
        (StrategyKind::ScatterGather, 4096, Protocol::Tcp),
        (StrategyKind::TwoCopy, 65536, Protocol::Tcp),
        (StrategyKind::ZeroCopy, 16384, Protocol::Tcp),
        (StrategyKind::ScatterGather, 4096, Protocol::Udp),
    ] {
        let mut params = paced(strategy, size, target);
        params.protocol = protocol;
        let p = run(&params);
        assert!(p.verified, "{strategy} {size} {protocol}: {:?}", p.error);
        let pacing = p.pacing.as_ref().expect("a paced point records its pacing");
        assert_eq!(pacing.method, PacingMethod::UserSleep);
        assert_eq!(pacing.target_bps, target);
        let reached = pacing.reached_bps.expect("a rate was measured");
        let share = reached / target as f64;
        assert!(
            (0.80..=1.05).contains(&share),
            "{strategy} {size} {protocol}: reached {reached:.3e} of {target:.3e} bit/s ({:.0}%)",
            share * 100.0
        );
        // The point's own throughput says the same (one connection).
        let sender_bps = p.sender.throughput_gbps.unwrap() * 1e9;
        assert!(
            (sender_bps - reached).abs() / reached < 0.01,
            "{sender_bps} vs {reached}"
        );
        assert_eq!(pacing.rate_reached, share >= 0.95, "{pacing:?}");
        // The pacer slept (no busy-wait): most of the interval, at a few percent of loopback.
        let slept = pacing.slept_s.expect("slept is measured");
        assert!(
            slept > 0.3 * p.duration_s,
            "slept {slept} s of {} s",
            p.duration_s
        );
    }
}

#[test]
fn an_unreachable_rate_is_reported_as_not_reached_with_the_rate_reached() {
    // 10 Tbit/s per connection: no loopback gets there.
    let p = run(&paced(
        StrategyKind::ScatterGather,
        65536,
        10_000_000_000_000,
    ));
    assert!(p.verified, "{:?}", p.error);
    let pacing: &PacingRecord = p.pacing.as_ref().unwrap();
    assert!(!pacing.rate_reached, "{pacing:?}");
    let reached = pacing.reached_bps.unwrap();
    assert!(reached > 1e8 && reached < 1e13 * 0.95, "{reached}");
    let warning = p
        .pacing_warning()
        .expect("a sentence says it was not reached");
    assert!(warning.contains("10 Tbps"), "{warning}");
}

#[test]
fn an_unpaced_point_records_no_pacing() {
    let mut params = paced(StrategyKind::ScatterGather, 4096, 1);
    params.rate_bps = None;
    let p = run(&params);
    assert_eq!(p.pacing, None);
    assert_eq!(p.pacing_warning(), None);
}

#[test]
fn a_rate_needs_stream_mode_and_at_least_one_bit_per_second() {
    let mut p = paced(StrategyKind::TwoCopy, 4096, 0);
    assert!(p
        .validate()
        .unwrap_err()
        .to_string()
        .contains("at least 1 bit"));
    p.rate_bps = Some(1_000_000);
    p.mode = Mode::Rr;
    assert!(p.validate().unwrap_err().to_string().contains("--rate"));
}

/// A synthetic paced point: `cpu` sender ns/B at `rate` (reached unless `missed`).
fn at_rate(strategy: StrategyKind, size: usize, rep: usize, rate: u64, cpu: f64) -> Point {
    let mut p = point(strategy, size, 1, rep, rate as f64 / 1e9, Some(cpu));
    p.pacing = Some(PacingRecord {
        method: PacingMethod::UserSleep,
        target_bps: rate,
        reached_bps: Some(rate as f64),
        rate_reached: true,
        slept_s: Some(1.0),
    });
    p
}

#[test]
fn findings_compare_strategies_only_at_the_same_rate_and_by_cpu_per_byte() {
    let (g1, g4) = (1_000_000_000, 4_000_000_000);
    let mut points = Vec::new();
    for rep in 0..3 {
        let j = rep as f64 * 0.01;
        // At 1 Gbps zerocopy costs 0.5 ns/B against two-copy's 1.0: a 50% saving.
        points.push(at_rate(StrategyKind::ZeroCopy, 65536, rep, g1, 0.50 + j));
        points.push(at_rate(StrategyKind::TwoCopy, 65536, rep, g1, 1.00 + j));
        // At 4 Gbps only two-copy ran, and cheaper than zerocopy at 1 Gbps: were the rates
        // pooled, two-copy would "win" against nothing at 4 Gbps and the cells would mix.
        points.push(at_rate(StrategyKind::TwoCopy, 65536, rep, g4, 0.30 + j));
    }
    let f = findings(&points, TopologyKind::Netns, Protocol::Tcp);
    assert_eq!(f.groups.len(), 2, "one group per rate");
    let by_rate = |r: u64| f.groups.iter().find(|g| g.rate_bps == Some(r)).unwrap();
    let one = by_rate(g1);
    assert_eq!(one.metric, Figure::SenderCpuNsPerByte);
    match &one.sizes[0].verdict {
        Verdict::Winner {
            strategy, margin, ..
        } => {
            assert_eq!(*strategy, StrategyKind::ZeroCopy);
            assert!((margin.unwrap() - 0.5).abs() < 0.02, "{margin:?}");
        }
        v => panic!("{v:?}"),
    }
    let saving = &one.savings[0];
    assert!(saving.told_apart);
    assert_eq!(saving.strategy, StrategyKind::ZeroCopy);
    assert_eq!(saving.against, StrategyKind::TwoCopy);
    assert_eq!(
        saving.text,
        "zerocopy saves 50% sender CPU at 1 Gbps x 64 KiB on netns (vs twocopy)"
    );
    let four = by_rate(g4);
    assert!(four.sizes[0]
        .strategies
        .iter()
        .all(|s| s.strategy == StrategyKind::TwoCopy));
    assert!(matches!(four.sizes[0].verdict, Verdict::Uncontested { .. }));
    // One break-even per zero-copy strategy, in CPU per byte (not the same one twice).
    assert_eq!(one.break_even.len(), 1);
    assert_eq!(one.break_even[0].metric, Figure::SenderCpuNsPerByte);
}

#[test]
fn findings_flag_paced_points_that_missed_their_rate() {
    let rate = 5_000_000_000;
    let mut points = Vec::new();
    for rep in 0..3 {
        points.push(at_rate(StrategyKind::ZeroCopy, 4096, rep, rate, 0.5));
        let mut slow = at_rate(StrategyKind::TwoCopy, 4096, rep, rate, 1.0);
        let pacing = slow.pacing.as_mut().unwrap();
        pacing.reached_bps = Some(3.1e9);
        pacing.rate_reached = false;
        points.push(slow);
    }
    let f = findings(&points, TopologyKind::Sink, Protocol::Udp);
    let caveat = f.groups[0]
        .caveats
        .iter()
        .find(|c| c.kind == CaveatKind::RateNotReached)
        .expect("a caveat names the points that missed the rate");
    assert!(caveat.text.contains("twocopy 4 KiB"), "{}", caveat.text);
    assert!(
        caveat.text.contains("3.1 Gbps of 5 Gbps"),
        "{}",
        caveat.text
    );
    assert!(!caveat.text.contains("zerocopy"), "{}", caveat.text);
    // Unpaced points have no such caveat, whatever their rate.
    let unpaced: Vec<Point> = points
        .into_iter()
        .map(|mut p| {
            p.pacing = None;
            p
        })
        .collect();
    let f = findings(&unpaced, TopologyKind::Sink, Protocol::Udp);
    assert!(f.groups[0].rate_bps.is_none() && f.groups[0].savings.is_empty());
    assert!(!f.groups[0]
        .caveats
        .iter()
        .any(|c| c.kind == CaveatKind::RateNotReached));
}
