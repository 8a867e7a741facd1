//! The crossover bisection finds a crossover placed anywhere, within 10%, and says when there
//! is none.

use crate::support;

use copybench_core::crossover::{
    advantage_of, Bisection, CrossoverError, Outcome, Step, MAX_PROBES,
};
use copybench_core::findings::Figure;
use copybench_core::StrategyKind::{TwoCopy as Two, ZeroCopy as Zc};
use support::jitter;

/// Runs a search to the end with `advantage(size)` as the measurement; returns the outcome and
/// the number of probes.
fn search(lower: usize, upper: usize, advantage: impl Fn(usize) -> f64) -> (Outcome, usize) {
    let mut b = Bisection::new(Zc, Two, Figure::ThroughputGbps, lower, upper).unwrap();
    for _ in 0..=MAX_PROBES {
        match b.next() {
            Step::Probe(size) => {
                assert!(
                    (lower..=upper).contains(&size),
                    "probe {size} out of bounds"
                );
                b.observe(size, advantage(size)).unwrap();
            }
            Step::Done(o) => return (o, b.probes().len()),
        }
    }
    panic!("no outcome after {MAX_PROBES} probes: {:?}", b.record());
}

/// Zero-copy's and two-copy's throughput repetitions for a crossover at `c` bytes: zero-copy's
/// advantage grows by 20% per doubling, each repetition jittered by +-1%.
fn repetitions(c: f64, size: usize) -> (Vec<f64>, Vec<f64>) {
    let two: Vec<f64> = (0..3)
        .map(|r| 10.0 * (1.0 + jitter(size as u64 * 7 + r, 0.01)))
        .collect();
    let gain = 1.0 + 0.2 * ((size as f64).log2() - c.log2());
    let zc: Vec<f64> = (0..3)
        .map(|r| 10.0 * gain * (1.0 + jitter(size as u64 * 13 + r, 0.01)))
        .collect();
    (zc, two)
}

#[test]
fn finds_a_crossover_placed_anywhere_within_ten_percent() {
    // Crossovers log-uniform over 100 B..50 MiB, bounds 64 B..64 MiB.
    let (lower, upper) = (64, 64 << 20);
    for i in 0..200u64 {
        let c = (100f64.ln() + (i as f64 / 199.0) * ((50u64 << 20) as f64 / 100.0).ln()).exp();
        let (o, probes) = search(lower, upper, |s| (s as f64).ln() - c.ln());
        match o {
            Outcome::Bracketed {
                lower: lo,
                upper: hi,
                a_wins_above,
                estimate_bytes,
                within_tolerance,
                ..
            } => {
                assert!(a_wins_above && within_tolerance);
                // "Beats" is strict: lo does not win (lo <= c), hi wins (hi > c).
                assert!(lo as f64 <= c && c < hi as f64, "c {c} not in {lo}..{hi}");
                assert!(hi as f64 / lo as f64 <= 1.1, "{lo}..{hi}");
                assert!(
                    (estimate_bytes / c - 1.0).abs() < 0.01,
                    "{estimate_bytes} vs {c}"
                );
            }
            other => panic!("c = {c}: {other:?}"),
        }
        // 2 bounds + log2(log2(2^20) / log2(1.1)) ~ 7.2 halvings.
        assert!(probes <= 10, "{probes} probes for c = {c}");
    }
}

#[test]
fn finds_a_crossover_from_noisy_repetitions() {
    for c in [1500.0, 23_000.0, 700_000.0] {
        let mut b = Bisection::new(Zc, Two, Figure::ThroughputGbps, 1024, 1 << 20).unwrap();
        let o = loop {
            match b.next() {
                Step::Probe(size) => {
                    let (zc, two) = repetitions(c, size);
                    b.observe_repetitions(size, &zc, &two).unwrap();
                }
                Step::Done(o) => break o,
            }
        };
        assert!(b.probes().iter().all(|p| p.separated.is_some()));
        let Outcome::Bracketed {
            lower,
            upper,
            ends_told_apart,
            ..
        } = o
        else {
            panic!("{o:?}")
        };
        // The jitter moves the apparent crossover a little: within the bracket's 10%, give or
        // take.
        assert!(
            (lower as f64) < c * 1.1 && (upper as f64) > c / 1.1,
            "{c}: {lower}..{upper}"
        );
        assert!(upper as f64 / lower as f64 <= 1.1);
        // Near a crossover the two are close: whether the ends are told apart is reported.
        let told = ends_told_apart.expect("known from repetitions");
        let text = o.describe(Zc, Two, Figure::ThroughputGbps);
        assert_eq!(text.contains("repetitions overlap"), !told, "{text}");
    }
    // Clearly apart at both ends when they are far from the crossover (a loose tolerance).
    let mut b = Bisection::new(Zc, Two, Figure::ThroughputGbps, 1024, 1 << 20)
        .unwrap()
        .with_tolerance(1024.0)
        .unwrap();
    for size in [1024, 1 << 20] {
        let (zc, two) = repetitions(23_000.0, size);
        b.observe_repetitions(size, &zc, &two).unwrap();
    }
    assert!(matches!(
        b.next(),
        Step::Done(Outcome::Bracketed {
            ends_told_apart: Some(true),
            ..
        })
    ));
}

#[test]
fn stopping_to_win_is_found_too() {
    let (o, _) = search(1000, 100_000, |s| 5000.0 - s as f64);
    let Outcome::Bracketed {
        lower,
        upper,
        a_wins_above,
        ..
    } = o
    else {
        panic!("{o:?}")
    };
    assert!(!a_wins_above);
    assert!(lower < 5000 && upper >= 5000 && upper as f64 / lower as f64 <= 1.1);
    assert!(o
        .describe(Zc, Two, Figure::ThroughputGbps)
        .contains("zerocopy stops beating twocopy"));
}

#[test]
fn no_crossover_is_reported_after_the_bounds() {
    let (o, probes) = search(1024, 65536, |_| -0.3);
    assert_eq!(
        o,
        Outcome::NoSignChange {
            lower_advantage: -0.3,
            upper_advantage: -0.3,
            a_wins: false
        }
    );
    assert_eq!(probes, 2);
    let (o, _) = search(1024, 65536, |s| s as f64);
    assert!(matches!(o, Outcome::NoSignChange { a_wins: true, .. }));
    assert!(o
        .describe(Zc, Two, Figure::ThroughputGbps)
        .contains("no crossover"));
    // A tie at the bounds is not a win.
    let (o, _) = search(1024, 65536, |_| 0.0);
    assert!(matches!(o, Outcome::NoSignChange { a_wins: false, .. }));
}

#[test]
fn whole_bytes_end_the_search() {
    let (o, probes) = search(1, 2, |s| if s >= 2 { 1.0 } else { -1.0 });
    assert!(matches!(
        o,
        Outcome::Bracketed {
            lower: 1,
            upper: 2,
            within_tolerance: false,
            ..
        }
    ));
    assert_eq!(probes, 2);
    let (o, _) = search(5, 9, |s| s as f64 - 7.5);
    assert!(
        matches!(
            o,
            Outcome::Bracketed {
                lower: 7,
                upper: 8,
                ..
            }
        ),
        "{o:?}"
    );
}

#[test]
fn bad_input_is_refused_not_panicked_on() {
    assert!(matches!(
        Bisection::new(Zc, Two, Figure::ThroughputGbps, 0, 10),
        Err(CrossoverError::Bounds { .. })
    ));
    assert!(Bisection::new(Zc, Two, Figure::ThroughputGbps, 10, 10).is_err());
    assert!(Bisection::new(Zc, Two, Figure::ThroughputGbps, 10, 5).is_err());
    let b = Bisection::new(Zc, Two, Figure::SenderCpuNsPerByte, 10, 1000).unwrap();
    assert!(b.clone().with_tolerance(1.0).is_err());
    assert!(b.clone().with_tolerance(f64::NAN).is_err());
    let mut b = b.with_tolerance(2.0).unwrap();
    assert_eq!(
        b.observe(11, 0.5),
        Err(CrossoverError::UnexpectedSize {
            expected: 10,
            got: 11
        })
    );
    b.observe(10, -0.5).unwrap();
    // No figure for one side: the search ends, it does not loop.
    b.observe_repetitions(1000, &[1.0], &[]).unwrap();
    assert_eq!(
        b.next(),
        Step::Done(Outcome::Unmeasurable { msg_size: 1000 })
    );
    assert_eq!(b.observe(1000, 1.0), Err(CrossoverError::Finished));
    let rec = b.record();
    assert_eq!(rec.probes.len(), 1);
    let json = serde_json::to_value(&rec).unwrap();
    assert_eq!(json["outcome"]["kind"], "unmeasurable");
    assert_eq!(json["metric"], "sender_cpu_ns_per_byte");
    // Lower CPU is better: 0.8 ns/B against 1.0 is a 20% advantage.
    assert!(
        (advantage_of(&[0.8], &[1.0], Figure::SenderCpuNsPerByte).unwrap() - 0.2).abs() < 1e-12
    );
}

#[test]
fn huge_bounds_terminate() {
    let (o, probes) = search(1, usize::MAX, |s| (s as f64).log2() - 40.3);
    assert!(
        matches!(
            o,
            Outcome::Bracketed {
                within_tolerance: true,
                ..
            }
        ),
        "{o:?}"
    );
    assert!(probes < 20);
}

#[test]
fn a_granularity_probes_only_its_multiples() {
    // Crossing at 2^14.5 = 23170.5 bytes; whole KiB only.
    let c = 2f64.powf(14.5);
    let mut b = Bisection::new(Zc, Two, Figure::ThroughputGbps, 1024, 65536)
        .unwrap()
        .with_tolerance(1.01)
        .unwrap()
        .with_granularity(1024);
    let mut probes = Vec::new();
    let outcome = loop {
        match b.next() {
            Step::Probe(size) => {
                probes.push(size);
                b.observe(size, (size as f64).ln() - c.ln()).unwrap();
            }
            Step::Done(o) => break o,
        }
    };
    assert!(probes.iter().all(|s| s % 1024 == 0), "{probes:?}");
    match outcome {
        Outcome::Bracketed {
            lower,
            upper,
            within_tolerance,
            ..
        } => {
            // Adjacent KiB around the crossing, narrower than 1% impossible in whole KiB.
            assert_eq!((lower, upper), (22 << 10, 23 << 10), "{probes:?}");
            assert!(!within_tolerance);
        }
        o => panic!("{o:?}"),
    }
}
