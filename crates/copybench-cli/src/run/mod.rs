//! `copybench run`: a plan checked before any traffic ([`plan`]), a target that owns where
//! the traffic goes ([`target`]), the sweep with its progress and point-by-point outputs
//! ([`sweep`]), and the exit code from the results.

mod plan;
pub(crate) mod sweep;
mod target;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use copybench_core::findings::{findings_for_run, render_text, DEFAULT_PROTOCOL};
use copybench_core::result::{RunResults, ToolInfo, SCHEMA_VERSION};

use crate::args::RunArgs;
use crate::export::{Format, Outputs};
use crate::hooks::CliHooks;
use crate::{host, summary, UsageError};

pub use plan::RunPlan;
pub use target::Target;

/// Exit code after Ctrl-C (128 + SIGINT), as shells expect.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Runs the sweep the arguments describe.
pub fn run(args: RunArgs, cancel: &AtomicBool) -> Result<ExitCode> {
    // Everything that can be refused is refused before any traffic.
    let plan = RunPlan::new(&args)?;
    let target = Target::open(&plan.target)?;
    let mut results = new_results(&plan, &args, &target);
    let outputs =
        Outputs::create(&args.outputs, &results).map_err(|e| UsageError(format!("{e:#}")))?;
    let hooks = CliHooks::new(target.topology(), plan.pin.clone(), plan.counters);
    sweep::sweep(
        &plan,
        &target,
        &hooks,
        &outputs,
        &mut results,
        &args,
        cancel,
    )?;

    let interrupted = cancel.load(Ordering::Relaxed);
    if interrupted {
        results.interrupted = Some(format!(
            "interrupted by Ctrl-C after {} of {} points",
            results.points.len(),
            plan.points.len()
        ));
    } else {
        results.complete = true;
    }
    refresh_findings(&mut results);
    outputs.write(&results)?;
    report(&results, &args, &outputs)?;
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

/// The protocol findings are grouped under: every run is TCP until the results record a
/// `protocol` of their own.
pub const PROTOCOL: &str = DEFAULT_PROTOCOL;

/// Recomputes the findings of `results` from its points (pure arithmetic over a few hundred
/// points at most: cheap enough to redo at every rewrite of the files, so that an interrupted
/// run has them too).
pub fn refresh_findings(results: &mut RunResults) {
    results.findings = Some(findings_for_run(results, PROTOCOL));
}

/// The summary table and the findings (stdout, or stderr when the JSON goes to stdout) and the
/// files written.
fn report(results: &RunResults, args: &RunArgs, outputs: &Outputs) -> Result<()> {
    let mut text = summary::table(results);
    if let Some(f) = &results.findings {
        text.push_str("\nFindings\n");
        text.push_str(&render_text(f));
    }
    if args.json {
        let json = Format::Json.exporter().render(results)?;
        println!("{}", json.trim_end());
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    for path in outputs.paths() {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
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
    let unverified = results.points.iter().filter(|p| !p.verified).count();
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
