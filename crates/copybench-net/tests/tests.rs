//! copybench-net's integration tests, one binary with a module per topic: real namespaces,
//! veth pairs and sockets (run as root; nothing is mocked).

mod common;
mod sink;
mod topology;
