//! From points to [`Findings`]: groups, verdicts, ratios, break-evens and caveats.

use std::collections::BTreeSet;

use super::size_text;
use crate::bracket::{bracket, SizeSamples};
use crate::model::findings::*;
use crate::model::{Mode, Protocol, StrategyKind, TopologyKind};
use crate::result::{Point, RunResults, STALL_SHARE};
use crate::stats::{
    advantage, median, separate, significant_at, Better, Separation, Spread, ALPHA, CORRECTION,
    NOISY_CV,
};

/// True when a receiver took part in the point (a sink topology has none: nothing verified,
/// no receiver figures).
pub(crate) fn has_receiver(p: &Point) -> bool {
    if p.not_verifiable.is_some() {
        return false;
    }
    p.receiver.counters.is_some()
        || p.receiver.cpu_ns_per_byte.is_some()
        || p.per_thread
            .iter()
            .any(|t| t.received_bytes.is_some_and(|b| b > 0))
}

/// A point whose figures may compete: verified, or with no receiver that could verify it.
fn trusted(p: &Point) -> bool {
    p.verified || !has_receiver(p)
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
pub fn findings(points: &[Point], topology: TopologyKind, protocol: Protocol) -> Findings {
    // sendfile and splice copy nothing on the sender either (the kernel references their
    // pages): they are weighed against the copying strategies as the zero-copy ones are.
    let zero_copy: BTreeSet<StrategyKind> = points
        .iter()
        .filter(|p| p.zerocopy.is_some() || p.strategy.by_reference())
        .map(|p| p.strategy)
        .collect();
    // By mode name then threads (`rr` before `stream`), the order the JSON has always had;
    // then the target rate of paced points (unpaced first): a rate is part of the key, so
    // strategies paced differently are never compared.
    let keys: BTreeSet<(&str, Mode, usize, Option<u64>)> = points
        .iter()
        .map(|p| (p.mode.name(), p.mode, p.threads, p.target_rate_bps()))
        .collect();
    let groups = keys
        .into_iter()
        .map(|(_, mode, threads, rate)| {
            let mine: Vec<&Point> = points
                .iter()
                .filter(|p| p.threads == threads && p.mode == mode)
                .filter(|p| p.target_rate_bps() == rate)
                .collect();
            let mut g = group(&mine, topology, protocol, mode, threads, rate, &zero_copy);
            if let Some(rate) = rate {
                g.savings = super::paced::savings(&g.sizes, rate, topology);
                g.caveats.extend(super::paced::missed_rate(&mine));
            }
            g
        })
        .collect();
    Findings {
        rules: Rules::default(),
        groups,
        caveats: Vec::new(),
        receive: None,
    }
}

/// The findings of a whole run: [`findings`] over its points on its topology, plus run-wide
/// caveats (strategies this machine refused, failed points, an interrupted run).
pub fn findings_for_run(results: &RunResults) -> Findings {
    let config = &results.config;
    // Several receive strategies: the send strategies are compared over one of them (`read`
    // where it ran), the receive strategies in `receive` (findings/receive.rs).
    let primary = super::primary_receive(&results.points);
    let one_receive: Vec<Point> = results
        .points
        .iter()
        .filter(|p| Some(p.receive) == primary)
        .cloned()
        .collect();
    let mut f = findings(&one_receive, config.topology.kind, config.protocol);
    f.receive = super::receive_findings(&results.points);
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
    topology: TopologyKind,
    protocol: Protocol,
    mode: Mode,
    threads: usize,
    rate_bps: Option<u64>,
    zero_copy: &BTreeSet<StrategyKind>,
) -> Group {
    // Paced: every strategy moved the same load, so the cost ranks them.
    let metric = match rate_bps {
        Some(_) => Figure::SenderCpuNsPerByte,
        None => Figure::ranking(mode),
    };
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
        // A paced group ranks by CPU per byte already: one break-even, not the same twice.
        let figures: &[Figure] = if metric == Figure::SenderCpuNsPerByte {
            &[Figure::SenderCpuNsPerByte]
        } else {
            &[metric, Figure::SenderCpuNsPerByte]
        };
        for &figure in figures {
            break_even.push(break_even_of(&cells, &sizes, z, figure, zero_copy));
        }
    }

    let pool_differences = super::pools::pool_differences(points);
    let mut caveats = group_caveats(&cells, &sizes, &strategies, metric, topology, zero_copy);
    caveats.extend(super::pools::mixed_pools_caveat(&pool_differences, &sizes));
    Group {
        topology,
        protocol,
        mode,
        threads,
        metric,
        sizes: size_findings,
        break_even,
        caveats,
        rate_bps,
        savings: Vec::new(),
        pool_differences,
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
    topology: TopologyKind,
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
            let why = if topology.is_local_delivery() {
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

    let stalled: Vec<&Point> = all
        .iter()
        .flat_map(|c| c.points.iter().copied())
        .filter(|p| p.stalled())
        .collect();
    if !stalled.is_empty() {
        let cells: Vec<(StrategyKind, usize)> =
            stalled.iter().map(|p| (p.strategy, p.msg_size)).collect();
        let longest = stalled
            .iter()
            .filter_map(|p| p.longest_send_s)
            .fold(0.0, f64::max);
        out.push(caveat(
            CaveatKind::Stalled,
            format!(
                "{} point(s) stalled ({}): one send blocked for up to {:.0} ms, at least {:.0}% \
                 of the measured interval; they are kept as measured (bytes possibly 0) and \
                 pull their cells down (docs/stalls.md says why)",
                stalled.len(),
                list_cells(&cells, sizes),
                longest * 1e3,
                STALL_SHARE * 100.0
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
