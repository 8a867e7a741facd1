//! `copybench run --refine`: after the sweep, measure further sizes inside every open
//! break-even bracket (wider than 1.5x) of the ranking figure, with `copybench crossover`'s
//! bisection ([`Bisection`]), the run's template, target, hooks and placement, until each
//! bracket is at most 1.5x wide or the budget of added sizes is spent. Refined points are
//! marked (`refined: true`) and the run records what was refined (`config.refine`).

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use copybench_core::bracket::REFINED_WIDTH;
use copybench_core::crossover::{Bisection, Step};
use copybench_core::engine::EngineError;
use copybench_core::findings::{size_text, BreakEven, Figure};
use copybench_core::result::{Point, RefineRecord, RunResults};
use copybench_core::stats::median;
use copybench_core::StrategyKind;

use super::{sweep, RunPlan, Target};
use crate::export::Outputs;
use crate::hooks::CliHooks;

/// Refined sizes are whole KiB: sizes a program would send, and which every strategy accepts
/// (MSG_ZEROCOPY over UDP refused 44151, 40000 and 50000 bytes with EMSGSIZE on the sink here,
/// 44160 and 45056 not; the cause is not yet known).
const GRANULARITY: usize = 1024;

/// One open bracket to narrow.
struct Open {
    strategy: StrategyKind,
    metric: Figure,
    threads: usize,
    lower: usize,
    upper: usize,
    /// The copying strategies best at either end: measured at every refined size.
    against: Vec<StrategyKind>,
}

/// Narrows the open brackets of `results` (see the module documentation) with the run's
/// target; stops early at Ctrl-C or when the target ends the session. `quiet` (`--quiet`):
/// no line per bracket or point, as the sweep prints none.
#[allow(clippy::too_many_arguments)]
pub fn refine(
    plan: &RunPlan,
    target: &Target,
    hooks: &CliHooks<'_>,
    outputs: &Outputs,
    results: &mut RunResults,
    budget: usize,
    repetitions: usize,
    quiet: bool,
    cancel: &AtomicBool,
) -> Result<()> {
    let say = |line: String| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    narrow(
        results,
        budget,
        &say,
        |results, strategies, size, threads| {
            let mut points = copybench_core::sweep::plan(
                &plan.template,
                strategies,
                &[size],
                &[threads],
                repetitions,
            );
            // --fixed-buffers, --splice-gift, --hugepages as the sweep's points had them.
            points.iter_mut().for_each(|p| plan.settle(p));
            for params in &points {
                if cancel.load(Ordering::Relaxed) || target.ended().is_some() {
                    return Ok(false);
                }
                let outcome = target.run_point(params, hooks, cancel);
                if matches!(outcome, Err(EngineError::Cancelled)) {
                    return Ok(false);
                }
                let before = results.points.len();
                let line = sweep::record(outcome, params, results);
                if let Some(p) = results.points.get_mut(before) {
                    p.refined = true;
                }
                say(format!(
                    "[refine] {} {} x{threads} rep {}: {line}",
                    params.strategy,
                    size_text(size as f64),
                    params.repetition + 1
                ));
                super::refresh_findings(results);
                outputs.write(results)?;
            }
            Ok(!cancel.load(Ordering::Relaxed) && target.ended().is_none())
        },
    )
}

/// The refinement loop: `measure(results, strategies, size, threads)` measures (and records,
/// marked refined) every strategy at `size`, and says whether to go on. Bisects each open
/// bracket with [`Bisection`] until it is at most [`REFINED_WIDTH`] wide or `budget` sizes
/// were added in all; the record lands in `results.config.refine`. `say` gets a line per
/// bracket refined.
pub fn narrow(
    results: &mut RunResults,
    budget: usize,
    say: &dyn Fn(String),
    mut measure: impl FnMut(&mut RunResults, &[StrategyKind], usize, usize) -> Result<bool>,
) -> Result<()> {
    let mut record = RefineRecord {
        budget_sizes: budget,
        width: REFINED_WIDTH,
        added_sizes: Vec::new(),
        left_open: Vec::new(),
    };
    let mut done: Vec<(StrategyKind, usize)> = Vec::new();
    while let Some(open) = next_open(results, &done) {
        done.push((open.strategy, open.threads));
        say(format!(
            "refining {} vs {} in {}, {} thread(s): bracket {}..{}",
            open.strategy,
            open.against
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join("/"),
            open.metric.label(),
            open.threads,
            size_text(open.lower as f64),
            size_text(open.upper as f64)
        ));
        let mut bisection = Bisection::new(
            open.strategy,
            open.against[0],
            open.metric,
            open.lower,
            open.upper,
        )
        .and_then(|b| b.with_tolerance(REFINED_WIDTH))?
        .with_granularity(GRANULARITY);
        // The bracket's ends are measured already: fed from the sweep's points.
        for size in [open.lower, open.upper] {
            let (mine, best) = figures(results, &open, size);
            bisection.observe_repetitions(size, &mine, &best)?;
        }
        while let Step::Probe(size) = bisection.next() {
            if record.added_sizes.len() >= budget {
                record.left_open.push(format!(
                    "{} x{} in {}: still open at {}..{} (budget of {budget} sizes spent)",
                    open.strategy,
                    open.threads,
                    open.metric.label(),
                    size_text(open.lower as f64),
                    size_text(open.upper as f64)
                ));
                break;
            }
            let mut strategies = vec![open.strategy];
            strategies.extend(open.against.iter().copied());
            record.added_sizes.push(size);
            results.config.refine = Some(record.clone());
            let go_on = measure(results, &strategies, size, open.threads)?;
            super::refresh_findings(results);
            if !go_on {
                return Ok(());
            }
            let (mine, best) = figures(results, &open, size);
            bisection.observe_repetitions(size, &mine, &best)?;
        }
    }
    results.config.refine = Some(record);
    Ok(())
}

/// The ranking figure's first open bracket (wider than [`REFINED_WIDTH`]) of a zero-copy
/// strategy and thread count not yet refined.
fn next_open(results: &RunResults, done: &[(StrategyKind, usize)]) -> Option<Open> {
    let findings = results.findings.as_ref()?;
    findings.groups.iter().find_map(|g| {
        g.break_even
            .iter()
            .filter(|b| b.metric == g.metric)
            .filter(|b| !done.contains(&(b.strategy, g.threads)))
            .find_map(|b| open_of(b, g.threads))
    })
}

fn open_of(b: &BreakEven, threads: usize) -> Option<Open> {
    let bracket = b.bracket.as_ref()?;
    if bracket.width <= REFINED_WIDTH {
        return None;
    }
    let [lower, upper] = bracket.bracket_bytes;
    let mut against: Vec<StrategyKind> = Vec::new();
    for r in b
        .relative
        .iter()
        .filter(|r| r.msg_size == lower || r.msg_size == upper)
    {
        if let Some(k) = r.against {
            if !against.contains(&k) {
                against.push(k);
            }
        }
    }
    (!against.is_empty()).then_some(Open {
        strategy: b.strategy,
        metric: b.metric,
        threads,
        lower,
        upper,
        against,
    })
}

/// At `size`: the zero-copy strategy's trusted repetitions of the figure, and those of the
/// best copying strategy of `open` there (by median).
fn figures(results: &RunResults, open: &Open, size: usize) -> (Vec<f64>, Vec<f64>) {
    let values = |k: StrategyKind| -> Vec<f64> {
        results
            .points
            .iter()
            .filter(|p| p.strategy == k && p.msg_size == size && p.threads == open.threads)
            .filter(|p| trusted(p))
            .filter_map(|p| open.metric.value(p))
            .collect()
    };
    let better = open.metric.better();
    let best = open
        .against
        .iter()
        .map(|&k| values(k))
        .filter_map(|v| median(&v).map(|m| (m, v)))
        .reduce(|a, b| if better.beats(b.0, a.0) { b } else { a })
        .map(|(_, v)| v)
        .unwrap_or_default();
    (values(open.strategy), best)
}

fn trusted(p: &Point) -> bool {
    p.verified || p.not_verifiable.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use copybench_core::result::Point;

    /// A verified stream point of `strategy` at `size` with `gbps` (zero-copy statistics only
    /// for zerocopy, as the engine writes them).
    fn point(strategy: StrategyKind, size: usize, rep: usize, gbps: f64) -> Point {
        let mut p: Point =
            serde_json::from_str(include_str!("../../tests/data/point.json")).unwrap();
        p.strategy = strategy;
        p.msg_size = size;
        p.repetition = rep;
        p.throughput_gbps = gbps;
        if strategy != StrategyKind::ZeroCopy {
            p.zerocopy = None;
        }
        p
    }

    /// Zero-copy's advantage over two-copy: 0.3 (log2(size) - 14.5), so it starts winning at
    /// 2^14.5 = 23170 bytes; scatter-gather trails two-copy by 10%. 3 repetitions, +-1%.
    fn measured(results: &mut RunResults, strategies: &[StrategyKind], size: usize) {
        let adv = 0.3 * ((size as f64).log2() - 14.5);
        for rep in 0..3 {
            let wobble = 1.0 + 0.01 * (rep as f64 - 1.0);
            for &k in strategies {
                let gbps = match k {
                    StrategyKind::ZeroCopy => 10.0 * (1.0 + adv),
                    StrategyKind::ScatterGather => 9.0,
                    _ => 10.0,
                } * wobble;
                results.points.push(point(k, size, rep, gbps));
            }
        }
    }

    fn swept(sizes: &[usize]) -> RunResults {
        let mut r: RunResults = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "tool": {"name": "copybench", "version": "0"},
            "command_line": [], "started_at": "2026-12-02T00:00:00Z", "host": {},
            "config": {"mode": "stream", "topology": {"kind": "netns"}, "strategies": [],
                       "sizes": [], "threads": [1], "duration_s": 1.0, "warmup_s": 0.0,
                       "repetitions": 3, "fields": 8, "align": "packed", "counters": true},
            "points": [], "complete": true
        }))
        .unwrap();
        for &s in sizes {
            measured(
                &mut r,
                &[
                    StrategyKind::TwoCopy,
                    StrategyKind::ScatterGather,
                    StrategyKind::ZeroCopy,
                ],
                s,
            );
        }
        super::super::refresh_findings(&mut r);
        r
    }

    fn throughput_bracket(r: &RunResults) -> [usize; 2] {
        let g = &r.findings.as_ref().unwrap().groups[0];
        g.break_even
            .iter()
            .find(|b| b.metric == Figure::ThroughputGbps)
            .and_then(|b| b.bracket.as_ref())
            .map(|b| b.bracket_bytes)
            .expect("a throughput bracket")
    }

    #[test]
    fn refining_narrows_an_open_bracket_inside_it() {
        let mut r = swept(&[4 << 10, 64 << 10]);
        assert_eq!(throughput_bracket(&r), [4096, 65536]);
        let mut asked = Vec::new();
        narrow(&mut r, 8, &|_| {}, |r, strategies, size, _| {
            asked.push((size, strategies.to_vec()));
            measured(r, strategies, size);
            let n = r.points.len();
            for p in &mut r.points[n - 3 * strategies.len()..] {
                p.refined = true;
            }
            Ok(true)
        })
        .unwrap();
        let [lo, hi] = throughput_bracket(&r);
        assert!(hi as f64 / lo as f64 <= REFINED_WIDTH, "{lo}..{hi}");
        let truth = 2f64.powf(14.5);
        assert!((lo as f64) < truth && truth <= hi as f64, "{lo}..{hi}");
        let record = r.config.refine.as_ref().unwrap();
        assert_eq!(
            record.added_sizes,
            asked.iter().map(|a| a.0).collect::<Vec<_>>()
        );
        assert!(record
            .added_sizes
            .iter()
            .all(|&s| 4096 < s && s < 65536 && s % GRANULARITY == 0));
        assert!(record.left_open.is_empty());
        // Zero-copy and the copying strategy best at the ends (two-copy), not scatter-gather.
        assert!(asked
            .iter()
            .all(|a| a.1 == [StrategyKind::ZeroCopy, StrategyKind::TwoCopy]));
        assert!(r
            .points
            .iter()
            .all(|p| p.refined == record.added_sizes.contains(&p.msg_size)));
    }

    #[test]
    fn the_budget_is_kept_and_what_is_left_open_is_said() {
        let mut r = swept(&[1 << 10, 1 << 20]);
        let mut calls = 0;
        narrow(&mut r, 1, &|_| {}, |r, strategies, size, _| {
            calls += 1;
            measured(r, strategies, size);
            Ok(true)
        })
        .unwrap();
        assert_eq!(calls, 1);
        let record = r.config.refine.as_ref().unwrap();
        assert_eq!(record.added_sizes.len(), 1);
        assert_eq!(record.left_open.len(), 1, "{record:?}");
        assert!(record.left_open[0].contains("budget of 1 sizes spent"));
        // No bracket at all: nothing measured, the record says so.
        let mut none = swept(&[1 << 10, 4 << 10]);
        narrow(&mut none, 4, &|_| {}, |_, _, _, _| {
            panic!("nothing to refine")
        })
        .unwrap();
        assert!(none.config.refine.as_ref().unwrap().added_sizes.is_empty());
    }
}
