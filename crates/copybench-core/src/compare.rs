//! Comparing two runs cell by cell: what changed beyond the noise, and what got worse.
//!
//! [`compare`] matches cells of an old and a new run on everything that changes a figure
//! ([`CellKey`]: tool, topology, protocol, mode, verification, placement, data temperature,
//! read size, fields, threads, size, strategy: cells differing in any never match) and, for
//! median throughput, median sender CPU ns/byte and median p99 latency, gives the new/old ratio
//! with both runs' repetition spreads. Run-level differences that are not part of a cell (host,
//! kernel, CPU, MTU, duration, warm-up, align, pool, counters) are caveats naming the field.
//! The rules:
//! - a change is **beyond the noise** only when the two runs' repetitions are told apart by
//!   [`crate::stats::separate`]: disjoint min..max ranges and a two-sided Mann-Whitney U test
//!   with p <= 0.10 (so 3 repetitions or more on each side; with fewer nothing can be told);
//! - it is a **regression** when it is beyond the noise **and** a one-sided test says it is
//!   worse by more than the threshold (throughput down, CPU per byte up, p99 latency up by more
//!   than `threshold_pct` percent of the old median), after the Benjamini-Hochberg correction
//!   over every figure of every matched cell: the test is Welch's t on the logarithms of the
//!   repetitions ([`crate::stats::log_ratio_below`]), its null hypothesis "not worse than the
//!   threshold", and the adjusted p-value must be at most 0.10. An **improvement** is the same
//!   the other way (its own family). A change past the threshold by medians whose test does not
//!   confirm it is `unconfirmed`.
//!
//! Without the correction, two runs of the same code (3 repetitions, 10% noise, 24 cells)
//! raised a false regression at 10% in most pairs: with 72 figures, some median moves by more
//! than 10% with disjoint ranges by chance alone.
//!
//! Cells found in only one run are listed, not dropped. [`render_text`] and [`render_markdown`]
//! print the table (the Markdown one for a CI comment).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::engine::DEFAULT_READ_SIZE;
use crate::findings::{has_receiver, Figure};
use crate::model::{
    DataTemperature, Mode, Placement, Protocol, ReceiveKind, StrategyKind, TopologyKind, Verify,
};
use crate::result::{Point, RunResults, COPYBENCH_TOOL};
use crate::stats::{
    log_ratio_below, median, separate, significant_at, Better, Multiplicity, Separation, Spread,
    ALPHA,
};
use crate::units::format_size;

/// The figures compared, in table order.
pub const COMPARED: [Figure; 3] = [
    Figure::ThroughputGbps,
    Figure::SenderCpuNsPerByte,
    Figure::LatencyP99Us,
];

/// One cell of the matrix, across runs: everything that changes a figure. Two cells match
/// only when every field is equal. Cells are listed in the order of their names (topology,
/// then mode: `rr` before `stream`), then threads, size and strategy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CellKey {
    /// Who measured it: `copybench` or a peer (`iperf3`, ...).
    #[serde(default = "crate::result::copybench_tool")]
    pub tool: String,
    /// The run's topology.
    pub topology: TopologyKind,
    /// The transport.
    #[serde(default)]
    pub protocol: Protocol,
    /// What was measured.
    pub mode: Mode,
    /// What the receivers checked.
    #[serde(default)]
    pub verification: Verify,
    /// The CPU placement (the point's, else the run's; unpinned for old files without either).
    #[serde(default)]
    pub placement: Placement,
    /// Buffer temperature (`hot`, `cold`), where the points record it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataTemperature>,
    /// Bytes per read call of a TCP stream receiver (`null` where it does not apply).
    #[serde(default)]
    pub read_size: Option<usize>,
    /// Fields per message.
    #[serde(default)]
    pub fields: usize,
    /// Connections.
    pub threads: usize,
    /// Message size in bytes.
    pub msg_size: usize,
    /// The strategy.
    pub strategy: StrategyKind,
    /// The receive strategy (`read` in files written before it was a choice).
    #[serde(default)]
    pub receive: ReceiveKind,
}

impl Ord for CellKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let key = |k: &CellKey| {
            (
                k.topology.name(),
                k.mode.name(),
                (k.tool.clone(), k.protocol.name(), k.verification.name()),
                (
                    k.placement.name(),
                    k.data.map(|d| d.name()),
                    k.read_size,
                    k.fields,
                ),
                k.threads,
                k.msg_size,
                (k.strategy, k.receive),
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
    /// The key of `p` in `run`: the point's own fields, completed from the run's
    /// configuration where a file written before they were recorded lacks them.
    pub fn of(p: &Point, run: &RunResults) -> CellKey {
        let copybench = p.tool == COPYBENCH_TOOL;
        let stream_tcp = p.protocol == Protocol::Tcp && p.mode == Mode::Stream;
        CellKey {
            receive: p.receive,
            tool: p.tool.clone(),
            topology: run.config.topology.kind,
            protocol: p.protocol,
            mode: p.mode,
            verification: p.verification,
            placement: p.placement.or(run.config.placement).unwrap_or(
                if run.config.pin.is_some() {
                    Placement::Custom
                } else {
                    Placement::Unpinned
                },
            ),
            // Files written before `data` was recorded used the old pool, neither hot nor cold.
            data: p.data,
            // copybench's TCP stream receivers read 256 KiB at a time before it was recorded.
            read_size: match p.read_size {
                None if copybench && stream_tcp => Some(DEFAULT_READ_SIZE),
                r => r,
            },
            fields: if p.fields == 0 {
                run.config.fields
            } else {
                p.fields
            },
            threads: p.threads,
            msg_size: p.msg_size,
            strategy: p.strategy,
        }
    }

    /// `zerocopy 64k x2 stream`, plus every field in `extra` (those that differ between the
    /// cells of a comparison).
    pub fn describe(&self, extra: &Varying) -> String {
        let mut t = format!(
            "{} {} x{}",
            self.name(extra),
            format_size(self.msg_size),
            self.threads
        );
        if extra.protocol {
            let _ = write!(t, " {}", self.protocol.name());
        }
        let _ = write!(t, " {}{}", self.mode, self.qualifiers(extra));
        if extra.topology {
            let _ = write!(t, " on {}", self.topology);
        }
        t
    }

    /// The strategy, after the tool when it is not copybench's (or tools vary).
    fn name(&self, extra: &Varying) -> String {
        let strategy = match self.receive {
            ReceiveKind::Read => self.strategy.to_string(),
            receive => format!("{} <- {receive}", self.strategy),
        };
        if extra.tool || self.tool != COPYBENCH_TOOL {
            format!("{} {strategy}", self.tool)
        } else {
            strategy
        }
    }

    /// ` verify off placement none ...`: the fields of `extra` that a table has no column for.
    fn qualifiers(&self, extra: &Varying) -> String {
        let mut t = String::new();
        if extra.verification {
            let _ = write!(t, " verify {}", self.verification.name());
        }
        if extra.placement {
            let _ = write!(t, " placement {}", self.placement);
        }
        if extra.data {
            let _ = write!(t, " data {}", self.data.map_or("?", |d| d.name()));
        }
        if extra.read_size {
            match self.read_size {
                Some(r) => {
                    let _ = write!(t, " read {}", format_size(r));
                }
                None => t.push_str(" read n/a"),
            }
        }
        if extra.fields {
            let _ = write!(t, " fields {}", self.fields);
        }
        t
    }
}

/// Which key fields (beyond strategy, size, threads and mode) take more than one value among
/// a comparison's cells: those are named in every description.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Varying {
    /// Several tools.
    pub tool: bool,
    /// Several topologies.
    pub topology: bool,
    /// Several protocols.
    pub protocol: bool,
    /// Several verification modes.
    pub verification: bool,
    /// Several placements.
    pub placement: bool,
    /// Several data temperatures.
    pub data: bool,
    /// Several read sizes.
    pub read_size: bool,
    /// Several field counts.
    pub fields: bool,
}

impl Varying {
    /// Over every cell of `c`, matched or not.
    pub fn of(c: &Comparison) -> Varying {
        let keys: Vec<&CellKey> = c
            .cells
            .iter()
            .map(|x| &x.key)
            .chain(&c.only_in_old)
            .chain(&c.only_in_new)
            .collect();
        fn many<T: Ord>(keys: &[&CellKey], f: impl Fn(&CellKey) -> T) -> bool {
            keys.iter().map(|k| f(k)).collect::<BTreeSet<T>>().len() > 1
        }
        Varying {
            tool: many(&keys, |k| k.tool.clone()),
            topology: many(&keys, |k| k.topology),
            protocol: many(&keys, |k| k.protocol),
            verification: many(&keys, |k| k.verification),
            placement: many(&keys, |k| k.placement),
            data: many(&keys, |k| k.data),
            read_size: many(&keys, |k| k.read_size),
            fields: many(&keys, |k| k.fields),
        }
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
    /// How regressions and improvements are corrected for testing many figures at once
    /// (absent in comparisons written before the correction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplicity: Option<Multiplicity>,
}

/// The family of a comparison's tests, in words.
pub const COMPARE_FAMILY: &str =
    "every compared figure of every matched cell; regressions and improvements are two families";

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
    /// The one-sided test of a change past the threshold in the direction the median moved
    /// (`null` with fewer than 2 repetitions a side, or no change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_threshold: Option<ThresholdTest>,
    /// What it amounts to.
    pub verdict: ChangeVerdict,
}

/// "Worse (or better) by more than the threshold", tested.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdTest {
    /// Which way: `worse` (a regression's test) or `better`.
    pub direction: Direction,
    /// One-sided Welch t-test on the logarithms, null hypothesis "not past the threshold".
    pub p_value: f64,
    /// After the correction over the family ([`Comparison::multiplicity`]).
    pub adjusted_p_value: f64,
}

/// The direction of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Throughput down, CPU per byte or latency up.
    Worse,
    /// The other way.
    Better,
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
    /// Beyond the noise and past the threshold by medians, but the test of "past the
    /// threshold" does not confirm it (after the correction over every figure).
    Unconfirmed,
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
        out.entry(CellKey::of(p, run)).or_default().push(p);
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
        multiplicity: Some(Multiplicity::new(COMPARE_FAMILY)),
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
    correct(&mut out.cells, threshold_pct);
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
    let past_threshold = ratio.and_then(|r| {
        let gain = gain(f, r);
        let direction = if gain < 0.0 {
            Direction::Worse
        } else {
            Direction::Better
        };
        threshold_p(f, direction, &ov, &nv, threshold_pct / 100.0).map(|p_value| ThresholdTest {
            direction,
            p_value,
            // Set by `correct` once the whole family is known.
            adjusted_p_value: p_value,
        })
    });
    Change {
        metric: f,
        old: Spread::of(&ov),
        new: Spread::of(&nv),
        old_repetitions: ov.len(),
        new_repetitions: nv.len(),
        ratio,
        change_pct: ratio.map(|r| (r - 1.0) * 100.0),
        separation,
        past_threshold,
        // Set by `correct`.
        verdict: ChangeVerdict::NotMeasured,
    }
}

/// Relative change of a median for the better (positive) or worse (negative).
fn gain(f: Figure, ratio: f64) -> f64 {
    match f.better() {
        Better::Higher => ratio - 1.0,
        Better::Lower => 1.0 - ratio,
    }
}

/// p-value of "the new figure is past the threshold `limit` (a share of the old median) in
/// `direction`" ([`log_ratio_below`]; `None` when it cannot be tested, or a throughput drop or
/// lower-is-better fall of 100% or more is asked for, which cannot happen).
fn threshold_p(
    f: Figure,
    direction: Direction,
    old: &[f64],
    new: &[f64],
    limit: f64,
) -> Option<f64> {
    let down = 1.0 - limit;
    let up = 1.0 / (1.0 + limit);
    match (f.better(), direction) {
        // new < (1 - limit) old
        (Better::Higher, Direction::Worse) | (Better::Lower, Direction::Better) => {
            if down <= 0.0 {
                None
            } else {
                log_ratio_below(old, new, down)
            }
        }
        // new > (1 + limit) old, i.e. old / new < 1 / (1 + limit)
        (Better::Higher, Direction::Better) | (Better::Lower, Direction::Worse) => {
            log_ratio_below(new, old, up)
        }
    }
}

/// Adjusts each direction's threshold tests over the whole comparison and gives every change
/// its verdict.
fn correct(cells: &mut [CellComparison], threshold_pct: f64) {
    let limit = threshold_pct / 100.0;
    for direction in [Direction::Worse, Direction::Better] {
        let family: Vec<Option<f64>> = cells
            .iter()
            .flat_map(|c| &c.changes)
            .map(|x| {
                x.past_threshold
                    .filter(|t| t.direction == direction)
                    .map(|t| t.p_value)
            })
            .collect();
        let adjusted = crate::stats::CORRECTION.adjust(&family);
        for (x, q) in cells
            .iter_mut()
            .flat_map(|c| c.changes.iter_mut())
            .zip(adjusted)
        {
            if let (Some(t), Some(q)) = (x.past_threshold.as_mut(), q) {
                t.adjusted_p_value = q;
            }
        }
    }
    for x in cells.iter_mut().flat_map(|c| c.changes.iter_mut()) {
        x.verdict = match (x.ratio, x.separation) {
            (None, _) | (_, Separation::NoData) => ChangeVerdict::NotMeasured,
            (_, Separation::SingleRepetition | Separation::TooFewRepetitions { .. }) => {
                ChangeVerdict::CannotTell
            }
            (
                _,
                Separation::Overlap { .. }
                | Separation::NotSignificant { .. }
                | Separation::NotAfterCorrection { .. },
            ) => ChangeVerdict::WithinNoise,
            (Some(r), Separation::Apart { .. }) => {
                let g = gain(x.metric, r);
                let confirmed = x
                    .past_threshold
                    .is_some_and(|t| significant_at(t.adjusted_p_value, ALPHA));
                if g.abs() <= limit {
                    ChangeVerdict::BelowThreshold
                } else if !confirmed {
                    ChangeVerdict::Unconfirmed
                } else if g < 0.0 {
                    ChangeVerdict::Regression
                } else {
                    ChangeVerdict::Improvement
                }
            }
        };
    }
}

fn run_caveats(old: &RunResults, new: &RunResults) -> Vec<String> {
    let mut out = Vec::new();
    let (a, b) = (&old.config, &new.config);
    // Fields that are part of every cell's key: a run-wide difference matches nothing.
    let mut unmatched = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!(
                "{what} differs: {x} (old) vs {y} (new): no cell matches across {what}s"
            ));
        }
    };
    unmatched(
        "topology",
        a.topology.kind.to_string(),
        b.topology.kind.to_string(),
    );
    unmatched(
        "protocol",
        a.protocol.name().into(),
        b.protocol.name().into(),
    );
    unmatched(
        "verification",
        a.verification.name().into(),
        b.verification.name().into(),
    );
    let placement = |r: &RunResults| {
        r.config
            .placement
            .map_or("not recorded".to_string(), |p| p.to_string())
    };
    unmatched("placement", placement(old), placement(new));
    unmatched("fields", a.fields.to_string(), b.fields.to_string());
    // Run-level facts outside the key: the figures may differ because of them.
    let mut differ = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{what} differs: {x} (old) vs {y} (new)"));
        }
    };
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "?".into());
    differ("host", opt(&old.host.hostname), opt(&new.host.hostname));
    differ("kernel", opt(&old.host.kernel), opt(&new.host.kernel));
    differ("CPU", opt(&old.host.cpu_model), opt(&new.host.cpu_model));
    let mtu = |m: Option<u32>| m.map_or("none".to_string(), |m| m.to_string());
    differ("MTU", mtu(a.topology.mtu), mtu(b.topology.mtu));
    differ(
        "duration",
        format!("{} s", a.duration_s),
        format!("{} s", b.duration_s),
    );
    differ(
        "warm-up",
        format!("{} s", a.warmup_s),
        format!("{} s", b.warmup_s),
    );
    differ("align", a.align.to_string(), b.align.to_string());
    let pool = |p: Option<usize>| p.map_or("automatic".to_string(), |p| p.to_string());
    differ("pool", pool(a.pool), pool(b.pool));
    differ("counters", a.counters.to_string(), b.counters.to_string());
    if !old.complete || !new.complete {
        out.push("a run is incomplete: missing cells are listed as found in one run only".into());
    }
    out
}

const LEGEND: &str = "x = new/old median; REGRESSION / improved: beyond the noise and past the threshold, confirmed by a test corrected for the number of figures; unconfirmed: past the threshold by medians, not by the corrected test; small: beyond the noise, within the threshold; noise: repetition ranges overlap; ?: too few repetitions to tell; n/a: not measured";

fn verdict_word(v: ChangeVerdict) -> &'static str {
    match v {
        ChangeVerdict::Regression => "REGRESSION",
        ChangeVerdict::Improvement => "improved",
        ChangeVerdict::BelowThreshold => "small",
        ChangeVerdict::Unconfirmed => "unconfirmed",
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
fn detail(key: &CellKey, c: &Change, extra: &Varying) -> String {
    let mut t = format!(
        "{}: {} {} -> {} {}",
        key.describe(extra),
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
    if let Some(x) = &c.past_threshold {
        let _ = write!(
            t,
            ", past the threshold: p = {:.4}, adjusted {:.4}",
            x.p_value, x.adjusted_p_value
        );
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

fn rule_line(c: &Comparison) -> String {
    let mut t = format!(
        "a change is beyond the noise when the repetitions' min..max ranges do not overlap and a two-sided Mann-Whitney U test gives p <= {ALPHA:.2}"
    );
    if let Some(m) = &c.multiplicity {
        let tests = c
            .cells
            .iter()
            .flat_map(|x| &x.changes)
            .filter(|x| x.past_threshold.is_some())
            .count();
        let _ = write!(
            t,
            "; past the threshold when a one-sided Welch t-test on the logarithms says so at {:.2} after the {} correction over {tests} figure(s)",
            m.level,
            m.method.name()
        );
    }
    t
}

fn table_rows(c: &Comparison) -> (Vec<String>, Vec<Vec<String>>) {
    let extra = Varying::of(c);
    let topo = extra.topology;
    let mut header: Vec<String> = Vec::new();
    if topo {
        header.push("topology".into());
    }
    header.push("strategy".into());
    header.extend(["size", "thr"].map(String::from));
    if extra.protocol {
        header.push("protocol".into());
    }
    header.push("mode".into());
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
            // Key fields that vary and have no column go with the strategy, so that no two
            // rows read alike.
            row.push(format!("{}{}{mark}", k.name(&extra), k.qualifiers(&extra)));
            row.push(format_size(k.msg_size));
            row.push(k.threads.to_string());
            if extra.protocol {
                row.push(k.protocol.name().into());
            }
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
    let extra = Varying::of(c);
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
                let _ = writeln!(out, "  {}", detail(k, x, &extra));
            }
        }
    }
    for (title, list) in [
        ("only in old", &c.only_in_old),
        ("only in new", &c.only_in_new),
    ] {
        if !list.is_empty() {
            let names: Vec<String> = list.iter().map(|k| k.describe(&extra)).collect();
            let _ = writeln!(out, "{title}: {}", names.join(", "));
        }
    }
    for x in &c.caveats {
        let _ = writeln!(out, "note: {x}");
    }
    let _ = writeln!(out, "{}; {}.", summary_line(c), rule_line(c));
    out
}

/// The same in Markdown, for a CI comment: a summary line first, then the table, then details.
pub fn render_markdown(c: &Comparison) -> String {
    let extra = Varying::of(c);
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
        capitalize(&rule_line(c))
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
                let _ = writeln!(out, "- {}", detail(k, x, &extra));
            }
        }
    }
    for (title, list) in [
        ("Only in old", &c.only_in_old),
        ("Only in new", &c.only_in_new),
    ] {
        if !list.is_empty() {
            let names: Vec<String> = list.iter().map(|k| k.describe(&extra)).collect();
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
