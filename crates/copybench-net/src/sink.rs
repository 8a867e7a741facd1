//! One anonymous network namespace whose veth pair leads nowhere: where zero-copy sends on one
//! host really avoid the copy.

use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use netlink_packet_route::neighbour::NeighbourState;
use netlink_packet_route::route::RouteType;

use crate::netlink::Rtnl;
use crate::{ns, NetError, SinkConfig};

/// A sender-only topology: one anonymous network namespace holding a veth pair whose far end
/// is down, so every datagram sent to [`Sink::target_addr`] leaves through the near end and
/// is dropped there. Nothing receives, nothing leaves the namespace.
///
/// # Why it exists
/// On loopback, and on veth with a receiver, every `MSG_ZEROCOPY` or io_uring zero-copy send
/// is copied after all: delivering the packet to a local socket copies the user pages
/// (`SO_EE_CODE_ZEROCOPY_COPIED` is set on every completion). Through a device that drops the
/// packet, the pinned pages are only released, as after a NIC's DMA: the copy really vanishes
/// (measured on kernel 6.18: 2000 of 2000 completions without `COPIED` for 8000-byte UDP
/// datagrams at MTU 9000). The sink is the one-host view of what the NIC path saves the
/// sender; its throughput is what the kernel accepted, never verified by a receiver.
///
/// # The checksum condition
/// Zero-copy needs the device to compute the checksum (`CHECKSUM_PARTIAL`). A UDP datagram
/// that does not fit in one IP packet (payload above MTU - 28, without `UDP_SEGMENT`) is
/// fragmented and checksummed in software, which reads the data: the kernel copies it and
/// reports `COPIED`. Compare sizes with [`Sink::max_zerocopy_datagram`] and refuse or warn.
///
/// # Layout
/// - `lo`, up;
/// - [`Sink::NEAR_IFNAME`], up, [`Sink::SENDER_ADDR`]/24, the configured MTU;
/// - [`Sink::FAR_IFNAME`], its veth peer in the same namespace, down, no address (so the near
///   end never has a carrier: the kernel counts what it sends as transmit drops);
/// - a permanent neighbour entry (`NUD_PERMANENT`) on the near end: [`Sink::TARGET_ADDR`] is
///   at [`Sink::TARGET_MAC`], so the kernel sends at once instead of asking ARP (which would
///   never be answered) and queueing.
///
/// Like [`Topology`](crate::Topology), the namespace exists only as the file descriptor held
/// here and the threads that [entered](Sink::enter) it: nothing is named, nothing appears in
/// the root namespace, nothing outlives the process, even after `kill -9`.
#[derive(Debug)]
pub struct Sink {
    ns: OwnedFd,
    inode: u64,
    config: SinkConfig,
}

impl Sink {
    /// The near end's name inside the sink namespace: the device datagrams leave through.
    pub const NEAR_IFNAME: &'static str = "cb-sink0";
    /// The far end's name inside the sink namespace; it stays down.
    pub const FAR_IFNAME: &'static str = "cb-sink1";
    /// The near end's address (from 198.18.0.0/15, RFC 2544's benchmarking range); sockets
    /// may bind to it, or let the kernel choose it.
    pub const SENDER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    /// Prefix length of the near end's subnet.
    pub const PREFIX_LEN: u8 = 24;
    /// Where to send: the far address, on no interface, known only through the neighbour entry.
    pub const TARGET_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    /// The target's fixed link-layer address: locally administered (bit 1 of the first octet)
    /// and unicast, so it can belong to no real device.
    pub const TARGET_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
    /// The bytes of IPv4 and UDP headers: a UDP payload fits in one packet up to MTU minus this.
    pub const IPV4_UDP_HEADERS: u32 = 20 + 8;

    /// Builds the sink (a few ms). Checks the configuration and the capabilities before
    /// anything is created, and at the end [checks the route](Sink::check_route) to the
    /// target; on any error nothing is left behind.
    ///
    /// The work happens on a short-lived helper thread: the calling thread does not move.
    pub fn create(config: &SinkConfig) -> Result<Sink, NetError> {
        config.validate()?;
        ns::require_capabilities()?;
        let config = *config;
        ns::on_setup_thread(move || build(config))
    }

    /// Moves the **calling thread** into the sink namespace (`setns`); the rest of the process
    /// stays where it is. Sockets the thread opens afterwards belong to the sink for their
    /// whole life, whichever thread later uses them.
    pub fn enter(&self) -> Result<(), NetError> {
        ns::enter(self.ns.as_fd(), "sink")
    }

    /// Runs `f` on a new thread inside the sink namespace and returns its result; the calling
    /// thread does not move. A panic in `f` is passed on to the caller.
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetError> {
        ns::run_in(self.ns.as_fd(), "sink", f)
    }

    /// The near end's address, where senders' datagrams come from.
    pub fn sender_addr(&self) -> Ipv4Addr {
        Self::SENDER_ADDR
    }

    /// Where to send datagrams. Any port works: nothing listens, every datagram is dropped at
    /// the down far end.
    pub fn target_addr(&self) -> Ipv4Addr {
        Self::TARGET_ADDR
    }

    /// The MTU of the veth pair.
    pub fn mtu(&self) -> u32 {
        self.config.mtu
    }

    /// The configuration the sink was built from.
    pub fn config(&self) -> &SinkConfig {
        &self.config
    }

    /// The largest UDP payload (bytes) that fits in one IP packet (MTU - 28) and so can be
    /// sent without a copy: larger datagrams are fragmented with a software checksum, and the
    /// kernel copies them (`COPIED` on their completions).
    pub fn max_zerocopy_datagram(&self) -> usize {
        self.config.mtu.saturating_sub(Self::IPV4_UDP_HEADERS) as usize
    }

    /// Checks, from a thread inside the sink, that datagrams to `target` end at the sink's
    /// down far end: the kernel routes them through [`Sink::NEAR_IFNAME`] with no gateway,
    /// the neighbour entry for `target` is permanent (no ARP), and the far end is down.
    /// Only [`Sink::target_addr`] passes; anything else is [`NetError::UnsafeTarget`].
    pub fn check_route(&self, target: Ipv4Addr) -> Result<(), NetError> {
        self.run_in(|| check_route_with(&mut Rtnl::open()?, target))?
    }

    /// The handle of the sink namespace (e.g. for `setns` by other code).
    pub fn namespace_fd(&self) -> BorrowedFd<'_> {
        self.ns.as_fd()
    }

    /// The inode number identifying the sink namespace, as in `/proc/<pid>/ns/net`
    /// (`net:[<inode>]`) and `lsns`.
    pub fn namespace_inode(&self) -> u64 {
        self.inode
    }

    /// One line for logs and result files, e.g.
    /// `netns sink 198.18.0.2 -> 198.18.0.1 (dropped) mtu 9000`.
    pub fn describe(&self) -> String {
        format!(
            "netns sink {} -> {} (dropped) mtu {}",
            Self::SENDER_ADDR,
            Self::TARGET_ADDR,
            self.config.mtu
        )
    }
}

/// Runs on the helper thread, which ends inside the sink namespace and then exits.
fn build(config: SinkConfig) -> Result<Sink, NetError> {
    let ns = ns::unshare_new()?;
    let mut nl = Rtnl::open()?;
    // Both ends in this namespace (no IFLA_NET_NS_FD): the pair never exists anywhere else.
    // Their indexes may be the kernel's choice: they cannot clash within one namespace.
    nl.create_veth(
        (Sink::NEAR_IFNAME, 0),
        (Sink::FAR_IFNAME, 0),
        config.mtu,
        None,
    )?;
    let lo = nl.link("lo")?;
    nl.set_up("lo", lo.index)?;
    let near = nl.link(Sink::NEAR_IFNAME)?;
    nl.add_ipv4(
        Sink::NEAR_IFNAME,
        near.index,
        Sink::SENDER_ADDR,
        Sink::PREFIX_LEN,
        None,
    )?;
    nl.set_up(Sink::NEAR_IFNAME, near.index)?;
    nl.add_permanent_neighbour(
        Sink::NEAR_IFNAME,
        near.index,
        Sink::TARGET_ADDR,
        Sink::TARGET_MAC,
    )?;

    // Read everything back: a sink that delivered (far end up) or asked ARP would make its
    // numbers mean something else.
    for name in [Sink::NEAR_IFNAME, Sink::FAR_IFNAME] {
        let link = nl.link(name)?;
        if link.mtu != Some(config.mtu) {
            return Err(NetError::Verify(format!(
                "sink link {name} reads back as MTU {:?}; expected {}",
                link.mtu, config.mtu
            )));
        }
    }
    if !nl.link(Sink::NEAR_IFNAME)?.up {
        return Err(NetError::Verify(format!(
            "the sink's near end {} did not come up",
            Sink::NEAR_IFNAME
        )));
    }
    if !nl.link("lo")?.up {
        return Err(NetError::Verify(
            "lo in the sink namespace did not come up".into(),
        ));
    }
    check_route_with(&mut nl, Sink::TARGET_ADDR)?;

    let inode = ns::inode(&ns)
        .map_err(|e| NetError::namespace("reading the sink namespace's inode (fstat)", e))?;
    Ok(Sink { ns, inode, config })
}

/// [`Sink::check_route`] through a netlink socket opened inside the sink namespace.
fn check_route_with(nl: &mut Rtnl, target: Ipv4Addr) -> Result<(), NetError> {
    let refuse = |reason: String| Err(NetError::UnsafeTarget { target, reason });
    let near = nl.link(Sink::NEAR_IFNAME)?;
    let route = match nl.route_to(target) {
        Ok(route) => route,
        Err(NetError::Netlink { errno, .. }) => {
            return refuse(format!(
                "the sink namespace has no route to it ({})",
                std::io::Error::from_raw_os_error(errno)
            ))
        }
        Err(e) => return Err(e),
    };
    if route.kind != RouteType::Unicast || route.oif != Some(near.index) {
        return refuse(format!(
            "the kernel would send it as {:?} through interface {:?}, not through {} \
             (index {})",
            route.kind,
            route.oif,
            Sink::NEAR_IFNAME,
            near.index
        ));
    }
    if let Some(gateway) = route.gateway {
        return refuse(format!("it is reached through the gateway {gateway}"));
    }
    let permanent = nl.neighbours()?.into_iter().any(|n| {
        n.ifindex == near.index && n.addr == Some(target) && n.state == NeighbourState::Permanent
    });
    if !permanent {
        return refuse(format!(
            "it has no permanent neighbour entry on {}: the kernel would ask ARP, never get \
             an answer, and queue the datagrams",
            Sink::NEAR_IFNAME
        ));
    }
    if nl.link(Sink::FAR_IFNAME)?.up {
        return refuse(format!(
            "the far end {} is up: datagrams would be delivered to it instead of dropped",
            Sink::FAR_IFNAME
        ));
    }
    Ok(())
}
