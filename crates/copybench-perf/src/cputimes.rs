//! System-wide CPU time from the aggregate `cpu` line of `/proc/stat`, and per CPU from its
//! `cpuN` lines.

use crate::error::PerfError;

const PROC_STAT: &str = "/proc/stat";

/// Cumulative CPU time of all CPUs since boot, in ns, from `/proc/stat`'s `cpu` line.
///
/// The kernel counts in `USER_HZ` ticks (normally 100 per second), so each figure has a
/// resolution of one tick (10 ms) per CPU. `user_ns` includes guest time, as the kernel counts
/// it. Kernels before 2.6.11 have no steal column: `steal_ns` is then 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user_ns: u64,
    pub nice_ns: u64,
    pub system_ns: u64,
    pub idle_ns: u64,
    pub iowait_ns: u64,
    pub irq_ns: u64,
    pub softirq_ns: u64,
    pub steal_ns: u64,
}

impl CpuTimes {
    /// Reads `/proc/stat` now.
    pub fn read() -> Result<CpuTimes, PerfError> {
        let text =
            std::fs::read_to_string(PROC_STAT).map_err(|source| PerfError::ReadProcStat {
                path: PROC_STAT,
                source,
            })?;
        Self::parse(&text, ns_per_tick()?)
    }

    /// Parses the text of `/proc/stat`; `ns_per_tick` is 10^9 / `sysconf(_SC_CLK_TCK)`.
    pub fn parse(text: &str, ns_per_tick: u64) -> Result<CpuTimes, PerfError> {
        let err = |detail: String| PerfError::ParseProcStat { detail };
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some("cpu"))
            .ok_or_else(|| err("no aggregate `cpu` line".to_string()))?;
        let ticks: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|f| {
                f.parse::<u64>()
                    .map_err(|_| err(format!("field {f:?} of the `cpu` line is not a number")))
            })
            .collect::<Result<_, _>>()?;
        if ticks.len() < 7 {
            return Err(err(format!(
                "the `cpu` line has {} fields, at least 7 are needed",
                ticks.len()
            )));
        }
        let ns = |i: usize| -> Result<u64, PerfError> {
            let t = ticks.get(i).copied().unwrap_or(0);
            t.checked_mul(ns_per_tick)
                .ok_or_else(|| err(format!("{t} ticks overflow 64-bit nanoseconds")))
        };
        Ok(CpuTimes {
            user_ns: ns(0)?,
            nice_ns: ns(1)?,
            system_ns: ns(2)?,
            idle_ns: ns(3)?,
            iowait_ns: ns(4)?,
            irq_ns: ns(5)?,
            softirq_ns: ns(6)?,
            steal_ns: ns(7)?,
        })
    }

    /// Reads every `cpuN` line of `/proc/stat` now: (N, that CPU's times), in file order.
    pub fn read_per_cpu() -> Result<Vec<(usize, CpuTimes)>, PerfError> {
        let text =
            std::fs::read_to_string(PROC_STAT).map_err(|source| PerfError::ReadProcStat {
                path: PROC_STAT,
                source,
            })?;
        Self::parse_per_cpu(&text, ns_per_tick()?)
    }

    /// Parses the `cpuN` lines of `/proc/stat`'s text (an offline CPU has no line).
    pub fn parse_per_cpu(
        text: &str,
        ns_per_tick: u64,
    ) -> Result<Vec<(usize, CpuTimes)>, PerfError> {
        let err = |detail: String| PerfError::ParseProcStat { detail };
        let mut out = Vec::new();
        for line in text.lines() {
            let Some(name) = line.split_whitespace().next() else {
                continue;
            };
            let Some(number) = name.strip_prefix("cpu").filter(|n| !n.is_empty()) else {
                continue;
            };
            let cpu: usize = number
                .parse()
                .map_err(|_| err(format!("{name:?} is not a CPU line `cpuN`")))?;
            // The same columns as the aggregate line: parse it as one.
            let rest = &line[name.len()..];
            let times = Self::parse(&format!("cpu {rest}"), ns_per_tick).map_err(|e| match e {
                PerfError::ParseProcStat { detail } => err(format!("{name}: {detail}")),
                other => other,
            })?;
            out.push((cpu, times));
        }
        if out.is_empty() {
            return Err(err("no per-CPU `cpuN` line".to_string()));
        }
        Ok(out)
    }

    /// `later - self`, field by field, saturating at 0 (the idle and iowait figures of a CPU
    /// going offline can step backwards).
    pub fn delta(&self, later: &CpuTimes) -> CpuTimes {
        CpuTimes {
            user_ns: later.user_ns.saturating_sub(self.user_ns),
            nice_ns: later.nice_ns.saturating_sub(self.nice_ns),
            system_ns: later.system_ns.saturating_sub(self.system_ns),
            idle_ns: later.idle_ns.saturating_sub(self.idle_ns),
            iowait_ns: later.iowait_ns.saturating_sub(self.iowait_ns),
            irq_ns: later.irq_ns.saturating_sub(self.irq_ns),
            softirq_ns: later.softirq_ns.saturating_sub(self.softirq_ns),
            steal_ns: later.steal_ns.saturating_sub(self.steal_ns),
        }
    }

    /// Sum of every figure.
    pub fn total_ns(&self) -> u64 {
        [
            self.user_ns,
            self.nice_ns,
            self.system_ns,
            self.idle_ns,
            self.iowait_ns,
            self.irq_ns,
            self.softirq_ns,
            self.steal_ns,
        ]
        .iter()
        .fold(0u64, |a, &b| a.saturating_add(b))
    }
}

/// Nanoseconds per `USER_HZ` tick, from `sysconf(_SC_CLK_TCK)`.
pub fn ns_per_tick() -> Result<u64, PerfError> {
    let hz = rustix::param::clock_ticks_per_second();
    if hz == 0 || hz > 1_000_000_000 {
        return Err(PerfError::ClockTicks(hz));
    }
    Ok(1_000_000_000 / hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODERN: &str = "\
cpu  10132153 290696 3084719 46828483 16683 0 25195 7 175628 9
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0
intr 1462898 0 0
ctxt 1990473
btime 1062191376
";

    const OLD: &str = "cpu  100 2 30 4000 5 6 7\ncpu0 100 2 30 4000 5 6 7\n";

    #[test]
    fn parses_modern_line_with_steal_and_guest() {
        let t = CpuTimes::parse(MODERN, 10_000_000).unwrap();
        assert_eq!(
            t,
            CpuTimes {
                user_ns: 10132153 * 10_000_000,
                nice_ns: 290696 * 10_000_000,
                system_ns: 3084719 * 10_000_000,
                idle_ns: 46828483 * 10_000_000,
                iowait_ns: 16683 * 10_000_000,
                irq_ns: 0,
                softirq_ns: 25195 * 10_000_000,
                steal_ns: 7 * 10_000_000,
            }
        );
    }

    #[test]
    fn parses_old_line_without_steal() {
        let t = CpuTimes::parse(OLD, 1_000_000).unwrap();
        assert_eq!(t.user_ns, 100_000_000);
        assert_eq!(t.system_ns, 30_000_000);
        assert_eq!(t.softirq_ns, 7_000_000);
        assert_eq!(t.steal_ns, 0);
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            "",
            "hello world",
            "cpu0 1 2 3 4 5 6 7\n",
            "cpu  1 2 3\n",
            "cpu  1 2 x 4 5 6 7\n",
            "cpu  -1 2 3 4 5 6 7\n",
        ] {
            let e = CpuTimes::parse(bad, 10_000_000).unwrap_err();
            assert!(matches!(e, PerfError::ParseProcStat { .. }), "{bad:?}");
            assert!(e.to_string().contains("/proc/stat"), "{e}");
        }
        let e = CpuTimes::parse("cpu  18446744073709551615 0 0 0 0 0 0\n", 10).unwrap_err();
        assert!(e.to_string().contains("overflow"), "{e}");
    }

    #[test]
    fn parses_every_cpu_line() {
        let two = format!("{MODERN}cpu1 5 0 6 7 0 0 9 1 0 0\n");
        let per = CpuTimes::parse_per_cpu(&two, 10).unwrap();
        assert_eq!(per.len(), 2);
        assert_eq!(per[0].0, 0);
        assert_eq!(per[0].1.softirq_ns, 17875 * 10);
        assert_eq!(per[1].0, 1);
        assert_eq!(per[1].1.user_ns, 50);
        assert_eq!(per[1].1.softirq_ns, 90);
        for bad in ["cpu  1 2 3 4 5 6 7\n", "cpux 1 2 3 4 5 6 7\n", "cpu0 1 2\n"] {
            let e = CpuTimes::parse_per_cpu(bad, 10).unwrap_err();
            assert!(matches!(e, PerfError::ParseProcStat { .. }), "{bad:?}: {e}");
        }
    }

    #[test]
    fn per_cpu_times_add_up_to_the_aggregate_line() {
        let before = CpuTimes::read_per_cpu().unwrap();
        assert!(!before.is_empty());
        let all = CpuTimes::read().unwrap();
        let sum: u64 = before.iter().map(|(_, t)| t.user_ns + t.nice_ns).sum();
        let agg = all.user_ns + all.nice_ns;
        // Read a moment apart: within a few ticks per CPU of each other.
        let slack = 50 * ns_per_tick().unwrap() * before.len() as u64;
        assert!(
            sum.abs_diff(agg) <= slack,
            "per CPU {sum} vs aggregate {agg}"
        );
    }

    #[test]
    fn delta_saturates() {
        let a = CpuTimes::parse(OLD, 1).unwrap();
        let b = CpuTimes {
            user_ns: a.user_ns + 5,
            idle_ns: a.idle_ns - 10,
            ..a
        };
        let d = a.delta(&b);
        assert_eq!(d.user_ns, 5);
        assert_eq!(d.idle_ns, 0);
        assert_eq!(d.system_ns, 0);
        assert_eq!(d.total_ns(), 5);
    }

    #[test]
    fn read_twice_around_busy_work_shows_cpu_time() {
        assert!(ns_per_tick().unwrap() > 0);
        let before = CpuTimes::read().unwrap();
        crate::testwork::spin_cpu(std::time::Duration::from_millis(60));
        let after = CpuTimes::read().unwrap();
        let d = before.delta(&after);
        let busy = d.user_ns + d.system_ns;
        assert!(
            busy >= 10_000_000,
            "user+system grew by only {busy} ns: {d:?}"
        );
        assert!(d.total_ns() > 0);
    }
}
