//! The control protocol between `copybench run --connect` and `copybench server`: versioned,
//! length-prefixed JSON frames.

use std::io::{Read, Write};
use std::time::Duration;

use copybench_core::engine::{PointParams, ReceiverReport};
use serde::{Deserialize, Serialize};

/// Version of the control protocol; both ends must speak the same.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest control frame accepted.
pub const MAX_FRAME: usize = 1 << 20;
/// How long either end waits for the other's next control message.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(120);

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
    },
    /// Server -> client: the handshake is accepted.
    Welcome {
        /// [`PROTOCOL_VERSION`] of the server.
        protocol: u32,
        /// The server's copybench version.
        tool_version: String,
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
    },
    /// Either way: a refusal or failure, in words.
    Error {
        /// What went wrong.
        message: String,
    },
    /// Client -> server: no more points.
    Bye,
}

impl Message {
    /// The message's `type`, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
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
}

/// Why a control frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The other end closed the connection between frames.
    #[error("the control connection was closed")]
    Closed,
    /// Reading failed (a time-out among others).
    #[error("control connection: {0}")]
    Io(#[source] std::io::Error),
    /// The length prefix announces more than [`MAX_FRAME`] bytes.
    #[error("control message of {0} bytes is larger than the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
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

/// Reads one frame.
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
