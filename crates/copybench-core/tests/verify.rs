//! `--verify`: every mode over real loopback sockets. What each checks is recorded, `verified`
//! keeps meaning "every check that ran passed", rr replies under every mode, and the receivers'
//! own rate is reported next to the senders'.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{run_point, Endpoints, Mode, NoHooks, PointParams, Verify};
use copybench_core::result::Point;
use copybench_core::StrategyKind;

fn quick(msg_size: usize, verify: Verify) -> PointParams {
    let mut p = PointParams::new(StrategyKind::ScatterGather, msg_size, 2);
    p.warmup = Duration::from_millis(50);
    p.duration = Duration::from_millis(300);
    p.verify = verify;
    p
}

fn run(p: &PointParams) -> Point {
    run_point(p, &Endpoints::loopback(), &NoHooks, &AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("--verify {}: {e}", p.verify))
}

#[test]
fn every_mode_streams_counts_and_records_what_it_checked() {
    for verify in Verify::ALL {
        for size in [1, 1001, 64 << 10] {
            let point = run(&quick(size, verify));
            assert!(point.verified, "{verify} {size}: {:?}", point.error);
            assert_eq!(point.verification, verify);
            for t in &point.per_thread {
                assert!(t.received_bytes > 0 && t.received_bytes % size as u64 == 0);
            }
        }
    }
}

#[test]
fn a_corrupted_stamp_is_caught_by_full_and_stamps_and_not_claimed_by_off_or_discard() {
    for verify in Verify::ALL {
        let mut p = quick(4096, verify);
        p.corrupt_message = Some(3);
        let point = run(&p);
        // The corruption hits byte 0 of message 3: a stamp byte.
        let checks_stamps = matches!(verify, Verify::Full | Verify::Stamps);
        assert_eq!(
            point.verified, !checks_stamps,
            "{verify}: {:?}",
            point.error
        );
        assert_eq!(point.verification, verify, "and it says what was checked");
    }
}

#[test]
fn rr_replies_to_every_message_under_every_mode() {
    for verify in Verify::ALL {
        for size in [1, 3000, 100 << 10] {
            let mut p = quick(size, verify);
            p.mode = Mode::Rr;
            p.threads = 1;
            let point = run(&p);
            assert!(point.verified, "{verify} {size}: {:?}", point.error);
            assert!(
                point.messages > 10,
                "{verify} {size}: {} round trips",
                point.messages
            );
            assert!(point.transactions_per_s.unwrap() > 0.0);
        }
    }
}

#[test]
fn the_receivers_report_their_own_rate_and_it_agrees_with_the_senders() {
    let point = run(&quick(64 << 10, Verify::Full));
    let got = point
        .receiver
        .throughput_gbps
        .expect("receivers measured their rate");
    assert!(point.receiver.bytes.unwrap() > 0);
    assert!(point.receiver.duration_s.unwrap() > 0.2);
    assert_eq!(point.sender.throughput_gbps, Some(point.throughput_gbps));
    let off = (got - point.throughput_gbps).abs() / point.throughput_gbps;
    assert!(
        off < 0.2,
        "senders {} vs receivers {got} Gbps",
        point.throughput_gbps
    );
    assert_eq!(point.rate_disagreement().map(|d| d < 0.2), Some(true));
}

#[test]
fn service_demand_is_null_not_zero_when_no_system_figures_were_read() {
    let point = run(&quick(4096, Verify::Full));
    assert_eq!(point.system_cpu, None);
    assert_eq!(point.service_demand_ns_per_byte, None);
}
