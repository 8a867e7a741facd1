//! Repetitions folded into one figure per configuration, with polars (lazy).
//!
//! One row per point goes into a frame; a group-by over (run, tool, strategy, size, threads, mode)
//! takes the median, min and max of every metric. polars skips nulls in all three, so a metric
//! that no repetition measured stays null: it is never turned into a 0.

use std::str::FromStr;

use copybench_core::engine::Mode;
use copybench_core::result::{LatencyKind, Point};
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

/// The metrics aggregated, as (column name, how to read it from a point).
type Getter = fn(&Point) -> Option<f64>;
const METRICS: [(&str, Getter); 10] = [
    ("throughput_gbps", |p| Some(p.throughput_gbps)),
    ("transactions_per_s", |p| p.transactions_per_s),
    ("latency_p50_us", |p| p.latency_us.as_ref().map(|l| l.p50)),
    ("latency_p99_us", |p| p.latency_us.as_ref().map(|l| l.p99)),
    ("latency_p999_us", |p| p.latency_us.as_ref().map(|l| l.p999)),
    ("llc_misses_per_kib", |p| p.llc_misses_per_kib),
    ("sender_cpu_ns_per_byte", |p| p.sender.cpu_ns_per_byte),
    ("receiver_cpu_ns_per_byte", |p| p.receiver.cpu_ns_per_byte),
    ("cycles_per_byte", |p| p.cycles_per_byte),
    ("zerocopy_copied_ratio", |p| {
        p.zerocopy.as_ref().and_then(|z| z.copied_ratio)
    }),
];

/// Whether a point's numbers go into the charts: a point that reported an `error` is partial.
/// (Which charts: `charts::build_sections` gives a peer's point to the peers' section only.)
pub fn is_plotted(point: &Point) -> bool {
    point.error.is_none()
}

/// Folds the repetitions of every run into one [`Aggregate`] per configuration, ordered by
/// run, tool, strategy, mode, threads and size.
pub fn aggregate(runs: &[LabeledRun]) -> Result<Vec<Aggregate>, PlotError> {
    let points: Vec<(usize, &Point)> = runs
        .iter()
        .enumerate()
        .flat_map(|(i, run)| run.results.points.iter().map(move |p| (i, p)))
        .filter(|(_, p)| is_plotted(p))
        // Paced points have a chart of their own (`paced.rs`): a size chart of them would fold
        // several rates into one cell.
        .filter(|(_, p)| !crate::paced::is_paced(p))
        .collect();
    let frame = points_frame(&points)?;

    let mut aggs = vec![len().alias("repetitions")];
    for (name, _) in METRICS {
        aggs.push(col(name).median().alias(format!("{name}__median")));
        aggs.push(col(name).min().alias(format!("{name}__min")));
        aggs.push(col(name).max().alias(format!("{name}__max")));
    }
    aggs.push(col("latency_what").first_non_null().alias("latency_what"));
    aggs.push(col("llc_event").first_non_null().alias("llc_event"));

    let out = frame
        .lazy()
        .group_by_stable([
            col("run"),
            col("tool"),
            col("strategy"),
            col("msg_size"),
            col("threads"),
            col("mode"),
        ])
        .agg(aggs)
        .collect()?;

    let run = u64s(&out, "run")?;
    let tool = strings(&out, "tool")?;
    let strategy = strings(&out, "strategy")?;
    let msg_size = u64s(&out, "msg_size")?;
    let threads = u64s(&out, "threads")?;
    let mode = strings(&out, "mode")?;
    let repetitions = u64s(&out, "repetitions")?;
    let latency_what = strings(&out, "latency_what")?;
    let llc_event = strings(&out, "llc_event")?;
    let mut stats = Vec::with_capacity(METRICS.len());
    for (name, _) in METRICS {
        let median = f64s(&out, &format!("{name}__median"))?;
        let min = f64s(&out, &format!("{name}__min"))?;
        let max = f64s(&out, &format!("{name}__max"))?;
        let column: Vec<Option<Stat>> = (0..out.height())
            .map(|i| match (median[i], min[i], max[i]) {
                (Some(median), Some(min), Some(max)) => Some(Stat { median, min, max }),
                _ => None,
            })
            .collect();
        stats.push(column);
    }

    let mut rows = Vec::with_capacity(out.height());
    for i in 0..out.height() {
        let run_index = run[i].unwrap_or_default() as usize;
        let strategy_name = strategy[i].clone().unwrap_or_default();
        let stat = |m: usize| stats[m][i];
        rows.push(Aggregate {
            run: run_index,
            label: runs[run_index].label.clone(),
            tool: tool[i].clone().unwrap_or_default(),
            // Names come from StrategyKind::name() below, so they parse back.
            strategy: StrategyKind::from_str(&strategy_name)
                .map_err(|e| polars_err!(ComputeError: "{e}"))?,
            msg_size: msg_size[i].unwrap_or_default() as usize,
            threads: threads[i].unwrap_or_default() as usize,
            // Written from Mode::name() and LatencyKind::name() above, so they parse back.
            mode: Mode::from_str(mode[i].as_deref().unwrap_or_default())
                .map_err(|e| polars_err!(ComputeError: "{e}"))?,
            repetitions: repetitions[i].unwrap_or_default() as usize,
            throughput_gbps: stat(0),
            transactions_per_s: stat(1),
            latency_p50_us: stat(2),
            latency_p99_us: stat(3),
            latency_p999_us: stat(4),
            latency_what: latency_what[i].as_deref().and_then(LatencyKind::from_name),
            llc_misses_per_kib: stat(5),
            llc_event: llc_event[i].clone(),
            sender_cpu_ns_per_byte: stat(6),
            receiver_cpu_ns_per_byte: stat(7),
            cycles_per_byte: stat(8),
            zerocopy_copied_ratio: stat(9),
        });
    }
    rows.sort_by(|a, b| {
        (a.run, &a.tool, a.strategy, &a.mode, a.threads, a.msg_size)
            .cmp(&(b.run, &b.tool, b.strategy, &b.mode, b.threads, b.msg_size))
    });
    Ok(rows)
}

/// One row per point: the group keys and every metric (null where not measured).
fn points_frame(points: &[(usize, &Point)]) -> PolarsResult<DataFrame> {
    let mut columns = vec![
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
                .map(|(_, p)| p.strategy.name())
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
                .map(|(_, p)| p.mode.name())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "latency_what".into(),
            points
                .iter()
                .map(|(_, p)| p.latency_us.as_ref().map(|l| l.what.name()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "llc_event".into(),
            points
                .iter()
                .map(|(_, p)| {
                    // Only where the figure exists: the event of an unmeasured count says nothing.
                    p.llc_misses_per_kib?;
                    p.sender.counters.as_ref().map(|c| c.llc_event.as_str())
                })
                .collect::<Vec<_>>(),
        ),
    ];
    for (name, get) in METRICS {
        columns.push(Column::new(
            name.into(),
            points
                .iter()
                .map(|(_, p)| get(p).filter(|v| v.is_finite()))
                .collect::<Vec<Option<f64>>>(),
        ));
    }
    DataFrame::new(points.len(), columns)
}

fn u64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<u64>>> {
    let column = df.column(name)?.cast(&DataType::UInt64)?;
    Ok(column.u64()?.iter().collect())
}

fn f64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<f64>>> {
    let column = df.column(name)?.cast(&DataType::Float64)?;
    Ok(column.f64()?.iter().collect())
}

fn strings(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    let column = df.column(name)?.cast(&DataType::String)?;
    Ok(column.str()?.iter().map(|s| s.map(String::from)).collect())
}
