//! `copybench compare OLD.json NEW.json`: what changed between two runs, beyond the noise
//! (the rules and the table are `copybench_core::compare`'s; this is the command around them).
//!
//! Exit codes: 0, or 1 with `--fail-on-regression PCT` when a cell got worse by more than PCT
//! percent, beyond the noise and confirmed by the test corrected for the number of figures; 2 for a file that is not a results file (the
//! message names it) or a bad option.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use copybench_core::compare::{compare, render_markdown, render_text, Comparison, Varying};
use copybench_core::result::RunResults;

use crate::args::{CompareArgs, CompareFormat};
use crate::UsageError;

/// Runs `copybench compare`.
pub fn run(args: &CompareArgs) -> Result<ExitCode> {
    let old = load(&args.old)?;
    let new = load(&args.new)?;
    let comparison = compare(&old, &new, args.threshold);
    let text = match args.format {
        CompareFormat::Text => render_text(&comparison),
        CompareFormat::Markdown => render_markdown(&comparison),
        CompareFormat::Json => serde_json::to_string_pretty(&comparison)? + "\n",
    };
    print!("{text}");
    let Some(pct) = args.fail_on_regression else {
        return Ok(ExitCode::SUCCESS);
    };
    let failing = failing_regressions(&old, &new, pct);
    if failing.is_empty() {
        eprintln!("no cell got worse by more than {pct}% beyond the noise");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "error: {} figure(s) got worse by more than {pct}% beyond the noise: {}",
        failing.len(),
        failing.join("; ")
    );
    Ok(ExitCode::from(1))
}

/// The regressions at `pct` percent (which may differ from the display threshold), each in
/// words: cell, figure and change.
fn failing_regressions(old: &RunResults, new: &RunResults, pct: f64) -> Vec<String> {
    let strict: Comparison = compare(old, new, pct);
    let named = Varying {
        topology: true,
        ..Varying::of(&strict)
    };
    strict
        .regressions()
        .map(|(key, change)| {
            format!(
                "{} {} {}",
                key.describe(&named),
                change.metric.label(),
                change
                    .change_pct
                    .map_or_else(|| "changed".to_string(), |p| format!("{p:+.1}%"))
            )
        })
        .collect()
}

/// Reads a results file; anything wrong with it is the user's to fix (exit 2), said with the
/// file's name.
fn load(path: &Path) -> Result<RunResults> {
    copybench_plot::load_results(path).map_err(|e| UsageError(e.to_string()).into())
}
