use std::io::Write;
use std::net::TcpStream;
use std::time::Instant;

use rustix::net::RecvFlags;
use serde::{Deserialize, Serialize};

use super::{
    EngineError, Hooks, Mode, Phase, ReceiveError, Role, SetupError, Shared, ThreadProbe, Verify,
};
use crate::message::PlacedBuf;
use crate::pattern::Verifier;
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
}

/// Reads `stream` to its end, checking what `params.verify` says against connection `index`'s
/// pattern (every byte, only the stamps, or nothing but the byte count and message boundaries).
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
    let mut verifier = Verifier::new(conn, params.msg_size);
    let read_size = params.read_size();
    let mut buf = PlacedBuf::new(read_size, 0);
    let mut seen = Phase::SETUP;
    let mut interval = Interval::default();
    let mut report = ReceiverReport {
        index,
        verification: Some(params.verify),
        ..ReceiverReport::default()
    };
    loop {
        let want = if rr {
            (params.msg_size - verifier.message_offset()).min(read_size)
        } else {
            read_size
        };
        let n = match read_some(&mut stream, &mut buf.as_mut_slice()[..want], params.verify) {
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
            if now >= Phase::MEASURE {
                interval.begin(hooks, index, report.received_bytes);
            }
            if now == Phase::STOP {
                interval.end(&mut report);
            }
            seen = now;
        }
        if n == 0 {
            break;
        }
        match params.verify {
            Verify::Full => verifier.check(&buf.as_slice()[..n]),
            Verify::Stamps => verifier.check_stamps(&buf.as_slice()[..n]),
            Verify::Off | Verify::Discard => verifier.skip(n),
        }
        report.received_bytes += n as u64;
        if rr && verifier.message_offset() == 0 {
            let number = verifier.messages() - 1;
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
    interval.end(&mut report);
    report.clean = verifier.clean_end();
    report.mismatch = match verifier.first_mismatch() {
        Some(m) => Some(format!(
            "receiver {index}: byte {} of the stream is {:#04x}, expected {:#04x}",
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

/// Reads up to `buf.len()` bytes: into `buf`, or, with [`Verify::Discard`], nowhere:
/// `recv(MSG_TRUNC)` on TCP drops the bytes in the kernel without copying them to user space
/// and returns how many it dropped (as neper's `--skip-rx-copy` and liburing's zero-copy
/// example receive).
fn read_some(stream: &mut TcpStream, buf: &mut [u8], verify: Verify) -> std::io::Result<usize> {
    if verify == Verify::Discard {
        rustix::net::recv(&*stream, buf, RecvFlags::TRUNC)
            .map(|(_, dropped)| dropped)
            .map_err(std::io::Error::from)
    } else {
        // read(2), as iperf3 and nuttcp read, rather than std's recv(2): the same socket path,
        // and the thread's `/proc/thread-self/io` counts it (syscr, rchar), which the tests use.
        rustix::io::read(&*stream, buf).map_err(std::io::Error::from)
    }
}

/// The receiver's own measured interval: from the first read after `MEASURE` to the first read
/// after `STOP` (or the end of the stream).
#[derive(Default)]
struct Interval {
    start: Option<(Instant, u64)>,
    probe: Option<Box<dyn ThreadProbe>>,
    ended: bool,
}

impl Interval {
    fn begin(&mut self, hooks: &dyn Hooks, index: usize, received: u64) {
        if self.start.is_none() {
            self.probe = hooks.begin_thread_measure(Role::Receiver, index);
            self.start = Some((Instant::now(), received));
        }
    }

    fn end(&mut self, report: &mut ReceiverReport) {
        if let (Some((t0, b0)), false) = (self.start, self.ended) {
            self.ended = true;
            let t1 = Instant::now();
            report.interval = Some((t0, t1));
            report.measured_s = (t1 - t0).as_secs_f64();
            report.measured_bytes = report.received_bytes - b0;
            report.counters = self.probe.take().map(|p| p.finish());
        }
    }
}
