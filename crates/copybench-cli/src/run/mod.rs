//! `copybench run`: a plan checked before any traffic ([`plan`]), a target that owns where
//! the traffic goes ([`target`]), the sweep with its progress and point-by-point outputs
//! ([`sweep`]), and the exit code from the results.

mod plan;
mod refine;
pub(crate) mod sweep;
mod target;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use copybench_core::findings::{findings_for_run, headline, render_text};
use copybench_core::result::{RunResults, ToolInfo, COPYBENCH_TOOL, SCHEMA_VERSION};

use crate::args::RunArgs;
use crate::export::{Format, Outputs};
use crate::hooks::CliHooks;
use crate::{host, summary, UsageError};

pub use plan::{Planned, RunPlan, Tool};
pub use target::{run_on_side, Target, TargetPath};

/// Exit code after Ctrl-C (128 + SIGINT), as shells expect.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Runs the sweep the arguments describe.
pub fn run(args: RunArgs, cancel: &AtomicBool) -> Result<ExitCode> {
    // Everything that can be refused is refused before any traffic.
    let plan = RunPlan::new(&args)?;
    run_plan(&plan, &args, cancel)
}

/// Runs a checked plan (`copybench run`'s, or `copybench peers`' with its peers as more tools
/// of every point): the target opened, the sweep, the files, the report and the exit code.
pub fn run_plan(plan: &RunPlan, args: &RunArgs, cancel: &AtomicBool) -> Result<ExitCode> {
    for note in plan
        .notes
        .iter()
        .chain(&plan.placement_note)
        .filter(|_| !args.quiet)
    {
        eprintln!("note: {note}");
    }
    let target = Target::open(&plan.target)?;
    let mut results = new_results(plan, args, &target);
    results.unsupported.clone_from(&plan.unsupported);
    let outputs =
        Outputs::create(&args.outputs, &results).map_err(|e| UsageError(format!("{e:#}")))?;
    let mut hooks = CliHooks::new(Some(target.path()), plan.pin.clone(), plan.counters);
    if plan.peers {
        // Compared with the peers' machine-wide count over their runs.
        hooks = hooks.counting_switches();
    }
    hooks.placement = Some(plan.placement);
    let mut ended = sweep::sweep(plan, &target, &hooks, &outputs, &mut results, args, cancel)?;
    if args.refine && ended.is_none() && !cancel.load(Ordering::Relaxed) {
        refine::refine(
            plan,
            &target,
            &hooks,
            &outputs,
            &mut results,
            usize::from(args.refine_budget),
            usize::from(args.sweep.repetitions),
            args.quiet,
            cancel,
        )?;
        ended = target.ended();
    }

    let interrupted = cancel.load(Ordering::Relaxed);
    if interrupted {
        results.interrupted = Some(format!(
            "interrupted by Ctrl-C after {} of {} points",
            results.points.len(),
            plan.points.len()
        ));
    } else if let Some(why) = &ended {
        results.interrupted = Some(format!(
            "the server ended the session after {} of {} points: {why}",
            results.points.len(),
            plan.points.len()
        ));
    } else {
        results.complete = true;
    }
    refresh_findings(&mut results);
    outputs.write(&results)?;
    report(&results, args, &outputs, plan.peers)?;
    if let Some(why) = ended {
        eprintln!(
            "error: the server ended the session: {why}; kept {} finished points",
            results.points.len()
        );
        return Ok(ExitCode::from(1));
    }
    if args.expect_zerocopy && !interrupted {
        if let Some(code) = expect_zerocopy(&results) {
            return Ok(code);
        }
    }
    Ok(exit_code(&results, interrupted, args.outputs.is_empty()))
}

/// The results document of a run before its first point.
pub fn new_results(plan: &RunPlan, args: &RunArgs, target: &Target) -> RunResults {
    RunResults {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::default(),
        command_line: std::env::args().collect(),
        started_at: host::now_rfc3339(),
        host: host::collect(plan.counters),
        config: plan.config_record(args, target.record()),
        points: Vec::new(),
        complete: false,
        interrupted: None,
        unsupported: Vec::new(),
        failures: Vec::new(),
        findings: None,
    }
}

/// Recomputes the findings of `results` from its points (pure arithmetic over a few hundred
/// points at most: cheap enough to redo at every rewrite of the files, so that an interrupted
/// run has them too).
pub fn refresh_findings(results: &mut RunResults) {
    // The findings compare copybench's strategies: a peer's points (`copybench peers`) and
    // what it could not run are not among them.
    let findings = if results.points.iter().all(|p| p.tool == COPYBENCH_TOOL) {
        findings_for_run(results)
    } else {
        let mut own = results.clone();
        own.points.retain(|p| p.tool == COPYBENCH_TOOL);
        own.unsupported.retain(|u| u.tool == COPYBENCH_TOOL);
        own.failures.retain(|f| f.tool == COPYBENCH_TOOL);
        findings_for_run(&own)
    };
    results.findings = Some(findings);
}

/// The summary table, the findings, and last the same five sentences as the report (stdout,
/// or stderr when the JSON goes to stdout), then the files written; `--quiet`: the sentences
/// only. For `copybench peers` the table is the peers' (it compares tools, not strategies:
/// copybench's findings over its one strategy, all "only scatter-gather measured", are left to
/// the file and the report).
fn report(results: &RunResults, args: &RunArgs, outputs: &Outputs, peers: bool) -> Result<()> {
    let mut text = String::new();
    if !args.quiet {
        if peers {
            text.push_str(&crate::peers::table(results));
        } else {
            text.push_str(&summary::table(results));
        }
        if let Some(f) = results.findings.as_ref().filter(|_| !peers) {
            text.push_str("\nFindings\n");
            text.push_str(&render_text(f));
            text.push_str("\nIn short\n");
        }
    }
    let sentences = results.findings.as_ref().filter(|_| !peers).map(headline);
    for sentence in sentences.unwrap_or_default() {
        text.push_str(&sentence);
        text.push('\n');
    }
    if args.json {
        let json = Format::Json.exporter().render(results)?;
        println!("{}", json.trim_end());
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    if !args.quiet {
        for path in outputs.paths() {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// `--expect-zerocopy`: exit 1, saying which, when any zero-copy point was copied.
fn expect_zerocopy(results: &RunResults) -> Option<ExitCode> {
    let copied: Vec<String> = results
        .points
        .iter()
        .filter_map(|p| {
            let ratio = p.zerocopy.as_ref()?.copied_ratio?;
            (ratio > 0.0).then(|| {
                format!(
                    "{} {} B x{}: {:.0}% copied",
                    p.strategy,
                    p.msg_size,
                    p.threads,
                    ratio * 100.0
                )
            })
        })
        .collect();
    let none_measured = !results.points.iter().any(|p| p.zerocopy.is_some());
    if copied.is_empty() && !none_measured {
        return None;
    }
    if none_measured {
        eprintln!("error: --expect-zerocopy: no zero-copy point was measured (add --strategy zerocopy or uringzc)");
    } else {
        eprintln!(
            "error: --expect-zerocopy: the kernel copied zero-copy sends after all ({}); {}",
            copied.join("; "),
            if results.config.topology.kind.is_local_delivery() {
                "local delivery (loopback, netns) always copies: use --topology sink, or a real NIC"
            } else {
                "check the device's checksum offload and the MTU against the message size"
            }
        );
    }
    Some(ExitCode::from(1))
}

/// 130 after Ctrl-C; 1 when a point failed or was not verified, or nothing was measured;
/// 0 otherwise. Says why on stderr.
fn exit_code(results: &RunResults, interrupted: bool, no_files: bool) -> ExitCode {
    if interrupted {
        eprintln!(
            "stopped by Ctrl-C: kept {} finished points{}",
            results.points.len(),
            if no_files {
                " (no --out file was given)"
            } else {
                ""
            }
        );
        return ExitCode::from(EXIT_INTERRUPTED);
    }
    // A sink point has nothing to verify it: not a failure (the summary says so in words).
    let unverified = results
        .points
        .iter()
        .filter(|p| !p.verified && p.not_verifiable.is_none())
        .count();
    let ran_nothing = results.points.is_empty();
    if unverified > 0 || !results.failures.is_empty() || ran_nothing {
        eprintln!(
            "error: {unverified} point(s) not verified, {} failed{}",
            results.failures.len(),
            if ran_nothing {
                ", nothing measured"
            } else {
                ""
            }
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
