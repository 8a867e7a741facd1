//! Remote mode: `copybench server` receives on one host, `copybench run --topology remote
//! --connect host:port` sends from another.
//!
//! The two agree on each point over a small control connection: frames of a 4-byte big-endian
//! length and a JSON message, at most [`MAX_FRAME`] bytes, starting with a version handshake.
//! Per point: the client sends `prepare` (the point's parameters); the server opens one data
//! listener per thread and answers `ready` with their ports; the client streams, forwarding
//! each phase change (`phase`) so that the server's receivers measure the same interval; when
//! the client stops, the server's receivers read to the end, verify, and the server answers
//! `report` with their figures. A malformed, oversized or wrong-version message gets an
//! `error` frame and that connection is closed; the server goes on serving others.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result};
use copybench_core::engine::{
    accept_with_timeout, assemble_point, run_receiver, run_senders, EngineError, Phase,
    PointParams, ReceiverReport,
};
use copybench_core::result::Point;
use serde::{Deserialize, Serialize};

use crate::hooks::CliHooks;
use crate::UsageError;

/// Version of the control protocol; both ends must speak the same.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest control frame accepted.
pub const MAX_FRAME: usize = 1 << 20;
/// How long the server waits for a client's next message, and for data connections.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(120);
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(15);
/// A data connection silent this long is dead (a stream never pauses that long).
const DATA_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Hello { protocol: u32, tool_version: String },
    Welcome { protocol: u32, tool_version: String },
    Prepare { params: PointParams },
    Ready { ports: Vec<u16> },
    Phase { phase: u8 },
    Report { receivers: Vec<ReceiverReport> },
    Error { message: String },
    Bye,
}

/// Why a control frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    Closed,
    Io(std::io::Error),
    TooLarge(usize),
    Malformed(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Closed => write!(f, "the control connection was closed"),
            FrameError::Io(e) => write!(f, "control connection: {e}"),
            FrameError::TooLarge(n) => write!(
                f,
                "control message of {n} bytes is larger than the {MAX_FRAME}-byte limit"
            ),
            FrameError::Malformed(e) => write!(f, "malformed control message: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

pub fn write_frame(mut w: impl Write, msg: &Message) -> std::io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    w.write_all(&frame)?;
    w.flush()
}

pub fn read_frame(mut r: impl Read) -> Result<Message, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Io(e)),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(FrameError::Io)?;
    serde_json::from_slice(&body).map_err(|e| FrameError::Malformed(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Server

/// Serves clients until the process is stopped. Prints the bound address first.
pub fn serve(listen: SocketAddr, counters: bool) -> Result<()> {
    let listener = TcpListener::bind(listen)
        .map_err(|e| UsageError(format!("--listen {listen}: cannot listen: {e}")))?;
    let bound = listener.local_addr()?;
    println!("copybench server listening on {bound} (protocol {PROTOCOL_VERSION})");
    std::io::stdout().flush()?;
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        std::thread::spawn(move || {
            let peer = conn.peer_addr().map_or("?".into(), |a| a.to_string());
            match serve_client(conn, counters) {
                Ok(points) => eprintln!("{peer}: done after {points} points"),
                Err(e) => eprintln!("{peer}: {e}"),
            }
        });
    }
    Ok(())
}

/// Answers an error frame and ends the connection.
fn refuse(control: &TcpStream, message: String) -> String {
    let _ = write_frame(
        control,
        &Message::Error {
            message: message.clone(),
        },
    );
    let _ = control.shutdown(std::net::Shutdown::Both);
    message
}

fn serve_client(control: TcpStream, counters: bool) -> Result<usize, String> {
    control
        .set_read_timeout(Some(CONTROL_TIMEOUT))
        .map_err(|e| e.to_string())?;
    match read_frame(&control) {
        Ok(Message::Hello { protocol, .. }) if protocol == PROTOCOL_VERSION => {}
        Ok(Message::Hello { protocol, tool_version }) => {
            return Err(refuse(
                &control,
                format!(
                    "protocol version {protocol} (copybench {tool_version}) is not supported: this server \
                     (copybench {}) speaks version {PROTOCOL_VERSION}; run the same copybench version on both hosts",
                    env!("CARGO_PKG_VERSION")
                ),
            ))
        }
        Ok(other) => return Err(refuse(&control, format!("expected hello, got {}", kind(&other)))),
        Err(e) => return Err(refuse(&control, e.to_string())),
    }
    write_frame(
        &control,
        &Message::Welcome {
            protocol: PROTOCOL_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").into(),
        },
    )
    .map_err(|e| e.to_string())?;

    let local_ip = control.local_addr().map_err(|e| e.to_string())?.ip();
    let hooks = CliHooks::new(None, None, counters);
    let mut points = 0;
    loop {
        match read_frame(&control) {
            Ok(Message::Prepare { params }) => {
                if let Err(e) = params.validate() {
                    return Err(refuse(&control, format!("invalid parameters: {e}")));
                }
                let reply = receive_point(&control, local_ip, &params, &hooks)?;
                write_frame(&control, &reply).map_err(|e| e.to_string())?;
                points += 1;
            }
            Ok(Message::Bye) | Err(FrameError::Closed) => return Ok(points),
            Ok(other) => {
                return Err(refuse(
                    &control,
                    format!("expected prepare or bye, got {}", kind(&other)),
                ))
            }
            Err(e) => return Err(refuse(&control, e.to_string())),
        }
    }
}

fn kind(m: &Message) -> &'static str {
    match m {
        Message::Hello { .. } => "hello",
        Message::Welcome { .. } => "welcome",
        Message::Prepare { .. } => "prepare",
        Message::Ready { .. } => "ready",
        Message::Phase { .. } => "phase",
        Message::Report { .. } => "report",
        Message::Error { .. } => "error",
        Message::Bye => "bye",
    }
}

/// One point's receiving side; returns the `report` (or `error`) to send back.
fn receive_point(
    control: &TcpStream,
    ip: IpAddr,
    params: &PointParams,
    hooks: &CliHooks<'_>,
) -> Result<Message, String> {
    let mut listeners = Vec::with_capacity(params.threads);
    for _ in 0..params.threads {
        match TcpListener::bind(SocketAddr::new(ip, 0)) {
            Ok(l) => listeners.push(l),
            Err(e) => {
                return Ok(Message::Error {
                    message: format!("binding a data listener: {e}"),
                })
            }
        }
    }
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let phase = Phase::default();
    std::thread::scope(|scope| {
        let receivers: Vec<_> = listeners
            .into_iter()
            .enumerate()
            .map(|(index, listener)| {
                let phase = &phase;
                scope.spawn(move || -> Result<ReceiverReport, EngineError> {
                    use copybench_core::engine::{Hooks, Role};
                    let setup = |what: String| EngineError::Setup { index, what };
                    let cpu = hooks.enter_thread(Role::Receiver, index).map_err(setup)?;
                    let stream =
                        accept_with_timeout(&listener, ACCEPT_TIMEOUT, phase).map_err(setup)?;
                    drop(listener);
                    let _ = stream.set_read_timeout(Some(DATA_TIMEOUT));
                    let mut report =
                        run_receiver(index as u64, stream, params, phase, hooks, index)?;
                    report.cpu = cpu;
                    Ok(report)
                })
            })
            .collect();
        let mut control_error = None;
        if let Err(e) = write_frame(control, &Message::Ready { ports }) {
            control_error = Some(e.to_string());
        }
        // Follow the client's phases until it stops (or goes away).
        while control_error.is_none() && phase.get() != Phase::STOP {
            match read_frame(control) {
                Ok(Message::Phase { phase: p }) if p <= Phase::STOP => phase.advance(p),
                Ok(other) => control_error = Some(format!("expected phase, got {}", kind(&other))),
                Err(e) => control_error = Some(e.to_string()),
            }
        }
        phase.advance(Phase::STOP);
        let mut reports = Vec::new();
        let mut failure = None;
        for r in receivers {
            match r.join() {
                Ok(Ok(report)) => reports.push(report),
                Ok(Err(e)) => failure = failure.or(Some(e.to_string())),
                Err(_) => failure = failure.or(Some("a receiver thread panicked".into())),
            }
        }
        if let Some(e) = control_error {
            return Err(refuse(control, e));
        }
        Ok(match failure {
            Some(message) => Message::Error { message },
            None => Message::Report { receivers: reports },
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Client

/// A client's control connection to a server.
pub struct Client {
    control: TcpStream,
    server: SocketAddr,
}

impl Client {
    /// Connects and shakes hands; errors say what to do.
    pub fn connect(target: &str) -> Result<Client> {
        let server = target
            .to_socket_addrs()
            .map_err(|e| UsageError(format!("--connect {target}: not a host:port ({e})")))?
            .next()
            .ok_or_else(|| {
                UsageError(format!(
                    "--connect {target}: the name resolves to no address"
                ))
            })?;
        let control = TcpStream::connect_timeout(&server, Duration::from_secs(10)).map_err(|e| {
            UsageError(format!(
                "--connect {target}: cannot reach a copybench server at {server}: {e}; start `copybench server --listen ADDR:PORT` there"
            ))
        })?;
        control.set_read_timeout(Some(CONTROL_TIMEOUT))?;
        control.set_nodelay(true)?;
        write_frame(
            &control,
            &Message::Hello {
                protocol: PROTOCOL_VERSION,
                tool_version: env!("CARGO_PKG_VERSION").into(),
            },
        )?;
        match read_frame(&control) {
            Ok(Message::Welcome { .. }) => Ok(Client { control, server }),
            Ok(Message::Error { message }) => {
                Err(UsageError(format!("the server refused: {message}")).into())
            }
            Ok(other) => anyhow::bail!("the server answered {} to hello", kind(&other)),
            Err(e) => Err(e).context("handshake with the server"),
        }
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Runs one point against the server.
    pub fn run_point(
        &self,
        params: &PointParams,
        hooks: &CliHooks<'_>,
        cancel: &AtomicBool,
    ) -> Result<Point, EngineError> {
        let lost = |e: String| EngineError::Receive {
            index: 0,
            what: format!("server: {e}"),
        };
        write_frame(
            &self.control,
            &Message::Prepare {
                params: params.clone(),
            },
        )
        .map_err(|e| lost(e.to_string()))?;
        let ports = match read_frame(&self.control) {
            Ok(Message::Ready { ports }) if ports.len() == params.threads => ports,
            Ok(Message::Error { message }) => return Err(lost(message)),
            Ok(other) => return Err(lost(format!("answered {} to prepare", kind(&other)))),
            Err(e) => return Err(lost(e.to_string())),
        };
        let targets: Vec<SocketAddr> = ports
            .iter()
            .map(|&p| SocketAddr::new(self.server.ip(), p))
            .collect();
        let on_phase = |phase: u8| {
            let _ = write_frame(&self.control, &Message::Phase { phase });
        };
        let sent = run_senders(params, &targets, hooks, cancel, &on_phase);
        // The server answers after every point, whatever happened on our side.
        let answer = read_frame(&self.control);
        let (senders, system_cpu) = sent?;
        match answer {
            Ok(Message::Report { receivers }) => {
                Ok(assemble_point(params, &senders, &receivers, system_cpu))
            }
            Ok(Message::Error { message }) => Err(lost(message)),
            Ok(other) => Err(lost(format!("answered {} after the point", kind(&other)))),
            Err(e) => Err(lost(e.to_string())),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = write_frame(&self.control, &Message::Bye);
    }
}
