//! The skip helper: a skip is counted as a skip (the marker line, in the log `cargo xtask
//! test` reads) and, with `CI=true`, is a failure. Proved on this test binary itself, run
//! again as a child with [`CHILD`] set so that only its child half skips.

use std::process::Command;

use copybench_core::skip::{SKIP_LOG_ENV, SKIP_MARKER};

use crate::support::skip;

const CHILD: &str = "COPYBENCH_SKIP_TEST_CHILD";

/// Child half: skips when run as the child, does nothing otherwise (it is the parent's tool).
#[test]
fn child_that_skips() {
    if std::env::var_os(CHILD).is_some() {
        skip("the skip helper's own test");
    }
}

fn child(ci: &str, log: &std::path::Path) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "skip::child_that_skips", "--test-threads", "1"])
        .env(CHILD, "1")
        .env("CI", ci)
        .env(SKIP_LOG_ENV, log)
        .output()
        .unwrap()
}

#[test]
fn a_skip_is_logged_as_skipped_and_fails_under_ci() {
    let dir = std::env::temp_dir().join(format!("copybench-skip-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = RemoveOnDrop(dir.clone());
    let log = dir.join("skips.txt");
    let out = child("", &log);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        logged,
        format!("{SKIP_MARKER}skip::child_that_skips: the skip helper's own test\n")
    );
    let out = child("true", &dir.join("ci.txt"));
    assert!(
        !out.status.success(),
        "with CI=true a skip must fail the test"
    );
    assert!(!dir.join("ci.txt").exists(), "and is not logged as a skip");
}

/// Removes the test's directory when the test ends, failing or not.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
