//! Last-level cache misses per KiB, or the note that says why they are missing.

use super::*;

/// The exact words shown when no LLC figure exists.
pub const LLC_NOT_MEASURED: &str = "LLC misses not measured: this machine exposes no hardware \
                                    PMU (see host.counters_available)";

pub(super) fn llc(input: &ChartInputs<'_>) -> ChartSection {
    let runs = input.runs;
    let aggs = input.own;
    let rows = prefer_mode(aggs, Mode::Stream, |a| a.llc_misses_per_kib.is_some());
    let events: BTreeSet<&str> = rows
        .iter()
        .filter(|a| a.llc_misses_per_kib.is_some())
        .filter_map(|a| a.llc_event.as_deref())
        .collect();
    let generic = events.contains("cache-misses");
    let heading = if generic && events.len() == 1 {
        "Cache misses per KiB vs message size (generic cache-misses event)"
    } else {
        "LLC misses per KiB vs message size"
    };
    let caption = if generic {
        "Sender cache misses per KiB of payload. The LLC event is absent on this CPU: the \
         figures come from the generic cache-misses event, whose meaning varies by CPU (often \
         LLC references that missed, sometimes all levels)."
            .to_string()
    } else {
        "Sender last-level-cache misses per KiB of payload (llc-read-misses), the cost of \
         the copies in cache traffic."
            .to_string()
    };
    let mut remarks = Vec::new();
    if generic && events.len() > 1 {
        remarks.push(format!(
            "Runs used different events ({}): compare with care.",
            events.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let counters_off: Vec<&str> = runs
        .iter()
        .filter(|r| !r.results.config.counters)
        .map(|r| r.label.as_str())
        .collect();
    let mut empty = LLC_NOT_MEASURED.to_string();
    if !counters_off.is_empty() {
        empty.push_str(&format!(
            ". Counters were also switched off for: {}.",
            counters_off.join(", ")
        ));
    }
    let panels = Panels::by_threads(rows.iter().map(|a| (a.mode, a.threads)));
    let series = by_size_series(
        runs,
        &rows,
        &panels,
        |a| a.llc_misses_per_kib,
        ("", None),
        &[],
    );
    let chart = by_size_chart(
        BySize {
            id: "chart-llc",
            title: heading,
            subtitle: repetitions_note(&rows),
            y_name: "LLC misses per KiB",
            unit: "misses/KiB",
            y_range: None,
            rank: &input.rank,
        },
        panels,
        series,
    );
    section(caption, chart, &empty, remarks)
}
