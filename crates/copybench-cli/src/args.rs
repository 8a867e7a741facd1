//! Command-line arguments, and their checks: every bad value is refused before any traffic,
//! with a message that names the flag and the allowed range (exit code 2).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use copybench_core::engine::{Mode, MAX_FIELDS, MAX_MSG_SIZE, MAX_POOL, MAX_THREADS};
use copybench_core::message::Align;
use copybench_core::units::{format_size, parse_duration, parse_size};
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
    /// Print what this machine supports (namespaces, MSG_ZEROCOPY, counters) and what to do about gaps.
    Doctor,
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where the traffic runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopologyArg {
    /// netns when the process has CAP_NET_ADMIN, loopback otherwise.
    Auto,
    /// Two network namespaces joined by a veth pair (needs CAP_NET_ADMIN).
    Netns,
    /// 127.0.0.1 in the current namespace (no privileges needed).
    Loopback,
    /// A `copybench server` on another host (give --connect HOST:PORT).
    Remote,
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

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address and port to listen on for clients (port 0: any free port, printed at start).
    #[arg(long, default_value = "0.0.0.0:7077")]
    pub listen: std::net::SocketAddr,

    /// Do not open per-thread counters on the receiving side.
    #[arg(long)]
    pub no_counters: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Strategies, comma-separated: twocopy (two-copy, a1), scattergather (scatter-gather, sg, a2),
    /// zerocopy (zero-copy, zc, a3).
    #[arg(short, long = "strategy", value_delimiter = ',', value_parser = parse_strategy,
          default_value = "twocopy,scattergather,zerocopy")]
    pub strategies: Vec<StrategyKind>,

    /// Message sizes, comma-separated: bytes or k/m suffixes (powers of 1024), 1 byte to 64m.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, value_parser = parse_msg_size, default_value = "1k,4k,16k,64k")]
    pub sizes: Vec<usize>,

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

    /// stream: throughput and send-call latency; rr: request/response round-trip latency.
    #[arg(short, long, value_parser = parse_mode, default_value = "stream")]
    pub mode: Mode,

    /// Where the traffic runs.
    #[arg(long, value_enum, default_value = "auto")]
    pub topology: TopologyArg,

    /// The `copybench server` to send to (implies --topology remote).
    #[arg(long, value_name = "HOST:PORT")]
    pub connect: Option<String>,

    /// MTU of the veth pair (netns topology), 68 to 65535.
    #[arg(long, value_parser = clap::value_parser!(u32).range(68..=65535), default_value = "1500")]
    pub mtu: u32,

    /// Fields per message, each its own allocation (1 to 1024).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_FIELDS as i64), default_value = "8")]
    pub fields: u16,

    /// Message buffers per connection (1 to 65536); default: about 8 MiB worth, 4 to 256.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_POOL as i64))]
    pub pool: Option<u32>,

    /// Field placement: 'page' (page-aligned: meets 4K aliasing in the gather copy) or
    /// 'offset:N' (N bytes past a page boundary, 1..4095).
    #[arg(long, value_parser = parse_align, default_value = "offset:96")]
    pub align: Align,

    /// Pin threads: senders and receivers on separate CPUs, chosen automatically.
    #[arg(long)]
    pub pin: bool,

    /// CPUs for sender threads, comma-separated (thread i takes the i-th, round robin). Implies --pin.
    #[arg(long, value_delimiter = ',')]
    pub sender_cpus: Vec<usize>,

    /// CPUs for receiver threads, comma-separated. Implies --pin.
    #[arg(long, value_delimiter = ',')]
    pub receiver_cpus: Vec<usize>,

    /// Write results here; the format follows the extension: .json (the full results), .csv, .md.
    /// Repeatable. JSON is rewritten after every point, so an interrupted sweep keeps what finished.
    #[arg(short, long = "out")]
    pub outputs: Vec<PathBuf>,

    /// Print the results JSON to stdout (the summary table goes to stderr).
    #[arg(long)]
    pub json: bool,

    /// Do not open per-thread counters.
    #[arg(long)]
    pub no_counters: bool,

    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,

    /// Test hook: corrupt message N of each connection (proves the byte check can fail).
    #[arg(long, hide = true)]
    pub corrupt_message: Option<u64>,
}

/// Where the two sides of every tool run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Placement {
    /// Sender on CPU 0, receiver on CPU 1.
    Apart,
    /// Sender and receiver both on CPU 0.
    Same,
}

impl Placement {
    pub fn name(self) -> &'static str {
        match self {
            Placement::Apart => "apart",
            Placement::Same => "same",
        }
    }
}

#[derive(Debug, Args)]
pub struct PeersArgs {
    /// Write sizes, comma-separated: bytes or k/m suffixes (powers of 1024), 1 byte to 64m.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, value_parser = parse_msg_size, default_value = "1k,4k,16k,64k")]
    pub sizes: Vec<usize>,

    /// Connection counts, comma-separated, 1 to 256.
    #[arg(short, long, value_delimiter = ',', allow_negative_numbers = true, value_parser = parse_threads, default_value = "1")]
    pub threads: Vec<usize>,

    /// Length of every tool's test, in whole seconds (iperf3 and sockperf take no fractions).
    #[arg(short, long, allow_hyphen_values = true, value_parser = parse_positive_duration, default_value = "3s")]
    pub duration: Duration,

    /// copybench's unmeasured streaming before its measured interval (the peers have no
    /// common option for one; their start-up is inside their figure).
    #[arg(short, long, allow_hyphen_values = true, value_parser = parse_warmup, default_value = "1s")]
    pub warmup: Duration,

    /// Rounds: every tool runs every point once per round (1 to 100).
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..=MAX_REPETITIONS as i64), default_value = "3")]
    pub repetitions: u16,

    /// Where the traffic runs: netns (veth between two namespaces, needs CAP_NET_ADMIN),
    /// loopback, or auto (netns when privileged).
    #[arg(long, value_enum, default_value = "auto")]
    pub topology: TopologyArg,

    /// CPU placement of every tool: apart = sender on CPU 0, receiver on CPU 1; same = both on CPU 0.
    #[arg(long, value_enum, default_value = "apart")]
    pub placement: Placement,

    /// Peers to run, comma-separated (missing ones are reported and skipped).
    #[arg(long, value_delimiter = ',', value_parser = parse_peer, default_value = "iperf3,iperf,sockperf,nuttcp")]
    pub peers: Vec<String>,

    /// MTU of the veth pair (netns topology), 68 to 65535.
    #[arg(long, value_parser = clap::value_parser!(u32).range(68..=65535), default_value = "1500")]
    pub mtu: u32,

    /// Write the results here (.json), rewritten after every point. Repeatable.
    #[arg(short, long = "out")]
    pub outputs: Vec<PathBuf>,

    /// Do not open copybench's per-thread counters.
    #[arg(long)]
    pub no_counters: bool,
}

fn parse_peer(s: &str) -> Result<String, String> {
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
        Err(format!("unknown peer '{s}': expected {}", names.join(", ")))
    }
}

fn parse_strategy(s: &str) -> Result<StrategyKind, String> {
    s.parse()
        .map_err(|e: copybench_core::strategy::UnknownStrategy| e.to_string())
}

fn parse_msg_size(s: &str) -> Result<usize, String> {
    let n = parse_size(s).map_err(|e| e.to_string())?;
    if n > MAX_MSG_SIZE {
        return Err(format!(
            "{} is above the largest message size, {} (allowed: 1 byte to {})",
            format_size(n),
            format_size(MAX_MSG_SIZE),
            format_size(MAX_MSG_SIZE)
        ));
    }
    Ok(n)
}

fn parse_threads(s: &str) -> Result<usize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number (allowed: 1 to {MAX_THREADS})"))?;
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(format!("{n} is outside 1 to {MAX_THREADS}"));
    }
    Ok(n)
}

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s).map_err(|e| e.to_string())?;
    if d > MAX_DURATION {
        return Err(format!("{s} is longer than the maximum, 1 hour"));
    }
    Ok(d)
}

fn parse_warmup(s: &str) -> Result<Duration, String> {
    if s.trim().trim_end_matches(['s', 'm']).trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_positive_duration(s)
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

fn parse_align(s: &str) -> Result<Align, String> {
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

    #[test]
    fn warmup_zero_is_allowed_but_duration_zero_is_not() {
        assert_eq!(parse_warmup("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_warmup("0s").unwrap(), Duration::ZERO);
        assert!(parse_positive_duration("0").is_err());
        assert!(parse_positive_duration("2h").is_err());
    }
}
