//! The answers, through the real binary: findings at the end of `copybench run` (JSON and
//! terminal), `copybench compare` flagging a doctored regression and not the noise, and
//! `copybench crossover` over loopback.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use copybench_core::engine::{ReceiveKind, Verify};
use copybench_core::findings::{headline, CaveatKind, Crossing, Figure, HEADLINE_MAX};
use copybench_core::result::{Placement, RunResults};
use copybench_core::StrategyKind;

use crate::common::copybench;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A real quick loopback run with `reps` repetitions, written to `path`; returns its output.
fn real_run(path: &Path, strategies: &str, sizes: &str, reps: &str) -> Output {
    let out = {
        let mut c = copybench();
        c.args(["run", "--topology", "loopback", "--strategy", strategies])
            .args(["--sizes", sizes])
            .arg("--no-progress")
            .args([
                "--duration",
                "300ms",
                "--warmup",
                "30ms",
                "--repetitions",
                reps,
            ])
            // A small pool: loopback zero-copy stalls less (see common::QUICK).
            .args(["--pool", "16"])
            .args(["--out", path.to_str().unwrap()]);
        c
    }
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

fn read(path: &Path) -> RunResults {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn write(path: &Path, r: &RunResults) {
    std::fs::write(path, serde_json::to_string_pretty(r).unwrap()).unwrap();
}

#[test]
fn a_run_stores_and_prints_its_findings() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = real_run(&json, "twocopy,zerocopy", "1k,64k", "2");
    let text = stdout(&out);
    let after_table = text.split("\nFindings\n").nth(1).unwrap_or_else(|| {
        panic!("no findings after the summary table:\n{text}");
    });
    assert!(
        after_table.starts_with("loopback tcp stream, 1 thread"),
        "{text}"
    );
    assert!(
        after_table.contains("zerocopy breaks even with twocopy"),
        "{text}"
    );
    assert!(after_table.contains("not NIC zero-copy"), "{text}");

    // It ends with the report's sentences (core's headline of the stored findings), then the
    // files written.
    let r = read(&json);
    let sentences = headline(r.findings.as_ref().expect("findings in the JSON"));
    assert!(!sentences.is_empty() && sentences.len() <= HEADLINE_MAX);
    let in_short = text
        .split("\nIn short\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no headline after the findings:\n{text}"));
    assert_eq!(in_short.lines().collect::<Vec<_>>(), sentences, "{text}");
    let err = stderr(&out);
    assert!(
        err.trim_end()
            .ends_with(&format!("wrote {}", json.display())),
        "{err}"
    );

    let f = r.findings.expect("findings in the JSON");
    assert_eq!(f.groups.len(), 1);
    let g = &f.groups[0];
    assert_eq!((g.topology.name(), g.protocol.name()), ("loopback", "tcp"));
    assert_eq!(g.sizes.len(), 2);
    let zc: Vec<Figure> = g
        .break_even
        .iter()
        .filter(|b| b.strategy == StrategyKind::ZeroCopy)
        .map(|b| b.metric)
        .collect();
    assert_eq!(zc, [Figure::ThroughputGbps, Figure::SenderCpuNsPerByte]);
    assert!(g
        .break_even
        .iter()
        .all(|b| !matches!(b.result, Crossing::NotMeasured { .. })));
    assert!(g
        .caveats
        .iter()
        .any(|c| c.kind == CaveatKind::NotNicZeroCopy));
    // Two repetitions can never declare a winner.
    assert!(g
        .sizes
        .iter()
        .all(|s| !matches!(s.verdict, copybench_core::findings::Verdict::Winner { .. })));
}

#[test]
fn quiet_prints_only_the_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("q.json");
    let out = copybench()
        .args([
            "run",
            "--topology",
            "loopback",
            "--strategy",
            "twocopy,scattergather",
        ])
        .args(["--sizes", "4k", "--duration", "200ms", "--warmup", "20ms"])
        .args(["--repetitions", "2", "--pool", "16", "--placement", "none"])
        .arg("--quiet")
        .args(["--out", json.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Nothing of the progress, the points, the table or the files.
    assert_eq!(stderr(&out), "", "stderr under --quiet");
    let text = stdout(&out);
    let r = read(&json);
    assert_eq!(r.points.len(), 4, "the run itself is whole");
    let sentences = headline(r.findings.as_ref().unwrap());
    assert_eq!(text.lines().collect::<Vec<_>>(), sentences, "{text}");
    assert!(
        text.starts_with("On loopback tcp stream (1 thread), by median throughput: "),
        "{text}"
    );
    // Errors still reach stderr: a bad size is refused with exit 2, quiet or not.
    let bad = copybench()
        .args(["run", "--topology", "loopback", "--sizes", "0", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("error"), "{}", stderr(&bad));
    assert_eq!(stdout(&bad), "");
}

/// The indices of each cell's points (its repetitions), by (strategy, size, threads).
fn cells(r: &RunResults) -> BTreeMap<(StrategyKind, usize, usize), Vec<usize>> {
    let mut cells: BTreeMap<_, Vec<usize>> = BTreeMap::new();
    for (i, p) in r.points.iter().enumerate() {
        cells
            .entry((p.strategy, p.msg_size, p.threads))
            .or_default()
            .push(i);
    }
    cells
}

/// Every cell's figures replaced by a quiet machine's: the cell's median, repetitions 1%
/// apart. Real cells, real structure; only the noise is taken out so that a 20% change is
/// beyond it (on this shared VM loopback repetitions vary by 20-70%).
fn quiet(mut r: RunResults) -> RunResults {
    for idx in cells(&r).values() {
        let med = |get: &dyn Fn(&copybench_core::result::Point) -> Option<f64>| {
            let v: Vec<f64> = idx.iter().filter_map(|&i| get(&r.points[i])).collect();
            copybench_core::stats::median(&v)
        };
        let tp = med(&|p| Some(p.throughput_gbps)).unwrap();
        let cpu = med(&|p| p.sender.cpu_ns_per_byte);
        let p99 = med(&|p| p.latency_us.as_ref().map(|l| l.p99));
        for (k, &i) in idx.iter().enumerate() {
            let f = 1.0 + 0.01 * (k as f64 - 1.0);
            let p = &mut r.points[i];
            p.throughput_gbps = tp * f;
            p.sender.cpu_ns_per_byte = cpu.map(|c| c * f);
            if let (Some(l), Some(v)) = (p.latency_us.as_mut(), p99) {
                l.p99 = v * f;
            }
        }
    }
    r.findings = None;
    r
}

fn compare(old: &Path, new: &Path, extra: &[&str]) -> Output {
    copybench()
        .args(["compare", old.to_str().unwrap(), new.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn compare_flags_a_doctored_regression_and_not_the_noise() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    real_run(&real, "twocopy,scattergather", "4k,64k", "3");
    let base = quiet(read(&real));
    let old = dir.path().join("old.json");
    write(&old, &base);

    // Noise: the same repetitions in another order, each moved by up to 3%.
    let mut jittered = base.clone();
    for (i, p) in jittered.points.iter_mut().enumerate() {
        p.throughput_gbps *= [1.03, 0.97, 1.0][i % 3];
        p.sender.cpu_ns_per_byte = p
            .sender
            .cpu_ns_per_byte
            .map(|c| c * [0.98, 1.02, 1.0][i % 3]);
    }
    let noise = dir.path().join("noise.json");
    write(&noise, &jittered);
    let out = compare(&old, &noise, &["--fail-on-regression", "10"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("\n0 regressions and"),
        "{}",
        stdout(&out)
    );

    // The real run against itself with its repetitions rotated: same values, within the noise.
    let mut rotated = read(&real);
    for idx in cells(&rotated).values() {
        let tps: Vec<f64> = idx
            .iter()
            .map(|&i| rotated.points[i].throughput_gbps)
            .collect();
        for (k, &i) in idx.iter().enumerate() {
            rotated.points[i].throughput_gbps = tps[(k + 1) % tps.len()];
        }
    }
    let rot = dir.path().join("rotated.json");
    write(&rot, &rotated);
    let out = compare(
        &real,
        &rot,
        &["--format", "json", "--fail-on-regression", "10"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for cell in json["cells"].as_array().unwrap() {
        assert_eq!(cell["changes"][0]["verdict"], "within_noise", "{cell}");
    }

    // A 20% throughput regression in one cell.
    let mut doctored = base.clone();
    for p in doctored.points.iter_mut() {
        if p.strategy == StrategyKind::ScatterGather && p.msg_size == 64 << 10 {
            p.throughput_gbps *= 0.8;
        }
    }
    let bad = dir.path().join("regressed.json");
    write(&bad, &doctored);
    let out = compare(&old, &bad, &["--fail-on-regression", "10"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("1 regression"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("0.80x REGRESSION"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("scattergather 64k x1"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("-20.0%"), "{}", stderr(&out));
    // Past the threshold only: 25% is asked for, 20% happened.
    let out = compare(&old, &bad, &["--fail-on-regression", "25"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = compare(&old, &bad, &["--format", "markdown"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("| **"), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("### copybench compare"));
}

#[test]
fn compare_refuses_bad_inputs_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    real_run(&good, "twocopy", "4k", "1");
    let not_json = dir.path().join("garbage.json");
    std::fs::write(&not_json, "not json").unwrap();
    let other = dir.path().join("other.json");
    std::fs::write(&other, "{\"x\": 1}").unwrap();
    let missing = dir.path().join("missing.json");
    for bad in [&not_json, &other, &missing] {
        for (old, new) in [(&good, bad), (bad, &good)] {
            let out = compare(old, new, &[]);
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            let name = bad.file_name().unwrap().to_str().unwrap();
            assert!(stderr(&out).contains(name), "{}", stderr(&out));
        }
    }
    let out = compare(&good, &good, &["--fail-on-regression", "abc"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--fail-on-regression"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn crossover_over_loopback_finds_no_sign_change_for_copied_zero_copy() {
    // Over loopback the kernel copies every zero-copy send, after pinning pages and queueing a
    // notification: zero-copy loses to two-copy at small sizes by far (0.1x..0.5x here).
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("crossover.json");
    let out = copybench()
        .args([
            "crossover",
            "--pair",
            "zerocopy,twocopy",
            "--between",
            "1k..8k",
        ])
        .args([
            "--topology",
            "loopback",
            "--duration",
            "150ms",
            "--warmup",
            "30ms",
        ])
        .args(["--repetitions", "2", "--out", json.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("crossover zerocopy vs twocopy in throughput"),
        "{text}"
    );
    assert!(stderr(&out).contains("probe 1 KiB"), "{}", stderr(&out));

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let search = &doc["crossover"][0];
    assert_eq!(search["threads"], 1);
    assert_eq!(search["a"], "zerocopy");
    assert_eq!(search["outcome"]["kind"], "no_sign_change", "{search}");
    assert_eq!(search["outcome"]["a_wins"], false, "{search}");
    assert_eq!(search["probes"].as_array().unwrap().len(), 2);
    // The document is a results file too: every point, verified, and findings.
    let results: RunResults = serde_json::from_value(doc.clone()).unwrap();
    assert!(results.complete);
    assert_eq!(results.points.len(), 2 * 2 * 2);
    assert!(results.points.iter().all(|p| p.verified));
    assert_eq!(results.config.sizes, [1024, 8192]);
    assert!(results.findings.is_some());
    // Pinned like `copybench run`: apart by default (same on a one-CPU machine, which the
    // results say), recorded in the run and in every point.
    let placement = results.config.placement.expect("placement recorded");
    let expected = if results.config.placement_note.is_some() {
        Placement::Same
    } else {
        Placement::Apart
    };
    assert_eq!(placement, expected);
    assert!(results.config.pin.is_some());
    assert!(results
        .points
        .iter()
        .all(|p| p.placement == Some(placement)));
}

#[test]
fn crossover_measures_both_strategies_over_the_receive_strategy_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("crossover.json");
    let out = copybench()
        .args(["crossover", "--pair", "sg,twocopy", "--between", "4k..8k"])
        .args(["--receive", "trunc", "--topology", "loopback"])
        .args([
            "--duration",
            "100ms",
            "--warmup",
            "20ms",
            "--repetitions",
            "2",
        ])
        .args(["--out", json.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("scattergather <- trunc"),
        "{}",
        stderr(&out)
    );
    let results: RunResults =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results.config.receives, [ReceiveKind::Trunc]);
    assert!(!results.points.is_empty());
    for p in &results.points {
        assert_eq!(
            p.receive,
            ReceiveKind::Trunc,
            "{} {}",
            p.strategy,
            p.msg_size
        );
        // What trunc checks: the counts, as `copybench run --receive trunc` records it.
        assert_eq!(p.verification, Verify::Discard);
        assert!(p.verified, "{} {}: {:?}", p.strategy, p.msg_size, p.error);
    }

    let out = copybench()
        .args([
            "crossover",
            "--topology",
            "loopback",
            "--pair",
            "sg,twocopy",
        ])
        .args(["--receive", "bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--receive"), "{}", stderr(&out));
}

#[test]
fn crossover_refuses_bad_requests_before_any_traffic() {
    let cases: [(&[&str], &str); 4] = [
        (&["--pair", "twocopy"], "--pair"),
        (&["--pair", "twocopy,twocopy"], "--pair"),
        (&["--pair", "zc,sg", "--between", "64k..1k"], "--between"),
        (
            &["--pair", "zc,sg", "--metric", "cpu", "--no-counters"],
            "--no-counters",
        ),
    ];
    for (args, flag) in cases {
        let out = copybench()
            .args(["crossover", "--topology", "loopback"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{args:?}: {}", stderr(&out));
    }
}
