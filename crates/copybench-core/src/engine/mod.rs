//! The traffic engine: one TCP connection per thread pair, a warm-up, then a measured interval.
//!
//! The coordinating thread moves every connection through the same [`Phase`]s: the senders
//! connect and build their buffers (`Setup`), stream without being measured (`Warmup`), then
//! each sender and receiver thread takes its own start snapshot when it sees `Measure`, and its
//! end snapshot when it sees `Stop`. The send loop only reads one relaxed atomic per message to
//! notice a phase change: no clock read, lock or allocation on the measured path (bar a
//! sampled clock read for send-call latency, 1 message in [`LATENCY_SAMPLE_EVERY`]).
//!
//! Placement (network namespace, CPU) and measurement (counters, system CPU time) are the
//! embedding program's business, plugged in through [`Hooks`].

mod params;
mod point;
mod receiver;
mod sender;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use params::{
    Mode, PointParams, MAX_FIELDS, MAX_MSG_SIZE, MAX_POOL, MAX_POOL_BYTES, MAX_THREADS,
};
pub use point::assemble_point;
pub use receiver::{run_receiver, ReceiverReport};
pub use sender::{run_sender, SenderReport};

use crate::result::{Counters, Point, SystemCpu};
use crate::strategy::StrategyError;

/// Stream mode times one message's send call(s) in this many: the clock read stays off the
/// path for the rest.
pub const LATENCY_SAMPLE_EVERY: u64 = 16;

/// How long setup steps (bind, accept, connect, every sender ready) may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

/// Which side of a connection a thread is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Sender,
    Receiver,
}

/// Where the program plugs into the engine's threads.
///
/// Every method has a do-nothing default; [`NoHooks`] uses them all.
pub trait Hooks: Sync {
    /// Runs first on every engine thread, before it opens a socket: join a network namespace,
    /// pin to a CPU. Returns the CPU the thread was pinned to, if any. An error ends the point.
    fn enter_thread(&self, _role: Role, _index: usize) -> Result<Option<usize>, String> {
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
    fn finish(self: Box<Self>) -> Counters;
}

/// System-wide measurement over the measured interval (e.g. `/proc/stat`).
pub trait IntervalProbe {
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
    pub const SETUP: u8 = 0;
    pub const WARMUP: u8 = 1;
    pub const MEASURE: u8 = 2;
    pub const STOP: u8 = 3;

    pub fn get(&self) -> u8 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, phase: u8) {
        self.0.store(phase, Ordering::Relaxed)
    }

    /// Moves to `phase` unless already past it.
    pub fn advance(&self, phase: u8) {
        self.0.fetch_max(phase, Ordering::Relaxed);
    }
}

/// Why a point could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The strategy is not available on this kernel; nothing was measured.
    #[error("{0}")]
    Unsupported(String),
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    #[error("setting up connection {index}: {what}")]
    Setup { index: usize, what: String },
    #[error("sender {index}: {source}")]
    Send {
        index: usize,
        #[source]
        source: StrategyError,
    },
    #[error("receiver {index}: {what}")]
    Receive { index: usize, what: String },
    #[error("stopped before the point finished")]
    Cancelled,
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
    pub fn loopback() -> Endpoints {
        Endpoints {
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            connect: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
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
    params.validate().map_err(EngineError::InvalidParams)?;
    let phase = Phase::default();
    let ready = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let threads = params.threads;

    std::thread::scope(|scope| {
        let mut receivers = Vec::with_capacity(threads);
        let mut senders = Vec::with_capacity(threads);
        for index in 0..threads {
            let (port_tx, port_rx) = mpsc::channel::<u16>();
            let (phase, failed, ready) = (&phase, &failed, &ready);
            receivers.push(scope.spawn(move || {
                let result = receiver_thread(index, params, endpoints, hooks, phase, port_tx);
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                result
            }));
            senders.push(scope.spawn(move || {
                let result = sender_thread(index, params, endpoints, hooks, phase, port_rx, ready);
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                result
            }));
        }

        let outcome = coordinate(params, hooks, &phase, &ready, &failed, cancel, &|_| {});
        // Whatever happened, let every thread finish: senders stop at `STOP`, close their
        // connection, and receivers then see the end of their stream.
        phase.advance(Phase::STOP);
        let sender_reports: Vec<_> = senders.into_iter().map(join).collect();
        let receiver_reports: Vec<_> = receivers.into_iter().map(join).collect();
        let system_cpu = outcome?;

        let sends = measured_senders(sender_reports)?;
        let mut receives = Vec::with_capacity(threads);
        for report in receiver_reports {
            receives.push(report?);
        }
        Ok(assemble_point(params, &sends, &receives, system_cpu))
    })
}

/// Runs only the sending side of a point: one sender thread per address in `targets`, each
/// connecting to its receiver (in another process or on another host, e.g. a
/// `copybench server`). `on_phase` is told of every phase change so that the receivers can
/// follow. Returns the sender reports and the system-wide figures; the caller fetches the
/// receiver reports and calls [`assemble_point`].
pub fn run_senders(
    params: &PointParams,
    targets: &[SocketAddr],
    hooks: &dyn Hooks,
    cancel: &AtomicBool,
    on_phase: &dyn Fn(u8),
) -> Result<(Vec<SenderReport>, Option<SystemCpu>), EngineError> {
    params.validate().map_err(EngineError::InvalidParams)?;
    if targets.len() != params.threads {
        return Err(EngineError::InvalidParams(format!(
            "{} receivers for {} threads",
            targets.len(),
            params.threads
        )));
    }
    let phase = Phase::default();
    let ready = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let senders: Vec<_> = targets
            .iter()
            .enumerate()
            .map(|(index, &to)| {
                let (phase, failed, ready) = (&phase, &failed, &ready);
                scope.spawn(move || {
                    let result = (|| {
                        let setup = |what: String| EngineError::Setup { index, what };
                        let cpu = hooks.enter_thread(Role::Sender, index).map_err(setup)?;
                        let stream = TcpStream::connect_timeout(&to, SETUP_TIMEOUT)
                            .map_err(|e| setup(format!("connecting to {to}: {e}")))?;
                        let mut report =
                            run_sender(index as u64, stream, params, phase, hooks, index, ready)?;
                        report.cpu = cpu;
                        Ok(report)
                    })();
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    result
                })
            })
            .collect();
        let outcome = coordinate(params, hooks, &phase, &ready, &failed, cancel, on_phase);
        if phase.get() != Phase::STOP {
            on_phase(Phase::STOP);
        }
        phase.advance(Phase::STOP);
        let reports: Vec<_> = senders.into_iter().map(join).collect();
        let system_cpu = outcome?;
        Ok((measured_senders(reports)?, system_cpu))
    })
}

/// The sender reports, each with a measured interval: a sender that never measured has no
/// throughput to report, and a point must not stand on a duration of 0.
fn measured_senders(
    reports: Vec<Result<SenderReport, EngineError>>,
) -> Result<Vec<SenderReport>, EngineError> {
    let mut sends = Vec::with_capacity(reports.len());
    for report in reports {
        let report = report?;
        if report.interval.is_none() {
            return Err(EngineError::Send {
                index: report.index,
                source: StrategyError::io(
                    "measuring",
                    std::io::Error::other("the sender never reached the measured interval"),
                ),
            });
        }
        sends.push(report);
    }
    Ok(sends)
}

fn join<T>(
    handle: std::thread::ScopedJoinHandle<'_, Result<T, EngineError>>,
) -> Result<T, EngineError> {
    handle.join().unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        Err(EngineError::Receive {
            index: usize::MAX,
            what: format!("an engine thread panicked: {what}"),
        })
    })
}

/// Drives the phases, telling `on_phase` of each change (remote receivers follow them);
/// returns the system-wide figures of the measured interval.
fn coordinate(
    params: &PointParams,
    hooks: &dyn Hooks,
    phase: &Phase,
    ready: &AtomicUsize,
    failed: &AtomicBool,
    cancel: &AtomicBool,
    on_phase: &dyn Fn(u8),
) -> Result<Option<SystemCpu>, EngineError> {
    let started = Instant::now();
    while ready.load(Ordering::Acquire) < params.threads {
        if failed.load(Ordering::Relaxed) {
            return Ok(None); // the failing thread's own error is reported
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        if started.elapsed() > SETUP_TIMEOUT {
            return Err(EngineError::Setup {
                index: ready.load(Ordering::Relaxed),
                what: format!("connections not ready after {SETUP_TIMEOUT:?}"),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    phase.set(Phase::WARMUP);
    on_phase(Phase::WARMUP);
    if !sleep_unless(params.warmup, failed, cancel)? {
        return Ok(None);
    }
    let probe = hooks.begin_interval();
    phase.set(Phase::MEASURE);
    on_phase(Phase::MEASURE);
    let completed = sleep_unless(params.duration, failed, cancel);
    phase.set(Phase::STOP);
    on_phase(Phase::STOP);
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

fn receiver_thread(
    index: usize,
    params: &PointParams,
    endpoints: &Endpoints,
    hooks: &dyn Hooks,
    phase: &Phase,
    port_tx: mpsc::Sender<u16>,
) -> Result<ReceiverReport, EngineError> {
    let setup = |what: String| EngineError::Setup { index, what };
    let cpu = hooks.enter_thread(Role::Receiver, index).map_err(setup)?;
    let listener = TcpListener::bind(SocketAddr::new(endpoints.listen, 0))
        .map_err(|e| setup(format!("binding a listener on {}: {e}", endpoints.listen)))?;
    let port = listener
        .local_addr()
        .map_err(|e| setup(format!("reading the listener's port: {e}")))?
        .port();
    port_tx
        .send(port)
        .map_err(|_| setup("the sender thread is gone".into()))?;
    let stream = accept_with_timeout(&listener, SETUP_TIMEOUT, phase).map_err(setup)?;
    drop(listener);
    let mut report = run_receiver(index as u64, stream, params, phase, hooks, index)?;
    report.cpu = cpu;
    Ok(report)
}

/// Accepts one connection within `timeout`, giving up early once the phase reaches `STOP`.
pub fn accept_with_timeout(
    listener: &TcpListener,
    timeout: Duration,
    phase: &Phase,
) -> Result<TcpStream, String> {
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("listener: {e}"))?;
    let started = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream
                    .set_nonblocking(false)
                    .map_err(|e| format!("accepted socket: {e}"))?;
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if started.elapsed() > timeout {
                    return Err(format!("no sender connected within {timeout:?}"));
                }
                if phase.get() == Phase::STOP {
                    return Err("stopped before the sender connected".into());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
}

fn sender_thread(
    index: usize,
    params: &PointParams,
    endpoints: &Endpoints,
    hooks: &dyn Hooks,
    phase: &Phase,
    port_rx: mpsc::Receiver<u16>,
    ready: &AtomicUsize,
) -> Result<SenderReport, EngineError> {
    let setup = |what: String| EngineError::Setup { index, what };
    let cpu = hooks.enter_thread(Role::Sender, index).map_err(setup)?;
    let port = port_rx
        .recv_timeout(SETUP_TIMEOUT)
        .map_err(|_| setup("the receiver never listened (see its error)".into()))?;
    let to = SocketAddr::new(endpoints.connect, port);
    let stream = TcpStream::connect_timeout(&to, SETUP_TIMEOUT)
        .map_err(|e| setup(format!("connecting to {to}: {e}")))?;
    let mut report = run_sender(index as u64, stream, params, phase, hooks, index, ready)?;
    report.cpu = cpu;
    Ok(report)
}
