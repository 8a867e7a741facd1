//! The full results as pretty-printed JSON (the contract of `docs/results.md`).

use anyhow::Result;
use copybench_core::result::RunResults;

use super::Exporter;

/// Writes the whole [`RunResults`] document.
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn render(&self, results: &RunResults) -> Result<String> {
        Ok(serde_json::to_string_pretty(results)? + "\n")
    }
}
