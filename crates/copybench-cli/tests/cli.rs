//! The `copybench` binary as a user meets it: bad input refused with exit 2 before any traffic,
//! outputs that survive Ctrl-C, CSV and JSON that scripts can read.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use copybench_core::result::RunResults;
use copybench_core::StrategyKind;

use crate::common;
use common::{copybench, QUICK};

fn run(args: &[&str]) -> Output {
    copybench().args(args).output().expect("copybench runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn quick_run(extra: &[&str]) -> Output {
    let mut args = vec!["run"];
    args.extend_from_slice(QUICK);
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn every_invalid_input_exits_2_naming_the_flag_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let unwritable = "/nonexistent-dir/results.json".to_string();
    let wrong_ext = dir.path().join("results.txt").display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--sizes", "0"], "--sizes"),
        (vec!["--sizes", "-1"], "--sizes"),
        (vec!["--sizes", "abc"], "--sizes"),
        (vec!["--sizes", "65m"], "--sizes"),
        (vec!["--sizes", ""], "--sizes"),
        (vec!["--sizes", "1k,,4k"], "--sizes"),
        (vec!["--threads", "0"], "--threads"),
        (vec!["--threads", "257"], "--threads"),
        (vec!["--threads", "two"], "--threads"),
        (vec!["--duration", "0"], "--duration"),
        (vec!["--duration", "-1s"], "--duration"),
        (vec!["--duration", "soon"], "--duration"),
        (vec!["--duration", "2h"], "--duration"),
        (vec!["--warmup", "-1s"], "--warmup"),
        (vec!["--strategy", "fastest"], "--strategy"),
        (vec!["--strategy", ""], "--strategy"),
        (vec!["--mode", "burst"], "--mode"),
        (vec!["--topology", "moon"], "--topology"),
        (vec!["--repetitions", "0"], "--repetitions"),
        (vec!["--fields", "0"], "--fields"),
        (vec!["--fields", "2000"], "--fields"),
        (vec!["--pool", "0"], "--pool"),
        (vec!["--read-size", "0"], "--read-size"),
        (vec!["--read-size", "65m"], "--read-size"),
        (vec!["--mtu", "10"], "--mtu"),
        (vec!["--align", "offset:5000"], "--align"),
        (vec!["--sender-cpus", "999"], "--sender-cpus"),
        (vec!["--sizes", "64m", "--threads", "256"], "--pool"),
        (vec!["--out", &unwritable], "--out"),
        (vec!["--out", &wrong_ext], "--out"),
        (vec!["--protocol", "quic"], "--protocol"),
        (vec!["--protocol", "udp", "--sizes", "64k"], "--sizes"),
        (vec!["--protocol", "udp", "--sizes", "4"], "--sizes"),
        (vec!["--protocol", "udp", "--mode", "rr"], "--protocol"),
        (vec!["--topology", "sink"], "--protocol"),
        (
            vec!["--fixed-buffers", "--strategy", "zerocopy"],
            "--fixed-buffers",
        ),
        (
            vec![
                "--fixed-buffers",
                "--strategy",
                "uringzc",
                "--align",
                "page",
            ],
            "--fixed-buffers",
        ),
        (vec!["--uring-depth", "0"], "--uring-depth"),
        (vec!["--uring-depth", "257"], "--uring-depth"),
        (
            vec!["--uring-depth", "4", "--strategy", "zerocopy"],
            "--uring-depth",
        ),
        (
            vec![
                "--uring-depth",
                "4",
                "--strategy",
                "uringsend",
                "--mode",
                "rr",
            ],
            "--uring-depth",
        ),
    ];
    for (args, flag) in cases {
        let started = Instant::now();
        let out = quick_run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?} should name {flag}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Gbps"), "{args:?} ran traffic: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{args:?} was not refused at once"
        );
    }
    assert!(!Path::new(&unwritable).exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn help_is_complete_and_completions_generate() {
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["doctor", "--help"],
    ] {
        let out = run(&args);
        assert!(out.status.success());
        assert!(!out.stdout.is_empty());
    }
    let help = String::from_utf8(run(&["run", "--help"]).stdout).unwrap();
    for flag in [
        "--strategy",
        "--sizes",
        "--threads",
        "--duration",
        "--warmup",
        "--repetitions",
        "--mode",
        "--topology",
        "--out",
        "--json",
        "--pin",
        "--placement",
        "--verify",
        "--align",
        "--read-size",
        "--splice-gift",
        "--udp-gso",
        "--hugepages",
    ] {
        assert!(help.contains(flag), "run --help lacks {flag}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("copybench"));
    }
}

#[test]
fn all_three_outputs_and_json_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let csv = dir.path().join("r.csv");
    let md = dir.path().join("r.md");
    let out = quick_run(&[
        "--topology",
        "loopback",
        "--strategy",
        "a1,sg,zc",
        "--sizes",
        "1k,1001",
        "--json",
        "--out",
        json.to_str().unwrap(),
        "--out",
        csv.to_str().unwrap(),
        "--out",
        md.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let from_stdout: RunResults = serde_json::from_slice(&out.stdout).expect("stdout is the JSON");
    let from_file: RunResults =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(from_stdout, from_file);
    assert!(from_file.complete);
    assert_eq!(from_file.points.len(), 6);
    assert!(from_file.points.iter().all(|p| p.verified));
    assert_eq!(from_file.config.topology.kind.name(), "loopback");

    let csv = std::fs::read_to_string(&csv).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..6],
        [
            "strategy",
            "msg_size",
            "threads",
            "repetition",
            "mode",
            "throughput_gbps"
        ]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 6);
    for row in &rows {
        assert_eq!(row.len(), header.len());
        assert!(row[5].parse::<f64>().unwrap() > 0.0);
        assert_eq!(row[10], "true");
    }
    // Recorded as used: the default 256 KiB reads of a TCP stream receiver.
    let read_size = header.iter().position(|h| *h == "read_size").unwrap();
    assert!(rows.iter().all(|r| r[read_size] == "262144"));
    let zc_ratio = header.iter().position(|h| *h == "zc_copied_ratio").unwrap();
    assert!(rows
        .iter()
        .any(|r| r[0] == "zerocopy" && r[zc_ratio] == "1"));
    assert!(
        rows.iter()
            .any(|r| r[0] == "twocopy" && r[zc_ratio].is_empty()),
        "absent is empty, not 0"
    );

    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("| strategy |") && md.contains("| zerocopy"));
    assert!(md.contains("## Findings") && md.contains("loopback tcp stream, 1 thread"));
    // The answer first: the run's five sentences as a list, before the table.
    let in_short = md.find("## In short\n\n- On loopback tcp stream (1 thread)");
    assert!(
        in_short.is_some_and(|at| at < md.find("| ").unwrap()),
        "{md}"
    );
    let table = stderr(&out);
    assert!(table.contains("not NIC zero-copy"), "{table}");
}

#[test]
fn request_response_percentiles_are_ordered_and_positive() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("rr.json");
    let out = quick_run(&[
        "--topology",
        "loopback",
        "--mode",
        "rr",
        "--sizes",
        "64,16k",
        "--threads",
        "1,2",
        "--out",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let results: RunResults =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results.points.len(), StrategyKind::DEFAULT.len() * 2 * 2);
    for p in &results.points {
        let l = p.latency_us.as_ref().expect("rr points carry latency");
        assert!(l.p50 > 0.0, "{l:?}");
        assert!(
            l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max,
            "{l:?}"
        );
        assert!(p.transactions_per_s.unwrap() > 0.0);
        assert!(p.verified);
    }
    assert!(String::from_utf8_lossy(&out.stdout).contains("p50 us"));
}

#[test]
fn a_corrupted_byte_fails_the_run() {
    let out = quick_run(&[
        "--topology",
        "loopback",
        "--strategy",
        "sg",
        "--sizes",
        "4k",
        "--corrupt-message",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        text.contains("NOT VERIFIED") && text.contains("not verified"),
        "{text}"
    );
}

#[test]
fn ctrl_c_mid_sweep_keeps_finished_points_in_valid_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("partial.json");
    let csv = dir.path().join("partial.csv");
    let child = copybench()
        .args([
            "run",
            "--topology",
            "loopback",
            "--no-progress",
            "--duration",
            "300ms",
            "--warmup",
            "0",
            "--repetitions",
            "20",
            "--sizes",
            "4k",
            "--strategy",
            "sg",
        ])
        .args([
            "--out",
            json.to_str().unwrap(),
            "--out",
            csv.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for at least two finished points.
    let started = Instant::now();
    loop {
        let done = std::fs::read_to_string(&json)
            .ok()
            .and_then(|t| serde_json::from_str::<RunResults>(&t).ok())
            .map_or(0, |r| r.points.len());
        if done >= 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no points finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let results: RunResults =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(!results.complete);
    assert!(results.interrupted.as_deref().unwrap().contains("Ctrl-C"));
    assert!(results.points.len() >= 2 && results.points.len() < 20);
    assert!(results.points.iter().all(|p| p.verified));
    let findings = results
        .findings
        .as_ref()
        .expect("an interrupted run has findings too");
    assert!(findings
        .caveats
        .iter()
        .any(|c| c.kind == copybench_core::findings::CaveatKind::Incomplete));
    let csv_rows = std::fs::read_to_string(&csv).unwrap().lines().count() - 1;
    assert_eq!(csv_rows, results.points.len());
    assert!(stderr(&out).contains(&format!("kept {} finished points", results.points.len())));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn doctor_reports_every_capability_with_what_to_do() {
    let out = run(&["doctor"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for item in [
        "kernel",
        "CPU",
        "CAP_NET_ADMIN",
        "network namespaces",
        "MSG_ZEROCOPY",
        "optmem_max",
        "io_uring",
        "counter task-clock",
        "counter cycles",
        "gap(s)",
    ] {
        assert!(text.contains(item), "doctor lacks {item}:\n{text}");
    }
    // Every gap says what to do.
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("GAP") {
            assert!(
                lines.get(i + 1).is_some_and(|n| n.contains("->")),
                "{l} has no advice"
            );
        }
    }
}
