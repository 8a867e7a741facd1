//! The sweep loop: every planned point through the target (or, for a peer, its processes on
//! the target's two sides), one line per point, a progress bar
//! with ETA on a terminal, the output files rewritten after every point, and a clean stop at
//! Ctrl-C.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use copybench_core::engine::{EngineError, PointParams};
use copybench_core::result::{FailureRecord, Point, RunResults, UnsupportedRecord, COPYBENCH_TOOL};
use copybench_core::units::format_size;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Planned, RunPlan, Target, Tool};
use crate::args::RunArgs;
use crate::export::Outputs;
use crate::hooks::CliHooks;
use crate::peers::{self, PointError};

/// Runs every point of `plan` (until Ctrl-C), recording each in `results` and the files.
/// Returns why it stopped early when the target could go on no longer (a remote server ended
/// the session, e.g. it is shutting down).
pub fn sweep(
    plan: &RunPlan,
    target: &Target,
    hooks: &CliHooks<'_>,
    outputs: &Outputs,
    results: &mut RunResults,
    args: &RunArgs,
    cancel: &AtomicBool,
) -> Result<Option<String>> {
    let total = plan.points.len();
    // --quiet: no bar, no "running N points", no line per point (the findings only).
    let quiet = args.quiet;
    let progress = if quiet {
        ProgressBar::hidden()
    } else {
        progress_bar(total, args.no_progress, point_seconds(&plan.template))
    };
    for (i, planned) in plan.points.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let params = &planned.params;
        let skip = match planned.tool {
            // A send strategy the kernel refused is refused with every receive strategy, and
            // a receive strategy with every send strategy.
            Tool::Copybench => results.unsupported.iter().any(|u| {
                u.tool == COPYBENCH_TOOL
                    && match u.receive {
                        None => u.strategy == params.strategy,
                        Some(receive) => receive == params.receive_kind(),
                    }
            }),
            Tool::Peer(peer) => peers::already_refused(peer, params, results),
        };
        if !skip {
            let label = label(planned, plan.peers);
            progress.set_message(label.clone());
            let line = match planned.tool {
                Tool::Copybench => {
                    let outcome = target.run_point(params, hooks, cancel);
                    if matches!(outcome, Err(EngineError::Cancelled)) {
                        break;
                    }
                    if plan.peers {
                        let outcome = outcome.map(|mut point| {
                            peers::add_own_figures(&mut point, hooks.last_switches());
                            point
                        });
                        record_with(outcome, params, results, peers::brief)
                    } else {
                        record(outcome, params, results)
                    }
                }
                Tool::Peer(peer) => match peers::run_point(peer, params, target, hooks, cancel) {
                    Err(PointError::Cancelled) => break,
                    outcome => peers::record(peer, outcome, params, results),
                },
            };
            if !quiet {
                say(&progress, format!("[{}/{total}] {label}: {line}", i + 1));
            }
            super::refresh_findings(results);
            outputs.write(results)?;
            if let Some(why) = target.ended() {
                progress.finish_and_clear();
                return Ok(Some(why));
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(None)
}

/// Files a point's outcome in `results`; returns the line that tells the user.
pub(crate) fn record(
    outcome: Result<Point, EngineError>,
    params: &PointParams,
    results: &mut RunResults,
) -> String {
    record_with(outcome, params, results, point_brief)
}

/// [`record`], telling a measured point's figures with `brief`.
fn record_with(
    outcome: Result<Point, EngineError>,
    params: &PointParams,
    results: &mut RunResults,
    brief: fn(&Point) -> String,
) -> String {
    match outcome {
        Ok(point) => {
            let verdict = match (&point.not_verifiable, point.verified) {
                (Some(why), _) => format!("  (not verifiable: {why})"),
                (None, true) => String::new(),
                (None, false) => "  NOT VERIFIED".into(),
            };
            let line = format!("{}{verdict}", brief(&point));
            results.points.push(point);
            line
        }
        Err(EngineError::Unsupported(reason)) => {
            let reason = reason.to_string();
            results.unsupported.push(UnsupportedRecord {
                tool: copybench_core::result::copybench_tool(),
                strategy: params.strategy,
                reason: reason.clone(),
                receive: None,
            });
            format!(
                "{} is unsupported here, skipping it: {reason}",
                params.strategy
            )
        }
        Err(EngineError::ReceiveUnsupported {
            receive, reason, ..
        }) => {
            results.unsupported.push(UnsupportedRecord {
                tool: copybench_core::result::copybench_tool(),
                strategy: params.strategy,
                reason: reason.clone(),
                receive: Some(receive),
            });
            format!("--receive {receive} is unsupported here, skipping it: {reason}")
        }
        Err(e) => {
            results.failures.push(FailureRecord {
                tool: copybench_core::result::copybench_tool(),
                strategy: params.strategy,
                msg_size: params.msg_size,
                threads: params.threads,
                repetition: params.repetition,
                error: e.to_string(),
            });
            format!("FAILED: {e}")
        }
    }
}

/// What a point is, for its line: its strategy (`copybench run`), or the tool that measures it
/// (`copybench peers`, where every point is the same strategy).
fn label(planned: &Planned, peers: bool) -> String {
    let params = &planned.params;
    if peers {
        return format!(
            "{} {} x{} rep {}",
            planned.tool.name(),
            format_size(params.msg_size),
            params.threads,
            params.repetition + 1
        );
    }
    let receive = match params.receive_kind() {
        copybench_core::engine::ReceiveKind::Read => String::new(),
        other => format!(" <- {other}"),
    };
    format!(
        "{}{receive} {} x{} rep {}",
        params.strategy,
        format_size(params.msg_size),
        params.threads,
        params.repetition + 1
    )
}

/// The point's headline figures in one line.
fn point_brief(p: &Point) -> String {
    let mut s = match (&p.latency_us, p.transactions_per_s) {
        (Some(l), Some(tps)) => {
            format!("p50 {:.1} us, p99 {:.1} us, {tps:.0} trans/s", l.p50, l.p99)
        }
        _ => format!("{:.2} Gbps", p.throughput_gbps),
    };
    if let Some(ns) = p.sender.cpu_ns_per_byte {
        s += &format!(", sender {ns:.3} CPU ns/B");
    }
    if let Some(u) = &p.udp {
        if let (Some(lost), Some(ratio)) = (u.lost, u.loss_ratio) {
            s += &format!(
                ", udp {lost} of {} datagrams lost ({:.2}%), sent {:.2} Gbps",
                u.sent,
                ratio * 100.0,
                u.sent_gbps
            );
        }
    }
    if let Some(z) = &p.zerocopy {
        s += &format!(
            ", zc {}/{} completed, {} copied, {} ENOBUFS",
            z.completions, z.sends, z.copied, z.enobufs
        );
    }
    if let Some(ns) = p.receiver.cpu_ns_per_byte {
        s += &format!(", receiver {ns:.3} CPU ns/B");
    }
    if let (Some(mapped), Some(ratio)) = (p.receiver.mapped_bytes, p.receiver.mapped_ratio) {
        s += &format!(", rx mapped {mapped} B ({:.1}%)", ratio * 100.0);
    }
    s
}

/// Rough time one point takes (setup included), for the ETA before the first point ends.
fn point_seconds(t: &PointParams) -> f64 {
    (t.warmup + t.duration + Duration::from_millis(100)).as_secs_f64()
}

fn progress_bar(len: usize, hidden: bool, per_point_s: f64) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if hidden || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
        eprintln!(
            "running {len} points, about {:.0} s",
            len as f64 * per_point_s
        );
    } else {
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}  ETA {eta}",
            )
            .expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
    }
    bar
}

/// Prints a line above the progress bar, or to stderr when there is no bar (not a terminal).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}
