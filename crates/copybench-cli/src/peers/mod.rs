//! `copybench peers`: copybench's single-field stream side by side with iperf3, iperf (2.x),
//! sockperf and nuttcp, on the same topology, in the same run, under the same CPU placement.
//!
//! The topology is built once. Then, point by point (size x threads x repetition), every tool
//! runs in turn, the order rotating from one cell to the next so that drift favours none:
//! copybench's own engine (scatter-gather, one field: one buffer per send, the work a peer does)
//! with its threads pinned through the CLI's hooks, and each installed peer as a server process
//! in the receiver namespace and a client process in the sender namespace, pinned with its own
//! option or `taskset`. A missing peer is reported, a peer's failure is recorded; neither stops
//! the run. Peer processes never outlive it (see [`process`]).
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
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use copybench_core::engine::{
    run_point, Endpoints, EngineError, Hooks, IntervalProbe, PointParams, Role, ThreadProbe,
};
use copybench_core::model::Placement;
use copybench_core::result::{
    copybench_tool, FailureRecord, PeerFigures, PinRecord, Point, RunConfigRecord, RunResults,
    SideMetrics, SystemCpu, ToolInfo, TopologyRecord, UnsupportedRecord, COPYBENCH_TOOL,
    SCHEMA_VERSION,
};
use copybench_core::sweep::Spread;
use copybench_core::units::format_size;
use copybench_core::StrategyKind;
use copybench_net::{Topology, VethConfig};
use copybench_perf::CpuTimes;

use crate::args::{PeersArgs, TopologyArg};
use crate::export::{Format, Outputs};
use crate::hooks::{CliHooks, PinPlan};
use crate::{host, run::EXIT_INTERRUPTED, UsageError};

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
    fn parse(&self, client_out: &str, server_out: &str, s: &Setting) -> Result<Measured, String>;
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

/// `/proc/stat`'s `ctxt`: context switches on all CPUs since boot.
fn context_switches() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("ctxt "))
        .and_then(|v| v.trim().parse().ok())
}

fn system_cpu(before: Option<CpuTimes>) -> Option<SystemCpu> {
    crate::hooks::system_cpu_since(before)
}

/// The CLI's hooks, plus the machine's context switches over the measured interval.
struct PeersHooks<'a> {
    inner: CliHooks<'a>,
    switches: Arc<Mutex<Option<u64>>>,
}

struct SwitchProbe {
    inner: Option<Box<dyn IntervalProbe>>,
    before: Option<u64>,
    out: Arc<Mutex<Option<u64>>>,
}

impl IntervalProbe for SwitchProbe {
    fn finish(self: Box<Self>) -> Option<SystemCpu> {
        let after = context_switches();
        if let Ok(mut out) = self.out.lock() {
            *out = self.before.zip(after).map(|(a, b)| b.saturating_sub(a));
        }
        self.inner.and_then(|p| p.finish())
    }
}

impl Hooks for PeersHooks<'_> {
    fn enter_thread(
        &self,
        role: Role,
        index: usize,
    ) -> Result<Option<usize>, copybench_core::engine::HookError> {
        self.inner.enter_thread(role, index)
    }

    fn begin_thread_measure(&self, role: Role, index: usize) -> Option<Box<dyn ThreadProbe>> {
        self.inner.begin_thread_measure(role, index)
    }

    fn begin_interval(&self) -> Option<Box<dyn IntervalProbe>> {
        if let Ok(mut s) = self.switches.lock() {
            *s = None;
        }
        let before = context_switches();
        Some(Box::new(SwitchProbe {
            inner: self.inner.begin_interval(),
            before,
            out: self.switches.clone(),
        }))
    }
}

/// A tool of the run: copybench itself or a peer.
#[derive(Clone, Copy)]
enum Tool {
    Copybench,
    Peer(&'static dyn Peer),
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Copybench => "copybench",
            Tool::Peer(p) => p.name(),
        }
    }
}

/// Why one tool's point produced no figure.
enum PointError {
    Cancelled,
    Unsupported(String),
    Failed(String),
}

/// `count` consecutive ports free on `addr` in the namespace of the calling thread: the kernel
/// picks an ephemeral port, the following ones are checked by binding them too. All are
/// released on return; a peer taking one in between is a recorded failure.
fn free_ports(addr: IpAddr, count: usize) -> Result<u16, String> {
    for _ in 0..50 {
        let first = TcpListener::bind(SocketAddr::new(addr, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port on {addr}: {e}"))?
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
    Err(format!("no {count} consecutive free ports on {addr}"))
}

/// Where the peers run.
struct Place<'a> {
    topology: Option<&'a Topology>,
    addr: IpAddr,
    sender_cpu: usize,
    receiver_cpu: usize,
}

impl Place<'_> {
    fn netns(&self, side: Role) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.topology.map(|t| t.namespace_fd(side))
    }
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

/// Runs one peer once: server, then client, then reads both.
fn run_peer(
    peer: &dyn Peer,
    size: usize,
    threads: usize,
    seconds: u64,
    rate_bps: Option<u64>,
    place: &Place<'_>,
    cancel: &AtomicBool,
) -> Result<PeerRun, PointError> {
    if let Some(why) = peer.unsupported(size, threads) {
        return Err(PointError::Unsupported(why));
    }
    if rate_bps.is_some() && threads > 1 && peer.name() != "iperf3" {
        // iperf3 documents -b as per stream; whether iperf's -b and nuttcp's -R limit each of
        // several streams or their sum is not checked here.
        return Err(PointError::Unsupported(format!(
            "--rate with more than one connection is paced per connection by iperf3 only; {} \
             is run paced with --threads 1",
            peer.name()
        )));
    }
    let failed = PointError::Failed;
    let count = peer.ports(threads);
    let port = match place.topology {
        Some(t) => t
            .run_in(Role::Receiver, || free_ports(place.addr, count))
            .map_err(|e| failed(e.to_string()))?,
        None => free_ports(place.addr, count),
    }
    .map_err(failed)?;
    let setting = Setting {
        size,
        threads,
        seconds,
        addr: place.addr,
        port,
        sender_cpu: place.sender_cpu,
        receiver_cpu: place.receiver_cpu,
        rate_bps,
    };
    let name = peer.name();
    let wait_err = |e: process::WaitError| match e {
        process::WaitError::Cancelled => PointError::Cancelled,
        process::WaitError::Failed(s) => PointError::Failed(s),
    };

    let mut server = process::spawn(
        &format!("{name} server"),
        &peer.server(&setting),
        place.netns(Role::Receiver),
    )
    .map_err(failed)?;
    process::wait_listening(&mut server, port, Duration::from_secs(10), cancel)
        .map_err(wait_err)?;

    let cpu_before = CpuTimes::read().ok();
    let switches_before = context_switches();
    let server_cpu_before = server.cpu_time();
    let mut client = process::spawn(
        &format!("{name} client"),
        &peer.client(&setting),
        place.netns(Role::Sender),
    )
    .map_err(failed)?;
    // The test's own length plus generous room for start-up and the final exchange.
    let status = client
        .wait(Duration::from_secs(seconds + 20), cancel)
        .map_err(wait_err)?;
    let switches = context_switches()
        .zip(switches_before)
        .map(|(b, a)| b.saturating_sub(a));
    let system = system_cpu(cpu_before);

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

/// Runs `copybench peers`.
pub fn run(args: PeersArgs, cancel: &AtomicBool) -> Result<ExitCode> {
    for path in &args.outputs {
        if Format::of(path).map_err(|e| UsageError(e.to_string()))? != Format::Json {
            return Err(UsageError(format!(
                "--out {}: copybench peers writes JSON only (name the file .json)",
                path.display()
            ))
            .into());
        }
    }
    if args.duration.subsec_nanos() != 0 {
        return Err(UsageError(format!(
            "--duration {:?}: peers take whole seconds (iperf3 and sockperf ignore fractions); \
             use e.g. 3s",
            args.duration
        ))
        .into());
    }
    let (sender_cpu, receiver_cpu) = cpus(args.placement)?;
    let want_netns = match args.topology {
        TopologyArg::Netns => true,
        TopologyArg::Loopback => false,
        TopologyArg::Auto => copybench_net::has_net_admin(),
        TopologyArg::Remote | TopologyArg::Sink => {
            return Err(UsageError(format!(
                "--topology {}: peers run on this machine with a receiver (netns or loopback)",
                if args.topology == TopologyArg::Sink {
                    "sink"
                } else {
                    "remote"
                }
            ))
            .into())
        }
    };
    let mut template = PointParams::new(StrategyKind::ScatterGather, args.sizes[0], 1);
    template.fields = 1;
    // One message buffer, as every peer writes from one buffer. The default pool (about 8 MiB,
    // up to 256 buffers, each field on its own page) exists for zero-copy, whose buffers stay
    // with the kernel until completion; a copying send is done with its buffer when the call
    // returns. Rotating through 256 cold buffers cost the sender 5-28% more CPU per byte here
    // (measured with `copybench run --fields 1 --pool 1` against the default; docs/peers.md).
    template.pool = Some(1);
    // The peers check nothing; copybench checks what `--verify` says (its stamps by default:
    // the identity and order of every message, at 8 bytes read per message).
    template.verify = args.verify;
    template.warmup = args.warmup;
    template.duration = args.duration;
    template.rate_bps = args.rate;
    for &size in &args.sizes {
        for &threads in &args.threads {
            let p = PointParams {
                msg_size: size,
                threads,
                read_size: Some(args.read_size.unwrap_or(size)),
                ..template.clone()
            };
            p.validate().map_err(|e| {
                UsageError(format!("copybench {} x{threads}: {e}", format_size(size)))
            })?;
        }
    }

    // Which peers are here.
    let asked: Vec<&'static dyn Peer> = all_peers()
        .into_iter()
        .filter(|p| args.peers.iter().any(|n| n == p.name()))
        .collect();
    let mut unsupported = Vec::new();
    let mut peers = Vec::new();
    for p in asked {
        if process::find_program(p.program()).is_some()
            && (p.program() == "iperf3" || process::find_program("taskset").is_some())
        {
            peers.push(p);
        } else {
            let reason = format!(
                "{} is not installed (Debian package {}; scripts/install-deps.sh installs it)",
                p.program(),
                p.program()
            );
            eprintln!("note: {}: {reason}", p.name());
            unsupported.push(UnsupportedRecord {
                tool: p.name().to_string(),
                strategy: StrategyKind::ScatterGather,
                reason,
                receive: None,
            });
        }
    }

    let topology = if want_netns {
        let config = VethConfig {
            mtu: args.mtu,
            ..VethConfig::default()
        };
        Some(Topology::create(&config).map_err(|e| UsageError(format!("--topology netns: {e}")))?)
    } else {
        if args.topology == TopologyArg::Auto {
            eprintln!("note: no CAP_NET_ADMIN: running over loopback instead of a veth pair");
        }
        None
    };
    let (addr, topo_record) = match &topology {
        Some(t) => (
            IpAddr::V4(t.receiver_addr()),
            TopologyRecord {
                kind: copybench_core::result::TopologyKind::Netns,
                receiver_host: None,
                mtu: Some(t.mtu()),
                receiver_addr: Some(t.receiver_addr().to_string()),
                sender_addr: Some(t.sender_addr().to_string()),
            },
        ),
        None => (
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            TopologyRecord {
                kind: copybench_core::result::TopologyKind::Loopback,
                receiver_host: None,
                mtu: None,
                receiver_addr: Some("127.0.0.1".into()),
                sender_addr: Some("127.0.0.1".into()),
            },
        ),
    };
    let counters = !args.no_counters;
    let pin = PinPlan {
        senders: vec![sender_cpu],
        receivers: vec![receiver_cpu],
    };
    let mut results = RunResults {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::default(),
        command_line: std::env::args().collect(),
        started_at: host::now_rfc3339(),
        host: host::collect(counters),
        config: RunConfigRecord {
            mode: copybench_core::engine::Mode::Stream,
            topology: topo_record,
            strategies: vec![StrategyKind::ScatterGather],
            sizes: args.sizes.clone(),
            threads: args.threads.clone(),
            duration_s: args.duration.as_secs_f64(),
            warmup_s: args.warmup.as_secs_f64(),
            repetitions: usize::from(args.repetitions),
            fields: 1,
            pool: template.pool,
            align: template.align,
            pin: Some(PinRecord {
                sender_cpus: vec![sender_cpu],
                receiver_cpus: vec![receiver_cpu],
            }),
            counters,
            verification: args.verify,
            placement: Some(args.placement),
            ..Default::default()
        },
        points: Vec::new(),
        findings: None,
        complete: false,
        interrupted: None,
        unsupported,
        failures: Vec::new(),
    };
    let outputs =
        Outputs::create(&args.outputs, &results).map_err(|e| UsageError(format!("{e:#}")))?;

    let hooks = PeersHooks {
        inner: CliHooks::new(
            topology.as_ref().map(|t| t as &dyn crate::run::TargetPath),
            Some(pin),
            counters,
        ),
        switches: Arc::new(Mutex::new(None)),
    };
    let endpoints = Endpoints {
        listen: addr,
        connect: addr,
    };
    let place = Place {
        topology: topology.as_ref(),
        addr,
        sender_cpu,
        receiver_cpu,
    };
    let tools: Vec<Tool> = std::iter::once(Tool::Copybench)
        .chain(peers.iter().map(|&p| Tool::Peer(p)))
        .collect();
    let seconds = args.duration.as_secs();
    let total = args.sizes.len() * args.threads.len() * usize::from(args.repetitions) * tools.len();
    eprintln!(
        "copybench peers: {} on {}, placement {} (sender CPU {sender_cpu}, receiver CPU \
         {receiver_cpu}); {total} runs of {seconds} s",
        tools
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", "),
        results.config.topology.kind,
        args.placement.name(),
    );

    let mut done = 0usize;
    let mut cell = 0usize;
    // Sizes x threads that a tool could not run: not tried again in later repetitions.
    let mut skip: Vec<(&'static str, usize, usize)> = Vec::new();
    'run: for repetition in 0..usize::from(args.repetitions) {
        for &size in &args.sizes {
            for &threads in &args.threads {
                for k in 0..tools.len() {
                    if cancel.load(Ordering::Relaxed) {
                        break 'run;
                    }
                    let tool = tools[(k + cell) % tools.len()];
                    done += 1;
                    let label = format!(
                        "[{done}/{total}] {} {} x{threads} rep {}",
                        tool.name(),
                        format_size(size),
                        repetition + 1
                    );
                    if skip.contains(&(tool.name(), size, threads)) {
                        continue;
                    }
                    let outcome = match tool {
                        Tool::Copybench => {
                            let params = PointParams {
                                msg_size: size,
                                threads,
                                repetition,
                                // As iperf3 and nuttcp read: their write size (see
                                // docs/peers.md for what the read size does to wake-ups).
                                read_size: Some(args.read_size.unwrap_or(size)),
                                ..template.clone()
                            };
                            match run_point(&params, &endpoints, &hooks, cancel) {
                                Ok(mut point) => {
                                    let switches = hooks.switches.lock().ok().and_then(|s| *s);
                                    point.peer = Some(PeerFigures {
                                        throughput_side: "sender".into(),
                                        sender_gbps: Some(point.throughput_gbps),
                                        // Measured over the receivers' own interval, as
                                        // iperf3, iperf and nuttcp count.
                                        receiver_gbps: point.receiver.throughput_gbps,
                                        retransmits: None,
                                        system_context_switches: switches,
                                        context_switches_per_mb: per_mb(switches, point.bytes),
                                        server_command: Vec::new(),
                                        client_command: Vec::new(),
                                    });
                                    Ok(point)
                                }
                                Err(EngineError::Cancelled) => Err(PointError::Cancelled),
                                Err(EngineError::Unsupported(r)) => {
                                    Err(PointError::Unsupported(r.to_string()))
                                }
                                Err(e) => Err(PointError::Failed(e.to_string())),
                            }
                        }
                        Tool::Peer(peer) => run_peer(
                            peer, size, threads, seconds, args.rate, &place, cancel,
                        )
                        .map(|(m, s, system, switches, cpu)| {
                            peer_point(peer, &m, &s, repetition, system, switches, cpu)
                        }),
                    };
                    match outcome {
                        Ok(mut point) => {
                            point.placement = results.config.placement;
                            eprintln!("{label}: {}", brief(&point));
                            if !point.verified && point.tool == copybench_tool() {
                                // Kept for its numbers, but a run with it fails.
                                results.failures.push(FailureRecord {
                                    tool: point.tool.clone(),
                                    strategy: point.strategy,
                                    msg_size: size,
                                    threads,
                                    repetition,
                                    error: format!(
                                        "not verified: {}",
                                        point.error.clone().unwrap_or_default()
                                    ),
                                });
                            }
                            results.points.push(point);
                        }
                        Err(PointError::Cancelled) => break 'run,
                        Err(PointError::Unsupported(reason)) => {
                            eprintln!("{label}: cannot run here: {reason}");
                            skip.push((tool.name(), size, threads));
                            results.unsupported.push(UnsupportedRecord {
                                tool: tool.name().to_string(),
                                strategy: StrategyKind::ScatterGather,
                                reason: format!("{} x{threads}: {reason}", format_size(size)),
                                receive: None,
                            });
                        }
                        Err(PointError::Failed(error)) => {
                            eprintln!("{label}: FAILED: {error}");
                            results.failures.push(FailureRecord {
                                tool: tool.name().to_string(),
                                strategy: StrategyKind::ScatterGather,
                                msg_size: size,
                                threads,
                                repetition,
                                error,
                            });
                        }
                    }
                    outputs.write(&results)?;
                }
                cell += 1;
            }
        }
    }

    let interrupted = cancel.load(Ordering::Relaxed);
    if interrupted {
        results.interrupted = Some(format!(
            "interrupted by Ctrl-C after {} points",
            results.points.len()
        ));
    } else {
        results.complete = true;
    }
    outputs.write(&results)?;
    print!("{}", table(&results));
    for path in outputs.paths() {
        eprintln!("wrote {}", path.display());
    }
    if interrupted {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if !results.failures.is_empty() {
        eprintln!("error: {} run(s) failed", results.failures.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn brief(p: &Point) -> String {
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
}
