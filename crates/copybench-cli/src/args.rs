//! Command-line arguments, and their checks: every bad value is refused before any traffic,
//! with a message that names the flag and the allowed range (exit code 2).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use copybench_core::engine::{
    DataTemperature, Mode, Protocol, Verify, MAX_FIELDS, MAX_MSG_SIZE, MAX_POOL, MAX_READ_SIZE,
    MAX_THREADS,
};
use copybench_core::message::Align;
use copybench_core::model::ReceiveKind;
use copybench_core::model::{Placement, TopologyKind};
use copybench_core::strategy::MAX_URING_DEPTH;
use copybench_core::units::{format_size, parse_duration, parse_size, ParseError};
use copybench_core::StrategyKind;

/// Longest measured duration or warm-up accepted.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Most repetitions per point.
pub const MAX_REPETITIONS: usize = 100;

#[derive(Debug, Parser)]
#[command(
    name = "copybench",
    version,
    about = "What does each copy on the TCP send path cost?",
    long_about = "copybench pits TCP send strategies against each other on the same wire \
                  (two-copy gather + send, scatter-gather sendmsg, MSG_ZEROCOPY) and reports \
                  throughput, latency and CPU cost per byte, with the receiver verifying every byte.",
    after_help = "Examples:\n  copybench run --strategy zerocopy --sizes 1k,4k,16k,64k\n  \
                  copybench run --mode rr --threads 1,2,4 --out rr.json\n  \
                  copybench plot results.json -o report.html\n  copybench doctor"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a sweep: strategies x sizes x threads, with warm-up and repetitions.
    Run(Box<RunArgs>),
    /// Run copybench's single-field stream side by side with iperf3, iperf, sockperf and nuttcp,
    /// on the same topology and CPU placement, alternating point by point.
    Peers(Box<PeersArgs>),
    /// Receive for clients on other hosts (`copybench run --topology remote --connect HOST:PORT`).
    Server(ServerArgs),
    /// Render result files into one self-contained HTML report (works offline).
    Plot(PlotArgs),
    /// Compare two result files cell by cell: what changed beyond the noise.
    Compare(CompareArgs),
    /// Find the message size where one strategy starts beating another, by measurement.
    Crossover(Box<crate::crossover::CrossoverArgs>),
    /// Print what this machine supports (namespaces, MSG_ZEROCOPY, counters) and what to do about gaps.
    Doctor,
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where the traffic runs: a kind of path (its names and help are the model's, so a new
/// topology needs no change here), or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopologyArg {
    /// netns when the process has CAP_NET_ADMIN, loopback otherwise.
    Auto,
    /// The path named.
    Kind(TopologyKind),
}

/// `auto`, then every kind, in the model's order.
const TOPOLOGY_ARGS: [TopologyArg; TopologyKind::ALL.len() + 1] = {
    let mut all = [TopologyArg::Auto; TopologyKind::ALL.len() + 1];
    let mut i = 0;
    while i < TopologyKind::ALL.len() {
        all[i + 1] = TopologyArg::Kind(TopologyKind::ALL[i]);
        i += 1;
    }
    all
};

impl ValueEnum for TopologyArg {
    fn value_variants<'a>() -> &'a [Self] {
        &TOPOLOGY_ARGS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        use clap::builder::PossibleValue;
        Some(match self {
            TopologyArg::Auto => PossibleValue::new("auto")
                .help("netns when the process has CAP_NET_ADMIN, loopback otherwise"),
            TopologyArg::Kind(kind) => PossibleValue::new(kind.name()).help(kind.help()),
        })
    }
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Result files (JSON from `copybench run --out`); several are compared in one report.
    #[arg(required = true, value_name = "RESULTS.json")]
    pub inputs: Vec<PathBuf>,

    /// Where to write the report.
    #[arg(short, long, default_value = "report.html")]
    pub output: PathBuf,

    /// echarts.min.js to inline instead of the copy built in (scripts/install-deps.sh installs it).
    #[arg(long, value_name = "PATH")]
    pub echarts: Option<PathBuf>,

    /// Page title.
    #[arg(long)]
    pub title: Option<String>,
}

/// How `copybench compare` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// A table for the terminal, then every regression and improvement.
    Text,
    /// The same for a CI comment.
    Markdown,
    /// The whole comparison as JSON.
    Json,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline results (JSON from `copybench run --out`).
    #[arg(value_name = "OLD.json")]
    pub old: PathBuf,

    /// The results to judge against it.
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CompareFormat,

    /// Changes beyond the noise count as regressions or improvements above PCT percent of the
    /// old median (0 to 1000).
    #[arg(long, value_name = "PCT", value_parser = parse_pct, default_value = "5")]
    pub threshold: f64,

    /// Exit 1 when a cell got worse by more than PCT percent and the change is beyond the
    /// noise (throughput down, CPU per byte or p99 latency up).
    #[arg(long, value_name = "PCT", value_parser = parse_pct)]
    pub fail_on_regression: Option<f64>,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address and port to listen on for clients (port 0: any free port, printed at start).
    #[arg(long, default_value = "0.0.0.0:7077")]
    pub listen: std::net::SocketAddr,

    /// Do not open per-thread counters on the receiving side.
    #[arg(long)]
    pub no_counters: bool,

    /// Most connections (thread pairs) one point may ask for, 1 to 256.
    #[arg(long, value_parser = parse_threads, default_value = "64")]
    pub max_threads: usize,

    /// Most memory one point may allocate (message size x pool x threads), 1m to 64g.
    #[arg(long, value_parser = parse_max_memory, default_value = "1g")]
    pub max_memory: usize,

    /// Longest point a client may ask for (warm-up + duration), up to 1 hour.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_positive_duration, default_value = "5m")]
    pub max_duration: Duration,

    /// Most points one session (one `copybench run`) may run, 1 to 1000000.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000), default_value = "10000")]
    pub max_points: u32,

    /// Time a new connection has for its whole handshake, 100ms to 60s.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_handshake_timeout, default_value = "5s")]
    pub handshake_timeout: Duration,

    /// A session silent this long between points is closed, 1s to 1 hour.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_idle_timeout, default_value = "60s")]
    pub idle_timeout: Duration,

    /// Require clients to prove they hold this key (give the same file to `copybench run`).
    #[arg(long, value_name = "FILE")]
    pub auth_key_file: Option<PathBuf>,

    /// CPUs for receiver threads, comma-separated (thread i takes the i-th, round robin).
    #[arg(long, value_delimiter = ',')]
    pub receiver_cpus: Vec<usize>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Strategies, comma-separated (see --help for every name).
    #[arg(short, long = "strategy", value_delimiter = ',', value_parser = parse_strategy,
          long_help = format!("Strategies, comma-separated: {}.", StrategyKind::spellings()),
          default_values_t = StrategyKind::DEFAULT.to_vec())]
    pub strategies: Vec<StrategyKind>,

    /// Message sizes, comma-separated: bytes or k/m suffixes (powers of 1024), 1 byte to 64m.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, value_parser = parse_msg_size, default_value = "1k,4k,16k,64k")]
    pub sizes: Vec<usize>,

    /// Connections, timing, repetitions, topology, placement, counters.
    #[command(flatten)]
    pub sweep: SweepOptions,

    /// stream: throughput and send-call latency; rr: request/response round-trip latency.
    #[arg(short, long, value_parser = parse_mode, default_value = "stream")]
    pub mode: Mode,

    /// The `copybench server` to send to (implies --topology remote).
    #[arg(long, value_name = "HOST:PORT")]
    pub connect: Option<String>,

    /// Key file of a `copybench server --auth-key-file` (remote only).
    #[arg(long, value_name = "FILE")]
    pub auth_key_file: Option<PathBuf>,

    /// Transport: tcp (a byte stream per connection) or udp (each message one datagram, at
    /// most 65507 bytes; the receiver verifies each and counts loss).
    #[arg(long, value_parser = parse_protocol, default_value = "tcp")]
    pub protocol: Protocol,

    /// Exit 1 if any zero-copy point's copied ratio is above 0 (the kernel copied after all),
    /// as the kernel selftest's -Z does: for checking that a path really avoids the copy.
    #[arg(long)]
    pub expect_zerocopy: bool,

    /// Fields, pool, data temperature, field placement.
    #[command(flatten)]
    pub message: MessageOptions,

    /// uringzc only: register the pool's buffers with the ring and send with fixed buffers
    /// (any --fields with the packed placement; --fields 1 with the others).
    #[arg(long)]
    pub fixed_buffers: bool,

    /// io_uring strategies: sends in flight per socket, 1 to 256 (default 8, chosen by
    /// measurement: docs/measured.md). UDP sends are unlinked; TCP batches are linked chains
    /// (IOSQE_IO_LINK with MSG_WAITALL) so the stream keeps its order. rr always uses 1.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_URING_DEPTH as i64))]
    pub uring_depth: Option<u16>,

    /// splice only: vmsplice with SPLICE_F_GIFT (the pages offered to the kernel as a gift),
    /// recorded per point. A socket references them as without it; buffers are rewritten only
    /// once the peer has read past them either way.
    #[arg(long)]
    pub splice_gift: bool,

    /// The senders' message pools from 2 MiB pages: MAP_HUGETLB (vm.nr_hugepages), else
    /// transparent huge pages (madvise). Each point records what the kernel gave
    /// (`hugepages`: AnonHugePages of the mapping). Not for sendfile, whose pool is a file.
    #[arg(long)]
    pub hugepages: bool,

    /// UDP only: UDP_SEGMENT of SIZE bytes (k suffix allowed) for every strategy, zero-copy
    /// included: each send of one message leaves as datagrams of SIZE, the last one shorter
    /// (at most 64 per message, SIZE at most the message size and the MTU less 28). The
    /// receiver checks every datagram; `udp` then counts datagrams. Recorded per point.
    #[arg(long, value_name = "SIZE", value_parser = parse_gso)]
    pub udp_gso: Option<usize>,

    /// --pin, --sender-cpus, --receiver-cpus.
    #[command(flatten)]
    pub cpus: CpuOptions,

    /// What the receivers check: full (every byte), stamps (each message's 8-byte stamp:
    /// identity and order, not the payload), off (read, count, no check), discard (recv with
    /// MSG_TRUNC: no payload reaches user space, bytes counted).
    #[arg(long, value_parser = parse_verify, default_value = "full")]
    pub verify: Verify,

    /// Receive strategies, comma-separated: read (read(2), the default), trunc (recv with
    /// MSG_TRUNC: dropped in the kernel, counted; what --verify discard means), zerocopy
    /// (TCP_ZEROCOPY_RECEIVE: the receive queue's pages mapped, the unaligned rest read; both
    /// verified; TCP only). They join the interleaved grid with the send strategies; with
    /// zerocopy the veth MTU defaults to 61492 and loopback asks for an MSS of 4108, so that
    /// segments carry whole pages.
    #[arg(long = "receive", value_delimiter = ',', value_parser = parse_receive, default_value = "read")]
    pub receives: Vec<ReceiveKind>,

    /// TCP stream receivers: bytes asked for per read call, 1 to 64m (default 256k). A large
    /// read drains the socket and the receiver sleeps until the next segment wakes it; iperf3
    /// and nuttcp read their write size.
    #[arg(long, value_parser = parse_read_size)]
    pub read_size: Option<usize>,

    /// After the sweep, measure further sizes inside every open break-even bracket (the sizes
    /// between which a zero-copy strategy starts or stops beating the best copying one, wider
    /// than 1.5x), bisecting as `copybench crossover` does, with this run's settings and
    /// placement, until each is at most 1.5x wide or --refine-budget sizes were added. Refined
    /// points are marked `refined: true`.
    #[arg(long)]
    pub refine: bool,

    /// With --refine: most sizes added over the whole run (1 to 64). Each costs the zero-copy
    /// strategy and the best copying ones x --repetitions points.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64), default_value = "4",
          requires = "refine")]
    pub refine_budget: u16,

    /// Pace every connection's sender to this rate of payload, bits per second, SI (500m,
    /// 2g, 1.5g; 10^9 = 1 Gbps); several, comma-separated (or --rates), sweep them as one more
    /// dimension of the grid. Paced in user space by sleeping (no busy-wait); each point
    /// records the rate it reached, and findings then rank strategies by sender CPU per byte
    /// at equal rate. Stream mode only.
    #[arg(long = "rate", visible_alias = "rates", value_name = "RATE", value_delimiter = ',',
          allow_hyphen_values = true, value_parser = parse_rate_arg)]
    pub rates: Vec<u64>,

    /// Write results here; the format follows the extension: .json (the full results), .csv, .md.
    /// Repeatable. JSON is rewritten after every point, so an interrupted sweep keeps what finished.
    #[arg(short, long = "out")]
    pub outputs: Vec<PathBuf>,

    /// Print the results JSON to stdout (the summary table goes to stderr).
    #[arg(long)]
    pub json: bool,

    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,

    /// Print only the findings in at most five sentences (what the report says under its
    /// decision map): no progress, no per-point lines, no table. Errors still go to stderr.
    #[arg(short, long)]
    pub quiet: bool,

    /// Test hook: corrupt message N of each connection (proves the byte check can fail).
    #[arg(long, hide = true)]
    pub corrupt_message: Option<u64>,
}

/// The options `run`, `peers` and `crossover` share: the connections, how long and how often
/// each point is measured, where the traffic runs, how threads are placed, whether counters
/// are opened. The help and defaults here are `run`'s; `peers` and `crossover` keep their own
/// (`mut_arg` on their structs), and each command checks the values in its plan.
#[derive(Debug, Clone, Args)]
pub struct SweepOptions {
    /// Connection (sender/receiver thread pair) counts, comma-separated, 1 to 256.
    #[arg(short, long, value_delimiter = ',', allow_negative_numbers = true, value_parser = parse_threads, default_value = "1")]
    pub threads: Vec<usize>,

    /// Measured time per point: 5s, 500ms, 2m (up to 1 hour).
    #[arg(short, long, allow_hyphen_values = true, value_parser = parse_positive_duration, default_value = "5s")]
    pub duration: Duration,

    /// Unmeasured streaming before each point's measured interval (0 for none).
    #[arg(short, long, allow_hyphen_values = true, value_parser = parse_warmup, default_value = "1s")]
    pub warmup: Duration,

    /// Repetitions of every point (1 to 100); the summary shows median and min..max.
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..=MAX_REPETITIONS as i64), default_value = "3")]
    pub repetitions: u16,

    /// Where the traffic runs.
    #[arg(long, value_enum, default_value = "auto")]
    pub topology: TopologyArg,

    /// MTU of the veth pair, 68 to 65535 (default: 1500 for netns; for sink 9000, or the
    /// largest datagram plus 28 bytes of headers if larger, so that zero-copy stays possible).
    #[arg(long, value_parser = clap::value_parser!(u32).range(68..=65535))]
    pub mtu: Option<u32>,

    /// CPU placement, recorded with every point: apart (senders and receivers on disjoint
    /// CPUs), same (each sender on its receiver's CPU), none (unpinned: the scheduler decides).
    #[arg(long, value_parser = parse_placement, default_value = "apart")]
    pub placement: Placement,

    /// Do not open per-thread counters.
    #[arg(long)]
    pub no_counters: bool,
}

/// Why a value on the command line is refused; clap prints it after the flag and its value,
/// and exits 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// Not a value of the flag's kind (a size, a duration, a rate, a name).
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Not written as the flag expects.
    #[error("'{value}' is not {expected}")]
    Malformed {
        /// As typed.
        value: String,
        /// What it should be, in words.
        expected: String,
    },
    /// Outside the allowed range.
    #[error("{value} is outside {range}")]
    OutOfRange {
        /// As typed, or as understood.
        value: String,
        /// The allowed range, in words.
        range: String,
    },
    /// Above a size limit.
    #[error("{value} is above the largest {what}, {max} (allowed: 1 byte to {max})")]
    TooLarge {
        value: String,
        what: &'static str,
        max: String,
    },
    /// Above a time limit.
    #[error("{value} is longer than the maximum, {max}")]
    TooLong { value: String, max: &'static str },
    /// A name the flag does not know.
    #[error("unknown {what} '{value}': expected {expected}")]
    Unknown {
        what: &'static str,
        value: String,
        expected: String,
    },
    /// A value other commands take, refused here, with what to use instead.
    #[error("{0}")]
    Refused(String),
}

/// How each message is laid out and which buffers are sent from (`run` and `crossover`; `run`'s
/// help and defaults, `crossover` keeps its own).
#[derive(Debug, Clone, Args)]
pub struct MessageOptions {
    /// Fields per message, each its own allocation (1 to 1024).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_FIELDS as i64), default_value = "8")]
    pub fields: u16,

    /// Message buffers per connection (1 to 65536); default: about 8 MiB worth, 4 to 256.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_POOL as i64))]
    pub pool: Option<u32>,

    /// Which of the pool's buffers are sent from: hot (the fewest each strategy's semantics
    /// allow: the buffer just released is the next one used, so a copying strategy sends from
    /// one buffer per connection) or cold (every strategy cycles through the whole pool, which
    /// then defaults to twice the last-level cache per connection).
    #[arg(long, value_parser = parse_data, default_value = "hot")]
    pub data: DataTemperature,

    /// Field placement: 'packed' (each message's fields back to back in one allocation, as a
    /// program holds them), 'page' (each field on its own page: meets 4K aliasing in the
    /// gather copy) or
    /// 'offset:N' (N bytes past a page boundary, 1..4095).
    #[arg(long, value_parser = parse_align, default_value = "packed")]
    pub align: Align,
}

/// CPUs named instead of a placement (`run` and `crossover`).
#[derive(Debug, Clone, Args)]
pub struct CpuOptions {
    /// The same as --placement apart (kept for older scripts).
    #[arg(long, conflicts_with = "placement")]
    pub pin: bool,

    /// CPUs for sender threads, comma-separated (thread i takes the i-th, round robin).
    /// Overrides --placement (recorded as `custom`).
    #[arg(long, value_delimiter = ',')]
    pub sender_cpus: Vec<usize>,

    /// CPUs for receiver threads, comma-separated. Overrides --placement (recorded as `custom`).
    #[arg(long, value_delimiter = ',')]
    pub receiver_cpus: Vec<usize>,
}

/// A `--udp-gso` size: 1 byte to 65507 (a datagram).
fn parse_gso(s: &str) -> Result<usize, ArgError> {
    let n = parse_size(s)?;
    if !(1..=copybench_core::engine::MAX_DATAGRAM).contains(&n) {
        return Err(ArgError::OutOfRange {
            value: s.to_string(),
            range: format!(
                "1 to {} bytes (one datagram)",
                copybench_core::engine::MAX_DATAGRAM
            ),
        });
    }
    Ok(n)
}

/// A percentage, 0 to 1000.
pub fn parse_pct(s: &str) -> Result<f64, ArgError> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| ArgError::Malformed {
            value: s.to_string(),
            expected: "a number (a percentage, 0 to 1000)".into(),
        })?;
    if !(0.0..=1000.0).contains(&v) {
        return Err(ArgError::OutOfRange {
            value: s.to_string(),
            range: "0 to 1000 (percent)".into(),
        });
    }
    Ok(v)
}

#[derive(Debug, Args)]
#[command(
    mut_arg("threads", |a| a.help("Connection counts, comma-separated, 1 to 256")),
    mut_arg("duration", |a| a
        .help("Length of every tool's test, in whole seconds (iperf3 and sockperf take no \
               fractions)")
        .default_value("3s")),
    mut_arg("warmup", |a| a.help("copybench's unmeasured streaming before its measured \
        interval (the peers have no common option for one; their start-up is inside their \
        figure)")),
    mut_arg("repetitions", |a| a.help("Rounds: every tool runs every point once per round (1 \
        to 100)")),
    mut_arg("topology", |a| a.help("Where the traffic runs: netns (veth between two \
        namespaces, needs CAP_NET_ADMIN), loopback, or auto (netns when privileged)")),
    mut_arg("placement", |a| a
        .help("CPU placement of every tool: apart = sender on CPU 0, receiver on CPU 1; same = \
               both on CPU 0")
        .value_parser(parse_peers_placement)),
    mut_arg("mtu", |a| a
        .help("MTU of the veth pair (netns topology), 68 to 65535")
        .default_value("1500")),
    mut_arg("no_counters", |a| a.help("Do not open copybench's per-thread counters")),
)]
pub struct PeersArgs {
    /// Write sizes, comma-separated: bytes or k/m suffixes (powers of 1024), 1 byte to 64m.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, value_parser = parse_msg_size, default_value = "1k,4k,16k,64k")]
    pub sizes: Vec<usize>,

    /// Connections, timing, rounds, topology, placement, counters (as `copybench run`, with
    /// the peers' defaults).
    #[command(flatten)]
    pub sweep: SweepOptions,

    /// Peers to run, comma-separated (missing ones are reported and skipped).
    #[arg(long, value_delimiter = ',', value_parser = parse_peer, default_value = "iperf3,iperf,sockperf,nuttcp")]
    pub peers: Vec<String>,

    /// Write the results here (.json), rewritten after every point. Repeatable.
    #[arg(short, long = "out")]
    pub outputs: Vec<PathBuf>,

    /// What copybench's receiver checks: full (every byte), stamps (each message's 8-byte
    /// stamp: identity and order), off (read and counted). The peers check nothing; `discard` is
    /// refused because it would skip the copy to user space that every peer's receiver pays.
    #[arg(long, value_parser = parse_peers_verify, default_value = "stamps")]
    pub verify: Verify,

    /// copybench's receiver: bytes per read call, 1 to 64m; default: the write size of each
    /// point, as iperf3 and nuttcp read.
    #[arg(long, value_parser = parse_read_size)]
    pub read_size: Option<usize>,

    /// Pace every tool to this payload rate per connection, bits per second, SI (500m, 2g):
    /// copybench with its own pacer, iperf3 and iperf with -b, nuttcp with -R, sockperf with
    /// --mps (messages per second: the rate over 8 x the size).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_rate_arg)]
    pub rate: Option<u64>,
}

/// A `--rate`: payload bits per second, SI, at least 1 bit/s.
pub(crate) fn parse_rate_arg(s: &str) -> Result<u64, ArgError> {
    Ok(copybench_core::units::parse_rate(s)?)
}

fn parse_peer(s: &str) -> Result<String, ArgError> {
    let names = crate::peers::peer_names();
    let s = s.trim().to_ascii_lowercase();
    let s = if s == "iperf2" {
        "iperf".to_string()
    } else {
        s
    };
    if names.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(ArgError::Unknown {
            what: "peer",
            value: s,
            expected: names.join(", "),
        })
    }
}

pub(crate) fn parse_strategy(
    s: &str,
) -> Result<StrategyKind, copybench_core::strategy::UnknownStrategy> {
    s.parse()
}

pub(crate) fn parse_msg_size(s: &str) -> Result<usize, ArgError> {
    let n = parse_size(s)?;
    if n > MAX_MSG_SIZE {
        return Err(ArgError::TooLarge {
            value: format_size(n),
            what: "message size",
            max: format_size(MAX_MSG_SIZE),
        });
    }
    Ok(n)
}

pub(crate) fn parse_read_size(s: &str) -> Result<usize, ArgError> {
    let n = parse_size(s)?;
    if !(1..=MAX_READ_SIZE).contains(&n) {
        return Err(ArgError::OutOfRange {
            value: format_size(n),
            range: format!("1 byte to {}", format_size(MAX_READ_SIZE)),
        });
    }
    Ok(n)
}

fn parse_peers_verify(s: &str) -> Result<Verify, ArgError> {
    match parse_verify(s)? {
        Verify::Discard => Err(ArgError::Refused(
            "discard drops the bytes in the kernel, sparing copybench the copy to user space \
             that every peer's receiver pays: use full, stamps or off"
                .into(),
        )),
        v => Ok(v),
    }
}

pub(crate) fn parse_threads(s: &str) -> Result<usize, ArgError> {
    let n: usize = s.trim().parse().map_err(|_| ArgError::Malformed {
        value: s.to_string(),
        expected: format!("a whole number (allowed: 1 to {MAX_THREADS})"),
    })?;
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(ArgError::OutOfRange {
            value: n.to_string(),
            range: format!("1 to {MAX_THREADS}"),
        });
    }
    Ok(n)
}

pub(crate) fn parse_positive_duration(s: &str) -> Result<Duration, ArgError> {
    let d = parse_duration(s)?;
    if d > MAX_DURATION {
        return Err(ArgError::TooLong {
            value: s.to_string(),
            max: "1 hour",
        });
    }
    Ok(d)
}

pub(crate) fn parse_warmup(s: &str) -> Result<Duration, ArgError> {
    if s.trim().trim_end_matches(['s', 'm']).trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_positive_duration(s)
}

fn parse_protocol(s: &str) -> Result<Protocol, ParseError> {
    s.parse()
}

fn parse_max_memory(s: &str) -> Result<usize, ArgError> {
    let n = parse_size(s)?;
    if !(1 << 20..=64 << 30).contains(&n) {
        return Err(ArgError::OutOfRange {
            value: s.to_string(),
            range: "1m to 64g".into(),
        });
    }
    Ok(n)
}

fn parse_duration_in(
    s: &str,
    min: Duration,
    max: Duration,
    range: &str,
) -> Result<Duration, ArgError> {
    let d = parse_duration(s)?;
    if !(min..=max).contains(&d) {
        return Err(ArgError::OutOfRange {
            value: s.to_string(),
            range: range.to_string(),
        });
    }
    Ok(d)
}

fn parse_handshake_timeout(s: &str) -> Result<Duration, ArgError> {
    parse_duration_in(
        s,
        Duration::from_millis(100),
        Duration::from_secs(60),
        "100ms to 60s",
    )
}

fn parse_idle_timeout(s: &str) -> Result<Duration, ArgError> {
    parse_duration_in(s, Duration::from_secs(1), MAX_DURATION, "1s to 1h")
}

fn parse_mode(s: &str) -> Result<Mode, ParseError> {
    s.parse()
}

pub(crate) fn parse_verify(s: &str) -> Result<Verify, ParseError> {
    s.parse()
}

pub(crate) fn parse_receive(s: &str) -> Result<ReceiveKind, ParseError> {
    s.parse()
}

pub(crate) fn parse_placement(s: &str) -> Result<Placement, ParseError> {
    s.parse()
}

fn parse_peers_placement(s: &str) -> Result<Placement, ArgError> {
    match parse_placement(s)? {
        Placement::Unpinned => Err(ArgError::Refused(
            "none: the peers are pinned like copybench; use apart or same".into(),
        )),
        p => Ok(p),
    }
}

pub(crate) fn parse_data(s: &str) -> Result<DataTemperature, ParseError> {
    s.parse()
}

pub(crate) fn parse_align(s: &str) -> Result<Align, ParseError> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parsed(argv: &[&str]) -> Command {
        Cli::try_parse_from(argv).unwrap().command
    }

    fn long_help(command: &str) -> String {
        let mut cli = Cli::command();
        let sub = cli.find_subcommand_mut(command).unwrap();
        sub.render_long_help().to_string()
    }

    #[test]
    fn each_command_keeps_its_own_defaults_and_help_for_the_shared_options() {
        let Command::Run(run) = parsed(&["copybench", "run"]) else {
            panic!("not run")
        };
        let Command::Peers(peers) = parsed(&["copybench", "peers"]) else {
            panic!("not peers")
        };
        let Command::Crossover(crossover) =
            parsed(&["copybench", "crossover", "--pair", "twocopy,zerocopy"])
        else {
            panic!("not crossover")
        };
        let seconds = |s: &SweepOptions| (s.duration.as_millis(), s.warmup.as_millis());
        assert_eq!(seconds(&run.sweep), (5000, 1000));
        assert_eq!(seconds(&peers.sweep), (3000, 1000));
        assert_eq!(seconds(&crossover.sweep), (1000, 300));
        // run picks the MTU per topology; the other two say 1500.
        assert_eq!(run.sweep.mtu, None);
        assert_eq!(peers.sweep.mtu, Some(1500));
        assert_eq!(crossover.sweep.mtu, Some(1500));
        // The message options: run's, with the crossover's own field placement.
        assert_eq!(run.message.align, Align::Packed);
        assert_eq!(crossover.message.align, parse_align("offset:96").unwrap());
        assert_eq!((run.message.fields, crossover.message.fields), (8, 8));
        assert!(long_help("crossover").contains("Field placement: 'page' or 'offset:N'"));
        // The peers are always pinned: `none` is theirs to refuse, not run's.
        for command in ["run", "crossover"] {
            let mut argv = vec!["copybench", command, "--placement", "none"];
            if command == "crossover" {
                argv.extend(["--pair", "twocopy,zerocopy"]);
            }
            assert!(Cli::try_parse_from(&argv).is_ok(), "{command}");
        }
        let e = Cli::try_parse_from(["copybench", "peers", "--placement", "none"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("the peers are pinned like copybench"), "{e}");
        // Each command's words for the same flag.
        assert!(long_help("run").contains("Measured time per point: 5s, 500ms"));
        assert!(long_help("peers").contains("Length of every tool's test, in whole seconds"));
        assert!(long_help("peers").contains("[default: 3s]"));
        assert!(long_help("crossover").contains("Unmeasured streaming before each point (0"));
        assert!(long_help("crossover").contains("[default: 300ms]"));
    }

    #[test]
    fn a_refused_value_says_why_in_words() {
        assert_eq!(
            parse_threads("0").unwrap_err().to_string(),
            "0 is outside 1 to 256"
        );
        assert_eq!(
            parse_threads("x").unwrap_err().to_string(),
            "'x' is not a whole number (allowed: 1 to 256)"
        );
        assert_eq!(
            parse_msg_size("65m").unwrap_err().to_string(),
            "65m is above the largest message size, 64m (allowed: 1 byte to 64m)"
        );
        assert_eq!(
            parse_positive_duration("61m").unwrap_err().to_string(),
            "61m is longer than the maximum, 1 hour"
        );
        let discard = parse_peers_verify("discard").unwrap_err().to_string();
        assert!(
            discard.contains("user space that every peer"),
            "one space between the words: {discard}"
        );
        assert!(matches!(parse_pct("x"), Err(ArgError::Malformed { .. })));
        assert!(matches!(parse_rate_arg("fast"), Err(ArgError::Parse(_))));
    }

    #[test]
    fn warmup_zero_is_allowed_but_duration_zero_is_not() {
        assert_eq!(parse_warmup("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_warmup("0s").unwrap(), Duration::ZERO);
        assert!(parse_positive_duration("0").is_err());
        assert!(parse_positive_duration("2h").is_err());
    }
}
