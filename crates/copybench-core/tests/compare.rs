//! `compare` flags a doctored regression and not run-to-run noise.

use crate::support;

use copybench_core::compare::{compare, render_markdown, render_text, ChangeVerdict, Comparison};
use copybench_core::findings::Figure;
use copybench_core::result::{Point, RunResults, TopologyKind};
use copybench_core::StrategyKind::{self, ScatterGather as Sg, TwoCopy as Two, ZeroCopy as Zc};
use support::{jitter, point, run};

const SIZES: [usize; 3] = [1 << 10, 16 << 10, 64 << 10];

/// Multipliers of 3 repetitions within +-3% whose range always covers 0.99..1.01, so that two
/// runs made this way always overlap, whatever the seed.
fn noisy_reps(seed: u64) -> [f64; 3] {
    [
        0.98 + jitter(seed, 0.01),
        1.0 + jitter(seed + 1, 0.01),
        1.02 + jitter(seed + 2, 0.01),
    ]
}

/// A run of 3 strategies x 3 sizes x 2 thread counts x 3 repetitions with +-3% noise;
/// `doctor` may change a point's figures after the noise.
fn noisy_run(seed: u64, doctor: impl Fn(&mut Point)) -> RunResults {
    let mut points = Vec::new();
    let mut n = seed * 1000;
    for threads in [1, 2] {
        for &s in &SIZES {
            for (i, k) in [Two, Sg, Zc].into_iter().enumerate() {
                n += 10;
                for (rep, f) in noisy_reps(n).into_iter().enumerate() {
                    let base = (s as f64).log2() * (i + 1) as f64;
                    let mut p = point(k, s, threads, rep, base * f, Some(0.5 * f));
                    if let Some(l) = p.latency_us.as_mut() {
                        l.p99 = 20.0 * noisy_reps(n + 7)[rep];
                    }
                    doctor(&mut p);
                    points.push(p);
                }
            }
        }
    }
    run("netns", points)
}

fn cell_change(
    c: &Comparison,
    k: StrategyKind,
    size: usize,
    threads: usize,
    f: Figure,
) -> ChangeVerdict {
    c.cells
        .iter()
        .find(|x| x.key.strategy == k && x.key.msg_size == size && x.key.threads == threads)
        .and_then(|x| x.changes.iter().find(|y| y.metric == f))
        .map(|y| y.verdict)
        .expect("cell and figure present")
}

#[test]
fn run_to_run_noise_is_not_flagged() {
    let old = noisy_run(1, |_| {});
    let new = noisy_run(2, |_| {});
    for threshold in [5.0, 0.0] {
        let c = compare(&old, &new, threshold);
        assert_eq!(c.cells.len(), 18);
        assert!(!c.has_regression(), "{}", render_text(&c));
        assert_eq!(c.improvements().count(), 0);
        for cell in &c.cells {
            for x in &cell.changes {
                assert_eq!(x.verdict, ChangeVerdict::WithinNoise, "{cell:?}");
                let r = x.ratio.unwrap();
                assert!((0.9..1.1).contains(&r), "{r}");
            }
        }
        assert!(c.only_in_old.is_empty() && c.only_in_new.is_empty());
    }
}

#[test]
fn a_doctored_20_percent_regression_is_flagged() {
    let old = noisy_run(1, |_| {});
    let new = noisy_run(2, |p| {
        if p.strategy == Zc && p.msg_size == 64 << 10 && p.threads == 2 {
            p.throughput_gbps *= 0.8;
        }
        if p.strategy == Two && p.msg_size == 1 << 10 && p.threads == 1 {
            p.sender.cpu_ns_per_byte = p.sender.cpu_ns_per_byte.map(|c| c * 1.2);
        }
        if p.strategy == Sg && p.msg_size == 16 << 10 && p.threads == 1 {
            if let Some(l) = p.latency_us.as_mut() {
                l.p99 *= 0.5;
            }
        }
    });
    let c = compare(&old, &new, 5.0);
    let regressions: Vec<(StrategyKind, usize, usize, Figure)> = c
        .regressions()
        .map(|(k, x)| (k.strategy, k.msg_size, k.threads, x.metric))
        .collect();
    assert_eq!(
        regressions,
        [
            (Two, 1 << 10, 1, Figure::SenderCpuNsPerByte),
            (Zc, 64 << 10, 2, Figure::ThroughputGbps)
        ]
    );
    assert!(c.has_regression());
    let (_, tp) = c.regressions().last().unwrap();
    assert!((tp.ratio.unwrap() - 0.8).abs() < 0.05, "{tp:?}");
    assert!((tp.change_pct.unwrap() + 20.0).abs() < 5.0);
    assert!(tp.separation.is_apart());
    assert_eq!((tp.old_repetitions, tp.new_repetitions), (3, 3));
    // Lower p99 is better.
    assert_eq!(
        cell_change(&c, Sg, 16 << 10, 1, Figure::LatencyP99Us),
        ChangeVerdict::Improvement
    );
    // A 25% threshold lets the 20% drop pass, still beyond the noise.
    let lenient = compare(&old, &new, 25.0);
    assert!(!lenient.has_regression());
    assert_eq!(
        cell_change(&lenient, Zc, 64 << 10, 2, Figure::ThroughputGbps),
        ChangeVerdict::BelowThreshold
    );

    let text = render_text(&c);
    assert!(text.contains("regressions:"), "{text}");
    assert!(
        text.contains("zerocopy 64k x2 stream: throughput"),
        "{text}"
    );
    assert!(text.contains("REGRESSION"), "{text}");
    assert!(
        text.contains("2 regressions and 1 improvement beyond the noise"),
        "{text}"
    );
    let md = render_markdown(&c);
    assert!(md.contains("**2 regressions"), "{md}");
    assert!(
        md.contains("| strategy | size | thr | mode | throughput | CPU/byte | p99 latency |"),
        "{md}"
    );
    assert!(md.contains("| **0.79x REGRESSION** |"), "{md}");
}

#[test]
fn single_repetitions_cannot_tell() {
    let one = |factor: f64| {
        run(
            "loopback",
            vec![point(Two, 4096, 1, 0, 10.0 * factor, Some(0.5))],
        )
    };
    let c = compare(&one(1.0), &one(0.5), 5.0);
    assert!(!c.has_regression());
    let x = &c.cells[0].changes[0];
    assert_eq!(x.verdict, ChangeVerdict::CannotTell);
    assert_eq!(x.ratio, Some(0.5));
    assert!(render_text(&c).contains("0.50x ?"));
}

#[test]
fn cells_in_one_run_only_are_listed() {
    let old = noisy_run(1, |_| {});
    let mut new = noisy_run(2, |_| {});
    new.points
        .retain(|p| !(p.strategy == Zc && p.msg_size == 1 << 10));
    new.points.push(point(Sg, 256 << 10, 1, 0, 30.0, None));
    let c = compare(&old, &new, 5.0);
    assert_eq!(c.only_in_old.len(), 2);
    assert!(c
        .only_in_old
        .iter()
        .all(|k| k.strategy == Zc && k.msg_size == 1 << 10));
    assert_eq!(c.only_in_new.len(), 1);
    assert_eq!(c.cells.len(), 16);
    let text = render_text(&c);
    assert!(
        text.contains("only in old: zerocopy 1k x1 stream, zerocopy 1k x2 stream"),
        "{text}"
    );
    assert!(
        text.contains("only in new: scattergather 256k x1 stream"),
        "{text}"
    );
    assert!(render_markdown(&c).contains("Only in new: scattergather 256k x1 stream"));
}

#[test]
fn other_topology_matches_nothing_and_missing_cpu_is_not_measured() {
    let old = noisy_run(1, |_| {});
    let mut new = noisy_run(2, |p| p.sender.cpu_ns_per_byte = None);
    let c = compare(&old, &new, 5.0);
    assert!(c
        .cells
        .iter()
        .all(|x| x.changes[1].verdict == ChangeVerdict::NotMeasured
            && x.changes[1].ratio.is_none()
            && x.changes[1].new.is_none()));
    new.config.topology.kind = TopologyKind::Loopback;
    let c = compare(&old, &new, 5.0);
    assert!(c.cells.is_empty());
    assert_eq!((c.only_in_old.len(), c.only_in_new.len()), (18, 18));
    assert!(c.caveats.iter().any(|x| x.contains("no cell matches")));
    assert!(render_text(&c).contains("only in old: twocopy 1k x1 stream on netns"));
}

#[test]
fn odd_input_and_json_shape() {
    let empty = run("loopback", Vec::new());
    let c = compare(&empty, &empty, f64::NAN);
    assert_eq!(c.threshold_pct, 0.0);
    assert!(c.cells.is_empty());
    render_text(&c);
    render_markdown(&c);
    let mut nan = noisy_run(1, |p| p.throughput_gbps = f64::NAN);
    nan.points.truncate(3);
    let c = compare(&nan, &nan, -5.0);
    assert_eq!(c.cells[0].changes[0].verdict, ChangeVerdict::NotMeasured);

    let c = compare(&noisy_run(1, |_| {}), &noisy_run(2, |_| {}), 5.0);
    let json = serde_json::to_value(&c).unwrap();
    let cell = &json["cells"][0];
    assert_eq!(cell["topology"], "netns");
    assert_eq!(cell["strategy"], "twocopy");
    assert_eq!(cell["msg_size"], 1024);
    assert_eq!(cell["changes"][0]["metric"], "throughput_gbps");
    assert_eq!(cell["changes"][0]["verdict"], "within_noise");
    assert_eq!(cell["changes"][0]["separation"]["separation"], "overlap");
    assert!(cell["changes"][0]["old"]["median"].is_number());
    let back: Comparison = serde_json::from_value(json).unwrap();
    assert_eq!(back, c);
}

/// A run drawn from one noise model: 4 strategies x 3 sizes x 2 thread counts (24 cells),
/// `reps` repetitions, every figure (throughput, CPU/byte, p99) multiplied by an independent
/// normal factor of mean 1 and standard deviation `noise`. `quiet` cells get `quiet_reps`
/// repetitions at `quiet_noise` instead, and their throughput times `quiet_factor`.
struct NoiseModel {
    reps: usize,
    noise: f64,
    quiet: Option<(StrategyKind, usize, usize)>,
    quiet_reps: usize,
    quiet_noise: f64,
    quiet_factor: f64,
}

const MODEL: NoiseModel = NoiseModel {
    reps: 3,
    noise: 0.10,
    quiet: None,
    quiet_reps: 5,
    quiet_noise: 0.02,
    quiet_factor: 1.0,
};

fn drawn_run(model: &NoiseModel, seed: u64) -> RunResults {
    let mut rng = copybench_core::stats::Rng::new(seed);
    let mut points = Vec::new();
    for threads in [1, 2] {
        for &s in &SIZES {
            for (i, k) in [Two, Sg, Zc, StrategyKind::UringZc].into_iter().enumerate() {
                let quiet = model.quiet == Some((k, s, threads));
                let (reps, noise) = if quiet {
                    (model.quiet_reps, model.quiet_noise)
                } else {
                    (model.reps, model.noise)
                };
                let mut draw = || (1.0 + noise * rng.normal()).max(0.05);
                for rep in 0..reps {
                    let base = (s as f64).log2() * (i + 1) as f64;
                    let factor = if quiet { model.quiet_factor } else { 1.0 };
                    let mut p = point(
                        k,
                        s,
                        threads,
                        rep,
                        base * draw() * factor,
                        Some(0.5 * draw()),
                    );
                    if let Some(l) = p.latency_us.as_mut() {
                        l.p99 = 20.0 * draw();
                    }
                    points.push(p);
                }
            }
        }
    }
    run("netns", points)
}

/// The old rule, for contrast: beyond the noise (disjoint ranges, Mann-Whitney p <= 0.10) and
/// the median worse by more than the threshold, with no correction.
fn uncorrected_regression(c: &Comparison) -> bool {
    c.cells.iter().flat_map(|x| &x.changes).any(|x| {
        let worse = match (x.metric, x.ratio) {
            (Figure::ThroughputGbps, Some(r)) => r < 0.9,
            (_, Some(r)) => r > 1.1,
            _ => false,
        };
        worse && x.separation.is_apart()
    })
}

#[test]
fn identical_code_rarely_fails_on_regression_and_a_real_drop_still_does() {
    let mut failing = 0;
    let mut failing_uncorrected = 0;
    for pair in 0..20u64 {
        let old = drawn_run(&MODEL, 2 * pair + 1);
        let new = drawn_run(&MODEL, 2 * pair + 2);
        let c = compare(&old, &new, 10.0);
        assert_eq!(c.cells.len(), 24);
        if c.has_regression() {
            failing += 1;
        }
        if uncorrected_regression(&c) {
            failing_uncorrected += 1;
        }
    }
    // The noise model is hard: without the correction most pairs would fail.
    assert!(failing_uncorrected >= 10, "{failing_uncorrected} of 20");
    eprintln!(
        "identical runs: {failing} of 20 pairs fail (uncorrected rule: {failing_uncorrected})"
    );
    assert!(failing <= 2, "{failing} of 20 pairs of identical runs fail");

    // One quiet cell (5 repetitions, 2% noise) among the noisy ones loses 30%: caught in
    // every pair, and nothing else is.
    let quiet = (Zc, 16 << 10, 2);
    for pair in 0..20u64 {
        let model = NoiseModel {
            quiet: Some(quiet),
            ..MODEL
        };
        let old = drawn_run(&model, 100 + 2 * pair);
        let new = drawn_run(
            &NoiseModel {
                quiet_factor: 0.7,
                ..model
            },
            101 + 2 * pair,
        );
        let c = compare(&old, &new, 10.0);
        let found: Vec<(StrategyKind, usize, usize, Figure)> = c
            .regressions()
            .map(|(k, x)| (k.strategy, k.msg_size, k.threads, x.metric))
            .collect();
        assert!(
            found.contains(&(quiet.0, quiet.1, quiet.2, Figure::ThroughputGbps)),
            "pair {pair}: {found:?}\n{}",
            render_text(&c)
        );
        assert!(found.len() <= 2, "pair {pair}: {found:?}");
        let multiplicity = c.multiplicity.as_ref().unwrap();
        assert_eq!(multiplicity.level, 0.1);
    }
}

#[test]
fn cells_differing_in_any_key_field_never_match() {
    let old = noisy_run(1, |_| {});
    type Change = fn(&mut Point);
    let changes: [(&str, Change); 7] = [
        ("tool", |p| p.tool = "iperf3".into()),
        ("protocol", |p| {
            p.protocol = copybench_core::engine::Protocol::Udp
        }),
        ("verify", |p| {
            p.verification = copybench_core::engine::Verify::Discard
        }),
        ("placement", |p| {
            p.placement = Some(copybench_core::result::Placement::Same)
        }),
        ("read size", |p| p.read_size = Some(4096)),
        ("fields", |p| p.fields = 1),
        ("data", |p| {
            p.data = Some(copybench_core::engine::DataTemperature::Cold)
        }),
    ];
    for (what, f) in changes {
        let new = noisy_run(2, |p| {
            if p.strategy == Sg {
                f(p)
            }
        });
        let c = compare(&old, &new, 5.0);
        assert_eq!(c.cells.len(), 12, "{what}");
        assert!(c.cells.iter().all(|x| x.key.strategy != Sg), "{what}");
        assert_eq!((c.only_in_old.len(), c.only_in_new.len()), (6, 6), "{what}");
        let text = render_text(&c);
        assert!(text.contains("only in new:"), "{what}: {text}");
    }
    // A peer's point is named by its tool.
    let new = noisy_run(2, |p| {
        if p.strategy == Sg {
            p.tool = "iperf3".into()
        }
    });
    let text = render_text(&compare(&old, &new, 5.0));
    assert!(text.contains("iperf3 scattergather 1k x1 stream"), "{text}");
    // A file written before read sizes were recorded read 256 KiB at a time: it matches.
    let mut older = noisy_run(1, |p| p.read_size = None);
    older.config.fields = 8;
    let newer = noisy_run(2, |p| p.read_size = Some(256 << 10));
    assert_eq!(compare(&older, &newer, 5.0).cells.len(), 18);
}

#[test]
fn run_level_differences_are_named() {
    let old = noisy_run(1, |_| {});
    let mut new = noisy_run(2, |_| {});
    new.config.align = "page".parse().unwrap();
    new.config.placement = Some(copybench_core::result::Placement::Same);
    new.config.duration_s = 3.0;
    new.config.topology.mtu = Some(9000);
    new.host.kernel = Some("6.19".into());
    let c = compare(&old, &new, 5.0);
    let has = |s: &str| c.caveats.iter().any(|x| x.starts_with(s));
    assert!(has("align differs"), "{:?}", c.caveats);
    assert!(
        has("placement differs: not recorded (old) vs same (new)"),
        "{:?}",
        c.caveats
    );
    assert!(
        has("duration differs: 0 s (old) vs 3 s (new)"),
        "{:?}",
        c.caveats
    );
    assert!(
        has("MTU differs: none (old) vs 9000 (new)"),
        "{:?}",
        c.caveats
    );
    assert!(has("kernel differs"), "{:?}", c.caveats);
    assert!(!c
        .caveats
        .iter()
        .any(|x| x.starts_with("placement") && x.contains("offset")));
}
