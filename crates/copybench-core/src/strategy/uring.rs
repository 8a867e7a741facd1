//! io_uring send strategies: `uringsend` (`IORING_OP_SENDMSG`, the copying baseline) and
//! `uringzc` (`IORING_OP_SENDMSG_ZC`, or `IORING_OP_SEND_ZC` for one field).
//!
//! **Sends in flight.** Each sender thread owns one ring and keeps up to `depth`
//! (`--uring-depth`) sends in flight on its socket: messages are queued as they come and the
//! batch is submitted with one `io_uring_enter` once `depth` are queued, so a batch costs one
//! system call instead of one per message. The two transports need different rules:
//! - UDP: each datagram stands alone, so sends are unlinked and the window slides: the sender
//!   waits only until one send of the batch completed.
//! - TCP: several unlinked sends on one stream socket may be executed in any order (each waits
//!   for socket space on its own), which would reorder the stream. A batch is therefore one
//!   chain of linked SQEs (`IOSQE_IO_LINK`), each started only when the one before completed,
//!   with `MSG_WAITALL` so that the kernel itself retries a send the socket could not take at
//!   once (without it a short send completes successfully and the next link runs: a hole in
//!   the stream). A chain ends with its submission, so the next batch is submitted only when
//!   every send of this one has completed.
//!
//!   A send of a chain can still end short (a signal, a cancellation: the CQE says how much
//!   went) or fail (`ENOBUFS`); the kernel then fails the link and completes every later send
//!   of the chain with `ECANCELED`, having sent nothing of them. Once the whole chain has
//!   completed, the window is walked in order: finished sends release their slots, and from the
//!   first unfinished one on, the rest of it and every later message are queued again, in the
//!   same order, as the next chain. A later send that did send bytes after an unfinished one
//!   would mean the stream has a hole: that is an error, never resubmitted over.
//!
//! With depth 1 (and always in rr mode, where each message waits for its reply) this is one
//! send submitted and awaited per message, as before. The per-message "send latency" with
//! depth > 1 is the time of the `send` call, which submits and waits once per batch.
//!
//! **Ring setup.** The ring is created with `IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN`
//! (completion work runs only when the sender enters the kernel, on its own thread), falling
//! back to `SINGLE_ISSUER | COOP_TASKRUN`, then to no flags, where the kernel refuses; the
//! socket is registered as a fixed file and the ring fd itself is registered
//! (`IORING_REGISTER_RING_FDS`), each where the kernel allows. What was used and what was
//! refused is recorded per point ([`UringSetup`]).
//!
//! **Zero-copy**: a send CQE flagged `IORING_CQE_F_MORE` owes a notification CQE
//! (`IORING_CQE_F_NOTIF`, same `user_data`), posted once the kernel no longer uses the pages.
//! A slot is released only when its send finished and every notification its sends owe has
//! arrived, never on the send CQE alone. With `IORING_SEND_ZC_REPORT_USAGE`, each notification
//! says whether the kernel copied after all (`IORING_NOTIF_USAGE_ZC_COPIED`, bit 31 of `res`):
//! the copied ratio of [`ZeroCopyStats`] comes from there. io_uring's zero-copy charges no
//! `optmem_max` budget, so `ENOBUFS` should not happen; if it does it is counted, reaped and
//! retried like MSG_ZEROCOPY's.
//!
//! **Fixed buffers**: the pool's memory regions are registered with the ring and sends name
//! their region with `buf_index`. Every iovec of one send must lie inside one region: a packed
//! message (all its fields back to back in one allocation, the default placement) is one
//! region whatever its field count, and so is a one-field message; fields allocated apart are
//! not, which [`crate::engine::PointParams::validate`] refuses. [`FixedRegions`] maps slots to
//! regions.
//!
//! Memory safety of the `unsafe` pushes rests on these facts, repeated where they are used:
//! the ring is created with `IORING_FEAT_SUBMIT_STABLE` checked (the kernel copies the SQE, the
//! `msghdr` and the iovec array during submission); every queued send's `msghdr` is boxed and
//! its iovec array is not touched while its SQE is in the submission queue; and the payload
//! lives in the caller's pool, which the [`SendStrategy`] contract keeps unwritten and allocated
//! until the slot comes back through `reap`/`drain` (and which `run_sender` declares before the
//! strategy, so the ring is dropped first; dropping the ring waits, bounded, for anything still
//! outstanding). The kernel only reads send buffers: a broken contract could change bytes on
//! the wire, which the receiver's verification reports, not our memory.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};

use super::iowork::IoWorkerCpu;
use super::{SendReport, SendStrategy, Slot, StrategyError, StrategyKind};
use crate::message::Message;
use crate::result::{UringSetup, ZeroCopyStats};

/// Sends in flight per socket unless `--uring-depth` says otherwise. Chosen by measurement
/// (docs/measured.md, "io_uring with sends in flight"): see there for the figures.
pub const DEFAULT_URING_DEPTH: usize = 8;
/// Most sends in flight per socket (`--uring-depth`).
pub const MAX_URING_DEPTH: usize = 256;
/// Completion queue entries: notifications of every slot in flight may queue up. The kernel
/// keeps overflowing CQEs (`IORING_FEAT_NODROP`, required) until there is room, so this only
/// sizes the common case.
const CQ_ENTRIES: u32 = 4096;
/// How long a sender may wait for one completion when every buffer is in flight.
const COMPLETION_WAIT: Duration = Duration::from_secs(10);
/// How long `ENOBUFS` may persist with nothing of ours in flight before giving up.
const ENOBUFS_GIVE_UP: Duration = Duration::from_secs(5);
/// How long dropping the strategy waits for outstanding operations.
const DROP_WAIT: Duration = Duration::from_secs(2);
/// Longest single wait in the kernel while draining or reaping, so deadlines are checked.
const WAIT_SLICE: Duration = Duration::from_millis(100);
/// Most fixed buffers a ring can register (`IORING_MAX_REG_BUFFERS`).
pub const MAX_FIXED_BUFFERS: usize = 1 << 14;

/// `IORING_SEND_ZC_REPORT_USAGE` (`<linux/io_uring.h>`, Linux 6.2): ask each notification to
/// say whether the kernel copied. The io-uring crate does not re-export it.
const REPORT_USAGE: u16 = 1 << 3;
/// `IORING_NOTIF_USAGE_ZC_COPIED` (`<linux/io_uring.h>`): set in a notification's `res` when
/// the kernel copied.
const ZC_COPIED: u32 = 1 << 31;
/// `io_uring_enter` flags and `io_uring_register` opcodes (`<linux/io_uring.h>`): the crate's
/// own `enter` cannot use a ring fd registered outside a long-lived `Submitter`, so copybench
/// enters the kernel itself.
const ENTER_GETEVENTS: u32 = 1;
const ENTER_EXT_ARG: u32 = 1 << 3;
const ENTER_REGISTERED_RING: u32 = 1 << 4;
const REGISTER_RING_FDS: libc::c_uint = 20;
const UNREGISTER_RING_FDS: libc::c_uint = 21;
/// `user_data` of copybench's own cancellation requests (tests), whose CQEs are skipped.
const CANCEL_TAG: u64 = u64::MAX;

/// `struct io_uring_getevents_arg`.
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

/// `struct io_uring_rsrc_update`.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

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

/// Setup flag sets tried in order, the first the kernel accepts is used. `DEFER_TASKRUN`
/// needs `SINGLE_ISSUER` (Linux 6.1); `COOP_TASKRUN` is 5.19; the last is the plain ring.
const SETUP_TRIES: [&[&str]; 3] = [
    &["SINGLE_ISSUER", "DEFER_TASKRUN"],
    &["SINGLE_ISSUER", "COOP_TASKRUN"],
    &[],
];

/// Why no io_uring could be used here (the reason an `uring*` strategy is unsupported, and
/// what `copybench doctor` prints).
#[derive(Debug, thiserror::Error)]
pub enum UringUnavailable {
    /// A ring was created but lacks a feature the strategies rely on.
    #[error("the kernel lacks IORING_FEAT_NODROP, SUBMIT_STABLE or EXT_ARG (Linux 5.11+)")]
    MissingFeatures,
    /// No setup was accepted; `sysctl` names `kernel.io_uring_disabled` where it is readable.
    #[error("io_uring_setup failed: {source}{sysctl}")]
    Setup {
        /// The last refusal.
        #[source]
        source: std::io::Error,
        /// ` (kernel.io_uring_disabled = N)`, or empty.
        sysctl: String,
    },
    /// The kernel has a ring but not the opcodes a strategy sends with.
    #[error("this kernel lacks {0} (SENDMSG: Linux 5.3+, SEND_ZC: 6.0+, SENDMSG_ZC: 6.1+)")]
    MissingOpcodes(String),
    /// The kernel cannot say which opcodes it has.
    #[error("IORING_REGISTER_PROBE failed: {0} (Linux 5.6+)")]
    Probe(#[source] std::io::Error),
}

/// Why a pool cannot be registered as fixed buffers.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FixedBuffersError {
    /// More buffers than a ring registers.
    #[error("{count} buffers cannot be registered: a ring takes at most {MAX_FIXED_BUFFERS}")]
    TooMany {
        /// Buffers in the pool.
        count: usize,
    },
    /// A message whose fields are separate allocations.
    #[error(
        "--fixed-buffers needs every iovec of a send inside one registered buffer, but a message \
         has {fields} fields, each its own allocation: use the packed placement (--align packed, \
         the default) or --fields 1"
    )]
    NotContiguous {
        /// Fields of the message.
        fields: usize,
    },
}

/// A ring, the setup flags it was created with, and what the kernel refused on the way.
struct NewRing {
    ring: IoUring,
    flags: Vec<String>,
    refused: Vec<String>,
}

/// Creates a ring with the first of `tries` the kernel accepts, explaining a refusal of them
/// all (io_uring disabled by sysctl, seccomp, old kernel).
fn create_ring(sq_entries: u32, tries: &[&[&str]]) -> Result<NewRing, UringUnavailable> {
    let mut refused = Vec::new();
    let mut last_error = None;
    for flags in tries {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(CQ_ENTRIES.max(2 * sq_entries));
        for flag in *flags {
            match *flag {
                "SINGLE_ISSUER" => builder.setup_single_issuer(),
                "DEFER_TASKRUN" => builder.setup_defer_taskrun(),
                "COOP_TASKRUN" => builder.setup_coop_taskrun(),
                other => unreachable!("unknown setup flag {other}"),
            };
        }
        match builder.build(sq_entries) {
            Ok(ring) => {
                if !ring.params().is_feature_nodrop()
                    || !ring.params().is_feature_submit_stable()
                    || !ring.params().is_feature_ext_arg()
                {
                    return Err(UringUnavailable::MissingFeatures);
                }
                return Ok(NewRing {
                    ring,
                    flags: flags.iter().map(|f| f.to_string()).collect(),
                    refused,
                });
            }
            Err(e) => {
                if !flags.is_empty() {
                    refused.push(format!("IORING_SETUP_{}: {e}", flags.join(" | ")));
                }
                last_error = Some(e);
            }
        }
    }
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|v| format!(" (kernel.io_uring_disabled = {})", v.trim()))
        .unwrap_or_default();
    Err(UringUnavailable::Setup {
        source: last_error.unwrap_or_else(|| std::io::Error::other("no setup tried")),
        sysctl,
    })
}

/// Asks the kernel which of the opcodes copybench uses it supports (for `copybench doctor`).
/// An error means no ring could be created at all.
pub fn probe_uring() -> Result<Vec<OpcodeSupport>, UringUnavailable> {
    let ring = create_ring(8, &[&[]])?.ring;
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

fn probe_ring(ring: &IoUring) -> Result<Probe, UringUnavailable> {
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(UringUnavailable::Probe)?;
    Ok(probe)
}

/// Memory regions registered with a ring as fixed buffers, and which region each pool slot's
/// message lies in: one region per message, a packed message's allocation (its arena) or a
/// one-field message's only field.
#[derive(Debug, Default)]
pub struct FixedRegions {
    /// `(start address, length)` of each registered region, in registration order.
    regions: Vec<(usize, usize)>,
    /// Region index of each slot.
    slot_region: Vec<u16>,
}

impl FixedRegions {
    /// One region per message of `pool`; every message must be one contiguous allocation.
    pub fn per_message(pool: &[Message]) -> Result<FixedRegions, FixedBuffersError> {
        if pool.len() > MAX_FIXED_BUFFERS {
            return Err(FixedBuffersError::TooMany { count: pool.len() });
        }
        let mut out = FixedRegions::default();
        for (slot, message) in pool.iter().enumerate() {
            let Some(s) = message.region() else {
                return Err(FixedBuffersError::NotContiguous {
                    fields: message.field_count(),
                });
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

    /// The buffer index for sending every field of `message` from `slot`, each checked to lie
    /// inside that slot's region.
    fn index_for(&self, slot: Slot, message: &Message) -> Option<u16> {
        let index = *self.slot_region.get(slot)?;
        let (start, len) = self.regions[usize::from(index)];
        message
            .fields()
            .all(|f| {
                let a = f.as_ptr() as usize;
                a >= start && a + f.len() <= start + len
            })
            .then_some(index)
    }
}

/// Where a queued send stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpState {
    /// Not in the submission queue yet (new, or to be resubmitted).
    Unsent,
    /// Submitted; its send CQE has not arrived.
    Submitted,
    /// Its send CQE arrived with this `res`.
    Completed(i32),
}

/// One message's send, from queueing until every byte was accepted.
struct Op {
    /// Tells this send's CQE from the others'.
    id: u32,
    slot: Slot,
    /// The iovecs still to send (the front ones trimmed after a short send).
    iov: Vec<libc::iovec>,
    /// Boxed: the SQE points at it until the submission copies it.
    msg: Box<libc::msghdr>,
    /// Bytes still to send.
    left: usize,
    /// Registered region of the slot, with fixed buffers.
    buf_index: Option<u16>,
    state: OpState,
}

impl Op {
    fn empty() -> Op {
        Op {
            id: 0,
            slot: 0,
            iov: Vec::new(),
            // SAFETY: an all-zero msghdr is a valid empty header (no name, iovecs or control).
            msg: Box::new(unsafe { std::mem::zeroed() }),
            left: 0,
            buf_index: None,
            state: OpState::Unsent,
        }
    }

    /// Drops the first `n` bytes of what is left to send.
    fn advance(&mut self, mut n: usize) {
        self.left -= n;
        let mut done = 0;
        for v in &mut self.iov {
            if n < v.iov_len {
                // SAFETY: `n` < the iovec's length, so the new base stays inside its field.
                v.iov_base = unsafe { v.iov_base.cast::<u8>().add(n) }.cast();
                v.iov_len -= n;
                break;
            }
            n -= v.iov_len;
            done += 1;
        }
        self.iov.drain(..done);
    }
}

/// What one send CQE means for its message.
enum Outcome {
    /// The kernel took this many bytes.
    Sent(usize),
    /// Nothing was sent: submit the same bytes again (`EINTR`, `EAGAIN`, `ECANCELED` after an
    /// earlier link failed, `ENOBUFS` once dealt with).
    Again,
}

/// How sends name the socket.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Index 0 of the ring's registered files.
    Fixed,
    /// The plain fd (the kernel refused to register it).
    Fd(RawFd),
}

/// An io_uring send strategy, copying (`uringsend`) or zero-copy (`uringzc`); see the module
/// docs.
pub struct Uring {
    zc: bool,
    fixed_buffers: bool,
    /// Most sends queued or in flight at once.
    depth: usize,
    /// `MSG_WAITALL` on every send (tests turn it off to force short sends).
    wait_all: bool,
    /// Created by `prepare`.
    ring: Option<IoUring>,
    /// Index of the registered ring fd, where the kernel took it.
    ring_index: Option<u32>,
    /// How sends name the socket (set by `prepare`).
    target: Target,
    /// A stream socket (TCP): batches are linked chains, submitted one at a time.
    stream: bool,
    setup: UringSetup,
    /// `DEFER_TASKRUN`: completions are posted only while this thread is in `io_uring_enter`.
    deferred: bool,
    /// Registered regions, with `fixed_buffers`, once the pool is known.
    fixed: Option<FixedRegions>,
    /// Kernel thread id of the thread that submits (the one io-wq workers are named after).
    owner_tid: Option<i32>,
    /// The sends queued or in flight, in the order their messages were handed to `send`.
    window: VecDeque<Op>,
    /// Finished ops, kept for their allocations.
    spare: Vec<Op>,
    next_id: u32,
    /// Per slot: notifications still owed, plus one while its send is in the window. Signed:
    /// a notification could in principle overtake its send CQE.
    holds: Vec<i64>,
    /// Notifications owed over all slots (may dip below zero the same way).
    owed: i64,
    /// Slots whose buffers the kernel is done with, not yet handed back.
    released: Vec<Slot>,
    /// Send SQEs pushed (a resubmission is another).
    calls: u64,
    /// Whether any send has been accepted (an `EINVAL` before that means "unsupported").
    accepted_any: bool,
    enobufs_since: Option<Instant>,
    stats: ZeroCopyStats,
    /// Test knob: while a chain waits this long, cancel its first send (once), to break the
    /// link for real.
    #[cfg(test)]
    cancel_head_after: Option<Duration>,
}

// SAFETY: the raw pointers in queued ops point into the caller's pool (whose buffers the
// trait contract keeps allocated and unwritten until released) and into the ops' own boxes;
// none is tied to a thread. The ring is created, used and dropped on the sending thread
// (`prepare`, `send`, `reap`, `drain` and the drop all run there), as `SINGLE_ISSUER` needs.
unsafe impl Send for Uring {}

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uring")
            .field("kind", &self.kind())
            .field("fixed_buffers", &self.fixed_buffers)
            .field("depth", &self.depth)
            .field("window", &self.window.len())
            .field("owed", &self.owed)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Uring {
    /// `uringsend`: `IORING_OP_SENDMSG`, one iovec per field; the kernel copies, slots come back
    /// with the send CQE. Up to `depth` sends in flight.
    pub fn copying(depth: usize) -> Uring {
        Uring::new(false, false, depth)
    }

    /// `uringzc`: `SENDMSG_ZC` (`SEND_ZC` for one field), slots back on their notifications;
    /// with `fixed_buffers`, the pool is registered and sends use `buf_index`.
    pub fn zero_copy(fixed_buffers: bool, depth: usize) -> Uring {
        Uring::new(true, fixed_buffers, depth)
    }

    fn new(zc: bool, fixed_buffers: bool, depth: usize) -> Uring {
        let depth = depth.clamp(1, MAX_URING_DEPTH);
        Uring {
            zc,
            fixed_buffers,
            depth,
            wait_all: true,
            ring: None,
            ring_index: None,
            target: Target::Fd(-1),
            stream: true,
            setup: UringSetup {
                depth,
                ..UringSetup::default()
            },
            deferred: false,
            fixed: None,
            owner_tid: None,
            window: VecDeque::with_capacity(depth),
            spare: Vec::with_capacity(depth),
            next_id: 0,
            holds: Vec::new(),
            owed: 0,
            released: Vec::new(),
            calls: 0,
            accepted_any: false,
            enobufs_since: None,
            stats: ZeroCopyStats::default(),
            #[cfg(test)]
            cancel_head_after: None,
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

    /// Drops one hold on `slot`; at zero, unless its send is still in the window, the kernel is
    /// done with its buffers.
    fn unhold(&mut self, slot: Slot) -> Result<(), StrategyError> {
        let Some(h) = self.holds.get_mut(slot) else {
            return Err(bad_cqe(format!(
                "a completion names slot {slot}, never sent"
            )));
        };
        *h -= 1;
        if *h == 0 && !self.window.iter().any(|op| op.slot == slot) {
            self.released.push(slot);
        }
        Ok(())
    }

    fn submitted(&self) -> usize {
        self.window
            .iter()
            .filter(|op| op.state == OpState::Submitted)
            .count()
    }

    /// Enters the kernel: submits what is in the submission queue and, with `wait`, waits
    /// for `min_complete` CQEs (up to the timeout, or indefinitely); without, only runs
    /// pending completion work. A signal, a timeout or a full CQ ring just return: callers look
    /// at what arrived and decide.
    fn enter(&mut self, min_complete: u32, timeout: Option<Duration>) -> Result<(), StrategyError> {
        let index = self.ring_index;
        let ring = self.ring();
        let to_submit = ring.submission().len() as u32;
        let ts = timeout.map(|t| KernelTimespec {
            tv_sec: t.as_secs() as i64,
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let arg = GeteventsArg {
            sigmask: 0,
            sigmask_sz: 0,
            min_wait_usec: 0,
            ts: ts.as_ref().map_or(0, |t| t as *const KernelTimespec as u64),
        };
        let (fd, flags) = match index {
            Some(i) => (i as libc::c_int, ENTER_REGISTERED_RING),
            None => (ring.as_raw_fd(), 0),
        };
        // SAFETY: io_uring_enter(2) with EXT_ARG reads `arg` (and the timespec it points at),
        // both alive on this frame until the call returns; the SQEs it submits were pushed
        // under the contracts stated at each push.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                fd,
                to_submit,
                min_complete,
                flags | ENTER_GETEVENTS | ENTER_EXT_ARG,
                &arg as *const GeteventsArg,
                std::mem::size_of::<GeteventsArg>(),
            )
        };
        if ret >= 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR | libc::ETIME | libc::EBUSY | libc::EAGAIN) => Ok(()),
            _ => Err(StrategyError::io("io_uring_enter", e)),
        }
    }

    /// Takes every CQE now in the completion queue into the bookkeeping.
    fn collect(&mut self) -> Result<(), StrategyError> {
        loop {
            let Some(cqe) = self.ring().completion().next() else {
                return Ok(());
            };
            let (data, res, flags) = (cqe.user_data(), cqe.result(), cqe.flags());
            if data == CANCEL_TAG {
                continue;
            }
            let (slot, id) = ((data >> 32) as Slot, data as u32);
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
                continue;
            }
            let Some(op) = self
                .window
                .iter_mut()
                .find(|op| op.id == id && op.state == OpState::Submitted)
            else {
                return Err(bad_cqe(format!(
                    "a send CQE for slot {slot} with no request in flight"
                )));
            };
            op.state = OpState::Completed(res);
            if self.zc && cqueue::more(flags) {
                // This request's pages are released by a notification still to come.
                self.stats.sends += 1;
                self.owed += 1;
                self.hold(slot);
            }
        }
    }

    /// Pushes every unsent op of the window to the submission queue: on a stream socket as one
    /// linked chain, and only when no earlier chain is still in flight (a chain ends with its
    /// submission: two chains in flight could interleave); on UDP unlinked, at any time.
    fn push_unsent(&mut self) -> Result<(), StrategyError> {
        if self.stream && self.submitted() > 0 {
            return Ok(());
        }
        let Some(last) = self
            .window
            .iter()
            .rposition(|op| op.state == OpState::Unsent)
        else {
            return Ok(());
        };
        let (zc, target, flags) = (self.zc, self.target, self.msg_flags());
        let link = self.stream;
        let ring = self
            .ring
            .as_mut()
            .expect("SendStrategy::prepare creates the ring before any send");
        let mut sq = ring.submission();
        for (i, op) in self.window.iter_mut().enumerate() {
            if op.state != OpState::Unsent {
                continue;
            }
            let entry = build_entry(zc, target, flags, op);
            let entry = if link && i != last {
                entry.flags(squeue::Flags::IO_LINK)
            } else {
                entry
            };
            // SAFETY: the entry points at `op.msg` (boxed) and `op.iov`'s buffer, or at the
            // single field: neither is moved, freed or changed while the SQE waits in the
            // queue (ops change only once their CQE arrived, and are dropped only by `Drop`
            // after waiting), and the kernel copies the msghdr and iovecs when it submits
            // (IORING_FEAT_SUBMIT_STABLE, checked in `create_ring`). The payload is the
            // fields of the message in `op.slot`, which stays held, so the caller's pool
            // keeps it allocated and unwritten (trait contract), until the kernel is done.
            unsafe { sq.push(&entry) }.map_err(|_| {
                StrategyError::io(
                    "io_uring push",
                    std::io::Error::other("submission queue full"),
                )
            })?;
            op.state = OpState::Submitted;
        }
        Ok(())
    }

    /// One step: submits what may be submitted, enters the kernel (waiting, with `wait`, for
    /// the whole chain on TCP or one completion on UDP, up to `timeout`), takes the CQEs in and
    /// settles the sends whose outcome is known.
    fn progress(&mut self, wait: bool, timeout: Option<Duration>) -> Result<(), StrategyError> {
        self.push_unsent()?;
        #[cfg(test)]
        self.maybe_cancel_head()?;
        let in_flight = self.submitted();
        let min_complete = match (wait, self.stream) {
            (false, _) => 0,
            (true, true) => in_flight.max(1) as u32,
            (true, false) => 1,
        };
        let ring = self.ring();
        if min_complete > 0 || !ring.submission().is_empty() || self.deferred {
            self.enter(min_complete, timeout)?;
        }
        self.collect()?;
        self.settle()
    }

    /// Settles the window: finished sends leave it and release their slot; short or
    /// refused ones (and, on TCP, everything after them) go back to be resubmitted, in order.
    /// On TCP only once nothing is in flight: a chain's outcome is read as a whole.
    fn settle(&mut self) -> Result<(), StrategyError> {
        if self.stream && self.submitted() > 0 {
            return Ok(());
        }
        // Stream: an earlier message of the window has bytes left to send.
        let mut gap = false;
        let mut again = 0;
        let mut i = 0;
        while i < self.window.len() {
            let OpState::Completed(res) = self.window[i].state else {
                gap = true;
                i += 1;
                continue;
            };
            let single = self.zc && self.window[i].iov.len() == 1;
            let outcome = self.interpret(res, single)?;
            if self.stream && gap && matches!(outcome, Outcome::Sent(_)) {
                return Err(StrategyError::io(
                    self.op_name(single),
                    std::io::Error::other(format!(
                        "TCP byte order lost: a send of a linked batch went ({res} bytes) after \
                         an earlier one of the batch ended short or failed"
                    )),
                ));
            }
            let op = &mut self.window[i];
            match outcome {
                Outcome::Sent(n) if n >= op.left => {
                    let op = self.window.remove(i).expect("i is in the window");
                    let slot = op.slot;
                    self.spare.push(op);
                    self.unhold(slot)?;
                    continue;
                }
                Outcome::Sent(n) => {
                    op.advance(n);
                    op.state = OpState::Unsent;
                }
                Outcome::Again => op.state = OpState::Unsent,
            }
            // A resubmission is another call.
            self.calls += 1;
            again += 1;
            gap = true;
            i += 1;
        }
        if self.stream && again > 1 {
            self.setup.broken_links += 1;
        }
        Ok(())
    }

    /// What one send CQE means.
    fn interpret(&mut self, res: i32, single: bool) -> Result<Outcome, StrategyError> {
        if res > 0 {
            self.enobufs_since = None;
            self.accepted_any = true;
            return Ok(Outcome::Sent(res as usize));
        }
        match -res {
            0 => Err(StrategyError::io(
                self.op_name(single),
                std::io::Error::other("the kernel accepted 0 bytes of a non-empty send"),
            )),
            libc::EINTR | libc::EAGAIN | libc::ECANCELED => Ok(Outcome::Again),
            libc::ENOBUFS => {
                let since = *self.enobufs_since.get_or_insert_with(Instant::now);
                self.on_enobufs(since)?;
                Ok(Outcome::Again)
            }
            libc::EINVAL if self.zc && !self.accepted_any && self.stats.completions == 0 => {
                Err(StrategyError::Unsupported {
                    strategy: StrategyKind::UringZc,
                    reason: format!(
                        "the first {} was refused with EINVAL: the kernel lacks \
                         IORING_SEND_ZC_REPORT_USAGE (Linux 6.2+){}",
                        self.op_name(single),
                        if self.fixed_buffers {
                            " or fixed-buffer sends (SENDMSG_ZC with buf_index: Linux 6.15+)"
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

    /// `ENOBUFS`: if notifications are owed, wait briefly for them, otherwise back off, and
    /// give up if it lasts.
    fn on_enobufs(&mut self, since: Instant) -> Result<(), StrategyError> {
        self.stats.enobufs += 1;
        if self.owed > 0 {
            self.enter(1, Some(Duration::from_millis(10)))?;
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

    /// Waits until no send is in flight and no notification owed, or `timeout` passed; true
    /// if so. Submits nothing new.
    fn wait_idle(&mut self, timeout: Duration) -> Result<bool, StrategyError> {
        let started = Instant::now();
        self.collect()?;
        while self.submitted() > 0 || self.owed > 0 {
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Ok(false);
            }
            self.enter(1, Some(left.min(WAIT_SLICE)))?;
            self.collect()?;
        }
        Ok(true)
    }

    /// Outstanding work, for error messages: sends in the window plus notifications owed.
    fn outstanding(&self) -> u64 {
        self.window.len() as u64 + self.owed.max(0) as u64
    }

    /// Test knob: without `MSG_WAITALL` the kernel returns short sends, which `send` must
    /// resubmit.
    #[cfg(test)]
    fn without_wait_all(mut self) -> Uring {
        self.wait_all = false;
        self
    }

    /// Test knob: once a chain's first send has waited `after`, cancel it
    /// (`IORING_OP_ASYNC_CANCEL`), which breaks the link for real.
    #[cfg(test)]
    fn maybe_cancel_head(&mut self) -> Result<(), StrategyError> {
        let Some(after) = self.cancel_head_after else {
            return Ok(());
        };
        let Some(head) = self.window.front() else {
            return Ok(());
        };
        if head.state != OpState::Submitted {
            return Ok(());
        }
        let data = user_data(head.slot, head.id);
        self.enter(self.submitted() as u32, Some(after))?;
        self.collect()?;
        if self.window.front().map(|op| op.state) == Some(OpState::Submitted) {
            let cancel = opcode::AsyncCancel::new(data).build().user_data(CANCEL_TAG);
            // SAFETY: a cancellation request points at no memory.
            unsafe { self.ring().submission().push(&cancel) }.expect("room for one cancel");
            self.cancel_head_after = None;
        }
        Ok(())
    }
}

fn user_data(slot: Slot, id: u32) -> u64 {
    (slot as u64) << 32 | u64::from(id)
}

/// The SQE for what is left of `op` (its `msghdr` filled in here).
fn build_entry(zc: bool, target: Target, flags: i32, op: &mut Op) -> squeue::Entry {
    macro_rules! on_target {
        ($fd:ident => $e:expr) => {
            match target {
                Target::Fixed => {
                    let $fd = types::Fixed(0);
                    $e
                }
                Target::Fd(raw) => {
                    let $fd = types::Fd(raw);
                    $e
                }
            }
        };
    }
    let data = user_data(op.slot, op.id);
    if zc && op.iov.len() == 1 {
        let v = op.iov[0];
        let len = v.iov_len.min(u32::MAX as usize) as u32;
        let entry = on_target!(fd => opcode::SendZc::new(fd, v.iov_base.cast::<u8>(), len)
            .buf_index(op.buf_index)
            .flags(flags)
            .zc_flags(REPORT_USAGE)
            .build());
        return entry.user_data(data);
    }
    op.msg.msg_iov = op.iov.as_mut_ptr();
    op.msg.msg_iovlen = op.iov.len();
    let msg: *const libc::msghdr = &*op.msg;
    let entry = if zc {
        on_target!(fd => opcode::SendMsgZc::new(fd, msg)
            .ioprio(REPORT_USAGE)
            .flags(flags as u32)
            .buf_index(op.buf_index)
            .build())
    } else {
        on_target!(fd => opcode::SendMsg::new(fd, msg).flags(flags as u32).build())
    };
    entry.user_data(data)
}

fn bad_cqe(what: String) -> StrategyError {
    StrategyError::io("io_uring completion", std::io::Error::other(what))
}

/// Registers the ring's own fd (`IORING_REGISTER_RING_FDS`, Linux 5.18): returns its index.
fn register_ring_fd(ring: &IoUring) -> std::io::Result<u32> {
    let mut update = RsrcUpdate {
        offset: u32::MAX,
        resv: 0,
        data: ring.as_raw_fd() as u64,
    };
    // SAFETY: io_uring_register(2) reads and writes one `io_uring_rsrc_update`, alive here.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring.as_raw_fd(),
            REGISTER_RING_FDS,
            &mut update as *mut RsrcUpdate,
            1,
        )
    };
    if ret == 1 {
        Ok(update.offset)
    } else if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Err(std::io::Error::other("the kernel registered no ring fd"))
    }
}

/// Unregisters a ring fd registered by [`register_ring_fd`]: the registration belongs to the
/// thread and would otherwise keep the ring alive as long as it.
fn unregister_ring_fd(ring: &IoUring, index: u32) {
    let mut update = RsrcUpdate {
        offset: index,
        resv: 0,
        data: 0,
    };
    // SAFETY: as in `register_ring_fd`.
    let _ = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring.as_raw_fd(),
            UNREGISTER_RING_FDS,
            &mut update as *mut RsrcUpdate,
            1,
        )
    };
}

impl SendStrategy for Uring {
    fn kind(&self) -> StrategyKind {
        if self.zc {
            StrategyKind::UringZc
        } else {
            StrategyKind::UringSend
        }
    }

    fn prepare(&mut self, socket: BorrowedFd<'_>) -> Result<(), StrategyError> {
        let kind = self.kind();
        let unsupported = |reason: UringUnavailable| StrategyError::Unsupported {
            strategy: kind,
            reason: reason.to_string(),
        };
        // Room for a whole batch and a cancellation.
        let sq_entries = (self.depth as u32 + 1).next_power_of_two().max(8);
        let NewRing {
            ring,
            flags,
            mut refused,
        } = create_ring(sq_entries, &SETUP_TRIES).map_err(unsupported)?;
        let probe = probe_ring(&ring).map_err(unsupported)?;
        let missing: Vec<&str> = OPCODES
            .iter()
            .filter(|&&(_, code, used_by)| used_by == kind && !probe.is_supported(code))
            .map(|&(name, _, _)| name)
            .collect();
        if !missing.is_empty() {
            return Err(unsupported(UringUnavailable::MissingOpcodes(
                missing.join(" and "),
            )));
        }
        self.stream = rustix::net::sockopt::socket_type(socket)
            .map_err(|e| StrategyError::io("getsockopt(SO_TYPE)", e))?
            == rustix::net::SocketType::STREAM;
        self.target = match ring.submitter().register_files(&[socket.as_raw_fd()]) {
            Ok(()) => Target::Fixed,
            Err(e) => {
                refused.push(format!("io_uring_register_files: {e}"));
                Target::Fd(socket.as_raw_fd())
            }
        };
        self.ring_index = match register_ring_fd(&ring) {
            Ok(i) => Some(i),
            Err(e) => {
                refused.push(format!("IORING_REGISTER_RING_FDS: {e}"));
                None
            }
        };
        self.deferred = flags.iter().any(|f| f == "DEFER_TASKRUN");
        self.setup = UringSetup {
            depth: self.depth,
            linked: self.stream && self.depth > 1,
            setup_flags: flags,
            registered_file: matches!(self.target, Target::Fixed),
            registered_ring_fd: self.ring_index.is_some(),
            refused,
            broken_links: 0,
        };
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

    /// Queues the message; once `depth` are queued, submits the batch and waits until there is
    /// room again (UDP: one completed; TCP: the whole chain completed). Returns having queued
    /// it, not necessarily sent it: `reap` and `drain` finish the rest.
    fn send(
        &mut self,
        _socket: BorrowedFd<'_>,
        message: &Message,
        slot: Slot,
    ) -> Result<SendReport, StrategyError> {
        let calls_before = self.calls;
        let buf_index = match &self.fixed {
            None => None,
            Some(fixed) => Some(fixed.index_for(slot, message).ok_or_else(|| {
                StrategyError::io(
                    "io_uring fixed-buffer send",
                    std::io::Error::other(format!(
                        "slot {slot}'s message is not inside its registered buffer"
                    )),
                )
            })?),
        };
        let mut op = self.spare.pop().unwrap_or_else(Op::empty);
        op.iov.clear();
        op.iov.extend(message.fields().map(|f| libc::iovec {
            iov_base: f.as_ptr() as *mut libc::c_void,
            iov_len: f.len(),
        }));
        op.left = op.iov.iter().map(|v| v.iov_len).sum();
        op.id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        op.slot = slot;
        op.buf_index = buf_index;
        op.state = OpState::Unsent;
        // Held while in the window, so that an early notification cannot release it.
        self.hold(slot);
        self.window.push_back(op);
        self.calls += 1;
        while self.window.len() >= self.depth {
            self.progress(true, None)?;
        }
        Ok(SendReport {
            calls: (self.calls - calls_before) as u32,
        })
    }

    fn reap(
        &mut self,
        _socket: BorrowedFd<'_>,
        wait: bool,
        released: &mut Vec<Slot>,
    ) -> Result<(), StrategyError> {
        self.collect()?;
        self.settle()?;
        if !wait {
            // With DEFER_TASKRUN, completions (zero-copy notifications among them) are posted
            // only inside io_uring_enter: run that work without waiting, when the kernel has
            // anything of ours. Queued sends stay queued: submitting a batch early would only
            // cost the batching.
            if self.deferred && self.released.is_empty() && (self.submitted() > 0 || self.owed > 0)
            {
                self.enter(0, None)?;
                self.collect()?;
                self.settle()?;
            }
        } else {
            let started = Instant::now();
            while self.released.is_empty() && self.outstanding() > 0 {
                if started.elapsed() > COMPLETION_WAIT {
                    return Err(StrategyError::MissingCompletions {
                        outstanding: self.outstanding(),
                        waited: COMPLETION_WAIT,
                    });
                }
                self.progress(true, Some(WAIT_SLICE))?;
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
        let started = Instant::now();
        let mut result = Ok(());
        while self.outstanding() > 0 {
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                result = Err(StrategyError::MissingCompletions {
                    outstanding: self.outstanding(),
                    waited: timeout,
                });
                break;
            }
            if let Err(e) = self.progress(true, Some(left.min(WAIT_SLICE))) {
                result = Err(e);
                break;
            }
        }
        released.append(&mut self.released);
        result
    }

    fn zerocopy_stats(&self) -> Option<ZeroCopyStats> {
        self.zc.then(|| {
            let mut stats = self.stats.clone();
            stats.copied_ratio =
                (stats.completions > 0).then(|| stats.copied as f64 / stats.completions as f64);
            stats
        })
    }

    fn uring_setup(&self) -> Option<UringSetup> {
        Some(self.setup.clone())
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
        if self.ring.is_some() && (self.submitted() > 0 || self.owed > 0) {
            let _ = self.wait_idle(DROP_WAIT);
        }
        if let (Some(ring), Some(index)) = (&self.ring, self.ring_index) {
            unregister_ring_fd(ring, index);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream, UdpSocket};
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

    /// Streams `count` messages of `size` bytes in `fields` fields (packed) through `strategy`
    /// from a pool of `pool` over loopback TCP with a small send buffer (128 KiB: much
    /// smaller stalls loopback TCP for tens of milliseconds per write, blocking or not); the
    /// reader starts after `reader_delay`. Returns the strategy, the send calls per message
    /// and what arrived, or the first error.
    fn try_stream(
        mut strategy: Uring,
        size: usize,
        fields: usize,
        count: u64,
        pool: usize,
        reader_delay: Duration,
    ) -> Result<(Uring, Vec<u32>, Vec<u8>), StrategyError> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        rustix::net::sockopt::set_socket_send_buffer_size(&socket, 128 << 10).unwrap();
        let reader = std::thread::spawn(move || {
            std::thread::sleep(reader_delay);
            let mut got = Vec::new();
            let _ = peer.read_to_end(&mut got);
            got
        });
        let layout = Layout::new(size, fields);
        let mut pool: Vec<Message> = (0..pool)
            .map(|_| Message::new(&layout, Align::default(), 3))
            .collect();
        let result = (|| {
            strategy.prepare(socket.as_fd())?;
            strategy.register_pool(&pool)?;
            let mut free: Vec<Slot> = (0..pool.len()).rev().collect();
            let mut calls = Vec::new();
            for seq in 0..count {
                while free.is_empty() {
                    strategy.reap(socket.as_fd(), true, &mut free)?;
                }
                let slot = free.pop().unwrap();
                pool[slot].stamp(seq);
                calls.push(strategy.send(socket.as_fd(), &pool[slot], slot)?.calls);
            }
            strategy.drain(socket.as_fd(), Duration::from_secs(10), &mut free)?;
            Ok(calls)
        })();
        // Not a close: the ring's registered file holds the socket open until it is dropped.
        let _ = socket.shutdown(std::net::Shutdown::Write);
        let got = reader.join().unwrap();
        result.map(|calls| (strategy, calls, got))
    }

    fn expected(size: usize, count: u64) -> Vec<u8> {
        (0..count)
            .flat_map(|seq| pattern::expected_message(3, seq, size))
            .collect()
    }

    /// [`try_stream`] that must succeed with every byte in order.
    fn stream(strategy: Uring, size: usize, fields: usize, count: u64) -> (Uring, Vec<u32>) {
        let what = format!("{strategy:?}");
        let (strategy, calls, got) =
            try_stream(strategy, size, fields, count, 2, Duration::ZERO).unwrap();
        assert!(
            got == expected(size, count),
            "{what}: the stream differs from what was sent"
        );
        if let Some(stats) = strategy.zerocopy_stats() {
            assert_eq!(stats.completions, stats.sends);
            assert!(stats.sends >= count);
        }
        (strategy, calls)
    }

    #[test]
    fn short_sends_are_resubmitted_in_order() {
        // Without MSG_WAITALL, 1 MiB through a 128 KiB send buffer comes back in pieces.
        for (strategy, fields) in [
            (Uring::copying(1), 8),
            (Uring::zero_copy(false, 1), 8),
            (Uring::zero_copy(false, 1), 1),
            (Uring::zero_copy(true, 1), 1),
            (Uring::zero_copy(true, 1), 8),
        ] {
            let (_, calls) = stream(strategy.without_wait_all(), 1 << 20, fields, 6);
            assert!(
                calls.iter().any(|&c| c > 1),
                "no short send happened: {calls:?}"
            );
        }
    }

    #[test]
    fn with_wait_all_every_strategy_streams_exactly() {
        for depth in [1, 4] {
            for (strategy, fields) in [
                (Uring::copying(depth), 8),
                (Uring::zero_copy(false, depth), 8),
                (Uring::zero_copy(true, depth), 1),
                (Uring::zero_copy(true, depth), 8),
            ] {
                stream(strategy, 100_000, fields, 20);
            }
        }
    }

    #[test]
    fn several_linked_sends_in_flight_keep_the_tcp_byte_order() {
        // 1 MiB messages through a 128 KiB send buffer: every send of a chain waits for socket
        // space several times; unlinked, their pieces would interleave on the stream.
        for depth in [2, 4, 16] {
            for (strategy, fields) in [
                (Uring::copying(depth), 8),
                (Uring::zero_copy(false, depth), 8),
                (Uring::zero_copy(false, depth), 1),
                (Uring::zero_copy(true, depth), 8),
            ] {
                let (_, _, got) =
                    try_stream(strategy, 1 << 20, fields, 40, 32, Duration::ZERO).unwrap();
                assert!(
                    got == expected(1 << 20, 40),
                    "depth {depth}, {fields} fields: the stream lost its order"
                );
            }
        }
    }

    #[test]
    fn a_link_broken_by_a_short_send_is_resubmitted_in_order() {
        // The reader waits 300 ms, so the first 1 MiB send of a chain of 4 fills the socket
        // and waits; cancelling it then ends it short (the CQE says how many bytes went) and
        // the kernel cancels the 3 sends linked behind it. All of it must be resubmitted in
        // order: the rest of the first message, then the three others.
        for strategy in [Uring::copying(4), Uring::zero_copy(false, 4)] {
            let mut strategy = strategy;
            strategy.cancel_head_after = Some(Duration::from_millis(50));
            let (strategy, _, got) =
                try_stream(strategy, 1 << 20, 8, 12, 8, Duration::from_millis(300)).unwrap();
            assert!(
                strategy.cancel_head_after.is_none(),
                "the cancellation was never sent"
            );
            assert!(
                strategy.setup.broken_links >= 1,
                "no link was broken: {:?}",
                strategy.setup
            );
            assert!(
                got == expected(1 << 20, 12),
                "the stream differs after the broken link"
            );
        }
    }

    #[test]
    fn a_linked_batch_without_wait_all_that_leaves_a_hole_is_an_error() {
        // Without MSG_WAITALL a short send completes successfully and the next link runs: the
        // stream would have a hole where the rest of the first message belongs. That must be
        // an error, never bytes resubmitted out of order.
        let err = match try_stream(
            Uring::copying(4).without_wait_all(),
            1 << 20,
            8,
            8,
            8,
            Duration::ZERO,
        ) {
            Err(e) => e,
            Ok((_, _, got)) => {
                assert!(got != expected(1 << 20, 8), "lucky: nothing went short");
                panic!("a hole in the stream went unnoticed");
            }
        };
        assert!(err.to_string().contains("byte order lost"), "{err}");
    }

    #[test]
    fn udp_sends_in_flight_arrive_every_one() {
        // Datagrams are unlinked: a batch of `depth` goes in one io_uring_enter.
        for depth in [1, 8] {
            for strategy in [Uring::copying(depth), Uring::zero_copy(false, depth)] {
                let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
                rustix::net::sockopt::set_socket_recv_buffer_size(&rx, 4 << 20).unwrap();
                let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
                tx.connect(rx.local_addr().unwrap()).unwrap();
                let mut strategy = strategy;
                strategy.prepare(tx.as_fd()).unwrap();
                assert!(!strategy.stream && !strategy.setup.linked);
                let layout = Layout::new(1000, 4);
                let mut pool: Vec<Message> = (0..16)
                    .map(|_| Message::new(&layout, Align::default(), 3))
                    .collect();
                let mut free: Vec<Slot> = (0..16).rev().collect();
                let mut calls = 0;
                for seq in 0..200u64 {
                    while free.is_empty() {
                        strategy.reap(tx.as_fd(), true, &mut free).unwrap();
                    }
                    let slot = free.pop().unwrap();
                    pool[slot].stamp(seq);
                    calls += strategy.send(tx.as_fd(), &pool[slot], slot).unwrap().calls;
                }
                strategy
                    .drain(tx.as_fd(), Duration::from_secs(5), &mut free)
                    .unwrap();
                assert_eq!(calls, 200);
                let mut buf = [0u8; 2000];
                let mut seen = Vec::new();
                rx.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                for _ in 0..200 {
                    let n = rx.recv(&mut buf).unwrap();
                    assert_eq!(n, 1000);
                    let seq = (0..200u64)
                        .find(|&s| buf[..n] == pattern::expected_message(3, s, 1000)[..])
                        .expect("a datagram as sent");
                    seen.push(seq);
                }
                seen.sort_unstable();
                assert_eq!(seen, (0..200).collect::<Vec<_>>(), "depth {depth}");
            }
        }
    }

    #[test]
    fn the_ring_uses_the_task_run_flags_a_registered_file_and_ring_fd() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut u = Uring::copying(4);
        u.prepare(socket.as_fd()).unwrap();
        let setup = u.uring_setup().unwrap();
        // This kernel (6.18) has them all: nothing falls back.
        assert_eq!(setup.setup_flags, ["SINGLE_ISSUER", "DEFER_TASKRUN"]);
        assert!(
            setup.registered_file && setup.registered_ring_fd,
            "{setup:?}"
        );
        assert!(setup.refused.is_empty(), "{setup:?}");
        assert!(setup.linked && setup.depth == 4);
        assert!(u.deferred && u.ring_index.is_some());
    }

    #[test]
    fn a_refused_setup_falls_back_and_says_why() {
        // DEFER_TASKRUN without SINGLE_ISSUER is refused by the kernel itself (EINVAL).
        let made = create_ring(8, &[&["DEFER_TASKRUN"], &["COOP_TASKRUN"]]).unwrap();
        assert_eq!(made.flags, ["COOP_TASKRUN"]);
        assert_eq!(made.refused.len(), 1, "{:?}", made.refused);
        assert!(
            made.refused[0].contains("IORING_SETUP_DEFER_TASKRUN"),
            "{:?}",
            made.refused
        );
    }

    #[test]
    fn a_slot_is_released_once_whatever_order_its_completions_come_in() {
        // The order `send`, `collect` and `settle` apply: a hold while the send is in the
        // window, +1 per send CQE that owes a notification, -1 per notification, the window's
        // hold dropped once the send finished.
        let mut u = Uring::zero_copy(false, 1);
        let in_window = |u: &mut Uring, slot| {
            let mut op = Op::empty();
            op.slot = slot;
            u.window.push_back(op);
        };
        // Usual order: send CQE, end of send, notification.
        u.hold(0);
        in_window(&mut u, 0);
        u.hold(0);
        u.window.clear();
        u.unhold(0).unwrap();
        assert!(u.released.is_empty(), "released before its notification");
        u.unhold(0).unwrap();
        assert_eq!(u.released, [0]);
        // A notification overtaking its send CQE must not release the slot mid-send.
        u.released.clear();
        u.hold(0);
        in_window(&mut u, 0);
        u.unhold(0).unwrap();
        assert!(u.released.is_empty(), "released while still being sent");
        u.hold(0);
        u.window.clear();
        u.unhold(0).unwrap();
        assert_eq!(u.released, [0]);
    }

    #[test]
    fn fixed_buffers_take_packed_messages_of_any_field_count_only() {
        let pool = [Message::new(&Layout::new(4096, 8), Align::Packed, 0)];
        let regions = FixedRegions::per_message(&pool).unwrap();
        assert_eq!(regions.index_for(0, &pool[0]), Some(0));
        let apart = [Message::new(&Layout::new(4096, 2), Align::Offset(96), 0)];
        let err = FixedRegions::per_message(&apart).unwrap_err().to_string();
        assert!(
            err.contains("--fixed-buffers") && err.contains("packed"),
            "{err}"
        );
    }

    #[test]
    fn punted_work_shows_up_as_worker_cpu() {
        // IOSQE_ASYNC forces a request onto an io-wq worker, named after this thread.
        let tid = rustix::thread::gettid().as_raw_nonzero().get();
        let mut ring = create_ring(8, &[&[]]).unwrap().ring;
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
