//! `cargo xtask`: the project's own tasks.
//!
//! - `cargo xtask bench`: the main job. Builds copybench in release, runs the default sweep
//!   (all strategies, 1k/4k/16k/64k, 1/2/4/8 threads, 3 repetitions; netns when privileged,
//!   loopback otherwise) and a request/response sweep, then renders the HTML report, all under
//!   `target/copybench/<timestamp>/`.
//! - `cargo xtask test`: installs what the tests need (`scripts/install-deps.sh`) and runs every
//!   test of the workspace. `.ci/run` calls exactly this.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("+ {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

fn install_deps() -> Result<()> {
    run(Command::new("bash").arg(workspace_root().join("scripts/install-deps.sh")))
}

fn timestamp() -> Result<String> {
    let out = Command::new("date").arg("+%Y%m%d-%H%M%S").output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// Options of `cargo xtask bench`, passed on to `copybench run` (e.g. `--duration 1s`).
fn bench(extra: &[String]) -> Result<()> {
    install_deps()?;
    run(cargo().args(["build", "--release", "-p", "copybench-cli"]))?;
    let copybench = target_dir().join("release/copybench");
    let out = workspace_root().join("target/copybench").join(timestamp()?);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let path = |name: &str| out.join(name).display().to_string();

    let started = std::time::Instant::now();
    run(Command::new(&copybench)
        .args(["run", "--strategy", "twocopy,scattergather,zerocopy"])
        .args(["--sizes", "1k,4k,16k,64k", "--threads", "1,2,4,8"])
        .args([
            "--duration",
            "2s",
            "--warmup",
            "500ms",
            "--repetitions",
            "3",
        ])
        .args([
            "--out",
            &path("results.json"),
            "--out",
            &path("results.csv"),
            "--out",
            &path("results.md"),
        ])
        .args(extra))?;
    run(Command::new(&copybench)
        .args([
            "run",
            "--mode",
            "rr",
            "--strategy",
            "twocopy,scattergather,zerocopy",
        ])
        .args(["--sizes", "1k,64k", "--threads", "1,2,4,8"])
        .args([
            "--duration",
            "1s",
            "--warmup",
            "200ms",
            "--repetitions",
            "1",
        ])
        .args(["--out", &path("rr.json"), "--out", &path("rr.csv")])
        .args(extra))?;
    let swept = started.elapsed();
    run(Command::new(&copybench).args([
        "plot",
        &path("results.json"),
        &path("rr.json"),
        "-o",
        &path("report.html"),
    ]))?;
    eprintln!(
        "\nsweeps took {:.0} s. Results in {}:\n  results.json, results.csv, results.md (stream)\n  rr.json, rr.csv (request/response)\n  report.html (open in a browser; works offline)",
        swept.as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn test(extra: &[String]) -> Result<()> {
    install_deps()?;
    run(cargo().args(["test", "--workspace"]).args(extra))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench(&args[1..]),
        Some("test") => test(&args[1..]),
        _ => {
            eprintln!(
                "usage:\n  cargo xtask bench [copybench run options]   the default sweep and its report\n  \
                 cargo xtask test [cargo test options]        install test dependencies, run every test"
            );
            std::process::exit(2);
        }
    }
}
