//! The report draws in a real browser with no network: headless Debian Chromium, run inside
//! a fresh network namespace (`unshare --net`), reads the page's self-check (every chart's
//! canvas painted, no script error) and takes a screenshot that must not be blank.
//!
//! Needs `/usr/bin/chromium` (`scripts/install-deps.sh`) and root (for `unshare --net`).
//! `COPYBENCH_SKIP_BROWSER=1` skips it; `COPYBENCH_REPORT_PNG=path` keeps a full-page
//! screenshot of the single-run report (docs/report.png is made that way);
//! `COPYBENCH_KEEP_REPORTS=dir` keeps every report and its screenshot there.

use crate::common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use copybench_plot::{
    load_results, render_report, ReportOptions, ReportSummary, COPIED_RATIO_WORDS, LLC_NOT_MEASURED,
};

const CHROMIUM: &str = "/usr/bin/chromium";
const TIMEOUT: Duration = Duration::from_secs(120);

fn skipped() -> bool {
    if std::env::var("COPYBENCH_SKIP_BROWSER").as_deref() == Ok("1") {
        common::skip("COPYBENCH_SKIP_BROWSER=1");
        return true;
    }
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} not found: run `sudo scripts/install-deps.sh` to install Debian's chromium \
         (or set COPYBENCH_SKIP_BROWSER=1 to skip this test)"
    );
    false
}

/// Processes whose command line mentions `marker` (our user-data-dir): chromium leftovers.
fn processes_with(marker: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(marker) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Runs headless chromium on `page` with networking off, in its own process group; kills the
/// whole group on timeout and checks nothing is left behind.
fn chromium(page: &Path, mode: &[String], work: &Path) -> (String, String) {
    let profile = tempfile::Builder::new()
        .prefix("copybench-chromium-")
        .tempdir_in(work)
        .unwrap();
    let profile_arg = format!("--user-data-dir={}", profile.path().display());
    let stdout_path = work.join("chromium.stdout");
    let stderr_path = work.join("chromium.stderr");
    let mut command = Command::new("unshare");
    command
        .args(["--net", CHROMIUM])
        .args([
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
            &profile_arg,
        ])
        .args(mode)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .process_group(0);
    let mut child = command
        .spawn()
        .expect("cannot start `unshare --net chromium` (util-linux unshare, root needed)");
    let group = child.id() as i32;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // The group is ours (process_group(0) above): end whatever of it is still there.
    kill(-group);
    let _ = child.wait();
    let marker = profile.path().display().to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = processes_with(&marker);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        left = processes_with(&marker);
    }
    for pid in &left {
        kill(*pid);
    }
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let tail: String = stderr.lines().rev().take(15).collect::<Vec<_>>().join("\n");
    let status = status.unwrap_or_else(|| {
        panic!("chromium did not finish within {TIMEOUT:?} (killed); stderr tail:\n{tail}")
    });
    assert!(left.is_empty(), "chromium processes left behind: {left:?}");
    assert!(
        status.success(),
        "chromium failed: {status}; stderr tail:\n{tail}"
    );
    (stdout, stderr)
}

/// SIGKILL to a process (`pid > 0`) or a process group (`pid < 0`); gone already is fine.
#[allow(unsafe_code)] // the test's only unsafe: kill(2)
fn kill(pid: i32) {
    // SAFETY: kill(2) takes plain integers; no memory is involved.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

fn unescape_attr(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The page's own verdict, written into `body[data-selfcheck]` once the charts drew.
fn self_check(dom: &str) -> serde_json::Value {
    let start = dom
        .find("data-selfcheck=\"")
        .unwrap_or_else(|| panic!("no data-selfcheck in the dumped DOM ({} bytes)", dom.len()))
        + "data-selfcheck=\"".len();
    let end = start + dom[start..].find('"').unwrap();
    let raw = unescape_attr(&dom[start..end]);
    assert_ne!(raw, "pending", "the page's self-check never ran");
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("self-check {raw}: {e}"))
}

/// Share of pixels that differ from the page's white background.
fn inked_share(png_path: &Path) -> (f64, u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(
        info.bit_depth == png::BitDepth::Eight && channels >= 3,
        "unexpected PNG format {:?} {:?}",
        info.color_type,
        info.bit_depth
    );
    let data = &buf[..info.buffer_size()];
    let total = (info.width * info.height) as usize;
    let inked = data
        .chunks_exact(channels)
        .filter(|px| px[..3].iter().any(|&c| c < 235))
        .count();
    (inked as f64 / total as f64, info.width, info.height)
}

fn check_in_browser(
    (html_path, inputs): (&Path, &[PathBuf]),
    summary: &ReportSummary,
    work: &Path,
    keep_png: Option<&Path>,
) {
    let html = std::fs::read_to_string(html_path).unwrap();
    let sections = report_sections(inputs);
    // Nothing to fetch: the library is inline and nothing points at the network.
    assert!(
        !html.contains("<script src"),
        "a script is loaded from elsewhere"
    );
    assert!(
        !html.contains("<link"),
        "a stylesheet is loaded from elsewhere"
    );
    assert!(!html.contains("cdn.jsdelivr"));

    let (dom, _) = chromium(html_path, &["--dump-dom".to_string()], work);
    let check = self_check(&dom);
    let errors = check["errors"].as_array().unwrap();
    assert!(
        errors.is_empty(),
        "JavaScript errors in the report: {errors:?}"
    );
    let charts = check["charts"].as_object().unwrap();
    assert_eq!(
        check["expected"].as_u64().unwrap() as usize,
        summary.charts.len()
    );
    // The layout as drawn: the findings listed at the top, and as many panels (ECharts
    // grids) in each chart as the report planned (one per thread count, or per size).
    assert!(
        check["findings"].as_u64().unwrap() >= 2,
        "no findings listed: {check}"
    );
    // The decision map is there, first, and drew (the ink check below); under it at most five
    // sentences per run.
    assert!(html.contains("<div class=\"chart\" id=\"chart-decision\""));
    assert!(
        html.find("id=\"chart-decision\"") < html.find("id=\"headline\""),
        "the sentences come under the map"
    );
    assert!(charts.contains_key("chart-decision"), "{check}");
    let sentences = check["headline"].as_u64().unwrap() as usize;
    assert!(
        (1..=5 * inputs.len()).contains(&sentences),
        "{sentences} headline sentences: {check}"
    );
    // A person reads at most five series per panel when the page opens (the decision map's
    // cells are one per size, not series to read against each other).
    let visible = check["visible"].as_object().unwrap();
    for (id, n) in visible.iter().filter(|(id, _)| *id != "chart-decision") {
        assert!(
            n.as_u64().unwrap() as usize <= copybench_plot::VISIBLE_SERIES,
            "{id} opens with {n} series: {check}"
        );
    }
    let panels = check["panels"].as_object().unwrap();
    for section in sections.iter().filter(|s| s.is_chart()) {
        assert_eq!(
            panels[&section.id].as_u64().unwrap() as usize,
            section.panels.len().max(1),
            "{}: {check}",
            section.id
        );
    }
    assert_eq!(charts.len(), summary.charts.len(), "{check}");
    for (id, inked) in charts {
        // Axes, labels, legend and lines: tens of thousands of painted pixels; a blank
        // canvas has 0.
        assert!(
            inked.as_u64().unwrap() > 5000,
            "chart {id} is (nearly) blank: {check}"
        );
    }

    let png_path = work.join("report.png");
    let (height, width) = (3200, 1280);
    chromium(
        html_path,
        &[
            format!("--screenshot={}", png_path.display()),
            format!("--window-size={width},{height}"),
        ],
        work,
    );
    let (share, w, h) = inked_share(&png_path);
    assert_eq!((w, h), (width, height));
    assert!(
        share > 0.03,
        "screenshot nearly blank: {:.2}% inked",
        share * 100.0
    );
    if let Some(keep) = keep_png {
        std::fs::copy(&png_path, keep).unwrap();
        eprintln!("screenshot kept at {}", keep.display());
    }
    if let Some(dir) = std::env::var_os("COPYBENCH_KEEP_REPORTS").map(PathBuf::from) {
        std::fs::create_dir_all(&dir).unwrap();
        let stem = html_path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        std::fs::copy(html_path, dir.join(format!("{stem}.html"))).unwrap();
        std::fs::copy(&png_path, dir.join(format!("{stem}.png"))).unwrap();
    }
}

/// The sections a report was drawn from, rebuilt from its result files.
fn report_sections(inputs: &[PathBuf]) -> Vec<copybench_plot::ChartSection> {
    copybench_plot::sections(&copybench_plot::load_labeled(inputs).unwrap()).unwrap()
}

/// A fresh real sweep over loopback: every strategy, five sizes, 1 and 2 threads, rr too.
fn fresh_run() -> copybench_core::result::RunResults {
    common::loopback_run(
        &common::Sweep {
            sizes: vec![1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10],
            threads: vec![1, 2],
            rr_threads: vec![1, 2],
            repetitions: 2,
            warmup: Duration::from_millis(30),
            // Zero-copy over loopback can stall 200 ms in one send; shorter points fail.
            duration: Duration::from_millis(400),
            with_failure: false,
        },
        "copybench-plot browser test: loopback, all strategies, 1k..256k, 1-2 threads, \
         2 repetitions, 400 ms",
    )
}

#[test]
fn reports_draw_offline_in_headless_chromium() {
    if skipped() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let fresh = work.path().join("loopback-now.json");
    std::fs::write(&fresh, serde_json::to_string(&fresh_run()).unwrap()).unwrap();
    let options = ReportOptions::default();

    // One run.
    let single = work.path().join("single.html");
    let summary = render_report(std::slice::from_ref(&fresh), &single, &options).unwrap();
    assert_eq!(summary.runs, 1);
    assert_eq!(summary.plotted_points, summary.points);
    // The decision map, ratios to two-copy, throughput, latency and copied ratio have data;
    // LLC and CPU were not measured.
    assert_eq!(summary.charts.len(), 5, "{summary:#?}");
    assert_eq!(summary.notes.len(), 2, "{summary:#?}");
    let html = std::fs::read_to_string(&single).unwrap();
    assert!(html.contains("<section id=\"findings\""));
    assert!(html.contains("loopback tcp stream, 2 threads"));
    assert!(
        html.contains("data-panels=\"2\""),
        "a panel per thread count"
    );
    assert!(html.contains(LLC_NOT_MEASURED));
    assert!(html.contains(COPIED_RATIO_WORDS));
    assert!(html.contains("saveAsImage"));
    let keep = std::env::var_os("COPYBENCH_REPORT_PNG").map(PathBuf::from);
    check_in_browser(
        (&single, std::slice::from_ref(&fresh)),
        &summary,
        work.path(),
        keep.as_deref(),
    );

    // Two runs compared: the fresh one and the committed fixture (with its failed point).
    let compared = work.path().join("compared.html");
    let inputs = [fresh.clone(), common::fixture_path()];
    let summary = render_report(&inputs, &compared, &options).unwrap();
    assert_eq!(summary.runs, 2);
    // The fixture's failed point is the one warning that must be there; a fresh loopback run may
    // add sender/receiver rate warnings (a zero-copy send over loopback can stall for 200 ms
    // while the receiver drains, and on a loaded 2-vCPU machine any 400 ms point can see its two
    // sides' intervals end apart: both sides' figures disagree, and the report must say so
    // rather than hide it). Those name the fresh run's points; nothing else may warn.
    let failed: Vec<_> = summary
        .warnings
        .iter()
        .filter(|w| !w.contains("over their own intervals"))
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", summary.warnings);
    let html = std::fs::read_to_string(&compared).unwrap();
    assert!(html.contains("\"loopback-now: two-copy\""));
    assert!(html.contains("\"loopback: zero-copy\""));
    assert!(html.contains("NOT VERIFIED"));
    check_in_browser((&compared, &inputs), &summary, work.path(), None);

    // A `copybench peers` run beside the fixture: the peers' chart draws, its table is there.
    let with_peers = work.path().join("with-peers.html");
    let inputs = [common::fixture_path(), common::peers_fixture_path()];
    let summary = render_report(&inputs, &with_peers, &options).unwrap();
    assert!(
        summary.charts.iter().any(|c| c == "copybench vs peers"),
        "{summary:#?}"
    );
    let html = std::fs::read_to_string(&with_peers).unwrap();
    assert!(html.contains("id=\"peers-table\""));
    assert!(html.contains("<th>cb / best</th>"));
    check_in_browser((&with_peers, &inputs), &summary, work.path(), None);
}

/// The checker itself: a page whose "ECharts" draws nothing and logs an error must be caught.
#[test]
fn the_self_check_catches_blank_charts_and_errors() {
    if skipped() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let fake = work.path().join("echarts.min.js");
    std::fs::write(
        &fake,
        "/* not echarts: draws nothing */ var echarts = { format: { encodeHTML: String },
         init: function () { return { setOption: function () {}, on: function () {},
         off: function () {}, resize: function () {} }; } };
         console.error('stand-in library');",
    )
    .unwrap();
    let html_path = work.path().join("blank.html");
    let options = ReportOptions {
        echarts_js: Some(fake),
        ..ReportOptions::default()
    };
    let summary = render_report(&[common::fixture_path()], &html_path, &options).unwrap();
    assert!(!summary.charts.is_empty());
    let (dom, _) = chromium(&html_path, &["--dump-dom".to_string()], work.path());
    let check = self_check(&dom);
    let errors = check["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("stand-in library")),
        "{check}"
    );
    let charts = check["charts"].as_object().unwrap();
    assert_eq!(charts.len(), summary.charts.len());
    assert!(charts.values().all(|v| v.as_u64() == Some(0)), "{check}");
}

/// The LLC and CPU charts draw too (with made-up counter figures: this VM has no PMU).
#[test]
fn counter_charts_draw_too() {
    if skipped() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("counters.json");
    let run = common::with_counter_figures(load_results(&common::fixture_path()).unwrap());
    std::fs::write(&input, serde_json::to_string(&run).unwrap()).unwrap();
    let html_path = work.path().join("counters.html");
    let summary = render_report(&[input], &html_path, &ReportOptions::default()).unwrap();
    assert_eq!(summary.charts.len(), 7, "{summary:#?}");
    let (dom, _) = chromium(&html_path, &["--dump-dom".to_string()], work.path());
    let check = self_check(&dom);
    assert!(check["errors"].as_array().unwrap().is_empty(), "{check}");
    let charts = check["charts"].as_object().unwrap();
    assert_eq!(charts.len(), 7);
    assert!(
        charts.values().all(|v| v.as_u64().unwrap() > 5000),
        "{check}"
    );
    if let Some(dir) = std::env::var_os("COPYBENCH_KEEP_REPORTS").map(PathBuf::from) {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&html_path, dir.join("counters.html")).unwrap();
    }
}
