//! io_uring strategies over real loopback TCP: every byte verified at every size, zero-copy
//! notifications equal sends and say the kernel copied (local delivery), buffers are never
//! reused before their notification (a tiny pool would show it), fixed buffers on and off.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{
    run_point, Endpoints, EngineError, Mode, NoHooks, PointParams, Protocol,
};
use copybench_core::message::Align;
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
    assert_eq!(point.uring_depth, Some(p.uring_depth()), "{what}");
    let setup = point.uring.as_ref().expect("the ring's setup is recorded");
    assert_eq!(setup.depth, p.uring_depth(), "{what}");
    assert_eq!(
        setup.linked,
        p.protocol == Protocol::Tcp && p.uring_depth() > 1,
        "{what}"
    );
    // This kernel (6.18) takes every setup flag and registration: nothing fell back.
    assert_eq!(
        setup.setup_flags,
        ["SINGLE_ISSUER", "DEFER_TASKRUN"],
        "{what}"
    );
    assert!(
        setup.registered_file && setup.registered_ring_fd,
        "{what}: {setup:?}"
    );
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
fn sends_in_flight_stay_verified_on_tcp_and_udp() {
    // TCP: linked chains of `depth` sends, the receiver checks every byte in order; UDP:
    // unlinked, every datagram checked. A pool smaller than the depth must not stall.
    for protocol in [Protocol::Tcp, Protocol::Udp] {
        for strategy in URING {
            for (depth, size, pool) in [
                (1, 4096, None),
                (4, 1000, None),
                (32, 4096, None),
                (8, 16000, None),
                (8, 4096, Some(3)),
            ] {
                let size = if protocol == Protocol::Tcp && size == 16000 {
                    1 << 20
                } else {
                    size
                };
                let mut p = quick(strategy, size, 1);
                p.protocol = protocol;
                p.uring_depth = Some(depth);
                p.pool = pool;
                let point = run(&p);
                check(&p, &point);
            }
        }
    }
}

#[test]
fn the_default_depth_is_recorded_and_rr_keeps_one_send_in_flight() {
    let p = quick(StrategyKind::UringSend, 4096, 1);
    let point = run(&p);
    check(&p, &point);
    assert_eq!(
        point.uring_depth,
        Some(copybench_core::strategy::DEFAULT_URING_DEPTH)
    );
    let mut p = quick(StrategyKind::UringZc, 4096, 1);
    p.mode = Mode::Rr;
    let point = run(&p);
    check(&p, &point);
    assert_eq!(point.uring_depth, Some(1));
    // Strategies without a ring record none.
    let point = run(&quick(StrategyKind::ScatterGather, 4096, 1));
    assert_eq!((point.uring_depth, point.uring), (None, None));
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
    // Packed messages of several fields are one registered region each (SENDMSG_ZC with
    // buf_index), at depth 1 and in flight.
    for (fields, depth) in [(8, 1), (8, 16), (100, 4)] {
        let mut p = quick(StrategyKind::UringZc, 65536, 1);
        p.fields = fields;
        p.fixed_buffers = true;
        p.uring_depth = Some(depth);
        check(&p, &run(&p));
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
    // Several fields placed apart: separate allocations cannot be one registered buffer.
    for align in [Align::Page, Align::Offset(96)] {
        let mut p = quick(StrategyKind::UringZc, 4096, 1);
        p.fixed_buffers = true;
        p.align = align;
        refused(p, "--fixed-buffers");
    }
    // Packed (the default), any field count: accepted.
    let mut p = quick(StrategyKind::UringZc, 4096, 1);
    p.fixed_buffers = true;
    assert!(p.validate().is_ok());
    // Depth: within bounds, and not above 1 for rr.
    for (depth, mode) in [(0, Mode::Stream), (257, Mode::Stream), (2, Mode::Rr)] {
        let mut p = quick(StrategyKind::UringSend, 4096, 1);
        p.uring_depth = Some(depth);
        p.mode = mode;
        refused(p, "--uring-depth");
    }
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
