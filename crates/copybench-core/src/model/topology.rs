//! Where traffic runs: the kind of path, the CPU placement, and the two sides of a connection.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::units::ParseError;

/// How sender and receiver threads are placed on CPUs (`--placement`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// Senders and receivers pinned to disjoint CPUs.
    #[default]
    Apart,
    /// Each sender pinned to the same CPU as its receiver.
    Same,
    /// Not pinned: the scheduler decides, and may decide differently from run to run.
    #[serde(rename = "none")]
    Unpinned,
    /// Pinned to the CPUs given with `--sender-cpus` / `--receiver-cpus`.
    Custom,
}

impl Placement {
    /// The name used in results and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Placement::Apart => "apart",
            Placement::Same => "same",
            Placement::Unpinned => "none",
            Placement::Custom => "custom",
        }
    }

    /// The placements a user names (`custom` follows from naming the CPUs instead).
    pub const NAMED: [Placement; 3] = [Placement::Apart, Placement::Same, Placement::Unpinned];
}

impl FromStr for Placement {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        Placement::NAMED
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                ParseError(format!(
                    "unknown placement '{s}': expected apart, same or none (a custom placement \
                     is made by naming the CPUs)"
                ))
            })
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The kinds of path traffic can take.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TopologyKind {
    /// 127.0.0.1 in one network namespace.
    #[default]
    Loopback,
    /// A veth pair between two network namespaces.
    Netns,
    /// A `copybench server` on another host (or process).
    Remote,
    /// Senders only, in a namespace whose veth leads to a device that is down: datagrams are
    /// dropped at the device, so nothing is delivered and the copy really can be avoided.
    Sink,
}

impl TopologyKind {
    /// Every kind, in the order the command line lists them.
    pub const ALL: [TopologyKind; 4] = [
        TopologyKind::Netns,
        TopologyKind::Loopback,
        TopologyKind::Remote,
        TopologyKind::Sink,
    ];

    /// What choosing it means, for `--topology`'s help.
    pub fn help(self) -> &'static str {
        match self {
            TopologyKind::Netns => {
                "Two network namespaces joined by a veth pair (needs CAP_NET_ADMIN)"
            }
            TopologyKind::Loopback => "127.0.0.1 in the current namespace (no privileges needed)",
            TopologyKind::Remote => {
                "A `copybench server` on another host (give --connect HOST:PORT)"
            }
            TopologyKind::Sink => {
                "Senders only, in a namespace whose veth leads to a device that is down (needs \
                 CAP_NET_ADMIN and --protocol udp): datagrams are dropped at the device, so \
                 zero-copy really avoids the copy, as in front of a NIC. Nothing is received or \
                 verified"
            }
        }
    }

    /// The name used in results and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TopologyKind::Loopback => "loopback",
            TopologyKind::Netns => "netns",
            TopologyKind::Remote => "remote",
            TopologyKind::Sink => "sink",
        }
    }

    /// The kind a [`TopologyKind::name`] names.
    pub fn from_name(name: &str) -> Option<TopologyKind> {
        TopologyKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether a zero-copy send on this path is delivered locally, where the kernel always
    /// copies (so a copied ratio of 1.0 is expected, not a fault).
    pub fn is_local_delivery(self) -> bool {
        matches!(self, TopologyKind::Loopback | TopologyKind::Netns)
    }
}

impl std::fmt::Display for TopologyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which side of a connection a thread is on (and, for `copybench-net`, which end of a veth
/// pair and so which namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Hands messages to the kernel with the point's strategy.
    Sender,
    /// Reads the stream and verifies it.
    Receiver,
}

impl Role {
    /// Both sides, receiver first.
    pub const BOTH: [Role; 2] = [Role::Receiver, Role::Sender];
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Sender => "sender",
            Role::Receiver => "receiver",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_placement_parses_back_from_its_name_and_custom_is_not_typed() {
        for p in Placement::NAMED {
            assert_eq!(p.name().parse::<Placement>().unwrap(), p);
            assert_eq!(p.name().to_uppercase().parse::<Placement>().unwrap(), p);
        }
        assert!("custom".parse::<Placement>().is_err());
        assert!("unpinned".parse::<Placement>().is_err());
    }
}
