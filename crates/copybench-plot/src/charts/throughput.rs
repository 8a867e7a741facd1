//! Throughput against message size: one panel per thread count, break-even sizes marked.

use super::*;

pub(super) fn throughput(input: &ChartInputs<'_>) -> ChartSection {
    let runs = input.runs;
    let aggs = input.own;
    let findings = input.findings;
    let rows = prefer_mode(aggs, Mode::Stream, |a| a.throughput_gbps.is_some());
    let panels = Panels::by_threads(rows.iter().map(|a| (a.mode, a.threads)));
    let marks = break_even_marks(findings, Figure::ThroughputGbps);
    let series = by_size_series(
        runs,
        &rows,
        &panels,
        |a| a.throughput_gbps,
        ("", None),
        &marks,
    );
    let caption = "Payload throughput (1 Gbps = 10^9 bit/s) against message size, one panel per \
                   thread count and one colour per strategy; the median over repetitions, with \
                   min..max bars and all three in the tooltip. A dashed vertical line marks a \
                   zero-copy strategy's break-even size from the findings."
        .to_string();
    section(
        caption,
        by_size_chart(
            BySize {
                id: "chart-throughput",
                title: "Throughput vs message size",
                subtitle: repetitions_note(&rows),
                y_name: "throughput (Gbps)",
                unit: "Gbps",
                y_range: None,
                rank: &input.rank,
            },
            panels,
            series,
        ),
        "No throughput figures in these results.",
        vec![],
    )
}
