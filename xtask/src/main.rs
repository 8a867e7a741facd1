//! `cargo xtask`: the project's own tasks.
//!
//! - `cargo xtask bench`: the main job. Builds copybench in release, runs the default sweep
//!   (7 strategies, 1k/4k/16k/64k, 1/2 threads, 3 repetitions; netns when privileged,
//!   loopback otherwise), request/response, and as root the sink, GSO, receive and paced
//!   sweeps, then renders the HTML report, all under `target/copybench/<timestamp>/`.
//! - `cargo xtask test`: installs what the tests need (`scripts/install-deps.sh`), runs every
//!   test of the workspace, then the README's Quick start as written (one more test in the
//!   closing line; alone: `cargo xtask quickstart`). `.ci/run` calls exactly this.
//! - `cargo xtask screenshot REPORT.html OUT.png [HEIGHT]`: a PNG of a report's top HEIGHT
//!   pixels (default 2600) at 1280 wide, with the headless Chromium the browser test uses, the
//!   same flags, offline (`unshare --net` as root). `docs/report.png` is made this way from
//!   `cargo xtask bench`'s report.
//! - `cargo xtask overhead [rounds]`: the cost of per-thread counters, as throughput with and
//!   without them (a benchmark, not a test: it depends on the machine's noise).
//! - `cargo xtask peers [copybench peers options]`: issue 17's benchmark. copybench's
//!   single-field stream against iperf3, iperf, sockperf and nuttcp, one connection, veth,
//!   1k..64k, one alternated run of 3 rounds of 3 s under each placement (apart, same); prints
//!   copybench / best peer per size against the 0.97 target and renders a report.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use copybench_core::sweep::Spread;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("+ {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// Whether this process runs as root (the sink and netns need CAP_NET_ADMIN; the screenshot's
/// `unshare --net` too).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn install_deps() -> Result<()> {
    run(Command::new("bash").arg(workspace_root().join("scripts/install-deps.sh")))
}

fn timestamp() -> Result<String> {
    let out = Command::new("date").arg("+%Y%m%d-%H%M%S").output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// Options of `cargo xtask bench`, passed on to `copybench run` (e.g. `--duration 1s`).
fn bench(extra: &[String]) -> Result<()> {
    install_deps()?;
    // COPYBENCH_BENCH_PROFILE=dev times the sweeps with the test build (opt-level 1, already
    // built by `cargo xtask test`) where a release build would not fit: the sweeps' length is
    // set by their durations, but the figures are a release build's only with the default.
    let profile = std::env::var("COPYBENCH_BENCH_PROFILE").unwrap_or_else(|_| "release".into());
    run(cargo().args(["build", "--profile", &profile, "-p", "copybench-cli"]))?;
    let copybench = target_dir()
        .join(if profile == "dev" { "debug" } else { &profile })
        .join("copybench");
    let out = workspace_root().join("target/copybench").join(timestamp()?);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let path = |name: &str| out.join(name).display().to_string();

    let started = std::time::Instant::now();
    // The budget, under 10 minutes of sweeps on the 2-core VM (about 1.65 s a point of
    // 1.2 s + 0.3 s warm-up, setup included): the main grid, 7 strategies (sendfile and
    // splice are TCP only, so not in the default --strategy list, and named here; left to the
    // caller when `extra` names strategies or a protocol) x 4 sizes x 1-2 threads x 3
    // repetitions = 168 points, about 280 s; rr 30 points, about 40 s; the sink with its
    // refinement, about 130 s; sink GSO, about 30 s; receive, about 40 s; paced, about 60 s.
    let by_name = ["-s", "--strategy", "--protocol"];
    let grid: &[&str] = if extra.iter().any(|a| by_name.contains(&a.as_str())) {
        &[]
    } else {
        &[
            "--strategy",
            "twocopy,scattergather,zerocopy,uringsend,uringzc,sendfile,splice",
        ]
    };
    run(Command::new(&copybench)
        .arg("run")
        .args(grid)
        .args(["--sizes", "1k,4k,16k,64k", "--threads", "1,2"])
        .args([
            "--duration",
            "1200ms",
            "--warmup",
            "300ms",
            "--repetitions",
            "3",
        ])
        .args([
            "--out",
            &path("results.json"),
            "--out",
            &path("results.csv"),
            "--out",
            &path("results.md"),
        ])
        .args(extra))?;
    run(Command::new(&copybench)
        .args(["run", "--mode", "rr"])
        .args(["--sizes", "1k,64k", "--threads", "1,2,4"])
        .args([
            "--duration",
            "1s",
            "--warmup",
            "200ms",
            "--repetitions",
            "1",
        ])
        .args(["--out", &path("rr.json"), "--out", &path("rr.csv")])
        .args(extra))?;
    // Where zero-copy really avoids the copy on one host: UDP into a device that drops. Its
    // break-even bracket (16k..60k) is refined with at most 2 more sizes, each the zero-copy
    // strategy and the best copying ones x 3 repetitions x 1.65 s: about 30 s more.
    if is_root() {
        run(Command::new(&copybench)
            .args(["run", "--topology", "sink", "--protocol", "udp"])
            .args(["--sizes", "1k,4k,16k,60k", "--threads", "1"])
            .args(["--refine", "--refine-budget", "2"])
            .args([
                "--duration",
                "1200ms",
                "--warmup",
                "300ms",
                "--repetitions",
                "3",
            ])
            .args(["--out", &path("sink.json"), "--out", &path("sink.csv")]))?;
        // Issue 25: UDP GSO on the sink, QUIC-sized segments (1400 B) of 16k and 60k messages,
        // copying and zero-copy: 3 strategies x 2 sizes x 3 repetitions x 1.65 s, about 30 s.
        run(Command::new(&copybench)
            .args(["run", "--topology", "sink", "--protocol", "udp"])
            .args(["--udp-gso", "1400", "--sizes", "16k,60k", "--threads", "1"])
            .args(["--strategy", "scattergather,zerocopy,uringzc"])
            .args([
                "--duration",
                "1200ms",
                "--warmup",
                "300ms",
                "--repetitions",
                "3",
            ])
            .args([
                "--out",
                &path("sink-gso.json"),
                "--out",
                &path("sink-gso.csv"),
            ]))?;
    } else {
        eprintln!("note: not root, so no sink sweep (it needs CAP_NET_ADMIN)");
    }
    // Receive strategies (issue 24): TCP between two namespaces (veth MTU 61492 by default
    // with zerocopy receive), every send strategy below with read and zerocopy receive, 2
    // sizes x 2 x 2 x 3 repetitions of 1.3 s plus setup: about 40 s (budget 60 s).
    if is_root() {
        run(Command::new(&copybench)
            .args(["run", "--topology", "netns", "--threads", "1"])
            .args([
                "--strategy",
                "twocopy,zerocopy",
                "--receive",
                "read,zerocopy",
            ])
            .args(["--sizes", "16k,64k"])
            .args([
                "--duration",
                "1s",
                "--warmup",
                "300ms",
                "--repetitions",
                "3",
            ])
            .args([
                "--out",
                &path("receive.json"),
                "--out",
                &path("receive.csv"),
            ]))?;
    } else {
        eprintln!("note: not root, so no receive sweep (it runs between namespaces)");
    }
    // Paced (issue 26): sender CPU per byte at equal load. 3 strategies x 2 sizes x 2 rates
    // x 2 repetitions = 24 points of 1.2 s + 0.3 s warm-up + setup: about 40 s. One flow over
    // veth reaches 500m at 4 KiB and both rates at 64 KiB here (a rate not reached is said so).
    run(Command::new(&copybench)
        .args(["run", "--rate", "500m,2g"])
        .args(["--strategy", "twocopy,scattergather,zerocopy"])
        .args(["--sizes", "4k,64k", "--threads", "1"])
        .args([
            "--duration",
            "1200ms",
            "--warmup",
            "300ms",
            "--repetitions",
            "2",
        ])
        .args(["--out", &path("paced.json"), "--out", &path("paced.csv")]))?;
    let swept = started.elapsed();
    let mut inputs = vec![path("results.json"), path("rr.json")];
    if std::path::Path::new(&path("sink.json")).exists() {
        inputs.push(path("sink.json"));
    }
    if std::path::Path::new(&path("receive.json")).exists() {
        inputs.push(path("receive.json"));
    }
    // The GSO sink sweep is a run of its own in the report (labelled by its file name): the
    // report folds repetitions per run, so its cells never merge with sink.json's.
    if std::path::Path::new(&path("sink-gso.json")).exists() {
        inputs.push(path("sink-gso.json"));
    }
    inputs.push(path("paced.json"));
    run(Command::new(&copybench)
        .arg("plot")
        .args(&inputs)
        .args(["-o", &path("report.html")]))?;
    eprintln!(
        "\nsweeps took {:.0} s. Results in {}:\n  results.json, results.csv, results.md (stream; the findings are under \"findings\")\n  rr.json, rr.csv (request/response)\n  report.html (open in a browser; works offline; findings at the top)\n  cargo xtask screenshot {}/report.html docs/report.png   (the README picture)",
        swept.as_secs_f64(),
        out.display(),
        out.display()
    );
    Ok(())
}

/// `cargo xtask screenshot REPORT.html OUT.png [HEIGHT]`: headless Chromium with the flags of
/// copybench-plot's browser test (`tests/browser.rs`), networking off when root.
fn screenshot(args: &[String]) -> Result<()> {
    let (Some(report), Some(png)) = (args.first(), args.get(1)) else {
        bail!("usage: cargo xtask screenshot REPORT.html OUT.png [HEIGHT]");
    };
    let height: u32 = args
        .get(2)
        .map_or(Ok(2600), |h| h.parse())
        .context("HEIGHT")?;
    let report =
        std::fs::canonicalize(report).with_context(|| format!("report {report} not found"))?;
    let png = std::env::current_dir()?.join(png);
    let profile = std::env::temp_dir().join(format!("copybench-shot-{}", std::process::id()));
    let mut cmd = if is_root() {
        let mut c = Command::new("unshare");
        c.args(["--net", "/usr/bin/chromium"]);
        c
    } else {
        Command::new("/usr/bin/chromium")
    };
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--virtual-time-budget=10000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--screenshot={}", png.display()))
    .arg(format!("--window-size=1280,{height}"))
    .arg(format!("file://{}", report.display()));
    let result = run(&mut cmd);
    let _ = std::fs::remove_dir_all(&profile);
    result?;
    eprintln!("wrote {}", png.display());
    Ok(())
}

/// Median of `values` (NaN when there are none, which prints as such, never as 0).
fn median(values: &[f64]) -> f64 {
    Spread::of(values).map_or(f64::NAN, |s| s.median)
}

/// Throughput with counters on vs `--no-counters`, alternating runs so drift hits both alike.
/// Issue 5's goal: under 2% difference.
fn overhead(rounds: usize) -> Result<()> {
    run(cargo().args(["build", "--release", "-p", "copybench-cli"]))?;
    let copybench = target_dir().join("release/copybench");
    let dir = std::env::temp_dir().join(format!("copybench-overhead-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sizes = ["4k", "64k"];
    // (strategy, size, counters on?) -> throughputs
    let mut samples: std::collections::BTreeMap<(String, usize, bool), Vec<f64>> =
        Default::default();
    let result = (|| -> Result<()> {
        for round in 0..rounds {
            for counters in [round % 2 == 0, round % 2 == 1] {
                let json = dir.join("r.json");
                let mut cmd = Command::new(&copybench);
                cmd.args([
                    "run",
                    "--strategy",
                    "scattergather,zerocopy",
                    "--sizes",
                    &sizes.join(","),
                ])
                .args([
                    // Two connections: one alone on a VM is dominated by idle-wake noise.
                    "--threads",
                    "2",
                    "--duration",
                    "2s",
                    "--warmup",
                    "300ms",
                    "--repetitions",
                    "1",
                    "--no-progress",
                ])
                .args(["--out", json.to_str().unwrap()])
                .stdout(std::process::Stdio::null());
                if !counters {
                    cmd.arg("--no-counters");
                }
                run(&mut cmd)?;
                let results: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&json)?)?;
                for p in results["points"].as_array().context("points")? {
                    let strategy = p["strategy"].as_str().context("strategy")?.to_string();
                    let size = p["msg_size"].as_u64().context("msg_size")? as usize;
                    let gbps = p["throughput_gbps"].as_f64().context("throughput")?;
                    samples
                        .entry((strategy, size, counters))
                        .or_default()
                        .push(gbps);
                }
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    println!("counter overhead: median Gbps over {rounds} alternating rounds, 2 connections");
    println!(
        "{:>14} {:>8} {:>12} {:>12} {:>10}",
        "strategy", "size", "counters", "no counters", "difference"
    );
    let cells: std::collections::BTreeSet<(String, usize)> =
        samples.keys().map(|(s, n, _)| (s.clone(), *n)).collect();
    for (strategy, size) in cells {
        let on = median(&samples[&(strategy.clone(), size, true)]);
        let off = median(&samples[&(strategy.clone(), size, false)]);
        println!(
            "{strategy:>14} {size:>8} {on:>12.3} {off:>12.3} {:>9.1}%",
            (on - off) / off * 100.0
        );
    }
    Ok(())
}

/// The target of issue 17: copybench at least this share of the best peer, at every size.
const PEERS_TARGET: f64 = 0.97;

/// `cargo xtask peers`' settings: issue 17's, one connection, 3 rounds of 3 s.
const PEERS_DEFAULTS: [(&str, &str); 4] = [
    ("--sizes", "1k,4k,16k,64k"),
    ("--threads", "1"),
    ("--duration", "3s"),
    ("--repetitions", "3"),
];

fn peers(extra: &[String]) -> Result<()> {
    install_deps()?;
    // COPYBENCH_BENCH_PROFILE=dev times the sweeps with the test build (opt-level 1, already
    // built by `cargo xtask test`) where a release build would not fit: the sweeps' length is
    // set by their durations, but the figures are a release build's only with the default.
    let profile = std::env::var("COPYBENCH_BENCH_PROFILE").unwrap_or_else(|_| "release".into());
    run(cargo().args(["build", "--profile", &profile, "-p", "copybench-cli"]))?;
    let copybench = target_dir()
        .join(if profile == "dev" { "debug" } else { &profile })
        .join("copybench");
    let out = workspace_root()
        .join("target/copybench")
        .join(format!("peers-{}", timestamp()?));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let started = std::time::Instant::now();
    let mut files = Vec::new();
    for placement in ["apart", "same"] {
        let json = out.join(format!("peers-{placement}.json"));
        // A failed peer run is recorded in the file and shown below; it does not stop the other
        // placement.
        let mut command = Command::new(&copybench);
        command.args(["peers", "--topology", "netns", "--placement", placement]);
        // The benchmark's settings, each unless given on the command line (e.g. more rounds:
        // `cargo xtask peers --repetitions 7`).
        for (flag, value) in PEERS_DEFAULTS {
            if !extra
                .iter()
                .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
            {
                command.args([flag, value]);
            }
        }
        let status = command
            .args(["--out", json.to_str().context("path")?])
            .args(extra)
            .status()
            .context("starting copybench peers")?;
        if !status.success() {
            eprintln!("copybench peers --placement {placement}: {status}");
        }
        files.push((placement, json));
    }
    let took = started.elapsed();

    // (placement, size) -> (copybench median, best peer median, best peer's name)
    println!(
        "\ncopybench vs the best peer: median Gbps over the rounds, veth; target copybench >= \
         {PEERS_TARGET} x best peer"
    );
    println!(
        "{:<9} {:>5} {:>10} {:>10} {:>9} {:>8} {:>8} {:>8} {:>8}  {:>6}",
        "placement",
        "size",
        "copybench",
        "best peer",
        "(who)",
        "iperf3",
        "iperf",
        "sockperf",
        "nuttcp",
        "ratio"
    );
    let (mut met, mut cells) = (0, 0);
    for (placement, json) in &files {
        let results: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(json)
                .with_context(|| format!("reading {}", json.display()))?,
        )?;
        let mut by: std::collections::BTreeMap<(u64, String), Vec<f64>> = Default::default();
        for p in results["points"].as_array().context("points")? {
            let tool = p["tool"].as_str().unwrap_or("copybench").to_string();
            if tool == "copybench" && p["verified"] != serde_json::Value::Bool(true) {
                continue;
            }
            let size = p["msg_size"].as_u64().context("msg_size")?;
            let gbps = p["throughput_gbps"].as_f64().context("throughput")?;
            by.entry((size, tool)).or_default().push(gbps);
        }
        let sizes: std::collections::BTreeSet<u64> = by.keys().map(|(s, _)| *s).collect();
        for size in sizes {
            let get = |tool: &str| by.get(&(size, tool.to_string())).map(|v| median(v));
            let cb = get("copybench");
            let best = ["iperf3", "iperf", "sockperf", "nuttcp"]
                .iter()
                .filter_map(|t| get(t).map(|g| (g, *t)))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
            let ratio = cb.zip(best).map(|(c, (b, _))| c / b);
            cells += 1;
            if ratio.is_some_and(|r| r >= PEERS_TARGET) {
                met += 1;
            }
            println!(
                "{placement:<9} {:>5} {:>10} {:>10} {:>9} {:>8} {:>8} {:>8} {:>8}  {:>6}{}",
                format!("{}k", size / 1024),
                cell(cb),
                cell(best.map(|b| b.0)),
                best.map_or("-", |b| b.1),
                cell(get("iperf3")),
                cell(get("iperf")),
                cell(get("sockperf")),
                cell(get("nuttcp")),
                cell(ratio),
                match ratio {
                    Some(r) if r >= PEERS_TARGET => "  ok",
                    Some(_) => "  SHORT",
                    None => "  (missing)",
                }
            );
        }
    }
    println!(
        "target met at {met} of {cells} (placement, size) cells; runs took {:.0} s",
        took.as_secs_f64()
    );
    let mut plot = Command::new(&copybench);
    plot.arg("plot");
    for (_, json) in &files {
        plot.arg(json);
    }
    run(plot.arg("-o").arg(out.join("report.html")))?;
    eprintln!("results and report.html in {}", out.display());
    Ok(())
}

/// Adds up cargo's `test result: ok. 5 passed; 0 failed; 1 ignored; ...` lines.
fn count_results(line: &str, totals: &mut [u64; 3]) {
    let Some(rest) = line.strip_prefix("test result: ") else {
        return;
    };
    for part in rest.split(';') {
        let mut words = part.split_whitespace().rev();
        let (Some(what), Some(n)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        match what {
            "passed" => totals[0] += n,
            "failed" => totals[1] += n,
            "ignored" => totals[2] += n,
            _ => {}
        }
    }
}

/// A file removed when dropped, failures and panics included.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The closing line: libtest counts a test that skipped itself ([`copybench_core::skip`]) as
/// passed, so each skip line moves one test from passed to skipped, beside cargo's ignored.
fn closing_line(totals: [u64; 3], skips: &[String]) -> String {
    let skipped = skips.len() as u64;
    format!(
        "tests: {} passed, {} failed, {} skipped",
        totals[0].saturating_sub(skipped),
        totals[1],
        totals[2] + skipped
    )
}

/// The skip lines the tests appended to `log` (none if it was never written).
fn skips_in(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(copybench_core::skip::SKIP_MARKER))
        .map(str::to_string)
        .collect()
}

fn test(extra: &[String]) -> Result<()> {
    use std::io::BufRead;
    install_deps()?;
    let log =
        TempFile(std::env::temp_dir().join(format!("copybench-skips-{}.txt", std::process::id())));
    let _ = std::fs::remove_file(&log.0);
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--no-fail-fast"])
        .args(extra)
        .env(copybench_core::skip::SKIP_LOG_ENV, &log.0)
        .stdout(std::process::Stdio::piped());
    eprintln!("+ {cmd:?}");
    let mut child = cmd.spawn().context("starting cargo test")?;
    let mut totals = [0u64; 3];
    for line in std::io::BufReader::new(child.stdout.take().context("cargo's stdout")?).lines() {
        let line = line?;
        println!("{line}");
        count_results(&line, &mut totals);
    }
    let status = child.wait()?;
    let mut skips = skips_in(&log.0);
    // The README's Quick start, after the unit and integration tests: one more test.
    let quickstart_failed = match quickstart_as_root() {
        QuickStart::Passed => {
            println!("test readme quick start ... ok");
            totals[0] += 1;
            false
        }
        QuickStart::Skipped(why) => {
            // Counted as run, then moved to skipped by the closing line, as a test's own skip.
            totals[0] += 1;
            skips.push(format!(
                "{}readme quick start: {why}",
                copybench_core::skip::SKIP_MARKER
            ));
            false
        }
        QuickStart::Failed(e) => {
            println!("test readme quick start ... FAILED: {e:#}");
            totals[1] += 1;
            true
        }
    };
    for s in &skips {
        println!("{s}");
    }
    // One plain closing line over every test binary, whichever ran last.
    println!("{}", closing_line(totals, &skips));
    if !status.success() {
        bail!("cargo test failed ({status})");
    }
    if quickstart_failed {
        bail!("the README's Quick start failed as written");
    }
    if totals[0] <= skips.len() as u64 {
        bail!("cargo test ran no test that did not skip");
    }
    Ok(())
}

enum QuickStart {
    Passed,
    Skipped(String),
    Failed(anyhow::Error),
}

/// The Quick start needs root (its first line installs Debian packages): skipped otherwise,
/// except under `CI=true`, where every dependency is promised and a skip is a failure.
fn quickstart_as_root() -> QuickStart {
    if !is_root() {
        let why = "needs root (scripts/install-deps.sh installs Debian packages)".to_string();
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            return QuickStart::Failed(anyhow::anyhow!("{why}, and CI=true forbids skips"));
        }
        return QuickStart::Skipped(why);
    }
    match quickstart() {
        Ok(()) => QuickStart::Passed,
        Err(e) => QuickStart::Failed(e),
    }
}

/// The README's Quick start, run as written: every line of the first ```sh block under
/// "## Quick start", one `bash` each, from the workspace root, as a reader pastes them. Every
/// file named after `--out`/`-o` must then exist and not be empty; files the commands created in
/// the root are removed afterwards (nothing left behind).
fn quickstart() -> Result<()> {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).context("reading README.md")?;
    let commands = quickstart_commands(&readme)?;
    let names = |dir: &std::path::Path| -> Result<std::collections::BTreeSet<std::ffi::OsString>> {
        Ok(std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect())
    };
    let before = names(&root)?;
    let outcome = (|| -> Result<()> {
        for line in &commands {
            run(Command::new("bash")
                .args(["-euo", "pipefail", "-c", line])
                .current_dir(&root))
            .with_context(|| format!("README Quick start line `{line}`"))?;
        }
        for out in outputs_named(&commands) {
            let len = std::fs::metadata(root.join(&out)).map(|m| m.len());
            if !matches!(len, Ok(n) if n > 0) {
                bail!("README Quick start: `{out}` was named as an output but not written");
            }
        }
        Ok(())
    })();
    for name in names(&root)?.difference(&before) {
        let path = root.join(name);
        if path.is_file() {
            let _ = std::fs::remove_file(&path);
        }
    }
    outcome
}

/// The command lines of the README's Quick start block (comments and blank lines left out).
fn quickstart_commands(readme: &str) -> Result<Vec<String>> {
    let section = readme
        .split("\n## Quick start\n")
        .nth(1)
        .context("README.md has no \"## Quick start\" section")?;
    let section = section.split("\n## ").next().unwrap_or(section);
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .context("README.md's Quick start has no ```sh block")?;
    let commands: Vec<String> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if commands.is_empty() {
        bail!("README.md's Quick start block is empty");
    }
    Ok(commands)
}

/// The files the commands name after `--out` or `-o`.
fn outputs_named(commands: &[String]) -> Vec<String> {
    commands
        .iter()
        .flat_map(|c| {
            let words: Vec<&str> = c.split_whitespace().collect();
            words
                .windows(2)
                .filter(|w| w[0] == "--out" || w[0] == "-o")
                .map(|w| w[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn main() {
    if let Err(e) = dispatch() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("screenshot") => screenshot(&args[1..]),
        Some("quickstart") => quickstart(),
        Some("peers") => peers(&args[1..]),
        Some("overhead") => overhead(args.get(1).map_or(Ok(6), |n| n.parse()).context("rounds")?),
        _ => {
            eprintln!(
                "usage:\n  cargo xtask bench [copybench run options]   the default sweep and its report\n  \
                 cargo xtask test [cargo test options]        install test dependencies, run every test\n  \
                 cargo xtask screenshot REPORT.html OUT.png [HEIGHT]   a PNG of a report (headless chromium)\n  \
                 cargo xtask quickstart                       the README's Quick start, as written (part of test)\n  \
                 cargo xtask overhead [rounds]                throughput with vs without counters\n  \
                 cargo xtask peers [copybench peers options]  copybench vs iperf3, iperf, sockperf, nuttcp (issue 17's target)"
            );
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_count_as_skipped_not_passed() {
        let mut totals = [0u64; 3];
        count_results(
            "test result: ok. 5 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out",
            &mut totals,
        );
        assert_eq!(totals, [5, 1, 2]);
        let skips = vec!["SKIPPED: netns::x: needs root".to_string()];
        assert_eq!(
            closing_line(totals, &skips),
            "tests: 4 passed, 1 failed, 3 skipped"
        );
        assert_eq!(
            closing_line(totals, &[]),
            "tests: 5 passed, 1 failed, 2 skipped"
        );
    }

    #[test]
    fn the_readme_quick_start_installs_first_and_names_its_outputs() {
        let commands = quickstart_commands(include_str!("../../README.md")).unwrap();
        assert_eq!(commands[0], "scripts/install-deps.sh", "{commands:?}");
        assert!(commands.len() >= 3, "{commands:?}");
        let outputs = outputs_named(&commands);
        assert!(outputs.iter().any(|o| o.ends_with(".json")), "{outputs:?}");
        assert!(outputs.iter().any(|o| o.ends_with(".html")), "{outputs:?}");
        assert!(quickstart_commands("# x\n## Quick start\nno block\n## Next\n").is_err());
    }

    /// GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` dropped,
    /// spaces to `-`.
    fn slug(heading: &str) -> String {
        heading
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect()
    }

    fn anchors(markdown: &str) -> Vec<String> {
        let mut fenced = false;
        let mut out = Vec::new();
        for line in markdown.lines() {
            if line.starts_with("```") {
                fenced = !fenced;
            } else if !fenced && line.starts_with('#') {
                out.push(slug(line.trim_start_matches('#')));
            }
        }
        out
    }

    /// Every relative link of README.md and docs/*.md names a file that exists and, where it
    /// has one, an anchor that is a heading of that file (the README's detail lives in docs/).
    #[test]
    fn readme_and_docs_links_lead_somewhere() {
        let root = workspace_root();
        let mut files = vec![root.join("README.md")];
        for entry in std::fs::read_dir(root.join("docs")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
        let mut broken = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for (i, _) in text.match_indices("](") {
                let rest = &text[i + 2..];
                let Some(end) = rest.find(')') else { continue };
                let link = &rest[..end];
                if link.contains("://") || link.contains(' ') || link.starts_with("mailto:") {
                    continue;
                }
                let (path, anchor) = link.split_once('#').unwrap_or((link, ""));
                let target = if path.is_empty() {
                    file.clone()
                } else {
                    file.parent().unwrap().join(path)
                };
                if !target.exists() {
                    broken.push(format!("{}: {link} (no such file)", file.display()));
                } else if !anchor.is_empty()
                    && target.extension().is_some_and(|e| e == "md")
                    && !anchors(&std::fs::read_to_string(&target).unwrap())
                        .iter()
                        .any(|a| a == anchor)
                {
                    broken.push(format!("{}: {link} (no such heading)", file.display()));
                }
            }
        }
        assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
        assert_eq!(
            slug("`copybench compare OLD.json NEW.json`"),
            "copybench-compare-oldjson-newjson"
        );
    }

    #[test]
    fn the_skip_log_is_read_line_by_line_and_only_marked_lines_count() {
        let dir = std::env::temp_dir().join(format!("xtask-skip-test-{}", std::process::id()));
        let log = TempFile(dir);
        assert!(skips_in(&log.0).is_empty(), "no file: no skips");
        std::fs::write(&log.0, "SKIPPED: a: why\nnoise\nSKIPPED: b: why not\n").unwrap();
        assert_eq!(skips_in(&log.0).len(), 2);
    }
}
