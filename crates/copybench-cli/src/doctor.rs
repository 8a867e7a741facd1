//! `copybench doctor`: what this machine supports, and what to do about each gap.

use copybench_core::engine::EngineError;
use copybench_core::mapping::MapError;
use copybench_core::strategy::{StrategyError, UringUnavailable};
use copybench_core::StrategyKind;

use crate::hooks::CliHooks;
use crate::host;

mod paths;

/// Why a check found a gap: the words `doctor` prints after `GAP`.
#[derive(Debug, thiserror::Error)]
enum Gap {
    #[error("missing")]
    NoNetAdmin,
    #[error(
        "cannot build a sink without CAP_NET_ADMIN; loopback and veth: always copied (local delivery)"
    )]
    NoSink,
    #[error(transparent)]
    Net(#[from] copybench_net::NetError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    #[error(transparent)]
    Uring(#[from] UringUnavailable),
    #[error(transparent)]
    Mapping(#[from] MapError),
    #[error(transparent)]
    Counter(#[from] copybench_perf::Unavailable),
    #[error("unreadable")]
    OptmemUnreadable,
    /// `kernel.io_uring_disabled` holds this value (not 0).
    #[error("kernel.io_uring_disabled = {0}")]
    UringDisabled(String),
    #[error("not offered by this kernel ({0} is unsupported)")]
    OpcodeMissing(StrategyKind),
    #[error("no zero-copy figures")]
    NoZeroCopyFigures,
    #[error(
        "even on the sink {copied} of {completions} completions were copied (the device lacks \
         checksum offload?)"
    )]
    CopiedOnSink { copied: u64, completions: u64 },
    /// The point ran (`what` says how far it got) but the receiver's check failed.
    #[error("{what} but the receiver's check failed: {error}")]
    Unverified { what: &'static str, error: String },
    #[error("the 4 MiB mapping could not hold 4 MiB")]
    MappingTooSmall,
    #[error(
        "no hugetlb pool (vm.nr_hugepages = 0) and transparent huge pages gave none to a 4 MiB \
         mapping: --hugepages points record 0 huge bytes as measured"
    )]
    NoHugePages,
    #[error("/proc/self/smaps does not say what backed the mapping")]
    SmapsSilent,
    #[error("the mapping is not a huge-page one")]
    NotHuge,
}

struct Check {
    what: String,
    ok: bool,
    detail: String,
    fix: Option<String>,
}

fn check(what: &str, result: Result<String, Gap>, fix: &str) -> Check {
    match result {
        Ok(detail) => Check {
            what: what.into(),
            ok: true,
            detail,
            fix: None,
        },
        Err(gap) => Check {
            what: what.into(),
            ok: false,
            detail: gap.to_string(),
            fix: Some(fix.into()),
        },
    }
}

/// Measures it: a short MSG_ZEROCOPY UDP point through a sink, counting copied completions.
/// Over loopback and veth with a receiver the kernel always copies (local delivery).
fn sink_zerocopy() -> Result<String, Gap> {
    use copybench_core::engine::{run_senders, PointParams, Protocol};
    if !copybench_net::has_net_admin() {
        return Err(Gap::NoSink);
    }
    let sink = copybench_net::Sink::create(&copybench_net::SinkConfig::default())?;
    let mut params = PointParams::new(StrategyKind::ZeroCopy, 8000, 1);
    params.protocol = Protocol::Udp;
    params.warmup = std::time::Duration::ZERO;
    params.duration = std::time::Duration::from_millis(100);
    let hooks = CliHooks::new(Some(&sink), None, false);
    let to = std::net::SocketAddr::from((sink.target_addr(), 9));
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let (senders, _) = run_senders(&params, &[to], &hooks, &cancel, &|_| {})?;
    let z = senders
        .iter()
        .filter_map(|s| s.zerocopy.clone())
        .next()
        .ok_or(Gap::NoZeroCopyFigures)?;
    if z.copied == 0 && z.completions > 0 {
        Ok(format!(
            "sink (--topology sink --protocol udp): {} of {} MSG_ZEROCOPY sends not copied; \
             loopback and veth with a receiver: always copied (local delivery)",
            z.completions, z.sends
        ))
    } else {
        Err(Gap::CopiedOnSink {
            copied: z.copied,
            completions: z.completions,
        })
    }
}

/// io_uring: whether rings may be created, and each opcode the io_uring strategies use.
fn uring_checks() -> Vec<Check> {
    let knob = match std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        Ok(v) if v.trim() == "0" => Ok("enabled".to_string()),
        Ok(v) => Err(Gap::UringDisabled(v.trim().to_string())),
        Err(_) => Ok("no io_uring_disabled knob; assumed enabled".into()),
    };
    let mut checks = vec![check("io_uring", knob, "sysctl kernel.io_uring_disabled=0")];
    match copybench_core::strategy::probe_uring() {
        Ok(opcodes) => checks.extend(opcodes.into_iter().map(|op| {
            check(
                op.name,
                if op.supported {
                    Ok(format!("supported (used by {})", op.used_by))
                } else {
                    Err(Gap::OpcodeMissing(op.used_by))
                },
                "the strategy is reported unsupported, never faked; SEND_ZC needs Linux 6.0+",
            )
        })),
        Err(e) => checks.push(check(
            "io_uring opcodes",
            Err(e.into()),
            "the io_uring strategies will be reported unsupported",
        )),
    }
    checks
}

/// Prints every check; returns how many gaps there are.
pub fn run() -> usize {
    let uname = rustix::system::uname();
    let mut checks = vec![
        check("kernel", Ok(uname.release().to_string_lossy().into_owned()), ""),
        check(
            "CPU",
            Ok(format!(
                "{} ({} CPUs)",
                host::cpu_model().unwrap_or_else(|| "unknown model".into()),
                std::thread::available_parallelism().map_or(0, |n| n.get())
            )),
            "",
        ),
        check(
            "CAP_NET_ADMIN",
            if copybench_net::has_net_admin() {
                Ok("yes".into())
            } else {
                Err(Gap::NoNetAdmin)
            },
            "run as root (or grant CAP_NET_ADMIN and CAP_SYS_ADMIN) for --topology netns; --topology loopback needs nothing",
        ),
        check(
            "network namespaces + veth",
            copybench_net::check_namespaces()
                .map(|()| "created, carried TCP, removed".into())
                .map_err(Gap::from),
            "use --topology loopback, or run as root",
        ),
        check(
            "MSG_ZEROCOPY (SO_ZEROCOPY)",
            copybench_core::strategy::probe_zerocopy()
                .map(|()| "accepted on TCP".into())
                .map_err(Gap::from),
            "the zero-copy strategy needs Linux 4.14+; it will be reported unsupported, never faked",
        ),
        check(
            "net.core.optmem_max",
            host::optmem_max()
                .map(|v| {
                    format!(
                        "{v} bytes (the zero-copy notification budget; when full, sendmsg says ENOBUFS and copybench reaps and retries, counting it)"
                    )
                })
                .ok_or(Gap::OptmemUnreadable),
            "read /proc/sys/net/core/optmem_max",
        ),
    ];
    checks.extend(uring_checks());
    checks.extend(paths::checks());
    checks.push(check(
        "where zero-copy really happens",
        sink_zerocopy(),
        "without CAP_NET_ADMIN no sink can be built; a real NIC (remote mode) is the other place",
    ));
    for a in copybench_perf::availability() {
        checks.push(check(
            &format!("counter {}", a.event),
            a.result.map(|()| "opens".into()).map_err(Gap::from),
            "reported as unsupported in results (never as 0); hardware counters need a PMU: bare metal, or a VM with PMU passthrough",
        ));
    }
    let width = checks.iter().map(|c| c.what.len()).max().unwrap_or(0);
    for c in &checks {
        println!(
            "{} {:<width$}  {}",
            if c.ok { "ok  " } else { "GAP " },
            c.what,
            c.detail
        );
        if let Some(fix) = &c.fix {
            println!("     {:<width$}  -> {fix}", "");
        }
    }
    let gaps = checks.iter().filter(|c| !c.ok).count();
    println!("{gaps} gap(s). Unsupported items are reported as such in results, never as 0.");
    gaps
}
