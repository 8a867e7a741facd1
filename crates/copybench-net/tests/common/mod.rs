//! Helpers shared by the topology and sink tests.
//!
//! Several tests check that a namespace is gone by looking for its inode number under
//! `/proc/*/task/*/ns/net` and `/proc/*/fd/*`. The kernel reuses freed namespace inode numbers
//! at once, so such a check holds [`NS_LOCK`] for writing while every topology or sink
//! creation holds it for reading: no test can create a namespace that takes a number being
//! checked.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

pub const CHILD_ENV: &str = "COPYBENCH_NET_TEST_CHILD";
pub const TIMEOUT: Duration = Duration::from_secs(5);

pub static NS_LOCK: RwLock<()> = RwLock::new(());

pub fn creating() -> RwLockReadGuard<'static, ()> {
    NS_LOCK.read().unwrap_or_else(|e| e.into_inner())
}

pub fn checking_gone() -> RwLockWriteGuard<'static, ()> {
    NS_LOCK.write().unwrap_or_else(|e| e.into_inner())
}

/// Runs a command in the calling thread's network namespace (a child process inherits the
/// namespace of the thread that spawns it) and returns its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Veth links of the root namespace (the test harness threads never enter a namespace).
pub fn root_veths() -> String {
    run("ip", &["-o", "link", "show", "type", "veth"])
}

pub fn netns_list() -> String {
    run("ip", &["netns", "list"])
}

pub fn thread_netns_inode() -> u64 {
    ns_inode_of("/proc/thread-self/ns/net")
}

pub fn ns_inode_of(path: &str) -> u64 {
    let link = std::fs::read_link(path).unwrap();
    let link = link.to_string_lossy();
    link.trim_start_matches("net:[")
        .trim_end_matches(']')
        .parse()
        .unwrap_or_else(|_| panic!("{path} -> {link}"))
}

/// Every process, thread or open file descriptor on the machine that refers to one of these
/// network namespaces.
pub fn ns_references(inodes: &[u64]) -> Vec<String> {
    let wanted: BTreeSet<String> = inodes.iter().map(|i| format!("net:[{i}]")).collect();
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for proc_entry in procs.flatten() {
        let pid = proc_entry.file_name();
        if !pid.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let base = proc_entry.path();
        let mut links = Vec::new();
        if let Ok(tasks) = std::fs::read_dir(base.join("task")) {
            links.extend(tasks.flatten().map(|t| t.path().join("ns/net")));
        }
        if let Ok(fds) = std::fs::read_dir(base.join("fd")) {
            links.extend(fds.flatten().map(|f| f.path()));
        }
        for link in links {
            if let Ok(target) = std::fs::read_link(&link) {
                if wanted.contains(target.to_string_lossy().as_ref()) {
                    found.push(format!("{} -> {}", link.display(), target.display()));
                }
            }
        }
    }
    found
}

/// Waits (briefly) until nothing refers to these namespaces any more. Hold [`checking_gone`].
pub fn assert_namespaces_gone(inodes: &[u64]) {
    let started = Instant::now();
    loop {
        let refs = ns_references(inodes);
        if refs.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "namespaces {inodes:?} still referenced:\n{}",
            refs.join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills and reaps a child process however the test ends.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// This test binary again, running only `test` (its full path, e.g. `sink::child_hold_sink`)
/// with `CHILD_ENV=role`.
pub fn reexec(test: &str, role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

pub fn is_child(role: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(role)
}

/// Link notifications (RTMGRP_LINK) of the root namespace, to prove that no copybench veth
/// end ever appears there, not even for a moment.
pub struct RootLinkEvents(netlink_sys::Socket);

impl RootLinkEvents {
    pub fn subscribe() -> RootLinkEvents {
        use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
        const RTMGRP_LINK: u32 = 1;
        let mut socket = Socket::new(NETLINK_ROUTE).unwrap();
        socket.bind(&SocketAddr::new(0, RTMGRP_LINK)).unwrap();
        socket.set_non_blocking(true).unwrap();
        RootLinkEvents(socket)
    }

    /// Names of copybench links the root namespace announced since `subscribe`.
    pub fn copybench_links(&self) -> Vec<String> {
        use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
        use netlink_packet_route::link::LinkAttribute;
        use netlink_packet_route::RouteNetlinkMessage;
        let mut names = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = self.0.recv(&mut &mut buf[..], 0) {
            let mut offset = 0;
            while offset < n {
                let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[offset..n])
                else {
                    break;
                };
                let len = msg.header.length as usize;
                if len == 0 {
                    break;
                }
                offset += (len + 3) & !3;
                if let NetlinkPayload::InnerMessage(
                    RouteNetlinkMessage::NewLink(link) | RouteNetlinkMessage::DelLink(link),
                ) = msg.payload
                {
                    for attr in link.attributes {
                        if let LinkAttribute::IfName(name) = attr {
                            if name.starts_with("cb-") {
                                names.push(name);
                            }
                        }
                    }
                }
            }
        }
        names
    }
}

/// Starts `test` as a child (see [`reexec`]) and waits for the line it prints starting with
/// `ready `; returns the child and that line.
pub fn spawn_until_ready(test: &str, role: &str) -> (ChildGuard, String) {
    let mut child = ChildGuard(reexec(test, role).spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // The harness's "test child_hold_topology ... " has no newline of its own.
            if let Some(at) = line.find("ready ") {
                let _ = line_tx.send(line[at..].to_string());
                return;
            }
        }
    });
    let ready = line_rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("the child {test} never reported ready"));
    (child, ready)
}
