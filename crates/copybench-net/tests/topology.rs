//! Real-kernel tests of the two-namespace topology (run as root; nothing is mocked).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use copybench_net::{
    check_namespaces, has_net_admin, ifname, NetError, Role, Topology, VethConfig,
};

use crate::common::*;

fn create(config: &VethConfig) -> Topology {
    let _guard = creating();
    Topology::create(config).unwrap_or_else(|e| panic!("creating the topology: {e}"))
}

/// `ip` run inside one side of the topology.
fn ip_in(topology: &Topology, side: Role, args: &[&str]) -> String {
    topology.run_in(side, || run("ip", args)).unwrap()
}

fn assert_no_copybench_veth_in_root() {
    let veths = root_veths();
    for side in Role::BOTH {
        assert!(
            !veths.contains(ifname(side)),
            "{} is in the root namespace:\n{veths}",
            ifname(side)
        );
    }
}

/// Passes `size` bytes from a thread in the sender namespace to one in the receiver
/// namespace and back (reversed), with plain std sockets.
fn exchange(topology: &Topology, size: usize) {
    let payload: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
    let (port_tx, port_rx) = mpsc::channel::<u16>();
    std::thread::scope(|s| {
        let server = s.spawn(move || {
            topology.enter(Role::Receiver).unwrap();
            assert_eq!(
                thread_netns_inode(),
                topology.namespace_inode(Role::Receiver)
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
            topology.enter(Role::Sender).unwrap();
            assert_eq!(thread_netns_inode(), topology.namespace_inode(Role::Sender));
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
        topology.namespace_inode(Role::Receiver),
        topology.namespace_inode(Role::Sender),
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
    for side in Role::BOTH {
        let links = ip_in(&topology, side, &["-o", "link", "show"]);
        let names: Vec<&str> = links
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n))
            .collect();
        assert_eq!(names, ["lo", ifname(side)], "{side}:\n{links}");
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

#[test]
fn mtu_is_applied() {
    for mtu in [65535, 9000] {
        let config = VethConfig {
            mtu,
            ..VethConfig::default()
        };
        let topology = create(&config);
        assert_eq!(topology.mtu(), mtu);
        for side in Role::BOTH {
            let link = ip_in(
                &topology,
                side,
                &["-o", "link", "show", "dev", ifname(side)],
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
                &["-o", "-4", "addr", "show", "dev", ifname(side)],
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
        .run_in(Role::Receiver, || {
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
            topology.enter(Role::Sender).unwrap();
            let _conn = TcpStream::connect_timeout(&to, TIMEOUT).unwrap();
            std::thread::sleep(Duration::from_secs(60));
        });
        s.spawn(|| {
            topology.enter(Role::Receiver).unwrap();
            let _conn = listener.accept().unwrap();
            println!(
                "ready {} {}",
                topology.namespace_inode(Role::Receiver),
                topology.namespace_inode(Role::Sender)
            );
            std::thread::sleep(Duration::from_secs(60));
        });
    });
}

#[test]
fn sigkill_leaves_nothing() {
    let netns_before = netns_list();
    let (mut child, ready) = spawn_until_ready("topology::child_hold_topology", "hold");
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
            "topology::child_without_net_admin",
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
        .flat_map(|t| Role::BOTH.map(|side| t.namespace_inode(side)))
        .collect();
    assert_eq!(all.len(), 4, "namespaces shared between topologies");

    std::thread::scope(|s| {
        s.spawn(|| exchange(&a, 512 * 1024));
        s.spawn(|| exchange(&b, 512 * 1024));
    });

    // A listener in a's receiver namespace is not reachable from b's sender namespace.
    let listener = a
        .run_in(Role::Receiver, || TcpListener::bind((a.receiver_addr(), 0)))
        .unwrap()
        .unwrap();
    let to = SocketAddr::from((a.receiver_addr(), listener.local_addr().unwrap().port()));
    let from_b = b
        .run_in(Role::Sender, || TcpStream::connect_timeout(&to, TIMEOUT))
        .unwrap();
    assert_eq!(
        from_b.map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused,
        "b reached a's listener"
    );
    let from_a = a
        .run_in(Role::Sender, || TcpStream::connect_timeout(&to, TIMEOUT))
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
            .run_in(Role::Receiver, || {
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
            .run_in(Role::Sender, || TcpStream::connect_timeout(&to, TIMEOUT))
            .unwrap()
            .unwrap();
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(500),
            "round {round}: connect took {took:?}"
        );
    }
}
