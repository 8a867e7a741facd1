//! copybench-core's integration tests, one binary with a module per topic (as ripgrep does):
//! real TCP over loopback, no mocks of the kernel; findings, comparisons and the crossover
//! search on synthetic results with known answers.

mod compare;
mod crossover;
mod data;
mod findings;
mod headline;
mod loopback;
mod paced;
mod paths;
mod readme;
mod receive;
mod skip;
mod stall;
mod support;
mod uring;
mod verify;
mod zerocopy;
