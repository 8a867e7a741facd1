//! The summary table in Markdown, for a README or a CI comment.

use std::fmt::Write as _;

use anyhow::Result;
use copybench_core::result::RunResults;

use super::Exporter;
use crate::summary::{setting, summary_table};

/// Writes the findings' five sentences, the same table as the terminal summary with its notes
/// as a list, then the findings as the terminal prints them.
pub struct MarkdownExporter;

impl Exporter for MarkdownExporter {
    fn render(&self, results: &RunResults) -> Result<String> {
        let table = summary_table(results);
        let mut out = String::new();
        writeln!(out, "# copybench results\n\n{}.\n", setting(results))?;
        // The answer first: the sentences `copybench run` prints last and the report shows
        // under its decision map.
        if let Some(f) = &results.findings {
            writeln!(out, "## In short\n")?;
            for sentence in copybench_core::findings::headline(f) {
                writeln!(out, "- {sentence}")?;
            }
            out.push('\n');
        }
        writeln!(out, "| {} |", table.header.join(" | "))?;
        writeln!(out, "|{}", "---|".repeat(table.header.len()))?;
        for row in &table.rows {
            writeln!(out, "| {} |", row.join(" | "))?;
        }
        if !table.notes.is_empty() {
            out.push('\n');
            for n in &table.notes {
                writeln!(out, "- {n}")?;
            }
        }
        if let Some(f) = &results.findings {
            let text = copybench_core::findings::render_text(f);
            writeln!(out, "\n## Findings\n\n```text\n{}```", text)?;
        }
        Ok(out)
    }
}
