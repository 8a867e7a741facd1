//! Aggregation: repetitions fold into median/min/max per configuration, nulls stay null.

use crate::common;

use copybench_core::engine::Mode;
use copybench_core::result::{LatencyKind, Point, RunResults};
use copybench_core::StrategyKind;
use copybench_plot::{aggregate, load_results, Aggregate, LabeledRun, Stat};

fn fixture() -> RunResults {
    load_results(&common::fixture_path()).expect("the committed fixture loads")
}

fn labeled(label: &str, results: RunResults) -> LabeledRun {
    LabeledRun {
        label: label.into(),
        path: None,
        results,
    }
}

/// Median, min and max computed the plain way, independently of polars.
fn expected(values: &[f64]) -> Option<Stat> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Stat {
        median,
        min: v[0],
        max: v[n - 1],
    })
}

fn close(a: Option<Stat>, b: Option<Stat>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => [(a.median, b.median), (a.min, b.min), (a.max, b.max)]
            .iter()
            .all(|(x, y)| (x - y).abs() <= 1e-9 * x.abs().max(1.0)),
        _ => false,
    }
}

/// Regenerates tests/data/loopback.json from a real loopback sweep (a few seconds):
/// `cargo test -p copybench-plot --test aggregate -- --ignored regenerate_fixture`.
#[test]
#[ignore = "rewrites the committed fixture"]
fn regenerate_fixture() {
    let run = common::loopback_run(
        &common::fixture_sweep(),
        "copybench-plot test fixture: loopback, all strategies, 1k/16k/256k, 1-2 threads, \
         3 repetitions, 120 ms",
    );
    let text = serde_json::to_string_pretty(&run).unwrap();
    std::fs::write(common::fixture_path(), text + "\n").unwrap();
}

#[test]
fn the_fixture_is_real_and_varied() {
    let run = fixture();
    let sweep = common::fixture_sweep();
    assert!(run.points.len() > 40, "{}", run.points.len());
    assert!(run.points.iter().any(|p| p.mode == Mode::Rr));
    assert!(run.points.iter().any(|p| !p.verified && p.error.is_some()));
    assert!(run
        .points
        .iter()
        .filter(|p| p.error.is_none())
        .all(|p| p.verified && p.throughput_gbps > 0.0));
    assert_eq!(run.config.repetitions, sweep.repetitions);
}

#[test]
fn repetitions_fold_into_median_min_max_of_every_metric() {
    let run = fixture();
    let aggs = aggregate(&[labeled("fixture", run.clone())]).unwrap();
    let clean: Vec<&Point> = run.points.iter().filter(|p| p.error.is_none()).collect();
    // One row per distinct configuration of the clean points.
    let mut keys: Vec<_> = clean
        .iter()
        .map(|p| (p.strategy, p.msg_size, p.threads, p.mode))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(aggs.len(), keys.len());

    for a in &aggs {
        let reps: Vec<&&Point> = clean
            .iter()
            .filter(|p| {
                (p.strategy, p.msg_size, p.threads, p.mode)
                    == (a.strategy, a.msg_size, a.threads, a.mode)
            })
            .collect();
        assert_eq!(a.repetitions, reps.len(), "{a:?}");
        assert_eq!(a.repetitions, 3, "every configuration ran three times");
        let of = |f: fn(&Point) -> Option<f64>| -> Vec<f64> {
            reps.iter().filter_map(|p| f(p)).collect()
        };
        let checks: [(&str, Option<Stat>, Vec<f64>); 6] = [
            (
                "throughput",
                a.throughput_gbps,
                of(|p| Some(p.throughput_gbps)),
            ),
            (
                "p50",
                a.latency_p50_us,
                of(|p| p.latency_us.as_ref().map(|l| l.p50)),
            ),
            (
                "p99",
                a.latency_p99_us,
                of(|p| p.latency_us.as_ref().map(|l| l.p99)),
            ),
            (
                "p999",
                a.latency_p999_us,
                of(|p| p.latency_us.as_ref().map(|l| l.p999)),
            ),
            ("tps", a.transactions_per_s, of(|p| p.transactions_per_s)),
            (
                "copied",
                a.zerocopy_copied_ratio,
                of(|p| p.zerocopy.as_ref().and_then(|z| z.copied_ratio)),
            ),
        ];
        for (name, got, values) in checks {
            assert!(close(got, expected(&values)), "{name} of {a:?}: {values:?}");
        }
        let stat = a.throughput_gbps.unwrap();
        assert!(stat.min <= stat.median && stat.median <= stat.max);
        // Only zero-copy has a copied ratio, and over loopback the kernel copies every send.
        if a.strategy == StrategyKind::ZeroCopy {
            assert_eq!(
                a.zerocopy_copied_ratio.map(|s| s.median),
                Some(1.0),
                "{a:?}"
            );
        } else {
            assert_eq!(a.zerocopy_copied_ratio, None);
        }
        // rr has round-trip latency and transactions; stream has send-call latency only.
        assert_eq!(a.transactions_per_s.is_some(), a.mode == Mode::Rr);
        let what = if a.mode == Mode::Rr {
            LatencyKind::RoundTrip
        } else {
            LatencyKind::SendCall
        };
        assert_eq!(a.latency_what, Some(what));
    }
}

#[test]
fn unmeasured_counters_stay_null_never_zero() {
    // The fixture was made without counters: every counter-derived figure is absent.
    let aggs = aggregate(&[labeled("fixture", fixture())]).unwrap();
    for a in &aggs {
        assert_eq!(a.llc_misses_per_kib, None);
        assert_eq!(a.llc_event, None);
        assert_eq!(a.sender_cpu_ns_per_byte, None);
        assert_eq!(a.receiver_cpu_ns_per_byte, None);
        assert_eq!(a.cycles_per_byte, None);
    }
}

/// Three repetitions of one configuration, from a real point, with chosen figures.
fn three(throughput: [f64; 3], llc: [Option<f64>; 3], cpu: [Option<f64>; 3]) -> RunResults {
    let mut run = fixture();
    let template = run
        .points
        .iter()
        .find(|p| p.error.is_none() && p.mode == Mode::Stream)
        .unwrap()
        .clone();
    run.points = (0..3)
        .map(|i| {
            let mut p = template.clone();
            p.repetition = i;
            p.throughput_gbps = throughput[i];
            p.llc_misses_per_kib = llc[i];
            p.sender.cpu_ns_per_byte = cpu[i];
            p.receiver.cpu_ns_per_byte = None;
            p
        })
        .collect();
    run
}

fn only(runs: &[LabeledRun]) -> Aggregate {
    let aggs = aggregate(runs).unwrap();
    assert_eq!(aggs.len(), 1, "{aggs:?}");
    aggs.into_iter().next().unwrap()
}

#[test]
fn median_of_odd_and_even_counts() {
    let a = only(&[labeled("r", three([5.0, 1.0, 3.0], [None; 3], [None; 3]))]);
    assert_eq!(
        a.throughput_gbps,
        Some(Stat {
            median: 3.0,
            min: 1.0,
            max: 5.0
        })
    );
    // Four repetitions: the median is the mean of the middle two.
    let mut run = three([1.0, 2.0, 3.0], [None; 3], [None; 3]);
    let mut fourth = run.points[0].clone();
    fourth.repetition = 3;
    fourth.throughput_gbps = 10.0;
    run.points.push(fourth);
    let a = only(&[labeled("r", run)]);
    assert_eq!(a.repetitions, 4);
    assert_eq!(
        a.throughput_gbps,
        Some(Stat {
            median: 2.5,
            min: 1.0,
            max: 10.0
        })
    );
}

#[test]
fn partly_measured_metrics_use_only_the_measured_repetitions() {
    let a = only(&[labeled(
        "r",
        three(
            [1.0, 1.0, 1.0],
            [None, Some(40.0), None],
            [Some(2.0), None, Some(4.0)],
        ),
    )]);
    assert_eq!(
        a.llc_misses_per_kib,
        Some(Stat {
            median: 40.0,
            min: 40.0,
            max: 40.0
        })
    );
    assert_eq!(
        a.sender_cpu_ns_per_byte,
        Some(Stat {
            median: 3.0,
            min: 2.0,
            max: 4.0
        })
    );
    assert_eq!(a.receiver_cpu_ns_per_byte, None, "all null stays null");
}

#[test]
fn failed_points_are_left_out_and_runs_stay_apart() {
    let mut failing = three([1.0, 2.0, 3.0], [None; 3], [None; 3]);
    failing.points[2].error = Some("receiver saw a wrong byte".into());
    failing.points[2].verified = false;
    let other = three([7.0, 8.0, 9.0], [None; 3], [None; 3]);
    let aggs = aggregate(&[labeled("a", failing), labeled("b", other)]).unwrap();
    assert_eq!(aggs.len(), 2);
    assert_eq!((aggs[0].run, aggs[0].label.as_str()), (0, "a"));
    assert_eq!(aggs[0].repetitions, 2);
    assert_eq!(aggs[0].throughput_gbps.unwrap().median, 1.5);
    assert_eq!((aggs[1].run, aggs[1].label.as_str()), (1, "b"));
    assert_eq!(aggs[1].throughput_gbps.unwrap().median, 8.0);
}

#[test]
fn non_finite_figures_count_as_unmeasured() {
    let a = only(&[labeled(
        "r",
        three([1.0, 1.0, 1.0], [Some(f64::NAN), None, None], [None; 3]),
    )]);
    assert_eq!(a.llc_misses_per_kib, None);
}
