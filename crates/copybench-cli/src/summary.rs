//! The human summary: one row per (strategy, size, threads) with median and min..max over
//! repetitions, the winner of each size marked, and plain words next to figures that are easy
//! to misread (zero-copy on local delivery, noisy cells, unverified bytes).

use std::fmt::Write as _;

use copybench_core::result::RunResults;
use copybench_core::sweep::{summarize, CellSummary, Spread, NOISY_CV};
use copybench_core::units::format_size;

/// Said next to every copied ratio of 1.0 measured on loopback or veth.
pub const LOCAL_COPY_NOTE: &str =
    "local delivery (loopback/veth) always copies: this is not NIC zero-copy";

struct Row {
    cells: Vec<String>,
}

fn spread(s: &Option<Spread>, digits: usize) -> (String, String) {
    match s {
        Some(s) => (
            format!("{:.*}", digits, s.median),
            format!("{:.*}..{:.*}", digits, s.min, digits, s.max),
        ),
        None => ("n/a".into(), String::new()),
    }
}

/// Index of the best cell per (size, threads): highest median throughput in stream mode,
/// lowest median p50 in rr mode. Only cells that verified can win.
fn winners(cells: &[CellSummary]) -> Vec<bool> {
    let score = |c: &CellSummary| -> Option<f64> {
        if !c.verified {
            return None;
        }
        if c.mode == "rr" {
            c.latency_p50_us.map(|s| -s.median)
        } else {
            c.throughput_gbps.map(|s| s.median)
        }
    };
    cells
        .iter()
        .map(|c| {
            let Some(mine) = score(c) else { return false };
            let rivals: Vec<f64> = cells
                .iter()
                .filter(|o| o.msg_size == c.msg_size && o.threads == c.threads && o.mode == c.mode)
                .filter_map(score)
                .collect();
            rivals.len() > 1 && rivals.iter().all(|&r| mine >= r)
        })
        .collect()
}

fn rows(results: &RunResults) -> (Vec<&'static str>, Vec<Row>, Vec<String>) {
    let cells = summarize(&results.points);
    let win = winners(&cells);
    let rr = results.config.mode == "rr";
    let header = if rr {
        vec![
            "strategy",
            "size",
            "thr",
            "p50 us",
            "min..max",
            "p99 us",
            "trans/s",
            "CPU ns/B",
            "zc copied",
            "ok",
        ]
    } else {
        vec![
            "strategy",
            "size",
            "thr",
            "Gbps",
            "min..max",
            "cv",
            "send p99 us",
            "CPU ns/B",
            "zc copied",
            "ok",
        ]
    };
    let mut notes = Vec::new();
    let mut out = Vec::new();
    for (c, winner) in cells.iter().zip(win) {
        let mark = if winner { "*" } else { "" };
        let cv = c.throughput_gbps.and_then(|s| s.cv);
        let noisy = !rr && cv.is_some_and(|cv| cv > NOISY_CV);
        let mut cells_text = vec![
            format!("{}{}", c.strategy, mark),
            format_size(c.msg_size),
            c.threads.to_string(),
        ];
        if rr {
            let (p50, range) = spread(&c.latency_p50_us, 1);
            cells_text.extend([p50, range, spread(&c.latency_p99_us, 1).0]);
            cells_text.push(spread(&c.transactions_per_s, 0).0);
        } else {
            let (gbps, range) = spread(&c.throughput_gbps, 2);
            cells_text.extend([gbps, range]);
            cells_text.push(match cv {
                Some(cv) => format!("{:.0}%{}", cv * 100.0, if noisy { "!" } else { "" }),
                None => "-".into(),
            });
            cells_text.push(spread(&c.latency_p99_us, 1).0);
        }
        cells_text.push(spread(&c.sender_cpu_ns_per_byte, 3).0);
        cells_text.push(match c.copied_ratio {
            Some(r) => format!("{:.0}%", r * 100.0),
            None => "-".into(),
        });
        cells_text.push(if c.verified {
            "yes".into()
        } else {
            "NO".into()
        });
        if noisy {
            notes.push(format!(
                "{} {} x{}: throughput varies by {:.0}% across repetitions (noisy machine?); \
                 use more --repetitions or a longer --duration",
                c.strategy,
                format_size(c.msg_size),
                c.threads,
                cv.unwrap_or(0.0) * 100.0
            ));
        }
        for e in &c.errors {
            notes.push(format!(
                "{} {} x{}: {e}",
                c.strategy,
                format_size(c.msg_size),
                c.threads
            ));
        }
        out.push(Row { cells: cells_text });
    }
    let local = matches!(results.config.topology.kind.as_str(), "loopback" | "netns");
    if local && cells.iter().any(|c| c.copied_ratio.is_some()) {
        notes.push(format!(
            "zc copied: share of zero-copy sends the kernel copied after all; {LOCAL_COPY_NOTE}."
        ));
    }
    for u in &results.unsupported {
        notes.push(format!("{} not run: {}", u.strategy, u.reason));
    }
    (header, out, notes)
}

/// One line saying where and how the points were measured.
fn setting(results: &RunResults) -> String {
    let c = &results.config;
    let t = &c.topology;
    let place = match t.kind.as_str() {
        "netns" => format!(
            "netns veth {} -> {}, MTU {}",
            t.sender_addr.as_deref().unwrap_or("?"),
            t.receiver_addr.as_deref().unwrap_or("?"),
            t.mtu.map_or("?".into(), |m| m.to_string())
        ),
        "remote" => format!(
            "remote server {}",
            t.receiver_addr.as_deref().unwrap_or("?")
        ),
        other => other.to_string(),
    };
    format!(
        "{place}; {} mode; {} s measured after {} s warm-up; {} repetitions; {} fields; align {}",
        c.mode, c.duration_s, c.warmup_s, c.repetitions, c.fields, c.align
    )
}

/// A plain-text table for the terminal.
pub fn table(results: &RunResults) -> String {
    let (header, rows, notes) = rows(results);
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(&r.cells) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = setting(results) + "\n";
    let line = |cells: Vec<&str>, out: &mut String| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(header.clone(), &mut out);
    for r in &rows {
        line(r.cells.iter().map(String::as_str).collect(), &mut out);
    }
    if !rows.is_empty() {
        let what = if results.config.mode == "rr" {
            "lowest median p50 at that size and thread count."
        } else {
            "highest median throughput at that size and thread count. Gbps = 10^9 bit/s of payload."
        };
        let _ = writeln!(out, "* = {what}");
    }
    for n in notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// The same table in Markdown.
pub fn markdown(results: &RunResults) -> String {
    let (header, rows, notes) = rows(results);
    let mut out = String::new();
    let _ = writeln!(out, "# copybench results\n\n{}.\n", setting(results));
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        header.iter().map(|_| "---|").collect::<String>()
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.cells.join(" | "));
    }
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out
}
