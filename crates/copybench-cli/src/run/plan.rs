//! What a run will do, built from the arguments and checked before any traffic: the points in
//! run order, where they run, how threads are placed. Building a plan has no side effects.

use copybench_core::engine::{PointParams, Protocol, ReceiveKind, Verify};
use copybench_core::receive::PAGE_ALIGNED_MSS;
use copybench_core::result::{
    Placement, RunConfigRecord, TopologyKind, TopologyRecord, UnsupportedRecord, COPYBENCH_TOOL,
};
use copybench_core::sweep::{plan_grid, Grid};
use copybench_core::units::format_size;
use copybench_core::StrategyKind;

use super::target::TargetChoice;
use crate::args::{RunArgs, TopologyArg};
use crate::export::Format;
use crate::hooks::PinPlan;
use crate::peers::Peer;
use crate::UsageError;

/// What measures a point: copybench's engine, or a peer tool beside it (`copybench peers`).
#[derive(Clone, Copy)]
pub enum Tool {
    /// copybench's own engine, through the target and the hooks.
    Copybench,
    /// A peer's server and client processes on the target's two sides.
    Peer(&'static dyn Peer),
}

impl Tool {
    /// Its name in the results (`tool`).
    pub fn name(self) -> &'static str {
        match self {
            Tool::Copybench => COPYBENCH_TOOL,
            Tool::Peer(p) => p.name(),
        }
    }
}

/// One measurement of the plan: a point and the tool that measures it.
#[derive(Clone)]
pub struct Planned {
    pub tool: Tool,
    pub params: PointParams,
}

/// A validated run.
pub struct RunPlan {
    /// Every point, in run order (interleaved strategies, and tools, rotated per repetition).
    pub points: Vec<Planned>,
    /// The parameters every point shares.
    pub template: PointParams,
    /// What each point sets by its strategy and receive strategy (a point `--refine` or
    /// `crossover` adds gets them too, through [`RunPlan::settle`]).
    pub settings: PointSettings,
    /// Where the traffic will run.
    pub target: TargetChoice,
    /// CPU placement, when pinned.
    pub pin: Option<PinPlan>,
    /// The named placement `pin` implements.
    pub placement: Placement,
    /// Why the placement is not the one asked for (said before the run, kept in the results).
    pub placement_note: Option<String>,
    /// Whether per-thread counters are opened.
    pub counters: bool,
    /// What is known unsupported before the run (a peer not installed), as the results start.
    pub unsupported: Vec<UnsupportedRecord>,
    /// Said to the user before the run (`note: ...`).
    pub notes: Vec<String>,
    /// `copybench peers`: copybench's points beside the peers' (its own point in the peers'
    /// terms, the peers' table).
    pub peers: bool,
}

/// The settings that depend on a point's own strategy or receive strategy, applied alike to
/// the planned points and to any point measured later from the template.
#[derive(Debug, Clone, Copy, Default)]
pub struct PointSettings {
    /// `--fixed-buffers` (io_uring zero-copy only).
    pub fixed_buffers: bool,
    /// `--splice-gift` (splice only).
    pub splice_gift: bool,
    /// `--hugepages` (every heap pool: not sendfile's memory file).
    pub hugepages: bool,
    /// The MSS the loopback listener asks for when the run maps received pages.
    pub tcp_maxseg: Option<u32>,
}

impl PointSettings {
    /// Sets `p`'s strategy-dependent fields, and what a trunc receiver can check.
    pub fn apply(&self, p: &mut PointParams) {
        // Only io_uring zero-copy sends from registered buffers; the others run as usual
        // beside it, and each point records whether it did.
        p.fixed_buffers = self.fixed_buffers && p.strategy == StrategyKind::UringZc;
        p.splice_gift = self.splice_gift && p.strategy == StrategyKind::Splice;
        // sendfile's pool is a memory file: its points record no huge pages.
        p.hugepages = self.hugepages && p.strategy != StrategyKind::Sendfile;
        p.tcp_maxseg = self.tcp_maxseg;
        if p.receive == ReceiveKind::Trunc {
            // What trunc can check: the counts (recorded as verification `discard`).
            p.verify = Verify::Discard;
        }
    }
}

impl RunPlan {
    /// Gives a point measured after the plan was made (by `--refine` or `crossover`, from
    /// the template) the settings the planned points have.
    pub fn settle(&self, p: &mut PointParams) {
        self.settings.apply(p);
    }

    /// Checks every argument and every planned point; the error names the flag at fault.
    pub fn new(args: &RunArgs) -> Result<RunPlan, UsageError> {
        for path in &args.outputs {
            Format::of(path).map_err(|e| UsageError(e.to_string()))?;
        }
        let mut template = template(args);
        if args.fixed_buffers && !args.strategies.contains(&StrategyKind::UringZc) {
            return Err(UsageError(
                "--fixed-buffers applies to the uringzc strategy, which --strategy leaves out"
                    .into(),
            ));
        }
        let receives = receives(args)?;
        if args.refine && !args.rates.is_empty() {
            return Err(UsageError(
                "--refine adds sizes to unpaced break-even brackets; with --rate the findings \
                 rank by CPU per byte at equal rate: leave one of them out"
                    .into(),
            ));
        }
        // Unpaced: one rate, none; paced: each --rate a cell of the grid.
        let rates: Vec<Option<u64>> = if args.rates.is_empty() {
            vec![None]
        } else {
            args.rates.iter().map(|&r| Some(r)).collect()
        };
        let grid = Grid {
            strategies: &args.strategies,
            receives: &receives,
            sizes: &args.sizes,
            threads: &args.sweep.threads,
            rates: &rates,
        };
        let mut points = plan_grid(&template, &grid, usize::from(args.sweep.repetitions));
        if args.hugepages && args.strategies.iter().all(|&s| s == StrategyKind::Sendfile) {
            return Err(UsageError(
                "--hugepages applies to the heap pools; sendfile's pool is a memory file: add \
                 another --strategy or leave --hugepages out"
                    .into(),
            ));
        }
        if args.splice_gift && !args.strategies.contains(&StrategyKind::Splice) {
            return Err(UsageError(
                "--splice-gift applies to the splice strategy, which --strategy leaves out".into(),
            ));
        }
        if args.uring_depth.is_some() && !args.strategies.iter().any(|s| s.uses_io_uring()) {
            return Err(UsageError(
                "--uring-depth applies to the io_uring strategies (uringsend, uringzc), which \
                 --strategy leaves out"
                    .into(),
            ));
        }
        let mut settings = PointSettings {
            fixed_buffers: args.fixed_buffers,
            splice_gift: args.splice_gift,
            hugepages: args.hugepages,
            tcp_maxseg: None,
        };
        for p in &mut points {
            settings.apply(p);
            p.validate().map_err(|e| {
                UsageError(format!(
                    "{} {} x{}: {e}",
                    p.strategy,
                    format_size(p.msg_size),
                    p.threads
                ))
            })?;
        }
        let target = TargetChoice::from_args(args)?;
        // Over loopback the host's `lo` MTU stays as it is: the listener asks for an MSS
        // that carries whole pages instead, for every point of the run (read and trunc
        // compared on the same path), and each point records it.
        let maxseg = (receives.contains(&ReceiveKind::Zerocopy)
            && target.kind() == TopologyKind::Loopback)
            .then_some(PAGE_ALIGNED_MSS);
        // The template too: `--refine` measures its sizes on the same path.
        template.tcp_maxseg = maxseg;
        settings.tcp_maxseg = maxseg;
        for p in &mut points {
            settings.apply(p);
        }
        // A UDP_SEGMENT datagram must fit the veth's MTU, or every send fails with EINVAL.
        if let (Some(gso), Some(mtu)) = (args.udp_gso, target.mtu().map(|m| m as usize)) {
            if gso + 28 > mtu {
                return Err(UsageError(format!(
                    "--udp-gso {gso}: each datagram and its 28 bytes of headers must fit the \
                     MTU ({mtu}): use --udp-gso {} or less, or a larger --mtu",
                    mtu.saturating_sub(28)
                )));
            }
        }
        let cpus = usable_cpus();
        let placed = placing(args, &cpus, !target.both_sides_here())?;
        Ok(RunPlan {
            points: points
                .into_iter()
                .map(|params| Planned {
                    tool: Tool::Copybench,
                    params,
                })
                .collect(),
            template,
            settings,
            target,
            pin: placed.pin,
            placement: placed.placement,
            placement_note: placed.note,
            counters: !args.sweep.no_counters,
            unsupported: Vec::new(),
            notes: Vec::new(),
            peers: false,
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
            threads: args.sweep.threads.clone(),
            duration_s: args.sweep.duration.as_secs_f64(),
            warmup_s: args.sweep.warmup.as_secs_f64(),
            repetitions: usize::from(args.sweep.repetitions),
            fields: usize::from(args.message.fields),
            pool: self.template.pool,
            align: args.message.align,
            pin: self.pin.as_ref().map(PinPlan::record),
            counters: self.counters,
            verification: args.verify,
            receives: receives(args).unwrap_or_default(),
            placement: Some(self.placement),
            placement_note: self.placement_note.clone(),
            // Filled in by the refinement, once it ran.
            refine: None,
            rates: args.rates.clone(),
        }
    }
}

/// The receive strategies of the run: `--receive`, where `--verify discard` is the older
/// spelling of `--receive trunc`.
fn receives(args: &RunArgs) -> Result<Vec<ReceiveKind>, UsageError> {
    let mut list: Vec<ReceiveKind> = Vec::new();
    for r in &args.receives {
        if !list.contains(r) {
            list.push(*r);
        }
    }
    if args.verify == Verify::Discard {
        if list
            .iter()
            .any(|r| *r != ReceiveKind::Read && *r != ReceiveKind::Trunc)
        {
            return Err(UsageError(
                "--verify discard is the older spelling of --receive trunc, and cannot go with \
                 --receive zerocopy: drop --verify discard and add trunc to --receive"
                    .into(),
            ));
        }
        return Ok(vec![ReceiveKind::Trunc]);
    }
    if args.protocol == Protocol::Udp && list.contains(&ReceiveKind::Zerocopy) {
        return Err(UsageError(
            "--receive zerocopy maps a TCP socket's receive queue (TCP_ZEROCOPY_RECEIVE); UDP \
             has none: use --protocol tcp, or --receive read or trunc with UDP"
                .into(),
        ));
    }
    if list.contains(&ReceiveKind::Zerocopy)
        && args.sweep.topology == TopologyArg::Kind(TopologyKind::Sink)
    {
        return Err(UsageError(
            "--receive zerocopy needs a receiver, and the sink has none: use --topology netns \
             or loopback"
                .into(),
        ));
    }
    Ok(list)
}

/// The parameters every point of the run shares.
fn template(args: &RunArgs) -> PointParams {
    let mut template = PointParams::new(args.strategies[0], args.sizes[0], args.sweep.threads[0]);
    template.mode = args.mode;
    template.protocol = args.protocol;
    template.fields = usize::from(args.message.fields);
    template.pool = args.message.pool.map(|p| p as usize);
    template.data = args.message.data;
    template.align = args.message.align;
    template.warmup = args.sweep.warmup;
    template.duration = args.sweep.duration;
    template.verify = args.verify;
    template.read_size = args.read_size;
    template.uring_depth = args.uring_depth.map(usize::from);
    template.corrupt_message = args.corrupt_message;
    template.udp_gso = args.udp_gso;
    template
}

/// The CPUs this process may run on (its affinity mask), in order.
fn usable_cpus() -> Vec<usize> {
    core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default()
}

/// A placement as planned: the CPUs, its name, and why it differs from the one asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placing {
    pub pin: Option<PinPlan>,
    pub placement: Placement,
    pub note: Option<String>,
}

/// CPU placement from `--placement` (`--pin` = apart), overridden by `--sender-cpus` and
/// `--receiver-cpus` (`custom`), on the usable `cpus`.
pub fn placing(args: &RunArgs, cpus: &[usize], remote: bool) -> Result<Placing, UsageError> {
    if !args.cpus.sender_cpus.is_empty() || !args.cpus.receiver_cpus.is_empty() {
        return custom(args, cpus);
    }
    let asked = if args.cpus.pin {
        Placement::Apart
    } else {
        args.sweep.placement
    };
    let placed = |pin, placement, note: Option<String>| Placing {
        pin,
        placement,
        note,
    };
    if asked == Placement::Unpinned {
        return Ok(placed(None, Placement::Unpinned, None));
    }
    if cpus.is_empty() {
        let note = "this process's CPU affinity could not be read: threads are not pinned";
        return Ok(placed(None, Placement::Unpinned, Some(note.into())));
    }
    if asked == Placement::Same && remote {
        return Err(UsageError(
            "--placement same: with --topology remote the receivers run on another host, so a \
             sender cannot share a CPU with its receiver; use apart or none"
                .into(),
        ));
    }
    match (asked, PinPlan::apart(cpus)) {
        (Placement::Apart, Some(plan)) => Ok(placed(Some(plan), Placement::Apart, None)),
        (Placement::Apart, None) => {
            let note = format!(
                "--placement apart is impossible with one usable CPU (CPU {}): each sender \
                 shares it with its receiver (placement same)",
                cpus[0]
            );
            Ok(placed(
                Some(PinPlan::same(cpus)),
                Placement::Same,
                Some(note),
            ))
        }
        _ => Ok(placed(Some(PinPlan::same(cpus)), Placement::Same, None)),
    }
}

/// `--sender-cpus` / `--receiver-cpus`, a side not given taking the `apart` choice; every CPU
/// must be usable.
fn custom(args: &RunArgs, cpus: &[usize]) -> Result<Placing, UsageError> {
    let auto = PinPlan::apart(cpus).unwrap_or_else(|| PinPlan::same(cpus));
    let or_auto = |given: &Vec<usize>, auto: Vec<usize>| {
        if given.is_empty() {
            auto
        } else {
            given.clone()
        }
    };
    let plan = PinPlan {
        senders: or_auto(&args.cpus.sender_cpus, auto.senders),
        receivers: or_auto(&args.cpus.receiver_cpus, auto.receivers),
    };
    for (flag, list) in [
        ("--sender-cpus", &plan.senders),
        ("--receiver-cpus", &plan.receivers),
    ] {
        if let Some(bad) = list.iter().find(|c| !cpus.contains(c)) {
            let usable: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
            return Err(UsageError(format!(
                "{flag}: CPU {bad} is not one this process may use (usable: {})",
                if usable.is_empty() {
                    "unknown".to_string()
                } else {
                    usable.join(",")
                }
            )));
        }
    }
    Ok(Placing {
        pin: Some(plan),
        placement: Placement::Custom,
        note: None,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use copybench_core::engine::{ReceiveKind, Verify};
    use copybench_core::StrategyKind;

    use super::RunPlan;
    use crate::args::{Cli, Command};

    fn plan(extra: &[&str]) -> RunPlan {
        let argv = ["copybench", "run", "--topology", "loopback"];
        let cli = Cli::try_parse_from(argv.iter().chain(extra)).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        RunPlan::new(&args).unwrap()
    }

    /// A point `--refine` or `crossover` makes from the template later gets what the planned
    /// points got: without `settle`, refined uringzc points silently lost --fixed-buffers.
    #[test]
    fn a_point_planned_later_gets_the_runs_per_strategy_settings() {
        let plan = plan(&[
            "--strategy",
            "uringzc,splice,scattergather",
            "--fixed-buffers",
            "--splice-gift",
            "--hugepages",
            "--receive",
            "read,trunc",
            "--sizes",
            "64k",
        ]);
        let later = |strategy, receive| {
            let mut p = plan.template.clone();
            p.strategy = strategy;
            p.receive = receive;
            plan.settle(&mut p);
            p
        };
        let zc = later(StrategyKind::UringZc, ReceiveKind::Read);
        assert!(zc.fixed_buffers && !zc.splice_gift && zc.hugepages);
        let splice = later(StrategyKind::Splice, ReceiveKind::Trunc);
        assert!(splice.splice_gift && !splice.fixed_buffers);
        assert_eq!(splice.verify, Verify::Discard, "trunc checks the counts");
        let sg = later(StrategyKind::ScatterGather, ReceiveKind::Read);
        assert!(!sg.fixed_buffers && !sg.splice_gift && sg.hugepages);
        assert_eq!(sg.verify, Verify::Full);
        // The same as the planned points of that strategy.
        for planned in &plan.points {
            let p = &planned.params;
            let again = later(p.strategy, p.receive);
            assert_eq!(
                (
                    again.fixed_buffers,
                    again.splice_gift,
                    again.hugepages,
                    again.verify
                ),
                (p.fixed_buffers, p.splice_gift, p.hugepages, p.verify),
                "{}",
                p.strategy
            );
        }
    }
}
