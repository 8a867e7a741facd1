//! The decision map (who wins where, from the findings) and the five series a chart opens
//! with.

use crate::common;

use copybench_core::engine::Mode;
use copybench_core::result::RunResults;
use copybench_core::StrategyKind::{self, TwoCopy, ZeroCopy};
use copybench_plot::{
    load_results, sections, strategy_color, strategy_rank, ChartBody, ChartSection, LabeledRun,
    DECISION_ID, VISIBLE_SERIES,
};

fn one(results: RunResults) -> Vec<LabeledRun> {
    vec![LabeledRun {
        label: "r".into(),
        path: None,
        results,
    }]
}

fn option(s: &ChartSection) -> &str {
    match &s.body {
        ChartBody::Chart(o) => o,
        ChartBody::Note(n) => panic!("{} is a note: {n}", s.id),
    }
}

/// Every `"value": [...]` array of the option, as its items' text.
fn values(option: &str) -> Vec<Vec<String>> {
    option
        .split("\"value\": [")
        .skip(1)
        .map(|rest| {
            rest[..rest.find(']').unwrap()]
                .split(',')
                .map(|v| v.trim().to_string())
                .collect()
        })
        .collect()
}

/// The fixture's stream points (3 sizes x 2 thread counts x 5 strategies x 3 repetitions)
/// with known throughputs: at 1 thread two-copy wins at 1 and 16 KiB and zero-copy at
/// 256 KiB, all told apart (every repetition within 1%); at 2 threads the same medians with
/// repetitions 60% apart, so nothing is told apart anywhere.
fn known(mut r: RunResults) -> RunResults {
    r.points.retain(|p| p.mode == Mode::Stream && p.verified);
    r.failures.clear();
    for p in &mut r.points {
        let base = match (p.strategy, p.msg_size) {
            (TwoCopy, _) => 10.0,
            (ZeroCopy, s) if s >= 256 << 10 => 20.0,
            (ZeroCopy, _) => 6.0,
            _ => 3.0,
        };
        let spread = if p.threads == 1 { 0.01 } else { 0.6 };
        p.throughput_gbps = base * (1.0 + spread * (p.repetition as f64 - 1.0));
    }
    r.findings = None;
    r
}

#[test]
fn the_map_colours_winners_tints_the_unclear_and_bars_the_brackets() {
    let run = known(load_results(&common::fixture_path()).unwrap());
    let all = sections(&one(run)).unwrap();
    let map = &all[0];
    assert_eq!(map.id, DECISION_ID, "the decision map comes first");
    assert_eq!(
        map.panels,
        ["loopback tcp stream: winner by median throughput"]
    );
    let o = option(map);
    // One series per strategy that owns a cell, in its colour; no other strategy.
    for k in [TwoCopy, ZeroCopy] {
        assert!(o.contains(&format!("\"name\": \"{}\"", k.label())), "{k}");
        assert!(o.contains(strategy_color(k)), "{k}");
    }
    assert!(!o.contains("\"name\": \"scatter-gather\""));

    // Cells: [column, row, state, margin %]; brackets: [lower, upper, row, told apart].
    let all_values = values(o);
    let cells: Vec<&Vec<String>> = all_values
        .iter()
        .filter(|v| v.len() == 4 && !v[2].contains('.'))
        .collect();
    let brackets: Vec<&Vec<String>> = all_values
        .iter()
        .filter(|v| v.len() == 4 && v[2].contains('.'))
        .collect();
    let state = |row: &str, state: &str| {
        cells
            .iter()
            .filter(|c| c[1] == row && c[2] == state)
            .count()
    };
    assert_eq!((state("0.0", "2"), state("0.0", "1")), (3, 0), "{cells:?}");
    assert_eq!((state("1.0", "2"), state("1.0", "1")), (0, 3), "{cells:?}");
    // Two-copy leads zero-copy by 67% at 1 KiB (10 vs 6 Gbps), as its cell says.
    assert!(
        cells
            .iter()
            .any(|c| c[..2] == ["0.0", "0.0"] && c[3].starts_with("66.6")),
        "{cells:?}"
    );
    // Zero-copy starts winning between 16 KiB (column 1) and 256 KiB (column 2), in each row:
    // told apart at both ends at 1 thread (solid), not at 2 threads (dashed).
    let mut got: Vec<(String, String, String, String)> = brackets
        .iter()
        .map(|b| (b[0].clone(), b[1].clone(), b[2].clone(), b[3].clone()))
        .collect();
    got.sort();
    let want = |row: &str, apart: &str| ("1.0".into(), "2.0".into(), row.into(), apart.into());
    assert_eq!(got, [want("0.0", "1"), want("1.0", "0")], "{brackets:?}");
    // Each cell says its figures on hover.
    assert!(o.contains("two-copy wins by 67% over zero-copy"), "tooltip");
    assert!(o.contains("no clear winner: two-copy leads zero-copy by 67%"));
    assert!(o.contains("starts winning between 16 KiB and 256 KiB"));
    assert!(map.height_px >= 2 * 52, "room for two rows");
}

#[test]
fn no_findings_make_a_note_not_an_empty_map() {
    let mut run = load_results(&common::fixture_path()).unwrap();
    run.points.clear();
    let all = sections(&one(run)).unwrap();
    assert_eq!(all[0].id, DECISION_ID);
    assert!(matches!(&all[0].body, ChartBody::Note(n) if n.contains("no point")));
}

/// The `legend.selected` object of an option: how many series it hides.
fn hidden(option: &str) -> usize {
    match option.split("\"selected\": {").nth(1) {
        Some(rest) => rest[..rest.find('}').unwrap()].matches(": false").count(),
        None => 0,
    }
}

#[test]
fn charts_open_with_at_most_five_series_the_ones_that_matter() {
    let run = load_results(&common::fixture_path()).unwrap();
    let all = sections(&one(run.clone())).unwrap();
    let strategies: std::collections::BTreeSet<StrategyKind> =
        run.points.iter().map(|p| p.strategy).collect();
    assert_eq!(strategies.len(), 3, "the fixture's strategies");
    // Throughput: a series per strategy, at most five: all shown.
    let throughput = all.iter().find(|s| s.id == "chart-throughput").unwrap();
    assert_eq!(hidden(option(throughput)), 0);
    // Latency: three per strategy (p50, p99, p99.9): all but five hidden, one click away,
    // and the subtitle says so.
    let latency = all.iter().find(|s| s.id == "chart-latency").unwrap();
    let o = option(latency);
    let more = 3 * strategies.len() - VISIBLE_SERIES;
    assert_eq!(hidden(o), more, "{o}");
    assert!(o.contains(&format!("{more} more series in the legend, one click away")));
    // The shown ones are the strategy that matters most, first.
    let findings = vec![copybench_plot::findings_of(&one(run)[0])];
    let first: StrategyKind = strategy_rank(&findings)[0];
    let selected = o.split("\"selected\": {").nth(1).unwrap();
    let selected = &selected[..selected.find('}').unwrap()];
    assert!(
        !selected.contains(&format!("\"{} p50\"", first.label())),
        "{first} is hidden: {selected}"
    );
}
