//! Findings as text: a few lines per group for the terminal and the Markdown export.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::model::findings::*;
use crate::model::StrategyKind;
use crate::stats::Spread;

/// A size for people: `1500 B`, `4 KiB`, `23 KiB`, `1.5 MiB`.
pub fn size_text(bytes: f64) -> String {
    if !bytes.is_finite() || bytes < 0.0 {
        return "?".into();
    }
    let (value, unit) = if bytes >= (1u64 << 30) as f64 {
        (bytes / (1u64 << 30) as f64, "GiB")
    } else if bytes >= (1u64 << 20) as f64 {
        (bytes / (1u64 << 20) as f64, "MiB")
    } else if bytes >= 1024.0 {
        (bytes / 1024.0, "KiB")
    } else {
        return format!("{bytes:.0} B");
    };
    if (value - value.round()).abs() < 1e-9 || value >= 10.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

fn crossing_text(c: &Crossing) -> String {
    match c {
        Crossing::WinsFrom { size_bytes, .. } => format!("at ~{}", size_text(*size_bytes)),
        Crossing::AtOrBelowSmallest { smallest } => format!(
            "at or below {} (wins at every size measured)",
            size_text(*smallest as f64)
        ),
        Crossing::AboveLargest { largest } => format!(
            "above {} if at all (loses at every size measured; the gap narrows towards the largest)",
            size_text(*largest as f64)
        ),
        Crossing::Never { smallest, largest } if smallest == largest => format!(
            "not at {}, the only size measured",
            size_text(*smallest as f64)
        ),
        Crossing::Never { smallest, largest } => format!(
            "never in {}..{}",
            size_text(*smallest as f64),
            size_text(*largest as f64)
        ),
        Crossing::LosesFrom { size_bytes, .. } => {
            format!("loses from ~{} on", size_text(*size_bytes))
        }
        Crossing::NotMeasured { reason } => format!("unknown ({reason})"),
    }
}

/// "between 16 KiB and 64 KiB (16 KiB: no clear difference); ~23 KiB by interpolation, 90%
/// bootstrap interval 16 KiB..41 KiB": the evidence first, the point estimate beside it.
pub fn bracket_text(b: &Bracket) -> String {
    let [lo, hi] = b.bracket_bytes;
    let mut t = format!(
        "{} between {} and {}",
        if b.starts_winning {
            "starts winning"
        } else {
            "stops winning"
        },
        size_text(lo as f64),
        size_text(hi as f64)
    );
    let unclear: Vec<String> = [lo, hi]
        .iter()
        .zip(b.told_apart)
        .filter(|(_, apart)| !apart)
        .map(|(s, _)| size_text(*s as f64))
        .collect();
    if !unclear.is_empty() {
        let _ = write!(t, " ({}: no clear difference)", unclear.join(" and "));
    }
    let _ = write!(t, "; ~{} by interpolation", size_text(b.estimate_bytes));
    if let Some(i) = &b.interval {
        let end = |x: f64, open: bool, below: bool| {
            if open {
                format!("{} {}", if below { "below" } else { "above" }, size_text(x))
            } else {
                size_text(x)
            }
        };
        let _ = write!(
            t,
            ", {:.0}% bootstrap interval {}..{}",
            i.level * 100.0,
            end(i.low_bytes, i.open_below, true),
            end(i.high_bytes, i.open_above, false)
        );
    }
    t
}

fn figure_text(s: &Option<Spread>, f: Figure) -> String {
    match s {
        Some(s) => format!("{:.*} {}", f.digits(), s.median, f.unit()),
        None => "n/a".into(),
    }
}

/// A short human summary: a header line per group, a line per size, a line per zero-copy
/// strategy's break-even, and the caveats.
pub fn render_text(f: &Findings) -> String {
    let mut out = String::new();
    for g in &f.groups {
        let _ = writeln!(
            out,
            "{} {} {}, {} thread{} (by median {}; ratios vs {BASELINE}):",
            g.topology,
            g.protocol,
            g.mode,
            g.threads,
            if g.threads == 1 { "" } else { "s" },
            g.metric.label()
        );
        if let Some(rate) = g.rate_bps {
            let _ = writeln!(
                out,
                "  paced at {} per connection: ranked by sender CPU per byte at equal load",
                crate::units::rate_text(rate as f64)
            );
        }
        for s in &g.sizes {
            let at = format!("  at {} x{}", size_text(s.msg_size as f64), g.threads);
            let fig = |k: StrategyKind| {
                s.strategies
                    .iter()
                    .find(|x| x.strategy == k)
                    .map_or("n/a".into(), |x| figure_text(&x.metric, g.metric))
            };
            let head = match &s.verdict {
                Verdict::Winner { strategy, .. } => {
                    format!("{strategy} wins ({})", fig(*strategy))
                }
                Verdict::NoClearWinner {
                    leader, runner_up, ..
                } => format!(
                    "no clear winner ({leader} {} vs {runner_up} {}: {})",
                    fig(*leader),
                    fig(*runner_up),
                    s.unclear_why().unwrap_or_default()
                ),
                Verdict::Uncontested { strategy } => {
                    format!("only {strategy} measured ({})", fig(*strategy))
                }
                Verdict::NoData => "nothing measured".into(),
            };
            let ratios: Vec<String> = s
                .strategies
                .iter()
                .filter(|x| x.strategy != BASELINE)
                .filter(|x| x.metric_vs_twocopy.is_some() || x.cpu_vs_twocopy.is_some())
                .map(|x| {
                    // A missing figure is left out here; the caveats say why.
                    let mut t = x.strategy.to_string();
                    if let Some(r) = x.metric_vs_twocopy {
                        let _ = write!(t, " {r:.2}x {}", g.metric.unit());
                    }
                    // A paced group ranks by CPU per byte: its ratio once, not twice.
                    let cpu_ratio = x
                        .cpu_vs_twocopy
                        .filter(|_| g.metric != Figure::SenderCpuNsPerByte);
                    if let Some(r) = cpu_ratio {
                        if x.metric_vs_twocopy.is_some() {
                            t.push(',');
                        }
                        let _ = write!(t, " {r:.2}x CPU/B");
                    }
                    t
                })
                .collect();
            if ratios.is_empty() {
                let _ = writeln!(out, "{at}: {head}");
            } else {
                let _ = writeln!(out, "{at}: {head}; vs {BASELINE}: {}", ratios.join("; "));
            }
        }
        let strategies: BTreeSet<StrategyKind> = g.break_even.iter().map(|b| b.strategy).collect();
        for z in strategies {
            let parts: Vec<String> = g
                .break_even
                .iter()
                .filter(|b| b.strategy == z)
                .map(|b| {
                    let mut t = format!(
                        "in {}: {}",
                        b.metric.label(),
                        b.bracket
                            .as_ref()
                            .filter(|_| matches!(
                                b.result,
                                Crossing::WinsFrom { .. } | Crossing::LosesFrom { .. }
                            ))
                            .map_or_else(|| crossing_text(&b.result), bracket_text)
                    );
                    if b.non_monotonic {
                        let each: Vec<String> = b
                            .crossings
                            .iter()
                            .map(|c| {
                                format!(
                                    "{} at ~{}",
                                    if c.starts_winning {
                                        "starts winning"
                                    } else {
                                        "stops"
                                    },
                                    size_text(c.size_bytes)
                                )
                            })
                            .collect();
                        let _ = write!(t, " (non-monotonic: {})", each.join(", "));
                    } else if matches!(b.result, Crossing::LosesFrom { .. }) {
                        t.push_str(" (wins below)");
                    }
                    t
                })
                .collect();
            let against: BTreeSet<StrategyKind> = g
                .break_even
                .iter()
                .filter(|b| b.strategy == z)
                .flat_map(|b| b.against.iter().copied())
                .collect();
            let against = if against.is_empty() {
                "the best copying strategy".to_string()
            } else {
                against
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join("/")
            };
            let _ = writeln!(out, "  {z} breaks even with {against} {}", parts.join("; "));
        }
        for saving in &g.savings {
            let _ = writeln!(out, "  {}", saving.text);
        }
        for c in &g.caveats {
            let _ = writeln!(out, "  caveat: {}", c.text);
        }
    }
    if let Some(r) = &f.receive {
        for line in super::receive_text(r) {
            let _ = writeln!(out, "{line}");
        }
    }
    for c in &f.caveats {
        let _ = writeln!(out, "caveat: {}", c.text);
    }
    if f.groups.is_empty() {
        let _ = writeln!(out, "no points: no findings");
    }
    out
}
