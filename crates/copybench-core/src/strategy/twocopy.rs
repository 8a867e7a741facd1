//! The copying strategies: two-copy (gather + `send`) and scatter-gather (`sendmsg`).

use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::net::SendFlags;

use super::{
    send_all, with_iovecs, CallOutcome, SendReport, SendStrategy, Slot, StrategyError, StrategyKind,
};
use crate::message::{Align, Message, PlacedBuf};
use std::io::IoSlice;

/// A strategy whose kernel copy is done when the call returns: slots come back at once.
/// Both copying strategies get their [`SendStrategy`] implementation from this.
trait CopyingSend: Send {
    const KIND: StrategyKind;

    /// Hands every byte of `message` to the kernel.
    fn send_copying(
        &mut self,
        socket: BorrowedFd<'_>,
        message: &Message,
    ) -> Result<SendReport, StrategyError>;

    /// Slots sent since the last `reap`.
    fn returned(&mut self) -> &mut Vec<Slot>;
}

impl<T: CopyingSend> SendStrategy for T {
    fn kind(&self) -> StrategyKind {
        T::KIND
    }

    fn prepare(&mut self, _socket: BorrowedFd<'_>) -> Result<(), StrategyError> {
        Ok(())
    }

    fn send(
        &mut self,
        socket: BorrowedFd<'_>,
        message: &Message,
        slot: Slot,
    ) -> Result<SendReport, StrategyError> {
        let report = self.send_copying(socket, message)?;
        self.returned().push(slot);
        Ok(report)
    }

    fn reap(
        &mut self,
        _: BorrowedFd<'_>,
        _: bool,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        released.append(self.returned());
        Ok(())
    }

    fn reap_is_free(&self) -> bool {
        true
    }

    fn drain(
        &mut self,
        _: BorrowedFd<'_>,
        _: Duration,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        released.append(self.returned());
        Ok(())
    }
}

/// Gathers the fields into one linear buffer with `memcpy`, then `send`s it: the user-space copy
/// plus the kernel's copy into socket buffers.
#[derive(Debug)]
pub struct TwoCopy {
    linear: PlacedBuf,
    returned: Vec<Slot>,
}

impl TwoCopy {
    /// `align` is the fields' placement; the gather buffer itself is always page-aligned, so the
    /// source/destination offset (and 4K aliasing) is fully set by `align`.
    pub fn new(msg_size: usize, _align: Align) -> TwoCopy {
        TwoCopy {
            linear: PlacedBuf::new(msg_size, 0),
            returned: Vec::new(),
        }
    }
}

impl CopyingSend for TwoCopy {
    const KIND: StrategyKind = StrategyKind::TwoCopy;

    fn send_copying(
        &mut self,
        socket: BorrowedFd<'_>,
        message: &Message,
    ) -> Result<SendReport, StrategyError> {
        let linear = self.linear.as_mut_slice();
        assert_eq!(
            linear.len(),
            message.len(),
            "message size differs from the strategy's"
        );
        let mut at = 0;
        for src in message.fields() {
            linear[at..at + src.len()].copy_from_slice(src);
            at += src.len();
        }
        // One linear buffer, sent with `send` (a one-element iovec only for the shared loop).
        send_all(&mut [IoSlice::new(linear)], |rest| {
            CallOutcome::of(
                rustix::net::send(socket, &rest[0], SendFlags::NOSIGNAL),
                "send",
            )
        })
    }

    fn returned(&mut self) -> &mut Vec<Slot> {
        &mut self.returned
    }
}

/// `sendmsg` with one iovec per field: no user-space copy, the kernel copies each field.
#[derive(Debug, Default)]
pub struct ScatterGather {
    returned: Vec<Slot>,
}

impl ScatterGather {
    /// The scatter-gather strategy.
    pub fn new() -> ScatterGather {
        ScatterGather::default()
    }
}

impl CopyingSend for ScatterGather {
    const KIND: StrategyKind = StrategyKind::ScatterGather;

    fn send_copying(
        &mut self,
        socket: BorrowedFd<'_>,
        message: &Message,
    ) -> Result<SendReport, StrategyError> {
        with_iovecs(message, |iov| {
            let mut control = rustix::net::SendAncillaryBuffer::default();
            send_all(iov, |rest| {
                CallOutcome::of(
                    rustix::net::sendmsg(socket, rest, &mut control, SendFlags::NOSIGNAL),
                    "sendmsg",
                )
            })
        })
    }

    fn returned(&mut self) -> &mut Vec<Slot> {
        &mut self.returned
    }
}
