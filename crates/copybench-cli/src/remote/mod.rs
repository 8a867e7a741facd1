//! Remote mode: `copybench server` receives on one host, `copybench run --topology remote
//! --connect host:port` sends from another.
//!
//! The two agree on each point over a small control connection ([`protocol`]): frames of a
//! 4-byte big-endian length and a JSON message, at most [`protocol::MAX_FRAME`] bytes,
//! starting with a version handshake. Per point: the client sends `prepare` (the point's
//! parameters); the server starts the engine's receivers ([`server`], over
//! `copybench_core::engine::run_receivers`) and answers `ready` with their ports; the client
//! streams ([`client`], over `run_senders`), forwarding each phase change (`phase`) so that
//! the server's receivers measure the same interval; when the client stops, the receivers read
//! to the end, verify, and the server answers `report` with their figures. A malformed,
//! oversized or wrong-version message gets an `error` frame and that connection is closed; the
//! server goes on serving others.

pub mod client;
pub mod protocol;
pub mod server;

pub use client::Client;
pub use server::serve;
