//! The report's charts, built with charming and handed to the page as ECharts option objects:
//! one file per chart in this folder, listed in [`CHARTS`].
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

mod copied_ratio;
mod cpu;
mod decision;
mod latency;
mod llc;
pub(crate) mod paced;
pub(crate) mod peers;
mod receive;
mod relative;
mod throughput;

pub use copied_ratio::COPIED_RATIO_WORDS;
pub use decision::DECISION_ID;
pub use llc::LLC_NOT_MEASURED;

/// What every chart is drawn from.
pub(crate) struct ChartInputs<'a> {
    /// The report's runs, in the order given.
    pub runs: &'a [LabeledRun],
    /// copybench's own configurations folded over repetitions (a peer's are drawn only in the
    /// peers' section).
    pub own: &'a [Aggregate],
    /// Every configuration, peers' included.
    pub all: &'a [Aggregate],
    /// The findings of each run, in the order of `runs`.
    pub findings: &'a [Findings],
    /// The strategies that matter most in these findings, first first ([`strategy_rank`]):
    /// a chart with more than [`VISIBLE_SERIES`] series shows theirs.
    pub rank: Vec<StrategyKind>,
}

/// At most this many series of a chart are shown when the report opens; the others are
/// deselected in the legend, one click away.
pub const VISIBLE_SERIES: usize = 5;

/// The strategies by how much they matter to the answer: per size and thread count, a winner
/// counts 3, a leader not told apart 2, a runner-up or an uncontested strategy 1; ties in
/// strategy order. Two-copy, the baseline every ratio is against, is kept among the first
/// [`VISIBLE_SERIES`]; strategies the findings never rank come last.
pub fn strategy_rank(findings: &[Findings]) -> Vec<StrategyKind> {
    use copybench_core::findings::{Verdict, BASELINE};
    let mut score: BTreeMap<StrategyKind, u32> = BTreeMap::new();
    let mut add = |k: StrategyKind, n: u32| *score.entry(k).or_default() += n;
    for s in findings
        .iter()
        .flat_map(|f| f.groups.iter())
        .flat_map(|g| g.sizes.iter())
    {
        match &s.verdict {
            Verdict::Winner {
                strategy,
                runner_up,
                ..
            } => {
                add(*strategy, 3);
                add(*runner_up, 1);
            }
            Verdict::NoClearWinner {
                leader, runner_up, ..
            } => {
                add(*leader, 2);
                add(*runner_up, 1);
            }
            Verdict::Uncontested { strategy } => add(*strategy, 1),
            Verdict::NoData => {}
        }
    }
    let mut rank: Vec<StrategyKind> = StrategyKind::ALL.to_vec();
    // Stable: equal scores keep strategy order.
    rank.sort_by_key(|k| std::cmp::Reverse(score.get(k).copied().unwrap_or(0)));
    if score.contains_key(&BASELINE) {
        if let Some(at) = rank.iter().position(|k| *k == BASELINE) {
            if at >= VISIBLE_SERIES {
                rank.remove(at);
                rank.insert(VISIBLE_SERIES - 1, BASELINE);
            }
        }
    }
    rank
}

/// A chart of the report: its section (a chart, or a note saying why there is none), or `None`
/// for a section that exists only for some results (receive strategies).
type Chart = fn(&ChartInputs<'_>) -> Option<ChartSection>;

/// The strategies' charts, in report order: the decision map (who wins where, from the
/// findings) first, then the headline chart (relative to two-copy). A new chart is a file in
/// this folder and one line here.
const CHARTS: [Chart; 9] = [
    |i| Some(decision::decision(i)),
    |i| Some(relative::relative(i)),
    |i| Some(throughput::throughput(i)),
    |i| Some(latency::latency(i)),
    |i| Some(llc::llc(i)),
    |i| Some(cpu::cpu(i)),
    |i| Some(copied_ratio::copied_ratio(i)),
    receive::receive_section,
    // Only where some run was paced (`--rate`).
    paced::paced_section,
];

/// All the report's charts, in order: [`CHARTS`], and the peers' section after the headline
/// when some run has peers.
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
    let input = ChartInputs {
        runs,
        own: &own,
        all: aggs,
        findings,
        rank: strategy_rank(findings),
    };
    let mut sections: Vec<ChartSection> = CHARTS.iter().filter_map(|chart| chart(&input)).collect();
    if let Some(peers) = peers::peers_section(&input) {
        // After the decision map and the headline chart, each where it is a chart (a
        // `copybench peers` run alone measures no two-copy to be relative to).
        let at = sections.iter().take(2).take_while(|s| s.is_chart()).count();
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
    rank: &'a [StrategyKind],
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
        rank: spec.rank.to_vec(),
    }
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
