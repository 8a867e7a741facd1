//! The report's charts, built with charming and handed to the page as ECharts option objects.
//!
//! Every strategy has one colour in every chart ([`strategy_color`]); runs compared in one
//! report are told apart by line type and marker. Charts against message size draw one panel
//! per thread count (small multiples, not a dozen overlaid lines); the latency chart one panel
//! per message size. Every series plots the median over repetitions; a companion custom series
//! with the same name (so the legend toggles both) draws min..max error bars, and the tooltip
//! gives all three. The y axis is logarithmic where the values span a decade or more. The
//! headline chart shows each strategy relative to two-copy (from the findings), and the
//! break-even sizes of the findings are marked where they fall.
//!
//! A metric no repetition measured is left out (its point is `null`, which breaks the line):
//! nothing absent is ever drawn as 0. A chart with nothing to draw becomes a note instead.

use std::collections::{BTreeMap, BTreeSet};

use charming::element::{LineStyleType, Symbol};
use copybench_core::engine::Mode;
use copybench_core::findings::{size_text, Crossing, Figure, Findings};
use copybench_core::result::COPYBENCH_TOOL;
use copybench_core::StrategyKind;

use crate::aggregate::{Aggregate, Stat};
use crate::load::LabeledRun;
use crate::render::{height, render_option, spans_decades, Mark, SeriesSpec, XKind, XyChart};

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
    /// Panels of the chart (thread counts or sizes), by title; empty for a note.
    pub panels: Vec<String>,
    /// Height of the chart's container in pixels.
    pub height_px: u32,
    /// A table under the chart (the peers' ratios), if the section has one.
    pub table: Option<SectionTable>,
}

/// A table of plain-text cells (escaped when the page is written).
#[derive(Debug, Clone, PartialEq)]
pub struct SectionTable {
    /// DOM id of the table.
    pub id: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl ChartSection {
    pub fn is_chart(&self) -> bool {
        matches!(self.body, ChartBody::Chart(_))
    }
}

/// The one colour of each strategy, in every chart (core's strategy table).
pub fn strategy_color(strategy: StrategyKind) -> &'static str {
    strategy.color()
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

/// The strategy as people say it (core's strategy table).
pub fn strategy_label(s: StrategyKind) -> &'static str {
    s.label()
}

pub use copybench_core::units::format_bytes;

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
fn prefer_mode(
    aggs: &[Aggregate],
    mode: Mode,
    has: impl Fn(&Aggregate) -> bool,
) -> Vec<&Aggregate> {
    if aggs.iter().any(|a| a.mode == mode && has(a)) {
        // All rows of that mode, measured or not: the unmeasured ones make the gaps.
        aggs.iter().filter(|a| a.mode == mode).collect()
    } else {
        aggs.iter().collect()
    }
}

/// The panels of a chart against message size: one per (mode, thread count), titled by the
/// thread count (and the mode, when several are drawn).
struct Panels {
    index: BTreeMap<(Mode, usize), usize>,
    titles: Vec<String>,
}

impl Panels {
    fn by_threads<'a>(keys: impl Iterator<Item = (Mode, usize)> + 'a) -> Panels {
        let set: BTreeSet<(Mode, usize)> = keys.collect();
        let modes: BTreeSet<Mode> = set.iter().map(|k| k.0).collect();
        let titles = set
            .iter()
            .map(|(mode, threads)| {
                if modes.len() > 1 || *mode != Mode::Stream {
                    format!("{} ({mode})", threads_label(*threads))
                } else {
                    threads_label(*threads)
                }
            })
            .collect();
        let index = set.into_iter().enumerate().map(|(i, k)| (k, i)).collect();
        Panels { index, titles }
    }
}

/// A break-even size to mark: on the series of `strategy` in `run`, panel (mode, threads).
#[derive(Debug, Clone)]
struct BreakEvenMark {
    run: usize,
    mode: Mode,
    threads: usize,
    strategy: StrategyKind,
    mark: Mark,
}

/// The break-even sizes of every run's findings in `figure` that fall inside the sizes
/// measured (wins from, loses from), as marks.
fn break_even_marks(findings: &[Findings], figure: Figure) -> Vec<BreakEvenMark> {
    let mut out = Vec::new();
    for (run, f) in findings.iter().enumerate() {
        for g in &f.groups {
            let mode = g.mode;
            for b in g.break_even.iter().filter(|b| b.metric == figure) {
                let (at, words) = match &b.result {
                    Crossing::WinsFrom { size_bytes, .. } => (*size_bytes, "wins from"),
                    Crossing::LosesFrom { size_bytes, .. } => (*size_bytes, "loses from"),
                    _ => continue,
                };
                out.push(BreakEvenMark {
                    run,
                    mode,
                    threads: g.threads,
                    strategy: b.strategy,
                    mark: Mark::X {
                        at,
                        label: format!("{} {words} ~{}", strategy_label(b.strategy), size_text(at)),
                    },
                });
            }
        }
    }
    out
}

/// Series per (run, strategy, mode, threads) of one metric against message size, each in the
/// panel of its thread count, with the break-even marks that belong to it.
fn by_size_series(
    runs: &[LabeledRun],
    rows: &[&Aggregate],
    panels: &Panels,
    metric: impl Fn(&Aggregate) -> Option<Stat>,
    (suffix, line): (&str, Option<LineStyleType>),
    marks: &[BreakEvenMark],
) -> Vec<SeriesSpec> {
    let mut groups: BTreeMap<(usize, StrategyKind, Mode, usize), Vec<&Aggregate>> = BTreeMap::new();
    for a in rows {
        groups
            .entry((a.run, a.strategy, a.mode, a.threads))
            .or_default()
            .push(a);
    }
    let mut series = Vec::new();
    for ((run, strategy, mode, threads), mut members) in groups {
        members.sort_by_key(|a| a.msg_size);
        if members.iter().all(|a| metric(a).is_none()) {
            continue;
        }
        series.push(SeriesSpec {
            name: format!(
                "{}{}{}",
                run_prefix(runs, run),
                strategy_label(strategy),
                suffix
            ),
            color: strategy_color(strategy),
            line: line.unwrap_or_else(|| run_line(run)),
            symbol: run_symbol(run),
            panel: panels.index[&(mode, threads)],
            points: members
                .iter()
                .map(|a| (a.msg_size as f64, metric(a), a.repetitions))
                .collect(),
            marks: marks
                .iter()
                .filter(|m| {
                    (m.run, m.strategy, m.mode, m.threads) == (run, strategy, mode, threads)
                })
                .map(|m| m.mark.clone())
                .collect(),
        });
    }
    series
}

/// All the report's charts, in order: the headline (relative to two-copy) first.
pub fn build_sections(
    runs: &[LabeledRun],
    aggs: &[Aggregate],
    findings: &[Findings],
) -> Vec<ChartSection> {
    // The strategies' charts are copybench's own points; a peer's (`copybench peers`) are drawn
    // only in the peers' section, which exists when some run has them.
    let own: Vec<Aggregate> = aggs
        .iter()
        .filter(|a| a.tool == COPYBENCH_TOOL)
        .cloned()
        .collect();
    let mut sections = vec![
        relative(runs, findings),
        throughput(runs, &own, findings),
        latency(runs, &own),
        llc(runs, &own),
        cpu(runs, &own, findings),
        copied_ratio(runs, &own),
    ];
    // Only where some run was paced (`--rate`): the section is absent otherwise.
    sections.extend(crate::paced::paced_section(runs));
    if let Some(peers) = crate::peers::peers_section(runs, aggs) {
        // After the headline; first when there is no headline (a `copybench peers` run alone
        // measures no two-copy to be relative to).
        let at = usize::from(sections[0].is_chart());
        sections.insert(at, peers);
    }
    sections
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

fn log_note(log: bool) -> &'static str {
    if log {
        "; log scale"
    } else {
        ""
    }
}

/// A chart against message size, one panel per thread count, log y when the values span
/// decades.
struct BySize<'a> {
    id: &'a str,
    title: &'a str,
    subtitle: String,
    y_name: &'a str,
    unit: &'a str,
    y_range: Option<(f64, f64)>,
}

fn by_size_chart(spec: BySize<'_>, panels: Panels, series: Vec<SeriesSpec>) -> XyChart {
    let y_log = spec.y_range.is_none() && spans_decades(&series);
    XyChart {
        id: spec.id.into(),
        title: spec.title.into(),
        subtitle: format!("{}{}", spec.subtitle, log_note(y_log)),
        x: XKind::Bytes,
        x_name: "message size (bytes, log2)".into(),
        y_name: spec.y_name.into(),
        unit: spec.unit.into(),
        y_log,
        y_range: spec.y_range,
        panels: panels.titles,
        series,
    }
}

fn throughput(runs: &[LabeledRun], aggs: &[Aggregate], findings: &[Findings]) -> ChartSection {
    let rows = prefer_mode(aggs, Mode::Stream, |a| a.throughput_gbps.is_some());
    let panels = Panels::by_threads(rows.iter().map(|a| (a.mode, a.threads)));
    let marks = break_even_marks(findings, Figure::ThroughputGbps);
    let series = by_size_series(
        runs,
        &rows,
        &panels,
        |a| a.throughput_gbps,
        ("", None),
        &marks,
    );
    let caption = "Payload throughput (1 Gbps = 10^9 bit/s) against message size, one panel per \
                   thread count and one colour per strategy; the median over repetitions, with \
                   min..max bars and all three in the tooltip. A dashed vertical line marks a \
                   zero-copy strategy's break-even size from the findings."
        .to_string();
    section(
        caption,
        by_size_chart(
            BySize {
                id: "chart-throughput",
                title: "Throughput vs message size",
                subtitle: repetitions_note(&rows),
                y_name: "Gbps",
                unit: "Gbps",
                y_range: None,
            },
            panels,
            series,
        ),
        "No throughput figures in these results.",
        vec![],
    )
}

/// The headline: each strategy's median throughput (solid) and sender CPU per byte (dashed)
/// divided by two-copy's, per size, one panel per thread count, from the findings.
fn relative(runs: &[LabeledRun], findings: &[Findings]) -> ChartSection {
    let stream = findings
        .iter()
        .flat_map(|f| f.groups.iter())
        .any(|g| g.metric == Figure::ThroughputGbps);
    let groups: Vec<(usize, &copybench_core::findings::Group, Mode)> = findings
        .iter()
        .enumerate()
        .flat_map(|(run, f)| f.groups.iter().map(move |g| (run, g)))
        .filter(|(_, g)| !stream || g.metric == Figure::ThroughputGbps)
        .map(|(run, g)| (run, g, g.mode))
        .collect();
    let panels = Panels::by_threads(groups.iter().map(|(_, g, m)| (*m, g.threads)));
    let mut series = Vec::new();
    for (run, g, mode) in &groups {
        series.extend(relative_series(
            runs,
            *run,
            g,
            panels.index[&(*mode, g.threads)],
        ));
    }
    // The reference line, once per panel, on the panel's first series.
    let mut marked = BTreeSet::new();
    for s in &mut series {
        if marked.insert(s.panel) {
            s.marks.push(Mark::Y {
                at: 1.0,
                label: "two-copy = 1".into(),
            });
        }
    }
    let figure = if stream { "throughput" } else { "p50 latency" };
    let chart = by_size_chart(
        BySize {
            id: "chart-relative",
            title: "Relative to two-copy",
            subtitle: format!(
                "median {figure} (solid) and sender CPU/byte (dashed) / two-copy's; above 1 = \
                 more {}",
                if stream {
                    "throughput or CPU"
                } else {
                    "latency or CPU"
                }
            ),
            y_name: "x two-copy",
            unit: "x",
            y_range: None,
        },
        panels,
        series,
    );
    section(
        format!(
            "Each strategy's median {figure} and median sender CPU time per byte divided by \
             two-copy's at the same size and thread count (the findings' ratios). More \
             throughput is better; more CPU per byte is worse. Missing figures are left out, \
             never drawn as 0."
        ),
        chart,
        "No ratios to two-copy: two-copy was not measured in these results (or nothing else \
         was).",
        vec![],
    )
}

fn relative_series(
    runs: &[LabeledRun],
    run: usize,
    g: &copybench_core::findings::Group,
    panel: usize,
) -> Vec<SeriesSpec> {
    let strategies: BTreeSet<StrategyKind> = g
        .sizes
        .iter()
        .flat_map(|s| s.strategies.iter().map(|x| x.strategy))
        .filter(|k| *k != StrategyKind::TwoCopy)
        .collect();
    type Ratio = fn(&copybench_core::findings::StrategyFigures) -> Option<f64>;
    let kinds: [(&str, LineStyleType, Ratio); 2] = [
        (g.metric.label(), LineStyleType::Solid, |x| {
            x.metric_vs_twocopy
        }),
        ("CPU/byte", LineStyleType::Dashed, |x| x.cpu_vs_twocopy),
    ];
    let mut out = Vec::new();
    for k in strategies {
        for (what, line, ratio) in &kinds {
            let points: Vec<(f64, Option<Stat>, usize)> = g
                .sizes
                .iter()
                .filter_map(|s| {
                    let x = s.strategies.iter().find(|x| x.strategy == k)?;
                    let r = ratio(x).filter(|r| r.is_finite() && *r > 0.0);
                    let stat = r.map(|r| Stat {
                        median: r,
                        min: r,
                        max: r,
                    });
                    Some((s.msg_size as f64, stat, x.repetitions))
                })
                .collect();
            if points.iter().all(|p| p.1.is_none()) {
                continue;
            }
            out.push(SeriesSpec {
                name: format!("{}{} {what}", run_prefix(runs, run), strategy_label(k)),
                color: strategy_color(k),
                line: *line,
                symbol: run_symbol(run),
                panel,
                points,
                marks: Vec::new(),
            });
        }
    }
    out
}

fn latency(runs: &[LabeledRun], aggs: &[Aggregate]) -> ChartSection {
    let rows = prefer_mode(aggs, Mode::Rr, |a| a.latency_p50_us.is_some());
    let rows: Vec<&Aggregate> = rows
        .into_iter()
        .filter(|a| a.latency_p50_us.is_some())
        .collect();
    let what: BTreeSet<Mode> = rows.iter().map(|a| a.mode).collect();
    let (heading, kind) = match (what.contains(&Mode::Rr), what.contains(&Mode::Stream)) {
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
    let sizes: BTreeSet<usize> = rows.iter().map(|a| a.msg_size).collect();
    let panel_of: BTreeMap<usize, usize> = sizes.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let series = latency_series(runs, &rows, &panel_of, what.len() > 1);
    let all_positive = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter_map(|(_, s, _)| *s)
        .all(|s| s.min > 0.0);
    section(
        format!(
            "Latency percentiles in microseconds against thread count ({kind}), one panel per \
             message size and one colour per strategy; p50 solid, p99 dashed, p99.9 dotted; \
             the median over repetitions with min..max bars."
        ),
        XyChart {
            id: "chart-latency".into(),
            title: heading.into(),
            subtitle: format!("{}{}", repetitions_note(&rows), log_note(all_positive)),
            x: XKind::Threads,
            x_name: "threads (connections)".into(),
            y_name: "µs".into(),
            unit: "µs".into(),
            y_log: all_positive,
            y_range: None,
            panels: sizes.iter().map(|s| format_bytes(*s)).collect(),
            series,
        },
        "No latency was measured in these results (neither rr round trips nor stream \
         send-call samples).",
        vec![],
    )
}

fn latency_series(
    runs: &[LabeledRun],
    rows: &[&Aggregate],
    panel_of: &BTreeMap<usize, usize>,
    mixed_modes: bool,
) -> Vec<SeriesSpec> {
    let mut groups: BTreeMap<(usize, StrategyKind, usize, Mode), Vec<&Aggregate>> = BTreeMap::new();
    for a in rows {
        groups
            .entry((a.run, a.strategy, a.msg_size, a.mode))
            .or_default()
            .push(a);
    }
    type Percentile = (&'static str, LineStyleType, fn(&Aggregate) -> Option<Stat>);
    let percentiles: [Percentile; 3] = [
        ("p50", LineStyleType::Solid, |a| a.latency_p50_us),
        ("p99", LineStyleType::Dashed, |a| a.latency_p99_us),
        ("p99.9", LineStyleType::Dotted, |a| a.latency_p999_us),
    ];
    let mut series = Vec::new();
    for ((run, strategy, size, mode), mut members) in groups {
        members.sort_by_key(|a| a.threads);
        for (pname, line, get) in &percentiles {
            if members.iter().all(|a| get(a).is_none()) {
                continue;
            }
            let mode_note = if mixed_modes {
                format!(" {mode}")
            } else {
                String::new()
            };
            series.push(SeriesSpec {
                name: format!(
                    "{}{}{mode_note} {pname}",
                    run_prefix(runs, run),
                    strategy_label(strategy),
                ),
                color: strategy_color(strategy),
                line: *line,
                symbol: run_symbol(run),
                panel: panel_of[&size],
                points: members
                    .iter()
                    .map(|a| (a.threads as f64, get(a), a.repetitions))
                    .collect(),
                marks: Vec::new(),
            });
        }
    }
    series
}

/// The exact words shown when no LLC figure exists.
pub const LLC_NOT_MEASURED: &str = "LLC misses not measured: this machine exposes no hardware \
                                    PMU (see host.counters_available)";

fn llc(runs: &[LabeledRun], aggs: &[Aggregate]) -> ChartSection {
    let rows = prefer_mode(aggs, Mode::Stream, |a| a.llc_misses_per_kib.is_some());
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
    let panels = Panels::by_threads(rows.iter().map(|a| (a.mode, a.threads)));
    let series = by_size_series(
        runs,
        &rows,
        &panels,
        |a| a.llc_misses_per_kib,
        ("", None),
        &[],
    );
    let chart = by_size_chart(
        BySize {
            id: "chart-llc",
            title: heading,
            subtitle: repetitions_note(&rows),
            y_name: "misses / KiB",
            unit: "misses/KiB",
            y_range: None,
        },
        panels,
        series,
    );
    section(caption, chart, &empty, remarks)
}

fn cpu(runs: &[LabeledRun], aggs: &[Aggregate], findings: &[Findings]) -> ChartSection {
    let rows = prefer_mode(aggs, Mode::Stream, |a| {
        a.sender_cpu_ns_per_byte.is_some() || a.receiver_cpu_ns_per_byte.is_some()
    });
    let sender = rows.iter().any(|a| a.sender_cpu_ns_per_byte.is_some());
    let receiver = rows.iter().any(|a| a.receiver_cpu_ns_per_byte.is_some());
    let panels = Panels::by_threads(rows.iter().map(|a| (a.mode, a.threads)));
    let marks = break_even_marks(findings, Figure::SenderCpuNsPerByte);
    let mut series = by_size_series(
        runs,
        &rows,
        &panels,
        |a| a.sender_cpu_ns_per_byte,
        (" sender", Some(LineStyleType::Solid)),
        &marks,
    );
    series.extend(by_size_series(
        runs,
        &rows,
        &panels,
        |a| a.receiver_cpu_ns_per_byte,
        (" receiver", Some(LineStyleType::Dashed)),
        &[],
    ));
    let mut remarks = Vec::new();
    if sender && !receiver {
        remarks.push("Receiver CPU per byte was not measured in these results.".into());
    }
    if receiver && !sender {
        remarks.push("Sender CPU per byte was not measured in these results.".into());
    }
    let chart = by_size_chart(
        BySize {
            id: "chart-cpu",
            title: "CPU time per byte vs message size",
            subtitle: format!("sender solid, receiver dashed; {}", repetitions_note(&rows)),
            y_name: "ns / byte",
            unit: "ns/B",
            y_range: None,
        },
        panels,
        series,
    );
    section(
        "Thread CPU time (task clock) per payload byte in nanoseconds, one panel per thread \
         count, sender threads solid and receiver threads dashed; a dashed vertical line marks \
         a zero-copy strategy's break-even in sender CPU per byte. Softirq work done on behalf \
         of a connection is not in per-thread figures."
            .into(),
        chart,
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
    let rows = prefer_mode(aggs, Mode::Stream, |a| a.zerocopy_copied_ratio.is_some());
    // Every zero-copy path (MSG_ZEROCOPY and io_uring's SEND_ZC): the strategies with a ratio.
    let zero_copy: BTreeSet<StrategyKind> = rows
        .iter()
        .filter(|a| a.zerocopy_copied_ratio.is_some())
        .map(|a| a.strategy)
        .collect();
    let rows: Vec<&Aggregate> = rows
        .into_iter()
        .filter(|a| zero_copy.contains(&a.strategy))
        .collect();
    let panels = Panels::by_threads(rows.iter().map(|a| (a.mode, a.threads)));
    let series = by_size_series(
        runs,
        &rows,
        &panels,
        |a| a.zerocopy_copied_ratio,
        ("", None),
        &[],
    );
    let topologies: BTreeSet<&str> = runs
        .iter()
        .map(|r| r.results.config.topology.kind.name())
        .collect();
    let mut chart = by_size_chart(
        BySize {
            id: "chart-copied",
            title: "Zero-copy: share of sends the kernel copied",
            subtitle: "1.0 = every send copied (always so on loopback/veth); only a real NIC \
                       shows true zero-copy"
                .into(),
            y_name: "copied / completions",
            unit: "",
            y_range: Some((0.0, 1.0)),
        },
        panels,
        series,
    );
    chart.title = "Zero-copy copied ratio vs message size".into();
    section(
        format!(
            "Share of zero-copy completions the kernel flagged as copied, for every zero-copy \
             path (MSG_ZEROCOPY: SO_EE_CODE_ZEROCOPY_COPIED; io_uring SEND_ZC: \
             IORING_NOTIF_USAGE_ZC_COPIED). {COPIED_RATIO_WORDS}. Topology here: {}.",
            topologies.into_iter().collect::<Vec<_>>().join(", ")
        ),
        chart,
        "No zero-copy completions in these results (no zero-copy points, or none completed).",
        vec![],
    )
}

/// The section of `chart`, or of `empty` (a note) when it has no series.
pub(crate) fn section(
    caption: String,
    chart: XyChart,
    empty: &str,
    remarks: Vec<String>,
) -> ChartSection {
    let has_series = !chart.series.is_empty();
    ChartSection {
        id: chart.id.clone(),
        heading: chart.title.clone(),
        caption,
        body: if has_series {
            ChartBody::Chart(render_option(&chart))
        } else {
            ChartBody::Note(empty.to_string())
        },
        remarks,
        panels: if has_series {
            chart.panels.clone()
        } else {
            Vec::new()
        },
        height_px: height(chart.panels.len()),
        table: None,
    }
}
