//! Remote mode: `copybench server` receives on one host, `copybench run --topology remote
//! --connect host:port` sends from another.
//!
//! The two agree on each point over a small control connection ([`protocol`]): frames of a
//! 4-byte big-endian length and a JSON message, at most [`protocol::MAX_FRAME`] bytes (4 KiB
//! during the handshake), each under a deadline. A session starts with a version handshake,
//! a challenge-response when the server has a key ([`auth`]), and the server taken for this
//! client alone (others are told it is busy). Per point: the client sends `prepare` (the
//! point's parameters, checked against the server's [`limits`]); the server starts the
//! engine's receivers ([`server`], over `copybench_core::engine::run_receivers`) and answers
//! `ready` with their ports; the client streams ([`client`], over `run_senders`), forwarding
//! each phase change (`phase`) so that the server's receivers measure the same interval; when
//! the client stops, the receivers read to the end, verify, and the server answers `report`
//! with their figures and its system CPU. A malformed, oversized or out-of-order message gets
//! an `error` frame and that connection is closed; the server goes on serving others.

pub mod auth;
pub mod client;
#[cfg(test)]
mod fuzz;
pub mod limits;
pub mod protocol;
pub mod server;

pub use client::Client;
pub use server::serve;
