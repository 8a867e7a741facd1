//! The receive strategies (`--receive`): how a TCP receiver takes the payload off its socket.
//!
//! - `read`: `read(2)` into a user buffer, as iperf3 and nuttcp read.
//! - `trunc`: `recv(MSG_TRUNC)`, the kernel drops the bytes (neper's `--skip-rx-copy`).
//! - `zerocopy`: `TCP_ZEROCOPY_RECEIVE`. The receiver maps its socket once (read-only, shared,
//!   [`MAP_ALIGN`]-aligned, one read size long), and per step asks the kernel to insert the
//!   receive queue's pages there (`getsockopt`); what cannot be mapped (a partial page, a
//!   page the kernel refuses, such as a compound page-frag page) is reported as
//!   `recv_skip_hint` and read with `read(2)` into the copy buffer. Mapped and copied bytes go
//!   through the same check, in stream order; the mapped pages are given back with
//!   `MADV_DONTNEED` after each step. The mapped share is counted, never assumed: a step that
//!   maps nothing copies, and `mapped_bytes` says so. Where the kernel refuses the mapping or
//!   the option, the point is unsupported ([`ReceiveSetupError::Unsupported`]).
//!
//! The `unsafe` calls are all in `sys.rs`.

#[allow(unsafe_code)] // mmap, getsockopt(TCP_ZEROCOPY_RECEIVE), madvise, setsockopt: SAFETY on each
mod sys;

use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::Duration;

use rustix::net::RecvFlags;

use crate::model::{ReceiveKind, Verify};
use crate::pattern::Verifier;

pub use sys::MAP_ALIGN;

/// The MSS that makes a sender's segments carry whole pages beside the 12-byte timestamp
/// option (4096 + 12), as `tcp_mmap.c -M` uses over loopback.
pub const PAGE_ALIGNED_MSS: u32 = 4108;

/// The veth MTU that makes the MSS 15 pages (61440 = 61492 - 20 IP - 20 TCP - 12 timestamp
/// bytes), so that TCP_ZEROCOPY_RECEIVE can map whole segments over veth.
pub const PAGE_ALIGNED_MTU: u32 = 61492;

/// Why a receive strategy could not be set up on a connection.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveSetupError {
    /// The kernel cannot do what the strategy needs here: the point is unsupported.
    #[error("{reason}")]
    Unsupported {
        /// Why, and what would make it work.
        reason: String,
    },
    /// A socket option could not be set.
    #[error("{what}: {source}")]
    Io {
        /// The step, in words.
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Checks what a receiver took off the socket, as `--verify` says, remembering whether the
/// first mismatch was in mapped or in copied bytes.
#[derive(Debug)]
pub(crate) struct Check {
    pub verifier: Verifier,
    verify: Verify,
    /// Whether the first mismatch was found in mapped bytes (`None`: no mismatch yet).
    pub mismatch_mapped: Option<bool>,
    /// Test hook: check the next mapped chunk with one byte flipped.
    corrupt_next_mapped: bool,
}

impl Check {
    pub fn new(verifier: Verifier, verify: Verify, corrupt_mapping: bool) -> Check {
        Check {
            verifier,
            verify,
            mismatch_mapped: None,
            corrupt_next_mapped: corrupt_mapping,
        }
    }

    /// Bytes copied into user space.
    pub fn copied(&mut self, bytes: &[u8]) {
        self.look(bytes, false);
    }

    /// Bytes the kernel mapped.
    pub fn mapped(&mut self, bytes: &[u8]) {
        if self.corrupt_next_mapped && !bytes.is_empty() {
            self.corrupt_next_mapped = false;
            // What a wrong page in the mapping would look like; the mapping itself is
            // read-only, so the check reads a copy here.
            let mut wrong = bytes.to_vec();
            let middle = wrong.len() / 2;
            wrong[middle] ^= 0x5a;
            self.look(&wrong, true);
        } else {
            self.look(bytes, true);
        }
    }

    /// Bytes dropped in the kernel (`trunc`): only counted.
    pub fn dropped(&mut self, n: usize) {
        self.verifier.skip(n);
    }

    fn look(&mut self, bytes: &[u8], mapped: bool) {
        let before = self.verifier.first_mismatch().is_some();
        match self.verify {
            Verify::Full => self.verifier.check(bytes),
            Verify::Stamps => self.verifier.check_stamps(bytes),
            Verify::Off | Verify::Discard => self.verifier.skip(bytes.len()),
        }
        if !before && self.verifier.first_mismatch().is_some() {
            self.mismatch_mapped = Some(mapped);
        }
    }
}

/// One connection's receive strategy, set up on its socket.
pub(crate) enum Receiver {
    Read,
    Trunc,
    ZeroCopy(ZeroCopyReceiver),
}

/// The `zerocopy` receiver's mapping and what it counted.
pub(crate) struct ZeroCopyReceiver {
    mapping: sys::SocketMapping,
    /// Bytes mapped (verified from the mapping) over the whole connection.
    pub mapped_bytes: u64,
    /// Bytes the last step mapped (in `mapped_bytes` already).
    last_step: u64,
    /// `SO_RCVLOWAT` as set (stream mode), so that a step maps a whole chunk.
    pub rcvlowat: Option<u32>,
    timeout: Duration,
}

/// How a receiver was set up, for the point's record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SetupFacts {
    pub rcvlowat: Option<u32>,
    pub map_bytes: Option<usize>,
}

impl Receiver {
    /// Sets `kind` up on `stream`. `chunk` is the most one step takes (the read size);
    /// `lowat` asks `zerocopy` to wake only once a chunk is queued (stream mode).
    pub fn open(
        kind: ReceiveKind,
        stream: &TcpStream,
        chunk: usize,
        lowat: bool,
        timeout: Duration,
    ) -> Result<Receiver, ReceiveSetupError> {
        match kind {
            ReceiveKind::Read => Ok(Receiver::Read),
            ReceiveKind::Trunc => Ok(Receiver::Trunc),
            ReceiveKind::Zerocopy => {
                ZeroCopyReceiver::open(stream, chunk, lowat, timeout).map(Receiver::ZeroCopy)
            }
        }
    }

    pub fn facts(&self) -> SetupFacts {
        match self {
            Receiver::ZeroCopy(z) => SetupFacts {
                rcvlowat: z.rcvlowat,
                map_bytes: Some(z.mapping.capacity()),
            },
            _ => SetupFacts::default(),
        }
    }

    /// Bytes mapped so far (`zerocopy` only).
    pub fn mapped_bytes(&self) -> Option<u64> {
        match self {
            Receiver::ZeroCopy(z) => Some(z.mapped_bytes),
            _ => None,
        }
    }

    /// Bytes mapped before the last step (`zerocopy` only): the count at an interval's edge,
    /// which falls between steps, as the byte count's does.
    pub fn mapped_before_last_step(&self) -> Option<u64> {
        match self {
            Receiver::ZeroCopy(z) => Some(z.mapped_bytes - z.last_step),
            _ => None,
        }
    }

    /// Takes up to `buf.len()` bytes off the socket and hands them to `check`; 0 at the end
    /// of the stream. `buf` is the read buffer (`zerocopy`: the copy buffer).
    pub fn receive(
        &mut self,
        stream: &TcpStream,
        buf: &mut [u8],
        check: &mut Check,
    ) -> std::io::Result<usize> {
        match self {
            Receiver::Read => {
                // read(2), as iperf3 and nuttcp read, rather than std's recv(2): the same
                // socket path, and the thread's `/proc/thread-self/io` counts it (syscr,
                // rchar), which the tests use.
                let n = rustix::io::read(stream, &mut *buf)?;
                check.copied(&buf[..n]);
                Ok(n)
            }
            Receiver::Trunc => {
                // recv(MSG_TRUNC) on TCP drops the bytes in the kernel without copying them to
                // user space and returns how many it dropped (as neper's `--skip-rx-copy` and
                // liburing's zero-copy example receive).
                let (_, n) = rustix::net::recv(stream, &mut *buf, RecvFlags::TRUNC)?;
                check.dropped(n);
                Ok(n)
            }
            Receiver::ZeroCopy(z) => z.receive(stream, buf, check),
        }
    }
}

impl ZeroCopyReceiver {
    fn open(
        socket: &impl AsFd,
        chunk: usize,
        lowat: bool,
        timeout: Duration,
    ) -> Result<ZeroCopyReceiver, ReceiveSetupError> {
        let page = rustix::param::page_size();
        let len = chunk.max(page).div_ceil(page) * page;
        let fd = socket.as_fd();
        let mut mapping =
            sys::SocketMapping::new(fd, len).map_err(|e| ReceiveSetupError::Unsupported {
                reason: format!(
                    "mmap of the TCP socket failed ({e}): this kernel cannot map a socket's \
                     receive queue (TCP_ZEROCOPY_RECEIVE needs Linux 4.18+ with CONFIG_MMU)"
                ),
            })?;
        // Asking for nothing consumes nothing: it only proves that the kernel knows the option.
        mapping
            .receive(fd, 0)
            .map_err(|e| ReceiveSetupError::Unsupported {
                reason: format!(
                    "getsockopt(TCP_ZEROCOPY_RECEIVE) failed ({e}): this kernel does not map \
                     receive queues (Linux 4.18+); use --receive read or trunc"
                ),
            })?;
        let rcvlowat = if lowat {
            let value = len.min(i32::MAX as usize) as i32;
            sys::set_int_option(fd, libc::SOL_SOCKET, libc::SO_RCVLOWAT, value).map_err(
                |source| ReceiveSetupError::Io {
                    what: "setting SO_RCVLOWAT",
                    source,
                },
            )?;
            Some(value as u32)
        } else {
            None
        };
        Ok(ZeroCopyReceiver {
            mapping,
            mapped_bytes: 0,
            last_step: 0,
            rcvlowat,
            timeout,
        })
    }

    /// One step: what the kernel maps, then the unmappable remainder it points at, read into
    /// `buf`; waits for data when the queue is empty.
    fn receive(
        &mut self,
        stream: &TcpStream,
        buf: &mut [u8],
        check: &mut Check,
    ) -> std::io::Result<usize> {
        let fd = stream.as_fd();
        let want = buf.len().min(self.mapping.capacity());
        let mut woke = false;
        self.last_step = 0;
        loop {
            let step = match self.mapping.receive(fd, want) {
                Ok(step) => step,
                // The kernel's answer for an empty queue of a closed stream.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
                Err(e) => return Err(e),
            };
            let mapped = self.mapping.mapped();
            if !mapped.is_empty() {
                check.mapped(mapped);
            }
            let mapped = mapped.len();
            self.mapped_bytes += mapped as u64;
            self.last_step += mapped as u64;
            self.mapping.release()?;
            let room = want - mapped;
            if step.skip > 0 && room > 0 {
                let take = step.skip.min(room);
                let n = rustix::io::read(stream, &mut buf[..take])?;
                check.copied(&buf[..n]);
                return Ok(mapped + n);
            }
            if mapped > 0 {
                return Ok(mapped);
            }
            if woke {
                // Readable, yet nothing to map or skip: let read(2) say what is there (the end
                // of the stream reads 0). Counted as copied, like any byte read.
                let n = rustix::io::read(stream, &mut buf[..want])?;
                check.copied(&buf[..n]);
                return Ok(n);
            }
            // Nothing queued yet (or less than the low-water mark): wait for more, or the end.
            if !sys::wait_readable(fd, self.timeout)? {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no data within {:?}", self.timeout),
                ));
            }
            woke = true;
        }
    }
}

/// Asks the listener's future connections for an MSS of `mss` (`TCP_MAXSEG` before `accept`).
pub(crate) fn set_maxseg(listener: &std::net::TcpListener, mss: u32) -> std::io::Result<()> {
    sys::set_int_option(
        listener.as_fd(),
        libc::IPPROTO_TCP,
        libc::TCP_MAXSEG,
        mss as libc::c_int,
    )
}

/// The MSS of the segments this receiver got, as the kernel estimates it (`TCP_INFO`'s
/// `tcpi_rcv_mss`: the largest segment or GSO size seen, bounded by the MSS it advertised);
/// read once data has arrived (before, it is the kernel's 536-byte guess).
pub(crate) fn received_mss(stream: &TcpStream) -> Option<u32> {
    sys::tcp_rcv_mss(stream.as_fd()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_the_kernel_cannot_map_is_unsupported_not_copied() {
        // A real socket that is not TCP: the kernel refuses to map it.
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        match ZeroCopyReceiver::open(&a, 256 << 10, true, Duration::from_secs(1)) {
            Err(ReceiveSetupError::Unsupported { reason }) => {
                assert!(reason.contains("mmap of the TCP socket failed"), "{reason}")
            }
            Err(e) => panic!("refused, but not as unsupported: {e}"),
            Ok(_) => panic!("a Unix socket was mapped"),
        }
    }

    #[test]
    fn a_listening_socket_answers_the_option_with_an_error_reported_as_unsupported() {
        // mmap of a TCP socket works in any state; TCP_ZEROCOPY_RECEIVE on a listener is
        // refused (ENOTCONN): the probe at setup turns that into "unsupported".
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        match ZeroCopyReceiver::open(&listener, 4096, false, Duration::from_secs(1)) {
            Err(ReceiveSetupError::Unsupported { reason }) => {
                assert!(reason.contains("TCP_ZEROCOPY_RECEIVE"), "{reason}")
            }
            Err(e) => panic!("refused, but not as unsupported: {e}"),
            Ok(_) => panic!("a listener answered TCP_ZEROCOPY_RECEIVE"),
        }
    }
}
