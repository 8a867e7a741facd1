//! The report's charts, built with charming and handed to the page as ECharts option objects.
//!
//! Every series plots the median over repetitions; a companion custom series with the same
//! name (so the legend toggles both) draws min..max error bars, and the tooltip gives all three.
//! A metric no repetition measured is left out (its point is `null`, which breaks the line):
//! nothing absent is ever drawn as 0. A chart with nothing to draw becomes a note instead.

use std::collections::{BTreeMap, BTreeSet};

use charming::component::{
    Axis, DataView, Feature, Grid, Legend, LegendType, SaveAsImage, Title, Toolbox,
};
use charming::datatype::{CompositeValue, DataPoint};
use charming::element::{
    AxisLabel, AxisType, DimensionEncode, Formatter, ItemStyle, JsFunction, LineStyle,
    LineStyleType, NameLocation, Symbol, Tooltip, Trigger,
};
use charming::series::{Custom, Line};
use charming::Chart;
use copybench_core::result::COPYBENCH_TOOL;
use copybench_core::StrategyKind;

use crate::aggregate::{Aggregate, Stat};
use crate::load::LabeledRun;

/// What a report section shows in place of a chart.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartBody {
    /// An ECharts option, as JavaScript (charming's `Display`: JSON plus inline functions).
    Chart(String),
    /// Nothing to plot: why, shown where the chart would be.
    Note(String),
}

/// One section of the report: a chart (or a note) with its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSection {
    /// DOM id of the chart's container.
    pub id: String,
    pub heading: String,
    /// Plain-text explanation under the heading.
    pub caption: String,
    pub body: ChartBody,
    /// Smaller remarks (e.g. "receiver CPU not measured"), shown under the chart.
    pub remarks: Vec<String>,
    /// A table shown under the chart: the first row is the header (empty: no table).
    pub table: Vec<Vec<String>>,
}

impl ChartSection {
    pub fn is_chart(&self) -> bool {
        matches!(self.body, ChartBody::Chart(_))
    }
}

/// How the x axis reads.
#[derive(Debug, Clone, Copy, PartialEq)]
enum XKind {
    /// Message size in bytes, log-2 axis.
    Bytes,
    /// Thread count, linear axis.
    Threads,
}

impl XKind {
    fn js(self) -> &'static str {
        match self {
            XKind::Bytes => "bytes",
            XKind::Threads => "threads",
        }
    }
}

/// One line: its look and its points (x, median/min/max over `n` repetitions).
struct SeriesSpec {
    name: String,
    color: &'static str,
    line: LineStyleType,
    symbol: Symbol,
    points: Vec<(f64, Option<Stat>, usize)>,
}

struct XyChart {
    id: String,
    title: String,
    subtitle: String,
    x: XKind,
    x_name: String,
    y_name: String,
    unit: String,
    y_log: bool,
    y_range: Option<(f64, f64)>,
    series: Vec<SeriesSpec>,
}

/// Colour families per strategy; the shade tells thread counts (or sizes) apart.
fn shade(strategy: StrategyKind, index: usize) -> &'static str {
    const TWO: [&str; 5] = ["#2b5c9e", "#6a9bd8", "#143a6b", "#9cc0ea", "#4878b8"];
    const SG: [&str; 5] = ["#d9661f", "#f5a35c", "#9c4310", "#f9c896", "#e8842f"];
    const ZC: [&str; 5] = ["#2e8540", "#7cc47f", "#185c27", "#b0dcaa", "#4fa35a"];
    let family = match strategy {
        StrategyKind::TwoCopy => &TWO,
        StrategyKind::ScatterGather => &SG,
        StrategyKind::ZeroCopy => &ZC,
    };
    family[index % family.len()]
}

/// Runs are told apart by line type and marker.
fn run_line(run: usize) -> LineStyleType {
    [
        LineStyleType::Solid,
        LineStyleType::Dashed,
        LineStyleType::Dotted,
    ][run % 3]
}

fn run_symbol(run: usize) -> Symbol {
    match run % 5 {
        0 => Symbol::Circle,
        1 => Symbol::Rect,
        2 => Symbol::Triangle,
        3 => Symbol::Diamond,
        _ => Symbol::Pin,
    }
}

/// The strategy as people say it.
pub fn strategy_label(s: StrategyKind) -> &'static str {
    match s {
        StrategyKind::TwoCopy => "two-copy",
        StrategyKind::ScatterGather => "scatter-gather",
        StrategyKind::ZeroCopy => "zero-copy",
    }
}

/// `65536` -> `64 KiB`.
pub fn format_bytes(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

fn threads_label(n: usize) -> String {
    if n == 1 {
        "1 thread".into()
    } else {
        format!("{n} threads")
    }
}

/// Prefix of a series name naming its run, when several runs are compared.
fn run_prefix(runs: &[LabeledRun], run: usize) -> String {
    if runs.len() > 1 {
        format!("{}: ", runs[run].label)
    } else {
        String::new()
    }
}

/// The rows of the wanted mode if any run has the figure in that mode, else every row. Decided
/// over the whole report, so that a stream file and an rr file compared together each feed only
/// the charts their mode is for (an rr file's bytes per second are not a throughput figure).
fn prefer_mode<'a>(
    aggs: &'a [Aggregate],
    mode: &str,
    has: impl Fn(&Aggregate) -> bool,
) -> Vec<&'a Aggregate> {
    if aggs.iter().any(|a| a.mode == mode && has(a)) {
        // All rows of that mode, measured or not: the unmeasured ones make the gaps.
        aggs.iter().filter(|a| a.mode == mode).collect()
    } else {
        aggs.iter().collect()
    }
}

/// Index of each distinct value among the rows of one strategy (for shades).
fn shade_index<K: Ord + Copy>(keys: impl Iterator<Item = K>) -> BTreeMap<K, usize> {
    let set: BTreeSet<K> = keys.collect();
    set.into_iter().enumerate().map(|(i, k)| (k, i)).collect()
}

/// Series per (run, strategy, threads) of one metric against message size.
fn by_size_series(
    runs: &[LabeledRun],
    rows: &[&Aggregate],
    metric: impl Fn(&Aggregate) -> Option<Stat>,
    suffix: &str,
    line: Option<LineStyleType>,
) -> Vec<SeriesSpec> {
    let shades = shade_index(rows.iter().map(|a| a.threads));
    let mut groups: BTreeMap<(usize, StrategyKind, usize, &str), Vec<&Aggregate>> = BTreeMap::new();
    for a in rows {
        groups
            .entry((a.run, a.strategy, a.threads, a.mode.as_str()))
            .or_default()
            .push(a);
    }
    let modes: BTreeSet<&str> = rows.iter().map(|a| a.mode.as_str()).collect();
    let mut series = Vec::new();
    for ((run, strategy, threads, mode), mut members) in groups {
        members.sort_by_key(|a| a.msg_size);
        if members.iter().all(|a| metric(a).is_none()) {
            continue;
        }
        let mode_note = if modes.len() > 1 || mode != "stream" {
            format!(" ({mode})")
        } else {
            String::new()
        };
        series.push(SeriesSpec {
            name: format!(
                "{}{}, {}{}{}",
                run_prefix(runs, run),
                strategy_label(strategy),
                threads_label(threads),
                mode_note,
                suffix
            ),
            color: shade(strategy, shades[&threads]),
            line: line.unwrap_or_else(|| run_line(run)),
            symbol: run_symbol(run),
            points: members
                .iter()
                .map(|a| (a.msg_size as f64, metric(a), a.repetitions))
                .collect(),
        });
    }
    series
}

/// All the report's charts, in order. copybench's own charts show its own points only; the
/// peers of a `copybench peers` run get their own section, after them, when there are any.
pub fn build_sections(runs: &[LabeledRun], aggs: &[Aggregate]) -> Vec<ChartSection> {
    let own: Vec<Aggregate> = aggs
        .iter()
        .filter(|a| a.tool == COPYBENCH_TOOL)
        .cloned()
        .collect();
    let mut sections = vec![
        throughput(runs, &own),
        latency(runs, &own),
        llc(runs, &own),
        cpu(runs, &own),
        copied_ratio(runs, &own),
    ];
    if aggs.iter().any(|a| a.tool != COPYBENCH_TOOL) {
        sections.push(peers(runs, aggs));
    }
    sections
}

/// One colour per tool of a side-by-side run (copybench in its scatter-gather orange).
fn tool_color(tool: &str) -> &'static str {
    match tool {
        COPYBENCH_TOOL => "#d9661f",
        "iperf3" => "#2b5c9e",
        "iperf" => "#2e8540",
        "sockperf" => "#8e44ad",
        "nuttcp" => "#6b6b6b",
        _ => "#b5a300",
    }
}

/// The table under the peers chart: median Gbps per tool and copybench's ratio to each peer,
/// per run, thread count and size.
pub fn peers_table(runs: &[LabeledRun], rows: &[&Aggregate]) -> Vec<Vec<String>> {
    let mut peers: Vec<&str> = rows
        .iter()
        .map(|a| a.tool.as_str())
        .filter(|t| *t != COPYBENCH_TOOL)
        .collect();
    peers.sort();
    peers.dedup();
    let mut header: Vec<String> = Vec::new();
    if runs.len() > 1 {
        header.push("run".into());
    }
    header.extend(["size".into(), "threads".into(), "copybench Gbps".into()]);
    for p in &peers {
        header.push(format!("{p} Gbps"));
        header.push(format!("copybench / {p}"));
    }
    header.push("copybench / best peer".into());
    let mut cells: BTreeSet<(usize, usize, usize)> = BTreeSet::new();
    for a in rows {
        cells.insert((a.run, a.threads, a.msg_size));
    }
    let median = |run: usize, threads: usize, size: usize, tool: &str| {
        rows.iter()
            .find(|a| a.run == run && a.threads == threads && a.msg_size == size && a.tool == tool)
            .and_then(|a| a.throughput_gbps)
            .map(|s| s.median)
    };
    let fmt = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.3}"));
    let mut table = vec![header];
    for (run, threads, size) in cells {
        let cb = median(run, threads, size, COPYBENCH_TOOL);
        let mut row = Vec::new();
        if runs.len() > 1 {
            row.push(runs[run].label.clone());
        }
        row.extend([format_bytes(size), threads.to_string(), fmt(cb)]);
        let mut best: Option<f64> = None;
        for p in &peers {
            let g = median(run, threads, size, p);
            row.push(fmt(g));
            row.push(fmt(cb.zip(g).map(|(c, g)| c / g)));
            best = match (best, g) {
                (Some(b), Some(g)) => Some(b.max(g)),
                (b, g) => b.or(g),
            };
        }
        row.push(fmt(cb.zip(best).map(|(c, b)| c / b)));
        table.push(row);
    }
    table
}

fn peers(runs: &[LabeledRun], aggs: &[Aggregate]) -> ChartSection {
    let rows: Vec<&Aggregate> = aggs
        .iter()
        .filter(|a| a.mode == "stream" && a.throughput_gbps.is_some())
        .collect();
    let mut groups: BTreeMap<(usize, &str, usize), Vec<&Aggregate>> = BTreeMap::new();
    for a in &rows {
        groups
            .entry((a.run, a.tool.as_str(), a.threads))
            .or_default()
            .push(a);
    }
    let series = groups
        .into_iter()
        .map(|((run, tool, threads), mut members)| {
            members.sort_by_key(|a| a.msg_size);
            SeriesSpec {
                name: format!(
                    "{}{tool}, {}",
                    run_prefix(runs, run),
                    threads_label(threads)
                ),
                color: tool_color(tool),
                line: run_line(run),
                symbol: run_symbol(run),
                points: members
                    .iter()
                    .map(|a| (a.msg_size as f64, a.throughput_gbps, a.repetitions))
                    .collect(),
            }
        })
        .collect();
    let mut s = section(
        "chart-peers",
        "copybench vs peers",
        "copybench's single-field stream (scatter-gather, one buffer per send: the work a peer          does) beside iperf3, iperf, sockperf and nuttcp, on the same topology, under the same          CPU placement, alternated point by point in one run. Peers' figures are what their          receiver read (sockperf: what its sender wrote; it reports nothing else); peers do not          check the bytes, copybench does. Median over rounds, min..max bars; the table gives          copybench's ratio to each peer."
            .into(),
        XyChart {
            id: "chart-peers".into(),
            title: "copybench vs peers: throughput vs write size".into(),
            subtitle: repetitions_note(&rows),
            x: XKind::Bytes,
            x_name: "write size (bytes, log2)".into(),
            y_name: "Gbps".into(),
            unit: "Gbps".into(),
            y_log: false,
            y_range: None,
            series,
        },
        "No throughput figures from copybench peers in these results.",
        vec![],
    );
    s.table = peers_table(runs, &rows);
    s
}

fn repetitions_note(rows: &[&Aggregate]) -> String {
    let reps: BTreeSet<usize> = rows.iter().map(|a| a.repetitions).collect();
    match (reps.first(), reps.last()) {
        (Some(1), Some(1)) => "one repetition per point (no spread to show)".into(),
        (Some(lo), Some(hi)) if lo == hi => {
            format!("median of {lo} repetitions, bars span min..max")
        }
        (Some(lo), Some(hi)) => {
            format!("median of {lo}..{hi} repetitions, bars span min..max")
        }
        _ => String::new(),
    }
}

fn throughput(runs: &[LabeledRun], aggs: &[Aggregate]) -> ChartSection {
    let rows = prefer_mode(aggs, "stream", |a| a.throughput_gbps.is_some());
    let series = by_size_series(runs, &rows, |a| a.throughput_gbps, "", None);
    let caption = "Payload throughput (1 Gbps = 10^9 bit/s) against message size, one line per \
                   strategy and thread count; the median over repetitions, with min..max bars \
                   and all three in the tooltip."
        .to_string();
    section(
        "chart-throughput",
        "Throughput vs message size",
        caption,
        XyChart {
            id: "chart-throughput".into(),
            title: "Throughput vs message size".into(),
            subtitle: repetitions_note(&rows),
            x: XKind::Bytes,
            x_name: "message size (bytes, log2)".into(),
            y_name: "Gbps".into(),
            unit: "Gbps".into(),
            y_log: false,
            y_range: None,
            series,
        },
        "No throughput figures in these results.",
        vec![],
    )
}

fn latency(runs: &[LabeledRun], aggs: &[Aggregate]) -> ChartSection {
    let rows = prefer_mode(aggs, "rr", |a| a.latency_p50_us.is_some());
    let rows: Vec<&Aggregate> = rows
        .into_iter()
        .filter(|a| a.latency_p50_us.is_some())
        .collect();
    let what: BTreeSet<&str> = rows.iter().map(|a| a.mode.as_str()).collect();
    let (heading, kind) = match (what.contains("rr"), what.contains("stream")) {
        (true, false) => (
            "Round-trip latency vs threads (rr mode)",
            "round trip of one message and its small reply, per thread, under 1..N \
             concurrent threads",
        ),
        (false, true) => (
            "Send-call latency vs threads (stream mode)",
            "stream mode: time spent inside the send call(s) for one message (no rr run \
             in these results)",
        ),
        _ => (
            "Latency vs threads (rr: round trip; stream: send call)",
            "rr series time a round trip; stream series time the send call(s) of one \
             message (runs without rr points)",
        ),
    };
    let shades = shade_index(rows.iter().map(|a| a.msg_size));
    let mut groups: BTreeMap<(usize, StrategyKind, usize, &str), Vec<&Aggregate>> = BTreeMap::new();
    for a in &rows {
        groups
            .entry((a.run, a.strategy, a.msg_size, a.mode.as_str()))
            .or_default()
            .push(a);
    }
    let mut series = Vec::new();
    type Percentile = (&'static str, LineStyleType, fn(&Aggregate) -> Option<Stat>);
    let percentiles: [Percentile; 3] = [
        ("p50", LineStyleType::Solid, |a| a.latency_p50_us),
        ("p99", LineStyleType::Dashed, |a| a.latency_p99_us),
        ("p99.9", LineStyleType::Dotted, |a| a.latency_p999_us),
    ];
    for ((run, strategy, size, mode), mut members) in groups {
        members.sort_by_key(|a| a.threads);
        for (pname, line, get) in &percentiles {
            if members.iter().all(|a| get(a).is_none()) {
                continue;
            }
            let mode_note = if what.len() > 1 {
                format!(" {mode}")
            } else {
                String::new()
            };
            series.push(SeriesSpec {
                name: format!(
                    "{}{} {}{mode_note} {pname}",
                    run_prefix(runs, run),
                    strategy_label(strategy),
                    format_bytes(size)
                ),
                color: shade(strategy, shades[&size]),
                line: *line,
                symbol: run_symbol(run),
                points: members
                    .iter()
                    .map(|a| (a.threads as f64, get(a), a.repetitions))
                    .collect(),
            });
        }
    }
    let all_positive = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter_map(|(_, s, _)| *s)
        .all(|s| s.min > 0.0);
    section(
        "chart-latency",
        heading,
        format!(
            "Latency percentiles in microseconds against thread count ({kind}); p50 solid, \
             p99 dashed, p99.9 dotted; the median over repetitions with min..max bars."
        ),
        XyChart {
            id: "chart-latency".into(),
            title: heading.into(),
            subtitle: format!(
                "{}{}",
                repetitions_note(&rows),
                if all_positive { "; log scale" } else { "" }
            ),
            x: XKind::Threads,
            x_name: "threads (connections)".into(),
            y_name: "µs".into(),
            unit: "µs".into(),
            y_log: all_positive,
            y_range: None,
            series,
        },
        "No latency was measured in these results (neither rr round trips nor stream \
         send-call samples).",
        vec![],
    )
}

/// The exact words shown when no LLC figure exists.
pub const LLC_NOT_MEASURED: &str = "LLC misses not measured: this machine exposes no hardware \
                                    PMU (see host.counters_available)";

fn llc(runs: &[LabeledRun], aggs: &[Aggregate]) -> ChartSection {
    let rows = prefer_mode(aggs, "stream", |a| a.llc_misses_per_kib.is_some());
    let events: BTreeSet<&str> = rows
        .iter()
        .filter(|a| a.llc_misses_per_kib.is_some())
        .filter_map(|a| a.llc_event.as_deref())
        .collect();
    let generic = events.contains("cache-misses");
    let heading = if generic && events.len() == 1 {
        "Cache misses per KiB vs message size (generic cache-misses event)"
    } else {
        "LLC misses per KiB vs message size"
    };
    let caption = if generic {
        "Sender cache misses per KiB of payload. The LLC event is absent on this CPU: the \
         figures come from the generic cache-misses event, whose meaning varies by CPU (often \
         LLC references that missed, sometimes all levels)."
            .to_string()
    } else {
        "Sender last-level-cache misses per KiB of payload (llc-read-misses), the cost of \
         the copies in cache traffic."
            .to_string()
    };
    let mut remarks = Vec::new();
    if generic && events.len() > 1 {
        remarks.push(format!(
            "Runs used different events ({}): compare with care.",
            events.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let counters_off: Vec<&str> = runs
        .iter()
        .filter(|r| !r.results.config.counters)
        .map(|r| r.label.as_str())
        .collect();
    let mut empty = LLC_NOT_MEASURED.to_string();
    if !counters_off.is_empty() {
        empty.push_str(&format!(
            ". Counters were also switched off for: {}.",
            counters_off.join(", ")
        ));
    }
    let series = by_size_series(runs, &rows, |a| a.llc_misses_per_kib, "", None);
    section(
        "chart-llc",
        heading,
        caption,
        XyChart {
            id: "chart-llc".into(),
            title: heading.into(),
            subtitle: repetitions_note(&rows),
            x: XKind::Bytes,
            x_name: "message size (bytes, log2)".into(),
            y_name: "misses / KiB".into(),
            unit: "misses/KiB".into(),
            y_log: false,
            y_range: None,
            series,
        },
        &empty,
        remarks,
    )
}

fn cpu(runs: &[LabeledRun], aggs: &[Aggregate]) -> ChartSection {
    let rows = prefer_mode(aggs, "stream", |a| {
        a.sender_cpu_ns_per_byte.is_some() || a.receiver_cpu_ns_per_byte.is_some()
    });
    let sender = rows.iter().any(|a| a.sender_cpu_ns_per_byte.is_some());
    let receiver = rows.iter().any(|a| a.receiver_cpu_ns_per_byte.is_some());
    let mut series = by_size_series(
        runs,
        &rows,
        |a| a.sender_cpu_ns_per_byte,
        " sender",
        Some(LineStyleType::Solid),
    );
    series.extend(by_size_series(
        runs,
        &rows,
        |a| a.receiver_cpu_ns_per_byte,
        " receiver",
        Some(LineStyleType::Dashed),
    ));
    let mut remarks = Vec::new();
    if sender && !receiver {
        remarks.push("Receiver CPU per byte was not measured in these results.".into());
    }
    if receiver && !sender {
        remarks.push("Sender CPU per byte was not measured in these results.".into());
    }
    section(
        "chart-cpu",
        "CPU time per byte vs message size",
        "Thread CPU time (task clock) per payload byte in nanoseconds, sender threads solid \
         and receiver threads dashed. Softirq work done on behalf of a connection is not in \
         per-thread figures."
            .into(),
        XyChart {
            id: "chart-cpu".into(),
            title: "CPU ns per byte vs message size".into(),
            subtitle: format!("sender solid, receiver dashed; {}", repetitions_note(&rows)),
            x: XKind::Bytes,
            x_name: "message size (bytes, log2)".into(),
            y_name: "ns / byte".into(),
            unit: "ns/B".into(),
            y_log: false,
            y_range: None,
            series,
        },
        "CPU time per byte not measured: neither sender.cpu_ns_per_byte nor \
         receiver.cpu_ns_per_byte is present (counters were off, or the task-clock counter \
         could not be opened).",
        remarks,
    )
}

/// The words that go with every copied-ratio chart.
pub const COPIED_RATIO_WORDS: &str = "1.0 = the kernel copied every send (always so on \
                                      loopback/veth: local delivery copies); only a real NIC \
                                      shows true zero-copy";

fn copied_ratio(runs: &[LabeledRun], aggs: &[Aggregate]) -> ChartSection {
    let rows: Vec<&Aggregate> = prefer_mode(aggs, "stream", |a| a.zerocopy_copied_ratio.is_some())
        .into_iter()
        .filter(|a| a.strategy == StrategyKind::ZeroCopy)
        .collect();
    let series = by_size_series(runs, &rows, |a| a.zerocopy_copied_ratio, "", None);
    let topologies: BTreeSet<&str> = runs
        .iter()
        .map(|r| r.results.config.topology.kind.as_str())
        .collect();
    section(
        "chart-copied",
        "Zero-copy copied ratio vs message size",
        format!(
            "Share of MSG_ZEROCOPY completions flagged SO_EE_CODE_ZEROCOPY_COPIED. \
             {COPIED_RATIO_WORDS}. Topology here: {}.",
            topologies.into_iter().collect::<Vec<_>>().join(", ")
        ),
        XyChart {
            id: "chart-copied".into(),
            title: "Zero-copy: share of sends the kernel copied".into(),
            subtitle: "1.0 = every send copied (always so on loopback/veth); only a real NIC \
                       shows true zero-copy"
                .into(),
            x: XKind::Bytes,
            x_name: "message size (bytes, log2)".into(),
            y_name: "copied / completions".into(),
            unit: "".into(),
            y_log: false,
            y_range: Some((0.0, 1.0)),
            series,
        },
        "No zero-copy completions in these results (no zero-copy points, or none completed).",
        vec![],
    )
}

fn section(
    id: &str,
    heading: &str,
    caption: String,
    chart: XyChart,
    empty: &str,
    remarks: Vec<String>,
) -> ChartSection {
    let body = if chart.series.is_empty() {
        ChartBody::Note(empty.to_string())
    } else {
        ChartBody::Chart(render_option(&chart))
    };
    ChartSection {
        id: id.to_string(),
        heading: heading.to_string(),
        caption,
        body,
        remarks,
        table: Vec::new(),
    }
}

/// Draws a vertical min..max bar with caps at each point: `value` = [x, min, max].
const ERROR_BAR_JS: &str = "function(params, api) {
  var x = api.value(0), lo = api.value(1), hi = api.value(2);
  if (isNaN(lo) || isNaN(hi) || lo === hi) { return null; }
  var a = api.coord([x, hi]), b = api.coord([x, lo]), w = 4;
  var style = { stroke: api.visual('color'), lineWidth: 1.4, fill: null };
  return { type: 'group', children: [
    { type: 'line', shape: { x1: a[0], y1: a[1], x2: b[0], y2: b[1] }, style: style },
    { type: 'line', shape: { x1: a[0] - w, y1: a[1], x2: a[0] + w, y2: a[1] }, style: style },
    { type: 'line', shape: { x1: b[0] - w, y1: b[1], x2: b[0] + w, y2: b[1] }, style: style }
  ] };
}";

fn num(v: f64) -> CompositeValue {
    CompositeValue::from(v)
}

/// Smallest and largest x over all series.
fn x_extent(c: &XyChart) -> (f64, f64) {
    let xs = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)))
}

fn render_option(c: &XyChart) -> String {
    let x_axis = match c.x {
        XKind::Bytes => {
            let (lo, hi) = x_extent(c);
            let mut axis = Axis::new().type_(AxisType::Log).log_base(2).axis_label(
                AxisLabel::new().formatter(Formatter::Function(JsFunction::new_with_args(
                    "v",
                    "return CB.bytes(v);",
                ))),
            );
            if lo < hi {
                axis = axis.min(lo).max(hi);
            }
            axis
        }
        XKind::Threads => {
            let (lo, hi) = x_extent(c);
            let mut axis = Axis::new().type_(AxisType::Value).min_interval(1);
            if lo < hi {
                axis = axis.min(lo).max(hi);
            }
            axis
        }
    }
    .name(c.x_name.as_str())
    .name_location(NameLocation::Middle)
    .name_gap(28);

    let mut y_axis =
        Axis::new()
            .type_(if c.y_log {
                AxisType::Log
            } else {
                AxisType::Value
            })
            .name(c.y_name.as_str())
            .name_location(NameLocation::Middle)
            .name_gap(52)
            .axis_label(AxisLabel::new().formatter(Formatter::Function(
                JsFunction::new_with_args("v", "return CB.num(v);"),
            )));
    if let Some((lo, hi)) = c.y_range {
        y_axis = y_axis.min(lo).max(hi);
    }

    let file_name = c.id.trim_start_matches("chart-").to_string();
    let mut chart = Chart::new()
        .animation(false)
        .background_color("#ffffff")
        .title(
            Title::new()
                .text(c.title.as_str())
                .subtext(c.subtitle.as_str())
                .left("center"),
        )
        .tooltip(
            Tooltip::new()
                .trigger(Trigger::Item)
                .formatter(Formatter::Function(JsFunction::new_with_args(
                    "p",
                    &format!(
                        "return CB.tip(p, '{}', {});",
                        c.x.js(),
                        serde_json::to_string(&c.unit).unwrap_or_else(|_| "''".into())
                    ),
                ))),
        )
        .legend(
            Legend::new()
                .type_(LegendType::Scroll)
                .bottom(4)
                .left("center"),
        )
        .toolbox(
            Toolbox::new().right(16).feature(
                Feature::new()
                    .save_as_image(
                        SaveAsImage::new()
                            .name(format!("copybench-{file_name}"))
                            .background_color("#ffffff"),
                    )
                    .data_view(DataView::new().read_only(true)),
            ),
        )
        .grid(Grid::new().left(78).right(36).top(74).bottom(92))
        .x_axis(x_axis)
        .y_axis(y_axis);

    for s in &c.series {
        let line_data: Vec<DataPoint> = s
            .points
            .iter()
            .map(|(x, stat, n)| {
                let value: Vec<CompositeValue> = match stat {
                    Some(st) => vec![num(*x), num(st.median), num(st.min), num(st.max)],
                    // A gap, not a zero: ECharts leaves null out and breaks the line.
                    None => vec![
                        num(*x),
                        None::<f64>.into(),
                        None::<f64>.into(),
                        None::<f64>.into(),
                    ],
                };
                let mut value = value;
                value.push(CompositeValue::from(*n as i64));
                DataPoint::from(CompositeValue::Array(value))
            })
            .collect();
        chart = chart.series(
            Line::new()
                .name(s.name.as_str())
                .symbol(s.symbol.clone())
                .symbol_size(7)
                .connect_nulls(false)
                .item_style(ItemStyle::new().color(s.color))
                .line_style(LineStyle::new().color(s.color).width(2).type_(s.line))
                .data(line_data),
        );
        let bars: Vec<DataPoint> = s
            .points
            .iter()
            .filter_map(|(x, stat, _)| stat.map(|st| (*x, st)))
            .filter(|(_, st)| st.min < st.max)
            .map(|(x, st)| {
                DataPoint::from(CompositeValue::Array(vec![
                    num(x),
                    num(st.min),
                    num(st.max),
                ]))
            })
            .collect();
        if !bars.is_empty() {
            chart = chart.series(
                Custom::new()
                    .name(s.name.as_str())
                    .render_item(ERROR_BAR_JS)
                    .item_style(ItemStyle::new().color(s.color))
                    .encode(DimensionEncode::new().x(0).y(vec![1, 2]))
                    .data(bars),
            );
        }
    }
    chart.to_string()
}
