//! Where a run's traffic goes: a target owns its endpoints (a namespace pair, a server
//! connection) for the whole run, and says how to record itself in the results.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use copybench_core::engine::{
    assemble_point, run_point, run_senders, Endpoints, EngineError, PointParams,
};
use copybench_core::result::{Point, TopologyKind, TopologyRecord};
use copybench_net::{Sink, SinkConfig, Topology, VethConfig};

/// The (discard) port sink datagrams are addressed to; nothing listens, nothing receives.
const SINK_PORT: u16 = 9;

use crate::hooks::CliHooks;
use crate::remote::auth::AuthKey;
use crate::remote::Client;
use crate::UsageError;

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

/// An opened target: what a run's points go through.
pub enum Target {
    /// 127.0.0.1 in this namespace.
    Loopback,
    /// Receivers in one namespace, senders in the other (entered by the hooks).
    Netns(Topology),
    /// Senders here, receivers at a `copybench server`.
    Remote(Box<Client>),
    /// Senders in the sink's namespace, nothing receiving.
    Sink(Sink),
}

impl Target {
    /// Opens the target: builds the namespaces, or connects to the server.
    pub fn open(choice: &TargetChoice) -> Result<Target> {
        match choice {
            TargetChoice::Loopback { note } => {
                if let Some(note) = note {
                    eprintln!("note: {note}");
                }
                Ok(Target::Loopback)
            }
            TargetChoice::Netns { mtu } => {
                let config = VethConfig {
                    mtu: *mtu,
                    ..VethConfig::default()
                };
                Topology::create(&config)
                    .map(Target::Netns)
                    .map_err(|e| UsageError(format!("--topology netns: {e}")).into())
            }
            TargetChoice::Remote { connect, key_file } => {
                let key = key_file
                    .as_deref()
                    .map(AuthKey::load)
                    .transpose()
                    .map_err(|e| UsageError(e.to_string()))?;
                Client::connect(connect, key.as_ref()).map(|c| Target::Remote(Box::new(c)))
            }
            TargetChoice::Sink { mtu } => Sink::create(&SinkConfig { mtu: *mtu })
                .map(Target::Sink)
                .map_err(|e| UsageError(format!("--topology sink: {e}")).into()),
        }
    }

    /// The namespaces the hooks place threads in, if any.
    pub fn topology(&self) -> Option<&Topology> {
        match self {
            Target::Netns(t) => Some(t),
            _ => None,
        }
    }

    /// The sink the hooks place sender threads in, if that is the target.
    pub fn sink(&self) -> Option<&Sink> {
        match self {
            Target::Sink(s) => Some(s),
            _ => None,
        }
    }

    /// How the results record this target.
    pub fn record(&self) -> TopologyRecord {
        match self {
            Target::Loopback => TopologyRecord {
                kind: TopologyKind::Loopback,
                mtu: None,
                receiver_addr: Some("127.0.0.1".into()),
                sender_addr: Some("127.0.0.1".into()),
                receiver_host: None,
            },
            Target::Netns(t) => TopologyRecord {
                kind: TopologyKind::Netns,
                mtu: Some(t.mtu()),
                receiver_addr: Some(t.receiver_addr().to_string()),
                sender_addr: Some(t.sender_addr().to_string()),
                receiver_host: None,
            },
            Target::Remote(client) => TopologyRecord {
                kind: TopologyKind::Remote,
                mtu: None,
                receiver_addr: Some(client.server().to_string()),
                sender_addr: None,
                receiver_host: client.host().cloned(),
            },
            Target::Sink(s) => TopologyRecord {
                kind: TopologyKind::Sink,
                mtu: Some(s.mtu()),
                receiver_addr: Some(format!("{} (dropped: no receiver)", s.target_addr())),
                sender_addr: Some(s.sender_addr().to_string()),
                receiver_host: None,
            },
        }
    }

    /// Why the target can run no more points (a server ended the session), if so.
    pub fn ended(&self) -> Option<String> {
        match self {
            Target::Remote(client) => client.ended(),
            _ => None,
        }
    }

    /// Runs one point through this target, recording the hooks' placement in it.
    pub fn run_point(
        &self,
        params: &PointParams,
        hooks: &CliHooks<'_>,
        cancel: &AtomicBool,
    ) -> Result<Point, EngineError> {
        let mut point = self.run_unplaced(params, hooks, cancel)?;
        point.placement = hooks.placement;
        Ok(point)
    }

    fn run_unplaced(
        &self,
        params: &PointParams,
        hooks: &CliHooks<'_>,
        cancel: &AtomicBool,
    ) -> Result<Point, EngineError> {
        let local = |ip: IpAddr| Endpoints {
            listen: ip,
            connect: ip,
        };
        match self {
            Target::Loopback => run_point(params, &Endpoints::loopback(), hooks, cancel),
            Target::Netns(t) => {
                run_point(params, &local(IpAddr::V4(t.receiver_addr())), hooks, cancel)
            }
            Target::Remote(client) => client.run_point(params, hooks, cancel),
            Target::Sink(s) => {
                // Any port: the datagrams never reach a socket. Checked at creation that the
                // address leads only to the sink's down device.
                let to = SocketAddr::new(IpAddr::V4(s.target_addr()), SINK_PORT);
                let targets = vec![to; params.threads];
                let (senders, system_cpu) = run_senders(params, &targets, hooks, cancel, &|_| {})?;
                Ok(assemble_point(params, &senders, &[], system_cpu))
            }
        }
    }
}
