//! copybench-core: what each copy on the TCP send path costs.
//!
//! This crate owns the experiment itself and nothing around it:
//! - the vocabulary every module shares ([`model`]): modes, protocols, strategies, topologies,
//!   the findings' data; it imports none of the modules below;
//! - the message model ([`message`]): N separately allocated fields carrying a verifiable
//!   pattern ([`pattern`]);
//! - the send strategies ([`strategy`]): two-copy, scatter-gather, MSG_ZEROCOPY and io_uring
//!   (copying and zero-copy) behind the [`strategy::SendStrategy`] trait;
//! - the receive strategies ([`receive`]): `read`, `recv(MSG_TRUNC)` and
//!   `TCP_ZEROCOPY_RECEIVE`;
//! - the traffic engine ([`engine`]): sender and receiver threads, warm-up, measured interval,
//!   with hooks through which the embedding program places threads (namespaces, CPUs) and
//!   measures them (counters);
//! - the result types ([`result`]), the JSON contract every other tool reads.
//!
//! It knows nothing of namespaces or perf counters: those live in `copybench-net` and
//! `copybench-perf`, and the `copybench` binary plugs them in through [`engine::Hooks`].

#![deny(missing_docs)]

pub mod bracket;
pub mod compare;
pub mod crossover;
pub mod engine;
pub mod findings;
#[allow(unsafe_code)] // mmap/munmap/madvise and slices of the mapping, each with a SAFETY comment
pub mod mapping;
pub mod message;
pub mod model;
pub mod pattern;
pub mod receive;
pub mod result;
#[doc(hidden)]
pub mod skip;
pub mod stats;
pub mod strategy;
pub mod sweep;
#[allow(unsafe_code)] // two socket calls rustix does not wrap, each block with a SAFETY comment
mod sys;
pub mod units;

pub use strategy::{SendStrategy, StrategyKind};
