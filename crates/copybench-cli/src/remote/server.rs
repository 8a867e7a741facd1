//! `copybench server`: a thin transport over the engine's receivers
//! ([`copybench_core::engine::run_receivers`]) that can be left running: one test at a time,
//! bounded by limits, authenticated when given a key, and stopped cleanly by SIGTERM/Ctrl-C.
//!
//! A connection *holds* the server from the moment its handshake is accepted (`welcome`
//! sent) until it says `bye`, closes, times out (idle), breaks the protocol or the server
//! stops. Connections still in their handshake hold nothing: they only have a few seconds
//! (`--handshake-timeout`) for all of it, and at most [`MAX_HANDSHAKES`] run at once.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use copybench_core::engine::{run_receivers, ParamsError, Phase, PointParams};
use copybench_core::result::{HostInfo, SystemCpu};

use super::auth::{hex, nonce, parse_nonce, AuthKey, Side};
use super::limits::{LimitError, Limits};
use super::protocol::{
    read_frame, read_frame_limited, write_frame, Deadline, FrameError, Message,
    MAX_HANDSHAKE_FRAME, PROTOCOL_VERSION,
};
use crate::args::ServerArgs;
use crate::hooks::{CliHooks, PinPlan};
use crate::{host, UsageError};

/// Connections allowed in their handshake at once; more are refused at once, so that a
/// flood of silent connections costs a bounded number of threads.
pub const MAX_HANDSHAKES: usize = 16;
/// What the current client is told when the server stops.
pub const SHUTTING_DOWN: &str = "server shutting down";
/// How long a stopping server waits for its session to say goodbye.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Slack on top of a point's warm-up + duration for each of its phase messages (the first
/// one waits for every sender to connect).
const PHASE_SLACK: Duration = Duration::from_secs(30);

/// Why the server refuses a client: the words go to the client in an `error` frame and to
/// the server's log.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("busy: another test is running (from {peer} since {since})")]
    Busy { peer: SocketAddr, since: String },
    #[error("busy: too many connections are being set up")]
    TooManyHandshakes,
    #[error(
        "protocol version {protocol} (copybench {tool_version}) is not supported: this server \
         (copybench {}) speaks version {}; run the same copybench version on both hosts",
        env!("CARGO_PKG_VERSION"),
        PROTOCOL_VERSION
    )]
    Version { protocol: u32, tool_version: String },
    /// A message of another kind than the protocol allows here.
    #[error("expected {expected}, got {got}")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("{}", SHUTTING_DOWN)]
    ShuttingDown,
    /// A message did not arrive whole in time, `during` a step of the protocol.
    #[error("{during} did not complete within {after:?}")]
    Incomplete {
        during: &'static str,
        after: Duration,
    },
    /// A frame that could not be read (closed, too large, not JSON, ...).
    #[error(transparent)]
    Frame(FrameError),
    #[error("idle for {0:?}: closing the session (copybench server --idle-timeout)")]
    Idle(Duration),
    #[error("this server requires authentication (a 32-byte hex nonce in hello)")]
    AuthRequired,
    #[error("no random numbers: {0}")]
    NoRandom(getrandom::Error),
    #[error("authentication failed: the client's --auth-key-file does not hold this server's key")]
    AuthFailed,
    /// The session asked for more than the server allows (its point count).
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("invalid parameters: {0}")]
    Invalid(#[from] ParamsError),
    /// A test hook of the local engine (named) was set in the point.
    #[error("{0} is a test hook of the local engine; a server does not accept it")]
    TestHook(&'static str),
}

impl Refusal {
    /// The refusal for a frame that could not be read `during` a step of the protocol.
    fn of_frame(e: FrameError, during: &'static str) -> Refusal {
        match e {
            FrameError::ShuttingDown => Refusal::ShuttingDown,
            FrameError::TimedOut(after) => Refusal::Incomplete { during, after },
            other => Refusal::Frame(other),
        }
    }
}

/// Why a connection ended before its client said goodbye (the server's log line).
#[derive(Debug, thiserror::Error)]
enum SessionError {
    /// The client was told, in an `error` frame that closes the session.
    #[error(transparent)]
    Refused(Refusal),
    /// The control connection failed; nothing more can be said to the client.
    #[error("control connection: {0}")]
    Control(#[from] std::io::Error),
}

/// The server's settings, checked.
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub counters: bool,
    pub limits: Limits,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub key: Option<AuthKey>,
    pub pin: Option<PinPlan>,
}

impl ServerConfig {
    /// Loads the key and checks the CPUs; a refusal names the flag (exit code 2).
    pub fn from_args(args: &ServerArgs) -> Result<ServerConfig, UsageError> {
        let key = args
            .auth_key_file
            .as_deref()
            .map(AuthKey::load)
            .transpose()
            .map_err(|e| UsageError(e.to_string()))?;
        let pin = if args.receiver_cpus.is_empty() {
            None
        } else {
            let cpus = core_affinity::get_core_ids().map_or(0, |ids| ids.len());
            if let Some(bad) = args.receiver_cpus.iter().find(|&&c| c >= cpus) {
                return Err(UsageError(format!(
                    "--receiver-cpus: CPU {bad} does not exist; this process may use CPUs 0 to {}",
                    cpus.saturating_sub(1)
                )));
            }
            // Only receivers run here; the sender list is never used but must not be empty.
            Some(PinPlan {
                senders: args.receiver_cpus.clone(),
                receivers: args.receiver_cpus.clone(),
            })
        };
        Ok(ServerConfig {
            listen: args.listen,
            counters: !args.no_counters,
            limits: Limits {
                max_threads: args.max_threads,
                max_memory: args.max_memory,
                max_duration: args.max_duration,
                max_points: args.max_points as usize,
            },
            handshake_timeout: args.handshake_timeout,
            idle_timeout: args.idle_timeout,
            key,
            pin,
        })
    }
}

/// Who holds the server.
struct Holder {
    peer: SocketAddr,
    since: String,
}

/// What every connection's thread shares.
struct State {
    config: ServerConfig,
    host: HostInfo,
    stop: Arc<AtomicBool>,
    holder: Mutex<Option<Holder>>,
    handshakes: AtomicUsize,
    /// The current client was told the server stops: nothing is left to wait for.
    told_stop: AtomicBool,
}

impl State {
    fn holder(&self) -> std::sync::MutexGuard<'_, Option<Holder>> {
        // A panicking session thread must not keep the server busy forever.
        self.holder.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the server for `peer`, or says who has it.
    fn claim(&self, peer: SocketAddr) -> Result<Session<'_>, Refusal> {
        let mut holder = self.holder();
        if let Some(h) = &*holder {
            return Err(Refusal::Busy {
                peer: h.peer,
                since: h.since.clone(),
            });
        }
        *holder = Some(Holder {
            peer,
            since: host::now_rfc3339(),
        });
        Ok(Session(self))
    }
}

/// Holding the server; dropping it (whatever ended the session) frees the server.
struct Session<'a>(&'a State);

impl Drop for Session<'_> {
    fn drop(&mut self) {
        *self.0.holder() = None;
    }
}

/// One connection in its handshake; dropping it frees its place.
struct Handshaking<'a>(&'a AtomicUsize);

impl Drop for Handshaking<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves clients until SIGTERM or Ctrl-C. Prints the bound address first.
pub fn serve(args: &ServerArgs) -> Result<()> {
    let config = ServerConfig::from_args(args)?;
    let listener = TcpListener::bind(config.listen)
        .map_err(|e| UsageError(format!("--listen {}: cannot listen: {e}", config.listen)))?;
    let bound = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // A second signal while stopping ends the process at once (exit code 1).
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
            .context("installing the signal handlers")?;
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing the signal handlers")?;
    }
    println!("copybench server listening on {bound} (protocol {PROTOCOL_VERSION})");
    std::io::stdout().flush()?;
    announce(&config, bound);
    run(&listener, config, stop)
}

/// Serves on `listener` until `stop` is raised, then tells the current client and returns.
pub(crate) fn run(
    listener: &TcpListener,
    config: ServerConfig,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let state = Arc::new(State {
        host: host::collect(config.counters),
        config,
        stop,
        holder: Mutex::new(None),
        handshakes: AtomicUsize::new(0),
        told_stop: AtomicBool::new(false),
    });
    accept_loop(listener, &state)?;
    shut_down(&state);
    Ok(())
}

/// Says on stderr what the server allows, and who may use it.
fn announce(config: &ServerConfig, bound: SocketAddr) {
    let l = &config.limits;
    eprintln!(
        "limits per point: {} threads, {} of buffers, {:?} (warm-up + duration); {} points per session",
        l.max_threads,
        copybench_core::units::format_size(l.max_memory),
        l.max_duration,
        l.max_points
    );
    if config.key.is_none() {
        eprintln!(
            "warning: no --auth-key-file: anyone who can reach {bound} may run tests on this host"
        );
    }
    if let Some(pin) = &config.pin {
        eprintln!("receivers pinned to CPUs {:?}", pin.receivers);
    }
}

/// Accepts connections until the stop flag is raised; each gets a thread.
fn accept_loop(listener: &TcpListener, state: &Arc<State>) -> Result<()> {
    // Non-blocking so that a signal is noticed within one poll interval.
    listener.set_nonblocking(true)?;
    while !state.stop.load(Ordering::Relaxed) {
        let (conn, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(e) => {
                eprintln!("accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if state.handshakes.fetch_add(1, Ordering::SeqCst) >= MAX_HANDSHAKES {
            state.handshakes.fetch_sub(1, Ordering::SeqCst);
            let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
            refuse(&conn, Refusal::TooManyHandshakes);
            continue;
        }
        let state = Arc::clone(state);
        std::thread::spawn(move || {
            let outcome = connection(&conn, &state);
            match outcome {
                Ok(points) => eprintln!("{peer}: done after {points} points"),
                Err(e) => eprintln!("{peer}: {e}"),
            }
        });
    }
    Ok(())
}

/// Waits (a little) for the current session to tell its client and end.
fn shut_down(state: &State) {
    eprintln!("copybench server: stopping");
    let until = Instant::now() + STOP_GRACE;
    while state.holder().is_some()
        && !state.told_stop.load(Ordering::SeqCst)
        && Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Give the farewell frame time to leave before the process (and its sockets) ends.
    std::thread::sleep(Duration::from_millis(200));
}

/// Answers an error frame that ends the session (the connection is closed once the server
/// is free again); returns the session's end for the server's log.
fn refuse(control: &TcpStream, refusal: Refusal) -> SessionError {
    let _ = write_frame(
        control,
        &Message::Error {
            message: refusal.to_string(),
            closing: true,
        },
    );
    SessionError::Refused(refusal)
}

/// One connection: its handshake, then, holding the server, its session. Returns the number
/// of points served.
fn connection(control: &TcpStream, state: &State) -> Result<usize, SessionError> {
    let peer = control.peer_addr()?;
    control.set_nodelay(true)?;
    // A client that does not read must not block the server on a write.
    control.set_write_timeout(Some(state.config.idle_timeout))?;
    let handshaking = Handshaking(&state.handshakes);
    let session = handshake(control, state, peer)?;
    drop(handshaking);
    eprintln!("{peer}: session started");
    let outcome = serve_session(control, state);
    // Free the server before the client sees the close, so that it may come straight back.
    drop(session);
    let _ = control.shutdown(std::net::Shutdown::Both);
    outcome
}

/// The handshake, under one deadline: `hello` with our version, authentication when the
/// server has a key, then the server is claimed (or busy) and `welcome` sent.
fn handshake<'s>(
    control: &TcpStream,
    state: &'s State,
    peer: SocketAddr,
) -> Result<Session<'s>, SessionError> {
    let mut input = Deadline::new(control, state.config.handshake_timeout, &state.stop);
    let client_nonce = match read_frame_limited(&mut input, MAX_HANDSHAKE_FRAME) {
        Ok(Message::Hello {
            protocol, nonce, ..
        }) if protocol == PROTOCOL_VERSION => nonce,
        Ok(Message::Hello {
            protocol,
            tool_version,
            ..
        }) => {
            return Err(refuse(
                control,
                Refusal::Version {
                    protocol,
                    tool_version,
                },
            ))
        }
        Ok(other) => {
            return Err(refuse(
                control,
                Refusal::Unexpected {
                    expected: "hello",
                    got: other.kind(),
                },
            ))
        }
        Err(e) => return Err(refuse(control, Refusal::of_frame(e, "the handshake"))),
    };
    if let Some(key) = &state.config.key {
        authenticate(control, &mut input, key, client_nonce.as_deref())?;
    }
    let session = state.claim(peer).map_err(|busy| refuse(control, busy))?;
    write_frame(
        control,
        &Message::Welcome {
            protocol: PROTOCOL_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            authenticated: state.config.key.is_some(),
            host: Some(state.host.clone()),
        },
    )?;
    Ok(session)
}

/// The challenge-response: the server proves itself first (the client checks), then the
/// client must answer with its own proof over both nonces.
fn authenticate(
    control: &TcpStream,
    input: &mut Deadline<'_>,
    key: &AuthKey,
    client_nonce: Option<&str>,
) -> Result<(), SessionError> {
    let Some(cn) = client_nonce.and_then(parse_nonce) else {
        return Err(refuse(control, Refusal::AuthRequired));
    };
    let sn = nonce().map_err(|e| refuse(control, Refusal::NoRandom(e)))?;
    write_frame(
        control,
        &Message::Challenge {
            nonce: hex(&sn),
            proof: key.proof(Side::Server, &cn, &sn),
        },
    )?;
    match read_frame_limited(input, MAX_HANDSHAKE_FRAME) {
        Ok(Message::Auth { proof }) if key.verify(Side::Client, &cn, &sn, &proof) => Ok(()),
        Ok(Message::Auth { .. }) => Err(refuse(control, Refusal::AuthFailed)),
        Ok(other) => Err(refuse(
            control,
            Refusal::Unexpected {
                expected: "auth",
                got: other.kind(),
            },
        )),
        Err(e) => Err(refuse(control, Refusal::of_frame(e, "the handshake"))),
    }
}

/// A session: points until `bye`, within the limits. Returns the number of points served.
fn serve_session(control: &TcpStream, state: &State) -> Result<usize, SessionError> {
    let local_ip = control.local_addr()?.ip();
    let config = &state.config;
    let hooks = CliHooks::new(None, config.pin.clone(), config.counters);
    let (mut asked, mut served) = (0, 0);
    loop {
        let next = read_frame(Deadline::new(control, config.idle_timeout, &state.stop));
        let params = match next {
            Ok(Message::Prepare { params }) => params,
            Ok(Message::Bye) | Err(FrameError::Closed) => return Ok(served),
            Ok(other) => {
                let unexpected = Refusal::Unexpected {
                    expected: "prepare or bye",
                    got: other.kind(),
                };
                return Err(refuse(control, unexpected));
            }
            Err(FrameError::TimedOut(after)) => return Err(refuse(control, Refusal::Idle(after))),
            Err(e) => return Err(say_goodbye(control, state, e)),
        };
        asked += 1;
        if asked > config.limits.max_points {
            return Err(refuse(control, config.limits.points_exceeded().into()));
        }
        acceptable(&params).map_err(|e| refuse(control, e))?;
        if let Err(limit) = config.limits.check(&params) {
            // Only this point is refused: smaller ones may follow in the same session.
            let message = format!("refused by the server's limits: {limit}");
            write_frame(
                control,
                &Message::Error {
                    message,
                    closing: false,
                },
            )?;
            continue;
        }
        let reply = receive_point(control, local_ip, &params, &hooks, state)?;
        write_frame(control, &reply)?;
        served += 1;
    }
}

/// Refuses with the words for `e`; when the server stops, records that the client was told.
fn say_goodbye(control: &TcpStream, state: &State, e: FrameError) -> SessionError {
    let stopping = matches!(e, FrameError::ShuttingDown);
    let ended = refuse(control, Refusal::of_frame(e, "the next message"));
    if stopping {
        state.told_stop.store(true, Ordering::SeqCst);
    }
    ended
}

/// Points a server never runs, whatever its limits: invalid ones, and the local engine's
/// test hook.
fn acceptable(params: &PointParams) -> Result<(), Refusal> {
    params.validate()?;
    let hooks = [
        ("corrupt_message", params.corrupt_message.is_some()),
        ("stall_once", params.stall_once.is_some()),
        ("corrupt_mapping", params.corrupt_mapping),
        ("early_release", params.early_release.is_some()),
    ];
    match hooks.iter().find(|(_, set)| *set) {
        Some((name, _)) => Err(Refusal::TestHook(name)),
        None => Ok(()),
    }
}
/// One point's receiving side; returns the `report` (or `error`) to send back, or ends the
/// session when the control connection failed.
fn receive_point(
    control: &TcpStream,
    ip: IpAddr,
    params: &PointParams,
    hooks: &CliHooks<'_>,
    state: &State,
) -> Result<Message, SessionError> {
    let budget = params
        .warmup
        .saturating_add(params.duration)
        .saturating_add(PHASE_SLACK);
    let (reports, driven) = run_receivers(params, ip, hooks, |ports, phase| {
        write_frame(
            control,
            &Message::Ready {
                ports: ports.to_vec(),
            },
        )?;
        follow_phases(control, phase, budget, hooks, state)
    });
    let system_cpu = match driven {
        Some(Ok(cpu)) => cpu,
        Some(Err(e)) => return Err(e), // the client was told already
        None => None,                  // the receivers never listened: their error says why
    };
    Ok(match reports {
        Ok(receivers) => Message::Report {
            receivers,
            system_cpu,
        },
        Err(e) => Message::Error {
            message: e.to_string(),
            closing: false,
        },
    })
}

/// Moves the receivers' phase as the client's `phase` messages say, until `STOP`, and
/// measures this host's system CPU over the measured interval (the client does the same on
/// its side). On failure the client is told at once: when the server stops mid-point its
/// receivers may wait for the senders to end, but the client must not.
fn follow_phases(
    control: &TcpStream,
    phase: &Phase,
    budget: Duration,
    hooks: &CliHooks<'_>,
    state: &State,
) -> Result<Option<SystemCpu>, SessionError> {
    use copybench_core::engine::Hooks;
    let mut probe = None;
    let mut system_cpu = None;
    while phase.get() != Phase::STOP {
        match read_frame(Deadline::new(control, budget, &state.stop)) {
            Ok(Message::Phase { phase: p }) if p <= Phase::STOP => {
                if p >= Phase::MEASURE && phase.get() < Phase::MEASURE {
                    probe = hooks.begin_interval();
                }
                phase.advance(p);
                if p == Phase::STOP {
                    system_cpu = probe.take().and_then(|p| p.finish());
                }
            }
            Ok(other) => {
                let unexpected = Refusal::Unexpected {
                    expected: "phase",
                    got: other.kind(),
                };
                return Err(refuse(control, unexpected));
            }
            Err(e) => return Err(say_goodbye(control, state, e)),
        }
    }
    Ok(system_cpu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use copybench_core::StrategyKind;

    #[test]
    fn a_test_hook_is_refused_by_its_name() {
        let mut params = PointParams::new(StrategyKind::TwoCopy, 4096, 1);
        assert!(acceptable(&params).is_ok());
        params.stall_once = Some(Duration::from_millis(1));
        let refusal = acceptable(&params).unwrap_err();
        assert!(
            matches!(refusal, Refusal::TestHook("stall_once")),
            "{refusal:?}"
        );
        assert_eq!(
            refusal.to_string(),
            "stall_once is a test hook of the local engine; a server does not accept it"
        );
    }

    #[test]
    fn an_invalid_point_is_refused_with_the_engine_s_reason() {
        let params = PointParams::new(StrategyKind::TwoCopy, 0, 1);
        let refusal = acceptable(&params).unwrap_err();
        assert!(matches!(refusal, Refusal::Invalid(_)), "{refusal:?}");
        assert!(
            refusal.to_string().starts_with("invalid parameters: "),
            "{refusal}"
        );
    }

    #[test]
    fn a_frame_that_did_not_arrive_says_during_what() {
        let late = Refusal::of_frame(
            FrameError::TimedOut(Duration::from_secs(1)),
            "the handshake",
        );
        assert_eq!(late.to_string(), "the handshake did not complete within 1s");
        let stopping = Refusal::of_frame(FrameError::ShuttingDown, "the next message");
        assert_eq!(stopping.to_string(), SHUTTING_DOWN);
        let closed = Refusal::of_frame(FrameError::Closed, "the next message");
        assert_eq!(closed.to_string(), "the control connection was closed");
    }
}
