//! iperf3 (3.12 in Debian 12): the one peer with real machine-readable output (`-J`).
//!
//! Server: `iperf3 -s -1 -B ADDR -p PORT -A RCPU` (one test, then it exits).
//! Client: `iperf3 -c ADDR -p PORT -l SIZE -t SECS -P N -A SCPU -i 0 -J`.
//! The client's JSON has `end.sum_sent` (its own writes) and `end.sum_received` (what the
//! server read, sent back to the client at the end of the test): the receiver-side figure.
//! `-t` is whole seconds (3.12 truncates `1.5` to 1). All `-P` streams run in one thread in
//! 3.12 (multi-threading came with 3.16).

use serde_json::Value;

use super::{Measured, OutputError, Peer, Setting};

pub struct Iperf3;

/// iperf3's largest TCP block (`MAX_BLOCKSIZE`) and most parallel streams (`MAX_STREAMS`).
const MAX_BLOCK: usize = 1 << 20;
const MAX_STREAMS: usize = 128;

impl Peer for Iperf3 {
    fn name(&self) -> &'static str {
        "iperf3"
    }

    fn program(&self) -> &'static str {
        "iperf3"
    }

    fn unsupported(&self, size: usize, threads: usize) -> Option<String> {
        if size > MAX_BLOCK {
            return Some(format!(
                "iperf3 writes at most {MAX_BLOCK} bytes per call (-l)"
            ));
        }
        (threads > MAX_STREAMS).then(|| format!("iperf3 runs at most {MAX_STREAMS} streams (-P)"))
    }

    fn server(&self, s: &Setting) -> Vec<String> {
        args(&[
            "iperf3",
            "-s",
            "-1",
            "-B",
            &s.addr.to_string(),
            "-p",
            &s.port.to_string(),
            "-A",
            &s.receiver_cpu.to_string(),
        ])
    }

    fn client(&self, s: &Setting) -> Vec<String> {
        args(&[
            "iperf3",
            "-c",
            &s.addr.to_string(),
            "-p",
            &s.port.to_string(),
            "-l",
            &s.size.to_string(),
            "-t",
            &s.seconds.to_string(),
            "-P",
            &s.threads.to_string(),
            "-A",
            &s.sender_cpu.to_string(),
            "-i",
            "0",
            "-J",
        ])
        .into_iter()
        // `-b`: bits per second, per stream (iperf3's own pacing of each stream).
        .chain(
            s.rate_bps
                .into_iter()
                .flat_map(|r| ["-b".to_string(), r.to_string()]),
        )
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

pub(super) fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Reads the client's `-J` document.
pub fn parse(json: &str) -> Result<Measured, OutputError> {
    let doc: Value = serde_json::from_str(json)
        .map_err(|e| OutputError::Malformed(format!("iperf3 -J output is not JSON ({e})")))?;
    if let Some(error) = doc.get("error").and_then(Value::as_str) {
        return Err(OutputError::Said(format!("iperf3: {error}")));
    }
    let end = doc
        .get("end")
        .ok_or_else(|| OutputError::Missing("iperf3 -J output has no \"end\" section".into()))?;
    let sum = |name: &str| -> Result<(u64, f64, f64), OutputError> {
        let s = end
            .get(name)
            .ok_or_else(|| OutputError::Missing(format!("iperf3 -J output has no end.{name}")))?;
        let field = |key: &str| {
            s.get(key).and_then(Value::as_f64).ok_or_else(|| {
                OutputError::Missing(format!("iperf3 -J output: end.{name}.{key} missing"))
            })
        };
        Ok((
            field("bytes")? as u64,
            field("seconds")?,
            field("bits_per_second")?,
        ))
    };
    let (sent_bytes, _, sent_bps) = sum("sum_sent")?;
    let (received_bytes, received_s, received_bps) = sum("sum_received")?;
    if received_bytes == 0 || received_s <= 0.0 {
        return Err(OutputError::Empty("iperf3 reports no bytes received"));
    }
    let retransmits = end.pointer("/sum_sent/retransmits").and_then(Value::as_u64);
    Ok(Measured {
        side: "receiver",
        gbps: received_bps / 1e9,
        bytes: received_bytes,
        seconds: received_s,
        sender_gbps: Some(sent_bps / 1e9),
        receiver_gbps: Some(received_bps / 1e9),
        sender_bytes: Some(sent_bytes),
        writes: None,
        retransmits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::tests::data;

    #[test]
    fn one_stream_gives_the_receivers_figure() {
        let m = parse(&data("iperf3-4k-p1.json")).unwrap();
        assert_eq!(m.side, "receiver");
        assert_eq!(m.bytes, 1_024_987_136);
        assert!((m.seconds - 1.000_038).abs() < 1e-9, "{}", m.seconds);
        let gbps = m.receiver_gbps.unwrap();
        assert!((gbps - 8.199_585_5).abs() < 1e-6, "{gbps}");
        assert!((m.gbps - gbps).abs() < 1e-12);
        assert_eq!(m.sender_bytes, Some(1_025_064_960));
        assert!((m.sender_gbps.unwrap() - 8.200_339_3).abs() < 1e-6);
        assert_eq!(m.retransmits, Some(16));
    }

    #[test]
    fn parallel_streams_are_summed_by_iperf3() {
        let m = parse(&data("iperf3-1k-p2.json")).unwrap();
        assert_eq!(m.bytes, 393_078_784);
        assert!((m.receiver_gbps.unwrap() - 3.141_783_8).abs() < 1e-6);
        assert!((m.sender_gbps.unwrap() - 3.199_060_7).abs() < 1e-6);
        assert_eq!(m.retransmits, Some(168));
    }

    #[test]
    fn an_error_document_is_a_failure_naming_the_cause() {
        let e = parse(&data("iperf3-refused.json")).unwrap_err().to_string();
        assert!(e.contains("Connection refused"), "{e}");
        assert!(parse("").is_err());
        assert!(parse("{\"end\": {}}")
            .unwrap_err()
            .to_string()
            .contains("sum_sent"));
    }
}
