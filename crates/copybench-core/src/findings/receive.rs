//! The receive strategies compared (`findings.receive`): per (mode, threads, send strategy),
//! every receive strategy's medians at each size, and the break-even of `zerocopy` receive
//! against `read` in receiver CPU per byte, by the send side's bracket rules
//! ([`crate::bracket`]).
//!
//! The groups of [`super::findings`] compare send strategies; with several receive strategies
//! in one run they would mix receive strategies in one cell, so [`primary`] picks the one they
//! see (`read` where it ran) and this module covers the receive axis.

use std::collections::BTreeSet;

use crate::bracket::{bracket, SizeSamples};
use crate::model::{ReceiveAtSize, ReceiveFigures, ReceiveFindings, ReceiveGroup, ReceiveKind};
use crate::result::Point;
use crate::stats::{advantage, median, Better};

/// The receive strategy the send-strategy findings are computed over: `read` where any point
/// read, else the first one measured.
pub fn primary(points: &[Point]) -> Option<ReceiveKind> {
    if points.iter().any(|p| p.receive == ReceiveKind::Read) {
        return Some(ReceiveKind::Read);
    }
    points.first().map(|p| p.receive)
}

/// The receive findings of `points`, `None` unless some send strategy ran with more than one
/// receive strategy.
pub fn receive_findings(points: &[Point]) -> Option<ReceiveFindings> {
    let keys: BTreeSet<(&str, usize, crate::model::StrategyKind)> = points
        .iter()
        .map(|p| (p.mode.name(), p.threads, p.strategy))
        .collect();
    let groups: Vec<ReceiveGroup> = keys
        .into_iter()
        .filter_map(|(mode, threads, strategy)| {
            let mine: Vec<&Point> = points
                .iter()
                .filter(|p| p.mode.name() == mode && p.threads == threads && p.strategy == strategy)
                .collect();
            group(&mine)
        })
        .collect();
    (!groups.is_empty()).then_some(ReceiveFindings { groups })
}

fn group(points: &[&Point]) -> Option<ReceiveGroup> {
    let receives: BTreeSet<ReceiveKind> = points.iter().map(|p| p.receive).collect();
    if receives.len() < 2 {
        return None;
    }
    let first = points.first()?;
    let sizes: BTreeSet<usize> = points.iter().map(|p| p.msg_size).collect();
    let of = |size: usize, receive: ReceiveKind| -> Vec<&Point> {
        points
            .iter()
            .copied()
            .filter(|p| p.msg_size == size && p.receive == receive && p.error.is_none())
            .collect()
    };
    let values = |cell: &[&Point], f: fn(&Point) -> Option<f64>| -> Vec<f64> {
        cell.iter()
            .filter_map(|p| f(p))
            .filter(|v| v.is_finite())
            .collect()
    };
    let cpu = |p: &Point| p.receiver.cpu_ns_per_byte;
    let at_size: Vec<ReceiveAtSize> = sizes
        .iter()
        .map(|&size| ReceiveAtSize {
            msg_size: size,
            receives: receives
                .iter()
                .filter_map(|&receive| {
                    let cell = of(size, receive);
                    (!cell.is_empty()).then(|| ReceiveFigures {
                        receive,
                        repetitions: cell.len(),
                        throughput_gbps: median(&values(&cell, |p| {
                            (p.duration_s > 0.0).then_some(p.throughput_gbps)
                        })),
                        receiver_cpu_ns_per_byte: median(&values(&cell, cpu)),
                        sender_cpu_ns_per_byte: median(&values(&cell, |p| {
                            p.sender.cpu_ns_per_byte
                        })),
                        mapped_ratio: median(&values(&cell, |p| p.receiver.mapped_ratio)),
                    })
                })
                .collect(),
        })
        .collect();
    let samples: Vec<SizeSamples<ReceiveKind>> = sizes
        .iter()
        .map(|&size| SizeSamples {
            msg_size: size,
            candidate: values(&of(size, ReceiveKind::Zerocopy), cpu),
            others: vec![(ReceiveKind::Read, values(&of(size, ReceiveKind::Read), cpu))],
        })
        .collect();
    let both = receives.contains(&ReceiveKind::Zerocopy) && receives.contains(&ReceiveKind::Read);
    let cpu_advantage = samples
        .iter()
        .map(|s| {
            let zc = median(&s.candidate)?;
            let read = median(&s.others[0].1)?;
            advantage(zc, read, Better::Lower)
        })
        .collect();
    Some(ReceiveGroup {
        mode: first.mode,
        threads: first.threads,
        strategy: first.strategy,
        sizes: at_size,
        break_even_cpu: if both {
            bracket(&samples, Better::Lower)
        } else {
            None
        },
        cpu_advantage,
    })
}

/// The lines the terminal prints for the receive findings.
pub fn receive_text(f: &ReceiveFindings) -> Vec<String> {
    let mut lines = Vec::new();
    for g in &f.groups {
        let mut parts = Vec::new();
        for s in &g.sizes {
            let each: Vec<String> = s
                .receives
                .iter()
                .map(|r| {
                    let gbps = r.throughput_gbps.map_or("-".into(), |v| format!("{v:.2}"));
                    let cpu = r
                        .receiver_cpu_ns_per_byte
                        .map_or("-".into(), |v| format!("{v:.3}"));
                    let mapped = r
                        .mapped_ratio
                        .map_or(String::new(), |m| format!(", {:.0}% mapped", m * 100.0));
                    format!("{} {gbps} Gbps / rx {cpu} ns/B{mapped}", r.receive)
                })
                .collect();
            parts.push(format!(
                "{}: {}",
                super::size_text(s.msg_size as f64),
                each.join("; ")
            ));
        }
        lines.push(format!(
            "receive, {} x{} ({}): {}",
            g.strategy,
            g.threads,
            g.mode,
            parts.join(" | ")
        ));
        if let Some(b) = &g.break_even_cpu {
            lines.push(format!(
                "  zerocopy receive vs read, receiver CPU/byte: {}",
                super::bracket_text(b)
            ));
        }
    }
    lines
}
