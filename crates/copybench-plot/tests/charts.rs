//! What each chart shows, or the note that replaces it.

use crate::common;

use copybench_core::engine::Mode;
use copybench_core::result::RunResults;
use copybench_core::StrategyKind;
use copybench_plot::{
    load_results, sections, strategy_color, ChartBody, ChartSection, LabeledRun,
    COPIED_RATIO_WORDS, LLC_NOT_MEASURED,
};

fn fixture() -> RunResults {
    load_results(&common::fixture_path()).unwrap()
}

fn one(results: RunResults) -> Vec<LabeledRun> {
    vec![LabeledRun {
        label: "r".into(),
        path: None,
        results,
    }]
}

fn find<'a>(all: &'a [ChartSection], id: &str) -> &'a ChartSection {
    all.iter().find(|s| s.id == id).unwrap()
}

fn option(s: &ChartSection) -> &str {
    match &s.body {
        ChartBody::Chart(o) => o,
        ChartBody::Note(n) => panic!("{} is a note: {n}", s.id),
    }
}

fn note(s: &ChartSection) -> &str {
    match &s.body {
        ChartBody::Note(n) => n,
        ChartBody::Chart(_) => panic!("{} is a chart", s.id),
    }
}

#[test]
fn the_fixture_charts_what_it_measured_and_notes_what_it_did_not() {
    let all = sections(&one(fixture())).unwrap();
    let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "chart-decision",
            "chart-relative",
            "chart-throughput",
            "chart-latency",
            "chart-llc",
            "chart-cpu",
            "chart-copied"
        ]
    );
    for id in ["chart-throughput", "chart-latency", "chart-copied"] {
        let o = option(find(&all, id));
        assert!(o.contains("saveAsImage"), "{id}");
        assert!(
            o.contains("\"logBase\": 2.0") || id == "chart-latency",
            "{id}"
        );
    }
    let throughput_section = find(&all, "chart-throughput");
    // Small multiples: one panel per thread count, series named by strategy alone.
    assert_eq!(throughput_section.panels, ["1 thread", "2 threads"]);
    let throughput = option(throughput_section);
    for name in ["two-copy", "scatter-gather", "zero-copy"] {
        assert!(
            throughput.contains(&format!("\"name\": \"{name}\"")),
            "{name}"
        );
    }
    let names: Vec<&str> = throughput
        .split("\"name\": \"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains("thread")),
        "no series per thread count: {names:?}"
    );
    assert!(throughput.contains("\"gridIndex\": 1.0"), "a second panel");
    // Latency: one panel per message size (the fixture's rr points are all 1 KiB).
    assert_eq!(find(&all, "chart-latency").panels, ["1 KiB"]);
    // min..max bars ride along as custom series.
    assert!(throughput.contains("\"type\": \"custom\""));
    let latency = find(&all, "chart-latency");
    assert!(latency.heading.contains("Round-trip") && latency.heading.contains("rr"));
    assert!(option(latency).contains("p99.9"));
    assert_eq!(
        note(find(&all, "chart-llc")).split(". ").next().unwrap(),
        LLC_NOT_MEASURED
    );
    assert!(note(find(&all, "chart-cpu")).contains("not measured"));
    let copied = find(&all, "chart-copied");
    assert!(copied.caption.contains(COPIED_RATIO_WORDS));
    assert!(copied.caption.contains("loopback"));
    assert!(
        !option(copied).contains("two-copy"),
        "only zero-copy has a copied ratio"
    );
}

#[test]
fn stream_only_results_show_send_call_latency_labelled_so() {
    let mut run = fixture();
    run.points.retain(|p| p.mode == Mode::Stream);
    let all = sections(&one(run)).unwrap();
    let latency = find(&all, "chart-latency");
    assert!(latency.heading.contains("Send-call"), "{}", latency.heading);
    assert!(latency.caption.contains("send call"));
}

#[test]
fn partly_measured_figures_leave_gaps_not_zeros() {
    let run = common::with_counter_figures(fixture());
    let all = sections(&one(run)).unwrap();
    let llc = find(&all, "chart-llc");
    assert!(
        llc.heading.contains("generic cache-misses event"),
        "{}",
        llc.heading
    );
    assert!(llc.caption.contains("generic cache-misses"));
    let o = option(llc);
    assert!(o.contains("null"), "unmeasured sizes must be null, not 0");
    assert!(o.contains("12.5"));
    let cpu = find(&all, "chart-cpu");
    assert!(option(cpu).contains("sender"));
    assert!(
        !option(cpu).contains(" receiver\""),
        "no receiver series without figures"
    );
    assert!(
        cpu.remarks.iter().any(|r| r.contains("Receiver CPU")),
        "{:?}",
        cpu.remarks
    );
}

#[test]
fn several_runs_are_labelled_by_run() {
    let runs = vec![
        LabeledRun {
            label: "veth".into(),
            path: None,
            results: fixture(),
        },
        LabeledRun {
            label: "lo".into(),
            path: None,
            results: fixture(),
        },
    ];
    let all = sections(&runs).unwrap();
    let o = option(find(&all, "chart-throughput"));
    assert!(o.contains("\"veth: two-copy\"") && o.contains("\"lo: two-copy\""));
}

#[test]
fn a_stream_file_and_an_rr_file_each_feed_only_their_charts() {
    let split = |mode: Mode| {
        let mut r = fixture();
        r.points.retain(|p| p.mode == mode);
        r.config.mode = mode;
        r
    };
    let runs = vec![
        LabeledRun {
            label: "STREAMFILE".into(),
            path: None,
            results: split(Mode::Stream),
        },
        LabeledRun {
            label: "RRFILE".into(),
            path: None,
            results: split(Mode::Rr),
        },
    ];
    let all = sections(&runs).unwrap();
    let throughput = option(find(&all, "chart-throughput"));
    assert!(throughput.contains("STREAMFILE") && !throughput.contains("RRFILE"));
    let latency = option(find(&all, "chart-latency"));
    assert!(latency.contains("RRFILE") && !latency.contains("STREAMFILE"));
    // With the rr file alone, its rows are all there is: they are drawn, labelled as such.
    let alone = sections(&runs[1..]).unwrap();
    assert!(find(&alone, "chart-latency").is_chart());
}

/// Every colour drawn in `option` (series, markers, marks).
fn colours(option: &str) -> std::collections::BTreeSet<String> {
    option
        .split("\"color\": \"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

#[test]
fn each_strategy_has_one_colour_in_every_chart() {
    let run = common::with_counter_figures(fixture());
    let all = sections(&one(run)).unwrap();
    let palette: std::collections::BTreeSet<String> = [
        StrategyKind::TwoCopy,
        StrategyKind::ScatterGather,
        StrategyKind::ZeroCopy,
        StrategyKind::UringSend,
        StrategyKind::UringZc,
    ]
    .iter()
    .map(|k| strategy_color(*k).to_string())
    .collect();
    assert_eq!(palette.len(), 5, "five distinct colours");
    for s in all.iter().filter(|s| s.is_chart()) {
        let used: std::collections::BTreeSet<String> = colours(option(s))
            .into_iter()
            .filter(|c| c != "#ffffff" && c != "#333")
            .collect();
        assert!(used.is_subset(&palette), "{}: {used:?}", s.id);
    }
    let throughput = option(find(&all, "chart-throughput"));
    let two_copy = strategy_color(StrategyKind::TwoCopy);
    // The two-copy series of both panels carry its colour, and only two-copy's name does.
    let at = throughput.find("\"name\": \"two-copy\"").unwrap();
    let next = throughput[at..].find("\"color\": \"").unwrap();
    assert!(throughput[at + next..].starts_with(&format!("\"color\": \"{two_copy}")));
}

#[test]
fn the_headline_chart_shows_ratios_to_two_copy_with_the_reference_line() {
    let all = sections(&one(fixture())).unwrap();
    let relative = find(&all, "chart-relative");
    assert_eq!(relative.panels, ["1 thread", "2 threads"]);
    let o = option(relative);
    assert!(o.contains("zero-copy throughput") && o.contains("scatter-gather throughput"));
    assert!(
        !o.contains("\"two-copy throughput\""),
        "two-copy is the reference"
    );
    assert!(o.contains("two-copy = 1") && o.contains("\"markLine\""));
    // No CPU figures in the fixture: no CPU ratio series, never a 0.
    assert!(!o.contains("CPU/byte\""), "{o}");
}

#[test]
fn a_break_even_inside_the_range_is_marked_where_the_findings_put_it() {
    // Zero-copy made 10x faster at 256 KiB only: it loses at 1 and 16 KiB and wins at 256 KiB,
    // so the findings put its break-even between 16 and 256 KiB, and the chart marks it.
    let mut run = fixture();
    for p in &mut run.points {
        if p.strategy == StrategyKind::ZeroCopy && p.msg_size == 256 << 10 {
            p.throughput_gbps *= 10.0;
        }
    }
    let runs = one(run);
    let f = copybench_plot::findings_of(&runs[0]);
    let stream1 = f
        .groups
        .iter()
        .find(|g| g.mode == Mode::Stream && g.threads == 1)
        .unwrap();
    let be = stream1
        .break_even
        .iter()
        .find(|b| b.metric == copybench_core::findings::Figure::ThroughputGbps)
        .unwrap();
    let copybench_core::findings::Crossing::WinsFrom {
        size_bytes,
        between,
    } = be.result
    else {
        panic!("{:?}", be.result);
    };
    assert_eq!(between, [16 << 10, 256 << 10]);
    let all = sections(&runs).unwrap();
    let o = option(find(&all, "chart-throughput"));
    assert!(o.contains("\"markLine\""), "{o}");
    assert!(o.contains(&format!("\"xAxis\": {size_bytes}")), "{o}");
    assert!(o.contains("zero-copy wins from ~"), "{o}");
    // Without the doctoring there is nothing to mark.
    let plain = option(find(
        &sections(&one(fixture())).unwrap(),
        "chart-throughput",
    ))
    .to_string();
    assert!(!plain.contains("\"markLine\""));
}

#[test]
fn the_copied_ratio_chart_shows_every_zero_copy_path() {
    let mut run = fixture();
    let uring: Vec<_> = run
        .points
        .iter()
        .filter(|p| p.strategy == StrategyKind::ZeroCopy)
        .cloned()
        .map(|mut p| {
            p.strategy = StrategyKind::UringZc;
            p
        })
        .collect();
    run.points.extend(uring);
    let all = sections(&one(run)).unwrap();
    let o = option(find(&all, "chart-copied"));
    assert!(o.contains("\"name\": \"zero-copy\""));
    assert!(o.contains("\"name\": \"io_uring zero-copy\""));
    assert!(!o.contains("\"name\": \"two-copy\""));
}

#[test]
fn the_findings_a_file_stores_are_the_ones_the_report_shows() {
    // The fixture predates stored findings: they are computed from its points.
    let mut run = fixture();
    assert!(run.findings.is_none());
    let computed = copybench_plot::findings_of(&one(run.clone())[0]);
    assert!(!computed.groups.is_empty());
    // A file that stores findings is shown as written (what `copybench run` printed), even
    // where this version would compute something else from its points.
    let mut stored = computed.clone();
    stored.groups.truncate(1);
    stored.caveats.push(copybench_core::findings::Caveat {
        kind: copybench_core::findings::CaveatKind::Incomplete,
        text: "stored by the run that wrote this file".into(),
    });
    run.findings = Some(stored.clone());
    let shown = copybench_plot::findings_of(&one(run)[0]);
    assert_eq!(shown, stored);
    assert_ne!(shown, computed);
}
