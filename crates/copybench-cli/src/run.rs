//! `copybench run`: the sweep, its progress, its outputs, and a clean stop on Ctrl-C.

use std::io::IsTerminal;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use copybench_core::engine::{run_point, Endpoints, EngineError, PointParams};
use copybench_core::result::{
    FailureRecord, RunConfigRecord, RunResults, ToolInfo, TopologyRecord, UnsupportedRecord,
    SCHEMA_VERSION,
};
use copybench_core::sweep::plan;
use copybench_core::units::format_size;
use copybench_net::{Topology, VethConfig};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::{RunArgs, TopologyArg};
use crate::hooks::{CliHooks, PinPlan};
use crate::output::{self, Format, Outputs};
use crate::{host, remote, summary, UsageError};

/// Exit code after Ctrl-C (128 + SIGINT), as shells expect.
pub const EXIT_INTERRUPTED: u8 = 130;

fn pin_plan(args: &RunArgs) -> Result<Option<PinPlan>, UsageError> {
    if !args.pin && args.sender_cpus.is_empty() && args.receiver_cpus.is_empty() {
        return Ok(None);
    }
    let cpus = core_affinity::get_core_ids().map_or(0, |ids| ids.len());
    let auto = PinPlan::automatic(cpus.max(1));
    let plan = PinPlan {
        senders: if args.sender_cpus.is_empty() {
            auto.senders
        } else {
            args.sender_cpus.clone()
        },
        receivers: if args.receiver_cpus.is_empty() {
            auto.receivers
        } else {
            args.receiver_cpus.clone()
        },
    };
    for (flag, list) in [
        ("--sender-cpus", &plan.senders),
        ("--receiver-cpus", &plan.receivers),
    ] {
        if let Some(bad) = list.iter().find(|&&c| c >= cpus) {
            return Err(UsageError(format!(
                "{flag}: CPU {bad} does not exist; this process may use CPUs 0 to {}",
                cpus.saturating_sub(1)
            )));
        }
    }
    Ok(Some(plan))
}

/// The topology to run on: `None` means loopback (or remote, handled by the caller).
fn topology(args: &RunArgs) -> Result<(Option<Topology>, Option<String>), UsageError> {
    let want_netns = match args.topology {
        TopologyArg::Loopback | TopologyArg::Remote => false,
        TopologyArg::Netns => true,
        TopologyArg::Auto => args.connect.is_none() && copybench_net::has_net_admin(),
    };
    let note =
        (args.topology == TopologyArg::Auto && !want_netns && args.connect.is_none()).then(|| {
            "no CAP_NET_ADMIN: running over loopback instead of a veth pair between namespaces \
         (run as root for --topology netns)"
                .to_string()
        });
    if !want_netns {
        return Ok((None, note));
    }
    let config = VethConfig {
        mtu: args.mtu,
        ..VethConfig::default()
    };
    Topology::create(&config)
        .map(|t| (Some(t), note))
        .map_err(|e| UsageError(format!("--topology netns: {e}")))
}

pub fn run(args: RunArgs, cancel: &AtomicBool) -> Result<ExitCode> {
    // Everything that can be refused is refused before any traffic.
    for path in &args.outputs {
        Format::of(path).map_err(|e| UsageError(e.to_string()))?;
    }
    let counters = !args.no_counters;

    let mut template = PointParams::new(args.strategies[0], args.sizes[0], args.threads[0]);
    template.mode = args.mode;
    template.fields = usize::from(args.fields);
    template.pool = args.pool.map(|p| p as usize);
    template.align = args.align;
    template.warmup = args.warmup;
    template.duration = args.duration;
    template.corrupt_message = args.corrupt_message;
    let points = plan(
        &template,
        &args.strategies,
        &args.sizes,
        &args.threads,
        usize::from(args.repetitions),
    );

    // Every point is checked before the first one runs.
    for p in &points {
        p.validate().map_err(|e| {
            UsageError(format!(
                "{} {} x{}: {e}",
                p.strategy,
                format_size(p.msg_size),
                p.threads
            ))
        })?;
    }

    let pin = pin_plan(&args)?;
    let remote = match (args.topology, &args.connect) {
        (TopologyArg::Remote | TopologyArg::Auto, Some(target)) => {
            Some(remote::Client::connect(target)?)
        }
        (TopologyArg::Remote, None) => {
            return Err(UsageError(
                "--topology remote needs --connect HOST:PORT of a `copybench server`".into(),
            )
            .into())
        }
        (_, Some(_)) => {
            return Err(UsageError(
                "--connect goes with --topology remote (or auto), not with netns or loopback"
                    .into(),
            )
            .into())
        }
        (_, None) => None,
    };
    let (topology, note) = topology(&args)?;
    if let Some(note) = &note {
        eprintln!("note: {note}");
    }
    let (listen, topo_record) = match (&topology, &remote) {
        (_, Some(client)) => (
            client.server().ip(),
            TopologyRecord {
                kind: "remote".into(),
                mtu: None,
                receiver_addr: Some(client.server().to_string()),
                sender_addr: None,
            },
        ),
        (Some(t), None) => (
            IpAddr::V4(t.receiver_addr()),
            TopologyRecord {
                kind: "netns".into(),
                mtu: Some(t.mtu()),
                receiver_addr: Some(t.receiver_addr().to_string()),
                sender_addr: Some(t.sender_addr().to_string()),
            },
        ),
        (None, None) => (
            IpAddr::from([127, 0, 0, 1]),
            TopologyRecord {
                kind: "loopback".into(),
                mtu: None,
                receiver_addr: Some("127.0.0.1".into()),
                sender_addr: Some("127.0.0.1".into()),
            },
        ),
    };
    let endpoints = Endpoints {
        listen,
        connect: listen,
    };
    let mut results = RunResults {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::default(),
        command_line: std::env::args().collect(),
        started_at: host::now_rfc3339(),
        host: host::collect(counters),
        config: RunConfigRecord {
            mode: args.mode.to_string(),
            topology: topo_record,
            strategies: args.strategies.clone(),
            sizes: args.sizes.clone(),
            threads: args.threads.clone(),
            duration_s: args.duration.as_secs_f64(),
            warmup_s: args.warmup.as_secs_f64(),
            repetitions: usize::from(args.repetitions),
            fields: usize::from(args.fields),
            pool: template.pool,
            align: args.align.to_string(),
            pin: pin.as_ref().map(PinPlan::record),
            counters,
        },
        points: Vec::new(),
        complete: false,
        interrupted: None,
        unsupported: Vec::new(),
        failures: Vec::new(),
    };
    let outputs =
        Outputs::create(&args.outputs, &results).map_err(|e| UsageError(format!("{e:#}")))?;

    let hooks = CliHooks::new(topology.as_ref(), pin, counters);
    let progress = progress_bar(points.len(), &args, point_seconds(&template));
    for (i, params) in points.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        if results
            .unsupported
            .iter()
            .any(|u| u.strategy == params.strategy)
        {
            progress.inc(1);
            continue;
        }
        let label = format!(
            "{} {} x{} rep {}",
            params.strategy,
            format_size(params.msg_size),
            params.threads,
            params.repetition + 1
        );
        progress.set_message(label.clone());
        let measured = match &remote {
            Some(client) => client.run_point(params, &hooks, cancel),
            None => run_point(params, &endpoints, &hooks, cancel),
        };
        let line = match measured {
            Ok(point) => {
                let line = format!(
                    "[{}/{}] {label}: {}{}",
                    i + 1,
                    points.len(),
                    point_brief(&point),
                    if point.verified { "" } else { "  NOT VERIFIED" }
                );
                results.points.push(point);
                line
            }
            Err(EngineError::Cancelled) => break,
            Err(EngineError::Unsupported(reason)) => {
                results.unsupported.push(UnsupportedRecord {
                    tool: copybench_core::result::copybench_tool(),
                    strategy: params.strategy,
                    reason: reason.clone(),
                });
                format!(
                    "{} is unsupported here, skipping it: {reason}",
                    params.strategy
                )
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
                format!("[{}/{}] {label}: FAILED: {e}", i + 1, points.len())
            }
        };
        say(&progress, line);
        progress.inc(1);
        outputs.write(&results)?;
    }
    progress.finish_and_clear();

    let interrupted = cancel.load(Ordering::Relaxed);
    if interrupted {
        results.interrupted = Some(format!(
            "interrupted by Ctrl-C after {} of {} points",
            results.points.len(),
            points.len()
        ));
    } else {
        results.complete = true;
    }
    outputs.write(&results)?;

    let table = summary::table(&results);
    if args.json {
        println!("{}", output::render(&results, Format::Json)?.trim_end());
        eprint!("{table}");
    } else {
        print!("{table}");
    }
    for path in outputs.paths() {
        eprintln!("wrote {}", path.display());
    }
    if interrupted {
        eprintln!(
            "stopped by Ctrl-C: kept {} finished points{}",
            results.points.len(),
            if args.outputs.is_empty() {
                " (no --out file was given)"
            } else {
                ""
            }
        );
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
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
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn point_brief(p: &copybench_core::result::Point) -> String {
    let mut s = match (&p.latency_us, p.transactions_per_s) {
        (Some(l), Some(tps)) => {
            format!("p50 {:.1} us, p99 {:.1} us, {tps:.0} trans/s", l.p50, l.p99)
        }
        _ => format!("{:.2} Gbps", p.throughput_gbps),
    };
    if let Some(ns) = p.sender.cpu_ns_per_byte {
        s += &format!(", sender {ns:.3} CPU ns/B");
    }
    if let Some(z) = &p.zerocopy {
        s += &format!(
            ", zc {}/{} completed, {} copied, {} ENOBUFS",
            z.completions, z.sends, z.copied, z.enobufs
        );
    }
    s
}

/// Rough time one point takes (setup included), for the ETA before the first point ends.
fn point_seconds(t: &PointParams) -> f64 {
    (t.warmup + t.duration + Duration::from_millis(100)).as_secs_f64()
}

fn progress_bar(len: usize, args: &RunArgs, per_point_s: f64) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if args.no_progress || !std::io::stderr().is_terminal() {
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
