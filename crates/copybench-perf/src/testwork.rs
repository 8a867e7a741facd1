//! Known amounts of work for the tests (real work, measured by the real kernel).

use std::hint::black_box;
use std::time::Duration;

use rustix::time::{clock_gettime, ClockId};

/// This thread's CPU time so far.
pub fn thread_cpu_time() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Spins until this thread has used `cpu` of CPU time (not wall time: the machine is shared,
/// so wall time would under-deliver CPU when other processes compete).
pub fn spin_cpu(cpu: Duration) {
    let start = thread_cpu_time();
    let mut x = 1u64;
    while thread_cpu_time() - start < cpu {
        for i in 0..1000u64 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    black_box(x);
}

/// Writes one byte to each page of `pages` freshly mapped pages: each write faults.
pub fn touch_fresh_pages(pages: usize) -> usize {
    let mut v: Vec<u8> = vec![0; pages * 4096];
    for i in (0..v.len()).step_by(4096) {
        v[i] = 1;
    }
    black_box(&v);
    v.iter().step_by(4096).map(|&b| b as usize).sum()
}
