//! iperf 2 (2.1.8 in Debian 12, command `iperf`): CSV reports (`-y C`) on both sides.
//!
//! Server: `taskset -c RCPU iperf -s -B ADDR -p PORT -y C` (iperf 2 has no affinity option;
//! its `-1` only serialises clients, so the server stays up and is stopped once it has
//! reported).
//! Client: `taskset -c SCPU iperf -c ADDR -p PORT -l SIZE -t SECS -P N -y C`.
//!
//! Each side prints one CSV line per connection when it ends:
//! `timestamp,src_ip,src_port,dst_ip,dst_port,transfer_id,interval,bytes,bits_per_second`
//! (a `SUM` line, transfer id -1, may follow for several connections; it is skipped and the
//! connections are summed here). The server's lines are the receiver-side figure. The exit
//! status means nothing: a refused connection exits 0 with no CSV line, so a missing line is
//! the failure.

use super::iperf3::args;
use super::{Measured, OutputError, Peer, Setting};

pub struct Iperf2;

impl Peer for Iperf2 {
    fn name(&self) -> &'static str {
        "iperf"
    }

    fn program(&self) -> &'static str {
        "iperf"
    }

    fn unsupported(&self, _size: usize, _threads: usize) -> Option<String> {
        None
    }

    fn server(&self, s: &Setting) -> Vec<String> {
        args(&[
            "taskset",
            "-c",
            &s.receiver_cpu.to_string(),
            "iperf",
            "-s",
            "-B",
            &s.addr.to_string(),
            "-p",
            &s.port.to_string(),
            "-y",
            "C",
        ])
    }

    fn client(&self, s: &Setting) -> Vec<String> {
        args(&[
            "taskset",
            "-c",
            &s.sender_cpu.to_string(),
            "iperf",
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
            "-y",
            "C",
        ])
        .into_iter()
        // `-b`: bits per second (one connection: `copybench peers --rate` runs iperf with
        // one thread only).
        .chain(
            s.rate_bps
                .into_iter()
                .flat_map(|r| ["-b".to_string(), r.to_string()]),
        )
        .collect()
    }

    fn server_exits(&self) -> bool {
        false
    }

    fn server_done(&self, server_out: &str, s: &Setting) -> bool {
        connections(server_out).is_ok_and(|c| c.len() >= s.threads)
    }

    fn parse(
        &self,
        client_out: &str,
        server_out: &str,
        s: &Setting,
    ) -> Result<Measured, OutputError> {
        parse(client_out, server_out, s.threads)
    }
}

/// One connection's CSV report: bytes and bits per second.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Report {
    bytes: u64,
    bps: f64,
}

/// The per-connection lines of one side's CSV output (the SUM line left out).
fn connections(csv: &str) -> Result<Vec<Report>, OutputError> {
    let mut out = Vec::new();
    for line in csv.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = line.split(',').collect();
        if cols.len() < 9 {
            return Err(OutputError::Malformed(format!(
                "iperf CSV line has {} fields, expected 9: {line}",
                cols.len()
            )));
        }
        if cols[5].trim() == "-1" {
            continue; // iperf's own sum over the connections
        }
        let bytes = cols[7].trim().parse::<u64>().map_err(|_| {
            OutputError::Malformed(format!(
                "iperf CSV: bytes '{}' is not a number: {line}",
                cols[7]
            ))
        })?;
        let bps = cols[8].trim().parse::<f64>().map_err(|_| {
            OutputError::Malformed(format!(
                "iperf CSV: bits/s '{}' is not a number: {line}",
                cols[8]
            ))
        })?;
        out.push(Report { bytes, bps });
    }
    Ok(out)
}

/// Both sides' CSV reports; `threads` connections are expected on each.
pub fn parse(client_csv: &str, server_csv: &str, threads: usize) -> Result<Measured, OutputError> {
    let side = |csv: &str, who: &str| -> Result<(u64, f64), OutputError> {
        let conns = connections(csv)?;
        if conns.len() != threads {
            return Err(OutputError::Missing(format!(
                "iperf {who} reported {} connections, expected {threads}",
                conns.len()
            )));
        }
        Ok((
            conns.iter().map(|c| c.bytes).sum(),
            conns.iter().map(|c| c.bps).sum(),
        ))
    };
    let (sent, sent_bps) = side(client_csv, "client")?;
    let (received, received_bps) = side(server_csv, "server")?;
    if received == 0 || received_bps <= 0.0 {
        return Err(OutputError::Empty("iperf server reports no bytes received"));
    }
    Ok(Measured {
        side: "receiver",
        gbps: received_bps / 1e9,
        bytes: received,
        // The CSV interval has a tenth of a second's resolution; the rate is exact.
        seconds: received as f64 * 8.0 / received_bps,
        sender_gbps: Some(sent_bps / 1e9),
        receiver_gbps: Some(received_bps / 1e9),
        sender_bytes: Some(sent),
        writes: None,
        retransmits: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::tests::data;

    #[test]
    fn one_connection_gives_the_servers_figure() {
        let m = parse(
            &data("iperf2-client-16k-p1.csv"),
            &data("iperf2-server-16k-p1.csv"),
            1,
        )
        .unwrap();
        assert_eq!(m.side, "receiver");
        assert_eq!(m.bytes, 1_201_537_084);
        assert!((m.gbps - 9.589_339_792).abs() < 1e-9, "{}", m.gbps);
        assert!((m.sender_gbps.unwrap() - 9.440_507_752).abs() < 1e-9);
        assert!((m.seconds - 1.002_4).abs() < 1e-3, "{}", m.seconds);
    }

    #[test]
    fn connections_are_summed() {
        let m = parse(
            &data("iperf2-client-1k-p2.csv"),
            &data("iperf2-server-1k-p2.csv"),
            2,
        )
        .unwrap();
        assert_eq!(m.bytes, 577_022_012 + 556_392_508);
        assert!((m.gbps - (4.610_647_929 + 4.455_823_134)).abs() < 1e-9);
    }

    #[test]
    fn a_refused_connection_prints_nothing_and_is_a_failure() {
        let e = parse(&data("iperf2-client-refused.csv"), "", 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("0 connections"), "{e}");
        // One connection missing from the server's report is a failure too.
        let server = data("iperf2-server-1k-p2.csv");
        let first = server.lines().next().unwrap();
        assert!(parse(&data("iperf2-client-1k-p2.csv"), first, 2).is_err());
        assert!(parse("1,2,3", "", 1).unwrap_err().to_string().contains("9"));
    }
}
