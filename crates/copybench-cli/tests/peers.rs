//! `copybench peers` for real: copybench and iperf3 over loopback and between two namespaces,
//! their points in the results, and no peer process left behind, neither after a clean run nor
//! after copybench is killed with SIGKILL in the middle of a peer's test.
//!
//! Needs iperf3 (`scripts/install-deps.sh`, which `cargo xtask test` runs first); the netns and
//! SIGKILL tests need root (CI runs as root). Without them a test says so and passes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use copybench_core::result::RunResults;

use crate::common::{self, skip};
use common::{copybench, is_root};

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

const PEERS: [&str; 4] = ["iperf3", "iperf", "sockperf", "nuttcp"];

/// (pid, parent pid, command name) of every process.
fn processes() -> Vec<(u32, u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces, so split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        out.push((pid, ppid, comm));
    }
    out
}

/// Processes whose command line holds one of `ports` after a port flag: this run's peers.
fn peers_using(ports: &[String]) -> Vec<String> {
    processes()
        .into_iter()
        .filter(|(_, _, comm)| PEERS.contains(&comm.as_str()) || comm == "taskset")
        .filter_map(|(pid, _, _)| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let words: Vec<String> = cmdline
                .split(|&b| b == 0)
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            words
                .iter()
                .any(|w| {
                    ports
                        .iter()
                        .any(|p| w == p || w.ends_with(&format!("P{p}")))
                })
                .then(|| format!("{pid}: {}", words.join(" ")))
        })
        .collect()
}

/// The ports every peer point of `r` used (from its recorded command lines).
fn ports_of(r: &RunResults) -> Vec<String> {
    let mut ports = Vec::new();
    for p in &r.points {
        let Some(f) = &p.peer else { continue };
        for cmd in [&f.server_command, &f.client_command] {
            for pair in cmd.windows(2) {
                if pair[0] == "-p" {
                    ports.push(pair[1].clone());
                }
            }
        }
    }
    ports
}

fn peers_run(topology: &str) -> RunResults {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("peers.json");
    let out = copybench()
        .args(["peers", "--peers", "iperf3", "--topology", topology])
        .args(["--sizes", "4k", "--duration", "1s", "--warmup", "100ms"])
        .args(["--repetitions", "2", "--out", json.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("cb/iperf3"), "no ratio column: {stdout}");
    let results: RunResults =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    report_has_the_peers_table(&results, &json);
    results
}

/// `copybench plot` on a peers run: the "copybench vs peers" section, with copybench's median
/// over iperf3's in the table.
fn report_has_the_peers_table(r: &RunResults, json: &std::path::Path) {
    let html_path = json.with_extension("html");
    let out = copybench()
        .arg("plot")
        .arg(json)
        .arg("-o")
        .arg(&html_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("id=\"chart-peers\""), "no peers chart");
    assert!(html.contains("<th>cb / iperf3</th>"), "no ratio column");
    // Two repetitions each: the median is their mean.
    let mean = |tool: &str| {
        let v: Vec<f64> = r
            .points
            .iter()
            .filter(|p| p.tool == tool)
            .map(|p| p.throughput_gbps)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let ratio = format!("<td>{:.3}</td>", mean("copybench") / mean("iperf3"));
    assert!(html.contains(&ratio), "no {ratio} in the peers table");
}

fn check(r: &RunResults, topology: &str) {
    assert_eq!(r.config.topology.kind.name(), topology);
    assert!(r.complete);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    for tool in ["copybench", "iperf3"] {
        let points: Vec<_> = r.points.iter().filter(|p| p.tool == tool).collect();
        assert_eq!(points.len(), 2, "{tool}: one point per repetition");
        for p in points {
            assert!(p.throughput_gbps > 0.0, "{tool}: {}", p.throughput_gbps);
            assert_eq!(p.msg_size, 4096);
            assert_eq!(p.fields, 1);
            assert_eq!(p.pool, 1, "{tool}: one buffer, as the peers write from one");
            if tool == "copybench" {
                // Reads of the write size and a stamp check, as recorded.
                assert_eq!(p.read_size, Some(4096));
                assert_eq!(p.verification.name(), "stamps");
            }
            let f = p.peer.as_ref().expect("peers figures on every point");
            if tool == "iperf3" {
                assert_eq!(f.throughput_side, "receiver");
                assert!(f.client_command.iter().any(|w| w == "-J"));
                assert!(!p.verified, "peers check no bytes");
            } else {
                assert!(p.verified, "{:?}", p.error);
            }
        }
    }
    // Both sides pinned as --placement apart says, in the record and in iperf3's options.
    let pin = r.config.pin.as_ref().unwrap();
    assert_eq!(
        (pin.sender_cpus.clone(), pin.receiver_cpus.clone()),
        (vec![0], vec![1])
    );
    let iperf3 = r.points.iter().find(|p| p.tool == "iperf3").unwrap();
    let f = iperf3.peer.as_ref().unwrap();
    assert!(f.client_command.windows(2).any(|w| w == ["-A", "0"]));
    assert!(f.server_command.windows(2).any(|w| w == ["-A", "1"]));
    // Alternated: the order of the two tools changes between rounds.
    let order: Vec<&str> = r.points.iter().map(|p| p.tool.as_str()).collect();
    assert_ne!(order[0], order[2], "tools alternate: {order:?}");
    let left = peers_using(&ports_of(r));
    assert!(left.is_empty(), "peer processes left behind: {left:?}");
}

#[test]
fn copybench_and_iperf3_side_by_side_over_loopback() {
    if !have("iperf3") {
        skip("iperf3 is not installed (scripts/install-deps.sh)");
        return;
    }
    check(&peers_run("loopback"), "loopback");
}

#[test]
fn copybench_and_iperf3_side_by_side_between_namespaces() {
    if !is_root() || !have("iperf3") {
        skip("needs root and iperf3");
        return;
    }
    let r = peers_run("netns");
    check(&r, "netns");
    let f = r.points.iter().find(|p| p.tool == "iperf3").unwrap();
    let client = &f.peer.as_ref().unwrap().client_command;
    assert!(
        client.windows(2).any(|w| w == ["-c", "198.18.0.1"]),
        "{client:?}"
    );
}

#[test]
fn a_missing_peer_is_reported_not_a_crash() {
    // PATH without the peers: every one of them is missing, copybench still runs.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("peers.json");
    let out = copybench()
        .env("PATH", dir.path())
        .args(["peers", "--topology", "loopback", "--sizes", "1k"])
        .args(["--duration", "1s", "--warmup", "0", "--repetitions", "1"])
        .args(["--out", json.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("iperf3 is not installed"), "{stderr}");
    let r: RunResults = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let missing: Vec<&str> = r.unsupported.iter().map(|u| u.tool.as_str()).collect();
    assert_eq!(missing, PEERS);
    assert_eq!(r.points.len(), 1);
    assert_eq!(r.points[0].tool, "copybench");
}

#[test]
fn bad_options_exit_2_naming_the_flag() {
    for (args, flag) in [
        (&["--duration", "1500ms"][..], "--duration"),
        (&["--peers", "netperf"][..], "--peers"),
        (&["--out", "x.csv"][..], "--out"),
        (&["--topology", "remote"][..], "--topology"),
        (&["--placement", "far"][..], "--placement"),
        (&["--verify", "discard"][..], "--verify"),
        (&["--read-size", "0"][..], "--read-size"),
    ] {
        let out = copybench().arg("peers").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}

#[test]
fn sigkill_of_copybench_takes_its_peers_with_it() {
    if !is_root() || !have("iperf3") {
        skip("needs root and iperf3");
        return;
    }
    let mut child = copybench()
        .args(["peers", "--peers", "iperf3", "--topology", "netns"])
        .args(["--sizes", "1k", "--duration", "10s", "--warmup", "0"])
        .args(["--repetitions", "1", "--no-counters"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let me = child.id();
    // copybench runs first (10 s), then iperf3's server and client: wait for both.
    let started = Instant::now();
    let peers = loop {
        let kids: Vec<u32> = processes()
            .into_iter()
            .filter(|(_, ppid, comm)| *ppid == me && comm == "iperf3")
            .map(|(pid, _, _)| pid)
            .collect();
        if kids.len() == 2 {
            break kids;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "iperf3 server and client never both ran under copybench"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL: no destructor, no signal handler runs
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<u32> = peers
            .iter()
            .copied()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains("(iperf3)") && !s.contains(") Z "))
            })
            .collect();
        if alive.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "iperf3 {alive:?} outlived the SIGKILLed copybench"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn peers_paced_alike_report_each_side_s_cpu_at_the_rate() {
    if !have("iperf3") {
        skip("iperf3 is not installed (scripts/install-deps.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("paced.json");
    let out = copybench()
        .args([
            "peers",
            "--peers",
            "iperf3",
            "--topology",
            "loopback",
            "--rate",
            "1g",
        ])
        .args(["--sizes", "16k", "--duration", "3s", "--warmup", "100ms"])
        .args(["--repetitions", "1", "--out", json.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let r: RunResults = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for tool in ["copybench", "iperf3"] {
        let p = r.points.iter().find(|p| p.tool == tool).expect(tool);
        let pacing = p
            .pacing
            .as_ref()
            .unwrap_or_else(|| panic!("{tool}: no pacing"));
        assert_eq!(pacing.target_bps, 1_000_000_000, "{tool}");
        let share = p.throughput_gbps;
        assert!(
            (0.8..=1.05).contains(&share),
            "{tool}: {} Gbps",
            p.throughput_gbps
        );
        // Each side's CPU per byte and utilisation, copybench's from its threads' clocks,
        // iperf3's from /proc/PID/stat of its client and server (10 ms ticks: 1 Gbit/s for 3 s
        // is hundreds of milliseconds of CPU on either side): measured, and not a whole CPU.
        for (side, m) in [("sender", &p.sender), ("receiver", &p.receiver)] {
            let ns = m
                .cpu_ns_per_byte
                .unwrap_or_else(|| panic!("{tool} {side}: no CPU/B"));
            assert!(ns > 0.0 && ns < 50.0, "{tool} {side}: {ns} ns/B");
            let pct = m.cpu_utilisation_pct.unwrap();
            assert!(pct > 0.0 && pct < 90.0, "{tool} {side}: {pct}%");
        }
    }
    let iperf3 = r.points.iter().find(|p| p.tool == "iperf3").unwrap();
    let client = &iperf3.peer.as_ref().unwrap().client_command;
    assert!(
        client.windows(2).any(|w| w == ["-b", "1000000000"]),
        "{client:?}"
    );
}

#[test]
fn a_peers_run_goes_through_runs_sweep_with_its_findings() {
    // No peer on PATH: copybench's own points alone, through `run`'s plan and sweep.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("peers.json");
    let out = copybench()
        .env("PATH", dir.path())
        .args(["peers", "--topology", "loopback", "--sizes", "1k,4k"])
        .args(["--duration", "1s", "--warmup", "0", "--repetitions", "1"])
        .args(["--placement", "same", "--out", json.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // run's progress (no terminal: one line before, one per point).
    assert!(stderr.contains("running 2 points"), "{stderr}");
    assert!(stderr.contains("[1/2] copybench 1k x1 rep 1: "), "{stderr}");
    assert!(stderr.contains("[2/2] copybench 4k x1 rep 1: "), "{stderr}");
    let r: RunResults = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(r.complete);
    assert_eq!(r.points.len(), 2);
    for p in &r.points {
        let f = p
            .peer
            .as_ref()
            .expect("copybench's point in the peers' terms");
        assert_eq!(f.throughput_side, "sender");
        assert_eq!(p.placement.map(|p| p.name()), Some("same"));
    }
    // The findings of copybench's own points, as `copybench run` stores them.
    assert!(r.findings.is_some(), "no findings in a peers run");
    assert_eq!(r.config.pin.as_ref().unwrap().sender_cpus, vec![0]);
}
