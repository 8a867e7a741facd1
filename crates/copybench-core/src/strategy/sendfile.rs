//! `sendfile`: the pool lives in a memory file (`memfd`), each message one range of it, and
//! each message is `sendfile` of its range to the TCP socket, as a file server sends a file.
//!
//! The kernel puts references to the file's pages into the socket's skbs and gives no
//! completion, so a slot (its stamp rewritten for the next message) is released only when
//! the rule in [`super::held`] says the peer has read past it.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::io::Errno;

use super::held::{EarlyRelease, HeldPages};
use super::{SendReport, SendStrategy, Slot, StrategyError, StrategyKind};
use crate::message::Message;

/// The sendfile strategy; see the module docs.
#[derive(Debug)]
pub struct Sendfile {
    held: HeldPages,
}

impl Sendfile {
    /// `early` is the test hook that breaks the release rule on purpose (`None` to measure).
    pub fn new(early: Option<EarlyRelease>) -> Sendfile {
        Sendfile {
            held: HeldPages::new(early),
        }
    }
}

impl SendStrategy for Sendfile {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Sendfile
    }

    fn prepare(&mut self, socket: BorrowedFd<'_>) -> Result<(), StrategyError> {
        // The release rule reads SIOCOUTQ, which only a TCP socket answers as needed.
        super::held::require_tcp(socket, StrategyKind::Sendfile)
    }

    fn send(
        &mut self,
        socket: BorrowedFd<'_>,
        message: &Message,
        slot: Slot,
    ) -> Result<SendReport, StrategyError> {
        let (file, mut offset, len) =
            message
                .file_range()
                .ok_or_else(|| StrategyError::Unsupported {
                    strategy: StrategyKind::Sendfile,
                    reason: "the message is not one range of a memory file (the pool must be \
                             built in PoolMemory::MemFile with the packed placement)"
                        .into(),
                })?;
        let end = offset + len as u64;
        let mut report = SendReport::default();
        while offset < end {
            report.calls += 1;
            let left = (end - offset) as usize;
            match rustix::fs::sendfile(socket, file, Some(&mut offset), left) {
                Ok(0) => {
                    return Err(StrategyError::io(
                        "sendfile",
                        std::io::Error::other("sendfile sent nothing before the end of the range"),
                    ))
                }
                // `offset` has moved past what was sent.
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(StrategyError::io("sendfile", e)),
            }
        }
        self.held.sent(slot, len);
        Ok(report)
    }

    fn reap(
        &mut self,
        socket: BorrowedFd<'_>,
        wait: bool,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        self.held.reap(socket, wait, released)
    }

    fn drain(
        &mut self,
        socket: BorrowedFd<'_>,
        timeout: Duration,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        self.held.drain(socket, timeout, released)
    }

    fn receive_margin(&self) -> Option<u64> {
        Some(self.held.margin())
    }
}
