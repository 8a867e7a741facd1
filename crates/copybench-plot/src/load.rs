//! Reading result files, and naming each run in the report.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use copybench_core::result::{RunResults, SCHEMA_VERSION};

use crate::PlotError;

/// One run as it appears in a report: the label its series carry, and its results.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledRun {
    /// Short name of the run in legends and tables (by default the file name without `.json`).
    pub label: String,
    /// Where it was read from, when it came from a file.
    pub path: Option<PathBuf>,
    pub results: RunResults,
}

/// Reads one results JSON file and checks it is something a report can be made of.
///
/// Errors say which: the file is missing, is not JSON, is JSON of another kind, has another
/// `schema_version`, does not match the layout, or holds no points.
pub fn load_results(path: &Path) -> Result<RunResults, PlotError> {
    let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
        ErrorKind::NotFound => PlotError::NotFound {
            path: path.to_path_buf(),
        },
        _ => PlotError::Read {
            path: path.to_path_buf(),
            source,
        },
    })?;
    parse_results(path, &text)
}

/// [`load_results`] on text already read (`path` names it in errors).
pub fn parse_results(path: &Path, text: &str) -> Result<RunResults, PlotError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| PlotError::NotJson {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let Some(found) = value.get("schema_version") else {
        return Err(PlotError::NotResults {
            path: path.to_path_buf(),
        });
    };
    if found.as_u64() != Some(u64::from(SCHEMA_VERSION)) {
        let tool = value
            .pointer("/tool/version")
            .and_then(|v| v.as_str())
            .map_or_else(
                || "unknown version".to_string(),
                |v| format!("copybench {v}"),
            );
        return Err(PlotError::SchemaVersion {
            path: path.to_path_buf(),
            found: found.clone(),
            expected: SCHEMA_VERSION,
            tool,
        });
    }
    let results: RunResults = serde_json::from_value(value).map_err(|e| PlotError::Schema {
        path: path.to_path_buf(),
        version: SCHEMA_VERSION,
        detail: e.to_string(),
    })?;
    if results.points.is_empty() {
        return Err(PlotError::NoPoints {
            path: path.to_path_buf(),
        });
    }
    Ok(results)
}

/// Loads every file and labels it by its file name without `.json`, falling back to the whole
/// path where two files share a name.
pub fn load_labeled(inputs: &[PathBuf]) -> Result<Vec<LabeledRun>, PlotError> {
    if inputs.is_empty() {
        return Err(PlotError::NoInputs);
    }
    let labels = labels_for(inputs);
    inputs
        .iter()
        .zip(labels)
        .map(|(path, label)| {
            Ok(LabeledRun {
                label,
                path: Some(path.clone()),
                results: load_results(path)?,
            })
        })
        .collect()
}

/// Distinct short labels for a list of paths.
pub(crate) fn labels_for(paths: &[PathBuf]) -> Vec<String> {
    let short: Vec<String> = paths
        .iter()
        .map(|p| {
            let name = p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            name.strip_suffix(".json").unwrap_or(&name).to_string()
        })
        .collect();
    let mut seen = HashSet::new();
    let unique = short.iter().all(|s| seen.insert(s.as_str()));
    let mut labels: Vec<String> = if unique {
        short
    } else {
        paths.iter().map(|p| p.display().to_string()).collect()
    };
    // The same path given twice: number the repeats so series stay apart.
    let mut count = std::collections::HashMap::<String, usize>::new();
    for label in &mut labels {
        let n = count.entry(label.clone()).or_default();
        *n += 1;
        if *n > 1 {
            label.push_str(&format!(" #{n}"));
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_file_stems_unless_they_collide() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            labels_for(&[p("a/base.json"), p("b/zc-veth.json")]),
            ["base", "zc-veth"]
        );
        assert_eq!(
            labels_for(&[p("a/r.json"), p("b/r.json")]),
            ["a/r.json", "b/r.json"]
        );
        assert_eq!(
            labels_for(&[p("r.json"), p("r.json")]),
            ["r.json", "r.json #2"]
        );
    }
}
