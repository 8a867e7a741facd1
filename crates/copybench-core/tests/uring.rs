//! io_uring strategies over real loopback TCP: every byte verified at every size, zero-copy
//! notifications equal sends and say the kernel copied (local delivery), buffers are never
//! reused before their notification (a tiny pool would show it), fixed buffers on and off.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{run_point, Endpoints, EngineError, NoHooks, PointParams};
use copybench_core::result::Point;
use copybench_core::StrategyKind;

const URING: [StrategyKind; 2] = [StrategyKind::UringSend, StrategyKind::UringZc];

fn quick(strategy: StrategyKind, msg_size: usize, threads: usize) -> PointParams {
    let mut p = PointParams::new(strategy, msg_size, threads);
    p.warmup = Duration::from_millis(50);
    p.duration = Duration::from_millis(500);
    p
}

fn run(p: &PointParams) -> Point {
    run_point(p, &Endpoints::loopback(), &NoHooks, &AtomicBool::new(false)).unwrap_or_else(|e| {
        panic!(
            "{} {} B x{} fields {} fixed {}: {e}",
            p.strategy, p.msg_size, p.threads, p.fields, p.fixed_buffers
        )
    })
}

/// The checks every io_uring point must pass.
fn check(p: &PointParams, point: &Point) {
    let what = format!(
        "{} {} B x{} fields {} pool {:?} fixed {}",
        p.strategy, p.msg_size, p.threads, p.fields, p.pool, p.fixed_buffers
    );
    assert!(point.verified, "{what}: {:?}", point.error);
    assert_eq!(point.error, None, "{what}");
    assert!(point.messages > 0, "{what}");
    assert_eq!(point.bytes, point.messages * p.msg_size as u64, "{what}");
    assert!(point.send_calls >= point.messages, "{what}");
    assert_eq!(point.fixed_buffers, p.fixed_buffers, "{what}");
    // The workers were looked for (a measured value, possibly 0), never left unmeasured.
    assert!(point.sender_io_worker_ns.is_some(), "{what}");
    match p.strategy {
        StrategyKind::UringSend => assert!(point.zerocopy.is_none(), "{what}"),
        _ => {
            let zc = point
                .zerocopy
                .as_ref()
                .expect("uringzc carries zero-copy stats");
            assert!(zc.sends >= point.messages, "{what}: {zc:?}");
            assert_eq!(zc.completions, zc.sends, "{what}: {zc:?}");
            assert_eq!(zc.notifications, zc.completions, "{what}: {zc:?}");
            // Loopback is local delivery: the kernel copies every time, and says so.
            assert_eq!(zc.copied, zc.completions, "{what}: {zc:?}");
            assert_eq!(zc.copied_ratio, Some(1.0), "{what}");
        }
    }
}

#[test]
fn every_size_from_1_byte_to_1_mib_streams_verified_at_1_and_2_threads() {
    for strategy in URING {
        for size in [1, 7, 1000, 4096, 65536, 1 << 20] {
            for threads in [1, 2] {
                let p = quick(strategy, size, threads);
                let point = run(&p);
                check(&p, &point);
                assert_eq!(point.per_thread.len(), threads);
                assert_eq!(point.fields, 8.min(size));
            }
        }
    }
}

#[test]
fn one_field_and_many_fields_stay_verified() {
    // One field: SEND_ZC for uringzc. 100 fields: more iovecs than fit on the stack.
    for strategy in URING {
        for (fields, size) in [(1, 1), (1, 4096), (1, 1 << 20), (3, 10_000), (100, 100_000)] {
            let mut p = quick(strategy, size, 1);
            p.fields = fields;
            let point = run(&p);
            check(&p, &point);
            assert_eq!(point.fields, fields.min(size));
        }
    }
}

#[test]
fn a_tiny_pool_never_reuses_a_buffer_before_its_notification() {
    // With one or two buffers nearly every send waits for the notification of the previous
    // one; a buffer re-stamped early would reach the receiver with the wrong stamp (large
    // messages stay queued in the socket long after their send CQE: the kernel still reads
    // them). Both send forms: SENDMSG_ZC (8 fields) and SEND_ZC (1 field).
    for fields in [8, 1] {
        for pool in [1, 2] {
            for size in [64 << 10, 1 << 20] {
                let mut p = quick(StrategyKind::UringZc, size, 1);
                p.pool = Some(pool);
                p.fields = fields;
                check(&p, &run(&p));
            }
        }
    }
}

#[test]
fn fixed_buffers_on_and_off() {
    for fixed in [false, true] {
        for size in [1, 4096, 65536, 1 << 20] {
            for pool in [None, Some(1)] {
                let mut p = quick(StrategyKind::UringZc, size, 1);
                p.fields = 1;
                p.fixed_buffers = fixed;
                p.pool = pool;
                check(&p, &run(&p));
            }
        }
    }
    let mut p = quick(StrategyKind::UringZc, 4096, 2);
    p.fields = 1;
    p.fixed_buffers = true;
    check(&p, &run(&p));
}

#[test]
fn fixed_buffers_are_refused_where_they_cannot_apply() {
    let refused = |p: PointParams, words: &str| {
        let err = run_point(
            &p,
            &Endpoints::loopback(),
            &NoHooks,
            &AtomicBool::new(false),
        )
        .expect_err("must be refused");
        assert!(matches!(err, EngineError::InvalidParams(_)), "{err}");
        assert!(err.to_string().contains(words), "{err}");
    };
    // Several fields: separate allocations cannot be one registered buffer.
    let mut p = quick(StrategyKind::UringZc, 4096, 1);
    p.fixed_buffers = true;
    refused(p, "--fields 1");
    // Other strategies have no ring to register with.
    for strategy in [StrategyKind::ZeroCopy, StrategyKind::UringSend] {
        let mut p = quick(strategy, 4096, 1);
        p.fields = 1;
        p.fixed_buffers = true;
        refused(p, "uringzc");
    }
    // A 1-byte message has one field whatever --fields says: accepted.
    let mut p = quick(StrategyKind::UringZc, 1, 1);
    p.fixed_buffers = true;
    assert!(p.validate().is_ok());
}

#[test]
fn strategies_without_a_ring_report_no_worker_time() {
    for strategy in [
        StrategyKind::TwoCopy,
        StrategyKind::ScatterGather,
        StrategyKind::ZeroCopy,
    ] {
        let point = run(&quick(strategy, 4096, 1));
        assert!(point.verified);
        assert_eq!(point.sender_io_worker_ns, None, "{strategy}");
        assert!(!point.fixed_buffers);
    }
}

#[test]
fn a_corrupted_byte_is_caught_through_io_uring_too() {
    for strategy in URING {
        let mut p = quick(strategy, 4096, 1);
        p.corrupt_message = Some(3);
        let point = run(&p);
        assert!(!point.verified, "{strategy}: corruption went unnoticed");
    }
}
