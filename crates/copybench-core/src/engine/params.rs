use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ParamsError;
use crate::message::{last_level_cache, message_footprint, socket_send_budget, Align, Layout};
use crate::model::{DataTemperature, Mode, Protocol, ReceiveKind, Verify};
use crate::pattern::STAMP_LEN;
use crate::strategy::{
    receive_margin, StrategyKind, DEFAULT_URING_DEPTH, MAX_FIXED_BUFFERS, MAX_URING_DEPTH,
};
use crate::units::format_size;

/// Largest message: 64 MiB (a message and its pool must fit in memory many times over).
pub const MAX_MSG_SIZE: usize = 64 << 20;
/// Most connections (thread pairs) in one point.
pub const MAX_THREADS: usize = 256;
/// Most fields per message: `IOV_MAX` on Linux.
pub const MAX_FIELDS: usize = 1024;
/// Bytes a TCP stream receiver asks for per read unless told otherwise: 256 KiB.
pub const DEFAULT_READ_SIZE: usize = 256 << 10;
/// Largest read size: 64 MiB.
pub const MAX_READ_SIZE: usize = 64 << 20;
/// Most message buffers per connection.
pub const MAX_POOL: usize = 65536;
/// Most memory all connections' message buffers may take together: 4 GiB.
pub const MAX_POOL_BYTES: usize = 4 << 30;
/// A cold pool holds this many times the last-level cache per connection: twice, so that
/// no replacement policy keeps a useful part of it cached between two uses of a buffer.
pub const COLD_POOL_LLC_FACTOR: usize = 2;
/// The last-level cache assumed for sizing the cold pool where sysfs does not tell it.
pub const ASSUMED_LLC_BYTES: usize = 32 << 20;

/// Smallest `TCP_MAXSEG` a point may ask for (Linux's `TCP_MIN_MSS` is 88).
pub const MIN_TCP_MAXSEG: u32 = 88;
/// Largest `TCP_MAXSEG` Linux accepts (`MAX_TCP_WINDOW`, 32767).
pub const MAX_TCP_MAXSEG: u32 = 32767;

/// Largest UDP payload in one IPv4 datagram (65535 - 20 IP - 8 UDP header bytes).
pub const MAX_DATAGRAM: usize = 65507;

/// Most datagrams one `UDP_SEGMENT` send may carry (`UDP_MAX_SEGMENTS`, 64 before Linux 6.9).
pub const MAX_GSO_SEGMENTS: usize = 64;

/// Everything that defines one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointParams {
    /// How messages are handed to the kernel.
    pub strategy: StrategyKind,
    /// Message size in bytes.
    pub msg_size: usize,
    /// Connections (sender/receiver thread pairs).
    pub threads: usize,
    /// 0-based repetition index (recorded, not used by the engine).
    pub repetition: usize,
    /// What is measured.
    pub mode: Mode,
    /// The transport.
    #[serde(default)]
    pub protocol: Protocol,
    /// Fields per message (fewer if the message is smaller than this many bytes).
    pub fields: usize,
    /// Message buffers per connection; `None` picks [`PointParams::default_pool`] (hot) or
    /// [`PointParams::cold_pool`] (cold).
    pub pool: Option<usize>,
    /// Which of the pool's buffers are sent from: the fewest (hot) or all in turn (cold).
    /// Points from before it was a parameter ran neither (see docs/results.md); they read as
    /// hot.
    #[serde(default)]
    pub data: DataTemperature,
    /// Where the fields sit relative to page boundaries.
    pub align: Align,
    /// Unmeasured streaming before the measured interval.
    pub warmup: Duration,
    /// The measured interval.
    pub duration: Duration,
    /// How long to wait at the end for outstanding zero-copy completions.
    pub drain_timeout: Duration,
    /// io_uring zero-copy only: register the pool's buffers with the ring
    /// (`io_uring_register_buffers`) and send with `buf_index`. Needs every message in one
    /// allocation: the packed placement, or one field (see [`PointParams::validate`]).
    #[serde(default)]
    pub fixed_buffers: bool,
    /// io_uring strategies: sends in flight per socket; `None` takes
    /// [`DEFAULT_URING_DEPTH`] (see [`PointParams::uring_depth`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uring_depth: Option<usize>,
    /// How much the receivers check (`full` unless asked otherwise).
    #[serde(default)]
    pub verify: Verify,
    /// TCP stream receivers: bytes asked for per read call; `None` reads up to
    /// [`DEFAULT_READ_SIZE`]. A large read drains the socket and sleeps until the next segment,
    /// which then costs a wake-up; `copybench peers` reads the write size, as iperf3 and
    /// nuttcp do. rr reads at most the rest of one message; UDP one datagram, whatever this
    /// says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_size: Option<usize>,
    /// How the receivers take the payload off the socket (`--receive`; `read` unless asked
    /// otherwise). [`Verify::Discard`] also means `trunc` (see [`PointParams::receive_kind`]).
    #[serde(default)]
    pub receive: ReceiveKind,
    /// TCP: the MSS the receivers' listener asks for (`TCP_MAXSEG` before `accept`), so that
    /// the sender's segments carry whole pages (4108: 4096 bytes of payload beside 12 bytes
    /// of timestamp option) and `TCP_ZEROCOPY_RECEIVE` can map them over loopback, whose MTU
    /// the run leaves alone. `None`: the path's own MSS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_maxseg: Option<u32>,
    /// **Test hook, not for measurements**: a `zerocopy` receiver checks its first mapped
    /// chunk as if one of its bytes were flipped (a wrong page in the mapping), to prove that
    /// mapped bytes go through the same check as copied ones. A `copybench server` refuses
    /// points that set it.
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub corrupt_mapping: bool,
    /// Paced senders (`--rate`): payload bits per second each connection sends at most
    /// (see `engine/pacing.rs`); `None`: as fast as it goes. Stream mode only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_bps: Option<u64>,
    /// **Test hook, not for measurements**: corrupt message number N of every connection, to
    /// prove that the receiver's check can fail. A `copybench server` refuses points that set it.
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrupt_message: Option<u64>,
    /// **Test hook, not for measurements**: every sender sleeps this long once, in its first
    /// message step of the warm-up, as a send blocked in the kernel would, to prove that a
    /// stall is measured. A `copybench server` refuses points that set it.
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_once: Option<Duration>,
    /// `splice` only: `vmsplice` with `SPLICE_F_GIFT` (`--splice-gift`).
    #[serde(default)]
    pub splice_gift: bool,
    /// The senders' pools from 2 MiB pages (`--hugepages`): `MAP_HUGETLB`, else transparent
    /// huge pages with `madvise`; what the kernel gave is the point's `hugepages`.
    #[serde(default)]
    pub hugepages: bool,
    /// UDP only: `UDP_SEGMENT` of this many bytes (`--udp-gso`), so that each send (one
    /// message) leaves as datagrams of this size, the last one shorter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_gso: Option<usize>,
    /// **Test hook, not for measurements**: `sendfile` and `splice` release buffers earlier
    /// than their rule allows, to prove that the receiver catches a rewritten page. A
    /// `copybench server` refuses points that set it.
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_release: Option<crate::strategy::EarlyRelease>,
}

impl PointParams {
    /// A point with the defaults: 8 fields, automatic pool, default placement, 1 s warm-up,
    /// 5 s measured.
    pub fn new(strategy: StrategyKind, msg_size: usize, threads: usize) -> PointParams {
        PointParams {
            strategy,
            msg_size,
            threads,
            repetition: 0,
            mode: Mode::Stream,
            protocol: Protocol::Tcp,
            fields: 8,
            pool: None,
            data: DataTemperature::Hot,
            align: Align::default(),
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(10),
            fixed_buffers: false,
            uring_depth: None,
            verify: Verify::Full,
            read_size: None,
            receive: ReceiveKind::Read,
            tcp_maxseg: None,
            corrupt_mapping: false,
            rate_bps: None,
            corrupt_message: None,
            stall_once: None,
            splice_gift: false,
            hugepages: false,
            udp_gso: None,
            early_release: None,
        }
    }

    /// Bytes per read call of a TCP stream receiver, as used.
    pub fn read_size(&self) -> usize {
        self.read_size.unwrap_or(DEFAULT_READ_SIZE)
    }

    /// The receive strategy as used: `trunc` where [`Verify::Discard`] was asked for (its
    /// older spelling), else [`receive`](Self::receive).
    pub fn receive_kind(&self) -> ReceiveKind {
        if self.verify == Verify::Discard {
            ReceiveKind::Trunc
        } else {
            self.receive
        }
    }

    /// What the receivers check, as used: [`Verify::Discard`] (counts only) for `trunc`,
    /// whose bytes never reach user space, else [`verify`](Self::verify).
    pub fn verification(&self) -> Verify {
        if self.receive_kind() == ReceiveKind::Trunc {
            Verify::Discard
        } else {
            self.verify
        }
    }

    /// io_uring sends in flight per socket, as used: `uring_depth`, or
    /// [`DEFAULT_URING_DEPTH`]; always 1 in rr mode, where each message waits for its reply
    /// (a second send could only be queued behind it).
    pub fn uring_depth(&self) -> usize {
        if self.mode == Mode::Rr {
            1
        } else {
            self.uring_depth.unwrap_or(DEFAULT_URING_DEPTH)
        }
    }

    /// Message buffers per connection, as used: `pool`, or [`PointParams::default_pool`]
    /// (hot data) or [`PointParams::cold_pool`] (cold data).
    pub fn pool_size(&self) -> usize {
        self.pool.unwrap_or_else(|| match self.data {
            DataTemperature::Hot => self.default_pool(),
            DataTemperature::Cold => self.cold_pool(),
        })
    }

    /// The cold pool: payload worth [`COLD_POOL_LLC_FACTOR`] times the last-level cache
    /// ([`last_level_cache`]; 32 MiB assumed where sysfs does not say) per connection, and
    /// never less than the pool `sendfile` and `splice` need (their hot default, the largest
    /// of any strategy), within the same limits ([`MAX_POOL`] buffers, the [`MAX_POOL_BYTES`]
    /// all connections may take, a ring's registered buffers). Below 1 KiB [`MAX_POOL`] caps
    /// it under twice a 32 MiB cache: the point's `pool_bytes` says so.
    ///
    /// The same for every strategy at one size, whatever the strategy needs on its own: a
    /// cold comparison is then one temperature, where the hot one cannot be (`sendfile` and
    /// `splice` cannot reuse a buffer before the peer acknowledged it plus what a receiver
    /// may hold unread; the findings' `mixed_pools` caveat says so for hot runs).
    pub fn cold_pool(&self) -> usize {
        let llc = last_level_cache().unwrap_or(ASSUMED_LLC_BYTES);
        let wanted = (COLD_POOL_LLC_FACTOR * llc).div_ceil(self.msg_size.max(1));
        self.pool_within_limits(wanted.max(self.by_reference_pool()))
    }

    /// The default pool, sized in bytes rather than messages: twice what a socket may hold in
    /// flight ([`socket_send_budget`], `net.ipv4.tcp_wmem`'s max), never fewer than 64
    /// messages, within [`MAX_POOL`] and the [`MAX_POOL_BYTES`] all connections may take.
    ///
    /// On a real link a zero-copy buffer comes back only after the ACK, so a pool smaller than
    /// the data in flight caps zero-copy's throughput at pool/RTT (256 KiB at 1 KiB messages
    /// would be about 21 Gbps with a 100 us RTT) while the copying strategies, whose buffers
    /// come back at once, are not capped: every strategy gets this same pool.
    pub fn default_pool(&self) -> usize {
        let msg = self.msg_size.max(1);
        if self.strategy.by_reference() {
            return self.by_reference_pool();
        }
        self.pool_within_limits((2 * socket_send_budget()).div_ceil(msg).max(64))
    }

    /// `sendfile` and `splice`: a buffer is rewritten only once the peer acknowledged
    /// [`receive_margin`] bytes past it (what a receiver may hold unread), so the pool holds
    /// twice that and twice the send budget, or the sender would wait on its own pool.
    fn by_reference_pool(&self) -> usize {
        let bytes = 2 * (socket_send_budget() as u64 + receive_margin());
        self.pool_within_limits((bytes.div_ceil(self.msg_size.max(1) as u64) as usize).max(64))
    }

    /// Where the sender's pool lives: a memory file for `sendfile`, huge pages with
    /// `hugepages`, else the heap.
    pub fn pool_memory(&self) -> crate::message::PoolMemory {
        if self.strategy == StrategyKind::Sendfile {
            crate::message::PoolMemory::MemFile
        } else if self.hugepages {
            crate::message::PoolMemory::HugePages
        } else {
            crate::message::PoolMemory::Heap
        }
    }

    /// Datagrams one message becomes with `udp_gso` (1 without).
    pub fn segments_per_message(&self) -> usize {
        self.udp_gso.map_or(1, |s| self.msg_size.div_ceil(s.max(1)))
    }

    fn validate_gso(&self, gso: usize) -> Result<(), ParamsError> {
        if self.protocol != Protocol::Udp {
            return Err(ParamsError::new(
                "udp_gso",
                "--udp-gso (UDP_SEGMENT) applies to UDP: add --protocol udp, or leave \
                 --udp-gso out for TCP (TCP segments on its own)",
            ));
        }
        if gso == 0 || gso > self.msg_size {
            return Err(ParamsError::new(
                "udp_gso",
                format!(
                    "--udp-gso {gso} must be 1 to the message size ({} bytes): each send of \
                     one message is cut into datagrams of that size; use smaller --udp-gso or \
                     larger --sizes",
                    self.msg_size
                ),
            ));
        }
        if self.segments_per_message() > MAX_GSO_SEGMENTS {
            return Err(ParamsError::new(
                "udp_gso",
                format!(
                    "a {} message in datagrams of {gso} bytes is {} segments, more than the \
                     {MAX_GSO_SEGMENTS} the kernel takes in one send (UDP_MAX_SEGMENTS): use a \
                     larger --udp-gso or smaller --sizes",
                    format_size(self.msg_size),
                    self.segments_per_message()
                ),
            ));
        }
        Ok(())
    }

    fn validate_by_reference(&self) -> Result<(), ParamsError> {
        if self.protocol == Protocol::Udp {
            return Err(ParamsError::new(
                "protocol",
                format!(
                    "{} is TCP only: the kernel references its pages with no completion, and \
                     only a TCP socket's acknowledgements (SIOCOUTQ) say when they may be \
                     rewritten; use --protocol tcp, or leave {} out of --strategy",
                    self.strategy, self.strategy
                ),
            ));
        }
        if self.strategy == StrategyKind::Sendfile && self.align != Align::Packed {
            return Err(ParamsError::new(
                "align",
                format!(
                    "sendfile sends each message as one range of a memory file, so its fields \
                     sit back to back; --align {} does not apply: use --align packed (the \
                     default)",
                    self.align
                ),
            ));
        }
        // The pool must hold more than the margin, plus the message in flight and the next
        // (no margin under the early-release test hook).
        let margin = match self.early_release {
            None => receive_margin() as usize,
            Some(_) => 0,
        };
        let need = margin + 2 * self.msg_size;
        let have = self.pool_size().saturating_mul(self.msg_size);
        if have < need {
            return Err(ParamsError::new(
                "pool",
                format!(
                    "{} rewrites a buffer only after the peer acknowledged {} more bytes (what \
                     a receiver may hold unread), so its pool needs at least {} buffers of {}, \
                     not {}: use a larger --pool or leave it out",
                    self.strategy,
                    margin,
                    need.div_ceil(self.msg_size),
                    format_size(self.msg_size),
                    self.pool_size()
                ),
            ));
        }
        Ok(())
    }

    /// `wanted` buffers, or fewer: at most [`MAX_POOL`], what a ring registers with fixed
    /// buffers, and what fits in [`MAX_POOL_BYTES`] for all connections.
    fn pool_within_limits(&self, wanted: usize) -> usize {
        let footprint = message_footprint(&self.layout(), self.align).max(1);
        let fits = MAX_POOL_BYTES / footprint.saturating_mul(self.threads.max(1));
        // A ring registers at most MAX_FIXED_BUFFERS buffers (one per message today).
        let ring = if self.fixed_buffers {
            MAX_FIXED_BUFFERS
        } else {
            MAX_POOL
        };
        wanted.min(MAX_POOL).min(ring).min(fits).max(1)
    }

    fn validate_udp(&self) -> Result<(), ParamsError> {
        if self.msg_size > MAX_DATAGRAM {
            return Err(ParamsError::new(
                "msg_size",
                format!(
                    "a UDP message is one datagram, at most {MAX_DATAGRAM} bytes, not {} \
                     (UDP segmentation offload is not supported): use smaller --sizes",
                    self.msg_size
                ),
            ));
        }
        if self.msg_size < STAMP_LEN {
            return Err(ParamsError::new(
                "msg_size",
                format!(
                    "a UDP datagram needs at least {STAMP_LEN} bytes to carry its stamp \
                     (which message it is), not {}: use larger --sizes",
                    self.msg_size
                ),
            ));
        }
        if self.mode == Mode::Rr {
            return Err(ParamsError::new(
                "mode",
                "request/response over UDP is not supported: one lost datagram would stall \
                 the round trip; use --protocol tcp for rr",
            ));
        }
        Ok(())
    }

    /// Memory all connections' pools take, allocation slack included.
    pub fn pool_footprint(&self) -> usize {
        message_footprint(&self.layout(), self.align)
            .saturating_mul(self.pool_size())
            .saturating_mul(self.threads)
    }

    fn layout(&self) -> Layout {
        Layout::new(self.msg_size.max(1), self.fields.max(1))
    }

    /// Checks every parameter against its allowed range; the error names the parameter.
    pub fn validate(&self) -> Result<(), ParamsError> {
        if !(1..=MAX_MSG_SIZE).contains(&self.msg_size) {
            return Err(ParamsError::new(
                "msg_size",
                format!(
                    "message size {} is outside 1 byte..={}",
                    self.msg_size,
                    format_size(MAX_MSG_SIZE)
                ),
            ));
        }
        if !(1..=MAX_THREADS).contains(&self.threads) {
            return Err(ParamsError::new(
                "threads",
                format!("threads {} is outside 1..={MAX_THREADS}", self.threads),
            ));
        }
        if !(1..=MAX_FIELDS).contains(&self.fields) {
            return Err(ParamsError::new(
                "fields",
                format!("fields {} is outside 1..={MAX_FIELDS}", self.fields),
            ));
        }
        if !(1..=MAX_POOL).contains(&self.pool_size()) {
            return Err(ParamsError::new(
                "pool",
                format!("pool {} is outside 1..={MAX_POOL}", self.pool_size()),
            ));
        }
        let pool_bytes = self.pool_footprint();
        if pool_bytes > MAX_POOL_BYTES {
            return Err(ParamsError::new(
                "pool",
                format!(
                    "{} threads x {} buffers (pool) x {} messages ({} placement) need {} of buffers, more than the {} allowed: \
                     use fewer threads, a smaller size, a smaller --pool or the packed placement",
                    self.threads,
                    self.pool_size(),
                    format_size(self.msg_size),
                    self.align,
                    format_size(pool_bytes),
                    format_size(MAX_POOL_BYTES)
                ),
            ));
        }
        if self.protocol == Protocol::Udp {
            self.validate_udp()?;
        }
        if self.strategy.by_reference() {
            self.validate_by_reference()?;
        }
        if let Some(gso) = self.udp_gso {
            self.validate_gso(gso)?;
        }
        if self.hugepages && self.strategy == StrategyKind::Sendfile {
            return Err(ParamsError::new(
                "hugepages",
                "--hugepages does not apply to sendfile, whose pool is a memory file (shmem \
                 pages); leave sendfile out of --strategy or --hugepages off",
            ));
        }
        if self.splice_gift && self.strategy != StrategyKind::Splice {
            return Err(ParamsError::new(
                "splice_gift",
                format!(
                    "--splice-gift applies to the splice strategy only, not {}",
                    self.strategy
                ),
            ));
        }
        if !(1..=MAX_READ_SIZE).contains(&self.read_size()) {
            return Err(ParamsError::new(
                "read_size",
                format!(
                    "read size {} is outside 1 byte..={}",
                    self.read_size(),
                    format_size(MAX_READ_SIZE)
                ),
            ));
        }
        if self.receive == ReceiveKind::Zerocopy && self.protocol == Protocol::Udp {
            return Err(ParamsError::new(
                "receive",
                "--receive zerocopy maps a TCP socket's receive queue (TCP_ZEROCOPY_RECEIVE);                  UDP has no such queue to map: use --protocol tcp, or --receive read or trunc",
            ));
        }
        if self.receive == ReceiveKind::Zerocopy && self.verify == Verify::Discard {
            return Err(ParamsError::new(
                "receive",
                "--verify discard is --receive trunc, which drops the bytes zerocopy would map:                  use --verify full, stamps or off with --receive zerocopy",
            ));
        }
        if let Some(mss) = self.tcp_maxseg {
            if !(MIN_TCP_MAXSEG..=MAX_TCP_MAXSEG).contains(&mss) {
                return Err(ParamsError::new(
                    "tcp_maxseg",
                    format!("TCP_MAXSEG {mss} is outside {MIN_TCP_MAXSEG}..={MAX_TCP_MAXSEG}"),
                ));
            }
        }
        if self.corrupt_mapping && self.receive != ReceiveKind::Zerocopy {
            return Err(ParamsError::new(
                "corrupt_mapping",
                "the corrupt_mapping test hook applies to --receive zerocopy only",
            ));
        }
        if self.duration.is_zero() {
            return Err(ParamsError::new(
                "duration",
                "the measured duration must be positive",
            ));
        }
        if let Some(depth) = self.uring_depth {
            if !(1..=MAX_URING_DEPTH).contains(&depth) {
                return Err(ParamsError::new(
                    "uring_depth",
                    format!("--uring-depth {depth} is outside 1..={MAX_URING_DEPTH}"),
                ));
            }
            if depth > 1 && self.mode == Mode::Rr {
                return Err(ParamsError::new(
                    "uring_depth",
                    "--uring-depth above 1 does not apply to --mode rr: each message waits for \
                     its reply, so one send is in flight at a time; leave --uring-depth out",
                ));
            }
        }
        if let Some(rate) = self.rate_bps {
            super::pacing::validate_rate(rate, self.mode)?;
        }
        if self.fixed_buffers {
            if self.strategy != StrategyKind::UringZc {
                return Err(ParamsError::new(
                    "fixed_buffers",
                    format!(
                        "fixed buffers apply to the uringzc strategy only, not {}",
                        self.strategy
                    ),
                ));
            }
            // Every iovec of one send must lie inside one registered buffer: a packed message
            // is one allocation whatever its field count, fields placed apart are not.
            let fields = self.fields.min(self.msg_size);
            if fields != 1 && self.align != Align::Packed {
                return Err(ParamsError::new(
                    "fixed_buffers",
                    format!(
                        "--fixed-buffers needs every iovec of a send inside one registered \
                         buffer, but --align {} gives each of the {fields} fields its own \
                         allocation: use --align packed (the default) or --fields 1",
                        self.align
                    ),
                ));
            }
            if self.pool_size() > MAX_FIXED_BUFFERS {
                return Err(ParamsError::new(
                    "fixed_buffers",
                    format!(
                        "fixed buffers register each of the {} pool buffers, more than the {} \
                         a ring takes: use a smaller --pool",
                        self.pool_size(),
                        MAX_FIXED_BUFFERS
                    ),
                ));
            }
        }
        Ok(())
    }
}
