//! Two anonymous network namespaces joined by a veth pair.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::netlink::Rtnl;
use crate::{ifname, ns, NetError, Role, VethConfig};

/// The experiment's topology: a receiver namespace and a sender namespace, each holding one
/// end of a veth pair, with addresses, MTU, the links and `lo` up.
///
/// The namespaces exist only as the two file descriptors held here (and any thread that
/// [entered](Topology::enter) one): dropping the `Topology` and ending those threads makes the
/// kernel destroy both namespaces and the veth pair. Nothing is named, nothing is left in the
/// root namespace, and nothing outlives the process, even after `kill -9`.
#[derive(Debug)]
pub struct Topology {
    receiver: OwnedFd,
    sender: OwnedFd,
    inodes: [u64; 2],
    config: VethConfig,
}

impl Topology {
    /// Builds the topology (about 30 ms). Checks the configuration and the capabilities
    /// before anything is created; on any error nothing is left behind.
    ///
    /// The work happens on a short-lived helper thread: the calling thread does not move.
    pub fn create(config: &VethConfig) -> Result<Topology, NetError> {
        config.validate()?;
        ns::require_capabilities()?;
        let config = *config;
        ns::on_setup_thread(move || build(config))
    }

    /// Moves the **calling thread** into `side`'s namespace (`setns`). The rest of the process
    /// stays where it is. Sockets the thread opens afterwards belong to that namespace for
    /// their whole life, whichever thread later uses them.
    pub fn enter(&self, side: Role) -> Result<(), NetError> {
        ns::enter(self.namespace_fd(side), &side.to_string())
    }

    /// Runs `f` on a new thread inside `side`'s namespace and returns its result; the calling
    /// thread does not move. A panic in `f` is passed on to the caller.
    pub fn run_in<T: Send>(&self, side: Role, f: impl FnOnce() -> T + Send) -> Result<T, NetError> {
        ns::run_in(self.namespace_fd(side), &side.to_string(), f)
    }

    /// Where receivers listen.
    pub fn receiver_addr(&self) -> Ipv4Addr {
        self.config.receiver_addr
    }

    /// The address senders connect from.
    pub fn sender_addr(&self) -> Ipv4Addr {
        self.config.sender_addr
    }

    /// The MTU of both veth ends.
    pub fn mtu(&self) -> u32 {
        self.config.mtu
    }

    /// The configuration the topology was built from.
    pub fn config(&self) -> &VethConfig {
        &self.config
    }

    /// The handle of `side`'s namespace (e.g. for `setns` by other code).
    pub fn namespace_fd(&self, side: Role) -> BorrowedFd<'_> {
        match side {
            Role::Receiver => self.receiver.as_fd(),
            Role::Sender => self.sender.as_fd(),
        }
    }

    /// The inode number identifying `side`'s namespace, as in `/proc/<pid>/ns/net`
    /// (`net:[<inode>]`) and `lsns`.
    pub fn namespace_inode(&self, side: Role) -> u64 {
        match side {
            Role::Receiver => self.inodes[0],
            Role::Sender => self.inodes[1],
        }
    }

    /// One line for logs and result files, e.g. `netns veth 198.18.0.2 -> 198.18.0.1 mtu 1500`.
    pub fn describe(&self) -> String {
        format!(
            "netns veth {} -> {} mtu {}",
            self.config.sender_addr, self.config.receiver_addr, self.config.mtu
        )
    }
}

/// Runs on the helper thread, which ends inside the receiver namespace and then exits.
fn build(config: VethConfig) -> Result<Topology, NetError> {
    // Sender namespace first, so that the thread sits in the receiver's namespace when it
    // creates the pair there. Each netlink socket stays bound to the namespace it opened in.
    let sender = ns::unshare_new()?;
    let mut sender_nl = Rtnl::open()?;
    let receiver = ns::unshare_new()?;
    let mut receiver_nl = Rtnl::open()?;

    // The two ends get distinct interface indexes, higher than any in either namespace. With
    // equal indexes (both would be 2 in fresh namespaces) the kernel takes the pair for a
    // device linked to itself and defers its carrier-on processing by up to a second; until
    // then the end brought up first has the `noop` qdisc and drops packets (a lost SYN costs
    // a 1 s retransmission).
    let highest = receiver_nl
        .link_indexes()?
        .into_iter()
        .chain(sender_nl.link_indexes()?)
        .max()
        .unwrap_or(1);
    let receiver_index = highest + 1;
    let sender_index = highest + 2;

    // The peer end is created directly in the sender namespace (IFLA_NET_NS_FD): no veth
    // ever appears in the namespace the process started in.
    receiver_nl.create_veth(
        (ifname(Role::Receiver), receiver_index),
        (ifname(Role::Sender), sender_index),
        config.mtu,
        Some(sender.as_fd()),
    )?;
    configure(&mut receiver_nl, Role::Receiver, &config)?;
    configure(&mut sender_nl, Role::Sender, &config)?;
    wait_operational(&mut receiver_nl, Role::Receiver)?;
    wait_operational(&mut sender_nl, Role::Sender)?;

    let inode = |fd: &OwnedFd, side: Role| {
        ns::inode(fd).map_err(|e| {
            NetError::namespace(format!("reading the {side} namespace's inode (fstat)"), e)
        })
    };
    let inodes = [
        inode(&receiver, Role::Receiver)?,
        inode(&sender, Role::Sender)?,
    ];
    Ok(Topology {
        receiver,
        sender,
        inodes,
        config,
    })
}

/// Brings `lo` up, gives `side`'s veth end its address, brings it up, and checks the result.
fn configure(nl: &mut Rtnl, side: Role, config: &VethConfig) -> Result<(), NetError> {
    let lo = nl.link("lo")?;
    nl.set_up("lo", lo.index)?;
    let name = ifname(side);
    let veth = nl.link(name)?;
    nl.add_ipv4(
        name,
        veth.index,
        config.addr(side),
        config.prefix_len,
        config.broadcast(),
    )?;
    nl.set_up(name, veth.index)?;

    let veth = nl.link(name)?;
    if veth.mtu != Some(config.mtu) || !veth.up {
        return Err(NetError::Verify(format!(
            "{side} link {name} reads back as MTU {:?}, up {}; expected MTU {}, up",
            veth.mtu, veth.up, config.mtu
        )));
    }
    if !nl.link("lo")?.up {
        return Err(NetError::Verify(format!(
            "lo in the {side} namespace did not come up"
        )));
    }
    Ok(())
}

/// Waits until `side`'s veth end is operationally up with a real qdisc, i.e. passes packets.
fn wait_operational(nl: &mut Rtnl, side: Role) -> Result<(), NetError> {
    const LIMIT: Duration = Duration::from_secs(3);
    let name = ifname(side);
    let started = Instant::now();
    loop {
        let link = nl.link(name)?;
        if link.running && link.qdisc.as_deref().is_some_and(|q| q != "noop") {
            return Ok(());
        }
        if started.elapsed() > LIMIT {
            return Err(NetError::Verify(format!(
                "{side} link {name} is not operational after {LIMIT:?} (running {}, qdisc {:?})",
                link.running, link.qdisc
            )));
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Whether this process can build the topology, for a `doctor` command: checks the
/// capabilities, builds a default topology, passes a few bytes over TCP from the sender
/// namespace to the receiver's, and tears it all down again.
pub fn check_namespaces() -> Result<(), NetError> {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let topology = Topology::create(&VethConfig::default())?;
    let tcp = |what: &str, e: std::io::Error| {
        NetError::Verify(format!("TCP over the veth pair: {what}: {e}"))
    };
    let listener = topology
        .run_in(Role::Receiver, || {
            TcpListener::bind((topology.receiver_addr(), 0))
        })?
        .map_err(|e| tcp("listening in the receiver namespace", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| tcp("reading the listener's port", e))?
        .port();
    let to = SocketAddr::from((topology.receiver_addr(), port));
    let mut client = topology
        .run_in(Role::Sender, || TcpStream::connect_timeout(&to, TIMEOUT))?
        .map_err(|e| tcp(&format!("connecting to {to} from the sender namespace"), e))?;
    client
        .write_all(b"copybench")
        .map_err(|e| tcp("sending", e))?;
    // The sockets stay in their namespaces whichever thread uses them; the connection is
    // already in the listener's backlog.
    let (mut server, from) = listener.accept().map_err(|e| tcp("accepting", e))?;
    if from.ip() != topology.sender_addr() {
        return Err(NetError::Verify(format!(
            "the connection came from {from}, not from the sender address {}",
            topology.sender_addr()
        )));
    }
    server
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| tcp("setting a read timeout", e))?;
    let mut got = [0u8; 9];
    server
        .read_exact(&mut got)
        .map_err(|e| tcp("receiving", e))?;
    if &got != b"copybench" {
        return Err(NetError::Verify(
            "the bytes received differ from those sent".into(),
        ));
    }
    Ok(())
}
