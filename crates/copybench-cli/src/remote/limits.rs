//! What a `copybench server` lets one client ask for: a server left running on a network
//! must not be talked into 256 threads, gigabytes of buffers or an hour-long point.

use std::time::Duration;

use copybench_core::engine::PointParams;
use copybench_core::units::format_size;

/// Receive buffer of one receiver thread (the engine's stream-mode buffer), for the server's
/// own share of a point's memory.
const RECEIVE_BUFFER: usize = 256 << 10;

/// The server's limits (`copybench server --max-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections (thread pairs) per point.
    pub max_threads: usize,
    /// Bytes one point may allocate ([`point_memory`]).
    pub max_memory: usize,
    /// Warm-up plus measured time of one point.
    pub max_duration: Duration,
    /// Points per session (one client connection).
    pub max_points: usize,
}

/// Memory a point allocates: the senders' buffer pools (message size x pool x threads), or
/// the server's receivers (threads x (a message's pattern + the receive buffer)) when that
/// is more (a pool of one buffer).
pub fn point_memory(p: &PointParams) -> usize {
    let pools = p
        .msg_size
        .saturating_mul(p.pool_size())
        .saturating_mul(p.threads);
    let receivers = p
        .threads
        .saturating_mul(p.msg_size.saturating_add(RECEIVE_BUFFER));
    pools.max(receivers)
}

/// A point (or a session) beyond one of the server's limits; each names the limit and the
/// flag that raises it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{threads} threads is more than this server allows per point, {max} (copybench server --max-threads)")]
    Threads { threads: usize, max: usize },
    #[error(
        "{} x {pool} buffers (pool) x {threads} threads is {} of buffers, more than this server \
         allows per point, {} (copybench server --max-memory; or a smaller --pool, size or thread count)",
        format_size(*msg_size), format_size(*memory), format_size(*max)
    )]
    Memory {
        msg_size: usize,
        pool: usize,
        threads: usize,
        memory: usize,
        max: usize,
    },
    #[error(
        "warm-up + duration of {time:?} is longer than this server allows per point, {max:?} \
         (copybench server --max-duration)"
    )]
    Duration { time: Duration, max: Duration },
    #[error(
        "this session reached this server's limit of {max} points (copybench server --max-points); \
         split the sweep into several runs"
    )]
    Points { max: usize },
}

impl Limits {
    /// Checks one point; the refusal names the limit and the flag that raises it.
    pub fn check(&self, p: &PointParams) -> Result<(), LimitError> {
        if p.threads > self.max_threads {
            return Err(LimitError::Threads {
                threads: p.threads,
                max: self.max_threads,
            });
        }
        let memory = point_memory(p);
        if memory > self.max_memory {
            return Err(LimitError::Memory {
                msg_size: p.msg_size,
                pool: p.pool_size(),
                threads: p.threads,
                memory,
                max: self.max_memory,
            });
        }
        let time = p.warmup.saturating_add(p.duration);
        if time > self.max_duration {
            return Err(LimitError::Duration {
                time,
                max: self.max_duration,
            });
        }
        Ok(())
    }

    /// The refusal for the point after the session's last allowed one.
    pub fn points_exceeded(&self) -> LimitError {
        LimitError::Points {
            max: self.max_points,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use copybench_core::StrategyKind;

    fn limits() -> Limits {
        Limits {
            max_threads: 4,
            max_memory: 64 << 20,
            max_duration: Duration::from_secs(10),
            max_points: 3,
        }
    }

    #[test]
    fn each_limit_is_named_with_its_flag() {
        let ok = PointParams::new(StrategyKind::TwoCopy, 4096, 2);
        assert_eq!(limits().check(&ok), Ok(()));
        let threads = PointParams::new(StrategyKind::TwoCopy, 4096, 5);
        assert!(limits()
            .check(&threads)
            .unwrap_err()
            .to_string()
            .contains("--max-threads"));
        let mut memory = PointParams::new(StrategyKind::TwoCopy, 1 << 20, 4);
        memory.pool = Some(64);
        assert_eq!(point_memory(&memory), 256 << 20);
        assert!(limits()
            .check(&memory)
            .unwrap_err()
            .to_string()
            .contains("--max-memory"));
        let mut long = ok.clone();
        long.duration = Duration::from_secs(10);
        assert!(limits()
            .check(&long)
            .unwrap_err()
            .to_string()
            .contains("--max-duration"));
        assert!(limits()
            .points_exceeded()
            .to_string()
            .contains("--max-points"));
    }

    #[test]
    fn the_receivers_own_buffers_count_when_the_pool_is_small() {
        let mut p = PointParams::new(StrategyKind::TwoCopy, 1, 2);
        p.pool = Some(1);
        assert_eq!(point_memory(&p), 2 * (1 + RECEIVE_BUFFER));
    }
}
