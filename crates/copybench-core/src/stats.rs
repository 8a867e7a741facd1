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
        let mut v = finite(values);
        let median = median(&v)?;
        v.sort_by(f64::total_cmp);
        let n = v.len();
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
    /// Told apart on their own (disjoint ranges, `p <= ALPHA`), but not after the correction
    /// over the family the test belongs to ([`CORRECTION`]).
    NotAfterCorrection {
        /// Two-sided Mann-Whitney p-value.
        p_value: f64,
        /// The p-value adjusted over the family.
        adjusted_p_value: f64,
        /// Tests in the family.
        family_size: usize,
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
            | Separation::NotSignificant { p_value }
            | Separation::NotAfterCorrection { p_value, .. } => Some(p_value),
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
            Separation::NotAfterCorrection {
                p_value,
                adjusted_p_value,
                family_size,
            } => Some(format!(
                "told apart alone (p = {p_value:.3}) but not after the {} correction over {family_size} sizes (adjusted p = {adjusted_p_value:.3} > {ALPHA:.2})",
                CORRECTION.name()
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
    significant_at(p, ALPHA)
}

/// How a family of tests (every size of a findings group, every figure of a comparison) is
/// corrected for multiplicity, recorded in the findings and comparison JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Benjamini-Hochberg step-up: controls the false discovery rate (the expected share of
    /// false ones among the declared) at the level; when nothing differs at all, the chance of
    /// declaring anything is at most the level too.
    BenjaminiHochberg,
    /// Holm step-down: controls the chance of any false declaration at the level, whatever
    /// differs (stricter than Benjamini-Hochberg).
    Holm,
}

impl Correction {
    /// The method's name in words.
    pub fn name(self) -> &'static str {
        match self {
            Correction::BenjaminiHochberg => "Benjamini-Hochberg",
            Correction::Holm => "Holm",
        }
    }

    /// Adjusted p-values of a family, in the input's order: compare each with the level.
    /// Entries that are `None` (or not finite) are not part of the family and stay `None`; the
    /// family's size is the number of the others.
    pub fn adjust(self, p: &[Option<f64>]) -> Vec<Option<f64>> {
        let mut order: Vec<(usize, f64)> = p
            .iter()
            .enumerate()
            .filter_map(|(i, x)| x.filter(|v| v.is_finite()).map(|v| (i, v.clamp(0.0, 1.0))))
            .collect();
        order.sort_by(|a, b| a.1.total_cmp(&b.1));
        let m = order.len() as f64;
        let mut out = vec![None; p.len()];
        match self {
            Correction::Holm => {
                // q_(i) = max over j <= i of (m - j + 1) p_(j), 1-based.
                let mut running = 0.0f64;
                for (rank, &(i, v)) in order.iter().enumerate() {
                    running = running.max((m - rank as f64) * v).min(1.0);
                    out[i] = Some(running);
                }
            }
            Correction::BenjaminiHochberg => {
                // q_(i) = min over j >= i of m p_(j) / j, 1-based.
                let mut running = 1.0f64;
                for (rank, &(i, v)) in order.iter().enumerate().rev() {
                    running = running.min(m * v / (rank + 1) as f64).min(1.0);
                    out[i] = Some(running);
                }
            }
        }
        out
    }
}

/// The correction every family in copybench uses, at level [`ALPHA`].
pub const CORRECTION: Correction = Correction::BenjaminiHochberg;

/// How a family was corrected, as recorded in the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Multiplicity {
    /// The method.
    pub method: Correction,
    /// The level adjusted p-values are compared with.
    pub level: f64,
    /// What one family is, in words.
    pub family: String,
}

impl Multiplicity {
    /// [`CORRECTION`] at [`ALPHA`] over `family`.
    pub fn new(family: &str) -> Multiplicity {
        Multiplicity {
            method: CORRECTION,
            level: ALPHA,
            family: family.into(),
        }
    }
}

/// `p <= level`, with room for rounding (3 vs 3 gives exactly 2/20).
pub fn significant_at(p: f64, level: f64) -> bool {
    p <= level * (1.0 + 1e-9)
}

/// One-sided Welch t-test on the logarithms: the p-value of "the ratio of `b`'s geometric mean
/// to `a`'s is at least `ratio`" against "it is below `ratio`" (small p: `b` is below `ratio`
/// times `a`, beyond the noise).
///
/// Logarithms because run-to-run noise is multiplicative (a percentage): the test is then the
/// same at 1 Gbps and at 100. `None` unless both have at least 2 positive finite values and
/// `ratio` is positive; with no spread at all on either side the answer is 0 or 1 by the sign.
pub fn log_ratio_below(a: &[f64], b: &[f64], ratio: f64) -> Option<f64> {
    let logs = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .copied()
            .filter(|x| x.is_finite() && *x > 0.0)
            .map(f64::ln)
            .collect()
    };
    let (la, lb) = (logs(a), logs(b));
    if la.len() < 2 || lb.len() < 2 || !(ratio > 0.0 && ratio.is_finite()) {
        return None;
    }
    let mean_var = |v: &[f64]| {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var / n)
    };
    let ((ma, va), (mb, vb)) = (mean_var(&la), mean_var(&lb));
    let diff = mb - ma - ratio.ln();
    let se2 = va + vb;
    if se2 <= 0.0 || !se2.is_finite() {
        return Some(if diff < 0.0 { 0.0 } else { 1.0 });
    }
    let t = diff / se2.sqrt();
    // Welch-Satterthwaite degrees of freedom.
    let df = se2 * se2
        / (va * va / (la.len() as f64 - 1.0) + vb * vb / (lb.len() as f64 - 1.0))
            .max(f64::MIN_POSITIVE);
    Some(student_t_cdf(t, df).clamp(0.0, 1.0))
}

/// P(T <= t) for Student's t with `df` degrees of freedom (through the regularized incomplete
/// beta function).
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return if t > 0.0 { 1.0 } else { 0.0 };
    }
    let x = df / (df + t * t);
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, x);
    if t > 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// ln Gamma(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 digits).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized incomplete beta function I_x(a, b) (Numerical Recipes' continued fraction).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    // One step of Lentz's method: the fraction's next term `aa` updates c and d; the product
    // of the new pair multiplies h.
    let step = |aa: f64, c: &mut f64, d: &mut f64| {
        let nonzero = |v: f64| if v.abs() < TINY { TINY } else { v };
        *d = 1.0 / nonzero(1.0 + aa * *d);
        *c = nonzero(1.0 + aa / *c);
        *d * *c
    };
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        h *= step(m * (b - m) * x / ((qam + m2) * (a + m2)), &mut c, &mut d);
        let del = step(
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
            &mut c,
            &mut d,
        );
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// A small deterministic random generator (SplitMix64) for the bootstrap and for simulations:
/// the same seed gives the same findings, file after file; no dependency needed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for n far below 2^64.
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// `values` resampled with replacement (same length).
    pub fn resample(&mut self, values: &[f64]) -> Vec<f64> {
        (0..values.len())
            .map(|_| values[self.below(values.len())])
            .collect()
    }
}

/// The `q` quantile (0..=1) of `sorted` (ascending), by linear interpolation between order
/// statistics; `None` when empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !q.is_finite() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
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
    #[test]
    fn corrections_match_hand_computation() {
        let p = [Some(0.01), Some(0.04), None, Some(0.03), Some(0.20)];
        // Holm, m = 4: sorted 0.01, 0.03, 0.04, 0.20 -> 0.04, 0.09, max(0.09, 0.08), 0.20.
        let h = Correction::Holm.adjust(&p);
        let want = [Some(0.04), Some(0.09), None, Some(0.09), Some(0.20)];
        for (g, w) in h.iter().zip(want) {
            assert_eq!(g.is_some(), w.is_some());
            if let (Some(g), Some(w)) = (g, w) {
                assert!(close(*g, w), "{h:?}");
            }
        }
        // BH, m = 4: 0.20 * 4/4 = 0.20; 0.04 * 4/3 = 0.0533; 0.03 * 4/2 = 0.06 -> min 0.0533;
        // 0.01 * 4 = 0.04.
        let b = CORRECTION.adjust(&p);
        let want = [0.04, 0.04 * 4.0 / 3.0, f64::NAN, 0.04 * 4.0 / 3.0, 0.20];
        for (g, w) in b.iter().zip(want) {
            match g {
                Some(g) => assert!(close(*g, w), "{b:?}"),
                None => assert!(w.is_nan()),
            }
        }
        // Every p = 0.10 of 4: BH keeps all at 0.10, Holm lifts all to 0.40.
        let all = [Some(0.1); 4];
        assert!(CORRECTION
            .adjust(&all)
            .iter()
            .all(|q| close(q.unwrap(), 0.1)));
        assert!(Correction::Holm
            .adjust(&all)
            .iter()
            .all(|q| close(q.unwrap(), 0.4)));
        assert!(CORRECTION.adjust(&[]).is_empty());
        assert_eq!(CORRECTION.adjust(&[Some(f64::NAN)]), vec![None]);
    }

    #[test]
    fn student_t_matches_tables() {
        // Two-sided 5% critical values: df 1: 12.706, df 4: 2.776, df 30: 2.042.
        for (t, df) in [(12.706, 1.0), (2.776, 4.0), (2.042, 30.0)] {
            let p = student_t_cdf(-t, df);
            assert!((p - 0.025).abs() < 2e-4, "df {df}: {p}");
            assert!((student_t_cdf(t, df) - 0.975).abs() < 2e-4);
        }
        assert!(close(student_t_cdf(0.0, 3.0), 0.5));
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn log_ratio_test_sides() {
        let old = [100.0, 101.0, 99.0];
        // 30% lower: well below 0.9 x old.
        let p = log_ratio_below(&old, &[70.0, 70.5, 69.5], 0.9).unwrap();
        assert!(p < 0.001, "{p}");
        // Unchanged: far from below 0.9.
        let p = log_ratio_below(&old, &[100.5, 99.5, 100.0], 0.9).unwrap();
        assert!(p > 0.99, "{p}");
        // Exactly at the bound: p near 0.5.
        let p = log_ratio_below(&old, &[90.0, 90.9, 89.1], 0.9).unwrap();
        assert!((p - 0.5).abs() < 0.05, "{p}");
        assert!(log_ratio_below(&[1.0], &[1.0, 2.0], 0.9).is_none());
        assert!(log_ratio_below(&[0.0, -1.0, 1.0], &[1.0, 2.0], 0.9).is_none());
        assert_eq!(log_ratio_below(&[1.0, 1.0], &[0.5, 0.5], 0.9), Some(0.0));
    }

    #[test]
    fn log_ratio_test_holds_its_level() {
        // Normal noise on the log scale, true ratio exactly at the bound: p <= 0.10 about 10%
        // of the time (Welch's test is close to exact for equal variances).
        let mut rng = Rng::new(7);
        let trials = 4000;
        let mut hits = 0;
        for _ in 0..trials {
            let a: Vec<f64> = (0..5).map(|_| (0.05 * rng.normal()).exp()).collect();
            let b: Vec<f64> = (0..5).map(|_| 0.9 * (0.05 * rng.normal()).exp()).collect();
            if log_ratio_below(&a, &b, 0.9).unwrap() <= 0.10 {
                hits += 1;
            }
        }
        let rate = hits as f64 / trials as f64;
        assert!((0.07..0.13).contains(&rate), "{rate}");
    }

    #[test]
    fn rng_and_quantiles() {
        let mut r = Rng::new(1);
        let mut s = Rng::new(1);
        assert_eq!(r.next_u64(), s.next_u64());
        let mean: f64 = (0..10000).map(|_| r.unit()).sum::<f64>() / 10000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        assert!((0..1000).all(|_| r.below(3) < 3));
        assert_eq!(r.below(0), 0);
        let z: Vec<f64> = (0..10000).map(|_| r.normal()).collect();
        let m = z.iter().sum::<f64>() / z.len() as f64;
        let v = z.iter().map(|x| (x - m).powi(2)).sum::<f64>() / z.len() as f64;
        assert!(m.abs() < 0.05 && (v - 1.0).abs() < 0.05, "{m} {v}");
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[1.0, 2.0], 0.25), Some(1.25));
        assert_eq!(quantile(&[], 0.5), None);
        let v = [5.0, 6.0, 7.0];
        assert!(r.resample(&v).iter().all(|x| v.contains(x)));
    }
}
