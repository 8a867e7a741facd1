//! Planning a crossover search by measurement: where does strategy `a` start (or stop) beating
//! strategy `b`? Pure logic; the caller measures.
//!
//! [`Bisection`] is a state machine on log2(message size) between two bounds. The caller asks
//! [`Bisection::next`] for a size to probe, measures both strategies there (with repetitions),
//! and reports the relative advantage of `a` over `b` (median over repetitions, positive when
//! `a` is better; [`advantage_of`] computes it) through [`Bisection::observe`]. It probes both
//! bounds first: if `a` wins at both or loses at both, it stops with
//! [`Outcome::NoSignChange`]. Otherwise it probes the geometric mean of the current bracket
//! (rounded to whole bytes) and keeps the half whose ends differ, until `upper / lower <=
//! tolerance` (1.1 by default) or the two ends are adjacent byte counts. "Beats" means strictly
//! better, as in [`crate::findings`].
//!
//! It terminates: every probe inside the bracket shrinks it by at least one byte, a
//! non-finite advantage ends the search ([`Outcome::Unmeasurable`]), and [`MAX_PROBES`] caps
//! the count regardless. With several crossings between the bounds it finds one of them.

use serde::{Deserialize, Serialize};

use crate::findings::{interpolate_log2, size_text, Figure};
use crate::stats::{advantage, median, separate};
use crate::strategy::StrategyKind;

/// Default stopping ratio: the bracket's upper size at most 10% above its lower size.
pub const DEFAULT_TOLERANCE: f64 = 1.1;

/// Most probes one search makes (both bounds included), whatever happens.
pub const MAX_PROBES: usize = 64;

/// Relative advantage of `a` over `b` at one size from their repetitions: median of `a` vs
/// median of `b`, positive when `a` is better for `metric` (see [`crate::stats::advantage`]).
/// `None` when either has no finite value or `b`'s median is not positive.
pub fn advantage_of(a: &[f64], b: &[f64], metric: Figure) -> Option<f64> {
    advantage(median(a)?, median(b)?, metric.better())
}

/// Why a search cannot start or a probe is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CrossoverError {
    /// The bounds must satisfy `1 <= lower < upper`.
    #[error("bounds must satisfy 1 <= lower < upper (got {lower}..{upper})")]
    Bounds {
        /// Lower bound given.
        lower: usize,
        /// Upper bound given.
        upper: usize,
    },
    /// The tolerance must be a finite ratio above 1.
    #[error("the tolerance must be a ratio above 1, like 1.1 (got {0})")]
    Tolerance(f64),
    /// A probe at a size other than the one proposed.
    #[error("expected a measurement at {expected} bytes, got one at {got}")]
    UnexpectedSize {
        /// The size [`Bisection::next`] proposed.
        expected: usize,
        /// The size reported.
        got: usize,
    },
    /// The search is over.
    #[error("the search is finished")]
    Finished,
}

/// One probe: a size and `a`'s advantage over `b` there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Message size in bytes.
    pub msg_size: usize,
    /// Relative advantage of `a` over `b` (positive: `a` better).
    pub advantage: f64,
    /// Whether `a`'s and `b`'s repetitions were told apart here ([`crate::stats::separate`]);
    /// `None` when only the advantage was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separated: Option<bool>,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Measure at this size and call [`Bisection::observe`].
    Probe(usize),
    /// The search is over.
    Done(Outcome),
}

/// How a search ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// `a` beats `b` at one end of the bracket and not at the other.
    Bracketed {
        /// Lower end (bytes).
        lower: usize,
        /// Upper end (bytes).
        upper: usize,
        /// `a`'s advantage at the lower end.
        lower_advantage: f64,
        /// `a`'s advantage at the upper end.
        upper_advantage: f64,
        /// True when `a` beats `b` at the upper end (and not at the lower).
        a_wins_above: bool,
        /// Linear interpolation in log2(size) inside the bracket.
        estimate_bytes: f64,
        /// False when whole bytes (or the probe cap) stopped the search before the tolerance
        /// was met, e.g. between 1 and 2 bytes.
        within_tolerance: bool,
        /// Whether the repetitions were told apart at both ends (`false`: at least one end is
        /// within the noise, so the side it was put on may be wrong); `None` when unknown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_told_apart: Option<bool>,
    },
    /// `a` beats `b` at both bounds, or at neither: no crossover is bracketed.
    NoSignChange {
        /// `a`'s advantage at the lower bound.
        lower_advantage: f64,
        /// `a`'s advantage at the upper bound.
        upper_advantage: f64,
        /// True when `a` wins at both bounds, false when at neither.
        a_wins: bool,
    },
    /// A probe gave no finite advantage (nothing measured, or `b` measured 0).
    Unmeasurable {
        /// Where.
        msg_size: usize,
    },
}

impl Outcome {
    /// In words, e.g. `zerocopy starts beating twocopy in throughput between 21 KiB and 23 KiB
    /// (~22 KiB)`.
    pub fn describe(&self, a: StrategyKind, b: StrategyKind, metric: Figure) -> String {
        match self {
            Outcome::Bracketed {
                lower,
                upper,
                a_wins_above,
                estimate_bytes,
                within_tolerance,
                ends_told_apart,
                ..
            } => format!(
                "{a} {} {b} in {} between {} and {} (~{}){}{}",
                if *a_wins_above {
                    "starts beating"
                } else {
                    "stops beating"
                },
                metric.label(),
                size_text(*lower as f64),
                size_text(*upper as f64),
                size_text(*estimate_bytes),
                if *within_tolerance {
                    ""
                } else {
                    " (not narrowed to the tolerance)"
                },
                if *ends_told_apart == Some(false) {
                    "; at an end of the bracket the repetitions overlap, so it may lie elsewhere: more repetitions would tell"
                } else {
                    ""
                }
            ),
            Outcome::NoSignChange { a_wins, .. } => format!(
                "no crossover between the bounds: {a} {} {b} in {} at both",
                if *a_wins { "beats" } else { "does not beat" },
                metric.label()
            ),
            Outcome::Unmeasurable { msg_size } => format!(
                "stopped: no usable {} figure at {}",
                metric.label(),
                size_text(*msg_size as f64)
            ),
        }
    }
}

/// A whole search, for printing and storing: what was compared, the bounds, every probe and
/// the outcome (`None` while it runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossoverRecord {
    /// The strategy whose advantage is measured.
    pub a: StrategyKind,
    /// The one it is measured against.
    pub b: StrategyKind,
    /// The figure compared.
    pub metric: Figure,
    /// Lower bound (bytes).
    pub lower_bound: usize,
    /// Upper bound (bytes).
    pub upper_bound: usize,
    /// Stopping ratio.
    pub tolerance: f64,
    /// Every probe, in order.
    pub probes: Vec<Probe>,
    /// How it ended.
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    NeedLower,
    NeedUpper(Probe),
    Bisecting { lo: Probe, hi: Probe },
    Done(Outcome),
}

/// The search state machine (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Bisection {
    a: StrategyKind,
    b: StrategyKind,
    metric: Figure,
    lower: usize,
    upper: usize,
    tolerance: f64,
    /// Probed sizes are multiples of this (1: any byte count).
    granularity: usize,
    probes: Vec<Probe>,
    state: State,
}

fn wins(p: &Probe) -> bool {
    p.advantage > 0.0
}

impl Bisection {
    /// A search for where `a` starts or stops beating `b` in `metric` between `lower` and
    /// `upper` bytes, with the default tolerance.
    pub fn new(
        a: StrategyKind,
        b: StrategyKind,
        metric: Figure,
        lower: usize,
        upper: usize,
    ) -> Result<Bisection, CrossoverError> {
        if lower == 0 || lower >= upper {
            return Err(CrossoverError::Bounds { lower, upper });
        }
        Ok(Bisection {
            a,
            b,
            metric,
            lower,
            upper,
            tolerance: DEFAULT_TOLERANCE,
            granularity: 1,
            probes: Vec::new(),
            state: State::NeedLower,
        })
    }

    /// Stops when `upper / lower <= tolerance` instead of 1.1.
    pub fn with_tolerance(mut self, tolerance: f64) -> Result<Bisection, CrossoverError> {
        if !tolerance.is_finite() || tolerance <= 1.0 {
            return Err(CrossoverError::Tolerance(tolerance));
        }
        self.tolerance = tolerance;
        Ok(self)
    }

    /// Probes only multiples of `granularity` bytes between the bounds (e.g. 1024: whole KiB,
    /// sizes a program would send, and which every strategy accepts: MSG_ZEROCOPY over UDP
    /// refuses some odd sizes with EMSGSIZE); the search ends when no multiple lies inside the
    /// bracket. 0 counts as 1.
    pub fn with_granularity(mut self, granularity: usize) -> Bisection {
        self.granularity = granularity.max(1);
        self
    }

    /// The next size to measure, or the outcome.
    pub fn next(&self) -> Step {
        match &self.state {
            State::NeedLower => Step::Probe(self.lower),
            State::NeedUpper(_) => Step::Probe(self.upper),
            State::Bisecting { lo, hi } => {
                Step::Probe(midpoint(lo.msg_size, hi.msg_size, self.granularity))
            }
            State::Done(o) => Step::Done(o.clone()),
        }
    }

    /// Reports `a`'s advantage over `b` (median over repetitions, positive: `a` better) at the
    /// size [`Bisection::next`] proposed. A non-finite advantage ends the search.
    pub fn observe(&mut self, msg_size: usize, advantage: f64) -> Result<(), CrossoverError> {
        self.observe_probe(msg_size, advantage, None)
    }

    /// The same from both strategies' repetitions at `msg_size`: the advantage of `a`'s median
    /// over `b`'s ([`advantage_of`]), and whether the repetitions are told apart.
    pub fn observe_repetitions(
        &mut self,
        msg_size: usize,
        a: &[f64],
        b: &[f64],
    ) -> Result<(), CrossoverError> {
        let adv = advantage_of(a, b, self.metric).unwrap_or(f64::NAN);
        self.observe_probe(msg_size, adv, Some(separate(a, b).is_apart()))
    }

    fn observe_probe(
        &mut self,
        msg_size: usize,
        advantage: f64,
        separated: Option<bool>,
    ) -> Result<(), CrossoverError> {
        let expected = match self.next() {
            Step::Probe(s) => s,
            Step::Done(_) => return Err(CrossoverError::Finished),
        };
        if msg_size != expected {
            return Err(CrossoverError::UnexpectedSize {
                expected,
                got: msg_size,
            });
        }
        if !advantage.is_finite() {
            self.state = State::Done(Outcome::Unmeasurable { msg_size });
            return Ok(());
        }
        let probe = Probe {
            msg_size,
            advantage,
            separated,
        };
        self.probes.push(probe);
        let state = std::mem::replace(&mut self.state, State::NeedLower);
        self.state = match state {
            State::NeedLower => State::NeedUpper(probe),
            State::NeedUpper(lo) if wins(&lo) == wins(&probe) => {
                State::Done(Outcome::NoSignChange {
                    lower_advantage: lo.advantage,
                    upper_advantage: probe.advantage,
                    a_wins: wins(&lo),
                })
            }
            State::NeedUpper(lo) => State::Bisecting { lo, hi: probe },
            State::Bisecting { lo, hi } => {
                if wins(&probe) == wins(&lo) {
                    State::Bisecting { lo: probe, hi }
                } else {
                    State::Bisecting { lo, hi: probe }
                }
            }
            done @ State::Done(_) => done,
        };
        self.settle();
        Ok(())
    }

    /// Ends the search once the bracket is narrow enough (or cannot narrow, or too many probes).
    fn settle(&mut self) {
        let State::Bisecting { lo, hi } = &self.state else {
            return;
        };
        let narrow = hi.msg_size as f64 / lo.msg_size as f64 <= self.tolerance;
        let adjacent = first_multiple_above(lo.msg_size, self.granularity) >= hi.msg_size;
        if narrow || adjacent || self.probes.len() >= MAX_PROBES {
            self.state = State::Done(Outcome::Bracketed {
                lower: lo.msg_size,
                upper: hi.msg_size,
                lower_advantage: lo.advantage,
                upper_advantage: hi.advantage,
                a_wins_above: wins(hi),
                estimate_bytes: interpolate_log2(
                    lo.msg_size,
                    lo.advantage,
                    hi.msg_size,
                    hi.advantage,
                ),
                within_tolerance: narrow,
                ends_told_apart: match (lo.separated, hi.separated) {
                    (Some(x), Some(y)) => Some(x && y),
                    (Some(false), None) | (None, Some(false)) => Some(false),
                    _ => None,
                },
            });
        }
    }

    /// Every probe so far, in order.
    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }

    /// The search so far, for printing and storing.
    pub fn record(&self) -> CrossoverRecord {
        CrossoverRecord {
            a: self.a,
            b: self.b,
            metric: self.metric,
            lower_bound: self.lower,
            upper_bound: self.upper,
            tolerance: self.tolerance,
            probes: self.probes.clone(),
            outcome: match &self.state {
                State::Done(o) => Some(o.clone()),
                _ => None,
            },
        }
    }
}

/// The smallest multiple of `g` above `x`.
fn first_multiple_above(x: usize, g: usize) -> usize {
    (x / g + 1).saturating_mul(g)
}

/// The geometric mean of `lo` and `hi`, rounded to a multiple of `g`, strictly between them
/// (callers guarantee that a multiple of `g` lies strictly between).
fn midpoint(lo: usize, hi: usize, g: usize) -> usize {
    let mid = ((lo as f64).log2() / 2.0 + (hi as f64).log2() / 2.0).exp2() / g as f64;
    let mid = if mid.is_finite() {
        (mid.round() as usize).saturating_mul(g)
    } else {
        lo + (hi - lo) / 2
    };
    let first = first_multiple_above(lo, g);
    let last = (hi - 1) / g * g;
    mid.clamp(first, last.max(first))
}
