//! The share of zero-copy sends the kernel copied after all.

use super::*;

/// The words that go with every copied-ratio chart.
pub const COPIED_RATIO_WORDS: &str = "1.0 = the kernel copied every send (always so on \
                                      loopback/veth: local delivery copies); only a real NIC \
                                      shows true zero-copy";

pub(super) fn copied_ratio(input: &ChartInputs<'_>) -> ChartSection {
    let runs = input.runs;
    let aggs = input.own;
    let rows = prefer_mode(aggs, Mode::Stream, |a| a.zerocopy_copied_ratio.is_some());
    // Every zero-copy path (MSG_ZEROCOPY and io_uring's SEND_ZC): the strategies with a ratio.
    let zero_copy: BTreeSet<StrategyKind> = rows
        .iter()
        .filter(|a| a.zerocopy_copied_ratio.is_some())
        .map(|a| a.strategy)
        .collect();
    let rows: Vec<&Aggregate> = rows
        .into_iter()
        .filter(|a| zero_copy.contains(&a.strategy))
        .collect();
    let panels = Panels::by_threads(rows.iter().map(|a| (a.mode, a.threads)));
    let series = by_size_series(
        runs,
        &rows,
        &panels,
        |a| a.zerocopy_copied_ratio,
        ("", None),
        &[],
    );
    let topologies: BTreeSet<&str> = runs
        .iter()
        .map(|r| r.results.config.topology.kind.name())
        .collect();
    let mut chart = by_size_chart(
        BySize {
            id: "chart-copied",
            title: "Zero-copy: share of sends the kernel copied",
            subtitle: "1.0 = every send copied (always so on loopback/veth); only a real NIC \
                       shows true zero-copy"
                .into(),
            y_name: "copied share (0..1)",
            unit: "",
            y_range: Some((0.0, 1.0)),
            rank: &input.rank,
        },
        panels,
        series,
    );
    chart.title = "Zero-copy copied ratio vs message size".into();
    section(
        format!(
            "Share of zero-copy completions the kernel flagged as copied, for every zero-copy \
             path (MSG_ZEROCOPY: SO_EE_CODE_ZEROCOPY_COPIED; io_uring SEND_ZC: \
             IORING_NOTIF_USAGE_ZC_COPIED). {COPIED_RATIO_WORDS}. Topology here: {}.",
            topologies.into_iter().collect::<Vec<_>>().join(", ")
        ),
        chart,
        "No zero-copy completions in these results (no zero-copy points, or none completed).",
        vec![],
    )
}
