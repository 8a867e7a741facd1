//! The system calls of the `zerocopy` receive strategy, which rustix does not wrap: `mmap` of
//! a TCP socket, `getsockopt(TCP_ZEROCOPY_RECEIVE)`, `madvise(MADV_DONTNEED)`, and the two
//! integer socket options it sets (`SO_RCVLOWAT`, `TCP_MAXSEG`). Every `unsafe` block of the
//! receive strategies is here, each with its `SAFETY` reason; the rest of the module is safe.
//!
//! Reference (read, not copied): the kernel selftest `tools/testing/selftests/net/tcp_mmap.c`
//! and neper's `-z`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// Mappings of the socket start on this boundary (as `tcp_mmap.c` aligns them, to a huge page),
/// so that the pages the kernel inserts line up with the page tables' larger units.
pub const MAP_ALIGN: usize = 2 << 20;

/// `struct tcp_zerocopy_receive` of `<linux/tcp.h>` (Linux 5.11 and later: 64 bytes). Older
/// kernels read its first fields only; the rest is zero, which every kernel takes as "unused".
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct TcpZeroCopyReceive {
    /// In: the mapping's address (page aligned).
    address: u64,
    /// In: bytes to map at most; out: bytes mapped.
    length: u32,
    /// Out: bytes to read with a copy before the next mappable byte.
    recv_skip_hint: u32,
    /// Out: bytes in the receive queue.
    inq: u32,
    /// Out: a pending socket error.
    err: i32,
    /// In: a copy buffer for small remainders (unused here: the remainder is read).
    copybuf_address: u64,
    copybuf_len: i32,
    flags: u32,
    msg_control: u64,
    msg_controllen: u64,
    msg_flags: u32,
    reserved: u32,
}

/// What one `getsockopt(TCP_ZEROCOPY_RECEIVE)` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZcStep {
    /// Bytes now mapped at the start of the mapping (a multiple of the page size).
    pub mapped: usize,
    /// Bytes that must be copied (read) before the next mappable one.
    pub skip: usize,
    /// Bytes still in the receive queue.
    pub inq: usize,
}

/// A read-only shared mapping of a TCP socket, in which the kernel inserts receive-queue pages.
/// Unmapped on drop.
pub struct SocketMapping {
    raw: *mut libc::c_void,
    raw_len: usize,
    /// The first [`MAP_ALIGN`]-aligned address inside the mapping.
    base: *const u8,
    len: usize,
    /// Bytes the last `receive` mapped at `base` (0 after `release`).
    mapped: usize,
}

impl SocketMapping {
    /// Maps `len` bytes (a multiple of the page size) of `socket`, [`MAP_ALIGN`]-aligned.
    pub fn new(socket: BorrowedFd<'_>, len: usize) -> io::Result<SocketMapping> {
        let raw_len = len + MAP_ALIGN;
        // SAFETY: a fresh mapping chosen by the kernel (null hint), of a descriptor that is
        // open for the call (borrowed); nothing in this process refers to that range yet.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                raw_len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                socket.as_raw_fd(),
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let offset = (MAP_ALIGN - (raw as usize % MAP_ALIGN)) % MAP_ALIGN;
        Ok(SocketMapping {
            raw,
            raw_len,
            // In bounds: offset < MAP_ALIGN, and the mapping is len + MAP_ALIGN long.
            base: (raw as *const u8).wrapping_add(offset),
            len,
            mapped: 0,
        })
    }

    /// Bytes the kernel may map per call.
    pub fn capacity(&self) -> usize {
        self.len
    }

    /// Asks the kernel to map up to `want` bytes of the receive queue at the mapping's start.
    /// What was mapped before is released first (the kernel would zap it itself).
    pub fn receive(&mut self, socket: BorrowedFd<'_>, want: usize) -> io::Result<ZcStep> {
        self.release()?;
        let mut zc = TcpZeroCopyReceive {
            address: self.base as u64,
            length: want.min(self.len).min(u32::MAX as usize) as u32,
            ..TcpZeroCopyReceive::default()
        };
        let mut len = std::mem::size_of::<TcpZeroCopyReceive>() as libc::socklen_t;
        // SAFETY: `zc` is a live, writable struct of exactly `len` bytes for the whole call,
        // and `len` a live socklen_t; the address it names lies inside this mapping, whose
        // pages the kernel replaces: no slice into them is alive (`mapped` borrows `self`,
        // and this takes `&mut self`).
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_ZEROCOPY_RECEIVE,
                (&mut zc as *mut TcpZeroCopyReceive).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        if zc.err != 0 {
            return Err(io::Error::from_raw_os_error(zc.err));
        }
        self.mapped = (zc.length as usize).min(self.len);
        Ok(ZcStep {
            mapped: zc.length as usize,
            skip: zc.recv_skip_hint as usize,
            inq: zc.inq as usize,
        })
    }

    /// The bytes the last [`receive`](Self::receive) mapped, read-only.
    pub fn mapped(&self) -> &[u8] {
        // SAFETY: [base, base + mapped) lies inside the mapping (mapped <= len, and base +
        // len <= raw + raw_len); the kernel filled it with receive-queue pages in the last
        // `receive`, which reported that many bytes mapped. They stay mapped, unchanged, until
        // the next `receive` or `release`, which take `&mut self` and so cannot run while this
        // borrow of `self` lives.
        unsafe { std::slice::from_raw_parts(self.base, self.mapped) }
    }

    /// Gives the mapped pages back to the kernel now (`MADV_DONTNEED`) rather than at the
    /// next `receive`, which would zap them itself: cheaper, as `tcp_mmap.c` says, and the
    /// socket's memory is freed at once.
    pub fn release(&mut self) -> io::Result<()> {
        if self.mapped == 0 {
            return Ok(());
        }
        // SAFETY: [base, base + mapped) is inside this mapping (see `mapped`), and no slice
        // into it is alive (`&mut self`); dropping its pages only makes a later read fault
        // (the socket mapping has no fault handler), and nothing reads it until the kernel
        // maps new pages there.
        let rc = unsafe {
            libc::madvise(
                self.base as *mut libc::c_void,
                self.mapped,
                libc::MADV_DONTNEED,
            )
        };
        self.mapped = 0;
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl Drop for SocketMapping {
    fn drop(&mut self) {
        // SAFETY: `raw`/`raw_len` are exactly what mmap returned and was asked for; no slice
        // into the mapping outlives `self` (they borrow it).
        unsafe {
            libc::munmap(self.raw, self.raw_len);
        }
    }
}

/// Waits until `socket` is readable (data at its low-water mark, or the end of the stream).
/// `Ok(false)` when `timeout` passed first.
pub fn wait_readable(socket: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut fds = [rustix::event::PollFd::new(
        &socket,
        rustix::event::PollFlags::IN,
    )];
    let ts = rustix::event::Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: timeout.subsec_nanos() as i64,
    };
    loop {
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(n) => return Ok(n > 0),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

pub(crate) use crate::sys::set_int_option;

/// `getsockopt(TCP_INFO)`'s `tcpi_rcv_mss`: the kernel's estimate of the peer's segment
/// payload (the largest segment or GSO size seen, at most the MSS this side advertised).
pub fn tcp_rcv_mss(socket: BorrowedFd<'_>) -> io::Result<u32> {
    // SAFETY: tcp_info is plain old data (integers only): all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` and `len` are live and writable for the call, `len` its exact size (the
    // kernel writes at most that many bytes, and says how many in `len`).
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(info.tcpi_rcv_mss)
    } else {
        Err(io::Error::last_os_error())
    }
}
