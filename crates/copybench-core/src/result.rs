//! The results contract: one JSON document per run (see `docs/results.md`).
//!
//! Every figure that was not measured is `null` (derived figures) or
//! `{"unsupported": "reason"}` (counters): never a 0 standing in for "absent".

use serde::{Deserialize, Serialize};

use crate::strategy::StrategyKind;

/// Version of the JSON layout below; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole run: what ran, where, and one record per measured point.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResults {
    pub schema_version: u32,
    pub tool: ToolInfo,
    /// The command line as typed (argv), for reproduction.
    pub command_line: Vec<String>,
    /// Wall-clock start, RFC 3339 in UTC.
    pub started_at: String,
    pub host: HostInfo,
    pub config: RunConfigRecord,
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
    pub strategy: StrategyKind,
    pub msg_size: usize,
    pub threads: usize,
    pub repetition: usize,
    pub error: String,
}

/// A strategy (or, in `copybench peers`, a peer tool) that could not run here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnsupportedRecord {
    /// `copybench`, or the peer that is missing or cannot run a point.
    #[serde(default = "copybench_tool")]
    pub tool: String,
    pub strategy: StrategyKind,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolInfo {
    pub name: String,
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
    pub hostname: Option<String>,
    /// `uname -r`.
    pub kernel: Option<String>,
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
    /// `stream` or `rr`.
    pub mode: String,
    pub topology: TopologyRecord,
    pub strategies: Vec<StrategyKind>,
    pub sizes: Vec<usize>,
    pub threads: Vec<usize>,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub repetitions: usize,
    /// Fields per message (each separately allocated).
    pub fields: usize,
    /// Message buffers per connection as asked (`null`: automatic, each point records its own).
    #[serde(default)]
    pub pool: Option<usize>,
    /// Where buffers sit: `page` (4096-aligned) or `offset:N`.
    pub align: String,
    /// CPU placement, when pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinRecord>,
    /// Whether per-thread counters were collected.
    pub counters: bool,
}

/// Where the traffic ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TopologyRecord {
    /// `loopback`, `netns` or `remote`.
    pub kind: String,
    pub mtu: Option<u32>,
    /// Address the receivers listened on.
    pub receiver_addr: Option<String>,
    /// Address the senders connected from, where known.
    pub sender_addr: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PinRecord {
    pub sender_cpus: Vec<usize>,
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
    pub strategy: StrategyKind,
    /// Message size in bytes.
    pub msg_size: usize,
    pub threads: usize,
    /// 0-based repetition index.
    pub repetition: usize,
    /// `stream` or `rr`.
    pub mode: String,
    /// Fields per message as sent (the requested count, or the size if that is smaller).
    #[serde(default)]
    pub fields: usize,
    /// Message buffers per connection.
    #[serde(default)]
    pub pool: usize,
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
    /// Zero-copy bookkeeping; present for the zero-copy strategy only.
    #[serde(default)]
    pub zerocopy: Option<ZeroCopyStats>,
    pub sender: SideMetrics,
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
    /// Figures of a side-by-side run (`copybench peers`); absent from `copybench run` points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<PeerFigures>,
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
    #[serde(default)]
    pub context_switches_per_mb: Option<f64>,
    /// The peer's server (receiver) and client (sender) command lines as run (empty for
    /// copybench's own points).
    #[serde(default)]
    pub server_command: Vec<String>,
    #[serde(default)]
    pub client_command: Vec<String>,
}

/// One connection's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ThreadResult {
    pub thread: usize,
    pub bytes: u64,
    pub messages: u64,
    pub send_calls: u64,
    pub duration_s: f64,
    pub throughput_gbps: f64,
    /// This connection's receiver checked every byte and all matched.
    pub verified: bool,
    /// Bytes the receiver got over the whole connection (warm-up included).
    pub received_bytes: u64,
    #[serde(default)]
    pub sender_cpu: Option<usize>,
    #[serde(default)]
    pub receiver_cpu: Option<usize>,
    #[serde(default)]
    pub sender_counters: Option<Counters>,
    #[serde(default)]
    pub receiver_counters: Option<Counters>,
}

/// Per-side (sender or receiver) metrics summed over that side's threads.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SideMetrics {
    /// Summed per-thread counters; absent when counters were off (`--no-counters`).
    #[serde(default)]
    pub counters: Option<Counters>,
    /// Thread CPU time (task clock) per payload byte in nanoseconds, where measured.
    #[serde(default)]
    pub cpu_ns_per_byte: Option<f64>,
}

/// A counter reading: a value, or the reason it could not be measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Value(u64),
    Unsupported(String),
}

impl Metric {
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
    pub cycles: Metric,
    pub instructions: Metric,
    pub llc_misses: Metric,
    /// Which event stands behind `llc_misses`: `llc-read-misses`, `cache-misses` (the generic
    /// fallback) or `none`.
    pub llc_event: String,
    pub context_switches: Metric,
    pub cpu_migrations: Metric,
    pub page_faults: Metric,
    pub task_clock_ns: Metric,
    /// Time the counters were enabled and actually counting (ns); `running < enabled` means
    /// the kernel multiplexed them and the values above were scaled. In a side's totals these
    /// are summed over its threads (thread-nanoseconds).
    pub time_enabled_ns: u64,
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
    pub user_ns: u64,
    pub system_ns: u64,
    pub softirq_ns: u64,
    pub irq_ns: u64,
    pub idle_ns: u64,
}

/// Latency percentiles in microseconds, from an HDR histogram.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
    /// Samples behind the percentiles.
    pub samples: u64,
    /// What was timed: `round_trip` or `send_call`.
    pub what: String,
}

/// MSG_ZEROCOPY bookkeeping for one point (summed over connections).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ZeroCopyStats {
    /// `sendmsg(MSG_ZEROCOPY)` calls that sent at least one byte (each consumes a sequence number).
    pub sends: u64,
    /// Sends whose completion notification arrived.
    pub completions: u64,
    /// Completions flagged `SO_EE_CODE_ZEROCOPY_COPIED`: the kernel copied after all.
    pub copied: u64,
    /// `copied / completions` (null before any completion). 1.0 on loopback and veth, where
    /// local delivery always copies: such a figure is not NIC zero-copy.
    pub copied_ratio: Option<f64>,
    /// `sendmsg` calls refused with ENOBUFS (notification budget full), reaped and retried.
    pub enobufs: u64,
    /// Notifications read from the error queue (one may cover many sends).
    pub notifications: u64,
}
