//! The paced chart (`copybench run --rate`): sender and receiver CPU per byte against the
//! target rate, only where some run was paced, and paced points kept out of the size charts.

use copybench_core::engine::pacing::PacingMethod;
use copybench_core::result::{PacingRecord, RunResults};
use copybench_plot::{load_results, sections, ChartBody, LabeledRun};

use crate::common;

fn one(results: RunResults) -> Vec<LabeledRun> {
    vec![LabeledRun {
        label: "r".into(),
        path: None,
        results,
    }]
}

/// The fixture's stream points, each paced at 1 Gbps and again at 4 Gbps, with a sender CPU
/// per byte that halves from 1 to 4 Gbps (and a receiver's a tenth of it).
fn paced_fixture() -> RunResults {
    let mut run = load_results(&common::fixture_path()).unwrap();
    let stream: Vec<_> = run
        .points
        .iter()
        .filter(|p| p.mode == copybench_core::engine::Mode::Stream && p.error.is_none())
        .cloned()
        .collect();
    run.points.clear();
    for (rate, cpu) in [(1_000_000_000u64, 2.0), (4_000_000_000, 1.0)] {
        for mut p in stream.clone() {
            p.pacing = Some(PacingRecord {
                method: PacingMethod::UserSleep,
                target_bps: rate,
                reached_bps: Some(rate as f64 * 0.99),
                rate_reached: rate == 1_000_000_000,
                slept_s: Some(0.1),
            });
            p.sender.cpu_ns_per_byte = Some(cpu);
            p.receiver.cpu_ns_per_byte = Some(cpu / 10.0);
            run.points.push(p);
        }
    }
    run
}

#[test]
fn unpaced_results_have_no_paced_section() {
    let all = sections(&one(load_results(&common::fixture_path()).unwrap())).unwrap();
    assert!(all.iter().all(|s| s.id != "chart-paced"));
}

#[test]
fn paced_results_draw_cpu_per_byte_against_the_rate_per_size() {
    let run = paced_fixture();
    let cells: std::collections::BTreeSet<(usize, usize)> =
        run.points.iter().map(|p| (p.msg_size, p.threads)).collect();
    let all = sections(&one(run)).unwrap();
    let paced = all
        .iter()
        .find(|s| s.id == "chart-paced")
        .expect("a paced section");
    let ChartBody::Chart(option) = &paced.body else {
        panic!("a note: {:?}", paced.body)
    };
    // One panel per size and thread count.
    assert_eq!(paced.panels.len(), cells.len(), "{:?}", paced.panels);
    assert!(option.contains("target rate per connection (Gbps)"));
    assert!(option.contains("twocopy sender") && option.contains("twocopy receiver"));
    // The two rates are the x values: 1 and 4 Gbps, medians 2 and 1 ns/B.
    let dense: String = option.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(dense.contains("[1.0,2.0,2.0,2.0,"), "{option}");
    assert!(dense.contains("[4.0,1.0,1.0,1.0,"), "{option}");
    // 4 Gbps was marked as not reached: the chart says so.
    assert!(
        paced
            .remarks
            .iter()
            .any(|r| r.contains("did not reach 95%")),
        "{:?}",
        paced.remarks
    );
    // Paced points are in no chart against message size (they are not at full speed).
    let throughput = all.iter().find(|s| s.id == "chart-throughput").unwrap();
    assert!(
        matches!(throughput.body, ChartBody::Note(_)),
        "the size chart drew paced points"
    );
}
