//! Property tests: random and mutated control frames for the frame decoder and for a real
//! server's handler (in this process, over real sockets). Whatever arrives, nothing panics,
//! memory stays bounded, and every connection ends with an `error` frame or a close; a normal
//! client is served afterwards.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::auth::AuthKey;
use super::limits::Limits;
use super::protocol::{read_frame, write_frame, Message, MAX_FRAME};
use super::server::{run, ServerConfig};
use super::Client;
use crate::hooks::CliHooks;

/// Valid bodies of every kind, in and out of order: the seeds that mutations start from.
const SEEDS: &[&str] = &[
    r#"{"type":"hello","protocol":2,"tool_version":"x"}"#,
    r#"{"type":"hello","protocol":2,"tool_version":"x","nonce":"abababababababababababababababababababababababababababababababab"}"#,
    r#"{"type":"hello","protocol":1,"tool_version":"0.0.1"}"#,
    r#"{"type":"auth","proof":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
    r#"{"type":"bye"}"#,
    r#"{"type":"phase","phase":1}"#,
    r#"{"type":"phase","phase":3}"#,
    r#"{"type":"phase","phase":200}"#,
    r#"{"type":"prepare","params":{"strategy":"twocopy","msg_size":1024,"threads":1,"repetition":0,"mode":"stream","fields":1,"pool":4,"align":"page","warmup":{"secs":0,"nanos":0},"duration":{"secs":0,"nanos":100000000},"drain_timeout":{"secs":1,"nanos":0}}}"#,
    r#"{"type":"prepare","params":{"strategy":"sg","msg_size":1024,"threads":3,"repetition":0,"mode":"rr","fields":8,"pool":null,"align":"offset:96","warmup":{"secs":0,"nanos":0},"duration":{"secs":0,"nanos":100000000},"drain_timeout":{"secs":1,"nanos":0}}}"#,
    r#"{"type":"ready","ports":[1,2]}"#,
    r#"{"type":"report","receivers":[]}"#,
    r#"{"type":"error","message":"x","closing":true}"#,
    r#"{"type":"welcome","protocol":2,"tool_version":"x"}"#,
    r#"{"type":"challenge","nonce":"00","proof":"00"}"#,
];

/// How one frame is spoiled.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
}

/// One frame as sent: a seed, spoiled, behind a length prefix that may lie.
#[derive(Debug, Clone)]
enum Item {
    Frame {
        seed: usize,
        mutations: Vec<Mutation>,
        prefix: Option<u32>,
    },
    Raw(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip(at, bit)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Insert(at, b)),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => (
            0..SEEDS.len(),
            prop_oneof![2 => Just(Vec::new()), 1 => prop::collection::vec(mutation(), 1..3)],
            prop_oneof![3 => Just(None), 1 => any::<u32>().prop_map(Some)],
        )
            .prop_map(|(seed, mutations, prefix)| Item::Frame { seed, mutations, prefix }),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Item::Raw),
    ]
}

fn encode(items: &[Item]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Raw(bytes) => out.extend_from_slice(bytes),
            Item::Frame {
                seed,
                mutations,
                prefix,
            } => {
                let mut body = SEEDS[*seed].as_bytes().to_vec();
                for m in mutations {
                    match *m {
                        Mutation::Flip(at, bit) if !body.is_empty() => {
                            let at = at % body.len();
                            body[at] ^= 1 << bit;
                        }
                        Mutation::Truncate(at) => body.truncate(at % (body.len() + 1)),
                        Mutation::Insert(at, b) => body.insert(at % (body.len() + 1), b),
                        Mutation::Flip(..) => {}
                    }
                }
                let len = prefix.unwrap_or(body.len() as u32);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&body);
            }
        }
    }
    out
}

/// A reader that counts what was taken from it.
struct Counting<R> {
    inner: R,
    taken: usize,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken += n;
        Ok(n)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The decoder never panics, never reads past one frame, and what it accepts encodes
    /// back to a message of the same kind.
    #[test]
    fn the_frame_decoder_takes_anything(items in prop::collection::vec(item(), 1..4)) {
        let bytes = encode(&items);
        let mut input = Counting { inner: &bytes[..], taken: 0 };
        if let Ok(message) = read_frame(&mut input) {
            let mut again = Vec::new();
            write_frame(&mut again, &message).unwrap();
            prop_assert_eq!(read_frame(&again[..]).unwrap().kind(), message.kind());
        }
        prop_assert!(input.taken <= 4 + MAX_FRAME);
    }
}

#[test]
fn a_lying_length_prefix_reads_no_more_than_it_may() {
    // Announces the largest frame, then sends an endless stream: read up to the limit only.
    let endless = std::io::repeat(b' ');
    let mut input = Counting {
        inner: std::io::Cursor::new((MAX_FRAME as u32).to_be_bytes()).chain(endless),
        taken: 0,
    };
    assert!(read_frame(&mut input).is_err());
    assert_eq!(input.taken, 4 + MAX_FRAME);
    // One byte over: refused from the prefix alone.
    let mut input = Counting {
        inner: std::io::Cursor::new(((MAX_FRAME + 1) as u32).to_be_bytes())
            .chain(std::io::repeat(0)),
        taken: 0,
    };
    assert!(read_frame(&mut input).is_err());
    assert_eq!(input.taken, 4);
}

/// A server in this process (no signal handlers), stopped when dropped.
struct InProcess {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcess {
    fn start(key: Option<AuthKey>) -> InProcess {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let config = ServerConfig {
            listen: addr,
            counters: false,
            limits: Limits {
                max_threads: 2,
                max_memory: 16 << 20,
                max_duration: Duration::from_secs(1),
                max_points: 3,
            },
            handshake_timeout: Duration::from_millis(500),
            idle_timeout: Duration::from_millis(500),
            key,
            pin: None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || run(&listener, config, flag).unwrap());
        InProcess {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends `bytes`, closes our side, and returns every frame the server sent before it
/// closed; fails if it does not close or sends anything but whole, valid frames.
fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> Result<Vec<Message>, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let _ = s.write_all(bytes); // the server may have closed already: its right
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut reply = Vec::new();
    match s.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => return Err(format!("the server did not close: {e}")),
    }
    let mut input = &reply[..];
    let mut frames = Vec::new();
    while !input.is_empty() {
        frames.push(read_frame(&mut input).map_err(|e| format!("server sent {e}"))?);
    }
    Ok(frames)
}

#[test]
fn a_server_answers_random_and_mutated_sessions_with_an_error_or_a_close() {
    let open = InProcess::start(None);
    let keyed = InProcess::start(Some(AuthKey::for_tests(b"0123456789abcdef0123")));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    });
    // Most cases start as a real session would (hello, then a valid prepare), so that the
    // mutations reach the session's and the point's handling, not only the handshake.
    let strategy = (
        0..3usize,
        prop::collection::vec(item(), 1..6),
        any::<bool>(),
    );
    let (welcomed, readied) = (AtomicUsize::new(0), AtomicUsize::new(0));
    runner
        .run(&strategy, |(lead, items, with_key)| {
            let addr = if with_key { keyed.addr } else { open.addr };
            let lead = [0, 8].iter().take(lead).map(|&seed| Item::Frame {
                seed,
                mutations: Vec::new(),
                prefix: None,
            });
            let items: Vec<Item> = lead.chain(items).collect();
            let frames = exchange(addr, &encode(&items)).map_err(TestCaseError::fail)?;
            if frames.iter().any(|f| matches!(f, Message::Welcome { .. })) {
                welcomed.fetch_add(1, Ordering::Relaxed);
            }
            if frames.iter().any(|f| matches!(f, Message::Ready { .. })) {
                readied.fetch_add(1, Ordering::Relaxed);
            }
            // A session ends with an error, or closes after what it answered (a bye, our
            // close); the server never sends what a client sends.
            for f in &frames {
                prop_assert!(
                    !matches!(
                        f,
                        Message::Hello { .. }
                            | Message::Prepare { .. }
                            | Message::Phase { .. }
                            | Message::Auth { .. }
                            | Message::Bye
                    ),
                    "{:?}",
                    frames
                );
            }
            Ok(())
        })
        .unwrap();
    let (welcomed, readied) = (welcomed.into_inner(), readied.into_inner());
    assert!(
        welcomed > 20 && readied > 10,
        "{welcomed} sessions, {readied} points"
    );
    // Both still serve a normal client, one point through.
    let client = Client::connect(&open.addr.to_string(), None).unwrap();
    let mut p =
        copybench_core::engine::PointParams::new(copybench_core::StrategyKind::TwoCopy, 4096, 1);
    p.warmup = Duration::ZERO;
    p.duration = Duration::from_millis(100);
    let hooks = CliHooks::new(None, None, false);
    let point = client
        .run_point(&p, &hooks, &AtomicBool::new(false))
        .unwrap();
    assert!(point.verified, "{:?}", point.error);
    drop(client);
    let key = AuthKey::for_tests(b"0123456789abcdef0123");
    let client = Client::connect(&keyed.addr.to_string(), Some(&key)).unwrap();
    let point = client
        .run_point(&p, &hooks, &AtomicBool::new(false))
        .unwrap();
    assert!(point.verified, "{:?}", point.error);
}
