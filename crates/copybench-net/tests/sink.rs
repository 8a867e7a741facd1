//! Real-kernel tests of the sink (run as root; nothing is mocked): its layout, that nothing
//! escapes it or outlives it, and the point of it all: `MSG_ZEROCOPY` sends through it are
//! not copied, unless the datagram is larger than the MTU.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use copybench_net::{NetError, Role, Sink, SinkConfig, Topology, VethConfig};

use crate::common::*;

fn create(config: &SinkConfig) -> Sink {
    let _guard = creating();
    Sink::create(config).unwrap_or_else(|e| panic!("creating the sink: {e}"))
}

/// A file under `/proc/thread-self/net/`, read from a thread inside the sink (`/proc/net` and
/// `/sys/class/net` follow the process or the mount, not the thread).
fn proc_net(sink: &Sink, file: &str) -> String {
    let path = format!("/proc/thread-self/net/{file}");
    sink.run_in(|| std::fs::read_to_string(&path))
        .unwrap()
        .unwrap_or_else(|e| panic!("reading {path} inside the sink: {e}"))
}

/// One interface's counters from `/proc/thread-self/net/dev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DevCounters {
    rx_packets: u64,
    tx_packets: u64,
    tx_dropped: u64,
}

fn dev_counters(sink: &Sink) -> Vec<(String, DevCounters)> {
    proc_net(sink, "dev")
        .lines()
        .skip(2) // two header lines
        .map(|line| {
            let (name, rest) = line.split_once(':').unwrap();
            let n: Vec<u64> = rest
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect();
            // rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets
            // errs drop ...
            let counters = DevCounters {
                rx_packets: n[1],
                tx_packets: n[9],
                tx_dropped: n[11],
            };
            (name.trim().to_string(), counters)
        })
        .collect()
}

fn counters_of(sink: &Sink, ifname: &str) -> DevCounters {
    dev_counters(sink)
        .into_iter()
        .find(|(name, _)| name == ifname)
        .unwrap_or_else(|| panic!("{ifname} is not in the sink"))
        .1
}

/// `ip` run inside the sink (tests may use it; the crate does not).
fn ip_in(sink: &Sink, args: &[&str]) -> String {
    sink.run_in(|| run("ip", args)).unwrap()
}

fn link_flags(sink: &Sink, ifname: &str) -> Vec<String> {
    let link = ip_in(sink, &["-o", "link", "show", "dev", ifname]);
    let flags = link
        .split('<')
        .nth(1)
        .and_then(|f| f.split('>').next())
        .unwrap_or_else(|| panic!("no flags in {link}"));
    flags.split(',').map(str::to_string).collect()
}

fn assert_no_sink_link_in_root() {
    let veths = root_veths();
    for name in [Sink::NEAR_IFNAME, Sink::FAR_IFNAME] {
        assert!(
            !veths.contains(name),
            "{name} is in the root namespace:\n{veths}"
        );
    }
}

#[test]
fn built_inside_only_and_nothing_left_after_drop() {
    let netns_before = netns_list();
    let here = thread_netns_inode();
    let root_events = RootLinkEvents::subscribe();
    let started = Instant::now();
    let sink = create(&SinkConfig::default());
    eprintln!("Sink::create took {:?}", started.elapsed());
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
    assert_no_sink_link_in_root();

    let inode = sink.namespace_inode();
    assert_ne!(inode, ns_inode_of("/proc/self/ns/net"));
    assert_eq!(
        sink.describe(),
        "netns sink 198.18.0.2 -> 198.18.0.1 (dropped) mtu 9000"
    );
    assert_eq!(sink.sender_addr(), Ipv4Addr::new(198, 18, 0, 2));
    assert_eq!(sink.target_addr(), Ipv4Addr::new(198, 18, 0, 1));
    assert_eq!(sink.mtu(), 9000);
    assert_eq!(sink.max_zerocopy_datagram(), 8972);
    let entered = sink.run_in(thread_netns_inode).unwrap();
    assert_eq!(entered, inode);

    // Exactly lo and the pair; the near end up with its address and MTU, the far end down.
    let names: Vec<String> = dev_counters(&sink).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for name in ["lo", Sink::NEAR_IFNAME, Sink::FAR_IFNAME] {
        assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
    }
    let near = link_flags(&sink, Sink::NEAR_IFNAME);
    assert!(near.iter().any(|f| f == "UP"), "near end not up: {near:?}");
    let far = link_flags(&sink, Sink::FAR_IFNAME);
    assert!(!far.iter().any(|f| f == "UP"), "far end is up: {far:?}");
    assert!(link_flags(&sink, "lo").iter().any(|f| f == "UP"));
    let addr = ip_in(
        &sink,
        &["-o", "-4", "addr", "show", "dev", Sink::NEAR_IFNAME],
    );
    assert!(addr.contains(" 198.18.0.2/24 "), "{addr}");
    let far_addr = ip_in(
        &sink,
        &["-o", "-4", "addr", "show", "dev", Sink::FAR_IFNAME],
    );
    assert!(
        far_addr.trim().is_empty(),
        "the far end has an address: {far_addr}"
    );
    for name in [Sink::NEAR_IFNAME, Sink::FAR_IFNAME] {
        let link = ip_in(&sink, &["-o", "link", "show", "dev", name]);
        assert!(link.contains(" mtu 9000 "), "{link}");
    }

    // The neighbour entry: complete and permanent (ATF_COM | ATF_PERM = 0x6), the fixed MAC.
    let arp = proc_net(&sink, "arp");
    let entry = arp
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f[0] == "198.18.0.1")
        .unwrap_or_else(|| panic!("no neighbour entry for 198.18.0.1:\n{arp}"));
    assert_eq!(entry[2], "0x6", "not permanent: {entry:?}");
    assert_eq!(entry[3], "02:00:00:00:00:01", "{entry:?}");
    assert_eq!(entry[5], Sink::NEAR_IFNAME, "{entry:?}");

    assert!(
        !ns_references(&[inode]).is_empty(),
        "the namespace is not visible"
    );
    let _checking = checking_gone();
    drop(sink);
    assert_namespaces_gone(&[inode]);
    assert_no_sink_link_in_root();
    assert_eq!(netns_list(), netns_before, "a named namespace appeared");
}

/// Datagrams to the target leave through the near end (its transmit counters count them) and
/// go no further: the far end is down, so the kernel drops them there and nothing receives.
#[test]
fn datagrams_leave_the_near_end_and_are_dropped() {
    const COUNT: u64 = 50;
    let sink = create(&SinkConfig::default());
    let near_before = counters_of(&sink, Sink::NEAR_IFNAME);
    let far_before = counters_of(&sink, Sink::FAR_IFNAME);
    sink.run_in(|| {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        for i in 0..COUNT {
            // Any port works: nothing listens anywhere.
            let port = 9 + (i as u16 % 5) * 1000;
            let sent = socket
                .send_to(&[0x5a; 1000], (sink.target_addr(), port))
                .unwrap();
            assert_eq!(sent, 1000);
        }
    })
    .unwrap();
    let near = counters_of(&sink, Sink::NEAR_IFNAME);
    let far = counters_of(&sink, Sink::FAR_IFNAME);
    assert_eq!(
        near.tx_dropped - near_before.tx_dropped,
        COUNT,
        "the near end's transmit drops should count every datagram: {near_before:?} -> {near:?}"
    );
    assert_eq!(
        near.tx_packets, near_before.tx_packets,
        "datagrams were passed to the far end: {near_before:?} -> {near:?}"
    );
    assert_eq!(
        far.rx_packets, far_before.rx_packets,
        "the far end received"
    );
    // Nothing was delivered inside the sink either.
    let lo = counters_of(&sink, "lo");
    assert_eq!(lo.rx_packets, 0, "{lo:?}");
}

#[test]
fn check_route_accepts_only_the_target() {
    let sink = create(&SinkConfig::default());
    sink.check_route(sink.target_addr()).unwrap();
    for (other, why) in [
        (Ipv4Addr::new(198, 18, 0, 5), "permanent neighbour"),
        (Ipv4Addr::new(198, 18, 0, 2), "Local"),
        (Ipv4Addr::LOCALHOST, "Local"),
        (Ipv4Addr::new(10, 1, 2, 3), "no route"),
    ] {
        let err = sink.check_route(other).unwrap_err();
        assert!(
            matches!(err, NetError::UnsafeTarget { target, .. } if target == other),
            "{other}: {err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(why), "{other}: {message}");
        assert!(message.contains("198.18.0.1"), "{other}: {message}");
    }
}

#[test]
fn invalid_mtu_is_refused_before_anything_is_created() {
    let here = thread_netns_inode();
    for mtu in [0, 67, 65536] {
        let _guard = creating();
        match Sink::create(&SinkConfig { mtu }) {
            Err(NetError::InvalidConfig(message)) => {
                assert!(message.contains("68..=65535"), "{message}")
            }
            other => panic!("MTU {mtu}: expected InvalidConfig, got {other:?}"),
        }
    }
    assert_eq!(thread_netns_inode(), here);
    assert_no_sink_link_in_root();
}

#[test]
fn mtu_is_applied_and_bounds_the_zerocopy_datagram() {
    for mtu in [1500, 65535] {
        let sink = create(&SinkConfig { mtu });
        assert_eq!(sink.mtu(), mtu);
        assert_eq!(sink.max_zerocopy_datagram(), mtu as usize - 28);
        for name in [Sink::NEAR_IFNAME, Sink::FAR_IFNAME] {
            let link = ip_in(&sink, &["-o", "link", "show", "dev", name]);
            assert!(link.contains(&format!(" mtu {mtu} ")), "{link}");
        }
    }
}

/// Child half of `sigkill_leaves_nothing`: builds a sink, parks a thread inside it with an
/// open UDP socket, prints the namespace inode and waits to be killed.
#[test]
fn child_hold_sink() {
    if !is_child("hold-sink") {
        return;
    }
    let sink = Sink::create(&SinkConfig::default()).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            sink.enter().unwrap();
            let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
            socket
                .send_to(b"copybench", (sink.target_addr(), 9))
                .unwrap();
            println!("ready {}", sink.namespace_inode());
            std::thread::sleep(Duration::from_secs(60));
        });
    });
}

#[test]
fn sigkill_leaves_nothing() {
    let netns_before = netns_list();
    let (mut child, ready) = spawn_until_ready("sink::child_hold_sink", "hold-sink");
    let inode: u64 = ready.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        !ns_references(&[inode]).is_empty(),
        "child's namespace not visible"
    );
    assert_no_sink_link_in_root();

    let _checking = checking_gone();
    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert_namespaces_gone(&[inode]);
    assert_no_sink_link_in_root();
    assert_eq!(netns_list(), netns_before, "a named namespace appeared");
}

/// `SO_EE_ORIGIN_ZEROCOPY` and `SO_EE_CODE_ZEROCOPY_COPIED` (linux/errqueue.h), absent from
/// libc 0.2.
const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;
const SO_EE_CODE_ZEROCOPY_COPIED: u8 = 1;

/// What the error queue said about a run of zero-copy sends.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Completions {
    /// Sends whose completion arrived.
    completed: u64,
    /// Of those, sends the kernel copied after all.
    copied: u64,
}

/// Sends `count` datagrams of `size` bytes to the sink's target with `MSG_ZEROCOPY`, from the
/// calling thread (which must be inside the sink), and waits for every completion.
fn zerocopy_sends(size: usize, count: u64) -> Completions {
    zerocopy_sends_to(SocketAddrV4::new(Sink::TARGET_ADDR, 9), size, count)
}

/// Sends `count` datagrams of `size` bytes to `to` with `MSG_ZEROCOPY` from the calling
/// thread's namespace, and waits for every completion.
#[allow(unsafe_code)] // raw setsockopt/send/recvmsg: the error queue is not in std or rustix
fn zerocopy_sends_to(to: SocketAddrV4, size: usize, count: u64) -> Completions {
    use std::os::fd::AsRawFd;
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    socket.connect(to).unwrap();
    let fd = socket.as_raw_fd();
    let one: libc::c_int = 1;
    // SAFETY: `fd` is an open socket owned by `socket`; the option value points to a live
    // c_int and the length says so.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ZEROCOPY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_ZEROCOPY: {}", std::io::Error::last_os_error());

    // Never written after the first send, and dropped only after every completion arrived.
    let buf = vec![0xa5u8; size];
    let mut done = Completions::default();
    let mut sent = 0;
    while sent < count {
        // SAFETY: `buf` is live and unchanged until all its completions are reaped below.
        let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_ZEROCOPY) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            // ENOBUFS: the notification budget (optmem) is full; reap, then retry.
            assert_eq!(err.raw_os_error(), Some(libc::ENOBUFS), "send: {err}");
            reap(fd, &mut done);
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        assert_eq!(n as usize, size, "short send");
        sent += 1;
        reap(fd, &mut done);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while done.completed < count && Instant::now() < deadline {
        reap(fd, &mut done);
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(socket);
    drop(buf);
    done
}

/// Reads every notification waiting on `fd`'s error queue, without blocking.
#[allow(unsafe_code)]
fn reap(fd: libc::c_int, done: &mut Completions) {
    loop {
        // u64 elements keep the control buffer aligned for cmsghdr.
        let mut control = [0u64; 16];
        // SAFETY: an all-zero msghdr is valid (no name, no iovecs).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: `msg` points to the live `control` buffer of the stated length; a zero-copy
        // notification carries no payload, so no iovec is needed.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            assert_eq!(
                err.raw_os_error(),
                Some(libc::EAGAIN),
                "recvmsg(MSG_ERRQUEUE): {err}"
            );
            return;
        }
        // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR/NXTHDR stay within msg_control.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !cmsg.is_null() {
            // SAFETY: `cmsg` is non-null and points into `control`, as CMSG_* guarantee.
            let (level, kind) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
            if level == libc::SOL_IP && kind == libc::IP_RECVERR {
                // SAFETY: an IP_RECVERR message carries a sock_extended_err; it may be
                // unaligned in the buffer, so it is read unaligned.
                let err: libc::sock_extended_err =
                    unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
                assert_eq!(err.ee_errno, 0, "{err:?}");
                assert_eq!(err.ee_origin, SO_EE_ORIGIN_ZEROCOPY, "{err:?}");
                // The inclusive range of send sequence numbers ee_info..=ee_data.
                let range = u64::from(err.ee_data.wrapping_sub(err.ee_info)) + 1;
                done.completed += range;
                if err.ee_code & SO_EE_CODE_ZEROCOPY_COPIED != 0 {
                    done.copied += range;
                }
            }
            // SAFETY: as above.
            cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
        }
    }
}

/// The point of the sink: at MTU 9000, 8000-byte datagrams sent with `MSG_ZEROCOPY` are
/// really not copied (on veth with a receiver, or loopback, every one would be).
#[test]
fn zerocopy_sends_are_not_copied() {
    const COUNT: u64 = 200;
    let sink = create(&SinkConfig::default());
    let done = sink.run_in(|| zerocopy_sends(8000, COUNT)).unwrap();
    eprintln!("MTU 9000, 8000 B: {done:?}");
    assert_eq!(
        done,
        Completions {
            completed: COUNT,
            copied: 0
        }
    );
}

/// The checksum condition: a datagram larger than the MTU is fragmented with a software
/// checksum, and the kernel copies it. The boundary is exactly `max_zerocopy_datagram`.
#[test]
fn zerocopy_sends_larger_than_the_mtu_are_copied() {
    const COUNT: u64 = 200;
    let small = create(&SinkConfig { mtu: 1500 });
    let done = small.run_in(|| zerocopy_sends(8000, COUNT)).unwrap();
    eprintln!("MTU 1500, 8000 B: {done:?}");
    assert_eq!(
        done,
        Completions {
            completed: COUNT,
            copied: COUNT
        }
    );

    let sink = create(&SinkConfig::default());
    let max = sink.max_zerocopy_datagram();
    let (fits, over) = sink
        .run_in(|| (zerocopy_sends(max, 20), zerocopy_sends(max + 1, 20)))
        .unwrap();
    assert_eq!((fits.completed, fits.copied), (20, 0), "{max} B");
    assert_eq!((over.completed, over.copied), (20, 20), "{} B", max + 1);
}

/// Why the sink exists: the same sends over the two-namespace veth topology, to a reading UDP
/// socket, end in local delivery and are all copied.
#[test]
fn zerocopy_sends_to_a_receiver_over_veth_are_copied() {
    const COUNT: u64 = 200;
    let topology = {
        let _guard = creating();
        Topology::create(&VethConfig {
            mtu: 9000,
            ..VethConfig::default()
        })
        .unwrap()
    };
    let receiver = topology
        .run_in(Role::Receiver, || {
            UdpSocket::bind((topology.receiver_addr(), 0))
        })
        .unwrap()
        .unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let to = SocketAddrV4::new(
        topology.receiver_addr(),
        receiver.local_addr().unwrap().port(),
    );
    let done = std::thread::scope(|s| {
        // Read everything, so no datagram is dropped for a full receive buffer.
        s.spawn(|| {
            let mut buf = vec![0u8; 9000];
            while receiver.recv(&mut buf).is_ok() {}
        });
        topology
            .run_in(Role::Sender, || zerocopy_sends_to(to, 8000, COUNT))
            .unwrap()
    });
    eprintln!("veth with a receiver, 8000 B: {done:?}");
    assert_eq!(
        done,
        Completions {
            completed: COUNT,
            copied: COUNT
        }
    );
}
