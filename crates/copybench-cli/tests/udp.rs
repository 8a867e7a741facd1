//! UDP, and the sink where zero-copy really happens on one host: through the binary, as root
//! for the namespaces (CI runs as root).

use copybench_core::result::{DemandBasis, RunResults};
use copybench_core::StrategyKind;

use crate::common::{self, copybench, is_root, skip, QUICK};

const ZERO_COPY: [StrategyKind; 2] = [StrategyKind::ZeroCopy, StrategyKind::UringZc];

/// `copybench run` with QUICK and `extra`; the exit code and the results written.
fn run(extra: &[&str]) -> (Option<i32>, RunResults, String) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = {
        let mut c = copybench();
        c.arg("run")
            .args(QUICK)
            .args(extra)
            .args(["--out", json.to_str().unwrap()]);
        c
    }
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = std::fs::read_to_string(&json).unwrap_or_else(|_| panic!("{stderr}"));
    (
        out.status.code(),
        serde_json::from_str(&text).unwrap(),
        stderr,
    )
}

#[test]
fn every_strategy_sends_verified_datagrams_over_loopback_and_counts_loss() {
    let r = common::run_json(&[
        "--topology",
        "loopback",
        "--protocol",
        "udp",
        "--sizes",
        "8,1001,60k",
        "--threads",
        "1,2",
    ]);
    assert_eq!(r.config.protocol.name(), "udp");
    assert_eq!(r.points.len(), StrategyKind::DEFAULT.len() * 3 * 2);
    for p in &r.points {
        let what = format!("{} {} x{}", p.strategy, p.msg_size, p.threads);
        assert!(p.verified, "{what}: {:?}", p.error);
        assert_eq!(p.protocol.name(), "udp");
        let udp = p.udp.as_ref().expect("UDP points carry datagram counts");
        let received = udp.received.unwrap();
        assert!(received > 0 && received <= udp.sent, "{what}: {udp:?}");
        // Two counts the receivers keep apart, datagrams and bytes, tell the same story.
        let bytes: u64 = p.per_thread.iter().filter_map(|t| t.received_bytes).sum();
        assert_eq!(bytes, received * p.msg_size as u64, "{what}: {udp:?}");
        assert!(p.throughput_gbps > 0.0, "{what}: delivered payload");
    }
}

#[test]
fn datagram_receivers_do_what_verify_says_and_demand_is_per_delivered_byte() {
    for verify in ["stamps", "off", "discard"] {
        let r = common::run_json(&[
            "--topology",
            "loopback",
            "--protocol",
            "udp",
            "-s",
            "sg",
            "--sizes",
            "1k",
            "--verify",
            verify,
        ]);
        for p in &r.points {
            assert_eq!(p.verification.name(), verify, "{:?}", p.error);
            assert!(p.verified, "{verify}: {:?}", p.error);
            let udp = p.udp.as_ref().unwrap();
            assert!(udp.received.unwrap() > 0);
            // Reordering is seen only in the stamps.
            assert_eq!(
                udp.reordered.is_some(),
                verify == "stamps",
                "{verify}: {udp:?}"
            );
            assert_eq!(
                p.service_demand_per,
                Some(DemandBasis::Delivered),
                "{verify}: UDP with receivers divides by what arrived"
            );
            let delivered = p.receiver.bytes.unwrap() as f64;
            let busy = p.system_cpu.as_ref().unwrap().busy_ns() as f64;
            let demand = p.service_demand_ns_per_byte.unwrap();
            assert!((demand * delivered - busy).abs() <= busy * 1e-9, "{verify}");
        }
    }
}

#[test]
fn on_the_sink_zero_copy_really_avoids_the_copy() {
    if !is_root() {
        skip("the sink needs root (CI runs as root)");
        return;
    }
    let (code, r, stderr) = run(&[
        "--topology",
        "sink",
        "--protocol",
        "udp",
        "--strategy",
        "zerocopy,uringzc,scattergather",
        "--sizes",
        "1k,8000",
        "--expect-zerocopy",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(r.config.topology.kind.name(), "sink");
    for p in &r.points {
        let what = format!("{} {}", p.strategy, p.msg_size);
        assert!(!p.verified, "{what}: nothing can verify on the sink");
        assert!(p.not_verifiable.is_some(), "{what}");
        assert!(p.throughput_gbps > 0.0, "{what}");
        assert_eq!(
            p.udp.as_ref().unwrap().received,
            None,
            "{what}: no receiver"
        );
        // Nothing received: null, never 0.
        assert!(
            p.per_thread.iter().all(|t| t.received_bytes.is_none()),
            "{what}"
        );
        assert_eq!(p.receiver.bytes, None, "{what}");
        assert_eq!(p.service_demand_per, Some(DemandBasis::Sent), "{what}");
        if ZERO_COPY.contains(&p.strategy) {
            let z = p.zerocopy.as_ref().unwrap();
            assert!(z.sends > 0, "{what}");
            assert_eq!(z.completions, z.sends, "{what}");
            assert_eq!(z.copied, 0, "{what}: the kernel copied on the sink");
            assert_eq!(z.copied_ratio, Some(0.0), "{what}");
        }
    }
    assert!(stderr.contains("not verifiable"), "{stderr}");
}

#[test]
fn over_veth_with_a_receiver_zero_copy_is_copied_and_expect_zerocopy_fails() {
    if !is_root() {
        skip("netns needs root (CI runs as root)");
        return;
    }
    let (code, r, stderr) = run(&[
        "--topology",
        "netns",
        "--mtu",
        "9000",
        "--protocol",
        "udp",
        "--strategy",
        "zerocopy,uringzc",
        "--sizes",
        "8000",
        "--expect-zerocopy",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--expect-zerocopy"), "{stderr}");
    for p in &r.points {
        assert!(p.verified, "{}: {:?}", p.strategy, p.error);
        let z = p.zerocopy.as_ref().unwrap();
        assert_eq!(z.completions, z.sends);
        assert_eq!(
            z.copied_ratio,
            Some(1.0),
            "{}: local delivery copies",
            p.strategy
        );
    }
}
