//! How the receivers take bytes off the socket (`--receive`), and which CPU did what.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::units::ParseError;

/// The receive strategy: how a receiver gets the payload out of its socket.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ReceiveKind {
    /// `read(2)` into a user buffer: the kernel copies every byte (the default).
    #[default]
    Read,
    /// `recv(MSG_TRUNC)`: the kernel drops the bytes without copying them to user space
    /// (neper's `--skip-rx-copy`); nothing can be checked but the counts (`verification`
    /// `discard`, which `--verify discard` has always meant).
    Trunc,
    /// `TCP_ZEROCOPY_RECEIVE`: the receive queue's pages are mapped into a mapping of the
    /// socket (`mmap` + `getsockopt`), the unaligned remainder read with `read(2)` into a copy
    /// buffer (the kernel's `recv_skip_hint`), and both verified alike. TCP only.
    Zerocopy,
}

impl ReceiveKind {
    /// Every receive strategy, in the order they are documented.
    pub const ALL: [ReceiveKind; 3] =
        [ReceiveKind::Read, ReceiveKind::Trunc, ReceiveKind::Zerocopy];

    /// The name used in results and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ReceiveKind::Read => "read",
            ReceiveKind::Trunc => "trunc",
            ReceiveKind::Zerocopy => "zerocopy",
        }
    }

    /// Whether the payload reaches user space (copied or mapped), so that it can be checked.
    pub fn payload_visible(self) -> bool {
        self != ReceiveKind::Trunc
    }
}

impl fmt::Display for ReceiveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ReceiveKind {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" | "copy" => Ok(ReceiveKind::Read),
            "trunc" | "msg_trunc" | "discard" => Ok(ReceiveKind::Trunc),
            "zerocopy" | "zc" | "mmap" => Ok(ReceiveKind::Zerocopy),
            other => Err(ParseError(format!(
                "unknown receive strategy '{other}': expected read, trunc or zerocopy"
            ))),
        }
    }
}

/// What a CPU was to the point, from its recorded placement (`system_cpu.per_cpu[].role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuRole {
    /// Only sender threads were pinned to it.
    Sender,
    /// Only receiver threads were pinned to it.
    Receiver,
    /// Sender and receiver threads were pinned to it (placement `same`).
    Both,
    /// No thread of the point was pinned to it.
    Other,
}

impl CpuRole {
    /// The name used in results.
    pub fn name(self) -> &'static str {
        match self {
            CpuRole::Sender => "sender",
            CpuRole::Receiver => "receiver",
            CpuRole::Both => "both",
            CpuRole::Other => "other",
        }
    }
}

impl fmt::Display for CpuRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The receive strategies compared (the `findings.receive` key): per send strategy, what each
/// receive strategy gave, and where `zerocopy` receive starts to cost the receiver less per
/// byte than `read` (the send side's bracket rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiveFindings {
    /// One group per (mode, threads, send strategy) that ran more than one receive strategy.
    pub groups: Vec<ReceiveGroup>,
}

/// One send strategy's receive strategies at every size of one (mode, threads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiveGroup {
    /// What was measured.
    pub mode: crate::model::Mode,
    /// Connections.
    pub threads: usize,
    /// The send strategy.
    pub strategy: crate::model::StrategyKind,
    /// Per size, ascending.
    pub sizes: Vec<ReceiveAtSize>,
    /// Receiver CPU per byte, `zerocopy` against `read`: the sizes around the last sign change
    /// of zerocopy's advantage (`null`: no sign change, or either was not measured).
    #[serde(default)]
    pub break_even_cpu: Option<crate::model::findings::Bracket>,
    /// `zerocopy`'s advantage in receiver CPU per byte over `read` at each size (positive:
    /// zerocopy costs less), `null` where either is missing.
    pub cpu_advantage: Vec<Option<f64>>,
}

/// Every receive strategy's medians at one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiveAtSize {
    /// Message size in bytes.
    pub msg_size: usize,
    /// One entry per receive strategy measured here.
    pub receives: Vec<ReceiveFigures>,
}

/// One receive strategy's medians over its repetitions (`null`: not measured).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiveFigures {
    /// The receive strategy.
    pub receive: ReceiveKind,
    /// Repetitions behind the medians.
    pub repetitions: usize,
    /// Payload Gbps (the point's figure).
    pub throughput_gbps: Option<f64>,
    /// Receiver thread CPU per payload byte.
    pub receiver_cpu_ns_per_byte: Option<f64>,
    /// Sender thread CPU per payload byte.
    pub sender_cpu_ns_per_byte: Option<f64>,
    /// `zerocopy`: the share mapped (median); `null` for the others.
    pub mapped_ratio: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for r in ReceiveKind::ALL {
            assert_eq!(r.name().parse::<ReceiveKind>().unwrap(), r);
        }
        assert_eq!(
            "mmap".parse::<ReceiveKind>().unwrap(),
            ReceiveKind::Zerocopy
        );
        assert_eq!(
            "discard".parse::<ReceiveKind>().unwrap(),
            ReceiveKind::Trunc
        );
        let e = "splice".parse::<ReceiveKind>().unwrap_err();
        assert!(e.to_string().contains("read, trunc or zerocopy"), "{e}");
    }
}
