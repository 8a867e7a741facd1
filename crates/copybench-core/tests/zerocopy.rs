//! MSG_ZEROCOPY over real loopback TCP: every send completes, buffers are never rewritten
//! early (the receiver would see a wrong stamp), and a full notification budget (ENOBUFS) is
//! survived, not mistaken for the end of the stream.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{run_point, Endpoints, NoHooks, PointParams};
use copybench_core::result::Point;
use copybench_core::StrategyKind;

use crate::support::skip;

fn zerocopy(msg_size: usize, threads: usize) -> PointParams {
    let mut p = PointParams::new(StrategyKind::ZeroCopy, msg_size, threads);
    p.warmup = Duration::from_millis(50);
    p.duration = Duration::from_millis(500);
    p
}

fn run(p: &PointParams) -> Point {
    run_point(p, &Endpoints::loopback(), &NoHooks, &AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("{} B x{}: {e}", p.msg_size, p.threads))
}

#[test]
fn completions_equal_sends_at_several_sizes_and_thread_counts() {
    for (size, threads) in [(1, 1), (1000, 2), (4096, 1), (65536, 3), (1 << 20, 1)] {
        let point = run(&zerocopy(size, threads));
        assert!(point.verified, "{size} x{threads}: {:?}", point.error);
        let zc = point
            .zerocopy
            .expect("zero-copy points carry zero-copy stats");
        assert!(zc.sends > 0);
        assert_eq!(zc.completions, zc.sends, "{size} x{threads}");
        assert!(
            zc.sends >= point.messages,
            "a message takes at least one send"
        );
        assert!(zc.notifications >= 1 && zc.notifications <= zc.completions);
        // Loopback is local delivery: the kernel copies every time.
        assert_eq!(zc.copied, zc.completions, "{size} x{threads}");
        assert_eq!(zc.copied_ratio, Some(1.0));
    }
}

#[test]
fn a_tiny_pool_forces_waiting_for_completions_and_stays_correct() {
    // With two buffers, nearly every send waits for a completion before its buffer is stamped
    // again; a buffer reused early would reach the receiver with the wrong stamp.
    for pool in [1, 2] {
        let mut p = zerocopy(64 << 10, 1);
        p.pool = Some(pool);
        let point = run(&p);
        assert!(point.verified, "pool {pool}: {:?}", point.error);
        let zc = point.zerocopy.unwrap();
        assert_eq!(zc.completions, zc.sends);
        // Every buffer with the kernel most of the time: the waits are measured, not 0.
        let waited = point.pool_wait_s.expect("measured");
        assert!(
            waited > 0.0,
            "pool {pool}: no wait for a free buffer measured"
        );
    }
}

#[test]
fn the_copying_strategies_carry_no_zerocopy_stats() {
    for s in [StrategyKind::TwoCopy, StrategyKind::ScatterGather] {
        let mut p = zerocopy(4096, 1);
        p.strategy = s;
        assert!(run(&p).zerocopy.is_none());
    }
}

/// Sets `net.core.optmem_max` for the test's duration and restores it on drop, panics included.
struct OptmemGuard(String);

const OPTMEM: &str = "/proc/sys/net/core/optmem_max";

impl OptmemGuard {
    fn set(value: u64) -> Option<OptmemGuard> {
        let old = std::fs::read_to_string(OPTMEM).ok()?;
        std::fs::write(OPTMEM, value.to_string()).ok()?;
        Some(OptmemGuard(old.trim().to_string()))
    }
}

impl Drop for OptmemGuard {
    fn drop(&mut self) {
        std::fs::write(OPTMEM, &self.0).expect("restoring net.core.optmem_max");
    }
}

#[test]
fn enobufs_is_reaped_and_retried_not_the_end_of_the_stream() {
    let is_root = rustix::process::geteuid().is_root();
    let Some(guard) = OptmemGuard::set(2048) else {
        assert!(!is_root, "root must be able to set {OPTMEM}");
        skip(&format!("setting {OPTMEM} needs root (CI runs as root)"));
        return;
    };
    let mut p = zerocopy(4096, 2);
    p.pool = Some(256);
    let point = run(&p);
    drop(guard);
    assert!(point.verified, "{:?}", point.error);
    let zc = point.zerocopy.unwrap();
    assert!(
        zc.enobufs > 0,
        "expected ENOBUFS with optmem_max = 2048: {zc:?}"
    );
    assert_eq!(zc.completions, zc.sends);
}

#[test]
fn the_default_pool_holds_twice_what_a_socket_may_have_in_flight() {
    // On a real link a zero-copy buffer returns only after the ACK: a pool of a few hundred
    // KiB would cap zero-copy, not the copying strategies. The default is sized in bytes.
    let budget = copybench_core::message::socket_send_budget() as u64;
    for size in [1024, 4096, 65536] {
        let point = run(&zerocopy(size, 1));
        assert!(point.verified, "{size}: {:?}", point.error);
        assert!(point.pool >= 64);
        assert!(
            point.pool_bytes >= 2 * budget,
            "{size}: pool of {} B < 2 x tcp_wmem max {budget} B",
            point.pool_bytes
        );
    }
    let mut copying = zerocopy(4096, 1);
    copying.strategy = StrategyKind::ScatterGather;
    assert_eq!(
        run(&copying).pool_wait_s,
        Some(0.0),
        "copying buffers never wait"
    );
}

#[test]
fn packed_messages_touch_fewer_pages_than_fields_apart() {
    for (align, most) in [
        (copybench_core::message::Align::Packed, 2.0),
        (copybench_core::message::Align::Offset(96), 8.0),
    ] {
        let mut p = zerocopy(1024, 1);
        p.align = align;
        let point = run(&p);
        assert!(point.verified, "{align}: {:?}", point.error);
        let pages = point.pages_per_message.unwrap();
        assert!(pages <= most && pages >= 1.0, "{align}: {pages} pages");
        if align != copybench_core::message::Align::Packed {
            assert_eq!(pages, 8.0, "8 fields apart, each on its own page");
        }
    }
}
