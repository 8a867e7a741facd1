//! `--receive` through the binary: every send strategy meets every receive strategy, verified,
//! over loopback (TCP_MAXSEG 4108, the host's `lo` left alone) and between two namespaces
//! (veth MTU 61492), each point recording its receive strategy, the MSS its receivers saw and,
//! for zerocopy only, what was mapped; refusals exit 2 with the flag named.

use copybench_core::engine::{ReceiveKind, Verify};
use copybench_core::result::{CpuRole, RunResults};
use copybench_core::StrategyKind;

use crate::common::{self, copybench, is_root, skip, stderr_of};

const ALL_RECEIVES: &str = "read,trunc,zerocopy";

fn matrix(extra: &[&str]) -> RunResults {
    let mut args = vec![
        // Every send strategy, the TCP-only ones (sendfile, splice) too, with a pool large
        // enough for theirs: a buffer of theirs is rewritten only once a receiver may no longer
        // hold it unread (34 MiB on this kind of machine, 530 messages of 64 KiB).
        "--strategy",
        "twocopy,scattergather,zerocopy,uringsend,uringzc,sendfile,splice",
        "--pool",
        "600",
        "--receive",
        ALL_RECEIVES,
        "--sizes",
        "64k",
        "--duration",
        "150ms",
    ];
    args.extend_from_slice(extra);
    common::run_json(&args)
}

/// Every (send, receive) pair once, verified, with the mapping figures only where mapped.
fn check_matrix(r: &RunResults, mss: u32) {
    assert_eq!(
        r.config.receives,
        vec![ReceiveKind::Read, ReceiveKind::Trunc, ReceiveKind::Zerocopy]
    );
    assert_eq!(
        r.points.len(),
        StrategyKind::ALL.len() * ReceiveKind::ALL.len()
    );
    for s in StrategyKind::ALL {
        for receive in ReceiveKind::ALL {
            let what = format!("{s} <- {receive}");
            let p = r
                .points
                .iter()
                .find(|p| p.strategy == s && p.receive == receive)
                .unwrap_or_else(|| panic!("{what}: no point"));
            assert!(p.verified, "{what}: {:?}", p.error);
            let setup = p.receive_setup.as_ref().expect("TCP records its setup");
            assert_eq!(setup.mss, Some(mss), "{what}: the MSS the receivers saw");
            let verification = if receive == ReceiveKind::Trunc {
                Verify::Discard
            } else {
                Verify::Full
            };
            assert_eq!(p.verification, verification, "{what}");
            let mapped = p.receiver.mapped_bytes;
            assert_eq!(
                mapped.is_some(),
                receive == ReceiveKind::Zerocopy,
                "{what}: mapped_bytes only for zerocopy, absent (not 0) otherwise: {mapped:?}"
            );
            assert_eq!(
                p.receiver.mapped_ratio.is_some(),
                mapped.is_some(),
                "{what}"
            );
        }
    }
}

#[test]
fn every_send_strategy_meets_every_receive_strategy_over_loopback() {
    let r = matrix(&["--topology", "loopback"]);
    check_matrix(&r, 4096);
    for p in &r.points {
        let setup = p.receive_setup.as_ref().unwrap();
        assert_eq!(
            setup.tcp_maxseg,
            Some(4108),
            "every point of the run asks for it"
        );
    }
}

#[test]
fn every_send_strategy_meets_every_receive_strategy_between_namespaces() {
    if !is_root() {
        skip("needs root for the namespaces (CI runs as root)");
        return;
    }
    let r = matrix(&["--topology", "netns", "--placement", "apart"]);
    assert_eq!(
        r.config.topology.mtu,
        Some(61492),
        "zerocopy's page-aligned MTU by default"
    );
    check_matrix(&r, 61440);
    // Where the work ran: per CPU, with each CPU's role from the placement.
    for p in &r.points {
        assert_eq!(p.receive_setup.as_ref().unwrap().tcp_maxseg, None);
        let per_cpu = p
            .system_cpu
            .as_ref()
            .and_then(|s| s.per_cpu.as_ref())
            .expect("per-CPU time from /proc/stat");
        let roles: Vec<_> = per_cpu.iter().filter_map(|c| c.role).collect();
        if r.config.placement_note.is_some() {
            // One usable CPU: `apart` ran as `same`.
            assert!(roles.contains(&CpuRole::Both), "{roles:?}");
        } else {
            assert!(roles.contains(&CpuRole::Sender), "{roles:?}");
            assert!(roles.contains(&CpuRole::Receiver), "{roles:?}");
        }
        let busy: u64 = per_cpu.iter().map(|c| c.busy_ns()).sum();
        assert!(busy > 0, "a point that streamed used some CPU");
    }
}

#[test]
fn refusals_exit_2_naming_the_flag() {
    for (args, needle) in [
        (
            vec!["--protocol", "udp", "--receive", "zerocopy"],
            "--receive zerocopy",
        ),
        (
            vec!["--verify", "discard", "--receive", "read,zerocopy"],
            "--verify discard",
        ),
        (vec!["--receive", "splice"], "read, trunc or zerocopy"),
    ] {
        let out = copybench()
            .args(["run", "--topology", "loopback", "--sizes", "4k"])
            .args(&args)
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn verify_discard_is_the_older_spelling_of_receive_trunc() {
    let r = common::run_json(&[
        "--topology",
        "loopback",
        "--strategy",
        "sg",
        "--sizes",
        "4k",
        "--verify",
        "discard",
        "--duration",
        "150ms",
    ]);
    assert_eq!(r.config.receives, vec![ReceiveKind::Trunc]);
    for p in &r.points {
        assert!(p.verified, "{:?}", p.error);
        assert_eq!(p.receive, ReceiveKind::Trunc);
        assert_eq!(p.verification, Verify::Discard);
    }
}
