//! nuttcp (6.1.2 in Debian 12): `key=value` output (`-fparse`) from both ends, via the client.
//!
//! Server: `taskset -c RCPU nuttcp -1 --nofork -PCTL -pDATA` (one test, then it exits; it
//! listens on every address of its namespace: nuttcp has no bind option).
//! Client: `taskset -c SCPU nuttcp -t -lSIZE -TSECS -NN -PCTL -pDATA -v -fparse ADDR`.
//! (nuttcp 6 has no CPU affinity option; its values are glued to the flag.)
//!
//! With `-v` the client prints the transmitter's lines (`nuttcp-t: ...`) and the receiver's
//! (`nuttcp-r: ...`, sent over the control connection); `rate_Mbps` (10^6 bit/s) of the
//! `nuttcp-r` line is the receiver-side figure. When it cannot reach the server's control
//! port nuttcp silently tries "classic mode" and reports the transmitter only: that is a
//! failure here, never a figure.

use super::iperf3::args;
use super::{missing, Measured, OutputError, Peer, Setting};

pub struct Nuttcp;

impl Peer for Nuttcp {
    fn name(&self) -> &'static str {
        "nuttcp"
    }

    fn program(&self) -> &'static str {
        "nuttcp"
    }

    fn unsupported(&self, _size: usize, threads: usize) -> Option<String> {
        (threads > 128).then(|| "nuttcp runs at most 128 streams (-N)".to_string())
    }

    /// The control port, then one data port per stream.
    fn ports(&self, threads: usize) -> usize {
        1 + threads
    }

    fn server(&self, s: &Setting) -> Vec<String> {
        args(&[
            "taskset",
            "-c",
            &s.receiver_cpu.to_string(),
            "nuttcp",
            "-1",
            "--nofork",
            &format!("-P{}", s.port),
            &format!("-p{}", s.port + 1),
        ])
    }

    fn client(&self, s: &Setting) -> Vec<String> {
        args(&[
            "taskset",
            "-c",
            &s.sender_cpu.to_string(),
            "nuttcp",
            "-t",
            &format!("-l{}", s.size),
            &format!("-T{}", s.seconds),
            &format!("-N{}", s.threads),
            &format!("-P{}", s.port),
            &format!("-p{}", s.port + 1),
            "-v",
            "-fparse",
        ])
        .into_iter()
        // `-R`: Kbps (10^3 bit/s), glued to the flag like every nuttcp value; one stream.
        .chain(s.rate_bps.map(|r| format!("-R{}", (r / 1000).max(1))))
        .chain([s.addr.to_string()])
        .collect()
    }

    fn server_exits(&self) -> bool {
        true
    }

    fn parse(
        &self,
        client_out: &str,
        _server_out: &str,
        _s: &Setting,
    ) -> Result<Measured, OutputError> {
        parse(client_out)
    }
}

/// `key=value` pairs of the lines starting with `prefix` that have `key`.
fn value<'a>(text: &'a str, prefix: &str, key: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .flat_map(str::split_whitespace)
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

fn number(text: &str, prefix: &str, key: &str) -> Option<f64> {
    value(text, prefix, key)?.parse().ok()
}

/// The client's `-v -fparse` output.
pub fn parse(client_out: &str) -> Result<Measured, OutputError> {
    if let Some(error) = client_out.lines().find(|l| l.contains("Error:")) {
        return Err(OutputError::Said(error.trim().to_string()));
    }
    if client_out.contains("classic_mode") {
        return Err(OutputError::Missing(
            "nuttcp could not reach its server's control port and fell back to classic mode \
             (transmitter-only figures): not used"
                .into(),
        ));
    }
    let rx_mbps = number(client_out, "nuttcp-r:", "rate_Mbps")
        .ok_or_else(|| missing("nuttcp printed no receiver (nuttcp-r) rate_Mbps"))?;
    let rx_mib = number(client_out, "nuttcp-r:", "megabytes")
        .ok_or_else(|| missing("nuttcp printed no receiver (nuttcp-r) megabytes"))?;
    let tx_mbps = number(client_out, "nuttcp-t:", "rate_Mbps");
    let tx_mib = number(client_out, "nuttcp-t:", "megabytes");
    if rx_mbps <= 0.0 || rx_mib <= 0.0 {
        return Err(OutputError::Empty("nuttcp reports no bytes received"));
    }
    // `megabytes` are MiB with 4 decimals (about 100 bytes); the rate has the precision.
    let bytes = (rx_mib * 1_048_576.0).round() as u64;
    Ok(Measured {
        side: "receiver",
        gbps: rx_mbps / 1e3,
        bytes,
        seconds: bytes as f64 * 8.0 / (rx_mbps * 1e6),
        sender_gbps: tx_mbps.map(|m| m / 1e3),
        receiver_gbps: Some(rx_mbps / 1e3),
        sender_bytes: tx_mib.map(|m| (m * 1_048_576.0).round() as u64),
        writes: number(client_out, "nuttcp-t:", "io_calls").map(|v| v as u64),
        retransmits: number(client_out, "nuttcp-t:", "retrans").map(|v| v as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::tests::data;

    #[test]
    fn the_receivers_rate_is_the_figure() {
        let m = parse(&data("nuttcp-4k-n1.txt")).unwrap();
        assert_eq!(m.side, "receiver");
        assert!((m.gbps - 4.693_801_7).abs() < 1e-9, "{}", m.gbps);
        assert!((m.sender_gbps.unwrap() - 4.693_978_4).abs() < 1e-9);
        assert_eq!(m.bytes, (564.8789f64 * 1_048_576.0).round() as u64);
        assert_eq!(m.writes, Some(144_609));
        assert_eq!(m.retransmits, Some(0));
    }

    #[test]
    fn several_streams_are_reported_as_one_total() {
        let m = parse(&data("nuttcp-1k-n2.txt")).unwrap();
        assert!((m.gbps - 1.824_158_1).abs() < 1e-9);
        assert_eq!(m.writes, Some(224_428));
        assert_eq!(m.retransmits, None, "no retrans line for two streams");
    }

    #[test]
    fn classic_mode_fallback_is_refused() {
        let e = parse(&data("nuttcp-refused.txt")).unwrap_err().to_string();
        assert!(e.contains("Connection refused"), "{e}");
        let classic = data("nuttcp-refused.txt").replace("Error: connect", "note");
        assert!(parse(&classic)
            .unwrap_err()
            .to_string()
            .contains("classic mode"));
    }
}
