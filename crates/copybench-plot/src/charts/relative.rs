//! The headline: each strategy relative to two-copy, from the findings.

use super::*;

/// The headline: each strategy's median throughput (solid) and sender CPU per byte (dashed)
/// divided by two-copy's, per size, one panel per thread count, from the findings.
pub(super) fn relative(input: &ChartInputs<'_>) -> ChartSection {
    let runs = input.runs;
    let findings = input.findings;
    let stream = findings
        .iter()
        .flat_map(|f| f.groups.iter())
        .any(|g| g.metric == Figure::ThroughputGbps);
    let groups: Vec<(usize, &copybench_core::findings::Group, Mode)> = findings
        .iter()
        .enumerate()
        .flat_map(|(run, f)| f.groups.iter().map(move |g| (run, g)))
        .filter(|(_, g)| !stream || g.metric == Figure::ThroughputGbps)
        .map(|(run, g)| (run, g, g.mode))
        .collect();
    let panels = Panels::by_threads(groups.iter().map(|(_, g, m)| (*m, g.threads)));
    let mut series = Vec::new();
    for (run, g, mode) in &groups {
        series.extend(relative_series(
            runs,
            *run,
            g,
            panels.index[&(*mode, g.threads)],
        ));
    }
    // The reference line, once per panel, on the panel's first series.
    let mut marked = BTreeSet::new();
    for s in &mut series {
        if marked.insert(s.panel) {
            s.marks.push(Mark::Y {
                at: 1.0,
                label: "two-copy = 1".into(),
            });
        }
    }
    let figure = if stream { "throughput" } else { "p50 latency" };
    let chart = by_size_chart(
        BySize {
            id: "chart-relative",
            title: "Relative to two-copy",
            subtitle: format!(
                "median {figure} (solid) and sender CPU/byte (dashed) / two-copy's; above 1 = \
                 more {}",
                if stream {
                    "throughput or CPU"
                } else {
                    "latency or CPU"
                }
            ),
            y_name: "ratio to two-copy (x)",
            unit: "x",
            y_range: None,
            rank: &input.rank,
        },
        panels,
        series,
    );
    section(
        format!(
            "Each strategy's median {figure} and median sender CPU time per byte divided by \
             two-copy's at the same size and thread count (the findings' ratios). More \
             throughput is better; more CPU per byte is worse. Missing figures are left out, \
             never drawn as 0."
        ),
        chart,
        "No ratios to two-copy: two-copy was not measured in these results (or nothing else \
         was).",
        vec![],
    )
}

fn relative_series(
    runs: &[LabeledRun],
    run: usize,
    g: &copybench_core::findings::Group,
    panel: usize,
) -> Vec<SeriesSpec> {
    let strategies: BTreeSet<StrategyKind> = g
        .sizes
        .iter()
        .flat_map(|s| s.strategies.iter().map(|x| x.strategy))
        .filter(|k| *k != StrategyKind::TwoCopy)
        .collect();
    type Ratio = fn(&copybench_core::findings::StrategyFigures) -> Option<f64>;
    let kinds: [(&str, LineStyleType, Ratio); 2] = [
        (g.metric.label(), LineStyleType::Solid, |x| {
            x.metric_vs_twocopy
        }),
        ("CPU/byte", LineStyleType::Dashed, |x| x.cpu_vs_twocopy),
    ];
    let mut out = Vec::new();
    for k in strategies {
        for (what, line, ratio) in &kinds {
            let points: Vec<(f64, Option<Stat>, usize)> = g
                .sizes
                .iter()
                .filter_map(|s| {
                    let x = s.strategies.iter().find(|x| x.strategy == k)?;
                    let r = ratio(x).filter(|r| r.is_finite() && *r > 0.0);
                    let stat = r.map(|r| Stat {
                        median: r,
                        min: r,
                        max: r,
                    });
                    Some((s.msg_size as f64, stat, x.repetitions))
                })
                .collect();
            if points.iter().all(|p| p.1.is_none()) {
                continue;
            }
            out.push(SeriesSpec {
                name: format!("{}{} {what}", run_prefix(runs, run), strategy_label(k)),
                color: strategy_color(k),
                line: *line,
                symbol: run_symbol(run),
                panel,
                points,
                marks: Vec::new(),
            });
        }
    }
    out
}
