//! A stall is a measurement: a sender blocked in one call across the whole measured interval
//! still yields a point (0 messages over the interval, the block in `longest_send_s`), which
//! verifies and is flagged, instead of failing the point.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{run_point, Endpoints, NoHooks, PointParams};
use copybench_core::StrategyKind;

fn stalled(strategy: StrategyKind, threads: usize) -> PointParams {
    let mut p = PointParams::new(strategy, 4096, threads);
    p.warmup = Duration::from_millis(30);
    p.duration = Duration::from_millis(200);
    // Blocked from the warm-up until well after the interval ends.
    p.stall_once = Some(Duration::from_millis(500));
    p
}

#[test]
fn a_sender_blocked_for_the_whole_interval_is_kept_with_what_it_measured() {
    for strategy in [StrategyKind::ScatterGather, StrategyKind::ZeroCopy] {
        let p = stalled(strategy, 1);
        let point = run_point(
            &p,
            &Endpoints::loopback(),
            &NoHooks,
            &AtomicBool::new(false),
        )
        .unwrap_or_else(|e| panic!("{strategy}: a stall failed the point: {e}"));
        assert!(point.verified, "{strategy}: {:?}", point.error);
        assert_eq!(
            point.messages, 0,
            "{strategy}: nothing sent in the interval"
        );
        assert_eq!(point.bytes, 0);
        assert_eq!(
            point.throughput_gbps, 0.0,
            "0 bytes over the interval, not n/a"
        );
        assert!(
            point.duration_s >= 0.19,
            "{strategy}: the interval is the coordinator's 200 ms, not {}",
            point.duration_s
        );
        let longest = point.longest_send_s.expect("measured");
        assert!(longest >= 0.45, "{strategy}: longest send {longest} s");
        assert!(point.stalled());
        let words = point.stall_warning().expect("a stall is flagged");
        assert!(words.contains("sender 0 sent nothing"), "{words}");
        // Counters could not run while the thread was blocked: not measured, never 0.
        assert!(point.sender.cpu_ns_per_byte.is_none());
    }
}

#[test]
fn a_block_across_the_start_of_the_interval_is_in_the_interval_and_is_its_longest_send() {
    // Blocked from the warm-up 60 ms into a 400 ms interval: the sender notices the interval
    // late, but its interval (and so its rate) starts with the coordinator's, block included.
    let mut p = stalled(StrategyKind::TwoCopy, 1);
    p.stall_once = Some(Duration::from_millis(90));
    p.duration = Duration::from_millis(400);
    let point = run_point(
        &p,
        &Endpoints::loopback(),
        &NoHooks,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(point.verified, "{:?}", point.error);
    assert!(point.messages > 0);
    let longest = point.longest_send_s.unwrap();
    assert!(
        (0.085..0.3).contains(&longest),
        "a 90 ms block: {longest} s"
    );
    assert!(
        point.duration_s >= 0.399,
        "the interval starts with the coordinator's: {} s",
        point.duration_s
    );
    assert!(!point.stalled(), "{longest} s of {} s", point.duration_s);
}
