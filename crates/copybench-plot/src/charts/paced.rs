//! The paced chart (`copybench run --rate`): sender CPU per byte against the target rate, one
//! panel per message size and thread count, one colour per strategy, receivers dashed. Paced
//! points are drawn here only: the charts against message size are of unpaced runs, where
//! every strategy goes as fast as it can.
//!
//! Repetitions are folded here by core's rule (`Spread::of`) rather than through the size
//! charts' aggregate: a paced cell is (run, strategy, size, threads, rate), a key that
//! aggregate does not have.

use std::collections::{BTreeMap, BTreeSet};

use charming::element::{LineStyleType, Symbol};
use copybench_core::result::{Point, COPYBENCH_TOOL};
use copybench_core::stats::Spread;
use copybench_core::units::format_bytes;
use copybench_core::StrategyKind;

use crate::aggregate::{is_plotted, Stat};
use crate::charts::{section, strategy_color, ChartSection};
use crate::load::LabeledRun;
use crate::render::{spans_decades, SeriesSpec, XKind, XyChart};

/// Whether a point belongs to the paced chart (and to no chart against message size).
pub fn is_paced(p: &Point) -> bool {
    p.pacing.is_some()
}

/// A series' name, prefixed with its run's label when several runs are compared.
fn run_prefix(runs: &[LabeledRun], run: usize) -> String {
    if runs.len() > 1 {
        format!("{}: ", runs[run].label)
    } else {
        String::new()
    }
}

/// Runs are told apart by marker.
fn run_symbol(run: usize) -> Symbol {
    [
        Symbol::Circle,
        Symbol::Rect,
        Symbol::Triangle,
        Symbol::Diamond,
    ][run % 4]
        .clone()
}

/// A figure over a cell's repetitions, by core's one rule (`Spread::of`).
fn stat(values: &[f64]) -> Option<Stat> {
    Spread::of(values).map(Stat::from)
}

/// The section, when some run has paced points: the chart, or a note when none has CPU
/// figures.
pub(super) fn paced_section(input: &super::ChartInputs<'_>) -> Option<ChartSection> {
    let runs = input.runs;
    // (run, strategy, size, threads, rate) -> points, in a stable order.
    type Key = (usize, StrategyKind, usize, usize, u64);
    let mut cells: BTreeMap<Key, Vec<&Point>> = BTreeMap::new();
    for (run, r) in runs.iter().enumerate() {
        for p in &r.results.points {
            if let (true, true, Some(rate)) =
                (is_plotted(p), p.tool == COPYBENCH_TOOL, p.target_rate_bps())
            {
                cells
                    .entry((run, p.strategy, p.msg_size, p.threads, rate))
                    .or_default()
                    .push(p);
            }
        }
    }
    if cells.is_empty() {
        return None;
    }
    let panel_keys: BTreeSet<(usize, usize)> = cells.keys().map(|k| (k.2, k.3)).collect();
    let several_threads = panel_keys
        .iter()
        .map(|k| k.1)
        .collect::<BTreeSet<_>>()
        .len()
        > 1;
    let panels: Vec<String> = panel_keys
        .iter()
        .map(|&(size, threads)| {
            if several_threads {
                format!("{} x{threads}", format_bytes(size))
            } else {
                format_bytes(size)
            }
        })
        .collect();
    let panel_of = |size: usize, threads: usize| {
        panel_keys
            .iter()
            .position(|&k| k == (size, threads))
            .expect("every cell has its panel")
    };

    let mut series = Vec::new();
    let mut missed = 0usize;
    let lines: BTreeSet<(usize, StrategyKind, usize, usize)> =
        cells.keys().map(|k| (k.0, k.1, k.2, k.3)).collect();
    for (run, strategy, size, threads) in lines {
        for (side, line, pick) in [
            (
                "sender",
                LineStyleType::Solid,
                (|p: &Point| p.sender.cpu_ns_per_byte) as fn(&Point) -> Option<f64>,
            ),
            ("receiver", LineStyleType::Dashed, |p: &Point| {
                p.receiver.cpu_ns_per_byte
            }),
        ] {
            let points: Vec<(f64, Option<Stat>, usize)> = cells
                .iter()
                .filter(|(k, _)| (k.0, k.1, k.2, k.3) == (run, strategy, size, threads))
                .map(|(k, ps)| {
                    let values: Vec<f64> = ps.iter().filter_map(|p| pick(p)).collect();
                    (k.4 as f64 / 1e9, stat(&values), values.len())
                })
                .collect();
            if points.iter().all(|p| p.1.is_none()) {
                continue;
            }
            series.push(SeriesSpec {
                name: format!("{}{strategy} {side}", run_prefix(runs, run)),
                color: strategy_color(strategy),
                line,
                symbol: run_symbol(run),
                panel: panel_of(size, threads),
                points,
                marks: Vec::new(),
            });
        }
        missed += cells
            .iter()
            .filter(|(k, _)| (k.0, k.1, k.2, k.3) == (run, strategy, size, threads))
            .flat_map(|(_, ps)| ps.iter())
            .filter(|p| p.pacing.as_ref().is_some_and(|x| !x.rate_reached))
            .count();
    }
    let y_log = spans_decades(&series);
    let chart = XyChart {
        id: "chart-paced".into(),
        title: "Paced: CPU time per byte vs rate".into(),
        subtitle: format!(
            "sender solid, receiver dashed; median over repetitions, bars min..max{}",
            if y_log { "; log scale" } else { "" }
        ),
        x: XKind::Gbps,
        x_name: "target rate per connection (Gbps)".into(),
        y_name: "CPU time (ns per byte)".into(),
        unit: "ns/B".into(),
        y_log,
        y_range: None,
        panels,
        series,
        rank: input.rank.clone(),
    };
    let mut remarks = Vec::new();
    if missed > 0 {
        remarks.push(format!(
            "{missed} paced point(s) did not reach 95% of their target rate (pacing.rate_reached \
             false): their figures are at a lower load than the rate they are drawn at."
        ));
    }
    Some(section(
        "Thread CPU time per payload byte of paced runs (--rate), against the per-connection \
         target rate, one panel per message size: at equal load the strategies differ only in \
         what they cost. Sender threads solid, receiver threads dashed."
            .into(),
        chart,
        "No paced points with CPU figures in these results (run with --rate, counters on).",
        remarks,
    ))
}
