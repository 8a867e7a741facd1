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
                let got = t.received_bytes.unwrap();
                assert!(got > 0 && got % size as u64 == 0);
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

/// `/proc/thread-self/io` of the calling thread: bytes returned by read calls (`rchar`) and
/// read calls (`syscr`).
fn thread_reads() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/io").unwrap();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/thread-self/io: {text}"))
    };
    (field("rchar:"), field("syscr:"))
}

/// Hooks that count, on each receiver thread, the bytes and read calls of its measured interval.
#[derive(Default)]
struct ReadCounter(std::sync::Arc<std::sync::Mutex<Vec<(u64, u64)>>>);

struct ReadProbe {
    start: (u64, u64),
    out: std::sync::Arc<std::sync::Mutex<Vec<(u64, u64)>>>,
}

impl copybench_core::engine::ThreadProbe for ReadProbe {
    fn finish(self: Box<Self>) -> copybench_core::result::Counters {
        let end = thread_reads();
        self.out
            .lock()
            .unwrap()
            .push((end.0 - self.start.0, end.1 - self.start.1));
        let no = || copybench_core::result::Metric::Unsupported("not counted by this test".into());
        copybench_core::result::Counters {
            cycles: no(),
            instructions: no(),
            llc_misses: no(),
            llc_event: "none".into(),
            context_switches: no(),
            cpu_migrations: no(),
            page_faults: no(),
            task_clock_ns: no(),
            time_enabled_ns: 0,
            time_running_ns: 0,
        }
    }
}

impl copybench_core::engine::Hooks for ReadCounter {
    fn begin_thread_measure(
        &self,
        role: copybench_core::engine::Role,
        _index: usize,
    ) -> Option<Box<dyn copybench_core::engine::ThreadProbe>> {
        (role == copybench_core::engine::Role::Receiver).then(|| {
            Box::new(ReadProbe {
                start: thread_reads(),
                out: self.0.clone(),
            }) as Box<dyn copybench_core::engine::ThreadProbe>
        })
    }
}

/// Bytes per read call of the receiver over its measured interval, with `read_size`.
fn bytes_per_read(read_size: Option<usize>) -> f64 {
    let mut p = quick(64 << 10, Verify::Stamps);
    p.threads = 1;
    p.read_size = read_size;
    let hooks = ReadCounter::default();
    let point = run_point(&p, &Endpoints::loopback(), &hooks, &AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("read size {read_size:?}: {e}"));
    assert!(point.verified, "{:?}", point.error);
    assert_eq!(point.read_size, Some(p.read_size()), "recorded as used");
    let counts = hooks.0.lock().unwrap();
    let (bytes, reads) = counts[0];
    assert!(reads > 0 && bytes > 0, "{counts:?}");
    bytes as f64 / reads as f64
}

#[test]
fn the_receiver_reads_at_most_read_size_per_call() {
    // 64 KiB messages over loopback arrive in large chunks: reads of 1000 bytes return 1000.
    let small = bytes_per_read(Some(1000));
    assert!(
        small <= 1000.0,
        "{small} bytes per read with --read-size 1000"
    );
    // The default (256 KiB) takes much more per call, so the figure above is the option's doing.
    let default = bytes_per_read(None);
    assert!(default > 4000.0, "{default} bytes per read by default");
}
