//! copybench-core's integration tests, one binary with a module per topic (as ripgrep does):
//! real TCP over loopback, no mocks of the kernel.

mod loopback;
mod readme;
mod uring;
mod zerocopy;
