//! The results contract: one JSON document per run (see `docs/results.md`).
//!
//! Every figure that was not measured is `null` (derived figures) or
//! `{"unsupported": "reason"}` (counters): never a 0 standing in for "absent".

use serde::{Deserialize, Serialize};

use crate::engine::Mode;
use crate::message::Align;
use crate::strategy::StrategyKind;

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
    /// What the points say, with their uncertainty ([`crate::findings::findings_for_run`]):
    /// winners, ratios to two-copy, break-even sizes, caveats. Absent in files written before
    /// findings existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<crate::findings::Findings>,
}

/// A point that produced no measurement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailureRecord {
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

/// A strategy that could not run here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnsupportedRecord {
    /// The send strategy.
    pub strategy: StrategyKind,
    /// Why, in words, and what would make it work.
    pub reason: String,
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
    /// Online CPUs.
    pub cores: Option<usize>,
    /// `net.core.optmem_max`: the budget MSG_ZEROCOPY notifications are charged to.
    pub optmem_max: Option<u64>,
    /// Which counters could be opened on this machine, and why not where not
    /// (filled by the binary from `copybench-perf`).
    #[serde(default)]
    pub counters_available: serde_json::Map<String, serde_json::Value>,
}

/// The run's parameters as they were applied.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunConfigRecord {
    /// What was measured.
    pub mode: Mode,
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
}

/// The kinds of path traffic can take.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TopologyKind {
    /// 127.0.0.1 in one network namespace.
    #[default]
    Loopback,
    /// A veth pair between two network namespaces.
    Netns,
    /// A `copybench server` on another host (or process).
    Remote,
}

impl TopologyKind {
    /// The name used in results and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TopologyKind::Loopback => "loopback",
            TopologyKind::Netns => "netns",
            TopologyKind::Remote => "remote",
        }
    }

    /// The kind a [`TopologyKind::name`] names.
    pub fn from_name(name: &str) -> Option<TopologyKind> {
        [
            TopologyKind::Loopback,
            TopologyKind::Netns,
            TopologyKind::Remote,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }

    /// Whether a zero-copy send on this path is delivered locally, where the kernel always
    /// copies (so a copied ratio of 1.0 is expected, not a fault).
    pub fn is_local_delivery(self) -> bool {
        matches!(self, TopologyKind::Loopback | TopologyKind::Netns)
    }
}

impl std::fmt::Display for TopologyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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
    /// The send strategy.
    pub strategy: StrategyKind,
    /// Message size in bytes.
    pub msg_size: usize,
    /// Connections (sender/receiver thread pairs).
    pub threads: usize,
    /// 0-based repetition index.
    pub repetition: usize,
    /// What was measured.
    pub mode: Mode,
    /// Fields per message as sent (the requested count, or the size if that is smaller).
    #[serde(default)]
    pub fields: usize,
    /// Message buffers per connection.
    #[serde(default)]
    pub pool: usize,
    /// Whether the pool was registered with io_uring as fixed buffers (`uringzc` only).
    #[serde(default)]
    pub fixed_buffers: bool,
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
    /// True only if the receivers checked every byte of every connection and all matched,
    /// and received exactly the bytes that were sent.
    pub verified: bool,
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
    /// System-wide CPU time over the measured interval, from `/proc/stat`.
    #[serde(default)]
    pub system_cpu: Option<SystemCpu>,
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
    /// Bytes the receiver got over the whole connection (warm-up included).
    pub received_bytes: u64,
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

/// Per-side (sender or receiver) metrics summed over that side's threads.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SideMetrics {
    /// Summed per-thread counters; absent when counters were off (`--no-counters`).
    #[serde(default)]
    pub counters: Option<Counters>,
    /// Thread CPU time (task clock) per payload byte in nanoseconds, where measured; on the
    /// sender side it includes io_uring worker time ([`Point::sender_io_worker_ns`]).
    #[serde(default)]
    pub cpu_ns_per_byte: Option<f64>,
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
    /// The send call(s) of one message (`stream` mode).
    SendCall,
}

impl LatencyKind {
    /// The name used in results.
    pub fn name(self) -> &'static str {
        match self {
            LatencyKind::RoundTrip => "round_trip",
            LatencyKind::SendCall => "send_call",
        }
    }

    /// The kind a [`LatencyKind::name`] names.
    pub fn from_name(name: &str) -> Option<LatencyKind> {
        [LatencyKind::RoundTrip, LatencyKind::SendCall]
            .into_iter()
            .find(|k| k.name() == name)
    }
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
