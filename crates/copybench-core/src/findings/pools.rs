//! Mixed buffer pools within a group: which strategies ran, at a size, from a pool of another
//! size than the others there, by how much, and the `mixed_pools` caveat that says it.
//!
//! A pool's size decides how warm its buffers are: on hot data a copying strategy sends from
//! the one buffer it just released, while `sendfile` and `splice` rewrite a buffer only once
//! the peer acknowledged it plus what a receiver may hold unread, so they need (and cycle
//! through) a pool about nine times the hot default. Their figures then come from colder
//! buffers than their neighbours' in the same comparison; `--data cold` runs every strategy
//! from one pool (`PointParams::cold_pool`).

use std::collections::{BTreeMap, BTreeSet};

use super::size_text;
use crate::model::findings::{Caveat, CaveatKind, PoolDifference, POOL_TOLERANCE};
use crate::model::StrategyKind;
use crate::result::{Point, COPYBENCH_TOOL};

/// Every (strategy, size) of `points` (one group) whose pool differs from the others' at that
/// size by more than [`POOL_TOLERANCE`], by size then strategy. Points without a recorded pool
/// (`pool_bytes` 0: files from before it was recorded) and peers' points (their buffers are
/// their own) take no part.
pub(crate) fn pool_differences(points: &[&Point]) -> Vec<PoolDifference> {
    // (size, strategy) -> the pools of its repetitions.
    let mut pools: BTreeMap<(usize, StrategyKind), Vec<u64>> = BTreeMap::new();
    for p in points
        .iter()
        .filter(|p| p.tool == COPYBENCH_TOOL && p.pool_bytes > 0)
    {
        pools
            .entry((p.msg_size, p.strategy))
            .or_default()
            .push(p.pool_bytes);
    }
    let sizes: BTreeSet<usize> = pools.keys().map(|&(size, _)| size).collect();
    let mut out = Vec::new();
    for size in sizes {
        let at: Vec<(StrategyKind, u64)> = pools
            .iter()
            .filter(|((s, _), _)| *s == size)
            .map(|(&(_, strategy), v)| (strategy, median_pool(v)))
            .collect();
        let Some(others) = common_pool(&at) else {
            continue;
        };
        for (strategy, pool_bytes) in at {
            let ratio = pool_bytes as f64 / others as f64;
            if (ratio - 1.0).abs() > POOL_TOLERANCE {
                out.push(PoolDifference {
                    strategy,
                    msg_size: size,
                    pool_bytes,
                    others_pool_bytes: others,
                    ratio,
                });
            }
        }
    }
    out
}

/// The middle of a cell's pools (its repetitions normally share one), the lower on an even count.
fn median_pool(pools: &[u64]) -> u64 {
    let mut sorted = pools.to_vec();
    sorted.sort_unstable();
    sorted[(sorted.len() - 1) / 2]
}

/// The pool most strategies at one size share, the smaller on a tie; `None` with fewer than
/// two strategies (nothing to compare).
fn common_pool(at: &[(StrategyKind, u64)]) -> Option<u64> {
    if at.len() < 2 {
        return None;
    }
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for &(_, pool) in at {
        *counts.entry(pool).or_default() += 1;
    }
    // From the largest pool down: `max_by_key` keeps the last of equal counts, the smaller pool.
    counts
        .into_iter()
        .rev()
        .max_by_key(|&(_, n)| n)
        .map(|(pool, _)| pool)
}

/// The `mixed_pools` caveat of a group's differences, or `None` when there are none:
/// "sendfile (all sizes): a 74 MiB pool per connection against the others' 8 MiB (9.3x) ...".
pub(crate) fn mixed_pools_caveat(
    differences: &[PoolDifference],
    sizes: &BTreeSet<usize>,
) -> Option<Caveat> {
    if differences.is_empty() {
        return None;
    }
    let strategies: BTreeSet<StrategyKind> = differences.iter().map(|d| d.strategy).collect();
    let each: Vec<String> = strategies
        .iter()
        .map(|&s| {
            let mine: Vec<&PoolDifference> =
                differences.iter().filter(|d| d.strategy == s).collect();
            let at: BTreeSet<usize> = mine.iter().map(|d| d.msg_size).collect();
            let where_ = if &at == sizes {
                "all sizes".to_string()
            } else {
                at.iter()
                    .map(|&b| size_text(b as f64))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let bytes =
                |f: fn(&PoolDifference) -> u64| range(mine.iter().map(|d| f(d) as f64), size_text);
            format!(
                "{s} ({where_}): {} per connection against the others' {} ({})",
                bytes(|d| d.pool_bytes),
                bytes(|d| d.others_pool_bytes),
                range(mine.iter().map(|d| d.ratio), |r| format!("{r:.1}x"))
            )
        })
        .collect();
    let by_reference: Vec<String> = strategies
        .iter()
        .filter(|s| s.by_reference())
        .map(|s| s.to_string())
        .collect();
    let why = if by_reference.is_empty() {
        String::new()
    } else {
        let (verb, pronoun) = if by_reference.len() == 1 {
            ("rewrites", "it needs")
        } else {
            ("rewrite", "they need")
        };
        format!(
            "; {} {verb} a buffer only once the peer acknowledged it plus what a receiver may \
             hold unread, so {pronoun} the larger pool",
            by_reference.join(" and ")
        )
    };
    Some(Caveat {
        kind: CaveatKind::MixedPools,
        text: format!(
            "buffer pools differ within this comparison: {}{why}; a larger pool keeps fewer of \
             its buffers in cache, so these figures are not on the same buffer temperature as \
             the others' (--data cold runs every strategy from one pool)",
            each.join(", ")
        ),
    })
}

/// `lo` or `lo..hi` of some values, each written by `text`.
fn range(values: impl Iterator<Item = f64>, text: impl Fn(f64) -> String) -> String {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo_text, hi_text) = (text(lo), text(hi));
    if lo_text == hi_text {
        lo_text
    } else {
        format!("{lo_text}..{hi_text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_pool_is_the_one_most_strategies_share_the_smaller_on_a_tie() {
        use StrategyKind::*;
        assert_eq!(
            common_pool(&[(TwoCopy, 8), (ScatterGather, 8), (Sendfile, 74)]),
            Some(8)
        );
        assert_eq!(common_pool(&[(TwoCopy, 8), (Sendfile, 74)]), Some(8));
        assert_eq!(
            common_pool(&[(TwoCopy, 8), (Sendfile, 74), (Splice, 74)]),
            Some(74)
        );
        assert_eq!(common_pool(&[(TwoCopy, 8)]), None);
    }

    #[test]
    fn a_range_collapses_when_both_ends_read_the_same() {
        assert_eq!(
            range([9.31, 9.33].into_iter(), |r| format!("{r:.1}x")),
            "9.3x"
        );
        assert_eq!(
            range([1.2, 9.3].into_iter(), |r| format!("{r:.1}x")),
            "1.2x..9.3x"
        );
    }
}
