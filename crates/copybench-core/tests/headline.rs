//! The five-sentence headline, from findings whose answer is known by construction.

use crate::support;

use copybench_core::findings::{findings, findings_for_run, headline, HEADLINE_MAX};
use copybench_core::model::{Protocol, TopologyKind};
use copybench_core::StrategyKind::{self, ScatterGather as Sg, TwoCopy as Two};
use support::{points, run};

fn log2(s: usize) -> f64 {
    (s as f64).log2()
}

/// Two-copy wins below 16 KiB, zero-copy above (0.1 per doubling); zero-copy's sender CPU
/// is 5% less per doubling from 8 KiB on.
fn crossover_gbps(k: StrategyKind, s: usize) -> f64 {
    let two = 2.0 * (log2(s) - 8.0);
    match k {
        Two => two,
        Sg => two * 0.9,
        _ => two * (1.0 + 0.1 * (log2(s) - 14.0)),
    }
}

fn crossover_cpu(k: StrategyKind, s: usize) -> Option<f64> {
    Some(match k {
        Two => 0.5,
        Sg => 0.55,
        _ => 0.5 * (1.0 - 0.05 * (log2(s) - 13.0)),
    })
}

const TIGHT: [f64; 3] = [0.99, 1.0, 1.01];
const SIZES: [usize; 4] = [1 << 10, 4 << 10, 64 << 10, 256 << 10];

#[test]
fn a_clear_crossover_names_the_winners_the_bracket_the_copy_and_the_cpu() {
    let f = findings(
        &points(&SIZES, 2, &TIGHT, crossover_gbps, crossover_cpu),
        TopologyKind::Netns,
        Protocol::Tcp,
    );
    let h = headline(&f);
    let all = h.join("\n");
    assert!(h.len() <= HEADLINE_MAX, "{all}");
    assert_eq!(
        h[0],
        "On netns tcp stream (2 threads), by median throughput: two-copy wins at 1 KiB..4 KiB \
         by 11%; zero-copy at 64 KiB..256 KiB by 20..40%."
    );
    // The bracket with its evidence, against the best copying strategy.
    assert!(
        h[1].starts_with(
            "Against two-copy in throughput: zero-copy starts winning between 4 KiB and 64 KiB"
        ),
        "{all}"
    );
    assert!(h[1].contains("bootstrap interval"), "{all}");
    // Veth always copies: said as such, not as zero-copy.
    assert!(
        h[2].contains("copied every zero-copy send after all (zero-copy 100%)"),
        "{all}"
    );
    assert!(h[2].contains("not NIC zero-copy"), "{all}");
    // Which side paid: the sender's CPU ratio at the ends, and where the copy went.
    assert!(
        h[3].starts_with("Sender CPU per byte, zero-copy against two-copy: 1.15x at 1 KiB x2 and 0.75x at 256 KiB x2"),
        "{all}"
    );
    // Mixed ratios: how many cells went each way, not a legend alone (at 1.43x and 1.30x at
    // the two ends a bench's sentence once read "(below 1: the sender paid less)").
    assert!(
        h[3].contains("(more with zero-copy in 2 of 4 cells, less in the others; below 1: the sender paid less)"),
        "{all}"
    );
    assert!(
        h[3].contains("the copy moved into its delivery path"),
        "{all}"
    );
    for s in &h {
        assert!(s.ends_with('.'), "not a sentence: {s}");
    }
}

#[test]
fn with_no_clear_winner_the_headline_says_so_and_why() {
    // Two repetitions 30% apart: ranges overlap everywhere, nothing is told apart.
    let f = findings(
        &points(&SIZES, 1, &[0.85, 1.15], crossover_gbps, crossover_cpu),
        TopologyKind::Loopback,
        Protocol::Tcp,
    );
    let h = headline(&f);
    let all = h.join("\n");
    assert!(h.len() <= HEADLINE_MAX, "{all}");
    assert!(
        h[0].starts_with("On loopback tcp stream (1 thread), by median throughput: no winner is clear at any size; the leaders by median are"),
        "{all}"
    );
    assert!(h[0].contains("repetition ranges overlap"), "{all}");
    assert!(!all.contains(" wins at "), "a winner was named: {all}");
}

#[test]
fn unmeasured_cpu_is_said_unknown_not_zero() {
    let f = findings(
        &points(&SIZES, 1, &TIGHT, crossover_gbps, |_, _| None),
        TopologyKind::Loopback,
        Protocol::Tcp,
    );
    let all = headline(&f).join("\n");
    assert!(
        all.contains("Which side paid is unknown: sender CPU per byte was not measured"),
        "{all}"
    );
    assert!(!all.contains("0.00x"), "{all}");
}

#[test]
fn many_groups_still_give_at_most_five_sentences_winners_first() {
    // Three thread counts and a stopped run with a failed point: more to say than five.
    let mut all_points = Vec::new();
    for threads in [1, 2, 4] {
        all_points.extend(points(
            &SIZES,
            threads,
            &TIGHT,
            crossover_gbps,
            crossover_cpu,
        ));
    }
    let mut r = run("loopback", all_points);
    r.complete = false;
    r.interrupted = Some("interrupted by Ctrl-C after 36 of 40 points".into());
    let f = findings_for_run(&r);
    let h = headline(&f);
    assert_eq!(h.len(), HEADLINE_MAX, "{h:#?}");
    // One grid: one winners sentence for the three thread counts.
    assert!(
        h[0].starts_with("On loopback tcp stream (1, 2 and 4 threads)"),
        "{h:#?}"
    );
    assert!(h[4].contains("stopped early"), "{h:#?}");
}

#[test]
fn no_points_is_one_sentence() {
    let f = findings(&[], TopologyKind::Loopback, Protocol::Tcp);
    assert_eq!(
        headline(&f),
        ["No points were measured: there are no findings."]
    );
}
