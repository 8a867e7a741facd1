//! What the binary's integration tests share: starting `copybench`, and a quick run whose
//! results JSON is read back.
#![allow(dead_code)] // each test file uses its own part

use std::process::Command;

use copybench_core::result::RunResults;

pub fn copybench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_copybench"))
}

/// Short points: enough traffic to verify and measure, quick enough for many of them.
///
/// Unpinned (`--placement none`) unless a test asks for a placement: the tests of one binary
/// run in parallel, and several runs pinned to the same two CPUs at once starve each other's
/// threads (a 200 ms point with no message sent was seen). `fair.rs` tests the default.
pub const QUICK: &[&str] = &[
    "--duration",
    "200ms",
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
    let out = copybench()
        .arg("run")
        .args(quick_unless_in(extra))
        .args(extra)
        .args(["--out", json.to_str().unwrap()])
        .output()
        .unwrap();
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
