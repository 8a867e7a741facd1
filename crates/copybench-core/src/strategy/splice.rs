//! `vmsplice` + `splice`: the message's fields go into a pipe by reference (`vmsplice` maps
//! the user pages into pipe buffers, no copy), then `splice` moves those pipe buffers into the
//! TCP socket, whose skbs then reference the same user pages.
//!
//! With `SPLICE_F_GIFT` (`--splice-gift`) the pages are offered to the kernel as a gift. The
//! kernel only makes use of a gift when splicing into a file (page cache); a socket references
//! the pages exactly as without it, so the same release rule ([`super::held`]) keeps a page
//! from being rewritten while the kernel or an unread receive queue still holds it. The kernel
//! does not check the gift's alignment (the man page asks for whole pages): the flag is
//! recorded per point, and the figures say whether it changes anything on this path.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::io::Errno;
use rustix::pipe::SpliceFlags;

use super::held::{EarlyRelease, HeldPages};
use super::{SendReport, SendStrategy, Slot, StrategyError, StrategyKind};
use crate::message::{Message, PAGE_SIZE};

/// Most iovecs one `vmsplice` call is given (more fields take more calls).
const IOVECS_PER_CALL: usize = 64;
/// Largest pipe asked for: `fs.pipe-max-size`'s default.
const MAX_PIPE: usize = 1 << 20;

/// The splice strategy; see the module docs.
#[derive(Debug)]
pub struct Splice {
    gift: bool,
    /// Read end, write end; made in `prepare`.
    pipe: Option<(OwnedFd, OwnedFd)>,
    msg_size: usize,
    held: HeldPages,
}

impl Splice {
    /// Messages of `msg_size` bytes; `gift` adds `SPLICE_F_GIFT` to every `vmsplice`.
    /// `early` is the test hook that breaks the release rule on purpose.
    pub fn new(msg_size: usize, gift: bool, early: Option<EarlyRelease>) -> Splice {
        Splice {
            gift,
            pipe: None,
            msg_size,
            held: HeldPages::new(early),
        }
    }

    /// Moves `n` bytes from the pipe into the socket (`more`: the message goes on after them).
    fn drain_pipe(
        pipe: BorrowedFd<'_>,
        socket: BorrowedFd<'_>,
        mut n: usize,
        more: bool,
        report: &mut SendReport,
    ) -> Result<(), StrategyError> {
        while n > 0 {
            report.calls += 1;
            // MORE while the message goes on after what is in the pipe.
            let flags = if more {
                SpliceFlags::MOVE | SpliceFlags::MORE
            } else {
                SpliceFlags::MOVE
            };
            match rustix::pipe::splice(pipe, None, socket, None, n, flags) {
                Ok(0) => {
                    return Err(StrategyError::io(
                        "splice",
                        std::io::Error::other("splice moved nothing with bytes in the pipe"),
                    ))
                }
                Ok(m) => n -= m,
                Err(Errno::INTR) => {}
                Err(e) => return Err(StrategyError::io("splice", e)),
            }
        }
        Ok(())
    }
}

impl SendStrategy for Splice {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Splice
    }

    fn prepare(&mut self, socket: BorrowedFd<'_>) -> Result<(), StrategyError> {
        super::held::require_tcp(socket, StrategyKind::Splice)?;
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| StrategyError::io("pipe2", e))?;
        // A pipe that holds a whole message where it can (64 KiB by default): fewer calls.
        // Refused (above fs.pipe-max-size without CAP_SYS_RESOURCE), it stays as it is.
        let want = self
            .msg_size
            .next_multiple_of(PAGE_SIZE)
            .clamp(64 << 10, MAX_PIPE);
        let _ = rustix::pipe::fcntl_setpipe_size(&write, want);
        self.pipe = Some((read, write));
        Ok(())
    }

    fn send(
        &mut self,
        socket: BorrowedFd<'_>,
        message: &Message,
        slot: Slot,
    ) -> Result<SendReport, StrategyError> {
        let (read, write) = self.pipe.as_ref().expect("prepare made the pipe");
        let (read, write) = (read.as_fd(), write.as_fd());
        let flags = if self.gift { libc::SPLICE_F_GIFT } else { 0 };
        let mut report = SendReport::default();
        let total = message.len();
        let mut done = 0usize;
        // (field, offset in it) of the first byte not yet in the pipe.
        let (mut field, mut within) = (0usize, 0usize);
        let fields = message.field_count();
        while field < fields {
            let mut iov = [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; IOVECS_PER_CALL];
            let mut count = 0;
            for (i, slot_iov) in iov.iter_mut().enumerate() {
                let f = field + i;
                if f >= fields {
                    break;
                }
                let bytes = &message.field(f)[if i == 0 { within } else { 0 }..];
                slot_iov.iov_base = bytes.as_ptr() as *mut libc::c_void;
                slot_iov.iov_len = bytes.len();
                count += 1;
            }
            report.calls += 1;
            // SAFETY: every iovec points into a field of `message`, borrowed for this call, and
            // lies within it; vmsplice into the pipe's write end only reads that memory. The
            // caller does not write the slot until the release rule hands it back (the pages
            // stay referenced by the pipe and then the socket). Both descriptors are borrowed.
            let rc = unsafe { libc::vmsplice(write.as_raw_fd(), iov.as_ptr(), count, flags) };
            let n = if rc < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(StrategyError::io("vmsplice", e));
            } else {
                rc as usize
            };
            if n == 0 {
                return Err(StrategyError::io(
                    "vmsplice",
                    std::io::Error::other("vmsplice took nothing into an empty pipe"),
                ));
            }
            // Advance past the n bytes now in the pipe.
            let mut left = n;
            while left > 0 {
                let rest = message.field(field).len() - within;
                if left >= rest {
                    left -= rest;
                    field += 1;
                    within = 0;
                } else {
                    within += left;
                    left = 0;
                }
            }
            done += n;
            Self::drain_pipe(read, socket, n, done < total, &mut report)?;
        }
        self.held.sent(slot, total);
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
