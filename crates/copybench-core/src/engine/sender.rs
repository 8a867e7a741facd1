use std::collections::VecDeque;
use std::io::Read;
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::pacing::Pacer;
use super::{
    DataTemperature, EngineError, Mode, Phase, ReceiveError, Role, SetupError, Shared,
    LATENCY_SAMPLE_EVERY,
};
use crate::message::{build_pool, Layout, Message};
use crate::result::{Counters, UringSetup, ZeroCopyStats};
use crate::strategy::{strategy_for, SendReport, SendStrategy, Slot, StrategyError};

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
    /// How the strategy's io_uring was set up (`None`: no ring).
    pub uring: Option<UringSetup>,
    /// CPU time of the strategy's io_uring worker threads over the measured interval
    /// (`None`: the strategy has no ring).
    pub io_worker_ns: Option<u64>,
    /// Seconds this thread waited for a free buffer in the measured interval (every slot with
    /// the kernel): 0 when it never had to.
    pub pool_wait_s: f64,
    /// The longest stretch between two of the loop's clock reads (one per
    /// `LATENCY_SAMPLE_EVERY` messages, one per rr message, one at each phase change) that
    /// overlapped the measured interval: an upper bound on the longest single send, rr's reply
    /// included; for a sender blocked across the whole interval, that one call.
    pub longest_send: Duration,
    /// Distinct pool buffers sent from in the measured interval.
    pub buffers_touched: usize,
    /// Paced senders (`rate_bps`): time the pacer slept in the measured interval; `None`
    /// unpaced.
    pub paced_sleep: Option<Duration>,
    /// Distinct memory pages a message's fields touch, averaged over the pool.
    pub pages_per_message: f64,
    /// Nanoseconds: round trips (`rr`) or sampled whole-message sends (`stream`).
    pub latency_ns: Histogram<u64>,
    /// Something that went wrong after the measured interval (e.g. missing completions).
    pub error: Option<String>,
    /// `sendfile`/`splice`: bytes acknowledged past a buffer before it was rewritten.
    pub receive_margin: Option<u64>,
    /// `--hugepages`: what the kernel gave this sender's pool.
    pub hugepages: Option<crate::result::HugePages>,
    /// Datagrams one message leaves as (UDP with `--udp-gso`; 1 otherwise).
    pub datagrams_per_message: usize,
}

/// A huge-page pool's record: how it was asked for and what smaps says it got (`None` for
/// a memory file).
fn huge_pages_of(map: &crate::mapping::Mapping) -> Option<crate::result::HugePages> {
    let kind = map.huge_kind()?;
    let smaps = map.smaps_huge_bytes();
    Some(crate::result::HugePages {
        backing: match kind {
            crate::mapping::HugeKind::HugeTlb => "hugetlb",
            crate::mapping::HugeKind::Thp => "thp",
        }
        .into(),
        mapped_bytes: map.len() as u64,
        huge_bytes: smaps.map(|(anon, hugetlb)| match kind {
            crate::mapping::HugeKind::HugeTlb => hugetlb,
            crate::mapping::HugeKind::Thp => anon,
        }),
    })
}

/// A sender's connected socket: a TCP stream, or a UDP socket connected to its receiver (or
/// to the sink), each message one datagram.
#[derive(Debug)]
pub(crate) enum DataSocket {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

impl AsFd for DataSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            DataSocket::Tcp(s) => s.as_fd(),
            DataSocket::Udp(s) => s.as_fd(),
        }
    }
}

/// The message to send next.
struct Next {
    seq: u64,
    /// Inside the measured interval (waits for a buffer are counted).
    measuring: bool,
    /// Test hook: corrupt this message.
    corrupt: bool,
}

/// Sends message `next.seq`: waits for a free buffer if every one is with the kernel, stamps
/// it, and hands it to the strategy. The caller times this whole step, so a message's
/// latency covers the buffer wait as well as the send.
#[inline]
fn send_message(
    strategy: &mut dyn SendStrategy,
    pool: &mut [Message],
    free: &mut FreeSlots,
    fd: BorrowedFd<'_>,
    next: Next,
) -> Result<SendReport, StrategyError> {
    let slot = free.acquire(strategy, fd, next.seq, next.measuring)?;
    let message = &mut pool[slot];
    message.stamp(next.seq);
    if next.corrupt {
        message.corrupt_first_byte();
    }
    strategy.send(fd, &pool[slot], slot)
}

/// Strategies whose reap is a system call (the zero-copy ones, io_uring) reap completions
/// without blocking every this many messages: often enough that the buffers in use are those
/// really in flight plus at most this many, at one error-queue read per this many sends.
const REAP_EVERY: u64 = 8;

/// The pool's slots the kernel has given back, which of them were used, and the time spent
/// waiting for one.
struct FreeSlots {
    /// Free slots in the order they came back: hot data takes the most recently released (the
    /// back: last in, first out), cold data the least recently released (the front).
    slots: VecDeque<Slot>,
    data: DataTemperature,
    /// Reap every this many messages without blocking: 1 where reaping is free.
    reap_every: u64,
    /// What a reap hands back, before it joins `slots`.
    released: Vec<Slot>,
    /// Slots used since the measured interval began.
    touched: Vec<bool>,
    touched_count: usize,
    /// Time spent blocked waiting for a free slot since the measured interval began.
    waited: Duration,
}

impl FreeSlots {
    fn new(pool: usize, data: DataTemperature, reap_is_free: bool) -> FreeSlots {
        FreeSlots {
            slots: (0..pool).collect(),
            data,
            reap_every: if reap_is_free { 1 } else { REAP_EVERY },
            released: Vec::new(),
            touched: vec![false; pool],
            touched_count: 0,
            waited: Duration::ZERO,
        }
    }

    /// The measured interval begins: waits and touched buffers count from here.
    fn begin_measure(&mut self) {
        self.waited = Duration::ZERO;
        self.touched.fill(false);
        self.touched_count = 0;
    }

    /// Reaps into the free slots (waiting for one with `wait`).
    fn reap(
        &mut self,
        strategy: &mut dyn SendStrategy,
        fd: BorrowedFd<'_>,
        wait: bool,
    ) -> Result<(), StrategyError> {
        strategy.reap(fd, wait, &mut self.released)?;
        self.slots.extend(self.released.drain(..));
        Ok(())
    }

    fn take(&mut self, measuring: bool) -> Option<Slot> {
        let slot = match self.data {
            DataTemperature::Hot => self.slots.pop_back(),
            DataTemperature::Cold => self.slots.pop_front(),
        }?;
        if measuring && !std::mem::replace(&mut self.touched[slot], true) {
            self.touched_count += 1;
        }
        Some(slot)
    }

    /// A slot whose buffers the kernel no longer uses: reaps without blocking every
    /// `reap_every` messages, and waits (timed when `measuring`) only when every slot is in
    /// flight.
    fn acquire(
        &mut self,
        strategy: &mut dyn SendStrategy,
        fd: BorrowedFd<'_>,
        seq: u64,
        measuring: bool,
    ) -> Result<Slot, StrategyError> {
        // One message before each multiple of `reap_every`, not on it: latency is sampled on
        // multiples of LATENCY_SAMPLE_EVERY, and a reap there would land only in timed sends.
        if seq % self.reap_every == self.reap_every - 1 {
            self.reap(strategy, fd, false)?;
        }
        if let Some(slot) = self.take(measuring) {
            return Ok(slot);
        }
        let t0 = measuring.then(Instant::now);
        while self.slots.is_empty() {
            self.reap(strategy, fd, true)?;
        }
        if let Some(t0) = t0 {
            self.waited += t0.elapsed();
        }
        Ok(self.take(measuring).expect("a slot came back"))
    }
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
    socket: DataSocket,
    shared: &Shared<'_>,
    index: usize,
) -> Result<SenderReport, EngineError> {
    let (params, phase, hooks) = (shared.params, &shared.phase, shared.hooks);
    let conn = index as u64;
    let send_err = EngineError::send(index);
    if let (Mode::Rr, DataSocket::Tcp(stream)) = (params.mode, &socket) {
        stream.set_nodelay(true).map_err(|e| {
            EngineError::setup(Role::Sender, index)(SetupError::io("setting TCP_NODELAY", e))
        })?;
    }
    let fd = socket.as_fd();
    // Declared before the strategy so that it is dropped after it: a strategy may hold the
    // pool's buffers (kernel zero-copy, registered io_uring buffers) until it is dropped.
    let mut pool: Vec<Message>;
    let mut strategy = strategy_for(params);
    if let (Some(gso), DataSocket::Udp(_)) = (params.udp_gso, &socket) {
        let size = u16::try_from(gso).unwrap_or(u16::MAX);
        crate::sys::set_udp_segment(fd, size).map_err(|e| {
            send_err(StrategyError::Unsupported {
                strategy: params.strategy,
                reason: format!(
                    "setsockopt(UDP_SEGMENT, {gso}) failed: {e}; UDP GSO needs Linux 4.18+"
                ),
            })
        })?;
    }
    strategy.prepare(fd).map_err(&send_err)?;

    let layout = Layout::new(params.msg_size, params.fields);
    let pool_size = params.pool_size();
    let built =
        build_pool(&layout, params.align, conn, pool_size, params.pool_memory()).map_err(|e| {
            send_err(StrategyError::Unsupported {
                strategy: params.strategy,
                reason: format!("the pool's memory: {e}"),
            })
        })?;
    let hugepages = built.mapping.as_deref().and_then(huge_pages_of);
    pool = built.messages;
    strategy.register_pool(&pool).map_err(&send_err)?;
    let pages_per_message =
        pool.iter().map(Message::pages).sum::<usize>() as f64 / pool_size as f64;
    let mut free = FreeSlots::new(pool_size, params.data, strategy.reap_is_free());
    let mut latency_ns = Histogram::<u64>::new(3).expect("3 significant figures is valid");
    let mut reply = [0u8; 8];

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
    // The longest stretch between two clock reads that overlapped the measured interval. The
    // clock is read only where latency is sampled anyway (every LATENCY_SAMPLE_EVERY-th
    // message, every rr message) and at phase changes, never once per message: a stretch is at
    // most LATENCY_SAMPLE_EVERY messages, an upper bound on the longest single send that is
    // microseconds wide unless one send blocked.
    let mut longest_send = Duration::ZERO;
    let mut step: Option<(Instant, bool)> = None;
    let mut stall_once = params.stall_once;
    // Unpaced: no pacer, and the loop below reads no clock for it.
    let mut pacer = params.rate_bps.map(Pacer::new);
    let msg_bytes = params.msg_size as u64;
    loop {
        let now = phase.get();
        let phase_changed = now != seen;
        let checkpoint =
            phase_changed || params.mode == Mode::Rr || seq % LATENCY_SAMPLE_EVERY == 0;
        let step_end = checkpoint.then(Instant::now);
        if let (Some(end), Some((began, in_interval))) = (step_end, step) {
            if in_interval || now >= Phase::MEASURE {
                longest_send = longest_send.max(end - began);
            }
        }
        if phase_changed {
            if now == Phase::STOP && start.is_none() {
                // Blocked in one call from before the interval began until after it ended:
                // the interval is the coordinator's, with no message in it and no counters
                // (the thread could not start them). A stall measured, not a failure.
                if let Some(coordinator) = shared.coordinator_interval() {
                    start = Some((coordinator.0, seq, calls));
                    interval = Some(coordinator);
                }
                break;
            }
            if now >= Phase::MEASURE && start.is_none() {
                workers_at_start = strategy.io_worker_cpu();
                probe = hooks.begin_thread_measure(Role::Sender, index);
                free.begin_measure();
                if let Some(p) = pacer.as_mut() {
                    p.begin_measure();
                }
                // The interval is the coordinator's from its start: a thread that noticed it
                // late, blocked in a send, must not leave that block out of its interval.
                let began = shared.coordinator_start().unwrap_or_else(Instant::now);
                start = Some((began, seq, calls));
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
        // A phase change began probes (reading /proc, opening counters): not the message's.
        let step_start = if phase_changed {
            Some(Instant::now())
        } else {
            step_end
        };

        // Latency is the whole message's: from "ready to send it" to "the kernel took all of
        // it", waiting for a free buffer included, so that zero-copy's wait for a completion
        // counts as the copying strategies' wait for socket space (inside `send`) does.
        let timed =
            seen == Phase::MEASURE && (params.mode == Mode::Rr || seq % LATENCY_SAMPLE_EVERY == 0);
        // A timed message is always a checkpoint, so its start was read.
        let t0 = step_start.filter(|_| timed);
        if let Some(began) = step_start {
            step = Some((began, seen == Phase::MEASURE));
        }
        if let Some(stall) = stall_once.take_if(|_| seen == Phase::WARMUP) {
            std::thread::sleep(stall);
        }
        let next = Next {
            seq,
            measuring: seen == Phase::MEASURE,
            corrupt: params.corrupt_message == Some(seq),
        };
        let report =
            send_message(&mut *strategy, &mut pool, &mut free, fd, next).map_err(&send_err)?;
        calls += u64::from(report.calls);
        if let (Mode::Rr, DataSocket::Tcp(stream)) = (params.mode, &socket) {
            let mut reader = stream;
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
        if let Some(p) = pacer.as_mut() {
            // After the latency sample: a message's latency is its send, not the pause after
            // it. A wait read the clock, so the next stretch between clock reads starts there.
            if let Some(woke) = p.sent(msg_bytes, || phase.get() != seen) {
                step = Some((woke, seen == Phase::MEASURE));
            }
        }
        seq += 1;
    }
    let pool_wait_s = free.waited.as_secs_f64();
    let buffers_touched = free.touched_count;

    let mut error = None;
    if let Err(e) = strategy.drain(fd, params.drain_timeout, &mut free.released) {
        error = Some(format!("sender {index}: {e}"));
    }
    if let DataSocket::Tcp(stream) = &socket {
        // The receiver reads to the end of the stream; closing our side tells it where that
        // is. (A UDP receiver stops on silence after STOP: datagrams have no end of stream.)
        let _ = stream.shutdown(Shutdown::Write);
        if params.mode == Mode::Stream {
            // Wait for the receiver to close too, so that its last reads happen before we
            // report.
            let mut sink = [0u8; 64];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = (&*stream).read(&mut sink);
        }
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
        uring: strategy.uring_setup(),
        io_worker_ns,
        pool_wait_s,
        longest_send,
        buffers_touched,
        paced_sleep: pacer.as_ref().map(Pacer::slept),
        pages_per_message,
        latency_ns,
        error,
        receive_margin: strategy.receive_margin(),
        hugepages,
        datagrams_per_message: params.segments_per_message(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Layout, Message};
    use crate::StrategyKind;

    /// A strategy that keeps every slot until reaped, and logs the reaps (the engine's slot
    /// bookkeeping on its own; the kernel's side is tested over real sockets elsewhere). A
    /// waiting reap takes `completion_delay`, as a completion on a slow link would.
    #[derive(Default)]
    struct Held {
        /// Slots in flight, with when they were sent.
        held: Vec<(Slot, Instant)>,
        reaps: Vec<(bool, usize)>,
        completion_delay: Duration,
        /// Slots come back as the call returns (a copying strategy).
        copying: bool,
    }

    impl SendStrategy for Held {
        fn kind(&self) -> StrategyKind {
            StrategyKind::ZeroCopy
        }
        fn prepare(&mut self, _: BorrowedFd<'_>) -> Result<(), StrategyError> {
            Ok(())
        }
        fn send(
            &mut self,
            _: BorrowedFd<'_>,
            _: &Message,
            slot: Slot,
        ) -> Result<SendReport, StrategyError> {
            self.held.push((slot, Instant::now()));
            Ok(SendReport { calls: 1 })
        }
        fn reap(
            &mut self,
            _: BorrowedFd<'_>,
            wait: bool,
            released: &mut Vec<Slot>,
        ) -> Result<(), StrategyError> {
            self.reaps.push((wait, self.held.len()));
            if wait {
                if let Some(&(_, sent)) = self.held.first() {
                    let due = sent + self.completion_delay;
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
            }
            let delay = self.completion_delay;
            self.held.retain(|&(slot, sent)| {
                let done = sent.elapsed() >= delay;
                if done {
                    released.push(slot);
                }
                !done
            });
            Ok(())
        }
        fn reap_is_free(&self) -> bool {
            self.copying
        }
        fn drain(
            &mut self,
            fd: BorrowedFd<'_>,
            _: Duration,
            released: &mut Vec<Slot>,
        ) -> Result<(), StrategyError> {
            self.reap(fd, false, released)
        }
    }

    /// Buffers a sender touches streaming `messages` messages from a pool of `pool`.
    fn touched(strategy: &mut Held, pool: usize, data: DataTemperature, messages: u64) -> usize {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = socket.as_fd();
        let mut free = FreeSlots::new(pool, data, strategy.reap_is_free());
        free.begin_measure();
        let message = Message::new(&Layout::new(8, 1), Default::default(), 0);
        for seq in 0..messages {
            let slot = free.acquire(strategy, fd, seq, true).unwrap();
            strategy.send(fd, &message, slot).unwrap();
        }
        free.touched_count
    }

    #[test]
    fn hot_data_sends_a_copying_strategy_from_one_buffer() {
        let mut copying = Held {
            copying: true,
            ..Held::default()
        };
        assert_eq!(touched(&mut copying, 1024, DataTemperature::Hot, 5000), 1);
    }

    #[test]
    fn hot_data_keeps_zero_copy_to_what_is_in_flight() {
        // Completions as soon as they are looked for: at most one reap interval in flight.
        let mut zero_copy = Held::default();
        let n = touched(&mut zero_copy, 1024, DataTemperature::Hot, 5000);
        assert!(n <= REAP_EVERY as usize + 1, "{n} buffers touched");
    }

    #[test]
    fn cold_data_cycles_every_strategy_through_the_whole_pool() {
        for copying in [true, false] {
            let mut strategy = Held {
                copying,
                ..Held::default()
            };
            let n = touched(&mut strategy, 1024, DataTemperature::Cold, 2048);
            assert_eq!(n, 1024, "copying: {copying}");
        }
    }

    #[test]
    fn completions_are_reaped_before_the_pool_runs_dry() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = socket.as_fd();
        let pool = 64;
        let mut free = FreeSlots::new(pool, DataTemperature::Hot, false);
        let mut strategy = Held::default();
        let message = Message::new(&crate::message::Layout::new(8, 1), Default::default(), 0);
        for seq in 0..10 * pool as u64 {
            let slot = free.acquire(&mut strategy, fd, seq, true).unwrap();
            strategy.send(fd, &message, slot).unwrap();
        }
        // Reaped without blocking while slots were still free, never waiting for an empty pool.
        assert!(strategy.reaps.iter().any(|&(wait, _)| !wait));
        assert!(
            strategy.reaps.iter().all(|&(wait, _)| !wait),
            "{:?}",
            strategy.reaps
        );
        assert_eq!(free.waited, Duration::ZERO);
    }

    #[test]
    fn a_message_s_latency_covers_the_wait_for_a_free_buffer() {
        // One buffer, completions 3 ms late: the second message waits 3 ms before its send.
        // Timing only the send call would leave that out and flatter zero-copy.
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = socket.as_fd();
        let mut pool = vec![Message::new(&Layout::new(64, 1), Default::default(), 0)];
        let mut free = FreeSlots::new(1, DataTemperature::Hot, false);
        let mut strategy = Held {
            completion_delay: Duration::from_millis(3),
            ..Held::default()
        };
        let mut latencies = Vec::new();
        for seq in 0..3 {
            let t0 = Instant::now();
            let next = Next {
                seq,
                measuring: true,
                corrupt: false,
            };
            // The loop in run_sender times exactly this call.
            send_message(&mut strategy, &mut pool, &mut free, fd, next).unwrap();
            latencies.push(t0.elapsed());
        }
        assert!(latencies[1] >= Duration::from_millis(3), "{latencies:?}");
        assert!(free.waited >= Duration::from_millis(6), "{:?}", free.waited);
    }
}
