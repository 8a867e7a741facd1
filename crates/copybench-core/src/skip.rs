//! **For tests**: the one way a test that cannot run here says so.
//!
//! A test that needs root or a tool may skip on a developer's machine, but a skip must not
//! read as a pass: [`skip`] prints `SKIPPED: <test>: <why>`, appends that line to the file
//! named by [`SKIP_LOG_ENV`] (which `cargo xtask test` sets, counts, and subtracts from the
//! passed tests), and with `CI=true` (CI runs as root with every dependency installed) fails
//! the test instead.

use std::io::Write as _;

/// Environment variable naming the file skips are appended to (`cargo xtask test` sets it).
pub const SKIP_LOG_ENV: &str = "COPYBENCH_SKIP_LOG";

/// The marker every skip line starts with.
pub const SKIP_MARKER: &str = "SKIPPED: ";

/// Whether this is CI (`CI=true`), where a skip is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Marks the calling test as skipped because of `why`; the caller returns right after. Under
/// `CI=true` it panics instead: there the test must run.
pub fn skip(why: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("unnamed test");
    assert!(
        !in_ci(),
        "{test}: would be skipped ({why}), and with CI=true a skip is a failure"
    );
    let line = format!("{SKIP_MARKER}{test}: {why}");
    eprintln!("{line}");
    if let Some(path) = std::env::var_os(SKIP_LOG_ENV) {
        // One write of one line per skip, appended: tests of several binaries and threads
        // share the file.
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = written {
            panic!(
                "{test}: cannot record the skip in {}: {e}",
                path.to_string_lossy()
            );
        }
    }
}
