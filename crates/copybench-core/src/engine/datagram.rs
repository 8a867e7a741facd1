//! The receiving side over UDP: every datagram is one message, checked as `--verify` says
//! (`full`: its size, which message its stamp names, every payload byte; `stamps`: size and
//! stamp; `off`: read and counted; `discard`: counted, dropped in the kernel with
//! `recv(MSG_TRUNC)`); datagrams lost or reordered are counted, not mistaken for corruption
//! (reordering only where stamps are read).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{EngineError, Phase, ReceiveError, ReceiverReport, Role, Shared, ThreadProbe, Verify};
use crate::pattern::{self, STAMP_LEN};

/// After `STOP`, this much silence means the sender is done: datagrams have no end of stream.
const QUIET_AFTER_STOP: Duration = Duration::from_millis(200);

/// What a UDP receiver counted over the whole connection (warm-up included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatagramCounts {
    /// Datagrams received (each one message).
    pub received: u64,
    /// Datagrams that arrived after one with a higher message number.
    pub reordered: u64,
    /// Highest message number seen, plus one (0 before any).
    pub highest: u64,
}

/// Reads datagrams until the sender stopped and went quiet, checking each one.
pub(crate) fn run_datagram_receiver(
    socket: UdpSocket,
    shared: &Shared<'_>,
    index: usize,
) -> Result<ReceiverReport, EngineError> {
    let (params, phase, hooks) = (shared.params, &shared.phase, shared.hooks);
    let conn = index as u64;
    let base = pattern::base_pattern(conn, params.msg_size);
    // Room for a datagram larger than expected, so that one is seen (and refused) whole.
    let mut buf = vec![0u8; params.msg_size + 1];
    let read_error = |after_bytes, source| EngineError::Receive {
        index,
        source: ReceiveError::Read {
            after_bytes,
            source,
        },
    };
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| read_error(0, e))?;
    // `--receive trunc` is `--verify discard` here: recv(MSG_TRUNC) of each datagram.
    let verify = params.verification();
    let mut report = ReceiverReport {
        index,
        clean: true,
        verification: Some(verify),
        receive: Some(params.receive_kind()),
        ..ReceiverReport::default()
    };
    let mut counts = DatagramCounts::default();
    // The receiver's own measured interval: when it began, bytes by then, the thread's probe.
    type Started = (Instant, u64, Option<Box<dyn ThreadProbe>>);
    let mut interval: Option<Started> = None;
    let mut stopped_at: Option<Instant> = None;
    // With --udp-gso: the segment of a message expected next (0: a message's first).
    let mut next = 0usize;
    loop {
        let got = match receive(&socket, &mut buf, verify) {
            Ok(n) => Some(n),
            Err(e) if is_timeout(&e) => None,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(report.received_bytes, e)),
        };
        let now = phase.get();
        if now >= Phase::MEASURE && interval.is_none() && stopped_at.is_none() {
            let probe = hooks.begin_thread_measure(Role::Receiver, index);
            interval = Some((Instant::now(), report.received_bytes, probe));
        }
        if now == Phase::STOP && stopped_at.is_none() {
            stopped_at = Some(Instant::now());
            if let Some((t0, b0, probe)) = interval.take() {
                report.interval = Some((t0, Instant::now()));
                report.measured_s = t0.elapsed().as_secs_f64();
                report.measured_bytes = report.received_bytes - b0;
                report.counters = probe.map(|p| p.finish());
            }
        }
        match got {
            Some(n) => {
                match verify {
                    Verify::Full | Verify::Stamps => {
                        let payload = verify == Verify::Full;
                        match params.udp_gso {
                            Some(size) => {
                                let s = Segments { size, base: &base };
                                s.check(
                                    &buf[..n],
                                    conn,
                                    payload,
                                    &mut next,
                                    &mut counts,
                                    &mut report,
                                )
                            }
                            None => {
                                check(&buf[..n], conn, &base, payload, &mut counts, &mut report)
                            }
                        }
                    }
                    // Counted, not read: a datagram's size is all there is to see.
                    Verify::Off | Verify::Discard => counts.received += 1,
                }
                report.received_bytes += n as u64;
            }
            None if stopped_at.is_some_and(|t| t.elapsed() >= QUIET_AFTER_STOP) => break,
            None => {}
        }
    }
    report.datagrams = Some(counts);
    Ok(report)
}

/// One datagram: read into `buf`, or with [`Verify::Discard`] dropped in the kernel
/// (`recv(MSG_TRUNC)` into no buffer returns the datagram's real length, copying nothing).
fn receive(socket: &UdpSocket, buf: &mut [u8], verify: Verify) -> std::io::Result<usize> {
    if verify == Verify::Discard {
        rustix::net::recv(socket, &mut buf[..0], rustix::net::RecvFlags::TRUNC)
            .map(|(_, len)| len)
            .map_err(Into::into)
    } else {
        socket.recv(buf)
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Checks one datagram against the message its stamp names (its size and stamp, and with
/// `payload` every byte); the first wrong one is recorded.
fn check(
    datagram: &[u8],
    conn: u64,
    base: &[u8],
    payload: bool,
    counts: &mut DatagramCounts,
    report: &mut ReceiverReport,
) {
    counts.received += 1;
    let mismatch = if datagram.len() != base.len() {
        Some(format!(
            "a datagram of {} bytes arrived; every message has {}",
            datagram.len(),
            base.len()
        ))
    } else {
        let stamp: [u8; STAMP_LEN] = datagram[..STAMP_LEN].try_into().expect("STAMP_LEN bytes");
        let seq = pattern::message_number(conn, stamp);
        // A stamp that names a message far beyond those sent is a damaged stamp.
        if seq > counts.highest + (1 << 32) {
            Some(format!(
                "datagram {} carries no valid stamp of connection {conn}",
                counts.received - 1
            ))
        } else if let Some(at) = (STAMP_LEN..base.len())
            .filter(|_| payload)
            .find(|&i| datagram[i] != base[i])
        {
            Some(format!(
                "message {seq}: byte {at} is {:#04x}, expected {:#04x}",
                datagram[at], base[at]
            ))
        } else {
            if seq + 1 < counts.highest {
                counts.reordered += 1;
            }
            counts.highest = counts.highest.max(seq + 1);
            None
        }
    };
    if let Some(what) = mismatch {
        report.clean = false;
        if report.mismatch.is_none() {
            report.mismatch = Some(format!("receiver {}: {what}", report.index));
        }
    }
}

/// With `--udp-gso`, one message arrives as datagrams of `size` bytes, the last one shorter:
/// segment 0 carries the stamp and is checked as a message of its length; segment `j` holds
/// the message's bytes from `j * size`, the connection's base pattern. Which segment a
/// datagram is, is read from its bytes (the one expected next first, then every other), so a
/// lost segment shifts nothing and is counted as loss, not corruption.
struct Segments<'a> {
    size: usize,
    base: &'a [u8],
}

impl Segments<'_> {
    fn count(&self) -> usize {
        self.base.len().div_ceil(self.size)
    }

    fn range(&self, j: usize) -> std::ops::Range<usize> {
        j * self.size..((j + 1) * self.size).min(self.base.len())
    }

    /// Segment `j > 0`, byte for byte.
    fn is(&self, j: usize, datagram: &[u8]) -> bool {
        j > 0 && j < self.count() && datagram == &self.base[self.range(j)]
    }

    fn check(
        &self,
        datagram: &[u8],
        conn: u64,
        payload: bool,
        next: &mut usize,
        counts: &mut DatagramCounts,
        report: &mut ReceiverReport,
    ) {
        let n = self.count();
        let later = if !payload {
            // Stamps only: a datagram expected to be a later segment is counted as one.
            (*next > 0 && datagram.len() == self.range(*next).len()).then_some(*next)
        } else if self.is(*next, datagram) {
            Some(*next)
        } else {
            (1..n).find(|&j| self.is(j, datagram))
        };
        match later {
            Some(j) => {
                counts.received += 1;
                *next = (j + 1) % n;
            }
            None => {
                check(
                    datagram,
                    conn,
                    &self.base[self.range(0)],
                    payload,
                    counts,
                    report,
                );
                *next = 1 % n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(datagrams: &[Vec<u8>], msg_size: usize) -> (DatagramCounts, ReceiverReport) {
        let base = pattern::base_pattern(3, msg_size);
        let mut counts = DatagramCounts::default();
        let mut report = ReceiverReport {
            clean: true,
            ..ReceiverReport::default()
        };
        for d in datagrams {
            check(d, 3, &base, true, &mut counts, &mut report);
        }
        (counts, report)
    }

    #[test]
    fn gso_segments_are_placed_by_their_bytes_and_a_wrong_one_is_caught() {
        let base = pattern::base_pattern(3, 100);
        let s = Segments {
            size: 30,
            base: &base,
        };
        let m = |seq| pattern::expected_message(3, seq, 100);
        let segs = |msg: &[u8]| -> Vec<Vec<u8>> { msg.chunks(30).map(<[u8]>::to_vec).collect() };
        let mut counts = DatagramCounts::default();
        let mut report = ReceiverReport {
            clean: true,
            ..ReceiverReport::default()
        };
        let mut next = 0;
        let (a, b) = (segs(&m(0)), segs(&m(1)));
        // Message 0 whole, then message 1 with its second segment lost.
        for d in a.iter().chain([&b[0], &b[2], &b[3]]) {
            s.check(d, 3, true, &mut next, &mut counts, &mut report);
        }
        assert!(report.clean, "{:?}", report.mismatch);
        assert_eq!(counts.received, 7);
        assert_eq!(counts.highest, 2);
        let mut bad = b[2].clone();
        bad[5] ^= 1;
        s.check(&bad, 3, true, &mut next, &mut counts, &mut report);
        assert!(!report.clean, "a changed byte in a later segment is caught");
    }

    #[test]
    fn lost_and_reordered_datagrams_are_counted_not_called_corrupt() {
        let m = |seq| pattern::expected_message(3, seq, 100);
        let (counts, report) = checked(&[m(0), m(2), m(1), m(5)], 100);
        assert!(report.clean, "{:?}", report.mismatch);
        assert_eq!(counts.received, 4);
        assert_eq!(counts.reordered, 1);
        assert_eq!(counts.highest, 6, "two of six lost");
    }

    #[test]
    fn stamps_check_size_and_identity_but_not_the_payload() {
        let base = pattern::base_pattern(3, 100);
        let mut bad = pattern::expected_message(3, 7, 100);
        bad[50] ^= 1;
        let mut counts = DatagramCounts::default();
        let mut report = ReceiverReport {
            clean: true,
            ..ReceiverReport::default()
        };
        check(&bad, 3, &base, false, &mut counts, &mut report);
        assert!(report.clean, "stamps do not read byte 50");
        check(
            &pattern::expected_message(4, 0, 100),
            3,
            &base,
            false,
            &mut counts,
            &mut report,
        );
        assert!(!report.clean, "another connection's stamp is found");
    }

    #[test]
    fn a_wrong_byte_a_wrong_size_or_another_connection_is_a_mismatch() {
        let mut bad = pattern::expected_message(3, 7, 100);
        bad[50] ^= 1;
        let (_, report) = checked(&[bad], 100);
        assert!(!report.clean && report.mismatch.unwrap().contains("message 7: byte 50"));
        let (_, report) = checked(&[pattern::expected_message(3, 0, 99)], 100);
        assert!(!report.clean);
        let (_, report) = checked(&[pattern::expected_message(4, 0, 100)], 100);
        assert!(!report.clean, "another connection's datagram");
    }
}
