//! The binary's engine hooks: which namespace and CPU each thread runs on, and what it measures.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use copybench_core::engine::{HookError, Hooks, IntervalProbe, Role, ThreadProbe};
use copybench_core::result::{Counters, CpuTime, Metric, PinRecord, Placement, SystemCpu};
use copybench_perf::{CounterValues, CpuTimes, Reading, ThreadCounters};

use crate::run::TargetPath;

/// CPUs for sender and receiver threads; thread i takes entry i modulo the list's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinPlan {
    pub senders: Vec<usize>,
    pub receivers: Vec<usize>,
}

impl PinPlan {
    /// `apart`: senders on the even-numbered of the usable `cpus`, receivers on the odd ones
    /// (on CPUs 0 and 1: senders on 0, receivers on 1), so the two sides never share a CPU.
    /// `None` with fewer than two CPUs.
    pub fn apart(cpus: &[usize]) -> Option<PinPlan> {
        (cpus.len() >= 2).then(|| PinPlan {
            senders: cpus.iter().copied().step_by(2).collect(),
            receivers: cpus.iter().copied().skip(1).step_by(2).collect(),
        })
    }

    /// `same`: pair i (sender and receiver) on the i-th usable CPU, round robin.
    pub fn same(cpus: &[usize]) -> PinPlan {
        PinPlan {
            senders: cpus.to_vec(),
            receivers: cpus.to_vec(),
        }
    }

    pub fn record(&self) -> PinRecord {
        PinRecord {
            sender_cpus: self.senders.clone(),
            receiver_cpus: self.receivers.clone(),
        }
    }
}

thread_local! {
    /// Counters opened when the thread starts, so that opening them happens before, not
    /// inside, the measured interval. (Only hardware counters are perf events; software
    /// figures come from the kernel's accounting, which costs nothing per context switch.)
    static COUNTERS: RefCell<Option<ThreadCounters>> = const { RefCell::new(None) };
}

pub struct CliHooks<'a> {
    /// The path whose sides the threads join (`None`: this namespace, as a server's
    /// receivers).
    pub path: Option<&'a dyn TargetPath>,
    pub pin: Option<PinPlan>,
    pub counters: bool,
    /// The named placement `pin` implements, recorded in every point.
    pub placement: Option<Placement>,
    /// Where the machine's context switches over the last measured interval are kept, when
    /// they are counted (`copybench peers` compares them with the peers').
    pub switches: Option<SwitchesOut>,
}

impl<'a> CliHooks<'a> {
    pub fn new(path: Option<&'a dyn TargetPath>, pin: Option<PinPlan>, counters: bool) -> Self {
        CliHooks {
            path,
            pin,
            counters,
            placement: None,
            switches: None,
        }
    }

    /// Counts the machine's context switches over every measured interval from now on.
    pub fn counting_switches(mut self) -> Self {
        self.switches = Some(Arc::default());
        self
    }

    /// The machine's context switches over the last measured interval, when counted and read.
    pub fn last_switches(&self) -> Option<u64> {
        let switches = self.switches.as_ref()?;
        *switches.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Hooks for CliHooks<'_> {
    fn enter_thread(&self, role: Role, index: usize) -> Result<Option<usize>, HookError> {
        if let Some(path) = self.path {
            path.enter(role)?;
        }
        let cpu = match &self.pin {
            Some(plan) => {
                let list = match role {
                    Role::Sender => &plan.senders,
                    Role::Receiver => &plan.receivers,
                };
                let cpu = list[index % list.len()];
                if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
                    return Err(
                        format!("could not pin the {role} thread {index} to CPU {cpu}").into(),
                    );
                }
                Some(cpu)
            }
            None => None,
        };
        if self.counters {
            COUNTERS.with(|c| *c.borrow_mut() = Some(ThreadCounters::open()));
        }
        Ok(cpu)
    }

    fn begin_thread_measure(&self, _role: Role, _index: usize) -> Option<Box<dyn ThreadProbe>> {
        if !self.counters {
            return None;
        }
        let mut counters = COUNTERS
            .with(|c| c.borrow_mut().take())
            .unwrap_or_else(ThreadCounters::open);
        counters.start();
        Some(Box::new(PerfProbe(counters)))
    }

    fn begin_interval(&self) -> Option<Box<dyn IntervalProbe>> {
        let switches = self.switches.clone().map(|out| {
            *out.lock().unwrap_or_else(|e| e.into_inner()) = None;
            (context_switches(), out)
        });
        Some(Box::new(ProcStatProbe {
            before: CpuTimes::read().ok(),
            per_cpu_before: CpuTimes::read_per_cpu().ok(),
            switches,
        }))
    }
}

struct PerfProbe(ThreadCounters);

impl ThreadProbe for PerfProbe {
    fn finish(self: Box<Self>) -> Counters {
        to_counters(self.0.stop())
    }
}

fn metric(r: Reading) -> Metric {
    match r {
        Reading::Value(v) => Metric::Value(v),
        Reading::Unsupported(reason) => Metric::Unsupported(reason),
    }
}

/// copybench-perf's reading in the results' terms (the two are one-to-one by design).
pub fn to_counters(v: CounterValues) -> Counters {
    Counters {
        cycles: metric(v.cycles),
        instructions: metric(v.instructions),
        llc_misses: metric(v.llc_misses),
        llc_event: v.llc_event,
        context_switches: metric(v.context_switches),
        cpu_migrations: metric(v.cpu_migrations),
        page_faults: metric(v.page_faults),
        task_clock_ns: metric(v.task_clock_ns),
        time_enabled_ns: v.time_enabled_ns,
        time_running_ns: v.time_running_ns,
    }
}

/// System-wide and per-CPU CPU time over the measured interval, and the machine's context
/// switches when they are counted.
struct ProcStatProbe {
    before: Option<CpuTimes>,
    per_cpu_before: Option<Vec<(usize, CpuTimes)>>,
    /// The count at the start and where the difference goes.
    switches: Option<(Option<u64>, SwitchesOut)>,
}

/// Where a probe leaves the machine's context switches over its interval.
type SwitchesOut = Arc<Mutex<Option<u64>>>;

impl IntervalProbe for ProcStatProbe {
    fn finish(self: Box<Self>) -> Option<SystemCpu> {
        if let Some((before, out)) = &self.switches {
            let since = before
                .zip(context_switches())
                .map(|(a, b)| b.saturating_sub(a));
            *out.lock().unwrap_or_else(|e| e.into_inner()) = since;
        }
        let mut system = system_cpu_since(self.before)?;
        system.per_cpu = per_cpu_since(self.per_cpu_before);
        Some(system)
    }
}

/// `/proc/stat`'s `ctxt`: context switches on all CPUs since boot.
pub fn context_switches() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("ctxt "))
        .and_then(|v| v.trim().parse().ok())
}

/// Each CPU's time since `before` (the `cpuN` lines), in the results' terms; the engine
/// fills in each CPU's role from where the threads ran. `None` where either reading failed,
/// or the CPUs changed in between (one went offline).
pub fn per_cpu_since(before: Option<Vec<(usize, CpuTimes)>>) -> Option<Vec<CpuTime>> {
    let before = before?;
    let after = CpuTimes::read_per_cpu().ok()?;
    let cpus = |v: &[(usize, CpuTimes)]| v.iter().map(|(c, _)| *c).collect::<Vec<_>>();
    if cpus(&before) != cpus(&after) {
        return None;
    }
    Some(
        before
            .iter()
            .zip(&after)
            .map(|((cpu, b), (_, a))| {
                let d = b.delta(a);
                CpuTime {
                    cpu: *cpu,
                    user_ns: d.user_ns + d.nice_ns,
                    system_ns: d.system_ns,
                    softirq_ns: d.softirq_ns,
                    irq_ns: d.irq_ns,
                    idle_ns: d.idle_ns + d.iowait_ns,
                    steal_ns: d.steal_ns,
                    role: None,
                }
            })
            .collect(),
    )
}

/// System-wide CPU time since `before` (a `/proc/stat` reading), in the results' terms.
pub fn system_cpu_since(before: Option<CpuTimes>) -> Option<SystemCpu> {
    let d = before?.delta(&CpuTimes::read().ok()?);
    Some(SystemCpu {
        user_ns: d.user_ns + d.nice_ns,
        system_ns: d.system_ns,
        softirq_ns: d.softirq_ns,
        irq_ns: d.irq_ns,
        idle_ns: d.idle_ns + d.iowait_ns,
        steal_ns: Some(d.steal_ns),
        per_cpu: None,
    })
}
