//! The traffic engine: one TCP connection per thread pair, a warm-up, then a measured interval.
//!
//! The coordinating thread moves every connection through the same [`Phase`]s: the senders
//! connect and build their buffers (`Setup`), stream without being measured (`Warmup`), then
//! each sender and receiver thread takes its own start snapshot when it sees `Measure`, and its
//! end snapshot when it sees `Stop`. The send loop only reads one relaxed atomic per message to
//! notice a phase change: no clock read, lock or allocation on the measured path (bar a
//! sampled clock read for whole-message latency, 1 message in [`LATENCY_SAMPLE_EVERY`]).
//!
//! Placement (network namespace, CPU) and measurement (counters, system CPU time) are the
//! embedding program's business, plugged in through [`Hooks`].

mod datagram;
mod error;
pub mod pacing;
mod params;
mod point;
mod receiver;
mod sender;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

pub use datagram::DatagramCounts;
pub use error::{EngineError, HookError, ParamsError, ReceiveError, SetupError};
pub use params::MAX_GSO_SEGMENTS;
pub use params::{
    PointParams, ASSUMED_LLC_BYTES, COLD_POOL_LLC_FACTOR, DEFAULT_READ_SIZE, MAX_DATAGRAM,
    MAX_FIELDS, MAX_MSG_SIZE, MAX_POOL, MAX_POOL_BYTES, MAX_READ_SIZE, MAX_TCP_MAXSEG, MAX_THREADS,
    MIN_TCP_MAXSEG,
};
pub use point::assemble_point;
// The names of the model, where engine users have always found them.
pub use crate::model::{DataTemperature, Mode, Protocol, ReceiveKind, Role, Verify};
pub use receiver::ReceiverReport;
pub use sender::SenderReport;

use crate::result::{Counters, Point, SystemCpu};

/// Stream mode times one whole message's send in this many: the clock read stays off the
/// path for the rest.
pub const LATENCY_SAMPLE_EVERY: u64 = 16;

/// How long setup steps (bind, accept, connect, every sender ready) may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

/// A data connection silent this long is dead: a stream never pauses that long, and a
/// receiver must not wait forever for a sender on another host that went away.
pub const DATA_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the program plugs into the engine's threads.
///
/// Every method has a do-nothing default; [`NoHooks`] uses them all.
pub trait Hooks: Sync {
    /// Runs first on every engine thread, before it opens a socket: join a network namespace,
    /// pin to a CPU. Returns the CPU the thread was pinned to, if any. An error ends the point.
    fn enter_thread(&self, _role: Role, _index: usize) -> Result<Option<usize>, HookError> {
        Ok(None)
    }

    /// Runs on a thread when its measured interval begins; the probe is finished on the same
    /// thread when the interval ends.
    fn begin_thread_measure(&self, _role: Role, _index: usize) -> Option<Box<dyn ThreadProbe>> {
        None
    }

    /// Runs on the coordinating thread when the measured interval begins (system-wide figures).
    fn begin_interval(&self) -> Option<Box<dyn IntervalProbe>> {
        None
    }
}

/// Per-thread measurement over the measured interval (e.g. perf counters).
pub trait ThreadProbe {
    /// Ends the measurement (on the thread that began it) and returns its figures.
    fn finish(self: Box<Self>) -> Counters;
}

/// System-wide measurement over the measured interval (e.g. `/proc/stat`).
pub trait IntervalProbe {
    /// Ends the measurement and returns its figures, if they could be read.
    fn finish(self: Box<Self>) -> Option<SystemCpu>;
}

/// Hooks that place nothing and measure nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;

impl Hooks for NoHooks {}

/// The phase every connection of a point is in.
#[derive(Debug, Default)]
pub struct Phase(AtomicU8);

impl Phase {
    /// Connections are being opened and buffers built.
    pub const SETUP: u8 = 0;
    /// Streaming, not measured.
    pub const WARMUP: u8 = 1;
    /// Streaming, measured.
    pub const MEASURE: u8 = 2;
    /// Senders finish their message and close.
    pub const STOP: u8 = 3;

    /// The current phase.
    pub fn get(&self) -> u8 {
        self.0.load(Ordering::Relaxed)
    }

    /// Moves to `phase` unless already past it.
    pub fn advance(&self, phase: u8) {
        self.0.fetch_max(phase, Ordering::Relaxed);
    }
}

/// Where receivers listen and senders connect for a run inside one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    /// Receivers bind here (port chosen by the kernel).
    pub listen: IpAddr,
    /// Senders connect to this address (and the receiver's port).
    pub connect: IpAddr,
}

impl Endpoints {
    /// 127.0.0.1 on both sides.
    pub fn loopback() -> Endpoints {
        Endpoints {
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            connect: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

/// What every thread of a point shares: the parameters, the phase, the hooks, and the
/// coordination counters. One per point.
pub(crate) struct Shared<'a> {
    pub params: &'a PointParams,
    pub hooks: &'a dyn Hooks,
    pub phase: Phase,
    /// Senders that are connected with their buffers built.
    pub ready: AtomicUsize,
    /// Set by any thread that fails, so the others stop early.
    pub failed: AtomicBool,
    /// The coordinator's measured interval: when it moved the phase to `MEASURE` and to
    /// `STOP` (each stored before the phase moves). A sender blocked in one call across the
    /// whole interval takes this as its own.
    pub interval: Mutex<(Option<Instant>, Option<Instant>)>,
}

impl<'a> Shared<'a> {
    fn new(params: &'a PointParams, hooks: &'a dyn Hooks) -> Shared<'a> {
        Shared {
            params,
            hooks,
            phase: Phase::default(),
            ready: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            interval: Mutex::new((None, None)),
        }
    }

    fn mark_interval(&self, mark: impl FnOnce(&mut (Option<Instant>, Option<Instant>))) {
        mark(
            &mut self
                .interval
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
    }

    fn marks(&self) -> (Option<Instant>, Option<Instant>) {
        *self
            .interval
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// When the coordinator began the measured interval (`None`: not yet, or never).
    pub(crate) fn coordinator_start(&self) -> Option<Instant> {
        self.marks().0
    }

    /// The coordinator's measured interval, once it has ended (`None` if it never began).
    pub(crate) fn coordinator_interval(&self) -> Option<(Instant, Instant)> {
        let (start, stop) = self.marks();
        Some((start?, stop.unwrap_or_else(Instant::now)))
    }

    /// Runs a thread's body, raising `failed` if it fails.
    fn guard<T>(&self, body: impl FnOnce() -> Result<T, EngineError>) -> Result<T, EngineError> {
        let result = body();
        if result.is_err() {
            self.failed.store(true, Ordering::Relaxed);
        }
        result
    }
}

/// A spawned engine thread, with what it is for the error reports.
struct Worker<'scope, T> {
    role: Role,
    index: usize,
    handle: ScopedJoinHandle<'scope, Result<T, EngineError>>,
}

impl<T> Worker<'_, T> {
    fn join(self) -> Result<T, EngineError> {
        self.handle.join().unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(EngineError::Panicked {
                role: self.role,
                index: self.index,
                message,
            })
        })
    }
}

/// Joins every worker; the reports, or the error that explains the failure best (a thread's
/// own failure rather than another's consequence of it).
fn join_all<T>(workers: Vec<Worker<'_, T>>) -> Result<Vec<T>, EngineError> {
    let mut reports = Vec::with_capacity(workers.len());
    let mut first_error: Option<EngineError> = None;
    for worker in workers {
        match worker.join() {
            Ok(report) => reports.push(report),
            Err(e) => {
                let better = match &first_error {
                    None => true,
                    Some(seen) => seen.is_consequence() && !e.is_consequence(),
                };
                if better {
                    first_error = Some(e);
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(reports),
    }
}

/// Starts receiver `index`: it binds a listener on `listen` (after its hook placed it), tells
/// the port through `port_tx`, accepts one connection and reads it to the end.
fn spawn_receiver<'scope>(
    scope: &'scope Scope<'scope, '_>,
    shared: &'scope Shared<'_>,
    index: usize,
    listen: IpAddr,
    port_tx: mpsc::Sender<u16>,
) -> Worker<'scope, ReceiverReport> {
    let handle = scope.spawn(move || {
        shared.guard(|| {
            let setup = EngineError::setup(Role::Receiver, index);
            let cpu = shared
                .hooks
                .enter_thread(Role::Receiver, index)
                .map_err(|e| setup(SetupError::Hook(e)))?;
            let here = SocketAddr::new(listen, 0);
            let tell = |port: u16| {
                port_tx
                    .send(port)
                    .map_err(|_| setup(SetupError::PeerFailed(Role::Sender)))
            };
            let mut report = match shared.params.protocol {
                Protocol::Tcp => {
                    let listener = TcpListener::bind(here).map_err(|e| {
                        setup(SetupError::io(format!("binding a listener on {listen}"), e))
                    })?;
                    if let Some(mss) = shared.params.tcp_maxseg {
                        crate::receive::set_maxseg(&listener, mss).map_err(|e| {
                            setup(SetupError::io(
                                format!("setting TCP_MAXSEG {mss} on the listener"),
                                e,
                            ))
                        })?;
                    }
                    tell(port_of(listener.local_addr()).map_err(&setup)?)?;
                    let stream = accept(&listener, &shared.phase).map_err(&setup)?;
                    drop(listener);
                    receiver::run_receiver(stream, shared, index)?
                }
                Protocol::Udp => {
                    let socket = UdpSocket::bind(here).map_err(|e| {
                        setup(SetupError::io(
                            format!("binding a UDP socket on {listen}"),
                            e,
                        ))
                    })?;
                    tell(port_of(socket.local_addr()).map_err(&setup)?)?;
                    datagram::run_datagram_receiver(socket, shared, index)?
                }
            };
            report.cpu = cpu;
            Ok(report)
        })
    });
    Worker {
        role: Role::Receiver,
        index,
        handle,
    }
}

/// Starts sender `index`: it connects to `to()` (called once its hook placed it) and streams.
fn spawn_sender<'scope>(
    scope: &'scope Scope<'scope, '_>,
    shared: &'scope Shared<'_>,
    index: usize,
    to: impl FnOnce() -> Result<SocketAddr, SetupError> + Send + 'scope,
) -> Worker<'scope, SenderReport> {
    let handle = scope.spawn(move || {
        shared.guard(|| {
            let setup = EngineError::setup(Role::Sender, index);
            let cpu = shared
                .hooks
                .enter_thread(Role::Sender, index)
                .map_err(|e| setup(SetupError::Hook(e)))?;
            let to = to().map_err(&setup)?;
            let socket = connect(shared.params.protocol, to).map_err(&setup)?;
            let mut report = sender::run_sender(socket, shared, index)?;
            report.cpu = cpu;
            Ok(report)
        })
    });
    Worker {
        role: Role::Sender,
        index,
        handle,
    }
}

/// Runs one point (a strategy at one size and thread count, one repetition) on this machine:
/// `params.threads` receiver threads and as many sender threads, each pair on its own
/// connection. Setting `cancel` ends the point early with [`EngineError::Cancelled`].
pub fn run_point(
    params: &PointParams,
    endpoints: &Endpoints,
    hooks: &dyn Hooks,
    cancel: &AtomicBool,
) -> Result<Point, EngineError> {
    params.validate()?;
    let shared = Shared::new(params, hooks);
    std::thread::scope(|scope| {
        let mut receivers = Vec::with_capacity(params.threads);
        let mut senders = Vec::with_capacity(params.threads);
        for index in 0..params.threads {
            let (port_tx, port_rx) = mpsc::channel::<u16>();
            receivers.push(spawn_receiver(
                scope,
                &shared,
                index,
                endpoints.listen,
                port_tx,
            ));
            let connect = endpoints.connect;
            senders.push(spawn_sender(scope, &shared, index, move || {
                port_rx
                    .recv_timeout(SETUP_TIMEOUT)
                    .map(|port| SocketAddr::new(connect, port))
                    .map_err(|_| SetupError::PeerFailed(Role::Receiver))
            }));
        }
        let outcome = coordinate(&shared, cancel, &|_| {});
        // Whatever happened, let every thread finish: senders stop at `STOP`, close their
        // connection, and receivers then see the end of their stream.
        shared.phase.advance(Phase::STOP);
        let sends = join_all(senders);
        // A receive strategy the kernel refuses ends the point before the senders' errors
        // (their connection closed under them) say anything.
        let receives = match join_all(receivers) {
            Err(e @ EngineError::ReceiveUnsupported { .. }) => return Err(e),
            other => other,
        };
        let system_cpu = outcome?;
        let sends = measured(sends?)?;
        Ok(assemble_point(params, &sends, &receives?, system_cpu))
    })
}

/// Runs only the sending side of a point: one sender thread per address in `targets`, each
/// connecting to its receiver (in another process or on another host, e.g. a
/// `copybench server` running [`run_receivers`]). `on_phase` is told of every phase change so
/// that the receivers can follow. Returns the sender reports and the system-wide figures; the
/// caller fetches the receiver reports and calls [`assemble_point`].
pub fn run_senders(
    params: &PointParams,
    targets: &[SocketAddr],
    hooks: &dyn Hooks,
    cancel: &AtomicBool,
    on_phase: &dyn Fn(u8),
) -> Result<(Vec<SenderReport>, Option<SystemCpu>), EngineError> {
    params.validate()?;
    if targets.len() != params.threads {
        return Err(ParamsError::new(
            "threads",
            format!("{} receivers for {} threads", targets.len(), params.threads),
        )
        .into());
    }
    let shared = Shared::new(params, hooks);
    std::thread::scope(|scope| {
        let senders: Vec<_> = targets
            .iter()
            .enumerate()
            .map(|(index, &to)| spawn_sender(scope, &shared, index, move || Ok(to)))
            .collect();
        let outcome = coordinate(&shared, cancel, on_phase);
        if shared.phase.get() != Phase::STOP {
            on_phase(Phase::STOP);
        }
        shared.phase.advance(Phase::STOP);
        let sends = join_all(senders);
        let system_cpu = outcome?;
        Ok((measured(sends?)?, system_cpu))
    })
}

/// Runs only the receiving side of a point, for senders elsewhere ([`run_senders`]): one
/// receiver thread per connection, each listening on `listen` with a port of the kernel's
/// choice. Once every receiver listens, `drive` is called with the ports (in connection order)
/// and the point's [`Phase`]: it tells the senders where to connect and then moves the phase
/// as the senders' side does (in remote mode, from the control connection), returning once
/// the senders stopped or went away. The receivers then read to the end of their streams.
/// Returns the receivers' reports and what `drive` returned.
pub fn run_receivers<R>(
    params: &PointParams,
    listen: IpAddr,
    hooks: &dyn Hooks,
    drive: impl FnOnce(&[u16], &Phase) -> R,
) -> (Result<Vec<ReceiverReport>, EngineError>, Option<R>) {
    if let Err(e) = params.validate() {
        return (Err(e.into()), None);
    }
    let shared = Shared::new(params, hooks);
    std::thread::scope(|scope| {
        let mut ports = Vec::with_capacity(params.threads);
        let mut receivers = Vec::with_capacity(params.threads);
        for index in 0..params.threads {
            let (port_tx, port_rx) = mpsc::channel::<u16>();
            receivers.push(spawn_receiver(scope, &shared, index, listen, port_tx));
            ports.push(port_rx);
        }
        let ports: Option<Vec<u16>> = ports
            .iter()
            .map(|rx| rx.recv_timeout(SETUP_TIMEOUT).ok())
            .collect();
        let driven = ports.map(|ports| drive(&ports, &shared.phase));
        shared.phase.advance(Phase::STOP);
        (join_all(receivers), driven)
    })
}

/// The sender reports, each with a measured interval: a sender that never reached it has
/// nothing to report. A sender that sat in one blocked call for the whole interval (see
/// docs/stalls.md) did reach it: it reports the coordinator's interval with 0 messages and
/// its `longest_send`, a measurement like any other.
fn measured(reports: Vec<SenderReport>) -> Result<Vec<SenderReport>, EngineError> {
    match reports.iter().find(|r| r.interval.is_none()) {
        Some(r) => Err(EngineError::NotMeasured {
            role: Role::Sender,
            index: r.index,
        }),
        None => Ok(reports),
    }
}

/// Drives the phases, telling `on_phase` of each change (remote receivers follow them);
/// returns the system-wide figures of the measured interval.
fn coordinate(
    shared: &Shared<'_>,
    cancel: &AtomicBool,
    on_phase: &dyn Fn(u8),
) -> Result<Option<SystemCpu>, EngineError> {
    let started = Instant::now();
    let to = |phase: u8| {
        shared.phase.advance(phase);
        on_phase(phase);
    };
    while shared.ready.load(Ordering::Acquire) < shared.params.threads {
        if shared.failed.load(Ordering::Relaxed) {
            return Ok(None); // the failing thread's own error is reported
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        if started.elapsed() > SETUP_TIMEOUT {
            return Err(EngineError::Setup {
                role: Role::Sender,
                index: shared.ready.load(Ordering::Relaxed),
                source: SetupError::Timeout {
                    what: "connections were not ready",
                    after: SETUP_TIMEOUT,
                },
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    to(Phase::WARMUP);
    if !sleep_unless(shared.params.warmup, &shared.failed, cancel)? {
        return Ok(None);
    }
    let probe = shared.hooks.begin_interval();
    shared.mark_interval(|i| i.0 = Some(Instant::now()));
    to(Phase::MEASURE);
    let completed = sleep_unless(shared.params.duration, &shared.failed, cancel);
    shared.mark_interval(|i| i.1 = Some(Instant::now()));
    to(Phase::STOP);
    let system = probe.and_then(|p| p.finish());
    completed?;
    Ok(system)
}

/// Sleeps `total` in short steps; `Ok(false)` if a thread failed, `Err` if cancelled.
fn sleep_unless(
    total: Duration,
    failed: &AtomicBool,
    cancel: &AtomicBool,
) -> Result<bool, EngineError> {
    let end = Instant::now() + total;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        if failed.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let now = Instant::now();
        if now >= end {
            return Ok(true);
        }
        std::thread::sleep((end - now).min(Duration::from_millis(10)));
    }
}

/// A bound socket's port.
fn port_of(addr: std::io::Result<SocketAddr>) -> Result<u16, SetupError> {
    addr.map(|a| a.port())
        .map_err(|e| SetupError::io("reading the socket's port", e))
}

/// The sender's socket, connected to `to`: a TCP connection, or a UDP socket whose datagrams
/// all go to `to` (connected, so the strategies' `send`/`sendmsg` need no address).
fn connect(protocol: Protocol, to: SocketAddr) -> Result<sender::DataSocket, SetupError> {
    let failed = |e| SetupError::io(format!("connecting to {to}"), e);
    Ok(match protocol {
        Protocol::Tcp => {
            sender::DataSocket::Tcp(TcpStream::connect_timeout(&to, SETUP_TIMEOUT).map_err(failed)?)
        }
        Protocol::Udp => {
            let any = match to {
                SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
                SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
            };
            let socket = UdpSocket::bind(any).map_err(failed)?;
            socket.connect(to).map_err(failed)?;
            sender::DataSocket::Udp(socket)
        }
    })
}

/// Accepts one connection within [`SETUP_TIMEOUT`], giving up early once the phase reaches
/// `STOP` (another thread failed, or the run was cancelled).
fn accept(listener: &TcpListener, phase: &Phase) -> Result<TcpStream, SetupError> {
    listener
        .set_nonblocking(true)
        .map_err(|e| SetupError::io("making the listener non-blocking", e))?;
    let started = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream
                    .set_nonblocking(false)
                    .map_err(|e| SetupError::io("making the accepted socket blocking", e))?;
                stream
                    .set_read_timeout(Some(DATA_TIMEOUT))
                    .map_err(|e| SetupError::io("setting the read timeout", e))?;
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if started.elapsed() > SETUP_TIMEOUT {
                    return Err(SetupError::Timeout {
                        what: "no sender connected",
                        after: SETUP_TIMEOUT,
                    });
                }
                if phase.get() == Phase::STOP {
                    return Err(SetupError::Stopped);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(SetupError::io("accept", e)),
        }
    }
}
