//! The copying strategies: two-copy (gather + `send`) and scatter-gather (`sendmsg`).

use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::net::SendFlags;

use super::{
    sendmsg_all, with_iovecs, SendReport, SendStrategy, Slot, StrategyError, StrategyKind,
};
use crate::message::{Align, Message, PlacedBuf};

/// The kernel copies during the call, so a slot is free again when `send` returns.
#[derive(Debug, Default)]
struct SyncSlots {
    returned: Vec<Slot>,
}

impl SyncSlots {
    fn give_back(&mut self, released: &mut Vec<Slot>) {
        released.append(&mut self.returned);
    }
}

/// Gathers the fields into one linear buffer with `memcpy`, then `send`s it: the user-space copy
/// plus the kernel's copy into socket buffers.
#[derive(Debug)]
pub struct TwoCopy {
    linear: PlacedBuf,
    slots: SyncSlots,
}

impl TwoCopy {
    /// `align` is the fields' placement; the gather buffer itself is always page-aligned, so the
    /// source/destination offset (and 4K aliasing) is fully set by `align`.
    pub fn new(msg_size: usize, _align: Align) -> TwoCopy {
        TwoCopy {
            linear: PlacedBuf::new(msg_size, 0),
            slots: SyncSlots::default(),
        }
    }
}

impl SendStrategy for TwoCopy {
    fn kind(&self) -> StrategyKind {
        StrategyKind::TwoCopy
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
        let linear = self.linear.as_mut_slice();
        assert_eq!(
            linear.len(),
            message.len(),
            "message size differs from the strategy's"
        );
        let mut at = 0;
        for field in message.fields() {
            let src = field.as_slice();
            linear[at..at + src.len()].copy_from_slice(src);
            at += src.len();
        }
        let mut report = SendReport::default();
        let mut rest: &[u8] = linear;
        while !rest.is_empty() {
            report.calls += 1;
            match rustix::net::send(socket, rest, SendFlags::NOSIGNAL) {
                Ok(n) => rest = &rest[n..],
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(StrategyError::io("send", e)),
            }
        }
        self.slots.returned.push(slot);
        Ok(report)
    }

    fn reap(
        &mut self,
        _: BorrowedFd<'_>,
        _: bool,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        self.slots.give_back(released);
        Ok(())
    }

    fn drain(
        &mut self,
        _: BorrowedFd<'_>,
        _: Duration,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        self.slots.give_back(released);
        Ok(())
    }
}

/// `sendmsg` with one iovec per field: no user-space copy, the kernel copies each field.
#[derive(Debug, Default)]
pub struct ScatterGather {
    slots: SyncSlots,
}

impl ScatterGather {
    pub fn new() -> ScatterGather {
        ScatterGather::default()
    }
}

impl SendStrategy for ScatterGather {
    fn kind(&self) -> StrategyKind {
        StrategyKind::ScatterGather
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
        let report = with_iovecs(message, |iov| sendmsg_all(socket, iov, SendFlags::NOSIGNAL))?;
        self.slots.returned.push(slot);
        Ok(report)
    }

    fn reap(
        &mut self,
        _: BorrowedFd<'_>,
        _: bool,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        self.slots.give_back(released);
        Ok(())
    }

    fn drain(
        &mut self,
        _: BorrowedFd<'_>,
        _: Duration,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        self.slots.give_back(released);
        Ok(())
    }
}
