//! What the binary's integration tests share: starting `copybench`, and a quick run whose
//! results JSON is read back.
#![allow(dead_code)] // each test file uses its own part

use std::process::Command;

use copybench_core::result::RunResults;
/// Skips the calling test, counted as skipped by `cargo xtask test`; fails under `CI=true`.
pub use copybench_core::skip::skip;

pub fn copybench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_copybench"))
}

/// Short points: enough traffic to verify and measure, quick enough for many of them.
///
/// Unpinned (`--placement none`) unless a test asks for a placement: the tests of one binary
/// run in parallel, and several runs pinned to the same two CPUs at once starve each other's
/// threads (a 200 ms point with no message sent was seen). `fair.rs` tests the default.
/// 500 ms and a small pool: a zero-copy point over loopback can sit 200 ms or more in one
/// blocked send, the more often the more buffers are in flight (measured: 0 of 12 points at a
/// 16-buffer pool, 7 of 12 at the default 2048 at 4 KiB, 300 ms points; docs/stalls.md), and
/// such a point, though kept, measures the stall. The default pool has its own tests.
pub const QUICK: &[&str] = &[
    "--pool",
    "16",
    "--duration",
    "500ms",
    "--warmup",
    "50ms",
    "--repetitions",
    "1",
    "--no-progress",
    "--placement",
    "none",
];

/// Options that set the placement: any of them replaces QUICK's `--placement none`.
const PLACEMENT_FLAGS: [&str; 4] = ["--placement", "--pin", "--sender-cpus", "--receiver-cpus"];

/// The [`QUICK`] options that `extra` does not set itself (clap refuses an option twice).
pub fn quick_unless_in(extra: &[&str]) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < QUICK.len() {
        let takes_value = QUICK.get(i + 1).is_some_and(|v| !v.starts_with("--"));
        let n = if takes_value { 2 } else { 1 };
        let placed = QUICK[i] == "--placement" && PLACEMENT_FLAGS.iter().any(|f| extra.contains(f));
        if !extra.contains(&QUICK[i]) && !placed {
            out.extend_from_slice(&QUICK[i..i + n]);
        }
        i += n;
    }
    out
}

/// `copybench run` with [`QUICK`] and `extra` (which may override QUICK's options), which
/// must succeed; returns the results it wrote.
pub fn run_json(extra: &[&str]) -> RunResults {
    serde_json::from_value(run_value(extra)).unwrap()
}

/// Like [`run_json`], but the results file as untyped JSON (to look at its keys).
pub fn run_value(extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.json");
    let run = || {
        copybench()
            .arg("run")
            .args(quick_unless_in(extra))
            .args(extra)
            .args(["--out", json.to_str().unwrap()])
            .output()
            .unwrap()
    };
    // A stalled point (a zero-copy send over loopback blocked for the whole interval) is a
    // measurement, and the run still exits 0: no retry here (docs/stalls.md).
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A `copybench server` process on 127.0.0.1, killed (and reaped) when dropped so that no
/// test leaves one behind. Its stderr goes to a file the test can read.
pub struct Server {
    child: std::process::Child,
    pub addr: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// `copybench server --listen 127.0.0.1:0` plus `args`; returns once it listens.
    pub fn start(args: &[&str]) -> Server {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let mut child = copybench()
            .args(["server", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split_whitespace()
            .find(|w| w.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server {
            child,
            addr,
            log,
            _dir: dir,
        }
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the server's stderr contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < until {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    pub fn signal(&self, signal: rustix::process::Signal) {
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), signal)
            .unwrap();
    }

    /// The exit status, if the server ends within `timeout`.
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    /// `copybench run --connect` this server with quick points and `extra`.
    pub fn client(&self, extra: &[&str]) -> Command {
        let mut c = copybench();
        c.args(["run", "--connect", &self.addr])
            .args(quick_unless_in(extra))
            .args(extra);
        c
    }

    /// Runs a client to its end.
    pub fn run(&self, extra: &[&str]) -> std::process::Output {
        self.client(extra).output().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed and reaped when dropped (a client a test runs in the background).
pub struct Reaped(pub Option<std::process::Child>);

impl Reaped {
    pub fn spawn(mut command: Command) -> Reaped {
        Reaped(Some(
            command
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        ))
    }

    pub fn finish(mut self) -> std::process::Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
