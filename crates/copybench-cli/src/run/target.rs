//! Where a run's traffic goes. Each topology is one value behind [`TargetPath`]: it places a
//! thread on its side (or hands out a side's namespace for a process), records itself in the
//! results and runs a point through itself. [`TargetChoice`] is the topology asked for (with
//! its defaults: MTU, whether anything receives, which protocols it carries), before anything
//! is opened; [`Target`] owns the opened path for the whole run.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use copybench_core::engine::{
    assemble_point, run_point, run_senders, Endpoints, EngineError, HookError, PointParams,
    Protocol, ReceiveKind, Role,
};
use copybench_core::receive::PAGE_ALIGNED_MTU;
use copybench_core::result::{Point, TopologyKind, TopologyRecord};
use copybench_net::{Sink, SinkConfig, Topology, VethConfig};

use crate::args::{RunArgs, TopologyArg};
use crate::hooks::CliHooks;
use crate::remote::auth::AuthKey;
use crate::remote::Client;
use crate::UsageError;

/// The (discard) port sink datagrams are addressed to; nothing listens, nothing receives.
const SINK_PORT: u16 = 9;

/// IPv4 and UDP headers in front of a datagram's payload.
const SINK_HEADERS: usize = 28;

/// One opened topology: what a point's threads (and a peer's processes) run through.
pub trait TargetPath: Sync {
    /// How the results record this path.
    fn record(&self) -> TopologyRecord;

    /// Moves the calling thread to `role`'s side (its namespace), before it opens a socket.
    /// Nothing to do where both sides share this namespace.
    fn enter(&self, _role: Role) -> Result<(), HookError> {
        Ok(())
    }

    /// `role`'s namespace, for a process spawned on that side (`setns` before `exec`); `None`:
    /// this process's namespace.
    fn namespace_fd(&self, _role: Role) -> Option<BorrowedFd<'_>> {
        None
    }

    /// Where a receiver on this host listens and its sender connects, when both sides run
    /// here (`None`: a remote receiver, or none).
    fn local_addr(&self) -> Option<IpAddr>;

    /// Runs one point through this path.
    fn run_point(
        &self,
        params: &PointParams,
        hooks: &CliHooks<'_>,
        cancel: &AtomicBool,
    ) -> Result<Point, EngineError>;

    /// Why the path can run no more points (a server ended the session), if so.
    fn ended(&self) -> Option<String> {
        None
    }
}

/// Both sides of a point on this host: receivers listen at `ip`, senders connect to it.
fn both_sides_here(
    ip: IpAddr,
    params: &PointParams,
    hooks: &CliHooks<'_>,
    cancel: &AtomicBool,
) -> Result<Point, EngineError> {
    let endpoints = Endpoints {
        listen: ip,
        connect: ip,
    };
    run_point(params, &endpoints, hooks, cancel)
}

/// 127.0.0.1 in this namespace: both sides here, nothing to enter.
struct Loopback;

impl TargetPath for Loopback {
    fn record(&self) -> TopologyRecord {
        TopologyRecord {
            kind: TopologyKind::Loopback,
            mtu: None,
            receiver_addr: Some("127.0.0.1".into()),
            sender_addr: Some("127.0.0.1".into()),
            receiver_host: None,
        }
    }

    fn local_addr(&self) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    fn run_point(
        &self,
        params: &PointParams,
        hooks: &CliHooks<'_>,
        cancel: &AtomicBool,
    ) -> Result<Point, EngineError> {
        both_sides_here(IpAddr::V4(Ipv4Addr::LOCALHOST), params, hooks, cancel)
    }
}

/// Receivers in one namespace, senders in the other, joined by a veth pair.
impl TargetPath for Topology {
    fn record(&self) -> TopologyRecord {
        TopologyRecord {
            kind: TopologyKind::Netns,
            mtu: Some(self.mtu()),
            receiver_addr: Some(self.receiver_addr().to_string()),
            sender_addr: Some(self.sender_addr().to_string()),
            receiver_host: None,
        }
    }

    fn enter(&self, role: Role) -> Result<(), HookError> {
        Ok(Topology::enter(self, role)?)
    }

    fn namespace_fd(&self, role: Role) -> Option<BorrowedFd<'_>> {
        Some(Topology::namespace_fd(self, role))
    }

    fn local_addr(&self) -> Option<IpAddr> {
        Some(IpAddr::V4(self.receiver_addr()))
    }

    fn run_point(
        &self,
        params: &PointParams,
        hooks: &CliHooks<'_>,
        cancel: &AtomicBool,
    ) -> Result<Point, EngineError> {
        both_sides_here(IpAddr::V4(self.receiver_addr()), params, hooks, cancel)
    }
}

/// Senders in the sink's namespace, nothing receiving.
impl TargetPath for Sink {
    fn record(&self) -> TopologyRecord {
        TopologyRecord {
            kind: TopologyKind::Sink,
            mtu: Some(self.mtu()),
            receiver_addr: Some(format!("{} (dropped: no receiver)", self.target_addr())),
            sender_addr: Some(self.sender_addr().to_string()),
            receiver_host: None,
        }
    }

    fn enter(&self, role: Role) -> Result<(), HookError> {
        // There are no receiver threads; a sender must send from inside.
        match role {
            Role::Sender => Ok(Sink::enter(self)?),
            Role::Receiver => Ok(()),
        }
    }

    fn namespace_fd(&self, role: Role) -> Option<BorrowedFd<'_>> {
        (role == Role::Sender).then(|| Sink::namespace_fd(self))
    }

    fn local_addr(&self) -> Option<IpAddr> {
        None
    }

    fn run_point(
        &self,
        params: &PointParams,
        hooks: &CliHooks<'_>,
        cancel: &AtomicBool,
    ) -> Result<Point, EngineError> {
        // Any port: the datagrams never reach a socket. Checked at creation that the address
        // leads only to the sink's down device.
        let to = SocketAddr::new(IpAddr::V4(self.target_addr()), SINK_PORT);
        let targets = vec![to; params.threads];
        let (senders, system_cpu) = run_senders(params, &targets, hooks, cancel, &|_| {})?;
        Ok(assemble_point(params, &senders, &[], system_cpu))
    }
}

/// Senders here, receivers at a `copybench server`.
impl TargetPath for Client {
    fn record(&self) -> TopologyRecord {
        TopologyRecord {
            kind: TopologyKind::Remote,
            mtu: None,
            receiver_addr: Some(self.server().to_string()),
            sender_addr: None,
            receiver_host: self.host().cloned(),
        }
    }

    fn local_addr(&self) -> Option<IpAddr> {
        None
    }

    fn run_point(
        &self,
        params: &PointParams,
        hooks: &CliHooks<'_>,
        cancel: &AtomicBool,
    ) -> Result<Point, EngineError> {
        Client::run_point(self, params, hooks, cancel)
    }

    fn ended(&self) -> Option<String> {
        Client::ended(self)
    }
}

/// Where the user asked the traffic to go (from the arguments; nothing opened yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetChoice {
    /// 127.0.0.1; `note` says why, when it was not asked for.
    Loopback {
        /// Said to the user before the run (e.g. no CAP_NET_ADMIN for netns).
        note: Option<String>,
    },
    /// A veth pair between two anonymous namespaces.
    Netns {
        /// The veth MTU.
        mtu: u32,
    },
    /// A `copybench server` at HOST:PORT.
    Remote {
        /// As typed after `--connect`.
        connect: String,
        /// `--auth-key-file`, when the server wants one.
        key_file: Option<PathBuf>,
    },
    /// Senders only, into a veth whose far end is down.
    Sink {
        /// The veth MTU.
        mtu: u32,
    },
}

impl TargetChoice {
    /// Where to run, from `--topology` and `--connect` (which must agree).
    pub fn from_args(args: &RunArgs) -> Result<TargetChoice, UsageError> {
        if args.connect.is_none() && args.auth_key_file.is_some() {
            return Err(UsageError(
                "--auth-key-file goes with --connect HOST:PORT (a `copybench server`)".into(),
            ));
        }
        if args.connect.is_some() && !args.cpus.receiver_cpus.is_empty() {
            return Err(UsageError(
                "--receiver-cpus: in remote mode the receivers run on the server; give it to \
                 `copybench server --receiver-cpus` there"
                    .into(),
            ));
        }
        // With zerocopy among the receive strategies, an MTU whose MSS is 15 whole pages, so
        // that the receive queue can be mapped (the run records it in its topology, and every
        // point the MSS it saw); an --mtu given wins.
        let netns_mtu =
            args.sweep
                .mtu
                .unwrap_or(if args.receives.contains(&ReceiveKind::Zerocopy) {
                    PAGE_ALIGNED_MTU
                } else {
                    1500
                });
        use TopologyKind::{Loopback, Netns, Remote, Sink};
        let choice = match (args.sweep.topology, &args.connect) {
            (TopologyArg::Kind(Sink), _) => sink_choice(args)?,
            (TopologyArg::Kind(Remote) | TopologyArg::Auto, Some(target)) => TargetChoice::Remote {
                connect: target.clone(),
                key_file: args.auth_key_file.clone(),
            },
            (TopologyArg::Kind(Remote), None) => {
                return Err(UsageError(
                    "--topology remote needs --connect HOST:PORT of a `copybench server`".into(),
                ))
            }
            (_, Some(_)) => {
                return Err(UsageError(
                    "--connect goes with --topology remote (or auto), not with netns or loopback"
                        .into(),
                ))
            }
            (TopologyArg::Kind(Netns), None) => TargetChoice::Netns { mtu: netns_mtu },
            (TopologyArg::Kind(Loopback), None) => TargetChoice::Loopback { note: None },
            (TopologyArg::Auto, None) if copybench_net::has_net_admin() => {
                TargetChoice::Netns { mtu: netns_mtu }
            }
            (TopologyArg::Auto, None) => TargetChoice::Loopback {
                note: Some(
                    "no CAP_NET_ADMIN: running over loopback instead of a veth pair between \
                     namespaces (run as root for --topology netns)"
                        .into(),
                ),
            },
        };
        if !choice.carries(args.protocol) {
            return Err(UsageError(format!(
                "--topology {} carries UDP only (nothing answers a TCP handshake there): add \
                 --protocol udp",
                choice.kind()
            )));
        }
        Ok(choice)
    }

    /// The kind of path this choice opens.
    pub fn kind(&self) -> TopologyKind {
        match self {
            TargetChoice::Loopback { .. } => TopologyKind::Loopback,
            TargetChoice::Netns { .. } => TopologyKind::Netns,
            TargetChoice::Remote { .. } => TopologyKind::Remote,
            TargetChoice::Sink { .. } => TopologyKind::Sink,
        }
    }

    /// The MTU of the device this process sends through, where it sets one (a veth).
    pub fn mtu(&self) -> Option<u32> {
        match self {
            TargetChoice::Netns { mtu } | TargetChoice::Sink { mtu } => Some(*mtu),
            TargetChoice::Loopback { .. } | TargetChoice::Remote { .. } => None,
        }
    }

    /// Whether anything receives (and so can verify) what the senders send.
    pub fn has_receiver(&self) -> bool {
        !matches!(self, TargetChoice::Sink { .. })
    }

    /// Whether both sides run on this host, so that a receiver may be placed on a CPU here.
    pub fn both_sides_here(&self) -> bool {
        matches!(
            self,
            TargetChoice::Loopback { .. } | TargetChoice::Netns { .. }
        )
    }

    /// Whether the path carries `protocol`.
    pub fn carries(&self, protocol: Protocol) -> bool {
        // Nothing answers a TCP handshake at the sink.
        self.has_receiver() || protocol == Protocol::Udp
    }

    /// Opens the path: builds the namespaces, or connects to the server.
    pub fn open(&self) -> Result<Target> {
        let path: Box<dyn TargetPath> = match self {
            TargetChoice::Loopback { note } => {
                if let Some(note) = note {
                    eprintln!("note: {note}");
                }
                Box::new(Loopback)
            }
            TargetChoice::Netns { mtu } => {
                let config = VethConfig {
                    mtu: *mtu,
                    ..VethConfig::default()
                };
                Box::new(
                    Topology::create(&config)
                        .map_err(|e| UsageError(format!("--topology netns: {e}")))?,
                )
            }
            TargetChoice::Remote { connect, key_file } => {
                let key = key_file
                    .as_deref()
                    .map(AuthKey::load)
                    .transpose()
                    .map_err(|e| UsageError(e.to_string()))?;
                Box::new(Client::connect(connect, key.as_ref())?)
            }
            TargetChoice::Sink { mtu } => Box::new(
                Sink::create(&SinkConfig { mtu: *mtu })
                    .map_err(|e| UsageError(format!("--topology sink: {e}")))?,
            ),
        };
        Ok(Target { path })
    }
}

/// The sink: UDP only, with an MTU that lets every datagram be sent without a software
/// checksum (which would make the kernel copy).
fn sink_choice(args: &RunArgs) -> Result<TargetChoice, UsageError> {
    if args.connect.is_some() {
        return Err(UsageError(
            "--connect goes with --topology remote, not sink".into(),
        ));
    }
    let largest = args.sizes.iter().copied().max().unwrap_or(0);
    let needed = (largest + SINK_HEADERS).min(65535) as u32;
    let mtu = args.sweep.mtu.unwrap_or(needed.max(9000));
    if (mtu as usize) < largest + SINK_HEADERS {
        eprintln!(
            "note: --mtu {mtu} is below the largest datagram ({largest} bytes) plus {SINK_HEADERS} \
             bytes of headers: larger datagrams are fragmented with a software checksum and the \
             kernel copies them, sink or not"
        );
    }
    Ok(TargetChoice::Sink { mtu })
}

/// An opened target: the path a run's points go through, owned for the whole run.
pub struct Target {
    path: Box<dyn TargetPath>,
}

impl Target {
    /// Opens the target: builds the namespaces, or connects to the server.
    pub fn open(choice: &TargetChoice) -> Result<Target> {
        choice.open()
    }

    /// The path itself, which the hooks place threads through.
    pub fn path(&self) -> &dyn TargetPath {
        self.path.as_ref()
    }

    /// How the results record this target.
    pub fn record(&self) -> TopologyRecord {
        self.path.record()
    }

    /// Why the target can run no more points (a server ended the session), if so.
    pub fn ended(&self) -> Option<String> {
        self.path.ended()
    }

    /// Runs one point through this target, recording the hooks' placement in it.
    pub fn run_point(
        &self,
        params: &PointParams,
        hooks: &CliHooks<'_>,
        cancel: &AtomicBool,
    ) -> Result<Point, EngineError> {
        let mut point = self.path.run_point(params, hooks, cancel)?;
        point.placement = hooks.placement;
        Ok(point)
    }
}

/// Runs `f` on a new thread on `role`'s side of `path` (e.g. to find free ports where a peer's
/// server will listen); the calling thread does not move.
pub fn run_on_side<T: Send>(
    path: &dyn TargetPath,
    role: Role,
    f: impl FnOnce() -> T + Send,
) -> Result<T, HookError> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name(format!("cb-{role}-side"))
            .spawn_scoped(scope, move || -> Result<T, HookError> {
                path.enter(role)?;
                Ok(f())
            })?;
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Whether `addr` is this thread's namespace's own (a listener can bind it).
    fn bindable(addr: IpAddr) -> bool {
        TcpListener::bind((addr, 0)).is_ok()
    }

    #[test]
    fn each_side_of_the_namespaces_is_entered_by_its_own_thread_only() {
        if !copybench_net::has_net_admin() {
            eprintln!("skipped: needs CAP_NET_ADMIN");
            return;
        }
        let target = TargetChoice::Netns { mtu: 1500 }.open().unwrap();
        let path = target.path();
        let addr = path.local_addr().unwrap();
        assert!(run_on_side(path, Role::Receiver, || bindable(addr)).unwrap());
        assert!(
            !run_on_side(path, Role::Sender, || bindable(addr)).unwrap(),
            "the receiver's address is not the sender side's"
        );
        assert!(!bindable(addr), "the calling thread stays where it is");
        assert!(path.namespace_fd(Role::Sender).is_some());
        assert_eq!(target.record().kind, TopologyKind::Netns);
        assert_eq!(target.record().mtu, Some(1500));
    }

    #[test]
    fn the_sink_has_a_sender_side_only() {
        if !copybench_net::has_net_admin() {
            eprintln!("skipped: needs CAP_NET_ADMIN");
            return;
        }
        let target = TargetChoice::Sink { mtu: 9000 }.open().unwrap();
        let path = target.path();
        let sender = IpAddr::V4(Sink::SENDER_ADDR);
        assert!(run_on_side(path, Role::Sender, || bindable(sender)).unwrap());
        // No receiver threads: entering that side leaves a thread where it is.
        assert!(!run_on_side(path, Role::Receiver, || bindable(sender)).unwrap());
        assert!(path.namespace_fd(Role::Receiver).is_none());
        assert_eq!(path.local_addr(), None);
        assert_eq!(target.record().kind, TopologyKind::Sink);
    }

    #[test]
    fn loopback_has_both_sides_here_and_no_namespace_to_enter() {
        let target = TargetChoice::Loopback { note: None }.open().unwrap();
        let path = target.path();
        assert_eq!(path.local_addr(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert!(path.namespace_fd(Role::Receiver).is_none());
        assert!(run_on_side(path, Role::Receiver, || bindable(IpAddr::V4(
            Ipv4Addr::LOCALHOST
        )))
        .unwrap());
        assert_eq!(target.record().kind, TopologyKind::Loopback);
        assert_eq!(target.ended(), None);
    }

    #[test]
    fn a_choice_knows_its_defaults_before_anything_is_opened() {
        let sink = TargetChoice::Sink { mtu: 9000 };
        assert!(!sink.has_receiver());
        assert!(sink.carries(Protocol::Udp) && !sink.carries(Protocol::Tcp));
        assert_eq!(sink.mtu(), Some(9000));
        let remote = TargetChoice::Remote {
            connect: "host:7077".into(),
            key_file: None,
        };
        assert!(!remote.both_sides_here());
        assert!(remote.carries(Protocol::Tcp));
        assert_eq!(remote.mtu(), None);
        let netns = TargetChoice::Netns { mtu: 1500 };
        assert!(netns.both_sides_here() && netns.has_receiver());
        assert_eq!(netns.kind(), TopologyKind::Netns);
    }
}
