//! What a run will do, built from the arguments and checked before any traffic: the points in
//! run order, where they run, how threads are placed. Building a plan has no side effects.

use copybench_core::engine::{PointParams, Protocol};
use copybench_core::result::{RunConfigRecord, TopologyRecord};
use copybench_core::sweep::plan;
use copybench_core::units::format_size;
use copybench_core::StrategyKind;

use super::target::TargetChoice;
use crate::args::{RunArgs, TopologyArg};
use crate::export::Format;
use crate::hooks::PinPlan;
use crate::UsageError;

/// A validated run.
pub struct RunPlan {
    /// Every point, in run order (interleaved strategies, rotated per repetition).
    pub points: Vec<PointParams>,
    /// The parameters every point shares.
    pub template: PointParams,
    /// Where the traffic will run.
    pub target: TargetChoice,
    /// CPU placement, when pinned.
    pub pin: Option<PinPlan>,
    /// Whether per-thread counters are opened.
    pub counters: bool,
}

impl RunPlan {
    /// Checks every argument and every planned point; the error names the flag at fault.
    pub fn new(args: &RunArgs) -> Result<RunPlan, UsageError> {
        for path in &args.outputs {
            Format::of(path).map_err(|e| UsageError(e.to_string()))?;
        }
        let template = template(args);
        if args.fixed_buffers && !args.strategies.contains(&StrategyKind::UringZc) {
            return Err(UsageError(
                "--fixed-buffers applies to the uringzc strategy, which --strategy leaves out"
                    .into(),
            ));
        }
        let mut points = plan(
            &template,
            &args.strategies,
            &args.sizes,
            &args.threads,
            usize::from(args.repetitions),
        );
        for p in &mut points {
            // Only io_uring zero-copy sends from registered buffers; the others run as usual
            // beside it, and each point records whether it did.
            p.fixed_buffers = args.fixed_buffers && p.strategy == StrategyKind::UringZc;
            p.validate().map_err(|e| {
                UsageError(format!(
                    "{} {} x{}: {e}",
                    p.strategy,
                    format_size(p.msg_size),
                    p.threads
                ))
            })?;
        }
        Ok(RunPlan {
            points,
            template,
            target: target_choice(args)?,
            pin: pin_plan(args)?,
            counters: !args.no_counters,
        })
    }

    /// The run's configuration as the results record it.
    pub fn config_record(&self, args: &RunArgs, topology: TopologyRecord) -> RunConfigRecord {
        RunConfigRecord {
            mode: args.mode,
            protocol: args.protocol,
            topology,
            strategies: args.strategies.clone(),
            sizes: args.sizes.clone(),
            threads: args.threads.clone(),
            duration_s: args.duration.as_secs_f64(),
            warmup_s: args.warmup.as_secs_f64(),
            repetitions: usize::from(args.repetitions),
            fields: usize::from(args.fields),
            pool: self.template.pool,
            align: args.align,
            pin: self.pin.as_ref().map(PinPlan::record),
            counters: self.counters,
        }
    }
}

/// The parameters every point of the run shares.
fn template(args: &RunArgs) -> PointParams {
    let mut template = PointParams::new(args.strategies[0], args.sizes[0], args.threads[0]);
    template.mode = args.mode;
    template.protocol = args.protocol;
    template.fields = usize::from(args.fields);
    template.pool = args.pool.map(|p| p as usize);
    template.align = args.align;
    template.warmup = args.warmup;
    template.duration = args.duration;
    template.corrupt_message = args.corrupt_message;
    template
}

/// Where to run, from `--topology` and `--connect` (which must agree).
fn target_choice(args: &RunArgs) -> Result<TargetChoice, UsageError> {
    if args.connect.is_none() && args.auth_key_file.is_some() {
        return Err(UsageError(
            "--auth-key-file goes with --connect HOST:PORT (a `copybench server`)".into(),
        ));
    }
    if args.connect.is_some() && !args.receiver_cpus.is_empty() {
        return Err(UsageError(
            "--receiver-cpus: in remote mode the receivers run on the server; give it to \
             `copybench server --receiver-cpus` there"
                .into(),
        ));
    }
    let netns_mtu = args.mtu.unwrap_or(1500);
    if args.topology == TopologyArg::Sink {
        return sink_choice(args);
    }
    match (args.topology, &args.connect) {
        (TopologyArg::Remote | TopologyArg::Auto, Some(target)) => Ok(TargetChoice::Remote {
            connect: target.clone(),
            key_file: args.auth_key_file.clone(),
        }),
        (TopologyArg::Remote, None) => Err(UsageError(
            "--topology remote needs --connect HOST:PORT of a `copybench server`".into(),
        )),
        (_, Some(_)) => Err(UsageError(
            "--connect goes with --topology remote (or auto), not with netns or loopback".into(),
        )),
        (TopologyArg::Netns, None) => Ok(TargetChoice::Netns { mtu: netns_mtu }),
        (TopologyArg::Loopback, None) => Ok(TargetChoice::Loopback { note: None }),
        (TopologyArg::Auto, None) if copybench_net::has_net_admin() => {
            Ok(TargetChoice::Netns { mtu: netns_mtu })
        }
        (TopologyArg::Sink, _) => sink_choice(args),
        (TopologyArg::Auto, None) => Ok(TargetChoice::Loopback {
            note: Some(
                "no CAP_NET_ADMIN: running over loopback instead of a veth pair between \
                 namespaces (run as root for --topology netns)"
                    .into(),
            ),
        }),
    }
}

/// The sink: UDP only, with an MTU that lets every datagram be sent without a software
/// checksum (which would make the kernel copy).
fn sink_choice(args: &RunArgs) -> Result<TargetChoice, UsageError> {
    if args.protocol != Protocol::Udp {
        return Err(UsageError(
            "--topology sink carries UDP only (nothing answers a TCP handshake there): \
             add --protocol udp"
                .into(),
        ));
    }
    if args.connect.is_some() {
        return Err(UsageError(
            "--connect goes with --topology remote, not sink".into(),
        ));
    }
    let largest = args.sizes.iter().copied().max().unwrap_or(0);
    let needed = (largest + SINK_HEADERS).min(65535) as u32;
    let mtu = args.mtu.unwrap_or(needed.max(9000));
    if (mtu as usize) < largest + SINK_HEADERS {
        eprintln!(
            "note: --mtu {mtu} is below the largest datagram ({largest} bytes) plus {SINK_HEADERS} \
             bytes of headers: larger datagrams are fragmented with a software checksum and the \
             kernel copies them, sink or not"
        );
    }
    Ok(TargetChoice::Sink { mtu })
}

/// IPv4 and UDP headers in front of a datagram's payload.
const SINK_HEADERS: usize = 28;

/// CPU placement from `--pin`, `--sender-cpus` and `--receiver-cpus`.
fn pin_plan(args: &RunArgs) -> Result<Option<PinPlan>, UsageError> {
    if !args.pin && args.sender_cpus.is_empty() && args.receiver_cpus.is_empty() {
        return Ok(None);
    }
    let cpus = core_affinity::get_core_ids().map_or(0, |ids| ids.len());
    let auto = PinPlan::automatic(cpus.max(1));
    let or_auto = |given: &Vec<usize>, auto: Vec<usize>| {
        if given.is_empty() {
            auto
        } else {
            given.clone()
        }
    };
    let plan = PinPlan {
        senders: or_auto(&args.sender_cpus, auto.senders),
        receivers: or_auto(&args.receiver_cpus, auto.receivers),
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
