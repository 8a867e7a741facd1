//! Paced groups (`--rate`): every strategy moved the same target rate, so the ranking figure
//! is sender CPU per byte (the group's `metric`, with the usual winner rule), and each size
//! says what the cheapest strategy saves over the runner-up. Points that missed the target are
//! flagged: they ran at a lower load than the rest of their group.

use super::size_text;
use crate::model::findings::{Caveat, CaveatKind, Saving, SizeFinding, Verdict};
use crate::model::TopologyKind;
use crate::result::Point;
use crate::units::rate_text;

/// The saving at every size whose verdict has a leader and a runner-up (the verdicts of a
/// paced group rank by sender CPU per byte, so their margin is the saving).
pub(crate) fn savings(sizes: &[SizeFinding], rate_bps: u64, topology: TopologyKind) -> Vec<Saving> {
    sizes
        .iter()
        .filter_map(|s| {
            let (strategy, against, margin, told_apart) = match &s.verdict {
                Verdict::Winner {
                    strategy,
                    runner_up,
                    margin,
                    ..
                } => (*strategy, *runner_up, *margin, true),
                Verdict::NoClearWinner {
                    leader,
                    runner_up,
                    margin,
                    ..
                } => (*leader, *runner_up, *margin, false),
                _ => return None,
            };
            let saving = margin?;
            let at = format!(
                "at {} x {} on {topology}",
                rate_text(rate_bps as f64),
                size_text(s.msg_size as f64)
            );
            let text = if told_apart {
                format!(
                    "{strategy} saves {:.0}% sender CPU {at} (vs {against})",
                    saving * 100.0
                )
            } else {
                format!(
                    "{strategy} leads {against} by {:.0}% sender CPU {at}, not told apart: no \
                     saving established",
                    saving * 100.0
                )
            };
            Some(Saving {
                msg_size: s.msg_size,
                strategy,
                against,
                saving,
                told_apart,
                text,
            })
        })
        .collect()
}

/// A caveat naming the paced points of a group that did not reach their target rate.
pub(crate) fn missed_rate(points: &[&Point]) -> Option<Caveat> {
    let missed: Vec<String> = points
        .iter()
        .filter_map(|p| {
            let pacing = p.pacing.as_ref().filter(|x| !x.rate_reached)?;
            Some(format!(
                "{} {} rep {} ({} of {})",
                p.strategy,
                size_text(p.msg_size as f64),
                p.repetition,
                pacing
                    .reached_bps
                    .map_or_else(|| "nothing".to_string(), rate_text),
                rate_text(pacing.target_bps as f64)
            ))
        })
        .collect();
    if missed.is_empty() {
        return None;
    }
    Some(Caveat {
        kind: CaveatKind::RateNotReached,
        text: format!(
            "{} paced point(s) did not reach 95% of the target rate: {}; their figures are at a \
             lower load than the others' (more CPUs, a lower --rate, or larger messages would help)",
            missed.len(),
            missed.join(", ")
        ),
    })
}
