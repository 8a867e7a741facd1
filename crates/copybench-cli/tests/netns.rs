//! The netns topology through the binary, as root (CI runs as root): traffic for every strategy
//! between two namespaces, nothing left behind even after SIGKILL, and a clear refusal
//! without CAP_NET_ADMIN.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, skip};
use common::{copybench, is_root};
use copybench_core::StrategyKind;

/// veth links visible in this (the root) namespace, and named namespaces.
fn leftovers() -> String {
    let sh = |cmd: &str| {
        let out = Command::new("sh")
            .args(["-c", cmd])
            .output()
            .expect("sh runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    format!(
        "{}{}",
        sh("ip -o link show type veth 2>/dev/null"),
        sh("ip netns list 2>/dev/null")
    )
}

#[test]
fn every_strategy_streams_verified_between_two_namespaces() {
    if !is_root() {
        skip("needs root (CI runs as root)");
        return;
    }
    let before = leftovers();
    // The default strategies; sendfile and splice, whose pools must outlast what a receiver
    // may hold unread (no 1-byte messages), stream between namespaces in `paths.rs`.
    let r = common::run_json(&[
        "--topology",
        "netns",
        "--mtu",
        "9000",
        "--sizes",
        "1,4k,64k",
        "--threads",
        "1,2",
    ]);
    assert_eq!(r.config.topology.kind.name(), "netns");
    assert_eq!(r.config.topology.mtu, Some(9000));
    assert_eq!(
        r.config.topology.receiver_addr.as_deref(),
        Some("198.18.0.1")
    );
    assert_eq!(r.config.topology.sender_addr.as_deref(), Some("198.18.0.2"));
    assert_eq!(r.points.len(), StrategyKind::DEFAULT.len() * 3 * 2);
    for p in &r.points {
        assert!(p.verified, "{} {}: {:?}", p.strategy, p.msg_size, p.error);
        assert!(p.throughput_gbps > 0.0);
    }
    let zc: Vec<_> = r
        .points
        .iter()
        .filter_map(|p| p.zerocopy.as_ref())
        .collect();
    assert!(zc
        .iter()
        .all(|z| z.completions == z.sends && z.copied_ratio == Some(1.0)));
    assert_eq!(
        leftovers(),
        before,
        "the run left a veth link or namespace behind"
    );
}

#[test]
fn io_uring_sends_in_flight_stay_in_order_between_two_namespaces() {
    // Over veth the receive path runs in softirq and sends wait for socket space: linked
    // chains of 16 sends (TCP) must still reach the receiver byte for byte in order, with
    // packed 8-field messages from registered buffers too.
    if !is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    let before = leftovers();
    for extra in [&[][..], &["--fixed-buffers"][..]] {
        let mut args = vec![
            "--topology",
            "netns",
            "--strategy",
            "uringsend,uringzc",
            "--sizes",
            "1k,64k,1m",
            "--uring-depth",
            "16",
            "--verify",
            "full",
        ];
        if !extra.is_empty() {
            args[3] = "uringzc";
            args.extend_from_slice(extra);
        }
        let r = common::run_json(&args);
        assert!(!r.points.is_empty());
        for p in &r.points {
            assert!(p.verified, "{} {}: {:?}", p.strategy, p.msg_size, p.error);
            assert_eq!(p.uring_depth, Some(16));
            let setup = p.uring.as_ref().expect("setup recorded");
            assert!(setup.linked, "{setup:?}");
            assert_eq!(p.fixed_buffers, !extra.is_empty());
        }
    }
    assert_eq!(
        leftovers(),
        before,
        "the run left a veth link or namespace behind"
    );
}

#[test]
fn sigkill_mid_run_leaves_nothing_behind() {
    if !is_root() {
        skip("needs root (CI runs as root)");
        return;
    }
    let before = leftovers();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("killed.json");
    let mut child = copybench()
        .args([
            "run",
            "--topology",
            "netns",
            "--sizes",
            "64k",
            "--threads",
            "2",
            "--strategy",
            "zc",
        ])
        .args([
            "--duration",
            "30s",
            "--warmup",
            "0",
            "--repetitions",
            "1",
            "--no-progress",
        ])
        .args(["--out", json.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until the run is inside its namespaces: its threads are in a network namespace
    // other than ours.
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    let started = Instant::now();
    let mut namespaces = Vec::new();
    while namespaces.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the run never entered a namespace"
        );
        std::thread::sleep(Duration::from_millis(50));
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for t in tasks.flatten() {
                if let Ok(ns) = std::fs::read_link(t.path().join("ns/net")) {
                    if ns != ours && !namespaces.contains(&ns) {
                        namespaces.push(ns);
                    }
                }
            }
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The kernel frees a namespace once nothing refers to it; give it a moment.
    let gone = |ns: &std::path::PathBuf| {
        std::fs::read_dir("/proc").unwrap().flatten().all(|p| {
            std::fs::read_dir(p.path().join("task")).map_or(true, |tasks| {
                tasks
                    .flatten()
                    .all(|t| std::fs::read_link(t.path().join("ns/net")).ok().as_ref() != Some(ns))
            })
        })
    };
    let started = Instant::now();
    while !namespaces.iter().all(gone) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "namespaces {namespaces:?} outlived the run"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        leftovers(),
        before,
        "SIGKILL left a veth link or namespace behind"
    );
    let tmp: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(tmp.is_empty(), "temp files left: {tmp:?}");
}

#[test]
fn without_cap_net_admin_netns_is_refused_with_exit_2() {
    if !is_root() {
        skip("needs root to drop a capability (CI runs as root)");
        return;
    }
    let before = leftovers();
    let out = Command::new("setpriv")
        .args(["--inh-caps=-net_admin", "--bounding-set=-net_admin", "--"])
        .arg(env!("CARGO_BIN_EXE_copybench"))
        .args([
            "run",
            "--topology",
            "netns",
            "--sizes",
            "1k",
            "--duration",
            "100ms",
            "--no-progress",
        ])
        .output()
        .expect("setpriv (util-linux) runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("CAP_NET_ADMIN"), "{err}");
    assert!(err.contains("--topology loopback"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(leftovers(), before);

    // And `auto` falls back to loopback, saying so.
    let out = Command::new("setpriv")
        .args(["--inh-caps=-net_admin", "--bounding-set=-net_admin", "--"])
        .arg(env!("CARGO_BIN_EXE_copybench"))
        .args([
            "run",
            "--sizes",
            "1k",
            "--strategy",
            "sg",
            "--duration",
            "100ms",
            "--warmup",
            "0",
            "--repetitions",
            "1",
            "--no-progress",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("running over loopback"), "{err}");
}
