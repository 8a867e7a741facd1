//! `sendmsg(MSG_ZEROCOPY)` with completions read from the socket error queue.
//!
//! A slot's buffers stay pinned by the kernel until every send that used them has completed;
//! only then is the slot released for reuse. `ENOBUFS` (the notification budget,
//! `net.core.optmem_max`, is full) is answered by reaping completions and retrying.

use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::SendFlags;

use super::errqueue::{parse_control, CompletionTracker};
use super::{
    send_all, with_iovecs, CallOutcome, SendReport, SendStrategy, Slot, StrategyError, StrategyKind,
};
use crate::message::Message;
use crate::result::ZeroCopyStats;
use crate::sys::{self, ErrQueueRead};

/// How long a sender may wait for one completion when every buffer is in flight; a healthy
/// connection completes within milliseconds, so this only ends a stuck run.
const COMPLETION_WAIT: Duration = Duration::from_secs(10);
/// How long `ENOBUFS` may persist with nothing of ours in flight before giving up: then the
/// budget is too small for even one notification.
const ENOBUFS_GIVE_UP: Duration = Duration::from_secs(5);

/// Checks that this kernel accepts `SO_ZEROCOPY` on a TCP socket (for `copybench doctor`).
pub fn probe_support() -> Result<(), StrategyError> {
    let io = |call| move |e| StrategyError::io(call, e);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("bind"))?;
    let addr = listener.local_addr().map_err(io("getsockname"))?;
    let socket = std::net::TcpStream::connect(addr).map_err(io("connect"))?;
    ZeroCopy::new().prepare(std::os::fd::AsFd::as_fd(&socket))
}

/// The MSG_ZEROCOPY strategy; see the module docs.
#[derive(Debug)]
pub struct ZeroCopy {
    tracker: CompletionTracker,
    /// Slots in send order, with the sequence number of the last send that used each.
    in_flight: VecDeque<(u32, Slot)>,
    released: Vec<Slot>,
    stats: ZeroCopyStats,
    control: Vec<u8>,
}

impl Default for ZeroCopy {
    fn default() -> Self {
        ZeroCopy::new()
    }
}

impl ZeroCopy {
    /// The MSG_ZEROCOPY strategy, with nothing in flight.
    pub fn new() -> ZeroCopy {
        ZeroCopy {
            tracker: CompletionTracker::default(),
            in_flight: VecDeque::new(),
            released: Vec::new(),
            stats: ZeroCopyStats::default(),
            // Room for many coalesced notifications in one read.
            control: vec![0; 4096],
        }
    }

    /// Reads every queued notification without blocking; releases slots that completed.
    fn read_completions(&mut self, socket: BorrowedFd<'_>) -> Result<(), StrategyError> {
        loop {
            match sys::recv_errqueue(socket, &mut self.control)
                .map_err(|e| StrategyError::io("recvmsg(MSG_ERRQUEUE)", e))?
            {
                ErrQueueRead::Empty => break,
                ErrQueueRead::Control { len, truncated } => {
                    if truncated {
                        return Err(super::ErrQueueError::Malformed(
                            "control data truncated (MSG_CTRUNC)".into(),
                        )
                        .into());
                    }
                    for c in parse_control(&self.control[..len])? {
                        self.tracker.on_completion(&c)?;
                        self.stats.notifications += 1;
                        self.stats.completions += c.count();
                        if c.copied {
                            self.stats.copied += c.count();
                        }
                    }
                }
            }
        }
        while let Some(&(last, slot)) = self.in_flight.front() {
            if !self.tracker.completed_through(last) {
                break;
            }
            self.in_flight.pop_front();
            self.released.push(slot);
        }
        Ok(())
    }

    /// Blocks in `poll` until the error queue has something or `timeout` passes.
    fn wait_for_errqueue(socket: BorrowedFd<'_>, timeout: Duration) -> Result<(), StrategyError> {
        let ts = rustix::time::Timespec {
            tv_sec: timeout.as_secs() as _,
            tv_nsec: timeout.subsec_nanos() as _,
        };
        // POLLERR is always reported; asking for nothing else means we wake only for it.
        let mut fds = [PollFd::new(&socket, PollFlags::ERR)];
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(_) | Err(Errno::INTR) => Ok(()),
            Err(e) => Err(StrategyError::io("poll", e)),
        }
    }

    /// `ENOBUFS`: reap what completed, and if nothing did, wait for a notification (or, with
    /// nothing of ours in flight, briefly for other sockets to free the budget).
    fn on_enobufs(&mut self, socket: BorrowedFd<'_>, since: Instant) -> Result<(), StrategyError> {
        self.stats.enobufs += 1;
        self.read_completions(socket)?;
        if self.tracker.outstanding() > 0 {
            Self::wait_for_errqueue(socket, Duration::from_millis(10))?;
            self.read_completions(socket)
        } else if since.elapsed() > ENOBUFS_GIVE_UP {
            Err(StrategyError::io(
                "sendmsg(MSG_ZEROCOPY)",
                std::io::Error::other(format!(
                    "ENOBUFS for {ENOBUFS_GIVE_UP:?} with no completion pending: \
                     net.core.optmem_max is too small for even one notification; raise it"
                )),
            ))
        } else {
            std::thread::sleep(Duration::from_millis(1));
            Ok(())
        }
    }
}

impl SendStrategy for ZeroCopy {
    fn kind(&self) -> StrategyKind {
        StrategyKind::ZeroCopy
    }

    fn prepare(&mut self, socket: BorrowedFd<'_>) -> Result<(), StrategyError> {
        sys::enable_zerocopy(socket).map_err(|e| StrategyError::Unsupported {
            strategy: StrategyKind::ZeroCopy,
            reason: format!(
                "setsockopt(SO_ZEROCOPY) failed: {e}; the kernel needs MSG_ZEROCOPY support (Linux 4.14+ for TCP)"
            ),
        })
    }

    fn send(
        &mut self,
        socket: BorrowedFd<'_>,
        message: &Message,
        slot: Slot,
    ) -> Result<SendReport, StrategyError> {
        let flags = SendFlags::from_bits_retain(libc::MSG_ZEROCOPY as u32) | SendFlags::NOSIGNAL;
        let mut last_seq = None;
        let mut enobufs_since = None;
        let report = with_iovecs(message, |iov| {
            let mut control = rustix::net::SendAncillaryBuffer::default();
            send_all(iov, |rest| {
                match rustix::net::sendmsg(socket, rest, &mut control, flags) {
                    Err(Errno::NOBUFS) => {
                        let since = *enobufs_since.get_or_insert_with(Instant::now);
                        self.on_enobufs(socket, since)?;
                        Ok(CallOutcome::Again)
                    }
                    result => {
                        if matches!(result, Ok(n) if n > 0) {
                            // Each call that moved a byte takes the next sequence number.
                            last_seq = Some(self.tracker.on_send());
                            self.stats.sends += 1;
                            enobufs_since = None;
                        }
                        CallOutcome::of(result, "sendmsg(MSG_ZEROCOPY)")
                    }
                }
            })
        })?;
        let last = last_seq.expect("a message has at least one byte, so at least one send");
        self.in_flight.push_back((last, slot));
        Ok(report)
    }

    fn reap(
        &mut self,
        socket: BorrowedFd<'_>,
        wait: bool,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        self.read_completions(socket)?;
        if wait && self.released.is_empty() && !self.in_flight.is_empty() {
            let started = Instant::now();
            while self.released.is_empty() {
                if started.elapsed() > COMPLETION_WAIT {
                    return Err(StrategyError::MissingCompletions {
                        outstanding: self.tracker.outstanding(),
                        waited: COMPLETION_WAIT,
                    });
                }
                Self::wait_for_errqueue(socket, Duration::from_millis(100))?;
                self.read_completions(socket)?;
            }
        }
        released.append(&mut self.released);
        Ok(())
    }

    fn drain(
        &mut self,
        socket: BorrowedFd<'_>,
        timeout: Duration,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        let started = Instant::now();
        self.read_completions(socket)?;
        while !self.in_flight.is_empty() {
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                released.append(&mut self.released);
                return Err(StrategyError::MissingCompletions {
                    outstanding: self.tracker.outstanding(),
                    waited: timeout,
                });
            }
            Self::wait_for_errqueue(socket, left.min(Duration::from_millis(100)))?;
            self.read_completions(socket)?;
        }
        released.append(&mut self.released);
        Ok(())
    }

    fn zerocopy_stats(&self) -> Option<ZeroCopyStats> {
        let mut stats = self.stats.clone();
        stats.copied_ratio =
            (stats.completions > 0).then(|| stats.copied as f64 / stats.completions as f64);
        Some(stats)
    }
}
