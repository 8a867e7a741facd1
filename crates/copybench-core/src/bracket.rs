//! Break-even as a bracket: between which two measured sizes a candidate strategy (zero-copy)
//! starts (or stops) beating the best of the others (copying), whether both ends are told
//! apart by the winner rule, the point estimate, and a bootstrap interval for the crossing
//! over the repetitions. Pure functions over repetitions; [`crate::findings`] feeds them.
//!
//! The interval is a percentile bootstrap: [`RESAMPLES`] times, every cell's repetitions are
//! drawn again with replacement, the medians, the best copying strategy at each size and the
//! advantage are recomputed, and the crossing of the same kind (the last sign change, in the
//! same direction) is interpolated in log2(size) as for the point estimate. The 5% and 95%
//! quantiles of those crossings bound the 90% interval. A resample without such a crossing
//! counts as below the smallest size (it wins everywhere) or above the largest (it loses
//! everywhere), so that an interval reaching past the measured sizes says so (`open_below`,
//! `open_above`) instead of pretending a bound. With 3 repetitions a resampled median takes
//! few values: the interval is coarse, and honest about it.

pub use crate::model::findings::{Bracket, CrossingInterval};
use crate::stats::{advantage, median, separate, Better, Rng};

/// Bootstrap resamples per interval.
pub const RESAMPLES: usize = 1000;

/// Coverage of the interval.
pub const LEVEL: f64 = 0.90;

/// A bracket wider than this (upper / lower size) is open: `copybench run --refine` measures
/// inside it.
pub const REFINED_WIDTH: f64 = 1.5;

/// Fixed, so that the same points always give the same findings.
const SEED: u64 = 0x5EED_B0075;

/// The repetitions at one size: the candidate's, and each other strategy's (by name).
#[derive(Debug, Clone, PartialEq)]
pub struct SizeSamples<K> {
    /// Message size in bytes.
    pub msg_size: usize,
    /// The candidate's repetitions (empty: not measured here).
    pub candidate: Vec<f64>,
    /// Every competing strategy's repetitions.
    pub others: Vec<(K, Vec<f64>)>,
}

/// Interval method in words.
pub const METHOD: &str = "percentile bootstrap over the repetitions of every cell (medians, best other strategy and advantage recomputed per resample)";

/// Advantage of the candidate's median over the best other median at one size, with the best
/// other's index; `None` when either is missing.
fn advantage_at<K>(s: &SizeSamples<K>, better: Better) -> Option<(f64, usize)> {
    advantage_of(
        &s.candidate,
        s.others.iter().map(|(_, v)| v.as_slice()),
        better,
    )
}

fn advantage_of<'a>(
    candidate: &[f64],
    others: impl Iterator<Item = &'a [f64]>,
    better: Better,
) -> Option<(f64, usize)> {
    let mine = median(candidate)?;
    let (best, at) = others
        .enumerate()
        .filter_map(|(i, v)| median(v).map(|m| (m, i)))
        .reduce(|a, b| if better.beats(b.0, a.0) { b } else { a })?;
    Some((advantage(mine, best, better)?, at))
}

/// The last sign change of `measured` ((size, advantage), ascending sizes): the pair of
/// indices into it and whether the candidate starts winning there.
fn last_change(measured: &[(usize, f64)]) -> Option<(usize, bool)> {
    measured
        .windows(2)
        .enumerate()
        .filter(|(_, w)| (w[0].1 > 0.0) != (w[1].1 > 0.0))
        .map(|(i, w)| (i, w[1].1 > 0.0))
        .next_back()
}

fn interpolate(measured: &[(usize, f64)], i: usize) -> f64 {
    let ((s1, d1), (s2, d2)) = (measured[i], measured[i + 1]);
    crate::findings::interpolate_log2(s1, d1, s2, d2)
}

/// The bracket of the last sign change over `sizes` (ascending), `None` without one.
pub fn bracket<K>(sizes: &[SizeSamples<K>], better: Better) -> Option<Bracket> {
    let at: Vec<(usize, f64, usize)> = sizes
        .iter()
        .enumerate()
        .filter_map(|(i, s)| advantage_at(s, better).map(|(a, best)| (i, a, best)))
        .collect();
    let measured: Vec<(usize, f64)> = at.iter().map(|&(i, a, _)| (sizes[i].msg_size, a)).collect();
    let (k, starts_winning) = last_change(&measured)?;
    let told = |j: usize| {
        let (i, _, best) = at[j];
        separate(&sizes[i].candidate, &sizes[i].others[best].1).is_apart()
    };
    let (lo, hi) = (measured[k].0, measured[k + 1].0);
    Some(Bracket {
        bracket_bytes: [lo, hi],
        starts_winning,
        told_apart: [told(k), told(k + 1)],
        estimate_bytes: interpolate(&measured, k),
        width: hi as f64 / lo.max(1) as f64,
        interval: interval(sizes, better, starts_winning),
    })
}

/// The bootstrap interval (module documentation); `None` when no cell has 2 repetitions.
pub fn interval<K>(
    sizes: &[SizeSamples<K>],
    better: Better,
    starts_winning: bool,
) -> Option<CrossingInterval> {
    let resamplable = sizes
        .iter()
        .any(|s| s.candidate.len() >= 2 || s.others.iter().any(|(_, v)| v.len() >= 2));
    let (smallest, largest) = (sizes.first()?.msg_size, sizes.last()?.msg_size);
    if !resamplable {
        return None;
    }
    let mut rng = Rng::new(SEED);
    let mut crossings: Vec<f64> = Vec::with_capacity(RESAMPLES);
    let mut other = 0usize;
    for _ in 0..RESAMPLES {
        let measured: Vec<(usize, f64)> = sizes
            .iter()
            .filter_map(|s| {
                let candidate = rng.resample(&s.candidate);
                let others: Vec<Vec<f64>> = s.others.iter().map(|(_, v)| rng.resample(v)).collect();
                advantage_of(&candidate, others.iter().map(Vec::as_slice), better)
                    .map(|(a, _)| (s.msg_size, a))
            })
            .collect();
        // The last change in the observed direction.
        let change = measured
            .windows(2)
            .enumerate()
            .filter(|(_, w)| (w[0].1 > 0.0) != (w[1].1 > 0.0) && (w[1].1 > 0.0) == starts_winning)
            .map(|(i, _)| i)
            .next_back();
        match change {
            Some(i) => crossings.push(interpolate(&measured, i).log2()),
            None => {
                let wins = |a: f64| (a > 0.0) == starts_winning;
                // Past the range on the side its sign says: winning everywhere (in the
                // observed direction's sense) puts the crossing below the smallest size.
                if measured.iter().all(|&(_, a)| wins(a)) {
                    crossings.push(f64::NEG_INFINITY);
                } else if measured.iter().all(|&(_, a)| !wins(a)) {
                    crossings.push(f64::INFINITY);
                } else {
                    other += 1;
                }
            }
        }
    }
    crossings.sort_by(f64::total_cmp);
    let tail = (1.0 - LEVEL) / 2.0;
    let (lo, hi) = (
        order_statistic(&crossings, tail)?,
        order_statistic(&crossings, 1.0 - tail)?,
    );
    let bound = |x: f64| {
        if x.is_finite() {
            x.exp2().clamp(smallest as f64, largest as f64)
        } else if x < 0.0 {
            smallest as f64
        } else {
            largest as f64
        }
    };
    Some(CrossingInterval {
        method: METHOD.into(),
        level: LEVEL,
        resamples: RESAMPLES,
        low_bytes: bound(lo),
        high_bytes: bound(hi),
        open_below: lo == f64::NEG_INFINITY,
        open_above: hi == f64::INFINITY,
        other_direction: other as f64 / RESAMPLES as f64,
    })
}

/// The nearest-rank `q` quantile of `sorted` (no interpolation, so that infinite ends stay
/// what they are).
fn order_statistic(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n.max(1));
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(msg_size: usize, candidate: &[f64], other: &[f64]) -> SizeSamples<&'static str> {
        SizeSamples {
            msg_size,
            candidate: candidate.to_vec(),
            others: vec![("copy", other.to_vec())],
        }
    }

    #[test]
    fn bracket_and_interval_of_a_clear_crossing() {
        let sizes = [
            samples(1 << 10, &[5.0, 5.1, 4.9], &[10.0, 10.1, 9.9]),
            samples(4 << 10, &[8.0, 8.1, 7.9], &[10.0, 10.1, 9.9]),
            samples(16 << 10, &[12.0, 12.1, 11.9], &[10.0, 10.1, 9.9]),
            samples(64 << 10, &[15.0, 15.1, 14.9], &[10.0, 10.1, 9.9]),
        ];
        let b = bracket(&sizes, Better::Higher).unwrap();
        assert_eq!(b.bracket_bytes, [4 << 10, 16 << 10]);
        assert!(b.starts_winning);
        assert_eq!(b.told_apart, [true, true]);
        assert!(b.estimate_bytes > 4096.0 && b.estimate_bytes < 16384.0);
        assert!((b.width - 4.0).abs() < 1e-9);
        let i = b.interval.unwrap();
        assert!(!i.open_below && !i.open_above, "{i:?}");
        assert!(i.low_bytes >= 4096.0 && i.high_bytes <= 16384.0, "{i:?}");
        assert!(i.low_bytes <= b.estimate_bytes && b.estimate_bytes <= i.high_bytes);
        assert_eq!(i.other_direction, 0.0);
    }

    #[test]
    fn an_end_inside_the_noise_is_said_and_the_interval_opens() {
        // At 1 KiB the candidate is just below (ranges overlap): in many resamples it wins
        // there too, and the crossing may lie below the smallest size.
        let sizes = [
            samples(1 << 10, &[9.9, 10.4, 9.5], &[10.0, 10.5, 9.6]),
            samples(4 << 10, &[12.0, 12.1, 11.9], &[10.0, 10.1, 9.9]),
        ];
        let b = bracket(&sizes, Better::Higher).unwrap();
        assert_eq!(b.told_apart, [false, true]);
        let i = b.interval.unwrap();
        assert!(i.open_below, "{i:?}");
        assert_eq!(i.low_bytes, 1024.0);
    }

    #[test]
    fn no_sign_change_no_bracket() {
        let sizes = [
            samples(1 << 10, &[5.0, 5.1, 4.9], &[10.0, 10.1, 9.9]),
            samples(4 << 10, &[8.0, 8.1, 7.9], &[10.0, 10.1, 9.9]),
        ];
        assert!(bracket(&sizes, Better::Higher).is_none());
        assert!(bracket::<&str>(&[], Better::Higher).is_none());
        // Lower is better: CPU per byte.
        let sizes = [
            samples(1 << 10, &[2.0, 2.1, 1.9], &[1.0, 1.1, 0.9]),
            samples(4 << 10, &[0.5, 0.6, 0.4], &[1.0, 1.1, 0.9]),
        ];
        let b = bracket(&sizes, Better::Lower).unwrap();
        assert!(b.starts_winning);
        // A single repetition everywhere: a bracket, no interval.
        let sizes = [
            samples(1 << 10, &[5.0], &[10.0]),
            samples(4 << 10, &[12.0], &[10.0]),
        ];
        let b = bracket(&sizes, Better::Higher).unwrap();
        assert!(b.interval.is_none());
        assert_eq!(b.told_apart, [false, false]);
    }

    #[test]
    fn the_best_other_is_chosen_per_size_and_per_resample() {
        let sizes = [SizeSamples {
            msg_size: 1024,
            candidate: vec![9.0, 9.0],
            others: vec![("a", vec![8.0, 8.0]), ("b", vec![10.0, 10.0])],
        }];
        assert_eq!(advantage_at(&sizes[0], Better::Higher).unwrap().1, 1);
    }
}
