//! The results contract: one JSON document per run (see `docs/results.md`).
//!
//! Every figure that was not measured is `null` (derived figures) or
//! `{"unsupported": "reason"}` (counters): never a 0 standing in for "absent".

use serde::{Deserialize, Serialize};

use crate::message::Align;
use crate::model::findings::{Figure, Findings};
pub use crate::model::CpuRole;
use crate::model::{DataTemperature, Mode, Protocol, ReceiveKind, StrategyKind, Verify};
pub use crate::model::{Placement, TopologyKind};

/// Version of the JSON layout below; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole run: what ran, where, and one record per measured point.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResults {
    /// Version of this layout ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The program that wrote the file.
    pub tool: ToolInfo,
    /// The command line as typed (argv), for reproduction.
    pub command_line: Vec<String>,
    /// Wall-clock start, RFC 3339 in UTC.
    pub started_at: String,
    /// The machine the run happened on.
    pub host: HostInfo,
    /// The run's parameters as applied.
    pub config: RunConfigRecord,
    /// One record per measured point, in run order.
    pub points: Vec<Point>,
    /// False while the sweep is still running or when it was interrupted.
    pub complete: bool,
    /// Set when the sweep stopped early (Ctrl-C, error): what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// Strategies this machine could not run, and why (e.g. no MSG_ZEROCOPY).
    #[serde(default)]
    pub unsupported: Vec<UnsupportedRecord>,
    /// Points that could not be measured at all (setup failures, lost connections).
    #[serde(default)]
    pub failures: Vec<FailureRecord>,
    /// What the points say, with their uncertainty (computed by `findings::findings_for_run`):
    /// winners, ratios to two-copy, break-even sizes, caveats. Absent in files written before
    /// findings existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<Findings>,
}

/// The `tool` of copybench's own points, failures and unsupported records.
pub const COPYBENCH_TOOL: &str = "copybench";

/// Serde default of every `tool` field: files written before `copybench peers` existed hold
/// only copybench's own points.
pub fn copybench_tool() -> String {
    COPYBENCH_TOOL.to_string()
}

/// A point that produced no measurement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailureRecord {
    /// `copybench`, or the peer (`iperf3`, `iperf`, `sockperf`, `nuttcp`) that failed.
    #[serde(default = "copybench_tool")]
    pub tool: String,
    /// The send strategy.
    pub strategy: StrategyKind,
    /// Message size in bytes.
    pub msg_size: usize,
    /// Connections (sender/receiver thread pairs).
    pub threads: usize,
    /// 0-based repetition index.
    pub repetition: usize,
    /// What went wrong, in words.
    pub error: String,
}

/// A strategy (or, in `copybench peers`, a peer tool) that could not run here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnsupportedRecord {
    /// `copybench`, or the peer that is missing or cannot run a point.
    #[serde(default = "copybench_tool")]
    pub tool: String,
    /// The send strategy.
    pub strategy: StrategyKind,
    /// Why, in words, and what would make it work.
    pub reason: String,
    /// Set when it is the receive strategy (`--receive`) that could not run, whatever the
    /// send strategy; absent when the send strategy could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive: Option<ReceiveKind>,
}

/// Name and version of the program that wrote a result file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolInfo {
    /// `copybench`.
    pub name: String,
    /// The crate version.
    pub version: String,
}

impl Default for ToolInfo {
    fn default() -> Self {
        ToolInfo {
            name: "copybench".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Facts about the machine the run happened on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostInfo {
    /// The host's name.
    pub hostname: Option<String>,
    /// `uname -r`.
    pub kernel: Option<String>,
    /// The CPU model from `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// CPUs this process may run on as Rust's `std::thread::available_parallelism` counts
    /// them: the affinity mask, further limited by a cgroup CPU quota (rounded up). Not the
    /// machine's online CPUs: see [`cores_online`](Self::cores_online).
    pub cores: Option<usize>,
    /// CPUs online on the machine (`/sys/devices/system/cpu/online`).
    #[serde(default)]
    pub cores_online: Option<usize>,
    /// CPUs in this process's affinity mask (`sched_getaffinity`): what `--placement` can pin
    /// threads to.
    #[serde(default)]
    pub cores_usable: Option<usize>,
    /// Whether the kernel accounts IRQ and softirq time apart from the interrupted task
    /// (`CONFIG_IRQ_TIME_ACCOUNTING`): `"on"`, `"off"` or `"unknown"`. When on, a thread's CPU
    /// time leaves out the softirq work done while it ran (e.g. TCP receive processing, the
    /// deferred copy of zero-copy on veth); when off, that work is charged to whichever thread
    /// it interrupted. `service_demand_ns_per_byte` counts it either way.
    #[serde(default)]
    pub irq_time_accounting: Option<String>,
    /// Where [`irq_time_accounting`](Self::irq_time_accounting) was read
    /// (`/proc/config.gz`, `/boot/config-<release>`), or why it is unknown.
    #[serde(default)]
    pub irq_time_accounting_source: Option<String>,
    /// `net.core.optmem_max`: the budget MSG_ZEROCOPY notifications are charged to.
    pub optmem_max: Option<u64>,
    /// The largest CPU cache (bytes) sysfs lists for CPU 0: what `--data cold`'s automatic
    /// pool is sized against (twice this per connection). `null` where sysfs does not say
    /// (the cold pool then assumes 32 MiB) and in older files.
    #[serde(default)]
    pub llc_bytes: Option<u64>,
    /// Which counters could be opened on this machine, and why not where not
    /// (filled by the binary from `copybench-perf`).
    #[serde(default)]
    pub counters_available: serde_json::Map<String, serde_json::Value>,
    /// Where each counter's figures come from (a perf event, or the kernel's per-thread
    /// accounting read at the interval's two ends), keyed like `counters_available`.
    #[serde(default)]
    pub counter_sources: serde_json::Map<String, serde_json::Value>,
}

/// The run's parameters as they were applied.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunConfigRecord {
    /// What was measured.
    pub mode: Mode,
    /// The transport (`tcp` in files written before UDP was measured).
    #[serde(default)]
    pub protocol: Protocol,
    /// Where the traffic ran.
    pub topology: TopologyRecord,
    /// Strategies swept.
    pub strategies: Vec<StrategyKind>,
    /// Message sizes swept (bytes).
    pub sizes: Vec<usize>,
    /// Connection counts swept.
    pub threads: Vec<usize>,
    /// Length of the measured interval in seconds.
    pub duration_s: f64,
    /// Unmeasured warm-up before each point, seconds.
    pub warmup_s: f64,
    /// Repetitions of every point.
    pub repetitions: usize,
    /// Fields per message (each separately allocated).
    pub fields: usize,
    /// Message buffers per connection as asked (`null`: automatic, each point records its own).
    #[serde(default)]
    pub pool: Option<usize>,
    /// Where buffers sit: `page` (4096-aligned) or `offset:N`.
    pub align: Align,
    /// CPU placement, when pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinRecord>,
    /// Whether per-thread counters were collected.
    pub counters: bool,
    /// How much the receivers checked (`--verify`); `full` in files written before it existed.
    #[serde(default)]
    pub verification: Verify,
    /// Receive strategies swept (`--receive`); absent in files written before it existed
    /// (those read, or with `--verify discard` truncated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receives: Vec<ReceiveKind>,
    /// The named CPU placement of the threads (`--placement`); `null` in files written before
    /// it existed (those were unpinned unless `pin` is present).
    #[serde(default)]
    pub placement: Option<Placement>,
    /// Why the placement differs from the one asked for (e.g. `apart` on one CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_note: Option<String>,
    /// `--refine`: what was refined (absent without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refine: Option<RefineRecord>,
    /// `--rate`: the per-connection target rates swept, payload bits per second (absent when
    /// unpaced; each paced point records its own in `pacing`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rates: Vec<u64>,
}

/// What `copybench run --refine` did: sizes added inside open break-even brackets.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RefineRecord {
    /// Most sizes it could add over the whole run (`--refine-budget`).
    pub budget_sizes: usize,
    /// A bracket at most this wide (upper / lower size) is narrow enough.
    pub width: f64,
    /// The sizes it measured, in order (their points have `refined: true`).
    pub added_sizes: Vec<usize>,
    /// Brackets still wider than `width` when the budget ran out, in words.
    pub left_open: Vec<String>,
}

/// Where the traffic ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TopologyRecord {
    /// The kind of path.
    pub kind: TopologyKind,
    /// The veth MTU (netns only).
    pub mtu: Option<u32>,
    /// Address the receivers listened on.
    pub receiver_addr: Option<String>,
    /// Address the senders connected from, where known.
    pub sender_addr: Option<String>,
    /// Remote runs: the receiving host's facts as its `copybench server` told them (the
    /// run's `host` is the sending host). `null` for one-host topologies.
    #[serde(default)]
    pub receiver_host: Option<HostInfo>,
}

/// The CPUs threads were pinned to; thread i takes entry i modulo the list's length.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PinRecord {
    /// CPUs of the sender threads.
    pub sender_cpus: Vec<usize>,
    /// CPUs of the receiver threads.
    pub receiver_cpus: Vec<usize>,
}

/// One measured point: a strategy at one size and thread count, one repetition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Point {
    /// Who measured it: `copybench`, or a peer run side by side by `copybench peers`
    /// (`iperf3`, `iperf`, `sockperf`, `nuttcp`). A peer's point has `strategy` scatter-gather
    /// (one buffer per write, the work a peer does), `verified` false (peers check no bytes)
    /// and its own figures in `peer`.
    #[serde(default = "copybench_tool")]
    pub tool: String,
    /// The send strategy.
    pub strategy: StrategyKind,
    /// The receive strategy (`--receive`): `read`, `trunc` (`recv(MSG_TRUNC)`) or `zerocopy`
    /// (`TCP_ZEROCOPY_RECEIVE`). `read` in files written before it was a choice (and for
    /// `--verify discard` there, which was `trunc`: see `verification`).
    #[serde(default)]
    pub receive: ReceiveKind,
    /// TCP: how the receiving sockets were set up for their receive strategy (the MSS they
    /// saw, what was asked for). `null` for UDP, peers and older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_setup: Option<ReceiveSetup>,
    /// Message size in bytes.
    pub msg_size: usize,
    /// Connections (sender/receiver thread pairs).
    pub threads: usize,
    /// 0-based repetition index.
    pub repetition: usize,
    /// What was measured.
    pub mode: Mode,
    /// The transport (`tcp` in files written before UDP was measured).
    #[serde(default)]
    pub protocol: Protocol,
    /// UDP only: datagrams sent, received, lost and reordered. A UDP point's
    /// `throughput_gbps` is the payload delivered (what arrived), and `sent_gbps` here what
    /// the senders handed to the kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpStats>,
    /// Fields per message as sent (the requested count, or the size if that is smaller).
    #[serde(default)]
    pub fields: usize,
    /// Message buffers per connection.
    #[serde(default)]
    pub pool: usize,
    /// Payload bytes the pool holds per connection (`pool` x `msg_size`).
    #[serde(default)]
    pub pool_bytes: u64,
    /// TCP stream receivers: bytes asked for per read call (`--read-size`). `null` for UDP and
    /// rr points, for peers' points (see their `peer` commands), and in files written before it
    /// was recorded (those read 256 KiB at a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_size: Option<usize>,
    /// Seconds the senders (summed over threads) waited for a free buffer in the measured
    /// interval, every buffer being with the kernel. 0 for copying strategies, whose buffers
    /// come back as the call returns; `null` in results written before it was measured.
    #[serde(default)]
    pub pool_wait_s: Option<f64>,
    /// The longest stretch between two clock reads of any sender (the loop reads the clock
    /// once per 16 messages, where latency is sampled, once per rr message with its reply,
    /// and at phase changes) that overlapped the measured interval, in seconds: an upper bound
    /// on the longest single send. A sender blocked in one call across the whole interval reports 0
    /// messages and that call here: see [`Point::stall_warning`]. `null` in older files.
    #[serde(default)]
    pub longest_send_s: Option<f64>,
    /// Which buffers the senders sent from (`--data`): `hot` (the fewest the strategy's
    /// semantics allow: a released buffer is the next one used) or `cold` (the whole pool in
    /// turn, larger than the last-level cache). `null` in files written before it was chosen:
    /// those cycled through about half of the 8 MiB default pool for every strategy.
    #[serde(default)]
    pub data: Option<DataTemperature>,
    /// Distinct pool buffers the senders sent from in the measured interval (summed over
    /// connections): 1 per connection for a copying strategy on hot data, about what is in
    /// flight for zero-copy, the whole pool on cold data. `null` where not measured.
    #[serde(default)]
    pub buffers_touched: Option<u64>,
    /// Payload bytes of those buffers (`buffers_touched` x `msg_size`): the memory the sender
    /// handed to the kernel in the interval. The two-copy gather buffer (one message per
    /// connection) is not counted.
    #[serde(default)]
    pub working_set_bytes: Option<u64>,
    /// Distinct memory pages one message's fields touch (mean over the pool and the senders):
    /// what zero-copy pins and the TLB must reach; set by the placement (`align`).
    #[serde(default)]
    pub pages_per_message: Option<f64>,
    /// Whether the pool was registered with io_uring as fixed buffers (`uringzc` only).
    #[serde(default)]
    pub fixed_buffers: bool,
    /// io_uring strategies: sends in flight per socket (`--uring-depth`; 1 in rr mode).
    /// `null` for the other strategies, and in files written before it was recorded (those
    /// kept one send in flight).
    #[serde(default)]
    pub uring_depth: Option<usize>,
    /// io_uring strategies: how the ring was set up (setup flags, registered file and ring fd,
    /// what the kernel refused). `null` for the other strategies and where the sender did not
    /// report (a remote sender, older files).
    #[serde(default)]
    pub uring: Option<UringSetup>,
    /// `splice` points: whether `vmsplice` had `SPLICE_F_GIFT` (`--splice-gift`). `null` for
    /// the other strategies and in older files.
    #[serde(default)]
    pub splice_gift: Option<bool>,
    /// `sendfile` and `splice` points: bytes the peer had to acknowledge past a buffer before
    /// the sender rewrote it (what a receiver may hold unread: `net.ipv4.tcp_rmem`'s max or
    /// twice `net.core.rmem_max`, plus 1 MiB). `null` for the other strategies.
    #[serde(default)]
    pub receive_margin_bytes: Option<u64>,
    /// `--hugepages`: what the kernel gave the senders' pools. `null` without `--hugepages`.
    #[serde(default)]
    pub hugepages: Option<HugePages>,
    /// UDP points with `--udp-gso`: the `UDP_SEGMENT` size, each message leaving as datagrams
    /// of this many bytes (the last one shorter); `udp`'s counts are then datagrams, not
    /// messages. `null` otherwise.
    #[serde(default)]
    pub udp_gso: Option<usize>,
    /// Payload throughput in Gbps, where 1 Gbps = 10^9 bit/s (bytes x 8 / duration / 10^9).
    pub throughput_gbps: f64,
    /// Payload bytes the senders handed to the kernel in the measured interval.
    pub bytes: u64,
    /// Whole messages sent in the measured interval.
    pub messages: u64,
    /// Length of the measured interval in seconds (first thread's start to last thread's end).
    pub duration_s: f64,
    /// Send system calls in the measured interval (a partial write costs another call).
    pub send_calls: u64,
    /// True only if every check the receivers ran passed and they received exactly the bytes
    /// that were sent. What they checked is [`verification`](Self::verification): with `off`
    /// or `discard` the content was not checked at all. Never true where nothing could check
    /// (see `not_verifiable`).
    pub verified: bool,
    /// Why nothing could verify this point, when nothing could (`sink`: there is no receiver).
    /// Such a point is not a failure, and not verified either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_verifiable: Option<String>,
    /// What the receivers checked: `full` (every byte), `stamps` (each message's identity and
    /// order), `off` (nothing but the counts), `discard` (counts, bytes dropped in the kernel).
    #[serde(default)]
    pub verification: Verify,
    /// The named CPU placement the point ran under (`null`: not recorded).
    #[serde(default)]
    pub placement: Option<Placement>,
    /// Request/response mode: round trips per second over all threads.
    #[serde(default)]
    pub transactions_per_s: Option<f64>,
    /// `rr`: round-trip time; `stream`: time inside the send call(s) for one message.
    #[serde(default)]
    pub latency_us: Option<LatencySummary>,
    /// Zero-copy bookkeeping; present for the zero-copy strategies (`zerocopy`, `uringzc`) only.
    #[serde(default)]
    pub zerocopy: Option<ZeroCopyStats>,
    /// CPU time (ns) of the senders' io_uring kernel workers (`iou-wrk-*`) over the measured
    /// interval, which the sender threads' own clocks miss; it is added to the sender's
    /// `cpu_ns_per_byte`. `null` for strategies without a ring; 0 means looked and found none.
    /// Workers that exit during the interval take their time with them (an undercount).
    #[serde(default)]
    pub sender_io_worker_ns: Option<u64>,
    /// The sending side's figures, summed over its threads.
    pub sender: SideMetrics,
    /// The receiving side's figures, summed over its threads.
    pub receiver: SideMetrics,
    /// System-wide CPU time over the measured interval, from `/proc/stat` (remote runs: of
    /// the sending host).
    #[serde(default)]
    pub system_cpu: Option<SystemCpu>,
    /// Remote runs: the receiving host's system-wide CPU time over the same interval, as
    /// its server measured it. `null` on one host, where `system_cpu` covers both sides.
    #[serde(default)]
    pub receiver_system_cpu: Option<SystemCpu>,
    /// System-wide busy CPU time (user + system + softirq + irq, all CPUs) over the measured
    /// interval per payload byte sent, in ns: netperf's service demand. It includes work no
    /// thread is charged for (softirq, e.g. the deferred copy of zero-copy on veth), and
    /// everything else the machine did. `null` when `/proc/stat` was not read.
    #[serde(default)]
    pub service_demand_ns_per_byte: Option<f64>,
    /// Which bytes [`service_demand_ns_per_byte`](Self::service_demand_ns_per_byte) divides
    /// by: `sent` (TCP, where every byte sent is delivered, and the sink, where nothing
    /// receives) or `delivered` (UDP with receivers: the payload they counted in their
    /// interval, so that lost datagrams cost, not dilute). `null` in older files (`sent`).
    #[serde(default)]
    pub service_demand_per: Option<DemandBasis>,
    /// Sender cycles per payload byte, where cycles were measured.
    #[serde(default)]
    pub cycles_per_byte: Option<f64>,
    /// Sender LLC (or generic cache) misses per KiB of payload, where measured.
    #[serde(default)]
    pub llc_misses_per_kib: Option<f64>,
    /// Per connection: the sender thread's and receiver thread's own figures.
    pub per_thread: Vec<ThreadResult>,
    /// What went wrong, if the point did not run cleanly (the numbers above are then partial).
    #[serde(default)]
    pub error: Option<String>,
    /// Figures of a side-by-side run (`copybench peers`); absent from `copybench run` points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<PeerFigures>,
    /// Measured by `copybench run --refine` at a size inside an open break-even bracket, not
    /// one of the sizes asked for (false in files written before refining existed).
    #[serde(default)]
    pub refined: bool,
    /// Paced points (`--rate`): how the senders were paced, the target and the rate reached;
    /// absent from unpaced points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacing: Option<PacingRecord>,
}

/// What `copybench peers` records beside the common figures of a point, for copybench and for
/// each peer alike.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PeerFigures {
    /// Which side `throughput_gbps` was counted on: `receiver` (bytes the receiving program
    /// read) or `sender` (bytes written; the only figure sockperf gives).
    pub throughput_side: String,
    /// Throughput as the sending side reported it, where it did.
    #[serde(default)]
    pub sender_gbps: Option<f64>,
    /// Throughput as the receiving side reported it, where it did.
    #[serde(default)]
    pub receiver_gbps: Option<f64>,
    /// TCP retransmissions the tool reported (iperf3, nuttcp), where it did.
    #[serde(default)]
    pub retransmits: Option<u64>,
    /// Context switches on the whole machine (`/proc/stat` `ctxt`) while the point ran, and
    /// per MB (10^6 bytes) of payload: how often the CPUs switched tasks (wake-ups).
    #[serde(default)]
    pub system_context_switches: Option<u64>,
    /// `system_context_switches` per MB (10^6 bytes) of payload.
    #[serde(default)]
    pub context_switches_per_mb: Option<f64>,
    /// The peer's server (receiver) and client (sender) command lines as run (empty for
    /// copybench's own points).
    #[serde(default)]
    pub server_command: Vec<String>,
    /// The peer's client (sender) command line as run.
    #[serde(default)]
    pub client_command: Vec<String>,
}

/// One connection's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ThreadResult {
    /// The connection index.
    pub thread: usize,
    /// Payload bytes sent in the measured interval.
    pub bytes: u64,
    /// Whole messages sent in the measured interval.
    pub messages: u64,
    /// Send system calls in the measured interval.
    pub send_calls: u64,
    /// Length of the measured interval in seconds.
    pub duration_s: f64,
    /// Payload throughput in Gbps (10^9 bit/s).
    pub throughput_gbps: f64,
    /// This connection's receiver checked every byte and all matched.
    pub verified: bool,
    /// Bytes the receiver got over the whole connection (warm-up included); `null` where
    /// nothing receives (the sink), never 0 for that.
    #[serde(default)]
    pub received_bytes: Option<u64>,
    /// CPU the sender thread was pinned to.
    #[serde(default)]
    pub sender_cpu: Option<usize>,
    /// CPU the receiver thread was pinned to.
    #[serde(default)]
    pub receiver_cpu: Option<usize>,
    /// The sender thread's counters.
    #[serde(default)]
    pub sender_counters: Option<Counters>,
    /// The receiver thread's counters.
    #[serde(default)]
    pub receiver_counters: Option<Counters>,
}

/// The bytes service demand is divided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DemandBasis {
    /// Payload bytes the senders handed to the kernel in the interval.
    Sent,
    /// Payload bytes the receivers counted in their interval.
    Delivered,
}

/// A send blocked for this share of the measured interval makes the point a stall.
pub const STALL_SHARE: f64 = 0.5;

/// Sender and receiver rates may differ by this share before a point is flagged.
pub const RATE_AGREEMENT: f64 = 0.05;

impl Point {
    /// How far the receivers' own rate is from the senders', as a share of the senders' rate
    /// (`Some(0.08)`: 8% apart), when both were measured.
    pub fn rate_disagreement(&self) -> Option<f64> {
        let sent = self.throughput_gbps;
        let got = self.receiver.throughput_gbps?;
        (sent.is_finite() && got.is_finite() && sent > 0.0).then(|| (got - sent).abs() / sent)
    }

    /// Whether a send blocked for at least [`STALL_SHARE`] of the measured interval, or a
    /// sender sent nothing in it: the point's figures are then mostly the stall's.
    pub fn stalled(&self) -> bool {
        let blocked = self
            .longest_send_s
            .is_some_and(|s| self.duration_s > 0.0 && s >= STALL_SHARE * self.duration_s);
        let silent = self
            .per_thread
            .iter()
            .any(|t| t.messages == 0 && t.duration_s > 0.0);
        blocked || silent
    }

    /// A sentence when the point [stalled](Self::stalled): what was blocked, how long.
    pub fn stall_warning(&self) -> Option<String> {
        if !self.stalled() {
            return None;
        }
        let silent: Vec<String> = self
            .per_thread
            .iter()
            .filter(|t| t.messages == 0)
            .map(|t| t.thread.to_string())
            .collect();
        let who = if silent.is_empty() {
            String::new()
        } else {
            format!(" (sender {} sent nothing in it)", silent.join(", "))
        };
        Some(format!(
            "one send blocked for {:.0} ms of the {:.0} ms measured interval{who}: the figures              are those of a stall (see docs/stalls.md)",
            self.longest_send_s.unwrap_or(f64::NAN) * 1e3,
            self.duration_s * 1e3
        ))
    }

    /// A sentence when the two sides' rates differ by more than [`RATE_AGREEMENT`].
    pub fn rate_warning(&self) -> Option<String> {
        let d = self.rate_disagreement().filter(|d| *d > RATE_AGREEMENT)?;
        Some(format!(
            "senders measured {:.2} Gbps but receivers {:.2} Gbps over their own intervals \
             ({:.0}% apart, more than {:.0}%): the figure is not what both sides saw",
            self.throughput_gbps,
            self.receiver.throughput_gbps.unwrap_or(f64::NAN),
            d * 100.0,
            RATE_AGREEMENT * 100.0
        ))
    }
}

/// Per-side (sender or receiver) metrics summed over that side's threads.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SideMetrics {
    /// Payload bytes this side moved within its own measured interval (`null`: not measured).
    #[serde(default)]
    pub bytes: Option<u64>,
    /// This side's measured interval: from its first thread's start to its last thread's end
    /// (for remote receivers, the longest thread interval), seconds.
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// `bytes` over `duration_s` in Gbps (10^9 bit/s). The sender's is the point's
    /// `throughput_gbps`; the receiver's is what the receivers saw on their own clocks.
    #[serde(default)]
    pub throughput_gbps: Option<f64>,
    /// Summed per-thread counters; absent when counters were off (`--no-counters`).
    #[serde(default)]
    pub counters: Option<Counters>,
    /// Thread CPU time (task clock) per payload byte in nanoseconds, where measured; on the
    /// sender side it includes io_uring worker time ([`Point::sender_io_worker_ns`]).
    #[serde(default)]
    pub cpu_ns_per_byte: Option<f64>,
    /// Receiver, `--receive zerocopy` only: payload bytes the kernel mapped into the
    /// receivers' socket mappings (not copied) within their measured intervals. Absent for
    /// the sender side and the other receive strategies (nothing is mapped there: not 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapped_bytes: Option<u64>,
    /// `mapped_bytes / bytes`: the share of the payload that was mapped; the rest was copied
    /// (the kernel's `recv_skip_hint`). Absent where `mapped_bytes` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapped_ratio: Option<f64>,
    /// The side's thread CPU time (as in `cpu_ns_per_byte`) over its measured interval, in
    /// percent of one CPU (summed over threads: N busy threads make N x 100). `null` where the
    /// CPU time was not measured, and in older files.
    #[serde(default)]
    pub cpu_utilisation_pct: Option<f64>,
}

/// A counter reading: a value, or the reason it could not be measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// A measured value.
    Value(u64),
    /// Not measured, and why.
    Unsupported(String),
}

impl Metric {
    /// The value, if measured.
    pub fn value(&self) -> Option<u64> {
        match self {
            Metric::Value(v) => Some(*v),
            Metric::Unsupported(_) => None,
        }
    }

    /// Sum of two readings: a value only if both are values.
    pub fn add(&self, other: &Metric) -> Metric {
        match (self, other) {
            (Metric::Value(a), Metric::Value(b)) => Metric::Value(a.saturating_add(*b)),
            (Metric::Unsupported(r), _) | (_, Metric::Unsupported(r)) => {
                Metric::Unsupported(r.clone())
            }
        }
    }
}

/// The per-thread counter set (see `copybench-perf`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Counters {
    /// CPU cycles (hardware).
    pub cycles: Metric,
    /// Instructions retired (hardware).
    pub instructions: Metric,
    /// Last-level cache misses, or the generic cache-miss event (see `llc_event`).
    pub llc_misses: Metric,
    /// Which event stands behind `llc_misses`: `llc-read-misses`, `cache-misses` (the generic
    /// fallback) or `none`.
    pub llc_event: String,
    /// Voluntary and involuntary context switches.
    pub context_switches: Metric,
    /// Moves of the thread to another CPU.
    pub cpu_migrations: Metric,
    /// Minor and major page faults.
    pub page_faults: Metric,
    /// Thread CPU time in nanoseconds.
    pub task_clock_ns: Metric,
    /// Time the counters were enabled and actually counting (ns); `running < enabled` means
    /// the kernel multiplexed them and the values above were scaled. In a side's totals these
    /// are summed over its threads (thread-nanoseconds).
    pub time_enabled_ns: u64,
    /// Time the counters were actually counting (ns).
    pub time_running_ns: u64,
}

impl Counters {
    /// Sum over threads (a value only where every thread measured it).
    pub fn sum<'a>(mut all: impl Iterator<Item = &'a Counters>) -> Option<Counters> {
        let first = all.next()?.clone();
        Some(all.fold(first, |acc, c| Counters {
            cycles: acc.cycles.add(&c.cycles),
            instructions: acc.instructions.add(&c.instructions),
            llc_misses: acc.llc_misses.add(&c.llc_misses),
            llc_event: acc.llc_event,
            context_switches: acc.context_switches.add(&c.context_switches),
            cpu_migrations: acc.cpu_migrations.add(&c.cpu_migrations),
            page_faults: acc.page_faults.add(&c.page_faults),
            task_clock_ns: acc.task_clock_ns.add(&c.task_clock_ns),
            time_enabled_ns: acc.time_enabled_ns + c.time_enabled_ns,
            time_running_ns: acc.time_running_ns + c.time_running_ns,
        }))
    }
}

/// System-wide CPU time over the measured interval, all CPUs, from `/proc/stat` (ns).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SystemCpu {
    /// User time, nice included.
    pub user_ns: u64,
    /// Kernel time outside interrupts.
    pub system_ns: u64,
    /// Software-interrupt time: much of TCP's receive work lands here.
    pub softirq_ns: u64,
    /// Hardware-interrupt time.
    pub irq_ns: u64,
    /// Idle time, I/O wait included.
    pub idle_ns: u64,
    /// Time the hypervisor ran something else while a virtual CPU wanted to run (not in
    /// the service demand, which counts this guest's own work). `null` in older files.
    #[serde(default)]
    pub steal_ns: Option<u64>,
    /// The same split per CPU (`/proc/stat`'s `cpuN` lines), with each CPU's role in the
    /// point from its recorded placement: where the copies ran (softirq on the sender's CPU
    /// or the receiver's). Absent in older files and where the lines could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_cpu: Option<Vec<CpuTime>>,
}

/// One CPU's time over the measured interval, from its `/proc/stat` line (ns; USER_HZ ticks,
/// so each figure resolves 10 ms).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuTime {
    /// The CPU's number.
    pub cpu: usize,
    /// User time, nice included.
    pub user_ns: u64,
    /// Kernel time outside interrupts.
    pub system_ns: u64,
    /// Software-interrupt time (TCP's receive path on loopback and veth).
    pub softirq_ns: u64,
    /// Hardware-interrupt time.
    pub irq_ns: u64,
    /// Idle time, I/O wait included.
    pub idle_ns: u64,
    /// Time stolen by the hypervisor.
    pub steal_ns: u64,
    /// What the CPU was to the point: `sender`, `receiver`, `both` (threads of both sides
    /// pinned to it) or `other`; `null` where the threads were not pinned (nobody knows).
    #[serde(default)]
    pub role: Option<CpuRole>,
}

impl CpuTime {
    /// User + system + softirq + irq.
    pub fn busy_ns(&self) -> u64 {
        self.user_ns + self.system_ns + self.softirq_ns + self.irq_ns
    }
}

/// How a point's receiving sockets were set up for their receive strategy (TCP).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ReceiveSetup {
    /// The MSS of the segments the (first) receiver got, as the kernel estimates it at the
    /// end of its stream (`TCP_INFO`'s `tcpi_rcv_mss`: the largest segment or GSO size seen,
    /// payload bytes, options excluded). `TCP_ZEROCOPY_RECEIVE` maps whole pages only, so a
    /// multiple of 4096 here is what lets whole segments map.
    pub mss: Option<u32>,
    /// `TCP_MAXSEG` the run asked for on the listener (loopback with `--receive zerocopy`:
    /// 4108, since the host's `lo` MTU is left alone); `null`: the path's own MSS.
    pub tcp_maxseg: Option<u32>,
    /// `zerocopy`: `SO_RCVLOWAT` the receivers set (stream mode: one step's worth), else null.
    pub rcvlowat: Option<u32>,
    /// `zerocopy`: bytes of the socket mapping each step maps into (2 MiB aligned), else null.
    pub map_bytes: Option<usize>,
}

impl SystemCpu {
    /// User + system + softirq + irq: the CPU time the machine spent working.
    pub fn busy_ns(&self) -> u64 {
        self.user_ns + self.system_ns + self.softirq_ns + self.irq_ns
    }
}

/// Latency percentiles in microseconds, from an HDR histogram.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Samples behind the percentiles.
    pub samples: u64,
    /// What was timed.
    pub what: LatencyKind,
}

/// What a latency figure times.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LatencyKind {
    /// One message and its reply (`rr` mode).
    #[default]
    RoundTrip,
    /// The send call(s) of one message (`stream` mode, results of copybench before 0.2: a
    /// zero-copy sender's wait for a free buffer was left out).
    SendCall,
    /// One whole message in `stream` mode: from "ready to send it" to "the kernel took all of
    /// it", waiting for a free buffer included, for every strategy alike.
    MessageSend,
}

impl LatencyKind {
    /// The name used in results.
    pub fn name(self) -> &'static str {
        match self {
            LatencyKind::RoundTrip => "round_trip",
            LatencyKind::SendCall => "send_call",
            LatencyKind::MessageSend => "message_send",
        }
    }

    /// The kind a [`LatencyKind::name`] names.
    pub fn from_name(name: &str) -> Option<LatencyKind> {
        [
            LatencyKind::RoundTrip,
            LatencyKind::SendCall,
            LatencyKind::MessageSend,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// A UDP point's datagrams, summed over connections (whole connections, warm-up included).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UdpStats {
    /// Datagrams the senders sent (one per message).
    pub sent: u64,
    /// Datagrams the receivers got and verified; `null` without a receiver (sink).
    pub received: Option<u64>,
    /// `sent - received`; `null` without a receiver.
    pub lost: Option<u64>,
    /// Datagrams that arrived after a later one; `null` without a receiver.
    pub reordered: Option<u64>,
    /// `lost / sent`; `null` without a receiver.
    pub loss_ratio: Option<f64>,
    /// Payload delivered to the receivers over their measured interval, Gbps.
    pub delivered_gbps: Option<f64>,
    /// Payload the senders handed to the kernel over their measured interval, Gbps.
    pub sent_gbps: f64,
}

/// What `--hugepages` got: the senders' pools (one mapping per connection, summed), how huge
/// pages were asked for, and how many bytes the kernel really backed with them, read from
/// `/proc/self/smaps` once the pools were filled.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HugePages {
    /// `hugetlb` (`MAP_HUGETLB`, from `vm.nr_hugepages`) or `thp` (transparent huge pages
    /// asked for with `madvise(MADV_HUGEPAGE)`), as the first sender got.
    pub backing: String,
    /// Bytes mapped for the pools.
    pub mapped_bytes: u64,
    /// Of those, bytes in huge pages (`AnonHugePages` for THP, `Private_Hugetlb` for
    /// hugetlb); `null` where smaps could not be read.
    pub huge_bytes: Option<u64>,
}

/// How the io_uring strategies' rings were set up for one point (every sender's ring is set up
/// alike; the first sender's is recorded). What the kernel refused is named in `refused`, so a
/// figure from a kernel without, say, `DEFER_TASKRUN` is not read as one with it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UringSetup {
    /// Sends in flight per socket (`--uring-depth`, 1 for rr).
    pub depth: usize,
    /// Whether the sends of one batch were linked (`IOSQE_IO_LINK`): on TCP, to keep the
    /// stream's byte order with several sends in flight; never on UDP (datagrams stand alone).
    pub linked: bool,
    /// `io_uring_setup` flags the ring was created with, e.g. `SINGLE_ISSUER`,
    /// `DEFER_TASKRUN` (or `COOP_TASKRUN` where that was refused); empty: none.
    pub setup_flags: Vec<String>,
    /// The socket was registered (`io_uring_register_files`) and sends name it as a fixed file.
    pub registered_file: bool,
    /// The ring's own fd was registered (`IORING_REGISTER_RING_FDS`), so `io_uring_enter`
    /// skips the fd lookup.
    pub registered_ring_fd: bool,
    /// What was asked for and refused by this kernel, with the error (the ring then ran
    /// without it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    /// Chains whose order had to be restored: a send of a linked batch ended short or failed,
    /// the kernel cancelled the rest, and they were resubmitted in order.
    #[serde(default)]
    pub broken_links: u64,
}

/// Zero-copy bookkeeping for one point (summed over connections), for MSG_ZEROCOPY and io_uring
/// zero-copy alike.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ZeroCopyStats {
    /// Sends that owe a completion: `sendmsg(MSG_ZEROCOPY)` calls that sent at least one byte
    /// (each consumes a sequence number), or io_uring send CQEs flagged `IORING_CQE_F_MORE`.
    pub sends: u64,
    /// Sends whose completion notification arrived.
    pub completions: u64,
    /// Completions flagged `SO_EE_CODE_ZEROCOPY_COPIED` (MSG_ZEROCOPY) or
    /// `IORING_NOTIF_USAGE_ZC_COPIED` (io_uring): the kernel copied after all.
    pub copied: u64,
    /// `copied / completions` (null before any completion). 1.0 on loopback and veth, where
    /// local delivery always copies: such a figure is not NIC zero-copy.
    pub copied_ratio: Option<f64>,
    /// Sends refused with ENOBUFS (notification budget full), reaped and retried.
    pub enobufs: u64,
    /// Notifications read: error-queue messages (one may cover many sends) or io_uring
    /// notification CQEs (one per send).
    pub notifications: u64,
}

impl Figure {
    /// The figure of one point, `None` where it was not measured (or is not finite).
    pub fn value(self, p: &Point) -> Option<f64> {
        let v = match self {
            Figure::ThroughputGbps => (p.duration_s > 0.0).then_some(p.throughput_gbps),
            Figure::LatencyP50Us => p.latency_us.as_ref().map(|l| l.p50),
            Figure::LatencyP99Us => p.latency_us.as_ref().map(|l| l.p99),
            Figure::SenderCpuNsPerByte => p.sender.cpu_ns_per_byte,
        }?;
        v.is_finite().then_some(v)
    }
}

/// How a paced point's senders were paced (`--rate`, see `engine/pacing.rs`), and whether
/// every connection reached the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PacingRecord {
    /// How: `user-sleep` (a token bucket in the send loop that sleeps until each batch of
    /// about 1 ms of payload is due).
    pub method: crate::engine::pacing::PacingMethod,
    /// The target, per connection: payload bits per second (10^9 = 1 Gbps).
    pub target_bps: u64,
    /// The slowest connection's payload bits per second over its own measured interval (the
    /// sender's bytes): `null` where no connection measured one.
    pub reached_bps: Option<f64>,
    /// Whether every connection reached at least
    /// [`REACHED_SHARE`](crate::engine::pacing::REACHED_SHARE) (95%) of the target.
    pub rate_reached: bool,
    /// Seconds the senders' pacers slept in the measured interval, summed over connections.
    pub slept_s: Option<f64>,
}

impl Point {
    /// The per-connection target rate of a paced point (`None`: unpaced).
    pub fn target_rate_bps(&self) -> Option<u64> {
        self.pacing.as_ref().map(|p| p.target_bps)
    }

    /// A sentence when a paced point did not reach its target rate.
    pub fn pacing_warning(&self) -> Option<String> {
        let p = self.pacing.as_ref().filter(|p| !p.rate_reached)?;
        Some(format!(
            "paced at {} per connection but reached {}{}: the senders could not go faster, so \
             the point is not at the load asked for",
            crate::units::rate_text(p.target_bps as f64),
            p.reached_bps
                .map_or_else(|| "nothing measurable".into(), crate::units::rate_text),
            p.reached_bps
                .map(|r| format!(" ({:.0}%)", 100.0 * r / p.target_bps as f64))
                .unwrap_or_default()
        ))
    }
}
