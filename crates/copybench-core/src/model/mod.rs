//! The vocabulary every other module speaks: what a point measures ([`Mode`], [`Protocol`],
//! [`Verify`], [`DataTemperature`]), with which strategy ([`StrategyKind`]), over which path ([`TopologyKind`]) and
//! placement ([`Placement`]), on which side ([`Role`]), and the findings' data ([`findings`]).
//!
//! The bottom of the crate: these are plain values that `result` (the JSON contract), `engine`,
//! `strategy` and the analyses all import, so no two of those need each other for a name. It
//! imports nothing of the crate but `units` (parse errors) and `stats` (the spread of a figure).

pub mod findings;
mod receive;
mod strategy;
mod topology;
mod traffic;

pub use receive::{
    CpuRole, ReceiveAtSize, ReceiveFigures, ReceiveFindings, ReceiveGroup, ReceiveKind,
};
pub use strategy::{StrategyInfo, StrategyKind, UnknownStrategy, STRATEGIES};
pub use topology::{Placement, Role, TopologyKind};
pub use traffic::{DataTemperature, Mode, Protocol, Verify};
