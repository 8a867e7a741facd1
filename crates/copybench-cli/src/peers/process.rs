//! Peer processes that never outlive copybench.
//!
//! Three layers, from the common case to the worst one:
//! - [`Proc`] kills (SIGKILL) and reaps its process when dropped: every early return, error or
//!   panic unwinding through the run ends the peers it started;
//! - Ctrl-C sets the run's cancel flag, which every wait here polls, so the run unwinds;
//! - each child asks the kernel for SIGKILL when its parent dies (`PR_SET_PDEATHSIG`), which
//!   covers the cases no destructor runs in: `kill -9` of copybench, a second Ctrl-C
//!   (`process::exit`), a panic with `panic = abort`.
//!
//! The namespace is joined in the child itself (`setns` between `fork` and `exec`), so that the
//! spawning thread stays where it is. That matters: the death signal fires when the *thread*
//! that forked the child ends, not the process, so children must be spawned from a thread that
//! lives as long as the run (the command's own thread), never from a short-lived helper such as
//! [`copybench_net::Topology::run_in`]'s.

use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

/// Why waiting for a peer process stopped.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The run was cancelled (Ctrl-C).
    #[error("cancelled")]
    Cancelled,
    /// Anything else, in words.
    #[error("{0}")]
    Failed(String),
}

/// Why a peer process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The peer gave no command line.
    #[error("{what}: empty command")]
    Empty {
        /// What it is (`iperf3 server`).
        what: String,
    },
    /// `fork`/`exec` failed (not installed, not executable, the namespace refused).
    #[error("{what}: starting {program}: {source}")]
    Start {
        /// What it is (`iperf3 server`).
        what: String,
        /// The program.
        program: String,
        /// What the kernel said.
        source: std::io::Error,
    },
}

/// Output of a pipe, collected by a reader thread as it arrives (so a peer never blocks on a
/// full pipe, and a caller can look at what a still-running server printed so far).
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn reader(&self, mut pipe: impl Read + Send + 'static) -> JoinHandle<()> {
        let sink = self.0.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut all) = sink.lock() {
                    all.extend_from_slice(&buf[..n]);
                }
            }
        })
    }
}

/// A running peer process; killed and reaped on drop.
pub struct Proc {
    /// What it is, for messages (`iperf3 server`).
    pub what: String,
    child: Child,
    pub stdout: Captured,
    pub stderr: Captured,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
    /// Its CPU time (user + system) as `/proc/PID/stat` said between its exit and its reaping.
    exit_cpu: Option<Duration>,
}

/// Starts `argv` with its stdout and stderr captured, inside the network namespace `netns`
/// (or the current one), set to receive SIGKILL when the calling thread ends.
pub fn spawn(
    what: &str,
    argv: &[String],
    netns: Option<BorrowedFd<'_>>,
) -> Result<Proc, SpawnError> {
    let (program, args) = argv.split_first().ok_or_else(|| SpawnError::Empty {
        what: what.to_string(),
    })?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let netns: Option<RawFd> = netns.map(|fd| fd.as_raw_fd());
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // work is allowed. It makes three raw system calls through rustix (setns, prctl, getppid),
    // allocates nothing, takes no lock, and touches only the two integers it captured by value.
    // The namespace fd stays open in the parent for the whole spawn, so it is valid in the child.
    // (The one unsafe block of the binary: allowed here by name where the workspace denies it.)
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = netns {
                let fd = BorrowedFd::borrow_raw(fd);
                rustix::thread::move_into_link_name_space(
                    fd,
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))?;
            }
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
                .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))?;
            // The parent may have died between fork and prctl: then nobody would signal us.
            if rustix::process::getppid() != Some(parent) {
                return Err(std::io::Error::from_raw_os_error(libc_esrch()));
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| SpawnError::Start {
        what: what.to_string(),
        program: program.clone(),
        source,
    })?;
    let stdout = Captured::default();
    let stderr = Captured::default();
    let mut readers = Vec::new();
    if let Some(pipe) = child.stdout.take() {
        readers.push(stdout.reader(pipe));
    }
    if let Some(pipe) = child.stderr.take() {
        readers.push(stderr.reader(pipe));
    }
    Ok(Proc {
        what: what.to_string(),
        child,
        stdout,
        stderr,
        readers,
        status: None,
        exit_cpu: None,
    })
}

/// User + system CPU time of process `pid` from `/proc/PID/stat` (fields 14 and 15, in clock
/// ticks: 10 ms at the usual USER_HZ of 100), threads included; `None` if it cannot be read.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_time_of(&stat)
}

/// [`cpu_time`] from the text of a `/proc/PID/stat` (the command name may hold spaces and
/// parentheses: the fields start after the last `)`).
fn cpu_time_of(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state (field 3) ... utime is field 14, stime field 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    let (utime, stime) = (ticks(14 - 3)?, ticks(15 - 3)?);
    let hz = rustix::param::clock_ticks_per_second().max(1);
    Some(Duration::from_nanos(
        (utime + stime).saturating_mul(1_000_000_000 / hz),
    ))
}

/// Whether child `pid` has exited and waits to be reaped (`waitid` with `WNOWAIT`, which leaves
/// it a zombie whose `/proc/PID/stat` still holds its CPU time); `None` if that cannot be asked.
fn exited_unreaped(pid: u32) -> Option<bool> {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    let pid = Pid::from_raw(pid as i32)?;
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG;
    waitid(WaitId::Pid(pid), options).ok().map(|s| s.is_some())
}

/// ESRCH ("no such process"): the parent is gone.
fn libc_esrch() -> i32 {
    rustix::io::Errno::SRCH.raw_os_error()
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if it has exited (reaps it, after reading its CPU time).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            match exited_unreaped(self.child.id()) {
                Some(false) => return None,
                Some(true) => self.exit_cpu = cpu_time(self.child.id()),
                None => {}
            }
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Its CPU time (user + system, all threads) so far, or at its exit once it exited and was
    /// reaped here; `None` where `/proc` could not tell.
    pub fn cpu_time(&self) -> Option<Duration> {
        if self.status.is_some() {
            self.exit_cpu
        } else {
            cpu_time(self.child.id())
        }
    }

    /// Waits until it exits, at most `limit`, giving up early on `cancel`. On timeout or
    /// cancel the process is still running (drop kills it).
    pub fn wait(&mut self, limit: Duration, cancel: &AtomicBool) -> Result<ExitStatus, WaitError> {
        let end = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_status() {
                self.join_readers();
                return Ok(status);
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(WaitError::Cancelled);
            }
            if Instant::now() >= end {
                return Err(WaitError::Failed(format!(
                    "{} still running after {:.0} s: stopped it",
                    self.what,
                    limit.as_secs_f64()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Asks it to stop (SIGTERM, so it can print its last report), then kills it after
    /// `grace`. Returns once it is reaped.
    pub fn stop(&mut self, grace: Duration) {
        if self.try_status().is_some() {
            self.join_readers();
            return;
        }
        if let Some(pid) = Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, Signal::TERM);
        }
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if self.try_status().is_some() {
                self.join_readers();
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill();
    }

    fn kill(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
        self.join_readers();
    }

    /// Once the process is gone its pipes close; the readers then end.
    fn join_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }

    /// Its stderr (or stdout when stderr is empty), trimmed to the last few lines, for errors.
    pub fn complaint(&self) -> String {
        let err = self.stderr.text();
        let text = if err.trim().is_empty() {
            self.stdout.text()
        } else {
            err
        };
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = &lines[lines.len().saturating_sub(3)..];
        strip_ansi(&tail.join(" | "))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Removes ANSI colour sequences (sockperf colours its notes even into a pipe).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether a TCP socket listens on `port` in the network namespace of process `pid`
/// (`/proc/<pid>/net/tcp{,6}` show that process's namespace, whichever namespace we are in).
/// Looking, rather than connecting, matters: a test connection would count as the server's
/// client (iperf3 `-1` would serve it and exit).
pub fn listening(pid: u32, port: u16) -> bool {
    ["tcp", "tcp6"].iter().any(|table| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{table}"))
            .map(|text| listens_on(&text, port))
            .unwrap_or(false)
    })
}

/// Parses a `/proc/net/tcp` table: a row whose local port is `port` and state is `0A` (LISTEN).
fn listens_on(table: &str, port: u16) -> bool {
    table.lines().skip(1).any(|line| {
        let mut cols = line.split_whitespace();
        let local = cols.nth(1);
        let state = cols.nth(1);
        let local_port = local
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| u16::from_str_radix(p, 16).ok());
        local_port == Some(port) && state == Some("0A")
    })
}

/// Waits until `server` listens on `port`, at most `limit`; fails early when it exits.
pub fn wait_listening(
    server: &mut Proc,
    port: u16,
    limit: Duration,
    cancel: &AtomicBool,
) -> Result<(), WaitError> {
    let end = Instant::now() + limit;
    loop {
        if listening(server.pid(), port) {
            return Ok(());
        }
        if let Some(status) = server.try_status() {
            server.join_readers();
            return Err(WaitError::Failed(format!(
                "{} exited ({status}) before listening on port {port}: {}",
                server.what,
                server.complaint()
            )));
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(WaitError::Cancelled);
        }
        if Instant::now() >= end {
            return Err(WaitError::Failed(format!(
                "{} did not listen on port {port} within {:.0} s",
                server.what,
                limit.as_secs_f64()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Where `program` is on `PATH`, if anywhere.
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_row_is_found_by_port_and_state() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:14E9 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n   1: 0100007F:A0B2 0100007F:14E9 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n";
        assert!(listens_on(table, 0x14E9));
        assert!(
            !listens_on(table, 0xA0B2),
            "an established socket is not a listener"
        );
        assert!(!listens_on(table, 5202));
    }

    #[test]
    fn ansi_colours_are_removed() {
        assert_eq!(
            strip_ansi("sockperf: \u{1b}[2;35m== version #3.7 == \u{1b}[0m"),
            "sockperf: == version #3.7 == "
        );
    }

    #[test]
    fn cpu_time_is_read_from_proc_stat_and_kept_past_exit() {
        // A name with spaces and a parenthesis, 250 ticks user + 50 system.
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 5 0 0";
        let hz = rustix::param::clock_ticks_per_second();
        assert_eq!(
            cpu_time_of(stat),
            Some(Duration::from_nanos(300 * (1_000_000_000 / hz)))
        );
        assert_eq!(cpu_time_of("garbage"), None);
        // A real process that burns CPU, then exits: its time is still known after reaping.
        let mut p = spawn(
            "spinner",
            &[
                "sh".into(),
                "-c".into(),
                "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done".into(),
            ],
            None,
        )
        .unwrap();
        p.wait(Duration::from_secs(30), &AtomicBool::new(false))
            .unwrap();
        let cpu = p.cpu_time().expect("CPU time at exit");
        assert!(cpu >= Duration::from_millis(10), "{cpu:?}");
    }

    #[test]
    fn a_dropped_process_is_killed_and_reaped() {
        let argv = vec!["sleep".to_string(), "30".to_string()];
        let p = spawn("sleep", &argv, None).expect("sleep starts");
        let pid = p.pid();
        drop(p);
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} is still there after drop"
        );
    }
}
