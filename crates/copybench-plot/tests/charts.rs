//! What each chart shows, or the note that replaces it.

use crate::common;

use copybench_core::engine::Mode;
use copybench_core::result::RunResults;
use copybench_plot::{
    load_results, sections, ChartBody, ChartSection, LabeledRun, COPIED_RATIO_WORDS,
    LLC_NOT_MEASURED,
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
    let throughput = option(find(&all, "chart-throughput"));
    for name in [
        "two-copy, 1 thread",
        "scatter-gather, 2 threads",
        "zero-copy, 1 thread",
    ] {
        assert!(throughput.contains(name), "{name}");
    }
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
    assert!(o.contains("veth: two-copy, 1 thread") && o.contains("lo: two-copy, 1 thread"));
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
