//! Four socket calls rustix does not wrap (the other `unsafe` in copybench-core is the
//! io_uring submission in `strategy/uring.rs`, the pool mappings in `mapping.rs` and
//! `vmsplice` in `strategy/splice.rs`).
//!
//! - `setsockopt(SO_ZEROCOPY)`: rustix has no typed option for it.
//! - `ioctl(SIOCOUTQ)`: a TCP socket's bytes not yet acknowledged (unsent included), which
//!   tells `sendfile` and `splice` when the peer has their pages (see `strategy/held.rs`).
//! - `setsockopt(UDP_SEGMENT)`: rustix has no typed option for it (`--udp-gso`).
//! - `recvmsg(MSG_ERRQUEUE)`: rustix's ancillary-data parser cannot read `IP_RECVERR`
//!   messages, so the raw control bytes are read here and parsed, safely, in
//!   [`crate::strategy::errqueue`].

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `SO_ZEROCOPY` from `<asm-generic/socket.h>` (libc has it, spelt the same).
const SO_ZEROCOPY: libc::c_int = libc::SO_ZEROCOPY;

/// `setsockopt(level, name)` with an `int` value: the one place such an option is set
/// (`SO_ZEROCOPY`, `UDP_SEGMENT`, and the receive strategies' `SO_RCVLOWAT`, `TCP_MAXSEG`).
pub(crate) fn set_int_option(
    socket: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the value points at a c_int that outlives the call, with its exact size; the
    // descriptor is borrowed, so it stays open.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets `SO_ZEROCOPY` on a socket, which `MSG_ZEROCOPY` sends need.
pub fn enable_zerocopy(socket: BorrowedFd<'_>) -> io::Result<()> {
    set_int_option(socket, libc::SOL_SOCKET, SO_ZEROCOPY, 1)
}

/// What one error-queue read returned.
pub enum ErrQueueRead {
    /// Nothing queued (`EAGAIN`).
    Empty,
    /// A message whose control data fills the first `len` bytes of the buffer.
    Control { len: usize, truncated: bool },
}

/// Reads one message from the socket's error queue without blocking; its control data (the
/// `sock_extended_err` records) lands in `control`.
pub fn recv_errqueue(socket: BorrowedFd<'_>, control: &mut [u8]) -> io::Result<ErrQueueRead> {
    // SAFETY: a zeroed msghdr is a valid empty message header (no name, no iovecs).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control.len() as _;
    loop {
        // SAFETY: `msg` points only at `control`, which is valid and writable for its stated
        // length for the whole call; the descriptor is borrowed, so it stays open.
        let rc = unsafe {
            libc::recvmsg(
                socket.as_raw_fd(),
                &mut msg,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        };
        if rc >= 0 {
            return Ok(ErrQueueRead::Control {
                len: (msg.msg_controllen as usize).min(control.len()),
                truncated: msg.msg_flags & libc::MSG_CTRUNC != 0,
            });
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(ErrQueueRead::Empty),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}

/// `ioctl(SIOCOUTQ)` on a TCP socket: bytes written and not yet acknowledged by the peer
/// (`write_seq - snd_una`), unsent bytes included.
pub fn unacked_bytes(socket: BorrowedFd<'_>) -> io::Result<u64> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) writes one c_int through the pointer, which points at `n`
    // for the whole call; the descriptor is borrowed, so it stays open.
    let rc = unsafe {
        libc::ioctl(
            socket.as_raw_fd(),
            libc::TIOCOUTQ,
            &mut n as *mut libc::c_int,
        )
    };
    if rc == 0 {
        Ok(n.max(0) as u64)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `UDP_SEGMENT` from `<linux/udp.h>` (libc does not have it).
const UDP_SEGMENT: libc::c_int = 103;

/// Sets `UDP_SEGMENT` on a UDP socket: every send is cut by the kernel (or the device) into
/// datagrams of `size` bytes, the last one shorter (generic segmentation offload).
pub fn set_udp_segment(socket: BorrowedFd<'_>, size: u16) -> io::Result<()> {
    set_int_option(socket, libc::SOL_UDP, UDP_SEGMENT, size.into())
}
