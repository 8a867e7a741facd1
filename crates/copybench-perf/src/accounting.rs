//! Software figures from the kernel's own per-thread accounting, read only at the start and the
//! end of the measured interval.
//!
//! perf *software* events (context switches, page faults, task clock) are switched out and in
//! by the scheduler with their thread. Measured here: at ~120k context switches per second per
//! side (4 KiB messages, 2 connections over veth) they cost 8-17% of throughput. The same
//! figures kept by the kernel anyway (thread CPU clock, `/proc/thread-self/{stat,status,sched}`)
//! cost nothing between the two reads.

use std::time::Instant;

use crate::reading::Reading;
use crate::AccountingError;

const STATUS: &str = "/proc/thread-self/status";
const STAT: &str = "/proc/thread-self/stat";
const SCHED: &str = "/proc/thread-self/sched";

/// One reading of the calling thread's accounting.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub wall: Instant,
    pub cpu_ns: Result<u64, AccountingError>,
    pub context_switches: Result<u64, AccountingError>,
    pub page_faults: Result<u64, AccountingError>,
    pub cpu_migrations: Result<u64, AccountingError>,
}

fn read(path: &'static str, hint: &'static str) -> Result<String, AccountingError> {
    std::fs::read_to_string(path).map_err(|e| AccountingError::Read {
        path,
        reason: e.to_string(),
        hint,
    })
}

/// `voluntary_ctxt_switches` + `nonvoluntary_ctxt_switches` from a `status` file.
pub(crate) fn parse_switches(status: &str) -> Result<u64, AccountingError> {
    let field = |name: &'static str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim_start_matches(':').trim().parse::<u64>().ok())
            .ok_or(AccountingError::MissingField {
                field: name,
                path: STATUS,
            })
    };
    Ok(field("voluntary_ctxt_switches")? + field("nonvoluntary_ctxt_switches")?)
}

/// `minflt` + `majflt` (fields 10 and 12) from a `stat` file; the command name in parentheses
/// may hold spaces, so fields are counted after the last `)`.
pub(crate) fn parse_faults(stat: &str) -> Result<u64, AccountingError> {
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or(AccountingError::Malformed { path: STAT })?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // fields[0] is field 3 (state): minflt is field 10, majflt field 12.
    let num = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or(AccountingError::Malformed { path: STAT })
    };
    Ok(num(7)? + num(9)?)
}

/// `se.nr_migrations` from a `sched` file (present when the kernel has CONFIG_SCHED_DEBUG).
pub(crate) fn parse_migrations(sched: &str) -> Result<u64, AccountingError> {
    sched
        .lines()
        .find_map(|l| l.strip_prefix("se.nr_migrations"))
        .and_then(|v| v.trim().trim_start_matches(':').trim().parse::<u64>().ok())
        .ok_or(AccountingError::MissingField {
            field: "se.nr_migrations",
            path: SCHED,
        })
}

impl Snapshot {
    pub fn take() -> Snapshot {
        let cpu = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Snapshot {
            wall: Instant::now(),
            cpu_ns: Ok(cpu.tv_sec as u64 * 1_000_000_000 + cpu.tv_nsec as u64),
            context_switches: read(STATUS, "").and_then(|s| parse_switches(&s)),
            page_faults: read(STAT, "").and_then(|s| parse_faults(&s)),
            cpu_migrations: read(SCHED, " (kernel without CONFIG_SCHED_DEBUG)")
                .and_then(|s| parse_migrations(&s)),
        }
    }
}

/// The change between two readings of one figure.
pub(crate) fn delta(
    start: &Result<u64, AccountingError>,
    end: &Result<u64, AccountingError>,
) -> Reading {
    match (start, end) {
        (Ok(a), Ok(b)) => Reading::Value(b.saturating_sub(*a)),
        (Err(e), _) | (_, Err(e)) => Reading::Unsupported(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernels_files() {
        let status = "Name:\tx\nvoluntary_ctxt_switches:\t7\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(parse_switches(status), Ok(10));
        assert!(parse_switches("Name:\tx\n").is_err());
        let stat = "42 (a b) c) S 1 42 42 0 -1 4194560 120 0 3 0 5 6";
        assert_eq!(parse_faults(stat), Ok(123));
        assert!(parse_faults("garbage").is_err());
        let sched = "x (42, #threads: 1)\n---\nse.nr_migrations   :   5\nnr_switches : 9\n";
        assert_eq!(parse_migrations(sched), Ok(5));
        assert!(parse_migrations("").is_err());
    }

    #[test]
    fn this_machine_provides_them() {
        let s = Snapshot::take();
        assert!(s.cpu_ns.unwrap() > 0);
        s.context_switches.unwrap();
        s.page_faults.unwrap();
    }
}
