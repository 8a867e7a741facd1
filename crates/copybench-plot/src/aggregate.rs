//! Repetitions folded into one figure per configuration, with polars (lazy).
//!
//! One row per point goes into a frame; a group-by over (run, tool, strategy, size, threads, mode)
//! gives each configuration's points, and each metric is folded from them by core's one rule for
//! a figure over repetitions (`Spread::of`, the one the findings and the terminal use): a metric
//! that no repetition measured stays `None`, never a 0.

use copybench_core::engine::Mode;
use copybench_core::result::{LatencyKind, Point};
use copybench_core::stats::Spread;
use copybench_core::StrategyKind;
use polars::prelude::*;

use crate::load::LabeledRun;
use crate::PlotError;

/// Median, min and max of one metric over the repetitions that measured it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// One configuration of one run: every repetition of (strategy, size, threads, mode) folded.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Index of the run in the report's inputs.
    pub run: usize,
    /// The run's label (file name or given label).
    pub label: String,
    /// Who measured: `copybench`, or a peer of `copybench peers` (`iperf3`, ...).
    pub tool: String,
    pub strategy: StrategyKind,
    pub msg_size: usize,
    pub threads: usize,
    /// What was measured.
    pub mode: Mode,
    /// Points folded into this row (points with an `error` are left out of every row).
    pub repetitions: usize,
    pub throughput_gbps: Option<Stat>,
    pub transactions_per_s: Option<Stat>,
    pub latency_p50_us: Option<Stat>,
    pub latency_p99_us: Option<Stat>,
    pub latency_p999_us: Option<Stat>,
    /// What the latency timed: a round trip (rr) or the send call (stream).
    pub latency_what: Option<LatencyKind>,
    pub llc_misses_per_kib: Option<Stat>,
    /// Event behind the LLC figure: `llc-read-misses` or the generic `cache-misses`.
    pub llc_event: Option<String>,
    pub sender_cpu_ns_per_byte: Option<Stat>,
    pub receiver_cpu_ns_per_byte: Option<Stat>,
    pub cycles_per_byte: Option<Stat>,
    /// Zero-copy completions the kernel copied after all (zero-copy strategy only).
    pub zerocopy_copied_ratio: Option<Stat>,
}

/// A metric folded over repetitions: how to read it from a point.
type Getter = fn(&Point) -> Option<f64>;

/// Each metric's repetitions folded by core's one rule for a figure over repetitions
/// ([`Spread::of`]: non-finite and missing values left out, `None` when none is left).
pub(crate) fn fold(points: &[&Point], get: Getter) -> Option<Stat> {
    let values: Vec<f64> = points.iter().filter_map(|p| get(p)).collect();
    Spread::of(&values).map(Stat::from)
}

impl From<Spread> for Stat {
    fn from(s: Spread) -> Stat {
        Stat {
            median: s.median,
            min: s.min,
            max: s.max,
        }
    }
}

/// Whether a point's numbers go into the charts: a point that reported an `error` is partial.
/// (Which charts: `charts::build_sections` gives a peer's point to the peers' section only.)
pub fn is_plotted(point: &Point) -> bool {
    point.error.is_none()
}

/// Folds the repetitions of every run into one [`Aggregate`] per configuration, ordered by
/// run, tool, strategy, mode, threads and size.
///
/// polars groups the points by their typed keys (the strategy and the mode as their index in
/// the model's tables, never as names to parse back) and hands back each group's point
/// indices; the figures of a group are then folded from its points by core's rule.
pub fn aggregate(runs: &[LabeledRun]) -> Result<Vec<Aggregate>, PlotError> {
    let points: Vec<(usize, &Point)> = runs
        .iter()
        .enumerate()
        .flat_map(|(i, run)| run.results.points.iter().map(move |p| (i, p)))
        .filter(|(_, p)| is_plotted(p))
        // Paced points have a chart of their own (`charts/paced.rs`): a size chart of them would fold
        // several rates into one cell.
        .filter(|(_, p)| !crate::charts::paced::is_paced(p))
        .collect();
    let frame = points_frame(&points)?;
    let groups = frame
        .lazy()
        .group_by_stable([
            col("run"),
            col("tool"),
            col("strategy"),
            col("msg_size"),
            col("threads"),
            col("mode"),
        ])
        .agg([col("point")])
        .collect()?;

    let members = groups.column("point")?.list()?;
    let mut rows = Vec::with_capacity(groups.height());
    for group in 0..members.len() {
        let indices = members
            .get_as_series(group)
            .ok_or_else(|| polars_err!(ComputeError: "a group without points"))?;
        let indices: Vec<usize> = indices
            .u64()?
            .iter()
            .flatten()
            .map(|i| i as usize)
            .collect();
        let Some(&at) = indices.first() else {
            continue;
        };
        let (run, first) = points[at];
        let cell: Vec<&Point> = indices.iter().map(|&i| points[i].1).collect();
        rows.push(Aggregate {
            run,
            label: runs[run].label.clone(),
            tool: first.tool.clone(),
            strategy: first.strategy,
            msg_size: first.msg_size,
            threads: first.threads,
            mode: first.mode,
            repetitions: cell.len(),
            throughput_gbps: fold(&cell, |p| Some(p.throughput_gbps)),
            transactions_per_s: fold(&cell, |p| p.transactions_per_s),
            latency_p50_us: fold(&cell, |p| p.latency_us.as_ref().map(|l| l.p50)),
            latency_p99_us: fold(&cell, |p| p.latency_us.as_ref().map(|l| l.p99)),
            latency_p999_us: fold(&cell, |p| p.latency_us.as_ref().map(|l| l.p999)),
            latency_what: cell
                .iter()
                .find_map(|p| p.latency_us.as_ref().map(|l| l.what)),
            llc_misses_per_kib: fold(&cell, |p| p.llc_misses_per_kib),
            // Only where the figure exists: the event of an unmeasured count says nothing.
            llc_event: cell.iter().find_map(|p| {
                p.llc_misses_per_kib?;
                p.sender.counters.as_ref().map(|c| c.llc_event.clone())
            }),
            sender_cpu_ns_per_byte: fold(&cell, |p| p.sender.cpu_ns_per_byte),
            receiver_cpu_ns_per_byte: fold(&cell, |p| p.receiver.cpu_ns_per_byte),
            cycles_per_byte: fold(&cell, |p| p.cycles_per_byte),
            zerocopy_copied_ratio: fold(&cell, |p| {
                p.zerocopy.as_ref().and_then(|z| z.copied_ratio)
            }),
        });
    }
    rows.sort_by(|a, b| {
        (a.run, &a.tool, a.strategy, &a.mode, a.threads, a.msg_size)
            .cmp(&(b.run, &b.tool, b.strategy, &b.mode, b.threads, b.msg_size))
    });
    Ok(rows)
}

/// One row per point: its index in `points` and its group keys, typed (the strategy and the
/// mode as their index in the model's tables).
fn points_frame(points: &[(usize, &Point)]) -> PolarsResult<DataFrame> {
    let strategy_index = |s: StrategyKind| {
        StrategyKind::ALL
            .iter()
            .position(|&k| k == s)
            .unwrap_or(usize::MAX) as u32
    };
    let mode_index = |m: Mode| {
        [Mode::Stream, Mode::Rr]
            .iter()
            .position(|&k| k == m)
            .unwrap_or(usize::MAX) as u32
    };
    let columns = vec![
        Column::new(
            "point".into(),
            (0..points.len() as u64).collect::<Vec<u64>>(),
        ),
        Column::new(
            "run".into(),
            points.iter().map(|(r, _)| *r as u64).collect::<Vec<_>>(),
        ),
        Column::new(
            "tool".into(),
            points
                .iter()
                .map(|(_, p)| p.tool.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "strategy".into(),
            points
                .iter()
                .map(|(_, p)| strategy_index(p.strategy))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "msg_size".into(),
            points
                .iter()
                .map(|(_, p)| p.msg_size as u64)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "threads".into(),
            points
                .iter()
                .map(|(_, p)| p.threads as u64)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "mode".into(),
            points
                .iter()
                .map(|(_, p)| mode_index(p.mode))
                .collect::<Vec<_>>(),
        ),
    ];
    DataFrame::new(points.len(), columns)
}
