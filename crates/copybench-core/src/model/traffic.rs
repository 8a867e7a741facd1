//! What a point measures, over what, and how much the receivers check.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::units::ParseError;

/// What is measured.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Each sender streams messages as fast as it can: throughput, and send-call latency.
    #[default]
    Stream,
    /// Each sender sends one message, waits for a small reply, repeats: round-trip latency.
    Rr,
}

impl Mode {
    /// The name used in results and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Stream => "stream",
            Mode::Rr => "rr",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stream" => Ok(Mode::Stream),
            "rr" | "request-response" => Ok(Mode::Rr),
            other => Err(ParseError(format!(
                "unknown mode '{other}': expected stream or rr"
            ))),
        }
    }
}

/// The transport messages travel over.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// One TCP connection per thread pair; the receiver verifies the byte stream.
    #[default]
    Tcp,
    /// One UDP "connection" (a connected socket) per thread pair, each message one datagram;
    /// the receiver verifies every datagram and counts those lost or reordered.
    Udp,
}

impl Protocol {
    /// The name used in results and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            other => Err(ParseError(format!(
                "unknown protocol '{other}': expected tcp or udp"
            ))),
        }
    }
}

/// How much of the received stream the receivers check (`--verify`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// Every byte against the pattern (the default): a lost, repeated, reordered or
    /// overwritten message, or a shifted byte, is found.
    #[default]
    Full,
    /// Only the 8-byte stamp at the start of each message: every message's identity and order
    /// are checked, its payload is not.
    Stamps,
    /// Read into user space without checking; bytes and message boundaries are counted.
    Off,
    /// `recv(MSG_TRUNC)`: the kernel drops the bytes without copying them to user space
    /// (neper's `--skip-rx-copy`); bytes and message boundaries are counted.
    Discard,
}

impl Verify {
    /// Every mode, from the most to the least checking.
    pub const ALL: [Verify; 4] = [Verify::Full, Verify::Stamps, Verify::Off, Verify::Discard];

    /// The name used in results and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Verify::Full => "full",
            Verify::Stamps => "stamps",
            Verify::Off => "off",
            Verify::Discard => "discard",
        }
    }

    /// Whether every payload byte was compared with the pattern.
    pub fn checks_content(self) -> bool {
        self == Verify::Full
    }

    /// Whether the payload reaches user space at the receiver.
    pub fn copies_to_user(self) -> bool {
        self != Verify::Discard
    }

    /// In words, for summaries: what the receivers did with the bytes.
    pub fn describe(self) -> &'static str {
        match self {
            Verify::Full => "every byte checked against the pattern",
            Verify::Stamps => {
                "only each message's 8-byte stamp checked (identity and order), not the payload"
            }
            Verify::Off => "bytes read into user space and counted, content not checked",
            Verify::Discard => {
                "bytes dropped in the kernel with recv(MSG_TRUNC) and counted, content not checked"
            }
        }
    }
}

impl fmt::Display for Verify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Verify {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        Verify::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                ParseError(format!(
                    "unknown verification '{s}': expected full, stamps, off or discard"
                ))
            })
    }
}
