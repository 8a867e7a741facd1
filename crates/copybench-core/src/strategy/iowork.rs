//! CPU time of io_uring's kernel worker threads, which a thread's own clock does not include.
//!
//! io_uring may hand a request to a kernel worker (`iou-wrk-<tid>`, one io-wq per submitting
//! thread, named after that thread's id) or, with `IORING_SETUP_SQPOLL`, to a polling thread
//! (`iou-sqp-<tid>`). Both are threads of this process, so they are listed under
//! `/proc/self/task`, but their CPU time is not in the submitting thread's task clock: a sender
//! whose work was punted there would look cheaper than it is. [`IoWorkerCpu::sample`] reads the
//! CPU time of the workers serving one thread; two samples give the time they spent between them.
//!
//! What it misses: a worker that exits between the two samples (io-wq workers leave after a few
//! idle seconds) takes its CPU time since the first sample with it; a worker that starts and
//! exits between them is never seen. Both undercount, never overcount. copybench's strategies
//! keep one request in flight and io_uring completes socket sends inline or through poll
//! (task work on the sender thread itself), so workers are rare; this measures whether they ran.

use std::fs;

/// The CPU time of the io_uring workers serving one submitting thread, at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoWorkerCpu {
    /// `(worker thread id, CPU nanoseconds so far)`.
    per_worker: Vec<(i32, u64)>,
}

/// The kernel keeps 15 bytes of a thread name (`TASK_COMM_LEN` is 16 with the NUL).
const COMM_LEN: usize = 15;

/// `/proc/<pid>/stat` counts in `USER_HZ` ticks, which Linux fixes at 100 per second for every
/// user-visible interface.
const NS_PER_TICK: u64 = 10_000_000;

impl IoWorkerCpu {
    /// Reads the CPU time of every `iou-wrk-<owner>` and `iou-sqp-<owner>` thread of this
    /// process, where `owner` is the kernel thread id of the thread that submits to the ring.
    /// Threads that vanish while being read are skipped (see the module docs).
    pub fn sample(owner: i32) -> IoWorkerCpu {
        let names = [format!("iou-wrk-{owner}"), format!("iou-sqp-{owner}")];
        let names: Vec<&str> = names.iter().map(|n| &n[..n.len().min(COMM_LEN)]).collect();
        let mut per_worker = Vec::new();
        let Ok(tasks) = fs::read_dir("/proc/self/task") else {
            return IoWorkerCpu { per_worker };
        };
        for task in tasks.flatten() {
            let Some(tid) = task
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(comm) = fs::read_to_string(task.path().join("comm")) else {
                continue;
            };
            if !names.contains(&comm.trim_end_matches('\n')) {
                continue;
            }
            if let Some(ns) = thread_cpu_ns(tid) {
                per_worker.push((tid, ns));
            }
        }
        per_worker.sort_unstable();
        IoWorkerCpu { per_worker }
    }

    /// How many workers this sample found.
    pub fn workers(&self) -> usize {
        self.per_worker.len()
    }

    /// CPU nanoseconds the workers spent since `earlier` (a sample for the same owner): each
    /// worker's growth, a worker first seen now counting in full (it started in between).
    pub fn ns_since(&self, earlier: &IoWorkerCpu) -> u64 {
        self.per_worker
            .iter()
            .map(|&(tid, now)| {
                let before = earlier
                    .per_worker
                    .binary_search_by_key(&tid, |&(t, _)| t)
                    .map_or(0, |i| earlier.per_worker[i].1);
                now.saturating_sub(before)
            })
            .sum()
    }
}

/// A thread's CPU time: `schedstat`'s run time (nanoseconds) where the kernel has it, else
/// `stat`'s utime + stime (10 ms ticks).
fn thread_cpu_ns(tid: i32) -> Option<u64> {
    if let Ok(s) = fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")) {
        if let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse().ok()) {
            return Some(ns);
        }
    }
    let stat = fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) * NS_PER_TICK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_counts_new_workers_in_full_and_ignores_gone_ones() {
        let before = IoWorkerCpu {
            per_worker: vec![(10, 100), (20, 500)],
        };
        let after = IoWorkerCpu {
            per_worker: vec![(10, 150), (30, 40)],
        };
        assert_eq!(after.ns_since(&before), 50 + 40);
        assert_eq!(before.ns_since(&before), 0);
    }

    #[test]
    fn this_thread_has_a_readable_cpu_time() {
        let tid = rustix::thread::gettid().as_raw_nonzero().get();
        assert!(thread_cpu_ns(tid).is_some());
        // No ring here: no workers, and sampling says so rather than failing.
        assert_eq!(IoWorkerCpu::sample(tid).workers(), 0);
    }
}
