//! The receive strategies over real loopback TCP (`TCP_ZEROCOPY_RECEIVE`, `recv(MSG_TRUNC)`,
//! `read`): mapped bytes are checked like copied ones (a wrong byte in a mapping is caught and
//! said to be in mapped bytes), the unaligned remainder read beside the mapping is checked, the
//! mapped share is counted (and absent, not 0, where nothing maps), and what cannot run is
//! refused by name. Every send strategy meets every receive strategy.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{
    run_point, Endpoints, EngineError, Mode, NoHooks, PointParams, Protocol, ReceiveKind, Verify,
};
use copybench_core::receive::PAGE_ALIGNED_MSS;
use copybench_core::result::Point;
use copybench_core::StrategyKind;

fn quick(strategy: StrategyKind, msg_size: usize, receive: ReceiveKind) -> PointParams {
    let mut p = PointParams::new(strategy, msg_size, 1);
    p.warmup = Duration::from_millis(50);
    p.duration = Duration::from_millis(150);
    p.receive = receive;
    // Loopback's own MSS (65483) is not a whole number of pages: ask for 4096-byte segments.
    p.tcp_maxseg = Some(PAGE_ALIGNED_MSS);
    p
}

fn run(p: &PointParams) -> Result<Point, EngineError> {
    run_point(p, &Endpoints::loopback(), &NoHooks, &AtomicBool::new(false))
}

fn ok(p: &PointParams) -> Point {
    run(p).unwrap_or_else(|e| panic!("{} <- {} {} B: {e}", p.strategy, p.receive, p.msg_size))
}

#[test]
fn every_send_strategy_meets_every_receive_strategy_verified() {
    for strategy in StrategyKind::ALL {
        for receive in ReceiveKind::ALL {
            let point = ok(&quick(strategy, 64 << 10, receive));
            let what = format!("{strategy} <- {receive}");
            assert!(point.verified, "{what}: {:?}", point.error);
            assert_eq!(point.receive, receive, "{what}: recorded");
            let setup = point.receive_setup.as_ref().expect("TCP records its setup");
            assert_eq!(setup.tcp_maxseg, Some(PAGE_ALIGNED_MSS), "{what}");
            assert_eq!(
                setup.mss,
                Some(4096),
                "{what}: 4108 less 12 bytes of timestamps"
            );
            let expected = match receive {
                ReceiveKind::Trunc => Verify::Discard,
                _ => Verify::Full,
            };
            assert_eq!(point.verification, expected, "{what}");
            match receive {
                ReceiveKind::Zerocopy => {
                    let mapped = point
                        .receiver
                        .mapped_bytes
                        .expect("zerocopy counts mapping");
                    let ratio = point.receiver.mapped_ratio.expect("and its share");
                    assert!((0.0..=1.0).contains(&ratio), "{what}: {ratio}");
                    assert!(mapped <= point.receiver.bytes.unwrap(), "{what}");
                    assert!(
                        setup.map_bytes.is_some() && setup.rcvlowat.is_some(),
                        "{what}"
                    );
                }
                _ => {
                    assert_eq!(point.receiver.mapped_bytes, None, "{what}: absent, not 0");
                    assert_eq!(point.receiver.mapped_ratio, None, "{what}");
                    assert_eq!(setup.map_bytes, None, "{what}");
                }
            }
        }
    }
}

/// A zero-copy sender over loopback with 4096-byte segments: the deferred copy on the receive
/// path fills order-0 pages, which the kernel can map.
fn mapping(msg_size: usize) -> PointParams {
    quick(StrategyKind::ZeroCopy, msg_size, ReceiveKind::Zerocopy)
}

#[test]
fn mapped_bytes_are_verified_and_a_corrupted_mapping_is_caught() {
    let clean = ok(&mapping(64 << 10));
    assert!(clean.verified, "{:?}", clean.error);
    let mapped = clean.receiver.mapped_bytes.unwrap();
    assert!(
        mapped > 0,
        "nothing was mapped ({:?}): the test cannot show that mapped bytes are checked",
        clean.receiver
    );
    let mut p = mapping(64 << 10);
    p.corrupt_mapping = true;
    let broken = ok(&p);
    assert!(
        !broken.verified,
        "a wrong byte in a mapping passed the check"
    );
    let error = broken.error.unwrap_or_default();
    assert!(error.contains("(in mapped bytes)"), "{error}");
}

#[test]
fn the_unaligned_remainder_is_read_and_verified() {
    // 5000-byte messages: pages and messages never line up, so both paths carry bytes.
    let point = ok(&mapping(5000));
    assert!(point.verified, "{:?}", point.error);
    let ratio = point.receiver.mapped_ratio.unwrap();
    assert!(ratio < 1.0, "everything mapped at 5000 B: {ratio}");
    // rr with 1001-byte messages: the queue never holds a page, every byte is the remainder
    // (the kernel's recv_skip_hint), and a wrong one is caught there.
    let mut rr = mapping(1001);
    rr.mode = Mode::Rr;
    let point = ok(&rr);
    assert!(point.verified, "{:?}", point.error);
    assert_eq!(
        point.receiver.mapped_bytes,
        Some(0),
        "a sub-page queue cannot map"
    );
    assert!(point.messages > 10);
    rr.corrupt_message = Some(3);
    let broken = ok(&rr);
    assert!(!broken.verified);
    let error = broken.error.unwrap_or_default();
    assert!(error.contains("(in copied bytes)"), "{error}");
}

#[test]
fn zerocopy_receive_is_refused_where_it_cannot_run() {
    let mut p = quick(StrategyKind::ScatterGather, 4096, ReceiveKind::Zerocopy);
    p.protocol = Protocol::Udp;
    match run(&p) {
        Err(EngineError::InvalidParams(e)) => {
            assert_eq!(e.param, "receive");
            assert!(e.message.contains("UDP"), "{e}");
        }
        other => panic!("UDP zerocopy receive ran: {other:?}"),
    }
    let mut p = quick(StrategyKind::ScatterGather, 4096, ReceiveKind::Zerocopy);
    p.verify = Verify::Discard;
    assert!(matches!(run(&p), Err(EngineError::InvalidParams(_))));
}

#[test]
fn verify_discard_is_still_trunc() {
    let mut p = quick(StrategyKind::ScatterGather, 4096, ReceiveKind::Read);
    p.verify = Verify::Discard;
    let point = ok(&p);
    assert!(point.verified, "{:?}", point.error);
    assert_eq!(point.receive, ReceiveKind::Trunc);
    assert_eq!(point.verification, Verify::Discard);
}

/// Synthetic points: the receive findings compare receive strategies per send strategy and
/// bracket zerocopy receive's CPU break-even against read; the send-strategy groups see only
/// the read points.
#[test]
fn receive_findings_bracket_zerocopy_against_read_and_groups_see_read_only() {
    use crate::support::{point, run};
    use copybench_core::findings::findings_for_run;
    let mut points = Vec::new();
    for rep in 0..3 {
        let j = rep as f64 * 0.01;
        for (size, read_cpu, zc_cpu) in
            [(4096, 0.50, 0.60), (16384, 0.50, 0.55), (65536, 0.50, 0.35)]
        {
            for (receive, rx) in [
                (ReceiveKind::Read, read_cpu),
                (ReceiveKind::Zerocopy, zc_cpu),
            ] {
                let mut p = point(StrategyKind::ZeroCopy, size, 1, rep, 5.0 + j, Some(0.8));
                p.receive = receive;
                p.receiver.cpu_ns_per_byte = Some(rx + j);
                if receive == ReceiveKind::Zerocopy {
                    p.receiver.mapped_bytes = Some(1);
                    p.receiver.mapped_ratio = Some(0.9);
                }
                points.push(p);
            }
        }
    }
    let r = run("netns", points);
    let f = findings_for_run(&r);
    let receive = f
        .receive
        .as_ref()
        .expect("two receive strategies: receive findings");
    assert_eq!(receive.groups.len(), 1);
    let g = &receive.groups[0];
    assert_eq!(g.strategy, StrategyKind::ZeroCopy);
    assert_eq!(g.sizes.len(), 3);
    let b = g
        .break_even_cpu
        .as_ref()
        .expect("a sign change between 16 and 64 KiB");
    assert_eq!(b.bracket_bytes, [16384, 65536]);
    assert!(b.starts_winning);
    let at_64k = &g.sizes[2].receives;
    let zc = at_64k
        .iter()
        .find(|x| x.receive == ReceiveKind::Zerocopy)
        .unwrap();
    assert_eq!(zc.mapped_ratio, Some(0.9));
    let read = at_64k
        .iter()
        .find(|x| x.receive == ReceiveKind::Read)
        .unwrap();
    assert_eq!(read.mapped_ratio, None, "read maps nothing: null, not 0");
    // The send strategies' groups: each cell holds its 3 read repetitions, not 6 mixed ones.
    for group in &f.groups {
        for s in &group.sizes {
            for x in &s.strategies {
                assert_eq!(x.repetitions, 3, "{s:?}");
            }
        }
    }
}

#[test]
fn the_grid_interleaves_and_rotates_send_and_receive_pairs() {
    use copybench_core::sweep::plan_with_receives;
    let t = PointParams::new(StrategyKind::TwoCopy, 1, 1);
    let sends = [StrategyKind::TwoCopy, StrategyKind::ZeroCopy];
    let receives = [ReceiveKind::Read, ReceiveKind::Zerocopy];
    let points = plan_with_receives(&t, &sends, &receives, &[1024, 4096], &[1], 2);
    assert_eq!(points.len(), 2 * 2 * 2 * 2);
    let mut firsts = Vec::new();
    for cell in points.chunks(4) {
        // Every pair once per cell, back to back.
        let mut pairs: Vec<_> = cell.iter().map(|p| (p.strategy, p.receive)).collect();
        firsts.push(pairs[0]);
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), 4, "{cell:?}");
        assert!(cell.iter().all(|p| p.msg_size == cell[0].msg_size));
    }
    firsts.sort();
    firsts.dedup();
    assert!(firsts.len() > 1, "the order rotates: {firsts:?}");
}
