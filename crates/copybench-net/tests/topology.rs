//! Real-kernel tests of the topology (run as root; nothing is mocked).
//!
//! Several tests check that a namespace is gone by looking for its inode number under
//! `/proc/*/task/*/ns/net` and `/proc/*/fd/*`. The kernel reuses freed namespace inode numbers
//! at once, so such a check holds [`NS_LOCK`] for writing while every topology creation holds
//! it for reading: no test can create a namespace that takes a number being checked.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use copybench_net::{check_namespaces, has_net_admin, NetError, Side, Topology, VethConfig};

const CHILD_ENV: &str = "COPYBENCH_NET_TEST_CHILD";
const TIMEOUT: Duration = Duration::from_secs(5);

static NS_LOCK: RwLock<()> = RwLock::new(());

fn creating() -> RwLockReadGuard<'static, ()> {
    NS_LOCK.read().unwrap_or_else(|e| e.into_inner())
}

fn checking_gone() -> RwLockWriteGuard<'static, ()> {
    NS_LOCK.write().unwrap_or_else(|e| e.into_inner())
}

fn create(config: &VethConfig) -> Topology {
    let _guard = creating();
    Topology::create(config).unwrap_or_else(|e| panic!("creating the topology: {e}"))
}

/// Runs a command in the calling thread's network namespace (a child process inherits the
/// namespace of the thread that spawns it) and returns its stdout.
fn run(program: &str, args: &[&str]) -> String {
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

/// `ip` run inside one side of the topology.
fn ip_in(topology: &Topology, side: Side, args: &[&str]) -> String {
    topology.run_in(side, || run("ip", args)).unwrap()
}

/// Veth links of the root namespace (the test harness threads never enter a namespace).
fn root_veths() -> String {
    run("ip", &["-o", "link", "show", "type", "veth"])
}

fn assert_no_copybench_veth_in_root() {
    let veths = root_veths();
    for side in Side::BOTH {
        assert!(
            !veths.contains(side.ifname()),
            "{} is in the root namespace:\n{veths}",
            side.ifname()
        );
    }
}

fn netns_list() -> String {
    run("ip", &["netns", "list"])
}

fn thread_netns_inode() -> u64 {
    ns_inode_of("/proc/thread-self/ns/net")
}

fn ns_inode_of(path: &str) -> u64 {
    let link = std::fs::read_link(path).unwrap();
    let link = link.to_string_lossy();
    link.trim_start_matches("net:[")
        .trim_end_matches(']')
        .parse()
        .unwrap_or_else(|_| panic!("{path} -> {link}"))
}

/// Every process, thread or open file descriptor on the machine that refers to one of these
/// network namespaces.
fn ns_references(inodes: &[u64]) -> Vec<String> {
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
fn assert_namespaces_gone(inodes: &[u64]) {
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

/// Passes `size` bytes from a thread in the sender namespace to one in the receiver
/// namespace and back (reversed), with plain std sockets.
fn exchange(topology: &Topology, size: usize) {
    let payload: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
    let (port_tx, port_rx) = mpsc::channel::<u16>();
    std::thread::scope(|s| {
        let server = s.spawn(move || {
            topology.enter(Side::Receiver).unwrap();
            assert_eq!(
                thread_netns_inode(),
                topology.namespace_inode(Side::Receiver)
            );
            let listener = TcpListener::bind((topology.receiver_addr(), 0)).unwrap();
            port_tx.send(listener.local_addr().unwrap().port()).unwrap();
            let (mut conn, from) = listener.accept().unwrap();
            assert_eq!(from.ip(), topology.sender_addr());
            conn.set_read_timeout(Some(TIMEOUT)).unwrap();
            let mut got = vec![0u8; size];
            conn.read_exact(&mut got).unwrap();
            got.reverse();
            conn.write_all(&got).unwrap();
        });
        let payload = &payload;
        let client = s.spawn(move || {
            topology.enter(Side::Sender).unwrap();
            assert_eq!(thread_netns_inode(), topology.namespace_inode(Side::Sender));
            let port = port_rx.recv_timeout(TIMEOUT).unwrap();
            let to = SocketAddr::from((topology.receiver_addr(), port));
            let mut conn = TcpStream::connect_timeout(&to, TIMEOUT).unwrap();
            assert_eq!(conn.local_addr().unwrap().ip(), topology.sender_addr());
            conn.set_read_timeout(Some(TIMEOUT)).unwrap();
            conn.write_all(payload).unwrap();
            let mut back = vec![0u8; size];
            conn.read_exact(&mut back).unwrap();
            back.reverse();
            assert!(&back == payload, "the echoed bytes differ");
        });
        client.join().unwrap();
        server.join().unwrap();
    });
}

/// Kills and reaps a child process however the test ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// This test binary again, running only `test` with `CHILD_ENV=role`.
fn reexec(test: &str, role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

fn is_child(role: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(role)
}

#[test]
fn tcp_both_ways_and_nothing_left_after_drop() {
    let netns_before = netns_list();
    let here = thread_netns_inode();
    let root_events = RootLinkEvents::subscribe();
    let started = Instant::now();
    let topology = create(&VethConfig::default());
    eprintln!("Topology::create took {:?}", started.elapsed());
    let seen = root_events.copybench_links();
    assert!(
        seen.is_empty(),
        "link events in the root namespace: {seen:?}"
    );
    assert_eq!(
        thread_netns_inode(),
        here,
        "create moved the calling thread"
    );

    let inodes = [
        topology.namespace_inode(Side::Receiver),
        topology.namespace_inode(Side::Sender),
    ];
    let root = ns_inode_of("/proc/self/ns/net");
    assert!(inodes[0] != inodes[1] && !inodes.contains(&root));
    assert_eq!(
        topology.describe(),
        "netns veth 198.18.0.2 -> 198.18.0.1 mtu 1500"
    );
    assert_eq!(topology.receiver_addr(), Ipv4Addr::new(198, 18, 0, 1));
    assert_eq!(topology.sender_addr(), Ipv4Addr::new(198, 18, 0, 2));
    assert_eq!(topology.mtu(), 1500);

    exchange(&topology, 256 * 1024);
    // Each side sees exactly lo and its own veth end.
    for side in Side::BOTH {
        let links = ip_in(&topology, side, &["-o", "link", "show"]);
        let names: Vec<&str> = links
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n))
            .collect();
        assert_eq!(names, ["lo", side.ifname()], "{side}:\n{links}");
    }
    assert_no_copybench_veth_in_root();
    assert_eq!(thread_netns_inode(), here);

    assert!(
        !ns_references(&inodes).is_empty(),
        "the namespaces are not visible"
    );

    let _checking = checking_gone();
    drop(topology);
    assert_namespaces_gone(&inodes);
    assert_no_copybench_veth_in_root();
    assert_eq!(netns_list(), netns_before, "a named namespace appeared");
}

/// Link notifications (RTMGRP_LINK) of the root namespace, to prove that no copybench veth
/// end ever appears there, not even for a moment.
struct RootLinkEvents(netlink_sys::Socket);

impl RootLinkEvents {
    fn subscribe() -> RootLinkEvents {
        use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
        const RTMGRP_LINK: u32 = 1;
        let mut socket = Socket::new(NETLINK_ROUTE).unwrap();
        socket.bind(&SocketAddr::new(0, RTMGRP_LINK)).unwrap();
        socket.set_non_blocking(true).unwrap();
        RootLinkEvents(socket)
    }

    /// Names of copybench links the root namespace announced since `subscribe`.
    fn copybench_links(&self) -> Vec<String> {
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

#[test]
fn mtu_is_applied() {
    for mtu in [65535, 9000] {
        let config = VethConfig {
            mtu,
            ..VethConfig::default()
        };
        let topology = create(&config);
        assert_eq!(topology.mtu(), mtu);
        for side in Side::BOTH {
            let link = ip_in(
                &topology,
                side,
                &["-o", "link", "show", "dev", side.ifname()],
            );
            assert!(link.contains(&format!(" mtu {mtu} ")), "{side}: {link}");
            let flags = link.split('<').nth(1).and_then(|f| f.split('>').next());
            assert!(
                flags.is_some_and(|f| f.split(',').any(|f| f == "UP")),
                "{side} not up: {link}"
            );
            let addr = ip_in(
                &topology,
                side,
                &["-o", "-4", "addr", "show", "dev", side.ifname()],
            );
            let want = format!(" {}/30 ", config.addr(side));
            assert!(addr.contains(&want), "{side}: {addr}");
            let lo = ip_in(&topology, side, &["-o", "link", "show", "dev", "lo"]);
            assert!(lo.contains("<LOOPBACK,UP"), "{side} lo: {lo}");
        }
        exchange(&topology, 1 << 20);
    }
}

#[test]
fn invalid_mtu_is_refused_before_anything_is_created() {
    let here = thread_netns_inode();
    for mtu in [0, 67, 65536, 70000] {
        let config = VethConfig {
            mtu,
            ..VethConfig::default()
        };
        let _guard = creating();
        match Topology::create(&config) {
            Err(NetError::InvalidConfig(message)) => {
                assert!(message.contains("65535"), "{message}")
            }
            other => panic!("MTU {mtu}: expected InvalidConfig, got {other:?}"),
        }
    }
    let same = VethConfig {
        sender_addr: VethConfig::default().receiver_addr,
        ..VethConfig::default()
    };
    assert!(matches!(
        Topology::create(&same),
        Err(NetError::InvalidConfig(_))
    ));
    assert_eq!(thread_netns_inode(), here);
    assert_no_copybench_veth_in_root();
}

/// Child half of `sigkill_leaves_nothing`: builds a topology, parks a thread in each side
/// with an open connection, prints the namespace inodes and waits to be killed.
#[test]
fn child_hold_topology() {
    if !is_child("hold") {
        return;
    }
    let topology = Topology::create(&VethConfig::default()).unwrap();
    let listener = topology
        .run_in(Side::Receiver, || {
            TcpListener::bind((topology.receiver_addr(), 0))
        })
        .unwrap()
        .unwrap();
    let to = SocketAddr::from((
        topology.receiver_addr(),
        listener.local_addr().unwrap().port(),
    ));
    std::thread::scope(|s| {
        s.spawn(|| {
            topology.enter(Side::Sender).unwrap();
            let _conn = TcpStream::connect_timeout(&to, TIMEOUT).unwrap();
            std::thread::sleep(Duration::from_secs(60));
        });
        s.spawn(|| {
            topology.enter(Side::Receiver).unwrap();
            let _conn = listener.accept().unwrap();
            println!(
                "ready {} {}",
                topology.namespace_inode(Side::Receiver),
                topology.namespace_inode(Side::Sender)
            );
            std::thread::sleep(Duration::from_secs(60));
        });
    });
}

#[test]
fn sigkill_leaves_nothing() {
    let netns_before = netns_list();
    let mut child = ChildGuard(reexec("child_hold_topology", "hold").spawn().unwrap());
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
        .expect("the child never reported ready");
    let inodes: Vec<u64> = ready
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(inodes.len(), 2, "{ready}");
    assert!(
        !ns_references(&inodes).is_empty(),
        "child's namespaces not visible"
    );
    assert_no_copybench_veth_in_root();

    let _checking = checking_gone();
    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert_namespaces_gone(&inodes);
    assert_no_copybench_veth_in_root();
    assert_eq!(netns_list(), netns_before, "a named namespace appeared");
}

/// Child half of `refused_without_net_admin`, run with CAP_NET_ADMIN dropped.
#[test]
fn child_without_net_admin() {
    if !is_child("nocap") {
        return;
    }
    assert_refused_without_net_admin();
    println!("child-ok");
}

fn assert_refused_without_net_admin() {
    let here = thread_netns_inode();
    assert!(!has_net_admin());
    for result in [
        Topology::create(&VethConfig::default()).map(drop),
        check_namespaces(),
    ] {
        let err = result.expect_err("succeeded without CAP_NET_ADMIN");
        assert!(
            matches!(err, NetError::MissingCapability { .. }),
            "expected MissingCapability, got {err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("CAP_NET_ADMIN"), "{message}");
        assert!(message.contains("--topology loopback"), "{message}");
        assert!(message.contains("root"), "{message}");
    }
    assert_eq!(thread_netns_inode(), here);
}

#[test]
fn refused_without_net_admin() {
    assert!(has_net_admin(), "the tests must run as root");
    let netns_before = netns_list();
    let mut cmd = Command::new("setpriv");
    let exe = std::env::current_exe().unwrap();
    cmd.args(["--inh-caps=-net_admin", "--bounding-set=-net_admin", "--"])
        .arg(exe)
        .args([
            "--exact",
            "child_without_net_admin",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "nocap")
        .stdout(Stdio::piped());
    let mut child = ChildGuard(cmd.spawn().expect("running setpriv (util-linux)"));
    let mut out = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.0.wait().unwrap();
    assert!(
        status.success() && out.contains("child-ok"),
        "{status:?}\n{out}"
    );
    assert_no_copybench_veth_in_root();
    assert_eq!(netns_list(), netns_before);
}

/// The same refusal in-process: a thread drops CAP_NET_ADMIN from its own effective set
/// (capabilities are per thread) and tries.
#[test]
fn refused_on_a_thread_without_net_admin() {
    std::thread::spawn(|| {
        let mut caps = rustix::thread::capabilities(None).unwrap();
        caps.effective
            .remove(rustix::thread::CapabilitySet::NET_ADMIN);
        rustix::thread::set_capabilities(None, caps).unwrap();
        assert_refused_without_net_admin();
    })
    .join()
    .unwrap();
    assert!(
        has_net_admin(),
        "dropping the capability leaked to another thread"
    );
    assert_no_copybench_veth_in_root();
}

#[test]
fn two_topologies_at_once_do_not_interfere() {
    // Built concurrently, with the very same addresses.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| create(&VethConfig::default()));
        let b = s.spawn(|| create(&VethConfig::default()));
        (a.join().unwrap(), b.join().unwrap())
    });
    let all: BTreeSet<u64> = [&a, &b]
        .iter()
        .flat_map(|t| Side::BOTH.map(|side| t.namespace_inode(side)))
        .collect();
    assert_eq!(all.len(), 4, "namespaces shared between topologies");

    std::thread::scope(|s| {
        s.spawn(|| exchange(&a, 512 * 1024));
        s.spawn(|| exchange(&b, 512 * 1024));
    });

    // A listener in a's receiver namespace is not reachable from b's sender namespace.
    let listener = a
        .run_in(Side::Receiver, || TcpListener::bind((a.receiver_addr(), 0)))
        .unwrap()
        .unwrap();
    let to = SocketAddr::from((a.receiver_addr(), listener.local_addr().unwrap().port()));
    let from_b = b
        .run_in(Side::Sender, || TcpStream::connect_timeout(&to, TIMEOUT))
        .unwrap();
    assert_eq!(
        from_b.map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused,
        "b reached a's listener"
    );
    let from_a = a
        .run_in(Side::Sender, || TcpStream::connect_timeout(&to, TIMEOUT))
        .unwrap();
    assert!(from_a.is_ok(), "{from_a:?}");
    assert_no_copybench_veth_in_root();
}

#[test]
fn doctor_check_passes_as_root() {
    let _guard = creating();
    check_namespaces().unwrap();
}

#[test]
fn create_time() {
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let topology = create(&VethConfig::default());
        times.push(started.elapsed());
        drop(topology);
    }
    times.sort();
    eprintln!(
        "Topology::create: min {:?}, median {:?}, max {:?}",
        times[0], times[2], times[4]
    );
    assert!(times[2] < Duration::from_secs(2), "{times:?}");
}

/// The links are usable as soon as `create` returns: the first SYN is not dropped (a drop
/// costs a 1 s retransmission), even when topologies are built back to back.
#[test]
fn first_connection_is_immediate() {
    for round in 0..4 {
        let topology = create(&VethConfig::default());
        let listener = topology
            .run_in(Side::Receiver, || {
                TcpListener::bind((topology.receiver_addr(), 0))
            })
            .unwrap()
            .unwrap();
        let to = SocketAddr::from((
            topology.receiver_addr(),
            listener.local_addr().unwrap().port(),
        ));
        let started = Instant::now();
        topology
            .run_in(Side::Sender, || TcpStream::connect_timeout(&to, TIMEOUT))
            .unwrap()
            .unwrap();
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(500),
            "round {round}: connect took {took:?}"
        );
    }
}
