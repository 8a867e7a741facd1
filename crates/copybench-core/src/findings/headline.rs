//! The answer in at most five sentences: what the terminal prints last and the report shows
//! under its decision map, derived from the stored findings only (never from the points, so
//! that the report of a file and the run that wrote it say the same).
//!
//! The sentences, in this order of priority, cut at [`HEADLINE_MAX`]:
//! 1. per family of groups (topology, protocol, mode, target rate): who wins at which sizes,
//!    by how much, and where no winner is clear (or that none is, anywhere, and why);
//! 2. per family: where each zero-copy strategy breaks even with the best copying one in the
//!    ranking figure, with the bracket's evidence and bootstrap interval;
//! 3. whether the kernel really avoided the copy (the copied share of zero-copy sends);
//! 4. which side paid: the sender's CPU per byte against two-copy's, and where a skipped copy
//!    went when the kernel copied after all;
//! 5. the caveat that most changes the reading (a stopped run, failed points, few
//!    repetitions, noise).

use std::collections::{BTreeMap, BTreeSet};

use super::{bracket_text, size_text};
use crate::model::findings::*;
use crate::model::{Mode, Protocol, StrategyKind, TopologyKind};
use crate::stats::NOISY_CV;
use crate::units::rate_text;

/// At most this many sentences.
pub const HEADLINE_MAX: usize = 5;

/// Groups that share everything but the thread count: one grid of the decision map.
type FamilyKey = (TopologyKind, Protocol, Mode, Option<u64>);

/// The most decision-relevant statements of `f`, at most [`HEADLINE_MAX`], each one sentence.
pub fn headline(f: &Findings) -> Vec<String> {
    let families = families(f);
    let mut out: Vec<String> = Vec::new();
    if families.is_empty() {
        out.push("No points were measured: there are no findings.".into());
    }
    let several = families.len() > 1;
    for (key, groups) in &families {
        out.push(winners_sentence(key, groups));
    }
    for (key, groups) in &families {
        if let Some(s) = break_even_sentence(key, groups, several) {
            out.push(s);
        }
    }
    let all: Vec<&Group> = f.groups.iter().collect();
    out.extend(copied_sentence(&all));
    out.extend(cpu_sentence(&all));
    out.extend(caveat_sentences(f));
    out.truncate(HEADLINE_MAX);
    out
}

/// The groups by family, in the findings' order.
fn families(f: &Findings) -> Vec<(FamilyKey, Vec<&Group>)> {
    let mut out: Vec<(FamilyKey, Vec<&Group>)> = Vec::new();
    for g in &f.groups {
        let key = (g.topology, g.protocol, g.mode, g.rate_bps);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, groups)) => groups.push(g),
            None => out.push((key, vec![g])),
        }
    }
    out
}

/// "On loopback tcp stream" (and "paced at 2 Gbps per connection").
fn family_text((topology, protocol, mode, rate): &FamilyKey) -> String {
    let mut t = format!("On {topology} {protocol} {mode}");
    if let Some(r) = rate {
        t.push_str(&format!(
            " paced at {} per connection",
            rate_text(*r as f64)
        ));
    }
    t
}

fn threads_text(threads: &BTreeSet<usize>) -> String {
    let mut list: Vec<String> = threads.iter().map(|t| t.to_string()).collect();
    if list == ["1"] {
        return "1 thread".into();
    }
    let last = list.pop().unwrap_or_default();
    if list.is_empty() {
        format!("{last} threads")
    } else {
        format!("{} and {last} threads", list.join(", "))
    }
}

fn capitalised(s: String) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => s,
    }
}

/// The cells (size, threads) of a family where something holds, in words: sizes ascending,
/// consecutive measured sizes as a range, a size with its thread counts when it does not hold
/// at every thread count of the family measured there.
fn cells_text(
    cells: &BTreeSet<(usize, usize)>,
    sizes_of_family: &BTreeMap<usize, BTreeSet<usize>>,
) -> String {
    let all_sizes: Vec<usize> = sizes_of_family.keys().copied().collect();
    // (size, qualifier) per size, ascending.
    let mut items: Vec<(usize, Option<String>)> = Vec::new();
    for (&size, threads_there) in sizes_of_family {
        let mine: BTreeSet<usize> = cells
            .iter()
            .filter(|(s, _)| *s == size)
            .map(|(_, t)| *t)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let qualifier = (&mine != threads_there).then(|| {
            let list: Vec<String> = mine.iter().map(|t| format!("x{t}")).collect();
            list.join(", ")
        });
        items.push((size, qualifier));
    }
    let index = |s: usize| all_sizes.iter().position(|&x| x == s).unwrap_or(0);
    // Runs of consecutive measured sizes with the same thread qualifier become one range.
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let mut end = i;
        while end + 1 < items.len()
            && items[end + 1].1 == items[i].1
            && index(items[end + 1].0) == index(items[end].0) + 1
        {
            end += 1;
        }
        let mut part = if end == i {
            size_text(items[i].0 as f64)
        } else {
            format!(
                "{}..{}",
                size_text(items[i].0 as f64),
                size_text(items[end].0 as f64)
            )
        };
        if let Some(q) = &items[i].1 {
            part.push_str(&format!(" ({q})"));
        }
        parts.push(part);
        i = end + 1;
    }
    match parts.len() {
        0 => String::new(),
        1 => parts.remove(0),
        _ => {
            let last = parts.pop().unwrap_or_default();
            format!("{} and {last}", parts.join(", "))
        }
    }
}

/// "by 12%" or "by 10..35%" over the margins given (`None` where unknown).
fn margins_text(margins: &[Option<f64>]) -> String {
    let known: Vec<f64> = margins
        .iter()
        .flatten()
        .copied()
        .filter(|m| m.is_finite())
        .collect();
    let (Some(lo), Some(hi)) = (
        known.iter().copied().reduce(f64::min),
        known.iter().copied().reduce(f64::max),
    ) else {
        return String::new();
    };
    let (lo, hi) = ((lo * 100.0).round(), (hi * 100.0).round());
    if lo == hi {
        format!(" by {lo:.0}%")
    } else {
        format!(" by {lo:.0}..{hi:.0}%")
    }
}

/// Every (size, threads) of the family: sizes with the thread counts measured there.
fn family_sizes(groups: &[&Group]) -> BTreeMap<usize, BTreeSet<usize>> {
    let mut sizes: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for g in groups {
        for s in &g.sizes {
            sizes.entry(s.msg_size).or_default().insert(g.threads);
        }
    }
    sizes
}

/// The cells (size, threads) a strategy wins or leads at, with its margin at each.
#[derive(Default)]
struct Cells {
    at: BTreeSet<(usize, usize)>,
    margins: Vec<Option<f64>>,
}

impl Cells {
    fn add(&mut self, cell: (usize, usize), margin: Option<f64>) {
        self.at.insert(cell);
        self.margins.push(margin);
    }
}

/// "zero-copy at 64 KiB..256 KiB by 20..40%" per strategy, by the smallest size each holds
/// at (the sentence reads along the size axis); `verb` after the first name.
fn cells_list(
    by_strategy: &BTreeMap<StrategyKind, Cells>,
    sizes: &BTreeMap<usize, BTreeSet<usize>>,
    verb: &str,
) -> Vec<String> {
    let mut ranked: Vec<(&StrategyKind, &Cells)> = by_strategy.iter().collect();
    ranked.sort_by_key(|(k, c)| (c.at.first().copied(), **k));
    ranked
        .iter()
        .enumerate()
        .map(|(i, (k, c))| {
            format!(
                "{}{} at {}{}",
                k.label(),
                if i == 0 { verb } else { "" },
                cells_text(&c.at, sizes),
                margins_text(&c.margins)
            )
        })
        .collect()
}

/// Who wins where in one family, and where no winner is clear.
fn winners_sentence(key: &FamilyKey, groups: &[&Group]) -> String {
    let sizes = family_sizes(groups);
    let threads: BTreeSet<usize> = groups.iter().map(|g| g.threads).collect();
    let metric = groups.first().map_or(Figure::ThroughputGbps, |g| g.metric);
    let head = format!(
        "{} ({}), by median {}",
        family_text(key),
        threads_text(&threads),
        metric.label()
    );
    // Per strategy: its winning cells and their margins, in strategy order.
    let mut wins: BTreeMap<StrategyKind, Cells> = BTreeMap::new();
    let mut leads: BTreeMap<StrategyKind, Cells> = BTreeMap::new();
    let mut unclear: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut nothing: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut why: Option<String> = None;
    for g in groups {
        for s in &g.sizes {
            let cell = (s.msg_size, g.threads);
            match &s.verdict {
                Verdict::Winner {
                    strategy, margin, ..
                } => {
                    wins.entry(*strategy).or_default().add(cell, *margin);
                }
                Verdict::NoClearWinner { leader, margin, .. } => {
                    unclear.insert(cell);
                    leads.entry(*leader).or_default().add(cell, *margin);
                    if why.is_none() {
                        why = s.unclear_why();
                    }
                }
                Verdict::Uncontested { .. } | Verdict::NoData => {
                    nothing.insert(cell);
                }
            }
        }
    }
    let mut t = head;
    if wins.is_empty() {
        if leads.is_empty() {
            t.push_str(
                ": nothing could be compared (fewer than two strategies measured at every size)",
            );
        } else {
            t.push_str(&format!(
                ": no winner is clear at any size; the leaders by median are {}, but none is \
                 told apart from its runner-up ({})",
                cells_list(&leads, &sizes, "").join(", "),
                why.unwrap_or_else(|| "see the findings".into())
            ));
        }
    } else {
        t.push_str(&format!(
            ": {}",
            cells_list(&wins, &sizes, " wins").join("; ")
        ));
        if !unclear.is_empty() {
            t.push_str(&format!(
                "; no clear winner at {}",
                cells_text(&unclear, &sizes)
            ));
        }
    }
    if !nothing.is_empty() {
        t.push_str(&format!(
            "; fewer than two strategies to compare at {}",
            cells_text(&nothing, &sizes)
        ));
    }
    t.push('.');
    t
}

/// What one break-even says, without the strategy's name: "starts winning between 16 KiB and
/// 64 KiB (...)", "wins at every size measured", ...
fn crossing_phrase(b: &BreakEven) -> String {
    match (&b.result, &b.bracket) {
        (Crossing::WinsFrom { .. } | Crossing::LosesFrom { .. }, Some(br)) => {
            let mut t = bracket_text(br);
            if b.non_monotonic {
                t.push_str(" (the last of several sign changes)");
            }
            t
        }
        (Crossing::WinsFrom { size_bytes, .. }, None) => {
            format!("starts winning at ~{}", size_text(*size_bytes))
        }
        (Crossing::LosesFrom { size_bytes, .. }, None) => {
            format!("stops winning at ~{}", size_text(*size_bytes))
        }
        (Crossing::AtOrBelowSmallest { smallest }, _) => {
            format!("wins at every size measured (from {})", size_text(*smallest as f64))
        }
        (Crossing::AboveLargest { largest }, _) => format!(
            "loses at every size measured, the gap narrowing towards {}: a break-even, if any, lies above it",
            size_text(*largest as f64)
        ),
        (Crossing::Never { smallest, largest }, _) if smallest == largest => {
            format!("does not win at {}, the only size measured", size_text(*smallest as f64))
        }
        (Crossing::Never { smallest, largest }, _) => format!(
            "never wins in {}..{}",
            size_text(*smallest as f64),
            size_text(*largest as f64)
        ),
        (Crossing::NotMeasured { reason }, _) => format!("is unknown ({reason})"),
    }
}

/// Where each zero-copy strategy of one family breaks even in the ranking figure.
fn break_even_sentence(key: &FamilyKey, groups: &[&Group], several: bool) -> Option<String> {
    let metric = groups.first()?.metric;
    // Per zero-copy strategy: (threads, phrase, against) per group.
    let mut by_strategy: BTreeMap<StrategyKind, Vec<(usize, String, Vec<StrategyKind>)>> =
        BTreeMap::new();
    for g in groups {
        for b in g.break_even.iter().filter(|b| b.metric == g.metric) {
            by_strategy.entry(b.strategy).or_default().push((
                g.threads,
                crossing_phrase(b),
                b.against.clone(),
            ));
        }
    }
    if by_strategy.is_empty() {
        return None;
    }
    let mut against: BTreeSet<StrategyKind> = BTreeSet::new();
    let parts: Vec<String> = by_strategy
        .iter()
        .map(|(k, each)| {
            against.extend(each.iter().flat_map(|e| e.2.iter().copied()));
            let phrases: BTreeSet<&str> = each.iter().map(|e| e.1.as_str()).collect();
            if phrases.len() == 1 {
                format!("{} {}", k.label(), each[0].1)
            } else {
                let per: Vec<String> = each.iter().map(|(t, p, _)| format!("x{t}: {p}")).collect();
                format!("{} {}", k.label(), per.join("; "))
            }
        })
        .collect();
    let against = if against.is_empty() {
        "the best copying strategy".to_string()
    } else {
        against
            .iter()
            .map(|k| k.label())
            .collect::<Vec<_>>()
            .join("/")
    };
    let at = if several {
        format!(" ({})", family_text(key).trim_start_matches("On "))
    } else {
        String::new()
    };
    Some(format!(
        "Against {against} in {}{at}: {}.",
        metric.label(),
        parts.join("; ")
    ))
}

/// Whether the kernel really avoided the copy, from the copied share of every zero-copy
/// strategy's sends.
fn copied_sentence(groups: &[&Group]) -> Option<String> {
    let mut shares: BTreeMap<StrategyKind, Vec<f64>> = BTreeMap::new();
    let mut by_reference: BTreeSet<StrategyKind> = BTreeSet::new();
    let mut local = false;
    for g in groups {
        local |= g.topology.is_local_delivery();
        for x in g.sizes.iter().flat_map(|s| s.strategies.iter()) {
            match x.copied_ratio {
                Some(r) if r.is_finite() => shares.entry(x.strategy).or_default().push(r),
                _ if x.zero_copy && x.strategy.by_reference() => {
                    by_reference.insert(x.strategy);
                }
                _ => {}
            }
        }
    }
    if shares.is_empty() {
        if by_reference.is_empty() {
            return None;
        }
        let names: Vec<&str> = by_reference.iter().map(|k| k.label()).collect();
        return Some(format!(
            "{} hand the kernel page references with no completion, so whether the kernel \
             copied is not reported for them.",
            names.join(" and ")
        ));
    }
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    };
    let each: Vec<String> = shares
        .iter()
        .map(|(k, v)| {
            let (lo, hi) = range(v);
            if (hi - lo).abs() < 0.005 {
                format!("{} {:.0}%", k.label(), hi * 100.0)
            } else {
                format!("{} {:.0}..{:.0}%", k.label(), lo * 100.0, hi * 100.0)
            }
        })
        .collect();
    let all: Vec<f64> = shares.values().flatten().copied().collect();
    let (lo, hi) = range(&all);
    let list = each.join(", ");
    Some(if lo >= 0.995 {
        format!(
            "The kernel copied every zero-copy send after all ({list}){}: these figures are a \
             deferred copy, not NIC zero-copy.",
            if local {
                ", as local delivery over loopback or veth always does"
            } else {
                ""
            }
        )
    } else if hi <= 0.005 {
        format!(
            "The kernel really avoided the copy: it copied none of the zero-copy sends \
             ({list})."
        )
    } else {
        format!(
            "The kernel avoided the copy for only part of the zero-copy sends (copied: {list}): \
             the copied share varies by size or strategy."
        )
    })
}

/// Which side paid: sender CPU per byte of the zero-copy strategies against two-copy's.
fn cpu_sentence(groups: &[&Group]) -> Option<String> {
    let zero_copy: BTreeSet<StrategyKind> = groups
        .iter()
        .flat_map(|g| g.sizes.iter().flat_map(|s| s.strategies.iter()))
        .filter(|x| x.zero_copy)
        .map(|x| x.strategy)
        .collect();
    let first = *zero_copy.iter().next()?;
    let cells: Vec<(usize, usize, Option<f64>, Option<f64>)> = groups
        .iter()
        .flat_map(|g| {
            g.sizes.iter().filter_map(move |s| {
                let x = s.strategies.iter().find(|x| x.strategy == first)?;
                Some((s.msg_size, g.threads, x.cpu_vs_twocopy, x.copied_ratio))
            })
        })
        .collect();
    let measured: Vec<(usize, usize, f64)> = cells
        .iter()
        .filter_map(|(s, t, r, _)| r.filter(|r| r.is_finite()).map(|r| (*s, *t, r)))
        .collect();
    if measured.is_empty() {
        let any_cpu = groups
            .iter()
            .flat_map(|g| g.sizes.iter().flat_map(|s| s.strategies.iter()))
            .any(|x| x.sender_cpu_ns_per_byte.is_some());
        return Some(if any_cpu {
            format!(
                "Which side paid is unknown here: two-copy's or {}'s sender CPU per byte is \
                 missing, so there is no ratio.",
                first.label()
            )
        } else {
            "Which side paid is unknown: sender CPU per byte was not measured (counters \
             unsupported or off)."
                .into()
        });
    }
    let smallest = measured.iter().min_by_key(|m| (m.0, m.1))?;
    let largest = measured
        .iter()
        .max_by_key(|m| (m.0, std::cmp::Reverse(m.1)))?;
    let at = |m: &(usize, usize, f64)| format!("{:.2}x at {} x{}", m.2, size_text(m.0 as f64), m.1);
    let span = if smallest == largest {
        at(largest)
    } else {
        format!("{} and {}", at(smallest), at(largest))
    };
    let copied = cells.iter().any(|c| c.3.is_some_and(|r| r > 0.005));
    let tail = if copied {
        "; the kernel copied its sends anyway: the copy moved into its delivery path, it did \
         not disappear"
    } else {
        ""
    };
    let reading = if measured.iter().all(|m| m.2 > 1.0) {
        format!("the sender paid more with {}", first.label())
    } else if measured.iter().all(|m| m.2 < 1.0) {
        format!("the sender paid less with {}", first.label())
    } else {
        // Mixed: the two ends shown need not be the ones that differ, so count the cells.
        let more = measured.iter().filter(|m| m.2 > 1.0).count();
        format!(
            "more with {} in {more} of {} cells, less in the others; below 1: the sender paid less",
            first.label(),
            measured.len()
        )
    };
    Some(format!(
        "Sender CPU per byte, {} against two-copy: {span} ({reading}){tail}.",
        first.label()
    ))
}

/// Short forms of the caveats that change the reading most, most important first.
fn caveat_sentences(f: &Findings) -> Vec<String> {
    let mut out = Vec::new();
    let run_wide = |kind: CaveatKind| f.caveats.iter().filter(move |c| c.kind == kind);
    for c in run_wide(CaveatKind::Incomplete) {
        out.push(capitalised(format!("{}.", c.text)));
    }
    for c in run_wide(CaveatKind::Failures) {
        let short = c.text.split(':').next().unwrap_or(&c.text);
        out.push(capitalised(format!("{short}.")));
    }
    for c in run_wide(CaveatKind::Unsupported) {
        out.push(capitalised(format!("{}.", c.text.trim_end_matches('.'))));
    }
    let groups = |kind: CaveatKind| {
        f.groups
            .iter()
            .any(|g| g.caveats.iter().any(|c| c.kind == kind))
    };
    let noisy = format!(
        "Some cells are noisy (repetitions vary by more than {:.0}%): more repetitions or a \
         longer duration would help.",
        NOISY_CV * 100.0
    );
    let short: [(CaveatKind, &str); 6] = [
        (
            CaveatKind::Stalled,
            "Some points stalled (one send blocked for most of the interval): they are kept as measured and pull their cells down.",
        ),
        (
            CaveatKind::Unverified,
            "Some cells' bytes were not verified: they take part in no winner or break-even.",
        ),
        (
            CaveatKind::SingleRepetition,
            "Cells with a single repetition have no spread and no test: no winner is declared there (use 3 or more repetitions).",
        ),
        (
            CaveatKind::RateNotReached,
            "Some paced points did not reach their target rate: they ran at a lower load than the rest of their group.",
        ),
        (CaveatKind::Noisy, &noisy),
        (
            CaveatKind::NoBaseline,
            "Two-copy was not measured: there are no ratios to it.",
        ),
    ];
    for (kind, text) in short {
        if groups(kind) {
            out.push(text.into());
        }
    }
    out
}
