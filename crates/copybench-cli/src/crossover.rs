//! `copybench crossover`: where does strategy A start (or stop) beating strategy B? Found by
//! measurement, not interpolation: `copybench_core::crossover::Bisection` proposes message
//! sizes on a log scale between two bounds, and each is measured with both strategies
//! (interleaved, rotated per repetition, through the same target, hooks and checks as `copybench
//! run`) until the crossover is bracketed within the tolerance (10% by default).
//!
//! `--out FILE.json` holds a results document (every point measured, so `copybench plot` and
//! `compare` read it) plus a `crossover` array: one search record per thread count.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use copybench_core::crossover::{Bisection, CrossoverRecord, Step};
use copybench_core::engine::{EngineError, Mode, PointParams, Protocol, ReceiveKind, Verify};
use copybench_core::findings::{size_text, Figure};
use copybench_core::result::RunResults;
use copybench_core::units::format_size;
use copybench_core::StrategyKind;
use serde::Serialize;

use crate::args::{
    parse_msg_size, parse_strategy, ArgError, CpuOptions, MessageOptions, RunArgs, SweepOptions,
};
use crate::export::write_atomically;
use crate::hooks::CliHooks;
use crate::run::{self, RunPlan, Target};
use crate::UsageError;

/// The figure a crossover is sought in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    /// Median payload throughput (higher is better).
    Throughput,
    /// Median sender CPU ns per byte (lower is better; needs the task-clock counter).
    Cpu,
}

impl MetricArg {
    fn figure(self) -> Figure {
        match self {
            MetricArg::Throughput => Figure::ThroughputGbps,
            MetricArg::Cpu => Figure::SenderCpuNsPerByte,
        }
    }
}

#[derive(Debug, Args)]
#[command(
    mut_arg("threads", |a| a.help("Connection counts, comma-separated: one search per count")),
    mut_arg("duration", |a| a.help("Measured time per point").default_value("1s")),
    mut_arg("warmup", |a| a
        .help("Unmeasured streaming before each point (0 for none)")
        .default_value("300ms")),
    mut_arg("repetitions", |a| a.help("Repetitions of both strategies at every probed size (1 \
        to 100); 3 or more lets each probe say whether the two were told apart")),
    mut_arg("topology", |a| a.help("Where the traffic runs (as `copybench run`)")),
    mut_arg("mtu", |a| a
        .help("MTU of the veth pair (netns topology), 68 to 65535")
        .default_value("1500")),
    mut_arg("placement", |a| a.help("CPU placement, as `copybench run` (and with the same \
        default, so that a crossover and a run measure alike), recorded with every point: \
        apart, same, none (unpinned)")),
    mut_arg("no_counters", |a| a.help("Do not open per-thread counters (then --metric cpu \
        cannot be measured)")),
    mut_arg("fields", |a| a.help("Fields per message (1 to 1024)")),
    mut_arg("pool", |a| a.help("Message buffers per connection; default automatic")),
    mut_arg("data", |a| a.help("Data temperature, as `copybench run --data`: hot (each \
        strategy's fewest buffers) or cold (every strategy through a pool larger than the \
        last-level cache)")),
    mut_arg("align", |a| a
        .help("Field placement: 'page' or 'offset:N'")
        .default_value("offset:96")),
    mut_arg("sender_cpus", |a| a.help("CPUs for sender threads, comma-separated. Implies --pin")),
    mut_arg("receiver_cpus", |a| a
        .help("CPUs for receiver threads, comma-separated. Implies --pin")),
)]
pub struct CrossoverArgs {
    /// The two strategies, A,B: where does A start or stop beating B?
    #[arg(long, value_delimiter = ',', value_parser = parse_strategy, required = true,
          value_name = "A,B")]
    pub pair: Vec<StrategyKind>,

    /// The figure compared.
    #[arg(long, value_enum, default_value = "throughput")]
    pub metric: MetricArg,

    /// The size range searched, LOW..HIGH (bytes or k/m suffixes).
    #[arg(long, value_parser = parse_between, default_value = "1k..256k", value_name = "LOW..HIGH")]
    pub between: (usize, usize),

    /// Stop when the bracket's upper size is at most PCT percent above its lower size.
    #[arg(long, value_name = "PCT", value_parser = parse_tolerance, default_value = "10")]
    pub tolerance: f64,

    /// Connections, timing, repetitions, topology, placement, counters (as `copybench run`,
    /// with the crossover's defaults).
    #[command(flatten)]
    pub sweep: SweepOptions,

    /// The `copybench server` to send to (implies --topology remote).
    #[arg(long, value_name = "HOST:PORT")]
    pub connect: Option<String>,

    /// Fields, pool, data temperature, field placement (as `copybench run`, with the
    /// crossover's defaults).
    #[command(flatten)]
    pub message: MessageOptions,

    /// --pin, --sender-cpus, --receiver-cpus (as `copybench run`).
    #[command(flatten)]
    pub cpus: CpuOptions,

    /// How the receivers read, as `copybench run --receive`: read (read(2), every byte
    /// checked), trunc (recv(MSG_TRUNC): counted, not copied) or zerocopy
    /// (TCP_ZEROCOPY_RECEIVE, with the page-aligned MTU or MSS it needs). One for the whole
    /// search: both strategies are measured over it.
    #[arg(long, value_parser = crate::args::parse_receive, default_value = "read")]
    pub receive: ReceiveKind,

    /// Write the points and the search here (.json), rewritten after every probe.
    #[arg(short, long = "out", value_name = "FILE.json")]
    pub out: Option<PathBuf>,
}

fn parse_between(s: &str) -> Result<(usize, usize), ArgError> {
    let (lo, hi) = s.split_once("..").ok_or_else(|| ArgError::Malformed {
        value: s.to_string(),
        expected: "a range LOW..HIGH, like 1k..256k".into(),
    })?;
    let (lo, hi) = (parse_msg_size(lo)?, parse_msg_size(hi)?);
    if lo >= hi {
        return Err(ArgError::Refused(format!("{s}: LOW must be below HIGH")));
    }
    Ok((lo, hi))
}

fn parse_tolerance(s: &str) -> Result<f64, ArgError> {
    let v = crate::args::parse_pct(s)?;
    if v <= 0.0 {
        return Err(ArgError::Refused(format!(
            "{s}: the tolerance must be above 0 percent"
        )));
    }
    Ok(v)
}

impl CrossoverArgs {
    /// The `copybench run` arguments of the same measurements (both strategies, both bounds),
    /// so that the run's plan checks them and builds the target, hooks and template.
    fn run_args(&self) -> RunArgs {
        RunArgs {
            strategies: self.pair.clone(),
            sizes: vec![self.between.0, self.between.1],
            sweep: self.sweep.clone(),
            mode: Mode::Stream,
            connect: self.connect.clone(),
            protocol: Protocol::Tcp,
            expect_zerocopy: false,
            auth_key_file: None,
            fixed_buffers: false,
            uring_depth: None,
            splice_gift: false,
            hugepages: false,
            udp_gso: None,
            verify: Verify::Full,
            receives: vec![self.receive],
            read_size: None,
            message: self.message.clone(),
            cpus: self.cpus.clone(),
            refine: false,
            refine_budget: 4,
            // The crossover search compares unpaced throughput.
            rates: Vec::new(),
            outputs: self.out.iter().cloned().collect(),
            json: false,
            no_progress: true,
            quiet: false,
            corrupt_message: None,
        }
    }

    /// Refusals beyond what clap checks (exit 2).
    fn check(&self) -> Result<(StrategyKind, StrategyKind), UsageError> {
        let &[a, b] = self.pair.as_slice() else {
            return Err(UsageError(format!(
                "--pair takes exactly two strategies, A,B (got {})",
                self.pair.len()
            )));
        };
        if a == b {
            return Err(UsageError(format!("--pair {a},{b}: the two must differ")));
        }
        if self.metric == MetricArg::Cpu && self.sweep.no_counters {
            return Err(UsageError(
                "--metric cpu needs the per-thread counters: drop --no-counters".into(),
            ));
        }
        if let Some(out) = &self.out {
            if crate::export::Format::of(out).ok() != Some(crate::export::Format::Json) {
                return Err(UsageError(format!(
                    "--out {}: crossover writes JSON; name the file .json",
                    out.display()
                )));
            }
        }
        Ok((a, b))
    }
}

/// One search per thread count, as stored.
#[derive(Debug, Clone, Serialize)]
struct Search {
    threads: usize,
    #[serde(flatten)]
    record: CrossoverRecord,
}

/// The `--out` document: a results document plus the searches.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    results: &'a RunResults,
    crossover: &'a [Search],
}

/// Everything a search needs while it measures.
struct Session<'a> {
    plan: &'a RunPlan,
    target: &'a Target,
    hooks: &'a CliHooks<'a>,
    args: &'a CrossoverArgs,
    cancel: &'a AtomicBool,
    results: RunResults,
    searches: Vec<Search>,
}

/// Runs `copybench crossover`.
pub fn run(args: &CrossoverArgs, cancel: &AtomicBool) -> Result<ExitCode> {
    let (a, b) = args.check()?;
    let run_args = args.run_args();
    let plan = RunPlan::new(&run_args)?;
    let target = Target::open(&plan.target)?;
    if let Some(note) = &plan.placement_note {
        eprintln!("note: {note}");
    }
    let mut hooks = CliHooks::new(Some(target.path()), plan.pin.clone(), plan.counters);
    hooks.placement = Some(plan.placement);
    let mut session = Session {
        results: run::new_results(&plan, &run_args, &target),
        plan: &plan,
        target: &target,
        hooks: &hooks,
        args,
        cancel,
        searches: Vec::new(),
    };
    session.save()?;
    for &threads in &args.sweep.threads {
        let record = session.search(a, b, threads)?;
        println!("{}", describe(&record, threads));
        if cancel.load(Ordering::Relaxed) {
            break;
        }
    }
    session.finish()
}

impl Session<'_> {
    /// Bisects for one thread count; the record is kept (and saved) after every probe.
    fn search(
        &mut self,
        a: StrategyKind,
        b: StrategyKind,
        threads: usize,
    ) -> Result<CrossoverRecord> {
        let figure = self.args.metric.figure();
        let (lo, hi) = self.args.between;
        let mut bisection = Bisection::new(a, b, figure, lo, hi)
            .and_then(|s| s.with_tolerance(1.0 + self.args.tolerance / 100.0))
            .map_err(|e| UsageError(format!("--between/--tolerance: {e}")))?;
        eprintln!(
            "{a} vs {b} in {}, {} thread(s): bisecting {}..{}",
            figure.label(),
            threads,
            format_size(lo),
            format_size(hi)
        );
        self.searches.push(Search {
            threads,
            record: bisection.record(),
        });
        while let Step::Probe(size) = bisection.next() {
            let Some((va, vb)) = self.probe(a, b, size, threads)? else {
                break; // Ctrl-C
            };
            bisection.observe_repetitions(size, &va, &vb)?;
            let probe = bisection.probes().last().copied();
            eprintln!("{}", probe_line(a, b, size, &va, &vb, figure, probe));
            if let Some(s) = self.searches.last_mut() {
                s.record = bisection.record();
            }
            self.save()?;
        }
        Ok(bisection.record())
    }

    /// Measures both strategies at `size` (interleaved, rotated per repetition); returns the
    /// figure of each strategy's trusted repetitions, or `None` after Ctrl-C.
    fn probe(
        &mut self,
        a: StrategyKind,
        b: StrategyKind,
        size: usize,
        threads: usize,
    ) -> Result<Option<(Vec<f64>, Vec<f64>)>> {
        let reps = usize::from(self.args.sweep.repetitions);
        let mut points = copybench_core::sweep::plan_with_receives(
            &self.plan.template,
            &[a, b],
            &[self.args.receive],
            &[size],
            &[threads],
            reps,
        );
        // What trunc can check (the counts), and the run's per-strategy settings, as the
        // points of `copybench run` have them.
        points.iter_mut().for_each(|p| self.plan.settle(p));
        let first = self.results.points.len();
        for params in &points {
            if self.cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let outcome = self.target.run_point(params, self.hooks, self.cancel);
            if matches!(outcome, Err(EngineError::Cancelled)) {
                return Ok(None);
            }
            if let Err(EngineError::Unsupported(reason)) = &outcome {
                bail!("{} cannot run here: {reason}", params.strategy);
            }
            let line = run::sweep::record(outcome, params, &mut self.results);
            eprintln!("  {}: {line}", label(params));
        }
        let figure = self.args.metric.figure();
        let values = |k: StrategyKind| -> Vec<f64> {
            self.results.points[first..]
                .iter()
                .filter(|p| p.strategy == k && p.verified)
                .filter_map(|p| figure.value(p))
                .collect()
        };
        Ok(Some((values(a), values(b))))
    }

    /// Rewrites `--out` with every point and search so far.
    fn save(&mut self) -> Result<()> {
        let mut sizes: Vec<usize> = self.results.points.iter().map(|p| p.msg_size).collect();
        sizes.sort_unstable();
        sizes.dedup();
        if !sizes.is_empty() {
            self.results.config.sizes = sizes;
        }
        run::refresh_findings(&mut self.results);
        let Some(path) = &self.args.out else {
            return Ok(());
        };
        let doc = Document {
            results: &self.results,
            crossover: &self.searches,
        };
        let text = serde_json::to_string_pretty(&doc)? + "\n";
        write_atomically(path, text.as_bytes())
            .map_err(|e| anyhow::anyhow!("--out {}: cannot write: {e}", path.display()))
    }

    /// Marks the run complete (or interrupted), saves, and gives the exit code.
    fn finish(mut self) -> Result<ExitCode> {
        let interrupted = self.cancel.load(Ordering::Relaxed);
        if interrupted {
            self.results.interrupted = Some("interrupted by Ctrl-C".into());
        } else {
            self.results.complete = true;
        }
        self.save()?;
        if let Some(path) = &self.args.out {
            eprintln!("wrote {}", path.display());
        }
        let unverified = self.results.points.iter().filter(|p| !p.verified).count();
        Ok(if interrupted {
            ExitCode::from(run::EXIT_INTERRUPTED)
        } else if unverified > 0 || !self.results.failures.is_empty() {
            eprintln!(
                "error: {unverified} point(s) not verified, {} failed",
                self.results.failures.len()
            );
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    }
}

fn label(p: &PointParams) -> String {
    // As the run's table: a receive strategy other than read is shown as `strategy <- trunc`.
    let receive = match p.receive {
        ReceiveKind::Read => String::new(),
        other => format!(" <- {other}"),
    };
    format!(
        "{}{receive} {} x{} rep {}",
        p.strategy,
        format_size(p.msg_size),
        p.threads,
        p.repetition + 1
    )
}

/// One line per probe: both medians, the advantage, whether the repetitions were told apart.
fn probe_line(
    a: StrategyKind,
    b: StrategyKind,
    size: usize,
    va: &[f64],
    vb: &[f64],
    figure: Figure,
    probe: Option<copybench_core::crossover::Probe>,
) -> String {
    let med = |v: &[f64]| {
        copybench_core::stats::median(v).map_or_else(
            || "not measured".to_string(),
            |m| format!("{m:.3} {}", figure.unit()),
        )
    };
    let verdict = match probe {
        Some(p) => format!(
            "{a} {:+.1}% ({}){}",
            p.advantage * 100.0,
            if p.advantage > 0.0 {
                "wins"
            } else {
                "does not win"
            },
            match p.separated {
                Some(true) => ", repetitions told apart",
                Some(false) => ", within the noise",
                None => "",
            }
        ),
        None => "no figure: the search stops".into(),
    };
    format!(
        "probe {}: {a} {} vs {b} {} -> {verdict}",
        size_text(size as f64),
        med(va),
        med(vb)
    )
}

/// The answer of one search in words.
fn describe(record: &CrossoverRecord, threads: usize) -> String {
    let outcome = record.outcome.as_ref().map_or_else(
        || "the search was interrupted before it ended".to_string(),
        |o| o.describe(record.a, record.b, record.metric),
    );
    format!(
        "crossover {} vs {} in {}, {} thread(s), {}..{}, {} probes: {outcome}",
        record.a,
        record.b,
        record.metric.label(),
        threads,
        size_text(record.lower_bound as f64),
        size_text(record.upper_bound as f64),
        record.probes.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_takes_a_rising_range() {
        assert_eq!(parse_between("1k..256k").unwrap(), (1024, 256 << 10));
        assert_eq!(
            parse_between("256k..1k").unwrap_err().to_string(),
            "256k..1k: LOW must be below HIGH"
        );
        assert_eq!(
            parse_between("1k").unwrap_err().to_string(),
            "'1k' is not a range LOW..HIGH, like 1k..256k"
        );
        assert!(matches!(parse_between("1k..1k"), Err(ArgError::Refused(_))));
        assert!(matches!(
            parse_between("1k..lots"),
            Err(ArgError::Parse(_) | ArgError::Malformed { .. } | ArgError::TooLarge { .. })
        ));
    }

    #[test]
    fn tolerance_is_a_positive_percentage() {
        assert_eq!(parse_tolerance("10").unwrap(), 10.0);
        assert_eq!(
            parse_tolerance("0").unwrap_err().to_string(),
            "0: the tolerance must be above 0 percent"
        );
        assert!(matches!(
            parse_tolerance("ten"),
            Err(ArgError::Parse(_) | ArgError::Malformed { .. })
        ));
    }
}
