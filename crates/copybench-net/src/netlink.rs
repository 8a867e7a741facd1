//! A small synchronous rtnetlink client: one request at a time, every request acknowledged.
//!
//! A netlink socket belongs to the network namespace of the thread that opened it, for its
//! whole life; that is how the topology configures each namespace.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::NetError;

/// How long to wait for the kernel's answer to one request (it normally takes microseconds).
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A link as the kernel reports it.
#[derive(Debug, Clone)]
pub(crate) struct LinkState {
    pub index: u32,
    pub mtu: Option<u32>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Operationally up (`IFF_RUNNING`): carrier seen and processed by the kernel.
    pub running: bool,
    /// The root qdisc's kind; `noop` drops every packet (the device is not activated yet).
    pub qdisc: Option<String>,
}

impl LinkState {
    fn from_message(link: &LinkMessage) -> LinkState {
        let mut state = LinkState {
            index: link.header.index,
            mtu: None,
            up: link.header.flags.contains(LinkFlags::Up),
            running: link.header.flags.contains(LinkFlags::Running),
            qdisc: None,
        };
        for attribute in &link.attributes {
            match attribute {
                LinkAttribute::Mtu(mtu) => state.mtu = Some(*mtu),
                LinkAttribute::Qdisc(kind) => state.qdisc = Some(kind.clone()),
                _ => {}
            }
        }
        state
    }
}

/// An IPv4 neighbour (ARP) entry as the kernel reports it.
#[derive(Debug, Clone)]
pub(crate) struct Neighbour {
    pub ifindex: u32,
    pub addr: Option<Ipv4Addr>,
    pub mac: Option<Vec<u8>>,
    pub state: NeighbourState,
}

impl Neighbour {
    fn from_message(msg: &NeighbourMessage) -> Neighbour {
        let mut neighbour = Neighbour {
            ifindex: msg.header.ifindex,
            addr: None,
            mac: None,
            state: msg.header.state,
        };
        for attribute in &msg.attributes {
            match attribute {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(addr)) => {
                    neighbour.addr = Some(*addr)
                }
                NeighbourAttribute::LinkLayerAddress(mac) => neighbour.mac = Some(mac.clone()),
                _ => {}
            }
        }
        neighbour
    }
}

/// The kernel's answer to "how do I reach this address" (`RTM_GETROUTE`).
#[derive(Debug, Clone)]
pub(crate) struct RouteToTarget {
    /// `Unicast` for a host reached through a device; `Local`, `Unreachable`, ... otherwise.
    pub kind: RouteType,
    /// The outgoing interface's index.
    pub oif: Option<u32>,
    /// The next hop, when the target is not on a directly connected subnet.
    pub gateway: Option<Ipv4Addr>,
}

/// An rtnetlink socket bound to the namespace it was opened in.
pub(crate) struct Rtnl {
    socket: Socket,
    sequence: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    /// Opens a route netlink socket in the calling thread's network namespace.
    pub fn open() -> Result<Rtnl, NetError> {
        let op = "opening a route netlink socket";
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| NetError::socket(op, e))?;
        socket.bind_auto().map_err(|e| NetError::socket(op, e))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| NetError::socket(op, e))?;
        rustix::net::sockopt::set_socket_timeout(
            socket.as_fd(),
            rustix::net::sockopt::Timeout::Recv,
            Some(REPLY_TIMEOUT),
        )
        .map_err(|e| NetError::socket(op, e.into()))?;
        Ok(Rtnl {
            socket,
            sequence: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Creates a veth pair: `name` with interface index `index` in this socket's namespace,
    /// `peer_name` with `peer_index` directly in the namespace `peer_ns` refers to (so the peer
    /// never exists anywhere else), or beside `name` when `peer_ns` is `None`. An index of 0
    /// lets the kernel choose.
    pub fn create_veth(
        &mut self,
        (name, index): (&str, u32),
        (peer_name, peer_index): (&str, u32),
        mtu: u32,
        peer_ns: Option<BorrowedFd<'_>>,
    ) -> Result<(), NetError> {
        let mut peer = LinkMessage::default();
        peer.header.index = peer_index;
        peer.attributes = vec![
            LinkAttribute::IfName(peer_name.to_string()),
            LinkAttribute::Mtu(mtu),
        ];
        if let Some(peer_ns) = peer_ns {
            peer.attributes
                .push(LinkAttribute::NetNsFd(peer_ns.as_raw_fd()));
        }
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.attributes = vec![
            LinkAttribute::IfName(name.to_string()),
            LinkAttribute::Mtu(mtu),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
            ]),
        ];
        let op = format!("creating veth pair {name}/{peer_name} (MTU {mtu})");
        self.request(
            &op,
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// Looks a link up by name.
    pub fn link(&mut self, name: &str) -> Result<LinkState, NetError> {
        let mut query = LinkMessage::default();
        query.attributes = vec![LinkAttribute::IfName(name.to_string())];
        let op = format!("looking up link {name}");
        let replies = self.request(&op, RouteNetlinkMessage::GetLink(query), 0)?;
        for reply in replies {
            if let RouteNetlinkMessage::NewLink(link) = reply {
                return Ok(LinkState::from_message(&link));
            }
        }
        Err(NetError::protocol(&op, "no link message in the reply"))
    }

    /// The interface indexes in use in this socket's namespace.
    pub fn link_indexes(&mut self) -> Result<Vec<u32>, NetError> {
        let replies = self.request(
            "listing links",
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .iter()
            .filter_map(|reply| match reply {
                RouteNetlinkMessage::NewLink(link) => Some(link.header.index),
                _ => None,
            })
            .collect())
    }

    /// Sets a link administratively up.
    pub fn set_up(&mut self, name: &str, index: u32) -> Result<(), NetError> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        let op = format!("setting link {name} up");
        self.request(&op, RouteNetlinkMessage::SetLink(link), 0)?;
        Ok(())
    }

    /// Adds an IPv4 address (with its subnet route) to a link.
    pub fn add_ipv4(
        &mut self,
        name: &str,
        index: u32,
        addr: Ipv4Addr,
        prefix_len: u8,
        broadcast: Option<Ipv4Addr>,
    ) -> Result<(), NetError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix_len;
        msg.header.scope = AddressScope::Universe;
        msg.header.index = index;
        msg.attributes = vec![
            AddressAttribute::Local(IpAddr::V4(addr)),
            AddressAttribute::Address(IpAddr::V4(addr)),
        ];
        if let Some(broadcast) = broadcast {
            msg.attributes.push(AddressAttribute::Broadcast(broadcast));
        }
        let op = format!("adding address {addr}/{prefix_len} to {name}");
        self.request(
            &op,
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// Adds a permanent (`NUD_PERMANENT`) IPv4 neighbour entry: `addr` is at `mac` on the link
    /// `index`, so the kernel sends to it without ever asking ARP.
    pub fn add_permanent_neighbour(
        &mut self,
        name: &str,
        index: u32,
        addr: Ipv4Addr,
        mac: [u8; 6],
    ) -> Result<(), NetError> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.ifindex = index;
        msg.header.state = NeighbourState::Permanent;
        msg.attributes = vec![
            NeighbourAttribute::Destination(NeighbourAddress::Inet(addr)),
            NeighbourAttribute::LinkLayerAddress(mac.to_vec()),
        ];
        let op = format!("adding a permanent neighbour entry for {addr} on {name}");
        self.request(
            &op,
            RouteNetlinkMessage::NewNeighbour(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// The IPv4 neighbour entries of this socket's namespace.
    pub fn neighbours(&mut self) -> Result<Vec<Neighbour>, NetError> {
        let mut query = NeighbourMessage::default();
        query.header.family = AddressFamily::Inet;
        let replies = self.request(
            "listing neighbour entries",
            RouteNetlinkMessage::GetNeighbour(query),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|reply| match reply {
                RouteNetlinkMessage::NewNeighbour(msg) => Some(Neighbour::from_message(&msg)),
                _ => None,
            })
            .collect())
    }

    /// Asks the kernel how it would send to `target` from this socket's namespace (what
    /// `ip route get` shows). A destination without a route is a NACK (`ENETUNREACH`).
    pub fn route_to(&mut self, target: Ipv4Addr) -> Result<RouteToTarget, NetError> {
        let mut query = RouteMessage::default();
        query.header.address_family = AddressFamily::Inet;
        query.header.destination_prefix_length = 32;
        query.attributes = vec![RouteAttribute::Destination(RouteAddress::Inet(target))];
        let op = format!("looking up the route to {target}");
        let replies = self.request(&op, RouteNetlinkMessage::GetRoute(query), 0)?;
        for reply in replies {
            if let RouteNetlinkMessage::NewRoute(route) = reply {
                let mut found = RouteToTarget {
                    kind: route.header.kind,
                    oif: None,
                    gateway: None,
                };
                for attribute in route.attributes {
                    match attribute {
                        RouteAttribute::Oif(index) => found.oif = Some(index),
                        RouteAttribute::Gateway(RouteAddress::Inet(gateway)) => {
                            found.gateway = Some(gateway)
                        }
                        _ => {}
                    }
                }
                return Ok(found);
            }
        }
        Err(NetError::protocol(&op, "no route message in the reply"))
    }

    /// Sends one request with `NLM_F_ACK` and collects the replies up to the kernel's ACK; a
    /// NACK becomes [`NetError::Netlink`] with its errno.
    fn request(
        &mut self,
        op: &str,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NetError> {
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        let mut packet =
            NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(message));
        packet.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        packet.header.sequence_number = sequence;
        packet.finalize();
        let mut out = vec![0; packet.buffer_len()];
        packet.serialize(&mut out);
        let sent = self
            .socket
            .send(&out, 0)
            .map_err(|e| NetError::socket(op, e))?;
        if sent != out.len() {
            return Err(NetError::protocol(
                op,
                format!("sent {sent} of {} bytes", out.len()),
            ));
        }

        let mut replies = Vec::new();
        loop {
            let received = self
                .socket
                .recv(&mut &mut self.buf[..], 0)
                .map_err(|e| NetError::socket(op, e))?;
            let mut offset = 0;
            while offset < received {
                let bytes = &self.buf[offset..received];
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes)
                    .map_err(|e| NetError::protocol(op, e.to_string()))?;
                let length = reply.header.length as usize;
                if length == 0 {
                    return Err(NetError::protocol(op, "zero-length message"));
                }
                offset += (length + 3) & !3; // NLMSG_ALIGN
                if reply.header.sequence_number != sequence {
                    continue; // a late answer to an earlier request
                }
                match reply.payload {
                    NetlinkPayload::Error(error) => {
                        return match error.code {
                            None => Ok(replies),
                            Some(code) => Err(NetError::netlink(op, -code.get())),
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::InnerMessage(inner) => replies.push(inner),
                    NetlinkPayload::Overrun(_) => {
                        return Err(NetError::protocol(op, "the kernel reported an overrun"))
                    }
                    _ => {}
                }
            }
        }
    }
}
