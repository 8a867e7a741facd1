//! copybench-perf: what a thread costs the CPU.
//!
//! This crate's one job is to measure CPU cost over a measured interval: per-thread perf
//! counter groups (perf-event2) opened on the thread being measured, and system-wide CPU time
//! from `/proc/stat`. Every counter is reported as a value or as unsupported with a reason a
//! human can act on; a 0 never stands in for "not measured".
//!
//! ```no_run
//! use copybench_perf::{CpuTimes, ThreadCounters};
//!
//! let system_before = CpuTimes::read()?;
//! let mut counters = ThreadCounters::open(); // on the thread to be measured
//! counters.start();
//! // ... the measured work, on this thread ...
//! let values = counters.stop();
//! let system = system_before.delta(&CpuTimes::read()?);
//! println!("{values:?} {system:?}");
//! # Ok::<(), copybench_perf::PerfError>(())
//! ```
//!
//! Hardware events (cycles, instructions, LLC read misses, falling back to generic cache misses)
//! form one group and software events (task clock, context switches, CPU migrations, page
//! faults) another, so a PMU that multiplexes the hardware group never stalls the software
//! counts. Values are scaled by `time_enabled / time_running`. The types map one-to-one onto
//! `copybench_core::result::{Counters, Metric}`; this crate does not depend on core.
//!
//! Per-thread counters do not see softirq work done on behalf of a connection on other CPUs;
//! [`CpuTimes`] is there to catch that system-wide.

mod accounting;
mod counters;
mod cputimes;
mod error;
mod reading;
mod reason;

pub use counters::{
    availability, pmu_present, Availability, CounterValues, EventKind, KeepWarm, ThreadCounters,
    CACHE_MISSES, LLC_NONE, LLC_READ_MISSES, NEVER_STARTED, NOT_REQUESTED,
};
pub use cputimes::{ns_per_tick, CpuTimes};
pub use error::{AccountingError, PerfError, Unavailable};
pub use reading::{scale_for_multiplexing, Reading, NEVER_SCHEDULED};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testwork;
