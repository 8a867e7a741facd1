//! Real TCP over loopback for every strategy: the receiver checks every byte.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{run_point, Endpoints, Mode, NoHooks, PointParams};
use copybench_core::result::LatencyKind;
use copybench_core::StrategyKind;

fn quick(strategy: StrategyKind, msg_size: usize, threads: usize) -> PointParams {
    let mut p = PointParams::new(strategy, msg_size, threads);
    p.warmup = Duration::from_millis(50);
    // Long enough to ride out a 200 ms stall (a zero-copy send on loopback can wait for a
    // delayed ACK), which would leave a shorter interval without a single message.
    p.duration = Duration::from_millis(600);
    p
}

fn run(p: &PointParams) -> copybench_core::result::Point {
    run_point(p, &Endpoints::loopback(), &NoHooks, &AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("{} {}B x{}: {e}", p.strategy, p.msg_size, p.threads))
}

#[test]
fn every_strategy_streams_verified_at_awkward_and_large_sizes() {
    // 1 byte, a size not divisible by the 8 fields, a page, and 1 MiB. (sendfile and splice
    // need messages large enough for their pool to hold a receive buffer: tests/paths.rs.)
    for strategy in StrategyKind::DEFAULT {
        for size in [1, 1001, 4096, 1 << 20] {
            let point = run(&quick(strategy, size, 1));
            assert!(point.verified, "{strategy} {size}: {:?}", point.error);
            assert_eq!(point.error, None);
            assert!(
                point.messages > 0 && point.bytes == point.messages * size as u64,
                "{strategy} {size}: {} messages, {} bytes",
                point.messages,
                point.bytes
            );
            assert!(point.throughput_gbps > 0.0 && point.throughput_gbps.is_finite());
            assert!(point.send_calls >= point.messages);
            assert_eq!(point.per_thread.len(), 1);
            assert_eq!(point.fields, 8.min(size));
        }
    }
}

#[test]
fn several_threads_each_verify_their_own_connection() {
    for strategy in StrategyKind::ALL {
        let point = run(&quick(strategy, 16 << 10, 3));
        assert!(point.verified, "{strategy}: {:?}", point.error);
        assert_eq!(point.per_thread.len(), 3);
        assert!(point.per_thread.iter().all(|t| t.verified && t.bytes > 0));
        let sum: u64 = point.per_thread.iter().map(|t| t.bytes).sum();
        assert_eq!(sum, point.bytes);
    }
}

#[test]
fn a_corrupted_byte_makes_verified_false() {
    for strategy in StrategyKind::ALL {
        let mut p = quick(strategy, 4096, 1);
        p.corrupt_message = Some(3);
        let point = run(&p);
        assert!(!point.verified, "{strategy}: corruption went unnoticed");
        let error = point.error.expect("the mismatch is explained");
        assert!(error.contains("byte 12288 of the stream"), "{error}");
    }
}

#[test]
fn one_field_and_many_fields() {
    for fields in [1, 3, 64, 100] {
        let mut p = quick(StrategyKind::ScatterGather, 10_000, 1);
        p.fields = fields;
        let point = run(&p);
        assert!(point.verified, "{fields} fields: {:?}", point.error);
        assert_eq!(point.fields, fields);
    }
}

#[test]
fn request_response_measures_round_trips() {
    for strategy in StrategyKind::ALL {
        let mut p = quick(strategy, 1024, 2);
        p.mode = Mode::Rr;
        let point = run(&p);
        assert!(point.verified, "{strategy}: {:?}", point.error);
        let lat = point.latency_us.expect("rr has latency");
        assert_eq!(lat.what, LatencyKind::RoundTrip);
        assert!(lat.p50 > 0.0 && lat.p50 <= lat.p90 && lat.p90 <= lat.p99);
        assert!(lat.p99 <= lat.p999 && lat.p999 <= lat.max);
        assert_eq!(lat.samples, point.messages);
        assert!(point.transactions_per_s.unwrap() > 0.0);
    }
}

#[test]
fn stream_mode_samples_send_call_latency() {
    let point = run(&quick(StrategyKind::TwoCopy, 4096, 1));
    let lat = point.latency_us.expect("stream has send-call latency");
    assert_eq!(lat.what, LatencyKind::MessageSend);
    assert!(lat.samples > 0 && lat.samples <= point.messages / 16 + 1);
}

#[test]
fn invalid_parameters_are_refused_before_traffic() {
    for p in [
        quick(StrategyKind::TwoCopy, 0, 1),
        quick(StrategyKind::TwoCopy, 1024, 0),
        quick(StrategyKind::TwoCopy, 1024, 100_000),
        PointParams {
            fields: 0,
            ..quick(StrategyKind::TwoCopy, 1024, 1)
        },
        PointParams {
            pool: Some(0),
            ..quick(StrategyKind::TwoCopy, 1024, 1)
        },
        PointParams {
            duration: Duration::ZERO,
            ..quick(StrategyKind::TwoCopy, 1024, 1)
        },
    ] {
        let err = run_point(
            &p,
            &Endpoints::loopback(),
            &NoHooks,
            &AtomicBool::new(false),
        )
        .expect_err("must be refused");
        assert!(err.to_string().contains("invalid parameters"), "{err}");
    }
}

#[test]
fn cancel_ends_a_point() {
    let mut p = quick(StrategyKind::ScatterGather, 4096, 1);
    p.duration = Duration::from_secs(60);
    let cancel = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let started = std::time::Instant::now();
        let err = run_point(&p, &Endpoints::loopback(), &NoHooks, &cancel).unwrap_err();
        assert!(matches!(
            err,
            copybench_core::engine::EngineError::Cancelled
        ));
        assert!(started.elapsed() < Duration::from_secs(10));
    });
}

#[test]
fn a_corrupted_datagram_is_caught_and_loss_is_not_mistaken_for_corruption() {
    // The UDP strategies: sendfile and splice are TCP only (refused, tests/paths.rs).
    for strategy in StrategyKind::DEFAULT {
        let mut p = quick(strategy, 4096, 1);
        p.protocol = copybench_core::engine::Protocol::Udp;
        let clean = run(&p);
        assert!(clean.verified, "{strategy}: {:?}", clean.error);
        let udp = clean.udp.expect("UDP points count datagrams");
        assert!(udp.received.unwrap() > 0);
        p.corrupt_message = Some(3);
        let corrupt = run(&p);
        assert!(
            !corrupt.verified,
            "{strategy}: a corrupted datagram went unnoticed"
        );
        // The hook flips a stamp bit: the datagram names no message of this connection.
        assert!(
            corrupt.error.unwrap_or_default().contains("receiver 0"),
            "{strategy}: the mismatch says where"
        );
    }
}
