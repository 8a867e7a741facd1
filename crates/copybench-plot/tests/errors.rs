//! Bad input gives an error that says what is wrong and what to do; never a panic.

use crate::common;

use std::path::{Path, PathBuf};

use copybench_plot::{load_results, render_report, PlotError, ReportOptions};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn fixture_value() -> serde_json::Value {
    let text = std::fs::read_to_string(common::fixture_path()).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_missing_file_is_named() {
    let err = load_results(Path::new("/nonexistent/results.json")).unwrap_err();
    assert!(matches!(err, PlotError::NotFound { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("/nonexistent/results.json") && text.contains("does not exist"));
}

#[test]
fn a_directory_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_results(dir.path()).unwrap_err();
    assert!(matches!(err, PlotError::Read { .. }), "{err:?}");
}

#[test]
fn text_that_is_not_json() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("empty.json", ""),
        ("csv.json", "strategy,msg_size\ntwocopy,1024\n"),
        ("cut.json", "{\"schema_version\": 1, \"points\": ["),
        ("binary.json", "\u{0}\u{1}\u{2}"),
    ] {
        let err = load_results(&write(dir.path(), name, text)).unwrap_err();
        assert!(matches!(err, PlotError::NotJson { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains(name), "{err}");
        assert!(err.to_string().contains("copybench run"), "{err}");
    }
}

#[test]
fn json_of_another_kind() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("array.json", "[1, 2, 3]"),
        ("object.json", "{\"name\": \"package.json perhaps\"}"),
        ("number.json", "42"),
    ] {
        let err = load_results(&write(dir.path(), name, text)).unwrap_err();
        assert!(
            matches!(err, PlotError::NotResults { .. }),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn another_schema_version_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = fixture_value();
    v["schema_version"] = 99.into();
    v["tool"]["version"] = "9.9.9".into();
    let err = load_results(&write(dir.path(), "future.json", &v.to_string())).unwrap_err();
    assert!(matches!(err, PlotError::SchemaVersion { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("99") && text.contains("version 1") && text.contains("9.9.9"),
        "{text}"
    );

    v["schema_version"] = "one".into();
    let err = load_results(&write(dir.path(), "odd.json", &v.to_string())).unwrap_err();
    assert!(matches!(err, PlotError::SchemaVersion { .. }), "{err:?}");
}

#[test]
fn the_right_version_with_the_wrong_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = fixture_value();
    v["points"][0]["throughput_gbps"] = "fast".into();
    let err = load_results(&write(dir.path(), "edited.json", &v.to_string())).unwrap_err();
    assert!(matches!(err, PlotError::Schema { .. }), "{err:?}");
    assert!(err.to_string().contains("throughput_gbps") || err.to_string().contains("fast"));

    let mut v = fixture_value();
    v["points"][0]["strategy"] = "carrier-pigeon".into();
    let err = load_results(&write(dir.path(), "pigeon.json", &v.to_string())).unwrap_err();
    assert!(matches!(err, PlotError::Schema { .. }), "{err:?}");
}

#[test]
fn a_run_without_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = fixture_value();
    v["points"] = serde_json::json!([]);
    let err = load_results(&write(dir.path(), "nothing.json", &v.to_string())).unwrap_err();
    assert!(matches!(err, PlotError::NoPoints { .. }), "{err:?}");
    assert!(err.to_string().contains("no points"));
}

#[test]
fn no_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let err =
        render_report(&[], &dir.path().join("r.html"), &ReportOptions::default()).unwrap_err();
    assert!(matches!(err, PlotError::NoInputs), "{err:?}");
}

#[test]
fn a_missing_echarts_asset_is_missing_echarts_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("report.html");
    let options = ReportOptions {
        echarts_js: Some(dir.path().join("no/echarts.min.js")),
        ..ReportOptions::default()
    };
    let err = render_report(&[common::fixture_path()], &output, &options).unwrap_err();
    assert!(matches!(err, PlotError::MissingEcharts { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("scripts/install-deps.sh"), "{text}");
    assert!(text.contains("no/echarts.min.js"), "{text}");
    assert!(!output.exists());
}

#[test]
fn an_unwritable_output_is_a_write_error() {
    let dir = tempfile::tempdir().unwrap();
    let js = write(dir.path(), "echarts.min.js", "/* echarts stand-in */");
    let options = ReportOptions {
        echarts_js: Some(js),
        ..ReportOptions::default()
    };
    let output = dir.path().join("missing-dir/report.html");
    let err = render_report(&[common::fixture_path()], &output, &options).unwrap_err();
    assert!(matches!(err, PlotError::Write { .. }), "{err:?}");
}

#[test]
fn a_run_where_every_point_failed_still_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = fixture_value();
    for p in v["points"].as_array_mut().unwrap() {
        p["verified"] = false.into();
        p["error"] = "receiver saw a wrong byte".into();
    }
    v["complete"] = false.into();
    v["interrupted"] = "Ctrl-C".into();
    let input = write(dir.path(), "broken.json", &v.to_string());
    let js = write(dir.path(), "echarts.min.js", "/* echarts stand-in */");
    let output = dir.path().join("report.html");
    let options = ReportOptions {
        echarts_js: Some(js),
        ..ReportOptions::default()
    };
    let summary = render_report(&[input], &output, &options).unwrap();
    assert_eq!(summary.plotted_points, 0);
    assert_eq!(summary.configurations, 0);
    assert!(summary.charts.is_empty(), "{:?}", summary.charts);
    // Every chart is a note, the decision map too (no finding to map).
    assert_eq!(summary.notes.len(), 7);
    // One warning per point, plus the interruption.
    assert_eq!(summary.warnings.len(), summary.points + 1);
    let html = std::fs::read_to_string(&output).unwrap();
    assert!(html.contains("Ctrl-C"));
    assert!(html.contains("left out of the charts"));
}

#[test]
fn a_build_without_the_asset_asks_for_it() {
    // Only observable in a build made without assets/ (or with COPYBENCH_ECHARTS_JS pointing
    // nowhere); with the asset embedded a report always has its ECharts.
    if copybench_plot::echarts::EMBEDDED.is_some()
        || std::env::var_os("COPYBENCH_ECHARTS_JS").is_some()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("report.html");
    let err = render_report(
        &[common::fixture_path()],
        &output,
        &ReportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, PlotError::MissingEcharts { .. }), "{err:?}");
    assert!(err.to_string().contains("scripts/install-deps.sh"), "{err}");
    assert!(!output.exists());
}

#[test]
fn a_point_whose_receivers_saw_another_rate_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = fixture_value();
    let points = v["points"].as_array_mut().unwrap();
    let sent = points[0]["throughput_gbps"].as_f64().unwrap();
    points[0]["receiver"]["throughput_gbps"] = (sent * 0.8).into();
    points[1]["receiver"]["throughput_gbps"] = points[1]["throughput_gbps"].clone();
    let input = write(dir.path(), "skewed.json", &v.to_string());
    let js = write(dir.path(), "echarts.min.js", "/* echarts stand-in */");
    let output = dir.path().join("report.html");
    let options = ReportOptions {
        echarts_js: Some(js),
        ..ReportOptions::default()
    };
    let summary = render_report(&[input], &output, &options).unwrap();
    let rate: Vec<&String> = summary
        .warnings
        .iter()
        .filter(|w| w.contains("% apart"))
        .collect();
    assert_eq!(rate.len(), 1, "{:?}", summary.warnings);
    assert!(rate[0].contains("20% apart"), "{}", rate[0]);
    let html = std::fs::read_to_string(&output).unwrap();
    assert!(html.contains("20% apart"));
}
