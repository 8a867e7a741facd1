//! Result files: JSON (the full contract), CSV and Markdown, rewritten after every point.
//!
//! Each rewrite goes to a temporary file beside the target and is renamed over it, so a reader
//! (or a crash, or Ctrl-C) only ever sees a complete, valid file holding every finished point.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use copybench_core::result::{Counters, Metric, Point, RunResults};

use crate::summary;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Markdown,
}

impl Format {
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

    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(p, _)| p.as_path())
    }

    pub fn write(&self, results: &RunResults) -> Result<()> {
        for (path, format) in &self.files {
            let text = render(results, *format)?;
            write_atomically(path, text.as_bytes())
                .with_context(|| format!("--out {}: cannot write", path.display()))?;
        }
        Ok(())
    }
}

pub fn render(results: &RunResults, format: Format) -> Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(results)? + "\n",
        Format::Csv => csv(&results.points),
        Format::Markdown => summary::markdown(results),
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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

/// CSV header: the columns a spreadsheet user expects first, then latency, zero-copy and
/// counters. Unmeasured values are empty cells, never 0.
pub const CSV_HEADER: &str = "strategy,msg_size,threads,repetition,mode,throughput_gbps,bytes,messages,duration_s,send_calls,verified,\
latency_what,latency_p50_us,latency_p90_us,latency_p99_us,latency_p999_us,latency_max_us,latency_mean_us,transactions_per_s,\
zc_sends,zc_completions,zc_copied,zc_copied_ratio,zc_enobufs,\
sender_cpu_ns_per_byte,receiver_cpu_ns_per_byte,cycles_per_byte,llc_misses_per_kib,\
sender_cycles,sender_instructions,sender_llc_misses,sender_context_switches,sender_cpu_migrations,sender_page_faults,sender_task_clock_ns,\
receiver_cycles,receiver_instructions,receiver_llc_misses,receiver_context_switches,receiver_cpu_migrations,receiver_page_faults,receiver_task_clock_ns,\
system_user_ns,system_system_ns,system_softirq_ns,system_irq_ns,fields,pool,error";

pub fn csv(points: &[Point]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let metric = |m: &Metric| m.value().map(|v| v.to_string()).unwrap_or_default();
    let counters = |c: &Option<Counters>| -> Vec<String> {
        match c {
            Some(c) => [
                &c.cycles,
                &c.instructions,
                &c.llc_misses,
                &c.context_switches,
                &c.cpu_migrations,
                &c.page_faults,
                &c.task_clock_ns,
            ]
            .into_iter()
            .map(metric)
            .collect(),
            None => vec![String::new(); 7],
        }
    };
    for p in points {
        let lat = p.latency_us.as_ref();
        let zc = p.zerocopy.as_ref();
        let sys = p.system_cpu.as_ref();
        let mut row: Vec<String> = vec![
            p.strategy.to_string(),
            p.msg_size.to_string(),
            p.threads.to_string(),
            p.repetition.to_string(),
            p.mode.clone(),
            p.throughput_gbps.to_string(),
            p.bytes.to_string(),
            p.messages.to_string(),
            p.duration_s.to_string(),
            p.send_calls.to_string(),
            p.verified.to_string(),
            lat.map(|l| l.what.clone()).unwrap_or_default(),
        ];
        row.extend(
            [
                lat.map(|l| l.p50),
                lat.map(|l| l.p90),
                lat.map(|l| l.p99),
                lat.map(|l| l.p999),
                lat.map(|l| l.max),
                lat.map(|l| l.mean),
                p.transactions_per_s,
            ]
            .map(opt),
        );
        row.extend(
            [
                zc.map(|z| z.sends),
                zc.map(|z| z.completions),
                zc.map(|z| z.copied),
            ]
            .map(|v| v.map(|x| x.to_string()).unwrap_or_default()),
        );
        row.push(opt(zc.and_then(|z| z.copied_ratio)));
        row.push(zc.map(|z| z.enobufs.to_string()).unwrap_or_default());
        row.extend(
            [
                p.sender.cpu_ns_per_byte,
                p.receiver.cpu_ns_per_byte,
                p.cycles_per_byte,
                p.llc_misses_per_kib,
            ]
            .map(opt),
        );
        row.extend(counters(&p.sender.counters));
        row.extend(counters(&p.receiver.counters));
        row.extend(
            [
                sys.map(|s| s.user_ns),
                sys.map(|s| s.system_ns),
                sys.map(|s| s.softirq_ns),
                sys.map(|s| s.irq_ns),
            ]
            .map(|v| v.map(|x| x.to_string()).unwrap_or_default()),
        );
        row.push(p.fields.to_string());
        row.push(p.pool.to_string());
        row.push(p.error.clone().unwrap_or_default());
        let escaped: Vec<String> = row.into_iter().map(|c| csv_escape(&c)).collect();
        let _ = writeln!(out, "{}", escaped.join(","));
    }
    out
}

fn csv_escape(cell: &str) -> String {
    if cell.contains([',', '"', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
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

    #[test]
    fn csv_escapes_commas_and_quotes() {
        assert_eq!(csv_escape("a,b"), "\"a,b\"");
        assert_eq!(csv_escape("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_escape("plain"), "plain");
    }

    #[test]
    fn header_and_row_have_the_same_width() {
        let columns = CSV_HEADER.split(',').count();
        let point: Point = serde_json::from_str(include_str!("../tests/data/point.json")).unwrap();
        let text = csv(&[point]);
        let row = text.lines().nth(1).unwrap();
        assert_eq!(row.split(',').count(), columns, "{row}");
    }
}
