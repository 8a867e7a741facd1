//! The "Both ends" section: present only for results with a receive strategy other than
//! `read`, one table row per (send, receive, size) with zerocopy receive's mapped share, and a
//! note (never zeros) where no CPU figure was measured.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use copybench_core::engine::{run_point, Endpoints, NoHooks, PointParams, ReceiveKind};
use copybench_core::receive::PAGE_ALIGNED_MSS;
use copybench_core::StrategyKind;
use copybench_plot::{sections, ChartBody, LabeledRun};

use crate::common;

fn run_with(receives: &[ReceiveKind]) -> Vec<LabeledRun> {
    let mut results = common::loopback_run(
        &common::Sweep {
            sizes: vec![64 << 10],
            threads: vec![1],
            rr_threads: vec![],
            repetitions: 0,
            warmup: Duration::from_millis(30),
            duration: Duration::from_millis(100),
            with_failure: false,
        },
        "copybench run --receive",
    );
    for strategy in [StrategyKind::ScatterGather, StrategyKind::ZeroCopy] {
        for &receive in receives {
            let mut p = PointParams::new(strategy, 64 << 10, 1);
            p.warmup = Duration::from_millis(30);
            p.duration = Duration::from_millis(100);
            p.pool = Some(16);
            p.receive = receive;
            p.tcp_maxseg = Some(PAGE_ALIGNED_MSS);
            let point = run_point(
                &p,
                &Endpoints::loopback(),
                &NoHooks,
                &AtomicBool::new(false),
            )
            .unwrap_or_else(|e| panic!("{strategy} <- {receive}: {e}"));
            results.points.push(point);
        }
    }
    vec![LabeledRun {
        label: "r".into(),
        path: None,
        results,
    }]
}

#[test]
fn receive_strategies_get_both_ends_section_and_read_alone_does_not() {
    let read_only = sections(&run_with(&[ReceiveKind::Read])).unwrap();
    assert!(read_only.iter().all(|s| s.id != "chart-receive"));

    let all = sections(&run_with(&[ReceiveKind::Read, ReceiveKind::Zerocopy])).unwrap();
    let s = all
        .iter()
        .find(|s| s.id == "chart-receive")
        .expect("the section");
    let table = s.table.as_ref().expect("its table");
    assert_eq!(table.rows.len(), 4, "{:?}", table.rows);
    let mapped = table.header.iter().position(|h| h == "mapped").unwrap();
    for row in &table.rows {
        if row[0].ends_with("<- zerocopy") {
            assert!(row[mapped].ends_with('%'), "{row:?}");
        } else {
            assert_eq!(row[mapped], "-", "read maps nothing: not 0%: {row:?}");
        }
    }
    // No hooks, no counters, no /proc/stat: nothing to draw, and it says so.
    match &s.body {
        ChartBody::Note(n) => assert!(n.contains("No CPU per byte"), "{n}"),
        ChartBody::Chart(_) => panic!("a chart of figures nobody measured"),
    }
}
