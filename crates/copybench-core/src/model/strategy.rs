//! The send strategies by name: what runs, what results record, what users type.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The send strategies copybench compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    /// Gather the fields into one linear buffer with memcpy, then `send`.
    TwoCopy,
    /// `sendmsg` with one iovec per field.
    ScatterGather,
    /// `sendmsg(MSG_ZEROCOPY)`, completions from the socket error queue.
    ZeroCopy,
    /// io_uring `IORING_OP_SENDMSG` with one iovec per field: io_uring's copying baseline.
    UringSend,
    /// io_uring `IORING_OP_SENDMSG_ZC` (or `SEND_ZC` for one field), buffers released on the
    /// notification CQE, which reports whether the kernel copied after all.
    UringZc,
}

impl StrategyKind {
    /// Every strategy, in the order runs and reports list them.
    pub const ALL: [StrategyKind; 5] = [
        StrategyKind::TwoCopy,
        StrategyKind::ScatterGather,
        StrategyKind::ZeroCopy,
        StrategyKind::UringSend,
        StrategyKind::UringZc,
    ];

    /// True for the strategies that hand messages to the kernel through an io_uring.
    pub fn uses_io_uring(self) -> bool {
        matches!(self, StrategyKind::UringSend | StrategyKind::UringZc)
    }

    /// The canonical name used in results and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::TwoCopy => "twocopy",
            StrategyKind::ScatterGather => "scattergather",
            StrategyKind::ZeroCopy => "zerocopy",
            StrategyKind::UringSend => "uringsend",
            StrategyKind::UringZc => "uringzc",
        }
    }

    /// Every spelling accepted on the command line, canonical name first.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            StrategyKind::TwoCopy => &["twocopy", "two-copy", "a1"],
            StrategyKind::ScatterGather => &["scattergather", "scatter-gather", "sg", "a2"],
            StrategyKind::ZeroCopy => &["zerocopy", "zero-copy", "zc", "a3"],
            StrategyKind::UringSend => &["uringsend", "uring-send", "us", "io-uring-send"],
            StrategyKind::UringZc => &["uringzc", "uring-zc", "uz", "io-uring-zc"],
        }
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl StrategyKind {
    /// Every strategy with its aliases, for help and error messages:
    /// `twocopy (two-copy, a1), scattergather (...), ...`.
    pub fn spellings() -> String {
        StrategyKind::ALL
            .iter()
            .map(|k| format!("{} ({})", k.name(), k.aliases()[1..].join(", ")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An unknown strategy name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown strategy '{0}': expected one of {spellings}", spellings = StrategyKind::spellings())]
pub struct UnknownStrategy(pub String);

impl FromStr for StrategyKind {
    type Err = UnknownStrategy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        StrategyKind::ALL
            .into_iter()
            .find(|k| k.aliases().contains(&wanted.as_str()))
            .ok_or_else(|| UnknownStrategy(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_parses_to_its_kind() {
        for kind in StrategyKind::ALL {
            for alias in kind.aliases() {
                assert_eq!(alias.parse::<StrategyKind>().unwrap(), kind);
                assert_eq!(alias.to_uppercase().parse::<StrategyKind>().unwrap(), kind);
            }
        }
        assert!("copy".parse::<StrategyKind>().is_err());
        assert!("".parse::<StrategyKind>().is_err());
    }

    #[test]
    fn serde_uses_canonical_names() {
        for kind in StrategyKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
        }
    }
}
