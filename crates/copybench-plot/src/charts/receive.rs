//! "Both ends of the path": for results with receive strategies (`copybench run --receive`),
//! both ends' CPU per payload byte for every (send strategy, receive strategy) combination:
//! the sender threads, the receiver threads, and the softirq time of the sender's and of the
//! receiver's CPUs (`system_cpu.per_cpu`, from `/proc/stat`, roles from the recorded
//! placement), so that a reader sees where each copy ran.
//!
//! One panel per send strategy (and run, when several are compared), message size on x, one
//! colour per receive strategy and one line type per figure; the table gives the medians per
//! combination, with the mapped share of `zerocopy` receive. A report whose runs all read
//! (`read` only) gets no section.

use std::collections::{BTreeMap, BTreeSet};

use charming::element::{LineStyleType, Symbol};
use copybench_core::engine::ReceiveKind;
use copybench_core::result::{CpuRole, Point, COPYBENCH_TOOL};
use copybench_core::units::format_size;
use copybench_core::StrategyKind;

use crate::aggregate::{is_plotted, Stat};
use crate::charts::{section, ChartSection, SectionTable};
use crate::render::{spans_decades, SeriesSpec, XKind, XyChart};

/// The colour of each receive strategy in this chart.
fn receive_color(r: ReceiveKind) -> &'static str {
    match r {
        ReceiveKind::Read => "#2b5c9e",
        ReceiveKind::Trunc => "#c77c02",
        ReceiveKind::Zerocopy => "#2e8540",
    }
}

/// One figure per line: its name, line type, marker and how a point gives it (ns per byte).
struct Figure {
    name: &'static str,
    line: LineStyleType,
    symbol: Symbol,
    of: fn(&Point) -> Option<f64>,
}

/// Softirq time of the CPUs with `role` per payload byte sent, where per-CPU time was read
/// and some CPU had that role.
fn softirq_per_byte(p: &Point, role: CpuRole) -> Option<f64> {
    let per_cpu = p.system_cpu.as_ref()?.per_cpu.as_ref()?;
    let mine: Vec<u64> = per_cpu
        .iter()
        .filter(|c| c.role == Some(role))
        .map(|c| c.softirq_ns)
        .collect();
    (!mine.is_empty() && p.bytes > 0).then(|| mine.iter().sum::<u64>() as f64 / p.bytes as f64)
}

const FIGURES: [Figure; 4] = [
    Figure {
        name: "receiver threads",
        line: LineStyleType::Solid,
        symbol: Symbol::Circle,
        of: |p| p.receiver.cpu_ns_per_byte,
    },
    Figure {
        name: "sender threads",
        line: LineStyleType::Dashed,
        symbol: Symbol::Rect,
        of: |p| p.sender.cpu_ns_per_byte,
    },
    Figure {
        name: "softirq, sender's CPU",
        line: LineStyleType::Dotted,
        symbol: Symbol::Triangle,
        of: |p| softirq_per_byte(p, CpuRole::Sender),
    },
    Figure {
        name: "softirq, receiver's CPU",
        line: LineStyleType::Dotted,
        symbol: Symbol::Diamond,
        of: |p| softirq_per_byte(p, CpuRole::Receiver),
    },
];

/// (run, send strategy, threads) -> (receive, size) -> the points.
type Cells<'a> =
    BTreeMap<(usize, StrategyKind, usize), BTreeMap<(ReceiveKind, usize), Vec<&'a Point>>>;

/// A figure over a cell's repetitions, by core's one rule (`Spread::of`).
fn stat(points: &[&Point], of: fn(&Point) -> Option<f64>) -> Option<Stat> {
    crate::aggregate::fold(points, of)
}

/// The section, when some run measured a receive strategy other than `read`.
pub(super) fn receive_section(input: &super::ChartInputs<'_>) -> Option<ChartSection> {
    let runs = input.runs;
    let mut cells: Cells<'_> = BTreeMap::new();
    for (run, r) in runs.iter().enumerate() {
        let points: Vec<&Point> = r
            .results
            .points
            .iter()
            .filter(|p| p.tool == COPYBENCH_TOOL && is_plotted(p))
            .collect();
        if points.iter().all(|p| p.receive == ReceiveKind::Read) {
            continue;
        }
        for p in points {
            cells
                .entry((run, p.strategy, p.threads))
                .or_default()
                .entry((p.receive, p.msg_size))
                .or_default()
                .push(p);
        }
    }
    if cells.is_empty() {
        return None;
    }
    let several_runs = cells.keys().map(|k| k.0).collect::<BTreeSet<_>>().len() > 1;
    let mut panels = Vec::new();
    let mut series = Vec::new();
    let mut rows = Vec::new();
    for (panel, ((run, strategy, threads), by)) in cells.iter().enumerate() {
        let prefix = if several_runs {
            format!("{}: ", runs[*run].label)
        } else {
            String::new()
        };
        panels.push(format!("{prefix}{} x{threads}", strategy.label()));
        let receives: BTreeSet<ReceiveKind> = by.keys().map(|k| k.0).collect();
        for &receive in &receives {
            for f in &FIGURES {
                let points: Vec<(f64, Option<Stat>, usize)> = by
                    .iter()
                    .filter(|((r, _), _)| *r == receive)
                    .map(|((_, size), ps)| (*size as f64, stat(ps, f.of), ps.len()))
                    .collect();
                if points.iter().all(|p| p.1.is_none()) {
                    continue;
                }
                series.push(SeriesSpec {
                    name: format!("{receive} rx: {}", f.name),
                    color: receive_color(receive),
                    line: f.line,
                    symbol: f.symbol.clone(),
                    panel,
                    points,
                    marks: Vec::new(),
                });
            }
        }
        for ((receive, size), ps) in by {
            let cell = |of: fn(&Point) -> Option<f64>, digits: usize| {
                stat(ps, of).map_or("-".to_string(), |s| format!("{:.*}", digits, s.median))
            };
            rows.push(vec![
                format!("{prefix}{strategy} <- {receive}"),
                format_size(*size),
                threads.to_string(),
                ps.len().to_string(),
                cell(|p| (p.duration_s > 0.0).then_some(p.throughput_gbps), 2),
                cell(FIGURES[1].of, 3),
                cell(FIGURES[0].of, 3),
                cell(FIGURES[2].of, 3),
                cell(FIGURES[3].of, 3),
                stat(ps, |p| p.receiver.mapped_ratio)
                    .map_or("-".to_string(), |s| format!("{:.0}%", s.median * 100.0)),
            ]);
        }
    }
    let y_log = spans_decades(&series);
    let chart = XyChart {
        id: "chart-receive".into(),
        title: "Both ends: CPU per byte by receive strategy".into(),
        subtitle: format!(
            "medians, bars span min..max; receiver threads solid, sender threads dashed, \
             softirq of the sender's (triangles) and receiver's (diamonds) CPUs dotted{}",
            if y_log { "; log scale" } else { "" }
        ),
        x: XKind::Bytes,
        x_name: "message size (bytes, log2)".into(),
        y_name: "CPU time (ns per byte)".into(),
        unit: "ns/B".into(),
        y_log,
        y_range: None,
        panels,
        series,
        rank: input.rank.clone(),
    };
    let caption = "Where each copy ran, for every send strategy with every receive strategy \
                   (--receive): CPU time per payload byte of the sender threads, the receiver \
                   threads (read copies, trunc drops, zerocopy maps what it can and reads the \
                   rest), and the softirq time of the CPUs the senders and the receivers were \
                   pinned to (/proc/stat per CPU, 10 ms ticks; none without pinning). Over \
                   loopback and veth the receive path runs in softirq, mostly on the sender's \
                   CPU."
        .to_string();
    let mut out = section(
        caption,
        chart,
        "No CPU per byte measured for the receive strategies (counters off, and no per-CPU \
         time read).",
        vec![],
    );
    out.table = Some(SectionTable {
        id: "table-receive".into(),
        header: [
            "send <- receive",
            "size",
            "threads",
            "reps",
            "Gbps",
            "sender ns/B",
            "receiver ns/B",
            "softirq sender CPU ns/B",
            "softirq receiver CPU ns/B",
            "mapped",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
    Some(out)
}
