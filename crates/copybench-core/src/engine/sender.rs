use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{
    EngineError, Mode, Phase, ReceiveError, Role, SetupError, Shared, LATENCY_SAMPLE_EVERY,
};
use crate::message::{Layout, Message};
use crate::result::{Counters, ZeroCopyStats};
use crate::strategy::{new_strategy, Slot, StrategyError};

/// What one sender thread did.
#[derive(Debug)]
pub struct SenderReport {
    /// The connection index.
    pub index: usize,
    /// CPU the thread was pinned to, if it was.
    pub cpu: Option<usize>,
    /// Bytes over the whole connection, warm-up included.
    pub total_bytes: u64,
    /// Messages over the whole connection, warm-up included.
    pub total_messages: u64,
    /// Messages within the measured interval.
    pub messages: u64,
    /// Payload bytes within the measured interval.
    pub bytes: u64,
    /// Send system calls within the measured interval.
    pub send_calls: u64,
    /// The thread's own measured interval: when it saw `MEASURE`, and `STOP`.
    pub interval: Option<(Instant, Instant)>,
    /// The thread's counters over its measured interval, when the hooks measured.
    pub counters: Option<Counters>,
    /// Whole connection (completions of measured sends may arrive after the interval).
    pub zerocopy: Option<ZeroCopyStats>,
    /// CPU time of the strategy's io_uring worker threads over the measured interval
    /// (`None`: the strategy has no ring).
    pub io_worker_ns: Option<u64>,
    /// Nanoseconds: round trips (`rr`) or sampled send calls (`stream`).
    pub latency_ns: Histogram<u64>,
    /// Something that went wrong after the measured interval (e.g. missing completions).
    pub error: Option<String>,
}

impl SenderReport {
    /// Length of the thread's measured interval.
    pub fn duration(&self) -> Option<Duration> {
        self.interval.map(|(a, b)| b - a)
    }
}

/// Sends messages over `stream` (already connected) until the phase reaches `STOP`, then
/// waits for outstanding completions and closes the sending side. `ready` is incremented once
/// the connection is set up and the buffers are built.
pub(crate) fn run_sender(
    stream: TcpStream,
    shared: &Shared<'_>,
    index: usize,
) -> Result<SenderReport, EngineError> {
    let (params, phase, hooks) = (shared.params, &shared.phase, shared.hooks);
    let conn = index as u64;
    let send_err = EngineError::send(index);
    if params.mode == Mode::Rr {
        stream.set_nodelay(true).map_err(|e| {
            EngineError::setup(Role::Sender, index)(SetupError::io("setting TCP_NODELAY", e))
        })?;
    }
    let fd = stream.as_fd();
    // Declared before the strategy so that it is dropped after it: a strategy may hold the
    // pool's buffers (kernel zero-copy, registered io_uring buffers) until it is dropped.
    let mut pool: Vec<Message>;
    let mut strategy = new_strategy(
        params.strategy,
        params.msg_size,
        params.align,
        params.fixed_buffers,
    );
    strategy.prepare(fd).map_err(&send_err)?;

    let layout = Layout::new(params.msg_size, params.fields);
    let pool_size = params.pool_size();
    pool = (0..pool_size)
        .map(|_| Message::new(&layout, params.align, conn))
        .collect();
    strategy.register_pool(&pool).map_err(&send_err)?;
    let mut free: Vec<Slot> = (0..pool_size).rev().collect();
    let mut latency_ns = Histogram::<u64>::new(3).expect("3 significant figures is valid");
    let mut reply = [0u8; 8];
    let mut reader = &stream;

    shared.ready.fetch_add(1, Ordering::Release);
    while phase.get() == Phase::SETUP {
        std::thread::sleep(Duration::from_micros(200));
    }

    let (mut seq, mut calls) = (0u64, 0u64);
    let mut seen = Phase::SETUP;
    let mut start: Option<(Instant, u64, u64)> = None;
    let mut interval = None;
    let mut probe = None;
    let mut counters = None;
    // Sampled outside the counters' and the clock's interval: reading /proc costs the thread.
    let mut workers_at_start = None;
    let mut io_worker_ns = None;
    loop {
        let now = phase.get();
        if now != seen {
            if now >= Phase::MEASURE && start.is_none() {
                workers_at_start = strategy.io_worker_cpu();
                probe = hooks.begin_thread_measure(Role::Sender, index);
                start = Some((Instant::now(), seq, calls));
            }
            if now == Phase::STOP {
                if let Some((t0, _, _)) = start {
                    interval = Some((t0, Instant::now()));
                    counters = probe.take().map(|p| p.finish());
                    io_worker_ns = workers_at_start
                        .take()
                        .zip(strategy.io_worker_cpu())
                        .map(|(before, after)| after.ns_since(&before));
                }
                break;
            }
            seen = now;
        }

        let slot = match free.pop() {
            Some(slot) => slot,
            None => {
                // Every buffer is with the kernel: wait for one to come back.
                strategy.reap(fd, true, &mut free).map_err(&send_err)?;
                continue;
            }
        };
        let message = &mut pool[slot];
        message.stamp(seq);
        if params.corrupt_message == Some(seq) {
            message.corrupt_first_byte();
        }
        let timed =
            seen == Phase::MEASURE && (params.mode == Mode::Rr || seq % LATENCY_SAMPLE_EVERY == 0);
        let t0 = timed.then(Instant::now);
        let report = strategy.send(fd, &pool[slot], slot).map_err(&send_err)?;
        calls += u64::from(report.calls);
        if params.mode == Mode::Rr {
            reader
                .read_exact(&mut reply)
                .map_err(|e| EngineError::Send {
                    index,
                    source: StrategyError::io("reading the reply", e),
                })?;
            if u64::from_le_bytes(reply) != seq {
                return Err(EngineError::Receive {
                    index,
                    source: ReceiveError::WrongReply {
                        got: u64::from_le_bytes(reply),
                        sent: seq,
                    },
                });
            }
        }
        if let Some(t0) = t0 {
            // A histogram of nanoseconds tracks up to hours; a failed record would need one.
            let _ = latency_ns.record(t0.elapsed().as_nanos() as u64);
        }
        seq += 1;
    }

    let mut error = None;
    if let Err(e) = strategy.drain(fd, params.drain_timeout, &mut free) {
        error = Some(format!("sender {index}: {e}"));
    }
    // The receiver reads to the end of the stream; closing our side tells it where that is.
    let _ = stream.shutdown(Shutdown::Write);
    if params.mode == Mode::Stream {
        // Wait for the receiver to close too, so that its last reads happen before we report.
        let mut sink = [0u8; 64];
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = (&stream).read(&mut sink);
    }

    let msg_size = params.msg_size as u64;
    let (messages, send_calls) = start.map_or((0, 0), |(_, s0, c0)| (seq - s0, calls - c0));
    // Messages sent after `STOP` was seen are not counted in the interval.
    Ok(SenderReport {
        index,
        cpu: None,
        total_bytes: seq * msg_size,
        total_messages: seq,
        messages,
        bytes: messages * msg_size,
        send_calls,
        interval,
        counters,
        zerocopy: strategy.zerocopy_stats(),
        io_worker_ns,
        latency_ns,
        error,
    })
}
