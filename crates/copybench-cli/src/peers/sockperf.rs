//! sockperf (3.7 in Debian 12), throughput mode over TCP.
//!
//! Server: `taskset -c RCPU sockperf sr --tcp -i ADDR -p PORT [-m SIZE]` (runs until stopped;
//! `-m` raises the largest message it accepts, 65507 bytes by default).
//! Client: `taskset -c SCPU sockperf tp --tcp -i ADDR -p PORT -m SIZE -t SECS`.
//!
//! Only the client reports, and only what it sent:
//! `sockperf: Summary: Message Rate is 543590 [msg/sec]` and a `BandWidth` line whose units
//! are mixed (MBps is MiB/s, its "Mbps" is that figure times 8), so throughput is taken as
//! message rate x message size. The lines carry ANSI colours even into a pipe. The exit
//! status means nothing (a refused connection exits 0), so a missing summary is the failure.
//! One connection per client: several would need a connection file (`-f`).

use super::iperf3::args;
use super::process::strip_ansi;
use super::{missing, Measured, OutputError, Peer, Setting};

pub struct Sockperf;

/// sockperf's message header is 14 bytes; its largest message is 1 MiB - 1.
const MIN_MSG: usize = 14;
const MAX_MSG: usize = (1 << 20) - 1;
/// The server's default largest message.
const SERVER_DEFAULT_MAX: usize = 65507;

impl Peer for Sockperf {
    fn name(&self) -> &'static str {
        "sockperf"
    }

    fn program(&self) -> &'static str {
        "sockperf"
    }

    fn unsupported(&self, size: usize, threads: usize) -> Option<String> {
        if !(MIN_MSG..=MAX_MSG).contains(&size) {
            return Some(format!(
                "sockperf messages are {MIN_MSG} to {MAX_MSG} bytes (-m)"
            ));
        }
        (threads > 1).then(|| {
            "sockperf's throughput client runs one connection (several need a connection file)"
                .to_string()
        })
    }

    fn server(&self, s: &Setting) -> Vec<String> {
        let mut v = args(&[
            "taskset",
            "-c",
            &s.receiver_cpu.to_string(),
            "sockperf",
            "sr",
            "--tcp",
            "-i",
            &s.addr.to_string(),
            "-p",
            &s.port.to_string(),
        ]);
        if s.size > SERVER_DEFAULT_MAX {
            v.extend(args(&["-m", &s.size.to_string()]));
        }
        v
    }

    fn client(&self, s: &Setting) -> Vec<String> {
        args(&[
            "taskset",
            "-c",
            &s.sender_cpu.to_string(),
            "sockperf",
            "tp",
            "--tcp",
            "-i",
            &s.addr.to_string(),
            "-p",
            &s.port.to_string(),
            "-m",
            &s.size.to_string(),
            "-t",
            &s.seconds.to_string(),
        ])
        .into_iter()
        // `--mps`: messages per second; the rate over the message's bits, at least 1.
        .chain(s.rate_bps.into_iter().flat_map(|r| {
            let mps = (r / (8 * s.size as u64).max(1)).max(1);
            ["--mps".to_string(), mps.to_string()]
        }))
        .collect()
    }

    fn server_exits(&self) -> bool {
        false
    }

    fn parse(
        &self,
        client_out: &str,
        _server_out: &str,
        s: &Setting,
    ) -> Result<Measured, OutputError> {
        parse(client_out, s.size)
    }
}

/// The first number after `marker` on the line that has it.
fn number_after(text: &str, marker: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = &line[line.find(marker)? + marker.len()..];
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The client's text report, for messages of `size` bytes.
pub fn parse(client_out: &str, size: usize) -> Result<Measured, OutputError> {
    let text = strip_ansi(client_out);
    if let Some(error) = text.lines().find(|l| l.contains("ERROR")) {
        return Err(OutputError::Said(error.trim().to_string()));
    }
    let rate = number_after(&text, "Summary: Message Rate is")
        .ok_or_else(|| missing("sockperf printed no 'Summary: Message Rate' line"))?;
    let messages = number_after(&text, "Total of")
        .ok_or_else(|| missing("sockperf printed no 'Total of N messages' line"))?
        as u64;
    let seconds = number_after(&text, "messages sent in")
        .ok_or_else(|| missing("sockperf printed no 'sent in T sec' figure"))?;
    if rate <= 0.0 || messages == 0 {
        return Err(OutputError::Empty("sockperf reports no messages sent"));
    }
    let gbps = rate * size as f64 * 8.0 / 1e9;
    Ok(Measured {
        side: "sender",
        gbps,
        bytes: messages * size as u64,
        seconds,
        sender_gbps: Some(gbps),
        receiver_gbps: None,
        sender_bytes: Some(messages * size as u64),
        writes: Some(messages),
        retransmits: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::tests::data;

    #[test]
    fn throughput_is_message_rate_times_size() {
        let m = parse(&data("sockperf-1k.txt"), 1024).unwrap();
        assert_eq!(m.side, "sender");
        assert!((m.gbps - 543_590.0 * 1024.0 * 8.0 / 1e9).abs() < 1e-12);
        assert_eq!(m.writes, Some(543_869));
        assert_eq!(m.bytes, 543_869 * 1024);
        assert!((m.seconds - 1.001).abs() < 1e-12);
        assert_eq!(m.receiver_gbps, None, "sockperf's server reports nothing");
    }

    #[test]
    fn large_messages_report_fragments_on_the_same_line() {
        let m = parse(&data("sockperf-64k.txt"), 65536).unwrap();
        assert!((m.gbps - 7729.0 * 65536.0 * 8.0 / 1e9).abs() < 1e-12);
    }

    #[test]
    fn a_refused_connection_is_a_failure_with_sockperfs_words() {
        let e = parse(&data("sockperf-refused.txt"), 1024)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Connection refused"), "{e}");
        assert!(parse("sockperf: Test ended\n", 1024).is_err());
    }
}
