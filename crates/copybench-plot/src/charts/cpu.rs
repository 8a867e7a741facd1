//! CPU per byte, sender and receiver, against message size.

use super::*;

pub(super) fn cpu(input: &ChartInputs<'_>) -> ChartSection {
    let runs = input.runs;
    let aggs = input.own;
    let findings = input.findings;
    let rows = prefer_mode(aggs, Mode::Stream, |a| {
        a.sender_cpu_ns_per_byte.is_some() || a.receiver_cpu_ns_per_byte.is_some()
    });
    let sender = rows.iter().any(|a| a.sender_cpu_ns_per_byte.is_some());
    let receiver = rows.iter().any(|a| a.receiver_cpu_ns_per_byte.is_some());
    let panels = Panels::by_threads(rows.iter().map(|a| (a.mode, a.threads)));
    let marks = break_even_marks(findings, Figure::SenderCpuNsPerByte);
    let mut series = by_size_series(
        runs,
        &rows,
        &panels,
        |a| a.sender_cpu_ns_per_byte,
        (" sender", Some(LineStyleType::Solid)),
        &marks,
    );
    series.extend(by_size_series(
        runs,
        &rows,
        &panels,
        |a| a.receiver_cpu_ns_per_byte,
        (" receiver", Some(LineStyleType::Dashed)),
        &[],
    ));
    let mut remarks = Vec::new();
    if sender && !receiver {
        remarks.push("Receiver CPU per byte was not measured in these results.".into());
    }
    if receiver && !sender {
        remarks.push("Sender CPU per byte was not measured in these results.".into());
    }
    let chart = by_size_chart(
        BySize {
            id: "chart-cpu",
            title: "CPU time per byte vs message size",
            subtitle: format!("sender solid, receiver dashed; {}", repetitions_note(&rows)),
            y_name: "CPU time (ns per byte)",
            unit: "ns/B",
            y_range: None,
            rank: &input.rank,
        },
        panels,
        series,
    );
    section(
        "Thread CPU time (task clock) per payload byte in nanoseconds, one panel per thread \
         count, sender threads solid and receiver threads dashed; a dashed vertical line marks \
         a zero-copy strategy's break-even in sender CPU per byte. Softirq work done on behalf \
         of a connection is not in per-thread figures."
            .into(),
        chart,
        "CPU time per byte not measured: neither sender.cpu_ns_per_byte nor \
         receiver.cpu_ns_per_byte is present (counters were off, or the task-clock counter \
         could not be opened).",
        remarks,
    )
}
