//! The "copybench vs peers" section: drawn only when a run has peer points, with one line per
//! tool and a table of copybench's ratio to each peer; copybench's own charts keep out the
//! peers, and a peer's unverified points are not warnings (peers check no bytes).

mod common;

use copybench_core::result::{PeerFigures, RunResults};
use copybench_core::StrategyKind;
use copybench_plot::{load_results, render_html, sections, ChartBody, LabeledRun, ReportOptions};

/// The committed loopback fixture's scatter-gather stream points, plus an iperf3 point beside
/// each of them at a known fraction of copybench's throughput.
fn side_by_side(iperf3_share: f64) -> RunResults {
    let mut r = load_results(&common::fixture_path()).unwrap();
    r.points.retain(|p| {
        p.strategy == StrategyKind::ScatterGather && p.mode == "stream" && p.error.is_none()
    });
    let peers: Vec<_> = r
        .points
        .iter()
        .map(|p| {
            let mut q = p.clone();
            q.tool = "iperf3".into();
            q.verified = false;
            q.throughput_gbps = p.throughput_gbps * iperf3_share;
            q.peer = Some(PeerFigures {
                throughput_side: "receiver".into(),
                ..PeerFigures::default()
            });
            q
        })
        .collect();
    r.points.extend(peers);
    r
}

fn one(results: RunResults) -> Vec<LabeledRun> {
    vec![LabeledRun {
        label: "peers".into(),
        path: None,
        results,
    }]
}

#[test]
fn peers_get_their_own_chart_and_a_ratio_table() {
    // iperf3 at half of copybench's rate, at every point: every ratio is 2.000.
    let runs = one(side_by_side(0.5));
    let all = sections(&runs).unwrap();
    let last = all.last().unwrap();
    assert_eq!(last.id, "chart-peers");
    assert_eq!(last.heading, "copybench vs peers");
    let ChartBody::Chart(option) = &last.body else {
        panic!("peers section is a note")
    };
    assert!(option.contains("copybench, 1 thread"), "{option}");
    assert!(option.contains("iperf3, 1 thread"), "{option}");

    let table = &last.table;
    assert_eq!(
        table[0],
        [
            "size",
            "threads",
            "copybench Gbps",
            "iperf3 Gbps",
            "copybench / iperf3",
            "copybench / best peer"
        ]
    );
    // The fixture has 3 sizes x 2 thread counts.
    assert_eq!(table.len(), 1 + 3 * 2);
    for row in &table[1..] {
        assert_eq!(row[4], "2.000", "{row:?}");
        assert_eq!(row[5], "2.000", "{row:?}");
    }

    // copybench's own throughput chart has no peer in it.
    let throughput = all.iter().find(|s| s.id == "chart-throughput").unwrap();
    let ChartBody::Chart(own) = &throughput.body else {
        panic!()
    };
    assert!(!own.contains("iperf3"));
}

#[test]
fn the_page_shows_the_table_and_no_peer_warnings() {
    let runs = one(side_by_side(1.25));
    let (html, summary) = render_html(&runs, &ReportOptions::default()).unwrap();
    assert!(html.contains("id=\"chart-peers-table\""));
    assert!(
        html.contains("<td>0.800</td>"),
        "copybench at 1/1.25 of iperf3"
    );
    assert!(
        summary.warnings.iter().all(|w| !w.contains("iperf3")),
        "{:?}",
        summary.warnings
    );
    assert!(summary.charts.contains(&"copybench vs peers".to_string()));
}

#[test]
fn a_report_without_peers_has_no_peers_section() {
    let runs = one(load_results(&common::fixture_path()).unwrap());
    let all = sections(&runs).unwrap();
    assert!(all
        .iter()
        .all(|s| s.id != "chart-peers" && s.table.is_empty()));
}
