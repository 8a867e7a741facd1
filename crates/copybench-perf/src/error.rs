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

/// Why one figure from the kernel's per-thread accounting cannot be read here (its reading is
/// then unsupported, with this as the reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountingError {
    /// A file of `/proc/thread-self` could not be read; `hint` says what the kernel lacks.
    #[error("cannot read {path}: {reason}{hint}")]
    Read {
        path: &'static str,
        reason: String,
        hint: &'static str,
    },
    /// The file has no such field.
    #[error("no {field} in {path}")]
    MissingField {
        field: &'static str,
        path: &'static str,
    },
    /// The file is not laid out as this kernel's documentation says.
    #[error("malformed {path}")]
    Malformed { path: &'static str },
}

/// Why a figure cannot be measured on this machine ([`crate::availability`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// The kernel's per-thread accounting it comes from cannot be read.
    #[error(transparent)]
    Accounting(#[from] AccountingError),
    /// The perf event cannot be opened: the reason, with what to do about it.
    #[error("{0}")]
    Open(String),
}

/// Why a whole counter group cannot be controlled or read: every counter of the group then
/// reads as unsupported with this reason. The failure is kept for every later read, and
/// `io::Error` is not `Clone`, so its words are kept rather than the error itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action} failed: {error}{}", errno.as_ref().map(|name| format!(" [{name}]")).unwrap_or_default())]
pub(crate) struct GroupFailure {
    /// What was being done (`reading the counter group`).
    pub action: &'static str,
    /// The error's own words.
    pub error: String,
    /// The errno's symbolic name (`reason::errno_name`), when the error has one.
    pub errno: Option<String>,
}
