//! Issue 12, "fair to every strategy" (items 5-9): figures that cannot hide a copy, both sides'
//! rates, the cost of checking, placement as a recorded parameter, and host facts that say
//! what they are. Real runs of the binary, real sockets (namespaces as root).

use std::process::Command;

use copybench_core::engine::Verify;
use copybench_core::result::{Placement, Point, RunResults};
use copybench_core::sweep::Spread;

use crate::common::{self, copybench, is_root, quick_unless_in, skip};

/// netns when root (the topology the issue measured), loopback otherwise.
fn topology() -> &'static str {
    if is_root() {
        "netns"
    } else {
        "loopback"
    }
}

fn median(points: &[Point], f: impl Fn(&Point) -> Option<f64>) -> f64 {
    let v: Vec<f64> = points.iter().filter_map(f).collect();
    assert_eq!(v.len(), points.len(), "a figure is missing");
    Spread::of(&v).unwrap().median
}

#[test]
fn service_demand_counts_the_whole_machine_and_is_never_below_the_senders_threads() {
    let r = common::run_json(&[
        "--topology",
        topology(),
        "-s",
        "sg,zc",
        "--sizes",
        "64k",
        "--threads",
        "2",
        "--duration",
        "1s",
    ]);
    for p in &r.points {
        let demand = p
            .service_demand_ns_per_byte
            .expect("service demand measured");
        let thread = p
            .sender
            .cpu_ns_per_byte
            .expect("sender thread CPU measured");
        assert!(
            demand >= thread,
            "{}: system {demand} < sender thread {thread} ns/B",
            p.strategy
        );
        let sys = p.system_cpu.as_ref().unwrap();
        assert!(sys.steal_ns.is_some(), "steal is reported");
        // No machine is busier than all its CPUs for the whole interval (plus a 10 ms tick
        // per CPU at each end): a wrong unit or a wrong divisor lands outside.
        let cpus = r.host.cores_online.expect("cores_online") as f64;
        let most = cpus * (p.duration_s + 0.02) * 1e9 / p.bytes as f64;
        assert!(
            demand <= most,
            "{}: {demand} ns/B is more than {cpus} CPUs busy throughout ({most})",
            p.strategy
        );
    }
    let state = r.host.irq_time_accounting.as_deref().expect("recorded");
    assert_eq!(
        state,
        irq_time_accounting_from_zcat(),
        "host.irq_time_accounting"
    );
    assert!(r.host.irq_time_accounting_source.is_some());
}

/// CONFIG_IRQ_TIME_ACCOUNTING as `zcat /proc/config.gz` shows it: `on`, `off`, or `unknown`
/// where the kernel does not expose its configuration there (copybench then tries /boot).
fn irq_time_accounting_from_zcat() -> &'static str {
    let Ok(out) = Command::new("zcat").arg("/proc/config.gz").output() else {
        return "unknown";
    };
    if !out.status.success() {
        let boot = format!(
            "/boot/config-{}",
            String::from_utf8_lossy(&Command::new("uname").arg("-r").output().unwrap().stdout)
                .trim()
        );
        return match std::fs::read_to_string(boot) {
            Ok(text) if text.contains("CONFIG_IRQ_TIME_ACCOUNTING=y") => "on",
            Ok(_) => "off",
            Err(_) => "unknown",
        };
    }
    if String::from_utf8_lossy(&out.stdout).contains("CONFIG_IRQ_TIME_ACCOUNTING=y") {
        "on"
    } else {
        "off"
    }
}

#[test]
fn the_receivers_rate_is_reported_and_the_summary_flags_every_disagreement_over_5_percent() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let extra = [
        "--topology",
        topology(),
        "--sizes",
        "16k",
        "--threads",
        "2",
        "--repetitions",
        "3",
    ];
    let out = copybench()
        .arg("run")
        .args(quick_unless_in(&extra))
        .args(extra)
        .args(["--out", json.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: RunResults = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for p in &r.points {
        let what = format!("{} rep {}", p.strategy, p.repetition + 1);
        let got = p.receiver.throughput_gbps.expect("receiver rate");
        assert!(p.receiver.bytes.unwrap() > 0);
        let off = p.rate_disagreement().unwrap();
        // Whatever this noisy machine did, the two sides watched the same traffic.
        assert!(
            off < 0.5,
            "{what}: senders {} receivers {got} Gbps",
            p.throughput_gbps
        );
        // And where they disagree by more than the summary's 5%, the summary says so, with
        // this point's figures.
        let flagged = stdout.lines().any(|l| {
            l.contains(&format!("{} 16k x2 rep {}:", p.strategy, p.repetition + 1))
                && l.contains(&format!("{got:.2} Gbps"))
        });
        assert_eq!(
            flagged,
            off > copybench_core::result::RATE_AGREEMENT,
            "{what}: {:.1}% apart; summary:\n{stdout}",
            off * 100.0
        );
    }
}

#[test]
fn discard_costs_the_receiver_less_cpu_per_byte_than_full_verification() {
    let run = |verify: &str| {
        common::run_json(&[
            "--topology",
            topology(),
            "-s",
            "sg",
            "--sizes",
            "64k",
            "--threads",
            "1",
            "--duration",
            "500ms",
            "--repetitions",
            "3",
            "--verify",
            verify,
        ])
    };
    let (full, discard) = (run("full"), run("discard"));
    assert_eq!(full.config.verification, Verify::Full);
    assert_eq!(discard.config.verification, Verify::Discard);
    assert!(discard
        .points
        .iter()
        .all(|p| p.verified && p.verification == Verify::Discard));
    let rx = |r: &RunResults| median(&r.points, |p| p.receiver.cpu_ns_per_byte);
    let (f, d) = (rx(&full), rx(&discard));
    assert!(
        d < f,
        "receiver CPU ns/B: discard {d} is not below full {f}"
    );
}

#[test]
fn the_summary_says_when_content_was_not_checked() {
    let out = copybench()
        .arg("run")
        .args(quick_unless_in(&[]))
        .args([
            "--topology",
            "loopback",
            "-s",
            "sg",
            "--sizes",
            "4k",
            "--verify",
            "off",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("verify off"), "{table}");
    assert!(table.contains("content NOT checked"), "{table}");
    let out = copybench()
        .arg("run")
        .args(quick_unless_in(&[]))
        .args(["--topology", "loopback", "--verify", "everything"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--verify"));
}

fn pairs(p: &Point) -> Vec<(Option<usize>, Option<usize>)> {
    p.per_thread
        .iter()
        .map(|t| (t.sender_cpu, t.receiver_cpu))
        .collect()
}

#[test]
fn placement_is_apart_by_default_and_same_puts_each_pair_on_one_cpu() {
    let cpus = core_affinity_count();
    // The default, as a user gets it: no placement option at all.
    let apart = default_placement_run();
    let same = common::run_json(&[
        "--topology",
        "loopback",
        "-s",
        "sg",
        "--sizes",
        "4k",
        "-t",
        "2",
        "--placement",
        "same",
    ]);
    let none = common::run_json(&[
        "--topology",
        "loopback",
        "-s",
        "sg",
        "--sizes",
        "4k",
        "--placement",
        "none",
    ]);
    for p in &same.points {
        assert_eq!(p.placement, Some(Placement::Same));
        assert!(
            pairs(p).iter().all(|(s, r)| s.is_some() && s == r),
            "{:?}",
            pairs(p)
        );
    }
    assert_eq!(same.config.placement, Some(Placement::Same));
    for p in &apart.points {
        if cpus >= 2 {
            assert_eq!(p.placement, Some(Placement::Apart));
            assert!(pairs(p)
                .iter()
                .all(|(s, r)| s.is_some() && r.is_some() && s != r));
        }
    }
    for p in &none.points {
        assert_eq!(p.placement, Some(Placement::Unpinned));
        assert!(pairs(p).iter().all(|(s, r)| s.is_none() && r.is_none()));
    }
    let custom = common::run_json(&[
        "--topology",
        "loopback",
        "-s",
        "sg",
        "--sizes",
        "4k",
        "--sender-cpus",
        "0",
    ]);
    assert_eq!(custom.points[0].placement, Some(Placement::Custom));
    assert_eq!(custom.points[0].per_thread[0].sender_cpu, Some(0));
}

/// A quick run with no placement option (QUICK's `--placement none` left out).
fn default_placement_run() -> RunResults {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("default.json");
    let quick: Vec<&str> = common::QUICK
        .iter()
        .copied()
        .filter(|a| !["--placement", "none"].contains(a))
        .collect();
    let out = copybench()
        .arg("run")
        .args(quick)
        .args([
            "--topology",
            "loopback",
            "-s",
            "sg",
            "--sizes",
            "4k",
            "-t",
            "2",
        ])
        .args(["--out", json.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

fn core_affinity_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn apart_on_one_cpu_falls_back_to_same_and_says_so() {
    if Command::new("taskset").arg("--version").output().is_err() {
        skip("no taskset");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("one.json");
    let out = Command::new("taskset")
        .args(["-c", "0", env!("CARGO_BIN_EXE_copybench"), "run"])
        .args(quick_unless_in(&["--placement"]))
        .args(["--placement", "apart"])
        .args([
            "--topology",
            "loopback",
            "-s",
            "sg",
            "--sizes",
            "4k",
            "-t",
            "2",
        ])
        .args(["--out", json.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("apart is impossible"), "{stderr}");
    let r: RunResults = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r.config.placement, Some(Placement::Same));
    assert!(r
        .config
        .placement_note
        .as_deref()
        .unwrap()
        .contains("one usable CPU"));
    assert!(r.points.iter().all(|p| p.placement == Some(Placement::Same)
        && pairs(p).iter().all(|&(s, r)| s == Some(0) && r == Some(0))));
    assert_eq!(
        r.host.cores_usable,
        Some(1),
        "the affinity mask, as the process sees it"
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("placement same"), "{table}");
}

#[test]
fn pin_is_apart_and_cannot_be_combined_with_another_placement() {
    let r = common::run_json(&[
        "--topology",
        "loopback",
        "-s",
        "sg",
        "--sizes",
        "4k",
        "--pin",
    ]);
    if core_affinity_count() >= 2 {
        assert_eq!(r.config.placement, Some(Placement::Apart));
    }
    let out = copybench()
        .arg("run")
        .args(quick_unless_in(&["--pin", "--placement"]))
        .args(["--pin", "--placement", "same"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--placement"));
}

#[test]
fn host_facts_say_where_figures_come_from_and_what_cores_count() {
    let r = common::run_json(&["--topology", "loopback", "-s", "sg", "--sizes", "4k"]);
    let source = |k: &str| r.host.counter_sources[k].as_str().unwrap().to_string();
    assert!(source("task-clock").contains("CLOCK_THREAD_CPUTIME_ID"));
    assert!(source("context-switches").contains("/proc/thread-self/status"));
    assert!(source("cycles").starts_with("perf event"));
    for k in r.host.counters_available.keys() {
        assert!(r.host.counter_sources.contains_key(k), "{k} has no source");
    }
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    assert!(r.host.cores_online.unwrap() >= r.host.cores_usable.unwrap());
    assert!(!online.is_empty());
}

/// Every key a real point, host and config carry is documented in docs/results.md, and every
/// key the point table documents is in a real point (the table once listed a `counters` that
/// no point has).
#[test]
fn docs_results_md_matches_the_json() {
    let doc = include_str!("../../../docs/results.md");
    let v = common::run_value(&["--topology", "loopback", "-s", "zc", "--sizes", "4k"]);
    let point = v["points"][0].as_object().unwrap();
    let mut undocumented = Vec::new();
    for (what, map) in [
        ("point", point),
        ("host", v["host"].as_object().unwrap()),
        ("config", v["config"].as_object().unwrap()),
        ("results", v.as_object().unwrap()),
        ("system_cpu", point["system_cpu"].as_object().unwrap()),
        ("receiver", point["receiver"].as_object().unwrap()),
        ("per_thread", point["per_thread"][0].as_object().unwrap()),
    ] {
        for k in map.keys() {
            if !doc.contains(&format!("`{k}`")) && !doc.contains(&format!("\"{k}\"")) {
                undocumented.push(format!("{what}.{k}"));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "not in docs/results.md: {undocumented:?}"
    );
    // The point table: `| `key`, `key` | meaning |` rows between "A point:" and the table of
    // the sides.
    let table = doc
        .split("A point:")
        .nth(1)
        .unwrap()
        .split("`sender` and `receiver` (each side")
        .next()
        .unwrap();
    let mut phantom = Vec::new();
    // Written only where they apply: UDP points (`udp`), sink points (`not_verifiable`) and
    // paced points (`pacing`); the udp, sink and paced tests read them from real runs.
    const CONDITIONAL: [&str; 3] = ["udp", "not_verifiable", "pacing"];
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap();
        for key in first.split('`').skip(1).step_by(2) {
            if !point.contains_key(key) && !CONDITIONAL.contains(&key) {
                phantom.push(key.to_string());
            }
        }
    }
    assert!(
        phantom.is_empty(),
        "documented as point keys but absent: {phantom:?}"
    );
}
