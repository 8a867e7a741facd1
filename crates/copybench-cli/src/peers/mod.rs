//! `copybench peers`: copybench's single-field stream side by side with iperf3, iperf (2.x),
//! sockperf and nuttcp, on the same topology, in the same run, under the same CPU placement.
//!
//! A peer is one more tool of a point: [`plan`] makes `copybench run`'s plan (the target, the
//! placement, the points) and gives every point to each tool in turn, the order rotating from
//! one cell to the next so that drift favours none; `run`'s sweep then runs them, rewrites the
//! files after every point and stops cleanly at Ctrl-C. copybench's own engine (scatter-gather,
//! one field: one buffer per send, the work a peer does) runs through the target and the CLI's
//! hooks; each installed peer runs as a server process on the target's receiver side and a
//! client process on its sender side ([`run_point`]), pinned with its own option or `taskset`.
//! A missing peer is reported, a peer's failure is recorded; neither stops the run. Peer
//! processes never outlive it (see [`process`]).
//!
//! Each peer is one file: its command lines and the parser of its output, tested on real output
//! captured under `tests/data/peers/`. See `docs/peers.md`.

mod iperf2;
mod iperf3;
mod nuttcp;
pub mod process;
mod sockperf;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use copybench_core::engine::{Mode, PointParams, Protocol, ReceiveKind, Role};
use copybench_core::message::Align;
use copybench_core::model::Placement;
use copybench_core::result::{
    copybench_tool, FailureRecord, PeerFigures, Point, RunResults, SideMetrics, SystemCpu,
    TopologyKind, UnsupportedRecord, COPYBENCH_TOOL,
};
use copybench_core::sweep::Spread;
use copybench_core::units::format_size;
use copybench_core::StrategyKind;
use copybench_perf::CpuTimes;

use crate::args::{CpuOptions, MessageOptions, PeersArgs, RunArgs, TopologyArg};
use crate::export::Format;
use crate::hooks::{CliHooks, PinPlan};
use crate::run::{run_on_side, Planned, RunPlan, Target, TargetPath, Tool};
use crate::UsageError;

/// Everything a peer's command lines depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Bytes per write.
    pub size: usize,
    /// Connections.
    pub threads: usize,
    /// Test length in whole seconds (iperf3 and sockperf take no fractions).
    pub seconds: u64,
    /// The receiver's address (server binds here where it can, client connects here).
    pub addr: IpAddr,
    /// First of the [`Peer::ports`] consecutive free ports.
    pub port: u16,
    pub sender_cpu: usize,
    pub receiver_cpu: usize,
    /// `--rate`: payload bits per second per connection (`None`: unpaced).
    pub rate_bps: Option<u64>,
}

/// What a peer reported for one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Where `gbps`, `bytes` and `seconds` were counted: `receiver` or `sender`.
    pub side: &'static str,
    pub gbps: f64,
    pub bytes: u64,
    pub seconds: f64,
    pub sender_gbps: Option<f64>,
    pub receiver_gbps: Option<f64>,
    pub sender_bytes: Option<u64>,
    /// Write calls, where the peer counts them.
    pub writes: Option<u64>,
    pub retransmits: Option<u64>,
}

/// Why a peer's output gave no figures (the messages say which peer and what was missing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// The peer printed an error of its own (e.g. the connection was refused): its words.
    #[error("{0}")]
    Said(String),
    /// A figure the parser reads is not in the output.
    #[error("{0}")]
    Missing(String),
    /// The output is not in the form the peer prints.
    #[error("{0}")]
    Malformed(String),
    /// The output says no payload went through.
    #[error("{0}")]
    Empty(&'static str),
}

/// A figure the parser reads is not in the output: `what` says which.
fn missing(what: &str) -> OutputError {
    OutputError::Missing(what.to_string())
}

/// Why no free ports could be found for a peer's server.
#[derive(Debug, thiserror::Error)]
pub enum PortsError {
    /// Not even one port could be bound.
    #[error("finding a free port on {addr}: {source}")]
    Bind {
        addr: IpAddr,
        source: std::io::Error,
    },
    /// Every try found a taken port among the consecutive ones.
    #[error("no {count} consecutive free ports on {addr}")]
    NoneFree { addr: IpAddr, count: usize },
}

/// One peer tool: how to run it and how to read it.
pub trait Peer: Sync {
    /// Its name in results (`tool`).
    fn name(&self) -> &'static str;
    /// The command on `PATH` (also the Debian package's name).
    fn program(&self) -> &'static str;
    /// Why it cannot run this size or thread count, if it cannot.
    fn unsupported(&self, size: usize, threads: usize) -> Option<String>;
    /// How many consecutive ports it needs (the server listens on the first).
    fn ports(&self, _threads: usize) -> usize {
        1
    }
    fn server(&self, s: &Setting) -> Vec<String>;
    fn client(&self, s: &Setting) -> Vec<String>;
    /// Whether the server exits by itself after one test (else it is stopped).
    fn server_exits(&self) -> bool;
    /// Whether a still-running server has printed all it will print for this test.
    fn server_done(&self, _server_out: &str, _s: &Setting) -> bool {
        true
    }
    fn parse(
        &self,
        client_out: &str,
        server_out: &str,
        s: &Setting,
    ) -> Result<Measured, OutputError>;
}

/// Every peer, in the order they are tried.
pub fn all_peers() -> Vec<&'static dyn Peer> {
    vec![
        &iperf3::Iperf3,
        &iperf2::Iperf2,
        &sockperf::Sockperf,
        &nuttcp::Nuttcp,
    ]
}

/// The names `--peers` accepts.
pub fn peer_names() -> Vec<&'static str> {
    all_peers().iter().map(|p| p.name()).collect()
}

/// CPUs of the two sides under `placement`.
fn cpus(placement: Placement) -> Result<(usize, usize), UsageError> {
    let available = core_affinity::get_core_ids().map_or(0, |ids| ids.len());
    match placement {
        Placement::Apart if available >= 2 => Ok((0, 1)),
        Placement::Apart => Err(UsageError(format!(
            "--placement apart needs 2 CPUs, this process may use {available}; use --placement same"
        ))),
        // Same (`parse_peers_placement` refuses none, and custom is never typed).
        _ => Ok((0, 0)),
    }
}

/// Why a peer's point produced no figure.
pub enum PointError {
    /// Ctrl-C.
    Cancelled,
    /// The peer cannot run it here (recorded once, not tried again).
    Unsupported(String),
    /// It ran and failed (recorded; the run goes on).
    Failed(String),
}

/// `count` consecutive ports free on `addr` in the namespace of the calling thread: the kernel
/// picks an ephemeral port, the following ones are checked by binding them too. All are
/// released on return; a peer taking one in between is a recorded failure.
fn free_ports(addr: IpAddr, count: usize) -> Result<u16, PortsError> {
    for _ in 0..50 {
        let first = TcpListener::bind(SocketAddr::new(addr, 0))
            .and_then(|l| l.local_addr())
            .map_err(|source| PortsError::Bind { addr, source })?
            .port();
        if usize::from(first) + count > usize::from(u16::MAX) {
            continue;
        }
        let held: Vec<_> = (0..count)
            .map_while(|i| TcpListener::bind(SocketAddr::new(addr, first + i as u16)).ok())
            .collect();
        if held.len() == count {
            return Ok(first);
        }
    }
    Err(PortsError::NoneFree { addr, count })
}

/// CPU time (user + system) of a peer's processes while its test ran, from `/proc/PID/stat`.
#[derive(Debug, Clone, Copy, Default)]
struct PeerCpu {
    /// The client (sender), over its whole life.
    sender: Option<Duration>,
    /// The server (receiver), from the client's start to the end of the test.
    receiver: Option<Duration>,
}

/// What one run of a peer gave: its figures, the setting it ran with, the machine's CPU and
/// context switches over the run, and the peer processes' own CPU.
type PeerRun = (Measured, Setting, Option<SystemCpu>, Option<u64>, PeerCpu);

/// Why `peer` cannot run `params` here, if it cannot (asked before anything starts; the same
/// answer for every repetition).
pub fn cannot_run(peer: &dyn Peer, params: &PointParams) -> Option<String> {
    let threads = params.threads;
    if let Some(why) = peer.unsupported(params.msg_size, threads) {
        return Some(why);
    }
    if params.rate_bps.is_some() && threads > 1 && peer.name() != "iperf3" {
        // iperf3 documents -b as per stream; whether iperf's -b and nuttcp's -R limit each of
        // several streams or their sum is not checked here.
        return Some(format!(
            "--rate with more than one connection is paced per connection by iperf3 only; {} \
             is run paced with --threads 1",
            peer.name()
        ));
    }
    None
}

/// Runs one point of `peer` on `target`'s two sides, its CPUs from the hooks' placement: a
/// server process on the receiver's side, a client on the sender's.
pub fn run_point(
    peer: &dyn Peer,
    params: &PointParams,
    target: &Target,
    hooks: &CliHooks<'_>,
    cancel: &AtomicBool,
) -> Result<Point, PointError> {
    let (sender_cpu, receiver_cpu) = hooks
        .pin
        .as_ref()
        .map_or((0, 0), |p| (p.senders[0], p.receivers[0]));
    let (m, s, system, switches, cpu) = run_peer(
        peer,
        params,
        target.path(),
        (sender_cpu, receiver_cpu),
        cancel,
    )?;
    let mut point = peer_point(peer, &m, &s, params.repetition, system, switches, cpu);
    point.placement = hooks.placement;
    Ok(point)
}

/// Runs one peer once: server, then client, then reads both.
fn run_peer(
    peer: &dyn Peer,
    params: &PointParams,
    path: &dyn TargetPath,
    (sender_cpu, receiver_cpu): (usize, usize),
    cancel: &AtomicBool,
) -> Result<PeerRun, PointError> {
    if let Some(why) = cannot_run(peer, params) {
        return Err(PointError::Unsupported(why));
    }
    let (size, threads) = (params.msg_size, params.threads);
    let failed = PointError::Failed;
    // `copybench peers` plans only paths with both sides on this host.
    let addr = path
        .local_addr()
        .ok_or_else(|| failed("the peers need both sides on this host".into()))?;
    let count = peer.ports(threads);
    let port = run_on_side(path, Role::Receiver, || free_ports(addr, count))
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e| failed(e.to_string()))?;
    let seconds = params.duration.as_secs();
    let setting = Setting {
        size,
        threads,
        seconds,
        addr,
        port,
        sender_cpu,
        receiver_cpu,
        rate_bps: params.rate_bps,
    };
    let name = peer.name();
    let wait_err = |e: process::WaitError| match e {
        process::WaitError::Cancelled => PointError::Cancelled,
        process::WaitError::Failed(s) => PointError::Failed(s),
    };

    let mut server = process::spawn(
        &format!("{name} server"),
        &peer.server(&setting),
        path.namespace_fd(Role::Receiver),
    )
    .map_err(|e| failed(e.to_string()))?;
    process::wait_listening(&mut server, port, Duration::from_secs(10), cancel)
        .map_err(wait_err)?;

    let cpu_before = CpuTimes::read().ok();
    let switches_before = crate::hooks::context_switches();
    let server_cpu_before = server.cpu_time();
    let mut client = process::spawn(
        &format!("{name} client"),
        &peer.client(&setting),
        path.namespace_fd(Role::Sender),
    )
    .map_err(|e| failed(e.to_string()))?;
    // The test's own length plus generous room for start-up and the final exchange.
    let status = client
        .wait(Duration::from_secs(seconds + 20), cancel)
        .map_err(wait_err)?;
    let switches = crate::hooks::context_switches()
        .zip(switches_before)
        .map(|(b, a)| b.saturating_sub(a));
    let system = crate::hooks::system_cpu_since(cpu_before);

    // The server's last report may still be on its way (iperf prints it as the connection
    // closes); then it is stopped, or waited for if it ends by itself.
    let deadline = Instant::now() + Duration::from_secs(5);
    if peer.server_exits() {
        let _ = server.wait(Duration::from_secs(5), cancel);
    } else {
        while !peer.server_done(&server.stdout.text(), &setting) && Instant::now() < deadline {
            if cancel.load(Ordering::Relaxed) {
                return Err(PointError::Cancelled);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // Read before stopping: a server that exited by itself kept its time at exit.
    let server_cpu_after = server.cpu_time();
    server.stop(Duration::from_secs(2));
    let cpu = PeerCpu {
        sender: client.cpu_time(),
        receiver: server_cpu_before
            .zip(server_cpu_after)
            .map(|(a, b)| b.saturating_sub(a)),
    };

    let client_out = client.stdout.text();
    let server_out = server.stdout.text();
    match peer.parse(&client_out, &server_out, &setting) {
        Ok(m) => Ok((m, setting, system, switches, cpu)),
        Err(e) => {
            let e = e.to_string();
            let mut why = format!("{e} (client exited {status}");
            let complaint = client.complaint();
            if !complaint.is_empty() && !e.contains(&complaint) {
                why += &format!("; it said: {complaint}");
            }
            let server_complaint = server.complaint();
            if !server_complaint.is_empty() && !server.stderr.text().trim().is_empty() {
                why += &format!("; server said: {server_complaint}");
            }
            why.push(')');
            Err(PointError::Failed(why))
        }
    }
}

/// A peer's figures as a point of the results.
fn peer_point(
    peer: &dyn Peer,
    m: &Measured,
    s: &Setting,
    repetition: usize,
    system: Option<SystemCpu>,
    switches: Option<u64>,
    cpu: PeerCpu,
) -> Point {
    let name = peer.name();
    let messages = m.bytes / s.size as u64;
    // A process's CPU time per payload byte and per second of the test: the whole process
    // (threads, start-up and the final exchange included), in 10 ms ticks.
    let side = |cpu: Option<Duration>| SideMetrics {
        cpu_ns_per_byte: cpu
            .filter(|_| m.bytes > 0)
            .map(|c| c.as_nanos() as f64 / m.bytes as f64),
        cpu_utilisation_pct: cpu
            .filter(|_| m.seconds > 0.0)
            .map(|c| c.as_secs_f64() / m.seconds * 100.0),
        ..SideMetrics::default()
    };
    let pacing = s.rate_bps.map(|target| {
        // Peers report totals: the mean per connection stands for each.
        let reached = (m.gbps.is_finite() && m.gbps > 0.0).then(|| m.gbps * 1e9 / s.threads as f64);
        copybench_core::result::PacingRecord {
            method: copybench_core::engine::pacing::PacingMethod::PeerOption,
            target_bps: target,
            reached_bps: reached,
            rate_reached: reached.is_some_and(|r| {
                r >= copybench_core::engine::pacing::REACHED_SHARE * target as f64
            }),
            slept_s: None,
        }
    });
    Point {
        refined: false,
        pacing,
        tool: name.to_string(),
        strategy: StrategyKind::ScatterGather,
        // Every peer reads with read(2) (recv).
        receive: Default::default(),
        receive_setup: None,
        msg_size: s.size,
        threads: s.threads,
        repetition,
        mode: copybench_core::engine::Mode::Stream,
        protocol: Default::default(),
        udp: None,
        not_verifiable: Some(format!("{name} checks no bytes")),
        verification: copybench_core::engine::Verify::Off,
        placement: None,
        pool_bytes: s.size as u64,
        read_size: None,
        pool_wait_s: None,
        longest_send_s: None,
        data: None,
        buffers_touched: None,
        working_set_bytes: None,
        pages_per_message: None,
        fixed_buffers: false,
        uring_depth: None,
        uring: None,
        splice_gift: None,
        receive_margin_bytes: None,
        hugepages: None,
        udp_gso: None,
        sender_io_worker_ns: None,
        receiver_system_cpu: None,
        service_demand_ns_per_byte: None,
        service_demand_per: None,
        fields: 1,
        // Every peer writes from one buffer.
        pool: 1,
        throughput_gbps: m.gbps,
        bytes: m.bytes,
        messages,
        duration_s: m.seconds,
        // The peer's own count where it has one, else whole writes of `size` (iperf and
        // iperf3 write whole buffers).
        send_calls: m.writes.unwrap_or(messages),
        verified: false,
        transactions_per_s: None,
        latency_us: None,
        zerocopy: None,
        sender: side(cpu.sender),
        receiver: side(cpu.receiver),
        system_cpu: system,
        cycles_per_byte: None,
        llc_misses_per_kib: None,
        per_thread: Vec::new(),
        error: None,
        peer: Some(PeerFigures {
            throughput_side: m.side.to_string(),
            sender_gbps: m.sender_gbps,
            receiver_gbps: m.receiver_gbps,
            retransmits: m.retransmits,
            system_context_switches: switches,
            context_switches_per_mb: per_mb(switches, m.bytes),
            server_command: peer.server(s),
            client_command: peer.client(s),
        }),
    }
}

fn per_mb(count: Option<u64>, bytes: u64) -> Option<f64> {
    count
        .filter(|_| bytes > 0)
        .map(|c| c as f64 / (bytes as f64 / 1e6))
}

/// `copybench peers` as a run's plan: copybench's single-field stream (one buffer, reads of
/// the write size, as the peers write and read) and every installed peer, each one more tool
/// of every point. `run`'s plan checks the arguments and places the points; the sweep, the
/// files, Ctrl-C, the findings and the exit code are then `run`'s.
pub fn plan(args: &PeersArgs) -> Result<(RunPlan, RunArgs), UsageError> {
    for path in &args.outputs {
        if Format::of(path).map_err(|e| UsageError(e.to_string()))? != Format::Json {
            return Err(UsageError(format!(
                "--out {}: copybench peers writes JSON only (name the file .json)",
                path.display()
            )));
        }
    }
    if args.sweep.duration.subsec_nanos() != 0 {
        return Err(UsageError(format!(
            "--duration {:?}: peers take whole seconds (iperf3 and sockperf ignore fractions); \
             use e.g. 3s",
            args.sweep.duration
        )));
    }
    let (sender_cpu, receiver_cpu) = cpus(args.sweep.placement)?;
    if let TopologyArg::Kind(kind @ (TopologyKind::Remote | TopologyKind::Sink)) =
        args.sweep.topology
    {
        return Err(UsageError(format!(
            "--topology {kind}: peers run on this machine with a receiver (netns or loopback)"
        )));
    }
    let run_args = run_args(args);
    let mut plan = RunPlan::new(&run_args)?;
    for planned in &mut plan.points {
        let p = &mut planned.params;
        // As iperf3 and nuttcp read: their write size (see docs/peers.md for what the read
        // size does to wake-ups).
        p.read_size = Some(args.read_size.unwrap_or(p.msg_size));
        p.validate().map_err(|e| {
            UsageError(format!(
                "copybench {} x{}: {e}",
                format_size(p.msg_size),
                p.threads
            ))
        })?;
    }
    // Every tool on the same two CPUs: each peer is pinned with its own option or `taskset`.
    plan.pin = Some(PinPlan {
        senders: vec![sender_cpu],
        receivers: vec![receiver_cpu],
    });
    plan.placement = args.sweep.placement;
    plan.placement_note = None;

    // Which peers are here.
    let mut tools = vec![Tool::Copybench];
    for p in all_peers()
        .into_iter()
        .filter(|p| args.peers.iter().any(|n| n == p.name()))
    {
        if process::find_program(p.program()).is_some()
            && (p.program() == "iperf3" || process::find_program("taskset").is_some())
        {
            tools.push(Tool::Peer(p));
        } else {
            let reason = format!(
                "{} is not installed (Debian package {}; scripts/install-deps.sh installs it)",
                p.program(),
                p.program()
            );
            plan.notes.push(format!("{}: {reason}", p.name()));
            plan.unsupported.push(UnsupportedRecord {
                tool: p.name().to_string(),
                strategy: StrategyKind::ScatterGather,
                reason,
                receive: None,
            });
        }
    }
    plan.points = with_tools(std::mem::take(&mut plan.points), &tools);
    plan.peers = true;
    Ok((plan, run_args))
}

/// The `copybench run` arguments of copybench's own points: one field from one buffer, read
/// with read(2), checked as `--verify` says (its stamps by default: the identity and order of
/// every message, at 8 bytes read per message; the peers check nothing).
fn run_args(args: &PeersArgs) -> RunArgs {
    RunArgs {
        strategies: vec![StrategyKind::ScatterGather],
        sizes: args.sizes.clone(),
        sweep: args.sweep.clone(),
        mode: Mode::Stream,
        connect: None,
        auth_key_file: None,
        protocol: Protocol::Tcp,
        expect_zerocopy: false,
        message: MessageOptions {
            fields: 1,
            // One message buffer, as every peer writes from one buffer. The default pool (about
            // 8 MiB, up to 256 buffers) exists for zero-copy, whose buffers stay with the kernel
            // until completion; a copying send is done with its buffer when the call returns.
            // Rotating through 256 cold buffers cost the sender 5-28% more CPU per byte here
            // (measured with `copybench run --fields 1 --pool 1` against the default;
            // docs/peers.md).
            pool: Some(1),
            data: copybench_core::engine::DataTemperature::Hot,
            align: Align::default(),
        },
        fixed_buffers: false,
        uring_depth: None,
        splice_gift: false,
        hugepages: false,
        udp_gso: None,
        cpus: CpuOptions {
            pin: false,
            sender_cpus: Vec::new(),
            receiver_cpus: Vec::new(),
        },
        verify: args.verify,
        receives: vec![ReceiveKind::Read],
        // Set per point by `plan`: the write size unless --read-size says otherwise.
        read_size: None,
        refine: false,
        refine_budget: 4,
        rates: args.rate.into_iter().collect(),
        outputs: args.outputs.clone(),
        json: false,
        no_progress: false,
        // The peers' table is what `copybench peers` prints; its --quiet is not offered.
        quiet: false,
        corrupt_message: None,
    }
}

/// Every point once per tool, the tools' order rotated from one cell to the next and from one
/// repetition to the next, as `plan_grid` rotates strategies, so that drift favours none.
fn with_tools(points: Vec<Planned>, tools: &[Tool]) -> Vec<Planned> {
    let mut out = Vec::with_capacity(points.len() * tools.len());
    let mut repetition = None;
    let mut cell = 0usize;
    for planned in points {
        let rep = planned.params.repetition;
        if repetition != Some(rep) {
            repetition = Some(rep);
            cell = 0;
        }
        for k in 0..tools.len() {
            out.push(Planned {
                tool: tools[(k + cell + rep) % tools.len()],
                params: planned.params.clone(),
            });
        }
        cell += 1;
    }
    out
}

/// How an unsupported point of a peer is recorded: the cell it could not run, and why.
fn cell_reason(params: &PointParams, why: &str) -> String {
    format!(
        "{} x{}: {why}",
        format_size(params.msg_size),
        params.threads
    )
}

/// Whether `peer` was already found unable to run this cell (in an earlier repetition): not
/// tried, nor said, again.
pub fn already_refused(peer: &dyn Peer, params: &PointParams, results: &RunResults) -> bool {
    cannot_run(peer, params).is_some_and(|why| {
        let reason = cell_reason(params, &why);
        results
            .unsupported
            .iter()
            .any(|u| u.tool == peer.name() && u.reason == reason)
    })
}

/// Files a peer's outcome in `results`; returns the line that tells the user.
pub fn record(
    peer: &dyn Peer,
    outcome: Result<Point, PointError>,
    params: &PointParams,
    results: &mut RunResults,
) -> String {
    match outcome {
        Ok(point) => {
            let line = brief(&point);
            results.points.push(point);
            line
        }
        Err(PointError::Cancelled) => "cancelled".into(),
        Err(PointError::Unsupported(why)) => {
            let line = format!("cannot run here: {why}");
            results.unsupported.push(UnsupportedRecord {
                tool: peer.name().to_string(),
                strategy: StrategyKind::ScatterGather,
                reason: cell_reason(params, &why),
                receive: None,
            });
            line
        }
        Err(PointError::Failed(error)) => {
            let line = format!("FAILED: {error}");
            results.failures.push(FailureRecord {
                tool: peer.name().to_string(),
                strategy: StrategyKind::ScatterGather,
                msg_size: params.msg_size,
                threads: params.threads,
                repetition: params.repetition,
                error,
            });
            line
        }
    }
}

/// copybench's own point beside the peers, in their terms: both sides' rates and the machine's
/// context switches over its measured interval.
pub fn add_own_figures(point: &mut Point, switches: Option<u64>) {
    point.peer = Some(PeerFigures {
        throughput_side: "sender".into(),
        sender_gbps: Some(point.throughput_gbps),
        // Measured over the receivers' own interval, as iperf3, iperf and nuttcp count.
        receiver_gbps: point.receiver.throughput_gbps,
        retransmits: None,
        system_context_switches: switches,
        context_switches_per_mb: per_mb(switches, point.bytes),
        server_command: Vec::new(),
        client_command: Vec::new(),
    });
}

/// A point's headline figures in one line, in the peers' terms.
pub fn brief(p: &Point) -> String {
    let mut s = format!("{:.3} Gbps", p.throughput_gbps);
    if let Some(f) = &p.peer {
        s += &format!(" ({} side)", f.throughput_side);
        if let Some(c) = f.context_switches_per_mb {
            s += &format!(", {c:.0} context switches/MB");
        }
    }
    if let Some(ns) = p.sender.cpu_ns_per_byte {
        s += &format!(", sender {ns:.3} CPU ns/B");
    }
    s
}

/// Median throughput per (threads, size, tool) over the repetitions.
pub fn medians(results: &RunResults) -> BTreeMap<(usize, usize, String), Spread> {
    let mut by: BTreeMap<(usize, usize, String), Vec<f64>> = BTreeMap::new();
    for p in results.points.iter().filter(|p| p.error.is_none()) {
        if p.tool == copybench_tool() && !p.verified {
            continue;
        }
        by.entry((p.threads, p.msg_size, p.tool.clone()))
            .or_default()
            .push(p.throughput_gbps);
    }
    by.into_iter()
        .filter_map(|(k, v)| Spread::of(&v).map(|s| (k, s)))
        .collect()
}

/// The terminal table: median Gbps per tool, and copybench's ratio to each peer and to the best.
pub fn table(results: &RunResults) -> String {
    let medians = medians(results);
    let mut tools: Vec<String> = vec![copybench_tool()];
    for name in peer_names() {
        if medians.keys().any(|(_, _, t)| t == name) {
            tools.push(name.to_string());
        }
    }
    let mut header = vec!["size".to_string(), "threads".to_string()];
    header.extend(tools.iter().cloned());
    header.extend(tools.iter().skip(1).map(|t| format!("cb/{t}")));
    header.push("cb/best".into());
    let mut cells: BTreeMap<(usize, usize), ()> = BTreeMap::new();
    for (threads, size, _) in medians.keys() {
        cells.insert((*size, *threads), ());
    }
    let mut rows = vec![header];
    for (size, threads) in cells.keys() {
        let get = |t: &str| {
            medians
                .get(&(*threads, *size, t.to_string()))
                .map(|s| s.median)
        };
        let cb = get("copybench");
        let mut row = vec![format_size(*size), threads.to_string()];
        for t in &tools {
            row.push(get(t).map_or("-".into(), |g| format!("{g:.3}")));
        }
        let mut best: Option<f64> = None;
        for t in tools.iter().skip(1) {
            let ratio = cb.zip(get(t)).map(|(c, p)| c / p);
            row.push(ratio.map_or("-".into(), |r| format!("{r:.3}")));
            if let Some(g) = get(t) {
                best = Some(best.map_or(g, |b: f64| b.max(g)));
            }
        }
        row.push(
            cb.zip(best)
                .map_or("-".into(), |(c, b)| format!("{:.3}", c / b)),
        );
        rows.push(row);
    }
    let c = &results.config;
    let pin = c
        .pin
        .as_ref()
        .map(|p| {
            format!(
                "sender CPU {:?}, receiver CPU {:?}",
                p.sender_cpus, p.receiver_cpus
            )
        })
        .unwrap_or_default();
    let own: Vec<&Point> = results
        .points
        .iter()
        .filter(|p| p.tool == COPYBENCH_TOOL)
        .collect();
    let reads = if own.iter().all(|p| p.read_size == Some(p.msg_size)) {
        "the write size".to_string()
    } else {
        let sizes: std::collections::BTreeSet<String> = own
            .iter()
            .map(|p| p.read_size.map_or("-".into(), format_size))
            .collect();
        sizes.into_iter().collect::<Vec<_>>().join(", ")
    };
    let mut out = format!(
        "copybench vs peers: {} ({pin}); median Gbps (10^9 bit/s) of {} x {} s; cb = copybench \
         scatter-gather, 1 field, receiver checks {}, reads {reads}\n",
        c.topology.kind, c.repetitions, c.duration_s, c.verification
    );
    out += &crate::summary::aligned(&rows);
    for u in &results.unsupported {
        let _ = writeln!(out, "note: {}: {}", u.tool, u.reason);
    }
    for f in &results.failures {
        let _ = writeln!(
            out,
            "failed: {} {} x{} rep {}: {}",
            f.tool,
            format_size(f.msg_size),
            f.threads,
            f.repetition + 1,
            f.error
        );
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    /// A captured peer output from `tests/data/peers/`.
    pub fn data(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/peers")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn every_peer_has_a_distinct_name() {
        let mut names = super::peer_names();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 4);
    }

    use super::*;
    use clap::Parser;

    fn peers_args(extra: &[&str]) -> PeersArgs {
        let argv = ["copybench", "peers"];
        match crate::args::Cli::try_parse_from(argv.iter().chain(extra))
            .unwrap()
            .command
        {
            crate::args::Command::Peers(args) => *args,
            other => panic!("parsed as {other:?}"),
        }
    }

    fn order(points: &[Planned]) -> Vec<(usize, usize, &'static str)> {
        points
            .iter()
            .map(|p| (p.params.repetition, p.params.msg_size, p.tool.name()))
            .collect()
    }

    #[test]
    fn every_point_goes_to_each_tool_in_an_order_rotated_per_cell_and_repetition() {
        let tools = [Tool::Copybench, Tool::Peer(&iperf3::Iperf3)];
        let point = |size, repetition| Planned {
            tool: Tool::Copybench,
            params: PointParams {
                repetition,
                ..PointParams::new(StrategyKind::ScatterGather, size, 1)
            },
        };
        let points = vec![point(1, 0), point(2, 0), point(1, 1), point(2, 1)];
        let cb = COPYBENCH_TOOL;
        assert_eq!(
            order(&with_tools(points, &tools)),
            [
                (0, 1, cb),
                (0, 1, "iperf3"),
                (0, 2, "iperf3"),
                (0, 2, cb),
                (1, 1, "iperf3"),
                (1, 1, cb),
                (1, 2, cb),
                (1, 2, "iperf3"),
            ]
        );
    }

    #[test]
    fn the_peers_plan_is_runs_plan_with_one_buffer_reads_of_the_write_size_and_both_cpus() {
        // Both sides on CPU 0 (`same`), so that the test runs on any machine.
        let args = peers_args(&[
            "--topology",
            "loopback",
            "--sizes",
            "1k,4k",
            "--repetitions",
            "2",
            "--placement",
            "same",
            "--peers",
            "iperf3",
        ]);
        let (plan, run_args) = plan(&args).unwrap();
        assert!(plan.peers);
        assert_eq!(
            plan.target.kind(),
            copybench_core::result::TopologyKind::Loopback
        );
        assert_eq!(
            plan.pin,
            Some(PinPlan {
                senders: vec![0],
                receivers: vec![0]
            })
        );
        assert_eq!(plan.placement, Placement::Same);
        // The peers' defaults, not run's.
        assert_eq!(run_args.sweep.duration, Duration::from_secs(3));
        assert_eq!(run_args.sweep.mtu, Some(1500));
        assert_eq!(run_args.verify, copybench_core::engine::Verify::Stamps);
        let own: Vec<&PointParams> = plan
            .points
            .iter()
            .filter(|p| matches!(p.tool, Tool::Copybench))
            .map(|p| &p.params)
            .collect();
        assert_eq!(own.len(), 4, "2 sizes x 2 repetitions");
        for p in own {
            assert_eq!((p.fields, p.pool), (1, Some(1)));
            assert_eq!(p.read_size, Some(p.msg_size));
            assert_eq!(p.strategy, StrategyKind::ScatterGather);
        }
        // iperf3 either beside every copybench point, or recorded as missing before the run.
        let theirs = plan.points.len() - 4;
        let missing = plan.unsupported.iter().any(|u| u.tool == "iperf3");
        assert!(
            (theirs == 4 && !missing) || (theirs == 0 && missing),
            "{theirs} iperf3 points, missing: {missing}"
        );
    }

    #[test]
    fn what_the_peers_cannot_take_is_refused_before_the_run() {
        for (extra, says) in [
            (&["--topology", "sink"][..], "--topology sink"),
            (&["--duration", "1500ms"][..], "whole seconds"),
            (&["--out", "x.md"][..], "JSON only"),
        ] {
            let e = plan(&peers_args(extra)).err().expect("refused").to_string();
            assert!(e.contains(says), "{extra:?}: {e}");
        }
    }
}
