//! Latency percentiles: one panel per message size.

use super::*;

pub(super) fn latency(input: &ChartInputs<'_>) -> ChartSection {
    let runs = input.runs;
    let aggs = input.own;
    let rows = prefer_mode(aggs, Mode::Rr, |a| a.latency_p50_us.is_some());
    let rows: Vec<&Aggregate> = rows
        .into_iter()
        .filter(|a| a.latency_p50_us.is_some())
        .collect();
    let what: BTreeSet<Mode> = rows.iter().map(|a| a.mode).collect();
    let (heading, kind) = match (what.contains(&Mode::Rr), what.contains(&Mode::Stream)) {
        (true, false) => (
            "Round-trip latency vs threads (rr mode)",
            "round trip of one message and its small reply, per thread, under 1..N \
             concurrent threads",
        ),
        (false, true) => (
            "Send-call latency vs threads (stream mode)",
            "stream mode: time spent inside the send call(s) for one message (no rr run \
             in these results)",
        ),
        _ => (
            "Latency vs threads (rr: round trip; stream: send call)",
            "rr series time a round trip; stream series time the send call(s) of one \
             message (runs without rr points)",
        ),
    };
    let sizes: BTreeSet<usize> = rows.iter().map(|a| a.msg_size).collect();
    let panel_of: BTreeMap<usize, usize> = sizes.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let series = latency_series(runs, &rows, &panel_of, what.len() > 1);
    let all_positive = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter_map(|(_, s, _)| *s)
        .all(|s| s.min > 0.0);
    section(
        format!(
            "Latency percentiles in microseconds against thread count ({kind}), one panel per \
             message size and one colour per strategy; p50 solid, p99 dashed, p99.9 dotted; \
             the median over repetitions with min..max bars."
        ),
        XyChart {
            id: "chart-latency".into(),
            title: heading.into(),
            subtitle: format!("{}{}", repetitions_note(&rows), log_note(all_positive)),
            x: XKind::Threads,
            x_name: "threads (connections)".into(),
            y_name: "latency (µs)".into(),
            unit: "µs".into(),
            y_log: all_positive,
            y_range: None,
            panels: sizes.iter().map(|s| format_bytes(*s)).collect(),
            series,
            rank: input.rank.clone(),
        },
        "No latency was measured in these results (neither rr round trips nor stream \
         send-call samples).",
        vec![],
    )
}

fn latency_series(
    runs: &[LabeledRun],
    rows: &[&Aggregate],
    panel_of: &BTreeMap<usize, usize>,
    mixed_modes: bool,
) -> Vec<SeriesSpec> {
    let mut groups: BTreeMap<(usize, StrategyKind, usize, Mode), Vec<&Aggregate>> = BTreeMap::new();
    for a in rows {
        groups
            .entry((a.run, a.strategy, a.msg_size, a.mode))
            .or_default()
            .push(a);
    }
    type Percentile = (&'static str, LineStyleType, fn(&Aggregate) -> Option<Stat>);
    let percentiles: [Percentile; 3] = [
        ("p50", LineStyleType::Solid, |a| a.latency_p50_us),
        ("p99", LineStyleType::Dashed, |a| a.latency_p99_us),
        ("p99.9", LineStyleType::Dotted, |a| a.latency_p999_us),
    ];
    let mut series = Vec::new();
    for ((run, strategy, size, mode), mut members) in groups {
        members.sort_by_key(|a| a.threads);
        for (pname, line, get) in &percentiles {
            if members.iter().all(|a| get(a).is_none()) {
                continue;
            }
            let mode_note = if mixed_modes {
                format!(" {mode}")
            } else {
                String::new()
            };
            series.push(SeriesSpec {
                name: format!(
                    "{}{}{mode_note} {pname}",
                    run_prefix(runs, run),
                    strategy_label(strategy),
                ),
                color: strategy_color(strategy),
                line: *line,
                symbol: run_symbol(run),
                panel: panel_of[&size],
                points: members
                    .iter()
                    .map(|a| (a.threads as f64, get(a), a.repetitions))
                    .collect(),
                marks: Vec::new(),
            });
        }
    }
    series
}
