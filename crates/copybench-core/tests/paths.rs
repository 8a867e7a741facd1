//! Issue 25's send paths over real loopback TCP: `sendfile` from a memory file and
//! `vmsplice` + `splice`, each verified byte for byte at the receiver; their release rule
//! proved by breaking it on purpose (the receiver must catch the rewritten page); what they
//! refuse, refused before any traffic.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{run_point, Endpoints, Mode, NoHooks, PointParams, Protocol};
use copybench_core::result::Point;
use copybench_core::strategy::{receive_margin, EarlyRelease};
use copybench_core::StrategyKind;

const BY_REFERENCE: [StrategyKind; 2] = [StrategyKind::Sendfile, StrategyKind::Splice];

fn quick(strategy: StrategyKind, msg_size: usize, threads: usize) -> PointParams {
    let mut p = PointParams::new(strategy, msg_size, threads);
    p.warmup = Duration::from_millis(50);
    p.duration = Duration::from_millis(300);
    p
}

fn run(p: &PointParams) -> Point {
    run_point(p, &Endpoints::loopback(), &NoHooks, &AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("{} {}B x{}: {e}", p.strategy, p.msg_size, p.threads))
}

#[test]
fn both_paths_stream_verified_at_awkward_and_large_sizes() {
    for strategy in BY_REFERENCE {
        for size in [1001, 4096, 65536, 1 << 20] {
            let point = run(&quick(strategy, size, 1));
            assert!(point.verified, "{strategy} {size}: {:?}", point.error);
            assert!(point.messages > 0, "{strategy} {size}: nothing sent");
            assert_eq!(point.bytes, point.messages * size as u64);
            assert!(point.send_calls >= point.messages);
            assert!(point.zerocopy.is_none(), "no completions on these paths");
            assert_eq!(point.receive_margin_bytes, Some(receive_margin()));
            // The pool holds the margin: a rewritten buffer is one the peer has read past.
            assert!(point.pool_bytes >= receive_margin(), "{strategy} {size}");
        }
    }
}

#[test]
fn several_connections_and_round_trips_verify() {
    for strategy in BY_REFERENCE {
        let point = run(&quick(strategy, 16 << 10, 3));
        assert!(point.verified, "{strategy}: {:?}", point.error);
        assert!(point.per_thread.iter().all(|t| t.verified && t.bytes > 0));
        let mut rr = quick(strategy, 1024, 2);
        rr.mode = Mode::Rr;
        let point = run(&rr);
        assert!(point.verified, "{strategy} rr: {:?}", point.error);
        assert!(point.transactions_per_s.unwrap() > 0.0);
    }
}

#[test]
fn splice_records_the_gift_and_verifies_with_it() {
    for gift in [false, true] {
        let mut p = quick(StrategyKind::Splice, 64 << 10, 1);
        p.splice_gift = gift;
        let point = run(&p);
        assert!(point.verified, "gift {gift}: {:?}", point.error);
        assert_eq!(point.splice_gift, Some(gift));
    }
    let point = run(&quick(StrategyKind::Sendfile, 4096, 1));
    assert_eq!(point.splice_gift, None, "not a splice point");
    let mut wrong = quick(StrategyKind::Sendfile, 4096, 1);
    wrong.splice_gift = true;
    assert!(wrong
        .validate()
        .unwrap_err()
        .to_string()
        .contains("splice strategy only"));
}

#[test]
fn a_corrupted_byte_is_caught_on_both_paths() {
    for strategy in BY_REFERENCE {
        let mut p = quick(strategy, 4096, 1);
        p.corrupt_message = Some(3);
        let point = run(&p);
        assert!(!point.verified, "{strategy}: corruption went unnoticed");
        let error = point.error.expect("the mismatch is explained");
        assert!(error.contains("byte 12288 of the stream"), "{error}");
    }
}

/// The release rule, broken on purpose: a buffer rewritten while the kernel (or the unread
/// receive queue) still references its pages reaches the receiver with the next message's
/// stamp. Released at the call's return (as a copying strategy would) and released at the
/// ACK (SIOCOUTQ alone, without the receive margin), the receiver catches it on loopback;
/// with the rule, the same traffic verifies (the tests above).
#[test]
fn releasing_a_buffer_before_the_receiver_read_it_is_caught() {
    for strategy in BY_REFERENCE {
        for early in [EarlyRelease::Send, EarlyRelease::Ack] {
            let mut caught = None;
            // A small pool, so that a buffer comes round again within microseconds. Up to
            // three tries for the ACK case: it needs the receiver to lag one pool behind.
            for attempt in 1..=3 {
                let mut p = quick(strategy, 64 << 10, 1);
                p.pool = Some(4);
                p.early_release = Some(early);
                let point = run(&p);
                if !point.verified {
                    eprintln!("{strategy} released at {early:?}: caught on try {attempt}");
                    caught = point.error;
                    break;
                }
            }
            let error = caught.unwrap_or_else(|| {
                panic!("{strategy}, released at {early:?}: rewritten pages went unnoticed")
            });
            assert!(
                error.contains("of the stream"),
                "{strategy} {early:?}: {error}"
            );
        }
    }
}

#[test]
fn the_smallest_pool_the_rule_allows_waits_for_acks_and_verifies() {
    for strategy in BY_REFERENCE {
        let size = 64 << 10;
        let mut p = quick(strategy, size, 1);
        let need = (receive_margin() as usize + 2 * size).div_ceil(size);
        p.pool = Some(need - 1);
        assert!(p.validate().is_err(), "one buffer fewer is refused");
        p.pool = Some(need);
        let point = run(&p);
        assert!(point.verified, "{strategy}: {:?}", point.error);
        assert!(point.messages > 0);
    }
}

#[test]
fn what_the_paths_cannot_do_is_refused_before_traffic() {
    for strategy in BY_REFERENCE {
        let mut udp = quick(strategy, 4096, 1);
        udp.protocol = Protocol::Udp;
        let err = udp.validate().unwrap_err().to_string();
        assert!(
            err.contains("TCP only") && err.contains("--protocol tcp"),
            "{err}"
        );
        let err = run_point(
            &udp,
            &Endpoints::loopback(),
            &NoHooks,
            &AtomicBool::new(false),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("invalid parameters"), "{err}");
        // A pool that cannot hold what a receiver may keep unread would wait on itself.
        let mut small = quick(strategy, 4096, 1);
        small.pool = Some(16);
        let err = small.validate().unwrap_err().to_string();
        assert!(err.contains("larger --pool"), "{err}");
    }
    let mut apart = quick(StrategyKind::Sendfile, 4096, 1);
    apart.align = copybench_core::message::Align::Page;
    let err = apart.validate().unwrap_err().to_string();
    assert!(err.contains("--align packed"), "{err}");
    // splice takes any placement: its fields are the program's own memory.
    let mut p = quick(StrategyKind::Splice, 4096, 1);
    p.align = copybench_core::message::Align::Offset(96);
    assert!(run(&p).verified);
}

#[test]
fn the_sendfile_pool_is_a_memory_file_with_each_message_one_range() {
    use copybench_core::message::{build_pool, Align, Layout, PoolMemory};
    let layout = Layout::new(1001, 8);
    let pool = build_pool(&layout, Align::Packed, 2, 5, PoolMemory::MemFile).unwrap();
    let mut last_end = 0;
    for m in &pool.messages {
        let (file, offset, len) = m.file_range().expect("one range of the file");
        assert_eq!(len, 1001);
        assert!(offset >= last_end, "messages do not overlap");
        last_end = offset + len as u64;
        // The file holds exactly the message's bytes.
        let mut got = vec![0u8; len];
        rustix::io::pread(file, &mut got, offset).unwrap();
        assert_eq!(got, m.to_vec());
    }
    let heap = build_pool(&layout, Align::Packed, 2, 1, PoolMemory::Heap).unwrap();
    assert!(heap.messages[0].file_range().is_none());
}
