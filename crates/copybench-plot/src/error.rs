//! What can go wrong between result files and a report, each said with what to do about it.

use std::path::PathBuf;

/// An error of [`crate::load_results`] or [`crate::render_report`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    #[error(
        "no result files given: pass one or more results JSON files written by `copybench run`"
    )]
    NoInputs,

    #[error(
        "result file {} does not exist: check the path (`copybench run -o FILE` writes one)",
        path.display()
    )]
    NotFound { path: PathBuf },

    #[error("cannot read result file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{} is not JSON ({detail}): pass a results file written by `copybench run`",
        path.display()
    )]
    NotJson { path: PathBuf, detail: String },

    #[error(
        "{} is JSON but not a copybench results file (no schema_version): pass a file written \
         by `copybench run`",
        path.display()
    )]
    NotResults { path: PathBuf },

    #[error(
        "{} has results schema_version {found}, but this copybench reads version {expected}: \
         plot it with the copybench version that wrote it ({tool}), or re-run the benchmark",
        path.display()
    )]
    SchemaVersion {
        path: PathBuf,
        found: serde_json::Value,
        expected: u32,
        tool: String,
    },

    #[error(
        "{} does not match the results layout of schema_version {version} ({detail}): the \
         file was edited or written by an incompatible copybench",
        path.display()
    )]
    Schema {
        path: PathBuf,
        version: u32,
        detail: String,
    },

    #[error(
        "{} contains no points: the run measured nothing (it was interrupted before its first \
         point finished?); re-run `copybench run`",
        path.display()
    )]
    NoPoints { path: PathBuf },

    #[error(
        "ECharts (echarts.min.js) is not available: {detail}. Run `scripts/install-deps.sh` \
         (as root) and rebuild to embed it, or pass the path to echarts.min.js \
         (ReportOptions::echarts_js, or env COPYBENCH_ECHARTS_JS)"
    )]
    MissingEcharts { detail: String },

    #[error("cannot write the report to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("aggregating the points failed (a copybench-plot bug, please report it): {0}")]
    Aggregate(#[from] polars::error::PolarsError),
}
