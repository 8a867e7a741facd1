//! Comparing two runs cell by cell: what changed beyond the noise, and what got worse.
//!
//! [`compare`] matches cells (topology, mode, threads, size, strategy) of an old and a new run
//! and, for median throughput, median sender CPU ns/byte and median p99 latency, gives the
//! new/old ratio with both runs' repetition spreads. The rules (critcmp's manners):
//! - a change is **beyond the noise** only when the two runs' repetitions are told apart by
//!   [`crate::stats::separate`]: disjoint min..max ranges and a two-sided Mann-Whitney U test
//!   with p <= 0.10 (so 3 repetitions or more on each side; with fewer nothing can be told);
//! - it is a **regression** when it is beyond the noise and worse by more than the threshold:
//!   throughput down, CPU per byte up, p99 latency up by more than `threshold_pct` percent of
//!   the old median; an **improvement** the same the other way.
//!
//! Cells found in only one run are listed, not dropped. [`render_text`] and [`render_markdown`]
//! print the table (the Markdown one for a CI comment).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::findings::{has_receiver, Figure};
use crate::model::{Mode, StrategyKind, TopologyKind};
use crate::result::{Point, RunResults};
use crate::stats::Spread;
use crate::stats::{median, separate, Better, Separation, ALPHA};
use crate::units::format_size;

/// The figures compared, in table order.
pub const COMPARED: [Figure; 3] = [
    Figure::ThroughputGbps,
    Figure::SenderCpuNsPerByte,
    Figure::LatencyP99Us,
];

/// One cell of the matrix, across runs. Cells are listed in the order of their names
/// (topology, then mode: `rr` before `stream`), then threads, size and strategy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CellKey {
    /// The run's topology.
    pub topology: TopologyKind,
    /// What was measured.
    pub mode: Mode,
    /// Connections.
    pub threads: usize,
    /// Message size in bytes.
    pub msg_size: usize,
    /// The strategy.
    pub strategy: StrategyKind,
}

impl Ord for CellKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let key = |k: &CellKey| {
            (
                k.topology.name(),
                k.mode.name(),
                k.threads,
                k.msg_size,
                k.strategy,
            )
        };
        key(self).cmp(&key(other))
    }
}

impl PartialOrd for CellKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl CellKey {
    /// `zerocopy 64k x2 stream` (plus the topology when `with_topology`).
    pub fn describe(&self, with_topology: bool) -> String {
        let mut t = format!(
            "{} {} x{} {}",
            self.strategy,
            format_size(self.msg_size),
            self.threads,
            self.mode
        );
        if with_topology {
            let _ = write!(t, " on {}", self.topology);
        }
        t
    }
}

/// The comparison of two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// A change counts as a regression or an improvement beyond this many percent.
    pub threshold_pct: f64,
    /// The old run's start time (RFC 3339), to tell the runs apart in print.
    pub old_started_at: String,
    /// The new run's start time.
    pub new_started_at: String,
    /// Cells measured in both runs, in key order.
    pub cells: Vec<CellComparison>,
    /// Cells measured only in the old run.
    pub only_in_old: Vec<CellKey>,
    /// Cells measured only in the new run.
    pub only_in_new: Vec<CellKey>,
    /// Differences between the runs that bear on the comparison (host, topology, settings).
    pub caveats: Vec<String>,
}

/// One cell in both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellComparison {
    /// Which cell.
    #[serde(flatten)]
    pub key: CellKey,
    /// One per compared figure ([`COMPARED`]).
    pub changes: Vec<Change>,
    /// Some point of this cell, in either run, was not verified.
    pub unverified: bool,
}

/// How one figure of one cell changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The figure.
    pub metric: Figure,
    /// The old run's repetitions.
    pub old: Option<Spread>,
    /// The new run's repetitions.
    pub new: Option<Spread>,
    /// Repetitions with this figure in the old run.
    pub old_repetitions: usize,
    /// Repetitions with this figure in the new run.
    pub new_repetitions: usize,
    /// New median / old median (`null` when either is missing or the old one is 0).
    pub ratio: Option<f64>,
    /// `(ratio - 1) * 100`: positive means the figure went up (which is worse for CPU and
    /// latency, better for throughput).
    pub change_pct: Option<f64>,
    /// Whether the runs' repetitions are told apart, and the test's p-value.
    pub separation: Separation,
    /// What it amounts to.
    pub verdict: ChangeVerdict,
}

/// What a change amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeVerdict {
    /// Beyond the noise and worse by more than the threshold.
    Regression,
    /// Beyond the noise and better by more than the threshold.
    Improvement,
    /// Beyond the noise but within the threshold.
    BelowThreshold,
    /// The repetitions' ranges overlap (or the test does not separate them).
    WithinNoise,
    /// Too few repetitions on a side to tell (1, or 2 vs 2).
    CannotTell,
    /// Missing in one run or both.
    NotMeasured,
}

impl Comparison {
    /// Every regression: (cell, change).
    pub fn regressions(&self) -> impl Iterator<Item = (&CellKey, &Change)> {
        self.with_verdict(ChangeVerdict::Regression)
    }

    /// Every improvement: (cell, change).
    pub fn improvements(&self) -> impl Iterator<Item = (&CellKey, &Change)> {
        self.with_verdict(ChangeVerdict::Improvement)
    }

    /// True if any cell regressed (for `--fail-on-regression`).
    pub fn has_regression(&self) -> bool {
        self.regressions().next().is_some()
    }

    fn with_verdict(&self, v: ChangeVerdict) -> impl Iterator<Item = (&CellKey, &Change)> {
        self.cells.iter().flat_map(move |c| {
            c.changes
                .iter()
                .filter(move |x| x.verdict == v)
                .map(move |x| (&c.key, x))
        })
    }
}

fn cells(run: &RunResults) -> BTreeMap<CellKey, Vec<&Point>> {
    let mut out: BTreeMap<CellKey, Vec<&Point>> = BTreeMap::new();
    for p in &run.points {
        let key = CellKey {
            topology: run.config.topology.kind,
            mode: p.mode,
            threads: p.threads,
            msg_size: p.msg_size,
            strategy: p.strategy,
        };
        out.entry(key).or_default().push(p);
    }
    out
}

/// Compares `new` against `old`, cell by cell; `threshold_pct` is the relative change (in
/// percent of the old median) beyond which a change beyond the noise counts (negative or
/// non-finite thresholds count as 0).
pub fn compare(old: &RunResults, new: &RunResults, threshold_pct: f64) -> Comparison {
    let threshold_pct = if threshold_pct.is_finite() {
        threshold_pct.max(0.0)
    } else {
        0.0
    };
    let old_cells = cells(old);
    let new_cells = cells(new);
    let mut out = Comparison {
        threshold_pct,
        old_started_at: old.started_at.clone(),
        new_started_at: new.started_at.clone(),
        cells: Vec::new(),
        only_in_old: old_cells
            .keys()
            .filter(|k| !new_cells.contains_key(*k))
            .cloned()
            .collect(),
        only_in_new: new_cells
            .keys()
            .filter(|k| !old_cells.contains_key(*k))
            .cloned()
            .collect(),
        caveats: run_caveats(old, new),
    };
    for (key, old_points) in &old_cells {
        let Some(new_points) = new_cells.get(key) else {
            continue;
        };
        let unverified = old_points
            .iter()
            .chain(new_points)
            .any(|p| !p.verified && has_receiver(p));
        out.cells.push(CellComparison {
            key: key.clone(),
            changes: COMPARED
                .iter()
                .map(|&f| change(f, old_points, new_points, threshold_pct))
                .collect(),
            unverified,
        });
    }
    let unverified = out.cells.iter().filter(|c| c.unverified).count();
    if unverified > 0 {
        out.caveats.push(format!(
            "{unverified} cell(s) have points whose bytes were not verified (marked)"
        ));
    }
    out
}

fn change(f: Figure, old: &[&Point], new: &[&Point], threshold_pct: f64) -> Change {
    let values = |ps: &[&Point]| ps.iter().filter_map(|p| f.value(p)).collect::<Vec<f64>>();
    let (ov, nv) = (values(old), values(new));
    let ratio = match (median(&ov), median(&nv)) {
        (Some(o), Some(n)) if o > 0.0 && (n / o).is_finite() => Some(n / o),
        _ => None,
    };
    let separation = separate(&ov, &nv);
    let limit = threshold_pct / 100.0;
    let verdict = match (ratio, separation) {
        (None, _) | (_, Separation::NoData) => ChangeVerdict::NotMeasured,
        (_, Separation::SingleRepetition | Separation::TooFewRepetitions { .. }) => {
            ChangeVerdict::CannotTell
        }
        (_, Separation::Overlap { .. } | Separation::NotSignificant { .. }) => {
            ChangeVerdict::WithinNoise
        }
        (Some(r), Separation::Apart { .. }) => {
            // Positive: better.
            let gain = match f.better() {
                Better::Higher => r - 1.0,
                Better::Lower => 1.0 - r,
            };
            if gain < -limit {
                ChangeVerdict::Regression
            } else if gain > limit {
                ChangeVerdict::Improvement
            } else {
                ChangeVerdict::BelowThreshold
            }
        }
    };
    Change {
        metric: f,
        old: Spread::of(&ov),
        new: Spread::of(&nv),
        old_repetitions: ov.len(),
        new_repetitions: nv.len(),
        ratio,
        change_pct: ratio.map(|r| (r - 1.0) * 100.0),
        separation,
        verdict,
    }
}

fn run_caveats(old: &RunResults, new: &RunResults) -> Vec<String> {
    let mut out = Vec::new();
    let (a, b) = (&old.config, &new.config);
    if a.topology.kind != b.topology.kind {
        out.push(format!(
            "old ran on {}, new on {}: no cell matches across topologies",
            a.topology.kind, b.topology.kind
        ));
    }
    let mut differ = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{what} differs: {x} (old) vs {y} (new)"));
        }
    };
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "?".into());
    differ("host", opt(&old.host.hostname), opt(&new.host.hostname));
    differ("kernel", opt(&old.host.kernel), opt(&new.host.kernel));
    differ("CPU", opt(&old.host.cpu_model), opt(&new.host.cpu_model));
    differ(
        "MTU",
        format!("{:?}", a.topology.mtu),
        format!("{:?}", b.topology.mtu),
    );
    differ(
        "duration",
        format!("{} s", a.duration_s),
        format!("{} s", b.duration_s),
    );
    differ("fields", a.fields.to_string(), b.fields.to_string());
    differ("placement", a.align.to_string(), b.align.to_string());
    differ("counters", a.counters.to_string(), b.counters.to_string());
    if !old.complete || !new.complete {
        out.push("a run is incomplete: missing cells are listed as found in one run only".into());
    }
    out
}

const LEGEND: &str = "x = new/old median; REGRESSION / improved: beyond the noise and past the threshold; small: beyond the noise, within the threshold; noise: repetition ranges overlap; ?: too few repetitions to tell; n/a: not measured";

fn verdict_word(v: ChangeVerdict) -> &'static str {
    match v {
        ChangeVerdict::Regression => "REGRESSION",
        ChangeVerdict::Improvement => "improved",
        ChangeVerdict::BelowThreshold => "small",
        ChangeVerdict::WithinNoise => "noise",
        ChangeVerdict::CannotTell => "?",
        ChangeVerdict::NotMeasured => "n/a",
    }
}

fn change_cell(c: &Change) -> String {
    match c.ratio {
        Some(r) if c.verdict != ChangeVerdict::NotMeasured => {
            format!("{r:.2}x {}", verdict_word(c.verdict))
        }
        _ => "n/a".into(),
    }
}

fn spread_text(s: &Option<Spread>, f: Figure) -> String {
    match s {
        Some(s) => format!(
            "{:.*} ({:.*}..{:.*})",
            f.digits(),
            s.median,
            f.digits(),
            s.min,
            f.digits(),
            s.max
        ),
        None => "n/a".into(),
    }
}

/// One line describing a change in full: both spreads, the ratio, the test.
fn detail(key: &CellKey, c: &Change, with_topology: bool) -> String {
    let mut t = format!(
        "{}: {} {} -> {} {}",
        key.describe(with_topology),
        c.metric.label(),
        spread_text(&c.old, c.metric),
        spread_text(&c.new, c.metric),
        c.metric.unit()
    );
    if let (Some(r), Some(p)) = (c.ratio, c.change_pct) {
        let _ = write!(t, ", {r:.2}x ({p:+.1}%)");
    }
    if let Some(p) = c.separation.p_value() {
        let _ = write!(t, ", Mann-Whitney p = {p:.3}");
    }
    t
}

fn summary_line(c: &Comparison) -> String {
    let n = c.regressions().count();
    let m = c.improvements().count();
    format!(
        "{} regression{} and {} improvement{} beyond the noise and past {}% ({} cells compared)",
        n,
        if n == 1 { "" } else { "s" },
        m,
        if m == 1 { "" } else { "s" },
        c.threshold_pct,
        c.cells.len()
    )
}

fn rule_line() -> String {
    format!(
        "a change is beyond the noise when the repetitions' min..max ranges do not overlap and a two-sided Mann-Whitney U test gives p <= {ALPHA:.2}"
    )
}

/// Whether cells of several topologies are mixed (then rows say which).
fn many_topologies(c: &Comparison) -> bool {
    let all: BTreeSet<TopologyKind> = c
        .cells
        .iter()
        .map(|x| x.key.topology)
        .chain(c.only_in_old.iter().map(|k| k.topology))
        .chain(c.only_in_new.iter().map(|k| k.topology))
        .collect();
    all.len() > 1
}

fn table_rows(c: &Comparison) -> (Vec<String>, Vec<Vec<String>>) {
    let topo = many_topologies(c);
    let mut header: Vec<String> = Vec::new();
    if topo {
        header.push("topology".into());
    }
    header.extend(["strategy", "size", "thr", "mode"].map(String::from));
    header.extend(COMPARED.iter().map(|f| f.label().to_string()));
    let rows = c
        .cells
        .iter()
        .map(|cell| {
            let k = &cell.key;
            let mut row = Vec::new();
            if topo {
                row.push(k.topology.to_string());
            }
            let mark = if cell.unverified { " (unverified)" } else { "" };
            row.push(format!("{}{mark}", k.strategy));
            row.push(format_size(k.msg_size));
            row.push(k.threads.to_string());
            row.push(k.mode.to_string());
            row.extend(cell.changes.iter().map(change_cell));
            row
        })
        .collect();
    (header, rows)
}

/// A plain-text table for the terminal, then the details of every regression and improvement,
/// the cells found in one run only, and the caveats.
pub fn render_text(c: &Comparison) -> String {
    let topo = many_topologies(c);
    let mut out = format!(
        "old {} -> new {}; threshold {}%\n",
        c.old_started_at, c.new_started_at, c.threshold_pct
    );
    let (header, rows) = table_rows(c);
    let mut widths: Vec<usize> = header.iter().map(String::len).collect();
    for r in &rows {
        for (w, x) in widths.iter_mut().zip(r) {
            *w = (*w).max(x.len());
        }
    }
    let line = |cells: &[String], out: &mut String| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(x, w)| format!("{x:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    if !rows.is_empty() {
        line(&header, &mut out);
        for r in &rows {
            line(r, &mut out);
        }
        let _ = writeln!(out, "{LEGEND}");
    }
    for (title, list) in [
        ("regressions", c.regressions().collect::<Vec<_>>()),
        ("improvements", c.improvements().collect::<Vec<_>>()),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "{title}:");
            for (k, x) in list {
                let _ = writeln!(out, "  {}", detail(k, x, topo));
            }
        }
    }
    for (title, list) in [
        ("only in old", &c.only_in_old),
        ("only in new", &c.only_in_new),
    ] {
        if !list.is_empty() {
            let names: Vec<String> = list.iter().map(|k| k.describe(topo)).collect();
            let _ = writeln!(out, "{title}: {}", names.join(", "));
        }
    }
    for x in &c.caveats {
        let _ = writeln!(out, "note: {x}");
    }
    let _ = writeln!(out, "{}; {}.", summary_line(c), rule_line());
    out
}

/// The same in Markdown, for a CI comment: a summary line first, then the table, then details.
pub fn render_markdown(c: &Comparison) -> String {
    let topo = many_topologies(c);
    let mut out = String::new();
    let n = c.regressions().count();
    let _ = writeln!(
        out,
        "### copybench compare\n\n{}{}{}\n",
        if n > 0 { "**" } else { "" },
        summary_line(c),
        if n > 0 { "**" } else { "" }
    );
    let _ = writeln!(
        out,
        "Old run {}, new run {}. {}.\n",
        c.old_started_at,
        c.new_started_at,
        capitalize(&rule_line())
    );
    let (header, rows) = table_rows(c);
    if !rows.is_empty() {
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(
            out,
            "|{}",
            header.iter().map(|_| "---|").collect::<String>()
        );
        for r in rows {
            let cells: Vec<String> = r
                .into_iter()
                .map(|x| {
                    if x.ends_with("REGRESSION") {
                        format!("**{x}**")
                    } else {
                        x
                    }
                })
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        let _ = writeln!(out, "\n{LEGEND}.");
    }
    for (title, list) in [
        ("Regressions", c.regressions().collect::<Vec<_>>()),
        ("Improvements", c.improvements().collect::<Vec<_>>()),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "\n**{title}**\n");
            for (k, x) in list {
                let _ = writeln!(out, "- {}", detail(k, x, topo));
            }
        }
    }
    for (title, list) in [
        ("Only in old", &c.only_in_old),
        ("Only in new", &c.only_in_new),
    ] {
        if !list.is_empty() {
            let names: Vec<String> = list.iter().map(|k| k.describe(topo)).collect();
            let _ = writeln!(out, "\n{title}: {}", names.join(", "));
        }
    }
    if !c.caveats.is_empty() {
        out.push('\n');
        for x in &c.caveats {
            let _ = writeln!(out, "- note: {x}");
        }
    }
    out
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
