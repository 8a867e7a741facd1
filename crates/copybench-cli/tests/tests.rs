//! The `copybench` binary's integration tests, one binary with a module per topic (as ripgrep
//! does): the real program, real sockets, real namespaces (as root), real counters.

mod answers;
mod cli;
mod common;
mod counters;
mod fair;
mod netns;
mod paced;
mod paths;
mod peers;
mod receive;
mod remote;
mod schema;
mod server;
mod udp;
