//! How a message is handed to the kernel: the [`SendStrategy`] trait and its implementations.
//!
//! The trait is shaped for strategies whose buffers stay with the kernel after the call returns
//! (MSG_ZEROCOPY, io_uring zero-copy): a send takes a message *slot* from the caller's pool, and
//! the slot comes back through [`SendStrategy::reap`] only once the kernel is done with its
//! buffers. Copying strategies give slots back at once.

mod errqueue;
mod held;
mod iowork;
mod sendfile;
#[allow(unsafe_code)] // vmsplice of the message's fields; the block has its SAFETY comment
mod splice;
mod twocopy;
#[allow(unsafe_code)] // pushing SQEs and registering buffers; each block has its SAFETY comment
mod uring;
mod zerocopy;

use std::io::IoSlice;
use std::os::fd::BorrowedFd;
use std::time::Duration;

pub use crate::model::{StrategyKind, UnknownStrategy};
#[doc(hidden)]
pub use errqueue::build_control;
pub use errqueue::{
    parse_control, Completion, CompletionTracker, ErrQueueError, ExtendedErr,
    SO_EE_CODE_ZEROCOPY_COPIED, SO_EE_ORIGIN_ZEROCOPY,
};
pub use held::receive_margin;
#[doc(hidden)]
pub use held::EarlyRelease;
pub use iowork::IoWorkerCpu;
pub use sendfile::Sendfile;
pub use splice::Splice;
pub use twocopy::{ScatterGather, TwoCopy};
pub use uring::{
    probe_uring, FixedBuffersError, FixedRegions, OpcodeSupport, Uring, UringUnavailable,
    DEFAULT_URING_DEPTH, MAX_FIXED_BUFFERS, MAX_URING_DEPTH,
};
pub use zerocopy::{probe_support as probe_zerocopy, ZeroCopy};

use crate::message::{Align, Message};
use crate::result::{UringSetup, ZeroCopyStats};

/// Index of a message buffer in the sender's pool.
pub type Slot = usize;

/// Why a send strategy failed.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    /// The kernel does not offer what the strategy needs; nothing was sent.
    #[error("{strategy} is not supported here: {reason}")]
    Unsupported {
        /// The strategy refused.
        strategy: StrategyKind,
        /// Why, and what would make it work.
        reason: String,
    },
    /// A system call failed.
    #[error("{call} failed: {source}")]
    Io {
        /// The call (`sendmsg(MSG_ZEROCOPY)`, `poll`, ...).
        call: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The socket's error queue held something that is not a zero-copy completion.
    #[error(transparent)]
    ErrQueue(#[from] ErrQueueError),
    /// Zero-copy completions that never came.
    #[error("{outstanding} zero-copy completions still missing after waiting {waited:?}")]
    MissingCompletions {
        /// Sends whose completion is missing.
        outstanding: u64,
        /// How long they were waited for.
        waited: Duration,
    },
}

impl StrategyError {
    pub(crate) fn io(call: &'static str, source: impl Into<std::io::Error>) -> StrategyError {
        StrategyError::Io {
            call,
            source: source.into(),
        }
    }

    /// True when the peer went away (reset, broken pipe): the end of a connection, not a bug.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, StrategyError::Io { source, .. } if matches!(
            source.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        ))
    }
}

/// One message's send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendReport {
    /// System calls it took (more than one after partial writes or ENOBUFS retries).
    pub calls: u32,
}

/// A way of handing messages to the kernel over one connected TCP socket.
///
/// Contract: after `send(.., slot)`, the caller must not write the buffers of `slot` until
/// `reap` has returned that slot. `drain` must be called before the pool is dropped or reused
/// for another connection.
pub trait SendStrategy: Send {
    /// Which strategy this is.
    fn kind(&self) -> StrategyKind;

    /// Sets the socket up for this strategy (e.g. `SO_ZEROCOPY`), before the first send.
    /// [`StrategyError::Unsupported`] means the kernel refuses: do not fall back silently.
    fn prepare(&mut self, socket: BorrowedFd<'_>) -> Result<(), StrategyError>;

    /// Shown the caller's whole buffer pool once, after `prepare` and before the first send,
    /// slot `i` being `pool[i]` (io_uring registers it as fixed buffers). The pool's buffers
    /// must stay allocated until the strategy is dropped. Does nothing by default.
    fn register_pool(&mut self, _pool: &[Message]) -> Result<(), StrategyError> {
        Ok(())
    }

    /// Hands the whole message to the kernel, finishing partial writes (no byte sent twice or
    /// skipped). Returns once the kernel accepted every byte.
    fn send(
        &mut self,
        socket: BorrowedFd<'_>,
        message: &Message,
        slot: Slot,
    ) -> Result<SendReport, StrategyError>;

    /// Appends to `released` the slots whose buffers the kernel no longer uses. With `wait`, if
    /// no slot is ready yet but some are in flight, waits (without spinning) for at least one.
    fn reap(
        &mut self,
        socket: BorrowedFd<'_>,
        wait: bool,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError>;

    /// Whether [`reap`](Self::reap) costs no system call because slots come back as `send`
    /// returns (the copying strategies): the engine then reaps after every message, so that
    /// with hot data the buffer just sent is the next one used.
    fn reap_is_free(&self) -> bool {
        false
    }

    /// Waits up to `timeout` until every slot is released (appending them to `released`);
    /// missing completions after that are an error.
    fn drain(
        &mut self,
        socket: BorrowedFd<'_>,
        timeout: Duration,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError>;

    /// Zero-copy bookkeeping, for strategies that have it.
    fn zerocopy_stats(&self) -> Option<ZeroCopyStats> {
        None
    }

    /// How the strategy's io_uring was set up (depth, setup flags, registrations), for
    /// strategies with a ring; `None` for the others. Call it after `prepare`.
    fn uring_setup(&self) -> Option<UringSetup> {
        None
    }

    /// CPU time so far of the kernel worker threads serving this strategy's ring (io_uring's
    /// `iou-wrk-*`), which the sending thread's own clock does not include; `None` for
    /// strategies without a ring. Two samples give the time in between
    /// ([`IoWorkerCpu::ns_since`]). Call it on the sending thread.
    fn io_worker_cpu(&self) -> Option<IoWorkerCpu> {
        None
    }

    /// Strategies whose buffers the kernel holds by reference with no completion (`sendfile`,
    /// `splice`): the bytes a receiver may hold unread that they wait for beyond the ACK
    /// before rewriting a buffer (see [`receive_margin`]); `None` for the others.
    fn receive_margin(&self) -> Option<u64> {
        None
    }
}

/// Creates the strategy of a kind for messages of `msg_size` bytes. `fixed_buffers` (io_uring
/// zero-copy only, see [`crate::engine::PointParams::validate`]) registers the pool with the
/// ring, and `uring_depth` is the io_uring strategies' sends in flight per socket; the other
/// strategies ignore both.
pub fn new_strategy(
    kind: StrategyKind,
    msg_size: usize,
    align: Align,
    fixed_buffers: bool,
    uring_depth: usize,
) -> Box<dyn SendStrategy> {
    match kind {
        StrategyKind::TwoCopy => Box::new(TwoCopy::new(msg_size, align)),
        StrategyKind::ScatterGather => Box::new(ScatterGather::new()),
        StrategyKind::ZeroCopy => Box::new(ZeroCopy::new()),
        StrategyKind::UringSend => Box::new(Uring::copying(uring_depth)),
        StrategyKind::UringZc => Box::new(Uring::zero_copy(fixed_buffers, uring_depth)),
        StrategyKind::Sendfile => Box::new(Sendfile::new(None)),
        StrategyKind::Splice => Box::new(Splice::new(msg_size, false, None)),
    }
}

/// The strategy a point asks for, with every option the point sets ([`new_strategy`] plus
/// `--splice-gift` and the early-release test hook).
pub fn strategy_for(params: &crate::engine::PointParams) -> Box<dyn SendStrategy> {
    match params.strategy {
        StrategyKind::Sendfile => Box::new(Sendfile::new(params.early_release)),
        StrategyKind::Splice => Box::new(Splice::new(
            params.msg_size,
            params.splice_gift,
            params.early_release,
        )),
        kind => new_strategy(
            kind,
            params.msg_size,
            params.align,
            params.fixed_buffers,
            params.uring_depth(),
        ),
    }
}

/// Most fields handled on the stack; messages with more fields take one allocation per send.
const STACK_IOVECS: usize = 64;

/// Calls `f` with one `IoSlice` per field of `message`, without allocating for up to
/// [`STACK_IOVECS`] fields.
#[inline]
fn with_iovecs<R>(message: &Message, f: impl FnOnce(&mut [IoSlice<'_>]) -> R) -> R {
    let n = message.field_count();
    if n <= STACK_IOVECS {
        let mut iov = [IoSlice::new(&[]); STACK_IOVECS];
        for (slot, field) in iov.iter_mut().zip(message.fields()) {
            *slot = IoSlice::new(field);
        }
        f(&mut iov[..n])
    } else {
        let mut iov: Vec<IoSlice<'_>> = message.fields().map(IoSlice::new).collect();
        f(&mut iov)
    }
}

/// What one send call did, as the shared send loop needs it.
pub(crate) enum CallOutcome {
    /// The kernel took this many bytes (maybe fewer than offered: a partial write).
    Sent(usize),
    /// Nothing was sent and the call should be made again (`EINTR`, or a full notification
    /// budget the strategy has just dealt with).
    Again,
}

impl CallOutcome {
    /// A send system call's result: `EINTR` means "again", any other error is the caller's.
    pub(crate) fn of(
        result: rustix::io::Result<usize>,
        call: &'static str,
    ) -> Result<CallOutcome, StrategyError> {
        match result {
            Ok(n) => Ok(CallOutcome::Sent(n)),
            Err(rustix::io::Errno::INTR) => Ok(CallOutcome::Again),
            Err(e) => Err(StrategyError::io(call, e)),
        }
    }
}

/// The one send loop every strategy shares: offers `call` what is left of `iov` until the
/// kernel has taken every byte, resuming after partial writes (no byte sent twice or skipped)
/// and counting the calls.
#[inline]
pub(crate) fn send_all(
    mut iov: &mut [IoSlice<'_>],
    mut call: impl FnMut(&[IoSlice<'_>]) -> Result<CallOutcome, StrategyError>,
) -> Result<SendReport, StrategyError> {
    let mut report = SendReport::default();
    while !iov.is_empty() {
        report.calls += 1;
        if let CallOutcome::Sent(n) = call(iov)? {
            IoSlice::advance_slices(&mut iov, n);
        }
    }
    Ok(report)
}
