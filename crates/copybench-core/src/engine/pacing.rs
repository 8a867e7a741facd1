//! Paced senders (`--rate`): every connection sends at most a target rate of payload, so that
//! strategies are compared by what they cost at the same load rather than by how fast they go.
//!
//! The pacing is done in user space, by sleeping: a token bucket whose clock is read once per
//! batch of about [`PACING_BATCH`] worth of payload (one read per message only where one
//! message is longer than that), never once per message, and which sleeps
//! (`std::thread::sleep`, `nanosleep` on Linux) until the batch is due. No CPU is spent
//! waiting: a paced thread's CPU time is its sends, its strategy's bookkeeping, and the
//! clock reads.
//!
//! Kernel pacing (`SO_MAX_PACING_RATE`) is not used: it caps the bytes of the wire, headers
//! included, per socket (TCP's internal pacing, or the `fq` qdisc), so a payload rate would
//! have to be converted with a per-path header share (52 bytes of IPv4 + TCP with timestamps
//! per MSS-sized segment: 3.5% at MTU 1500, 0.08% over loopback's 64 KiB), it does not pace
//! UDP without `fq` on the device, and the sender then blocks inside `send` (where the
//! strategies differ) instead of between messages. The same user-space pacing applies to every
//! strategy and both protocols alike; each point records it as `pacing.method` =
//! [`PacingMethod::UserSleep`].
//!
//! Unpaced runs carry no pacer at all: their send loop keeps its one relaxed atomic load per
//! message and no clock read outside the latency samples.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Mode, ParamsError};

/// The pacer reads the clock (and sleeps, if early) once per this much payload time.
pub const PACING_BATCH: Duration = Duration::from_millis(1);

/// Most payload time a paced sender may catch up at full speed after falling behind (a
/// blocked send, a preemption, a late wake-up): the bucket's depth. Anything older is
/// forgotten, so a stall is not followed by a long burst. 20 ms: a sender woken late on a
/// loaded machine (run-queue waits of several ms were seen with 2 CPUs and load 8) still
/// holds its average; with 5 ms, 64 KiB senders paced at 200 Mbit/s reached 180-188.
pub const MAX_BURST: Duration = Duration::from_millis(20);

/// A paced connection that reached less than this share of its target rate did not reach it.
pub const REACHED_SHARE: f64 = 0.95;

/// Longest single sleep: a paced sender looks at the phase at least this often, so that it
/// notices the end of the measured interval in time even at very low rates.
const MAX_SLEEP: Duration = Duration::from_millis(5);

/// How a point's senders were paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PacingMethod {
    /// A token bucket in the send loop that sleeps until each batch is due (see the module
    /// documentation).
    UserSleep,
    /// A peer of `copybench peers` paced by its own option: `iperf3 -b`, `iperf -b`,
    /// `nuttcp -R`, `sockperf --mps` (the message rate that gives the target at the size).
    PeerOption,
}

impl PacingMethod {
    /// The name used in results.
    pub fn name(self) -> &'static str {
        match self {
            PacingMethod::UserSleep => "user-sleep",
            PacingMethod::PeerOption => "peer-option",
        }
    }
}

/// A token bucket for one sender thread.
#[derive(Debug)]
pub(crate) struct Pacer {
    bytes_per_s: f64,
    /// Payload bytes after which the clock is read.
    batch_bytes: u64,
    /// Bytes sent since the clock was last read.
    pending: u64,
    /// When everything sent before `pending` is due (`None`: not started).
    due: Option<Instant>,
    /// Time spent sleeping since the measured interval began.
    slept: Duration,
}

impl Pacer {
    /// A pacer for `bits_per_s` of payload (at least 1).
    pub(crate) fn new(bits_per_s: u64) -> Pacer {
        let bytes_per_s = bits_per_s.max(1) as f64 / 8.0;
        Pacer {
            bytes_per_s,
            batch_bytes: ((bytes_per_s * PACING_BATCH.as_secs_f64()) as u64).max(1),
            pending: 0,
            due: None,
            slept: Duration::ZERO,
        }
    }

    /// The measured interval begins: sleeps count from here.
    pub(crate) fn begin_measure(&mut self) {
        self.slept = Duration::ZERO;
    }

    /// Seconds slept since [`Pacer::begin_measure`].
    pub(crate) fn slept(&self) -> Duration {
        self.slept
    }

    /// Counts `bytes` just sent. Once a batch is complete, reads the clock and sleeps until
    /// the batch is due, waking at least every [`MAX_SLEEP`] to ask `stop` whether to give up
    /// the wait (the phase changed). Returns the clock reading after the wait when it read
    /// the clock (the loop's stretches between clock reads start there), `None` otherwise.
    #[inline]
    pub(crate) fn sent(&mut self, bytes: u64, stop: impl Fn() -> bool) -> Option<Instant> {
        self.pending += bytes;
        if self.pending < self.batch_bytes {
            return None;
        }
        let owed = Duration::from_secs_f64(self.pending as f64 / self.bytes_per_s);
        self.pending = 0;
        let mut now = Instant::now();
        let due = match self.due {
            // The first batch starts the schedule: it is due its own length after now.
            None => now + owed,
            // Behind by more than the bucket's depth: forget the older debt.
            Some(d) => (d + owed).max(now.checked_sub(MAX_BURST).unwrap_or(now)),
        };
        self.due = Some(due);
        while now < due {
            std::thread::sleep((due - now).min(MAX_SLEEP));
            let woke = Instant::now();
            self.slept += woke - now;
            now = woke;
            if stop() {
                break;
            }
        }
        Some(now)
    }
}

/// Checks a `--rate` for a point in `mode`: at least 1 bit per second, stream mode only (an
/// rr message waits for its reply: its rate is the round trip's).
pub(crate) fn validate_rate(rate_bps: u64, mode: Mode) -> Result<(), ParamsError> {
    if rate_bps == 0 {
        return Err(ParamsError::new(
            "rate_bps",
            "a rate must be at least 1 bit per second: give --rate 500m or 2g, or leave it out",
        ));
    }
    if mode == Mode::Rr {
        return Err(ParamsError::new(
            "rate_bps",
            "--rate paces stream senders; in --mode rr each message waits for its reply, so \
             leave --rate out",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `bytes` per call at `rate` for `wall`, returns the rate reached (bit/s).
    fn paced(rate: u64, bytes: u64, wall: Duration) -> f64 {
        let mut p = Pacer::new(rate);
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < wall {
            p.sent(bytes, || false);
            sent += bytes;
        }
        sent as f64 * 8.0 / start.elapsed().as_secs_f64()
    }

    #[test]
    fn the_bucket_holds_the_rate_without_a_socket() {
        // The pacer alone (no socket, no kernel): 80 Mbit/s in 4 KiB and 64 KiB steps. Never
        // above the rate; below it only when its sleeps woke late, which a loaded machine (2
        // vCPUs, several builds) does now and then: up to three tries to land within 10%.
        for bytes in [4096, 65536] {
            let mut tries = Vec::new();
            for _ in 0..3 {
                let got = paced(80_000_000, bytes, Duration::from_millis(200));
                assert!(got <= 8.4e7, "{bytes} B steps: {got} bit/s, above the rate");
                tries.push(got);
                if got >= 7.2e7 {
                    break;
                }
            }
            assert!(
                tries.iter().any(|&got| got >= 7.2e7),
                "{bytes} B steps: {tries:?} bit/s, short of the rate in every try"
            );
        }
    }

    #[test]
    fn a_phase_change_ends_a_long_wait() {
        // 8 bit/s and a 64 KiB message: due in hours; `stop` ends the wait at once.
        let mut p = Pacer::new(8);
        let t0 = Instant::now();
        let woke = p.sent(65536, || true);
        assert!(woke.is_some());
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );
    }
}
