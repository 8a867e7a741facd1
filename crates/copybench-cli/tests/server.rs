//! A `copybench server` that can be left running: one test at a time, limits, deadlines,
//! authentication, whole results, a clean stop, and abuse it survives. Real processes and
//! real sockets on 127.0.0.1; every server and background client is killed when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use copybench_core::result::RunResults;
use serde_json::Value;

use crate::common::{copybench, stderr_of, Reaped, Server};

const SG_4K: &[&str] = &["--sizes", "4k", "--strategy", "sg"];

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

const HELLO: &str = r#"{"type":"hello","protocol":2,"tool_version":"test"}"#;

/// A hand-driven control connection.
struct Raw(TcpStream);

impl Raw {
    fn connect(server: &Server) -> Raw {
        let s = TcpStream::connect(&server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw(s)
    }

    /// Sends bytes; the server may have closed already, which is its right.
    fn send(&mut self, bytes: &[u8]) {
        let _ = self.0.write_all(bytes);
    }

    fn send_json(&mut self, json: &str) {
        self.send(&frame(json.as_bytes()));
    }

    /// The next frame, or `None` once the server closed.
    fn next(&mut self) -> Option<Value> {
        let mut len = [0u8; 4];
        self.0.read_exact(&mut len).ok()?;
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        self.0.read_exact(&mut body).ok()?;
        Some(serde_json::from_slice(&body).expect("the server sends valid JSON"))
    }

    /// Every frame until the server closes; panics if it does not close within 10 s.
    fn rest(&mut self) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let mut len = [0u8; 4];
            match self.0.read_exact(&mut len) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    panic!("the server did not close: {frames:?}")
                }
                Err(_) => return frames,
            }
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            self.0.read_exact(&mut body).unwrap();
            frames.push(serde_json::from_slice(&body).unwrap());
        }
    }

    /// The text of the last error frame before the server closed.
    fn refusal(&mut self) -> String {
        let frames = self.rest();
        let last = frames
            .last()
            .unwrap_or_else(|| panic!("no frame before close"));
        assert_eq!(last["type"], "error", "{frames:?}");
        assert_eq!(last["closing"], true, "{frames:?}");
        last["message"].as_str().unwrap().to_string()
    }
}

fn results(path: &Path) -> RunResults {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A key file with `key`, readable by its owner only.
fn key_file(dir: &Path, name: &str, key: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, key).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn one_test_at_a_time_others_are_told_busy_until_it_ends() {
    let server = Server::start(&[]);
    // A connection that never finishes its handshake holds nothing.
    let _silent = TcpStream::connect(&server.addr).unwrap();
    let long = ["--duration", "3s", "--warmup", "0"];
    let first = Reaped::spawn(server.client(&[SG_4K, &long].concat()));
    assert!(
        server.wait_log("session started", Duration::from_secs(10)),
        "{}",
        server.log()
    );
    let started = Instant::now();
    let out = server.run(SG_4K);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("busy: another test is running (from 127.0.0.1:") && err.contains(" since 20"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "busy is told at once"
    );
    let first = first.finish();
    assert!(first.status.success(), "{}", stderr_of(&first));
    // The session ended with the first client: the server is free again.
    let out = server.run(SG_4K);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn points_beyond_the_limits_are_refused_naming_the_flag() {
    let limits = [
        "--max-threads",
        "2",
        "--max-memory",
        "4m",
        "--max-duration",
        "2s",
        "--max-points",
        "4",
    ];
    let server = Server::start(&limits);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out_flag = ["--out", json.to_str().unwrap()];
    // Only the refused point fails; the session goes on with the next one.
    // A small pool, so that only the point meant to exceed --max-memory does (the default pool
    // holds twice what a socket may have in flight: 8 MiB).
    let pool = ["--pool", "64"];
    let out = server.run(&[SG_4K, &["--threads", "3,1"], &pool, &out_flag].concat());
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let r = results(&json);
    assert_eq!((r.points.len(), r.failures.len()), (1, 1));
    assert!(
        r.failures[0].error.contains("--max-threads"),
        "{:?}",
        r.failures
    );
    for (extra, flag) in [
        (&["--sizes", "64k", "--pool", "128"][..], "--max-memory"),
        (
            &["--duration", "2s", "--warmup", "500ms", "--pool", "64"][..],
            "--max-duration",
        ),
    ] {
        let out = server.run(&[&["--strategy", "sg"][..], extra].concat());
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(flag) && err.contains("limits"), "{err}");
    }
    // The fifth point of a session ends it; the four before are kept.
    let sizes = ["--sizes", "1k,2k,3k,4k,5k", "--strategy", "sg"];
    let out = server.run(&[&sizes[..], &pool, &out_flag].concat());
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--max-points"), "{err}");
    let r = results(&json);
    assert_eq!(r.points.len(), 4);
    assert!(!r.complete);
    assert!(r.interrupted.unwrap().contains("--max-points"));
}

#[test]
fn silent_slow_and_truncated_handshakes_are_cut_off_at_the_deadline() {
    let server = Server::start(&["--handshake-timeout", "1s"]);
    let started = Instant::now();
    let message = Raw::connect(&server).refusal();
    assert!(message.contains("did not complete within 1s"), "{message}");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");

    // A byte every 100 ms would take 6 s for the hello: the deadline is for the whole frame.
    let mut slow = Raw::connect(&server);
    let mut writer = slow.0.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for b in frame(HELLO.as_bytes()) {
            if writer.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let started = Instant::now();
    let message = slow.refusal();
    assert!(message.contains("did not complete"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(3));
    trickle.join().unwrap();

    // Announces 100 bytes, sends 10, waits.
    let mut truncated = Raw::connect(&server);
    truncated.send(&frame(&[b' '; 100])[..14]);
    assert!(truncated.refusal().contains("did not complete"));

    let out = server.run(SG_4K);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn an_idle_session_times_out_and_frees_the_server() {
    let server = Server::start(&["--idle-timeout", "1s"]);
    let mut idle = Raw::connect(&server);
    idle.send_json(HELLO);
    let welcome = idle.next().unwrap();
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert!(welcome["host"]["kernel"].is_string(), "{welcome}");
    let started = Instant::now();
    let message = idle.refusal();
    assert!(
        message.contains("idle") && message.contains("--idle-timeout"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    let out = server.run(SG_4K);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn with_a_key_only_clients_holding_it_may_run() {
    let dir = tempfile::tempdir().unwrap();
    let right = key_file(dir.path(), "right", "correct horse battery staple\n");
    let wrong = key_file(dir.path(), "wrong", "incorrect donkey battery staple");
    let server = Server::start(&["--auth-key-file", right.to_str().unwrap()]);
    assert!(!server.log().contains("anyone who can reach"));

    let out = server.run(&[SG_4K, &["--auth-key-file", right.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", stderr_of(&out));

    let out = server.run(SG_4K);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("requires authentication") && err.contains("--auth-key-file"),
        "{err}"
    );

    // The client checks the server's proof first: a wrong key is caught on the client.
    let out = server.run(&[SG_4K, &["--auth-key-file", wrong.to_str().unwrap()]].concat());
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("does not hold the key"), "{err}");

    // And the server checks the client's: a made-up proof is refused.
    let mut raw = Raw::connect(&server);
    let nonce = "ab".repeat(32);
    raw.send_json(&format!(
        r#"{{"type":"hello","protocol":2,"tool_version":"x","nonce":"{nonce}"}}"#
    ));
    let challenge = raw.next().unwrap();
    assert_eq!(challenge["type"], "challenge", "{challenge}");
    raw.send_json(&format!(
        r#"{{"type":"auth","proof":"{}"}}"#,
        "00".repeat(32)
    ));
    let message = raw.refusal();
    assert!(message.contains("authentication failed"), "{message}");
    // Without a nonce there is nothing to prove.
    let mut raw = Raw::connect(&server);
    raw.send_json(HELLO);
    assert!(raw.refusal().contains("requires authentication"));
    // Nothing past the handshake without the key: a prepare instead of auth is refused.
    let mut raw = Raw::connect(&server);
    raw.send_json(&format!(
        r#"{{"type":"hello","protocol":2,"tool_version":"x","nonce":"{nonce}"}}"#
    ));
    raw.next().unwrap();
    raw.send_json(r#"{"type":"bye"}"#);
    assert!(raw.refusal().contains("expected auth"));
}

#[test]
fn without_a_key_the_server_warns_and_a_keyed_client_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "key", "0123456789abcdef0123");
    let server = Server::start(&[]);
    assert!(server.wait_log("anyone who can reach", Duration::from_secs(5)));
    let out = server.run(&[SG_4K, &["--auth-key-file", key.to_str().unwrap()]].concat());
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("does not authenticate"), "{err}");
}

#[test]
fn missing_unreadable_or_short_key_files_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let short = key_file(dir.path(), "short", "tiny");
    let missing = dir.path().join("missing");
    for file in [&short, &missing] {
        let file = file.to_str().unwrap();
        let server = copybench()
            .args(["server", "--listen", "127.0.0.1:0", "--auth-key-file", file])
            .output()
            .unwrap();
        let client = copybench()
            .args(["run", "--connect", "127.0.0.1:9", "--auth-key-file", file])
            .output()
            .unwrap();
        for out in [server, client] {
            let err = stderr_of(&out);
            assert_eq!(out.status.code(), Some(2), "{err}");
            assert!(err.contains("--auth-key-file"), "{err}");
        }
    }
    let out = copybench()
        .args(["run", "--topology", "loopback", "--auth-key-file"])
        .arg(&short)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("goes with --connect"));
}

#[test]
fn sigterm_tells_the_client_which_keeps_its_points_and_the_server_exits_0() {
    let mut server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let client = Reaped::spawn(server.client(&[
        "--sizes",
        "1k,2k,3k,4k,5k,6k,7k,8k",
        "--strategy",
        "sg",
        "--duration",
        "500ms",
        "--warmup",
        "0",
        "--out",
        json.to_str().unwrap(),
    ]));
    let started = Instant::now();
    while std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str::<RunResults>(&t).ok())
        .is_none_or(|r| r.points.is_empty())
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no point finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.signal(rustix::process::Signal::TERM);
    let status = server.wait_exit(Duration::from_secs(6));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", server.log());
    let out = client.finish();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("server shutting down"), "{err}");
    let r = results(&json);
    assert!(
        !r.points.is_empty() && r.points.len() < 8,
        "{}",
        r.points.len()
    );
    assert!(r.points.iter().all(|p| p.verified));
    assert!(!r.complete);
    assert!(r.interrupted.unwrap().contains("server shutting down"));

    // Ctrl-C on an idle server: exit 0 too.
    let mut idle = Server::start(&[]);
    idle.signal(rustix::process::Signal::INT);
    let status = idle.wait_exit(Duration::from_secs(5));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", idle.log());
}

#[test]
fn remote_points_carry_the_receiving_hosts_facts_cpu_and_pinning() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = (cpus - 1).to_string();
    let server = Server::start(&["--receiver-cpus", &cpu]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = server.run(&[SG_4K, &["--threads", "2", "--out", json.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", stderr_of(&out));
    let r = results(&json);
    let host = r.config.topology.receiver_host.expect("the receiving host");
    assert!(host.kernel.is_some() && host.cores.is_some(), "{host:?}");
    assert_eq!(host.kernel, r.host.kernel, "one machine here");
    for p in &r.points {
        let cpu_time = p.receiver_system_cpu.as_ref().expect("receiver CPU");
        assert!(cpu_time.user_ns + cpu_time.system_ns + cpu_time.idle_ns > 0);
        for t in &p.per_thread {
            assert_eq!(t.receiver_cpu, Some(cpus - 1), "{:?}", p.per_thread);
        }
    }
    let out = server.run(&[SG_4K, &["--receiver-cpus", "0"]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("copybench server --receiver-cpus"));
}

#[test]
fn every_server_flag_is_checked_naming_it() {
    for (flag, bad) in [
        ("--max-threads", "0"),
        ("--max-threads", "257"),
        ("--max-memory", "1k"),
        ("--max-memory", "65g"),
        ("--max-duration", "0"),
        ("--max-duration", "2h"),
        ("--max-points", "0"),
        ("--handshake-timeout", "10ms"),
        ("--handshake-timeout", "2m"),
        ("--idle-timeout", "0"),
        ("--idle-timeout", "500ms"),
        ("--receiver-cpus", "100000"),
        ("--receiver-cpus", "x"),
    ] {
        let out = copybench()
            .args(["server", "--listen", "127.0.0.1:0", flag, bad])
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {bad}: {err}");
        assert!(err.contains(flag), "{flag} {bad}: {err}");
    }
}

/// Every way a client can misbehave, against a live server that must answer with an error
/// or close, stay up, and then serve a normal client.
#[test]
fn a_live_server_survives_abuse_and_then_serves_a_normal_client() {
    let mut server = Server::start(&["--handshake-timeout", "1s"]);
    let hello_then = |second: &str| {
        let mut f = frame(HELLO.as_bytes());
        f.extend(frame(second.as_bytes()));
        f
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not json", frame(b"this is not json")),
        ("not utf-8", frame(&[0xff, 0xfe, 0x00, 0x80])),
        ("empty body", frame(b"")),
        ("missing fields", frame(br#"{"type":"hello"}"#)),
        ("unknown type", frame(br#"{"type":"launch","x":1}"#)),
        ("deep nesting", frame(&[b'['; 3000])),
        ("oversized prefix", u32::MAX.to_be_bytes().to_vec()),
        ("over the handshake limit", frame(&[b' '; 5000])),
        ("two-byte prefix", vec![0, 0]),
        ("truncated body", frame(HELLO.as_bytes())[..20].to_vec()),
        ("prepare first", frame(br#"{"type":"prepare","params":{}}"#)),
        ("auth unasked", frame(br#"{"type":"auth","proof":"00"}"#)),
        (
            "welcome from a client",
            frame(br#"{"type":"welcome","protocol":2,"tool_version":"x"}"#),
        ),
        (
            "phase out of order",
            hello_then(r#"{"type":"phase","phase":2}"#),
        ),
        ("hello twice", hello_then(HELLO)),
        (
            "bad params",
            hello_then(r#"{"type":"prepare","params":{"strategy":"twocopy","msg_size":0}}"#),
        ),
        ("garbage after hello", hello_then("\u{1}\u{2}")),
        (
            "prepare then close",
            hello_then(
                r#"{"type":"prepare","params":{"strategy":"twocopy","msg_size":1024,"threads":1,"repetition":0,"mode":"stream","fields":1,"pool":4,"align":"page","warmup":{"secs":0,"nanos":1},"duration":{"secs":1,"nanos":0},"drain_timeout":{"secs":1,"nanos":0}}}"#,
            ),
        ),
    ];
    for (what, bytes) in &cases {
        let mut raw = Raw::connect(&server);
        raw.send(bytes);
        let _ = raw.0.shutdown(std::net::Shutdown::Write);
        let started = Instant::now();
        let frames = raw.rest();
        assert!(started.elapsed() < Duration::from_secs(5), "{what}");
        if let Some(last) = frames.last() {
            assert!(
                last["type"] == "error" || last["type"] == "welcome" || last["type"] == "ready",
                "{what}: {frames:?}"
            );
        }
        assert!(server.alive(), "{what} killed the server");
    }
    // A pseudo-random stream of bytes of many lengths.
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for len in [1, 3, 4, 5, 17, 100, 1000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut raw = Raw::connect(&server);
        raw.send(&bytes);
        let _ = raw.0.shutdown(std::net::Shutdown::Write);
        raw.rest();
    }
    // A flood of silent connections: at most 16 are kept waiting, the rest told at once.
    let flood: Vec<Raw> = (0..24).map(|_| Raw::connect(&server)).collect();
    let mut told = 0;
    for mut raw in flood {
        if raw.refusal().contains("too many connections") {
            told += 1;
        }
    }
    assert!(told >= 8, "{told}");
    assert!(server.alive());
    let out = server.run(SG_4K);
    assert!(out.status.success(), "{}", stderr_of(&out));
}
