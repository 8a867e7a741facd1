//! Why a point could not be measured: typed, and always naming the side and thread that failed.

use std::time::Duration;

use crate::model::{ReceiveKind, Role};
use crate::strategy::StrategyError;

/// An error from the embedding program's [`Hooks`](super::Hooks) (joining a namespace,
/// pinning a CPU): any error type, kept whole so its cause chain survives.
pub type HookError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A parameter of a point outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParamsError {
    /// The parameter at fault (`msg_size`, `threads`, `fields`, `pool`, `duration`, ...).
    pub param: &'static str,
    /// What is wrong and what is allowed, in words.
    pub message: String,
}

impl ParamsError {
    pub(crate) fn new(param: &'static str, message: impl Into<String>) -> ParamsError {
        ParamsError {
            param,
            message: message.into(),
        }
    }
}

/// What went wrong while a connection was being set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The embedding program's hook refused (e.g. joining the namespace failed).
    #[error("{0}")]
    Hook(#[source] HookError),
    /// A socket call failed.
    #[error("{what}: {source}")]
    Io {
        /// The step, in words (`binding a listener on 127.0.0.1`).
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A step did not finish in time.
    #[error("{what} within {after:?}")]
    Timeout {
        /// What did not happen (`no sender connected`).
        what: &'static str,
        /// How long it was waited for.
        after: Duration,
    },
    /// The point was stopped (another thread failed, or Ctrl-C) before the connection existed.
    #[error("stopped before the connection was set up")]
    Stopped,
    /// The thread on the other end of the connection failed first (its own error is reported).
    #[error("the {0} of this connection failed first")]
    PeerFailed(Role),
}

impl SetupError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> SetupError {
        SetupError::Io {
            what: what.into(),
            source,
        }
    }
}

/// What went wrong on the receiving side of a connection.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// Reading the stream failed.
    #[error("read after {after_bytes} bytes: {source}")]
    Read {
        /// Bytes received before the failure.
        after_bytes: u64,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Writing an rr reply failed.
    #[error("writing the reply to message {message}: {source}")]
    Reply {
        /// The message being answered.
        message: u64,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An rr reply named another message than the one sent.
    #[error("the reply names message {got} but message {sent} was sent")]
    WrongReply {
        /// The message number in the reply.
        got: u64,
        /// The message the sender sent.
        sent: u64,
    },
}

/// Why a point could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The strategy is not available on this kernel; nothing was measured.
    #[error("{0}")]
    Unsupported(#[source] StrategyError),
    /// The receive strategy is not available on this kernel or socket; nothing was measured.
    #[error("receiver {index}: --receive {receive} is not supported here: {reason}")]
    ReceiveUnsupported {
        /// The connection whose receiver found out.
        index: usize,
        /// The receive strategy refused.
        receive: ReceiveKind,
        /// Why, and what would make it work.
        reason: String,
    },
    /// A parameter is out of range; nothing was started.
    #[error("invalid parameters: {0}")]
    InvalidParams(#[from] ParamsError),
    /// A connection could not be set up.
    #[error("{role} {index}: {source}")]
    Setup {
        /// The side that failed.
        role: Role,
        /// The connection (thread pair) index.
        index: usize,
        /// What failed.
        #[source]
        source: SetupError,
    },
    /// A sender's strategy failed while streaming.
    #[error("sender {index}: {source}")]
    Send {
        /// The connection index.
        index: usize,
        /// What the strategy reported.
        #[source]
        source: StrategyError,
    },
    /// A receiver failed while reading or answering.
    #[error("receiver {index}: {source}")]
    Receive {
        /// The connection index.
        index: usize,
        /// What failed.
        #[source]
        source: ReceiveError,
    },
    /// A thread never reached the measured interval, so it has no figures to report. (One
    /// that sat blocked in one call throughout did reach it: its point records the stall.)
    #[error("{role} {index} never reached the measured interval")]
    NotMeasured {
        /// The side.
        role: Role,
        /// The connection index.
        index: usize,
    },
    /// A thread panicked (a bug in copybench: please report it).
    #[error("{role} {index} panicked: {message}")]
    Panicked {
        /// The side.
        role: Role,
        /// The connection index.
        index: usize,
        /// The panic's message.
        message: String,
    },
    /// The other end of a remote run (a `copybench server`) failed or went away.
    #[error("remote receiver: {0}")]
    Remote(String),
    /// The point was stopped early (Ctrl-C).
    #[error("stopped before the point finished")]
    Cancelled,
}

impl EngineError {
    pub(crate) fn setup(role: Role, index: usize) -> impl Fn(SetupError) -> EngineError {
        move |source| EngineError::Setup {
            role,
            index,
            source,
        }
    }

    /// A sender's strategy error, with `Unsupported` kept apart (it is not a failure of the
    /// point but of the strategy on this kernel).
    pub(crate) fn send(index: usize) -> impl Fn(StrategyError) -> EngineError {
        move |source| match source {
            StrategyError::Unsupported { .. } => EngineError::Unsupported(source),
            source => EngineError::Send { index, source },
        }
    }

    /// How much this error says about the point: a thread's own failure says more than a
    /// consequence of another thread's ([`SetupError::PeerFailed`], [`SetupError::Stopped`]).
    pub(crate) fn is_consequence(&self) -> bool {
        matches!(
            self,
            EngineError::Setup {
                source: SetupError::PeerFailed(_) | SetupError::Stopped,
                ..
            }
        )
    }
}
