//! The human summary: one row per (strategy, size, threads) with median and min..max over
//! repetitions, the winner of each size marked, and plain words next to figures that are easy
//! to misread (zero-copy on local delivery, noisy cells, unverified bytes).

use std::fmt::Write as _;

use copybench_core::engine::{DataTemperature, Mode, Protocol, Verify};
use copybench_core::findings::PoolDifference;
use copybench_core::result::{Point, RunResults, TopologyKind};
use copybench_core::sweep::{summarize, CellSummary, Spread, NOISY_CV};
use copybench_core::units::format_size;

/// Said next to every copied ratio of 1.0 measured on loopback or veth.
pub const LOCAL_COPY_NOTE: &str =
    "local delivery (loopback/veth) always copies: this is not NIC zero-copy";

/// The summary as cells: what the terminal table and the Markdown export both render.
pub struct SummaryTable {
    /// Column titles.
    pub header: Vec<&'static str>,
    /// One row of cells per (strategy, size, threads, mode).
    pub rows: Vec<Vec<String>>,
    /// Plain words under the table: noisy cells, errors, what copied ratios mean.
    pub notes: Vec<String>,
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
        if c.mode == Mode::Rr {
            c.latency_p50_us.map(|s| -s.median)
        } else if c.rate_bps.is_some() {
            // Paced: equal load, so the cheapest sender wins.
            c.sender_cpu_ns_per_byte.map(|s| -s.median)
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
                .filter(|o| o.rate_bps == c.rate_bps)
                .filter_map(score)
                .collect();
            rivals.len() > 1 && rivals.iter().all(|&r| mine >= r)
        })
        .collect()
}

/// Column titles in `rr` and in stream mode. `CPU ns/B` is the sender threads' CPU time per
/// byte; `sys ns/B` the whole machine's busy time per byte (service demand).
const RR_HEADER: [&str; 11] = [
    "strategy",
    "size",
    "thr",
    "p50 us",
    "min..max",
    "p99 us",
    "trans/s",
    "CPU ns/B",
    "sys ns/B",
    "zc copied",
    "ok",
];
const STREAM_HEADER: [&str; 11] = [
    "strategy",
    "size",
    "thr",
    "Gbps",
    "min..max",
    "cv",
    "send p99 us",
    "CPU ns/B",
    "sys ns/B",
    "zc copied",
    "ok",
];

/// The summary table of a run's results.
pub fn summary_table(results: &RunResults) -> SummaryTable {
    let cells = summarize(&results.points);
    let win = winners(&cells);
    let rr = results.config.mode == Mode::Rr;
    let mut notes = Vec::new();
    let mut rows = Vec::new();
    for (c, winner) in cells.iter().zip(win) {
        let points = points_of(&results.points, c);
        let demand = Spread::of(
            &points
                .iter()
                .filter_map(|p| p.service_demand_ns_per_byte)
                .collect::<Vec<_>>(),
        );
        rows.push(row(c, winner, rr, &demand));
        let mut cell = format!(
            "{}{} {} x{}",
            c.strategy,
            receive_suffix(c.receive),
            format_size(c.msg_size),
            c.threads
        );
        if let Some(rate) = c.rate_bps {
            cell += &format!(" @{}", copybench_core::units::format_rate(rate));
        }
        for p in &points {
            let paced = p.pacing_warning();
            for w in [p.rate_warning(), p.stall_warning(), paced]
                .into_iter()
                .flatten()
            {
                notes.push(format!("{cell} rep {}: {w}", p.repetition + 1));
            }
        }
        if c.rate_bps.is_some() {
            notes.push(paced_note(&cell, &points));
        }
        match c.throughput_gbps.and_then(|s| s.cv) {
            Some(cv) if !rr && cv > NOISY_CV => notes.push(format!(
                "{cell}: throughput varies by {:.0}% across repetitions (noisy machine?); \
                 use more --repetitions or a longer --duration",
                cv * 100.0
            )),
            _ => {}
        }
        notes.extend(c.errors.iter().map(|e| format!("{cell}: {e}")));
    }
    if results.config.topology.kind.is_local_delivery()
        && cells.iter().any(|c| c.copied_ratio.is_some())
    {
        notes.push(format!(
            "zc copied: share of zero-copy sends the kernel copied after all; {LOCAL_COPY_NOTE}."
        ));
    }
    if cells.iter().any(|c| c.not_verifiable) {
        notes.push(
            "ok n/a (sink): nothing receives on the sink, so nothing was verified; Gbps there is \
             what the kernel accepted and dropped at the device, not what a receiver got"
                .into(),
        );
    }
    if results.config.protocol == Protocol::Udp {
        notes.push(
            "udp: Gbps is the payload delivered to the receivers (sink: accepted by the kernel); \
             datagrams lost are in the results (udp.lost, udp.loss_ratio)"
                .into(),
        );
    }
    for u in &results.unsupported {
        notes.push(format!("{} not run: {}", u.strategy, u.reason));
    }
    notes.extend(receive_note(&cells));
    notes.extend(verification_note(results));
    notes.extend(data_note(&results.points));
    notes.extend(pool_note(results));
    if let Some(note) = &results.config.placement_note {
        notes.push(format!("placement: {note}"));
    }
    SummaryTable {
        header: if rr { RR_HEADER } else { STREAM_HEADER }.to_vec(),
        rows,
        notes,
    }
}

/// The findings' `mixed_pools` caveat in one line: which strategies ran from a pool of
/// another size than the others in their cells, and by how much.
fn pool_note(results: &RunResults) -> Option<String> {
    let differences: Vec<&PoolDifference> = results
        .findings
        .as_ref()?
        .groups
        .iter()
        .flat_map(|g| &g.pool_differences)
        .collect();
    let mut strategies: Vec<_> = differences.iter().map(|d| d.strategy).collect();
    strategies.sort();
    strategies.dedup();
    let each: Vec<String> = strategies
        .iter()
        .map(|&s| {
            let mine: Vec<&PoolDifference> = differences
                .iter()
                .copied()
                .filter(|d| d.strategy == s)
                .collect();
            let bytes = |f: fn(&PoolDifference) -> u64| {
                span(mine.iter().map(|d| f(d) as f64), |b| {
                    format_size(b as usize)
                })
            };
            format!(
                "{s} {} per connection vs {} ({})",
                bytes(|d| d.pool_bytes),
                bytes(|d| d.others_pool_bytes),
                span(mine.iter().map(|d| d.ratio), |r| format!("{r:.1}x"))
            )
        })
        .collect();
    (!each.is_empty()).then(|| {
        format!(
            "pools differ within cells: {}; a larger pool is colder in cache, so these are not \
             on the same buffer temperature as the others (findings: mixed_pools; --data cold \
             runs every strategy from one pool)",
            each.join(", ")
        )
    })
}

/// `lo` or `lo..hi` of some values, each written by `text`.
fn span(values: impl Iterator<Item = f64>, text: impl Fn(f64) -> String) -> String {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = (text(lo), text(hi));
    if lo == hi {
        lo
    } else {
        format!("{lo}..{hi}")
    }
}

/// What `<- trunc` and `<- zerocopy` mean, with the share zerocopy receive mapped per cell.
fn receive_note(cells: &[CellSummary]) -> Option<String> {
    use copybench_core::engine::ReceiveKind;
    if cells.iter().all(|c| c.receive == ReceiveKind::Read) {
        return None;
    }
    let mapped: Vec<String> = cells
        .iter()
        .filter(|c| c.receive == ReceiveKind::Zerocopy)
        .map(|c| {
            let share = c
                .mapped_ratio
                .map_or("not reported".to_string(), |r| format!("{:.0}%", r * 100.0));
            format!(
                "{} {} x{} {share}",
                c.strategy,
                format_size(c.msg_size),
                c.threads
            )
        })
        .collect();
    let mut note = "strategy <- receive: the receive strategy (--receive; rows without one \
                    read): trunc drops the bytes in the kernel (counted, not checked), zerocopy \
                    maps what the kernel can (TCP_ZEROCOPY_RECEIVE) and reads the rest, both \
                    checked"
        .to_string();
    if !mapped.is_empty() {
        note += &format!("; mapped by zerocopy receive: {}", mapped.join(", "));
    }
    Some(note)
}

/// How a row names its receive strategy: nothing for `read` (what every row meant before
/// `--receive`), ` <- trunc` or ` <- zerocopy` otherwise.
fn receive_suffix(receive: copybench_core::engine::ReceiveKind) -> String {
    match receive {
        copybench_core::engine::ReceiveKind::Read => String::new(),
        other => format!(" <- {other}"),
    }
}

/// A paced cell in words: the rate reached (slowest connection, median over repetitions) and
/// each side's CPU utilisation.
fn paced_note(cell: &str, points: &[&Point]) -> String {
    let median = |f: &dyn Fn(&Point) -> Option<f64>| {
        Spread::of(&points.iter().filter_map(|p| f(p)).collect::<Vec<_>>()).map(|s| s.median)
    };
    let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.0}%"));
    let reached = median(&|p| p.pacing.as_ref()?.reached_bps);
    format!(
        "{cell}: reached {} per connection (slowest, median), CPU utilisation sender {} and \
         receiver {} of one CPU",
        reached.map_or("n/a".into(), copybench_core::units::rate_text),
        pct(median(&|p| p.sender.cpu_utilisation_pct)),
        pct(median(&|p| p.receiver.cpu_utilisation_pct))
    )
}

/// The points behind a cell.
fn points_of<'a>(points: &'a [Point], c: &CellSummary) -> Vec<&'a Point> {
    points
        .iter()
        .filter(|p| {
            p.strategy == c.strategy
                && p.receive == c.receive
                && p.msg_size == c.msg_size
                && p.threads == c.threads
                && p.mode == c.mode
                && p.target_rate_bps() == c.rate_bps
        })
        .collect()
}

/// In words, per data temperature: how many buffers each strategy sent from per connection
/// and the largest working set, so that a hot and a cold figure are not mistaken for each
/// other.
fn data_note(points: &[Point]) -> Vec<String> {
    let mut temps: Vec<_> = points.iter().filter_map(|p| p.data).collect();
    temps.sort();
    temps.dedup();
    let mut notes = Vec::new();
    for data in temps {
        let mut strategies: Vec<_> = points.iter().map(|p| p.strategy).collect();
        strategies.sort();
        strategies.dedup();
        let per_strategy: Vec<String> = strategies
            .into_iter()
            .filter_map(|s| {
                let of: Vec<&Point> = points
                    .iter()
                    .filter(|p| p.strategy == s && p.data == Some(data))
                    .collect();
                let per_conn: Vec<u64> = of
                    .iter()
                    .filter_map(|p| p.buffers_touched.map(|n| n / p.threads.max(1) as u64))
                    .collect();
                let (lo, hi) = (per_conn.iter().min()?, per_conn.iter().max()?);
                let ws = of.iter().filter_map(|p| p.working_set_bytes).max()?;
                Some(format!(
                    "{s} {lo}..{hi} (up to {})",
                    format_size(ws as usize)
                ))
            })
            .collect();
        let what = match data {
            DataTemperature::Hot => "hot: the buffer just released is the next one sent",
            DataTemperature::Cold => "cold: every strategy cycles through its whole pool",
        };
        notes.push(if per_strategy.is_empty() {
            format!("data {what}")
        } else {
            format!(
                "data {what}; buffers sent from per connection (working set): {}",
                per_strategy.join(", ")
            )
        });
    }
    notes
}

/// In words, when the receivers did not check every byte: what `ok` then means.
fn verification_note(results: &RunResults) -> Option<String> {
    let mut modes: Vec<Verify> = results.points.iter().map(|p| p.verification).collect();
    modes.push(results.config.verification);
    modes.sort();
    modes.dedup();
    let unchecked: Vec<String> = modes
        .into_iter()
        .filter(|v| !v.checks_content())
        .map(|v| format!("--verify {v}: {}", v.describe()))
        .collect();
    (!unchecked.is_empty()).then(|| {
        format!(
            "content NOT checked byte for byte ({}); ok = yes means every check that ran passed \
             and the receivers got exactly the bytes sent",
            unchecked.join("; ")
        )
    })
}

/// One cell's row: median and min..max over repetitions, the winner marked with `*`.
fn row(c: &CellSummary, winner: bool, rr: bool, demand: &Option<Spread>) -> Vec<String> {
    let paced = c
        .rate_bps
        .map(|r| format!(" @{}", copybench_core::units::format_rate(r)))
        .unwrap_or_default();
    let mut cells = vec![
        format!(
            "{}{}{}{paced}",
            c.strategy,
            receive_suffix(c.receive),
            if winner { "*" } else { "" }
        ),
        format_size(c.msg_size),
        c.threads.to_string(),
    ];
    if rr {
        let (p50, range) = spread(&c.latency_p50_us, 1);
        cells.extend([p50, range, spread(&c.latency_p99_us, 1).0]);
        cells.push(spread(&c.transactions_per_s, 0).0);
    } else {
        let (gbps, range) = spread(&c.throughput_gbps, 2);
        cells.extend([gbps, range]);
        cells.push(match c.throughput_gbps.and_then(|s| s.cv) {
            Some(cv) => format!("{:.0}%{}", cv * 100.0, if cv > NOISY_CV { "!" } else { "" }),
            None => "-".into(),
        });
        cells.push(spread(&c.latency_p99_us, 1).0);
    }
    cells.push(spread(&c.sender_cpu_ns_per_byte, 3).0);
    cells.push(spread(demand, 3).0);
    cells.push(match c.copied_ratio {
        Some(r) => format!("{:.0}%", r * 100.0),
        None => "-".into(),
    });
    cells.push(
        if c.not_verifiable {
            "n/a (sink)"
        } else if c.verified {
            "yes"
        } else {
            "NO"
        }
        .into(),
    );
    cells
}

/// One line saying where and how the points were measured.
pub fn setting(results: &RunResults) -> String {
    let c = &results.config;
    let t = &c.topology;
    let place = match t.kind {
        TopologyKind::Netns => format!(
            "netns veth {} -> {}, MTU {}",
            t.sender_addr.as_deref().unwrap_or("?"),
            t.receiver_addr.as_deref().unwrap_or("?"),
            t.mtu.map_or("?".into(), |m| m.to_string())
        ),
        TopologyKind::Remote => format!(
            "remote server {}",
            t.receiver_addr.as_deref().unwrap_or("?")
        ),
        TopologyKind::Loopback => "loopback".to_string(),
        TopologyKind::Sink => format!(
            "sink {} -> {}, MTU {}",
            t.sender_addr.as_deref().unwrap_or("?"),
            t.receiver_addr.as_deref().unwrap_or("?"),
            t.mtu.map_or("?".into(), |m| m.to_string())
        ),
    };
    let placement = match c.placement {
        Some(p) => format!("placement {p}"),
        None if c.pin.is_some() => "pinned".to_string(),
        None => "placement not recorded".to_string(),
    };
    format!(
        "{place}; {} over {}; {} s measured after {} s warm-up; {} repetitions; {} fields; align {}; \
         {placement}; verify {}",
        c.mode, c.protocol, c.duration_s, c.warmup_s, c.repetitions, c.fields, c.align, c.verification
    )
}

/// Rows of cells as terminal text: each column as wide as its widest cell, the first
/// left-aligned and the others right-aligned, two spaces apart.
pub fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let padded: Vec<String> = row
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
    }
    out
}

/// A plain-text table for the terminal.
pub fn table(results: &RunResults) -> String {
    let SummaryTable {
        header,
        rows,
        notes,
    } = summary_table(results);
    let mut out = setting(results) + "\n";
    let mut lines = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    lines.extend(rows.iter().cloned());
    out += &aligned(&lines);
    if !rows.is_empty() {
        let what = if results.config.mode == Mode::Rr {
            "lowest median p50 at that size and thread count."
        } else {
            "highest median throughput at that size and thread count. Gbps = 10^9 bit/s of payload."
        };
        let _ = writeln!(out, "* = {what}");
        if !results.config.rates.is_empty() {
            let _ = writeln!(
                out,
                "@RATE = paced at RATE per connection: * marks the lowest median sender CPU ns/B \
                 at that size, rate and thread count."
            );
        }
    }
    for n in notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use copybench_core::result::RunResults;

    fn results_with(receiver_gbps: Option<f64>) -> RunResults {
        let mut point: Point =
            serde_json::from_str(include_str!("../tests/data/point.json")).unwrap();
        point.receiver.throughput_gbps = receiver_gbps;
        RunResults {
            schema_version: 1,
            tool: Default::default(),
            command_line: Vec::new(),
            started_at: String::new(),
            host: Default::default(),
            config: Default::default(),
            points: vec![point],
            findings: None,
            complete: true,
            interrupted: None,
            unsupported: Vec::new(),
            failures: Vec::new(),
        }
    }

    #[test]
    fn a_point_whose_sides_disagree_by_more_than_5_percent_is_warned_about() {
        let sent = results_with(None).points[0].throughput_gbps;
        let notes = |gbps| summary_table(&results_with(gbps)).notes.join("\n");
        let warned = notes(Some(sent * 0.90));
        assert!(warned.contains("receivers"), "{warned}");
        assert!(warned.contains("10% apart"), "{warned}");
        assert!(!notes(Some(sent * 0.97)).contains("receivers"));
        assert!(
            !notes(None).contains("receivers"),
            "unmeasured is not a disagreement"
        );
    }

    #[test]
    fn the_table_has_a_service_demand_column() {
        let mut r = results_with(None);
        r.points[0].service_demand_ns_per_byte = Some(1.25);
        let t = summary_table(&r);
        let at = t.header.iter().position(|h| *h == "sys ns/B").unwrap();
        assert_eq!(t.rows[0][at], "1.250");
        r.points[0].service_demand_ns_per_byte = None;
        assert_eq!(
            summary_table(&r).rows[0][at],
            "n/a",
            "never 0 for unmeasured"
        );
    }

    #[test]
    fn a_strategy_on_another_pool_is_noted_under_the_table() {
        let mut r = results_with(None);
        assert!(!summary_table(&r).notes.join("\n").contains("pools differ"));
        let mut findings =
            copybench_core::findings::findings(&r.points, TopologyKind::Loopback, Protocol::Tcp);
        findings.groups[0].pool_differences.push(PoolDifference {
            strategy: copybench_core::StrategyKind::Splice,
            msg_size: 65536,
            pool_bytes: 74 << 20,
            others_pool_bytes: 8 << 20,
            ratio: 9.25,
        });
        r.findings = Some(findings);
        let notes = summary_table(&r).notes.join("\n");
        assert!(
            notes.contains("pools differ within cells: splice 74m per connection vs 8m (9.2x)"),
            "{notes}"
        );
    }
}
