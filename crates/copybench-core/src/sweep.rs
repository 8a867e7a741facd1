//! The order in which a matrix of points runs, and statistics over repetitions.

use serde::{Deserialize, Serialize};

use crate::engine::PointParams;
use crate::model::{Mode, ReceiveKind, StrategyKind};
use crate::result::Point;
pub use crate::stats::{Spread, NOISY_CV};

/// Every point of the matrix strategies x sizes x threads x repetitions, in run order.
///
/// Strategies are interleaved: each (size, threads) cell runs every strategy back to back, and
/// the order of strategies rotates from one repetition to the next, so that slow drift of the
/// machine (thermal, other load) spreads over all strategies instead of favouring one. All
/// cells of repetition 0 run before any of repetition 1.
pub fn plan(
    template: &PointParams,
    strategies: &[StrategyKind],
    sizes: &[usize],
    threads: &[usize],
    repetitions: usize,
) -> Vec<PointParams> {
    plan_at_rates(template, strategies, sizes, threads, &[None], repetitions)
}

/// [`plan`] with paced rates as one more dimension of the grid: a cell is (size, threads,
/// rate), `None` an unpaced cell. Strategies are interleaved within every cell and rotate as in
/// [`plan`]; every cell of a repetition runs before the next repetition.
pub fn plan_at_rates(
    template: &PointParams,
    strategies: &[StrategyKind],
    sizes: &[usize],
    threads: &[usize],
    rates: &[Option<u64>],
    repetitions: usize,
) -> Vec<PointParams> {
    let grid = Grid {
        strategies,
        receives: &[template.receive],
        sizes,
        threads,
        rates,
    };
    plan_grid(template, &grid, repetitions)
}

/// [`plan`] with receive strategies as a second axis: every (send, receive) pair of a cell
/// runs back to back, the pairs interleaved and rotated per repetition exactly as
/// strategies are, so that every send strategy meets every receive strategy under the same
/// drift. With one receive strategy this is [`plan`] with that strategy set.
pub fn plan_with_receives(
    template: &PointParams,
    strategies: &[StrategyKind],
    receives: &[ReceiveKind],
    sizes: &[usize],
    threads: &[usize],
    repetitions: usize,
) -> Vec<PointParams> {
    let grid = Grid {
        strategies,
        receives,
        sizes,
        threads,
        rates: &[template.rate_bps],
    };
    plan_grid(template, &grid, repetitions)
}

/// The axes of a run's grid: a cell is (size, threads, rate); within a cell every (send,
/// receive) pair runs back to back.
#[derive(Debug, Clone, Copy)]
pub struct Grid<'a> {
    /// Send strategies.
    pub strategies: &'a [StrategyKind],
    /// Receive strategies.
    pub receives: &'a [ReceiveKind],
    /// Message sizes, bytes.
    pub sizes: &'a [usize],
    /// Connection counts.
    pub threads: &'a [usize],
    /// Paced rates per connection (`None`: unpaced).
    pub rates: &'a [Option<u64>],
}

/// Every point of `grid` x repetitions, in run order: the (send, receive) pairs of a cell
/// interleaved, their order rotating from one cell and repetition to the next, every cell of
/// a repetition before the next repetition.
pub fn plan_grid(template: &PointParams, grid: &Grid<'_>, repetitions: usize) -> Vec<PointParams> {
    let pairs: Vec<(StrategyKind, ReceiveKind)> = grid
        .strategies
        .iter()
        .flat_map(|&s| grid.receives.iter().map(move |&r| (s, r)))
        .collect();
    let cells = grid.sizes.len() * grid.threads.len() * grid.rates.len();
    let mut out = Vec::with_capacity(pairs.len() * cells * repetitions);
    for repetition in 0..repetitions {
        // Counted within the repetition: rotating by a global cell count plus the repetition
        // would repeat the same orders whenever (cells per repetition + 1) is a multiple of
        // the number of strategies (4 cells and 5 strategies).
        let mut cell = 0usize;
        for &msg_size in grid.sizes {
            for &t in grid.threads {
                for &rate_bps in grid.rates {
                    let n = pairs.len().max(1);
                    for k in 0..pairs.len() {
                        let (strategy, receive) = pairs[(k + cell + repetition) % n];
                        out.push(PointParams {
                            strategy,
                            receive,
                            msg_size,
                            threads: t,
                            repetition,
                            rate_bps,
                            ..template.clone()
                        });
                    }
                    cell += 1;
                }
            }
        }
    }
    out
}

/// A cell of the matrix summarized over its repetitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSummary {
    /// The send strategy.
    pub strategy: StrategyKind,
    /// The receive strategy (`read` for results written before it was a choice).
    #[serde(default)]
    pub receive: ReceiveKind,
    /// Message size in bytes.
    pub msg_size: usize,
    /// Connections.
    pub threads: usize,
    /// What was measured.
    pub mode: Mode,
    /// Points behind the figures.
    pub repetitions: usize,
    /// Payload Gbps.
    pub throughput_gbps: Option<Spread>,
    /// Median latency, microseconds.
    pub latency_p50_us: Option<Spread>,
    /// 99th-percentile latency, microseconds.
    pub latency_p99_us: Option<Spread>,
    /// Round trips per second (rr).
    pub transactions_per_s: Option<Spread>,
    /// Sender thread CPU ns per payload byte.
    pub sender_cpu_ns_per_byte: Option<Spread>,
    /// Share of zero-copy completions the kernel copied, over every repetition.
    pub copied_ratio: Option<f64>,
    /// `zerocopy` receive: the share of the received payload the kernel mapped, over every
    /// repetition (`null` for the other receive strategies).
    #[serde(default)]
    pub mapped_ratio: Option<f64>,
    /// Every repetition verified.
    pub verified: bool,
    /// Nothing could verify any repetition (sink: no receiver).
    #[serde(default)]
    pub not_verifiable: bool,
    /// Errors of any repetition.
    pub errors: Vec<String>,
    /// Paced cells (`--rate`): the per-connection target rate, bits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_bps: Option<u64>,
    /// Paced cells: the senders' CPU utilisation, percent of one CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_cpu_utilisation_pct: Option<Spread>,
}

/// Groups points by (strategy, receive strategy, size, threads, mode, target rate), in
/// first-seen order.
pub fn summarize(points: &[Point]) -> Vec<CellSummary> {
    let mut keys: Vec<(StrategyKind, ReceiveKind, usize, usize, Mode, Option<u64>)> = Vec::new();
    for p in points {
        let key = (
            p.strategy,
            p.receive,
            p.msg_size,
            p.threads,
            p.mode,
            p.target_rate_bps(),
        );
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|(strategy, receive, msg_size, threads, mode, rate_bps)| {
            let cell: Vec<&Point> = points
                .iter()
                .filter(|p| {
                    p.strategy == strategy
                        && p.receive == receive
                        && p.msg_size == msg_size
                        && p.threads == threads
                        && p.mode == mode
                        && p.target_rate_bps() == rate_bps
                })
                .collect();
            let spread = |f: &dyn Fn(&Point) -> Option<f64>| {
                Spread::of(&cell.iter().filter_map(|p| f(p)).collect::<Vec<_>>())
            };
            let (copied, completions) = cell
                .iter()
                .filter_map(|p| p.zerocopy.as_ref())
                .fold((0u64, 0u64), |(c, n), z| (c + z.copied, n + z.completions));
            CellSummary {
                strategy,
                receive,
                msg_size,
                threads,
                repetitions: cell.len(),
                throughput_gbps: spread(&|p| (p.duration_s > 0.0).then_some(p.throughput_gbps)),
                latency_p50_us: spread(&|p| p.latency_us.as_ref().map(|l| l.p50)),
                latency_p99_us: spread(&|p| p.latency_us.as_ref().map(|l| l.p99)),
                transactions_per_s: spread(&|p| p.transactions_per_s),
                sender_cpu_ns_per_byte: spread(&|p| p.sender.cpu_ns_per_byte),
                copied_ratio: (completions > 0).then(|| copied as f64 / completions as f64),
                mapped_ratio: {
                    let (mapped, received) = cell
                        .iter()
                        .filter_map(|p| p.receiver.mapped_bytes.zip(p.receiver.bytes))
                        .fold((0u64, 0u64), |(m, r), (a, b)| (m + a, r + b));
                    (received > 0).then(|| mapped as f64 / received as f64)
                },
                verified: cell.iter().all(|p| p.verified),
                not_verifiable: cell.iter().all(|p| p.not_verifiable.is_some()),
                errors: cell.iter().filter_map(|p| p.error.clone()).collect(),
                mode,
                rate_bps,
                sender_cpu_utilisation_pct: rate_bps
                    .and_then(|_| spread(&|p| p.sender.cpu_utilisation_pct)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_interleaves_and_rotates_strategies() {
        let t = PointParams::new(StrategyKind::TwoCopy, 1, 1);
        let all = StrategyKind::ALL;
        let n = all.len();
        for (sizes, threads) in [(&[1024, 4096][..], &[1, 2][..]), (&[1024][..], &[1][..])] {
            let cells = sizes.len() * threads.len();
            let reps = n;
            let p = plan(&t, &all, sizes, threads, reps);
            assert_eq!(p.len(), n * cells * reps);
            // Each run of n consecutive points is one cell with every strategy once.
            for cell in p.chunks(n) {
                let mut kinds: Vec<_> = cell.iter().map(|x| x.strategy).collect();
                kinds.sort();
                assert_eq!(kinds, all.to_vec());
                assert!(cell.iter().all(|x| x.msg_size == cell[0].msg_size));
                assert!(cell.iter().all(|x| x.threads == cell[0].threads));
            }
            // Every cell leads with a different strategy in each repetition.
            for c in 0..cells {
                let firsts: std::collections::HashSet<_> = p
                    .chunks(n)
                    .skip(c)
                    .step_by(cells)
                    .map(|cell| cell[0].strategy)
                    .collect();
                assert_eq!(firsts.len(), n, "cell {c} of {cells}");
            }
            assert!(p[..n * cells].iter().all(|x| x.repetition == 0));
        }
    }

    #[test]
    fn every_repetition_of_every_cell_starts_with_another_strategy_for_every_grid() {
        // Up to 4 strategies x 6 cells x 4 repetitions, every shape: the first strategy of a
        // cell differs between any two repetitions (as long as there are strategies enough).
        let t = PointParams::new(StrategyKind::TwoCopy, 1, 1);
        for n in 1..=4 {
            let strategies = &StrategyKind::ALL[..n];
            for (sizes, threads) in (1..=6).flat_map(|c| {
                let sizes: Vec<usize> = (1..=c).map(|i| i * 1024).collect();
                [(sizes.clone(), vec![1]), (vec![1024], (1..=c).collect())]
            }) {
                let cells = sizes.len() * threads.len();
                for reps in 1..=4 {
                    let p = plan(&t, strategies, &sizes, &threads, reps);
                    for c in 0..cells {
                        let firsts: Vec<_> = p
                            .chunks(n)
                            .skip(c)
                            .step_by(cells)
                            .map(|cell| cell[0].strategy)
                            .collect();
                        let distinct: std::collections::HashSet<_> = firsts.iter().collect();
                        assert_eq!(
                            distinct.len(),
                            reps.min(n),
                            "{n} strategies, {cells} cells, {reps} repetitions, cell {c}: {firsts:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rates_are_cells_of_the_grid_with_strategies_interleaved() {
        let t = PointParams::new(StrategyKind::TwoCopy, 1, 1);
        let all = StrategyKind::ALL;
        let rates = [Some(1_000_000_000), Some(4_000_000_000)];
        let p = plan_at_rates(&t, &all, &[4096, 65536], &[1], &rates, 2);
        assert_eq!(p.len(), all.len() * 4 * 2);
        for cell in p.chunks(all.len()) {
            assert!(cell.iter().all(|x| x.rate_bps == cell[0].rate_bps));
            assert!(cell.iter().all(|x| x.msg_size == cell[0].msg_size));
            let mut kinds: Vec<_> = cell.iter().map(|x| x.strategy).collect();
            kinds.sort();
            assert_eq!(kinds, all.to_vec());
        }
        let cells: Vec<_> = p[..all.len() * 4]
            .chunks(all.len())
            .map(|c| (c[0].msg_size, c[0].rate_bps))
            .collect();
        assert_eq!(
            cells,
            [
                (4096, rates[0]),
                (4096, rates[1]),
                (65536, rates[0]),
                (65536, rates[1])
            ]
        );
        // Unpaced, the grid is plan's.
        assert_eq!(
            plan_at_rates(&t, &all, &[4096], &[1, 2], &[None], 3),
            plan(&t, &all, &[4096], &[1, 2], 3)
        );
    }

    #[test]
    fn spread_statistics() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert!((s.cv.unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(Spread::of(&[1.0, 2.0, 3.0, 10.0]).unwrap().median, 2.5);
        assert_eq!(Spread::of(&[5.0]).unwrap().cv, None);
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[f64::NAN]), None);
    }
}
