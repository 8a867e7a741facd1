use std::io::Write;
use std::net::TcpStream;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{
    EngineError, Hooks, Mode, Phase, ReceiveError, Role, SetupError, Shared, ThreadProbe, Verify,
    DATA_TIMEOUT,
};
use crate::message::PlacedBuf;
use crate::model::ReceiveKind;
use crate::pattern::Verifier;
use crate::receive::{self, Check, ReceiveSetupError, Receiver};
use crate::result::Counters;

/// What one receiver thread saw. Serializable: in remote mode it travels back to the client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReceiverReport {
    /// The connection index.
    pub index: usize,
    /// CPU the thread was pinned to, if it was.
    pub cpu: Option<usize>,
    /// Bytes received over the whole connection.
    pub received_bytes: u64,
    /// Bytes received within the receiver's own measured interval, and its length.
    pub measured_bytes: u64,
    /// Length of the receiver's own measured interval, in seconds.
    pub measured_s: f64,
    /// Every byte matched the pattern and the stream ended on a message boundary.
    pub clean: bool,
    /// The first difference, in words.
    pub mismatch: Option<String>,
    /// The thread's counters over its measured interval, when the hooks measured.
    pub counters: Option<Counters>,
    /// UDP only: datagrams received and reordered.
    #[serde(default)]
    pub datagrams: Option<super::DatagramCounts>,
    /// What the receiver checked. `None` in a report from a `copybench server` that predates
    /// `--verify`: such a server checked every byte.
    #[serde(default)]
    pub verification: Option<Verify>,
    /// The receiver's own measured interval (start, end) on this machine's clock; not sent
    /// over the wire (a remote receiver's clock is not comparable), where
    /// [`measured_s`](Self::measured_s) stands in for it.
    #[serde(skip)]
    pub interval: Option<(Instant, Instant)>,
    /// The receive strategy it used (`None` in a report from a server that predates
    /// `--receive`: such a server read).
    #[serde(default)]
    pub receive: Option<ReceiveKind>,
    /// `zerocopy`: bytes mapped (not copied) within the receiver's measured interval.
    #[serde(default)]
    pub mapped_bytes: Option<u64>,
    /// The MSS of the segments received, as the kernel estimates it at the end of the stream
    /// (`TCP_INFO`'s `tcpi_rcv_mss`; TCP only).
    #[serde(default)]
    pub mss: Option<u32>,
    /// `zerocopy`: `SO_RCVLOWAT` as set (stream mode).
    #[serde(default)]
    pub rcvlowat: Option<u32>,
    /// `zerocopy`: bytes of the socket mapping one step maps into.
    #[serde(default)]
    pub map_bytes: Option<usize>,
}

/// Reads `stream` to its end with the point's receive strategy, checking what `params.verify`
/// says against connection `index`'s pattern (every byte, only the stamps, or nothing but the
/// byte count and message boundaries), mapped bytes as copied ones.
/// In `rr` mode it answers each whole message with an 8-byte reply (the message's number),
/// under every verification mode: message boundaries come from the byte count.
pub(crate) fn run_receiver(
    mut stream: TcpStream,
    shared: &Shared<'_>,
    index: usize,
) -> Result<ReceiverReport, EngineError> {
    let (params, phase, hooks) = (shared.params, &shared.phase, shared.hooks);
    let conn = index as u64;
    let rr = params.mode == Mode::Rr;
    if rr {
        stream.set_nodelay(true).map_err(|e| {
            EngineError::setup(Role::Receiver, index)(SetupError::io("setting TCP_NODELAY", e))
        })?;
    }
    let kind = params.receive_kind();
    let read_size = params.read_size();
    let mut rx =
        Receiver::open(kind, &stream, read_size, !rr, DATA_TIMEOUT).map_err(|e| match e {
            ReceiveSetupError::Unsupported { reason } => EngineError::ReceiveUnsupported {
                index,
                receive: kind,
                reason,
            },
            ReceiveSetupError::Io { what, source } => {
                EngineError::setup(Role::Receiver, index)(SetupError::io(what, source))
            }
        })?;
    let mut check = Check::new(
        Verifier::new(conn, params.msg_size),
        params.verification(),
        params.corrupt_mapping,
    );
    let mut buf = PlacedBuf::new(read_size, 0);
    let mut seen = Phase::SETUP;
    let mut interval = Interval::default();
    let facts = rx.facts();
    let mut report = ReceiverReport {
        index,
        verification: Some(params.verification()),
        receive: Some(kind),
        rcvlowat: facts.rcvlowat,
        map_bytes: facts.map_bytes,
        ..ReceiverReport::default()
    };
    loop {
        let want = if rr {
            (params.msg_size - check.verifier.message_offset()).min(read_size)
        } else {
            read_size
        };
        let n = match rx.receive(&stream, &mut buf.as_mut_slice()[..want], &mut check) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(EngineError::Receive {
                    index,
                    source: ReceiveError::Read {
                        after_bytes: report.received_bytes,
                        source: e,
                    },
                })
            }
        };
        let now = phase.get();
        if now != seen {
            // The bytes of this step are not yet counted: the interval's edges fall between
            // steps, for the mapped count as for the byte count.
            if now >= Phase::MEASURE {
                interval.begin(
                    hooks,
                    index,
                    report.received_bytes,
                    rx.mapped_before_last_step(),
                );
            }
            if now == Phase::STOP {
                interval.end(&mut report, rx.mapped_before_last_step());
            }
            seen = now;
        }
        if n == 0 {
            break;
        }
        report.received_bytes += n as u64;
        if rr && check.verifier.message_offset() == 0 {
            let number = check.verifier.messages() - 1;
            if let Err(e) = stream.write_all(&number.to_le_bytes()) {
                return Err(EngineError::Receive {
                    index,
                    source: ReceiveError::Reply {
                        message: number,
                        source: e,
                    },
                });
            }
        }
    }
    interval.end(&mut report, rx.mapped_bytes());
    report.mss = receive::received_mss(&stream);
    let verifier = &check.verifier;
    report.clean = verifier.clean_end();
    let found_in = match check.mismatch_mapped {
        Some(true) => " (in mapped bytes)",
        Some(false) if kind == ReceiveKind::Zerocopy => " (in copied bytes)",
        _ => "",
    };
    report.mismatch = match verifier.first_mismatch() {
        Some(m) => Some(format!(
            "receiver {index}: byte {} of the stream is {:#04x}, expected {:#04x}{found_in}",
            m.stream_offset, m.got, m.expected
        )),
        None if !report.clean => Some(format!(
            "receiver {index}: the stream ended inside a message after {} bytes",
            report.received_bytes
        )),
        None => None,
    };
    Ok(report)
}

/// The receiver's own measured interval: from the first read after `MEASURE` to the first read
/// after `STOP` (or the end of the stream).
#[derive(Default)]
struct Interval {
    start: Option<(Instant, u64)>,
    mapped_start: Option<u64>,
    probe: Option<Box<dyn ThreadProbe>>,
    ended: bool,
}

impl Interval {
    fn begin(&mut self, hooks: &dyn Hooks, index: usize, received: u64, mapped: Option<u64>) {
        if self.start.is_none() {
            self.probe = hooks.begin_thread_measure(Role::Receiver, index);
            self.start = Some((Instant::now(), received));
            self.mapped_start = mapped;
        }
    }

    fn end(&mut self, report: &mut ReceiverReport, mapped: Option<u64>) {
        if let (Some((t0, b0)), false) = (self.start, self.ended) {
            self.ended = true;
            report.mapped_bytes = mapped
                .zip(self.mapped_start)
                .map(|(m1, m0)| m1.saturating_sub(m0));
            let t1 = Instant::now();
            report.interval = Some((t0, t1));
            report.measured_s = (t1 - t0).as_secs_f64();
            report.measured_bytes = report.received_bytes - b0;
            report.counters = self.probe.take().map(|p| p.finish());
        }
    }
}
