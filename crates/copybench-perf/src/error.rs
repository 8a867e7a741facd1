//! Errors of the parts that can fail as a whole (system CPU time). Counters never fail as a
//! whole: each one is a value or unsupported with its reason.

/// What went wrong, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    #[error("could not read {path}: {source}; system CPU time needs procfs mounted at /proc")]
    ReadProcStat {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "could not parse /proc/stat: {detail}; expected a line \
         `cpu  user nice system idle iowait irq softirq [steal guest guest_nice]` \
         (this kernel's format is not one copybench knows: report it with the file attached)"
    )]
    ParseProcStat { detail: String },
    #[error(
        "sysconf(_SC_CLK_TCK) gave {0} ticks per second; cannot convert /proc/stat ticks to time"
    )]
    ClockTicks(u64),
}
