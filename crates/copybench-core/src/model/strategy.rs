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
    /// `sendfile` of each message's range of a memory file (`memfd`) holding the pool: the
    /// socket references the file's pages (TCP only).
    Sendfile,
    /// `vmsplice` of the fields into a pipe, then `splice` into the socket: the socket
    /// references the user pages (TCP only; `--splice-gift` adds `SPLICE_F_GIFT`).
    Splice,
}

impl StrategyKind {
    /// Every strategy, in the order runs and reports list them.
    pub const ALL: [StrategyKind; 7] = [
        StrategyKind::TwoCopy,
        StrategyKind::ScatterGather,
        StrategyKind::ZeroCopy,
        StrategyKind::UringSend,
        StrategyKind::UringZc,
        StrategyKind::Sendfile,
        StrategyKind::Splice,
    ];

    /// `copybench run`'s default `--strategy` list: every strategy that runs over both TCP and
    /// UDP. The TCP-only ones (`sendfile`, `splice`) are asked for by name, so that a default
    /// UDP run is what it was.
    pub const DEFAULT: [StrategyKind; 5] = [
        StrategyKind::TwoCopy,
        StrategyKind::ScatterGather,
        StrategyKind::ZeroCopy,
        StrategyKind::UringSend,
        StrategyKind::UringZc,
    ];

    /// True for the strategies whose buffers the kernel references with no completion
    /// (`sendfile`, `splice`): TCP only, and a buffer is rewritten only once the peer has read
    /// past it (see `strategy::receive_margin`).
    pub fn by_reference(self) -> bool {
        self.info().by_reference
    }

    /// Everything copybench says about this strategy ([`STRATEGIES`]).
    pub fn info(self) -> &'static StrategyInfo {
        // STRATEGIES lists the variants in declaration order (checked by a test).
        &STRATEGIES[self as usize]
    }

    /// True for the strategies that hand messages to the kernel through an io_uring.
    pub fn uses_io_uring(self) -> bool {
        self.info().io_uring
    }

    /// The canonical name used in results and on the command line.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Every spelling accepted on the command line, canonical name first.
    pub fn aliases(self) -> &'static [&'static str] {
        self.info().aliases
    }

    /// The strategy as people say it (reports, chart legends).
    pub fn label(self) -> &'static str {
        self.info().label
    }

    /// Its one colour in every chart.
    pub fn color(self) -> &'static str {
        self.info().color
    }
}

/// One strategy's names, words, colour and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyInfo {
    /// The strategy.
    pub kind: StrategyKind,
    /// The canonical name in results and on the command line.
    pub name: &'static str,
    /// Every spelling the command line accepts, canonical name first.
    pub aliases: &'static [&'static str],
    /// As people say it.
    pub label: &'static str,
    /// Its colour in every chart (CSS).
    pub color: &'static str,
    /// Whether it sends through an io_uring.
    pub io_uring: bool,
    /// Whether the kernel holds its buffers by reference with no completion (TCP only).
    pub by_reference: bool,
}

/// Every strategy, in declaration order: the one table a new strategy is added to.
pub const STRATEGIES: [StrategyInfo; 7] = [
    StrategyInfo {
        kind: StrategyKind::TwoCopy,
        name: "twocopy",
        aliases: &["twocopy", "two-copy", "a1"],
        label: "two-copy",
        color: "#2b5c9e",
        io_uring: false,
        by_reference: false,
    },
    StrategyInfo {
        kind: StrategyKind::ScatterGather,
        name: "scattergather",
        aliases: &["scattergather", "scatter-gather", "sg", "a2"],
        label: "scatter-gather",
        color: "#e07b1a",
        io_uring: false,
        by_reference: false,
    },
    StrategyInfo {
        kind: StrategyKind::ZeroCopy,
        name: "zerocopy",
        aliases: &["zerocopy", "zero-copy", "zc", "a3"],
        label: "zero-copy",
        color: "#2e8540",
        io_uring: false,
        by_reference: false,
    },
    StrategyInfo {
        kind: StrategyKind::UringSend,
        name: "uringsend",
        aliases: &["uringsend", "uring-send", "us", "io-uring-send"],
        label: "io_uring send",
        color: "#7b4fb3",
        io_uring: true,
        by_reference: false,
    },
    StrategyInfo {
        kind: StrategyKind::UringZc,
        name: "uringzc",
        aliases: &["uringzc", "uring-zc", "uz", "io-uring-zc"],
        label: "io_uring zero-copy",
        color: "#c0343c",
        io_uring: true,
        by_reference: false,
    },
    StrategyInfo {
        kind: StrategyKind::Sendfile,
        name: "sendfile",
        aliases: &["sendfile", "send-file", "sf"],
        label: "sendfile",
        color: "#8c6d31",
        io_uring: false,
        by_reference: true,
    },
    StrategyInfo {
        kind: StrategyKind::Splice,
        name: "splice",
        aliases: &["splice", "vmsplice", "sp"],
        label: "vmsplice + splice",
        color: "#17a2b8",
        io_uring: false,
        by_reference: true,
    },
];

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
    fn the_table_lists_every_strategy_in_order_under_its_own_name() {
        for (i, kind) in StrategyKind::ALL.into_iter().enumerate() {
            assert_eq!(STRATEGIES[i].kind, kind);
            assert_eq!(kind.info().kind, kind);
            assert_eq!(kind.aliases()[0], kind.name());
        }
    }

    #[test]
    fn serde_uses_canonical_names() {
        for kind in StrategyKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
        }
    }
}
