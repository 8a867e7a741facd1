//! io_uring send strategies: `uringsend` (`IORING_OP_SENDMSG`, the copying baseline) and
//! `uringzc` (`IORING_OP_SENDMSG_ZC`, or `IORING_OP_SEND_ZC` for one field).
//!
//! Each sender thread owns one ring and keeps **one send in flight** on its socket: a message
//! is submitted, its send CQE awaited, and a short send resubmits the rest, so the byte order of
//! the TCP stream is the order of the calls (several sends in flight on one stream socket may
//! reorder it; liburing's `send-zerocopy` example keeps one by default for the same reason).
//! Sends carry `MSG_WAITALL`, so that, like a blocking `sendmsg`, the kernel itself finishes a
//! send the socket buffer could not take at once; short sends are still handled.
//!
//! Zero-copy: a send CQE flagged `IORING_CQE_F_MORE` owes a notification CQE
//! (`IORING_CQE_F_NOTIF`, same `user_data`), posted once the kernel no longer uses the pages.
//! A slot is released only when every notification its sends owe has arrived, never on the
//! send CQE. With `IORING_SEND_ZC_REPORT_USAGE`, each notification says whether the kernel
//! copied after all (`IORING_NOTIF_USAGE_ZC_COPIED`, bit 31 of `res`): the copied ratio of
//! [`ZeroCopyStats`] comes from there. io_uring's zero-copy charges no `optmem_max` budget, so
//! `ENOBUFS` should not happen; if it does it is counted, reaped and retried like MSG_ZEROCOPY's.
//!
//! Fixed buffers: the pool's memory regions are registered with the ring and sends name their
//! region with `buf_index`. Every iovec of one send must lie inside one region; with one
//! allocation per field that holds only for one-field messages (each message is one region),
//! which [`crate::engine::PointParams::validate`] enforces. A packed arena (all fields of a
//! message back to back) would be one region for the whole pool: [`FixedRegions`] maps slots to
//! regions for that reason.
//!
//! Memory safety of the `unsafe` pushes rests on three facts, repeated where they are used:
//! the ring is created with `IORING_FEAT_SUBMIT_STABLE` checked (the kernel copies the SQE, the
//! `msghdr` and the iovec array during submission); `send` does not return before the send CQE
//! of its request arrived; and the payload lives in the caller's pool, which the
//! [`SendStrategy`] contract keeps unwritten and allocated until the slot comes back through
//! `reap`/`drain` (and which `run_sender` declares before the strategy, so the ring is dropped
//! first; dropping the ring waits, bounded, for anything still outstanding). The kernel only
//! reads send buffers: a broken contract could change bytes on the wire, which the receiver's
//! verification reports, not our memory.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};

use super::iowork::IoWorkerCpu;
use super::{with_iovecs, SendReport, SendStrategy, Slot, StrategyError, StrategyKind};
use crate::message::Message;
use crate::result::ZeroCopyStats;

/// Submission queue entries: one send in flight, so a few are plenty.
const SQ_ENTRIES: u32 = 8;
/// Completion queue entries: notifications of every slot in flight may queue up. The kernel
/// keeps overflowing CQEs (`IORING_FEAT_NODROP`, required) until there is room, so this only
/// sizes the common case.
const CQ_ENTRIES: u32 = 4096;
/// How long a sender may wait for one notification when every buffer is in flight.
const COMPLETION_WAIT: Duration = Duration::from_secs(10);
/// How long `ENOBUFS` may persist with nothing of ours in flight before giving up.
const ENOBUFS_GIVE_UP: Duration = Duration::from_secs(5);
/// How long dropping the strategy waits for outstanding operations.
const DROP_WAIT: Duration = Duration::from_secs(2);
/// Most fixed buffers a ring can register (`IORING_MAX_REG_BUFFERS`).
pub const MAX_FIXED_BUFFERS: usize = 1 << 14;

/// `IORING_SEND_ZC_REPORT_USAGE` (`<linux/io_uring.h>`, Linux 6.2): ask each notification to
/// say whether the kernel copied. The io-uring crate does not re-export it.
const REPORT_USAGE: u16 = 1 << 3;
/// `IORING_NOTIF_USAGE_ZC_COPIED` (`<linux/io_uring.h>`): set in a notification's `res` when
/// the kernel copied.
const ZC_COPIED: u32 = 1 << 31;

/// One io_uring opcode copybench uses, and whether this kernel offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpcodeSupport {
    /// The kernel's name, e.g. `IORING_OP_SEND_ZC`.
    pub name: &'static str,
    /// Which strategy needs it.
    pub used_by: StrategyKind,
    /// What `IORING_REGISTER_PROBE` said.
    pub supported: bool,
}

/// The opcodes the io_uring strategies use.
const OPCODES: [(&str, u8, StrategyKind); 3] = [
    (
        "IORING_OP_SENDMSG",
        opcode::SendMsg::CODE,
        StrategyKind::UringSend,
    ),
    (
        "IORING_OP_SENDMSG_ZC",
        opcode::SendMsgZc::CODE,
        StrategyKind::UringZc,
    ),
    (
        "IORING_OP_SEND_ZC",
        opcode::SendZc::CODE,
        StrategyKind::UringZc,
    ),
];

/// Creates a ring, explaining a refusal (io_uring disabled by sysctl, seccomp, old kernel).
fn new_ring() -> Result<IoUring, String> {
    let ring = IoUring::builder()
        .setup_cqsize(CQ_ENTRIES)
        .build(SQ_ENTRIES)
        .map_err(|e| {
            let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                .map(|v| format!(" (kernel.io_uring_disabled = {})", v.trim()))
                .unwrap_or_default();
            format!("io_uring_setup failed: {e}{sysctl}")
        })?;
    if !ring.params().is_feature_nodrop() || !ring.params().is_feature_submit_stable() {
        return Err(
            "the kernel lacks IORING_FEAT_NODROP or IORING_FEAT_SUBMIT_STABLE (Linux 5.5+)".into(),
        );
    }
    Ok(ring)
}

/// Asks the kernel which of the opcodes copybench uses it supports (for `copybench doctor`).
/// An error means no ring could be created at all.
pub fn probe_uring() -> Result<Vec<OpcodeSupport>, String> {
    let ring = new_ring()?;
    let probe = probe_ring(&ring)?;
    Ok(OPCODES
        .iter()
        .map(|&(name, code, used_by)| OpcodeSupport {
            name,
            used_by,
            supported: probe.is_supported(code),
        })
        .collect())
}

fn probe_ring(ring: &IoUring) -> Result<Probe, String> {
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("IORING_REGISTER_PROBE failed: {e} (Linux 5.6+)"))?;
    Ok(probe)
}

/// Memory regions registered with a ring as fixed buffers, and which region each pool slot's
/// message lies in. Today each one-field message is its own region; a packed arena would be a
/// single region that every slot maps to.
#[derive(Debug, Default)]
pub struct FixedRegions {
    /// `(start address, length)` of each registered region, in registration order.
    regions: Vec<(usize, usize)>,
    /// Region index of each slot.
    slot_region: Vec<u16>,
}

impl FixedRegions {
    /// One region per message of `pool`; every message must be a single contiguous field.
    pub fn per_message(pool: &[Message]) -> Result<FixedRegions, String> {
        if pool.len() > MAX_FIXED_BUFFERS {
            return Err(format!(
                "{} buffers cannot be registered: a ring takes at most {MAX_FIXED_BUFFERS}",
                pool.len()
            ));
        }
        let mut out = FixedRegions::default();
        for (slot, message) in pool.iter().enumerate() {
            let Some(s) = message.region() else {
                return Err(format!(
                    "fixed buffers need every iovec of a send inside one registered buffer, but \
                     a message has {} fields, each its own allocation: use --fields 1 or the \
                     packed placement",
                    message.field_count()
                ));
            };
            out.regions.push((s.as_ptr() as usize, s.len()));
            out.slot_region.push(slot as u16);
        }
        Ok(out)
    }

    /// The regions as `iovec`s, for `io_uring_register_buffers`.
    fn iovecs(&self) -> Vec<libc::iovec> {
        self.regions
            .iter()
            .map(|&(addr, len)| libc::iovec {
                iov_base: addr as *mut libc::c_void,
                iov_len: len,
            })
            .collect()
    }

    /// The buffer index for sending `bytes` from `slot`, checked to lie inside its region.
    fn index_for(&self, slot: Slot, bytes: &[u8]) -> Option<u16> {
        let index = *self.slot_region.get(slot)?;
        let (start, len) = self.regions[usize::from(index)];
        let (a, b) = (
            bytes.as_ptr() as usize,
            bytes.as_ptr() as usize + bytes.len(),
        );
        (a >= start && b <= start + len).then_some(index)
    }
}

/// An io_uring send strategy, copying (`uringsend`) or zero-copy (`uringzc`); see the module
/// docs.
pub struct Uring {
    zc: bool,
    fixed_buffers: bool,
    /// `MSG_WAITALL` on every send (tests turn it off to force short sends).
    wait_all: bool,
    /// Created by `prepare`.
    ring: Option<IoUring>,
    /// Registered regions, with `fixed_buffers`, once the pool is known.
    fixed: Option<FixedRegions>,
    /// Kernel thread id of the thread that submits (the one io-wq workers are named after).
    owner_tid: Option<i32>,
    /// Per slot: notifications still owed, plus one while `send` works on it. Signed: a
    /// notification could in principle overtake its send CQE while `send` still holds the slot.
    holds: Vec<i64>,
    /// The slot `send` is working on: never released before `send` lets go of it, even if
    /// its count touches zero on the way (a notification overtaking its send CQE).
    sending: Option<Slot>,
    /// Notifications owed over all slots (may dip below zero the same way).
    owed: i64,
    /// Slots whose buffers the kernel is done with, not yet handed back.
    released: Vec<Slot>,
    /// The send CQE of the request in flight, once it arrived: `(res, flags)`.
    send_cqe: Option<(i32, u32)>,
    /// A request was submitted and its send CQE has not arrived.
    in_flight: bool,
    stats: ZeroCopyStats,
}

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uring")
            .field("kind", &self.kind())
            .field("fixed_buffers", &self.fixed_buffers)
            .field("owed", &self.owed)
            .field("in_flight", &self.in_flight)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Uring {
    /// `uringsend`: `IORING_OP_SENDMSG`, one iovec per field; the kernel copies, slots come back
    /// with the send CQE.
    pub fn copying() -> Uring {
        Uring::new(false, false)
    }

    /// `uringzc`: `SENDMSG_ZC` (`SEND_ZC` for one field), slots back on their notifications;
    /// with `fixed_buffers`, the pool is registered and sends use `buf_index` (one field only).
    pub fn zero_copy(fixed_buffers: bool) -> Uring {
        Uring::new(true, fixed_buffers)
    }

    fn new(zc: bool, fixed_buffers: bool) -> Uring {
        Uring {
            zc,
            fixed_buffers,
            wait_all: true,
            ring: None,
            fixed: None,
            owner_tid: None,
            holds: Vec::new(),
            sending: None,
            owed: 0,
            released: Vec::new(),
            send_cqe: None,
            in_flight: false,
            stats: ZeroCopyStats::default(),
        }
    }

    fn ring(&mut self) -> &mut IoUring {
        self.ring
            .as_mut()
            .expect("SendStrategy::prepare creates the ring before any send")
    }

    fn msg_flags(&self) -> i32 {
        libc::MSG_NOSIGNAL | if self.wait_all { libc::MSG_WAITALL } else { 0 }
    }

    fn op_name(&self, single: bool) -> &'static str {
        match (self.zc, single) {
            (false, _) => "io_uring sendmsg",
            (true, false) => "io_uring sendmsg_zc",
            (true, true) => "io_uring send_zc",
        }
    }

    fn hold(&mut self, slot: Slot) {
        if self.holds.len() <= slot {
            self.holds.resize(slot + 1, 0);
        }
        self.holds[slot] += 1;
    }

    /// Drops one hold on `slot`; at zero, unless `send` is still working on it, the kernel is
    /// done with its buffers.
    fn unhold(&mut self, slot: Slot) -> Result<(), StrategyError> {
        let Some(h) = self.holds.get_mut(slot) else {
            return Err(bad_cqe(format!(
                "a completion names slot {slot}, never sent"
            )));
        };
        *h -= 1;
        if *h == 0 && self.sending != Some(slot) {
            self.released.push(slot);
        }
        Ok(())
    }

    /// Enters the kernel: submits what is queued and waits for at least one CQE (up to
    /// `timeout`, or indefinitely). A signal, a timeout or a full CQ ring just return: callers
    /// look at what arrived and decide.
    fn enter(&mut self, timeout: Option<Duration>) -> Result<(), StrategyError> {
        let ring = self.ring();
        let result = match timeout {
            None => ring.submitter().submit_and_wait(1),
            Some(t) => {
                let ts = types::Timespec::new()
                    .sec(t.as_secs())
                    .nsec(t.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                ring.submitter().submit_with_args(1, &args)
            }
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.raw_os_error() {
                Some(libc::EINTR | libc::ETIME | libc::EBUSY | libc::EAGAIN) => Ok(()),
                _ => Err(StrategyError::io("io_uring_enter", e)),
            },
        }
    }

    /// Takes every CQE now in the completion queue into the bookkeeping.
    fn collect(&mut self) -> Result<(), StrategyError> {
        loop {
            let Some(cqe) = self.ring().completion().next() else {
                return Ok(());
            };
            let (slot, res, flags) = (cqe.user_data() as Slot, cqe.result(), cqe.flags());
            if cqueue::notif(flags) {
                if !self.zc {
                    return Err(bad_cqe("a notification CQE on a copying ring".into()));
                }
                self.stats.notifications += 1;
                self.stats.completions += 1;
                // `res` is a bit field here, not an error code: bit 31 makes it negative.
                if res as u32 & ZC_COPIED != 0 {
                    self.stats.copied += 1;
                }
                self.owed -= 1;
                self.unhold(slot)?;
            } else {
                if !self.in_flight || self.send_cqe.is_some() {
                    return Err(bad_cqe(format!(
                        "a send CQE for slot {slot} with no request in flight"
                    )));
                }
                self.in_flight = false;
                self.send_cqe = Some((res, flags));
                if self.zc && cqueue::more(flags) {
                    // This request's pages are released by a notification still to come.
                    self.stats.sends += 1;
                    self.owed += 1;
                    self.hold(slot);
                }
            }
        }
    }

    /// Queues `entry`, submits it and waits for its send CQE (collecting notifications that
    /// arrive meanwhile). Returns the CQE's `res`.
    ///
    /// # Safety
    /// Every pointer in `entry` (a `msghdr` and its iovecs, or a buffer) must be valid for
    /// reading until this returns, and the payload bytes must stay allocated and unwritten
    /// until the request's slot is released (its send CQE for copying sends, every
    /// notification for zero-copy ones).
    unsafe fn submit_and_wait_send(&mut self, entry: &squeue::Entry) -> Result<i32, StrategyError> {
        debug_assert!(!self.in_flight && self.send_cqe.is_none());
        {
            let mut sq = self.ring().submission();
            // SAFETY: passed on to our caller (see this function's contract).
            unsafe { sq.push(entry) }.map_err(|_| {
                StrategyError::io(
                    "io_uring push",
                    std::io::Error::other("submission queue full"),
                )
            })?;
        }
        self.in_flight = true;
        loop {
            self.enter(None)?;
            self.collect()?;
            if let Some((res, _)) = self.send_cqe.take() {
                return Ok(res);
            }
        }
    }

    /// What one send CQE means: `Some(bytes)` accepted, or `None` to submit the same bytes again.
    fn interpret(
        &mut self,
        res: i32,
        single: bool,
        enobufs_since: &mut Option<Instant>,
    ) -> Result<Option<usize>, StrategyError> {
        if res > 0 {
            *enobufs_since = None;
            return Ok(Some(res as usize));
        }
        match -res {
            0 => Err(StrategyError::io(
                self.op_name(single),
                std::io::Error::other("the kernel accepted 0 bytes of a non-empty send"),
            )),
            libc::EINTR | libc::EAGAIN => Ok(None),
            libc::ENOBUFS => {
                let since = *enobufs_since.get_or_insert_with(Instant::now);
                self.on_enobufs(since)?;
                Ok(None)
            }
            libc::EINVAL if self.zc && self.stats.completions == 0 && self.stats.sends <= 1 => {
                Err(StrategyError::Unsupported {
                    strategy: StrategyKind::UringZc,
                    reason: format!(
                        "the first {} was refused with EINVAL: the kernel lacks \
                         IORING_SEND_ZC_REPORT_USAGE (Linux 6.2+){}",
                        self.op_name(single),
                        if self.fixed_buffers {
                            " or fixed-buffer sends"
                        } else {
                            ""
                        }
                    ),
                })
            }
            errno => Err(StrategyError::io(
                self.op_name(single),
                std::io::Error::from_raw_os_error(errno),
            )),
        }
    }

    /// `ENOBUFS`: reap what completed; if something of ours is in flight, wait briefly for it,
    /// otherwise back off, and give up if it lasts.
    fn on_enobufs(&mut self, since: Instant) -> Result<(), StrategyError> {
        self.stats.enobufs += 1;
        self.collect()?;
        if self.owed > 0 {
            self.enter(Some(Duration::from_millis(10)))?;
            self.collect()
        } else if since.elapsed() > ENOBUFS_GIVE_UP {
            Err(StrategyError::io(
                self.op_name(false),
                std::io::Error::other(format!(
                    "ENOBUFS for {ENOBUFS_GIVE_UP:?} with no notification pending"
                )),
            ))
        } else {
            std::thread::sleep(Duration::from_millis(1));
            Ok(())
        }
    }

    /// Sends every byte of `iov` with `SENDMSG` or `SENDMSG_ZC`, resubmitting the rest after a
    /// short send.
    fn send_vectored(
        &mut self,
        socket: BorrowedFd<'_>,
        mut iov: &mut [IoSlice<'_>],
        slot: Slot,
    ) -> Result<SendReport, StrategyError> {
        let fd = types::Fd(socket.as_raw_fd());
        let flags = self.msg_flags();
        let mut report = SendReport::default();
        let mut enobufs_since = None;
        while !iov.is_empty() {
            // SAFETY: an all-zero msghdr is a valid empty header (no name, iovecs or control).
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            // `IoSlice` is ABI-compatible with `iovec` on Unix (documented by std).
            msg.msg_iov = iov.as_mut_ptr().cast();
            msg.msg_iovlen = iov.len();
            let entry = if self.zc {
                opcode::SendMsgZc::new(fd, &msg)
                    .ioprio(REPORT_USAGE)
                    .flags(flags as u32)
                    .build()
            } else {
                opcode::SendMsg::new(fd, &msg).flags(flags as u32).build()
            }
            .user_data(slot as u64);
            report.calls += 1;
            // SAFETY: `msg` and the iovec array it points at live on this stack frame and in
            // `iov`, both valid until `submit_and_wait_send` returns (and the kernel copies them
            // during submission anyway: IORING_FEAT_SUBMIT_STABLE, checked in `new_ring`). The
            // iovecs point into the fields of the message in `slot`, which `send` holds until
            // the send CQE and, for zero-copy, until every notification: the caller's pool keeps
            // them allocated and unwritten until the slot is released (trait contract).
            let res = unsafe { self.submit_and_wait_send(&entry) }?;
            if let Some(n) = self.interpret(res, false, &mut enobufs_since)? {
                IoSlice::advance_slices(&mut iov, n);
            }
        }
        Ok(report)
    }

    /// Sends every byte of one contiguous buffer with `SEND_ZC`, from the registered region
    /// `buf_index` if given.
    fn send_single_zc(
        &mut self,
        socket: BorrowedFd<'_>,
        bytes: &[u8],
        buf_index: Option<u16>,
        slot: Slot,
    ) -> Result<SendReport, StrategyError> {
        let fd = types::Fd(socket.as_raw_fd());
        let flags = self.msg_flags();
        let mut report = SendReport::default();
        let mut enobufs_since = None;
        let mut rest = bytes;
        while !rest.is_empty() {
            let len = rest.len().min(u32::MAX as usize) as u32;
            let entry = opcode::SendZc::new(fd, rest.as_ptr(), len)
                .buf_index(buf_index)
                .flags(flags)
                .zc_flags(REPORT_USAGE)
                .build()
                .user_data(slot as u64);
            report.calls += 1;
            // SAFETY: `rest` is part of the single field of the message in `slot` (and, with
            // `buf_index`, inside that slot's registered region, checked by `index_for`).
            // `send` holds the slot until its send CQE and every notification arrived; the
            // caller's pool keeps the field allocated and unwritten until the slot is released
            // (trait contract), and no other pointer is in the entry.
            let res = unsafe { self.submit_and_wait_send(&entry) }?;
            if let Some(n) = self.interpret(res, true, &mut enobufs_since)? {
                rest = &rest[n..];
            }
        }
        Ok(report)
    }

    /// Waits until nothing is outstanding or `timeout` passed; true if nothing is.
    fn wait_idle(&mut self, timeout: Duration) -> Result<bool, StrategyError> {
        let started = Instant::now();
        self.collect()?;
        while self.in_flight || self.owed > 0 {
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Ok(false);
            }
            self.enter(Some(left.min(Duration::from_millis(100))))?;
            self.collect()?;
        }
        Ok(true)
    }

    /// Test knob: without `MSG_WAITALL` the kernel returns short sends, which `send` must
    /// resubmit.
    #[cfg(test)]
    fn without_wait_all(mut self) -> Uring {
        self.wait_all = false;
        self
    }
}

fn bad_cqe(what: String) -> StrategyError {
    StrategyError::io("io_uring completion", std::io::Error::other(what))
}

impl SendStrategy for Uring {
    fn kind(&self) -> StrategyKind {
        if self.zc {
            StrategyKind::UringZc
        } else {
            StrategyKind::UringSend
        }
    }

    fn prepare(&mut self, _socket: BorrowedFd<'_>) -> Result<(), StrategyError> {
        let kind = self.kind();
        let unsupported = |reason: String| StrategyError::Unsupported {
            strategy: kind,
            reason,
        };
        let ring = new_ring().map_err(unsupported)?;
        let probe = probe_ring(&ring).map_err(unsupported)?;
        let missing: Vec<&str> = OPCODES
            .iter()
            .filter(|&&(_, code, used_by)| used_by == kind && !probe.is_supported(code))
            .map(|&(name, _, _)| name)
            .collect();
        if !missing.is_empty() {
            return Err(unsupported(format!(
                "this kernel lacks {} (SENDMSG: Linux 5.3+, SEND_ZC: 6.0+, SENDMSG_ZC: 6.1+)",
                missing.join(" and ")
            )));
        }
        self.ring = Some(ring);
        self.owner_tid = Some(rustix::thread::gettid().as_raw_nonzero().get());
        Ok(())
    }

    fn register_pool(&mut self, pool: &[Message]) -> Result<(), StrategyError> {
        if !self.fixed_buffers {
            return Ok(());
        }
        let regions = FixedRegions::per_message(pool).map_err(|reason| {
            StrategyError::io("registering fixed buffers", std::io::Error::other(reason))
        })?;
        let iovecs = regions.iovecs();
        // SAFETY: the regions are the message buffers of the caller's pool, which (trait
        // contract of `register_pool`) stay allocated until this strategy, and with it the
        // ring and its registration, is dropped. The kernel pins the pages while registered.
        unsafe { self.ring().submitter().register_buffers(&iovecs) }
            .map_err(|e| StrategyError::io("io_uring_register_buffers", e))?;
        self.fixed = Some(regions);
        Ok(())
    }

    fn send(
        &mut self,
        socket: BorrowedFd<'_>,
        message: &Message,
        slot: Slot,
    ) -> Result<SendReport, StrategyError> {
        // Held while we work on it, so that an early notification cannot release it.
        self.hold(slot);
        self.sending = Some(slot);
        let report = match message.field_count() {
            1 if self.zc => {
                let bytes = message.field(0);
                let buf_index = match &self.fixed {
                    None => None,
                    Some(fixed) => Some(fixed.index_for(slot, bytes).ok_or_else(|| {
                        StrategyError::io(
                            "io_uring send_zc",
                            std::io::Error::other(format!(
                                "slot {slot}'s message is not inside its registered buffer"
                            )),
                        )
                    })?),
                };
                self.send_single_zc(socket, bytes, buf_index, slot)?
            }
            _ => with_iovecs(message, |iov| self.send_vectored(socket, iov, slot))?,
        };
        self.sending = None;
        self.unhold(slot)?;
        Ok(report)
    }

    fn reap(
        &mut self,
        _socket: BorrowedFd<'_>,
        wait: bool,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        self.collect()?;
        if wait && self.released.is_empty() && self.owed > 0 {
            let started = Instant::now();
            while self.released.is_empty() {
                if started.elapsed() > COMPLETION_WAIT {
                    return Err(StrategyError::MissingCompletions {
                        outstanding: self.owed.max(0) as u64,
                        waited: COMPLETION_WAIT,
                    });
                }
                self.enter(Some(Duration::from_millis(100)))?;
                self.collect()?;
            }
        }
        released.append(&mut self.released);
        Ok(())
    }

    fn drain(
        &mut self,
        _socket: BorrowedFd<'_>,
        timeout: Duration,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        let idle = self.wait_idle(timeout)?;
        released.append(&mut self.released);
        if idle {
            Ok(())
        } else {
            Err(StrategyError::MissingCompletions {
                outstanding: self.owed.max(0) as u64,
                waited: timeout,
            })
        }
    }

    fn zerocopy_stats(&self) -> Option<ZeroCopyStats> {
        self.zc.then(|| {
            let mut stats = self.stats.clone();
            stats.copied_ratio =
                (stats.completions > 0).then(|| stats.copied as f64 / stats.completions as f64);
            stats
        })
    }

    fn io_worker_cpu(&self) -> Option<IoWorkerCpu> {
        self.owner_tid.map(IoWorkerCpu::sample)
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        // Normally `drain` left nothing outstanding. After an error, give the kernel a moment
        // to finish with the pool's buffers before the ring goes (closing it cancels the rest;
        // the kernel holds its own references to pinned pages, so nothing it touches is freed
        // under it either way).
        if self.ring.is_some() && (self.in_flight || self.owed > 0) {
            let _ = self.wait_idle(DROP_WAIT);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;

    use super::*;
    use crate::message::{Align, Layout};
    use crate::pattern;

    #[test]
    fn this_kernel_offers_every_opcode() {
        let ops = probe_uring().expect("a ring can be created here");
        assert_eq!(ops.len(), 3);
        for op in ops {
            assert!(op.supported, "{op:?}");
        }
    }

    /// Streams `count` messages of `size` bytes in `fields` fields through `strategy` over
    /// loopback with a small send buffer (128 KiB: much smaller stalls loopback TCP for tens of
    /// milliseconds per write, blocking or not), checking every byte at the other end; returns the
    /// send calls per message.
    fn stream(mut strategy: Uring, size: usize, fields: usize, count: u64) -> Vec<u32> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        rustix::net::sockopt::set_socket_send_buffer_size(&socket, 128 << 10).unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).unwrap();
            got
        });
        strategy.prepare(socket.as_fd()).unwrap();
        let layout = Layout::new(size, fields);
        let mut pool: Vec<Message> = (0..2)
            .map(|_| Message::new(&layout, Align::default(), 3))
            .collect();
        strategy.register_pool(&pool).unwrap();
        let mut free: Vec<Slot> = vec![1, 0];
        let mut calls = Vec::new();
        for seq in 0..count {
            while free.is_empty() {
                strategy.reap(socket.as_fd(), true, &mut free).unwrap();
            }
            let slot = free.pop().unwrap();
            pool[slot].stamp(seq);
            calls.push(
                strategy
                    .send(socket.as_fd(), &pool[slot], slot)
                    .unwrap()
                    .calls,
            );
        }
        strategy
            .drain(socket.as_fd(), Duration::from_secs(10), &mut free)
            .unwrap();
        drop(socket);
        let got = reader.join().unwrap();
        let mut expected = Vec::new();
        for seq in 0..count {
            expected.extend(pattern::expected_message(3, seq, size));
        }
        assert!(got == expected, "the stream differs from what was sent");
        if let Some(stats) = strategy.zerocopy_stats() {
            assert_eq!(stats.completions, stats.sends);
            assert!(stats.sends >= count);
        }
        calls
    }

    #[test]
    fn short_sends_are_resubmitted_in_order() {
        // Without MSG_WAITALL, 1 MiB through a 128 KiB send buffer comes back in pieces.
        for (strategy, fields) in [
            (Uring::copying(), 8),
            (Uring::zero_copy(false), 8),
            (Uring::zero_copy(false), 1),
            (Uring::zero_copy(true), 1),
        ] {
            let calls = stream(strategy.without_wait_all(), 1 << 20, fields, 6);
            assert!(
                calls.iter().any(|&c| c > 1),
                "no short send happened: {calls:?}"
            );
        }
    }

    #[test]
    fn with_wait_all_every_strategy_streams_exactly() {
        for (strategy, fields) in [
            (Uring::copying(), 8),
            (Uring::zero_copy(false), 8),
            (Uring::zero_copy(true), 1),
        ] {
            stream(strategy, 100_000, fields, 20);
        }
    }

    #[test]
    fn a_slot_is_released_once_whatever_order_its_completions_come_in() {
        // The order `send` and `collect` apply: hold for the send, +1 per send CQE that owes a
        // notification, -1 per notification, release the send's hold at its end.
        let mut u = Uring::zero_copy(false);
        // Usual order: send CQE, end of send, notification.
        u.hold(0);
        u.sending = Some(0);
        u.hold(0);
        u.sending = None;
        u.unhold(0).unwrap();
        assert!(u.released.is_empty(), "released before its notification");
        u.unhold(0).unwrap();
        assert_eq!(u.released, [0]);
        // A notification overtaking its send CQE must not release the slot mid-send.
        u.released.clear();
        u.hold(0);
        u.sending = Some(0);
        u.unhold(0).unwrap();
        assert!(u.released.is_empty(), "released while still being sent");
        u.hold(0);
        u.sending = None;
        u.unhold(0).unwrap();
        assert_eq!(u.released, [0]);
    }

    #[test]
    fn fixed_buffers_refuse_messages_of_several_fields() {
        let layout = Layout::new(4096, 2);
        let pool = [Message::new(&layout, Align::Offset(96), 0)];
        let err = FixedRegions::per_message(&pool).unwrap_err();
        assert!(err.contains("--fields 1"), "{err}");
    }

    #[test]
    fn punted_work_shows_up_as_worker_cpu() {
        // IOSQE_ASYNC forces a request onto an io-wq worker, named after this thread.
        let tid = rustix::thread::gettid().as_raw_nonzero().get();
        let mut ring = new_ring().unwrap();
        let before = IoWorkerCpu::sample(tid);
        for _ in 0..50 {
            let nop = opcode::Nop::new()
                .build()
                .flags(squeue::Flags::ASYNC)
                .user_data(7);
            // SAFETY: a NOP points at no memory.
            unsafe { ring.submission().push(&nop) }.unwrap();
            ring.submit_and_wait(1).unwrap();
            assert_eq!(ring.completion().next().unwrap().user_data(), 7);
        }
        let after = IoWorkerCpu::sample(tid);
        assert!(after.workers() >= 1, "no iou-wrk-{tid} thread found");
        // Their CPU time is measured, not assumed: schedstat has nanoseconds.
        assert!(after.ns_since(&before) > 0);
    }
}
