//! The findings of a run as the results JSON holds them (its `findings` key): plain data,
//! computed by [`crate::findings`] and rendered there as text.

use serde::{Deserialize, Serialize};

use super::{Mode, Protocol, StrategyKind, TopologyKind};
use crate::stats::{Better, Multiplicity, Separation, Spread, ALPHA, NOISY_CV};

/// The strategy every ratio is relative to.
pub const BASELINE: StrategyKind = StrategyKind::TwoCopy;

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
    pub fn ranking(mode: Mode) -> Figure {
        if mode == Mode::Rr {
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
    /// The receive strategies compared, where a run swept more than one (`--receive`); the
    /// groups above then hold the points of one receive strategy only (`read` where it ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive: Option<super::ReceiveFindings>,
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
    /// The path the traffic took.
    pub topology: TopologyKind,
    /// The transport.
    pub protocol: Protocol,
    /// What was measured.
    pub mode: Mode,
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
    /// Paced groups (`--rate`): the per-connection target rate, payload bits per second. The
    /// rate is part of the group's key: strategies paced at different rates are never
    /// compared, and a paced group ranks by sender CPU per byte (equal load). Absent for
    /// unpaced groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_bps: Option<u64>,
    /// Paced groups: at each size, what the cheapest strategy saves in sender CPU per byte
    /// over the runner-up, in figures and in a sentence (`findings/paced.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub savings: Vec<Saving>,
    /// Each (strategy, size) whose buffer pool differs from the pool the other strategies of
    /// that size ran from by more than [`POOL_TOLERANCE`] (a `mixed_pools` caveat says it in
    /// words): its figures are not on the same buffer temperature as theirs. Absent when
    /// every strategy ran from the same pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pool_differences: Vec<PoolDifference>,
}

/// Pools whose sizes differ by at most this share are called the same (`0.1`: 10%).
pub const POOL_TOLERANCE: f64 = 0.1;

/// A strategy that ran, at one size of a group, from a buffer pool of another size than the
/// other strategies there: a larger pool keeps fewer of its buffers in cache, so the two are
/// not compared on the same buffer temperature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolDifference {
    /// The strategy.
    pub strategy: StrategyKind,
    /// Message size in bytes.
    pub msg_size: usize,
    /// Payload bytes of its pool per connection (the points' `pool_bytes`; the median over
    /// its repetitions).
    pub pool_bytes: u64,
    /// The pool the others ran from: the `pool_bytes` most strategies of this size share
    /// (the smaller on a tie).
    pub others_pool_bytes: u64,
    /// `pool_bytes / others_pool_bytes` (9.3: a pool 9.3 times the others').
    pub ratio: f64,
}

/// What the cheapest strategy of a paced group saves at one size: sender CPU per byte at the
/// same target rate, against the runner-up by median.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saving {
    /// Message size in bytes.
    pub msg_size: usize,
    /// The cheapest strategy by median sender CPU per byte.
    pub strategy: StrategyKind,
    /// The runner-up.
    pub against: StrategyKind,
    /// `1 - cheapest median / runner-up median` (0.31: 31% less sender CPU per byte).
    pub saving: f64,
    /// Whether the winner rule told the two apart ([`Rules::winner`]): only then is the
    /// saving a finding rather than a leader's margin.
    pub told_apart: bool,
    /// In words: "zerocopy saves 31% sender CPU at 5 Gbps x 64 KiB on sink (vs twocopy)".
    pub text: String,
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

impl SizeFinding {
    /// Why no winner is clear at this size, in words (the separation test read with the
    /// leader's and runner-up's repetitions); `None` for any other verdict, or where the test
    /// has nothing to say.
    pub fn unclear_why(&self) -> Option<String> {
        let Verdict::NoClearWinner {
            leader,
            runner_up,
            why,
            ..
        } = &self.verdict
        else {
            return None;
        };
        let repetitions = |k: StrategyKind| {
            self.strategies
                .iter()
                .find(|x| x.strategy == k)
                .map_or(0, |x| x.repetitions)
        };
        why.describe(repetitions(*leader), repetitions(*runner_up))
    }
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

/// The sizes around the last sign change of the advantage, and what is known there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bracket {
    /// The measured sizes between which the sign changes, ascending.
    pub bracket_bytes: [usize; 2],
    /// True when the candidate starts beating the others at the upper end.
    pub starts_winning: bool,
    /// Whether the candidate and the best other strategy are told apart (the winner rule:
    /// disjoint ranges and Mann-Whitney p <= 0.10) at the lower and at the upper end.
    pub told_apart: [bool; 2],
    /// Linear interpolation in log2(size) between the ends: a point estimate only.
    pub estimate_bytes: f64,
    /// `bracket_bytes[1] / bracket_bytes[0]`.
    pub width: f64,
    /// Bootstrap interval for the crossing (`null` when too few repetitions to resample).
    pub interval: Option<CrossingInterval>,
}

/// A bootstrap interval for a crossing size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossingInterval {
    /// How it was computed, in words.
    pub method: String,
    /// Coverage (0.90).
    pub level: f64,
    /// Resamples drawn.
    pub resamples: usize,
    /// Lower end in bytes (the smallest measured size when `open_below`).
    pub low_bytes: f64,
    /// Upper end in bytes (the largest measured size when `open_above`).
    pub high_bytes: f64,
    /// The interval reaches below the smallest measured size.
    pub open_below: bool,
    /// The interval reaches above the largest measured size.
    pub open_above: bool,
    /// Share of resamples in which the sign changes only the other way (neither below nor
    /// above: left out of the quantiles).
    pub other_direction: f64,
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
    /// Points where one send blocked for most of the measured interval (or a sender sent
    /// nothing in it): kept as measured, in their cells' figures.
    Stalled,
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
    /// Paced points that did not reach their target rate (`--rate`): not at the load asked
    /// for.
    RateNotReached,
    /// Strategies of one group ran from buffer pools of different sizes (the group's
    /// `pool_differences`), so not on the same buffer temperature.
    MixedPools,
}
