//! Per-thread perf counter groups: open on the calling thread, start, stop and read.

use crate::accounting::{delta, Snapshot};
use std::hint::black_box;
use std::marker::PhantomData;

use perf_event::events::{Cache, CacheId, CacheOp, CacheResult, Hardware, Software};
use perf_event::{Builder, Counter, GroupData, ReadFormat};
use serde::{Deserialize, Serialize};

use crate::error::GroupFailure;
use crate::reading::{scale_for_multiplexing, Reading};
use crate::reason::{self, OpenContext};
use crate::Unavailable;

/// The events this crate counts. `LlcMisses` is the last-level cache read-miss event;
/// `CacheMisses` is the generic hardware cache-miss event, used only where `LlcMisses` does
/// not open (both fill [`CounterValues::llc_misses`], and `llc_event` says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Cycles,
    Instructions,
    LlcMisses,
    CacheMisses,
    ContextSwitches,
    CpuMigrations,
    PageFaults,
    TaskClock,
}

impl EventKind {
    /// Every event, in the order [`ThreadCounters::open`] uses.
    pub const ALL: [EventKind; 8] = [
        EventKind::Cycles,
        EventKind::Instructions,
        EventKind::LlcMisses,
        EventKind::CacheMisses,
        EventKind::ContextSwitches,
        EventKind::CpuMigrations,
        EventKind::PageFaults,
        EventKind::TaskClock,
    ];

    /// The `perf` tool's name for the event (`llc-read-misses` for the LLC read-miss event).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Cycles => "cycles",
            EventKind::Instructions => "instructions",
            EventKind::LlcMisses => LLC_READ_MISSES,
            EventKind::CacheMisses => CACHE_MISSES,
            EventKind::ContextSwitches => "context-switches",
            EventKind::CpuMigrations => "cpu-migrations",
            EventKind::PageFaults => "page-faults",
            EventKind::TaskClock => "task-clock",
        }
    }

    /// Where [`ThreadCounters::open`] (what copybench measures with) takes this figure from:
    /// hardware events from a perf event group, software figures from the kernel's own
    /// per-thread accounting read at the interval's two ends (not perf software events).
    pub fn source(self) -> &'static str {
        match self {
            EventKind::Cycles | EventKind::Instructions => "perf event (hardware PMU)",
            EventKind::LlcMisses | EventKind::CacheMisses => {
                "perf event (hardware PMU; cache-misses stands in when llc-read-misses is absent)"
            }
            EventKind::ContextSwitches => {
                "kernel accounting: voluntary_ctxt_switches + nonvoluntary_ctxt_switches of \
                 /proc/thread-self/status, not a perf event"
            }
            EventKind::CpuMigrations => {
                "kernel accounting: se.nr_migrations of /proc/thread-self/sched \
                 (CONFIG_SCHED_DEBUG), not a perf event"
            }
            EventKind::PageFaults => {
                "kernel accounting: minflt + majflt of /proc/thread-self/stat, not a perf event"
            }
            EventKind::TaskClock => {
                "kernel accounting: clock_gettime(CLOCK_THREAD_CPUTIME_ID), not a perf event"
            }
        }
    }

    /// Counted by the CPU's PMU (as opposed to by the kernel in software).
    pub fn is_hardware(self) -> bool {
        matches!(
            self,
            EventKind::Cycles
                | EventKind::Instructions
                | EventKind::LlcMisses
                | EventKind::CacheMisses
        )
    }

    fn field(self) -> Field {
        match self {
            EventKind::Cycles => Field::Cycles,
            EventKind::Instructions => Field::Instructions,
            EventKind::LlcMisses | EventKind::CacheMisses => Field::Llc,
            EventKind::ContextSwitches => Field::ContextSwitches,
            EventKind::CpuMigrations => Field::CpuMigrations,
            EventKind::PageFaults => Field::PageFaults,
            EventKind::TaskClock => Field::TaskClock,
        }
    }
}

/// `llc_event` values.
pub const LLC_READ_MISSES: &str = "llc-read-misses";
pub const CACHE_MISSES: &str = "cache-misses";
pub const LLC_NONE: &str = "none";

/// Reason for a counter that was not among the selected events.
pub const NOT_REQUESTED: &str = "not requested (counter not opened)";
/// Reason for counters read without [`ThreadCounters::start`].
pub const NEVER_STARTED: &str =
    "counters were never started: call ThreadCounters::start() before stop()";

/// One thread's counters over one measured interval.
///
/// Maps one-to-one onto `copybench_core::result::Counters` (`Reading` onto `Metric`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterValues {
    pub cycles: Reading,
    pub instructions: Reading,
    pub llc_misses: Reading,
    /// What stands behind `llc_misses`: `llc-read-misses`, `cache-misses` (the generic event,
    /// used where the LLC event is absent) or `none`.
    pub llc_event: String,
    pub context_switches: Reading,
    pub cpu_migrations: Reading,
    pub page_faults: Reading,
    /// Thread CPU time in ns.
    pub task_clock_ns: Reading,
    /// Of the hardware group if it opened, else of the software group (0 if neither did).
    /// `running < enabled` means the kernel multiplexed the group and its values were scaled.
    pub time_enabled_ns: u64,
    pub time_running_ns: u64,
}

impl CounterValues {
    /// Every counter unsupported for the same reason (e.g. counters switched off).
    pub fn unsupported(reason: &str) -> CounterValues {
        let r = || Reading::Unsupported(reason.to_string());
        CounterValues {
            cycles: r(),
            instructions: r(),
            llc_misses: r(),
            llc_event: LLC_NONE.to_string(),
            context_switches: r(),
            cpu_migrations: r(),
            page_faults: r(),
            task_clock_ns: r(),
            time_enabled_ns: 0,
            time_running_ns: 0,
        }
    }
}

/// The output slots of [`CounterValues`] (LLC and generic cache misses share one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Cycles,
    Instructions,
    Llc,
    ContextSwitches,
    CpuMigrations,
    PageFaults,
    TaskClock,
}

const FIELDS: usize = 7;

impl Field {
    fn index(self) -> usize {
        self as usize
    }
}

/// One opened group; `members[0]` is its leader.
struct CounterGroup {
    members: Vec<(Field, Counter)>,
    /// A failed reset/enable/disable: every member then reads as unsupported with this.
    error: Option<GroupFailure>,
}

impl CounterGroup {
    fn leader(&mut self) -> &mut Counter {
        &mut self.members[0].1
    }

    fn control(&mut self, what: &'static str, op: fn(&mut Counter) -> std::io::Result<()>) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = op(self.leader()) {
            self.error = Some(reason::io_failure(what, &e));
        }
    }

    /// Reads the group, writing each member's scaled value into `out`; returns the group's
    /// (time_enabled, time_running).
    fn read_into(&mut self, out: &mut [Option<Reading>; FIELDS]) -> (u64, u64) {
        let data: Result<GroupData, GroupFailure> = match &self.error {
            Some(e) => Err(e.clone()),
            None => self
                .leader()
                .read_group()
                .map_err(|e| reason::io_failure("reading the counter group", &e)),
        };
        let data = match data {
            Ok(d) => d,
            Err(why) => {
                for (field, _) in &self.members {
                    out[field.index()] = Some(Reading::Unsupported(why.to_string()));
                }
                return (0, 0);
            }
        };
        let ns = |d: Option<std::time::Duration>| {
            d.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        };
        let (enabled, running) = (ns(data.time_enabled()), ns(data.time_running()));
        for (field, counter) in &self.members {
            let reading = match data.get(counter) {
                Some(entry) => scale_for_multiplexing(entry.value(), enabled, running),
                None => Reading::Unsupported(
                    "the kernel returned no value for this counter in its group".to_string(),
                ),
            };
            out[field.index()] = Some(reading);
        }
        (enabled, running)
    }
}

/// Settings every counter shares: this thread only (pid 0), any CPU, kernel work included
/// (or context switches read 0 and the kernel's copies are missed), created disabled, read as
/// a group with enabled/running times.
fn configure(b: &mut Builder<'_>) {
    b.observe_self()
        .any_cpu()
        .include_kernel()
        .exclude_hv(true)
        .inherit(false)
        .enabled(false)
        .read_format(
            ReadFormat::GROUP
                | ReadFormat::ID
                | ReadFormat::TOTAL_TIME_ENABLED
                | ReadFormat::TOTAL_TIME_RUNNING,
        );
}

/// The builder for one event with the shared settings.
pub(crate) fn builder_for(kind: EventKind) -> Builder<'static> {
    let mut b = match kind {
        EventKind::Cycles => Builder::new(Hardware::CPU_CYCLES),
        EventKind::Instructions => Builder::new(Hardware::INSTRUCTIONS),
        EventKind::LlcMisses => Builder::new(Cache {
            which: CacheId::LL,
            operation: CacheOp::READ,
            result: CacheResult::MISS,
        }),
        EventKind::CacheMisses => Builder::new(Hardware::CACHE_MISSES),
        EventKind::ContextSwitches => Builder::new(Software::CONTEXT_SWITCHES),
        EventKind::CpuMigrations => Builder::new(Software::CPU_MIGRATIONS),
        EventKind::PageFaults => Builder::new(Software::PAGE_FAULTS),
        EventKind::TaskClock => Builder::new(Software::TASK_CLOCK),
    };
    configure(&mut b);
    b
}

fn context(b: &Builder<'_>, pmu_known_present: bool) -> OpenContext {
    OpenContext {
        attr_type: b.attrs().type_,
        config: b.attrs().config,
        pmu_known_present,
    }
}

/// What opening one group produced.
struct GroupOpen {
    group: Option<CounterGroup>,
    failed: Vec<(Field, String)>,
    opened: Vec<EventKind>,
}

/// Opens one group. Each slot is an output field with its candidate events, tried in order.
/// The first event that opens leads the group; if the first slot cannot open at all, no
/// group exists and every slot is unsupported with the leader's reason.
fn open_group(
    slots: &[(Field, Vec<EventKind>)],
    make: &dyn Fn(EventKind) -> Builder<'static>,
) -> GroupOpen {
    let mut out = GroupOpen {
        group: None,
        failed: Vec::new(),
        opened: Vec::new(),
    };
    for (field, candidates) in slots {
        let mut reasons = Vec::new();
        for &kind in candidates {
            let b = make(kind);
            let result = match &mut out.group {
                None => b.build(),
                Some(g) => b.build_with_group(g.leader()),
            };
            match result {
                Ok(counter) => {
                    match &mut out.group {
                        None => {
                            out.group = Some(CounterGroup {
                                members: vec![(*field, counter)],
                                error: None,
                            })
                        }
                        Some(g) => g.members.push((*field, counter)),
                    }
                    out.opened.push(kind);
                    reasons.clear();
                    break;
                }
                Err(e) => {
                    // A member failing means the PMU exists but lacks this event; a leader
                    // other than cycles failing is checked against a plain cycles counter.
                    let pmu = kind.is_hardware()
                        && (out.group.is_some() || (kind != EventKind::Cycles && pmu_present()));
                    reasons.push((kind, reason::open_failure(&e, context(&b, pmu))));
                }
            }
        }
        if reasons.is_empty() {
            continue;
        }
        let why = if reasons.len() == 1 {
            reasons.remove(0).1
        } else {
            let parts: Vec<String> = reasons
                .iter()
                .map(|(k, r)| format!("{}: {r}", k.name()))
                .collect();
            parts.join("; ")
        };
        if out.group.is_none() {
            // The would-be leader failed: nothing else in this group can open.
            let leader = candidates
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join("/");
            out.failed.push((*field, why.clone()));
            for (other, _) in slots.iter().skip(1) {
                out.failed.push((
                    *other,
                    format!("the group leader ({leader}) could not open: {why}"),
                ));
            }
            return out;
        }
        out.failed.push((*field, why));
    }
    out
}

/// Per-thread counters for one measured interval.
///
/// Opened on, and bound to, the thread that calls [`ThreadCounters::open`]: it counts that
/// thread only (not its siblings, not children). It is deliberately not `Send`.
///
/// ```compile_fail
/// fn needs_send<T: Send>() {}
/// needs_send::<copybench_perf::ThreadCounters>();
/// ```
pub struct ThreadCounters {
    hardware: Option<CounterGroup>,
    software: Option<CounterGroup>,
    /// Reasons for the slots that did not open.
    failed: Vec<(Field, String)>,
    llc_event: &'static str,
    started: bool,
    /// Software figures from the kernel's per-thread accounting instead of perf events
    /// (see [`crate::accounting`]); holds the reading taken at `start`.
    accounting: Option<Option<Snapshot>>,
    /// `*const ()` is neither `Send` nor `Sync`.
    _bound_to_thread: PhantomData<*const ()>,
}

impl std::fmt::Debug for ThreadCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |g: &Option<CounterGroup>| g.as_ref().map_or(0, |g| g.members.len());
        f.debug_struct("ThreadCounters")
            .field("hardware_counters", &n(&self.hardware))
            .field("software_counters", &n(&self.software))
            .field("failed", &self.failed)
            .field("llc_event", &self.llc_event)
            .field("started", &self.started)
            .finish()
    }
}

impl ThreadCounters {
    /// Opens every counter for the calling thread, at the least cost to the measured work:
    /// hardware events (cycles, instructions, LLC misses) as a perf group, disabled; the
    /// software figures (task clock, context switches, page faults, CPU migrations) from the
    /// kernel's own per-thread accounting, read at `start` and `stop` only, because perf
    /// software events cost every context switch (see [`crate::accounting`]). Never fails as a
    /// whole: each figure that cannot be had reads as `Unsupported` with the reason.
    pub fn open() -> ThreadCounters {
        let mut counters = Self::open_selected(&[
            EventKind::Cycles,
            EventKind::Instructions,
            EventKind::LlcMisses,
            EventKind::CacheMisses,
        ]);
        counters.accounting = Some(None);
        counters
    }

    /// Every counter as a perf event, software ones included (the cost is per context switch).
    pub fn open_all_perf() -> ThreadCounters {
        Self::open_selected(&EventKind::ALL)
    }

    /// Opens only `events` (others read as `Unsupported("not requested ...")`).
    /// `LlcMisses` and `CacheMisses` together mean: the LLC event, else the generic one.
    pub fn open_selected(events: &[EventKind]) -> ThreadCounters {
        Self::open_with(events, &builder_for)
    }

    /// As [`open_selected`](Self::open_selected), building each event with `make`.
    pub(crate) fn open_with(
        events: &[EventKind],
        make: &dyn Fn(EventKind) -> Builder<'static>,
    ) -> ThreadCounters {
        let want = |k: EventKind| events.contains(&k);
        let mut hw_slots: Vec<(Field, Vec<EventKind>)> = Vec::new();
        for k in [EventKind::Cycles, EventKind::Instructions] {
            if want(k) {
                hw_slots.push((k.field(), vec![k]));
            }
        }
        let llc: Vec<EventKind> = [EventKind::LlcMisses, EventKind::CacheMisses]
            .into_iter()
            .filter(|&k| want(k))
            .collect();
        if !llc.is_empty() {
            hw_slots.push((Field::Llc, llc));
        }
        let sw_slots: Vec<(Field, Vec<EventKind>)> = [
            EventKind::TaskClock,
            EventKind::ContextSwitches,
            EventKind::CpuMigrations,
            EventKind::PageFaults,
        ]
        .into_iter()
        .filter(|&k| want(k))
        .map(|k| (k.field(), vec![k]))
        .collect();

        let hw = open_group(&hw_slots, make);
        let sw = open_group(&sw_slots, make);
        let llc_event = if hw.opened.contains(&EventKind::LlcMisses) {
            LLC_READ_MISSES
        } else if hw.opened.contains(&EventKind::CacheMisses) {
            CACHE_MISSES
        } else {
            LLC_NONE
        };
        let mut failed = hw.failed;
        failed.extend(sw.failed);
        ThreadCounters {
            hardware: hw.group,
            software: sw.group,
            failed,
            llc_event,
            started: false,
            accounting: None,
            _bound_to_thread: PhantomData,
        }
    }

    /// Which event stands behind `llc_misses` (`llc-read-misses`, `cache-misses`, `none`).
    pub fn llc_event(&self) -> &'static str {
        self.llc_event
    }

    /// Resets and enables the counters: the measured interval begins.
    pub fn start(&mut self) {
        for g in [&mut self.hardware, &mut self.software]
            .into_iter()
            .flatten()
        {
            g.control("resetting the counter group", Counter::reset_group);
        }
        for g in [&mut self.software, &mut self.hardware]
            .into_iter()
            .flatten()
        {
            g.control("enabling the counter group", Counter::enable_group);
        }
        if let Some(at_start) = &mut self.accounting {
            *at_start = Some(Snapshot::take());
        }
        self.started = true;
    }

    /// Disables and reads the counters, scaled for multiplexing: the interval ends.
    pub fn stop(mut self) -> CounterValues {
        for g in [&mut self.hardware, &mut self.software]
            .into_iter()
            .flatten()
        {
            g.control("disabling the counter group", Counter::disable_group);
        }
        let mut out: [Option<Reading>; FIELDS] = Default::default();
        let mut times = None;
        for g in [&mut self.hardware, &mut self.software]
            .into_iter()
            .flatten()
        {
            if !self.started {
                for (field, _) in &g.members {
                    out[field.index()] = Some(Reading::Unsupported(NEVER_STARTED.to_string()));
                }
                times.get_or_insert((0, 0));
                continue;
            }
            let t = g.read_into(&mut out);
            times.get_or_insert(t);
        }
        for (field, why) in &self.failed {
            out[field.index()] = Some(Reading::Unsupported(why.clone()));
        }
        if let Some(at_start) = &self.accounting {
            let end = Snapshot::take();
            let (fields, wall_ns) = match at_start {
                Some(a) => (
                    [
                        (Field::TaskClock, delta(&a.cpu_ns, &end.cpu_ns)),
                        (
                            Field::ContextSwitches,
                            delta(&a.context_switches, &end.context_switches),
                        ),
                        (Field::PageFaults, delta(&a.page_faults, &end.page_faults)),
                        (
                            Field::CpuMigrations,
                            delta(&a.cpu_migrations, &end.cpu_migrations),
                        ),
                    ],
                    (end.wall - a.wall).as_nanos() as u64,
                ),
                None => {
                    let never = || Reading::Unsupported(NEVER_STARTED.to_string());
                    (
                        [
                            (Field::TaskClock, never()),
                            (Field::ContextSwitches, never()),
                            (Field::PageFaults, never()),
                            (Field::CpuMigrations, never()),
                        ],
                        0,
                    )
                }
            };
            for (field, reading) in fields {
                out[field.index()] = Some(reading);
            }
            // Kernel accounting is never multiplexed: counted the whole interval.
            times.get_or_insert((wall_ns, wall_ns));
        }
        let mut take = |f: Field| {
            out[f.index()]
                .take()
                .unwrap_or_else(|| Reading::Unsupported(NOT_REQUESTED.to_string()))
        };
        let (time_enabled_ns, time_running_ns) = times.unwrap_or((0, 0));
        CounterValues {
            cycles: take(Field::Cycles),
            instructions: take(Field::Instructions),
            llc_misses: take(Field::Llc),
            llc_event: self.llc_event.to_string(),
            context_switches: take(Field::ContextSwitches),
            cpu_migrations: take(Field::CpuMigrations),
            page_faults: take(Field::PageFaults),
            task_clock_ns: take(Field::TaskClock),
            time_enabled_ns,
            time_running_ns,
        }
    }
}

/// Whether one event can be opened on this machine, and why not where not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    /// The event's name ([`EventKind::name`]).
    pub event: &'static str,
    /// Where the figure comes from ([`EventKind::source`]).
    pub source: &'static str,
    pub result: Result<(), Unavailable>,
}

/// Whether each figure [`ThreadCounters::open`] reports can be measured here, tried on the
/// calling thread the way it is measured: hardware events by opening them as perf events,
/// software figures by reading the kernel's per-thread accounting they come from. For
/// `copybench doctor` and the host facts of a result.
pub fn availability() -> Vec<Availability> {
    let mut pmu = false;
    let snapshot = Snapshot::take();
    EventKind::ALL
        .iter()
        .map(|&kind| {
            let b = builder_for(kind);
            let result = match kind {
                EventKind::TaskClock => snapshot.cpu_ns.clone().map(drop).map_err(Into::into),
                EventKind::ContextSwitches => snapshot
                    .context_switches
                    .clone()
                    .map(drop)
                    .map_err(Into::into),
                EventKind::CpuMigrations => snapshot
                    .cpu_migrations
                    .clone()
                    .map(drop)
                    .map_err(Into::into),
                EventKind::PageFaults => snapshot.page_faults.clone().map(drop).map_err(Into::into),
                _ => match b.build() {
                    Ok(_) => Ok(()),
                    Err(e) => Err(Unavailable::Open(reason::open_failure(
                        &e,
                        context(&b, pmu && kind.is_hardware()),
                    ))),
                },
            };
            if kind == EventKind::Cycles {
                pmu = result.is_ok();
            }
            Availability {
                event: kind.name(),
                source: kind.source(),
                result,
            }
        })
        .collect()
}

/// Whether a hardware PMU is usable here: a user-space cycles counter on this thread opens
/// and counts something over a short loop.
pub fn pmu_present() -> bool {
    let mut b = Builder::new(Hardware::CPU_CYCLES);
    b.observe_self().any_cpu().enabled(false);
    let Ok(mut counter) = b.build() else {
        return false;
    };
    if counter.enable().is_err() {
        return false;
    }
    let mut x = 0u64;
    for i in 0..100_000u64 {
        x = black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    black_box(x);
    if counter.disable().is_err() {
        return false;
    }
    match counter.read_count_and_time() {
        Ok(c) => c.count > 0 && c.time_running > 0,
        Err(_) => false,
    }
}

/// Keeps the kernel's software-event hooks switched on while it lives.
///
/// The first open of a context-switch, CPU-migration or page-fault counter anywhere on the
/// machine switches the kernel's hook on by patching kernel code (a static key: IPIs to every
/// CPU), and the last close patches it back: about 100 us per counter each way on this VM,
/// ~0.4 ms for an [`ThreadCounters::open`] + `stop` + drop. While one such counter stays open
/// the others cost ~1 us. Hold one `KeepWarm` for the whole run (it is `Send + Sync`, so it can
/// live in the engine's hooks) and per-thread counters become cheap, and no longer disturb
/// other threads' measured intervals with code patching. Its counters stay disabled.
pub struct KeepWarm {
    _counters: Vec<Counter>,
}

impl std::fmt::Debug for KeepWarm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeepWarm")
            .field("counters", &self._counters.len())
            .finish()
    }
}

impl KeepWarm {
    /// Opens one disabled counter of each software event on the calling thread (those that
    /// open; the rest are simply not kept warm).
    pub fn new() -> KeepWarm {
        let counters = [
            EventKind::ContextSwitches,
            EventKind::CpuMigrations,
            EventKind::PageFaults,
            EventKind::TaskClock,
        ]
        .into_iter()
        .filter_map(|k| builder_for(k).build().ok())
        .collect();
        KeepWarm {
            _counters: counters,
        }
    }

    /// How many events are kept warm (0 if none could open).
    pub fn len(&self) -> usize {
        self._counters.len()
    }

    /// Whether nothing could be kept warm.
    pub fn is_empty(&self) -> bool {
        self._counters.is_empty()
    }
}

impl Default for KeepWarm {
    fn default() -> Self {
        KeepWarm::new()
    }
}
