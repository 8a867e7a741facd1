//! Result files, one module per format behind one [`Exporter`] interface (as hyperfine's
//! `export/`): JSON (the full contract), CSV and Markdown, all rewritten after every point.
//!
//! Each rewrite goes to a temporary file beside the target and is renamed over it, so a reader
//! (or a crash, or Ctrl-C) only ever sees a complete, valid file holding every finished point.

mod csv;
mod json;
mod markdown;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use copybench_core::result::RunResults;

/// Renders a run's results as the text of one file format.
pub trait Exporter {
    /// The whole file's text for `results` as they stand (possibly an unfinished sweep).
    fn render(&self, results: &RunResults) -> Result<String>;
}

/// The formats `--out` writes, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json`: every figure, the contract other tools read.
    Json,
    /// `.csv`: one row per point.
    Csv,
    /// `.md`: the summary table.
    Markdown,
}

impl Format {
    /// The format a path's extension names.
    pub fn of(path: &Path) -> Result<Format> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some("md") | Some("markdown") => Ok(Format::Markdown),
            _ => bail!(
                "--out {}: unknown format; name the file .json, .csv or .md",
                path.display()
            ),
        }
    }

    /// The exporter of this format.
    pub fn exporter(self) -> &'static dyn Exporter {
        match self {
            Format::Json => &json::JsonExporter,
            Format::Csv => &csv::CsvExporter,
            Format::Markdown => &markdown::MarkdownExporter,
        }
    }
}

/// The output files of a run.
pub struct Outputs {
    files: Vec<(PathBuf, Format)>,
}

impl Outputs {
    /// Checks every path can be written, by writing the (still empty) results to it now,
    /// before any traffic.
    pub fn create(paths: &[PathBuf], results: &RunResults) -> Result<Outputs> {
        let mut files = Vec::new();
        for path in paths {
            files.push((path.clone(), Format::of(path)?));
        }
        let outputs = Outputs { files };
        outputs.write(results)?;
        Ok(outputs)
    }

    /// The files, in the order given.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(p, _)| p.as_path())
    }

    /// Rewrites every file with `results`.
    pub fn write(&self, results: &RunResults) -> Result<()> {
        for (path, format) in &self.files {
            let text = format.exporter().render(results)?;
            write_atomically(path, text.as_bytes())
                .with_context(|| format!("--out {}: cannot write", path.display()))?;
        }
        Ok(())
    }
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.flush()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_extension() {
        assert_eq!(Format::of(Path::new("a.json")).unwrap(), Format::Json);
        assert_eq!(Format::of(Path::new("a.CSV")).unwrap(), Format::Csv);
        assert_eq!(Format::of(Path::new("dir/a.md")).unwrap(), Format::Markdown);
        assert!(Format::of(Path::new("a.txt")).is_err());
        assert!(Format::of(Path::new("a")).is_err());
    }
}
