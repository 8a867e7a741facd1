//! copybench-plot: turns copybench result files into one self-contained HTML report.
//!
//! That is its one job. It reads the result types of `copybench-core` (and nothing else of
//! the engine), folds repetitions with polars ([`aggregate()`]: median, min and max per run,
//! strategy, size, thread count and mode), builds the charts with charming and writes them into
//! its own HTML page with ECharts **inlined**, so that a report renders with no network access:
//!
//! - the decision map first (`charts/decision.rs`): per topology, protocol and mode a grid of
//!   message size x threads (and rate) coloured by the winning strategy, pale and hatched
//!   where no winner is clear, with the break-even brackets; under it at most five sentences
//!   (`copybench_core::findings::headline`, what `copybench run` prints last), and the full
//!   findings in words folded away (winners with their uncertainty, ratios to two-copy,
//!   break-even sizes, caveats);
//! - a chart of each strategy relative to two-copy (throughput and CPU per byte);
//! - throughput vs message size (log-2 axis), one panel per thread count, one colour per
//!   strategy, the findings' break-even sizes marked;
//! - latency percentiles (p50/p99/p99.9) vs thread count, one panel per size (rr round trips,
//!   else stream send-call latency, labelled as such);
//! - LLC (or generic cache) misses per KiB vs size;
//! - sender and receiver CPU ns per byte vs size;
//! - the copied ratio of every zero-copy path (MSG_ZEROCOPY and io_uring SEND_ZC) vs size;
//! - for results with receive strategies (`--receive`): both ends' CPU per byte (sender and
//!   receiver threads, softirq by CPU) per (send, receive) combination, with a table;
//! - for paced runs (`--rate`): sender and receiver CPU ns per byte vs the target rate, one
//!   panel per size (`charts/paced.rs`; paced points are in no chart against size);
//! - for results of `copybench peers`: "copybench vs peers", every tool's throughput vs size
//!   per placement, and a table of copybench's ratio to each peer and to the best, per size;
//! - host facts as a small table at the top; every fact of the configuration, the tool version
//!   and the command line at the end; a visible list of points that were not verified or
//!   reported an error.
//!
//! Several result files are compared in one report, their series labelled by file name.
//! Unmeasured figures are never drawn as 0: they are left out, or the chart gives way to a
//! note saying what was not measured and why.
//!
//! ECharts comes from `scripts/install-deps.sh` (see [`echarts`] for where it is looked for).
//!
//! ```no_run
//! use std::path::{Path, PathBuf};
//! let summary = copybench_plot::render_report(
//!     &[PathBuf::from("results.json")],
//!     Path::new("report.html"),
//!     &copybench_plot::ReportOptions::default(),
//! )?;
//! for w in &summary.warnings {
//!     eprintln!("warning: {w}");
//! }
//! # Ok::<(), copybench_plot::PlotError>(())
//! ```

use std::path::{Path, PathBuf};

use copybench_core::findings::{findings_for_run, Findings};

mod aggregate;
mod charts;
pub mod echarts;
mod error;
mod html;
mod load;
mod render;

pub use aggregate::{aggregate, is_plotted, Aggregate, Stat};
pub use charts::peers::{placement_words, ratio, tool_color};
pub use charts::{
    strategy_color, strategy_rank, ChartBody, ChartSection, SectionTable, COPIED_RATIO_WORDS,
    DECISION_ID, LLC_NOT_MEASURED, VISIBLE_SERIES,
};
pub use echarts::EchartsSource;
pub use error::PlotError;
pub use load::{load_labeled, load_results, parse_results, LabeledRun};

/// How to make a report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportOptions {
    /// `echarts.min.js` to inline, read at run time; `None` uses the copy embedded at build
    /// time (or `$COPYBENCH_ECHARTS_JS`), see [`echarts`].
    pub echarts_js: Option<PathBuf>,
    /// Page title; `None` gives "copybench report".
    pub title: Option<String>,
}

/// What [`render_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    pub output: PathBuf,
    /// Size of the HTML file in bytes.
    pub bytes: usize,
    /// Runs (input files) compared.
    pub runs: usize,
    /// Points read, and how many went into the charts (points with an `error` do not).
    pub points: usize,
    pub plotted_points: usize,
    /// Configurations after folding repetitions.
    pub configurations: usize,
    /// Sections drawn as charts, and those replaced by a note (with the note).
    pub charts: Vec<String>,
    pub notes: Vec<String>,
    /// The warnings listed at the top of the report (unverified or failed points, interrupted
    /// runs), for the caller to print too.
    pub warnings: Vec<String>,
    /// Where the inlined ECharts came from.
    pub echarts: EchartsSource,
}

/// Reads every result file, compares them in one HTML report written to `output`.
pub fn render_report(
    inputs: &[PathBuf],
    output: &Path,
    options: &ReportOptions,
) -> Result<ReportSummary, PlotError> {
    let runs = load_labeled(inputs)?;
    let (html, mut summary) = render_html(&runs, options)?;
    std::fs::write(output, &html).map_err(|source| PlotError::Write {
        path: output.to_path_buf(),
        source,
    })?;
    summary.output = output.to_path_buf();
    Ok(summary)
}

/// [`render_report`] on runs already loaded: the page as a string (nothing written;
/// `summary.output` is empty).
pub fn render_html(
    runs: &[LabeledRun],
    options: &ReportOptions,
) -> Result<(String, ReportSummary), PlotError> {
    if runs.is_empty() {
        return Err(PlotError::NoInputs);
    }
    // The asset first: no point in aggregating for a page that cannot draw.
    let (js, source) = echarts::resolve(options.echarts_js.as_deref(), echarts::EMBEDDED)?;
    // The strategies' charts fold repetitions per send strategy: with several receive
    // strategies in a run they see one (`read` where it ran, as the findings do); the receive
    // section draws them all.
    let one_receive: Vec<LabeledRun> = runs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let keep = copybench_core::findings::primary_receive(&r.results.points);
            r.results.points.retain(|p| Some(p.receive) == keep);
            r
        })
        .collect();
    let aggs = aggregate(&one_receive)?;
    let findings: Vec<Findings> = runs.iter().map(findings_of).collect();
    let sections = charts::build_sections(runs, &aggs, &findings);
    let warnings = html::warnings(runs);
    let title = options.title.as_deref().unwrap_or("copybench report");
    let page = html::page(
        title,
        runs,
        &html::Content {
            findings: &findings,
            sections: &sections,
            warnings: &warnings,
        },
        &js,
    );

    let points = runs.iter().map(|r| r.results.points.len()).sum();
    let plotted_points = runs
        .iter()
        .flat_map(|r| r.results.points.iter())
        .filter(|p| is_plotted(p))
        .count();
    let summary = ReportSummary {
        output: PathBuf::new(),
        bytes: page.len(),
        runs: runs.len(),
        points,
        plotted_points,
        configurations: aggs.len(),
        charts: sections
            .iter()
            .filter(|s| s.is_chart())
            .map(|s| s.heading.clone())
            .collect(),
        notes: sections
            .iter()
            .filter_map(|s| match &s.body {
                ChartBody::Note(n) => Some(format!("{}: {n}", s.heading)),
                ChartBody::Chart(_) => None,
            })
            .collect(),
        warnings,
        echarts: source,
    };
    Ok((page, summary))
}

/// The report's sections (charts as ECharts options, or notes) without the page around them.
pub fn sections(runs: &[LabeledRun]) -> Result<Vec<ChartSection>, PlotError> {
    // The strategies' charts fold repetitions per send strategy: with several receive
    // strategies in a run they see one (`read` where it ran, as the findings do); the receive
    // section draws them all.
    let one_receive: Vec<LabeledRun> = runs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let keep = copybench_core::findings::primary_receive(&r.results.points);
            r.results.points.retain(|p| Some(p.receive) == keep);
            r
        })
        .collect();
    let aggs = aggregate(&one_receive)?;
    let findings: Vec<Findings> = runs.iter().map(findings_of).collect();
    Ok(charts::build_sections(runs, &aggs, &findings))
}

/// The findings of a run: the ones its file stores (what `copybench run` printed when it
/// wrote them, so the report and the terminal say the same), or, for a file written before
/// findings existed, computed by this version's rules from the points the charts draw
/// (copybench's own points without an `error`). The protocol is the run's `config.protocol`
/// (TCP in older files).
pub fn findings_of(run: &LabeledRun) -> Findings {
    if let Some(stored) = &run.results.findings {
        return stored.clone();
    }
    let mut plotted = run.results.clone();
    // copybench's own strategies: a peer's point is not one of them.
    plotted
        .points
        .retain(|p| is_plotted(p) && p.tool == copybench_core::result::COPYBENCH_TOOL);
    findings_for_run(&plotted)
}
