//! Findings: the answer a run gives, computed from its points with its uncertainty.
//!
//! For every (topology, protocol, mode, thread count) group, [`findings`] says:
//! - **the winner at each size** by the mode's figure (stream: median throughput, higher is
//!   better; rr: median p50 round trip, lower is better), or "no clear winner". The best and the
//!   runner-up by median are compared over their repetitions with [`crate::stats::separate`]:
//!   a winner is declared only when their min..max ranges do not overlap **and** a two-sided
//!   Mann-Whitney U test gives p <= 0.10. With one repetition there is no test and no winner;
//!   with 2 vs 2 the test cannot reach 0.10; with 3 vs 3 (the default) it takes every
//!   repetition of the best beating every repetition of the runner-up. Only cells whose points
//!   were all verified (or had no receiver to verify them) compete.
//! - **each strategy relative to two-copy** at each size: median figure / two-copy's median
//!   figure, and median sender CPU ns/byte / two-copy's; `null` when either side is missing.
//! - **the break-even size** of every zero-copy strategy (any strategy whose points carry
//!   `zerocopy` statistics; every other one counts as copying) against the best copying
//!   strategy at each size, for the mode's figure and for sender CPU per byte: the size where
//!   the relative advantage of the zero-copy strategy's median over the best copying median
//!   changes sign, interpolated linearly in log2(size) between the two measured sizes around
//!   the change. "Beats" means strictly better; a tie counts as not beating. With several
//!   changes the last one is reported ("wins from here on" or "loses from here on") and the
//!   result is flagged non-monotonic. Losing at every size is "above the largest size" when the
//!   advantage rose at each of the last two steps by 5 points or more in all, else "never in
//!   this range"; winning at every size is "at or below the smallest size".
//! - **caveats** in words: zero-copy sends the kernel copied, CPU figures that are missing,
//!   noisy cells, unverified points, points without a receiver, single repetitions.
//!
//! [`render_text`] turns them into a few lines per group for the terminal.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::bracket::{bracket, Bracket, SizeSamples};
use crate::result::{Point, RunResults};
use crate::stats::{
    advantage, median, separate, significant_at, Better, Multiplicity, Separation, ALPHA,
    CORRECTION,
};
use crate::strategy::StrategyKind;
use crate::sweep::{Spread, NOISY_CV};

/// The strategy every ratio is relative to.
pub const BASELINE: StrategyKind = StrategyKind::TwoCopy;

/// The protocol of every run today.
pub const DEFAULT_PROTOCOL: &str = "tcp";

/// A point's mode as text (`stream` or `rr`). The one place that reads `Point::mode`, so that a
/// change of its type touches nothing else.
pub(crate) fn mode_of(p: &Point) -> String {
    p.mode.to_string()
}

/// True for the request/response mode, whose figure is latency.
pub(crate) fn is_rr(mode: &str) -> bool {
    mode == "rr"
}

/// True when a receiver took part in the point (a sink topology has none: nothing verified,
/// no receiver figures).
pub(crate) fn has_receiver(p: &Point) -> bool {
    if p.not_verifiable.is_some() {
        return false;
    }
    p.receiver.counters.is_some()
        || p.receiver.cpu_ns_per_byte.is_some()
        || p.per_thread.iter().any(|t| t.received_bytes > 0)
}

/// A point whose figures may compete: verified, or with no receiver that could verify it.
fn trusted(p: &Point) -> bool {
    p.verified || !has_receiver(p)
}

/// A figure read from each point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// Payload throughput, Gbps (higher is better).
    ThroughputGbps,
    /// Median latency (rr: round trip; stream: send call), microseconds (lower is better).
    LatencyP50Us,
    /// 99th percentile latency, microseconds (lower is better).
    LatencyP99Us,
    /// Sender thread CPU time per payload byte, ns (lower is better).
    SenderCpuNsPerByte,
}

impl Figure {
    /// The figure that ranks strategies in `mode`: p50 latency in rr, throughput otherwise.
    pub fn ranking(mode: &str) -> Figure {
        if is_rr(mode) {
            Figure::LatencyP50Us
        } else {
            Figure::ThroughputGbps
        }
    }

    /// Which direction is better.
    pub fn better(self) -> Better {
        match self {
            Figure::ThroughputGbps => Better::Higher,
            _ => Better::Lower,
        }
    }

    /// The figure of one point, `None` where it was not measured (or is not finite).
    pub fn value(self, p: &Point) -> Option<f64> {
        let v = match self {
            Figure::ThroughputGbps => (p.duration_s > 0.0).then_some(p.throughput_gbps),
            Figure::LatencyP50Us => p.latency_us.as_ref().map(|l| l.p50),
            Figure::LatencyP99Us => p.latency_us.as_ref().map(|l| l.p99),
            Figure::SenderCpuNsPerByte => p.sender.cpu_ns_per_byte,
        }?;
        v.is_finite().then_some(v)
    }

    /// Short name for text (`throughput`, `p50`, `p99`, `CPU/byte`).
    pub fn label(self) -> &'static str {
        match self {
            Figure::ThroughputGbps => "throughput",
            Figure::LatencyP50Us => "p50 latency",
            Figure::LatencyP99Us => "p99 latency",
            Figure::SenderCpuNsPerByte => "CPU/byte",
        }
    }

    /// Unit for text.
    pub fn unit(self) -> &'static str {
        match self {
            Figure::ThroughputGbps => "Gbps",
            Figure::LatencyP50Us | Figure::LatencyP99Us => "us",
            Figure::SenderCpuNsPerByte => "ns/B",
        }
    }

    /// Digits after the point for text.
    pub(crate) fn digits(self) -> usize {
        match self {
            Figure::ThroughputGbps => 2,
            Figure::LatencyP50Us | Figure::LatencyP99Us => 1,
            Figure::SenderCpuNsPerByte => 3,
        }
    }
}

/// Everything computed from one run (the `findings` key of the results JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Findings {
    /// The rules behind every verdict, so that the JSON explains itself.
    pub rules: Rules,
    /// One group per (topology, protocol, mode, threads), by mode then threads.
    pub groups: Vec<Group>,
    /// Run-wide caveats (strategies not run, failed points, an interrupted run).
    pub caveats: Vec<Caveat>,
}

/// The decision rules, with their parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// Significance level of the Mann-Whitney test.
    pub alpha: f64,
    /// Coefficient of variation above which a cell is called noisy.
    pub noisy_cv: f64,
    /// The strategy ratios are relative to.
    pub baseline: StrategyKind,
    /// The winner rule in words.
    pub winner: String,
    /// The break-even rule in words.
    pub break_even: String,
    /// How the winners of a group's sizes are corrected for testing many sizes (absent in
    /// files written before the correction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplicity: Option<Multiplicity>,
}

/// The family of the winner tests, in words.
pub const WINNER_FAMILY: &str =
    "the sizes of one group (topology, protocol, mode, threads): one winner test per size";

/// The winner rule, in words.
pub const WINNER_RULE: &str = "best and runner-up by median; a winner only when their repetitions' min..max ranges do not overlap and a two-sided Mann-Whitney U test over the repetitions gives p <= 0.10 (impossible with 1 or 2 repetitions; with 3 every repetition of the best must beat every one of the runner-up), and that p-value, adjusted by Benjamini-Hochberg over the group's sizes, is still <= 0.10; only verified cells (or cells without a receiver) compete";

/// The break-even rule, in words.
pub const BREAK_EVEN_RULE: &str = "relative advantage of the zero-copy strategy's median over the best copying strategy's median at each size; the break-even is bracketed by the two measured sizes where it changes sign (strictly better counts as beating), each end said told apart or not by the winner rule, with a 90% percentile-bootstrap interval over the repetitions and, beside them, a point estimate interpolated linearly in log2(size); with several changes the last one is reported and the result flagged non-monotonic; losing everywhere is reported as above the largest size when the advantage rose at each of the last two steps by 5 points or more in all, else as never in the range";

impl Default for Rules {
    fn default() -> Self {
        Rules {
            alpha: ALPHA,
            noisy_cv: NOISY_CV,
            baseline: BASELINE,
            winner: WINNER_RULE.into(),
            break_even: BREAK_EVEN_RULE.into(),
            multiplicity: Some(Multiplicity::new(WINNER_FAMILY)),
        }
    }
}

/// The findings of one (topology, protocol, mode, threads) group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// `loopback`, `netns`, `remote`.
    pub topology: String,
    /// `tcp` today.
    pub protocol: String,
    /// `stream` or `rr`.
    pub mode: String,
    /// Connections.
    pub threads: usize,
    /// The figure that ranks strategies here.
    pub metric: Figure,
    /// Per message size, ascending.
    pub sizes: Vec<SizeFinding>,
    /// Per zero-copy strategy and figure (the ranking figure, then sender CPU per byte).
    pub break_even: Vec<BreakEven>,
    /// What to keep in mind reading this group.
    pub caveats: Vec<Caveat>,
}

/// The findings at one message size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeFinding {
    /// Message size in bytes.
    pub msg_size: usize,
    /// Who wins, if anyone clearly does.
    pub verdict: Verdict,
    /// Every strategy measured at this size, in strategy order.
    pub strategies: Vec<StrategyFigures>,
}

/// One strategy's figures at one size, over its repetitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyFigures {
    /// The strategy.
    pub strategy: StrategyKind,
    /// Whether its points carry zero-copy statistics.
    pub zero_copy: bool,
    /// Points (repetitions) behind the figures.
    pub repetitions: usize,
    /// Every point verified, or had no receiver to verify it: the cell competes.
    pub trusted: bool,
    /// The group's ranking figure over the repetitions.
    pub metric: Option<Spread>,
    /// Sender CPU ns per byte over the repetitions.
    pub sender_cpu_ns_per_byte: Option<Spread>,
    /// Median ranking figure / two-copy's median (`null` when either is missing).
    pub metric_vs_twocopy: Option<f64>,
    /// Median sender CPU ns/byte / two-copy's median (`null` when either is missing).
    pub cpu_vs_twocopy: Option<f64>,
    /// Share of zero-copy sends the kernel copied after all (zero-copy strategies only).
    pub copied_ratio: Option<f64>,
}

/// Who wins at one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The best strategy is told apart from the runner-up.
    Winner {
        /// The winner.
        strategy: StrategyKind,
        /// Second best by median.
        runner_up: StrategyKind,
        /// Relative advantage of the winner's median over the runner-up's (0.05 = 5% better).
        margin: Option<f64>,
        /// Mann-Whitney p-value of winner against runner-up.
        p_value: Option<f64>,
        /// The p-value adjusted over the group's sizes ([`Rules::multiplicity`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        adjusted_p_value: Option<f64>,
    },
    /// The best and the runner-up cannot be told apart.
    NoClearWinner {
        /// Best by median (not a winner).
        leader: StrategyKind,
        /// Second best by median.
        runner_up: StrategyKind,
        /// Relative advantage of the leader's median over the runner-up's.
        margin: Option<f64>,
        /// Why not.
        why: Separation,
    },
    /// Only one strategy has a trusted figure at this size: no contest.
    Uncontested {
        /// The only one.
        strategy: StrategyKind,
    },
    /// No strategy has a trusted figure at this size.
    NoData,
}

/// Where a zero-copy strategy starts to beat the best copying one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakEven {
    /// The zero-copy strategy.
    pub strategy: StrategyKind,
    /// The figure compared.
    pub metric: Figure,
    /// The best copying strategy at each size where one was measured, distinct, by size.
    pub against: Vec<StrategyKind>,
    /// The answer.
    pub result: Crossing,
    /// The advantage changes sign more than once.
    pub non_monotonic: bool,
    /// Every sign change, by size.
    pub crossings: Vec<CrossingPoint>,
    /// The advantage at every size of the group.
    pub relative: Vec<RelativePoint>,
    /// The sizes around the last sign change, whether each end is told apart, the point
    /// estimate and a bootstrap interval (`null` without a sign change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bracket: Option<Bracket>,
}

/// The break-even answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Crossing {
    /// Loses below, wins from about `size_bytes` up to the largest size measured (with several
    /// crossings: the last one).
    WinsFrom {
        /// Interpolated break-even size in bytes.
        size_bytes: f64,
        /// The measured sizes around it.
        between: [usize; 2],
    },
    /// Wins at every size measured.
    AtOrBelowSmallest {
        /// The smallest size measured.
        smallest: usize,
    },
    /// Loses at every size measured, and the gap narrows towards the largest (the advantage
    /// rose at each of the last two steps, by at least 5 percentage points in all): a
    /// break-even, if any, lies above it.
    AboveLargest {
        /// The largest size measured.
        largest: usize,
    },
    /// Loses at every size measured and the gap does not clearly narrow towards the largest.
    Never {
        /// The smallest size measured.
        smallest: usize,
        /// The largest size measured.
        largest: usize,
    },
    /// Wins below about `size_bytes` and loses from there up to the largest size measured.
    LosesFrom {
        /// Interpolated size in bytes.
        size_bytes: f64,
        /// The measured sizes around it.
        between: [usize; 2],
    },
    /// No size has both figures.
    NotMeasured {
        /// Why, in words.
        reason: String,
    },
}

/// One sign change of the advantage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossingPoint {
    /// Interpolated size in bytes.
    pub size_bytes: f64,
    /// The measured sizes around it.
    pub between: [usize; 2],
    /// True when the zero-copy strategy starts winning here, false when it stops.
    pub starts_winning: bool,
}

/// The advantage of a zero-copy strategy at one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelativePoint {
    /// Message size in bytes.
    pub msg_size: usize,
    /// The best copying strategy there.
    pub against: Option<StrategyKind>,
    /// Relative advantage of the zero-copy median over it (positive: zero-copy better).
    pub advantage: Option<f64>,
}

/// Something to keep in mind, with its kind for programs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Caveat {
    /// What kind of caveat.
    pub kind: CaveatKind,
    /// In words.
    pub text: String,
}

/// Kinds of caveats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaveatKind {
    /// A zero-copy strategy's sends were copied by the kernel (copied ratio above 0).
    NotNicZeroCopy,
    /// Sender CPU per byte is missing (counters unsupported or off).
    CountersUnsupported,
    /// Repetitions vary by more than [`NOISY_CV`].
    Noisy,
    /// Points whose bytes were not verified: they take part in no verdict.
    Unverified,
    /// Points without a receiver (a sink): nothing verified their bytes.
    NoReceiver,
    /// Cells with a single repetition: no spread, no test.
    SingleRepetition,
    /// Two-copy was not measured: no ratios.
    NoBaseline,
    /// A strategy could not run on this machine.
    Unsupported,
    /// Points that failed to measure.
    Failures,
    /// The run stopped early.
    Incomplete,
}

fn caveat(kind: CaveatKind, text: String) -> Caveat {
    Caveat { kind, text }
}

/// One strategy at one size within a group.
struct Cell<'a> {
    strategy: StrategyKind,
    size: usize,
    points: Vec<&'a Point>,
}

impl Cell<'_> {
    fn values(&self, f: Figure) -> Vec<f64> {
        self.points.iter().filter_map(|p| f.value(p)).collect()
    }

    fn spread(&self, f: Figure) -> Option<Spread> {
        Spread::of(&self.values(f))
    }

    fn median(&self, f: Figure) -> Option<f64> {
        median(&self.values(f))
    }

    fn trusted(&self) -> bool {
        !self.points.is_empty() && self.points.iter().all(|p| trusted(p))
    }

    fn copied_ratio(&self) -> Option<f64> {
        let (copied, completions) = self
            .points
            .iter()
            .filter_map(|p| p.zerocopy.as_ref())
            .fold((0u64, 0u64), |(c, n), z| {
                (c.saturating_add(z.copied), n.saturating_add(z.completions))
            });
        (completions > 0).then(|| copied as f64 / completions as f64)
    }
}

/// The findings of a set of points measured on `topology` over `protocol`.
///
/// Points of every mode and thread count may be mixed; each (mode, threads) is a group.
/// Never panics: empty input gives no groups, non-finite figures count as not measured.
pub fn findings(points: &[Point], topology: &str, protocol: &str) -> Findings {
    let zero_copy: BTreeSet<StrategyKind> = points
        .iter()
        .filter(|p| p.zerocopy.is_some())
        .map(|p| p.strategy)
        .collect();
    let keys: BTreeSet<(String, usize)> = points.iter().map(|p| (mode_of(p), p.threads)).collect();
    let groups = keys
        .into_iter()
        .map(|(mode, threads)| {
            let mine: Vec<&Point> = points
                .iter()
                .filter(|p| p.threads == threads && mode_of(p) == mode)
                .collect();
            group(&mine, topology, protocol, &mode, threads, &zero_copy)
        })
        .collect();
    Findings {
        rules: Rules::default(),
        groups,
        caveats: Vec::new(),
    }
}

/// The findings of a whole run: [`findings`] over its points on its topology, plus run-wide
/// caveats (strategies this machine refused, failed points, an interrupted run).
pub fn findings_for_run(results: &RunResults, protocol: &str) -> Findings {
    let mut f = findings(
        &results.points,
        results.config.topology.kind.name(),
        protocol,
    );
    for u in &results.unsupported {
        f.caveats.push(caveat(
            CaveatKind::Unsupported,
            format!("{} did not run here: {}", u.strategy, u.reason),
        ));
    }
    if !results.failures.is_empty() {
        let cells: Vec<String> = results
            .failures
            .iter()
            .map(|x| {
                format!(
                    "{} {} x{} rep {}",
                    x.strategy,
                    size_text(x.msg_size as f64),
                    x.threads,
                    x.repetition
                )
            })
            .collect();
        const LISTED: usize = 10;
        let more = cells.len().saturating_sub(LISTED);
        f.caveats.push(caveat(
            CaveatKind::Failures,
            format!(
                "{} point(s) failed and are missing from these findings: {}{}",
                cells.len(),
                cells[..cells.len().min(LISTED)].join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
        ));
    }
    if !results.complete {
        f.caveats.push(caveat(
            CaveatKind::Incomplete,
            match &results.interrupted {
                Some(why) => {
                    format!("the run stopped early ({why}): findings cover the points measured")
                }
                None => "the run is not complete: findings cover the points measured so far".into(),
            },
        ));
    }
    f
}

fn group(
    points: &[&Point],
    topology: &str,
    protocol: &str,
    mode: &str,
    threads: usize,
    zero_copy: &BTreeSet<StrategyKind>,
) -> Group {
    let metric = Figure::ranking(mode);
    let sizes: BTreeSet<usize> = points.iter().map(|p| p.msg_size).collect();
    let strategies: BTreeSet<StrategyKind> = points.iter().map(|p| p.strategy).collect();
    // cells[i]: the cells of sizes[i], in strategy order.
    let cells: Vec<Vec<Cell>> = sizes
        .iter()
        .map(|&size| {
            strategies
                .iter()
                .map(|&strategy| Cell {
                    strategy,
                    size,
                    points: points
                        .iter()
                        .copied()
                        .filter(|p| p.strategy == strategy && p.msg_size == size)
                        .collect(),
                })
                .filter(|c| !c.points.is_empty())
                .collect()
        })
        .collect();

    let mut size_findings: Vec<SizeFinding> = cells
        .iter()
        .zip(&sizes)
        .map(|(at, &msg_size)| size_finding(at, msg_size, metric, zero_copy))
        .collect();
    correct_winners(&mut size_findings);

    let mut break_even = Vec::new();
    for &z in zero_copy.iter().filter(|z| strategies.contains(z)) {
        for figure in [metric, Figure::SenderCpuNsPerByte] {
            break_even.push(break_even_of(&cells, &sizes, z, figure, zero_copy));
        }
    }

    Group {
        topology: topology.into(),
        protocol: protocol.into(),
        mode: mode.into(),
        threads,
        metric,
        sizes: size_findings,
        break_even,
        caveats: group_caveats(&cells, &sizes, &strategies, metric, topology, zero_copy),
    }
}

fn size_finding(
    cells: &[Cell],
    msg_size: usize,
    metric: Figure,
    zero_copy: &BTreeSet<StrategyKind>,
) -> SizeFinding {
    let base = cells.iter().find(|c| c.strategy == BASELINE);
    let base_metric = base.and_then(|c| c.median(metric));
    let base_cpu = base.and_then(|c| c.median(Figure::SenderCpuNsPerByte));
    let ratio = |mine: Option<f64>, base: Option<f64>| match (mine, base) {
        (Some(m), Some(b)) if b > 0.0 && (m / b).is_finite() => Some(m / b),
        _ => None,
    };
    let strategies = cells
        .iter()
        .map(|c| StrategyFigures {
            strategy: c.strategy,
            zero_copy: zero_copy.contains(&c.strategy),
            repetitions: c.points.len(),
            trusted: c.trusted(),
            metric: c.spread(metric),
            sender_cpu_ns_per_byte: c.spread(Figure::SenderCpuNsPerByte),
            metric_vs_twocopy: ratio(c.median(metric), base_metric),
            cpu_vs_twocopy: ratio(c.median(Figure::SenderCpuNsPerByte), base_cpu),
            copied_ratio: c.copied_ratio(),
        })
        .collect();
    SizeFinding {
        msg_size,
        verdict: verdict(cells, metric),
        strategies,
    }
}

fn verdict(cells: &[Cell], metric: Figure) -> Verdict {
    let better = metric.better();
    let mut ranked: Vec<(&Cell, f64)> = cells
        .iter()
        .filter(|c| c.trusted())
        .filter_map(|c| c.median(metric).map(|m| (c, m)))
        .collect();
    // Best first; equal medians keep strategy order (the sort is stable).
    ranked.sort_by(|a, b| match better {
        Better::Higher => b.1.total_cmp(&a.1),
        Better::Lower => a.1.total_cmp(&b.1),
    });
    match ranked.as_slice() {
        [] => Verdict::NoData,
        [(only, _)] => Verdict::Uncontested {
            strategy: only.strategy,
        },
        [(best, bm), (second, sm), ..] => {
            let why = separate(&best.values(metric), &second.values(metric));
            let margin = advantage(*bm, *sm, better);
            if why.is_apart() {
                Verdict::Winner {
                    strategy: best.strategy,
                    runner_up: second.strategy,
                    margin,
                    p_value: why.p_value(),
                    // Set by `correct_winners`.
                    adjusted_p_value: None,
                }
            } else {
                Verdict::NoClearWinner {
                    leader: best.strategy,
                    runner_up: second.strategy,
                    margin,
                    why,
                }
            }
        }
    }
}

/// Benjamini-Hochberg over the sizes of a group: every size whose leader and runner-up were
/// tested is one test of the family; a winner stays one only when its adjusted p-value is at
/// most [`ALPHA`].
fn correct_winners(sizes: &mut [SizeFinding]) {
    let family: Vec<Option<f64>> = sizes
        .iter()
        .map(|s| match &s.verdict {
            Verdict::Winner { p_value, .. } => *p_value,
            Verdict::NoClearWinner { why, .. } => why.p_value(),
            _ => None,
        })
        .collect();
    let family_size = family.iter().flatten().count();
    let adjusted = CORRECTION.adjust(&family);
    for (s, q) in sizes.iter_mut().zip(adjusted) {
        let Verdict::Winner {
            strategy,
            runner_up,
            margin,
            p_value,
            adjusted_p_value,
        } = &mut s.verdict
        else {
            continue;
        };
        *adjusted_p_value = q;
        if let (Some(p), Some(q)) = (*p_value, q) {
            if !significant_at(q, ALPHA) {
                s.verdict = Verdict::NoClearWinner {
                    leader: *strategy,
                    runner_up: *runner_up,
                    margin: *margin,
                    why: Separation::NotAfterCorrection {
                        p_value: p,
                        adjusted_p_value: q,
                        family_size,
                    },
                };
            }
        }
    }
}

fn break_even_of(
    cells: &[Vec<Cell>],
    sizes: &BTreeSet<usize>,
    z: StrategyKind,
    figure: Figure,
    zero_copy: &BTreeSet<StrategyKind>,
) -> BreakEven {
    let better = figure.better();
    let relative: Vec<RelativePoint> = cells
        .iter()
        .zip(sizes)
        .map(|(at, &msg_size)| {
            let best_copy = at
                .iter()
                .filter(|c| !zero_copy.contains(&c.strategy) && c.trusted())
                .filter_map(|c| c.median(figure).map(|m| (c.strategy, m)))
                .reduce(|a, b| if better.beats(b.1, a.1) { b } else { a });
            let mine = at
                .iter()
                .find(|c| c.strategy == z && c.trusted())
                .and_then(|c| c.median(figure));
            RelativePoint {
                msg_size,
                against: best_copy.map(|b| b.0),
                advantage: match (mine, best_copy) {
                    (Some(m), Some((_, b))) => advantage(m, b, better),
                    _ => None,
                },
            }
        })
        .collect();
    let mut against: Vec<StrategyKind> = Vec::new();
    for s in relative.iter().filter_map(|r| r.against) {
        if !against.contains(&s) {
            against.push(s);
        }
    }
    let measured: Vec<(usize, f64)> = relative
        .iter()
        .filter_map(|r| r.advantage.map(|a| (r.msg_size, a)))
        .collect();
    let crossings = sign_changes(&measured);
    let result = crossing(&measured, &crossings, || {
        let has = |copying: bool| {
            cells.iter().flatten().any(|c| {
                let mine = if copying {
                    !zero_copy.contains(&c.strategy)
                } else {
                    c.strategy == z
                };
                mine && c.median(figure).is_some()
            })
        };
        let label = figure.label();
        if !has(true) {
            format!("{label} not measured for any copying strategy")
        } else if !has(false) {
            format!("{label} not measured for {z}")
        } else {
            format!("no size has verified {label} figures for both {z} and a copying strategy")
        }
    });
    let samples: Vec<SizeSamples<StrategyKind>> = cells
        .iter()
        .zip(sizes)
        .map(|(at, &msg_size)| SizeSamples {
            msg_size,
            candidate: at
                .iter()
                .find(|c| c.strategy == z && c.trusted())
                .map_or_else(Vec::new, |c| c.values(figure)),
            others: at
                .iter()
                .filter(|c| !zero_copy.contains(&c.strategy) && c.trusted())
                .map(|c| (c.strategy, c.values(figure)))
                .collect(),
        })
        .collect();
    BreakEven {
        strategy: z,
        metric: figure,
        against,
        result,
        non_monotonic: crossings.len() > 1,
        crossings,
        relative,
        bracket: bracket(&samples, better),
    }
}

/// Every change between "wins" (advantage > 0) and "does not" over consecutive measured sizes,
/// interpolated linearly in log2(size).
pub(crate) fn sign_changes(measured: &[(usize, f64)]) -> Vec<CrossingPoint> {
    measured
        .windows(2)
        .filter_map(|w| {
            let ((s1, d1), (s2, d2)) = (w[0], w[1]);
            let (win1, win2) = (d1 > 0.0, d2 > 0.0);
            (win1 != win2).then(|| CrossingPoint {
                size_bytes: interpolate_log2(s1, d1, s2, d2),
                between: [s1, s2],
                starts_winning: win2,
            })
        })
        .collect()
}

/// The size between `s1` and `s2` where the straight line through (log2 s1, d1) and
/// (log2 s2, d2) crosses 0 (clamped to the two sizes; their geometric mean if d1 == d2).
pub(crate) fn interpolate_log2(s1: usize, d1: f64, s2: usize, d2: f64) -> f64 {
    let (l1, l2) = ((s1.max(1) as f64).log2(), (s2.max(1) as f64).log2());
    let t = if d1 != d2 { d1 / (d1 - d2) } else { 0.5 };
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.5
    };
    (l1 + t * (l2 - l1)).exp2()
}

/// How much the advantage must rise over the three largest sizes for a loss everywhere to be
/// reported as [`Crossing::AboveLargest`] rather than [`Crossing::Never`].
const NARROWING: f64 = 0.05;

fn crossing(
    measured: &[(usize, f64)],
    crossings: &[CrossingPoint],
    not_measured: impl FnOnce() -> String,
) -> Crossing {
    let (Some(&(smallest, _)), Some(&(largest, last))) = (measured.first(), measured.last()) else {
        return Crossing::NotMeasured {
            reason: not_measured(),
        };
    };
    match crossings.last() {
        None if last > 0.0 => Crossing::AtOrBelowSmallest { smallest },
        None => {
            // A trend, not noise: the advantage rose at each of the last two steps, by at
            // least NARROWING in all.
            let narrowing = match measured {
                [.., (_, a), (_, b), (_, c)] => a < b && b < c && c - a >= NARROWING,
                _ => false,
            };
            if narrowing {
                Crossing::AboveLargest { largest }
            } else {
                Crossing::Never { smallest, largest }
            }
        }
        Some(c) if c.starts_winning => Crossing::WinsFrom {
            size_bytes: c.size_bytes,
            between: c.between,
        },
        Some(c) => Crossing::LosesFrom {
            size_bytes: c.size_bytes,
            between: c.between,
        },
    }
}

fn group_caveats(
    cells: &[Vec<Cell>],
    sizes: &BTreeSet<usize>,
    strategies: &BTreeSet<StrategyKind>,
    metric: Figure,
    topology: &str,
    zero_copy: &BTreeSet<StrategyKind>,
) -> Vec<Caveat> {
    let all: Vec<&Cell> = cells.iter().flatten().collect();
    let mut out = Vec::new();

    for &z in zero_copy {
        let ratios: Vec<f64> = all
            .iter()
            .filter(|c| c.strategy == z)
            .filter_map(|c| c.copied_ratio())
            .filter(|&r| r > 0.0)
            .collect();
        if let (Some(lo), Some(hi)) = (
            ratios.iter().copied().reduce(f64::min),
            ratios.iter().copied().reduce(f64::max),
        ) {
            let share = if (hi - lo).abs() < 0.005 {
                format!("{:.0}%", hi * 100.0)
            } else {
                format!("{:.0}%..{:.0}%", lo * 100.0, hi * 100.0)
            };
            let why = if matches!(topology, "loopback" | "netns") {
                " (local delivery over loopback or veth always copies)"
            } else {
                ""
            };
            out.push(caveat(
                CaveatKind::NotNicZeroCopy,
                format!(
                    "{z}: the kernel copied {share} of its sends{why}: its figures are not NIC zero-copy"
                ),
            ));
        }
    }

    let no_cpu: Vec<(StrategyKind, usize)> = all
        .iter()
        .filter(|c| c.median(Figure::SenderCpuNsPerByte).is_none())
        .map(|c| (c.strategy, c.size))
        .collect();
    if !no_cpu.is_empty() && no_cpu.len() == all.len() {
        out.push(caveat(
            CaveatKind::CountersUnsupported,
            "sender CPU per byte not measured at all (counters unsupported or off): CPU ratios and CPU break-even are null".into(),
        ));
    } else if !no_cpu.is_empty() {
        out.push(caveat(
            CaveatKind::CountersUnsupported,
            format!(
                "sender CPU per byte not measured (counters unsupported or off) for {}: their CPU ratios and CPU break-even are null",
                list_cells(&no_cpu, sizes)
            ),
        ));
    }

    let noisy: Vec<String> = all
        .iter()
        .filter_map(|c| {
            let cv = c.spread(metric)?.cv?;
            (cv > NOISY_CV).then(|| {
                format!(
                    "{} {} ({:.0}%)",
                    c.strategy,
                    size_text(c.size as f64),
                    cv * 100.0
                )
            })
        })
        .collect();
    if !noisy.is_empty() {
        out.push(caveat(
            CaveatKind::Noisy,
            format!(
                "noisy {} (coefficient of variation above {:.0}%): {}; more repetitions or a longer duration would help",
                metric.label(),
                NOISY_CV * 100.0,
                noisy.join(", ")
            ),
        ));
    }

    let unverified: Vec<(StrategyKind, usize)> = all
        .iter()
        .filter(|c| c.points.iter().any(|p| !trusted(p)))
        .map(|c| (c.strategy, c.size))
        .collect();
    if !unverified.is_empty() {
        out.push(caveat(
            CaveatKind::Unverified,
            format!(
                "bytes not verified for {}: these cells take part in no winner or break-even",
                list_cells(&unverified, sizes)
            ),
        ));
    }

    let sink: Vec<(StrategyKind, usize)> = all
        .iter()
        .filter(|c| c.points.iter().any(|p| !has_receiver(p)))
        .map(|c| (c.strategy, c.size))
        .collect();
    if !sink.is_empty() {
        out.push(caveat(
            CaveatKind::NoReceiver,
            format!(
                "no receiver took part for {} (a sink): nothing verified their bytes and receiver figures are missing",
                list_cells(&sink, sizes)
            ),
        ));
    }

    let single: Vec<(StrategyKind, usize)> = all
        .iter()
        .filter(|c| c.points.len() < 2)
        .map(|c| (c.strategy, c.size))
        .collect();
    if !single.is_empty() {
        out.push(caveat(
            CaveatKind::SingleRepetition,
            format!(
                "a single repetition for {}: no spread and no test, so no winner is declared there",
                list_cells(&single, sizes)
            ),
        ));
    }

    if !strategies.contains(&BASELINE) && !strategies.is_empty() {
        out.push(caveat(
            CaveatKind::NoBaseline,
            format!("{BASELINE} was not measured: every ratio to it is null"),
        ));
    }
    out
}

/// "zerocopy (all sizes), twocopy (1 KiB, 4 KiB)".
fn list_cells(cells: &[(StrategyKind, usize)], sizes: &BTreeSet<usize>) -> String {
    let strategies: BTreeSet<StrategyKind> = cells.iter().map(|c| c.0).collect();
    strategies
        .into_iter()
        .map(|s| {
            let mine: BTreeSet<usize> = cells.iter().filter(|c| c.0 == s).map(|c| c.1).collect();
            if &mine == sizes {
                format!("{s} (all sizes)")
            } else {
                let list: Vec<String> = mine.iter().map(|&b| size_text(b as f64)).collect();
                format!("{s} ({})", list.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A size for people: `1500 B`, `4 KiB`, `23 KiB`, `1.5 MiB`.
pub fn size_text(bytes: f64) -> String {
    if !bytes.is_finite() || bytes < 0.0 {
        return "?".into();
    }
    let (value, unit) = if bytes >= (1u64 << 30) as f64 {
        (bytes / (1u64 << 30) as f64, "GiB")
    } else if bytes >= (1u64 << 20) as f64 {
        (bytes / (1u64 << 20) as f64, "MiB")
    } else if bytes >= 1024.0 {
        (bytes / 1024.0, "KiB")
    } else {
        return format!("{bytes:.0} B");
    };
    if (value - value.round()).abs() < 1e-9 || value >= 10.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

fn crossing_text(c: &Crossing) -> String {
    match c {
        Crossing::WinsFrom { size_bytes, .. } => format!("at ~{}", size_text(*size_bytes)),
        Crossing::AtOrBelowSmallest { smallest } => format!(
            "at or below {} (wins at every size measured)",
            size_text(*smallest as f64)
        ),
        Crossing::AboveLargest { largest } => format!(
            "above {} if at all (loses at every size measured; the gap narrows towards the largest)",
            size_text(*largest as f64)
        ),
        Crossing::Never { smallest, largest } if smallest == largest => format!(
            "not at {}, the only size measured",
            size_text(*smallest as f64)
        ),
        Crossing::Never { smallest, largest } => format!(
            "never in {}..{}",
            size_text(*smallest as f64),
            size_text(*largest as f64)
        ),
        Crossing::LosesFrom { size_bytes, .. } => {
            format!("loses from ~{} on", size_text(*size_bytes))
        }
        Crossing::NotMeasured { reason } => format!("unknown ({reason})"),
    }
}

/// "between 16 KiB and 64 KiB (16 KiB: no clear difference); ~23 KiB by interpolation, 90%
/// bootstrap interval 16 KiB..41 KiB": the evidence first, the point estimate beside it.
pub fn bracket_text(b: &Bracket) -> String {
    let [lo, hi] = b.bracket_bytes;
    let mut t = format!(
        "{} between {} and {}",
        if b.starts_winning {
            "starts winning"
        } else {
            "stops winning"
        },
        size_text(lo as f64),
        size_text(hi as f64)
    );
    let unclear: Vec<String> = [lo, hi]
        .iter()
        .zip(b.told_apart)
        .filter(|(_, apart)| !apart)
        .map(|(s, _)| size_text(*s as f64))
        .collect();
    if !unclear.is_empty() {
        let _ = write!(t, " ({}: no clear difference)", unclear.join(" and "));
    }
    let _ = write!(t, "; ~{} by interpolation", size_text(b.estimate_bytes));
    if let Some(i) = &b.interval {
        let end = |x: f64, open: bool, below: bool| {
            if open {
                format!("{} {}", if below { "below" } else { "above" }, size_text(x))
            } else {
                size_text(x)
            }
        };
        let _ = write!(
            t,
            ", {:.0}% bootstrap interval {}..{}",
            i.level * 100.0,
            end(i.low_bytes, i.open_below, true),
            end(i.high_bytes, i.open_above, false)
        );
    }
    t
}

fn figure_text(s: &Option<Spread>, f: Figure) -> String {
    match s {
        Some(s) => format!("{:.*} {}", f.digits(), s.median, f.unit()),
        None => "n/a".into(),
    }
}

/// A short human summary: a header line per group, a line per size, a line per zero-copy
/// strategy's break-even, and the caveats.
pub fn render_text(f: &Findings) -> String {
    let mut out = String::new();
    for g in &f.groups {
        let _ = writeln!(
            out,
            "{} {} {}, {} thread{} (by median {}; ratios vs {BASELINE}):",
            g.topology,
            g.protocol,
            g.mode,
            g.threads,
            if g.threads == 1 { "" } else { "s" },
            g.metric.label()
        );
        for s in &g.sizes {
            let at = format!("  at {} x{}", size_text(s.msg_size as f64), g.threads);
            let fig = |k: StrategyKind| {
                s.strategies
                    .iter()
                    .find(|x| x.strategy == k)
                    .map_or("n/a".into(), |x| figure_text(&x.metric, g.metric))
            };
            let head = match &s.verdict {
                Verdict::Winner { strategy, .. } => {
                    format!("{strategy} wins ({})", fig(*strategy))
                }
                Verdict::NoClearWinner {
                    leader,
                    runner_up,
                    why,
                    ..
                } => {
                    let n = |k: StrategyKind| {
                        s.strategies
                            .iter()
                            .find(|x| x.strategy == k)
                            .map_or(0, |x| x.repetitions)
                    };
                    format!(
                        "no clear winner ({leader} {} vs {runner_up} {}: {})",
                        fig(*leader),
                        fig(*runner_up),
                        why.describe(n(*leader), n(*runner_up)).unwrap_or_default()
                    )
                }
                Verdict::Uncontested { strategy } => {
                    format!("only {strategy} measured ({})", fig(*strategy))
                }
                Verdict::NoData => "nothing measured".into(),
            };
            let ratios: Vec<String> = s
                .strategies
                .iter()
                .filter(|x| x.strategy != BASELINE)
                .filter(|x| x.metric_vs_twocopy.is_some() || x.cpu_vs_twocopy.is_some())
                .map(|x| {
                    // A missing figure is left out here; the caveats say why.
                    let mut t = x.strategy.to_string();
                    if let Some(r) = x.metric_vs_twocopy {
                        let _ = write!(t, " {r:.2}x {}", g.metric.unit());
                    }
                    if let Some(r) = x.cpu_vs_twocopy {
                        if x.metric_vs_twocopy.is_some() {
                            t.push(',');
                        }
                        let _ = write!(t, " {r:.2}x CPU/B");
                    }
                    t
                })
                .collect();
            if ratios.is_empty() {
                let _ = writeln!(out, "{at}: {head}");
            } else {
                let _ = writeln!(out, "{at}: {head}; vs {BASELINE}: {}", ratios.join("; "));
            }
        }
        let strategies: BTreeSet<StrategyKind> = g.break_even.iter().map(|b| b.strategy).collect();
        for z in strategies {
            let parts: Vec<String> = g
                .break_even
                .iter()
                .filter(|b| b.strategy == z)
                .map(|b| {
                    let mut t = format!(
                        "in {}: {}",
                        b.metric.label(),
                        b.bracket
                            .as_ref()
                            .filter(|_| matches!(
                                b.result,
                                Crossing::WinsFrom { .. } | Crossing::LosesFrom { .. }
                            ))
                            .map_or_else(|| crossing_text(&b.result), bracket_text)
                    );
                    if b.non_monotonic {
                        let each: Vec<String> = b
                            .crossings
                            .iter()
                            .map(|c| {
                                format!(
                                    "{} at ~{}",
                                    if c.starts_winning {
                                        "starts winning"
                                    } else {
                                        "stops"
                                    },
                                    size_text(c.size_bytes)
                                )
                            })
                            .collect();
                        let _ = write!(t, " (non-monotonic: {})", each.join(", "));
                    } else if matches!(b.result, Crossing::LosesFrom { .. }) {
                        t.push_str(" (wins below)");
                    }
                    t
                })
                .collect();
            let against: BTreeSet<StrategyKind> = g
                .break_even
                .iter()
                .filter(|b| b.strategy == z)
                .flat_map(|b| b.against.iter().copied())
                .collect();
            let against = if against.is_empty() {
                "the best copying strategy".to_string()
            } else {
                against
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join("/")
            };
            let _ = writeln!(out, "  {z} breaks even with {against} {}", parts.join("; "));
        }
        for c in &g.caveats {
            let _ = writeln!(out, "  caveat: {}", c.text);
        }
    }
    for c in &f.caveats {
        let _ = writeln!(out, "caveat: {}", c.text);
    }
    if f.groups.is_empty() {
        let _ = writeln!(out, "no points: no findings");
    }
    out
}
