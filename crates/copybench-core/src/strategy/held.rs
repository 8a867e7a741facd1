//! When a buffer that the kernel took *by reference* may be written again: `sendfile` (the
//! memory file's pages) and `vmsplice` + `splice` (the message's own pages) put page
//! references into the socket's skbs and give no completion.
//!
//! # The rule
//!
//! A TCP socket's pages are referenced by the sender's write and retransmit queues until the
//! peer acknowledges them: `ioctl(SIOCOUTQ)` says how many bytes written are not yet
//! acknowledged, so `written - SIOCOUTQ` bytes of the stream have been acknowledged. That is
//! not enough on one host: on loopback and veth the receiver's socket queues the *same*
//! pages (the skb is cloned, not copied), acknowledges them at once, and copies them out only
//! when the receiving program reads, maybe much later. Rewriting a stamp after the ACK then
//! changes bytes that have not been read yet (the corruption test shows it: releasing at the
//! ACK is caught by the receiver's check).
//!
//! What the receiver holds acknowledged but unread is bounded by its receive buffer:
//! `net.ipv4.tcp_rmem`'s maximum (autotuning) or twice `net.core.rmem_max` (`SO_RCVBUF`),
//! whichever is larger, plus one aggregated skb of slack. So a slot is released once
//! `acknowledged >= end of its message in the stream + margin`: by then the receiving program
//! has read past it, wherever it runs. (A remote receiver has its own copy at the ACK; the
//! rule is then conservative.) The pool must hold more than `margin` bytes, or the sender
//! would wait for ACKs of bytes it cannot send: [`PointParams::validate`] checks it and the
//! default pool for these strategies is sized for it.
//!
//! [`PointParams::validate`]: crate::engine::PointParams::validate

use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use super::{Slot, StrategyError};
use crate::sys;

/// One aggregated skb's worth of slack above the receive buffer (GRO and BIG TCP aggregate
/// up to 512 KiB): the receive queue may overshoot its limit by one skb.
const MARGIN_SLACK: u64 = 1 << 20;

/// How long a sender waits for the ACKs that free one slot before giving up.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

/// Bytes a receiver may hold acknowledged and unread, plus slack: see the module docs. Read
/// from this thread's network namespace (a fresh namespace starts with the host's defaults).
pub fn receive_margin() -> u64 {
    let read = |path: &str, field: usize| -> Option<u64> {
        std::fs::read_to_string(path)
            .ok()?
            .split_whitespace()
            .nth(field)?
            .parse()
            .ok()
    };
    // Where /proc cannot be read, the kernel's own defaults (6 MiB, 208 KiB).
    let tcp_rmem = read("/proc/sys/net/ipv4/tcp_rmem", 2).unwrap_or(6 << 20);
    let rmem_max = read("/proc/sys/net/core/rmem_max", 0).unwrap_or(212_992);
    tcp_rmem.max(2 * rmem_max) + MARGIN_SLACK
}

/// These strategies need a TCP socket: the rule reads `SIOCOUTQ`, and UDP has no
/// acknowledgement to wait for (a datagram delivered to a local socket keeps its pages
/// referenced until read, with nothing the sender can see).
pub(crate) fn require_tcp(
    socket: BorrowedFd<'_>,
    strategy: super::StrategyKind,
) -> Result<(), StrategyError> {
    let kind = rustix::net::sockopt::socket_type(socket)
        .map_err(|e| StrategyError::io("getsockopt(SO_TYPE)", e))?;
    if kind == rustix::net::SocketType::STREAM {
        Ok(())
    } else {
        Err(StrategyError::Unsupported {
            strategy,
            reason: "TCP only: nothing tells a UDP sender when the kernel has let go of its \
                     pages; use --protocol tcp"
                .into(),
        })
    }
}

/// **Test hook**: release slots earlier than the rule allows, to prove that the receiver
/// catches a page rewritten while the kernel still holds it.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EarlyRelease {
    /// As soon as the call returns (as a copying strategy does).
    Send,
    /// As soon as the peer acknowledged the message (`SIOCOUTQ` alone, no margin).
    Ack,
}

/// Slots in flight on one TCP socket, released by the rule above.
#[derive(Debug)]
pub(crate) struct HeldPages {
    /// Bytes handed to the socket so far.
    written: u64,
    /// Slots in send order, with the stream offset just past their message.
    in_flight: VecDeque<(u64, Slot)>,
    margin: u64,
    /// Bytes acknowledged at the last look.
    acked: u64,
    /// Test hook `EarlyRelease::Send`: slots go back as the call returns.
    at_send: Vec<Slot>,
    early: Option<EarlyRelease>,
}

impl HeldPages {
    pub(crate) fn new(early: Option<EarlyRelease>) -> HeldPages {
        HeldPages {
            written: 0,
            in_flight: VecDeque::new(),
            acked: 0,
            at_send: Vec::new(),
            early,
            margin: match early {
                None => receive_margin(),
                Some(_) => 0,
            },
        }
    }

    /// The margin in use (0 under the `Ack` test hook).
    pub(crate) fn margin(&self) -> u64 {
        self.margin
    }

    /// `slot`'s message of `len` bytes was handed to the socket in full.
    pub(crate) fn sent(&mut self, slot: Slot, len: usize) {
        self.written += len as u64;
        if self.early == Some(EarlyRelease::Send) {
            self.at_send.push(slot);
        } else {
            self.in_flight.push_back((self.written, slot));
        }
    }

    fn release(
        &mut self,
        socket: BorrowedFd<'_>,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        let unacked =
            sys::unacked_bytes(socket).map_err(|e| StrategyError::io("ioctl(SIOCOUTQ)", e))?;
        let acked = self.written.saturating_sub(unacked);
        self.acked = acked;
        while let Some(&(end, slot)) = self.in_flight.front() {
            if end + self.margin > acked {
                break;
            }
            self.in_flight.pop_front();
            released.push(slot);
        }
        Ok(())
    }

    /// Appends the slots the rule releases; with `wait`, polls (sleeping, no spinning) until
    /// at least one is, for at most [`RELEASE_WAIT`].
    pub(crate) fn reap(
        &mut self,
        socket: BorrowedFd<'_>,
        wait: bool,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        let before = released.len();
        released.append(&mut self.at_send);
        self.release(socket, released)?;
        if !wait || released.len() > before || self.in_flight.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut nap = Duration::from_micros(20);
        while released.len() == before {
            if started.elapsed() > RELEASE_WAIT {
                let needed = self
                    .in_flight
                    .front()
                    .map_or(0, |&(end, _)| end + self.margin);
                return Err(StrategyError::io(
                    "ioctl(SIOCOUTQ)",
                    std::io::Error::other(format!(
                        "no buffer released after {RELEASE_WAIT:?}: {} of {} bytes written are \
                         acknowledged, {needed} must be (the receive margin is {} bytes); is \
                         the receiver reading?",
                        self.acked, self.written, self.margin
                    )),
                ));
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(1));
            self.release(socket, released)?;
        }
        Ok(())
    }

    /// At the end: waits (up to `timeout`) until the peer acknowledged everything, then
    /// returns every slot. The receiver then reads to the end of the stream before the
    /// sender drops its pool (the engine waits for it to close), and nothing is rewritten.
    pub(crate) fn drain(
        &mut self,
        socket: BorrowedFd<'_>,
        timeout: Duration,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        released.append(&mut self.at_send);
        let started = Instant::now();
        loop {
            let unacked =
                sys::unacked_bytes(socket).map_err(|e| StrategyError::io("ioctl(SIOCOUTQ)", e))?;
            if unacked == 0 || started.elapsed() > timeout {
                released.extend(self.in_flight.drain(..).map(|(_, slot)| slot));
                return if unacked == 0 {
                    Ok(())
                } else {
                    Err(StrategyError::io(
                        "ioctl(SIOCOUTQ)",
                        std::io::Error::other(format!(
                            "{unacked} bytes still unacknowledged after {timeout:?}"
                        )),
                    ))
                };
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
