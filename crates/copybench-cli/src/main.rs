//! The `copybench` command: a thin layer over copybench-core (engine), copybench-net
//! (namespaces), copybench-perf (counters) and copybench-plot (report).

mod args;
mod compare;
mod crossover;
mod doctor;
mod export;
mod hooks;
mod host;
mod peers;
mod remote;
mod run;
mod summary;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{CommandFactory, Parser};

use args::{Cli, Command};

/// A bad value or an impossible request: refused before any traffic, exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

static CANCEL: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => {
            install_ctrl_c();
            run::run(*args, &CANCEL)
        }
        Command::Peers(args) => {
            install_ctrl_c();
            peers::plan(&args)
                .map_err(anyhow::Error::from)
                .and_then(|(plan, run_args)| run::run_plan(&plan, &run_args, &CANCEL))
        }
        Command::Server(args) => remote::serve(&args).map(|()| ExitCode::SUCCESS),
        Command::Plot(args) => plot(args),
        Command::Compare(args) => compare::run(&args),
        Command::Crossover(args) => {
            install_ctrl_c();
            crossover::run(&args, &CANCEL)
        }
        Command::Doctor => {
            // Informational: gaps are reported, not failures (a VM without a PMU always has some).
            doctor::run();
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "copybench",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn plot(args: args::PlotArgs) -> anyhow::Result<ExitCode> {
    use copybench_plot::{render_report, PlotError, ReportOptions};
    let options = ReportOptions {
        echarts_js: args.echarts,
        title: args.title,
    };
    match render_report(&args.inputs, &args.output, &options) {
        Ok(summary) => {
            for w in &summary.warnings {
                eprintln!("warning: {w}");
            }
            for n in &summary.notes {
                eprintln!("note: {n}");
            }
            eprintln!(
                "wrote {} ({} runs, {} points, {} charts)",
                summary.output.display(),
                summary.runs,
                summary.points,
                summary.charts.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        // Unwritable output or an internal failure: a runtime error; anything about the inputs
        // or the ECharts asset: the user's to fix, exit 2.
        Err(e @ (PlotError::Write { .. } | PlotError::Aggregate(_))) => Err(e.into()),
        Err(e) => Err(UsageError(e.to_string()).into()),
    }
}

/// First Ctrl-C: finish cleanly at the next safe moment (the current point is abandoned,
/// finished points are kept). Second: leave at once; the files already hold every finished point.
fn install_ctrl_c() {
    let result = ctrlc::set_handler(|| {
        if CANCEL.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond Ctrl-C: exiting now");
            std::process::exit(i32::from(run::EXIT_INTERRUPTED));
        }
        eprintln!(
            "\nCtrl-C: stopping after cleaning up the current point (Ctrl-C again to quit now)"
        );
    });
    if let Err(e) = result {
        eprintln!("warning: cannot catch Ctrl-C ({e}); an interrupted run keeps the points written so far");
    }
}
