//! "copybench vs peers": the section drawn for results of `copybench peers`, which runs
//! copybench's single-field stream and iperf3, iperf, sockperf and nuttcp on the same topology
//! under one CPU placement, alternated point by point.
//!
//! The chart puts every tool's median throughput against message size, one panel per run and
//! thread count (a run is one placement); the table gives the medians and copybench's ratio to
//! each peer and to the best peer, per size. Only runs that hold a peer's point get a panel or a
//! row; a report without any gets no section at all.

use std::collections::{BTreeMap, BTreeSet};

use charming::element::{LineStyleType, Symbol};
use copybench_core::engine::Mode;
use copybench_core::result::{RunResults, COPYBENCH_TOOL};
use copybench_core::units::format_size;

use crate::aggregate::{Aggregate, Stat};
use crate::charts::{section, ChartSection, SectionTable};
use crate::load::LabeledRun;
use crate::render::{spans_decades, SeriesSpec, XKind, XyChart};

/// Peers in the order `copybench peers` tries them; any other tool follows, by name.
const PEER_ORDER: [&str; 4] = ["iperf3", "iperf", "sockperf", "nuttcp"];

/// The one colour of each tool in this chart; copybench in black, so that it stands out.
pub fn tool_color(tool: &str) -> &'static str {
    match tool {
        COPYBENCH_TOOL => "#1d1d1f",
        "iperf3" => "#2b5c9e",
        "iperf" => "#2e8540",
        "sockperf" => "#7b4fb3",
        "nuttcp" => "#c0343c",
        _ => "#8a8a8a",
    }
}

fn tool_symbol(tool: &str) -> Symbol {
    match tool {
        COPYBENCH_TOOL => Symbol::Circle,
        "iperf3" => Symbol::Rect,
        "iperf" => Symbol::Triangle,
        "sockperf" => Symbol::Diamond,
        _ => Symbol::Pin,
    }
}

/// The peers present in `rows`, in [`PEER_ORDER`] then by name.
fn peers_in(rows: &[&Aggregate]) -> Vec<String> {
    let present: BTreeSet<&str> = rows
        .iter()
        .map(|a| a.tool.as_str())
        .filter(|t| *t != COPYBENCH_TOOL)
        .collect();
    let mut out: Vec<String> = PEER_ORDER
        .iter()
        .filter(|p| present.contains(*p))
        .map(|p| p.to_string())
        .collect();
    out.extend(
        present
            .iter()
            .filter(|t| !PEER_ORDER.contains(t))
            .map(|t| t.to_string()),
    );
    out
}

/// The placement of a run in a few words: its name and the CPUs of each side, as recorded
/// (`apart (CPU 0 → 1)`: senders on CPU 0, receivers on CPU 1).
pub fn placement_words(r: &RunResults) -> String {
    let cpus = r.config.pin.as_ref().map(|pin| {
        format!(
            "CPU {} → {}",
            cpu_list(&pin.sender_cpus),
            cpu_list(&pin.receiver_cpus)
        )
    });
    match (r.config.placement, cpus) {
        (Some(p), Some(cpus)) => format!("{} ({cpus})", p.name()),
        (Some(p), None) => p.name().to_string(),
        (None, Some(cpus)) => cpus,
        (None, None) => "unpinned".into(),
    }
}

fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// copybench's median throughput over each peer's, where both were measured.
pub fn ratio(copybench: Option<Stat>, peer: Option<Stat>) -> Option<f64> {
    match (copybench, peer) {
        (Some(c), Some(p)) if p.median > 0.0 => Some(c.median / p.median),
        _ => None,
    }
}

/// The streams of the runs that have a peer's point, keyed by (run, threads, size, tool).
fn peer_rows(aggs: &[Aggregate]) -> BTreeMap<(usize, usize, usize, String), &Aggregate> {
    let runs_with_peers: BTreeSet<usize> = aggs
        .iter()
        .filter(|a| a.tool != COPYBENCH_TOOL)
        .map(|a| a.run)
        .collect();
    aggs.iter()
        .filter(|a| runs_with_peers.contains(&a.run) && a.mode == Mode::Stream)
        // copybench's own side of the comparison is its single-field scatter-gather stream.
        .filter(|a| {
            a.tool != COPYBENCH_TOOL || a.strategy == copybench_core::StrategyKind::ScatterGather
        })
        .map(|a| ((a.run, a.threads, a.msg_size, a.tool.clone()), a))
        .collect()
}

/// The "copybench vs peers" section, or `None` when no run holds a peer's point.
pub fn peers_section(input: &super::ChartInputs<'_>) -> Option<ChartSection> {
    let (runs, aggs) = (input.runs, input.all);
    let rows = peer_rows(aggs);
    if rows.is_empty() {
        return None;
    }
    let all: Vec<&Aggregate> = rows.values().copied().collect();
    let peers = peers_in(&all);
    let mut tools = vec![COPYBENCH_TOOL.to_string()];
    tools.extend(peers.iter().cloned());

    // One panel per (run, threads).
    let panel_keys: BTreeSet<(usize, usize)> = rows.keys().map(|k| (k.0, k.1)).collect();
    let several_runs = panel_keys
        .iter()
        .map(|k| k.0)
        .collect::<BTreeSet<_>>()
        .len()
        > 1;
    let panel_titles: Vec<String> = panel_keys
        .iter()
        .map(|&(run, threads)| {
            let who = if several_runs {
                format!("{}: ", runs[run].label)
            } else {
                String::new()
            };
            let connections = if threads == 1 {
                "1 conn.".to_string()
            } else {
                format!("{threads} conn.")
            };
            format!(
                "{who}{}, {connections}",
                placement_words(&runs[run].results)
            )
        })
        .collect();

    let mut series = Vec::new();
    for (panel, &(run, threads)) in panel_keys.iter().enumerate() {
        for tool in &tools {
            let points: Vec<(f64, Option<Stat>, usize)> = rows
                .iter()
                .filter(|((r, t, _, name), _)| (*r, *t) == (run, threads) && name == tool)
                .map(|((_, _, size, _), a)| (*size as f64, a.throughput_gbps, a.repetitions))
                .collect();
            if points.iter().all(|p| p.1.is_none()) {
                continue;
            }
            series.push(SeriesSpec {
                // No run prefix: the panel names the run, and one legend entry per tool toggles
                // it in every panel.
                name: tool.clone(),
                color: tool_color(tool),
                line: LineStyleType::Solid,
                symbol: tool_symbol(tool),
                panel,
                points,
                marks: Vec::new(),
            });
        }
    }

    // Log y when the sizes' rates span a decade, so that 1 KiB is read as well as 64 KiB.
    let y_log = spans_decades(&series);
    let chart = XyChart {
        id: "chart-peers".into(),
        title: "copybench vs peers".into(),
        subtitle: format!(
            "median throughput of each tool on the same topology and placement; bars span \
             min..max{}",
            if y_log { "; log scale" } else { "" }
        ),
        x: XKind::Bytes,
        x_name: "bytes per write (log2)".into(),
        y_name: "throughput (Gbps)".into(),
        unit: "Gbps".into(),
        y_log,
        y_range: None,
        panels: panel_titles,
        series,
        rank: input.rank.clone(),
    };
    let caption = "copybench peers: copybench's single-field scatter-gather stream (one buffer \
                   per sendmsg, the work a peer's write does) and each installed peer, on the \
                   same topology, under the same CPU placement, alternated point by point. \
                   Medians over the repetitions; the table gives copybench's median divided by \
                   each peer's and by the best peer's at every size (cb / peer; above 1: \
                   copybench moved more). iperf3, iperf and nuttcp count what their receiver read; sockperf and \
                   copybench what the sender sent (copybench after its warm-up)."
        .to_string();
    let mut out = section(
        caption,
        chart,
        "No throughput measured for copybench or its peers.",
        remarks(runs, &rows),
    );
    out.table = Some(ratio_table(runs, &rows, &peers, several_runs));
    Some(out)
}

/// What copybench's receivers checked in the peers' runs: the peers check nothing.
fn remarks(
    runs: &[LabeledRun],
    rows: &BTreeMap<(usize, usize, usize, String), &Aggregate>,
) -> Vec<String> {
    let run_ids: BTreeSet<usize> = rows.keys().map(|k| k.0).collect();
    let checks: BTreeSet<&'static str> = run_ids
        .iter()
        .flat_map(|&r| runs[r].results.points.iter())
        .filter(|p| p.tool == COPYBENCH_TOOL)
        .map(|p| p.verification.describe())
        .collect();
    let mut out: Vec<String> = checks
        .into_iter()
        .map(|c| format!("copybench's receiver: {c}; the peers check nothing."))
        .collect();
    for &r in &run_ids {
        for u in runs[r]
            .results
            .unsupported
            .iter()
            .filter(|u| u.tool != COPYBENCH_TOOL)
        {
            out.push(format!("{}: {}: {}", runs[r].label, u.tool, u.reason));
        }
    }
    out
}

fn ratio_table(
    runs: &[LabeledRun],
    rows: &BTreeMap<(usize, usize, usize, String), &Aggregate>,
    peers: &[String],
    several_runs: bool,
) -> SectionTable {
    let mut header = Vec::new();
    if several_runs {
        header.push("run".to_string());
    }
    header.extend(["placement", "conn.", "size", "copybench"].map(String::from));
    header.extend(peers.iter().cloned());
    header.extend(peers.iter().map(|p| format!("cb / {p}")));
    header.push("cb / best".into());

    let cells: BTreeSet<(usize, usize, usize)> = rows.keys().map(|k| (k.0, k.1, k.2)).collect();
    let gbps = |s: Option<Stat>| s.map_or("–".to_string(), |s| format!("{:.3}", s.median));
    let times = |r: Option<f64>| r.map_or("–".to_string(), |r| format!("{r:.3}"));
    let mut body = Vec::new();
    for (run, threads, size) in cells {
        let get = |tool: &str| {
            rows.get(&(run, threads, size, tool.to_string()))
                .and_then(|a| a.throughput_gbps)
        };
        let copybench = get(COPYBENCH_TOOL);
        let mut row = Vec::new();
        if several_runs {
            row.push(runs[run].label.clone());
        }
        row.push(placement_words(&runs[run].results));
        row.push(threads.to_string());
        row.push(format_size(size));
        row.push(gbps(copybench));
        row.extend(peers.iter().map(|p| gbps(get(p))));
        row.extend(peers.iter().map(|p| times(ratio(copybench, get(p)))));
        let best = peers
            .iter()
            .filter_map(|p| get(p))
            .max_by(|a, b| a.median.total_cmp(&b.median));
        row.push(times(ratio(copybench, best)));
        body.push(row);
    }
    SectionTable {
        id: "peers-table".into(),
        header,
        rows: body,
    }
}
