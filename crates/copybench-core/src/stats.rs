//! Statistics over repetitions: the Mann-Whitney U test, and the one rule that decides whether
//! two sets of repetitions are told apart (used for the winner of a size in [`crate::findings`]
//! and for "beyond the noise" in [`crate::compare`]).
//!
//! The rule ([`separate`]): two sets of repetitions are told apart only when
//! 1. each has at least 2 finite values (one repetition has no spread: nothing can be tested),
//! 2. their min..max ranges do not overlap (touching ends count as overlap), and
//! 3. a two-sided Mann-Whitney U test gives `p <= ALPHA` (0.10).
//!
//! With disjoint ranges the U statistic is as extreme as it gets, so condition 3 only fails when
//! there are too few repetitions for the test to ever reach [`ALPHA`]: 2 vs 2 (smallest p 0.33)
//! or 2 vs 3 (0.20). 3 vs 3, copybench's default, can (p = 0.10 exactly, when every repetition
//! of one beats every repetition of the other); 4 vs 4 reaches 0.029.

use serde::{Deserialize, Serialize};

/// Significance level of every test in copybench (two-sided).
///
/// 0.10 rather than 0.05 so that the default 3 repetitions can separate two strategies at all
/// (3 vs 3 cannot go below p = 0.10); the ranges must not overlap either, which is the stronger
/// condition at that sample size.
pub const ALPHA: f64 = 0.10;

/// A coefficient of variation above this marks a cell as noisy.
pub const NOISY_CV: f64 = 0.10;

/// Median, min and max of one figure over a point's repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// Coefficient of variation (standard deviation / mean); `None` for a single value.
    pub cv: Option<f64>,
}

impl Spread {
    /// `None` when no value is given (never a 0 standing in for "not measured").
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        let mean = v.iter().sum::<f64>() / n as f64;
        let cv = (n > 1 && mean != 0.0).then(|| {
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            var.sqrt() / mean.abs()
        });
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
            cv,
        })
    }
}

/// Up to this many values in both samples together the p-value is exact (the permutation
/// distribution of the rank sum, ties included); above it, the normal approximation with tie
/// and continuity corrections.
pub const EXACT_MAX_N: usize = 60;

/// Which direction of a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Higher is better (throughput).
    Higher,
    /// Lower is better (latency, CPU per byte).
    Lower,
}

impl Better {
    /// True if `a` is strictly better than `b`.
    pub fn beats(self, a: f64, b: f64) -> bool {
        match self {
            Better::Higher => a > b,
            Better::Lower => a < b,
        }
    }
}

/// How much better `candidate` is than `reference`, relative to `reference`: positive when the
/// candidate is better, negative when worse, 0 when equal.
///
/// `candidate / reference - 1` when higher is better, `1 - candidate / reference` when lower is
/// better. `None` unless both are finite and `reference > 0`.
pub fn advantage(candidate: f64, reference: f64, better: Better) -> Option<f64> {
    if !candidate.is_finite() || !reference.is_finite() || reference <= 0.0 {
        return None;
    }
    let ratio = candidate / reference;
    let a = match better {
        Better::Higher => ratio - 1.0,
        Better::Lower => 1.0 - ratio,
    };
    a.is_finite().then_some(a)
}

/// Median of the finite values, `None` if there is none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = finite(values);
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn finite(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|x| x.is_finite()).collect()
}

/// Result of a two-sided Mann-Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    /// U of the first sample: pairs (a, b) with a > b, plus half the ties.
    pub u: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// True when `p_value` is exact, false when it comes from the normal approximation.
    pub exact: bool,
}

/// Two-sided Mann-Whitney U (Wilcoxon rank-sum) test of `a` against `b`.
///
/// Non-finite values are ignored; `None` when either sample is then empty. Ties get mid-ranks;
/// the exact p-value is the share of all ways to split the pooled ranks into groups of these
/// sizes whose rank sum is at least as far from its mean as the observed one (exact with ties
/// too), for up to [`EXACT_MAX_N`] values in all.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    let a = finite(a);
    let b = finite(b);
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let n = n1 + n2;
    let mut pooled: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Doubled mid-ranks, so that they are integers: positions i..=j (0-based) tied get
    // rank (i + 1 + j + 1) / 2, doubled i + j + 2.
    let mut ranks2 = vec![0u64; n];
    let mut ties: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        for r in &mut ranks2[i..=j] {
            *r = (i + j + 2) as u64;
        }
        ties.push(j - i + 1);
        i = j + 1;
    }
    let w2: u64 = ranks2
        .iter()
        .zip(&pooled)
        .filter(|(_, (_, in_a))| *in_a)
        .map(|(r, _)| *r)
        .sum();
    let u = w2 as f64 / 2.0 - (n1 * (n1 + 1)) as f64 / 2.0;
    if ties.len() == 1 {
        // All values equal: no evidence of any difference.
        return Some(MannWhitney {
            u,
            p_value: 1.0,
            exact: true,
        });
    }
    if n <= EXACT_MAX_N {
        let p_value = exact_p(&ranks2, n1, w2);
        return Some(MannWhitney {
            u,
            p_value,
            exact: true,
        });
    }
    Some(MannWhitney {
        u,
        p_value: normal_p(n1, n2, u, &ties),
        exact: false,
    })
}

/// Two-sided p-value of `u` from the normal approximation, with tie and continuity corrections
/// (`ties`: the size of every group of equal values, 1 for untied ones).
fn normal_p(n1: usize, n2: usize, u: f64, ties: &[usize]) -> f64 {
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let nf = n1f + n2f;
    let mean = n1f * n2f / 2.0;
    let tie_term: f64 = ties
        .iter()
        .map(|&t| {
            let t = t as f64;
            t * t * t - t
        })
        .sum();
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if var.is_nan() || var <= 0.0 {
        return 1.0;
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    erfc(z / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
}

/// Exact two-sided p-value of the doubled rank sum `w2` of a group of `k` among `ranks2`.
fn exact_p(ranks2: &[u64], k: usize, w2: u64) -> f64 {
    let n = ranks2.len();
    // The distribution of the complement's sum is a mirror image: count over the smaller group.
    let total_sum: u64 = ranks2.iter().sum();
    let (k, w2) = if k > n - k {
        (n - k, total_sum - w2)
    } else {
        (k, w2)
    };
    let max_sum = total_sum as usize;
    // counts[j][s]: subsets of j ranks seen so far whose doubled sum is s.
    let mut counts = vec![vec![0f64; max_sum + 1]; k + 1];
    counts[0][0] = 1.0;
    for (seen, &r) in ranks2.iter().enumerate() {
        let r = r as usize;
        for j in (1..=k.min(seen + 1)).rev() {
            let (lower, upper) = counts.split_at_mut(j);
            let from = &lower[j - 1];
            let to = &mut upper[0];
            for s in (r..=max_sum).rev() {
                if from[s - r] != 0.0 {
                    to[s] += from[s - r];
                }
            }
        }
    }
    // Mean doubled rank sum of k ranks: k (n + 1).
    let mean2 = (k * (n + 1)) as i64;
    let observed = (w2 as i64 - mean2).abs();
    let mut total = 0.0;
    let mut extreme = 0.0;
    for (s, &c) in counts[k].iter().enumerate() {
        total += c;
        if (s as i64 - mean2).abs() >= observed {
            extreme += c;
        }
    }
    if total > 0.0 {
        (extreme / total).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// The complementary error function (Numerical Recipes' Chebyshev fit, relative error below
/// 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The smallest two-sided p-value a Mann-Whitney test of `n1` against `n2` values (no ties) can
/// give: `2 / C(n1 + n2, n1)`, capped at 1. 1 when either is 0.
pub fn min_p_value(n1: usize, n2: usize) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let k = n1.min(n2);
    let n = n1 + n2;
    let mut c = 1.0f64;
    for i in 0..k {
        c = c * (n - i) as f64 / (i + 1) as f64;
    }
    (2.0 / c).min(1.0)
}

/// Whether two sets of repetitions are told apart, and if not, why (the rule is in the module
/// documentation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "separation", rename_all = "snake_case")]
pub enum Separation {
    /// Told apart: disjoint ranges and `p <= ALPHA`.
    Apart {
        /// Two-sided Mann-Whitney p-value.
        p_value: f64,
    },
    /// The min..max ranges overlap (or touch).
    Overlap {
        /// Two-sided Mann-Whitney p-value, for information.
        p_value: f64,
    },
    /// Ranges are disjoint but the test does not reach `ALPHA` (only possible with the normal
    /// approximation; kept for completeness).
    NotSignificant {
        /// Two-sided Mann-Whitney p-value.
        p_value: f64,
    },
    /// Ranges are disjoint, but with this few repetitions no test can reach `ALPHA`.
    TooFewRepetitions {
        /// The smallest p-value these sample sizes allow.
        min_p_value: f64,
    },
    /// A side has a single repetition: no spread, no test possible.
    SingleRepetition,
    /// A side has no finite value at all.
    NoData,
}

impl Separation {
    /// True only for [`Separation::Apart`].
    pub fn is_apart(&self) -> bool {
        matches!(self, Separation::Apart { .. })
    }

    /// The test's p-value, where one was computed.
    pub fn p_value(&self) -> Option<f64> {
        match *self {
            Separation::Apart { p_value }
            | Separation::Overlap { p_value }
            | Separation::NotSignificant { p_value } => Some(p_value),
            _ => None,
        }
    }

    /// Why two sets are not told apart, in words (`None` when they are).
    pub fn describe(&self, n1: usize, n2: usize) -> Option<String> {
        match *self {
            Separation::Apart { .. } => None,
            Separation::Overlap { .. } => Some("repetition ranges overlap".into()),
            Separation::NotSignificant { p_value } => Some(format!(
                "Mann-Whitney p = {p_value:.2} > {ALPHA:.2}"
            )),
            Separation::TooFewRepetitions { min_p_value } => Some(format!(
                "{n1} vs {n2} repetitions are too few for a test (p >= {min_p_value:.2} > {ALPHA:.2} at best); use 3 or more"
            )),
            Separation::SingleRepetition => Some(
                "a single repetition has no spread: no test possible; use 3 or more repetitions"
                    .into(),
            ),
            Separation::NoData => Some("not measured".into()),
        }
    }
}

/// Applies copybench's rule (module documentation) to two sets of repetitions.
pub fn separate(a: &[f64], b: &[f64]) -> Separation {
    let a = finite(a);
    let b = finite(b);
    if a.is_empty() || b.is_empty() {
        return Separation::NoData;
    }
    if a.len() < 2 || b.len() < 2 {
        return Separation::SingleRepetition;
    }
    let range = |v: &[f64]| {
        v.iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            })
    };
    let (a_lo, a_hi) = range(&a);
    let (b_lo, b_hi) = range(&b);
    let p_value = mann_whitney(&a, &b).map_or(1.0, |m| m.p_value);
    if a_hi >= b_lo && b_hi >= a_lo {
        return Separation::Overlap { p_value };
    }
    let min_p = min_p_value(a.len(), b.len());
    if !significant(min_p) {
        return Separation::TooFewRepetitions { min_p_value: min_p };
    }
    if !significant(p_value) {
        return Separation::NotSignificant { p_value };
    }
    Separation::Apart { p_value }
}

/// `p <= ALPHA`, with room for rounding (3 vs 3 gives exactly 2/20).
fn significant(p: f64) -> bool {
    p <= ALPHA * (1.0 + 1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn exact_p_values_match_tables() {
        // Complete separation: p = 2 / C(n1 + n2, n1).
        let m = mann_whitney(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert!(m.exact);
        assert!(close(m.u, 0.0));
        assert!(close(m.p_value, 0.1), "{}", m.p_value);
        let m = mann_whitney(&[4.0, 5.0, 6.0, 7.0], &[1.0, 2.0, 3.0, 3.5]).unwrap();
        assert!(close(m.u, 16.0));
        assert!(close(m.p_value, 2.0 / 70.0));
        // a = {1, 3, 5}, b = {2, 4, 6}: U = 3 (pairs a > b: 3>2, 5>2, 5>4). Of the 20 splits,
        // U <= 3 or U >= 6 in 14 (distribution of U for 3 vs 3: 1,1,2,3,3,3,3,2,1,1).
        let m = mann_whitney(&[1.0, 3.0, 5.0], &[2.0, 4.0, 6.0]).unwrap();
        assert!(close(m.u, 3.0));
        assert!(close(m.p_value, 14.0 / 20.0), "{}", m.p_value);
        // Symmetric in its arguments.
        let m2 = mann_whitney(&[2.0, 4.0, 6.0], &[1.0, 3.0, 5.0]).unwrap();
        assert!(close(m2.p_value, m.p_value));
        assert!(close(m.u + m2.u, 9.0));
    }

    #[test]
    fn ties_and_odd_input() {
        let m = mann_whitney(&[1.0, 1.0], &[1.0, 1.0, 1.0]).unwrap();
        assert_eq!(m.p_value, 1.0);
        assert!(close(m.u, 3.0));
        // Ties across groups: still a valid probability.
        let m = mann_whitney(&[1.0, 2.0, 2.0], &[2.0, 3.0, 3.0]).unwrap();
        assert!(m.p_value > 0.0 && m.p_value <= 1.0);
        assert!(mann_whitney(&[], &[1.0]).is_none());
        assert!(mann_whitney(&[f64::NAN], &[1.0]).is_none());
        let m = mann_whitney(&[1.0, f64::NAN, 2.0], &[3.0, f64::INFINITY]).unwrap();
        assert!(close(m.u, 0.0));
    }

    #[test]
    fn normal_approximation_agrees_with_exact() {
        // 31 vs 31 uses the approximation.
        let a: Vec<f64> = (0..31).map(|i| i as f64).collect();
        let b: Vec<f64> = (0..31).map(|i| i as f64 + 10.5).collect();
        let approx = mann_whitney(&a, &b).unwrap();
        assert!(!approx.exact);
        assert!(approx.p_value < 0.05);
        // 30 vs 30 is exact; away from the far tail the approximation is close to it.
        for shift in [3.5, 6.5, 9.5] {
            let b: Vec<f64> = (0..30).map(|i| i as f64 + shift).collect();
            let exact = mann_whitney(&a[..30], &b).unwrap();
            assert!(exact.exact);
            let normal = normal_p(30, 30, exact.u, &[1; 60]);
            assert!(
                (normal - exact.p_value).abs() < 0.01,
                "shift {shift}: normal {normal}, exact {}",
                exact.p_value
            );
        }
        // Interleaved: no difference.
        let c: Vec<f64> = (0..31).map(|i| i as f64 + 0.5).collect();
        assert!(mann_whitney(&a, &c).unwrap().p_value > 0.5);
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
        assert!((erfc(1.959_964 / std::f64::consts::SQRT_2) - 0.05).abs() < 1e-6);
    }

    #[test]
    fn separation_rule() {
        let p = |v: &[f64], w: &[f64]| separate(v, w);
        assert!(p(&[1.0, 1.1, 1.2], &[2.0, 2.1, 2.2]).is_apart());
        assert!(matches!(
            p(&[1.0, 1.5, 2.0], &[2.0, 2.1, 2.2]),
            Separation::Overlap { .. }
        ));
        assert!(matches!(
            p(&[1.0, 1.1], &[2.0, 2.1]),
            Separation::TooFewRepetitions { .. }
        ));
        assert_eq!(p(&[1.0], &[2.0, 2.1]), Separation::SingleRepetition);
        assert_eq!(p(&[], &[2.0]), Separation::NoData);
        assert_eq!(p(&[f64::NAN, f64::NAN], &[2.0, 3.0]), Separation::NoData);
        assert!(close(min_p_value(3, 3), 0.1));
        assert!(close(min_p_value(2, 2), 1.0 / 3.0));
        assert_eq!(min_p_value(0, 3), 1.0);
        assert_eq!(min_p_value(1, 1), 1.0);
    }

    #[test]
    fn advantage_signs() {
        assert!(close(advantage(12.0, 10.0, Better::Higher).unwrap(), 0.2));
        assert!(close(advantage(8.0, 10.0, Better::Lower).unwrap(), 0.2));
        assert!(advantage(1.0, 0.0, Better::Higher).is_none());
        assert!(advantage(f64::NAN, 1.0, Better::Higher).is_none());
        assert!(advantage(1e300, 1e-300, Better::Higher).is_none());
        assert_eq!(median(&[3.0, f64::NAN, 1.0]), Some(2.0));
        assert_eq!(median(&[]), None);
    }
}
