//! `copybench server` and `copybench run --topology remote` between two processes over
//! loopback, and a server that refuses malformed, oversized and wrong-version control messages
//! while it keeps serving others.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use copybench_core::result::RunResults;
use copybench_core::StrategyKind;

use crate::common::Server;

fn client_run(server: &Server, extra: &[&str]) -> std::process::Output {
    server.run(extra)
}

#[test]
fn a_client_streams_every_strategy_to_a_server_which_verifies() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("remote.json");
    let out = client_run(
        &server,
        &[
            "--sizes",
            "1,1001,64k",
            "--threads",
            "1,2",
            "--out",
            json.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: RunResults = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r.config.topology.kind.name(), "remote");
    assert_eq!(
        r.config.topology.receiver_addr.as_deref(),
        Some(server.addr.as_str())
    );
    assert_eq!(r.points.len(), StrategyKind::DEFAULT.len() * 3 * 2);
    for p in &r.points {
        assert!(p.verified, "{} {}: {:?}", p.strategy, p.msg_size, p.error);
        // The server's receivers report what they received and measured.
        for t in &p.per_thread {
            assert!(t.received_bytes.unwrap() > 0);
            assert!(
                t.receiver_counters.is_some(),
                "receiver counters come back from the server"
            );
        }
    }
    // rr works remotely too.
    let out = client_run(
        &server,
        &["--mode", "rr", "--sizes", "512", "--strategy", "zc"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// Sends raw bytes as a client would and returns the server's error frame text.
fn send_raw(server: &Server, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut reply = Vec::new();
    // The server answers with an error frame and closes: read to the end.
    let _ = s.read_to_end(&mut reply);
    assert!(reply.len() > 4, "no error frame in reply {reply:?}");
    String::from_utf8_lossy(&reply[4..]).into_owned()
}

#[test]
fn bad_control_messages_get_clear_errors_and_the_server_keeps_serving() {
    let mut server = Server::start(&[]);
    let garbage = send_raw(&server, &frame(b"this is not json"));
    assert!(
        garbage.contains("\"type\":\"error\"") && garbage.contains("malformed"),
        "{garbage}"
    );

    let oversized = send_raw(&server, &u32::MAX.to_be_bytes());
    assert!(oversized.contains("larger than"), "{oversized}");

    let version = send_raw(
        &server,
        &frame(br#"{"type":"hello","protocol":99,"tool_version":"9.9.9"}"#),
    );
    assert!(
        version.contains("protocol version 99") && version.contains("speaks version 2"),
        "{version}"
    );

    let no_hello = send_raw(&server, &frame(br#"{"type":"bye"}"#));
    assert!(no_hello.contains("expected hello"), "{no_hello}");

    let hello = br#"{"type":"hello","protocol":2,"tool_version":"test"}"#;
    let mut bad_params = frame(hello);
    bad_params.extend(frame(
        br#"{"type":"prepare","params":{"strategy":"twocopy","msg_size":0}}"#,
    ));
    let reply = send_raw(&server, &bad_params);
    assert!(
        reply.contains("malformed") || reply.contains("invalid"),
        "{reply}"
    );

    assert!(server.alive(), "the server must survive bad clients");
    let out = client_run(&server, &["--sizes", "4k", "--strategy", "sg"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn connecting_to_nothing_is_a_clear_error() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_copybench"))
        .args([
            "run",
            "--connect",
            &format!("127.0.0.1:{port}"),
            "--no-progress",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("copybench server"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_copybench"))
        .args(["run", "--topology", "remote", "--no-progress"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connect"));
}
