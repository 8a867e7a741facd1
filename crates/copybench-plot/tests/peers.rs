//! The "copybench vs peers" section, on a real `copybench peers` result file
//! (`tests/data/peers.json`: copybench and iperf3, iperf, sockperf, nuttcp between two
//! namespaces).

use crate::common;

use copybench_core::result::{RunResults, COPYBENCH_TOOL};
use copybench_plot::{load_results, sections, ChartBody, ChartSection, LabeledRun};

fn peers_fixture() -> RunResults {
    load_results(&common::peers_fixture_path()).unwrap()
}

fn labeled(runs: Vec<(&str, RunResults)>) -> Vec<LabeledRun> {
    runs.into_iter()
        .map(|(label, results)| LabeledRun {
            label: label.into(),
            path: None,
            results,
        })
        .collect()
}

fn peers_of(all: &[ChartSection]) -> Option<&ChartSection> {
    all.iter().find(|s| s.id == "chart-peers")
}

/// The median the way a reader would take it: middle value, or the mean of the two middle ones.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn median_gbps(r: &RunResults, tool: &str, size: usize) -> Option<f64> {
    let v: Vec<f64> = r
        .points
        .iter()
        .filter(|p| p.tool == tool && p.msg_size == size && p.error.is_none())
        .map(|p| p.throughput_gbps)
        .collect();
    (!v.is_empty()).then(|| median(v))
}

#[test]
fn the_table_gives_copybench_over_each_peer_at_every_size() {
    let r = peers_fixture();
    let all = sections(&labeled(vec![("peers", r.clone())])).unwrap();
    let section = peers_of(&all).expect("a peers section for a peers run");
    assert!(matches!(section.body, ChartBody::Chart(_)));
    let table = section.table.as_ref().expect("a ratio table");
    let peers = ["iperf3", "iperf", "sockperf", "nuttcp"];
    let sizes: std::collections::BTreeSet<usize> = r.points.iter().map(|p| p.msg_size).collect();
    assert_eq!(table.rows.len(), sizes.len(), "one row per size: {table:?}");
    let col = |name: &str| {
        table
            .header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}: {:?}", table.header))
    };
    for (row, &size) in table.rows.iter().zip(&sizes) {
        assert_eq!(row[col("size")], copybench_core::units::format_size(size));
        let cb = median_gbps(&r, COPYBENCH_TOOL, size).unwrap();
        assert_eq!(row[col("copybench")], format!("{cb:.3}"));
        let mut best = 0.0f64;
        for peer in peers {
            let Some(g) = median_gbps(&r, peer, size) else {
                assert_eq!(row[col(&format!("cb / {peer}"))], "–");
                continue;
            };
            best = best.max(g);
            assert_eq!(row[col(peer)], format!("{g:.3}"));
            assert_eq!(
                row[col(&format!("cb / {peer}"))],
                format!("{:.3}", cb / g),
                "{peer} at {size}"
            );
        }
        assert_eq!(row[col("cb / best")], format!("{:.3}", cb / best));
    }
    // Every tool is a series, in one panel (one run, one connection count), named by placement.
    let ChartBody::Chart(option) = &section.body else {
        unreachable!()
    };
    for tool in std::iter::once(COPYBENCH_TOOL).chain(peers) {
        assert!(option.contains(&format!("\"{tool}\"")), "{tool}");
    }
    assert_eq!(section.panels.len(), 1);
    assert!(
        section.panels[0] == "apart (CPU 0 → 1), 1 conn.",
        "{:?}",
        section.panels
    );
    assert!(
        section
            .remarks
            .iter()
            .any(|m| m.contains("copybench's receiver") && m.contains("the peers check nothing")),
        "{:?}",
        section.remarks
    );
}

#[test]
fn peers_stay_out_of_the_strategy_charts_and_a_plain_run_has_no_peers_section() {
    let all = sections(&labeled(vec![("peers", peers_fixture())])).unwrap();
    for s in all.iter().filter(|s| s.id != "chart-peers") {
        if let ChartBody::Chart(option) = &s.body {
            for peer in ["iperf3", "sockperf", "nuttcp"] {
                assert!(!option.contains(peer), "{peer} drawn in {}", s.id);
            }
        }
    }
    let plain = sections(&labeled(vec![(
        "plain",
        load_results(&common::fixture_path()).unwrap(),
    )]))
    .unwrap();
    assert!(peers_of(&plain).is_none());
}

#[test]
fn two_placements_compared_get_a_panel_each_and_a_run_column() {
    let apart = peers_fixture();
    let mut same = peers_fixture();
    same.config.placement = Some(copybench_core::result::Placement::Same);
    for p in &mut same.points {
        p.throughput_gbps *= 2.0;
    }
    let all = sections(&labeled(vec![("apart", apart), ("same", same)])).unwrap();
    let section = peers_of(&all).unwrap();
    assert_eq!(section.panels.len(), 2, "{:?}", section.panels);
    assert!(section.panels[0].starts_with("apart: apart (CPU 0 → 1)"));
    assert!(section.panels[1].starts_with("same: same"));
    let table = section.table.as_ref().unwrap();
    assert_eq!(table.header[0], "run");
    let runs: std::collections::BTreeSet<&str> = table.rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(runs, ["apart", "same"].into());
}
