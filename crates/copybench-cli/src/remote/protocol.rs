//! The control protocol between `copybench run --connect` and `copybench server`: versioned,
//! length-prefixed JSON frames, each read against a deadline for the whole frame.

use std::io::Read;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use copybench_core::engine::{PointParams, ReceiverReport};
use copybench_core::result::{HostInfo, SystemCpu};
use serde::{Deserialize, Serialize};

/// Version of the control protocol; both ends must speak the same. Version 2 added the
/// nonce in `hello`, `challenge`/`auth` (authentication), the receiving host in `welcome`,
/// its system CPU in `report` and `closing` in `error`.
pub const PROTOCOL_VERSION: u32 = 2;
/// Largest control frame accepted once a session is established.
pub const MAX_FRAME: usize = 1 << 20;
/// Largest frame accepted during the handshake: a client that has not shown it may use the
/// server must not make it buffer and parse a megabyte.
pub const MAX_HANDSHAKE_FRAME: usize = 4 << 10;
/// How long the client waits for the server's next control message.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a blocked read wakes up to look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// A control message (JSON with a `type` tag).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Client -> server, first: the client's protocol version.
    Hello {
        /// [`PROTOCOL_VERSION`] of the client.
        protocol: u32,
        /// The client's copybench version.
        tool_version: String,
        /// 32 random bytes in hex: the client's half of the authentication challenge (absent
        /// in version 1, which is refused by version).
        #[serde(default)]
        nonce: Option<String>,
    },
    /// Server -> client, when the server has a key: prove you know it. `proof` is the
    /// server's own proof over both nonces, so that the client checks the server too.
    Challenge {
        /// 32 random bytes in hex, new for every connection.
        nonce: String,
        /// HMAC-SHA-256 of the server's label and both nonces, in hex.
        proof: String,
    },
    /// Client -> server: the client's proof over both nonces.
    Auth {
        /// HMAC-SHA-256 of the client's label and both nonces, in hex.
        proof: String,
    },
    /// Server -> client: the handshake is accepted; this client now holds the server.
    Welcome {
        /// [`PROTOCOL_VERSION`] of the server.
        protocol: u32,
        /// The server's copybench version.
        tool_version: String,
        /// Whether the client was authenticated.
        #[serde(default)]
        authenticated: bool,
        /// The receiving host's facts (kernel, CPU model, cores).
        #[serde(default)]
        host: Option<HostInfo>,
    },
    /// Client -> server: receive this point.
    Prepare {
        /// The point, as the client will send it.
        params: PointParams,
    },
    /// Server -> client: receivers listen on these ports, in connection order.
    Ready {
        /// One port per connection.
        ports: Vec<u16>,
    },
    /// Client -> server: the senders moved to this phase.
    Phase {
        /// One of `copybench_core::engine::Phase`'s constants.
        phase: u8,
    },
    /// Server -> client: what the receivers saw.
    Report {
        /// One report per connection.
        receivers: Vec<ReceiverReport>,
        /// The receiving host's system-wide CPU time over the measured interval.
        #[serde(default)]
        system_cpu: Option<SystemCpu>,
    },
    /// Either way: a refusal or failure, in words.
    Error {
        /// What went wrong.
        message: String,
        /// The sender closes the connection after this frame (busy, authentication,
        /// shutdown, idle, a protocol error); otherwise only the current point failed.
        #[serde(default)]
        closing: bool,
    },
    /// Client -> server: no more points.
    Bye,
}

impl Message {
    /// The message's `type`, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "hello",
            Message::Challenge { .. } => "challenge",
            Message::Auth { .. } => "auth",
            Message::Welcome { .. } => "welcome",
            Message::Prepare { .. } => "prepare",
            Message::Ready { .. } => "ready",
            Message::Phase { .. } => "phase",
            Message::Report { .. } => "report",
            Message::Error { .. } => "error",
            Message::Bye => "bye",
        }
    }
}

/// Why a control frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The other end closed the connection between frames.
    #[error("the control connection was closed")]
    Closed,
    /// The whole frame did not arrive before its deadline.
    #[error("no complete control message within {0:?}")]
    TimedOut(Duration),
    /// The server is stopping (SIGTERM or Ctrl-C).
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Reading failed.
    #[error("control connection: {0}")]
    Io(#[source] std::io::Error),
    /// The length prefix announces more than the limit.
    #[error("control message of {0} bytes is larger than the {1}-byte limit")]
    TooLarge(usize, usize),
    /// The body is not a valid message.
    #[error("malformed control message: {0}")]
    Malformed(String),
}

/// Writes one frame.
pub fn write_frame(mut w: impl Write, msg: &Message) -> std::io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    w.write_all(&frame)?;
    w.flush()
}

/// Reads one frame of at most [`MAX_FRAME`] bytes.
pub fn read_frame(r: impl Read) -> Result<Message, FrameError> {
    read_frame_limited(r, MAX_FRAME)
}

/// Reads one frame of at most `max` bytes. Memory grows with the bytes that actually
/// arrive, not with what the length prefix announces.
pub fn read_frame_limited(mut r: impl Read, max: usize) -> Result<Message, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(io_error(e)),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge(len, max));
    }
    let mut body = Vec::with_capacity(len.min(64 << 10));
    let got = r
        .take(len as u64)
        .read_to_end(&mut body)
        .map_err(io_error)?;
    if got < len {
        return Err(FrameError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the connection closed after {got} of {len} bytes of a message"),
        )));
    }
    serde_json::from_slice(&body).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Sorts the reader's errors into the frame errors the server acts on.
fn io_error(e: std::io::Error) -> FrameError {
    if let Some(inner) = e.get_ref() {
        if let Some(Expired(after)) = inner.downcast_ref::<Expired>() {
            return FrameError::TimedOut(*after);
        }
        if inner.is::<Stopping>() {
            return FrameError::ShuttingDown;
        }
    }
    FrameError::Io(e)
}

#[derive(Debug, thiserror::Error)]
#[error("deadline of {0:?} passed")]
struct Expired(Duration);

#[derive(Debug, thiserror::Error)]
#[error("stopping")]
struct Stopping;

/// Reads a stream against one deadline for everything read through it, so a peer sending a
/// byte at a time cannot stretch a frame (a per-read time-out would restart at every byte).
/// Wakes every 100 ms to notice `stop`.
pub struct Deadline<'a> {
    stream: &'a TcpStream,
    until: Instant,
    budget: Duration,
    stop: &'a AtomicBool,
}

impl<'a> Deadline<'a> {
    /// Everything read through this must arrive within `budget` from now.
    pub fn new(stream: &'a TcpStream, budget: Duration, stop: &'a AtomicBool) -> Deadline<'a> {
        Deadline {
            stream,
            until: Instant::now() + budget,
            budget,
            stop,
        }
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err(std::io::Error::other(Stopping));
            }
            let left = self.until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    Expired(self.budget),
                ));
            }
            self.stream.set_read_timeout(Some(left.min(POLL)))?;
            match (&*self.stream).read(buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                other => return other,
            }
        }
    }
}
